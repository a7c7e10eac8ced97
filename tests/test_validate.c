/* test_validate.c -- every check of validate.h at its boundaries, the order
 * of the checks, the rate state (per pair, forward only, self-healing after
 * a step), unknown sensors, configuration errors, the counters, and rate
 * state checkpoints (a resumed run gives the verdicts of an uninterrupted
 * one; damaged images are refused without touching the state).
 * Threads: single-threaded. */
#include "stream/validate.h"
#include "tests/harness.h"

#include <errno.h>
#include <float.h>
#include <math.h>

#define NOW 1700000000000LL

static struct reading rd(uint32_t dev, uint32_t sensor, int64_t ts, double v)
{
    struct reading r;

    memset(&r, 0, sizeof(r));
    r.device_id = dev;
    r.sensor_id = sensor;
    r.ts_ms = ts;
    r.value = v;
    r.flags = READING_HAS_TS | READING_HAS_SEQ;
    return r;
}

static enum reject_reason chk(struct validate *v, uint32_t dev, uint32_t sensor,
                              int64_t ts, double value)
{
    struct reading r = rd(dev, sensor, ts, value);

    return validate_check(v, &r, NOW);
}

static struct validate *make(bool refuse_unknown)
{
    struct validate_config c = validate_config_default(4, 8);
    struct validate *v = NULL;

    c.refuse_unknown = refuse_unknown;
    c.max_future_ms = 1000;
    c.max_age_ms = 60000;
    ASSERT_EQ(validate_new(&v, &c), 0);
    return v;
}

static void validate_rejects_bad_config(void)
{
    struct validate_config c = validate_config_default(4, 8);
    struct validate_rule r = validate_rule_any();
    struct validate *v;

    c.max_sensors = 0;
    ASSERT_EQ(validate_new(&v, &c), -EINVAL);
    c = validate_config_default(4, 8);
    c.min_dt_ms = 0;
    ASSERT_EQ(validate_new(&v, &c), -EINVAL);
    c = validate_config_default(4, 8);
    c.default_rule.min = NAN;
    ASSERT_EQ(validate_new(&v, &c), -EINVAL);
    c = validate_config_default(4, 8);
    c.rate_sensors = 1;
    ASSERT_EQ(validate_new(&v, &c), 0);
    ASSERT_EQ(validate_set_rule(v, 8, &r), -EINVAL); /* id out of range */
    r.min = 5, r.max = 4;
    ASSERT_EQ(validate_set_rule(v, 0, &r), -EINVAL);
    r = validate_rule_any(), r.max = NAN;
    ASSERT_EQ(validate_set_rule(v, 0, &r), -EINVAL);
    r = validate_rule_any(), r.max_rate_per_s = 0;
    ASSERT_EQ(validate_set_rule(v, 0, &r), -EINVAL);
    r = validate_rule_any(), r.flags = 1u << 7;
    ASSERT_EQ(validate_set_rule(v, 0, &r), -EINVAL);
    r = validate_rule_any(), r.max_rate_per_s = 2;
    ASSERT_EQ(validate_set_rule(v, 0, &r), 0);
    ASSERT_EQ(validate_set_rule(v, 0, &r), 0); /* same sensor: same column */
    ASSERT_EQ(validate_set_rule(v, 1, &r), -ENOSPC); /* one column only */
    r.max_rate_per_s = INFINITY;
    ASSERT_EQ(validate_set_rule(v, 1, &r), 0); /* no rate: no column */
    validate_free(v);
    validate_free(NULL);
}

static void validate_nan_and_order_of_checks(void)
{
    struct validate *v = make(true);
    struct validate_rule r = validate_rule_any();

    r.min = 0, r.max = 10;
    ASSERT_EQ(validate_set_rule(v, 1, &r), 0);
    ASSERT_EQ(chk(v, 0, 1, NOW, NAN), REJECT_NAN);
    ASSERT_EQ(chk(v, 0, 1, NOW, INFINITY), REJECT_NAN);
    ASSERT_EQ(chk(v, 0, 1, NOW, -INFINITY), REJECT_NAN);
    /* NaN beats unknown sensor; unknown beats time; time beats range. */
    ASSERT_EQ(chk(v, 0, 2, NOW, NAN), REJECT_NAN);
    ASSERT_EQ(chk(v, 0, 2, NOW + 999999, 5), REJECT_UNKNOWN_SENSOR);
    ASSERT_EQ(chk(v, 0, 1, NOW + 999999, 50), REJECT_TS_FUTURE);
    ASSERT_EQ(chk(v, 0, 1, NOW - 999999, 50), REJECT_TS_STALE);
    ASSERT_EQ(chk(v, 0, 1, NOW, 50), REJECT_OUT_OF_RANGE);
    ASSERT_EQ(chk(v, 0, 1, NOW, 5), REJECT_NONE);
    validate_free(v);
}

static void validate_unknown_sensors(void)
{
    struct validate_config c = validate_config_default(4, 8);
    struct validate *v;

    ASSERT_EQ(c.refuse_unknown, false);
    c.default_rule.min = -40, c.default_rule.max = 85;
    ASSERT_EQ(validate_new(&v, &c), 0);
    ASSERT_EQ(chk(v, 0, 3, NOW, 20), REJECT_NONE); /* default rule */
    ASSERT_EQ(chk(v, 0, 3, NOW, 86), REJECT_OUT_OF_RANGE);
    validate_free(v);
    v = make(true);
    ASSERT_EQ(chk(v, 0, 3, NOW, 20), REJECT_UNKNOWN_SENSOR);
    validate_free(v);
}

static void validate_required_fields(void)
{
    struct validate *v = make(false);
    struct validate_rule r = validate_rule_any();
    struct reading x = rd(0, 1, NOW, 1);

    r.flags = VALIDATE_REQUIRE_TS;
    ASSERT_EQ(validate_set_rule(v, 1, &r), 0);
    r.flags = VALIDATE_REQUIRE_SEQ;
    ASSERT_EQ(validate_set_rule(v, 2, &r), 0);
    ASSERT_EQ(validate_check(v, &x, NOW), REJECT_NONE);
    x.flags = READING_HAS_SEQ; /* receiver's time, no device time */
    ASSERT_EQ(validate_check(v, &x, NOW), REJECT_MISSING_FIELD);
    x.sensor_id = 2;
    ASSERT_EQ(validate_check(v, &x, NOW), REJECT_NONE);
    x.flags = READING_HAS_TS;
    ASSERT_EQ(validate_check(v, &x, NOW), REJECT_MISSING_FIELD);
    x.sensor_id = 3; /* no rule, default requires nothing */
    x.flags = 0;
    ASSERT_EQ(validate_check(v, &x, NOW), REJECT_NONE);
    validate_free(v);
}

static void validate_time_and_range_boundaries(void)
{
    struct validate *v = make(false);
    struct validate_rule r = validate_rule_any();

    r.min = -1.5, r.max = 2.5;
    ASSERT_EQ(validate_set_rule(v, 1, &r), 0);
    ASSERT_EQ(chk(v, 0, 1, NOW + 1000, 0), REJECT_NONE); /* max_future */
    ASSERT_EQ(chk(v, 0, 1, NOW + 1001, 0), REJECT_TS_FUTURE);
    ASSERT_EQ(chk(v, 0, 1, NOW - 60000, 0), REJECT_NONE); /* max_age */
    ASSERT_EQ(chk(v, 0, 1, NOW - 60001, 0), REJECT_TS_STALE);
    ASSERT_EQ(chk(v, 0, 1, INT64_MAX, 0), REJECT_TS_FUTURE);
    ASSERT_EQ(chk(v, 0, 1, INT64_MIN, 0), REJECT_TS_STALE);
    ASSERT_EQ(chk(v, 0, 1, NOW, -1.5), REJECT_NONE); /* inclusive */
    ASSERT_EQ(chk(v, 0, 1, NOW, 2.5), REJECT_NONE);
    ASSERT_EQ(chk(v, 0, 1, NOW, nextafter(2.5, 3)), REJECT_OUT_OF_RANGE);
    ASSERT_EQ(chk(v, 0, 1, NOW, -1.5000001), REJECT_OUT_OF_RANGE);
    ASSERT_EQ(chk(v, 0, 1, NOW, DBL_MAX), REJECT_OUT_OF_RANGE);
    validate_free(v);
    /* Disabled time checks take anything. */
    {
        struct validate_config c = validate_config_default(1, 1);
        c.max_future_ms = INT64_MAX;
        c.max_age_ms = INT64_MAX;
        ASSERT_EQ(validate_new(&v, &c), 0);
        ASSERT_EQ(chk(v, 0, 0, INT64_MAX, 0), REJECT_NONE);
        ASSERT_EQ(chk(v, 0, 0, -NOW, 0), REJECT_NONE);
        validate_free(v);
    }
}

static void validate_rate_of_change(void)
{
    struct validate *v = make(false);
    struct validate_rule r = validate_rule_any();
    int64_t t0 = NOW - 50000;

    r.max_rate_per_s = 1.0; /* units per second */
    ASSERT_EQ(validate_set_rule(v, 1, &r), 0);
    ASSERT_EQ(chk(v, 0, 1, t0, 10.0), REJECT_NONE); /* first: no reference */
    ASSERT_EQ(chk(v, 0, 1, t0 + 1000, 11.0), REJECT_NONE); /* exactly 1/s */
    ASSERT_EQ(chk(v, 0, 1, t0 + 2000, 20.0), REJECT_RATE_OF_CHANGE);
    /* The spike did not move the reference (11.0 at t0 + 1s). */
    ASSERT_EQ(chk(v, 0, 1, t0 + 3000, 12.5), REJECT_NONE); /* 0.75/s */
    /* A genuine step to 20 is refused until the rate since the last
     * accepted value falls to the limit: 7.5 units need 7.5 s. */
    ASSERT_EQ(chk(v, 0, 1, t0 + 8000, 20.0), REJECT_RATE_OF_CHANGE);
    ASSERT_EQ(chk(v, 0, 1, t0 + 10500, 20.0), REJECT_NONE);
    /* Pairs are independent: device 1 has no reference yet. */
    ASSERT_EQ(chk(v, 1, 1, t0 + 10500, -500.0), REJECT_NONE);
    /* An older accepted value does not replace the newer reference. */
    ASSERT_EQ(chk(v, 0, 1, t0 + 10000, 19.8), REJECT_NONE); /* 0.4/s */
    ASSERT_EQ(chk(v, 0, 1, t0 + 11500, 21.0), REJECT_NONE); /* vs 20.0 */
    /* Same timestamp: dt is floored at min_dt_ms = 1 ms. */
    ASSERT_EQ(chk(v, 0, 1, t0 + 11500, 21.0005), REJECT_NONE);
    ASSERT_EQ(chk(v, 0, 1, t0 + 11500, 21.01), REJECT_RATE_OF_CHANGE);
    /* A huge finite jump cannot overflow into acceptance. */
    ASSERT_EQ(chk(v, 0, 1, t0 + 12000, -DBL_MAX), REJECT_RATE_OF_CHANGE);
    /* Sensors without a rate rule keep no state. */
    ASSERT_EQ(chk(v, 0, 2, t0, 0.0), REJECT_NONE);
    ASSERT_EQ(chk(v, 0, 2, t0 + 1, 1e9), REJECT_NONE);
    validate_free(v);
}

static void validate_counts_every_outcome(void)
{
    struct validate *v = make(true);
    struct validate_rule r = validate_rule_any();
    struct validate_stats st;
    struct reading x = rd(9, 1, NOW, 1); /* device 9 >= max_devices 4 */
    uint64_t sum = 0;

    ASSERT_EQ(validate_set_rule(v, 1, &r), 0);
    validate_prefetch(v, &x); /* out of range: ignored, not indexed */
    ASSERT_EQ(validate_check(v, &x, NOW), REJECT_TABLE_FULL);
    x = rd(0, 99, NOW, 1); /* sensor 99 >= max_sensors 8 */
    ASSERT_EQ(validate_check(v, &x, NOW), REJECT_TABLE_FULL);
    ASSERT_EQ(chk(v, 0, 1, NOW, NAN), REJECT_NAN);
    ASSERT_EQ(chk(v, 0, 1, NOW, NAN), REJECT_NAN);
    ASSERT_EQ(chk(v, 0, 5, NOW, 1), REJECT_UNKNOWN_SENSOR);
    ASSERT_EQ(chk(v, 0, 1, NOW, 1), REJECT_NONE);
    validate_stats(v, &st);
    ASSERT_EQ(st.checked, 6);
    ASSERT_EQ(st.accepted, 1);
    ASSERT_EQ(st.bad_id, 2);
    ASSERT_EQ(st.rejects.n[REJECT_TABLE_FULL], 2);
    ASSERT_EQ(st.rejects.n[REJECT_NAN], 2);
    ASSERT_EQ(st.rejects.n[REJECT_UNKNOWN_SENSOR], 1);
    for (int i = 0; i < REJECT__COUNT; i++)
        sum += st.rejects.n[i];
    ASSERT_EQ(sum + st.accepted, st.checked);
    validate_free(v);
}

/* ---- Checkpoints ------------------------------------------------------- */

/* Sensors 1 and 3 have rate limits (set in the order given), 2 a range. */
static struct validate *make_rated(bool three_first)
{
    struct validate *v = make(false);
    struct validate_rule r = validate_rule_any();

    r.max_rate_per_s = 2.0;
    if (three_first)
        ASSERT_EQ(validate_set_rule(v, 3, &r), 0);
    ASSERT_EQ(validate_set_rule(v, 1, &r), 0);
    if (!three_first)
        ASSERT_EQ(validate_set_rule(v, 3, &r), 0);
    r = validate_rule_any();
    r.min = 0;
    r.max = 100;
    ASSERT_EQ(validate_set_rule(v, 2, &r), 0);
    return v;
}

static uint8_t *vsave(const struct validate *v, size_t *len)
{
    size_t need = validate_save(v, NULL, 0);
    uint8_t *buf = malloc(need);

    ASSERT(buf != NULL);
    ASSERT_EQ(validate_save(v, buf, need), need);
    *len = need;
    return buf;
}

/* A random walk per (device, sensor) with jumps; every 500 records the
 * second validator is saved and restored into a fresh one (its rules set
 * in the other order). Verdicts must match the uninterrupted run; a third
 * validator that is recreated without its state must not. */
static void validate_resumes_exactly(void)
{
    struct validate *a = make_rated(false);
    struct validate *b = make_rated(false);
    struct validate *c = make_rated(false);
    uint64_t rng = test_seed();
    double level[4][4] = {{0}};
    int64_t ts[4][4] = {{0}};
    size_t rate_rejects = 0, differ = 0;

    for (int i = 0; i < 20000; i++) {
        uint64_t x = test_rand(&rng);
        uint32_t d = (uint32_t)(x % 4), s = (uint32_t)(x >> 8) % 4;
        struct reading r;
        enum reject_reason wa, wb;

        ts[d][s] += 100 + (int64_t)((x >> 16) % 2000);
        level[d][s] +=
            (x >> 32) % 10 == 0 ? 50 : ((double)(x >> 40 & 0xff) - 127.5) / 200;
        r = rd(d, s, NOW - 50000 + ts[d][s] % 40000, level[d][s]);
        wa = validate_check(a, &r, NOW);
        wb = validate_check(b, &r, NOW);
        ASSERT_EQ(wa, wb);
        differ += validate_check(c, &r, NOW) != wa;
        rate_rejects += wa == REJECT_RATE_OF_CHANGE;
        if (i % 500 == 499) {
            struct validate *n = make_rated(i % 1000 == 999);
            size_t len;
            uint8_t *img = vsave(b, &len);
            ASSERT_EQ(validate_restore(n, img, len), 0);
            free(img);
            validate_free(b);
            b = n;
            validate_free(c);
            c = make_rated(false);
        }
    }
    ASSERT(rate_rejects > 100);
    ASSERT(differ > 0); /* the state matters: losing it changes verdicts */
    {
        size_t la, lb;
        uint8_t *ia = vsave(a, &la), *ib = vsave(b, &lb);
        ASSERT_EQ(la, lb);
        ASSERT(memcmp(ia, ib, la) == 0);
        free(ia);
        free(ib);
    }
    validate_free(a);
    validate_free(b);
    validate_free(c);
}

static void expect_untouched(struct validate *v, const uint8_t *img, size_t len,
                             int rc)
{
    size_t l0, l1;
    uint8_t *before = vsave(v, &l0);
    uint8_t *after;

    ASSERT_EQ(validate_restore(v, img, len), rc);
    after = vsave(v, &l1);
    ASSERT_EQ(l0, l1);
    ASSERT(memcmp(before, after, l0) == 0);
    free(before);
    free(after);
}

static void validate_restore_refuses_bad_images(void)
{
    struct validate *a = make_rated(false);
    struct validate *b = make_rated(false);
    struct validate_config small = validate_config_default(2, 8);
    struct validate_rule rate = validate_rule_any();
    struct validate *c;
    size_t len;
    uint8_t *img;

    ASSERT_EQ(chk(a, 0, 1, NOW - 1000, 5), REJECT_NONE);
    ASSERT_EQ(chk(a, 3, 1, NOW - 1000, 7), REJECT_NONE);
    ASSERT_EQ(chk(a, 2, 3, NOW - 1000, 9), REJECT_NONE);
    ASSERT_EQ(chk(b, 1, 1, NOW - 1000, 1), REJECT_NONE); /* to be lost */
    img = vsave(a, &len);
    /* 8 header, 8 ncols, sensor 1: 16 + 2 x 24, sensor 3: 16 + 24, 8. */
    ASSERT_EQ(len, 8 + 8 + 16 + 48 + 16 + 24 + 8);
    for (size_t n = 0; n < len; n++)
        expect_untouched(b, img, n, -EBADMSG);
    for (size_t i = 0; i < len; i++) {
        img[i] ^= 0x20;
        expect_untouched(b, img, len,
                         i >= 4 && i < 8 ? -EPROTONOSUPPORT : -EBADMSG);
        img[i] ^= 0x20;
    }
    ASSERT_EQ(validate_restore(b, NULL, 0), -EBADMSG);
    /* Device 3 does not fit a table of 2. */
    small.max_future_ms = 1000;
    ASSERT_EQ(validate_new(&c, &small), 0);
    rate.max_rate_per_s = 2.0;
    ASSERT_EQ(validate_set_rule(c, 1, &rate), 0);
    expect_untouched(c, img, len, -ENOSPC);
    validate_free(c);
    /* Restored: device 1's pair is gone, the saved pairs constrain. */
    ASSERT_EQ(validate_restore(b, img, len), 0);
    ASSERT_EQ(chk(b, 1, 1, NOW - 500, 100), REJECT_NONE); /* first again */
    ASSERT_EQ(chk(b, 0, 1, NOW - 500, 100), REJECT_RATE_OF_CHANGE);
    ASSERT_EQ(chk(b, 0, 1, NOW - 500, 5.5), REJECT_NONE);
    ASSERT_EQ(chk(b, 2, 3, NOW, 9 + 2.5), REJECT_RATE_OF_CHANGE);
    ASSERT_EQ(chk(b, 2, 3, NOW, 9 + 1.5), REJECT_NONE);
    /* A validator where sensor 3 lost its rate limit drops its state. */
    c = make(false);
    ASSERT_EQ(validate_set_rule(c, 1, &rate), 0);
    ASSERT_EQ(validate_restore(c, img, len), 0);
    ASSERT_EQ(chk(c, 3, 1, NOW, 100), REJECT_RATE_OF_CHANGE);
    ASSERT_EQ(chk(c, 2, 3, NOW, 1e6), REJECT_NONE);
    validate_free(c);
    free(img);
    validate_free(a);
    validate_free(b);
}

static const struct test tests[] = {
    {"validate_resumes_exactly", validate_resumes_exactly},
    {"validate_restore_refuses_bad_images",
     validate_restore_refuses_bad_images},
    {"validate_rejects_bad_config", validate_rejects_bad_config},
    {"validate_nan_and_order_of_checks", validate_nan_and_order_of_checks},
    {"validate_unknown_sensors", validate_unknown_sensors},
    {"validate_required_fields", validate_required_fields},
    {"validate_time_and_range_boundaries", validate_time_and_range_boundaries},
    {"validate_rate_of_change", validate_rate_of_change},
    {"validate_counts_every_outcome", validate_counts_every_outcome},
    {NULL, NULL}};

int main(int argc, char **argv)
{
    return test_main(argc, argv, tests);
}
