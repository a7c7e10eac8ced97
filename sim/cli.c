/* cli.c -- option parsing and stop requests for weir-sim (see cli.h).
 * Threads: main thread. Signals are blocked and polled with sigtimedwait,
 * so there is no handler and no global flag (STYLE R12). */
#include "sim/cli.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ingest/csvsrc.h"

void cli_error(const char *cmd, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    for (char *p = msg; *p; p++)
        if (*p == '\n')
            *p = ' ';
    fprintf(stderr, "weir-sim: %s%s%s\n", cmd ? cmd : "", cmd ? ": " : "", msg);
}

int cli_parse(const char *cmd, int argc, char **argv, const struct option *opts,
              cli_opt_fn fn, void *ctx, int *first)
{
    int c;

    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        if (c == 'h')
            return 1;
        if (c == '?' || c == ':') {
            cli_error(cmd,
                      "unknown or incomplete option '%s' (see weir-sim "
                      "%s --help)",
                      argv[optind - 1], cmd);
            return -EINVAL;
        }
        if (fn(ctx, c, optarg) < 0)
            return -EINVAL;
    }
    *first = optind;
    return 0;
}

int cli_u64(const char *cmd, const char *opt, const char *v, uint64_t lo,
            uint64_t hi, uint64_t *out)
{
    char *end;
    unsigned long long n;

    errno = 0;
    n = strtoull(v, &end, 10);
    if (v[0] == '-' || end == v || *end != '\0' || errno != 0 || n < lo ||
        n > hi) {
        cli_error(cmd, "%s: '%s' is not an integer in %llu..%llu", opt, v,
                  (unsigned long long)lo, (unsigned long long)hi);
        return -EINVAL;
    }
    *out = n;
    return 0;
}

int cli_double(const char *cmd, const char *opt, const char *v, double lo,
               double hi, double *out)
{
    char *end;
    double d = strtod(v, &end);

    if (end == v || *end != '\0' || !isfinite(d) || d < lo || d > hi) {
        cli_error(cmd, "%s: '%s' is not a number in %g..%g", opt, v, lo, hi);
        return -EINVAL;
    }
    *out = d;
    return 0;
}

int cli_seconds(const char *cmd, const char *opt, const char *v, double *out)
{
    static const struct {
        const char *unit;
        double s;
    } units[] = {{"", 1},   {"s", 1},    {"ms", 1e-3},
                 {"m", 60}, {"h", 3600}, {"d", 86400}};
    char *end;
    double d = strtod(v, &end);

    for (size_t i = 0; end != v && i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].unit) == 0 && isfinite(d) && d >= 0) {
            *out = d * units[i].s;
            return 0;
        }
    }
    cli_error(cmd,
              "%s: '%s' is not a duration (e.g. 10, 2.5s, 500ms, 3m, "
              "2h, 1d)",
              opt, v);
    return -EINVAL;
}

int64_t cli_realtime_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int cli_time_ms(const char *cmd, const char *opt, const char *v, int64_t *out)
{
    if (strcmp(v, "now") == 0) {
        *out = cli_realtime_ns() / 1000000;
        return 0;
    }
    if (csvsrc_parse_time(v, "auto", out) == 0)
        return 0;
    cli_error(cmd, "%s: '%s' is not a time (ISO-8601, epoch s or ms, now)", opt,
              v);
    return -EINVAL;
}

static void stop_set(sigset_t *s)
{
    sigemptyset(s);
    sigaddset(s, SIGINT);
    sigaddset(s, SIGTERM);
    sigaddset(s, SIGHUP);
}

void cli_block_signals(void)
{
    sigset_t s;

    stop_set(&s);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    signal(SIGPIPE, SIG_IGN);
}

bool cli_stop_requested(void)
{
    struct timespec zero = {0, 0};
    sigset_t s;

    stop_set(&s);
    return sigtimedwait(&s, NULL, &zero) > 0;
}
