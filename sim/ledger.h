/* ledger.h -- a CSV record of every reading the simulator sent (or meant to
 * send), so that a test or benchmark can account for each one: accepted,
 * rejected with the right reason, deduplicated, never lost.
 *
 * One line per reading, in the order the messages were handed to the
 * broker client; a message with k readings gives k lines with the same
 * msg and seq. Columns (header line first):
 *
 *   msg     index of the message in output order (0, 1, ...); a dropped
 *           message has the index the next sent message gets
 *   sent    1, or 0 for a message dropped on purpose (fault drop)
 *   device  device name
 *   seq     the message's sequence number
 *   ts_ms   timestamp in the payload (ms since the epoch, after skew)
 *   sensor  sensor or label name
 *   label   1 if it is a label (ground truth), else 0
 *   value   the value encoded (%.17g; nan, inf, -inf)
 *   fault   faults that touched it, '+'-joined (faults.h names), or none
 *   expect  what a correct receiver must do whatever its configuration:
 *           accept; duplicate (a dup copy); decode_error (corrupt); nan
 *           (NaN/Inf value); lost (not sent); or '-' when it depends on
 *           the receiver's settings (spike: ranges; skew: allowed skew;
 *           restart: dedup policy). Names are stream/reject.h's.
 *
 * Writes go through a 1 MiB stdio buffer; ledger_close() flushes and
 * reports whether every write succeeded.
 *
 * Threads: one thread at a time. */
#ifndef WEIR_SIM_LEDGER_H
#define WEIR_SIM_LEDGER_H

#include <stdbool.h> /* For bool. */
#include <stddef.h>  /* For size_t. */
#include <stdint.h>  /* For uint32_t, uint64_t, int64_t. */

struct ledger;

/* One reading's line. Strings borrowed. */
struct ledger_entry {
    uint64_t msg;       /* Message index. */
    bool sent;          /* false: dropped on purpose. */
    const char *device; /* Device name. */
    uint64_t seq;       /* Sequence number. */
    int64_t ts_ms;      /* Timestamp in the payload. */
    const char *sensor; /* Sensor or label name. */
    bool label;         /* Ground truth. */
    double value;       /* As encoded. */
    uint32_t faults;    /* FAULT_* bits (message and reading). */
};

/* Create (truncate) path and write the header. Returns 0 and *out (returns
 * owned; ledger_close), or -errno with "path: reason" in err. */
int ledger_open(struct ledger **out, const char *path, char *err,
                size_t errlen);

/* Append one line. A failed write is remembered for ledger_close(). */
void ledger_write(struct ledger *l, const struct ledger_entry *e);

/* Flush, close and free; NULL is a no-op. Returns 0, or -EIO if any write
 * failed. */
int ledger_close(struct ledger *l);

/* The expect column for a set of fault bits (a constant string). */
const char *ledger_expect(uint32_t faults, bool sent);

#endif /* WEIR_SIM_LEDGER_H */
