/* test_metrics.c -- prequential figures against hand-computed cases
 * (cross-checked once with scikit-learn 1.2: f1_score(average="macro"),
 * cohen_kappa_score), against independent formulas on random data, and
 * merge/reset semantics. Seeded (WEIR_TEST_SEED). */
#include "learn/metrics.h"
#include "tests/harness.h"

#include <errno.h>
#include <math.h>

static void regression_hand_case(void)
{
    static const double y[4] = {1, 2, 3, 4};
    static const double yh[4] = {1.5, 2, 2, 5};
    struct metrics m;
    struct metrics_result r;

    ASSERT_EQ(metrics_init(&m, METRICS_REGRESSION, 0), 0);
    for (int i = 0; i < 4; i++)
        metrics_add_reg(&m, y[i], yh[i]);
    metrics_result(&m, &r);
    /* |e| = .5 0 1 1; e^2 = .25 0 1 1; SST = 2.25 + .25 + .25 + 2.25. */
    ASSERT_EQ(r.rows, 4);
    ASSERT_NEAR(r.mae, 0.625, 1e-15);
    ASSERT_NEAR(r.rmse, 0.75, 1e-15);
    ASSERT_NEAR(r.r2, 1.0 - 2.25 / 5.0, 1e-15);
    ASSERT(isnan(r.accuracy) && isnan(r.log_loss) && isnan(r.macro_f1) &&
           isnan(r.kappa) && isnan(r.kappa_temporal));
}

/* Constant target: R^2 is 1 for a perfect fit, else 0 (force_finite). */
static void r2_with_constant_target(void)
{
    struct metrics m;
    struct metrics_result r;

    ASSERT_EQ(metrics_init(&m, METRICS_REGRESSION, 0), 0);
    metrics_add_reg(&m, 3, 3);
    metrics_add_reg(&m, 3, 3);
    metrics_result(&m, &r);
    ASSERT_EQ(r.r2, 1.0);
    metrics_add_reg(&m, 3, 4);
    metrics_result(&m, &r);
    ASSERT_EQ(r.r2, 0.0);
}

/* Confusion [true][pred] = [[2,1,0],[0,1,1],[1,0,2]]: accuracy 5/8, F1 per
 * class 2/3, 1/2, 2/3 -> 11/18; pe = (9 + 4 + 9) / 64 -> kappa 3/7. The
 * no-change predictions given match 6 of 8 labels -> kappa_t = (5/8 -
 * 6/8) / (2/8) = -1/2. Log loss = -ln(prod p) / 8. */
static void classification_hand_case(void)
{
    static const size_t y[8] = {0, 0, 0, 1, 1, 2, 2, 2};
    static const size_t yh[8] = {0, 0, 1, 1, 2, 2, 2, 0};
    static const long nc[8] = {0, 0, 1, 1, 1, 2, 0, 2};
    static const double p[8] = {0.9, 0.8, 0.3, 0.6, 0.2, 0.7, 0.95, 0.1};
    struct metrics m;
    struct metrics_result r;

    ASSERT_EQ(metrics_init(&m, METRICS_CLASSIFICATION, 3), 0);
    for (int i = 0; i < 8; i++)
        metrics_add_class(&m, y[i], yh[i], p[i], nc[i]);
    metrics_result(&m, &r);
    ASSERT_EQ(r.rows, 8);
    ASSERT_NEAR(r.accuracy, 0.625, 1e-15);
    ASSERT_NEAR(r.macro_f1, 11.0 / 18.0, 1e-15);
    ASSERT_NEAR(r.kappa, 3.0 / 7.0, 1e-15);
    ASSERT_NEAR(r.kappa_temporal, -0.5, 1e-15);
    ASSERT_NEAR(r.log_loss, -log(0.00172368) / 8, 1e-12);
    ASSERT(isnan(r.mae) && isnan(r.rmse) && isnan(r.r2));
}

/* Macro F1 averages over classes seen as label or prediction only: with
 * K = 4, class 3 never occurs and is left out; class 2 is only predicted
 * (F1 0) and counts. (2/3 + 1 + 0) / 3 = 5/9. */
static void macro_f1_ignores_absent_classes(void)
{
    static const size_t y[4] = {0, 0, 1, 1};
    static const size_t yh[4] = {0, 2, 1, 1};
    struct metrics m;
    struct metrics_result r;

    ASSERT_EQ(metrics_init(&m, METRICS_CLASSIFICATION, 4), 0);
    for (int i = 0; i < 4; i++)
        metrics_add_class(&m, y[i], yh[i], NAN, -1);
    metrics_result(&m, &r);
    ASSERT_NEAR(r.macro_f1, 5.0 / 9.0, 1e-15);
    ASSERT(isnan(r.log_loss));               /* no probabilities given */
    ASSERT_EQ(r.kappa_temporal, r.accuracy); /* p_nc = 0: no predictions */
}

/* Degenerate windows: undefined figures are NaN, never a division by 0. */
static void undefined_figures_are_nan(void)
{
    struct metrics m;
    struct metrics_result r;

    ASSERT_EQ(metrics_init(&m, METRICS_CLASSIFICATION, 2), 0);
    metrics_result(&m, &r);
    ASSERT_EQ(r.rows, 0);
    ASSERT(isnan(r.accuracy) && isnan(r.kappa) && isnan(r.macro_f1));
    for (int i = 0; i < 5; i++)
        metrics_add_class(&m, 1, 1, 0.0, 1); /* p 0 -> clamped 1e-15 */
    metrics_result(&m, &r);
    ASSERT_EQ(r.accuracy, 1.0);
    ASSERT(isnan(r.kappa));          /* pe == 1 */
    ASSERT(isnan(r.kappa_temporal)); /* p_nc == 1 */
    ASSERT_NEAR(r.log_loss, -log(1e-15), 1e-9);
    ASSERT_EQ(r.macro_f1, 1.0);
}

/* Out-of-range classes and non-finite regression rows are skipped and
 * counted, as is feeding the wrong kind. */
static void bad_rows_are_counted_not_scored(void)
{
    struct metrics c;
    struct metrics g;

    ASSERT_EQ(metrics_init(&c, METRICS_CLASSIFICATION, 3), 0);
    metrics_add_class(&c, 3, 0, 0.5, 0);
    metrics_add_class(&c, 0, 7, 0.5, 0);
    metrics_add_reg(&c, 1.0, 1.0);
    ASSERT_EQ(c.rows, 0);
    ASSERT_EQ(c.skipped, 3);
    ASSERT_EQ(metrics_init(&g, METRICS_REGRESSION, 0), 0);
    metrics_add_reg(&g, NAN, 1.0);
    metrics_add_reg(&g, 1.0, INFINITY);
    metrics_add_class(&g, 0, 0, 1.0, 0);
    ASSERT_EQ(g.rows, 0);
    ASSERT_EQ(g.skipped, 3);
    ASSERT_EQ(metrics_init(&g, METRICS_CLASSIFICATION, 1), -EINVAL);
    ASSERT_EQ(metrics_init(&g, METRICS_CLASSIFICATION, METRICS_MAX_CLASSES + 1),
              -EINVAL);
    ASSERT_EQ(metrics_init(&g, METRICS_REGRESSION, 2), -EINVAL);
    ASSERT_EQ(metrics_init(&g, (enum metrics_kind)9, 0), -EINVAL);
}

#define RN 20000
#define RK 5

/* Random labels with a correlated predictor and an autocorrelated label
 * sequence; every figure recomputed from the raw arrays with the textbook
 * definitions (F1 via precision and recall, kappa via marginals). */
static void classification_matches_independent_formulas(void)
{
    static size_t y[RN];
    static size_t yh[RN];
    double cy[RK] = {0};
    double cp[RK] = {0};
    double tp[RK] = {0};
    double agree = 0;
    double nc_agree = 0;
    double f1 = 0;
    double pe = 0;
    int used = 0;
    uint64_t rng = test_seed();
    struct metrics m;
    struct metrics_result r;

    ASSERT_EQ(metrics_init(&m, METRICS_CLASSIFICATION, RK), 0);
    for (int i = 0; i < RN; i++) {
        /* Sticky labels (p 0.7 stay), skewed classes, 60% right. */
        if (i == 0 || test_rand(&rng) % 10 >= 7)
            y[i] = (size_t)(test_rand(&rng) % 9) % RK;
        else
            y[i] = y[i - 1];
        yh[i] = test_rand(&rng) % 10 < 6 ? y[i] : test_rand(&rng) % RK;
        metrics_add_class(&m, y[i], yh[i], -1.0, i == 0 ? -1 : (long)y[i - 1]);
    }
    for (int i = 0; i < RN; i++) {
        cy[y[i]]++;
        cp[yh[i]]++;
        tp[y[i]] += y[i] == yh[i];
        agree += y[i] == yh[i];
        nc_agree += i > 0 && y[i] == y[i - 1];
    }
    for (int k = 0; k < RK; k++) {
        double prec = cp[k] > 0 ? tp[k] / cp[k] : 0;
        double rec = cy[k] > 0 ? tp[k] / cy[k] : 0;
        if (cy[k] + cp[k] == 0)
            continue;
        used++;
        f1 += prec + rec > 0 ? 2 * prec * rec / (prec + rec) : 0;
        pe += (cy[k] / RN) * (cp[k] / RN);
    }
    metrics_result(&m, &r);
    ASSERT_NEAR(r.accuracy, agree / RN, 1e-12);
    ASSERT_NEAR(r.macro_f1, f1 / used, 1e-12);
    ASSERT_NEAR(r.kappa, (agree / RN - pe) / (1 - pe), 1e-12);
    ASSERT_NEAR(r.kappa_temporal,
                (agree / RN - nc_agree / RN) / (1 - nc_agree / RN), 1e-12);
    /* Sanity of the generator: a better-than-chance predictor, sticky
     * labels, so both kappas are clearly positive yet distinct. */
    ASSERT(r.kappa > 0.3 && r.kappa_temporal < r.kappa);
}

/* Merging two accumulators of a random split equals one accumulator of
 * everything; reset empties the sums but keeps kind and K. */
static void merge_and_reset(void)
{
    struct metrics a;
    struct metrics b;
    struct metrics all;
    struct metrics other;
    struct metrics_result ra;
    struct metrics_result rall;
    uint64_t rng = test_seed();

    ASSERT_EQ(metrics_init(&a, METRICS_REGRESSION, 0), 0);
    ASSERT_EQ(metrics_init(&b, METRICS_REGRESSION, 0), 0);
    ASSERT_EQ(metrics_init(&all, METRICS_REGRESSION, 0), 0);
    for (int i = 0; i < 10000; i++) {
        double y = 50.0 + (double)(test_rand(&rng) % 1000) / 10.0;
        double yh = y + ((double)(test_rand(&rng) % 200) - 100.0) / 25.0;
        metrics_add_reg(test_rand(&rng) % 3 ? &a : &b, y, yh);
        metrics_add_reg(&all, y, yh);
    }
    ASSERT_EQ(metrics_merge(&a, &b), 0);
    metrics_result(&a, &ra);
    metrics_result(&all, &rall);
    ASSERT_EQ(ra.rows, rall.rows);
    ASSERT_NEAR(ra.mae, rall.mae, 1e-12 * rall.mae);
    ASSERT_NEAR(ra.rmse, rall.rmse, 1e-12 * rall.rmse);
    ASSERT_NEAR(ra.r2, rall.r2, 1e-10);
    ASSERT(rall.r2 > 0.9 && rall.r2 < 1.0);

    ASSERT_EQ(metrics_init(&a, METRICS_CLASSIFICATION, 3), 0);
    ASSERT_EQ(metrics_init(&b, METRICS_CLASSIFICATION, 3), 0);
    ASSERT_EQ(metrics_init(&all, METRICS_CLASSIFICATION, 3), 0);
    ASSERT_EQ(metrics_init(&other, METRICS_CLASSIFICATION, 4), 0);
    for (int i = 0; i < 10000; i++) {
        size_t y = test_rand(&rng) % 3;
        size_t yh = test_rand(&rng) % 2 ? y : test_rand(&rng) % 3;
        double p = (double)(test_rand(&rng) % 100) / 100.0;
        long nc = (long)(test_rand(&rng) % 3);
        metrics_add_class(test_rand(&rng) % 2 ? &a : &b, y, yh, p, nc);
        metrics_add_class(&all, y, yh, p, nc);
    }
    ASSERT_EQ(metrics_merge(&a, &other), -EINVAL);
    ASSERT_EQ(metrics_merge(&a, &b), 0);
    metrics_result(&a, &ra);
    metrics_result(&all, &rall);
    ASSERT_EQ(ra.rows, rall.rows);
    ASSERT(memcmp(a.confusion, all.confusion, sizeof(a.confusion)) == 0);
    ASSERT_EQ(ra.accuracy, rall.accuracy);
    ASSERT_EQ(ra.kappa, rall.kappa);
    ASSERT_EQ(ra.kappa_temporal, rall.kappa_temporal);
    ASSERT_NEAR(ra.log_loss, rall.log_loss, 1e-12);

    metrics_reset(&a);
    metrics_result(&a, &ra);
    ASSERT_EQ(ra.rows, 0);
    ASSERT(isnan(ra.accuracy));
    ASSERT_EQ(a.kind, METRICS_CLASSIFICATION);
    ASSERT_EQ(a.classes, 3);
    for (int i = 0; i < METRICS_MAX_CLASSES; i++)
        for (int j = 0; j < METRICS_MAX_CLASSES; j++)
            ASSERT_EQ(a.confusion[i][j], 0);
}

/* The log loss is kept as a product of probabilities, moved into a sum of
 * logs when it gets small (learn/metrics.c): against a plain sum of logs
 * in long double it agrees to 1e-13 relative over 2e5 rows of good and
 * bad probabilities (clamped 0, tiny, near 1), through the settling, the
 * checked entry point and merges whose product would underflow. */
static void log_loss_product_matches_sum_of_logs(void)
{
    struct metrics a;
    struct metrics b;
    struct metrics_result r;
    uint64_t rng = test_seed();
    long double sum = 0;
    int settled = 0;

    ASSERT_EQ(metrics_init(&a, METRICS_CLASSIFICATION, 2), 0);
    ASSERT_EQ(metrics_init(&b, METRICS_CLASSIFICATION, 2), 0);
    ASSERT_EQ(a.prob_prod, 1.0);
    for (int i = 0; i < 200000; i++) {
        uint64_t u = test_rand(&rng);
        double p = (double)(u >> 11) * 0x1p-53;
        struct metrics *m = (u & 7) == 0 ? &b : &a;
        double before = m->log_loss;
        if ((u & 0x300) == 0)
            p = p * 1e-12; /* some tiny, some below the clamp */
        else if ((u & 0x300) == 0x100)
            p = 1.0 - p * 1e-6;
        if (u & 0x400)
            metrics_add_class(m, 1, 0, p, -1);
        else
            metrics_add_class_checked(m, 1, 0, p, -1);
        settled += m->log_loss != before;
        ASSERT(m->prob_prod >= METRICS_PROD_MIN * METRICS_P_MIN &&
               m->prob_prod <= 1.0);
        sum -= logl(p < 1e-15 ? 1e-15L : (long double)p);
    }
    ASSERT(settled > 100);
    ASSERT_EQ(metrics_merge(&a, &b), 0);
    metrics_result(&a, &r);
    ASSERT_EQ(r.rows, 200000);
    ASSERT_NEAR(r.log_loss, (double)(sum / 200000), 1e-13 * r.log_loss);
    /* A merge whose product would underflow settles instead. */
    metrics_reset(&a);
    metrics_reset(&b);
    for (int i = 0; i < 50; i++) {
        metrics_add_class_checked(&a, 0, 0, 1e-17, 0);
        metrics_add_class_checked(&b, 0, 0, 1e-17, 0);
    }
    ASSERT(a.prob_prod < 0x1p-500 && b.prob_prod < 0x1p-500);
    ASSERT_EQ(metrics_merge(&a, &b), 0);
    ASSERT(a.prob_prod == 1.0);
    metrics_result(&a, &r);
    ASSERT_NEAR(r.log_loss, -log(1e-15), 1e-12);
}

static const struct test tests[] = {
    {"regression_hand_case", regression_hand_case},
    {"r2_with_constant_target", r2_with_constant_target},
    {"classification_hand_case", classification_hand_case},
    {"macro_f1_ignores_absent_classes", macro_f1_ignores_absent_classes},
    {"undefined_figures_are_nan", undefined_figures_are_nan},
    {"bad_rows_are_counted_not_scored", bad_rows_are_counted_not_scored},
    {"classification_matches_independent_formulas",
     classification_matches_independent_formulas},
    {"merge_and_reset", merge_and_reset},
    {"log_loss_product_matches_sum_of_logs",
     log_loss_product_matches_sum_of_logs},
    {NULL, NULL}};

int main(int argc, char **argv)
{
    return test_main(argc, argv, tests);
}
