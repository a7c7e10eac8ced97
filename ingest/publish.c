/* publish.c -- outgoing topics, dead-letter envelopes, and the bounded
 * queue between the loop thread and the MQTT worker thread.
 *
 * The queue is a singly linked FIFO of items, each one allocation holding
 * its topic and payload, guarded by one mutex and one condition variable.
 * Outgoing traffic is a few messages per window, snapshot or reject, far
 * from the ingest rate, so a lock is the simple right tool here; the hot
 * direction (Paho -> loop) is the lock-free ring. The lock is never held
 * across a call out of this file.
 *
 * Bounded: max_bytes counts topic + payload + the item header; a push over
 * it is refused and counted per kind, never blocking the loop thread.
 *
 * Threads: see publish.h. push from the loop thread; pop, unpop and done
 * from the MQTT worker; close, drain and stats from any thread. */
#include "ingest/publish.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ingest/topic.h"

struct publish_queue {
    pthread_mutex_t lock;            /* Guards everything below. */
    pthread_cond_t cond;             /* Signalled on push, done and close. */
    struct publish_item *head;       /* Oldest item, or NULL. */
    struct publish_item *tail;       /* Newest item, or NULL. */
    size_t max_bytes;                /* Bound; constant. */
    size_t bytes;                    /* Bytes queued now. */
    size_t depth;                    /* Items queued now. */
    size_t busy;                     /* Popped and not done yet. */
    bool closed;                     /* publish_queue_close() was called. */
    uint64_t queued[PUBLISH_KINDS];  /* Counters, under lock. */
    uint64_t dropped[PUBLISH_KINDS]; /* Counters, under lock. */
};

static const char *const kind_names[PUBLISH_KINDS] = {
    "snapshot", "metrics", "prediction", "drift", "anomaly", "reject", "status",
};

const char *publish_kind_name(enum publish_kind kind)
{
    return (unsigned)kind < PUBLISH_KINDS ? kind_names[kind] : "unknown";
}

void publish_topics_default(struct publish_topics *t)
{
    static const char *const tpl[PUBLISH_KINDS] = {
        "weir/model/{task}/snapshot",
        "weir/model/{task}/metrics",
        "weir/pred/{task}/{device}",
        "weir/model/{task}/drift",
        "weir/anomaly/{task}/{device}",
        "weir/rejects/{reason}",
        "weir/status",
    };
    static const int qos[PUBLISH_KINDS] = {1, 1, 0, 1, 1, 1, 1};
    int k;

    memset(t, 0, sizeof(*t));
    for (k = 0; k < PUBLISH_KINDS; k++) {
        snprintf(t->t[k], sizeof(t->t[k]), "%s", tpl[k]);
        t->qos[k] = qos[k];
    }
    t->retained[PUBLISH_SNAPSHOT] = true;
    t->retained[PUBLISH_STATUS] = true;
}

size_t publish_topic(const struct publish_topics *t,
                     const struct publish_msg *m, char *buf, size_t cap)
{
    const char *const keys[4] = {"task", "device", "sensor", "reason"};
    const char *vals[4];

    vals[0] = m->task;
    vals[1] = m->device;
    vals[2] = m->sensor;
    vals[3] = m->reason;
    if ((unsigned)m->kind >= PUBLISH_KINDS) {
        if (cap > 0)
            buf[0] = '\0';
        return 0;
    }
    return topic_render(t->t[m->kind], keys, vals, 4, buf, cap);
}

/* Append s to buf as a JSON string (quotes, escapes); returns the new
 * length (may exceed cap: only what fits is written). */
static size_t json_str(char *buf, size_t cap, size_t at, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    char tmp[7];

#define PUT(c)                                                                 \
    do {                                                                       \
        if (at < cap)                                                          \
            buf[at] = (c);                                                     \
        at++;                                                                  \
    } while (0)
    PUT('"');
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        size_t i, n = 0;
        if (c == '"' || c == '\\') {
            tmp[n++] = '\\';
            tmp[n++] = (char)c;
        } else if (c < 0x20) {
            memcpy(tmp, "\\u00", 4);
            n = 4;
            tmp[n++] = hex[c >> 4];
            tmp[n++] = hex[c & 15];
        } else {
            tmp[n++] = (char)c;
        }
        for (i = 0; i < n; i++)
            PUT(tmp[i]);
    }
    PUT('"');
#undef PUT
    return at;
}

size_t publish_reject_envelope(const char *reason, const char *topic,
                               const uint8_t *payload, size_t len,
                               size_t orig_len, char *buf, size_t cap)
{
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t at = 0;
    size_t i;

#define PUTS(s)                                                                \
    do {                                                                       \
        const char *s_ = (s);                                                  \
        for (; *s_ != '\0'; s_++, at++)                                        \
            if (at < cap)                                                      \
                buf[at] = *s_;                                                 \
    } while (0)
    PUTS("{\"reason\":");
    at = json_str(buf, cap, at, reason);
    PUTS(",\"topic\":");
    at = json_str(buf, cap, at, topic);
    PUTS(",\"payload_b64\":\"");
    for (i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)payload[i] << 16;
        char q[5];
        if (i + 1 < len)
            v |= (uint32_t)payload[i + 1] << 8;
        if (i + 2 < len)
            v |= payload[i + 2];
        q[0] = b64[(v >> 18) & 63];
        q[1] = b64[(v >> 12) & 63];
        q[2] = i + 1 < len ? b64[(v >> 6) & 63] : '=';
        q[3] = i + 2 < len ? b64[v & 63] : '=';
        q[4] = '\0';
        PUTS(q);
    }
    PUTS("\"");
    if (orig_len > len) {
        char tail[64];
        snprintf(tail, sizeof(tail), ",\"truncated\":true,\"payload_len\":%zu",
                 orig_len);
        PUTS(tail);
    }
    PUTS("}");
#undef PUTS
    if (cap > 0)
        buf[at < cap ? at : cap - 1] = '\0';
    return at;
}

/* ---- Queue ------------------------------------------------------------- */

int publish_queue_new(struct publish_queue **out, size_t max_bytes)
{
    struct publish_queue *q;

    if (max_bytes == 0)
        return -EINVAL;
    if ((q = calloc(1, sizeof(*q))) == NULL)
        return -ENOMEM;
    if (pthread_mutex_init(&q->lock, NULL) != 0)
        goto out_free;
    if (pthread_cond_init(&q->cond, NULL) != 0)
        goto out_mutex;
    q->max_bytes = max_bytes;
    *out = q;
    return 0;
out_mutex:
    pthread_mutex_destroy(&q->lock);
out_free:
    free(q);
    return -ENOMEM;
}

void publish_queue_free(struct publish_queue *q)
{
    struct publish_item *it;

    if (q == NULL)
        return;
    while ((it = q->head) != NULL) {
        q->head = it->next;
        free(it);
    }
    pthread_cond_destroy(&q->cond);
    pthread_mutex_destroy(&q->lock);
    free(q);
}

static size_t item_bytes(const struct publish_item *it)
{
    return sizeof(*it) + strlen(it->topic) + 1 + it->len +
           (it->orig_topic ? strlen(it->orig_topic) + 1 : 0);
}

/* One allocation: header, topic, original topic, payload. */
static struct publish_item *item_new(const struct publish_msg *m,
                                     const char *topic, int qos, bool retained)
{
    size_t tlen = strlen(topic) + 1;
    size_t olen = m->orig_topic ? strlen(m->orig_topic) + 1 : 0;
    struct publish_item *it = malloc(sizeof(*it) + tlen + olen + m->len);
    char *p;

    if (it == NULL)
        return NULL;
    memset(it, 0, sizeof(*it));
    p = (char *)(it + 1);
    it->kind = m->kind;
    it->qos = qos;
    it->retained = retained;
    if (m->reason != NULL)
        snprintf(it->reason, sizeof(it->reason), "%s", m->reason);
    it->topic = memcpy(p, topic, tlen);
    if (olen > 0)
        it->orig_topic = memcpy(p + tlen, m->orig_topic, olen);
    it->payload = (uint8_t *)(p + tlen + olen);
    if (m->len > 0)
        memcpy(it->payload, m->payload, m->len);
    it->len = m->len;
    return it;
}

int publish_queue_push(struct publish_queue *q, const struct publish_msg *m,
                       const char *topic, int qos, bool retained)
{
    unsigned k = (unsigned)m->kind < PUBLISH_KINDS ? m->kind : 0;
    struct publish_item *it = item_new(m, topic, qos, retained);
    int rc = 0;

    pthread_mutex_lock(&q->lock);
    if (it == NULL) {
        rc = -ENOMEM;
    } else if (q->bytes + item_bytes(it) > q->max_bytes) {
        rc = -ENOBUFS;
    } else {
        q->bytes += item_bytes(it);
        q->depth++;
        if (q->tail != NULL)
            q->tail->next = it;
        else
            q->head = it;
        q->tail = it;
        q->queued[k]++;
        pthread_cond_signal(&q->cond);
    }
    if (rc != 0)
        q->dropped[k]++;
    pthread_mutex_unlock(&q->lock);
    if (rc != 0)
        free(it);
    return rc;
}

/* Absolute CLOCK_REALTIME deadline timeout_ms from now (pthread default). */
static struct timespec deadline(int64_t timeout_ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(timeout_ms / 1000);
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

struct publish_item *publish_queue_pop(struct publish_queue *q,
                                       int64_t timeout_ms)
{
    struct timespec until = deadline(timeout_ms);
    struct publish_item *it;

    pthread_mutex_lock(&q->lock);
    while (q->head == NULL && !q->closed && timeout_ms > 0)
        if (pthread_cond_timedwait(&q->cond, &q->lock, &until) != 0)
            break;
    it = q->head;
    if (it != NULL) {
        q->head = it->next;
        if (q->head == NULL)
            q->tail = NULL;
        it->next = NULL;
        q->depth--;
        q->bytes -= item_bytes(it);
        q->busy++;
    }
    pthread_mutex_unlock(&q->lock);
    return it;
}

void publish_queue_unpop(struct publish_queue *q, struct publish_item *it)
{
    pthread_mutex_lock(&q->lock);
    it->next = q->head;
    q->head = it;
    if (q->tail == NULL)
        q->tail = it;
    q->depth++;
    q->bytes += item_bytes(it);
    q->busy--;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->lock);
}

void publish_queue_done(struct publish_queue *q)
{
    pthread_mutex_lock(&q->lock);
    if (q->busy > 0)
        q->busy--;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->lock);
}

void publish_queue_close(struct publish_queue *q)
{
    pthread_mutex_lock(&q->lock);
    q->closed = true;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->lock);
}

bool publish_queue_drain(struct publish_queue *q, int64_t timeout_ms)
{
    struct timespec until = deadline(timeout_ms);
    bool empty;

    pthread_mutex_lock(&q->lock);
    while ((q->head != NULL || q->busy > 0) && timeout_ms > 0)
        if (pthread_cond_timedwait(&q->cond, &q->lock, &until) != 0)
            break;
    empty = q->head == NULL && q->busy == 0;
    pthread_mutex_unlock(&q->lock);
    return empty;
}

void publish_queue_stats(struct publish_queue *q, struct publish_stats *out)
{
    pthread_mutex_lock(&q->lock);
    memcpy(out->queued, q->queued, sizeof(out->queued));
    memcpy(out->dropped, q->dropped, sizeof(out->dropped));
    out->depth = q->depth;
    out->bytes = q->bytes;
    pthread_mutex_unlock(&q->lock);
}
