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
 *
 * Threads: main thread; Paho's threads inside mqttpub. */
#include "sim/csvpub.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/csvsrc.h"
#include "proto/codec.h"
#include "sim/capfile.h"
#include "sim/cli.h"
#include "sim/encode.h"
#include "sim/ledger.h"
#include "sim/mqttpub.h"
#include "sim/pace.h"
#include "sim/progress.h"

#define CMD "csv"
#define MAX_DEVICES 100000

struct devseq {
    char *name;   /* Owned. */
    uint64_t seq; /* Next seq. */
};

struct csvpub {
    struct csvsrc_map map;     /* Column map. */
    struct mqttpub_opts pub;   /* Broker options. */
    enum encode_format format; /* Payload format. */
    const char *prefix;        /* Topic prefix. */
    int qos;
    double speed; /* Data-set time scale; 0 = none. */
    double rate;  /* Rows/s; 0 = none. */
    bool now;     /* Rebase times to now. */
    const char *ledger_path;
    const char *out; /* Capture file, or NULL. */
    bool dry;
    bool quiet;
    uint64_t limit; /* Rows; 0 = all. */
    double duration_s;
    char **files; /* argv slice (borrowed). */
    int nfiles;
    /* run state */
    struct mqttpub *mp;
    struct capfile_writer *cap;
    struct ledger *ledger;
    struct devseq *dev; /* Open addressing, cap entries. */
    size_t dev_cap;
    size_t ndev;
    bool have_origin;
    bool file_first;  /* The next row is a file's first. */
    const char *file; /* File being sent (borrowed). */
    int64_t last_ts;  /* Shifted time of the previous row. */
    int64_t shift_ms; /* Added to every timestamp. */
    int64_t first_ts; /* Shifted time of the very first row. */
    int64_t t0_ns;    /* Monotonic start. */
    int64_t until_ns;
    struct pace pace;
    struct progress prog;
    uint64_t rows;
    uint64_t msgs;
    uint64_t index;
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
    {"max", no_argument, NULL, 'M'},
    {"now", no_argument, NULL, 'N'},
    {"topic-prefix", required_argument, NULL, 'P'},
    {"qos", required_argument, NULL, 'q'},
    {"ledger", required_argument, NULL, 'L'},
    {"out", required_argument, NULL, 'o'},
    {"dry-run", no_argument, NULL, 'y'},
    {"count", required_argument, NULL, 'c'},
    {"duration", required_argument, NULL, 'D'},
    {"broker", required_argument, NULL, 'b'},
    {"conns", required_argument, NULL, 'C'},
    {"inflight", required_argument, NULL, 'I'},
    {"client-id", required_argument, NULL, 'i'},
    {"quiet", no_argument, NULL, 'Q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};

static int parse_one(struct csvpub *p, int c, const char *v)
{
    char err[512];
    uint64_t u;

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
    case 'x':
        p->rate = 0;
        return cli_double(CMD, "--speed", v, 1e-6, 1e12, &p->speed);
    case 'r':
        p->speed = 0;
        return cli_double(CMD, "--rate", v, 1e-3, 1e9, &p->rate);
    case 'M':
        p->speed = p->rate = 0;
        return 0;
    case 'N':
        p->now = true;
        return 0;
    case 'P':
        p->prefix = v;
        return 0;
    case 'q':
        if (cli_u64(CMD, "--qos", v, 0, 2, &u) < 0)
            return -EINVAL;
        p->qos = (int)u;
        return 0;
    case 'L':
        p->ledger_path = v;
        return 0;
    case 'o':
        p->out = v;
        return 0;
    case 'y':
        p->dry = true;
        return 0;
    case 'c':
        return cli_u64(CMD, "--count", v, 1, UINT64_MAX / 2, &p->limit);
    case 'D':
        return cli_seconds(CMD, "--duration", v, &p->duration_s);
    case 'b':
        p->pub.uri = v;
        return 0;
    case 'C':
        if (cli_u64(CMD, "--conns", v, 1, MQTTPUB_MAX_CONNS, &u) < 0)
            return -EINVAL;
        p->pub.conns = (unsigned)u;
        return 0;
    case 'I':
        if (cli_u64(CMD, "--inflight", v, 1, 1000000, &u) < 0)
            return -EINVAL;
        p->pub.max_inflight = (unsigned)u;
        return 0;
    case 'i':
        p->pub.client_id = v;
        return 0;
    case 'Q':
        p->quiet = true;
        return 0;
    default:
        return -EINVAL;
    }
}

static int parse_args(struct csvpub *p, int argc, char **argv)
{
    int c;

    csvsrc_map_init(&p->map);
    mqttpub_opts_init(&p->pub);
    p->pub.uri = CLI_DEFAULT_BROKER;
    p->format = ENCODE_BATCH;
    p->prefix = "sensors";
    p->qos = 1;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+", long_opts, NULL)) != -1) {
        if (c == 'h')
            return 1;
        if (c == '?' || c == ':') {
            cli_error(CMD,
                      "unknown or incomplete option '%s' (see weir-sim "
                      "csv --help)",
                      argv[optind - 1]);
            return -EINVAL;
        }
        if (parse_one(p, c, optarg) < 0)
            return -EINVAL;
    }
    if (optind == argc) {
        cli_error(CMD, "no CSV file given");
        return -EINVAL;
    }
    if (p->out && p->dry) {
        cli_error(CMD, "--out and --dry-run exclude each other");
        return -EINVAL;
    }
    if (!encode_supported(p->format)) {
        cli_error(CMD, "format %s is not built into this weir-sim",
                  encode_format_name(p->format));
        return -EINVAL;
    }
    p->files = argv + optind;
    p->nfiles = argc - optind;
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
    p->msgs++;
    if (p->mp) {
        int rc = mqttpub_publish(p->mp, (unsigned)name_hash(device), p->topic,
                                 p->payload, len, p->qos, false);
        return rc == -EIO ? 0 : rc;
    }
    if (p->cap) {
        struct codec_capture c = {.topic = p->topic,
                                  .payload = p->payload,
                                  .payload_len = len,
                                  .recv_ns = ts * 1000000,
                                  .qos = p->qos};
        return capfile_write(p->cap, &c);
    }
    return 0;
}

static void pace_row(struct csvpub *p, int64_t ts)
{
    if (p->speed > 0 && p->mp) {
        double rel = (double)(ts - p->first_ts) * 1e6 / p->speed;
        if (rel > 0)
            pace_sleep_until(p->t0_ns + (int64_t)rel);
    } else if (p->rate > 0 && p->mp) {
        pace_take(&p->pace, 1.0);
    }
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
        p->first_ts = row->ts_ms + p->shift_ms;
        p->have_origin = true;
    }
    ts = row->ts_ms + p->shift_ms;
    if (p->file_first && p->rows > 0 && ts < p->last_ts && !p->quiet)
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
    pace_row(p, ts);
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

    if (p->quiet)
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
        progress_update(&p->prog, p->rows, p->msgs, false);
        if ((p->limit > 0 && p->rows >= p->limit) ||
            ((p->rows & 63) == 0 &&
             (cli_stop_requested() || pace_now_ns() >= p->until_ns)))
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
        ledger_open(&p->ledger, p->ledger_path, err, sizeof(err)) < 0)
        goto fail;
    if (p->out && capfile_create(&p->cap, p->out, 64, err, sizeof(err)) < 0)
        goto fail;
    if (!p->out && !p->dry &&
        mqttpub_new(&p->mp, &p->pub, err, sizeof(err)) < 0)
        goto fail;
    return 0;
fail:
    cli_error(CMD, "%s", err);
    return -1;
}

static int close_outputs(struct csvpub *p)
{
    int rc = 0;

    if (p->mp && mqttpub_drain(p->mp, 30000) < 0) {
        cli_error(CMD, "messages still in flight after 30 s");
        rc = -ETIMEDOUT;
    }
    mqttpub_free(p->mp);
    if (capfile_close(p->cap) < 0) {
        cli_error(CMD, "%s: write failed", p->out);
        rc = -EIO;
    }
    if (ledger_close(p->ledger) < 0) {
        cli_error(CMD, "%s: write failed", p->ledger_path);
        rc = -EIO;
    }
    for (size_t i = 0; i < p->dev_cap; i++)
        free(p->dev[i].name);
    free(p->dev);
    return rc;
}

int csvpub_main(int argc, char **argv)
{
    struct csvpub *p = calloc(1, sizeof(*p));
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
    p->t0_ns = pace_now_ns();
    p->until_ns = p->duration_s > 0 ? p->t0_ns + (int64_t)(p->duration_s * 1e9)
                                    : INT64_MAX;
    pace_init(&p->pace, p->rate);
    progress_init(&p->prog, p->quiet, "rows", p->limit, p->duration_s);
    for (int i = 0; i < p->nfiles && !p->stop && code == CLI_OK; i++)
        code = one_file(p, p->files[i]);
    progress_done(&p->prog, p->rows, p->msgs);
    if (close_outputs(p) < 0 && code == CLI_OK)
        code = CLI_FAIL;
    if (!p->quiet && code == CLI_OK)
        fprintf(stderr,
                "weir-sim: csv: %llu rows in %llu messages, %zu "
                "devices, %.2f s\n",
                (unsigned long long)p->rows, (unsigned long long)p->msgs,
                p->ndev, (double)(pace_now_ns() - p->t0_ns) * 1e-9);
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
