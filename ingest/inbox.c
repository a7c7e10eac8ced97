/* inbox.c -- decode, log, push: the Paho callback thread's work (see
 * inbox.h for the steps and the backpressure design).
 *
 * The wait for ring room sleeps 50 us at first and doubles up to 2 ms, so
 * a short stall (the loop thread busy with a checkpoint) costs little CPU
 * and adds at most a couple of ms of latency, and the loop thread is woken
 * before the first sleep so it is not waiting for us. A QoS 0 message is
 * checked for room before it is logged: a dropped message must not come
 * back on replay.
 *
 * Cost per message: the decode, one copy into the log (its mapped window:
 * no syscall, see wal.c), one ring_push_all() (a 48-byte copy per record
 * plus a release store), one fence and one load of `asleep` -- and a
 * uv_async_send() only when the loop thread said it was going to sleep.
 *
 * Wake-ups. uv_async_send() is an eventfd write (a syscall, and a
 * cross-CPU wake-up of the loop thread), and libuv clears its "pending"
 * flag just before the callback runs, so calling it per message costs a
 * syscall for nearly every message pushed while the loop drains, and a
 * loop iteration (epoll_wait, eventfd read) for each. Instead the loop
 * thread tells us when it stops: `asleep` is set by the consumer in
 * inbox_consumer_idle() once the ring and the dead-letter channel are
 * empty, and taken back (exchanged to false) by the producer, which then
 * sends the one wake-up. While the loop is awake, pushing costs no
 * syscall at all. Why no wake-up is ever lost -- a record must never sit
 * in the ring while the loop thread sleeps:
 *
 *   producer (this thread)           consumer (loop thread)
 *   P1 push: release store of head   C1 store asleep = true
 *   P2 seq_cst fence                 C2 seq_cst fence
 *   P3 load asleep; if true,         C3 load head (ring, dead letters):
 *      exchange it to false and         if empty, sleep; else exchange
 *      if that returned true, send      asleep to false: if that returned
 *                                       true, drain again; if false the
 *                                       producer took it and sent a wake-up
 *
 * The two fences are ordered one way or the other in the single total
 * order of seq_cst operations (C11 7.17.4, the store-buffer pattern). If
 * P2 comes first, C3 sees the record (a release store sequenced before P2
 * is visible to a load sequenced after C2) and the consumer drains it. If
 * C2 comes first, P3 sees asleep = true and sends. Exactly one side can
 * win the exchange, so the flag is false only while a wake-up is pending
 * or the loop thread is draining, and true only when it has nothing left
 * or is about to find out. Spurious wake-ups are possible (the consumer
 * may drain a record that a wake-up was sent for) and harmless. TSan sees
 * only atomics here; tests/test_inbox.c pushes 20000 bursts (~100k
 * messages) through a real uv_async_t to a consumer that goes to sleep at
 * random moments, and fails if a burst is ever left undrained (it does
 * when the consumer checks the ring before setting the flag).
 *
 * Threads: inbox_message() and everything it calls on the Paho callback
 * thread; the flags and counters are atomics read by other threads. */
#include "ingest/inbox.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ingest/log.h"

enum {
    N_MESSAGES,
    N_QOS0,
    N_QOS1,
    N_QOS2,
    N_DUPS,
    N_DROPS,
    N_WAITS,
    N_WAIT_MS,
    N_TIMEOUTS,
    N_LOG_ONLY,
    N_DLQ_FULL,
    N_WAL_ERRORS,
    N_LAST_LSN,
    N__COUNT
};

struct inbox {
    struct inbox_config cfg;                  /* Copied; parts borrowed. */
    struct reading recs[DECODER_MAX_RECORDS]; /* Callback thread scratch. */
    atomic_bool asleep;   /* The consumer waits for a wake-up (see top). */
    atomic_bool stop;     /* inbox_stop() was called. */
    atomic_bool held;     /* A callback holds a message it cannot log. */
    atomic_bool log_only; /* A wait timed out. */
    atomic_uint_fast64_t n[N__COUNT]; /* struct inbox_stats. */
    struct log_ratelimit rl_wal;      /* Log lines: append errors. */
    struct log_ratelimit rl_wait;     /* ...ring waits. */
    struct log_ratelimit rl_drop;     /* ...QoS 0 drops. */
};

/* The counters have one writer, this thread: a plain increment, no
 * locked RMW; readers see each value whole. */
static void add(struct inbox *ib, int i, uint64_t v)
{
    uint64_t cur = atomic_load_explicit(&ib->n[i], memory_order_relaxed);

    atomic_store_explicit(&ib->n[i], cur + v, memory_order_relaxed);
}

/* Wake the loop thread if it said it sleeps: P2 and P3 at the top. */
static void wake(struct inbox *ib)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&ib->asleep, memory_order_relaxed) &&
        atomic_exchange_explicit(&ib->asleep, false, memory_order_relaxed))
        uv_async_send(ib->cfg.wakeup);
}

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void nap_ns(long ns)
{
    struct timespec ts = {0, ns};

    nanosleep(&ts, NULL);
}

int inbox_new(struct inbox **out, const struct inbox_config *cfg)
{
    struct inbox *ib;

    if (cfg->decoder == NULL || cfg->ring == NULL || cfg->dlq == NULL ||
        cfg->wakeup == NULL || cfg->wait_ms < 0)
        return -EINVAL;
    if ((ib = calloc(1, sizeof(*ib))) == NULL)
        return -ENOMEM;
    ib->cfg = *cfg;
    atomic_init(&ib->asleep, true); /* the loop waits for the first one */
    log_ratelimit_init(&ib->rl_wal, 5000, 3);
    log_ratelimit_init(&ib->rl_wait, 5000, 3);
    log_ratelimit_init(&ib->rl_drop, 5000, 3);
    *out = ib;
    return 0;
}

void inbox_free(struct inbox *ib)
{
    free(ib);
}

/* Append to the log, retrying while it fails, for as long as it takes:
 * a message that is not in the log must not be acknowledged, and only
 * returning acknowledges it (see inbox.h). Sets *lsn (0 without a log, or
 * for a message the log can never hold). */
static void log_append(struct inbox *ib, const char *topic, const void *p,
                       size_t len, int qos, int64_t recv_ns, uint64_t *lsn)
{
    int rc;

    *lsn = 0;
    if (ib->cfg.wal == NULL)
        return;
    for (;;) {
        rc = wal_append(ib->cfg.wal, topic, p, len, qos, recv_ns, lsn);
        if (rc == 0) {
            atomic_store_explicit(&ib->n[N_LAST_LSN], *lsn,
                                  memory_order_relaxed);
            if (atomic_load_explicit(&ib->held, memory_order_relaxed))
                atomic_store(&ib->held, false); /* only after a failure */
            return;
        }
        add(ib, N_WAL_ERRORS, 1);
        if (rc == -EMSGSIZE || rc == -EINVAL) {
            log_limited(&ib->rl_wal, LOG_WARN,
                        "inbox: message on %s cannot "
                        "be logged (%s); processed unlogged",
                        topic, strerror(-rc));
            *lsn = 0;
            atomic_store(&ib->held, false);
            return;
        }
        log_limited(&ib->rl_wal, LOG_ERROR,
                    "inbox: ingest log append "
                    "failed (%s); holding the message and retrying",
                    strerror(-rc));
        atomic_store(&ib->held, true);
        nap_ns(100000000L);
    }
}

/* Wait until the ring has room for n records; false at the deadline or
 * when stopping. */
static bool wait_room(struct inbox *ib, size_t n)
{
    int64_t start = clock_ns(CLOCK_MONOTONIC);
    int64_t end = start + ib->cfg.wait_ms * 1000000;
    long step = 50000;
    bool ok = false;

    add(ib, N_WAITS, 1);
    wake(ib);
    while (!atomic_load_explicit(&ib->stop, memory_order_relaxed)) {
        if (ring_room(ib->cfg.ring) >= n) {
            ok = true;
            break;
        }
        if (clock_ns(CLOCK_MONOTONIC) >= end)
            break;
        nap_ns(step);
        step = step < 1000000 ? step * 2 : 2000000;
    }
    add(ib, N_WAIT_MS,
        (uint64_t)((clock_ns(CLOCK_MONOTONIC) - start) / 1000000));
    return ok;
}

/* The topic as a NUL-terminated string for the log (Paho's topic is one,
 * unless it embeds NULs, which the decoder refuses anyway). */
static int log_only_message(struct inbox *ib, const char *topic,
                            const void *payload, size_t len, int qos,
                            int64_t recv_ns)
{
    uint64_t lsn;

    log_append(ib, topic, payload, len, qos, recv_ns, &lsn);
    add(ib, N_LOG_ONLY, 1);
    return 1;
}

static void dead_letter(struct inbox *ib, enum reject_reason why,
                        const char *topic, size_t tl, const void *p, size_t len)
{
    if (dlq_push(ib->cfg.dlq, why, topic, tl, p, len) != 0)
        add(ib, N_DLQ_FULL, 1);
}

int inbox_message(struct inbox *ib, const char *topic, size_t topic_len,
                  const void *payload, size_t len, int qos, bool dup)
{
    int64_t recv_ns = clock_ns(CLOCK_REALTIME);
    struct decoder_input in = {topic, topic_len,         payload, len,
                               qos,   recv_ns / 1000000, 0};
    enum reject_reason why;
    uint64_t lsn;
    size_t n, i;

    add(ib, N_MESSAGES, 1);
    add(ib, N_QOS0 + (qos >= 0 && qos <= 2 ? qos : 0), 1);
    if (dup)
        add(ib, N_DUPS, 1);
    if (atomic_load(&ib->log_only) || atomic_load(&ib->stop))
        return log_only_message(ib, topic, payload, len, qos, recv_ns);
    n = decoder_decode(ib->cfg.decoder, &in, ib->recs, &why);
    if (qos == 0 && ring_room(ib->cfg.ring) < n) {
        add(ib, N_DROPS, 1);
        log_limited(&ib->rl_drop, LOG_WARN,
                    "inbox: ring full, QoS 0 "
                    "message on %s dropped",
                    topic);
        dead_letter(ib, REJECT_RING_FULL, topic, topic_len, payload, len);
        wake(ib);
        return 1;
    }
    log_append(ib, topic, payload, len, qos, recv_ns, &lsn);
    for (i = 0; i < n; i++)
        ib->recs[i].lsn = lsn;
    if (why != REJECT_NONE)
        dead_letter(ib, why, topic, topic_len, payload, len);
    if (ring_room(ib->cfg.ring) < n && !wait_room(ib, n)) {
        /* Durable in the log: acknowledge it, catch up from there. */
        add(ib, N_TIMEOUTS, 1);
        add(ib, N_LOG_ONLY, 1);
        atomic_store(&ib->log_only, true);
        log_limited(&ib->rl_wait, LOG_WARN,
                    "inbox: ring still full after "
                    "%lld ms; logging only until the loop catches up",
                    (long long)ib->cfg.wait_ms);
        wake(ib);
        return 1;
    }
    if (ib->cfg.wal == NULL && atomic_load(&ib->stop))
        return 0; /* unlogged and cannot be pushed: let Paho keep it */
    ring_push_all(ib->cfg.ring, ib->recs, n);
    wake(ib);
    return 1;
}

bool inbox_consumer_idle(struct inbox *ib)
{
    atomic_store_explicit(&ib->asleep, true, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    if (ring_is_empty(ib->cfg.ring) && dlq_bytes(ib->cfg.dlq) == 0)
        return true;
    /* More arrived: take the flag back, unless the producer did (then a
     * wake-up is on its way and returning is fine). */
    return !atomic_exchange_explicit(&ib->asleep, false, memory_order_relaxed);
}

bool inbox_log_only(const struct inbox *ib)
{
    return atomic_load(&ib->log_only);
}

void inbox_resume(struct inbox *ib)
{
    atomic_store(&ib->log_only, false);
}

void inbox_stop(struct inbox *ib)
{
    atomic_store(&ib->stop, true);
    if (ib->cfg.wal != NULL)
        wal_set_unbounded(ib->cfg.wal);
}

bool inbox_held(const struct inbox *ib)
{
    return atomic_load(&ib->held);
}

void inbox_stats(const struct inbox *ib, struct inbox_stats *out)
{
    uint64_t v[N__COUNT];
    int i;

    for (i = 0; i < N__COUNT; i++)
        v[i] = atomic_load_explicit(&ib->n[i], memory_order_relaxed);
    out->messages = v[N_MESSAGES];
    out->qos[0] = v[N_QOS0];
    out->qos[1] = v[N_QOS1];
    out->qos[2] = v[N_QOS2];
    out->dups = v[N_DUPS];
    out->ring_drops = v[N_DROPS];
    out->waits = v[N_WAITS];
    out->wait_ms = v[N_WAIT_MS];
    out->timeouts = v[N_TIMEOUTS];
    out->log_only = v[N_LOG_ONLY];
    out->dlq_full = v[N_DLQ_FULL];
    out->wal_errors = v[N_WAL_ERRORS];
    out->last_lsn = v[N_LAST_LSN];
}
