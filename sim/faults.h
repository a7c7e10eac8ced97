/* faults.h -- what can go wrong between a sensor and the broker, on
 * purpose, at a rate or on a schedule.
 *
 * A fault spec is one command-line word:
 *
 *     NAME=RATE[:key=value]...        at random, RATE per unit (see below)
 *     NAME@SEC[+DUR][:key=value]...   on a schedule: from SEC simulated
 *                                     seconds after the start, for DUR
 *                                     seconds (default: once per device)
 *
 * name     unit            what happens                        keys
 * dup      message         sent again 0-3 messages later,      --
 *                          same seq (and payload)
 * reorder  message         held back 1..window messages        window=8
 * corrupt  message         truncated inside a field, random    kind=any|trunc|
 *                          bytes (first byte never valid), or       bytes|type
 *                          a field of the wrong wire type
 * drop     message         lost in transit: seq used, not sent --
 * nan      reading         value NaN, +Inf or -Inf             kind=any|nan|inf
 * spike    reading         value +- mag x the sensor's scale   mag=10
 * stuck    sensor episode  repeats one value for len samples   len=60
 * gap      device episode  device silent len samples (no seq   len=30
 *                          used: it was off)
 * skew     device episode  timestamps off by ms for len samples ms=600000,
 *                          (random sign unless ms is signed)    len=600
 * restart  device sample   sequence counter back to 0          --
 *
 * Every spec takes dev=NAME to hit one device only, and a schedule takes
 * p=RATE to apply at that rate inside its window (default 1). A scheduled
 * episode fault (stuck, gap, skew) lasts the window; a scheduled one-shot
 * fault without +DUR hits the first unit of each device at or after SEC.
 * Concept drift is not a fault here: see scenario_opts.drift_at_ms.
 *
 * Each fault draws from its own random stream (seed, name, device), so
 * adding one fault does not move the others or the clean signal.
 *
 * Threads: a struct faults is used by one thread at a time. */
#ifndef WEIR_SIM_FAULTS_H
#define WEIR_SIM_FAULTS_H

#include <stdbool.h> /* For bool. */
#include <stddef.h>  /* For size_t. */
#include <stdint.h>  /* For uint32_t, int64_t. */

#include "sim/scenario.h" /* For struct scenario_sample. */

#define FAULTS_MAX_SPECS 32

/* One bit per fault as it appears in the ledger. */
enum fault_bit {
    FAULT_DUP = 1u << 0,
    FAULT_REORDER = 1u << 1,
    FAULT_CORRUPT_TRUNC = 1u << 2,
    FAULT_CORRUPT_BYTES = 1u << 3,
    FAULT_CORRUPT_TYPE = 1u << 4,
    FAULT_DROP = 1u << 5,
    FAULT_NAN = 1u << 6,
    FAULT_INF = 1u << 7,
    FAULT_SPIKE = 1u << 8,
    FAULT_STUCK = 1u << 9,
    FAULT_SKEW = 1u << 10,
    FAULT_RESTART = 1u << 11,
    FAULT__BITS = 12
};
#define FAULT_CORRUPT                                                          \
    (FAULT_CORRUPT_TRUNC | FAULT_CORRUPT_BYTES | FAULT_CORRUPT_TYPE)

enum fault_kind {
    FK_DUP,
    FK_REORDER,
    FK_CORRUPT,
    FK_DROP,
    FK_NAN,
    FK_SPIKE,
    FK_STUCK,
    FK_GAP,
    FK_SKEW,
    FK_RESTART,
    FK__COUNT
};

struct fault_spec {
    enum fault_kind kind; /* Which fault. */
    double rate;          /* Probability per unit (in the window). */
    bool scheduled;       /* from NAME@SEC. */
    bool has_dur;         /* +DUR given. */
    int64_t at_ms;        /* Window start, simulated ms after the start. */
    int64_t dur_ms;       /* Window length. */
    int64_t len;          /* Episode length in samples. */
    int64_t skew_ms;      /* Skew offset; 0 = +-600000 at random. */
    double mag;           /* Spike size in sensor scales. */
    int window;           /* Reorder window in messages (1..64). */
    uint32_t sub;         /* Corrupt/nan variant bits: FAULT_* allowed. */
    char dev[40];         /* Only this device, or "". */
};

struct faults_config {
    size_t n;                                 /* Specs in use. */
    struct fault_spec spec[FAULTS_MAX_SPECS]; /* In command-line order. */
};

/* Per-sample outcome of faults_sample(). */
struct faults_sample_out {
    bool silent;          /* In a gap: emit nothing. */
    bool restart;         /* Reset the device's seq first. */
    int64_t skew_ms;      /* Add to the timestamp. */
    uint32_t sample_bits; /* FAULT_SKEW / FAULT_RESTART. */
    uint32_t value_bits[SCENARIO_MAX_SENSORS + SCENARIO_MAX_LABELS];
};

/* Per-message decision of faults_message(). */
struct faults_msg_out {
    bool drop;        /* Do not send. */
    uint32_t corrupt; /* One FAULT_CORRUPT_* bit, or 0. */
    int hold;         /* Reorder: release after this many messages; 0. */
    int dup_after;    /* Duplicate after this many messages; -1 = none. */
};

struct faults;

/* Stable ledger name of one fault bit ("dup", "corrupt_trunc", ...). */
const char *faults_bit_name(uint32_t bit);

/* Add one spec word to cfg. Returns 0, or -EINVAL with a one-line reason
 * in err (errlen bytes); -ENOSPC past FAULTS_MAX_SPECS. */
int faults_parse(struct faults_config *cfg, const char *word, char *err,
                 size_t errlen);

/* Build the fault state for a scenario (cfg borrowed and copied; names
 * borrowed for dev= matching). Returns 0 and *out (returns owned,
 * faults_free), -EINVAL if a dev= names no device, -ENOMEM. */
int faults_new(struct faults **out, const struct faults_config *cfg,
               uint64_t seed, int64_t start_ms, const struct scenario *sc,
               char *err, size_t errlen);
void faults_free(struct faults *f);

/* Apply the sample-level faults (gap, restart, skew, stuck, nan, spike) to
 * *smp in place and describe them in *out. */
void faults_sample(struct faults *f, struct scenario_sample *smp,
                   struct faults_sample_out *out);

/* Decide the message-level faults for one message of device dev sampled
 * at ts_ms (simulated, before skew). */
void faults_message(struct faults *f, size_t dev, int64_t ts_ms,
                    struct faults_msg_out *out);

/* A random stream for payload corruption, owned by f. */
struct simrand *faults_rng(struct faults *f);

#endif /* WEIR_SIM_FAULTS_H */
