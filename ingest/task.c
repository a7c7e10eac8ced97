/* task.c -- a learning task: rows -> learner (supervised) or per-series
 * anomaly detectors, and the messages they produce.
 *
 * Supervised. rows_add() calls back on_row() with each assembled row; the
 * row goes to learner_update() (prequential: predict, score, train) and
 * learner_out says what else happened: a closed window (emit its metrics
 * as JSON), a snapshot request (emit one now, or when snapshot_interval_ms
 * of receive time has passed since the last one), a drift (emit a
 * DriftEvent). task_tick() drives rows_expire() and learner_advance() with
 * the task's data clock (task.h "Time"): two int64s and a flag, moved in
 * O(1) per reading (a bit lookup says whether the task names the sensor).
 * Snapshots are encoded with proto/snapshot.h; their version comes from the
 * learner and survives checkpoints.
 *
 * Anomaly. A dense table (max_devices x sensors named) of detector
 * pointers, filled on first sight up to max_series; each detector is one
 * fixed allocation (learn/anomaly.h), so memory is bounded by
 * max_series x anomaly_state_bytes().
 *
 * Cost per reading: a sensor-column lookup (linear over the task's named
 * sensors, usually a handful), then rows_add() / anomaly_update(). Outputs
 * are rare (windows, snapshots) except predictions, which are formatted
 * with snprintf and no allocation.
 *
 * Checkpoints: the image (format 3) is the task's header (kind, name,
 * counters, snapshot pacing, data clock), then for a supervised task the
 * learner's image (learner_save()) and the row assembly's (rows_save()), for an
 * anomaly task one anomaly_save() image per detector with its cell and
 * threshold flag; a CRC-32 closes it. Every part is versioned and checked
 * by its own module. Restores are all or nothing: the rows image is
 * applied first and put back from a copy if the learner then refuses its
 * own; detector images are all checked on a scratch detector before any
 * is applied. Format 2 (before the data clock) is still read, the clock
 * starting afresh; so is format 1 (before rows could be saved) for
 * supervised tasks.
 *
 * Threads: the loop thread (or replay's thread) owns a task entirely. */
#include "ingest/task.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ingest/bytes.h"
#include "learn/anomaly.h"
#include "proto/codec.h"
#include "proto/snapshot.h"

#define TASK_MAGIC 0x4b535457u /* "WTSK" */
#define TASK_FORMAT 3u         /* + the data clock */
#define TASK_FORMAT_ROWS 2u    /* learner + rows, versioned detectors */
#define TASK_FORMAT_LEARNER 1u /* learner only; still read */

struct task {
    char name[TASK_NAME_MAX + 1]; /* Constant. */
    enum task_kind kind;          /* Constant. */
    const struct intern *devices; /* Borrowed; names only. */
    const struct intern *sensors; /* Borrowed; names only. */
    publish_fn emit;              /* Output; constant. */
    void *ctx;                    /* Passed to emit. */
    bool predictions;             /* Emit per-row outputs. */
    int64_t snap_interval_ms;     /* Snapshot pacing (receive time). */
    int64_t now_ms;               /* Receive time of the current message. */
    struct task_stats st;         /* Counters. */

    /* Data clock (supervised; task.h "Time"). */
    uint8_t *uses;         /* Bit per sensor id: the task names it. */
    uint32_t uses_ids;     /* Sensor ids below this have a bit. */
    size_t row_devices;    /* Device ids below this reach rows. */
    int64_t max_gap_ms;    /* Largest step of receive time counted. */
    int64_t horizon_ms;    /* Forecast horizon h (0: nowcast). */
    bool clock_set;        /* A reading of the task was seen. */
    int64_t clock_ms;      /* Data clock, ms since the epoch. */
    int64_t clock_recv_ms; /* Receive time the clock last followed. */

    /* Supervised. */
    struct rows *rows;       /* Row assembly; owned. */
    struct learner *learner; /* Owned. */
    size_t nfeat;            /* Features per row. */
    uint8_t *present;        /* [nfeat] scratch for learner_row. */
    bool snap_pending;       /* A snapshot was asked for. */
    bool snap_any;           /* At least one snapshot was emitted. */
    int64_t snap_last_ms;    /* Receive time of the last one. */
    uint64_t snap_version;   /* Its version. */

    /* Anomaly. */
    size_t nsensors;            /* Sensors named. */
    uint32_t *sensor_ids;       /* [nsensors] interned ids. */
    size_t max_devices;         /* Rows of the detector table. */
    size_t max_series;          /* Detectors allowed. */
    struct anomaly **det;       /* [max_devices * nsensors]; owned. */
    uint8_t *above;             /* [same] score is at/over threshold. */
    struct anomaly_config acfg; /* Detector configuration. */
    double threshold;           /* Event threshold. */
};

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static const char *const kind_names[] = {
    NULL, "regression", "binary", "multiclass", "anomaly",
};

const char *task_kind_name(enum task_kind kind)
{
    return kind >= TASK_REGRESSION && kind <= TASK_ANOMALY ? kind_names[kind]
                                                           : "unknown";
}

int task_kind_parse(const char *text, enum task_kind *out)
{
    int k;

    for (k = TASK_REGRESSION; k <= TASK_ANOMALY; k++) {
        if (strcmp(text, kind_names[k]) == 0) {
            *out = (enum task_kind)k;
            return 0;
        }
    }
    return -EINVAL;
}

/* ---- Output helpers ---------------------------------------------------- */

static void emit(struct task *t, enum publish_kind kind, const char *device,
                 const char *sensor, const void *payload, size_t len,
                 uint64_t version)
{
    struct publish_msg m;

    memset(&m, 0, sizeof(m));
    m.kind = kind;
    m.task = t->name;
    m.device = device;
    m.sensor = sensor;
    m.payload = payload;
    m.len = len;
    m.version = version;
    t->emit(t->ctx, &m);
}

/* Append " ,\"key\":value" for a finite value (JSON has no NaN). */
static void json_num(cJSON *o, const char *key, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(o, key, v);
}

static cJSON *json_metrics(const struct metrics_result *r, const char *name)
{
    cJSON *o = cJSON_CreateObject();

    if (o == NULL)
        return NULL;
    if (name != NULL)
        cJSON_AddStringToObject(o, "name", name);
    cJSON_AddNumberToObject(o, "rows", (double)r->rows);
    json_num(o, "mae", r->mae);
    json_num(o, "rmse", r->rmse);
    json_num(o, "r2", r->r2);
    json_num(o, "accuracy", r->accuracy);
    json_num(o, "log_loss", r->log_loss);
    json_num(o, "macro_f1", r->macro_f1);
    json_num(o, "kappa", r->kappa);
    json_num(o, "kappa_temporal", r->kappa_temporal);
    return o;
}

/* The JSON summary of the window that just closed. */
static char *window_json(const struct task *t)
{
    const struct learner *l = t->learner;
    struct learner_window w;
    struct metrics_result test;
    cJSON *o = NULL;
    cJSON *a;
    char *s = NULL;
    size_t i;

    if (!learner_history(l, 0, &w) || (o = cJSON_CreateObject()) == NULL)
        return NULL;
    cJSON_AddStringToObject(o, "task", t->name);
    cJSON_AddNumberToObject(o, "window_id", (double)w.id);
    cJSON_AddNumberToObject(o, "start_ms", (double)w.start_ms);
    cJSON_AddNumberToObject(o, "end_ms", (double)w.end_ms);
    cJSON_AddNumberToObject(o, "rows", (double)w.rows);
    cJSON_AddNumberToObject(o, "test_rows", (double)w.test_rows);
    cJSON_AddStringToObject(o, "champion",
                            learner_candidate_name(l, w.champion));
    cJSON_AddStringToObject(o, "next_champion",
                            learner_candidate_name(l, w.next_champion));
    cJSON_AddBoolToObject(o, "drift", w.drift);
    if ((a = cJSON_AddArrayToObject(o, "candidates")) != NULL)
        for (i = 0; i < learner_candidates(l); i++)
            cJSON_AddItemToArray(a, json_metrics(&w.candidates[i],
                                                 learner_candidate_name(l, i)));
    if ((a = cJSON_AddArrayToObject(o, "baselines")) != NULL)
        for (i = 0; i < LEARNER_BASELINES; i++)
            cJSON_AddItemToArray(
                a, json_metrics(&w.baselines[i], learner_baseline_name(l, i)));
    if (learner_metrics(l, w.next_champion, LEARNER_SCOPE_TEST, &test) == 0)
        cJSON_AddItemToObject(o, "test", json_metrics(&test, NULL));
    s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static void emit_window(struct task *t)
{
    char *s = window_json(t);

    if (s == NULL)
        return;
    emit(t, PUBLISH_METRICS, NULL, NULL, s, strlen(s), 0);
    t->st.windows++;
    free(s);
}

static void emit_drift(struct task *t, const struct learner_drift *d)
{
    struct codec_drift_event e;
    uint8_t buf[512];
    size_t n;

    e.task = t->name;
    e.ts_ms = d->ts_ms;
    e.state = (int)d->state;
    e.detector = d->detector;
    e.window_id = d->window_id;
    e.row = d->row;
    e.mean_before = d->mean_before;
    e.mean_after = d->mean_after;
    if ((n = codec_encode_drift_event(&e, buf, sizeof(buf))) == 0)
        return;
    emit(t, PUBLISH_DRIFT, NULL, NULL, buf, n, 0);
    t->st.drifts++;
}

/* %.17g, or null for a non-finite value. */
static const char *num(double v, char *buf, size_t cap)
{
    if (!isfinite(v))
        return "null";
    snprintf(buf, cap, "%.17g", v);
    return buf;
}

static void emit_snapshot(struct task *t)
{
    struct snapshot s;
    uint8_t *buf = NULL;
    size_t len = 0;

    snapshot_init(&s);
    if (learner_snapshot(t->learner, &s) != 0 ||
        snapshot_encode(&s, &buf, &len) != 0) {
        t->st.snapshot_errors++;
        snapshot_close(&s);
        return;
    }
    emit(t, PUBLISH_SNAPSHOT, NULL, NULL, buf, len, s.version);
    t->st.snapshots++;
    t->snap_any = true;
    t->snap_pending = false;
    t->snap_last_ms = t->now_ms;
    t->snap_version = s.version;
    free(buf);
    snapshot_close(&s);
}

static void maybe_snapshot(struct task *t)
{
    if (t->snap_pending &&
        (!t->snap_any || t->now_ms - t->snap_last_ms >= t->snap_interval_ms))
        emit_snapshot(t);
}

static void handle_out(struct task *t, const struct learner_out *o)
{
    if (o->rotated)
        emit_window(t);
    if (o->publish)
        t->snap_pending = true;
    if (o->drift)
        emit_drift(t, &o->drift_event);
}

/* ---- Supervised -------------------------------------------------------- */

static void emit_prediction(struct task *t, const struct rows_row *row,
                            const struct learner_out *o)
{
    char buf[384];
    char a[32];
    char b[32];
    char c[32];
    int n;

    n = snprintf(buf, sizeof(buf),
                 "{\"ts_ms\":%" PRId64 ",\"y_hat\":%s,\"p\":%s,\"y\":%s,"
                 "\"test\":%s,\"version\":%" PRIu64 "}",
                 row->ts_ms, num(o->y_hat, a, sizeof(a)),
                 num(o->p_hat, b, sizeof(b)), num(row->y, c, sizeof(c)),
                 o->test ? "true" : "false", t->snap_version);
    if (n <= 0 || (size_t)n >= sizeof(buf))
        return;
    emit(t, PUBLISH_PREDICTION, intern_name(t->devices, row->device_id), NULL,
         buf, (size_t)n, 0);
    t->st.predictions++;
}

/* Called on: loop thread, inside rows_add(). */
static void on_row(void *ctx, const struct rows_row *row)
{
    struct task *t = ctx;
    struct learner_row lr;
    struct learner_out o;
    size_t i;

    for (i = 0; i < row->n; i++)
        t->present[i] = row->present[i] ? 1 : 0;
    lr.series = row->device_id;
    lr.seq = row->has_seq ? row->seq : (uint64_t)row->ts_ms;
    lr.ts_ms = row->ts_ms;
    lr.y = row->y;
    lr.x = row->x;
    lr.present = t->present;
    if (learner_update(t->learner, &lr, &o) != 0) {
        t->st.bad_labels++;
        if (o.rotated)
            handle_out(t, &o);
        return;
    }
    t->st.rows++;
    handle_out(t, &o);
    if (t->predictions)
        emit_prediction(t, row, &o);
}

static int supervised_new(struct task *t, const struct task_config *cfg,
                          struct intern *sensors, size_t max_devices, char *err,
                          size_t errlen);

/* ---- Anomaly ----------------------------------------------------------- */

static int anomaly_setup(struct task *t, const struct task_config *cfg,
                         struct intern *sensors, size_t max_devices, char *err,
                         size_t errlen)
{
    size_t i;
    size_t cells;

    if (cfg->nfeatures == 0 || cfg->nfeatures > ROWS_MAX_FEATURES)
        return fail(err, errlen, -EINVAL,
                    "task %s: an anomaly task names 1..%u sensors", t->name,
                    ROWS_MAX_FEATURES);
    anomaly_config_default(&t->acfg);
    t->threshold = cfg->threshold > 0 ? cfg->threshold : t->acfg.alarm_level;
    t->max_series = cfg->max_series ? cfg->max_series : 4096;
    if (t->max_series > TASK_MAX_SERIES)
        return fail(err, errlen, -EINVAL, "task %s: max_series over %u",
                    t->name, TASK_MAX_SERIES);
    t->nsensors = cfg->nfeatures;
    t->max_devices = max_devices;
    cells = max_devices * t->nsensors;
    t->sensor_ids = calloc(t->nsensors, sizeof(*t->sensor_ids));
    t->det = calloc(cells, sizeof(*t->det));
    t->above = calloc(cells, 1);
    if (t->sensor_ids == NULL || t->det == NULL || t->above == NULL)
        return -ENOMEM;
    for (i = 0; i < t->nsensors; i++) {
        const char *s = cfg->features[i];
        if (intern_add(sensors, s, strlen(s), &t->sensor_ids[i], NULL) != 0)
            return fail(err, errlen, -EINVAL, "task %s: bad sensor name \"%s\"",
                        t->name, s);
    }
    return 0;
}

static void anomaly_emit_score(struct task *t, const struct reading *r,
                               const char *sensor, double score, bool event)
{
    const char *dev = intern_name(t->devices, r->device_id);
    char buf[384];
    char a[32];
    int n;

    n = snprintf(buf, sizeof(buf),
                 "{\"task\":\"%s\",\"device\":\"%s\",\"sensor\":\"%s\","
                 "\"ts_ms\":%" PRId64 ",\"value\":%s,\"score\":%.17g,"
                 "\"threshold\":%.17g}",
                 t->name, dev ? dev : "", sensor, r->ts_ms,
                 num(r->value, a, sizeof(a)), score, t->threshold);
    if (n <= 0 || (size_t)n >= sizeof(buf))
        return;
    emit(t, event ? PUBLISH_ANOMALY : PUBLISH_PREDICTION, dev, sensor, buf,
         (size_t)n, 0);
    if (event)
        t->st.anomalies++;
    else
        t->st.predictions++;
}

static const char *sensor_name(const struct task *t, const struct reading *r)
{
    const char *s = intern_name(t->sensors, r->sensor_id);

    return s ? s : "";
}

static void anomaly_add(struct task *t, const struct reading *r)
{
    size_t col;
    size_t cell;
    double score;

    for (col = 0; col < t->nsensors; col++)
        if (t->sensor_ids[col] == r->sensor_id)
            break;
    if (col == t->nsensors || r->device_id >= t->max_devices)
        return;
    cell = (size_t)r->device_id * t->nsensors + col;
    if (t->det[cell] == NULL) {
        if (t->st.series >= t->max_series ||
            anomaly_new(&t->det[cell], &t->acfg) != 0) {
            t->st.series_refused++;
            return;
        }
        t->st.series++;
    }
    score = anomaly_update(t->det[cell], r->ts_ms, r->value);
    t->st.rows++;
    if (t->predictions)
        anomaly_emit_score(t, r, sensor_name(t, r), score, false);
    if (score >= t->threshold && !t->above[cell]) {
        t->above[cell] = 1;
        anomaly_emit_score(t, r, sensor_name(t, r), score, true);
    } else if (score < t->threshold) {
        t->above[cell] = 0;
    }
}

/* ---- Lifecycle --------------------------------------------------------- */

/* Parse and intern the specs; fills specs[0..n) and *target. */
static int parse_specs(struct task *t, const struct task_config *cfg,
                       struct intern *sensors, struct rows_spec *specs,
                       struct rows_spec *target, char *err, size_t errlen)
{
    size_t i;

    if (cfg->target == NULL || rows_spec_parse(cfg->target, target) != 0)
        return fail(err, errlen, -EINVAL, "task %s: bad target \"%s\"", t->name,
                    cfg->target ? cfg->target : "");
    if (intern_add(sensors, target->name, strlen(target->name),
                   &target->sensor_id, NULL) != 0)
        return fail(err, errlen, -EINVAL, "task %s: target table full",
                    t->name);
    for (i = 0; i < cfg->nfeatures; i++) {
        struct rows_spec *s = &specs[i];
        if (rows_spec_parse(cfg->features[i], s) != 0)
            return fail(err, errlen, -EINVAL, "task %s: bad feature \"%s\"",
                        t->name, cfg->features[i]);
        if (intern_add(sensors, s->name, strlen(s->name), &s->sensor_id,
                       NULL) != 0)
            return fail(err, errlen, -EINVAL,
                        "task %s: sensor table full at \"%s\"", t->name,
                        s->name);
    }
    return 0;
}

static int make_rows(struct task *t, const struct task_config *cfg,
                     const struct rows_spec *specs,
                     const struct rows_spec *target, size_t max_devices,
                     char *err, size_t errlen)
{
    struct rows_config rc = rows_config_default(max_devices);
    int rc2;

    rc.target = *target;
    rc.features = specs;
    rc.nfeatures = cfg->nfeatures;
    if (cfg->max_age_ms > 0)
        rc.max_age_ms = cfg->max_age_ms;
    if (cfg->label_max_delay_ms > 0)
        rc.label_max_delay_ms = cfg->label_max_delay_ms;
    if (cfg->pending_total > 0)
        rc.pending_total = cfg->pending_total;
    if (cfg->pending_per_device > 0)
        rc.pending_per_device = cfg->pending_per_device;
    rc.emit = on_row;
    rc.ctx = t;
    if ((rc2 = rows_new(&t->rows, &rc)) != 0)
        return fail(err, errlen, rc2,
                    "task %s: features/target rejected by rows (%s)", t->name,
                    strerror(-rc2));
    return 0;
}

static enum learner_task learner_kind(enum task_kind k)
{
    return k == TASK_REGRESSION ? LEARNER_REGRESSION
           : k == TASK_BINARY   ? LEARNER_BINARY
                                : LEARNER_MULTICLASS;
}

static void set_drift(struct learner_config *lc, const struct task_config *cfg)
{
    lc->detector = cfg->detector;
    if (cfg->detector == LEARNER_DETECT_ADWIN && cfg->drift_delta > 0)
        lc->adwin.delta = cfg->drift_delta;
    if (cfg->detector == LEARNER_DETECT_PH) {
        /* 0 is a real Page-Hinkley setting (no tolerance), not "unset":
         * drift_set says the fields were given. */
        if (cfg->drift_delta >= 0)
            lc->ph.delta = cfg->drift_delta;
        if (cfg->drift_threshold > 0) {
            lc->ph.lambda = cfg->drift_threshold;
            if (lc->ph.lambda_warning > lc->ph.lambda)
                lc->ph.lambda_warning = lc->ph.lambda / 2;
        }
    }
}

static int make_learner(struct task *t, const struct task_config *cfg,
                        const struct rows_spec *specs,
                        const struct rows_spec *target, size_t max_devices,
                        char *err, size_t errlen)
{
    char(*names)[ROWS_SPEC_MAX] = calloc(cfg->nfeatures, sizeof(*names));
    const char **np = calloc(cfg->nfeatures, sizeof(*np));
    size_t ncls = t->kind == TASK_REGRESSION ? 0
                  : t->kind == TASK_BINARY   ? 2
                                             : cfg->nclasses;
    struct learner_config lc;
    char tname[ROWS_SPEC_MAX];
    size_t i;
    int rc = -ENOMEM;

    if (names == NULL || np == NULL)
        goto out;
    for (i = 0; i < cfg->nfeatures; i++) {
        rows_spec_format(&specs[i], names[i], sizeof(names[i]));
        np[i] = names[i];
    }
    rows_spec_format(target, tname, sizeof(tname));
    learner_config_default(&lc, learner_kind(t->kind), cfg->nfeatures, ncls);
    lc.task = t->name;
    lc.target = tname;
    lc.feature_names = np;
    if (cfg->classes != NULL && cfg->nclasses == ncls)
        lc.class_labels = cfg->classes;
    lc.max_series = max_devices;
    if (cfg->window_ms > 0) {
        lc.window_mode = LEARNER_WINDOW_TIME;
        lc.window_ms = cfg->window_ms;
    } else if (cfg->window_rows > 0) {
        lc.window_mode = LEARNER_WINDOW_ROWS;
        lc.window_rows = cfg->window_rows;
    }
    if (cfg->test_fraction >= 0 && !isnan(cfg->test_fraction))
        lc.test_fraction = cfg->test_fraction;
    lc.test_salt = cfg->test_salt;
    if (cfg->candidates != NULL && cfg->ncandidates > 0) {
        lc.candidates = cfg->candidates;
        lc.n_candidates = cfg->ncandidates;
    }
    if (cfg->drift_set)
        set_drift(&lc, cfg);
    if (cfg->switch_z_set)
        lc.switch_z = cfg->switch_z;
    if ((rc = learner_new(&t->learner, &lc)) != 0)
        fail(err, errlen, rc,
             "task %s: learner refused the configuration "
             "(%s)",
             t->name, strerror(-rc));
out:
    free(np);
    free(names);
    return rc;
}

/* The bit set of the sensors the task names (target and features). */
static int make_uses(struct task *t, const struct rows_spec *specs, size_t n,
                     const struct rows_spec *target)
{
    uint32_t top = target->sensor_id;
    size_t i;

    for (i = 0; i < n; i++)
        if (specs[i].sensor_id > top)
            top = specs[i].sensor_id;
    t->uses_ids = top + 1;
    if ((t->uses = calloc(t->uses_ids / 8 + 1, 1)) == NULL)
        return -ENOMEM;
    t->uses[target->sensor_id / 8] |= (uint8_t)(1u << target->sensor_id % 8);
    for (i = 0; i < n; i++)
        t->uses[specs[i].sensor_id / 8] |=
            (uint8_t)(1u << specs[i].sensor_id % 8);
    return 0;
}

static int supervised_new(struct task *t, const struct task_config *cfg,
                          struct intern *sensors, size_t max_devices, char *err,
                          size_t errlen)
{
    struct rows_spec *specs;
    struct rows_spec target;
    int rc;

    if (cfg->nfeatures == 0 || cfg->nfeatures > ROWS_MAX_FEATURES)
        return fail(err, errlen, -EINVAL, "task %s: 1..%u features", t->name,
                    ROWS_MAX_FEATURES);
    if (t->kind == TASK_MULTICLASS && cfg->nclasses < 2)
        return fail(err, errlen, -EINVAL,
                    "task %s: a multiclass task lists its classes", t->name);
    if ((specs = calloc(cfg->nfeatures, sizeof(*specs))) == NULL)
        return -ENOMEM;
    t->nfeat = cfg->nfeatures;
    rc = parse_specs(t, cfg, sensors, specs, &target, err, errlen);
    if (rc == 0)
        rc = make_uses(t, specs, cfg->nfeatures, &target);
    t->horizon_ms = target.horizon_ms;
    if (rc == 0)
        rc = make_rows(t, cfg, specs, &target, max_devices, err, errlen);
    if (rc == 0)
        rc = make_learner(t, cfg, specs, &target, max_devices, err, errlen);
    if (rc == 0 && (t->present = calloc(t->nfeat, 1)) == NULL)
        rc = -ENOMEM;
    free(specs);
    return rc;
}

int task_new(struct task **out, const struct task_config *cfg,
             struct intern *sensors, const struct intern *devices,
             size_t max_devices, publish_fn emit_fn, void *ctx, char *err,
             size_t errlen)
{
    struct task *t;
    int rc;

    if (cfg->name == NULL || !codec_name_ok(cfg->name, strlen(cfg->name)) ||
        strlen(cfg->name) > TASK_NAME_MAX)
        return fail(err, errlen, -EINVAL, "bad task name \"%s\"",
                    cfg->name ? cfg->name : "");
    if (cfg->kind < TASK_REGRESSION || cfg->kind > TASK_ANOMALY ||
        emit_fn == NULL || max_devices == 0)
        return fail(err, errlen, -EINVAL, "task %s: bad kind", cfg->name);
    if ((t = calloc(1, sizeof(*t))) == NULL)
        return -ENOMEM;
    snprintf(t->name, sizeof(t->name), "%s", cfg->name);
    t->kind = cfg->kind;
    t->devices = devices;
    t->sensors = sensors;
    t->emit = emit_fn;
    t->ctx = ctx;
    t->predictions = cfg->predictions;
    t->snap_interval_ms = cfg->snapshot_interval_ms;
    t->max_gap_ms = cfg->clock_max_gap_ms > 0 ? cfg->clock_max_gap_ms
                                              : TASK_CLOCK_MAX_GAP_MS;
    t->row_devices = max_devices;
    t->clock_recv_ms = INT64_MIN;
    if (t->kind == TASK_ANOMALY)
        rc = anomaly_setup(t, cfg, sensors, max_devices, err, errlen);
    else
        rc = supervised_new(t, cfg, sensors, max_devices, err, errlen);
    if (rc != 0) {
        task_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

void task_free(struct task *t)
{
    size_t i;

    if (t == NULL)
        return;
    if (t->det != NULL)
        for (i = 0; i < t->max_devices * t->nsensors; i++)
            anomaly_free(t->det[i]);
    free(t->det);
    free(t->above);
    free(t->sensor_ids);
    free(t->present);
    free(t->uses);
    learner_free(t->learner);
    rows_free(t->rows);
    free(t);
}

/* ---- Data clock (task.h "Time") ----------------------------------------- */

/* Move the data clock along receive time now_ms: by the receive time
 * elapsed since the last call, at most max_gap_ms, saturating. */
static void clock_follow(struct task *t, int64_t now_ms)
{
    uint64_t step;

    if (now_ms <= t->clock_recv_ms)
        return; /* the same message, or (never, from the pipeline) back */
    if (t->clock_set && t->clock_recv_ms != INT64_MIN) {
        /* now > recv: the difference fits in 64 unsigned bits. */
        step = (uint64_t)now_ms - (uint64_t)t->clock_recv_ms;
        if (step > (uint64_t)t->max_gap_ms)
            step = (uint64_t)t->max_gap_ms;
        t->clock_ms = t->clock_ms > INT64_MAX - (int64_t)step
                          ? INT64_MAX
                          : t->clock_ms + (int64_t)step;
    }
    t->clock_recv_ms = now_ms;
}

/* A reading of a sensor the task names, of a device rows keeps: its
 * timestamp, if newer, is the clock. */
static void clock_see(struct task *t, const struct reading *r)
{
    uint32_t id = r->sensor_id;

    if (id >= t->uses_ids || !(t->uses[id / 8] & (1u << id % 8)) ||
        r->device_id >= t->row_devices)
        return;
    if (!t->clock_set || r->ts_ms > t->clock_ms) {
        t->clock_ms = r->ts_ms;
        t->clock_set = true;
    }
}

/* The learner's data time: rows carry the time of their features, and a
 * forecast row (target s@+h) is learned when its label arrives, h or more
 * after it. So rows up to the clock minus h have come (or wait for a late
 * label); a window is over when that time is past its end, which is also
 * when the learner would close it on the next row. */
static int64_t row_time(const struct task *t)
{
    return t->clock_ms < INT64_MIN + t->horizon_ms
               ? INT64_MIN
               : t->clock_ms - t->horizon_ms;
}

/* ---- Operations -------------------------------------------------------- */

void task_add(struct task *t, const struct reading *r, int64_t now_ms)
{
    t->now_ms = now_ms;
    t->st.readings++;
    if (t->kind == TASK_ANOMALY) {
        anomaly_add(t, r);
        return;
    }
    clock_follow(t, now_ms);
    clock_see(t, r);
    rows_add(t->rows, r);
    maybe_snapshot(t);
}

void task_tick(struct task *t, int64_t now_ms)
{
    struct learner_out o;

    t->now_ms = now_ms;
    if (t->kind == TASK_ANOMALY)
        return;
    clock_follow(t, now_ms);
    if (t->clock_set) {
        rows_expire(t->rows, t->clock_ms);
        if (learner_advance(t->learner, row_time(t), &o))
            handle_out(t, &o);
    }
    maybe_snapshot(t);
}

int task_flush(struct task *t)
{
    struct learner_stats ls;

    if (t->kind == TASK_ANOMALY)
        return 0;
    learner_stats(t->learner, &ls);
    if (ls.rows == 0)
        return 0;
    t->snap_pending = true;
    emit_snapshot(t);
    return t->snap_pending ? -ENOMEM : 0;
}

/* ---- Introspection ----------------------------------------------------- */

const char *task_name(const struct task *t)
{
    return t->name;
}

enum task_kind task_kind(const struct task *t)
{
    return t->kind;
}

void task_stats(const struct task *t, struct task_stats *out)
{
    *out = t->st;
}

const struct learner *task_learner(const struct task *t)
{
    return t->learner;
}

void task_rows_stats(const struct task *t, struct rows_stats *out)
{
    if (t->rows != NULL)
        rows_stats(t->rows, out);
    else
        memset(out, 0, sizeof(*out));
}

size_t task_rows_pending(const struct task *t)
{
    return t->rows != NULL ? rows_pending(t->rows) : 0;
}

uint64_t task_snapshot_version(const struct task *t)
{
    return t->snap_version;
}

int64_t task_data_clock(const struct task *t)
{
    return t->clock_set ? t->clock_ms : INT64_MIN;
}

/* ---- Checkpoints ------------------------------------------------------- */

static void put_stats(struct bytes_out *b, const struct task_stats *s)
{
    bytes_put_u64(b, s->readings);
    bytes_put_u64(b, s->rows);
    bytes_put_u64(b, s->snapshots);
    bytes_put_u64(b, s->snapshot_errors);
    bytes_put_u64(b, s->windows);
    bytes_put_u64(b, s->drifts);
    bytes_put_u64(b, s->predictions);
    bytes_put_u64(b, s->anomalies);
    bytes_put_u64(b, s->series);
    bytes_put_u64(b, s->series_refused);
    bytes_put_u64(b, s->bad_labels);
}

static void get_stats(struct bytes_in *in, struct task_stats *s)
{
    s->readings = bytes_get_u64(in);
    s->rows = bytes_get_u64(in);
    s->snapshots = bytes_get_u64(in);
    s->snapshot_errors = bytes_get_u64(in);
    s->windows = bytes_get_u64(in);
    s->drifts = bytes_get_u64(in);
    s->predictions = bytes_get_u64(in);
    s->anomalies = bytes_get_u64(in);
    s->series = bytes_get_u64(in);
    s->series_refused = bytes_get_u64(in);
    s->bad_labels = bytes_get_u64(in);
}

/* One blob per detector: u64 cell, u8 above, anomaly_save() image. */
static void save_anomaly(const struct task *t, struct bytes_out *b)
{
    size_t cells = t->max_devices * t->nsensors;
    uint8_t img[ANOMALY_SAVE_MAX_BYTES];
    uint64_t n = 0;
    size_t i;

    for (i = 0; i < cells; i++)
        n += t->det[i] != NULL;
    bytes_put_u64(b, n);
    for (i = 0; i < cells; i++) {
        size_t len;
        if (t->det[i] == NULL)
            continue;
        len = anomaly_save(t->det[i], img, sizeof(img));
        assert(len <= sizeof(img));
        bytes_put_u64(b, i);
        bytes_put_u8(b, t->above[i]);
        bytes_put_blob(b, img, len);
    }
}

/* The row assembly's image as a blob. */
static void save_rows(const struct task *t, struct bytes_out *b)
{
    size_t len = rows_save(t->rows, NULL, 0);
    uint8_t *img = malloc(len);

    if (img == NULL) {
        b->failed = true;
        return;
    }
    rows_save(t->rows, img, len);
    bytes_put_blob(b, img, len);
    free(img);
}

int task_save(const struct task *t, uint8_t **buf, size_t *len)
{
    struct bytes_out b = {NULL, 0, 0, false};
    uint8_t *lb = NULL;
    size_t ll = 0;

    bytes_put_u32(&b, TASK_MAGIC);
    bytes_put_u32(&b, TASK_FORMAT);
    bytes_put_u32(&b, (uint32_t)t->kind);
    bytes_put_str(&b, t->name);
    put_stats(&b, &t->st);
    bytes_put_u8(&b, t->snap_pending);
    bytes_put_u8(&b, t->snap_any);
    bytes_put_i64(&b, t->snap_last_ms);
    bytes_put_u64(&b, t->snap_version);
    bytes_put_u8(&b, t->clock_set);
    bytes_put_i64(&b, t->clock_ms);
    bytes_put_i64(&b, t->clock_recv_ms);
    if (t->kind == TASK_ANOMALY) {
        save_anomaly(t, &b);
    } else {
        if (learner_save(t->learner, &lb, &ll) != 0)
            b.failed = true;
        bytes_put_blob(&b, lb, ll);
        free(lb);
        save_rows(t, &b);
    }
    bytes_put_crc(&b);
    if (b.failed) {
        free(b.data);
        return -ENOMEM;
    }
    *buf = b.data;
    *len = b.len;
    return 0;
}

static void reset_anomaly(struct task *t)
{
    size_t i;

    for (i = 0; i < t->max_devices * t->nsensors; i++) {
        anomaly_free(t->det[i]);
        t->det[i] = NULL;
        t->above[i] = 0;
    }
}

/* Pass 1: every detector image checks (on a scratch detector), cells are
 * in range and increase. *n gets the count. */
static int check_anomaly(struct task *t, struct bytes_in *in, uint64_t *n)
{
    size_t cells = t->max_devices * t->nsensors;
    struct anomaly *scratch;
    int64_t last = -1;
    uint64_t k;
    int rc = 0;

    *n = bytes_get_u64(in);
    if (in->bad)
        return -EBADMSG;
    if (*n > 0 && anomaly_new(&scratch, &t->acfg) != 0)
        return -ENOMEM;
    for (k = 0; k < *n && rc == 0; k++) {
        uint64_t cell = bytes_get_u64(in);
        uint8_t above = bytes_get_u8(in);
        size_t sz;
        const uint8_t *p = bytes_get_blob(in, &sz);
        if (in->bad || above > 1 || (int64_t)cell <= last)
            rc = -EBADMSG;
        else if (cell >= cells)
            rc = -ENOSPC;
        else
            rc = anomaly_restore(scratch, p, sz);
        last = (int64_t)cell;
    }
    if (*n > 0)
        anomaly_free(scratch);
    if (rc == -EPROTONOSUPPORT)
        rc = -EINVAL; /* detector state of another build: start afresh */
    return rc;
}

/* Pass 2: apply what check_anomaly() accepted at in. */
static int apply_anomaly(struct task *t, struct bytes_in *in, uint64_t n)
{
    uint64_t k;

    reset_anomaly(t);
    for (k = 0; k < n; k++) {
        uint64_t cell = bytes_get_u64(in);
        uint8_t above = bytes_get_u8(in);
        size_t sz;
        const uint8_t *p = bytes_get_blob(in, &sz);
        if (anomaly_new(&t->det[cell], &t->acfg) != 0) {
            reset_anomaly(t);
            t->st.series = 0;
            return -ENOMEM;
        }
        anomaly_restore(t->det[cell], p, sz); /* checked in pass 1 */
        t->above[cell] = above;
    }
    return 0;
}

static int restore_anomaly(struct task *t, struct bytes_in *in, uint32_t format,
                           uint64_t *series)
{
    struct bytes_in again;
    uint64_t n;
    int rc;

    if (format == TASK_FORMAT_LEARNER)
        return -EINVAL; /* raw detector bytes of an earlier build */
    again = *in;
    if ((rc = check_anomaly(t, in, &n)) != 0)
        return rc;
    if (in->at != in->len)
        return -EBADMSG;
    bytes_get_u64(&again);
    *series = n;
    return apply_anomaly(t, &again, n);
}

/* Learner, then (format 2) rows; t unchanged on error. */
static int restore_supervised(struct task *t, struct bytes_in *in,
                              uint32_t format)
{
    const uint8_t *lp, *rp = NULL;
    uint8_t *backup = NULL;
    size_t ln, rn = 0, bn;
    int rc;

    lp = bytes_get_blob(in, &ln);
    if (format != TASK_FORMAT_LEARNER)
        rp = bytes_get_blob(in, &rn);
    if (in->bad || lp == NULL || in->at != in->len)
        return -EBADMSG;
    if (rp != NULL) {
        bn = rows_save(t->rows, NULL, 0);
        if ((backup = malloc(bn)) == NULL)
            return -ENOMEM;
        rows_save(t->rows, backup, bn);
        if ((rc = rows_restore(t->rows, rp, rn)) != 0)
            goto out;
    }
    if ((rc = learner_restore(t->learner, lp, ln)) != 0 && backup != NULL)
        rows_restore(t->rows, backup, bn); /* our own image: cannot fail */
out:
    free(backup);
    return rc;
}

/* The header of an image: what task_restore() applies once the rest has
 * been accepted. */
struct header {
    uint32_t format;       /* TASK_FORMAT or an earlier one still read. */
    struct task_stats st;  /* Counters. */
    bool snap_pending;     /* Snapshot pacing, as in struct task. */
    bool snap_any;         /* ... */
    int64_t snap_last_ms;  /* ... */
    uint64_t snap_version; /* ... */
    bool clock_set;        /* Data clock (format 3; else unset). */
    int64_t clock_ms;      /* ... */
    int64_t clock_recv_ms; /* ... (INT64_MIN: none yet). */
};

/* Read the header after the magic; 0, -EBADMSG or -EINVAL (another task). */
static int get_header(const struct task *t, struct bytes_in *in,
                      struct header *h)
{
    char name[TASK_NAME_MAX + 1];

    h->format = bytes_get_u32(in);
    if (h->format != TASK_FORMAT && h->format != TASK_FORMAT_ROWS &&
        h->format != TASK_FORMAT_LEARNER)
        return -EBADMSG;
    if (bytes_get_u32(in) != (uint32_t)t->kind)
        return -EINVAL;
    bytes_get_str(in, name, sizeof(name));
    get_stats(in, &h->st);
    h->snap_pending = bytes_get_u8(in) != 0;
    h->snap_any = bytes_get_u8(in) != 0;
    h->snap_last_ms = bytes_get_i64(in);
    h->snap_version = bytes_get_u64(in);
    h->clock_set = false; /* earlier formats: the clock starts afresh */
    h->clock_ms = 0;
    h->clock_recv_ms = INT64_MIN;
    if (h->format == TASK_FORMAT) {
        uint8_t set = bytes_get_u8(in);
        h->clock_ms = bytes_get_i64(in);
        h->clock_recv_ms = bytes_get_i64(in);
        if (set > 1)
            return -EBADMSG;
        h->clock_set = set != 0;
    }
    if (in->bad)
        return -EBADMSG;
    return strcmp(name, t->name) == 0 ? 0 : -EINVAL;
}

int task_restore(struct task *t, const uint8_t *buf, size_t len)
{
    struct bytes_in in = bytes_in_make(buf, len);
    struct header h;
    uint64_t series = 0;
    int rc;

    if (!bytes_check_crc(&in) || bytes_get_u32(&in) != TASK_MAGIC)
        return -EBADMSG;
    if ((rc = get_header(t, &in, &h)) != 0)
        return rc;
    if (t->kind == TASK_ANOMALY)
        rc = restore_anomaly(t, &in, h.format, &series);
    else
        rc = restore_supervised(t, &in, h.format);
    if (rc != 0)
        return rc;
    t->st = h.st;
    if (t->kind == TASK_ANOMALY)
        t->st.series = series;
    t->snap_pending = h.snap_pending;
    t->snap_any = h.snap_any;
    t->snap_last_ms = h.snap_last_ms;
    t->snap_version = h.snap_version;
    if (t->kind != TASK_ANOMALY) {
        t->clock_set = h.clock_set;
        t->clock_ms = h.clock_ms;
        t->clock_recv_ms = h.clock_recv_ms;
    }
    return 0;
}
