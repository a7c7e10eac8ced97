/* dedup.c -- per-device anti-replay windows and a content-hash set.
 *
 * Windows (RFC 6479). A device's window is a ring of `blocks` 64-bit words,
 * blocks a power of two >= window / 64 + 1. Sequence number s lives in bit
 * s % 64 of word (s / 64) % blocks. The spare word is what makes sliding
 * cheap: when top moves forward, the words between the old and new top
 * block are zeroed whole (at most `blocks` of them), and since the window
 * spans at most window / 64 + 1 words no live bit shares a word with a
 * cleared one. The check is then a shift, a mask and one word access; the
 * window test itself (top - seq < window) keeps the width exact. Devices
 * live in a dense array indexed by id: 24 bytes of header plus the words.
 *
 * Content hashes. Messages without a seq are remembered by a 64-bit hash
 * in a FIFO (insertion order is expiry order, since every entry lives
 * hold_ms) plus an open-addressing index (linear probing, at most half
 * full, backward-shift deletion so no tombstones build up). An entry leaves
 * the FIFO head when it expires, or early when the FIFO is full and a new
 * hash needs room (counted as an eviction). If now_ms steps backwards,
 * entries simply live longer; the bound on memory is unaffected. A 64-bit
 * hash collision between two different messages within hold_ms has
 * probability about n^2 / 2^65 -- for a million held hashes, 3e-8.
 *
 * Cost model: a seq check touches the device header and one word; a hash
 * check expires what is due (amortised O(1)), hashes the message's records
 * and probes the index once or twice. Nothing allocates after dedup_new().
 *
 * Serialised image (little-endian; all counts and sizes checked on load):
 *     "WDDP"  u32 version  u32 window  u32 0
 *     u64 ndev, then per device in increasing id order:
 *         u32 id  u32 flags(1 = has ts)  u64 top  i64 newest_ts
 *         window / 64 words, bit i of word j set if seq top - 64j - i
 *         was seen (a layout independent of `blocks`)
 *     u64 nhash, then per hash, oldest first: u64 hash  i64 expire_ms
 *     u64 FNV-1a of everything before it
 *
 * Threads: everything here runs on the thread that owns the struct dedup
 * (the loop thread). */
#include "stream/dedup.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "stream/internal.h" /* For the image codec. */

_Static_assert(DEDUP_DEFAULT_WINDOW % 64 == 0 && DEDUP_MAX_WINDOW % 64 == 0,
               "windows are whole 64-bit words");
_Static_assert(DEDUP_MAX_HASHES <= UINT32_MAX / 4,
               "FIFO positions and index size fit in 32 bits");

#define DEDUP_MAGIC 0x50444457u /* "WDDP" read as little-endian u32 */

struct dedup_dev {
    uint64_t top;      /* Highest accepted seq; valid when seen. */
    int64_t newest_ts; /* Newest trusted device ts; valid when has_ts. */
    uint8_t seen;      /* A message with a seq was accepted. */
    uint8_t has_ts;    /* newest_ts holds a device timestamp. */
};

struct dedup_hent {
    uint64_t hash;     /* Content hash of the message. */
    int64_t expire_ms; /* now_ms at insertion + hold_ms. */
};

struct dedup {
    struct dedup_config cfg;  /* Copy of the caller's; constant. */
    size_t blocks;            /* Words per device window, a power of 2. */
    struct dedup_dev *dev;    /* cfg.max_devices headers. */
    uint64_t *bits;           /* cfg.max_devices x blocks words. */
    struct dedup_hent *fifo;  /* cfg.hash_capacity entries, a ring. */
    size_t fifo_head;         /* Oldest entry's position. */
    size_t fifo_len;          /* Entries held. */
    uint32_t *index;          /* index_mask + 1 slots: FIFO pos + 1, or 0. */
    size_t index_mask;        /* Index slots - 1. */
    struct dedup_stats stats; /* Counters. */
};

struct dedup_config dedup_config_default(size_t max_devices)
{
    struct dedup_config c = {
        .max_devices = max_devices,
        .window = DEDUP_DEFAULT_WINDOW,
        .hash_capacity = 65536,
        .hold_ms = 10 * 60 * 1000,
        .ts_future_ms = 5 * 60 * 1000,
    };
    return c;
}

static bool dedup_config_ok(const struct dedup_config *c)
{
    return c->max_devices >= 1 && c->max_devices <= DEDUP_MAX_DEVICES &&
           c->window >= 64 && c->window <= DEDUP_MAX_WINDOW &&
           c->window % 64 == 0 && c->hash_capacity >= 1 &&
           c->hash_capacity <= DEDUP_MAX_HASHES && c->hold_ms >= 0 &&
           c->ts_future_ms >= 0;
}

static size_t pow2_at_least(size_t n)
{
    size_t p = 1;

    while (p < n)
        p <<= 1;
    return p;
}

int dedup_new(struct dedup **out, const struct dedup_config *cfg)
{
    struct dedup *d;

    if (!dedup_config_ok(cfg))
        return -EINVAL;
    if ((d = calloc(1, sizeof(*d))) == NULL)
        return -ENOMEM;
    d->cfg = *cfg;
    d->blocks = pow2_at_least(cfg->window / 64 + 1);
    d->index_mask = pow2_at_least(2 * cfg->hash_capacity) - 1;
    if ((d->dev = calloc(cfg->max_devices, sizeof(*d->dev))) == NULL)
        goto out_free_d;
    /* calloc() checks the product: no overflow on 32-bit targets. */
    if ((d->bits = calloc(cfg->max_devices, d->blocks * sizeof(uint64_t))) ==
        NULL)
        goto out_free_dev;
    if ((d->fifo = calloc(cfg->hash_capacity, sizeof(*d->fifo))) == NULL)
        goto out_free_bits;
    if ((d->index = calloc(d->index_mask + 1, sizeof(*d->index))) == NULL)
        goto out_free_fifo;
    *out = d;
    return 0;
out_free_fifo:
    free(d->fifo);
out_free_bits:
    free(d->bits);
out_free_dev:
    free(d->dev);
out_free_d:
    free(d);
    return -ENOMEM;
}

void dedup_free(struct dedup *d)
{
    if (d == NULL)
        return;
    free(d->index);
    free(d->fifo);
    free(d->bits);
    free(d->dev);
    free(d);
}

/* ---- Sequence windows -------------------------------------------------- */

static uint64_t *dedup_words(const struct dedup *d, uint32_t id)
{
    return d->bits + (size_t)id * d->blocks;
}

/* Open (or reopen) a device's window so that it ends at seq. */
static void dedup_window_reset(struct dedup *d, uint32_t id, uint64_t seq)
{
    uint64_t *w = dedup_words(d, id);

    memset(w, 0, d->blocks * sizeof(*w));
    w[(seq >> 6) & (d->blocks - 1)] = 1ULL << (seq & 63);
    d->dev[id].top = seq;
    d->dev[id].seen = 1;
}

/* Slide the window forward so it ends at seq > top, and mark seq. */
static void dedup_window_advance(struct dedup *d, uint32_t id, uint64_t seq)
{
    uint64_t *w = dedup_words(d, id);
    uint64_t from = d->dev[id].top >> 6;
    uint64_t steps = (seq >> 6) - from;

    if (steps >= d->blocks)
        steps = d->blocks; /* everything old falls out */
    for (uint64_t b = 1; b <= steps; b++)
        w[(from + b) & (d->blocks - 1)] = 0;
    w[(seq >> 6) & (d->blocks - 1)] |= 1ULL << (seq & 63);
    d->dev[id].top = seq;
}

/* A device timestamp that may become the newest (see the header). */
static bool dedup_ts_trusted(const struct dedup *d, const struct reading *r,
                             int64_t now_ms)
{
    /* Unsigned difference: device timestamps are arbitrary int64s and
     * must not overflow a signed subtraction. */
    return (r->flags & READING_HAS_TS) &&
           (r->ts_ms <= now_ms || (uint64_t)r->ts_ms - (uint64_t)now_ms <=
                                      (uint64_t)d->cfg.ts_future_ms);
}

static void dedup_note_ts(struct dedup *d, const struct reading *r,
                          int64_t now_ms)
{
    struct dedup_dev *v = &d->dev[r->device_id];

    if (!dedup_ts_trusted(d, r, now_ms))
        return;
    if (!v->has_ts || r->ts_ms > v->newest_ts)
        v->newest_ts = r->ts_ms;
    v->has_ts = 1;
}

/* seq is behind top and would be refused with reason why: accept it as a
 * counter restart if its device timestamp is newer than any accepted. */
static enum reject_reason dedup_behind(struct dedup *d, const struct reading *r,
                                       int64_t now_ms, enum reject_reason why)
{
    struct dedup_dev *v = &d->dev[r->device_id];

    if (!dedup_ts_trusted(d, r, now_ms) || !v->has_ts ||
        r->ts_ms <= v->newest_ts) {
        if (why == REJECT_STALE)
            d->stats.stale++;
        else
            d->stats.duplicates++;
        return why;
    }
    dedup_window_reset(d, r->device_id, r->seq);
    d->stats.restarts++;
    return REJECT_NONE;
}

static enum reject_reason
dedup_check_seq(struct dedup *d, const struct reading *r, int64_t now_ms)
{
    struct dedup_dev *v = &d->dev[r->device_id];
    uint64_t seq = r->seq;
    uint64_t *word;
    uint64_t bit;

    if (!v->seen) {
        dedup_window_reset(d, r->device_id, seq);
    } else if (seq > v->top) {
        dedup_window_advance(d, r->device_id, seq);
    } else if (v->top - seq >= d->cfg.window) {
        if (dedup_behind(d, r, now_ms, REJECT_STALE) != REJECT_NONE)
            return REJECT_STALE;
    } else {
        word = &dedup_words(d, r->device_id)[(seq >> 6) & (d->blocks - 1)];
        bit = 1ULL << (seq & 63);
        if ((*word & bit) &&
            dedup_behind(d, r, now_ms, REJECT_DUPLICATE) != REJECT_NONE)
            return REJECT_DUPLICATE;
        *word |= bit; /* harmless after a restart reset: already set */
    }
    dedup_note_ts(d, r, now_ms);
    return REJECT_NONE;
}

/* ---- Content hashes ---------------------------------------------------- */

static uint64_t mix64(uint64_t h)
{
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
}

static uint64_t dedup_hash(const struct reading *msg, size_t n)
{
    uint64_t h = mix64(0x6a09e667f3bcc909ULL ^ msg[0].device_id);

    for (size_t i = 0; i < n; i++) {
        uint64_t v;

        memcpy(&v, &msg[i].value, sizeof(v));
        h = mix64(h ^ msg[i].sensor_id);
        h = mix64(h ^ (uint64_t)msg[i].ts_ms);
        h = mix64(h ^ v);
    }
    return h;
}

/* Index slot holding FIFO position pos + 1 for hash h, or the empty slot
 * where h would go (pos == SIZE_MAX: find h itself). */
static size_t dedup_probe(const struct dedup *d, uint64_t h, size_t pos)
{
    size_t i = (size_t)h & d->index_mask;

    for (;; i = (i + 1) & d->index_mask) {
        uint32_t s = d->index[i];

        if (s == 0)
            return i;
        if (pos == SIZE_MAX ? d->fifo[s - 1].hash == h : s - 1 == pos)
            return i;
    }
}

/* Remove index slot i, shifting later members of its probe run back so
 * every remaining entry stays reachable (Knuth's algorithm R). */
static void dedup_index_delete(struct dedup *d, size_t i)
{
    size_t j = i;

    for (;;) {
        size_t home;

        j = (j + 1) & d->index_mask;
        if (d->index[j] == 0)
            break;
        home = (size_t)d->fifo[d->index[j] - 1].hash & d->index_mask;
        /* Leave j alone if its home lies cyclically in (i, j]. */
        if (((j - home) & d->index_mask) < ((j - i) & d->index_mask))
            continue;
        d->index[i] = d->index[j];
        i = j;
    }
    d->index[i] = 0;
}

static void dedup_pop_oldest(struct dedup *d)
{
    size_t pos = d->fifo_head;

    dedup_index_delete(d, dedup_probe(d, d->fifo[pos].hash, pos));
    d->fifo_head = pos + 1 == d->cfg.hash_capacity ? 0 : pos + 1;
    d->fifo_len--;
}

static void dedup_push_hash(struct dedup *d, uint64_t h, int64_t expire_ms)
{
    size_t pos;

    if (d->fifo_len == d->cfg.hash_capacity) {
        dedup_pop_oldest(d);
        d->stats.hash_evictions++;
    }
    pos = d->fifo_head + d->fifo_len;
    if (pos >= d->cfg.hash_capacity)
        pos -= d->cfg.hash_capacity;
    d->fifo[pos].hash = h;
    d->fifo[pos].expire_ms = expire_ms;
    d->index[dedup_probe(d, h, SIZE_MAX)] = (uint32_t)pos + 1;
    d->fifo_len++;
}

static enum reject_reason dedup_check_hash(struct dedup *d,
                                           const struct reading *msg, size_t n,
                                           int64_t now_ms)
{
    uint64_t h;

    while (d->fifo_len > 0 && d->fifo[d->fifo_head].expire_ms <= now_ms) {
        dedup_pop_oldest(d);
        d->stats.hash_expired++;
    }
    h = dedup_hash(msg, n);
    if (d->index[dedup_probe(d, h, SIZE_MAX)] != 0) {
        d->stats.duplicates++;
        return REJECT_DUPLICATE;
    }
    dedup_push_hash(d, h,
                    now_ms > INT64_MAX - d->cfg.hold_ms
                        ? INT64_MAX
                        : now_ms + d->cfg.hold_ms);
    dedup_note_ts(d, &msg[0], now_ms);
    return REJECT_NONE;
}

/* ---- Operations -------------------------------------------------------- */

enum reject_reason dedup_check(struct dedup *d, const struct reading *msg,
                               size_t n, int64_t now_ms)
{
    enum reject_reason why;

    assert(n >= 1);
    if (msg[0].device_id >= d->cfg.max_devices) {
        d->stats.bad_device++;
        return REJECT_TABLE_FULL;
    }
    if (msg[0].flags & READING_HAS_SEQ)
        why = dedup_check_seq(d, &msg[0], now_ms);
    else
        why = dedup_check_hash(d, msg, n, now_ms);
    d->stats.accepted += why == REJECT_NONE;
    return why;
}

void dedup_prefetch(const struct dedup *d, const struct reading *r)
{
    if (r->device_id >= d->cfg.max_devices)
        return;
    __builtin_prefetch(&d->dev[r->device_id], 1);
    if (r->flags & READING_HAS_SEQ)
        __builtin_prefetch(
            &dedup_words(d, r->device_id)[(r->seq >> 6) & (d->blocks - 1)], 1);
}

void dedup_stats(const struct dedup *d, struct dedup_stats *out)
{
    *out = d->stats;
}

const struct dedup_config *dedup_config(const struct dedup *d)
{
    return &d->cfg;
}

/* ---- Checkpoints ------------------------------------------------------- */

/* Whether seq = top - k was seen (k < window). */
static bool dedup_seen(const struct dedup *d, uint32_t id, uint64_t k)
{
    uint64_t s = d->dev[id].top - k;

    if (k > d->dev[id].top)
        return false;
    return dedup_words(d, id)[(s >> 6) & (d->blocks - 1)] >> (s & 63) & 1;
}

static void dedup_put_device(const struct dedup *d, struct stream__out *o,
                             uint32_t id)
{
    const struct dedup_dev *v = &d->dev[id];

    stream__put(o, id, 4);
    stream__put(o, v->has_ts, 4);
    stream__put(o, v->top, 8);
    stream__put(o, (uint64_t)v->newest_ts, 8);
    for (uint64_t j = 0; j < d->cfg.window / 64; j++) {
        uint64_t w = 0;
        for (uint64_t i = 0; i < 64; i++)
            w |= (uint64_t)dedup_seen(d, id, 64 * j + i) << i;
        stream__put(o, w, 8);
    }
}

size_t dedup_serialize(const struct dedup *d, uint8_t *buf, size_t cap)
{
    struct stream__out o = stream__img_out(buf, cap);
    uint64_t ndev = 0;

    for (size_t i = 0; i < d->cfg.max_devices; i++)
        ndev += d->dev[i].seen;
    stream__put(&o, DEDUP_MAGIC, 4);
    stream__put(&o, DEDUP_FORMAT_VERSION, 4);
    stream__put(&o, d->cfg.window, 4);
    stream__put(&o, 0, 4);
    stream__put(&o, ndev, 8);
    for (size_t i = 0; i < d->cfg.max_devices; i++)
        if (d->dev[i].seen)
            dedup_put_device(d, &o, (uint32_t)i);
    stream__put(&o, d->fifo_len, 8);
    for (size_t k = 0, p = d->fifo_head; k < d->fifo_len; k++) {
        stream__put(&o, d->fifo[p].hash, 8);
        stream__put(&o, (uint64_t)d->fifo[p].expire_ms, 8);
        p = p + 1 == d->cfg.hash_capacity ? 0 : p + 1;
    }
    return stream__img_end(&o);
}

/* The parsed header of an image. */
struct dedup_image {
    uint32_t window; /* Width the image was written with. */
    uint64_t ndev;   /* Device records. */
    size_t dev_at;   /* Offset of the first device record. */
    uint64_t nhash;  /* Hash records. */
    size_t hash_at;  /* Offset of the first hash record. */
};

/* Pass 1: check everything without touching d. */
static int dedup_verify(const struct dedup *d, const uint8_t *buf, size_t len,
                        struct dedup_image *im)
{
    struct stream__in in;
    size_t rec;
    int64_t last = -1;
    int rc;

    /* Header, two counts and the checksum: 40 bytes at least. */
    if ((rc = stream__img_open(&in, buf, len, DEDUP_MAGIC, DEDUP_FORMAT_VERSION,
                               40)) != 0)
        return rc;
    im->window = (uint32_t)stream__get(&in, 4);
    if (stream__get(&in, 4) != 0 || im->window < 64 ||
        im->window > DEDUP_MAX_WINDOW || im->window % 64 != 0)
        return -EBADMSG;
    im->ndev = stream__get(&in, 8);
    im->dev_at = in.at;
    rec = 24 + im->window / 8;
    if (in.bad || im->ndev > (in.len - in.at) / rec)
        return -EBADMSG;
    for (uint64_t k = 0; k < im->ndev; k++) {
        uint64_t id = stream__get(&in, 4);
        if ((int64_t)id <= last || stream__get(&in, 4) > 1)
            return -EBADMSG; /* ids strictly increase; flags 0 or 1 */
        if (id >= d->cfg.max_devices)
            return -ENOSPC;
        last = (int64_t)id;
        in.at += rec - 8;
    }
    im->nhash = stream__get(&in, 8);
    im->hash_at = in.at;
    if (in.bad || im->nhash != (in.len - in.at) / 16 ||
        (in.len - in.at) % 16 != 0)
        return -EBADMSG;
    return 0;
}

/* Pass 2: load one device record at in->at. */
static void dedup_load_device(struct dedup *d, struct stream__in *in,
                              uint32_t window)
{
    uint32_t id = (uint32_t)stream__get(in, 4);
    struct dedup_dev *v = &d->dev[id];
    uint64_t keep = window < d->cfg.window ? window : d->cfg.window;
    size_t words_at;

    v->has_ts = (uint8_t)stream__get(in, 4);
    v->top = stream__get(in, 8);
    v->newest_ts = (int64_t)stream__get(in, 8);
    dedup_window_reset(d, id, v->top);
    words_at = in->at;
    for (uint64_t k = 1; k < keep && k <= v->top; k++) {
        uint64_t s = v->top - k;
        uint8_t byte = in->buf[words_at + k / 8];
        if (byte >> (k % 8) & 1)
            dedup_words(d, id)[(s >> 6) & (d->blocks - 1)] |= 1ULL << (s & 63);
    }
    in->at = words_at + window / 8;
}

int dedup_deserialize(struct dedup *d, const uint8_t *buf, size_t len)
{
    struct dedup_image im;
    struct stream__in in = stream__img_in(buf, len);
    uint64_t skip;
    int rc;

    if ((rc = dedup_verify(d, buf, len, &im)) != 0)
        return rc;
    memset(d->dev, 0, d->cfg.max_devices * sizeof(*d->dev));
    memset(d->index, 0, (d->index_mask + 1) * sizeof(*d->index));
    d->fifo_head = 0;
    d->fifo_len = 0;
    in.at = im.dev_at;
    for (uint64_t k = 0; k < im.ndev; k++)
        dedup_load_device(d, &in, im.window);
    /* Keep the newest hashes if there are more than we can hold. */
    skip =
        im.nhash > d->cfg.hash_capacity ? im.nhash - d->cfg.hash_capacity : 0;
    in.at = im.hash_at + 16 * skip;
    for (uint64_t k = skip; k < im.nhash; k++) {
        uint64_t h = stream__get(&in, 8);
        int64_t exp = (int64_t)stream__get(&in, 8);
        if (d->index[dedup_probe(d, h, SIZE_MAX)] == 0)
            dedup_push_hash(d, h, exp);
    }
    return 0;
}
