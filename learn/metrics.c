/* metrics.c -- prequential regression and classification figures from
 * additive sums.
 *
 * Everything an accumulator holds is a sum over its rows (or, for the
 * target's spread, a Welford state that merges exactly), so windows can be
 * reset in O(K^2) and accumulators merged by addition; the figures are
 * computed only when a window closes (metrics_result(), O(K^2)). Adding a
 * row is O(1): a handful of flops, one counter increment in the K x K
 * confusion matrix, and for a probability one multiply, not a log: the
 * log loss is -log of the product of the probabilities, and the product
 * (prob_prod) is kept above 2^-950 by moving it into the sum of logs
 * (log_loss) whenever it falls below 2^-900 (metrics_settle()). A log
 * costs ~50 instructions, more than the rest of the row's scoring; the
 * product is as accurate (each multiply rounds to 2^-53 relative, an
 * absolute 1.1e-16 in the log, as each log did) and only the last bits
 * of the figure differ from a sum of logs. A product is a sum too: merge
 * multiplies (settling first if it would get small), reset sets it to 1.
 *
 * Threads: no threads, no globals; an accumulator is owned by one thread. */
#include "learn/metrics.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

int metrics_init(struct metrics *m, enum metrics_kind kind, size_t classes)
{
    if (m == NULL)
        return -EINVAL;
    if (kind == METRICS_REGRESSION) {
        if (classes != 0)
            return -EINVAL;
    } else if (kind == METRICS_CLASSIFICATION) {
        if (classes < 2 || classes > METRICS_MAX_CLASSES)
            return -EINVAL;
    } else {
        return -EINVAL;
    }
    memset(m, 0, sizeof(*m));
    m->kind = kind;
    m->classes = (uint32_t)classes;
    m->prob_prod = 1.0;
    return 0;
}

void metrics_reset(struct metrics *m)
{
    m->rows = 0;
    m->skipped = 0;
    m->abs_err = 0;
    m->sq_err = 0;
    m->y_mean = 0;
    m->y_m2 = 0;
    m->prob_rows = 0;
    m->log_loss = 0;
    m->prob_prod = 1.0;
    m->correct = 0;
    m->nc_correct = 0;
    for (uint32_t i = 0; i < m->classes; i++)
        memset(m->confusion[i], 0, m->classes * sizeof(m->confusion[i][0]));
}

void metrics_add_reg(struct metrics *m, double y, double y_hat)
{
    double e = y - y_hat;
    double d;

    if (m->kind != METRICS_REGRESSION || !isfinite(e)) {
        m->skipped++;
        return;
    }
    m->rows++;
    m->abs_err += fabs(e);
    m->sq_err += e * e;
    d = y - m->y_mean;
    m->y_mean += d / (double)m->rows;
    m->y_m2 += d * (y - m->y_mean);
}

void metrics_add_class(struct metrics *m, size_t y, size_t y_hat, double p_true,
                       long y_nc)
{
    if (m->kind != METRICS_CLASSIFICATION || y >= m->classes ||
        y_hat >= m->classes) {
        m->skipped++;
        return;
    }
    metrics_add_class_checked(m, y, y_hat, p_true, y_nc);
}

void metrics_settle(struct metrics *m)
{
    m->log_loss -= log(m->prob_prod);
    m->prob_prod = 1.0;
}

int metrics_merge(struct metrics *dst, const struct metrics *src)
{
    uint64_t n;
    double d;

    if (dst->kind != src->kind || dst->classes != src->classes)
        return -EINVAL;
    n = dst->rows + src->rows;
    if (src->rows > 0 && dst->kind == METRICS_REGRESSION) {
        d = src->y_mean - dst->y_mean;
        dst->y_mean += d * ((double)src->rows / (double)n);
        dst->y_m2 +=
            src->y_m2 +
            d * d * ((double)dst->rows * (double)src->rows / (double)n);
    }
    dst->rows = n;
    dst->skipped += src->skipped;
    dst->abs_err += src->abs_err;
    dst->sq_err += src->sq_err;
    dst->prob_rows += src->prob_rows;
    dst->log_loss += src->log_loss;
    if (dst->prob_prod * src->prob_prod < METRICS_PROD_MIN) {
        metrics_settle(dst);
        dst->log_loss -= log(src->prob_prod);
    } else {
        dst->prob_prod *= src->prob_prod;
    }
    dst->correct += src->correct;
    dst->nc_correct += src->nc_correct;
    for (uint32_t i = 0; i < dst->classes; i++)
        for (uint32_t j = 0; j < dst->classes; j++)
            dst->confusion[i][j] += src->confusion[i][j];
    return 0;
}

/* ---- Results ----------------------------------------------------------- */

static void regression_result(const struct metrics *m,
                              struct metrics_result *out)
{
    double n = (double)m->rows;

    out->mae = m->abs_err / n;
    out->rmse = sqrt(m->sq_err / n);
    if (m->y_m2 > 0)
        out->r2 = 1.0 - m->sq_err / m->y_m2;
    else
        out->r2 = m->sq_err == 0 ? 1.0 : 0.0;
}

/* Macro F1 and Cohen's kappa from the confusion matrix. */
static void confusion_result(const struct metrics *m,
                             struct metrics_result *out)
{
    double n = (double)m->rows;
    double f1_sum = 0;
    double pe = 0;
    unsigned used = 0;

    for (uint32_t k = 0; k < m->classes; k++) {
        uint64_t row = 0; /* true k */
        uint64_t col = 0; /* predicted k */
        uint64_t tp = m->confusion[k][k];
        for (uint32_t j = 0; j < m->classes; j++) {
            row += m->confusion[k][j];
            col += m->confusion[j][k];
        }
        if (row + col > 0) {
            /* 2TP + FP + FN = row + col. */
            f1_sum += 2.0 * (double)tp / (double)(row + col);
            used++;
        }
        pe += ((double)row / n) * ((double)col / n);
    }
    out->macro_f1 = f1_sum / used;
    out->kappa = pe < 1.0 ? (out->accuracy - pe) / (1.0 - pe) : NAN;
}

void metrics_result(const struct metrics *m, struct metrics_result *out)
{
    double n = (double)m->rows;
    double p_nc;

    out->rows = m->rows;
    out->mae = NAN;
    out->rmse = NAN;
    out->r2 = NAN;
    out->accuracy = NAN;
    out->log_loss = NAN;
    out->macro_f1 = NAN;
    out->kappa = NAN;
    out->kappa_temporal = NAN;
    if (m->rows == 0)
        return;
    if (m->kind == METRICS_REGRESSION) {
        regression_result(m, out);
        return;
    }
    out->accuracy = (double)m->correct / n;
    if (m->prob_rows > 0)
        out->log_loss =
            (m->log_loss - log(m->prob_prod)) / (double)m->prob_rows;
    confusion_result(m, out);
    p_nc = (double)m->nc_correct / n;
    if (p_nc < 1.0)
        out->kappa_temporal = (out->accuracy - p_nc) / (1.0 - p_nc);
}
