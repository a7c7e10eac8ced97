/* dedup.h -- accept each message once: per-device anti-replay windows over
 * sequence numbers, and a time-bounded set of content hashes for messages
 * that carry no sequence number.
 *
 * Dedup works per message (stream/reading.h): the caller passes the records
 * of one message (the first carries READING_MSG_FIRST and nrec) and applies
 * the verdict to all of them. One (device, seq) covers a whole ReadingBatch.
 *
 * Messages with a sequence number (READING_HAS_SEQ). Each device has a
 * sliding window of `window` sequence numbers ending at the highest one
 * accepted so far (top), kept as a bitmap as in IPsec ESP (RFC 4303 3.4.3,
 * with RFC 6479's block layout, so sliding costs O(1) words):
 *   - seq > top: new; the window slides forward and seq is accepted.
 *   - top - window < seq <= top: accepted if its bit is clear (a late
 *     arrival), else REJECT_DUPLICATE -- unless it is a restart (below).
 *   - seq <= top - window (older than the window): REJECT_STALE -- unless
 *     it is a restart.
 * Counter restarts (reboot, factory reset, wrap): a message whose seq is
 * behind top and would be refused as above is accepted as a restart if it
 * carries a device timestamp (READING_HAS_TS) strictly newer than the
 * newest device timestamp accepted from that device. The device's window
 * is reset to end at seq, and `restarts` is counted. This never lets a true
 * duplicate through: a redelivery or retransmit carries the timestamp of a
 * message already accepted, which is not newer than the newest. A message
 * without a device timestamp cannot prove it is new and is refused. A
 * timestamp more than ts_future_ms ahead of now_ms is not taken as the
 * newest (a device with a wrong clock must not disable restart detection
 * for the rest of the day).
 * The first message of a device opens its window at its seq. Per-device
 * state is an array indexed by the dense device id (stream/intern.h), so it
 * is bounded by max_devices, which must match the device table's capacity;
 * each device costs 24 bytes plus the bitmap, rounded up to a power of two
 * of 64-bit words (256 bytes for the default window).
 *
 * Messages without a sequence number are identified by a 64-bit hash of the
 * device id and every record's (sensor id, timestamp, value bits), held for
 * hold_ms after it was first seen. The set is bounded (hash_capacity): when
 * it is full the oldest entry is evicted early, which is counted
 * (`hash_evictions`), so a retransmit that arrives after the eviction is
 * accepted again; size it as (messages without seq per second) x hold_ms.
 * A message whose timestamp was filled in by the receiver (no
 * READING_HAS_TS) hashes differently on each delivery and cannot be caught.
 *
 * Time is always passed in (now_ms, milliseconds, monotonic or wall: only
 * differences matter); nothing here reads a clock. State can be serialised
 * into a caller buffer for checkpoints and restored, even into a dedup with
 * a different window width.
 *
 * Threads: a struct dedup belongs to one thread (the loop thread); the
 * functions are not thread-safe. */
#ifndef WEIR_STREAM_DEDUP_H
#define WEIR_STREAM_DEDUP_H

#include <stddef.h> /* For size_t. */
#include <stdint.h> /* For uint8_t, uint32_t, uint64_t, int64_t. */

#include "stream/reading.h" /* For struct reading. */
#include "stream/reject.h"  /* For enum reject_reason. */

/* ---- Limits ------------------------------------------------------------ */

#define DEDUP_DEFAULT_WINDOW 1024u   /* sequence numbers per device window */
#define DEDUP_MAX_WINDOW 65536u      /* widest window (8 KiB per device) */
#define DEDUP_MAX_DEVICES (1u << 24) /* equals INTERN_MAX_CAP */
#define DEDUP_MAX_HASHES (1u << 24)  /* content hashes held at once */
#define DEDUP_FORMAT_VERSION 1u      /* of dedup_serialize()'s output */

/* ---- Types ------------------------------------------------------------- */

struct dedup;

struct dedup_config {
    size_t max_devices;   /* Device ids 0..max_devices-1 (device table cap). */
    uint32_t window;      /* Window width in seqs; a multiple of 64, >= 64. */
    size_t hash_capacity; /* Content hashes held at once (>= 1). */
    int64_t hold_ms;      /* How long a content hash is remembered (>= 0). */
    int64_t ts_future_ms; /* Lead over now_ms beyond which a device ts is
                             not trusted as the newest (>= 0). */
};

/* Counters since dedup_new(); all per message, not per record. */
struct dedup_stats {
    uint64_t accepted;       /* Messages accepted (new). */
    uint64_t duplicates;     /* REJECT_DUPLICATE, by seq or by content. */
    uint64_t stale;          /* REJECT_STALE: seq older than the window. */
    uint64_t restarts;       /* Counter restarts accepted (see above). */
    uint64_t bad_device;     /* Device id >= max_devices (REJECT_TABLE_FULL). */
    uint64_t hash_expired;   /* Content hashes dropped after hold_ms. */
    uint64_t hash_evictions; /* Content hashes dropped early: set was full. */
};

/* ---- Lifecycle --------------------------------------------------------- */

/* Defaults: window DEDUP_DEFAULT_WINDOW, 65536 hashes held 10 minutes,
 * ts_future_ms 5 minutes, and max_devices as given. */
struct dedup_config dedup_config_default(size_t max_devices);

/* Create a dedup (borrows cfg). Returns 0 and *out (returns owned, free
 * with dedup_free()), -EINVAL for a bad configuration, -ENOMEM. All memory
 * is allocated here; dedup_check() never allocates. */
int dedup_new(struct dedup **out, const struct dedup_config *cfg);

/* Free a dedup (takes d); dedup_free(NULL) is a no-op. */
void dedup_free(struct dedup *d);

/* ---- Operations -------------------------------------------------------- */

/* Decide on one message: msg[0..n) are its records (borrowed; n >= 1;
 * msg[0] decides device, seq and flags). Returns REJECT_NONE (accepted and
 * remembered), REJECT_DUPLICATE, REJECT_STALE, or REJECT_TABLE_FULL if the
 * device id is outside max_devices. now_ms drives content-hash expiry. */
enum reject_reason dedup_check(struct dedup *d, const struct reading *msg,
                               size_t n, int64_t now_ms);

/* Hint: start loading the state dedup_check() will touch for the message
 * whose first record is r (borrowed), so that a caller walking a batch can
 * overlap the cache misses of several devices. No effect on results. */
void dedup_prefetch(const struct dedup *d, const struct reading *r);

/* Copy the counters into *out. */
void dedup_stats(const struct dedup *d, struct dedup_stats *out);

/* The configuration in use. */
const struct dedup_config *dedup_config(const struct dedup *d);

/* ---- Checkpoints ------------------------------------------------------- */

/* Serialise the state (device windows and held content hashes; not the
 * counters) into buf (borrowed, cap bytes). The format is versioned
 * (DEDUP_FORMAT_VERSION), little-endian and checksummed. Returns the size
 * needed; the buffer holds a complete image only if that is <= cap. */
size_t dedup_serialize(const struct dedup *d, uint8_t *buf, size_t cap);

/* Replace d's state with the image in buf[0..len) (borrowed). Windows are
 * converted if d's width differs (the newest seqs are kept); if the image
 * holds more content hashes than d can, the newest are kept. Returns 0,
 * -EBADMSG (truncated, checksum or structure wrong), -EPROTONOSUPPORT
 * (unknown format version), -ENOSPC (a device id >= max_devices). On error
 * d is left unchanged. */
int dedup_deserialize(struct dedup *d, const uint8_t *buf, size_t len);

#endif /* WEIR_STREAM_DEDUP_H */
