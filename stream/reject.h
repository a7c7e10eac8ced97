/* reject.h -- why a reading or message was not accepted.
 *
 * Every stage that refuses input returns one of these; the caller counts it
 * (struct reject_counts) and, in the daemon, publishes the original payload
 * to weir/rejects/{name}. The names are stable: they appear in metrics,
 * topics, logs and checkpoints (counters are saved by index), so reasons
 * are only ever added, at the end, before REJECT__COUNT. */
#ifndef WEIR_STREAM_REJECT_H
#define WEIR_STREAM_REJECT_H

#include <stdint.h> /* For uint64_t. */

enum reject_reason {
    REJECT_NONE = 0,
    REJECT_DECODE_ERROR,   /* payload is not a valid message of its format */
    REJECT_TOO_LARGE,      /* payload or batch over the configured size */
    REJECT_MISSING_FIELD,  /* a required field (device, sensor, value) absent */
    REJECT_BAD_NAME,       /* empty name, NUL, '/', '+', '#', or too long */
    REJECT_TABLE_FULL,     /* interning table full: a new name is refused */
    REJECT_DUPLICATE,      /* (device, seq) or content hash seen before */
    REJECT_STALE,          /* seq older than the anti-replay window */
    REJECT_NAN,            /* value is NaN or infinite */
    REJECT_OUT_OF_RANGE,   /* value outside the sensor's [min, max] */
    REJECT_RATE_OF_CHANGE, /* |dv/dt| above the sensor's maximum */
    REJECT_TS_FUTURE,      /* timestamp further ahead of now than allowed */
    REJECT_TS_STALE,       /* timestamp older than allowed */
    REJECT_UNKNOWN_SENSOR, /* sensor has no rule and unknown ones are refused */
    REJECT_RING_FULL,      /* QoS 0 message dropped because the ring was full */
    REJECT_UNKNOWN_TOPIC,  /* on a subscribed topic that no template matches */
    REJECT__COUNT
};

/* Stable lower_snake_case name of a reason ("decode_error", ...); never
 * NULL ("unknown" for a value outside the enum). */
const char *reject_name(enum reject_reason reason);

/* One counter per reason; index with enum reject_reason. */
struct reject_counts {
    uint64_t n[REJECT__COUNT]; /* Messages or readings refused, per reason. */
};

#endif /* WEIR_STREAM_REJECT_H */
