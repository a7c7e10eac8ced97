/* model.h -- linear, logistic and softmax regression with L2, trained one
 * row at a time by SGD, AdaGrad or the normalized adaptive gradient (NAG)
 * of Ross, Mineiro and Langford 2013 ("Normalized online learning",
 * Algorithm 2), the update Vowpal Wabbit uses by default.
 *
 * A model has n inputs x[0..n) plus an implicit bias input of 1, and
 * `outputs` weight rows: 1 for MODEL_LINEAR and MODEL_LOGISTIC, K for
 * MODEL_SOFTMAX (one row per class, no reference class). Weights are laid
 * out row-major [outputs][n + 1] with the bias last in each row, exactly
 * ModelSnapshot.weights. All memory is allocated by model_new(); predict and
 * update never allocate.
 *
 * Labels: MODEL_LINEAR any finite real; MODEL_LOGISTIC 0 or 1; MODEL_SOFTMAX
 * a class index 0..K-1 (passed as a double holding an integer).
 *
 * Objective per row (L2 excludes the bias):
 *     linear    0.5 (w.x - y)^2            + 0.5 l2 |w|^2
 *     logistic  -log p(y | x), p = sigmoid(w.x)
 *     softmax   -log p(y | x), p = softmax(W x)
 * SGD follows the gradient with rate eta / (1 + t)^power_t; AdaGrad uses the
 * per-weight rate eta / (sqrt(G) + 1e-8) with G the sum of squared
 * gradients; NAG is described in model.c. NAG keeps the weights in the
 * units of x and is invariant to per-feature scaling: a sensor in Pa and one
 * in kPa need no hand tuning and no scaler in front of the model.
 *
 * Numerical safety: inputs are sanitised on the fly (NaN -> 0, |x| clamped
 * to MODEL_X_MAX, |x| < MODEL_X_MIN -> 0), logits are clamped to
 * +-MODEL_LOGIT_MAX, softmax subtracts the max logit, SGD's weights are
 * clamped to +-MODEL_W_MAX after each update (AdaGrad's and NAG's steps are
 * bounded by construction) and a linear prediction to +-MODEL_X_MAX.
 * Whatever finite or non-finite x is given, predictions, probabilities and
 * weights stay finite; a non-finite label is refused.
 *
 * Threads: none of its own; a model belongs to the thread that created it
 * (the loop thread). model_predict() does not write, so concurrent predicts
 * on one model are safe if nobody updates it meanwhile. */
#ifndef WEIR_LEARN_MODEL_H
#define WEIR_LEARN_MODEL_H

#include <stddef.h> /* For size_t. */
#include <stdint.h> /* For uint64_t. */

/* ---- Types ------------------------------------------------------------- */

/* Values equal proto ModelKind / Optimizer, so they map 1:1. */
enum model_kind {
    MODEL_LINEAR = 1,   /* Squared loss regression. */
    MODEL_LOGISTIC = 2, /* Binary classification, labels 0/1. */
    MODEL_SOFTMAX = 3,  /* Multiclass, K classes. */
};

enum model_optimizer {
    MODEL_SGD = 1,        /* Plain SGD, optional 1/(1+t)^power_t decay. */
    MODEL_ADAGRAD = 2,    /* Per-weight AdaGrad (Duchi et al. 2011). */
    MODEL_NORMALIZED = 3, /* NAG, Ross et al. 2013 Algorithm 2. */
};

#define MODEL_MAX_INPUTS 262144 /* n beyond this is -EINVAL */
#define MODEL_MAX_CLASSES 1024  /* K beyond this is -EINVAL */
#define MODEL_X_MAX 1e75        /* |input|, |label|, |prediction| clamp */
#define MODEL_X_MIN 1e-75       /* smaller |input| counts as 0 */
#define MODEL_W_MAX 1e150       /* |weight| clamp */
#define MODEL_LOGIT_MAX 35.0    /* |logit| clamp: p in [6e-16, 1 - 6e-16] */
#define MODEL_LR_MAX 1e6        /* learning_rate beyond this is -EINVAL */

/* Hyper-parameters; HyperParams in the snapshot. */
struct model_params {
    enum model_kind kind;           /* What is predicted. */
    enum model_optimizer optimizer; /* How weights are updated. */
    double learning_rate;           /* eta, in (0, MODEL_LR_MAX]. */
    double l2;                      /* L2 strength in [0, MODEL_LR_MAX],
                                       bias exempt. */
    double power_t;                 /* SGD decay exponent in [0, 1]; 0 =
                                       constant rate. Ignored otherwise.
                                       Snapshot: HyperParams.extra
                                       "power_t". */
};

struct model;

/* ---- Lifecycle --------------------------------------------------------- */

/* Fill *p with weir's defaults for (kind, optimizer): learning rate 0.01
 * for SGD, 0.1 for AdaGrad, 0.5 for NAG (Vowpal Wabbit's default); l2 0;
 * power_t 0. p is the caller's. */
void model_params_default(struct model_params *p, enum model_kind kind,
                          enum model_optimizer optimizer);

/* Create a model with n_inputs inputs (1..MODEL_MAX_INPUTS) and all weights
 * 0. n_classes: ignored for MODEL_LINEAR and MODEL_LOGISTIC (1 and 2 are
 * implied), K in 2..MODEL_MAX_CLASSES for MODEL_SOFTMAX. p is borrowed
 * (copied). On success *out is returned owned (free with model_free).
 * Returns 0, -EINVAL (bad kind, optimizer, rate, l2, power_t or size),
 * -ENOMEM. */
int model_new(struct model **out, const struct model_params *p, size_t n_inputs,
              size_t n_classes);

/* Free m (takes it); NULL is a no-op. */
void model_free(struct model *m);

/* Zero weights and optimizer state; keeps shape and parameters. */
void model_reset(struct model *m);

/* ---- Shape ------------------------------------------------------------- */

size_t model_inputs(const struct model *m);  /* n */
size_t model_outputs(const struct model *m); /* weight rows: 1 or K */
size_t model_classes(const struct model *m); /* 0 linear, 2, or K */
uint64_t model_rows(const struct model *m);  /* rows trained (t) */
/* Copy the hyper-parameters into *out (the caller's). */
void model_params_get(const struct model *m, struct model_params *out);

/* ---- Hot path (no allocation) ------------------------------------------ */

/* Predict for x[n] (borrows); m is not modified. Returns the regression
 * value (MODEL_LINEAR), P(y = 1) (MODEL_LOGISTIC), or the most probable
 * class index, lowest index on ties (MODEL_SOFTMAX). With MODEL_NORMALIZED
 * this is exactly the prediction model_update() will make for the same x
 * (Algorithm 2 rescales before predicting; predict applies it virtually). */
double model_predict(const struct model *m, const double *x);

/* Classification: fill proba[classes] (the caller's: 2 entries for
 * MODEL_LOGISTIC, [1 - p, p]; K for MODEL_SOFTMAX) and return the most
 * probable class (lowest index on ties). Probabilities are > 0 and sum to 1
 * up to rounding. Calling it on MODEL_LINEAR is a programmer error. */
size_t model_predict_proba(const struct model *m, const double *x,
                           double *proba);

/* Train on one row: x[n] (borrows) and its label y (see the top). Returns
 * 0, or -EINVAL if y is not finite or not a valid label for the kind: m is
 * then unchanged. */
int model_update(struct model *m, const double *x, double y);

/* Prequential step in one pass: predict x, then train on (x, y). The
 * prediction made before the update is written to out (the caller's; may
 * be NULL): 1 value for MODEL_LINEAR (as model_predict()), model_classes()
 * probabilities for classification (as model_predict_proba()), bit for bit
 * what those functions return for the same x. Cheaper than predict +
 * update, which compute the scores twice. Returns 0, or -EINVAL for a bad
 * label (see model_update(); out is still filled, m unchanged). */
int model_learn(struct model *m, const double *x, double y, double *out);

/* model_learn() of a row whose inputs from head on are all 0, given only
 * x[0..head) (borrowed; nothing beyond is read), head <= n: bit for bit
 * the result of model_learn() on the full row with those zeros, at the
 * cost of head inputs instead of n. An input at 0 adds nothing to a
 * score, gets a zero gradient and leaves its NAG scale and N as they are,
 * so with l2 == 0 only the first head inputs and the bias are visited;
 * with l2 > 0 every weight decays on every row and all n are. (The
 * learner passes the features alone on rows with no missing feature:
 * their indicator inputs, last, are 0.) Returns as model_learn(). */
int model_learn_prefix(struct model *m, const double *x, size_t head, double y,
                       double *out);

/* ---- Losses (pure helpers) --------------------------------------------- */

/* (y - y_hat)^2, clamped to DBL_MAX (finite for finite arguments). */
double model_squared_error(double y, double y_hat);

/* -log(p) with p clamped to [1e-15, 1]: the log loss of a predicted
 * probability p of the true class. NaN p counts as 1e-15. */
double model_log_loss(double p_true);

/* ---- State (snapshots, checkpoints, merge) ----------------------------- */

/* Number of weights: outputs * (n + 1). */
size_t model_weights_len(const struct model *m);

/* Copy the weights, layout [outputs][n + 1] bias last, into out[len] (the
 * caller's). Returns 0, or -EINVAL if len != model_weights_len(). */
int model_weights_get(const struct model *m, double *out, size_t len);

/* Replace the weights with in[len] (borrows); the optimizer state is kept.
 * Returns 0, or -EINVAL (wrong len or a non-finite weight): m unchanged. */
int model_weights_set(struct model *m, const double *in, size_t len);

/* Full training state for checkpoints, as a flat array of doubles with
 * layout version MODEL_STATE_VERSION: weights [outputs][n + 1], then the
 * squared-gradient sums G [outputs][n + 1], then the per-input scales
 * s[n + 1] (NAG; 0 otherwise), then N (NAG's normaliser) and t (rows).
 * model_state_set() restores it into a model of the same shape and
 * parameters, after which training continues exactly as if uninterrupted. */
#define MODEL_STATE_VERSION 1
size_t model_state_len(const struct model *m);
/* Returns 0, or -EINVAL if len != model_state_len(). out is the caller's. */
int model_state_get(const struct model *m, double *out, size_t len);
/* Borrows in. Returns 0, or -EINVAL (wrong len, a non-finite or negative
 * value where one is impossible): m unchanged. */
int model_state_set(struct model *m, const double *in, size_t len);

/* Merge src into dst (borrows src), for models trained on disjoint parts of
 * a stream (DESIGN.md "Growing past one gateway"). Both must have the same
 * kind, optimizer, n and outputs. Semantics, with t = rows trained:
 *   weights := (t_dst w_dst + t_src w_src) / (t_dst + t_src)
 *              (plain mean if both t are 0),
 *   G := G_dst + G_src,  s := max(s_dst, s_src),  N := N_dst + N_src,
 *   t := t_dst + t_src.
 * So a merged MODEL_LINEAR predicts exactly the t-weighted mean of the two
 * predictions (for NAG: for x within both models' seen scales), a merged
 * classifier the t-weighted mean of the logits, and merging a model with a
 * copy of itself changes no weight (only the sums G, N, t). Returns 0, or
 * -EINVAL on a shape or parameter mismatch: dst unchanged. */
int model_merge(struct model *dst, const struct model *src);

#endif /* WEIR_LEARN_MODEL_H */
