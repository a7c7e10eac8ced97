/* reading.h -- the fixed-size record that flows through the pipeline.
 *
 * A decoded MQTT message becomes one or more struct reading, copied by value
 * into the ring (Paho thread) and consumed on the loop thread. Names are
 * interned to small dense ids first (stream/intern.h), so a record is 48
 * bytes and holds no pointers: nothing that crosses threads points into
 * another thread's memory (STYLE R7).
 *
 * Message framing: the records of one message are pushed consecutively; the
 * first carries READING_MSG_FIRST and nrec (how many records the message
 * has). Deduplication works per message -- one (device, seq) covers a whole
 * ReadingBatch -- so the consumer decides on the first record and applies
 * the verdict to the following nrec - 1. */
#ifndef WEIR_STREAM_READING_H
#define WEIR_STREAM_READING_H

#include <stdint.h> /* For uint32_t, int64_t. */

enum reading_flag {
    READING_HAS_SEQ = 1 << 0,   /* seq is meaningful (else dedup by content) */
    READING_HAS_TS = 1 << 1,    /* ts_ms came from the device, not the receiver */
    READING_MSG_FIRST = 1 << 2, /* first record of a message; nrec is set */
    READING_LABEL = 1 << 3,     /* ground truth (ReadingBatch.labels) */
    READING_QOS0 = 1 << 4,      /* arrived at QoS 0 (may be dropped if full) */
};

struct reading {
    uint64_t seq;       /* Device's sequence number; see READING_HAS_SEQ. */
    int64_t ts_ms;      /* Sample time, ms since the Unix epoch (UTC). */
    double value;       /* The measurement; may be NaN/Inf until validated. */
    uint64_t lsn;       /* Ingest-log position of the message (0 = none). */
    uint32_t device_id; /* Interned device name (stream/intern.h). */
    uint32_t sensor_id; /* Interned sensor name (stream/intern.h). */
    uint16_t flags;     /* enum reading_flag bits. */
    uint16_t nrec;      /* Records in this message; on READING_MSG_FIRST. */
    uint32_t reserved;  /* Zero; pads to 48 bytes. */
};

_Static_assert(sizeof(struct reading) == 48, "ring slot size is part of the "
                                             "cost model: keep it 48 bytes");

#endif /* WEIR_STREAM_READING_H */
