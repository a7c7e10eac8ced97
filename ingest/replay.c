/* replay.c -- recorded messages through decoder + pipeline on one thread.
 *
 * Captures are read in 64 KiB chunks into a buffer that grows to hold one
 * whole record (bounded by REPLAY_MAX_PAYLOAD plus a topic), so a file of
 * any size is replayed in bounded memory. CSV rows are re-encoded as
 * ReadingBatch payloads so that they pass the exact decode path MQTT
 * traffic does.
 *
 * Threads: the caller's thread only (see replay.h). */
#include "ingest/replay.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ingest/csvsrc.h"
#include "ingest/wal.h"
#include "proto/codec.h"

#define CHUNK (64u << 10)
#define TOPIC_CAP 65536u

void replay_feed(struct decoder *d, struct pipeline *p,
                 const struct decoder_input *in, struct replay_stats *st)
{
    struct reading recs[DECODER_MAX_RECORDS];
    enum reject_reason why;
    size_t n = decoder_decode(d, in, recs, &why);

    if (why != REJECT_NONE) {
        char topic[TOPIC_CAP + 1];
        size_t tl = in->topic_len < TOPIC_CAP ? in->topic_len : TOPIC_CAP;
        memcpy(topic, in->topic, tl);
        topic[tl] = '\0';
        pipeline_dead_letter(p, why, topic, in->payload, in->len, in->len);
        if (st != NULL)
            st->rejected++;
    }
    /* A SenML pack may be several groups: pipeline_run() splits them. */
    pipeline_run(p, recs, n);
    if (st != NULL)
        st->messages++;
}

/* ---- Captures ---------------------------------------------------------- */

struct capture_reader {
    int fd;           /* Input. */
    uint8_t *buf;     /* Unparsed bytes at buf[at..len). */
    size_t len;       /* Bytes in buf. */
    size_t at;        /* Parse position. */
    size_t cap;       /* Allocated. */
    bool eof;         /* read() returned 0. */
    char *topic;      /* TOPIC_CAP + 1 bytes. */
    uint8_t *payload; /* REPLAY_MAX_PAYLOAD bytes. */
};

/* Read more input; grows buf up to one whole record. 0, or -errno. */
static int capture_fill(struct capture_reader *r)
{
    ssize_t got;

    if (r->at > 0) {
        memmove(r->buf, r->buf + r->at, r->len - r->at);
        r->len -= r->at;
        r->at = 0;
    }
    if (r->cap - r->len < CHUNK) {
        size_t cap = r->cap * 2;
        uint8_t *b;
        if (cap > 2 * (REPLAY_MAX_PAYLOAD + TOPIC_CAP) + CHUNK)
            return -EMSGSIZE;
        if ((b = realloc(r->buf, cap)) == NULL)
            return -ENOMEM;
        r->buf = b;
        r->cap = cap;
    }
    got = read(r->fd, r->buf + r->len, r->cap - r->len);
    if (got < 0)
        return errno == EINTR ? 0 : -errno;
    if (got == 0)
        r->eof = true;
    r->len += (size_t)got;
    return 0;
}

/* Next capture as a decoder input: 1, 0 at the end, or -errno. */
static int capture_next(struct capture_reader *r, struct decoder_input *in,
                        uint64_t index, struct replay_stats *st)
{
    struct codec_capture c;
    size_t used = 0;
    int rc;

    for (;;) {
        rc = codec_decode_capture(r->buf + r->at, r->len - r->at, &used, &c,
                                  r->topic, TOPIC_CAP + 1, r->payload,
                                  REPLAY_MAX_PAYLOAD);
        if (rc == 0)
            break;
        if (rc != -EAGAIN)
            return rc;
        if (r->eof) {
            if (r->len > r->at && st != NULL)
                st->bad_records++; /* a truncated last record */
            return 0;
        }
        if ((rc = capture_fill(r)) != 0)
            return rc;
    }
    r->at += used;
    in->topic = c.topic;
    in->topic_len = strlen(c.topic);
    in->payload = c.payload;
    in->len = c.payload_len;
    in->qos = c.qos;
    in->recv_ms = c.recv_ns >= 0 ? c.recv_ns / 1000000
                                 : -((-c.recv_ns + 999999) / 1000000);
    in->lsn = index;
    return 1;
}

int replay_capture(const char *path, struct decoder *d, struct pipeline *p,
                   struct replay_stats *st, char *err, size_t errlen)
{
    struct capture_reader r;
    struct decoder_input in;
    uint64_t index = 0;
    int rc = -ENOMEM;

    memset(&r, 0, sizeof(r));
    r.fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC);
    if (r.fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "%s: %s", path, strerror(-rc));
        return rc;
    }
    r.cap = 4 * CHUNK;
    r.buf = malloc(r.cap);
    r.topic = malloc(TOPIC_CAP + 1);
    r.payload = malloc(REPLAY_MAX_PAYLOAD);
    if (r.buf != NULL && r.topic != NULL && r.payload != NULL)
        while ((rc = capture_next(&r, &in, ++index, st)) == 1)
            replay_feed(d, p, &in, st);
    if (rc < 0)
        snprintf(err, errlen, "%s: record %llu: %s", path,
                 (unsigned long long)index, strerror(-rc));
    if (r.fd > 0)
        close(r.fd);
    free(r.payload);
    free(r.topic);
    free(r.buf);
    return rc < 0 ? rc : 0;
}

/* ---- CSV --------------------------------------------------------------- */

/* One CSV row as a ReadingBatch message on "csv/<device>". */
static void csv_feed(const struct csvsrc_row *row, struct codec_msg *m,
                     uint8_t *buf, size_t cap, struct decoder *d,
                     struct pipeline *p, struct replay_stats *st)
{
    struct decoder_input in;
    char topic[CODEC_NAME_MAX + 8];
    size_t i;
    size_t len;

    memset(m, 0, sizeof(*m));
    snprintf(m->device, sizeof(m->device), "%s", row->device);
    m->has_seq = m->has_ts = true;
    m->seq = row->index;
    m->ts_ms = row->ts_ms;
    for (i = 0; i < row->n && m->n < CODEC_MAX_METRICS; i++) {
        struct codec_metric *c = &m->m[m->n];
        if (!row->v[i].present)
            continue;
        snprintf(c->name, sizeof(c->name), "%s", row->v[i].name);
        c->value = row->v[i].value;
        c->has_value = true;
        c->is_label = row->v[i].is_label;
        m->n++;
    }
    if (m->n == 0 || (len = codec_encode_batch(m, buf, cap)) == 0) {
        st->csv_bad++;
        return;
    }
    snprintf(topic, sizeof(topic), "csv/%s", row->device);
    in.topic = topic;
    in.topic_len = strlen(topic);
    in.payload = buf;
    in.len = len;
    in.qos = 1;
    in.recv_ms = row->ts_ms;
    in.lsn = row->index + 1;
    replay_feed(d, p, &in, st);
    st->csv_rows++;
}

int replay_csv(const char *path, const char *spec, struct decoder *d,
               struct pipeline *p, struct replay_stats *st, char *err,
               size_t errlen)
{
    struct replay_stats local;
    struct csvsrc_stats cs;
    struct csvsrc_map map;
    struct csvsrc_row row;
    struct csvsrc *src = NULL;
    struct codec_msg *m = NULL;
    uint8_t *buf = NULL;
    int rc;

    if (st == NULL)
        st = memset(&local, 0, sizeof(local));
    csvsrc_map_init(&map);
    if (spec != NULL && spec[0] != '\0' &&
        (rc = csvsrc_map_parse(&map, spec, err, errlen)) != 0)
        return rc;
    if ((rc = csvsrc_open(&src, path, &map, err, errlen)) != 0)
        return rc;
    rc = -ENOMEM;
    m = malloc(sizeof(*m));
    buf = malloc(CODEC_MAX_PAYLOAD);
    if (m != NULL && buf != NULL)
        while ((rc = csvsrc_next(src, &row)) == 1)
            csv_feed(&row, m, buf, CODEC_MAX_PAYLOAD, d, p, st);
    if (rc < 0 && rc != -ENOMEM)
        snprintf(err, errlen, "%s", csvsrc_error(src));
    csvsrc_stats(src, &cs);
    for (int i = 0; i < CSVSRC_BAD__COUNT; i++)
        st->csv_bad += cs.bad[i];
    csvsrc_free(src);
    free(buf);
    free(m);
    return rc < 0 ? rc : 0;
}

/* ---- Ingest log -------------------------------------------------------- */

struct wal_ctx {
    struct decoder *d;
    struct pipeline *p;
    struct replay_stats *st;
};

/* Called on: the replaying thread, inside wal_replay(). */
static int wal_one(void *ctx, const struct wal_record *rec)
{
    struct wal_ctx *w = ctx;
    struct decoder_input in;

    in.topic = rec->topic;
    in.topic_len = rec->topic_len;
    in.payload = rec->payload;
    in.len = rec->payload_len;
    in.qos = rec->qos;
    in.recv_ms = rec->recv_ns >= 0 ? rec->recv_ns / 1000000
                                   : -((-rec->recv_ns + 999999) / 1000000);
    in.lsn = rec->lsn;
    replay_feed(w->d, w->p, &in, w->st);
    w->st->last_lsn = rec->lsn;
    return 0;
}

int replay_wal(const char *dir, uint64_t from_lsn, struct decoder *d,
               struct pipeline *p, struct replay_stats *st, char *err,
               size_t errlen)
{
    struct replay_stats local;
    struct wal_scan_stats ws;
    struct wal_ctx w;
    int rc;

    if (st == NULL)
        st = memset(&local, 0, sizeof(local));
    w.d = d;
    w.p = p;
    w.st = st;
    memset(&ws, 0, sizeof(ws));
    rc = wal_replay(dir, from_lsn, wal_one, &w, &ws);
    st->bad_records += ws.lost_records + (ws.corrupt_bytes ? 1 : 0);
    if (rc != 0)
        snprintf(err, errlen, "%s: %s", dir, strerror(rc < 0 ? -rc : rc));
    return rc;
}
