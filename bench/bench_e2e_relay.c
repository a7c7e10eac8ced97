/* bench_e2e_relay.c -- the latency reference of `make bench-e2e`: the
 * least an MQTT-in, MQTT-out service can do.
 *
 * bench_e2e_lat measures publish -> weir -> prediction. To say how much of
 * that is weir, the same run measures this relay in weir's place: a bare
 * Paho MQTTAsync client in its own process that subscribes to every
 * reading (sensors/+/+, the same inbound load as weir) at the same QoS,
 * decodes each occupancy label with weir's codec (proto/codec.h) and
 * publishes {"ts_ms":..,"y":..} at QoS 0 on relay/pred/occupancy/{room},
 * as weir publishes its predictions. Nothing is logged, validated, learnt
 * or queued between threads: the publish is issued from the
 * message-arrived callback.
 *
 *   bench_e2e_relay URI QOS SECONDS
 *     prints "ready" once subscribed, relays for SECONDS (or until
 *     SIGTERM/SIGINT), then "relayed=N" and exits 0; 1 if it could not
 *     connect or subscribe.
 *
 * Threads: the main thread connects and sleeps; Paho's callback thread
 * runs on_message(), which touches only the client handle and the
 * atomics of struct relay. */
#include <MQTTAsync.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto/codec.h"

struct relay {
    MQTTAsync client;       /* Paho handle. */
    atomic_int up;          /* Connect and subscribe completions. */
    atomic_int failed;      /* A connect or subscribe failed. */
    atomic_uint_fast64_t n; /* Labels relayed; Paho thread. */
};

/* Called on: Paho's callback thread. */
static int on_message(void *ctx, char *topic, int topic_len,
                      MQTTAsync_message *m)
{
    static const char label[] = "/occupancy";
    static const char prefix[] = "sensors/";
    const size_t ll = sizeof(label) - 1;
    const size_t pl = sizeof(prefix) - 1;
    struct relay *r = ctx;
    size_t tl = topic_len ? (size_t)topic_len : strlen(topic);
    struct codec_msg *msg = NULL;
    enum reject_reason why;
    char out[160];
    char json[128];

    if (tl > pl + ll && memcmp(topic + tl - ll, label, ll) == 0 &&
        tl - pl - ll < 100 && (msg = malloc(sizeof(*msg))) != NULL &&
        codec_decode_reading(m->payload, (size_t)m->payloadlen, msg, &why) ==
            0) {
        MQTTAsync_message o = MQTTAsync_message_initializer;
        int n =
            snprintf(json, sizeof(json), "{\"ts_ms\":%" PRId64 ",\"y\":%.17g}",
                     msg->ts_ms, msg->m[0].value);
        snprintf(out, sizeof(out), "relay/pred/occupancy/%.*s",
                 (int)(tl - pl - ll), topic + pl);
        o.payload = json;
        o.payloadlen = n;
        o.qos = 0;
        if (MQTTAsync_sendMessage(r->client, out, &o, NULL) ==
            MQTTASYNC_SUCCESS)
            atomic_fetch_add(&r->n, 1);
    }
    free(msg);
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

/* Called on: Paho's callback thread. */
static void on_up(void *ctx, MQTTAsync_successData *d)
{
    struct relay *r = ctx;

    (void)d;
    atomic_fetch_add(&r->up, 1);
}

/* Called on: Paho's callback thread. */
static void on_fail(void *ctx, MQTTAsync_failureData *d)
{
    struct relay *r = ctx;

    (void)d;
    atomic_store(&r->failed, 1);
}

/* Wait until r->up reaches want; 0 or -ETIMEDOUT/-ECONNREFUSED. */
static int wait_up(struct relay *r, int want)
{
    int i;

    for (i = 0; i < 10000; i++) {
        if (atomic_load(&r->failed))
            return -ECONNREFUSED;
        if (atomic_load(&r->up) >= want)
            return 0;
        usleep(1000);
    }
    return -ETIMEDOUT;
}

static int start(struct relay *r, int qos)
{
    MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
    MQTTAsync_responseOptions s = MQTTAsync_responseOptions_initializer;
    int rc;

    o.keepAliveInterval = 30;
    o.cleansession = 1;
    o.maxInflight = 1024;
    o.onSuccess = on_up;
    o.onFailure = on_fail;
    o.context = r;
    if (MQTTAsync_connect(r->client, &o) != MQTTASYNC_SUCCESS)
        return -ENOTCONN;
    if ((rc = wait_up(r, 1)) != 0)
        return rc;
    s.onSuccess = on_up;
    s.onFailure = on_fail;
    s.context = r;
    if (MQTTAsync_subscribe(r->client, "sensors/+/+", qos, &s) !=
        MQTTASYNC_SUCCESS)
        return -EIO;
    return wait_up(r, 2);
}

int main(int argc, char **argv)
{
    struct relay r;
    struct timespec until;
    sigset_t set;
    int rc;

    if (argc != 4) {
        fprintf(stderr, "usage: bench_e2e_relay URI QOS SECONDS\n");
        return 2;
    }
    memset(&r, 0, sizeof(r));
    /* SIGTERM/SIGINT end the wait below instead of killing us. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (MQTTAsync_create(&r.client, argv[1], "e2e-relay",
                         MQTTCLIENT_PERSISTENCE_NONE,
                         NULL) != MQTTASYNC_SUCCESS ||
        MQTTAsync_setCallbacks(r.client, &r, NULL, on_message, NULL) !=
            MQTTASYNC_SUCCESS) {
        fprintf(stderr, "bench_e2e_relay: cannot create a client\n");
        return 1;
    }
    if ((rc = start(&r, atoi(argv[2]))) != 0) {
        fprintf(stderr, "bench_e2e_relay: %s: %s\n", argv[1], strerror(-rc));
        MQTTAsync_destroy(&r.client);
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    until.tv_sec = (time_t)atof(argv[3]);
    until.tv_nsec = 0;
    sigtimedwait(&set, NULL, &until);
    printf("relayed=%" PRIuFAST64 "\n", atomic_load(&r.n));
    MQTTAsync_destroy(&r.client);
    return 0;
}
