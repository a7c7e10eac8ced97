/* validate.h -- per-record plausibility checks, configured per sensor id.
 *
 * A record that passed dedup is checked, in this order, and the first
 * failing check gives the reason:
 *   1. the value is finite                          REJECT_NAN
 *   2. the sensor has a rule, or unknown sensors
 *      are accepted with the default rule           REJECT_UNKNOWN_SENSOR
 *   3. required fields are present (the rule's
 *      VALIDATE_REQUIRE_* flags)                    REJECT_MISSING_FIELD
 *   4. ts_ms - now_ms <= max_future_ms              REJECT_TS_FUTURE
 *   5. now_ms - ts_ms <= max_age_ms                 REJECT_TS_STALE
 *   6. min <= value <= max                          REJECT_OUT_OF_RANGE
 *   7. |value - last| / dt <= max_rate_per_s, where
 *      last is the last accepted value of the same
 *      (device, sensor) and dt the time between
 *      them in seconds (at least min_dt_ms)         REJECT_RATE_OF_CHANGE
 * Rate state is updated only by accepted records, and only forward in time
 * (an accepted record older than the stored one leaves it). A rejected spike
 * therefore does not move the reference, and a genuine step is accepted as
 * soon as enough time has passed for the rate to fall under the limit.
 *
 * Rate state is one column of max_devices cells (16 bytes each) per sensor
 * whose rule sets a rate limit, allocated by validate_set_rule() (at most
 * rate_sensors columns); the default rule for unknown sensors has no rate
 * limit, because it would need state for every sensor. Rate state is
 * checkpointed (validate_save(), validate_restore()), so after a restart
 * the first record of each pair is checked against the last one accepted
 * before it, as in an uninterrupted run.
 *
 * Threads: a struct validate belongs to one thread (the loop thread); rules
 * are set before the first validate_check(). */
#ifndef WEIR_STREAM_VALIDATE_H
#define WEIR_STREAM_VALIDATE_H

#include <stdbool.h> /* For bool. */
#include <stddef.h>  /* For size_t. */
#include <stdint.h>  /* For uint32_t, int64_t. */

#include "stream/reading.h" /* For struct reading. */
#include "stream/reject.h"  /* For enum reject_reason. */

/* ---- Limits ------------------------------------------------------------ */

#define VALIDATE_MAX_SENSORS (1u << 24) /* equals INTERN_MAX_CAP */
#define VALIDATE_MAX_DEVICES (1u << 24) /* equals INTERN_MAX_CAP */
#define VALIDATE_MAX_RATE_SENSORS 1024u /* sensors with a rate limit */
#define VALIDATE_FORMAT_VERSION 1u      /* of validate_save()'s output */

/* ---- Types ------------------------------------------------------------- */

struct validate;

enum validate_flag {
    VALIDATE_REQUIRE_TS = 1 << 0,  /* the device must send a timestamp */
    VALIDATE_REQUIRE_SEQ = 1 << 1, /* the device must send a sequence no. */
};

struct validate_rule {
    double min;            /* Smallest valid value; -INFINITY for none. */
    double max;            /* Largest valid value; INFINITY for none. */
    double max_rate_per_s; /* Largest |dv/dt| in units/s; INFINITY: none. */
    unsigned flags;        /* enum validate_flag bits. */
};

struct validate_config {
    size_t max_sensors;    /* Sensor ids 0..max_sensors-1 (table cap). */
    size_t max_devices;    /* Device ids 0..max_devices-1 (table cap). */
    size_t rate_sensors;   /* Sensors that may have a rate limit. */
    int64_t max_future_ms; /* Allowed lead of ts over now; INT64_MAX: any. */
    int64_t max_age_ms;    /* Allowed lag of ts behind now; INT64_MAX: any. */
    int64_t min_dt_ms;     /* Floor of dt in the rate check (>= 1). */
    bool refuse_unknown;   /* Sensors without a rule: refuse, else default. */
    struct validate_rule default_rule; /* For unknown sensors; no rate. */
};

/* Counters since validate_new(), per record. */
struct validate_stats {
    uint64_t checked;             /* Records passed to validate_check(). */
    uint64_t accepted;            /* Records that passed every check. */
    uint64_t bad_id;              /* Sensor or device id outside the config. */
    struct reject_counts rejects; /* Refusals by reason. */
};

/* ---- Lifecycle --------------------------------------------------------- */

/* An unrestricted rule: any finite value, any rate, nothing required. */
struct validate_rule validate_rule_any(void);

/* Defaults: timestamps at most 5 minutes ahead and 7 days behind now,
 * min_dt_ms 1, unknown sensors accepted under validate_rule_any(), room for
 * 64 rate-limited sensors, and the given table sizes. */
struct validate_config validate_config_default(size_t max_devices,
                                               size_t max_sensors);

/* Create a validator (borrows cfg). Returns 0 and *out (returns owned, free
 * with validate_free()), -EINVAL for a bad configuration, -ENOMEM. Memory
 * is allocated here and by validate_set_rule(); validate_check() never
 * allocates. */
int validate_new(struct validate **out, const struct validate_config *cfg);

/* Free a validator (takes v); validate_free(NULL) is a no-op. */
void validate_free(struct validate *v);

/* Set the rule of sensor_id (borrows rule), replacing any earlier one; a
 * rule with a rate limit allocates the sensor's rate column the first time.
 * Returns 0, -EINVAL (id out of range, min > max, NaN bounds, rate <= 0,
 * unknown flags), -ENOSPC (all rate_sensors columns are taken), -ENOMEM. */
int validate_set_rule(struct validate *v, uint32_t sensor_id,
                      const struct validate_rule *rule);

/* ---- Operations -------------------------------------------------------- */

/* Check one record (borrowed) at time now_ms (ms since the epoch). Returns
 * REJECT_NONE if it is accepted (and updates its rate state), else the
 * reason; a device or sensor id outside the configuration is
 * REJECT_TABLE_FULL. Counts every outcome. */
enum reject_reason validate_check(struct validate *v, const struct reading *r,
                                  int64_t now_ms);

/* Hint: start loading the rate state validate_check() will touch for r
 * (borrowed). No effect on results. */
void validate_prefetch(const struct validate *v, const struct reading *r);

/* Copy the counters into *out. */
void validate_stats(const struct validate *v, struct validate_stats *out);

/* ---- Checkpoints ------------------------------------------------------- */

/* Serialise the rate state (the last accepted value and timestamp of every
 * (device, sensor) pair of a rate-limited sensor; not the rules, not the
 * counters) into buf (borrowed, cap bytes; buf may be NULL when cap is 0).
 * The format is versioned (VALIDATE_FORMAT_VERSION), little-endian and
 * checksummed (layout in validate.c). Returns the size needed; the buffer
 * holds a complete image only if that is <= cap. Never allocates. */
size_t validate_save(const struct validate *v, uint8_t *buf, size_t cap);

/* Replace v's rate state with the image in buf[0..len) (borrowed). State
 * is matched by sensor id, so the rules may have been set in another
 * order; state of a sensor that has no rate limit in v (its rule changed)
 * is dropped, and pairs the image does not hold start empty. Returns 0,
 * -EBADMSG (truncated, checksum or structure wrong), -EPROTONOSUPPORT
 * (unknown format version), -ENOSPC (a device id >= max_devices). On
 * error v is left unchanged. Never allocates. */
int validate_restore(struct validate *v, const uint8_t *buf, size_t len);

#endif /* WEIR_STREAM_VALIDATE_H */
