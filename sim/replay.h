/* replay.h -- `weir-sim replay` (see replay.c). Threads: main thread. */
#ifndef WEIR_SIM_REPLAY_H
#define WEIR_SIM_REPLAY_H

#include <stdio.h> /* For FILE. */

/* Run the command with its own argv (argv[0] = the command name); returns
 * the exit code (sim/cli.h). Callable in-process: it resets getopt. */
int replay_main(int argc, char **argv);

/* Print the usage text. */
void replay_usage(FILE *f);

#endif /* WEIR_SIM_REPLAY_H */
