/* run.h -- `weir-sim run`: synthetic scenarios with faults (see run.c).
 * Threads: main thread. */
#ifndef WEIR_SIM_RUN_H
#define WEIR_SIM_RUN_H

#include <stddef.h> /* For size_t. */
#include <stdint.h> /* For uint64_t, uint8_t. */
#include <stdio.h>  /* For FILE. */

/* Run the command with its own argv (argv[0] = "run"); returns the exit
 * code (cli.h). Callable in-process (tests): it resets getopt. */
int run_main(int argc, char **argv);

/* Print the usage text. */
void run_usage(FILE *f);

/* Fold one message into a stream hash (FNV-1a 64 over topic, NUL,
 * payload); start from 0xcbf29ce484222325. */
uint64_t run_hash_msg(uint64_t h, const char *topic, const uint8_t *payload,
                      size_t len);

#endif /* WEIR_SIM_RUN_H */
