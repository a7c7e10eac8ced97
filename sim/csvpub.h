/* csvpub.h -- `weir-sim csv` (see csvpub.c). Threads: main thread. */
#ifndef WEIR_SIM_CSVPUB_H
#define WEIR_SIM_CSVPUB_H

#include <stdio.h> /* For FILE. */

/* Run the command with its own argv (argv[0] = the command name); returns
 * the exit code (sim/cli.h). Callable in-process: it resets getopt. */
int csvpub_main(int argc, char **argv);

/* Print the usage text. */
void csvpub_usage(FILE *f);

#endif /* WEIR_SIM_CSVPUB_H */
