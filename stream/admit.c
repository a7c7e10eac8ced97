/* admit.c -- dedup per message, validation per record, two callbacks.
 *
 * admit_run() walks a batch once. For each message it finds the first
 * record (READING_MSG_FIRST), counts the continuation records after it
 * and, when the whole message is in the batch -- the usual case, since the
 * producer pushes messages whole and the consumer pops in large batches --
 * judges it in place without copying. A message cut by the end of the
 * batch is copied into the assembly buffer (max_msg_records records,
 * allocated in admit_new()) and completed by the next call. A message cut
 * by the start of another one, or a continuation record with no message
 * open, is broken framing: its records go to on_reject as
 * REJECT_DECODE_ERROR. A message whose nrec exceeds max_msg_records is
 * refused whole as REJECT_TOO_LARGE, following records included, without
 * being buffered.
 *
 * Cost: with thousands of devices, the dedup window and rate state of a
 * record are cache misses. admit_run() therefore asks dedup and validate
 * to prefetch the state of the records ADMIT_PREFETCH ahead of the one it
 * judges, so the misses of a batch overlap instead of queueing.
 *
 * Invariant (checked by the tests): every record taken in is, at any
 * moment, either accepted, rejected with a reason, or pending:
 *     records == accepted + sum(rejects) + admit_pending().
 *
 * Threads: everything, callbacks included, runs on the thread that owns
 * the struct admit and its dedup and validate (the loop thread). */
#include "stream/admit.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define ADMIT_MAX_NREC 65535u /* nrec is a uint16_t */
#define ADMIT_PREFETCH 8      /* records whose state is loaded ahead */

struct admit {
    struct admit_config cfg;        /* Copy of the caller's; constant. */
    struct reading *buf;            /* Assembly buffer, max_msg_records. */
    size_t have;                    /* Records in buf. */
    size_t want;                    /* nrec of the buffered message; 0: none. */
    size_t discard;                 /* Continuation records still to refuse. */
    enum reject_reason discard_why; /* ... with this reason. */
    struct admit_counts counts;     /* Counters (restarts filled on read). */
};

int admit_new(struct admit **out, const struct admit_config *cfg)
{
    struct admit *a;
    size_t max = cfg->max_msg_records ? cfg->max_msg_records : ADMIT_MAX_NREC;

    if (cfg->on_accept == NULL || cfg->on_reject == NULL ||
        max > ADMIT_MAX_NREC)
        return -EINVAL;
    if ((a = calloc(1, sizeof(*a))) == NULL)
        return -ENOMEM;
    if ((a->buf = calloc(max, sizeof(*a->buf))) == NULL) {
        free(a);
        return -ENOMEM;
    }
    a->cfg = *cfg;
    a->cfg.max_msg_records = max;
    *out = a;
    return 0;
}

void admit_free(struct admit *a)
{
    if (a == NULL)
        return;
    free(a->buf);
    free(a);
}

static void admit_reject(struct admit *a, const struct reading *r, size_t n,
                         enum reject_reason why)
{
    a->counts.rejects.n[why] += n;
    for (size_t i = 0; i < n; i++)
        a->cfg.on_reject(a->cfg.ctx, &r[i], why);
}

/* Judge one complete message msg[0..n). */
static void admit_judge(struct admit *a, const struct reading *msg, size_t n,
                        int64_t now_ms)
{
    enum reject_reason why = REJECT_NONE;

    a->counts.messages++;
    if (a->cfg.dedup != NULL)
        why = dedup_check(a->cfg.dedup, msg, n, now_ms);
    if (why != REJECT_NONE) {
        a->counts.msg_duplicates += why == REJECT_DUPLICATE;
        a->counts.msg_stale += why == REJECT_STALE;
        admit_reject(a, msg, n, why);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (a->cfg.validate != NULL)
            why = validate_check(a->cfg.validate, &msg[i], now_ms);
        if (why != REJECT_NONE) {
            admit_reject(a, &msg[i], 1, why);
        } else {
            a->counts.accepted++;
            a->cfg.on_accept(a->cfg.ctx, &msg[i]);
        }
    }
}

static bool is_first(const struct reading *r)
{
    return (r->flags & READING_MSG_FIRST) != 0;
}

/* Continue what the last call left open: refusing the tail of a too-large
 * message, or completing a buffered one. Returns records used. */
static size_t admit_resume(struct admit *a, const struct reading *recs,
                           size_t n, int64_t now_ms)
{
    size_t i = 0;

    while (a->discard > 0 && i < n && !is_first(&recs[i])) {
        admit_reject(a, &recs[i++], 1, a->discard_why);
        a->discard--;
    }
    if (i < n)
        a->discard = 0; /* a new message began early, or the tail ended */
    if (a->want == 0)
        return i;
    while (a->have < a->want && i < n && !is_first(&recs[i]))
        a->buf[a->have++] = recs[i++];
    if (a->have == a->want) {
        admit_judge(a, a->buf, a->have, now_ms);
    } else if (i < n) {
        admit_reject(a, a->buf, a->have, REJECT_DECODE_ERROR); /* cut */
    } else {
        return i; /* still incomplete */
    }
    a->have = 0;
    a->want = 0;
    return i;
}

/* Handle the message starting at recs[0]; returns records used. */
static size_t admit_message(struct admit *a, const struct reading *recs,
                            size_t n, int64_t now_ms)
{
    size_t m = recs[0].nrec;
    size_t k = 1;

    if (m == 0) {
        admit_reject(a, recs, 1, REJECT_DECODE_ERROR);
        return 1;
    }
    while (k < m && k < n && !is_first(&recs[k]))
        k++;
    if (m > a->cfg.max_msg_records) {
        admit_reject(a, recs, k, REJECT_TOO_LARGE);
        if (k == n && k < m) { /* its tail comes in the next batch */
            a->discard = m - k;
            a->discard_why = REJECT_TOO_LARGE;
        }
    } else if (k == m) {
        admit_judge(a, recs, m, now_ms);
    } else if (k == n) {
        memcpy(a->buf, recs, k * sizeof(*recs));
        a->have = k;
        a->want = m;
    } else {
        admit_reject(a, recs, k, REJECT_DECODE_ERROR); /* cut short */
    }
    return k;
}

/* Start the cache misses of records up to PREFETCH ahead of i. */
static void admit_prefetch(const struct admit *a, const struct reading *recs,
                           size_t n, size_t i, size_t *pf)
{
    for (; *pf < n && *pf < i + ADMIT_PREFETCH; ++*pf) {
        if (a->cfg.dedup != NULL && is_first(&recs[*pf]))
            dedup_prefetch(a->cfg.dedup, &recs[*pf]);
        if (a->cfg.validate != NULL)
            validate_prefetch(a->cfg.validate, &recs[*pf]);
    }
}

void admit_run(struct admit *a, const struct reading *recs, size_t n,
               int64_t now_ms)
{
    size_t i;
    size_t pf = 0;

    a->counts.records += n;
    i = admit_resume(a, recs, n, now_ms);
    while (i < n) {
        admit_prefetch(a, recs, n, i, &pf);
        if (!is_first(&recs[i])) {
            admit_reject(a, &recs[i++], 1, REJECT_DECODE_ERROR); /* stray */
            continue;
        }
        i += admit_message(a, recs + i, n - i, now_ms);
    }
}

size_t admit_pending(const struct admit *a)
{
    return a->have;
}

void admit_counts(const struct admit *a, struct admit_counts *out)
{
    *out = a->counts;
    out->restarts = 0;
    if (a->cfg.dedup != NULL) {
        struct dedup_stats st;
        dedup_stats(a->cfg.dedup, &st);
        out->restarts = st.restarts;
    }
}
