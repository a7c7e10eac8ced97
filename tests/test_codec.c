/* test_codec.c -- protobuf codec: names, round trips of every message type,
 * delimited capture framing, the malformed-input corpus of tests/corpus/
 * (reading/, batch/, capture/; each file is named after the reason it must
 * get, see tests/corpus/gen.py), oversize payloads, and the encoders
 * checked byte for byte against a wire writer built here from the protobuf
 * encoding spec.
 * Threads: decoders_run_concurrently starts two threads (for TSan); the
 * other cases are single-threaded. */
#include "proto/codec.h"
#include "tests/corpus_walk.h"
#include "tests/harness.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define ROUNDS 2000
#else
#define ROUNDS 20000
#endif

/* ---- A wire writer and reader from the spec, independent of codec.c ------ */

struct wbuf {
    uint8_t b[8192];
    size_t n;
};

static void w_varint(struct wbuf *w, uint64_t v)
{
    while (v >= 0x80) {
        w->b[w->n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    w->b[w->n++] = (uint8_t)v;
}

static void w_tag(struct wbuf *w, unsigned field, unsigned wt)
{
    w_varint(w, (uint64_t)field << 3 | wt);
}

static void w_bytes(struct wbuf *w, unsigned field, const void *p, size_t n)
{
    w_tag(w, field, 2);
    w_varint(w, n);
    memcpy(w->b + w->n, p, n);
    w->n += n;
}

static void w_double(struct wbuf *w, unsigned field, double d)
{
    uint64_t u;

    memcpy(&u, &d, sizeof(u));
    w_tag(w, field, 1);
    for (int i = 0; i < 8; i++)
        w->b[w->n++] = (uint8_t)(u >> (8 * i));
}

/* Fields of one message, by number (< 16): last occurrence wins. */
struct wfields {
    bool seen[16];
    uint64_t v[16];       /* varint or fixed64 bits */
    const uint8_t *s[16]; /* length-delimited body */
    size_t n[16];
};

static void r_fields(const uint8_t *p, size_t len, struct wfields *f)
{
    size_t at = 0;

    memset(f, 0, sizeof(*f));
    while (at < len) {
        uint64_t tag = 0;
        uint64_t v = 0;
        for (int sh = 0;; sh += 7) {
            tag |= (uint64_t)(p[at] & 0x7f) << sh;
            if ((p[at++] & 0x80) == 0)
                break;
        }
        ASSERT((tag >> 3) < 16);
        if ((tag & 7) == 0 || (tag & 7) == 2) {
            for (int sh = 0;; sh += 7) {
                v |= (uint64_t)(p[at] & 0x7f) << sh;
                if ((p[at++] & 0x80) == 0)
                    break;
            }
        } else {
            ASSERT_EQ(tag & 7, 1);
            for (int i = 0; i < 8; i++)
                v |= (uint64_t)p[at++] << (8 * i);
        }
        f->seen[tag >> 3] = true;
        f->v[tag >> 3] = v;
        if ((tag & 7) == 2) {
            f->s[tag >> 3] = p + at;
            f->n[tag >> 3] = (size_t)v;
            at += (size_t)v;
        }
        ASSERT(at <= len);
    }
}

static bool wstr_eq(const struct wfields *f, unsigned field, const char *s)
{
    return f->seen[field] && f->n[field] == strlen(s) &&
           memcmp(f->s[field], s, f->n[field]) == 0;
}

static double bits_double(uint64_t u)
{
    double d;

    memcpy(&d, &u, sizeof(d));
    return d;
}

static bool same_bits(double a, double b)
{
    return memcmp(&a, &b, sizeof(a)) == 0;
}

/* ---- Corpus -------------------------------------------------------------- */

static struct codec_msg scratch; /* 20 KB: keep it off the stack */

static void reading_file(const char *file, const uint8_t *buf, size_t len,
                         const char *expect)
{
    enum reject_reason why = REJECT__COUNT;
    int rc;

    memset(&scratch, 0xa5, sizeof(scratch)); /* "scratch either way" */
    rc = codec_decode_reading(buf, len, &scratch, &why);
    corpus_walk_check_reason(file, rc, why, expect);
    if (rc == 0) {
        ASSERT_EQ(scratch.n, 1);
        /* "": no sensor in the payload, the topic names it. */
        ASSERT(scratch.m[0].name[0] == '\0' ||
               codec_name_ok(scratch.m[0].name, strlen(scratch.m[0].name)));
        ASSERT(scratch.device[0] == '\0' ||
               codec_name_ok(scratch.device, strlen(scratch.device)));
        ASSERT(scratch.m[0].has_value && !scratch.m[0].is_label);
    }
}

static void batch_file(const char *file, const uint8_t *buf, size_t len,
                       const char *expect)
{
    enum reject_reason why = REJECT__COUNT;
    int rc;

    memset(&scratch, 0xa5, sizeof(scratch));
    rc = codec_decode_batch(buf, len, &scratch, &why);
    corpus_walk_check_reason(file, rc, why, expect);
    if (rc == 0) {
        bool label_seen = false;
        ASSERT(scratch.n >= 1 && scratch.n <= CODEC_MAX_METRICS);
        for (size_t i = 0; i < scratch.n; i++) {
            const struct codec_metric *m = &scratch.m[i];
            ASSERT(codec_name_ok(m->name, strlen(m->name)));
            ASSERT(m->has_value);
            ASSERT(!label_seen || m->is_label); /* metrics, then labels */
            label_seen = label_seen || m->is_label;
        }
    }
}

static void reading_corpus(void)
{
    ASSERT(corpus_walk("reading", reading_file) >= 60);
}

static void batch_corpus(void)
{
    ASSERT(corpus_walk("batch", batch_file) >= 25);
}

/* Decode records one after another, as a capture reader does; the file's
 * name says how the stream must end. */
static void capture_file(const char *file, const uint8_t *buf, size_t len,
                         const char *expect)
{
    static uint8_t payload[CODEC_MAX_PAYLOAD];
    char topic[256];
    struct codec_capture c;
    size_t at = 0;
    int rc = 0;

    while (at < len) {
        size_t used = 0;
        rc = codec_decode_capture(buf + at, len - at, &used, &c, topic,
                                  sizeof(topic), payload, sizeof(payload));
        if (rc != 0)
            break;
        ASSERT(used > 0 && used <= len - at);
        ASSERT(strlen(c.topic) > 0 && c.qos >= 0 && c.qos <= 2);
        at += used;
    }
    if (strcmp(expect, "ok") == 0        ? rc != 0
        : strcmp(expect, "eagain") == 0  ? rc != -EAGAIN
        : strcmp(expect, "ebadmsg") == 0 ? rc != -EBADMSG
                                         : rc != -EMSGSIZE)
        fprintf(stderr, "%s: got %d\n", file, rc);
    ASSERT(strcmp(expect, "ok") == 0 || strcmp(expect, "eagain") == 0 ||
           strcmp(expect, "ebadmsg") == 0 || strcmp(expect, "emsgsize") == 0);
    if (strcmp(expect, "ok") == 0)
        ASSERT(rc == 0 && at == len);
    else if (strcmp(expect, "eagain") == 0)
        ASSERT_EQ(rc, -EAGAIN);
    else if (strcmp(expect, "ebadmsg") == 0)
        ASSERT_EQ(rc, -EBADMSG);
    else
        ASSERT_EQ(rc, -EMSGSIZE);
}

static void capture_corpus(void)
{
    ASSERT(corpus_walk("capture", capture_file) >= 15);
}

/* ---- Names --------------------------------------------------------------- */

static bool ok(const char *s)
{
    return codec_name_ok(s, strlen(s));
}

static void names_follow_the_rules(void)
{
    char n64[65];
    char n65[66];

    memset(n64, 'a', 64);
    n64[64] = '\0';
    memset(n65, 'a', 65);
    n65[65] = '\0';
    ASSERT(ok("temp") && ok("gw-1") && ok("a.b_c:d") && ok("$SYS"));
    ASSERT(ok(n64) && !ok(n65));
    ASSERT(!ok("") && !codec_name_ok("abc", 0));
    ASSERT(!codec_name_ok("a\0b", 3));
    ASSERT(!ok("a/b") && !ok("a+") && !ok("#") && !ok("a\tb"));
    ASSERT(!ok("a\x1f") && !ok("\x7f") && !ok("a\nb"));
    ASSERT(ok("temp\xc3\xa9"));                 /* U+00E9 */
    ASSERT(ok("\xe6\xb8\xa9\xe5\xba\xa6"));     /* two CJK characters */
    ASSERT(ok("\xf0\x9f\x8c\xa1"));             /* U+1F321 */
    ASSERT(ok("\xf4\x8f\xbf\xbf"));             /* U+10FFFF */
    ASSERT(!ok("\x80") && !ok("a\xbf"));        /* stray continuation */
    ASSERT(!ok("\xc0\xaf") && !ok("\xc1\xbf")); /* overlong ASCII */
    ASSERT(!ok("\xe0\x80\xaf"));                /* overlong 3-byte */
    ASSERT(!ok("\xf0\x80\x80\xaf"));            /* overlong 4-byte */
    ASSERT(!ok("\xed\xa0\x80"));                /* surrogate U+D800 */
    ASSERT(!ok("\xf4\x90\x80\x80"));            /* U+110000 */
    ASSERT(!ok("\xf5\x80\x80\x80") && !ok("\xff"));
    ASSERT(!ok("ab\xe2\x82"));                  /* truncated sequence */
    ASSERT(!ok("\xc2\x80") && !ok("\xc2\x9f")); /* C1 controls */
    ASSERT(ok("\xc2\xa0"));                     /* U+00A0 is not C1 */
    /* A multi-byte character may not straddle the 64-byte limit. */
    ASSERT(!codec_name_ok("\xc3\xa9", 1));
}

/* ---- Round trips --------------------------------------------------------- */

static void random_name(uint64_t *rng, char *out, bool allow_empty)
{
    static const char alpha[] = "abcdefghijklmnopqrstuvwxyz0123456789-_.:";
    size_t n = (size_t)(test_rand(rng) % CODEC_NAME_MAX) + 1;

    if (allow_empty && test_rand(rng) % 4 == 0)
        n = 0;
    for (size_t i = 0; i < n; i++)
        out[i] = alpha[test_rand(rng) % (sizeof(alpha) - 1)];
    if (n >= 3 && test_rand(rng) % 8 == 0)
        memcpy(out + n - 2, "\xc3\xa9", 2); /* some UTF-8 too */
    out[n] = '\0';
}

static double random_value(uint64_t *rng)
{
    switch (test_rand(rng) % 8) {
    case 0:
        return bits_double(test_rand(rng)); /* any bits: NaNs, subnormals */
    case 1:
        return -0.0;
    case 2:
        return INFINITY;
    default:
        return ((double)(test_rand(rng) % 2000001) - 1e6) / 1000.0;
    }
}

static void random_header(uint64_t *rng, struct codec_msg *m)
{
    random_name(rng, m->device, true);
    m->has_seq = test_rand(rng) % 4 != 0;
    m->seq = m->has_seq ? test_rand(rng) >> (test_rand(rng) % 64) : 0;
    m->has_ts = test_rand(rng) % 4 != 0;
    m->ts_ms =
        m->has_ts ? (int64_t)(test_rand(rng) >> (test_rand(rng) % 64)) : 0;
}

static void header_equal(const struct codec_msg *a, const struct codec_msg *b)
{
    ASSERT_STREQ(a->device, b->device);
    ASSERT_EQ(a->has_seq, b->has_seq);
    ASSERT_EQ(a->has_ts, b->has_ts);
    ASSERT(!a->has_seq || a->seq == b->seq);
    ASSERT(!a->has_ts || a->ts_ms == b->ts_ms);
}

static struct codec_msg in, out;

static void reading_round_trips(void)
{
    uint64_t rng = test_seed();
    uint8_t buf[512];
    enum reject_reason why;

    for (int r = 0; r < ROUNDS; r++) {
        memset(&in, 0, sizeof(in));
        random_header(&rng, &in);
        random_name(&rng, in.m[0].name, true); /* "": left to the topic */
        in.m[0].value = random_value(&rng);
        in.m[0].has_value = true;
        in.n = 1;
        size_t len = codec_encode_reading(&in, buf, sizeof(buf));
        ASSERT(len > 0);
        ASSERT_EQ(codec_decode_reading(buf, len, &out, &why), 0);
        ASSERT_EQ(why, REJECT_NONE);
        header_equal(&in, &out);
        ASSERT_EQ(out.n, 1);
        ASSERT_STREQ(in.m[0].name, out.m[0].name);
        ASSERT(same_bits(in.m[0].value, out.m[0].value));
        ASSERT(out.m[0].has_value && !out.m[0].is_label);
        /* Every shorter prefix is refused or is a different message. */
        if (len > 1) {
            int rc = codec_decode_reading(buf, len - 1, &out, &why);
            ASSERT(rc != 0);
        }
    }
}

static void batch_round_trips_with_labels(void)
{
    uint64_t rng = test_seed() ^ 0xba7c4;
    static uint8_t buf[1 << 16];
    enum reject_reason why;

    for (int r = 0; r < ROUNDS / 10; r++) {
        size_t k = 0;
        memset(&in, 0, sizeof(in));
        random_header(&rng, &in);
        in.n = (size_t)(test_rand(&rng) % CODEC_MAX_METRICS) + 1;
        for (size_t i = 0; i < in.n; i++) {
            random_name(&rng, in.m[i].name, false);
            in.m[i].value = random_value(&rng);
            in.m[i].has_value = true;
            in.m[i].is_label = test_rand(&rng) % 5 == 0; /* interleaved */
        }
        size_t len = codec_encode_batch(&in, buf, sizeof(buf));
        ASSERT(len > 0);
        ASSERT_EQ(codec_decode_batch(buf, len, &out, &why), 0);
        header_equal(&in, &out);
        ASSERT_EQ(out.n, in.n);
        /* Metrics in their order, then labels in theirs. */
        for (int pass = 0; pass < 2; pass++) {
            for (size_t i = 0; i < in.n; i++) {
                if (in.m[i].is_label != (pass == 1))
                    continue;
                ASSERT_STREQ(in.m[i].name, out.m[k].name);
                ASSERT(same_bits(in.m[i].value, out.m[k].value));
                ASSERT_EQ(out.m[k].is_label, pass == 1);
                k++;
            }
        }
        ASSERT_EQ(k, in.n);
    }
}

static void batch_metric_limit_is_exact(void)
{
    static uint8_t buf[1 << 16];
    enum reject_reason why;
    struct wbuf *w = calloc(1, sizeof(*w));
    size_t len;

    memset(&in, 0, sizeof(in));
    in.n = CODEC_MAX_METRICS;
    for (size_t i = 0; i < in.n; i++) {
        snprintf(in.m[i].name, sizeof(in.m[i].name), "m%zu", i);
        in.m[i].has_value = true;
        in.m[i].is_label = i % 2;
    }
    len = codec_encode_batch(&in, buf, sizeof(buf));
    ASSERT_EQ(codec_decode_batch(buf, len, &out, &why), 0);
    ASSERT_EQ(out.n, CODEC_MAX_METRICS);
    /* One more label on the wire (the struct cannot hold it). */
    ASSERT(w != NULL);
    memcpy(w->b, buf, len);
    w->n = len;
    w_bytes(w, 5, "\x0a\x01x\x11\0\0\0\0\0\0\0\0", 12);
    ASSERT_EQ(codec_decode_batch(w->b, w->n, &out, &why), -EMSGSIZE);
    ASSERT_EQ(why, REJECT_TOO_LARGE);
    free(w);
    /* The encoder refuses more than the limit. */
    in.n = CODEC_MAX_METRICS + 1;
    ASSERT_EQ(codec_encode_batch(&in, buf, sizeof(buf)), 0);
}

static void absent_fields_stay_absent(void)
{
    uint8_t buf[256];
    enum reject_reason why;
    size_t len;

    memset(&in, 0, sizeof(in));
    strcpy(in.m[0].name, "temp");
    in.m[0].value = 1.5;
    in.m[0].has_value = true;
    in.n = 1;
    len = codec_encode_reading(&in, buf, sizeof(buf));
    /* Only sensor (2 + 4 bytes) and value (1 + 8). */
    ASSERT_EQ(len, 15);
    memset(&out, 0x5a, sizeof(out));
    ASSERT_EQ(codec_decode_reading(buf, len, &out, &why), 0);
    ASSERT_STREQ(out.device, "");
    ASSERT(!out.has_seq && !out.has_ts);
    /* A Reading without its value is refused, not read as 0. */
    in.m[0].has_value = false;
    len = codec_encode_reading(&in, buf, sizeof(buf));
    ASSERT_EQ(codec_decode_reading(buf, len, &out, &why), -EINVAL);
    ASSERT_EQ(why, REJECT_MISSING_FIELD);
    /* A Reading may leave its sensor to the topic: "" (weir.proto). */
    in.m[0].has_value = true;
    in.m[0].name[0] = '\0';
    strcpy(in.device, "gw-1");
    len = codec_encode_reading(&in, buf, sizeof(buf));
    memset(&out, 0x5a, sizeof(out));
    ASSERT_EQ(codec_decode_reading(buf, len, &out, &why), 0);
    ASSERT_EQ(why, REJECT_NONE);
    ASSERT_EQ(out.n, 1);
    ASSERT_STREQ(out.m[0].name, "");
    ASSERT_STREQ(out.device, "gw-1");
    ASSERT(out.m[0].has_value && out.m[0].value == 1.5);
    /* ... but a sensor that is there must be a name: "" present is not
     * absent (field 2, length 0, then the value). */
    {
        uint8_t raw[11] = {0x12, 0x00, 0x29};
        memcpy(raw + 3, buf + len - 8, 8);
        ASSERT_EQ(codec_decode_reading(raw, sizeof(raw), &out, &why), -EINVAL);
        ASSERT_EQ(why, REJECT_BAD_NAME);
        ASSERT_EQ(codec_decode_reading(raw + 2, 9, &out, &why), 0);
        ASSERT_STREQ(out.m[0].name, "");
    }
    /* Without its value it is still refused, as missing. */
    in.m[0].has_value = false;
    len = codec_encode_reading(&in, buf, sizeof(buf));
    ASSERT_EQ(codec_decode_reading(buf, len, &out, &why), -EINVAL);
    ASSERT_EQ(why, REJECT_MISSING_FIELD);
    in.device[0] = '\0';
    strcpy(in.m[0].name, "temp");
    /* seq 0 is a real sequence number, distinct from absent. */
    in.m[0].has_value = true;
    in.has_seq = true;
    in.seq = 0;
    len = codec_encode_reading(&in, buf, sizeof(buf));
    ASSERT_EQ(codec_decode_reading(buf, len, &out, &why), 0);
    ASSERT(out.has_seq && out.seq == 0);
}

/* The encoder's bytes are what the spec says, field by field. */
static void encoders_match_the_spec(void)
{
    struct wbuf w = {.n = 0};
    uint8_t buf[512];
    size_t len;

    memset(&in, 0, sizeof(in));
    strcpy(in.device, "gw-1");
    strcpy(in.m[0].name, "temp");
    in.has_seq = true;
    in.seq = 12;
    in.has_ts = true;
    in.ts_ms = 1700000000000;
    in.m[0].value = 21.5;
    in.m[0].has_value = true;
    in.n = 1;
    w_bytes(&w, 1, "gw-1", 4);
    w_bytes(&w, 2, "temp", 4);
    w_tag(&w, 3, 0);
    w_varint(&w, 12);
    w_tag(&w, 4, 0);
    w_varint(&w, 1700000000000);
    w_double(&w, 5, 21.5);
    len = codec_encode_reading(&in, buf, sizeof(buf));
    ASSERT_EQ(len, w.n);
    ASSERT(memcmp(buf, w.b, len) == 0);
    /* Negative int64 is ten bytes of two's complement. */
    in.ts_ms = -1;
    len = codec_encode_reading(&in, buf, sizeof(buf));
    ASSERT_EQ(len, w.n - 6 + 10);
}

static void encoders_refuse_what_the_wire_cannot_say(void)
{
    uint8_t buf[64];
    size_t len;

    memset(&in, 0, sizeof(in));
    strcpy(in.m[0].name, "temp");
    in.m[0].has_value = true;
    in.n = 2;
    ASSERT_EQ(codec_encode_reading(&in, buf, sizeof(buf)), 0);
    in.n = 1;
    in.m[0].is_label = true;
    ASSERT_EQ(codec_encode_reading(&in, buf, sizeof(buf)), 0);
    in.m[0].is_label = false;
    memset(in.device, 'x', sizeof(in.device)); /* no NUL */
    ASSERT_EQ(codec_encode_reading(&in, buf, sizeof(buf)), 0);
    ASSERT_EQ(codec_encode_batch(&in, buf, sizeof(buf)), 0);
    in.device[0] = '\0';
    len = codec_encode_reading(&in, buf, sizeof(buf));
    ASSERT(len > 0);
    ASSERT_EQ(codec_encode_reading(&in, buf, len - 1), 0); /* too small */
    ASSERT_EQ(codec_encode_reading(&in, buf, len), len);   /* exact fit */
    /* Bad names are encoded: the simulator needs them; decoders refuse. */
    strcpy(in.m[0].name, "a/b");
    len = codec_encode_reading(&in, buf, sizeof(buf));
    ASSERT(len > 0);
    enum reject_reason why;
    ASSERT_EQ(codec_decode_reading(buf, len, &out, &why), -EINVAL);
    ASSERT_EQ(why, REJECT_BAD_NAME);
}

/* ---- Oversize payloads --------------------------------------------------- */

static void oversize_payloads_are_too_large(void)
{
    size_t big = 1 << 20;
    uint8_t *p = calloc(1, big);
    struct wbuf *w = calloc(1, sizeof(*w));
    uint8_t *exact = malloc(CODEC_MAX_PAYLOAD + 1);
    enum reject_reason why;
    size_t pad;

    ASSERT(p != NULL && w != NULL && exact != NULL);
    /* 1 MB of a valid-looking start: refused before it is read. */
    w_bytes(w, 2, "temp", 4);
    w_double(w, 5, 1.0);
    memcpy(p, w->b, w->n);
    ASSERT_EQ(codec_decode_reading(p, big, &out, &why), -EMSGSIZE);
    ASSERT_EQ(why, REJECT_TOO_LARGE);
    ASSERT_EQ(codec_decode_batch(p, big, &out, &why), -EMSGSIZE);
    ASSERT_EQ(why, REJECT_TOO_LARGE);
    /* Exactly the limit is read: sensor, value, then an unknown field 9
     * that pads to CODEC_MAX_PAYLOAD bytes (tag 1 + length 3 + body). */
    pad = CODEC_MAX_PAYLOAD - w->n - 4;
    memcpy(exact, w->b, w->n);
    exact[w->n] = 9 << 3 | 2;
    exact[w->n + 1] = (uint8_t)(pad | 0x80);
    exact[w->n + 2] = (uint8_t)((pad >> 7) | 0x80);
    exact[w->n + 3] = (uint8_t)(pad >> 14);
    memset(exact + w->n + 4, 'x', pad);
    ASSERT_EQ(codec_decode_reading(exact, CODEC_MAX_PAYLOAD, &out, &why), 0);
    ASSERT_STREQ(out.m[0].name, "temp");
    exact[CODEC_MAX_PAYLOAD] = 0;
    ASSERT_EQ(codec_decode_reading(exact, CODEC_MAX_PAYLOAD + 1, &out, &why),
              -EMSGSIZE);
    ASSERT_EQ(why, REJECT_TOO_LARGE);
    free(exact);
    free(w);
    free(p);
}

/* ---- Captures ------------------------------------------------------------ */

static void captures_round_trip_through_a_stream(void)
{
    enum { RECORDS = 1000 };
    size_t cap = (size_t)RECORDS * 600;
    uint8_t *stream = malloc(cap);
    static uint8_t payloads[RECORDS][400];
    static size_t plen[RECORDS];
    static char topics[RECORDS][80];
    static uint8_t pbuf[CODEC_MAX_PAYLOAD];
    char tbuf[128];
    uint64_t rng = test_seed() ^ 0xca97;
    size_t len = 0;
    size_t at = 0;

    ASSERT(stream != NULL);
    for (int i = 0; i < RECORDS; i++) {
        struct codec_capture c;
        snprintf(topics[i], sizeof(topics[i]), "sensors/gw-%d/s%u", i % 7,
                 (unsigned)(test_rand(&rng) % 100));
        plen[i] = (size_t)(test_rand(&rng) % 400); /* 0 included */
        for (size_t k = 0; k < plen[i]; k++)
            payloads[i][k] = (uint8_t)test_rand(&rng);
        c.topic = topics[i];
        c.payload = payloads[i];
        c.payload_len = plen[i];
        c.recv_ns = (int64_t)(test_rand(&rng) >> 1) * (i % 2 ? 1 : -1);
        c.qos = i % 3;
        c.retained = i % 5 == 0;
        size_t n = codec_encode_capture(&c, stream + len, cap - len);
        ASSERT(n > 0);
        len += n;
    }
    for (int i = 0; i < RECORDS; i++) {
        struct codec_capture c;
        size_t used = 0;
        size_t cut;
        ASSERT_EQ(codec_decode_capture(stream + at, len - at, &used, &c, tbuf,
                                       sizeof(tbuf), pbuf, sizeof(pbuf)),
                  0);
        /* Any cut inside this record asks for more bytes. */
        cut = (size_t)(test_rand(&rng) % used);
        ASSERT_EQ(codec_decode_capture(stream + at, cut, &cut, &c, tbuf,
                                       sizeof(tbuf), pbuf, sizeof(pbuf)),
                  -EAGAIN);
        ASSERT_STREQ(c.topic, topics[i]);
        ASSERT(c.topic == tbuf && c.payload == pbuf);
        ASSERT_EQ(c.payload_len, plen[i]);
        ASSERT(plen[i] == 0 || memcmp(c.payload, payloads[i], plen[i]) == 0);
        ASSERT_EQ(c.qos, i % 3);
        ASSERT_EQ(c.retained, i % 5 == 0);
        at += used;
    }
    ASSERT_EQ(at, len);
    free(stream);
}

static void capture_prefixes_ask_for_more(void)
{
    static uint8_t pbuf[1024];
    uint8_t rec[256];
    char tbuf[64];
    struct codec_capture c = {.topic = (char *)"sensors/a/b",
                              .payload = (uint8_t *)"hello",
                              .payload_len = 5,
                              .recv_ns = 42,
                              .qos = 1,
                              .retained = true};
    size_t n = codec_encode_capture(&c, rec, sizeof(rec));
    size_t used;

    ASSERT(n > 0);
    ASSERT_EQ(codec_encode_capture(&c, rec, n - 1), 0);
    for (size_t cut = 0; cut < n; cut++)
        ASSERT_EQ(codec_decode_capture(rec, cut, &used, &c, tbuf, sizeof(tbuf),
                                       pbuf, sizeof(pbuf)),
                  -EAGAIN);
    ASSERT_EQ(codec_decode_capture(rec, n, &used, &c, tbuf, sizeof(tbuf), pbuf,
                                   sizeof(pbuf)),
              0);
    ASSERT_EQ(used, n);
    ASSERT_EQ(c.recv_ns, 42);
    /* The caller's buffers bound the fields: exact fits and one less. */
    ASSERT_EQ(codec_decode_capture(rec, n, &used, &c, tbuf, 12, pbuf, 5), 0);
    ASSERT_EQ(codec_decode_capture(rec, n, &used, &c, tbuf, 11, pbuf, 5),
              -EMSGSIZE);
    ASSERT_EQ(codec_decode_capture(rec, n, &used, &c, tbuf, 12, pbuf, 4),
              -EMSGSIZE);
    /* A declared length beyond anything the caller's buffers could take
     * is refused at once, rather than waited for. */
    rec[0] = 0x88; /* 5000 = 0x88 0x27 */
    rec[1] = 0x27;
    ASSERT_EQ(codec_decode_capture(rec, 3, &used, &c, tbuf, 16, pbuf, 16),
              -EMSGSIZE);
    ASSERT_EQ(codec_decode_capture(rec, 3, &used, &c, tbuf, 16, pbuf, 4096),
              -EAGAIN);
    c.qos = 3;
    ASSERT_EQ(codec_encode_capture(&c, rec, sizeof(rec)), 0);
}

/* Large payloads (up to the MQTT-ish limit) go through as well. */
static void capture_carries_a_large_payload(void)
{
    size_t plen = CODEC_MAX_PAYLOAD;
    uint8_t *payload = malloc(plen);
    uint8_t *rec = malloc(plen + 64);
    uint8_t *pbuf = malloc(plen);
    char tbuf[16];
    struct codec_capture c = {.topic = (char *)"t", .qos = 0};
    size_t n;
    size_t used;

    ASSERT(payload && rec && pbuf);
    for (size_t i = 0; i < plen; i++)
        payload[i] = (uint8_t)(i * 7);
    c.payload = payload;
    c.payload_len = plen;
    n = codec_encode_capture(&c, rec, plen + 64);
    ASSERT(n > plen);
    memset(&c, 0, sizeof(c));
    ASSERT_EQ(
        codec_decode_capture(rec, n, &used, &c, tbuf, sizeof(tbuf), pbuf, plen),
        0);
    ASSERT_EQ(c.payload_len, plen);
    ASSERT(memcmp(pbuf, payload, plen) == 0);
    free(pbuf);
    free(rec);
    free(payload);
}

/* ---- Drift events -------------------------------------------------------- */

static void drift_event_encodes_every_field(void)
{
    struct codec_drift_event e = {.task = "occupancy",
                                  .ts_ms = 1700000000123,
                                  .state = 2,
                                  .detector = "adwin",
                                  .window_id = 17,
                                  .row = 123456789,
                                  .mean_before = 0.125,
                                  .mean_after = -0.5};
    uint8_t buf[256];
    struct wfields f;
    size_t len = codec_encode_drift_event(&e, buf, sizeof(buf));

    ASSERT(len > 0);
    r_fields(buf, len, &f);
    ASSERT(wstr_eq(&f, 1, "occupancy"));
    ASSERT(f.seen[2] && f.v[2] == 1700000000123);
    ASSERT(f.seen[3] && f.v[3] == 2);
    ASSERT(wstr_eq(&f, 4, "adwin"));
    ASSERT(f.seen[5] && f.v[5] == 17);
    ASSERT(f.seen[6] && f.v[6] == 123456789);
    ASSERT(f.seen[7] && bits_double(f.v[7]) == 0.125);
    ASSERT(f.seen[8] && bits_double(f.v[8]) == -0.5);
    ASSERT_EQ(codec_encode_drift_event(&e, buf, len - 1), 0);
    /* DRIFT_NONE is still sent (absence would not say "none"). */
    e.state = 0;
    e.task = NULL;
    len = codec_encode_drift_event(&e, buf, sizeof(buf));
    r_fields(buf, len, &f);
    ASSERT(!f.seen[1] && f.seen[3] && f.v[3] == 0);
    e.state = 3;
    ASSERT_EQ(codec_encode_drift_event(&e, buf, sizeof(buf)), 0);
}

/* ---- Threads ----------------------------------------------------------------
 */

/* Runs on: its own thread. Encodes and decodes with a private msg. */
static void *codec_worker(void *arg)
{
    uint64_t rng = (uint64_t)(uintptr_t)arg;
    struct codec_msg *m = calloc(2, sizeof(*m));
    uint8_t buf[256];
    enum reject_reason why;

    ASSERT(m != NULL);
    for (int r = 0; r < ROUNDS; r++) {
        memset(&m[0], 0, sizeof(m[0]));
        snprintf(m[0].device, sizeof(m[0].device), "d%u",
                 (unsigned)(test_rand(&rng) % 1000));
        snprintf(m[0].m[0].name, sizeof(m[0].m[0].name), "s%d", r);
        m[0].m[0].value = (double)r;
        m[0].m[0].has_value = true;
        m[0].n = 1;
        size_t len = codec_encode_reading(&m[0], buf, sizeof(buf));
        ASSERT_EQ(codec_decode_reading(buf, len, &m[1], &why), 0);
        ASSERT_STREQ(m[0].device, m[1].device);
        ASSERT(m[1].m[0].value == (double)r);
    }
    free(m);
    return NULL;
}

/* The codec keeps no state between calls: two threads at once are fine. */
static void decoders_run_concurrently(void)
{
    pthread_t t[2];

    for (uintptr_t i = 0; i < 2; i++)
        ASSERT_EQ(pthread_create(&t[i], NULL, codec_worker, (void *)(i + 1)),
                  0);
    for (int i = 0; i < 2; i++)
        ASSERT_EQ(pthread_join(t[i], NULL), 0);
}

static const struct test tests[] = {
    {"names_follow_the_rules", names_follow_the_rules},
    {"reading_round_trips", reading_round_trips},
    {"batch_round_trips_with_labels", batch_round_trips_with_labels},
    {"batch_metric_limit_is_exact", batch_metric_limit_is_exact},
    {"absent_fields_stay_absent", absent_fields_stay_absent},
    {"encoders_match_the_spec", encoders_match_the_spec},
    {"encoders_refuse_what_the_wire_cannot_say",
     encoders_refuse_what_the_wire_cannot_say},
    {"reading_corpus", reading_corpus},
    {"batch_corpus", batch_corpus},
    {"capture_corpus", capture_corpus},
    {"oversize_payloads_are_too_large", oversize_payloads_are_too_large},
    {"captures_round_trip_through_a_stream",
     captures_round_trip_through_a_stream},
    {"capture_prefixes_ask_for_more", capture_prefixes_ask_for_more},
    {"capture_carries_a_large_payload", capture_carries_a_large_payload},
    {"drift_event_encodes_every_field", drift_event_encodes_every_field},
    {"decoders_run_concurrently", decoders_run_concurrently},
    {NULL, NULL}};

int main(int argc, char **argv)
{
    return test_main(argc, argv, tests);
}
