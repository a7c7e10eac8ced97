/* cli.h -- what weir-sim's commands share: option value parsing with
 * one-line errors, the broker options, and stop requests (SIGINT/SIGTERM,
 * checked by polling so that no handler and no global is needed).
 *
 * Exit codes of every command: 0 done; 1 failed at run time (broker,
 * files); 2 bad usage; 3 partly done (a capture ended in a truncated or
 * corrupt record; what was readable was replayed).
 *
 * Threads: main thread only. */
#ifndef WEIR_SIM_CLI_H
#define WEIR_SIM_CLI_H

#include <getopt.h>  /* For struct option. */
#include <stdbool.h> /* For bool. */
#include <stdint.h>  /* For uint64_t, int64_t. */

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2, CLI_PARTIAL = 3 };

#define CLI_DEFAULT_BROKER "tcp://127.0.0.1:1883"

/* Print "weir-sim: <cmd>: <message>" as one line on stderr. */
void cli_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* One option of cli_parse(): getopt code and value (NULL for a flag).
 * Returns 0, or a negative errno after printing a one-line error. */
typedef int (*cli_opt_fn)(void *ctx, int code, const char *value);

/* Parse the options of argv (argv[0] is the command) with getopt_long
 * over opts (long options only; the first operand ends them), calling fn
 * with ctx (borrowed) for each. Returns 1 for --help (code 'h'), -EINVAL
 * for an unknown or incomplete option (one line naming it and "see
 * weir-sim CMD --help") or an error of fn, else 0 with *first set to the
 * index of the first operand. Resets getopt first, so a command can be
 * run in-process more than once (tests). */
int cli_parse(const char *cmd, int argc, char **argv, const struct option *opts,
              cli_opt_fn fn, void *ctx, int *first);

/* Parsers: 0 and *out, or -EINVAL (after printing a one-line error naming
 * the option). Ranges are inclusive. */
int cli_u64(const char *cmd, const char *opt, const char *v, uint64_t lo,
            uint64_t hi, uint64_t *out);
int cli_double(const char *cmd, const char *opt, const char *v, double lo,
               double hi, double *out);
/* Seconds with an optional unit: 10, 2.5s, 500ms, 3m, 2h, 1d. */
int cli_seconds(const char *cmd, const char *opt, const char *v, double *out);
/* A point in time: ISO-8601 / "YYYY-MM-DD HH:MM:SS", epoch seconds or ms,
 * or "now" (CLOCK_REALTIME). */
int cli_time_ms(const char *cmd, const char *opt, const char *v, int64_t *out);

/* Block SIGINT, SIGTERM and SIGHUP for the process (call before any thread
 * starts, so Paho's threads inherit the mask), and ignore SIGPIPE. */
void cli_block_signals(void);

/* true if one of the blocked stop signals is pending (consumes it). */
bool cli_stop_requested(void);

/* Wall clock in ns since the epoch. */
int64_t cli_realtime_ns(void);

#endif /* WEIR_SIM_CLI_H */
