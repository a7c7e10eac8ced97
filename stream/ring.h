/* ring.h -- bounded single-producer/single-consumer queue of struct reading.
 *
 * The one path between threads (STYLE R10): Paho's callback thread decodes a
 * message into records and pushes them; the libuv loop thread pops them in
 * batches. Records are copied by value (48 bytes, stream/reading.h).
 *
 * The ring never drops and never blocks: a push into a full ring fails with
 * -ENOBUFS and the caller's policy decides (DESIGN.md "Threads": QoS 1/2 are
 * left unacknowledged so the broker keeps them, a QoS 0 drop is counted).
 * ring_push_all() pushes a whole message or nothing, so the consumer always
 * finds a message's records consecutively (READING_MSG_FIRST + nrec).
 *
 * Threads: exactly one producer thread calls the push functions, exactly one
 * consumer thread calls the pop/peek/consume functions; the read-only
 * accessors (depth, high-water mark, capacity) may be called from any
 * thread. ring_new()/ring_free() run while neither side is active. */
#ifndef WEIR_STREAM_RING_H
#define WEIR_STREAM_RING_H

#include <stdbool.h> /* For bool. */
#include <stddef.h>  /* For size_t. */

#include "stream/reading.h" /* For struct reading, the slot type. */

/* ---- Limits ------------------------------------------------------------ */

#define RING_MIN_CAP 2u         /* smallest capacity (records) */
#define RING_MAX_CAP (1u << 24) /* largest capacity: 768 MiB of slots */

/* ---- Types ------------------------------------------------------------- */

struct ring;

/* ---- Lifecycle --------------------------------------------------------- */

/* Create a ring of capacity records; capacity must be a power of two in
 * [RING_MIN_CAP, RING_MAX_CAP]. Returns 0 and *out (returns owned, free with
 * ring_free()), -EINVAL for a bad capacity, -ENOMEM. */
int ring_new(struct ring **out, size_t capacity);

/* Free a ring (takes r); ring_free(NULL) is a no-op. Neither side may be
 * using it. */
void ring_free(struct ring *r);

/* ---- Producer side ----------------------------------------------------- */

/* Copy one record into the ring (borrows rd). Returns 0, or -ENOBUFS if the
 * ring is full (nothing is written). Producer thread only. */
int ring_push(struct ring *r, const struct reading *rd);

/* Copy all n records of rds (borrowed) into the ring, or none of them.
 * Returns 0, -ENOBUFS if fewer than n slots are free, -EMSGSIZE if n is
 * larger than the capacity (it could never fit). Producer thread only. */
int ring_push_all(struct ring *r, const struct reading *rds, size_t n);

/* Free slots as seen by the producer (exact for the producer: the consumer
 * can only add room). Producer thread only. */
size_t ring_room(struct ring *r);

/* ---- Consumer side ----------------------------------------------------- */

/* Copy up to max records, oldest first, into out (borrowed, room for max)
 * and remove them. Returns how many were copied (0 if empty). Consumer
 * thread only. */
size_t ring_pop(struct ring *r, struct reading *out, size_t max);

/* Zero-copy read: set *span to the oldest records and return how many are
 * readable contiguously (they may continue at the start of the slot array;
 * call again after ring_consume()). The records stay valid until they are
 * consumed. Returns 0 if empty. Consumer thread only. */
size_t ring_peek(struct ring *r, const struct reading **span);

/* Release the n oldest records (n <= what ring_peek() returned), making
 * their slots available to the producer. Consumer thread only. */
void ring_consume(struct ring *r, size_t n);

/* ---- Any thread -------------------------------------------------------- */

/* Capacity in records. */
size_t ring_capacity(const struct ring *r);

/* Records in the ring now; approximate while both sides are running. */
size_t ring_depth(const struct ring *r);

/* The largest depth any push ever left behind (exact at push time, written
 * only by the producer, read with a relaxed load): a metric for sizing. */
size_t ring_high_water(const struct ring *r);

/* Records pushed since creation, modulo SIZE_MAX + 1. */
size_t ring_pushed(const struct ring *r);

bool ring_is_empty(const struct ring *r);

#endif /* WEIR_STREAM_RING_H */
