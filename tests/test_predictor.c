/* test_predictor.c -- the device-side API: a snapshot decoded by
 * learn/predictor.h predicts exactly what the learner predicts, for every
 * model kind and optimizer; the committed golden snapshots still load and
 * give the recorded predictions; malformed snapshots are refused; predict
 * is safe from several threads at once.
 *
 * Golden files (tests/data/golden_snapshot*.pb and their .txt predictions)
 * come from a fixed-seed run below. To regenerate them on purpose (a
 * deliberate format or arithmetic change), run from the repository root:
 *     WEIR_WRITE_GOLDEN=1 build/default/tests/test_predictor
 * Threads: golden and bit-exactness cases are single-threaded;
 * predict_from_many_threads starts four threads. */
#include "learn/predictor.h"
#include "tests/harness.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>

#include "learn/learner.h"
#include "learn/model.h"

/* ---- Helpers --------------------------------------------------------------
 */

static double unif(uint64_t *st)
{
    return (double)(test_rand(st) >> 11) * 0x1p-53;
}

static double gauss(uint64_t *st)
{
    double u = unif(st) + 0x1p-60;
    double v = unif(st);

    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static bool same_bits(double a, double b)
{
    return memcmp(&a, &b, sizeof(a)) == 0;
}

/* Three features; the third is missing on every fifth row; the label
 * depends on the first two (kind decides how). */
static double make_row(uint64_t *st, enum learner_task kind, double *x,
                       uint8_t *present, double scale)
{
    x[0] = scale * gauss(st);
    x[1] = 20.0 + 5.0 * scale * gauss(st);
    x[2] = 400.0 + 50.0 * gauss(st);
    present[0] = present[1] = 1;
    present[2] = unif(st) > 0.2;
    if (!present[2])
        x[2] = NAN;
    switch (kind) {
    case LEARNER_REGRESSION:
        return 3.0 * x[0] - 0.5 * x[1] + 0.1 * gauss(st);
    case LEARNER_BINARY:
        return x[0] + 0.2 * (x[1] - 20.0) + 0.5 * gauss(st) > 0 ? 1.0 : 0.0;
    default:
        return x[0] < -0.5 ? 0.0 : (x[0] < 0.5 ? 1.0 : 2.0);
    }
}

static struct learner *train(enum learner_task kind,
                             const struct learner_candidate *cands, size_t nc,
                             uint64_t seed, size_t rows)
{
    static const char *const names[3] = {"temp", "humidity", "co2"};
    static const char *const classes[3] = {"low", "mid", "high"};
    struct learner_config c;
    struct learner *l = NULL;
    uint64_t st = seed;
    double x[3];
    uint8_t present[3];

    learner_config_default(&c, kind, 3, kind == LEARNER_MULTICLASS ? 3 : 0);
    c.task = "golden";
    c.target = "occupied";
    c.feature_names = names;
    if (kind != LEARNER_REGRESSION)
        c.class_labels = classes + (kind == LEARNER_BINARY ? 1 : 0);
    c.candidates = cands;
    c.n_candidates = nc;
    c.window_rows = 500;
    c.test_fraction = 0.1;
    ASSERT_EQ(learner_new(&l, &c), 0);
    for (size_t i = 0; i < rows; i++) {
        double y = make_row(&st, kind, x, present, 1.0);
        struct learner_row r = {
            (uint32_t)(i % 3), i, 1000 * (int64_t)i, y, x, present};
        ASSERT_EQ(learner_update(l, &r, NULL), 0);
    }
    return l;
}

static struct predictor *load_from(struct learner *l, uint8_t **bytes,
                                   size_t *len)
{
    struct snapshot s;
    struct predictor *p = NULL;

    snapshot_init(&s);
    ASSERT_EQ(learner_snapshot(l, &s), 0);
    ASSERT_EQ(snapshot_encode(&s, bytes, len), 0);
    snapshot_close(&s);
    ASSERT_EQ(predictor_load(&p, *bytes, *len), 0);
    return p;
}

/* ---- Bit-exactness --------------------------------------------------------
 */

/* Probe with inputs beyond anything trained on (scale 4: NAG must apply
 * its per-input scales as the live model does), with missing values and
 * non-finite garbage. */
static void assert_same_predictions(struct learner *l, struct predictor *p,
                                    enum learner_task kind, uint64_t seed)
{
    uint64_t st = seed;
    double x[3];
    uint8_t present[3];
    double pl[3];
    double pp[3];
    struct predictor_out o;

    for (int i = 0; i < 2000; i++) {
        double v;
        make_row(&st, kind, x, present, i % 2 ? 4.0 : 1.0);
        if (i % 7 == 0)
            x[1] = i % 14 ? INFINITY : NAN; /* present but unusable */
        v = learner_predict(l, x, present, pl);
        ASSERT_EQ(predictor_predict(p, x, present, pp, &o), 0);
        if (kind == LEARNER_REGRESSION) {
            ASSERT(same_bits(v, o.value));
            ASSERT(isfinite(v));
            continue;
        }
        ASSERT_EQ((size_t)v, o.label);
        ASSERT(same_bits(pl[o.label], o.value));
        for (size_t k = 0; k < predictor_classes(p); k++)
            ASSERT(same_bits(pl[k], pp[k]));
    }
}

static void snapshot_predictions_are_bit_exact(void)
{
    static const enum learner_task kinds[] = {
        LEARNER_REGRESSION, LEARNER_BINARY, LEARNER_BINARY, LEARNER_MULTICLASS};
    static const enum model_kind mkinds[] = {MODEL_LINEAR, MODEL_LOGISTIC,
                                             MODEL_SOFTMAX, MODEL_SOFTMAX};
    static const enum model_optimizer opts[] = {MODEL_SGD, MODEL_ADAGRAD,
                                                MODEL_NORMALIZED};

    for (size_t k = 0; k < 4; k++) {
        for (size_t o = 0; o < 3; o++) {
            struct learner_candidate c;
            struct learner *l;
            struct predictor *p;
            uint8_t *bytes;
            size_t len;
            memset(&c, 0, sizeof(c));
            model_params_default(&c.params, mkinds[k], opts[o]);
            c.params.l2 = 1e-4;
            l = train(kinds[k], &c, 1, test_seed() + k * 3 + o, 3000);
            p = load_from(l, &bytes, &len);
            ASSERT_EQ(predictor_features(p), 3);
            ASSERT_EQ(predictor_kind(p), (enum snapshot_kind)mkinds[k]);
            assert_same_predictions(l, p, kinds[k], test_seed() ^ 0xabc);
            predictor_free(p);
            free(bytes);
            learner_free(l);
        }
    }
}

/* The default grid, so the champion is whichever won; NULL present. */
static void default_grid_champion_is_bit_exact(void)
{
    struct learner *l = train(LEARNER_BINARY, NULL, 0, test_seed(), 6000);
    struct predictor *p;
    uint8_t *bytes;
    size_t len;
    double x[3] = {0.3, 21.0, 410.0};
    double pl[2];
    struct predictor_out o;
    double v;

    p = load_from(l, &bytes, &len);
    assert_same_predictions(l, p, LEARNER_BINARY, test_seed() + 1);
    v = learner_predict(l, x, NULL, pl);
    ASSERT_EQ(predictor_predict(p, x, NULL, NULL, &o), 0);
    ASSERT_EQ((size_t)v, o.label);
    ASSERT(same_bits(pl[o.label], o.value));
    ASSERT_STREQ(predictor_feature_name(p, 2), "co2");
    ASSERT(predictor_feature_name(p, 3) == NULL);
    ASSERT_EQ(predictor_feature_index(p, "humidity"), 1);
    ASSERT_EQ(predictor_feature_index(p, "co2?missing"), -1);
    ASSERT_STREQ(predictor_class_label(p, 1), "high");
    ASSERT(predictor_class_label(p, 2) == NULL);
    ASSERT_EQ(predictor_version(p), learner_snapshot_version(l));
    predictor_free(p);
    predictor_free(NULL);
    free(bytes);
    learner_free(l);
}

/* The normalized optimizer's per-input scales travel as
 * ModelSnapshot.input_scale (not as HyperParams.extra); a snapshot in the
 * previous form, "nag_scale:<input>" extras, still loads and predicts the
 * very same bits. */
static void nag_scales_in_both_forms(void)
{
    struct learner_candidate c;
    struct learner *l;
    struct predictor *pn;
    struct predictor *po;
    struct snapshot s;
    struct snapshot old;
    uint8_t *bytes;
    size_t len;
    uint64_t st = test_seed() ^ 0x5ca1e;

    memset(&c, 0, sizeof(c));
    model_params_default(&c.params, MODEL_LOGISTIC, MODEL_NORMALIZED);
    l = train(LEARNER_BINARY, &c, 1, test_seed(), 3000);
    snapshot_init(&s);
    ASSERT_EQ(learner_snapshot(l, &s), 0);
    ASSERT(s.input_scale != NULL);
    ASSERT_EQ(s.n_extra, 1);
    ASSERT_STREQ(s.extra[0].name, "power_t");
    ASSERT(s.input_scale[0] > 0 && s.input_scale[1] > 0);
    ASSERT_EQ(predictor_from_snapshot(&pn, &s), 0);
    /* The previous form, built by hand from the same snapshot. */
    ASSERT_EQ(snapshot_encode(&s, &bytes, &len), 0);
    snapshot_init(&old);
    ASSERT_EQ(snapshot_decode(bytes, len, &old), 0);
    free(bytes);
    free(old.input_scale);
    old.input_scale = NULL;
    for (size_t i = 0; i < old.n_extra; i++)
        free(old.extra[i].name);
    free(old.extra);
    old.n_extra = 1 + old.n_inputs;
    ASSERT((old.extra = calloc(old.n_extra, sizeof(*old.extra))) != NULL);
    ASSERT_EQ(snapshot_set_string(&old.extra[0].name, "power_t"), 0);
    for (size_t i = 0; i < old.n_inputs; i++) {
        char name[32];
        snprintf(name, sizeof(name), "nag_scale:%zu", i);
        ASSERT_EQ(snapshot_set_string(&old.extra[1 + i].name, name), 0);
        old.extra[1 + i].value = s.input_scale[i];
    }
    ASSERT_EQ(snapshot_encode(&old, &bytes, &len), 0);
    ASSERT_EQ(predictor_load(&po, bytes, len), 0);
    for (int i = 0; i < 500; i++) {
        double x[3];
        uint8_t present[3];
        struct predictor_out a;
        struct predictor_out b;
        make_row(&st, LEARNER_BINARY, x, present, 4.0);
        ASSERT_EQ(predictor_predict(pn, x, present, NULL, &a), 0);
        ASSERT_EQ(predictor_predict(po, x, present, NULL, &b), 0);
        ASSERT_EQ(a.label, b.label);
        ASSERT(same_bits(a.value, b.value));
    }
    /* Without either form, inputs beyond the unknown scales predict
     * differently: the scales are really used. */
    old.extra[1].value = 0;
    old.extra[2].value = 0;
    free(bytes);
    ASSERT_EQ(snapshot_encode(&old, &bytes, &len), 0);
    predictor_free(po);
    ASSERT_EQ(predictor_load(&po, bytes, len), 0);
    {
        double x[3] = {40.0, 400.0, 400.0};
        struct predictor_out a;
        struct predictor_out b;
        ASSERT_EQ(predictor_predict(pn, x, NULL, NULL, &a), 0);
        ASSERT_EQ(predictor_predict(po, x, NULL, NULL, &b), 0);
        ASSERT(!same_bits(a.value, b.value));
    }
    free(bytes);
    snapshot_close(&old);
    snapshot_close(&s);
    predictor_free(pn);
    predictor_free(po);
    learner_free(l);
}

/* ---- Golden snapshots -----------------------------------------------------
 */

static const char *srcdir(void)
{
    const char *d = getenv("WEIR_SRCDIR");

    return d ? d : ".";
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long n;

    if (f == NULL) {
        fprintf(stderr,
                "%s: cannot open (run from the repository root or "
                "set WEIR_SRCDIR)\n",
                path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    ASSERT(buf != NULL);
    ASSERT_EQ(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* The golden runs: fixed seeds, never test_seed(). */
static struct learner *golden_learner(enum learner_task kind)
{
    return train(kind, NULL, 0, 0x60d1e4ULL + (uint64_t)kind, 5000);
}

/* Probe rows and their predictions, one per line: for each feature
 * "present value", then "label value", all doubles in %a. */
static void write_golden(const char *base, enum learner_task kind)
{
    char path[512];
    struct learner *l = golden_learner(kind);
    struct predictor *p;
    uint8_t *bytes;
    size_t len;
    FILE *f;
    uint64_t st = 0x7e57ULL;

    p = load_from(l, &bytes, &len);
    snprintf(path, sizeof(path), "%s/tests/data/%s.pb", srcdir(), base);
    ASSERT((f = fopen(path, "wb")) != NULL);
    ASSERT_EQ(fwrite(bytes, 1, len, f), len);
    fclose(f);
    snprintf(path, sizeof(path), "%s/tests/data/%s.txt", srcdir(), base);
    ASSERT((f = fopen(path, "w")) != NULL);
    for (int i = 0; i < 200; i++) {
        double x[3];
        uint8_t present[3];
        struct predictor_out o;
        make_row(&st, kind, x, present, i % 2 ? 3.0 : 1.0);
        ASSERT_EQ(predictor_predict(p, x, present, NULL, &o), 0);
        for (int j = 0; j < 3; j++)
            fprintf(f, "%d %a ", present[j], x[j]);
        fprintf(f, "%zu %a\n", o.label, o.value);
    }
    fclose(f);
    predictor_free(p);
    free(bytes);
    learner_free(l);
}

static void check_golden(const char *base, enum snapshot_kind kind,
                         size_t classes)
{
    char path[512];
    struct predictor *p = NULL;
    uint8_t *bytes;
    size_t len;
    FILE *f;
    int lines = 0;
    int present[3];
    double x[3];
    size_t label;
    double value;

    snprintf(path, sizeof(path), "%s/tests/data/%s.pb", srcdir(), base);
    ASSERT((bytes = read_file(path, &len)) != NULL);
    ASSERT_EQ(predictor_load(&p, bytes, len), 0);
    ASSERT_EQ(predictor_kind(p), kind);
    ASSERT_EQ(predictor_classes(p), classes);
    ASSERT_STREQ(predictor_feature_name(p, 0), "temp");
    snprintf(path, sizeof(path), "%s/tests/data/%s.txt", srcdir(), base);
    ASSERT((f = fopen(path, "r")) != NULL);
    while (fscanf(f, "%d %la %d %la %d %la %zu %la", &present[0], &x[0],
                  &present[1], &x[1], &present[2], &x[2], &label,
                  &value) == 8) {
        uint8_t pr[3] = {(uint8_t)present[0], (uint8_t)present[1],
                         (uint8_t)present[2]};
        struct predictor_out o;
        ASSERT_EQ(predictor_predict(p, x, pr, NULL, &o), 0);
        ASSERT_EQ(o.label, label);
        ASSERT(same_bits(o.value, value));
        lines++;
    }
    fclose(f);
    ASSERT_EQ(lines, 200);
    predictor_free(p);
    free(bytes);
}

static void golden_snapshots_load_and_predict(void)
{
    if (getenv("WEIR_WRITE_GOLDEN") != NULL) {
        write_golden("golden_snapshot", LEARNER_BINARY);
        write_golden("golden_snapshot_linear", LEARNER_REGRESSION);
    }
    check_golden("golden_snapshot", SNAPSHOT_KIND_LOGISTIC, 2);
    check_golden("golden_snapshot_linear", SNAPSHOT_KIND_LINEAR, 0);
}

/* The golden file is what this version writes: its fields are those of the
 * seeded run (a check on the writer, separate from predicting). */
static void golden_snapshot_fields(void)
{
    char path[512];
    struct snapshot s;
    uint8_t *bytes;
    size_t len;

    snprintf(path, sizeof(path), "%s/tests/data/golden_snapshot.pb", srcdir());
    ASSERT((bytes = read_file(path, &len)) != NULL);
    snapshot_init(&s);
    ASSERT_EQ(snapshot_decode(bytes, len, &s), 0);
    ASSERT_EQ(s.format_version, 1);
    ASSERT_STREQ(s.task, "golden");
    ASSERT_STREQ(s.target, "occupied");
    ASSERT_EQ(s.n_inputs, 6);
    ASSERT_STREQ(s.feature_names[5], "co2?missing");
    ASSERT_STREQ(s.class_labels[0], "mid");
    ASSERT_EQ(s.window_id, 8); /* 5000 rows, 10 % test: 9 windows closed */
    ASSERT(s.validation.rows == 500 && s.validation.accuracy > 0.7);
    ASSERT(s.test.rows > 0 && s.test.accuracy > 0.7);
    ASSERT_STREQ(s.baseline_names[0], "no_change");
    ASSERT(s.version >= 1);
    /* Written before ModelSnapshot.input_scale existed: its NAG champion's
     * scales are extras, which golden_snapshots_load_and_predict() thus
     * keeps reading (regenerated files would carry input_scale). */
    ASSERT(s.optimizer != SNAPSHOT_OPT_NORMALIZED ||
           (s.input_scale == NULL && s.n_extra == 1 + s.n_inputs) ||
           (s.input_scale != NULL && s.n_extra == 1));
    snapshot_close(&s);
    free(bytes);
}

/* ---- Refusals -------------------------------------------------------------
 */

static void make_valid(struct snapshot *s)
{
    snapshot_init(s);
    ASSERT_EQ(snapshot_alloc(s, 3, 1, 2, 0, 0), 0);
    s->kind = SNAPSHOT_KIND_LOGISTIC;
    ASSERT_EQ(snapshot_set_string(&s->feature_names[0], "a"), 0);
    ASSERT_EQ(snapshot_set_string(&s->feature_names[1], "b"), 0);
    ASSERT_EQ(snapshot_set_string(&s->feature_names[2], "a?missing"), 0);
    ASSERT_EQ(snapshot_set_string(&s->class_labels[0], "no"), 0);
    ASSERT_EQ(snapshot_set_string(&s->class_labels[1], "yes"), 0);
}

static void unusable_snapshots_are_refused(void)
{
    struct snapshot s;
    struct predictor *p = NULL;
    uint8_t junk[64];
    uint64_t st = test_seed();

    make_valid(&s);
    ASSERT_EQ(predictor_from_snapshot(&p, &s), 0);
    ASSERT_EQ(predictor_features(p), 2);
    predictor_free(p);
    /* An indicator of an unknown feature. */
    ASSERT_EQ(snapshot_set_string(&s.feature_names[2], "c?missing"), 0);
    ASSERT_EQ(predictor_from_snapshot(&p, &s), -EBADMSG);
    /* A feature after the indicators. */
    ASSERT_EQ(snapshot_set_string(&s.feature_names[1], "a?missing"), 0);
    ASSERT_EQ(snapshot_set_string(&s.feature_names[2], "b"), 0);
    ASSERT_EQ(predictor_from_snapshot(&p, &s), -EBADMSG);
    snapshot_close(&s);
    /* A scaler state the scaler refuses (count 0 with a mean). */
    make_valid(&s);
    s.feature_scaler[1].mean = 3.0;
    ASSERT_EQ(predictor_from_snapshot(&p, &s), -EBADMSG);
    snapshot_close(&s);
    /* Anomaly models are not predicted here. */
    make_valid(&s);
    s.kind = SNAPSHOT_KIND_ANOMALY;
    s.n_classes = 0;
    ASSERT_EQ(predictor_from_snapshot(&p, &s), -EPROTONOSUPPORT);
    s.n_classes = 2;
    snapshot_close(&s);
    ASSERT(p == NULL);
    for (int i = 0; i < 1000; i++) {
        for (size_t j = 0; j < sizeof(junk); j++)
            junk[j] = (uint8_t)test_rand(&st);
        ASSERT(predictor_load(&p, junk, 1 + (size_t)(i % 64)) < 0);
        ASSERT(p == NULL);
    }
}

/* ---- Threads --------------------------------------------------------------
 */

struct job {
    const struct predictor *p;
    double out[500];
};

static void *predict_job(void *arg)
{
    struct job *j = arg;
    uint64_t st = 99;
    double x[3];
    uint8_t present[3];
    struct predictor_out o;

    for (int i = 0; i < 500; i++) {
        make_row(&st, LEARNER_BINARY, x, present, 1.0);
        ASSERT_EQ(predictor_predict(j->p, x, present, NULL, &o), 0);
        j->out[i] = o.value;
    }
    return NULL;
}

static void predict_from_many_threads(void)
{
    struct learner *l = train(LEARNER_BINARY, NULL, 0, test_seed(), 2000);
    struct predictor *p;
    uint8_t *bytes;
    size_t len;
    struct job jobs[4];
    pthread_t t[4];

    p = load_from(l, &bytes, &len);
    for (int i = 0; i < 4; i++) {
        jobs[i].p = p;
        ASSERT_EQ(pthread_create(&t[i], NULL, predict_job, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        ASSERT_EQ(pthread_join(t[i], NULL), 0);
    for (int i = 1; i < 4; i++)
        ASSERT(memcmp(jobs[0].out, jobs[i].out, sizeof(jobs[0].out)) == 0);
    predictor_free(p);
    free(bytes);
    learner_free(l);
}

static const struct test tests[] = {
    {"snapshot_predictions_are_bit_exact", snapshot_predictions_are_bit_exact},
    {"default_grid_champion_is_bit_exact", default_grid_champion_is_bit_exact},
    {"nag_scales_in_both_forms", nag_scales_in_both_forms},
    {"golden_snapshots_load_and_predict", golden_snapshots_load_and_predict},
    {"golden_snapshot_fields", golden_snapshot_fields},
    {"unusable_snapshots_are_refused", unusable_snapshots_are_refused},
    {"predict_from_many_threads", predict_from_many_threads},
    {NULL, NULL}};

int main(int argc, char **argv)
{
    return test_main(argc, argv, tests);
}
