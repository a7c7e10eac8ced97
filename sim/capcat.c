/* capcat.c -- `weir-sim cat`: a capture file as text.
 *
 * One line per record, tab-separated:
 *
 *     recv_ns  qos  retained  topic  payload-as-hex
 *
 * (--no-time drops recv_ns, --no-payload drops the payload), then, on
 * stderr, "weir-sim: cat: N records, recv_ns FIRST..LAST, span S s". Two
 * captures hold the same messages exactly when their --no-time outputs are
 * equal. A truncated or corrupt tail is reported after the records before
 * it, with exit code 3.
 *
 * Threads: main thread. */
#include "sim/capcat.h"

#include <getopt.h>
#include <inttypes.h>
#include <string.h>

#include "sim/capfile.h"
#include "sim/cli.h"

#define CMD "cat"

static void print_record(const struct codec_capture *c, bool time, bool payload)
{
    static const char hex[] = "0123456789abcdef";

    if (time)
        printf("%" PRId64 "\t", c->recv_ns);
    printf("%d\t%d\t%s", c->qos, c->retained ? 1 : 0, c->topic);
    if (payload) {
        putchar('\t');
        for (size_t i = 0; i < c->payload_len; i++) {
            putchar(hex[c->payload[i] >> 4]);
            putchar(hex[c->payload[i] & 15]);
        }
    }
    putchar('\n');
}

int capcat_main(int argc, char **argv)
{
    static const struct option opts[] = {{"no-time", no_argument, NULL, 't'},
                                         {"no-payload", no_argument, NULL, 'p'},
                                         {"count-only", no_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct capfile_reader *r;
    struct codec_capture c;
    bool time = true, payload = true, quiet_lines = false;
    int64_t first = 0, last = 0;
    char err[512];
    int o, rc;

    optind = 0;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        if (o == 'h') {
            capcat_usage(stdout);
            return CLI_OK;
        } else if (o == 't') {
            time = false;
        } else if (o == 'p') {
            payload = false;
        } else if (o == 'c') {
            quiet_lines = true;
        } else {
            cli_error(CMD, "unknown option '%s'", argv[optind - 1]);
            return CLI_USAGE;
        }
    }
    if (optind + 1 != argc) {
        cli_error(CMD, "give exactly one capture file");
        return CLI_USAGE;
    }
    if (capfile_open(&r, argv[optind], err, sizeof(err)) < 0) {
        cli_error(CMD, "%s", err);
        return CLI_FAIL;
    }
    while ((rc = capfile_next(r, &c)) == 1) {
        if (capfile_read_count(r) == 1)
            first = c.recv_ns;
        last = c.recv_ns;
        if (!quiet_lines)
            print_record(&c, time, payload);
    }
    fflush(stdout);
    if (rc < 0) /* the message says how many records came before */
        cli_error(CMD, "%s", capfile_error(r));
    else
        fprintf(stderr,
                "weir-sim: cat: %llu records, recv_ns %" PRId64 "..%" PRId64
                ", span %.6f s\n",
                (unsigned long long)capfile_read_count(r), first, last,
                (double)(last - first) * 1e-9);
    capfile_reader_free(r);
    return rc < 0 ? CLI_PARTIAL : CLI_OK;
}

void capcat_usage(FILE *f)
{
    fputs("usage: weir-sim cat [--no-time] [--no-payload] [--count-only] "
          "FILE\n"
          "Print a capture file: recv_ns, qos, retained, topic, payload hex\n"
          "(tab-separated, one record per line); a summary on stderr.\n",
          f);
}
