/* dlq.h -- the dead-letter channel: refused messages (reason, topic,
 * payload copy) from the Paho callback thread to the loop thread, which
 * publishes them on weir/rejects/{reason}.
 *
 * A bounded single-producer/single-consumer byte ring, the second and
 * last path from Paho's thread to the loop (the records of accepted
 * messages take the ring of stream/ring.h). Entries are variable-sized
 * (topic and payload are copied: nothing crossing threads points into the
 * other thread's memory), so the bound is in bytes. When an entry does not
 * fit, it is refused and the caller counts it (the reject itself is still
 * counted exactly through the main ring's meta record; only the copy for
 * publishing is lost, and that loss is counted too, never silent). Payload
 * copies are cut at DLQ_MAX_PAYLOAD bytes; the entry keeps the original
 * length.
 *
 * Threads: dlq_push() on the producer thread only, dlq_pop() on the
 * consumer thread only (kfifo discipline, as stream/ring.c: one writer per
 * index, release stores, acquire loads); dlq_bytes() from any thread. */
#ifndef WEIR_INGEST_DLQ_H
#define WEIR_INGEST_DLQ_H

#include <stddef.h> /* For size_t. */
#include <stdint.h> /* For uint8_t, uint32_t. */

#include "stream/reject.h" /* For enum reject_reason. */

/* ---- Limits ------------------------------------------------------------ */

#define DLQ_MAX_TOPIC 65535         /* bytes of a topic (MQTT's limit) */
#define DLQ_MAX_PAYLOAD (64u << 10) /* bytes of payload kept per entry */
#define DLQ_MIN_CAP (256u << 10)    /* smallest capacity in bytes */

/* ---- Types ------------------------------------------------------------- */

struct dlq;

/* One popped entry; the buffers are the caller's. */
struct dlq_entry {
    enum reject_reason reason; /* Why the message was refused. */
    char *topic;               /* NUL-terminated, in the caller's buffer. */
    uint8_t *payload;          /* len bytes, in the caller's buffer. */
    size_t len;                /* Bytes kept (<= DLQ_MAX_PAYLOAD). */
    size_t orig_len;           /* The message's payload length. */
};

/* ---- Lifecycle --------------------------------------------------------- */

/* Create a channel of capacity bytes (a power of two >= DLQ_MIN_CAP).
 * Returns 0 and *out (returns owned, dlq_free()), -EINVAL, -ENOMEM. */
int dlq_new(struct dlq **out, size_t capacity);

/* Free (takes q); NULL is a no-op. Neither side may be using it. */
void dlq_free(struct dlq *q);

/* ---- Producer ---------------------------------------------------------- */

/* Copy one refused message in (topic[0..topic_len) and payload borrowed;
 * the payload copy is cut at DLQ_MAX_PAYLOAD). Returns 0, or -ENOBUFS if
 * it does not fit now (nothing written). */
int dlq_push(struct dlq *q, enum reject_reason reason, const char *topic,
             size_t topic_len, const uint8_t *payload, size_t len);

/* ---- Consumer ---------------------------------------------------------- */

/* Pop the oldest entry into e, whose topic buffer must hold DLQ_MAX_TOPIC
 * + 1 bytes and payload buffer DLQ_MAX_PAYLOAD. Returns 1, or 0 if empty. */
int dlq_pop(struct dlq *q, struct dlq_entry *e);

/* ---- Any thread -------------------------------------------------------- */

/* Bytes in use now (approximate while both sides run). */
size_t dlq_bytes(const struct dlq *q);

#endif /* WEIR_INGEST_DLQ_H */
