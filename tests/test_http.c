/* test_http.c -- the metrics endpoint: a real server on 127.0.0.1:0 in a
 * loop thread, plain blocking sockets as clients; and the Prometheus text
 * writer, checked by a strict parser of the exposition format written
 * here from the format's specification (it is tested on bad input too).
 *
 * Threads: each server case runs the libuv loop on a thread of its own and
 * talks to it only through sockets and one uv_async_t (to stop it); the
 * route callbacks run on the loop thread and read data set before the
 * thread started. */
#define _GNU_SOURCE /* For strcasestr. */
#include "ingest/http.h"
#include "ingest/prom.h"
#include "tests/harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* ---- A strict checker of the text exposition format (0.0.4) ------------ */

#define PX_MAX_SAMPLES 256
#define PX_MAX_LABELS 8
#define PX_MAX_FAMILIES 256

struct px_sample {
    char name[128];
    size_t nlabels;
    char lname[PX_MAX_LABELS][64];
    char lvalue[PX_MAX_LABELS][256]; /* unescaped */
    double value;
};

struct px {
    struct px_sample s[PX_MAX_SAMPLES];
    size_t n;
    char fam[PX_MAX_FAMILIES][128]; /* families seen, in order */
    char type[PX_MAX_FAMILIES][16]; /* "" if no TYPE */
    bool help[PX_MAX_FAMILIES];
    bool has_samples[PX_MAX_FAMILIES];
    size_t nfam;
    int cur;       /* family of the previous line, -1 none */
    char err[160]; /* why the text was refused */
};

static bool px_fail(struct px *p, int line, const char *why)
{
    snprintf(p->err, sizeof(p->err), "line %d: %s", line, why);
    return false;
}

static bool px_utf8_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t k = c < 0x80         ? 1
                   : (c >> 5) == 6  ? 2
                   : (c >> 4) == 14 ? 3
                   : (c >> 3) == 30 ? 4
                                    : 0;
        unsigned cp = k == 1 ? c : k == 2 ? c & 0x1f : k == 3 ? c & 0xf : c & 7;
        if (k == 0 || i + k > n)
            return false;
        for (size_t j = 1; j < k; j++) {
            if (((unsigned char)s[i + j] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | ((unsigned char)s[i + j] & 0x3f);
        }
        if ((k == 2 && cp < 0x80) || (k == 3 && cp < 0x800) ||
            (k == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += k;
    }
    return true;
}

/* Length of a name at s: metric (colon allowed) or label. */
static size_t px_name(const char *s, bool colon)
{
    size_t i = 0;

    while ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
           s[i] == '_' || (colon && s[i] == ':') ||
           (i > 0 && s[i] >= '0' && s[i] <= '9'))
        i++;
    return i;
}

/* A float as Prometheus writes and reads it; true if all of s is one. */
static bool px_value(const char *s, double *v)
{
    const char *p = s;
    bool digits = false;

    if (strcmp(s, "NaN") == 0 || strcmp(s, "+Inf") == 0 ||
        strcmp(s, "-Inf") == 0) {
        *v = s[0] == 'N' ? NAN : s[0] == '+' ? INFINITY : -INFINITY;
        return true;
    }
    if (*p == '+' || *p == '-')
        p++;
    while (*p >= '0' && *p <= '9')
        p++, digits = true;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            digits = true;
    if (!digits)
        return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p != '\0')
        return false;
    *v = strtod(s, NULL);
    return true;
}

static int px_family(struct px *p, const char *name, size_t len)
{
    for (size_t i = 0; i < p->nfam; i++)
        if (strlen(p->fam[i]) == len && memcmp(p->fam[i], name, len) == 0)
            return (int)i;
    if (p->nfam == PX_MAX_FAMILIES || len >= sizeof(p->fam[0]))
        return -1;
    memcpy(p->fam[p->nfam], name, len);
    p->fam[p->nfam][len] = '\0';
    p->type[p->nfam][0] = '\0';
    return (int)p->nfam++;
}

/* "# HELP name text" / "# TYPE name type" / other comments. */
static bool px_comment(struct px *p, int ln, const char *l)
{
    bool is_help = strncmp(l, "# HELP ", 7) == 0;
    bool is_type = strncmp(l, "# TYPE ", 7) == 0;
    size_t n;
    int f;

    if (!is_help && !is_type)
        return true; /* a plain comment */
    n = px_name(l + 7, true);
    if (n == 0 || (l[7 + n] != ' ' && !(is_help && l[7 + n] == '\0')))
        return px_fail(p, ln, "bad name in HELP/TYPE");
    if ((f = px_family(p, l + 7, n)) < 0)
        return px_fail(p, ln, "too many families");
    if (p->has_samples[f])
        return px_fail(p, ln, "HELP/TYPE after the family's samples");
    if (p->cur >= 0 && p->cur != f && (p->help[f] || p->type[f][0]))
        return px_fail(p, ln, "family's metadata is not contiguous");
    p->cur = f;
    if (is_help) {
        const char *t = l + 7 + n;
        if (p->help[f])
            return px_fail(p, ln, "second HELP");
        p->help[f] = true;
        for (t += *t == ' '; *t; t++)
            if (*t == '\\' && t[1] != '\\' && t[1] != 'n')
                return px_fail(p, ln, "bad escape in HELP");
            else if (*t == '\\')
                t++;
        return true;
    }
    if (p->type[f][0])
        return px_fail(p, ln, "second TYPE");
    const char *t = l + 7 + n + 1;
    if (strcmp(t, "counter") && strcmp(t, "gauge") && strcmp(t, "histogram") &&
        strcmp(t, "summary") && strcmp(t, "untyped"))
        return px_fail(p, ln, "unknown TYPE");
    snprintf(p->type[f], sizeof(p->type[f]), "%s", t);
    return true;
}

/* Parse {a="x",b="y"} at *l into s; advances *l. */
static bool px_labels(struct px *p, int ln, const char **l, struct px_sample *s)
{
    const char *q = *l + 1;

    while (*q != '}') {
        size_t n = px_name(q, false);
        size_t k = 0;
        if (n == 0 || n >= 64 || q[n] != '=' || q[n + 1] != '"')
            return px_fail(p, ln, "bad label name");
        if (s->nlabels == PX_MAX_LABELS)
            return px_fail(p, ln, "too many labels");
        if (n >= 2 && q[0] == '_' && q[1] == '_')
            return px_fail(p, ln, "reserved label name");
        memcpy(s->lname[s->nlabels], q, n);
        s->lname[s->nlabels][n] = '\0';
        for (size_t i = 0; i < s->nlabels; i++)
            if (strcmp(s->lname[i], s->lname[s->nlabels]) == 0)
                return px_fail(p, ln, "repeated label");
        for (q += n + 2; *q != '"'; q++) {
            char ch = *q;
            if (ch == '\0')
                return px_fail(p, ln, "unterminated label value");
            if (ch == '\\') {
                q++;
                ch = *q == 'n' ? '\n' : *q;
                if (*q != '\\' && *q != '"' && *q != 'n')
                    return px_fail(p, ln, "bad escape in label value");
            }
            if (k + 1 >= sizeof(s->lvalue[0]))
                return px_fail(p, ln, "label value too long");
            s->lvalue[s->nlabels][k++] = ch;
        }
        s->lvalue[s->nlabels++][k] = '\0';
        q++;
        if (*q == ',')
            q++;
        else if (*q != '}')
            return px_fail(p, ln, "expected , or }");
    }
    *l = q + 1;
    return true;
}

static bool px_same_sample(const struct px_sample *a, const struct px_sample *b)
{
    if (strcmp(a->name, b->name) != 0 || a->nlabels != b->nlabels)
        return false;
    for (size_t i = 0; i < a->nlabels; i++) {
        size_t j = 0;
        while (j < b->nlabels && strcmp(a->lname[i], b->lname[j]) != 0)
            j++;
        if (j == b->nlabels || strcmp(a->lvalue[i], b->lvalue[j]) != 0)
            return false;
    }
    return true;
}

static bool px_sample_line(struct px *p, int ln, const char *l)
{
    struct px_sample *s;
    size_t n = px_name(l, true);
    char num[64];
    const char *sp;
    int f;

    if (n == 0 || n >= sizeof(s->name))
        return px_fail(p, ln, "bad metric name");
    if (p->n == PX_MAX_SAMPLES)
        return px_fail(p, ln, "too many samples");
    s = &p->s[p->n];
    memset(s, 0, sizeof(*s));
    memcpy(s->name, l, n);
    l += n;
    if (*l == '{' && !px_labels(p, ln, &l, s))
        return false;
    if (*l != ' ')
        return px_fail(p, ln, "expected a space before the value");
    l++;
    sp = strchr(l, ' ');
    n = sp ? (size_t)(sp - l) : strlen(l);
    if (n == 0 || n >= sizeof(num))
        return px_fail(p, ln, "bad value");
    memcpy(num, l, n);
    num[n] = '\0';
    if (!px_value(num, &s->value))
        return px_fail(p, ln, "bad value");
    if (sp) { /* optional integer timestamp */
        const char *t = sp + 1;
        t += *t == '-';
        if (*t == '\0' || strspn(t, "0123456789") != strlen(t))
            return px_fail(p, ln, "bad timestamp");
    }
    if ((f = px_family(p, s->name, strlen(s->name))) < 0)
        return px_fail(p, ln, "too many families");
    if (p->has_samples[f] && p->cur != f)
        return px_fail(p, ln, "family's samples are not contiguous");
    if (p->type[f][0] == '\0')
        return px_fail(p, ln, "sample without a TYPE line first");
    for (size_t i = 0; i < p->n; i++)
        if (px_same_sample(&p->s[i], s))
            return px_fail(p, ln, "duplicate sample");
    p->has_samples[f] = true;
    p->cur = f;
    p->n++;
    return true;
}

/* true if text[0..len) is a valid exposition; fills p. Stricter than
 * Prometheus where weir's output should be (every sample needs a TYPE). */
static bool px_check(struct px *p, const char *text, size_t len)
{
    char line[4096];
    size_t pos = 0;
    int ln = 0;

    memset(p, 0, sizeof(*p));
    p->cur = -1;
    if (!px_utf8_ok(text, len))
        return px_fail(p, 0, "invalid UTF-8");
    if (len > 0 && text[len - 1] != '\n')
        return px_fail(p, 0, "no final newline");
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = (size_t)(nl - (text + pos));
        ln++;
        if (n >= sizeof(line) || memchr(text + pos, '\0', n))
            return px_fail(p, ln, "line too long or NUL");
        memcpy(line, text + pos, n);
        line[n] = '\0';
        pos += n + 1;
        if (n == 0)
            continue;
        if (line[0] == '#' ? !px_comment(p, ln, line)
                           : !px_sample_line(p, ln, line))
            return false;
    }
    return true;
}

static const struct px_sample *px_find(const struct px *p, const char *name,
                                       const char *lname, const char *lvalue)
{
    for (size_t i = 0; i < p->n; i++) {
        const struct px_sample *s = &p->s[i];
        if (strcmp(s->name, name) != 0)
            continue;
        if (lname == NULL && s->nlabels == 0)
            return s;
        for (size_t j = 0; lname && j < s->nlabels; j++)
            if (strcmp(s->lname[j], lname) == 0 &&
                strcmp(s->lvalue[j], lvalue) == 0)
                return s;
    }
    return NULL;
}

/* ---- Exposition writer cases ------------------------------------------- */

static void checker_refuses_bad_expositions(void)
{
    static const char *const bad[] = {
        "x 1",                                       /* no final newline */
        "x 1\n",                                     /* no TYPE */
        "# TYPE x counter\n# TYPE x counter\nx 1\n", /* second TYPE */
        "# TYPE x gauge\nx{a=\"1\"} 1\n# TYPE y gauge\ny 1\nx{a=\"2\"} 2\n",
        "# TYPE x gauge\nx 1\nx 2\n",             /* duplicate sample */
        "# TYPE x gauge\nx{a=\"q\"q\"} 1\n",      /* unescaped quote */
        "# TYPE x gauge\nx{a=\"\\t\"} 1\n",       /* bad escape */
        "# TYPE x gauge\nx{__a=\"1\"} 1\n",       /* reserved label */
        "# TYPE x gauge\nx{a=\"1\",a=\"2\"} 1\n", /* repeated label */
        "# TYPE x gauge\nx 1,5\n",                /* bad value */
        "# TYPE x gauge\nx inf\n",                /* not +Inf */
        "# TYPE 1x gauge\n",                      /* bad name */
        "# TYPE x gauge\nx{a=\"\xff\"} 1\n",      /* invalid UTF-8 */
        "# TYPE x gauge\nx 1\n# HELP x late\n",   /* HELP after samples */
        "# TYPE x fancy\nx 1\n",                  /* unknown type */
        "# HELP x a\\tb\n# TYPE x gauge\nx 1\n",  /* bad HELP escape */
        "# TYPE x gauge\nx  1\n",                 /* two spaces */
        NULL};
    static const char good[] =
        "# HELP x Some \\\\ help\\n2.\n# TYPE x gauge\n"
        "x{a=\"q\\\"\\\\\\n\",b=\"\"} -1.5e-3 1700000000000\n"
        "x NaN\n# a comment\n\n# TYPE y counter\ny +Inf\n";
    static struct px p;

    for (size_t i = 0; bad[i]; i++) {
        if (px_check(&p, bad[i], strlen(bad[i]))) {
            fprintf(stderr, "accepted bad exposition #%zu\n", i);
            ASSERT(0);
        }
    }
    ASSERT(px_check(&p, good, strlen(good)));
    ASSERT_EQ(p.n, 3);
    ASSERT_STREQ(p.s[0].lvalue[0], "q\"\\\n");
    ASSERT_NEAR(p.s[0].value, -1.5e-3, 0);
    ASSERT(isnan(p.s[1].value));
    ASSERT(isinf(p.s[2].value));
}

static void prom_escapes_and_formats(void)
{
    struct http_buf b = {.max = 1 << 16};
    const struct prom_label l1[] = {{"task", "a\\b\"c\nd"}};
    const struct prom_label l2[] = {{"device", "bad\xff\xfe utf8 \xc3\xa9"}};
    const struct prom_label dup[] = {{"a", "1"}, {"a", "2"}};
    const struct prom_label reserved[] = {{"__name__", "x"}};
    const struct prom_label badname[] = {{"a-b", "x"}};
    static struct px p;
    const struct px_sample *s;

    ASSERT_EQ(prom_family(&b, "1bad", PROM_GAUGE, "x"), -EINVAL);
    ASSERT_EQ(prom_family(&b, "weir_x", (enum prom_type)9, "x"), -EINVAL);
    ASSERT_EQ(prom_sample(&b, "a b", NULL, 0, 1), -EINVAL);
    ASSERT_EQ(prom_sample(&b, "x", dup, 2, 1), -EINVAL);
    ASSERT_EQ(prom_sample(&b, "x", reserved, 1, 1), -EINVAL);
    ASSERT_EQ(prom_sample(&b, "x", badname, 1, 1), -EINVAL);
    ASSERT_EQ(b.len, 0); /* refused before writing anything */

    ASSERT_EQ(prom_family(&b, "weir_info", PROM_GAUGE,
                          "Help with \\ and\na newline."),
              0);
    ASSERT_EQ(prom_sample(&b, "weir_info", l1, 1, 0.1), 0);
    ASSERT_EQ(prom_sample(&b, "weir_info", l2, 1, NAN), 0);
    ASSERT_EQ(prom_family(&b, "weir_big_total", PROM_COUNTER, NULL), 0);
    ASSERT_EQ(prom_sample_u64(&b, "weir_big_total", NULL, 0, UINT64_MAX), 0);
    ASSERT_EQ(prom_family(&b, "weir:ratio", PROM_GAUGE, "r"), 0);
    ASSERT_EQ(prom_sample(&b, "weir:ratio", NULL, 0, -INFINITY), 0);
    ASSERT(!b.failed);
    ASSERT(http_buf_append(&b, "", 1) == 0); /* NUL for the string checks */
    b.len--;

    /* The exact text, from the format's escaping rules. */
    ASSERT(strstr(b.data,
                  "# HELP weir_info Help with \\\\ and\\na newline.\n"
                  "# TYPE weir_info gauge\n"
                  "weir_info{task=\"a\\\\b\\\"c\\nd\"} 0.1\n") == b.data);
    ASSERT(strstr(b.data, "weir_big_total 18446744073709551615\n"));
    ASSERT(strstr(b.data, "weir:ratio -Inf\n"));
    ASSERT(strstr(b.data, "\xef\xbf\xbd\xef\xbf\xbd utf8 \xc3\xa9\"} NaN\n"));

    /* And the checker reads back what was meant. */
    ASSERT(px_check(&p, b.data, b.len));
    s = px_find(&p, "weir_info", "task", "a\\b\"c\nd");
    ASSERT(s != NULL && s->value == 0.1);
    ASSERT(px_find(&p, "weir_big_total", NULL, NULL) != NULL);
    free(b.data);
}

static void prom_values_round_trip(void)
{
    struct http_buf b = {.max = 1 << 20};
    static struct px p;
    uint64_t seed = test_seed();
    double v[200];
    char name[32];

    for (size_t i = 0; i < 200; i++) {
        uint64_t r = test_rand(&seed);
        double d;
        memcpy(&d, &r, sizeof(d));
        v[i] = isfinite(d) ? d : (double)(int64_t)r / 3.0;
        snprintf(name, sizeof(name), "m%zu", i);
        ASSERT_EQ(prom_family(&b, name, PROM_GAUGE, "random"), 0);
        ASSERT_EQ(prom_sample(&b, name, NULL, 0, v[i]), 0);
    }
    ASSERT(px_check(&p, b.data, b.len) || (fprintf(stderr, "%s\n", p.err), 0));
    ASSERT_EQ(p.n, 200);
    for (size_t i = 0; i < 200; i++)
        ASSERT(p.s[i].value == v[i]); /* exact: shortest round-trip form */
    free(b.data);
}

static void http_buf_respects_max(void)
{
    struct http_buf b = {.max = 10};

    ASSERT_EQ(http_buf_append(&b, "12345", 5), 0);
    ASSERT_EQ(http_buf_printf(&b, "%s", "678"), 0);
    ASSERT_EQ(http_buf_printf(&b, "%s", "9ab"), -ENOBUFS);
    ASSERT(b.failed);
    ASSERT_EQ(b.len, 8);
    ASSERT(memcmp(b.data, "12345678", 8) == 0);
    ASSERT_EQ(http_buf_append(&b, "9", 1), -ENOBUFS); /* stays failed */
    free(b.data);
}

/* ---- A server in a loop thread ----------------------------------------- */

struct srv {
    uv_loop_t loop;
    uv_async_t stop;
    struct http_server *s;
    pthread_t th;
    int port;
    bool unhealthy;          /* /healthz answers 503 */
    unsigned metrics_calls;  /* loop thread; read after join */
    struct http_stats final; /* taken on the loop thread at stop */
};

/* Called on: loop thread. */
static int fill_metrics(void *ctx, struct http_buf *b)
{
    struct srv *v = ctx;
    const struct prom_label lab[] = {{"reason", "out_of_range"}};
    const struct prom_label task[] = {{"task", "co2 \"forecast\"\n"}};

    v->metrics_calls++;
    prom_family(b, "weir_rejects_total", PROM_COUNTER, "Readings refused.");
    prom_sample_u64(b, "weir_rejects_total", lab, 1, 42);
    prom_family(b, "weir_task_rmse", PROM_GAUGE, "Champion RMSE.");
    prom_sample(b, "weir_task_rmse", task, 1, 12.5);
    prom_family(b, "weir_up", PROM_GAUGE, "1 when connected.");
    prom_sample(b, "weir_up", NULL, 0, 1);
    return 200;
}

/* Called on: loop thread. */
static int fill_health(void *ctx, struct http_buf *b)
{
    struct srv *v = ctx;

    http_buf_printf(b, "%s\n", v->unhealthy ? "disconnected" : "ok");
    return v->unhealthy ? 503 : 200;
}

/* Called on: loop thread. */
static int fill_fail(void *ctx, struct http_buf *b)
{
    (void)ctx;
    (void)b;
    return -EIO;
}

/* Called on: loop thread. */
static void on_stop(uv_async_t *a)
{
    struct srv *v = a->data;

    http_stats(v->s, &v->final);
    http_free(v->s);
    uv_close((uv_handle_t *)a, NULL);
}

static void *loop_main(void *arg)
{
    struct srv *v = arg;

    uv_run(&v->loop, UV_RUN_DEFAULT);
    return NULL;
}

static void start(struct srv *v, const struct http_options *o)
{
    ASSERT_EQ(uv_loop_init(&v->loop), 0);
    ASSERT_EQ(uv_async_init(&v->loop, &v->stop, on_stop), 0);
    v->stop.data = v;
    ASSERT_EQ(http_new(&v->s, &v->loop, o), 0);
    ASSERT_EQ(http_route(v->s, "/metrics", PROM_CONTENT_TYPE, fill_metrics, v),
              0);
    ASSERT_EQ(http_route(v->s, "/healthz", "text/plain", fill_health, v), 0);
    ASSERT_EQ(http_route(v->s, "/fail", "text/plain", fill_fail, v), 0);
    ASSERT_EQ(http_route(v->s, "/metrics", "x", fill_fail, v), -EEXIST);
    ASSERT_EQ(http_route(v->s, "nope", "x", fill_fail, v), -EINVAL);
    ASSERT_EQ(http_port(v->s), -1);
    ASSERT_EQ(http_start(v->s, "127.0.0.1", 0), 0);
    v->port = http_port(v->s);
    ASSERT(v->port > 0);
    ASSERT_EQ(pthread_create(&v->th, NULL, loop_main, v), 0);
}

/* Stop the loop; uv_loop_close() succeeding proves every handle closed. */
static void stop(struct srv *v)
{
    ASSERT_EQ(uv_async_send(&v->stop), 0);
    ASSERT_EQ(pthread_join(v->th, NULL), 0);
    ASSERT_EQ(uv_loop_close(&v->loop), 0);
}

static int connect_to(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port)};
    struct timeval tv = {10, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ASSERT(fd >= 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    ASSERT_EQ(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

static void send_str(int fd, const char *s)
{
    size_t n = strlen(s);

    while (n > 0) {
        ssize_t k = send(fd, s, n, MSG_NOSIGNAL);
        ASSERT(k > 0);
        s += k;
        n -= (size_t)k;
    }
}

struct resp {
    int status;
    char head[2048];  /* status line and headers, NUL-terminated */
    char body[65536]; /* Content-Length bytes, NUL-terminated */
    size_t len;
};

/* Read one response (head; then Content-Length bytes unless head_only).
 * Returns false on EOF before a full head. */
static bool read_resp(int fd, struct resp *r, bool head_only)
{
    size_t n = 0;
    const char *cl;
    char *end;

    memset(r, 0, sizeof(*r));
    while ((end = strstr(r->head, "\r\n\r\n")) == NULL) {
        ASSERT(n + 1 < sizeof(r->head));
        ssize_t k = recv(fd, r->head + n, 1, 0); /* byte by byte: no overread */
        if (k <= 0)
            return false;
        n++;
    }
    end[2] = '\0';
    ASSERT(sscanf(r->head, "HTTP/1.1 %d ", &r->status) == 1);
    cl = strcasestr(r->head, "\r\nContent-Length: ");
    ASSERT(cl != NULL);
    r->len = strtoul(cl + 18, NULL, 10);
    ASSERT(r->len < sizeof(r->body));
    for (n = 0; !head_only && n < r->len;) {
        ssize_t k = recv(fd, r->body + n, r->len - n, 0);
        ASSERT(k > 0);
        n += (size_t)k;
    }
    return true;
}

/* true if the server closed the connection (EOF, or a reset). */
static bool closed_by_server(int fd)
{
    char c;
    ssize_t k = recv(fd, &c, 1, 0);

    return k == 0 || (k < 0 && errno == ECONNRESET);
}

static bool has_header(const struct resp *r, const char *line)
{
    return strcasestr(r->head, line) != NULL;
}

/* ---- Server cases ------------------------------------------------------ */

static void metrics_are_served(void)
{
    static struct srv v;
    static struct resp r;
    static struct px p;
    const struct px_sample *s;
    int fd;

    start(&v, NULL);
    fd = connect_to(v.port);
    send_str(fd, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n"
                 "User-Agent: test\r\nAccept: */*\r\n\r\n");
    ASSERT(read_resp(fd, &r, false));
    ASSERT_EQ(r.status, 200);
    ASSERT(has_header(&r, "\r\nContent-Type: " PROM_CONTENT_TYPE "\r\n"));
    ASSERT(has_header(&r, "\r\nConnection: keep-alive\r\n"));
    ASSERT(has_header(&r, "\r\nDate: "));
    ASSERT(px_check(&p, r.body, r.len) || (fprintf(stderr, "%s\n", p.err), 0));
    ASSERT_EQ(p.n, 3);
    s = px_find(&p, "weir_rejects_total", "reason", "out_of_range");
    ASSERT(s != NULL && s->value == 42);
    s = px_find(&p, "weir_task_rmse", "task", "co2 \"forecast\"\n");
    ASSERT(s != NULL && s->value == 12.5);

    /* Same connection: a query string is ignored, /healthz answers. */
    send_str(fd, "GET /healthz?verbose=1 HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT(read_resp(fd, &r, false));
    ASSERT_EQ(r.status, 200);
    ASSERT_STREQ(r.body, "ok\n");
    close(fd);
    stop(&v);
    ASSERT_EQ(v.metrics_calls, 1);
    ASSERT_EQ(v.final.requests, 2);
    ASSERT_EQ(v.final.bad, 0);
}

static void head_and_errors_keep_the_connection(void)
{
    static struct srv v;
    static struct resp r;
    int fd;

    start(&v, NULL);
    fd = connect_to(v.port);
    send_str(fd, "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT(read_resp(fd, &r, true));
    ASSERT_EQ(r.status, 200);
    ASSERT(r.len > 100); /* the length a GET would have */
    /* No body followed: the next bytes are the next response. */
    send_str(fd, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT(read_resp(fd, &r, false));
    ASSERT_EQ(r.status, 404);
    send_str(fd, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                 "\r\nabc");
    ASSERT(read_resp(fd, &r, false));
    ASSERT_EQ(r.status, 405);
    ASSERT(has_header(&r, "\r\nAllow: GET, HEAD\r\n"));
    send_str(fd, "GET /fail HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT(read_resp(fd, &r, false));
    ASSERT_EQ(r.status, 500);
    send_str(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT(read_resp(fd, &r, false));
    ASSERT_EQ(r.status, 200);
    close(fd);
    stop(&v);
}

static void unhealthy_is_503(void)
{
    static struct srv v;
    static struct resp r;
    int fd;

    v.unhealthy = true; /* before the loop thread starts */
    start(&v, NULL);
    fd = connect_to(v.port);
    send_str(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT(read_resp(fd, &r, false));
    ASSERT_EQ(r.status, 503);
    ASSERT_STREQ(r.body, "disconnected\n");
    close(fd);
    stop(&v);
}

static void pipelined_and_http10(void)
{
    static struct srv v;
    static struct resp r;
    int fd;

    start(&v, NULL);
    fd = connect_to(v.port);
    send_str(fd,
             "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
             "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
             "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    ASSERT(read_resp(fd, &r, false));
    ASSERT_EQ(r.status, 200);
    ASSERT(read_resp(fd, &r, false));
    ASSERT_EQ(r.status, 404);
    ASSERT(read_resp(fd, &r, false));
    ASSERT_EQ(r.status, 200);
    ASSERT(has_header(&r, "\r\nConnection: close\r\n"));
    ASSERT(closed_by_server(fd));
    close(fd);

    /* HTTP/1.0 closes by default (and needs no Host). */
    fd = connect_to(v.port);
    send_str(fd, "GET /healthz HTTP/1.0\r\n\r\n");
    ASSERT(read_resp(fd, &r, false));
    ASSERT_EQ(r.status, 200);
    ASSERT(has_header(&r, "\r\nConnection: close\r\n"));
    ASSERT(closed_by_server(fd));
    close(fd);
    /* ... unless it asks for keep-alive. */
    fd = connect_to(v.port);
    send_str(fd, "GET /healthz HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"
                 "GET /healthz HTTP/1.0\r\n\r\n");
    ASSERT(read_resp(fd, &r, false));
    ASSERT(has_header(&r, "\r\nConnection: keep-alive\r\n"));
    ASSERT(read_resp(fd, &r, false));
    ASSERT(closed_by_server(fd));
    close(fd);
    stop(&v);
}

static void malformed_requests_get_4xx_and_close(void)
{
    static const struct {
        const char *req;
        int status;
    } cases[] = {
        {"GARBAGE\r\n\r\n", 400},
        {"GET /metrics HTTP/1.1\r\n\r\n", 400}, /* no Host */
        {"GET /metrics HTTP/2.0\r\nHost: x\r\n\r\n", 505},
        {"GET /metrics HTTP/1.1\r\nHost: x\r\n"
         "Transfer-Encoding: chunked\r\n\r\n",
         501},
        {"GET metrics HTTP/1.1\r\nHost: x\r\n\r\n", 400},
        {"GET  /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 400},
        {"GET /metrics HTTP/1.1\r\nHost : x\r\n\r\n", 400},
        {"GET /metrics HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400},
        {"GET /metrics HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400},
        {"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n", 400},
        {"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
         "Content-Length: 3\r\n\r\nab",
         400},
        {"GET /met\x01rics HTTP/1.1\r\nHost: x\r\n\r\n", 400},
        {"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n",
         413},
        {NULL, 0}};
    static struct srv v;
    static struct resp r;

    start(&v, NULL);
    for (size_t i = 0; cases[i].req; i++) {
        int fd = connect_to(v.port);
        send_str(fd, cases[i].req);
        ASSERT(read_resp(fd, &r, false));
        if (r.status != cases[i].status)
            fprintf(stderr, "case %zu: got %d\n", i, r.status);
        ASSERT_EQ(r.status, cases[i].status);
        ASSERT(has_header(&r, "\r\nConnection: close\r\n"));
        ASSERT(closed_by_server(fd));
        close(fd);
    }
    stop(&v);
    ASSERT_EQ(v.final.bad, 13);
}

static void oversized_requests_get_431_and_414(void)
{
    static struct srv v;
    static struct resp r;
    static char big[12000];
    int fd;

    start(&v, NULL);
    /* Headers over 8 KiB: 431, and the client still reads it. */
    fd = connect_to(v.port);
    strcpy(big, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: ");
    memset(big + strlen(big), 'a', 9000);
    send_str(fd, big);
    ASSERT(read_resp(fd, &r, false));
    ASSERT_EQ(r.status, 431);
    ASSERT(closed_by_server(fd));
    close(fd);
    /* A request line over 8 KiB: 414. */
    fd = connect_to(v.port);
    memset(big, 0, sizeof(big));
    strcpy(big, "GET /");
    memset(big + 5, 'm', 10000);
    send_str(fd, big);
    ASSERT(read_resp(fd, &r, false));
    ASSERT_EQ(r.status, 414);
    ASSERT(closed_by_server(fd));
    close(fd);
    /* The server still serves. */
    fd = connect_to(v.port);
    send_str(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT(read_resp(fd, &r, false));
    ASSERT_EQ(r.status, 200);
    close(fd);
    stop(&v);
}

/* A client that trickles a request a byte at a time is cut off after the
 * timeout even though it keeps sending, while another client is served. */
static void slowloris_is_dropped_while_others_are_served(void)
{
    static struct srv v;
    static struct resp r;
    struct http_options o;
    const char *part = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    struct timespec t0;
    struct timespec t1;
    bool dropped = false;
    int slow;
    int fd;

    http_options_default(&o);
    o.timeout_ms = 300;
    start(&v, &o);
    slow = connect_to(v.port);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    send_str(slow, "GET /metr");
    fd = connect_to(v.port);
    send_str(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT(read_resp(fd, &r, false));
    ASSERT_EQ(r.status, 200);
    close(fd);
    /* Keep trickling (for at most 20 s) until the server gives up. */
    for (int i = 0; i < 400 && !dropped; i++) {
        char c = part[i % strlen(part)];
        nanosleep(&(struct timespec){0, 50000000}, NULL);
        dropped = send(slow, &c, 1, MSG_NOSIGNAL) < 0;
        if (!dropped) {
            struct timeval tv = {0, 1000};
            char buf[256];
            setsockopt(slow, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
            ssize_t k = recv(slow, buf, sizeof(buf) - 1, 0);
            if (k > 0) {
                buf[k] = '\0';
                ASSERT(strncmp(buf, "HTTP/1.1 408 ", 13) == 0);
                dropped = true;
            } else if (k == 0) {
                dropped = true;
            }
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ASSERT(dropped);
    /* It was cut at the timeout, not when it stopped: it never stopped.
     * (A sanity bound, far above 300 ms, not a speed requirement.) */
    ASSERT(t1.tv_sec - t0.tv_sec < 15);
    close(slow);
    stop(&v);
    ASSERT(v.final.timeouts >= 1);
}

static void many_concurrent_connections(void)
{
    enum { N = 60 };
    static struct srv v;
    static struct resp r;
    struct http_options o;
    int fd[N];

    http_options_default(&o);
    o.max_connections = 64;
    start(&v, &o);
    for (int i = 0; i < N; i++)
        fd[i] = connect_to(v.port);
    for (int i = N - 1; i >= 0; i--)
        send_str(fd[i], "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < N; i++) {
            ASSERT(read_resp(fd[i], &r, false));
            ASSERT_EQ(r.status, 200);
            if (round == 0) /* a second request on each, kept alive */
                send_str(fd[i], "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        }
    }
    for (int i = 0; i < N; i++)
        close(fd[i]);
    stop(&v);
    ASSERT_EQ(v.final.accepted, N);
    ASSERT_EQ(v.final.requests, 2 * N);
    ASSERT_EQ(v.metrics_calls, N);
}

static void connection_cap_answers_503(void)
{
    static struct srv v;
    static struct resp r;
    struct http_options o;
    int fd[4];
    int extra;
    bool served = false;

    http_options_default(&o);
    o.max_connections = 4;
    start(&v, &o);
    for (int i = 0; i < 4; i++) { /* four open, kept-alive connections */
        fd[i] = connect_to(v.port);
        send_str(fd[i], "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        ASSERT(read_resp(fd[i], &r, false));
        ASSERT_EQ(r.status, 200);
    }
    extra = connect_to(v.port);
    ASSERT(read_resp(extra, &r, false));
    ASSERT_EQ(r.status, 503);
    ASSERT(closed_by_server(extra));
    close(extra);
    /* Once one closes, new clients are served again (the server notices
     * the close asynchronously: retry a bounded number of times). */
    close(fd[0]);
    for (int i = 0; i < 200 && !served; i++) {
        extra = connect_to(v.port);
        send_str(extra, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        served = read_resp(extra, &r, false) && r.status == 200;
        close(extra);
        if (!served)
            nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    ASSERT(served);
    for (int i = 1; i < 4; i++)
        close(fd[i]);
    stop(&v);
    ASSERT(v.final.refused >= 1);
}

static void start_refuses_bad_addresses(void)
{
    uv_loop_t loop;
    struct http_server *s;
    struct http_options o;

    ASSERT_EQ(uv_loop_init(&loop), 0);
    http_options_default(&o);
    o.max_connections = 0;
    ASSERT_EQ(http_new(&s, &loop, &o), -EINVAL);
    ASSERT_EQ(http_new(&s, &loop, NULL), 0);
    ASSERT_EQ(http_start(s, "localhost", 0), -EINVAL); /* no name lookup */
    ASSERT_EQ(http_start(s, "127.0.0.1", 70000), -EINVAL);
    http_free(s);
    ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ASSERT_EQ(uv_loop_close(&loop), 0);
}

static const struct test tests[] = {
    {"checker_refuses_bad_expositions", checker_refuses_bad_expositions},
    {"prom_escapes_and_formats", prom_escapes_and_formats},
    {"prom_values_round_trip", prom_values_round_trip},
    {"http_buf_respects_max", http_buf_respects_max},
    {"metrics_are_served", metrics_are_served},
    {"head_and_errors_keep_the_connection",
     head_and_errors_keep_the_connection},
    {"unhealthy_is_503", unhealthy_is_503},
    {"pipelined_and_http10", pipelined_and_http10},
    {"malformed_requests_get_4xx_and_close",
     malformed_requests_get_4xx_and_close},
    {"oversized_requests_get_431_and_414", oversized_requests_get_431_and_414},
    {"slowloris_is_dropped_while_others_are_served",
     slowloris_is_dropped_while_others_are_served},
    {"many_concurrent_connections", many_concurrent_connections},
    {"connection_cap_answers_503", connection_cap_answers_503},
    {"start_refuses_bad_addresses", start_refuses_bad_addresses},
    {NULL, NULL}};

int main(int argc, char **argv)
{
    return test_main(argc, argv, tests);
}
