/* faults.c -- fault specs, their parsing and their per-device state (see
 * faults.h).
 *
 * Each spec has its own random stream (seed, fault name, spec index) and
 * per-device state only where it needs one: a "fired" flag for scheduled
 * one-shot faults, the remaining length and offset of gap/skew episodes,
 * and per (device, value) stuck episodes. Cost per sample: one uniform draw
 * per active spec per unit.
 *
 * Threads: none of its own; one instance per thread. */
#include "sim/faults.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/simrand.h"

#define NV (SCENARIO_MAX_SENSORS + SCENARIO_MAX_LABELS)

struct episode {
    int64_t left; /* Samples left; 0 = none running. */
    int64_t skew; /* Skew offset of this episode, ms. */
    double value; /* Stuck value. */
};

struct spec_state {
    struct fault_spec s; /* The spec. */
    struct simrand rng;  /* Its own stream. */
    int dev;             /* Device index for dev=, or -1 = all. */
    bool *fired;         /* Per device: scheduled one-shot done. */
    struct episode *ep;  /* Per device (gap, skew) or device x value. */
};

struct faults {
    size_t n;                               /* Specs. */
    struct spec_state st[FAULTS_MAX_SPECS]; /* One per spec. */
    size_t devices;                         /* Of the scenario. */
    size_t nvalues;                         /* Sensors + labels. */
    int64_t start_ms;                       /* Simulated start. */
    const struct scenario *sc;              /* Borrowed, for scales. */
    struct simrand corrupt_rng;             /* For payload bytes. */
};

static const char *const kind_names[FK__COUNT] = {
    [FK_DUP] = "dup",         [FK_REORDER] = "reorder",
    [FK_CORRUPT] = "corrupt", [FK_DROP] = "drop",
    [FK_NAN] = "nan",         [FK_SPIKE] = "spike",
    [FK_STUCK] = "stuck",     [FK_GAP] = "gap",
    [FK_SKEW] = "skew",       [FK_RESTART] = "restart",
};

static const char *const bit_names[FAULT__BITS] = {
    "dup",          "reorder", "corrupt_trunc", "corrupt_bytes",
    "corrupt_type", "drop",    "nan",           "inf",
    "spike",        "stuck",   "skew",          "restart",
};

const char *faults_bit_name(uint32_t bit)
{
    for (int i = 0; i < FAULT__BITS; i++)
        if (bit == 1u << i)
            return bit_names[i];
    return "unknown";
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- Parsing ----------------------------------------------------------- */

static bool parse_double(const char *s, size_t len, double *out)
{
    char buf[64];
    char *end;

    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    *out = strtod(buf, &end);
    return *end == '\0' && isfinite(*out);
}

static bool parse_i64(const char *s, size_t len, int64_t *out)
{
    double d;

    if (!parse_double(s, len, &d) || d != floor(d) || fabs(d) > 9e15)
        return false;
    *out = (int64_t)d;
    return true;
}

static int parse_sub(struct fault_spec *sp, const char *v, size_t len)
{
    static const struct {
        enum fault_kind kind;
        const char *name;
        uint32_t bits;
    } subs[] = {
        {FK_CORRUPT, "any", FAULT_CORRUPT},
        {FK_CORRUPT, "trunc", FAULT_CORRUPT_TRUNC},
        {FK_CORRUPT, "bytes", FAULT_CORRUPT_BYTES},
        {FK_CORRUPT, "type", FAULT_CORRUPT_TYPE},
        {FK_NAN, "any", FAULT_NAN | FAULT_INF},
        {FK_NAN, "nan", FAULT_NAN},
        {FK_NAN, "inf", FAULT_INF},
    };
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        if (subs[i].kind == sp->kind && strlen(subs[i].name) == len &&
            memcmp(subs[i].name, v, len) == 0) {
            sp->sub = subs[i].bits;
            return 0;
        }
    }
    return -EINVAL;
}

/* One key=value option of a spec. */
static int parse_key(struct fault_spec *sp, const char *k, size_t klen,
                     const char *v, size_t vlen)
{
#define KEY(name) (klen == strlen(name) && memcmp(k, name, klen) == 0)
    if (KEY("len"))
        return parse_i64(v, vlen, &sp->len) && sp->len > 0 ? 0 : -EINVAL;
    if (KEY("ms"))
        return parse_i64(v, vlen, &sp->skew_ms) && sp->skew_ms != 0 ? 0
                                                                    : -EINVAL;
    if (KEY("mag"))
        return parse_double(v, vlen, &sp->mag) && sp->mag > 0 ? 0 : -EINVAL;
    if (KEY("window")) {
        int64_t w;
        if (!parse_i64(v, vlen, &w) || w < 1 || w > 64)
            return -EINVAL;
        sp->window = (int)w;
        return 0;
    }
    if (KEY("kind"))
        return parse_sub(sp, v, vlen);
    if (KEY("p"))
        return parse_double(v, vlen, &sp->rate) && sp->rate >= 0 &&
                       sp->rate <= 1
                   ? 0
                   : -EINVAL;
    if (KEY("dev")) {
        if (vlen == 0 || vlen >= sizeof(sp->dev))
            return -EINVAL;
        memcpy(sp->dev, v, vlen);
        sp->dev[vlen] = '\0';
        return 0;
    }
#undef KEY
    return -ENOENT;
}

static void spec_defaults(struct fault_spec *sp, enum fault_kind kind)
{
    memset(sp, 0, sizeof(*sp));
    sp->kind = kind;
    sp->len = kind == FK_STUCK ? 60 : kind == FK_GAP ? 30 : 600;
    sp->mag = 10.0;
    sp->window = 8;
    sp->sub = kind == FK_CORRUPT ? FAULT_CORRUPT : FAULT_NAN | FAULT_INF;
}

/* NAME=RATE or NAME@SEC[+DUR]: the head before the first ':'. */
static int parse_head(struct fault_spec *sp, const char *w, size_t len,
                      char *err, size_t errlen)
{
    size_t nlen = strcspn(w, "=@");
    int k;
    double d;

    if (nlen >= len) {
        set_err(err, errlen, "fault '%.*s': expected NAME=RATE or NAME@SEC",
                (int)len, w);
        return -EINVAL;
    }
    for (k = 0; k < FK__COUNT; k++)
        if (strlen(kind_names[k]) == nlen && !memcmp(kind_names[k], w, nlen))
            break;
    if (k == FK__COUNT) {
        set_err(err, errlen,
                "unknown fault '%.*s' (dup, reorder, corrupt, "
                "drop, nan, spike, stuck, gap, skew, restart)",
                (int)nlen, w);
        return -EINVAL;
    }
    spec_defaults(sp, (enum fault_kind)k);
    if (w[nlen] == '=') {
        if (!parse_double(w + nlen + 1, len - nlen - 1, &sp->rate) ||
            sp->rate < 0 || sp->rate > 1) {
            set_err(err, errlen, "fault %s: rate must be in [0, 1]",
                    kind_names[k]);
            return -EINVAL;
        }
        return 0;
    }
    const char *t = w + nlen + 1;
    size_t tlen = len - nlen - 1;
    size_t plus = strcspn(t, "+");
    sp->scheduled = true;
    sp->rate = 1.0;
    if (!parse_double(t, plus < tlen ? plus : tlen, &d) || d < 0)
        goto bad_time;
    sp->at_ms = llround(d * 1000.0);
    if (plus < tlen) {
        if (!parse_double(t + plus + 1, tlen - plus - 1, &d) || d <= 0)
            goto bad_time;
        sp->has_dur = true;
        sp->dur_ms = llround(d * 1000.0);
    }
    return 0;
bad_time:
    set_err(err, errlen, "fault %s: expected @SECONDS[+SECONDS], got '%.*s'",
            kind_names[k], (int)tlen, t);
    return -EINVAL;
}

int faults_parse(struct faults_config *cfg, const char *word, char *err,
                 size_t errlen)
{
    struct fault_spec sp;
    size_t head = strcspn(word, ":");
    const char *p = word + head;
    int rc;

    if (cfg->n >= FAULTS_MAX_SPECS) {
        set_err(err, errlen, "too many faults (max %d)", FAULTS_MAX_SPECS);
        return -ENOSPC;
    }
    if ((rc = parse_head(&sp, word, head, err, errlen)) < 0)
        return rc;
    while (*p == ':') {
        size_t len = strcspn(++p, ":");
        size_t klen = strcspn(p, "=");
        if (klen >= len ||
            (rc = parse_key(&sp, p, klen, p + klen + 1, len - klen - 1)) < 0) {
            set_err(err, errlen, "fault %s: bad option '%.*s'",
                    kind_names[sp.kind], (int)len, p);
            return -EINVAL;
        }
        p += len;
    }
    cfg->spec[cfg->n++] = sp;
    return 0;
}

/* ---- State ------------------------------------------------------------- */

int faults_new(struct faults **out, const struct faults_config *cfg,
               uint64_t seed, int64_t start_ms, const struct scenario *sc,
               char *err, size_t errlen)
{
    struct faults *f = calloc(1, sizeof(*f));
    size_t devs = scenario_devices(sc);

    if (f == NULL)
        return -ENOMEM;
    f->n = cfg->n;
    f->devices = devs;
    f->nvalues = scenario_sensors(sc) + scenario_labels(sc);
    f->start_ms = start_ms;
    f->sc = sc;
    simrand_init_stream(&f->corrupt_rng, seed, "corrupt-bytes", 0);
    for (size_t i = 0; i < cfg->n; i++) {
        struct spec_state *st = &f->st[i];
        size_t per = st->s.kind == FK_STUCK ? f->nvalues : 1;

        st->s = cfg->spec[i];
        per = st->s.kind == FK_STUCK ? f->nvalues : 1;
        simrand_init_stream(&st->rng, seed, kind_names[st->s.kind], i);
        st->dev = -1;
        if (st->s.dev[0] != '\0') {
            for (size_t d = 0; d < devs && st->dev < 0; d++)
                if (strcmp(scenario_device_name(sc, d), st->s.dev) == 0)
                    st->dev = (int)d;
            if (st->dev < 0) {
                set_err(err, errlen, "fault %s: no device named '%s'",
                        kind_names[st->s.kind], st->s.dev);
                faults_free(f);
                return -EINVAL;
            }
        }
        st->fired = calloc(devs, sizeof(*st->fired));
        st->ep = calloc(devs * per, sizeof(*st->ep));
        if (st->fired == NULL || st->ep == NULL) {
            faults_free(f);
            return -ENOMEM;
        }
    }
    *out = f;
    return 0;
}

void faults_free(struct faults *f)
{
    if (f == NULL)
        return;
    for (size_t i = 0; i < f->n; i++) {
        free(f->st[i].fired);
        free(f->st[i].ep);
    }
    free(f);
}

struct simrand *faults_rng(struct faults *f)
{
    return &f->corrupt_rng;
}

/* ---- Decisions --------------------------------------------------------- */

static bool in_window(const struct spec_state *st, int64_t rel_ms)
{
    if (!st->s.scheduled)
        return true;
    if (rel_ms < st->s.at_ms)
        return false;
    return !st->s.has_dur || rel_ms < st->s.at_ms + st->s.dur_ms;
}

/* Does a one-shot fault hit this unit? */
static bool hits(struct spec_state *st, size_t dev, int64_t rel_ms)
{
    if (st->dev >= 0 && (size_t)st->dev != dev)
        return false;
    if (!in_window(st, rel_ms))
        return false;
    if (st->s.scheduled && !st->s.has_dur) {
        if (st->fired[dev])
            return false;
        st->fired[dev] = true;
        return true;
    }
    return simrand_chance(&st->rng, st->s.rate);
}

/* Is an episode running for this unit (starting one if due)? */
static bool episode(struct spec_state *st, struct episode *ep, size_t dev,
                    int64_t rel_ms, bool *started)
{
    *started = false;
    if (st->dev >= 0 && (size_t)st->dev != dev)
        return false;
    if (st->s.scheduled && st->s.has_dur) {
        bool on = in_window(st, rel_ms);
        *started = on && ep->left == 0;
        ep->left = on;
        return on;
    }
    if (ep->left > 0) {
        ep->left--;
        return true;
    }
    if (hits(st, dev, rel_ms)) {
        ep->left = st->s.len - 1;
        *started = true;
        return true;
    }
    return false;
}

static void value_faults(struct faults *f, struct spec_state *st,
                         struct scenario_sample *smp, int64_t rel,
                         struct faults_sample_out *out)
{
    size_t nv = smp->n_sensors + smp->n_labels;
    bool started;

    for (size_t j = 0; j < smp->n_sensors; j++) {
        double *v = &smp->value[j];
        if (st->s.kind == FK_STUCK) {
            struct episode *ep = &st->ep[smp->device * f->nvalues + j];
            if (episode(st, ep, smp->device, rel, &started)) {
                if (started)
                    ep->value = *v;
                *v = ep->value;
                out->value_bits[j] |= FAULT_STUCK;
            }
        } else if (hits(st, smp->device, rel)) {
            if (st->s.kind == FK_SPIKE) {
                double sign = simrand_chance(&st->rng, 0.5) ? 1.0 : -1.0;
                *v += sign * st->s.mag * scenario_value_scale(f->sc, j);
                out->value_bits[j] |= FAULT_SPIKE;
                continue;
            }
            uint32_t sub = st->s.sub;
            if (sub == (FAULT_NAN | FAULT_INF))
                sub = simrand_below(&st->rng, 3) == 0 ? FAULT_NAN : FAULT_INF;
            if (sub == FAULT_NAN)
                *v = NAN;
            else
                *v = simrand_chance(&st->rng, 0.5) ? INFINITY : -INFINITY;
            out->value_bits[j] |= sub;
        }
    }
    (void)nv; /* labels are ground truth: never faulted */
}

void faults_sample(struct faults *f, struct scenario_sample *smp,
                   struct faults_sample_out *out)
{
    int64_t rel = smp->ts_ms - f->start_ms;
    bool started;

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < f->n; i++) {
        struct spec_state *st = &f->st[i];
        struct episode *ep = &st->ep[smp->device];

        switch (st->s.kind) {
        case FK_GAP:
            if (episode(st, ep, smp->device, rel, &started))
                out->silent = true;
            break;
        case FK_SKEW:
            if (!episode(st, ep, smp->device, rel, &started))
                break;
            if (started)
                ep->skew = st->s.skew_ms != 0              ? st->s.skew_ms
                           : simrand_chance(&st->rng, 0.5) ? 600000
                                                           : -600000;
            out->skew_ms += ep->skew;
            out->sample_bits |= FAULT_SKEW;
            break;
        case FK_RESTART:
            if (hits(st, smp->device, rel)) {
                out->restart = true;
                out->sample_bits |= FAULT_RESTART;
            }
            break;
        case FK_STUCK:
        case FK_NAN:
        case FK_SPIKE:
            value_faults(f, st, smp, rel, out);
            break;
        default:
            break;
        }
    }
}

void faults_message(struct faults *f, size_t dev, int64_t ts_ms,
                    struct faults_msg_out *out)
{
    int64_t rel = ts_ms - f->start_ms;

    memset(out, 0, sizeof(*out));
    out->dup_after = -1;
    for (size_t i = 0; i < f->n; i++) {
        struct spec_state *st = &f->st[i];

        switch (st->s.kind) {
        case FK_DROP:
            if (hits(st, dev, rel))
                out->drop = true;
            break;
        case FK_CORRUPT:
            if (hits(st, dev, rel) && out->corrupt == 0) {
                uint32_t b[3];
                size_t n = 0;
                for (int k = 0; k < 3; k++)
                    if (st->s.sub & (FAULT_CORRUPT_TRUNC << k))
                        b[n++] = FAULT_CORRUPT_TRUNC << k;
                out->corrupt = b[simrand_below(&st->rng, n)];
            }
            break;
        case FK_REORDER:
            if (hits(st, dev, rel) && out->hold == 0)
                out->hold =
                    1 + (int)simrand_below(&st->rng, (uint64_t)st->s.window);
            break;
        case FK_DUP:
            if (hits(st, dev, rel) && out->dup_after < 0)
                out->dup_after = (int)simrand_below(&st->rng, 4);
            break;
        default:
            break;
        }
    }
}
