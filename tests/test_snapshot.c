/* test_snapshot.c -- struct snapshot <-> ModelSnapshot: bit-exact round
 * trips, refusal of inconsistent or newer snapshots, hostile bytes.
 * Threads: single-threaded. */
#include "proto/snapshot.h"
#include "tests/harness.h"

#include <errno.h>
#include <math.h>

#include "proto/weir.pb-c.h"

static double rand_double(uint64_t *st)
{
    /* Arbitrary finite bit patterns, so rounding cannot hide a bug. */
    for (;;) {
        uint64_t b = test_rand(st);
        double d;
        memcpy(&d, &b, sizeof(d));
        if (isfinite(d))
            return d;
    }
}

/* A softmax snapshot with every field set. */
static void make_full(struct snapshot *s, uint64_t *st)
{
    char name[64];

    snapshot_init(s);
    ASSERT_EQ(snapshot_alloc(s, 5, 3, 3, 2, 1), 0);
    ASSERT_EQ(snapshot_set_string(&s->task, "room"), 0);
    ASSERT_EQ(snapshot_set_string(&s->target, "occupancy"), 0);
    ASSERT_EQ(snapshot_set_string(&s->candidate, "softmax/adagrad/0.1"), 0);
    s->version = 42;
    s->created_at_ms = 1423000000000;
    s->kind = SNAPSHOT_KIND_SOFTMAX;
    s->optimizer = SNAPSHOT_OPT_ADAGRAD;
    s->learning_rate = 0.1;
    s->l2 = 1e-4;
    ASSERT_EQ(snapshot_set_string(&s->extra[0].name, "eps"), 0);
    s->extra[0].value = 1e-8;
    for (size_t i = 0; i < 5; i++) {
        snprintf(name, sizeof(name), i < 3 ? "f%zu" : "f%zu?missing", i);
        ASSERT_EQ(snapshot_set_string(&s->feature_names[i], name), 0);
        s->feature_scaler[i].count = test_rand(st);
        s->feature_scaler[i].mean = rand_double(st);
        s->feature_scaler[i].m2 = fabs(rand_double(st));
        s->impute[i] = rand_double(st);
    }
    for (size_t i = 0; i < 3 * 6; i++)
        s->weights[i] = rand_double(st);
    s->weights[0] = -0.0;
    for (size_t i = 0; i < 3; i++) {
        snprintf(name, sizeof(name), "c%zu", i);
        ASSERT_EQ(snapshot_set_string(&s->class_labels[i], name), 0);
    }
    s->validation.rows = 1000;
    s->validation.accuracy = 0.875;
    s->validation.log_loss = 0.3;
    s->validation.kappa = -0.0;
    s->test.rows = 50;
    s->test.accuracy = 0.9;
    ASSERT_EQ(snapshot_set_string(&s->baseline_names[0], "no_change"), 0);
    ASSERT_EQ(snapshot_set_string(&s->baseline_names[1], "majority"), 0);
    s->baselines[0].rows = 1000;
    s->baselines[0].accuracy = 0.8;
    s->baselines[1].rows = 1000;
    s->baselines[1].accuracy = 0.5;
    s->window_id = 7;
    s->drift = SNAPSHOT_DRIFT_WARNING;
    s->rows_trained = 123456;
    if (test_rand(st) % 2) { /* half with per-input scales */
        ASSERT_EQ(snapshot_alloc_input_scale(s), 0);
        ASSERT_EQ(snapshot_alloc_input_scale(s), -EINVAL);
        for (size_t i = 0; i < 5; i++)
            s->input_scale[i] = i == 2 ? 0.0 : fabs(rand_double(st));
    }
}

static bool same_bits(double a, double b)
{
    return memcmp(&a, &b, sizeof(a)) == 0;
}

static void assert_metrics_equal(const struct snapshot_metrics *a,
                                 const struct snapshot_metrics *b)
{
    ASSERT_EQ(a->rows, b->rows);
    ASSERT(same_bits(a->mae, b->mae) && same_bits(a->rmse, b->rmse));
    ASSERT(same_bits(a->r2, b->r2) && same_bits(a->accuracy, b->accuracy));
    ASSERT(same_bits(a->log_loss, b->log_loss));
    ASSERT(same_bits(a->macro_f1, b->macro_f1));
    ASSERT(same_bits(a->kappa, b->kappa));
    ASSERT(same_bits(a->kappa_temporal, b->kappa_temporal));
}

static bool same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) ||
           (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void assert_equal(const struct snapshot *a, const struct snapshot *b)
{
    ASSERT_EQ(a->format_version, b->format_version);
    ASSERT(same_str(a->task, b->task));
    ASSERT(same_str(a->target, b->target));
    ASSERT(same_str(a->candidate, b->candidate));
    ASSERT_EQ(a->version, b->version);
    ASSERT_EQ(a->created_at_ms, b->created_at_ms);
    ASSERT_EQ(a->kind, b->kind);
    ASSERT_EQ(a->optimizer, b->optimizer);
    ASSERT(same_bits(a->learning_rate, b->learning_rate));
    ASSERT(same_bits(a->l2, b->l2));
    ASSERT_EQ(a->n_extra, b->n_extra);
    for (size_t i = 0; i < a->n_extra; i++) {
        ASSERT_STREQ(a->extra[i].name, b->extra[i].name);
        ASSERT(same_bits(a->extra[i].value, b->extra[i].value));
    }
    ASSERT_EQ(a->n_inputs, b->n_inputs);
    for (size_t i = 0; i < a->n_inputs; i++) {
        ASSERT_STREQ(a->feature_names[i], b->feature_names[i]);
        ASSERT_EQ(a->feature_scaler[i].count, b->feature_scaler[i].count);
        ASSERT(same_bits(a->feature_scaler[i].mean, b->feature_scaler[i].mean));
        ASSERT(same_bits(a->feature_scaler[i].m2, b->feature_scaler[i].m2));
        ASSERT(same_bits(a->impute[i], b->impute[i]));
    }
    ASSERT_EQ(a->has_target_scaler, b->has_target_scaler);
    ASSERT_EQ(a->outputs, b->outputs);
    ASSERT(memcmp(a->weights, b->weights,
                  a->outputs * (a->n_inputs + 1) * sizeof(double)) == 0);
    ASSERT((a->input_scale == NULL) == (b->input_scale == NULL));
    if (a->input_scale != NULL)
        ASSERT(memcmp(a->input_scale, b->input_scale,
                      a->n_inputs * sizeof(double)) == 0);
    ASSERT_EQ(a->n_classes, b->n_classes);
    for (size_t i = 0; i < a->n_classes; i++)
        ASSERT_STREQ(a->class_labels[i], b->class_labels[i]);
    assert_metrics_equal(&a->validation, &b->validation);
    assert_metrics_equal(&a->test, &b->test);
    ASSERT_EQ(a->n_baselines, b->n_baselines);
    for (size_t i = 0; i < a->n_baselines; i++) {
        ASSERT_STREQ(a->baseline_names[i], b->baseline_names[i]);
        assert_metrics_equal(&a->baselines[i], &b->baselines[i]);
    }
    ASSERT_EQ(a->window_id, b->window_id);
    ASSERT_EQ(a->drift, b->drift);
    ASSERT_EQ(a->rows_trained, b->rows_trained);
}

static void round_trip_is_bit_exact(void)
{
    uint64_t st = test_seed();

    for (int rep = 0; rep < 50; rep++) {
        struct snapshot a, b;
        uint8_t *buf = NULL;
        size_t len = 0;

        make_full(&a, &st);
        ASSERT_EQ(snapshot_encode(&a, &buf, &len), 0);
        ASSERT(len > 0);
        snapshot_init(&b);
        ASSERT_EQ(snapshot_decode(buf, len, &b), 0);
        assert_equal(&a, &b);
        /* Re-encoding the decoded copy gives the same bytes. */
        {
            uint8_t *buf2 = NULL;
            size_t len2 = 0;
            ASSERT_EQ(snapshot_encode(&b, &buf2, &len2), 0);
            ASSERT_EQ(len2, len);
            ASSERT(memcmp(buf, buf2, len) == 0);
            free(buf2);
        }
        free(buf);
        snapshot_close(&a);
        snapshot_close(&b);
    }
}

static void regression_with_target_scaler_round_trips(void)
{
    struct snapshot a, b;
    uint8_t *buf = NULL;
    size_t len = 0;

    snapshot_init(&a);
    ASSERT_EQ(snapshot_alloc(&a, 1, 1, 0, 0, 0), 0);
    ASSERT_EQ(snapshot_set_string(&a.feature_names[0], "temp@-1"), 0);
    a.kind = SNAPSHOT_KIND_LINEAR;
    a.has_target_scaler = true;
    a.target_scaler.count = 9;
    a.target_scaler.mean = 21.5;
    a.target_scaler.m2 = 3.25;
    a.validation.mae = 0.5;
    ASSERT_EQ(snapshot_encode(&a, &buf, &len), 0);
    snapshot_init(&b);
    ASSERT_EQ(snapshot_decode(buf, len, &b), 0);
    assert_equal(&a, &b);
    ASSERT_EQ(b.target_scaler.count, 9);
    ASSERT(b.target_scaler.mean == 21.5 && b.target_scaler.m2 == 3.25);
    /* Absent metric fields come back as NaN, not zero. */
    ASSERT(isnan(b.validation.accuracy) && isnan(b.test.mae));
    ASSERT(b.validation.mae == 0.5);
    free(buf);
    snapshot_close(&a);
    snapshot_close(&b);
}

/* Encode a hand-built protobuf message, then decode it with ours. */
static int decode_pb(Weir__ModelSnapshot *m, struct snapshot *out)
{
    size_t n = weir__model_snapshot__get_packed_size(m);
    uint8_t *buf = malloc(n + 1);
    int rc;

    ASSERT(buf != NULL);
    weir__model_snapshot__pack(m, buf);
    snapshot_init(out);
    rc = snapshot_decode(buf, n, out);
    free(buf);
    return rc;
}

/* A minimal valid logistic message over two inputs. */
struct pb_fixture {
    Weir__ModelSnapshot m;
    Weir__ScalerState sc[2];
    Weir__ScalerState *scp[2];
    char name_buf[4][8];
    char *names[2];
    char *classes[2];
    double weights[3];
    double impute[2];
    double scale[2];
};

static void pb_fixture_init(struct pb_fixture *f)
{
    weir__model_snapshot__init(&f->m);
    f->m.has_format_version = 1;
    f->m.format_version = 1;
    f->m.has_kind = 1;
    f->m.kind = WEIR__MODEL_KIND__MODEL_LOGISTIC;
    f->m.has_outputs = 1;
    f->m.outputs = 1;
    strcpy(f->name_buf[0], "a");
    strcpy(f->name_buf[1], "b");
    strcpy(f->name_buf[2], "DOWN");
    strcpy(f->name_buf[3], "UP");
    f->names[0] = f->name_buf[0];
    f->names[1] = f->name_buf[1];
    f->classes[0] = f->name_buf[2];
    f->classes[1] = f->name_buf[3];
    for (int i = 0; i < 2; i++) {
        weir__scaler_state__init(&f->sc[i]);
        f->sc[i].has_count = f->sc[i].has_mean = f->sc[i].has_m2 = 1;
        f->sc[i].count = 3;
        f->sc[i].mean = 1.0;
        f->sc[i].m2 = 2.0;
        f->scp[i] = &f->sc[i];
        f->impute[i] = 1.0;
    }
    f->scale[0] = 4.0;
    f->scale[1] = 1.5;
    f->weights[0] = 0.5;
    f->weights[1] = -0.5;
    f->weights[2] = 0.25;
    f->m.n_feature_names = 2;
    f->m.feature_names = f->names;
    f->m.n_feature_scaler = 2;
    f->m.feature_scaler = f->scp;
    f->m.n_weights = 3;
    f->m.weights = f->weights;
    f->m.n_impute = 2;
    f->m.impute = f->impute;
    f->m.n_class_labels = 2;
    f->m.class_labels = f->classes;
}

static void hand_built_message_decodes(void)
{
    struct pb_fixture f;
    struct snapshot s;

    pb_fixture_init(&f);
    ASSERT_EQ(decode_pb(&f.m, &s), 0);
    ASSERT_EQ(s.kind, SNAPSHOT_KIND_LOGISTIC);
    ASSERT_EQ(s.n_inputs, 2);
    ASSERT_STREQ(s.class_labels[1], "UP");
    ASSERT(s.weights[2] == 0.25);
    ASSERT(isnan(s.validation.accuracy));
    ASSERT(s.input_scale == NULL); /* absent: none */
    snapshot_close(&s);
}

static void inconsistent_messages_are_refused(void)
{
    struct pb_fixture f;
    struct snapshot s;
    double nan_w[3] = {0.0, NAN, 0.0};
    char a[] = "a", bnl[] = "b\n";
    char *dup[2] = {a, a};
    char *ctl[2] = {a, bnl};

    pb_fixture_init(&f);
    f.m.n_weights = 2; /* not outputs x (inputs + 1) */
    ASSERT_EQ(decode_pb(&f.m, &s), -EBADMSG);
    pb_fixture_init(&f);
    f.m.n_impute = 1;
    ASSERT_EQ(decode_pb(&f.m, &s), -EBADMSG);
    pb_fixture_init(&f);
    f.m.n_feature_scaler = 1;
    ASSERT_EQ(decode_pb(&f.m, &s), -EBADMSG);
    pb_fixture_init(&f);
    f.m.weights = nan_w;
    ASSERT_EQ(decode_pb(&f.m, &s), -EBADMSG);
    pb_fixture_init(&f);
    f.m.feature_names = dup;
    ASSERT_EQ(decode_pb(&f.m, &s), -EBADMSG);
    pb_fixture_init(&f);
    f.m.feature_names = ctl;
    ASSERT_EQ(decode_pb(&f.m, &s), -EBADMSG);
    pb_fixture_init(&f);
    f.m.n_class_labels = 1; /* logistic needs two classes */
    ASSERT_EQ(decode_pb(&f.m, &s), -EBADMSG);
    pb_fixture_init(&f);
    f.sc[1].has_m2 = 0; /* a scaler without m2 would change predictions */
    ASSERT_EQ(decode_pb(&f.m, &s), -EBADMSG);
    pb_fixture_init(&f);
    f.sc[0].m2 = -1.0;
    ASSERT_EQ(decode_pb(&f.m, &s), -EBADMSG);
    pb_fixture_init(&f);
    f.m.kind = (Weir__ModelKind)99;
    ASSERT_EQ(decode_pb(&f.m, &s), -EBADMSG);
    pb_fixture_init(&f);
    f.m.has_format_version = 0;
    ASSERT_EQ(decode_pb(&f.m, &s), -EBADMSG);
    pb_fixture_init(&f);
    f.m.has_outputs = 0;
    ASSERT_EQ(decode_pb(&f.m, &s), -EBADMSG);
    /* input_scale: one per input, finite and >= 0, or none at all. */
    pb_fixture_init(&f);
    f.m.n_input_scale = 1;
    f.m.input_scale = f.scale;
    ASSERT_EQ(decode_pb(&f.m, &s), -EBADMSG);
    pb_fixture_init(&f);
    f.m.n_input_scale = 2;
    f.m.input_scale = f.scale;
    f.scale[1] = -1.0;
    ASSERT_EQ(decode_pb(&f.m, &s), -EBADMSG);
    f.scale[1] = NAN;
    ASSERT_EQ(decode_pb(&f.m, &s), -EBADMSG);
    f.scale[1] = INFINITY;
    ASSERT_EQ(decode_pb(&f.m, &s), -EBADMSG);
    f.scale[1] = 0.0;
    ASSERT_EQ(decode_pb(&f.m, &s), 0);
    ASSERT(s.input_scale != NULL && s.input_scale[0] == 4.0 &&
           s.input_scale[1] == 0.0);
    snapshot_close(&s);
}

static void newer_format_is_refused(void)
{
    struct pb_fixture f;
    struct snapshot s;

    pb_fixture_init(&f);
    f.m.format_version = SNAPSHOT_FORMAT_VERSION + 1;
    ASSERT_EQ(decode_pb(&f.m, &s), -EPROTONOSUPPORT);
}

/* A newer writer may add fields: ours must skip them. Field 1000 (varint)
 * and field 1001 (length-delimited) appended to a valid message. */
static void unknown_fields_are_ignored(void)
{
    struct pb_fixture f;
    struct snapshot s;
    size_t n;
    uint8_t *buf;
    static const uint8_t extra[] = {0xc0, 0x3e, 0x05, /* 1000 */
                                    0xca, 0x3e, 0x03, 'a', 'b', 'c'};

    pb_fixture_init(&f);
    n = weir__model_snapshot__get_packed_size(&f.m);
    buf = malloc(n + sizeof(extra));
    ASSERT(buf != NULL);
    weir__model_snapshot__pack(&f.m, buf);
    memcpy(buf + n, extra, sizeof(extra));
    snapshot_init(&s);
    ASSERT_EQ(snapshot_decode(buf, n + sizeof(extra), &s), 0);
    ASSERT_EQ(s.n_inputs, 2);
    snapshot_close(&s);
    free(buf);
}

static void encode_refuses_inconsistent_snapshot(void)
{
    struct snapshot s;
    uint8_t *buf = NULL;
    size_t len = 0;

    snapshot_init(&s);
    ASSERT_EQ(snapshot_alloc(&s, 2, 1, 2, 0, 0), 0);
    s.kind = SNAPSHOT_KIND_LOGISTIC;
    /* feature and class names still NULL */
    ASSERT_EQ(snapshot_encode(&s, &buf, &len), -EBADMSG);
    ASSERT_EQ(snapshot_set_string(&s.feature_names[0], "x"), 0);
    ASSERT_EQ(snapshot_set_string(&s.feature_names[1], "y"), 0);
    ASSERT_EQ(snapshot_set_string(&s.class_labels[0], "0"), 0);
    ASSERT_EQ(snapshot_set_string(&s.class_labels[1], "1"), 0);
    ASSERT_EQ(snapshot_encode(&s, &buf, &len), 0);
    free(buf);
    s.weights[1] = INFINITY;
    ASSERT_EQ(snapshot_encode(&s, &buf, &len), -EBADMSG);
    s.weights[1] = 0.0;
    ASSERT_EQ(snapshot_alloc_input_scale(&s), 0);
    s.input_scale[0] = -2.0; /* a scale is a magnitude */
    ASSERT_EQ(snapshot_encode(&s, &buf, &len), -EBADMSG);
    s.input_scale[0] = 2.0;
    ASSERT_EQ(snapshot_encode(&s, &buf, &len), 0);
    free(buf);
    s.kind = SNAPSHOT_KIND_SOFTMAX; /* softmax needs outputs == classes */
    ASSERT_EQ(snapshot_encode(&s, &buf, &len), -EBADMSG);
    ASSERT_EQ(snapshot_alloc(&s, 1, 1, 0, 0, 0), -EINVAL); /* not empty */
    snapshot_close(&s);
    snapshot_init(&s);
    ASSERT_EQ(snapshot_alloc(&s, SNAPSHOT_MAX_INPUTS + 1, 1, 0, 0, 0), -EINVAL);
    snapshot_close(&s);
}

/* Truncations and random corruptions of a valid encoding either decode to a
 * snapshot that passes snapshot_check or fail cleanly (ASan watches). */
static void hostile_bytes_never_crash(void)
{
    uint64_t st = test_seed() ^ 0x51;
    struct snapshot a, b;
    uint8_t *buf = NULL, *mut;
    size_t len = 0;
    int ok = 0, bad = 0;

    make_full(&a, &st);
    ASSERT_EQ(snapshot_encode(&a, &buf, &len), 0);
    mut = malloc(len);
    ASSERT(mut != NULL);
    for (size_t cut = 0; cut < len; cut++) {
        snapshot_init(&b);
        if (snapshot_decode(buf, cut, &b) == 0) {
            ASSERT_EQ(snapshot_check(&b), 0);
            ok++;
        } else {
            bad++;
        }
        snapshot_close(&b);
    }
    for (int rep = 0; rep < 20000; rep++) {
        memcpy(mut, buf, len);
        for (int k = 0; k < 1 + (int)(test_rand(&st) % 4); k++)
            mut[test_rand(&st) % len] = (uint8_t)test_rand(&st);
        snapshot_init(&b);
        if (snapshot_decode(mut, len, &b) == 0) {
            ASSERT_EQ(snapshot_check(&b), 0);
            ok++;
        } else {
            bad++;
            ASSERT(b.weights == NULL && b.feature_names == NULL);
        }
        snapshot_close(&b);
    }
    ASSERT(bad > 0 && ok > 0);
    ASSERT_EQ(snapshot_decode(buf, SNAPSHOT_MAX_BYTES + 1, &b), -EMSGSIZE);
    free(mut);
    free(buf);
    snapshot_close(&a);
}

static const struct test tests[] = {
    {"round_trip_is_bit_exact", round_trip_is_bit_exact},
    {"regression_with_target_scaler_round_trips",
     regression_with_target_scaler_round_trips},
    {"hand_built_message_decodes", hand_built_message_decodes},
    {"inconsistent_messages_are_refused", inconsistent_messages_are_refused},
    {"newer_format_is_refused", newer_format_is_refused},
    {"unknown_fields_are_ignored", unknown_fields_are_ignored},
    {"encode_refuses_inconsistent_snapshot",
     encode_refuses_inconsistent_snapshot},
    {"hostile_bytes_never_crash", hostile_bytes_never_crash},
    {NULL, NULL}};

int main(int argc, char **argv)
{
    return test_main(argc, argv, tests);
}
