/* bench_sim.c -- the reference publisher for `make bench-sim`: a minimal
 * Paho MQTTAsync publisher (sim/minpub.h) sending COUNT messages of SIZE
 * bytes at QOS to a broker, as fast as it acknowledges them, with the same
 * in-flight window weir-sim uses (1024). Prints one line:
 *
 *     msgs_per_s=N secs=S
 *
 * bench/sim.sh runs it next to `weir-sim run --max` against the same
 * mosquitto and prints the RESULT lines. Usage:
 *
 *     bench_sim URI QOS COUNT SIZE
 *
 * Threads: main thread; Paho's threads inside minpub. */
#include <stdio.h>
#include <stdlib.h>

#include "sim/minpub.h"

int main(int argc, char **argv)
{
    char err[256];
    double secs = 0;
    int qos;
    unsigned long long count;
    unsigned long size;

    if (argc != 5) {
        fprintf(stderr, "usage: bench_sim URI QOS COUNT SIZE\n");
        return 2;
    }
    qos = atoi(argv[2]);
    count = strtoull(argv[3], NULL, 10);
    size = strtoul(argv[4], NULL, 10);
    if (qos < 0 || qos > 2 || count == 0 || size > 65536) {
        fprintf(stderr, "bench_sim: bad arguments\n");
        return 2;
    }
    if (minpub_run(argv[1], "bench/minpub", qos, count, size, 1024, &secs, err,
                   sizeof(err)) < 0) {
        fprintf(stderr, "bench_sim: %s\n", err);
        return 1;
    }
    printf("msgs_per_s=%.0f secs=%.3f\n", (double)count / secs, secs);
    return 0;
}
