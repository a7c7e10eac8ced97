/* encode.h -- payloads and topics for the simulator's messages, in every
 * format weir reads, plus deliberate corruption of a payload.
 *
 * The payloads come from the project's own encoders (proto/codec.h for
 * protobuf, proto/json.h for JSON and SenML), so the simulator never
 * disagrees with the daemon about the wire format.
 *
 * Corruption guarantees a payload that no correct decoder accepts:
 *   trunc  protobuf: cut strictly inside a top-level field (a tag without
 *          its value, a short varint/fixed64, a length past the end);
 *          JSON: cut anywhere before the closing bracket.
 *   bytes  random bytes of the same length; the first byte is 0x07 for
 *          protobuf (field number 0, invalid) and 0xff for JSON (not UTF-8).
 *   type   protobuf: a field appended with the wrong wire type (Reading's
 *          double value, or ReadingBatch's int64 ts_ms, as a string);
 *          JSON: the value becomes a string.
 *
 * Threads: pure functions, any thread. */
#ifndef WEIR_SIM_ENCODE_H
#define WEIR_SIM_ENCODE_H

#include <stdbool.h> /* For bool. */
#include <stddef.h>  /* For size_t. */
#include <stdint.h>  /* For uint8_t, uint32_t, uint64_t, int64_t. */

struct simrand;

enum encode_format {
    ENCODE_PB,         /* protobuf Reading, one per reading */
    ENCODE_BATCH,      /* protobuf ReadingBatch */
    ENCODE_JSON,       /* JSON object, one per reading */
    ENCODE_JSON_BATCH, /* JSON object with a metrics map */
    ENCODE_SENML,      /* SenML (RFC 8428) array */
};

struct encode_value {
    const char *name; /* Sensor or label name (borrowed). */
    double value;     /* Any double, NaN and Inf included. */
    bool is_label;    /* Ground truth (batch formats keep it apart). */
};

/* Parse "pb", "batch", "json", "json-batch" or "senml"; 0 or -EINVAL. */
int encode_format_parse(const char *text, enum encode_format *out);
const char *encode_format_name(enum encode_format f);

/* true if this build can encode f. */
bool encode_supported(enum encode_format f);

/* true for the formats that carry one reading per message. */
bool encode_per_reading(enum encode_format f);

/* Encode a message of device (borrowed) with seq and ts_ms and n values
 * (n == 1 for per-reading formats) into buf. Returns the length, or 0 if it
 * does not fit in cap or the format is not supported. */
size_t encode_payload(enum encode_format f, const char *device, uint64_t seq,
                      int64_t ts_ms, const struct encode_value *v, size_t n,
                      uint8_t *buf, size_t cap);

/* "{prefix}/{device}/{sensor}" (sensor non-NULL) or "{prefix}/{device}".
 * Returns 0, or -ENAMETOOLONG if it does not fit in cap. */
int encode_topic(char *buf, size_t cap, const char *prefix, const char *device,
                 const char *sensor);

/* Corrupt buf[0..*len) in place (cap bytes available) the way kind (one
 * FAULT_CORRUPT_* bit) says, drawing from r. Returns 0, or -EINVAL if the
 * payload is too short to corrupt that way (then it is left alone). */
int encode_corrupt(enum encode_format f, uint32_t kind, struct simrand *r,
                   uint8_t *buf, size_t *len, size_t cap);

#endif /* WEIR_SIM_ENCODE_H */
