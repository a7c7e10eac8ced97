/* drift.c -- ADWIN2 and Page-Hinkley change detectors (see drift.h for the
 * statistics and the state rules).
 *
 * ADWIN's exponential histogram. A new value becomes a bucket of size 1 at
 * the end of row 0. When a row holds M + 1 buckets, its two oldest merge
 * into one bucket of twice the size, appended at the end of the next row
 * (every bucket there is older, so order is kept). The window is therefore
 * the rows from the highest (oldest) to row 0 (newest), each row oldest
 * first. A bucket stores its sum and its sum of squared deviations; merging
 * two buckets of n values each adds (t0 - t1)^2 / (2 n) to the latter
 * (Chan et al.), so the window's variance is exact, not estimated. The
 * window's own sum and variance are kept incrementally (Welford on insert,
 * the reverse Chan formula when the oldest bucket is dropped).
 *
 *
 * Lazy histogram. Nothing reads the buckets between checks, so a value
 * waits in pend[] (up to DRIFT_ADWIN_PEND) and the histogram takes the
 * waiting values in one pass before each check, or when pend[] is full
 * (drift_adwin_flush()); width, total and var, which a status reads, are
 * still updated on every value. The pass goes row by row: row r's
 * buckets followed by its new ones form a sequence S, and inserting them
 * one at a time, merging the two oldest whenever the row holds M + 1,
 * merges (S0, S1), (S2, S3)... in order until 4 or 5 remain (4 + the
 * parity of |S| once |S| > M); those merges are row r + 1's new buckets.
 * So the pass computes exactly the merges of one insert and cascade per
 * value, with the same operands in the same order (bit for bit the same
 * buckets, tests/test_drift.c checks it against the plain algorithm), in
 * a loop of a few flops per merge, where one insert per value paid for
 * every row's bookkeeping on every value (one merge per value on average:
 * row r merges every 2^r values). The one difference: the top row, once
 * full, forgets its oldest bucket, which also updates the window's sums
 * (adwin_drop_oldest()), now at the next pass instead of on the value
 * itself; that takes a window of ~1.4e15 values, and changes its sums in
 * the last bits only.
 *
 * Cost: a check every `clock` values scans the O(M log W) bucket
 * boundaries, ~90 for a window of 1e6 values, so about 3 split tests per
 * value, each a dozen flops, no divide, no sqrt (adwin_cut()).
 * After a drift, one more scan finds the best split (with sqrts), and the
 * test repeats on what remains. Measured with callgrind in bench_learn's
 * one-candidate case (a 0/1 loss per row, clock 32, W ~ 1.5e5): 117
 * instructions per value for one insert and cascade per value, 93 with
 * the lazy histogram (52 per value, 41 per value in the passes), plus
 * ~55 for the scans. Memory: fixed,
 * sizeof(struct drift_adwin) ~ 5 KB.
 *
 * Page-Hinkley: O(1) per value, ~20 flops and one divide (~15 ns), 160
 * bytes.
 *
 * Threads: no threads, no globals; a detector is owned by one thread. */
#include "learn/drift.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

/* ---- ADWIN ------------------------------------------------------------- */

void drift_adwin_params_default(struct drift_adwin_params *out)
{
    out->delta = 0.002;
    out->delta_warning = 0.1;
    out->clock = 32;
    out->min_window = 5;
}

static bool adwin_params_ok(const struct drift_adwin_params *p)
{
    return p->delta > 0 && p->delta < 1 && p->delta_warning >= p->delta &&
           p->delta_warning < 1 && p->clock >= 1 && p->min_window >= 1;
}

int drift_adwin_init(struct drift_adwin *a, const struct drift_adwin_params *p)
{
    struct drift_adwin_params def;

    if (a == NULL)
        return -EINVAL;
    if (p == NULL) {
        drift_adwin_params_default(&def);
        p = &def;
    }
    if (!adwin_params_ok(p))
        return -EINVAL;
    memset(a, 0, sizeof(*a));
    a->p = *p;
    drift_adwin_reset(a);
    return 0;
}

void drift_adwin_reset(struct drift_adwin *a)
{
    struct drift_adwin_params p = a->p;

    memset(a, 0, sizeof(*a));
    a->p = p;
    a->mean_before = NAN;
    a->mean_after = NAN;
    a->state = DRIFT_NONE;
}

/* Values in one bucket of row r. */
static inline double bucket_n(uint32_t r)
{
    return (double)((uint64_t)1 << r); /* r < DRIFT_ADWIN_ROWS = 48 */
}

/* 1 / (2 bucket_n(r)) = 2^-(r + 1), exactly, from its exponent bits. */
static inline double half_inv_n(uint32_t r)
{
    uint64_t bits = (uint64_t)(1023 - 1 - r) << 52; /* r < 48: normal */
    double v;

    memcpy(&v, &bits, sizeof(v));
    return v;
}

/* Drop the first k (1 or 2) buckets of row r. The copy moves a fixed
 * count (the whole row array, stale slots included), written out move by
 * move: as a loop, GCC turns it into two memmove calls, several times the
 * cost of these eight loads and stores. */
_Static_assert(DRIFT_ADWIN_M == 5, "row_shift() is written for M = 5");
static inline void row_shift(struct drift_adwin *a, uint32_t r, uint32_t k)
{
    double *t = a->b_total[r];
    double *v = a->b_var[r];

    t[0] = t[k];
    t[1] = t[1 + k];
    t[2] = t[2 + k];
    t[3] = t[3 + k];
    v[0] = v[k];
    v[1] = v[1 + k];
    v[2] = v[2 + k];
    v[3] = v[3 + k];
    if (k == 1) {
        t[4] = t[5];
        v[4] = v[5];
    }
    a->len[r] = (uint8_t)(a->len[r] - k);
}

/* Remove the oldest bucket (row a->rows - 1, index 0) from the window;
 * return its sum and size through *t and *n. */
static void adwin_drop_oldest(struct drift_adwin *a, double *t, double *n)
{
    uint32_t r = a->rows - 1;
    double nb = bucket_n(r);
    double tb = a->b_total[r][0];
    double vb = a->b_var[r][0];
    double w0 = (double)a->width;
    double w1 = w0 - nb;

    row_shift(a, r, 1);
    if (a->len[r] == 0)
        a->rows--;
    a->width -= (uint64_t)nb;
    if (a->width == 0) {
        a->total = 0;
        a->var = 0;
    } else {
        double mu_rest = (a->total - tb) / w1;
        double d = tb / nb - mu_rest;
        a->var -= vb + d * d * nb * w1 / w0;
        a->total -= tb;
        if (a->var < 0)
            a->var = 0; /* rounding */
    }
    *t = tb;
    *n = nb;
}

/* A row's sequence S (see the top): its buckets, then the new ones. */
struct seq {
    double t[DRIFT_ADWIN_M + DRIFT_ADWIN_PEND]; /* Sums. */
    double v[DRIFT_ADWIN_M + DRIFT_ADWIN_PEND]; /* Sums of squared
                                                   deviations. */
    uint32_t n;                                 /* Entries. */
};

/* S of row r begins with the row's own buckets. (The whole row is
 * copied: a constant size is a few moves, a variable one a call.) */
static inline void seq_start(const struct drift_adwin *a, uint32_t r,
                             struct seq *s)
{
    s->n = a->len[r];
    memcpy(s->t, a->b_total[r], sizeof(a->b_total[r]));
    memcpy(s->v, a->b_var[r], sizeof(a->b_var[r]));
}

/* Row r takes its sequence s: merge consecutive pairs into next (row r +
 * 1's sequence, already holding that row's buckets) until 4 or 5 remain,
 * which become the row. The merge is the one an insert at a time made:
 * the same operations on the same pairs. The row's unused slots are set
 * to 0, so that the histogram's bytes (a checkpoint's) depend only on the
 * values, not on when they were flushed. */
static inline void row_take(struct drift_adwin *a, uint32_t r,
                            const struct seq *s, struct seq *next)
{
    uint32_t keep = s->n <= DRIFT_ADWIN_M ? s->n : 4 + (s->n & 1);
    uint32_t pairs = (s->n - keep) / 2;
    /* (t0 - t1)^2 / (2 nb): 2 nb is a power of two, so a multiply by its
     * reciprocal gives the same bits without a divide. */
    double h = half_inv_n(r);
    double *nt = next->t + next->n;
    double *nv = next->v + next->n;

    for (uint32_t j = 0; j < pairs; j++) {
        double t0 = s->t[2 * j];
        double t1 = s->t[2 * j + 1];
        nv[j] = s->v[2 * j] + s->v[2 * j + 1] + (t0 - t1) * (t0 - t1) * h;
        nt[j] = t0 + t1;
    }
    next->n += pairs;
    for (uint32_t i = 0; i <= DRIFT_ADWIN_M; i++) {
        a->b_total[r][i] = i < keep ? s->t[2 * pairs + i] : 0.0;
        a->b_var[r][i] = i < keep ? s->v[2 * pairs + i] : 0.0;
    }
    a->len[r] = (uint8_t)keep;
    if (r + 1 > a->rows)
        a->rows = r + 1;
}

/* The top row takes its sequence one bucket at a time, forgetting its
 * oldest bucket whenever it overflows (W is ~1.4e15 by then). */
static void top_take(struct drift_adwin *a, const struct seq *s)
{
    uint32_t r = DRIFT_ADWIN_ROWS - 1;

    a->len[r] = 0;
    a->rows = DRIFT_ADWIN_ROWS;
    for (uint32_t i = 0; i < s->n; i++) {
        double t;
        double n;
        a->b_total[r][a->len[r]] = s->t[i];
        a->b_var[r][a->len[r]] = s->v[i];
        if (++a->len[r] > DRIFT_ADWIN_M)
            adwin_drop_oldest(a, &t, &n);
    }
}

/* Row 0 takes its buckets and the pending values: every bucket there is
 * one value, with a sum of squared deviations of 0, so a merge's is 0 + 0
 * + (t0 - t1)^2 / 2, the same bits as (t0 - t1)^2 / 2: the row is done
 * without its b_var (kept at 0). */
static void row0_take(struct drift_adwin *a, struct seq *next)
{
    double t[DRIFT_ADWIN_M + 1 + DRIFT_ADWIN_PEND];
    uint32_t n = a->len[0] + a->pending;
    uint32_t keep = n <= DRIFT_ADWIN_M ? n : 4 + (n & 1);
    uint32_t pairs = (n - keep) / 2;
    double *nt = next->t + next->n;
    double *nv = next->v + next->n;

    /* Constant sizes: a few moves each, not calls. */
    memcpy(t, a->b_total[0], sizeof(a->b_total[0]));
    memcpy(t + a->len[0], a->pend, sizeof(a->pend));
    for (uint32_t j = 0; j < pairs; j++) {
        double t0 = t[2 * j];
        double t1 = t[2 * j + 1];
        nv[j] = (t0 - t1) * (t0 - t1) * 0.5;
        nt[j] = t0 + t1;
    }
    next->n += pairs;
    for (uint32_t i = 0; i <= DRIFT_ADWIN_M; i++)
        a->b_total[0][i] = i < keep ? t[2 * pairs + i] : 0.0;
    a->len[0] = (uint8_t)keep;
    a->pending = 0;
    if (a->rows == 0)
        a->rows = 1;
}

void drift_adwin_flush(struct drift_adwin *a)
{
    struct seq s[2];
    uint32_t cur = 0;

    if (a->pending == 0)
        return;
    seq_start(a, 1, &s[0]);
    row0_take(a, &s[0]);
    for (uint32_t r = 1; s[cur].n > a->len[r]; r++, cur ^= 1) {
        if (r + 1 == DRIFT_ADWIN_ROWS) {
            top_take(a, &s[cur]);
            return;
        }
        seq_start(a, r + 1, &s[cur ^ 1]);
        row_take(a, r, &s[cur], &s[cur ^ 1]);
    }
}

/* Does the split pass the bound of drift.h? With P = n0 n1 and D =
 * |t0 n1 - t1 n0|: |mean0 - mean1| = D / P and 1/m = 1/n0 + 1/n1 = |W| /
 * P, so diff > sqrt(A / m) + B / m, multiplied through by P, reads
 * D - B |W| > 0 and (D - B |W|)^2 > A |W| P: no divide and no sqrt per
 * split. A = 2 sigma^2 d and B = 2 d / 3, where d = ln(2 |W| / delta)
 * depends only on |W| and delta: aw = A |W| and bw = B |W| are computed
 * once per scan. */
static inline bool adwin_cut(double dd, double p, double aw, double bw)
{
    double e = dd - bw;

    return e > 0 && e * e > aw * p;
}

/* Scan every split at a bucket boundary, oldest first. Returns 2 if some
 * split passes at delta, 1 if one passes only at delta_warning, else 0.
 * The warning bound is the looser one (delta_warning >= delta, so dw <=
 * d), and every step of adwin_cut() is monotone in rounded arithmetic
 * too: a split that fails it fails the drift bound, which is therefore
 * tested only where the warning bound passes (or once a warning is
 * known). Stationary streams pay one test per split instead of two. */
static int adwin_scan(const struct drift_adwin *a)
{
    double w = (double)a->width;
    double n0 = 0;
    double t0 = 0;
    double minw = (double)a->p.min_window;
    double var = a->var / w;
    double d = log(2.0 * w / a->p.delta);
    double dw = log(2.0 * w / a->p.delta_warning);
    int verdict = 0;

    double aw_d;
    double bw_d;
    double aw_w;
    double bw_w;

    dw = dw < d ? dw : d; /* log() is not promised monotone to the ulp */
    aw_d = 2 * var * d * w;
    bw_d = 2.0 / 3.0 * d * w;
    aw_w = 2 * var * dw * w;
    bw_w = 2.0 / 3.0 * dw * w;

    for (uint32_t r = a->rows; r-- > 0;) {
        double nb = bucket_n(r);
        for (uint32_t j = 0; j < a->len[r]; j++) {
            double n1;
            double p;
            double dd;
            n0 += nb;
            t0 += a->b_total[r][j];
            n1 = w - n0;
            if (n1 < minw)
                return verdict; /* W1 only gets smaller from here */
            if (n0 < minw)
                continue;
            p = n0 * n1;
            dd = fabs(t0 * n1 - (a->total - t0) * n0);
            if (verdict == 0 && !adwin_cut(dd, p, aw_w, bw_w))
                continue;
            verdict = 1;
            if (adwin_cut(dd, p, aw_d, bw_d))
                return 2;
        }
    }
    return verdict;
}

/* Of the splits that pass at delta, the most significant one (largest
 * |mean0 - mean1| / eps): the number of oldest buckets forming its W0.
 * Run only after a detection, so it can afford a sqrt per split. */
static uint32_t adwin_best_split(const struct drift_adwin *a)
{
    double w = (double)a->width;
    double var = a->var / w;
    double d = log(2.0 * w / a->p.delta);
    double n0 = 0;
    double t0 = 0;
    double best = 0;
    uint32_t k = 0;
    uint32_t best_k = 1;

    for (uint32_t r = a->rows; r-- > 0;) {
        for (uint32_t j = 0; j < a->len[r]; j++) {
            double n1;
            double q;
            double diff;
            double eps;
            n0 += bucket_n(r);
            t0 += a->b_total[r][j];
            k++;
            n1 = w - n0;
            if (n1 < a->p.min_window)
                return best_k;
            if (n0 < a->p.min_window)
                continue;
            q = 1.0 / (n0 * n1);
            diff = fabs(t0 * n1 - (a->total - t0) * n0) * q;
            eps = sqrt(2 * var * d * w * q) + 2.0 / 3.0 * d * w * q;
            if (diff > eps && diff / eps > best) {
                best = diff / eps;
                best_k = k;
            }
        }
    }
    return best_k;
}

/* Every clock values. On a drift, drop the buckets before the most
 * significant split, and repeat while a split still passes (the paper
 * drops the oldest bucket at a time until none passes; cutting at the best
 * split instead removes the old regime in one go, where one-at-a-time
 * stops early at bucket granularity and re-detects the same change a few
 * clock periods later). */
__attribute__((noinline)) static enum drift_state
adwin_check(struct drift_adwin *a)
{
    double dropped_t = 0;
    double dropped_n = 0;
    int v = adwin_scan(a);

    if (v < 2)
        return v == 1 ? DRIFT_WARNING : DRIFT_NONE;
    while (v == 2 && a->rows > 0) {
        for (uint32_t k = adwin_best_split(a); k > 0 && a->rows > 0; k--) {
            double t;
            double n;
            adwin_drop_oldest(a, &t, &n);
            dropped_t += t;
            dropped_n += n;
        }
        v = a->width >= 2 * (uint64_t)a->p.min_window ? adwin_scan(a) : 0;
    }
    a->detections++;
    a->detected_at = a->seen;
    a->mean_before = dropped_t / dropped_n;
    a->mean_after = a->width > 0 ? a->total / (double)a->width : NAN;
    return DRIFT_DETECTED;
}

/* seen % clock == 0, with a mask instead of a 64-bit divide (tens of
 * cycles) for the usual power-of-two clock. */
static inline bool clock_due(uint64_t seen, uint32_t clock)
{
    if ((clock & (clock - 1)) == 0)
        return (seen & (clock - 1)) == 0;
    return seen % clock == 0;
}

enum drift_state drift_adwin_update(struct drift_adwin *a, double x)
{
    double w;

    if (!isfinite(x))
        return DRIFT_NONE;
    if (a->state == DRIFT_DETECTED)
        a->state = DRIFT_NONE; /* reported for one update only */
    a->seen++;
    /* Welford on the window; the value waits for the histogram. (width <
     * 2^63: the signed conversion is one instruction, the unsigned one
     * is not.) */
    w = (double)(int64_t)++a->width;
    if (w > 1) {
        double d = x - a->total / (w - 1);
        a->var += d * d * (w - 1) / w;
    }
    a->total += x;
    a->pend[a->pending++] = x;
    if (clock_due(a->seen, a->p.clock) &&
        a->width >= 2 * (uint64_t)a->p.min_window) {
        drift_adwin_flush(a);
        a->state = adwin_check(a);
    } else if (a->pending == DRIFT_ADWIN_PEND) {
        drift_adwin_flush(a);
    }
    return (enum drift_state)a->state;
}

void drift_adwin_status(const struct drift_adwin *a, struct drift_status *out)
{
    out->state = (enum drift_state)a->state;
    out->seen = a->seen;
    out->detections = a->detections;
    out->width = a->width;
    out->mean = a->width > 0 ? a->total / (double)a->width : 0.0;
    out->detected_at = a->detected_at;
    out->mean_before = a->mean_before;
    out->mean_after = a->mean_after;
}

/* ---- Page-Hinkley ------------------------------------------------------ */

void drift_ph_params_default(struct drift_ph_params *out)
{
    out->delta = 0.05;
    out->lambda = 50;
    out->lambda_warning = 25;
    out->alpha = 1 - 1e-4;
    out->min_instances = 30;
    out->direction = DRIFT_UP;
}

static bool ph_params_ok(const struct drift_ph_params *p)
{
    return p->delta >= 0 && isfinite(p->delta) && p->lambda > 0 &&
           isfinite(p->lambda) && p->lambda_warning > 0 &&
           p->lambda_warning <= p->lambda && p->alpha > 0 && p->alpha <= 1 &&
           p->direction >= DRIFT_UP && p->direction <= DRIFT_BOTH;
}

int drift_ph_init(struct drift_ph *ph, const struct drift_ph_params *p)
{
    struct drift_ph_params def;

    if (ph == NULL)
        return -EINVAL;
    if (p == NULL) {
        drift_ph_params_default(&def);
        p = &def;
    }
    if (!ph_params_ok(p))
        return -EINVAL;
    memset(ph, 0, sizeof(*ph));
    ph->p = *p;
    drift_ph_reset(ph);
    return 0;
}

/* Restart the statistics (after a drift, or on reset). */
static void ph_restart(struct drift_ph *ph)
{
    ph->n = 0;
    ph->sum = 0;
    ph->mean = 0;
    ph->g_up = 0;
    ph->g_down = 0;
    ph->n0_up = 0;
    ph->sum0_up = 0;
    ph->n0_down = 0;
    ph->sum0_down = 0;
}

void drift_ph_reset(struct drift_ph *ph)
{
    ph_restart(ph);
    ph->seen = 0;
    ph->detections = 0;
    ph->detected_at = 0;
    ph->mean_before = NAN;
    ph->mean_after = NAN;
    ph->state = DRIFT_NONE;
}

/* Record a drift whose change point is after n0 values summing to s0. */
static enum drift_state ph_detect(struct drift_ph *ph, uint64_t n0, double s0)
{
    ph->detections++;
    ph->detected_at = ph->seen;
    ph->mean_before = n0 > 0 ? s0 / (double)n0 : NAN;
    ph->mean_after = (ph->sum - s0) / (double)(ph->n - n0);
    ph_restart(ph);
    return DRIFT_DETECTED;
}

static enum drift_state ph_verdict(struct drift_ph *ph)
{
    double up = ph->p.direction & DRIFT_UP ? ph->g_up : 0;
    double down = ph->p.direction & DRIFT_DOWN ? ph->g_down : 0;

    if (ph->n < ph->p.min_instances)
        return DRIFT_NONE;
    if (up > ph->p.lambda && up >= down)
        return ph_detect(ph, ph->n0_up, ph->sum0_up);
    if (down > ph->p.lambda)
        return ph_detect(ph, ph->n0_down, ph->sum0_down);
    if (up > ph->p.lambda_warning || down > ph->p.lambda_warning)
        return DRIFT_WARNING;
    return DRIFT_NONE;
}

enum drift_state drift_ph_update(struct drift_ph *ph, double x)
{
    double a = ph->p.alpha;
    double up;
    double down;

    if (!isfinite(x))
        return DRIFT_NONE;
    ph->seen++;
    ph->n++;
    ph->sum += x;
    ph->mean += (x - ph->mean) / (double)ph->n;
    up = a * ph->g_up + (x - ph->mean - ph->p.delta);
    down = a * ph->g_down + (ph->mean - x - ph->p.delta);
    ph->g_up = up > 0 ? up : 0.0; /* not fmax(): a libm call at -O2 */
    ph->g_down = down > 0 ? down : 0.0;
    if (ph->g_up == 0) {
        ph->n0_up = ph->n;
        ph->sum0_up = ph->sum;
    }
    if (ph->g_down == 0) {
        ph->n0_down = ph->n;
        ph->sum0_down = ph->sum;
    }
    ph->state = ph_verdict(ph);
    return (enum drift_state)ph->state;
}

void drift_ph_status(const struct drift_ph *ph, struct drift_status *out)
{
    out->state = (enum drift_state)ph->state;
    out->seen = ph->seen;
    out->detections = ph->detections;
    out->width = ph->n;
    out->mean = ph->mean;
    out->detected_at = ph->detected_at;
    out->mean_before = ph->mean_before;
    out->mean_after = ph->mean_after;
}
