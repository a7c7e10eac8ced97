/* predictor.c -- a decoded ModelSnapshot rebuilt into the learner's own
 * scaler and model objects, so that a device's prediction is computed by
 * the very code (and in the very order of floating-point operations) that
 * computed the learner's.
 *
 * Loading: snapshot_decode() has checked shapes and finiteness; here the
 * inputs are split into features and their indicators (the indicator of
 * feature f is named "f?missing"; indicators follow all features, in
 * feature order, which is learn/scaler.h's layout), each feature's Welford
 * state goes into a struct scaler with scaler_col_set(), the weights into
 * a struct model with model_weights_set(), and for the normalized optimizer
 * the per-input scales (ModelSnapshot.input_scale; in snapshots written
 * before that field, HyperParams.extra "nag_scale:<input>", still read)
 * with model_state_set(), because model_predict() shrinks the weight of an
 * input beyond its scale. Hyper-parameters that do not affect prediction (rate,
 * L2) fall back to defaults when absent.
 *
 * Cost of a prediction: one scaler pass (a multiply per feature) and one
 * model predict (outputs x (inputs + 1) multiply-adds, plus an exp per
 * output for probabilities). Scratch lives on the stack up to 512 inputs.
 *
 * Threads: a predictor is immutable after loading; see predictor.h. */
#include "learn/predictor.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "learn/model.h"
#include "learn/scaler.h"

#define STACK_INPUTS 512
#define MISSING_SUFFIX "?missing"

struct predictor {
    enum snapshot_kind kind; /* LINEAR, LOGISTIC or SOFTMAX. */
    uint64_t version;        /* Snapshot version. */
    size_t n;                /* Features. */
    size_t width;            /* Model inputs. */
    size_t k;                /* Classes (0 for regression). */
    char **names;            /* [n] feature names. */
    char **labels;           /* [k] class labels. */
    struct scaler *sc;       /* Feature scaler. */
    struct scaler *ysc;      /* Target scaler, or NULL. */
    struct model *m;         /* The model. */
};

/* ---- Loading ------------------------------------------------------------- */

static bool is_indicator(const char *name)
{
    size_t n = strlen(name);
    size_t s = sizeof(MISSING_SUFFIX) - 1;

    return n > s && strcmp(name + n - s, MISSING_SUFFIX) == 0;
}

/* Count the features (a prefix of the inputs) and check that the rest are
 * their indicators in feature order; fill ind[n]. */
static int split_inputs(const struct snapshot *s, size_t *n_out, bool *ind)
{
    size_t n = 0;
    size_t next = 0;

    while (n < s->n_inputs && !is_indicator(s->feature_names[n]))
        n++;
    if (n == 0)
        return -EBADMSG;
    for (size_t i = n; i < s->n_inputs; i++) {
        const char *name = s->feature_names[i];
        size_t len = strlen(name) - (sizeof(MISSING_SUFFIX) - 1);
        if (!is_indicator(name))
            return -EBADMSG;
        while (next < n && (strlen(s->feature_names[next]) != len ||
                            strncmp(s->feature_names[next], name, len) != 0))
            next++;
        if (next == n)
            return -EBADMSG;
        ind[next++] = true;
    }
    *n_out = n;
    return 0;
}

static int build_scalers(struct predictor *p, const struct snapshot *s,
                         const bool *ind)
{
    struct scaler_col col;
    bool no = false;

    if (scaler_new(&p->sc, p->n, ind) < 0)
        return -ENOMEM;
    if (scaler_width(p->sc) != s->n_inputs)
        return -EBADMSG;
    for (size_t i = 0; i < p->n; i++) {
        col = (struct scaler_col){s->feature_scaler[i].count,
                                  s->feature_scaler[i].mean,
                                  s->feature_scaler[i].m2};
        if (scaler_col_set(p->sc, i, &col) < 0)
            return -EBADMSG;
    }
    if (!s->has_target_scaler || s->kind != SNAPSHOT_KIND_LINEAR)
        return 0;
    if (scaler_new(&p->ysc, 1, &no) < 0)
        return -ENOMEM;
    col = (struct scaler_col){s->target_scaler.count, s->target_scaler.mean,
                              s->target_scaler.m2};
    return scaler_col_set(p->ysc, 0, &col) < 0 ? -EBADMSG : 0;
}

/* Model parameters from the snapshot; what prediction ignores may be
 * absent or odd and then takes the default. */
static void params_of(const struct snapshot *s, struct model_params *mp)
{
    enum model_optimizer opt = MODEL_SGD;

    if (s->optimizer == SNAPSHOT_OPT_ADAGRAD)
        opt = MODEL_ADAGRAD;
    else if (s->optimizer == SNAPSHOT_OPT_NORMALIZED)
        opt = MODEL_NORMALIZED;
    model_params_default(mp, (enum model_kind)s->kind, opt);
    if (s->learning_rate > 0 && s->learning_rate <= MODEL_LR_MAX)
        mp->learning_rate = s->learning_rate;
    if (s->l2 >= 0 && s->l2 <= MODEL_LR_MAX)
        mp->l2 = s->l2;
}

/* The NAG scales s_i into a model state: from ModelSnapshot.input_scale,
 * or, in a snapshot written before that field existed, from the
 * HyperParams.extra entries "nag_scale:<input>" (absent ones stay 0: an
 * input never seen non-zero). */
static int set_nag_scales(struct model *m, const struct snapshot *s)
{
    size_t len = model_state_len(m);
    size_t wl = model_weights_len(m);
    double *st;
    int rc;

    if ((st = calloc(len, sizeof(*st))) == NULL)
        return -ENOMEM;
    model_state_get(m, st, len);
    if (s->input_scale != NULL)
        memcpy(st + 2 * wl, s->input_scale, s->n_inputs * sizeof(*st));
    for (size_t e = 0; s->input_scale == NULL && e < s->n_extra; e++) {
        unsigned long i;
        int used = 0;
        if (sscanf(s->extra[e].name, "nag_scale:%lu%n", &i, &used) != 1 ||
            s->extra[e].name[used] != '\0')
            continue;
        if (i >= s->n_inputs) {
            free(st);
            return -EBADMSG;
        }
        st[2 * wl + i] = s->extra[e].value;
    }
    rc = model_state_set(m, st, len) < 0 ? -EBADMSG : 0;
    free(st);
    return rc;
}

static int build_model(struct predictor *p, const struct snapshot *s)
{
    struct model_params mp;
    int rc;

    params_of(s, &mp);
    if ((rc = model_new(&p->m, &mp, s->n_inputs, s->n_classes)) < 0)
        return rc == -ENOMEM ? rc : -EBADMSG;
    if (model_weights_set(p->m, s->weights, model_weights_len(p->m)) < 0)
        return -EBADMSG;
    if (mp.optimizer == MODEL_NORMALIZED)
        return set_nag_scales(p->m, s);
    return 0;
}

static int copy_strings(char ***dst, char *const *src, size_t n)
{
    if ((*dst = calloc(n + 1, sizeof(**dst))) == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (((*dst)[i] = strdup(src[i])) == NULL)
            return -ENOMEM;
    return 0;
}

int predictor_from_snapshot(struct predictor **out, const struct snapshot *s)
{
    struct predictor *p;
    bool *ind;
    int rc;

    if ((rc = snapshot_check(s)) < 0)
        return rc;
    if (s->kind == SNAPSHOT_KIND_ANOMALY)
        return -EPROTONOSUPPORT;
    if ((p = calloc(1, sizeof(*p))) == NULL)
        return -ENOMEM;
    if ((ind = calloc(s->n_inputs + 1, sizeof(*ind))) == NULL) {
        free(p);
        return -ENOMEM;
    }
    p->kind = s->kind;
    p->version = s->version;
    p->width = s->n_inputs;
    p->k = s->n_classes;
    if ((rc = split_inputs(s, &p->n, ind)) < 0 ||
        (rc = build_scalers(p, s, ind)) < 0 || (rc = build_model(p, s)) < 0 ||
        (rc = copy_strings(&p->names, s->feature_names, p->n)) < 0 ||
        (rc = copy_strings(&p->labels, s->class_labels, p->k)) < 0) {
        predictor_free(p);
        p = NULL;
    }
    free(ind);
    *out = p;
    return rc;
}

int predictor_load(struct predictor **out, const uint8_t *buf, size_t len)
{
    struct snapshot s;
    int rc;

    snapshot_init(&s);
    if ((rc = snapshot_decode(buf, len, &s)) < 0)
        return rc;
    rc = predictor_from_snapshot(out, &s);
    snapshot_close(&s);
    return rc;
}

static void free_strings(char **v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void predictor_free(struct predictor *p)
{
    if (p == NULL)
        return;
    free_strings(p->names, p->n);
    free_strings(p->labels, p->k);
    scaler_free(p->sc);
    scaler_free(p->ysc);
    model_free(p->m);
    free(p);
}

/* ---- Description --------------------------------------------------------- */

enum snapshot_kind predictor_kind(const struct predictor *p)
{
    return p->kind;
}

uint64_t predictor_version(const struct predictor *p)
{
    return p->version;
}

size_t predictor_features(const struct predictor *p)
{
    return p->n;
}

const char *predictor_feature_name(const struct predictor *p, size_t i)
{
    return i < p->n ? p->names[i] : NULL;
}

long predictor_feature_index(const struct predictor *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->names[i], name) == 0)
            return (long)i;
    return -1;
}

size_t predictor_classes(const struct predictor *p)
{
    return p->k;
}

const char *predictor_class_label(const struct predictor *p, size_t k)
{
    return k < p->k ? p->labels[k] : NULL;
}

/* ---- Prediction ---------------------------------------------------------- */

/* Classification through the caller's proba or a scratch array. */
static size_t classify(const struct predictor *p, const double *z,
                       double *proba, double *p_label)
{
    double stack[64];
    double *pr = proba;
    double *heap = NULL;
    size_t label;

    if (pr == NULL && p->k > 64)
        pr = heap = calloc(p->k, sizeof(*pr));
    if (pr == NULL)
        pr = stack;
    if (pr == stack && p->k > 64) {
        *p_label = NAN;
        return SIZE_MAX;
    }
    label = model_predict_proba(p->m, z, pr);
    *p_label = pr[label];
    free(heap);
    return label;
}

int predictor_predict(const struct predictor *p, const double *x,
                      const uint8_t *present, double *proba,
                      struct predictor_out *out)
{
    double stack[STACK_INPUTS];
    double *z = stack;
    double *heap = NULL;
    int rc = 0;

    if (p->width > STACK_INPUTS) {
        if ((heap = calloc(p->width, sizeof(*heap))) == NULL)
            return -ENOMEM;
        z = heap;
    }
    scaler_transform(p->sc, x, present, z);
    if (p->k == 0) {
        double v = model_predict(p->m, z);
        out->value = p->ysc != NULL ? scaler_unz(p->ysc, 0, v) : v;
        out->label = 0;
    } else {
        out->label = classify(p, z, proba, &out->value);
        if (out->label == SIZE_MAX)
            rc = -ENOMEM;
    }
    free(heap);
    return rc;
}
