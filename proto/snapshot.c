/* snapshot.c -- struct snapshot <-> protobuf ModelSnapshot.
 *
 * Encoding builds a temporary Weir__ModelSnapshot whose strings and double
 * arrays borrow the struct snapshot's memory (nothing is copied but the
 * pointer arrays protobuf-c wants for repeated sub-messages), packs it into
 * one malloc'd buffer and frees the temporaries. Decoding unpacks with
 * protobuf-c (which allocates in proportion to the input, bounded by
 * SNAPSHOT_MAX_BYTES), copies into a fresh struct snapshot, frees the
 * protobuf-c message, and runs snapshot_check() so that callers only ever
 * see consistent snapshots. Cost: linear in the snapshot's size, a few
 * allocations per repeated field; snapshots are made once per window, so
 * none of this is on the per-row path.
 *
 * Threads: pure functions; no shared state. */
#include "proto/snapshot.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "proto/weir.pb-c.h"

/* ---- Lifecycle ---------------------------------------------------------- */

void snapshot_metrics_clear(struct snapshot_metrics *m)
{
    m->rows = 0;
    m->mae = NAN;
    m->rmse = NAN;
    m->r2 = NAN;
    m->accuracy = NAN;
    m->log_loss = NAN;
    m->macro_f1 = NAN;
    m->kappa = NAN;
    m->kappa_temporal = NAN;
}

void snapshot_init(struct snapshot *s)
{
    memset(s, 0, sizeof(*s));
    s->format_version = SNAPSHOT_FORMAT_VERSION;
    s->learning_rate = NAN;
    s->l2 = NAN;
    snapshot_metrics_clear(&s->validation);
    snapshot_metrics_clear(&s->test);
}

static void free_strings(char **v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void snapshot_close(struct snapshot *s)
{
    free(s->task);
    free(s->target);
    free(s->candidate);
    if (s->extra != NULL) {
        for (size_t i = 0; i < s->n_extra; i++)
            free(s->extra[i].name);
        free(s->extra);
    }
    free_strings(s->feature_names, s->n_inputs);
    free(s->feature_scaler);
    free(s->impute);
    free(s->weights);
    free(s->input_scale);
    free_strings(s->class_labels, s->n_classes);
    free(s->baselines);
    free_strings(s->baseline_names, s->n_baselines);
    snapshot_init(s);
}

static bool snapshot_is_empty(const struct snapshot *s)
{
    return s->feature_names == NULL && s->feature_scaler == NULL &&
           s->impute == NULL && s->weights == NULL && s->class_labels == NULL &&
           s->baselines == NULL && s->baseline_names == NULL &&
           s->extra == NULL && s->input_scale == NULL;
}

int snapshot_alloc(struct snapshot *s, size_t n_inputs, uint32_t outputs,
                   size_t n_classes, size_t n_baselines, size_t n_extra)
{
    size_t n_weights = (size_t)outputs * (n_inputs + 1);

    if (!snapshot_is_empty(s) || n_inputs > SNAPSHOT_MAX_INPUTS ||
        outputs > SNAPSHOT_MAX_OUTPUTS || n_classes > SNAPSHOT_MAX_OUTPUTS ||
        n_baselines > SNAPSHOT_MAX_BASELINES || n_extra > SNAPSHOT_MAX_EXTRA)
        return -EINVAL;
    s->n_inputs = n_inputs;
    s->outputs = outputs;
    s->n_classes = n_classes;
    s->n_baselines = n_baselines;
    s->n_extra = n_extra;
    /* calloc(0) may return NULL legitimately: allocate one spare element. */
    s->feature_names = calloc(n_inputs + 1, sizeof(*s->feature_names));
    s->feature_scaler = calloc(n_inputs + 1, sizeof(*s->feature_scaler));
    s->impute = calloc(n_inputs + 1, sizeof(*s->impute));
    s->weights = calloc(n_weights + 1, sizeof(*s->weights));
    s->class_labels = calloc(n_classes + 1, sizeof(*s->class_labels));
    s->baselines = calloc(n_baselines + 1, sizeof(*s->baselines));
    s->baseline_names = calloc(n_baselines + 1, sizeof(*s->baseline_names));
    s->extra = calloc(n_extra + 1, sizeof(*s->extra));
    if (s->feature_names == NULL || s->feature_scaler == NULL ||
        s->impute == NULL || s->weights == NULL || s->class_labels == NULL ||
        s->baselines == NULL || s->baseline_names == NULL || s->extra == NULL) {
        snapshot_close(s);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n_baselines; i++)
        snapshot_metrics_clear(&s->baselines[i]);
    return 0;
}

int snapshot_alloc_input_scale(struct snapshot *s)
{
    if (s->input_scale != NULL)
        return -EINVAL;
    /* One spare element, as snapshot_alloc(): calloc(0) may give NULL. */
    if ((s->input_scale = calloc(s->n_inputs + 1, sizeof(double))) == NULL)
        return -ENOMEM;
    return 0;
}

int snapshot_set_string(char **dst, const char *src)
{
    char *c = NULL;

    if (src != NULL && (c = strdup(src)) == NULL)
        return -ENOMEM;
    free(*dst);
    *dst = c;
    return 0;
}

/* ---- Checking ------------------------------------------------------------ */

static bool name_ok(const char *name, bool may_be_null)
{
    size_t n;

    if (name == NULL)
        return may_be_null;
    n = strnlen(name, SNAPSHOT_NAME_MAX + 1);
    if (n == 0 || n > SNAPSHOT_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return false;
    return true;
}

static bool all_finite(const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return false;
    return true;
}

static bool scaler_ok(const struct snapshot_scaler *c)
{
    return isfinite(c->mean) && isfinite(c->m2) && c->m2 >= 0.0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* true if the n names are valid and pairwise distinct (sorted copy). */
static bool names_unique(char *const *names, size_t n)
{
    char **tmp;
    bool ok = true;

    for (size_t i = 0; i < n; i++)
        if (!name_ok(names[i], false))
            return false;
    if (n < 2)
        return true;
    if ((tmp = calloc(n, sizeof(*tmp))) == NULL)
        return false;
    memcpy(tmp, names, n * sizeof(*tmp));
    qsort(tmp, n, sizeof(*tmp), cmp_names);
    for (size_t i = 1; i < n && ok; i++)
        ok = strcmp(tmp[i - 1], tmp[i]) != 0;
    free(tmp);
    return ok;
}

/* Outputs and classes must fit the model kind. */
static bool shape_ok(const struct snapshot *s)
{
    switch (s->kind) {
    case SNAPSHOT_KIND_LINEAR:
        return s->outputs == 1 && s->n_classes == 0;
    case SNAPSHOT_KIND_LOGISTIC:
        return s->outputs == 1 && s->n_classes == 2;
    case SNAPSHOT_KIND_SOFTMAX:
        return s->outputs >= 2 && s->n_classes == s->outputs;
    case SNAPSHOT_KIND_ANOMALY:
        return s->outputs == 1;
    default:
        return false;
    }
}

int snapshot_check(const struct snapshot *s)
{
    if (s->format_version > SNAPSHOT_FORMAT_VERSION)
        return -EPROTONOSUPPORT;
    if (s->format_version == 0 || !shape_ok(s) ||
        s->n_inputs > SNAPSHOT_MAX_INPUTS ||
        s->n_baselines > SNAPSHOT_MAX_BASELINES ||
        s->n_extra > SNAPSHOT_MAX_EXTRA)
        return -EBADMSG;
    if (s->feature_names == NULL || s->feature_scaler == NULL ||
        s->impute == NULL || s->weights == NULL ||
        (s->n_classes > 0 && s->class_labels == NULL) ||
        (s->n_baselines > 0 &&
         (s->baselines == NULL || s->baseline_names == NULL)) ||
        (s->n_extra > 0 && s->extra == NULL))
        return -EBADMSG;
    if (!name_ok(s->task, true) || !name_ok(s->target, true) ||
        !name_ok(s->candidate, true))
        return -EBADMSG;
    if (!names_unique(s->feature_names, s->n_inputs) ||
        !names_unique(s->class_labels, s->n_classes))
        return -EBADMSG;
    for (size_t i = 0; i < s->n_inputs; i++)
        if (!scaler_ok(&s->feature_scaler[i]))
            return -EBADMSG;
    if (s->has_target_scaler && !scaler_ok(&s->target_scaler))
        return -EBADMSG;
    if (!all_finite(s->impute, s->n_inputs) ||
        !all_finite(s->weights, (size_t)s->outputs * (s->n_inputs + 1)))
        return -EBADMSG;
    for (size_t i = 0; s->input_scale != NULL && i < s->n_inputs; i++)
        if (!(s->input_scale[i] >= 0) || !isfinite(s->input_scale[i]))
            return -EBADMSG;
    for (size_t i = 0; i < s->n_baselines; i++)
        if (!name_ok(s->baseline_names[i], false))
            return -EBADMSG;
    for (size_t i = 0; i < s->n_extra; i++)
        if (!name_ok(s->extra[i].name, false))
            return -EBADMSG;
    return 0;
}

/* ---- Encoding ------------------------------------------------------------ */

/* The temporaries of one encode; freed by enc_free(). */
struct enc {
    Weir__ModelSnapshot m;
    Weir__HyperParams hyper;
    Weir__ScalerState target_scaler;
    Weir__MetricSet validation;
    Weir__MetricSet test;
    Weir__ScalerState *scalers;   /* [n_inputs] */
    Weir__ScalerState **scaler_p; /* [n_inputs] */
    Weir__MetricSet *baselines;   /* [n_baselines] */
    Weir__MetricSet **baseline_p; /* [n_baselines] */
    Weir__Metric *extra;          /* [n_extra] */
    Weir__Metric **extra_p;       /* [n_extra] */
};

static void enc_free(struct enc *e)
{
    free(e->scalers);
    free(e->scaler_p);
    free(e->baselines);
    free(e->baseline_p);
    free(e->extra);
    free(e->extra_p);
}

static void enc_scaler(Weir__ScalerState *p, const struct snapshot_scaler *c)
{
    weir__scaler_state__init(p);
    p->has_count = 1;
    p->count = c->count;
    p->has_mean = 1;
    p->mean = c->mean;
    p->has_m2 = 1;
    p->m2 = c->m2;
}

#define ENC_OPT(p, c, field)                                                   \
    do {                                                                       \
        if (!isnan((c)->field)) {                                              \
            (p)->has_##field = 1;                                              \
            (p)->field = (c)->field;                                           \
        }                                                                      \
    } while (0)

static void enc_metrics(Weir__MetricSet *p, const struct snapshot_metrics *c)
{
    weir__metric_set__init(p);
    p->has_rows = 1;
    p->rows = c->rows;
    ENC_OPT(p, c, mae);
    ENC_OPT(p, c, rmse);
    ENC_OPT(p, c, r2);
    ENC_OPT(p, c, accuracy);
    ENC_OPT(p, c, log_loss);
    ENC_OPT(p, c, macro_f1);
    ENC_OPT(p, c, kappa);
    ENC_OPT(p, c, kappa_temporal);
}

static int enc_arrays(struct enc *e, const struct snapshot *s)
{
    e->scalers = calloc(s->n_inputs + 1, sizeof(*e->scalers));
    e->scaler_p = calloc(s->n_inputs + 1, sizeof(*e->scaler_p));
    e->baselines = calloc(s->n_baselines + 1, sizeof(*e->baselines));
    e->baseline_p = calloc(s->n_baselines + 1, sizeof(*e->baseline_p));
    e->extra = calloc(s->n_extra + 1, sizeof(*e->extra));
    e->extra_p = calloc(s->n_extra + 1, sizeof(*e->extra_p));
    if (e->scalers == NULL || e->scaler_p == NULL || e->baselines == NULL ||
        e->baseline_p == NULL || e->extra == NULL || e->extra_p == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < s->n_inputs; i++) {
        enc_scaler(&e->scalers[i], &s->feature_scaler[i]);
        e->scaler_p[i] = &e->scalers[i];
    }
    for (size_t i = 0; i < s->n_baselines; i++) {
        enc_metrics(&e->baselines[i], &s->baselines[i]);
        e->baseline_p[i] = &e->baselines[i];
    }
    for (size_t i = 0; i < s->n_extra; i++) {
        weir__metric__init(&e->extra[i]);
        e->extra[i].name = s->extra[i].name;
        e->extra[i].has_value = 1;
        e->extra[i].value = s->extra[i].value;
        e->extra_p[i] = &e->extra[i];
    }
    return 0;
}

static void enc_hyper(struct enc *e, const struct snapshot *s)
{
    weir__hyper_params__init(&e->hyper);
    e->hyper.has_optimizer = 1;
    e->hyper.optimizer = (Weir__Optimizer)s->optimizer;
    ENC_OPT(&e->hyper, s, learning_rate);
    ENC_OPT(&e->hyper, s, l2);
    e->hyper.n_extra = s->n_extra;
    e->hyper.extra = e->extra_p;
}

/* Casts drop const: protobuf-c's message structs are not const-correct, and
 * pack only reads them. */
static void enc_message(struct enc *e, const struct snapshot *s)
{
    Weir__ModelSnapshot *m = &e->m;

    weir__model_snapshot__init(m);
    m->has_format_version = 1;
    m->format_version = s->format_version;
    m->task = s->task;
    m->has_version = 1;
    m->version = s->version;
    m->has_created_at_ms = 1;
    m->created_at_ms = s->created_at_ms;
    m->has_kind = 1;
    m->kind = (Weir__ModelKind)s->kind;
    m->hyper = &e->hyper;
    m->n_feature_names = s->n_inputs;
    m->feature_names = s->feature_names;
    m->n_feature_scaler = s->n_inputs;
    m->feature_scaler = e->scaler_p;
    if (s->has_target_scaler) {
        enc_scaler(&e->target_scaler, &s->target_scaler);
        m->target_scaler = &e->target_scaler;
    }
    m->n_weights = (size_t)s->outputs * (s->n_inputs + 1);
    m->weights = s->weights;
    m->has_outputs = 1;
    m->outputs = s->outputs;
    m->n_class_labels = s->n_classes;
    m->class_labels = s->class_labels;
    enc_metrics(&e->validation, &s->validation);
    m->validation = &e->validation;
    enc_metrics(&e->test, &s->test);
    m->test = &e->test;
    m->n_baselines = s->n_baselines;
    m->baselines = e->baseline_p;
    m->n_baseline_names = s->n_baselines;
    m->baseline_names = s->baseline_names;
    m->has_window_id = 1;
    m->window_id = s->window_id;
    m->has_drift = 1;
    m->drift = (Weir__DriftState)s->drift;
    m->candidate = s->candidate;
    m->has_rows_trained = 1;
    m->rows_trained = s->rows_trained;
    m->target = s->target;
    m->n_impute = s->n_inputs;
    m->impute = s->impute;
    if (s->input_scale != NULL) {
        m->n_input_scale = s->n_inputs;
        m->input_scale = s->input_scale;
    }
}

int snapshot_encode(const struct snapshot *s, uint8_t **out, size_t *len)
{
    struct enc e;
    size_t n;
    int rc;

    if ((rc = snapshot_check(s)) < 0)
        return rc == -EPROTONOSUPPORT ? -EBADMSG : rc;
    memset(&e, 0, sizeof(e));
    if ((rc = enc_arrays(&e, s)) < 0)
        goto out_free;
    enc_hyper(&e, s);
    enc_message(&e, s);
    n = weir__model_snapshot__get_packed_size(&e.m);
    if ((*out = malloc(n + 1)) == NULL) {
        rc = -ENOMEM;
        goto out_free;
    }
    *len = weir__model_snapshot__pack(&e.m, *out);
    rc = 0;
out_free:
    enc_free(&e);
    return rc;
}

/* ---- Decoding ------------------------------------------------------------ */

#define DEC_OPT(c, p, field) ((c)->field = (p)->has_##field ? (p)->field : NAN)

static void dec_metrics(struct snapshot_metrics *c, const Weir__MetricSet *p)
{
    snapshot_metrics_clear(c);
    if (p == NULL)
        return;
    c->rows = p->has_rows ? p->rows : 0;
    DEC_OPT(c, p, mae);
    DEC_OPT(c, p, rmse);
    DEC_OPT(c, p, r2);
    DEC_OPT(c, p, accuracy);
    DEC_OPT(c, p, log_loss);
    DEC_OPT(c, p, macro_f1);
    DEC_OPT(c, p, kappa);
    DEC_OPT(c, p, kappa_temporal);
}

/* A scaler message must carry all three fields: a missing count or m2
 * would silently change predictions. */
static int dec_scaler(struct snapshot_scaler *c, const Weir__ScalerState *p)
{
    if (p == NULL || !p->has_count || !p->has_mean || !p->has_m2)
        return -EBADMSG;
    c->count = p->count;
    c->mean = p->mean;
    c->m2 = p->m2;
    return 0;
}

static int dec_strings(char **dst, char *const *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (src[i] == NULL)
            return -EBADMSG;
        if (snapshot_set_string(&dst[i], src[i]) < 0)
            return -ENOMEM;
    }
    return 0;
}

/* Sizes must agree before anything is allocated from them. */
static int dec_shape(const Weir__ModelSnapshot *m)
{
    size_t n = m->n_feature_names;

    if (!m->has_format_version)
        return -EBADMSG;
    if (m->format_version > SNAPSHOT_FORMAT_VERSION)
        return -EPROTONOSUPPORT;
    if (!m->has_kind || !m->has_outputs || m->outputs == 0 ||
        m->outputs > SNAPSHOT_MAX_OUTPUTS || n > SNAPSHOT_MAX_INPUTS ||
        m->n_feature_scaler != n || m->n_impute != n ||
        m->n_weights != (size_t)m->outputs * (n + 1) ||
        m->n_class_labels > SNAPSHOT_MAX_OUTPUTS ||
        m->n_baselines > SNAPSHOT_MAX_BASELINES ||
        m->n_baseline_names != m->n_baselines ||
        (m->n_input_scale != 0 && m->n_input_scale != n) ||
        (m->hyper != NULL && m->hyper->n_extra > SNAPSHOT_MAX_EXTRA))
        return -EBADMSG;
    return 0;
}

static int dec_hyper(struct snapshot *s, const Weir__HyperParams *h)
{
    if (h == NULL)
        return 0;
    s->optimizer = h->has_optimizer ? (enum snapshot_optimizer)h->optimizer
                                    : SNAPSHOT_OPT_UNKNOWN;
    DEC_OPT(s, h, learning_rate);
    DEC_OPT(s, h, l2);
    for (size_t i = 0; i < h->n_extra; i++) {
        if (h->extra[i]->name == NULL || !h->extra[i]->has_value)
            return -EBADMSG;
        if (snapshot_set_string(&s->extra[i].name, h->extra[i]->name) < 0)
            return -ENOMEM;
        s->extra[i].value = h->extra[i]->value;
    }
    return 0;
}

static int dec_names(struct snapshot *s, const Weir__ModelSnapshot *m)
{
    int rc;

    if ((rc = snapshot_set_string(&s->task, m->task)) < 0 ||
        (rc = snapshot_set_string(&s->target, m->target)) < 0 ||
        (rc = snapshot_set_string(&s->candidate, m->candidate)) < 0)
        return rc;
    if ((rc = dec_strings(s->feature_names, m->feature_names,
                          m->n_feature_names)) < 0 ||
        (rc = dec_strings(s->class_labels, m->class_labels,
                          m->n_class_labels)) < 0 ||
        (rc = dec_strings(s->baseline_names, m->baseline_names,
                          m->n_baseline_names)) < 0)
        return rc;
    return 0;
}

static int dec_body(struct snapshot *s, const Weir__ModelSnapshot *m)
{
    int rc;

    s->format_version = m->format_version;
    s->version = m->has_version ? m->version : 0;
    s->created_at_ms = m->has_created_at_ms ? m->created_at_ms : 0;
    s->kind = (enum snapshot_kind)m->kind;
    if ((rc = dec_names(s, m)) < 0 || (rc = dec_hyper(s, m->hyper)) < 0)
        return rc;
    for (size_t i = 0; i < m->n_feature_scaler; i++)
        if ((rc = dec_scaler(&s->feature_scaler[i], m->feature_scaler[i])) < 0)
            return rc;
    if (m->target_scaler != NULL) {
        s->has_target_scaler = true;
        if ((rc = dec_scaler(&s->target_scaler, m->target_scaler)) < 0)
            return rc;
    }
    memcpy(s->impute, m->impute, m->n_impute * sizeof(*s->impute));
    memcpy(s->weights, m->weights, m->n_weights * sizeof(*s->weights));
    if (m->n_input_scale > 0) {
        if ((rc = snapshot_alloc_input_scale(s)) < 0)
            return rc;
        memcpy(s->input_scale, m->input_scale,
               m->n_input_scale * sizeof(*s->input_scale));
    }
    dec_metrics(&s->validation, m->validation);
    dec_metrics(&s->test, m->test);
    for (size_t i = 0; i < m->n_baselines; i++)
        dec_metrics(&s->baselines[i], m->baselines[i]);
    s->window_id = m->has_window_id ? m->window_id : 0;
    s->drift =
        m->has_drift ? (enum snapshot_drift)m->drift : SNAPSHOT_DRIFT_NONE;
    s->rows_trained = m->has_rows_trained ? m->rows_trained : 0;
    return 0;
}

int snapshot_decode(const uint8_t *buf, size_t len, struct snapshot *out)
{
    Weir__ModelSnapshot *m;
    int rc;

    if (len > SNAPSHOT_MAX_BYTES)
        return -EMSGSIZE;
    if ((m = weir__model_snapshot__unpack(NULL, len, buf)) == NULL)
        return -EBADMSG;
    if ((rc = dec_shape(m)) < 0)
        goto out_unpacked;
    rc = snapshot_alloc(out, m->n_feature_names, m->outputs, m->n_class_labels,
                        m->n_baselines,
                        m->hyper != NULL ? m->hyper->n_extra : 0);
    if (rc < 0)
        goto out_unpacked;
    if ((rc = dec_body(out, m)) == 0)
        rc = snapshot_check(out);
    if (rc < 0)
        snapshot_close(out);
out_unpacked:
    weir__model_snapshot__free_unpacked(m, NULL);
    return rc;
}
