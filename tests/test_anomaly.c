/* test_anomaly.c -- the streaming anomaly detector (learn/anomaly.h):
 * determinism, no look-ahead, scores in [0, 1] whatever the input, planted
 * spikes and level shifts scoring far above their surroundings, a fixed
 * state size, and checkpoints (a detector saved and restored again and
 * again scores exactly as an uninterrupted one; damaged, foreign and
 * crafted images are refused without touching it).
 *
 * The synthetic series is a daily cycle sampled every 5 minutes (288
 * readings a day) plus seeded Gaussian-ish noise, the shape of many NAB and
 * IoT series. Threads: single-threaded. */
#include "learn/anomaly.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <zlib.h>

#include "tests/harness.h"

#define N 6000         /* Readings per synthetic run (about 21 days). */
#define STEP_MS 300000 /* 5 minutes. */
#define T0_MS 1400000000000LL

/* A seeded daily cycle with noise (sum of 4 uniforms, sd ~ 0.06). */
static void make_series(double *x, size_t n, uint64_t seed)
{
    uint64_t st = seed;

    for (size_t i = 0; i < n; i++) {
        double u = 0.0;

        for (int k = 0; k < 4; k++)
            u += (double)(test_rand(&st) >> 11) / 9007199254740992.0 - 0.5;
        x[i] = 10.0 + 2.0 * sin(2 * M_PI * (double)i / 288.0) + 0.1 * u;
    }
}

static void run(struct anomaly *d, const double *x, size_t n, double *s)
{
    for (size_t i = 0; i < n; i++)
        s[i] = anomaly_update(d, T0_MS + (int64_t)i * STEP_MS, x[i]);
}

static struct anomaly *new_default(void)
{
    struct anomaly_config c;
    struct anomaly *d;

    anomaly_config_default(&c);
    ASSERT_EQ(anomaly_new(&d, &c), 0);
    return d;
}

static void config_checked(void)
{
    struct anomaly_config c;
    struct anomaly *d = NULL;

    anomaly_config_default(&c);
    ASSERT_EQ(anomaly_config_check(&c), 0);
    c.lags = ANOMALY_MAX_LAGS + 1;
    ASSERT_EQ(anomaly_config_check(&c), -EINVAL);
    ASSERT_EQ(anomaly_new(&d, &c), -EINVAL);
    ASSERT(d == NULL);
    anomaly_config_default(&c);
    c.short_window = 0;
    ASSERT_EQ(anomaly_config_check(&c), -EINVAL);
    anomaly_config_default(&c);
    c.forget = NAN;
    ASSERT_EQ(anomaly_config_check(&c), -EINVAL);
    anomaly_config_default(&c);
    c.damp = 1.5;
    ASSERT_EQ(anomaly_config_check(&c), -EINVAL);
    anomaly_config_default(&c);
    c.raw_scale = 0.0;
    ASSERT_EQ(anomaly_config_check(&c), -EINVAL);
    anomaly_free(NULL);
}

static void deterministic(void)
{
    double *x = calloc(N, sizeof(*x));
    double *a = calloc(N, sizeof(*a));
    double *b = calloc(N, sizeof(*b));
    struct anomaly *d1 = new_default();
    struct anomaly *d2 = new_default();

    ASSERT(x && a && b);
    make_series(x, N, test_seed());
    x[3000] += 5.0;
    run(d1, x, N, a);
    run(d2, x, N, b);
    for (size_t i = 0; i < N; i++)
        ASSERT(a[i] == b[i]);
    /* reset() forgets everything: a rerun is identical too. */
    anomaly_reset(d1);
    ASSERT_EQ(anomaly_count(d1), 0);
    run(d1, x, N, b);
    for (size_t i = 0; i < N; i++)
        ASSERT(a[i] == b[i]);
    anomaly_free(d1);
    anomaly_free(d2);
    free(x);
    free(a);
    free(b);
}

static void no_look_ahead(void)
{
    double *x = calloc(N, sizeof(*x));
    double *full = calloc(N, sizeof(*full));
    double *part = calloc(N, sizeof(*part));
    uint64_t st = test_seed() ^ 0xabcdef;
    struct anomaly *d;

    ASSERT(x && full && part);
    make_series(x, N, test_seed());
    d = new_default();
    run(d, x, N, full);
    anomaly_free(d);
    for (int trial = 0; trial < 4; trial++) {
        size_t k = 1 + (size_t)(test_rand(&st) % (N - 1));

        /* A prefix alone scores as the start of the full run, and what
         * comes after the prefix cannot change it: rewrite the future. */
        for (size_t i = k; i < N; i++)
            x[i] = (double)(test_rand(&st) % 1000);
        d = new_default();
        run(d, x, k, part);
        for (size_t i = 0; i < k; i++)
            ASSERT(part[i] == full[i]);
        anomaly_free(d);
        make_series(x, N, test_seed());
    }
    free(x);
    free(full);
    free(part);
}

static void scores_in_unit_interval(void)
{
    static const double nasty[] = {
        0.0,      1e300,     -1e300, 5e-324,  -5e-324,  1e-300, 42.0,
        42.0,     42.0,      -1.0,   1e15,    -1e15,    0.5,    NAN,
        INFINITY, -INFINITY, 3.0,    DBL_MAX, -DBL_MAX, 7.0};
    uint64_t st = test_seed();
    struct anomaly *d = new_default();
    size_t nn = sizeof(nasty) / sizeof(nasty[0]);

    for (size_t i = 0; i < 200000; i++) {
        uint64_t r = test_rand(&st);
        double x;
        int64_t ts;
        double s;

        /* Phases: constant, random nasty values, a random walk. */
        if (i < 20000)
            x = 1.0;
        else if (i % 3 == 0)
            x = nasty[r % nn];
        else
            x = (double)(int64_t)(r % 2001) - 1000.0;
        /* Timestamps jump around, go backwards, and are negative. */
        ts = (int64_t)(r >> 20) - (int64_t)(1ULL << 43);
        s = anomaly_update(d, ts, x);
        ASSERT(s >= 0.0 && s <= 1.0);
    }
    anomaly_free(d);
}

/* The largest score in [from, to). */
static double max_in(const double *s, size_t from, size_t to)
{
    double m = 0.0;

    for (size_t i = from; i < to; i++)
        m = s[i] > m ? s[i] : m;
    return m;
}

/* A planted event at reading 4000 (day 13.9) must reach the alarm level
 * within ten readings and stand above every reading from the end of the
 * first week after the warm-up up to it: that first week is when the
 * time-of-week profile meets each of its buckets for the first time, so
 * the detector is still learning there. Returns the event's score over
 * the largest score before it. */
static double planted_event(double shift_at_4000, double spike_at_4000)
{
    double *x = calloc(N, sizeof(*x));
    double *s = calloc(N, sizeof(*s));
    struct anomaly_config c;
    struct anomaly *d = new_default();
    double hit;
    double rest;

    ASSERT(x && s);
    anomaly_config_default(&c);
    make_series(x, N, test_seed());
    x[4000] += spike_at_4000;
    for (size_t i = 4000; i < N; i++)
        x[i] += shift_at_4000;
    run(d, x, N, s);
    hit = max_in(s, 4000, 4010);
    rest = max_in(s, c.warmup + 7 * 288, 4000);
    fprintf(stderr, "event score %.4f, max before it %.4f\n", hit, rest);
    ASSERT(hit >= c.alarm_level);
    ASSERT(hit > rest);
    anomaly_free(d);
    free(x);
    free(s);
    return hit / rest;
}

static void planted_spike_scores_high(void)
{
    /* A glitch of 2.5x the daily amplitude (85 noise sds): beyond the range
     * seen, so it scores 1 at once, far above the noise's best. */
    ASSERT(planted_event(0.0, 5.0) >= 2.0);
}

static void planted_level_shift_scores_high(void)
{
    /* Up by half the daily amplitude for good: still inside the range seen,
     * so only the forecaster's misses can tell; and down by as much, which
     * leaves the range at the daily trough. */
    planted_event(1.0, 0.0);
    ASSERT(planted_event(-1.0, 0.0) >= 2.0);
}

static void nonfinite_values_are_not_learnt(void)
{
    double *x = calloc(N, sizeof(*x));
    double *a = calloc(N, sizeof(*a));
    struct anomaly *d1 = new_default();
    struct anomaly *d2 = new_default();

    ASSERT(x && a);
    make_series(x, N, test_seed());
    run(d1, x, N, a);
    for (size_t i = 0; i < N; i++) {
        int64_t ts = T0_MS + (int64_t)i * STEP_MS;

        if (i % 97 == 0) {
            ASSERT(anomaly_update(d2, ts, NAN) == 0.0);
            ASSERT(anomaly_update(d2, ts, -INFINITY) == 0.0);
        }
        ASSERT(anomaly_update(d2, ts, x[i]) == a[i]);
    }
    ASSERT_EQ(anomaly_count(d2), N);
    anomaly_free(d1);
    anomaly_free(d2);
    free(x);
    free(a);
}

static void bounded_memory(void)
{
    struct anomaly_config c;
    struct anomaly *d;
    size_t before;
    uint64_t st = test_seed();

    anomaly_config_default(&c);
    c.lags = ANOMALY_MAX_LAGS;
    c.short_window = ANOMALY_MAX_SHORT;
    ASSERT_EQ(anomaly_new(&d, &c), 0);
    before = anomaly_state_bytes(d);
    ASSERT(before <= ANOMALY_STATE_MAX_BYTES);
    for (size_t i = 0; i < 300000; i++)
        anomaly_update(d, (int64_t)i * 1000,
                       (double)(test_rand(&st) % 100000) / 7.0);
    /* One fixed allocation: the size does not move, and ASan/LSan checks
     * that nothing else was allocated and kept. */
    ASSERT_EQ(anomaly_state_bytes(d), before);
    ASSERT_EQ(anomaly_count(d), 300000);
    anomaly_free(d);
}

/* ---- Checkpoints --------------------------------------------------------- */

static uint8_t *asave(const struct anomaly *d, size_t *len)
{
    size_t need = anomaly_save(d, NULL, 0);
    uint8_t *buf = malloc(need);

    ASSERT(buf != NULL && need <= ANOMALY_SAVE_MAX_BYTES);
    ASSERT_EQ(anomaly_save(d, buf, need), need);
    *len = need;
    return buf;
}

/* The series with a spike and a level shift, scored by one detector and by
 * a chain of detectors, each restored from the last one's image at
 * irregular points (in the warm-up, right after an alarm, in the damped
 * period): the same scores, bit for bit, and the same final image. Run
 * for the default configuration and for the largest one. */
static void resume_is_exact(void)
{
    double *x = calloc(N, sizeof(*x));
    double *a = calloc(N, sizeof(*a));
    double *b = calloc(N, sizeof(*b));
    uint64_t st = test_seed() ^ 0x77;

    ASSERT(x && a && b);
    make_series(x, N, test_seed());
    x[3000] += 5.0;
    for (size_t i = 4500; i < N; i++)
        x[i] += 3.0;
    for (int big = 0; big < 2; big++) {
        struct anomaly_config c;
        struct anomaly *da, *db;
        size_t next = 100, la, lb, restores = 0;
        uint8_t *ia, *ib;
        bool alarmed = false;

        anomaly_config_default(&c);
        if (big) {
            c.lags = ANOMALY_MAX_LAGS;
            c.short_window = ANOMALY_MAX_SHORT;
            c.forget = 0.999;
        }
        ASSERT_EQ(anomaly_new(&da, &c), 0);
        ASSERT_EQ(anomaly_new(&db, &c), 0);
        for (size_t i = 0; i < N; i++) {
            int64_t ts = T0_MS + (int64_t)i * STEP_MS;
            a[i] = anomaly_update(da, ts, x[i]);
            b[i] = anomaly_update(db, ts, x[i]);
            ASSERT(memcmp(&a[i], &b[i], sizeof(double)) == 0);
            alarmed |= a[i] >= c.alarm_level;
            if (i == next || (a[i] >= c.alarm_level && i % 2 == 0)) {
                struct anomaly *n;
                size_t len;
                uint8_t *img = asave(db, &len);
                ASSERT_EQ(anomaly_new(&n, &c), 0);
                ASSERT_EQ(anomaly_restore(n, img, len), 0);
                ASSERT_EQ(anomaly_count(n), i + 1);
                anomaly_free(db);
                free(img);
                db = n;
                next += 1 + (size_t)(test_rand(&st) % 700);
                restores++;
            }
        }
        ASSERT(alarmed && restores > 8);
        ia = asave(da, &la);
        ib = asave(db, &lb);
        ASSERT_EQ(la, lb);
        ASSERT(memcmp(ia, ib, la) == 0);
        /* The size is the layout's: 1376 bytes with the defaults. */
        if (!big)
            ASSERT_EQ(la, 8 + 108 + 24 + 6 * 8 + 48 * 8 + 8 * 8 + 64 * 8 + 8 +
                              20 * 8 + 8 + 4 + 5 * 8 + 4 + 4);
        free(ia);
        free(ib);
        anomaly_free(da);
        anomaly_free(db);
    }
    free(x);
    free(a);
    free(b);
}

static void expect_untouched(struct anomaly *d, const uint8_t *img, size_t len,
                             int rc)
{
    size_t l0, l1;
    uint8_t *before = asave(d, &l0);
    uint8_t *after;

    ASSERT_EQ(anomaly_restore(d, img, len), rc);
    after = asave(d, &l1);
    ASSERT_EQ(l0, l1);
    ASSERT(memcmp(before, after, l0) == 0);
    free(before);
    free(after);
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void restore_refuses_bad_images(void)
{
    double *x = calloc(600, sizeof(*x));
    struct anomaly *src = new_default();
    struct anomaly *dst = new_default();
    struct anomaly *other;
    struct anomaly_config c;
    size_t len;
    uint8_t *img;

    ASSERT(x != NULL);
    make_series(x, 600, test_seed());
    for (size_t i = 0; i < 600; i++)
        anomaly_update(src, T0_MS + (int64_t)i * STEP_MS, x[i]);
    for (size_t i = 0; i < 300; i++) /* something to lose */
        anomaly_update(dst, T0_MS + (int64_t)i * STEP_MS, -x[i]);
    img = asave(src, &len);
    for (size_t n = 0; n < len; n++)
        expect_untouched(dst, img, n, -EBADMSG);
    for (size_t i = 0; i < len; i++) {
        img[i] ^= 0x04;
        expect_untouched(dst, img, len,
                         i >= 4 && i < 8 ? -EPROTONOSUPPORT : -EBADMSG);
        img[i] ^= 0x04;
    }
    ASSERT_EQ(anomaly_restore(dst, NULL, 0), -EBADMSG);
    /* Another configuration (one field differs) is refused. */
    anomaly_config_default(&c);
    c.alarm_level = 0.6;
    ASSERT_EQ(anomaly_new(&other, &c), 0);
    expect_untouched(other, img, len, -EINVAL);
    anomaly_free(other);
    /* A CRC-valid image with ring_pos past the short window. */
    {
        uint8_t *bad = malloc(len);
        size_t at = len - 4 - 4 - 5 * 8 - 4; /* ring_pos */
        ASSERT(bad != NULL);
        memcpy(bad, img, len);
        put_le(bad + at, 20, 4); /* short_window is 20 */
        put_le(bad + len - 4, crc32_z(0L, bad, len - 4), 4);
        expect_untouched(dst, bad, len, -EBADMSG);
        put_le(bad + at, 19, 4); /* in range: accepted */
        put_le(bad + len - 4, crc32_z(0L, bad, len - 4), 4);
        ASSERT_EQ(anomaly_restore(dst, bad, len), 0);
        free(bad);
    }
    ASSERT_EQ(anomaly_restore(dst, img, len), 0);
    ASSERT_EQ(anomaly_count(dst), 600);
    free(img);
    free(x);
    anomaly_free(src);
    anomaly_free(dst);
}

static const struct test tests[] = {
    {"resume_is_exact", resume_is_exact},
    {"restore_refuses_bad_images", restore_refuses_bad_images},
    {"config_checked", config_checked},
    {"deterministic", deterministic},
    {"no_look_ahead", no_look_ahead},
    {"scores_in_unit_interval", scores_in_unit_interval},
    {"planted_spike_scores_high", planted_spike_scores_high},
    {"planted_level_shift_scores_high", planted_level_shift_scores_high},
    {"nonfinite_values_are_not_learnt", nonfinite_values_are_not_learnt},
    {"bounded_memory", bounded_memory},
    {NULL, NULL}};

int main(int argc, char **argv)
{
    return test_main(argc, argv, tests);
}
