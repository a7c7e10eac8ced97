/* scaler.c -- per-column Welford mean and variance, z-scores with missing
 * values imputed at the mean and flagged by indicator columns.
 *
 * Why Welford: a sensor stream is long (1e9 rows is a year at 30 Hz) and
 * its values may sit far from 0 (a pressure of 101325 Pa with a spread of
 * 50), where the textbook sum-of-squares formula cancels catastrophically.
 * Welford's update (mean += d / n; m2 += d (x - mean)) keeps full relative
 * precision, and Chan, Golub and LeVeque's pairwise formula merges two
 * states exactly as if one had seen both streams:
 *     n = na + nb,  d = mean_b - mean_a,
 *     mean = mean_a + d nb / n,  m2 = m2a + m2b + d^2 na nb / n.
 *
 * Values beyond +-SCALER_VALUE_MAX (1e100) count as missing, like NaN:
 * then every d^2 is below 4e200 and m2 stays finite for any realistic
 * count, so no value can poison a column's statistics.
 *
 * Cost per row and column: update ~15 flops (one divide per row for
 * 1/count, shared by the columns that have the same count) and transform
 * one multiply by a cached 1/sd. The cache (inv_sd) follows the variance
 * by a Newton step per update (see add_one()) instead of a sqrt and a
 * divide; it is recomputed exactly whenever the variance moved by more
 * than 0.01% in one row, and on scaler_col_set() and scaler_merge(). So z is
 * deterministic for a given history, but a scaler restored from a
 * checkpoint may give z differing from an uninterrupted run by 4e-9
 * relative at most (~1/count^2 typically). Memory: 4
 * doubles and one indicator index per column, in allocations made by
 * scaler_new().
 *
 * Threads: no threads, no globals; a scaler is owned by one thread. */
#include "learn/scaler.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct scaler_stat {
    double count;  /* Present values seen, as a double for the arithmetic. */
    double mean;   /* Running mean. */
    double m2;     /* Sum of squared deviations. */
    double inv_sd; /* 1 / sqrt(m2 / count), 0 while m2 == 0. */
};

struct scaler {
    size_t n;               /* Feature columns. */
    size_t n_ind;           /* Indicator columns. */
    struct scaler_stat *st; /* Per column statistics, [n]. */
    long *ind;              /* Column of z[] of each indicator or -1, [n]. */
};

/* ---- Lifecycle --------------------------------------------------------- */

int scaler_new(struct scaler **out, size_t n_features, const bool *indicator)
{
    struct scaler *s;

    if (out == NULL || n_features < 1 || n_features > SCALER_MAX_FEATURES)
        return -EINVAL;
    if ((s = calloc(1, sizeof(*s))) == NULL)
        return -ENOMEM;
    s->n = n_features;
    if ((s->st = calloc(n_features, sizeof(*s->st))) == NULL)
        goto out_free_s;
    if ((s->ind = calloc(n_features, sizeof(*s->ind))) == NULL)
        goto out_free_st;
    for (size_t i = 0; i < n_features; i++) {
        if (indicator == NULL || indicator[i])
            s->ind[i] = (long)(n_features + s->n_ind++);
        else
            s->ind[i] = -1;
    }
    *out = s;
    return 0;
out_free_st:
    free(s->st);
out_free_s:
    free(s);
    return -ENOMEM;
}

void scaler_free(struct scaler *s)
{
    if (s == NULL)
        return;
    free(s->ind);
    free(s->st);
    free(s);
}

void scaler_reset(struct scaler *s)
{
    memset(s->st, 0, s->n * sizeof(*s->st));
}

/* ---- Layout ------------------------------------------------------------ */

size_t scaler_features(const struct scaler *s)
{
    return s->n;
}

size_t scaler_width(const struct scaler *s)
{
    return s->n + s->n_ind;
}

long scaler_indicator_col(const struct scaler *s, size_t i)
{
    return i < s->n ? s->ind[i] : -1;
}

/* ---- Operations -------------------------------------------------------- */

/* Exact 1 / sd from the state (restores, merges, early rows). */
static inline void refresh_inv_sd(struct scaler_stat *c)
{
    c->inv_sd = c->m2 > 0 ? sqrt(c->count / c->m2) : 0.0;
    if (!isfinite(c->inv_sd))
        c->inv_sd = 0.0; /* m2 is subnormal: no usable spread. */
}

/* Welford with 1/count supplied by the caller (shared between columns of
 * equal count), then 1 / sd from its previous value y by one Newton step
 * for 1/sqrt(var): with r = var y^2 (1 + the relative move of the variance
 * in this row), y (3 - r) / 2 errs by 3/8 (r - 1)^2 relative, below 4e-9
 * inside the window |r - 1| < 1e-4 used here, and the error does not
 * accumulate (it feeds back into the next r, quadratically). Outside the
 * window (the first ~1e4 values of a column, big jumps) the exact sqrt is
 * taken. Each extra flop here costs ~0.7 ns per column on the build host,
 * which is why a higher-order step was measured and rejected. This
 * replaces a sqrt and a divide per column and row by four multiplies. */
static inline void add_one(struct scaler_stat *c, double v, double inv_n)
{
    double d = v - c->mean;
    double var;
    double r;

    c->mean += d * inv_n;
    c->m2 += d * (v - c->mean);
    var = c->m2 * inv_n;
    r = var * c->inv_sd * c->inv_sd;
    if (r > 1.0 - 1e-4 && r < 1.0 + 1e-4)
        c->inv_sd *= 1.5 - 0.5 * r;
    else
        refresh_inv_sd(c);
}

/* Count one more value in column c; returns 1 / the new count, reusing
 * *last_inv when the count equals *last_n (all columns present: one
 * divide per row instead of one per column). */
static inline double count_one(struct scaler_stat *c, double *last_n,
                               double *last_inv)
{
    c->count += 1.0;
    if (c->count != *last_n) {
        *last_n = c->count;
        *last_inv = 1.0 / c->count;
    }
    return *last_inv;
}

static inline bool usable(const uint8_t *present, size_t i, double v)
{
    return (present == NULL || present[i]) && fabs(v) <= SCALER_VALUE_MAX;
}

void scaler_update(struct scaler *s, const double *x, const uint8_t *present)
{
    double last_n = 0;
    double last_inv = 0;

    for (size_t i = 0; i < s->n; i++) {
        struct scaler_stat *c = &s->st[i];
        if (usable(present, i, x[i]))
            add_one(c, x[i], count_one(c, &last_n, &last_inv));
    }
}

/* Always finite without a check: |v| and |mean| <= 1e100 (usable() and
 * scaler_col_set() see to it) and 1 / sd <= sqrt(2^64 / 5e-324) < 2e171. */
static inline double z_of(const struct scaler_stat *c, double v)
{
    return (v - c->mean) * c->inv_sd;
}

void scaler_transform(const struct scaler *s, const double *x,
                      const uint8_t *present, double *z)
{
    const long *ind = s->ind; /* z's stores cannot change it: no reload */

    for (size_t i = 0; i < s->n; i++) {
        bool ok = usable(present, i, x[i]);
        z[i] = ok ? z_of(&s->st[i], x[i]) : 0.0;
        if (ind[i] >= 0)
            z[ind[i]] = ok ? 0.0 : 1.0;
    }
}

/* The loop of scaler_update_transform(), instantiated twice (with and
 * without present[]) so the common no-mask case tests nothing per column
 * but the value's range. */
static inline void update_transform(struct scaler *s, const double *x,
                                    const uint8_t *present, double *z,
                                    bool masked)
{
    const long *ind = s->ind; /* z's stores cannot change it: no reload */
    size_t n = s->n;
    double last_n = 0;
    double last_inv = 0;

    for (size_t i = 0; i < n; i++) {
        struct scaler_stat *c = &s->st[i];
        double v = x[i];
        bool ok = (!masked || present[i]) && fabs(v) <= SCALER_VALUE_MAX;
        if (ok) {
            add_one(c, v, count_one(c, &last_n, &last_inv));
            z[i] = z_of(c, v);
        } else {
            z[i] = 0.0;
        }
        if (ind[i] >= 0)
            z[ind[i]] = ok ? 0.0 : 1.0;
    }
}

void scaler_update_transform(struct scaler *s, const double *x,
                             const uint8_t *present, double *z)
{
    if (present != NULL)
        update_transform(s, x, present, z, true);
    else
        update_transform(s, x, NULL, z, false);
}

double scaler_z(const struct scaler *s, size_t i, double v)
{
    return usable(NULL, i, v) ? z_of(&s->st[i], v) : 0.0;
}

double scaler_unz(const struct scaler *s, size_t i, double z)
{
    const struct scaler_stat *c = &s->st[i];
    double v;

    if (c->inv_sd == 0 || !isfinite(z))
        return c->mean;
    v = c->mean + z / c->inv_sd;
    return v > DBL_MAX ? DBL_MAX : (v < -DBL_MAX ? -DBL_MAX : v);
}

double scaler_sd(const struct scaler *s, size_t i)
{
    const struct scaler_stat *c = &s->st[i];

    /* Exact, from the state (not the tracked 1/sd). */
    return c->inv_sd > 0 ? sqrt(c->m2 / c->count) : 0.0;
}

/* ---- State ------------------------------------------------------------- */

void scaler_col_get(const struct scaler *s, size_t i, struct scaler_col *out)
{
    const struct scaler_stat *c = &s->st[i];

    out->count = (uint64_t)c->count;
    out->mean = c->mean;
    out->m2 = c->m2;
}

int scaler_col_set(struct scaler *s, size_t i, const struct scaler_col *in)
{
    struct scaler_stat *c = &s->st[i];

    if (!(fabs(in->mean) <= SCALER_VALUE_MAX) || !isfinite(in->m2) ||
        in->m2 < 0 || (in->count == 0 && (in->mean != 0 || in->m2 != 0)))
        return -EINVAL;
    c->count = (double)in->count;
    c->mean = in->mean;
    c->m2 = in->m2;
    refresh_inv_sd(c);
    return 0;
}

int scaler_merge(struct scaler *dst, const struct scaler *src)
{
    if (dst->n != src->n || dst->n_ind != src->n_ind)
        return -EINVAL;
    for (size_t i = 0; i < dst->n; i++)
        if (dst->ind[i] != src->ind[i])
            return -EINVAL;
    for (size_t i = 0; i < dst->n; i++) {
        struct scaler_stat *a = &dst->st[i];
        const struct scaler_stat *b = &src->st[i];
        double n = a->count + b->count;
        double d = b->mean - a->mean;
        if (b->count == 0)
            continue;
        a->mean += d * (b->count / n);
        a->m2 += b->m2 + d * d * (a->count * b->count / n);
        a->count = n;
        refresh_inv_sd(a);
    }
    return 0;
}
