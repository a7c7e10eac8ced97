/* learner.c -- prequential orchestration of candidates, baselines, windows,
 * the test stream, drift detection and snapshots for one task.
 *
 * The contract is in learner.h; this essay is about the implementation.
 *
 * Per-row path. A training row costs one scaler pass (the shared scaler:
 * every candidate sees the same z, so scaling is paid once, not per
 * candidate; it also counts the missing values), the two baselines (one
 * baseline_learn() each: predict, then learn), and per candidate a
 * predict, one metrics_add and an update. Classification fuses predict,
 * score and update per candidate (model_learn_prefix()), so z stays in L1
 * and the loop touches each model once; regression needs two passes
 * because the target scaler must take y between predicting (old
 * statistics) and training (new ones). On a row with no missing feature
 * the indicator inputs are all 0 and the models visit only the features
 * (learn/model.h: bit for bit the same result), and the scaler does not
 * even write them (scaler_update_features(); z's indicator part is zeroed
 * once when a row with a missing value left it non-zero, so that all of z
 * stays valid for the other readers). Nothing on the path
 * allocates, formats or branches on configuration more than once per
 * candidate, nor branches on a prediction (argmax()). Cumulative figures
 * ("since the start") are not accumulated per row: a window's accumulator is
 * merged into them when the window closes (metrics are sums, merge is exact),
 * which halves the per-row metrics cost. For the same reason the served
 * accumulator (what the learner's own predictions scored) is the champion's
 * window accumulator merged at each rotation: the champion is fixed while a
 * window is open. What one row of bench_learn's one-candidate case costs
 * (callgrind, instructions; 1470 in all before, 1128 now): the scaler 235,
 * the model ~355 (exp included), this file's own bookkeeping ~200, ADWIN
 * ~145 (its scans included), the baselines ~72, the three accumulators
 * ~70. What brought it down: the log loss as a product (metrics.c: -236,
 * two logs per row), the scaler leaving the indicators alone (-9), the
 * label check and test hash without conversions or a second mix (-23),
 * ADWIN's lazy histogram (drift.c: -22), the baselines' class path (-29),
 * the accumulators' counters apart (-7), a logistic candidate's class as
 * one compare (-14) -- all bit for bit the same models and decisions (the
 * log loss itself excepted, in its last bits).
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
 * Payload sections (put_control ... put_history below, in this order):
 * learner counters and window, champion, recent-test, detector-block and
 * snapshot-version state; the scaler's and the target scaler's state
 * (scaler_state_get: per column count, mean, m2 and the tracked 1/sd, as
 * u64 length then doubles); per candidate its model state (the same, from
 * model_state_get) and its five accumulators (window, all, test, the two
 * recent-test spans); per baseline its state (baseline_state_get, written
 * sparsely: runs of zero words are counted, not stored, so the no-change
 * table costs only its labelled series) and its five accumulators; the
 * served and served-test accumulators; the detectors (every field of
 * struct drift_adwin / drift_ph, in declaration order, _Static_assert'ed
 * against their sizes); the history ring (all history_len slots). An
 * accumulator is its fields in declaration order with only the K x K
 * corner of the confusion matrix. Restoring checks every index and count
 * against the configuration and hands every module state to its own
 * setter, so a CRC-valid but wrong checkpoint is refused, not trusted.
 * Layout 3 (this one) adds a last section (put_tail): each accumulator's
 * pending log-loss product (learn/metrics.c), in the order above. Layout
 * 2 lacks it and is still read (its sums hold every row: products of 1).
 * Layout 2 differs from layout 1 in the scaler (1/sd added) and baseline
 * sections; a layout-1 checkpoint is refused with -EPROTONOSUPPORT (the
 * daemon then starts the task afresh).
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

#define LEARNER_LAYOUT_VERSION 3u
#define LEARNER_LAYOUT_OLDEST 2u /* still read */
#define LEARNER_MAGIC "WEIRLRN"

/* ---- Types --------------------------------------------------------------- */

/* The accumulators of one predictor (candidate or baseline). The recent
 * test figures are two accumulators used in turn, each for history_len
 * windows: their sum covers the last history_len to 2 history_len windows,
 * so a snapshot's test figure describes the current model, not its cold
 * start, in bounded memory. */
struct accs {
    struct metrics win;     /* Open window, training rows. */
    struct metrics all;     /* Closed windows, merged. */
    struct metrics test;    /* Test rows since the start. */
    struct metrics trec[2]; /* Recent test rows; trec_cur is filling. */
};
#define ACCS_N 5 /* accumulators in struct accs */

struct cand {
    struct model *m;                 /* The model; owned. */
    struct model_params p;           /* Its hyper-parameters. */
    char name[LEARNER_NAME_MAX + 1]; /* Configured or generated name. */
    bool logistic;                   /* MODEL_LOGISTIC: one output, p = P(1). */
    struct accs a;                   /* Its figures. */
};

struct base {
    struct baseline *b; /* Owned. */
    struct accs a;      /* Its figures. */
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
    double kd;                 /* k as a double, for label checks. */
    enum metrics_kind mkind;   /* Accumulator kind. */
    uint64_t test_cut;         /* Rows hashing below this are test. */
    bool hash_valid;           /* hash_mix is mix64(hash_series ^ salt). */
    uint32_t hash_series;      /* Series of the cached hash half. */
    uint64_t hash_mix;         /* Its mix, a pure function (no state). */

    struct scaler *sc;  /* Shared feature scaler. */
    struct scaler *ysc; /* Target scaler (regression), or NULL. */
    size_t nc;          /* Candidates. */
    struct cand *c;     /* [nc]. */
    struct base bl[LEARNER_BASELINES]; /* no-change, mean/majority. */
    struct metrics served;             /* Champion of each closed window. */
    struct metrics served_test; /* Test rows, by the champion of the day. */
    double *z;                  /* [width] scratch of the row path. */
    double *lossv;              /* [nc] scratch: each candidate's loss on
                                   the row (the ranking's primary one). */
    double *ev;                 /* [nc][4] paired evidence against the
                                   champion (learner.h, Rotation): sum d
                                   and sum d^2 over the open window's rows,
                                   then over the window before it. */
    uint64_t ev_prev_rows;      /* Rows of that window before (0: none). */
    enum learner_rank rank;     /* cfg.rank with DEFAULT resolved. */
    bool z_ind_zero;            /* Its indicator part is all 0. */
    double *proba;              /* [max(k, 2)] scratch. */

    size_t champion;    /* Index into c. */
    bool provisional;   /* No window has ranked yet. */
    double champ_score; /* Its score on the last ranked window. */
    bool published;     /* champ_score was reported once. */

    uint64_t win_id;       /* Open window's id. */
    uint64_t win_rows;     /* Its training rows. */
    uint64_t win_test;     /* Test rows while it was open. */
    uint32_t trec_cur;     /* Recent-test accumulator being filled. */
    uint64_t trec_windows; /* Windows closed since it started. */
    uint64_t win_len;      /* Current length (rows or ms). */
    int64_t win_start;     /* TIME: nominal start; ROWS: unused. */
    int64_t first_ts;      /* Data time of its first row. */
    int64_t last_ts;       /* ...and of the last one. */
    bool win_open;         /* It has had a row. */
    bool win_drift;        /* A drift was detected in it. */

    struct drift_adwin adwin;     /* If detector has ADWIN. */
    struct drift_ph ph;           /* If detector has Page-Hinkley. */
    enum drift_state dstate;      /* Last state of the detectors. */
    enum drift_state adwin_state; /* ADWIN state after its last block. */
    double block_sum;             /* Loss summed over the open block. */
    uint32_t block_n;             /* Rows in that block. */

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

/* The series' half of the hash is cached for the last series seen: rows
 * of one device come in runs (often a task has one device), and the cache
 * holds nothing but a pure function of (series, salt). */
static inline bool row_is_test(struct learner *l, const struct learner_row *r)
{
    if (l->test_cut == 0)
        return false;
    if (r->series != l->hash_series || !l->hash_valid) {
        l->hash_series = r->series;
        l->hash_mix = mix64((uint64_t)r->series ^ l->cfg.test_salt);
        l->hash_valid = true;
    }
    return mix64(r->seq ^ l->hash_mix) < l->test_cut;
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
    c->switch_z = 3.0;
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
    c->adwin_block = 1;
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
           c->switch_z >= 0 && isfinite(c->switch_z) &&
           c->publish_tolerance >= 0 && isfinite(c->publish_tolerance);
}

static bool drift_ok(const struct learner_config *c)
{
    return c->detector >= LEARNER_DETECT_NONE &&
           c->detector <= LEARNER_DETECT_BOTH && c->drift_shrink > 0 &&
           c->drift_shrink <= 1 && c->adwin_block >= 1 &&
           c->test_fraction >= 0 && c->test_fraction <= 0.5 &&
           c->max_series >= 1 && c->max_series <= BASELINE_MAX_SERIES;
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

/* The i-th accumulator of a (0..ACCS_N-1), for loops over all of them. */
static struct metrics *acc_at(struct accs *a, size_t i)
{
    struct metrics *v[ACCS_N] = {&a->win, &a->all, &a->test, &a->trec[0],
                                 &a->trec[1]};

    return v[i];
}

static const struct metrics *acc_at_c(const struct accs *a, size_t i)
{
    return acc_at((struct accs *)a, i);
}

static int init_accs(const struct learner *l, struct accs *a)
{
    for (size_t i = 0; i < ACCS_N; i++)
        if (metrics_init(acc_at(a, i), l->mkind, l->k) < 0)
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
        if ((rc = init_accs(l, &cd->a)) < 0)
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
        if ((rc = init_accs(l, &l->bl[b].a)) < 0)
            return rc;
    if (metrics_init(&l->served_test, l->mkind, l->k) < 0)
        return -EINVAL;
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
    l->z_ind_zero = true;
    l->lossv = calloc(l->nc, sizeof(*l->lossv));
    l->ev = calloc(4 * l->nc, sizeof(*l->ev));
    l->proba = calloc(l->k > 2 ? l->k : 2, sizeof(*l->proba));
    l->hist_cap = c->history_len;
    l->hist = calloc(l->hist_cap, sizeof(*l->hist));
    l->hist_res =
        calloc(l->hist_cap * (l->nc + LEARNER_BASELINES), sizeof(*l->hist_res));
    if (l->z == NULL || l->proba == NULL || l->hist == NULL ||
        l->hist_res == NULL || l->lossv == NULL || l->ev == NULL)
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
    l->kd = (double)l->k;
    l->rank = cfg->rank;
    if (l->rank == LEARNER_RANK_DEFAULT)
        l->rank = l->k > 0 ? LEARNER_RANK_ERROR : LEARNER_RANK_RMSE;
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
    free(l->lossv);
    free(l->ev);
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

/* Is candidate i better than the champion row by row, by switch_z
 * standard errors of the mean paired difference (learner.h, Rotation)?
 * With n rows, S1 = sum d, SS = sum (d - mean)^2 = sum d^2 - S1^2 / n:
 * z = -S1 / sqrt(n s^2), s^2 = SS / (n - 1). No difference at all, or a
 * mean of 0 or more, is not evidence; a constant negative d is. */
static bool significant(const struct learner *l, size_t i)
{
    const double *e = &l->ev[4 * i];
    double n = (double)(l->win_rows + l->ev_prev_rows);
    double s1 = e[0] + e[2];
    double ss;

    if (l->cfg.switch_z <= 0)
        return true;
    if (!(s1 < 0) || n < 2)
        return false;
    ss = (e[1] + e[3]) - s1 * s1 / n;
    if (!(ss > 0))
        return ss <= 0; /* every d equal (rounding may dip below 0) */
    return -s1 * sqrt((n - 1) / n) >= l->cfg.switch_z * sqrt(ss);
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
    return b1 < c1 - margin && significant(l, best) ? best : l->champion;
}

/* At a rotation: the closed window's evidence becomes the window before's,
 * unless the champion changed (the differences were against the old one)
 * or a drift was detected in it (its rows predate the change). */
static void roll_evidence(struct learner *l, bool changed)
{
    bool keep = !changed && !l->win_drift;

    for (size_t i = 0; i < l->nc; i++) {
        double *e = &l->ev[4 * i];
        e[2] = keep ? e[0] : 0.0;
        e[3] = keep ? e[1] : 0.0;
        e[0] = 0.0;
        e[1] = 0.0;
    }
    l->ev_prev_rows = keep ? l->win_rows : 0;
}

/* The row's paired differences against the champion (lossv filled). */
static inline void add_evidence(struct learner *l)
{
    double lc = l->lossv[l->champion];

    for (size_t i = 0; i < l->nc; i++) {
        double d = l->lossv[i] - lc;
        l->ev[4 * i] += d;
        l->ev[4 * i + 1] += d * d;
    }
}

static void reset_detectors(struct learner *l)
{
    drift_adwin_reset(&l->adwin);
    drift_ph_reset(&l->ph);
    l->dstate = DRIFT_NONE;
    l->adwin_state = DRIFT_NONE;
    l->block_sum = 0;
    l->block_n = 0;
}

/* Merge the closed window's accumulators into the running ones and empty
 * them; old is the champion that served the window. */
static void fold_accs(struct accs *a, bool flip, uint32_t next)
{
    metrics_merge(&a->all, &a->win);
    metrics_reset(&a->win);
    if (!flip)
        return;
    /* The older recent-test span leaves the recent pair for good. */
    metrics_merge(&a->test, &a->trec[next]);
    metrics_reset(&a->trec[next]);
}

static void fold_window(struct learner *l, size_t old)
{
    bool flip = ++l->trec_windows >= l->hist_cap;
    uint32_t next = l->trec_cur ^ 1u;

    metrics_merge(&l->served, &l->c[old].a.win);
    for (size_t i = 0; i < l->nc; i++)
        fold_accs(&l->c[i].a, flip, next);
    for (size_t b = 0; b < LEARNER_BASELINES; b++)
        fold_accs(&l->bl[b].a, flip, next);
    if (flip) {
        l->trec_cur = next;
        l->trec_windows = 0;
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
        metrics_result(&l->c[i].a.win, &r[i]);
    for (size_t b = 0; b < LEARNER_BASELINES; b++)
        metrics_result(&l->bl[b].a.win, &r[l->nc + b]);
    if (ranked)
        l->champion = choose(l, r);
    fold_window(l, old);
    *h = (struct hist){l->win_id,   l->first_ts, l->last_ts,  l->win_rows,
                       l->win_test, old,         l->champion, l->win_drift};
    l->hist_head = (l->hist_head + 1) % l->hist_cap;
    if (l->hist_n < l->hist_cap)
        l->hist_n++;
    out->rotated = true;
    roll_evidence(l, l->champion != old);
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
/* The open window's end in data time, saturating: timestamps are the
 * data's and may be anything. */
static int64_t window_end(const struct learner *l)
{
    if (l->win_len > (uint64_t)INT64_MAX ||
        l->win_start > INT64_MAX - (int64_t)l->win_len)
        return INT64_MAX;
    return l->win_start + (int64_t)l->win_len;
}

static void advance_time(struct learner *l, int64_t ts, struct learner_out *o)
{
    int64_t end = window_end(l);
    uint64_t gap;

    if (ts < end || end == INT64_MAX)
        return;
    if (!window_empty(l))
        rotate(l, o);
    /* ts >= end, so the difference fits in 64 unsigned bits, and the new
     * start (<= ts) in a signed one. */
    gap = (uint64_t)ts - (uint64_t)end;
    l->win_start = (int64_t)((uint64_t)end + gap / l->win_len * l->win_len);
}

/* ---- The row path -------------------------------------------------------- */

static inline bool label_ok(const struct learner *l, double y, size_t *cls)
{
    int64_t c;

    if (l->k == 0)
        return isfinite(y);
    /* In range first (false for NaN), so the cast is defined; then
     * integral (a cast and a compare instead of a call to floor()). */
    if (!(y >= 0 && y < l->kd))
        return false;
    c = (int64_t)y;
    *cls = (size_t)c; /* one instruction; the unsigned cast is not */
    return (double)c == y;
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

    /* No-change makes hard predictions: no probability, no log loss. */
    if (y_nc >= 0)
        metrics_add_class_checked(acc0, y, (size_t)y_nc, NAN, y_nc);
    /* Majority: its class, and only the probability of the true class
     * instead of all K. */
    k = (size_t)baseline_predict(l->bl[1].b, series);
    metrics_add_class_checked(acc1, y, k,
                              baseline_proba_of(l->bl[1].b, series, y), y_nc);
}

static void set_out(struct learner_out *out, double y_hat, double p_hat)
{
    out->y_hat = y_hat;
    out->p_hat = p_hat;
}

static inline void feed_drift(struct learner *l, double loss,
                              const struct learner_row *r,
                              struct learner_out *out);

/* The class a probability vector predicts: the most probable, lowest
 * index on ties (as model_predict_proba()). A select, not a branch: the
 * outcome is as random as the predictions, and a branch on it would be
 * resolved only at the end of the model's long chain of dependent flops
 * (dot product, exp, divide), discarding all the work fetched meanwhile
 * on every misprediction: measured, that cost more than the rest of the
 * bookkeeping. */
static inline size_t argmax(const double *p, size_t k)
{
    size_t best = 0;
    double top = p[0];

    for (size_t j = 1; j < k; j++) {
        size_t gt = p[j] > top; /* a set-on-compare */
        best ^= (best ^ j) & (0 - gt);
        top = p[j] > top ? p[j] : top; /* maxsd */
    }
    return best;
}

/* The training rows: z holds the row's model inputs, of which only the
 * first `head` can be non-zero (the features alone when none is missing:
 * the indicators are then all 0, and learn/model.h skips them). */
static void train_class(struct learner *l, const struct learner_row *r,
                        size_t y, size_t head, struct learner_out *out)
{
    double maj_p;
    long y_nc;
    long maj;
    double loss = 0.0;

    /* The baselines predict, are scored and learn in one call each (as
     * score_baselines_class() then baseline_update(): the candidates
     * never look at them). */
    y_nc = baseline_learn_class(l->bl[0].b, r->series, y, NULL);
    if (y_nc >= 0)
        metrics_add_class_checked(&l->bl[0].a.win, y, (size_t)y_nc, NAN, y_nc);
    maj = baseline_learn_class(l->bl[1].b, r->series, y, &maj_p);
    metrics_add_class_checked(&l->bl[1].a.win, y, (size_t)maj, maj_p, y_nc);
    for (size_t i = 0; i < l->nc; i++) {
        struct cand *c = &l->c[i];
        size_t k;
        /* One pass: the probabilities before training, then the step. */
        /* r->y is y as a double (label_ok()), without a conversion. */
        if (model_learn_prefix(c->m, l->z, head, r->y, l->proba) < 0)
            l->st.model_errors++;
        k = c->logistic ? (size_t)(l->proba[1] > l->proba[0])
                        : argmax(l->proba, l->k);
        metrics_add_class_checked(&c->a.win, y, k, l->proba[y], y_nc);
        /* no branch on k != y: see argmax() */
        if (l->nc > 1)
            l->lossv[i] = l->rank == LEARNER_RANK_LOG_LOSS
                              ? model_log_loss(l->proba[y])
                              : (double)(k != y);
        if (i == l->champion) {
            set_out(out, (double)(int64_t)k, l->proba[k]);
            loss = (double)(k != y);
        }
    }
    if (l->nc > 1)
        add_evidence(l);
    feed_drift(l, loss, r, out);
}

static void test_class(struct learner *l, const struct learner_row *r, size_t y,
                       struct learner_out *out)
{
    long y_nc = no_change_class(l, r->series);

    score_baselines_class(l, r->series, y, y_nc, &l->bl[0].a.trec[l->trec_cur],
                          &l->bl[1].a.trec[l->trec_cur]);
    for (size_t i = 0; i < l->nc; i++) {
        struct cand *c = &l->c[i];
        double p_true;
        double p_hat;
        size_t k = predict_class(l, c, l->z, y, &p_true, &p_hat);
        metrics_add_class_checked(&c->a.trec[l->trec_cur], y, k, p_true, y_nc);
        if (i == l->champion) {
            set_out(out, (double)k, p_hat);
            metrics_add_class_checked(&l->served_test, y, k, p_true, y_nc);
        }
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
                      size_t head, struct learner_out *out)
{
    double sd = scaler_sd(l->ysc, 0);
    bool nc_any = baseline_rows(l->bl[0].b) > 0;
    double pred;
    double loss = 0.0;
    double yz;

    /* Baselines: predict, score and learn in one call each. */
    baseline_learn(l->bl[0].b, r->series, r->y, &pred, NULL);
    if (nc_any)
        metrics_add_reg(&l->bl[0].a.win, r->y, pred);
    baseline_learn(l->bl[1].b, r->series, r->y, &pred, NULL);
    metrics_add_reg(&l->bl[1].a.win, r->y, pred);
    for (size_t i = 0; i < l->nc; i++) {
        double y_hat = predict_reg(l, &l->c[i], l->z);
        metrics_add_reg(&l->c[i].a.win, r->y, y_hat);
        l->lossv[i] = l->rank == LEARNER_RANK_MAE
                          ? fabs(r->y - y_hat)
                          : model_squared_error(r->y, y_hat);
        if (i == l->champion) {
            set_out(out, y_hat, NAN);
            loss = reg_loss(r->y - y_hat, sd);
        }
    }
    if (l->nc > 1)
        add_evidence(l);
    scaler_update(l->ysc, &r->y, NULL);
    yz = scaler_z(l->ysc, 0, r->y);
    for (size_t i = 0; i < l->nc; i++)
        if (model_learn_prefix(l->c[i].m, l->z, head, yz, NULL) < 0)
            l->st.model_errors++;
    feed_drift(l, loss, r, out);
}

static void test_reg(struct learner *l, const struct learner_row *r,
                     struct learner_out *out)
{
    score_baselines_reg(l, r->series, r->y, &l->bl[0].a.trec[l->trec_cur],
                        &l->bl[1].a.trec[l->trec_cur]);
    for (size_t i = 0; i < l->nc; i++) {
        double y_hat = predict_reg(l, &l->c[i], l->z);
        metrics_add_reg(&l->c[i].a.trec[l->trec_cur], r->y, y_hat);
        if (i == l->champion) {
            set_out(out, y_hat, NAN);
            metrics_add_reg(&l->served_test, r->y, y_hat);
        }
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

static inline void feed_drift(struct learner *l, double loss,
                              const struct learner_row *r,
                              struct learner_out *out)
{
    enum drift_state a = DRIFT_NONE;
    enum drift_state p = DRIFT_NONE;
    struct drift_status s;

    if (l->cfg.detector & LEARNER_DETECT_ADWIN) {
        l->block_sum += loss;
        if (++l->block_n >= l->cfg.adwin_block) {
            /* A block of one is its loss: no divide on the default path. */
            l->adwin_state = drift_adwin_update(
                &l->adwin, l->block_n == 1 ? l->block_sum
                                           : l->block_sum / (double)l->block_n);
            l->block_sum = 0;
            l->block_n = 0;
            a = l->adwin_state;
        } else if (l->adwin_state == DRIFT_WARNING) {
            a = DRIFT_WARNING; /* A warning lasts until the next block. */
        }
    }
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

/* Field by field: a memset of the whole struct (drift_event included,
 * which is only read when drift is set) costs more than the rest of the
 * bookkeeping of a row. */
static inline void out_clear(struct learner_out *out)
{
    out->test = false;
    out->y_hat = NAN;
    out->p_hat = NAN;
    out->rotated = false;
    out->publish = false;
    out->champion_changed = false;
    out->drift = false;
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
    } else if (l->win_drift && l->last_ts >= window_end(l)) {
        rotate(l, out);
        l->win_start = l->last_ts;
    }
}

int learner_update(struct learner *l, const struct learner_row *r,
                   struct learner_out *out)
{
    struct learner_out scratch;
    size_t y = 0;
    size_t miss;
    size_t head;

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
    if (row_is_test(l, r)) {
        out->test = true;
        l->st.rows_test++;
        l->win_test++;
        miss = scaler_transform(l->sc, r->x, r->present, l->z);
        l->st.features_missing += miss;
        l->z_ind_zero = miss == 0;
        if (l->k > 0)
            test_class(l, r, y, out);
        else
            test_reg(l, r, out);
        return 0;
    }
    l->st.rows_trained++;
    /* The indicators are written only if some value is missing; when none
     * is, they are zeroed only if a row before left them non-zero, so
     * that the whole of z stays valid (train_reg() predicts from it). */
    miss = scaler_update_features(l->sc, r->x, r->present, l->z);
    if (miss == 0 && !l->z_ind_zero)
        memset(l->z + l->n, 0, (l->width - l->n) * sizeof(*l->z));
    l->z_ind_zero = miss == 0;
    l->st.features_missing += miss;
    head = miss == 0 ? l->n : l->width;
    if (l->k > 0)
        train_class(l, r, y, head, out);
    else
        train_reg(l, r, head, out);
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

/* A scaler with src's layout and statistics whose 1/sd is recomputed
 * exactly from each column's (count, mean, m2), as in a scaler rebuilt from
 * a snapshot: learn/scaler.c tracks 1/sd by Newton steps between exact
 * refreshes, so the live one may differ in the last bits. Returns owned
 * (scaler_free), or NULL without memory. */
static struct scaler *exact_copy(const struct scaler *src, const bool *ind)
{
    struct scaler *s;
    struct scaler_col col;

    if (scaler_new(&s, scaler_features(src), ind) < 0)
        return NULL;
    for (size_t i = 0; i < scaler_features(src); i++) {
        scaler_col_get(src, i, &col);
        scaler_col_set(s, i, &col);
    }
    return s;
}

double learner_predict(const struct learner *l, const double *x,
                       const uint8_t *present, double *proba)
{
    double tmp[LEARNER_MAX_CLASSES];
    const struct cand *c = &l->c[l->champion];
    bool no = false;
    struct scaler *sc = exact_copy(l->sc, l->indicator);
    struct scaler *ysc = l->ysc ? exact_copy(l->ysc, &no) : NULL;
    double *z = calloc(l->width, sizeof(*z));
    double v = NAN;

    if (sc == NULL || z == NULL || (l->ysc != NULL && ysc == NULL))
        goto out_free;
    scaler_transform(sc, x, present, z);
    if (l->k == 0)
        v = scaler_unz(ysc, 0, model_predict(c->m, z));
    else
        v = (double)model_predict_proba(c->m, z, proba ? proba : tmp);
out_free:
    free(z);
    scaler_free(ysc);
    scaler_free(sc);
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

static const struct accs *accs_of(const struct learner *l, size_t i)
{
    if (i < l->nc)
        return &l->c[i].a;
    if (i >= LEARNER_BASELINE_BASE &&
        i < LEARNER_BASELINE_BASE + LEARNER_BASELINES)
        return &l->bl[i - LEARNER_BASELINE_BASE].a;
    return NULL;
}

/* The recent test figures: both spans of the pair. */
static void recent_test(const struct accs *a, struct metrics *sum)
{
    *sum = a->trec[0];
    metrics_merge(sum, &a->trec[1]);
}

int learner_metrics(const struct learner *l, size_t i, enum learner_scope scope,
                    struct metrics_result *out)
{
    const struct accs *a = accs_of(l, i);
    struct metrics sum;

    if (a == NULL)
        return -EINVAL;
    switch (scope) {
    case LEARNER_SCOPE_WINDOW:
        sum = a->win;
        break;
    case LEARNER_SCOPE_ALL:
        sum = a->all;
        metrics_merge(&sum, &a->win);
        break;
    case LEARNER_SCOPE_TEST:
        recent_test(a, &sum);
        metrics_merge(&sum, &a->test);
        break;
    case LEARNER_SCOPE_TEST_RECENT:
        recent_test(a, &sum);
        break;
    default:
        return -EINVAL;
    }
    metrics_result(&sum, out);
    return 0;
}

void learner_served_test(const struct learner *l, struct metrics_result *out)
{
    metrics_result(&l->served_test, out);
}

void learner_served(const struct learner *l, struct metrics_result *out)
{
    struct metrics sum = l->served;

    metrics_merge(&sum, &l->c[l->champion].a.win);
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

/* HyperParams.extra "power_t"; for the normalized optimizer, the per-input
 * scales s_i (ModelSnapshot.input_scale) that model_predict() applies to
 * inputs beyond them. */
static int snap_model(const struct learner *l, const struct cand *c,
                      struct snapshot *s)
{
    size_t len = model_state_len(c->m);
    size_t wl = model_weights_len(c->m);
    double *st;

    if (snapshot_set_string(&s->extra[0].name, "power_t") < 0)
        return -ENOMEM;
    s->extra[0].value = c->p.power_t;
    model_weights_get(c->m, s->weights, wl);
    if (c->p.optimizer != MODEL_NORMALIZED)
        return 0;
    if (snapshot_alloc_input_scale(s) < 0 ||
        (st = calloc(len, sizeof(*st))) == NULL)
        return -ENOMEM;
    model_state_get(c->m, st, len);
    memcpy(s->input_scale, st + 2 * wl, l->width * sizeof(*st));
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
    struct metrics sum;

    if (learner_history(l, 0, &w)) {
        to_snapshot_metrics(&w.candidates[l->champion], &s->validation);
        for (size_t b = 0; b < LEARNER_BASELINES; b++)
            to_snapshot_metrics(&w.baselines[b], &s->baselines[b]);
        s->window_id = w.id;
    }
    recent_test(&l->c[l->champion].a, &sum);
    metrics_result(&sum, &r);
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
    int rc;

    rc = snapshot_alloc(s, l->width, (uint32_t)model_outputs(c->m), l->k,
                        LEARNER_BASELINES, 1);
    if (rc < 0)
        return rc;
    if ((rc = snap_inputs(l, s)) < 0 || (rc = snap_model(l, c, s)) < 0 ||
        (rc = snap_labels(l, s)) < 0)
        goto out_close;
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

/* ---- Checkpoints: byte buffers ------------------------------------------- */

/* A growing output buffer; oom sticks. */
struct wr {
    uint8_t *p;
    size_t len;
    size_t cap;
    bool oom;
};

static void put(struct wr *w, const void *src, size_t n)
{
    if (w->oom)
        return;
    if (w->cap - w->len < n) {
        size_t cap = w->cap ? w->cap : 4096;
        uint8_t *p;
        while (cap - w->len < n)
            cap *= 2;
        if ((p = realloc(w->p, cap)) == NULL) {
            w->oom = true;
            return;
        }
        w->p = p;
        w->cap = cap;
    }
    memcpy(w->p + w->len, src, n);
    w->len += n;
}

static void put_u64(struct wr *w, uint64_t v)
{
    uint8_t b[8];

    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    put(w, b, sizeof(b));
}

static void put_u32(struct wr *w, uint32_t v)
{
    uint8_t b[4];

    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    put(w, b, sizeof(b));
}

static void put_f64(struct wr *w, double d)
{
    uint64_t u;

    memcpy(&u, &d, sizeof(u));
    put_u64(w, u);
}

/* A bounded input cursor; bad sticks (reads past the end give zeros). */
struct rd {
    const uint8_t *p;
    size_t len;
    size_t off;
    bool bad;
    uint32_t version; /* Layout being read. */
};

static uint64_t get_uint(struct rd *r, int bytes)
{
    uint64_t v = 0;

    if (r->bad || r->len - r->off < (size_t)bytes) {
        r->bad = true;
        return 0;
    }
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)r->p[r->off + (size_t)i] << (8 * i);
    r->off += (size_t)bytes;
    return v;
}

static uint64_t get_u64(struct rd *r)
{
    return get_uint(r, 8);
}

static uint32_t get_u32(struct rd *r)
{
    return (uint32_t)get_uint(r, 4);
}

static double get_f64(struct rd *r)
{
    uint64_t u = get_u64(r);
    double d;

    memcpy(&d, &u, sizeof(d));
    return d;
}

/* A count read back must not exceed its bound. */
static uint64_t get_bounded(struct rd *r, uint64_t max)
{
    uint64_t v = get_u64(r);

    if (v > max)
        r->bad = true;
    return v > max ? 0 : v;
}

/* ---- Checkpoints: fingerprint -------------------------------------------- */

static void fnv(uint64_t *h, const void *p, size_t n)
{
    const uint8_t *b = p;

    for (size_t i = 0; i < n; i++) {
        *h ^= b[i];
        *h *= 0x100000001b3ULL;
    }
}

static void fnv_u64(uint64_t *h, uint64_t v)
{
    uint8_t b[8];

    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    fnv(h, b, sizeof(b));
}

static void fnv_f64(uint64_t *h, double d)
{
    uint64_t u;

    memcpy(&u, &d, sizeof(u));
    fnv_u64(h, u);
}

static void fnv_str(uint64_t *h, const char *s)
{
    if (s == NULL) {
        fnv_u64(h, UINT64_MAX);
        return;
    }
    fnv_u64(h, strlen(s));
    fnv(h, s, strlen(s));
}

static void fnv_drift(uint64_t *h, const struct learner_config *c)
{
    fnv_u64(h, (uint64_t)c->detector);
    fnv_f64(h, c->adwin.delta);
    fnv_f64(h, c->adwin.delta_warning);
    fnv_u64(h, c->adwin.clock);
    fnv_u64(h, c->adwin.min_window);
    fnv_f64(h, c->ph.delta);
    fnv_f64(h, c->ph.lambda);
    fnv_f64(h, c->ph.lambda_warning);
    fnv_f64(h, c->ph.alpha);
    fnv_u64(h, c->ph.min_instances);
    fnv_u64(h, c->ph.direction);
    fnv_f64(h, c->drift_shrink);
    fnv_u64(h, c->min_window_rows);
    fnv_u64(h, (uint64_t)c->min_window_ms);
    fnv_u64(h, c->adwin_block);
}

static void fnv_windows(uint64_t *h, const struct learner_config *c)
{
    fnv_u64(h, (uint64_t)c->window_mode);
    fnv_u64(h, c->window_rows);
    fnv_u64(h, (uint64_t)c->window_ms);
    fnv_u64(h, c->min_rank_rows);
    fnv_u64(h, (uint64_t)c->rank);
    fnv_f64(h, c->min_margin_rel);
    fnv_f64(h, c->min_margin_abs);
    fnv_u64(h, c->history_len);
    fnv_f64(h, c->publish_tolerance);
    fnv_f64(h, c->test_fraction);
    fnv_u64(h, c->test_salt);
    fnv_u64(h, c->max_series);
}

/* Every setting that shapes the state or its meaning. (Not switch_z: it
 * only decides when evidence suffices, and the evidence is the same sums
 * whatever it is; tuning it keeps a learner's checkpoint usable.) */
static uint64_t fingerprint(const struct learner *l)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    fnv_u64(&h, (uint64_t)l->cfg.kind);
    fnv_u64(&h, l->n);
    fnv_u64(&h, l->k);
    fnv_str(&h, l->task);
    fnv_str(&h, l->target);
    for (size_t i = 0; i < l->n; i++) {
        fnv_str(&h, l->feature_names[i]);
        fnv_u64(&h, l->indicator[i]);
    }
    for (size_t i = 0; i < l->k; i++)
        fnv_str(&h, l->class_labels[i]);
    fnv_u64(&h, l->nc);
    for (size_t i = 0; i < l->nc; i++) {
        fnv_str(&h, l->c[i].name);
        fnv_u64(&h, (uint64_t)l->c[i].p.kind);
        fnv_u64(&h, (uint64_t)l->c[i].p.optimizer);
        fnv_f64(&h, l->c[i].p.learning_rate);
        fnv_f64(&h, l->c[i].p.l2);
        fnv_f64(&h, l->c[i].p.power_t);
    }
    fnv_windows(&h, &l->cfg);
    fnv_drift(&h, &l->cfg);
    return h;
}

/* ---- Checkpoints: sections ----------------------------------------------- */

_Static_assert(sizeof(struct metrics) ==
                   8 * 12 + 8 * METRICS_MAX_CLASSES * METRICS_MAX_CLASSES,
               "struct metrics changed: update put_metrics/get_metrics "
               "(prob_prod is in the layout-3 section, put_tail)");

static void put_metrics(struct wr *w, const struct metrics *m)
{
    put_u32(w, m->kind);
    put_u32(w, m->classes);
    put_u64(w, m->rows);
    put_u64(w, m->skipped);
    put_f64(w, m->abs_err);
    put_f64(w, m->sq_err);
    put_f64(w, m->y_mean);
    put_f64(w, m->y_m2);
    put_u64(w, m->prob_rows);
    put_f64(w, m->log_loss);
    put_u64(w, m->correct);
    put_u64(w, m->nc_correct);
    for (uint32_t i = 0; i < m->classes; i++)
        for (uint32_t j = 0; j < m->classes; j++)
            put_u64(w, m->confusion[i][j]);
}

static void put_accs(struct wr *w, const struct accs *a)
{
    for (size_t i = 0; i < ACCS_N; i++)
        put_metrics(w, acc_at_c(a, i));
}

/* Into *m, which was initialised with the expected kind and classes. */
static void get_metrics(struct rd *r, struct metrics *m)
{
    if (get_u32(r) != m->kind || get_u32(r) != m->classes) {
        r->bad = true;
        return;
    }
    m->rows = get_u64(r);
    m->skipped = get_u64(r);
    m->abs_err = get_f64(r);
    m->sq_err = get_f64(r);
    m->y_mean = get_f64(r);
    m->y_m2 = get_f64(r);
    m->prob_rows = get_u64(r);
    m->log_loss = get_f64(r);
    m->correct = get_u64(r);
    m->nc_correct = get_u64(r);
    for (uint32_t i = 0; i < m->classes; i++)
        for (uint32_t j = 0; j < m->classes; j++)
            m->confusion[i][j] = get_u64(r);
}

static void get_accs(struct rd *r, struct accs *a)
{
    for (size_t i = 0; i < ACCS_N; i++)
        get_metrics(r, acc_at(a, i));
}

_Static_assert(sizeof(struct drift_adwin) ==
                   8 * 2 + 4 * 2 + 8 * 8 + 4 * 2 + DRIFT_ADWIN_ROWS +
                       2 * 8 * DRIFT_ADWIN_ROWS * (DRIFT_ADWIN_M + 1) + 8 +
                       8 * DRIFT_ADWIN_PEND,
               "struct drift_adwin changed: update put_adwin/get_adwin");

/* The histogram with its pending values flushed (drift_adwin_flush():
 * the same buckets whenever it runs, so a restored detector, which has
 * none pending, continues bit for bit); a copy, as l is const. */
static void put_adwin(struct wr *w, const struct drift_adwin *live)
{
    struct drift_adwin flushed = *live;
    const struct drift_adwin *a = &flushed;

    drift_adwin_flush(&flushed);
    put_f64(w, a->p.delta);
    put_f64(w, a->p.delta_warning);
    put_u32(w, a->p.clock);
    put_u32(w, a->p.min_window);
    put_u64(w, a->seen);
    put_u64(w, a->detections);
    put_u64(w, a->detected_at);
    put_f64(w, a->mean_before);
    put_f64(w, a->mean_after);
    put_u64(w, a->width);
    put_f64(w, a->total);
    put_f64(w, a->var);
    put_u32(w, a->state);
    put_u32(w, a->rows);
    put(w, a->len, sizeof(a->len));
    for (size_t i = 0; i < DRIFT_ADWIN_ROWS; i++)
        for (size_t j = 0; j <= DRIFT_ADWIN_M; j++) {
            put_f64(w, a->b_total[i][j]);
            put_f64(w, a->b_var[i][j]);
        }
}

/* Into *a, initialised with the configured parameters (which must match). */
static void get_adwin(struct rd *r, struct drift_adwin *a)
{
    if (get_f64(r) != a->p.delta || get_f64(r) != a->p.delta_warning ||
        get_u32(r) != a->p.clock || get_u32(r) != a->p.min_window)
        r->bad = true;
    a->seen = get_u64(r);
    a->detections = get_u64(r);
    a->detected_at = get_u64(r);
    a->mean_before = get_f64(r);
    a->mean_after = get_f64(r);
    a->width = get_u64(r);
    a->total = get_f64(r);
    a->var = get_f64(r);
    a->state = get_u32(r);
    a->rows = get_u32(r);
    if (a->state > DRIFT_DETECTED || a->rows > DRIFT_ADWIN_ROWS)
        r->bad = true;
    for (size_t i = 0; i < DRIFT_ADWIN_ROWS; i++)
        if ((a->len[i] = (uint8_t)get_uint(r, 1)) > DRIFT_ADWIN_M + 1)
            r->bad = true;
    a->pending = 0;
    for (size_t i = 0; i < DRIFT_ADWIN_ROWS; i++)
        for (size_t j = 0; j <= DRIFT_ADWIN_M; j++) {
            a->b_total[i][j] = get_f64(r);
            a->b_var[i][j] = get_f64(r);
        }
}

_Static_assert(sizeof(struct drift_ph) == 8 * 4 + 4 * 2 + 8 * 14 + 8,
               "struct drift_ph changed: update put_ph/get_ph");

static void put_ph(struct wr *w, const struct drift_ph *p)
{
    put_f64(w, p->p.delta);
    put_f64(w, p->p.lambda);
    put_f64(w, p->p.lambda_warning);
    put_f64(w, p->p.alpha);
    put_u32(w, p->p.min_instances);
    put_u32(w, p->p.direction);
    put_u64(w, p->seen);
    put_u64(w, p->detections);
    put_u64(w, p->detected_at);
    put_f64(w, p->mean_before);
    put_f64(w, p->mean_after);
    put_u64(w, p->n);
    put_f64(w, p->sum);
    put_f64(w, p->mean);
    put_f64(w, p->g_up);
    put_f64(w, p->g_down);
    put_u64(w, p->n0_up);
    put_f64(w, p->sum0_up);
    put_u64(w, p->n0_down);
    put_f64(w, p->sum0_down);
    put_u32(w, p->state);
}

static void get_ph(struct rd *r, struct drift_ph *p)
{
    if (get_f64(r) != p->p.delta || get_f64(r) != p->p.lambda ||
        get_f64(r) != p->p.lambda_warning || get_f64(r) != p->p.alpha ||
        get_u32(r) != p->p.min_instances || get_u32(r) != p->p.direction)
        r->bad = true;
    p->seen = get_u64(r);
    p->detections = get_u64(r);
    p->detected_at = get_u64(r);
    p->mean_before = get_f64(r);
    p->mean_after = get_f64(r);
    p->n = get_u64(r);
    p->sum = get_f64(r);
    p->mean = get_f64(r);
    p->g_up = get_f64(r);
    p->g_down = get_f64(r);
    p->n0_up = get_u64(r);
    p->sum0_up = get_f64(r);
    p->n0_down = get_u64(r);
    p->sum0_down = get_f64(r);
    if ((p->state = get_u32(r)) > DRIFT_DETECTED)
        r->bad = true;
}

static void put_stats(struct wr *w, const struct learner_stats *s)
{
    put_u64(w, s->rows);
    put_u64(w, s->rows_trained);
    put_u64(w, s->rows_test);
    put_u64(w, s->bad_labels);
    put_u64(w, s->features_missing);
    put_u64(w, s->windows);
    put_u64(w, s->champion_changes);
    put_u64(w, s->drift_warnings);
    put_u64(w, s->drift_detections);
    put_u64(w, s->model_errors);
}

static void get_stats(struct rd *r, struct learner_stats *s)
{
    s->rows = get_u64(r);
    s->rows_trained = get_u64(r);
    s->rows_test = get_u64(r);
    s->bad_labels = get_u64(r);
    s->features_missing = get_u64(r);
    s->windows = get_u64(r);
    s->champion_changes = get_u64(r);
    s->drift_warnings = get_u64(r);
    s->drift_detections = get_u64(r);
    s->model_errors = get_u64(r);
}

/* Window, champion, detector bookkeeping and snapshot version. */
static void put_control(struct wr *w, const struct learner *l)
{
    put_stats(w, &l->st);
    put_u64(w, l->champion);
    put_u64(w, l->provisional);
    put_u64(w, l->published);
    put_f64(w, l->champ_score);
    put_u64(w, l->win_id);
    put_u64(w, l->win_rows);
    put_u64(w, l->win_test);
    put_u64(w, l->trec_cur);
    put_u64(w, l->trec_windows);
    put_u64(w, l->win_len);
    put_u64(w, (uint64_t)l->win_start);
    put_u64(w, (uint64_t)l->first_ts);
    put_u64(w, (uint64_t)l->last_ts);
    put_u64(w, l->win_drift);
    put_u64(w, l->started);
    put_u64(w, (uint64_t)l->now_ms);
    put_u64(w, l->dstate);
    put_u64(w, l->adwin_state);
    put_f64(w, l->block_sum);
    put_u64(w, l->block_n);
    put_u64(w, l->snap_version);
    put_u64(w, l->snap_rows);
    put_u64(w, l->snap_windows);
    put_u64(w, l->snap_champion);
    put_u64(w, l->hist_n);
    put_u64(w, l->hist_head);
}

static void get_control(struct rd *r, struct learner *l)
{
    get_stats(r, &l->st);
    l->champion = (size_t)get_bounded(r, l->nc - 1);
    l->provisional = get_bounded(r, 1) != 0;
    l->published = get_bounded(r, 1) != 0;
    l->champ_score = get_f64(r);
    l->win_id = get_u64(r);
    l->win_rows = get_u64(r);
    l->win_test = get_u64(r);
    l->trec_cur = (uint32_t)get_bounded(r, 1);
    l->trec_windows = get_bounded(r, l->hist_cap - 1);
    l->win_len = get_u64(r);
    l->win_start = (int64_t)get_u64(r);
    l->first_ts = (int64_t)get_u64(r);
    l->last_ts = (int64_t)get_u64(r);
    l->win_drift = get_bounded(r, 1) != 0;
    l->started = get_bounded(r, 1) != 0;
    l->now_ms = (int64_t)get_u64(r);
    l->dstate = (enum drift_state)get_bounded(r, DRIFT_DETECTED);
    l->adwin_state = (enum drift_state)get_bounded(r, DRIFT_DETECTED);
    l->block_sum = get_f64(r);
    l->block_n = (uint32_t)get_bounded(r, l->cfg.adwin_block);
    l->snap_version = get_u64(r);
    l->snap_rows = get_u64(r);
    l->snap_windows = get_u64(r);
    l->snap_champion = get_bounded(r, l->nc - 1);
    l->hist_n = (size_t)get_bounded(r, l->hist_cap);
    l->hist_head = (size_t)get_bounded(r, l->hist_cap - 1);
    if (l->win_len == 0)
        r->bad = true;
}

/* A flat array of doubles: its length, then the values. */
static void put_f64s(struct wr *w, const double *v, size_t n)
{
    put_u64(w, n);
    for (size_t i = 0; i < n; i++)
        put_f64(w, v[i]);
}

/* Into v[n] (the caller's): the length must be n. */
static void get_f64s(struct rd *r, double *v, size_t n)
{
    if (get_u64(r) != n || (r->len - r->off) / 8 < n) {
        r->bad = true;
        return;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = get_f64(r);
}

/* A flat array of doubles, mostly zeros (the no-change baseline's table
 * of series: 16 bytes per series, most never seen): its length, then
 * pairs of runs, a count of +0.0 words and a count of literal words
 * followed by the literals, until the length is covered. */
static bool is_zero_bits(double d)
{
    uint64_t u;

    memcpy(&u, &d, sizeof(u));
    return u == 0;
}

static void put_sparse(struct wr *w, const double *v, size_t n)
{
    size_t i = 0;

    put_u64(w, n);
    while (i < n) {
        size_t z = i;
        size_t e;
        while (z < n && is_zero_bits(v[z]))
            z++;
        e = z;
        while (e < n && !is_zero_bits(v[e]))
            e++;
        put_u64(w, z - i);
        put_u64(w, e - z);
        for (size_t k = z; k < e; k++)
            put_f64(w, v[k]);
        i = e;
    }
}

/* Into v[n] (the caller's, zeroed): the length must be n, and every run
 * must make progress and stay inside it. */
static void get_sparse(struct rd *r, double *v, size_t n)
{
    size_t i = 0;

    if (get_u64(r) != n)
        r->bad = true;
    while (i < n && !r->bad) {
        uint64_t zeros = get_bounded(r, n - i);
        uint64_t lits;
        i += (size_t)zeros;
        lits = get_bounded(r, n - i);
        if (zeros + lits == 0 || (r->len - r->off) / 8 < lits) {
            r->bad = true;
            break;
        }
        for (uint64_t k = 0; k < lits; k++)
            v[i++] = get_f64(r);
    }
}

/* Each module's flat state, through its own getter and setter: the setter
 * validates, so a CRC-valid but wrong checkpoint is refused. */
static int put_scaler(struct wr *w, const struct scaler *s)
{
    size_t len = scaler_state_len(s);
    double *st = calloc(len, sizeof(*st));

    if (st == NULL)
        return -ENOMEM;
    scaler_state_get(s, st, len);
    put_f64s(w, st, len);
    free(st);
    return 0;
}

static int get_scaler(struct rd *r, struct scaler *s)
{
    size_t len = scaler_state_len(s);
    double *st = calloc(len, sizeof(*st));

    if (st == NULL)
        return -ENOMEM;
    get_f64s(r, st, len);
    if (!r->bad && scaler_state_set(s, st, len) < 0)
        r->bad = true;
    free(st);
    return 0;
}

static int put_models(struct wr *w, const struct learner *l)
{
    for (size_t i = 0; i < l->nc; i++) {
        size_t len = model_state_len(l->c[i].m);
        double *st = calloc(len, sizeof(*st));
        if (st == NULL)
            return -ENOMEM;
        model_state_get(l->c[i].m, st, len);
        put_u64(w, len);
        for (size_t j = 0; j < len; j++)
            put_f64(w, st[j]);
        free(st);
        put_accs(w, &l->c[i].a);
    }
    return 0;
}

static int get_models(struct rd *r, struct learner *l)
{
    for (size_t i = 0; i < l->nc && !r->bad; i++) {
        size_t len = model_state_len(l->c[i].m);
        double *st;
        if (get_u64(r) != len || r->len - r->off < len * 8) {
            r->bad = true;
            break;
        }
        if ((st = calloc(len, sizeof(*st))) == NULL)
            return -ENOMEM;
        for (size_t j = 0; j < len; j++)
            st[j] = get_f64(r);
        if (model_state_set(l->c[i].m, st, len) < 0)
            r->bad = true;
        free(st);
        get_accs(r, &l->c[i].a);
    }
    return 0;
}

/* Each baseline's state (sparse: see put_sparse) and accumulators, then
 * the served and served-test accumulators. */
static int put_baselines(struct wr *w, const struct learner *l)
{
    for (size_t b = 0; b < LEARNER_BASELINES; b++) {
        size_t len = baseline_state_len(l->bl[b].b);
        double *st = calloc(len, sizeof(*st));
        if (st == NULL)
            return -ENOMEM;
        baseline_state_get(l->bl[b].b, st, len);
        put_sparse(w, st, len);
        free(st);
        put_accs(w, &l->bl[b].a);
    }
    put_metrics(w, &l->served);
    put_metrics(w, &l->served_test);
    return 0;
}

static int get_baselines(struct rd *r, struct learner *l)
{
    for (size_t b = 0; b < LEARNER_BASELINES && !r->bad; b++) {
        size_t len = baseline_state_len(l->bl[b].b);
        double *st = calloc(len, sizeof(*st));
        if (st == NULL)
            return -ENOMEM;
        get_sparse(r, st, len);
        if (!r->bad && baseline_state_set(l->bl[b].b, st, len) < 0)
            r->bad = true;
        free(st);
        get_accs(r, &l->bl[b].a);
    }
    get_metrics(r, &l->served);
    get_metrics(r, &l->served_test);
    return 0;
}

static void put_history(struct wr *w, const struct learner *l)
{
    size_t per = l->nc + LEARNER_BASELINES;

    for (size_t i = 0; i < l->hist_cap; i++) {
        const struct hist *h = &l->hist[i];
        put_u64(w, h->id);
        put_u64(w, (uint64_t)h->start_ms);
        put_u64(w, (uint64_t)h->end_ms);
        put_u64(w, h->rows);
        put_u64(w, h->test_rows);
        put_u64(w, h->champion);
        put_u64(w, h->next_champion);
        put_u64(w, h->drift);
        for (size_t j = 0; j < per; j++) {
            const struct metrics_result *m = &l->hist_res[i * per + j];
            put_u64(w, m->rows);
            put_f64(w, m->mae);
            put_f64(w, m->rmse);
            put_f64(w, m->r2);
            put_f64(w, m->accuracy);
            put_f64(w, m->log_loss);
            put_f64(w, m->macro_f1);
            put_f64(w, m->kappa);
            put_f64(w, m->kappa_temporal);
        }
    }
}

static void get_history(struct rd *r, struct learner *l)
{
    size_t per = l->nc + LEARNER_BASELINES;

    for (size_t i = 0; i < l->hist_cap && !r->bad; i++) {
        struct hist *h = &l->hist[i];
        h->id = get_u64(r);
        h->start_ms = (int64_t)get_u64(r);
        h->end_ms = (int64_t)get_u64(r);
        h->rows = get_u64(r);
        h->test_rows = get_u64(r);
        h->champion = get_bounded(r, l->nc - 1);
        h->next_champion = get_bounded(r, l->nc - 1);
        h->drift = get_bounded(r, 1);
        for (size_t j = 0; j < per; j++) {
            struct metrics_result *m = &l->hist_res[i * per + j];
            m->rows = get_u64(r);
            m->mae = get_f64(r);
            m->rmse = get_f64(r);
            m->r2 = get_f64(r);
            m->accuracy = get_f64(r);
            m->log_loss = get_f64(r);
            m->macro_f1 = get_f64(r);
            m->kappa = get_f64(r);
            m->kappa_temporal = get_f64(r);
        }
    }
}

/* Layout 3's last section: every accumulator's pending log-loss product
 * (struct metrics.prob_prod), in the order of the sections above, then
 * the ranking's paired evidence (rows of the window before, then per
 * candidate its four sums). A layout-2 checkpoint has none of it: its
 * log_loss sums hold every row, which is prob_prod = 1, as metrics_init()
 * leaves it, and the evidence starts afresh. */
static void put_prods(struct wr *w, const struct accs *a)
{
    for (size_t i = 0; i < ACCS_N; i++)
        put_f64(w, acc_at_c(a, i)->prob_prod);
}

static void get_prod(struct rd *r, struct metrics *m)
{
    double v = get_f64(r);

    /* What metrics_add_class_checked() can leave; 1 for regression. */
    if (!(v <= 1.0 && v >= METRICS_PROD_MIN * METRICS_P_MIN) ||
        (m->kind == METRICS_REGRESSION && v != 1.0))
        r->bad = true;
    else
        m->prob_prod = v;
}

static void put_tail(struct wr *w, const struct learner *l)
{
    for (size_t i = 0; i < l->nc; i++)
        put_prods(w, &l->c[i].a);
    for (size_t b = 0; b < LEARNER_BASELINES; b++)
        put_prods(w, &l->bl[b].a);
    put_f64(w, l->served.prob_prod);
    put_f64(w, l->served_test.prob_prod);
    put_u64(w, l->ev_prev_rows);
    for (size_t i = 0; i < 4 * l->nc; i++)
        put_f64(w, l->ev[i]);
}

static void get_tail(struct rd *r, struct learner *l)
{
    if (r->version < 3)
        return;
    for (size_t i = 0; i < l->nc; i++)
        for (size_t j = 0; j < ACCS_N; j++)
            get_prod(r, acc_at(&l->c[i].a, j));
    for (size_t b = 0; b < LEARNER_BASELINES; b++)
        for (size_t j = 0; j < ACCS_N; j++)
            get_prod(r, acc_at(&l->bl[b].a, j));
    get_prod(r, &l->served);
    get_prod(r, &l->served_test);
    l->ev_prev_rows = get_u64(r);
    for (size_t i = 0; i < 4 * l->nc; i++)
        if (isnan(l->ev[i] = get_f64(r)))
            r->bad = true;
}

/* ---- Checkpoints: entry points --------------------------------------------
 */

int learner_save(const struct learner *l, uint8_t **buf, size_t *len)
{
    struct wr w = {NULL, 0, 0, false};
    size_t at;
    int rc;

    put(&w, LEARNER_MAGIC, 8);
    put_u32(&w, LEARNER_LAYOUT_VERSION);
    put_u32(&w, MODEL_STATE_VERSION);
    put_u64(&w, fingerprint(l));
    at = w.len;
    put_u64(&w, 0); /* payload length, patched below */
    put_control(&w, l);
    if ((rc = put_scaler(&w, l->sc)) < 0 ||
        (l->ysc != NULL && (rc = put_scaler(&w, l->ysc)) < 0) ||
        (rc = put_models(&w, l)) < 0 || (rc = put_baselines(&w, l)) < 0)
        goto out_free;
    put_adwin(&w, &l->adwin);
    put_ph(&w, &l->ph);
    put_history(&w, l);
    put_tail(&w, l);
    if (w.oom) {
        rc = -ENOMEM;
        goto out_free;
    }
    for (int i = 0; i < 8; i++)
        w.p[at + (size_t)i] = (uint8_t)((w.len - at - 8) >> (8 * i));
    put_u32(&w, (uint32_t)crc32_z(0L, w.p, w.len));
    if (w.oom) {
        rc = -ENOMEM;
        goto out_free;
    }
    *buf = w.p;
    *len = w.len;
    return 0;
out_free:
    free(w.p);
    return rc;
}

/* The candidates of l as a configuration list (for a twin learner). */
static struct learner_candidate *candidate_list(const struct learner *l)
{
    struct learner_candidate *c = calloc(l->nc, sizeof(*c));

    if (c == NULL)
        return NULL;
    for (size_t i = 0; i < l->nc; i++) {
        memcpy(c[i].name, l->c[i].name, sizeof(c[i].name));
        c[i].params = l->c[i].p;
    }
    return c;
}

/* A fresh learner with l's configuration; returns owned, or an error. */
static int twin(const struct learner *l, struct learner **out)
{
    struct learner_config cfg = l->cfg;
    struct learner_candidate *cands = candidate_list(l);
    int rc;

    if (cands == NULL)
        return -ENOMEM;
    cfg.candidates = cands;
    cfg.n_candidates = l->nc;
    rc = learner_new(out, &cfg);
    free(cands);
    return rc;
}

/* Check the frame: magic, versions, fingerprint, length, CRC. */
static int check_frame(const struct learner *l, const uint8_t *buf, size_t len,
                       struct rd *r)
{
    uint32_t crc;
    uint64_t payload;

    if (len < 36 || memcmp(buf, LEARNER_MAGIC, 8) != 0)
        return -EBADMSG;
    crc = (uint32_t)buf[len - 4] | (uint32_t)buf[len - 3] << 8 |
          (uint32_t)buf[len - 2] << 16 | (uint32_t)buf[len - 1] << 24;
    if (crc != (uint32_t)crc32_z(0L, buf, len - 4))
        return -EBADMSG;
    *r = (struct rd){buf, len - 4, 8, false, 0};
    r->version = get_u32(r);
    if (r->version < LEARNER_LAYOUT_OLDEST ||
        r->version > LEARNER_LAYOUT_VERSION ||
        get_u32(r) != MODEL_STATE_VERSION)
        return -EPROTONOSUPPORT;
    if (get_u64(r) != fingerprint(l))
        return -EINVAL;
    payload = get_u64(r);
    if (payload != r->len - r->off)
        return -EBADMSG;
    return 0;
}

/* Exchange the contents of two learners (both stay valid). */
static void swap_learners(struct learner *a, struct learner *b)
{
    struct learner t = *a;

    *a = *b;
    *b = t;
}

int learner_restore(struct learner *l, const uint8_t *buf, size_t len)
{
    struct learner *t = NULL;
    struct rd r;
    int rc;

    if (buf == NULL)
        return -EBADMSG;
    if ((rc = check_frame(l, buf, len, &r)) < 0)
        return rc;
    if ((rc = twin(l, &t)) < 0)
        return rc;
    get_control(&r, t);
    if ((rc = get_scaler(&r, t->sc)) < 0 ||
        (t->ysc != NULL && (rc = get_scaler(&r, t->ysc)) < 0) ||
        (rc = get_models(&r, t)) < 0 || (rc = get_baselines(&r, t)) < 0)
        goto out_free;
    get_adwin(&r, &t->adwin);
    get_ph(&r, &t->ph);
    get_history(&r, t);
    get_tail(&r, t);
    rc = r.bad || r.off != r.len ? -EBADMSG : 0;
    if (rc == 0)
        swap_learners(l, t);
out_free:
    learner_free(t);
    return rc;
}

/* ---- Merge ------------------------------------------------------------------
 */

/* Recent spans are merged span by span: src's filling span into dst's. */
static void merge_accs(struct accs *d, const struct accs *s)
{
    for (size_t i = 0; i < ACCS_N; i++)
        metrics_merge(acc_at(d, i), acc_at_c(s, i));
}

static void merge_stats(struct learner_stats *d, const struct learner_stats *s)
{
    d->rows += s->rows;
    d->rows_trained += s->rows_trained;
    d->rows_test += s->rows_test;
    d->bad_labels += s->bad_labels;
    d->features_missing += s->features_missing;
    d->model_errors += s->model_errors;
}

int learner_merge(struct learner *dst, const struct learner *src)
{
    if (dst == src || fingerprint(dst) != fingerprint(src))
        return -EINVAL;
    scaler_merge(dst->sc, src->sc);
    if (dst->ysc != NULL)
        scaler_merge(dst->ysc, src->ysc);
    for (size_t i = 0; i < dst->nc; i++) {
        model_merge(dst->c[i].m, src->c[i].m);
        merge_accs(&dst->c[i].a, &src->c[i].a);
    }
    for (size_t b = 0; b < LEARNER_BASELINES; b++) {
        baseline_merge(dst->bl[b].b, src->bl[b].b);
        merge_accs(&dst->bl[b].a, &src->bl[b].a);
    }
    metrics_merge(&dst->served, &src->served);
    metrics_merge(&dst->served_test, &src->served_test);
    /* The paired evidence stays dst's, as its window's row count does. */
    merge_stats(&dst->st, &src->st);
    return 0;
}
