/* replay.c -- `weir-sim replay FILE`: publish the messages of a capture
 * file again, keeping their inter-arrival times scaled by --speed (or as
 * fast as possible with --max), optionally looping and rewriting topics.
 *
 * Timing: message k is published at start + (recv_ns[k] - recv_ns[0]) /
 * speed on the monotonic clock, so delays do not accumulate: a late message
 * is sent at once and the next one is still aimed at its own time. A loop
 * continues the timeline: the next pass starts one mean gap after the last
 * message of the previous one. Timestamps that go backwards in the file
 * are sent at once. This file turns the passes into one data clock;
 * sim/feed paces, publishes and stops.
 *
 * A file that ends in a truncated or corrupt record is replayed up to that
 * record; the command then reports where it stopped and exits with 3.
 *
 * Threads: main thread; Paho's threads inside mqttpub. */
#include "sim/replay.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/capfile.h"
#include "sim/cli.h"
#include "sim/feed.h"

#define CMD "replay"

struct replay_args {
    const char *file;      /* Capture to replay. */
    struct feed_opts feed; /* Broker, --speed, --count messages, ... */
    uint64_t loops;        /* Passes; 0 = forever. */
    const char *prefix;    /* Prepended as "P/", or NULL. */
    char from[256];        /* s/from/to/: first occurrence. */
    char to[256];
    bool rewrite; /* from/to set. */
};

static const struct option long_opts[] = {
    {"speed", required_argument, NULL, 'x'},
    {"loop", optional_argument, NULL, 'l'},
    {"topic-prefix", required_argument, NULL, 'P'},
    {"rewrite", required_argument, NULL, 'R'},
    FEED_LONG_OPTS};

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

/* Called by cli_parse() for each option. */
static int parse_one(void *ctx, int c, const char *v)
{
    struct replay_args *a = ctx;

    switch (c) {
    case 'l':
        a->loops = 0;
        return v ? cli_u64(CMD, "--loop", v, 1, UINT64_MAX / 2, &a->loops) : 0;
    case 'P':
        a->prefix = v;
        return 0;
    case 'R':
        return parse_rewrite(a, v);
    default:
        return feed_opt(&a->feed, CMD, c, v) == 0 ? 0 : -EINVAL;
    }
}

static int parse_args(struct replay_args *a, int argc, char **argv)
{
    int first;
    int rc;

    memset(a, 0, sizeof(*a));
    feed_opts_init(&a->feed);
    a->feed.speed = 1.0;
    a->feed.qos = -1; /* as recorded */
    a->loops = 1;
    rc = cli_parse(CMD, argc, argv, long_opts, parse_one, a, &first);
    if (rc != 0)
        return rc;
    if (first + 1 != argc) {
        cli_error(CMD, first == argc ? "no capture file given"
                                     : "give exactly one capture file");
        return -EINVAL;
    }
    a->file = argv[first];
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

/* One continuous data clock over every pass: a later pass starts one mean
 * gap after the last message of the previous one. */
struct timeline {
    int64_t first_rec; /* recv_ns of this pass's first record. */
    int64_t last_rec;  /* recv_ns of the previous record. */
    int64_t base_ns;   /* Data time of this pass's first record. */
    uint64_t in_pass;  /* Records in this pass so far. */
};

/* The data time of a record of this pass received at recv_ns. */
static int64_t data_time(struct timeline *tl, int64_t recv_ns)
{
    if (tl->in_pass++ == 0)
        tl->first_rec = recv_ns;
    tl->last_rec = recv_ns;
    return tl->base_ns + (recv_ns - tl->first_rec);
}

/* Start the next pass. */
static void next_pass(struct timeline *tl)
{
    int64_t span = tl->last_rec - tl->first_rec;
    int64_t gap = tl->in_pass > 1 ? span / (int64_t)(tl->in_pass - 1) : 0;

    tl->base_ns += span + gap;
    tl->in_pass = 0;
}

/* One pass over the file; 0 at its end, 1 to stop, <0 on a bad record. */
static int pass(const struct replay_args *a, struct capfile_reader *rd,
                struct feed *f, struct timeline *tl)
{
    struct codec_capture c;
    char topic[CAPFILE_TOPIC_MAX + 300];
    int rc;

    while ((rc = capfile_next(rd, &c)) == 1) {
        if (make_topic(a, c.topic, topic, sizeof(topic)) < 0) {
            cli_error(CMD, "topic '%.200s' too long after rewriting", c.topic);
            continue;
        }
        feed_wait(f, data_time(tl, c.recv_ns), 1);
        rc = feed_send(f, topic_key(topic), topic, c.payload, c.payload_len,
                       a->feed.qos >= 0 ? a->feed.qos : c.qos, c.retained,
                       c.recv_ns);
        if (rc < 0)
            return rc;
        if (!feed_count(f, 1))
            return 1;
    }
    return rc;
}

static int replay_loop(const struct replay_args *a, struct capfile_reader *rd,
                       struct feed *f)
{
    struct timeline tl = {0};
    int rc = 0;

    for (uint64_t p = 0; a->loops == 0 || p < a->loops; p++) {
        if (p > 0) {
            if (capfile_rewind(rd) < 0) {
                cli_error(CMD, "%s: cannot rewind for --loop (not a file?)",
                          a->file);
                rc = -ESPIPE;
                break;
            }
            next_pass(&tl);
        }
        rc = pass(a, rd, f, &tl);
        if (rc != 0 || tl.in_pass == 0)
            break;
    }
    return rc;
}

int replay_main(int argc, char **argv)
{
    struct replay_args a;
    struct capfile_reader *rd = NULL;
    struct feed *f = NULL;
    struct feed_stats st;
    bool drained = true;
    char err[512];
    int rc;

    if ((rc = parse_args(&a, argc, argv)) != 0)
        return rc > 0 ? (replay_usage(stdout), CLI_OK) : CLI_USAGE;
    if (capfile_open(&rd, a.file, err, sizeof(err)) < 0) {
        cli_error(CMD, "%s", err);
        return CLI_FAIL;
    }
    if (feed_new(&f, &a.feed, CMD, "messages") < 0) {
        capfile_reader_free(rd);
        return CLI_FAIL;
    }
    rc = replay_loop(&a, rd, f);
    /* Messages still unacknowledged after the drain are reported by
     * feed_finish() and fail the command, as in run and csv: a replay
     * that may have lost messages must not look complete to a script. */
    if (feed_finish(f) < 0)
        drained = false;
    feed_stats(f, &st);
    if (!a.feed.quiet)
        fprintf(stderr,
                "weir-sim: replay: %llu messages in %.2f s; "
                "completed=%llu failed=%llu\n",
                (unsigned long long)st.msgs, st.elapsed_s,
                (unsigned long long)st.pub.completed,
                (unsigned long long)st.pub.failed);
    feed_free(f);
    if (rc < 0 && rc != -ESPIPE)
        cli_error(CMD, "%s; replayed the %llu messages before it",
                  capfile_error(rd), (unsigned long long)st.msgs);
    capfile_reader_free(rd);
    if (rc == -ESPIPE || (rc == 0 && !drained))
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
          "reported; the exit code is then 3. Messages the broker has not\n"
          "acknowledged 30 s after the last one make the exit code 1.\n",
          f);
}
