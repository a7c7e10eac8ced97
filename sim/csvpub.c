/* csvpub.c -- `weir-sim csv FILE...`: publish the rows of CSV data sets as
 * sensor readings, through ingest/csvsrc.h's column map.
 *
 * Each good row becomes one message (batch formats: all present values,
 * labels apart) or one message per present value (pb, json), with the
 * row's device and timestamp and the device's next sequence number (one
 * counter per device name across all files, from 0). Files are published
 * one after the other in the order given, rows in file order; a data set
 * whose times go backwards (NAB's machine_temperature at a DST change) is
 * sent as it is and the count reported.
 *
 * Pacing: --speed X keeps the data set's own time scaled by X (row k at
 * (ts_k - ts_0) / X after the start); --rate R sends R rows per second;
 * --max (the default) sends as fast as the broker takes them. --now shifts
 * every timestamp by one offset so that the first row is "now", keeping
 * the spacing (for receivers that refuse stale times). --out writes a
 * capture file instead, each record stamped with the row's (shifted) time.
 * sim/feed does the pacing, publishing and stopping.
 *
 * Threads: main thread; Paho's threads inside mqttpub. */
#include "sim/csvpub.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/csvsrc.h"
#include "proto/codec.h"
#include "sim/cli.h"
#include "sim/encode.h"
#include "sim/feed.h"
#include "sim/ledger.h"

#define CMD "csv"
#define MAX_DEVICES 100000

struct devseq {
    char *name;   /* Owned. */
    uint64_t seq; /* Next seq. */
};

struct csvpub {
    struct csvsrc_map map;     /* Column map. */
    struct feed_opts feed;     /* Where, how fast; units are rows. */
    enum encode_format format; /* Payload format. */
    const char *prefix;        /* Topic prefix. */
    bool now;                  /* Rebase times to now. */
    const char *ledger_path;
    char **files; /* argv slice (borrowed). */
    int nfiles;
    /* run state */
    struct feed *feed_out; /* Broker, capture or nothing. */
    struct ledger *ledger;
    struct devseq *dev; /* Open addressing, cap entries. */
    size_t dev_cap;
    size_t ndev;
    bool have_origin;
    bool file_first;  /* The next row is a file's first. */
    const char *file; /* File being sent (borrowed). */
    int64_t last_ts;  /* Shifted time of the previous row. */
    int64_t shift_ms; /* Added to every timestamp. */
    uint64_t rows;
    uint64_t index; /* Messages so far (the ledger's msg). */
    bool stop;
    uint8_t payload[65536];
    char topic[512];
};

static const struct option long_opts[] = {
    {"map", required_argument, NULL, 'm'},
    {"device", required_argument, NULL, 'd'},
    {"format", required_argument, NULL, 'F'},
    {"speed", required_argument, NULL, 'x'},
    {"rate", required_argument, NULL, 'r'},
    {"now", no_argument, NULL, 'N'},
    {"topic-prefix", required_argument, NULL, 'P'},
    {"ledger", required_argument, NULL, 'L'},
    {"out", required_argument, NULL, 'o'},
    {"dry-run", no_argument, NULL, 'y'},
    FEED_LONG_OPTS};

/* Called by cli_parse() for each option. */
static int parse_one(void *ctx, int c, const char *v)
{
    struct csvpub *p = ctx;
    char err[512];

    switch (c) {
    case 'm':
        if (csvsrc_map_parse(&p->map, v, err, sizeof(err)) == 0)
            return 0;
        cli_error(CMD, "--map: %s", err);
        return -EINVAL;
    case 'd':
        if (!codec_name_ok(v, strlen(v))) {
            cli_error(CMD, "--device: '%s' is not a usable name", v);
            return -EINVAL;
        }
        snprintf(p->map.device, sizeof(p->map.device), "%s", v);
        return 0;
    case 'F':
        if (encode_format_parse(v, &p->format) == 0)
            return 0;
        cli_error(CMD,
                  "--format: '%s' is not pb, batch, json, json-batch "
                  "or senml",
                  v);
        return -EINVAL;
    case 'N':
        p->now = true;
        return 0;
    case 'P':
        p->prefix = v;
        return 0;
    case 'L':
        p->ledger_path = v;
        return 0;
    default:
        return feed_opt(&p->feed, CMD, c, v) == 0 ? 0 : -EINVAL;
    }
}

static int parse_args(struct csvpub *p, int argc, char **argv)
{
    int first;
    int rc;

    csvsrc_map_init(&p->map);
    feed_opts_init(&p->feed);
    p->feed.qos = 1;
    p->format = ENCODE_BATCH;
    p->prefix = "sensors";
    rc = cli_parse(CMD, argc, argv, long_opts, parse_one, p, &first);
    if (rc != 0)
        return rc;
    if (first == argc) {
        cli_error(CMD, "no CSV file given");
        return -EINVAL;
    }
    if (p->feed.out && p->feed.dry) {
        cli_error(CMD, "--out and --dry-run exclude each other");
        return -EINVAL;
    }
    if (!encode_supported(p->format)) {
        cli_error(CMD, "format %s is not built into this weir-sim",
                  encode_format_name(p->format));
        return -EINVAL;
    }
    p->files = argv + first;
    p->nfiles = argc - first;
    return 0;
}

/* ---- Devices ----------------------------------------------------------- */

static uint64_t name_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

static int grow_devices(struct csvpub *p)
{
    size_t cap = p->dev_cap ? p->dev_cap * 2 : 64;
    struct devseq *t = calloc(cap, sizeof(*t));

    if (t == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < p->dev_cap; i++) {
        if (p->dev[i].name == NULL)
            continue;
        size_t k = name_hash(p->dev[i].name) & (cap - 1);
        while (t[k].name != NULL)
            k = (k + 1) & (cap - 1);
        t[k] = p->dev[i];
    }
    free(p->dev);
    p->dev = t;
    p->dev_cap = cap;
    return 0;
}

/* The next seq of device name (added on first sight). */
static int next_seq(struct csvpub *p, const char *name, uint64_t *seq)
{
    size_t k;

    if ((p->ndev + 1) * 2 > p->dev_cap) {
        if (p->ndev >= MAX_DEVICES)
            return -ENOSPC;
        if (grow_devices(p) < 0)
            return -ENOMEM;
    }
    k = name_hash(name) & (p->dev_cap - 1);
    while (p->dev[k].name != NULL && strcmp(p->dev[k].name, name) != 0)
        k = (k + 1) & (p->dev_cap - 1);
    if (p->dev[k].name == NULL) {
        if ((p->dev[k].name = strdup(name)) == NULL)
            return -ENOMEM;
        p->ndev++;
    }
    *seq = p->dev[k].seq++;
    return 0;
}

/* ---- Publishing -------------------------------------------------------- */

static int send_msg(struct csvpub *p, const char *device, uint64_t seq,
                    int64_t ts, const struct encode_value *v, size_t n)
{
    size_t len;

    if (encode_topic(p->topic, sizeof(p->topic), p->prefix, device,
                     encode_per_reading(p->format) ? v[0].name : NULL) < 0)
        return -ENAMETOOLONG;
    len = encode_payload(p->format, device, seq, ts, v, n, p->payload,
                         sizeof(p->payload));
    if (len == 0)
        return -EMSGSIZE;
    for (size_t i = 0; p->ledger && i < n; i++) {
        struct ledger_entry e = {
            .msg = p->index,
            .sent = true,
            .device = device,
            .seq = seq,
            .ts_ms = ts,
            .sensor = v[i].name,
            .label = v[i].is_label,
            .value = v[i].value,
        };
        ledger_write(p->ledger, &e);
    }
    p->index++;
    return feed_send(p->feed_out, (unsigned)name_hash(device), p->topic,
                     p->payload, len, p->feed.qos, false, ts * 1000000);
}

static int send_row(struct csvpub *p, const struct csvsrc_row *row)
{
    struct encode_value v[CSVSRC_MAX_COLS];
    size_t n = 0;
    uint64_t seq;
    int64_t ts;
    int rc;

    if (!p->have_origin) {
        p->shift_ms = p->now ? cli_realtime_ns() / 1000000 - row->ts_ms : 0;
        p->have_origin = true;
    }
    ts = row->ts_ms + p->shift_ms;
    if (p->file_first && p->rows > 0 && ts < p->last_ts && !p->feed.quiet)
        fprintf(stderr,
                "weir-sim: csv: warning: %s starts %.0f s before "
                "the previous file ended; give files in time order\n",
                p->file, (double)(p->last_ts - ts) / 1000.0);
    p->file_first = false;
    p->last_ts = ts;
    for (size_t i = 0; i < row->n && n < CODEC_MAX_METRICS; i++) {
        if (!row->v[i].present)
            continue;
        v[n].name = row->v[i].name;
        v[n].value = row->v[i].value;
        v[n].is_label = row->v[i].is_label;
        n++;
    }
    if (n == 0)
        return 0;
    feed_wait(p->feed_out, ts * 1000000, 1.0);
    if (!encode_per_reading(p->format)) {
        if ((rc = next_seq(p, row->device, &seq)) < 0)
            return rc;
        return send_msg(p, row->device, seq, ts, v, n);
    }
    for (size_t i = 0; i < n; i++) {
        if ((rc = next_seq(p, row->device, &seq)) < 0 ||
            (rc = send_msg(p, row->device, seq, ts, &v[i], 1)) < 0)
            return rc;
    }
    return 0;
}

static int check_names(const char *file, struct csvsrc *s)
{
    for (size_t c = 0; c < csvsrc_columns(s); c++) {
        enum csvsrc_role r = csvsrc_column_role(s, c);
        const char *n = csvsrc_column_name(s, c);
        if ((r == CSVSRC_ROLE_SENSOR || r == CSVSRC_ROLE_LABEL) &&
            !codec_name_ok(n, strlen(n))) {
            cli_error(CMD,
                      "%s: column '%s' cannot be a sensor name (no '/', "
                      "'+', '#', spaces; at most %d bytes): add it to skip=",
                      file, n, CODEC_NAME_MAX);
            return -EINVAL;
        }
    }
    return 0;
}

static void file_summary(const struct csvpub *p, const char *file,
                         struct csvsrc *s)
{
    struct csvsrc_stats st;
    char bad[256] = "";
    size_t k = 0;

    if (p->feed.quiet)
        return;
    csvsrc_stats(s, &st);
    for (int i = 0; i < CSVSRC_BAD__COUNT; i++)
        if (st.bad[i] && k < sizeof(bad))
            k += (size_t)snprintf(bad + k, sizeof(bad) - k, " %s=%llu",
                                  csvsrc_bad_name((enum csvsrc_bad)i),
                                  (unsigned long long)st.bad[i]);
    fprintf(stderr,
            "weir-sim: csv: %s: %llu rows sent, bad rows:%s%s, "
            "empty fields=%llu, time going backwards=%llu%s%s\n",
            file, (unsigned long long)st.rows_ok, k ? "" : " 0", bad,
            (unsigned long long)st.missing, (unsigned long long)st.ts_backwards,
            st.first_bad[0] ? "; first: " : "", st.first_bad);
}

/* Publish one file; CLI_* code. */
static int one_file(struct csvpub *p, const char *file)
{
    struct csvsrc *s;
    struct csvsrc_row row;
    char err[512];
    int rc;

    if ((rc = csvsrc_open(&s, file, &p->map, err, sizeof(err))) < 0) {
        cli_error(CMD, "%s", err);
        return rc == -EINVAL ? CLI_USAGE : CLI_FAIL;
    }
    if (check_names(file, s) < 0) {
        csvsrc_free(s);
        return CLI_USAGE;
    }
    p->file = file;
    p->file_first = true;
    while (!p->stop && (rc = csvsrc_next(s, &row)) == 1) {
        if ((rc = send_row(p, &row)) < 0) {
            cli_error(CMD, "%s:%llu: cannot send the row: %s", file,
                      (unsigned long long)row.line, strerror(-rc));
            break;
        }
        p->rows++;
        if (!feed_count(p->feed_out, 1))
            p->stop = true;
    }
    if (rc < 0 && !p->stop)
        cli_error(CMD, "%s",
                  csvsrc_error(s)[0] ? csvsrc_error(s) : "cannot send");
    file_summary(p, file, s);
    csvsrc_free(s);
    return rc < 0 ? CLI_FAIL : CLI_OK;
}

static int open_outputs(struct csvpub *p)
{
    char err[512];

    if (p->ledger_path &&
        ledger_open(&p->ledger, p->ledger_path, err, sizeof(err)) < 0) {
        cli_error(CMD, "%s", err);
        return -1;
    }
    return feed_new(&p->feed_out, &p->feed, CMD, "rows");
}

/* Finish the feed, then close the rest; CLI_OK or CLI_FAIL. */
static int close_outputs(struct csvpub *p)
{
    int rc = 0;

    if (p->feed_out && feed_finish(p->feed_out) < 0)
        rc = -EIO;
    if (ledger_close(p->ledger) < 0) {
        cli_error(CMD, "%s: write failed", p->ledger_path);
        rc = -EIO;
    }
    for (size_t i = 0; i < p->dev_cap; i++)
        free(p->dev[i].name);
    free(p->dev);
    return rc < 0 ? CLI_FAIL : CLI_OK;
}

int csvpub_main(int argc, char **argv)
{
    struct csvpub *p = calloc(1, sizeof(*p));
    struct feed_stats st;
    int code = CLI_OK;
    int rc;

    if (p == NULL)
        return CLI_FAIL;
    if ((rc = parse_args(p, argc, argv)) != 0) {
        free(p);
        return rc > 0 ? (csvpub_usage(stdout), CLI_OK) : CLI_USAGE;
    }
    if (open_outputs(p) < 0) {
        close_outputs(p);
        free(p);
        return CLI_FAIL;
    }
    for (int i = 0; i < p->nfiles && !p->stop && code == CLI_OK; i++)
        code = one_file(p, p->files[i]);
    if (close_outputs(p) != CLI_OK && code == CLI_OK)
        code = CLI_FAIL;
    feed_stats(p->feed_out, &st);
    if (!p->feed.quiet && code == CLI_OK)
        fprintf(stderr,
                "weir-sim: csv: %llu rows in %llu messages, %zu "
                "devices, %.2f s\n",
                (unsigned long long)p->rows, (unsigned long long)st.msgs,
                p->ndev, st.elapsed_s);
    feed_free(p->feed_out);
    free(p);
    return code;
}

void csvpub_usage(FILE *f)
{
    fputs(
        "usage: weir-sim csv [options] FILE...\n"
        "Publish the rows of CSV data sets as readings (files in the order "
        "given).\n"
        "  --map SPEC             column map, KEY=VALUE;... (below)\n"
        "  --device NAME          fixed device name (same as device=NAME)\n"
        "  --format pb|batch|json|json-batch|senml   [batch: one message per "
        "row]\n"
        "  --max                  as fast as possible [default]\n"
        "  --speed X              keep the data set's time, X times faster\n"
        "  --rate R               R rows per second\n"
        "  --now                  shift timestamps so the first row is now\n"
        "  --count N  --duration S  --ledger FILE  --out CAPTURE  --dry-run\n"
        "  --topic-prefix P [sensors]  --qos 0|1|2 [1]  --broker URI\n"
        "  --conns N  --inflight N  --client-id ID  --quiet\n"
        "Column map keys (ingest/csvsrc.h):\n"
        "  device=NAME | device_col=COL    ts=COL|none   "
        "ts_format=auto|epoch_s|\n"
        "  epoch_ms|iso8601|STRPTIME       ts_start=TIME ts_step=MS (for "
        "ts=none)\n"
        "  sensors=A,B  labels=L  classes=X,Y (X->0, Y->1; default: order of\n"
        "  first appearance)  skip=A,B  header=yes|no  "
        "delim=comma|tab|semicolon|C\n"
        "  strict=yes. Columns by header name or #N. Default: the time column "
        "is\n"
        "  the first named timestamp/time/date/datetime/ts that parses as a "
        "time,\n"
        "  sensors are the other numeric columns, the device is the file "
        "name.\n"
        "Shipped data sets (/work/shared/data, see each SOURCE.md):\n"
        "  Occupancy (UCI; leading unnamed row-id column is detected and "
        "skipped;\n"
        "  publish in time order datatest, datatraining, datatest2):\n"
        "    weir-sim csv --map 'ts=date;labels=Occupancy;device=office' \\\n"
        "      occupancy/datatest.txt occupancy/datatraining.txt \\\n"
        "      occupancy/datatest2.txt\n"
        "    -> sensors Temperature Humidity Light CO2 HumidityRatio,\n"
        "       label Occupancy (0/1); 2,665 + 8,143 + 9,752 rows\n"
        "  Elec2 (no usable time column: half-hour periods from 1996-05-07):\n"
        "    weir-sim csv --map 'ts=none;ts_start=1996-05-07;ts_step=1800000;\n"
        "      labels=class;classes=DOWN,UP;device=nsw' elec2/elecNormNew.csv\n"
        "    -> sensors date day period nswprice nswdemand vicprice vicdemand\n"
        "       transfer, label class (DOWN 0, UP 1, as elec.csv); 45,312 "
        "rows\n"
        "  NAB (one metric per file, timestamp,value):\n"
        "    weir-sim csv --map 'ts=timestamp;device=machine_temp' \\\n"
        "      nab/data/realKnownCause/machine_temperature_system_failure.csv\n"
        "    -> sensor value; anomaly labels are in nab/labels, not in the "
        "file\n",
        f);
}
