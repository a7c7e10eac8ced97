/* pace.h -- wall-clock pacing for the simulator: a token bucket for
 * "N readings per second", sleeping until an absolute time for replays,
 * and a monotonic clock in ns.
 *
 * The bucket allows debt: taking more tokens than it holds sleeps just long
 * enough to pay for them, so the long-run rate is exact even for messages
 * bigger than the burst, and a caller that falls behind (slow broker)
 * catches up by at most one burst.
 *
 * Threads: one thread per struct pace. */
#ifndef WEIR_SIM_PACE_H
#define WEIR_SIM_PACE_H

#include <stdint.h> /* For int64_t. */

struct pace {
    double rate;     /* Tokens per second; <= 0 = unlimited. */
    double burst;    /* Most tokens that can accumulate. */
    double tokens;   /* Available now (negative = debt). */
    int64_t last_ns; /* Clock at the last refill. */
};

/* CLOCK_MONOTONIC in ns. */
int64_t pace_now_ns(void);

/* Sleep until the monotonic clock reaches t_ns (no-op if past). */
void pace_sleep_until(int64_t t_ns);

/* rate tokens/s (<= 0: never wait), burst = max(1, rate / 20). */
void pace_init(struct pace *p, double rate);

/* Take n tokens, sleeping as needed. */
void pace_take(struct pace *p, double n);

#endif /* WEIR_SIM_PACE_H */
