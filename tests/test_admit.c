/* test_admit.c -- the loop-side gate: per-message dedup, per-record
 * validation, framing errors, messages split across batches, and a seeded
 * end-to-end run (messages -> ring -> random batches -> admit) checked
 * against the expected outcome of every record.
 * Threads: single-threaded. */
#include "stream/admit.h"
#include "stream/ring.h"
#include "tests/harness.h"

#include <errno.h>
#include <math.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SLOW_BUILD 1
#endif
#ifdef SLOW_BUILD
#define E2E_MSGS 30000u
#else
#define E2E_MSGS 300000u
#endif

#define NOW 1700000000000LL

/* What the callbacks saw, in order. */
struct seen {
    size_t n;                        /* Records seen. */
    uint64_t tag[1 << 16];           /* Their lsn (a unique tag per record). */
    enum reject_reason why[1 << 16]; /* REJECT_NONE for accepted. */
};

static void on_accept(void *ctx, const struct reading *r)
{
    struct seen *s = ctx;

    ASSERT(s->n < sizeof(s->tag) / sizeof(s->tag[0]));
    s->tag[s->n] = r->lsn;
    s->why[s->n++] = REJECT_NONE;
}

static void on_reject(void *ctx, const struct reading *r,
                      enum reject_reason why)
{
    struct seen *s = ctx;

    ASSERT(why != REJECT_NONE);
    ASSERT(s->n < sizeof(s->tag) / sizeof(s->tag[0]));
    s->tag[s->n] = r->lsn;
    s->why[s->n++] = why;
}

/* A message of n records from dev with seq; lsn tags start at tag. */
static void msg(struct reading *out, size_t n, uint32_t dev, uint64_t seq,
                uint64_t tag)
{
    for (size_t i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof(out[i]));
        out[i].device_id = dev;
        out[i].sensor_id = (uint32_t)i;
        out[i].seq = seq;
        out[i].ts_ms = NOW;
        out[i].value = 1.0 + (double)i;
        out[i].lsn = tag + i;
        out[i].flags = READING_HAS_SEQ | READING_HAS_TS;
    }
    out[0].flags |= READING_MSG_FIRST;
    out[0].nrec = (uint16_t)n;
}

struct rig {
    struct dedup *d;
    struct validate *v;
    struct admit *a;
    struct seen *s;
};

static void rig_init(struct rig *g, size_t max_msg)
{
    struct dedup_config dc = dedup_config_default(16);
    struct validate_config vc = validate_config_default(16, 16);
    struct admit_config ac;

    ASSERT((g->s = calloc(1, sizeof(*g->s))) != NULL);
    ASSERT_EQ(dedup_new(&g->d, &dc), 0);
    ASSERT_EQ(validate_new(&g->v, &vc), 0);
    memset(&ac, 0, sizeof(ac));
    ac.dedup = g->d;
    ac.validate = g->v;
    ac.on_accept = on_accept;
    ac.on_reject = on_reject;
    ac.ctx = g->s;
    ac.max_msg_records = max_msg;
    ASSERT_EQ(admit_new(&g->a, &ac), 0);
}

static void rig_close(struct rig *g)
{
    admit_free(g->a);
    validate_free(g->v);
    dedup_free(g->d);
    free(g->s);
}

/* records == accepted + rejects + pending, and callbacks saw the same. */
static void check_invariant(const struct rig *g)
{
    struct admit_counts c;
    uint64_t sum = 0;
    uint64_t acc = 0;

    admit_counts(g->a, &c);
    for (int i = 0; i < REJECT__COUNT; i++)
        sum += c.rejects.n[i];
    for (size_t i = 0; i < g->s->n; i++)
        acc += g->s->why[i] == REJECT_NONE;
    ASSERT_EQ(c.records, c.accepted + sum + admit_pending(g->a));
    ASSERT_EQ(c.accepted, acc);
    ASSERT_EQ(g->s->n, c.accepted + sum);
}

static void admit_rejects_bad_config(void)
{
    struct admit_config ac;
    struct admit *a;

    memset(&ac, 0, sizeof(ac));
    ASSERT_EQ(admit_new(&a, &ac), -EINVAL); /* no callbacks */
    ac.on_accept = on_accept;
    ac.on_reject = on_reject;
    ac.max_msg_records = 70000;
    ASSERT_EQ(admit_new(&a, &ac), -EINVAL);
    ac.max_msg_records = 0; /* default: any nrec */
    ASSERT_EQ(admit_new(&a, &ac), 0);
    admit_free(a);
    admit_free(NULL);
}

static void admit_dedups_messages_validates_records(void)
{
    struct rig g;
    struct reading m[8];
    struct admit_counts c;

    rig_init(&g, 0);
    msg(m, 3, 1, 100, 10);
    m[1].value = NAN; /* one bad record in a good message */
    msg(m + 3, 1, 1, 101, 20);
    msg(m + 4, 3, 1, 100, 30); /* redelivery of seq 100: duplicate */
    admit_run(g.a, m, 7, NOW);
    ASSERT_EQ(g.s->n, 7);
    ASSERT(g.s->tag[0] == 10 && g.s->why[0] == REJECT_NONE);
    ASSERT(g.s->tag[1] == 11 && g.s->why[1] == REJECT_NAN);
    ASSERT(g.s->tag[2] == 12 && g.s->why[2] == REJECT_NONE);
    ASSERT(g.s->tag[3] == 20 && g.s->why[3] == REJECT_NONE);
    for (size_t i = 4; i < 7; i++)
        ASSERT(g.s->tag[i] == 30 + (i - 4) && g.s->why[i] == REJECT_DUPLICATE);
    admit_counts(g.a, &c);
    ASSERT_EQ(c.messages, 3);
    ASSERT_EQ(c.msg_duplicates, 1);
    ASSERT_EQ(c.rejects.n[REJECT_DUPLICATE], 3);
    ASSERT_EQ(c.rejects.n[REJECT_NAN], 1);
    ASSERT_EQ(c.accepted, 3);
    check_invariant(&g);
    rig_close(&g);
}

static void admit_assembles_split_messages(void)
{
    struct rig g;
    struct reading m[8];

    rig_init(&g, 0);
    msg(m, 5, 2, 7, 100);
    msg(m + 5, 1, 2, 8, 200);
    admit_run(g.a, m, 2, NOW); /* first two records of five */
    ASSERT_EQ(g.s->n, 0);
    ASSERT_EQ(admit_pending(g.a), 2);
    check_invariant(&g);
    admit_run(g.a, m + 2, 1, NOW);
    ASSERT_EQ(admit_pending(g.a), 3);
    admit_run(g.a, m + 3, 3, NOW); /* the rest, and the next message */
    ASSERT_EQ(admit_pending(g.a), 0);
    ASSERT_EQ(g.s->n, 6);
    for (size_t i = 0; i < 5; i++)
        ASSERT(g.s->tag[i] == 100 + i && g.s->why[i] == REJECT_NONE);
    ASSERT(g.s->tag[5] == 200 && g.s->why[5] == REJECT_NONE);
    check_invariant(&g);
    rig_close(&g);
}

static void admit_refuses_broken_framing(void)
{
    struct rig g;
    struct reading m[16];
    struct admit_counts c;

    rig_init(&g, 0);
    msg(m, 2, 3, 1, 10);
    m[0].flags &= (uint16_t)~READING_MSG_FIRST; /* two strays */
    msg(m + 2, 1, 3, 2, 20);
    m[2].nrec = 0; /* first with nrec 0 */
    msg(m + 3, 4, 3, 3, 30);
    msg(m + 5, 1, 3, 4, 40); /* cuts the 4-record message after 2 */
    admit_run(g.a, m, 6, NOW);
    ASSERT_EQ(g.s->n, 6);
    for (size_t i = 0; i < 5; i++)
        ASSERT_EQ(g.s->why[i], REJECT_DECODE_ERROR);
    ASSERT(g.s->tag[5] == 40 && g.s->why[5] == REJECT_NONE);
    /* A buffered message cut by a new one in the next batch. */
    msg(m, 3, 3, 5, 50);
    msg(m + 3, 1, 3, 6, 60);
    admit_run(g.a, m, 2, NOW);
    ASSERT_EQ(admit_pending(g.a), 2);
    admit_run(g.a, m + 3, 1, NOW);
    ASSERT_EQ(admit_pending(g.a), 0);
    ASSERT_EQ(g.s->n, 9);
    ASSERT(g.s->tag[6] == 50 && g.s->why[6] == REJECT_DECODE_ERROR);
    ASSERT(g.s->tag[7] == 51 && g.s->why[7] == REJECT_DECODE_ERROR);
    ASSERT(g.s->tag[8] == 60 && g.s->why[8] == REJECT_NONE);
    admit_counts(g.a, &c);
    ASSERT_EQ(c.rejects.n[REJECT_DECODE_ERROR], 7);
    ASSERT_EQ(c.messages, 2); /* only complete messages are judged */
    check_invariant(&g);
    rig_close(&g);
}

static void admit_refuses_too_large_messages(void)
{
    struct rig g;
    struct reading m[16];

    rig_init(&g, 4);
    msg(m, 6, 4, 1, 10);
    msg(m + 6, 4, 4, 2, 20);
    admit_run(g.a, m, 3, NOW); /* 6 > 4, split across calls */
    admit_run(g.a, m + 3, 7, NOW);
    ASSERT_EQ(g.s->n, 10);
    for (size_t i = 0; i < 6; i++)
        ASSERT(g.s->tag[i] == 10 + i && g.s->why[i] == REJECT_TOO_LARGE);
    for (size_t i = 6; i < 10; i++)
        ASSERT(g.s->tag[i] == 20 + (i - 6) && g.s->why[i] == REJECT_NONE);
    check_invariant(&g);
    rig_close(&g);
}

static void admit_without_stages_accepts_all(void)
{
    struct admit_config ac;
    struct admit *a;
    struct seen *s = calloc(1, sizeof(*s));
    struct reading m[4];

    ASSERT(s != NULL);
    memset(&ac, 0, sizeof(ac));
    ac.on_accept = on_accept;
    ac.on_reject = on_reject;
    ac.ctx = s;
    ASSERT_EQ(admit_new(&a, &ac), 0);
    msg(m, 2, 0, 1, 1);
    msg(m + 2, 2, 0, 1, 3);
    m[3].value = NAN;
    admit_run(a, m, 4, NOW);
    ASSERT_EQ(s->n, 4);
    for (size_t i = 0; i < 4; i++)
        ASSERT_EQ(s->why[i], REJECT_NONE);
    admit_free(a);
    free(s);
}

/* The end-to-end run checks each callback against a queue of expected
 * outcomes, filled as messages are generated. At most a ring's worth plus
 * one message is outstanding, so a small circular queue is enough. */
#define EXQ 1024u

struct e2e {
    uint64_t tag[EXQ];                /* Expected lsn, in order. */
    enum reject_reason why[EXQ];      /* Expected verdict. */
    uint64_t head;                    /* Next expectation to meet. */
    uint64_t tail;                    /* Next free slot. */
    uint64_t outcomes[REJECT__COUNT]; /* Verdicts met, by reason. */
};

static void e2e_meet(struct e2e *e, uint64_t tag, enum reject_reason why)
{
    ASSERT(e->head < e->tail);
    ASSERT_EQ(tag, e->tag[e->head % EXQ]);
    ASSERT_EQ(why, e->why[e->head % EXQ]);
    e->outcomes[why]++;
    e->head++;
}

static void e2e_accept(void *ctx, const struct reading *r)
{
    e2e_meet(ctx, r->lsn, REJECT_NONE);
}

static void e2e_reject(void *ctx, const struct reading *r,
                       enum reject_reason why)
{
    e2e_meet(ctx, r->lsn, why);
}

/* Generate one message into m (returns its length) and queue its expected
 * outcomes; seen[] remembers which (dev, seq) were accepted. */
static size_t gen_message(uint64_t *rng, struct reading *m, uint64_t *tag,
                          uint8_t (*seen)[512], struct e2e *e)
{
    uint64_t v = test_rand(rng);
    size_t n = 1 + (size_t)(v % 6);
    uint32_t dev = (uint32_t)(v >> 8) % 16;
    uint64_t seq = (v >> 16) % 512; /* window 1024 > 512: never stale */
    bool dup = seen[dev][seq];

    msg(m, n, dev, seq, *tag);
    *tag += n;
    for (size_t i = 0; i < n; i++) {
        enum reject_reason why = dup ? REJECT_DUPLICATE : REJECT_NONE;
        if (!dup && (test_rand(rng) % 10) == 0) {
            m[i].value = NAN;
            why = REJECT_NAN;
        }
        ASSERT(e->tail - e->head < EXQ);
        e->tag[e->tail % EXQ] = m[i].lsn;
        e->why[e->tail++ % EXQ] = why;
    }
    seen[dev][seq] = 1;
    return n;
}

static void admit_end_to_end_through_ring(void)
{
    static uint8_t seen[16][512];
    struct e2e *e = calloc(1, sizeof(*e));
    struct dedup_config dc = dedup_config_default(16);
    struct validate_config vc = validate_config_default(16, 16);
    struct admit_config ac;
    struct dedup *d;
    struct validate *va;
    struct admit *a;
    struct ring *r;
    uint64_t rng = test_seed();
    uint64_t tag = 1;
    struct reading m[8];
    struct reading batch[37];
    struct admit_counts c;

    ASSERT(e != NULL);
    ASSERT_EQ(dedup_new(&d, &dc), 0);
    ASSERT_EQ(validate_new(&va, &vc), 0);
    memset(&ac, 0, sizeof(ac));
    ac.dedup = d, ac.validate = va, ac.ctx = e;
    ac.on_accept = e2e_accept, ac.on_reject = e2e_reject;
    ASSERT_EQ(admit_new(&a, &ac), 0);
    ASSERT_EQ(ring_new(&r, 64), 0);
    for (size_t k = 0; k < E2E_MSGS;) {
        uint64_t v = test_rand(&rng);
        size_t got;

        if (v % 3 != 0) { /* produce a message */
            size_t n = gen_message(&rng, m, &tag, seen, e);
            while (ring_push_all(r, m, n) == -ENOBUFS) {
                got = ring_pop(r, batch, 37); /* make room */
                admit_run(a, batch, got, NOW);
            }
            k++;
        } else if (v & 8) { /* consume a random batch by copy */
            got = ring_pop(r, batch, 1 + (size_t)(v >> 8) % 37);
            admit_run(a, batch, got, NOW);
        } else { /* or zero-copy, part of a span */
            const struct reading *span;
            size_t want = 1 + (size_t)(v >> 8) % 37;
            got = ring_peek(r, &span);
            got = got < want ? got : want;
            admit_run(a, span, got, NOW);
            ring_consume(r, got);
        }
    }
    for (size_t got; (got = ring_pop(r, batch, 37)) > 0;)
        admit_run(a, batch, got, NOW);
    ASSERT_EQ(admit_pending(a), 0);
    ASSERT_EQ(e->head, e->tail); /* every record came out, as expected */
    ASSERT_EQ(e->tail, tag - 1);
    admit_counts(a, &c);
    ASSERT_EQ(c.records, e->tail);
    ASSERT_EQ(c.accepted, e->outcomes[REJECT_NONE]);
    ASSERT(e->outcomes[REJECT_NONE] > 0 && e->outcomes[REJECT_DUPLICATE] > 0 &&
           e->outcomes[REJECT_NAN] > 0);
    ring_free(r);
    admit_free(a);
    validate_free(va);
    dedup_free(d);
    free(e);
}

static const struct test tests[] = {
    {"admit_rejects_bad_config", admit_rejects_bad_config},
    {"admit_dedups_messages_validates_records",
     admit_dedups_messages_validates_records},
    {"admit_assembles_split_messages", admit_assembles_split_messages},
    {"admit_refuses_broken_framing", admit_refuses_broken_framing},
    {"admit_refuses_too_large_messages", admit_refuses_too_large_messages},
    {"admit_without_stages_accepts_all", admit_without_stages_accepts_all},
    {"admit_end_to_end_through_ring", admit_end_to_end_through_ring},
    {NULL, NULL}};

int main(int argc, char **argv)
{
    return test_main(argc, argv, tests);
}
