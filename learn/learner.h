/* learner.h -- weir's online learner for one task: prequential scoring,
 * candidate configurations side by side, rolling validation windows with a
 * champion, a held-out test stream, baselines, drift detection, snapshots
 * and checkpoints.
 *
 * A learner is fed rows (features x[n], presence flags, label y, the series
 * (device) and seq they came from, their data time) in stream order by
 * learner_update(). For every row:
 *
 *   1. If windows are timed and the row's time is past the open window's
 *      end, the window closes first (rotation, below).
 *   2. The label is checked (finite; a class index 0..K-1 when classifying);
 *      a bad label is counted and the row ignored (-EINVAL).
 *   3. A hash of (series, seq, test_salt) puts a fixed fraction of rows in
 *      the *test stream*. A test row is predicted and scored by every
 *      candidate and baseline into their test accumulators (and by the
 *      champion into the served-test one) and nothing learns from it: not
 *      the scaler, not a model, not a baseline, not the drift detector, not
 *      the ranking (it does not count towards a window's rows).
 *   4. Any other row is prequential: the scaler takes its features (they
 *      are known at prediction time), then every candidate and baseline
 *      predicts it and is scored into the open window's accumulator, *then*
 *      every candidate and baseline trains on it. The champion's loss on it
 *      feeds the drift detector.
 *   5. If windows count rows and the window is full, it closes (rotation).
 *
 * Missing features. A feature is missing when present[i] is 0 or x[i] is
 * not finite (or beyond +-SCALER_VALUE_MAX, 1e100, which learn/scaler.h
 * treats alike). learn/scaler.h imputes it at its running mean (z = 0) and
 * sets the feature's 0/1 indicator input "<name>?missing" (every feature
 * has one unless learner_config.indicator says otherwise), so a model can
 * learn what absence means; a missing value is never a silent zero in the
 * sensor's units. Counted in learner_stats.features_missing.
 *
 * Rotation. When a window closes, each candidate's window score is computed
 * (lower is better): classification ranks by error rate (1 - accuracy) and
 * breaks ties by log loss; regression by RMSE, ties by MAE (configurable,
 * enum learner_rank). Remaining ties go to the candidate listed first. The
 * best candidate becomes champion only if it beats the champion on two
 * counts. (1) Its score, by the margin: score_best < score_champion -
 * max(min_margin_abs, min_margin_rel * score_champion). (2) Significantly,
 * row by row: every candidate and the champion are scored on the same
 * rows, so their per-row losses (the ranking's primary loss: 0/1 error,
 * log loss, squared or absolute error) are paired, and the challenger's
 * mean paired difference d = loss_best - loss_champion must be below 0 by
 * switch_z standard errors (a one-sided paired t-test, McNemar's test for
 * 0/1 losses: z = -sum d / sqrt(n s^2), s^2 the sample variance of d),
 * over the rows of the closed window and, when the same champion served
 * it and no drift was detected in it, of the window before (evidence of
 * two windows: a persistent small edge is acted on, a lucky window is
 * not). Why both: the margin is relative to the score, and a good model's
 * error rate is small, so on a window of 1000 rows one row (0.001) is
 * more than 2 % of an error rate of 0.01; two near-identical candidates
 * (the same optimizer with and without a little L2) then took turns as
 * champion on noise alone. The test scales with the evidence instead: 4
 * errors against 0 (z = 2) does not unseat a champion at the default
 * switch_z = 3 (p ~ 0.0013 one-sided: with seven candidates and a window
 * a day, a false switch every few years of a stationary stream), 30
 * against 5 after a change (z ~ 4) does. switch_z = 0 turns the test off
 * (the margin alone). The first window with rows picks the best outright
 * (the initial champion, candidate 0, has no record to defend). A window
 * with fewer than min_rank_rows rows keeps the champion. The closed window's
 * figures (every candidate and baseline, validation and test rows) go to a
 * bounded ring of history_len windows, the champion's window accumulator
 * goes into the served accumulator (what the learner's own predictions
 * scored), and a new window opens. learner_out says whether the champion
 * or its validation score changed (then the caller publishes a snapshot).
 *
 * Drift. ADWIN, Page-Hinkley or both (learn/drift.h) watch the champion's
 * per-row loss: the 0/1 error when classifying, and for regression the
 * bounded normalised error |e| / (|e| + sd(y)) in [0, 1) (so ADWIN's
 * bound and PH's thresholds mean the same on any target scale). Both take
 * every row's loss by default. ADWIN's check (every `clock` values) scans
 * every bucket split with a log and a sqrt each, which costs about as much
 * per row as a small model; adwin_block > 1 feeds it the mean loss of each
 * block of that many rows instead (still a bounded loss with the same
 * mean), cutting that cost by the block size at the price of a delay of up
 * to one block and a looser bound on short windows. WARNING is
 * reported in the status and snapshots. DETECTED produces a DriftEvent in
 * learner_out and shortens windows: the open window's length becomes
 * max(min_window, length * drift_shrink) (closing it at once if it already
 * holds that much), so the next rankings are made on post-change rows;
 * each later window that closes without a detection doubles the length
 * back, up to the configured one. Reset rules: ADWIN drops the pre-change
 * part of its own window; Page-Hinkley restarts after a detection; both
 * restart when the champion changes (its loss is a different stream).
 *
 * Snapshots. learner_snapshot() fills a struct snapshot (proto/snapshot.h)
 * from the champion: kind, hyper-parameters, input names (features, then
 * the "?missing" indicators), scaler state and imputed values, weights (and
 * for the normalized optimizer the per-input scales that predictions need,
 * ModelSnapshot.input_scale), the last closed window's
 * validation metrics and baselines, the champion's recent test-stream
 * metrics (LEARNER_SCOPE_TEST_RECENT: the test rows of the last
 * history_len to 2 history_len windows, so the figure describes the model
 * as it is, not its cold start), window id and drift state. The version
 * increases by one each time a snapshot differs from the previous one (more
 * rows or another window), so it is monotonic, survives checkpoints, and
 * repeats only for identical content. learn/predictor.h predicts from a decoded
 * snapshot bit for bit as learner_predict() does.
 *
 * Determinism and memory. Everything depends only on the rows and their
 * order (windows run on data time, never the wall clock), so replaying a
 * capture gives bit-identical models, and a learner restored from a
 * checkpoint continues bit for bit as if it had never stopped (every
 * module's full state is saved, the scaler's Newton-tracked 1/sd
 * included). All memory is allocated by learner_new(): per candidate and
 * baseline a model (or baseline) and five metric accumulators (~8.3 KB
 * each, a 32 x 32 confusion matrix), per window of history 72 bytes per
 * candidate and baseline; learner_save() allocates its buffer and, while
 * it runs, a copy of each module's state (16 bytes per series for the
 * no-change baseline).
 *
 * Cost per training row with C candidates of n features: one scaler pass
 * (two columns at a time), then per candidate one model_learn() (predict
 * and update in one pass: about 3 (n + 1) multiply-adds and an exp; on a
 * row with no missing feature the indicator inputs are 0 and skipped) and
 * one metrics add (the log loss is a multiply: learn/metrics.c); the
 * baselines (one call each), test hash and window bookkeeping are O(1);
 * ADWIN is O(1) amortised (see Drift); with C > 1, the paired evidence
 * adds two flops per candidate. bench/learn.sh measures it against a
 * plain C AdaGrad loop in the same run, in time and in instructions
 * (callgrind; 8 features, logistic SGD): one candidate with indicators
 * and ADWIN 1128 instructions per row (1470 before the changes listed in
 * learner.c), 1033 without indicators and with Page-Hinkley (1358), the
 * default grid of 7 4434 (5192), against 276 for the plain loop.
 *
 * Threads: none of its own. A learner belongs to the thread that created
 * it (the loop thread); const functions only read and may run concurrently
 * with each other, never with a writer. */
#ifndef WEIR_LEARN_LEARNER_H
#define WEIR_LEARN_LEARNER_H

#include <stdbool.h> /* For bool. */
#include <stddef.h>  /* For size_t. */
#include <stdint.h>  /* For uint8_t, uint32_t, uint64_t, int64_t. */

#include "learn/drift.h"    /* For drift parameters and states. */
#include "learn/metrics.h"  /* For struct metrics_result. */
#include "learn/model.h"    /* For struct model_params. */
#include "proto/snapshot.h" /* For struct snapshot. */

/* ---- Limits ------------------------------------------------------------ */

#define LEARNER_MAX_CANDIDATES 64               /* candidates per task */
#define LEARNER_MAX_FEATURES 4096               /* features per task */
#define LEARNER_MAX_CLASSES METRICS_MAX_CLASSES /* K of a classifier */
#define LEARNER_MAX_HISTORY 1024                /* closed windows kept */
#define LEARNER_NAME_MAX 63 /* bytes of a name (task, feature...) */
#define LEARNER_BASELINES 2 /* no-change, then mean or majority */

/* ---- Types ------------------------------------------------------------- */

enum learner_task {
    LEARNER_REGRESSION = 1, /* Real target; linear candidates. */
    LEARNER_BINARY = 2,     /* Classes 0/1; logistic (or softmax) ones. */
    LEARNER_MULTICLASS = 3, /* Classes 0..K-1; softmax candidates. */
};

enum learner_window_mode {
    LEARNER_WINDOW_ROWS = 1, /* A window holds window_rows training rows. */
    LEARNER_WINDOW_TIME = 2, /* A window spans window_ms of data time. */
};

enum learner_detector {
    LEARNER_DETECT_NONE = 0,
    LEARNER_DETECT_ADWIN = 1,
    LEARNER_DETECT_PH = 2,
    LEARNER_DETECT_BOTH = 3, /* Either one detecting is a drift. */
};

/* Window score used for ranking (lower is better); ties use the second. */
enum learner_rank {
    LEARNER_RANK_DEFAULT = 0,  /* Error rate, or RMSE for regression. */
    LEARNER_RANK_ERROR = 1,    /* 1 - accuracy, then log loss. */
    LEARNER_RANK_LOG_LOSS = 2, /* Log loss, then error rate. */
    LEARNER_RANK_RMSE = 3,     /* RMSE, then MAE. */
    LEARNER_RANK_MAE = 4,      /* MAE, then RMSE. */
};

/* One candidate configuration. */
struct learner_candidate {
    char name[LEARNER_NAME_MAX + 1]; /* "" = generated from params, as
                                        "logistic/sgd/lr=0.1/l2=0". */
    struct model_params params;      /* Kind must suit the task. */
};

struct learner_config {
    const char *task;   /* Task name (borrowed, copied); may be NULL. */
    const char *target; /* Target name (borrowed, copied); may be NULL. */
    enum learner_task kind;
    size_t n_features;                /* 1..LEARNER_MAX_FEATURES. */
    const char *const *feature_names; /* [n_features], borrowed, copied;
                                         distinct; NULL = "x0", "x1"... */
    const bool *indicator; /* [n_features] or NULL (all): which features
                              get a "?missing" input. Borrowed, copied. */
    size_t n_classes;      /* 2..LEARNER_MAX_CLASSES, or 0. */
    const char *const *class_labels; /* [n_classes] or NULL ("0", "1"..). */
    size_t max_series; /* Series (device ids) with their own no-change
                          slot; more share one (learn/baseline.h). */

    const struct learner_candidate *candidates; /* Borrowed, copied. */
    size_t n_candidates; /* 0: the default grid (learner_default_grid). */

    enum learner_window_mode window_mode;
    uint64_t window_rows;   /* Rows per window (ROWS mode), >= 1. */
    int64_t window_ms;      /* Data time per window (TIME mode), >= 1. */
    uint64_t min_rank_rows; /* Fewer rows in a window: no ranking. */
    enum learner_rank rank;
    double min_margin_rel;    /* Relative margin to unseat the champion. */
    double min_margin_abs;    /* Absolute floor of that margin. */
    double switch_z;          /* Evidence to unseat it: the paired test's
                                 z (see Rotation), >= 0; 0 = off. */
    size_t history_len;       /* Closed windows kept, 1..LEARNER_MAX_HISTORY. */
    double publish_tolerance; /* Champion score change that asks for a
                                 snapshot (0: any change). */

    double test_fraction; /* Share of rows in the test stream, [0, 0.5]. */
    uint64_t test_salt;   /* Mixed into the hash; choose per deployment. */

    enum learner_detector detector;
    struct drift_adwin_params adwin; /* Used if ADWIN is on. */
    struct drift_ph_params ph;       /* Used if Page-Hinkley is on. */
    double drift_shrink;      /* Window length factor on drift, (0, 1]. */
    uint64_t min_window_rows; /* Floor of a shortened window (ROWS). */
    int64_t min_window_ms;    /* Floor of a shortened window (TIME). */
    uint32_t adwin_block;     /* ADWIN sees the mean loss of each block of
                                 this many rows (>= 1; see above). */
};

/* One labelled row. x and present are borrowed for the call. */
struct learner_row {
    uint32_t series;        /* Device id: no-change baseline's series. */
    uint64_t seq;           /* Message seq (or row index): test hash. */
    int64_t ts_ms;          /* Data time of the row, ms since the epoch. */
    double y;               /* Label: value, or class index as a double. */
    const double *x;        /* [n_features] feature values. */
    const uint8_t *present; /* [n_features] 0/1, or NULL: all present
                               (non-finite x still counts as missing). */
};

/* What learner_drift produced; maps 1:1 to proto DriftEvent (the caller
 * adds task and encodes with codec_encode_drift_event()). */
struct learner_drift {
    int64_t ts_ms;          /* Data time of the row that raised it. */
    enum drift_state state; /* DRIFT_DETECTED. */
    const char *detector;   /* "adwin" or "page_hinkley"; static string. */
    uint64_t window_id;     /* Window open when it was raised. */
    uint64_t row;           /* Rows seen by the task when raised. */
    double mean_before;     /* Champion loss before / after the change. */
    double mean_after;
};

/* Result of one learner_update(). */
struct learner_out {
    bool test;             /* The row went to the test stream. */
    double y_hat;          /* Champion's prediction for the row, made before any
                              training on it: value, or class index. */
    double p_hat;          /* Classification: its probability of y_hat. */
    bool rotated;          /* A window closed during this call. */
    bool publish;          /* ...and its champion or the champion's score
                              changed: take and publish a snapshot. */
    bool champion_changed; /* The rotation changed the champion. */
    bool drift;            /* A drift was detected: see drift_event. */
    struct learner_drift drift_event; /* Valid if drift. */
};

/* Counters since learner_new() (restored by learner_restore()). */
struct learner_stats {
    uint64_t rows;             /* Rows given to learner_update(). */
    uint64_t rows_trained;     /* Prequential rows (trained on). */
    uint64_t rows_test;        /* Test-stream rows (never trained on). */
    uint64_t bad_labels;       /* Rows refused for their label. */
    uint64_t features_missing; /* Missing values imputed. */
    uint64_t windows;          /* Windows closed. */
    uint64_t champion_changes; /* Rotations that changed the champion. */
    uint64_t drift_warnings;   /* Rows that ended in a WARNING state. */
    uint64_t drift_detections; /* DriftEvents produced. */
    uint64_t model_errors;     /* Model updates refused (should stay 0). */
};

/* A closed window in the history ring. */
struct learner_window {
    uint64_t id;          /* 0, 1, 2... in closing order. */
    int64_t start_ms;     /* Data time of its first row. */
    int64_t end_ms;       /* Data time of its last row. */
    uint64_t rows;        /* Training rows scored in it. */
    uint64_t test_rows;   /* Test rows that arrived while it was open. */
    size_t champion;      /* Champion while it was open. */
    size_t next_champion; /* Champion chosen when it closed. */
    bool drift;           /* A drift was detected in it. */
    const struct metrics_result *candidates; /* [n_candidates]: validation
                                                figures (borrowed). */
    const struct metrics_result *baselines;  /* [LEARNER_BASELINES]. */
};

struct learner;

/* ---- Configuration ----------------------------------------------------- */

/* Fill *c with weir's defaults for a task: windows of 1000 rows (or, in
 * TIME mode, 1 hour), min_rank_rows 30, margins 2 % / 1e-9, switch_z 3,
 * 8 windows of history, 5 % test rows, ADWIN (delta 0.002) on every row,
 * drift_shrink 0.25 down to
 * 100 rows / 1 minute, max_series 4096, the default grid. The caller then
 * sets names, classes and anything else. c is the caller's. */
void learner_config_default(struct learner_config *c, enum learner_task kind,
                            size_t n_features, size_t n_classes);

/* The default candidate grid for a task kind: writes up to cap entries
 * into out (the caller's; may be NULL with cap 0) and returns how many
 * there are. See learner.c for the grid and why. */
size_t learner_default_grid(enum learner_task kind,
                            struct learner_candidate *out, size_t cap);

/* ---- Lifecycle --------------------------------------------------------- */

/* Create a learner (borrows cfg and what it points to; all is copied).
 * Returns 0 and *out (returns owned; free with learner_free()), -EINVAL
 * (a field out of range, a candidate unsuited to the task, duplicate
 * names) or -ENOMEM. */
int learner_new(struct learner **out, const struct learner_config *cfg);

/* Free l (takes it); NULL is a no-op. */
void learner_free(struct learner *l);

/* ---- Operations -------------------------------------------------------- */

/* Learn from one row (borrowed), as described at the top; out (the
 * caller's; may be NULL) says what happened. Returns 0, or -EINVAL for a
 * bad label (counted; nothing else changes, though a timed window may
 * have closed first: see out->rotated). Never allocates. */
int learner_update(struct learner *l, const struct learner_row *row,
                   struct learner_out *out);

/* Close the open window if data time now_ms is past its end (TIME mode;
 * a daemon timer driven by data time keeps replays deterministic). Returns
 * true if it rotated; out as for learner_update() (may be NULL). */
bool learner_advance(struct learner *l, int64_t now_ms,
                     struct learner_out *out);

/* Close the open window now, whatever its length (e.g. before shutdown).
 * Returns false (and does nothing) if it has no rows. */
bool learner_rotate(struct learner *l, struct learner_out *out);

/* The champion's prediction for x[n_features] / present (borrowed; present
 * may be NULL) with the current state, exactly as learn/predictor.h
 * computes it from a snapshot taken now (bit for bit): the scaler's 1/sd is
 * recomputed from its (count, mean, m2), where the row path uses
 * learn/scaler.c's Newton-tracked value, so this may differ from a
 * prequential out->y_hat in the last bits. Nothing in l is modified; it
 * allocates scratch (not for a per-row path). Returns the value
 * (regression) or the most probable class, and for classification fills
 * proba[n_classes] if not NULL (the caller's); NAN without memory. */
double learner_predict(const struct learner *l, const double *x,
                       const uint8_t *present, double *proba);

/* ---- Introspection ----------------------------------------------------- */

size_t learner_candidates(const struct learner *l);
/* Name of candidate i (borrowed, valid until learner_free). */
const char *learner_candidate_name(const struct learner *l, size_t i);
/* Hyper-parameters of candidate i, copied into *out. */
void learner_candidate_params(const struct learner *l, size_t i,
                              struct model_params *out);
size_t learner_champion(const struct learner *l);
uint64_t learner_window_id(const struct learner *l); /* the open window */
/* Current length of a window (rows or ms, by mode): shorter after drift. */
uint64_t learner_window_length(const struct learner *l);
void learner_stats(const struct learner *l, struct learner_stats *out);
enum drift_state learner_drift_state(const struct learner *l);

/* Closed windows in the history ring (at most history_len), and the i-th
 * newest (i = 0 is the last closed). Returns false if i is out of range.
 * out's pointers borrow the learner's memory until the next update. */
size_t learner_history_len(const struct learner *l);
bool learner_history(const struct learner *l, size_t i,
                     struct learner_window *out);

/* Figures of candidate i (or baseline LEARNER_BASELINE_BASE + b, b = 0
 * no-change, 1 mean/majority) over one scope, into *out. */
enum learner_scope {
    LEARNER_SCOPE_WINDOW = 1,      /* The open window's validation rows. */
    LEARNER_SCOPE_ALL = 2,         /* Every training row since the start. */
    LEARNER_SCOPE_TEST = 3,        /* Every test row since the start. */
    LEARNER_SCOPE_TEST_RECENT = 4, /* Test rows of the last history_len to
                                      2 history_len windows (snapshots). */
};
#define LEARNER_BASELINE_BASE 1000
int learner_metrics(const struct learner *l, size_t i, enum learner_scope scope,
                    struct metrics_result *out);

/* What the learner's own predictions scored, row by row (the champion of
 * each window), since the start, open window included. */
void learner_served(const struct learner *l, struct metrics_result *out);

/* The same over the test stream: each test row scored by the champion of
 * its time (an unbiased estimate of what the learner served). */
void learner_served_test(const struct learner *l, struct metrics_result *out);

/* Name of baseline b (0 or 1): "no_change", "mean" or "majority". */
const char *learner_baseline_name(const struct learner *l, size_t b);

/* ---- Snapshots --------------------------------------------------------- */

/* Fill out (empty: snapshot_init) from the champion; out returns owned
 * members (snapshot_close). Returns 0 or -ENOMEM (out left empty). Bumps
 * the version if anything changed since the last snapshot. */
int learner_snapshot(struct learner *l, struct snapshot *out);

/* The version the next unchanged snapshot would carry (0 before any). */
uint64_t learner_snapshot_version(const struct learner *l);

/* ---- Checkpoints and merge --------------------------------------------- */

/* Serialise the whole state (models with optimizer state, scaler,
 * baselines, accumulators, detectors, window, history, counters, snapshot
 * version) into a new buffer: *buf returns owned (free()), *len its size.
 * Layout (versioned, little-endian) in learner.c. 0 or -ENOMEM. */
int learner_save(const struct learner *l, uint8_t **buf, size_t *len);

/* Restore a state saved by learner_save() into l, which must have been
 * created with the same configuration (checked by a fingerprint). 0,
 * -EBADMSG (corrupt or truncated: CRC, lengths), -EPROTONOSUPPORT (layout
 * version unknown), -EINVAL (another configuration). On error l is
 * unchanged. Borrows buf. */
int learner_restore(struct learner *l, const uint8_t *buf, size_t len);

/* Merge src into dst (borrows src), for learners of the same configuration
 * that saw disjoint rows (DESIGN.md "Growing past one gateway"): scaler,
 * models, baselines and the open window's and test accumulators are
 * merged as their modules define; counters add; dst keeps its window,
 * champion, history and the ranking's paired evidence. 0 or -EINVAL
 * (configurations differ). */
int learner_merge(struct learner *dst, const struct learner *src);

#endif /* WEIR_LEARN_LEARNER_H */
