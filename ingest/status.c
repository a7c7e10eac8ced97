/* status.c -- /metrics, /healthz and the replay stats dump (see
 * status.h).
 *
 * Each family is written whole (HELP, TYPE, samples) through
 * ingest/prom.h, which escapes label values (task and device names come
 * from users) and checks names. A write error sticks in the buffer
 * (http_buf.failed), so the functions keep going and report once. The
 * families whose value is a counter field of a stats struct are tables
 * (struct family: name, type, help, offset), written by one loop each.
 *
 * Threads: the loop thread. */
#include "ingest/status.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ingest/prom.h"
#include "ingest/task.h"

/* One family with one unlabelled sample. */
static void one(struct http_buf *b, const char *name, enum prom_type type,
                const char *help, double v)
{
    prom_family(b, name, type, help);
    prom_sample(b, name, NULL, 0, v);
}

/* A family whose value is a uint64_t field of a stats struct: the tables
 * below list them, families() and per_task() write them. */
struct family {
    const char *name;
    enum prom_type type;
    const char *help;
    size_t off; /* Of the uint64_t in the struct. */
};

/* _Generic refuses to compile a field that is not a uint64_t. */
/* clang-format off */
#define FAM(type_, field, name, kind, help)                                    \
    {name, kind, help,                                                         \
     _Generic(((type_ *)0)->field, uint64_t: offsetof(type_, field))}
/* clang-format on */
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t field(const void *stats, size_t off)
{
    uint64_t v;

    memcpy(&v, (const char *)stats + off, sizeof(v));
    return v;
}

/* Each family of f[0..n) with one unlabelled sample from stats. */
static void families(struct http_buf *b, const struct family *f, size_t n,
                     const void *stats)
{
    size_t i;

    for (i = 0; i < n; i++) {
        prom_family(b, f[i].name, f[i].type, f[i].help);
        prom_sample_u64(b, f[i].name, NULL, 0, field(stats, f[i].off));
    }
}

#define PIPE(f, n, k, h) FAM(struct pipeline_stats, f, n, k, h)
#define INBOX(f, n, k, h) FAM(struct inbox_stats, f, n, k, h)
#define MQTT(f, n, k, h) FAM(struct mqtt_stats, f, n, k, h)
#define SRC(f, n, k, h) FAM(struct status_src, f, n, k, h)
#define WAL(f, n, k, h) FAM(struct wal_stats, f, n, k, h)
#define TASK(f, n, k, h) FAM(struct task_stats, f, n, k, h)
#define C PROM_COUNTER /* in the tables only */
#define G PROM_GAUGE

static const struct family pipeline_fams[] = {
    PIPE(readings, "weir_readings_total", C,
         "Readings of decoded messages given to dedup and validation."),
    PIPE(accepted, "weir_readings_accepted_total", C,
         "Readings accepted (passed dedup and validation)."),
    PIPE(msg_duplicates, "weir_duplicates_total", C,
         "Duplicate messages (sequence number or content seen before)."),
    PIPE(restarts, "weir_device_restarts_total", C,
         "Device sequence-counter restarts accepted."),
    PIPE(dead_letters, "weir_dead_letters_total", C,
         "Dead letters handed to the publisher."),
    PIPE(last_lsn, "weir_last_lsn", G,
         "Ingest-log lsn of the last message processed."),
};

static const struct family inbox_fams[] = {
    INBOX(dups, "weir_redeliveries_total", C,
          "Messages received with the DUP flag."),
    INBOX(ring_drops, "weir_qos0_drops_total", C,
          "QoS 0 messages dropped because the ring was full."),
    INBOX(waits, "weir_ring_waits_total", C,
          "QoS 1/2 messages that waited for ring room."),
    INBOX(timeouts, "weir_ring_wait_timeouts_total", C,
          "Waits that hit the deadline (log-only until caught up)."),
    INBOX(dlq_full, "weir_dead_letter_overflow_total", C,
          "Dead-letter copies lost: the channel was full."),
    INBOX(wal_errors, "weir_wal_errors_total", C,
          "Failed ingest-log appends (retried)."),
};

static const struct family mqtt_fams[] = {
    MQTT(connects, "weir_mqtt_connects_total", C, "Successful connections."),
    MQTT(reconnects, "weir_mqtt_reconnects_total", C,
         "Successful connections after the first."),
    MQTT(connect_failures, "weir_mqtt_connect_failures_total", C,
         "Failed connection attempts."),
    MQTT(lost, "weir_mqtt_connection_lost_total", C, "Connections lost."),
    MQTT(subscribe_failures, "weir_mqtt_subscribe_failures_total", C,
         "Subscriptions refused."),
    MQTT(published, "weir_mqtt_published_total", C, "Publishes completed."),
    MQTT(publish_failures, "weir_mqtt_publish_failures_total", C,
         "Publishes that failed."),
};

static const struct family state_fams[] = {
    SRC(catchups, "weir_catchups_total", C,
        "Catch-ups from the ingest log after a ring timeout."),
    SRC(checkpoints, "weir_checkpoints_total", C, "Checkpoints written."),
    SRC(checkpoint_failures, "weir_checkpoint_failures_total", C,
        "Checkpoints that failed."),
    SRC(checkpoint_lsn, "weir_checkpoint_lsn", G,
        "Ingest-log lsn covered by the newest checkpoint."),
};

static const struct family wal_fams[] = {
    WAL(next_lsn, "weir_wal_lsn", G, "Next ingest-log lsn."),
    WAL(bytes, "weir_wal_bytes", G, "Ingest-log bytes on disk."),
    WAL(segments, "weir_wal_segments", G, "Ingest-log segments."),
};

static const struct family task_fams[] = {
    TASK(readings, "weir_task_readings_total", C,
         "Accepted readings given to the task."),
    TASK(rows, "weir_task_rows_learned_total", C,
         "Rows learned (supervised) or readings scored (anomaly)."),
    TASK(windows, "weir_task_windows_total", C, "Validation windows closed."),
    TASK(snapshots, "weir_task_snapshots_total", C, "Snapshots published."),
    TASK(drifts, "weir_task_drifts_total", C, "Drift events."),
    TASK(anomalies, "weir_task_anomalies_total", C,
         "Anomaly events (threshold crossings)."),
    TASK(bad_labels, "weir_task_bad_labels_total", C,
         "Rows refused for their label."),
};
#undef C
#undef G
#undef PIPE
#undef INBOX
#undef MQTT
#undef SRC
#undef WAL
#undef TASK

/* Single samples that are not a stats field. */
static void one_u64(struct http_buf *b, const char *name, enum prom_type type,
                    const char *help, uint64_t v)
{
    prom_family(b, name, type, help);
    prom_sample_u64(b, name, NULL, 0, v);
}

static void pipeline_metrics(const struct status_src *s, struct http_buf *b)
{
    struct pipeline_stats st;
    struct inbox_stats ib;
    int i;

    pipeline_stats(s->pipeline, &st);
    memset(&ib, 0, sizeof(ib));
    if (s->inbox != NULL)
        inbox_stats(s->inbox, &ib);
    prom_family(b, "weir_messages_total", PROM_COUNTER,
                "Messages processed by the pipeline, by payload format.");
    for (i = 0; i < DECODER_FORMATS; i++) {
        struct prom_label l = {"format", decoder_format_name(i)};
        prom_sample_u64(b, "weir_messages_total", &l, 1, st.by_format[i]);
    }
    prom_family(b, "weir_rejects_total", PROM_COUNTER,
                "Refusals by reason: messages at decode and for ring_full, "
                "readings for the rest.");
    for (i = 1; i < REJECT__COUNT; i++) {
        struct prom_label l = {"reason", reject_name(i)};
        uint64_t v = st.rejects.n[i];
        if (i == REJECT_RING_FULL)
            v += ib.ring_drops;
        prom_sample_u64(b, "weir_rejects_total", &l, 1, v);
    }
    families(b, pipeline_fams, COUNT(pipeline_fams), &st);
}

static void inbox_metrics(const struct status_src *s, struct http_buf *b)
{
    struct pipeline_stats st;
    struct inbox_stats ib;
    int q;

    if (s->inbox == NULL)
        return;
    inbox_stats(s->inbox, &ib);
    pipeline_stats(s->pipeline, &st);
    prom_family(b, "weir_received_total", PROM_COUNTER,
                "MQTT messages received, by QoS.");
    for (q = 0; q < 3; q++) {
        char v[2] = {(char)('0' + q), 0};
        struct prom_label l = {"qos", v};
        prom_sample_u64(b, "weir_received_total", &l, 1, ib.qos[q]);
    }
    families(b, inbox_fams, COUNT(inbox_fams), &ib);
    one(b, "weir_ring_wait_seconds_total", PROM_COUNTER,
        "Time messages waited for ring room.", (double)ib.wait_ms / 1000);
    one_u64(b, "weir_backlog_messages", PROM_GAUGE,
            "Messages logged but not processed yet.",
            ib.last_lsn > st.last_lsn ? ib.last_lsn - st.last_lsn : 0);
}

static void ring_metrics(const struct status_src *s, struct http_buf *b)
{
    if (s->ring == NULL)
        return;
    one_u64(b, "weir_ring_depth", PROM_GAUGE, "Records in the ring now.",
            ring_depth(s->ring));
    one_u64(b, "weir_ring_high_water", PROM_GAUGE,
            "Largest ring depth since start.", ring_high_water(s->ring));
    one_u64(b, "weir_ring_capacity", PROM_GAUGE, "Ring capacity, records.",
            ring_capacity(s->ring));
}

static void mqtt_metrics(const struct status_src *s, struct http_buf *b)
{
    struct publish_stats ps;
    struct mqtt_stats m;
    int k;

    if (s->mqtt == NULL)
        return;
    mqtt_stats(s->mqtt, &m);
    one_u64(b, "weir_mqtt_connected", PROM_GAUGE,
            "1 when connected and subscribed.", mqtt_connected(s->mqtt));
    families(b, mqtt_fams, COUNT(mqtt_fams), &m);
    if (s->outbox == NULL)
        return;
    publish_queue_stats(s->outbox, &ps);
    prom_family(b, "weir_outbox_dropped_total", PROM_COUNTER,
                "Outgoing messages dropped: the queue was full.");
    for (k = 0; k < PUBLISH_KINDS; k++) {
        struct prom_label l = {"kind", publish_kind_name(k)};
        prom_sample_u64(b, "weir_outbox_dropped_total", &l, 1, ps.dropped[k]);
    }
    one_u64(b, "weir_outbox_depth", PROM_GAUGE, "Outgoing messages queued.",
            ps.depth);
}

/* Family f with a sample name{task=...} for every task. */
static void per_task(struct http_buf *b, const struct pipeline *p,
                     const struct family *f)
{
    size_t i;

    prom_family(b, f->name, f->type, f->help);
    for (i = 0; i < pipeline_tasks(p); i++) {
        const struct task *t = pipeline_task(p, i);
        struct prom_label l = {"task", task_name(t)};
        struct task_stats ts;
        task_stats(t, &ts);
        prom_sample_u64(b, f->name, &l, 1, field(&ts, f->off));
    }
}

static void metric_set(struct http_buf *b, const char *name, const char *task,
                       const struct metrics_result *r)
{
    static const char *const keys[] = {"mae",      "rmse",          "r2",
                                       "accuracy", "log_loss",      "macro_f1",
                                       "kappa",    "kappa_temporal"};
    const double v[] = {r->mae,      r->rmse,     r->r2,    r->accuracy,
                        r->log_loss, r->macro_f1, r->kappa, r->kappa_temporal};
    size_t i;

    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        struct prom_label l[2] = {{"task", task}, {"metric", keys[i]}};
        if (!isnan(v[i]))
            prom_sample(b, name, l, 2, v[i]);
    }
}

static void champion_metrics(const struct status_src *s, struct http_buf *b)
{
    const struct pipeline *p = s->pipeline;
    size_t i;

    prom_family(b, "weir_task_champion", PROM_GAUGE,
                "1 for the champion candidate of each task.");
    for (i = 0; i < pipeline_tasks(p); i++) {
        const struct learner *l = task_learner(pipeline_task(p, i));
        struct prom_label lb[2] = {{"task", task_name(pipeline_task(p, i))},
                                   {"candidate", ""}};
        if (l == NULL)
            continue;
        lb[1].value = learner_candidate_name(l, learner_champion(l));
        prom_sample(b, "weir_task_champion", lb, 2, 1);
    }
    prom_family(b, "weir_task_window_metric", PROM_GAUGE,
                "Champion's figures on the last closed window.");
    for (i = 0; i < pipeline_tasks(p); i++) {
        const struct learner *l = task_learner(pipeline_task(p, i));
        struct learner_window w;
        if (l != NULL && learner_history(l, 0, &w))
            metric_set(b, "weir_task_window_metric",
                       task_name(pipeline_task(p, i)),
                       &w.candidates[w.next_champion]);
    }
    prom_family(b, "weir_task_test_metric", PROM_GAUGE,
                "Champion's figures on the held-out test stream.");
    for (i = 0; i < pipeline_tasks(p); i++) {
        const struct learner *l = task_learner(pipeline_task(p, i));
        struct metrics_result r;
        if (l != NULL && learner_metrics(l, learner_champion(l),
                                         LEARNER_SCOPE_TEST, &r) == 0)
            metric_set(b, "weir_task_test_metric",
                       task_name(pipeline_task(p, i)), &r);
    }
}

static void task_metrics(const struct status_src *s, struct http_buf *b)
{
    const struct pipeline *p = s->pipeline;
    size_t i;

    for (i = 0; i < COUNT(task_fams); i++)
        per_task(b, p, &task_fams[i]);
    prom_family(b, "weir_task_snapshot_version", PROM_GAUGE,
                "Version of the last snapshot published.");
    for (i = 0; i < pipeline_tasks(p); i++) {
        const struct task *t = pipeline_task(p, i);
        struct prom_label l = {"task", task_name(t)};
        prom_sample_u64(b, "weir_task_snapshot_version", &l, 1,
                        task_snapshot_version(t));
    }
    prom_family(b, "weir_task_rows_pending", PROM_GAUGE,
                "Forecast rows waiting for their label.");
    for (i = 0; i < pipeline_tasks(p); i++) {
        const struct task *t = pipeline_task(p, i);
        struct prom_label l = {"task", task_name(t)};
        if (task_kind(t) != TASK_ANOMALY)
            prom_sample_u64(b, "weir_task_rows_pending", &l, 1,
                            task_rows_pending(t));
    }
    prom_family(b, "weir_task_rows_test_total", PROM_COUNTER,
                "Rows held out in the test stream.");
    for (i = 0; i < pipeline_tasks(p); i++) {
        const struct learner *l = task_learner(pipeline_task(p, i));
        struct prom_label lb = {"task", task_name(pipeline_task(p, i))};
        struct learner_stats ls;
        if (l == NULL)
            continue;
        learner_stats(l, &ls);
        prom_sample_u64(b, "weir_task_rows_test_total", &lb, 1, ls.rows_test);
    }
    champion_metrics(s, b);
}

static void state_metrics(const struct status_src *s, struct http_buf *b)
{
    struct wal_stats ws;

    families(b, state_fams, COUNT(state_fams), s);
    one(b, "weir_checkpoint_age_seconds", PROM_GAUGE,
        "Seconds since the newest checkpoint (NaN: none yet).",
        s->checkpoint_wall_ms > 0
            ? (double)(s->now_wall_ms - s->checkpoint_wall_ms) / 1000
            : NAN);
    if (s->devices != NULL)
        one_u64(b, "weir_devices", PROM_GAUGE, "Device names known.",
                intern_count(s->devices));
    if (s->sensors != NULL)
        one_u64(b, "weir_sensors", PROM_GAUGE, "Sensor names known.",
                intern_count(s->sensors));
    if (s->wal == NULL)
        return;
    wal_stats(s->wal, &ws);
    families(b, wal_fams, COUNT(wal_fams), &ws);
}

int status_metrics(const struct status_src *s, struct http_buf *b)
{
    pipeline_metrics(s, b);
    inbox_metrics(s, b);
    ring_metrics(s, b);
    mqtt_metrics(s, b);
    task_metrics(s, b);
    state_metrics(s, b);
    return b->failed ? -ENOBUFS : 0;
}

int status_health(const struct status_src *s, struct http_buf *b)
{
    bool up = s->mqtt != NULL && mqtt_connected(s->mqtt);
    struct pipeline_stats st;
    struct inbox_stats ib;
    uint64_t backlog = 0;
    double lag = 0;

    pipeline_stats(s->pipeline, &st);
    if (s->inbox != NULL) {
        inbox_stats(s->inbox, &ib);
        backlog = ib.last_lsn > st.last_lsn ? ib.last_lsn - st.last_lsn : 0;
    }
    if (backlog > 0 && st.now_ms > 0)
        lag = (double)(s->now_wall_ms - st.now_ms) / 1000;
    http_buf_printf(b,
                    "{\"status\":\"%s\",\"connected\":%s,\"backlog\":%" PRIu64
                    ",\"lag_s\":%.3f,\"ring_depth\":%zu,"
                    "\"checkpoint_age_s\":%.3f}\n",
                    up ? "ok" : "disconnected", up ? "true" : "false", backlog,
                    lag, s->ring ? ring_depth(s->ring) : 0,
                    s->checkpoint_wall_ms > 0
                        ? (double)(s->now_wall_ms - s->checkpoint_wall_ms) /
                              1000
                        : -1.0);
    return up ? 200 : 503;
}

static cJSON *task_json(const struct task *t)
{
    cJSON *o = cJSON_CreateObject();
    struct task_stats ts;
    struct rows_stats rs;

    task_stats(t, &ts);
    task_rows_stats(t, &rs);
    cJSON_AddStringToObject(o, "name", task_name(t));
    cJSON_AddStringToObject(o, "kind", task_kind_name(task_kind(t)));
    cJSON_AddNumberToObject(o, "readings", (double)ts.readings);
    cJSON_AddNumberToObject(o, "rows", (double)ts.rows);
    cJSON_AddNumberToObject(o, "rows_emitted", (double)rs.rows);
    cJSON_AddNumberToObject(o, "windows", (double)ts.windows);
    cJSON_AddNumberToObject(o, "snapshots", (double)ts.snapshots);
    cJSON_AddNumberToObject(o, "snapshot_version",
                            (double)task_snapshot_version(t));
    cJSON_AddNumberToObject(o, "drifts", (double)ts.drifts);
    cJSON_AddNumberToObject(o, "anomalies", (double)ts.anomalies);
    cJSON_AddNumberToObject(o, "bad_labels", (double)ts.bad_labels);
    return o;
}

int status_dump(const struct status_src *s, FILE *f)
{
    struct pipeline_stats st;
    cJSON *o = cJSON_CreateObject();
    cJSON *r, *a;
    char *text;
    size_t i;
    int rc = 0;

    if (o == NULL)
        return -ENOMEM;
    pipeline_stats(s->pipeline, &st);
    cJSON_AddNumberToObject(o, "messages", (double)st.messages);
    cJSON_AddNumberToObject(o, "decode_rejects", (double)st.decode_rejects);
    cJSON_AddNumberToObject(o, "readings", (double)st.readings);
    cJSON_AddNumberToObject(o, "accepted", (double)st.accepted);
    cJSON_AddNumberToObject(o, "duplicates", (double)st.msg_duplicates);
    cJSON_AddNumberToObject(o, "dead_letters", (double)st.dead_letters);
    cJSON_AddNumberToObject(o, "last_lsn", (double)st.last_lsn);
    r = cJSON_AddObjectToObject(o, "rejects");
    for (i = 1; r != NULL && i < REJECT__COUNT; i++)
        cJSON_AddNumberToObject(r, reject_name(i), (double)st.rejects.n[i]);
    a = cJSON_AddArrayToObject(o, "tasks");
    for (i = 0; a != NULL && i < pipeline_tasks(s->pipeline); i++)
        cJSON_AddItemToArray(a, task_json(pipeline_task(s->pipeline, i)));
    text = cJSON_Print(o);
    if (text == NULL || fprintf(f, "%s\n", text) < 0)
        rc = -EIO;
    free(text);
    cJSON_Delete(o);
    return rc;
}
