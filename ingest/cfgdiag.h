/* cfgdiag.h -- the messages of one configuration file: errors and warnings
 * collected with their line numbers while the file is read and checked,
 * then rendered sorted by line ("weir.ini:12: error: ...").
 *
 * Every module of the configuration (ingest/config.c and its cfg*
 * helpers) reports here, so that all problems of a file come out at once
 * whatever found them (a key's parser, the section reader, a check across
 * keys), in file order, and key order in the file does not matter.
 * Running out of memory is remembered rather than reported: the caller
 * turns it into -ENOMEM.
 *
 * Threads: a list belongs to the thread that reads the file (main(),
 * before any other thread starts). */
#ifndef WEIR_INGEST_CFGDIAG_H
#define WEIR_INGEST_CFGDIAG_H

#include <stdarg.h>  /* For va_list. */
#include <stdbool.h> /* For bool. */
#include <stddef.h>  /* For size_t. */

/* ---- Types ------------------------------------------------------------- */

struct cfgdiag;

/* ---- Lifecycle --------------------------------------------------------- */

/* An empty list for the file called name (borrowed: it must outlive the
 * list), which starts every rendered line. Returns 0 and *out (returns
 * owned, cfgdiag_free()), or -ENOMEM. */
int cfgdiag_new(struct cfgdiag **out, const char *name);

/* Free (takes d); NULL is a no-op. */
void cfgdiag_free(struct cfgdiag *d);

/* ---- Operations -------------------------------------------------------- */

/* Add a message about line (0: the file as a whole) from fmt and ap; a
 * warning does not count as an error. Messages are cut at 511 bytes. */
__attribute__((format(printf, 4, 0))) void cfgdiag_vadd(struct cfgdiag *d,
                                                        int line, bool warning,
                                                        const char *fmt,
                                                        va_list ap);

/* cfgdiag_vadd() for an error / a warning. */
__attribute__((format(printf, 3, 4))) void
cfgdiag_error(struct cfgdiag *d, int line, const char *fmt, ...);
__attribute__((format(printf, 3, 4))) void
cfgdiag_warning(struct cfgdiag *d, int line, const char *fmt, ...);

/* Remember that an allocation failed (the configuration is incomplete). */
void cfgdiag_nomem(struct cfgdiag *d);

/* ---- Results ----------------------------------------------------------- */

/* Errors added so far. */
size_t cfgdiag_errors(const struct cfgdiag *d);

/* true once cfgdiag_nomem() was called, or a message could not be kept. */
bool cfgdiag_out_of_memory(const struct cfgdiag *d);

/* Every message, sorted by line (stable), one per line: "name:line:
 * error: text" ("name: warning: text" for line 0). Returns owned text
 * (free()), or NULL when there are no messages or no memory. */
char *cfgdiag_render(struct cfgdiag *d);

#endif /* WEIR_INGEST_CFGDIAG_H */
