/* http.h -- a tiny HTTP/1.1 server on a libuv loop, for /metrics and
 * /healthz.
 *
 * The caller registers routes (a path, a content type and a callback that
 * fills a body buffer) and starts the server on an address, by default
 * 127.0.0.1 only. Only GET and HEAD are served; a route's callback runs on
 * the loop thread, synchronously, for each request. Everything else gets a
 * short text error and, for errors, the connection is closed:
 *
 *   404 unknown path              405 other method on a known path
 *   400 malformed request line or header, HTTP/1.1 without Host
 *   408 the request did not arrive in time (timeout_ms from the first byte
 *       or from the previous response; never extended by trickling bytes)
 *   413 a body that does not fit the request buffer
 *   414 a request line that does not fit the request buffer
 *   431 headers that do not fit the request buffer (max_request_bytes)
 *   501 Transfer-Encoding (no chunked bodies)
 *   503 over max_connections (sent at once, then closed)
 *   505 an HTTP version other than 1.0 and 1.1
 *
 * Nothing blocks the loop: reads and writes go through libuv, a request is
 * parsed from one fixed buffer per connection (max_request_bytes, so memory
 * is bounded by max_connections x that), and a connection that does not
 * complete a request within timeout_ms -- a slowloris client -- is answered
 * 408 and closed. Keep-alive (HTTP/1.1 default, or "Connection: keep-alive"
 * on 1.0) serves the next request on the same connection, pipelined ones
 * included, unless the options turn it off.
 *
 * Threads: everything here runs on the loop thread that owns the uv_loop_t,
 * including the route callbacks; nothing is thread-safe. http_stats() too. */
#ifndef WEIR_INGEST_HTTP_H
#define WEIR_INGEST_HTTP_H

#include <stdbool.h> /* For bool. */
#include <stddef.h>  /* For size_t. */
#include <stdint.h>  /* For uint64_t. */
#include <uv.h>      /* For uv_loop_t. */

/* ---- Body buffer ------------------------------------------------------- */

/* A growable byte buffer with a hard cap, for response bodies (also used
 * by ingest/prom.h). A failed append sets `failed` and leaves the content
 * as it was; the server answers 500 for a failed body. */
struct http_buf {
    char *data;  /* Bytes; not NUL-terminated. Owned; freed by the server. */
    size_t len;  /* Bytes used. */
    size_t cap;  /* Bytes allocated. */
    size_t max;  /* Largest allowed len. */
    bool failed; /* An append ran out of memory or over max. */
};

/* Append n bytes of p (borrowed). Returns 0, -ENOBUFS (over max), -ENOMEM. */
int http_buf_append(struct http_buf *b, const void *p, size_t n);

/* Append printf-formatted text. Returns 0, -ENOBUFS, -ENOMEM, -EINVAL. */
int http_buf_printf(struct http_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- Types ------------------------------------------------------------- */

struct http_server;

/* Fill body (borrowed; starts empty) for a GET or HEAD of the route.
 * Returns the HTTP status to send (200, 503 for an unhealthy /healthz, ...;
 * 200..599), or a negative errno, which is answered 500.
 * Called on: loop thread. */
typedef int (*http_fill_fn)(void *ctx, struct http_buf *body);

struct http_options {
    size_t max_request_bytes;  /* Request line + headers (+ body); 8 KiB. */
    size_t max_response_bytes; /* Body cap for a route callback; 16 MiB. */
    unsigned max_connections;  /* Open connections at once; 32. */
    uint64_t timeout_ms;       /* A whole request must arrive in; 5000. */
    bool keep_alive;           /* Serve several requests per connection. */
};

/* Counters since http_new(); loop thread. */
struct http_stats {
    uint64_t accepted; /* Connections accepted. */
    uint64_t refused;  /* Connections answered 503 (over the cap). */
    uint64_t requests; /* Requests answered, any status. */
    uint64_t bad;      /* Answered 4xx/5xx because of the request. */
    uint64_t timeouts; /* Connections closed by the timer. */
    uint64_t open;     /* Connections open now. */
};

/* ---- Lifecycle --------------------------------------------------------- */

/* The defaults above. o is the caller's. */
void http_options_default(struct http_options *o);

/* Create a server on loop (borrowed; must outlive the server), options
 * borrowed (copied; NULL for the defaults). Returns 0 and *out (returns
 * owned, release with http_free()), -EINVAL (a zero limit), -ENOMEM. */
int http_new(struct http_server **out, uv_loop_t *loop,
             const struct http_options *opt);

/* Serve path (borrowed, copied; must start with '/', query strings are
 * ignored when matching) with content_type (borrowed, copied) from fill.
 * Before http_start(). Returns 0, -EINVAL, -EEXIST, -ENOMEM. */
int http_route(struct http_server *s, const char *path,
               const char *content_type, http_fill_fn fill, void *ctx);

/* Listen on host (a numeric IPv4 or IPv6 address, borrowed; no name
 * lookup, which could block the loop) and port (0: an ephemeral port, see
 * http_port()). Returns 0 or a negative errno from libuv (-EADDRINUSE,
 * -EACCES, -EINVAL, ...). */
int http_start(struct http_server *s, const char *host, int port);

/* The port the server listens on (after http_start()), or -1. */
int http_port(const struct http_server *s);

/* Close the listener and every connection. Returns at once; the memory is
 * freed by the libuv close callbacks, so the loop must run afterwards
 * (uv_run() returns once they are done). Takes s; http_free(NULL) is a
 * no-op. */
void http_free(struct http_server *s);

/* ---- Operations -------------------------------------------------------- */

/* Copy the counters into *out. */
void http_stats(const struct http_server *s, struct http_stats *out);

#endif /* WEIR_INGEST_HTTP_H */
