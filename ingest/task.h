/* task.h -- one learning task of the daemon: accepted readings in, rows,
 * a learner (or per-series anomaly detectors), and what to publish out.
 *
 * A supervised task (regression, binary, multiclass) is stream/rows.h
 * feeding learn/learner.h: every row is learned prequentially; when a
 * window closes the task emits the window's metrics (JSON), and a snapshot
 * when the learner asks for one (champion or its score changed), at most
 * one per snapshot_interval_ms of receive time; drift events are emitted
 * as protobuf DriftEvent; predictions per row optionally.
 *
 * An anomaly task keeps one learn/anomaly.h detector per (device, sensor)
 * of the sensors it names, created on first sight up to max_series
 * (further series are counted, not scored); every scored reading may be
 * published as a score, and a score that rises to the threshold emits an
 * anomaly event (one per crossing: the score must fall below it again).
 *
 * Time: a task never reads a clock. Two times come in: the receive time of
 * the message being processed (now_ms of task_add() and task_tick(): the
 * pipeline's clock, monotonic, from each message's meta record) and the
 * data timestamps of the readings. Windows and forecast deadlines are in
 * data time, which may lie days behind receive time (a simulated week,
 * a backlog, a replay of old data) or run far faster (a replay at 3600x).
 * So a supervised task keeps a data clock:
 *   - it starts at the first reading of a sensor the task names (target
 *     or feature, of a device below max_devices);
 *   - such a reading newer than the clock moves the clock to its
 *     timestamp;
 *   - in between, the clock advances with receive time: by the receive
 *     time elapsed since the task last saw it, each step at most
 *     clock_max_gap_ms (default TASK_CLOCK_MAX_GAP_MS; the daemon's
 *     [task] clock_max_gap);
 *   - it never goes back.
 * That is: the newest data timestamp, plus the receive time elapsed since
 * it arrived. task_tick() expires forecast rows (rows_expire()) and closes
 * TIME-mode windows (learner_advance()) on this clock -- minus h for a
 * forecast target s@+h, because a row carries the time of its features
 * and is learned when its label comes, h later -- so windows rotate per
 * hour of data whatever the receive clock does, a label that arrives in
 * data time labels its row, and the pending rows of a device that fell
 * silent still expire as receive time passes (as long as messages keep
 * arriving: the pipeline ticks on messages).
 *
 * Why the step cap: a receive-time gap longer than a minute means nothing
 * reached weir at all (weir stopped, the broker link down, a quiet
 * broker), and what follows is usually the broker's backlog with older
 * timestamps; counting the gap in full would expire every pending row that
 * backlog is about to label. Silence of the task's own devices while
 * other messages flow advances the clock in full.
 *
 * Bounds: readings reach a task after validation (stream/validate.h),
 * which refuses a timestamp ahead of receive time by more than
 * max_future_skew, and the clock moves no faster than receive time
 * between readings, so the data clock never leads receive time by more
 * than max_future_skew: a device with a clock far in the future cannot
 * leap it. What validation cannot see: in data that lags receive time, a
 * device ahead of its peers but not of receive time does move the clock
 * (one stream cannot tell a wrong device clock from the first of newer
 * data); the pending rows it overtakes are expired and counted
 * (pending_expired), and the learner's windows already follow row
 * timestamps anyway (learn/learner.h).
 *
 * Snapshot pacing (snapshot_interval_ms) stays on receive time: it limits
 * what goes to the broker, in its time.
 *
 * Everything derives from recorded receive times and data timestamps,
 * and the clock is part of the checkpoint, so a replay of the same
 * messages (`weir replay` reproduces receive times from the capture's
 * meta records), with or without restarts, gives the same models and the
 * same outputs, bit for bit.
 *
 * Threads: a task belongs to the loop thread (the thread that runs the
 * core); its publish_fn is called on it. */
#ifndef WEIR_INGEST_TASK_H
#define WEIR_INGEST_TASK_H

#include <stdbool.h> /* For bool. */
#include <stddef.h>  /* For size_t. */
#include <stdint.h>  /* For uint8_t, uint64_t, int64_t. */

#include "ingest/publish.h" /* For publish_fn. */
#include "learn/learner.h"  /* For struct learner_stats. */
#include "stream/intern.h"  /* For struct intern. */
#include "stream/reading.h" /* For struct reading. */
#include "stream/rows.h"    /* For struct rows_stats. */

/* ---- Limits ------------------------------------------------------------ */

#define TASK_NAME_MAX 63            /* bytes of a task name */
#define TASK_MAX_SERIES 65536u      /* anomaly detectors per task */
#define TASK_CLOCK_MAX_GAP_MS 60000 /* receive time one clock step counts */

/* ---- Types ------------------------------------------------------------- */

enum task_kind {
    TASK_REGRESSION = 1, /* Real target (LEARNER_REGRESSION). */
    TASK_BINARY = 2,     /* Target 0/1 (LEARNER_BINARY). */
    TASK_MULTICLASS = 3, /* Target 0..K-1 (LEARNER_MULTICLASS). */
    TASK_ANOMALY = 4,    /* No target: anomaly scores per series. */
};

/* A task's configuration; strings and arrays borrowed for task_new(),
 * which copies what it keeps. Zero numbers mean "the default". */
struct task_config {
    const char *name; /* Task name; codec_name_ok() rules. */
    enum task_kind kind;
    const char *target;          /* Supervised: target spec (rows.h). */
    const char *const *features; /* Feature specs, or anomaly sensors. */
    size_t nfeatures;            /* Entries in features. */
    const char *const *classes;  /* Class labels, or NULL ("0", "1"...). */
    size_t nclasses;             /* Entries (multiclass: K; binary: 0/2). */

    uint64_t window_rows;         /* Rows per validation window (count mode). */
    int64_t window_ms;            /* Or stream time per window (time mode). */
    double test_fraction;         /* Test-stream share; < 0: the default. */
    uint64_t test_salt;           /* Mixed into the test-stream hash. */
    int64_t max_age_ms;           /* Feature freshness (rows.h). */
    int64_t label_max_delay_ms;   /* Forecast label lateness (rows.h). */
    size_t pending_total;         /* Forecast rows waiting, all devices. */
    size_t pending_per_device;    /* ...and per device (rows.h). */
    int64_t snapshot_interval_ms; /* Least receive time between
                                     snapshots; 0: every request. */
    int64_t clock_max_gap_ms;     /* Most receive time one step of the
                                     data clock counts; 0: the default
                                     (TASK_CLOCK_MAX_GAP_MS). */
    bool predictions;             /* Publish a prediction / score per row. */
    const struct learner_candidate *candidates; /* Or NULL: the default
                                                   grid (borrowed). */
    size_t ncandidates;                         /* Entries in candidates. */
    bool drift_set; /* Use the drift fields below, else defaults. */
    enum learner_detector detector; /* Drift detector. */
    double drift_delta;             /* ADWIN delta (> 0, else default) or
                                       Page-Hinkley delta (>= 0). */
    double drift_threshold;         /* Page-Hinkley lambda (> 0), or 0. */
    bool switch_z_set; /* Use switch_z, else the learner's default. */
    double switch_z;   /* Paired test's z to unseat the champion (>= 0;
                          0: off, the margin alone; learn/learner.h). */

    double threshold;  /* Anomaly: event threshold; 0: alarm_level. */
    size_t max_series; /* Anomaly: detectors; 0: 4096. */
};

/* Counters since task_new() (restored with the task). */
struct task_stats {
    uint64_t readings;        /* Readings given to task_add(). */
    uint64_t rows;            /* Rows learned (supervised) or readings
                                 scored (anomaly). */
    uint64_t snapshots;       /* Snapshots emitted. */
    uint64_t snapshot_errors; /* Snapshots that could not be made. */
    uint64_t windows;         /* Window metrics emitted. */
    uint64_t drifts;          /* Drift events emitted. */
    uint64_t predictions;     /* Predictions / scores emitted. */
    uint64_t anomalies;       /* Anomaly events emitted. */
    uint64_t series;          /* Anomaly detectors in use. */
    uint64_t series_refused;  /* Readings of series over max_series. */
    uint64_t bad_labels;      /* Rows the learner refused for the label. */
};

struct task;

/* ---- Lifecycle --------------------------------------------------------- */

/* Create a task (borrows cfg). Sensor names of its specs are interned into
 * sensors (borrowed; the caller is the table's writer at this time, i.e.
 * before MQTT starts). devices (borrowed) names devices in outputs.
 * max_devices bounds per-device state. emit/ctx receive every output.
 * Returns 0 and *out (returns owned, task_free()), -EINVAL with a reason
 * in err (errlen bytes), -ENOMEM. */
int task_new(struct task **out, const struct task_config *cfg,
             struct intern *sensors, const struct intern *devices,
             size_t max_devices, publish_fn emit, void *ctx, char *err,
             size_t errlen);

/* Free (takes t); NULL is a no-op. */
void task_free(struct task *t);

/* ---- Operations (loop thread) ------------------------------------------ */

/* Take one accepted reading (borrowed) that arrived at receive time now_ms
 * (monotonic across calls); it may move the data clock (see "Time"). */
void task_add(struct task *t, const struct reading *r, int64_t now_ms);

/* Receive time is now_ms (monotonic across calls): move the data clock
 * along, expire forecast rows whose label deadline the data clock has
 * passed, close a time-mode window it has passed, and emit a snapshot that
 * was held back by snapshot_interval_ms if its (receive) time has come. */
void task_tick(struct task *t, int64_t now_ms);

/* Emit a snapshot of the current champion now (shutdown, end of a
 * replay), if the learner has learned anything. Returns 0, or a negative
 * errno if the snapshot could not be made. Anomaly tasks: 0, nothing. */
int task_flush(struct task *t);

/* ---- Introspection ----------------------------------------------------- */

const char *task_name(const struct task *t);
enum task_kind task_kind(const struct task *t);
void task_stats(const struct task *t, struct task_stats *out);
/* The learner (supervised tasks; NULL for anomaly), borrowed. */
const struct learner *task_learner(const struct task *t);
/* Row assembly counters (zeros for anomaly tasks). */
void task_rows_stats(const struct task *t, struct rows_stats *out);
/* Forecast rows waiting for their labels (0 for other tasks). */
size_t task_rows_pending(const struct task *t);
/* Version of the last snapshot emitted (0: none). */
uint64_t task_snapshot_version(const struct task *t);
/* The data clock in ms since the epoch (see "Time"); INT64_MIN until the
 * first reading of the task, and always for anomaly tasks. */
int64_t task_data_clock(const struct task *t);

/* ---- Checkpoints ------------------------------------------------------- */

/* Serialise the task's whole state -- supervised: the learner, the row
 * assembly (recent values with their lag history, pending forecast rows)
 * and the data clock; anomaly: every detector and its threshold state;
 * both: counters and snapshot pacing -- into a new buffer: *buf returns owned
 * (free()), *len its size. A task restored from it continues exactly as the
 * saved one would have (DESIGN.md "Restarts"). 0 or -ENOMEM. */
int task_save(const struct task *t, uint8_t **buf, size_t *len);

/* Restore a task_save() image (borrowed) into t, created with the same
 * configuration. 0, -EBADMSG (corrupt), -EINVAL (another configuration:
 * features, target, candidates or detector settings changed; also the
 * image of an anomaly task from a build before versioned detector state),
 * -ENOSPC (per-device state beyond this configuration's max_devices),
 * -ENOMEM. All or nothing: on error t is unchanged (after -ENOMEM an
 * anomaly task may have lost its detectors, which then start afresh).
 * Images of earlier builds: format 2 (without the data clock) restores
 * everything else, and the clock starts again at the next reading of the
 * task; format 1 (supervised only, without row assembly state) restores
 * the learner, and rows fill in from the next readings. */
int task_restore(struct task *t, const uint8_t *buf, size_t len);

/* Parse a kind name: "regression", "binary", "multiclass", "anomaly".
 * 0 and *out, or -EINVAL. */
int task_kind_parse(const char *text, enum task_kind *out);
const char *task_kind_name(enum task_kind kind);

#endif /* WEIR_INGEST_TASK_H */
