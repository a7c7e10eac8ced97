/* topic.c -- topic templates: parse once at start-up into a level table,
 * then match each incoming topic in one left-to-right pass with no
 * allocation and no copying (captures are slices of the topic).
 *
 * Cost model: a match walks the topic once, comparing literal levels with
 * memcmp; for the usual 3-level templates that is a few tens of ns, small
 * next to the decode. The daemon tries its subscriptions in order and takes
 * the first template that matches.
 *
 * Threads: parse runs at start-up; templates are immutable values after it,
 * and match and render touch only their arguments, so any thread may call
 * them. */
#include "ingest/topic.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/* Classify the level text[0..n) of a template. */
static int level_kind(const char *p, size_t n, struct topic_template *t,
                      char *err, size_t errlen)
{
    if (n == 1 && p[0] == '+')
        return TOPIC_PLUS;
    if (n == 1 && p[0] == '#')
        return TOPIC_HASH;
    if (n >= 2 && p[0] == '{' && p[n - 1] == '}') {
        if (memchr(p + 1, '{', n - 2) || memchr(p + 1, '}', n - 2) || n == 2)
            return fail(err, errlen, "bad placeholder in \"%s\"", t->text);
        if (n == 8 && memcmp(p, "{device}", 8) == 0) {
            if (t->has_device)
                return fail(err, errlen, "{device} twice in \"%s\"", t->text);
            t->has_device = true;
            return TOPIC_DEVICE;
        }
        if (n == 8 && memcmp(p, "{sensor}", 8) == 0) {
            if (t->has_sensor)
                return fail(err, errlen, "{sensor} twice in \"%s\"", t->text);
            t->has_sensor = true;
            return TOPIC_SENSOR;
        }
        return TOPIC_PLUS;
    }
    if (memchr(p, '+', n) || memchr(p, '#', n) || memchr(p, '{', n) ||
        memchr(p, '}', n))
        return fail(err, errlen, "wildcard or brace inside a level of \"%s\"",
                    t->text);
    return TOPIC_LITERAL;
}

/* Append a level to the filter; literals keep their text. */
static void filter_put(struct topic_template *t, size_t *flen, const char *p,
                       size_t n, int kind)
{
    struct topic_level *lv = &t->level[t->nlevels++];

    if (*flen > 0)
        t->filter[(*flen)++] = '/';
    lv->kind = (unsigned char)kind;
    lv->off = (unsigned short)*flen;
    if (kind == TOPIC_LITERAL) {
        memcpy(t->filter + *flen, p, n);
        lv->len = (unsigned short)n;
        *flen += n;
    } else {
        t->filter[(*flen)++] = kind == TOPIC_HASH ? '#' : '+';
        lv->len = 1;
    }
    t->filter[*flen] = '\0';
}

int topic_template_parse(const char *text, struct topic_template *out,
                         char *err, size_t errlen)
{
    size_t len = strlen(text);
    size_t flen = 0;
    const char *p = text;

    memset(out, 0, sizeof(*out));
    if (len == 0 || len > TOPIC_TEMPLATE_MAX)
        return fail(err, errlen, "topic template empty or over %d bytes",
                    TOPIC_TEMPLATE_MAX);
    memcpy(out->text, text, len + 1);
    for (;;) {
        const char *slash = memchr(p, '/', (size_t)(text + len - p));
        size_t n = slash ? (size_t)(slash - p) : (size_t)(text + len - p);
        int kind = level_kind(p, n, out, err, errlen);
        if (kind < 0)
            return kind;
        if (out->nlevels == TOPIC_MAX_LEVELS)
            return fail(err, errlen, "over %d levels in \"%s\"",
                        TOPIC_MAX_LEVELS, text);
        if (kind == TOPIC_HASH && slash != NULL)
            return fail(err, errlen, "'#' must be the last level in \"%s\"",
                        text);
        filter_put(out, &flen, p, n, kind);
        if (slash == NULL)
            break;
        p = slash + 1;
    }
    return 0;
}

bool topic_template_match(const struct topic_template *t, const char *topic,
                          size_t len, struct topic_match *m)
{
    struct topic_match local = {NULL, 0, NULL, 0};
    const char *p = topic;
    const char *end = topic + len;
    size_t i;

    if (len > 0 && topic[0] == '$' && t->level[0].kind != TOPIC_LITERAL)
        return false;
    for (i = 0; i < t->nlevels; i++) {
        const struct topic_level *lv = &t->level[i];
        const char *slash;
        size_t n;
        if (lv->kind == TOPIC_HASH)
            goto matched;
        if (p > end)
            return false; /* the topic ran out of levels */
        slash = memchr(p, '/', (size_t)(end - p));
        n = slash ? (size_t)(slash - p) : (size_t)(end - p);
        if (lv->kind == TOPIC_LITERAL) {
            if (n != lv->len || memcmp(p, t->filter + lv->off, n) != 0)
                return false;
        } else if (lv->kind == TOPIC_DEVICE) {
            local.device = p;
            local.device_len = n;
        } else if (lv->kind == TOPIC_SENSOR) {
            local.sensor = p;
            local.sensor_len = n;
        }
        if ((lv->kind == TOPIC_DEVICE || lv->kind == TOPIC_SENSOR) && n == 0)
            return false;
        p = slash ? slash + 1 : end + 1;
    }
    if (p <= end)
        return false; /* the topic has more levels */
matched:
    if (m != NULL)
        *m = local;
    return true;
}

size_t topic_render(const char *tpl, const char *const *keys,
                    const char *const *vals, size_t n, char *buf, size_t cap)
{
    size_t out = 0;
    const char *p = tpl;

    while (*p != '\0') {
        const char *close = p[0] == '{' ? strchr(p, '}') : NULL;
        const char *put = p;
        size_t plen = 1;
        size_t i;
        for (i = 0; close != NULL && i < n; i++) {
            size_t klen = strlen(keys[i]);
            if ((size_t)(close - p - 1) == klen &&
                memcmp(p + 1, keys[i], klen) == 0 && vals[i] != NULL) {
                put = vals[i];
                plen = strlen(vals[i]);
                break;
            }
        }
        if (close != NULL && put != p)
            p = close + 1;
        else
            p++;
        if (out < cap)
            memcpy(buf + out, put, out + plen < cap ? plen : cap - out);
        out += plen;
    }
    if (cap > 0)
        buf[out < cap ? out : cap - 1] = '\0';
    return out;
}
