/* rows.h -- turn accepted readings into learning rows (DESIGN.md "Rows").
 *
 * A task names feature sensors and a target sensor, as specs:
 *     "temp"       the latest value of temp
 *     "temp@-1"    the value of temp before the latest one (lag 1; up to
 *                  ROWS_MAX_LAG). For the target sensor this is the
 *                  previous label, a standard autoregressive input.
 *     "co2@+15m"   (target only) forecasting: the first value of co2 at or
 *                  after 15 minutes later. Durations: ms, s, m, h, d.
 * Per device, rows keeps the recent values of every sensor the task names
 * (values and timestamps, ordered by timestamp, as deep as the largest lag
 * needs), so the state is keyed by device id and bounded by max_devices
 * (DESIGN.md "Growing past one gateway").
 *
 * Nowcasting (target without @+h): when a target reading arrives, a row is
 * emitted at once with y = its value and x = the task's features. Feature
 * "s@-k" is the k-th value of s before the newest one; for the target
 * sensor, before the arriving reading itself, so the label never leaks
 * into x ("target" with lag 0 is refused as a feature of a nowcast task).
 *
 * Forecasting (target "s@+h"): every target reading at time t anchors a
 * row: x is taken at t (here "s" with lag 0 is the value at t, a valid
 * input) and the row waits in the device's pending buffer. When a target
 * reading arrives with ts >= t + h, the waiting rows up to it are emitted
 * with y = its value -- or expired, if ts > t + h + label_max_delay_ms (the
 * device fell silent and this value says nothing about t + h). The pending
 * buffers come from a shared pool (pending_total) with a per-device cap
 * (pending_per_device); when either is full the *new* anchor is refused and
 * counted (`pending_overflow`): refusing the newest keeps the oldest rows,
 * which are closest to their labels, so a too-small buffer still yields
 * rows instead of evicting every row before it can be labelled.
 *
 * A feature is present when the device has that value and it is at most
 * max_age_ms older than the row's timestamp; otherwise present[i] is false
 * and x[i] is NaN: never a silent zero, the learner imputes.
 *
 * Everything runs on data time (reading timestamps), so replaying a capture
 * gives the same rows as live traffic; rows_expire() is the one entry point
 * that takes the caller's clock.
 *
 * Checkpoints: rows_save() writes the whole state -- every device's recent
 * values and timestamps (lag history included), the pending forecast rows
 * in FIFO order and the counters -- and rows_restore() reads it back into
 * a rows of the same configuration, so that a restored rows emits exactly
 * the rows the saved one would have emitted (DESIGN.md "Restarts").
 *
 * Threads: a struct rows belongs to one thread (the loop thread); the emit
 * callback runs on it, inside rows_add(). */
#ifndef WEIR_STREAM_ROWS_H
#define WEIR_STREAM_ROWS_H

#include <stdbool.h> /* For bool. */
#include <stddef.h>  /* For size_t. */
#include <stdint.h>  /* For uint32_t, uint64_t, int64_t. */

#include "stream/reading.h" /* For struct reading. */

/* ---- Limits ------------------------------------------------------------ */

#define ROWS_NAME_MAX 64       /* bytes of a sensor name (CODEC_NAME_MAX) */
#define ROWS_MAX_FEATURES 256u /* features per task */
#define ROWS_MAX_LAG 16u       /* k in "name@-k" */
#define ROWS_MAX_DEVICES (1u << 24) /* equals INTERN_MAX_CAP */
#define ROWS_MAX_PENDING (1u << 24) /* pending rows, all devices */
#define ROWS_SPEC_MAX 96            /* bytes of a formatted spec, with NUL */
#define ROWS_FORMAT_VERSION 1u      /* of rows_save()'s output */

/* ---- Specs ------------------------------------------------------------- */

/* One parsed spec: "name", "name@-k" or "name@+h". */
struct rows_spec {
    char name[ROWS_NAME_MAX + 1]; /* Sensor name, NUL-terminated. */
    uint32_t sensor_id; /* Interned name; set by the caller after parsing. */
    uint32_t lag;       /* k of "@-k"; 0 for the latest value. */
    int64_t horizon_ms; /* h of "@+h" in ms; 0 for none (nowcast). */
};

/* Parse text (borrowed, NUL-terminated) into *out; sensor_id is set to 0.
 * Returns 0, or -EINVAL: bad name (codec_name_ok() rules), lag 0 or over
 * ROWS_MAX_LAG, horizon not a positive integer with a unit (ms, s, m, h,
 * d) or over 365 days, or trailing characters. */
int rows_spec_parse(const char *text, struct rows_spec *out);

/* Write the canonical form of s ("temp", "temp@-1", "co2@+15m": the
 * largest unit that divides h) into buf (borrowed, cap bytes; ROWS_SPEC_MAX
 * always suffices). Returns its length, like snprintf(). */
size_t rows_spec_format(const struct rows_spec *s, char *buf, size_t cap);

/* Parse a duration "<positive integer><ms|s|m|h|d>" (borrowed) into *ms.
 * Returns 0 or -EINVAL (no unit, zero, overflow, trailing characters). */
int rows_parse_duration(const char *text, int64_t *ms);

/* ---- Types ------------------------------------------------------------- */

struct rows;

/* One row, passed to the emit callback; x and present are borrowed for
 * the call only. */
struct rows_row {
    uint32_t device_id;  /* Interned device name. */
    bool has_seq;        /* The anchoring target reading had a seq. */
    uint64_t seq;        /* Its seq (message id, for the test-stream hash). */
    uint64_t lsn;        /* Its ingest-log position (0 = none). */
    int64_t ts_ms;       /* Time of the features: the anchoring reading's. */
    int64_t y_ts_ms;     /* Time of the label (== ts_ms when nowcasting). */
    double y;            /* Target value. */
    size_t n;            /* Features, in the task's order. */
    const double *x;     /* n values; NaN where !present[i]. */
    const bool *present; /* n flags: the feature had a fresh enough value. */
};

/* Called on: the thread that calls rows_add() (loop thread). */
typedef void (*rows_emit_fn)(void *ctx, const struct rows_row *row);

struct rows_config {
    struct rows_spec target;          /* Target; horizon_ms > 0 forecasts. */
    const struct rows_spec *features; /* nfeatures specs; borrowed. */
    size_t nfeatures;                 /* 1..ROWS_MAX_FEATURES. */
    size_t max_devices;               /* Device ids 0..max_devices-1. */
    int64_t max_age_ms; /* Older features are missing; INT64_MAX: none. */
    int64_t label_max_delay_ms; /* Forecast label at most t+h+this. */
    size_t pending_per_device;  /* Forecast rows waiting, per device. */
    size_t pending_total;       /* Forecast rows waiting, all devices. */
    rows_emit_fn emit;          /* Required. */
    void *ctx;                  /* Passed to emit. */
};

/* Counters since rows_new(). */
struct rows_stats {
    uint64_t readings;         /* Readings given to rows_add(). */
    uint64_t used;             /* Of those, of a sensor the task names. */
    uint64_t rows;             /* Rows emitted. */
    uint64_t features_missing; /* Sum over emitted rows of !present[i]. */
    uint64_t pending_overflow; /* Forecast anchors refused: buffer full. */
    uint64_t pending_expired;  /* Forecast rows dropped: label too late. */
    uint64_t bad_device;       /* Device id >= max_devices: ignored. */
};

/* ---- Lifecycle --------------------------------------------------------- */

/* Defaults for the sizes and times: max_age_ms 10 minutes,
 * label_max_delay_ms 10 minutes, 256 pending rows per device, 16384 in
 * all. The caller fills target, features, nfeatures, emit and ctx. */
struct rows_config rows_config_default(size_t max_devices);

/* Create a row assembler (borrows cfg and cfg->features; both may go away
 * afterwards). Returns 0 and *out (returns owned, free with rows_free()),
 * -EINVAL (no emit, no or too many features, a repeated feature, a target
 * with a lag, a feature with a horizon, the nowcast target as a lag-0
 * feature, a sensor id >= 2^24, negative times, zero sizes), -ENOMEM. All
 * memory is allocated here: max_devices x (sensors named) x (deepest lag +
 * 1) x 16 bytes for the values, pending_total x (nfeatures x 9 + 40) bytes
 * for the pending rows, and 2 bytes per sensor id up to the largest named.
 */
int rows_new(struct rows **out, const struct rows_config *cfg);

/* Free (takes rw); rows_free(NULL) is a no-op. Pending rows are lost. */
void rows_free(struct rows *rw);

/* ---- Operations -------------------------------------------------------- */

/* Take in one accepted reading (borrowed): readings of sensors the task
 * does not name are counted and ignored. May call emit (zero or more
 * times). Never allocates. */
void rows_add(struct rows *rw, const struct reading *r);

/* Expire pending forecast rows whose label deadline (t + h +
 * label_max_delay_ms) is before now_ms; returns how many (also counted in
 * pending_expired). For a timer: a device that fell silent otherwise holds
 * its rows until it speaks again. */
size_t rows_expire(struct rows *rw, int64_t now_ms);

/* Forecast rows waiting for their labels, all devices. */
size_t rows_pending(const struct rows *rw);

/* Features per row (the n of every struct rows_row). */
size_t rows_nfeatures(const struct rows *rw);

/* Copy the counters into *out. */
void rows_stats(const struct rows *rw, struct rows_stats *out);

/* ---- Checkpoints ------------------------------------------------------- */

/* Serialise the state (per-device recent values and timestamps, pending
 * forecast rows, counters) into buf (borrowed, cap bytes; buf may be NULL
 * when cap is 0). The format is versioned (ROWS_FORMAT_VERSION),
 * little-endian and checksummed (layout in rows.c). Returns the size
 * needed; the buffer holds a complete image only if that is <= cap. Never
 * allocates. */
size_t rows_save(const struct rows *rw, uint8_t *buf, size_t cap);

/* Replace rw's state with the image in buf[0..len) (borrowed). rw must
 * have the layout the image was saved with: the same target (sensor and
 * horizon) and the same features (sensors and lags, in order); the sizes
 * and times may differ. Pending rows over rw's pending_per_device or
 * pending_total are not restored: the oldest of each device are kept (as
 * rows_add() keeps them) and the rest counted in pending_overflow.
 * Returns 0, -EBADMSG (truncated, checksum or structure wrong),
 * -EPROTONOSUPPORT (unknown format version), -EINVAL (another layout),
 * -ENOSPC (a device id >= max_devices). On error rw is left unchanged.
 * Never allocates. */
int rows_restore(struct rows *rw, const uint8_t *buf, size_t len);

#endif /* WEIR_STREAM_ROWS_H */
