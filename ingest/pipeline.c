/* pipeline.c -- meta record + readings -> admit -> tasks, on the loop
 * thread.
 *
 * Per message: advance the clock to the message's receive time (monotonic)
 * and tick the tasks when a tick boundary of it is crossed (each task keeps
 * its own data clock from there, ingest/task.h "Time"), count
 * the message, then either count its decode reject or run its readings
 * through admit (dedup per message, validation per reading). admit calls
 * back on_accept() for each accepted reading, which hands it to every task,
 * and on_reject() for each refused one, which counts it and emits a dead
 * letter. The accounting is exact by construction: admit's own counters
 * are the source of accepted/rejected, copied after each message.
 *
 * Cost per message: a few branches and the admit call; per accepted
 * reading, one task_add() per task (tasks filter by sensor themselves).
 *
 * Threads: the loop thread owns everything here. */
#include "ingest/pipeline.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream/admit.h"

#define PIPELINE_MAGIC 0x4c505457u /* "WTPL" */
#define PIPELINE_FORMAT 2u    /* 2: + validation's rate state */
#define PIPELINE_FORMAT_V1 1u /* without it; still read */
#define DEDUP_IMAGE_MAX (256u << 20) /* refuse larger dedup images */

struct pipeline {
    const struct intern *devices; /* Borrowed; names. */
    const struct intern *sensors; /* Borrowed; names. */
    struct dedup *dedup;          /* Owned. */
    struct validate *validate;    /* Owned. */
    struct admit *admit;          /* Owned. */
    struct task **task;           /* [ntasks], owned. */
    size_t ntasks;                /* Constant. */
    int64_t tick_ms;              /* Constant. */
    int64_t next_tick_ms;         /* Receive time of the next tick. */
    uint32_t dl_mask;             /* Dead-letter reasons; constant. */
    publish_fn emit;              /* Output; constant. */
    void *ctx;                    /* Passed to emit. */
    struct pipeline_stats st;     /* Counters. */
    uint64_t framing_errors;      /* Records skipped by pipeline_run(). */
};

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* ---- Callbacks --------------------------------------------------------- */

/* Called on: loop thread, inside admit_run(). */
static void on_accept(void *ctx, const struct reading *r)
{
    struct pipeline *p = ctx;
    size_t i;

    for (i = 0; i < p->ntasks; i++)
        task_add(p->task[i], r, p->st.now_ms);
}

static const char *num(double v, char *buf, size_t cap)
{
    if (!isfinite(v))
        return isnan(v) ? "\"NaN\"" : v > 0 ? "\"+Inf\"" : "\"-Inf\"";
    snprintf(buf, cap, "%.17g", v);
    return buf;
}

/* Called on: loop thread, inside admit_run(). */
static void on_reject(void *ctx, const struct reading *r,
                      enum reject_reason why)
{
    struct pipeline *p = ctx;
    const char *dev = intern_name(p->devices, r->device_id);
    const char *sen = intern_name(p->sensors, r->sensor_id);
    struct publish_msg m;
    char buf[512];
    char v[40];
    int n;

    if (!(p->dl_mask & (1u << why)))
        return;
    n = snprintf(buf, sizeof(buf),
                 "{\"reason\":\"%s\",\"device\":\"%s\",\"sensor\":\"%s\","
                 "\"seq\":%" PRIu64 ",\"has_seq\":%s,\"ts_ms\":%" PRId64
                 ",\"value\":%s,\"lsn\":%" PRIu64 "}",
                 reject_name(why), dev ? dev : "", sen ? sen : "", r->seq,
                 (r->flags & READING_HAS_SEQ) ? "true" : "false", r->ts_ms,
                 num(r->value, v, sizeof(v)), r->lsn);
    if (n <= 0 || (size_t)n >= sizeof(buf))
        return;
    memset(&m, 0, sizeof(m));
    m.kind = PUBLISH_REJECT;
    m.device = dev;
    m.sensor = sen;
    m.reason = reject_name(why);
    m.payload = (const uint8_t *)buf;
    m.len = (size_t)n;
    p->emit(p->ctx, &m);
    p->st.dead_letters++;
}

/* ---- Lifecycle --------------------------------------------------------- */

static int make_stages(struct pipeline *p, const struct pipeline_config *cfg,
                       char *err, size_t errlen)
{
    struct admit_config ac;
    size_t i;
    int rc;

    if ((rc = dedup_new(&p->dedup, &cfg->dedup)) != 0)
        return fail(err, errlen, rc, "dedup configuration refused (%s)",
                    strerror(-rc));
    if ((rc = validate_new(&p->validate, &cfg->validate)) != 0)
        return fail(err, errlen, rc, "validation configuration refused (%s)",
                    strerror(-rc));
    for (i = 0; i < cfg->nrules; i++) {
        const struct pipeline_rule *r = &cfg->rules[i];
        uint32_t id;
        if (intern_add(cfg->sensors, r->sensor, strlen(r->sensor), &id, NULL) !=
                0 ||
            (rc = validate_set_rule(p->validate, id, &r->rule)) != 0)
            return fail(err, errlen, -EINVAL, "rule for sensor \"%s\" refused",
                        r->sensor);
    }
    memset(&ac, 0, sizeof(ac));
    ac.dedup = p->dedup;
    ac.validate = p->validate;
    ac.on_accept = on_accept;
    ac.on_reject = on_reject;
    ac.ctx = p;
    if ((rc = admit_new(&p->admit, &ac)) != 0)
        return fail(err, errlen, rc, "admit refused (%s)", strerror(-rc));
    return 0;
}

int pipeline_new(struct pipeline **out, const struct pipeline_config *cfg,
                 char *err, size_t errlen)
{
    struct pipeline *p;
    size_t i;
    int rc;

    if (cfg->emit == NULL || cfg->devices == NULL || cfg->sensors == NULL)
        return fail(err, errlen, -EINVAL, "pipeline: missing parts");
    if ((p = calloc(1, sizeof(*p))) == NULL)
        return -ENOMEM;
    p->devices = cfg->devices;
    p->sensors = cfg->sensors;
    p->tick_ms = cfg->tick_ms > 0 ? cfg->tick_ms : 1000;
    p->dl_mask = cfg->dead_letter_mask;
    p->emit = cfg->emit;
    p->ctx = cfg->ctx;
    p->st.now_ms = INT64_MIN;
    if ((rc = make_stages(p, cfg, err, errlen)) != 0)
        goto out_free;
    rc = -ENOMEM;
    if (cfg->ntasks > 0 &&
        (p->task = calloc(cfg->ntasks, sizeof(*p->task))) == NULL)
        goto out_free;
    for (i = 0; i < cfg->ntasks; i++) {
        rc = task_new(&p->task[i], &cfg->tasks[i], cfg->sensors, cfg->devices,
                      intern_capacity(cfg->devices), cfg->emit, cfg->ctx, err,
                      errlen);
        if (rc != 0)
            goto out_free;
        p->ntasks++;
    }
    *out = p;
    return 0;
out_free:
    pipeline_free(p);
    return rc;
}

void pipeline_free(struct pipeline *p)
{
    size_t i;

    if (p == NULL)
        return;
    for (i = 0; i < p->ntasks; i++)
        task_free(p->task[i]);
    free(p->task);
    admit_free(p->admit);
    validate_free(p->validate);
    dedup_free(p->dedup);
    free(p);
}

/* ---- Operations -------------------------------------------------------- */

/* Move the clock to t (never back) and tick the tasks on a boundary. */
static void advance(struct pipeline *p, int64_t t)
{
    size_t i;

    if (t <= p->st.now_ms)
        return;
    p->st.now_ms = t;
    if (p->next_tick_ms == 0)
        p->next_tick_ms = t - t % p->tick_ms + p->tick_ms;
    if (t < p->next_tick_ms)
        return;
    for (i = 0; i < p->ntasks; i++)
        task_tick(p->task[i], t);
    p->next_tick_ms = t - t % p->tick_ms + p->tick_ms;
}

/* Add what admit counted between before and after to our counters (ours
 * survive checkpoints; admit's start from zero in every process). */
static void add_counts(struct pipeline *p, const struct admit_counts *before,
                       const struct admit_counts *after)
{
    int r;

    p->st.readings += after->records - before->records;
    p->st.accepted += after->accepted - before->accepted;
    p->st.msg_duplicates += after->msg_duplicates - before->msg_duplicates;
    p->st.restarts += after->restarts - before->restarts;
    for (r = 0; r < REJECT__COUNT; r++)
        p->st.rejects.n[r] += after->rejects.n[r] - before->rejects.n[r];
}

void pipeline_message(struct pipeline *p, const struct reading *msg, size_t n)
{
    const struct reading *meta = &msg[0];
    enum reject_reason why = decoder_meta_reason(meta);
    struct admit_counts before;
    struct admit_counts after;

    assert(meta->flags & DECODER_META);
    assert(n == 1u + meta->nrec);
    advance(p, meta->ts_ms);
    if (!(meta->flags & DECODER_META_CONT)) {
        p->st.messages++;
        p->st.by_format[decoder_meta_format(meta) % DECODER_FORMATS]++;
        p->st.bytes += (uint64_t)meta->value;
        /* SenML records without a number (proto/json.h). */
        p->st.rejects.n[REJECT_MISSING_FIELD] += meta->reserved;
    }
    if (meta->lsn > p->st.last_lsn)
        p->st.last_lsn = meta->lsn;
    if (why != REJECT_NONE || n < 2) {
        p->st.decode_rejects++;
        p->st.rejects.n[why < REJECT__COUNT ? why : REJECT_DECODE_ERROR]++;
        return;
    }
    admit_counts(p->admit, &before);
    admit_run(p->admit, msg + 1, n - 1, p->st.now_ms);
    admit_counts(p->admit, &after);
    add_counts(p, &before, &after);
}

size_t pipeline_run(struct pipeline *p, const struct reading *recs, size_t n)
{
    size_t i = 0;

    while (i < n) {
        size_t len;
        if (!(recs[i].flags & DECODER_META)) {
            p->framing_errors++;
            i++;
            continue;
        }
        len = 1u + recs[i].nrec;
        if (len > n - i)
            break;
        pipeline_message(p, recs + i, len);
        i += len;
    }
    return i;
}

void pipeline_dead_letter(struct pipeline *p, enum reject_reason reason,
                          const char *topic, const uint8_t *payload, size_t len,
                          size_t orig_len)
{
    struct publish_msg m;
    size_t need;
    char *buf;

    if ((unsigned)reason >= REJECT__COUNT || !(p->dl_mask & (1u << reason)))
        return;
    need = publish_reject_envelope(reject_name(reason), topic, payload, len,
                                   orig_len, NULL, 0);
    if ((buf = malloc(need + 1)) == NULL)
        return;
    publish_reject_envelope(reject_name(reason), topic, payload, len, orig_len,
                            buf, need + 1);
    memset(&m, 0, sizeof(m));
    m.kind = PUBLISH_REJECT;
    m.reason = reject_name(reason);
    m.orig_topic = topic;
    m.payload = (const uint8_t *)buf;
    m.len = need;
    p->emit(p->ctx, &m);
    p->st.dead_letters++;
    free(buf);
}

int pipeline_flush(struct pipeline *p)
{
    int first = 0;
    size_t i;

    for (i = 0; i < p->ntasks; i++) {
        int rc = task_flush(p->task[i]);
        if (rc != 0 && first == 0)
            first = rc;
    }
    return first;
}

/* ---- Introspection ----------------------------------------------------- */

void pipeline_stats(const struct pipeline *p, struct pipeline_stats *out)
{
    *out = p->st;
}

size_t pipeline_tasks(const struct pipeline *p)
{
    return p->ntasks;
}

const struct task *pipeline_task(const struct pipeline *p, size_t i)
{
    return i < p->ntasks ? p->task[i] : NULL;
}

uint64_t pipeline_framing_errors(const struct pipeline *p)
{
    return p->framing_errors;
}

/* ---- Checkpoints ------------------------------------------------------- */

static void put_stats(struct bytes_out *b, const struct pipeline_stats *s)
{
    int i;

    bytes_put_u64(b, s->messages);
    for (i = 0; i < DECODER_FORMATS; i++)
        bytes_put_u64(b, s->by_format[i]);
    bytes_put_u64(b, s->bytes);
    bytes_put_u64(b, s->decode_rejects);
    bytes_put_u64(b, s->readings);
    bytes_put_u64(b, s->accepted);
    bytes_put_u32(b, REJECT__COUNT);
    for (i = 0; i < REJECT__COUNT; i++)
        bytes_put_u64(b, s->rejects.n[i]);
    bytes_put_u64(b, s->msg_duplicates);
    bytes_put_u64(b, s->restarts);
    bytes_put_u64(b, s->dead_letters);
    bytes_put_u64(b, s->last_lsn);
    bytes_put_i64(b, s->now_ms);
}

/* Reject reasons are only ever added: an older image has fewer. */
static void get_stats(struct bytes_in *in, struct pipeline_stats *s)
{
    uint32_t nr;
    uint32_t i;

    memset(s, 0, sizeof(*s));
    s->messages = bytes_get_u64(in);
    for (i = 0; i < DECODER_FORMATS; i++)
        s->by_format[i] = bytes_get_u64(in);
    s->bytes = bytes_get_u64(in);
    s->decode_rejects = bytes_get_u64(in);
    s->readings = bytes_get_u64(in);
    s->accepted = bytes_get_u64(in);
    nr = bytes_get_u32(in);
    for (i = 0; i < nr && !in->bad; i++) {
        uint64_t v = bytes_get_u64(in);
        if (i < REJECT__COUNT)
            s->rejects.n[i] = v;
    }
    s->msg_duplicates = bytes_get_u64(in);
    s->restarts = bytes_get_u64(in);
    s->dead_letters = bytes_get_u64(in);
    s->last_lsn = bytes_get_u64(in);
    s->now_ms = bytes_get_i64(in);
}

static int put_dedup(const struct pipeline *p, struct bytes_out *b)
{
    size_t need = dedup_serialize(p->dedup, NULL, 0);
    uint8_t *img;

    if ((img = malloc(need ? need : 1)) == NULL)
        return -ENOMEM;
    dedup_serialize(p->dedup, img, need);
    bytes_put_blob(b, img, need);
    free(img);
    return 0;
}

static int put_validate(const struct pipeline *p, struct bytes_out *b)
{
    size_t need = validate_save(p->validate, NULL, 0);
    uint8_t *img;

    if ((img = malloc(need)) == NULL)
        return -ENOMEM;
    validate_save(p->validate, img, need);
    bytes_put_blob(b, img, need);
    free(img);
    return 0;
}

int pipeline_save(const struct pipeline *p, struct bytes_out *b)
{
    size_t i;

    bytes_put_u32(b, PIPELINE_MAGIC);
    bytes_put_u32(b, PIPELINE_FORMAT);
    put_stats(b, &p->st);
    bytes_put_i64(b, p->next_tick_ms);
    if (put_dedup(p, b) != 0 || put_validate(p, b) != 0)
        return -ENOMEM;
    bytes_put_u32(b, (uint32_t)p->ntasks);
    for (i = 0; i < p->ntasks; i++) {
        uint8_t *img = NULL;
        size_t len = 0;
        if (task_save(p->task[i], &img, &len) != 0)
            return -ENOMEM;
        bytes_put_str(b, task_name(p->task[i]));
        bytes_put_blob(b, img, len);
        free(img);
    }
    return b->failed ? -ENOMEM : 0;
}

static struct task *find_task(struct pipeline *p, const char *name)
{
    size_t i;

    for (i = 0; i < p->ntasks; i++)
        if (strcmp(task_name(p->task[i]), name) == 0)
            return p->task[i];
    return NULL;
}

/* Tasks: a saved task that no longer exists is skipped; one whose
 * configuration changed refuses its image and starts afresh. Both are
 * reported through the return of pipeline_restore_tasks(). */
static int restore_tasks(struct pipeline *p, struct bytes_in *in)
{
    uint32_t n = bytes_get_u32(in);
    uint32_t i;
    int first = 0;

    for (i = 0; i < n && !in->bad; i++) {
        char name[TASK_NAME_MAX + 1];
        const uint8_t *img;
        struct task *t;
        size_t len;
        int rc;
        bytes_get_str(in, name, sizeof(name));
        img = bytes_get_blob(in, &len);
        if (in->bad)
            return -EBADMSG;
        if ((t = find_task(p, name)) == NULL)
            continue;
        if ((rc = task_restore(t, img, len)) != 0 && first == 0)
            first = rc;
    }
    return in->bad ? -EBADMSG : first;
}

int pipeline_restore(struct pipeline *p, struct bytes_in *in)
{
    struct pipeline_stats st;
    const uint8_t *img, *vimg = NULL;
    int64_t next_tick;
    size_t len, vlen = 0;
    uint32_t format;
    int rc;

    if (bytes_get_u32(in) != PIPELINE_MAGIC)
        return -EBADMSG;
    format = bytes_get_u32(in);
    if (format != PIPELINE_FORMAT && format != PIPELINE_FORMAT_V1)
        return -EBADMSG;
    get_stats(in, &st);
    next_tick = bytes_get_i64(in);
    img = bytes_get_blob(in, &len);
    if (format == PIPELINE_FORMAT)
        vimg = bytes_get_blob(in, &vlen);
    if (in->bad || img == NULL || (format == PIPELINE_FORMAT && vimg == NULL))
        return -EBADMSG;
    if (vimg != NULL && (rc = validate_restore(p->validate, vimg, vlen)) != 0)
        return rc;
    if ((rc = dedup_deserialize(p->dedup, img, len)) != 0)
        return rc;
    p->st = st;
    p->next_tick_ms = next_tick;
    return restore_tasks(p, in);
}
