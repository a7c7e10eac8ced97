/* cfgini.h -- an INI file read against a schema of sections and typed keys
 * (ingest/cfgkey.h), with a message for everything inih would truncate,
 * refuse or take silently.
 *
 * The file is read with inih (the maintained INI parser Debian ships as
 * libinih). A schema lists the sections: "[weir]"-style singletons, which
 * always exist (with their defaults) whether the file names them or not,
 * and "[task NAME]"-style named sections, which the file creates (one
 * element per header, through the schema's add hook, then its defaults).
 * Each key line is parsed by its spec's type into the field of its
 * section's struct. Reported here, each at its line: an unknown section
 * or key (with a "did you mean" for a misspelt name), a section or key
 * given twice, a key outside any section, a named section without a name
 * or a singleton with one, an indented line that continues a key that is
 * not a list, lines over inih's limits, NUL bytes, and a line that is
 * neither a header, a key nor a comment.
 *
 * After reading, the caller checks across keys (which needs the whole
 * file, so key order does not matter) with the lines keys were set at
 * (cfgini_set_line(), cfgini_blame()), and cfgini_check_applies() refuses
 * keys set where their spec says they do not apply.
 *
 * Threads: the configuration's thread only (main(), before any other
 * thread starts). */
#ifndef WEIR_INGEST_CFGINI_H
#define WEIR_INGEST_CFGINI_H

#include <stdbool.h> /* For bool. */
#include <stddef.h>  /* For size_t. */
#include <stdio.h>   /* For FILE. */

#include "ingest/cfgdiag.h" /* For struct cfgdiag. */
#include "ingest/cfgkey.h"  /* For struct cfgkey_spec, struct config. */

/* ---- Limits ------------------------------------------------------------ */

#define CFGINI_LINE_MAX 196    /* inih: INI_MAX_LINE (200) - "\r\n\0" - 1 */
#define CFGINI_HEADER_MAX 49   /* inih: MAX_SECTION (50) - 1 */
#define CFGINI_MAX_KEYS 32     /* keys of one section */
#define CFGINI_MAX_SECTIONS 32 /* sections of a schema */

/* ---- Types ------------------------------------------------------------- */

struct cfgini_section {
    const char *name;               /* "mqtt", or "task" for [task NAME]. */
    bool named;                     /* [name NAME], any number of them. */
    const struct cfgkey_spec *keys; /* nkeys entries (borrowed). */
    size_t nkeys;                   /* 1..CFGINI_MAX_KEYS. */
};

/* A section's kind is its index in sections[]. */
struct cfgini_schema {
    const struct cfgini_section *sections; /* nsections (borrowed). */
    size_t nsections;                      /* 1..CFGINI_MAX_SECTIONS. */
    /* The struct whose fields the keys of element index of section kind
     * are (index 0 for a singleton). */
    void *(*base)(struct config *cfg, size_t kind, size_t index);
    /* Add a new element for "[kind name]" (name borrowed) whose header is
     * at line; returns its index, or SIZE_MAX when out of memory. */
    size_t (*add)(struct config *cfg, size_t kind, const char *name, int line);
};

struct cfgini;

/* ---- Lifecycle --------------------------------------------------------- */

/* A reader filling cfg (borrowed) after schema (borrowed), reporting to
 * diag (borrowed); base_dir (borrowed, NULL: none) anchors relative
 * paths. All three must outlive it. Returns 0 and *out (returns owned,
 * cfgini_free()), or -ENOMEM. */
int cfgini_new(struct cfgini **out, const struct cfgini_schema *schema,
               struct config *cfg, struct cfgdiag *diag, const char *base_dir);

/* Free (takes p); NULL is a no-op. */
void cfgini_free(struct cfgini *p);

/* ---- Reading ----------------------------------------------------------- */

/* Create the singleton sections with their defaults, then read the file
 * text[0..len) (borrowed) into cfg. Problems go to diag. Returns 0, or
 * -ENOMEM (also remembered in diag): then cfg is incomplete. Call once. */
int cfgini_read(struct cfgini *p, const char *text, size_t len);

/* ---- After reading ----------------------------------------------------- */

/* The line key (a name of section kind's keys) was set at in element
 * index of section kind, or 0 if the file did not set it. */
int cfgini_set_line(const struct cfgini *p, size_t kind, size_t index,
                    const char *key);

/* The key was set and its value parsed. */
bool cfgini_parsed(const struct cfgini *p, size_t kind, size_t index,
                   const char *key);

/* The line to blame for a key: where it was set, else the section's
 * header (0 for a singleton the file does not name). */
int cfgini_blame(const struct cfgini *p, size_t kind, size_t index,
                 const char *key);

/* An error for every key set where its spec's applies() says it does not
 * apply: "[label] key <na>". */
void cfgini_check_applies(struct cfgini *p);

/* ---- Without a reader -------------------------------------------------- */

/* The keys of element index of section kind that apply, as "key = value"
 * lines on f (borrowed); "# key = (not set)" for a key without a value
 * and "# key = (set, not shown)" for a secret. 0 or -EIO. */
int cfgini_print_keys(const struct cfgini_schema *schema,
                      const struct config *cfg, size_t kind, size_t index,
                      FILE *f);

/* Free what the keys of element index of section kind own. */
void cfgini_release_keys(const struct cfgini_schema *schema, struct config *cfg,
                         size_t kind, size_t index);

#endif /* WEIR_INGEST_CFGINI_H */
