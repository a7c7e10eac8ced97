/* simrand.c -- xoshiro256** with splitmix64 seeding (see simrand.h).
 * Threads: none; each struct simrand belongs to one thread. */
#include "sim/simrand.h"

#include <math.h>
#include <string.h>

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void simrand_init(struct simrand *r, uint64_t seed)
{
    uint64_t x = seed;

    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix(&x);
    if ((r->s[0] | r->s[1] | r->s[2] | r->s[3]) == 0)
        r->s[0] = 1;
}

void simrand_init_stream(struct simrand *r, uint64_t seed, const char *label,
                         uint64_t index)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a of the label */
    size_t n = strlen(label);

    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)label[i];
        h *= 0x100000001b3ULL;
    }
    simrand_init(r, seed ^ h ^ rotl(index * 0x9e3779b97f4a7c15ULL, 17));
}

uint64_t simrand_u64(struct simrand *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

double simrand_unit(struct simrand *r)
{
    return (double)(simrand_u64(r) >> 11) * 0x1.0p-53;
}

uint64_t simrand_below(struct simrand *r, uint64_t n)
{
    unsigned __int128 m = (unsigned __int128)simrand_u64(r) * n;
    uint64_t lo = (uint64_t)m;

    if (lo < n) {
        uint64_t t = -n % n;
        while (lo < t) {
            m = (unsigned __int128)simrand_u64(r) * n;
            lo = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

double simrand_range(struct simrand *r, double lo, double hi)
{
    return lo + (hi - lo) * simrand_unit(r);
}

bool simrand_chance(struct simrand *r, double p)
{
    if (p <= 0.0)
        return false;
    return simrand_unit(r) < p;
}

double simrand_normal(struct simrand *r)
{
    double u1 = 1.0 - simrand_unit(r); /* (0, 1]: log is finite */
    double u2 = simrand_unit(r);

    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
