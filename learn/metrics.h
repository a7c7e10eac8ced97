/* metrics.h -- prequential accumulators of prediction quality, resettable
 * per validation window and mergeable across windows or gateways.
 *
 * struct metrics is a transparent value (no pointers, fixed size, ~8.5 KB
 * with the confusion matrix): embed it, copy it, reset it when a window
 * rotates, merge two of the same kind and class count by adding. Feed each
 * scored row once with metrics_add_reg() or metrics_add_class(), then read
 * a struct metrics_result, which maps 1:1 to proto MetricSet.
 *
 * Definitions over the rows of the accumulator (n rows):
 *   MAE   sum |y - y_hat| / n         RMSE  sqrt(sum (y - y_hat)^2 / n)
 *   R^2   1 - SSE / SST, SST = sum (y - mean y)^2 over the same rows,
 *         accumulated with Welford (merge: Chan et al.). When SST == 0,
 *         R^2 is 1 if SSE == 0 else 0 (scikit-learn's force_finite).
 *   accuracy   correct / n
 *   log loss   mean of -log(clamp(p_true, 1e-15, 1)) over the rows that
 *              came with a probability (accumulated as a product of the
 *              clamped probabilities, whose log is taken only when it
 *              gets small and when figures are read: one multiply per row
 *              instead of a log; see metrics_add_class_checked())
 *   macro F1   mean over classes of 2 TP / (2 TP + FP + FN), over the
 *              classes that occur as a label or a prediction (as
 *              scikit-learn's f1_score(average="macro") without labels=)
 *   kappa      (p0 - pe) / (1 - pe), p0 = accuracy, pe = sum_k
 *              (row_k / n) (col_k / n) from the confusion matrix (Cohen)
 *   kappa_t    (p0 - p_nc) / (1 - p_nc), p_nc = accuracy of the no-change
 *              classifier on the same rows (Zliobaite et al. 2015)
 * A figure is NaN when it is undefined (no rows; pe == 1; p_nc == 1; no
 * probabilities) or not applicable to the accumulator's kind: the snapshot
 * encoder leaves that optional MetricSet field unset.
 *
 * Rows with a non-finite y or y_hat (regression) or a class index out of
 * range (classification) are not scored; they are counted in `skipped`.
 *
 * Threads: none of its own; an accumulator belongs to its owner's thread. */
#ifndef WEIR_LEARN_METRICS_H
#define WEIR_LEARN_METRICS_H

#include <stddef.h> /* For size_t. */
#include <stdint.h> /* For uint32_t, uint64_t. */

/* ---- Types ------------------------------------------------------------- */

#define METRICS_MAX_CLASSES 32    /* K bound of the confusion matrix */
#define METRICS_P_MIN 1e-15       /* log loss clamp, as scikit-learn's eps */
#define METRICS_PROD_MIN 0x1p-900 /* prob_prod below this: into log_loss */

enum metrics_kind {
    METRICS_REGRESSION = 1,
    METRICS_CLASSIFICATION = 2,
};

/* Sums of one accumulator; fields are written only by metrics_*(). */
struct metrics {
    uint32_t kind;       /* enum metrics_kind. */
    uint32_t classes;    /* K for classification, 0 for regression. */
    uint64_t rows;       /* Rows scored. */
    uint64_t skipped;    /* Rows refused (see above). */
    uint64_t nc_correct; /* Classification: no-change prediction == y. */
    double abs_err;      /* Regression: sum |y - y_hat|. */
    double sq_err;       /* Regression: sum (y - y_hat)^2. */
    double y_mean;       /* Regression: Welford mean of y. */
    double y_m2;         /* Regression: Welford sum of squared deviations. */
    uint64_t correct;    /* Classification: y_hat == y. (Not beside
                            nc_correct: GCC would pair the two adds in a
                            vector, through the stack.) */
    uint64_t prob_rows;  /* Classification: rows with a probability. */
    double log_loss;     /* Classification: sum of clamped -log p_true
                            over the rows not in prob_prod. */
    double prob_prod;    /* Classification: product of the clamped p_true
                            of the other rows, in [METRICS_PROD_MIN *
                            1e-15, 1]; 1 when there are none. */
    uint64_t confusion[METRICS_MAX_CLASSES][METRICS_MAX_CLASSES]; /* [y][y_hat]
                                                                     counts. */
};

/* One window's figures; maps 1:1 to proto MetricSet (NaN = field unset). */
struct metrics_result {
    uint64_t rows;         /* MetricSet.rows. */
    double mae;            /* MetricSet.mae. */
    double rmse;           /* MetricSet.rmse. */
    double r2;             /* MetricSet.r2. */
    double accuracy;       /* MetricSet.accuracy. */
    double log_loss;       /* MetricSet.log_loss. */
    double macro_f1;       /* MetricSet.macro_f1. */
    double kappa;          /* MetricSet.kappa. */
    double kappa_temporal; /* MetricSet.kappa_temporal. */
};

/* ---- Lifecycle --------------------------------------------------------- */

/* Initialise *m (the caller's storage) empty. classes: 0 for
 * METRICS_REGRESSION, 2..METRICS_MAX_CLASSES for METRICS_CLASSIFICATION.
 * Returns 0 or -EINVAL (m then unusable). Nothing to close. */
int metrics_init(struct metrics *m, enum metrics_kind kind, size_t classes);

/* Empty the sums (a new window); kind and classes are kept. Touches only
 * the K x K corner of the confusion matrix. */
void metrics_reset(struct metrics *m);

/* ---- Hot path ---------------------------------------------------------- */

/* Score one regression row: label y, prediction y_hat. */
void metrics_add_reg(struct metrics *m, double y, double y_hat);

/* Score one classification row: label y, predicted class y_hat, the
 * predicted probability of the *true* class p_true (pass a negative value
 * or NaN if the predictor gives none: log loss then skips the row), and
 * y_nc, the no-change classifier's prediction for this row (the previous
 * label of the series, learn/baseline.h); a negative y_nc means it had none
 * and counts as a miss of the no-change classifier. */
void metrics_add_class(struct metrics *m, size_t y, size_t y_hat, double p_true,
                       long y_nc);

/* Move prob_prod into log_loss (log_loss -= log(prob_prod), prob_prod =
 * 1). Figures do not change beyond rounding; the hot path calls it. */
void metrics_settle(struct metrics *m);

/* metrics_add_class() for a hot path that has checked its arguments: m a
 * classification accumulator, y and y_hat below its classes (anything else
 * is a programmer error, not a skipped row). Inline, because on the
 * learner's row path the call and the checks cost more than the work
 * (STYLE R16's exception, measured: bench/learn.sh instructions). The log
 * loss takes one multiply: the clamped p_true joins prob_prod, which
 * stays above METRICS_PROD_MIN * 1e-15 (normal, so no precision is lost)
 * because metrics_settle() moves it into log_loss once below
 * METRICS_PROD_MIN (one log per ~600 rows at a log loss of 1, far fewer
 * for a good model). */
static inline void metrics_add_class_checked(struct metrics *m, size_t y,
                                             size_t y_hat, double p_true,
                                             long y_nc)
{
    m->rows++;
    m->confusion[y][y_hat]++;
    m->correct += y == y_hat;
    m->nc_correct += (size_t)y_nc == y; /* a negative y_nc matches no y */
    if (p_true >= 0) {                  /* false for NaN too */
        m->prob_rows++;
        m->prob_prod *= p_true < METRICS_P_MIN ? METRICS_P_MIN
                        : p_true > 1           ? 1.0
                                               : p_true;
        if (m->prob_prod < METRICS_PROD_MIN)
            metrics_settle(m);
    }
}

/* dst += src (borrows src). Returns 0, or -EINVAL if kind or classes
 * differ: dst unchanged. */
int metrics_merge(struct metrics *dst, const struct metrics *src);

/* ---- Results ----------------------------------------------------------- */

/* Compute the figures of m into *out (the caller's); see the top. */
void metrics_result(const struct metrics *m, struct metrics_result *out);

#endif /* WEIR_LEARN_METRICS_H */
