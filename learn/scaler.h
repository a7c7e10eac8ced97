/* scaler.h -- online standardisation of feature vectors with explicit
 * missing values (Welford mean/variance per column), mergeable.
 *
 * A scaler has n feature columns. scaler_transform() writes the model input
 * z[] of scaler_width() = n + n_ind entries, laid out as
 *
 *     z[0 .. n)            z[i] = (x[i] - mean[i]) / sd[i]   if present
 *                          z[i] = 0 (the running mean)       if missing
 *     z[n .. n + n_ind)    one 0/1 indicator per feature that has one, in
 *                          feature order: z[n + j] = 1 if the j-th feature
 *                          with an indicator is missing, else 0.
 *
 * scaler_indicator_col() maps a feature to its indicator column. The
 * snapshot records this layout: inputs n + j are named "<feature>?missing"
 * and ModelSnapshot.impute[i] is mean[i] (what z = 0 stands for).
 *
 * sd[i] is the population standard deviation sqrt(m2 / count). While a
 * column has count == 0 or m2 == 0 (no spread seen yet) its z is 0: the
 * mean is all we know. A value that is not finite (NaN, +-Inf) or beyond
 * +-SCALER_VALUE_MAX counts as missing, everywhere, so z[] is always
 * finite. (1/sd is tracked incrementally: z is exact to 4e-9 relative;
 * scaler_state_get() carries the tracked value, so checkpoints are exact.)
 *
 * Prequential order for a row: scaler_update(x) then scaler_transform(x)
 * (or scaler_update_transform(), one pass). Using the row's own features is
 * legitimate (they are known at prediction time), and it bounds |z| by
 * sqrt(count) for the row just added. For the target (regression), use a
 * separate 1-column scaler without indicators: predict y = scaler_unz(t, 0,
 * model output) with the state *before* the label arrives, then
 * scaler_update(t, &y) and train on scaler_z(t, 0, y).
 *
 * Merge (DESIGN.md "Growing past one gateway"): scaler_merge() combines two
 * scalers of the same layout with Chan et al.'s pairwise update; the result
 * equals, up to rounding, one scaler updated with both streams.
 *
 * Threads: none of its own; a scaler belongs to the thread that created it
 * (the loop thread), and calls on distinct scalers are independent. */
#ifndef WEIR_LEARN_SCALER_H
#define WEIR_LEARN_SCALER_H

#include <stdbool.h> /* For bool. */
#include <stddef.h>  /* For size_t. */
#include <stdint.h>  /* For uint8_t, uint64_t. */

/* ---- Types ------------------------------------------------------------- */

#define SCALER_MAX_FEATURES 65536 /* n beyond this is -EINVAL */
#define SCALER_VALUE_MAX 1e100    /* larger |x| counts as missing */

struct scaler;

/* Welford state of one column; maps 1:1 to proto ScalerState. */
struct scaler_col {
    uint64_t count; /* Present values seen. */
    double mean;    /* Running mean of those values. */
    double m2;      /* Sum of squared deviations from the mean. */
};

/* ---- Lifecycle --------------------------------------------------------- */

/* Create a scaler for n_features columns (1..SCALER_MAX_FEATURES).
 * indicator (borrows, may be NULL): indicator[i] true gives feature i a 0/1
 * missing-indicator column; NULL gives every feature one. Pass an all-false
 * array for none (e.g. the target scaler). On success *out is returned
 * owned (free with scaler_free). Returns 0, -EINVAL, -ENOMEM. */
int scaler_new(struct scaler **out, size_t n_features, const bool *indicator);

/* Free s (takes it); NULL is a no-op. */
void scaler_free(struct scaler *s);

/* Forget all statistics (layout kept). */
void scaler_reset(struct scaler *s);

/* ---- Layout ------------------------------------------------------------ */

/* Feature columns n. */
size_t scaler_features(const struct scaler *s);

/* Width of z[]: n + number of indicator columns. */
size_t scaler_width(const struct scaler *s);

/* Column of z[] holding feature i's missing indicator, or -1 if it has none.
 * i < n. */
long scaler_indicator_col(const struct scaler *s, size_t i);

/* ---- Operations (hot path: no allocation) ------------------------------ */

/* Add one row to the statistics. x[n] and present[n] are borrowed; present
 * may be NULL (all present). Missing and non-finite values are skipped
 * (their column's count does not grow). */
void scaler_update(struct scaler *s, const double *x, const uint8_t *present);

/* Write z[scaler_width()] for x[n] (layout above) with the current
 * statistics; s is unchanged. x, present (may be NULL) borrowed; z is the
 * caller's. Every z[] is finite. Returns the number of missing values in
 * the row (not present, not finite, or beyond +-SCALER_VALUE_MAX): when it
 * is 0, every indicator column of z is 0. */
size_t scaler_transform(const struct scaler *s, const double *x,
                        const uint8_t *present, double *z);

/* scaler_update() then scaler_transform() of the same row, in one pass;
 * returns the missing values as scaler_transform(). */
size_t scaler_update_transform(struct scaler *s, const double *x,
                               const uint8_t *present, double *z);

/* scaler_update_transform() for a caller that reads the indicator columns
 * only on rows with a missing value: z[0 .. n) is always written, z[n ..
 * width) only when the return is not 0 (when it is 0 they would all be 0,
 * and the learner then gives its models the features alone). Saves the
 * indicators' stores on the common row. */
size_t scaler_update_features(struct scaler *s, const double *x,
                              const uint8_t *present, double *z);

/* One column: z of value v in column i (0 if v counts as missing or the
 * column has no spread yet), and its inverse mean + sd * z (mean if no
 * spread or z not finite; clamped to +-DBL_MAX). */
double scaler_z(const struct scaler *s, size_t i, double v);
double scaler_unz(const struct scaler *s, size_t i, double z);

/* Population standard deviation of column i (0 while unknown). */
double scaler_sd(const struct scaler *s, size_t i);

/* ---- State (snapshots, checkpoints, merge) ----------------------------- */

/* Copy column i's state into *out. */
void scaler_col_get(const struct scaler *s, size_t i, struct scaler_col *out);

/* Replace column i's state with *in (borrows). Returns 0, or -EINVAL (count
 * 0 with non-zero mean/m2, |mean| > SCALER_VALUE_MAX, a non-finite m2, or
 * m2 < 0): s is unchanged. */
int scaler_col_set(struct scaler *s, size_t i, const struct scaler_col *in);

/* Full state for checkpoints, as a flat array of doubles with layout
 * version SCALER_STATE_VERSION: per column count, mean, m2 and the
 * tracked 1/sd (see scaler.c). Unlike scaler_col_set(), which recomputes
 * 1/sd exactly, scaler_state_set() restores it as it was, so a restored
 * scaler continues bit for bit as if uninterrupted. */
#define SCALER_STATE_VERSION 1
size_t scaler_state_len(const struct scaler *s); /* 4 n */
/* Returns 0, or -EINVAL if len != scaler_state_len(). out is the
 * caller's. */
int scaler_state_get(const struct scaler *s, double *out, size_t len);
/* Borrows in. Returns 0, or -EINVAL (wrong len; a column that
 * scaler_col_set() would refuse, a count that is not an integer below
 * 2^53, or a 1/sd further than 1e-6 relative from the exact one): s
 * unchanged. */
int scaler_state_set(struct scaler *s, const double *in, size_t len);

/* dst := dst merged with src (borrows src): per column, the Welford state of
 * the union of both streams (Chan, Golub, LeVeque 1979). Returns 0, or
 * -EINVAL if the layouts (n and indicator set) differ: dst unchanged. */
int scaler_merge(struct scaler *dst, const struct scaler *src);

#endif /* WEIR_LEARN_SCALER_H */
