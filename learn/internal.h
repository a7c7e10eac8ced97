/* internal.h -- helpers shared inside learn/, never included from outside
 * it (STYLE R1: folder-internal names carry a double underscore).
 *
 * Two doubles as one GCC/Clang generic vector, for the row paths of
 * model.c (sgd_pairs()) and scaler.c that walk their columns two at a
 * time: one SSE2 operation per pair on any x86-64, no target flags. Loads
 * and stores go through memcpy, so the arrays need no 16-byte alignment.
 * (No comparison masks: GCC 12 turns their reduction into per-lane
 * conditional moves; reduce sums instead.)
 *
 * Threads: none; pure functions. */
#ifndef WEIR_LEARN_INTERNAL_H
#define WEIR_LEARN_INTERNAL_H

#include <string.h> /* For memcpy. */

typedef double learn__v2d __attribute__((vector_size(16)));

/* p[0], p[1] (borrowed; any alignment). */
static inline learn__v2d learn__load2(const double *p)
{
    learn__v2d v;

    memcpy(&v, p, sizeof(v));
    return v;
}

/* p[0], p[1] = v (p is the caller's; any alignment). */
static inline void learn__store2(double *p, learn__v2d v)
{
    memcpy(p, &v, sizeof(v));
}

#endif /* WEIR_LEARN_INTERNAL_H */
