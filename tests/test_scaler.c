/* test_scaler.c -- Welford statistics against two-pass formulas, the z[]
 * layout with missing values and indicators, the two-column row path
 * against the one-column code bit for bit, exact state round trips, and
 * merge against one scaler fed both streams. Seeded (WEIR_TEST_SEED). */
#include "learn/scaler.h"
#include "tests/harness.h"

#include <errno.h>
#include <float.h>
#include <math.h>

static double unif(uint64_t *rng)
{
    return (double)(test_rand(rng) >> 11) * 0x1.0p-53;
}

static double gauss(uint64_t *rng)
{
    double u = unif(rng);
    double v = unif(rng);

    return sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v);
}

static bool rel_close(double a, double b, double tol)
{
    return fabs(a - b) <= tol * fmax(1e-300, fmax(fabs(a), fabs(b)));
}

#define N 50000

/* Values far from 0 with a small spread (a pressure in Pa): the naive
 * sum-of-squares variance loses ~10 digits here, Welford must not. The
 * reference is the two-pass formula in long double. */
static void welford_matches_two_pass(void)
{
    static double v[N];
    struct scaler *s = NULL;
    struct scaler_col c;
    uint64_t rng = test_seed();
    long double mean = 0;
    long double m2 = 0;
    double x;

    ASSERT_EQ(scaler_new(&s, 1, (const bool[]){false}), 0);
    for (int i = 0; i < N; i++) {
        v[i] = 101325.0 + 50.0 * gauss(&rng);
        x = v[i];
        scaler_update(s, &x, NULL);
        mean += v[i];
    }
    mean /= N;
    for (int i = 0; i < N; i++)
        m2 += (v[i] - mean) * (v[i] - mean);
    scaler_col_get(s, 0, &c);
    ASSERT_EQ(c.count, N);
    ASSERT(rel_close(c.mean, (double)mean, 1e-14));
    ASSERT(rel_close(c.m2, (double)m2, 1e-9));
    ASSERT(rel_close(scaler_sd(s, 0), sqrt((double)m2 / N), 1e-9));
    scaler_free(s);
}

/* z = (x - mean) / sd with the statistics including x itself; the
 * Newton-tracked 1/sd must agree with the exact one to 1e-8 at every row
 * (scaler.c bounds its error by 4e-9; the reference here, a one-pass
 * sum-of-squares in double, is good to ~1e-11 at this offset),
 * through the early rows where the variance jumps and later. */
static void transform_is_standardised(void)
{
    struct scaler *s = NULL;
    uint64_t rng = test_seed();
    double sum = 0;
    double sum2 = 0;

    ASSERT_EQ(scaler_new(&s, 2, (const bool[]){false, false}), 0);
    for (int i = 1; i <= N; i++) {
        double x[2];
        double z[2];
        double mean;
        double sd;
        x[0] = 20.0 + 3.0 * gauss(&rng) + (i > N / 2 ? 10.0 : 0.0);
        x[1] = 1e-3 * gauss(&rng);
        scaler_update_transform(s, x, NULL, z);
        sum += x[0];
        sum2 += x[0] * x[0];
        mean = sum / i;
        sd = sqrt(fmax(0.0, sum2 / i - mean * mean));
        if (i == 1) {
            ASSERT_EQ(z[0], 0.0); /* no spread yet */
            continue;
        }
        ASSERT_NEAR(z[0], (x[0] - mean) / sd, 1e-8 * (1 + fabs(z[0])));
        ASSERT(fabs(z[0]) <= sqrt((double)i)); /* the bound in scaler.h */
        ASSERT_NEAR(scaler_unz(s, 0, z[0]), x[0], 1e-9 * fabs(x[0]));
    }
    scaler_free(s);
}

/* Layout: z[0..n) values, then one indicator per feature that has one, in
 * feature order; a missing or non-finite value gives z = 0 and flag 1. */
static void layout_missing_and_indicators(void)
{
    struct scaler *s = NULL;
    const bool ind[4] = {true, false, true, true};
    double x[4] = {1.0, 2.0, 3.0, 4.0};
    uint8_t present[4] = {1, 1, 1, 1};
    double z[7];
    struct scaler_col c;

    ASSERT_EQ(scaler_new(&s, 4, ind), 0);
    ASSERT_EQ(scaler_features(s), 4);
    ASSERT_EQ(scaler_width(s), 7);
    ASSERT_EQ(scaler_indicator_col(s, 0), 4);
    ASSERT_EQ(scaler_indicator_col(s, 1), -1);
    ASSERT_EQ(scaler_indicator_col(s, 2), 5);
    ASSERT_EQ(scaler_indicator_col(s, 3), 6);
    ASSERT_EQ(scaler_indicator_col(s, 4), -1);
    for (int i = 0; i < 10; i++) {
        for (int j = 0; j < 4; j++)
            x[j] = j + i;
        scaler_update(s, x, present);
    }
    x[0] = 100.0;
    x[1] = 5.0;
    x[2] = NAN;
    x[3] = 7.0;
    present[3] = 0;
    scaler_update_transform(s, x, present, z);
    ASSERT(z[0] > 0 && isfinite(z[0]));
    ASSERT_EQ(z[4], 0.0);
    x[0] = 2 * SCALER_VALUE_MAX; /* beyond the limit: missing */
    scaler_transform(s, x, present, z);
    ASSERT_EQ(z[0], 0.0);
    ASSERT_EQ(z[4], 1.0);
    x[0] = 100.0;
    scaler_transform(s, x, present, z);
    ASSERT(isfinite(z[1]));
    ASSERT_EQ(z[2], 0.0);
    ASSERT_EQ(z[3], 0.0);
    ASSERT_EQ(z[4], 0.0); /* feature 0 present */
    ASSERT_EQ(z[5], 1.0); /* feature 2 NaN: missing */
    ASSERT_EQ(z[6], 1.0); /* feature 3 absent */
    /* Missing values were not counted. */
    scaler_col_get(s, 2, &c);
    ASSERT_EQ(c.count, 10);
    scaler_col_get(s, 3, &c);
    ASSERT_EQ(c.count, 10);
    scaler_col_get(s, 0, &c);
    ASSERT_EQ(c.count, 11);
    scaler_free(s);
    /* NULL indicator: every feature has one. */
    ASSERT_EQ(scaler_new(&s, 3, NULL), 0);
    ASSERT_EQ(scaler_width(s), 6);
    ASSERT_EQ(scaler_indicator_col(s, 2), 5);
    scaler_free(s);
}

/* One row for the differential tests: n values, mostly Gaussian around a
 * per-column offset, with rare missing, non-finite or enormous values,
 * sudden jumps (which push the Newton-tracked 1/sd out of its window) and
 * a constant column (no spread: z stays 0). */
static void odd_row(uint64_t *rng, size_t n, int i, double *x, uint8_t *p,
                    bool gaps)
{
    for (size_t j = 0; j < n; j++) {
        uint64_t r = gaps ? test_rand(rng) % 1000 : 999;
        x[j] = (double)(j + 1) * gauss(rng) + 100.0 * (double)j;
        if (i > 3000 && i % 1500 < 10)
            x[j] += 50.0 * (double)(j + 1); /* a jump */
        if (j == 3)
            x[j] = 21.5; /* constant */
        p[j] = r != 0;
        if (r == 1)
            x[j] = NAN;
        else if (r == 2)
            x[j] = 3e100;
    }
}

/* update_transform == update then transform, bit for bit: the two-column
 * path of scaler_update_transform() against the one-column code of
 * scaler_update() and scaler_transform(), for odd and even widths, with
 * and without present[], long enough for the Newton tracking (> 1e4
 * rows), with gaps (missing values make the counts differ) and without
 * (every count equal: one divide per row), comparing z (indicators
 * included) and the whole state. scaler_update_features() is the same
 * path, except that it leaves the indicators alone (a sentinel stays) on
 * rows with nothing missing. */
static void update_transform_is_update_then_transform(void)
{
    static const size_t widths[] = {1, 2, 3, 7, 8};
    uint64_t rng = test_seed();

    for (size_t w = 0; w < sizeof(widths) / sizeof(widths[0]); w++) {
        size_t n = widths[w];
        for (int mode = 0; mode < 3; mode++) { /* gaps; gaps, masked; none */
            struct scaler *a = NULL;
            struct scaler *b = NULL;
            struct scaler *c = NULL;
            double sa[32];
            double sb[32];
            int untouched = 0;
            ASSERT_EQ(scaler_new(&a, n, NULL), 0);
            ASSERT_EQ(scaler_new(&b, n, NULL), 0);
            ASSERT_EQ(scaler_new(&c, n, NULL), 0);
            for (int i = 0; i < 15000; i++) {
                double x[8];
                uint8_t p[8];
                double za[16];
                double zb[16];
                double zc[16];
                odd_row(&rng, n, i, x, p, mode < 2);
                const uint8_t *pr = mode == 1 ? p : NULL;
                size_t miss = scaler_update_transform(a, x, pr, za);
                scaler_update(b, x, pr);
                ASSERT_EQ(miss, scaler_transform(b, x, pr, zb));
                ASSERT(memcmp(za, zb, 2 * n * sizeof(double)) == 0);
                for (size_t j = 0; j < 2 * n; j++)
                    zc[j] = -7.0;
                ASSERT_EQ(scaler_update_features(c, x, pr, zc), miss);
                ASSERT(memcmp(za, zc, n * sizeof(double)) == 0);
                for (size_t j = n; j < 2 * n; j++)
                    ASSERT(zc[j] == (miss > 0 ? za[j] : -7.0));
                untouched += miss == 0;
            }
            ASSERT(untouched > 1000);
            scaler_state_get(a, sa, 4 * n);
            scaler_state_get(b, sb, 4 * n);
            ASSERT(memcmp(sa, sb, 4 * n * sizeof(double)) == 0);
            scaler_state_get(c, sb, 4 * n);
            ASSERT(memcmp(sa, sb, 4 * n * sizeof(double)) == 0);
            scaler_free(a);
            scaler_free(b);
            scaler_free(c);
        }
    }
}

/* Extreme and non-finite values never give a non-finite z. */
static void z_is_always_finite(void)
{
    static const double nasty[] = {0.0,       1e-310,  -1e-310,  1e300,
                                   -1e300,    DBL_MAX, -DBL_MAX, INFINITY,
                                   -INFINITY, NAN,     42.0,     -7.5};
    const size_t k = sizeof(nasty) / sizeof(nasty[0]);
    struct scaler *s = NULL;
    uint64_t rng = test_seed();

    ASSERT_EQ(scaler_new(&s, 2, NULL), 0);
    for (int i = 0; i < 5000; i++) {
        double x[2] = {nasty[test_rand(&rng) % k], nasty[test_rand(&rng) % k]};
        double z[4];
        scaler_update_transform(s, x, NULL, z);
        for (int j = 0; j < 4; j++)
            ASSERT(isfinite(z[j]));
        ASSERT(isfinite(scaler_z(s, 0, x[0])));
        ASSERT(isfinite(scaler_unz(s, 1, z[1])));
        scaler_transform(s, x, NULL, z);
        for (int j = 0; j < 4; j++)
            ASSERT(isfinite(z[j]));
    }
    scaler_free(s);
}

/* The full state (with the tracked 1/sd) restores bit for bit: a copy
 * continues exactly as the original; it drives z; and states no tracking
 * could reach are refused, leaving the scaler unchanged. */
static void state_round_trip_is_exact(void)
{
    struct scaler *a = NULL;
    struct scaler *b = NULL;
    uint64_t rng = test_seed();
    double st[32];
    double bad[32];
    double back[32];
    double x[8];
    uint8_t p[8];
    double za[16];
    double zb[16];

    ASSERT_EQ(scaler_new(&a, 8, NULL), 0);
    ASSERT_EQ(scaler_new(&b, 8, NULL), 0);
    ASSERT_EQ(scaler_state_len(a), 32);
    for (int i = 0; i < 20000; i++) {
        odd_row(&rng, 8, i, x, p, true);
        scaler_update_transform(a, x, p, za);
    }
    ASSERT_EQ(scaler_state_get(a, st, 31), -EINVAL);
    ASSERT_EQ(scaler_state_get(a, st, 32), 0);
    ASSERT_EQ(scaler_state_set(b, st, 31), -EINVAL);
    ASSERT_EQ(scaler_state_set(b, st, 32), 0);
    /* z is (x - mean) times the tracked 1/sd of the state. */
    x[0] = 1.25;
    scaler_transform(a, x, NULL, za);
    ASSERT(za[0] == (1.25 - st[1]) * st[3]);
    for (int i = 0; i < 3000; i++) {
        odd_row(&rng, 8, 20000 + i, x, p, true);
        ASSERT_EQ(scaler_update_transform(a, x, p, za),
                  scaler_update_transform(b, x, p, zb));
        ASSERT(memcmp(za, zb, sizeof(za)) == 0);
    }
    ASSERT_EQ(scaler_state_get(a, st, 32), 0);
    ASSERT_EQ(scaler_state_get(b, back, 32), 0);
    ASSERT(memcmp(st, back, sizeof(st)) == 0);
    /* Refusals: each leaves b as it was. */
    for (int k = 0; k < 7; k++) {
        memcpy(bad, st, sizeof(bad));
        switch (k) {
        case 0:
            bad[4] = 100.5;
            break; /* count not integral */
        case 1:
            bad[4] = 0x1p54;
            break; /* count too large */
        case 2:
            bad[6] = -1.0;
            break; /* m2 < 0 */
        case 3:
            bad[7] *= 1.001;
            break; /* 1/sd off by 1e-3 */
        case 4:
            bad[7] = NAN;
            break; /* 1/sd not a number */
        case 5:
            bad[13] = 2 * SCALER_VALUE_MAX;
            break; /* mean */
        default:
            bad[14] = 0;
            bad[15] = 1;
            break; /* 1/sd without m2 */
        }
        ASSERT_EQ(scaler_state_set(b, bad, 32), -EINVAL);
        ASSERT_EQ(scaler_state_get(b, back, 32), 0);
        ASSERT(memcmp(st, back, sizeof(st)) == 0);
    }
    scaler_free(a);
    scaler_free(b);
}

/* Merge of two scalers equals one scaler fed both streams (count exactly,
 * mean and m2 to rounding), including an empty side and missing values;
 * a layout mismatch is refused. */
static void merge_equals_one_scaler_on_both_streams(void)
{
    struct scaler *a = NULL;
    struct scaler *b = NULL;
    struct scaler *all = NULL;
    struct scaler *empty = NULL;
    struct scaler *other = NULL;
    uint64_t rng = test_seed();

    ASSERT_EQ(scaler_new(&a, 3, NULL), 0);
    ASSERT_EQ(scaler_new(&b, 3, NULL), 0);
    ASSERT_EQ(scaler_new(&all, 3, NULL), 0);
    ASSERT_EQ(scaler_new(&empty, 3, NULL), 0);
    ASSERT_EQ(scaler_new(&other, 3, (const bool[]){true, true, false}), 0);
    for (int i = 0; i < 30000; i++) {
        bool first = i < 12000;
        double x[3] = {(first ? 5.0 : 9.0) + gauss(&rng),
                       1e4 + (first ? 1.0 : 3.0) * gauss(&rng), gauss(&rng)};
        uint8_t p[3] = {1, 1, (uint8_t)(test_rand(&rng) % 3 != 0)};
        scaler_update(first ? a : b, x, p);
        scaler_update(all, x, p);
    }
    ASSERT_EQ(scaler_merge(a, empty), 0);
    ASSERT_EQ(scaler_merge(empty, b), 0); /* empty := b */
    ASSERT_EQ(scaler_merge(a, b), 0);
    for (size_t j = 0; j < 3; j++) {
        struct scaler_col ca;
        struct scaler_col cb;
        struct scaler_col cm;
        struct scaler_col ce;
        scaler_col_get(a, j, &cm);
        scaler_col_get(all, j, &ca);
        scaler_col_get(b, j, &cb);
        scaler_col_get(empty, j, &ce);
        ASSERT_EQ(cm.count, ca.count);
        ASSERT(rel_close(cm.mean, ca.mean, 1e-12));
        ASSERT(rel_close(cm.m2, ca.m2, 1e-10));
        ASSERT(rel_close(scaler_sd(a, j), scaler_sd(all, j), 1e-8));
        ASSERT(ce.count == cb.count && ce.mean == cb.mean && ce.m2 == cb.m2);
    }
    ASSERT_EQ(scaler_merge(a, other), -EINVAL);
    scaler_free(a);
    scaler_free(b);
    scaler_free(all);
    scaler_free(empty);
    scaler_free(other);
}

/* get/set round trip; invalid states are refused and change nothing. */
static void col_state_round_trip_and_validation(void)
{
    struct scaler *s = NULL;
    struct scaler *t = NULL;
    struct scaler_col c;
    struct scaler_col back;
    double x = 3.0;
    double z1;
    double z2;

    ASSERT_EQ(scaler_new(&s, 1, (const bool[]){false}), 0);
    ASSERT_EQ(scaler_new(&t, 1, (const bool[]){false}), 0);
    for (int i = 0; i < 100; i++) {
        x = i % 7;
        scaler_update(s, &x, NULL);
    }
    scaler_col_get(s, 0, &c);
    ASSERT_EQ(scaler_col_set(t, 0, &c), 0);
    scaler_col_get(t, 0, &back);
    ASSERT(back.count == c.count && back.mean == c.mean && back.m2 == c.m2);
    z1 = scaler_z(s, 0, 10.0);
    z2 = scaler_z(t, 0, 10.0);
    ASSERT(rel_close(z1, z2, 1e-12));
    c.m2 = -1;
    ASSERT_EQ(scaler_col_set(t, 0, &c), -EINVAL);
    c.m2 = NAN;
    ASSERT_EQ(scaler_col_set(t, 0, &c), -EINVAL);
    c.m2 = 1;
    c.count = 0;
    ASSERT_EQ(scaler_col_set(t, 0, &c), -EINVAL);
    c.count = 5;
    c.mean = INFINITY;
    ASSERT_EQ(scaler_col_set(t, 0, &c), -EINVAL);
    c.mean = 2 * SCALER_VALUE_MAX; /* no mean of admitted values is that */
    ASSERT_EQ(scaler_col_set(t, 0, &c), -EINVAL);
    scaler_col_get(t, 0, &c);
    ASSERT(c.count == back.count && c.mean == back.mean && c.m2 == back.m2);
    scaler_reset(t);
    scaler_col_get(t, 0, &c);
    ASSERT(c.count == 0 && c.mean == 0 && c.m2 == 0);
    ASSERT_EQ(scaler_z(t, 0, 5.0), 0.0);
    ASSERT_EQ(scaler_unz(t, 0, 5.0), 0.0);
    scaler_free(s);
    scaler_free(t);
}

static void bad_arguments_are_refused(void)
{
    struct scaler *s = NULL;

    ASSERT_EQ(scaler_new(&s, 0, NULL), -EINVAL);
    ASSERT_EQ(scaler_new(&s, SCALER_MAX_FEATURES + 1, NULL), -EINVAL);
    ASSERT_EQ(scaler_new(NULL, 3, NULL), -EINVAL);
    ASSERT(s == NULL);
    scaler_free(NULL);
}

static const struct test tests[] = {
    {"welford_matches_two_pass", welford_matches_two_pass},
    {"transform_is_standardised", transform_is_standardised},
    {"layout_missing_and_indicators", layout_missing_and_indicators},
    {"update_transform_is_update_then_transform",
     update_transform_is_update_then_transform},
    {"z_is_always_finite", z_is_always_finite},
    {"merge_equals_one_scaler_on_both_streams",
     merge_equals_one_scaler_on_both_streams},
    {"col_state_round_trip_and_validation",
     col_state_round_trip_and_validation},
    {"state_round_trip_is_exact", state_round_trip_is_exact},
    {"bad_arguments_are_refused", bad_arguments_are_refused},
    {NULL, NULL}};

int main(int argc, char **argv)
{
    return test_main(argc, argv, tests);
}
