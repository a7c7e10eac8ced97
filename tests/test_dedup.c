/* test_dedup.c -- anti-replay windows, counter restarts, content hashes
 * with expiry and eviction, checkpoints, and seeded differential runs of
 * the window (against a plain bit array of every seq) and of the hash set
 * (against a FIFO list searched linearly).
 * Threads: single-threaded. */
#include "stream/dedup.h"
#include "tests/harness.h"

#include <errno.h>
#include <stdbool.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SLOW_BUILD 1
#endif
#ifdef SLOW_BUILD
#define DIFF_OPS 200000u
#else
#define DIFF_OPS 2000000u
#endif

#define NOW 1700000000000LL /* a plausible now_ms */

static struct reading msg_seq(uint32_t dev, uint64_t seq, int64_t ts,
                              bool has_ts)
{
    struct reading r;

    memset(&r, 0, sizeof(r));
    r.device_id = dev;
    r.seq = seq;
    r.ts_ms = ts;
    r.flags =
        READING_HAS_SEQ | READING_MSG_FIRST | (has_ts ? READING_HAS_TS : 0);
    r.nrec = 1;
    r.value = 1.0;
    return r;
}

static enum reject_reason check_seq(struct dedup *d, uint32_t dev, uint64_t seq,
                                    int64_t ts)
{
    struct reading r = msg_seq(dev, seq, ts, true);

    return dedup_check(d, &r, 1, NOW);
}

static struct dedup *make(size_t devices, uint32_t window, size_t hashes,
                          int64_t hold_ms)
{
    struct dedup_config c = dedup_config_default(devices);
    struct dedup *d = NULL;

    c.window = window;
    c.hash_capacity = hashes;
    c.hold_ms = hold_ms;
    ASSERT_EQ(dedup_new(&d, &c), 0);
    return d;
}

static void dedup_rejects_bad_config(void)
{
    struct dedup_config c = dedup_config_default(10);
    struct dedup *d;

    ASSERT_EQ(c.window, DEDUP_DEFAULT_WINDOW);
    c.window = 100; /* not a multiple of 64 */
    ASSERT_EQ(dedup_new(&d, &c), -EINVAL);
    c = dedup_config_default(0);
    ASSERT_EQ(dedup_new(&d, &c), -EINVAL);
    c = dedup_config_default(10);
    c.hash_capacity = 0;
    ASSERT_EQ(dedup_new(&d, &c), -EINVAL);
    c = dedup_config_default(10);
    c.hold_ms = -1;
    ASSERT_EQ(dedup_new(&d, &c), -EINVAL);
    dedup_free(NULL);
}

static void dedup_window_basics(void)
{
    struct dedup *d = make(4, 1024, 16, 1000);
    struct dedup_stats st;

    ASSERT_EQ(check_seq(d, 0, 5000, 10), REJECT_NONE); /* opens at 5000 */
    ASSERT_EQ(check_seq(d, 0, 5000, 10), REJECT_DUPLICATE);
    ASSERT_EQ(check_seq(d, 0, 5001, 11), REJECT_NONE);
    ASSERT_EQ(check_seq(d, 0, 4990, 9), REJECT_NONE); /* late, in window */
    ASSERT_EQ(check_seq(d, 0, 4990, 9), REJECT_DUPLICATE);
    /* Edges: top 5001, window 1024: 3978 is the oldest still inside. */
    ASSERT_EQ(check_seq(d, 0, 5001 - 1023, 1), REJECT_NONE);
    ASSERT_EQ(check_seq(d, 0, 5001 - 1024, 1), REJECT_STALE);
    ASSERT_EQ(check_seq(d, 0, 0, 1), REJECT_STALE);
    /* Devices are independent. */
    ASSERT_EQ(check_seq(d, 1, 5000, 10), REJECT_NONE);
    ASSERT_EQ(check_seq(d, 1, 0, 10), REJECT_STALE);
    /* A jump far ahead forgets everything older than the new window. */
    ASSERT_EQ(check_seq(d, 0, 1000000, 20), REJECT_NONE);
    ASSERT_EQ(check_seq(d, 0, 1000000 - 1023, 20), REJECT_NONE);
    ASSERT_EQ(check_seq(d, 0, 1000000 - 1023, 20), REJECT_DUPLICATE);
    ASSERT_EQ(check_seq(d, 0, 5001, 11), REJECT_STALE);
    /* seq 0 and the top of the range are ordinary numbers. */
    ASSERT_EQ(check_seq(d, 2, 0, 1), REJECT_NONE);
    ASSERT_EQ(check_seq(d, 2, 0, 1), REJECT_DUPLICATE);
    ASSERT_EQ(check_seq(d, 3, UINT64_MAX, 1), REJECT_NONE);
    ASSERT_EQ(check_seq(d, 3, UINT64_MAX - 1, 1), REJECT_NONE);
    ASSERT_EQ(check_seq(d, 3, UINT64_MAX, 1), REJECT_DUPLICATE);
    /* Device ids past the table are refused, not indexed (nor
     * prefetched). */
    {
        struct reading r = msg_seq(4, 1, 1, true);
        dedup_prefetch(d, &r);
        r = msg_seq(3, 77, 1, true);
        dedup_prefetch(d, &r); /* a hint: changes nothing */
    }
    ASSERT_EQ(check_seq(d, 4, 1, 1), REJECT_TABLE_FULL);
    dedup_stats(d, &st);
    ASSERT_EQ(st.accepted, 10);
    ASSERT_EQ(st.duplicates, 5);
    ASSERT_EQ(st.stale, 4);
    ASSERT_EQ(st.bad_device, 1);
    ASSERT_EQ(st.restarts, 0);
    dedup_free(d);
}

static void dedup_counter_restart(void)
{
    struct dedup *d = make(2, 1024, 16, 1000);
    struct reading r;
    struct dedup_stats st;

    for (uint64_t s = 1; s <= 5000; s++)
        ASSERT_EQ(check_seq(d, 0, s, NOW - 100000 + (int64_t)s), REJECT_NONE);
    /* A retransmit of an old message carries its old timestamp: stale. */
    ASSERT_EQ(check_seq(d, 0, 10, NOW - 100000 + 10), REJECT_STALE);
    /* The same seq without a device timestamp can't prove it is new. */
    r = msg_seq(0, 10, NOW, false);
    ASSERT_EQ(dedup_check(d, &r, 1, NOW), REJECT_STALE);
    /* The device rebooted: seq 1 again, timestamp newer than any: restart. */
    ASSERT_EQ(check_seq(d, 0, 1, NOW - 1000), REJECT_NONE);
    ASSERT_EQ(check_seq(d, 0, 1, NOW - 1000), REJECT_DUPLICATE);
    ASSERT_EQ(check_seq(d, 0, 2, NOW - 999), REJECT_NONE);
    /* Old seqs from before the reboot are now far ahead of top = 2, but
     * a pre-reboot retransmit of a seq now inside the new window is a
     * duplicate only if seen since the reset: 2 was, so with its old
     * (not newer) timestamp it stays a duplicate. */
    ASSERT_EQ(check_seq(d, 0, 2, NOW - 100000 + 2), REJECT_DUPLICATE);
    /* A quick reboot: seq goes back inside the window onto a seen seq,
     * with a newer timestamp: also a restart, not a duplicate. */
    ASSERT_EQ(check_seq(d, 0, 1, NOW - 500), REJECT_NONE);
    ASSERT_EQ(check_seq(d, 0, 2, NOW - 499), REJECT_NONE);
    dedup_stats(d, &st);
    ASSERT_EQ(st.restarts, 2);
    ASSERT_EQ(st.stale, 2);
    ASSERT_EQ(st.duplicates, 2);
    dedup_free(d);
}

static void dedup_future_ts_does_not_block_restarts(void)
{
    struct dedup *d = make(1, 1024, 16, 1000);
    struct dedup_stats st;

    ASSERT_EQ(check_seq(d, 0, 5000, NOW - 10), REJECT_NONE);
    /* A wrong clock: a year ahead. Accepted (dedup is not validation) but
     * not trusted as the newest timestamp. */
    ASSERT_EQ(check_seq(d, 0, 5001, NOW + 365LL * 86400000), REJECT_NONE);
    ASSERT_EQ(check_seq(d, 0, 3, NOW - 5), REJECT_NONE); /* restart */
    /* Extreme timestamps must not overflow anything. */
    ASSERT_EQ(check_seq(d, 0, 3, INT64_MAX), REJECT_DUPLICATE);
    ASSERT_EQ(check_seq(d, 0, 3, INT64_MIN), REJECT_DUPLICATE);
    dedup_stats(d, &st);
    ASSERT_EQ(st.restarts, 1);
    dedup_free(d);
}

static struct reading msg_plain(uint32_t dev, uint32_t sensor, int64_t ts,
                                double value)
{
    struct reading r;

    memset(&r, 0, sizeof(r));
    r.device_id = dev;
    r.sensor_id = sensor;
    r.ts_ms = ts;
    r.value = value;
    r.flags = READING_HAS_TS | READING_MSG_FIRST;
    r.nrec = 1;
    return r;
}

static void dedup_content_hash_expires(void)
{
    struct dedup *d = make(4, 1024, 16, 1000);
    struct reading a = msg_plain(1, 2, 500, 21.5);
    struct reading b = a;
    struct dedup_stats st;

    ASSERT_EQ(dedup_check(d, &a, 1, NOW), REJECT_NONE);
    ASSERT_EQ(dedup_check(d, &a, 1, NOW + 999), REJECT_DUPLICATE);
    /* Any field differing makes it a different message. */
    b.value = 21.6;
    ASSERT_EQ(dedup_check(d, &b, 1, NOW + 999), REJECT_NONE);
    b = a, b.sensor_id = 3;
    ASSERT_EQ(dedup_check(d, &b, 1, NOW + 999), REJECT_NONE);
    b = a, b.device_id = 2;
    ASSERT_EQ(dedup_check(d, &b, 1, NOW + 999), REJECT_NONE);
    b = a, b.ts_ms = 501;
    ASSERT_EQ(dedup_check(d, &b, 1, NOW + 999), REJECT_NONE);
    /* -0.0 and 0.0 are different bits, hence different content. */
    b = a, b.value = 0.0;
    ASSERT_EQ(dedup_check(d, &b, 1, NOW + 999), REJECT_NONE);
    b.value = -0.0;
    ASSERT_EQ(dedup_check(d, &b, 1, NOW + 999), REJECT_NONE);
    /* hold_ms after first sight it is forgotten: accepted again. */
    ASSERT_EQ(dedup_check(d, &a, 1, NOW + 1000), REJECT_NONE);
    ASSERT_EQ(dedup_check(d, &a, 1, NOW + 1500), REJECT_DUPLICATE);
    dedup_stats(d, &st);
    ASSERT_EQ(st.hash_expired, 1);
    /* The six variants (seen at NOW + 999) and a's second copy go too. */
    ASSERT_EQ(dedup_check(d, &a, 1, NOW + 2000), REJECT_NONE);
    dedup_stats(d, &st);
    ASSERT_EQ(st.hash_expired, 1 + 6 + 1);
    ASSERT_EQ(st.hash_evictions, 0);
    ASSERT_EQ(st.duplicates, 2);
    dedup_free(d);
}

static void dedup_content_hash_full_evicts_oldest(void)
{
    struct dedup *d = make(1, 1024, 4, 60000);
    struct reading m[6];
    struct dedup_stats st;

    for (int i = 0; i < 6; i++)
        m[i] = msg_plain(0, 1, 1000 + i, (double)i);
    for (int i = 0; i < 5; i++) /* five into a set of four */
        ASSERT_EQ(dedup_check(d, &m[i], 1, NOW + i), REJECT_NONE);
    dedup_stats(d, &st);
    ASSERT_EQ(st.hash_evictions, 1);
    /* m[0] was evicted early: its retransmit gets through (and evicts
     * m[1]); the newest are still caught. */
    ASSERT_EQ(dedup_check(d, &m[4], 1, NOW + 10), REJECT_DUPLICATE);
    ASSERT_EQ(dedup_check(d, &m[3], 1, NOW + 10), REJECT_DUPLICATE);
    ASSERT_EQ(dedup_check(d, &m[0], 1, NOW + 10), REJECT_NONE);
    ASSERT_EQ(dedup_check(d, &m[1], 1, NOW + 10), REJECT_NONE);
    dedup_stats(d, &st);
    ASSERT_EQ(st.hash_evictions, 3);
    ASSERT_EQ(st.hash_expired, 0);
    dedup_free(d);
}

static void dedup_content_hash_covers_whole_batch(void)
{
    struct dedup *d = make(1, 1024, 16, 60000);
    struct reading b1[3];
    struct reading b2[3];

    for (int i = 0; i < 3; i++)
        b1[i] = msg_plain(0, (uint32_t)i, 1000, 20.0 + i);
    memcpy(b2, b1, sizeof(b1));
    b2[2].value = 99.0; /* same first record, different batch */
    ASSERT_EQ(dedup_check(d, b1, 3, NOW), REJECT_NONE);
    ASSERT_EQ(dedup_check(d, b2, 3, NOW), REJECT_NONE);
    ASSERT_EQ(dedup_check(d, b1, 3, NOW), REJECT_DUPLICATE);
    ASSERT_EQ(dedup_check(d, b2, 3, NOW), REJECT_DUPLICATE);
    ASSERT_EQ(dedup_check(d, b1, 2, NOW), REJECT_NONE); /* a prefix */
    dedup_free(d);
}

/* ---- Differential: windows ------------------------------------------- */

#define REF_U 65536u /* seqs live in [0, REF_U) */
#define REF_DEVS 8u

/* The reference: every seq accepted since the device's last reset, in a
 * plain bit array, and the rule of dedup.h written out directly. */
struct ref_dev {
    uint8_t seen_seq[REF_U / 8]; /* Accepted since the last reset. */
    bool open;                   /* Any message accepted. */
    uint64_t top;                /* Highest accepted since the reset. */
    bool has_ts;                 /* newest is set. */
    int64_t newest;              /* Newest trusted device ts. */
};

static void ref_reset(struct ref_dev *v, uint64_t seq)
{
    memset(v->seen_seq, 0, sizeof(v->seen_seq));
    v->open = true;
    v->top = seq;
}

static enum reject_reason ref_check(struct ref_dev *v, uint64_t seq, int64_t ts,
                                    bool has_ts, uint32_t window, int64_t now,
                                    int64_t future, uint64_t *restarts)
{
    bool trusted = has_ts && ts - now <= future;
    enum reject_reason why = REJECT_NONE;

    if (!v->open) {
        ref_reset(v, seq);
    } else if (seq > v->top) {
        v->top = seq;
    } else if (v->top - seq >= window) {
        why = REJECT_STALE;
    } else if (v->seen_seq[seq / 8] >> (seq % 8) & 1) {
        why = REJECT_DUPLICATE;
    }
    if (why != REJECT_NONE) {
        if (!trusted || !v->has_ts || ts <= v->newest)
            return why;
        ref_reset(v, seq);
        ++*restarts;
    }
    v->seen_seq[seq / 8] |= (uint8_t)(1u << (seq % 8));
    if (trusted && (!v->has_ts || ts > v->newest))
        v->newest = ts, v->has_ts = true;
    return REJECT_NONE;
}

/* Next seq for a device: mostly near top, sometimes a repeat, stale, far
 * jump or reboot; always inside [0, REF_U). */
static uint64_t next_seq(uint64_t *rng, uint64_t top, uint32_t window)
{
    uint64_t v = test_rand(rng);
    uint64_t r = v >> 16;
    int64_t s;

    switch (v % 20) {
    case 0:
        s = (int64_t)top + (int64_t)(window + r % (3 * window));
        break; /* far ahead */
    case 1:
    case 2:
        s = (int64_t)top - (int64_t)(window + r % window);
        break; /* behind the window */
    case 3:
        s = (int64_t)(r % 16);
        break; /* reboot */
    case 4:
    case 5:
        s = (int64_t)top;
        break; /* repeat of top */
    default:
        s = (int64_t)top + 3 - (int64_t)(r % (window + window / 4));
        break; /* around the edge of the window */
    }
    if (s < 0 || s >= (int64_t)REF_U)
        s = (int64_t)(r % 16);
    return (uint64_t)s;
}

static void dedup_window_matches_reference(void)
{
    static const uint32_t windows[] = {64, 256, 1024};
    uint64_t rng = test_seed();

    for (size_t w = 0; w < 3; w++) {
        struct dedup *d = make(REF_DEVS, windows[w], 16, 1000);
        struct ref_dev *ref = calloc(REF_DEVS, sizeof(*ref));
        uint64_t ref_restarts = 0;
        int64_t now = NOW;
        uint64_t counts[REJECT__COUNT] = {0};
        struct dedup_stats st;

        ASSERT(ref != NULL);
        for (size_t op = 0; op < DIFF_OPS / 3; op++) {
            uint32_t dev = (uint32_t)(test_rand(&rng) % REF_DEVS);
            uint64_t v = test_rand(&rng);
            uint64_t seq = next_seq(&rng, ref[dev].top, windows[w]);
            /* ts near now: mostly newer, sometimes older, rarely absent
             * or in the far future. */
            int64_t ts = now - 2000 + (int64_t)(v % 4000);
            bool has_ts = v % 17 != 0;
            struct reading r;
            enum reject_reason got;
            enum reject_reason want;

            if (v % 101 == 0)
                ts = now + 3600000;
            now += (int64_t)((v >> 20) % 5);
            r = msg_seq(dev, seq, ts, has_ts);
            got = dedup_check(d, &r, 1, now);
            want = ref_check(&ref[dev], seq, ts, has_ts, windows[w], now,
                             dedup_config(d)->ts_future_ms, &ref_restarts);
            ASSERT_EQ(got, want);
            counts[got]++;
        }
        dedup_stats(d, &st);
        ASSERT_EQ(st.restarts, ref_restarts);
        /* Every outcome was exercised. */
        ASSERT(counts[REJECT_NONE] > 0 && counts[REJECT_DUPLICATE] > 0 &&
               counts[REJECT_STALE] > 0 && ref_restarts > 0);
        free(ref);
        dedup_free(d);
    }
}

/* ---- Differential: content hashes ------------------------------------ */

struct ref_hash {
    struct reading m; /* The message (one record). */
    int64_t expire;   /* When it is forgotten. */
};

static void dedup_hash_set_matches_reference(void)
{
    enum { CAP = 64 };
    struct ref_hash q[CAP]; /* FIFO, q[0] oldest */
    size_t n = 0;
    struct dedup *d = make(4, 1024, CAP, 700);
    uint64_t rng = test_seed() ^ 0xabcdef;
    int64_t now = NOW;
    uint64_t dup = 0;
    uint64_t evict = 0;
    struct dedup_stats st;

    for (size_t op = 0; op < DIFF_OPS / 10; op++) {
        uint64_t v = test_rand(&rng);
        /* A small universe of contents, so repeats are common. */
        struct reading m =
            msg_plain((uint32_t)(v % 4), (uint32_t)(v >> 8) % 3,
                      (int64_t)((v >> 16) % 40), (double)((v >> 24) % 2));
        bool found = false;

        now += (int64_t)((v >> 32) % 20);
        while (n > 0 && q[0].expire <= now)
            memmove(q, q + 1, --n * sizeof(q[0]));
        for (size_t i = 0; i < n && !found; i++)
            found = memcmp(&q[i].m, &m, sizeof(m)) == 0;
        ASSERT_EQ(dedup_check(d, &m, 1, now),
                  found ? REJECT_DUPLICATE : REJECT_NONE);
        if (found) {
            dup++;
            continue;
        }
        if (n == CAP) {
            memmove(q, q + 1, --n * sizeof(q[0]));
            evict++;
        }
        q[n].m = m;
        q[n++].expire = now + 700;
    }
    dedup_stats(d, &st);
    ASSERT_EQ(st.duplicates, dup);
    ASSERT_EQ(st.hash_evictions, evict);
    ASSERT(dup > 0 && evict > 0 && st.hash_expired > 0);
    dedup_free(d);
}

/* ---- Checkpoints ----------------------------------------------------- */

/* Drive d with a reproducible mixed stream from *rng. */
static void feed(struct dedup *d, uint64_t *rng, size_t ops, int64_t *now,
                 enum reject_reason *verdicts)
{
    for (size_t i = 0; i < ops; i++) {
        uint64_t v = test_rand(rng);
        struct reading r;

        *now += 3;
        if (v % 4 == 0)
            r = msg_plain((uint32_t)(v >> 8) % 5, 1, (int64_t)(v >> 20) % 50,
                          2.0);
        else
            r = msg_seq((uint32_t)(v >> 8) % 5, (v >> 16) % 3000,
                        *now - (int64_t)((v >> 40) % 5000), true);
        verdicts[i] = dedup_check(d, &r, 1, *now);
    }
}

static void dedup_checkpoint_round_trip(void)
{
    struct dedup *a = make(8, 1024, 256, 5000);
    struct dedup *b = make(8, 1024, 256, 5000);
    enum reject_reason va[4000];
    enum reject_reason vb[4000];
    uint64_t rng = test_seed();
    uint64_t rng2;
    int64_t now = NOW;
    int64_t now2;
    size_t need = dedup_serialize(a, NULL, 0);
    uint8_t *buf;
    size_t len;

    ASSERT(need > 0);
    feed(a, &rng, 4000, &now, va);
    need = dedup_serialize(a, NULL, 0);
    ASSERT((buf = malloc(need)) != NULL);
    ASSERT_EQ(dedup_serialize(a, buf, need - 1), need); /* too small */
    len = dedup_serialize(a, buf, need);
    ASSERT_EQ(len, need);
    ASSERT_EQ(dedup_deserialize(b, buf, len), 0);
    /* Same continuation, same verdicts. */
    rng2 = rng, now2 = now;
    feed(a, &rng, 4000, &now, va);
    feed(b, &rng2, 4000, &now2, vb);
    ASSERT(memcmp(va, vb, sizeof(va)) == 0);
    /* Both now hold the same state: their images are byte-identical. */
    free(buf);
    need = dedup_serialize(a, NULL, 0);
    ASSERT_EQ(dedup_serialize(b, NULL, 0), need);
    ASSERT((buf = malloc(2 * need)) != NULL);
    ASSERT_EQ(dedup_serialize(a, buf, need), need);
    ASSERT_EQ(dedup_serialize(b, buf + need, need), need);
    ASSERT(memcmp(buf, buf + need, need) == 0);
    free(buf);
    dedup_free(a);
    dedup_free(b);
}

static void dedup_checkpoint_converts_window(void)
{
    struct dedup *a = make(2, 1024, 16, 5000);
    struct dedup *narrow = make(2, 512, 16, 5000);
    struct dedup *wide = make(2, 2048, 16, 5000);
    uint8_t buf[4096];
    size_t len;

    for (uint64_t s = 10000; s < 12000; s += 2) /* even seqs only */
        ASSERT_EQ(check_seq(a, 1, s, 5), REJECT_NONE);
    len = dedup_serialize(a, buf, sizeof(buf));
    ASSERT(len <= sizeof(buf));
    ASSERT_EQ(dedup_deserialize(narrow, buf, len), 0);
    ASSERT_EQ(dedup_deserialize(wide, buf, len), 0);
    /* top 11998: 11898 seen, 11899 not, 11398 outside the narrow one. */
    ASSERT_EQ(check_seq(narrow, 1, 11898, 5), REJECT_DUPLICATE);
    ASSERT_EQ(check_seq(wide, 1, 11898, 5), REJECT_DUPLICATE);
    ASSERT_EQ(check_seq(narrow, 1, 11899, 5), REJECT_NONE);
    ASSERT_EQ(check_seq(narrow, 1, 11398, 5), REJECT_STALE);
    ASSERT_EQ(check_seq(wide, 1, 11398, 5), REJECT_DUPLICATE);
    /* Older than the image's window: the wide one knows nothing. */
    ASSERT_EQ(check_seq(wide, 1, 10500, 5), REJECT_NONE);
    ASSERT_EQ(check_seq(a, 1, 10500, 5), REJECT_STALE);
    dedup_free(a);
    dedup_free(narrow);
    dedup_free(wide);
}

static void dedup_checkpoint_refuses_corrupt_input(void)
{
    struct dedup *a = make(8, 128, 16, 5000);
    struct dedup *b = make(8, 128, 16, 5000);
    struct dedup *small = make(2, 128, 16, 5000);
    uint8_t buf[2048];
    uint8_t bad[2048];
    size_t len;

    ASSERT_EQ(check_seq(a, 1, 100, 5), REJECT_NONE);
    ASSERT_EQ(check_seq(a, 6, 100, 5), REJECT_NONE);
    {
        struct reading m = msg_plain(3, 1, 7, 7.0);
        ASSERT_EQ(dedup_check(a, &m, 1, NOW), REJECT_NONE);
    }
    ASSERT_EQ(check_seq(b, 1, 500, 5), REJECT_NONE); /* b's own state */
    len = dedup_serialize(a, buf, sizeof(buf));
    ASSERT(len <= sizeof(buf));
    for (size_t cut = 0; cut < len; cut++) /* every truncation */
        ASSERT(dedup_deserialize(b, buf, cut) < 0);
    for (size_t i = 0; i < len; i++) { /* every single-byte corruption */
        memcpy(bad, buf, len);
        bad[i] ^= 0x20;
        ASSERT(dedup_deserialize(b, bad, len) < 0);
    }
    memcpy(bad, buf, len);
    bad[4] = DEDUP_FORMAT_VERSION + 1;
    ASSERT_EQ(dedup_deserialize(b, bad, len), -EPROTONOSUPPORT);
    ASSERT_EQ(dedup_deserialize(small, buf, len), -ENOSPC); /* device 6 */
    /* b was left as it was. */
    ASSERT_EQ(check_seq(b, 1, 500, 5), REJECT_DUPLICATE);
    ASSERT_EQ(check_seq(b, 1, 100, 5), REJECT_STALE);
    ASSERT_EQ(dedup_deserialize(b, buf, len), 0);
    ASSERT_EQ(check_seq(b, 1, 100, 5), REJECT_DUPLICATE);
    dedup_free(a);
    dedup_free(b);
    dedup_free(small);
}

static const struct test tests[] = {
    {"dedup_rejects_bad_config", dedup_rejects_bad_config},
    {"dedup_window_basics", dedup_window_basics},
    {"dedup_counter_restart", dedup_counter_restart},
    {"dedup_future_ts_does_not_block_restarts",
     dedup_future_ts_does_not_block_restarts},
    {"dedup_content_hash_expires", dedup_content_hash_expires},
    {"dedup_content_hash_full_evicts_oldest",
     dedup_content_hash_full_evicts_oldest},
    {"dedup_content_hash_covers_whole_batch",
     dedup_content_hash_covers_whole_batch},
    {"dedup_window_matches_reference", dedup_window_matches_reference},
    {"dedup_hash_set_matches_reference", dedup_hash_set_matches_reference},
    {"dedup_checkpoint_round_trip", dedup_checkpoint_round_trip},
    {"dedup_checkpoint_converts_window", dedup_checkpoint_converts_window},
    {"dedup_checkpoint_refuses_corrupt_input",
     dedup_checkpoint_refuses_corrupt_input},
    {NULL, NULL}};

int main(int argc, char **argv)
{
    return test_main(argc, argv, tests);
}
