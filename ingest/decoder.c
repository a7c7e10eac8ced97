/* decoder.c -- topic + payload -> meta record + readings, on the Paho
 * callback thread.
 *
 * Steps per message: find the subscription (first template that matches),
 * pick the format, decode the payload into the decoder's struct codec_msg
 * scratch (proto/ does the parsing and the name checks), reconcile the
 * device and sensor names with the topic, intern them, and write one
 * struct reading per metric after the meta record. Nothing allocates: the
 * scratch (about 20 KB for CODEC_MAX_METRICS metrics) and a patch buffer
 * are part of the decoder.
 *
 * A protobuf Reading, like a JSON one, may leave its sensor to the topic
 * (weir.proto): the codec then returns an empty name, and single_sensor()
 * fills in the topic's, or refuses the message as missing_field when the
 * topic has no {sensor} either, or as bad_name when the two disagree. JSON
 * and SenML go through proto/json.h; a SenML pack delivers its groups to
 * a callback that appends them one after the other.
 *
 * Cost: one template match (a few tens of ns), the codec's decode (~50 ns
 * for a Reading), two intern lookups per name (hash probes).
 *
 * Threads: see decoder.h; one thread at a time, the intern tables' writer. */
#include "ingest/decoder.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/codec.h"
#include "proto/json.h"

struct decoder {
    struct decoder_sub sub[DECODER_MAX_SUBS]; /* Subscriptions; constant. */
    size_t nsubs;                             /* Entries used; constant. */
    struct intern *devices;                   /* Borrowed; we write it. */
    struct intern *sensors;                   /* Borrowed; we write it. */
    struct codec_msg msg;                     /* Decode scratch. */
    size_t max_payload;                       /* Larger is too_large. */
};

static const char *const format_names[DECODER_FORMATS] = {
    "auto", "protobuf_reading", "protobuf_batch", "json", "senml",
};

const char *decoder_format_name(enum decoder_format f)
{
    return (unsigned)f < DECODER_FORMATS ? format_names[f] : "unknown";
}

int decoder_format_parse(const char *text, enum decoder_format *out)
{
    int i;

    if (strcmp(text, "protobuf") == 0 || strcmp(text, "auto") == 0) {
        *out = DECODER_AUTO;
        return 0;
    }
    for (i = 1; i < DECODER_FORMATS; i++) {
        if (strcmp(text, format_names[i]) == 0) {
            *out = (enum decoder_format)i;
            return 0;
        }
    }
    return -EINVAL;
}

int decoder_new(struct decoder **out, const struct decoder_sub *subs,
                size_t nsubs, struct intern *devices, struct intern *sensors)
{
    struct decoder *d;

    if (nsubs == 0 || nsubs > DECODER_MAX_SUBS || devices == NULL ||
        sensors == NULL)
        return -EINVAL;
    if ((d = calloc(1, sizeof(*d))) == NULL)
        return -ENOMEM;
    memcpy(d->sub, subs, nsubs * sizeof(*subs));
    d->nsubs = nsubs;
    d->devices = devices;
    d->sensors = sensors;
    d->max_payload = CODEC_MAX_PAYLOAD;
    *out = d;
    return 0;
}

void decoder_free(struct decoder *d)
{
    free(d);
}

void decoder_set_max_payload(struct decoder *d, size_t max_payload)
{
    d->max_payload =
        max_payload < CODEC_MAX_PAYLOAD ? max_payload : CODEC_MAX_PAYLOAD;
}

int decoder_match(const struct decoder *d, const char *topic, size_t len)
{
    size_t i;

    for (i = 0; i < d->nsubs; i++)
        if (topic_template_match(&d->sub[i].tpl, topic, len, NULL))
            return (int)i;
    return -1;
}

/* The concrete format of a payload under subscription s. */
static enum decoder_format pick_format(const struct decoder_sub *s,
                                       const struct decoder_input *in)
{
    if (s->format != DECODER_AUTO)
        return s->format;
    switch (json_sniff(in->payload, in->len)) {
    case '{':
        return DECODER_JSON;
    case '[':
        return DECODER_SENML;
    default:
        break;
    }
    return s->tpl.has_sensor ? DECODER_PB_READING : DECODER_PB_BATCH;
}

/* true if name[0..n) equals the NUL-terminated s. */
static bool same(const char *name, size_t n, const char *s)
{
    return strlen(s) == n && memcmp(name, s, n) == 0;
}

/* Reconcile the device names of topic and payload and intern the result. */
static enum reject_reason device_id(struct decoder *d,
                                    const struct codec_msg *m,
                                    const struct topic_match *tm, uint32_t *id)
{
    const char *name = m->device;
    size_t n = strlen(name);
    enum reject_reason why = REJECT_NONE;

    if (tm->device != NULL) {
        if (n > 0 && !same(tm->device, tm->device_len, name))
            return REJECT_BAD_NAME;
        name = tm->device;
        n = tm->device_len;
    } else if (n == 0) {
        return REJECT_MISSING_FIELD;
    }
    intern_add(d->devices, name, n, id, &why);
    return why;
}

/* Where the records of one message go, group after group. */
struct fill {
    struct decoder *d;
    const struct decoder_input *in;
    const struct topic_match *tm;
    enum decoder_format f;
    struct reading *out; /* The caller's DECODER_MAX_RECORDS. */
    size_t used;         /* Records written so far. */
    enum reject_reason why;
};

/* A single reading's sensor may come from the topic: an empty name takes
 * it, a different one is refused. */
static enum reject_reason single_sensor(struct codec_msg *m,
                                        const struct topic_match *tm)
{
    if (tm->sensor == NULL)
        return m->m[0].name[0] == '\0' ? REJECT_MISSING_FIELD : REJECT_NONE;
    if (m->m[0].name[0] == '\0') {
        if (tm->sensor_len > CODEC_NAME_MAX ||
            !codec_name_ok(tm->sensor, tm->sensor_len))
            return REJECT_BAD_NAME;
        memcpy(m->m[0].name, tm->sensor, tm->sensor_len);
        m->m[0].name[tm->sensor_len] = '\0';
    }
    return same(tm->sensor, tm->sensor_len, m->m[0].name) ? REJECT_NONE
                                                          : REJECT_BAD_NAME;
}

/* Append one group (meta + readings of m) to the output. */
static enum reject_reason fill_group(struct fill *f, const struct codec_msg *m)
{
    const struct decoder_input *in = f->in;
    struct reading *meta = &f->out[f->used];
    struct reading *out = meta + 1;
    enum reject_reason why;
    uint32_t dev;
    size_t i;

    if (m->n == 0)
        return REJECT_MISSING_FIELD;
    if (f->used + 1 + m->n > DECODER_MAX_RECORDS)
        return REJECT_TOO_LARGE;
    if ((why = device_id(f->d, m, f->tm, &dev)) != REJECT_NONE)
        return why;
    for (i = 0; i < m->n; i++) {
        struct reading *r = &out[i];
        const struct codec_metric *c = &m->m[i];
        memset(r, 0, sizeof(*r));
        if (intern_add(f->d->sensors, c->name, strlen(c->name), &r->sensor_id,
                       &why) != 0)
            return why;
        r->device_id = dev;
        r->value = c->value;
        r->seq = m->has_seq ? m->seq : 0;
        r->ts_ms = m->has_ts ? m->ts_ms : in->recv_ms;
        r->lsn = in->lsn;
        r->flags = (uint16_t)((m->has_seq ? READING_HAS_SEQ : 0) |
                              (m->has_ts ? READING_HAS_TS : 0) |
                              (c->is_label ? READING_LABEL : 0));
    }
    out[0].flags |= READING_MSG_FIRST | (in->qos == 0 ? READING_QOS0 : 0);
    out[0].nrec = (uint16_t)m->n;
    *meta = f->out[0]; /* the message's meta fields */
    meta->flags = (uint16_t)(DECODER_META | (f->used ? DECODER_META_CONT : 0));
    meta->nrec = (uint16_t)m->n;
    meta->reserved = f->used ? 0 : meta->reserved;
    f->used += 1 + m->n;
    return REJECT_NONE;
}

/* Called on: the decoding thread, inside json_decode_senml(). */
static int senml_group(void *ctx, const struct codec_msg *msg)
{
    struct fill *f = ctx;

    f->why = fill_group(f, msg);
    return f->why == REJECT_NONE ? 0 : 1;
}

static enum reject_reason decode_senml(struct fill *f)
{
    const struct decoder_input *in = f->in;
    enum reject_reason why = REJECT_NONE;
    size_t skipped = 0;
    int rc;

    f->why = REJECT_NONE;
    rc = json_decode_senml(in->payload, in->len, in->recv_ms, &f->d->msg,
                           senml_group, f, &skipped, &why);
    if (rc < 0)
        return why != REJECT_NONE ? why : REJECT_DECODE_ERROR;
    if (rc > 0)
        return f->why;
    f->out[0].reserved = (uint32_t)skipped;
    return REJECT_NONE;
}

/* Decode the payload in format f->f and append its records. */
static enum reject_reason decode_payload(struct fill *f)
{
    struct decoder *d = f->d;
    const struct decoder_input *in = f->in;
    enum reject_reason why = REJECT_DECODE_ERROR;

    d->msg.n = 0;
    switch (f->f) {
    case DECODER_PB_READING:
        codec_decode_reading(in->payload, in->len, &d->msg, &why);
        if (why == REJECT_NONE)
            why = single_sensor(&d->msg, f->tm);
        break;
    case DECODER_PB_BATCH:
        codec_decode_batch(in->payload, in->len, &d->msg, &why);
        break;
    case DECODER_JSON:
        if (f->tm->sensor != NULL) {
            json_decode_reading(in->payload, in->len, &d->msg, &why);
            if (why == REJECT_NONE)
                why = single_sensor(&d->msg, f->tm);
        } else {
            json_decode_object(in->payload, in->len, &d->msg, NULL, &why);
        }
        break;
    case DECODER_SENML:
        return decode_senml(f);
    default:
        break;
    }
    return why == REJECT_NONE ? fill_group(f, &d->msg) : why;
}

size_t decoder_decode(struct decoder *d, const struct decoder_input *in,
                      struct reading *out, enum reject_reason *why)
{
    struct topic_match tm = {NULL, 0, NULL, 0};
    struct fill f = {d, in, &tm, DECODER_AUTO, out, 0, REJECT_NONE};
    struct reading *meta = &out[0];
    int s = decoder_match(d, in->topic, in->topic_len);

    memset(meta, 0, sizeof(*meta));
    meta->flags = DECODER_META;
    meta->ts_ms = in->recv_ms;
    meta->lsn = in->lsn;
    meta->value = (double)in->len;
    meta->device_id = s < 0 ? UINT32_MAX : (uint32_t)s;
    *why = REJECT_UNKNOWN_TOPIC; /* no template: no format, no names */
    if (s >= 0) {
        const struct decoder_sub *sub = &d->sub[s];
        topic_template_match(&sub->tpl, in->topic, in->topic_len, &tm);
        f.f = pick_format(sub, in);
        meta->sensor_id = ((uint32_t)f.f << 8) | (uint32_t)(in->qos & 0xff);
        *why = in->len > d->max_payload ? REJECT_TOO_LARGE : decode_payload(&f);
    }
    meta->sensor_id = ((uint32_t)f.f << 8) | (uint32_t)(in->qos & 0xff);
    if (*why != REJECT_NONE || f.used == 0) {
        if (*why == REJECT_NONE)
            *why = REJECT_MISSING_FIELD;
        meta->flags = DECODER_META;
        meta->nrec = 0;
        meta->reserved = 0;
        f.used = 1;
    }
    meta->seq = (uint64_t)*why;
    return f.used;
}
