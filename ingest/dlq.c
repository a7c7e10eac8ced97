/* dlq.c -- SPSC byte ring of dead letters (see dlq.h).
 *
 * Layout of an entry, 8-byte aligned, possibly wrapping around the end of
 * the buffer (copies are split in two):
 *     u32 size (whole entry, padded) | u16 reason | u16 topic_len |
 *     u32 kept_len | u32 orig_len | topic | payload | padding
 * head (producer) and tail (consumer) are free-running byte counters on
 * their own cache lines; the producer writes the entry, then publishes it
 * with a release store of head; the consumer reads head with an acquire
 * load, copies the entry out, then frees it with a release store of tail.
 *
 * Cost: two memcpys per entry on each side; dead letters are rare (a few
 * per second in a bad hour), so nothing here is tuned beyond that.
 *
 * Threads: producer = Paho callback thread, consumer = loop thread. */
#include "ingest/dlq.h"

#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define LINE 64
#define HDR 16

struct dlq {
    alignas(LINE) atomic_size_t head; /* Bytes written; producer. */
    alignas(LINE) atomic_size_t tail; /* Bytes consumed; consumer. */
    alignas(LINE) size_t mask;        /* capacity - 1; constant. */
    uint8_t *buf;                     /* capacity bytes; constant. */
};

int dlq_new(struct dlq **out, size_t capacity)
{
    struct dlq *q;

    if (capacity < DLQ_MIN_CAP || (capacity & (capacity - 1)) != 0)
        return -EINVAL;
    if ((q = aligned_alloc(LINE, sizeof(*q))) == NULL)
        return -ENOMEM;
    memset(q, 0, sizeof(*q));
    if ((q->buf = malloc(capacity)) == NULL) {
        free(q);
        return -ENOMEM;
    }
    atomic_init(&q->head, 0);
    atomic_init(&q->tail, 0);
    q->mask = capacity - 1;
    *out = q;
    return 0;
}

void dlq_free(struct dlq *q)
{
    if (q == NULL)
        return;
    free(q->buf);
    free(q);
}

/* Copy n bytes into the ring at free-running position pos. */
static void put(struct dlq *q, size_t pos, const void *p, size_t n)
{
    size_t at = pos & q->mask;
    size_t first = q->mask + 1 - at;

    if (first > n)
        first = n;
    memcpy(q->buf + at, p, first);
    memcpy(q->buf, (const uint8_t *)p + first, n - first);
}

static void get(const struct dlq *q, size_t pos, void *p, size_t n)
{
    size_t at = pos & q->mask;
    size_t first = q->mask + 1 - at;

    if (first > n)
        first = n;
    memcpy(p, q->buf + at, first);
    memcpy((uint8_t *)p + first, q->buf, n - first);
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

int dlq_push(struct dlq *q, enum reject_reason reason, const char *topic,
             size_t topic_len, const uint8_t *payload, size_t len)
{
    size_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
    size_t tail = atomic_load_explicit(&q->tail, memory_order_acquire);
    size_t kept = len < DLQ_MAX_PAYLOAD ? len : DLQ_MAX_PAYLOAD;
    size_t size;
    uint8_t hdr[HDR];

    if (topic_len > DLQ_MAX_TOPIC)
        topic_len = DLQ_MAX_TOPIC;
    size = (HDR + topic_len + kept + 7) & ~(size_t)7;
    if (size > q->mask + 1 - (head - tail))
        return -ENOBUFS;
    put32(hdr, (uint32_t)size);
    hdr[4] = (uint8_t)reason;
    hdr[5] = (uint8_t)(reason >> 8);
    hdr[6] = (uint8_t)topic_len;
    hdr[7] = (uint8_t)(topic_len >> 8);
    put32(hdr + 8, (uint32_t)kept);
    put32(hdr + 12, len > UINT32_MAX ? UINT32_MAX : (uint32_t)len);
    put(q, head, hdr, HDR);
    put(q, head + HDR, topic, topic_len);
    put(q, head + HDR + topic_len, payload, kept);
    atomic_store_explicit(&q->head, head + size, memory_order_release);
    return 0;
}

int dlq_pop(struct dlq *q, struct dlq_entry *e)
{
    size_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
    size_t head = atomic_load_explicit(&q->head, memory_order_acquire);
    uint8_t hdr[HDR];
    size_t tl;

    if (head == tail)
        return 0;
    get(q, tail, hdr, HDR);
    tl = (size_t)hdr[6] | (size_t)hdr[7] << 8;
    e->reason = (enum reject_reason)(hdr[4] | hdr[5] << 8);
    e->len = get32(hdr + 8);
    e->orig_len = get32(hdr + 12);
    get(q, tail + HDR, e->topic, tl);
    e->topic[tl] = '\0';
    get(q, tail + HDR + tl, e->payload, e->len);
    atomic_store_explicit(&q->tail, tail + get32(hdr), memory_order_release);
    return 1;
}

size_t dlq_bytes(const struct dlq *q)
{
    size_t head = atomic_load_explicit(&q->head, memory_order_acquire);
    size_t tail = atomic_load_explicit(&q->tail, memory_order_acquire);

    return head - tail;
}
