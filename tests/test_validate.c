/* test_validate.c -- every check of validate.h at its boundaries, the order
 * of the checks, the rate state (per pair, forward only, self-healing after
 * a step), unknown sensors, configuration errors and the counters.
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

static const struct test tests[] = {
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
