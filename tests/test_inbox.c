/* test_inbox.c -- ingest/inbox.c without a broker: the wake-up protocol
 * between Paho's thread and the loop thread, and what a message costs the
 * ingest log when it cannot be logged.
 *
 * The wake-up test runs the real thing on two threads: a producer thread
 * calling inbox_message() (valid JSON readings, and refused payloads that
 * also go to the dead-letter channel) in bursts of random size, and a
 * libuv loop on the main thread whose uv_async_t callback drains the ring
 * and the dead-letter channel the way ingest/app.c does, napping at random
 * so that it goes to sleep at every possible moment. After each burst the
 * producer waits until the consumer has seen every message; a lost
 * wake-up leaves messages in the ring with the loop asleep, which shows as
 * a burst never drained (the wait gives up after 5 s and the case fails).
 *
 * Threads: the main thread runs the loop (the ring's consumer), a second
 * thread is the producer; they share the atomics of struct rig. */
#include "tests/harness.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "ingest/decoder.h"
#include "ingest/dlq.h"
#include "ingest/inbox.h"
#include "stream/intern.h"
#include "stream/ring.h"

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap_us(long us)
{
    struct timespec ts = {0, us * 1000};

    nanosleep(&ts, NULL);
}

/* xorshift64*: each thread its own. */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

struct rig {
    uv_loop_t loop;
    uv_async_t wakeup;
    uv_idle_t idle;
    struct intern *devices;
    struct intern *sensors;
    struct decoder *dec;
    struct ring *ring;
    struct dlq *dlq;
    struct inbox *ib;
    struct reading batch[1024]; /* Consumer's pop buffer. */
    char *dl_topic;             /* Consumer's dead-letter buffers. */
    uint8_t *dl_payload;
    uint64_t cseed;                /* Consumer's random state. */
    atomic_uint_fast64_t messages; /* Meta records drained (consumer). */
    atomic_uint_fast64_t dead;     /* Dead letters drained (consumer). */
    atomic_uint_fast64_t wakeups;  /* Callback runs (consumer). */
    atomic_bool done;              /* Producer finished. */
    atomic_bool hold;              /* Consumer: wait for a full ring. */
    uint64_t waits_seen;           /* Consumer: inbox waits so far. */
    atomic_uint_fast64_t lost;     /* Bursts never drained (producer). */
    uint64_t sent;                 /* Messages (producer, then main). */
    uint64_t refused;              /* Of those refused (producer). */
    int bursts;                    /* How many (set before start). */
};

static void rig_open(struct rig *r)
{
    struct decoder_sub sub;
    struct inbox_config ic;

    memset(r, 0, sizeof(*r));
    ASSERT_EQ(uv_loop_init(&r->loop), 0);
    ASSERT_EQ(intern_new(&r->devices, 64), 0);
    ASSERT_EQ(intern_new(&r->sensors, 64), 0);
    ASSERT_EQ(
        topic_template_parse("sensors/{device}/{sensor}", &sub.tpl, NULL, 0),
        0);
    sub.format = DECODER_AUTO;
    ASSERT_EQ(decoder_new(&r->dec, &sub, 1, r->devices, r->sensors), 0);
    /* A small ring, so that bursts also fill it and the producer waits. */
    ASSERT_EQ(ring_new(&r->ring, 64), 0);
    ASSERT_EQ(dlq_new(&r->dlq, DLQ_MIN_CAP), 0);
    r->dl_topic = malloc(DLQ_MAX_TOPIC + 1);
    r->dl_payload = malloc(DLQ_MAX_PAYLOAD);
    ASSERT(r->dl_topic != NULL && r->dl_payload != NULL);
    memset(&ic, 0, sizeof(ic));
    ic.decoder = r->dec;
    ic.ring = r->ring;
    ic.dlq = r->dlq;
    ic.wakeup = &r->wakeup;
    ic.wait_ms = 5000;
    ASSERT_EQ(inbox_new(&r->ib, &ic), 0);
    r->cseed = 0x9e3779b97f4a7c15ULL;
}

static void rig_close(struct rig *r)
{
    ASSERT_EQ(uv_loop_close(&r->loop), 0);
    inbox_free(r->ib);
    dlq_free(r->dlq);
    ring_free(r->ring);
    decoder_free(r->dec);
    intern_free(r->devices);
    intern_free(r->sensors);
    free(r->dl_topic);
    free(r->dl_payload);
}

/* Drain the ring and the dead letters; returns the records popped. */
static size_t drain(struct rig *r)
{
    struct dlq_entry e = {.topic = r->dl_topic, .payload = r->dl_payload};
    size_t got, i, n = 0;

    while ((got = ring_pop(r->ring, r->batch, 1024)) > 0) {
        n += got;
        for (i = 0; i < got; i++)
            if ((r->batch[i].flags & DECODER_META) != 0)
                atomic_fetch_add(&r->messages, 1);
    }
    while (dlq_pop(r->dlq, &e) == 1)
        atomic_fetch_add(&r->dead, 1);
    return n;
}

static void on_idle(uv_idle_t *h);

/* Before a long burst the producer asks the consumer to hold: it does not
 * drain until the producer has had to wait for room (inbox_stats().waits
 * grew), so that the full-ring path runs on every machine, whatever the
 * scheduler does; after 2 s it drains anyway and the case's waits check
 * says so. Called on: the loop thread. */
static void hold_until_full(struct rig *r)
{
    struct inbox_stats st;
    int64_t end;

    if (!atomic_load(&r->hold))
        return;
    end = mono_ms() + 2000;
    do {
        inbox_stats(r->ib, &st);
        if (st.waits > r->waits_seen)
            break;
        nap_us(50);
    } while (mono_ms() < end);
    r->waits_seen = st.waits;
    atomic_store(&r->hold, false);
}

/* As ingest/app.c's drain_turn(): a turn that found records keeps the
 * idle handle on, so the loop comes back next turn; one that found none
 * tells the inbox it sleeps, draining again while that says something
 * arrived, and stops the idle handle. Naps at random so that it goes to
 * sleep at every possible moment. Called on: the loop thread. */
static void turn(struct rig *r)
{
    size_t n;

    hold_until_full(r);
    n = drain(r);

    while (n == 0) {
        if (rnd(&r->cseed) % 4 == 0)
            nap_us((long)(rnd(&r->cseed) % 30));
        if (inbox_consumer_idle(r->ib))
            break;
        n = drain(r);
    }
    if (n > 0)
        uv_idle_start(&r->idle, on_idle);
    else
        uv_idle_stop(&r->idle);
    if (atomic_load(&r->done) && !uv_is_closing((uv_handle_t *)&r->idle)) {
        uv_close((uv_handle_t *)&r->wakeup, NULL);
        uv_close((uv_handle_t *)&r->idle, NULL);
    }
}

/* Called on: the loop thread. */
static void on_wakeup(uv_async_t *h)
{
    struct rig *r = h->data;

    atomic_fetch_add(&r->wakeups, 1);
    turn(r);
}

/* Called on: the loop thread. */
static void on_idle(uv_idle_t *h)
{
    turn(h->data);
}

/* Wait until the consumer has drained `want` messages; false after 5 s. */
static bool wait_drained(struct rig *r, uint64_t want)
{
    int64_t end = mono_ms() + 5000;

    while (atomic_load(&r->messages) < want)
        if (mono_ms() > end)
            return false;
        else
            nap_us(5);
    return true;
}

/* Called on: the producer thread. */
static void *producer(void *arg)
{
    struct rig *r = arg;
    uint64_t seed = 0x2545F4914F6CDD1DULL;
    char topic[64];
    char payload[96];
    int b, k, n;

    for (b = 0; b < r->bursts; b++) {
        n = 1 + (int)(rnd(&seed) % 8);
        if (b % 512 == 0) {
            n = 200; /* more than the ring holds: the producer waits */
            atomic_store(&r->hold, true);
        }
        for (k = 0; k < n; k++) {
            bool bad = rnd(&seed) % 16 == 0;
            int tl = snprintf(topic, sizeof(topic), "sensors/d%d/temp",
                              (int)(rnd(&seed) % 8));
            int pl = snprintf(payload, sizeof(payload),
                              bad ? "{\"value\":" : "{\"value\":%d}", k);
            ASSERT_EQ(inbox_message(r->ib, topic, (size_t)tl, payload,
                                    (size_t)pl, 1, false),
                      1);
            r->sent++;
            r->refused += bad;
            if (rnd(&seed) % 8 == 0)
                nap_us((long)(rnd(&seed) % 20));
        }
        if (!wait_drained(r, r->sent)) {
            atomic_fetch_add(&r->lost, 1);
            break;
        }
    }
    atomic_store(&r->done, true);
    uv_async_send(&r->wakeup); /* so the loop can close */
    return NULL;
}

static void wakeups_are_never_lost(void)
{
    struct rig *r = calloc(1, sizeof(*r));
    struct inbox_stats st;
    pthread_t t;
    int64_t t0;

    ASSERT(r != NULL);
    rig_open(r);
    r->bursts = 20000;
    ASSERT_EQ(uv_async_init(&r->loop, &r->wakeup, on_wakeup), 0);
    ASSERT_EQ(uv_idle_init(&r->loop, &r->idle), 0);
    r->wakeup.data = r->idle.data = r;
    t0 = mono_ms();
    ASSERT_EQ(pthread_create(&t, NULL, producer, r), 0);
    ASSERT_EQ(uv_run(&r->loop, UV_RUN_DEFAULT), 0);
    ASSERT_EQ(pthread_join(t, NULL), 0);
    ASSERT_EQ(atomic_load(&r->lost), 0);
    ASSERT_EQ(atomic_load(&r->messages), r->sent);
    ASSERT_EQ(atomic_load(&r->dead), r->refused);
    ASSERT(r->refused > 0);
    inbox_stats(r->ib, &st);
    ASSERT_EQ(st.messages, r->sent);
    /* Every long burst filled the ring (the consumer held for it). */
    ASSERT(st.waits >= (uint64_t)(r->bursts + 511) / 512);
    ASSERT_EQ(st.timeouts, 0);
    fprintf(stderr, "# %llu messages, %llu wake-ups, %lld ms\n",
            (unsigned long long)r->sent,
            (unsigned long long)atomic_load(&r->wakeups),
            (long long)(mono_ms() - t0));
    rig_close(r);
    free(r);
}

static const struct test tests[] = {
    {"wakeups_are_never_lost", wakeups_are_never_lost},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return test_main(argc, argv, tests);
}
