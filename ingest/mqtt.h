/* mqtt.h -- weir's MQTT client: Paho's asynchronous C client (MQTTAsync)
 * behind a small interface, with a worker thread that owns every call into
 * Paho.
 *
 * What it does: connects with a fixed client id and a persistent session
 * (MQTT 3.1.1 cleansession = 0; MQTT 5 cleanstart = 0 with a Session
 * Expiry Interval), so the broker keeps QoS 1 messages while weir is away;
 * subscribes to every filter at its QoS when the broker reports that no
 * session was present (CONNACK sessionPresent = 0, which the connect's
 * onSuccess reports -- Paho's own automatic reconnect does not, so
 * reconnecting is done here, with exponential back-off and jitter between
 * retry_min_ms and retry_max_ms); sets the last will `offline` (retained)
 * on the status topic and publishes `online` (retained) once subscribed;
 * TLS (CA file or directory, else the system's store; client certificate
 * and key; verification of the chain and of the host name) and user name
 * and password from the configuration; publishes what the loop thread queued
 * (ingest/publish.h), at most max_inflight unacknowledged at a time, with
 * MQTT 5 user properties "reason" and "topic" on dead letters.
 *
 * Paho facts the design rests on (read in MQTTAsync.h and the 1.3.12
 * sources): messageArrived runs on Paho's receive thread with Paho's
 * client mutex held; for QoS 1 the PUBACK is sent right after the callback
 * returns, whatever it returns; returning 0 does not withhold the PUBACK
 * but parks the message in Paho's unbounded in-memory queue and calls
 * back again later, while later messages are acknowledged and queued
 * behind it. So returning 0 is no backpressure (and loses the parked
 * messages on a crash); the only real backpressure is to not return yet,
 * which stops Paho reading the socket. The message hook (ingest/inbox.h)
 * therefore always handles the message before returning, and nothing that
 * could wait on Paho's mutex may run on the loop thread: every Paho call
 * is made on this module's worker thread.
 *
 * Error codes: Paho's MQTTASYNC_* codes are mapped to -errno where they
 * enter (mqtt_errno()) and logged with the original.
 *
 * A failed connect is logged as one line, "mqtt: connect failed: ...",
 * with the reason and what to do about it: a refused CONNACK by its code
 * (bad user name or password, not authorized, ...); a TLS failure by
 * OpenSSL's reason (Paho's ssl_error_cb), e.g. "certificate verify
 * failed"; where OpenSSL has none (Paho's host-name check, or a client
 * certificate refused after a TLS 1.3 handshake, which surfaces only as a
 * closed socket) the worker probes TCP to the URI to tell a closed port
 * from a refusal inside TLS. Attempts go on with the back-off.
 *
 * Threads: mqtt_new()/mqtt_free() on the main thread; the worker thread
 * runs connect, subscribe, publish and disconnect; Paho's threads run the
 * callbacks: on_message (Paho's receive thread) and on_state (worker
 * thread). mqtt_connected(), mqtt_stats() from any thread. */
#ifndef WEIR_INGEST_MQTT_H
#define WEIR_INGEST_MQTT_H

#include <stdbool.h> /* For bool. */
#include <stddef.h>  /* For size_t. */
#include <stdint.h>  /* For int64_t, uint32_t, uint64_t. */

#include "ingest/publish.h" /* For struct publish_queue. */

/* ---- Limits ------------------------------------------------------------ */

#define MQTT_MAX_URIS 8  /* broker URIs (failover order) */
#define MQTT_MAX_SUBS 64 /* subscriptions */

/* ---- Types ------------------------------------------------------------- */

/* A received message; everything borrowed for the call. Returns 1 when the
 * message was handled (it may be acknowledged), 0 to let Paho call again
 * later (see the top: only for a shutdown). Called on: Paho's receive
 * thread. */
typedef int (*mqtt_message_fn)(void *ctx, const char *topic, size_t topic_len,
                               const void *payload, size_t len, int qos,
                               bool dup);

/* The connection came up (subscribed, `online` sent) or went down.
 * Called on: the worker thread (up) or Paho's thread (down). */
typedef void (*mqtt_state_fn)(void *ctx, bool connected, bool session_present);

struct mqtt_config {
    const char *uris[MQTT_MAX_URIS]; /* Borrowed; failover order. */
    size_t nuris;
    const char *client_id;     /* Borrowed; fixed: the session's key. */
    const char *username;      /* Borrowed, or NULL. */
    const char *password;      /* Borrowed, or NULL. */
    const char *password_file; /* Read at each connect, or NULL. */
    int version;               /* 4 (3.1.1) or 5. */
    int64_t keepalive_ms;      /* Keep-alive interval. */
    bool clean_session;        /* false: persistent session. */
    int64_t session_expiry_ms; /* MQTT 5 Session Expiry Interval. */
    int64_t connect_timeout_ms;
    int64_t retry_min_ms; /* Reconnect back-off bounds. */
    int64_t retry_max_ms;
    uint32_t max_inflight; /* Unacknowledged publishes at once. */
    /* TLS, borrowed: ca_file is a PEM file or a hashed directory of
     * trusted CAs (NULL: the system's store); key_file NULL: the key is
     * in cert_file; tls_verify checks the chain and the host name. */
    const char *ca_file;
    const char *cert_file;
    const char *key_file;
    bool tls_verify;
    const char *filters[MQTT_MAX_SUBS]; /* Borrowed subscription filters. */
    int qos[MQTT_MAX_SUBS];             /* Their QoS. */
    size_t nsubs;
    const char *status_topic;     /* Borrowed; will and online/offline. */
    struct publish_queue *outbox; /* Borrowed; the worker consumes it. */
    mqtt_message_fn on_message;   /* Required. */
    mqtt_state_fn on_state;       /* May be NULL. */
    void *ctx;                    /* Passed to both. */
};

/* Counters; mqtt_stats() from any thread. */
struct mqtt_stats {
    uint64_t connects;           /* Successful connections. */
    uint64_t reconnects;         /* Of those, after the first. */
    uint64_t connect_failures;   /* Failed attempts. */
    uint64_t lost;               /* Connections lost. */
    uint64_t subscribes;         /* Subscription rounds completed. */
    uint64_t subscribe_failures; /* Filters the broker refused. */
    uint64_t sessions_present;   /* Connects that found the session. */
    uint64_t published;          /* Publishes acknowledged (or QoS 0 sent). */
    uint64_t publish_failures;   /* Publishes Paho reported failed. */
    uint64_t inflight;           /* Publishes outstanding now. */
    uint64_t received;           /* Messages delivered to on_message. */
};

struct mqtt;

/* ---- Lifecycle --------------------------------------------------------- */

/* Create the client (borrows cfg; the strings must outlive the client).
 * Nothing connects yet. Returns 0 and *out (returns owned, mqtt_free()),
 * -EINVAL (bad configuration, e.g. a URI Paho refuses), -ENOMEM. */
int mqtt_new(struct mqtt **out, const struct mqtt_config *cfg);

/* Start the worker thread, which connects (and reconnects) until
 * mqtt_stop(). Returns 0 or -errno from pthread_create(). */
int mqtt_start(struct mqtt *m);

/* Stop: the worker publishes `offline` (retained), lets queued publishes
 * drain for up to timeout_ms, disconnects cleanly and exits; returns when
 * it has. After this no callback runs any more. 0, or -ETIMEDOUT if the
 * disconnect did not finish in time (the connection is dropped anyway). */
int mqtt_stop(struct mqtt *m, int64_t timeout_ms);

/* Disconnect now and stay disconnected until mqtt_resume() (used to
 * catch up from the ingest log while the broker holds new messages).
 * Returns once no message callback can run any more, or -ETIMEDOUT. */
int mqtt_pause(struct mqtt *m, int64_t timeout_ms);

/* Connect again after mqtt_pause(). */
void mqtt_resume(struct mqtt *m);

/* Destroy the client (takes m); call mqtt_stop() first. NULL: no-op. */
void mqtt_free(struct mqtt *m);

/* ---- Any thread -------------------------------------------------------- */

bool mqtt_connected(const struct mqtt *m);
void mqtt_stats(const struct mqtt *m, struct mqtt_stats *out);

/* Paho's MQTTASYNC_* code as a negative errno (0 stays 0). */
int mqtt_errno(int paho_rc);

#endif /* WEIR_INGEST_MQTT_H */
