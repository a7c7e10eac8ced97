/* test_rows.c -- row assembly: spec parsing and formatting, nowcast rows
 * with missing and aged features, lag features (also of the target, and
 * with late arrivals), forecasting targets with delayed labels, label
 * expiry, buffer overflow per device and for the pool, a seeded
 * differential run against a reference that keeps every reading, and
 * checkpoints: a run saved and restored into a fresh rows again and again
 * emits exactly the rows of an uninterrupted one, and damaged, foreign or
 * crafted images are refused without touching the state.
 * Threads: single-threaded. */
#include "stream/rows.h"
#include "tests/harness.h"

#include <errno.h>
#include <math.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SLOW_BUILD 1
#endif
#ifdef SLOW_BUILD
#define DIFF_READINGS 20000u
#else
#define DIFF_READINGS 200000u
#endif

/* ---- Capturing rows ---------------------------------------------------- */

#define MAXF 8

struct got_row {
    struct rows_row r;  /* As emitted; x/present repointed below. */
    double x[MAXF];     /* Copy of x. */
    bool present[MAXF]; /* Copy of present. */
};

struct got {
    size_t n;            /* Rows captured. */
    size_t cap;          /* Room in row[]. */
    struct got_row *row; /* Captured rows. */
};

static void capture(void *ctx, const struct rows_row *r)
{
    struct got *g = ctx;
    struct got_row *o;

    ASSERT(r->n <= MAXF);
    if (g->n == g->cap) {
        g->cap = g->cap ? 2 * g->cap : 64;
        ASSERT((g->row = realloc(g->row, g->cap * sizeof(*g->row))) != NULL);
    }
    o = &g->row[g->n++];
    o->r = *r;
    memcpy(o->x, r->x, r->n * sizeof(double));
    memcpy(o->present, r->present, r->n * sizeof(bool));
    for (size_t i = 0; i < r->n; i++) /* never a silent value */
        ASSERT(r->present[i] ? !isnan(r->x[i]) : isnan(r->x[i]));
    o->r.x = NULL;
    o->r.present = NULL;
}

static struct rows_spec spec(const char *text, uint32_t sensor_id)
{
    struct rows_spec s;

    ASSERT_EQ(rows_spec_parse(text, &s), 0);
    s.sensor_id = sensor_id;
    return s;
}

static struct reading rd(uint32_t dev, uint32_t sensor, int64_t ts, double v)
{
    struct reading r;

    memset(&r, 0, sizeof(r));
    r.device_id = dev;
    r.sensor_id = sensor;
    r.ts_ms = ts;
    r.value = v;
    r.seq = (uint64_t)ts * 10 + sensor; /* recognisable */
    r.lsn = (uint64_t)ts + 7;
    r.flags = READING_HAS_SEQ | READING_HAS_TS;
    return r;
}

static void add(struct rows *rw, uint32_t dev, uint32_t sensor, int64_t ts,
                double v)
{
    struct reading r = rd(dev, sensor, ts, v);

    rows_add(rw, &r);
}

/* ---- Specs ------------------------------------------------------------- */

static void rows_spec_parses_and_formats(void)
{
    static const struct {
        const char *text;
        const char *name;
        unsigned lag;
        int64_t h;
    } good[] = {
        {"temp", "temp", 0, 0},
        {"temp@-1", "temp", 1, 0},
        {"temp@-16", "temp", 16, 0},
        {"co2@+15m", "co2", 0, 900000},
        {"co2@+30s", "co2", 0, 30000},
        {"co2@+1h", "co2", 0, 3600000},
        {"co2@+500ms", "co2", 0, 500},
        {"co2@+2d", "co2", 0, 172800000},
        {"a@b", "a@b", 0, 0}, /* '@' alone is part of the name */
        {"a@b@-2", "a@b", 2, 0},
        {"room.1_t-x@+90s", "room.1_t-x", 0, 90000},
    };
    static const char *const bad[] = {
        "",         "@-1",       "temp@-0",   "temp@-17",
        "temp@-",   "temp@-1x",  "temp@--1",  "temp@-+1",
        "co2@+",    "co2@+15",   "co2@+15x",  "co2@+0m",
        "co2@+-5m", "co2@+366d", "co2@+1.5h", "co2@+99999999999999999999999d",
        "a/b@-1",   "a+b",       "t\x01",     "co2@+15m ",
    };
    struct rows_spec s;
    char buf[ROWS_SPEC_MAX];
    char longname[80];

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ASSERT_EQ(rows_spec_parse(good[i].text, &s), 0);
        ASSERT_STREQ(s.name, good[i].name);
        ASSERT_EQ(s.lag, good[i].lag);
        ASSERT_EQ(s.horizon_ms, good[i].h);
        ASSERT_EQ(s.sensor_id, 0);
        ASSERT_EQ(rows_spec_format(&s, buf, sizeof(buf)), strlen(good[i].text));
        ASSERT_STREQ(buf, good[i].text); /* these are canonical already */
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ASSERT_EQ(rows_spec_parse(bad[i], &s), -EINVAL);
    memset(longname, 'n', 65);
    strcpy(longname + 65, "@-1");
    ASSERT_EQ(rows_spec_parse(longname, &s), -EINVAL);
    longname[64] = '\0';
    ASSERT_EQ(rows_spec_parse(longname, &s), 0);
    /* Canonical forms pick the largest unit that divides. */
    ASSERT_EQ(rows_spec_parse("x@+3600s", &s), 0);
    rows_spec_format(&s, buf, sizeof(buf));
    ASSERT_STREQ(buf, "x@+1h");
    ASSERT_EQ(rows_spec_parse("x@+1500ms", &s), 0);
    rows_spec_format(&s, buf, sizeof(buf));
    ASSERT_STREQ(buf, "x@+1500ms");
    /* snprintf-like: the length needed, truncated output. */
    ASSERT_EQ(rows_spec_format(&s, buf, 3), strlen("x@+1500ms"));
    ASSERT_STREQ(buf, "x@");
}

static void rows_duration_parser(void)
{
    int64_t ms = 0;

    ASSERT_EQ(rows_parse_duration("15m", &ms), 0);
    ASSERT_EQ(ms, 900000);
    ASSERT_EQ(rows_parse_duration("365d", &ms), 0);
    ASSERT_EQ(ms, 365LL * 86400000);
    ASSERT_EQ(rows_parse_duration("8760h", &ms), 0);
    ASSERT_EQ(rows_parse_duration("8761h", &ms), -EINVAL);
    ASSERT_EQ(rows_parse_duration("15", &ms), -EINVAL);
    ASSERT_EQ(rows_parse_duration("m", &ms), -EINVAL);
    ASSERT_EQ(rows_parse_duration(" 1s", &ms), -EINVAL);
    ASSERT_EQ(rows_parse_duration("1S", &ms), -EINVAL);
}

/* ---- Configuration ----------------------------------------------------- */

static void rows_rejects_bad_config(void)
{
    struct got g = {0};
    struct rows_config c = rows_config_default(4);
    struct rows_spec f[2];
    struct rows *rw;

    c.target = spec("occ", 0);
    f[0] = spec("temp", 1);
    f[1] = spec("temp", 1);
    c.features = f;
    c.nfeatures = 1;
    ASSERT_EQ(rows_new(&rw, &c), -EINVAL); /* no emit */
    c.emit = capture;
    c.ctx = &g;
    c.nfeatures = 0;
    ASSERT_EQ(rows_new(&rw, &c), -EINVAL);
    c.nfeatures = 2;
    ASSERT_EQ(rows_new(&rw, &c), -EINVAL); /* repeated feature */
    f[1] = spec("occ", 0);
    ASSERT_EQ(rows_new(&rw, &c), -EINVAL); /* the label as a feature */
    f[1] = spec("occ@-1", 0);
    ASSERT_EQ(rows_new(&rw, &c), 0); /* the previous label is fine */
    rows_free(rw);
    f[1] = spec("hum@+5m", 2);
    ASSERT_EQ(rows_new(&rw, &c), -EINVAL); /* horizon on a feature */
    f[1] = spec("hum", 2);
    c.target = spec("occ@-1", 0);
    ASSERT_EQ(rows_new(&rw, &c), -EINVAL); /* lag on the target */
    c.target = spec("occ@+5m", 0);
    f[1] = spec("occ", 0);
    ASSERT_EQ(rows_new(&rw, &c), 0); /* forecasting: occ now is an input */
    rows_free(rw);
    c.pending_total = 0;
    ASSERT_EQ(rows_new(&rw, &c), -EINVAL);
    c.pending_total = 16;
    f[1].sensor_id = 1u << 24; /* not an interned id */
    ASSERT_EQ(rows_new(&rw, &c), -EINVAL);
    rows_free(NULL);
}

/* ---- Nowcasting -------------------------------------------------------- */

static struct rows *nowcast(struct got *g, const char *const *feats, size_t nf,
                            int64_t max_age)
{
    struct rows_config c = rows_config_default(4);
    struct rows_spec f[MAXF];
    struct rows *rw;

    /* Sensor ids: occ 0, temp 1, hum 2, co2 3. */
    for (size_t i = 0; i < nf; i++) {
        uint32_t id = strncmp(feats[i], "occ", 3) == 0    ? 0
                      : strncmp(feats[i], "temp", 4) == 0 ? 1
                      : strncmp(feats[i], "hum", 3) == 0  ? 2
                                                          : 3;
        f[i] = spec(feats[i], id);
    }
    c.target = spec("occ", 0);
    c.features = f;
    c.nfeatures = nf;
    c.max_age_ms = max_age;
    c.emit = capture;
    c.ctx = g;
    ASSERT_EQ(rows_new(&rw, &c), 0);
    return rw;
}

static void rows_nowcast_missing_and_aged_features(void)
{
    static const char *const feats[] = {"temp", "hum"};
    struct got g = {0};
    struct rows *rw = nowcast(&g, feats, 2, 5000);
    struct rows_stats st;

    ASSERT_EQ(rows_nfeatures(rw), 2);
    add(rw, 0, 1, 1000, 21.0);
    add(rw, 0, 2, 1000, 40.0);
    add(rw, 0, 0, 1000, 1.0);
    ASSERT_EQ(g.n, 1);
    ASSERT_EQ(g.row[0].r.device_id, 0);
    ASSERT_EQ(g.row[0].r.ts_ms, 1000);
    ASSERT_EQ(g.row[0].r.y_ts_ms, 1000);
    ASSERT(g.row[0].r.has_seq && g.row[0].r.seq == 10000);
    ASSERT_EQ(g.row[0].r.lsn, 1007);
    ASSERT(g.row[0].r.y == 1.0 && g.row[0].r.n == 2);
    ASSERT(g.row[0].present[0] && g.row[0].x[0] == 21.0);
    ASSERT(g.row[0].present[1] && g.row[0].x[1] == 40.0);
    /* Device 1 has temp only: hum is missing, never zero. */
    add(rw, 1, 1, 1000, 18.0);
    add(rw, 1, 0, 1000, 0.0);
    ASSERT_EQ(g.n, 2);
    ASSERT(g.row[1].r.device_id == 1 && g.row[1].present[0] &&
           g.row[1].x[0] == 18.0 && !g.row[1].present[1]);
    /* Age: exactly max_age_ms is fresh, one more is missing. */
    add(rw, 0, 0, 6000, 1.0);
    ASSERT(g.row[2].present[0] && g.row[2].present[1]);
    add(rw, 0, 0, 6001, 1.0);
    ASSERT(!g.row[3].present[0] && !g.row[3].present[1]);
    /* A feature newer than the row (reordering) counts as fresh. */
    add(rw, 0, 1, 9000, 22.0);
    add(rw, 0, 0, 8000, 1.0);
    ASSERT(g.row[4].present[0] && g.row[4].x[0] == 22.0);
    ASSERT(!g.row[4].present[1]); /* hum at 1000 is 7 s old */
    /* Readings without seq say so. */
    {
        struct reading r = rd(2, 0, 100, 1.0);
        r.flags = READING_HAS_TS;
        rows_add(rw, &r);
        ASSERT(g.n == 6 && !g.row[5].r.has_seq);
    }
    /* Unnamed sensors and bad devices are counted and ignored. */
    add(rw, 0, 3, 9000, 5.0);
    add(rw, 0, 77, 9000, 5.0);
    add(rw, 4, 0, 9000, 5.0);
    rows_stats(rw, &st);
    ASSERT_EQ(g.n, 6);
    ASSERT_EQ(st.rows, 6);
    ASSERT_EQ(st.readings, 13);
    ASSERT_EQ(st.used, 10);
    ASSERT_EQ(st.bad_device, 1);
    ASSERT_EQ(st.features_missing, 1 + 2 + 1 + 2); /* rows 1, 3, 4, 5 */
    ASSERT_EQ(rows_pending(rw), 0);
    rows_free(rw);
    free(g.row);
}

static void rows_lag_features(void)
{
    static const char *const feats[] = {"temp", "temp@-1", "occ@-1", "occ@-2"};
    struct got g = {0};
    struct rows *rw = nowcast(&g, feats, 4, 100000);

    add(rw, 0, 1, 1000, 20.0);
    add(rw, 0, 0, 1000, 0.0);
    ASSERT(g.row[0].present[0] && g.row[0].x[0] == 20.0);
    ASSERT(!g.row[0].present[1] && !g.row[0].present[2] &&
           !g.row[0].present[3]);
    add(rw, 0, 1, 2000, 21.0);
    add(rw, 0, 0, 2000, 1.0);
    ASSERT(g.row[1].x[0] == 21.0 && g.row[1].x[1] == 20.0);
    ASSERT(g.row[1].present[2] && g.row[1].x[2] == 0.0); /* previous label */
    ASSERT(!g.row[1].present[3]);
    /* A late temp lands in time order: lag 1 is now 20.5, not 20. */
    add(rw, 0, 1, 1500, 20.5);
    add(rw, 0, 0, 3000, 1.0);
    ASSERT(g.row[2].x[0] == 21.0 && g.row[2].x[1] == 20.5);
    ASSERT(g.row[2].x[2] == 1.0 && g.row[2].x[3] == 0.0);
    /* A temp older than the two held is not stored. */
    add(rw, 0, 1, 100, 5.0);
    add(rw, 0, 0, 4000, 0.0);
    ASSERT(g.row[3].x[0] == 21.0 && g.row[3].x[1] == 20.5);
    /* A late label: its lags count back from where it lands (between
     * 3000 and 4000), so occ@-1 is the label at 3000 ... */
    add(rw, 0, 0, 3500, 0.0);
    ASSERT_EQ(g.n, 5);
    ASSERT(g.row[4].present[2] && g.row[4].x[2] == 1.0);
    /* ... and occ@-2 (at 2000) fell out of the three held: missing, not
     * a wrong value. */
    ASSERT(!g.row[4].present[3]);
    /* Later than that, all three lags of a late label are gone. */
    add(rw, 0, 0, 2100, 0.0);
    ASSERT(!g.row[5].present[2] && !g.row[5].present[3]);
    rows_free(rw);
    free(g.row);
}

/* ---- Forecasting ------------------------------------------------------- */

static struct rows *forecast(struct got *g, size_t per_dev, size_t total)
{
    struct rows_config c = rows_config_default(4);
    struct rows_spec f[3];
    struct rows *rw;

    c.target = spec("co2@+10s", 3);
    f[0] = spec("co2", 3);
    f[1] = spec("temp", 1);
    f[2] = spec("co2@-1", 3);
    c.features = f;
    c.nfeatures = 3;
    c.max_age_ms = 60000;
    c.label_max_delay_ms = 5000;
    c.pending_per_device = per_dev;
    c.pending_total = total;
    c.emit = capture;
    c.ctx = g;
    ASSERT_EQ(rows_new(&rw, &c), 0);
    return rw;
}

static void rows_forecast_delayed_labels(void)
{
    struct got g = {0};
    struct rows *rw = forecast(&g, 16, 64);
    struct rows_stats st;

    add(rw, 0, 3, 0, 400.0); /* anchor A0 */
    add(rw, 0, 1, 1000, 20.0);
    add(rw, 0, 3, 5000, 410.0); /* anchor A1 */
    ASSERT_EQ(g.n, 0);
    ASSERT_EQ(rows_pending(rw), 2);
    add(rw, 0, 3, 10000, 420.0); /* labels A0 (0 + 10 s), anchors A2 */
    ASSERT_EQ(g.n, 1);
    ASSERT_EQ(g.row[0].r.ts_ms, 0);
    ASSERT_EQ(g.row[0].r.y_ts_ms, 10000);
    ASSERT(g.row[0].r.y == 420.0 && g.row[0].r.seq == 3);
    ASSERT(g.row[0].present[0] && g.row[0].x[0] == 400.0); /* co2 at t */
    ASSERT(!g.row[0].present[1]); /* no temp yet at t = 0 */
    ASSERT(!g.row[0].present[2]);
    add(rw, 0, 3, 16000, 430.0); /* labels A1 (15 s), anchors A3 */
    ASSERT_EQ(g.n, 2);
    ASSERT(g.row[1].r.ts_ms == 5000 && g.row[1].r.y == 430.0);
    ASSERT(g.row[1].x[0] == 410.0 && g.row[1].x[1] == 20.0 &&
           g.row[1].x[2] == 400.0);
    /* Silence, then a value long after A2's (20 s) and A3's (26 s)
     * horizons plus the 5 s grace: both expire, none is mislabelled. */
    add(rw, 0, 3, 40000, 500.0); /* anchors A4 */
    ASSERT_EQ(g.n, 2);
    rows_stats(rw, &st);
    ASSERT_EQ(st.pending_expired, 2);
    ASSERT_EQ(rows_pending(rw), 1);
    /* A timer expires A4 once its deadline (55 s) has passed. */
    ASSERT_EQ(rows_expire(rw, 55000), 0);
    ASSERT_EQ(rows_expire(rw, 55001), 1);
    ASSERT_EQ(rows_pending(rw), 0);
    rows_stats(rw, &st);
    ASSERT_EQ(st.pending_expired, 3);
    ASSERT_EQ(st.rows, 2);
    rows_free(rw);
    free(g.row);
}

static void rows_forecast_buffer_overflow(void)
{
    struct got g = {0};
    struct rows *rw = forecast(&g, 3, 64);
    struct rows_stats st;

    for (int t = 0; t <= 4; t++) /* five anchors, room for three */
        add(rw, 0, 3, t * 1000, 400.0 + t);
    rows_stats(rw, &st);
    ASSERT_EQ(st.pending_overflow, 2);
    ASSERT_EQ(rows_pending(rw), 3);
    add(rw, 0, 3, 10000, 500.0); /* labels t = 0, anchors 10 s */
    add(rw, 0, 3, 12000, 512.0); /* labels t = 1 s and 2 s, anchors */
    ASSERT_EQ(g.n, 3);
    ASSERT(g.row[0].r.ts_ms == 0 && g.row[0].r.y == 500.0);
    ASSERT(g.row[1].r.ts_ms == 1000 && g.row[1].r.y == 512.0);
    ASSERT(g.row[2].r.ts_ms == 2000 && g.row[2].r.y == 512.0);
    /* The refused anchors (3 s, 4 s) never come out. */
    add(rw, 0, 3, 22000, 600.0);
    ASSERT_EQ(g.n, 3 + 2); /* the 10 s and 12 s anchors */
    ASSERT(g.row[3].r.ts_ms == 10000 && g.row[4].r.ts_ms == 12000);
    rows_free(rw);
    free(g.row);
    /* The shared pool: two slots for all devices. */
    memset(&g, 0, sizeof(g));
    rw = forecast(&g, 3, 2);
    add(rw, 0, 3, 0, 1.0);
    add(rw, 1, 3, 0, 1.0);
    add(rw, 2, 3, 0, 1.0); /* pool empty */
    rows_stats(rw, &st);
    ASSERT_EQ(st.pending_overflow, 1);
    add(rw, 0, 3, 10000, 2.0); /* frees a slot, takes it again */
    add(rw, 2, 3, 1000, 1.0);  /* still full */
    rows_stats(rw, &st);
    ASSERT_EQ(st.pending_overflow, 2);
    ASSERT_EQ(g.n, 1);
    rows_free(rw);
    free(g.row);
}

/* ---- Differential ------------------------------------------------------ */

/* The reference keeps every reading of every (device, sensor), sorted by
 * time (ties: later arrival is newer), and answers "k-th newest" by index.
 * Target timestamps increase per device, the case where "first target at
 * or after t + h" and "lags of the target" need no tie-breaking rules. */
#define RD 4 /* devices */
#define RS 5 /* sensors: 0 target, 1..3 features, 4 unnamed */

struct ref_list {
    size_t n;   /* Readings. */
    size_t cap; /* Room. */
    struct rows_cell_ref {
        int64_t ts; /* Timestamp. */
        double v;   /* Value. */
    } * e;          /* Oldest first. */
};

struct ref_feat {
    uint32_t s; /* Sensor. */
    uint32_t k; /* Lag. */
};

struct ref_anchor {
    int64_t t;          /* Anchor time. */
    uint64_t seq;       /* Anchor seq. */
    double x[MAXF];     /* Snapshot. */
    bool present[MAXF]; /* Snapshot. */
};

struct ref {
    struct ref_list l[RD][RS]; /* Every reading. */
    const struct ref_feat *f;  /* Features. */
    size_t nf;                 /* Their number. */
    int64_t h;                 /* Horizon; 0: nowcast. */
    int64_t max_age;           /* As configured. */
    int64_t delay;             /* label_max_delay_ms. */
    struct ref_anchor *q[RD];  /* Pending anchors (forecast). */
    size_t qn[RD];             /* Their number. */
    size_t qhead[RD];          /* First unresolved. */
    struct got out;            /* Rows, as struct got. */
};

static void ref_insert(struct ref_list *l, int64_t ts, double v)
{
    size_t p = l->n;

    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        ASSERT((l->e = realloc(l->e, l->cap * sizeof(*l->e))) != NULL);
    }
    while (p > 0 && l->e[p - 1].ts > ts)
        p--;
    memmove(&l->e[p + 1], &l->e[p], (l->n - p) * sizeof(*l->e));
    l->e[p].ts = ts;
    l->e[p].v = v;
    l->n++;
}

static void ref_snapshot(struct ref *R, uint32_t d, int64_t t, double *x,
                         bool *present)
{
    for (size_t i = 0; i < R->nf; i++) {
        const struct ref_list *l = &R->l[d][R->f[i].s];
        size_t k = R->f[i].k;

        present[i] = k < l->n && (l->e[l->n - 1 - k].ts >= t ||
                                  t - l->e[l->n - 1 - k].ts <= R->max_age);
        x[i] = present[i] ? l->e[l->n - 1 - k].v : NAN;
    }
}

static void ref_emit(struct ref *R, uint32_t d, int64_t t, uint64_t seq,
                     int64_t yts, double y, const double *x,
                     const bool *present)
{
    struct rows_row row;

    memset(&row, 0, sizeof(row));
    row.device_id = d;
    row.has_seq = true;
    row.seq = seq;
    row.lsn = (uint64_t)t + 7;
    row.ts_ms = t;
    row.y_ts_ms = yts;
    row.y = y;
    row.n = R->nf;
    row.x = x;
    row.present = present;
    capture(&R->out, &row);
}

static void ref_add(struct ref *R, const struct reading *r)
{
    uint32_t d = r->device_id;
    double x[MAXF];
    bool present[MAXF];

    if (r->sensor_id == 0 && R->h > 0) { /* resolve, oldest first */
        while (R->qhead[d] < R->qn[d] &&
               R->q[d][R->qhead[d]].t + R->h <= r->ts_ms) {
            struct ref_anchor *a = &R->q[d][R->qhead[d]++];
            if (r->ts_ms <= a->t + R->h + R->delay)
                ref_emit(R, d, a->t, a->seq, r->ts_ms, r->value, a->x,
                         a->present);
        }
    }
    ref_insert(&R->l[d][r->sensor_id], r->ts_ms, r->value);
    if (r->sensor_id != 0)
        return;
    ref_snapshot(R, d, r->ts_ms, x, present);
    if (R->h == 0) {
        ref_emit(R, d, r->ts_ms, r->seq, r->ts_ms, r->value, x, present);
        return;
    }
    ASSERT(R->qn[d] < DIFF_READINGS);
    R->q[d][R->qn[d]].t = r->ts_ms;
    R->q[d][R->qn[d]].seq = r->seq;
    memcpy(R->q[d][R->qn[d]].x, x, sizeof(x));
    memcpy(R->q[d][R->qn[d]++].present, present, sizeof(present));
}

static bool same_row(const struct got_row *a, const struct got_row *b)
{
    if (a->r.device_id != b->r.device_id || a->r.has_seq != b->r.has_seq ||
        a->r.seq != b->r.seq || a->r.lsn != b->r.lsn ||
        a->r.ts_ms != b->r.ts_ms || a->r.y_ts_ms != b->r.y_ts_ms ||
        a->r.y != b->r.y || a->r.n != b->r.n)
        return false;
    for (size_t i = 0; i < a->r.n; i++)
        if (a->present[i] != b->present[i] ||
            (a->present[i] && a->x[i] != b->x[i]))
            return false;
    return true;
}

static void run_differential(const char *target, const char *const *feats,
                             const struct ref_feat *rf, size_t nf)
{
    struct got g = {0};
    struct ref *R = calloc(1, sizeof(*R));
    struct rows_config c = rows_config_default(RD);
    struct rows_spec f[MAXF];
    struct rows *rw;
    uint64_t rng = test_seed();
    int64_t clock[RD] = {0};
    struct rows_stats st;

    ASSERT(R != NULL);
    for (size_t i = 0; i < nf; i++)
        f[i] = spec(feats[i], rf[i].s);
    c.target = spec(target, 0);
    c.features = f;
    c.nfeatures = nf;
    c.max_age_ms = 4000;
    c.label_max_delay_ms = 3000;
    c.pending_per_device = DIFF_READINGS;
    c.pending_total = DIFF_READINGS;
    c.emit = capture;
    c.ctx = &g;
    ASSERT_EQ(rows_new(&rw, &c), 0);
    R->f = rf, R->nf = nf, R->h = c.target.horizon_ms;
    R->max_age = c.max_age_ms, R->delay = c.label_max_delay_ms;
    for (int d = 0; d < RD; d++)
        ASSERT((R->q[d] = calloc(DIFF_READINGS / RD + 1, sizeof(*R->q[d]))) !=
               NULL);
    for (size_t i = 0; i < DIFF_READINGS / RD * RD / 2; i++) {
        uint64_t v = test_rand(&rng);
        uint32_t d = (uint32_t)(v % RD);
        uint32_t s = (uint32_t)(v >> 8) % RS;
        struct reading r;

        clock[d] += (int64_t)((v >> 16) % 1500);
        if (s == 0) { /* targets: non-decreasing time per device */
            r = rd(d, 0, clock[d], (double)(v >> 40 & 0xff));
        } else { /* features: often late, sometimes by a lot */
            int64_t late = (int64_t)((v >> 24) % 6000);
            r = rd(d, s, clock[d] - late, (double)(v >> 40 & 0xff));
        }
        rows_add(rw, &r);
        if (s < RS - 1)
            ref_add(R, &r);
    }
    ASSERT_EQ(g.n, R->out.n);
    for (size_t i = 0; i < g.n; i++)
        ASSERT(same_row(&g.row[i], &R->out.row[i]));
    rows_stats(rw, &st);
    ASSERT(st.rows > 1000 && st.features_missing > 0);
    if (R->h > 0)
        ASSERT(st.pending_expired > 0);
    for (int d = 0; d < RD; d++) {
        for (int s = 0; s < RS; s++)
            free(R->l[d][s].e);
        free(R->q[d]);
    }
    free(R->out.row);
    free(R);
    free(g.row);
    rows_free(rw);
}

static void rows_nowcast_matches_reference(void)
{
    static const char *const feats[] = {"s1", "s1@-1",  "s2@-2",
                                        "s3", "occ@-1", "occ@-3"};
    static const struct ref_feat rf[] = {{1, 0}, {1, 1}, {2, 2},
                                         {3, 0}, {0, 1}, {0, 3}};

    run_differential("occ", feats, rf, 6);
}

static void rows_forecast_matches_reference(void)
{
    static const char *const feats[] = {"occ", "s1", "s2@-1", "occ@-2"};
    static const struct ref_feat rf[] = {{0, 0}, {1, 0}, {2, 1}, {0, 2}};

    run_differential("occ@+5s", feats, rf, 4);
}

/* ---- Checkpoints ------------------------------------------------------- */

#ifdef SLOW_BUILD
#define RESUME_READINGS 6000u
#else
#define RESUME_READINGS 40000u
#endif

/* A config of the forecast shape used below: target occ (sensor 0) at
 * +5 s, features occ, s1, s2@-1, occ@-2 (columns occ depth 3, s1 depth 1,
 * s2 depth 2). */
static struct rows *resume_rows(struct got *g, const char *target,
                                const char *const *feats, size_t nf,
                                size_t max_devices, size_t per_device)
{
    static const uint32_t ids[] = {0, 1, 2, 3};
    struct rows_config c = rows_config_default(max_devices);
    struct rows_spec f[MAXF];
    struct rows *rw;

    for (size_t i = 0; i < nf; i++) {
        struct rows_spec t;
        ASSERT_EQ(rows_spec_parse(feats[i], &t), 0);
        f[i] = spec(feats[i], t.name[0] == 'o' ? 0 : ids[t.name[1] - '0']);
    }
    c.target = spec(target, 0);
    c.features = f;
    c.nfeatures = nf;
    c.max_age_ms = 4000;
    c.label_max_delay_ms = 3000;
    c.pending_per_device = per_device;
    c.pending_total = 4 * per_device;
    c.emit = capture;
    c.ctx = g;
    ASSERT_EQ(rows_new(&rw, &c), 0);
    return rw;
}

/* rows_save() into a new buffer (malloc'd), *len its size. */
static uint8_t *save(const struct rows *rw, size_t *len)
{
    size_t need = rows_save(rw, NULL, 0);
    uint8_t *buf = malloc(need);

    ASSERT(buf != NULL);
    ASSERT_EQ(rows_save(rw, buf, need), need);
    *len = need;
    return buf;
}

static bool same_bits_row(const struct got_row *a, const struct got_row *b)
{
    if (memcmp(&a->r.y, &b->r.y, sizeof(double)) != 0 || !same_row(a, b))
        return false;
    for (size_t i = 0; i < a->r.n; i++)
        if (memcmp(&a->x[i], &b->x[i], sizeof(double)) != 0)
            return false;
    return true;
}

/* One stream, fed to an uninterrupted rows and to one that is saved and
 * restored into a fresh rows every `every` readings: the same rows, bit
 * for bit, the same counters, and at the end the same image. rows_expire()
 * runs now and then on both, with late features, -0.0 values and a few
 * readings of a device outside max_devices thrown in. */
static void run_resume(const char *target, const char *const *feats, size_t nf,
                       size_t every)
{
    struct got ga = {0}, gb = {0};
    struct rows *a = resume_rows(&ga, target, feats, nf, RD, 64);
    struct rows *b = resume_rows(&gb, target, feats, nf, RD, 64);
    uint64_t rng = test_seed() ^ 0x5eed;
    int64_t clock[RD] = {0};
    struct rows_stats sa, sb;
    uint8_t *ia, *ib;
    size_t la, lb, restores = 0;

    for (size_t i = 0; i < RESUME_READINGS; i++) {
        uint64_t v = test_rand(&rng);
        uint32_t d = (uint32_t)(v % (RD + 1)); /* RD: a bad device id */
        uint32_t s = (uint32_t)(v >> 8) % RS;
        int64_t late = s == 0 ? 0 : (int64_t)((v >> 24) % 6000);
        struct reading r;

        clock[d % RD] += (int64_t)((v >> 16) % 1500);
        r = rd(d, s, clock[d % RD] - late, (double)(v >> 40 & 0xff) / 7);
        if ((v >> 50) % 97 == 0)
            r.value = -0.0; /* sign bits survive too */
        if ((v >> 57) % 5 == 0)
            r.flags &= (uint16_t)~READING_HAS_SEQ;
        rows_add(a, &r);
        rows_add(b, &r);
        if (i % 997 == 996) {
            ASSERT_EQ(rows_expire(a, clock[0]), rows_expire(b, clock[0]));
        }
        if (i % every == every - 1) {
            struct rows *c = resume_rows(&gb, target, feats, nf, RD, 64);
            uint8_t *img = save(b, &lb);
            ASSERT_EQ(rows_restore(c, img, lb), 0);
            ASSERT_EQ(rows_pending(c), rows_pending(b));
            rows_free(b);
            free(img);
            b = c;
            restores++;
        }
    }
    ASSERT(restores >= 3);
    fprintf(stderr, "%zu rows, %zu restores\n", ga.n, restores);
    ASSERT(ga.n > RESUME_READINGS / 50);
    ASSERT_EQ(ga.n, gb.n);
    for (size_t i = 0; i < ga.n; i++)
        ASSERT(same_bits_row(&ga.row[i], &gb.row[i]));
    rows_stats(a, &sa);
    rows_stats(b, &sb);
    ASSERT(memcmp(&sa, &sb, sizeof(sa)) == 0);
    ASSERT(sa.bad_device > 0 && sa.features_missing > 0);
    ia = save(a, &la);
    ib = save(b, &lb);
    ASSERT_EQ(la, lb);
    ASSERT(memcmp(ia, ib, la) == 0);
    free(ia);
    free(ib);
    rows_free(a);
    rows_free(b);
    free(ga.row);
    free(gb.row);
}

static void rows_resume_forecast_exactly(void)
{
    static const char *const feats[] = {"occ", "s1", "s2@-1", "occ@-2"};

    run_resume("occ@+5s", feats, 4, 1499);
}

static void rows_resume_nowcast_exactly(void)
{
    static const char *const feats[] = {"s1", "s1@-1",  "s2@-2",
                                        "s3", "occ@-1", "occ@-3"};

    run_resume("occ", feats, 6, 1201);
}

/* A small hand-made state with a known image layout (see rows.c):
 * device 0 has three targets (three pending anchors), s1 and two s2;
 * device 1 one s1. */
static struct rows *small_state(struct got *g, size_t max_devices,
                                size_t per_device)
{
    static const char *const feats[] = {"occ", "s1", "s2@-1", "occ@-2"};
    struct rows *rw =
        resume_rows(g, "occ@+5s", feats, 4, max_devices, per_device);

    add(rw, 0, 1, 500, 1.5);
    add(rw, 0, 2, 600, 2.5);
    add(rw, 0, 2, 700, -0.0);
    add(rw, 0, 0, 0, 10);
    add(rw, 0, 0, 1000, 11);
    add(rw, 0, 0, 2000, 12);
    add(rw, 1, 1, 100, 3.5);
    return rw;
}

/* Offsets in small_state()'s image. */
#define IMG_DEV0 144u                           /* u32 id of device 0 */
#define IMG_DEV0_OCC (IMG_DEV0 + 8)             /* its occ filled count */
#define IMG_DEV0_S1 (IMG_DEV0_OCC + 4 + 3 * 16) /* its s1 filled count */
#define IMG_DEV0_PEND (IMG_DEV0_S1 + 4 + 16 + 4 + 2 * 16) /* 1st pending */
#define IMG_DEV1 (IMG_DEV0_PEND + 3 * (28 + 9 * 4))       /* device 1 */

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Recompute the image's checksum after a crafted change. */
static void reseal(uint8_t *img, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (size_t i = 0; i < len - 8; i++)
        h = (h ^ img[i]) * 0x100000001b3ULL;
    for (int i = 0; i < 8; i++)
        img[len - 8 + i] = (uint8_t)(h >> (8 * i));
}

static void expect_refused(struct rows *rw, uint8_t *img, size_t len, int rc)
{
    size_t l0, l1;
    uint8_t *before = save(rw, &l0);
    uint8_t *after;

    ASSERT_EQ(rows_restore(rw, img, len), rc);
    after = save(rw, &l1);
    ASSERT_EQ(l0, l1);
    ASSERT(memcmp(before, after, l0) == 0); /* untouched */
    free(before);
    free(after);
}

static void rows_restore_refuses_bad_images(void)
{
    struct got g = {0}, h = {0};
    struct rows *src = small_state(&g, 4, 64);
    struct rows *dst = resume_rows(
        &h, "occ@+5s", (const char *const[]){"occ", "s1"}, 2, 4, 64);
    struct rows *same = small_state(&h, 4, 64);
    size_t len;
    uint8_t *img = save(src, &len);

    ASSERT_EQ(len, IMG_DEV1 + 8 + 4 + 4 + 16 + 4 + 8);
    add(same, 2, 1, 9, 9); /* something to lose */
    /* Every cut and every flipped byte is refused; state untouched. */
    for (size_t n = 0; n < len; n++)
        expect_refused(same, img, n, -EBADMSG);
    for (size_t i = 0; i < len; i++) {
        img[i] ^= 0x01;
        expect_refused(same, img, len,
                       i >= 4 && i < 8 ? -EPROTONOSUPPORT : -EBADMSG);
        img[i] ^= 0x01;
    }
    ASSERT_EQ(rows_restore(same, NULL, 0), -EBADMSG);
    /* Another layout: different features. */
    expect_refused(dst, img, len, -EINVAL);
    /* Checksum-valid but wrong: unordered cells, overfull column, a flag
     * of 2, a repeated device id, a device beyond max_devices. */
    {
        static const struct {
            size_t at;
            uint32_t v;
            int rc;
        } bad[] = {
            {IMG_DEV0_OCC + 4 + 8, 500, -EBADMSG},  /* occ[0].ts < occ[1] */
            {IMG_DEV0_S1, 2, -EBADMSG},             /* s1 depth is 1 */
            {IMG_DEV0_PEND + 24, 2, -EBADMSG},      /* has_seq = 2 */
            {IMG_DEV0_PEND + 28 + 32, 2, -EBADMSG}, /* present = 2 */
            {IMG_DEV1, 0, -EBADMSG},                /* id 0 twice */
            {IMG_DEV0, 4, -ENOSPC},                 /* id 4 of 0..3 */
            {IMG_DEV0 + 4, 4, -EBADMSG},            /* 4 pending, 3 stored */
        };
        for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
            uint8_t *c = malloc(len);
            ASSERT(c != NULL);
            memcpy(c, img, len);
            put32(c + bad[k].at, bad[k].v);
            reseal(c, len);
            fprintf(stderr, "crafted case %zu\n", k);
            expect_refused(same, c, len, bad[k].rc);
            free(c);
        }
    }
    /* A smaller table: device ids beyond it are refused. */
    rows_free(dst);
    dst = small_state(&h, 1, 64);
    expect_refused(dst, img, len, -ENOSPC);
    /* The image itself restores, over whatever was there. */
    ASSERT_EQ(rows_restore(same, img, len), 0);
    {
        size_t l2;
        uint8_t *again = save(same, &l2);
        ASSERT_EQ(l2, len);
        ASSERT(memcmp(again, img, len) == 0);
        free(again);
    }
    free(img);
    rows_free(src);
    rows_free(dst);
    rows_free(same);
    free(g.row);
    free(h.row);
}

/* Smaller pending buffers: the oldest anchors of a device are kept and
 * the rest counted as overflow; the kept ones are labelled as before. */
static void rows_restore_into_smaller_buffers(void)
{
    struct got g = {0}, h = {0};
    struct rows *src = small_state(&g, 4, 64);
    struct rows *dst = small_state(&h, 4, 2);
    struct rows_stats st;
    size_t len;
    uint8_t *img = save(src, &len);

    ASSERT_EQ(rows_pending(src), 3);
    ASSERT_EQ(rows_restore(dst, img, len), 0);
    ASSERT_EQ(rows_pending(dst), 2);
    rows_stats(dst, &st);
    ASSERT_EQ(st.pending_overflow, 1);
    add(dst, 0, 0, 7000, 42); /* labels the anchors at 0 and 1000 */
    ASSERT_EQ(h.n, 2);
    ASSERT(h.row[0].r.ts_ms == 0 && h.row[1].r.ts_ms == 1000);
    ASSERT(h.row[0].r.y == 42 && h.row[1].r.y_ts_ms == 7000);
    /* Features were taken at anchor time, before the restore. */
    ASSERT(h.row[1].present[0] && h.row[1].x[0] == 11);
    ASSERT(h.row[1].present[1] && h.row[1].x[1] == 1.5);
    ASSERT(h.row[1].present[2] && h.row[1].x[2] == 2.5);  /* s2@-1 */
    ASSERT(!h.row[1].present[3] && isnan(h.row[1].x[3])); /* occ@-2 */
    free(img);
    rows_free(src);
    rows_free(dst);
    free(g.row);
    free(h.row);
}

static const struct test tests[] = {
    {"rows_resume_forecast_exactly", rows_resume_forecast_exactly},
    {"rows_resume_nowcast_exactly", rows_resume_nowcast_exactly},
    {"rows_restore_refuses_bad_images", rows_restore_refuses_bad_images},
    {"rows_restore_into_smaller_buffers", rows_restore_into_smaller_buffers},
    {"rows_spec_parses_and_formats", rows_spec_parses_and_formats},
    {"rows_duration_parser", rows_duration_parser},
    {"rows_rejects_bad_config", rows_rejects_bad_config},
    {"rows_nowcast_missing_and_aged_features",
     rows_nowcast_missing_and_aged_features},
    {"rows_lag_features", rows_lag_features},
    {"rows_forecast_delayed_labels", rows_forecast_delayed_labels},
    {"rows_forecast_buffer_overflow", rows_forecast_buffer_overflow},
    {"rows_nowcast_matches_reference", rows_nowcast_matches_reference},
    {"rows_forecast_matches_reference", rows_forecast_matches_reference},
    {NULL, NULL}};

int main(int argc, char **argv)
{
    return test_main(argc, argv, tests);
}
