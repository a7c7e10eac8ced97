/* decoder.h -- one MQTT message (topic, payload, receive time) to the
 * fixed-size records that cross the ring: the Paho-thread half of the
 * pipeline.
 *
 * The subscription whose topic template matches first decides the payload
 * format and where the device and sensor names come from; the payload is
 * decoded by proto/ (protobuf Reading or ReadingBatch, JSON, SenML), the
 * names are interned (this is the intern tables' single writer), and the
 * message becomes
 *
 *     out[0]            a meta record (DECODER_META): receive time, ingest
 *                       log lsn, subscription, format, qos, payload size,
 *                       and the reject reason if the message was refused;
 *     out[1..nrec]      its readings (stream/reading.h framing: out[1]
 *                       carries READING_MSG_FIRST and nrec).
 *
 * A SenML pack may hold several groups (proto/json.h: runs of records of
 * one device and time); each becomes such a meta + readings unit, the
 * later ones flagged DECODER_META_CONT, all pushed together. The first
 * meta record's `reserved` field counts SenML records skipped for want of
 * a number (the pipeline counts them as REJECT_MISSING_FIELD).
 *
 * Every message yields a meta record, accepted or not, so the loop thread
 * sees the whole message sequence in order and counts decode rejects at
 * the same point in the stream as everything else: the core stays a pure
 * function of (topic, payload, receive time), which is what makes replay,
 * crash recovery and live traffic agree (DESIGN.md). The meta record never
 * reaches stream/: ingest/pipeline.c strips it before admit.
 *
 * Names. With {device} in the template the topic names the device; a
 * payload that names another device is refused (REJECT_BAD_NAME: a sensor
 * must not speak for another one its broker ACL did not give it). Without
 * it the payload must name one (REJECT_MISSING_FIELD). A single reading
 * takes its sensor from the payload or from {sensor}, with the same
 * mismatch rule; a batch's metric names are its sensors. A new name that
 * does not fit its intern table refuses the whole message
 * (REJECT_TABLE_FULL). A message whose topic no subscription's template
 * matches is REJECT_UNKNOWN_TOPIC (it cannot be decoded without a format):
 * the broker can deliver one on a filter of the persistent session that
 * the configuration no longer has, or on a level a template refuses (an
 * empty {device}), or a retained message of an overlapping filter.
 *
 * Time: a payload without a timestamp gets the receive time (and no
 * READING_HAS_TS, so dedup knows it cannot trust it).
 *
 * Threads: a struct decoder belongs to one thread at a time: the Paho
 * callback thread while MQTT runs, the main thread during start-up replay
 * of the ingest log and in `weir replay`. It writes the intern tables it
 * borrows, so only one decoder may use a pair of tables at a time. */
#ifndef WEIR_INGEST_DECODER_H
#define WEIR_INGEST_DECODER_H

#include <stddef.h> /* For size_t. */
#include <stdint.h> /* For uint8_t, uint64_t, int64_t. */

#include "ingest/topic.h"   /* For struct topic_template. */
#include "proto/codec.h"    /* For CODEC_MAX_METRICS. */
#include "stream/intern.h"  /* For struct intern. */
#include "stream/reading.h" /* For struct reading. */
#include "stream/reject.h"  /* For enum reject_reason. */

/* ---- Limits ------------------------------------------------------------ */

#define DECODER_MAX_SUBS 64 /* subscriptions */
/* Records one message can produce: a SenML pack of CODEC_MAX_METRICS
 * readings may split into as many groups, each with its meta record. */
#define DECODER_MAX_RECORDS (2 * CODEC_MAX_METRICS + 1)
/* reading.flags of a meta record; never set on a reading. */
#define DECODER_META 0x8000u
/* ...with this too: a further group of the same message (SenML packs
 * with several devices or times); not counted as a message. */
#define DECODER_META_CONT 0x4000u

/* ---- Types ------------------------------------------------------------- */

enum decoder_format {
    DECODER_AUTO = 0,       /* '{' JSON, '[' SenML, else protobuf: a
                               Reading if the template has {sensor}, else
                               a ReadingBatch. */
    DECODER_PB_READING = 1, /* protobuf weir.Reading */
    DECODER_PB_BATCH = 2,   /* protobuf weir.ReadingBatch */
    DECODER_JSON = 3,       /* JSON object (proto/json.h) */
    DECODER_SENML = 4,      /* SenML JSON array (RFC 8428) */
    DECODER_FORMATS = 5
};

struct decoder_sub {
    struct topic_template tpl;  /* Where names come from; the filter. */
    enum decoder_format format; /* How payloads are read. */
};

/* One received message; everything borrowed for the call. */
struct decoder_input {
    const char *topic;      /* Topic name (not NUL-terminated needed). */
    size_t topic_len;       /* Its length. */
    const uint8_t *payload; /* Payload bytes. */
    size_t len;             /* Their count. */
    int qos;                /* 0, 1 or 2. */
    int64_t recv_ms;        /* Receive time, ms since the epoch. */
    uint64_t lsn;           /* Ingest-log position (0: not logged). */
};

struct decoder;

/* ---- Lifecycle --------------------------------------------------------- */

/* Create a decoder for nsubs subscriptions (subs borrowed, copied; order
 * is match priority) writing to the device and sensor tables (borrowed;
 * must outlive it). Returns 0 and *out (returns owned, decoder_free()),
 * -EINVAL (no or too many subscriptions), -ENOMEM. */
int decoder_new(struct decoder **out, const struct decoder_sub *subs,
                size_t nsubs, struct intern *devices, struct intern *sensors);

/* Free (takes d); NULL is a no-op. */
void decoder_free(struct decoder *d);

/* Refuse payloads over max_payload bytes (REJECT_TOO_LARGE); the default
 * and the largest is CODEC_MAX_PAYLOAD. */
void decoder_set_max_payload(struct decoder *d, size_t max_payload);

/* ---- Operations -------------------------------------------------------- */

/* Decode one message into out[0..return) (the caller's, room for
 * DECODER_MAX_RECORDS): meta record and readings, per group. Returns the
 * number of records written (1 when refused) and sets *why (REJECT_NONE
 * when accepted). Never fails otherwise. */
size_t decoder_decode(struct decoder *d, const struct decoder_input *in,
                      struct reading *out, enum reject_reason *why);

/* Index of the first subscription whose template matches topic[0..len),
 * or -1. */
int decoder_match(const struct decoder *d, const char *topic, size_t len);

/* Stable name of a format ("protobuf_reading", "json", ...); never NULL. */
const char *decoder_format_name(enum decoder_format f);

/* Parse a format name (also "auto", "protobuf" = auto-protobuf). Returns
 * 0 and *out, or -EINVAL. */
int decoder_format_parse(const char *text, enum decoder_format *out);

/* ---- Meta records ------------------------------------------------------ */

/* Accessors for a record with DECODER_META set. */
static inline enum reject_reason decoder_meta_reason(const struct reading *m)
{
    return (enum reject_reason)m->seq;
}
static inline int decoder_meta_qos(const struct reading *m)
{
    return (int)(m->sensor_id & 0xff);
}
static inline enum decoder_format decoder_meta_format(const struct reading *m)
{
    return (enum decoder_format)(m->sensor_id >> 8);
}

#endif /* WEIR_INGEST_DECODER_H */
