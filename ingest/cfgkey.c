/* cfgkey.c -- typed configuration keys and their values (see cfgkey.h).
 *
 * Every type is three functions over a field at an offset in a section's
 * struct: parse (text to field, checking range and syntax, with a message
 * per problem), print (field to text that parses back to the same value:
 * durations in d/h/m/s/ms groups, sizes in their largest exact binary
 * unit, doubles with the fewest digits that read back exactly) and
 * release (for owned memory).
 * Lists share one splitter, cfgkey_each_item(), and differ only in what an
 * item is; a continuation line appends, a new key line replaces.
 *
 * Numbers go through strtod() but never accept what a configuration
 * should not mean: hex floats, inf or nan. Ranges are checked in double;
 * every bound in the tables is below 2^53, so a value in range converts
 * exactly.
 *
 * Threads: the configuration's thread only (see cfgkey.h). */
#include "ingest/cfgkey.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ingest/config.h" /* For CONFIG_MAX_GRID. */
#include "proto/codec.h"   /* For CODEC_NAME_MAX. */

#define MS_PER_DAY 86400000LL

/* ---- Messages ---------------------------------------------------------- */

void cfgkey_bad_value(const struct cfgkey_at *at, const struct cfgkey_spec *k,
                      const char *v, const char *fmt, ...)
{
    char why[512];
    va_list ap;

    assert(!at->defaults); /* a built-in default failed its own check */
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    cfgdiag_error(at->diag, at->line, "[%s] %s = '%s': %s", at->label, k->name,
                  v, why);
}

void cfgkey_bad_key(const struct cfgkey_at *at, const struct cfgkey_spec *k,
                    const char *fmt, ...)
{
    char why[512];
    va_list ap;

    assert(!at->defaults);
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    cfgdiag_error(at->diag, at->line, "[%s] %s: %s", at->label, k->name, why);
}

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
bool cfgkey_parse_u64(const char *s, uint64_t *out)
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
bool cfgkey_parse_duration_ms(const char *s, int64_t *out)
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

    if (cfgkey_parse_u64(s, &n)) {
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

void cfgkey_print_duration(FILE *f, int64_t ms)
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
    if (!cfgkey_parse_u64(digits, &v))
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
static void range_text(const struct cfgkey_spec *k, char *buf, size_t cap)
{
    snprintf(buf, cap, "%c%.17g, %.17g%c",
             k->flags & CFGKEY_OPEN_LO ? '(' : '[', k->lo, k->hi,
             k->flags & CFGKEY_OPEN_HI ? ')' : ']');
}

static bool in_range(const struct cfgkey_spec *k, double v)
{
    if (v < k->lo || v > k->hi)
        return false;
    if ((k->flags & CFGKEY_OPEN_LO) && v == k->lo)
        return false;
    return !((k->flags & CFGKEY_OPEN_HI) && v == k->hi);
}

/* ---- Types: string, path, bool, integers, doubles ---------------------- */

static bool t_string_parse(const struct cfgkey_at *at,
                           const struct cfgkey_spec *k, void *base,
                           const char *v, bool append)
{
    char **field = (char **)cfgkey_field(base, k);
    char *copy = NULL;

    (void)append;
    if (*v == '\0' && (k->flags & CFGKEY_NONEMPTY)) {
        cfgkey_bad_key(at, k, "must not be empty");
        return false;
    }
    for (const char *c = v; *c; c++) {
        if ((unsigned char)*c < 0x20) {
            cfgkey_bad_value(at, k, v, "control character");
            return false;
        }
    }
    if (*v != '\0' && (copy = strdup(v)) == NULL) {
        cfgdiag_nomem(at->diag);
        return false;
    }
    free(*field);
    *field = copy;
    return true;
}

static bool t_string_print(FILE *f, const struct cfgkey_spec *k,
                           const void *base)
{
    const char *s = *(char *const *)cfgkey_cfield(base, k);

    if (s == NULL)
        return false;
    fputs(s, f);
    return true;
}

static void t_string_release(const struct cfgkey_spec *k, void *base)
{
    char **field = (char **)cfgkey_field(base, k);

    free(*field);
    *field = NULL;
}

const struct cfgkey_type cfgkey_string = {t_string_parse, t_string_print,
                                          t_string_release, false};

/* A path, made absolute against the configuration file's directory. */
static bool t_path_parse(const struct cfgkey_at *at,
                         const struct cfgkey_spec *k, void *base, const char *v,
                         bool append)
{
    char buf[PATH_MAX];

    if (*v != '\0' && v[0] != '/' && at->base_dir != NULL) {
        if ((size_t)snprintf(buf, sizeof(buf), "%s/%s", at->base_dir, v) >=
            sizeof(buf)) {
            cfgkey_bad_value(at, k, v, "path too long");
            return false;
        }
        v = buf;
    }
    if (*v != '\0' && (k->flags & CFGKEY_READABLE) && !at->defaults &&
        access(v, R_OK) != 0) {
        cfgkey_bad_value(at, k, v, "cannot read %s: %s", v, strerror(errno));
        return false;
    }
    return t_string_parse(at, k, base, v, append);
}

const struct cfgkey_type cfgkey_path = {t_path_parse, t_string_print,
                                        t_string_release, false};

static bool t_bool_parse(const struct cfgkey_at *at,
                         const struct cfgkey_spec *k, void *base, const char *v,
                         bool append)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    bool *field = (bool *)cfgkey_field(base, k);

    (void)append;
    for (int i = 0; i < 4; i++) {
        if (strcmp(v, yes[i]) == 0 || strcmp(v, no[i]) == 0) {
            *field = strcmp(v, yes[i]) == 0;
            return true;
        }
    }
    cfgkey_bad_value(at, k, v, "expected true or false (also yes/no, on/off)");
    return false;
}

static bool t_bool_print(FILE *f, const struct cfgkey_spec *k, const void *base)
{
    fputs(*(const bool *)cfgkey_cfield(base, k) ? "true" : "false", f);
    return true;
}

const struct cfgkey_type cfgkey_bool = {t_bool_parse, t_bool_print, NULL,
                                        false};

static bool t_uint_parse(const struct cfgkey_at *at,
                         const struct cfgkey_spec *k, void *base, const char *v,
                         bool append)
{
    uint64_t x;
    char r[80];

    (void)append;
    if (!cfgkey_parse_u64(v, &x)) {
        cfgkey_bad_value(at, k, v, "expected a whole number%s",
                         *v == '-' ? " (not negative)" : "");
        return false;
    }
    if (!in_range(k, (double)x)) {
        range_text(k, r, sizeof(r));
        cfgkey_bad_value(at, k, v, "must be in %s", r);
        return false;
    }
    store_uint(cfgkey_field(base, k), k->width, x);
    return true;
}

static bool t_uint_print(FILE *f, const struct cfgkey_spec *k, const void *base)
{
    fprintf(f, "%llu",
            (unsigned long long)load_uint(cfgkey_cfield(base, k), k->width));
    return true;
}

const struct cfgkey_type cfgkey_uint = {t_uint_parse, t_uint_print, NULL,
                                        false};

static bool t_int_parse(const struct cfgkey_at *at, const struct cfgkey_spec *k,
                        void *base, const char *v, bool append)
{
    uint64_t x;

    assert(k->width == sizeof(int));
    (void)append;
    if (!cfgkey_parse_u64(v, &x) || !in_range(k, (double)x)) {
        char r[80];
        range_text(k, r, sizeof(r));
        cfgkey_bad_value(at, k, v, "expected a whole number in %s", r);
        return false;
    }
    *(int *)cfgkey_field(base, k) = (int)x;
    return true;
}

static bool t_int_print(FILE *f, const struct cfgkey_spec *k, const void *base)
{
    fprintf(f, "%d", *(const int *)cfgkey_cfield(base, k));
    return true;
}

const struct cfgkey_type cfgkey_int = {t_int_parse, t_int_print, NULL, false};

static bool t_double_parse(const struct cfgkey_at *at,
                           const struct cfgkey_spec *k, void *base,
                           const char *v, bool append)
{
    double x;
    char r[80];

    (void)append;
    if (!parse_double(v, &x)) {
        cfgkey_bad_value(at, k, v, "expected a finite number");
        return false;
    }
    if (!in_range(k, x)) {
        range_text(k, r, sizeof(r));
        cfgkey_bad_value(at, k, v, "must be in %s", r);
        return false;
    }
    *(double *)cfgkey_field(base, k) = x;
    return true;
}

static bool t_double_print(FILE *f, const struct cfgkey_spec *k,
                           const void *base)
{
    double x = *(const double *)cfgkey_cfield(base, k);

    if (!isfinite(x)) /* a sensor bound that is not set */
        return false;
    print_double(f, x);
    return true;
}

const struct cfgkey_type cfgkey_double = {t_double_parse, t_double_print, NULL,
                                          false};

static bool t_duration_parse(const struct cfgkey_at *at,
                             const struct cfgkey_spec *k, void *base,
                             const char *v, bool append)
{
    int64_t ms;

    (void)append;
    if (*v == '-') {
        cfgkey_bad_value(at, k, v, "a duration cannot be negative");
        return false;
    }
    if (!cfgkey_parse_duration_ms(v, &ms)) {
        cfgkey_bad_value(at, k, v,
                         "expected a duration such as 250ms, 30s, 15m, 2h, 1d "
                         "or 1h30m");
        return false;
    }
    if (!in_range(k, (double)ms)) {
        char lo[40];
        char hi[40];
        FILE *a = fmemopen(lo, sizeof(lo), "w");
        FILE *b = fmemopen(hi, sizeof(hi), "w");
        if (a && b) {
            cfgkey_print_duration(a, (int64_t)k->lo);
            cfgkey_print_duration(b, (int64_t)k->hi);
        }
        if (a)
            fclose(a);
        if (b)
            fclose(b);
        cfgkey_bad_value(at, k, v, "must be %s%s and %s",
                         k->flags & CFGKEY_OPEN_LO ? "more than " : "between ",
                         a && b ? lo : "?", a && b ? hi : "?");
        return false;
    }
    *(int64_t *)cfgkey_field(base, k) = ms;
    return true;
}

static bool t_duration_print(FILE *f, const struct cfgkey_spec *k,
                             const void *base)
{
    cfgkey_print_duration(f, *(const int64_t *)cfgkey_cfield(base, k));
    return true;
}

const struct cfgkey_type cfgkey_duration = {t_duration_parse, t_duration_print,
                                            NULL, false};

static bool t_size_parse(const struct cfgkey_at *at,
                         const struct cfgkey_spec *k, void *base, const char *v,
                         bool append)
{
    uint64_t x;

    (void)append;
    if (!parse_size(v, &x)) {
        cfgkey_bad_value(at, k, v,
                         "expected a size such as 4096, 64KiB, 8MiB or 1GiB");
        return false;
    }
    if (!in_range(k, (double)x)) {
        cfgkey_bad_value(at, k, v, "must be between %.0f and %.0f bytes", k->lo,
                         k->hi);
        return false;
    }
    store_uint(cfgkey_field(base, k), k->width, x);
    return true;
}

static bool t_size_print(FILE *f, const struct cfgkey_spec *k, const void *base)
{
    print_size(f, load_uint(cfgkey_cfield(base, k), k->width));
    return true;
}

const struct cfgkey_type cfgkey_size = {t_size_parse, t_size_print, NULL,
                                        false};

/* An enum: names[i] sets values[i] (or i). */
static bool t_enum_parse(const struct cfgkey_at *at,
                         const struct cfgkey_spec *k, void *base, const char *v,
                         bool append)
{
    char list[256] = "";
    size_t n = 0;

    (void)append;
    for (n = 0; k->names[n]; n++) {
        if (strcmp(v, k->names[n]) == 0) {
            int x = k->values ? k->values[n] : (int)n;
            if (k->width == sizeof(bool))
                *(bool *)cfgkey_field(base, k) = x != 0;
            else
                *(int *)cfgkey_field(base, k) = x;
            return true;
        }
    }
    for (size_t i = 0; i < n; i++) {
        strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
        strncat(list, k->names[i], sizeof(list) - strlen(list) - 1);
    }
    cfgkey_bad_value(at, k, v, "expected one of %s", list);
    return false;
}

static bool t_enum_print(FILE *f, const struct cfgkey_spec *k, const void *base)
{
    int x = k->width == sizeof(bool) ? *(const bool *)cfgkey_cfield(base, k)
                                     : *(const int *)cfgkey_cfield(base, k);

    for (size_t i = 0; k->names[i]; i++) {
        if ((k->values ? k->values[i] : (int)i) == x) {
            fputs(k->names[i], f);
            return true;
        }
    }
    return false;
}

const struct cfgkey_type cfgkey_enum = {t_enum_parse, t_enum_print, NULL,
                                        false};

/* ---- Lists ------------------------------------------------------------- */

/* Call item(at, k, base, text) for each comma-separated item of v. A
 * trailing comma is allowed (a list continued on the next line). */
bool cfgkey_each_item(const struct cfgkey_at *at, const struct cfgkey_spec *k,
                      void *base, const char *v,
                      bool (*item)(const struct cfgkey_at *,
                                   const struct cfgkey_spec *, void *,
                                   const char *))
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
            cfgkey_bad_key(at, k, "empty list item");
            return false;
        }
        if (n >= sizeof(buf)) {
            cfgkey_bad_key(at, k, "list item too long");
            return false;
        }
        if (n > 0) {
            memcpy(buf, a, n);
            buf[n] = '\0';
            ok = item(at, k, base, buf) && ok;
        }
        if (comma == NULL)
            break;
        v = comma + 1;
    }
    return ok;
}

static size_t *count_of(const struct cfgkey_spec *k, void *base)
{
    return (size_t *)((char *)base + k->off_n);
}

static size_t count_get(const struct cfgkey_spec *k, const void *base)
{
    return *(const size_t *)((const char *)base + k->off_n);
}

/* Lists of doubles: learning_rates, l2. */
static bool double_item(const struct cfgkey_at *at, const struct cfgkey_spec *k,
                        void *base, const char *s)
{
    double *arr = (double *)cfgkey_field(base, k);
    size_t *n = count_of(k, base);
    double x;
    char r[80];

    if (!parse_double(s, &x) || !in_range(k, x)) {
        range_text(k, r, sizeof(r));
        cfgkey_bad_value(at, k, s, "expected numbers in %s", r);
        return false;
    }
    for (size_t i = 0; i < *n; i++) {
        if (arr[i] == x) {
            cfgkey_bad_value(at, k, s, "listed twice");
            return false;
        }
    }
    if (*n == CONFIG_MAX_GRID) {
        cfgkey_bad_key(at, k, "more than %d values", CONFIG_MAX_GRID);
        return false;
    }
    arr[(*n)++] = x;
    return true;
}

static bool t_doubles_parse(const struct cfgkey_at *at,
                            const struct cfgkey_spec *k, void *base,
                            const char *v, bool append)
{
    if (!append)
        *count_of(k, base) = 0;
    return cfgkey_each_item(at, k, base, v, double_item);
}

static bool t_doubles_print(FILE *f, const struct cfgkey_spec *k,
                            const void *base)
{
    const double *arr = (const double *)cfgkey_cfield(base, k);

    for (size_t i = 0; i < count_get(k, base); i++) {
        fputs(i ? ", " : "", f);
        print_double(f, arr[i]);
    }
    return true;
}

const struct cfgkey_type cfgkey_doubles = {t_doubles_parse, t_doubles_print,
                                           NULL, true};

/* Lists of enum values (models, optimizers), stored as int. */
static bool enum_item(const struct cfgkey_at *at, const struct cfgkey_spec *k,
                      void *base, const char *s)
{
    int *arr = (int *)cfgkey_field(base, k);
    size_t *n = count_of(k, base);
    size_t i;

    for (i = 0; k->names[i] && strcmp(k->names[i], s) != 0; i++)
        ;
    if (k->names[i] == NULL) {
        int tmp;
        struct cfgkey_spec one = *k;
        one.off = 0;
        return t_enum_parse(at, &one, &tmp, s, false); /* for its message */
    }
    for (size_t j = 0; j < *n; j++) {
        if (arr[j] == k->values[i]) {
            cfgkey_bad_value(at, k, s, "listed twice");
            return false;
        }
    }
    if (*n == (size_t)k->hi) {
        cfgkey_bad_key(at, k, "too many values");
        return false;
    }
    arr[(*n)++] = k->values[i];
    return true;
}

static bool t_enums_parse(const struct cfgkey_at *at,
                          const struct cfgkey_spec *k, void *base,
                          const char *v, bool append)
{
    if (!append)
        *count_of(k, base) = 0;
    return cfgkey_each_item(at, k, base, v, enum_item);
}

static bool t_enums_print(FILE *f, const struct cfgkey_spec *k,
                          const void *base)
{
    const int *arr = (const int *)cfgkey_cfield(base, k);

    for (size_t i = 0; i < count_get(k, base); i++) {
        for (size_t j = 0; k->names[j]; j++)
            if (k->values[j] == arr[i])
                fprintf(f, "%s%s", i ? ", " : "", k->names[j]);
    }
    return true;
}

const struct cfgkey_type cfgkey_enums = {t_enums_parse, t_enums_print, NULL,
                                         true};

/* Class labels: distinct non-empty strings (field char **, count at off_n). */
static bool class_item(const struct cfgkey_at *at, const struct cfgkey_spec *k,
                       void *base, const char *s)
{
    char ***arr = (char ***)cfgkey_field(base, k);
    size_t *n = count_of(k, base);
    char **grown;

    if (strlen(s) > CODEC_NAME_MAX) {
        cfgkey_bad_value(at, k, s, "longer than %d bytes", CODEC_NAME_MAX);
        return false;
    }
    for (size_t i = 0; i < *n; i++) {
        if (strcmp((*arr)[i], s) == 0) {
            cfgkey_bad_value(at, k, s, "listed twice");
            return false;
        }
    }
    if (*n == (size_t)k->hi) {
        cfgkey_bad_key(at, k, "more than %.0f values", k->hi);
        return false;
    }
    if ((grown = realloc(*arr, (*n + 1) * sizeof(*grown))) == NULL) {
        cfgdiag_nomem(at->diag);
        return false;
    }
    *arr = grown;
    if ((grown[*n] = strdup(s)) == NULL) {
        cfgdiag_nomem(at->diag);
        return false;
    }
    (*n)++;
    return true;
}

static void t_strings_release(const struct cfgkey_spec *k, void *base)
{
    char ***arr = (char ***)cfgkey_field(base, k);
    size_t *n = count_of(k, base);

    for (size_t i = 0; i < *n; i++)
        free((*arr)[i]);
    free(*arr);
    *arr = NULL;
    *n = 0;
}

static bool t_strings_parse(const struct cfgkey_at *at,
                            const struct cfgkey_spec *k, void *base,
                            const char *v, bool append)
{
    if (!append)
        t_strings_release(k, base);
    return cfgkey_each_item(at, k, base, v, class_item);
}

static bool t_strings_print(FILE *f, const struct cfgkey_spec *k,
                            const void *base)
{
    char *const *arr = *(char **const *)cfgkey_cfield(base, k);
    size_t n = count_get(k, base);

    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s%s", i ? ", " : "", arr[i]);
    return n > 0;
}

const struct cfgkey_type cfgkey_strings = {t_strings_parse, t_strings_print,
                                           t_strings_release, true};
