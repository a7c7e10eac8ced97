/* minpub.c -- a minimal Paho publisher, the benchmark's reference (see
 * minpub.h). One client, one mutex-protected in-flight counter, one
 * condition variable: the least any flow-controlled Paho publisher does.
 * Threads: caller's thread; Paho's threads in on_*. */
#include "sim/minpub.h"

#include <MQTTAsync.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct mp {
    pthread_mutex_t mu; /* Guards the fields below. */
    pthread_cond_t cv;  /* Completion or connect. */
    uint64_t inflight;  /* Sent, not completed. */
    uint64_t failed;    /* onFailure count. */
    int state;          /* 0 connecting, 1 up, -1 failed. */
};

/* Called on: a Paho thread. */
static void on_done(void *ctx, MQTTAsync_successData *r)
{
    struct mp *m = ctx;

    (void)r;
    pthread_mutex_lock(&m->mu);
    m->inflight--;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

/* Called on: a Paho thread. */
static void on_fail(void *ctx, MQTTAsync_failureData *r)
{
    struct mp *m = ctx;

    (void)r;
    pthread_mutex_lock(&m->mu);
    m->inflight--;
    m->failed++;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

/* Called on: a Paho thread. */
static void on_conn(void *ctx, MQTTAsync_successData *r)
{
    struct mp *m = ctx;

    (void)r;
    pthread_mutex_lock(&m->mu);
    m->state = 1;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

/* Called on: a Paho thread. */
static void on_conn_fail(void *ctx, MQTTAsync_failureData *r)
{
    struct mp *m = ctx;

    (void)r;
    pthread_mutex_lock(&m->mu);
    m->state = -1;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

/* Called on: a Paho thread. */
static int on_msg(void *ctx, char *t, int tl, MQTTAsync_message *msg)
{
    (void)ctx;
    (void)tl;
    MQTTAsync_freeMessage(&msg);
    MQTTAsync_free(t);
    return 1;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int publish_all(MQTTAsync c, struct mp *m, const char *topic, int qos,
                       uint64_t count, const uint8_t *buf, size_t len,
                       unsigned window)
{
    for (uint64_t i = 0; i < count; i++) {
        MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
        pthread_mutex_lock(&m->mu);
        while (m->inflight >= window)
            pthread_cond_wait(&m->cv, &m->mu);
        m->inflight++;
        pthread_mutex_unlock(&m->mu);
        ro.onSuccess = on_done;
        ro.onFailure = on_fail;
        ro.context = m;
        if (MQTTAsync_send(c, topic, (int)len, buf, qos, 0, &ro) !=
            MQTTASYNC_SUCCESS)
            return -EIO;
    }
    pthread_mutex_lock(&m->mu);
    while (m->inflight > 0)
        pthread_cond_wait(&m->cv, &m->mu);
    pthread_mutex_unlock(&m->mu);
    return m->failed ? -EIO : 0;
}

int minpub_run(const char *uri, const char *topic, int qos, uint64_t count,
               size_t len, unsigned window, double *secs, char *err,
               size_t errlen)
{
    MQTTAsync_connectOptions cn = MQTTAsync_connectOptions_initializer;
    MQTTAsync c;
    struct mp m = {.mu = PTHREAD_MUTEX_INITIALIZER,
                   .cv = PTHREAD_COND_INITIALIZER};
    uint8_t *buf = calloc(1, len ? len : 1);
    char id[64];
    double t0;
    int rc = -ECONNREFUSED;

    if (buf == NULL)
        return -ENOMEM;
    snprintf(id, sizeof(id), "weir-minpub-%ld", (long)getpid());
    if (MQTTAsync_create(&c, uri, id, MQTTCLIENT_PERSISTENCE_NONE, NULL) !=
        MQTTASYNC_SUCCESS) {
        free(buf);
        snprintf(err, errlen, "bad URI %s", uri);
        return -EINVAL;
    }
    MQTTAsync_setCallbacks(c, &m, NULL, on_msg, NULL);
    cn.cleansession = 1;
    cn.keepAliveInterval = 30;
    cn.maxInflight = (int)window;
    cn.onSuccess = on_conn;
    cn.onFailure = on_conn_fail;
    cn.context = &m;
    if (MQTTAsync_connect(c, &cn) == MQTTASYNC_SUCCESS) {
        pthread_mutex_lock(&m.mu);
        while (m.state == 0)
            pthread_cond_wait(&m.cv, &m.mu);
        pthread_mutex_unlock(&m.mu);
    }
    if (m.state == 1) {
        t0 = now_s();
        rc = publish_all(c, &m, topic, qos, count, buf, len, window);
        *secs = now_s() - t0;
        MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
        d.timeout = 1000;
        MQTTAsync_disconnect(c, &d);
        if (rc < 0)
            snprintf(err, errlen, "publishing failed");
    } else {
        snprintf(err, errlen, "cannot connect to %s", uri);
    }
    MQTTAsync_destroy(&c);
    free(buf);
    return rc;
}
