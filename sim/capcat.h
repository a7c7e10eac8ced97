/* capcat.h -- `weir-sim cat FILE`: print a capture file, one line per
 * record, for inspection and for comparing captures in scripts (see
 * capcat.c). Threads: main thread. */
#ifndef WEIR_SIM_CAPCAT_H
#define WEIR_SIM_CAPCAT_H

#include <stdio.h> /* For FILE. */

/* Run the command with its own argv; returns the exit code (sim/cli.h). */
int capcat_main(int argc, char **argv);

/* Print the usage text. */
void capcat_usage(FILE *f);

#endif /* WEIR_SIM_CAPCAT_H */
