/* mqttpub.h -- publish to an MQTT broker over one or more connections
 * (Eclipse Paho MQTTAsync), with a bounded number of messages in flight.
 *
 * Each message goes to connection key % conns, so messages with the same
 * key (the simulator uses the device index) keep their order. A connection
 * has at most max_inflight messages handed to Paho and not yet completed
 * (written to the socket for QoS 0, PUBACK / PUBCOMP for QoS 1 / 2);
 * mqttpub_publish() waits for room, so memory stays bounded and the caller
 * feels the broker's pace.
 *
 * Broker outages: with reconnect on, Paho reconnects (1..16 s back-off)
 * and keeps up to max_inflight messages per connection buffered while
 * disconnected (sendWhileDisconnected); they go out on reconnect. A message
 * Paho reports as failed is counted in failed, not retried here.
 *
 * Threads: mqttpub_publish() and the lifecycle calls are for one caller
 * thread. Paho's threads run the completion callbacks, which touch only the
 * per-connection counters (under the connection's mutex). */
#ifndef WEIR_SIM_MQTTPUB_H
#define WEIR_SIM_MQTTPUB_H

#include <stdbool.h> /* For bool. */
#include <stddef.h>  /* For size_t. */
#include <stdint.h>  /* For uint64_t. */

#define MQTTPUB_MAX_CONNS 64

struct mqttpub_opts {
    const char *uri;        /* "tcp://host:port" (borrowed). */
    const char *client_id;  /* Prefix; "-N" is appended per connection. */
    unsigned conns;         /* 1..MQTTPUB_MAX_CONNS. */
    unsigned max_inflight;  /* Per connection, >= 1. */
    int connect_timeout_ms; /* For the first connect of each. */
    int keepalive_s;        /* MQTT keep-alive. */
    bool reconnect;         /* Reconnect and buffer after a loss. */
};

struct mqttpub_stats {
    uint64_t published;   /* Handed to Paho successfully. */
    uint64_t completed;   /* Reported done by Paho. */
    uint64_t failed;      /* Refused by Paho or reported failed. */
    uint64_t bytes;       /* Payload bytes of published. */
    uint64_t disconnects; /* Connection losses seen. */
};

struct mqttpub;

/* Defaults: conns 1, max_inflight 1024, connect_timeout_ms 5000,
 * keepalive_s 30, reconnect on, client_id "weir-sim-<pid>". */
void mqttpub_opts_init(struct mqttpub_opts *o);

/* Connect every connection and wait for all (opts borrowed). Returns 0 and
 * *out (returns owned; mqttpub_free), or a negative errno with a one-line
 * reason in err: -EINVAL (bad URI or options), -ECONNREFUSED (refused or
 * unreachable), -ETIMEDOUT. */
int mqttpub_new(struct mqttpub **out, const struct mqttpub_opts *opts,
                char *err, size_t errlen);

/* Publish payload (borrowed; Paho copies it) on topic at qos to the
 * connection for key; waits while that connection is full. Returns 0,
 * -EINVAL (qos or topic), -EIO (Paho refused it; counted in failed). */
int mqttpub_publish(struct mqttpub *p, unsigned key, const char *topic,
                    const void *payload, size_t len, int qos, bool retained);

/* Wait until nothing is in flight, at most timeout_ms. Returns 0, or
 * -ETIMEDOUT with messages still in flight. */
int mqttpub_drain(struct mqttpub *p, int timeout_ms);

/* Messages handed to Paho and not yet completed, over all connections. */
uint64_t mqttpub_inflight(struct mqttpub *p);

void mqttpub_stats(struct mqttpub *p, struct mqttpub_stats *out);

/* Disconnect (waiting up to 1 s for each) and free; NULL is a no-op. */
void mqttpub_free(struct mqttpub *p);

#endif /* WEIR_SIM_MQTTPUB_H */
