/* rows.c -- learning rows from accepted readings (semantics: rows.h).
 *
 * State. The task's distinct sensors (target and features) are numbered as
 * columns; a direct map from sensor id to column (ids are dense, so it is
 * as long as the largest id named) finds a reading's column in one load.
 * Column c keeps the newest depth[c] (value, ts) cells of each device,
 * newest first, where depth[c] is one more than the largest lag asked of
 * that sensor. A device's cells for all columns are one contiguous block,
 * so a row reads one small region: max_devices x sum(depth) x 16 bytes in
 * all, allocated in rows_new().
 *
 * Insertion keeps the cells ordered by timestamp (ties: the later arrival
 * counts as newer), so a reading that arrives late lands where it belongs
 * and lags mean "earlier in time", not "earlier in arrival". A reading
 * older than every cell of a full column is not stored.
 *
 * Features. Feature (s, k) is cell k of s's column -- for the target
 * sensor, cell p + k where p is where the anchoring target reading landed,
 * so lags of the target count back from that reading even when it arrived
 * late. A feature is present if the cell is filled and its timestamp is at
 * most max_age_ms before the row's; x is NaN otherwise.
 *
 * Forecasting. Pending rows live in a pool of pending_total slots (anchor
 * time, seq, lsn, x, present), linked into one FIFO per device by index,
 * with a free list; nothing is allocated after rows_new(). A target reading
 * at time T resolves the FIFO from its head while head.t + h <= T: emitted
 * with y if T <= t + h + label_max_delay_ms, else expired. An anchor whose
 * h has not passed blocks the ones behind it until it resolves, which only
 * happens out of order when anchors themselves arrive out of order.
 * Deadlines saturate instead of overflowing for absurd timestamps.
 *
 * Cost model: rows_add() on a feature sensor is a map load and an
 * insertion into a few cells; on the target it also gathers nfeatures
 * cells (one device block) and calls emit.
 *
 * Checkpoint image (little-endian; checked in full before anything
 * changes, so a refused image leaves the state as it was):
 *     "WROW"  u32 version  u32 nfeat  u32 ncols  i64 horizon_ms
 *     ncols x (u32 sensor id, u32 depth)       the columns, in order
 *     nfeat x (u32 column, u32 lag)            the features, in order
 *     7 x u64                                  struct rows_stats, in order
 *     u64 ndev, then per device with any state, in increasing id order:
 *         u32 id  u32 npending
 *         per column: u32 filled, then filled x (f64 value, i64 ts),
 *                     newest first
 *         npending x (i64 t  u64 seq  u64 lsn  u32 has_seq
 *                     nfeat x f64 x  nfeat x u8 present), oldest first
 *     u64 FNV-1a of everything before it
 * Doubles are stored as their IEEE-754 bits, so NaN payloads and -0 come
 * back as they were. Pool slot numbers are not stored: only the per-device
 * FIFO order is observable (rows_resolve(), rows_expire()), and restored
 * rows keep it.
 *
 * Threads: everything, emit included, runs on the thread that owns the
 * struct rows (the loop thread). */
#include "stream/rows.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/codec.h"     /* For codec_name_ok(). */
#include "stream/internal.h" /* For the image codec. */

_Static_assert(ROWS_NAME_MAX == CODEC_NAME_MAX, "spec names are codec names");
_Static_assert(ROWS_MAX_FEATURES + 1 < UINT16_MAX, "columns fit in uint16");
_Static_assert(ROWS_MAX_LAG + 1 <= UINT8_MAX, "cell counts fit in uint8");

#define ROWS_NONE UINT32_MAX   /* no pool slot */
#define ROWS_NO_COL UINT16_MAX /* sensor not named by the task */
#define ROWS_MAX_HORIZON_MS (365LL * 86400000)
#define ROWS_SENSOR_IDS (1u << 24) /* sensor ids below INTERN_MAX_CAP */

struct rows_cell {
    double value;  /* A reading's value. */
    int64_t ts_ms; /* Its timestamp. */
};

struct rows_feat {
    uint16_t col;   /* Column of the feature's sensor. */
    uint8_t lag;    /* k. */
    uint8_t of_tgt; /* The sensor is the target's: count from p. */
};

struct rows_slot {
    int64_t t_ms;    /* Anchor time. */
    uint64_t seq;    /* Anchor's seq. */
    uint64_t lsn;    /* Anchor's lsn. */
    uint32_t next;   /* Next slot in the device FIFO or free list. */
    uint8_t has_seq; /* Anchor had a seq. */
};

struct rows_dev {
    uint32_t head;  /* Oldest pending slot, or ROWS_NONE. */
    uint32_t tail;  /* Newest pending slot, or ROWS_NONE. */
    uint32_t count; /* Pending slots of this device. */
};

struct rows {
    struct rows_config cfg;  /* Copy; cfg.features is not kept. */
    size_t nfeat;            /* Features. */
    struct rows_feat *feat;  /* nfeat features. */
    uint16_t *col_of;        /* ncol_of entries: sensor id -> column. */
    size_t ncol_of;          /* Largest named sensor id + 1. */
    size_t ncols;            /* Distinct sensors named. */
    uint32_t *col_sensor;    /* ncols entries: column -> sensor id. */
    uint8_t *depth;          /* ncols depths. */
    size_t *off;             /* ncols cell offsets in a device block. */
    size_t cells_per_dev;    /* sum(depth). */
    uint16_t tcol;           /* Target's column. */
    struct rows_cell *cells; /* max_devices x cells_per_dev. */
    uint8_t *filled;         /* max_devices x ncols filled counts. */
    double *x;               /* nfeat: the row being built. */
    bool *present;           /* nfeat: its flags. */
    /* Forecasting only (cfg.target.horizon_ms > 0). */
    struct rows_dev *dev;    /* max_devices FIFOs. */
    struct rows_slot *slot;  /* pending_total slots. */
    double *slot_x;          /* pending_total x nfeat values. */
    bool *slot_present;      /* pending_total x nfeat flags. */
    uint32_t free_head;      /* Free list of slots. */
    size_t pending;          /* Slots in use. */
    struct rows_stats stats; /* Counters. */
};

/* ---- Specs ------------------------------------------------------------- */

int rows_parse_duration(const char *text, int64_t *ms)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {
        {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    int64_t n = 0;
    const char *p = text;

    if (*p < '0' || *p > '9')
        return -EINVAL;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (n > ROWS_MAX_HORIZON_MS)
            return -EINVAL; /* stop before int64 could overflow */
        n = n * 10 + (*p - '0');
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(p, units[i].unit) != 0)
            continue;
        if (n == 0 || n > ROWS_MAX_HORIZON_MS / units[i].ms)
            return -EINVAL;
        *ms = n * units[i].ms;
        return 0;
    }
    return -EINVAL;
}

/* Parse "-k" (a lag) into out. */
static int rows_parse_lag(const char *p, struct rows_spec *out)
{
    unsigned k = 0;

    if (*p < '1' || *p > '9')
        return -EINVAL; /* no sign, no leading zero, not empty */
    for (; *p >= '0' && *p <= '9'; p++) {
        k = k * 10 + (unsigned)(*p - '0');
        if (k > ROWS_MAX_LAG)
            return -EINVAL;
    }
    if (*p != '\0')
        return -EINVAL;
    out->lag = k;
    return 0;
}

int rows_spec_parse(const char *text, struct rows_spec *out)
{
    const char *at = strrchr(text, '@');
    size_t len = strlen(text);
    int rc = 0;

    memset(out, 0, sizeof(*out));
    /* '@' may occur in names; only "@-" and "@+" start a suffix. */
    if (at != NULL && (at[1] == '-' || at[1] == '+')) {
        len = (size_t)(at - text);
        if (at[1] == '-')
            rc = rows_parse_lag(at + 2, out);
        else
            rc = rows_parse_duration(at + 2, &out->horizon_ms);
        if (rc != 0)
            return rc;
    }
    if (!codec_name_ok(text, len))
        return -EINVAL;
    memcpy(out->name, text, len);
    out->name[len] = '\0';
    return 0;
}

size_t rows_spec_format(const struct rows_spec *s, char *buf, size_t cap)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {
        {"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};
    int n;

    if (s->horizon_ms > 0) {
        size_t i = 0;
        while (s->horizon_ms % units[i].ms != 0)
            i++;
        n = snprintf(buf, cap, "%s@+%lld%s", s->name,
                     (long long)(s->horizon_ms / units[i].ms), units[i].unit);
    } else if (s->lag > 0) {
        n = snprintf(buf, cap, "%s@-%u", s->name, (unsigned)s->lag);
    } else {
        n = snprintf(buf, cap, "%s", s->name);
    }
    return n < 0 ? 0 : (size_t)n;
}

/* ---- Lifecycle --------------------------------------------------------- */

struct rows_config rows_config_default(size_t max_devices)
{
    struct rows_config c;

    memset(&c, 0, sizeof(c));
    c.max_devices = max_devices;
    c.max_age_ms = 10 * 60 * 1000;
    c.label_max_delay_ms = 10 * 60 * 1000;
    c.pending_per_device = 256;
    c.pending_total = 16384;
    return c;
}

static bool rows_forecast(const struct rows *rw)
{
    return rw->cfg.target.horizon_ms > 0;
}

static int rows_config_check(const struct rows_config *c)
{
    const struct rows_spec *f = c->features;

    if (c->emit == NULL || f == NULL || c->nfeatures < 1 ||
        c->nfeatures > ROWS_MAX_FEATURES || c->max_devices < 1 ||
        c->max_devices > ROWS_MAX_DEVICES || c->max_age_ms < 0 ||
        c->target.lag != 0 || c->target.horizon_ms < 0 ||
        c->target.horizon_ms > ROWS_MAX_HORIZON_MS ||
        c->target.sensor_id >= ROWS_SENSOR_IDS)
        return -EINVAL;
    if (c->target.horizon_ms > 0 &&
        (c->label_max_delay_ms < 0 || c->pending_per_device < 1 ||
         c->pending_total < 1 || c->pending_total > ROWS_MAX_PENDING))
        return -EINVAL;
    for (size_t i = 0; i < c->nfeatures; i++) {
        if (f[i].horizon_ms != 0 || f[i].lag > ROWS_MAX_LAG ||
            f[i].sensor_id >= ROWS_SENSOR_IDS)
            return -EINVAL;
        if (c->target.horizon_ms == 0 && f[i].lag == 0 &&
            f[i].sensor_id == c->target.sensor_id)
            return -EINVAL; /* the label itself would be a feature */
        for (size_t j = 0; j < i; j++)
            if (f[j].sensor_id == f[i].sensor_id && f[j].lag == f[i].lag)
                return -EINVAL;
    }
    return 0;
}

/* Column of sensor id s, adding it if new. */
static uint16_t rows_column(struct rows *rw, uint32_t s)
{
    if (rw->col_of[s] == ROWS_NO_COL) {
        rw->col_of[s] = (uint16_t)rw->ncols;
        rw->col_sensor[rw->ncols] = s;
        rw->depth[rw->ncols++] = 1;
    }
    return rw->col_of[s];
}

/* Build the sensor -> column map, depths and offsets. */
static int rows_layout(struct rows *rw, const struct rows_config *c)
{
    uint32_t max_id = c->target.sensor_id;

    for (size_t i = 0; i < c->nfeatures; i++)
        if (c->features[i].sensor_id > max_id)
            max_id = c->features[i].sensor_id;
    rw->ncol_of = (size_t)max_id + 1;
    if ((rw->col_of = malloc(rw->ncol_of * sizeof(*rw->col_of))) == NULL)
        return -ENOMEM;
    memset(rw->col_of, 0xff, rw->ncol_of * sizeof(*rw->col_of));
    rw->tcol = rows_column(rw, c->target.sensor_id);
    for (size_t i = 0; i < c->nfeatures; i++) {
        const struct rows_spec *f = &c->features[i];
        uint16_t col = rows_column(rw, f->sensor_id);
        rw->feat[i].col = col;
        rw->feat[i].lag = (uint8_t)f->lag;
        rw->feat[i].of_tgt = col == rw->tcol;
        if (rw->depth[col] < f->lag + 1)
            rw->depth[col] = (uint8_t)(f->lag + 1);
    }
    for (size_t k = 0; k < rw->ncols; k++) {
        rw->off[k] = rw->cells_per_dev;
        rw->cells_per_dev += rw->depth[k];
    }
    return 0;
}

/* Empty every device FIFO and put all slots on the free list. */
static void rows_pool_reset(struct rows *rw)
{
    size_t n = rw->cfg.pending_total;

    for (size_t i = 0; i < rw->cfg.max_devices; i++) {
        rw->dev[i].head = rw->dev[i].tail = ROWS_NONE;
        rw->dev[i].count = 0;
    }
    for (size_t i = 0; i < n; i++)
        rw->slot[i].next = i + 1 < n ? (uint32_t)(i + 1) : ROWS_NONE;
    rw->free_head = 0;
    rw->pending = 0;
}

/* The forecasting pool, all slots on the free list. */
static int rows_pool(struct rows *rw)
{
    size_t n = rw->cfg.pending_total;

    if ((rw->dev = calloc(rw->cfg.max_devices, sizeof(*rw->dev))) == NULL ||
        (rw->slot = calloc(n, sizeof(*rw->slot))) == NULL ||
        (rw->slot_x = calloc(n, rw->nfeat * sizeof(double))) == NULL ||
        (rw->slot_present = calloc(n, rw->nfeat * sizeof(bool))) == NULL)
        return -ENOMEM; /* rows_free() releases what was allocated */
    rows_pool_reset(rw);
    return 0;
}

int rows_new(struct rows **out, const struct rows_config *cfg)
{
    struct rows *rw;
    size_t nf = cfg->nfeatures;
    int rc;

    if ((rc = rows_config_check(cfg)) != 0)
        return rc;
    if ((rw = calloc(1, sizeof(*rw))) == NULL)
        return -ENOMEM;
    rw->cfg = *cfg;
    rw->cfg.features = NULL; /* borrowed only for the call */
    rw->nfeat = nf;
    rc = -ENOMEM;
    if ((rw->feat = calloc(nf, sizeof(*rw->feat))) == NULL ||
        (rw->depth = calloc(nf + 1, sizeof(*rw->depth))) == NULL ||
        (rw->off = calloc(nf + 1, sizeof(*rw->off))) == NULL ||
        (rw->col_sensor = calloc(nf + 1, sizeof(*rw->col_sensor))) == NULL ||
        (rw->x = calloc(nf, sizeof(*rw->x))) == NULL ||
        (rw->present = calloc(nf, sizeof(*rw->present))) == NULL ||
        (rc = rows_layout(rw, cfg)) != 0)
        goto out_free;
    rc = -ENOMEM;
    /* calloc() checks the products: no overflow on 32-bit targets. */
    if ((rw->cells = calloc(cfg->max_devices,
                            rw->cells_per_dev * sizeof(*rw->cells))) == NULL ||
        (rw->filled = calloc(cfg->max_devices, rw->ncols)) == NULL)
        goto out_free;
    if (rows_forecast(rw) && (rc = rows_pool(rw)) != 0)
        goto out_free;
    *out = rw;
    return 0;
out_free:
    rows_free(rw); /* every pointer is NULL or owned */
    return rc;
}

void rows_free(struct rows *rw)
{
    if (rw == NULL)
        return;
    free(rw->slot_present);
    free(rw->slot_x);
    free(rw->slot);
    free(rw->dev);
    free(rw->filled);
    free(rw->cells);
    free(rw->present);
    free(rw->x);
    free(rw->col_sensor);
    free(rw->off);
    free(rw->depth);
    free(rw->col_of);
    free(rw->feat);
    free(rw);
}

/* ---- Operations -------------------------------------------------------- */

/* Insert r into column col of device d, keeping newest first; returns the
 * index it landed at, or the depth if it was older than a full column. */
static size_t rows_insert(struct rows *rw, uint32_t d, uint16_t col,
                          const struct reading *r)
{
    struct rows_cell *c = &rw->cells[d * rw->cells_per_dev + rw->off[col]];
    uint8_t *filled = &rw->filled[d * rw->ncols + col];
    size_t depth = rw->depth[col];
    size_t n = *filled;
    size_t p = 0;

    while (p < n && c[p].ts_ms > r->ts_ms)
        p++;
    if (p == depth)
        return depth;
    if (n == depth)
        n--; /* the oldest falls off */
    memmove(&c[p + 1], &c[p], (n - p) * sizeof(*c));
    c[p].value = r->value;
    c[p].ts_ms = r->ts_ms;
    *filled = (uint8_t)(n + 1);
    return p;
}

/* Fill x/present for device d at time t; p is where the target reading
 * sits in its column. */
static void rows_gather(struct rows *rw, uint32_t d, int64_t t, size_t p,
                        double *x, bool *present)
{
    const struct rows_cell *block = &rw->cells[d * rw->cells_per_dev];
    const uint8_t *filled = &rw->filled[d * rw->ncols];

    for (size_t i = 0; i < rw->nfeat; i++) {
        const struct rows_feat *f = &rw->feat[i];
        size_t k = f->lag + (f->of_tgt ? p : 0);
        const struct rows_cell *c;
        bool ok = false;

        if (k < filled[f->col]) {
            c = &block[rw->off[f->col] + k];
            /* Age in unsigned arithmetic: timestamps are arbitrary. */
            ok = c->ts_ms >= t || (uint64_t)t - (uint64_t)c->ts_ms <=
                                      (uint64_t)rw->cfg.max_age_ms;
        }
        present[i] = ok;
        x[i] = ok ? c->value : NAN;
    }
}

static void rows_emit(struct rows *rw, struct rows_row *row)
{
    row->n = rw->nfeat;
    for (size_t i = 0; i < row->n; i++)
        rw->stats.features_missing += !row->present[i];
    rw->stats.rows++;
    rw->cfg.emit(rw->cfg.ctx, row);
}

static int64_t sat_add(int64_t a, int64_t b) /* b >= 0 */
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* Unlink slot s (after prev, or the head) from device d's FIFO and free
 * it. */
static void rows_unlink(struct rows *rw, uint32_t d, uint32_t prev, uint32_t s)
{
    struct rows_dev *v = &rw->dev[d];
    uint32_t next = rw->slot[s].next;

    if (prev == ROWS_NONE)
        v->head = next;
    else
        rw->slot[prev].next = next;
    if (v->tail == s)
        v->tail = prev;
    v->count--;
    rw->slot[s].next = rw->free_head;
    rw->free_head = s;
    rw->pending--;
}

/* A target value at r->ts_ms: label or expire the device's ready rows. */
static void rows_resolve(struct rows *rw, const struct reading *r)
{
    uint32_t d = r->device_id;
    int64_t h = rw->cfg.target.horizon_ms;
    uint32_t s;

    while ((s = rw->dev[d].head) != ROWS_NONE &&
           sat_add(rw->slot[s].t_ms, h) <= r->ts_ms) {
        struct rows_slot *sl = &rw->slot[s];
        if (r->ts_ms >
            sat_add(sat_add(sl->t_ms, h), rw->cfg.label_max_delay_ms)) {
            rw->stats.pending_expired++;
        } else {
            struct rows_row row = {
                .device_id = d,
                .has_seq = sl->has_seq,
                .seq = sl->seq,
                .lsn = sl->lsn,
                .ts_ms = sl->t_ms,
                .y_ts_ms = r->ts_ms,
                .y = r->value,
                .x = &rw->slot_x[(size_t)s * rw->nfeat],
                .present = &rw->slot_present[(size_t)s * rw->nfeat],
            };
            rows_emit(rw, &row);
        }
        rows_unlink(rw, d, ROWS_NONE, s);
    }
}

/* A free pending slot for device d, unlinked, or ROWS_NONE (counted as an
 * overflow) when the pool or the device's share is used up: the newest
 * anchor is the one refused, so the oldest rows, closest to their labels,
 * stay. */
static uint32_t rows_slot_get(struct rows *rw, uint32_t d)
{
    uint32_t s = rw->free_head;

    if (s == ROWS_NONE || rw->dev[d].count >= rw->cfg.pending_per_device) {
        rw->stats.pending_overflow++;
        return ROWS_NONE;
    }
    rw->free_head = rw->slot[s].next;
    rw->slot[s].next = ROWS_NONE;
    return s;
}

/* Append the filled slot s to device d's FIFO. */
static void rows_slot_append(struct rows *rw, uint32_t d, uint32_t s)
{
    struct rows_dev *v = &rw->dev[d];

    if (v->tail == ROWS_NONE)
        v->head = s;
    else
        rw->slot[v->tail].next = s;
    v->tail = s;
    v->count++;
    rw->pending++;
}

/* Anchor a forecast row at target reading r (at index p of its column). */
static void rows_anchor(struct rows *rw, const struct reading *r, size_t p)
{
    uint32_t d = r->device_id;
    uint32_t s = rows_slot_get(rw, d);
    struct rows_slot *sl;

    if (s == ROWS_NONE)
        return;
    sl = &rw->slot[s];
    sl->t_ms = r->ts_ms;
    sl->seq = r->seq;
    sl->lsn = r->lsn;
    sl->has_seq = (r->flags & READING_HAS_SEQ) != 0;
    rows_gather(rw, d, r->ts_ms, p, &rw->slot_x[(size_t)s * rw->nfeat],
                &rw->slot_present[(size_t)s * rw->nfeat]);
    rows_slot_append(rw, d, s);
}

void rows_add(struct rows *rw, const struct reading *r)
{
    uint32_t d = r->device_id;
    uint16_t col;
    size_t p;

    rw->stats.readings++;
    if (r->sensor_id >= rw->ncol_of ||
        (col = rw->col_of[r->sensor_id]) == ROWS_NO_COL)
        return;
    if (d >= rw->cfg.max_devices) {
        rw->stats.bad_device++;
        return;
    }
    rw->stats.used++;
    if (col == rw->tcol && rows_forecast(rw))
        rows_resolve(rw, r);
    p = rows_insert(rw, d, col, r);
    if (col != rw->tcol)
        return;
    if (rows_forecast(rw)) {
        rows_anchor(rw, r, p);
    } else {
        struct rows_row row = {
            .device_id = d,
            .has_seq = (r->flags & READING_HAS_SEQ) != 0,
            .seq = r->seq,
            .lsn = r->lsn,
            .ts_ms = r->ts_ms,
            .y_ts_ms = r->ts_ms,
            .y = r->value,
            .x = rw->x,
            .present = rw->present,
        };
        rows_gather(rw, d, r->ts_ms, p, rw->x, rw->present);
        rows_emit(rw, &row);
    }
}

size_t rows_expire(struct rows *rw, int64_t now_ms)
{
    int64_t h = rw->cfg.target.horizon_ms;
    size_t n = 0;

    if (!rows_forecast(rw) || rw->pending == 0)
        return 0;
    for (uint32_t d = 0; d < rw->cfg.max_devices; d++) {
        uint32_t prev = ROWS_NONE;
        uint32_t s = rw->dev[d].head;

        while (s != ROWS_NONE) {
            uint32_t next = rw->slot[s].next;
            int64_t deadline = sat_add(sat_add(rw->slot[s].t_ms, h),
                                       rw->cfg.label_max_delay_ms);
            if (deadline < now_ms) {
                rows_unlink(rw, d, prev, s);
                n++;
            } else {
                prev = s;
            }
            s = next;
        }
    }
    rw->stats.pending_expired += n;
    return n;
}

size_t rows_pending(const struct rows *rw)
{
    return rw->pending;
}

size_t rows_nfeatures(const struct rows *rw)
{
    return rw->nfeat;
}

void rows_stats(const struct rows *rw, struct rows_stats *out)
{
    *out = rw->stats;
}

/* ---- Checkpoints ------------------------------------------------------- */

#define ROWS_MAGIC 0x574f5257u /* "WROW" read as little-endian u32 */
#define ROWS_NSTATS 7          /* u64 counters in the image */

/* Whether device d has anything to save. */
static bool rows_dev_used(const struct rows *rw, size_t d)
{
    const uint8_t *filled = &rw->filled[d * rw->ncols];

    if (rows_forecast(rw) && rw->dev[d].count > 0)
        return true;
    for (size_t c = 0; c < rw->ncols; c++)
        if (filled[c] != 0)
            return true;
    return false;
}

static void rows_put_stats(const struct rows_stats *s, struct stream__out *o)
{
    const uint64_t v[ROWS_NSTATS] = {s->readings,
                                     s->used,
                                     s->rows,
                                     s->features_missing,
                                     s->pending_overflow,
                                     s->pending_expired,
                                     s->bad_device};

    for (size_t i = 0; i < ROWS_NSTATS; i++)
        stream__put(o, v[i], 8);
}

static void rows_put_device(const struct rows *rw, struct stream__out *o,
                            uint32_t d)
{
    const struct rows_cell *block = &rw->cells[d * rw->cells_per_dev];
    const uint8_t *filled = &rw->filled[d * rw->ncols];
    uint32_t npend = rows_forecast(rw) ? rw->dev[d].count : 0;

    stream__put(o, d, 4);
    stream__put(o, npend, 4);
    for (size_t c = 0; c < rw->ncols; c++) {
        stream__put(o, filled[c], 4);
        for (size_t k = 0; k < filled[c]; k++) {
            stream__put_f64(o, block[rw->off[c] + k].value);
            stream__put(o, (uint64_t)block[rw->off[c] + k].ts_ms, 8);
        }
    }
    for (uint32_t s = npend ? rw->dev[d].head : ROWS_NONE; s != ROWS_NONE;
         s = rw->slot[s].next) {
        const struct rows_slot *sl = &rw->slot[s];
        stream__put(o, (uint64_t)sl->t_ms, 8);
        stream__put(o, sl->seq, 8);
        stream__put(o, sl->lsn, 8);
        stream__put(o, sl->has_seq, 4);
        for (size_t i = 0; i < rw->nfeat; i++)
            stream__put_f64(o, rw->slot_x[(size_t)s * rw->nfeat + i]);
        for (size_t i = 0; i < rw->nfeat; i++)
            stream__put(o, rw->slot_present[(size_t)s * rw->nfeat + i], 1);
    }
}

size_t rows_save(const struct rows *rw, uint8_t *buf, size_t cap)
{
    struct stream__out o = stream__img_out(buf, cap);
    uint64_t ndev = 0;

    stream__put(&o, ROWS_MAGIC, 4);
    stream__put(&o, ROWS_FORMAT_VERSION, 4);
    stream__put(&o, rw->nfeat, 4);
    stream__put(&o, rw->ncols, 4);
    stream__put(&o, (uint64_t)rw->cfg.target.horizon_ms, 8);
    for (size_t c = 0; c < rw->ncols; c++) {
        stream__put(&o, rw->col_sensor[c], 4);
        stream__put(&o, rw->depth[c], 4);
    }
    for (size_t i = 0; i < rw->nfeat; i++) {
        stream__put(&o, rw->feat[i].col, 4);
        stream__put(&o, rw->feat[i].lag, 4);
    }
    rows_put_stats(&rw->stats, &o);
    for (size_t d = 0; d < rw->cfg.max_devices; d++)
        ndev += rows_dev_used(rw, d);
    stream__put(&o, ndev, 8);
    for (size_t d = 0; d < rw->cfg.max_devices; d++)
        if (rows_dev_used(rw, d))
            rows_put_device(rw, &o, (uint32_t)d);
    return stream__img_end(&o);
}

/* The layout part of an image against rw's: 0, -EINVAL, -EBADMSG. */
static int rows_check_layout(const struct rows *rw, struct stream__in *in)
{
    uint64_t nfeat = stream__get(in, 4);
    uint64_t ncols = stream__get(in, 4);
    bool same;

    same = (int64_t)stream__get(in, 8) == rw->cfg.target.horizon_ms &&
           nfeat == rw->nfeat && ncols == rw->ncols;
    if (in->bad)
        return -EBADMSG;
    if (!same)
        return -EINVAL;
    for (size_t c = 0; c < rw->ncols; c++) {
        same &= stream__get(in, 4) == rw->col_sensor[c];
        same &= stream__get(in, 4) == rw->depth[c];
    }
    for (size_t i = 0; i < rw->nfeat; i++) {
        same &= stream__get(in, 4) == rw->feat[i].col;
        same &= stream__get(in, 4) == rw->feat[i].lag;
    }
    if (in->bad)
        return -EBADMSG;
    return same ? 0 : -EINVAL;
}

/* One device record: cells in range and ordered, flags 0 or 1. */
static bool rows_check_device(const struct rows *rw, struct stream__in *in,
                              uint32_t npend)
{
    for (size_t c = 0; c < rw->ncols && !in->bad; c++) {
        uint64_t f = stream__get(in, 4);
        int64_t newer = INT64_MAX;
        if (f > rw->depth[c])
            return false;
        for (uint64_t k = 0; k < f; k++) {
            int64_t ts;
            stream__skip(in, 8);
            ts = (int64_t)stream__get(in, 8);
            if (ts > newer)
                return false; /* cells are newest first */
            newer = ts;
        }
    }
    if (npend > 0 && !rows_forecast(rw))
        return false;
    for (uint32_t p = 0; p < npend && !in->bad; p++) {
        stream__skip(in, 24);
        if (stream__get(in, 4) > 1)
            return false;
        stream__skip(in, 8 * (uint64_t)rw->nfeat);
        for (size_t i = 0; i < rw->nfeat; i++)
            if (stream__get(in, 1) > 1)
                return false;
    }
    return !in->bad;
}

/* Pass 1: check everything without touching rw; *at gets the offset of
 * the counters. */
static int rows_verify(const struct rows *rw, const uint8_t *buf, size_t len,
                       size_t *at)
{
    struct stream__in in;
    uint64_t ndev;
    int64_t last = -1;
    int rc;

    if ((rc = stream__img_open(&in, buf, len, ROWS_MAGIC, ROWS_FORMAT_VERSION,
                               24)) != 0)
        return rc;
    if ((rc = rows_check_layout(rw, &in)) != 0)
        return rc;
    *at = in.at;
    stream__skip(&in, 8 * ROWS_NSTATS);
    ndev = stream__get(&in, 8);
    for (uint64_t k = 0; k < ndev && !in.bad; k++) {
        uint64_t id = stream__get(&in, 4);
        uint32_t npend = (uint32_t)stream__get(&in, 4);
        if ((int64_t)id <= last || !rows_check_device(rw, &in, npend))
            return -EBADMSG; /* ids strictly increase */
        if (id >= rw->cfg.max_devices)
            return -ENOSPC;
        last = (int64_t)id;
    }
    if (in.bad || in.at != in.len)
        return -EBADMSG;
    return 0;
}

/* Pass 2: one pending row of device d, appended to its FIFO if there is
 * room (rows_anchor()'s rule: the oldest are kept). */
static void rows_load_pending(struct rows *rw, struct stream__in *in,
                              uint32_t d)
{
    uint32_t s = rows_slot_get(rw, d);
    struct rows_slot *sl;

    if (s == ROWS_NONE) {
        stream__skip(in, 28 + 9 * (uint64_t)rw->nfeat);
        return;
    }
    sl = &rw->slot[s];
    sl->t_ms = (int64_t)stream__get(in, 8);
    sl->seq = stream__get(in, 8);
    sl->lsn = stream__get(in, 8);
    sl->has_seq = (uint8_t)stream__get(in, 4);
    for (size_t i = 0; i < rw->nfeat; i++)
        rw->slot_x[(size_t)s * rw->nfeat + i] = stream__get_f64(in);
    for (size_t i = 0; i < rw->nfeat; i++)
        rw->slot_present[(size_t)s * rw->nfeat + i] = stream__get(in, 1) != 0;
    rows_slot_append(rw, d, s);
}

/* Pass 2: one device record. */
static void rows_load_device(struct rows *rw, struct stream__in *in)
{
    uint32_t d = (uint32_t)stream__get(in, 4);
    uint32_t npend = (uint32_t)stream__get(in, 4);
    struct rows_cell *block = &rw->cells[d * rw->cells_per_dev];
    uint8_t *filled = &rw->filled[d * rw->ncols];

    for (size_t c = 0; c < rw->ncols; c++) {
        filled[c] = (uint8_t)stream__get(in, 4);
        for (size_t k = 0; k < filled[c]; k++) {
            block[rw->off[c] + k].value = stream__get_f64(in);
            block[rw->off[c] + k].ts_ms = (int64_t)stream__get(in, 8);
        }
    }
    for (uint32_t p = 0; p < npend; p++)
        rows_load_pending(rw, in, d);
}

int rows_restore(struct rows *rw, const uint8_t *buf, size_t len)
{
    struct stream__in in = stream__img_in(buf, len);
    uint64_t v[ROWS_NSTATS];
    uint64_t ndev;
    size_t at = 0;
    int rc;

    if ((rc = rows_verify(rw, buf, len, &at)) != 0)
        return rc;
    in.at = at;
    for (size_t i = 0; i < ROWS_NSTATS; i++)
        v[i] = stream__get(&in, 8);
    rw->stats = (struct rows_stats){v[0], v[1], v[2], v[3], v[4], v[5], v[6]};
    memset(rw->filled, 0, rw->cfg.max_devices * rw->ncols);
    if (rows_forecast(rw))
        rows_pool_reset(rw);
    ndev = stream__get(&in, 8);
    for (uint64_t k = 0; k < ndev; k++)
        rows_load_device(rw, &in);
    assert(!in.bad && in.at == len - 8);
    return 0;
}
