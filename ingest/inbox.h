/* inbox.h -- what happens to an MQTT message on Paho's callback thread,
 * before the callback returns (and Paho acknowledges it).
 *
 *   1. Decode it (ingest/decoder.h): a meta record plus readings, or a
 *      meta record with the reason it was refused.
 *   2. QoS 0 and no room in the ring: drop it, counted (REJECT_RING_FULL),
 *      and offer a copy to the dead-letter channel. It was never logged.
 *   3. Append it to the ingest log (ingest/wal.h): from here on it
 *      survives kill -9, and a restart replays it. Refused messages are
 *      logged too, so replay reproduces their counts.
 *   4. Push its records into the ring, all or nothing; a refused message
 *      also goes to the dead-letter channel (ingest/dlq.h).
 *   5. uv_async_send() wakes the loop thread -- the only libuv call here,
 *      and only if the loop thread said it was going to sleep
 *      (inbox_consumer_idle(); see inbox.c for why no wake-up is lost).
 *
 * Backpressure. If the ring has no room for a QoS 1/2 message, the
 * callback waits for room -- bounded by wait_ms, well under the MQTT
 * keep-alive -- sleeping in short growing steps. Not returning is the
 * backpressure: Paho stops reading the socket, TCP fills, and the broker
 * holds further messages in the session (see ingest/mqtt.h on why
 * returning 0 would not do that). If the deadline passes, the message is
 * already durable in the log, so it is acknowledged anyway, and the inbox
 * switches to log-only: this and every later message is only appended to
 * the log (in order, not decoded) until the owner has paused MQTT, caught
 * up from the log on the loop thread and called inbox_resume(). Nothing is
 * lost and nothing is taken out of order; the cost is a reconnect.
 *
 * A failed log append (disk full, I/O error) cannot be acknowledged
 * safely, so the callback retries every 100 ms, logging, until it works --
 * holding the message, which again stops Paho reading. Stopping does not
 * end that: returning, whatever the value, acknowledges the message (Paho
 * 1.3 sends the PUBACK after the callback whatever it returns, and a 0
 * only parks the message in Paho's memory: ingest/mqtt.h), and it would be
 * lost. inbox_stop() lifts the log's disk budget instead (the seconds of
 * messages until the disconnect are logged past it), so a full log no
 * longer holds anything; a message that still cannot be logged (a real
 * disk error) is held for good, inbox_held() says so, and the owner ends
 * the process without a clean disconnect: the connection closes without
 * the PUBACK, and the broker delivers the message again to the session.
 *
 * Threads: inbox_message() runs on Paho's callback thread only (it is the
 * ring's and the dead-letter channel's producer, the log's writer and the
 * decoder's user); inbox_consumer_idle() on the ring's consumer thread
 * (the loop thread); inbox_stop(), inbox_stats(), inbox_log_only() from
 * any thread; inbox_resume() while no callback can run (MQTT paused or not
 * started). */
#ifndef WEIR_INGEST_INBOX_H
#define WEIR_INGEST_INBOX_H

#include <stdbool.h> /* For bool. */
#include <stddef.h>  /* For size_t. */
#include <stdint.h>  /* For int64_t, uint64_t. */
#include <uv.h>      /* For uv_async_t. */

#include "ingest/decoder.h" /* For struct decoder. */
#include "ingest/dlq.h"     /* For struct dlq. */
#include "ingest/wal.h"     /* For struct wal. */
#include "stream/ring.h"    /* For struct ring. */

struct inbox_config {
    struct decoder *decoder; /* Borrowed; used on the callback thread. */
    struct wal *wal;         /* Borrowed; NULL: nothing is logged. */
    struct ring *ring;       /* Borrowed; we are its producer. */
    struct dlq *dlq;         /* Borrowed; we are its producer. */
    uv_async_t *wakeup;      /* Borrowed; wakes the loop thread. */
    int64_t wait_ms;         /* Longest wait for ring room (QoS > 0). */
};

/* Counters; inbox_stats() from any thread. */
struct inbox_stats {
    uint64_t messages;   /* Callbacks handled. */
    uint64_t qos[3];     /* Of those, by QoS. */
    uint64_t dups;       /* Of those, with the DUP flag (redeliveries). */
    uint64_t ring_drops; /* QoS 0 messages dropped: ring full. */
    uint64_t waits;      /* Messages that waited for ring room. */
    uint64_t wait_ms;    /* Total time waited, ms. */
    uint64_t timeouts;   /* Waits that hit the deadline (log-only). */
    uint64_t log_only;   /* Messages only logged (caught up later). */
    uint64_t dlq_full;   /* Dead-letter copies refused: channel full. */
    uint64_t wal_errors; /* Failed log appends (each retried). */
    uint64_t last_lsn;   /* lsn of the last message logged. */
};

struct inbox;

/* Create (borrows cfg's parts, which must outlive it). Returns 0 and *out
 * (returns owned, inbox_free()), -EINVAL, -ENOMEM. */
int inbox_new(struct inbox **out, const struct inbox_config *cfg);

/* Free (takes ib); NULL is a no-op. */
void inbox_free(struct inbox *ib);

/* Handle one message (everything borrowed; see the top). Returns 1 once
 * the message is logged (or dropped, counted, for QoS 0), or 0 -- Paho
 * keeps it in memory and calls again -- only without a log, when stopping
 * before the message could be pushed. Does not return while the message
 * cannot be logged (see the top). Called on: Paho's callback thread. */
int inbox_message(struct inbox *ib, const char *topic, size_t topic_len,
                  const void *payload, size_t len, int qos, bool dup);

/* The consumer drained the ring and the dead-letter channel and is about
 * to wait for the next wake-up (return from its uv_async_t callback).
 * Returns true if it may (from now on the next message wakes it), false
 * if something arrived meanwhile: drain again, then call this again. Until
 * it returns true, no message wakes the loop thread: the consumer must
 * keep draining (or wake itself with uv_async_send() to yield to other
 * events). Called on: the ring's consumer thread. */
bool inbox_consumer_idle(struct inbox *ib);

/* true once a wait timed out: the owner must pause MQTT, catch up from
 * the log after the last lsn it processed, then inbox_resume(). */
bool inbox_log_only(const struct inbox *ib);

/* Back to normal after a catch-up (no callback may be running). */
void inbox_resume(struct inbox *ib);

/* Shutdown: from now on messages are only logged (the loop thread drains
 * what is in the ring), a callback waiting for ring room gives up at once,
 * and the log's budget is lifted (wal_set_unbounded()). Any thread. */
void inbox_stop(struct inbox *ib);

/* true while a callback holds a message the log refuses (see the top):
 * Paho cannot be disconnected or destroyed until it returns (it holds
 * Paho's mutex), and the inbox, the log, the ring and the decoder must
 * not be freed. Any thread. */
bool inbox_held(const struct inbox *ib);

void inbox_stats(const struct inbox *ib, struct inbox_stats *out);

#endif /* WEIR_INGEST_INBOX_H */
