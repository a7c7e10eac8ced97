/* progress.h -- one self-updating status line on stderr:
 *
 *   weir-sim: 1,234,567 readings  98,765/s  41,152 msgs  0:12  ETA 0:48
 *
 * Shown only when stderr is a terminal and not quiet; redrawn at most
 * 5 times a second with "\r" and erase-to-end-of-line, and ended with a
 * newline by progress_done(). The ETA needs a known total.
 *
 * Threads: one thread per struct progress. */
#ifndef WEIR_SIM_PROGRESS_H
#define WEIR_SIM_PROGRESS_H

#include <stdbool.h> /* For bool. */
#include <stdint.h>  /* For uint64_t, int64_t. */

struct progress {
    bool on;          /* Drawing at all. */
    bool drawn;       /* A line is on screen. */
    const char *unit; /* "readings", "records", ... (borrowed). */
    uint64_t total;   /* Expected units, 0 = unknown. */
    double total_s;   /* Expected seconds, 0 = unknown. */
    int64_t start_ns; /* Monotonic start. */
    int64_t next_ns;  /* Next redraw. */
};

/* on = isatty(stderr) && !quiet. */
void progress_init(struct progress *p, bool quiet, const char *unit,
                   uint64_t total, double total_s);

/* Redraw if due (or force). */
void progress_update(struct progress *p, uint64_t units, uint64_t msgs,
                     bool force);

/* Final redraw and newline. */
void progress_done(struct progress *p, uint64_t units, uint64_t msgs);

#endif /* WEIR_SIM_PROGRESS_H */
