/* feed.c -- where, when and how long weir-sim's commands publish (see
 * feed.h).
 *
 * Cost model: per message, a branch for the destination, at most one
 * clock read for pacing (none with --max) and a progress check that is a
 * single test when stderr is not a terminal; every 64 counts, one clock
 * read and one sigpending() for the stop conditions. Next to a Paho
 * publish (a mutex, a copy and a socket write) this is noise, which
 * `make bench-sim` checks against a minimal Paho publisher.
 *
 * Threads: the caller's thread; Paho's threads only inside mqttpub. */
#include "sim/feed.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim/capfile.h"
#include "sim/cli.h"
#include "sim/pace.h"
#include "sim/progress.h"

#define FEED_DRAIN_MS 30000 /* wait for acknowledgements at the end */
#define FEED_POLL_MASK 63u  /* stop conditions every 64 counts */

struct feed {
    const char *cmd;            /* For errors (borrowed, static). */
    struct mqttpub *pub;        /* Broker, or NULL. */
    struct capfile_writer *cap; /* Capture file, or NULL. */
    const char *out;            /* Its path (borrowed). */
    double speed;               /* Data-time scale; 0 = none. */
    struct pace bucket;         /* --rate (rate 0 = unlimited). */
    bool have_origin;           /* origin_* are set. */
    int64_t origin_data_ns;     /* Data time of the first message. */
    int64_t origin_ns;          /* Monotonic time it was sent at. */
    uint64_t limit;             /* Units; 0 = none. */
    int64_t until_ns;           /* Monotonic deadline; INT64_MAX: none. */
    uint64_t counts;            /* feed_count() calls. */
    bool stop;                  /* A stop condition was met. */
    struct progress prog;       /* The status line. */
    int64_t t0_ns;              /* Monotonic time of feed_new(). */
    int64_t t1_ns;              /* Of feed_finish(); 0 before. */
    struct feed_stats st;       /* units, msgs; the rest on demand. */
};

void feed_opts_init(struct feed_opts *o)
{
    memset(o, 0, sizeof(*o));
    mqttpub_opts_init(&o->pub);
    o->pub.uri = CLI_DEFAULT_BROKER;
}

/* The broker options. */
static int feed_pub_opt(struct feed_opts *o, const char *cmd, int c,
                        const char *v)
{
    uint64_t u;

    switch (c) {
    case 'b':
        o->pub.uri = v;
        return 0;
    case 'C':
        if (cli_u64(cmd, "--conns", v, 1, MQTTPUB_MAX_CONNS, &u) < 0)
            return -EINVAL;
        o->pub.conns = (unsigned)u;
        return 0;
    case 'I':
        if (cli_u64(cmd, "--inflight", v, 1, 1000000, &u) < 0)
            return -EINVAL;
        o->pub.max_inflight = (unsigned)u;
        return 0;
    case 'i':
        o->pub.client_id = v;
        return 0;
    case 'q':
        if (cli_u64(cmd, "--qos", v, 0, 2, &u) < 0)
            return -EINVAL;
        o->qos = (int)u;
        return 0;
    default:
        return 1;
    }
}

int feed_opt(struct feed_opts *o, const char *cmd, int c, const char *v)
{
    switch (c) {
    case 'r':
        o->speed = 0;
        return cli_double(cmd, "--rate", v, 1e-3, 1e9, &o->rate);
    case 'x':
        o->rate = 0;
        return cli_double(cmd, "--speed", v, 1e-6, 1e12, &o->speed);
    case 'M':
        o->rate = o->speed = 0;
        return 0;
    case 'c':
        return cli_u64(cmd, "--count", v, 1, UINT64_MAX / 2, &o->limit);
    case 'D':
        return cli_seconds(cmd, "--duration", v, &o->duration_s);
    case 'o':
        o->out = v;
        return 0;
    case 'y':
        o->dry = true;
        return 0;
    case 'Q':
        o->quiet = true;
        return 0;
    default:
        return feed_pub_opt(o, cmd, c, v);
    }
}

int feed_new(struct feed **out, const struct feed_opts *o, const char *cmd,
             const char *unit)
{
    struct feed *f = calloc(1, sizeof(*f));
    char err[512];
    int rc = 0;

    if (f == NULL)
        return -ENOMEM;
    f->cmd = cmd;
    f->out = o->out;
    if (o->out)
        rc = capfile_create(&f->cap, o->out, 64, err, sizeof(err));
    else if (!o->dry)
        rc = mqttpub_new(&f->pub, &o->pub, err, sizeof(err));
    if (rc < 0) {
        cli_error(cmd, "%s", err);
        free(f);
        return rc;
    }
    f->speed = o->speed;
    pace_init(&f->bucket, o->rate);
    f->limit = o->limit;
    f->t0_ns = pace_now_ns();
    f->until_ns = o->duration_s > 0 ? f->t0_ns + (int64_t)(o->duration_s * 1e9)
                                    : INT64_MAX;
    progress_init(&f->prog, o->quiet, unit, o->expect ? o->expect : o->limit,
                  o->duration_s);
    *out = f;
    return 0;
}

void feed_wait(struct feed *f, int64_t data_ns, double units)
{
    double rel;

    if (f->pub == NULL)
        return;
    if (f->speed <= 0) {
        pace_take(&f->bucket, units);
        return;
    }
    if (!f->have_origin) {
        f->origin_data_ns = data_ns;
        f->origin_ns = pace_now_ns();
        f->have_origin = true;
    }
    rel = (double)(data_ns - f->origin_data_ns) / f->speed;
    if (rel > 0)
        pace_sleep_until(f->origin_ns + (int64_t)rel);
}

int feed_send(struct feed *f, unsigned key, const char *topic,
              const void *payload, size_t len, int qos, bool retained,
              int64_t stamp_ns)
{
    int rc = 0;

    if (f->pub != NULL) {
        rc = mqttpub_publish(f->pub, key, topic, payload, len, qos, retained);
        if (rc == -EIO)
            rc = 0; /* counted in the broker's failed; go on */
    } else if (f->cap != NULL) {
        struct codec_capture c = {
            .topic = (char *)topic,
            .payload = (uint8_t *)payload,
            .payload_len = len,
            .recv_ns = stamp_ns,
            .qos = qos,
            .retained = retained,
        };
        rc = capfile_write(f->cap, &c);
    }
    if (rc == 0)
        f->st.msgs++;
    return rc;
}

bool feed_count(struct feed *f, uint64_t units)
{
    f->st.units += units;
    if (f->prog.on) /* not a call per message when there is no line */
        progress_update(&f->prog, f->st.units, f->st.msgs, false);
    if (f->limit > 0 && f->st.units >= f->limit)
        f->stop = true;
    if ((++f->counts & FEED_POLL_MASK) == 0 &&
        (cli_stop_requested() || pace_now_ns() >= f->until_ns))
        f->stop = true;
    return !f->stop;
}

int feed_finish(struct feed *f)
{
    int rc = 0;

    progress_done(&f->prog, f->st.units, f->st.msgs);
    if (f->pub && mqttpub_drain(f->pub, FEED_DRAIN_MS) < 0) {
        cli_error(f->cmd, "%llu messages still in flight after %d s",
                  (unsigned long long)mqttpub_inflight(f->pub),
                  FEED_DRAIN_MS / 1000);
        rc = -ETIMEDOUT;
    }
    if (capfile_close(f->cap) < 0) {
        cli_error(f->cmd, "%s: write failed", f->out);
        rc = -EIO;
    }
    f->cap = NULL;
    f->t1_ns = pace_now_ns();
    return rc;
}

void feed_stats(const struct feed *f, struct feed_stats *out)
{
    *out = f->st;
    out->elapsed_s =
        (double)((f->t1_ns ? f->t1_ns : pace_now_ns()) - f->t0_ns) * 1e-9;
    out->broker = f->pub != NULL;
    memset(&out->pub, 0, sizeof(out->pub));
    if (f->pub)
        mqttpub_stats(f->pub, &out->pub);
}

void feed_free(struct feed *f)
{
    if (f == NULL)
        return;
    mqttpub_free(f->pub);
    capfile_close(f->cap);
    free(f);
}
