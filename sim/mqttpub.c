/* mqttpub.c -- Paho MQTTAsync publisher with per-connection flow control
 * (see mqttpub.h).
 *
 * Flow control: a connection counts messages handed to MQTTAsync_send()
 * whose onSuccess/onFailure has not run yet. Paho calls onSuccess for a
 * QoS 0 message once it is written to the socket and for QoS 1/2 when the
 * handshake completes, so one counter covers all levels. The caller blocks
 * on a condition variable when the count reaches max_inflight; the
 * callbacks signal only when someone waits.
 *
 * Paho error codes are translated here (STYLE R5): connection failures to
 * -ECONNREFUSED / -ETIMEDOUT, refused sends to -EIO.
 *
 * Threads: the caller's thread runs the API; Paho's threads run on_* (each
 * says so). struct conn's counters are under conn->mu. */
#include "sim/mqttpub.h"

#include <MQTTAsync.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct conn {
    struct mqttpub *p;    /* Owner. */
    MQTTAsync c;          /* Paho client; created before connect. */
    bool created;         /* c is valid. */
    pthread_mutex_t mu;   /* Guards everything below. */
    pthread_cond_t cv;    /* Signalled on completion / connect. */
    uint64_t inflight;    /* Sent, not completed. */
    uint64_t published;   /* Handed to Paho. */
    uint64_t completed;   /* onSuccess seen. */
    uint64_t failed;      /* Refused or onFailure. */
    uint64_t bytes;       /* Payload bytes published. */
    uint64_t disconnects; /* connectionLost seen. */
    int state;            /* 0 connecting, 1 up, -1 failed, 2 closed. */
    int code;             /* Paho code of a failed connect. */
    bool waiting;         /* The caller sleeps on cv. */
    char id[96];          /* Client id. */
};

struct mqttpub {
    struct mqttpub_opts o; /* Copy; uri points at uri[]. */
    char uri[256];         /* Broker URI. */
    unsigned n;            /* Connections. */
    struct conn conn[MQTTPUB_MAX_CONNS];
};

void mqttpub_opts_init(struct mqttpub_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->conns = 1;
    o->max_inflight = 1024;
    o->connect_timeout_ms = 5000;
    o->keepalive_s = 30;
    o->reconnect = true;
}

/* ---- Paho callbacks ---------------------------------------------------- */

/* Called on: a Paho thread. */
static void on_connected(void *ctx, MQTTAsync_successData *resp)
{
    struct conn *c = ctx;

    (void)resp;
    pthread_mutex_lock(&c->mu);
    c->state = 1;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* Called on: a Paho thread. */
static void on_connect_failed(void *ctx, MQTTAsync_failureData *resp)
{
    struct conn *c = ctx;

    pthread_mutex_lock(&c->mu);
    if (c->state == 0) {
        c->state = -1;
        c->code = resp ? resp->code : MQTTASYNC_FAILURE;
    }
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* Called on: a Paho thread. */
static void on_sent(void *ctx, MQTTAsync_successData *resp)
{
    struct conn *c = ctx;

    (void)resp;
    pthread_mutex_lock(&c->mu);
    c->inflight--;
    c->completed++;
    if (c->waiting)
        pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* Called on: a Paho thread. */
static void on_send_failed(void *ctx, MQTTAsync_failureData *resp)
{
    struct conn *c = ctx;

    (void)resp;
    pthread_mutex_lock(&c->mu);
    c->inflight--;
    c->failed++;
    if (c->waiting)
        pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* Called on: a Paho thread. */
static void on_lost(void *ctx, char *cause)
{
    struct conn *c = ctx;

    (void)cause;
    pthread_mutex_lock(&c->mu);
    c->disconnects++;
    pthread_mutex_unlock(&c->mu);
}

/* Called on: a Paho thread. We subscribe to nothing. */
static int on_message(void *ctx, char *topic, int topic_len,
                      MQTTAsync_message *m)
{
    (void)ctx;
    (void)topic_len;
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

/* Called on: a Paho thread. */
static void on_disconnected(void *ctx, MQTTAsync_successData *resp)
{
    struct conn *c = ctx;

    (void)resp;
    pthread_mutex_lock(&c->mu);
    c->state = 2;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* ---- Helpers ----------------------------------------------------------- */

static void deadline_in(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Wait while c->state == from, until deadline. Returns the state. */
static int wait_state(struct conn *c, int from, int ms)
{
    struct timespec dl;
    int st;

    deadline_in(&dl, ms);
    pthread_mutex_lock(&c->mu);
    while (c->state == from &&
           pthread_cond_timedwait(&c->cv, &c->mu, &dl) != ETIMEDOUT)
        ;
    st = c->state;
    pthread_mutex_unlock(&c->mu);
    return st;
}

static int conn_start(struct mqttpub *p, struct conn *c, unsigned i, char *err,
                      size_t errlen)
{
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
    MQTTAsync_connectOptions cn = MQTTAsync_connectOptions_initializer;
    int rc;

    c->p = p;
    snprintf(c->id, sizeof(c->id), "%s-%u", p->o.client_id, i);
    co.sendWhileDisconnected = p->o.reconnect;
    co.maxBufferedMessages = (int)p->o.max_inflight;
    rc = MQTTAsync_createWithOptions(&c->c, p->uri, c->id,
                                     MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
    if (rc != MQTTASYNC_SUCCESS) {
        snprintf(err, errlen, "cannot use broker URI '%s' (Paho code %d)",
                 p->uri, rc);
        return -EINVAL;
    }
    c->created = true;
    MQTTAsync_setCallbacks(c->c, c, on_lost, on_message, NULL);
    cn.keepAliveInterval = p->o.keepalive_s;
    cn.cleansession = 1;
    cn.maxInflight =
        (int)(p->o.max_inflight < 65535 ? p->o.max_inflight : 65535);
    cn.connectTimeout = (p->o.connect_timeout_ms + 999) / 1000;
    cn.automaticReconnect = p->o.reconnect;
    cn.minRetryInterval = 1;
    cn.maxRetryInterval = 16;
    cn.onSuccess = on_connected;
    cn.onFailure = on_connect_failed;
    cn.context = c;
    if ((rc = MQTTAsync_connect(c->c, &cn)) != MQTTASYNC_SUCCESS) {
        snprintf(err, errlen, "cannot connect to %s (Paho code %d)", p->uri,
                 rc);
        return -ECONNREFUSED;
    }
    return 0;
}

static int conn_wait(struct mqttpub *p, struct conn *c, char *err,
                     size_t errlen)
{
    int st = wait_state(c, 0, p->o.connect_timeout_ms + 500);

    if (st == 1)
        return 0;
    if (st == 0) {
        snprintf(err, errlen, "cannot connect to %s: timed out after %d ms",
                 p->uri, p->o.connect_timeout_ms);
        return -ETIMEDOUT;
    }
    snprintf(err, errlen,
             "cannot connect to %s: connection refused or "
             "unreachable (Paho code %d)",
             p->uri, c->code);
    return -ECONNREFUSED;
}

/* ---- API --------------------------------------------------------------- */

int mqttpub_new(struct mqttpub **out, const struct mqttpub_opts *opts,
                char *err, size_t errlen)
{
    struct mqttpub *p;
    int rc = 0;

    if (opts->uri == NULL || opts->conns < 1 ||
        opts->conns > MQTTPUB_MAX_CONNS || opts->max_inflight < 1 ||
        strlen(opts->uri) >= sizeof(p->uri)) {
        snprintf(err, errlen,
                 "bad publisher options (connections 1..%d, "
                 "in-flight >= 1)",
                 MQTTPUB_MAX_CONNS);
        return -EINVAL;
    }
    if ((p = calloc(1, sizeof(*p))) == NULL)
        return -ENOMEM;
    p->o = *opts;
    snprintf(p->uri, sizeof(p->uri), "%s", opts->uri);
    p->o.uri = p->uri;
    p->n = opts->conns;
    for (unsigned i = 0; i < p->n; i++) {
        pthread_mutex_init(&p->conn[i].mu, NULL);
        pthread_cond_init(&p->conn[i].cv, NULL);
    }
    {
        char idbuf[64];
        if (opts->client_id == NULL) {
            snprintf(idbuf, sizeof(idbuf), "weir-sim-%ld", (long)getpid());
            p->o.client_id = idbuf;
        }
        for (unsigned i = 0; i < p->n && rc == 0; i++)
            rc = conn_start(p, &p->conn[i], i, err, errlen);
        p->o.client_id = NULL;
    }
    for (unsigned i = 0; i < p->n && rc == 0; i++)
        rc = conn_wait(p, &p->conn[i], err, errlen);
    if (rc < 0) {
        mqttpub_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int mqttpub_publish(struct mqttpub *p, unsigned key, const char *topic,
                    const void *payload, size_t len, int qos, bool retained)
{
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    struct conn *c = &p->conn[key % p->n];
    int rc;

    if (qos < 0 || qos > 2 || topic == NULL || topic[0] == '\0' ||
        len > 256u * 1024 * 1024)
        return -EINVAL;
    pthread_mutex_lock(&c->mu);
    while (c->inflight >= p->o.max_inflight) {
        c->waiting = true;
        pthread_cond_wait(&c->cv, &c->mu);
    }
    c->waiting = false;
    c->inflight++;
    c->published++; /* undone below if Paho refuses: one lock, not two */
    c->bytes += len;
    pthread_mutex_unlock(&c->mu);
    ro.onSuccess = on_sent;
    ro.onFailure = on_send_failed;
    ro.context = c;
    rc = MQTTAsync_send(c->c, topic, (int)len, payload, qos, retained, &ro);
    if (rc != MQTTASYNC_SUCCESS) {
        pthread_mutex_lock(&c->mu);
        c->inflight--;
        c->published--;
        c->bytes -= len;
        c->failed++;
        pthread_mutex_unlock(&c->mu);
    }
    return rc == MQTTASYNC_SUCCESS ? 0 : -EIO;
}

uint64_t mqttpub_inflight(struct mqttpub *p)
{
    uint64_t n = 0;

    for (unsigned i = 0; i < p->n; i++) {
        pthread_mutex_lock(&p->conn[i].mu);
        n += p->conn[i].inflight;
        pthread_mutex_unlock(&p->conn[i].mu);
    }
    return n;
}

int mqttpub_drain(struct mqttpub *p, int timeout_ms)
{
    for (unsigned i = 0; i < p->n; i++) {
        struct conn *c = &p->conn[i];
        struct timespec dl;
        int rc = 0;

        deadline_in(&dl, timeout_ms);
        pthread_mutex_lock(&c->mu);
        while (c->inflight > 0 && rc != ETIMEDOUT) {
            c->waiting = true;
            rc = pthread_cond_timedwait(&c->cv, &c->mu, &dl);
        }
        c->waiting = false;
        rc = c->inflight > 0 ? -ETIMEDOUT : 0;
        pthread_mutex_unlock(&c->mu);
        if (rc < 0)
            return rc;
    }
    return 0;
}

void mqttpub_stats(struct mqttpub *p, struct mqttpub_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned i = 0; i < p->n; i++) {
        struct conn *c = &p->conn[i];
        pthread_mutex_lock(&c->mu);
        out->published += c->published;
        out->completed += c->completed;
        out->failed += c->failed;
        out->bytes += c->bytes;
        out->disconnects += c->disconnects;
        pthread_mutex_unlock(&c->mu);
    }
}

void mqttpub_free(struct mqttpub *p)
{
    if (p == NULL)
        return;
    for (unsigned i = 0; i < p->n; i++) {
        struct conn *c = &p->conn[i];
        MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
        int st;

        if (!c->created)
            continue;
        pthread_mutex_lock(&c->mu);
        st = c->state;
        pthread_mutex_unlock(&c->mu);
        if (st == 1 && MQTTAsync_isConnected(c->c)) {
            d.timeout = 1000;
            d.onSuccess = on_disconnected;
            d.onFailure = NULL;
            d.context = c;
            if (MQTTAsync_disconnect(c->c, &d) == MQTTASYNC_SUCCESS)
                wait_state(c, 1, 1500);
        }
        MQTTAsync_destroy(&c->c);
    }
    for (unsigned i = 0; i < p->n; i++) {
        pthread_mutex_destroy(&p->conn[i].mu);
        pthread_cond_destroy(&p->conn[i].cv);
    }
    free(p);
}
