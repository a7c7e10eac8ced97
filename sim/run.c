/* run.c -- `weir-sim run`: generate a synthetic scenario with faults and
 * publish it (or write it to a capture file, or just count and hash it).
 *
 * The generator (simgen) is deterministic; this file adds the wall clock:
 * a token bucket on readings per second (or none with --max), --duration,
 * the progress line and stop signals. With --out, every message goes to a
 * capture file instead of a broker, stamped with the time it would have
 * been published at the requested rate (k-th reading at k / rate s after
 * the simulated start; with --max, its simulated sample time), so that
 * `weir-sim replay` reproduces the paced run exactly.
 *
 * The summary line on stderr ends with "hash=0x..." -- FNV-1a 64 over every
 * message's topic, a NUL and its payload, in order -- so two runs can be
 * compared without keeping their output.
 *
 * Threads: main thread; Paho's threads inside mqttpub. */
#include "sim/run.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/capfile.h"
#include "sim/cli.h"
#include "sim/mqttpub.h"
#include "sim/pace.h"
#include "sim/progress.h"
#include "sim/simgen.h"

#define CMD "run"

struct run_args {
    struct simgen_opts g;    /* Generator options. */
    struct mqttpub_opts pub; /* Broker options. */
    int qos;                 /* 0..2. */
    double rate;             /* Readings/s; 0 with --max. */
    double duration_s;       /* Wall-clock limit; 0 = none. */
    const char *out;         /* Capture file, or NULL. */
    bool dry;                /* No broker, no file. */
    bool quiet;              /* No progress, no summary. */
    const char *drift;       /* --drift-at text, resolved later. */
    bool period_set;         /* --period-ms given. */
};

/* FNV-1a 64 over topic, NUL, payload. */
static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

uint64_t run_hash_msg(uint64_t h, const char *topic, const uint8_t *payload,
                      size_t len)
{
    h = fnv(h, (const uint8_t *)topic, strlen(topic) + 1);
    return fnv(h, payload, len);
}

static const struct option long_opts[] = {
    {"scenario", required_argument, NULL, 's'},
    {"devices", required_argument, NULL, 'd'},
    {"sensors", required_argument, NULL, 'n'},
    {"rate", required_argument, NULL, 'r'},
    {"max", no_argument, NULL, 'M'},
    {"count", required_argument, NULL, 'c'},
    {"duration", required_argument, NULL, 'D'},
    {"seed", required_argument, NULL, 'S'},
    {"start", required_argument, NULL, 'T'},
    {"period-ms", required_argument, NULL, 'p'},
    {"drift-at", required_argument, NULL, 'A'},
    {"fault", required_argument, NULL, 'f'},
    {"format", required_argument, NULL, 'F'},
    {"topic-prefix", required_argument, NULL, 'P'},
    {"ledger", required_argument, NULL, 'L'},
    {"out", required_argument, NULL, 'o'},
    {"dry-run", no_argument, NULL, 'y'},
    {"broker", required_argument, NULL, 'b'},
    {"qos", required_argument, NULL, 'q'},
    {"conns", required_argument, NULL, 'C'},
    {"inflight", required_argument, NULL, 'I'},
    {"client-id", required_argument, NULL, 'i'},
    {"quiet", no_argument, NULL, 'Q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};

static int parse_one(struct run_args *a, int c, const char *v)
{
    uint64_t u;
    char err[256];

    switch (c) {
    case 's':
        if (scenario_kind_parse(v, &a->g.scenario.kind) == 0)
            return 0;
        cli_error(CMD, "--scenario: '%s' is not building or machine", v);
        return -EINVAL;
    case 'd':
        if (cli_u64(CMD, "--devices", v, 1, SCENARIO_MAX_DEVICES, &u) < 0)
            return -EINVAL;
        a->g.scenario.devices = (size_t)u;
        return 0;
    case 'n':
        if (cli_u64(CMD, "--sensors", v, 1, SCENARIO_MAX_SENSORS, &u) < 0)
            return -EINVAL;
        a->g.scenario.sensors = (size_t)u;
        return 0;
    case 'r':
        return cli_double(CMD, "--rate", v, 1e-3, 1e9, &a->rate);
    case 'M':
        a->rate = 0;
        return 0;
    case 'c':
        return cli_u64(CMD, "--count", v, 1, UINT64_MAX / 2,
                       &a->g.max_readings);
    case 'D':
        return cli_seconds(CMD, "--duration", v, &a->duration_s);
    case 'S':
        return cli_u64(CMD, "--seed", v, 0, UINT64_MAX, &a->g.scenario.seed);
    case 'T':
        return cli_time_ms(CMD, "--start", v, &a->g.scenario.start_ms);
    case 'p':
        if (cli_u64(CMD, "--period-ms", v, 1, 86400000ULL * 365, &u) < 0)
            return -EINVAL;
        a->g.scenario.period_ms = (int64_t)u;
        a->period_set = true;
        return 0;
    case 'A':
        a->drift = v;
        return 0;
    case 'f':
        if (faults_parse(&a->g.faults, v, err, sizeof(err)) == 0)
            return 0;
        cli_error(CMD, "--fault: %s", err);
        return -EINVAL;
    case 'F':
        if (encode_format_parse(v, &a->g.format) == 0)
            return 0;
        cli_error(CMD,
                  "--format: '%s' is not pb, batch, json, json-batch "
                  "or senml",
                  v);
        return -EINVAL;
    case 'P':
        a->g.topic_prefix = v;
        return 0;
    case 'L':
        a->g.ledger_path = v;
        return 0;
    case 'o':
        a->out = v;
        return 0;
    case 'y':
        a->dry = true;
        return 0;
    case 'b':
        a->pub.uri = v;
        return 0;
    case 'q':
        if (cli_u64(CMD, "--qos", v, 0, 2, &u) < 0)
            return -EINVAL;
        a->qos = (int)u;
        return 0;
    case 'C':
        if (cli_u64(CMD, "--conns", v, 1, MQTTPUB_MAX_CONNS, &u) < 0)
            return -EINVAL;
        a->pub.conns = (unsigned)u;
        return 0;
    case 'I':
        if (cli_u64(CMD, "--inflight", v, 1, 1000000, &u) < 0)
            return -EINVAL;
        a->pub.max_inflight = (unsigned)u;
        return 0;
    case 'i':
        a->pub.client_id = v;
        return 0;
    case 'Q':
        a->quiet = true;
        return 0;
    default:
        return -EINVAL;
    }
}

/* --drift-at SEC (simulated seconds after the start) or N% of the run. */
static int resolve_drift(struct run_args *a)
{
    struct scenario_opts *s = &a->g.scenario;
    size_t per = (s->sensors ? s->sensors : 4) + 1;
    size_t len;
    double v;
    char num[64];

    s->drift_at_ms = -1;
    if (a->drift == NULL)
        return 0;
    len = strlen(a->drift);
    if (len > 1 && len < sizeof(num) && a->drift[len - 1] == '%') {
        memcpy(num, a->drift, len - 1);
        num[len - 1] = '\0';
        if (cli_double(CMD, "--drift-at", num, 0, 100, &v) < 0)
            return -EINVAL;
        if (a->g.max_readings == 0) {
            cli_error(CMD, "--drift-at %s needs --count", a->drift);
            return -EINVAL;
        }
        double ticks =
            ceil((double)a->g.max_readings / (double)(per * s->devices));
        s->drift_at_ms =
            s->start_ms + (int64_t)(ticks * v / 100.0) * s->period_ms;
        return 0;
    }
    if (cli_seconds(CMD, "--drift-at", a->drift, &v) < 0)
        return -EINVAL;
    s->drift_at_ms = s->start_ms + llround(v * 1000.0);
    return 0;
}

static int parse_args(struct run_args *a, int argc, char **argv)
{
    int c;

    memset(a, 0, sizeof(*a));
    a->g.scenario.kind = SCENARIO_BUILDING;
    a->g.scenario.devices = 10;
    a->g.scenario.seed = 1;
    a->g.scenario.start_ms = 1704067200000LL; /* 2024-01-01T00:00:00Z */
    a->g.format = ENCODE_PB;
    a->rate = 1000;
    a->qos = 0;
    mqttpub_opts_init(&a->pub);
    a->pub.uri = CLI_DEFAULT_BROKER;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+", long_opts, NULL)) != -1) {
        if (c == 'h')
            return 1;
        if (c == '?' || c == ':') {
            cli_error(CMD,
                      "unknown or incomplete option '%s' (see weir-sim "
                      "run --help)",
                      argv[optind - 1]);
            return -EINVAL;
        }
        if (parse_one(a, c, optarg) < 0)
            return -EINVAL;
    }
    if (optind < argc) {
        cli_error(CMD, "unexpected argument '%s'", argv[optind]);
        return -EINVAL;
    }
    if (!a->period_set)
        a->g.scenario.period_ms =
            a->g.scenario.kind == SCENARIO_BUILDING ? 60000 : 1000;
    if (a->out && a->dry) {
        cli_error(CMD, "--out and --dry-run exclude each other");
        return -EINVAL;
    }
    return resolve_drift(a);
}

struct sink {
    struct mqttpub *pub;        /* Or NULL. */
    struct capfile_writer *cap; /* Or NULL. */
    int qos;                    /* For both. */
    int64_t t0_ns;              /* Capture time origin. */
    double rate;                /* For capture timestamps. */
};

static int emit(struct sink *s, const struct simgen_msg *m,
                uint64_t readings_before)
{
    if (s->pub != NULL) {
        int rc = mqttpub_publish(s->pub, (unsigned)m->device, m->topic,
                                 m->payload, m->len, s->qos, false);
        return rc == -EIO ? 0 : rc; /* counted as failed; go on */
    }
    if (s->cap != NULL) {
        struct codec_capture c = {
            .topic = (char *)m->topic,
            .payload = (uint8_t *)m->payload,
            .payload_len = m->len,
            .qos = s->qos,
        };
        c.recv_ns =
            s->rate > 0
                ? s->t0_ns + (int64_t)((double)readings_before / s->rate * 1e9)
                : m->sim_ms * 1000000;
        return capfile_write(s->cap, &c);
    }
    return 0;
}

static void summary(const struct run_args *a, struct simgen *g,
                    struct mqttpub *pub, uint64_t hash, double el)
{
    struct simgen_stats st;
    struct mqttpub_stats ps = {0};
    char faults[512] = "";
    size_t k = 0;

    simgen_stats(g, &st);
    if (pub)
        mqttpub_stats(pub, &ps);
    for (int b = 0; b < FAULT__BITS; b++)
        if (st.per_bit[b] && k < sizeof(faults))
            k += (size_t)snprintf(faults + k, sizeof(faults) - k, " %s=%llu",
                                  faults_bit_name(1u << b),
                                  (unsigned long long)st.per_bit[b]);
    if (a->quiet)
        return;
    fprintf(stderr,
            "weir-sim: run: %llu readings in %llu messages (%llu bytes) in "
            "%.2f s, %.0f readings/s%s; gap_samples=%llu%s "
            "hash=0x%016" PRIx64 "\n",
            (unsigned long long)st.readings_out,
            (unsigned long long)st.messages, (unsigned long long)st.bytes, el,
            el > 0 ? (double)st.readings_out / el : 0.0,
            pub ? "" : (a->out ? " to capture" : " (dry run)"),
            (unsigned long long)st.gap_samples, faults, hash);
    if (pub)
        fprintf(stderr,
                "weir-sim: run: published=%llu completed=%llu "
                "failed=%llu disconnects=%llu\n",
                (unsigned long long)ps.published,
                (unsigned long long)ps.completed, (unsigned long long)ps.failed,
                (unsigned long long)ps.disconnects);
}

static int loop(struct run_args *a, struct simgen *g, struct sink *s,
                uint64_t *hash)
{
    struct pace pace;
    struct progress prog;
    const struct simgen_msg *m;
    uint64_t readings = 0;
    uint64_t n = 0;
    int64_t t0 = pace_now_ns();
    int64_t until =
        a->duration_s > 0 ? t0 + (int64_t)(a->duration_s * 1e9) : INT64_MAX;
    int rc;

    pace_init(&pace, s->pub ? a->rate : 0);
    progress_init(&prog, a->quiet, "readings", a->g.max_readings,
                  a->duration_s);
    while ((rc = simgen_next(g, &m)) == 1) {
        pace_take(&pace, (double)m->n);
        if ((rc = emit(s, m, readings)) < 0)
            break;
        *hash = run_hash_msg(*hash, m->topic, m->payload, m->len);
        readings += m->n;
        if ((++n & 255) == 0) {
            progress_update(&prog, readings, n, false);
            if (pace_now_ns() >= until || cli_stop_requested())
                simgen_finish(g);
        }
    }
    progress_done(&prog, readings, n);
    return rc;
}

int run_main(int argc, char **argv)
{
    struct run_args a;
    struct simgen *g = NULL;
    struct sink s = {0};
    char err[512];
    uint64_t hash = 0xcbf29ce484222325ULL;
    int64_t t0;
    int rc;

    rc = parse_args(&a, argc, argv);
    if (rc != 0)
        return rc > 0 ? (run_usage(stdout), CLI_OK) : CLI_USAGE;
    s.qos = a.qos;
    s.rate = a.rate;
    s.t0_ns = a.g.scenario.start_ms * 1000000;
    if ((rc = simgen_new(&g, &a.g, err, sizeof(err))) < 0) {
        cli_error(CMD, "%s", err);
        return rc == -EINVAL || rc == -ENOTSUP ? CLI_USAGE : CLI_FAIL;
    }
    if (a.out && capfile_create(&s.cap, a.out, 64, err, sizeof(err)) < 0) {
        cli_error(CMD, "%s", err);
        simgen_free(g);
        return CLI_FAIL;
    }
    if (!a.out && !a.dry && mqttpub_new(&s.pub, &a.pub, err, sizeof(err)) < 0) {
        cli_error(CMD, "%s", err);
        simgen_free(g);
        return CLI_FAIL;
    }
    t0 = pace_now_ns();
    rc = loop(&a, g, &s, &hash);
    if (rc < 0)
        cli_error(CMD, "%s",
                  a.out ? "cannot write the capture file" : "generator failed");
    if (s.pub && mqttpub_drain(s.pub, 30000) < 0) {
        cli_error(CMD, "%llu messages still in flight after 30 s",
                  (unsigned long long)mqttpub_inflight(s.pub));
        rc = -ETIMEDOUT;
    }
    summary(&a, g, s.pub, hash, (double)(pace_now_ns() - t0) * 1e-9);
    mqttpub_free(s.pub);
    if (capfile_close(s.cap) < 0) {
        cli_error(CMD, "%s: write failed", a.out);
        rc = -EIO;
    }
    if (simgen_free(g) < 0) {
        cli_error(CMD, "%s: ledger write failed", a.g.ledger_path);
        rc = -EIO;
    }
    return rc < 0 ? CLI_FAIL : CLI_OK;
}

void run_usage(FILE *f)
{
    fputs(
        "usage: weir-sim run [options]\n"
        "Generate a synthetic sensor stream with faults and publish it.\n"
        "\n"
        "World\n"
        "  --scenario building|machine  rooms (temperature, humidity, light, "
        "co2;\n"
        "                         label occupancy) or machines (vibration,\n"
        "                         temperature, current; label failure) "
        "[building]\n"
        "  --devices N            devices [10]\n"
        "  --sensors N            sensors per device (extra ones are aux1.. "
        "noise)\n"
        "  --seed N               everything follows from it [1]\n"
        "  --start TIME           simulated time of the first sample: "
        "ISO-8601,\n"
        "                         epoch s/ms, or now [2024-01-01T00:00:00Z]\n"
        "  --period-ms N          simulated ms between a device's samples\n"
        "                         [60000 building, 1000 machine]\n"
        "  --drift-at SEC|N%      the hidden rule changes SEC simulated "
        "seconds\n"
        "                         after the start, or N% into a --count run\n"
        "Amount and pace\n"
        "  --count N              stop after N readings sampled\n"
        "  --duration S           stop after S wall-clock seconds (10, 500ms, "
        "2m)\n"
        "  --rate R               readings per second, token bucket [1000]\n"
        "  --max                  as fast as the broker takes them\n"
        "Faults (repeatable): --fault NAME=RATE[:k=v] or NAME@SEC[+DUR][:k=v]\n"
        "  dup reorder(window=8) corrupt(kind=trunc|bytes|type) drop   per "
        "message\n"
        "  nan(kind=nan|inf) spike(mag=10)                             per "
        "reading\n"
        "  stuck(len=60) gap(len=30) skew(ms=600000,len=600) restart   per "
        "device\n"
        "  any: dev=NAME (one device); schedules: p=RATE inside the window\n"
        "  e.g. --fault dup=0.01 --fault corrupt=0.001:kind=trunc\n"
        "       --fault restart@3600:dev=room-002 --fault gap@7200+600\n"
        "Output\n"
        "  --format pb|batch|json|json-batch|senml   payloads [pb]\n"
        "         pb, json: one reading per message on PREFIX/DEVICE/SENSOR;\n"
        "         batch, json-batch, senml: one message per sample on "
        "PREFIX/DEVICE\n"
        "  --topic-prefix P       [sensors]\n"
        "  --ledger FILE          CSV of every reading sent: "
        "msg,sent,device,seq,\n"
        "                         ts_ms,sensor,label,value,fault,expect\n"
        "  --out FILE             write a capture file instead of publishing\n"
        "  --dry-run              generate only (summary and stream hash)\n"
        "Broker\n"
        "  --broker URI [" CLI_DEFAULT_BROKER "]  --qos 0|1|2 [0]\n"
        "  --conns N [1]  --inflight N per connection [1024]  --client-id ID\n"
        "  --quiet                no progress line, no summary\n"
        "\n"
        "Same seed and options give the same messages byte for byte (the "
        "summary's\n"
        "hash= shows it); pacing decides only when they are published.\n",
        f);
}
