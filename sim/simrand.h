/* simrand.h -- the simulator's deterministic random numbers.
 *
 * xoshiro256** (Blackman & Vigna 2018) seeded through splitmix64, so any
 * 64-bit seed gives a well-mixed state. Streams are derived from a seed and
 * a label (simrand_init_stream), so that the values of room 3 do not depend
 * on how many rooms there are, and turning a fault on does not change the
 * underlying signal: each consumer draws from its own stream.
 *
 * Same seed, same sequence, on every platform with IEEE doubles and a
 * correctly rounded libm (log, cos, sqrt are the only functions used).
 *
 * Threads: a struct simrand is used by one thread at a time. */
#ifndef WEIR_SIM_SIMRAND_H
#define WEIR_SIM_SIMRAND_H

#include <stdbool.h> /* For bool. */
#include <stdint.h>  /* For uint64_t. */

struct simrand {
    uint64_t s[4]; /* xoshiro256** state; never all zero. */
};

/* Seed from one 64-bit value. */
void simrand_init(struct simrand *r, uint64_t seed);

/* Seed from (seed, label, index): independent streams per purpose. label
 * is borrowed and only read. */
void simrand_init_stream(struct simrand *r, uint64_t seed, const char *label,
                         uint64_t index);

uint64_t simrand_u64(struct simrand *r);

/* Uniform in [0, 1) with 53 random bits. */
double simrand_unit(struct simrand *r);

/* Uniform integer in [0, n); n > 0. Unbiased (Lemire's method). */
uint64_t simrand_below(struct simrand *r, uint64_t n);

/* Uniform in [lo, hi). */
double simrand_range(struct simrand *r, double lo, double hi);

/* true with probability p (p <= 0: never; p >= 1: always). */
bool simrand_chance(struct simrand *r, double p);

/* Standard normal (Box-Muller; one value per call, no cached pair, so the
 * stream position depends only on the number of calls). */
double simrand_normal(struct simrand *r);

#endif /* WEIR_SIM_SIMRAND_H */
