/* bench_e2e_lat.c -- publish-to-learned latency for `make bench-e2e`.
 *
 * What is measured. One process publishes building readings at a fixed
 * rate and listens for what comes back:
 *
 *   publisher --QoS q--> mosquitto --> weir: decode, ingest log, ring,
 *   dedup, validation, row, learner (predict, score, train) -- prediction
 *   JSON --QoS 0--> mosquitto --> this process
 *
 * Every room sends temperature, humidity, light, co2 and then its
 * occupancy label, one protobuf Reading per message on
 * sensors/{room}/{sensor}; the label completes a row of weir's occupancy
 * task, which weir learns from and then publishes as a prediction on
 * weir/pred/occupancy/{room} (publish_predictions = true) with the label's
 * ts_ms. The latency of a row is the time from just before
 * MQTTAsync_sendMessage() of the label to the arrival of its prediction
 * (CLOCK_MONOTONIC, both ends in this process, so no clock offsets). The
 * send time is kept per (room, ts_ms) -- ts_ms is the wall-clock
 * millisecond of the send, made unique per room -- so the prediction's
 * ts_ms finds it; the protocol's millisecond resolution does not limit the
 * measurement. Rows sent in the first second are not counted (connection
 * set-up, first windows).
 *
 * The reference is measured in the same run, on the same messages: the
 * floor of any MQTT-in, MQTT-out service on this machine. bench_e2e_relay,
 * a bare Paho client in its own process (as weir is), subscribes to the
 * same readings at the same QoS, decodes each label with the same codec
 * and publishes a JSON line with its ts_ms at QoS 0 on
 * relay/pred/occupancy/{room}. This process listens to both prediction
 * trees and times each path separately. Measuring both at once, rather
 * than one after the other, keeps the machine's other load (it is shared)
 * the same for both. (The relay must not live in this process: Paho's
 * MQTTAsync runs all clients of a process on one receive thread and one
 * global mutex, which would put the relay's inbound traffic in the way of
 * the publisher and the listener.)
 *
 *   bench_e2e_lat URI RATE SECONDS [ROOMS [QOS [DUMP_FILE]]]
 *     RATE messages per second in all (5 per room per sample; 0: as fast
 *     as Paho takes them, 1024 in flight), ROOMS 100, QOS 1; DUMP_FILE
 *     gets every counted row as "path send_ms latency_ms" (send_ms after
 *     the start), for plots and for finding stalls. Prints, per path P
 *     (weir, relay):
 *       latency path=P rate=R sent=S rows=N got=G p50_ms= p90_ms= p99_ms=
 *               p999_ms= max_ms= late_ms=L stray=X
 *     R is the rate achieved; G of the N rows sent after the first second
 *     came back in time to be matched (within 64 labels of their room);
 *     L is how far the publisher fell behind its schedule at worst (~0
 *     when the machine keeps up); X predictions matched no send. Exit 1 if
 *     nothing came back on either path.
 *
 * Threads: the main thread publishes and, at the end, computes; Paho's
 * callback thread runs on_pred() (the listener). The send-time table and
 * the latency arrays are shared under struct lat.lock. */
#include <MQTTAsync.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto/codec.h"

#define HIST 64 /* send times kept per room */
#define WARMUP_NS 1000000000LL
#define MAX_ROOMS 10000
#define PATHS 2 /* 0: weir, 1: the relay */

static const char *const path_name[PATHS] = {"weir", "relay"};
static const char *const path_filter[PATHS] = {"weir/pred/occupancy/+",
                                               "relay/pred/occupancy/+"};

struct sent {
    int64_t ts_ms;       /* The label's ts_ms (unique per room). */
    int64_t send_ns;     /* Monotonic time just before the send. */
    bool counted;        /* After the warm-up. */
    bool matched[PATHS]; /* Its prediction came back on path i. */
};

struct path {
    double *ms;                 /* Latencies of counted rows, ms. */
    double *at;                 /* Their send times, ms after the start. */
    size_t got;                 /* Entries in ms. */
    atomic_uint_fast64_t stray; /* Predictions that matched nothing. */
};

struct lat {
    pthread_mutex_t lock;      /* Guards hist and the paths' ms, got. */
    struct sent (*hist)[HIST]; /* [rooms][HIST], ring by label number. */
    long rooms;                /* Rows of hist. */
    struct path path[PATHS];
    size_t cap;           /* Capacity of each path's ms. */
    int qos;              /* Of the readings. */
    int64_t t0_ns;        /* Publishing started; before any send. */
    atomic_int up;        /* Connections and subscriptions done. */
    atomic_int failed;    /* A connect or subscribe failed. */
    struct codec_msg msg; /* Publisher's scratch; main thread. */
};

static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Room index from a topic ending in ".../room-NNNN"; -1 if none. */
static long room_of(const char *topic, size_t len)
{
    const char *end = topic + len;
    const char *p = end;

    while (p > topic && p[-1] != '-' && p[-1] != '/')
        p--;
    if (p == topic || p[-1] != '-' || p == end)
        return -1;
    return strtol(p, NULL, 10);
}

/* Match a prediction (room, ts) that arrived at now on path i. */
static bool match(struct lat *l, int i, long room, int64_t ts, int64_t now)
{
    struct path *pa = &l->path[i];
    bool hit = false;
    int k;

    pthread_mutex_lock(&l->lock);
    for (k = 0; k < HIST; k++) {
        struct sent *s = &l->hist[room][k];
        if (s->ts_ms != ts || s->send_ns == 0 || s->matched[i])
            continue;
        if (s->counted && pa->got < l->cap) {
            pa->at[pa->got] = (double)(s->send_ns - l->t0_ns) / 1e6;
            pa->ms[pa->got++] = (double)(now - s->send_ns) / 1e6;
        }
        s->matched[i] = true;
        hit = true;
        break;
    }
    pthread_mutex_unlock(&l->lock);
    return hit;
}

/* Called on: Paho's callback thread (the listener). */
static int on_pred(void *ctx, char *topic, int topic_len, MQTTAsync_message *m)
{
    struct lat *l = ctx;
    int64_t now = mono_ns();
    size_t tl = topic_len ? (size_t)topic_len : strlen(topic);
    int i = strncmp(topic, "relay/", 6) == 0;
    long room = room_of(topic, tl);
    int n = m->payloadlen < 63 ? m->payloadlen : 63;
    const char *p;
    char buf[64];

    memcpy(buf, m->payload, (size_t)n);
    buf[n] = '\0';
    if (room < 0 || room >= l->rooms ||
        (p = strstr(buf, "\"ts_ms\":")) == NULL ||
        !match(l, i, room, strtoll(p + 8, NULL, 10), now))
        atomic_fetch_add(&l->path[i].stray, 1);
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

/* Called on: Paho's callback thread. */
static void on_up(void *ctx, MQTTAsync_successData *d)
{
    struct lat *l = ctx;

    (void)d;
    atomic_fetch_add(&l->up, 1);
}

/* Called on: Paho's callback thread. */
static void on_fail(void *ctx, MQTTAsync_failureData *d)
{
    struct lat *l = ctx;

    (void)d;
    atomic_store(&l->failed, 1);
}

/* Wait until l->up reaches want; 0 or -ENOTCONN. */
static int wait_up(struct lat *l, int want)
{
    int64_t until = mono_ns() + 10000000000LL;

    while (atomic_load(&l->up) < want && !atomic_load(&l->failed) &&
           mono_ns() < until)
        usleep(1000);
    return atomic_load(&l->up) >= want ? 0 : -ENOTCONN;
}

/* Connect c and, with nsub filters, subscribe to them at QoS 0. */
static int connect_sub(struct lat *l, MQTTAsync c, const char *const *filters,
                       int nsub)
{
    MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
    MQTTAsync_responseOptions r = MQTTAsync_responseOptions_initializer;
    int qos[PATHS] = {0, 0};
    int want = atomic_load(&l->up) + 1;
    int rc;

    o.keepAliveInterval = 30;
    o.cleansession = 1;
    o.maxInflight = 1024;
    o.onSuccess = on_up;
    o.onFailure = on_fail;
    o.context = l;
    if (MQTTAsync_connect(c, &o) != MQTTASYNC_SUCCESS)
        return -ENOTCONN;
    if ((rc = wait_up(l, want)) != 0 || nsub == 0)
        return rc;
    r.onSuccess = on_up;
    r.onFailure = on_fail;
    r.context = l;
    if (MQTTAsync_subscribeMany(c, nsub, (char *const *)filters, qos, &r) !=
        MQTTASYNC_SUCCESS)
        return -EIO;
    return wait_up(l, want + 1);
}

/* A room: sequence numbers, the last ts_ms, its labels, its state. */
struct room {
    uint64_t seq;
    int64_t last_ts;
    unsigned labels;
    int occupied;
};

/* Values in the configured ranges; light and CO2 follow occupancy, which
 * flips now and then, so rows carry something to learn. */
static double value_of(int sensor, int occupied, uint64_t *rng)
{
    double u;

    *rng = *rng * 6364136223846793005ULL + 1442695040888963407ULL;
    u = (double)(*rng >> 11) / 9007199254740992.0;
    switch (sensor) {
    case 0:
        return 21 + occupied + u; /* temperature */
    case 1:
        return 40 + 5 * u; /* humidity */
    case 2:
        return occupied ? 420 + 60 * u : 30 + 60 * u; /* light */
    case 3:
        return 450 + 300 * occupied + 50 * u; /* co2 */
    default:
        return occupied; /* occupancy */
    }
}

static int publish_one(MQTTAsync pub, struct lat *l, struct room *r, long room,
                       int sensor, uint64_t *rng, bool counted)
{
    static const char *const names[] = {"temperature", "humidity", "light",
                                        "co2", "occupancy"};
    MQTTAsync_message m = MQTTAsync_message_initializer;
    struct codec_msg *msg = &l->msg;
    uint8_t buf[128];
    char topic[96];
    size_t len;
    int rc;

    snprintf(msg->m[0].name, sizeof(msg->m[0].name), "%s", names[sensor]);
    snprintf(topic, sizeof(topic), "sensors/room-%04ld/%s", room,
             names[sensor]);
    msg->n = 1;
    msg->has_seq = msg->has_ts = true;
    msg->seq = r->seq++;
    msg->ts_ms = wall_ms();
    if (msg->ts_ms <= r->last_ts)
        msg->ts_ms = r->last_ts + 1; /* unique per room: the lookup key */
    r->last_ts = msg->ts_ms;
    msg->m[0].value = value_of(sensor, r->occupied, rng);
    msg->m[0].has_value = true;
    if ((len = codec_encode_reading(msg, buf, sizeof(buf))) == 0)
        return -EINVAL;
    m.payload = buf;
    m.payloadlen = (int)len;
    m.qos = l->qos;
    if (sensor == 4) {
        struct sent *s = &l->hist[room][r->labels++ % HIST];
        pthread_mutex_lock(&l->lock);
        memset(s, 0, sizeof(*s));
        s->ts_ms = msg->ts_ms;
        s->counted = counted;
        s->send_ns = mono_ns();
        pthread_mutex_unlock(&l->lock);
    }
    while ((rc = MQTTAsync_sendMessage(pub, topic, &m, NULL)) ==
           MQTTASYNC_MAX_MESSAGES_INFLIGHT)
        usleep(100);
    return rc == MQTTASYNC_SUCCESS ? 0 : -EIO;
}

struct plan {
    double rate;    /* Messages per second; 0: flat out. */
    double seconds; /* Publishing time. */
    long rooms;     /* Rooms; 5 messages per room per sample. */
};

struct outcome {
    uint64_t sent;  /* Messages published. */
    double secs;    /* Publishing time taken. */
    long rows;      /* Labels sent after the warm-up. */
    double late_ms; /* Worst lateness against the schedule. */
};

/* Publish as planned; 0 or -errno. */
static int publish(MQTTAsync pub, struct lat *l, const struct plan *p,
                   struct room *rooms, struct outcome *o)
{
    uint64_t total =
        p->rate > 0 ? (uint64_t)(p->rate * p->seconds) : UINT64_MAX;
    int64_t t0 = mono_ns();
    int64_t end = t0 + (int64_t)(p->seconds * 1e9);
    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    int64_t worst = 0;
    uint64_t k;

    memset(o, 0, sizeof(*o));
    l->t0_ns = t0;
    for (k = 0; k < total; k++) {
        int64_t now = mono_ns();
        int64_t due =
            p->rate > 0 ? t0 + (int64_t)((double)k * 1e9 / p->rate) : now;
        long room = (long)((k / 5) % (uint64_t)p->rooms);
        int sensor = (int)(k % 5);
        bool counted = now - t0 >= WARMUP_NS;
        if (p->rate <= 0 && sensor == 0 && now >= end)
            break;
        if (now < due) {
            struct timespec ts = {(time_t)(due / 1000000000),
                                  (long)(due % 1000000000)};
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        } else if (now - due > worst) {
            worst = now - due;
        }
        if (sensor == 0 && (rng >> 60) == 0)
            rooms[room].occupied ^= 1; /* about 1 sample in 16 */
        if (publish_one(pub, l, &rooms[room], room, sensor, &rng, counted) != 0)
            return -EIO;
        if (sensor == 4 && counted)
            o->rows++;
    }
    o->late_ms = (double)worst / 1e6;
    o->sent = k;
    o->secs = (double)(mono_ns() - t0) / 1e9;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return (x > y) - (x < y);
}

static double pct(const double *v, size_t n, double q)
{
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);

    return n ? v[i < n ? i : n - 1] : 0;
}

/* Every counted row as "path send_ms latency_ms", in arrival order. */
static void dump(const struct lat *l, const char *file)
{
    FILE *f = fopen(file, "w");
    size_t k;
    int i;

    if (f == NULL) {
        fprintf(stderr, "bench_e2e_lat: %s: cannot write\n", file);
        return;
    }
    for (i = 0; i < PATHS; i++)
        for (k = 0; k < l->path[i].got; k++)
            fprintf(f, "%s %.3f %.3f\n", path_name[i], l->path[i].at[k],
                    l->path[i].ms[k]);
    fclose(f);
}

static void report(struct lat *l, const struct outcome *o)
{
    int i;

    pthread_mutex_lock(&l->lock);
    for (i = 0; i < PATHS; i++) {
        struct path *pa = &l->path[i];
        qsort(pa->ms, pa->got, sizeof(*pa->ms), cmp_double);
        printf("latency path=%s rate=%.0f sent=%" PRIu64 " rows=%ld "
               "got=%zu p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f "
               "max_ms=%.3f late_ms=%.1f stray=%" PRIuFAST64 "\n",
               path_name[i], (double)o->sent / o->secs, o->sent, o->rows,
               pa->got, pct(pa->ms, pa->got, 0.5), pct(pa->ms, pa->got, 0.9),
               pct(pa->ms, pa->got, 0.99), pct(pa->ms, pa->got, 0.999),
               pa->got ? pa->ms[pa->got - 1] : 0, o->late_ms,
               atomic_load(&pa->stray));
    }
    pthread_mutex_unlock(&l->lock);
}

struct clients {
    MQTTAsync pub;
    MQTTAsync listen;
};

static int run(struct lat *l, struct clients *c, const struct plan *p,
               const char *dump_file)
{
    struct room *rooms = calloc((size_t)p->rooms, sizeof(*rooms));
    struct outcome o;
    int rc;

    if (rooms == NULL)
        return -ENOMEM;
    if ((rc = connect_sub(l, c->listen, path_filter, PATHS)) != 0 ||
        (rc = connect_sub(l, c->pub, NULL, 0)) != 0 ||
        (rc = publish(c->pub, l, p, rooms, &o)) != 0)
        goto out;
    sleep(2); /* stragglers */
    pthread_mutex_lock(&l->lock);
    if (dump_file != NULL)
        dump(l, dump_file);
    pthread_mutex_unlock(&l->lock);
    report(l, &o);
    rc = l->path[0].got + l->path[1].got > 0 ? 0 : -ENODATA;
out:
    free(rooms);
    return rc;
}

static int parse(int argc, char **argv, struct plan *p, struct lat *l)
{
    p->rate = atof(argv[2]);
    p->seconds = atof(argv[3]);
    p->rooms = argc > 4 ? atol(argv[4]) : 100;
    l->qos = argc > 5 ? atoi(argv[5]) : 1;
    l->rooms = p->rooms;
    l->cap = (size_t)((p->rate > 0 ? p->rate : 200000) * p->seconds / 5) + 16;
    return p->rate >= 0 && p->seconds > 0 && p->seconds <= 3600 &&
                   p->rooms >= 1 && p->rooms <= MAX_ROOMS && l->qos >= 0 &&
                   l->qos <= 2 && p->rate * p->seconds <= 1e8
               ? 0
               : -EINVAL;
}

int main(int argc, char **argv)
{
    struct lat *l = calloc(1, sizeof(*l));
    struct clients c = {NULL, NULL};
    struct plan p;
    int rc = -EINVAL;

    if (argc < 4) {
        fprintf(stderr, "usage: bench_e2e_lat URI RATE SECONDS [ROOMS "
                        "[QOS [DUMP_FILE]]]\n");
        free(l);
        return 2;
    }
    if (l == NULL)
        return 1;
    pthread_mutex_init(&l->lock, NULL);
    if (parse(argc, argv, &p, l) != 0)
        goto out;
    rc = -ENOMEM;
    l->hist = calloc((size_t)p.rooms, sizeof(*l->hist));
    l->path[0].ms = calloc(l->cap, sizeof(double));
    l->path[1].ms = calloc(l->cap, sizeof(double));
    l->path[0].at = calloc(l->cap, sizeof(double));
    l->path[1].at = calloc(l->cap, sizeof(double));
    if (l->hist == NULL || l->path[0].ms == NULL || l->path[1].ms == NULL ||
        l->path[0].at == NULL || l->path[1].at == NULL)
        goto out;
    rc = -ENOTCONN;
    if (MQTTAsync_create(&c.pub, argv[1], "e2e-lat-pub",
                         MQTTCLIENT_PERSISTENCE_NONE,
                         NULL) != MQTTASYNC_SUCCESS ||
        MQTTAsync_create(&c.listen, argv[1], "e2e-lat-listen",
                         MQTTCLIENT_PERSISTENCE_NONE,
                         NULL) != MQTTASYNC_SUCCESS ||
        MQTTAsync_setCallbacks(c.listen, l, NULL, on_pred, NULL) !=
            MQTTASYNC_SUCCESS)
        goto out;
    rc = run(l, &c, &p, argc > 6 ? argv[6] : NULL);
out:
    if (c.pub != NULL)
        MQTTAsync_destroy(&c.pub);
    if (c.listen != NULL)
        MQTTAsync_destroy(&c.listen);
    free(l->hist);
    free(l->path[0].ms);
    free(l->path[1].ms);
    free(l->path[0].at);
    free(l->path[1].at);
    pthread_mutex_destroy(&l->lock);
    free(l);
    if (rc != 0)
        fprintf(stderr, "bench_e2e_lat: %s\n",
                rc == -EINVAL ? "bad arguments" : strerror(-rc));
    return rc == 0 ? 0 : rc == -EINVAL ? 2 : 1;
}
