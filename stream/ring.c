/* ring.c -- bounded single-producer/single-consumer queue of struct reading.
 *
 * The Linux kfifo / circular-buffers.rst design in C11 atomics (STYLE R11).
 * head and tail are free-running size_t counters, masked on access; head is
 * written only by the producer, tail only by the consumer, and each lives on
 * its own cache line. The producer fills a slot, then publishes it with a
 * release store of head; the consumer reads head with an acquire load, so
 * it sees the slot contents, and frees slots with a release store of tail,
 * which the producer reads with an acquire load before reusing them.
 * Free-running counters make full (head - tail == capacity) and empty
 * (head == tail) distinct without wasting a slot; unsigned wrap-around keeps
 * the difference right.
 *
 * Cost model: a push or pop copies 48 bytes. What limits throughput between
 * two cores is cache-line traffic on the indices, so each side keeps a
 * private copy of the other side's index (tail_cache, head_cache) and only
 * reloads it when the copy says full (producer) or holds fewer records than
 * a batch wants (consumer) -- the refinement folly's ProducerConsumerQueue
 * and rigtorp's SPSCQueue use. The shared lines then move about once per
 * consumer batch instead of once per record.
 *
 * The depth high-water mark stays exact despite the stale copy: depth
 * measured against tail_cache is an upper bound of the true depth, and the
 * mark is at most the capacity, so while that bound stays within the mark
 * a push both fits and leaves the mark right. One compare of the bound with
 * the mark is therefore the whole fast path of a push (about 20
 * instructions with the copy); tail is reloaded only when the bound passes
 * the mark, which a consumer that stays close behind makes happen once per
 * batch it frees, and a high mark almost never.
 *
 * Measured with bench/bench_stream.c's ring_cost part under callgrind
 * (instructions per record moved, the caller's loop included; one thread,
 * so no cache-line traffic): pushing 16 or 256 records one by one and
 * popping them in batches costs 54 and 46 instructions a record, against
 * 62 and 61 for the inlined textbook ring popping one at a time; push one,
 * pop it costs 133 against 81, the price of three calls into an opaque
 * ring (push, pop, the empty pop) where the textbook loop inlines all. A
 * pop of a few records copies them one by one: two memcpy() calls and the
 * register saves they forced cost more than the copy (194, 61 and 51
 * before, with a separate room check and high-water update per push).
 *
 * Threads: ring_push(), ring_push_all() and ring_room() run only on the
 * producer thread (Paho's callback thread) and touch only the producer line
 * plus an acquire load of tail; ring_pop(), ring_peek() and ring_consume()
 * run only on the consumer thread (the loop thread) and touch only the
 * consumer line plus an acquire load of head. The accessors are relaxed or
 * acquire loads, safe from any thread. */
#include "stream/ring.h"

#include <assert.h>
#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define RING_LINE 64       /* bytes in a cache line on our targets */
#define RING_SHORT_BATCH 8 /* records ring_pop() copies one by one */

_Static_assert((RING_MIN_CAP & (RING_MIN_CAP - 1)) == 0,
               "RING_MIN_CAP must be a power of two");
_Static_assert((RING_MAX_CAP & (RING_MAX_CAP - 1)) == 0,
               "RING_MAX_CAP must be a power of two");
_Static_assert((size_t)RING_MAX_CAP <= SIZE_MAX / 2 / sizeof(struct reading),
               "slot array size must not overflow size_t");
_Static_assert(RING_LINE % alignof(struct reading) == 0,
               "slots must stay aligned inside a line");

struct ring {
    /* Producer line. */
    alignas(RING_LINE) atomic_size_t head; /* Next slot to fill; producer. */
    size_t tail_cache;                     /* Last tail seen; producer only. */
    atomic_size_t high_water; /* Max depth after a push; producer. */
    size_t mask_p;            /* capacity - 1; constant. */
    struct reading *slot_p;   /* The slots; constant. */
    /* Consumer line. */
    alignas(RING_LINE) atomic_size_t tail; /* Next slot to read; consumer. */
    size_t head_cache;                     /* Last head seen; consumer only. */
    size_t mask_c;                         /* capacity - 1; constant. */
    struct reading *slot_c;                /* The slots; constant. */
};

_Static_assert(sizeof(struct ring) % RING_LINE == 0,
               "struct ring must be whole cache lines for aligned_alloc");
_Static_assert(offsetof(struct ring, tail) - offsetof(struct ring, head) >=
                   RING_LINE,
               "head and tail must be on different cache lines");

int ring_new(struct ring **out, size_t capacity)
{
    struct ring *r;
    struct reading *slot;
    size_t bytes;

    if (capacity < RING_MIN_CAP || capacity > RING_MAX_CAP ||
        (capacity & (capacity - 1)) != 0)
        return -EINVAL;
    /* aligned_alloc wants a multiple of the alignment; round up. */
    bytes = capacity * sizeof(*slot);
    bytes = (bytes + RING_LINE - 1) / RING_LINE * RING_LINE;
    if ((r = aligned_alloc(RING_LINE, sizeof(*r))) == NULL)
        return -ENOMEM;
    if ((slot = aligned_alloc(RING_LINE, bytes)) == NULL)
        goto out_free_r;
    memset(r, 0, sizeof(*r));
    memset(slot, 0, bytes);
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    atomic_init(&r->high_water, 0);
    r->mask_p = capacity - 1;
    r->mask_c = capacity - 1;
    r->slot_p = slot;
    r->slot_c = slot;
    *out = r;
    return 0;
out_free_r:
    free(r);
    return -ENOMEM;
}

void ring_free(struct ring *r)
{
    if (r == NULL)
        return;
    free(r->slot_p);
    free(r);
}

/* Whether n more records fit after head h, keeping the high-water mark
 * exact. The depth measured against the cached tail bounds the true depth
 * from above: while that bound stays within the mark, the records fit (the
 * mark is at most the capacity) and the mark is still right, so nothing
 * shared is read. Otherwise tail is reloaded, the depth is exact, and the
 * mark is raised if the push will go over it. Producer thread. */
static inline bool ring_reserve(struct ring *r, size_t h, size_t n)
{
    size_t hw = atomic_load_explicit(&r->high_water, memory_order_relaxed);
    size_t depth = h + n - r->tail_cache;

    if (depth <= hw)
        return true;
    r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
    depth = h + n - r->tail_cache;
    if (depth > r->mask_p + 1)
        return false;
    if (depth > hw)
        atomic_store_explicit(&r->high_water, depth, memory_order_relaxed);
    return true;
}

int ring_push(struct ring *r, const struct reading *rd)
{
    size_t h = atomic_load_explicit(&r->head, memory_order_relaxed);

    if (!ring_reserve(r, h, 1))
        return -ENOBUFS; /* full: the caller decides (DESIGN.md) */
    r->slot_p[h & r->mask_p] = *rd;
    /* Release: the slot is written before the consumer can see head. */
    atomic_store_explicit(&r->head, h + 1, memory_order_release);
    return 0;
}

int ring_push_all(struct ring *r, const struct reading *rds, size_t n)
{
    size_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    size_t i = h & r->mask_p;
    size_t first;

    if (n > r->mask_p + 1)
        return -EMSGSIZE;
    if (n == 0)
        return 0;
    if (!ring_reserve(r, h, n))
        return -ENOBUFS;
    /* At most two copies: up to the end of the array, then from slot 0. */
    first = r->mask_p + 1 - i;
    if (first > n)
        first = n;
    memcpy(&r->slot_p[i], rds, first * sizeof(*rds));
    memcpy(&r->slot_p[0], rds + first, (n - first) * sizeof(*rds));
    atomic_store_explicit(&r->head, h + n, memory_order_release);
    return 0;
}

size_t ring_room(struct ring *r)
{
    size_t h = atomic_load_explicit(&r->head, memory_order_relaxed);

    r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
    return r->mask_p + 1 - (h - r->tail_cache);
}

/* Records readable from tail t on, reloading head only when the cached
 * copy shows fewer than want: a batch then costs one load of the producer's
 * line, not one per record. Consumer thread. */
static inline size_t ring_avail(struct ring *r, size_t t, size_t want)
{
    if (r->head_cache - t < want)
        r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
    return r->head_cache - t;
}

/* ring_pop() of a long batch (n > RING_SHORT_BATCH records from tail t):
 * memcpy() up to the end of the array, then from slot 0. Kept out of
 * ring_pop() so that the short path saves no registers. Consumer thread. */
static __attribute__((noinline)) size_t
ring_pop_long(struct ring *r, struct reading *out, size_t t, size_t n)
{
    size_t i = t & r->mask_c;
    size_t first = r->mask_c + 1 - i;

    if (first > n)
        first = n;
    memcpy(out, &r->slot_c[i], first * sizeof(*out));
    if (first < n)
        memcpy(out + first, &r->slot_c[0], (n - first) * sizeof(*out));
    atomic_store_explicit(&r->tail, t + n, memory_order_release);
    return n;
}

size_t ring_pop(struct ring *r, struct reading *out, size_t max)
{
    size_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    size_t n = ring_avail(r, t, max);

    if (n > max)
        n = max;
    if (n > RING_SHORT_BATCH)
        return ring_pop_long(r, out, t, n);
    /* A consumer that keeps up mostly finds one to a few records: copying
     * them one by one costs less than calling memcpy(). */
    for (size_t k = 0; k < n; k++)
        out[k] = r->slot_c[(t + k) & r->mask_c];
    /* Release: our reads of the slots happen before the producer reuses
     * them. */
    if (n > 0)
        atomic_store_explicit(&r->tail, t + n, memory_order_release);
    return n;
}

size_t ring_peek(struct ring *r, const struct reading **span)
{
    size_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    size_t i = t & r->mask_c;
    size_t n = ring_avail(r, t, r->mask_c + 1 - i);

    if (n > r->mask_c + 1 - i)
        n = r->mask_c + 1 - i; /* contiguous part only */
    *span = &r->slot_c[i];
    return n;
}

void ring_consume(struct ring *r, size_t n)
{
    size_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);

    assert(n <= r->head_cache - t);
    atomic_store_explicit(&r->tail, t + n, memory_order_release);
}

size_t ring_capacity(const struct ring *r)
{
    return r->mask_p + 1;
}

size_t ring_depth(const struct ring *r)
{
    /* tail first: head only grows, so head - tail cannot underflow. */
    size_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
    size_t h = atomic_load_explicit(&r->head, memory_order_acquire);

    /* t may be older than h by more than a ring's worth: clamp. */
    return h - t > r->mask_c + 1 ? r->mask_c + 1 : h - t;
}

size_t ring_high_water(const struct ring *r)
{
    return atomic_load_explicit(&r->high_water, memory_order_relaxed);
}

size_t ring_pushed(const struct ring *r)
{
    return atomic_load_explicit(&r->head, memory_order_acquire);
}

bool ring_is_empty(const struct ring *r)
{
    return ring_depth(r) == 0;
}
