/* record.c -- `weir-sim record`: subscribe to topic filters and write every
 * message to a capture file (sim/capfile.h) with its receive time.
 *
 * Messages arrive on Paho's callback thread, which encodes and writes them
 * (capfile_write) under a mutex; the main thread only waits, watches the
 * limits and signals, and calls capfile_sync() every --fsync interval
 * under the same mutex. Records are written whole: with the default
 * --flush 1 each record is one write(2) as it arrives, so a recorder that
 * is killed leaves a file of whole records (a SIGKILL during a write that
 * crosses a page boundary can tear the last one; readers then stop there
 * with "truncated record", see capfile.h); fsync(2) runs every --fsync
 * seconds (default 1) and at exit, for power loss.
 * A bigger --flush N batches N records per write (faster; a kill loses at
 * most the last N-1, still leaving whole records).
 *
 * Subscriptions are made in the connected callback, so they are renewed
 * after an automatic reconnect. Once the first SUBACK arrives the line
 * "weir-sim: record: subscribed ..." goes to stderr (scripts wait for it),
 * and "weir-sim: record: resubscribed after a reconnect" after each later
 * one.
 *
 * Threads: main thread, plus Paho's threads in on_* (each says so); struct
 * rec's fields below `mu` are under it. */
#include "sim/record.h"

#include <MQTTAsync.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim/capfile.h"
#include "sim/cli.h"
#include "sim/pace.h"
#include "sim/progress.h"

#define CMD "record"
#define MAX_FILTERS 16

struct rec {
    const char *uri;                  /* Broker. */
    const char *out;                  /* Capture path. */
    const char *filters[MAX_FILTERS]; /* Topic filters. */
    int nfilters;                     /* Entries used. */
    int qos;                          /* Subscription QoS. */
    uint64_t limit;                   /* Messages to record; 0 = no limit. */
    double duration_s;                /* 0 = no limit. */
    unsigned flush_every;             /* Records per write(2). */
    double fsync_s;                   /* fsync interval; 0 = only at exit. */
    bool quiet;                       /* No progress, no summary. */
    const char *client_id;            /* Or NULL. */
    MQTTAsync client;                 /* Paho client. */
    pthread_mutex_t mu;               /* Guards the fields below. */
    pthread_cond_t cv;                /* Connect / subscribe events. */
    struct capfile_writer *w;         /* The file. */
    uint64_t count;                   /* Records written. */
    uint64_t bytes;                   /* Payload bytes written. */
    int write_error;                  /* Sticky -errno. */
    int state;                        /* 0 connecting, 1 up, -1 failed. */
    int code;                         /* Paho code of a failure. */
    bool subscribed;                  /* First SUBACK seen. */
    uint64_t subacks;                 /* SUBACKs seen (1 + resubscribes). */
    uint64_t lost;                    /* Connection losses. */
};

/* Called on: a Paho thread. */
static int on_message(void *ctx, char *topic, int topic_len,
                      MQTTAsync_message *m)
{
    struct rec *r = ctx;
    char tbuf[1024];
    char *t = topic;
    struct codec_capture c;

    /* Paho gives topic_len 0 when the topic is NUL-terminated. */
    if (topic_len > 0 && (size_t)topic_len < sizeof(tbuf)) {
        memcpy(tbuf, topic, (size_t)topic_len);
        tbuf[topic_len] = '\0';
        t = tbuf;
    }
    c.topic = t;
    c.payload = m->payload;
    c.payload_len = (size_t)m->payloadlen;
    c.recv_ns = cli_realtime_ns();
    c.qos = m->qos;
    c.retained = m->retained != 0;
    pthread_mutex_lock(&r->mu);
    if (r->write_error == 0 && (r->limit == 0 || r->count < r->limit)) {
        int rc = capfile_write(r->w, &c);
        if (rc == 0) {
            r->count++;
            r->bytes += c.payload_len;
        } else if (rc != -EMSGSIZE) {
            r->write_error = rc;
        }
    }
    pthread_mutex_unlock(&r->mu);
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

/* Called on: a Paho thread. */
static void on_subscribed(void *ctx, MQTTAsync_successData *resp)
{
    struct rec *r = ctx;

    (void)resp;
    pthread_mutex_lock(&r->mu);
    r->subscribed = true;
    r->subacks++;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* Called on: a Paho thread. */
static void on_subscribe_failed(void *ctx, MQTTAsync_failureData *resp)
{
    struct rec *r = ctx;

    pthread_mutex_lock(&r->mu);
    r->state = -1;
    r->code = resp ? resp->code : MQTTASYNC_FAILURE;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* Called on: a Paho thread, after every successful (re)connect. */
static void on_connected(void *ctx, char *cause)
{
    struct rec *r = ctx;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    int qos[MAX_FILTERS];

    (void)cause;
    for (int i = 0; i < r->nfilters; i++)
        qos[i] = r->qos;
    ro.onSuccess = on_subscribed;
    ro.onFailure = on_subscribe_failed;
    ro.context = r;
    MQTTAsync_subscribeMany(r->client, r->nfilters, (char *const *)r->filters,
                            qos, &ro);
    pthread_mutex_lock(&r->mu);
    r->state = 1;
    pthread_mutex_unlock(&r->mu);
}

/* Called on: a Paho thread. */
static void on_connect_failed(void *ctx, MQTTAsync_failureData *resp)
{
    struct rec *r = ctx;

    pthread_mutex_lock(&r->mu);
    if (r->state == 0) {
        r->state = -1;
        r->code = resp ? resp->code : MQTTASYNC_FAILURE;
    }
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* Called on: a Paho thread. */
static void on_lost(void *ctx, char *cause)
{
    struct rec *r = ctx;

    (void)cause;
    pthread_mutex_lock(&r->mu);
    r->lost++;
    pthread_mutex_unlock(&r->mu);
}

static const struct option long_opts[] = {
    {"broker", required_argument, NULL, 'b'},
    {"topic", required_argument, NULL, 't'},
    {"qos", required_argument, NULL, 'q'},
    {"out", required_argument, NULL, 'o'},
    {"count", required_argument, NULL, 'c'},
    {"duration", required_argument, NULL, 'D'},
    {"flush", required_argument, NULL, 'f'},
    {"fsync", required_argument, NULL, 's'},
    {"client-id", required_argument, NULL, 'i'},
    {"quiet", no_argument, NULL, 'Q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};

/* Called by cli_parse() for each option. */
static int parse_one(void *ctx, int c, const char *v)
{
    struct rec *r = ctx;
    uint64_t u;
    int rc = 0;

    switch (c) {
    case 'b':
        r->uri = v;
        break;
    case 't':
        if (r->nfilters == MAX_FILTERS) {
            cli_error(CMD, "at most %d --topic filters", MAX_FILTERS);
            return -EINVAL;
        }
        r->filters[r->nfilters++] = v;
        break;
    case 'q':
        rc = cli_u64(CMD, "--qos", v, 0, 2, &u);
        r->qos = (int)u;
        break;
    case 'o':
        r->out = v;
        break;
    case 'c':
        rc = cli_u64(CMD, "--count", v, 1, UINT64_MAX / 2, &r->limit);
        break;
    case 'D':
        rc = cli_seconds(CMD, "--duration", v, &r->duration_s);
        break;
    case 'f':
        rc = cli_u64(CMD, "--flush", v, 1, 100000, &u);
        r->flush_every = (unsigned)u;
        break;
    case 's':
        rc = cli_seconds(CMD, "--fsync", v, &r->fsync_s);
        break;
    case 'i':
        r->client_id = v;
        break;
    case 'Q':
        r->quiet = true;
        break;
    default:
        return -EINVAL;
    }
    return rc;
}

static int parse_args(struct rec *r, int argc, char **argv)
{
    int first;
    int rc;

    r->uri = CLI_DEFAULT_BROKER;
    r->qos = 1;
    r->flush_every = 1;
    r->fsync_s = 1.0;
    rc = cli_parse(CMD, argc, argv, long_opts, parse_one, r, &first);
    if (rc != 0)
        return rc;
    if (first < argc && r->out == NULL)
        r->out = argv[first++];
    if (first < argc) {
        cli_error(CMD, "unexpected argument '%s'", argv[first]);
        return -EINVAL;
    }
    if (r->out == NULL) {
        cli_error(CMD, "no capture file: weir-sim record [--out] FILE");
        return -EINVAL;
    }
    if (r->nfilters == 0)
        r->filters[r->nfilters++] = "sensors/#";
    return 0;
}

static int connect_and_wait(struct rec *r)
{
    MQTTAsync_connectOptions cn = MQTTAsync_connectOptions_initializer;
    char id[96];
    int rc;
    struct timespec dl;

    snprintf(id, sizeof(id), "%s",
             r->client_id ? r->client_id : "weir-sim-record");
    if (r->client_id == NULL)
        snprintf(id, sizeof(id), "weir-sim-record-%ld", (long)getpid());
    if (MQTTAsync_create(&r->client, r->uri, id, MQTTCLIENT_PERSISTENCE_NONE,
                         NULL) != MQTTASYNC_SUCCESS) {
        cli_error(CMD, "cannot use broker URI '%s'", r->uri);
        return -EINVAL;
    }
    MQTTAsync_setCallbacks(r->client, r, on_lost, on_message, NULL);
    MQTTAsync_setConnected(r->client, r, on_connected);
    cn.keepAliveInterval = 30;
    cn.cleansession = 1;
    cn.connectTimeout = 5;
    cn.automaticReconnect = 1;
    cn.minRetryInterval = 1;
    cn.maxRetryInterval = 16;
    cn.onFailure = on_connect_failed;
    cn.context = r;
    if ((rc = MQTTAsync_connect(r->client, &cn)) != MQTTASYNC_SUCCESS) {
        cli_error(CMD, "cannot connect to %s (Paho code %d)", r->uri, rc);
        return -ECONNREFUSED;
    }
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 7;
    pthread_mutex_lock(&r->mu);
    while (!r->subscribed && r->state >= 0 &&
           pthread_cond_timedwait(&r->cv, &r->mu, &dl) != ETIMEDOUT)
        ;
    rc = r->subscribed ? 0 : r->state < 0 ? -ECONNREFUSED : -ETIMEDOUT;
    pthread_mutex_unlock(&r->mu);
    if (rc == -ECONNREFUSED)
        cli_error(CMD, "cannot connect or subscribe to %s (Paho code %d)",
                  r->uri, r->code);
    else if (rc < 0)
        cli_error(CMD, "cannot connect to %s: timed out", r->uri);
    return rc;
}

/* Wait for a limit or a signal; fsync on schedule. */
static void wait_loop(struct rec *r)
{
    struct progress prog;
    int64_t t0 = pace_now_ns();
    int64_t next_sync = t0 + (int64_t)(r->fsync_s * 1e9);
    bool done = false;
    uint64_t subacks = 1;

    progress_init(&prog, r->quiet, "messages", r->limit, r->duration_s);
    while (!done) {
        uint64_t n;
        uint64_t s;
        int64_t now;

        pace_sleep_until(pace_now_ns() + 20000000);
        now = pace_now_ns();
        pthread_mutex_lock(&r->mu);
        n = r->count;
        s = r->subacks;
        done = r->write_error != 0 || (r->limit > 0 && n >= r->limit);
        if (r->fsync_s > 0 && now >= next_sync) {
            capfile_sync(r->w);
            next_sync = now + (int64_t)(r->fsync_s * 1e9);
        }
        pthread_mutex_unlock(&r->mu);
        if (s > subacks && !r->quiet)
            fprintf(stderr,
                    "%sweir-sim: record: resubscribed after a "
                    "reconnect\n",
                    prog.on ? "\n" : "");
        subacks = s;
        progress_update(&prog, n, n, false);
        if (cli_stop_requested() ||
            (r->duration_s > 0 && now - t0 >= (int64_t)(r->duration_s * 1e9)))
            done = true;
    }
    progress_done(&prog, r->count, r->count);
}

int record_main(int argc, char **argv)
{
    struct rec r;
    char err[512];
    int rc;

    memset(&r, 0, sizeof(r));
    if ((rc = parse_args(&r, argc, argv)) != 0)
        return rc > 0 ? (record_usage(stdout), CLI_OK) : CLI_USAGE;
    if (capfile_create(&r.w, r.out, r.flush_every, err, sizeof(err)) < 0) {
        cli_error(CMD, "%s", err);
        return CLI_FAIL;
    }
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    rc = connect_and_wait(&r);
    if (rc == 0) {
        if (!r.quiet)
            fprintf(stderr,
                    "weir-sim: record: subscribed to %s%s on %s, "
                    "writing %s\n",
                    r.filters[0], r.nfilters > 1 ? " (and more)" : "", r.uri,
                    r.out);
        wait_loop(&r);
    }
    if (r.client) {
        MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
        d.timeout = 500;
        if (MQTTAsync_isConnected(r.client))
            MQTTAsync_disconnect(r.client, &d);
        MQTTAsync_destroy(&r.client); /* no callbacks after this */
    }
    if (r.write_error != 0) {
        cli_error(CMD, "%s: write failed: %s", r.out, strerror(-r.write_error));
        rc = r.write_error;
    }
    if (capfile_close(r.w) < 0 && rc == 0) {
        cli_error(CMD, "%s: write failed", r.out);
        rc = -EIO;
    }
    if (rc == 0 && !r.quiet)
        fprintf(stderr,
                "weir-sim: record: %llu messages (%llu payload "
                "bytes) to %s; connection losses=%llu\n",
                (unsigned long long)r.count, (unsigned long long)r.bytes, r.out,
                (unsigned long long)r.lost);
    pthread_mutex_destroy(&r.mu);
    pthread_cond_destroy(&r.cv);
    return rc < 0 ? CLI_FAIL : CLI_OK;
}

void record_usage(FILE *f)
{
    fputs(
        "usage: weir-sim record [options] [--out] FILE\n"
        "Subscribe to topic filters and write every message to a capture file\n"
        "(length-delimited weir.Capture records: topic, payload, receive "
        "time,\n"
        "qos, retained).\n"
        "  --broker URI           [" CLI_DEFAULT_BROKER "]\n"
        "  --topic FILTER         repeatable [sensors/#]\n"
        "  --qos 0|1|2            subscription QoS [1]\n"
        "  --count N              stop after N messages\n"
        "  --duration S           stop after S seconds (10, 500ms, 2m)\n"
        "  --flush N              records per write(2) [1: each as it "
        "arrives]\n"
        "  --fsync S              fsync(2) interval [1s; 0 = only at exit]\n"
        "  --client-id ID  --quiet\n"
        "Records are written whole, so a recorder killed at any point leaves "
        "a\n"
        "readable file; SIGINT/SIGTERM stop it cleanly. Once subscribed it "
        "prints\n"
        "\"weir-sim: record: subscribed ...\" on stderr; after a broker "
        "outage\nit reconnects and resubscribes by itself (and says so).\n",
        f);
}
