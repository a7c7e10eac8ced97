/* test_rows.c -- row assembly: spec parsing and formatting, nowcast rows
 * with missing and aged features, lag features (also of the target, and
 * with late arrivals), forecasting targets with delayed labels, label
 * expiry, buffer overflow per device and for the pool, and a seeded
 * differential run against a reference that keeps every reading.
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

static const struct test tests[] = {
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
