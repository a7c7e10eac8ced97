/* feed.h -- the publish-and-pace loop that weir-sim's run, replay and csv
 * commands share: where each message goes, when, and when to stop.
 *
 * Where: to a broker through mqttpub (one or more connections, a bounded
 * in-flight window each, so a QoS 1/2 run goes at the broker's pace), to a
 * capture file (--out), or nowhere (--dry-run: counted only).
 *
 * When (broker only; a capture or a dry run is never paced): with --speed
 * X, a message whose data time is t goes at start + (t - t0) / X, t0 being
 * the first message's data time, so delays do not accumulate and data
 * times that go backwards go at once; with --rate R, a token bucket of R
 * units per second (pace.h); otherwise as fast as the broker takes them.
 * A unit is what the command counts: readings, messages or rows.
 *
 * Stop: after --count units, after --duration seconds of wall clock, or on
 * SIGINT/SIGTERM/SIGHUP (cli_stop_requested(), polled every 64 counts).
 * feed_count() also redraws the progress line.
 *
 *     feed_new(&f, &opts, "csv", "rows");
 *     while (more) {
 *         feed_wait(f, data_ns, 1);
 *         feed_send(f, key, topic, payload, len, qos, false, stamp_ns);
 *         if (!feed_count(f, 1))
 *             break;
 *     }
 *     rc = feed_finish(f);     // drains the broker, closes the capture
 *     feed_stats(f, &st);      // for the summary line
 *     feed_free(f);
 *
 * Threads: one caller thread per struct feed; Paho's threads inside
 * mqttpub. */
#ifndef WEIR_SIM_FEED_H
#define WEIR_SIM_FEED_H

#include <getopt.h>  /* For struct option's required_argument. */
#include <stdbool.h> /* For bool. */
#include <stddef.h>  /* For size_t. */
#include <stdint.h>  /* For uint64_t, int64_t. */

#include "sim/mqttpub.h" /* For struct mqttpub_opts, mqttpub_stats. */

/* ---- Types ------------------------------------------------------------- */

/* The command-line options the commands share (feed_opt() parses them). */
struct feed_opts {
    struct mqttpub_opts pub; /* --broker --conns --inflight --client-id. */
    int qos;                 /* --qos 0..2; a command may use -1 (own). */
    double rate;             /* --rate: units per second; 0 = none. */
    double speed;            /* --speed: data-time scale; 0 = none. */
    uint64_t limit;          /* --count: units; 0 = none. */
    uint64_t expect;         /* Units expected, for the ETA; 0 = limit. */
    double duration_s;       /* --duration: wall-clock s; 0 = none. */
    const char *out;         /* --out: capture file (borrowed), or NULL. */
    bool dry;                /* --dry-run: no broker, no file. */
    bool quiet;              /* --quiet: no progress line, no summary. */
};

/* Counters of a feed, for the summary line. */
struct feed_stats {
    uint64_t units;           /* Summed feed_count() units. */
    uint64_t msgs;            /* feed_send() calls that did not fail. */
    double elapsed_s;         /* feed_new() to feed_finish() (or now). */
    bool broker;              /* Messages went to a broker. */
    struct mqttpub_stats pub; /* The broker's counters (zero if none). */
};

struct feed;

/* ---- Options ----------------------------------------------------------- */

/* The getopt_long entries every publishing command takes, which end its
 * table (with --help and the terminator); the command lists before them
 * the ones it has of --rate, --speed, --out and --dry-run:
 *     static const struct option opts[] = {{"seed", ...}, FEED_LONG_OPTS};
 */
/* clang-format off */
#define FEED_LONG_OPTS                                                         \
    {"broker", required_argument, NULL, 'b'},                                  \
    {"qos", required_argument, NULL, 'q'},                                     \
    {"conns", required_argument, NULL, 'C'},                                   \
    {"inflight", required_argument, NULL, 'I'},                                \
    {"client-id", required_argument, NULL, 'i'},                               \
    {"max", no_argument, NULL, 'M'},                                           \
    {"count", required_argument, NULL, 'c'},                                   \
    {"duration", required_argument, NULL, 'D'},                                \
    {"quiet", no_argument, NULL, 'Q'},                                         \
    {"help", no_argument, NULL, 'h'},                                          \
    {NULL, 0, NULL, 0}
/* clang-format on */

/* Defaults: mqttpub_opts_init() with CLI_DEFAULT_BROKER, qos 0, no rate,
 * speed, limit, expect or duration, no file, not dry, not quiet. */
void feed_opts_init(struct feed_opts *o);

/* Parse the option with getopt code c and value v (borrowed; kept in o for
 * strings) if it is one of the shared ones: 'b' --broker, 'C' --conns,
 * 'I' --inflight, 'i' --client-id, 'q' --qos, 'r' --rate, 'x' --speed,
 * 'M' --max, 'c' --count, 'D' --duration, 'o' --out, 'y' --dry-run, 'Q'
 * --quiet. --rate, --speed and --max replace each other. Returns 0, 1 if c
 * is not a shared option, or -EINVAL after a one-line error for cmd. */
int feed_opt(struct feed_opts *o, const char *cmd, int c, const char *v);

/* ---- Lifecycle --------------------------------------------------------- */

/* Open the destination o names (borrowed; o->out and the URI must outlive
 * the feed): a broker connection, a capture file, or nothing for o->dry.
 * unit names what feed_count() counts on the progress line (borrowed,
 * static). Returns 0 and *out (returns owned; feed_free()), or a negative
 * errno after a one-line error for cmd. */
int feed_new(struct feed **out, const struct feed_opts *o, const char *cmd,
             const char *unit);

/* End the progress line, wait up to 30 s for the broker to acknowledge
 * what is in flight and close the capture file. Returns 0, -ETIMEDOUT
 * (messages left in flight) or -EIO (the capture could not be written),
 * after a one-line error. Call once, before feed_stats() and feed_free(). */
int feed_finish(struct feed *f);

/* Disconnect and free (takes f); feed_free(NULL) is a no-op. */
void feed_free(struct feed *f);

/* ---- Operations -------------------------------------------------------- */

/* Wait until a message of data time data_ns carrying units may go (see the
 * top of this file); returns at once unless publishing to a broker. */
void feed_wait(struct feed *f, int64_t data_ns, double units);

/* Send one message (topic and payload borrowed): to the broker on the
 * connection for key at qos, retained or not; or to the capture file,
 * stamped stamp_ns; or nowhere. A message the broker client refuses is
 * counted in its failed counter and is not an error. Returns 0, -EINVAL
 * (qos or topic), or the capture file's error. */
int feed_send(struct feed *f, unsigned key, const char *topic,
              const void *payload, size_t len, int qos, bool retained,
              int64_t stamp_ns);

/* Count units as sent and redraw the progress line if due. Returns false
 * once the command should stop (limit, duration or a stop signal; it stays
 * false). */
bool feed_count(struct feed *f, uint64_t units);

void feed_stats(const struct feed *f, struct feed_stats *out);

#endif /* WEIR_SIM_FEED_H */
