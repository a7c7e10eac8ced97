/* baseline.h -- the reference predictors every candidate must beat:
 * no-change (persistence) and mean / majority class, with the models'
 * predict-then-update interface.
 *
 *   BASELINE_NO_CHANGE  predicts the last label seen in the same series
 *                       (a device); for a series with no label yet, the last
 *                       label seen in any series; before any label, 0.
 *                       Regression or classification. Its accuracy is the
 *                       p_nc of kappa-temporal (learn/metrics.h).
 *   BASELINE_MEAN       regression: the mean of all labels seen (0 before
 *                       any).
 *   BASELINE_MAJORITY   classification: the most frequent class seen so far
 *                       (lowest index on ties; 0 before any).
 *
 * Series ids are the dense interned device ids (stream/intern.h): a series
 * id below max_series has its own slot; a larger one shares one overflow
 * slot, and each such update is counted (baseline_overflows()), never
 * dropped silently. Memory: 16 bytes per series plus 8 per class, allocated
 * by baseline_new(); predict and update never allocate.
 *
 * Probabilities (for log loss): majority predicts the class frequencies
 * with add-one smoothing, (c_k + 1) / (rows + K); no-change is a hard
 * prediction (probability 1 on its class), so its log loss mostly measures
 * how often it is wrong (each miss costs -log 1e-15 after clamping).
 *
 * Threads: none of its own; a baseline belongs to the thread that created
 * it (the loop thread). */
#ifndef WEIR_LEARN_BASELINE_H
#define WEIR_LEARN_BASELINE_H

#include <stddef.h> /* For size_t. */
#include <stdint.h> /* For uint32_t, uint64_t. */

/* ---- Types ------------------------------------------------------------- */

enum baseline_kind {
    BASELINE_NO_CHANGE = 1, /* Last label of the series. */
    BASELINE_MEAN = 2,      /* Regression: running mean. */
    BASELINE_MAJORITY = 3,  /* Classification: most frequent class. */
};

#define BASELINE_MAX_SERIES (1u << 24) /* max_series beyond this: -EINVAL */
#define BASELINE_MAX_CLASSES 1024      /* n_classes beyond this: -EINVAL */

struct baseline;

/* ---- Lifecycle --------------------------------------------------------- */

/* Create a baseline. n_classes: 0 for regression, 2..BASELINE_MAX_CLASSES
 * for classification (labels are class indices 0..K-1). BASELINE_MEAN needs
 * n_classes 0, BASELINE_MAJORITY n_classes >= 2. max_series (1..
 * BASELINE_MAX_SERIES) sizes the per-series table of BASELINE_NO_CHANGE and
 * is ignored by the others. On success *out is returned owned (free with
 * baseline_free). Returns 0, -EINVAL, -ENOMEM. */
int baseline_new(struct baseline **out, enum baseline_kind kind,
                 size_t n_classes, size_t max_series);

/* Free b (takes it); NULL is a no-op. */
void baseline_free(struct baseline *b);

/* Forget everything seen (and the overflow count). */
void baseline_reset(struct baseline *b);

/* ---- Hot path (no allocation) ------------------------------------------ */

/* The prediction for the next label of series; b is not modified. For
 * classification it is a class index (as a double). */
double baseline_predict(const struct baseline *b, uint32_t series);

/* Classification: fill proba[K] (the caller's) as described at the top and
 * return the predicted class. Calling it on a regression baseline is a
 * programmer error. */
size_t baseline_predict_proba(const struct baseline *b, uint32_t series,
                              double *proba);

/* Classification: the probability baseline_predict_proba() gives class
 * cls (< K), bit for bit, in O(1). */
double baseline_proba_of(const struct baseline *b, uint32_t series, size_t cls);

/* Learn label y of series. Returns 0, or -EINVAL (y not finite, or not a
 * class index 0..K-1 for classification): b unchanged. */
int baseline_update(struct baseline *b, uint32_t series, double y);

/* Prequential step in one call: *pred receives baseline_predict(b,
 * series) and, for classification, *p_y (may be NULL; ignored for
 * regression) baseline_proba_of(b, series, y), both as they stand before
 * y is learned; then y is learned as by baseline_update(). Returns 0, or
 * -EINVAL for a bad y: b unchanged, *pred set, *p_y NaN. */
int baseline_learn(struct baseline *b, uint32_t series, double y, double *pred,
                   double *p_y);

/* baseline_learn() of a classification label the caller has checked:
 * class k < n_classes (anything else is a programmer error). Returns the
 * class predicted before learning, or -1 if b is a no-change baseline that
 * had no label at all yet (its prediction, 0, persists nothing: a caller
 * may count it as an abstention); *p_k (may be NULL) gets the probability
 * it gave k, as baseline_proba_of(). The learner's row path: one call
 * without a label check or a conversion from double. */
long baseline_learn_class(struct baseline *b, uint32_t series, size_t k,
                          double *p_k);

/* ---- Introspection and merge ------------------------------------------- */

uint64_t baseline_rows(const struct baseline *b);      /* labels learned */
uint64_t baseline_overflows(const struct baseline *b); /* updates of series
                                                          >= max_series */

/* Merge src into dst (borrows src): same kind, n_classes and max_series,
 * else -EINVAL and dst unchanged. Mean: the weighted mean of both; majority:
 * counts added; no-change: per series, src's last label wins where src has
 * one (src is taken as the more recent). Returns 0 or -EINVAL. */
int baseline_merge(struct baseline *dst, const struct baseline *src);

/* ---- State (checkpoints) ---------------------------------------------- */

/* Full state as a flat array of doubles (counts are exact below 2^53),
 * layout version BASELINE_STATE_VERSION: rows, overflows, mean, leader,
 * the global and overflow slots (last, seen), then counts[K] (majority)
 * and (last, seen) per series (no-change). Restored into a baseline of the
 * same kind and shape, predictions and further updates continue exactly
 * as if uninterrupted. */
#define BASELINE_STATE_VERSION 1
size_t baseline_state_len(const struct baseline *b);
/* Returns 0, or -EINVAL if len != baseline_state_len(). out is the
 * caller's. */
int baseline_state_get(const struct baseline *b, double *out, size_t len);
/* Borrows in. Returns 0, or -EINVAL (wrong len, a non-finite value, a
 * count that is negative or not an integer, a leader or label out of
 * range, a seen flag other than 0 or 1): b unchanged. */
int baseline_state_set(struct baseline *b, const double *in, size_t len);

#endif /* WEIR_LEARN_BASELINE_H */
