/* wal.h -- the durable ingest log: every MQTT message, written before it
 * is acknowledged.
 *
 * Why: Paho acknowledges a QoS 1 message (PUBACK) as soon as the
 * message-arrived callback returns, and after that the broker forgets it.
 * So the callback appends the message here first; if weir is killed, the
 * records past the last checkpoint are replayed at start-up (DESIGN.md
 * "Restarts": no acknowledged reading lost, none learnt twice -- the
 * checkpoint holds the lsn of the last record it covers, and replay starts
 * right after it).
 *
 * Layout: a directory of segment files named by the lsn of their first
 * record ("00000000000000000001.wal", 20 digits, so names sort in lsn
 * order), each a 32-byte header and then records, 8-byte aligned:
 *
 *     segment header: "WEIRWAL\0" | version u32 | crc32 u32 | first_lsn u64
 *                     | created_ns i64                           (32 bytes)
 *     record:  magic u32 | crc32 u32 | lsn u64 | recv_ns i64 | payload_len
 *              u32 | topic_len u16 | qos u8 | flags u8 | topic | payload
 *              | zero padding to a multiple of 8
 *
 * All integers little-endian; crc32 is zlib's, over everything after the
 * crc field (header rest, topic, payload, padding). lsn ("log sequence
 * number") counts records from 1, +1 per record; a segment holds
 * consecutive lsns, and lsns only grow across segments (a gap is possible
 * after wal_open() with min_next_lsn, see there).
 *
 * Crashes. A record is copied into a shared mapping of the segment file
 * (or, when it crosses the mapped window's end, written with pwritev(2)):
 * either way it is in the page cache when wal_append() returns, so it
 * survives kill -9 of weir (the kernel owns the pages; wal.c explains the
 * mapping). A kill in the middle of the copy leaves a torn tail: a record
 * whose length or CRC does not check, and after it the zeros of the
 * writer's reservation. Readers skip both; wal_open() truncates them away
 * before appending again. A damaged record in the middle
 * (bad disk sector, power loss with out-of-order page writeback) is skipped
 * by scanning forward at 8-byte steps for the next record that checks and
 * whose lsn is larger, and counted; nothing after it is lost.
 *
 * Power loss is a different matter: pages in the cache are lost unless
 * flushed. enum wal_sync chooses (cost measured by bench/bench_wal.c):
 *   WAL_SYNC_NONE      never fdatasync; survives a crash of weir, not of
 *                      the machine (the kernel writes dirty pages back
 *                      within ~30 s, vm.dirty_expire_centisecs). Fastest.
 *   WAL_SYNC_INTERVAL  appends are flushed within 1.5 x sync_interval_ms,
 *                      and at most that much is lost on power loss. The
 *                      default (1 s), as Redis's appendfsync everysec, and
 *                      as there the flush belongs on another thread: the
 *                      daemon calls wal_sync() every interval from a
 *                      libuv worker (uv_queue_work). If no wal_sync() came
 *                      for 1.5 intervals, wal_append() flushes inline, so
 *                      the bound holds without the daemon's help, at the
 *                      price of stalling the Paho thread for the flush (at
 *                      full speed a second's worth of appends, tens of MB:
 *                      ~100 ms; at 10k messages/s about 1 MB: ~ms).
 *                      Rotation also flushes the closed segment inline.
 *   WAL_SYNC_ALWAYS    fdatasync before wal_append() returns: nothing
 *                      acknowledged is ever lost, at one device flush per
 *                      message (~0.1-10 ms each: hundreds to a few thousand
 *                      messages per second at most).
 * wal_sync() makes everything appended so far durable whatever the policy;
 * the daemon calls it before writing a checkpoint, so a checkpoint never
 * refers to records that could vanish in a power loss.
 *
 * Disk budget. The segments together may use at most max_bytes (file
 * sizes: the current segment's reservation counts). An append
 * that would go over waits (up to full_wait_ms, on a condition variable
 * that wal_truncate_before() signals) for the loop thread to checkpoint and
 * truncate, and then fails with -ENOSPC, counted. The daemon never answers
 * that by returning "not processed" (0) from Paho's messageArrived: Paho
 * 1.3.12 sends the PUBACK whatever the callback returns, and a 0 only
 * parks the message in Paho's unbounded in-memory queue, lost on a crash
 * (ingest/mqtt.h). Instead the callback keeps the message and retries the
 * append every 100 ms, logging (ingest/inbox.h), until a checkpoint has
 * made room -- the daemon checkpoints early once the log is half full --
 * or, once the daemon stops, wal_set_unbounded() has lifted the budget.
 * While the callback has not returned, Paho reads nothing more from the
 * socket, so later messages wait at the broker in the persistent session:
 * backpressure instead of loss. (A ring that
 * stays full is another matter: after a bounded wait the message, already
 * in this log, is acknowledged, and the inbox only logs until the loop
 * thread has caught up from the log.) A full disk (ENOSPC from the file
 * system) gives the same -ENOSPC; the partial record is cut off again so
 * the log stays well-formed.
 *
 * Threads: exactly one writer thread (the Paho callback thread) calls
 * wal_append(); it owns the current segment's descriptor, offset and the
 * next lsn, and takes no lock on the fast path. wal_truncate_before() runs
 * on another thread (the loop thread, after a checkpoint) and deletes
 * closed segments; wal_sync() may run on any thread. The segment list and
 * the identity of the current descriptor are guarded by a mutex that the
 * writer takes only to rotate segments or to wait for room; counters are
 * atomics, so wal_stats() may run on any thread. wal_open(), wal_free()
 * and wal_replay() run while no other thread uses the directory (start-up
 * and shutdown). */
#ifndef WEIR_INGEST_WAL_H
#define WEIR_INGEST_WAL_H

#include <stddef.h> /* For size_t. */
#include <stdint.h> /* For uint8_t, uint64_t, int64_t. */

/* ---- Limits ------------------------------------------------------------ */

#define WAL_SEG_HEADER 32           /* bytes of a segment header */
#define WAL_REC_HEADER 32           /* bytes of a record header */
#define WAL_MIN_SEGMENT 4096        /* smallest segment_bytes */
#define WAL_MAX_TOPIC 65535         /* bytes of a topic (MQTT's limit) */
#define WAL_MAX_PAYLOAD (16u << 20) /* bytes of one payload */

/* ---- Types ------------------------------------------------------------- */

struct wal;

enum wal_sync {
    WAL_SYNC_NONE = 0,     /* Page cache only: survives kill -9. */
    WAL_SYNC_INTERVAL = 1, /* fdatasync every sync_interval_ms. */
    WAL_SYNC_ALWAYS = 2,   /* fdatasync every append. */
};

struct wal_options {
    uint64_t segment_bytes;   /* Segment size before rotation; 64 MiB. */
    uint64_t max_bytes;       /* All segments together; 1 GiB. */
    enum wal_sync sync;       /* Durability policy; WAL_SYNC_INTERVAL. */
    int64_t sync_interval_ms; /* For WAL_SYNC_INTERVAL; 1000. */
    int64_t full_wait_ms;     /* Longest wait for room when full; 100. */
    uint64_t min_next_lsn;    /* The next append gets at least this lsn;
                                 the checkpoint's lsn + 1 (default 1). */
};

/* One record, as replay hands it out; pointers valid during the callback. */
struct wal_record {
    uint64_t lsn;           /* Log sequence number. */
    int64_t recv_ns;        /* As given to wal_append(). */
    const char *topic;      /* NUL-terminated copy. */
    size_t topic_len;       /* strlen(topic). */
    const uint8_t *payload; /* payload_len bytes. */
    size_t payload_len;
    int qos; /* 0, 1 or 2. */
};

/* Counters; wal_stats() reads them from any thread. */
struct wal_stats {
    uint64_t next_lsn;           /* lsn the next append will get. */
    uint64_t synced_lsn;         /* Records <= this were fdatasync'ed. */
    uint64_t bytes;              /* On disk, all segments (file sizes). */
    uint64_t segments;           /* Segment files. */
    uint64_t appends;            /* Records appended since wal_open(). */
    uint64_t syncs;              /* fdatasync calls. */
    uint64_t full_waits;         /* Appends that waited for room. */
    uint64_t full_errors;        /* Appends refused with -ENOSPC. */
    uint64_t io_errors;          /* Failed writes or syncs. */
    uint64_t truncated_segments; /* Deleted by wal_truncate_before(). */
};

/* What wal_replay() or wal_open() found. */
struct wal_scan_stats {
    uint64_t records;       /* Records delivered (replay). */
    uint64_t first_lsn;     /* First lsn delivered (replay; 0: none). Above
                               from_lsn: the records between are gone. */
    uint64_t last_lsn;      /* Highest valid lsn (0: empty). */
    uint64_t segments;      /* Segment files read. */
    uint64_t corrupt_bytes; /* Skipped between valid records. */
    uint64_t tail_bytes;    /* Torn tail after the last valid record, up
                               to its last nonzero byte (zeros after it
                               are a crashed writer's reservation). */
    uint64_t lost_records;  /* lsn gaps inside segments. */
    uint64_t bad_segments;  /* Unreadable segment headers (skipped). */
};

/* Called on: the thread that calls wal_replay(). Return 0 to continue;
 * anything else stops the replay, which returns it. */
typedef int (*wal_replay_fn)(void *ctx, const struct wal_record *rec);

/* ---- Lifecycle --------------------------------------------------------- */

/* The defaults above. o is the caller's. */
void wal_options_default(struct wal_options *o);

/* Open the log in dir (borrowed; created if missing, parent must exist)
 * for appending, with options opt (borrowed, copied; NULL: defaults).
 * Recovers first: scans the last segment, truncates a torn tail, deletes a
 * last segment whose header is torn, and continues after the highest lsn
 * found (or at opt->min_next_lsn if that is larger: a new segment starts
 * there). If st is not NULL it receives what the scan of the last segment
 * found. Returns 0 and *out (returns owned, free with wal_free()),
 * -EINVAL (bad options), -ENOMEM, or a negative errno from the file
 * system. */
int wal_open(struct wal **out, const char *dir, const struct wal_options *opt,
             struct wal_scan_stats *st);

/* Sync (unless WAL_SYNC_NONE) and close the log; takes w. NULL is a no-op.
 * No other thread may be using it. */
void wal_free(struct wal *w);

/* ---- Writer thread ----------------------------------------------------- */

/* Append one message: topic (borrowed, NUL-terminated, at most
 * WAL_MAX_TOPIC bytes), payload[0..len) (borrowed), qos 0..2, and the
 * receive time. On success returns 0 and sets *lsn to the record's lsn;
 * the record then survives kill -9 (and power loss under WAL_SYNC_ALWAYS).
 * Errors: -EINVAL (bad qos or topic), -EMSGSIZE (the record cannot fit a
 * segment, or len > WAL_MAX_PAYLOAD), -ENOSPC (the log stayed at max_bytes
 * for full_wait_ms, or the disk is full: do not acknowledge), -EIO and
 * other negative errnos from write/fdatasync (the record is not in the
 * log). Only ever called from one thread: the first thread that appends
 * is the writer (asserted). */
int wal_append(struct wal *w, const char *topic, const void *payload,
               size_t len, int qos, int64_t recv_ns, uint64_t *lsn);

/* ---- Other threads ----------------------------------------------------- */

/* Delete every closed segment whose records all have lsn < lsn (they are
 * covered by a durable checkpoint), and wake a writer waiting for room.
 * The current segment is never deleted. Returns the number of segments
 * deleted, or a negative errno if one could not be unlinked (the others
 * are still deleted). Any one thread other than the writer, usually the
 * loop thread. */
int wal_truncate_before(struct wal *w, uint64_t lsn);

/* From now on appends ignore max_bytes (and a writer waiting for room
 * goes on at once). For shutdown: the few seconds of messages that still
 * arrive until the client disconnects are logged past the budget rather
 * than held unacknowledged (see ingest/inbox.h). Any thread. */
void wal_set_unbounded(struct wal *w);

/* Make every record appended so far durable (fdatasync of segments not yet
 * synced, and of the directory if segments were created). Any thread;
 * blocks for the device flush (call it from a thread-pool job if that
 * matters). Returns 0 or a negative errno. */
int wal_sync(struct wal *w);

/* Copy the counters into *out. Any thread. */
void wal_stats(struct wal *w, struct wal_stats *out);

/* ---- Start-up ---------------------------------------------------------- */

/* Read the log in dir (borrowed) and call fn(ctx, record) for every valid
 * record with lsn >= from_lsn, in lsn order; torn tails and damaged
 * records are skipped and counted in *st (may be NULL). Does not modify
 * the directory. Returns 0 when the log is exhausted (an absent directory
 * is an empty log), the callback's nonzero value if it stopped early,
 * -ENOMEM, or a negative errno from the file system. Runs before the
 * writer starts (not concurrently with wal_append()). */
int wal_replay(const char *dir, uint64_t from_lsn, wal_replay_fn fn, void *ctx,
               struct wal_scan_stats *st);

#endif /* WEIR_INGEST_WAL_H */
