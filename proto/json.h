/* json.h -- JSON and SenML (RFC 8428) payloads <-> struct codec_msg.
 *
 * Three text formats reach weir besides protobuf (DESIGN.md "Topics"):
 *
 *   (a) one reading, on sensors/{device}/{sensor}:
 *         {"seq":12,"ts":1700000000000,"value":21.5}
 *       value is required; seq, ts, and "device"/"sensor" (which override
 *       nothing: the caller decides between them and the topic) are
 *       optional. Other members are ignored.
 *   (b) a device object, on sensors/{device}:
 *         {"seq":12,"ts":1700000000000,"temp":21.5,"hum":40.1,
 *          "labels":{"occupancy":1}}
 *       seq, ts, device and labels are reserved; every other member with a
 *       number (or null, true, false) is a metric named by its key, and
 *       every member of "labels" a label. Members holding strings, arrays or
 *       objects carry no reading: they are skipped and counted (*skipped).
 *   (c) SenML JSON, on sensors/{device}: an array of records (RFC 8428).
 *
 * Values: a number, or true/false (1/0), or null, which is how JSON spells
 * a non-finite value: null decodes to NaN, and a literal too large for a
 * double (1e999) to +/-Inf; either is kept, like protobuf's NaN, for
 * validation to refuse as REJECT_NAN, one reading at a time, so a batch
 * loses only its bad metric. The encoders write NaN and +/-Inf as null.
 *
 * seq: an integer in [0, 2^53 - 1] (the range JSON numbers carry exactly,
 * RFC 8259 section 6), else decode_error. ts: milliseconds since the epoch
 * as a number (a fraction is floored), |ts| <= 2^53 - 1, or an RFC 3339
 * string with a zone ("2023-11-14T22:13:20.123Z", "...+01:00"; fractions
 * beyond milliseconds are floored); anything else is decode_error.
 *
 * Every decoder first validates the whole text against RFC 8259 without
 * allocating: UTF-8, escapes (a lone surrogate is malformed), number
 * grammar (no NaN, Infinity, leading zeros or '+'; at most 63 characters,
 * cJSON's limit), nesting deeper than JSON_MAX_DEPTH, trailing bytes after
 * the value. Only then does cJSON build a tree. Refusals, checked in this
 * order: a payload over CODEC_MAX_PAYLOAD bytes -> too_large; the scan,
 * which stops at the first malformed byte (decode_error) or container
 * with more than JSON_MAX_MEMBERS entries (too_large); a wrong type or a
 * duplicate key in any object weir reads -> decode_error; more than
 * CODEC_MAX_METRICS readings (SenML: records) -> too_large; no value, no
 * metric, no numeric record -> missing_field; a name failing
 * codec_name_ok() (SenML: or RFC 8428's character set) -> bad_name. A
 * string holding "\u0000" anywhere makes a payload that would be accepted
 * or refused for a name bad_name: cJSON's strings end at the NUL, and the
 * strings weir keeps are names.
 *
 * Device and sensor names absent from the payload are left "" (in
 * out->device and, for (a), out->m[0].name): the caller takes them from
 * the topic and checks them with codec_name_ok().
 *
 * SenML (RFC 8428) specifics:
 *   - Base fields (bn, bt, bu, bv, bver) apply to their record and all
 *     later ones until redefined (section 4.1). bver above 10 and any
 *     unknown field ending in '_' (must-understand) refuse the pack.
 *   - Time (section 4.5.3): resolved t = bt + t, in seconds. Values of
 *     2^28 or more are absolute; smaller ones, negative included, are
 *     relative to now_ms, the caller's clock. A record with neither bt nor
 *     t, or a resolved 0 ("now"), has no timestamp (has_ts false: the
 *     receiver stamps it).
 *   - Values: v (plus bv) or vb (true 1, false 0); v may be null (NaN).
 *     Records carrying only vs, vd or s (string, data, sum) hold no number
 *     weir can learn from: they are skipped and counted in *skipped, and
 *     the caller counts them as REJECT_MISSING_FIELD. A pack with no
 *     numeric record at all is refused with missing_field. More than one
 *     of v, vs, vb, vd in a record is decode_error (section 4.2).
 *   - Names: the resolved name N = bn + n must use RFC 8428's characters
 *     (A-Z a-z 0-9 - : . / _, starting with a letter or digit), else
 *     bad_name. N is split at its last ':' or '/': the part before is the
 *     device, the part after the sensor ("urn:dev:ow:10e2073a01080063:" +
 *     "voltage" -> device "urn:dev:ow:10e2073a01080063", sensor "voltage";
 *     "2001:db8::2/" + "temperature" -> "2001:db8::2", "temperature"). An N
 *     without separator is the sensor and leaves the device to the topic.
 *     A record with no n of its own names the sensor by its unit (u, else
 *     bu) and its whole base name, less one trailing separator, is the
 *     device: RFC 8428 section 5.1.3 tells humidity, longitude and latitude
 *     apart only by unit. A device name that still holds '/' fails
 *     codec_name_ok(): bad_name.
 *   - Labels: weir's own extension field "weir_label": true marks a record
 *     as ground truth (is_label). Other SenML readers ignore it (it does
 *     not end in '_'), so such packs stay valid SenML.
 *   - Sequence numbers: SenML has none; deduplication uses content.
 *   - Records are delivered in order as groups: each maximal run of
 *     consecutive records with the same device and timestamp is one
 *     struct codec_msg. A pack is all or nothing: it is fully validated
 *     before the first group is delivered.
 *
 * Threads: pure functions on their arguments; any thread may call them.
 * One caveat from cJSON 1.7: cJSON_Parse*() stores the last error position
 * in a process-wide variable, written on every call (we never read it), so
 * concurrent parses race on that one write inside libcjson. */
#ifndef WEIR_PROTO_JSON_H
#define WEIR_PROTO_JSON_H

#include <stdbool.h> /* For bool. */
#include <stddef.h>  /* For size_t. */
#include <stdint.h>  /* For uint8_t, int64_t. */

#include "proto/codec.h"   /* For struct codec_msg, CODEC_* limits. */
#include "stream/reject.h" /* For enum reject_reason. */

/* ---- Limits ------------------------------------------------------------ */

#define JSON_MAX_DEPTH 8 /* nested arrays/objects, the outermost counted */
#define JSON_MAX_MEMBERS (CODEC_MAX_METRICS + 16) /* entries of a container */

/* ---- Format detection ---------------------------------------------------- */

/* '{' or '[' if buf looks like a JSON object or array (its first byte that
 * is not JSON whitespace), else 0. A protobuf Reading or ReadingBatch never
 * starts with either ('{' and '[' would be group tags, which protobuf-c
 * refuses), so this tells the formats apart on one topic; leading
 * whitespace is skipped, so a protobuf message starting with a 0x0a or
 * 0x20 tag followed by '{' or '[' would be taken for JSON and refused.
 * Borrows buf. */
int json_sniff(const uint8_t *buf, size_t len);

/* ---- Decoders ------------------------------------------------------------ */

/* Decode format (a) from buf[0..len) (borrows buf, which need not be
 * NUL-terminated, and out, the caller's storage; nothing in out points
 * into buf). Returns 0 and fills out (n == 1), or a negative errno and
 * sets *why:
 * -EMSGSIZE/too_large, -EBADMSG/decode_error, -EINVAL/missing_field or
 * bad_name. out is scratch either way. */
int json_decode_reading(const uint8_t *buf, size_t len, struct codec_msg *out,
                        enum reject_reason *why);

/* Decode format (b); same contract. *skipped (may be NULL) receives the
 * number of members that held no number (strings, arrays, objects). */
int json_decode_object(const uint8_t *buf, size_t len, struct codec_msg *out,
                       size_t *skipped, enum reject_reason *why);

/* Called once per group of a SenML pack, in order; msg is the caller's
 * scratch, valid only during the call. A non-zero return stops the
 * delivery and is returned by json_decode_senml(). Called on: the thread
 * that called json_decode_senml(). */
typedef int (*json_senml_fn)(void *ctx, const struct codec_msg *msg);

/* Decode a SenML pack (borrows buf) and deliver its groups to fn(ctx, ...)
 * through scratch (borrowed, overwritten). now_ms resolves relative times.
 * *skipped (may be NULL) receives the records skipped for want of a number.
 * Returns 0 after delivering every group, fn's non-zero return, or a
 * negative errno with *why set (-EMSGSIZE, -EBADMSG, -EINVAL as above)
 * before anything was delivered. *why is REJECT_NONE unless refused. */
int json_decode_senml(const uint8_t *buf, size_t len, int64_t now_ms,
                      struct codec_msg *scratch, json_senml_fn fn, void *ctx,
                      size_t *skipped, enum reject_reason *why);

/* ---- Encoders ------------------------------------------------------------ */

enum json_enc_flag {
    JSON_ENC_NAMES = 1 << 0, /* (a), (b): also write "device"/"sensor" */
};

/* Each encoder borrows msg and writes the text and a terminating NUL into
 * buf (borrowed, cap bytes) and returns the text's length, or 0 if text and NUL
 * do not fit or msg cannot be said in the format. Absent seq/ts are omitted.
 * Names are not validated (the simulator writes bad ones on purpose):
 * they are written as they are, with '"', '\\' and control characters
 * escaped, so the text is well-formed JSON unless a name is not UTF-8. */

/* Format (a): msg->n must be 1, m[0] no label and with a value. */
size_t json_encode_reading(const struct codec_msg *msg, unsigned flags,
                           char *buf, size_t cap);

/* Format (b): every metric needs a value; a metric named seq, ts, device
 * or labels cannot be written (0). */
size_t json_encode_object(const struct codec_msg *msg, unsigned flags,
                          char *buf, size_t cap);

/* Format (c): one record per metric, the first carrying bn ("device:")
 * and bt (seconds, when has_ts); labels get "weir_label":true. seq is not
 * written (SenML has none). Returns 0 if a metric has no value or a name
 * holding ':' or '/' (it would split differently), or ts_ms is below 2^28
 * seconds (SenML would read it as relative). */
size_t json_encode_senml(const struct codec_msg *msg, char *buf, size_t cap);

#endif /* WEIR_PROTO_JSON_H */
