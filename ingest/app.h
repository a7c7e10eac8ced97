/* app.h -- the weir daemon as one object: everything `weir -c FILE` runs,
 * made in main() and passed by pointer (no mutable globals, STYLE R12).
 *
 * app_new() builds the core from the configuration and recovers: it loads
 * the newest checkpoint (name tables, dedup windows, learners, counters,
 * ingest-log position), replays the ingest log past it through the same
 * decode path, and opens the log for appending. Only then does app_run()
 * connect to the broker, so no message is taken before the state it
 * depends on is back.
 *
 * app_run() runs the libuv loop: the ring is drained in batches whenever
 * Paho's thread wakes the loop, dead letters are published, checkpoints
 * are taken on a timer (image on the loop thread, write and fsync in
 * libuv's thread pool, log truncation afterwards), /metrics and /healthz
 * are served (the port is logged and written to state_dir/http.port), and
 * SIGTERM/SIGINT start the shutdown: stop taking messages
 * (late ones are only logged, past the log's budget if need be), drain
 * the ring, publish final snapshots, checkpoint, let the outbox flush,
 * publish `offline`, disconnect, exit 0 -- each step bounded, a few
 * seconds in all.
 *
 * Threads: the main thread creates the app and runs the loop on it (the
 * loop thread). Paho's callback thread runs ingest/inbox.c; the MQTT
 * worker thread runs ingest/mqtt.c; libuv's pool writes checkpoints. See
 * app.c for what each touches. */
#ifndef WEIR_INGEST_APP_H
#define WEIR_INGEST_APP_H

#include <stddef.h> /* For size_t. */

#include "ingest/config.h" /* For struct config. */

/* In state_dir while /metrics is served: the port, in decimal and a
 * newline ([http] listen = host:0 takes any free port). */
#define HTTP_PORT_FILE "http.port"

struct app;

/* Build and recover (borrows cfg, which must outlive the app). Returns 0
 * and *out (returns owned, app_free()), or a negative errno with the
 * reason in err. */
int app_new(struct app **out, const struct config *cfg, char *err,
            size_t errlen);

/* Connect, serve and learn until SIGTERM/SIGINT. Returns the process exit
 * status (0 after a clean shutdown). Does not return if a message that
 * the ingest log refused (a disk error) is still held unacknowledged at
 * the end of the shutdown: then the process exits with status 1 without
 * disconnecting, so that the broker delivers the message again (app.c,
 * held_message()). */
int app_run(struct app *a);

/* Free everything (takes a); NULL is a no-op. */
void app_free(struct app *a);

#endif /* WEIR_INGEST_APP_H */
