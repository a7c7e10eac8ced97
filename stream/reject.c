/* reject.c -- names of the reject reasons.
 * Threads: pure; the table is const and read from any thread. */
#include "stream/reject.h"

#include <stddef.h>

static const char *const reject_names[REJECT__COUNT] = {
    [REJECT_NONE] = "none",
    [REJECT_DECODE_ERROR] = "decode_error",
    [REJECT_TOO_LARGE] = "too_large",
    [REJECT_MISSING_FIELD] = "missing_field",
    [REJECT_BAD_NAME] = "bad_name",
    [REJECT_TABLE_FULL] = "table_full",
    [REJECT_DUPLICATE] = "duplicate",
    [REJECT_STALE] = "stale",
    [REJECT_NAN] = "nan",
    [REJECT_OUT_OF_RANGE] = "out_of_range",
    [REJECT_RATE_OF_CHANGE] = "rate_of_change",
    [REJECT_TS_FUTURE] = "ts_future",
    [REJECT_TS_STALE] = "ts_stale",
    [REJECT_UNKNOWN_SENSOR] = "unknown_sensor",
    [REJECT_RING_FULL] = "ring_full",
    [REJECT_UNKNOWN_TOPIC] = "unknown_topic",
};

const char *reject_name(enum reject_reason reason)
{
    if ((unsigned)reason >= REJECT__COUNT || reject_names[reason] == NULL)
        return "unknown";
    return reject_names[reason];
}
