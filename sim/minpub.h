/* minpub.h -- the smallest reasonable Paho MQTTAsync publisher: the same
 * payload on the same topic, COUNT times, as fast as the broker acks, with
 * a fixed window of messages in flight. The reference that `make
 * bench-sim` measures weir-sim against in the same run (it lives in sim/
 * because only sim/ and ingest/ include MQTTAsync.h).
 *
 * Threads: the caller's thread publishes; Paho's threads complete. */
#ifndef WEIR_SIM_MINPUB_H
#define WEIR_SIM_MINPUB_H

#include <stddef.h> /* For size_t. */
#include <stdint.h> /* For uint64_t. */

/* Connect to uri, publish count messages of len bytes on topic at qos
 * with at most window in flight, wait for all to complete, disconnect.
 * Returns 0 and *secs (from the first send to the last completion), or a
 * negative errno with a one-line reason in err. */
int minpub_run(const char *uri, const char *topic, int qos, uint64_t count,
               size_t len, unsigned window, double *secs, char *err,
               size_t errlen);

#endif /* WEIR_SIM_MINPUB_H */
