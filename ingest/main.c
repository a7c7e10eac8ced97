/* main.c -- the weir command line.
 *
 *   weir -c FILE                 run the daemon (ingest/app.h)
 *   weir check-config FILE       check a configuration; print errors with
 *                                file:line, or the effective configuration
 *   weir replay -c FILE [--csv MAP] [--out DIR] INPUT
 *                                run recorded messages through the core with
 *                                no broker: INPUT is a capture file, a CSV
 *                                data set (--csv, with a csvsrc column map),
 *                                or an ingest-log directory; final snapshots
 *                                go to DIR/<task>.pb, stats (JSON) to stdout
 *   weir inspect SNAPSHOT        print a snapshot file as JSON
 *   weir predict SNAPSHOT        CSV feature rows on stdin -> predictions
 *   weir --help | --version
 *
 * Exit status: 0 success, 1 failure at run time, 2 bad usage or
 * configuration.
 *
 * Threads: main() runs on the main thread, which becomes the daemon's loop
 * thread; the other commands are single-threaded. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "ingest/app.h"
#include "ingest/checkpoint.h"
#include "ingest/config.h"
#include "ingest/log.h"
#include "ingest/replay.h"
#include "ingest/setup.h"
#include "ingest/status.h"
#include "learn/predictor.h"
#include "proto/snapshot.h"

#define WEIR_VERSION "0.1.0"

enum { EXIT_RUN = 1, EXIT_USAGE = 2 };

static void usage(FILE *f)
{
    fputs("usage: weir -c FILE                 run the daemon\n"
          "       weir check-config FILE       check a configuration\n"
          "       weir replay -c FILE [--csv MAP] [--out DIR] INPUT\n"
          "                                    capture file, CSV (--csv) or "
          "ingest-log\n"
          "                                    directory through the core, "
          "no broker\n"
          "       weir inspect SNAPSHOT        print a snapshot as JSON\n"
          "       weir predict SNAPSHOT        CSV rows on stdin -> "
          "predictions\n"
          "       weir --help | --version\n",
          f);
}

/* Load a configuration, printing its diagnostics. NULL on error. */
static struct config *load_config(const char *path)
{
    struct config *cfg = NULL;
    char *diag = NULL;
    int rc = config_load(&cfg, path, &diag);

    if (diag != NULL)
        fputs(diag, stderr);
    free(diag);
    if (rc != 0) {
        if (rc != -EINVAL)
            fprintf(stderr, "weir: %s: %s\n", path, strerror(-rc));
        return NULL;
    }
    return cfg;
}

static int run_daemon(const char *path)
{
    struct config *cfg = load_config(path);
    struct app *a = NULL;
    char err[512] = "";
    int rc;

    if (cfg == NULL)
        return EXIT_USAGE;
    log_init(cfg->log_level);
    signal(SIGPIPE, SIG_IGN);
    if ((rc = app_new(&a, cfg, err, sizeof(err))) != 0) {
        log_msg(LOG_ERROR, "cannot start: %s", err);
        config_free(cfg);
        return EXIT_RUN;
    }
    rc = app_run(a);
    app_free(a);
    config_free(cfg);
    return rc;
}

static int check_config(const char *path)
{
    struct config *cfg = load_config(path);

    if (cfg == NULL)
        return EXIT_USAGE;
    printf("; %s: OK; the effective configuration:\n", path);
    config_print(cfg, stdout);
    config_free(cfg);
    return 0;
}

/* ---- replay ------------------------------------------------------------ */

struct replay_out {
    const struct config *cfg;
    uint8_t **last; /* [ntasks] newest snapshot of each task. */
    size_t *len;
    uint64_t emitted[PUBLISH_KINDS];
};

/* The core's outputs during a replay. Called on: the main thread. */
static void replay_emit(void *ctx, const struct publish_msg *m)
{
    struct replay_out *o = ctx;
    size_t i;

    o->emitted[m->kind]++;
    if (m->kind != PUBLISH_SNAPSHOT)
        return;
    for (i = 0; i < o->cfg->ntasks; i++) {
        uint8_t *copy;
        if (strcmp(o->cfg->tasks[i].name, m->task) != 0 ||
            (copy = malloc(m->len ? m->len : 1)) == NULL)
            continue;
        memcpy(copy, m->payload, m->len);
        free(o->last[i]);
        o->last[i] = copy;
        o->len[i] = m->len;
    }
}

static int write_snapshots(const struct replay_out *o, const char *dir)
{
    char name[256];
    size_t i;
    int rc = 0;

    for (i = 0; dir != NULL && i < o->cfg->ntasks; i++) {
        if (o->last[i] == NULL)
            continue;
        snprintf(name, sizeof(name), "%s.pb", o->cfg->tasks[i].name);
        if ((rc = checkpoint_write_atomic(dir, name, NULL, o->last[i],
                                          o->len[i])) != 0) {
            fprintf(stderr, "weir: replay: %s/%s: %s\n", dir, name,
                    strerror(-rc));
            return rc;
        }
    }
    return 0;
}

struct replay_args {
    const char *config;
    const char *csv;
    const char *out;
    const char *input;
};

static int replay_parse(int argc, char **argv, struct replay_args *ra)
{
    int i;

    memset(ra, 0, sizeof(*ra));
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = !strcmp(a, "-c") || !strcmp(a, "--config")
                               ? &ra->config
                           : !strcmp(a, "--csv") ? &ra->csv
                           : !strcmp(a, "--out") ? &ra->out
                                                 : NULL;
        if (dst != NULL && i + 1 < argc)
            *dst = argv[++i];
        else if (a[0] != '-' && ra->input == NULL)
            ra->input = a;
        else
            return -EINVAL;
    }
    return ra->config && ra->input ? 0 : -EINVAL;
}

static int replay_input(const struct replay_args *ra, struct setup_core *core,
                        struct replay_stats *rs, char *err, size_t errlen)
{
    struct stat st;

    if (ra->csv != NULL)
        return replay_csv(ra->input, ra->csv, core->decoder, core->pipeline, rs,
                          err, errlen);
    if (stat(ra->input, &st) == 0 && S_ISDIR(st.st_mode))
        return replay_wal(ra->input, 1, core->decoder, core->pipeline, rs, err,
                          errlen);
    return replay_capture(ra->input, core->decoder, core->pipeline, rs, err,
                          errlen);
}

static int replay_main(int argc, char **argv)
{
    struct replay_args ra;
    struct replay_out o;
    struct setup_core core;
    struct replay_stats rs;
    struct status_src src;
    struct config *cfg;
    char err[512] = "";
    size_t i;
    int rc;

    if (replay_parse(argc, argv, &ra) != 0) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if ((cfg = load_config(ra.config)) == NULL)
        return EXIT_USAGE;
    log_init(cfg->log_level);
    memset(&o, 0, sizeof(o));
    o.cfg = cfg;
    o.last = calloc(cfg->ntasks + 1, sizeof(*o.last));
    o.len = calloc(cfg->ntasks + 1, sizeof(*o.len));
    memset(&rs, 0, sizeof(rs));
    rc = o.last && o.len ? setup_core_open(&core, cfg, ra.csv != NULL, NULL,
                                           replay_emit, &o, err, sizeof(err))
                         : -ENOMEM;
    if (rc == 0) {
        rc = replay_input(&ra, &core, &rs, err, sizeof(err));
        if (rc != 0)
            fprintf(stderr, "weir: replay: %s\n", err);
        pipeline_flush(core.pipeline);
        memset(&src, 0, sizeof(src));
        src.pipeline = core.pipeline;
        status_dump(&src, stdout);
        if (write_snapshots(&o, ra.out) != 0 && rc == 0)
            rc = -EIO;
        setup_core_close(&core);
    } else {
        fprintf(stderr, "weir: replay: %s\n", err[0] ? err : strerror(-rc));
    }
    for (i = 0; o.last != NULL && i < cfg->ntasks; i++)
        free(o.last[i]);
    free(o.last);
    free(o.len);
    config_free(cfg);
    return rc == 0 ? 0 : EXIT_RUN;
}

/* ---- inspect and predict ----------------------------------------------- */

/* Read a whole file ("-": stdin) of at most SNAPSHOT_MAX_BYTES. */
static int read_all(const char *path, uint8_t **buf, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    size_t cap = 1 << 16;
    uint8_t *p = malloc(cap);
    size_t n = 0;

    if (f == NULL || p == NULL) {
        free(p);
        return f == NULL ? -errno : -ENOMEM;
    }
    for (;;) {
        size_t got;
        if (n == cap) {
            uint8_t *q;
            if (cap >= SNAPSHOT_MAX_BYTES + 1 ||
                (q = realloc(p, cap * 2)) == NULL)
                break;
            p = q;
            cap *= 2;
        }
        if ((got = fread(p + n, 1, cap - n, f)) == 0)
            break;
        n += got;
    }
    if (f != stdin)
        fclose(f);
    *buf = p;
    *len = n;
    return 0;
}

static cJSON *metrics_json(const struct snapshot_metrics *m)
{
    cJSON *o = cJSON_CreateObject();
    const char *k[] = {"mae",      "rmse",     "r2",    "accuracy",
                       "log_loss", "macro_f1", "kappa", "kappa_temporal"};
    const double v[] = {m->mae,      m->rmse,     m->r2,    m->accuracy,
                        m->log_loss, m->macro_f1, m->kappa, m->kappa_temporal};
    size_t i;

    cJSON_AddNumberToObject(o, "rows", (double)m->rows);
    for (i = 0; i < sizeof(k) / sizeof(k[0]); i++)
        if (!isnan(v[i]))
            cJSON_AddNumberToObject(o, k[i], v[i]);
    return o;
}

static cJSON *scaler_json(const struct snapshot_scaler *s)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddNumberToObject(o, "count", (double)s->count);
    cJSON_AddNumberToObject(o, "mean", s->mean);
    cJSON_AddNumberToObject(o, "m2", s->m2);
    return o;
}

static void inspect_arrays(cJSON *o, const struct snapshot *s)
{
    cJSON *a = cJSON_AddArrayToObject(o, "inputs");
    size_t i, nw = (size_t)s->outputs * (s->n_inputs + 1);

    for (i = 0; i < s->n_inputs; i++) {
        cJSON *in = cJSON_CreateObject();
        cJSON_AddStringToObject(in, "name", s->feature_names[i]);
        cJSON_AddItemToObject(in, "scaler", scaler_json(&s->feature_scaler[i]));
        cJSON_AddNumberToObject(in, "impute", s->impute[i]);
        cJSON_AddItemToArray(a, in);
    }
    if (s->has_target_scaler)
        cJSON_AddItemToObject(o, "target_scaler",
                              scaler_json(&s->target_scaler));
    cJSON_AddNumberToObject(o, "outputs", s->outputs);
    a = cJSON_AddArrayToObject(o, "weights");
    for (i = 0; i < nw; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(s->weights[i]));
    /* The normalized optimizer's per-input scales (null for the others):
     * with the weights, what predicting needs (learn/predictor.h). */
    if (s->input_scale == NULL) {
        cJSON_AddNullToObject(o, "input_scale");
    } else {
        a = cJSON_AddArrayToObject(o, "input_scale");
        for (i = 0; i < s->n_inputs; i++)
            cJSON_AddItemToArray(a, cJSON_CreateNumber(s->input_scale[i]));
    }
    a = cJSON_AddArrayToObject(o, "class_labels");
    for (i = 0; i < s->n_classes; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(s->class_labels[i]));
    a = cJSON_AddObjectToObject(o, "hyper_extra");
    for (i = 0; i < s->n_extra; i++)
        cJSON_AddNumberToObject(a, s->extra[i].name, s->extra[i].value);
    a = cJSON_AddArrayToObject(o, "baselines");
    for (i = 0; i < s->n_baselines; i++) {
        cJSON *b = metrics_json(&s->baselines[i]);
        cJSON_AddStringToObject(b, "name", s->baseline_names[i]);
        cJSON_AddItemToArray(a, b);
    }
}

static cJSON *inspect_json(const struct snapshot *s)
{
    static const char *const kinds[] = {"unknown", "linear", "logistic",
                                        "softmax", "anomaly"};
    static const char *const opts[] = {"unknown", "sgd", "adagrad",
                                       "normalized"};
    static const char *const drifts[] = {"none", "warning", "detected"};
    cJSON *o = cJSON_CreateObject();

    cJSON_AddNumberToObject(o, "format_version", s->format_version);
    cJSON_AddStringToObject(o, "task", s->task ? s->task : "");
    cJSON_AddStringToObject(o, "target", s->target ? s->target : "");
    cJSON_AddStringToObject(o, "candidate", s->candidate ? s->candidate : "");
    cJSON_AddNumberToObject(o, "version", (double)s->version);
    cJSON_AddNumberToObject(o, "created_at_ms", (double)s->created_at_ms);
    cJSON_AddStringToObject(o, "kind", kinds[(unsigned)s->kind % 5]);
    cJSON_AddStringToObject(o, "optimizer", opts[(unsigned)s->optimizer % 4]);
    cJSON_AddNumberToObject(o, "learning_rate", s->learning_rate);
    cJSON_AddNumberToObject(o, "l2", s->l2);
    cJSON_AddNumberToObject(o, "window_id", (double)s->window_id);
    cJSON_AddStringToObject(o, "drift", drifts[(unsigned)s->drift % 3]);
    cJSON_AddNumberToObject(o, "rows_trained", (double)s->rows_trained);
    cJSON_AddItemToObject(o, "validation", metrics_json(&s->validation));
    cJSON_AddItemToObject(o, "test", metrics_json(&s->test));
    inspect_arrays(o, s);
    return o;
}

static int inspect_main(const char *path)
{
    struct snapshot s;
    uint8_t *buf = NULL;
    size_t len = 0;
    cJSON *o;
    char *text;
    int rc;

    snapshot_init(&s);
    if ((rc = read_all(path, &buf, &len)) != 0 ||
        (rc = snapshot_decode(buf, len, &s)) != 0) {
        fprintf(stderr, "weir: inspect: %s: %s\n", path, strerror(-rc));
        free(buf);
        return EXIT_RUN;
    }
    o = inspect_json(&s);
    text = o ? cJSON_Print(o) : NULL;
    if (text != NULL)
        printf("%s\n", text);
    free(text);
    cJSON_Delete(o);
    snapshot_close(&s);
    free(buf);
    return text != NULL ? 0 : EXIT_RUN;
}

/* Split line (modified) at commas into at most max fields; returns the
 * count. Spaces around fields are trimmed; no quoting. */
static size_t split(char *line, char **field, size_t max)
{
    size_t n = 0;
    char *p = line;

    line[strcspn(line, "\r\n")] = '\0';
    while (n < max) {
        char *end = strchr(p, ',');
        char *e;
        if (end != NULL)
            *end = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
        e = p + strlen(p);
        while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
            *--e = '\0';
        field[n++] = p;
        if (end == NULL)
            break;
        p = end + 1;
    }
    return n;
}

#define PREDICT_MAX_COLS 4096
#define PREDICT_LINE_MAX (1 << 20)

struct predict_state {
    const struct predictor *p;
    long col_feature[PREDICT_MAX_COLS]; /* Column -> feature, or -1. */
    size_t ncols;
    double *x;
    uint8_t *present;
    double *proba;
};

static void predict_row(struct predict_state *ps, char **field, size_t n)
{
    size_t nf = predictor_features(ps->p);
    struct predictor_out out;
    size_t i;

    memset(ps->present, 0, nf);
    for (i = 0; i < nf; i++)
        ps->x[i] = NAN;
    for (i = 0; i < n && i < ps->ncols; i++) {
        char *end;
        long f = ps->col_feature[i];
        double v;
        if (f < 0 || field[i][0] == '\0')
            continue;
        v = strtod(field[i], &end);
        if (*end == '\0') {
            ps->x[f] = v;
            ps->present[f] = 1;
        }
    }
    predictor_predict(ps->p, ps->x, ps->present, ps->proba, &out);
    if (predictor_classes(ps->p) == 0)
        printf("%.17g\n", out.value);
    else
        printf("%s,%.17g\n", predictor_class_label(ps->p, out.label),
               out.value);
}

static int predict_main(const char *path)
{
    struct predict_state *ps = calloc(1, sizeof(*ps));
    char *line = malloc(PREDICT_LINE_MAX);
    char **field = calloc(PREDICT_MAX_COLS, sizeof(*field));
    struct predictor *p = NULL;
    uint8_t *buf = NULL;
    size_t len = 0, i, nf;
    int rc = -ENOMEM;

    if (ps == NULL || line == NULL || field == NULL ||
        (rc = read_all(path, &buf, &len)) != 0 ||
        (rc = predictor_load(&p, buf, len)) != 0) {
        fprintf(stderr, "weir: predict: %s: %s\n", path, strerror(-rc));
        goto out;
    }
    nf = predictor_features(p);
    ps->p = p;
    ps->x = calloc(nf + 1, sizeof(*ps->x));
    ps->present = calloc(nf + 1, 1);
    ps->proba = calloc(predictor_classes(p) + 1, sizeof(*ps->proba));
    rc = -EINVAL;
    if (ps->x == NULL || ps->present == NULL || ps->proba == NULL ||
        fgets(line, PREDICT_LINE_MAX, stdin) == NULL) {
        fprintf(stderr, "weir: predict: no CSV header on stdin (the model's "
                        "features are named in `weir inspect`)\n");
        goto out;
    }
    ps->ncols = split(line, field, PREDICT_MAX_COLS);
    for (i = 0; i < ps->ncols; i++)
        ps->col_feature[i] = predictor_feature_index(p, field[i]);
    puts(predictor_classes(p) == 0 ? "prediction" : "label,probability");
    while (fgets(line, PREDICT_LINE_MAX, stdin) != NULL)
        predict_row(ps, field, split(line, field, PREDICT_MAX_COLS));
    rc = 0;
out:
    if (ps != NULL) {
        free(ps->x);
        free(ps->present);
        free(ps->proba);
    }
    predictor_free(p);
    free(buf);
    free(field);
    free(line);
    free(ps);
    return rc == 0 ? 0 : EXIT_RUN;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage(stdout);
        return 0;
    }
    if (argc >= 2 && !strcmp(argv[1], "--version")) {
        printf("weir %s\n", WEIR_VERSION);
        return 0;
    }
    if (argc == 3 && (!strcmp(argv[1], "-c") || !strcmp(argv[1], "--config")))
        return run_daemon(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "check-config"))
        return check_config(argv[2]);
    if (argc >= 2 && !strcmp(argv[1], "replay"))
        return replay_main(argc - 1, argv + 1);
    if (argc == 3 && !strcmp(argv[1], "inspect"))
        return inspect_main(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "predict"))
        return predict_main(argv[2]);
    usage(stderr);
    return EXIT_USAGE;
}
