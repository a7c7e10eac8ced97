/* simgen.c -- scenario + faults + encoding as a deterministic message
 * stream (see simgen.h).
 *
 * Messages live in a fixed pool of SIMGEN_POOL slots (each ~17 KiB, so
 * ~9 MiB in all, allocated once). A slot is on the free list, in the output
 * FIFO, held back (reorder, or a duplicate waiting for its turn), or the
 * one last returned by simgen_next(). Every fresh message pushed to the
 * FIFO counts down the held ones; those reaching zero follow it. If the
 * pool runs dry the oldest held message is released early, so memory stays
 * bounded whatever the fault rates.
 *
 * A dropped message still goes through the FIFO, marked, so that its ledger
 * lines appear where it would have been sent; simgen_next() skips it.
 *
 * Threads: none of its own; one instance per thread. */
#include "sim/simgen.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/ledger.h"

#define SIMGEN_POOL 512

struct held {
    struct simgen_msg *m; /* The message. */
    int after;            /* Fresh messages to wait for. */
};

struct simgen {
    struct simgen_opts o;                  /* Copy; strings re-pointed below. */
    char prefix[SIMGEN_TOPIC_MAX];         /* Topic prefix. */
    struct scenario *sc;                   /* The world. */
    struct faults *f;                      /* Fault state. */
    struct ledger *ledger;                 /* Or NULL. */
    bool ledger_failed;                    /* A ledger write failed. */
    uint64_t *seq;                         /* Next seq, per device. */
    struct simgen_msg *pool;               /* SIMGEN_POOL slots. */
    struct simgen_msg *free_[SIMGEN_POOL]; /* Free slots (a stack). */
    size_t nfree;                          /* Entries in free_. */
    struct simgen_msg *fifo[SIMGEN_POOL];  /* Output queue (ring). */
    size_t fhead;                          /* Index of the oldest. */
    size_t flen;                           /* Entries queued. */
    struct held held[SIMGEN_POOL];         /* Held back, in arrival order. */
    size_t nheld;                          /* Entries in held. */
    struct simgen_msg *current;            /* Last returned, freed next call. */
    bool finished;                         /* No more sampling. */
    uint64_t out_index;                    /* Index of the next sent message. */
    struct simgen_stats st;                /* Counters. */
    struct scenario_sample smp;            /* Scratch. */
    struct faults_sample_out fo;           /* Scratch. */
};

/* ---- Slots and queues -------------------------------------------------- */

static void fifo_push(struct simgen *g, struct simgen_msg *m)
{
    g->fifo[(g->fhead + g->flen++) % SIMGEN_POOL] = m;
}

static struct simgen_msg *fifo_pop(struct simgen *g)
{
    struct simgen_msg *m = g->fifo[g->fhead];

    g->fhead = (g->fhead + 1) % SIMGEN_POOL;
    g->flen--;
    return m;
}

/* Move held[i] to the FIFO. */
static void release(struct simgen *g, size_t i)
{
    fifo_push(g, g->held[i].m);
    memmove(&g->held[i], &g->held[i + 1],
            (g->nheld - i - 1) * sizeof(g->held[0]));
    g->nheld--;
}

static struct simgen_msg *slot(struct simgen *g)
{
    if (g->nfree == 0 && g->nheld > 0)
        release(g, 0);
    if (g->nfree == 0) {
        /* Only possible if the FIFO holds the whole pool, which a single
         * sample (<= 66 messages, each with at most one copy) cannot. */
        fprintf(stderr, "simgen: message pool exhausted\n");
        abort();
    }
    return g->free_[--g->nfree];
}

static void hold(struct simgen *g, struct simgen_msg *m, int after)
{
    g->held[g->nheld].m = m;
    g->held[g->nheld].after = after;
    g->nheld++;
}

/* A fresh message goes out: count the held ones down. */
static void push_fresh(struct simgen *g, struct simgen_msg *m)
{
    fifo_push(g, m);
    for (size_t i = 0; i < g->nheld; i++)
        g->held[i].after--;
    for (size_t i = 0; i < g->nheld;) {
        if (g->held[i].after <= 0)
            release(g, i);
        else
            i++;
    }
}

/* ---- Generation -------------------------------------------------------- */

static int build(struct simgen *g, struct simgen_msg *m, const size_t *idx,
                 size_t n, int64_t ts, uint32_t sample_bits)
{
    struct encode_value ev[SIMGEN_MSG_VALUES];
    const char *dev = scenario_device_name(g->sc, g->smp.device);
    size_t ns = g->smp.n_sensors;

    m->device = g->smp.device;
    m->seq = g->seq[g->smp.device]++;
    m->ts_ms = ts;
    m->sim_ms = g->smp.ts_ms;
    m->faults = 0;
    m->drifted = g->smp.drifted;
    m->n = n;
    for (size_t i = 0; i < n; i++) {
        size_t j = idx[i];
        ev[i].name = scenario_value_name(g->sc, j);
        ev[i].value = g->smp.value[j];
        ev[i].is_label = j >= ns;
        m->v[i].index = (uint16_t)j;
        m->v[i].value = g->smp.value[j];
        m->v[i].faults = g->fo.value_bits[j] | sample_bits;
    }
    if (encode_topic(m->topic, sizeof(m->topic), g->prefix, dev,
                     encode_per_reading(g->o.format) ? ev[0].name : NULL) < 0)
        return -ENAMETOOLONG;
    m->len = encode_payload(g->o.format, dev, m->seq, ts, ev, n, m->payload,
                            sizeof(m->payload));
    return m->len > 0 ? 0 : -EMSGSIZE;
}

/* Message-level faults, then into the FIFO or held. */
static void dispatch(struct simgen *g, struct simgen_msg *m)
{
    struct faults_msg_out d;

    faults_message(g->f, m->device, m->sim_ms, &d);
    if (d.drop) {
        m->faults |= FAULT_DROP;
        fifo_push(g, m); /* for the ledger only */
        return;
    }
    if (d.corrupt != 0 &&
        encode_corrupt(g->o.format, d.corrupt, faults_rng(g->f), m->payload,
                       &m->len, sizeof(m->payload)) == 0)
        m->faults |= d.corrupt;
    /* The original is queued first, so a copy due at the same moment
     * follows it. */
    if (d.hold > 0) {
        m->faults |= FAULT_REORDER;
        hold(g, m, d.hold);
    }
    if (d.dup_after >= 0) {
        struct simgen_msg *c = slot(g);
        *c = *m;
        c->faults = (c->faults & ~(uint32_t)FAULT_REORDER) | FAULT_DUP;
        hold(g, c, d.dup_after + d.hold);
    }
    if (d.hold > 0)
        return;
    push_fresh(g, m);
    /* A duplicate with after == 0 follows its original at once. */
    for (size_t i = 0; i < g->nheld;) {
        if (g->held[i].after <= 0)
            release(g, i);
        else
            i++;
    }
}

static int sample(struct simgen *g)
{
    size_t idx[SIMGEN_MSG_VALUES];
    size_t nv;
    int64_t ts;
    uint32_t bits;
    int rc;

    if (g->o.max_readings > 0 && g->st.readings >= g->o.max_readings) {
        g->finished = true;
        return 0;
    }
    scenario_next(g->sc, &g->smp);
    nv = g->smp.n_sensors + g->smp.n_labels;
    g->st.samples++;
    g->st.readings += nv;
    faults_sample(g->f, &g->smp, &g->fo);
    if (g->fo.silent) {
        g->st.gap_samples++;
        return 0;
    }
    if (g->fo.restart)
        g->seq[g->smp.device] = 0;
    ts = g->smp.ts_ms + g->fo.skew_ms;
    bits = g->fo.sample_bits;
    for (size_t j = 0; j < nv; j++)
        idx[j] = j;
    if (!encode_per_reading(g->o.format)) {
        struct simgen_msg *m = slot(g);
        if ((rc = build(g, m, idx, nv, ts, bits)) < 0)
            return rc;
        dispatch(g, m);
        return 0;
    }
    for (size_t j = 0; j < nv; j++) {
        struct simgen_msg *m = slot(g);
        if ((rc = build(g, m, &idx[j], 1, ts, bits)) < 0)
            return rc;
        dispatch(g, m);
        bits &= ~(uint32_t)FAULT_RESTART; /* the first message only */
    }
    return 0;
}

/* ---- Output ------------------------------------------------------------ */

static void account(struct simgen *g, struct simgen_msg *m, bool sent)
{
    const char *dev = scenario_device_name(g->sc, m->device);

    for (size_t i = 0; i < m->n; i++) {
        uint32_t bits = m->v[i].faults | m->faults;
        for (int b = 0; b < FAULT__BITS; b++)
            g->st.per_bit[b] += (bits >> b) & 1;
        if (g->ledger == NULL)
            continue;
        struct ledger_entry e = {
            .msg = g->out_index,
            .sent = sent,
            .device = dev,
            .seq = m->seq,
            .ts_ms = m->ts_ms,
            .sensor = scenario_value_name(g->sc, m->v[i].index),
            .label = m->v[i].index >= scenario_sensors(g->sc),
            .value = m->v[i].value,
            .faults = bits,
        };
        ledger_write(g->ledger, &e);
    }
}

int simgen_next(struct simgen *g, const struct simgen_msg **out)
{
    int rc;

    if (g->current != NULL) {
        g->free_[g->nfree++] = g->current;
        g->current = NULL;
    }
    for (;;) {
        while (g->flen == 0) {
            if (g->finished) {
                if (g->nheld == 0)
                    return 0;
                release(g, 0);
                break;
            }
            if ((rc = sample(g)) < 0)
                return rc;
        }
        struct simgen_msg *m = fifo_pop(g);
        if (m->faults & FAULT_DROP) {
            account(g, m, false);
            g->free_[g->nfree++] = m;
            continue;
        }
        m->index = g->out_index;
        account(g, m, true);
        g->out_index++;
        g->st.messages++;
        g->st.readings_out += m->n;
        g->st.bytes += m->len;
        g->current = m;
        *out = m;
        return 1;
    }
}

void simgen_finish(struct simgen *g)
{
    g->finished = true;
}

/* ---- Lifecycle --------------------------------------------------------- */

int simgen_new(struct simgen **out, const struct simgen_opts *opts, char *err,
               size_t errlen)
{
    struct simgen *g;
    int rc;

    if (!encode_supported(opts->format)) {
        snprintf(err, errlen, "format %s is not built into this weir-sim",
                 encode_format_name(opts->format));
        return -ENOTSUP;
    }
    if ((g = calloc(1, sizeof(*g))) == NULL)
        return -ENOMEM;
    g->o = *opts;
    snprintf(g->prefix, sizeof(g->prefix), "%s",
             opts->topic_prefix ? opts->topic_prefix : "sensors");
    g->o.topic_prefix = g->prefix;
    g->o.ledger_path = NULL;
    if ((rc = scenario_new(&g->sc, &opts->scenario)) < 0) {
        snprintf(err, errlen,
                 "bad scenario options (devices 1..%d, sensors "
                 "0..%d, period > 0)",
                 SCENARIO_MAX_DEVICES, SCENARIO_MAX_SENSORS);
        goto fail;
    }
    if ((rc = faults_new(&g->f, &opts->faults, opts->scenario.seed,
                         opts->scenario.start_ms, g->sc, err, errlen)) < 0)
        goto fail;
    rc = -ENOMEM;
    g->seq = calloc(scenario_devices(g->sc), sizeof(*g->seq));
    g->pool = calloc(SIMGEN_POOL, sizeof(*g->pool));
    if (g->seq == NULL || g->pool == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < SIMGEN_POOL; i++)
        g->free_[g->nfree++] = &g->pool[SIMGEN_POOL - 1 - i];
    if (opts->ledger_path != NULL &&
        (rc = ledger_open(&g->ledger, opts->ledger_path, err, errlen)) < 0)
        goto fail;
    *out = g;
    return 0;
fail:
    simgen_free(g);
    return rc;
}

int simgen_free(struct simgen *g)
{
    int rc;

    if (g == NULL)
        return 0;
    rc = ledger_close(g->ledger);
    faults_free(g->f);
    scenario_free(g->sc);
    free(g->seq);
    free(g->pool);
    free(g);
    return rc;
}

void simgen_stats(const struct simgen *g, struct simgen_stats *out)
{
    *out = g->st;
}

const char *simgen_device_name(const struct simgen *g, size_t i)
{
    return scenario_device_name(g->sc, i);
}

const char *simgen_value_name(const struct simgen *g, size_t j)
{
    return scenario_value_name(g->sc, j);
}

size_t simgen_values(const struct simgen *g)
{
    return scenario_sensors(g->sc) + scenario_labels(g->sc);
}

size_t simgen_readings_per_sample(const struct simgen *g)
{
    return simgen_values(g);
}
