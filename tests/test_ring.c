/* test_ring.c -- the SPSC ring: limits, order, all-or-nothing pushes,
 * zero-copy spans across the wrap, the exact high-water mark, a seeded
 * differential run against a plain array queue, and a two-thread transfer
 * (run it under TSan: make SAN=tsan check T=ring).
 * Threads: ring_two_threads starts a producer and a consumer; the rest is
 * single-threaded. */
#include "stream/ring.h"
#include "tests/harness.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>

/* Sanitizers are 5-20x slower: scale the randomised runs down. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SLOW_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SLOW_BUILD 1
#endif
#endif
#ifdef SLOW_BUILD
#define DIFF_OPS 300000u
#define XFER_RECORDS 300000u
#else
#define DIFF_OPS 3000000u
#define XFER_RECORDS 5000000u
#endif

/* A record whose every field is a function of k, so any torn, misplaced or
 * repeated copy is visible. */
static struct reading rec(uint64_t k)
{
    struct reading r;

    memset(&r, 0, sizeof(r));
    r.seq = k;
    r.ts_ms = (int64_t)(k * 3 + 1);
    r.value = (double)k * 0.5;
    r.lsn = ~k;
    r.device_id = (uint32_t)(k * 7);
    r.sensor_id = (uint32_t)(k >> 3);
    r.flags = (uint16_t)(k & 0x1f);
    r.nrec = (uint16_t)(k * 13);
    return r;
}

static bool rec_is(const struct reading *r, uint64_t k)
{
    struct reading want = rec(k);

    return memcmp(r, &want, sizeof(want)) == 0;
}

static void ring_rejects_bad_capacity(void)
{
    struct ring *r = NULL;

    ASSERT_EQ(ring_new(&r, 0), -EINVAL);
    ASSERT_EQ(ring_new(&r, 1), -EINVAL);
    ASSERT_EQ(ring_new(&r, 3), -EINVAL);
    ASSERT_EQ(ring_new(&r, 1000), -EINVAL);
    ASSERT_EQ(ring_new(&r, (size_t)RING_MAX_CAP * 2), -EINVAL);
    ASSERT(r == NULL);
    ASSERT_EQ(ring_new(&r, 2), 0);
    ASSERT_EQ(ring_capacity(r), 2);
    ring_free(r);
    ring_free(NULL);
}

static void ring_reports_full_and_keeps_order(void)
{
    struct ring *r;
    struct reading out[16];
    struct reading one = rec(99);

    ASSERT_EQ(ring_new(&r, 8), 0);
    ASSERT(ring_is_empty(r));
    ASSERT_EQ(ring_pop(r, out, 16), 0);
    for (int round = 0; round < 5; round++) { /* wraps the indices */
        for (uint64_t k = 0; k < 8; k++) {
            struct reading x = rec(round * 100 + k);
            ASSERT_EQ(ring_push(r, &x), 0);
        }
        ASSERT_EQ(ring_depth(r), 8);
        ASSERT_EQ(ring_room(r), 0);
        ASSERT_EQ(ring_push(r, &one), -ENOBUFS); /* full: not written */
        ASSERT_EQ(ring_pop(r, out, 3), 3);
        ASSERT_EQ(ring_pop(r, out + 3, 16), 5);
        for (uint64_t k = 0; k < 8; k++)
            ASSERT(rec_is(&out[k], round * 100 + k));
        ASSERT(ring_is_empty(r));
    }
    ASSERT_EQ(ring_pushed(r), 40);
    ASSERT_EQ(ring_high_water(r), 8);
    ring_free(r);
}

static void ring_push_all_is_all_or_nothing(void)
{
    struct ring *r;
    struct reading in[16];
    struct reading out[16];

    for (uint64_t k = 0; k < 16; k++)
        in[k] = rec(k);
    ASSERT_EQ(ring_new(&r, 8), 0);
    ASSERT_EQ(ring_push_all(r, in, 9), -EMSGSIZE);
    ASSERT_EQ(ring_push_all(r, in, 0), 0);
    ASSERT_EQ(ring_push_all(r, in, 5), 0);
    ASSERT_EQ(ring_push_all(r, in + 5, 4), -ENOBUFS); /* only 3 free */
    ASSERT_EQ(ring_depth(r), 5);
    ASSERT_EQ(ring_pop(r, out, 4), 4);
    /* Head is at slot 5: this message wraps past the end of the array. */
    ASSERT_EQ(ring_push_all(r, in + 5, 7), 0);
    ASSERT_EQ(ring_depth(r), 8);
    ASSERT_EQ(ring_pop(r, out + 4, 16), 8);
    for (uint64_t k = 0; k < 12; k++)
        ASSERT(rec_is(&out[k], k));
    ring_free(r);
}

static void ring_peek_spans_stop_at_the_wrap(void)
{
    struct ring *r;
    const struct reading *span;
    struct reading x;

    ASSERT_EQ(ring_new(&r, 8), 0);
    ASSERT_EQ(ring_peek(r, &span), 0);
    for (uint64_t k = 0; k < 6; k++) {
        x = rec(k);
        ASSERT_EQ(ring_push(r, &x), 0);
    }
    ASSERT_EQ(ring_peek(r, &span), 6);
    ASSERT(rec_is(&span[0], 0));
    ring_consume(r, 2);
    ASSERT_EQ(ring_room(r), 4);
    for (uint64_t k = 6; k < 10; k++) {
        x = rec(k);
        ASSERT_EQ(ring_push(r, &x), 0);
    }
    /* Tail at slot 2, 8 records: 6 to the end, then 2 from slot 0. */
    ASSERT_EQ(ring_peek(r, &span), 6);
    for (uint64_t k = 0; k < 6; k++)
        ASSERT(rec_is(&span[k], 2 + k));
    ring_consume(r, 6);
    ASSERT_EQ(ring_peek(r, &span), 2);
    ASSERT(rec_is(&span[0], 8) && rec_is(&span[1], 9));
    ring_consume(r, 2);
    ASSERT(ring_is_empty(r));
    ring_free(r);
}

static void ring_high_water_is_exact(void)
{
    struct ring *r;
    struct reading out[64];
    struct reading in[8];
    struct reading x = rec(1);
    uint64_t seed = test_seed();
    size_t depth = 0;
    size_t want = 0;

    for (size_t k = 0; k < 8; k++)
        in[k] = x;
    ASSERT_EQ(ring_new(&r, 64), 0);
    for (int i = 0; i < 20000; i++) {
        uint64_t v = test_rand(&seed);
        size_t n = 1 + (size_t)(v >> 16) % 8;
        if (v % 6 == 1 || v % 6 == 2) {
            if (ring_push(r, &x) == 0)
                depth++;
        } else if (v % 6 == 3 || v % 6 == 4) { /* a message: all or none */
            if (ring_push_all(r, in, n) == 0)
                depth += n;
        } else {
            depth -= ring_pop(r, out, (size_t)(v >> 8) % 48);
        }
        if (depth > want)
            want = depth;
        ASSERT_EQ(ring_high_water(r), want);
        ASSERT_EQ(ring_depth(r), depth);
    }
    ring_free(r);
}

/* The reference: a plain array queue, the obvious way. */
struct naive {
    struct reading q[1024];
    size_t head; /* Next write, 0..1023. */
    size_t len;  /* Records held. */
    size_t cap;  /* Capacity in use (<= 1024). */
};

static bool naive_push(struct naive *n, const struct reading *r)
{
    if (n->len == n->cap)
        return false;
    n->q[(n->head + n->len) % n->cap] = *r;
    n->len++;
    return true;
}

static bool naive_pop(struct naive *n, struct reading *out)
{
    if (n->len == 0)
        return false;
    *out = n->q[n->head];
    n->head = (n->head + 1) % n->cap;
    n->len--;
    return true;
}

/* One random operation on both queues; checks they agree. */
static void diff_step(struct ring *r, struct naive *nv, uint64_t *seed,
                      uint64_t *next)
{
    uint64_t v = test_rand(seed);
    struct reading buf[40];
    struct reading want;
    const struct reading *span;
    size_t k = (size_t)(v >> 8) % 40;
    size_t got;
    bool ok;

    switch (v % 5) {
    case 0:
    case 1: /* push one */
        buf[0] = rec(*next);
        ok = naive_push(nv, &buf[0]);
        ASSERT_EQ(ring_push(r, &buf[0]) == 0, ok);
        *next += ok;
        break;
    case 2: /* push a message of k records, all or nothing */
        for (size_t i = 0; i < k; i++)
            buf[i] = rec(*next + i);
        if (k > nv->cap) {
            ASSERT_EQ(ring_push_all(r, buf, k), -EMSGSIZE);
        } else if (nv->cap - nv->len < k) {
            ASSERT_EQ(ring_push_all(r, buf, k), -ENOBUFS);
        } else {
            ASSERT_EQ(ring_push_all(r, buf, k), 0);
            for (size_t i = 0; i < k; i++)
                ASSERT(naive_push(nv, &buf[i]));
            *next += k;
        }
        break;
    case 3: /* batch pop of up to k */
        got = ring_pop(r, buf, k);
        ASSERT_EQ(got, k < nv->len ? k : nv->len);
        for (size_t i = 0; i < got; i++) {
            ASSERT(naive_pop(nv, &want));
            ASSERT(memcmp(&buf[i], &want, sizeof(want)) == 0);
        }
        break;
    default: /* zero-copy: peek, consume part */
        got = ring_peek(r, &span);
        ASSERT(got <= nv->len && (got > 0) == (nv->len > 0));
        got = got < k ? got : k;
        for (size_t i = 0; i < got; i++) {
            ASSERT(naive_pop(nv, &want));
            ASSERT(memcmp(&span[i], &want, sizeof(want)) == 0);
        }
        ring_consume(r, got);
        break;
    }
    ASSERT_EQ(ring_depth(r), nv->len);
}

static void ring_matches_naive_queue(void)
{
    static const size_t caps[] = {2, 8, 64, 1024};
    uint64_t seed = test_seed();
    uint64_t next = 0;

    for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
        struct naive *nv = calloc(1, sizeof(*nv));
        struct ring *r;

        ASSERT(nv != NULL);
        nv->cap = caps[c];
        ASSERT_EQ(ring_new(&r, caps[c]), 0);
        for (size_t i = 0; i < DIFF_OPS / 4; i++)
            diff_step(r, nv, &seed, &next);
        ring_free(r);
        free(nv);
    }
}

struct xfer {
    struct ring *r;
    uint64_t n;       /* Records to move. */
    uint64_t seed;    /* Producer's batch sizes. */
    atomic_bool done; /* Consumer finished. */
    uint64_t got;     /* Consumer: records received in order. */
    uint64_t bad;     /* Consumer: records out of order or torn. */
};

static void *producer(void *arg)
{
    struct xfer *x = arg;
    struct reading buf[16];
    uint64_t k = 0;

    while (k < x->n) {
        uint64_t v = test_rand(&x->seed);
        size_t m = 1 + (size_t)(v % 16);
        int rc;

        if (m > x->n - k)
            m = (size_t)(x->n - k);
        for (size_t i = 0; i < m; i++)
            buf[i] = rec(k + i);
        rc = m == 1 ? ring_push(x->r, buf) : ring_push_all(x->r, buf, m);
        if (rc == 0)
            k += m;
        else if (rc == -ENOBUFS)
            sched_yield(); /* 2 cores, shared: give the consumer a turn */
        else
            abort();
    }
    return NULL;
}

static void *consumer(void *arg)
{
    struct xfer *x = arg;
    struct reading buf[32];
    const struct reading *span;
    bool use_peek = false;

    while (x->got < x->n) {
        size_t m;

        if (use_peek) {
            m = ring_peek(x->r, &span);
            for (size_t i = 0; i < m; i++)
                x->bad += !rec_is(&span[i], x->got + i);
            ring_consume(x->r, m);
        } else {
            m = ring_pop(x->r, buf, 32);
            for (size_t i = 0; i < m; i++)
                x->bad += !rec_is(&buf[i], x->got + i);
        }
        x->got += m;
        use_peek = !use_peek;
        if (m == 0)
            sched_yield();
    }
    atomic_store(&x->done, true);
    return NULL;
}

static void ring_two_threads(void)
{
    struct xfer x;
    pthread_t p;
    pthread_t c;
    size_t last_hw = 0;

    memset(&x, 0, sizeof(x));
    x.n = XFER_RECORDS;
    x.seed = test_seed();
    atomic_init(&x.done, false);
    ASSERT_EQ(ring_new(&x.r, 256), 0);
    ASSERT_EQ(pthread_create(&c, NULL, consumer, &x), 0);
    ASSERT_EQ(pthread_create(&p, NULL, producer, &x), 0);
    /* A third thread reads the metrics while both sides run. */
    while (!atomic_load(&x.done)) {
        size_t hw = ring_high_water(x.r);
        ASSERT(ring_depth(x.r) <= 256);
        ASSERT(hw >= last_hw && hw <= 256);
        last_hw = hw;
        sched_yield();
    }
    ASSERT_EQ(pthread_join(p, NULL), 0);
    ASSERT_EQ(pthread_join(c, NULL), 0);
    ASSERT_EQ(x.got, x.n);
    ASSERT_EQ(x.bad, 0);
    ASSERT(ring_is_empty(x.r));
    ASSERT_EQ(ring_pushed(x.r), x.n);
    ASSERT(ring_high_water(x.r) >= 1);
    ring_free(x.r);
}

static const struct test tests[] = {
    {"ring_rejects_bad_capacity", ring_rejects_bad_capacity},
    {"ring_reports_full_and_keeps_order", ring_reports_full_and_keeps_order},
    {"ring_push_all_is_all_or_nothing", ring_push_all_is_all_or_nothing},
    {"ring_peek_spans_stop_at_the_wrap", ring_peek_spans_stop_at_the_wrap},
    {"ring_high_water_is_exact", ring_high_water_is_exact},
    {"ring_matches_naive_queue", ring_matches_naive_queue},
    {"ring_two_threads", ring_two_threads},
    {NULL, NULL}};

int main(int argc, char **argv)
{
    return test_main(argc, argv, tests);
}
