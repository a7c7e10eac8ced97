/* validate.c -- per-record plausibility checks (order and rules: see
 * validate.h).
 *
 * Layout: one 32-byte entry per sensor id holding its rule in the form the
 * check wants (bounds, rate limit, flags, rate column), so a check reads one
 * entry, and, for sensors with a rate limit, one 16-byte (value, ts) cell
 * in that sensor's column of max_devices cells. Columns are allocated by
 * validate_set_rule() (start-up), never in validate_check(): memory is
 * max_sensors x 32 + (rate-limited sensors) x max_devices x 16 bytes.
 *
 * Timestamps from devices are arbitrary 64-bit integers, so differences
 * with now_ms are taken in unsigned arithmetic after ordering the operands
 * (a signed subtraction could overflow) and in double for the rate.
 *
 * Checkpoint image (little-endian; checked in full before anything
 * changes):
 *     "WVAL"  u32 version
 *     u64 ncols, then per rate column, in increasing sensor id order:
 *         u32 sensor id  u32 0  u64 ncells
 *         ncells x (u32 device id  u32 0  f64 value  i64 ts_ms), for the
 *         pairs with a value, in increasing device id order
 *     u64 FNV-1a of everything before it
 * Sensor and device ids strictly increase, so each pair appears once.
 *
 * Threads: everything runs on the thread that owns the struct validate
 * (the loop thread). */
#include "stream/validate.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stream/internal.h" /* For the image codec. */

struct validate_sensor {
    double min;      /* Inclusive lower bound. */
    double max;      /* Inclusive upper bound. */
    double max_rate; /* Units per second; used when rate_on. */
    uint16_t flags;  /* enum validate_flag bits. */
    uint8_t known;   /* A rule was set for this sensor. */
    uint8_t rate_on; /* The rule has a rate limit. */
    uint32_t col;    /* Rate column + 1 once assigned, else 0. */
};

_Static_assert(sizeof(struct validate_sensor) == 32, "one entry per sensor");

struct validate_cell {
    double value;  /* Last accepted value of (device, sensor). */
    int64_t ts_ms; /* Its timestamp; INT64_MIN: none yet. */
};

struct validate {
    struct validate_config cfg;     /* Copy of the caller's; constant. */
    struct validate_sensor *sensor; /* cfg.max_sensors entries. */
    struct validate_sensor dflt;    /* The default rule, for unknowns. */
    struct validate_cell **col;     /* cfg.rate_sensors column pointers. */
    size_t ncols;                   /* Columns allocated. */
    struct validate_stats stats;    /* Counters. */
};

struct validate_rule validate_rule_any(void)
{
    struct validate_rule r = {-INFINITY, INFINITY, INFINITY, 0};
    return r;
}

struct validate_config validate_config_default(size_t max_devices,
                                               size_t max_sensors)
{
    struct validate_config c = {
        .max_sensors = max_sensors,
        .max_devices = max_devices,
        .rate_sensors = 64,
        .max_future_ms = 5 * 60 * 1000,
        .max_age_ms = 7LL * 24 * 3600 * 1000,
        .min_dt_ms = 1,
        .refuse_unknown = false,
        .default_rule = validate_rule_any(),
    };
    return c;
}

static bool validate_rule_ok(const struct validate_rule *r)
{
    return !isnan(r->min) && !isnan(r->max) && r->min <= r->max &&
           !isnan(r->max_rate_per_s) && r->max_rate_per_s > 0 &&
           (r->flags &
            ~(unsigned)(VALIDATE_REQUIRE_TS | VALIDATE_REQUIRE_SEQ)) == 0;
}

static void validate_fill(struct validate_sensor *s,
                          const struct validate_rule *r)
{
    s->min = r->min;
    s->max = r->max;
    s->max_rate = r->max_rate_per_s;
    s->flags = (uint16_t)r->flags;
    s->known = 1;
    s->rate_on = r->max_rate_per_s < INFINITY;
}

int validate_new(struct validate **out, const struct validate_config *cfg)
{
    struct validate *v;

    if (cfg->max_sensors < 1 || cfg->max_sensors > VALIDATE_MAX_SENSORS ||
        cfg->max_devices < 1 || cfg->max_devices > VALIDATE_MAX_DEVICES ||
        cfg->rate_sensors > VALIDATE_MAX_RATE_SENSORS ||
        cfg->max_future_ms < 0 || cfg->max_age_ms < 0 || cfg->min_dt_ms < 1 ||
        !validate_rule_ok(&cfg->default_rule))
        return -EINVAL;
    if ((v = calloc(1, sizeof(*v))) == NULL)
        return -ENOMEM;
    if ((v->sensor = calloc(cfg->max_sensors, sizeof(*v->sensor))) == NULL)
        goto out_free_v;
    if ((v->col = calloc(cfg->rate_sensors + 1, sizeof(*v->col))) == NULL)
        goto out_free_sensor;
    v->cfg = *cfg;
    validate_fill(&v->dflt, &cfg->default_rule);
    v->dflt.known = 0;   /* it stands in for sensors without a rule */
    v->dflt.rate_on = 0; /* a rate needs per-sensor state: see header */
    *out = v;
    return 0;
out_free_sensor:
    free(v->sensor);
out_free_v:
    free(v);
    return -ENOMEM;
}

void validate_free(struct validate *v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < v->ncols; i++)
        free(v->col[i]);
    free(v->col);
    free(v->sensor);
    free(v);
}

/* Give sensor s a rate column if it has none. */
static int validate_add_column(struct validate *v, struct validate_sensor *s)
{
    struct validate_cell *c;

    if (s->col != 0)
        return 0;
    if (v->ncols == v->cfg.rate_sensors)
        return -ENOSPC;
    if ((c = calloc(v->cfg.max_devices, sizeof(*c))) == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < v->cfg.max_devices; i++)
        c[i].ts_ms = INT64_MIN;
    v->col[v->ncols++] = c;
    s->col = (uint32_t)v->ncols;
    return 0;
}

int validate_set_rule(struct validate *v, uint32_t sensor_id,
                      const struct validate_rule *rule)
{
    struct validate_sensor *s;
    int rc;

    if (sensor_id >= v->cfg.max_sensors || !validate_rule_ok(rule))
        return -EINVAL;
    s = &v->sensor[sensor_id];
    if (rule->max_rate_per_s < INFINITY &&
        (rc = validate_add_column(v, s)) != 0)
        return rc;
    validate_fill(s, rule);
    return 0;
}

/* a - b > limit for arbitrary int64 a, b, without overflow. */
static bool ahead_by_more(int64_t a, int64_t b, int64_t limit)
{
    return a > b && (uint64_t)a - (uint64_t)b > (uint64_t)limit;
}

/* The rate check; cell is the (device, sensor) state. */
static bool validate_rate_ok(const struct validate *v,
                             const struct validate_sensor *s,
                             const struct validate_cell *cell,
                             const struct reading *r)
{
    double dt_ms;

    if (cell->ts_ms == INT64_MIN)
        return true; /* first value of the pair: nothing to compare */
    dt_ms = fabs((double)r->ts_ms - (double)cell->ts_ms);
    if (dt_ms < (double)v->cfg.min_dt_ms)
        dt_ms = (double)v->cfg.min_dt_ms;
    return fabs(r->value - cell->value) <= s->max_rate * dt_ms / 1000.0;
}

static enum reject_reason validate_why(const struct validate *v,
                                       const struct validate_sensor *s,
                                       const struct reading *r, int64_t now_ms)
{
    unsigned need = s->flags;

    if (!isfinite(r->value))
        return REJECT_NAN;
    if (!s->known && v->cfg.refuse_unknown)
        return REJECT_UNKNOWN_SENSOR;
    if (((need & VALIDATE_REQUIRE_TS) && !(r->flags & READING_HAS_TS)) ||
        ((need & VALIDATE_REQUIRE_SEQ) && !(r->flags & READING_HAS_SEQ)))
        return REJECT_MISSING_FIELD;
    if (ahead_by_more(r->ts_ms, now_ms, v->cfg.max_future_ms))
        return REJECT_TS_FUTURE;
    if (ahead_by_more(now_ms, r->ts_ms, v->cfg.max_age_ms))
        return REJECT_TS_STALE;
    if (!(r->value >= s->min && r->value <= s->max))
        return REJECT_OUT_OF_RANGE;
    if (s->rate_on &&
        !validate_rate_ok(v, s, &v->col[s->col - 1][r->device_id], r))
        return REJECT_RATE_OF_CHANGE;
    return REJECT_NONE;
}

enum reject_reason validate_check(struct validate *v, const struct reading *r,
                                  int64_t now_ms)
{
    const struct validate_sensor *s;
    enum reject_reason why;

    v->stats.checked++;
    if (r->sensor_id >= v->cfg.max_sensors ||
        r->device_id >= v->cfg.max_devices) {
        v->stats.bad_id++;
        v->stats.rejects.n[REJECT_TABLE_FULL]++;
        return REJECT_TABLE_FULL;
    }
    s = &v->sensor[r->sensor_id];
    if (!s->known)
        s = &v->dflt;
    why = validate_why(v, s, r, now_ms);
    if (why != REJECT_NONE) {
        v->stats.rejects.n[why]++;
        return why;
    }
    if (s->rate_on) {
        struct validate_cell *cell = &v->col[s->col - 1][r->device_id];
        if (r->ts_ms >= cell->ts_ms) { /* only forward in time */
            cell->value = r->value;
            cell->ts_ms = r->ts_ms;
        }
    }
    v->stats.accepted++;
    return REJECT_NONE;
}

void validate_prefetch(const struct validate *v, const struct reading *r)
{
    const struct validate_sensor *s;

    if (r->sensor_id >= v->cfg.max_sensors ||
        r->device_id >= v->cfg.max_devices)
        return;
    s = &v->sensor[r->sensor_id];
    if (s->known && s->rate_on)
        __builtin_prefetch(&v->col[s->col - 1][r->device_id], 1);
}

void validate_stats(const struct validate *v, struct validate_stats *out)
{
    *out = v->stats;
}

/* ---- Checkpoints ------------------------------------------------------- */

#define VALIDATE_MAGIC 0x4c415657u /* "WVAL" read as little-endian u32 */

/* Pairs of column c that hold a value. */
static uint64_t validate_used(const struct validate *v,
                              const struct validate_cell *c)
{
    uint64_t n = 0;

    for (size_t d = 0; d < v->cfg.max_devices; d++)
        n += c[d].ts_ms != INT64_MIN;
    return n;
}

size_t validate_save(const struct validate *v, uint8_t *buf, size_t cap)
{
    struct stream__out o = stream__img_out(buf, cap);

    stream__put(&o, VALIDATE_MAGIC, 4);
    stream__put(&o, VALIDATE_FORMAT_VERSION, 4);
    stream__put(&o, v->ncols, 8);
    for (size_t s = 0; s < v->cfg.max_sensors; s++) {
        const struct validate_cell *c;
        if (v->sensor[s].col == 0)
            continue;
        c = v->col[v->sensor[s].col - 1];
        stream__put(&o, s, 4);
        stream__put(&o, 0, 4);
        stream__put(&o, validate_used(v, c), 8);
        for (size_t d = 0; d < v->cfg.max_devices; d++) {
            uint64_t bits;
            if (c[d].ts_ms == INT64_MIN)
                continue;
            memcpy(&bits, &c[d].value, sizeof(bits));
            stream__put(&o, d, 4);
            stream__put(&o, 0, 4);
            stream__put(&o, bits, 8);
            stream__put(&o, (uint64_t)c[d].ts_ms, 8);
        }
    }
    return stream__img_end(&o);
}

/* One column record: ids increase, pads are zero, no ts is the "none"
 * marker. */
static int validate_check_column(const struct validate *v,
                                 struct stream__in *in)
{
    uint64_t n = stream__get(in, 8);
    int64_t last = -1;

    if (n > (in->len - in->at) / 24)
        return -EBADMSG;
    for (uint64_t k = 0; k < n; k++) {
        uint64_t d = stream__get(in, 4);
        if ((int64_t)d <= last || stream__get(in, 4) != 0)
            return -EBADMSG;
        stream__get(in, 8);
        if ((int64_t)stream__get(in, 8) == INT64_MIN)
            return -EBADMSG;
        if (d >= v->cfg.max_devices)
            return -ENOSPC;
        last = (int64_t)d;
    }
    return in->bad ? -EBADMSG : 0;
}

/* Pass 1: check everything without touching v. */
static int validate_verify(const struct validate *v, const uint8_t *buf,
                           size_t len)
{
    struct stream__in in;
    uint64_t ncols;
    int64_t last = -1;
    int rc;

    if ((rc = stream__img_open(&in, buf, len, VALIDATE_MAGIC,
                               VALIDATE_FORMAT_VERSION, 24)) != 0)
        return rc;
    ncols = stream__get(&in, 8);
    for (uint64_t k = 0; k < ncols && !in.bad; k++) {
        uint64_t s = stream__get(&in, 4);
        if ((int64_t)s <= last || stream__get(&in, 4) != 0)
            return -EBADMSG;
        if ((rc = validate_check_column(v, &in)) != 0)
            return rc;
        last = (int64_t)s;
    }
    return in.bad || in.at != in.len ? -EBADMSG : 0;
}

int validate_restore(struct validate *v, const uint8_t *buf, size_t len)
{
    struct stream__in in = stream__img_in(buf, len);
    uint64_t ncols;
    int rc;

    if ((rc = validate_verify(v, buf, len)) != 0)
        return rc;
    in.at = 8;
    for (size_t i = 0; i < v->ncols; i++)
        for (size_t d = 0; d < v->cfg.max_devices; d++)
            v->col[i][d] = (struct validate_cell){0, INT64_MIN};
    ncols = stream__get(&in, 8);
    for (uint64_t k = 0; k < ncols; k++) {
        uint64_t s = stream__get(&in, 4);
        uint64_t n;
        struct validate_cell *c = NULL;
        stream__get(&in, 4);
        n = stream__get(&in, 8);
        if (s < v->cfg.max_sensors && v->sensor[s].col != 0)
            c = v->col[v->sensor[s].col - 1];
        for (uint64_t j = 0; j < n; j++) {
            uint64_t d = stream__get(&in, 4);
            uint64_t bits;
            stream__get(&in, 4);
            bits = stream__get(&in, 8);
            if (c != NULL) {
                memcpy(&c[d].value, &bits, sizeof(bits));
                c[d].ts_ms = (int64_t)stream__get(&in, 8);
            } else {
                stream__get(&in, 8); /* no rate limit now: dropped */
            }
        }
    }
    return 0;
}
