/* simgen.h -- the simulator's message generator: scenario samples, faults,
 * sequence numbers and payload encoding, as a deterministic stream of MQTT
 * messages.
 *
 *     scenario_next -> faults_sample -> encode (one message per reading, or
 *     one per sample) -> faults_message (drop, corrupt, reorder, dup) ->
 *     output queue -> simgen_next()
 *
 * Nothing here looks at a clock: the same options and seed give the same
 * messages, byte for byte, in the same order, whatever consumes them and
 * however fast. Pacing and publishing are the caller's (weir-sim run).
 *
 * Sequence numbers: one counter per device, starting at 0, incremented once
 * per message (a batch of readings shares one seq; in the per-reading
 * formats every reading, labels included, is its own message with its own
 * seq). A dropped message uses its seq; a gap does not (the device was
 * off); a restart sets the counter back to 0 before the message.
 *
 * Formats and topics ({p} is the topic prefix, default "sensors"):
 *   pb          protobuf Reading        {p}/{device}/{sensor}
 *   batch       protobuf ReadingBatch   {p}/{device}   labels in .labels
 *   json        JSON reading            {p}/{device}/{sensor}
 *   json-batch  JSON object             {p}/{device}
 *   senml       SenML array             {p}/{device}
 * Device and sensor names are also inside every payload.
 *
 * The ledger (optional) gets one CSV line per reading of every message, in
 * the order simgen_next() hands the messages out; see sim/ledger.h.
 *
 * Threads: a struct simgen is used by one thread at a time. */
#ifndef WEIR_SIM_SIMGEN_H
#define WEIR_SIM_SIMGEN_H

#include <stdbool.h> /* For bool. */
#include <stddef.h>  /* For size_t. */
#include <stdint.h>  /* For uint8_t, uint64_t, int64_t. */

#include "sim/encode.h"   /* For enum encode_format. */
#include "sim/faults.h"   /* For struct faults_config, fault bits. */
#include "sim/scenario.h" /* For struct scenario_opts. */

#define SIMGEN_TOPIC_MAX 256
#define SIMGEN_PAYLOAD_MAX 16384
#define SIMGEN_MSG_VALUES (SCENARIO_MAX_SENSORS + SCENARIO_MAX_LABELS)

/* One reading inside a message, for the ledger. */
struct simgen_value {
    uint16_t index;  /* Value index in the scenario (sensors, then labels). */
    uint32_t faults; /* FAULT_* bits of this reading. */
    double value;    /* As encoded (after faults). */
};

/* One message. Borrowed from the generator until the next simgen_next(). */
struct simgen_msg {
    char topic[SIMGEN_TOPIC_MAX];        /* NUL-terminated. */
    uint8_t payload[SIMGEN_PAYLOAD_MAX]; /* len bytes. */
    size_t len;                          /* Payload bytes. */
    size_t device;                       /* Device index. */
    uint64_t seq;                        /* Its sequence number. */
    int64_t ts_ms;                       /* Timestamp sent (after skew). */
    int64_t sim_ms;                      /* Simulated sample time. */
    uint64_t index;                      /* 0, 1, ... in output order. */
    uint32_t faults;                     /* Message-level FAULT_* bits. */
    bool drifted;                        /* Sampled after the rule change. */
    size_t n;                            /* Readings in v. */
    struct simgen_value v[SIMGEN_MSG_VALUES];
};

struct simgen_opts {
    struct scenario_opts scenario; /* World, devices, seed, time. */
    struct faults_config faults;   /* Faults to inject. */
    enum encode_format format;     /* Payload format. */
    const char *topic_prefix;      /* Borrowed; NULL = "sensors". */
    uint64_t max_readings;         /* Stop after this many readings
                                      sampled; 0 = no limit. */
    const char *ledger_path;       /* Borrowed; NULL = no ledger. */
};

/* Counters, cumulative. */
struct simgen_stats {
    uint64_t samples;      /* Device samples taken (incl. gaps). */
    uint64_t readings;     /* Readings sampled (values of those samples). */
    uint64_t messages;     /* Messages handed out by simgen_next(). */
    uint64_t readings_out; /* Readings in those messages. */
    uint64_t bytes;        /* Payload bytes handed out. */
    uint64_t gap_samples;  /* Samples not sent: device in a gap. */
    uint64_t per_bit[FAULT__BITS]; /* Readings affected, per fault bit. */
};

struct simgen;

/* Build a generator (opts borrowed and copied). Returns 0 and *out
 * (returns owned; simgen_free), or a negative errno with a one-line reason
 * in err: -EINVAL for bad options, -ENOTSUP for a format whose encoder is
 * not built in, -errno if the ledger cannot be created. */
int simgen_new(struct simgen **out, const struct simgen_opts *opts, char *err,
               size_t errlen);

/* Flush and close the ledger, free everything; NULL is a no-op. Returns
 * 0, or -EIO if the ledger could not be written completely. */
int simgen_free(struct simgen *g);

/* The next message: 1 and *out (borrowed until the next call), or 0 when
 * the run is over (max_readings reached, or simgen_finish() called, and
 * every held message handed out), or -EIO if the ledger write failed. */
int simgen_next(struct simgen *g, const struct simgen_msg **out);

/* Stop sampling; messages already generated (held for reorder or
 * duplication) still come out of simgen_next(). */
void simgen_finish(struct simgen *g);

void simgen_stats(const struct simgen *g, struct simgen_stats *out);

/* Names (borrowed): the scenario's device i and value j. */
const char *simgen_device_name(const struct simgen *g, size_t i);
const char *simgen_value_name(const struct simgen *g, size_t j);
size_t simgen_values(const struct simgen *g); /* sensors + labels */

/* Readings per sample (what one device sample carries). */
size_t simgen_readings_per_sample(const struct simgen *g);

#endif /* WEIR_SIM_SIMGEN_H */
