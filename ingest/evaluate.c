/* evaluate.c -- CSV files -> readings -> stream/rows.h -> learner.
 *
 * The CSV reader names the values of a row (sensors, then labels); each
 * value name gets a dense sensor id (its position), each device name a
 * dense device id (first come, first numbered, as stream/intern.h would),
 * and the readings of a row are given to rows_add() in row order, the
 * target's last. Rows come back through the emit callback and go straight
 * to learner_update(). The cost per CSV row is the parse (dominant: a few
 * hundred ns per field) plus rows_add per value plus one learner update,
 * so this path measures accuracy, not the learner's speed (bench_learn
 * measures that on rows in memory).
 *
 * Threads: the calling thread only. */
#include "ingest/evaluate.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ingest/csvsrc.h"
#include "stream/reading.h"
#include "stream/rows.h"

struct run {
    struct learner *l;                        /* Fed by on_row. */
    struct evaluate_result *res;              /* Counts. */
    size_t nv;                                /* Values per CSV row. */
    char (*vname)[CSVSRC_NAME_MAX + 1];       /* [nv] their names. */
    uint32_t target_id;                       /* Value index of the target. */
    size_t ndev;                              /* Devices named so far. */
    char (*dev)[CSVSRC_NAME_MAX + 1];         /* [EVALUATE_MAX_DEVICES]. */
    struct rows_spec target;                  /* Parsed target. */
    struct rows_spec *feat;                   /* [n_feat] parsed features. */
    size_t n_feat;                            /* Features. */
    char (*fname)[ROWS_SPEC_MAX];             /* [n_feat] canonical names. */
    const char **fptr;                        /* [n_feat] pointers to them. */
    const char *classes[LEARNER_MAX_CLASSES]; /* Target class strings. */
    int64_t last_ts; /* Time of the last CSV row fed. */
};

static double now_s(clockid_t clk)
{
    struct timespec t;

    clock_gettime(clk, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Called on: the calling thread, inside rows_add(). */
static void on_row(void *ctx, const struct rows_row *row)
{
    struct run *r = ctx;
    /* bool and uint8_t are both one byte holding 0 or 1; a character type
     * may alias anything. */
    struct learner_row lr = {row->device_id, row->seq,
                             row->ts_ms,     row->y,
                             row->x,         (const uint8_t *)row->present};

    r->res->rows++;
    if (learner_update(r->l, &lr, NULL) < 0)
        r->res->rows_bad++;
}

static long value_index(const struct run *r, const char *name)
{
    for (size_t i = 0; i < r->nv; i++)
        if (strcmp(r->vname[i], name) == 0)
            return (long)i;
    return -1;
}

/* Parse a spec and resolve its column to a sensor id. */
static int parse_spec(const struct run *r, const char *text,
                      struct rows_spec *out, char *err, size_t errlen)
{
    long id;

    if (rows_spec_parse(text, out) < 0) {
        snprintf(err, errlen, "bad row spec \"%s\"", text);
        return -EINVAL;
    }
    if ((id = value_index(r, out->name)) < 0) {
        snprintf(err, errlen, "no column \"%s\" in the data", out->name);
        return -EINVAL;
    }
    out->sensor_id = (uint32_t)id;
    return 0;
}

static int alloc_run(struct run *r, size_t nv, size_t n_feat)
{
    r->vname = calloc(nv + 1, sizeof(*r->vname));
    r->dev = calloc(EVALUATE_MAX_DEVICES, sizeof(*r->dev));
    r->feat = calloc(n_feat + 1, sizeof(*r->feat));
    r->fname = calloc(n_feat + 1, sizeof(*r->fname));
    r->fptr = calloc(n_feat + 1, sizeof(*r->fptr));
    if (r->vname == NULL || r->dev == NULL || r->feat == NULL ||
        r->fname == NULL || r->fptr == NULL)
        return -ENOMEM;
    return 0;
}

static void free_run(struct run *r)
{
    free(r->vname);
    free(r->dev);
    free(r->feat);
    free(r->fname);
    free(r->fptr);
}

/* Names of the values (from the first row: csvsrc gives every row the
 * same), the target, and the features: the spec's, or every value that is
 * neither a label nor the target. */
static int setup_columns(struct run *r, const struct evaluate_spec *sp,
                         const struct csvsrc_row *row, char *err, size_t errlen)
{
    size_t nf = sp->features != NULL ? sp->n_features : row->n;
    int rc;

    r->nv = row->n;
    if ((rc = alloc_run(r, r->nv, nf)) < 0)
        return rc;
    for (size_t i = 0; i < r->nv; i++)
        snprintf(r->vname[i], sizeof(r->vname[i]), "%s", row->v[i].name);
    if ((rc = parse_spec(r, sp->target, &r->target, err, errlen)) < 0)
        return rc;
    r->target_id = r->target.sensor_id;
    for (size_t i = 0; sp->features != NULL && i < nf; i++)
        if ((rc = parse_spec(r, sp->features[i], &r->feat[r->n_feat++], err,
                             errlen)) < 0)
            return rc;
    for (size_t i = 0; sp->features == NULL && i < r->nv; i++) {
        if (row->v[i].is_label || i == r->target_id)
            continue;
        if ((rc = parse_spec(r, r->vname[i], &r->feat[r->n_feat++], err,
                             errlen)) < 0)
            return rc;
    }
    if (r->n_feat == 0) {
        snprintf(err, errlen, "no feature columns");
        return -EINVAL;
    }
    for (size_t i = 0; i < r->n_feat; i++) {
        rows_spec_format(&r->feat[i], r->fname[i], sizeof(r->fname[i]));
        r->fptr[i] = r->fname[i];
    }
    return 0;
}

/* Later files must carry the same values in the same order. */
static int same_columns(const struct run *r, const struct csvsrc_row *row,
                        const char *path, char *err, size_t errlen)
{
    bool same = row->n == r->nv;

    for (size_t i = 0; same && i < r->nv; i++)
        same = strcmp(row->v[i].name, r->vname[i]) == 0;
    if (!same)
        snprintf(err, errlen, "%s: columns differ from the first file", path);
    return same ? 0 : -EINVAL;
}

static long device_id(struct run *r, const char *name)
{
    for (size_t i = 0; i < r->ndev; i++)
        if (strcmp(r->dev[i], name) == 0)
            return (long)i;
    if (r->ndev == EVALUATE_MAX_DEVICES)
        return -1;
    snprintf(r->dev[r->ndev], sizeof(r->dev[0]), "%s", name);
    return (long)r->ndev++;
}

/* One CSV row as readings: every present value, the target's last. */
static int feed_row(struct run *r, struct rows *rw,
                    const struct csvsrc_row *row, uint64_t seq, char *err,
                    size_t errlen)
{
    long dev = device_id(r, row->device);
    struct reading rd;

    if (dev < 0) {
        snprintf(err, errlen, "more than %d devices", EVALUATE_MAX_DEVICES);
        return -EINVAL;
    }
    memset(&rd, 0, sizeof(rd));
    rd.seq = seq;
    rd.ts_ms = row->ts_ms;
    rd.device_id = (uint32_t)dev;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < row->n; i++) {
            if ((i == r->target_id) != (pass == 1) || !row->v[i].present)
                continue;
            rd.sensor_id = (uint32_t)i;
            rd.value = row->v[i].value;
            rd.flags = READING_HAS_SEQ | READING_HAS_TS |
                       (row->v[i].is_label ? READING_LABEL : 0);
            rows_add(rw, &rd);
        }
    }
    r->res->csv_rows++;
    r->last_ts = row->ts_ms;
    return 0;
}

static int make_learner(struct run *r, const struct learner_config *cfg,
                        const struct csvsrc *s)
{
    struct learner_config c = *cfg;
    size_t k = cfg->kind == LEARNER_REGRESSION ? 0 : cfg->n_classes;
    bool all = k > 0;

    c.n_features = r->n_feat;
    c.feature_names = r->fptr;
    for (size_t i = 0; i < k && i < LEARNER_MAX_CLASSES; i++)
        if ((r->classes[i] = csvsrc_class_name(s, r->target_id, (double)i)) ==
            NULL)
            all = false;
    if (c.class_labels == NULL && all && k <= LEARNER_MAX_CLASSES)
        c.class_labels = r->classes;
    return learner_new(&r->l, &c);
}

static int make_rows(struct run *r, const struct evaluate_spec *sp,
                     struct rows **rw)
{
    struct rows_config rc = rows_config_default(EVALUATE_MAX_DEVICES);

    rc.target = r->target;
    rc.features = r->feat;
    rc.nfeatures = r->n_feat;
    if (sp->max_age_ms > 0)
        rc.max_age_ms = sp->max_age_ms;
    rc.emit = on_row;
    rc.ctx = r;
    return rows_new(rw, &rc);
}

/* The rest of one open file, then its bad-row count. */
static int drain(struct run *r, struct rows *rw, struct csvsrc *s,
                 uint64_t *seq, char *err, size_t errlen)
{
    struct csvsrc_row row;
    struct csvsrc_stats st;
    int rc;

    while ((rc = csvsrc_next(s, &row)) == 1)
        if ((rc = feed_row(r, rw, &row, (*seq)++, err, errlen)) < 0)
            return rc;
    if (rc < 0) {
        snprintf(err, errlen, "%s", csvsrc_error(s));
        return rc;
    }
    csvsrc_stats(s, &st);
    for (int i = 0; i < CSVSRC_BAD__COUNT; i++)
        r->res->csv_bad += st.bad[i];
    return 0;
}

/* Open path and read its first row into *row. */
static int open_first(const char *path, const struct csvsrc_map *map,
                      struct csvsrc **s, struct csvsrc_row *row, char *err,
                      size_t errlen)
{
    int rc;

    if ((rc = csvsrc_open(s, path, map, err, errlen)) < 0)
        return rc;
    if ((rc = csvsrc_next(*s, row)) == 1)
        return 0;
    snprintf(err, errlen, "%s: %s", path,
             rc == 0 ? "no data rows" : csvsrc_error(*s));
    return rc == 0 ? -ENODATA : rc;
}

static int run_files(struct run *r, const struct evaluate_spec *sp,
                     const struct learner_config *cfg,
                     const struct csvsrc_map *map0, char *err, size_t errlen)
{
    struct csvsrc *s = NULL;
    struct rows *rw = NULL;
    struct csvsrc_row row;
    struct csvsrc_map map = *map0;
    bool by_index = strcmp(map.ts_col, "none") == 0;
    uint64_t seq = 0;
    int rc = 0;

    for (size_t f = 0; f < sp->n_paths && rc == 0; f++) {
        /* Row-index time goes on across files, as one stream's would. */
        if (by_index && f > 0)
            map.ts_start_ms = r->last_ts + map.ts_step_ms;
        if ((rc = open_first(sp->paths[f], &map, &s, &row, err, errlen)) < 0)
            break;
        if (f == 0 && ((rc = setup_columns(r, sp, &row, err, errlen)) < 0 ||
                       (rc = make_learner(r, cfg, s)) < 0 ||
                       (rc = make_rows(r, sp, &rw)) < 0)) {
            if (err[0] == '\0')
                snprintf(err, errlen, "learner or rows: %s", strerror(-rc));
            break;
        }
        if (f > 0 &&
            (rc = same_columns(r, &row, sp->paths[f], err, errlen)) < 0)
            break;
        if ((rc = feed_row(r, rw, &row, seq++, err, errlen)) == 0)
            rc = drain(r, rw, s, &seq, err, errlen);
        csvsrc_free(s);
        s = NULL;
    }
    csvsrc_free(s);
    rows_free(rw);
    return rc;
}

int evaluate_csv(const struct evaluate_spec *spec,
                 const struct learner_config *cfg, struct learner **out,
                 struct evaluate_result *res, char *err, size_t errlen)
{
    struct run r;
    struct csvsrc_map map;
    double t0 = now_s(CLOCK_MONOTONIC);
    double c0 = now_s(CLOCK_THREAD_CPUTIME_ID);
    int rc;

    memset(&r, 0, sizeof(r));
    memset(res, 0, sizeof(*res));
    err[0] = '\0';
    r.res = res;
    if (spec->n_paths < 1 || spec->n_paths > EVALUATE_MAX_FILES ||
        spec->paths == NULL || spec->target == NULL) {
        snprintf(err, errlen, "need 1..%d files and a target",
                 EVALUATE_MAX_FILES);
        return -EINVAL;
    }
    csvsrc_map_init(&map);
    if (spec->map != NULL &&
        (rc = csvsrc_map_parse(&map, spec->map, err, errlen)) < 0)
        return rc;
    rc = run_files(&r, spec, cfg, &map, err, errlen);
    res->seconds = now_s(CLOCK_MONOTONIC) - t0;
    res->cpu_seconds = now_s(CLOCK_THREAD_CPUTIME_ID) - c0;
    free_run(&r);
    if (rc < 0) {
        learner_free(r.l);
        return rc;
    }
    *out = r.l;
    return 0;
}
