/* main.c -- weir-sim: the sensor simulator's command dispatcher.
 *
 *   weir-sim run      synthetic scenarios with faults   (sim/run.c)
 *   weir-sim record   subscribe and write a capture     (sim/record.c)
 *   weir-sim replay   publish a capture again           (sim/replay.c)
 *   weir-sim csv      publish a CSV data set            (sim/csvpub.c)
 *   weir-sim cat      print a capture file              (sim/capcat.c)
 *
 * Threads: the main thread runs the command; SIGINT/SIGTERM/SIGHUP are
 * blocked before any thread starts and polled by the commands (cli.h). */
#include <stdio.h>
#include <string.h>

#include "sim/capcat.h"
#include "sim/cli.h"
#include "sim/csvpub.h"
#include "sim/record.h"
#include "sim/replay.h"
#include "sim/run.h"

static void usage(FILE *f)
{
    fputs("usage: weir-sim COMMAND [options]   (weir-sim COMMAND --help)\n"
          "  run      generate a synthetic stream (building or machine) "
          "with faults\n"
          "  record   subscribe to a topic filter and write a capture file\n"
          "  replay   publish a capture file, timing scaled by --speed\n"
          "  csv      publish a CSV data set (Occupancy, Elec2, NAB, ...)\n"
          "  cat      print a capture file (one record per line)\n"
          "Exit codes: 0 done, 1 failed, 2 bad usage, 3 partly done.\n",
          f);
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {{"run", run_main},
                {"record", record_main},
                {"replay", replay_main},
                {"csv", csvpub_main},
                {"cat", capcat_main}};

    if (argc < 2) {
        cli_error(NULL, "no command (run, record, replay, csv, cat); see "
                        "weir-sim --help");
        return CLI_USAGE;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "help")) {
        usage(stdout);
        return CLI_OK;
    }
    cli_block_signals();
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        if (strcmp(argv[1], cmds[i].name) == 0)
            return cmds[i].fn(argc - 1, argv + 1);
    cli_error(NULL, "unknown command '%s' (run, record, replay, csv, cat)",
              argv[1]);
    return CLI_USAGE;
}
