/* replay.h -- feed recorded messages through the core with no broker:
 * capture files, CSV data sets, and the daemon's own ingest log.
 *
 * Every source is turned into the same thing live MQTT delivers -- (topic,
 * payload, qos, receive time) -- and goes through the same decoder and the
 * same pipeline (replay_feed()), so the models match the live path bit for
 * bit for the same message sequence. Sources:
 *
 *   capture   weir-sim's recording: length-delimited weir.Capture records
 *             (codec_decode_capture()); receive time = recv_ns.
 *   csv       a data set read by ingest/csvsrc.h with a column map; each
 *             row becomes a protobuf ReadingBatch on topic "csv/<device>"
 *             (REPLAY_CSV_TEMPLATE), seq = row index, ts and receive time =
 *             the row's timestamp (historic data is not "stale").
 *   ingest log the daemon's write-ahead log (ingest/wal.h), from an lsn:
 *             start-up recovery after a crash, or `weir replay DIR`.
 *
 * Threads: everything runs on the calling thread, which must be the only
 * user of the decoder (the intern tables' writer) and of the pipeline. */
#ifndef WEIR_INGEST_REPLAY_H
#define WEIR_INGEST_REPLAY_H

#include <stddef.h> /* For size_t. */
#include <stdint.h> /* For uint64_t. */

#include "ingest/decoder.h"  /* For struct decoder, decoder_input. */
#include "ingest/pipeline.h" /* For struct pipeline. */

/* ---- Limits ------------------------------------------------------------ */

#define REPLAY_CSV_TEMPLATE "csv/{device}" /* topic template of CSV rows */
#define REPLAY_MAX_PAYLOAD (1u << 20)      /* capture payloads beyond are bad */

/* ---- Types ------------------------------------------------------------- */

struct replay_stats {
    uint64_t messages;    /* Messages fed to the core. */
    uint64_t rejected;    /* Of those, refused at decode. */
    uint64_t bad_records; /* Capture or log records that did not parse. */
    uint64_t csv_rows;    /* CSV rows read (good ones). */
    uint64_t csv_bad;     /* CSV rows skipped (csvsrc's reasons). */
    uint64_t last_lsn;    /* Ingest log: last lsn fed. */
};

/* ---- Operations -------------------------------------------------------- */

/* Decode one message (borrowed) with d and process it with p; a message
 * refused at decode is also emitted as a dead letter. topic need not be
 * NUL-terminated. Counts into st (may be NULL). */
void replay_feed(struct decoder *d, struct pipeline *p,
                 const struct decoder_input *in, struct replay_stats *st);

/* Feed every record of the capture file at path ("-": standard input).
 * A truncated last record is counted as bad and ends the replay; a corrupt
 * one is fatal (the framing is lost). Returns 0, or a negative errno with
 * "path: reason" in err. */
int replay_capture(const char *path, struct decoder *d, struct pipeline *p,
                   struct replay_stats *st, char *err, size_t errlen);

/* Feed every row of the CSV file at path with the column map spec
 * (borrowed; csvsrc.h syntax, "" for the defaults). The decoder must have
 * a subscription with REPLAY_CSV_TEMPLATE. Returns 0 or a negative errno
 * with the reason in err. */
int replay_csv(const char *path, const char *spec, struct decoder *d,
               struct pipeline *p, struct replay_stats *st, char *err,
               size_t errlen);

/* Feed every ingest-log record in dir with lsn >= from_lsn. Returns 0 or
 * wal_replay()'s error with the reason in err. */
int replay_wal(const char *dir, uint64_t from_lsn, struct decoder *d,
               struct pipeline *p, struct replay_stats *st, char *err,
               size_t errlen);

#endif /* WEIR_INGEST_REPLAY_H */
