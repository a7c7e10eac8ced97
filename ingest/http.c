/* http.c -- the metrics endpoint's HTTP/1.1 server (see http.h).
 *
 * Each connection is one allocation: the struct http_conn with its request
 * buffer of max_request_bytes behind it, a uv_tcp_t and a uv_timer_t. A
 * connection alternates between two states:
 *
 *   reading   bytes accumulate in req[]; after each read the buffer is
 *             parsed from the start (it is at most a few KiB, so reparsing
 *             is cheaper than an incremental parser's state). A complete
 *             request stops reading and is answered.
 *   writing   one uv_write of the response head and body; reading is off,
 *             so a client cannot make us buffer without bound. When it
 *             completes, the timer restarts and any pipelined bytes
 *             already in req[] are parsed before reading again.
 *
 * The timer runs from accept (or the end of the previous response) and is
 * not reset by incoming bytes, so a request that trickles in a byte at a
 * time still times out: that is the slowloris defence. An error answer is
 * followed by a lingering close as in nginx: shut down our side, read and
 * discard what the client still sends (bounded by the timer), then close,
 * so that the client reads our 4xx instead of a reset caused by unread
 * data in our receive buffer.
 *
 * A connection is freed when the close callbacks of both its handles have
 * run (STYLE R7); the server when its listener and every connection are
 * closed.
 *
 * Threads: the loop thread only, like libuv itself. */
#include "ingest/http.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define HTTP_MAX_ROUTES 16
#define HTTP_BACKLOG 128
#define HTTP_HEAD_MAX 512 /* bytes of a response head */

struct http_route_entry {
    char *path;         /* Owned; compared with the request path. */
    char *content_type; /* Owned. */
    http_fill_fn fill;  /* Caller's callback. */
    void *ctx;          /* Passed to fill. */
};

struct http_server {
    uv_loop_t *loop;         /* Borrowed. */
    uv_tcp_t listener;       /* Initialised in http_new(). */
    struct http_options opt; /* Copied at http_new(). */
    struct http_route_entry routes[HTTP_MAX_ROUTES]; /* nroutes used. */
    size_t nroutes;                                  /* Routes registered. */
    struct http_conn *conns; /* Open connections, a doubly linked list. */
    struct http_stats st;    /* Counters. */
    int port;                /* Bound port, -1 before http_start(). */
    bool listener_open;      /* Its close callback has not run. */
    bool closing;            /* http_free() was called. */
};

struct http_conn {
    uv_tcp_t tcp;            /* The client socket. */
    uv_timer_t timer;        /* Request / idle / linger timeout. */
    uv_shutdown_t shut;      /* For the lingering close. */
    struct http_server *srv; /* Owner. */
    struct http_conn *prev;  /* In srv->conns. */
    struct http_conn *next;  /* In srv->conns. */
    int handles;             /* Handles whose close cb is pending. */
    size_t cap;              /* Bytes of req[]. */
    size_t len;              /* Bytes of req[] in use. */
    bool reading;            /* uv_read_start() is in effect. */
    bool busy;               /* A response is being written. */
    bool draining;           /* Lingering close: discard input. */
    bool peer_eof;           /* The client shut down its side. */
    bool closing;            /* uv_close() was called. */
    char req[];              /* cap bytes. */
};

struct http_write {
    uv_write_t wr;            /* The libuv request. */
    struct http_conn *c;      /* Connection written to. */
    bool close_after;         /* Lingering close when done. */
    char *body;               /* Owned, or NULL. */
    char head[HTTP_HEAD_MAX]; /* Status line and headers. */
};

/* A parsed request; pointers into the connection's buffer. */
struct http_req {
    const char *method; /* Not NUL-terminated. */
    size_t method_len;
    const char *path; /* Up to '?' or '#'. */
    size_t path_len;
    int minor;       /* HTTP/1.minor. */
    bool has_host;   /* A Host header was present. */
    bool conn_close; /* Connection: close. */
    bool conn_keep;  /* Connection: keep-alive. */
    bool has_length; /* A Content-Length header was present. */
    size_t length;   /* Its value. */
    size_t total;    /* Bytes of the whole request, body included. */
};

static void conn_process(struct http_conn *c);

/* ---- Body buffer ------------------------------------------------------- */

static int buf_reserve(struct http_buf *b, size_t extra)
{
    size_t want;
    char *p;

    if (b->failed)
        return -ENOBUFS;
    if (extra > b->max || b->len > b->max - extra) {
        b->failed = true;
        return -ENOBUFS;
    }
    want = b->len + extra;
    if (want <= b->cap)
        return 0;
    want = want < 1024 ? 1024 : want;
    if (want < b->cap * 2)
        want = b->cap * 2 < b->max ? b->cap * 2 : b->max;
    if ((p = realloc(b->data, want)) == NULL) {
        b->failed = true;
        return -ENOMEM;
    }
    b->data = p;
    b->cap = want;
    return 0;
}

int http_buf_append(struct http_buf *b, const void *p, size_t n)
{
    int rc = buf_reserve(b, n);

    if (rc < 0)
        return rc;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int http_buf_printf(struct http_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    int rc;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return -EINVAL;
    }
    /* One byte more for vsnprintf's NUL, which len does not count. */
    if ((rc = buf_reserve(b, (size_t)n + 1)) < 0)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

/* ---- Request parsing --------------------------------------------------- */

static bool is_tchar(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9') ||
           (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch));
}

/* Position just past the next '\n' at or after from, or 0 if none. */
static size_t next_line(const char *buf, size_t len, size_t from)
{
    const char *nl = memchr(buf + from, '\n', len - from);

    return nl ? (size_t)(nl - buf) + 1 : 0;
}

/* Length of a line without its "\r\n" or "\n". */
static size_t line_len(const char *buf, size_t start, size_t end)
{
    size_t n = end - start - 1;

    if (n > 0 && buf[start + n - 1] == '\r')
        n--;
    return n;
}

/* Parse "METHOD SP target SP HTTP/1.x". Returns 0 or a negative status. */
static int parse_request_line(const char *p, size_t n, struct http_req *rq)
{
    const char *sp1 = memchr(p, ' ', n);
    const char *sp2;
    const char *q;

    if (sp1 == NULL || sp1 == p)
        return -400;
    for (q = p; q < sp1; q++)
        if (!is_tchar(*q))
            return -400;
    rq->method = p;
    rq->method_len = (size_t)(sp1 - p);
    sp2 = memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - p));
    if (sp2 == NULL || sp2 == sp1 + 1 || sp1[1] != '/')
        return -400;
    rq->path = sp1 + 1;
    for (q = rq->path; q < sp2 && *q != '?' && *q != '#'; q++)
        if ((unsigned char)*q <= 0x20 || *q == 0x7f)
            return -400;
    rq->path_len = (size_t)(q - rq->path);
    for (; q < sp2; q++)
        if ((unsigned char)*q <= 0x20 || *q == 0x7f)
            return -400;
    q = sp2 + 1;
    n -= (size_t)(q - p);
    if (n != 8 || memcmp(q, "HTTP/", 5) != 0 || q[6] != '.' || q[5] < '0' ||
        q[5] > '9' || q[7] < '0' || q[7] > '9')
        return -400;
    if (q[5] != '1' || (q[7] != '0' && q[7] != '1'))
        return -505;
    rq->minor = q[7] - '0';
    return 0;
}

/* true if the comma-separated list v[0..n) holds token tok (any case). */
static bool has_token(const char *v, size_t n, const char *tok)
{
    size_t tl = strlen(tok);
    size_t i = 0;

    while (i < n) {
        size_t j = i;
        while (j < n && v[j] != ',')
            j++;
        size_t a = i;
        size_t b = j;
        while (a < b && (v[a] == ' ' || v[a] == '\t'))
            a++;
        while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t'))
            b--;
        if (b - a == tl && strncasecmp(v + a, tok, tl) == 0)
            return true;
        i = j + 1;
    }
    return false;
}

static int parse_length(const char *v, size_t n, struct http_req *rq)
{
    size_t x = 0;

    if (n == 0 || n > 15)
        return -400;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -400;
        x = x * 10 + (size_t)(v[i] - '0');
    }
    if (rq->has_length && rq->length != x)
        return -400;
    rq->has_length = true;
    rq->length = x;
    return 0;
}

/* One "Name: value" line. Returns 0 or a negative status. */
static int parse_header(const char *p, size_t n, struct http_req *rq)
{
    const char *colon = memchr(p, ':', n);
    size_t nl;
    const char *v;
    size_t vl;

    if (colon == NULL || colon == p)
        return -400; /* also obs-fold: a line starting with SP or HTAB */
    nl = (size_t)(colon - p);
    for (size_t i = 0; i < nl; i++)
        if (!is_tchar(p[i]))
            return -400;
    v = colon + 1;
    vl = n - nl - 1;
    while (vl > 0 && (*v == ' ' || *v == '\t'))
        v++, vl--;
    while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        vl--;
    for (size_t i = 0; i < vl; i++)
        if (((unsigned char)v[i] < 0x20 && v[i] != '\t') || v[i] == 0x7f)
            return -400;
    if (nl == 4 && strncasecmp(p, "host", 4) == 0) {
        if (rq->has_host)
            return -400;
        rq->has_host = true;
    } else if (nl == 10 && strncasecmp(p, "connection", 10) == 0) {
        rq->conn_close |= has_token(v, vl, "close");
        rq->conn_keep |= has_token(v, vl, "keep-alive");
    } else if (nl == 14 && strncasecmp(p, "content-length", 14) == 0) {
        return parse_length(v, vl, rq);
    } else if (nl == 17 && strncasecmp(p, "transfer-encoding", 17) == 0) {
        return -501;
    }
    return 0;
}

/* Parse the request at buf[0..len) of a buffer of cap bytes. Returns 1 (a
 * whole request: rq filled, rq->total its length), 0 (incomplete) or a
 * negative HTTP status for a request that cannot be served. */
static int parse_request(const char *buf, size_t len, size_t cap,
                         struct http_req *rq)
{
    size_t eol = next_line(buf, len, 0);
    size_t pos;
    int rc;

    memset(rq, 0, sizeof(*rq));
    if (eol == 0)
        return len >= cap ? -414 : 0;
    /* Find the blank line that ends the headers before parsing any. */
    for (pos = eol;;) {
        size_t end = next_line(buf, len, pos);
        if (end == 0)
            return len >= cap ? -431 : 0;
        if (line_len(buf, pos, end) == 0)
            break;
        pos = end;
    }
    if ((rc = parse_request_line(buf, line_len(buf, 0, eol), rq)) < 0)
        return rc;
    for (pos = eol;;) {
        size_t end = next_line(buf, len, pos);
        size_t n = line_len(buf, pos, end);
        if (n == 0) {
            pos = end;
            break;
        }
        if ((rc = parse_header(buf + pos, n, rq)) < 0)
            return rc;
        pos = end;
    }
    if (rq->minor == 1 && !rq->has_host)
        return -400; /* RFC 9112 3.2: MUST respond 400 */
    if (rq->length > cap - pos)
        return -413;
    if (len - pos < rq->length)
        return 0;
    rq->total = pos + rq->length;
    return 1;
}

/* ---- Responses --------------------------------------------------------- */

static const char *status_text(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return status >= 500 ? "Error" : "Status";
    }
}

/* RFC 9110 IMF-fixdate, independent of the locale. */
static void http_date(char *out, size_t cap)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed",
                                    "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr",
                                       "May", "Jun", "Jul", "Aug",
                                       "Sep", "Oct", "Nov", "Dec"};
    time_t now = time(NULL);
    struct tm tm;

    if (gmtime_r(&now, &tm) == NULL) {
        snprintf(out, cap, "Thu, 01 Jan 1970 00:00:00 GMT");
        return;
    }
    snprintf(out, cap, "%s, %02d %s %04d %02d:%02d:%02d GMT",
             days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
             tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static void conn_free_cb(uv_handle_t *h)
{
    struct http_conn *c = h->data;
    struct http_server *s = c->srv;

    if (--c->handles > 0)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->st.open--;
    free(c);
    if (s->closing && s->conns == NULL && !s->listener_open)
        free(s);
}

static void conn_close(struct http_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->tcp, conn_free_cb);
    uv_close((uv_handle_t *)&c->timer, conn_free_cb);
}

static void on_timeout(uv_timer_t *t);
static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct http_conn *c = h->data;

    (void)hint;
    if (c->draining) /* discard: reuse the whole buffer */
        *buf = uv_buf_init(c->req, (unsigned)c->cap);
    else
        *buf = uv_buf_init(c->req + c->len, (unsigned)(c->cap - c->len));
}

static void conn_read(struct http_conn *c, bool on)
{
    if (on == c->reading || c->closing)
        return;
    if (on && uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) {
        conn_close(c);
        return;
    }
    if (!on)
        uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = on;
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)req;
    (void)status; /* the close that follows handles every outcome */
}

/* After an answer that ends the connection: FIN, then discard input until
 * the client closes or the timer fires. */
static void conn_linger(struct http_conn *c)
{
    if (c->closing)
        return;
    if (c->peer_eof ||
        uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
        conn_close(c);
        return;
    }
    c->draining = true;
    c->len = 0;
    conn_read(c, true);
}

static void on_write(uv_write_t *wr, int status)
{
    struct http_write *w = (struct http_write *)wr;
    struct http_conn *c = w->c;
    bool close_after = w->close_after;

    free(w->body);
    free(w);
    if (c->closing)
        return;
    c->busy = false;
    if (status < 0) {
        conn_close(c);
        return;
    }
    uv_timer_start(&c->timer, on_timeout, c->srv->opt.timeout_ms, 0);
    if (close_after)
        conn_linger(c);
    else
        conn_process(c);
}

/* Queue one response; takes body (may be NULL). */
static void conn_send(struct http_conn *c, int status, const char *ctype,
                      struct http_buf *body, bool head_only, bool close)
{
    struct http_write *w = calloc(1, sizeof(*w));
    char date[40];
    uv_buf_t bufs[2];
    int n;

    if (w == NULL) {
        free(body->data);
        conn_close(c);
        return;
    }
    http_date(date, sizeof(date));
    n = snprintf(w->head, sizeof(w->head),
                 "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: %s\r\n"
                 "Content-Length: %zu\r\nCache-Control: no-store\r\n"
                 "%sConnection: %s\r\n\r\n",
                 status, status_text(status), date, ctype, body->len,
                 status == 405 ? "Allow: GET, HEAD\r\n" : "",
                 close ? "close" : "keep-alive");
    w->c = c;
    w->close_after = close;
    w->body = body->data;
    bufs[0] = uv_buf_init(w->head, (unsigned)n);
    bufs[1] = uv_buf_init(w->body, (unsigned)body->len);
    c->busy = true;
    c->srv->st.requests++;
    if (status >= 400 && status != 503 && status != 500)
        c->srv->st.bad++;
    conn_read(c, false);
    if (uv_write(&w->wr, (uv_stream_t *)&c->tcp, bufs,
                 head_only || body->len == 0 ? 1 : 2, on_write) < 0) {
        free(w->body);
        free(w);
        c->busy = false;
        conn_close(c);
    }
}

/* A short text answer for an error status. */
static void conn_error(struct http_conn *c, int status, bool head_only,
                       bool close)
{
    struct http_buf body = {.max = 256};

    http_buf_printf(&body, "%d %s\n", status, status_text(status));
    conn_send(c, status, "text/plain; charset=utf-8", &body, head_only, close);
}

static const struct http_route_entry *find_route(const struct http_server *s,
                                                 const struct http_req *rq)
{
    for (size_t i = 0; i < s->nroutes; i++) {
        const char *p = s->routes[i].path;
        if (strlen(p) == rq->path_len && memcmp(p, rq->path, rq->path_len) == 0)
            return &s->routes[i];
    }
    return NULL;
}

static bool method_is(const struct http_req *rq, const char *m)
{
    return rq->method_len == strlen(m) &&
           memcmp(rq->method, m, rq->method_len) == 0;
}

static void conn_answer(struct http_conn *c, const struct http_req *rq)
{
    const struct http_server *s = c->srv;
    const struct http_route_entry *r = find_route(s, rq);
    bool head = method_is(rq, "HEAD");
    bool keep = s->opt.keep_alive && !c->peer_eof && !rq->conn_close &&
                (rq->minor == 1 || rq->conn_keep);
    struct http_buf body = {.max = s->opt.max_response_bytes};
    int status;

    if (r == NULL) {
        conn_error(c, 404, head, !keep);
        return;
    }
    if (!head && !method_is(rq, "GET")) {
        conn_error(c, 405, false, !keep);
        return;
    }
    status = r->fill(r->ctx, &body);
    if (status < 200 || status > 599 || body.failed) {
        free(body.data);
        conn_error(c, 500, head, !keep);
        return;
    }
    conn_send(c, status, r->content_type, &body, head, !keep);
}

/* Answer every complete request in req[]; read more if there is none. */
static void conn_process(struct http_conn *c)
{
    struct http_req rq;
    size_t skip = 0;
    int rc;

    if (c->closing || c->busy || c->draining)
        return;
    /* RFC 9112 2.2: ignore empty lines before a request line. */
    while (skip < c->len && (c->req[skip] == '\r' || c->req[skip] == '\n'))
        skip++;
    memmove(c->req, c->req + skip, c->len - skip);
    c->len -= skip;
    rc = parse_request(c->req, c->len, c->cap, &rq);
    if (rc == 0) {
        if (c->peer_eof)
            conn_close(c);
        else
            conn_read(c, true);
        return;
    }
    if (rc < 0) {
        conn_error(c, -rc, false, true);
        return;
    }
    conn_answer(c, &rq);
    /* rq points into req[]; the answer is built, so drop the request. */
    memmove(c->req, c->req + rq.total, c->len - rq.total);
    c->len -= rq.total;
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct http_conn *c = st->data;

    (void)buf;
    if (nread == 0 || c->closing)
        return;
    if (nread < 0) {
        conn_read(c, false);
        c->peer_eof = true;
        if (nread != UV_EOF || c->draining || !c->busy)
            conn_close(c);
        return;
    }
    if (c->draining)
        return;
    c->len += (size_t)nread;
    conn_process(c);
}

static void on_timeout(uv_timer_t *t)
{
    struct http_conn *c = t->data;

    c->srv->st.timeouts++;
    if (c->len > 0 && !c->busy && !c->draining)
        conn_error(c, 408, false, true); /* a request started: say why */
    else
        conn_close(c);
}

/* ---- Listener ---------------------------------------------------------- */

static struct http_conn *conn_new(struct http_server *s, size_t cap)
{
    struct http_conn *c = calloc(1, sizeof(*c) + cap);

    if (c == NULL)
        return NULL;
    c->srv = s;
    c->cap = cap;
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->shut.data = c;
    c->handles = 2;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->st.open++;
    return c;
}

static void on_connection(uv_stream_t *ls, int status)
{
    static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\n"
                               "Content-Type: text/plain\r\n"
                               "Content-Length: 24\r\n"
                               "Connection: close\r\n\r\n"
                               "503 Service Unavailable\n";
    struct http_server *s = ls->data;
    bool full;
    struct http_conn *c;

    if (status < 0 || s->closing)
        return;
    full = s->st.open >= s->opt.max_connections;
    if ((c = conn_new(s, full ? 0 : s->opt.max_request_bytes)) == NULL)
        return; /* the kernel keeps it in the backlog; retried next time */
    if (uv_accept(ls, (uv_stream_t *)&c->tcp) < 0) {
        conn_close(c);
        return;
    }
    if (full) {
        uv_buf_t b = uv_buf_init((char *)busy, sizeof(busy) - 1);
        s->st.refused++;
        uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        conn_close(c);
        return;
    }
    s->st.accepted++;
    uv_tcp_nodelay(&c->tcp, 1);
    uv_timer_start(&c->timer, on_timeout, s->opt.timeout_ms, 0);
    conn_read(c, true);
}

/* ---- Lifecycle --------------------------------------------------------- */

void http_options_default(struct http_options *o)
{
    o->max_request_bytes = 8192;
    o->max_response_bytes = 16u << 20;
    o->max_connections = 32;
    o->timeout_ms = 5000;
    o->keep_alive = true;
}

int http_new(struct http_server **out, uv_loop_t *loop,
             const struct http_options *opt)
{
    struct http_server *s;
    int rc;

    if (opt && (opt->max_request_bytes < 64 || opt->max_connections == 0 ||
                opt->timeout_ms == 0 || opt->max_response_bytes == 0 ||
                opt->max_request_bytes > (1u << 30)))
        return -EINVAL;
    if ((s = calloc(1, sizeof(*s))) == NULL)
        return -ENOMEM;
    s->loop = loop;
    if (opt)
        s->opt = *opt;
    else
        http_options_default(&s->opt);
    s->port = -1;
    if ((rc = uv_tcp_init(loop, &s->listener)) < 0) {
        free(s);
        return rc;
    }
    s->listener.data = s;
    s->listener_open = true;
    *out = s;
    return 0;
}

int http_route(struct http_server *s, const char *path,
               const char *content_type, http_fill_fn fill, void *ctx)
{
    struct http_route_entry *r;

    if (path == NULL || path[0] != '/' || content_type == NULL ||
        fill == NULL || s->nroutes == HTTP_MAX_ROUTES)
        return -EINVAL;
    for (size_t i = 0; i < s->nroutes; i++)
        if (strcmp(s->routes[i].path, path) == 0)
            return -EEXIST;
    r = &s->routes[s->nroutes];
    r->path = strdup(path);
    r->content_type = strdup(content_type);
    if (r->path == NULL || r->content_type == NULL) {
        free(r->path);
        free(r->content_type);
        return -ENOMEM;
    }
    r->fill = fill;
    r->ctx = ctx;
    s->nroutes++;
    return 0;
}

int http_start(struct http_server *s, const char *host, int port)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    int rc;

    if (port < 0 || port > 65535)
        return -EINVAL;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0)
        return -EINVAL;
    if ((rc = uv_tcp_bind(&s->listener, (struct sockaddr *)&ss, 0)) < 0)
        return rc;
    if ((rc = uv_listen((uv_stream_t *)&s->listener, HTTP_BACKLOG,
                        on_connection)) < 0)
        return rc;
    rc = uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len);
    if (rc < 0)
        return rc;
    if (ss.ss_family == AF_INET)
        s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    else
        s->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

int http_port(const struct http_server *s)
{
    return s->port;
}

static void listener_closed(uv_handle_t *h)
{
    struct http_server *s = h->data;

    s->listener_open = false;
    if (s->conns == NULL)
        free(s);
}

void http_free(struct http_server *s)
{
    if (s == NULL || s->closing)
        return;
    s->closing = true;
    for (size_t i = 0; i < s->nroutes; i++) {
        free(s->routes[i].path);
        free(s->routes[i].content_type);
    }
    s->nroutes = 0;
    for (struct http_conn *c = s->conns; c != NULL; c = c->next)
        conn_close(c);
    uv_close((uv_handle_t *)&s->listener, listener_closed);
}

void http_stats(const struct http_server *s, struct http_stats *out)
{
    *out = s->st;
}
