/* pipeline.h -- the loop-thread half of weir's core: decoded messages in
 * (meta record + readings, ingest/decoder.h), dedup -> validation ->
 * tasks (rows -> learner, or anomaly detectors), outputs through a
 * publish_fn.
 *
 * The pipeline is a pure function of the message sequence: each message's
 * meta record carries its receive time, and that time (made monotonic:
 * the pipeline clock never goes back) is `now` for validation, for dedup's
 * content-hash expiry and for the tasks' ticks (one per tick_ms boundary
 * of it). Each task turns receive time and the timestamps of the readings
 * it takes into its own data clock, which its windows and forecast
 * deadlines run on (ingest/task.h "Time"). Nothing here
 * reads a clock. Whether the messages come from the ring (live MQTT), from
 * the ingest log (start-up recovery) or from a capture file (`weir
 * replay`), the same sequence gives the same counters, models and
 * snapshots, bit for bit.
 *
 * Counting. Every message is counted once (messages, by format), and lands
 * in exactly one of: refused at decode (rejects[reason], one per message),
 * or admitted, where every reading is counted once as accepted or as
 * rejects[reason] (one per reading; a duplicate message rejects all its
 * readings as duplicate, and is also counted once in msg_duplicates).
 *
 * Dead letters. A reading refused by dedup or validation is emitted as a
 * PUBLISH_REJECT envelope (ingest/publish.h) if its reason is in
 * dead_letter_mask; a message refused at decode is emitted by whoever has
 * its payload (pipeline_dead_letter()).
 *
 * Threads: a pipeline belongs to the loop thread (or the thread running a
 * replay); it reads the intern tables' names (safe from any thread) and
 * never writes them after pipeline_new(). */
#ifndef WEIR_INGEST_PIPELINE_H
#define WEIR_INGEST_PIPELINE_H

#include <stdbool.h> /* For bool. */
#include <stddef.h>  /* For size_t. */
#include <stdint.h>  /* For uint64_t, int64_t. */

#include "ingest/bytes.h"    /* For struct bytes_out, bytes_in. */
#include "ingest/decoder.h"  /* For DECODER_FORMATS. */
#include "ingest/publish.h"  /* For publish_fn. */
#include "ingest/task.h"     /* For struct task_config. */
#include "stream/dedup.h"    /* For struct dedup_config. */
#include "stream/intern.h"   /* For struct intern. */
#include "stream/reject.h"   /* For struct reject_counts. */
#include "stream/validate.h" /* For struct validate_config. */

/* ---- Types ------------------------------------------------------------- */

/* A validation rule for one sensor, by name. */
struct pipeline_rule {
    const char *sensor;        /* Borrowed. */
    struct validate_rule rule; /* Copied into the validator. */
};

struct pipeline_config {
    struct intern *devices;          /* Borrowed: names (and its capacity). */
    struct intern *sensors;          /* Borrowed: rule and task names are added
                                        here by pipeline_new() (its writer then). */
    struct dedup_config dedup;       /* max_devices = devices' capacity. */
    struct validate_config validate; /* Table sizes = the tables'. */
    const struct pipeline_rule *rules; /* nrules entries, borrowed. */
    size_t nrules;
    const struct task_config *tasks; /* ntasks entries, borrowed. */
    size_t ntasks;
    int64_t tick_ms;           /* Receive time between task ticks; 1000. */
    uint32_t dead_letter_mask; /* Bit (1 << reason) publishes it. */
    publish_fn emit;           /* Every output goes here. */
    void *ctx;                 /* Passed to emit. */
};

/* Counters since pipeline_new(), restored from checkpoints. */
struct pipeline_stats {
    uint64_t messages;                   /* Messages seen (meta records). */
    uint64_t by_format[DECODER_FORMATS]; /* Of those, per format. */
    uint64_t bytes;                      /* Payload bytes of those. */
    uint64_t decode_rejects;             /* Refused at decode. */
    uint64_t readings;                   /* Readings admitted to admit. */
    uint64_t accepted;                   /* Readings accepted. */
    struct reject_counts rejects;        /* Per reason (see the top). */
    uint64_t msg_duplicates;             /* Duplicate messages. */
    uint64_t restarts;                   /* Device counter restarts. */
    uint64_t dead_letters;               /* PUBLISH_REJECT emitted. */
    uint64_t last_lsn;                   /* Highest ingest-log lsn seen. */
    int64_t now_ms;                      /* Pipeline clock (receive time). */
};

struct pipeline;

/* ---- Lifecycle --------------------------------------------------------- */

/* Build dedup, validation, admit and every task from cfg (borrowed).
 * Interns the sensor names of rules and tasks into cfg->sensors (so call
 * it while no decoder runs). Returns 0 and *out (returns owned,
 * pipeline_free()), or a negative errno with a reason in err. */
int pipeline_new(struct pipeline **out, const struct pipeline_config *cfg,
                 char *err, size_t errlen);

/* Free (takes p); NULL is a no-op. */
void pipeline_free(struct pipeline *p);

/* ---- Operations -------------------------------------------------------- */

/* Process one message: msg[0] its meta record, msg[1..n) its readings
 * (borrowed; n == 1 + nrec of the meta record). */
void pipeline_message(struct pipeline *p, const struct reading *msg, size_t n);

/* Process the complete messages at the start of recs[0..n) (borrowed; a
 * ring batch) and return how many records they used; a message cut off
 * at the end is left for the next call. A record that is not where a meta
 * record should be is skipped and counted (framing_errors). */
size_t pipeline_run(struct pipeline *p, const struct reading *recs, size_t n);

/* Emit the dead letter of a message refused at decode (topic and payload
 * borrowed; orig_len > len if the copy was cut), if reason is in the mask.
 * Counting happened with its meta record; this only publishes. */
void pipeline_dead_letter(struct pipeline *p, enum reject_reason reason,
                          const char *topic, const uint8_t *payload, size_t len,
                          size_t orig_len);

/* Emit a final snapshot of every supervised task (shutdown, end of a
 * replay). Returns 0 or the first task's error. */
int pipeline_flush(struct pipeline *p);

/* ---- Introspection ----------------------------------------------------- */

void pipeline_stats(const struct pipeline *p, struct pipeline_stats *out);
size_t pipeline_tasks(const struct pipeline *p);
/* Task i (borrowed), or NULL. */
const struct task *pipeline_task(const struct pipeline *p, size_t i);
/* Records skipped because the framing was broken (should stay 0). */
uint64_t pipeline_framing_errors(const struct pipeline *p);

/* ---- Checkpoints ------------------------------------------------------- */

/* Append the state (counters, clock, dedup, validation's rate state,
 * every task) to b. Returns 0
 * or -ENOMEM. */
int pipeline_save(const struct pipeline *p, struct bytes_out *b);

/* Read a pipeline_save() image from in (borrowed) into p, built from the
 * same configuration. 0, -EBADMSG, -EINVAL (other tasks), or the failing
 * part's error. */
int pipeline_restore(struct pipeline *p, struct bytes_in *in);

#endif /* WEIR_INGEST_PIPELINE_H */
