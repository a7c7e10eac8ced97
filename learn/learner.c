/* learner.c -- prequential orchestration of candidates, baselines, windows,
 * the test stream, drift detection and snapshots for one task.
 *
 * The contract is in learner.h; this essay is about the implementation.
 *
 * Per-row path. A training row costs one scaler pass (the shared scaler:
 * every candidate sees the same z, so scaling is paid once, not per
 * candidate), the two baselines (array loads), and per candidate a predict,
 * one metrics_add and a model_update. Classification fuses predict, score
 * and update per candidate, so z stays in L1 and the loop touches each
 * model once; regression needs two passes because the target scaler must
 * take y between predicting (old statistics) and training (new ones).
 * Nothing on the path allocates, formats or branches on configuration more
 * than once per candidate. Cumulative figures ("since the start") are not
 * accumulated per row: a window's accumulator is merged into them when the
 * window closes (metrics are sums, merge is exact), which halves the
 * per-row metrics cost. For the same reason the served accumulator (what
 * the learner's own predictions scored) is the champion's window
 * accumulator merged at each rotation: the champion is fixed while a
 * window is open.
 *
 * Test stream. splitmix64 of (series, seq, salt) compared with
 * test_fraction * 2^64: a row's fate depends on its identity only, not on
 * arrival order, load or restarts, so a QoS 1 redelivery of a test row is
 * a test row again, and a replay picks the same rows.
 *
 * Ranking and flapping are described in learner.h. Scores that are NaN
 * (an empty window, log loss without probabilities) rank as +Inf.
 *
 * Snapshot version: a snapshot differs from the previous one iff rows were
 * seen or a window closed since, or the champion changed; only then is the
 * version bumped. So the version is monotonic and identical content keeps
 * its number.
 *
 * Checkpoint layout (learner_save), all integers little-endian, doubles as
 * their IEEE-754 bits in a u64:
 *     u8[8]  magic "WEIRLRN\0"
 *     u32    layout version (LEARNER_LAYOUT_VERSION)
 *     u32    model state layout (MODEL_STATE_VERSION)
 *     u64    configuration fingerprint (FNV-1a over every setting that
 *            shapes the state: kind, features, indicators, classes,
 *            candidates and their parameters, windows, test stream,
 *            detectors, history length, series)
 *     u64    payload length P
 *     u8[P]  payload: the sections below, in this order
 *     u32    CRC-32 (zlib) of everything before it
 * Payload sections: learner counters and window/champion state; the
 * scaler (per column count, mean, m2) and the target scaler; per candidate
 * its model state (u64 length, then the doubles of model_state_get) and
 * its three accumulators; per baseline its state (see baseline_save()
 * below) and three accumulators; the served accumulator; the detectors
 * (every field of struct drift_adwin / drift_ph, in declaration order);
 * the history ring. An accumulator is its fields in declaration order
 * with only the K x K corner of the confusion matrix.
 *
 * Threads: none; see learner.h. */
#include "learn/learner.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "learn/baseline.h"
#include "learn/scaler.h"

#define LEARNER_LAYOUT_VERSION 1u
#define LEARNER_MAGIC "WEIRLRN"
#define STACK_INPUTS 512 /* learner_predict: inputs on the stack */

/* ---- Types --------------------------------------------------------------- */

struct cand {
    struct model *m;                 /* The model; owned. */
    struct model_params p;           /* Its hyper-parameters. */
    char name[LEARNER_NAME_MAX + 1]; /* Configured or generated name. */
    bool logistic;                   /* MODEL_LOGISTIC: one output, p = P(1). */
    struct metrics win;              /* Open window, training rows. */
    struct metrics all;              /* Closed windows, merged. */
    struct metrics test;             /* Test rows since the start. */
};

struct base {
    struct baseline *b;  /* Owned. */
    struct metrics win;  /* Open window. */
    struct metrics all;  /* Closed windows, merged. */
    struct metrics test; /* Test rows. */
};

/* A history slot; its figures live in learner.hist_res. */
struct hist {
    uint64_t id;
    int64_t start_ms;
    int64_t end_ms;
    uint64_t rows;
    uint64_t test_rows;
    uint64_t champion;
    uint64_t next_champion;
    uint64_t drift;
};

struct learner {
    struct learner_config cfg; /* Copy; pointers below replace its own. */
    char *task;                /* Owned copy, or NULL. */
    char *target;              /* Owned copy, or NULL. */
    char **feature_names;      /* [n] owned. */
    char **class_labels;       /* [K] owned (classification). */
    bool *indicator;           /* [n] owned. */
    size_t n;                  /* Features. */
    size_t width;              /* Model inputs: n + indicators. */
    size_t k;                  /* Classes, 0 for regression. */
    enum metrics_kind mkind;   /* Accumulator kind. */
    uint64_t test_cut;         /* Rows hashing below this are test. */

    struct scaler *sc;  /* Shared feature scaler. */
    struct scaler *ysc; /* Target scaler (regression), or NULL. */
    size_t nc;          /* Candidates. */
    struct cand *c;     /* [nc]. */
    struct base bl[LEARNER_BASELINES]; /* no-change, mean/majority. */
    struct metrics served;             /* Champion of each closed window. */
    double *z;                         /* [width] scratch of the row path. */
    double *proba;                     /* [max(k, 2)] scratch. */

    size_t champion;    /* Index into c. */
    bool provisional;   /* No window has ranked yet. */
    double champ_score; /* Its score on the last ranked window. */
    bool published;     /* champ_score was reported once. */

    uint64_t win_id;   /* Open window's id. */
    uint64_t win_rows; /* Its training rows. */
    uint64_t win_test; /* Test rows while it was open. */
    uint64_t win_len;  /* Current length (rows or ms). */
    int64_t win_start; /* TIME: nominal start; ROWS: unused. */
    int64_t first_ts;  /* Data time of its first row. */
    int64_t last_ts;   /* ...and of the last one. */
    bool win_open;     /* It has had a row. */
    bool win_drift;    /* A drift was detected in it. */

    struct drift_adwin adwin; /* If detector has ADWIN. */
    struct drift_ph ph;       /* If detector has Page-Hinkley. */
    enum drift_state dstate;  /* Last state of the detectors. */

    size_t hist_cap;                 /* history_len. */
    size_t hist_n;                   /* Slots used. */
    size_t hist_head;                /* Next slot to write. */
    struct hist *hist;               /* [hist_cap]. */
    struct metrics_result *hist_res; /* [hist_cap][nc + baselines]. */

    struct learner_stats st; /* Counters. */
    uint64_t snap_version;   /* Version of the last snapshot. */
    uint64_t snap_rows;      /* st.rows when it was taken. */
    uint64_t snap_windows;   /* st.windows when it was taken. */
    uint64_t snap_champion;  /* champion when it was taken. */
    int64_t now_ms;          /* Latest data time seen. */
    bool started;            /* A row has been seen (now_ms valid). */
};

/* ---- Small helpers ------------------------------------------------------- */

static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static bool row_is_test(const struct learner *l, const struct learner_row *r)
{
    uint64_t h;

    if (l->test_cut == 0)
        return false;
    h = mix64(r->seq ^ mix64((uint64_t)r->series ^ l->cfg.test_salt));
    return h < l->test_cut;
}

static const char *kind_name(enum model_kind k)
{
    switch (k) {
    case MODEL_LINEAR:
        return "linear";
    case MODEL_LOGISTIC:
        return "logistic";
    case MODEL_SOFTMAX:
        return "softmax";
    }
    return "unknown";
}

static const char *opt_name(enum model_optimizer o)
{
    switch (o) {
    case MODEL_SGD:
        return "sgd";
    case MODEL_ADAGRAD:
        return "adagrad";
    case MODEL_NORMALIZED:
        return "nag";
    }
    return "unknown";
}

static void candidate_name(const struct model_params *p, char *buf, size_t cap)
{
    if (p->optimizer == MODEL_SGD && p->power_t > 0)
        snprintf(buf, cap, "%s/%s/lr=%g/l2=%g/pt=%g", kind_name(p->kind),
                 opt_name(p->optimizer), p->learning_rate, p->l2, p->power_t);
    else
        snprintf(buf, cap, "%s/%s/lr=%g/l2=%g", kind_name(p->kind),
                 opt_name(p->optimizer), p->learning_rate, p->l2);
}

/* ---- Configuration ------------------------------------------------------- */

/* The default grid. Inputs are standardised, so one learning rate per
 * optimizer family is near its sweet spot and a second one covers fast
 * change: SGD at River's 0.01 and at 0.1 (tracks drift), AdaGrad at 0.1
 * and 0.5, NAG at VW's 0.5 and at 0.1; plus SGD 0.05 with a little L2
 * (1e-4), which is what keeps weights of collinear sensors (temperature,
 * humidity ratio...) from growing without bound. Seven candidates: enough
 * to span slow/fast and plain/adaptive, small enough that the grid costs
 * seven single-model learners. */
static const struct {
    enum model_optimizer opt;
    double lr;
    double l2;
} grid[] = {
    {MODEL_SGD, 0.01, 0.0},       {MODEL_SGD, 0.1, 0.0},
    {MODEL_ADAGRAD, 0.1, 0.0},    {MODEL_ADAGRAD, 0.5, 0.0},
    {MODEL_NORMALIZED, 0.5, 0.0}, {MODEL_NORMALIZED, 0.1, 0.0},
    {MODEL_SGD, 0.05, 1e-4},
};

size_t learner_default_grid(enum learner_task kind,
                            struct learner_candidate *out, size_t cap)
{
    size_t n = sizeof(grid) / sizeof(grid[0]);
    enum model_kind mk = kind == LEARNER_REGRESSION ? MODEL_LINEAR
                         : kind == LEARNER_BINARY   ? MODEL_LOGISTIC
                                                    : MODEL_SOFTMAX;

    for (size_t i = 0; i < n && i < cap; i++) {
        memset(&out[i], 0, sizeof(out[i]));
        model_params_default(&out[i].params, mk, grid[i].opt);
        out[i].params.learning_rate = grid[i].lr;
        out[i].params.l2 = grid[i].l2;
    }
    return n;
}

void learner_config_default(struct learner_config *c, enum learner_task kind,
                            size_t n_features, size_t n_classes)
{
    memset(c, 0, sizeof(*c));
    c->kind = kind;
    c->n_features = n_features;
    c->n_classes = kind == LEARNER_BINARY ? 2 : n_classes;
    c->max_series = 4096;
    c->window_mode = LEARNER_WINDOW_ROWS;
    c->window_rows = 1000;
    c->window_ms = 3600 * 1000;
    c->min_rank_rows = 30;
    c->rank = LEARNER_RANK_DEFAULT;
    c->min_margin_rel = 0.02;
    c->min_margin_abs = 1e-9;
    c->history_len = 8;
    c->publish_tolerance = 0.0;
    c->test_fraction = 0.05;
    c->test_salt = 0x77656972ULL; /* "weir" */
    c->detector = LEARNER_DETECT_ADWIN;
    drift_adwin_params_default(&c->adwin);
    drift_ph_params_default(&c->ph);
    c->drift_shrink = 0.25;
    c->min_window_rows = 100;
    c->min_window_ms = 60 * 1000;
}

static bool kind_suits(enum learner_task t, enum model_kind k)
{
    switch (t) {
    case LEARNER_REGRESSION:
        return k == MODEL_LINEAR;
    case LEARNER_BINARY:
        return k == MODEL_LOGISTIC || k == MODEL_SOFTMAX;
    case LEARNER_MULTICLASS:
        return k == MODEL_SOFTMAX;
    }
    return false;
}

static bool name_ok(const char *s)
{
    size_t n;

    if (s == NULL)
        return false;
    n = strnlen(s, LEARNER_NAME_MAX + 1);
    if (n == 0 || n > LEARNER_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

/* "?missing" is the suffix of indicator inputs (predictor.h). */
static bool reserved_name(const char *s)
{
    size_t n = strlen(s);

    return n >= 8 && strcmp(s + n - 8, "?missing") == 0;
}

static bool names_distinct(const char *const *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!name_ok(v[i]) || reserved_name(v[i]))
            return false;
        for (size_t j = 0; j < i; j++)
            if (strcmp(v[i], v[j]) == 0)
                return false;
    }
    return true;
}

static bool shape_ok(const struct learner_config *c)
{
    if (c->n_features < 1 || c->n_features > LEARNER_MAX_FEATURES)
        return false;
    if (c->kind == LEARNER_REGRESSION)
        return c->n_classes == 0;
    if (c->kind == LEARNER_BINARY)
        return c->n_classes == 2;
    if (c->kind == LEARNER_MULTICLASS)
        return c->n_classes >= 2 && c->n_classes <= LEARNER_MAX_CLASSES;
    return false;
}

static bool windows_ok(const struct learner_config *c)
{
    if (c->window_mode == LEARNER_WINDOW_ROWS) {
        if (c->window_rows < 1 || c->min_window_rows < 1)
            return false;
    } else if (c->window_mode == LEARNER_WINDOW_TIME) {
        if (c->window_ms < 1 || c->min_window_ms < 1)
            return false;
    } else {
        return false;
    }
    return c->history_len >= 1 && c->history_len <= LEARNER_MAX_HISTORY &&
           c->rank >= LEARNER_RANK_DEFAULT && c->rank <= LEARNER_RANK_MAE &&
           c->min_margin_rel >= 0 && c->min_margin_rel < 1 &&
           c->min_margin_abs >= 0 && isfinite(c->min_margin_abs) &&
           c->publish_tolerance >= 0 && isfinite(c->publish_tolerance);
}

static bool drift_ok(const struct learner_config *c)
{
    return c->detector >= LEARNER_DETECT_NONE &&
           c->detector <= LEARNER_DETECT_BOTH && c->drift_shrink > 0 &&
           c->drift_shrink <= 1 && c->test_fraction >= 0 &&
           c->test_fraction <= 0.5 && c->max_series >= 1 &&
           c->max_series <= BASELINE_MAX_SERIES;
}

static bool rank_suits(const struct learner_config *c)
{
    bool reg = c->kind == LEARNER_REGRESSION;

    switch (c->rank) {
    case LEARNER_RANK_ERROR:
    case LEARNER_RANK_LOG_LOSS:
        return !reg;
    case LEARNER_RANK_RMSE:
    case LEARNER_RANK_MAE:
        return reg;
    default:
        return true;
    }
}

static bool config_ok(const struct learner_config *c)
{
    if (!shape_ok(c) || !windows_ok(c) || !drift_ok(c) || !rank_suits(c) ||
        c->n_candidates > LEARNER_MAX_CANDIDATES ||
        (c->n_candidates > 0 && c->candidates == NULL))
        return false;
    if ((c->task != NULL && !name_ok(c->task)) ||
        (c->target != NULL && !name_ok(c->target)))
        return false;
    if (c->feature_names != NULL &&
        !names_distinct(c->feature_names, c->n_features))
        return false;
    if (c->class_labels != NULL &&
        !names_distinct(c->class_labels, c->n_classes))
        return false;
    for (size_t i = 0; i < c->n_candidates; i++)
        if (!kind_suits(c->kind, c->candidates[i].params.kind))
            return false;
    return true;
}

/* ---- Lifecycle ----------------------------------------------------------- */

/* v[i], or prefix followed by i when v is NULL; returns owned. */
static char *dup_or_default(const char *const *v, size_t i, const char *prefix)
{
    char buf[32];

    if (v != NULL)
        return strdup(v[i]);
    snprintf(buf, sizeof(buf), "%s%zu", prefix, i);
    return strdup(buf);
}

static int copy_names(struct learner *l, const struct learner_config *c)
{
    if ((c->task != NULL && (l->task = strdup(c->task)) == NULL) ||
        (c->target != NULL && (l->target = strdup(c->target)) == NULL))
        return -ENOMEM;
    l->feature_names = calloc(l->n, sizeof(*l->feature_names));
    l->indicator = calloc(l->n, sizeof(*l->indicator));
    l->class_labels = calloc(l->k + 1, sizeof(*l->class_labels));
    if (l->feature_names == NULL || l->indicator == NULL ||
        l->class_labels == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < l->n; i++) {
        l->feature_names[i] = dup_or_default(c->feature_names, i, "x");
        if (l->feature_names[i] == NULL)
            return -ENOMEM;
        l->indicator[i] = c->indicator == NULL || c->indicator[i];
    }
    for (size_t i = 0; i < l->k; i++)
        if ((l->class_labels[i] = dup_or_default(c->class_labels, i, "")) ==
            NULL)
            return -ENOMEM;
    return 0;
}

static int init_metrics(const struct learner *l, struct metrics *w,
                        struct metrics *a, struct metrics *t)
{
    if (metrics_init(w, l->mkind, l->k) < 0 ||
        metrics_init(a, l->mkind, l->k) < 0 ||
        metrics_init(t, l->mkind, l->k) < 0)
        return -EINVAL;
    return 0;
}

static int make_candidates(struct learner *l, const struct learner_config *c)
{
    struct learner_candidate def[LEARNER_MAX_CANDIDATES];
    const struct learner_candidate *src = c->candidates;
    int rc;

    l->nc = c->n_candidates;
    if (l->nc == 0) {
        l->nc = learner_default_grid(c->kind, def, LEARNER_MAX_CANDIDATES);
        src = def;
    }
    if ((l->c = calloc(l->nc, sizeof(*l->c))) == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < l->nc; i++) {
        struct cand *cd = &l->c[i];
        cd->p = src[i].params;
        if (src[i].name[0] != '\0')
            memcpy(cd->name, src[i].name, sizeof(cd->name));
        else
            candidate_name(&cd->p, cd->name, sizeof(cd->name));
        cd->name[LEARNER_NAME_MAX] = '\0';
        cd->logistic = cd->p.kind == MODEL_LOGISTIC;
        if ((rc = model_new(&cd->m, &cd->p, l->width, l->k)) < 0)
            return rc;
        if ((rc = init_metrics(l, &cd->win, &cd->all, &cd->test)) < 0)
            return rc;
    }
    for (size_t i = 0; i < l->nc; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(l->c[i].name, l->c[j].name) == 0)
                return -EINVAL;
    return 0;
}

static int make_baselines(struct learner *l, const struct learner_config *c)
{
    enum baseline_kind second = l->k == 0 ? BASELINE_MEAN : BASELINE_MAJORITY;
    int rc;

    if ((rc = baseline_new(&l->bl[0].b, BASELINE_NO_CHANGE, l->k,
                           c->max_series)) < 0 ||
        (rc = baseline_new(&l->bl[1].b, second, l->k, 1)) < 0)
        return rc;
    for (size_t b = 0; b < LEARNER_BASELINES; b++)
        if ((rc = init_metrics(l, &l->bl[b].win, &l->bl[b].all,
                               &l->bl[b].test)) < 0)
            return rc;
    return metrics_init(&l->served, l->mkind, l->k);
}

static int make_detectors(struct learner *l, const struct learner_config *c)
{
    if (drift_adwin_init(&l->adwin, &c->adwin) < 0 ||
        drift_ph_init(&l->ph, &c->ph) < 0)
        return -EINVAL;
    return 0;
}

static int make_state(struct learner *l, const struct learner_config *c)
{
    int rc;

    if ((rc = scaler_new(&l->sc, l->n, l->indicator)) < 0)
        return rc;
    l->width = scaler_width(l->sc);
    if (l->k == 0) {
        bool no = false;
        if ((rc = scaler_new(&l->ysc, 1, &no)) < 0)
            return rc;
    }
    if ((rc = make_candidates(l, c)) < 0 || (rc = make_baselines(l, c)) < 0 ||
        (rc = make_detectors(l, c)) < 0)
        return rc;
    l->z = calloc(l->width, sizeof(*l->z));
    l->proba = calloc(l->k > 2 ? l->k : 2, sizeof(*l->proba));
    l->hist_cap = c->history_len;
    l->hist = calloc(l->hist_cap, sizeof(*l->hist));
    l->hist_res =
        calloc(l->hist_cap * (l->nc + LEARNER_BASELINES), sizeof(*l->hist_res));
    if (l->z == NULL || l->proba == NULL || l->hist == NULL ||
        l->hist_res == NULL)
        return -ENOMEM;
    return 0;
}

int learner_new(struct learner **out, const struct learner_config *cfg)
{
    struct learner *l;
    int rc;

    if (out == NULL || cfg == NULL || !config_ok(cfg))
        return -EINVAL;
    if ((l = calloc(1, sizeof(*l))) == NULL)
        return -ENOMEM;
    l->cfg = *cfg;
    l->n = cfg->n_features;
    l->k = cfg->kind == LEARNER_REGRESSION ? 0 : cfg->n_classes;
    l->mkind = l->k == 0 ? METRICS_REGRESSION : METRICS_CLASSIFICATION;
    l->test_cut = (uint64_t)(cfg->test_fraction * 18446744073709551616.0);
    if ((rc = copy_names(l, cfg)) < 0 || (rc = make_state(l, cfg)) < 0) {
        learner_free(l);
        return rc;
    }
    /* The copy must not keep the caller's pointers. */
    l->cfg.task = l->task;
    l->cfg.target = l->target;
    l->cfg.feature_names = (const char *const *)l->feature_names;
    l->cfg.class_labels = (const char *const *)l->class_labels;
    l->cfg.indicator = l->indicator;
    l->cfg.candidates = NULL;
    l->cfg.n_candidates = l->nc;
    l->win_len = cfg->window_mode == LEARNER_WINDOW_ROWS
                     ? cfg->window_rows
                     : (uint64_t)cfg->window_ms;
    l->provisional = true;
    *out = l;
    return 0;
}

void learner_free(struct learner *l)
{
    if (l == NULL)
        return;
    if (l->c != NULL)
        for (size_t i = 0; i < l->nc; i++)
            model_free(l->c[i].m);
    free(l->c);
    for (size_t b = 0; b < LEARNER_BASELINES; b++)
        baseline_free(l->bl[b].b);
    scaler_free(l->sc);
    scaler_free(l->ysc);
    if (l->feature_names != NULL)
        for (size_t i = 0; i < l->n; i++)
            free(l->feature_names[i]);
    if (l->class_labels != NULL)
        for (size_t i = 0; i < l->k; i++)
            free(l->class_labels[i]);
    free(l->feature_names);
    free(l->class_labels);
    free(l->indicator);
    free(l->task);
    free(l->target);
    free(l->z);
    free(l->proba);
    free(l->hist);
    free(l->hist_res);
    free(l);
}

/* ---- Ranking and rotation ------------------------------------------------ */

static double finite_or_inf(double v)
{
    return isnan(v) ? INFINITY : v;
}

/* Primary and secondary score of one window's figures (lower is better). */
static void score_of(const struct learner *l, const struct metrics_result *r,
                     double *s1, double *s2)
{
    enum learner_rank rk = l->cfg.rank;

    if (rk == LEARNER_RANK_DEFAULT)
        rk = l->k > 0 ? LEARNER_RANK_ERROR : LEARNER_RANK_RMSE;
    switch (rk) {
    case LEARNER_RANK_LOG_LOSS:
        *s1 = r->log_loss;
        *s2 = 1.0 - r->accuracy;
        break;
    case LEARNER_RANK_RMSE:
        *s1 = r->rmse;
        *s2 = r->mae;
        break;
    case LEARNER_RANK_MAE:
        *s1 = r->mae;
        *s2 = r->rmse;
        break;
    default:
        *s1 = 1.0 - r->accuracy;
        *s2 = r->log_loss;
        break;
    }
    *s1 = finite_or_inf(*s1);
    *s2 = finite_or_inf(*s2);
}

/* The best candidate of a window: lowest primary score, then lowest
 * secondary, then lowest index. */
static size_t best_of(const struct learner *l, const struct metrics_result *r)
{
    size_t best = 0;
    double b1;
    double b2;

    score_of(l, &r[0], &b1, &b2);
    for (size_t i = 1; i < l->nc; i++) {
        double s1;
        double s2;
        score_of(l, &r[i], &s1, &s2);
        if (s1 < b1 || (s1 == b1 && s2 < b2)) {
            best = i;
            b1 = s1;
            b2 = s2;
        }
    }
    return best;
}

/* The champion after a window with figures r (see learner.h). */
static size_t choose(struct learner *l, const struct metrics_result *r)
{
    size_t best = best_of(l, r);
    double c1;
    double b1;
    double unused;
    double margin;

    if (l->provisional) {
        l->provisional = false;
        return best;
    }
    score_of(l, &r[l->champion], &c1, &unused);
    score_of(l, &r[best], &b1, &unused);
    margin = fmax(l->cfg.min_margin_abs, l->cfg.min_margin_rel * c1);
    if (isinf(c1) && !isinf(b1))
        return best;
    return b1 < c1 - margin ? best : l->champion;
}

static void reset_detectors(struct learner *l)
{
    drift_adwin_reset(&l->adwin);
    drift_ph_reset(&l->ph);
    l->dstate = DRIFT_NONE;
}

/* Merge the closed window's accumulators into the running ones and empty
 * them; old is the champion that served the window. */
static void fold_window(struct learner *l, size_t old)
{
    metrics_merge(&l->served, &l->c[old].win);
    for (size_t i = 0; i < l->nc; i++) {
        metrics_merge(&l->c[i].all, &l->c[i].win);
        metrics_reset(&l->c[i].win);
    }
    for (size_t b = 0; b < LEARNER_BASELINES; b++) {
        metrics_merge(&l->bl[b].all, &l->bl[b].win);
        metrics_reset(&l->bl[b].win);
    }
}

/* Decide whether the rotation asks for a snapshot, and remember the
 * champion's score for the next decision. */
static void decide_publish(struct learner *l, const struct metrics_result *r,
                           bool changed, struct learner_out *out)
{
    double s1;
    double s2;
    bool moved;

    score_of(l, &r[l->champion], &s1, &s2);
    moved = !l->published ||
            (s1 != l->champ_score &&
             !(fabs(s1 - l->champ_score) <= l->cfg.publish_tolerance));
    if (changed || moved) {
        out->publish = true;
        l->champ_score = s1;
        l->published = true;
    }
}

static void rotate(struct learner *l, struct learner_out *out)
{
    size_t per = l->nc + LEARNER_BASELINES;
    struct hist *h = &l->hist[l->hist_head];
    struct metrics_result *r = l->hist_res + l->hist_head * per;
    size_t old = l->champion;
    bool ranked = l->win_rows >= l->cfg.min_rank_rows && l->win_rows > 0;

    for (size_t i = 0; i < l->nc; i++)
        metrics_result(&l->c[i].win, &r[i]);
    for (size_t b = 0; b < LEARNER_BASELINES; b++)
        metrics_result(&l->bl[b].win, &r[l->nc + b]);
    if (ranked)
        l->champion = choose(l, r);
    fold_window(l, old);
    *h = (struct hist){l->win_id,   l->first_ts, l->last_ts,  l->win_rows,
                       l->win_test, old,         l->champion, l->win_drift};
    l->hist_head = (l->hist_head + 1) % l->hist_cap;
    if (l->hist_n < l->hist_cap)
        l->hist_n++;
    out->rotated = true;
    if (l->champion != old) {
        out->champion_changed = true;
        l->st.champion_changes++;
        reset_detectors(l);
    }
    if (ranked)
        decide_publish(l, r, l->champion != old, out);
    if (!l->win_drift) {
        uint64_t base = l->cfg.window_mode == LEARNER_WINDOW_ROWS
                            ? l->cfg.window_rows
                            : (uint64_t)l->cfg.window_ms;
        l->win_len = l->win_len > base / 2 ? base : l->win_len * 2;
    }
    l->st.windows++;
    l->win_id++;
    l->win_rows = 0;
    l->win_test = 0;
    l->win_drift = false;
}

static bool window_empty(const struct learner *l)
{
    return l->win_rows == 0 && l->win_test == 0;
}

/* TIME mode: close the window if ts is past its end and move its start
 * along the grid of window lengths to the one holding ts. */
static void advance_time(struct learner *l, int64_t ts, struct learner_out *o)
{
    int64_t end = l->win_start + (int64_t)l->win_len;
    int64_t len;

    if (ts < end)
        return;
    if (!window_empty(l))
        rotate(l, o);
    len = (int64_t)l->win_len;
    l->win_start = end + ((ts - end) / len) * len;
}

/* ---- The row path -------------------------------------------------------- */

static bool label_ok(const struct learner *l, double y, size_t *cls)
{
    if (!isfinite(y))
        return false;
    if (l->k == 0)
        return true;
    if (y < 0 || y >= (double)l->k || y != floor(y))
        return false;
    *cls = (size_t)y;
    return true;
}

static uint64_t count_missing(const struct learner *l,
                              const struct learner_row *r)
{
    uint64_t miss = 0;

    for (size_t i = 0; i < l->n; i++)
        miss += (r->present != NULL && !r->present[i]) || !isfinite(r->x[i]);
    return miss;
}

/* Candidate c's class for z, the probability of true class y and of the
 * predicted class. */
static inline size_t predict_class(const struct learner *l,
                                   const struct cand *c, const double *z,
                                   size_t y, double *p_true, double *p_hat)
{
    size_t k;

    if (c->logistic) {
        double p = model_predict(c->m, z);
        k = p > 0.5 ? 1 : 0;
        *p_true = y == 1 ? p : 1.0 - p;
        *p_hat = k == 1 ? p : 1.0 - p;
        return k;
    }
    k = model_predict_proba(c->m, z, l->proba);
    *p_true = l->proba[y];
    *p_hat = l->proba[k];
    return k;
}

/* The no-change baseline's class, or -1 before its first label (it then
 * abstains: it is not scored, as River's NoChangeClassifier). */
static long no_change_class(const struct learner *l, uint32_t series)
{
    if (baseline_rows(l->bl[0].b) == 0)
        return -1;
    return (long)baseline_predict(l->bl[0].b, series);
}

/* Score both baselines into acc0/acc1 for a classification row. */
static void score_baselines_class(struct learner *l, uint32_t series, size_t y,
                                  long y_nc, struct metrics *acc0,
                                  struct metrics *acc1)
{
    size_t k;

    if (y_nc >= 0)
        metrics_add_class(acc0, y, (size_t)y_nc, (size_t)y_nc == y ? 1.0 : 0.0,
                          y_nc);
    k = baseline_predict_proba(l->bl[1].b, series, l->proba);
    metrics_add_class(acc1, y, k, l->proba[y], y_nc);
}

static void set_out(struct learner_out *out, double y_hat, double p_hat)
{
    out->y_hat = y_hat;
    out->p_hat = p_hat;
}

static void feed_drift(struct learner *l, double loss,
                       const struct learner_row *r, struct learner_out *out);

static void train_class(struct learner *l, const struct learner_row *r,
                        size_t y, struct learner_out *out)
{
    long y_nc = no_change_class(l, r->series);
    double loss = 0.0;

    score_baselines_class(l, r->series, y, y_nc, &l->bl[0].win, &l->bl[1].win);
    for (size_t i = 0; i < l->nc; i++) {
        struct cand *c = &l->c[i];
        double p_true;
        double p_hat;
        size_t k = predict_class(l, c, l->z, y, &p_true, &p_hat);
        metrics_add_class(&c->win, y, k, p_true, y_nc);
        if (i == l->champion) {
            set_out(out, (double)k, p_hat);
            loss = k == y ? 0.0 : 1.0;
        }
        if (model_update(c->m, l->z, (double)y) < 0)
            l->st.model_errors++;
    }
    for (size_t b = 0; b < LEARNER_BASELINES; b++)
        baseline_update(l->bl[b].b, r->series, (double)y);
    feed_drift(l, loss, r, out);
}

static void test_class(struct learner *l, const struct learner_row *r, size_t y,
                       struct learner_out *out)
{
    long y_nc = no_change_class(l, r->series);

    scaler_transform(l->sc, r->x, r->present, l->z);
    score_baselines_class(l, r->series, y, y_nc, &l->bl[0].test,
                          &l->bl[1].test);
    for (size_t i = 0; i < l->nc; i++) {
        struct cand *c = &l->c[i];
        double p_true;
        double p_hat;
        size_t k = predict_class(l, c, l->z, y, &p_true, &p_hat);
        metrics_add_class(&c->test, y, k, p_true, y_nc);
        if (i == l->champion)
            set_out(out, (double)k, p_hat);
    }
}

/* Regression: candidate c's prediction in target units, with the target
 * scaler's current statistics. */
static inline double predict_reg(const struct learner *l, const struct cand *c,
                                 const double *z)
{
    return scaler_unz(l->ysc, 0, model_predict(c->m, z));
}

static void score_baselines_reg(struct learner *l, uint32_t series, double y,
                                struct metrics *acc0, struct metrics *acc1)
{
    if (baseline_rows(l->bl[0].b) > 0)
        metrics_add_reg(acc0, y, baseline_predict(l->bl[0].b, series));
    metrics_add_reg(acc1, y, baseline_predict(l->bl[1].b, series));
}

/* The drift detectors' loss for a regression error: |e| / (|e| + sd). */
static double reg_loss(double e, double sd)
{
    e = fabs(e);
    if (!isfinite(e))
        return 1.0;
    if (sd > 0)
        return e / (e + sd);
    return e > 0 ? 1.0 : 0.0;
}

static void train_reg(struct learner *l, const struct learner_row *r,
                      struct learner_out *out)
{
    double sd = scaler_sd(l->ysc, 0);
    double loss = 0.0;
    double yz;

    score_baselines_reg(l, r->series, r->y, &l->bl[0].win, &l->bl[1].win);
    for (size_t i = 0; i < l->nc; i++) {
        double y_hat = predict_reg(l, &l->c[i], l->z);
        metrics_add_reg(&l->c[i].win, r->y, y_hat);
        if (i == l->champion) {
            set_out(out, y_hat, NAN);
            loss = reg_loss(r->y - y_hat, sd);
        }
    }
    scaler_update(l->ysc, &r->y, NULL);
    yz = scaler_z(l->ysc, 0, r->y);
    for (size_t i = 0; i < l->nc; i++)
        if (model_update(l->c[i].m, l->z, yz) < 0)
            l->st.model_errors++;
    for (size_t b = 0; b < LEARNER_BASELINES; b++)
        baseline_update(l->bl[b].b, r->series, r->y);
    feed_drift(l, loss, r, out);
}

static void test_reg(struct learner *l, const struct learner_row *r,
                     struct learner_out *out)
{
    scaler_transform(l->sc, r->x, r->present, l->z);
    score_baselines_reg(l, r->series, r->y, &l->bl[0].test, &l->bl[1].test);
    for (size_t i = 0; i < l->nc; i++) {
        double y_hat = predict_reg(l, &l->c[i], l->z);
        metrics_add_reg(&l->c[i].test, r->y, y_hat);
        if (i == l->champion)
            set_out(out, y_hat, NAN);
    }
}

static void shorten_window(struct learner *l)
{
    uint64_t floor_len = l->cfg.window_mode == LEARNER_WINDOW_ROWS
                             ? l->cfg.min_window_rows
                             : (uint64_t)l->cfg.min_window_ms;
    uint64_t len = (uint64_t)((double)l->win_len * l->cfg.drift_shrink);

    l->win_len = len > floor_len ? len : floor_len;
}

static void feed_drift(struct learner *l, double loss,
                       const struct learner_row *r, struct learner_out *out)
{
    enum drift_state a = DRIFT_NONE;
    enum drift_state p = DRIFT_NONE;
    struct drift_status s;

    if (l->cfg.detector & LEARNER_DETECT_ADWIN)
        a = drift_adwin_update(&l->adwin, loss);
    if (l->cfg.detector & LEARNER_DETECT_PH)
        p = drift_ph_update(&l->ph, loss);
    l->dstate = a > p ? a : p;
    if (l->dstate == DRIFT_WARNING)
        l->st.drift_warnings++;
    if (l->dstate != DRIFT_DETECTED)
        return;
    if (a == DRIFT_DETECTED)
        drift_adwin_status(&l->adwin, &s);
    else
        drift_ph_status(&l->ph, &s);
    out->drift = true;
    out->drift_event =
        (struct learner_drift){r->ts_ms,
                               DRIFT_DETECTED,
                               a == DRIFT_DETECTED ? "adwin" : "page_hinkley",
                               l->win_id,
                               l->st.rows,
                               s.mean_before,
                               s.mean_after};
    l->st.drift_detections++;
    l->win_drift = true;
    shorten_window(l);
}

static void out_clear(struct learner_out *out)
{
    memset(out, 0, sizeof(*out));
    out->y_hat = NAN;
    out->p_hat = NAN;
}

/* Note the row's time; in TIME mode close the window first if needed. */
static void enter_row(struct learner *l, int64_t ts, struct learner_out *out)
{
    if (!l->started) {
        l->started = true;
        l->win_start = ts;
        l->now_ms = ts;
    }
    if (l->cfg.window_mode == LEARNER_WINDOW_TIME)
        advance_time(l, ts, out);
    if (ts > l->now_ms)
        l->now_ms = ts;
}

/* After a training row: close the window if it is full (ROWS) or, in TIME
 * mode, if a drift shortened it below the time it already spans. */
static void maybe_close(struct learner *l, struct learner_out *out)
{
    if (l->cfg.window_mode == LEARNER_WINDOW_ROWS) {
        if (l->win_rows >= l->win_len)
            rotate(l, out);
    } else if (l->win_drift &&
               l->last_ts >= l->win_start + (int64_t)l->win_len) {
        rotate(l, out);
        l->win_start = l->last_ts;
    }
}

int learner_update(struct learner *l, const struct learner_row *r,
                   struct learner_out *out)
{
    struct learner_out scratch;
    size_t y = 0;

    if (out == NULL)
        out = &scratch;
    out_clear(out);
    l->st.rows++;
    enter_row(l, r->ts_ms, out);
    if (!label_ok(l, r->y, &y)) {
        l->st.bad_labels++;
        return -EINVAL;
    }
    if (window_empty(l))
        l->first_ts = r->ts_ms;
    l->last_ts = r->ts_ms;
    l->st.features_missing += count_missing(l, r);
    if (row_is_test(l, r)) {
        out->test = true;
        l->st.rows_test++;
        l->win_test++;
        if (l->k > 0)
            test_class(l, r, y, out);
        else
            test_reg(l, r, out);
        return 0;
    }
    l->st.rows_trained++;
    scaler_update_transform(l->sc, r->x, r->present, l->z);
    if (l->k > 0)
        train_class(l, r, y, out);
    else
        train_reg(l, r, out);
    l->win_rows++;
    maybe_close(l, out);
    return 0;
}

bool learner_advance(struct learner *l, int64_t now_ms, struct learner_out *out)
{
    struct learner_out scratch;

    if (out == NULL)
        out = &scratch;
    out_clear(out);
    if (l->cfg.window_mode != LEARNER_WINDOW_TIME || !l->started)
        return false;
    advance_time(l, now_ms, out);
    return out->rotated;
}

bool learner_rotate(struct learner *l, struct learner_out *out)
{
    struct learner_out scratch;

    if (out == NULL)
        out = &scratch;
    out_clear(out);
    if (window_empty(l))
        return false;
    rotate(l, out);
    if (l->cfg.window_mode == LEARNER_WINDOW_TIME)
        l->win_start = l->last_ts;
    return true;
}

/* ---- Prediction ---------------------------------------------------------- */

double learner_predict(const struct learner *l, const double *x,
                       const uint8_t *present, double *proba)
{
    double stack[STACK_INPUTS];
    double tmp[LEARNER_MAX_CLASSES];
    double *z = stack;
    double *heap = NULL;
    const struct cand *c = &l->c[l->champion];
    double v;

    if (l->width > STACK_INPUTS) {
        if ((heap = calloc(l->width, sizeof(*heap))) == NULL)
            return NAN;
        z = heap;
    }
    scaler_transform(l->sc, x, present, z);
    if (l->k == 0)
        v = scaler_unz(l->ysc, 0, model_predict(c->m, z));
    else
        v = (double)model_predict_proba(c->m, z, proba ? proba : tmp);
    free(heap);
    return v;
}

/* ---- Introspection ------------------------------------------------------- */

size_t learner_candidates(const struct learner *l)
{
    return l->nc;
}

const char *learner_candidate_name(const struct learner *l, size_t i)
{
    return i < l->nc ? l->c[i].name : NULL;
}

void learner_candidate_params(const struct learner *l, size_t i,
                              struct model_params *out)
{
    if (i < l->nc)
        *out = l->c[i].p;
}

size_t learner_champion(const struct learner *l)
{
    return l->champion;
}

uint64_t learner_window_id(const struct learner *l)
{
    return l->win_id;
}

uint64_t learner_window_length(const struct learner *l)
{
    return l->win_len;
}

void learner_stats(const struct learner *l, struct learner_stats *out)
{
    *out = l->st;
}

enum drift_state learner_drift_state(const struct learner *l)
{
    return l->dstate;
}

size_t learner_history_len(const struct learner *l)
{
    return l->hist_n;
}

bool learner_history(const struct learner *l, size_t i,
                     struct learner_window *out)
{
    size_t slot;
    const struct hist *h;

    if (i >= l->hist_n)
        return false;
    slot = (l->hist_head + l->hist_cap - 1 - i) % l->hist_cap;
    h = &l->hist[slot];
    out->id = h->id;
    out->start_ms = h->start_ms;
    out->end_ms = h->end_ms;
    out->rows = h->rows;
    out->test_rows = h->test_rows;
    out->champion = (size_t)h->champion;
    out->next_champion = (size_t)h->next_champion;
    out->drift = h->drift != 0;
    out->candidates = l->hist_res + slot * (l->nc + LEARNER_BASELINES);
    out->baselines = out->candidates + l->nc;
    return true;
}

int learner_metrics(const struct learner *l, size_t i, enum learner_scope scope,
                    struct metrics_result *out)
{
    const struct metrics *win;
    const struct metrics *all;
    const struct metrics *test;
    struct metrics sum;

    if (i < l->nc) {
        win = &l->c[i].win;
        all = &l->c[i].all;
        test = &l->c[i].test;
    } else if (i >= LEARNER_BASELINE_BASE &&
               i < LEARNER_BASELINE_BASE + LEARNER_BASELINES) {
        win = &l->bl[i - LEARNER_BASELINE_BASE].win;
        all = &l->bl[i - LEARNER_BASELINE_BASE].all;
        test = &l->bl[i - LEARNER_BASELINE_BASE].test;
    } else {
        return -EINVAL;
    }
    switch (scope) {
    case LEARNER_SCOPE_WINDOW:
        metrics_result(win, out);
        return 0;
    case LEARNER_SCOPE_ALL:
        sum = *all;
        metrics_merge(&sum, win);
        metrics_result(&sum, out);
        return 0;
    case LEARNER_SCOPE_TEST:
        metrics_result(test, out);
        return 0;
    }
    return -EINVAL;
}

void learner_served(const struct learner *l, struct metrics_result *out)
{
    struct metrics sum = l->served;

    metrics_merge(&sum, &l->c[l->champion].win);
    metrics_result(&sum, out);
}

const char *learner_baseline_name(const struct learner *l, size_t b)
{
    if (b == 0)
        return "no_change";
    if (b == 1)
        return l->k == 0 ? "mean" : "majority";
    return NULL;
}

/* ---- Snapshots ----------------------------------------------------------- */

uint64_t learner_snapshot_version(const struct learner *l)
{
    return l->snap_version;
}

static void to_snapshot_metrics(const struct metrics_result *r,
                                struct snapshot_metrics *m)
{
    m->rows = r->rows;
    m->mae = r->mae;
    m->rmse = r->rmse;
    m->r2 = r->r2;
    m->accuracy = r->accuracy;
    m->log_loss = r->log_loss;
    m->macro_f1 = r->macro_f1;
    m->kappa = r->kappa;
    m->kappa_temporal = r->kappa_temporal;
}

/* Input names: features, then "<feature>?missing" for each indicator, in
 * the scaler's column order. */
static int snap_inputs(const struct learner *l, struct snapshot *s)
{
    char buf[SNAPSHOT_NAME_MAX + 1];
    struct scaler_col col;

    for (size_t i = 0; i < l->n; i++) {
        long ind = scaler_indicator_col(l->sc, i);
        if (snapshot_set_string(&s->feature_names[i], l->feature_names[i]))
            return -ENOMEM;
        scaler_col_get(l->sc, i, &col);
        s->feature_scaler[i] =
            (struct snapshot_scaler){col.count, col.mean, col.m2};
        s->impute[i] = col.mean;
        if (ind < 0)
            continue;
        snprintf(buf, sizeof(buf), "%s?missing", l->feature_names[i]);
        if (snapshot_set_string(&s->feature_names[ind], buf) < 0)
            return -ENOMEM;
    }
    if (l->ysc != NULL) {
        scaler_col_get(l->ysc, 0, &col);
        s->has_target_scaler = true;
        s->target_scaler =
            (struct snapshot_scaler){col.count, col.mean, col.m2};
    }
    return 0;
}

/* HyperParams.extra: "power_t", and for NAG the per-input scales s_i that
 * model_predict() applies to inputs beyond them. */
static int snap_extra(const struct learner *l, const struct cand *c,
                      struct snapshot *s)
{
    size_t len = model_state_len(c->m);
    size_t wl = model_weights_len(c->m);
    double *st;

    if (snapshot_set_string(&s->extra[0].name, "power_t") < 0)
        return -ENOMEM;
    s->extra[0].value = c->p.power_t;
    if (s->n_extra == 1)
        return 0;
    if ((st = calloc(len, sizeof(*st))) == NULL)
        return -ENOMEM;
    model_state_get(c->m, st, len);
    for (size_t i = 0; i < l->width; i++) {
        char name[32];
        snprintf(name, sizeof(name), "nag_scale:%zu", i);
        if (snapshot_set_string(&s->extra[1 + i].name, name) < 0) {
            free(st);
            return -ENOMEM;
        }
        s->extra[1 + i].value = st[2 * wl + i];
    }
    free(st);
    return 0;
}

static int snap_labels(const struct learner *l, struct snapshot *s)
{
    for (size_t i = 0; i < s->n_classes; i++)
        if (snapshot_set_string(&s->class_labels[i], l->class_labels[i]) < 0)
            return -ENOMEM;
    for (size_t b = 0; b < LEARNER_BASELINES; b++)
        if (snapshot_set_string(&s->baseline_names[b],
                                learner_baseline_name(l, b)) < 0)
            return -ENOMEM;
    if (snapshot_set_string(&s->task, l->task) < 0 ||
        snapshot_set_string(&s->target, l->target) < 0 ||
        snapshot_set_string(&s->candidate, l->c[l->champion].name) < 0)
        return -ENOMEM;
    return 0;
}

static void snap_metrics(const struct learner *l, struct snapshot *s)
{
    struct learner_window w;
    struct metrics_result r;

    if (learner_history(l, 0, &w)) {
        to_snapshot_metrics(&w.candidates[l->champion], &s->validation);
        for (size_t b = 0; b < LEARNER_BASELINES; b++)
            to_snapshot_metrics(&w.baselines[b], &s->baselines[b]);
        s->window_id = w.id;
    }
    metrics_result(&l->c[l->champion].test, &r);
    to_snapshot_metrics(&r, &s->test);
}

static void bump_version(struct learner *l)
{
    if (l->snap_version == 0 || l->st.rows != l->snap_rows ||
        l->st.windows != l->snap_windows || l->champion != l->snap_champion) {
        l->snap_version++;
        l->snap_rows = l->st.rows;
        l->snap_windows = l->st.windows;
        l->snap_champion = l->champion;
    }
}

int learner_snapshot(struct learner *l, struct snapshot *s)
{
    const struct cand *c = &l->c[l->champion];
    size_t n_extra = 1;
    int rc;

    if (c->p.optimizer == MODEL_NORMALIZED)
        n_extra += l->width;
    rc = snapshot_alloc(s, l->width, (uint32_t)model_outputs(c->m), l->k,
                        LEARNER_BASELINES, n_extra);
    if (rc < 0)
        return rc;
    if ((rc = snap_inputs(l, s)) < 0 || (rc = snap_extra(l, c, s)) < 0 ||
        (rc = snap_labels(l, s)) < 0)
        goto out_close;
    model_weights_get(c->m, s->weights, model_weights_len(c->m));
    s->kind = (enum snapshot_kind)c->p.kind;
    s->optimizer = (enum snapshot_optimizer)c->p.optimizer;
    s->learning_rate = c->p.learning_rate;
    s->l2 = c->p.l2;
    snap_metrics(l, s);
    s->drift = (enum snapshot_drift)l->dstate;
    s->rows_trained = model_rows(c->m);
    bump_version(l);
    s->version = l->snap_version;
    s->created_at_ms = l->now_ms;
    return 0;
out_close:
    snapshot_close(s);
    return rc;
}

/* ---- Checkpoints and merge ----------------------------------------------- */

int learner_save(const struct learner *l, uint8_t **buf, size_t *len)
{
    (void)l;
    *buf = NULL;
    *len = 0;
    return -ENOSYS;
}

int learner_restore(struct learner *l, const uint8_t *buf, size_t len)
{
    (void)l;
    (void)buf;
    (void)len;
    return -ENOSYS;
}

int learner_merge(struct learner *dst, const struct learner *src)
{
    (void)dst;
    (void)src;
    return -ENOSYS;
}
