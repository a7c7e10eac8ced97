/* test_sim.c -- the simulator without a broker: determinism, sequence
 * numbers, fault rates and their effects (checked by decoding the payloads
 * with proto/codec.h), the ledger's accounting, the scenarios' hidden rules
 * and drift, capture files (round trip, truncation, a writer killed with
 * SIGKILL), and the command-line parsers.
 *
 * Fault-rate tolerance: an observed count k of n Bernoulli(p) units passes
 * if |k - n p| <= 5 sqrt(n p (1 - p)) + 2 (a 5-sigma band; the default seed
 * is fixed, so the test is deterministic, and any seed fails it with
 * probability < 1e-6 per check). Threads: single-threaded. */
#include "proto/codec.h"
#include "proto/json.h"
#include "sim/capfile.h"
#include "sim/faults.h"
#include "sim/run.h"
#include "sim/simgen.h"
#include "sim/simrand.h"
#include "tests/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void base_opts(struct simgen_opts *o, uint64_t readings)
{
    memset(o, 0, sizeof(*o));
    o->scenario.kind = SCENARIO_BUILDING;
    o->scenario.devices = 5;
    o->scenario.seed = test_seed();
    o->scenario.start_ms = 1704067200000LL;
    o->scenario.period_ms = 60000;
    o->scenario.drift_at_ms = -1;
    o->format = ENCODE_PB;
    o->max_readings = readings;
}

static void add_fault(struct simgen_opts *o, const char *spec)
{
    char err[256];

    if (faults_parse(&o->faults, spec, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: %s\n", spec, err);
        ASSERT(0);
    }
}

static struct simgen *gen(const struct simgen_opts *o)
{
    struct simgen *g = NULL;
    char err[256];

    if (simgen_new(&g, o, err, sizeof(err)) != 0) {
        fprintf(stderr, "simgen_new: %s\n", err);
        ASSERT(0);
    }
    return g;
}

static uint64_t stream_hash(const struct simgen_opts *o, uint64_t *msgs)
{
    struct simgen *g = gen(o);
    const struct simgen_msg *m;
    uint64_t h = 0xcbf29ce484222325ULL;

    *msgs = 0;
    while (simgen_next(g, &m) == 1) {
        h = run_hash_msg(h, m->topic, m->payload, m->len);
        (*msgs)++;
    }
    ASSERT_EQ(simgen_free(g), 0);
    return h;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    ASSERT(f != NULL);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    ASSERT(buf != NULL);
    ASSERT_EQ(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void all_faults(struct simgen_opts *o, bool restart)
{
    add_fault(o, "dup=0.01");
    add_fault(o, "reorder=0.02:window=8");
    add_fault(o, "corrupt=0.01");
    add_fault(o, "drop=0.005");
    add_fault(o, "nan=0.002");
    add_fault(o, "spike=0.002");
    add_fault(o, "stuck=0.0005");
    add_fault(o, "gap=0.0005");
    add_fault(o, "skew=0.0005:len=20");
    if (restart)
        add_fault(o, "restart=0.0005");
}

/* ---- Determinism ------------------------------------------------------- */

static void same_seed_same_bytes(void)
{
    struct simgen_opts o;
    uint64_t n1, n2, n3;
    char l1[512], l2[512];
    char *a, *b;
    size_t la, lb;

    base_opts(&o, 50000);
    all_faults(&o, true);
    snprintf(l1, sizeof(l1), "%s/l1.csv", test_tmpdir());
    snprintf(l2, sizeof(l2), "%s/l2.csv", test_tmpdir());
    o.ledger_path = l1;
    uint64_t h1 = stream_hash(&o, &n1);
    o.ledger_path = l2;
    uint64_t h2 = stream_hash(&o, &n2);
    ASSERT(h1 == h2);
    ASSERT_EQ(n1, n2);
    ASSERT(n1 > 40000);
    a = slurp(l1, &la);
    b = slurp(l2, &lb);
    ASSERT_EQ(la, lb);
    ASSERT(memcmp(a, b, la) == 0);
    free(a);
    free(b);
    o.ledger_path = NULL;
    o.scenario.seed ^= 1;
    ASSERT(stream_hash(&o, &n3) != h1);
    /* Turning a fault off must not move the clean signal of the others:
     * without faults, the first message is the same. */
}

static void faults_do_not_move_the_signal(void)
{
    struct simgen_opts o;
    struct simgen *a, *b;
    const struct simgen_msg *m;
    double va[64], vb[64];
    size_t n = 0;

    base_opts(&o, 64);
    a = gen(&o);
    while (simgen_next(a, &m) == 1 && n < 64)
        va[n++] = m->v[0].value;
    add_fault(&o, "dup=0.3");
    add_fault(&o, "corrupt=0.3");
    b = gen(&o);
    n = 0;
    while (simgen_next(b, &m) == 1 && n < 64) {
        if (m->faults & FAULT_DUP)
            continue;
        vb[n++] = m->v[0].value;
    }
    for (size_t i = 0; i < n; i++)
        ASSERT(va[i] == vb[i]);
    simgen_free(a);
    simgen_free(b);
}

/* run_main() on a space-separated command line (no quoting). */
static int run_words(const char *line)
{
    char *copy = strdup(line);
    char *argv[64];
    int argc = 0;
    int rc;

    ASSERT(copy != NULL);
    for (char *t = strtok(copy, " "); t && argc < 63; t = strtok(NULL, " "))
        argv[argc++] = t;
    argv[argc] = NULL;
    rc = run_main(argc, argv);
    free(copy);
    return rc;
}

static void run_out_capture_is_deterministic(void)
{
    char p1[512], p2[512];
    char *a, *b;
    size_t la, lb;

    snprintf(p1, sizeof(p1), "%s/a.cap", test_tmpdir());
    snprintf(p2, sizeof(p2), "%s/b.cap", test_tmpdir());
    char cmd[1024];

    snprintf(cmd, sizeof(cmd),
             "run --count 20000 --seed 9 --fault dup=0.05 "
             "--fault reorder=0.05 --format batch --rate 500 --quiet --out %s",
             p1);
    ASSERT_EQ(run_words(cmd), 0);
    snprintf(cmd, sizeof(cmd),
             "run --count 20000 --seed 9 --fault dup=0.05 "
             "--fault reorder=0.05 --format batch --rate 500 --quiet --out %s",
             p2);
    ASSERT_EQ(run_words(cmd), 0);
    a = slurp(p1, &la);
    b = slurp(p2, &lb);
    ASSERT(la > 100000);
    ASSERT_EQ(la, lb);
    ASSERT(memcmp(a, b, la) == 0);
    free(a);
    free(b);
}

/* ---- Sequence numbers and payloads ------------------------------------- */

/* SenML: keep the first group (a sample is one group). */
static int first_group(void *ctx, const struct codec_msg *msg)
{
    struct codec_msg *out = ctx;

    if (out->n == 0)
        *out = *msg;
    return 0;
}

static int decode(const struct simgen_msg *m, enum encode_format f,
                  struct codec_msg *out)
{
    static struct codec_msg scratch;
    enum reject_reason why;

    switch (f) {
    case ENCODE_PB:
        return codec_decode_reading(m->payload, m->len, out, &why);
    case ENCODE_BATCH:
        return codec_decode_batch(m->payload, m->len, out, &why);
    case ENCODE_JSON:
        return json_decode_reading(m->payload, m->len, out, &why);
    case ENCODE_JSON_BATCH:
        return json_decode_object(m->payload, m->len, out, NULL, &why);
    case ENCODE_SENML:
        out->n = 0;
        return json_decode_senml(m->payload, m->len, 0, &scratch, first_group,
                                 out, NULL, &why);
    }
    return -EINVAL;
}

/* JSON writes NaN and +-Inf as null, which decodes to NaN. */
static bool same_value(double got, double sent, enum encode_format f)
{
    bool text = f != ENCODE_PB && f != ENCODE_BATCH;

    if (text && !isfinite(sent))
        return isnan(got);
    return got == sent || (isnan(got) && isnan(sent));
}

/* Every clean message decodes to what the ledger says; every corrupt one
 * fails to decode; dups repeat an earlier (device, seq) byte for byte. */
static void check_payloads(enum encode_format f)
{
    struct simgen_opts o;
    struct simgen *g;
    const struct simgen_msg *m;
    struct codec_msg *d = malloc(sizeof(*d));
    uint64_t corrupt = 0, clean = 0, dups = 0;
    uint64_t *hash_of = calloc(5 * 200000, sizeof(*hash_of));

    ASSERT(d != NULL && hash_of != NULL);
    base_opts(&o, 30000);
    o.format = f;
    all_faults(&o, false); /* a restart reuses seqs */
    g = gen(&o);
    while (simgen_next(g, &m) == 1) {
        uint64_t h = run_hash_msg(1, m->topic, m->payload, m->len) | 1;
        ASSERT(m->seq < 200000);
        if (m->faults & FAULT_DUP) {
            /* The original went out earlier, identical. */
            ASSERT(hash_of[m->device * 200000 + m->seq] == h);
            dups++;
        } else {
            ASSERT(hash_of[m->device * 200000 + m->seq] == 0);
            hash_of[m->device * 200000 + m->seq] = h;
        }
        if (m->faults & FAULT_CORRUPT) {
            ASSERT(decode(m, f, d) < 0);
            corrupt++;
            continue;
        }
        ASSERT_EQ(decode(m, f, d), 0);
        clean++;
        ASSERT_STREQ(d->device, simgen_device_name(g, m->device));
        if (f != ENCODE_SENML) /* SenML has no seq */
            ASSERT(d->has_seq && d->seq == m->seq);
        ASSERT(d->has_ts && d->ts_ms == m->ts_ms);
        ASSERT_EQ(d->n, m->n);
        for (size_t i = 0; i < m->n; i++) {
            ASSERT_STREQ(d->m[i].name, simgen_value_name(g, m->v[i].index));
            ASSERT(same_value(d->m[i].value, m->v[i].value, f));
            if (!encode_per_reading(f))
                ASSERT_EQ(d->m[i].is_label,
                          m->v[i].index >= simgen_values(g) - 1);
        }
        if (encode_per_reading(f)) {
            char want[256];
            snprintf(want, sizeof(want), "sensors/%s/%s", d->device,
                     d->m[0].name);
            ASSERT_STREQ(m->topic, want);
        }
    }
    ASSERT(corrupt > 20 && clean > 1000 && dups > 20);
    simgen_free(g);
    free(d);
    free(hash_of);
}

static void pb_payloads_decode_or_fail_as_labelled(void)
{
    check_payloads(ENCODE_PB);
}

static void batch_payloads_decode_or_fail_as_labelled(void)
{
    check_payloads(ENCODE_BATCH);
}

static void json_payloads_decode_or_fail_as_labelled(void)
{
    check_payloads(ENCODE_JSON);
    check_payloads(ENCODE_JSON_BATCH);
    check_payloads(ENCODE_SENML);
}

/* Per device, sent and dropped messages without restart/dup use the seqs
 * 0, 1, 2, ... exactly once; reordered ones come late, within the window. */
static void seqs_are_consecutive_per_device(void)
{
    struct simgen_opts o;
    struct simgen *g;
    const struct simgen_msg *m;
    enum { DEV = 5, MAXSEQ = 100000 };
    unsigned char *seen = calloc(DEV * MAXSEQ, 1);
    uint64_t hi[DEV] = {0};
    struct simgen_stats st;
    char ledger[512];
    FILE *f;
    char line[512];

    ASSERT(seen != NULL);
    base_opts(&o, 40000);
    add_fault(&o, "dup=0.02");
    add_fault(&o, "reorder=0.05:window=4");
    add_fault(&o, "drop=0.01");
    add_fault(&o, "gap=0.002");
    snprintf(ledger, sizeof(ledger), "%s/ledger.csv", test_tmpdir());
    o.ledger_path = ledger;
    g = gen(&o);
    while (simgen_next(g, &m) == 1) {
        if (m->faults & FAULT_DUP)
            continue;
        ASSERT(m->seq < MAXSEQ);
        ASSERT(!seen[m->device * MAXSEQ + m->seq]);
        seen[m->device * MAXSEQ + m->seq] = 1;
        if (m->seq > hi[m->device])
            hi[m->device] = m->seq;
        if (m->faults & FAULT_REORDER) /* late, but not too late */
            ASSERT(m->seq + 4 * 5 + 8 >= hi[m->device]);
    }
    simgen_stats(g, &st);
    ASSERT_EQ(simgen_free(g), 0);
    /* Dropped messages are in the ledger with sent=0: add their seqs. */
    f = fopen(ledger, "r");
    ASSERT(f != NULL);
    ASSERT(fgets(line, sizeof(line), f) != NULL);
    uint64_t lines = 0, sent_lines = 0;
    while (fgets(line, sizeof(line), f)) {
        unsigned long long msg, seq;
        int sent;
        char dev[64];
        ASSERT_EQ(sscanf(line, "%llu,%d,%63[^,],%llu", &msg, &sent, dev, &seq),
                  4);
        lines++;
        sent_lines += sent;
        if (!sent) {
            size_t d = (size_t)atoi(dev + 5) - 1; /* room-00N */
            ASSERT(strstr(line, ",drop,lost") != NULL);
            seen[d * MAXSEQ + seq] = 1;
        }
    }
    fclose(f);
    ASSERT_EQ(sent_lines, st.readings_out);
    ASSERT(lines > sent_lines);
    for (size_t d = 0; d < DEV; d++)
        for (uint64_t s = 0; s <= hi[d]; s++)
            ASSERT(seen[d * MAXSEQ + s]);
    ASSERT(st.gap_samples > 0);
    free(seen);
}

static void batch_shares_one_seq_and_restart_resets(void)
{
    struct simgen_opts o;
    struct simgen *g;
    const struct simgen_msg *m;
    uint64_t next = 0;
    int restarts = 0;

    base_opts(&o, 0);
    o.scenario.devices = 1;
    o.format = ENCODE_BATCH;
    add_fault(&o, "restart@600"); /* 10 samples in (60 s period) */
    add_fault(&o, "restart@1200:dev=room-001");
    g = gen(&o);
    for (int i = 0; i < 40 && simgen_next(g, &m) == 1; i++) {
        ASSERT_EQ(m->n, 5);
        if (m->v[0].faults & FAULT_RESTART) {
            restarts++;
            next = 0;
        }
        ASSERT_EQ(m->seq, next);
        next++;
    }
    ASSERT_EQ(restarts, 2);
    simgen_free(g);
}

static void scheduled_gap_silences_a_window(void)
{
    struct simgen_opts o;
    struct simgen *g;
    const struct simgen_msg *m;
    int64_t gap_from = 1704067200000LL + 3600000, gap_to = gap_from + 600000;
    int in_gap = 0, other = 0;
    uint64_t last_seq = 0;

    base_opts(&o, 0);
    o.scenario.devices = 2;
    o.format = ENCODE_BATCH;
    add_fault(&o, "gap@3600+600:dev=room-002");
    g = gen(&o);
    for (int i = 0; i < 400 && simgen_next(g, &m) == 1; i++) {
        bool inside = m->sim_ms >= gap_from && m->sim_ms < gap_to;
        if (m->device == 1) {
            ASSERT(!inside);
            if (i > 2)
                ASSERT_EQ(m->seq, last_seq + 1); /* a gap uses no seq */
            last_seq = m->seq;
        } else {
            in_gap += inside;
            other++;
        }
    }
    ASSERT_EQ(in_gap, 10); /* room-001 keeps sending: 10 one-minute ticks */
    ASSERT(other > 150);
    simgen_free(g);
}

/* ---- Fault rates ------------------------------------------------------- */

static void within(uint64_t k, double n, double p, const char *what)
{
    double sd = sqrt(n * p * (1 - p));

    if (fabs((double)k - n * p) > 5 * sd + 2) {
        fprintf(stderr, "%s: %llu observed, %.1f expected (n %.0f, p %g)\n",
                what, (unsigned long long)k, n * p, n, p);
        ASSERT(0);
    }
}

static void fault_rates_over_100k_readings(void)
{
    struct simgen_opts o;
    struct simgen *g;
    const struct simgen_msg *m;
    uint64_t msgs = 0, dup = 0, reorder = 0, corrupt = 0, drop_est;
    uint64_t nan = 0, inf = 0, spike = 0, sensor_readings = 0;
    uint64_t kind[3] = {0};
    struct simgen_stats st;

    base_opts(&o, 100000);
    add_fault(&o, "dup=0.01");
    add_fault(&o, "reorder=0.02");
    add_fault(&o, "corrupt=0.005");
    add_fault(&o, "drop=0.003");
    add_fault(&o, "nan=0.002");
    add_fault(&o, "spike=0.001");
    g = gen(&o);
    while (simgen_next(g, &m) == 1) {
        if (m->faults & FAULT_DUP) {
            dup++;
            continue;
        }
        msgs++;
        reorder += !!(m->faults & FAULT_REORDER);
        corrupt += !!(m->faults & FAULT_CORRUPT);
        for (int k = 0; k < 3; k++)
            kind[k] += !!(m->faults & (FAULT_CORRUPT_TRUNC << k));
        if (m->v[0].index < 4) { /* a sensor, not the label */
            sensor_readings++;
            nan += !!(m->v[0].faults & FAULT_NAN);
            inf += !!(m->v[0].faults & FAULT_INF);
            spike += !!(m->v[0].faults & FAULT_SPIKE);
        }
    }
    simgen_stats(g, &st);
    drop_est = st.per_bit[5];
    double n = (double)(msgs + drop_est); /* every original message */
    ASSERT(n >= 100000);
    within(dup, n, 0.01, "dup");
    within(drop_est, n, 0.003, "drop");
    within(reorder, n, 0.02 * (1 - 0.003), "reorder");
    within(corrupt, n, 0.005 * (1 - 0.003), "corrupt");
    for (int k = 0; k < 3; k++) /* kind=any: each a third */
        within(kind[k], (double)corrupt, 1.0 / 3, "corrupt kind");
    within(nan + inf, (double)sensor_readings, 0.002, "nan/inf");
    within(nan, (double)(nan + inf), 1.0 / 3, "nan share");
    within(spike, (double)sensor_readings, 0.001, "spike");
    simgen_free(g);
}

static void episode_faults(void)
{
    struct simgen_opts o;
    struct simgen *g;
    const struct simgen_msg *m;
    double last[5][4];
    int stuck_runs = 0, run_len = 0;
    uint64_t skewed = 0, samples = 0;
    bool have[5] = {false};

    base_opts(&o, 200000);
    o.format = ENCODE_BATCH;
    add_fault(&o, "stuck=0.001:len=25");
    add_fault(&o, "skew=0.002:ms=-90000:len=10");
    g = gen(&o);
    while (simgen_next(g, &m) == 1) {
        samples++;
        if (m->v[0].faults & FAULT_SKEW) {
            ASSERT_EQ(m->ts_ms, m->sim_ms - 90000);
            skewed++;
        } else {
            ASSERT_EQ(m->ts_ms, m->sim_ms);
        }
        if (m->device == 0) {
            if (m->v[1].faults & FAULT_STUCK) {
                if (run_len > 0)
                    ASSERT(m->v[1].value == last[0][1]);
                run_len++;
            } else if (run_len > 0) {
                ASSERT_EQ(run_len, 25);
                stuck_runs++;
                run_len = 0;
            }
        }
        for (int j = 0; j < 4; j++)
            last[m->device][j] = m->v[j].value;
        have[m->device] = true;
    }
    ASSERT(have[4]);
    ASSERT(stuck_runs >= 1);
    /* ~0.002 starts per sample, 10 samples each: ~2 % skewed. */
    ASSERT(skewed > samples / 100 && skewed < samples / 25);
    simgen_free(g);
}

/* ---- Scenarios --------------------------------------------------------- */

/* Light says occupied before drift; after drift, it no longer does. */
static void building_rule_and_drift(void)
{
    struct simgen_opts o;
    struct simgen *g;
    const struct simgen_msg *m;
    uint64_t agree[2] = {0}, n[2] = {0}, occ[2] = {0};
    int64_t drift = 1704067200000LL + 14LL * 86400000;

    base_opts(&o, 0);
    o.format = ENCODE_BATCH;
    o.scenario.drift_at_ms = drift;
    g = gen(&o);
    while (simgen_next(g, &m) == 1) {
        int d = m->drifted;
        /* Daylight peaks at 350 lux; lights add 400. */
        bool lit = m->v[2].value > 375.0;
        bool occupied = m->v[4].value == 1.0;

        ASSERT_EQ(m->drifted, m->sim_ms >= drift);
        agree[d] += lit == occupied;
        occ[d] += occupied;
        n[d]++;
        if (m->sim_ms >= drift + 14LL * 86400000)
            break;
    }
    ASSERT(n[0] > 1000 && n[1] > 1000);
    /* Occupancy is neither rare nor constant. */
    ASSERT(occ[0] > n[0] / 10 && occ[0] < n[0] * 6 / 10);
    double before = (double)agree[0] / (double)n[0];
    double after = (double)agree[1] / (double)n[1];
    ASSERT(before > 0.9);
    ASSERT(after < before - 0.05);
    simgen_free(g);
}

static void machine_wear_and_failures(void)
{
    struct simgen_opts o;
    struct simgen *g;
    const struct simgen_msg *m;
    double vib[2] = {0}, nvib[2] = {0};
    uint64_t fail = 0, n = 0;

    base_opts(&o, 4 * 3 * 86400 * 4 / 60 * 5); /* ~ 12 days x 5 machines */
    o.scenario.kind = SCENARIO_MACHINE;
    o.scenario.period_ms = 60000;
    o.format = ENCODE_BATCH;
    g = gen(&o);
    ASSERT_STREQ(simgen_value_name(g, 0), "vibration");
    ASSERT_STREQ(simgen_value_name(g, 3), "failure");
    while (simgen_next(g, &m) == 1) {
        int f = m->v[3].value == 1.0;
        vib[f] += m->v[0].value;
        nvib[f]++;
        fail += f;
        n++;
    }
    ASSERT(fail > 20 && fail < n / 5);
    /* Failures show as vibration bursts (before drift). */
    ASSERT(vib[1] / nvib[1] > 2.0 * vib[0] / nvib[0]);
    simgen_free(g);
}

static void extra_sensors_are_named(void)
{
    struct simgen_opts o;
    struct simgen *g;
    const struct simgen_msg *m;

    base_opts(&o, 100);
    o.scenario.sensors = 7;
    o.format = ENCODE_BATCH;
    g = gen(&o);
    ASSERT_EQ(simgen_values(g), 8);
    ASSERT_STREQ(simgen_value_name(g, 4), "aux1");
    ASSERT_STREQ(simgen_value_name(g, 6), "aux3");
    ASSERT_STREQ(simgen_value_name(g, 7), "occupancy");
    ASSERT_EQ(simgen_next(g, &m), 1);
    ASSERT_EQ(m->n, 8);
    simgen_free(g);
    o.scenario.sensors = 2;
    g = gen(&o);
    ASSERT_EQ(simgen_values(g), 3);
    ASSERT_STREQ(simgen_value_name(g, 2), "occupancy");
    simgen_free(g);
}

/* ---- Fault spec parsing ------------------------------------------------ */

static void fault_specs(void)
{
    struct faults_config c = {0};
    char err[256];

    ASSERT_EQ(faults_parse(&c, "dup=0.5", err, sizeof(err)), 0);
    ASSERT_EQ(
        faults_parse(&c, "skew@10+5:ms=-3000:dev=room-001", err, sizeof(err)),
        0);
    ASSERT(c.spec[1].scheduled && c.spec[1].at_ms == 10000 &&
           c.spec[1].dur_ms == 5000 && c.spec[1].skew_ms == -3000);
    ASSERT_STREQ(c.spec[1].dev, "room-001");
    ASSERT_EQ(faults_parse(&c, "corrupt=0.1:kind=trunc", err, sizeof(err)), 0);
    ASSERT_EQ(c.spec[2].sub, FAULT_CORRUPT_TRUNC);
    ASSERT_EQ(faults_parse(&c, "dup=1.5", err, sizeof(err)), -EINVAL);
    ASSERT(strstr(err, "[0, 1]") != NULL);
    ASSERT_EQ(faults_parse(&c, "dupe=0.1", err, sizeof(err)), -EINVAL);
    ASSERT(strstr(err, "unknown fault") != NULL);
    ASSERT_EQ(faults_parse(&c, "dup", err, sizeof(err)), -EINVAL);
    ASSERT_EQ(faults_parse(&c, "gap@x", err, sizeof(err)), -EINVAL);
    ASSERT_EQ(faults_parse(&c, "nan=0.1:kind=trunc", err, sizeof(err)),
              -EINVAL);
    ASSERT_EQ(faults_parse(&c, "reorder=0.1:window=0", err, sizeof(err)),
              -EINVAL);
    ASSERT_EQ(faults_parse(&c, "spike=0.1:bogus=1", err, sizeof(err)), -EINVAL);
    ASSERT_EQ(c.n, 3);
}

static void unknown_fault_device_is_refused(void)
{
    struct simgen_opts o;
    struct simgen *g = NULL;
    char err[256];

    base_opts(&o, 10);
    add_fault(&o, "gap@10:dev=room-999");
    ASSERT_EQ(simgen_new(&g, &o, err, sizeof(err)), -EINVAL);
    ASSERT(g == NULL);
    ASSERT(strstr(err, "room-999") != NULL);
}

/* ---- Capture files ----------------------------------------------------- */

static void write_records(const char *path, int n, unsigned every)
{
    struct capfile_writer *w;
    char err[256], topic[64];
    uint8_t payload[300];

    ASSERT_EQ(capfile_create(&w, path, every, err, sizeof(err)), 0);
    for (int i = 0; i < n; i++) {
        struct codec_capture c = {.topic = topic,
                                  .payload = payload,
                                  .payload_len = (size_t)(i % 300),
                                  .recv_ns = 1000 + i,
                                  .qos = i % 3,
                                  .retained = i % 7 == 0};
        snprintf(topic, sizeof(topic), "t/%d", i);
        memset(payload, i & 0xff, sizeof(payload));
        ASSERT_EQ(capfile_write(w, &c), 0);
    }
    ASSERT_EQ(capfile_records(w), (uint64_t)n);
    ASSERT_EQ(capfile_close(w), 0);
}

static void capture_round_trip_and_truncation(void)
{
    char path[512];
    struct capfile_reader *r;
    struct codec_capture c;
    char err[256];
    struct stat sb;
    int n = 0, rc;

    snprintf(path, sizeof(path), "%s/c.cap", test_tmpdir());
    write_records(path, 1000, 7);
    ASSERT_EQ(capfile_open(&r, path, err, sizeof(err)), 0);
    while ((rc = capfile_next(r, &c)) == 1) {
        char want[64];
        snprintf(want, sizeof(want), "t/%d", n);
        ASSERT_STREQ(c.topic, want);
        ASSERT_EQ(c.payload_len, (size_t)(n % 300));
        for (size_t i = 0; i < c.payload_len; i++)
            ASSERT_EQ(c.payload[i], n & 0xff);
        ASSERT_EQ(c.recv_ns, 1000 + n);
        ASSERT_EQ(c.qos, n % 3);
        ASSERT_EQ(c.retained, n % 7 == 0);
        n++;
    }
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(n, 1000);
    ASSERT_EQ(capfile_rewind(r), 0);
    ASSERT_EQ(capfile_next(r, &c), 1);
    ASSERT_STREQ(c.topic, "t/0");
    capfile_reader_free(r);

    /* Cut the last record short: 999 records, then -EAGAIN at its start. */
    ASSERT_EQ(stat(path, &sb), 0);
    ASSERT_EQ(truncate(path, sb.st_size - 3), 0);
    ASSERT_EQ(capfile_open(&r, path, err, sizeof(err)), 0);
    n = 0;
    while ((rc = capfile_next(r, &c)) == 1)
        n++;
    ASSERT_EQ(rc, -EAGAIN);
    ASSERT_EQ(n, 999);
    ASSERT(strstr(capfile_error(r), "truncated record at byte") != NULL);
    ASSERT(strstr(capfile_error(r), "after 999 records") != NULL);
    ASSERT_EQ(capfile_next(r, &c), -EAGAIN); /* stays there */
    capfile_reader_free(r);

    ASSERT_EQ(capfile_open(&r, "/nonexistent/x.cap", err, sizeof(err)),
              -ENOENT);
    ASSERT(strstr(err, "/nonexistent/x.cap") != NULL);
}

static void garbage_capture_is_corrupt(void)
{
    char path[512];
    struct capfile_reader *r;
    struct codec_capture c;
    char err[256];
    FILE *f;

    snprintf(path, sizeof(path), "%s/g.cap", test_tmpdir());
    f = fopen(path, "wb");
    ASSERT(f != NULL);
    fputs("\x05hello world, this is not a capture", f);
    fclose(f);
    ASSERT_EQ(capfile_open(&r, path, err, sizeof(err)), 0);
    ASSERT_EQ(capfile_next(r, &c), -EBADMSG);
    ASSERT(strstr(capfile_error(r), "corrupt record at byte 0") != NULL);
    capfile_reader_free(r);
}

/* A writer killed with SIGKILL at a random moment leaves a file whose
 * records all decode, except possibly a torn last one: Linux can cut a
 * write(2) to a regular file at a page boundary when a fatal signal
 * arrives, so a record crossing one may be partly written. Readers report
 * that as a truncated tail (-EAGAIN) after every whole record; it is never
 * corruption in the middle. */
static void killed_writer_leaves_whole_records(void)
{
    char path[512];
    uint64_t rng = test_seed();

    snprintf(path, sizeof(path), "%s/k.cap", test_tmpdir());
    for (int round = 0; round < 5; round++) {
        struct capfile_reader *r;
        struct codec_capture c;
        struct stat sb;
        char err[256];
        int status, rc, n = 0;
        pid_t pid = fork();

        ASSERT(pid >= 0);
        if (pid == 0) {
            write_records(path, 50000000, 1); /* until killed */
            _exit(0);
        }
        struct timespec ts = {0, (long)(5 + test_rand(&rng) % 40) * 1000000};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT(WIFSIGNALED(status));
        ASSERT_EQ(stat(path, &sb), 0);
        ASSERT_EQ(capfile_open(&r, path, err, sizeof(err)), 0);
        while ((rc = capfile_next(r, &c)) == 1) {
            char want[64];
            snprintf(want, sizeof(want), "t/%d", n);
            ASSERT_STREQ(c.topic, want);
            n++;
        }
        ASSERT(rc == 0 || rc == -EAGAIN);
        if (rc == -EAGAIN) /* a torn last record: under one record left */
            ASSERT((uint64_t)sb.st_size - capfile_offset(r) < 400);
        else
            ASSERT_EQ(capfile_offset(r), (uint64_t)sb.st_size);
        capfile_reader_free(r);
    }
}

/* ---- Randomness -------------------------------------------------------- */

static void simrand_is_uniform_and_normal(void)
{
    struct simrand r;
    double sum = 0, sum2 = 0;
    uint64_t buckets[10] = {0};
    const int n = 200000;

    simrand_init(&r, test_seed());
    for (int i = 0; i < n; i++) {
        double z = simrand_normal(&r);
        sum += z;
        sum2 += z * z;
        buckets[simrand_below(&r, 10)]++;
    }
    ASSERT_NEAR(sum / n, 0.0, 0.02);
    ASSERT_NEAR(sum2 / n, 1.0, 0.02);
    for (int i = 0; i < 10; i++)
        within(buckets[i], n, 0.1, "bucket");
}

static const struct test tests[] = {
    {"same_seed_same_bytes", same_seed_same_bytes},
    {"faults_do_not_move_the_signal", faults_do_not_move_the_signal},
    {"run_out_capture_is_deterministic", run_out_capture_is_deterministic},
    {"pb_payloads_decode_or_fail_as_labelled",
     pb_payloads_decode_or_fail_as_labelled},
    {"batch_payloads_decode_or_fail_as_labelled",
     batch_payloads_decode_or_fail_as_labelled},
    {"json_payloads_decode_or_fail_as_labelled",
     json_payloads_decode_or_fail_as_labelled},
    {"seqs_are_consecutive_per_device", seqs_are_consecutive_per_device},
    {"batch_shares_one_seq_and_restart_resets",
     batch_shares_one_seq_and_restart_resets},
    {"scheduled_gap_silences_a_window", scheduled_gap_silences_a_window},
    {"fault_rates_over_100k_readings", fault_rates_over_100k_readings},
    {"episode_faults", episode_faults},
    {"building_rule_and_drift", building_rule_and_drift},
    {"machine_wear_and_failures", machine_wear_and_failures},
    {"extra_sensors_are_named", extra_sensors_are_named},
    {"fault_specs", fault_specs},
    {"unknown_fault_device_is_refused", unknown_fault_device_is_refused},
    {"capture_round_trip_and_truncation", capture_round_trip_and_truncation},
    {"garbage_capture_is_corrupt", garbage_capture_is_corrupt},
    {"killed_writer_leaves_whole_records", killed_writer_leaves_whole_records},
    {"simrand_is_uniform_and_normal", simrand_is_uniform_and_normal},
    {NULL, NULL}};

int main(int argc, char **argv)
{
    return test_main(argc, argv, tests);
}
