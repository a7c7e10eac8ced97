/* run.c -- `weir-sim run`: generate a synthetic scenario with faults and
 * publish it (or write it to a capture file, or just count and hash it).
 *
 * The generator (simgen) is deterministic; sim/feed adds the wall clock:
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
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/cli.h"
#include "sim/feed.h"
#include "sim/simgen.h"

#define CMD "run"

struct run_args {
    struct simgen_opts g;  /* Generator options. */
    struct feed_opts feed; /* Where, how fast; units are readings. */
    const char *drift;     /* --drift-at text, resolved later. */
    bool period_set;       /* --period-ms given. */
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
    FEED_LONG_OPTS};

/* Called by cli_parse() for each option. */
static int parse_one(void *ctx, int c, const char *v)
{
    struct run_args *a = ctx;
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
    case 'c': /* the generator stops itself; the feed shows the ETA */
        if (cli_u64(CMD, "--count", v, 1, UINT64_MAX / 2, &a->g.max_readings) <
            0)
            return -EINVAL;
        a->feed.expect = a->g.max_readings;
        return 0;
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
    default:
        return feed_opt(&a->feed, CMD, c, v) == 0 ? 0 : -EINVAL;
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
    int first;
    int rc;

    memset(a, 0, sizeof(*a));
    a->g.scenario.kind = SCENARIO_BUILDING;
    a->g.scenario.devices = 10;
    a->g.scenario.seed = 1;
    a->g.scenario.start_ms = 1704067200000LL; /* 2024-01-01T00:00:00Z */
    a->g.format = ENCODE_PB;
    feed_opts_init(&a->feed);
    a->feed.rate = 1000;
    rc = cli_parse(CMD, argc, argv, long_opts, parse_one, a, &first);
    if (rc != 0)
        return rc;
    if (first < argc) {
        cli_error(CMD, "unexpected argument '%s'", argv[first]);
        return -EINVAL;
    }
    if (!a->period_set)
        a->g.scenario.period_ms =
            a->g.scenario.kind == SCENARIO_BUILDING ? 60000 : 1000;
    if (a->feed.out && a->feed.dry) {
        cli_error(CMD, "--out and --dry-run exclude each other");
        return -EINVAL;
    }
    return resolve_drift(a);
}

/* The capture time of a message whose first reading is the k-th: k / rate
 * s after the simulated start, or with --max its simulated sample time. */
static int64_t stamp_ns(const struct run_args *a, const struct simgen_msg *m,
                        uint64_t k)
{
    if (a->feed.rate > 0)
        return a->g.scenario.start_ms * 1000000 +
               (int64_t)((double)k / a->feed.rate * 1e9);
    return m->sim_ms * 1000000;
}

static void summary(const struct run_args *a, struct simgen *g,
                    const struct feed *f, uint64_t hash)
{
    struct simgen_stats st;
    struct feed_stats fs;
    char faults[512] = "";
    size_t k = 0;

    simgen_stats(g, &st);
    feed_stats(f, &fs);
    for (int b = 0; b < FAULT__BITS; b++)
        if (st.per_bit[b] && k < sizeof(faults))
            k += (size_t)snprintf(faults + k, sizeof(faults) - k, " %s=%llu",
                                  faults_bit_name(1u << b),
                                  (unsigned long long)st.per_bit[b]);
    if (a->feed.quiet)
        return;
    fprintf(stderr,
            "weir-sim: run: %llu readings in %llu messages (%llu bytes) in "
            "%.2f s, %.0f readings/s%s; gap_samples=%llu%s "
            "hash=0x%016" PRIx64 "\n",
            (unsigned long long)st.readings_out,
            (unsigned long long)st.messages, (unsigned long long)st.bytes,
            fs.elapsed_s,
            fs.elapsed_s > 0 ? (double)st.readings_out / fs.elapsed_s : 0.0,
            fs.broker ? "" : (a->feed.out ? " to capture" : " (dry run)"),
            (unsigned long long)st.gap_samples, faults, hash);
    if (fs.broker)
        fprintf(stderr,
                "weir-sim: run: published=%llu completed=%llu "
                "failed=%llu disconnects=%llu\n",
                (unsigned long long)fs.pub.published,
                (unsigned long long)fs.pub.completed,
                (unsigned long long)fs.pub.failed,
                (unsigned long long)fs.pub.disconnects);
}

static int loop(const struct run_args *a, struct simgen *g, struct feed *f,
                uint64_t *hash)
{
    const struct simgen_msg *m;
    uint64_t readings = 0;
    bool stopping = false;
    int rc;

    while ((rc = simgen_next(g, &m)) == 1) {
        int64_t stamp = a->feed.out ? stamp_ns(a, m, readings) : 0;

        feed_wait(f, 0, (double)m->n);
        rc = feed_send(f, (unsigned)m->device, m->topic, m->payload, m->len,
                       a->feed.qos, false, stamp);
        if (rc < 0)
            break;
        *hash = run_hash_msg(*hash, m->topic, m->payload, m->len);
        readings += m->n;
        if (!feed_count(f, m->n) && !stopping) {
            simgen_finish(g); /* held messages still come out */
            stopping = true;
        }
    }
    return rc;
}

int run_main(int argc, char **argv)
{
    struct run_args a;
    struct simgen *g = NULL;
    struct feed *f = NULL;
    char err[512];
    uint64_t hash = 0xcbf29ce484222325ULL;
    int rc;

    rc = parse_args(&a, argc, argv);
    if (rc != 0)
        return rc > 0 ? (run_usage(stdout), CLI_OK) : CLI_USAGE;
    if ((rc = simgen_new(&g, &a.g, err, sizeof(err))) < 0) {
        cli_error(CMD, "%s", err);
        return rc == -EINVAL || rc == -ENOTSUP ? CLI_USAGE : CLI_FAIL;
    }
    if (feed_new(&f, &a.feed, CMD, "readings") < 0) {
        simgen_free(g);
        return CLI_FAIL;
    }
    rc = loop(&a, g, f, &hash);
    if (rc < 0)
        cli_error(CMD, "%s",
                  a.feed.out ? "cannot write the capture file"
                             : "generator failed");
    if (feed_finish(f) < 0)
        rc = -EIO;
    summary(&a, g, f, hash);
    feed_free(f);
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
