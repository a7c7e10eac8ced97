/* prom.c -- Prometheus text exposition writer (see prom.h).
 *
 * Cost: one pass over each string; a sample is a few appends into the
 * caller's buffer. A scrape of a few hundred samples is microseconds.
 *
 * Threads: none; pure functions on the caller's buffer. */
#include "ingest/prom.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool name_char(char ch, bool first, bool colon)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_')
        return true;
    if (colon && ch == ':')
        return true;
    return !first && ch >= '0' && ch <= '9';
}

static bool name_ok(const char *name, bool colon)
{
    if (name == NULL || name[0] == '\0')
        return false;
    for (size_t i = 0; name[i]; i++)
        if (!name_char(name[i], i == 0, colon))
            return false;
    return true;
}

bool prom_name_ok(const char *name)
{
    return name_ok(name, true);
}

static bool label_name_ok(const char *name)
{
    return name_ok(name, false) && strncmp(name, "__", 2) != 0;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    size_t n;
    unsigned cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, cp = c & 0x07;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0; /* also stops at the NUL terminator */
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0; /* overlong, out of range or a surrogate */
    return n;
}

/* Append s escaped: backslash and newline always, '"' if quote. */
static int append_escaped(struct http_buf *b, const char *s, bool quote)
{
    const unsigned char *p = (const unsigned char *)s;
    int rc = 0;

    while (*p && rc == 0) {
        size_t n = utf8_len(p);
        if (n == 0) {
            rc = http_buf_append(b, "\xef\xbf\xbd", 3);
            p++;
        } else if (*p == '\\') {
            rc = http_buf_append(b, "\\\\", 2);
            p++;
        } else if (*p == '\n') {
            rc = http_buf_append(b, "\\n", 2);
            p++;
        } else if (*p == '"' && quote) {
            rc = http_buf_append(b, "\\\"", 2);
            p++;
        } else {
            rc = http_buf_append(b, p, n);
            p += n;
        }
    }
    return rc;
}

int prom_family(struct http_buf *b, const char *name, enum prom_type type,
                const char *help)
{
    static const char *const types[] = {"counter", "gauge", "untyped"};
    int rc;

    if (!prom_name_ok(name) || (unsigned)type > PROM_UNTYPED)
        return -EINVAL;
    if ((rc = http_buf_printf(b, "# HELP %s ", name)) < 0 ||
        (rc = append_escaped(b, help ? help : "", false)) < 0)
        return rc;
    return http_buf_printf(b, "\n# TYPE %s %s\n", name, types[type]);
}

/* "name{...} " with checks; the value follows. */
static int sample_head(struct http_buf *b, const char *name,
                       const struct prom_label *labels, size_t nlabels)
{
    int rc;

    if (!prom_name_ok(name) || (nlabels > 0 && labels == NULL))
        return -EINVAL;
    for (size_t i = 0; i < nlabels; i++) {
        if (!label_name_ok(labels[i].name) || labels[i].value == NULL)
            return -EINVAL;
        for (size_t j = 0; j < i; j++)
            if (strcmp(labels[i].name, labels[j].name) == 0)
                return -EINVAL;
    }
    if ((rc = http_buf_append(b, name, strlen(name))) < 0)
        return rc;
    for (size_t i = 0; i < nlabels; i++) {
        if ((rc = http_buf_printf(b, "%s%s=\"", i ? "," : "{",
                                  labels[i].name)) < 0 ||
            (rc = append_escaped(b, labels[i].value, true)) < 0 ||
            (rc = http_buf_append(b, "\"", 1)) < 0)
            return rc;
    }
    return http_buf_append(b, nlabels ? "} " : " ", nlabels ? 2 : 1);
}

int prom_sample(struct http_buf *b, const char *name,
                const struct prom_label *labels, size_t nlabels, double value)
{
    int rc = sample_head(b, name, labels, nlabels);

    if (rc < 0)
        return rc;
    if (isnan(value))
        return http_buf_printf(b, "NaN\n");
    if (isinf(value))
        return http_buf_printf(b, "%cInf\n", value > 0 ? '+' : '-');
    /* The shortest of %.15g..%.17g that reads back exactly. */
    for (int prec = 15;; prec++) {
        char tmp[40];
        snprintf(tmp, sizeof(tmp), "%.*g", prec, value);
        if (prec == 17 || strtod(tmp, NULL) == value)
            return http_buf_printf(b, "%s\n", tmp);
    }
}

int prom_sample_u64(struct http_buf *b, const char *name,
                    const struct prom_label *labels, size_t nlabels,
                    uint64_t value)
{
    int rc = sample_head(b, name, labels, nlabels);

    if (rc < 0)
        return rc;
    return http_buf_printf(b, "%llu\n", (unsigned long long)value);
}
