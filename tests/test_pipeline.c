/* test_pipeline.c -- the daemon's core without a broker: topic templates,
 * the decoder (names from topic and payload, meta records), the pipeline's
 * exact accounting and dead letters, determinism across batchings, a
 * checkpoint resumed into a fresh pipeline, anomaly events, and replay of
 * a capture and a CSV file.
 * Threads: single-threaded. */
#include "ingest/checkpoint.h"
#include "ingest/decoder.h"
#include "ingest/pipeline.h"
#include "ingest/replay.h"
#include "ingest/topic.h"
#include "tests/harness.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/codec.h"

/* ---- A sink that remembers what the core emitted ----------------------- */

#define SINK_MAX 16384

struct sink_item {
    enum publish_kind kind;
    char task[64];
    char device[64];
    char reason[32];
    uint8_t *payload;
    size_t len;
    uint64_t version;
};

struct sink {
    struct sink_item it[SINK_MAX];
    size_t n;
    size_t per_kind[PUBLISH_KINDS];
    size_t per_reason[REJECT__COUNT];
};

static void sink_emit(void *ctx, const struct publish_msg *m)
{
    struct sink *s = ctx;
    struct sink_item *it;
    int r;

    s->per_kind[m->kind]++;
    if (m->kind == PUBLISH_REJECT)
        for (r = 0; r < REJECT__COUNT; r++)
            if (strcmp(reject_name((enum reject_reason)r), m->reason) == 0)
                s->per_reason[r]++;
    if (s->n == SINK_MAX)
        return;
    it = &s->it[s->n++];
    it->kind = m->kind;
    snprintf(it->task, sizeof(it->task), "%s", m->task ? m->task : "");
    snprintf(it->device, sizeof(it->device), "%s", m->device ? m->device : "");
    snprintf(it->reason, sizeof(it->reason), "%s", m->reason ? m->reason : "");
    it->payload = malloc(m->len + 1);
    ASSERT(it->payload != NULL);
    memcpy(it->payload, m->payload, m->len);
    it->payload[m->len] = 0;
    it->len = m->len;
    it->version = m->version;
}

static void sink_free(struct sink *s)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        free(s->it[i].payload);
    free(s);
}

static struct sink *sink_new(void)
{
    struct sink *s = calloc(1, sizeof(*s));

    ASSERT(s != NULL);
    return s;
}

/* The last snapshot emitted for task, or NULL. */
static const struct sink_item *last_snapshot(const struct sink *s)
{
    size_t i;

    for (i = s->n; i-- > 0;)
        if (s->it[i].kind == PUBLISH_SNAPSHOT)
            return &s->it[i];
    return NULL;
}

/* ---- A small world: devices d0..d2 send temp, hum and the label occ ---- */

struct world {
    struct intern *devices;
    struct intern *sensors;
    struct decoder *dec;
    struct pipeline *pl;
    struct sink *sink;
};

static const char *const feats[] = {"temp", "hum"};

/* temp_rate: the temp rule's max_rate_per_s (INFINITY: none). */
static void world_open_rated(struct world *w, const struct task_config *task,
                             size_t ntasks, bool import, const uint8_t *dev_img,
                             size_t dev_len, const uint8_t *sen_img,
                             size_t sen_len, double temp_rate)
{
    struct decoder_sub subs[2];
    struct pipeline_config pc;
    struct pipeline_rule rule;
    struct task_config tc;
    char err[256] = "";

    memset(w, 0, sizeof(*w));
    w->sink = sink_new();
    ASSERT_EQ(intern_new(&w->devices, 64), 0);
    ASSERT_EQ(intern_new(&w->sensors, 64), 0);
    if (import) {
        ASSERT_EQ(intern_import(w->devices, dev_img, dev_len), 0);
        ASSERT_EQ(intern_import(w->sensors, sen_img, sen_len), 0);
    }
    ASSERT_EQ(topic_template_parse("sensors/{device}/{sensor}", &subs[0].tpl,
                                   NULL, 0),
              0);
    subs[0].format = DECODER_AUTO;
    ASSERT_EQ(topic_template_parse("sensors/{device}", &subs[1].tpl, NULL, 0),
              0);
    subs[1].format = DECODER_AUTO;
    ASSERT_EQ(decoder_new(&w->dec, subs, 2, w->devices, w->sensors), 0);

    memset(&tc, 0, sizeof(tc));
    tc.name = "occ";
    tc.kind = TASK_BINARY;
    tc.target = "occ";
    tc.features = feats;
    tc.nfeatures = 2;
    tc.window_rows = 40;
    tc.test_fraction = -1;
    memset(&rule, 0, sizeof(rule));
    rule.sensor = "temp";
    rule.rule = validate_rule_any();
    rule.rule.min = -40;
    rule.rule.max = 85;
    rule.rule.max_rate_per_s = temp_rate;
    memset(&pc, 0, sizeof(pc));
    pc.devices = w->devices;
    pc.sensors = w->sensors;
    pc.dedup = dedup_config_default(64);
    pc.validate = validate_config_default(64, 64);
    pc.validate.max_age_ms = INT64_MAX;
    pc.rules = &rule;
    pc.nrules = 1;
    pc.tasks = task != NULL ? task : &tc;
    pc.ntasks = task != NULL ? ntasks : 1;
    pc.dead_letter_mask = ~(1u << REJECT_DUPLICATE);
    pc.emit = sink_emit;
    pc.ctx = w->sink;
    if (pipeline_new(&w->pl, &pc, err, sizeof(err)) != 0) {
        fprintf(stderr, "pipeline_new: %s\n", err);
        ASSERT(0);
    }
}

static void world_open_task(struct world *w, const struct task_config *task,
                            bool import, const uint8_t *dev_img, size_t dev_len,
                            const uint8_t *sen_img, size_t sen_len)
{
    world_open_rated(w, task, 1, import, dev_img, dev_len, sen_img, sen_len,
                     INFINITY);
}

static void world_open(struct world *w, bool import, const uint8_t *dev_img,
                       size_t dev_len, const uint8_t *sen_img, size_t sen_len)
{
    world_open_task(w, NULL, import, dev_img, dev_len, sen_img, sen_len);
}

static void world_close(struct world *w)
{
    pipeline_free(w->pl);
    decoder_free(w->dec);
    intern_free(w->sensors);
    intern_free(w->devices);
    sink_free(w->sink);
}

/* Message k of the stream: device k % 3, seq k / 3, a reading of temp and
 * hum and the label occ, which follows a noisy rule of the two. */
static size_t make_batch(uint64_t k, double temp_override, uint8_t *buf,
                         size_t cap, char *topic, size_t tcap)
{
    struct codec_msg m;
    uint64_t rng = k * 7919 + 1;
    double temp = 18 + (double)(test_rand(&rng) % 1000) / 100.0;
    double hum = 30 + (double)(test_rand(&rng) % 4000) / 100.0;
    double noise = (double)(test_rand(&rng) % 100) / 100.0;

    memset(&m, 0, sizeof(m));
    snprintf(m.device, sizeof(m.device), "d%u", (unsigned)(k % 3));
    m.has_seq = m.has_ts = true;
    m.seq = k / 3;
    m.ts_ms = 1700000000000 + (int64_t)k * 1000;
    snprintf(m.m[0].name, sizeof(m.m[0].name), "temp");
    m.m[0].value = isnan(temp_override) ? temp : temp_override;
    m.m[0].has_value = true;
    snprintf(m.m[1].name, sizeof(m.m[1].name), "hum");
    m.m[1].value = hum;
    m.m[1].has_value = true;
    snprintf(m.m[2].name, sizeof(m.m[2].name), "occ");
    m.m[2].value = (temp - 18) / 10 + 0.3 * noise > 0.6 ? 1 : 0;
    m.m[2].has_value = true;
    m.m[2].is_label = true;
    m.n = 3;
    snprintf(topic, tcap, "sensors/%s", m.device);
    return codec_encode_batch(&m, buf, cap);
}

static void feed(struct world *w, const char *topic, const uint8_t *p,
                 size_t len, int64_t recv_ms, uint64_t lsn)
{
    struct decoder_input in;

    in.topic = topic;
    in.topic_len = strlen(topic);
    in.payload = p;
    in.len = len;
    in.qos = 1;
    in.recv_ms = recv_ms;
    in.lsn = lsn;
    replay_feed(w->dec, w->pl, &in, NULL);
}

static void feed_clean(struct world *w, uint64_t from, uint64_t to)
{
    uint8_t buf[1024];
    char topic[96];
    uint64_t k;

    for (k = from; k < to; k++) {
        size_t n = make_batch(k, NAN, buf, sizeof(buf), topic, sizeof(topic));
        ASSERT(n > 0);
        feed(w, topic, buf, n, 1700000000000 + (int64_t)k * 1000 + 5, k + 1);
    }
}

/* ---- Topic templates --------------------------------------------------- */

static void topic_templates_match_and_render(void)
{
    struct topic_template t;
    struct topic_match m;
    const char *keys[2] = {"task", "device"};
    const char *vals[2] = {"occ", "room-1"};
    char buf[64];
    char err[128];

    ASSERT_EQ(
        topic_template_parse("sensors/{device}/{sensor}", &t, err, sizeof(err)),
        0);
    ASSERT_STREQ(t.filter, "sensors/+/+");
    ASSERT(topic_template_match(&t, "sensors/d1/temp", 15, &m));
    ASSERT_EQ(m.device_len, 2);
    ASSERT(memcmp(m.device, "d1", 2) == 0);
    ASSERT_EQ(m.sensor_len, 4);
    ASSERT(memcmp(m.sensor, "temp", 4) == 0);
    ASSERT(!topic_template_match(&t, "sensors/d1", 10, NULL));
    ASSERT(!topic_template_match(&t, "sensors/d1/temp/x", 17, NULL));
    ASSERT(!topic_template_match(&t, "other/d1/temp", 13, NULL));
    ASSERT(!topic_template_match(&t, "sensors//temp", 13, NULL));
    ASSERT_EQ(topic_template_parse("a/#", &t, NULL, 0), 0);
    ASSERT(topic_template_match(&t, "a", 1, NULL));
    ASSERT(topic_template_match(&t, "a/b/c", 5, NULL));
    ASSERT(!topic_template_match(&t, "b/c", 3, NULL));
    ASSERT_EQ(topic_template_parse("+/x/{site}", &t, NULL, 0), 0);
    ASSERT_STREQ(t.filter, "+/x/+");
    ASSERT(!topic_template_match(&t, "$SYS/x/y", 8, NULL));
    ASSERT(topic_template_match(&t, "s/x/y", 5, NULL));
    ASSERT_EQ(topic_template_parse("a/#/b", &t, err, sizeof(err)), -EINVAL);
    ASSERT_EQ(topic_template_parse("a{device}", &t, NULL, 0), -EINVAL);
    ASSERT_EQ(topic_template_parse("{device}/{device}", &t, NULL, 0), -EINVAL);
    ASSERT_EQ(topic_template_parse("a/b+", &t, NULL, 0), -EINVAL);
    ASSERT_EQ(topic_template_parse("", &t, NULL, 0), -EINVAL);
    ASSERT_EQ(topic_render("weir/pred/{task}/{device}/{x}", keys, vals, 2, buf,
                           sizeof(buf)),
              strlen("weir/pred/occ/room-1/{x}"));
    ASSERT_STREQ(buf, "weir/pred/occ/room-1/{x}");
    ASSERT_EQ(topic_render("abcdef", keys, vals, 2, buf, 4), 6);
    ASSERT_STREQ(buf, "abc");
}

/* ---- Decoder ----------------------------------------------------------- */

static size_t reading_payload(const char *dev, const char *sensor, double value,
                              bool ts, uint8_t *buf, size_t cap)
{
    struct codec_msg m;

    memset(&m, 0, sizeof(m));
    snprintf(m.device, sizeof(m.device), "%s", dev);
    m.has_seq = true;
    m.seq = 9;
    m.has_ts = ts;
    m.ts_ms = 1234;
    snprintf(m.m[0].name, sizeof(m.m[0].name), "%s", sensor);
    m.m[0].value = value;
    m.m[0].has_value = true;
    m.n = 1;
    return codec_encode_reading(&m, buf, cap);
}

static size_t decode(struct world *w, const char *topic, const uint8_t *p,
                     size_t len, int qos, struct reading *out,
                     enum reject_reason *why)
{
    struct decoder_input in = {topic, strlen(topic), p, len, qos, 5000, 77};

    return decoder_decode(w->dec, &in, out, why);
}

static void decoder_names_from_topic_and_payload(void)
{
    struct reading r[DECODER_MAX_RECORDS];
    enum reject_reason why;
    struct world w;
    uint8_t buf[256];
    char topic[96];
    uint32_t id;
    size_t n;

    world_open(&w, false, NULL, 0, NULL, 0);
    /* A Reading without its sensor takes the topic's. */
    n = reading_payload("", "", 21.5, false, buf, sizeof(buf));
    ASSERT(n > 0);
    ASSERT_EQ(decode(&w, "sensors/d7/temp", buf, n, 0, r, &why), 2);
    ASSERT_EQ(why, REJECT_NONE);
    ASSERT(r[0].flags & DECODER_META);
    ASSERT_EQ(r[0].nrec, 1);
    ASSERT_EQ(r[0].lsn, 77);
    ASSERT_EQ(r[0].ts_ms, 5000);
    ASSERT_EQ(decoder_meta_qos(&r[0]), 0);
    ASSERT_EQ(decoder_meta_format(&r[0]), DECODER_PB_READING);
    ASSERT(intern_find(w.devices, "d7", 2, &id));
    ASSERT_EQ(r[1].device_id, id);
    ASSERT(intern_find(w.sensors, "temp", 4, &id));
    ASSERT_EQ(r[1].sensor_id, id);
    ASSERT_EQ(r[1].value, 21.5);
    ASSERT_EQ(r[1].ts_ms, 5000); /* no device time: the receive time */
    ASSERT(!(r[1].flags & READING_HAS_TS));
    ASSERT(r[1].flags & READING_HAS_SEQ);
    ASSERT(r[1].flags & READING_MSG_FIRST);
    ASSERT(r[1].flags & READING_QOS0);
    ASSERT_EQ(r[1].nrec, 1);
    /* Payload names agreeing with the topic are fine, disagreeing not. */
    n = reading_payload("d7", "temp", 1, true, buf, sizeof(buf));
    ASSERT_EQ(decode(&w, "sensors/d7/temp", buf, n, 1, r, &why), 2);
    ASSERT_EQ(why, REJECT_NONE);
    ASSERT(r[1].flags & READING_HAS_TS);
    ASSERT_EQ(r[1].ts_ms, 1234);
    ASSERT(!(r[1].flags & READING_QOS0));
    n = reading_payload("d8", "temp", 1, true, buf, sizeof(buf));
    ASSERT_EQ(decode(&w, "sensors/d7/temp", buf, n, 1, r, &why), 1);
    ASSERT_EQ(why, REJECT_BAD_NAME);
    ASSERT_EQ(decoder_meta_reason(&r[0]), REJECT_BAD_NAME);
    ASSERT_EQ(r[0].nrec, 0);
    n = reading_payload("d7", "hum", 1, true, buf, sizeof(buf));
    ASSERT_EQ(decode(&w, "sensors/d7/temp", buf, n, 1, r, &why), 1);
    ASSERT_EQ(why, REJECT_BAD_NAME);
    /* A batch: one record per metric, labels flagged. */
    n = make_batch(4, NAN, buf, sizeof(buf), topic, sizeof(topic));
    ASSERT_EQ(decode(&w, topic, buf, n, 1, r, &why), 4);
    ASSERT_EQ(why, REJECT_NONE);
    ASSERT_EQ(decoder_meta_format(&r[0]), DECODER_PB_BATCH);
    ASSERT_EQ(r[1].nrec, 3);
    ASSERT(!(r[2].flags & READING_MSG_FIRST));
    ASSERT(r[3].flags & READING_LABEL);
    /* Garbage, and a topic no template matches (an old filter of the
     * session, or an empty {device} level). */
    memcpy(buf, "\x0a\xff\xff", 3);
    ASSERT_EQ(decode(&w, "sensors/d1", buf, 3, 1, r, &why), 1);
    ASSERT_EQ(why, REJECT_DECODE_ERROR);
    ASSERT_EQ(decode(&w, "elsewhere/d1", buf, n, 1, r, &why), 1);
    ASSERT_EQ(why, REJECT_UNKNOWN_TOPIC);
    ASSERT_EQ(decoder_meta_reason(&r[0]), REJECT_UNKNOWN_TOPIC);
    ASSERT_EQ(r[0].device_id, UINT32_MAX);
    ASSERT_EQ(decode(&w, "sensors//temp", buf, n, 1, r, &why), 1);
    ASSERT_EQ(why, REJECT_UNKNOWN_TOPIC);
    /* A Reading without its sensor needs a {sensor} topic; a payload
     * sensor present but empty is a bad name, not an absent one. */
    {
        struct decoder_sub sub;
        struct decoder *dec;
        struct decoder_input in = {"readings/d7", 11, buf, 0, 1, 5000, 78};
        ASSERT_EQ(topic_template_parse("readings/{device}", &sub.tpl, NULL, 0),
                  0);
        sub.format = DECODER_PB_READING;
        ASSERT_EQ(decoder_new(&dec, &sub, 1, w.devices, w.sensors), 0);
        in.len = reading_payload("d7", "", 1, true, buf, sizeof(buf));
        ASSERT_EQ(decoder_decode(dec, &in, r, &why), 1);
        ASSERT_EQ(why, REJECT_MISSING_FIELD);
        in.len = reading_payload("d7", "hum", 1, true, buf, sizeof(buf));
        ASSERT_EQ(decoder_decode(dec, &in, r, &why), 2);
        ASSERT_EQ(why, REJECT_NONE);
        ASSERT(intern_find(w.sensors, "hum", 3, &id) && r[1].sensor_id == id);
        decoder_free(dec);
    }
    {
        static const uint8_t empty_sensor[] = {
            0x12, 0x00, 0x29, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f}; /* 1.0 */
        ASSERT_EQ(decode(&w, "sensors/d7/temp", empty_sensor,
                         sizeof(empty_sensor), 1, r, &why),
                  1);
        ASSERT_EQ(why, REJECT_BAD_NAME);
        ASSERT_EQ(decode(&w, "sensors/d7/temp", empty_sensor + 2,
                         sizeof(empty_sensor) - 2, 1, r, &why),
                  2);
        ASSERT_EQ(why, REJECT_NONE);
        ASSERT_EQ(r[1].value, 1.0);
    }
    world_close(&w);
}

/* ---- Pipeline accounting ----------------------------------------------- */

/* 300 messages; every 10th is sent twice (a duplicate), every 17th
 * replaced by garbage, every 23rd has temp = NaN, every 29th temp = 500
 * (out of range). Counters and dead letters must match exactly. */
static void pipeline_counts_every_outcome(void)
{
    struct pipeline_stats st;
    struct world w;
    uint8_t buf[1024];
    char topic[96];
    uint64_t k, lsn = 0;
    uint64_t dups = 0, bad = 0, nans = 0, big = 0, good = 0;

    world_open(&w, false, NULL, 0, NULL, 0);
    for (k = 0; k < 300; k++) {
        double t = NAN;
        size_t n;
        int64_t now = 1700000000000 + (int64_t)k * 1000;
        if (k % 17 == 5) {
            memcpy(buf, "\xff\x01garbage", 9);
            snprintf(topic, sizeof(topic), "sensors/d%u", (unsigned)(k % 3));
            feed(&w, topic, buf, 9, now, ++lsn);
            bad++;
            continue;
        }
        if (k % 29 == 7)
            t = 500, big++;
        n = make_batch(k, t, buf, sizeof(buf), topic, sizeof(topic));
        if (k % 23 == 11) {
            /* NaN can't go through make_batch's override: patch it in. */
            struct codec_msg m;
            enum reject_reason why;
            ASSERT_EQ(codec_decode_batch(buf, n, &m, &why), 0);
            m.m[0].value = NAN;
            n = codec_encode_batch(&m, buf, sizeof(buf));
            nans++;
        }
        feed(&w, topic, buf, n, now, ++lsn);
        good++;
        if (k % 10 == 3) {
            feed(&w, topic, buf, n, now + 50, ++lsn);
            dups++;
        }
    }
    pipeline_stats(w.pl, &st);
    ASSERT_EQ(st.messages, good + bad + dups);
    ASSERT_EQ(st.by_format[DECODER_PB_BATCH], good + bad + dups);
    ASSERT_EQ(st.decode_rejects, bad);
    ASSERT_EQ(st.rejects.n[REJECT_DECODE_ERROR], bad);
    ASSERT_EQ(st.msg_duplicates, dups);
    ASSERT_EQ(st.rejects.n[REJECT_DUPLICATE], 3 * dups);
    ASSERT_EQ(st.rejects.n[REJECT_NAN], nans);
    ASSERT_EQ(st.rejects.n[REJECT_OUT_OF_RANGE], big);
    ASSERT_EQ(st.readings, 3 * (good + dups));
    ASSERT_EQ(st.accepted, 3 * good - nans - big);
    ASSERT_EQ(st.last_lsn, lsn);
    /* Dead letters: every refusal but duplicates, with the reason. */
    ASSERT_EQ(w.sink->per_reason[REJECT_DECODE_ERROR], bad);
    ASSERT_EQ(w.sink->per_reason[REJECT_NAN], nans);
    ASSERT_EQ(w.sink->per_reason[REJECT_OUT_OF_RANGE], big);
    ASSERT_EQ(w.sink->per_reason[REJECT_DUPLICATE], 0);
    ASSERT_EQ(st.dead_letters, bad + nans + big);
    ASSERT_EQ(pipeline_framing_errors(w.pl), 0);
    world_close(&w);
}

/* ---- Determinism ------------------------------------------------------- */

static const uint8_t *snapshot_bytes(const struct world *w, size_t *len)
{
    const struct sink_item *s = last_snapshot(w->sink);

    ASSERT(s != NULL);
    *len = s->len;
    return s->payload;
}

/* The same messages, whole or through pipeline_run() in random slices (as
 * ring batches cut them), give identical snapshots. */
static void pipeline_is_deterministic_across_batching(void)
{
    struct world a, b;
    struct reading *all = calloc(600 * 8, sizeof(*all));
    uint64_t rng = test_seed();
    size_t total = 0, at = 0, la, lb;
    const uint8_t *sa, *sb;
    uint8_t buf[1024];
    char topic[96];
    uint64_t k;

    ASSERT(all != NULL);
    world_open(&a, false, NULL, 0, NULL, 0);
    world_open(&b, false, NULL, 0, NULL, 0);
    feed_clean(&a, 0, 600);
    for (k = 0; k < 600; k++) {
        size_t n = make_batch(k, NAN, buf, sizeof(buf), topic, sizeof(topic));
        struct decoder_input in = {topic, strlen(topic),
                                   buf,   n,
                                   1,     1700000000000 + (int64_t)k * 1000 + 5,
                                   k + 1};
        enum reject_reason why;
        total += decoder_decode(b.dec, &in, all + total, &why);
    }
    while (at < total) {
        size_t want = 1 + test_rand(&rng) % 11;
        size_t have = want < total - at ? want : total - at;
        at += pipeline_run(b.pl, all + at, have);
        if (have < 5 && at < total)
            at += pipeline_run(b.pl, all + at, total - at);
    }
    ASSERT_EQ(pipeline_flush(a.pl), 0);
    ASSERT_EQ(pipeline_flush(b.pl), 0);
    sa = snapshot_bytes(&a, &la);
    sb = snapshot_bytes(&b, &lb);
    ASSERT_EQ(la, lb);
    ASSERT(memcmp(sa, sb, la) == 0);
    ASSERT_EQ(a.sink->per_kind[PUBLISH_SNAPSHOT],
              b.sink->per_kind[PUBLISH_SNAPSHOT]);
    ASSERT(a.sink->per_kind[PUBLISH_METRICS] >= 10);
    free(all);
    world_close(&a);
    world_close(&b);
}

/* Process 0..300, checkpoint, restore into a fresh world (fresh intern
 * tables imported from the export), process 300..600: the final snapshot
 * equals that of one uninterrupted run. */
static void pipeline_resumes_from_checkpoint(void)
{
    struct world a, b, c;
    struct bytes_out img = {NULL, 0, 0, false};
    struct pipeline_stats sa, sc;
    uint8_t dev[4096], sen[4096];
    size_t dl, sl, la, lc;
    const uint8_t *pa, *pc;
    struct bytes_in in;

    world_open(&a, false, NULL, 0, NULL, 0);
    feed_clean(&a, 0, 600);
    world_open(&b, false, NULL, 0, NULL, 0);
    feed_clean(&b, 0, 300);
    ASSERT_EQ(pipeline_save(b.pl, &img), 0);
    dl = intern_export(b.devices, dev, sizeof(dev));
    sl = intern_export(b.sensors, sen, sizeof(sen));
    ASSERT(dl <= sizeof(dev) && sl <= sizeof(sen));
    world_open(&c, true, dev, dl, sen, sl);
    in = bytes_in_make(img.data, img.len);
    ASSERT_EQ(pipeline_restore(c.pl, &in), 0);
    feed_clean(&c, 300, 600);
    pipeline_stats(a.pl, &sa);
    pipeline_stats(c.pl, &sc);
    ASSERT_EQ(sa.accepted, sc.accepted);
    ASSERT_EQ(sa.messages, sc.messages);
    ASSERT_EQ(task_snapshot_version(pipeline_task(a.pl, 0)),
              task_snapshot_version(pipeline_task(c.pl, 0)));
    ASSERT_EQ(pipeline_flush(a.pl), 0);
    ASSERT_EQ(pipeline_flush(c.pl), 0);
    pa = snapshot_bytes(&a, &la);
    pc = snapshot_bytes(&c, &lc);
    ASSERT_EQ(la, lc);
    ASSERT(memcmp(pa, pc, la) == 0);
    /* A corrupt image is refused. */
    img.data[img.len / 2] ^= 0x40;
    in = bytes_in_make(img.data, img.len);
    ASSERT(pipeline_restore(b.pl, &in) != 0);
    free(img.data);
    world_close(&a);
    world_close(&b);
    world_close(&c);
}

/* ---- Restarts: the whole state through a checkpoint -------------------- */

/* A stream of single readings, each sensor in its own message on
 * sensors/{device}/{sensor} with neither name in the payload: every 20 s
 * devices d0..d2 send temp, hum and power (power follows temp and hum with
 * noise; d1's temp spikes at step 380). Every 7th step hum arrives after
 * power; every 50th message is delivered twice. */
#define RS_STEPS 450
#define RS_T0 1700000000000LL
/* The temp rule's rate limit. Validation's rate state (stream/validate.h)
 * is checkpointed only once ingest/pipeline.c saves it; until then a
 * finite limit here (0.5 refuses the spike) makes the resumed run accept
 * the first temp after each restore unchecked and differ. */
#define RS_TEMP_MAX_RATE 0.5

struct rs_msg {
    char topic[64];
    uint8_t payload[128];
    size_t len;
    int64_t recv_ms;
};

/* The messages of the stream, in delivery order; returns their count. */
static size_t rs_stream(struct rs_msg *out, size_t cap)
{
    static const char *const sensor[] = {"temp", "power", "hum"};
    uint64_t rng = 4242;
    size_t n = 0;

    for (int step = 0; step < RS_STEPS; step++) {
        for (int d = 0; d < 3; d++) {
            double temp = 20 + 3 * sin(step / 30.0 + d) +
                          (double)(test_rand(&rng) % 100) / 200.0 +
                          (d == 1 && step == 380 ? 25 : 0);
            double hum = 40 + 10 * cos(step / 50.0 + d) +
                         (double)(test_rand(&rng) % 100) / 50.0;
            double v[3] = {temp,
                           100 + 5 * temp - 0.5 * hum +
                               (double)(test_rand(&rng) % 100) / 20.0,
                           hum};
            for (int j = 0; j < 3; j++) {
                int k = step % 7 == 3 ? j : (j == 1 ? 2 : j == 2 ? 1 : 0);
                struct codec_msg m;
                struct rs_msg *o;
                ASSERT(n + 2 <= cap);
                o = &out[n++];
                memset(&m, 0, sizeof(m));
                m.has_seq = m.has_ts = true;
                m.seq = (uint64_t)step * 3 + (uint64_t)k;
                m.ts_ms = RS_T0 + (int64_t)step * 20000 + d * 7 + k;
                m.m[0].value = v[k];
                m.m[0].has_value = true;
                m.n = 1;
                snprintf(o->topic, sizeof(o->topic), "sensors/d%d/%s", d,
                         sensor[k]);
                o->len =
                    codec_encode_reading(&m, o->payload, sizeof(o->payload));
                ASSERT(o->len > 0);
                o->recv_ms = m.ts_ms + 40;
                if (n % 50 == 0) { /* a QoS 1 redelivery */
                    out[n] = *o;
                    out[n++].recv_ms += 900;
                }
            }
        }
    }
    return n;
}

static void rs_open(struct world *w, const struct checkpoint *ck)
{
    static const char *const fc_feats[] = {"temp", "temp@-1", "hum", "power",
                                           "power@-2"};
    static const char *const an_sensors[] = {"temp", "power"};
    struct task_config tc[2];

    memset(tc, 0, sizeof(tc));
    tc[0].name = "power_forecast";
    tc[0].kind = TASK_REGRESSION;
    tc[0].target = "power@+2m";
    tc[0].features = fc_feats;
    tc[0].nfeatures = 5;
    tc[0].window_rows = 60;
    tc[0].test_fraction = -1;
    tc[0].predictions = true;
    tc[1].name = "watch";
    tc[1].kind = TASK_ANOMALY;
    tc[1].features = an_sensors;
    tc[1].nfeatures = 2;
    tc[1].predictions = true;
    if (ck == NULL) {
        world_open_rated(w, tc, 2, false, NULL, 0, NULL, 0, RS_TEMP_MAX_RATE);
    } else {
        struct bytes_in in = bytes_in_make(ck->pipeline, ck->pipeline_len);
        world_open_rated(w, tc, 2, true, ck->devices, ck->devices_len,
                         ck->sensors, ck->sensors_len, RS_TEMP_MAX_RATE);
        ASSERT_EQ(pipeline_restore(w->pl, &in), 0);
    }
}

static void rs_feed(struct world *w, const struct rs_msg *m, size_t from,
                    size_t to)
{
    for (size_t i = from; i < to; i++)
        feed(w, m[i].topic, m[i].payload, m[i].len, m[i].recv_ms,
             (uint64_t)i + 1);
}

/* A checkpoint of w (the daemon's whole file image), and w closed; the
 * image is returned (malloc'd), parsed into *ck. */
static uint8_t *rs_checkpoint(struct world *w, struct checkpoint *ck)
{
    struct pipeline_stats st;
    uint8_t *img;
    size_t len;

    pipeline_stats(w->pl, &st);
    ASSERT_EQ(checkpoint_image(st.last_lsn, 0, w->devices, w->sensors, w->pl,
                               &img, &len),
              0);
    ASSERT_EQ(checkpoint_parse(img, len, ck), 0);
    return img;
}

static bool same_item(const struct sink_item *a, const struct sink_item *b)
{
    return a->kind == b->kind && strcmp(a->task, b->task) == 0 &&
           strcmp(a->device, b->device) == 0 && a->len == b->len &&
           a->version == b->version &&
           memcmp(a->payload, b->payload, a->len) == 0;
}

/* DESIGN.md "Restarts", ideally: a run checkpointed twice mid-stream and
 * restored each time into a fresh core (new name tables, decoder and
 * pipeline) emits exactly what an uninterrupted run emits -- every
 * forecast prediction, window summary, snapshot, anomaly score and event,
 * byte for byte -- and ends in the same state. At each checkpoint
 * forecast rows are waiting for their labels, features are held with
 * their lag history, and the anomaly detectors are past their warm-up
 * (the second checkpoint falls between the d1 spike's messages). */
static void pipeline_resumes_exactly_across_checkpoints(void)
{
    struct rs_msg *m = calloc(RS_STEPS * 9 * 2, sizeof(*m));
    const size_t cut[2] = {1300, 0};
    struct world a, b[3];
    struct pipeline_stats sa, sb;
    struct task_stats ta, tb;
    struct bytes_out ia = {NULL, 0, 0, false}, ib = {NULL, 0, 0, false};
    size_t n, at = 0, k = 0, spike = 0;
    uint8_t *img[2];

    ASSERT(m != NULL);
    n = rs_stream(m, RS_STEPS * 9 * 2);
    /* The second cut: right before d1's temp at the spike. */
    for (size_t i = 0; i < n && spike == 0; i++)
        if (strcmp(m[i].topic, "sensors/d1/temp") == 0 &&
            m[i].recv_ms == RS_T0 + 380 * 20000 + 7 + 40)
            spike = i;
    ASSERT(spike > cut[0]);
    rs_open(&a, NULL);
    rs_feed(&a, m, 0, n);
    ASSERT_EQ(pipeline_flush(a.pl), 0);

    rs_open(&b[0], NULL);
    for (int c = 0; c < 2; c++) {
        struct checkpoint ck;
        size_t to = c == 0 ? cut[0] : spike;
        rs_feed(&b[c], m, at, to);
        at = to;
        ASSERT(task_rows_pending(pipeline_task(b[c].pl, 0)) > 0);
        task_stats(pipeline_task(b[c].pl, 1), &tb);
        ASSERT_EQ(tb.series, 6);
        img[c] = rs_checkpoint(&b[c], &ck);
        rs_open(&b[c + 1], &ck);
        ASSERT_EQ(task_rows_pending(pipeline_task(b[c + 1].pl, 0)),
                  task_rows_pending(pipeline_task(b[c].pl, 0)));
    }
    ASSERT(cut[1] == 0 && spike > 0);
    rs_feed(&b[2], m, at, n);
    ASSERT_EQ(pipeline_flush(b[2].pl), 0);

    /* Everything emitted, in order, byte for byte. */
    for (int c = 0; c < 3; c++) {
        for (size_t i = 0; i < b[c].sink->n; i++, k++) {
            ASSERT(k < a.sink->n);
            if (!same_item(&a.sink->it[k], &b[c].sink->it[i]))
                fprintf(stderr, "output %zu differs (kind %d, %s):\n%s\n%s\n",
                        k, a.sink->it[k].kind, a.sink->it[k].task,
                        (char *)a.sink->it[k].payload,
                        (char *)b[c].sink->it[i].payload);
            ASSERT(same_item(&a.sink->it[k], &b[c].sink->it[i]));
        }
    }
    ASSERT(a.sink->n < SINK_MAX);
    ASSERT_EQ(k, a.sink->n);
    ASSERT(a.sink->per_kind[PUBLISH_SNAPSHOT] >= 3);
    ASSERT(a.sink->per_kind[PUBLISH_METRICS] >= 10);
    ASSERT(a.sink->per_kind[PUBLISH_ANOMALY] >= 1);
    fprintf(stderr,
            "%zu outputs: %zu predictions, %zu snapshots, %zu windows, "
            "%zu anomaly events\n",
            a.sink->n, a.sink->per_kind[PUBLISH_PREDICTION],
            a.sink->per_kind[PUBLISH_SNAPSHOT],
            a.sink->per_kind[PUBLISH_METRICS],
            a.sink->per_kind[PUBLISH_ANOMALY]);
    /* A score per reading of 6 series, and a forecast per labelled row. */
    ASSERT(a.sink->per_kind[PUBLISH_PREDICTION] > RS_STEPS * 6 + RS_STEPS * 2);
    /* The same counters and the same state at the end. */
    pipeline_stats(a.pl, &sa);
    pipeline_stats(b[2].pl, &sb);
    ASSERT(memcmp(&sa, &sb, sizeof(sa)) == 0);
    ASSERT(sa.msg_duplicates > 50);
    ASSERT_EQ(sa.accepted + sa.rejects.n[REJECT_RATE_OF_CHANGE], RS_STEPS * 9);
    ASSERT(isinf(RS_TEMP_MAX_RATE) || sa.rejects.n[REJECT_RATE_OF_CHANGE] > 0);
    for (size_t t = 0; t < 2; t++) {
        task_stats(pipeline_task(a.pl, t), &ta);
        task_stats(pipeline_task(b[2].pl, t), &tb);
        ASSERT(memcmp(&ta, &tb, sizeof(ta)) == 0);
    }
    ASSERT_EQ(pipeline_save(a.pl, &ia), 0);
    ASSERT_EQ(pipeline_save(b[2].pl, &ib), 0);
    ASSERT_EQ(ia.len, ib.len);
    ASSERT(memcmp(ia.data, ib.data, ia.len) == 0);
    free(ia.data);
    free(ib.data);
    free(img[0]);
    free(img[1]);
    world_close(&a);
    for (int c = 0; c < 3; c++)
        world_close(&b[c]);
    free(m);
}

/* ---- Data time far from receive time (ingest/task.h "Time") ------------ */

#define DT_T0 1700000000000LL
#define DT_MIN 60000LL
#define DT_HOUR 3600000LL
#define DT_BEHIND (14 * 86400000LL) /* receive time is 14 days ahead */
#define DT_LEAD 15                  /* samples from an anchor to its label */

/* Sample i of room d: one message with co2 and temp, d * 7 s after d0's. */
static int64_t dt_ts(int64_t i, int d)
{
    return DT_T0 + i * DT_MIN + d * 7000;
}

static void dt_send(struct world *w, const char *dev, const char *sensor,
                    int64_t ts, uint64_t seq, double v, int64_t recv,
                    uint64_t *lsn)
{
    struct codec_msg m;
    uint8_t buf[256];
    char topic[64];
    size_t n;

    memset(&m, 0, sizeof(m));
    snprintf(m.device, sizeof(m.device), "%s", dev);
    m.has_seq = m.has_ts = true;
    m.seq = seq;
    m.ts_ms = ts;
    snprintf(m.m[0].name, sizeof(m.m[0].name), "%s", sensor);
    m.m[0].value = v;
    m.m[0].has_value = true;
    m.n = 1;
    if (strcmp(sensor, "co2") == 0) {
        snprintf(m.m[1].name, sizeof(m.m[1].name), "temp");
        m.m[1].value = 21 + (double)(seq % 5) / 10;
        m.m[1].has_value = true;
        m.n = 2;
    }
    n = codec_encode_batch(&m, buf, sizeof(buf));
    ASSERT(n > 0);
    snprintf(topic, sizeof(topic), "sensors/%s", dev);
    feed(w, topic, buf, n, recv, ++*lsn);
}

/* Labelled anchors (n samples per room) in data hour k after DT_T0. */
static uint64_t dt_rows_in_hour(int64_t n, int64_t k)
{
    uint64_t c = 0;

    for (int64_t i = 0; i + DT_LEAD < n; i++)
        for (int d = 0; d < 3; d++)
            c += (dt_ts(i, d) - DT_T0) / DT_HOUR == k;
    return c;
}

/* The metrics emitted are windows 0.. of data hours 0.., each holding the
 * rows anchored in its hour; returns how many. */
static size_t dt_windows(const struct sink *s, int64_t n)
{
    size_t k = 0;

    for (size_t i = 0; i < s->n; i++) {
        const struct sink_item *it = &s->it[i];
        long long a, b, id, rows, test;
        const char *p = (const char *)it->payload;
        if (it->kind != PUBLISH_METRICS)
            continue;
        ASSERT(sscanf(strstr(p, "\"window_id\":"), "\"window_id\":%lld", &id) ==
               1);
        ASSERT(sscanf(strstr(p, "\"start_ms\":"), "\"start_ms\":%lld", &a) ==
               1);
        ASSERT(sscanf(strstr(p, "\"end_ms\":"), "\"end_ms\":%lld", &b) == 1);
        ASSERT(sscanf(strstr(p, "\"rows\":"), "\"rows\":%lld", &rows) == 1);
        ASSERT(sscanf(strstr(p, "\"test_rows\":"), "\"test_rows\":%lld",
                      &test) == 1);
        ASSERT_EQ(id, k);
        ASSERT_EQ((a - DT_T0) / DT_HOUR, k);
        ASSERT_EQ((b - DT_T0) / DT_HOUR, k);
        ASSERT_EQ(rows + test, dt_rows_in_hour(n, (int64_t)k));
        k++;
    }
    return k;
}

/* make demo in miniature, through decoder and pipeline: rooms report a
 * simulated past 14 days behind the receive clock. The co2 forecast's
 * hourly windows rotate once per data hour, every anchor whose label comes
 * is labelled (none expires); when the rooms fall silent and only other
 * traffic arrives, receive time expires the anchors left and closes the
 * last window. A timestamp a day ahead of receive time is refused by
 * validation and does not move the task's clock; none within the skew
 * takes it past receive time + max_future_skew. */
static void forecast_runs_on_data_time_far_behind_receive_time(void)
{
    static const char *const f[] = {"co2", "temp"};
    const int64_t n = 12 * 60;
    const int64_t hours = (dt_ts(n - DT_LEAD - 1, 2) - DT_T0) / DT_HOUR + 1;
    const struct task *t;
    struct task_config tc;
    struct pipeline_stats st;
    struct rows_stats rs;
    struct world w;
    uint64_t lsn = 0;
    int64_t recv = 0, last = dt_ts(n - 1, 2);

    memset(&tc, 0, sizeof(tc));
    tc.name = "co2_forecast";
    tc.kind = TASK_REGRESSION;
    tc.target = "co2@+15m";
    tc.features = f;
    tc.nfeatures = 2;
    tc.window_ms = DT_HOUR;
    tc.test_fraction = -1;
    tc.label_max_delay_ms = 10 * DT_MIN;
    tc.drift_set = true;
    tc.detector = LEARNER_DETECT_NONE;
    world_open_task(&w, &tc, false, NULL, 0, NULL, 0);
    t = pipeline_task(w.pl, 0);
    for (int64_t i = 0; i < n; i++) {
        for (int d = 0; d < 3; d++) {
            char dev[8];
            snprintf(dev, sizeof(dev), "r%d", d);
            recv = dt_ts(i, d) + DT_BEHIND + 25;
            dt_send(&w, dev, "co2", dt_ts(i, d), (uint64_t)i,
                    600 + 100 * sin((double)i / 30 + d), recv, &lsn);
        }
    }
    task_rows_stats(t, &rs);
    ASSERT_EQ(rs.rows, (uint64_t)(n - DT_LEAD) * 3);
    ASSERT_EQ(rs.pending_expired, 0);
    ASSERT_EQ(dt_windows(w.sink, n), (size_t)hours - 1);
    ASSERT_EQ(task_data_clock(t), last);

    /* A day ahead of receive time: refused, the clock stays. */
    dt_send(&w, "r0", "co2", recv + 86400000, (uint64_t)n, 500, recv, &lsn);
    pipeline_stats(w.pl, &st);
    ASSERT_EQ(st.rejects.n[REJECT_TS_FUTURE], 2); /* co2 and temp */
    ASSERT_EQ(task_data_clock(t), last);

    /* Silence of the rooms; a device the task does not read talks every
     * 20 s of receive time for an hour. */
    for (int64_t e = 20000; e <= DT_HOUR; e += 20000)
        dt_send(&w, "x9", "noise", recv + e - DT_BEHIND, (uint64_t)e, 1,
                recv + e, &lsn);
    ASSERT_EQ(task_data_clock(t), last + DT_HOUR);
    task_rows_stats(t, &rs);
    ASSERT_EQ(rs.pending_expired, DT_LEAD * 3);
    ASSERT_EQ(task_rows_pending(t), 0);
    ASSERT_EQ(dt_windows(w.sink, n), (size_t)hours);

    /* Within the skew the reading is accepted, yet the clock never leads
     * receive time by more than max_future_skew (5 minutes). */
    recv += DT_HOUR + 1000;
    dt_send(&w, "r1", "co2", recv + 4 * DT_MIN, (uint64_t)n + 1, 500, recv,
            &lsn);
    ASSERT(task_data_clock(t) <= recv + 5 * DT_MIN);
    world_close(&w);
}

/* ---- JSON and SenML ----------------------------------------------------- */

static size_t decode_text(struct world *w, const char *topic, const char *p,
                          struct reading *out, enum reject_reason *why)
{
    return decode(w, topic, (const uint8_t *)p, strlen(p), 1, out, why);
}

static void decoder_reads_json_and_senml(void)
{
    struct reading r[DECODER_MAX_RECORDS];
    enum reject_reason why;
    struct world w;
    uint32_t id;

    world_open(&w, false, NULL, 0, NULL, 0);
    /* (a) one reading on sensors/{device}/{sensor}. */
    ASSERT_EQ(decode_text(&w, "sensors/j1/temp",
                          "{\"seq\":4,\"ts\":1700000000000,\"value\":21.5}", r,
                          &why),
              2);
    ASSERT_EQ(why, REJECT_NONE);
    ASSERT_EQ(decoder_meta_format(&r[0]), DECODER_JSON);
    ASSERT_EQ(r[1].value, 21.5);
    ASSERT_EQ(r[1].seq, 4);
    ASSERT_EQ(r[1].ts_ms, 1700000000000);
    ASSERT(intern_find(w.sensors, "temp", 4, &id) && r[1].sensor_id == id);
    /* (b) a device object with a label on sensors/{device}. */
    ASSERT_EQ(decode_text(&w, "sensors/j1",
                          " {\"seq\":5,\"temp\":20,\"hum\":null,"
                          "\"labels\":{\"occ\":1}}",
                          r, &why),
              4);
    ASSERT_EQ(why, REJECT_NONE);
    ASSERT(isnan(r[2].value)); /* null: NaN, refused later as nan */
    ASSERT(r[3].flags & READING_LABEL);
    ASSERT_EQ(decode_text(&w, "sensors/j1", "{\"temp\":", r, &why), 1);
    ASSERT_EQ(why, REJECT_DECODE_ERROR);
    ASSERT_EQ(
        decode_text(&w, "sensors/j1", "{\"device\":\"j2\",\"t\":1}", r, &why),
        1);
    ASSERT_EQ(why, REJECT_BAD_NAME); /* names another device */
    /* SenML: two times -> two groups, the second flagged a continuation;
     * a record without a number is skipped and counted. */
    ASSERT_EQ(decode_text(&w, "sensors/s1",
                          "[{\"bn\":\"s1:\",\"bt\":1700000000,\"n\":\"temp\","
                          "\"v\":21},{\"n\":\"hum\",\"v\":40},"
                          "{\"n\":\"note\",\"vs\":\"hi\"},"
                          "{\"n\":\"temp\",\"t\":60,\"v\":22}]",
                          r, &why),
              5);
    ASSERT_EQ(why, REJECT_NONE);
    ASSERT_EQ(decoder_meta_format(&r[0]), DECODER_SENML);
    ASSERT_EQ(r[0].nrec, 2);
    ASSERT_EQ(r[0].reserved, 1);
    ASSERT(!(r[0].flags & DECODER_META_CONT));
    ASSERT(r[3].flags & DECODER_META_CONT);
    ASSERT_EQ(r[3].nrec, 1);
    ASSERT_EQ(r[4].ts_ms, 1700000060000);
    ASSERT(r[4].flags & READING_MSG_FIRST);
    ASSERT_EQ(decode_text(&w, "sensors/s1",
                          "[{\"bn\":\"s2:\",\"n\":\"temp\",\"v\":21}]", r,
                          &why),
              1);
    ASSERT_EQ(why, REJECT_BAD_NAME);
    world_close(&w);
}

/* The pipeline counts a SenML pack as one message and its skipped record
 * as a missing field. */
static void pipeline_counts_senml_once(void)
{
    const char *pack = "[{\"bn\":\"s1:\",\"bt\":1700000000,\"n\":\"temp\","
                       "\"v\":21},{\"n\":\"note\",\"vs\":\"x\"},"
                       "{\"n\":\"temp\",\"t\":60,\"v\":22}]";
    struct pipeline_stats st;
    struct world w;

    world_open(&w, false, NULL, 0, NULL, 0);
    feed(&w, "sensors/s1", (const uint8_t *)pack, strlen(pack), 1700000100000,
         1);
    pipeline_stats(w.pl, &st);
    ASSERT_EQ(st.messages, 1);
    ASSERT_EQ(st.by_format[DECODER_SENML], 1);
    ASSERT_EQ(st.readings, 2);
    ASSERT_EQ(st.accepted, 2);
    ASSERT_EQ(st.rejects.n[REJECT_MISSING_FIELD], 1);
    world_close(&w);
}

/* ---- Anomaly tasks ----------------------------------------------------- */

static void anomaly_task_raises_one_event_per_crossing(void)
{
    static const char *const sensors[] = {"temp"};
    struct task_config tc;
    struct world w;
    struct pipeline_stats st;
    struct task_stats ts;
    uint8_t buf[256];
    size_t i, events = 0, at_spike = 0;
    uint64_t k;

    memset(&tc, 0, sizeof(tc));
    tc.name = "temp_anomaly";
    tc.kind = TASK_ANOMALY;
    tc.features = sensors;
    tc.nfeatures = 1;
    tc.predictions = true;
    world_open_task(&w, &tc, false, NULL, 0, NULL, 0);
    for (k = 0; k < 800; k++) {
        struct codec_msg m;
        size_t n;
        memset(&m, 0, sizeof(m));
        snprintf(m.device, sizeof(m.device), "d0");
        m.has_seq = m.has_ts = true;
        m.seq = k;
        m.ts_ms = 1700000000000 + (int64_t)k * 60000;
        snprintf(m.m[0].name, sizeof(m.m[0].name), "temp");
        m.m[0].value = 20 + 2 * sin((double)k / 20.0) + (k == 700 ? 40 : 0);
        m.m[0].has_value = true;
        m.n = 1;
        n = codec_encode_batch(&m, buf, sizeof(buf));
        feed(&w, "sensors/d0", buf, n, m.ts_ms + 10, k + 1);
    }
    pipeline_stats(w.pl, &st);
    task_stats(pipeline_task(w.pl, 0), &ts);
    ASSERT_EQ(st.accepted, 800);
    ASSERT_EQ(ts.rows, 800);
    ASSERT_EQ(ts.series, 1);
    ASSERT_EQ(ts.predictions, 800);
    ASSERT_EQ(w.sink->per_kind[PUBLISH_PREDICTION], 800);
    for (i = 0; i < w.sink->n; i++) {
        if (w.sink->it[i].kind != PUBLISH_ANOMALY)
            continue;
        events++;
        ASSERT_STREQ(w.sink->it[i].device, "d0");
        at_spike += strstr((char *)w.sink->it[i].payload,
                           "\"ts_ms\":1700042000000") != NULL;
    }
    ASSERT_EQ(events, ts.anomalies);
    ASSERT_EQ(at_spike, 1);
    ASSERT(events < 10); /* one per crossing, not one per reading */
    world_close(&w);
}

/* ---- Replay of captures and CSV files ---------------------------------- */

static void replay_capture_and_csv(void)
{
    struct replay_stats rs;
    struct pipeline_stats st;
    struct world w;
    char path[512], err[256] = "";
    uint8_t buf[1024], rec[2048];
    char topic[96];
    FILE *f;
    uint64_t k;

    world_open(&w, false, NULL, 0, NULL, 0);
    snprintf(path, sizeof(path), "%s/c.cap", test_tmpdir());
    ASSERT((f = fopen(path, "wb")) != NULL);
    for (k = 0; k < 100; k++) {
        size_t n = make_batch(k, NAN, buf, sizeof(buf), topic, sizeof(topic));
        struct codec_capture c = {
            topic, buf,  n, (1700000000000 + (int64_t)k * 1000) * 1000000,
            1,     false};
        size_t r = codec_encode_capture(&c, rec, sizeof(rec));
        ASSERT(r > 0 && fwrite(rec, 1, r, f) == r);
    }
    ASSERT(fwrite(rec, 1, 3, f) == 3); /* a torn last record */
    fclose(f);
    memset(&rs, 0, sizeof(rs));
    ASSERT_EQ(replay_capture(path, w.dec, w.pl, &rs, err, sizeof(err)), 0);
    ASSERT_EQ(rs.messages, 100);
    ASSERT_EQ(rs.bad_records, 1);
    pipeline_stats(w.pl, &st);
    ASSERT_EQ(st.accepted, 300);
    world_close(&w);

    /* CSV: rows become batches on csv/<device>, seq = row index. */
    {
        struct decoder_sub sub;
        snprintf(path, sizeof(path), "%s/d.csv", test_tmpdir());
        ASSERT((f = fopen(path, "w")) != NULL);
        fprintf(f, "date,temp,hum,occ\n");
        for (k = 0; k < 50; k++)
            fprintf(f, "2024-01-01 00:%02u:00,%u,%u,%u\n", (unsigned)k,
                    (unsigned)(18 + k % 7), (unsigned)(30 + k % 11),
                    (unsigned)(k % 3 == 0));
        fprintf(f, "2024-01-01 00:59:00,oops,1,0\n");
        fclose(f);
        world_open(&w, false, NULL, 0, NULL, 0);
        decoder_free(w.dec);
        ASSERT_EQ(topic_template_parse(REPLAY_CSV_TEMPLATE, &sub.tpl, NULL, 0),
                  0);
        sub.format = DECODER_PB_BATCH;
        ASSERT_EQ(decoder_new(&w.dec, &sub, 1, w.devices, w.sensors), 0);
        memset(&rs, 0, sizeof(rs));
        ASSERT_EQ(replay_csv(path, "ts=date;labels=occ;device=room", w.dec,
                             w.pl, &rs, err, sizeof(err)),
                  0);
        ASSERT_EQ(rs.csv_rows, 50);
        ASSERT_EQ(rs.csv_bad, 1);
        pipeline_stats(w.pl, &st);
        ASSERT_EQ(st.messages, 50);
        ASSERT_EQ(st.accepted, 150);
        ASSERT_EQ(st.rejects.n[REJECT_TS_STALE], 0); /* data time is now */
        world_close(&w);
    }
}

static const struct test tests[] = {
    {"decoder_reads_json_and_senml", decoder_reads_json_and_senml},
    {"pipeline_counts_senml_once", pipeline_counts_senml_once},
    {"anomaly_task_raises_one_event_per_crossing",
     anomaly_task_raises_one_event_per_crossing},
    {"replay_capture_and_csv", replay_capture_and_csv},
    {"topic_templates_match_and_render", topic_templates_match_and_render},
    {"decoder_names_from_topic_and_payload",
     decoder_names_from_topic_and_payload},
    {"pipeline_counts_every_outcome", pipeline_counts_every_outcome},
    {"pipeline_is_deterministic_across_batching",
     pipeline_is_deterministic_across_batching},
    {"pipeline_resumes_from_checkpoint", pipeline_resumes_from_checkpoint},
    {"pipeline_resumes_exactly_across_checkpoints",
     pipeline_resumes_exactly_across_checkpoints},
    {"forecast_runs_on_data_time_far_behind_receive_time",
     forecast_runs_on_data_time_far_behind_receive_time},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return test_main(argc, argv, tests);
}
