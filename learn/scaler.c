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
 * Cost per row and column: update ~15 flops and transform one multiply by
 * a cached 1/sd. The cache (inv_sd) follows the variance by a Newton step
 * per update (see newton()) instead of a sqrt and a divide; it is
 * recomputed exactly whenever the variance moved by more than 0.01% in one
 * row, and on scaler_col_set() and scaler_merge(). So z is deterministic
 * for a given history; the tracked value is part of scaler_state_get(), so
 * a scaler restored from a checkpoint continues bit for bit, while one
 * rebuilt from (count, mean, m2) alone (a snapshot) gives z within 4e-9
 * relative of the live one (~1/count^2 typically).
 *
 * Layout and the row path. The statistics are kept column-wise (one array
 * each for count, mean, m2 and 1/sd) so that scaler_update_transform()
 * updates two columns per instruction: GCC and Clang's generic vector
 * types (vector_size(16), SSE2 on x86-64, NEON on arm64, scalar code
 * elsewhere) run the very operations of the one-column code, lane by
 * lane, so the results are the same bits. -O2 does not vectorise these
 * loops by itself (GCC's "very cheap" cost model refuses a loop whose
 * trip count is not a known multiple of two), hence the explicit types.
 * Their comparisons are avoided: GCC 12 turns a reduction of comparison
 * masks into per-lane conditional moves, so the row's two tests (every
 * value usable; every 1/sd still inside Newton's window) are sufficient
 * tests on sums of squares, with the exact one-column test behind them.
 * While every column has the same count (nothing missing so far), 1/count
 * is one divide for the row: the divides, not the flops, bound this path.
 * A pair with a missing value, an odd last column and a column whose 1/sd
 * must be recomputed exactly (the first ~1e4 rows, sudden jumps) take the
 * one-column code. Measured with callgrind on bench_learn's 8 columns
 * (missing-value accounting and indicators included): 60 instructions per
 * column and row before, one column at a time, 31 now.
 *
 * Memory: 5 doubles (count, mean, m2, 1/sd, a scratch ratio) and one
 * indicator index per column, in allocations made by scaler_new().
 *
 * Threads: no threads, no globals; a scaler is owned by one thread. */
#include "learn/scaler.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "learn/internal.h"

struct scaler {
    size_t n;       /* Feature columns. */
    size_t n_ind;   /* Indicator columns. */
    double *count;  /* [n] present values seen, as doubles (arithmetic). */
    double *mean;   /* [n] running means. */
    double *m2;     /* [n] sums of squared deviations. */
    double *inv_sd; /* [n] 1 / sqrt(m2 / count), 0 while m2 == 0. */
    double *ratio;  /* [n] scratch of the row path: Newton's r per column. */
    long *ind;      /* [n] column of z[] of each indicator, or -1. */
    bool uniform;   /* Every count is the same (then 1/count is one divide
                       per row); false may be stale, never true. */
};

#define NEWTON_LO (1.0 - 1e-4)
#define NEWTON_HI (1.0 + 1e-4)

/* ---- Lifecycle --------------------------------------------------------- */

int scaler_new(struct scaler **out, size_t n_features, const bool *indicator)
{
    struct scaler *s;
    double *mem;

    if (out == NULL || n_features < 1 || n_features > SCALER_MAX_FEATURES)
        return -EINVAL;
    if ((s = calloc(1, sizeof(*s))) == NULL)
        return -ENOMEM;
    s->n = n_features;
    if ((mem = calloc(5 * n_features, sizeof(*mem))) == NULL)
        goto out_free_s;
    s->count = mem;
    s->mean = mem + n_features;
    s->m2 = mem + 2 * n_features;
    s->inv_sd = mem + 3 * n_features;
    s->ratio = mem + 4 * n_features;
    if ((s->ind = calloc(n_features, sizeof(*s->ind))) == NULL)
        goto out_free_mem;
    for (size_t i = 0; i < n_features; i++) {
        if (indicator == NULL || indicator[i])
            s->ind[i] = (long)(n_features + s->n_ind++);
        else
            s->ind[i] = -1;
    }
    s->uniform = true;
    *out = s;
    return 0;
out_free_mem:
    free(mem);
out_free_s:
    free(s);
    return -ENOMEM;
}

void scaler_free(struct scaler *s)
{
    if (s == NULL)
        return;
    free(s->ind);
    free(s->count); /* the one allocation of the five arrays */
    free(s);
}

void scaler_reset(struct scaler *s)
{
    memset(s->count, 0, 5 * s->n * sizeof(*s->count));
    s->uniform = true;
}

/* After counts were set from outside: are they all the same? */
static void check_uniform(struct scaler *s)
{
    s->uniform = true;
    for (size_t i = 1; i < s->n; i++)
        if (s->count[i] != s->count[0])
            s->uniform = false;
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

/* ---- One column -------------------------------------------------------- */

/* Exact 1 / sd from (count, m2) (restores, merges, early rows). */
static inline double exact_inv_sd(double count, double m2)
{
    double v = m2 > 0 ? sqrt(count / m2) : 0.0;

    return isfinite(v) ? v : 0.0; /* m2 subnormal: no usable spread */
}

/* Newton's ratio r = var y^2 for the tracked 1/sd y: within the window
 * (NEWTON_LO, NEWTON_HI), y (3 - r) / 2 errs by 3/8 (r - 1)^2 relative,
 * below 4e-9, and the error does not accumulate (it feeds back into the
 * next r, quadratically). Outside (the first ~1e4 values of a column, big
 * jumps) the exact sqrt is taken. Each extra flop here costs ~0.7 ns per
 * column on the build host, which is why a higher-order step was measured
 * and rejected. This replaces a sqrt and a divide per column and row by
 * four multiplies. */
static inline bool in_window(double r)
{
    return r > NEWTON_LO && r < NEWTON_HI;
}

/* Welford for value v of column i, then 1/sd by one Newton step (or
 * exactly); returns z. */
static inline double add_one(struct scaler *s, size_t i, double v)
{
    double inv_n;
    double d;
    double var;
    double r;

    s->count[i] += 1.0;
    inv_n = 1.0 / s->count[i];
    d = v - s->mean[i];
    s->mean[i] += d * inv_n;
    s->m2[i] += d * (v - s->mean[i]);
    var = s->m2[i] * inv_n;
    r = var * s->inv_sd[i] * s->inv_sd[i];
    if (in_window(r))
        s->inv_sd[i] *= 1.5 - 0.5 * r;
    else
        s->inv_sd[i] = exact_inv_sd(s->count[i], s->m2[i]);
    return (v - s->mean[i]) * s->inv_sd[i];
}

static inline bool usable(const uint8_t *present, size_t i, double v)
{
    return (present == NULL || present[i]) && fabs(v) <= SCALER_VALUE_MAX;
}

/* Always finite without a check: |v| and |mean| <= 1e100 (usable() and
 * scaler_col_set() see to it) and 1 / sd <= sqrt(2^64 / 5e-324) < 2e171. */
static inline double z_of(const struct scaler *s, size_t i, double v)
{
    return (v - s->mean[i]) * s->inv_sd[i];
}

/* ---- Two columns (learn/internal.h) ------------------------------------ */

/* Every value of the pairs x[0 .. n2) usable? A sufficient test in two
 * flops per pair: with t = x / SCALER_VALUE_MAX, a sum of t^2 below 0.5
 * puts every |x| below 0.71 SCALER_VALUE_MAX (a NaN or an Inf makes the
 * sum NaN or Inf, which fails it). Rows that fail it (a missing or an
 * enormous value) take the exact test of the one-column path. */
static inline bool pairs_usable(const double *x, const uint8_t *present,
                                size_t n2)
{
    const learn__v2d scale = {1.0 / SCALER_VALUE_MAX, 1.0 / SCALER_VALUE_MAX};
    learn__v2d sum = {0, 0};

    for (size_t i = 0; i < n2; i += 2) {
        learn__v2d t = learn__load2(x + i) * scale;
        sum += t * t;
    }
    if (present != NULL && memchr(present, 0, n2) != NULL)
        return false;
    return sum[0] + sum[1] < 0.5;
}

/* The statistics of a scaler as restrict pointers: the arrays never
 * overlap each other nor x and z, so nothing is reloaded after a store. */
struct cols {
    double *restrict mean;
    double *restrict m2;
    double *restrict inv_sd;
    double *restrict ratio;
};

/* add_one() of the pair of columns i, i + 1 with 1/count inv_n: lane by
 * lane the same operations. Leaves Newton's r in ratio[] and adds its
 * (r - 1)^2 to *dev. */
static inline void add_pair(const struct cols *c, size_t i,
                            const double *restrict x, double *restrict z,
                            learn__v2d inv_n, learn__v2d *dev)
{
    const learn__v2d one = {1.0, 1.0};
    const learn__v2d c15 = {1.5, 1.5};
    const learn__v2d c05 = {0.5, 0.5};
    learn__v2d v = learn__load2(x + i);
    learn__v2d mu = learn__load2(c->mean + i);
    learn__v2d q = learn__load2(c->m2 + i);
    learn__v2d y = learn__load2(c->inv_sd + i);
    learn__v2d d = v - mu;
    learn__v2d r;

    mu += d * inv_n;
    q += d * (v - mu);
    r = q * inv_n * y * y;
    y *= c15 - c05 * r;
    *dev += (r - one) * (r - one);
    learn__store2(c->mean + i, mu);
    learn__store2(c->m2 + i, q);
    learn__store2(c->inv_sd + i, y);
    learn__store2(c->ratio + i, r);
    learn__store2(z + i, (v - mu) * y);
}

/* add_one() of the pairs of columns [0 .. n2), every value usable, two
 * columns at a time. When every column has the same count (no value
 * missing so far: the common case), 1/count is one divide for the row,
 * else one per pair; the divides, not the flops, bound this loop's time.
 * Each lane takes Newton's step; returns false when some lane may have
 * left the window (then redo_lane() checks each exactly). The sufficient
 * test: a sum of (r - 1)^2 below 0.9e-8 puts every |r - 1| below
 * 0.95e-4, inside the window (NaN and Inf fail it). */
static bool add_pairs(struct scaler *s, const double *restrict x,
                      double *restrict z, size_t n2, bool uniform)
{
    const struct cols c = {s->mean, s->m2, s->inv_sd, s->ratio};
    const learn__v2d one = {1.0, 1.0};
    double *restrict count = s->count;
    learn__v2d dev = {0, 0};

    if (uniform) {
        double n = count[0] + 1.0;
        learn__v2d inv = {1.0 / n, 1.0 / n};
        for (size_t i = 0; i < n2; i += 2) {
            learn__store2(count + i, (learn__v2d){n, n});
            add_pair(&c, i, x, z, inv, &dev);
        }
    } else {
        for (size_t i = 0; i < n2; i += 2) {
            learn__v2d n = learn__load2(count + i) + one;
            learn__store2(count + i, n);
            add_pair(&c, i, x, z, one / n, &dev);
        }
    }
    return dev[0] + dev[1] < 0.9e-8;
}

/* Column j after add_pairs(): if it left Newton's window, exact 1/sd and
 * its z again. */
static inline void redo_lane(struct scaler *s, size_t j, const double *x,
                             double *z)
{
    if (in_window(s->ratio[j]))
        return;
    s->inv_sd[j] = exact_inv_sd(s->count[j], s->m2[j]);
    z[j] = z_of(s, j, x[j]);
}

/* ---- Operations -------------------------------------------------------- */

void scaler_update(struct scaler *s, const double *x, const uint8_t *present)
{
    size_t miss = 0;

    for (size_t i = 0; i < s->n; i++) {
        if (usable(present, i, x[i]))
            add_one(s, i, x[i]);
        else
            miss++;
    }
    if (miss > 0 && miss < s->n)
        s->uniform = false;
}

/* The indicator columns z[n .. n + n_ind) of a row with miss missing
 * values: all 0 when nothing is missing (the common case: one memset),
 * else 1 where the feature is missing. */
static inline void indicators(const struct scaler *s, const double *x,
                              const uint8_t *present, double *z, size_t miss)
{
    memset(z + s->n, 0, s->n_ind * sizeof(*z));
    if (miss > 0)
        for (size_t i = 0; i < s->n; i++)
            if (s->ind[i] >= 0 && !usable(present, i, x[i]))
                z[s->ind[i]] = 1.0;
}

size_t scaler_transform(const struct scaler *s, const double *x,
                        const uint8_t *present, double *z)
{
    size_t miss = 0;

    for (size_t i = 0; i < s->n; i++) {
        bool ok = usable(present, i, x[i]);
        z[i] = ok ? z_of(s, i, x[i]) : 0.0;
        miss += !ok;
    }
    indicators(s, x, present, z, miss);
    return miss;
}

/* One column of the row path (a pair with a missing value, the odd last
 * column); returns 1 if the value is missing. */
static inline size_t update_one(struct scaler *s, size_t i, const double *x,
                                const uint8_t *present, double *z)
{
    if (usable(present, i, x[i])) {
        z[i] = add_one(s, i, x[i]);
        return 0;
    }
    z[i] = 0.0;
    return 1;
}

/* The row path: the pairs two columns at a time when all their values
 * are usable (the common case), else one column at a time; then the odd
 * last column; the indicators if every_row (else only on a row with a
 * missing value). */
static inline size_t update_row(struct scaler *s, const double *x,
                                const uint8_t *present, double *z,
                                bool every_row)
{
    size_t n2 = s->n & ~(size_t)1;
    size_t miss = 0;

    if (pairs_usable(x, present, n2)) {
        if (!add_pairs(s, x, z, n2, s->uniform))
            for (size_t i = 0; i < n2; i++)
                redo_lane(s, i, x, z);
    } else {
        for (size_t i = 0; i < n2; i++)
            miss += update_one(s, i, x, present, z);
    }
    if (n2 < s->n)
        miss += update_one(s, n2, x, present, z);
    if (miss > 0 && miss < s->n)
        s->uniform = false; /* some counts moved, others not */
    if (every_row || miss > 0)
        indicators(s, x, present, z, miss);
    return miss;
}

size_t scaler_update_transform(struct scaler *s, const double *x,
                               const uint8_t *present, double *z)
{
    return update_row(s, x, present, z, true);
}

size_t scaler_update_features(struct scaler *s, const double *x,
                              const uint8_t *present, double *z)
{
    return update_row(s, x, present, z, false);
}

double scaler_z(const struct scaler *s, size_t i, double v)
{
    return usable(NULL, i, v) ? z_of(s, i, v) : 0.0;
}

double scaler_unz(const struct scaler *s, size_t i, double z)
{
    double v;

    if (s->inv_sd[i] == 0 || !isfinite(z))
        return s->mean[i];
    v = s->mean[i] + z / s->inv_sd[i];
    return v > DBL_MAX ? DBL_MAX : (v < -DBL_MAX ? -DBL_MAX : v);
}

double scaler_sd(const struct scaler *s, size_t i)
{
    /* Exact, from the state (not the tracked 1/sd). */
    return s->inv_sd[i] > 0 ? sqrt(s->m2[i] / s->count[i]) : 0.0;
}

/* ---- State ------------------------------------------------------------- */

void scaler_col_get(const struct scaler *s, size_t i, struct scaler_col *out)
{
    out->count = (uint64_t)s->count[i];
    out->mean = s->mean[i];
    out->m2 = s->m2[i];
}

/* What scaler_col_set() accepts (count as a double). */
static bool col_ok(double count, double mean, double m2)
{
    return fabs(mean) <= SCALER_VALUE_MAX && isfinite(m2) && m2 >= 0 &&
           (count != 0 || (mean == 0 && m2 == 0));
}

int scaler_col_set(struct scaler *s, size_t i, const struct scaler_col *in)
{
    if (!col_ok((double)in->count, in->mean, in->m2))
        return -EINVAL;
    s->count[i] = (double)in->count;
    s->mean[i] = in->mean;
    s->m2[i] = in->m2;
    s->inv_sd[i] = exact_inv_sd(s->count[i], s->m2[i]);
    check_uniform(s);
    return 0;
}

size_t scaler_state_len(const struct scaler *s)
{
    return 4 * s->n;
}

int scaler_state_get(const struct scaler *s, double *out, size_t len)
{
    if (len != scaler_state_len(s))
        return -EINVAL;
    for (size_t i = 0; i < s->n; i++) {
        out[4 * i] = s->count[i];
        out[4 * i + 1] = s->mean[i];
        out[4 * i + 2] = s->m2[i];
        out[4 * i + 3] = s->inv_sd[i];
    }
    return 0;
}

/* One column of a state: what scaler_col_set() accepts, with an integral
 * count, and a 1/sd that the Newton tracking could have reached (within
 * 1e-6 of the exact value; exactly 0 when that is 0), so that z stays
 * bounded as scaler.h promises. */
static bool state_col_ok(const double *v)
{
    double exact;

    if (!(v[0] >= 0 && v[0] <= 0x1p53 && v[0] == floor(v[0])) ||
        !col_ok(v[0], v[1], v[2]))
        return false;
    exact = exact_inv_sd(v[0], v[2]);
    if (exact == 0)
        return v[3] == 0;
    return fabs(v[3] - exact) <= 1e-6 * exact;
}

int scaler_state_set(struct scaler *s, const double *in, size_t len)
{
    if (len != scaler_state_len(s))
        return -EINVAL;
    for (size_t i = 0; i < s->n; i++)
        if (!state_col_ok(in + 4 * i))
            return -EINVAL;
    for (size_t i = 0; i < s->n; i++) {
        s->count[i] = in[4 * i];
        s->mean[i] = in[4 * i + 1];
        s->m2[i] = in[4 * i + 2];
        s->inv_sd[i] = in[4 * i + 3];
    }
    check_uniform(s);
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
        double na = dst->count[i];
        double nb = src->count[i];
        double n = na + nb;
        double d = src->mean[i] - dst->mean[i];
        if (nb == 0)
            continue;
        dst->mean[i] += d * (nb / n);
        dst->m2[i] += src->m2[i] + d * d * (na * nb / n);
        dst->count[i] = n;
        dst->inv_sd[i] = exact_inv_sd(n, dst->m2[i]);
    }
    check_uniform(dst);
    return 0;
}
