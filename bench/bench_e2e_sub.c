/* bench_e2e_sub.c -- the reference consumer of `make bench-e2e`: a bare
 * Paho MQTTAsync subscriber that only counts.
 *
 * bench/e2e.sh measures how fast weir drains a backlog the broker queued
 * for its persistent session while it was down, and needs the limit of the
 * broker path on the same machine in the same run: this program is that
 * limit. It does what any MQTT consumer must do and nothing else -- a
 * persistent session (clean session off), the same QoS as weir, one
 * messageArrived callback per message that counts it and frees it (for
 * QoS 1 Paho acknowledges when the callback returns, as in weir) -- so
 * the difference to weir is weir's own work: decoding, the ingest log,
 * the ring, dedup, validation, rows and learning.
 *
 *   bench_e2e_sub URI CLIENT_ID FILTER QOS register
 *       connect with a persistent session, subscribe FILTER at QOS, wait
 *       for the SUBACK, disconnect: from now on the broker queues
 *       matching messages for CLIENT_ID while it is away.
 *   bench_e2e_sub URI CLIENT_ID FILTER QOS drain N [TIMEOUT_S]
 *       connect to the same session (no new subscription) and count
 *       messages until N have arrived; print
 *         drain messages=N seconds=S msgs_per_s=R first_s=F extra=E cpu_s=C
 *       S runs from just before MQTTAsync_connect() to the callback of the
 *       N-th message (CLOCK_MONOTONIC), F to the first message; E counts
 *       messages that arrived in the 100 ms after the N-th (there should
 *       be none); C is the process's user + system CPU time at the N-th.
 *       Exit 1 if N did not arrive within TIMEOUT_S (60).
 *
 * Threads: the main thread drives; Paho's threads run the callbacks, which
 * touch only the atomics and, under the mutex, the state and the condition
 * variable of struct sub. */
#include <MQTTAsync.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

enum sub_state { SUB_IDLE, SUB_OK, SUB_FAILED };

struct sub {
    MQTTAsync client;       /* Paho handle; main thread. */
    pthread_mutex_t lock;   /* Guards state and wakes the main thread. */
    pthread_cond_t cond;    /* Signalled on state changes, at target. */
    enum sub_state state;   /* Of the last request; under lock. */
    uint64_t target;        /* Messages to wait for; set before connect. */
    atomic_uint_fast64_t n; /* Messages counted; Paho thread. */
    atomic_int_fast64_t first_ns; /* Monotonic time of message 1. */
    atomic_int_fast64_t last_ns;  /* Monotonic time of message target. */
};

static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void set_state(struct sub *s, enum sub_state st)
{
    pthread_mutex_lock(&s->lock);
    s->state = st;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

/* Called on: Paho's callback thread. */
static int on_message(void *ctx, char *topic, int topic_len,
                      MQTTAsync_message *m)
{
    struct sub *s = ctx;
    uint64_t k = atomic_fetch_add(&s->n, 1) + 1;

    (void)topic_len;
    if (k == 1)
        atomic_store(&s->first_ns, mono_ns());
    if (k == s->target) {
        atomic_store(&s->last_ns, mono_ns());
        pthread_mutex_lock(&s->lock);
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
    }
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

/* Called on: Paho's callback thread. */
static void on_lost(void *ctx, char *cause)
{
    (void)cause;
    set_state(ctx, SUB_FAILED);
}

/* Called on: Paho's callback thread. */
static void on_ok(void *ctx, MQTTAsync_successData *d)
{
    (void)d;
    set_state(ctx, SUB_OK);
}

/* Called on: Paho's callback thread. */
static void on_fail(void *ctx, MQTTAsync_failureData *d)
{
    (void)d;
    set_state(ctx, SUB_FAILED);
}

/* Wait until the last request finished, or until `until` (monotonic ns)
 * with want_target: until target messages arrived. Returns 0 or -errno. */
static int wait_for(struct sub *s, bool want_target, int64_t until)
{
    struct timespec ts;
    int rc = 0;

    pthread_mutex_lock(&s->lock);
    for (;;) {
        bool done = want_target ? atomic_load(&s->n) >= s->target
                                : s->state != SUB_IDLE;
        if (done || (want_target && s->state == SUB_FAILED))
            break;
        if (mono_ns() >= until) {
            rc = -ETIMEDOUT;
            break;
        }
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 10000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&s->cond, &s->lock, &ts);
    }
    if (rc == 0 && s->state == SUB_FAILED)
        rc = -ECONNRESET;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int connect_session(struct sub *s)
{
    MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
    int rc;

    o.keepAliveInterval = 30;
    o.cleansession = 0;
    o.connectTimeout = 10;
    o.onSuccess = on_ok;
    o.onFailure = on_fail;
    o.context = s;
    s->state = SUB_IDLE;
    rc = MQTTAsync_connect(s->client, &o);
    return rc == MQTTASYNC_SUCCESS ? 0 : -ENOTCONN;
}

static int subscribe(struct sub *s, const char *filter, int qos)
{
    MQTTAsync_responseOptions r = MQTTAsync_responseOptions_initializer;
    int rc;

    r.onSuccess = on_ok;
    r.onFailure = on_fail;
    r.context = s;
    set_state(s, SUB_IDLE);
    rc = MQTTAsync_subscribe(s->client, filter, qos, &r);
    if (rc != MQTTASYNC_SUCCESS)
        return -EIO;
    return wait_for(s, false, mono_ns() + 10000000000LL);
}

static void disconnect(struct sub *s)
{
    MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;

    d.timeout = 1000;
    d.onSuccess = on_ok;
    d.onFailure = on_fail;
    d.context = s;
    set_state(s, SUB_IDLE);
    if (MQTTAsync_disconnect(s->client, &d) == MQTTASYNC_SUCCESS)
        wait_for(s, false, mono_ns() + 3000000000LL);
}

static int drain(struct sub *s, double timeout_s)
{
    int64_t t0 = mono_ns();
    struct rusage ru;
    uint64_t got;
    double secs;
    int rc;

    if ((rc = connect_session(s)) != 0)
        return rc;
    rc = wait_for(s, true, t0 + (int64_t)(timeout_s * 1e9));
    got = atomic_load(&s->n);
    getrusage(RUSAGE_SELF, &ru);
    if (rc != 0) {
        fprintf(stderr, "bench_e2e_sub: %s after %llu of %llu messages\n",
                strerror(-rc), (unsigned long long)got,
                (unsigned long long)s->target);
        return rc;
    }
    usleep(100000); /* late extras, and the last PUBACK goes out */
    secs = (double)(atomic_load(&s->last_ns) - t0) / 1e9;
    printf("drain messages=%llu seconds=%.4f msgs_per_s=%.0f first_s=%.4f "
           "extra=%llu cpu_s=%.3f\n",
           (unsigned long long)s->target, secs, (double)s->target / secs,
           (double)(atomic_load(&s->first_ns) - t0) / 1e9,
           (unsigned long long)(atomic_load(&s->n) - s->target),
           (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
               (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
    return 0;
}

static int run(struct sub *s, char **argv, int argc)
{
    const char *filter = argv[3];
    int qos = atoi(argv[4]);
    int rc;

    if (strcmp(argv[5], "drain") == 0) {
        s->target = argc > 6 ? strtoull(argv[6], NULL, 10) : 0;
        if (s->target == 0)
            return -EINVAL;
        rc = drain(s, argc > 7 ? atof(argv[7]) : 60);
    } else if (strcmp(argv[5], "register") == 0) {
        s->target = UINT64_MAX;
        if ((rc = connect_session(s)) == 0 &&
            (rc = wait_for(s, false, mono_ns() + 10000000000LL)) == 0)
            rc = subscribe(s, filter, qos);
    } else {
        return -EINVAL;
    }
    disconnect(s);
    return rc;
}

int main(int argc, char **argv)
{
    struct sub s;
    int rc;

    if (argc < 6) {
        fprintf(stderr, "usage: bench_e2e_sub URI CLIENT_ID FILTER QOS "
                        "register | drain N [TIMEOUT_S]\n");
        return 2;
    }
    memset(&s, 0, sizeof(s));
    pthread_mutex_init(&s.lock, NULL);
    pthread_cond_init(&s.cond, NULL);
    if (MQTTAsync_create(&s.client, argv[1], argv[2],
                         MQTTCLIENT_PERSISTENCE_NONE,
                         NULL) != MQTTASYNC_SUCCESS ||
        MQTTAsync_setCallbacks(s.client, &s, on_lost, on_message, NULL) !=
            MQTTASYNC_SUCCESS) {
        fprintf(stderr, "bench_e2e_sub: cannot create a client for %s\n",
                argv[1]);
        return 1;
    }
    rc = run(&s, argv, argc);
    MQTTAsync_destroy(&s.client);
    pthread_cond_destroy(&s.cond);
    pthread_mutex_destroy(&s.lock);
    if (rc == -EINVAL)
        fprintf(stderr, "bench_e2e_sub: bad arguments\n");
    else if (rc != 0)
        fprintf(stderr, "bench_e2e_sub: %s\n", strerror(-rc));
    return rc == 0 ? 0 : rc == -EINVAL ? 2 : 1;
}
