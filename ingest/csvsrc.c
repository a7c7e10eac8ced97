/* csvsrc.c -- CSV data sets as a stream of timestamped rows (see csvsrc.h).
 *
 * Reading: the file is read with read(2) into a 64 KiB buffer and handed to
 * libcsv one line at a time (up to and including the next CR or LF), so at
 * most one row completes per csv_parse() call and the reader can stop after
 * each row without keeping a queue. libcsv's own field buffer is checked
 * after every call: an unterminated quoted field stops the read at
 * CSVSRC_MAX_ROW_BYTES instead of growing without bound. Field text of the
 * current row is copied into one growable buffer (offsets per field).
 *
 * Resolving the map needs the header and the first data row (row-id column,
 * timestamp format, which columns are numeric), so csvsrc_open() reads both
 * and keeps the first row pending for the first csvsrc_next().
 *
 * Cost: one copy of each field, one strtod per value; no allocation per row
 * after the buffers have grown to the widest row.
 *
 * Threads: none of its own; one instance is used by one thread at a time. */
#include "ingest/csvsrc.h"

#include <csv.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CSVSRC_CHUNK 65536

enum ts_kind { TS_NONE, TS_AUTO, TS_ISO, TS_EPOCH_S, TS_EPOCH_MS, TS_STRP };

struct csvsrc_col {
    char name[CSVSRC_NAME_MAX + 1]; /* Header text (truncated) or #N. */
    enum csvsrc_role role;          /* What the map made of it. */
    bool reserved;                  /* skip= or _row_id: never a value. */
};

struct csvsrc_classes {
    size_t n;                       /* Codes in use. */
    char *name[CSVSRC_MAX_CLASSES]; /* Owned strings; code = index. */
};

struct csvsrc {
    char *path;                       /* Owned copy, for messages. */
    int fd;                           /* Input; 0 for "-" (not closed). */
    struct csvsrc_map map;            /* Copy of the caller's map. */
    struct csv_parser parser;         /* libcsv state. */
    bool parser_live;                 /* csv_init succeeded. */
    char *buf;                        /* Read buffer, CSVSRC_CHUNK bytes. */
    size_t buf_len;                   /* Bytes in buf. */
    size_t buf_pos;                   /* Next byte to feed. */
    bool eof;                         /* read() returned 0. */
    bool finished;                    /* csv_fini done. */
    uint64_t line;                    /* LFs fed so far. */
    uint64_t feed_line;               /* Line a row ending now ends on. */
    char *text;                       /* Field text of the current raw row. */
    size_t text_len;                  /* Bytes used in text. */
    size_t text_cap;                  /* Bytes allocated in text. */
    size_t *off;                      /* Start of each field in text. */
    size_t nf;                        /* Fields in the current raw row. */
    bool overflow;                    /* Current raw row over the limits. */
    bool row_done;                    /* A raw row completed in this feed. */
    uint64_t row_line;                /* Line where the raw row ended. */
    bool oom;                         /* Allocation failed in a callback. */
    size_t ncols;                     /* Columns (with _row_id). */
    struct csvsrc_col *cols;          /* ncols entries. */
    size_t nhdr;                      /* Fields a data row must have. */
    bool row_id;                      /* A leading _row_id column was added. */
    int dev_col;                      /* Device column, or -1. */
    int ts_col;                       /* Timestamp column, or -1. */
    enum ts_kind ts_kind;             /* How to parse it. */
    char device[CSVSRC_NAME_MAX + 1]; /* Fixed device name. */
    char row_device[CSVSRC_NAME_MAX + 1]; /* Device of the row returned. */
    size_t nv;                            /* Values per row. */
    struct csvsrc_value *v;               /* nv values of the row returned. */
    size_t *vcol;                         /* Column of each value. */
    struct csvsrc_classes **cls;          /* Per value: class table, or NULL. */
    bool pending;           /* The first data row waits in text. */
    bool have_last;         /* last_ts is set. */
    int64_t last_ts;        /* Time of the previous good row. */
    struct csvsrc_stats st; /* Counters. */
    char err[320];          /* Last fatal error. */
};

static const char *const bad_names[CSVSRC_BAD__COUNT] = {
    [CSVSRC_BAD_FIELD_COUNT] = "field_count",
    [CSVSRC_BAD_TIMESTAMP] = "timestamp",
    [CSVSRC_BAD_NUMBER] = "number",
    [CSVSRC_BAD_CLASS] = "class",
    [CSVSRC_BAD_DEVICE] = "device",
    [CSVSRC_BAD_TOO_LONG] = "too_long",
};

const char *csvsrc_bad_name(enum csvsrc_bad why)
{
    if ((unsigned)why >= CSVSRC_BAD__COUNT)
        return "unknown";
    return bad_names[why];
}

/* ---- Small helpers ----------------------------------------------------- */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static bool name_char_ok(unsigned char c)
{
    return c > 0x20 && c != 0x7f && c != '/' && c != '+' && c != '#';
}

/* Same rule as codec_name_ok(): 1..64 bytes, no NUL, '/', '+', '#' or
 * control characters (kept local so ingest/ builds without proto/). */
static bool device_name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > CSVSRC_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!name_char_ok((unsigned char)s[i]))
            return false;
    return true;
}

static void copy_name(char *dst, const char *src, size_t len)
{
    if (len > CSVSRC_NAME_MAX)
        len = CSVSRC_NAME_MAX;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

/* Parse a whole field as a number; surrounding blanks allowed. */
static bool parse_number(const char *s, double *out)
{
    char *end;

    while (isspace((unsigned char)*s))
        s++;
    if (*s == '\0')
        return false;
    errno = 0;
    *out = strtod(s, &end);
    if (end == s)
        return false;
    while (isspace((unsigned char)*end))
        end++;
    return *end == '\0';
}

static bool is_blank(const char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    return *s == '\0';
}

/* ---- Time -------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + (int64_t)doe - 719468;
}

static bool leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Read exactly n digits. */
static bool digits(const char **p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool parse_zone(const char *p, int64_t *off_ms)
{
    int hh = 0;
    int mm = 0;
    int sign;

    *off_ms = 0;
    if (*p == 'Z' || *p == 'z')
        return p[1] == '\0';
    if (*p == '\0')
        return true;
    if (*p != '+' && *p != '-')
        return false;
    sign = *p++ == '-' ? -1 : 1;
    if (!digits(&p, 2, &hh))
        return false;
    if (*p == ':')
        p++;
    if (*p != '\0' && !digits(&p, 2, &mm))
        return false;
    if (*p != '\0' || hh > 23 || mm > 59)
        return false;
    *off_ms = sign * ((int64_t)hh * 3600 + mm * 60) * 1000;
    return true;
}

/* YYYY-MM-DD[( |T)HH:MM[:SS[.fff]]][Z|+HH[:MM]] */
static int parse_iso(const char *p, int64_t *ts_ms)
{
    static const unsigned char mdays[] = {31, 28, 31, 30, 31, 30,
                                          31, 31, 30, 31, 30, 31};
    int y, mo, d, h = 0, mi = 0, s = 0;
    int64_t frac_ms = 0;
    int64_t off_ms;

    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) ||
        *p++ != '-' || !digits(&p, 2, &d))
        return -EINVAL;
    if (*p == 'T' || *p == 't' || (*p == ' ' && isdigit((unsigned char)p[1]))) {
        p++;
        if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi))
            return -EINVAL;
        if (*p == ':') {
            p++;
            if (!digits(&p, 2, &s))
                return -EINVAL;
            if (*p == '.' || *p == ',') {
                int scale = 100;
                p++;
                if (!isdigit((unsigned char)*p))
                    return -EINVAL;
                for (; isdigit((unsigned char)*p); p++, scale /= 10)
                    frac_ms += (*p - '0') * scale;
            }
        }
    }
    while (*p == ' ')
        p++;
    if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 60)
        return -EINVAL;
    if (d > mdays[mo - 1] + (mo == 2 && leap(y)))
        return -EINVAL;
    if (!parse_zone(p, &off_ms))
        return -EINVAL;
    *ts_ms = (days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 +
              mi * 60 + s) *
                 1000 +
             frac_ms - off_ms;
    return 0;
}

static int parse_epoch(const char *p, double scale, int64_t *ts_ms)
{
    double v;

    if (!parse_number(p, &v) || !isfinite(v) || fabs(v * scale) > 9.0e18)
        return -EINVAL;
    *ts_ms = llround(v * scale);
    return 0;
}

static int parse_strptime(const char *p, const char *fmt, int64_t *ts_ms)
{
    struct tm tm;
    const char *end;
    time_t t;

    memset(&tm, 0, sizeof(tm));
    tm.tm_mday = 1;
    end = strptime(p, fmt, &tm);
    if (end == NULL || !is_blank(end))
        return -EINVAL;
    t = timegm(&tm);
    *ts_ms = ((int64_t)t - tm.tm_gmtoff) * 1000;
    return 0;
}

static int parse_time_kind(const char *text, enum ts_kind kind, const char *fmt,
                           int64_t *ts_ms)
{
    double v;

    while (isspace((unsigned char)*text))
        text++;
    switch (kind) {
    case TS_ISO:
        return parse_iso(text, ts_ms);
    case TS_EPOCH_S:
        return parse_epoch(text, 1000.0, ts_ms);
    case TS_EPOCH_MS:
        return parse_epoch(text, 1.0, ts_ms);
    case TS_STRP:
        return parse_strptime(text, fmt, ts_ms);
    case TS_AUTO:
        if (parse_iso(text, ts_ms) == 0)
            return 0;
        if (!parse_number(text, &v) || !isfinite(v))
            return -EINVAL;
        if (fabs(v) >= 1e11)
            return parse_epoch(text, 1.0, ts_ms);
        if (fabs(v) >= 1e8)
            return parse_epoch(text, 1000.0, ts_ms);
        return -EINVAL;
    case TS_NONE:
        break;
    }
    return -EINVAL;
}

/* The kind a non-auto format name stands for. */
static enum ts_kind kind_of_format(const char *fmt)
{
    if (fmt[0] == '\0' || strcmp(fmt, "auto") == 0)
        return TS_AUTO;
    if (strcmp(fmt, "epoch_s") == 0 || strcmp(fmt, "epoch") == 0)
        return TS_EPOCH_S;
    if (strcmp(fmt, "epoch_ms") == 0)
        return TS_EPOCH_MS;
    if (strcmp(fmt, "iso8601") == 0 || strcmp(fmt, "iso") == 0)
        return TS_ISO;
    return TS_STRP;
}

/* After a successful TS_AUTO parse of text, which concrete kind was it? */
static enum ts_kind detect_kind(const char *text)
{
    int64_t ts;
    double v;

    while (isspace((unsigned char)*text))
        text++;
    if (parse_iso(text, &ts) == 0)
        return TS_ISO;
    if (parse_number(text, &v) && fabs(v) >= 1e11)
        return TS_EPOCH_MS;
    return TS_EPOCH_S;
}

int csvsrc_parse_time(const char *text, const char *format, int64_t *ts_ms)
{
    const char *fmt = format ? format : "";

    return parse_time_kind(text, kind_of_format(fmt), fmt, ts_ms);
}

/* ---- Column maps ------------------------------------------------------- */

void csvsrc_map_init(struct csvsrc_map *map)
{
    memset(map, 0, sizeof(*map));
    map->ts_step_ms = 1000;
    map->delim = ',';
    map->header = true;
}

static int parse_bool(const char *v, bool *out)
{
    if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1") ||
        !strcmp(v, "on")) {
        *out = true;
        return 0;
    }
    if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0") ||
        !strcmp(v, "off")) {
        *out = false;
        return 0;
    }
    return -EINVAL;
}

static int parse_delim(const char *v, char *out)
{
    static const struct {
        const char *name;
        char c;
    } names[] = {{"comma", ','}, {"semicolon", ';'}, {"tab", '\t'},
                 {"space", ' '}, {"pipe", '|'},      {"\\t", '\t'}};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(v, names[i].name) == 0) {
            *out = names[i].c;
            return 0;
        }
    }
    if (strlen(v) == 1 && v[0] != '"' && v[0] != '\n' && v[0] != '\r') {
        *out = v[0];
        return 0;
    }
    return -EINVAL;
}

static int parse_ms(const char *v, int64_t *out)
{
    char *end;
    long long n;

    errno = 0;
    n = strtoll(v, &end, 10);
    if (end != v && *end == '\0' && errno == 0) {
        *out = n;
        return 0;
    }
    return csvsrc_parse_time(v, "iso8601", out);
}

static int set_field(char *dst, size_t cap, const char *v, size_t vlen)
{
    if (vlen >= cap)
        return -ENAMETOOLONG;
    memcpy(dst, v, vlen);
    dst[vlen] = '\0';
    return 0;
}

#define SET(field) set_field(map->field, sizeof(map->field), val, vlen)

/* Apply one key=value (val is NUL-terminated, vlen bytes). */
static int apply_key(struct csvsrc_map *map, const char *key, const char *val,
                     size_t vlen)
{
    if (!strcmp(key, "device"))
        return SET(device);
    if (!strcmp(key, "device_col"))
        return SET(device_col);
    if (!strcmp(key, "ts"))
        return SET(ts_col);
    if (!strcmp(key, "ts_format"))
        return SET(ts_format);
    if (!strcmp(key, "sensors"))
        return SET(sensors);
    if (!strcmp(key, "labels"))
        return SET(labels);
    if (!strcmp(key, "classes"))
        return SET(classes);
    if (!strcmp(key, "skip"))
        return SET(skip);
    if (!strcmp(key, "ts_start"))
        return parse_ms(val, &map->ts_start_ms);
    if (!strcmp(key, "ts_step")) {
        if (parse_ms(val, &map->ts_step_ms) < 0 || map->ts_step_ms <= 0)
            return -EINVAL;
        return 0;
    }
    if (!strcmp(key, "header"))
        return parse_bool(val, &map->header);
    if (!strcmp(key, "strict"))
        return parse_bool(val, &map->strict);
    if (!strcmp(key, "delim"))
        return parse_delim(val, &map->delim);
    return -ENOENT;
}

#undef SET

int csvsrc_map_parse(struct csvsrc_map *map, const char *spec, char *err,
                     size_t errlen)
{
    char key[32];
    char val[CSVSRC_LIST_MAX];

    while (*spec != '\0') {
        const char *end = strchr(spec, ';');
        const char *eq = strchr(spec, '=');
        size_t len = end ? (size_t)(end - spec) : strlen(spec);
        size_t klen;
        size_t vlen;
        int rc;

        if (len == 0 || (len == 1 && spec[0] == ' ')) {
            spec += len + (end != NULL);
            continue;
        }
        while (*spec == ' ' && len > 0) {
            spec++;
            len--;
        }
        if (eq == NULL || eq >= spec + len) {
            set_err(err, errlen, "column map: '%.*s' is not key=value",
                    (int)len, spec);
            return -EINVAL;
        }
        klen = (size_t)(eq - spec);
        vlen = len - klen - 1;
        if (klen >= sizeof(key) || vlen >= sizeof(val)) {
            set_err(err, errlen, "column map: '%.*s' is too long",
                    (int)(klen < 40 ? klen : 40), spec);
            return -EINVAL;
        }
        memcpy(key, spec, klen);
        key[klen] = '\0';
        memcpy(val, eq + 1, vlen);
        val[vlen] = '\0';
        rc = apply_key(map, key, val, vlen);
        if (rc == -ENOENT) {
            set_err(err, errlen,
                    "column map: unknown key '%s' (keys: device, device_col, "
                    "ts, ts_format, ts_start, ts_step, sensors, labels, "
                    "classes, skip, header, delim, strict)",
                    key);
            return -EINVAL;
        }
        if (rc < 0) {
            set_err(err, errlen, "column map: bad value '%s' for %s", val, key);
            return -EINVAL;
        }
        spec += len + (end != NULL);
    }
    return 0;
}

/* ---- Raw rows from libcsv ---------------------------------------------- */

/* libcsv trims blanks around unquoted fields; a blank that is the
 * separator must not be trimmed. */
static int space_only(unsigned char c)
{
    return c == ' ';
}

static int tab_only(unsigned char c)
{
    return c == '\t';
}

static bool grow_text(struct csvsrc *s, size_t need)
{
    size_t cap = s->text_cap ? s->text_cap : 4096;
    char *t;

    while (cap < need)
        cap *= 2;
    if (cap == s->text_cap)
        return true;
    t = realloc(s->text, cap);
    if (t == NULL)
        return false;
    s->text = t;
    s->text_cap = cap;
    return true;
}

/* Called on: the caller's thread, inside csv_parse(). */
static void on_field(void *field, size_t len, void *data)
{
    struct csvsrc *s = data;

    if (s->row_done) {
        /* Only when a chunk holds several rows (bare CR line ends inside
         * one feed is impossible: we cut at CR); keep the first. */
        return;
    }
    if (s->overflow || s->nf >= CSVSRC_MAX_COLS ||
        s->text_len + len + 1 > CSVSRC_MAX_ROW_BYTES) {
        s->overflow = true;
        return;
    }
    if (!grow_text(s, s->text_len + len + 1)) {
        s->oom = true;
        s->overflow = true;
        return;
    }
    s->off[s->nf++] = s->text_len;
    if (len > 0)
        memcpy(s->text + s->text_len, field, len);
    s->text[s->text_len + len] = '\0';
    s->text_len += len + 1;
}

/* Called on: the caller's thread, inside csv_parse() or csv_fini(). */
static void on_row(int c, void *data)
{
    struct csvsrc *s = data;

    (void)c;
    s->row_done = true;
    s->row_line = s->feed_line;
}

static const char *field(const struct csvsrc *s, size_t i)
{
    return s->text + s->off[i];
}

static void reset_row(struct csvsrc *s)
{
    s->nf = 0;
    s->text_len = 0;
    s->overflow = false;
    s->row_done = false;
}

static int fill(struct csvsrc *s)
{
    ssize_t n;

    do
        n = read(s->fd, s->buf, CSVSRC_CHUNK);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        int e = errno;
        snprintf(s->err, sizeof(s->err), "%s: read error: %s", s->path,
                 strerror(e));
        return -EIO;
    }
    s->buf_len = (size_t)n;
    s->buf_pos = 0;
    if (n == 0)
        s->eof = true;
    if (s->line == 0 && n >= 3 && memcmp(s->buf, "\xef\xbb\xbf", 3) == 0)
        s->buf_pos = 3; /* UTF-8 byte-order mark */
    return 0;
}

/* Feed libcsv until one raw row is complete. 1: a row in text/off;
 * 0: end of input; <0: fatal (s->err set). */
static int raw_row(struct csvsrc *s)
{
    reset_row(s);
    for (;;) {
        const char *start;
        size_t len = 0;
        uint64_t nl = 0;
        int rc;

        if (s->buf_pos == s->buf_len) {
            if (s->finished)
                return 0;
            if (!s->eof && (rc = fill(s)) < 0)
                return rc;
            if (s->eof) {
                s->feed_line = s->line + 1;
                csv_fini(&s->parser, on_field, on_row, s);
                s->finished = true;
                if (s->row_done)
                    return 1;
                return 0;
            }
            continue;
        }
        start = s->buf + s->buf_pos;
        while (s->buf_pos + len < s->buf_len) {
            char c = start[len++];
            if (c == '\n' || c == '\r')
                break;
        }
        for (size_t i = 0; i + 1 < len; i++)
            nl += start[i] == '\n';
        s->feed_line = s->line + nl + 1;
        s->line += nl + (start[len - 1] == '\n');
        s->st.lines = s->line;
        s->buf_pos += len;
        if (csv_parse(&s->parser, start, len, on_field, on_row, s) != len ||
            s->oom) {
            snprintf(s->err, sizeof(s->err), "%s:%llu: out of memory", s->path,
                     (unsigned long long)s->feed_line);
            return -ENOMEM;
        }
        if (csv_get_buffer_size(&s->parser) > CSVSRC_MAX_ROW_BYTES) {
            snprintf(s->err, sizeof(s->err),
                     "%s:%llu: field longer than %d bytes (unterminated "
                     "quote?)",
                     s->path, (unsigned long long)s->feed_line,
                     CSVSRC_MAX_ROW_BYTES);
            return -EFBIG;
        }
        if (s->row_done)
            return 1;
    }
}

/* ---- Resolving the map ------------------------------------------------- */

static int find_col(const struct csvsrc *s, const char *name, size_t len)
{
    if (len > 1 && name[0] == '#') {
        char *end;
        unsigned long i = strtoul(name + 1, &end, 10);
        if (end == name + len && i < s->ncols)
            return (int)i;
    }
    for (size_t i = 0; i < s->ncols; i++)
        if (strlen(s->cols[i].name) == len &&
            memcmp(s->cols[i].name, name, len) == 0)
            return (int)i;
    for (size_t i = 0; i < s->ncols; i++)
        if (strlen(s->cols[i].name) == len &&
            strncasecmp(s->cols[i].name, name, len) == 0)
            return (int)i;
    return -1;
}

static bool first_value(const struct csvsrc *s, size_t col, const char **out)
{
    if (!s->pending || s->overflow || s->nf != s->nhdr)
        return false;
    *out = field(s, col);
    return true;
}

/* Mark each column of a comma list with role; fails on a missing or
 * already used column. */
static int claim_list(struct csvsrc *s, const char *list, enum csvsrc_role role,
                      char *err, size_t errlen, const char *what)
{
    while (*list != '\0') {
        const char *end = strchr(list, ',');
        size_t len = end ? (size_t)(end - list) : strlen(list);
        int c;

        while (len > 0 && *list == ' ') {
            list++;
            len--;
        }
        while (len > 0 && list[len - 1] == ' ')
            len--;
        if (len > 0) {
            c = find_col(s, list, len);
            if (c < 0) {
                set_err(err, errlen, "%s: %s column '%.*s' not in the file",
                        s->path, what, (int)len, list);
                return -EINVAL;
            }
            if (s->cols[c].role != CSVSRC_ROLE_IGNORED || s->cols[c].reserved) {
                set_err(err, errlen, "%s: column '%s' used twice in the map",
                        s->path, s->cols[c].name);
                return -EINVAL;
            }
            if (role == CSVSRC_ROLE_IGNORED)
                s->cols[c].reserved = true;
            else
                s->cols[c].role = role;
        }
        list += len;
        while (*list == ' ')
            list++;
        if (*list == ',')
            list++;
    }
    return 0;
}

static int resolve_ts(struct csvsrc *s, char *err, size_t errlen)
{
    static const char *const auto_names[] = {"timestamp", "time", "date",
                                             "datetime", "ts"};
    const char *v;
    bool auto_col = s->map.ts_col[0] == '\0';
    int c = -1;
    int64_t ts;

    s->ts_col = -1;
    s->ts_kind = TS_NONE;
    if (strcmp(s->map.ts_col, "none") == 0)
        return 0;
    if (!auto_col) {
        c = find_col(s, s->map.ts_col, strlen(s->map.ts_col));
        if (c < 0) {
            set_err(err, errlen, "%s: timestamp column '%s' not in the file",
                    s->path, s->map.ts_col);
            return -EINVAL;
        }
    } else {
        for (size_t k = 0; k < 5 && c < 0; k++) {
            int i = find_col(s, auto_names[k], strlen(auto_names[k]));
            if (i >= 0 && s->cols[i].role == CSVSRC_ROLE_IGNORED &&
                !s->cols[i].reserved)
                c = i;
        }
        if (c < 0)
            return 0;
    }
    if (s->cols[c].role != CSVSRC_ROLE_IGNORED || s->cols[c].reserved) {
        set_err(err, errlen, "%s: column '%s' used twice in the map", s->path,
                s->cols[c].name);
        return -EINVAL;
    }
    s->ts_kind = kind_of_format(s->map.ts_format);
    if (first_value(s, (size_t)c, &v)) {
        if (parse_time_kind(v, s->ts_kind, s->map.ts_format, &ts) < 0) {
            if (auto_col && s->map.ts_format[0] == '\0') {
                s->ts_kind = TS_NONE; /* e.g. Elec2's normalised date */
                return 0;
            }
            set_err(err, errlen,
                    "%s:%llu: '%s' in column '%s' is not a "
                    "timestamp (ts_format=%s)",
                    s->path, (unsigned long long)s->row_line, v,
                    s->cols[c].name,
                    s->map.ts_format[0] ? s->map.ts_format : "auto");
            return -EINVAL;
        }
        if (s->ts_kind == TS_AUTO)
            s->ts_kind = detect_kind(v);
    }
    s->ts_col = c;
    s->cols[c].role = CSVSRC_ROLE_TS;
    return 0;
}

static int add_value(struct csvsrc *s, size_t col, bool label)
{
    size_t i = s->nv++;
    const char *v;
    double d;

    s->vcol[i] = col;
    s->v[i].name = s->cols[col].name;
    s->v[i].is_label = label;
    if (!label)
        return 0;
    /* Class strings, or a numeric label? Decided by classes= or the
     * first data row; without data, numeric. */
    if (s->map.classes[0] != '\0' ||
        (first_value(s, col, &v) && !is_blank(v) && !parse_number(v, &d))) {
        s->cls[i] = calloc(1, sizeof(*s->cls[i]));
        if (s->cls[i] == NULL)
            return -ENOMEM;
    }
    return 0;
}

static int add_class(struct csvsrc_classes *t, const char *name, size_t len)
{
    if (t->n >= CSVSRC_MAX_CLASSES)
        return -ENOSPC;
    if ((t->name[t->n] = strndup(name, len)) == NULL)
        return -ENOMEM;
    t->n++;
    return 0;
}

static int load_classes(struct csvsrc *s, char *err, size_t errlen)
{
    for (size_t i = 0; i < s->nv; i++) {
        const char *list = s->map.classes;
        if (s->cls[i] == NULL)
            continue;
        while (*list != '\0') {
            size_t len = strcspn(list, ",");
            if (len > 0 && add_class(s->cls[i], list, len) < 0) {
                set_err(err, errlen, "%s: too many classes (max %d)", s->path,
                        CSVSRC_MAX_CLASSES);
                return -EINVAL;
            }
            list += len + (list[len] == ',');
        }
    }
    return 0;
}

static int resolve_values(struct csvsrc *s, char *err, size_t errlen)
{
    const char *v;
    double d;
    int rc;

    if ((rc = claim_list(s, s->map.labels, CSVSRC_ROLE_LABEL, err, errlen,
                         "label")) < 0)
        return rc;
    if ((rc = claim_list(s, s->map.sensors, CSVSRC_ROLE_SENSOR, err, errlen,
                         "sensor")) < 0)
        return rc;
    /* Values in map order: sensors as listed (or column order), then
     * labels as listed. Walk the lists again to keep that order. */
    if (s->map.sensors[0] == '\0') {
        for (size_t c = 0; c < s->ncols; c++) {
            if (s->cols[c].role != CSVSRC_ROLE_IGNORED || s->cols[c].reserved)
                continue;
            if (first_value(s, c, &v) && !is_blank(v) && !parse_number(v, &d))
                continue;
            s->cols[c].role = CSVSRC_ROLE_SENSOR;
            add_value(s, c, false);
        }
    } else {
        for (const char *l = s->map.sensors; *l;) {
            size_t len = strcspn(l, ",");
            size_t a = 0;
            while (a < len && l[a] == ' ')
                a++;
            while (len > a && l[len - 1] == ' ')
                len--;
            if (len > a)
                add_value(s, (size_t)find_col(s, l + a, len - a), false);
            l += strcspn(l, ",");
            l += *l == ',';
        }
    }
    for (const char *l = s->map.labels; *l;) {
        size_t len = strcspn(l, ",");
        size_t a = 0;
        while (a < len && l[a] == ' ')
            a++;
        while (len > a && l[len - 1] == ' ')
            len--;
        if (len > a &&
            (rc = add_value(s, (size_t)find_col(s, l + a, len - a), true)) < 0)
            return rc;
        l += strcspn(l, ",");
        l += *l == ',';
    }
    return load_classes(s, err, errlen);
}

static void default_device(struct csvsrc *s)
{
    const char *base = strrchr(s->path, '/');
    size_t len;

    base = base ? base + 1 : s->path;
    if (strcmp(s->path, "-") == 0)
        base = "stdin";
    len = strcspn(base, ".");
    if (len == 0)
        len = strlen(base);
    copy_name(s->device, base, len);
    for (char *p = s->device; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
            *p = '_';
    if (s->device[0] == '\0')
        strcpy(s->device, "csv");
}

static int resolve_map(struct csvsrc *s, char *err, size_t errlen)
{
    int rc;

    if (s->map.device[0] != '\0') {
        if (!device_name_ok(s->map.device)) {
            set_err(err, errlen, "%s: device name '%s' is not usable", s->path,
                    s->map.device);
            return -EINVAL;
        }
        copy_name(s->device, s->map.device, strlen(s->map.device));
    } else {
        default_device(s);
    }
    if (s->row_id)
        s->cols[0].reserved = true;
    if ((rc = claim_list(s, s->map.skip, CSVSRC_ROLE_IGNORED, err, errlen,
                         "skip")) < 0)
        return rc;
    s->dev_col = -1;
    if (s->map.device_col[0] != '\0') {
        int c = find_col(s, s->map.device_col, strlen(s->map.device_col));
        if (c < 0 || s->cols[c].role != CSVSRC_ROLE_IGNORED ||
            s->cols[c].reserved) {
            set_err(err, errlen, "%s: device column '%s' %s", s->path,
                    s->map.device_col,
                    c < 0 ? "not in the file" : "used twice in the map");
            return -EINVAL;
        }
        s->dev_col = c;
        s->cols[c].role = CSVSRC_ROLE_DEVICE;
    }
    if ((rc = resolve_ts(s, err, errlen)) < 0)
        return rc;
    return resolve_values(s, err, errlen);
}

/* ---- Header ------------------------------------------------------------ */

static int make_columns(struct csvsrc *s, size_t n, bool from_header)
{
    s->ncols = n;
    s->cols = calloc(n ? n : 1, sizeof(*s->cols));
    s->v = calloc(n ? n : 1, sizeof(*s->v));
    s->vcol = calloc(n ? n : 1, sizeof(*s->vcol));
    s->cls = calloc(n ? n : 1, sizeof(*s->cls));
    if (!s->cols || !s->v || !s->vcol || !s->cls)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (from_header) {
            const char *f = field(s, i);
            while (isspace((unsigned char)*f))
                f++;
            copy_name(s->cols[i].name, f, strlen(f));
            if (s->cols[i].name[0] == '\0')
                snprintf(s->cols[i].name, sizeof(s->cols[i].name), "#%zu", i);
        } else {
            snprintf(s->cols[i].name, sizeof(s->cols[i].name), "#%zu", i);
        }
    }
    return 0;
}

/* Read the header (if any) and the first data row (kept pending). */
static int read_head(struct csvsrc *s, char *err, size_t errlen)
{
    char names[CSVSRC_MAX_COLS][CSVSRC_NAME_MAX + 1];
    size_t nh = 0;
    int rc;

    if (s->map.header) {
        rc = raw_row(s);
        if (rc < 0) {
            set_err(err, errlen, "%s", s->err);
            return rc;
        }
        if (rc == 0) {
            set_err(err, errlen, "%s: empty file (no header line)", s->path);
            return -ENODATA;
        }
        if (s->overflow) {
            set_err(err, errlen,
                    "%s:%llu: header over %d columns or %d "
                    "bytes",
                    s->path, (unsigned long long)s->row_line, CSVSRC_MAX_COLS,
                    CSVSRC_MAX_ROW_BYTES);
            return -EINVAL;
        }
        nh = s->nf;
        for (size_t i = 0; i < nh; i++) {
            const char *f = field(s, i);
            while (isspace((unsigned char)*f))
                f++;
            copy_name(names[i], f, strlen(f));
        }
    }
    rc = raw_row(s);
    if (rc < 0) {
        set_err(err, errlen, "%s", s->err);
        return rc;
    }
    s->pending = rc == 1;
    if (!s->map.header)
        nh = s->pending ? s->nf : 0;
    if (s->map.header && s->pending && !s->overflow && s->nf == nh + 1 &&
        nh + 1 <= CSVSRC_MAX_COLS)
        s->row_id = true;
    if ((rc = make_columns(s, nh + s->row_id, false)) < 0)
        return rc;
    for (size_t i = 0; s->map.header && i < nh; i++) {
        struct csvsrc_col *c = &s->cols[i + s->row_id];
        if (names[i][0] != '\0')
            memcpy(c->name, names[i], sizeof(c->name));
    }
    if (s->row_id)
        strcpy(s->cols[0].name, "_row_id");
    s->nhdr = s->ncols;
    return 0;
}

/* ---- Rows -------------------------------------------------------------- */

static void count_bad(struct csvsrc *s, enum csvsrc_bad why, const char *what)
{
    s->st.bad[why]++;
    if (s->st.first_bad[0] == '\0')
        snprintf(s->st.first_bad, sizeof(s->st.first_bad), "%s:%llu: %s%s%s",
                 s->path, (unsigned long long)s->row_line, csvsrc_bad_name(why),
                 what ? ": " : "", what ? what : "");
    if (s->map.strict)
        snprintf(s->err, sizeof(s->err), "%s:%llu: bad row (%s%s%s)", s->path,
                 (unsigned long long)s->row_line, csvsrc_bad_name(why),
                 what ? ": " : "", what ? what : "");
}

static int class_code(struct csvsrc *s, size_t i, const char *text, double *out)
{
    struct csvsrc_classes *t = s->cls[i];
    size_t len;

    while (isspace((unsigned char)*text))
        text++;
    len = strlen(text);
    while (len > 0 && isspace((unsigned char)text[len - 1]))
        len--;
    for (size_t k = 0; k < t->n; k++) {
        if (strlen(t->name[k]) == len && memcmp(t->name[k], text, len) == 0) {
            *out = (double)k;
            return 0;
        }
    }
    if (s->map.classes[0] != '\0')
        return -ENOENT;
    if (add_class(t, text, len) < 0)
        return -ENOSPC;
    *out = (double)(t->n - 1);
    return 0;
}

/* Fill the row's values; false if bad (counted). */
static bool convert_values(struct csvsrc *s)
{
    for (size_t i = 0; i < s->nv; i++) {
        const char *f = field(s, s->vcol[i]);
        struct csvsrc_value *v = &s->v[i];

        v->present = !is_blank(f);
        v->value = 0.0;
        if (!v->present) {
            s->st.missing++;
            continue;
        }
        if (s->cls[i] != NULL) {
            if (class_code(s, i, f, &v->value) < 0) {
                count_bad(s, CSVSRC_BAD_CLASS, v->name);
                return false;
            }
        } else if (!parse_number(f, &v->value)) {
            count_bad(s, CSVSRC_BAD_NUMBER, v->name);
            return false;
        }
    }
    return true;
}

/* Turn the raw row in text/off into *row; false if bad (counted). */
static bool convert(struct csvsrc *s, struct csvsrc_row *row)
{
    s->st.rows++;
    if (s->overflow) {
        count_bad(s, CSVSRC_BAD_TOO_LONG, NULL);
        return false;
    }
    if (s->nf != s->nhdr) {
        char what[64];
        snprintf(what, sizeof(what), "%zu fields, expected %zu", s->nf,
                 s->nhdr);
        count_bad(s, CSVSRC_BAD_FIELD_COUNT, what);
        return false;
    }
    if (s->dev_col >= 0) {
        const char *d = field(s, (size_t)s->dev_col);
        if (!device_name_ok(d)) {
            count_bad(s, CSVSRC_BAD_DEVICE, NULL);
            return false;
        }
        copy_name(s->row_device, d, strlen(d));
    } else {
        memcpy(s->row_device, s->device, sizeof(s->device));
    }
    if (s->ts_col >= 0) {
        if (parse_time_kind(field(s, (size_t)s->ts_col), s->ts_kind,
                            s->map.ts_format, &row->ts_ms) < 0) {
            count_bad(s, CSVSRC_BAD_TIMESTAMP, field(s, (size_t)s->ts_col));
            return false;
        }
    } else {
        row->ts_ms =
            s->map.ts_start_ms + (int64_t)s->st.rows_ok * s->map.ts_step_ms;
    }
    if (!convert_values(s))
        return false;
    if (s->have_last && row->ts_ms < s->last_ts)
        s->st.ts_backwards++;
    s->have_last = true;
    s->last_ts = row->ts_ms;
    row->line = s->row_line;
    row->index = s->st.rows_ok++;
    row->device = s->row_device;
    row->n = s->nv;
    row->v = s->v;
    return true;
}

int csvsrc_next(struct csvsrc *s, struct csvsrc_row *row)
{
    for (;;) {
        int rc;

        if (s->pending) {
            s->pending = false;
        } else {
            rc = raw_row(s);
            if (rc <= 0)
                return rc;
        }
        if (convert(s, row))
            return 1;
        if (s->map.strict)
            return -EBADMSG;
    }
}

/* ---- Lifecycle --------------------------------------------------------- */

static int open_input(struct csvsrc *s, const char *path, char *err,
                      size_t errlen)
{
    struct stat sb;

    if (strcmp(path, "-") == 0) {
        s->fd = 0;
        return 0;
    }
    s->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (s->fd < 0) {
        int e = errno;
        set_err(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    if (fstat(s->fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        set_err(err, errlen, "%s: is a directory", path);
        return -EISDIR;
    }
    return 0;
}

int csvsrc_open(struct csvsrc **out, const char *path,
                const struct csvsrc_map *map, char *err, size_t errlen)
{
    struct csvsrc *s;
    int rc = -ENOMEM;

    set_err(err, errlen, "%s: out of memory", path);
    if ((s = calloc(1, sizeof(*s))) == NULL)
        return -ENOMEM;
    s->fd = -1;
    s->map = *map;
    if ((s->path = strdup(path)) == NULL ||
        (s->buf = malloc(CSVSRC_CHUNK)) == NULL ||
        (s->off = calloc(CSVSRC_MAX_COLS + 1, sizeof(*s->off))) == NULL)
        goto fail;
    if (csv_init(&s->parser, CSV_APPEND_NULL) != 0)
        goto fail;
    s->parser_live = true;
    csv_set_delim(&s->parser, (unsigned char)map->delim);
    if (map->delim == '\t')
        csv_set_space_func(&s->parser, space_only);
    else if (map->delim == ' ')
        csv_set_space_func(&s->parser, tab_only);
    if ((rc = open_input(s, path, err, errlen)) < 0)
        goto fail;
    if ((rc = read_head(s, err, errlen)) < 0)
        goto fail;
    if ((rc = resolve_map(s, err, errlen)) < 0)
        goto fail;
    set_err(err, errlen, "%s", "");
    *out = s;
    return 0;
fail:
    csvsrc_free(s);
    return rc;
}

void csvsrc_free(struct csvsrc *s)
{
    if (s == NULL)
        return;
    if (s->fd > 0)
        close(s->fd);
    if (s->parser_live)
        csv_free(&s->parser);
    for (size_t i = 0; s->cls && i < s->ncols; i++) {
        if (s->cls[i] == NULL)
            continue;
        for (size_t k = 0; k < s->cls[i]->n; k++)
            free(s->cls[i]->name[k]);
        free(s->cls[i]);
    }
    free(s->cls);
    free(s->vcol);
    free(s->v);
    free(s->cols);
    free(s->off);
    free(s->text);
    free(s->buf);
    free(s->path);
    free(s);
}

/* ---- Queries ----------------------------------------------------------- */

void csvsrc_stats(const struct csvsrc *s, struct csvsrc_stats *out)
{
    *out = s->st;
}

const char *csvsrc_error(const struct csvsrc *s)
{
    return s->err;
}

size_t csvsrc_columns(const struct csvsrc *s)
{
    return s->ncols;
}

const char *csvsrc_column_name(const struct csvsrc *s, size_t col)
{
    return col < s->ncols ? s->cols[col].name : NULL;
}

enum csvsrc_role csvsrc_column_role(const struct csvsrc *s, size_t col)
{
    return col < s->ncols ? s->cols[col].role : CSVSRC_ROLE_IGNORED;
}

size_t csvsrc_values(const struct csvsrc *s)
{
    return s->nv;
}

const char *csvsrc_class_name(const struct csvsrc *s, size_t i, double code)
{
    if (i >= s->nv || s->cls[i] == NULL || !(code >= 0) ||
        code >= (double)s->cls[i]->n || code != floor(code))
        return NULL;
    return s->cls[i]->name[(size_t)code];
}
