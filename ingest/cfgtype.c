/* cfgtype.c -- the value types of weir's own keys (see cfgtype.h).
 *
 * Each is a struct cfgkey_type like the generic ones of ingest/cfgkey.c,
 * but knows its section's struct: a broker URI list fills config_mqtt's
 * array, a subscription topic also sets its MQTT filter, a target or a
 * feature list are stream/rows.h terms, a window is rows or data time, a
 * listen address is a host and port or off. Their messages say what to
 * write instead, since these are the values people get wrong.
 *
 * Threads: the configuration's thread only (see cfgtype.h). */
#include "ingest/cfgtype.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/config.h" /* For the section structs. */
#include "ingest/topic.h"  /* For topic_template_parse(). */
#include "proto/codec.h"   /* For CODEC_NAME_MAX. */

#define MS_PER_DAY 86400000LL

/* ---- Broker URIs ------------------------------------------------------- */

/* Broker URIs: scheme://host[:port][/path]. */
static bool uri_item(const struct cfgkey_at *at, const struct cfgkey_spec *k,
                     void *base, const char *s)
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
        cfgkey_bad_value(at, k, s,
                         "expected tcp://, mqtt://, ssl://, mqtts://, ws:// or "
                         "wss:// followed by host[:port]");
        return false;
    }
    end = host + strcspn(host, "/");
    colon = host[0] == '[' ? strstr(host, "]:") : memchr(host, ':', end - host);
    if (colon && host[0] == '[')
        colon++;
    if (end == host || colon == host || strpbrk(s, " \t") != NULL) {
        cfgkey_bad_value(at, k, s, "no host");
        return false;
    }
    if (colon && colon < end) {
        char port[8] = "";
        uint64_t n;
        size_t pl = (size_t)(end - colon - 1);
        if (pl < sizeof(port))
            memcpy(port, colon + 1, pl);
        if (pl >= sizeof(port) || !cfgkey_parse_u64(port, &n) || n == 0 ||
            n > 65535) {
            cfgkey_bad_value(at, k, s, "bad port");
            return false;
        }
    }
    if (m->nuris == CONFIG_MAX_URIS) {
        cfgkey_bad_key(at, k, "more than %d URIs", CONFIG_MAX_URIS);
        return false;
    }
    if ((copy = strdup(s)) == NULL) {
        cfgdiag_nomem(at->diag);
        return false;
    }
    m->uris[m->nuris++] = copy;
    return true;
}

static void t_uris_release(const struct cfgkey_spec *k, void *base)
{
    struct config_mqtt *m = base;

    (void)k;
    for (size_t i = 0; i < m->nuris; i++)
        free(m->uris[i]);
    m->nuris = 0;
}

static bool t_uris_parse(const struct cfgkey_at *at,
                         const struct cfgkey_spec *k, void *base, const char *v,
                         bool append)
{
    if (!append)
        t_uris_release(k, base);
    return cfgkey_each_item(at, k, base, v, uri_item);
}

static bool t_uris_print(FILE *f, const struct cfgkey_spec *k, const void *base)
{
    const struct config_mqtt *m = base;

    (void)k;
    for (size_t i = 0; i < m->nuris; i++)
        fprintf(f, "%s%s", i ? ", " : "", m->uris[i]);
    return true;
}

const struct cfgkey_type cfgtype_uris = {t_uris_parse, t_uris_print,
                                         t_uris_release, true};

/* ---- Topic templates --------------------------------------------------- */

/* Check template t against the placeholders allowed in names[] (all of
 * them required when required is set). On success *levels has, for each
 * placeholder, its level index (or -1). */
static bool template_check(const struct cfgkey_at *at,
                           const struct cfgkey_spec *k, const char *t,
                           bool wildcards, bool required, int *levels)
{
    int level = 0;
    size_t nn = 0;

    while (k->names[nn])
        levels[nn++] = -1;
    if (*t == '\0') {
        cfgkey_bad_key(at, k, "must not be empty");
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
                cfgkey_bad_value(at, k, t, "unknown placeholder %.*s", (int)n,
                                 s);
                return false;
            }
            if (levels[i] >= 0) {
                cfgkey_bad_value(at, k, t, "{%s} appears twice", k->names[i]);
                return false;
            }
            levels[i] = level;
        } else if (memchr(s, '{', n) || memchr(s, '}', n)) {
            cfgkey_bad_value(at, k, t,
                             "a placeholder must be a whole topic level, like "
                             "sensors/{device}/{sensor}");
            return false;
        } else if (memchr(s, '+', n) || memchr(s, '#', n)) {
            bool ok = wildcards && n == 1 && (s[0] == '+' || last);
            if (!ok) {
                cfgkey_bad_value(at, k, t, "%s",
                                 wildcards
                                     ? "'+' must be a whole level and '#' the "
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
            cfgkey_bad_value(at, k, t, "needs {%s}", k->names[i]);
            return false;
        }
    }
    return true;
}

/* A template is kept as its text: a string's print and release. */
static bool topic_print(FILE *f, const struct cfgkey_spec *k, const void *base)
{
    return cfgkey_string.print(f, k, base);
}

static void topic_release(const struct cfgkey_spec *k, void *base)
{
    cfgkey_string.release(k, base);
}

/* An output topic template ([topics]). */
static bool t_outtopic_parse(const struct cfgkey_at *at,
                             const struct cfgkey_spec *k, void *base,
                             const char *v, bool append)
{
    int levels[4];

    if (!template_check(at, k, v, false, true, levels))
        return false;
    return cfgkey_string.parse(at, k, base, v, append);
}

const struct cfgkey_type cfgtype_outtopic = {t_outtopic_parse, topic_print,
                                             topic_release, false};

/* A subscription's topic: parsed as the daemon will (ingest/topic.h), and
 * stricter: an unknown {placeholder} is refused as a likely typo. */
static bool t_intopic_parse(const struct cfgkey_at *at,
                            const struct cfgkey_spec *k, void *base,
                            const char *v, bool append)
{
    struct config_subscription *s = base;
    struct topic_template *tt = malloc(sizeof(*tt));
    char err[160];
    int levels[4];
    char *filter;

    if (tt == NULL) {
        cfgdiag_nomem(at->diag);
        return false;
    }
    /* Ours first: its messages say what to write instead. */
    if (!template_check(at, k, v, true, false, levels)) {
        free(tt);
        return false;
    }
    if (topic_template_parse(v, tt, err, sizeof(err)) < 0) {
        cfgkey_bad_value(at, k, v, "%s", err);
        free(tt);
        return false;
    }
    if ((filter = strdup(tt->filter)) == NULL) {
        cfgdiag_nomem(at->diag);
        free(tt);
        return false;
    }
    if (!cfgkey_string.parse(at, k, base, v, append)) {
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

static void t_intopic_release(const struct cfgkey_spec *k, void *base)
{
    struct config_subscription *s = base;

    cfgkey_string.release(k, base);
    free(s->filter);
    s->filter = NULL;
}

const struct cfgkey_type cfgtype_intopic = {t_intopic_parse, topic_print,
                                            t_intopic_release, false};

/* ---- Terms (rows specs) ------------------------------------------------ */

static bool parse_term(const struct cfgkey_at *at, const struct cfgkey_spec *k,
                       const char *s, struct rows_spec *out)
{
    const char *sign = strrchr(s, '@');

    if (rows_spec_parse(s, out) == 0)
        return true;
    if (sign && sign[1] == '-')
        cfgkey_bad_value(at, k, s, "a lag is @-k with k from 1 to %u",
                         ROWS_MAX_LAG);
    else if (sign && sign[1] == '+')
        cfgkey_bad_value(
            at, k, s,
            "a horizon is @+ and a positive duration with one unit "
            "(ms, s, m, h, d), at most 365d, e.g. co2@+15m");
    else
        cfgkey_bad_value(at, k, s,
                         "a sensor name is 1..%d bytes without '/', '+', '#', "
                         "spaces or control characters",
                         CODEC_NAME_MAX);
    return false;
}

static bool t_target_parse(const struct cfgkey_at *at,
                           const struct cfgkey_spec *k, void *base,
                           const char *v, bool append)
{
    struct config_task *t = base;

    (void)append;
    if (!parse_term(at, k, v, &t->target))
        return false;
    t->has_target = true;
    return true;
}

static bool t_target_print(FILE *f, const struct cfgkey_spec *k,
                           const void *base)
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

const struct cfgkey_type cfgtype_target = {t_target_parse, t_target_print, NULL,
                                           false};

static bool feature_item(const struct cfgkey_at *at,
                         const struct cfgkey_spec *k, void *base, const char *s)
{
    struct config_task *t = base;
    struct rows_spec spec;
    struct rows_spec *grown;

    if (!parse_term(at, k, s, &spec))
        return false;
    if (spec.horizon_ms > 0) {
        cfgkey_bad_value(at, k, s,
                         "a feature cannot look ahead (@+ is for the target)");
        return false;
    }
    for (size_t i = 0; i < t->nfeatures; i++) {
        if (strcmp(t->features[i].name, spec.name) == 0 &&
            t->features[i].lag == spec.lag) {
            cfgkey_bad_value(at, k, s, "listed twice");
            return false;
        }
    }
    if (t->nfeatures == ROWS_MAX_FEATURES) {
        cfgkey_bad_key(at, k, "more than %u features", ROWS_MAX_FEATURES);
        return false;
    }
    grown = realloc(t->features, (t->nfeatures + 1) * sizeof(*grown));
    if (grown == NULL) {
        cfgdiag_nomem(at->diag);
        return false;
    }
    t->features = grown;
    t->features[t->nfeatures++] = spec;
    return true;
}

static void t_features_release(const struct cfgkey_spec *k, void *base)
{
    struct config_task *t = base;

    (void)k;
    free(t->features);
    t->features = NULL;
    t->nfeatures = 0;
}

static bool t_features_parse(const struct cfgkey_at *at,
                             const struct cfgkey_spec *k, void *base,
                             const char *v, bool append)
{
    if (!append)
        t_features_release(k, base);
    return cfgkey_each_item(at, k, base, v, feature_item);
}

static bool t_features_print(FILE *f, const struct cfgkey_spec *k,
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

const struct cfgkey_type cfgtype_features = {t_features_parse, t_features_print,
                                             t_features_release, true};

/* window = "500 rows" or a duration. */
static bool t_window_parse(const struct cfgkey_at *at,
                           const struct cfgkey_spec *k, void *base,
                           const char *v, bool append)
{
    struct config_task *t = base;
    char num[24];
    size_t n = strspn(v, "0123456789");
    const char *unit = v + n + strspn(v + n, " ");
    uint64_t rows;
    int64_t ms;

    (void)append;
    if (*v == '-') {
        cfgkey_bad_value(at, k, v, "a window cannot be negative");
        return false;
    }
    if (n > 0 && n < sizeof(num) &&
        (strcmp(unit, "rows") == 0 || strcmp(unit, "row") == 0)) {
        memcpy(num, v, n);
        num[n] = '\0';
        if (!cfgkey_parse_u64(num, &rows) || rows < 10 || rows > 100000000) {
            cfgkey_bad_value(at, k, v, "must be 10 to 100000000 rows");
            return false;
        }
        t->window_rows = rows;
        t->window_ms = 0;
        return true;
    }
    if (n > 0 && v[n] == '\0') {
        cfgkey_bad_value(
            at, k, v, "needs a unit: '%s rows', or a duration such as 30m", v);
        return false;
    }
    if (!cfgkey_parse_duration_ms(v, &ms) || ms < 1000 ||
        ms > 30 * MS_PER_DAY) {
        cfgkey_bad_value(at, k, v,
                         "expected a number of rows ('500 rows') or a duration "
                         "from 1s to 30d ('1h')");
        return false;
    }
    t->window_ms = ms;
    t->window_rows = 0;
    return true;
}

static bool t_window_print(FILE *f, const struct cfgkey_spec *k,
                           const void *base)
{
    const struct config_task *t = base;

    (void)k;
    if (t->window_rows > 0)
        fprintf(f, "%llu rows", (unsigned long long)t->window_rows);
    else
        cfgkey_print_duration(f, t->window_ms);
    return true;
}

const struct cfgkey_type cfgtype_window = {t_window_parse, t_window_print, NULL,
                                           false};

/* listen = host:port | [v6]:port | off */
static bool t_listen_parse(const struct cfgkey_at *at,
                           const struct cfgkey_spec *k, void *base,
                           const char *v, bool append)
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
    if (colon == NULL || !cfgkey_parse_u64(colon + 1, &port) || port > 65535)
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
        cfgdiag_nomem(at->diag);
        return false;
    }
    h->port = (int)port;
    h->enabled = true;
    return true;
bad:
    cfgkey_bad_value(at, k, v,
                     "expected a numeric address and port (127.0.0.1:9107, "
                     "[::1]:9107, 127.0.0.1:0 for any free port) or off");
    return false;
}

static bool t_listen_print(FILE *f, const struct cfgkey_spec *k,
                           const void *base)
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

static void t_listen_release(const struct cfgkey_spec *k, void *base)
{
    struct config_http *h = base;

    (void)k;
    free(h->host);
    h->host = NULL;
}

const struct cfgkey_type cfgtype_listen = {t_listen_parse, t_listen_print,
                                           t_listen_release, false};
