/* cfgkey.h -- typed configuration keys: the specification of a key (name,
 * type, field, range, default, when it applies) and the value types every
 * section uses (strings, paths, booleans, numbers, durations, sizes, enums
 * and lists of them).
 *
 * A key is data: struct cfgkey_spec says where its value lives (the byte
 * offset of a field in its section's struct, and the field's width for
 * integers), how to read and print it (a struct cfgkey_type), what range
 * is allowed and what the default is, written as configuration text so
 * that it goes through the same parser and checks as the file. A section
 * is an array of specs (ingest/cfgini.h reads a file against them);
 * ingest/config.c holds weir's tables, and ingest/cfgtype.h the types
 * only weir needs (broker URIs, topic templates, row terms, windows,
 * listen addresses).
 *
 * A value's problems are reported to the file's message list
 * (ingest/cfgdiag.h) at the line being read, as "[section] key = 'value':
 * why", and the parse function returns false; the field is then left as
 * it was. Value syntax (also config.h's user view): durations "250ms",
 * "30s", "15m", "2h", "1d", combinations "1h30m", a bare number is
 * seconds; sizes "512", "64KiB" ("64K"), "8MiB", "1GiB", binary; booleans
 * true/false, yes/no, on/off, 1/0; lists are comma-separated, and a
 * trailing comma continues a list on the next (indented) line.
 *
 * Threads: the thread that reads the configuration (main(), before any
 * other thread starts); the type objects are constant. */
#ifndef WEIR_INGEST_CFGKEY_H
#define WEIR_INGEST_CFGKEY_H

#include <stdbool.h> /* For bool. */
#include <stddef.h>  /* For size_t. */
#include <stdint.h>  /* For int64_t, uint64_t. */
#include <stdio.h>   /* For FILE. */

#include "ingest/cfgdiag.h" /* For struct cfgdiag. */

/* ---- Types ------------------------------------------------------------- */

struct config; /* ingest/config.h: the whole configuration. */
struct cfgkey_spec;

/* Where a value is read, and where its problems go. */
struct cfgkey_at {
    struct cfgdiag *diag; /* The file's messages (borrowed). */
    int line;             /* Line of the value. */
    const char *label;    /* Its section for messages: "task occupancy". */
    const char *base_dir; /* Anchors relative paths; NULL: none. */
    bool defaults;        /* A built-in default: no file checks, and a
                             message would be a programmer error. */
};

/* How a key's value is read, printed and freed. */
struct cfgkey_type {
    /* Parse v into the field of base; append: a continuation line of a
     * list (add to it rather than replace it). false after a message. */
    bool (*parse)(const struct cfgkey_at *at, const struct cfgkey_spec *k,
                  void *base, const char *v, bool append);
    /* Print the value as configuration text, no newline; false: nothing
     * to print (not set). */
    bool (*print)(FILE *f, const struct cfgkey_spec *k, const void *base);
    /* Free what the field owns, or NULL if it owns nothing. */
    void (*release)(const struct cfgkey_spec *k, void *base);
    bool list; /* Continuation lines append. */
};

enum cfgkey_flag {
    CFGKEY_NONEMPTY = 1 << 0, /* An empty value is an error. */
    CFGKEY_READABLE = 1 << 1, /* A path that must be a readable file. */
    CFGKEY_SECRET = 1 << 2,   /* Never printed. */
    CFGKEY_OPEN_LO = 1 << 3,  /* lo itself is outside the range. */
    CFGKEY_OPEN_HI = 1 << 4,  /* hi itself is outside the range. */
};

struct cfgkey_spec {
    const char *name; /* As written in the file. */
    const struct cfgkey_type *type;
    size_t off;               /* Of the field in the section's struct. */
    size_t width;             /* sizeof the field (integers, enums). */
    size_t off_n;             /* Of a list's count (size_t). */
    double lo;                /* Range, in the field's unit; for a */
    double hi;                /* list of names, hi is its length. */
    unsigned flags;           /* enum cfgkey_flag. */
    const char *const *names; /* Enum names (NULL-ended); the
                                 placeholders of topic templates. */
    const int *values;        /* Enum values (NULL: the index). */
    const char *def;          /* Default as configuration text, or
                                 NULL: none. */
    bool (*applies)(const struct config *cfg, const void *base); /* NULL:
                                      always; else the key may only be set
                                      where this holds (checked once the
                                      whole file is read). */
    const char *na; /* Why it does not apply, for messages. */
};

/* The field a spec describes, in base (the section's struct). */
static inline void *cfgkey_field(void *base, const struct cfgkey_spec *k)
{
    return (char *)base + k->off;
}

static inline const void *cfgkey_cfield(const void *base,
                                        const struct cfgkey_spec *k)
{
    return (const char *)base + k->off;
}

/* ---- Value types ------------------------------------------------------- */

/* A string without control characters (CFGKEY_NONEMPTY: not empty); the
 * field is a char * (owned; NULL: empty). */
extern const struct cfgkey_type cfgkey_string;
/* A string made absolute against at->base_dir (CFGKEY_READABLE: the file
 * must be readable, except for defaults). */
extern const struct cfgkey_type cfgkey_path;
/* true/false, yes/no, on/off, 1/0 into a bool. */
extern const struct cfgkey_type cfgkey_bool;
/* A whole number in [lo, hi] into an unsigned field of width 2, 4 or 8. */
extern const struct cfgkey_type cfgkey_uint;
/* A whole number in [lo, hi] into an int. */
extern const struct cfgkey_type cfgkey_int;
/* A finite number in the range into a double; a non-finite field (a bound
 * that is not set) prints as nothing. */
extern const struct cfgkey_type cfgkey_double;
/* A duration in the range (milliseconds) into an int64_t. */
extern const struct cfgkey_type cfgkey_duration;
/* A size in [lo, hi] bytes into an unsigned field of width 2, 4 or 8. */
extern const struct cfgkey_type cfgkey_size;
/* One of names[] into an int (values[i], or i), or into a bool when the
 * field is one. */
extern const struct cfgkey_type cfgkey_enum;
/* Distinct numbers in the range into a double[CONFIG_MAX_GRID] with its
 * count at off_n. */
extern const struct cfgkey_type cfgkey_doubles;
/* Distinct names[] into an int[hi] of values[] with its count at off_n. */
extern const struct cfgkey_type cfgkey_enums;
/* At most hi distinct strings of 1..CODEC_NAME_MAX bytes into a char **
 * (owned, and each string) with its count at off_n. */
extern const struct cfgkey_type cfgkey_strings;

/* ---- For other types --------------------------------------------------- */

/* Report a problem with value v of key k (all borrowed) at at->line:
 * "[label] name = 'v': " and fmt. Never for a built-in default (assert). */
__attribute__((format(printf, 4, 5))) void
cfgkey_bad_value(const struct cfgkey_at *at, const struct cfgkey_spec *k,
                 const char *v, const char *fmt, ...);

/* Report a problem with key k (borrowed) as a whole: "[label] name: "
 * and fmt. Never for a built-in default (assert). */
__attribute__((format(printf, 3, 4))) void
cfgkey_bad_key(const struct cfgkey_at *at, const struct cfgkey_spec *k,
               const char *fmt, ...);

/* Call item(at, k, base, text) for each comma-separated item of v
 * (borrowed; text is a NUL-terminated copy of the item, borrowed for the
 * call, spaces around it trimmed). A trailing comma is allowed, an empty
 * item is an error. Returns false if any item or the list was refused. */
bool cfgkey_each_item(const struct cfgkey_at *at, const struct cfgkey_spec *k,
                      void *base, const char *v,
                      bool (*item)(const struct cfgkey_at *,
                                   const struct cfgkey_spec *, void *,
                                   const char *));

/* A non-negative decimal integer (all of s) into *out; false if s is not
 * one or it overflows. */
bool cfgkey_parse_u64(const char *s, uint64_t *out);

/* A duration (see the top) into *out in milliseconds; false if s is not
 * one or it overflows. Negative durations are not durations. */
bool cfgkey_parse_duration_ms(const char *s, int64_t *out);

/* Print ms (>= 0) as d/h/m/s/ms groups, largest first ("1h30m"; 0 is
 * "0s"), which cfgkey_parse_duration_ms() reads back to ms. */
void cfgkey_print_duration(FILE *f, int64_t ms);

#endif /* WEIR_INGEST_CFGKEY_H */
