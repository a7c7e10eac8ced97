/* status.h -- what the daemon says about itself: /metrics in Prometheus
 * text, /healthz as a small JSON document, and the stats dump of `weir
 * replay`.
 *
 * The caller gathers borrowed pointers to the parts into a struct
 * status_src; these functions only read them: counters through the parts'
 * own stats functions (atomics where another thread writes), the pipeline
 * and tasks directly (loop thread).
 *
 * Metric names (all prefixed weir_): messages_total{format}, received_total
 * {qos}, readings_total, readings_accepted_total, rejects_total{reason},
 * duplicates_total, dead_letters_total, dead_letter_overflow_total,
 * ring_depth, ring_high_water, ring_capacity, qos0_drops_total,
 * ring_waits_total, ring_wait_seconds_total, catchups_total,
 * backlog_messages, mqtt_connected, mqtt_connects_total,
 * mqtt_reconnects_total, mqtt_connection_lost_total, mqtt_publish_*,
 * outbox_dropped_total{kind}, task_readings_total{task},
 * task_rows_learned_total{task}, task_rows_pending{task},
 * task_rows_test_total{task}, task_windows_total{task},
 * task_snapshot_version{task},
 * task_snapshots_total{task}, task_drifts_total{task},
 * task_anomalies_total{task}, task_champion{task,candidate},
 * task_window_metric{task,metric}, task_test_metric{task,metric},
 * checkpoint_age_seconds, checkpoints_total, checkpoint_failures_total,
 * checkpoint_lsn, wal_lsn, wal_bytes, wal_segments, wal_errors_total,
 * devices, sensors.
 *
 * Threads: the loop thread (it reads the pipeline). */
#ifndef WEIR_INGEST_STATUS_H
#define WEIR_INGEST_STATUS_H

#include <stdint.h> /* For uint64_t, int64_t. */
#include <stdio.h>  /* For FILE. */

#include "ingest/dlq.h"      /* For struct dlq. */
#include "ingest/http.h"     /* For struct http_buf. */
#include "ingest/inbox.h"    /* For struct inbox. */
#include "ingest/mqtt.h"     /* For struct mqtt. */
#include "ingest/pipeline.h" /* For struct pipeline. */
#include "ingest/publish.h"  /* For struct publish_queue. */
#include "ingest/wal.h"      /* For struct wal. */
#include "stream/ring.h"     /* For struct ring. */

/* Everything borrowed; any part may be NULL (replay has no MQTT). */
struct status_src {
    const struct pipeline *pipeline;
    const struct intern *devices;
    const struct intern *sensors;
    const struct ring *ring;
    const struct inbox *inbox;
    const struct mqtt *mqtt;
    struct publish_queue *outbox;
    struct wal *wal;
    uint64_t checkpoints;         /* Written since start. */
    uint64_t checkpoint_failures; /* Failed since start. */
    uint64_t checkpoint_lsn;      /* lsn of the newest. */
    int64_t checkpoint_wall_ms;   /* When it was written (0: never). */
    uint64_t catchups;            /* Log-only episodes caught up. */
    int64_t now_wall_ms;          /* Wall clock now. */
};

/* Append the Prometheus exposition to b. Returns 0 or the buffer's
 * error. */
int status_metrics(const struct status_src *s, struct http_buf *b);

/* Append {"status":...,"connected":...,"backlog":...,...} to b. Returns
 * 200 when connected to the broker, 503 otherwise. */
int status_health(const struct status_src *s, struct http_buf *b);

/* Write a JSON stats object (counters, per task) to f, for `weir replay`
 * and tests. Returns 0 or -EIO. */
int status_dump(const struct status_src *s, FILE *f);

#endif /* WEIR_INGEST_STATUS_H */
