/* test_baseline.c -- no-change per series (with its fallbacks and the
 * overflow slot), running mean, majority class, probabilities, the fused
 * baseline_learn(), merge.
 * Seeded (WEIR_TEST_SEED). */
#include "learn/baseline.h"
#include "tests/harness.h"

#include <errno.h>
#include <math.h>

static double unit(uint64_t *rng)
{
    return (double)(test_rand(rng) >> 11) * 0x1.0p-53;
}

static struct baseline *make(enum baseline_kind kind, size_t k, size_t s)
{
    struct baseline *b = NULL;

    ASSERT_EQ(baseline_new(&b, kind, k, s), 0);
    return b;
}

/* Each series predicts its own last label; a new series the last label of
 * any series; nothing seen yet: 0. */
static void no_change_is_per_series(void)
{
    struct baseline *b = make(BASELINE_NO_CHANGE, 0, 8);

    ASSERT_EQ(baseline_predict(b, 3), 0.0);
    ASSERT_EQ(baseline_update(b, 3, 21.5), 0);
    ASSERT_EQ(baseline_update(b, 5, -4.0), 0);
    ASSERT_EQ(baseline_predict(b, 3), 21.5);
    ASSERT_EQ(baseline_predict(b, 5), -4.0);
    ASSERT_EQ(baseline_predict(b, 6), -4.0); /* fallback: last of any */
    ASSERT_EQ(baseline_update(b, 3, 22.0), 0);
    ASSERT_EQ(baseline_predict(b, 3), 22.0);
    ASSERT_EQ(baseline_predict(b, 6), 22.0);
    ASSERT_EQ(baseline_rows(b), 3);
    ASSERT_EQ(baseline_overflows(b), 0);
    baseline_reset(b);
    ASSERT_EQ(baseline_predict(b, 3), 0.0);
    ASSERT_EQ(baseline_rows(b), 0);
    baseline_free(b);
}

/* Series ids beyond the table share one slot, and each such update is
 * counted. */
static void no_change_overflow_is_counted(void)
{
    struct baseline *b = make(BASELINE_NO_CHANGE, 3, 4);

    ASSERT_EQ(baseline_update(b, 100, 2.0), 0);
    ASSERT_EQ(baseline_update(b, 1, 1.0), 0);
    ASSERT_EQ(baseline_predict(b, 100), 2.0);
    ASSERT_EQ(baseline_predict(b, 200), 2.0); /* same overflow slot */
    ASSERT_EQ(baseline_update(b, 200, 0.0), 0);
    ASSERT_EQ(baseline_predict(b, 100), 0.0);
    ASSERT_EQ(baseline_predict(b, 1), 1.0);
    ASSERT_EQ(baseline_overflows(b), 2);
    baseline_free(b);
}

/* The mean baseline against a direct sum; labels are validated. */
static void mean_is_the_running_mean(void)
{
    struct baseline *b = make(BASELINE_MEAN, 0, 1);
    uint64_t rng = test_seed();
    double sum = 0;

    for (int i = 1; i <= 10000; i++) {
        double y = 1e6 + (double)(test_rand(&rng) % 1000);
        ASSERT_EQ(baseline_update(b, (uint32_t)i, y), 0);
        sum += y;
        ASSERT_NEAR(baseline_predict(b, 0), sum / i, 1e-9 * (sum / i));
    }
    ASSERT_EQ(baseline_update(b, 0, NAN), -EINVAL);
    ASSERT_EQ(baseline_update(b, 0, INFINITY), -EINVAL);
    ASSERT_EQ(baseline_rows(b), 10000);
    baseline_free(b);
}

/* Majority: most frequent class, lowest index on ties; probabilities are
 * add-one smoothed frequencies. */
static void majority_and_its_probabilities(void)
{
    struct baseline *b = make(BASELINE_MAJORITY, 3, 1);
    double p[3];

    ASSERT_EQ(baseline_predict(b, 0), 0.0);
    ASSERT_EQ(baseline_update(b, 0, 2.0), 0);
    ASSERT_EQ(baseline_predict(b, 0), 2.0);
    ASSERT_EQ(baseline_update(b, 0, 1.0), 0);
    ASSERT_EQ(baseline_predict(b, 0), 1.0); /* tie 1-1: lowest index */
    ASSERT_EQ(baseline_update(b, 0, 2.0), 0);
    ASSERT_EQ(baseline_predict(b, 0), 2.0);
    ASSERT_EQ(baseline_predict_proba(b, 0, p), 2);
    ASSERT_NEAR(p[0], 1.0 / 6.0, 1e-15); /* (0 + 1) / (3 + 3) */
    ASSERT_NEAR(p[1], 2.0 / 6.0, 1e-15);
    ASSERT_NEAR(p[2], 3.0 / 6.0, 1e-15);
    ASSERT_EQ(baseline_update(b, 0, 3.0), -EINVAL);
    ASSERT_EQ(baseline_update(b, 0, 0.5), -EINVAL);
    ASSERT_EQ(baseline_update(b, 0, -1.0), -EINVAL);
    ASSERT_EQ(baseline_rows(b), 3);
    baseline_free(b);
}

/* No-change classifier: a hard prediction. */
static void no_change_classifier_probabilities(void)
{
    struct baseline *b = make(BASELINE_NO_CHANGE, 4, 2);
    double p[4];

    ASSERT_EQ(baseline_update(b, 1, 3.0), 0);
    ASSERT_EQ(baseline_predict_proba(b, 1, p), 3);
    ASSERT(p[0] == 0 && p[1] == 0 && p[2] == 0 && p[3] == 1);
    ASSERT_EQ(baseline_update(b, 1, 4.0), -EINVAL);
    baseline_free(b);
}

/* Random stream against a naive model of the contract: per series last
 * label (array), last label of any series. */
static void no_change_matches_naive_model(void)
{
    enum { S = 16 };
    struct baseline *b = make(BASELINE_NO_CHANGE, 0, S);
    double last[S];
    int seen[S] = {0};
    double global = 0;
    uint64_t rng = test_seed();

    for (int i = 0; i < 50000; i++) {
        uint32_t s = (uint32_t)(test_rand(&rng) % S);
        double y = (double)(test_rand(&rng) % 100);
        ASSERT_EQ(baseline_predict(b, s), seen[s] ? last[s] : global);
        ASSERT_EQ(baseline_update(b, s, y), 0);
        last[s] = y;
        seen[s] = 1;
        global = y;
    }
    baseline_free(b);
}

static void merge_semantics(void)
{
    struct baseline *a = make(BASELINE_MEAN, 0, 1);
    struct baseline *b = make(BASELINE_MEAN, 0, 1);
    struct baseline *ma = make(BASELINE_MAJORITY, 3, 1);
    struct baseline *mb = make(BASELINE_MAJORITY, 3, 1);
    struct baseline *na = make(BASELINE_NO_CHANGE, 0, 4);
    struct baseline *nb = make(BASELINE_NO_CHANGE, 0, 4);

    ASSERT_EQ(baseline_update(a, 0, 1.0), 0);
    ASSERT_EQ(baseline_update(b, 0, 4.0), 0);
    ASSERT_EQ(baseline_update(b, 0, 7.0), 0);
    ASSERT_EQ(baseline_merge(a, b), 0);
    ASSERT_NEAR(baseline_predict(a, 0), 4.0, 1e-15); /* (1 + 4 + 7) / 3 */
    ASSERT_EQ(baseline_rows(a), 3);
    ASSERT_EQ(baseline_merge(a, ma), -EINVAL);

    ASSERT_EQ(baseline_update(ma, 0, 0.0), 0);
    ASSERT_EQ(baseline_update(ma, 0, 0.0), 0);
    ASSERT_EQ(baseline_update(mb, 0, 2.0), 0);
    ASSERT_EQ(baseline_update(mb, 0, 2.0), 0);
    ASSERT_EQ(baseline_update(mb, 0, 2.0), 0);
    ASSERT_EQ(baseline_merge(ma, mb), 0);
    ASSERT_EQ(baseline_predict(ma, 0), 2.0);

    ASSERT_EQ(baseline_update(na, 0, 1.0), 0);
    ASSERT_EQ(baseline_update(na, 1, 2.0), 0);
    ASSERT_EQ(baseline_update(nb, 1, 9.0), 0);
    ASSERT_EQ(baseline_merge(na, nb), 0);
    ASSERT_EQ(baseline_predict(na, 0), 1.0); /* only dst had series 0 */
    ASSERT_EQ(baseline_predict(na, 1), 9.0); /* src wins */
    ASSERT_EQ(baseline_predict(na, 3), 9.0); /* src's last of any */
    baseline_free(a);
    baseline_free(b);
    baseline_free(ma);
    baseline_free(mb);
    baseline_free(na);
    baseline_free(nb);
}

/* A checkpoint restored into a fresh baseline continues identically, for
 * each kind (series beyond the table included); bad states are refused
 * and change nothing. */
static void state_round_trip_continues_identically(void)
{
    static const enum baseline_kind kinds[3] = {
        BASELINE_NO_CHANGE, BASELINE_MEAN, BASELINE_MAJORITY};
    static const size_t classes[3] = {4, 0, 4};

    for (int k = 0; k < 3; k++) {
        struct baseline *a = make(kinds[k], classes[k], 8);
        struct baseline *b = make(kinds[k], classes[k], 8);
        uint64_t rng = test_seed();
        double st[64];
        double sb[64];
        size_t len = baseline_state_len(a);
        ASSERT(len <= 64);
        for (int i = 0; i < 4000; i++) {
            uint32_t s = (uint32_t)(test_rand(&rng) % 10); /* 8, 9 spill */
            double y = (double)(test_rand(&rng) % 4);
            if (i == 2000) {
                ASSERT_EQ(baseline_state_get(a, st, len), 0);
                ASSERT_EQ(baseline_state_set(b, st, len - 1), -EINVAL);
                ASSERT_EQ(baseline_state_set(b, st, len), 0);
            }
            if (i >= 2000) {
                ASSERT_EQ(baseline_predict(a, s), baseline_predict(b, s));
                ASSERT_EQ(baseline_update(b, s, y), 0);
            }
            ASSERT_EQ(baseline_update(a, s, y), 0);
        }
        ASSERT_EQ(baseline_state_get(a, st, len), 0);
        ASSERT_EQ(baseline_state_get(b, sb, len), 0);
        ASSERT(memcmp(st, sb, len * sizeof(double)) == 0);
        ASSERT_EQ(baseline_rows(b), 4000);
        /* Refused states leave b as it was. */
        st[0] = -1;
        ASSERT_EQ(baseline_state_set(b, st, len), -EINVAL);
        st[0] = 4000;
        st[5] = 2; /* a seen flag */
        ASSERT_EQ(baseline_state_set(b, st, len), -EINVAL);
        st[5] = 1;
        st[4] = classes[k] > 0 ? 1.5 : NAN; /* the global label */
        ASSERT_EQ(baseline_state_set(b, st, len), -EINVAL);
        ASSERT_EQ(baseline_state_get(b, st, len), 0);
        ASSERT(memcmp(st, sb, len * sizeof(double)) == 0);
        baseline_free(a);
        baseline_free(b);
    }
}

/* baseline_learn() = predict, proba_of the label, then update, bit for
 * bit, for every kind (with series beyond max_series in the overflow
 * slot); proba_of equals the entry of predict_proba; a refused label
 * changes nothing and reports NaN. */
static void learn_is_predict_then_update(void)
{
    static const enum baseline_kind kinds[] = {
        BASELINE_NO_CHANGE, BASELINE_NO_CHANGE, BASELINE_MEAN,
        BASELINE_MAJORITY};
    static const size_t classes[] = {0, 4, 0, 4};
    uint64_t rng = test_seed();

    for (int k = 0; k < 4; k++) {
        struct baseline *a = make(kinds[k], classes[k], 8);
        struct baseline *b = make(kinds[k], classes[k], 8);
        size_t len = baseline_state_len(a);
        double sa[64];
        double sb[64];
        ASSERT(len <= 64);
        for (int i = 0; i < 5000; i++) {
            uint32_t s = (uint32_t)(test_rand(&rng) % 10);
            double y = classes[k] ? (double)(test_rand(&rng) % 4)
                                  : 10.0 * unit(&rng) - 3.0;
            double pred;
            double p_y = -1;
            double pr[4];
            double want = baseline_predict(b, s);
            ASSERT_EQ(baseline_learn(a, s, y, &pred, &p_y), 0);
            if (classes[k]) {
                baseline_predict_proba(b, s, pr);
                ASSERT(p_y == pr[(size_t)y]);
                ASSERT(p_y == baseline_proba_of(b, s, (size_t)y));
            }
            ASSERT_EQ(baseline_update(b, s, y), 0);
            ASSERT(memcmp(&pred, &want, sizeof(pred)) == 0);
        }
        ASSERT_EQ(baseline_state_get(a, sa, len), 0);
        ASSERT_EQ(baseline_state_get(b, sb, len), 0);
        ASSERT(memcmp(sa, sb, len * sizeof(double)) == 0);
        {
            double pred = -1;
            double p_y = 0;
            ASSERT_EQ(baseline_learn(a, 2, classes[k] ? 4.0 : NAN, &pred, &p_y),
                      -EINVAL);
            ASSERT(pred == baseline_predict(b, 2));
            ASSERT(classes[k] == 0 || isnan(p_y));
            ASSERT_EQ(baseline_state_get(a, sa, len), 0);
            ASSERT(memcmp(sa, sb, len * sizeof(double)) == 0);
        }
        baseline_free(a);
        baseline_free(b);
    }
}

/* baseline_learn_class() = baseline_learn() of the class as a double,
 * bit for bit (prediction, probability, state, overflow count), except
 * that a no-change baseline with no label yet says -1 (it persists
 * nothing) where baseline_learn() predicts class 0. */
static void learn_class_is_learn(void)
{
    static const enum baseline_kind kinds[] = {BASELINE_NO_CHANGE,
                                               BASELINE_MAJORITY};
    uint64_t rng = test_seed();

    for (int k = 0; k < 2; k++) {
        struct baseline *a = make(kinds[k], 5, 8);
        struct baseline *b = make(kinds[k], 5, 8);
        size_t len = baseline_state_len(a);
        double sa[64];
        double sb[64];
        ASSERT(len <= 64);
        for (int i = 0; i < 5000; i++) {
            uint32_t s = (uint32_t)(test_rand(&rng) % 11);
            size_t y = (size_t)(test_rand(&rng) % 5);
            double pred;
            double p_want = -1;
            double p_y = -2;
            long got = baseline_learn_class(a, s, y, (i & 1) ? &p_y : NULL);
            ASSERT_EQ(baseline_learn(b, s, (double)y, &pred, &p_want), 0);
            if (i == 0 && kinds[k] == BASELINE_NO_CHANGE)
                ASSERT_EQ(got, -1);
            else
                ASSERT_EQ(got, (long)pred);
            if (i & 1)
                ASSERT(memcmp(&p_y, &p_want, sizeof(p_y)) == 0);
        }
        ASSERT_EQ(baseline_rows(a), 5000);
        ASSERT_EQ(baseline_overflows(a), baseline_overflows(b));
        ASSERT(kinds[k] == BASELINE_MAJORITY || baseline_overflows(a) > 0);
        ASSERT_EQ(baseline_state_get(a, sa, len), 0);
        ASSERT_EQ(baseline_state_get(b, sb, len), 0);
        ASSERT(memcmp(sa, sb, len * sizeof(double)) == 0);
        baseline_free(a);
        baseline_free(b);
    }
}

static void bad_shapes_are_refused(void)
{
    struct baseline *b = NULL;

    ASSERT_EQ(baseline_new(&b, BASELINE_MEAN, 3, 1), -EINVAL);
    ASSERT_EQ(baseline_new(&b, BASELINE_MAJORITY, 0, 1), -EINVAL);
    ASSERT_EQ(baseline_new(&b, BASELINE_MAJORITY, 1, 1), -EINVAL);
    ASSERT_EQ(baseline_new(&b, BASELINE_NO_CHANGE, 0, 0), -EINVAL);
    ASSERT_EQ(baseline_new(&b, BASELINE_NO_CHANGE, 0,
                           (size_t)BASELINE_MAX_SERIES + 1),
              -EINVAL);
    ASSERT_EQ(baseline_new(&b, (enum baseline_kind)0, 0, 1), -EINVAL);
    ASSERT(b == NULL);
    baseline_free(NULL);
}

static const struct test tests[] = {
    {"learn_class_is_learn", learn_class_is_learn},
    {"no_change_is_per_series", no_change_is_per_series},
    {"no_change_overflow_is_counted", no_change_overflow_is_counted},
    {"mean_is_the_running_mean", mean_is_the_running_mean},
    {"majority_and_its_probabilities", majority_and_its_probabilities},
    {"no_change_classifier_probabilities", no_change_classifier_probabilities},
    {"no_change_matches_naive_model", no_change_matches_naive_model},
    {"merge_semantics", merge_semantics},
    {"state_round_trip_continues_identically",
     state_round_trip_continues_identically},
    {"learn_is_predict_then_update", learn_is_predict_then_update},
    {"bad_shapes_are_refused", bad_shapes_are_refused},
    {NULL, NULL}};

int main(int argc, char **argv)
{
    return test_main(argc, argv, tests);
}
