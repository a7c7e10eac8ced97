/* test_anomaly.c -- the streaming anomaly detector (learn/anomaly.h):
 * determinism, no look-ahead, scores in [0, 1] whatever the input, planted
 * spikes and level shifts scoring far above their surroundings, and a
 * fixed state size.
 *
 * The synthetic series is a daily cycle sampled every 5 minutes (288
 * readings a day) plus seeded Gaussian-ish noise, the shape of many NAB and
 * IoT series. Threads: single-threaded. */
#include "learn/anomaly.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

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

static const struct test tests[] = {
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
