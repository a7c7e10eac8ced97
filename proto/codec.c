/* codec.c -- protobuf wire bytes <-> struct codec_msg and friends.
 *
 * This is the one door to protobuf-c's generated code for readings,
 * batches, captures and drift events (STYLE R22). Every protobuf MQTT
 * message passes through codec_decode_reading() or codec_decode_batch() on
 * Paho's callback thread, so decoding is on the hot path: the stream
 * benchmark budgets ~200 ns per reading for decode, intern, dedup and
 * validation together, on one core.
 *
 * Why the decoders read the wire themselves. Measured on the 2-core build
 * machine (shared and noisy) for a 42-byte Reading:
 * protobuf_c_message_unpack() plus free_unpacked() took ~250 ns with malloc
 * and ~190 ns with an arena allocator on the stack (malloc was a third of
 * it, the generic descriptor-driven scan-then-parse the rest): the whole
 * budget. Reading, ReadingBatch and Capture have five flat fields each, so
 * they are decoded here by a direct reader of the protobuf wire format
 * (~40 lines a message, no allocation, one pass) straight into the
 * caller's struct: ~50 ns for that Reading, and in bench_stream's run
 * 8.8 M Readings/s against 1.9 M/s for protobuf-c's unpack.
 * protobuf-c stays the reference: the reader accepts exactly what
 * protobuf_c_message_unpack() accepts (a first tag byte without field bits
 * is refused, tags and lengths are at most 5 bytes, varints at most 10,
 * lengths at most INT_MAX, a known field in the wrong wire type or a group
 * fails the message, unknown fields are skipped, the last occurrence of a
 * field wins, a bool is read from any wire type), and builds with
 * -DCODEC_CROSSCHECK=1 (the fuzz targets) decode every input with
 * protobuf-c as well and abort on any difference. Encoders are not hot and
 * use protobuf-c's packer directly.
 *
 * Reading the wire ourselves also sees what unpack hides: protobuf-c copies
 * a string and appends a NUL, so "ab\0cd" would become the name "ab"; here
 * the name keeps its wire length and codec_name_ok() refuses the NUL.
 *
 * A decode refuses cheapest first. A payload over CODEC_MAX_PAYLOAD is
 * too_large unread; then the bytes are read in wire order, and the first
 * malformed field (decode_error) or the metric past CODEC_MAX_METRICS
 * (too_large) ends the read; only a message read to its end can be
 * refused for missing_field, and then for bad_name, in that order.
 *
 * Encoders fill protobuf-c structs that borrow the caller's strings and
 * pack into the caller's buffer; they never allocate. They check only what
 * the wire cannot express (a name without its NUL inside the array, a
 * Reading with n != 1 or a label, qos > 2), not name validity, so that the
 * simulator can produce the bad names decoders must refuse. An empty name
 * is encoded as an absent field.
 *
 * Threads: pure functions. Each call touches only its arguments and its own
 * stack, so any thread may call them concurrently; the daemon decodes on
 * Paho's callback thread. */
#include "proto/codec.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/weir.pb-c.h"

#ifndef CODEC_CROSSCHECK
#define CODEC_CROSSCHECK 0 /* 1: also decode with protobuf-c and compare */
#endif

enum {
    WT_VARINT = 0,        /* PROTOBUF_C_WIRE_TYPE_VARINT */
    WT_I64 = 1,           /* PROTOBUF_C_WIRE_TYPE_64BIT */
    WT_LEN = 2,           /* PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED */
    WT_I32 = 5,           /* PROTOBUF_C_WIRE_TYPE_32BIT */
    VARINT_MAX = 10,      /* bytes of a 64-bit varint */
    PREFIX_MAX = 5,       /* bytes of a tag or a length (protobuf-c's limit) */
    CAPTURE_SLACK = 1024, /* Capture bytes beyond its topic and payload */
    READING_FIELDS = 5,   /* highest field number of Reading, */
    BATCH_FIELDS = 5,     /* of ReadingBatch, */
    METRIC_FIELDS = 2,    /* of Metric, */
    CAPTURE_FIELDS = 5,   /* and of Capture: see wire_skip(). */
};

#define TAG(field, wt) (((uint64_t)(field) << 3) | (wt))

/* ---- Wire reader --------------------------------------------------------- */

/* A length-delimited field: bytes borrowed from the payload. */
struct wire_str {
    const uint8_t *p; /* First byte; NULL when the field was absent. */
    size_t n;         /* Length in bytes. */
};

/* The scalar and string fields of a Reading, Metric or batch header. */
struct wire_fields {
    struct wire_str device; /* Reading.device, ReadingBatch.device. */
    struct wire_str name;   /* Reading.sensor, Metric.name. */
    uint64_t seq;           /* Reading.seq, ReadingBatch.seq. */
    uint64_t ts;            /* ts_ms, as the wire's two's complement. */
    uint64_t value;         /* IEEE-754 bits of the value. */
    bool has_seq;           /* seq was present. */
    bool has_ts;            /* ts was present. */
    bool has_value;         /* value was present. */
};

/* Read a varint of at most max bytes at p[*at]; false if it does not end
 * in time. Bits past the 64th are dropped, as protobuf-c does. */
static bool wire_varint(const uint8_t *p, size_t len, size_t *at, unsigned max,
                        uint64_t *v)
{
    uint64_t x = 0;

    if (*at < len && p[*at] < 0x80) { /* the common one-byte case */
        *v = p[(*at)++];
        return true;
    }
    for (unsigned i = 0; i < max && *at < len; i++) {
        uint8_t b = p[(*at)++];
        x |= (uint64_t)(b & 0x7f) << (7 * i);
        if ((b & 0x80) == 0) {
            *v = x;
            return true;
        }
    }
    return false;
}

/* protobuf-c refuses a first tag byte with no field bits (field 0). */
static bool wire_tag(const uint8_t *p, size_t len, size_t *at, uint64_t *tag)
{
    return (p[*at] & 0xf8) != 0 && wire_varint(p, len, at, PREFIX_MAX, tag);
}

static bool wire_len(const uint8_t *p, size_t len, size_t *at,
                     struct wire_str *s)
{
    uint64_t n;

    if (!wire_varint(p, len, at, PREFIX_MAX, &n) || n > INT_MAX ||
        n > len - *at)
        return false;
    s->p = p + *at;
    s->n = (size_t)n;
    *at += (size_t)n;
    return true;
}

static bool wire_fixed64(const uint8_t *p, size_t len, size_t *at, uint64_t *v)
{
    const uint8_t *b = p + *at;

    if (len - *at < 8)
        return false;
    /* Little-endian on the wire; compilers turn this into one load. */
    *v = (uint64_t)b[0] | (uint64_t)b[1] << 8 | (uint64_t)b[2] << 16 |
         (uint64_t)b[3] << 24 | (uint64_t)b[4] << 32 | (uint64_t)b[5] << 40 |
         (uint64_t)b[6] << 48 | (uint64_t)b[7] << 56;
    *at += 8;
    return true;
}

/* Skip a field this reader does not keep. Fields 1..known are the
 * message's own: seen here they had the wrong wire type, which fails
 * protobuf-c's unpack too. Groups and wire types 6, 7 fail as well. */
static bool wire_skip(const uint8_t *p, size_t len, size_t *at, uint64_t tag,
                      uint64_t known)
{
    struct wire_str s;
    uint64_t n;

    if ((tag >> 3) >= 1 && (tag >> 3) <= known)
        return false;
    switch (tag & 7) {
    case WT_VARINT:
        return wire_varint(p, len, at, VARINT_MAX, &n);
    case WT_I64:
    case WT_I32:
        n = (tag & 7) == WT_I64 ? 8 : 4;
        if (len - *at < n)
            return false;
        *at += (size_t)n;
        return true;
    case WT_LEN:
        return wire_len(p, len, at, &s);
    default:
        return false;
    }
}

/* ---- Names --------------------------------------------------------------- */

/* Length of the UTF-8 sequence at p (n bytes available), or 0 if it is
 * malformed (RFC 3629: no overlongs, no surrogates, nothing past U+10FFFF)
 * or a C1 control character (U+0080..U+009F). */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    unsigned lo = 0x80;
    unsigned hi = 0xbf;
    size_t k;

    if (c >= 0xc2 && c <= 0xdf) {
        k = 2;
        lo = c == 0xc2 ? 0xa0 : 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        k = 3;
        lo = c == 0xe0 ? 0xa0 : 0x80;
        hi = c == 0xed ? 0x9f : 0xbf;
    } else if (c >= 0xf0 && c <= 0xf4) {
        k = 4;
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf;
    } else {
        return 0;
    }
    if (n < k || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < k; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return k;
}

/* Byte classes for names: 0 an ordinary ASCII byte, 1 refused, 2 the lead
 * byte of a UTF-8 sequence (or a stray continuation byte, refused by
 * utf8_len()). */
static const uint8_t name_class[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x00 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x10 */
    0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, /* 0x20 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x30 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x40 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x50 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x60 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, /* 0x70 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0x80 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0x90 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xa0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xb0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xc0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xd0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xe0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xf0 */
};

/* Beyond the header's list, this refuses invalid UTF-8 and C1 controls:
 * names end up in MQTT topics (weir/pred/{task}/{device}), which must be
 * well-formed UTF-8 without control characters (MQTT 3.1.1 section 1.5.3),
 * and a broker disconnects a client that publishes anything else. */
bool codec_name_ok(const char *name, size_t len)
{
    const unsigned char *p = (const unsigned char *)name;
    size_t i = 0;

    if (len == 0 || len > CODEC_NAME_MAX)
        return false;
    for (;;) {
        size_t k;
        while (i < len && name_class[p[i]] == 0)
            i++;
        if (i == len)
            return true;
        if (name_class[p[i]] == 1)
            return false;
        k = utf8_len(p + i, len - i);
        if (k == 0)
            return false;
        i += k;
    }
}

/* Copy a wire string into a name field; false if it is not a valid name. */
static bool name_put(char dst[CODEC_NAME_MAX + 1], struct wire_str s)
{
    if (!codec_name_ok((const char *)s.p, s.n))
        return false;
    memcpy(dst, s.p, s.n);
    dst[s.n] = '\0';
    return true;
}

static double bits_to_double(uint64_t bits)
{
    double d;

    memcpy(&d, &bits, sizeof(d));
    return d;
}

static int refuse(enum reject_reason *why, enum reject_reason reason, int rc)
{
    *why = reason;
    return rc;
}

/* Copy the header fields every message shares; device "" when absent. */
static bool header_put(const struct wire_fields *f, struct codec_msg *out)
{
    out->device[0] = '\0';
    if (f->device.p != NULL && !name_put(out->device, f->device))
        return false;
    out->has_seq = f->has_seq;
    out->seq = f->has_seq ? f->seq : 0;
    out->has_ts = f->has_ts;
    out->ts_ms = f->has_ts ? (int64_t)f->ts : 0;
    return true;
}

/* ---- Cross-check against protobuf-c (fuzz builds) ------------------------ */

static void crosscheck_fail(const char *what)
{
    fprintf(stderr, "codec cross-check: %s\n", what);
    abort();
}

static bool same_name(const char *pb, const char *ours)
{
    return pb == NULL ? ours[0] == '\0' : strcmp(pb, ours) == 0;
}

static void crosscheck_header(bool has_seq, uint64_t seq, bool has_ts,
                              int64_t ts, const struct codec_msg *out)
{
    if (has_seq != out->has_seq || (has_seq && seq != out->seq) ||
        has_ts != out->has_ts || (has_ts && ts != out->ts_ms))
        crosscheck_fail("seq/ts differ");
}

static bool same_value(double pb, const struct codec_metric *m)
{
    return memcmp(&pb, &m->value, sizeof(pb)) == 0;
}

/* Called with our verdict; protobuf-c must agree on what is malformed and,
 * when we accepted, on every field. */
static void crosscheck_reading(const uint8_t *buf, size_t len, int rc,
                               enum reject_reason why,
                               const struct codec_msg *out)
{
    Weir__Reading *r;

    if (why == REJECT_TOO_LARGE)
        return;
    r = weir__reading__unpack(NULL, len, buf);
    if ((r == NULL) != (why == REJECT_DECODE_ERROR))
        crosscheck_fail("reading: decode_error verdicts differ");
    if (r != NULL && rc == 0) {
        crosscheck_header(r->has_seq, r->seq, r->has_ts_ms, r->ts_ms, out);
        if (!same_name(r->device, out->device) ||
            !same_name(r->sensor, out->m[0].name) || !r->has_value ||
            !same_value(r->value, &out->m[0]) || out->n != 1)
            crosscheck_fail("reading: fields differ");
    }
    if (r != NULL && why == REJECT_MISSING_FIELD && r->has_value)
        crosscheck_fail("reading: missing_field but the value is present");
    weir__reading__free_unpacked(r, NULL);
}

static void crosscheck_metrics(Weir__Metric *const *v, size_t n, bool is_label,
                               const struct codec_metric *m)
{
    for (size_t i = 0; i < n; i++) {
        if (!same_name(v[i]->name, m[i].name) || !v[i]->has_value ||
            !same_value(v[i]->value, &m[i]) || m[i].is_label != is_label)
            crosscheck_fail("batch: metric differs");
    }
}

static void crosscheck_batch(const uint8_t *buf, size_t len, int rc,
                             enum reject_reason why,
                             const struct codec_msg *out)
{
    Weir__ReadingBatch *b;

    if (why == REJECT_TOO_LARGE)
        return;
    b = weir__reading_batch__unpack(NULL, len, buf);
    if ((b == NULL) != (why == REJECT_DECODE_ERROR))
        crosscheck_fail("batch: decode_error verdicts differ");
    if (b != NULL && rc == 0) {
        crosscheck_header(b->has_seq, b->seq, b->has_ts_ms, b->ts_ms, out);
        if (!same_name(b->device, out->device) ||
            out->n != b->n_metrics + b->n_labels)
            crosscheck_fail("batch: header differs");
        crosscheck_metrics(b->metrics, b->n_metrics, false, out->m);
        crosscheck_metrics(b->labels, b->n_labels, true, out->m + b->n_metrics);
    }
    weir__reading_batch__free_unpacked(b, NULL);
}

/* ---- Readings ------------------------------------------------------------ */

/* Reading: device 1, sensor 2, seq 3, ts_ms 4, value 5. */
static int reading_parse(const uint8_t *p, size_t len, struct wire_fields *f)
{
    size_t at = 0;

    memset(f, 0, sizeof(*f));
    while (at < len) {
        uint64_t tag;
        bool ok;
        if (!wire_tag(p, len, &at, &tag))
            return -EBADMSG;
        switch (tag) {
        case TAG(1, WT_LEN):
            ok = wire_len(p, len, &at, &f->device);
            break;
        case TAG(2, WT_LEN):
            ok = wire_len(p, len, &at, &f->name);
            break;
        case TAG(3, WT_VARINT):
            ok = f->has_seq = wire_varint(p, len, &at, VARINT_MAX, &f->seq);
            break;
        case TAG(4, WT_VARINT):
            ok = f->has_ts = wire_varint(p, len, &at, VARINT_MAX, &f->ts);
            break;
        case TAG(5, WT_I64):
            ok = f->has_value = wire_fixed64(p, len, &at, &f->value);
            break;
        default:
            ok = wire_skip(p, len, &at, tag, READING_FIELDS);
        }
        if (!ok)
            return -EBADMSG;
    }
    return 0;
}

static int reading_decode(const uint8_t *buf, size_t len, struct codec_msg *out,
                          enum reject_reason *why)
{
    struct wire_fields f;
    struct codec_metric *m = &out->m[0];

    if (len > CODEC_MAX_PAYLOAD)
        return refuse(why, REJECT_TOO_LARGE, -EMSGSIZE);
    if (reading_parse(buf, len, &f) != 0)
        return refuse(why, REJECT_DECODE_ERROR, -EBADMSG);
    if (!f.has_value)
        return refuse(why, REJECT_MISSING_FIELD, -EINVAL);
    /* No sensor: the topic may name it (weir.proto); "" says so. */
    m->name[0] = '\0';
    if (!header_put(&f, out) ||
        (f.name.p != NULL && !name_put(m->name, f.name)))
        return refuse(why, REJECT_BAD_NAME, -EINVAL);
    m->value = bits_to_double(f.value);
    m->has_value = true;
    m->is_label = false;
    out->n = 1;
    return refuse(why, REJECT_NONE, 0);
}

int codec_decode_reading(const uint8_t *buf, size_t len, struct codec_msg *out,
                         enum reject_reason *why)
{
    int rc;

    /* A new field in weir.proto needs a case in reading_parse(). */
    assert(weir__reading__descriptor.n_fields == READING_FIELDS);
    rc = reading_decode(buf, len, out, why);
    if (CODEC_CROSSCHECK)
        crosscheck_reading(buf, len, rc, *why, out);
    return rc;
}

/* ---- Batches ------------------------------------------------------------- */

struct batch_state {
    size_t count;  /* Metrics + labels seen so far. */
    size_t labels; /* Labels seen (appended in a second pass). */
    bool missing;  /* Some metric lacks its name or value. */
    bool bad_name; /* Some name is not codec_name_ok(). */
};

/* Parse one Metric; append it to out->m[] when append is set and it is
 * valid, else note what is wrong with it in st. false if malformed. */
static bool metric_parse(struct wire_str body, bool is_label, bool append,
                         struct codec_msg *out, struct batch_state *st)
{
    struct wire_fields f;
    struct codec_metric *m;
    size_t at = 0;

    /* Metric: name 1, value 2. */
    memset(&f, 0, sizeof(f));
    while (at < body.n) {
        uint64_t tag;
        bool ok;
        if (!wire_tag(body.p, body.n, &at, &tag))
            return false;
        if (tag == TAG(1, WT_LEN))
            ok = wire_len(body.p, body.n, &at, &f.name);
        else if (tag == TAG(2, WT_I64))
            ok = f.has_value = wire_fixed64(body.p, body.n, &at, &f.value);
        else
            ok = wire_skip(body.p, body.n, &at, tag, METRIC_FIELDS);
        if (!ok)
            return false;
    }
    if (f.name.p == NULL || !f.has_value) {
        st->missing = true;
        return true;
    }
    if (!codec_name_ok((const char *)f.name.p, f.name.n)) {
        st->bad_name = true;
        return true;
    }
    if (!append)
        return true;
    m = &out->m[out->n++];
    (void)name_put(m->name, f.name);
    m->value = bits_to_double(f.value);
    m->has_value = true;
    m->is_label = is_label;
    return true;
}

/* ReadingBatch header: device 1, seq 2, ts_ms 3 (metrics 4 and labels 5
 * are the caller's). */
static bool batch_field(const uint8_t *p, size_t len, size_t *at, uint64_t tag,
                        struct wire_fields *f)
{
    switch (tag) {
    case TAG(1, WT_LEN):
        return wire_len(p, len, at, &f->device);
    case TAG(2, WT_VARINT):
        return f->has_seq = wire_varint(p, len, at, VARINT_MAX, &f->seq);
    case TAG(3, WT_VARINT):
        return f->has_ts = wire_varint(p, len, at, VARINT_MAX, &f->ts);
    default:
        return wire_skip(p, len, at, tag, BATCH_FIELDS);
    }
}

/* Pass 1: header fields and metrics (appended); labels only counted and
 * checked. 0, -EBADMSG or -EMSGSIZE. */
static int batch_parse(const uint8_t *p, size_t len, struct wire_fields *f,
                       struct codec_msg *out, struct batch_state *st)
{
    size_t at = 0;

    memset(f, 0, sizeof(*f));
    while (at < len) {
        struct wire_str body;
        uint64_t tag;
        bool label;
        if (!wire_tag(p, len, &at, &tag))
            return -EBADMSG;
        if (tag != TAG(4, WT_LEN) && tag != TAG(5, WT_LEN)) {
            if (!batch_field(p, len, &at, tag, f))
                return -EBADMSG;
            continue;
        }
        if (!wire_len(p, len, &at, &body))
            return -EBADMSG;
        if (++st->count > CODEC_MAX_METRICS)
            return -EMSGSIZE;
        label = tag == TAG(5, WT_LEN);
        st->labels += label;
        if (!metric_parse(body, label, !label, out, st))
            return -EBADMSG;
    }
    return 0;
}

/* Pass 2, for batches with labels: append them after the metrics. Pass 1
 * validated these bytes and every label in them. */
static void batch_labels(const uint8_t *p, size_t len, struct codec_msg *out,
                         struct batch_state *st)
{
    size_t at = 0;

    while (at < len) {
        struct wire_str body = {NULL, 0};
        uint64_t tag = 0;
        bool ok = wire_tag(p, len, &at, &tag);
        if (tag != TAG(5, WT_LEN)) {
            ok = ok && wire_skip(p, len, &at, tag, 0); /* any field */
        } else {
            ok = ok && wire_len(p, len, &at, &body);
            ok = ok && metric_parse(body, true, true, out, st);
        }
        assert(ok);
        if (!ok)
            return; /* cannot happen: pass 1 read the same bytes */
    }
}

static int batch_decode(const uint8_t *buf, size_t len, struct codec_msg *out,
                        enum reject_reason *why)
{
    struct batch_state st = {0, 0, false, false};
    struct wire_fields f;
    int rc;

    if (len > CODEC_MAX_PAYLOAD)
        return refuse(why, REJECT_TOO_LARGE, -EMSGSIZE);
    out->n = 0;
    rc = batch_parse(buf, len, &f, out, &st);
    if (rc == -EMSGSIZE)
        return refuse(why, REJECT_TOO_LARGE, rc);
    if (rc != 0)
        return refuse(why, REJECT_DECODE_ERROR, rc);
    if (st.missing || st.count == 0)
        return refuse(why, REJECT_MISSING_FIELD, -EINVAL);
    if (st.bad_name || !header_put(&f, out))
        return refuse(why, REJECT_BAD_NAME, -EINVAL);
    if (st.labels > 0)
        batch_labels(buf, len, out, &st);
    return refuse(why, REJECT_NONE, 0);
}

int codec_decode_batch(const uint8_t *buf, size_t len, struct codec_msg *out,
                       enum reject_reason *why)
{
    int rc;

    assert(weir__reading_batch__descriptor.n_fields == BATCH_FIELDS);
    assert(weir__metric__descriptor.n_fields == METRIC_FIELDS);
    rc = batch_decode(buf, len, out, why);
    if (CODEC_CROSSCHECK)
        crosscheck_batch(buf, len, rc, *why, out);
    return rc;
}

/* ---- Encoders ------------------------------------------------------------ */

static bool terminated(const char name[CODEC_NAME_MAX + 1])
{
    return memchr(name, '\0', CODEC_NAME_MAX + 1) != NULL;
}

/* "" means absent on the wire; protobuf-c does not write through it. */
static char *wire_name(const char name[CODEC_NAME_MAX + 1])
{
    return name[0] != '\0' ? (char *)name : NULL;
}

static size_t pack_into(const ProtobufCMessage *m, uint8_t *buf, size_t cap)
{
    size_t n = protobuf_c_message_get_packed_size(m);

    if (n > cap)
        return 0;
    return protobuf_c_message_pack(m, buf);
}

size_t codec_encode_reading(const struct codec_msg *msg, uint8_t *buf,
                            size_t cap)
{
    Weir__Reading r = WEIR__READING__INIT;
    const struct codec_metric *m = &msg->m[0];

    if (msg->n != 1 || m->is_label || !terminated(msg->device) ||
        !terminated(m->name))
        return 0;
    r.device = wire_name(msg->device);
    r.sensor = wire_name(m->name);
    r.has_seq = msg->has_seq;
    r.seq = msg->seq;
    r.has_ts_ms = msg->has_ts;
    r.ts_ms = msg->ts_ms;
    r.has_value = m->has_value;
    r.value = m->value;
    return pack_into(&r.base, buf, cap);
}

size_t codec_encode_batch(const struct codec_msg *msg, uint8_t *buf, size_t cap)
{
    Weir__ReadingBatch b = WEIR__READING_BATCH__INIT;
    Weir__Metric pb[CODEC_MAX_METRICS];
    Weir__Metric *metrics[CODEC_MAX_METRICS];
    Weir__Metric *labels[CODEC_MAX_METRICS];

    if (msg->n > CODEC_MAX_METRICS || !terminated(msg->device))
        return 0;
    b.device = wire_name(msg->device);
    b.has_seq = msg->has_seq;
    b.seq = msg->seq;
    b.has_ts_ms = msg->has_ts;
    b.ts_ms = msg->ts_ms;
    b.metrics = metrics;
    b.labels = labels;
    for (size_t i = 0; i < msg->n; i++) {
        const struct codec_metric *m = &msg->m[i];
        if (!terminated(m->name))
            return 0;
        weir__metric__init(&pb[i]);
        pb[i].name = wire_name(m->name);
        pb[i].has_value = m->has_value;
        pb[i].value = m->value;
        if (m->is_label)
            labels[b.n_labels++] = &pb[i];
        else
            metrics[b.n_metrics++] = &pb[i];
    }
    return pack_into(&b.base, buf, cap);
}

size_t codec_encode_drift_event(const struct codec_drift_event *e, uint8_t *buf,
                                size_t cap)
{
    Weir__DriftEvent d = WEIR__DRIFT_EVENT__INIT;

    if (e->state < 0 || e->state > WEIR__DRIFT_STATE__DRIFT_DETECTED)
        return 0;
    d.task = (char *)e->task;
    d.detector = (char *)e->detector;
    d.has_ts_ms = 1;
    d.ts_ms = e->ts_ms;
    d.has_state = 1;
    d.state = (Weir__DriftState)e->state;
    d.has_window_id = 1;
    d.window_id = e->window_id;
    d.has_row = 1;
    d.row = e->row;
    d.has_mean_before = 1;
    d.mean_before = e->mean_before;
    d.has_mean_after = 1;
    d.mean_after = e->mean_after;
    return pack_into(&d.base, buf, cap);
}

/* ---- Captures ------------------------------------------------------------ */

static size_t varint_put(uint8_t *p, uint64_t v)
{
    size_t n = 0;

    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

size_t codec_encode_capture(const struct codec_capture *c, uint8_t *buf,
                            size_t cap)
{
    static const uint8_t none[1];
    Weir__Capture m = WEIR__CAPTURE__INIT;
    uint8_t prefix[VARINT_MAX];
    size_t n;
    size_t k;

    if (c->topic == NULL || c->qos < 0 || c->qos > 2 ||
        (c->payload == NULL && c->payload_len > 0))
        return 0;
    m.topic = c->topic;
    m.has_payload = 1;
    m.payload.len = c->payload_len;
    /* protobuf-c memcpy()s from data even for 0 bytes. */
    m.payload.data = c->payload_len > 0 ? c->payload : (uint8_t *)none;
    m.has_recv_ns = 1;
    m.recv_ns = c->recv_ns;
    m.has_qos = 1;
    m.qos = (uint32_t)c->qos;
    m.has_retained = 1;
    m.retained = c->retained;
    n = protobuf_c_message_get_packed_size(&m.base);
    k = varint_put(prefix, n);
    if (cap < k || n > cap - k)
        return 0;
    memcpy(buf, prefix, k);
    return k + protobuf_c_message_pack(&m.base, buf + k);
}

/* The fields of a Capture as read from the wire. */
struct wire_capture {
    struct wire_str topic;   /* Borrowed from the record. */
    struct wire_str payload; /* Borrowed from the record. */
    uint64_t recv_ns;        /* Two's complement of the int64. */
    uint64_t qos;            /* As sent; protobuf-c keeps the low 32 bits. */
    bool retained;           /* As protobuf-c reads a bool: wire_bool(). */
};

/* protobuf-c reads a bool field in any wire type: true if any byte of the
 * field after its tag (length prefix included) has one of its low 7 bits
 * set. Mirrored so that both readers accept the same records. */
static bool wire_bool(const uint8_t *p, size_t len, size_t *at, uint64_t tag,
                      bool *v)
{
    size_t start = *at;

    if (!wire_skip(p, len, at, tag, 0))
        return false;
    *v = false;
    for (size_t i = start; i < *at; i++)
        *v = *v || (p[i] & 0x7f) != 0;
    return true;
}

static bool capture_parse(const uint8_t *p, size_t len, struct wire_capture *c)
{
    size_t at = 0;

    memset(c, 0, sizeof(*c));
    while (at < len) {
        uint64_t tag;
        bool ok;
        if (!wire_tag(p, len, &at, &tag))
            return false;
        if (tag == TAG(1, WT_LEN))
            ok = wire_len(p, len, &at, &c->topic);
        else if (tag == TAG(2, WT_LEN))
            ok = wire_len(p, len, &at, &c->payload);
        else if (tag == TAG(3, WT_VARINT))
            ok = wire_varint(p, len, &at, VARINT_MAX, &c->recv_ns);
        else if (tag == TAG(4, WT_VARINT))
            ok = wire_varint(p, len, &at, VARINT_MAX, &c->qos);
        else if ((tag >> 3) == 5)
            ok = wire_bool(p, len, &at, tag, &c->retained);
        else
            ok = wire_skip(p, len, &at, tag, CAPTURE_FIELDS);
        if (!ok)
            return false;
    }
    return true;
}

/* Copy a parsed Capture out; 0, -EBADMSG or -EMSGSIZE. */
static int capture_fill(const struct wire_capture *w, struct codec_capture *c,
                        char *topic_buf, size_t topic_cap, uint8_t *payload_buf,
                        size_t payload_cap)
{
    uint32_t qos = (uint32_t)w->qos;

    if (w->topic.p == NULL || memchr(w->topic.p, 0, w->topic.n) != NULL ||
        qos > 2)
        return -EBADMSG;
    if (w->topic.n >= topic_cap || w->payload.n > payload_cap)
        return -EMSGSIZE;
    memcpy(topic_buf, w->topic.p, w->topic.n);
    topic_buf[w->topic.n] = '\0';
    if (w->payload.n > 0)
        memcpy(payload_buf, w->payload.p, w->payload.n);
    c->topic = topic_buf;
    c->payload = payload_buf;
    c->payload_len = w->payload.n;
    c->recv_ns = (int64_t)w->recv_ns;
    c->qos = (int)qos;
    c->retained = w->retained;
    return 0;
}

/* parsed: our reader found the record well-formed; protobuf-c must agree,
 * and on every field when we accepted it. */
static void crosscheck_capture(const uint8_t *p, size_t n, bool parsed, int rc,
                               const struct codec_capture *c)
{
    Weir__Capture *m = weir__capture__unpack(NULL, n, p);

    if ((m != NULL) != parsed)
        crosscheck_fail("capture: decode verdicts differ");
    if (m != NULL && rc == 0 &&
        (strcmp(m->topic, c->topic) != 0 ||
         (m->has_payload ? m->payload.len : 0) != c->payload_len ||
         (c->payload_len > 0 &&
          memcmp(m->payload.data, c->payload, c->payload_len) != 0) ||
         (m->has_recv_ns ? m->recv_ns : 0) != c->recv_ns ||
         (m->has_qos ? (int)m->qos : 0) != c->qos ||
         (m->has_retained && m->retained) != c->retained))
        crosscheck_fail("capture: fields differ");
    weir__capture__free_unpacked(m, NULL);
}

int codec_decode_capture(const uint8_t *buf, size_t len, size_t *used,
                         struct codec_capture *c, char *topic_buf,
                         size_t topic_cap, uint8_t *payload_buf,
                         size_t payload_cap)
{
    struct wire_capture w;
    uint64_t n;
    size_t k = 0;
    bool parsed;
    int rc;

    assert(weir__capture__descriptor.n_fields == CAPTURE_FIELDS);
    if (!wire_varint(buf, len, &k, VARINT_MAX, &n))
        return len < VARINT_MAX ? -EAGAIN : -EBADMSG;
    if (n > (uint64_t)topic_cap + payload_cap + CAPTURE_SLACK)
        return -EMSGSIZE;
    if (n > len - k)
        return -EAGAIN;
    parsed = capture_parse(buf + k, (size_t)n, &w);
    rc = parsed ? capture_fill(&w, c, topic_buf, topic_cap, payload_buf,
                               payload_cap)
                : -EBADMSG;
    if (CODEC_CROSSCHECK)
        crosscheck_capture(buf + k, (size_t)n, parsed, rc, c);
    if (rc == 0)
        *used = k + (size_t)n;
    return rc;
}
