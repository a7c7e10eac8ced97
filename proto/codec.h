/* codec.h -- wire bytes <-> plain C values for readings, batches, captures
 * and drift events. The only door to protobuf-c's generated code for these
 * messages (STYLE R22): nothing outside proto/ includes *.pb-c.h.
 *
 * Decoding fills a caller-owned struct codec_msg (a scratch value with fixed
 * capacity: no pointers into freed protobuf memory survive the call), so a
 * hostile payload costs at most CODEC_MAX_METRICS names of CODEC_NAME_MAX
 * bytes and is then either accepted or refused with a reason.
 *
 * Threads: pure functions; each call touches only its arguments, so any
 * thread may call them (the daemon decodes on Paho's callback thread). */
#ifndef WEIR_PROTO_CODEC_H
#define WEIR_PROTO_CODEC_H

#include <stdbool.h> /* For bool. */
#include <stddef.h>  /* For size_t. */
#include <stdint.h>  /* For uint8_t, uint64_t, int64_t. */

#include "stream/reject.h" /* For enum reject_reason. */

/* ---- Limits ------------------------------------------------------------ */

#define CODEC_NAME_MAX 64        /* bytes of a device or metric name */
#define CODEC_MAX_METRICS 256    /* metrics + labels in one message */
#define CODEC_MAX_PAYLOAD 65536  /* bytes; larger payloads are too_large */

/* ---- Types ------------------------------------------------------------- */

struct codec_metric {
    char name[CODEC_NAME_MAX + 1]; /* NUL-terminated, validated name. */
    double value;                  /* As sent; NaN/Inf checked later. */
    bool is_label;                 /* From ReadingBatch.labels. */
    bool has_value;                /* value field was present. */
};

/* One decoded message: one device, one seq/ts, n metrics. A single Reading
 * decodes to n == 1 with the sensor name in m[0].name ("" when the
 * payload left it to the topic). */
struct codec_msg {
    char device[CODEC_NAME_MAX + 1]; /* "" when the payload had none. */
    bool has_seq;                    /* seq was present. */
    bool has_ts;                     /* ts_ms was present. */
    uint64_t seq;                    /* Device's sequence number. */
    int64_t ts_ms;                   /* Sample time, ms since the epoch. */
    size_t n;                        /* Entries used in m[]. */
    struct codec_metric m[CODEC_MAX_METRICS]; /* Metrics, then labels. */
};

/* ---- Names ------------------------------------------------------------- */

/* true if name[0..len) is a usable device or sensor name: 1..CODEC_NAME_MAX
 * bytes, valid UTF-8 (RFC 3629), no NUL, no '/', '+' or '#' (they would
 * break topic templates), no control characters: neither C0 nor DEL nor C1
 * (U+0080..U+009F). */
bool codec_name_ok(const char *name, size_t len);

/* ---- Readings ---------------------------------------------------------- */

/* Decode a protobuf Reading (borrows buf) into out->m[0] (n == 1). The
 * sensor may be absent, since the topic may carry it (weir.proto): then
 * m[0].name is "" and the caller supplies the name; the device likewise
 * ("" when absent). Returns 0, or a negative errno and sets *why:
 * -EMSGSIZE/REJECT_TOO_LARGE, -EBADMSG/REJECT_DECODE_ERROR,
 * -EINVAL/REJECT_MISSING_FIELD (no value: the only required field) or
 * -EINVAL/REJECT_BAD_NAME (a device or sensor present but not
 * codec_name_ok(), the empty string included). out is scratch either way. */
int codec_decode_reading(const uint8_t *buf, size_t len, struct codec_msg *out,
                         enum reject_reason *why);

/* Decode a protobuf ReadingBatch; same contract as codec_decode_reading(). */
int codec_decode_batch(const uint8_t *buf, size_t len, struct codec_msg *out,
                       enum reject_reason *why);

/* Encode msg as a Reading (msg->n must be 1) or ReadingBatch into buf
 * (borrowed, cap bytes). Returns the encoded length, or 0 if it does not fit
 * or msg is invalid. Fields flagged absent (has_seq etc.) are omitted. */
size_t codec_encode_reading(const struct codec_msg *msg, uint8_t *buf,
                            size_t cap);
size_t codec_encode_batch(const struct codec_msg *msg, uint8_t *buf,
                          size_t cap);

/* ---- Captures ---------------------------------------------------------- */

/* One recorded MQTT message. topic and payload borrow caller memory when
 * encoding; when decoding they point into the caller's buffers below. */
struct codec_capture {
    char *topic;       /* NUL-terminated. */
    uint8_t *payload;  /* payload_len bytes. */
    size_t payload_len;
    int64_t recv_ns;   /* Receive time, ns since the epoch. */
    int qos;           /* 0, 1 or 2. */
    bool retained;
};

/* Encode one Capture, preceded by its varint length (delimited format), into
 * buf. Returns the total bytes written, or 0 if it does not fit in cap. */
size_t codec_encode_capture(const struct codec_capture *c, uint8_t *buf,
                            size_t cap);

/* Decode one delimited Capture from buf[0..len). On success returns 0, sets
 * *used to the bytes consumed (length prefix included) and fills c, copying
 * topic into topic_buf (topic_cap bytes) and the payload into payload_buf
 * (payload_cap bytes). -EAGAIN: buf holds only part of a record (need more
 * bytes, or a truncated file at EOF); -EBADMSG: corrupt; -EMSGSIZE: the
 * record or one of its fields exceeds the caller's buffers. */
int codec_decode_capture(const uint8_t *buf, size_t len, size_t *used,
                         struct codec_capture *c, char *topic_buf,
                         size_t topic_cap, uint8_t *payload_buf,
                         size_t payload_cap);

/* ---- Drift events ------------------------------------------------------ */

struct codec_drift_event {
    const char *task;      /* Borrowed. */
    int64_t ts_ms;
    int state;             /* 0 none, 1 warning, 2 drift (DriftState). */
    const char *detector;  /* Borrowed: "adwin" or "page_hinkley". */
    uint64_t window_id;
    uint64_t row;
    double mean_before;
    double mean_after;
};

/* Encode a DriftEvent into buf; returns its length, or 0 if it won't fit. */
size_t codec_encode_drift_event(const struct codec_drift_event *e,
                                uint8_t *buf, size_t cap);

#endif /* WEIR_PROTO_CODEC_H */
