/* baseline.c -- no-change, mean and majority-class predictors.
 *
 * A learner that cannot beat these has learned nothing: on sensor streams
 * the no-change (persistence) forecast is often strong, because labels are
 * autocorrelated (Zliobaite et al. 2015 built kappa-temporal on exactly
 * this). Per series state is one dense slot per interned device id, so a
 * prediction is one array load; the mean is a Welford mean, majority a
 * count per class plus the running argmax (updated in O(1): only the class
 * just counted can overtake the leader).
 *
 * Cost per row: O(1) for predict and update; baseline_predict_proba() of
 * the majority baseline is O(K). Memory: 16 bytes per series (last label,
 * seen flag) for BASELINE_NO_CHANGE, 8 bytes per class for
 * BASELINE_MAJORITY, allocated by baseline_new().
 *
 * Threads: no threads, no globals; a baseline is owned by one thread. */
#include "learn/baseline.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct baseline_slot {
    double last; /* Last label of the series. */
    double seen; /* 1 once the series has a label, else 0. */
};

struct baseline {
    enum baseline_kind kind;      /* What is predicted. */
    size_t classes;               /* K, or 0 for regression. */
    size_t max_series;            /* Slots in series[] (NO_CHANGE), else 0. */
    uint64_t rows;                /* Labels learned. */
    uint64_t overflows;           /* Updates of series >= max_series. */
    double mean;                  /* MEAN: running mean of the labels. */
    size_t leader;                /* MAJORITY: most frequent class. */
    struct baseline_slot global;  /* NO_CHANGE: last label of any series. */
    struct baseline_slot spill;   /* NO_CHANGE: shared slot of overflows. */
    uint64_t *count;              /* MAJORITY: labels per class, [K]. */
    struct baseline_slot *series; /* NO_CHANGE: per series, [max_series]. */
};

/* ---- Lifecycle --------------------------------------------------------- */

static bool shape_ok(enum baseline_kind kind, size_t n_classes,
                     size_t max_series)
{
    if (n_classes == 1 || n_classes > BASELINE_MAX_CLASSES)
        return false;
    switch (kind) {
    case BASELINE_NO_CHANGE:
        return max_series >= 1 && max_series <= BASELINE_MAX_SERIES;
    case BASELINE_MEAN:
        return n_classes == 0;
    case BASELINE_MAJORITY:
        return n_classes >= 2;
    default:
        return false;
    }
}

int baseline_new(struct baseline **out, enum baseline_kind kind,
                 size_t n_classes, size_t max_series)
{
    struct baseline *b;

    if (out == NULL || !shape_ok(kind, n_classes, max_series))
        return -EINVAL;
    if ((b = calloc(1, sizeof(*b))) == NULL)
        return -ENOMEM;
    b->kind = kind;
    b->classes = n_classes;
    if (kind == BASELINE_MAJORITY) {
        if ((b->count = calloc(n_classes, sizeof(*b->count))) == NULL)
            goto out_free_b;
    } else if (kind == BASELINE_NO_CHANGE) {
        b->max_series = max_series;
        if ((b->series = calloc(max_series, sizeof(*b->series))) == NULL)
            goto out_free_b;
    }
    *out = b;
    return 0;
out_free_b:
    free(b);
    return -ENOMEM;
}

void baseline_free(struct baseline *b)
{
    if (b == NULL)
        return;
    free(b->series);
    free(b->count);
    free(b);
}

void baseline_reset(struct baseline *b)
{
    b->rows = 0;
    b->overflows = 0;
    b->mean = 0;
    b->leader = 0;
    memset(&b->global, 0, sizeof(b->global));
    memset(&b->spill, 0, sizeof(b->spill));
    if (b->count != NULL)
        memset(b->count, 0, b->classes * sizeof(*b->count));
    if (b->series != NULL)
        memset(b->series, 0, b->max_series * sizeof(*b->series));
}

/* ---- Hot path ---------------------------------------------------------- */

static const struct baseline_slot *slot_of(const struct baseline *b,
                                           uint32_t series)
{
    return series < b->max_series ? &b->series[series] : &b->spill;
}

double baseline_predict(const struct baseline *b, uint32_t series)
{
    const struct baseline_slot *s;

    switch (b->kind) {
    case BASELINE_MEAN:
        return b->mean;
    case BASELINE_MAJORITY:
        return (double)b->leader;
    default:
        break;
    }
    s = slot_of(b, series);
    if (s->seen != 0)
        return s->last;
    return b->global.last; /* 0 before any label */
}

size_t baseline_predict_proba(const struct baseline *b, uint32_t series,
                              double *proba)
{
    size_t c;

    assert(b->classes >= 2);
    if (b->kind == BASELINE_MAJORITY) {
        double den = (double)b->rows + (double)b->classes;
        for (size_t k = 0; k < b->classes; k++)
            proba[k] = ((double)b->count[k] + 1.0) / den;
        return b->leader;
    }
    c = (size_t)baseline_predict(b, series);
    for (size_t k = 0; k < b->classes; k++)
        proba[k] = k == c ? 1.0 : 0.0;
    return c;
}

double baseline_proba_of(const struct baseline *b, uint32_t series, size_t cls)
{
    assert(b->classes >= 2 && cls < b->classes);
    if (b->kind == BASELINE_MAJORITY)
        return ((double)b->count[cls] + 1.0) /
               ((double)b->rows + (double)b->classes);
    return (size_t)baseline_predict(b, series) == cls ? 1.0 : 0.0;
}

/* A label the baseline can learn: finite, and a class index when
 * classifying (in range first, so that the cast is defined; then integral
 * by a cast and a compare, where floor() is a call). */
static inline bool label_ok(const struct baseline *b, double y)
{
    if (b->classes == 0)
        return isfinite(y);
    return y >= 0 && y < (double)b->classes && (double)(int64_t)y == y;
}

/* MAJORITY: count class k; only it can overtake the leader. */
static inline void count_class(struct baseline *b, size_t k)
{
    b->count[k]++;
    if (b->count[k] > b->count[b->leader] ||
        (b->count[k] == b->count[b->leader] && k < b->leader))
        b->leader = k;
}

/* NO_CHANGE: y becomes the last label of series (and of any series). */
static inline void note_label(struct baseline *b, uint32_t series, double y)
{
    struct baseline_slot *s = &b->spill;

    if (series < b->max_series)
        s = &b->series[series];
    else
        b->overflows++;
    s->last = y;
    s->seen = 1;
    b->global = *s;
}

int baseline_learn(struct baseline *b, uint32_t series, double y, double *pred,
                   double *p_y)
{
    size_t k;

    *pred = baseline_predict(b, series);
    if (!label_ok(b, y)) {
        if (p_y != NULL)
            *p_y = NAN;
        return -EINVAL;
    }
    /* A class index, checked: the signed conversion is one instruction,
     * the unsigned one a compare and two paths. */
    k = b->classes > 0 ? (size_t)(int64_t)y : 0;
    if (p_y != NULL && b->classes > 0)
        *p_y = b->kind == BASELINE_MAJORITY
                   ? ((double)b->count[k] + 1.0) /
                         ((double)b->rows + (double)b->classes)
                   : ((size_t)*pred == k ? 1.0 : 0.0);
    b->rows++;
    if (b->kind == BASELINE_MEAN)
        b->mean += (y - b->mean) / (double)b->rows;
    else if (b->kind == BASELINE_MAJORITY)
        count_class(b, k);
    else
        note_label(b, series, y);
    return 0;
}

long baseline_learn_class(struct baseline *b, uint32_t series, size_t k,
                          double *p_k)
{
    long pred;

    assert(b->classes >= 2 && k < b->classes);
    /* Counts and classes are far below 2^63: the signed conversions are
     * one instruction each, the unsigned ones a test and two paths. */
    if (b->kind == BASELINE_MAJORITY) {
        pred = (long)b->leader;
        if (p_k != NULL)
            *p_k = ((double)(int64_t)b->count[k] + 1.0) /
                   ((double)(int64_t)b->rows + (double)(int64_t)b->classes);
        count_class(b, k);
    } else {
        struct baseline_slot *s = &b->spill;
        long c;
        if (series < b->max_series)
            s = &b->series[series];
        else
            b->overflows++;
        c = (long)(s->seen != 0 ? s->last : b->global.last);
        if (p_k != NULL)
            *p_k = c == (long)k ? 1.0 : 0.0;
        pred = b->rows == 0 ? -1 : c;
        s->last = (double)(int64_t)k;
        s->seen = 1;
        b->global = *s;
    }
    b->rows++;
    return pred;
}

int baseline_update(struct baseline *b, uint32_t series, double y)
{
    double pred;

    return baseline_learn(b, series, y, &pred, NULL);
}

/* ---- Introspection and merge ------------------------------------------- */

uint64_t baseline_rows(const struct baseline *b)
{
    return b->rows;
}

uint64_t baseline_overflows(const struct baseline *b)
{
    return b->overflows;
}

int baseline_merge(struct baseline *dst, const struct baseline *src)
{
    if (dst->kind != src->kind || dst->classes != src->classes ||
        dst->max_series != src->max_series)
        return -EINVAL;
    if (dst->kind == BASELINE_MEAN && dst->rows + src->rows > 0)
        dst->mean += (src->mean - dst->mean) *
                     ((double)src->rows / (double)(dst->rows + src->rows));
    if (dst->kind == BASELINE_MAJORITY) {
        dst->leader = 0;
        for (size_t k = 0; k < dst->classes; k++) {
            dst->count[k] += src->count[k];
            if (dst->count[k] > dst->count[dst->leader])
                dst->leader = k;
        }
    }
    if (dst->kind == BASELINE_NO_CHANGE) {
        for (size_t i = 0; i < dst->max_series; i++)
            if (src->series[i].seen != 0)
                dst->series[i] = src->series[i];
        if (src->spill.seen != 0)
            dst->spill = src->spill;
        if (src->global.seen != 0)
            dst->global = src->global;
    }
    dst->rows += src->rows;
    dst->overflows += src->overflows;
    return 0;
}

/* ---- State ------------------------------------------------------------- */

#define HEAD_LEN 8 /* rows, overflows, mean, leader, global x2, spill x2 */

size_t baseline_state_len(const struct baseline *b)
{
    return HEAD_LEN + (b->count != NULL ? b->classes : 0) + 2 * b->max_series;
}

int baseline_state_get(const struct baseline *b, double *out, size_t len)
{
    double *p = out + HEAD_LEN;

    if (len != baseline_state_len(b))
        return -EINVAL;
    out[0] = (double)b->rows;
    out[1] = (double)b->overflows;
    out[2] = b->mean;
    out[3] = (double)b->leader;
    out[4] = b->global.last;
    out[5] = b->global.seen;
    out[6] = b->spill.last;
    out[7] = b->spill.seen;
    for (size_t k = 0; b->count != NULL && k < b->classes; k++)
        *p++ = (double)b->count[k];
    for (size_t i = 0; i < b->max_series; i++) {
        *p++ = b->series[i].last;
        *p++ = b->series[i].seen;
    }
    return 0;
}

static bool is_count(double v)
{
    return v >= 0 && v <= 9.0e15 && v == floor(v);
}

/* A stored label: finite, and a class index for classification. */
static bool label_value_ok(const struct baseline *b, double v)
{
    if (!isfinite(v))
        return false;
    return b->classes == 0 || (is_count(v) && v < (double)b->classes);
}

static bool slot_ok(const struct baseline *b, const double *v)
{
    return (v[1] == 0 || v[1] == 1) && label_value_ok(b, v[0]);
}

static bool state_ok(const struct baseline *b, const double *in)
{
    const double *p = in + HEAD_LEN;

    if (!is_count(in[0]) || !is_count(in[1]) || !isfinite(in[2]) ||
        !is_count(in[3]) || (b->classes > 0 && in[3] >= (double)b->classes))
        return false;
    if (!slot_ok(b, in + 4) || !slot_ok(b, in + 6))
        return false;
    for (size_t k = 0; b->count != NULL && k < b->classes; k++)
        if (!is_count(*p++))
            return false;
    for (size_t i = 0; i < b->max_series; i++, p += 2)
        if (!slot_ok(b, p))
            return false;
    return true;
}

int baseline_state_set(struct baseline *b, const double *in, size_t len)
{
    const double *p = in + HEAD_LEN;

    if (len != baseline_state_len(b) || !state_ok(b, in))
        return -EINVAL;
    b->rows = (uint64_t)in[0];
    b->overflows = (uint64_t)in[1];
    b->mean = in[2];
    b->leader = (size_t)in[3];
    b->global.last = in[4];
    b->global.seen = in[5];
    b->spill.last = in[6];
    b->spill.seen = in[7];
    for (size_t k = 0; b->count != NULL && k < b->classes; k++)
        b->count[k] = (uint64_t)*p++;
    for (size_t i = 0; i < b->max_series; i++) {
        b->series[i].last = *p++;
        b->series[i].seen = *p++;
    }
    return 0;
}
