/* capfile.h -- capture files: a sequence of length-delimited protobuf
 * Capture records (topic, payload, receive time, qos, retained), as
 * written by weir-sim record and read by weir-sim replay and the daemon's
 * replay. The record format is proto/codec.h's codec_encode_capture().
 *
 * Writing is crash-safe at record granularity: records are encoded into a
 * buffer of whole records and handed to write(2) whole, after every
 * flush_every records (1 = each record as it comes) and on
 * capfile_flush()/close. A recorder killed at any instant therefore leaves
 * whole records, with one exception the kernel makes: a SIGKILL that lands
 * while a write(2) crosses a page boundary may cut it there (as may a full
 * disk), tearing the last record. Readers report a torn tail as truncated
 * (-EAGAIN) after every whole record before it; corruption in the middle
 * never comes from a kill. capfile_sync() adds fsync(2) for power loss.
 *
 * Reading streams through a 1 MiB window (memory bounded by the largest
 * record: topic <= CAPFILE_TOPIC_MAX, payload <= CAPFILE_PAYLOAD_MAX).
 *
 * Threads: one thread at a time per writer or reader. */
#ifndef WEIR_SIM_CAPFILE_H
#define WEIR_SIM_CAPFILE_H

#include <stdbool.h> /* For bool. */
#include <stddef.h>  /* For size_t. */
#include <stdint.h>  /* For uint64_t. */

#include "proto/codec.h" /* For struct codec_capture. */

#define CAPFILE_TOPIC_MAX 65536
#define CAPFILE_PAYLOAD_MAX (512 * 1024)

struct capfile_writer;
struct capfile_reader;

/* Create or truncate path ("-" = standard output). Returns 0 and *out
 * (returns owned; capfile_close), or -errno with "path: reason" in err. */
int capfile_create(struct capfile_writer **out, const char *path,
                   unsigned flush_every, char *err, size_t errlen);

/* Append one record (c borrowed). Returns 0, -EMSGSIZE if it is over the
 * limits, or -errno of a failed write (the file keeps whole records). */
int capfile_write(struct capfile_writer *w, const struct codec_capture *c);

/* Write out buffered records; then fsync for capfile_sync(). 0 or -errno. */
int capfile_flush(struct capfile_writer *w);
int capfile_sync(struct capfile_writer *w);

/* Records written so far. */
uint64_t capfile_records(const struct capfile_writer *w);

/* Flush, fsync (regular files), close, free; NULL is a no-op. 0 or
 * -errno. */
int capfile_close(struct capfile_writer *w);

/* Open path for reading ("-" = standard input). Returns 0 and *out
 * (returns owned; capfile_reader_free), or -errno with a reason in err. */
int capfile_open(struct capfile_reader **out, const char *path, char *err,
                 size_t errlen);

/* The next record: 1 and *c (topic and payload borrowed until the next
 * call), 0 at a clean end of file, or a negative errno with a one-line
 * reason in capfile_error(): -EBADMSG (corrupt record), -EAGAIN (file
 * ends inside a record: truncated), -EMSGSIZE (record over the limits),
 * -EIO (read error). The reader stays at the failing record. */
int capfile_next(struct capfile_reader *r, struct codec_capture *c);

/* Byte offset of the next record, and records read so far. */
uint64_t capfile_offset(const struct capfile_reader *r);
uint64_t capfile_read_count(const struct capfile_reader *r);

/* Back to the first record (regular files only): 0 or -ESPIPE/-errno. */
int capfile_rewind(struct capfile_reader *r);

const char *capfile_error(const struct capfile_reader *r);
void capfile_reader_free(struct capfile_reader *r);

#endif /* WEIR_SIM_CAPFILE_H */
