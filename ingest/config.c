/* config.c -- the INI schema of weir (see config.h for the user's view).
 *
 * How it reads a file. inih splits lines into (section, key, value) and
 * strips comments; it calls back for each key, but not for section headers,
 * and does not pass line numbers. So this module feeds inih through its own
 * line reader (ini_parse_stream), which counts lines, checks what inih
 * would truncate or refuse silently (long lines and section headers, NUL
 * bytes, a key line without '='), and opens sections itself: an empty
 * "[task x]" still becomes a task, and is then reported as incomplete. The
 * reader mirrors inih's rule that an indented line after a key continues
 * that key, so the handler knows a continuation from a repeated key.
 *
 * The schema is data: one table of struct key_spec per section, each key
 * with a type (parse/print/release functions), the offset of its field, a
 * range, a default written as config text (parsed by the same code as the
 * file, so defaults are checked like user input) and, where it matters, a
 * predicate saying when the key applies. Checks that involve several keys
 * run after the whole file is read (check_*), so that key order does not
 * matter. Every message goes into a list sorted by line at the end.
 *
 * config_print() walks the same tables, so the effective configuration it
 * prints covers every key and reads back to the same values.
 *
 * Threads: none; runs before threads start. */
#include "ingest/config.h"

#include <arpa/inet.h>
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ingest/task.h"   /* For TASK_CLOCK_MAX_GAP_MS. */
#include "ingest/topic.h"  /* For topic_template_parse(). */
#include "learn/learner.h" /* For learner_config_default(). */
#include "proto/codec.h"   /* For codec_name_ok(), CODEC_MAX_PAYLOAD. */
#include "stream/reject.h" /* For reject_name(). */

#define LINE_MAX_CHARS 196   /* inih: INI_MAX_LINE (200) - "\r\n\0" - 1 */
#define SECTION_MAX_CHARS 49 /* inih: MAX_SECTION (50) - 1 */
#define MS_PER_DAY 86400000LL
#define SWITCH_Z_MAX 10 /* z = 10: p ~ 1e-23, stricter means never */

/* ---- Parser state ------------------------------------------------------ */

enum sect {
    S_NONE,   /* before the first header */
    S_BROKEN, /* a header with an error: its keys are skipped */
    S_WEIR,
    S_MQTT,
    S_SUB,
    S_VALIDATION,
    S_SENSOR,
    S_TASK,
    S_TOPICS,
    S_SNAPSHOT,
    S_WAL,
    S_HTTP,
    S_LIMITS,
    S__COUNT
};

/* One section instance of the file (or a singleton never named in it). */
struct inst {
    enum sect kind;
    size_t index;   /* into subs/sensors/tasks for named kinds */
    int line;       /* of its header; 0 if not in the file */
    char label[72]; /* "mqtt", "task occupancy", for messages */
};

/* One key line: which instance, which key, where. */
struct seen {
    size_t inst;
    const struct key_spec *key;
    int line;
    bool ok; /* its value parsed */
};

struct diag {
    int line;
    size_t seq; /* order of arrival, to keep qsort() stable */
    bool warning;
    char *text;
};

struct parser {
    const char *name; /* file name for messages */
    char *base_dir;   /* anchors relative paths */
    const char *text; /* the file */
    size_t len;
    size_t pos;        /* reader position */
    int lineno;        /* line being handled */
    bool have_key;     /* inih's prev_name is set */
    bool continuation; /* this line continues the previous key */
    bool prev_skipped; /* the key being continued was refused */
    bool defaults;     /* parsing a built-in default: no messages */
    struct config *cfg;
    struct inst *insts;
    size_t ninsts;
    size_t cur;          /* instance the reader opened last */
    int state;           /* ST_NONE, ST_BROKEN or ST_OPEN */
    bool world_readable; /* the file can be read by anyone */
    struct seen *seen;
    size_t nseen;
    struct diag *diags;
    size_t ndiags;
    int nerrors;
    bool oom;
};

/* ---- Messages ---------------------------------------------------------- */

__attribute__((format(printf, 4, 0))) static void
vadd_diag(struct parser *p, int line, bool warning, const char *fmt, va_list ap)
{
    struct diag *d;
    char buf[512];

    assert(!p->defaults); /* a built-in default failed its own check */
    if (!warning)
        p->nerrors++;
    vsnprintf(buf, sizeof(buf), fmt, ap);
    d = realloc(p->diags, (p->ndiags + 1) * sizeof(*d));
    if (d == NULL) {
        p->oom = true;
        return;
    }
    p->diags = d;
    d[p->ndiags].line = line;
    d[p->ndiags].seq = p->ndiags;
    d[p->ndiags].warning = warning;
    if ((d[p->ndiags].text = strdup(buf)) == NULL) {
        p->oom = true;
        return;
    }
    p->ndiags++;
}

__attribute__((format(printf, 3, 4))) static void
perr(struct parser *p, int line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vadd_diag(p, line, false, fmt, ap);
    va_end(ap);
}

__attribute__((format(printf, 3, 4))) static void
pwarn(struct parser *p, int line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vadd_diag(p, line, true, fmt, ap);
    va_end(ap);
}

static int cmp_diag(const void *a, const void *b)
{
    const struct diag *x = a;
    const struct diag *y = b;

    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Render the messages, sorted by line, into one owned string (or NULL). */
static char *render_diags(struct parser *p)
{
    size_t cap = 1;
    char *out;
    char *w;

    if (p->ndiags == 0)
        return NULL;
    for (size_t i = 0; i < p->ndiags; i++)
        cap += strlen(p->name) + strlen(p->diags[i].text) + 40;
    if ((out = malloc(cap)) == NULL)
        return NULL;
    qsort(p->diags, p->ndiags, sizeof(*p->diags), cmp_diag);
    w = out;
    for (size_t i = 0; i < p->ndiags; i++) {
        const struct diag *d = &p->diags[i];
        const char *sev = d->warning ? "warning" : "error";
        if (d->line > 0)
            w += sprintf(w, "%s:%d: %s: %s\n", p->name, d->line, sev, d->text);
        else
            w += sprintf(w, "%s: %s: %s\n", p->name, sev, d->text);
    }
    return out;
}

/* Levenshtein distance, capped: for "did you mean". */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a);
    size_t lb = strlen(b);
    size_t row[64];

    if (la >= 63 || lb >= 63)
        return 99;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The closest of names[] to s within distance 2, or NULL. */
static const char *closest(const char *s, const char *const *names, size_t n)
{
    const char *best = NULL;
    size_t bd = 3;

    for (size_t i = 0; i < n; i++) {
        size_t d = edit_distance(s, names[i]);
        if (d < bd) {
            bd = d;
            best = names[i];
        }
    }
    return best;
}

/* ---- Key specifications ------------------------------------------------ */

struct key_spec;

struct type_ops {
    /* Parse v into the field; append: a continuation line of a list. */
    bool (*parse)(struct parser *p, const struct key_spec *k, void *base,
                  const char *v, bool append);
    /* Print the value (no newline); false: nothing to print (unset). */
    bool (*print)(FILE *f, const struct key_spec *k, const void *base);
    /* Free what the field owns. */
    void (*release)(const struct key_spec *k, void *base);
    bool list; /* continuation lines append */
};

enum key_flag {
    F_NONEMPTY = 1 << 0, /* an empty value is an error */
    F_READABLE = 1 << 1, /* a path that must be a readable file */
    F_SECRET = 1 << 2,   /* never printed */
    F_OPEN_LO = 1 << 3,  /* lo itself is outside the range */
    F_OPEN_HI = 1 << 4,  /* hi itself is outside the range */
};

struct key_spec {
    const char *name;
    const struct type_ops *type;
    size_t off;   /* of the field in the section's struct */
    size_t width; /* sizeof the field (integers) */
    size_t off_n; /* of a list's count */
    double lo;    /* range, in the field's unit */
    double hi;
    unsigned flags;           /* enum key_flag */
    const char *const *names; /* enums; placeholders of topic templates */
    const int *values;        /* enum values (NULL: the index) */
    const char *def;          /* default, as config text; NULL: none */
    bool (*applies)(const struct config *cfg, const void *base);
    const char *na; /* why a key does not apply */
};

#define FIELD(base, k) ((char *)(base) + (k)->off)
#define CFIELD(base, k) ((const char *)(base) + (k)->off)

static const char *label_of(const struct parser *p, size_t inst)
{
    return p->insts[inst].label;
}

/* "[task x] key = 'v': " prefix for a message about the current key. */
#define KEYFMT "[%s] %s = '%s': "
#define KEYARGS(p, k, v) label_of(p, (p)->cur), (k)->name, (v)

/* ---- Scalars ----------------------------------------------------------- */

static void store_uint(void *field, size_t width, uint64_t v)
{
    if (width == sizeof(uint64_t)) {
        uint64_t x = v;
        memcpy(field, &x, sizeof(x));
    } else if (width == sizeof(uint32_t)) {
        uint32_t x = (uint32_t)v;
        memcpy(field, &x, sizeof(x));
    } else {
        assert(width == sizeof(uint16_t));
        uint16_t x = (uint16_t)v;
        memcpy(field, &x, sizeof(x));
    }
}

static uint64_t load_uint(const void *field, size_t width)
{
    if (width == sizeof(uint64_t)) {
        uint64_t x;
        memcpy(&x, field, sizeof(x));
        return x;
    }
    if (width == sizeof(uint32_t)) {
        uint32_t x;
        memcpy(&x, field, sizeof(x));
        return x;
    }
    uint16_t x;
    memcpy(&x, field, sizeof(x));
    return x;
}

/* Parse a non-negative decimal integer (all of s). */
static bool parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;

    if (*s < '0' || *s > '9')
        return false;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return *s == '\0';
}

/* Duration: "<int><unit>" groups (ms s m h d), or a bare integer of
 * seconds. Returns false if s is not one. */
static bool parse_duration_ms(const char *s, int64_t *out)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"ms", 1},
                 {"s", 1000},
                 {"m", 60000},
                 {"h", 3600000},
                 {"d", MS_PER_DAY}};
    int64_t total = 0;
    uint64_t n;

    if (parse_u64(s, &n)) {
        if (n > (uint64_t)INT64_MAX / 1000)
            return false;
        *out = (int64_t)n * 1000;
        return true;
    }
    while (*s) {
        size_t i;
        n = 0;
        if (*s < '0' || *s > '9')
            return false;
        for (; *s >= '0' && *s <= '9'; s++) {
            if (n > 1000000000000ULL)
                return false;
            n = n * 10 + (uint64_t)(*s - '0');
        }
        for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            size_t ul = strlen(units[i].unit);
            /* "m" must not eat the "m" of "ms" */
            if (strncmp(s, units[i].unit, ul) == 0 &&
                !(ul == 1 && s[0] == 'm' && s[1] == 's'))
                break;
        }
        if (i == sizeof(units) / sizeof(units[0]))
            return false;
        if ((int64_t)n > (INT64_MAX - total) / units[i].ms)
            return false;
        total += (int64_t)n * units[i].ms;
        s += strlen(units[i].unit);
    }
    *out = total;
    return true;
}

static void print_duration(FILE *f, int64_t ms)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"d", MS_PER_DAY},
                 {"h", 3600000},
                 {"m", 60000},
                 {"s", 1000},
                 {"ms", 1}};

    if (ms == 0) {
        fputs("0s", f);
        return;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (ms >= units[i].ms) {
            fprintf(f, "%lld%s", (long long)(ms / units[i].ms), units[i].unit);
            ms %= units[i].ms;
        }
    }
}

/* Size: "<int>" bytes or with K/KiB, M/MiB, G/GiB (binary). */
static bool parse_size(const char *s, uint64_t *out)
{
    static const struct {
        const char *unit;
        unsigned shift;
    } units[] = {{"", 0},   {"B", 0},    {"K", 10}, {"KiB", 10},
                 {"M", 20}, {"MiB", 20}, {"G", 30}, {"GiB", 30}};
    char digits[24];
    size_t n = strspn(s, "0123456789");
    uint64_t v;

    if (n == 0 || n >= sizeof(digits))
        return false;
    memcpy(digits, s, n);
    digits[n] = '\0';
    if (!parse_u64(digits, &v))
        return false;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(s + n, units[i].unit) != 0)
            continue;
        if (v > (UINT64_MAX >> units[i].shift))
            return false;
        *out = v << units[i].shift;
        return true;
    }
    return false;
}

static void print_size(FILE *f, uint64_t v)
{
    static const char *const units[] = {"GiB", "MiB", "KiB"};

    for (int i = 0; i < 3; i++) {
        unsigned shift = 30 - 10 * (unsigned)i;
        if (v != 0 && v % (1ull << shift) == 0) {
            fprintf(f, "%llu%s", (unsigned long long)(v >> shift), units[i]);
            return;
        }
    }
    fprintf(f, "%llu", (unsigned long long)v);
}

static bool parse_double(const char *s, double *out)
{
    char *end;
    double v;

    if (*s == '\0' || strpbrk(s, "xXnN") != NULL) /* no hex, inf, nan */
        return false;
    errno = 0;
    v = strtod(s, &end);
    if (*end != '\0' || errno == ERANGE || !isfinite(v))
        return false;
    *out = v;
    return true;
}

/* Shortest %.Ng that reads back exactly. */
static void print_double(FILE *f, double v)
{
    char tmp[40];

    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    fputs(tmp, f);
}

/* "[lo, hi)" etc. for range messages. */
static void range_text(const struct key_spec *k, char *buf, size_t cap)
{
    snprintf(buf, cap, "%c%.17g, %.17g%c", k->flags & F_OPEN_LO ? '(' : '[',
             k->lo, k->hi, k->flags & F_OPEN_HI ? ')' : ']');
}

static bool in_range(const struct key_spec *k, double v)
{
    if (v < k->lo || v > k->hi)
        return false;
    if ((k->flags & F_OPEN_LO) && v == k->lo)
        return false;
    return !((k->flags & F_OPEN_HI) && v == k->hi);
}

/* ---- Types: string, path, bool, integers, doubles ---------------------- */

static bool t_string_parse(struct parser *p, const struct key_spec *k,
                           void *base, const char *v, bool append)
{
    char **field = (char **)FIELD(base, k);
    char *copy = NULL;

    (void)append;
    if (*v == '\0' && (k->flags & F_NONEMPTY)) {
        perr(p, p->lineno, "[%s] %s: must not be empty", label_of(p, p->cur),
             k->name);
        return false;
    }
    for (const char *c = v; *c; c++) {
        if ((unsigned char)*c < 0x20) {
            perr(p, p->lineno, KEYFMT "control character", KEYARGS(p, k, v));
            return false;
        }
    }
    if (*v != '\0' && (copy = strdup(v)) == NULL) {
        p->oom = true;
        return false;
    }
    free(*field);
    *field = copy;
    return true;
}

static bool t_string_print(FILE *f, const struct key_spec *k, const void *base)
{
    const char *s = *(char *const *)CFIELD(base, k);

    if (s == NULL)
        return false;
    fputs(s, f);
    return true;
}

static void t_string_release(const struct key_spec *k, void *base)
{
    char **field = (char **)FIELD(base, k);

    free(*field);
    *field = NULL;
}

static const struct type_ops t_string = {t_string_parse, t_string_print,
                                         t_string_release, false};

/* A path, made absolute against the configuration file's directory. */
static bool t_path_parse(struct parser *p, const struct key_spec *k, void *base,
                         const char *v, bool append)
{
    char buf[PATH_MAX];

    if (*v != '\0' && v[0] != '/' && p->base_dir != NULL) {
        if ((size_t)snprintf(buf, sizeof(buf), "%s/%s", p->base_dir, v) >=
            sizeof(buf)) {
            perr(p, p->lineno, KEYFMT "path too long", KEYARGS(p, k, v));
            return false;
        }
        v = buf;
    }
    if (*v != '\0' && (k->flags & F_READABLE) && !p->defaults &&
        access(v, R_OK) != 0) {
        perr(p, p->lineno, KEYFMT "cannot read %s: %s", KEYARGS(p, k, v), v,
             strerror(errno));
        return false;
    }
    return t_string_parse(p, k, base, v, append);
}

static const struct type_ops t_path = {t_path_parse, t_string_print,
                                       t_string_release, false};

static bool t_bool_parse(struct parser *p, const struct key_spec *k, void *base,
                         const char *v, bool append)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    bool *field = (bool *)FIELD(base, k);

    (void)append;
    for (int i = 0; i < 4; i++) {
        if (strcmp(v, yes[i]) == 0 || strcmp(v, no[i]) == 0) {
            *field = strcmp(v, yes[i]) == 0;
            return true;
        }
    }
    perr(p, p->lineno, KEYFMT "expected true or false (also yes/no, on/off)",
         KEYARGS(p, k, v));
    return false;
}

static bool t_bool_print(FILE *f, const struct key_spec *k, const void *base)
{
    fputs(*(const bool *)CFIELD(base, k) ? "true" : "false", f);
    return true;
}

static const struct type_ops t_bool = {t_bool_parse, t_bool_print, NULL, false};

static bool t_uint_parse(struct parser *p, const struct key_spec *k, void *base,
                         const char *v, bool append)
{
    uint64_t x;
    char r[80];

    (void)append;
    if (!parse_u64(v, &x)) {
        perr(p, p->lineno, KEYFMT "expected a whole number%s", KEYARGS(p, k, v),
             *v == '-' ? " (not negative)" : "");
        return false;
    }
    if (!in_range(k, (double)x)) {
        range_text(k, r, sizeof(r));
        perr(p, p->lineno, KEYFMT "must be in %s", KEYARGS(p, k, v), r);
        return false;
    }
    store_uint(FIELD(base, k), k->width, x);
    return true;
}

static bool t_uint_print(FILE *f, const struct key_spec *k, const void *base)
{
    fprintf(f, "%llu",
            (unsigned long long)load_uint(CFIELD(base, k), k->width));
    return true;
}

static const struct type_ops t_uint = {t_uint_parse, t_uint_print, NULL, false};

static bool t_int_parse(struct parser *p, const struct key_spec *k, void *base,
                        const char *v, bool append)
{
    uint64_t x;

    assert(k->width == sizeof(int));
    (void)append;
    if (!parse_u64(v, &x) || !in_range(k, (double)x)) {
        char r[80];
        range_text(k, r, sizeof(r));
        perr(p, p->lineno, KEYFMT "expected a whole number in %s",
             KEYARGS(p, k, v), r);
        return false;
    }
    *(int *)FIELD(base, k) = (int)x;
    return true;
}

static bool t_int_print(FILE *f, const struct key_spec *k, const void *base)
{
    fprintf(f, "%d", *(const int *)CFIELD(base, k));
    return true;
}

static const struct type_ops t_int = {t_int_parse, t_int_print, NULL, false};

static bool t_double_parse(struct parser *p, const struct key_spec *k,
                           void *base, const char *v, bool append)
{
    double x;
    char r[80];

    (void)append;
    if (!parse_double(v, &x)) {
        perr(p, p->lineno, KEYFMT "expected a finite number", KEYARGS(p, k, v));
        return false;
    }
    if (!in_range(k, x)) {
        range_text(k, r, sizeof(r));
        perr(p, p->lineno, KEYFMT "must be in %s", KEYARGS(p, k, v), r);
        return false;
    }
    *(double *)FIELD(base, k) = x;
    return true;
}

static bool t_double_print(FILE *f, const struct key_spec *k, const void *base)
{
    double x = *(const double *)CFIELD(base, k);

    if (!isfinite(x)) /* a sensor bound that is not set */
        return false;
    print_double(f, x);
    return true;
}

static const struct type_ops t_double = {t_double_parse, t_double_print, NULL,
                                         false};

static bool t_duration_parse(struct parser *p, const struct key_spec *k,
                             void *base, const char *v, bool append)
{
    int64_t ms;

    (void)append;
    if (*v == '-') {
        perr(p, p->lineno, KEYFMT "a duration cannot be negative",
             KEYARGS(p, k, v));
        return false;
    }
    if (!parse_duration_ms(v, &ms)) {
        perr(p, p->lineno,
             KEYFMT "expected a duration such as 250ms, 30s, 15m, 2h, 1d "
                    "or 1h30m",
             KEYARGS(p, k, v));
        return false;
    }
    if (!in_range(k, (double)ms)) {
        char lo[40];
        char hi[40];
        FILE *a = fmemopen(lo, sizeof(lo), "w");
        FILE *b = fmemopen(hi, sizeof(hi), "w");
        if (a && b) {
            print_duration(a, (int64_t)k->lo);
            print_duration(b, (int64_t)k->hi);
        }
        if (a)
            fclose(a);
        if (b)
            fclose(b);
        perr(p, p->lineno, KEYFMT "must be %s%s and %s", KEYARGS(p, k, v),
             k->flags & F_OPEN_LO ? "more than " : "between ",
             a && b ? lo : "?", a && b ? hi : "?");
        return false;
    }
    *(int64_t *)FIELD(base, k) = ms;
    return true;
}

static bool t_duration_print(FILE *f, const struct key_spec *k,
                             const void *base)
{
    print_duration(f, *(const int64_t *)CFIELD(base, k));
    return true;
}

static const struct type_ops t_duration = {t_duration_parse, t_duration_print,
                                           NULL, false};

static bool t_size_parse(struct parser *p, const struct key_spec *k, void *base,
                         const char *v, bool append)
{
    uint64_t x;

    (void)append;
    if (!parse_size(v, &x)) {
        perr(p, p->lineno,
             KEYFMT "expected a size such as 4096, 64KiB, 8MiB or 1GiB",
             KEYARGS(p, k, v));
        return false;
    }
    if (!in_range(k, (double)x)) {
        perr(p, p->lineno, KEYFMT "must be between %.0f and %.0f bytes",
             KEYARGS(p, k, v), k->lo, k->hi);
        return false;
    }
    store_uint(FIELD(base, k), k->width, x);
    return true;
}

static bool t_size_print(FILE *f, const struct key_spec *k, const void *base)
{
    print_size(f, load_uint(CFIELD(base, k), k->width));
    return true;
}

static const struct type_ops t_size = {t_size_parse, t_size_print, NULL, false};

/* An enum: names[i] sets values[i] (or i). */
static bool t_enum_parse(struct parser *p, const struct key_spec *k, void *base,
                         const char *v, bool append)
{
    char list[256] = "";
    size_t n = 0;

    (void)append;
    for (n = 0; k->names[n]; n++) {
        if (strcmp(v, k->names[n]) == 0) {
            int x = k->values ? k->values[n] : (int)n;
            if (k->width == sizeof(bool))
                *(bool *)FIELD(base, k) = x != 0;
            else
                *(int *)FIELD(base, k) = x;
            return true;
        }
    }
    for (size_t i = 0; i < n; i++) {
        strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
        strncat(list, k->names[i], sizeof(list) - strlen(list) - 1);
    }
    perr(p, p->lineno, KEYFMT "expected one of %s", KEYARGS(p, k, v), list);
    return false;
}

static bool t_enum_print(FILE *f, const struct key_spec *k, const void *base)
{
    int x = k->width == sizeof(bool) ? *(const bool *)CFIELD(base, k)
                                     : *(const int *)CFIELD(base, k);

    for (size_t i = 0; k->names[i]; i++) {
        if ((k->values ? k->values[i] : (int)i) == x) {
            fputs(k->names[i], f);
            return true;
        }
    }
    return false;
}

static const struct type_ops t_enum = {t_enum_parse, t_enum_print, NULL, false};

/* ---- Lists ------------------------------------------------------------- */

/* Call item(p, k, base, text) for each comma-separated item of v. A
 * trailing comma is allowed (a list continued on the next line). */
static bool each_item(struct parser *p, const struct key_spec *k, void *base,
                      const char *v,
                      bool (*item)(struct parser *, const struct key_spec *,
                                   void *, const char *))
{
    char buf[256];
    bool ok = true;

    while (*v) {
        const char *comma = strchr(v, ',');
        size_t n = comma ? (size_t)(comma - v) : strlen(v);
        const char *a = v;
        while (n > 0 && (*a == ' ' || *a == '\t'))
            a++, n--;
        while (n > 0 && (a[n - 1] == ' ' || a[n - 1] == '\t'))
            n--;
        if (n == 0 && (comma == NULL || comma[1] != '\0')) {
            perr(p, p->lineno, "[%s] %s: empty list item", label_of(p, p->cur),
                 k->name);
            return false;
        }
        if (n >= sizeof(buf)) {
            perr(p, p->lineno, "[%s] %s: list item too long",
                 label_of(p, p->cur), k->name);
            return false;
        }
        if (n > 0) {
            memcpy(buf, a, n);
            buf[n] = '\0';
            ok = item(p, k, base, buf) && ok;
        }
        if (comma == NULL)
            break;
        v = comma + 1;
    }
    return ok;
}

static size_t *count_of(const struct key_spec *k, void *base)
{
    return (size_t *)((char *)base + k->off_n);
}

static size_t count_get(const struct key_spec *k, const void *base)
{
    return *(const size_t *)((const char *)base + k->off_n);
}

/* Lists of doubles: learning_rates, l2. */
static bool double_item(struct parser *p, const struct key_spec *k, void *base,
                        const char *s)
{
    double *arr = (double *)FIELD(base, k);
    size_t *n = count_of(k, base);
    double x;
    char r[80];

    if (!parse_double(s, &x) || !in_range(k, x)) {
        range_text(k, r, sizeof(r));
        perr(p, p->lineno, KEYFMT "expected numbers in %s", KEYARGS(p, k, s),
             r);
        return false;
    }
    for (size_t i = 0; i < *n; i++) {
        if (arr[i] == x) {
            perr(p, p->lineno, KEYFMT "listed twice", KEYARGS(p, k, s));
            return false;
        }
    }
    if (*n == CONFIG_MAX_GRID) {
        perr(p, p->lineno, "[%s] %s: more than %d values", label_of(p, p->cur),
             k->name, CONFIG_MAX_GRID);
        return false;
    }
    arr[(*n)++] = x;
    return true;
}

static bool t_doubles_parse(struct parser *p, const struct key_spec *k,
                            void *base, const char *v, bool append)
{
    if (!append)
        *count_of(k, base) = 0;
    return each_item(p, k, base, v, double_item);
}

static bool t_doubles_print(FILE *f, const struct key_spec *k, const void *base)
{
    const double *arr = (const double *)CFIELD(base, k);

    for (size_t i = 0; i < count_get(k, base); i++) {
        fputs(i ? ", " : "", f);
        print_double(f, arr[i]);
    }
    return true;
}

static const struct type_ops t_doubles = {t_doubles_parse, t_doubles_print,
                                          NULL, true};

/* Lists of enum values (models, optimizers), stored as int. */
static bool enum_item(struct parser *p, const struct key_spec *k, void *base,
                      const char *s)
{
    int *arr = (int *)FIELD(base, k);
    size_t *n = count_of(k, base);
    size_t i;

    for (i = 0; k->names[i] && strcmp(k->names[i], s) != 0; i++)
        ;
    if (k->names[i] == NULL) {
        int tmp;
        struct key_spec one = *k;
        one.off = 0;
        return t_enum_parse(p, &one, &tmp, s, false); /* for its message */
    }
    for (size_t j = 0; j < *n; j++) {
        if (arr[j] == k->values[i]) {
            perr(p, p->lineno, KEYFMT "listed twice", KEYARGS(p, k, s));
            return false;
        }
    }
    if (*n == (size_t)k->hi) {
        perr(p, p->lineno, "[%s] %s: too many values", label_of(p, p->cur),
             k->name);
        return false;
    }
    arr[(*n)++] = k->values[i];
    return true;
}

static bool t_enums_parse(struct parser *p, const struct key_spec *k,
                          void *base, const char *v, bool append)
{
    if (!append)
        *count_of(k, base) = 0;
    return each_item(p, k, base, v, enum_item);
}

static bool t_enums_print(FILE *f, const struct key_spec *k, const void *base)
{
    const int *arr = (const int *)CFIELD(base, k);

    for (size_t i = 0; i < count_get(k, base); i++) {
        for (size_t j = 0; k->names[j]; j++)
            if (k->values[j] == arr[i])
                fprintf(f, "%s%s", i ? ", " : "", k->names[j]);
    }
    return true;
}

static const struct type_ops t_enums = {t_enums_parse, t_enums_print, NULL,
                                        true};

/* Class labels: distinct non-empty strings (field char **, count at off_n). */
static bool class_item(struct parser *p, const struct key_spec *k, void *base,
                       const char *s)
{
    char ***arr = (char ***)FIELD(base, k);
    size_t *n = count_of(k, base);
    char **grown;

    if (strlen(s) > CODEC_NAME_MAX) {
        perr(p, p->lineno, KEYFMT "longer than %d bytes", KEYARGS(p, k, s),
             CODEC_NAME_MAX);
        return false;
    }
    for (size_t i = 0; i < *n; i++) {
        if (strcmp((*arr)[i], s) == 0) {
            perr(p, p->lineno, KEYFMT "listed twice", KEYARGS(p, k, s));
            return false;
        }
    }
    if (*n == (size_t)k->hi) {
        perr(p, p->lineno, "[%s] %s: more than %.0f values",
             label_of(p, p->cur), k->name, k->hi);
        return false;
    }
    if ((grown = realloc(*arr, (*n + 1) * sizeof(*grown))) == NULL) {
        p->oom = true;
        return false;
    }
    *arr = grown;
    if ((grown[*n] = strdup(s)) == NULL) {
        p->oom = true;
        return false;
    }
    (*n)++;
    return true;
}

static void t_strings_release(const struct key_spec *k, void *base)
{
    char ***arr = (char ***)FIELD(base, k);
    size_t *n = count_of(k, base);

    for (size_t i = 0; i < *n; i++)
        free((*arr)[i]);
    free(*arr);
    *arr = NULL;
    *n = 0;
}

static bool t_strings_parse(struct parser *p, const struct key_spec *k,
                            void *base, const char *v, bool append)
{
    if (!append)
        t_strings_release(k, base);
    return each_item(p, k, base, v, class_item);
}

static bool t_strings_print(FILE *f, const struct key_spec *k, const void *base)
{
    char *const *arr = *(char **const *)CFIELD(base, k);
    size_t n = count_get(k, base);

    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s%s", i ? ", " : "", arr[i]);
    return n > 0;
}

static const struct type_ops t_strings = {t_strings_parse, t_strings_print,
                                          t_strings_release, true};

/* Broker URIs: scheme://host[:port][/path]. */
static bool uri_item(struct parser *p, const struct key_spec *k, void *base,
                     const char *s)
{
    static const char *const schemes[] = {"tcp://",   "mqtt://", "ssl://",
                                          "mqtts://", "ws://",   "wss://"};
    struct config_mqtt *m = base;
    const char *host = NULL;
    const char *end;
    const char *colon;
    char *copy;

    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
        if (strncmp(s, schemes[i], strlen(schemes[i])) == 0)
            host = s + strlen(schemes[i]);
    if (host == NULL) {
        perr(p, p->lineno,
             KEYFMT "expected tcp://, mqtt://, ssl://, mqtts://, ws:// or "
                    "wss:// followed by host[:port]",
             KEYARGS(p, k, s));
        return false;
    }
    end = host + strcspn(host, "/");
    colon = host[0] == '[' ? strstr(host, "]:") : memchr(host, ':', end - host);
    if (colon && host[0] == '[')
        colon++;
    if (end == host || colon == host || strpbrk(s, " \t") != NULL) {
        perr(p, p->lineno, KEYFMT "no host", KEYARGS(p, k, s));
        return false;
    }
    if (colon && colon < end) {
        char port[8] = "";
        uint64_t n;
        size_t pl = (size_t)(end - colon - 1);
        if (pl < sizeof(port))
            memcpy(port, colon + 1, pl);
        if (pl >= sizeof(port) || !parse_u64(port, &n) || n == 0 || n > 65535) {
            perr(p, p->lineno, KEYFMT "bad port", KEYARGS(p, k, s));
            return false;
        }
    }
    if (m->nuris == CONFIG_MAX_URIS) {
        perr(p, p->lineno, "[%s] %s: more than %d URIs", label_of(p, p->cur),
             k->name, CONFIG_MAX_URIS);
        return false;
    }
    if ((copy = strdup(s)) == NULL) {
        p->oom = true;
        return false;
    }
    m->uris[m->nuris++] = copy;
    return true;
}

static void t_uris_release(const struct key_spec *k, void *base)
{
    struct config_mqtt *m = base;

    (void)k;
    for (size_t i = 0; i < m->nuris; i++)
        free(m->uris[i]);
    m->nuris = 0;
}

static bool t_uris_parse(struct parser *p, const struct key_spec *k, void *base,
                         const char *v, bool append)
{
    if (!append)
        t_uris_release(k, base);
    return each_item(p, k, base, v, uri_item);
}

static bool t_uris_print(FILE *f, const struct key_spec *k, const void *base)
{
    const struct config_mqtt *m = base;

    (void)k;
    for (size_t i = 0; i < m->nuris; i++)
        fprintf(f, "%s%s", i ? ", " : "", m->uris[i]);
    return true;
}

static const struct type_ops t_uris = {t_uris_parse, t_uris_print,
                                       t_uris_release, true};

/* ---- Topic templates --------------------------------------------------- */

/* Check template t against the placeholders allowed in names[] (all of
 * them required when required is set). On success *levels has, for each
 * placeholder, its level index (or -1). */
static bool template_check(struct parser *p, const struct key_spec *k,
                           const char *t, bool wildcards, bool required,
                           int *levels)
{
    int level = 0;
    size_t nn = 0;

    while (k->names[nn])
        levels[nn++] = -1;
    if (*t == '\0') {
        perr(p, p->lineno, "[%s] %s: must not be empty", label_of(p, p->cur),
             k->name);
        return false;
    }
    for (const char *s = t;; level++) {
        size_t n = strcspn(s, "/");
        bool last = s[n] == '\0';
        if (n > 2 && s[0] == '{' && s[n - 1] == '}') {
            size_t i;
            for (i = 0; i < nn; i++)
                if (strlen(k->names[i]) == n - 2 &&
                    strncmp(s + 1, k->names[i], n - 2) == 0)
                    break;
            if (i == nn) {
                perr(p, p->lineno, KEYFMT "unknown placeholder %.*s",
                     KEYARGS(p, k, t), (int)n, s);
                return false;
            }
            if (levels[i] >= 0) {
                perr(p, p->lineno, KEYFMT "{%s} appears twice",
                     KEYARGS(p, k, t), k->names[i]);
                return false;
            }
            levels[i] = level;
        } else if (memchr(s, '{', n) || memchr(s, '}', n)) {
            perr(p, p->lineno,
                 KEYFMT "a placeholder must be a whole topic level, like "
                        "sensors/{device}/{sensor}",
                 KEYARGS(p, k, t));
            return false;
        } else if (memchr(s, '+', n) || memchr(s, '#', n)) {
            bool ok = wildcards && n == 1 && (s[0] == '+' || last);
            if (!ok) {
                perr(p, p->lineno, KEYFMT "%s", KEYARGS(p, k, t),
                     wildcards ? "'+' must be a whole level and '#' the "
                                 "whole last level"
                               : "an output topic cannot contain + or #");
                return false;
            }
        }
        if (last)
            break;
        s += n + 1;
    }
    for (size_t i = 0; required && i < nn; i++) {
        if (levels[i] < 0) {
            perr(p, p->lineno, KEYFMT "needs {%s}", KEYARGS(p, k, t),
                 k->names[i]);
            return false;
        }
    }
    return true;
}

/* An output topic template ([topics]). */
static bool t_outtopic_parse(struct parser *p, const struct key_spec *k,
                             void *base, const char *v, bool append)
{
    int levels[4];

    if (!template_check(p, k, v, false, true, levels))
        return false;
    return t_string_parse(p, k, base, v, append);
}

static const struct type_ops t_outtopic = {t_outtopic_parse, t_string_print,
                                           t_string_release, false};

/* A subscription's topic: parsed as the daemon will (ingest/topic.h), and
 * stricter: an unknown {placeholder} is refused as a likely typo. */
static bool t_intopic_parse(struct parser *p, const struct key_spec *k,
                            void *base, const char *v, bool append)
{
    struct config_subscription *s = base;
    struct topic_template *tt = malloc(sizeof(*tt));
    char err[160];
    int levels[4];
    char *filter;

    if (tt == NULL) {
        p->oom = true;
        return false;
    }
    /* Ours first: its messages say what to write instead. */
    if (!template_check(p, k, v, true, false, levels)) {
        free(tt);
        return false;
    }
    if (topic_template_parse(v, tt, err, sizeof(err)) < 0) {
        perr(p, p->lineno, KEYFMT "%s", KEYARGS(p, k, v), err);
        free(tt);
        return false;
    }
    if ((filter = strdup(tt->filter)) == NULL) {
        p->oom = true;
        free(tt);
        return false;
    }
    if (!t_string_parse(p, k, base, v, append)) {
        free(filter);
        free(tt);
        return false;
    }
    free(s->filter);
    s->filter = filter;
    s->has_device = tt->has_device;
    s->has_sensor = tt->has_sensor;
    free(tt);
    return true;
}

static void t_intopic_release(const struct key_spec *k, void *base)
{
    struct config_subscription *s = base;

    t_string_release(k, base);
    free(s->filter);
    s->filter = NULL;
}

static const struct type_ops t_intopic = {t_intopic_parse, t_string_print,
                                          t_intopic_release, false};

/* true if some topic matches both filters (levels, '+', trailing '#'). */
static bool filters_intersect(const char *a, const char *b)
{
    for (;;) {
        size_t na = strcspn(a, "/");
        size_t nb = strcspn(b, "/");
        if ((na == 1 && a[0] == '#') || (nb == 1 && b[0] == '#'))
            return true;
        if (!(na == 1 && a[0] == '+') && !(nb == 1 && b[0] == '+') &&
            (na != nb || memcmp(a, b, na) != 0))
            return false;
        a += na;
        b += nb;
        if (*a == '\0' || *b == '\0') /* "x/#" also matches "x" */
            return (*a == '\0' && *b == '\0') ||
                   (*a == '\0' ? strcmp(b, "/#") == 0 : strcmp(a, "/#") == 0);
        a++;
        b++;
    }
}

/* ---- Terms (rows specs) ------------------------------------------------ */

static bool parse_term(struct parser *p, const struct key_spec *k,
                       const char *s, struct rows_spec *out)
{
    const char *at = strrchr(s, '@');

    if (rows_spec_parse(s, out) == 0)
        return true;
    if (at && at[1] == '-')
        perr(p, p->lineno, KEYFMT "a lag is @-k with k from 1 to %u",
             KEYARGS(p, k, s), ROWS_MAX_LAG);
    else if (at && at[1] == '+')
        perr(p, p->lineno,
             KEYFMT "a horizon is @+ and a positive duration with one unit "
                    "(ms, s, m, h, d), at most 365d, e.g. co2@+15m",
             KEYARGS(p, k, s));
    else
        perr(p, p->lineno,
             KEYFMT "a sensor name is 1..%d bytes without '/', '+', '#', "
                    "spaces or control characters",
             KEYARGS(p, k, s), CODEC_NAME_MAX);
    return false;
}

static bool t_target_parse(struct parser *p, const struct key_spec *k,
                           void *base, const char *v, bool append)
{
    struct config_task *t = base;

    (void)append;
    if (!parse_term(p, k, v, &t->target))
        return false;
    t->has_target = true;
    return true;
}

static bool t_target_print(FILE *f, const struct key_spec *k, const void *base)
{
    const struct config_task *t = base;
    char buf[ROWS_SPEC_MAX];

    (void)k;
    if (!t->has_target)
        return false;
    rows_spec_format(&t->target, buf, sizeof(buf));
    fputs(buf, f);
    return true;
}

static const struct type_ops t_target = {t_target_parse, t_target_print, NULL,
                                         false};

static bool feature_item(struct parser *p, const struct key_spec *k, void *base,
                         const char *s)
{
    struct config_task *t = base;
    struct rows_spec spec;
    struct rows_spec *grown;

    if (!parse_term(p, k, s, &spec))
        return false;
    if (spec.horizon_ms > 0) {
        perr(p, p->lineno,
             KEYFMT "a feature cannot look ahead (@+ is for the target)",
             KEYARGS(p, k, s));
        return false;
    }
    for (size_t i = 0; i < t->nfeatures; i++) {
        if (strcmp(t->features[i].name, spec.name) == 0 &&
            t->features[i].lag == spec.lag) {
            perr(p, p->lineno, KEYFMT "listed twice", KEYARGS(p, k, s));
            return false;
        }
    }
    if (t->nfeatures == ROWS_MAX_FEATURES) {
        perr(p, p->lineno, "[%s] %s: more than %u features",
             label_of(p, p->cur), k->name, ROWS_MAX_FEATURES);
        return false;
    }
    grown = realloc(t->features, (t->nfeatures + 1) * sizeof(*grown));
    if (grown == NULL) {
        p->oom = true;
        return false;
    }
    t->features = grown;
    t->features[t->nfeatures++] = spec;
    return true;
}

static void t_features_release(const struct key_spec *k, void *base)
{
    struct config_task *t = base;

    (void)k;
    free(t->features);
    t->features = NULL;
    t->nfeatures = 0;
}

static bool t_features_parse(struct parser *p, const struct key_spec *k,
                             void *base, const char *v, bool append)
{
    if (!append)
        t_features_release(k, base);
    return each_item(p, k, base, v, feature_item);
}

static bool t_features_print(FILE *f, const struct key_spec *k,
                             const void *base)
{
    const struct config_task *t = base;
    char buf[ROWS_SPEC_MAX];

    (void)k;
    for (size_t i = 0; i < t->nfeatures; i++) {
        rows_spec_format(&t->features[i], buf, sizeof(buf));
        fprintf(f, "%s%s", i ? ", " : "", buf);
    }
    return true;
}

static const struct type_ops t_features = {t_features_parse, t_features_print,
                                           t_features_release, true};

/* window = "500 rows" or a duration. */
static bool t_window_parse(struct parser *p, const struct key_spec *k,
                           void *base, const char *v, bool append)
{
    struct config_task *t = base;
    char num[24];
    size_t n = strspn(v, "0123456789");
    const char *unit = v + n + strspn(v + n, " ");
    uint64_t rows;
    int64_t ms;

    (void)append;
    if (*v == '-') {
        perr(p, p->lineno, KEYFMT "a window cannot be negative",
             KEYARGS(p, k, v));
        return false;
    }
    if (n > 0 && n < sizeof(num) &&
        (strcmp(unit, "rows") == 0 || strcmp(unit, "row") == 0)) {
        memcpy(num, v, n);
        num[n] = '\0';
        if (!parse_u64(num, &rows) || rows < 10 || rows > 100000000) {
            perr(p, p->lineno, KEYFMT "must be 10 to 100000000 rows",
                 KEYARGS(p, k, v));
            return false;
        }
        t->window_rows = rows;
        t->window_ms = 0;
        return true;
    }
    if (n > 0 && v[n] == '\0') {
        perr(p, p->lineno,
             KEYFMT "needs a unit: '%s rows', or a duration such as 30m",
             KEYARGS(p, k, v), v);
        return false;
    }
    if (!parse_duration_ms(v, &ms) || ms < 1000 || ms > 30 * MS_PER_DAY) {
        perr(p, p->lineno,
             KEYFMT "expected a number of rows ('500 rows') or a duration "
                    "from 1s to 30d ('1h')",
             KEYARGS(p, k, v));
        return false;
    }
    t->window_ms = ms;
    t->window_rows = 0;
    return true;
}

static bool t_window_print(FILE *f, const struct key_spec *k, const void *base)
{
    const struct config_task *t = base;

    (void)k;
    if (t->window_rows > 0)
        fprintf(f, "%llu rows", (unsigned long long)t->window_rows);
    else
        print_duration(f, t->window_ms);
    return true;
}

static const struct type_ops t_window = {t_window_parse, t_window_print, NULL,
                                         false};

/* listen = host:port | [v6]:port | off */
static bool t_listen_parse(struct parser *p, const struct key_spec *k,
                           void *base, const char *v, bool append)
{
    struct config_http *h = base;
    char host[64];
    const char *colon = strrchr(v, ':');
    const char *hs = v;
    size_t hl;
    uint64_t port;
    unsigned char addr[16];

    (void)append;
    if (strcmp(v, "off") == 0) {
        h->enabled = false;
        return true;
    }
    if (colon == NULL || !parse_u64(colon + 1, &port) || port > 65535)
        goto bad; /* port 0: any free port (the daemon reports it) */
    hl = (size_t)(colon - v);
    if (hl >= 2 && v[0] == '[' && v[hl - 1] == ']')
        hs++, hl -= 2;
    if (hl == 0 || hl >= sizeof(host))
        goto bad;
    memcpy(host, hs, hl);
    host[hl] = '\0';
    if (inet_pton(AF_INET, host, addr) != 1 &&
        (hs == v || inet_pton(AF_INET6, host, addr) != 1))
        goto bad;
    free(h->host);
    if ((h->host = strdup(host)) == NULL) {
        p->oom = true;
        return false;
    }
    h->port = (int)port;
    h->enabled = true;
    return true;
bad:
    perr(p, p->lineno,
         KEYFMT "expected a numeric address and port (127.0.0.1:9107, "
                "[::1]:9107, 127.0.0.1:0 for any free port) or off",
         KEYARGS(p, k, v));
    return false;
}

static bool t_listen_print(FILE *f, const struct key_spec *k, const void *base)
{
    const struct config_http *h = base;

    (void)k;
    if (!h->enabled)
        fputs("off", f);
    else if (strchr(h->host, ':'))
        fprintf(f, "[%s]:%d", h->host, h->port);
    else
        fprintf(f, "%s:%d", h->host, h->port);
    return true;
}

static void t_listen_release(const struct key_spec *k, void *base)
{
    struct config_http *h = base;

    (void)k;
    free(h->host);
    h->host = NULL;
}

static const struct type_ops t_listen = {t_listen_parse, t_listen_print,
                                         t_listen_release, false};

/* ---- The schema -------------------------------------------------------- */

static bool is_v5(const struct config *c, const void *b)
{
    (void)b;
    return c->mqtt.version == 5;
}

static bool uses_tls(const struct config *c, const void *b)
{
    (void)b;
    for (size_t i = 0; i < c->mqtt.nuris; i++) {
        const char *u = c->mqtt.uris[i];
        if (strncmp(u, "ssl://", 6) == 0 || strncmp(u, "mqtts://", 8) == 0 ||
            strncmp(u, "wss://", 6) == 0)
            return true;
    }
    return false;
}

static bool fsync_interval(const struct config *c, const void *b)
{
    (void)b;
    return c->wal.sync == WAL_SYNC_INTERVAL;
}

static bool http_on(const struct config *c, const void *b)
{
    (void)b;
    return c->http.enabled;
}

static bool has_grid(const struct config *c, const void *b)
{
    (void)c;
    return ((const struct config_task *)b)->kind != CONFIG_TASK_ANOMALY;
}

static bool is_classification(const struct config *c, const void *b)
{
    (void)c;
    return ((const struct config_task *)b)->kind == CONFIG_TASK_CLASSIFICATION;
}

static bool is_anomaly(const struct config *c, const void *b)
{
    (void)c;
    return ((const struct config_task *)b)->kind == CONFIG_TASK_ANOMALY;
}

static bool has_drift(const struct config *c, const void *b)
{
    return has_grid(c, b) &&
           ((const struct config_task *)b)->drift != CONFIG_DRIFT_NONE;
}

static bool is_ph(const struct config *c, const void *b)
{
    return has_grid(c, b) &&
           ((const struct config_task *)b)->drift == CONFIG_DRIFT_PAGE_HINKLEY;
}

static bool is_forecast(const struct config *c, const void *b)
{
    const struct config_task *t = b;

    (void)c;
    return t->has_target && t->target.horizon_ms > 0;
}

static const char *const log_names[] = {"error", "warn", "info", "debug", NULL};
static const int log_values[] = {LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG};
static const char *const version_names[] = {"3.1.1", "5", NULL};
static const int version_values[] = {4, 5};
static const char *const format_names[] = {"protobuf_reading", "protobuf_batch",
                                           "json", "senml", NULL};
static const char *const unknown_names[] = {"accept", "reject", NULL};
static const char *const kind_names[] = {"regression", "classification",
                                         "anomaly", NULL};
static const char *const drift_names[] = {"none", "adwin", "page_hinkley",
                                          NULL};
static const char *const fsync_names[] = {"none", "interval", "always", NULL};
static const int fsync_values[] = {WAL_SYNC_NONE, WAL_SYNC_INTERVAL,
                                   WAL_SYNC_ALWAYS};
static const char *const model_names[] = {"linear", "logistic", "softmax",
                                          NULL};
static const int model_values[] = {MODEL_LINEAR, MODEL_LOGISTIC, MODEL_SOFTMAX};
static const char *const opt_names[] = {"sgd", "adagrad", "normalized", NULL};
static const int opt_values[] = {MODEL_SGD, MODEL_ADAGRAD, MODEL_NORMALIZED};
static const char *const ph_in[] = {"device", "sensor", NULL};
static const char *const ph_task[] = {"task", NULL};
static const char *const ph_pred[] = {"task", "device", NULL};
static const char *const ph_reason[] = {"reason", NULL};
static const char *const ph_none[] = {NULL};

#define K(S, F, NAME, TYPE)                                                    \
    .name = NAME, .type = &TYPE, .off = offsetof(S, F),                        \
    .width = sizeof(((S *)0)->F)
#define KN(S, F, N) .off_n = offsetof(S, N)
#define NA(FN, WHY) .applies = FN, .na = WHY

static const struct key_spec weir_keys[] = {
    {K(struct config, state_dir, "state_dir", t_path), .flags = F_NONEMPTY,
     .def = "/var/lib/weir"},
    {K(struct config, log_level, "log_level", t_enum), .names = log_names,
     .values = log_values, .def = "info"},
    {K(struct config, checkpoint_interval_ms, "checkpoint_interval",
       t_duration),
     .lo = 1000, .hi = MS_PER_DAY, .def = "60s"},
};

#define TLS_NA NA(uses_tls, "applies only to ssl://, mqtts:// or wss:// URIs")
static const struct key_spec mqtt_keys[] = {
    {K(struct config_mqtt, uris, "uri", t_uris), .def = "tcp://127.0.0.1:1883"},
    {K(struct config_mqtt, client_id, "client_id", t_string),
     .flags = F_NONEMPTY},
    {K(struct config_mqtt, username, "username", t_string)},
    {K(struct config_mqtt, password, "password", t_string), .flags = F_SECRET},
    {K(struct config_mqtt, password_file, "password_file", t_path),
     .flags = F_READABLE},
    {K(struct config_mqtt, version, "version", t_enum), .names = version_names,
     .values = version_values, .def = "3.1.1"},
    {K(struct config_mqtt, keepalive_ms, "keepalive", t_duration), .lo = 0,
     .hi = 65535000, .def = "30s"},
    {K(struct config_mqtt, qos, "qos", t_int), .lo = 0, .hi = 2, .def = "1"},
    {K(struct config_mqtt, clean_session, "clean_session", t_bool),
     .def = "false"},
    {K(struct config_mqtt, session_expiry_ms, "session_expiry", t_duration),
     .lo = 0, .hi = 4294967295000.0, .def = "1d",
     NA(is_v5, "applies only to version = 5")},
    {K(struct config_mqtt, connect_timeout_ms, "connect_timeout", t_duration),
     .lo = 1000, .hi = 600000, .def = "10s"},
    {K(struct config_mqtt, retry_min_ms, "retry_min", t_duration), .lo = 1000,
     .hi = 3600000, .def = "1s"},
    {K(struct config_mqtt, retry_max_ms, "retry_max", t_duration), .lo = 1000,
     .hi = MS_PER_DAY, .def = "60s"},
    {K(struct config_mqtt, max_inflight, "max_inflight", t_uint), .lo = 1,
     .hi = 65535, .def = "64"},
    {K(struct config_mqtt, ca_file, "ca_file", t_path), .flags = F_READABLE,
     TLS_NA},
    {K(struct config_mqtt, cert_file, "cert_file", t_path), .flags = F_READABLE,
     TLS_NA},
    {K(struct config_mqtt, key_file, "key_file", t_path), .flags = F_READABLE,
     TLS_NA},
    {K(struct config_mqtt, tls_verify, "tls_verify", t_bool), .def = "true",
     TLS_NA},
};

static const struct key_spec sub_keys[] = {
    {K(struct config_subscription, topic, "topic", t_intopic), .names = ph_in},
    {K(struct config_subscription, format, "format", t_enum),
     .names = format_names},
    {K(struct config_subscription, qos, "qos", t_int), .lo = 0, .hi = 2},
    {K(struct config_subscription, share_group, "share_group", t_string),
     NA(is_v5, "applies only to version = 5 (shared subscriptions)")},
};

static const struct key_spec validation_keys[] = {
    {K(struct config_validation, max_future_ms, "max_future_skew", t_duration),
     .lo = 0, .hi = MS_PER_DAY, .def = "5m"},
    {K(struct config_validation, max_past_ms, "max_past_skew", t_duration),
     .lo = 0, .hi = 365 * MS_PER_DAY, .def = "7d"},
    {K(struct config_validation, max_payload, "max_payload", t_size), .lo = 16,
     .hi = CODEC_MAX_PAYLOAD, .def = "64KiB"},
    {K(struct config_validation, reject_unknown, "unknown_sensor", t_enum),
     .names = unknown_names, .def = "accept"},
    {K(struct config_validation, dedup_window, "dedup_window", t_uint),
     .lo = 64, .hi = 65536, .def = "1024"},
    {K(struct config_validation, dedup_hold_ms, "dedup_hold", t_duration),
     .lo = 0, .hi = 7 * MS_PER_DAY, .def = "10m"},
    {K(struct config_validation, dedup_hashes, "dedup_hashes", t_uint), .lo = 1,
     .hi = 1 << 24, .def = "65536"},
};

static const struct key_spec sensor_keys[] = {
    {K(struct config_sensor, min, "min", t_double), .lo = -1e300, .hi = 1e300},
    {K(struct config_sensor, max, "max", t_double), .lo = -1e300, .hi = 1e300},
    {K(struct config_sensor, max_rate_per_s, "max_rate", t_double), .lo = 0,
     .hi = 1e300, .flags = F_OPEN_LO},
    {K(struct config_sensor, require_ts, "require_timestamp", t_bool),
     .def = "false"},
    {K(struct config_sensor, require_seq, "require_seq", t_bool),
     .def = "false"},
};

#define GRID_NA NA(has_grid, "does not apply to anomaly tasks")
#define DRIFT_NA                                                               \
    NA(has_drift, "applies only to supervised tasks with a drift detector")
#define FC_NA                                                                  \
    NA(is_forecast, "applies only to forecasting targets (target = s@+h)")
static const struct key_spec task_keys[] = {
    {K(struct config_task, kind, "kind", t_enum), .names = kind_names},
    {K(struct config_task, features, "features", t_features)},
    {K(struct config_task, target, "target", t_target), GRID_NA},
    {K(struct config_task, window_rows, "window", t_window), .def = "500 rows",
     GRID_NA},
    {K(struct config_task, models, "models", t_enums),
     KN(struct config_task, models, nmodels), .names = model_names,
     .values = model_values, .hi = 3, GRID_NA},
    {K(struct config_task, optimizers, "optimizers", t_enums),
     KN(struct config_task, optimizers, noptimizers), .names = opt_names,
     .values = opt_values, .hi = 3, .def = "sgd, adagrad, normalized", GRID_NA},
    {K(struct config_task, learning_rates, "learning_rates", t_doubles),
     KN(struct config_task, learning_rates, nlearning_rates), .lo = 0,
     .hi = MODEL_LR_MAX, .flags = F_OPEN_LO, .def = "0.5, 0.1, 0.01", GRID_NA},
    {K(struct config_task, l2, "l2", t_doubles),
     KN(struct config_task, l2, nl2), .lo = 0, .hi = MODEL_LR_MAX,
     .def = "0, 0.0001", GRID_NA},
    {K(struct config_task, classes, "classes", t_strings),
     KN(struct config_task, classes, nclasses), .hi = 1024,
     NA(is_classification, "applies only to classification tasks")},
    {K(struct config_task, test_fraction, "test_fraction", t_double), .lo = 0,
     .hi = 1, .flags = F_OPEN_HI, .def = "0.1", GRID_NA},
    {K(struct config_task, drift, "drift", t_enum), .names = drift_names,
     .def = "adwin", GRID_NA},
    {K(struct config_task, drift_delta, "drift_delta", t_double), .lo = 0,
     .hi = 1e6, DRIFT_NA},
    {K(struct config_task, drift_threshold, "drift_threshold", t_double),
     .lo = 0, .hi = 1e300, .flags = F_OPEN_LO, .def = "50",
     NA(is_ph, "applies only to drift = page_hinkley")},
    /* No built-in default: unset, it is the learner's (check_task()). */
    {K(struct config_task, switch_z, "switch_z", t_double), .lo = 0,
     .hi = SWITCH_Z_MAX, GRID_NA},
    {K(struct config_task, feature_max_age_ms, "feature_max_age", t_duration),
     .lo = 1000, .hi = 365 * MS_PER_DAY, .def = "10m", GRID_NA},
    {K(struct config_task, clock_max_gap_ms, "clock_max_gap", t_duration),
     .lo = 1000, .hi = MS_PER_DAY, .def = "60s", GRID_NA},
    {K(struct config_task, label_max_delay_ms, "label_max_delay", t_duration),
     .lo = 0, .hi = 365 * MS_PER_DAY, .def = "10m", FC_NA},
    {K(struct config_task, max_pending, "max_pending", t_uint), .lo = 1,
     .hi = ROWS_MAX_PENDING, .def = "16384", FC_NA},
    {K(struct config_task, max_pending_per_device, "max_pending_per_device",
       t_uint),
     .lo = 1, .hi = ROWS_MAX_PENDING, .def = "256", FC_NA},
    {K(struct config_task, threshold, "threshold", t_double), .lo = 0, .hi = 1,
     .flags = F_OPEN_LO, .def = "0.5",
     NA(is_anomaly, "applies only to anomaly tasks")},
    {K(struct config_task, max_series, "max_series", t_uint), .lo = 1,
     .hi = 65536, .def = "4096",
     NA(is_anomaly, "applies only to anomaly tasks")},
    /* No built-in default: unset, it follows [topics] publish_predictions
     * (check_task()). */
    {K(struct config_task, predictions, "predictions", t_bool)},
};

static const struct key_spec topics_keys[] = {
    {K(struct config_topics, snapshot, "snapshot", t_outtopic),
     .names = ph_task, .def = "weir/model/{task}/snapshot"},
    {K(struct config_topics, metrics, "metrics", t_outtopic), .names = ph_task,
     .def = "weir/model/{task}/metrics"},
    {K(struct config_topics, predictions, "predictions", t_outtopic),
     .names = ph_pred, .def = "weir/pred/{task}/{device}"},
    {K(struct config_topics, publish_predictions, "publish_predictions",
       t_bool),
     .def = "false"},
    {K(struct config_topics, rejects, "rejects", t_outtopic),
     .names = ph_reason, .def = "weir/rejects/{reason}"},
    {K(struct config_topics, publish_rejects, "publish_rejects", t_bool),
     .def = "true"},
    {K(struct config_topics, status, "status", t_outtopic), .names = ph_none,
     .def = "weir/status"},
    {K(struct config_topics, drift, "drift", t_outtopic), .names = ph_task,
     .def = "weir/model/{task}/drift"},
    {K(struct config_topics, anomaly, "anomaly", t_outtopic), .names = ph_pred,
     .def = "weir/anomaly/{task}/{device}"},
};
_Static_assert(TASK_CLOCK_MAX_GAP_MS == 60000,
               "task_keys[] clock_max_gap's default must be the task's");
/* check_topics() keeps a flag per pair of keys, and one per key at 15. */
_Static_assert(sizeof(topics_keys) / sizeof(topics_keys[0]) < 15,
               "check_topics() said[][] is too small");

static const struct key_spec snapshot_keys[] = {
    {K(struct config_snapshot, min_interval_ms, "min_interval", t_duration),
     .lo = 0, .hi = MS_PER_DAY, .def = "10s"},
    {K(struct config_snapshot, keep, "keep", t_uint), .lo = 1, .hi = 1000,
     .def = "5"},
};

static const struct key_spec wal_keys[] = {
    {K(struct config_wal, sync, "fsync", t_enum), .names = fsync_names,
     .values = fsync_values, .def = "interval"},
    {K(struct config_wal, sync_interval_ms, "fsync_interval", t_duration),
     .lo = 10, .hi = 600000, .def = "1s",
     NA(fsync_interval, "applies only to fsync = interval")},
    {K(struct config_wal, segment_bytes, "segment_size", t_size), .lo = 1 << 20,
     .hi = 1 << 30, .def = "64MiB"},
    {K(struct config_wal, max_bytes, "max_size", t_size), .lo = 2 << 20,
     .hi = 1099511627776.0, .def = "1GiB"},
    {K(struct config_wal, full_wait_ms, "full_wait", t_duration), .lo = 0,
     .hi = 60000, .def = "100ms"},
};

#define HTTP_NA NA(http_on, "does not apply to listen = off")
static const struct key_spec http_keys[] = {
    {K(struct config_http, enabled, "listen", t_listen),
     .def = "127.0.0.1:9107"},
    {K(struct config_http, max_connections, "max_connections", t_uint), .lo = 1,
     .hi = 1024, .def = "32", HTTP_NA},
    {K(struct config_http, timeout_ms, "timeout", t_duration), .lo = 100,
     .hi = 300000, .def = "5s", HTTP_NA},
    {K(struct config_http, max_request_bytes, "max_request", t_size),
     .lo = 1024, .hi = 1 << 20, .def = "8KiB", HTTP_NA},
    {K(struct config_http, keep_alive, "keep_alive", t_bool), .def = "true",
     HTTP_NA},
};

static const struct key_spec limits_keys[] = {
    {K(struct config_limits, ring_slots, "ring_slots", t_uint), .lo = 1024,
     .hi = 1 << 26, .def = "65536"},
    {K(struct config_limits, max_devices, "max_devices", t_uint), .lo = 1,
     .hi = 1 << 24, .def = "10000"},
    {K(struct config_limits, max_sensors, "max_sensors", t_uint), .lo = 1,
     .hi = 1 << 24, .def = "4096"},
};

struct sect_spec {
    const char *name;
    bool named;
    const struct key_spec *keys;
    size_t nkeys;
};

#define SECT(NAME, NAMED, KEYS)                                                \
    {                                                                          \
        NAME, NAMED, KEYS, sizeof(KEYS) / sizeof(KEYS[0])                      \
    }
/* In the order config_print() writes them. */
static const struct sect_spec sects[S__COUNT] = {
    [S_WEIR] = SECT("weir", false, weir_keys),
    [S_MQTT] = SECT("mqtt", false, mqtt_keys),
    [S_SUB] = SECT("subscription", true, sub_keys),
    [S_VALIDATION] = SECT("validation", false, validation_keys),
    [S_SENSOR] = SECT("sensor", true, sensor_keys),
    [S_TASK] = SECT("task", true, task_keys),
    [S_TOPICS] = SECT("topics", false, topics_keys),
    [S_SNAPSHOT] = SECT("snapshot", false, snapshot_keys),
    [S_WAL] = SECT("wal", false, wal_keys),
    [S_HTTP] = SECT("http", false, http_keys),
    [S_LIMITS] = SECT("limits", false, limits_keys),
};

/* ---- Sections ---------------------------------------------------------- */

enum { ST_NONE, ST_BROKEN, ST_OPEN };

static void *sect_base(struct config *c, enum sect kind, size_t index)
{
    switch (kind) {
    case S_WEIR:
        return c;
    case S_MQTT:
        return &c->mqtt;
    case S_SUB:
        return &c->subs[index];
    case S_VALIDATION:
        return &c->validation;
    case S_SENSOR:
        return &c->sensors[index];
    case S_TASK:
        return &c->tasks[index];
    case S_TOPICS:
        return &c->topics;
    case S_SNAPSHOT:
        return &c->snapshot;
    case S_WAL:
        return &c->wal;
    case S_HTTP:
        return &c->http;
    case S_LIMITS:
        return &c->limits;
    default:
        assert(0);
        return NULL;
    }
}

static void *inst_base(struct parser *p, size_t i)
{
    return sect_base(p->cfg, p->insts[i].kind, p->insts[i].index);
}

static bool add_inst(struct parser *p, enum sect kind, size_t index, int line,
                     const char *name)
{
    struct inst *in = realloc(p->insts, (p->ninsts + 1) * sizeof(*in));

    if (in == NULL) {
        p->oom = true;
        return false;
    }
    p->insts = in;
    in += p->ninsts;
    in->kind = kind;
    in->index = index;
    in->line = line;
    if (name)
        snprintf(in->label, sizeof(in->label), "%s %s", sects[kind].name, name);
    else
        snprintf(in->label, sizeof(in->label), "%s", sects[kind].name);
    p->ninsts++;
    return true;
}

/* Parse every built-in default of the instance's keys. */
static void apply_defaults(struct parser *p, size_t inst)
{
    const struct sect_spec *ss = &sects[p->insts[inst].kind];
    size_t saved = p->cur;

    p->defaults = true;
    p->cur = inst;
    for (size_t i = 0; i < ss->nkeys; i++) {
        const struct key_spec *k = &ss->keys[i];
        if (k->def != NULL) {
            bool ok = k->type->parse(p, k, inst_base(p, inst), k->def, false);
            assert(ok); /* a default must pass its own checks */
            (void)ok;
        }
    }
    p->defaults = false;
    p->cur = saved;
}

/* Grow one of the named-section arrays by a zeroed element. */
static void *grow(void **arr, size_t *n, size_t size)
{
    char *a = realloc(*arr, (*n + 1) * size);

    if (a == NULL)
        return NULL;
    memset(a + *n * size, 0, size);
    *arr = a;
    return a + (*n)++ * size;
}

/* Create the element of a named section; returns its index or SIZE_MAX. */
static size_t new_named(struct parser *p, enum sect kind, const char *name,
                        int line)
{
    struct config *c = p->cfg;
    char *copy = strdup(name);
    size_t idx = SIZE_MAX;

    if (copy == NULL)
        goto oom;
    if (kind == S_SUB) {
        struct config_subscription *s =
            grow((void **)&c->subs, &c->nsubs, sizeof(*s));
        if (s == NULL)
            goto oom;
        *s =
            (struct config_subscription){.name = copy, .qos = -1, .line = line};
        idx = c->nsubs - 1;
    } else if (kind == S_SENSOR) {
        struct config_sensor *s =
            grow((void **)&c->sensors, &c->nsensors, sizeof(*s));
        if (s == NULL)
            goto oom;
        *s = (struct config_sensor){.name = copy,
                                    .min = -INFINITY,
                                    .max = INFINITY,
                                    .max_rate_per_s = INFINITY,
                                    .line = line};
        idx = c->nsensors - 1;
    } else {
        struct config_task *t =
            grow((void **)&c->tasks, &c->ntasks, sizeof(*t));
        if (t == NULL)
            goto oom;
        t->name = copy;
        t->line = line;
        idx = c->ntasks - 1;
    }
    return idx;
oom:
    free(copy);
    p->oom = true;
    return SIZE_MAX;
}

/* The instance of a named section called name, or SIZE_MAX. */
static size_t find_named(const struct parser *p, enum sect kind,
                         const char *name)
{
    for (size_t i = 0; i < p->ninsts; i++) {
        const struct inst *in = &p->insts[i];
        size_t kl = strlen(sects[kind].name);
        if (in->kind == kind && strcmp(in->label + kl + 1, name) == 0)
            return i;
    }
    return SIZE_MAX;
}

static enum sect sect_by_name(const char *name)
{
    for (int i = S_WEIR; i < S__COUNT; i++)
        if (strcmp(sects[i].name, name) == 0)
            return (enum sect)i;
    return S_NONE;
}

static void unknown_section(struct parser *p, const char *kind)
{
    const char *names[S__COUNT];
    size_t n = 0;
    const char *best;

    for (int i = S_WEIR; i < S__COUNT; i++)
        names[n++] = sects[i].name;
    best = closest(kind, names, n);
    if (best)
        perr(p, p->lineno, "unknown section [%s] (did you mean [%s]?)", kind,
             best);
    else
        perr(p, p->lineno,
             "unknown section [%s]: expected weir, mqtt, subscription NAME, "
             "validation, sensor NAME, task NAME, topics, snapshot, wal, "
             "http or limits",
             kind);
}

/* A "[kind name]" header, text[0..n) between the brackets. */
static void open_section(struct parser *p, const char *text, size_t n)
{
    char kind[SECTION_MAX_CHARS + 1];
    char name[SECTION_MAX_CHARS + 1];
    size_t kl;
    size_t idx;
    enum sect s;

    p->state = ST_BROKEN;
    if (n > SECTION_MAX_CHARS) {
        perr(p, p->lineno,
             "section header longer than %d characters (inih's limit)",
             SECTION_MAX_CHARS);
        return;
    }
    while (n > 0 && (*text == ' ' || *text == '\t'))
        text++, n--;
    while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == '\t'))
        n--;
    kl = 0;
    while (kl < n && text[kl] != ' ' && text[kl] != '\t')
        kl++;
    memcpy(kind, text, kl);
    kind[kl] = '\0';
    while (kl < n && (text[kl] == ' ' || text[kl] == '\t'))
        kl++;
    memcpy(name, text + kl, n - kl);
    name[n - kl] = '\0';
    if ((s = sect_by_name(kind)) == S_NONE) {
        unknown_section(p, kind);
        return;
    }
    if (!sects[s].named) {
        if (*name) {
            perr(p, p->lineno, "[%s] takes no name (found '%s')", kind, name);
            return;
        }
        for (idx = 0; p->insts[idx].kind != s; idx++)
            ;
        if (p->insts[idx].line != 0)
            perr(p, p->lineno,
                 "section [%s] appears twice (first at line %d): keep one",
                 kind, p->insts[idx].line);
        else
            p->insts[idx].line = p->lineno;
        p->cur = idx;
        p->state = ST_OPEN;
        return;
    }
    if (*name == '\0') {
        perr(p, p->lineno, "[%s] needs a name: [%s NAME]", kind, kind);
        return;
    }
    if (!codec_name_ok(name, strlen(name))) {
        perr(p, p->lineno,
             "[%s %s]: a name is 1..%d bytes without '/', '+', '#', spaces or "
             "control characters",
             kind, name, CODEC_NAME_MAX);
        return;
    }
    if ((idx = find_named(p, s, name)) != SIZE_MAX) {
        perr(p, p->lineno, "duplicate section [%s %s] (first at line %d)", kind,
             name, p->insts[idx].line);
        return;
    }
    if ((idx = new_named(p, s, name, p->lineno)) == SIZE_MAX ||
        !add_inst(p, s, idx, p->lineno, name))
        return;
    p->cur = p->ninsts - 1;
    apply_defaults(p, p->cur);
    p->state = ST_OPEN;
}

/* ---- Lines ------------------------------------------------------------- */

/* inih's find_chars_or_comment(): the first of chars, or an inline ';'
 * comment (a ';' after whitespace), or the end. */
static const char *find_chars_or_comment(const char *s, const char *chars)
{
    bool was_space = false;

    while (*s && !strchr(chars, *s) && !(was_space && *s == ';')) {
        was_space =
            *s == ' ' || *s == '\t' || *s == '\r' || *s == '\f' || *s == '\v';
        s++;
    }
    return s;
}

/* Mirror what inih will do with the line, as ini_parse_stream() does. */
static void classify(struct parser *p, const char *line)
{
    const char *start = line;
    const char *end;

    while (*start == ' ' || *start == '\t' || *start == '\r' ||
           *start == '\n' || *start == '\f' || *start == '\v')
        start++;
    if (*start == '\0' || *start == ';' || *start == '#')
        return;
    if (p->have_key && start > line) {
        p->continuation = true;
        return;
    }
    if (*start == '[') {
        end = find_chars_or_comment(start + 1, "]");
        if (*end != ']') {
            perr(p, p->lineno, "section header without ']'");
            p->state = ST_BROKEN;
            return;
        }
        for (const char *t = end + 1; *t && *t != ';' && *t != '#'; t++) {
            if (*t != ' ' && *t != '\t' && *t != '\r' && *t != '\n') {
                perr(p, p->lineno, "text after the section header");
                break;
            }
        }
        open_section(p, start + 1, (size_t)(end - start - 1));
        p->have_key = false;
        return;
    }
    end = find_chars_or_comment(start, "=:");
    if (*end != '=' && *end != ':') {
        perr(p, p->lineno, "expected 'key = value', '[section]' or a comment");
        return;
    }
    p->have_key = true;
}

/* The ini_reader: one line per call, with our bookkeeping. */
static char *reader(char *str, int num, void *stream)
{
    struct parser *p = stream;
    const char *s;
    const char *nl;
    size_t n;
    size_t content;

    if (p->pos >= p->len)
        return NULL;
    s = p->text + p->pos;
    nl = memchr(s, '\n', p->len - p->pos);
    n = nl ? (size_t)(nl - s) + 1 : p->len - p->pos;
    p->pos += n;
    p->lineno++;
    p->continuation = false;
    if (p->lineno == 1 && n >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
        s += 3, n -= 3; /* UTF-8 byte-order mark */
    content = n;
    while (content > 0 && (s[content - 1] == '\n' || s[content - 1] == '\r'))
        content--;
    str[0] = '\0';
    if (memchr(s, '\0', n) != NULL) {
        perr(p, p->lineno, "NUL byte in the line");
        return str;
    }
    if (content > LINE_MAX_CHARS || n >= (size_t)num) {
        perr(p, p->lineno,
             "line longer than %d characters (inih's limit); continue a list "
             "on indented lines",
             LINE_MAX_CHARS);
        return str;
    }
    memcpy(str, s, n);
    str[n] = '\0';
    classify(p, str);
    return str;
}

static struct seen *find_seen(struct parser *p, size_t inst,
                              const struct key_spec *k)
{
    for (size_t i = 0; i < p->nseen; i++)
        if (p->seen[i].inst == inst && p->seen[i].key == k)
            return &p->seen[i];
    return NULL;
}

static void unknown_key(struct parser *p, const char *name)
{
    const struct sect_spec *ss = &sects[p->insts[p->cur].kind];
    const char *names[32];
    const char *best;

    assert(ss->nkeys <= 32);
    for (size_t i = 0; i < ss->nkeys; i++)
        names[i] = ss->keys[i].name;
    best = closest(name, names, ss->nkeys);
    if (best)
        perr(p, p->lineno, "unknown key '%s' in [%s] (did you mean '%s'?)",
             name, label_of(p, p->cur), best);
    else
        perr(p, p->lineno, "unknown key '%s' in [%s]", name,
             label_of(p, p->cur));
}

static int handler(void *user, const char *section, const char *name,
                   const char *value)
{
    struct parser *p = user;
    const struct sect_spec *ss;
    const struct key_spec *k = NULL;
    struct seen *prev;
    struct seen *grown;

    (void)section; /* the reader tracks sections itself */
    if (p->oom || p->state == ST_BROKEN)
        return 1;
    if (p->state == ST_NONE) {
        perr(p, p->lineno,
             "'%s' is outside any section: put it under a "
             "[section] header",
             name);
        return 1;
    }
    ss = &sects[p->insts[p->cur].kind];
    for (size_t i = 0; i < ss->nkeys && !k; i++)
        if (strcmp(ss->keys[i].name, name) == 0)
            k = &ss->keys[i];
    if (p->continuation) {
        if (p->prev_skipped)
            return 1;
        if (k && k->type->list)
            k->type->parse(p, k, inst_base(p, p->cur), value, true);
        else
            perr(p, p->lineno,
                 "this indented line continues '%s', which is "
                 "not a list: remove the indentation",
                 name);
        return 1;
    }
    p->prev_skipped = true;
    if (k == NULL) {
        unknown_key(p, name);
        return 1;
    }
    if ((prev = find_seen(p, p->cur, k)) != NULL) {
        perr(p, p->lineno, "'%s' is set twice in [%s] (first at line %d)", name,
             label_of(p, p->cur), prev->line);
        return 1;
    }
    if ((grown = realloc(p->seen, (p->nseen + 1) * sizeof(*grown))) == NULL) {
        p->oom = true;
        return 1;
    }
    p->seen = grown;
    p->seen[p->nseen++] = (struct seen){p->cur, k, p->lineno, false};
    if (k->type->parse(p, k, inst_base(p, p->cur), value, false)) {
        p->seen[p->nseen - 1].ok = true;
        p->prev_skipped = false;
    }
    return 1;
}

/* ---- Checks across keys ------------------------------------------------ */

static const struct key_spec *key_named(enum sect kind, const char *name)
{
    for (size_t i = 0; i < sects[kind].nkeys; i++)
        if (strcmp(sects[kind].keys[i].name, name) == 0)
            return &sects[kind].keys[i];
    assert(0);
    return NULL;
}

static size_t inst_of(const struct parser *p, enum sect kind, size_t index)
{
    for (size_t i = 0; i < p->ninsts; i++)
        if (p->insts[i].kind == kind && p->insts[i].index == index)
            return i;
    assert(0);
    return 0;
}

/* Line where a key was set (0: not set). */
static int set_line(struct parser *p, enum sect kind, size_t index,
                    const char *key)
{
    struct seen *s =
        find_seen(p, inst_of(p, kind, index), key_named(kind, key));

    return s ? s->line : 0;
}

/* Line to blame for a key: where it was set, else the section header. */
static int blame(struct parser *p, enum sect kind, size_t index,
                 const char *key)
{
    int line = set_line(p, kind, index, key);

    return line ? line : p->insts[inst_of(p, kind, index)].line;
}

/* Keys set where they do not apply. */
static void check_applies(struct parser *p)
{
    for (size_t i = 0; i < p->nseen; i++) {
        const struct seen *s = &p->seen[i];
        if (s->ok && s->key->applies &&
            !s->key->applies(p->cfg, inst_base(p, s->inst)))
            perr(p, s->line, "[%s] %s %s", label_of(p, s->inst), s->key->name,
                 s->key->na);
    }
}

static void default_client_id(struct parser *p)
{
    char host[256] = "";
    char id[300];

    if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0')
        snprintf(host, sizeof(host), "gateway");
    for (char *c = host; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
              (*c >= '0' && *c <= '9') || *c == '-' || *c == '_'))
            *c = '-';
    snprintf(id, sizeof(id), "weir-%s", host);
    if ((p->cfg->mqtt.client_id = strdup(id)) == NULL)
        p->oom = true;
}

static void check_mqtt(struct parser *p)
{
    struct config_mqtt *m = &p->cfg->mqtt;

    if (m->client_id == NULL)
        default_client_id(p);
    else if (strlen(m->client_id) > 256)
        perr(p, blame(p, S_MQTT, 0, "client_id"),
             "[mqtt] client_id: longer than 256 bytes");
    if (m->password && m->password_file)
        perr(p, blame(p, S_MQTT, 0, "password_file"),
             "[mqtt] password and password_file are both set: keep one");
    if ((m->password || m->password_file) && !m->username && m->version == 4)
        perr(p, blame(p, S_MQTT, 0, m->password ? "password" : "password_file"),
             "[mqtt] MQTT 3.1.1 sends a password only with a username");
    if (m->retry_min_ms > m->retry_max_ms)
        perr(p, blame(p, S_MQTT, 0, "retry_min"),
             "[mqtt] retry_min is larger than retry_max");
    if (m->keepalive_ms % 1000 != 0)
        perr(p, blame(p, S_MQTT, 0, "keepalive"),
             "[mqtt] keepalive: MQTT counts it in whole seconds");
    if (m->session_expiry_ms % 1000 != 0)
        perr(p, blame(p, S_MQTT, 0, "session_expiry"),
             "[mqtt] session_expiry: MQTT counts it in whole seconds");
    if (m->key_file && !m->cert_file)
        perr(p, blame(p, S_MQTT, 0, "key_file"),
             "[mqtt] key_file without cert_file");
    if (m->clean_session)
        pwarn(p, blame(p, S_MQTT, 0, "clean_session"),
              "[mqtt] clean_session = true: the broker forgets the session "
              "when weir disconnects, so readings sent meanwhile are lost");
    if (!m->tls_verify && uses_tls(p->cfg, m))
        pwarn(p, blame(p, S_MQTT, 0, "tls_verify"),
              "[mqtt] tls_verify = false: the broker's identity is not "
              "checked");
    if (m->password && p->world_readable)
        pwarn(p, blame(p, S_MQTT, 0, "password"),
              "[mqtt] password in a file anyone can read: use "
              "password_file with mode 0600, or chmod this file");
}

/* ---- TLS files ------------------------------------------------------- */

enum pem_kind {
    PEM_CERT = 1 << 0,      /* a certificate */
    PEM_KEY = 1 << 1,       /* a private key */
    PEM_ENCRYPTED = 1 << 2, /* the key needs a passphrase */
};

/* The PEM blocks in the file at path, as a mask of enum pem_kind; -errno
 * if it cannot be read. Only BEGIN lines are looked at: this catches the
 * wrong file (DER, a key given for a certificate, a CSR) when the
 * configuration is checked; OpenSSL parses the contents at connect. */
static int pem_scan(const char *path)
{
    char line[256];
    FILE *f = fopen(path, "re");
    int found = 0;

    if (f == NULL)
        return -errno;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "Proc-Type: 4,ENCRYPTED", 22) == 0)
            found |= PEM_ENCRYPTED; /* legacy OpenSSL key encryption */
        if (strncmp(line, "-----BEGIN ", 11) != 0)
            continue;
        if (strstr(line, "CERTIFICATE-----") != NULL) /* not a REQUEST */
            found |= PEM_CERT;
        else if (strstr(line, "ENCRYPTED PRIVATE KEY-----") != NULL)
            found |= PEM_KEY | PEM_ENCRYPTED;
        else if (strstr(line, "PRIVATE KEY-----") != NULL)
            found |= PEM_KEY;
    }
    if (ferror(f))
        found = -EIO;
    fclose(f);
    return found;
}

/* A directory of trusted certificates must hold OpenSSL's hashed names
 * (8 hex digits, '.', a digit: what `openssl rehash` makes). */
static bool has_hashed_names(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    bool found = false;

    if (d == NULL)
        return false;
    while (!found && (e = readdir(d)) != NULL)
        found = strlen(e->d_name) >= 10 &&
                strspn(e->d_name, "0123456789abcdef") == 8 &&
                e->d_name[8] == '.' && e->d_name[9] >= '0' &&
                e->d_name[9] <= '9';
    closedir(d);
    return found;
}

/* key (a key name) names a file that must hold want (enum pem_kind);
 * returns what it holds, or -1 after an error. */
static int check_pem(struct parser *p, const char *key, const char *path,
                     int want, const char *what)
{
    int line = blame(p, S_MQTT, 0, key);
    struct stat st;
    int found;

    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        perr(p, line, "[mqtt] %s = %s: not a regular file", key, path);
        return -1;
    }
    if ((found = pem_scan(path)) < 0) {
        perr(p, line, "[mqtt] %s = %s: cannot read it: %s", key, path,
             strerror(-found));
        return -1;
    }
    if ((found & want) == 0) {
        perr(p, line,
             "[mqtt] %s = %s: no PEM %s in it (a DER file converts with "
             "'openssl %s -inform der -in FILE -out FILE.pem')",
             key, path, what, want == PEM_CERT ? "x509" : "pkey");
        return -1;
    }
    return found;
}

/* ca_file: a PEM bundle, or a directory of hashed certificates. */
static void check_ca(struct parser *p, const char *ca)
{
    struct stat st;

    if (stat(ca, &st) == 0 && S_ISDIR(st.st_mode)) {
        if (!has_hashed_names(ca))
            perr(p, blame(p, S_MQTT, 0, "ca_file"),
                 "[mqtt] ca_file = %s: a directory without hashed "
                 "certificate names, so OpenSSL would find no CA in it: run "
                 "'openssl rehash %s' (or name a PEM file)",
                 ca, ca);
        return;
    }
    check_pem(p, "ca_file", ca, PEM_CERT, "certificate");
}

/* Paho 1.3 turns TLS on at the first TLS URI of a list and never off
 * again, and a plain fallback would defeat TLS anyway. */
static void check_tls_uris(struct parser *p)
{
    const struct config_mqtt *m = &p->cfg->mqtt;
    size_t tls = 0;

    for (size_t i = 0; i < m->nuris; i++)
        tls += strncmp(m->uris[i], "ssl://", 6) == 0 ||
               strncmp(m->uris[i], "mqtts://", 8) == 0 ||
               strncmp(m->uris[i], "wss://", 6) == 0;
    if (tls > 0 && tls < m->nuris)
        perr(p, blame(p, S_MQTT, 0, "uri"),
             "[mqtt] uri: TLS and plain URIs in one list: a failover to a "
             "plain URI would send the password and readings in the clear "
             "(and Paho keeps TLS on once used): use one kind");
}

/* The client's key: in key_file, or in cert_file without one; not
 * encrypted (weir cannot ask for a passphrase); not readable by anyone. */
static void check_client_key(struct parser *p, int cert, int key)
{
    const struct config_mqtt *m = &p->cfg->mqtt;
    const char *path = m->key_file ? m->key_file : m->cert_file;
    const char *name = m->key_file ? "key_file" : "cert_file";
    int line = blame(p, S_MQTT, 0, name);
    int found = m->key_file ? key : cert;
    struct stat st;

    if (found < 0)
        return; /* already reported */
    if (!m->key_file && !(found & PEM_KEY)) {
        perr(p, line,
             "[mqtt] cert_file without key_file, and %s holds no private "
             "key: set key_file",
             path);
    } else if (found & PEM_ENCRYPTED) {
        perr(p, line,
             "[mqtt] %s = %s: the private key is encrypted and weir cannot "
             "ask for a passphrase: store it decrypted, mode 0600 "
             "('openssl pkey -in KEY -out PLAIN')",
             name, path);
    } else if (stat(path, &st) == 0 && (st.st_mode & S_IROTH)) {
        pwarn(p, line,
              "[mqtt] %s = %s: the private key can be read by anyone: "
              "chmod 0600 (or 0640 with weir's group)",
              name, path);
    }
}

static void check_tls(struct parser *p)
{
    const struct config_mqtt *m = &p->cfg->mqtt;
    int cert = 0;
    int key = 0;

    if (!uses_tls(p->cfg, m))
        return; /* the TLS keys are refused by check_applies() */
    check_tls_uris(p);
    if (m->ca_file)
        check_ca(p, m->ca_file);
    if (m->cert_file)
        cert = check_pem(p, "cert_file", m->cert_file, PEM_CERT, "certificate");
    if (m->key_file)
        key = check_pem(p, "key_file", m->key_file, PEM_KEY, "private key");
    if (m->cert_file)
        check_client_key(p, cert, key);
}

/* The subscription's filter with the share prefix ("$share/g/..."). */
static void share_filter(struct parser *p, struct config_subscription *s)
{
    size_t n;
    char *f;

    if (s->share_group == NULL || s->filter == NULL)
        return;
    n = strlen(s->share_group) + strlen(s->filter) + 9;
    if ((f = malloc(n)) == NULL) {
        p->oom = true;
        return;
    }
    snprintf(f, n, "$share/%s/%s", s->share_group, s->filter);
    free(s->filter);
    s->filter = f;
}

/* The filter without a "$share/group/" prefix. */
static const char *plain_filter(const struct config_subscription *s)
{
    return s->share_group ? s->filter + 8 + strlen(s->share_group) : s->filter;
}

static void check_sub(struct parser *p, size_t i)
{
    struct config_subscription *s = &p->cfg->subs[i];

    if (s->topic == NULL && !set_line(p, S_SUB, i, "topic"))
        perr(p, s->line, "[subscription %s] needs 'topic'", s->name);
    if (!set_line(p, S_SUB, i, "format"))
        perr(p, s->line,
             "[subscription %s] needs 'format' (protobuf_reading, "
             "protobuf_batch, json or senml)",
             s->name);
    else if (s->has_sensor && (s->format == CONFIG_FORMAT_PROTOBUF_BATCH ||
                               s->format == CONFIG_FORMAT_SENML))
        perr(p, blame(p, S_SUB, i, "topic"),
             "[subscription %s] {sensor} in the topic is not used: a %s "
             "payload names its sensors itself",
             s->name, format_names[s->format]);
    if (s->qos < 0)
        s->qos = p->cfg->mqtt.qos;
    else if (s->qos == 0)
        pwarn(p, blame(p, S_SUB, i, "qos"),
              "[subscription %s] qos = 0: readings are not acknowledged and "
              "can be lost",
              s->name);
    if (s->share_group && strpbrk(s->share_group, "/+#"))
        perr(p, blame(p, S_SUB, i, "share_group"),
             "[subscription %s] share_group cannot contain '/', '+' or '#'",
             s->name);
    share_filter(p, s);
}

static void check_subs(struct parser *p)
{
    struct config *c = p->cfg;

    if (c->nsubs == 0)
        perr(p, 0,
             "no [subscription NAME] section: weir would receive "
             "nothing");
    for (size_t i = 0; i < c->nsubs; i++)
        check_sub(p, i);
    for (size_t j = 0; j < c->nsubs; j++) {
        for (size_t i = 0; i < j; i++) {
            const struct config_subscription *a = &c->subs[i];
            const struct config_subscription *b = &c->subs[j];
            if (a->filter && b->filter &&
                filters_intersect(plain_filter(a), plain_filter(b)))
                perr(p, blame(p, S_SUB, j, "topic"),
                     "[subscription %s] topic '%s' overlaps [subscription "
                     "%s] (line %d): a message matching both would be read "
                     "twice",
                     b->name, b->topic, a->name, a->line);
        }
    }
}

static void check_sensor(struct parser *p, size_t i)
{
    const struct config_sensor *s = &p->cfg->sensors[i];

    if (s->min > s->max) {
        int lmin = set_line(p, S_SENSOR, i, "min");
        int lmax = set_line(p, S_SENSOR, i, "max");
        perr(p, lmin > lmax ? lmin : lmax,
             "[sensor %s] min (%g) is larger than max (%g)", s->name, s->min,
             s->max);
    }
}

static bool same_term(const struct rows_spec *a, const struct rows_spec *b)
{
    return strcmp(a->name, b->name) == 0 && a->lag == b->lag &&
           a->horizon_ms == b->horizon_ms;
}

/* The learner's own default switch_z (learn/learner.h), whatever it is. */
static double default_switch_z(void)
{
    struct learner_config lc;

    learner_config_default(&lc, LEARNER_REGRESSION, 1, 0);
    return lc.switch_z;
}

/* Regression: linear; classification: logistic and softmax. Unset,
 * switch_z is the learner's default. */
static void check_grid(struct parser *p, size_t i)
{
    struct config_task *t = &p->cfg->tasks[i];
    bool regression = t->kind == CONFIG_TASK_REGRESSION;

    if (t->nmodels == 0) {
        t->models[0] = regression ? MODEL_LINEAR : MODEL_LOGISTIC;
        t->nmodels = 1;
    }
    for (size_t j = 0; j < t->nmodels; j++) {
        if (t->models[j] == MODEL_LOGISTIC && t->nclasses > 2)
            perr(p, blame(p, S_TASK, i, "models"),
                 "[task %s] models: logistic is binary, but there are %zu "
                 "classes (use softmax)",
                 t->name, t->nclasses);
        if ((t->models[j] == MODEL_LINEAR) != regression)
            perr(p, blame(p, S_TASK, i, "models"),
                 "[task %s] models: %s cannot do %s (use %s)", t->name,
                 model_names[t->models[j] - 1], kind_names[t->kind],
                 regression ? "linear" : "logistic or softmax");
    }
    if (config_task_candidates(t) > CONFIG_MAX_CANDIDATES)
        perr(p, t->line,
             "[task %s] %zu candidates (models x optimizers x learning_rates "
             "x l2): at most %d",
             t->name, config_task_candidates(t), CONFIG_MAX_CANDIDATES);
    if (!set_line(p, S_TASK, i, "switch_z"))
        t->switch_z = default_switch_z();
}

static void check_drift(struct parser *p, size_t i)
{
    struct config_task *t = &p->cfg->tasks[i];

    if (!set_line(p, S_TASK, i, "drift_delta"))
        t->drift_delta = t->drift == CONFIG_DRIFT_PAGE_HINKLEY ? 0.05 : 0.002;
    else if (t->drift == CONFIG_DRIFT_ADWIN &&
             !(t->drift_delta > 0 && t->drift_delta < 1))
        perr(p, blame(p, S_TASK, i, "drift_delta"),
             "[task %s] drift_delta: ADWIN's confidence must be in (0, 1)",
             t->name);
}

/* Every sensor a task names needs a [sensor] if unknown ones are refused. */
static void check_known(struct parser *p, size_t i, const struct rows_spec *s,
                        const char *key)
{
    if (p->cfg->validation.reject_unknown &&
        config_sensor_find(p->cfg, s->name) == NULL)
        perr(p, blame(p, S_TASK, i, key),
             "[task %s] sensor '%s' has no [sensor %s] section, and "
             "unknown_sensor = reject would refuse all of its readings",
             p->cfg->tasks[i].name, s->name, s->name);
}

static void check_target(struct parser *p, size_t i)
{
    struct config_task *t = &p->cfg->tasks[i];

    if (t->kind == CONFIG_TASK_ANOMALY)
        return; /* a target there is refused by check_applies() */
    if (!t->has_target) {
        if (!set_line(p, S_TASK, i, "target"))
            perr(p, t->line, "[task %s] needs 'target'", t->name);
        return;
    }
    if (t->target.lag > 0)
        perr(p, blame(p, S_TASK, i, "target"),
             "[task %s] target cannot be lagged (@-k is for features)",
             t->name);
    for (size_t j = 0; j < t->nfeatures; j++)
        if (t->target.horizon_ms == 0 && same_term(&t->target, &t->features[j]))
            perr(p, blame(p, S_TASK, i, "features"),
                 "[task %s] the target '%s' is also a feature: the model "
                 "would see its own label (use %s@-1 for its previous value)",
                 t->name, t->target.name, t->target.name);
    check_known(p, i, &t->target, "target");
}

static void check_task(struct parser *p, size_t i)
{
    struct config_task *t = &p->cfg->tasks[i];

    const struct seen *kind =
        find_seen(p, inst_of(p, S_TASK, i), key_named(S_TASK, "kind"));

    if (kind == NULL)
        perr(p, t->line,
             "[task %s] needs 'kind' (regression, classification or "
             "anomaly)",
             t->name);
    if (kind == NULL || !kind->ok)
        return; /* nothing else can be checked */
    if (t->nfeatures == 0 && !set_line(p, S_TASK, i, "features"))
        perr(p, t->line, "[task %s] needs 'features'", t->name);
    check_target(p, i);
    for (size_t j = 0; j < t->nfeatures; j++) {
        check_known(p, i, &t->features[j], "features");
        if (t->kind == CONFIG_TASK_ANOMALY && t->features[j].lag > 0)
            perr(p, blame(p, S_TASK, i, "features"),
                 "[task %s] an anomaly task watches sensors: '%s@-%u' has a "
                 "lag",
                 t->name, t->features[j].name, (unsigned)t->features[j].lag);
    }
    if (t->nclasses == 1)
        perr(p, blame(p, S_TASK, i, "classes"),
             "[task %s] classes: a classifier needs at least two", t->name);
    if (t->kind != CONFIG_TASK_ANOMALY) {
        check_grid(p, i);
        check_drift(p, i);
    } else {
        t->nmodels = t->noptimizers = t->nlearning_rates = t->nl2 = 0;
        t->drift = CONFIG_DRIFT_NONE;
    }
    if (!set_line(p, S_TASK, i, "predictions"))
        t->predictions = p->cfg->topics.publish_predictions;
    if (is_forecast(p->cfg, t) && t->max_pending_per_device > t->max_pending)
        perr(p, blame(p, S_TASK, i, "max_pending_per_device"),
             "[task %s] max_pending_per_device is larger than max_pending",
             t->name);
}

/* Every topic an output template can produce, with {task} and {reason}
 * filled in from the tasks and the reject reasons (both known here) and
 * {device} as '+'. */
struct out_topic {
    size_t key; /* index in topics_keys */
    char topic[2 * TOPIC_TEMPLATE_MAX];
};

static bool expand_outputs(struct parser *p, struct out_topic **out, size_t *n)
{
    const struct config *c = p->cfg;
    const struct sect_spec *ss = &sects[S_TOPICS];
    static const char *const keys[] = {"task", "reason", "device"};
    struct out_topic *v = NULL;
    size_t len = 0;

    for (size_t k = 0; k < ss->nkeys; k++) {
        const char *t;
        if (ss->keys[k].type != &t_outtopic)
            continue;
        t = *(char *const *)CFIELD(&c->topics, &ss->keys[k]);
        size_t nt = strstr(t, "{task}") ? c->ntasks : 1;
        size_t nr = strstr(t, "{reason}") ? REJECT__COUNT - 1 : 1;
        for (size_t i = 0; i < nt; i++) {
            for (size_t r = 0; r < nr; r++) {
                const char *vals[3] = {
                    c->ntasks ? c->tasks[i < c->ntasks ? i : 0].name : "+",
                    reject_name((enum reject_reason)(r + 1)), "+"};
                struct out_topic *g = realloc(v, (len + 1) * sizeof(*v));
                if (g == NULL) {
                    free(v);
                    p->oom = true;
                    return false;
                }
                v = g;
                v[len].key = k;
                topic_render(t, keys, vals, 3, v[len].topic,
                             sizeof(v[len].topic));
                len++;
            }
        }
    }
    *out = v;
    *n = len;
    return true;
}

/* Output topics: none may be read back by a subscription, and no two
 * outputs may produce the same topic. Reported once per pair. */
static void check_topics(struct parser *p)
{
    const struct sect_spec *ss = &sects[S_TOPICS];
    const struct config *c = p->cfg;
    bool said[16][16] = {{false}};
    struct out_topic *v;
    size_t n;

    if (!expand_outputs(p, &v, &n))
        return;
    for (size_t i = 0; i < n; i++) {
        const struct key_spec *k = &ss->keys[v[i].key];
        int line = blame(p, S_TOPICS, 0, k->name);
        int li = set_line(p, S_TOPICS, 0, k->name);
        for (size_t j = 0; j < c->nsubs; j++) {
            if (!said[v[i].key][15] && c->subs[j].filter &&
                filters_intersect(v[i].topic, plain_filter(&c->subs[j]))) {
                said[v[i].key][15] = true;
                perr(p, line,
                     "[topics] %s: '%s' matches [subscription %s] ('%s'): "
                     "weir would read its own output",
                     k->name, v[i].topic, c->subs[j].name, c->subs[j].topic);
            }
        }
        for (size_t j = 0; j < i; j++) {
            if (v[j].key == v[i].key || said[v[j].key][v[i].key] ||
                !filters_intersect(v[i].topic, v[j].topic))
                continue;
            said[v[j].key][v[i].key] = true;
            perr(p, li ? li : blame(p, S_TOPICS, 0, ss->keys[v[j].key].name),
                 "[topics] %s and %s can both publish to '%s'", k->name,
                 ss->keys[v[j].key].name, v[i].topic);
        }
    }
    free(v);
}

static void check_rest(struct parser *p)
{
    struct config *c = p->cfg;

    if (c->validation.dedup_window % 64 != 0)
        perr(p, blame(p, S_VALIDATION, 0, "dedup_window"),
             "[validation] dedup_window must be a multiple of 64");
    if (c->wal.max_bytes < 2 * c->wal.segment_bytes)
        perr(p, blame(p, S_WAL, 0, "max_size"),
             "[wal] max_size must hold at least two segments (segment_size "
             "x 2)");
    if (c->mqtt.keepalive_ms > 0 &&
        c->wal.full_wait_ms * 2 > c->mqtt.keepalive_ms)
        perr(p, blame(p, S_WAL, 0, "full_wait"),
             "[wal] full_wait must be at most half of [mqtt] keepalive: the "
             "client must keep answering the broker");
    if ((c->limits.ring_slots & (c->limits.ring_slots - 1)) != 0)
        perr(p, blame(p, S_LIMITS, 0, "ring_slots"),
             "[limits] ring_slots must be a power of two");
    if (c->http.enabled && strcmp(c->http.host, "127.0.0.1") != 0 &&
        strcmp(c->http.host, "::1") != 0 &&
        strncmp(c->http.host, "127.", 4) != 0)
        pwarn(p, blame(p, S_HTTP, 0, "listen"),
              "[http] listen = %s: the metrics endpoint is reachable from "
              "other machines",
              c->http.host);
    if (c->ntasks == 0)
        pwarn(p, 0,
              "no [task NAME] section: weir will validate and count "
              "readings but learn nothing");
}

static void check_all(struct parser *p)
{
    check_mqtt(p);
    check_tls(p);
    check_subs(p);
    for (size_t i = 0; i < p->cfg->nsensors; i++)
        check_sensor(p, i);
    for (size_t i = 0; i < p->cfg->ntasks; i++)
        check_task(p, i);
    check_topics(p);
    check_rest(p);
    check_applies(p);
}

/* ---- Public API -------------------------------------------------------- */

size_t config_task_candidates(const struct config_task *t)
{
    return t->nmodels * t->noptimizers * t->nlearning_rates * t->nl2;
}

const struct config_sensor *config_sensor_find(const struct config *cfg,
                                               const char *name)
{
    for (size_t i = 0; i < cfg->nsensors; i++)
        if (strcmp(cfg->sensors[i].name, name) == 0)
            return &cfg->sensors[i];
    return NULL;
}

static void release_keys(struct config *c, enum sect kind, size_t index)
{
    void *base = sect_base(c, kind, index);

    for (size_t i = 0; i < sects[kind].nkeys; i++)
        if (sects[kind].keys[i].type->release)
            sects[kind].keys[i].type->release(&sects[kind].keys[i], base);
}

void config_free(struct config *cfg)
{
    if (cfg == NULL)
        return;
    for (int k = S_WEIR; k < S__COUNT; k++)
        if (!sects[k].named)
            release_keys(cfg, (enum sect)k, 0);
    for (size_t i = 0; i < cfg->nsubs; i++) {
        release_keys(cfg, S_SUB, i);
        free(cfg->subs[i].name);
    }
    for (size_t i = 0; i < cfg->nsensors; i++) {
        release_keys(cfg, S_SENSOR, i);
        free(cfg->sensors[i].name);
    }
    for (size_t i = 0; i < cfg->ntasks; i++) {
        release_keys(cfg, S_TASK, i);
        free(cfg->tasks[i].name);
    }
    free(cfg->subs);
    free(cfg->sensors);
    free(cfg->tasks);
    free(cfg->path);
    free(cfg);
}

/* One section's keys (those that apply) as "key = value" lines. */
static int print_keys(const struct config *c, enum sect kind, size_t index,
                      FILE *f)
{
    const void *base = sect_base((struct config *)c, kind, index);

    for (size_t i = 0; i < sects[kind].nkeys; i++) {
        const struct key_spec *k = &sects[kind].keys[i];
        char *val = NULL;
        size_t len = 0;
        FILE *m;
        bool has;
        if (k->applies && !k->applies(c, base))
            continue;
        if ((m = open_memstream(&val, &len)) == NULL)
            return -EIO;
        has = k->type->print(m, k, base);
        fclose(m);
        if (has && (k->flags & F_SECRET))
            fprintf(f, "# %s = (set, not shown)\n", k->name);
        else if (has)
            fprintf(f, "%s = %s\n", k->name, val);
        else
            fprintf(f, "# %s = (not set)\n", k->name);
        free(val);
    }
    return 0;
}

int config_print(const struct config *cfg, FILE *f)
{
    static const char *const label[] = {
        [S_SUB] = "subscription", [S_SENSOR] = "sensor", [S_TASK] = "task"};

    fprintf(f, "# Effective configuration of %s, defaults included.\n",
            cfg->path);
    for (int k = S_WEIR; k < S__COUNT; k++) {
        size_t n = k == S_SUB      ? cfg->nsubs
                   : k == S_SENSOR ? cfg->nsensors
                   : k == S_TASK   ? cfg->ntasks
                                   : 1;
        for (size_t i = 0; i < n; i++) {
            if (sects[k].named) {
                const char *name = k == S_SUB      ? cfg->subs[i].name
                                   : k == S_SENSOR ? cfg->sensors[i].name
                                                   : cfg->tasks[i].name;
                fprintf(f, "\n[%s %s]\n", label[k], name);
            } else {
                fprintf(f, "\n[%s]\n", sects[k].name);
            }
            if (print_keys(cfg, (enum sect)k, i, f) < 0)
                return -EIO;
        }
    }
    return ferror(f) ? -EIO : 0;
}

static void parser_free(struct parser *p)
{
    for (size_t i = 0; i < p->ndiags; i++)
        free(p->diags[i].text);
    free(p->diags);
    free(p->insts);
    free(p->seen);
    free(p->base_dir);
}

/* The singleton sections, with their defaults. */
static bool init_singletons(struct parser *p)
{
    for (int k = S_WEIR; k < S__COUNT; k++) {
        if (sects[k].named)
            continue;
        if (!add_inst(p, (enum sect)k, 0, 0, NULL))
            return false;
        apply_defaults(p, p->ninsts - 1);
    }
    return true;
}

static int parse(struct config **out, const char *text, size_t len,
                 const char *name, bool world_readable, char **diag)
{
    struct parser p = {.name = name,
                       .text = text,
                       .len = len,
                       .world_readable = world_readable,
                       .state = ST_NONE};
    const char *slash = strrchr(name, '/');
    int rc;

    *out = NULL;
    *diag = NULL;
    if ((p.cfg = calloc(1, sizeof(*p.cfg))) == NULL ||
        (p.cfg->path = strdup(name)) == NULL ||
        (slash &&
         (p.base_dir = strndup(
              name, (size_t)(slash - name + (slash == name)))) == NULL)) {
        config_free(p.cfg);
        return -ENOMEM;
    }
    if (init_singletons(&p)) {
        rc = ini_parse_stream(reader, &p, handler, &p);
        if (rc == -2)
            p.oom = true;
        else if (rc > 0 && p.nerrors == 0)
            perr(&p, rc, "syntax error");
    }
    if (!p.oom)
        check_all(&p);
    *diag = render_diags(&p);
    rc = p.oom ? -ENOMEM : p.nerrors ? -EINVAL : 0;
    if (rc == 0)
        *out = p.cfg;
    else
        config_free(p.cfg);
    parser_free(&p);
    return rc;
}

int config_parse(struct config **out, const char *text, size_t len,
                 const char *name, char **diag)
{
    return parse(out, text, len, name, false, diag);
}

int config_load(struct config **out, const char *path, char **diag)
{
    struct stat st;
    char *text = NULL;
    ssize_t n = 0;
    int fd;
    int rc;

    *out = NULL;
    *diag = NULL;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0) {
        rc = -errno;
        goto fail;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > CONFIG_MAX_FILE) {
        rc = S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
        goto fail;
    }
    if ((text = malloc((size_t)st.st_size + 1)) == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    for (size_t got = 0; got < (size_t)st.st_size; got += (size_t)n) {
        n = read(fd, text + got, (size_t)st.st_size - got);
        if (n <= 0) {
            rc = n < 0 ? -errno : -EIO;
            goto fail;
        }
    }
    close(fd);
    rc = parse(out, text, (size_t)st.st_size, path, (st.st_mode & S_IROTH) != 0,
               diag);
    free(text);
    return rc;
fail:
    if (fd >= 0)
        close(fd);
    free(text);
    {
        const char *why = rc == -EFBIG    ? "file larger than 1 MiB"
                          : rc == -EINVAL ? "not a regular file"
                                          : strerror(-rc);
        size_t cap = strlen(path) + strlen(why) + 16;
        if ((*diag = malloc(cap)) != NULL)
            snprintf(*diag, cap, "%s: error: %s\n", path, why);
    }
    return rc;
}
