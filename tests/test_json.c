/* test_json.c -- JSON and SenML decoders and encoders: the corpus of
 * tests/corpus/{json,object,senml} (each file named after the reason it
 * must get), RFC 8428's examples resolved field by field (5.1.2's packed
 * form must resolve exactly as its resolved form 5.1.4), RFC 3339 times,
 * non-finite values, limits, and round trips through every encoder.
 * Threads: decoders_run_concurrently starts two threads (for TSan); the
 * other cases are single-threaded. */
#include "proto/json.h"
#include "tests/corpus_walk.h"
#include "tests/harness.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define ROUNDS 500
#else
#define ROUNDS 5000
#endif

#define NOW_MS 1700000000000LL /* "now" for relative SenML times */

static struct codec_msg msg;

/* ---- SenML collector ----------------------------------------------------- */

struct rec {
    char device[CODEC_NAME_MAX + 1];
    char sensor[CODEC_NAME_MAX + 1];
    double value;
    int64_t ts_ms;
    bool has_ts;
    bool is_label;
    int group;
};

struct pack {
    struct rec r[CODEC_MAX_METRICS];
    size_t n;
    int groups;
    int stop_after; /* return 7 after this many groups; 0 never */
};

/* Called on: the test's thread, from json_decode_senml(). */
static int collect(void *ctx, const struct codec_msg *m)
{
    struct pack *p = ctx;

    ASSERT(m->n >= 1 && !m->has_seq);
    for (size_t i = 0; i < m->n; i++) {
        struct rec *r = &p->r[p->n++];
        strcpy(r->device, m->device);
        strcpy(r->sensor, m->m[i].name);
        ASSERT(m->m[i].has_value);
        r->value = m->m[i].value;
        r->ts_ms = m->ts_ms;
        r->has_ts = m->has_ts;
        r->is_label = m->m[i].is_label;
        r->group = p->groups;
    }
    p->groups++;
    return p->stop_after != 0 && p->groups >= p->stop_after ? 7 : 0;
}

static int senml(const char *text, struct pack *p, size_t *skipped,
                 enum reject_reason *why)
{
    memset(p, 0, sizeof(*p));
    return json_decode_senml((const uint8_t *)text, strlen(text), NOW_MS, &msg,
                             collect, p, skipped, why);
}

/* ---- Corpus -------------------------------------------------------------- */

static void names_valid(const struct codec_msg *m, bool sensor_may_be_empty)
{
    ASSERT(m->device[0] == '\0' || codec_name_ok(m->device, strlen(m->device)));
    for (size_t i = 0; i < m->n; i++)
        ASSERT((sensor_may_be_empty && m->m[i].name[0] == '\0') ||
               codec_name_ok(m->m[i].name, strlen(m->m[i].name)));
}

static void json_file(const char *file, const uint8_t *buf, size_t len,
                      const char *expect)
{
    enum reject_reason why = REJECT__COUNT;
    int rc;

    memset(&msg, 0xa5, sizeof(msg));
    rc = json_decode_reading(buf, len, &msg, &why);
    corpus_walk_check_reason(file, rc, why, expect);
    if (rc == 0) {
        ASSERT_EQ(msg.n, 1);
        names_valid(&msg, true);
    }
}

static void object_file(const char *file, const uint8_t *buf, size_t len,
                        const char *expect)
{
    enum reject_reason why = REJECT__COUNT;
    size_t skipped = 99;
    int rc;

    memset(&msg, 0xa5, sizeof(msg));
    rc = json_decode_object(buf, len, &msg, &skipped, &why);
    corpus_walk_check_reason(file, rc, why, expect);
    if (rc == 0) {
        ASSERT(msg.n >= 1 && msg.n <= CODEC_MAX_METRICS);
        names_valid(&msg, false);
    }
}

static void senml_file(const char *file, const uint8_t *buf, size_t len,
                       const char *expect)
{
    static struct pack p;
    enum reject_reason why = REJECT__COUNT;
    int rc;

    memset(&p, 0, sizeof(p));
    rc = json_decode_senml(buf, len, NOW_MS, &msg, collect, &p, NULL, &why);
    corpus_walk_check_reason(file, rc, why, expect);
    ASSERT(rc == 0 || p.n == 0); /* all or nothing */
    if (rc == 0)
        ASSERT(p.n >= 1);
}

static void json_corpus(void)
{
    ASSERT(corpus_walk("json", json_file) >= 45);
}

static void object_corpus(void)
{
    ASSERT(corpus_walk("object", object_file) >= 18);
}

static void senml_corpus(void)
{
    ASSERT(corpus_walk("senml", senml_file) >= 30);
}

/* ---- Format (a) and (b) -------------------------------------------------- */

static int reading(const char *text, enum reject_reason *why)
{
    return json_decode_reading((const uint8_t *)text, strlen(text), &msg, why);
}

static void reading_fields_are_read(void)
{
    enum reject_reason why;

    ASSERT_EQ(reading("{\"seq\":12,\"ts\":1700000000000,\"value\":21.5}", &why),
              0);
    ASSERT_EQ(why, REJECT_NONE);
    ASSERT(msg.has_seq && msg.seq == 12 && msg.has_ts);
    ASSERT_EQ(msg.ts_ms, 1700000000000LL);
    ASSERT_STREQ(msg.device, "");
    ASSERT_STREQ(msg.m[0].name, ""); /* from the topic */
    ASSERT(msg.m[0].value == 21.5 && msg.m[0].has_value);
    ASSERT_EQ(
        reading("{\"value\":3,\"sensor\":\"t\\u00e9\",\"device\":\"d\"}", &why),
        0);
    ASSERT_STREQ(msg.m[0].name, "t\xc3\xa9");
    ASSERT_STREQ(msg.device, "d");
    ASSERT(!msg.has_seq && !msg.has_ts);
    /* Surrogate pair: U+1F321 in four UTF-8 bytes. */
    ASSERT_EQ(reading("{\"value\":3,\"sensor\":\"\\ud83c\\udf21\"}", &why), 0);
    ASSERT_STREQ(msg.m[0].name, "\xf0\x9f\x8c\xa1");
    /* Fractional ms are floored, negative ones too. */
    ASSERT_EQ(reading("{\"ts\":-1.5,\"value\":0}", &why), 0);
    ASSERT_EQ(msg.ts_ms, -2);
    ASSERT_EQ(reading("{\"seq\":0,\"value\":0}", &why), 0);
    ASSERT(msg.has_seq && msg.seq == 0);
    ASSERT_EQ(reading("{\"seq\":1e3,\"value\":0}", &why), 0);
    ASSERT_EQ(msg.seq, 1000);
    ASSERT_EQ(reading("{\"seq\":9007199254740991,\"value\":0}", &why), 0);
    ASSERT_EQ(msg.seq, 9007199254740991ULL);
}

static void rfc3339_times(void)
{
    enum reject_reason why;
    static const struct {
        const char *ts;
        int64_t ms;
    } ok[] = {
        {"2023-11-14T22:13:20Z", 1700000000000LL},
        {"2023-11-14T22:13:20.123Z", 1700000000123LL},
        {"2023-11-14T22:13:20.1239z", 1700000000123LL},
        {"2023-11-14t23:13:20+01:00", 1700000000000LL},
        {"2023-11-14 17:43:20-04:30", 1700000000000LL},
        {"2024-02-29T00:00:00Z", 1709164800000LL},
        {"1970-01-01T00:00:00Z", 0},
        {"1969-12-31T23:59:59.999Z", -1},
        {"2000-03-01T00:00:00-00:00", 951868800000LL},
    };
    static const char *const bad[] = {
        "2023-02-29T00:00:00Z",
        "2023-13-01T00:00:00Z",
        "2023-11-14T24:00:00Z",
        "2023-11-14T22:13:20",
        "2023-11-14T22:13:20.Z",
        "2023-11-14T22:13:20+0100",
        "2023-11-14",
        "23-11-14T22:13:20Z",
        "2023-11-14T22:13:20Zjunk",
        "2023-11-31T00:00:00Z",
        "2023-11-14T22:60:00Z",
    };
    char text[128];

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        snprintf(text, sizeof(text), "{\"ts\":\"%s\",\"value\":1}", ok[i].ts);
        ASSERT_EQ(reading(text, &why), 0);
        ASSERT(msg.has_ts);
        if (msg.ts_ms != ok[i].ms)
            fprintf(stderr, "%s -> %lld\n", ok[i].ts, (long long)msg.ts_ms);
        ASSERT_EQ(msg.ts_ms, ok[i].ms);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "{\"ts\":\"%s\",\"value\":1}", bad[i]);
        ASSERT_EQ(reading(text, &why), -EBADMSG);
        ASSERT_EQ(why, REJECT_DECODE_ERROR);
    }
}

static void non_finite_values_reach_validation(void)
{
    enum reject_reason why;

    ASSERT_EQ(reading("{\"value\":null}", &why), 0);
    ASSERT(isnan(msg.m[0].value) && msg.m[0].has_value);
    ASSERT_EQ(reading("{\"value\":1e999}", &why), 0);
    ASSERT(isinf(msg.m[0].value) && msg.m[0].value > 0);
    ASSERT_EQ(reading("{\"value\":-1e999}", &why), 0);
    ASSERT(isinf(msg.m[0].value) && msg.m[0].value < 0);
    ASSERT_EQ(reading("{\"value\":1e-999}", &why), 0);
    ASSERT(msg.m[0].value == 0);
    ASSERT_EQ(reading("{\"value\":false}", &why), 0);
    ASSERT(msg.m[0].value == 0);
    ASSERT_EQ(reading("{\"value\":NaN}", &why), -EBADMSG);
    ASSERT_EQ(reading("{\"value\":-Infinity}", &why), -EBADMSG);
    /* The encoders write every non-finite value as null. */
    memset(&msg, 0, sizeof(msg));
    msg.n = 1;
    msg.m[0].has_value = true;
    msg.m[0].value = -INFINITY;
    char out[64];
    ASSERT(json_encode_reading(&msg, 0, out, sizeof(out)) > 0);
    ASSERT_STREQ(out, "{\"value\":null}");
}

static void object_members_are_sorted_out(void)
{
    const char *text = "{\"seq\":12,\"ts\":1700000000000,\"labels\":"
                       "{\"occupancy\":1,\"note\":\"x\"},\"temp\":21.5,"
                       "\"fw\":\"1.2\",\"hum\":40.1,\"on\":true,"
                       "\"gps\":[1,2],\"bad\":null}";
    enum reject_reason why;
    size_t skipped = 0;

    ASSERT_EQ(json_decode_object((const uint8_t *)text, strlen(text), &msg,
                                 &skipped, &why),
              0);
    ASSERT(msg.has_seq && msg.seq == 12 && msg.ts_ms == 1700000000000LL);
    ASSERT_EQ(skipped, 3); /* fw, gps, labels.note */
    ASSERT_EQ(msg.n, 5);
    ASSERT_STREQ(msg.m[0].name, "temp");
    ASSERT(msg.m[0].value == 21.5 && !msg.m[0].is_label);
    ASSERT_STREQ(msg.m[1].name, "hum");
    ASSERT_STREQ(msg.m[2].name, "on");
    ASSERT(msg.m[2].value == 1.0);
    ASSERT_STREQ(msg.m[3].name, "bad");
    ASSERT(isnan(msg.m[3].value));
    ASSERT_STREQ(msg.m[4].name, "occupancy"); /* labels last */
    ASSERT(msg.m[4].is_label && msg.m[4].value == 1.0);
}

/* ---- SenML: RFC 8428 section 5 ------------------------------------------- */

static void rfc8428_single_and_multiple_datapoints(void)
{
    static struct pack p;
    enum reject_reason why;
    size_t skipped = 99;

    ASSERT_EQ(senml("[{\"n\":\"urn:dev:ow:10e2073a01080063\",\"u\":\"Cel\","
                    "\"v\":23.1}]",
                    &p, &skipped, &why),
              0);
    ASSERT_EQ(p.n, 1);
    ASSERT_EQ(skipped, 0);
    ASSERT_STREQ(p.r[0].device, "urn:dev:ow"); /* split at the last ':' */
    ASSERT_STREQ(p.r[0].sensor, "10e2073a01080063");
    ASSERT(p.r[0].value == 23.1 && !p.r[0].has_ts);
    ASSERT_EQ(senml("[{\"bn\":\"urn:dev:ow:10e2073a01080063:\",\"n\":"
                    "\"voltage\",\"u\":\"V\",\"v\":120.1},{\"n\":\"current\","
                    "\"u\":\"A\",\"v\":1.2}]",
                    &p, &skipped, &why),
              0);
    ASSERT_EQ(p.n, 2);
    ASSERT_EQ(p.groups, 1); /* same device, no time: one message */
    ASSERT_STREQ(p.r[0].device, "urn:dev:ow:10e2073a01080063");
    ASSERT_STREQ(p.r[0].sensor, "voltage");
    ASSERT_STREQ(p.r[1].sensor, "current");
    ASSERT(p.r[1].value == 1.2);
}

static const char rfc_5_1_2b[] =
    "[{\"bn\":\"urn:dev:ow:10e2073a0108006:\",\"bt\":1.276020076001e+09,"
    "\"bu\":\"A\",\"bver\":5,\"n\":\"voltage\",\"u\":\"V\",\"v\":120.1},"
    "{\"n\":\"current\",\"t\":-5,\"v\":1.2},"
    "{\"n\":\"current\",\"t\":-4,\"v\":1.3},"
    "{\"n\":\"current\",\"t\":-3,\"v\":1.4},"
    "{\"n\":\"current\",\"t\":-2,\"v\":1.5},"
    "{\"n\":\"current\",\"t\":-1,\"v\":1.6},"
    "{\"n\":\"current\",\"v\":1.7}]";

static const char rfc_5_1_4[] =
    "[{\"n\":\"urn:dev:ow:10e2073a0108006:voltage\",\"u\":\"V\",\"v\":120.1,"
    "\"t\":1.276020076001e+09},"
    "{\"n\":\"urn:dev:ow:10e2073a0108006:current\",\"u\":\"A\",\"v\":1.2,"
    "\"t\":1.276020071001e+09},"
    "{\"n\":\"urn:dev:ow:10e2073a0108006:current\",\"u\":\"A\",\"v\":1.3,"
    "\"t\":1.276020072001e+09},"
    "{\"n\":\"urn:dev:ow:10e2073a0108006:current\",\"u\":\"A\",\"v\":1.4,"
    "\"t\":1.276020073001e+09},"
    "{\"n\":\"urn:dev:ow:10e2073a0108006:current\",\"u\":\"A\",\"v\":1.5,"
    "\"t\":1.276020074001e+09},"
    "{\"n\":\"urn:dev:ow:10e2073a0108006:current\",\"u\":\"A\",\"v\":1.6,"
    "\"t\":1.276020075001e+09},"
    "{\"n\":\"urn:dev:ow:10e2073a0108006:current\",\"u\":\"A\",\"v\":1.7,"
    "\"t\":1.276020076001e+09}]";

/* RFC 8428 5.1.4 is, by the RFC's own words, 5.1.2's second pack resolved:
 * both must decode to the same readings. */
static void rfc8428_packed_equals_resolved(void)
{
    static struct pack a;
    static struct pack b;
    static const double v[] = {120.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7};
    static const int64_t ts[] = {
        1276020076001LL, 1276020071001LL, 1276020072001LL, 1276020073001LL,
        1276020074001LL, 1276020075001LL, 1276020076001LL};
    enum reject_reason why;

    ASSERT_EQ(senml(rfc_5_1_2b, &a, NULL, &why), 0);
    ASSERT_EQ(senml(rfc_5_1_4, &b, NULL, &why), 0);
    ASSERT_EQ(a.n, 7);
    ASSERT_EQ(b.n, 7);
    ASSERT_EQ(a.groups, 7); /* every record has its own time */
    for (size_t i = 0; i < 7; i++) {
        ASSERT_STREQ(a.r[i].device, "urn:dev:ow:10e2073a0108006");
        ASSERT_STREQ(a.r[i].sensor, i == 0 ? "voltage" : "current");
        ASSERT(a.r[i].value == v[i] && a.r[i].has_ts);
        ASSERT_EQ(a.r[i].ts_ms, ts[i]);
        ASSERT_STREQ(a.r[i].device, b.r[i].device);
        ASSERT_STREQ(a.r[i].sensor, b.r[i].sensor);
        ASSERT(a.r[i].value == b.r[i].value);
        ASSERT_EQ(a.r[i].ts_ms, b.r[i].ts_ms);
        ASSERT_EQ(a.r[i].group, b.r[i].group);
    }
}

static void rfc8428_units_name_unnamed_records(void)
{
    static struct pack p;
    static const char *const sensors[] = {"%RH", "lon", "lat", "%RH", "lon",
                                          "lat", "%RH", "lon", "lat", "%EL",
                                          "%RH", "lon", "lat"};
    static const int t[] = {0,   0,   0,   60,  60,  60, 120,
                            120, 120, 150, 180, 180, 180};
    enum reject_reason why;
    const char *text =
        "[{\"bn\":\"urn:dev:ow:10e2073a01080063\",\"bt\":1.320067464e+09,"
        "\"bu\":\"%RH\",\"v\":20},{\"u\":\"lon\",\"v\":24.30621},"
        "{\"u\":\"lat\",\"v\":60.07965},{\"t\":60,\"v\":20.3},"
        "{\"u\":\"lon\",\"t\":60,\"v\":24.30622},"
        "{\"u\":\"lat\",\"t\":60,\"v\":60.07965},{\"t\":120,\"v\":20.7},"
        "{\"u\":\"lon\",\"t\":120,\"v\":24.30623},"
        "{\"u\":\"lat\",\"t\":120,\"v\":60.07966},"
        "{\"u\":\"%EL\",\"t\":150,\"v\":98},{\"t\":180,\"v\":21.2},"
        "{\"u\":\"lon\",\"t\":180,\"v\":24.30628},"
        "{\"u\":\"lat\",\"t\":180,\"v\":60.07967}]";

    ASSERT_EQ(senml(text, &p, NULL, &why), 0);
    ASSERT_EQ(p.n, 13);
    ASSERT_EQ(p.groups, 5); /* t = 0, 60, 120, 150, 180 */
    for (size_t i = 0; i < 13; i++) {
        ASSERT_STREQ(p.r[i].device, "urn:dev:ow:10e2073a01080063");
        ASSERT_STREQ(p.r[i].sensor, sensors[i]);
        ASSERT_EQ(p.r[i].ts_ms, 1320067464000LL + t[i] * 1000LL);
    }
    ASSERT(p.r[9].value == 98);
}

static void rfc8428_data_types_and_collections(void)
{
    static struct pack p;
    enum reject_reason why;
    size_t skipped = 0;

    ASSERT_EQ(senml("[{\"bn\":\"urn:dev:ow:10e2073a01080063:\",\"n\":\"temp\","
                    "\"u\":\"Cel\",\"v\":23.1},{\"n\":\"label\",\"vs\":"
                    "\"Machine Room\"},{\"n\":\"open\",\"vb\":false},"
                    "{\"n\":\"nfc-reader\",\"vd\":\"aGkgCg\"}]",
                    &p, &skipped, &why),
              0);
    ASSERT_EQ(skipped, 2); /* vs and vd carry no number */
    ASSERT_EQ(p.n, 2);
    ASSERT_STREQ(p.r[0].sensor, "temp");
    ASSERT_STREQ(p.r[1].sensor, "open");
    ASSERT(p.r[1].value == 0.0);
    ASSERT_EQ(senml("[{\"bn\":\"2001:db8::2/\",\"bt\":1.320078429e+09,"
                    "\"n\":\"temperature\",\"u\":\"Cel\",\"v\":27.2},"
                    "{\"n\":\"humidity\",\"u\":\"%RH\",\"v\":80}]",
                    &p, &skipped, &why),
              0);
    ASSERT_EQ(p.groups, 1);
    ASSERT_STREQ(p.r[0].device, "2001:db8::2");
    ASSERT_STREQ(p.r[1].sensor, "humidity");
    ASSERT_EQ(p.r[1].ts_ms, 1320078429000LL); /* bt applies to both */
}

static void senml_relative_times_and_base_values(void)
{
    static struct pack p;
    enum reject_reason why;

    ASSERT_EQ(senml("[{\"n\":\"a\",\"v\":1,\"t\":-5},{\"n\":\"a\",\"v\":2},"
                    "{\"bt\":10,\"n\":\"a\",\"v\":3,\"t\":-10},"
                    "{\"n\":\"a\",\"v\":4,\"t\":2.5}]",
                    &p, NULL, &why),
              0);
    ASSERT_EQ(p.n, 4);
    ASSERT(p.r[0].has_ts && p.r[0].ts_ms == NOW_MS - 5000);
    ASSERT(!p.r[1].has_ts); /* no time: the receiver's */
    ASSERT(!p.r[2].has_ts); /* bt + t == 0 is "now" */
    ASSERT(p.r[3].has_ts && p.r[3].ts_ms == NOW_MS + 12500);
    ASSERT_STREQ(p.r[0].device, "");
    ASSERT_EQ(senml("[{\"bn\":\"d:\",\"bv\":100,\"n\":\"a\",\"v\":1},"
                    "{\"n\":\"b\",\"v\":-1},{\"bn\":\"e/\",\"bv\":0,\"n\":"
                    "\"c\",\"v\":5,\"weir_label\":true},{\"n\":\"x\","
                    "\"vb\":true}]",
                    &p, NULL, &why),
              0);
    ASSERT(p.r[0].value == 101 && p.r[1].value == 99);
    ASSERT_EQ(p.groups, 2); /* devices d and e */
    /* c and x share device e and (no) time: the label c goes last. */
    ASSERT_STREQ(p.r[2].sensor, "x");
    ASSERT(p.r[2].value == 1.0 && !p.r[2].is_label);
    ASSERT_STREQ(p.r[3].device, "e");
    ASSERT(p.r[3].is_label && p.r[3].value == 5);
    /* Within a group, labels come after metrics. */
    ASSERT_EQ(senml("[{\"n\":\"l\",\"v\":1,\"weir_label\":true},"
                    "{\"n\":\"m\",\"v\":2}]",
                    &p, NULL, &why),
              0);
    ASSERT_EQ(p.groups, 1);
    ASSERT_STREQ(p.r[0].sensor, "m");
    ASSERT_STREQ(p.r[1].sensor, "l");
}

static void senml_callback_can_stop(void)
{
    static struct pack p;
    enum reject_reason why;

    memset(&p, 0, sizeof(p));
    p.stop_after = 2;
    ASSERT_EQ(json_decode_senml((const uint8_t *)rfc_5_1_2b, strlen(rfc_5_1_2b),
                                NOW_MS, &msg, collect, &p, NULL, &why),
              7);
    ASSERT_EQ(p.groups, 2);
    ASSERT_EQ(why, REJECT_NONE);
}

/* ---- Limits -------------------------------------------------------------- */

static void payload_size_is_limited_before_parsing(void)
{
    size_t big = 1 << 20;
    char *p = malloc(big);
    size_t skipped;
    enum reject_reason why;

    ASSERT(p != NULL);
    /* Valid JSON padded with whitespace: too large at 1 MB ... */
    memset(p, ' ', big);
    memcpy(p, "{\"value\":1}", 11);
    ASSERT_EQ(json_decode_reading((uint8_t *)p, big, &msg, &why), -EMSGSIZE);
    ASSERT_EQ(why, REJECT_TOO_LARGE);
    ASSERT_EQ(json_decode_object((uint8_t *)p, big, &msg, &skipped, &why),
              -EMSGSIZE);
    /* ... and at one byte over the limit, but read at the limit. */
    ASSERT_EQ(
        json_decode_reading((uint8_t *)p, CODEC_MAX_PAYLOAD + 1, &msg, &why),
        -EMSGSIZE);
    ASSERT_EQ(json_decode_reading((uint8_t *)p, CODEC_MAX_PAYLOAD, &msg, &why),
              0);
    memcpy(p, "[{\"n\":\"a\",\"v\":1}]", 17);
    ASSERT_EQ(json_decode_senml((uint8_t *)p, big, 0, &msg, collect, NULL, NULL,
                                &why),
              -EMSGSIZE);
    free(p);
}

static void nesting_and_container_limits(void)
{
    char text[4096];
    enum reject_reason why;
    size_t n = 0;

    /* JSON_MAX_DEPTH containers are fine, one more is not. */
    for (int depth = JSON_MAX_DEPTH; depth <= JSON_MAX_DEPTH + 1; depth++) {
        n = (size_t)snprintf(text, sizeof(text), "{\"value\":1,\"x\":");
        for (int i = 1; i < depth; i++)
            text[n++] = '[';
        for (int i = 1; i < depth; i++)
            text[n++] = ']';
        text[n++] = '}';
        text[n] = '\0';
        ASSERT_EQ(reading(text, &why), depth <= JSON_MAX_DEPTH ? 0 : -EBADMSG);
    }
    n = (size_t)snprintf(text, sizeof(text), "{\"value\":1,\"x\":[");
    for (int i = 0; i < JSON_MAX_MEMBERS + 1; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "%s1", i ? "," : "");
    snprintf(text + n, sizeof(text) - n, "]}");
    ASSERT_EQ(reading(text, &why), -EMSGSIZE);
    ASSERT_EQ(why, REJECT_TOO_LARGE);
}

/* ---- Round trips --------------------------------------------------------- */

static void random_name(uint64_t *rng, char *out, bool senml)
{
    static const char plain[] = "abcdefghijklmnopqrstuvwxyz0123456789-_.";
    size_t n = (size_t)(test_rand(rng) % 20) + 1;

    for (size_t i = 0; i < n; i++)
        out[i] = plain[test_rand(rng) % (sizeof(plain) - 1)];
    out[0] = 'a'; /* RFC 8428: a letter or digit first */
    if (!senml && test_rand(rng) % 4 == 0) {
        out[n++] = '"'; /* escaped on the way out */
        out[n++] = '\\';
        memcpy(out + n, "\xc3\xa9", 2);
        n += 2;
    }
    out[n] = '\0';
    if (strcmp(out, "seq") == 0 || strcmp(out, "ts") == 0)
        out[0] = 'z';
}

static double random_value(uint64_t *rng)
{
    uint64_t bits = test_rand(rng);
    double d;

    switch (test_rand(rng) % 4) {
    case 0:
        memcpy(&d, &bits, sizeof(d));
        return isfinite(d) ? d : 0.5;
    case 1:
        return (double)(int64_t)(bits % 2000001) - 1e6;
    default:
        return ((double)(bits % 2000001) - 1e6) / 997.0;
    }
}

static void random_msg(uint64_t *rng, struct codec_msg *m, size_t n, bool senml)
{
    memset(m, 0, sizeof(*m));
    random_name(rng, m->device, senml);
    m->has_seq = !senml && test_rand(rng) % 2;
    m->seq = m->has_seq ? test_rand(rng) % 9007199254740992ULL : 0;
    m->has_ts = test_rand(rng) % 4 != 0;
    m->ts_ms = m->has_ts ? 300000000000LL +
                               (int64_t)(test_rand(rng) % 4000000000000ULL)
                         : 0;
    m->n = n;
    for (size_t i = 0; i < n; i++) {
        snprintf(m->m[i].name, sizeof(m->m[i].name), "%c%zu",
                 "abc"[test_rand(rng) % 3], i);
        m->m[i].value = random_value(rng);
        m->m[i].has_value = true;
        m->m[i].is_label = n > 1 && i >= n - n / 4; /* labels last */
    }
}

static void same_msg(const struct codec_msg *a, const struct codec_msg *b,
                     bool seq)
{
    ASSERT_STREQ(a->device, b->device);
    ASSERT_EQ(a->n, b->n);
    ASSERT_EQ(a->has_ts, b->has_ts);
    ASSERT(!a->has_ts || a->ts_ms == b->ts_ms);
    if (seq) {
        ASSERT_EQ(a->has_seq, b->has_seq);
        ASSERT(!a->has_seq || a->seq == b->seq);
    }
    for (size_t i = 0; i < a->n; i++) {
        ASSERT_STREQ(a->m[i].name, b->m[i].name);
        ASSERT(memcmp(&a->m[i].value, &b->m[i].value, sizeof(double)) == 0);
        ASSERT_EQ(a->m[i].is_label, b->m[i].is_label);
    }
}

static struct codec_msg in, out;

static void reading_and_object_round_trip(void)
{
    static char text[1 << 16];
    uint64_t rng = test_seed() ^ 0x150;
    enum reject_reason why;
    size_t skipped;

    for (int r = 0; r < ROUNDS; r++) {
        size_t len;
        random_msg(&rng, &in, 1, false);
        random_name(&rng, in.m[0].name, false);
        len = json_encode_reading(&in, JSON_ENC_NAMES, text, sizeof(text));
        ASSERT(len > 0 && strlen(text) == len);
        ASSERT_EQ(json_sniff((uint8_t *)text, len), '{');
        ASSERT_EQ(json_decode_reading((uint8_t *)text, len, &out, &why), 0);
        same_msg(&in, &out, true);
        random_msg(&rng, &in, (size_t)(test_rand(&rng) % 40) + 1, false);
        len = json_encode_object(&in, JSON_ENC_NAMES, text, sizeof(text));
        ASSERT(len > 0);
        ASSERT_EQ(
            json_decode_object((uint8_t *)text, len, &out, &skipped, &why), 0);
        ASSERT_EQ(skipped, 0);
        same_msg(&in, &out, true);
    }
}

/* Called on: the test's thread. Copies the one group it gets. */
static int keep(void *ctx, const struct codec_msg *m)
{
    struct codec_msg *dst = ctx;

    ASSERT_EQ(dst->n, 0); /* one group only */
    *dst = *m;
    return 0;
}

static void senml_round_trip(void)
{
    static char text[1 << 16];
    static struct codec_msg scratch;
    uint64_t rng = test_seed() ^ 0x8428;
    enum reject_reason why;

    for (int r = 0; r < ROUNDS; r++) {
        size_t len;
        random_msg(&rng, &in, (size_t)(test_rand(&rng) % 40) + 1, true);
        len = json_encode_senml(&in, text, sizeof(text));
        ASSERT(len > 0);
        ASSERT_EQ(json_sniff((uint8_t *)text, len), '[');
        memset(&out, 0, sizeof(out));
        ASSERT_EQ(json_decode_senml((uint8_t *)text, len, NOW_MS, &scratch,
                                    keep, &out, NULL, &why),
                  0);
        same_msg(&in, &out, false);
    }
}

static void encoders_refuse_what_formats_cannot_say(void)
{
    char text[256];
    size_t len;

    memset(&in, 0, sizeof(in));
    in.n = 1;
    strcpy(in.m[0].name, "temp");
    in.m[0].value = 1.5;
    in.m[0].has_value = true;
    len = json_encode_reading(&in, 0, text, sizeof(text));
    ASSERT_STREQ(text, "{\"value\":1.5}");
    ASSERT_EQ(json_encode_reading(&in, 0, text, len), 0); /* no NUL room */
    ASSERT_EQ(json_encode_reading(&in, 0, text, len + 1), len);
    ASSERT_EQ(json_encode_reading(&in, 0, text, 0), 0);
    in.m[0].has_value = false;
    ASSERT_EQ(json_encode_reading(&in, 0, text, sizeof(text)), 0);
    ASSERT_EQ(json_encode_object(&in, 0, text, sizeof(text)), 0);
    in.m[0].has_value = true;
    strcpy(in.m[0].name, "seq"); /* would be read as the header */
    ASSERT_EQ(json_encode_object(&in, 0, text, sizeof(text)), 0);
    strcpy(in.m[0].name, "a:b"); /* would split differently */
    ASSERT_EQ(json_encode_senml(&in, text, sizeof(text)), 0);
    strcpy(in.m[0].name, "temp");
    in.has_ts = true;
    in.ts_ms = 1000; /* 1 s after the epoch: SenML reads it as relative */
    ASSERT_EQ(json_encode_senml(&in, text, sizeof(text)), 0);
    in.ts_ms = 1700000000123LL;
    strcpy(in.device, "gw");
    ASSERT(json_encode_senml(&in, text, sizeof(text)) > 0);
    ASSERT_STREQ(text, "[{\"bn\":\"gw:\",\"bt\":1700000000.123,\"n\":\"temp\","
                       "\"v\":1.5}]");
}

static void sniff_tells_formats_apart(void)
{
    ASSERT_EQ(json_sniff((const uint8_t *)"{}", 2), '{');
    ASSERT_EQ(json_sniff((const uint8_t *)" \r\n\t[1]", 7), '[');
    ASSERT_EQ(json_sniff((const uint8_t *)"\x12\x04temp", 6), 0);
    ASSERT_EQ(json_sniff((const uint8_t *)"   ", 3), 0);
    ASSERT_EQ(json_sniff(NULL, 0), 0);
}

/* ---- Threads ----------------------------------------------------------------
 */

/* Called on: a worker thread, from json_decode_senml(). */
static int count_group(void *ctx, const struct codec_msg *m)
{
    *(size_t *)ctx += m->n;
    return 0;
}

/* Runs on: its own thread. Decodes with private scratch. */
static void *json_worker(void *arg)
{
    struct codec_msg *m = calloc(1, sizeof(*m));
    enum reject_reason why;
    char text[128];

    ASSERT(m != NULL);
    for (int r = 0; r < ROUNDS; r++) {
        size_t n = 0;
        int len = snprintf(text, sizeof(text),
                           "{\"seq\":%d,\"value\":%d,\"sensor\":\"s%d\"}", r, r,
                           (int)(uintptr_t)arg);
        ASSERT_EQ(json_decode_reading((uint8_t *)text, (size_t)len, m, &why),
                  0);
        ASSERT(m->seq == (uint64_t)r && m->m[0].value == r);
        len = snprintf(text, sizeof(text), "[{\"n\":\"a\",\"v\":%d}]", r);
        ASSERT_EQ(json_decode_senml((uint8_t *)text, (size_t)len, 0, m,
                                    count_group, &n, NULL, &why),
                  0);
        ASSERT_EQ(n, 1);
    }
    free(m);
    return NULL;
}

/* No state is shared between calls (cJSON's own error-position write
 * aside, see json.h): two threads at once are fine. */
static void decoders_run_concurrently(void)
{
    pthread_t t[2];

    for (uintptr_t i = 0; i < 2; i++)
        ASSERT_EQ(pthread_create(&t[i], NULL, json_worker, (void *)i), 0);
    for (int i = 0; i < 2; i++)
        ASSERT_EQ(pthread_join(t[i], NULL), 0);
}

static const struct test tests[] = {
    {"json_corpus", json_corpus},
    {"object_corpus", object_corpus},
    {"senml_corpus", senml_corpus},
    {"reading_fields_are_read", reading_fields_are_read},
    {"rfc3339_times", rfc3339_times},
    {"non_finite_values_reach_validation", non_finite_values_reach_validation},
    {"object_members_are_sorted_out", object_members_are_sorted_out},
    {"rfc8428_single_and_multiple_datapoints",
     rfc8428_single_and_multiple_datapoints},
    {"rfc8428_packed_equals_resolved", rfc8428_packed_equals_resolved},
    {"rfc8428_units_name_unnamed_records", rfc8428_units_name_unnamed_records},
    {"rfc8428_data_types_and_collections", rfc8428_data_types_and_collections},
    {"senml_relative_times_and_base_values",
     senml_relative_times_and_base_values},
    {"senml_callback_can_stop", senml_callback_can_stop},
    {"payload_size_is_limited_before_parsing",
     payload_size_is_limited_before_parsing},
    {"nesting_and_container_limits", nesting_and_container_limits},
    {"reading_and_object_round_trip", reading_and_object_round_trip},
    {"senml_round_trip", senml_round_trip},
    {"encoders_refuse_what_formats_cannot_say",
     encoders_refuse_what_formats_cannot_say},
    {"sniff_tells_formats_apart", sniff_tells_formats_apart},
    {"decoders_run_concurrently", decoders_run_concurrently},
    {NULL, NULL}};

int main(int argc, char **argv)
{
    return test_main(argc, argv, tests);
}
