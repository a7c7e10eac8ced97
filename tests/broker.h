/* broker.h -- a real Mosquitto on a free 127.0.0.1 port, for tests and
 * benchmarks.
 *
 *     struct broker *b;
 *     ASSERT_EQ(broker_start(&b, NULL), 0);
 *     ... connect to broker_uri(b) ...
 *     broker_free(b);            // SIGTERM, wait, SIGKILL; removes its dir
 *
 * Each broker gets a temporary directory holding its generated config
 * (listener on 127.0.0.1 only, allow_anonymous true, persistence off unless
 * asked), its log and, with persistence, its database. broker_start()
 * returns once the port accepts TCP connections. The child is started with
 * PR_SET_PDEATHSIG = SIGKILL, so a test that aborts or is killed never
 * leaves a mosquitto behind; note that Linux delivers it when the *thread*
 * that forked exits, so start brokers from a thread that outlives them (the
 * test's main thread).
 *
 * opts.extra is written after the listener's lines and the defaults, so
 * listener options (cafile, certfile, keyfile, require_certificate, ...)
 * apply to that listener and global ones (password_file, allow_anonymous
 * false, ...) override the defaults: a TLS broker with passwords is
 *
 *     bo.extra = "cafile /d/ca.pem\ncertfile /d/srv.pem\n"
 *                "keyfile /d/srv.key\npassword_file /d/pw\n"
 *                "allow_anonymous false";
 *
 * (tests/test_tls.sh does this from the shell). Readiness is a TCP
 * connect, so it holds for a TLS listener too; broker_uri() stays tcp://
 * (make "ssl://127.0.0.1:<broker_port()>" for TLS).
 *
 * The binary is $WEIR_MOSQUITTO, else /usr/sbin/mosquitto, else mosquitto
 * on PATH. A port race with another process (the free port is taken between
 * our probe and mosquitto's bind) is retried with a new port.
 *
 * Threads: a struct broker is used by one thread at a time. */
#ifndef WEIR_TESTS_BROKER_H
#define WEIR_TESTS_BROKER_H

#include <stdbool.h>   /* For bool. */
#include <stdint.h>    /* For uint16_t. */
#include <sys/types.h> /* For pid_t. */

struct broker_opts {
    bool persistence;             /* Keep a database across restarts. */
    unsigned max_queued_messages; /* Per-client queue; 0 = Mosquitto's 1000. */
    unsigned max_inflight;        /* max_inflight_messages; 0 = default. */
    uint16_t port;                /* Fixed port; 0 = pick a free one. */
    const char *extra;            /* More config lines (borrowed), or NULL;
                                     see below. */
    bool verbose;                 /* log_type all (to the log file). */
};

struct broker;

/* Start a broker (opts borrowed; NULL = defaults) and wait up to 10 s for
 * it to accept connections. Returns 0 and *out (returns owned; free with
 * broker_free), -ENOENT if no mosquitto binary, -ETIMEDOUT if it never
 * listened, -ECHILD if it kept exiting (its log is copied to stderr), or
 * another negative errno. */
int broker_start(struct broker **out, const struct broker_opts *opts);

/* Stop the broker process: SIGTERM, wait up to 5 s, then SIGKILL. The
 * directory (and a persistent database) stays for broker_restart().
 * Returns 0, or -ESRCH if it was not running. */
int broker_stop(struct broker *b);

/* Stop if running, then start again on the same port and directory (a
 * persistent broker reloads its database). Returns as broker_start(). */
int broker_restart(struct broker *b);

/* Stop the broker and remove its directory; broker_free(NULL) is a no-op. */
void broker_free(struct broker *b);

/* Accessors; strings are borrowed from b. */
uint16_t broker_port(const struct broker *b);
const char *broker_uri(const struct broker *b); /* "tcp://127.0.0.1:N" */
const char *broker_dir(const struct broker *b);
pid_t broker_pid(const struct broker *b); /* 0 when stopped */
bool broker_running(const struct broker *b);

#endif /* WEIR_TESTS_BROKER_H */
