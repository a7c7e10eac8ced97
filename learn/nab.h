/* nab.h -- the Numenta Anomaly Benchmark's scoring rules, as pure functions.
 *
 * NAB (Lavin & Ahmad 2015, arXiv:1510.03336; Ahmad et al. 2017) scores a
 * streaming anomaly detector on 58 labelled series. A detector emits one
 * score in [0, 1] per row; a row is a detection when its score is at or
 * above a threshold that is optimised once for the whole corpus per
 * application profile. This module holds only the arithmetic: arrays of
 * timestamps, scores and window bounds go in, raw and normalised scores come
 * out. Loading NAB's files is tests/nab_data.h's job.
 *
 * The rules, per file of n rows:
 *  - The first min(floor(0.15 n), 0.15 * 5000) rows are the probationary
 *    period: they are never scored (NAB_PROBATION_PCT).
 *  - Each labelled anomaly window [L, R] (row indices, inclusive, width
 *    W = R - L + 1) scores its first detection by position: a row i in the
 *    window has relative position p = -(R - i + 1) / W, from -1 at the left
 *    edge to -1/W at the right edge, and scores
 *    A_TP * sigma(p) / sigma(-1), where sigma(p) = 2 / (1 + exp(5 p)) - 1
 *    (the "scaled sigmoid"; sigma(p) = -1 for p > 3). Only the best (the
 *    earliest) detection of a window counts; a window with no detection
 *    scores -A_FN.
 *  - Every detection outside a window is a false positive and costs
 *    A_FP * sigma(|i - R'| / (W' - 1)), a negative number, where R' and W'
 *    are the right edge and width of the preceding window: a detection just
 *    after a window costs little, one far after it (p > 3) or before the
 *    first window costs the full A_FP. They add up without limit.
 *  - True negatives are not rewarded (A_TN is carried but unused, as in
 *    NAB).
 *  - The corpus raw score at threshold t is the sum over files. The
 *    optimiser tries every distinct score value as t (plus 1.1, "detect
 *    nothing") and keeps the best; ties keep the higher threshold.
 *  - Normalisation: 100 * (raw - null) / (perfect - null), where null is the
 *    raw score of the null detector (no detection anywhere: -A_FN per
 *    scorable window) and perfect is A_TP times the number of labelled
 *    windows (NAB counts every window of the label file here).
 *
 * Cost: nab_corpus_add() is O(n + windows) per file and copies 24 bytes per
 * row; nab_corpus_optimise() sorts once (O(N log N), N rows in the corpus,
 * the sort is cached across profiles) and sweeps in O(N).
 *
 * Threads: no shared state; a struct nab_corpus belongs to its caller. */
#ifndef WEIR_LEARN_NAB_H
#define WEIR_LEARN_NAB_H

#include <stddef.h> /* For size_t. */
#include <stdint.h> /* For int64_t, int32_t. */

/* ---- Types --------------------------------------------------------------- */

#define NAB_PROBATION_PCT 0.15 /* NAB's default probationary fraction. */
#define NAB_NO_DETECTION 1.1   /* The threshold that detects nothing. */

/* A labelled anomaly window, as timestamps that occur in the series. */
struct nab_window {
    int64_t start_s; /* First timestamp of the window, s since the epoch. */
    int64_t end_s;   /* Last timestamp of the window (inclusive), s. */
};

/* An application profile: NAB's cost matrix. */
struct nab_profile {
    char name[32]; /* "standard", "reward_low_FP_rate", ... */
    double a_tp;   /* Reward for a detection at a window's left edge. */
    double a_fp;   /* Cost of a false positive far from any window. */
    double a_tn;   /* Carried for completeness; NAB does not use it. */
    double a_fn;   /* Cost of a window with no detection. */
};

/* What a row is to the scorer (see nab_label_rows()). */
struct nab_row {
    double sweep;   /* Unweighted scaled-sigmoid value (see top comment). */
    int32_t window; /* Window index (>= 0), NAB_ROW_FREE, NAB_ROW_PROBATION. */
};

#define NAB_ROW_FREE (-1)      /* Outside every window: a detection is a FP. */
#define NAB_ROW_PROBATION (-2) /* In the probationary period: not scored. */

/* The score of one detector at one threshold under one profile. */
struct nab_result {
    double threshold;     /* Rows with score >= threshold are detections. */
    double raw;           /* Sum of the weighted window and FP scores. */
    double null_raw;      /* Raw score of the null detector (no detections). */
    double perfect;       /* A_TP times the number of labelled windows. */
    double score;         /* 100 * (raw - null_raw) / (perfect - null_raw). */
    size_t tp;            /* Detected rows inside windows. */
    size_t fp;            /* Detected rows outside windows. */
    size_t tn;            /* Undetected rows outside windows. */
    size_t fn;            /* Undetected rows inside windows. */
    size_t windows_hit;   /* Scorable windows with at least one detection. */
    size_t windows_total; /* Scorable windows. */
};

/* A corpus of scored files (opaque). */
struct nab_corpus;

/* ---- The rules ----------------------------------------------------------- */

/* NAB's scaled sigmoid: 2 / (1 + exp(5 p)) - 1, and -1 for p > 3. */
double nab_scaled_sigmoid(double pos);

/* Length of the probationary period of a file of n rows for fraction pct:
 * min(floor(pct * n), pct * 5000), rounded down to a row count. */
size_t nab_probation_len(size_t n, double pct);

/* Classify the n rows of one file (timestamps ts_s, in file order) against
 * its nwin windows (in time order, non-overlapping), filling rows[0..n).
 * Windows are matched by exact timestamp, first occurrence, as NAB does.
 * Borrows every array. Returns 0, or -EINVAL when a window bound is not a
 * timestamp of the file, a window ends before it starts, or windows are out
 * of order. */
int nab_label_rows(const int64_t *ts_s, size_t n, const struct nab_window *win,
                   size_t nwin, double pct, struct nab_row *rows);

/* The weighted score of one row under profile p if it were a detection: 0 for
 * probationary rows. This is NAB's per-row S(t) column. */
double nab_row_weighted(const struct nab_row *row, const struct nab_profile *p);

/* Normalise a raw score: 100 * (raw - null_raw) / (perfect - null_raw). */
double nab_normalise(double raw, double null_raw, double perfect);

/* ---- Corpus -------------------------------------------------------------- */

/* Make an empty corpus in *out; returns owned (free with nab_corpus_free()).
 * Returns 0 or -ENOMEM. */
int nab_corpus_new(struct nab_corpus **out);

/* Free a corpus; NULL is a no-op. Takes c. */
void nab_corpus_free(struct nab_corpus *c);

/* Add one file: n rows with timestamps ts_s and detector scores in [0, 1],
 * and its windows (nwin may be 0). Probation uses NAB_PROBATION_PCT. Borrows
 * every array (the corpus copies what it needs). Returns 0, -EINVAL (bad
 * windows, see nab_label_rows(), a score outside [0, 1] or not finite, or
 * n == 0) or -ENOMEM. */
int nab_corpus_add(struct nab_corpus *c, const int64_t *ts_s,
                   const double *score, size_t n, const struct nab_window *win,
                   size_t nwin);

/* Number of files added so far. */
size_t nab_corpus_files(const struct nab_corpus *c);

/* Find the threshold that maximises the corpus raw score under profile p and
 * fill *out with the result there. Returns 0, -EINVAL (empty corpus) or
 * -ENOMEM. */
int nab_corpus_optimise(struct nab_corpus *c, const struct nab_profile *p,
                        struct nab_result *out);

/* Score the whole corpus (file == SIZE_MAX) or the one file with that index
 * (in order of addition) at a given threshold; null_raw and perfect in *out
 * are those of the same selection. Returns 0, -EINVAL (no such file) or
 * -ENOMEM. */
int nab_corpus_score(const struct nab_corpus *c, size_t file,
                     const struct nab_profile *p, double threshold,
                     struct nab_result *out);

#endif /* WEIR_LEARN_NAB_H */
