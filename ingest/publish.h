/* publish.h -- what weir sends out, and the queue that carries it from the
 * loop thread to the thread that talks to Paho.
 *
 * The core (ingest/pipeline.c, ingest/task.c) emits struct publish_msg
 * values through a publish_fn: a snapshot, a window's metrics, a
 * prediction or anomaly score, a drift event, an anomaly event, a rejected
 * message. It does not know about MQTT: the daemon's publish_fn renders the
 * topic (struct publish_topics, templates with {task}, {device},
 * {sensor}, {reason}) and queues the message here; `weir replay` writes
 * snapshots to files and counts the rest.
 *
 * Why a queue and a thread. Paho calls messageArrived with its client
 * mutex held, and MQTTAsync_sendMessage() at QoS > 0 takes that mutex to
 * assign a message id. While the callback waits for room in the ring (see
 * ingest/mqtt.c), the loop thread -- the one that makes room -- must never
 * block on that mutex, or both wait until the callback's deadline. So the
 * loop thread only appends to this queue (a short mutex of our own, never
 * held across a call out), and the MQTT worker thread takes items off and
 * calls Paho. The queue is bounded in bytes: when it is full the new item
 * is dropped and counted per kind (snapshots are also kept by the daemon
 * and re-sent on every connect, so the broker's retained copy converges).
 *
 * Dead letters (PUBLISH_REJECT) carry a JSON envelope in every MQTT
 * version, so one consumer reads both:
 *     {"reason":"nan","topic":"sensors/d1/temp","payload_b64":"..."}
 * for a refused message (the original payload, base64), and
 *     {"reason":"out_of_range","device":"d1","sensor":"temp","seq":7,
 *      "ts_ms":...,"value":1e9,"lsn":42}
 * for a refused reading of an accepted message (the loop thread has the
 * reading, not the payload; lsn finds the message in the ingest log).
 * With MQTT 5 the same message also carries user properties "reason" and
 * "topic" and the content type application/json.
 *
 * Threads: publish_topic() and the formatting helpers are pure. A struct
 * publish_queue has one producer thread (push) and one consumer thread
 * (pop, wait); counters may be read from any thread. */
#ifndef WEIR_INGEST_PUBLISH_H
#define WEIR_INGEST_PUBLISH_H

#include <stdbool.h> /* For bool. */
#include <stddef.h>  /* For size_t. */
#include <stdint.h>  /* For uint8_t, uint64_t, int64_t. */

/* ---- Limits ------------------------------------------------------------ */

#define PUBLISH_TOPIC_MAX 512 /* bytes of a rendered topic, NUL excluded */
#define PUBLISH_REASON_MAX 31 /* bytes of a reason name */

/* ---- What the core emits ----------------------------------------------- */

enum publish_kind {
    PUBLISH_SNAPSHOT = 0,   /* ModelSnapshot; retained, QoS 1. */
    PUBLISH_METRICS = 1,    /* JSON summary of a closed window. */
    PUBLISH_PREDICTION = 2, /* JSON prediction / anomaly score. */
    PUBLISH_DRIFT = 3,      /* protobuf DriftEvent. */
    PUBLISH_ANOMALY = 4,    /* JSON anomaly event (threshold crossed). */
    PUBLISH_REJECT = 5,     /* JSON dead letter (see the top). */
    PUBLISH_STATUS = 6,     /* "online" / "offline"; retained. */
    PUBLISH_KINDS = 7
};

/* One outgoing message; every pointer borrowed for the call. */
struct publish_msg {
    enum publish_kind kind;
    const char *task;       /* Task name, or NULL. */
    const char *device;     /* Device name, or NULL. */
    const char *sensor;     /* Sensor name, or NULL. */
    const char *reason;     /* Reject reason name, or NULL. */
    const char *orig_topic; /* Topic of a rejected message, or NULL. */
    const uint8_t *payload; /* The bytes to send. */
    size_t len;             /* Their count. */
    uint64_t version;       /* Snapshot version (0 otherwise). */
};

/* Deliver one message. Called on: the thread running the core (the loop
 * thread in the daemon). */
typedef void (*publish_fn)(void *ctx, const struct publish_msg *m);

/* Topic templates per kind ({task}, {device}, {sensor}, {reason}). */
struct publish_topics {
    char t[PUBLISH_KINDS][PUBLISH_TOPIC_MAX + 1]; /* Indexed by kind. */
    int qos[PUBLISH_KINDS];                       /* QoS per kind. */
    bool retained[PUBLISH_KINDS];                 /* Retain flag per kind. */
};

/* DESIGN.md's defaults: weir/model/{task}/snapshot (retained, QoS 1),
 * weir/model/{task}/metrics (QoS 1), weir/pred/{task}/{device} (QoS 0),
 * weir/model/{task}/drift (QoS 1), weir/anomaly/{task}/{device} (QoS 1),
 * weir/rejects/{reason} (QoS 1), weir/status (retained, QoS 1). */
void publish_topics_default(struct publish_topics *t);

/* Render the topic of m into buf (cap bytes). Returns its length (like
 * snprintf(); >= cap means it was cut). */
size_t publish_topic(const struct publish_topics *t,
                     const struct publish_msg *m, char *buf, size_t cap);

/* Stable kind name ("snapshot", "metrics", ...); never NULL. */
const char *publish_kind_name(enum publish_kind kind);

/* Write the dead-letter envelope of a refused message into buf (cap
 * bytes): reason, topic, the payload in base64, and when the payload copy
 * was cut (len < orig_len) "truncated":true and "payload_len". Returns the
 * length needed (like snprintf()). */
size_t publish_reject_envelope(const char *reason, const char *topic,
                               const uint8_t *payload, size_t len,
                               size_t orig_len, char *buf, size_t cap);

/* ---- The queue (loop thread -> MQTT worker) ---------------------------- */

/* A queued message: one allocation holding topic and payload. */
struct publish_item {
    struct publish_item *next;           /* Queue link; the queue's. */
    enum publish_kind kind;              /* For counting. */
    int qos;                             /* 0, 1 or 2. */
    bool retained;                       /* MQTT retain flag. */
    char reason[PUBLISH_REASON_MAX + 1]; /* Dead letters: user property. */
    char *orig_topic; /* Dead letters: user property, or NULL. */
    char *topic;      /* NUL-terminated, inside this block. */
    uint8_t *payload; /* len bytes, inside this block. */
    size_t len;       /* Payload bytes. */
};

struct publish_queue;

/* Counters; publish_queue_stats() from any thread. */
struct publish_stats {
    uint64_t queued[PUBLISH_KINDS];  /* Accepted by push. */
    uint64_t dropped[PUBLISH_KINDS]; /* Refused by push: queue full. */
    uint64_t depth;                  /* Items queued now. */
    uint64_t bytes;                  /* Their bytes now. */
};

/* Create a queue holding at most max_bytes (topic + payload + overhead).
 * Returns 0 and *out (returns owned, publish_queue_free()), -EINVAL,
 * -ENOMEM. */
int publish_queue_new(struct publish_queue **out, size_t max_bytes);

/* Free q and every item in it (takes q); NULL is a no-op. */
void publish_queue_free(struct publish_queue *q);

/* Copy m into a new item under topic t (borrowed) and append it. Returns
 * 0, -ENOBUFS (full: dropped and counted), -ENOMEM (counted as dropped).
 * Producer thread. */
int publish_queue_push(struct publish_queue *q, const struct publish_msg *m,
                       const char *topic, int qos, bool retained);

/* Take the oldest item, waiting up to timeout_ms (0: don't wait) for one.
 * Returns it (returns owned; free() it) or NULL on timeout or after
 * publish_queue_close(). Consumer thread. */
struct publish_item *publish_queue_pop(struct publish_queue *q,
                                       int64_t timeout_ms);

/* Put an item the consumer could not send back at the head (takes it).
 * Consumer thread. */
void publish_queue_unpop(struct publish_queue *q, struct publish_item *it);

/* The consumer has handed a popped item to Paho and freed it: for
 * publish_queue_drain(). Consumer thread. */
void publish_queue_done(struct publish_queue *q);

/* Wake a waiting consumer and make pop return NULL once the queue is
 * empty. Any thread. */
void publish_queue_close(struct publish_queue *q);

/* Wait until the queue is empty and no popped item is outstanding, or
 * timeout_ms passed; true if drained. For shutdown: the loop thread lets
 * the worker flush. Any thread. */
bool publish_queue_drain(struct publish_queue *q, int64_t timeout_ms);

void publish_queue_stats(struct publish_queue *q, struct publish_stats *out);

#endif /* WEIR_INGEST_PUBLISH_H */
