/* json.c -- JSON and SenML payloads <-> struct codec_msg (formats: json.h).
 *
 * Decoding is two stages. json_scan() walks the raw bytes once, without
 * allocating, and checks them against the RFC 8259 grammar plus weir's
 * limits: UTF-8 (RFC 3629), escapes and surrogate pairs, the number
 * grammar, nesting depth, entries per container and trailing bytes. cJSON
 * is lenient where we must not be (it takes "01", "1.", raw control
 * characters, lone surrogates' neighbours, a BOM, NUL-truncated strings)
 * and its parser recurses, so it only ever sees text that passed the
 * scan; its tree is then read member by member with exact type checks and
 * a duplicate-key check on every object weir interprets. A payload thus
 * costs at most one scan, one cJSON tree of at most CODEC_MAX_PAYLOAD
 * bytes' worth of nodes, and a walk; JSON is the slow path next to
 * protobuf (codec.c), chosen for interoperability, not speed.
 *
 * "\u0000" cannot survive cJSON (its strings are NUL-terminated), so the
 * scan notes it and the decoders report bad_name if the payload would
 * otherwise be accepted or refused for a name: every string weir keeps is
 * a name, and names may not hold NUL.
 *
 * Builds with -DCODEC_CROSSCHECK=1 (make fuzz) abort if cJSON refuses a
 * text the scan accepted, so the two grammars are checked against each
 * other by the fuzzer.
 *
 * The encoders print into the caller's buffer with no allocation; doubles
 * are written with the fewest significant digits (15 to 17) that read back
 * to the same bits.
 *
 * Threads: pure functions; see json.h for cJSON's one process-wide write. */
#include "proto/json.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef CODEC_CROSSCHECK
#define CODEC_CROSSCHECK 0 /* 1: abort when cJSON disagrees with json_scan */
#endif

#define JSON_INT_MAX 9007199254740991.0 /* 2^53 - 1 */
#define SENML_ABSOLUTE 268435456.0      /* 2^28 s: absolute time from here */

enum {
    JSON_NUMBER_MAX = 63, /* characters of a number (cJSON's buffer) */
    SENML_VERSION = 10,   /* RFC 8428's bver */
    DUP_SLOTS = 1024,     /* > 2 * JSON_MAX_MEMBERS: hash of keys */
};

_Static_assert(DUP_SLOTS >= 2 * JSON_MAX_MEMBERS, "duplicate-key table");

/* ---- Scan: RFC 8259 validation without allocation ------------------------ */

struct scan {
    const uint8_t *p; /* The text. */
    size_t len;       /* Its length. */
    size_t at;        /* Next byte to read. */
    bool nul;         /* A string holds \u0000. */
};

static int scan_value(struct scan *s, int depth);

static void scan_ws(struct scan *s)
{
    while (s->at < s->len && (s->p[s->at] == ' ' || s->p[s->at] == '\t' ||
                              s->p[s->at] == '\n' || s->p[s->at] == '\r'))
        s->at++;
}

/* Length of the well-formed UTF-8 sequence at p (n bytes left), or 0. */
static size_t utf8_seq(const uint8_t *p, size_t n)
{
    unsigned c = p[0];
    unsigned lo = 0x80;
    unsigned hi = 0xbf;
    size_t k;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        k = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        k = 3;
        lo = c == 0xe0 ? 0xa0 : 0x80;
        hi = c == 0xed ? 0x9f : 0xbf;
    } else if (c >= 0xf0 && c <= 0xf4) {
        k = 4;
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf;
    } else {
        return 0;
    }
    if (n < k || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < k; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return k;
}

/* Four hex digits at p[at..at+4) -> *cp; false if not all hex. */
static bool scan_hex4(const struct scan *s, size_t at, unsigned *cp)
{
    unsigned v = 0;

    if (s->len - at < 4)
        return false;
    for (size_t i = at; i < at + 4; i++) {
        unsigned c = s->p[i];
        unsigned d = c >= '0' && c <= '9'   ? c - '0'
                     : c >= 'a' && c <= 'f' ? c - 'a' + 10
                     : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                            : 16;
        if (d == 16)
            return false;
        v = v << 4 | d;
    }
    *cp = v;
    return true;
}

/* An escape at s->at (the backslash). Surrogates must pair up. */
static int scan_escape(struct scan *s)
{
    unsigned cp;
    unsigned lo;

    if (s->len - s->at < 2)
        return -EBADMSG;
    if (strchr("\"\\/bfnrt", s->p[s->at + 1]) != NULL &&
        s->p[s->at + 1] != '\0') {
        s->at += 2;
        return 0;
    }
    if (s->p[s->at + 1] != 'u' || !scan_hex4(s, s->at + 2, &cp))
        return -EBADMSG;
    s->at += 6;
    if (cp == 0)
        s->nul = true;
    if (cp >= 0xdc00 && cp <= 0xdfff)
        return -EBADMSG; /* a low surrogate first */
    if (cp < 0xd800 || cp > 0xdbff)
        return 0;
    if (s->len - s->at < 6 || s->p[s->at] != '\\' || s->p[s->at + 1] != 'u' ||
        !scan_hex4(s, s->at + 2, &lo) || lo < 0xdc00 || lo > 0xdfff)
        return -EBADMSG;
    s->at += 6;
    return 0;
}

static int scan_string(struct scan *s)
{
    s->at++; /* the opening quote */
    while (s->at < s->len) {
        uint8_t c = s->p[s->at];
        size_t k;
        if (c == '"') {
            s->at++;
            return 0;
        }
        if (c == '\\') {
            if (scan_escape(s) != 0)
                return -EBADMSG;
            continue;
        }
        if (c < 0x20)
            return -EBADMSG; /* control characters must be escaped */
        k = utf8_seq(s->p + s->at, s->len - s->at);
        if (k == 0)
            return -EBADMSG;
        s->at += k;
    }
    return -EBADMSG; /* unterminated */
}

static size_t scan_digits(struct scan *s)
{
    size_t start = s->at;

    while (s->at < s->len && s->p[s->at] >= '0' && s->p[s->at] <= '9')
        s->at++;
    return s->at - start;
}

/* -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static int scan_number(struct scan *s)
{
    size_t start = s->at;

    if (s->p[s->at] == '-')
        s->at++;
    if (s->at < s->len && s->p[s->at] == '0')
        s->at++;
    else if (scan_digits(s) == 0)
        return -EBADMSG;
    if (s->at < s->len && s->p[s->at] == '.') {
        s->at++;
        if (scan_digits(s) == 0)
            return -EBADMSG;
    }
    if (s->at < s->len && (s->p[s->at] == 'e' || s->p[s->at] == 'E')) {
        s->at++;
        if (s->at < s->len && (s->p[s->at] == '+' || s->p[s->at] == '-'))
            s->at++;
        if (scan_digits(s) == 0)
            return -EBADMSG;
    }
    return s->at - start > JSON_NUMBER_MAX ? -EBADMSG : 0;
}

static int scan_literal(struct scan *s, const char *word)
{
    size_t n = strlen(word);

    if (s->len - s->at < n || memcmp(s->p + s->at, word, n) != 0)
        return -EBADMSG;
    s->at += n;
    return 0;
}

/* An object or array at s->at; depth counts the containers around it. */
static int scan_container(struct scan *s, int depth)
{
    uint8_t close = s->p[s->at] == '{' ? '}' : ']';
    size_t n = 0;

    if (depth >= JSON_MAX_DEPTH)
        return -EBADMSG;
    s->at++;
    scan_ws(s);
    if (s->at < s->len && s->p[s->at] == close) {
        s->at++;
        return 0;
    }
    for (;;) {
        int rc;
        if (++n > JSON_MAX_MEMBERS)
            return -EMSGSIZE;
        if (close == '}') {
            if (s->at >= s->len || s->p[s->at] != '"' || scan_string(s))
                return -EBADMSG;
            scan_ws(s);
            if (s->at >= s->len || s->p[s->at++] != ':')
                return -EBADMSG;
            scan_ws(s);
        }
        if ((rc = scan_value(s, depth + 1)) != 0)
            return rc;
        scan_ws(s);
        if (s->at >= s->len)
            return -EBADMSG;
        if (s->p[s->at] == close) {
            s->at++;
            return 0;
        }
        if (s->p[s->at++] != ',')
            return -EBADMSG;
        scan_ws(s);
    }
}

static int scan_value(struct scan *s, int depth)
{
    if (s->at >= s->len)
        return -EBADMSG;
    switch (s->p[s->at]) {
    case '{':
    case '[':
        return scan_container(s, depth);
    case '"':
        return scan_string(s);
    case 't':
        return scan_literal(s, "true");
    case 'f':
        return scan_literal(s, "false");
    case 'n':
        return scan_literal(s, "null");
    default:
        if (s->p[s->at] == '-' || (s->p[s->at] >= '0' && s->p[s->at] <= '9'))
            return scan_number(s);
        return -EBADMSG;
    }
}

/* The whole text: one value between optional whitespace. */
static int json_scan(const uint8_t *buf, size_t len, bool *nul)
{
    struct scan s = {buf, len, 0, false};
    int rc;

    scan_ws(&s);
    rc = scan_value(&s, 0);
    scan_ws(&s);
    if (rc == 0 && s.at != len)
        rc = -EBADMSG; /* trailing bytes */
    *nul = s.nul;
    return rc;
}

/* ---- Tree access --------------------------------------------------------- */

static int refuse(enum reject_reason *why, enum reject_reason reason, int rc)
{
    *why = reason;
    return rc;
}

/* Size gate, scan and cJSON parse. On success *root is owned by the
 * caller (cJSON_Delete). */
static int json_parse(const uint8_t *buf, size_t len, cJSON **root, bool *nul,
                      enum reject_reason *why)
{
    const char *end = NULL;
    int rc;

    *root = NULL;
    if (len > CODEC_MAX_PAYLOAD)
        return refuse(why, REJECT_TOO_LARGE, -EMSGSIZE);
    rc = json_scan(buf, len, nul);
    if (rc == -EMSGSIZE)
        return refuse(why, REJECT_TOO_LARGE, rc);
    if (rc != 0)
        return refuse(why, REJECT_DECODE_ERROR, rc);
    *root = cJSON_ParseWithLengthOpts((const char *)buf, len, &end, 0);
    if (CODEC_CROSSCHECK && *root == NULL) {
        fprintf(stderr, "json cross-check: cJSON refused a scanned text\n");
        abort();
    }
    if (*root == NULL)
        return refuse(why, REJECT_DECODE_ERROR, -EBADMSG);
    return 0;
}

static uint32_t key_hash(const char *k)
{
    uint32_t h = 2166136261u; /* FNV-1a */

    for (; *k != '\0'; k++)
        h = (h ^ (uint8_t)*k) * 16777619u;
    return h;
}

/* true if two members of obj share a key. Small objects compare pairwise;
 * larger ones use an open-addressing table at most half full, of which
 * only the part in use is cleared (the scan capped members at
 * JSON_MAX_MEMBERS, so it never fills). */
static bool has_duplicate_keys(const cJSON *obj)
{
    const char *slot[DUP_SLOTS];
    size_t n = 0;
    size_t mask = 15;

    for (const cJSON *c = obj->child; c != NULL; c = c->next)
        n++;
    if (n <= 8) {
        for (const cJSON *c = obj->child; c != NULL; c = c->next)
            for (const cJSON *d = c->next; d != NULL; d = d->next)
                if (strcmp(c->string, d->string) == 0)
                    return true;
        return false;
    }
    while (mask + 1 < 2 * n)
        mask = mask * 2 + 1;
    memset(slot, 0, (mask + 1) * sizeof(slot[0]));
    for (const cJSON *c = obj->child; c != NULL; c = c->next) {
        size_t h = key_hash(c->string) & mask;
        while (slot[h] != NULL) {
            if (strcmp(slot[h], c->string) == 0)
                return true;
            h = (h + 1) & mask;
        }
        slot[h] = c->string;
    }
    return false;
}

/* A reading's value: number, null (NaN), true/false (1/0). */
static bool get_value(const cJSON *v, double *out)
{
    if (cJSON_IsNumber(v))
        *out = v->valuedouble;
    else if (cJSON_IsNull(v))
        *out = NAN;
    else if (cJSON_IsBool(v))
        *out = cJSON_IsTrue(v) ? 1.0 : 0.0;
    else
        return false;
    return true;
}

static bool get_seq(const cJSON *v, uint64_t *out)
{
    double d = v->valuedouble;

    if (!cJSON_IsNumber(v) || !(d >= 0 && d <= JSON_INT_MAX) || d != floor(d))
        return false;
    *out = (uint64_t)d;
    return true;
}

/* Days from 1970-01-01 to y-m-d, proleptic Gregorian (H. Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe;
    unsigned doy;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    return era * 146097 + (int64_t)(yoe * 365 + yoe / 4 - yoe / 100 + doy) -
           719468;
}

/* n decimal digits at s -> *v; false if any is not a digit. */
static bool digits(const char *s, int n, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        *v = *v * 10 + (unsigned)(s[i] - '0');
    }
    return true;
}

static bool leap(unsigned y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* The fields of an RFC 3339 date-time. */
struct rfc3339 {
    unsigned year, month, day, hour, min, sec; /* As written. */
    unsigned ms;                               /* Fraction, floored to ms. */
    int zone_min;                              /* Offset east of UTC. */
};

/* "YYYY-MM-DDTHH:MM:SS" (T, t or a space); the rest follows at s + 19. */
static bool rfc3339_date_time(const char *s, struct rfc3339 *t)
{
    return strlen(s) >= 20 && digits(s, 4, &t->year) && s[4] == '-' &&
           digits(s + 5, 2, &t->month) && s[7] == '-' &&
           digits(s + 8, 2, &t->day) &&
           (s[10] == 'T' || s[10] == 't' || s[10] == ' ') &&
           digits(s + 11, 2, &t->hour) && s[13] == ':' &&
           digits(s + 14, 2, &t->min) && s[16] == ':' &&
           digits(s + 17, 2, &t->sec);
}

/* "[.fraction](Z|z|+HH:MM|-HH:MM)" and nothing after. */
static bool rfc3339_zone(const char *s, struct rfc3339 *t)
{
    unsigned oh;
    unsigned om;
    int n = 0;

    t->ms = 0;
    if (*s == '.') {
        for (s++; *s >= '0' && *s <= '9'; s++, n++)
            if (n < 3)
                t->ms = t->ms * 10 + (unsigned)(*s - '0');
        if (n == 0)
            return false;
        for (; n < 3; n++)
            t->ms *= 10;
    }
    t->zone_min = 0;
    if (*s == 'Z' || *s == 'z')
        return s[1] == '\0';
    if ((*s != '+' && *s != '-') || !digits(s + 1, 2, &oh) || s[3] != ':' ||
        !digits(s + 4, 2, &om) || s[6] != '\0' || oh > 23 || om > 59)
        return false; /* a zone is required */
    t->zone_min = (*s == '+' ? 1 : -1) * (int)(oh * 60 + om);
    return true;
}

/* RFC 3339 date-time -> ms since the epoch; false if malformed. */
static bool parse_rfc3339(const char *s, int64_t *ms)
{
    static const unsigned mdays[] = {31, 28, 31, 30, 31, 30,
                                     31, 31, 30, 31, 30, 31};
    struct rfc3339 t;
    int64_t sec;

    if (!rfc3339_date_time(s, &t) || !rfc3339_zone(s + 19, &t) || t.month < 1 ||
        t.month > 12 || t.day < 1 ||
        t.day > mdays[t.month - 1] + (t.month == 2 && leap(t.year)) ||
        t.hour > 23 || t.min > 59 || t.sec > 60)
        return false;
    sec = days_from_civil(t.year, t.month, t.day) * 86400 + t.hour * 3600 +
          t.min * 60 + t.sec - (int64_t)t.zone_min * 60;
    *ms = sec * 1000 + t.ms;
    return true;
}

static bool get_ts(const cJSON *v, int64_t *out)
{
    double d = v->valuedouble;

    if (cJSON_IsString(v))
        return parse_rfc3339(v->valuestring, out);
    if (!cJSON_IsNumber(v) || !(fabs(d) <= JSON_INT_MAX))
        return false;
    *out = (int64_t)floor(d);
    return true;
}

static bool name_put(char dst[CODEC_NAME_MAX + 1], const char *s)
{
    size_t n = strnlen(s, CODEC_NAME_MAX + 1);

    if (!codec_name_ok(s, n))
        return false;
    memcpy(dst, s, n + 1);
    return true;
}

/* seq, ts and device, shared by formats (a) and (b): 1 if key is one of
 * them and was stored, 0 if key is not one of them, -1 if its value has
 * the wrong type. A device name is checked later (*device). */
static int header_member(const cJSON *c, struct codec_msg *out,
                         const char **device)
{
    const char *k = c->string;

    if (strcmp(k, "seq") == 0) {
        out->has_seq = get_seq(c, &out->seq);
        return out->has_seq ? 1 : -1;
    }
    if (strcmp(k, "ts") == 0) {
        out->has_ts = get_ts(c, &out->ts_ms);
        return out->has_ts ? 1 : -1;
    }
    if (strcmp(k, "device") == 0) {
        *device = cJSON_GetStringValue(c);
        return *device != NULL ? 1 : -1;
    }
    return 0;
}

static void header_init(struct codec_msg *out)
{
    out->device[0] = '\0';
    out->has_seq = false;
    out->has_ts = false;
    out->seq = 0;
    out->ts_ms = 0;
    out->n = 0;
}

/* A refusal for bad_name becomes one for the \u0000 that cJSON cut off,
 * and so does an acceptance. */
static int nul_verdict(int rc, bool nul, enum reject_reason *why)
{
    if (nul && (rc == 0 || *why == REJECT_BAD_NAME))
        return refuse(why, REJECT_BAD_NAME, -EINVAL);
    return rc;
}

/* ---- (a) one reading ----------------------------------------------------- */

static int reading_tree(const cJSON *root, struct codec_msg *out,
                        enum reject_reason *why)
{
    struct codec_metric *m = &out->m[0];
    const char *device = NULL;
    const char *sensor = NULL;
    bool has_value = false;

    if (!cJSON_IsObject(root) || has_duplicate_keys(root))
        return refuse(why, REJECT_DECODE_ERROR, -EBADMSG);
    header_init(out);
    for (const cJSON *c = root->child; c != NULL; c = c->next) {
        int h = header_member(c, out, &device);
        if (h < 0)
            return refuse(why, REJECT_DECODE_ERROR, -EBADMSG);
        if (h > 0)
            continue;
        if (strcmp(c->string, "value") == 0) {
            if (!get_value(c, &m->value))
                return refuse(why, REJECT_DECODE_ERROR, -EBADMSG);
            has_value = true;
        } else if (strcmp(c->string, "sensor") == 0) {
            if ((sensor = cJSON_GetStringValue(c)) == NULL)
                return refuse(why, REJECT_DECODE_ERROR, -EBADMSG);
        }
    }
    if (!has_value)
        return refuse(why, REJECT_MISSING_FIELD, -EINVAL);
    m->name[0] = '\0';
    if ((device != NULL && !name_put(out->device, device)) ||
        (sensor != NULL && !name_put(m->name, sensor)))
        return refuse(why, REJECT_BAD_NAME, -EINVAL);
    m->has_value = true;
    m->is_label = false;
    out->n = 1;
    return refuse(why, REJECT_NONE, 0);
}

int json_decode_reading(const uint8_t *buf, size_t len, struct codec_msg *out,
                        enum reject_reason *why)
{
    cJSON *root;
    bool nul;
    int rc = json_parse(buf, len, &root, &nul, why);

    if (rc != 0)
        return rc;
    rc = nul_verdict(reading_tree(root, out, why), nul, why);
    cJSON_Delete(root);
    return rc;
}

/* ---- (b) device object --------------------------------------------------- */

/* Metrics found in an object: how many, and whether a name was bad. */
struct obj_count {
    size_t numeric; /* Members holding a value, stored or not. */
    bool bad_name;  /* One of them has a name codec_name_ok() refuses. */
};

/* Append the members of obj that hold a value as metrics (or labels);
 * count the others in *skipped. Past CODEC_MAX_METRICS they are only
 * counted. */
static void object_metrics(const cJSON *obj, bool labels, struct codec_msg *out,
                           size_t *skipped, struct obj_count *k)
{
    for (const cJSON *c = obj->child; c != NULL; c = c->next) {
        struct codec_metric *m = &out->m[out->n];
        double v;
        if (!labels &&
            (strcmp(c->string, "seq") == 0 || strcmp(c->string, "ts") == 0 ||
             strcmp(c->string, "device") == 0 ||
             strcmp(c->string, "labels") == 0))
            continue;
        if (!get_value(c, &v)) {
            (*skipped)++;
            continue;
        }
        if (++k->numeric > CODEC_MAX_METRICS)
            continue;
        if (!name_put(m->name, c->string)) {
            k->bad_name = true;
            continue;
        }
        m->value = v;
        m->has_value = true;
        m->is_label = labels;
        out->n++;
    }
}

static int object_tree(const cJSON *root, struct codec_msg *out,
                       size_t *skipped, enum reject_reason *why)
{
    struct obj_count k = {0, false};
    const cJSON *labels = NULL;
    const char *device = NULL;

    if (!cJSON_IsObject(root) || has_duplicate_keys(root))
        return refuse(why, REJECT_DECODE_ERROR, -EBADMSG);
    header_init(out);
    for (const cJSON *c = root->child; c != NULL; c = c->next) {
        if (header_member(c, out, &device) < 0)
            return refuse(why, REJECT_DECODE_ERROR, -EBADMSG);
        if (strcmp(c->string, "labels") == 0)
            labels = c;
    }
    if (labels != NULL &&
        (!cJSON_IsObject(labels) || has_duplicate_keys(labels)))
        return refuse(why, REJECT_DECODE_ERROR, -EBADMSG);
    object_metrics(root, false, out, skipped, &k);
    if (labels != NULL)
        object_metrics(labels, true, out, skipped, &k);
    if (k.numeric > CODEC_MAX_METRICS)
        return refuse(why, REJECT_TOO_LARGE, -EMSGSIZE);
    if (k.numeric == 0)
        return refuse(why, REJECT_MISSING_FIELD, -EINVAL);
    if (k.bad_name || (device != NULL && !name_put(out->device, device)))
        return refuse(why, REJECT_BAD_NAME, -EINVAL);
    return refuse(why, REJECT_NONE, 0);
}

int json_decode_object(const uint8_t *buf, size_t len, struct codec_msg *out,
                       size_t *skipped, enum reject_reason *why)
{
    size_t ignored;
    cJSON *root;
    bool nul;
    int rc;

    if (skipped == NULL)
        skipped = &ignored;
    *skipped = 0;
    rc = json_parse(buf, len, &root, &nul, why);
    if (rc != 0)
        return rc;
    rc = nul_verdict(object_tree(root, out, skipped, why), nul, why);
    cJSON_Delete(root);
    return rc;
}

/* ---- (c) SenML ----------------------------------------------------------- */

/* Base values in force (RFC 8428 section 4.1); strings borrow the tree. */
struct senml_base {
    const char *bn; /* Base name, or NULL. */
    const char *bu; /* Base unit, or NULL. */
    double bt;      /* Base time, s. */
    double bv;      /* Base value, added to v. */
    bool has_bt;    /* bt was given. */
};

/* One record's own fields. */
struct senml_fields {
    const char *n; /* Name, or NULL. */
    const char *u; /* Unit, or NULL. */
    double v;      /* Value (NaN for null). */
    double t;      /* Time, s. */
    int values;    /* How many of v, vs, vb, vd. */
    bool has_v;    /* v was given. */
    bool has_vb;   /* vb was given. */
    bool vb;       /* Its value. */
    bool has_t;    /* t was given. */
    bool has_s;    /* s (sum) was given. */
    bool base;     /* The record carries a base field. */
    bool label;    /* "weir_label": true. */
};

enum senml_kind { SENML_NUMERIC, SENML_SKIPPED, SENML_BASE_ONLY };

/* One resolved numeric record. */
struct senml_rec {
    char device[CODEC_NAME_MAX + 1]; /* "" leaves it to the topic. */
    char sensor[CODEC_NAME_MAX + 1];
    int64_t ts_ms; /* When has_ts. */
    double value;  /* bv + v, or vb as 1/0. */
    bool has_ts;   /* A time was resolved. */
    bool is_label; /* weir_label. */
};

static bool get_number(const cJSON *c, double *out)
{
    if (!cJSON_IsNumber(c))
        return false;
    *out = c->valuedouble;
    return true;
}

static bool get_string(const cJSON *c, const char **out)
{
    *out = cJSON_GetStringValue(c);
    return *out != NULL;
}

/* Base fields: true if key is one (*ok says whether its type is right). */
static bool senml_base_member(const cJSON *c, struct senml_base *b, bool *ok)
{
    const char *k = c->string;
    double ver;

    if (strcmp(k, "bn") == 0)
        *ok = get_string(c, &b->bn);
    else if (strcmp(k, "bt") == 0)
        *ok = b->has_bt = get_number(c, &b->bt);
    else if (strcmp(k, "bu") == 0)
        *ok = get_string(c, &b->bu);
    else if (strcmp(k, "bv") == 0)
        *ok = get_number(c, &b->bv);
    else if (strcmp(k, "bs") == 0)
        *ok = cJSON_IsNumber(c);
    else if (strcmp(k, "bver") == 0)
        *ok = get_number(c, &ver) && ver >= 1 && ver <= SENML_VERSION;
    else
        return false;
    return true;
}

/* One member of a record; false if its type is wrong or it is an unknown
 * must-understand field (name ending in '_'). */
static bool senml_member(const cJSON *c, struct senml_base *b,
                         struct senml_fields *f)
{
    const char *k = c->string;
    size_t kl = strlen(k);
    bool ok;

    if (senml_base_member(c, b, &ok)) {
        f->base = true;
        return ok;
    }
    if (strcmp(k, "n") == 0)
        return get_string(c, &f->n);
    if (strcmp(k, "u") == 0)
        return get_string(c, &f->u);
    if (strcmp(k, "v") == 0) {
        f->values++;
        f->has_v = true;
        return get_value(c, &f->v) && !cJSON_IsBool(c);
    }
    if (strcmp(k, "vs") == 0 || strcmp(k, "vd") == 0) {
        f->values++;
        return cJSON_IsString(c);
    }
    if (strcmp(k, "vb") == 0) {
        f->values++;
        f->has_vb = true;
        f->vb = cJSON_IsTrue(c);
        return cJSON_IsBool(c);
    }
    if (strcmp(k, "s") == 0 || strcmp(k, "ut") == 0) {
        f->has_s = f->has_s || k[0] == 's';
        return cJSON_IsNumber(c);
    }
    if (strcmp(k, "t") == 0)
        return f->has_t = get_number(c, &f->t);
    if (strcmp(k, "weir_label") == 0) {
        f->label = cJSON_IsTrue(c);
        return cJSON_IsBool(c);
    }
    return kl == 0 || k[kl - 1] != '_';
}

/* RFC 8428 section 4.5.3; false if the time is not representable. */
static bool senml_time(const struct senml_base *b, const struct senml_fields *f,
                       int64_t now_ms, struct senml_rec *r)
{
    double t = (b->has_bt ? b->bt : 0) + (f->has_t ? f->t : 0);
    double ms;

    r->has_ts = false;
    r->ts_ms = 0;
    if (!isfinite(t))
        return false;
    if (t == 0)
        return true; /* no time, or "now": the receiver stamps it */
    ms = t >= SENML_ABSOLUTE ? t * 1000 : (double)now_ms + t * 1000;
    if (!(fabs(ms) <= JSON_INT_MAX))
        return false;
    r->ts_ms = (int64_t)llround(ms);
    r->has_ts = true;
    return true;
}

/* RFC 8428 section 4.5.1: A-Z a-z 0-9 - : . / _, a letter or digit first. */
static bool senml_charset_ok(const char *s)
{
    for (const char *p = s; *p != '\0'; p++) {
        char c = *p;
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                     (c >= '0' && c <= '9');
        if (!alnum && (p == s || strchr("-:./_", c) == NULL))
            return false;
    }
    return *s != '\0';
}

/* Copy src[0..n) as a name; false if not a valid one. */
static bool name_put_n(char dst[CODEC_NAME_MAX + 1], const char *src, size_t n)
{
    if (!codec_name_ok(src, n))
        return false;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return true;
}

/* Device and sensor of a numeric record (json.h, "Names"); false if a
 * name is bad. */
static bool senml_names(const struct senml_base *b,
                        const struct senml_fields *f, struct senml_rec *r)
{
    const char *bn = b->bn != NULL ? b->bn : "";
    const char *n = f->n != NULL ? f->n : "";
    const char *unit = f->u != NULL ? f->u : b->bu;
    char full[2 * CODEC_NAME_MAX + 2];
    size_t bl = strlen(bn);
    size_t nl = strlen(n);
    size_t dl;

    r->device[0] = '\0';
    if (nl == 0) {
        if ((bl > 0 && !senml_charset_ok(bn)) || unit == NULL)
            return false;
        dl = bl > 0 && (bn[bl - 1] == ':' || bn[bl - 1] == '/') ? bl - 1 : bl;
        return (dl == 0 || name_put_n(r->device, bn, dl)) &&
               name_put_n(r->sensor, unit, strlen(unit));
    }
    if (bl + nl >= sizeof(full))
        return false;
    memcpy(full, bn, bl);
    memcpy(full + bl, n, nl + 1);
    if (!senml_charset_ok(full))
        return false;
    for (dl = bl + nl; dl > 0 && full[dl - 1] != ':' && full[dl - 1] != '/';)
        dl--;
    if (dl == 0)
        return name_put_n(r->sensor, full, bl + nl);
    return name_put_n(r->device, full, dl - 1) &&
           name_put_n(r->sensor, full + dl, bl + nl - dl);
}

/* Resolve one record. 0 (see *kind), -EBADMSG (malformed), -EINVAL (a
 * numeric record with a bad name). */
static int senml_record(const cJSON *rec, struct senml_base *b, int64_t now_ms,
                        struct senml_rec *r, enum senml_kind *kind)
{
    struct senml_fields f;

    memset(&f, 0, sizeof(f));
    if (!cJSON_IsObject(rec) || has_duplicate_keys(rec))
        return -EBADMSG;
    for (const cJSON *c = rec->child; c != NULL; c = c->next)
        if (!senml_member(c, b, &f))
            return -EBADMSG;
    if (f.values > 1 || !senml_time(b, &f, now_ms, r))
        return -EBADMSG;
    if (!f.has_v && !f.has_vb) {
        bool carries = f.values > 0 || f.has_s || !f.base;
        *kind = carries ? SENML_SKIPPED : SENML_BASE_ONLY;
        return 0;
    }
    *kind = SENML_NUMERIC;
    r->value = f.has_v ? b->bv + f.v : (f.vb ? 1.0 : 0.0);
    r->is_label = f.label;
    return senml_names(b, &f, r) ? 0 : -EINVAL;
}

/* Pass 1: validate the whole pack and count skipped records. */
static int senml_check(const cJSON *root, int64_t now_ms, size_t *skipped,
                       enum reject_reason *why)
{
    struct senml_base b = {NULL, NULL, 0, 0, false};
    size_t numeric = 0;
    bool bad_name = false;

    if (!cJSON_IsArray(root))
        return refuse(why, REJECT_DECODE_ERROR, -EBADMSG);
    for (const cJSON *rec = root->child; rec != NULL; rec = rec->next) {
        struct senml_rec r;
        enum senml_kind kind = SENML_BASE_ONLY;
        int rc = senml_record(rec, &b, now_ms, &r, &kind);
        if (rc == -EBADMSG)
            return refuse(why, REJECT_DECODE_ERROR, rc);
        *skipped += kind == SENML_SKIPPED;
        numeric += kind == SENML_NUMERIC;
        bad_name = bad_name || rc == -EINVAL;
    }
    if ((size_t)cJSON_GetArraySize(root) > CODEC_MAX_METRICS)
        return refuse(why, REJECT_TOO_LARGE, -EMSGSIZE);
    if (numeric == 0)
        return refuse(why, REJECT_MISSING_FIELD, -EINVAL);
    if (bad_name)
        return refuse(why, REJECT_BAD_NAME, -EINVAL);
    return refuse(why, REJECT_NONE, 0);
}

/* struct codec_msg lists metrics before labels: move labels last,
 * keeping both orders. */
static void labels_last(struct codec_msg *msg)
{
    size_t w = 0;

    for (size_t i = 0; i < msg->n; i++) {
        struct codec_metric t;
        if (msg->m[i].is_label)
            continue;
        if (i != w) {
            t = msg->m[i];
            memmove(&msg->m[w + 1], &msg->m[w], (i - w) * sizeof(t));
            msg->m[w] = t;
        }
        w++;
    }
}

static int senml_emit(struct codec_msg *msg, json_senml_fn fn, void *ctx)
{
    int rc;

    labels_last(msg);
    rc = fn(ctx, msg);
    header_init(msg);
    return rc;
}

/* Pass 2: resolve again (pass 1 proved it succeeds) and deliver groups. */
static int senml_deliver(const cJSON *root, int64_t now_ms,
                         struct codec_msg *msg, json_senml_fn fn, void *ctx)
{
    struct senml_base b = {NULL, NULL, 0, 0, false};
    int rc;

    header_init(msg);
    for (const cJSON *rec = root->child; rec != NULL; rec = rec->next) {
        struct senml_rec r;
        struct codec_metric *m;
        enum senml_kind kind = SENML_BASE_ONLY;
        if (senml_record(rec, &b, now_ms, &r, &kind) != 0 ||
            kind != SENML_NUMERIC)
            continue;
        if (msg->n > 0 &&
            (strcmp(msg->device, r.device) != 0 || msg->has_ts != r.has_ts ||
             msg->ts_ms != r.ts_ms) &&
            (rc = senml_emit(msg, fn, ctx)) != 0)
            return rc;
        if (msg->n == 0) {
            memcpy(msg->device, r.device, sizeof(r.device));
            msg->has_ts = r.has_ts;
            msg->ts_ms = r.ts_ms;
        }
        m = &msg->m[msg->n++];
        memcpy(m->name, r.sensor, sizeof(r.sensor));
        m->value = r.value;
        m->has_value = true;
        m->is_label = r.is_label;
    }
    return msg->n > 0 ? senml_emit(msg, fn, ctx) : 0;
}

int json_decode_senml(const uint8_t *buf, size_t len, int64_t now_ms,
                      struct codec_msg *scratch, json_senml_fn fn, void *ctx,
                      size_t *skipped, enum reject_reason *why)
{
    size_t ignored;
    cJSON *root;
    bool nul;
    int rc;

    assert(fn != NULL);
    if (skipped == NULL)
        skipped = &ignored;
    *skipped = 0;
    rc = json_parse(buf, len, &root, &nul, why);
    if (rc != 0)
        return rc;
    rc = nul_verdict(senml_check(root, now_ms, skipped, why), nul, why);
    if (rc == 0)
        rc = senml_deliver(root, now_ms, scratch, fn, ctx);
    cJSON_Delete(root);
    return rc;
}

/* ---- Sniffing ------------------------------------------------------------ */

int json_sniff(const uint8_t *buf, size_t len)
{
    size_t i = 0;

    while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\n' ||
                       buf[i] == '\r'))
        i++;
    return i < len && (buf[i] == '{' || buf[i] == '[') ? buf[i] : 0;
}

/* ---- Encoders ------------------------------------------------------------ */

/* Output into the caller's buffer, always leaving room for the NUL. */
struct jout {
    char *buf;  /* The caller's buffer. */
    size_t cap; /* Its size. */
    size_t n;   /* Bytes written. */
    bool over;  /* Something did not fit. */
    bool first; /* No member written yet in the current object. */
};

static void put(struct jout *o, const char *s, size_t n)
{
    if (o->over || n >= o->cap - o->n) {
        o->over = true;
        return;
    }
    memcpy(o->buf + o->n, s, n);
    o->n += n;
}

static void put_s(struct jout *o, const char *s)
{
    put(o, s, strlen(s));
}

/* A JSON string: '"', '\\' and control characters escaped; other bytes,
 * UTF-8 or not, as they are. */
static void put_str(struct jout *o, const char *s)
{
    put(o, "\"", 1);
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(o, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            put(o, esc, 6);
        } else {
            put(o, s, 1);
        }
    }
    put(o, "\"", 1);
}

/* The shortest of %.15g..%.17g that reads back to v; null if not finite. */
static void put_num(struct jout *o, double v)
{
    char s[32];

    if (!isfinite(v)) {
        put_s(o, "null");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(s, sizeof(s), "%.*g", prec, v);
        if (strtod(s, NULL) == v)
            break;
    }
    put_s(o, s);
}

static void put_key(struct jout *o, const char *key)
{
    if (!o->first)
        put(o, ",", 1);
    o->first = false;
    put_str(o, key);
    put(o, ":", 1);
}

static void put_header(struct jout *o, const struct codec_msg *msg)
{
    char s[32];

    if (msg->has_seq) {
        put_key(o, "seq");
        snprintf(s, sizeof(s), "%" PRIu64, msg->seq);
        put_s(o, s);
    }
    if (msg->has_ts) {
        put_key(o, "ts");
        snprintf(s, sizeof(s), "%" PRId64, msg->ts_ms);
        put_s(o, s);
    }
}

static size_t finish(struct jout *o)
{
    if (o->over || o->cap == 0)
        return 0;
    o->buf[o->n] = '\0';
    return o->n;
}

static bool terminated(const char name[CODEC_NAME_MAX + 1])
{
    return memchr(name, '\0', CODEC_NAME_MAX + 1) != NULL;
}

/* Every name of msg ends inside its array and every metric has a value. */
static bool encodable(const struct codec_msg *msg)
{
    if (msg->n > CODEC_MAX_METRICS || !terminated(msg->device))
        return false;
    for (size_t i = 0; i < msg->n; i++)
        if (!terminated(msg->m[i].name) || !msg->m[i].has_value)
            return false;
    return true;
}

size_t json_encode_reading(const struct codec_msg *msg, unsigned flags,
                           char *buf, size_t cap)
{
    struct jout o = {buf, cap, 0, cap == 0, true};
    const struct codec_metric *m = &msg->m[0];

    if (msg->n != 1 || m->is_label || !encodable(msg))
        return 0;
    put(&o, "{", 1);
    if ((flags & JSON_ENC_NAMES) && msg->device[0] != '\0') {
        put_key(&o, "device");
        put_str(&o, msg->device);
    }
    if ((flags & JSON_ENC_NAMES) && m->name[0] != '\0') {
        put_key(&o, "sensor");
        put_str(&o, m->name);
    }
    put_header(&o, msg);
    put_key(&o, "value");
    put_num(&o, m->value);
    put(&o, "}", 1);
    return finish(&o);
}

static bool reserved(const char *name)
{
    return strcmp(name, "seq") == 0 || strcmp(name, "ts") == 0 ||
           strcmp(name, "device") == 0 || strcmp(name, "labels") == 0;
}

size_t json_encode_object(const struct codec_msg *msg, unsigned flags,
                          char *buf, size_t cap)
{
    struct jout o = {buf, cap, 0, cap == 0, true};
    bool labels = false;

    if (!encodable(msg))
        return 0;
    put(&o, "{", 1);
    if ((flags & JSON_ENC_NAMES) && msg->device[0] != '\0') {
        put_key(&o, "device");
        put_str(&o, msg->device);
    }
    put_header(&o, msg);
    for (size_t i = 0; i < msg->n; i++) {
        const struct codec_metric *m = &msg->m[i];
        labels = labels || m->is_label;
        if (m->is_label)
            continue;
        if (reserved(m->name))
            return 0;
        put_key(&o, m->name);
        put_num(&o, m->value);
    }
    if (labels) {
        put_key(&o, "labels");
        put(&o, "{", 1);
        o.first = true;
        for (size_t i = 0; i < msg->n; i++) {
            if (!msg->m[i].is_label)
                continue;
            put_key(&o, msg->m[i].name);
            put_num(&o, msg->m[i].value);
        }
        put(&o, "}", 1);
    }
    put(&o, "}", 1);
    return finish(&o);
}

size_t json_encode_senml(const struct codec_msg *msg, char *buf, size_t cap)
{
    struct jout o = {buf, cap, 0, cap == 0, true};
    char bn[CODEC_NAME_MAX + 2];

    if (!encodable(msg) || msg->n == 0 ||
        (msg->has_ts && msg->ts_ms < (int64_t)SENML_ABSOLUTE * 1000))
        return 0;
    put(&o, "[", 1);
    for (size_t i = 0; i < msg->n; i++) {
        const struct codec_metric *m = &msg->m[i];
        if (strpbrk(m->name, ":/") != NULL)
            return 0;
        put(&o, i > 0 ? ",{" : "{", i > 0 ? 2 : 1);
        o.first = true;
        if (i == 0 && msg->device[0] != '\0') {
            snprintf(bn, sizeof(bn), "%s:", msg->device);
            put_key(&o, "bn");
            put_str(&o, bn);
        }
        if (i == 0 && msg->has_ts) {
            put_key(&o, "bt");
            put_num(&o, (double)msg->ts_ms / 1000.0);
        }
        put_key(&o, "n");
        put_str(&o, m->name);
        put_key(&o, "v");
        put_num(&o, m->value);
        if (m->is_label) {
            put_key(&o, "weir_label");
            put_s(&o, "true");
        }
        put(&o, "}", 1);
    }
    put(&o, "]", 1);
    return finish(&o);
}
