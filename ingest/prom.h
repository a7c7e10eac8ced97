/* prom.h -- write the Prometheus text exposition format (version 0.0.4).
 *
 * A metric family is a "# HELP" and a "# TYPE" line followed by its
 * samples, all contiguous:
 *
 *     # HELP weir_rejects_total Readings refused, by reason.
 *     # TYPE weir_rejects_total counter
 *     weir_rejects_total{reason="nan"} 3
 *     weir_rejects_total{reason="out_of_range"} 0
 *
 * prom_family() writes the two comment lines, prom_sample() and
 * prom_sample_u64() one sample each. Names are checked against the format's
 * grammar (metric [a-zA-Z_:][a-zA-Z0-9_:]*, label [a-zA-Z_][a-zA-Z0-9_]*,
 * not starting with "__") and a bad one is refused with -EINVAL before
 * anything is written; they come from code, so that is a programmer error
 * the tests catch. Label values and HELP text may come from users (task
 * and device names): they are escaped (\\, \" and \n in label values; \\
 * and \n in HELP) and invalid UTF-8 is replaced by U+FFFD, so any input
 * gives a valid exposition. Values: counters from uint64_t are written
 * exactly; doubles with %.17g (round-trip exact), NaN as NaN and infinities
 * as +Inf/-Inf.
 *
 * The caller keeps each family's samples together and writes a family
 * once; nothing here remembers what was written.
 *
 * Threads: pure functions on the caller's buffer; any thread. */
#ifndef WEIR_INGEST_PROM_H
#define WEIR_INGEST_PROM_H

#include <stdbool.h> /* For bool. */
#include <stddef.h>  /* For size_t. */
#include <stdint.h>  /* For uint64_t. */

#include "ingest/http.h" /* For struct http_buf. */

/* ---- Types ------------------------------------------------------------- */

enum prom_type {
    PROM_COUNTER,
    PROM_GAUGE,
    PROM_UNTYPED,
};

/* One label; both strings borrowed. */
struct prom_label {
    const char *name;  /* Label name, checked. */
    const char *value; /* Any bytes; escaped. */
};

/* Content-Type of an exposition body. */
#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* ---- Operations -------------------------------------------------------- */

/* true if name is a valid metric name. */
bool prom_name_ok(const char *name);

/* "# HELP name help\n# TYPE name type\n" into b (borrowed). Returns 0,
 * -EINVAL (bad name), or http_buf_append()'s error. */
int prom_family(struct http_buf *b, const char *name, enum prom_type type,
                const char *help);

/* "name{l1="v1",...} value\n" (no braces when nlabels is 0). labels
 * borrowed. Returns 0, -EINVAL (bad metric or label name, a repeated label
 * name), or http_buf_append()'s error. */
int prom_sample(struct http_buf *b, const char *name,
                const struct prom_label *labels, size_t nlabels, double value);

/* The same with an exact integer value, for counters. */
int prom_sample_u64(struct http_buf *b, const char *name,
                    const struct prom_label *labels, size_t nlabels,
                    uint64_t value);

#endif /* WEIR_INGEST_PROM_H */
