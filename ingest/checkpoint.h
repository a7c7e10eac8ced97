/* checkpoint.h -- the daemon's state on disk: what has been learned up to
 * which ingest-log record, written atomically, read back at start-up.
 *
 * A checkpoint holds the lsn of the last message the pipeline processed,
 * the device and sensor name tables (so every id means the same name
 * after a restart), and the pipeline's image (counters, clock, dedup
 * windows, validation's rate-of-change state, and every task's whole
 * state: learner and row assembly -- the
 * recent values with their lag history and the forecast rows waiting for
 * labels -- or anomaly detectors; ingest/pipeline.h, ingest/task.h). At
 * start-up the daemon restores it and replays the ingest log after that
 * lsn through the same decode path before connecting; dedup makes the
 * replay idempotent, so a crash loses no acknowledged reading and learns
 * none twice, and the models continue as if there had been no restart
 * (tests/test_pipeline.c checks the outputs byte for byte).
 *
 * File: "WEIRCKPT" | format u32 | lsn u64 | created_ms i64 | devices blob
 * | sensors blob | pipeline blob | crc32 (ingest/bytes.h encoding, little
 * endian). Written as checkpoint.tmp, fsync'ed, the previous checkpoint
 * renamed to checkpoint.prev, the new one renamed into place, and the
 * directory fsync'ed: at any moment one complete checkpoint is on disk.
 * Loading falls back to checkpoint.prev if the newest does not check (the
 * daemon keeps the log back to the previous checkpoint for this).
 *
 * Threads: checkpoint_image() reads the intern tables' names (safe while
 * their writer runs) and the pipeline (loop thread); the file functions
 * do blocking I/O and may run on any thread (the daemon uses libuv's
 * thread pool); a struct checkpoint belongs to its caller. */
#ifndef WEIR_INGEST_CHECKPOINT_H
#define WEIR_INGEST_CHECKPOINT_H

#include <stddef.h> /* For size_t. */
#include <stdint.h> /* For uint8_t, uint64_t, int64_t. */

#include "ingest/pipeline.h" /* For struct pipeline. */
#include "stream/intern.h"   /* For struct intern. */

#define CHECKPOINT_FILE "checkpoint"
#define CHECKPOINT_PREV "checkpoint.prev"
#define CHECKPOINT_FORMAT 1u

/* A loaded checkpoint; the pointers borrow data. */
struct checkpoint {
    uint8_t *data;          /* The file's bytes; owned. */
    size_t len;             /* Their count. */
    uint64_t lsn;           /* Last ingest-log lsn covered. */
    int64_t created_ms;     /* Wall time it was written. */
    const uint8_t *devices; /* intern_export() image of device names. */
    size_t devices_len;
    const uint8_t *sensors; /* ...of sensor names. */
    size_t sensors_len;
    const uint8_t *pipeline; /* pipeline_save() image. */
    size_t pipeline_len;
    char file[32]; /* Which file it came from. */
};

/* Build a checkpoint image in memory: *buf returns owned (free()), *len
 * its size. lsn: the last lsn the pipeline processed. 0 or -ENOMEM. */
int checkpoint_image(uint64_t lsn, int64_t created_ms,
                     const struct intern *devices, const struct intern *sensors,
                     const struct pipeline *p, uint8_t **buf, size_t *len);

/* Write data[0..len) (borrowed) to dir/name atomically: a temporary file,
 * fsync, rename, fsync of the directory. If keep_prev is a name, the old
 * dir/name is first renamed to it. Returns 0 or a negative errno. */
int checkpoint_write_atomic(const char *dir, const char *name,
                            const char *keep_prev, const void *data,
                            size_t len);

/* Load dir/checkpoint, else dir/checkpoint.prev, into *out (close with
 * checkpoint_close()). Returns 0, -ENOENT (no checkpoint: a first start),
 * -EBADMSG (both damaged; err says why), or another negative errno. */
int checkpoint_load(const char *dir, struct checkpoint *out, char *err,
                    size_t errlen);

/* Free what a loaded checkpoint owns. */
void checkpoint_close(struct checkpoint *c);

/* Parse an image (borrowed; the pointers in out borrow it; out->data is
 * left NULL). 0 or -EBADMSG. For tests and checkpoint_load(). */
int checkpoint_parse(const uint8_t *buf, size_t len, struct checkpoint *out);

#endif /* WEIR_INGEST_CHECKPOINT_H */
