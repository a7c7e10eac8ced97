/* replay.c -- `weir-sim replay FILE`: publish the messages of a capture
 * file again, keeping their inter-arrival times scaled by --speed (or as
 * fast as possible with --max), optionally looping and rewriting topics.
 *
 * Timing: message k is published at start + (recv_ns[k] - recv_ns[0]) /
 * speed on the monotonic clock, so delays do not accumulate: a late message
 * is sent at once and the next one is still aimed at its own time. A loop
 * continues the timeline: the next pass starts one mean gap after the last
 * message of the previous one. Timestamps that go backwards in the file
 * are sent at once.
 *
 * A file that ends in a truncated or corrupt record is replayed up to that
 * record; the command then reports where it stopped and exits with 3.
 *
 * Threads: main thread; Paho's threads inside mqttpub. */
#include "sim/replay.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/capfile.h"
#include "sim/cli.h"
#include "sim/mqttpub.h"
#include "sim/pace.h"
#include "sim/progress.h"

#define CMD "replay"

struct replay_args {
    const char *file;        /* Capture to replay. */
    struct mqttpub_opts pub; /* Broker options. */
    double speed;            /* Time scale; 0 = --max. */
    int qos;                 /* -1 = as recorded. */
    uint64_t loops;          /* Passes; 0 = forever. */
    uint64_t limit;          /* Messages; 0 = all. */
    double duration_s;       /* 0 = none. */
    const char *prefix;      /* Prepended as "P/", or NULL. */
    char from[256];          /* s/from/to/: first occurrence. */
    char to[256];
    bool rewrite; /* from/to set. */
    bool quiet;
};

static const struct option long_opts[] = {
    {"broker", required_argument, NULL, 'b'},
    {"speed", required_argument, NULL, 'x'},
    {"max", no_argument, NULL, 'M'},
    {"loop", optional_argument, NULL, 'l'},
    {"count", required_argument, NULL, 'c'},
    {"duration", required_argument, NULL, 'D'},
    {"qos", required_argument, NULL, 'q'},
    {"topic-prefix", required_argument, NULL, 'P'},
    {"rewrite", required_argument, NULL, 'R'},
    {"conns", required_argument, NULL, 'C'},
    {"inflight", required_argument, NULL, 'I'},
    {"client-id", required_argument, NULL, 'i'},
    {"quiet", no_argument, NULL, 'Q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};

/* s/FROM/TO/ with any delimiter after the 's'. */
static int parse_rewrite(struct replay_args *a, const char *v)
{
    char d;
    const char *p, *q;

    if (v[0] != 's' || v[1] == '\0')
        goto bad;
    d = v[1];
    p = v + 2;
    q = strchr(p, d);
    if (q == NULL || q == p || (size_t)(q - p) >= sizeof(a->from))
        goto bad;
    memcpy(a->from, p, (size_t)(q - p));
    a->from[q - p] = '\0';
    p = q + 1;
    q = strchr(p, d);
    if (q == NULL || q[1] != '\0' || (size_t)(q - p) >= sizeof(a->to))
        goto bad;
    memcpy(a->to, p, (size_t)(q - p));
    a->to[q - p] = '\0';
    a->rewrite = true;
    return 0;
bad:
    cli_error(CMD, "--rewrite: '%s' is not s/FROM/TO/ (FROM non-empty)", v);
    return -EINVAL;
}

static int parse_one(struct replay_args *a, int c, const char *v)
{
    uint64_t u;

    switch (c) {
    case 'b':
        a->pub.uri = v;
        return 0;
    case 'x':
        return cli_double(CMD, "--speed", v, 1e-6, 1e9, &a->speed);
    case 'M':
        a->speed = 0;
        return 0;
    case 'l':
        a->loops = 0;
        return v ? cli_u64(CMD, "--loop", v, 1, UINT64_MAX / 2, &a->loops) : 0;
    case 'c':
        return cli_u64(CMD, "--count", v, 1, UINT64_MAX / 2, &a->limit);
    case 'D':
        return cli_seconds(CMD, "--duration", v, &a->duration_s);
    case 'q':
        if (cli_u64(CMD, "--qos", v, 0, 2, &u) < 0)
            return -EINVAL;
        a->qos = (int)u;
        return 0;
    case 'P':
        a->prefix = v;
        return 0;
    case 'R':
        return parse_rewrite(a, v);
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

static int parse_args(struct replay_args *a, int argc, char **argv)
{
    int c;

    memset(a, 0, sizeof(*a));
    mqttpub_opts_init(&a->pub);
    a->pub.uri = CLI_DEFAULT_BROKER;
    a->speed = 1.0;
    a->qos = -1;
    a->loops = 1;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+", long_opts, NULL)) != -1) {
        if (c == 'h')
            return 1;
        if (c == '?' || c == ':') {
            cli_error(CMD,
                      "unknown or incomplete option '%s' (see weir-sim "
                      "replay --help)",
                      argv[optind - 1]);
            return -EINVAL;
        }
        if (parse_one(a, c, optarg) < 0)
            return -EINVAL;
    }
    if (optind + 1 != argc) {
        cli_error(CMD, optind == argc ? "no capture file given"
                                      : "give exactly one capture file");
        return -EINVAL;
    }
    a->file = argv[optind];
    return 0;
}

/* The topic to publish: rewritten and/or prefixed. */
static int make_topic(const struct replay_args *a, const char *in, char *out,
                      size_t cap)
{
    char tmp[CAPFILE_TOPIC_MAX];
    const char *t = in;
    int k;

    if (a->rewrite) {
        const char *hit = strstr(in, a->from);
        if (hit != NULL) {
            k = snprintf(tmp, sizeof(tmp), "%.*s%s%s", (int)(hit - in), in,
                         a->to, hit + strlen(a->from));
            if (k < 0 || (size_t)k >= sizeof(tmp))
                return -ENAMETOOLONG;
            t = tmp;
        }
    }
    if (a->prefix)
        k = snprintf(out, cap, "%s/%s", a->prefix, t);
    else
        k = snprintf(out, cap, "%s", t);
    return k < 0 || (size_t)k >= cap || out[0] == '\0' ? -ENAMETOOLONG : 0;
}

static unsigned topic_key(const char *t)
{
    unsigned h = 2166136261u;

    for (; *t; t++)
        h = (h ^ (unsigned char)*t) * 16777619u;
    return h;
}

struct timeline {
    int64_t start_ns;  /* Monotonic time of the first message. */
    int64_t first_rec; /* recv_ns of this pass's first record. */
    int64_t last_rec;  /* recv_ns of the previous record. */
    int64_t offset_ns; /* Added for later passes. */
    int64_t span_ns;   /* last - first of the finished pass. */
    uint64_t in_pass;  /* Records in this pass so far. */
    bool started;
};

static void wait_for(const struct replay_args *a, struct timeline *tl,
                     int64_t recv_ns)
{
    if (!tl->started) {
        tl->start_ns = pace_now_ns();
        tl->first_rec = recv_ns;
        tl->started = true;
    } else if (tl->in_pass == 0) {
        tl->first_rec = recv_ns;
    }
    tl->in_pass++;
    tl->last_rec = recv_ns;
    if (a->speed <= 0)
        return;
    double rel = (double)(recv_ns - tl->first_rec) / a->speed;
    if (rel > 0)
        pace_sleep_until(tl->start_ns + tl->offset_ns + (int64_t)rel);
}

/* One pass over the file; 0 at its end, 1 to stop, <0 on a bad record. */
static int pass(const struct replay_args *a, struct capfile_reader *rd,
                struct mqttpub *pub, struct timeline *tl, uint64_t *sent,
                struct progress *prog, int64_t until)
{
    struct codec_capture c;
    char topic[CAPFILE_TOPIC_MAX + 300];
    int rc;

    while ((rc = capfile_next(rd, &c)) == 1) {
        if (make_topic(a, c.topic, topic, sizeof(topic)) < 0) {
            cli_error(CMD, "topic '%.200s' too long after rewriting", c.topic);
            continue;
        }
        wait_for(a, tl, c.recv_ns);
        rc = mqttpub_publish(pub, topic_key(topic), topic, c.payload,
                             c.payload_len, a->qos >= 0 ? a->qos : c.qos,
                             c.retained);
        if (rc < 0 && rc != -EIO)
            return rc;
        (*sent)++;
        progress_update(prog, *sent, *sent, false);
        if ((a->limit > 0 && *sent >= a->limit) ||
            ((*sent & 63) == 0 &&
             (cli_stop_requested() || pace_now_ns() >= until)))
            return 1;
    }
    return rc;
}

static int replay_loop(const struct replay_args *a, struct capfile_reader *rd,
                       struct mqttpub *pub, uint64_t *sent)
{
    struct timeline tl = {0};
    struct progress prog;
    int64_t until = a->duration_s > 0
                        ? pace_now_ns() + (int64_t)(a->duration_s * 1e9)
                        : INT64_MAX;
    int rc = 0;

    progress_init(&prog, a->quiet, "messages", a->limit, a->duration_s);
    for (uint64_t p = 0; a->loops == 0 || p < a->loops; p++) {
        if (p > 0) {
            int64_t span = tl.last_rec - tl.first_rec;
            int64_t gap = tl.in_pass > 1 ? span / (int64_t)(tl.in_pass - 1) : 0;
            if (capfile_rewind(rd) < 0) {
                cli_error(CMD, "%s: cannot rewind for --loop (not a file?)",
                          a->file);
                rc = -ESPIPE;
                break;
            }
            if (a->speed > 0)
                tl.offset_ns += (int64_t)((double)(span + gap) / a->speed);
            tl.in_pass = 0;
        }
        rc = pass(a, rd, pub, &tl, sent, &prog, until);
        if (rc != 0 || tl.in_pass == 0)
            break;
    }
    progress_done(&prog, *sent, *sent);
    return rc;
}

int replay_main(int argc, char **argv)
{
    struct replay_args a;
    struct capfile_reader *rd = NULL;
    struct mqttpub *pub = NULL;
    char err[512];
    uint64_t sent = 0;
    int64_t t0;
    int rc;

    if ((rc = parse_args(&a, argc, argv)) != 0)
        return rc > 0 ? (replay_usage(stdout), CLI_OK) : CLI_USAGE;
    if (capfile_open(&rd, a.file, err, sizeof(err)) < 0) {
        cli_error(CMD, "%s", err);
        return CLI_FAIL;
    }
    if (mqttpub_new(&pub, &a.pub, err, sizeof(err)) < 0) {
        cli_error(CMD, "%s", err);
        capfile_reader_free(rd);
        return CLI_FAIL;
    }
    t0 = pace_now_ns();
    rc = replay_loop(&a, rd, pub, &sent);
    if (mqttpub_drain(pub, 30000) < 0)
        cli_error(CMD, "messages still in flight after 30 s");
    if (!a.quiet) {
        struct mqttpub_stats st;
        mqttpub_stats(pub, &st);
        fprintf(stderr,
                "weir-sim: replay: %llu messages in %.2f s; "
                "completed=%llu failed=%llu\n",
                (unsigned long long)sent, (double)(pace_now_ns() - t0) * 1e-9,
                (unsigned long long)st.completed,
                (unsigned long long)st.failed);
    }
    mqttpub_free(pub);
    if (rc < 0 && rc != -ESPIPE)
        cli_error(CMD, "%s; replayed the %llu messages before it",
                  capfile_error(rd), (unsigned long long)sent);
    capfile_reader_free(rd);
    if (rc == -ESPIPE)
        return CLI_FAIL;
    return rc < 0 ? CLI_PARTIAL : CLI_OK;
}

void replay_usage(FILE *f)
{
    fputs("usage: weir-sim replay [options] FILE\n"
          "Publish a capture file (weir-sim record, or run --out) again.\n"
          "  --speed X              time scale: 10 = ten times faster [1]\n"
          "  --max                  as fast as possible\n"
          "  --loop[=N]             N passes (forever without N), timeline "
          "continues\n"
          "  --count N              stop after N messages\n"
          "  --duration S           stop after S seconds\n"
          "  --qos 0|1|2            override the recorded QoS\n"
          "  --topic-prefix P       publish on P/<topic>\n"
          "  --rewrite s/FROM/TO/   replace the first FROM in each topic "
          "(plain text;\n"
          "                         any delimiter: s|a/b|c/d|)\n"
          "  --broker URI [" CLI_DEFAULT_BROKER "]  --conns N  --inflight N\n"
          "  --client-id ID  --quiet\n"
          "Messages on one topic keep their order (one connection per topic "
          "hash).\n"
          "A truncated or corrupt capture is replayed up to the bad record, "
          "which is\n"
          "reported; the exit code is then 3.\n",
          f);
}
