/* csvsrc.h -- stream the rows of a CSV data set as timestamped readings.
 *
 * A CSV file becomes a sequence of rows, each with a device name, a
 * timestamp in ms since the epoch and a list of named values (sensors, then
 * labels). Which column plays which role is the column map, given as a
 * struct csvsrc_map or parsed from a one-line spec shared by every tool
 * (weir-sim csv, weir replay --csv):
 *
 *     ts=date;labels=Occupancy                      (Occupancy)
 *     ts=none;labels=class;classes=DOWN,UP           (Elec2 elecNormNew.csv)
 *     ts=timestamp;device=nyc_taxi                   (a NAB file)
 *
 * Keys, separated by ';' (lists inside a value by ','):
 *   device=NAME      fixed device name (default: the file's base name without
 *                    extension, characters outside [A-Za-z0-9_.-] as '_')
 *   device_col=COL   take the device from this column instead
 *   ts=COL|none      timestamp column; "none" uses the row index:
 *                    ts_ms = ts_start + index * ts_step. Default: the first
 *                    column named timestamp, time, date, datetime or ts
 *                    (any case) whose first value parses as a time, else none
 *   ts_format=F      auto (default), epoch_s, epoch_ms, iso8601 (also
 *                    "YYYY-MM-DD HH:MM:SS[.fff]" and date-only), or a
 *                    strptime(3) format such as %d/%m/%Y %H:%M. auto looks
 *                    at the first data row: a date form -> iso8601; a number
 *                    >= 1e11 -> epoch_ms; >= 1e8 -> epoch_s; anything else
 *                    is not a timestamp (an explicit ts=COL is then an
 *                    error, an auto-picked one falls back to none). Times
 *                    without a zone are UTC; Z and +HH:MM / -HHMM are honoured.
 *   ts_start=MS      first row-index timestamp (default 0)
 *   ts_step=MS       row-index step (default 1000)
 *   sensors=A,B,...  sensor columns, in this order. Default: every column
 *                    not used otherwise whose first data value is numeric
 *                    (or empty)
 *   labels=A,...     label (ground truth) columns; numeric, or class strings
 *   classes=X,Y,...  class strings of the label columns: X->0, Y->1, ...;
 *                    a value not listed is a bad row (bad_class). Without it
 *                    classes get codes in order of first appearance, per
 *                    label column (stable for a given file and start)
 *   skip=A,...       columns to ignore
 *   header=yes|no    first line names the columns (default yes); with no,
 *                    columns are named #0, #1, ...
 *   delim=C          field separator: a character, or comma, semicolon, tab
 *   strict=yes       the first bad row is fatal (default: counted, skipped)
 * A column is named by its header text or by #N (0-based index).
 *
 * Row-id column: when the first data row has exactly one field more than
 * the header (the UCI Occupancy files: a quoted row number before the
 * 7 named columns), the extra leading column is named "_row_id" and
 * skipped. Quoted fields, embedded separators and newlines in quotes,
 * CRLF line ends and a UTF-8 byte-order mark are handled by libcsv and here.
 *
 * Bad rows (wrong field count, bad timestamp, non-numeric sensor value,
 * unknown class, bad device name, row too long) are counted per reason
 * (struct csvsrc_stats) and skipped; the first one is kept as a
 * "file:line: reason" message. Empty sensor fields are not errors: the value
 * is marked absent. Timestamps that go backwards are counted, not refused.
 *
 * Memory is bounded: the file is read in 64 KiB chunks, fed to libcsv one
 * line at a time, and a row may hold at most CSVSRC_MAX_ROW_BYTES of field
 * text and CSVSRC_MAX_COLS columns (longer is a bad row, or fatal when a
 * single unterminated field passes the limit).
 *
 * Threads: a struct csvsrc is used by one thread at a time; nothing is
 * shared between instances. */
#ifndef WEIR_INGEST_CSVSRC_H
#define WEIR_INGEST_CSVSRC_H

#include <stdbool.h> /* For bool. */
#include <stddef.h>  /* For size_t. */
#include <stdint.h>  /* For int64_t, uint64_t. */

/* ---- Limits ------------------------------------------------------------ */

#define CSVSRC_MAX_COLS 1024           /* columns in one row */
#define CSVSRC_MAX_ROW_BYTES (1 << 20) /* bytes of field text in one row */
#define CSVSRC_NAME_MAX 64             /* bytes of a device or column name */
#define CSVSRC_MAX_CLASSES 256         /* distinct class strings per label */
#define CSVSRC_LIST_MAX 2048           /* bytes of a list in the spec */

/* ---- Types ------------------------------------------------------------- */

/* The column map: a transparent value, filled by csvsrc_map_init() and
 * csvsrc_map_parse() or by hand. Empty strings mean "not given". */
struct csvsrc_map {
    char device[CSVSRC_NAME_MAX + 1];     /* Fixed device name, or "". */
    char device_col[CSVSRC_NAME_MAX + 1]; /* Device column, or "". */
    char ts_col[CSVSRC_NAME_MAX + 1];     /* Column, "none", or "" = auto. */
    char ts_format[CSVSRC_NAME_MAX + 1];  /* See above; "" = auto. */
    int64_t ts_start_ms;                  /* Row-index time origin, ms. */
    int64_t ts_step_ms;                   /* Row-index time step, ms. */
    char sensors[CSVSRC_LIST_MAX];        /* Comma list, or "" = auto. */
    char labels[CSVSRC_LIST_MAX];         /* Comma list. */
    char classes[CSVSRC_LIST_MAX];        /* Comma list, or "" = first seen. */
    char skip[CSVSRC_LIST_MAX];           /* Comma list. */
    char delim;                           /* Field separator. */
    bool header;                          /* First line names columns. */
    bool strict;                          /* First bad row is fatal. */
};

/* Why a row was skipped. Names (csvsrc_bad_name) are stable. */
enum csvsrc_bad {
    CSVSRC_BAD_FIELD_COUNT, /* "field_count": more or fewer fields */
    CSVSRC_BAD_TIMESTAMP,   /* "timestamp": does not parse in the format */
    CSVSRC_BAD_NUMBER,      /* "number": sensor/label value not numeric */
    CSVSRC_BAD_CLASS,       /* "class": not in classes=, or too many */
    CSVSRC_BAD_DEVICE,      /* "device": empty or unusable device name */
    CSVSRC_BAD_TOO_LONG,    /* "too_long": over the row limits */
    CSVSRC_BAD__COUNT
};

/* What a column is used for; see csvsrc_column_role(). */
enum csvsrc_role {
    CSVSRC_ROLE_IGNORED, /* skipped, or not numeric and not named */
    CSVSRC_ROLE_DEVICE,
    CSVSRC_ROLE_TS,
    CSVSRC_ROLE_SENSOR,
    CSVSRC_ROLE_LABEL,
};

/* One value of a row. name borrows the reader's memory (valid until
 * csvsrc_free). */
struct csvsrc_value {
    const char *name; /* Column name (header text or #N). */
    double value;     /* Parsed number, or class code for class labels. */
    bool present;     /* false: the field was empty. */
    bool is_label;    /* A label column (ground truth), not a sensor. */
};

/* One data row. Pointers borrow the reader's memory until the next
 * csvsrc_next() or csvsrc_free(). */
struct csvsrc_row {
    uint64_t line;                /* Line (1-based) where the row ends. */
    uint64_t index;               /* Good rows before this one. */
    const char *device;           /* Device name, validated. */
    int64_t ts_ms;                /* Timestamp, ms since the epoch (UTC). */
    size_t n;                     /* Entries in v: sensors, then labels. */
    const struct csvsrc_value *v; /* n values. */
};

struct csvsrc_stats {
    uint64_t lines;                  /* Physical lines read so far. */
    uint64_t rows;                   /* Data rows seen, good and bad. */
    uint64_t rows_ok;                /* Rows returned by csvsrc_next(). */
    uint64_t bad[CSVSRC_BAD__COUNT]; /* Rows skipped, per reason. */
    uint64_t missing;                /* Empty sensor or label fields. */
    uint64_t ts_backwards;           /* Rows whose time < previous row's. */
    char first_bad[256];             /* "file:line: reason", or "". */
};

struct csvsrc;

/* ---- Column maps ------------------------------------------------------- */

/* Defaults: everything auto, header on, ',' separator, ts_step 1000 ms. */
void csvsrc_map_init(struct csvsrc_map *map);

/* Parse a spec (borrowed; syntax above) over map's current contents.
 * Returns 0, or -EINVAL with a one-line reason in err (errlen bytes). */
int csvsrc_map_parse(struct csvsrc_map *map, const char *spec, char *err,
                     size_t errlen);

/* ---- Lifecycle --------------------------------------------------------- */

/* Open path ("-" = standard input), read the header and the first data row,
 * and resolve the map against the columns. Returns 0 and *out (returns
 * owned; free with csvsrc_free), or a negative errno with a one-line
 * "path[:line]: reason" in err: -ENOENT etc. from open(2), -EINVAL for a
 * map that names missing columns or an unusable timestamp column, -ENODATA
 * for a file without a header, -EIO for read errors. map is borrowed and
 * copied. */
int csvsrc_open(struct csvsrc **out, const char *path,
                const struct csvsrc_map *map, char *err, size_t errlen);

/* Close the file and free everything; csvsrc_free(NULL) is a no-op. */
void csvsrc_free(struct csvsrc *s);

/* ---- Operations -------------------------------------------------------- */

/* Fetch the next good row into *row (borrowed pointers, see struct
 * csvsrc_row). Returns 1 with a row, 0 at end of file, or a negative errno
 * when reading cannot go on (-EIO, -EFBIG for an unterminated field over
 * the limit, -EBADMSG for a bad row in strict mode); csvsrc_error() then
 * says why. Bad rows are otherwise skipped and counted. */
int csvsrc_next(struct csvsrc *s, struct csvsrc_row *row);

/* Counts so far (copied into *out). */
void csvsrc_stats(const struct csvsrc *s, struct csvsrc_stats *out);

/* "file:line: reason" of the last fatal error, or ""; borrowed. */
const char *csvsrc_error(const struct csvsrc *s);

/* Columns of the file (after any _row_id column was added). */
size_t csvsrc_columns(const struct csvsrc *s);
const char *csvsrc_column_name(const struct csvsrc *s, size_t col);
enum csvsrc_role csvsrc_column_role(const struct csvsrc *s, size_t col);

/* Names of the values a row carries, in row order (n of them): the same as
 * row->v[i].name for every row. */
size_t csvsrc_values(const struct csvsrc *s);

/* The class string that code stands for in value i (a label), or NULL if
 * the label is numeric or code is unknown; borrowed. */
const char *csvsrc_class_name(const struct csvsrc *s, size_t i, double code);

/* Stable name of a bad-row reason ("field_count", ...); never NULL. */
const char *csvsrc_bad_name(enum csvsrc_bad why);

/* Parse a timestamp in the given format ("" or "auto" = try iso8601, then
 * epoch by magnitude). Returns 0 and *ts_ms, or -EINVAL. Exposed for tests
 * and for tools that take times on the command line. */
int csvsrc_parse_time(const char *text, const char *format, int64_t *ts_ms);

#endif /* WEIR_INGEST_CSVSRC_H */
