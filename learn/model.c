/* model.c -- generalised linear models trained online: linear (squared
 * loss), logistic and softmax regression, with L2, by SGD, AdaGrad or NAG.
 *
 * Workload. One row at a time, dense inputs (a task has a handful to a few
 * dozen features, plus missing-value indicators), several candidate models
 * side by side on every row, on an edge gateway's core. The budget is one
 * candidate of 8 features at >= 10 M rows/s including scaling and metrics,
 * so predict + update must cost a few tens of ns: no allocation, no
 * indirect calls, one pass over the weights for the gradient step.
 *
 * Model. Inputs x[0..n) and a bias input x_n = 1. Row k of W (bias last)
 * gives the score z_k = sum_i W[k][i] x_i. Let g_k = dLoss/dz_k:
 *     linear    y_hat = z_0,            g_0 = y_hat - y
 *     logistic  p = sigmoid(z_0),       g_0 = p - y
 *     softmax   p_k = softmax(z)_k,     g_k = p_k - [k == y]
 * and the gradient of weight (k, i) is  d_ki = g_k x_i + l2 W[k][i]  (no L2
 * on the bias). Scores are clamped to +-MODEL_LOGIT_MAX before sigmoid /
 * softmax (and softmax subtracts the max), so p never reaches 0 or 1.
 *
 * Optimizers, per row t = 1, 2, ... (t counts rows trained):
 *   SGD      W -= eta_t d,  eta_t = eta / t^power_t (power_t = 0: constant)
 *   AdaGrad  G += d^2 (per weight);  W -= eta d / (sqrt(G) + 1e-8)
 *   NAG      Ross, Mineiro, Langford 2013, "Normalized online learning",
 *            Algorithm 2, as Vowpal Wabbit runs it (--adaptive
 *            --normalized, without the importance-invariant update). State:
 *            per input a scale s_i = max |x_i| seen, per weight G, and
 *            N = sum over rows of sum_i (x_i / s_i)^2. On each row:
 *              1. for every i with |x_i| > s_i: if s_i > 0, W[k][i] *=
 *                 s_i / |x_i| for all k (as if the new scale had been the
 *                 scale all along); then s_i = |x_i|.
 *              2. N += sum_i (x_i / s_i)^2 (the bias adds 1).
 *              3. predict with the rescaled weights; compute g.
 *              4. G += d^2;  W -= eta sqrt(t / N) d / (s_i sqrt(G)).
 *            The step of weight i is measured in units of 1/s_i, so
 *            W x is invariant to rescaling any input: a pressure in Pa
 *            and a temperature in kelvin need no scaler and no tuning.
 *            sqrt(t / N) in [1/sqrt(n + 1), 1] corrects for how many
 *            inputs are active per row relative to their scale. Step 1 is
 *            also applied, virtually, by model_predict(), so predict and
 *            update agree. Inputs at 0 (or never non-zero: s_i = 0)
 *            contribute nothing, exactly as absent features in VW. (VW
 *            itself computes the prediction, and so the gradient, before
 *            step 1; we follow the paper's order, in which a first
 *            out-of-scale value meets an already shrunk weight, so its
 *            prediction and gradient stay in range.) On
 *            Gaussian inputs s_i keeps growing slowly and each growth
 *            shrinks w_i by s_old / |x|: a late new maximum can leave a
 *            weight ~10% short until it is re-learnt (tests/test_model.c
 *            sees this with some seeds after one pass).
 *   The L2 term enters d for every optimizer, so G includes it; the
 *   stationary point of all three is the ridge solution.
 *
 * Learning rates: defaults 0.01 (SGD, fine on standardised inputs), 0.1
 * (AdaGrad) and 0.5 (NAG, VW's default). AdaGrad and NAG decay like
 * 1/sqrt(t) through G, so they converge on stationary data without a
 * schedule; constant-rate SGD keeps tracking drift at the price of noise
 * around the optimum of order sqrt(eta).
 *
 * Numerical safety. Each x_i is sanitised when read (NaN -> 0, clamp to
 * +-MODEL_X_MAX = 1e75, |x| < MODEL_X_MIN -> 0); labels are clamped to
 * +-MODEL_X_MAX and a linear prediction too; so |g x| <= 2e150 and its
 * square is finite. SGD clamps weights to +-MODEL_W_MAX = 1e150 after each
 * step, so a diverging SGD saturates instead of overflowing; AdaGrad and
 * NAG need no clamp, as their steps are bounded (see step_adagrad()), and
 * model_weights_set() clamps what it is given. Every score sum_i W x_i
 * stays finite for n < 1e8. A sum G that overflows to +Inf only freezes
 * its weight (d / Inf = 0), it never makes a NaN.
 *
 * Cost per row, n inputs, K outputs (1 for linear/logistic): predict n + 1
 * multiply-adds per output plus one exp per output (logistic, softmax
 * proba; softmax argmax needs none). model_learn() predicts once and
 * updates in the same call (model_predict() + model_update() score twice):
 * per weight SGD ~4 flops, AdaGrad and NAG a sqrt and a divide more, NAG a
 * compare per input and one sqrt and divide per row for sqrt(t / N).
 * With one output, the row is sanitised and scored in one pass, and SGD
 * steps two weights at a time (sgd_pairs(); AdaGrad and NAG stay one at a
 * time: GCC's generic vectors have no sqrt, and their cost is the sqrt and
 * divide anyway). model_learn_prefix() visits only the inputs that can be
 * non-zero: the learner's rows without a missing feature leave the
 * indicator half of the inputs out. Measured with callgrind in
 * bench_learn's one-candidate case (logistic SGD, 8 features, 8
 * indicators): 707 instructions per row for model_learn() over 16 inputs
 * before these changes, 356 now (exp included). Earlier timing on this
 * project's shared 2-core build host (throwaway program, 8 inputs,
 * linear, best of 60 runs of 2e5 rows): model_learn() SGD 28 ns, AdaGrad
 * 65 ns, NAG 74 ns per row, against 60 ns for a plain C AdaGrad
 * predict+update loop in the same run (AdaGrad and NAG are bound by one
 * sqrt and one divide per weight). Memory: 2 K (n + 1) + 3 (n + 1) + K
 * doubles in one allocation.
 *
 * Threads: no threads, no globals. A model is owned by one thread (the
 * loop thread); model_predict() only reads, model_update() writes the model
 * and its scratch. */
#include "learn/model.h"

#include <assert.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "learn/internal.h"

#define ADAGRAD_EPS 1e-8

struct model {
    struct model_params p; /* Hyper-parameters, fixed at new. */
    size_t n;              /* Inputs, without the bias. */
    size_t outputs;        /* Weight rows: 1 or K. */
    size_t classes;        /* 0 (linear), 2 (logistic) or K. */
    size_t stride;         /* n + 1: one weight row. */
    uint64_t t;            /* Rows trained. */
    double norm;           /* NAG's N: sum of (x_i / s_i)^2 over rows. */
    double *w;             /* Weights [outputs][n + 1], bias last. */
    double *g2;            /* Sums of squared gradients, as w. */
    double *s;             /* NAG: max |x_i| seen, [n + 1] (bias: 1). */
    double *inv_s;         /* 1 / s_i, or 0 while s_i == 0, [n + 1]. */
    double *xs;            /* Update scratch: sanitised x, [n + 1]. */
    double *gk;            /* Update scratch: g_k per output, [outputs]. */
    double *mem;           /* The one allocation holding all of the above. */
};

/* ---- Helpers ----------------------------------------------------------- */

/* One input, made safe: NaN -> 0, +-Inf and huge -> +-MODEL_X_MAX, tiny ->
 * 0. The common case is one range test. */
static inline double clean_x(double v)
{
    double a = fabs(v);

    if (a >= MODEL_X_MIN && a <= MODEL_X_MAX)
        return v;
    if (a > MODEL_X_MAX) /* false for NaN */
        return copysign(MODEL_X_MAX, v);
    return 0.0; /* zero, tiny or NaN */
}

/* v limited to [-lim, lim], as two compare-and-selects (minsd and maxsd
 * on x86-64, no branch); NaN gives lim (callers never pass one). */
static inline double clamp(double v, double lim)
{
    v = v < lim ? v : lim;
    return v > -lim ? v : -lim;
}

static inline double sigmoid(double z)
{
    return 1.0 / (1.0 + exp(-clamp(z, MODEL_LOGIT_MAX)));
}

static bool kind_ok(enum model_kind k)
{
    return k == MODEL_LINEAR || k == MODEL_LOGISTIC || k == MODEL_SOFTMAX;
}

static bool opt_ok(enum model_optimizer o)
{
    return o == MODEL_SGD || o == MODEL_ADAGRAD || o == MODEL_NORMALIZED;
}

static bool params_ok(const struct model_params *p)
{
    return kind_ok(p->kind) && opt_ok(p->optimizer) && p->learning_rate > 0 &&
           p->learning_rate <= MODEL_LR_MAX && p->l2 >= 0 &&
           p->l2 <= MODEL_LR_MAX && p->power_t >= 0 && p->power_t <= 1;
}

/* Score of weight row w for raw input x[0..use) (inputs from use on are 0
 * and add nothing), with NAG's pending rescale (step 1) applied on the fly
 * so that nothing is written. */
static double score_row(const struct model *m, const double *w, const double *x,
                        size_t use)
{
    double z = w[m->n];

    if (m->p.optimizer == MODEL_NORMALIZED) {
        for (size_t i = 0; i < use; i++) {
            double xi = clean_x(x[i]);
            double wi = w[i];
            double a = fabs(xi);
            if (a > m->s[i] && m->s[i] > 0)
                wi *= m->s[i] / a;
            z += wi * xi;
        }
    } else {
        for (size_t i = 0; i < use; i++)
            z += w[i] * clean_x(x[i]);
    }
    return z;
}

/* Score of row w (bias at w[n]) for the sanitised (and, for NAG, already
 * rescaled) input xs[0..use): the same operations in the same order as
 * score_row(), so that model_learn() reports bit for bit what
 * model_predict() would. */
static inline double score_clean(const double *w, const double *xs, size_t use,
                                 size_t n)
{
    double z = w[n];

    for (size_t i = 0; i < use; i++)
        z += w[i] * xs[i];
    return z;
}

/* Softmax of z[k] (clamped) in place; returns the argmax (lowest on ties). */
static size_t softmax_inplace(double *z, size_t k)
{
    size_t best = 0;
    double zmax;
    double sum = 0;

    for (size_t j = 0; j < k; j++) {
        z[j] = clamp(z[j], MODEL_LOGIT_MAX);
        if (z[j] > z[best])
            best = j;
    }
    zmax = z[best];
    for (size_t j = 0; j < k; j++) {
        z[j] = exp(z[j] - zmax);
        sum += z[j];
    }
    for (size_t j = 0; j < k; j++)
        z[j] /= sum;
    return best;
}

/* ---- Lifecycle --------------------------------------------------------- */

void model_params_default(struct model_params *p, enum model_kind kind,
                          enum model_optimizer optimizer)
{
    memset(p, 0, sizeof(*p));
    p->kind = kind;
    p->optimizer = optimizer;
    switch (optimizer) {
    case MODEL_ADAGRAD:
        p->learning_rate = 0.1;
        break;
    case MODEL_NORMALIZED:
        p->learning_rate = 0.5;
        break;
    default:
        p->learning_rate = 0.01;
        break;
    }
}

int model_new(struct model **out, const struct model_params *p, size_t n_inputs,
              size_t n_classes)
{
    struct model *m;
    size_t outputs;
    size_t classes;
    size_t wl;

    if (out == NULL || p == NULL || !params_ok(p) || n_inputs < 1 ||
        n_inputs > MODEL_MAX_INPUTS)
        return -EINVAL;
    if (p->kind == MODEL_SOFTMAX) {
        if (n_classes < 2 || n_classes > MODEL_MAX_CLASSES)
            return -EINVAL;
        outputs = n_classes;
        classes = n_classes;
    } else {
        outputs = 1;
        classes = p->kind == MODEL_LOGISTIC ? 2 : 0;
    }
    if ((m = calloc(1, sizeof(*m))) == NULL)
        return -ENOMEM;
    m->p = *p;
    m->n = n_inputs;
    m->outputs = outputs;
    m->classes = classes;
    m->stride = n_inputs + 1;
    wl = outputs * m->stride;
    /* w, g2: wl each; s, inv_s, xs: n + 1 each; gk: outputs. */
    m->mem = calloc(2 * wl + 3 * m->stride + outputs, sizeof(*m->mem));
    if (m->mem == NULL)
        goto out_free_m;
    m->w = m->mem;
    m->g2 = m->w + wl;
    m->s = m->g2 + wl;
    m->inv_s = m->s + m->stride;
    m->xs = m->inv_s + m->stride;
    m->gk = m->xs + m->stride;
    model_reset(m);
    *out = m;
    return 0;
out_free_m:
    free(m);
    return -ENOMEM;
}

void model_free(struct model *m)
{
    if (m == NULL)
        return;
    free(m->mem);
    free(m);
}

void model_reset(struct model *m)
{
    size_t wl = m->outputs * m->stride;

    memset(m->w, 0, wl * sizeof(*m->w));
    memset(m->g2, 0, wl * sizeof(*m->g2));
    memset(m->s, 0, m->stride * sizeof(*m->s));
    memset(m->inv_s, 0, m->stride * sizeof(*m->inv_s));
    m->s[m->n] = 1.0; /* The bias input is always 1. */
    m->inv_s[m->n] = 1.0;
    m->t = 0;
    m->norm = 0;
}

/* ---- Shape ------------------------------------------------------------- */

size_t model_inputs(const struct model *m)
{
    return m->n;
}

size_t model_outputs(const struct model *m)
{
    return m->outputs;
}

size_t model_classes(const struct model *m)
{
    return m->classes;
}

uint64_t model_rows(const struct model *m)
{
    return m->t;
}

void model_params_get(const struct model *m, struct model_params *out)
{
    *out = m->p;
}

/* ---- Predict ----------------------------------------------------------- */

double model_predict(const struct model *m, const double *x)
{
    size_t best = 0;
    double zbest = 0;

    switch (m->p.kind) {
    case MODEL_LINEAR:
        return clamp(score_row(m, m->w, x, m->n), MODEL_X_MAX);
    case MODEL_LOGISTIC:
        return sigmoid(score_row(m, m->w, x, m->n));
    default:
        break;
    }
    /* Softmax: the argmax of the (clamped) scores needs no exp. */
    for (size_t k = 0; k < m->outputs; k++) {
        double z =
            clamp(score_row(m, m->w + k * m->stride, x, m->n), MODEL_LOGIT_MAX);
        if (k == 0 || z > zbest) {
            zbest = z;
            best = k;
        }
    }
    return (double)best;
}

/* model_predict_proba() of x[0..use), the other inputs 0. */
static size_t proba_of(const struct model *m, const double *x, size_t use,
                       double *proba)
{
    double p;

    if (m->p.kind == MODEL_LOGISTIC) {
        p = sigmoid(score_row(m, m->w, x, use));
        proba[0] = 1.0 - p;
        proba[1] = p;
        return p > 0.5 ? 1 : 0;
    }
    for (size_t k = 0; k < m->outputs; k++)
        proba[k] = score_row(m, m->w + k * m->stride, x, use);
    return softmax_inplace(proba, m->outputs);
}

size_t model_predict_proba(const struct model *m, const double *x,
                           double *proba)
{
    assert(m->p.kind != MODEL_LINEAR);
    return proba_of(m, x, m->n, proba);
}

/* ---- Update ------------------------------------------------------------ */

static bool label_ok(const struct model *m, double y)
{
    if (m->p.kind == MODEL_LOGISTIC) /* 0 or 1 is finite */
        return y == 0.0 || y == 1.0;
    if (!isfinite(y))
        return false;
    /* In range first, so that the cast is defined; then integral (a cast
     * and a compare, where floor() is a call). */
    if (m->p.kind == MODEL_SOFTMAX)
        return y >= 0 && y < (double)m->classes && (double)(int64_t)y == y;
    return true;
}

/* NAG steps 1 and 2 on x[0..head) (the other inputs are 0: no scale
 * grows, N gains nothing), sanitised into xs on the way: grow scales
 * (rescaling the weights of every output), then add the row's normalised
 * norm to N. With one output, also score the row in the same pass (each
 * weight is final once its own input is rescaled) and return it; else 0. */
static double nag_prepare(struct model *m, const double *restrict x,
                          size_t head)
{
    double *restrict xs = m->xs;
    double *restrict w = m->w;
    double nx = 1.0; /* The bias: (1 / 1)^2. */
    double z = w[m->n];

    for (size_t i = 0; i < head; i++) {
        double v = clean_x(x[i]);
        double a = fabs(v);
        double si = m->s[i];
        xs[i] = v;
        if (a > si) {
            if (si > 0) {
                double r = si / a;
                for (size_t k = 0; k < m->outputs; k++)
                    w[k * m->stride + i] *= r;
            }
            m->s[i] = a;
            m->inv_s[i] = 1.0 / a;
        }
        nx += (a * m->inv_s[i]) * (a * m->inv_s[i]); /* 0 if a == 0 */
        z += w[i] * v;
    }
    m->norm += nx;
    return z;
}

/* Count the row, sanitise x[0..head) into xs and (NAG) grow the scales;
 * for a single-output model, score it in the same pass into *z0 (in the
 * order of score_clean(), so bit for bit what model_predict() gives).
 * Returns how many inputs the step must visit: head when L2 is off (an
 * input at 0 then has a zero gradient and its weight, G and scale stay
 * exactly as they are), else all n, with xs zero beyond head (L2 decays
 * every weight on every row; the zeros add nothing to the score). */
static size_t prepare_row(struct model *m, const double *restrict x,
                          size_t head, double *z0)
{
    double *restrict xs = m->xs;
    const double *restrict w = m->w;
    size_t use = m->p.l2 > 0 ? m->n : head;
    double z = w[m->n];

    m->t++;
    if (m->p.optimizer == MODEL_NORMALIZED) {
        z = nag_prepare(m, x, head);
    } else {
        for (size_t i = 0; i < head; i++) {
            double v = clean_x(x[i]);
            xs[i] = v;
            z += w[i] * v;
        }
    }
    for (size_t i = head; i < use; i++)
        xs[i] = 0.0;
    *z0 = z;
    return use;
}

/* One output (linear, logistic): predict into out (may be NULL) from the
 * score z0 and return dLoss/dz. */
static inline double grad_one(const struct model *m, double y, double *out,
                              double z0)
{
    double v;

    if (m->p.kind == MODEL_LINEAR) {
        v = clamp(z0, MODEL_X_MAX);
        if (out != NULL)
            out[0] = v;
        return v - clamp(y, MODEL_X_MAX);
    }
    v = sigmoid(z0);
    if (out != NULL) {
        out[0] = 1.0 - v;
        out[1] = v;
    }
    return v - y;
}

/* Softmax: predict into out (may be NULL) from xs[0..use) and leave
 * dLoss/dz_k in m->gk. */
static void grad_softmax(struct model *m, double y, double *out, size_t use)
{
    double *gk = m->gk;

    for (size_t k = 0; k < m->outputs; k++)
        gk[k] = score_clean(m->w + k * m->stride, m->xs, use, m->n);
    softmax_inplace(gk, m->outputs);
    if (out != NULL)
        memcpy(out, gk, m->outputs * sizeof(*out));
    gk[(size_t)y] -= 1.0;
}

/* The step functions take restrict pointers: w, g2 and xs never overlap
 * (separate slices of m->mem), which lets the compiler keep each weight in
 * a register across its update instead of reloading it after every store.
 */
/* The SGD step of weights [0, 2 floor(use / 2)), two at a time (GCC's
 * generic vectors: the same operations lane by lane, so the same bits),
 * clamped only if a weight may be out of range: a sum of (w /
 * MODEL_W_MAX)^2 below 0.5 proves every |w| below the clamp (NaN and Inf
 * fail it), and clamp() of the stored value is what the one-weight code
 * computes. Returns the weights done. */
static size_t sgd_pairs(double *restrict w, const double *restrict xs, double g,
                        double eta, double l2, size_t use)
{
    const learn__v2d ve = {eta, eta};
    const learn__v2d vg = {g, g};
    const learn__v2d vl = {l2, l2};
    const learn__v2d sc = {1.0 / MODEL_W_MAX, 1.0 / MODEL_W_MAX};
    learn__v2d big = {0, 0};
    size_t i = 0;

    if (l2 > 0) {
        for (; i + 2 <= use; i += 2) {
            learn__v2d wi = learn__load2(w + i);
            learn__v2d t;
            wi = wi - ve * (vg * learn__load2(xs + i) + vl * wi);
            learn__store2(w + i, wi);
            t = wi * sc;
            big += t * t;
        }
    } else {
        for (; i + 2 <= use; i += 2) {
            learn__v2d wi =
                learn__load2(w + i) - ve * (vg * learn__load2(xs + i));
            learn__v2d t = wi * sc;
            learn__store2(w + i, wi);
            big += t * t;
        }
    }
    if (!(big[0] + big[1] < 0.5))
        for (size_t j = 0; j < i; j++)
            w[j] = clamp(w[j], MODEL_W_MAX);
    return i;
}

static void step_sgd(const struct model *m, double *restrict w,
                     const double *restrict xs, double g, size_t use)
{
    double eta = m->p.learning_rate;
    double l2 = m->p.l2;
    size_t n = m->n;
    size_t i;

    if (m->p.power_t > 0)
        eta = m->p.power_t == 0.5 ? eta / sqrt((double)m->t)
                                  : eta * pow((double)m->t, -m->p.power_t);
    i = sgd_pairs(w, xs, g, eta, l2, use);
    /* Without L2, the l2 * w term is a zero that changes no bit. */
    if (l2 > 0)
        for (; i < use; i++)
            w[i] = clamp(w[i] - eta * (g * xs[i] + l2 * w[i]), MODEL_W_MAX);
    else
        for (; i < use; i++)
            w[i] = clamp(w[i] - eta * (g * xs[i]), MODEL_W_MAX);
    w[n] = clamp(w[n] - eta * g, MODEL_W_MAX);
}

/* With d == 0 the step is 0 / (sqrt(G) + eps) = 0: no branch needed. No
 * clamp either: d is part of G, so |d| / sqrt(G) <= 1 and a step never
 * exceeds eta <= MODEL_LR_MAX; a weight cannot leave the finite range in
 * any realistic number of rows (1e6 per row, 1e300 after 1e294 rows). */
static void step_adagrad(const struct model *m, double *restrict w,
                         double *restrict g2, const double *restrict xs,
                         double g, size_t use)
{
    double eta = m->p.learning_rate;
    double l2 = m->p.l2;
    size_t n = m->n;

    for (size_t i = 0; i < use; i++) {
        double wi = w[i];
        double d = g * xs[i] + l2 * wi;
        double gi = g2[i] + d * d;
        g2[i] = gi;
        w[i] = wi - eta * d / (sqrt(gi) + ADAGRAD_EPS);
    }
    g2[n] += g * g;
    w[n] -= eta * g / (sqrt(g2[n]) + ADAGRAD_EPS);
}

/* Inputs never seen non-zero (s_i = 0, so inv_s = 0) get a zero step. The
 * 1e-300 keeps 0 / 0 out when G is still 0, i.e. when d has always been 0
 * (then the numerator is 0 too); for any G > 0 it is far below rounding.
 * As for AdaGrad |d| / sqrt(G) <= 1, so a step is at most c / s_i <=
 * MODEL_LR_MAX / MODEL_X_MIN = 1e81: no clamp is needed to stay finite. */
static void step_nag(const struct model *m, double *restrict w,
                     double *restrict g2, const double *restrict xs, double g,
                     size_t use)
{
    double c = m->p.learning_rate * sqrt((double)m->t / m->norm);
    double l2 = m->p.l2;
    const double *restrict inv_s = m->inv_s;
    size_t n = m->n;

    for (size_t i = 0; i < use; i++) {
        double wi = w[i];
        double d = g * xs[i] + l2 * wi;
        double gi = g2[i] + d * d;
        g2[i] = gi;
        w[i] = wi - c * d * inv_s[i] / (sqrt(gi) + 1e-300);
    }
    g2[n] += g * g;
    w[n] -= c * g / (sqrt(g2[n]) + 1e-300);
}

/* One weight row's step, by the model's optimizer. */
static inline void step(const struct model *m, double *w, double *g2, double g,
                        size_t use)
{
    if (m->p.optimizer == MODEL_SGD)
        step_sgd(m, w, m->xs, g, use);
    else if (m->p.optimizer == MODEL_ADAGRAD)
        step_adagrad(m, w, g2, m->xs, g, use);
    else
        step_nag(m, w, g2, m->xs, g, use);
}

int model_learn_prefix(struct model *m, const double *x, size_t head, double y,
                       double *out)
{
    size_t use;
    double z0;

    assert(head <= m->n);
    if (!label_ok(m, y)) {
        if (out != NULL && m->p.kind == MODEL_LINEAR)
            out[0] = clamp(score_row(m, m->w, x, head), MODEL_X_MAX);
        else if (out != NULL)
            proba_of(m, x, head, out);
        return -EINVAL;
    }
    use = prepare_row(m, x, head, &z0);
    if (m->outputs == 1) {
        step(m, m->w, m->g2, grad_one(m, y, out, z0), use);
        return 0;
    }
    grad_softmax(m, y, out, use);
    for (size_t k = 0; k < m->outputs; k++)
        step(m, m->w + k * m->stride, m->g2 + k * m->stride, m->gk[k], use);
    return 0;
}

int model_learn(struct model *m, const double *x, double y, double *out)
{
    return model_learn_prefix(m, x, m->n, y, out);
}

int model_update(struct model *m, const double *x, double y)
{
    return model_learn(m, x, y, NULL);
}

/* ---- Losses ------------------------------------------------------------ */

double model_squared_error(double y, double y_hat)
{
    double d = y - y_hat;
    double r = d * d;

    return r > DBL_MAX ? DBL_MAX : r;
}

double model_log_loss(double p_true)
{
    if (!(p_true >= 1e-15))
        p_true = 1e-15;
    if (p_true > 1.0)
        p_true = 1.0;
    return -log(p_true);
}

/* ---- State ------------------------------------------------------------- */

size_t model_weights_len(const struct model *m)
{
    return m->outputs * m->stride;
}

int model_weights_get(const struct model *m, double *out, size_t len)
{
    if (len != model_weights_len(m))
        return -EINVAL;
    memcpy(out, m->w, len * sizeof(*out));
    return 0;
}

static bool all_finite(const double *v, size_t len, double lo)
{
    for (size_t i = 0; i < len; i++)
        if (!isfinite(v[i]) || v[i] < lo)
            return false;
    return true;
}

int model_weights_set(struct model *m, const double *in, size_t len)
{
    if (len != model_weights_len(m) || !all_finite(in, len, -DBL_MAX))
        return -EINVAL;
    for (size_t i = 0; i < len; i++)
        m->w[i] = clamp(in[i], MODEL_W_MAX);
    return 0;
}

size_t model_state_len(const struct model *m)
{
    return 2 * model_weights_len(m) + m->stride + 2;
}

int model_state_get(const struct model *m, double *out, size_t len)
{
    size_t wl = model_weights_len(m);

    if (len != model_state_len(m))
        return -EINVAL;
    memcpy(out, m->w, wl * sizeof(*out));
    memcpy(out + wl, m->g2, wl * sizeof(*out));
    memcpy(out + 2 * wl, m->s, m->stride * sizeof(*out));
    out[2 * wl + m->stride] = m->norm;
    out[2 * wl + m->stride + 1] = (double)m->t;
    return 0;
}

static void refresh_inv_s(struct model *m)
{
    for (size_t i = 0; i < m->stride; i++)
        m->inv_s[i] = m->s[i] > 0 ? 1.0 / m->s[i] : 0.0;
}

int model_state_set(struct model *m, const double *in, size_t len)
{
    size_t wl = model_weights_len(m);
    double norm;
    double t;

    if (len != model_state_len(m) || !all_finite(in, wl, -DBL_MAX))
        return -EINVAL;
    /* G may have saturated to +Inf (see the top); s, N, t may not. */
    for (size_t i = wl; i < 2 * wl; i++)
        if (isnan(in[i]) || in[i] < 0)
            return -EINVAL;
    if (!all_finite(in + 2 * wl, m->stride + 2, 0))
        return -EINVAL;
    for (size_t i = 0; i < m->n; i++) /* 1 / s must stay finite */
        if (in[2 * wl + i] != 0 && !(in[2 * wl + i] >= MODEL_X_MIN))
            return -EINVAL;
    norm = in[2 * wl + m->stride];
    t = in[2 * wl + m->stride + 1];
    if (t != floor(t) || t > 9.0e15 || in[2 * wl + m->n] != 1.0)
        return -EINVAL;
    memcpy(m->w, in, wl * sizeof(*in));
    memcpy(m->g2, in + wl, wl * sizeof(*in));
    memcpy(m->s, in + 2 * wl, m->stride * sizeof(*in));
    refresh_inv_s(m);
    m->norm = norm;
    m->t = (uint64_t)t;
    return 0;
}

int model_merge(struct model *dst, const struct model *src)
{
    size_t wl = model_weights_len(dst);
    double a = 0.5;
    double b = 0.5;

    if (dst->p.kind != src->p.kind || dst->p.optimizer != src->p.optimizer ||
        dst->n != src->n || dst->outputs != src->outputs)
        return -EINVAL;
    if (dst->t + src->t > 0) {
        a = (double)dst->t / (double)(dst->t + src->t);
        b = 1.0 - a;
    }
    for (size_t i = 0; i < wl; i++) {
        dst->w[i] = a * dst->w[i] + b * src->w[i];
        dst->g2[i] += src->g2[i];
    }
    for (size_t i = 0; i < dst->stride; i++)
        dst->s[i] = fmax(dst->s[i], src->s[i]);
    refresh_inv_s(dst);
    dst->norm += src->norm;
    dst->t += src->t;
    return 0;
}
