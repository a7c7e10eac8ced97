/* admit.h -- the loop-side gate: records popped from the ring go through
 * dedup (per message) and validation (per record), and every record comes
 * out of exactly one of two callbacks, accepted or rejected with a reason.
 * Nothing is dropped silently, and every outcome is counted.
 *
 * Framing (stream/reading.h): a message is a record with READING_MSG_FIRST
 * and nrec, followed by nrec - 1 records. A message may be split across two
 * admit_run() calls (the consumer popped part of it); its head is copied
 * into a bounded assembly buffer until the rest arrives. Broken framing --
 * a record outside any message, nrec == 0, a new message before the last
 * one ended -- rejects the records involved as REJECT_DECODE_ERROR; a
 * message longer than max_msg_records is REJECT_TOO_LARGE. Neither can
 * happen with a correct producer (ring_push_all()).
 *
 * If the message is a duplicate or stale, all of its records are rejected
 * with that reason and validation does not run; otherwise each record is
 * validated on its own and rejected or accepted.
 *
 * Threads: a struct admit and the dedup and validate it borrows belong to
 * one thread (the loop thread); the callbacks run on that thread, inside
 * admit_run(). */
#ifndef WEIR_STREAM_ADMIT_H
#define WEIR_STREAM_ADMIT_H

#include <stddef.h> /* For size_t. */
#include <stdint.h> /* For uint64_t, int64_t. */

#include "stream/dedup.h"    /* For struct dedup. */
#include "stream/reading.h"  /* For struct reading. */
#include "stream/reject.h"   /* For enum reject_reason, reject_counts. */
#include "stream/validate.h" /* For struct validate. */

/* ---- Types ------------------------------------------------------------- */

struct admit;

/* An accepted record (borrowed for the call). Called on: loop thread. */
typedef void (*admit_accept_fn)(void *ctx, const struct reading *r);

/* A rejected record (borrowed for the call) and why. Called on: loop
 * thread. */
typedef void (*admit_reject_fn)(void *ctx, const struct reading *r,
                                enum reject_reason why);

struct admit_config {
    struct dedup *dedup;       /* Borrowed; NULL: no deduplication. */
    struct validate *validate; /* Borrowed; NULL: no validation. */
    admit_accept_fn on_accept; /* Required. */
    admit_reject_fn on_reject; /* Required. */
    void *ctx;                 /* Passed to both callbacks. */
    size_t max_msg_records;    /* Longest message; 0: 65535 (nrec's max). */
};

/* Counters since admit_new(). Records unless the name says messages; every
 * record admit_run() was given is in accepted, in rejects, or pending. */
struct admit_counts {
    uint64_t records;             /* Records taken in by admit_run(). */
    uint64_t accepted;            /* Records handed to on_accept. */
    struct reject_counts rejects; /* Records handed to on_reject, by reason. */
    uint64_t messages;            /* Complete messages judged. */
    uint64_t msg_duplicates;      /* Messages refused as REJECT_DUPLICATE. */
    uint64_t msg_stale;           /* Messages refused as REJECT_STALE. */
    uint64_t restarts;            /* Device counter restarts (from dedup). */
};

/* ---- Lifecycle --------------------------------------------------------- */

/* Create an admit stage (borrows cfg; the dedup and validate it names must
 * outlive it). Returns 0 and *out (returns owned, free with admit_free()),
 * -EINVAL (missing callback, max_msg_records > 65535), -ENOMEM. */
int admit_new(struct admit **out, const struct admit_config *cfg);

/* Free (takes a); admit_free(NULL) is a no-op. Records still pending are
 * lost, which admit_pending() can tell beforehand. */
void admit_free(struct admit *a);

/* ---- Operations -------------------------------------------------------- */

/* Judge recs[0..n) (borrowed; e.g. a ring_peek() span or a ring_pop()
 * batch) at time now_ms, calling the callbacks for every complete message.
 * Records of a message that is not complete yet are copied and judged on a
 * later call. Never allocates. */
void admit_run(struct admit *a, const struct reading *recs, size_t n,
               int64_t now_ms);

/* Records held back in the assembly buffer (a message not complete yet). */
size_t admit_pending(const struct admit *a);

/* Copy the counters into *out (restarts is read from the dedup). */
void admit_counts(const struct admit *a, struct admit_counts *out);

#endif /* WEIR_STREAM_ADMIT_H */
