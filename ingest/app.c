/* app.c -- the daemon: recovery, the loop, checkpoints, shutdown (see
 * app.h for the life cycle).
 *
 * Who touches what:
 *   Paho's callback thread  inbox (decoder, intern writer, WAL writer,
 *                           ring and dead-letter producer, uv_async_send)
 *   MQTT worker thread      Paho calls; the outbox's consumer; on_state()
 *                           sets `republish` and wakes the loop
 *   libuv pool thread       ckpt_work(): wal_sync + atomic file write of an
 *                           image the loop thread built; sync_work():
 *                           wal_sync every fsync interval; snap_work():
 *                           a snapshot file (write, fsync, rename)
 *   loop thread             everything else: ring and dead-letter consumer,
 *                           pipeline, tasks, outbox producer, snapshot
 *                           files, timers, signals, HTTP
 * During recovery and during a catch-up (MQTT paused, no callback can run)
 * the loop thread is also the decoder's and the intern tables' user.
 *
 * Draining (drain_turn()): a turn drains at most DRAIN_MAX records, and
 * while turns find records the loop keeps turning (an idle handle) instead
 * of sleeping, so a flood cannot starve timers, signals and HTTP, and
 * Paho's thread wakes the loop only once it has said it sleeps (the
 * inbox's protocol, ingest/inbox.c "Wake-ups").
 *
 * Fault injection: WEIR_FAULT_LOOP_DELAY_MS=N in the environment makes
 * the loop sleep N ms per drain turn (tests/test_weir.c uses it to make the
 * ring overflow and exercise the catch-up). Unset, it costs one branch.
 *
 * The ingest log's fsync = interval is done as wal.h prescribes: a timer
 * queues wal_sync() on the thread pool every sync_interval_ms (one job at
 * a time), so the device flush never runs on Paho's thread -- a flush of
 * a second's appends takes milliseconds to tens of them, during which the
 * callback would hold every message behind it. (wal_append() still
 * flushes inline if no sync came for 1.5 intervals: the bound holds even
 * if the loop thread is stuck.)
 *
 * Checkpoints keep one spare: the ingest log is truncated only before the
 * *previous* checkpoint's lsn, so if the newest file is damaged the
 * daemon falls back to checkpoint.prev and still finds every record it
 * needs in the log.
 *
 * Threads: see above; the struct app belongs to the loop thread except
 * the atomics (republish, ckpt_done). */
#include "ingest/app.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "ingest/checkpoint.h"
#include "ingest/dlq.h"
#include "ingest/http.h"
#include "ingest/inbox.h"
#include "ingest/log.h"
#include "ingest/mqtt.h"
#include "ingest/prom.h"
#include "ingest/publish.h"
#include "ingest/replay.h"
#include "ingest/setup.h"
#include "ingest/status.h"
#include "ingest/wal.h"

#define BATCH 4096               /* records per ring_pop() */
#define DRAIN_MAX (1u << 16)     /* records per drain turn */
#define DLQ_BYTES (1u << 20)     /* dead-letter channel */
#define OUTBOX_BYTES (16u << 20) /* loop -> MQTT worker */
#define RING_WAIT_MAX_MS 5000    /* longest ring wait of a QoS 1/2 message */

struct snap_cache {
    uint8_t *data; /* Last snapshot of a task (encoded), or NULL. */
    size_t len;
};

/* A snapshot file to write (snapshots/<task>/<version>.pb). */
struct snap_job {
    struct snap_job *next; /* Queue order; loop thread. */
    size_t task;           /* Index into cfg->tasks. */
    uint64_t version;
    uint8_t *data; /* Owned: the encoded snapshot. */
    size_t len;
};

struct app {
    const struct config *cfg; /* Borrowed. */
    uv_loop_t loop;
    struct setup_core core; /* Names, decoder, pipeline. */
    struct publish_topics topics;
    char wal_dir[PATH_MAX];
    char snap_dir[PATH_MAX];
    struct wal *wal;
    struct ring *ring;
    struct dlq *dlq;
    struct publish_queue *outbox;
    struct inbox *inbox;
    struct mqtt *mqtt;
    struct http_server *http;
    bool port_written; /* state_dir/http.port is ours. */
    uv_async_t wakeup;
    uv_idle_t drain_idle; /* Active: drain again on the next loop turn. */
    uv_timer_t ckpt_timer;
    uv_timer_t house_timer;
    uv_timer_t sync_timer; /* fsync = interval: queues sync_req. */
    uv_signal_t sig_term;
    uv_signal_t sig_int;
    bool handles;          /* The uv handles above were set up. */
    struct reading *batch; /* [BATCH] pop buffer. */
    size_t have;           /* Records held in batch. */
    char *dl_topic;        /* Dead-letter pop buffers. */
    uint8_t *dl_payload;
    struct snap_cache *snaps;   /* [ntasks], by task index. */
    struct snap_job *snap_head; /* Files to write, oldest first (loop). */
    struct snap_job *snap_cur;  /* The one in the pool, or NULL. */
    uv_work_t snap_req;
    atomic_bool republish; /* Re-send snapshots after a connect. */
    uv_work_t sync_req;
    bool sync_busy; /* sync_req is in the pool. */
    int sync_rc;    /* Its result (pool thread). */
    uv_work_t ckpt_req;
    bool ckpt_busy;        /* A write is in the pool. */
    atomic_bool ckpt_done; /* ...and has finished. */
    uint8_t *ckpt_img;     /* Its image. */
    size_t ckpt_len;
    uint64_t ckpt_img_lsn;  /* Its lsn. */
    int ckpt_rc;            /* Its result (pool thread). */
    uint64_t ckpt_lsn;      /* Newest checkpoint on disk. */
    uint64_t ckpt_prev_lsn; /* The one before. */
    int64_t ckpt_wall_ms;   /* When the newest was written. */
    uint64_t ckpts;
    uint64_t ckpt_failures;
    uint64_t catchups;
    uint64_t snap_drops; /* Snapshots the outbox refused, seen. */
    long fault_delay_ms; /* Test fault: sleep per wake-up. */
    bool stopping;
    bool held; /* Stopped with a message the log refused: see shutdown. */
    int exit_code;
};

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int mkdirs(const char *path)
{
    char tmp[PATH_MAX];
    char *p;

    if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    for (p = tmp + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* ---- Outputs (loop thread) --------------------------------------------- */

static int task_index(const struct app *a, const char *task)
{
    size_t i;

    for (i = 0; task != NULL && i < a->cfg->ntasks; i++)
        if (strcmp(a->cfg->tasks[i].name, task) == 0)
            return (int)i;
    return -1;
}

static int name_cmp(const struct dirent **x, const struct dirent **y)
{
    return strcmp((*x)->d_name, (*y)->d_name);
}

static int is_snapshot_file(const struct dirent *d)
{
    size_t n = strlen(d->d_name);

    return n == 23 && strcmp(d->d_name + 20, ".pb") == 0;
}

/* Write snapshot v of task to snapshots/<task>/<v>.pb and keep the newest
 * `keep` files. Called on: a libuv pool thread (snap_work()). */
static void snapshot_file(struct app *a, const char *task, uint64_t v,
                          const uint8_t *p, size_t len)
{
    char dir[PATH_MAX];
    char name[32];
    struct dirent **list = NULL;
    int n, i, rc;

    if (a->cfg->snapshot.keep == 0 ||
        snprintf(dir, sizeof(dir), "%s/%s", a->snap_dir, task) >= PATH_MAX)
        return;
    snprintf(name, sizeof(name), "%020" PRIu64 ".pb", v);
    if ((rc = mkdirs(dir)) != 0 ||
        (rc = checkpoint_write_atomic(dir, name, NULL, p, len)) != 0) {
        log_msg(LOG_WARN, "snapshot file %s/%s: %s", dir, name, strerror(-rc));
        return;
    }
    n = scandir(dir, &list, is_snapshot_file, name_cmp);
    for (i = 0; i < n; i++) {
        char path[PATH_MAX + 256];
        if (i < n - (int)a->cfg->snapshot.keep) {
            snprintf(path, sizeof(path), "%s/%s", dir, list[i]->d_name);
            unlink(path);
        }
        free(list[i]);
    }
    free(list);
}

static void cache_snapshot(struct app *a, const struct publish_msg *m)
{
    int i = task_index(a, m->task);
    uint8_t *copy;

    if (i < 0 || (copy = malloc(m->len ? m->len : 1)) == NULL)
        return;
    memcpy(copy, m->payload, m->len);
    free(a->snaps[i].data);
    a->snaps[i].data = copy;
    a->snaps[i].len = m->len;
}

/* ---- Snapshot files (thread pool) -------------------------------------- */

/* Snapshot files are written in libuv's pool, one at a time, in order: a
 * write ends with two fsyncs (checkpoint_write_atomic()), milliseconds on
 * a gateway's flash, and on the loop thread every window rotation would
 * hold up the readings behind it. A task's file still waiting when a newer
 * snapshot of it comes is replaced by the newer one (the directory keeps
 * the newest `keep` anyway). */

static void snap_kick(struct app *a);

/* Called on: a libuv pool thread. Reads only the configuration and the
 * job, which is the pool's until snap_after(). */
static void snap_work(uv_work_t *req)
{
    struct app *a = req->data;
    struct snap_job *j = a->snap_cur;

    snapshot_file(a, a->cfg->tasks[j->task].name, j->version, j->data, j->len);
}

/* Called on: loop thread, after snap_work(). */
static void snap_after(uv_work_t *req, int status)
{
    struct app *a = req->data;

    (void)status;
    free(a->snap_cur->data);
    free(a->snap_cur);
    a->snap_cur = NULL;
    snap_kick(a);
}

/* Start the oldest queued write unless one is running. */
static void snap_kick(struct app *a)
{
    struct snap_job *j = a->snap_head;

    if (a->snap_cur != NULL || j == NULL)
        return;
    a->snap_head = j->next;
    a->snap_cur = j;
    a->snap_req.data = a;
    if (uv_queue_work(&a->loop, &a->snap_req, snap_work, snap_after) != 0) {
        snap_work(&a->snap_req); /* no pool: write it here */
        snap_after(&a->snap_req, 0);
    }
}

static void snap_queue(struct app *a, const struct publish_msg *m)
{
    int i = task_index(a, m->task);
    struct snap_job **pp = &a->snap_head;
    struct snap_job *j;
    uint8_t *copy;

    if (i < 0 || a->cfg->snapshot.keep == 0 ||
        (copy = malloc(m->len ? m->len : 1)) == NULL)
        return;
    memcpy(copy, m->payload, m->len);
    for (; *pp != NULL; pp = &(*pp)->next)
        if ((*pp)->task == (size_t)i)
            break;
    if ((j = *pp) == NULL) {
        if ((j = calloc(1, sizeof(*j))) == NULL) {
            free(copy);
            return;
        }
        j->task = (size_t)i;
        *pp = j; /* appended: the loop stopped at the end */
    }
    free(j->data);
    j->data = copy;
    j->len = m->len;
    j->version = m->version;
    snap_kick(a);
}

/* The pipeline's publish_fn. Called on: loop thread. */
static void app_emit(void *ctx, const struct publish_msg *m)
{
    struct app *a = ctx;
    char topic[PUBLISH_TOPIC_MAX + 1];
    size_t n = publish_topic(&a->topics, m, topic, sizeof(topic));

    if (m->kind == PUBLISH_SNAPSHOT) {
        cache_snapshot(a, m);
        snap_queue(a, m);
    }
    if (n >= sizeof(topic) || a->outbox == NULL)
        return;
    publish_queue_push(a->outbox, m, topic, a->topics.qos[m->kind],
                       a->topics.retained[m->kind]);
}

/* After a (re)connect: the broker's retained snapshots may be older than
 * ours (drops while disconnected), so send the newest again. */
static void republish(struct app *a)
{
    size_t i;

    for (i = 0; i < a->cfg->ntasks; i++) {
        struct publish_msg m;
        char topic[PUBLISH_TOPIC_MAX + 1];
        if (a->snaps[i].data == NULL)
            continue;
        memset(&m, 0, sizeof(m));
        m.kind = PUBLISH_SNAPSHOT;
        m.task = a->cfg->tasks[i].name;
        m.payload = a->snaps[i].data;
        m.len = a->snaps[i].len;
        if (publish_topic(&a->topics, &m, topic, sizeof(topic)) < sizeof(topic))
            publish_queue_push(a->outbox, &m, topic,
                               a->topics.qos[PUBLISH_SNAPSHOT], true);
    }
}

/* ---- Draining (loop thread) -------------------------------------------- */

/* Pop and process up to max records (all if max is 0); returns how many
 * were popped. */
static size_t drain_ring(struct app *a, size_t max)
{
    size_t total = 0;

    for (;;) {
        size_t got = ring_pop(a->ring, a->batch + a->have, BATCH - a->have);
        size_t used;
        a->have += got;
        total += got;
        used = pipeline_run(a->core.pipeline, a->batch, a->have);
        memmove(a->batch, a->batch + used,
                (a->have - used) * sizeof(*a->batch));
        a->have -= used;
        if (got == 0 || (max > 0 && total >= max))
            return total;
    }
}

static void drain_dlq(struct app *a)
{
    struct dlq_entry e;

    e.topic = a->dl_topic;
    e.payload = a->dl_payload;
    while (dlq_pop(a->dlq, &e) == 1)
        pipeline_dead_letter(a->core.pipeline, e.reason, e.topic, e.payload,
                             e.len, e.orig_len);
}

/* The inbox timed out waiting for the ring and now only logs: pause MQTT
 * (the broker holds new messages), process what is in the ring, replay
 * the log past the last processed lsn, resume. */
static void catch_up(struct app *a)
{
    struct pipeline_stats st;
    struct replay_stats rs;
    char err[256] = "";
    int rc;

    log_msg(LOG_WARN, "catching up from the ingest log (the ring stayed "
                      "full); pausing MQTT");
    if ((rc = mqtt_pause(a->mqtt, 5000)) != 0) {
        log_msg(LOG_ERROR, "catch-up: MQTT did not pause (%s); retrying",
                strerror(-rc));
        return;
    }
    drain_ring(a, 0);
    drain_dlq(a);
    pipeline_stats(a->core.pipeline, &st);
    memset(&rs, 0, sizeof(rs));
    rc = replay_wal(a->wal_dir, st.last_lsn + 1, a->core.decoder,
                    a->core.pipeline, &rs, err, sizeof(err));
    if (rc != 0)
        log_msg(LOG_ERROR, "catch-up: %s", err);
    log_msg(LOG_INFO, "caught up: %" PRIu64 " messages from the log",
            rs.messages);
    a->catchups++;
    inbox_resume(a->inbox);
    mqtt_resume(a->mqtt);
}

static void on_drain_idle(uv_idle_t *h);

/* One turn of draining: the ring (at most DRAIN_MAX records) and the dead
 * letters. A turn that found records does not put the loop to sleep yet:
 * it keeps drain_idle active, so the loop comes back on its next turn
 * (after timers, signals and HTTP, with a zero-timeout poll), and only a
 * turn that finds nothing stops it and tells the inbox the loop sleeps
 * (inbox_consumer_idle(): from then on the next message wakes it). The
 * extra turn costs one epoll_wait() on this thread; putting the loop to
 * sleep and having Paho's thread wake it costs an eventfd write there and
 * a context switch on both (tens of us on a small VM), and with messages
 * every few tens of us the next turn often finds one. Called on: loop
 * thread. */
static void drain_turn(struct app *a)
{
    size_t n;

    if (a->fault_delay_ms > 0 && !a->stopping)
        usleep((useconds_t)a->fault_delay_ms * 1000);
    n = drain_ring(a, DRAIN_MAX);
    drain_dlq(a);
    while (n == 0 && !inbox_consumer_idle(a->inbox)) {
        n = drain_ring(a, DRAIN_MAX); /* arrived while we looked */
        drain_dlq(a);
    }
    if (n > 0)
        uv_idle_start(&a->drain_idle, on_drain_idle); /* not asleep */
    else
        uv_idle_stop(&a->drain_idle);
    if (atomic_exchange(&a->republish, false))
        republish(a);
    /* After inbox_consumer_idle(): a log-only switch it did not see has
     * sent a wake-up (inbox.c, "Wake-ups"). */
    if (!a->stopping && inbox_log_only(a->inbox) && ring_is_empty(a->ring))
        catch_up(a);
}

/* Called on: loop thread (uv_async_send from any thread). */
static void on_wakeup(uv_async_t *h)
{
    drain_turn(h->data);
}

/* Called on: loop thread, each turn while drain_idle is active. */
static void on_drain_idle(uv_idle_t *h)
{
    drain_turn(h->data);
}

/* Called on: the MQTT worker thread, or Paho's thread (down). */
static void on_state(void *ctx, bool connected, bool session_present)
{
    struct app *a = ctx;

    (void)session_present;
    if (connected) {
        atomic_store(&a->republish, true);
        uv_async_send(&a->wakeup);
    }
}

/* Called on: Paho's receive thread. */
static int on_message(void *ctx, const char *topic, size_t topic_len,
                      const void *payload, size_t len, int qos, bool dup)
{
    struct app *a = ctx;

    return inbox_message(a->inbox, topic, topic_len, payload, len, qos, dup);
}

/* ---- Checkpoints ------------------------------------------------------- */

/* Called on: a libuv pool thread. Only the image, the log's sync and the
 * file system: nothing the loop thread is using. */
static void ckpt_work(uv_work_t *req)
{
    struct app *a = req->data;
    int rc = a->wal ? wal_sync(a->wal) : 0;

    if (rc == 0)
        rc = checkpoint_write_atomic(a->cfg->state_dir, CHECKPOINT_FILE,
                                     CHECKPOINT_PREV, a->ckpt_img, a->ckpt_len);
    a->ckpt_rc = rc;
    atomic_store(&a->ckpt_done, true);
}

/* The newest checkpoint is at lsn: keep the log from the previous one. */
static void ckpt_written(struct app *a, uint64_t lsn, int rc)
{
    int n;

    if (rc != 0) {
        a->ckpt_failures++;
        log_msg(LOG_ERROR, "checkpoint failed: %s", strerror(-rc));
        return;
    }
    a->ckpts++;
    a->ckpt_prev_lsn = a->ckpt_lsn;
    a->ckpt_lsn = lsn;
    a->ckpt_wall_ms = wall_ms();
    if (a->wal != NULL && a->ckpt_prev_lsn > 0 &&
        (n = wal_truncate_before(a->wal, a->ckpt_prev_lsn + 1)) < 0)
        log_msg(LOG_WARN, "ingest log truncation: %s", strerror(-n));
    log_msg(LOG_DEBUG, "checkpoint at lsn %" PRIu64, lsn);
}

/* Called on: loop thread, after ckpt_work(). */
static void ckpt_after(uv_work_t *req, int status)
{
    struct app *a = req->data;

    a->ckpt_busy = false;
    if (!a->stopping)
        ckpt_written(a, a->ckpt_img_lsn, status != 0 ? status : a->ckpt_rc);
    free(a->ckpt_img);
    a->ckpt_img = NULL;
}

/* Build the image now (consistent: the loop thread owns the pipeline). */
static int ckpt_image(struct app *a, uint64_t *lsn)
{
    struct pipeline_stats st;
    int rc;

    pipeline_stats(a->core.pipeline, &st);
    *lsn = st.last_lsn;
    rc = checkpoint_image(st.last_lsn, wall_ms(), a->core.devices,
                          a->core.sensors, a->core.pipeline, &a->ckpt_img,
                          &a->ckpt_len);
    if (rc != 0)
        a->ckpt_img = NULL;
    return rc;
}

static void ckpt_start(struct app *a)
{
    int rc;

    if (a->ckpt_busy || a->stopping)
        return;
    if ((rc = ckpt_image(a, &a->ckpt_img_lsn)) != 0) {
        ckpt_written(a, 0, rc);
        return;
    }
    atomic_store(&a->ckpt_done, false);
    a->ckpt_req.data = a;
    if ((rc = uv_queue_work(&a->loop, &a->ckpt_req, ckpt_work, ckpt_after)) !=
        0) {
        free(a->ckpt_img);
        a->ckpt_img = NULL;
        ckpt_written(a, 0, rc);
        return;
    }
    a->ckpt_busy = true;
}

/* Synchronous, for shutdown: waits for a write in the pool first. */
static void ckpt_final(struct app *a)
{
    uint64_t lsn;
    int i, rc;

    for (i = 0; a->ckpt_busy && !atomic_load(&a->ckpt_done) && i < 1000; i++)
        usleep(10000);
    if (a->ckpt_busy && atomic_load(&a->ckpt_done))
        ckpt_written(a, a->ckpt_img_lsn, a->ckpt_rc);
    if (a->ckpt_busy && !atomic_load(&a->ckpt_done)) {
        log_msg(LOG_ERROR, "shutdown: a checkpoint write is stuck; the log "
                           "will be replayed at the next start");
        return;
    }
    free(a->ckpt_img);
    a->ckpt_img = NULL;
    if ((rc = ckpt_image(a, &lsn)) == 0) {
        rc = a->wal ? wal_sync(a->wal) : 0;
        if (rc == 0)
            rc = checkpoint_write_atomic(a->cfg->state_dir, CHECKPOINT_FILE,
                                         CHECKPOINT_PREV, a->ckpt_img,
                                         a->ckpt_len);
    }
    free(a->ckpt_img);
    a->ckpt_img = NULL;
    ckpt_written(a, lsn, rc);
}

/* Called on: loop thread. */
static void on_ckpt_timer(uv_timer_t *h)
{
    ckpt_start(h->data);
}

/* ---- Log sync (fsync = interval) --------------------------------------- */

/* Called on: a libuv pool thread. wal_sync() may run on any thread. */
static void sync_work(uv_work_t *req)
{
    struct app *a = req->data;

    a->sync_rc = wal_sync(a->wal);
}

/* Called on: loop thread, after sync_work(). wal_sync() counts and logs
 * its own I/O errors (rate-limited); a failed sync is retried next time. */
static void sync_after(uv_work_t *req, int status)
{
    struct app *a = req->data;

    (void)status;
    a->sync_busy = false;
}

/* Called on: loop thread, every sync_interval_ms. */
static void on_sync_timer(uv_timer_t *h)
{
    struct app *a = h->data;

    if (a->sync_busy || a->stopping || a->wal == NULL)
        return;
    a->sync_req.data = a;
    if (uv_queue_work(&a->loop, &a->sync_req, sync_work, sync_after) == 0)
        a->sync_busy = true;
}

/* Called on: loop thread, every second: an early checkpoint when the log
 * fills (it can only shrink after one), snapshots the outbox dropped, and
 * a catch-up that no wake-up triggered. */
static void on_house_timer(uv_timer_t *h)
{
    struct app *a = h->data;
    struct publish_stats ps;
    struct wal_stats ws;

    if (a->stopping)
        return;
    wal_stats(a->wal, &ws);
    if (ws.bytes > a->cfg->wal.max_bytes / 2)
        ckpt_start(a);
    /* A snapshot the full outbox refused: send the newest once there is
     * room, so the broker's retained copy does not stay behind. */
    publish_queue_stats(a->outbox, &ps);
    if (ps.dropped[PUBLISH_SNAPSHOT] > a->snap_drops &&
        ps.bytes < OUTBOX_BYTES / 2) {
        a->snap_drops = ps.dropped[PUBLISH_SNAPSHOT];
        republish(a);
    }
    if (inbox_log_only(a->inbox) || !ring_is_empty(a->ring))
        uv_async_send(&a->wakeup);
}

/* ---- HTTP -------------------------------------------------------------- */

static void status_src_of(struct app *a, struct status_src *s)
{
    memset(s, 0, sizeof(*s));
    s->pipeline = a->core.pipeline;
    s->devices = a->core.devices;
    s->sensors = a->core.sensors;
    s->ring = a->ring;
    s->inbox = a->inbox;
    s->mqtt = a->mqtt;
    s->outbox = a->outbox;
    s->wal = a->wal;
    s->checkpoints = a->ckpts;
    s->checkpoint_failures = a->ckpt_failures;
    s->checkpoint_lsn = a->ckpt_lsn;
    s->checkpoint_wall_ms = a->ckpt_wall_ms;
    s->catchups = a->catchups;
    s->now_wall_ms = wall_ms();
}

/* Called on: loop thread. */
static int fill_metrics(void *ctx, struct http_buf *body)
{
    struct status_src s;

    status_src_of(ctx, &s);
    return status_metrics(&s, body) == 0 ? 200 : -ENOBUFS;
}

/* Called on: loop thread. */
static int fill_health(void *ctx, struct http_buf *body)
{
    struct status_src s;

    status_src_of(ctx, &s);
    return status_health(&s, body);
}

/* state_dir/HTTP_PORT_FILE holds the port the endpoint got ("9107\n"),
 * so that scripts and tests can use listen = host:0 (no probing for a free
 * port, which races) and still find it; written atomically once listening,
 * removed at a clean shutdown. */
static void port_file(struct app *a, bool create)
{
    char path[PATH_MAX];
    char text[16];
    int n, rc;

    if (!create) {
        if (a->port_written &&
            snprintf(path, sizeof(path), "%s/%s", a->cfg->state_dir,
                     HTTP_PORT_FILE) < (int)sizeof(path))
            unlink(path);
        a->port_written = false;
        return;
    }
    n = snprintf(text, sizeof(text), "%d\n", http_port(a->http));
    if ((rc = checkpoint_write_atomic(a->cfg->state_dir, HTTP_PORT_FILE, NULL,
                                      text, (size_t)n)) != 0)
        log_msg(LOG_WARN, "http: cannot write %s/%s: %s", a->cfg->state_dir,
                HTTP_PORT_FILE, strerror(-rc));
    a->port_written = rc == 0;
}

static int http_setup(struct app *a)
{
    const struct config_http *h = &a->cfg->http;
    struct http_options o;
    int rc;

    if (!h->enabled)
        return 0;
    http_options_default(&o);
    o.max_connections = h->max_connections;
    o.timeout_ms = (uint64_t)h->timeout_ms;
    o.max_request_bytes = h->max_request_bytes;
    o.keep_alive = h->keep_alive;
    if ((rc = http_new(&a->http, &a->loop, &o)) != 0)
        return rc;
    if ((rc = http_route(a->http, "/metrics", PROM_CONTENT_TYPE, fill_metrics,
                         a)) != 0 ||
        (rc = http_route(a->http, "/healthz", "application/json", fill_health,
                         a)) != 0)
        return rc;
    if ((rc = http_start(a->http, h->host, h->port)) != 0) {
        log_msg(LOG_ERROR, "http: cannot listen on %s:%d: %s", h->host, h->port,
                uv_strerror(rc));
        return rc;
    }
    port_file(a, true); /* before the log line, which tests wait for */
    log_msg(LOG_INFO, "http: serving /metrics and /healthz on %s:%d", h->host,
            http_port(a->http));
    return 0;
}

/* ---- Shutdown ---------------------------------------------------------- */

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Is Paho's thread holding a message the ingest log refuses (a disk
 * error: inbox.h)? It keeps Paho's mutex, so no clean disconnect is
 * possible, and returning would acknowledge the message unlogged. Give
 * it a second to get through; if it does not, app_run() ends the process
 * without a disconnect: the connection closes without the PUBACK and the
 * broker delivers the message again to the session. */
static bool held_message(struct app *a)
{
    int i;

    for (i = 0; inbox_held(a->inbox) && i < 100; i++)
        usleep(10000);
    if (!inbox_held(a->inbox))
        return false;
    log_msg(LOG_ERROR, "stopping: a message cannot be written to the ingest "
                       "log; leaving without acknowledging it (the broker "
                       "delivers it again)");
    a->held = true;
    a->exit_code = 1;
    return true;
}

/* Called on: loop thread. */
static void shutdown_now(struct app *a)
{
    int rc;

    a->stopping = true;
    log_msg(LOG_INFO, "stopping: draining, final snapshots, checkpoint");
    inbox_stop(a->inbox);
    uv_timer_stop(&a->ckpt_timer);
    uv_timer_stop(&a->house_timer);
    uv_timer_stop(&a->sync_timer);
    drain_ring(a, 0);
    drain_dlq(a);
    if ((rc = pipeline_flush(a->core.pipeline)) != 0)
        log_msg(LOG_WARN, "final snapshot: %s", strerror(-rc));
    ckpt_final(a);
    if (!publish_queue_drain(a->outbox, 5000))
        log_msg(LOG_WARN, "stopping: outgoing messages left unsent");
    if (!held_message(a)) {
        if ((rc = mqtt_stop(a->mqtt, 3000)) != 0)
            log_msg(LOG_WARN, "mqtt: clean disconnect timed out");
        mqtt_free(a->mqtt); /* no Paho thread can wake us after this */
        a->mqtt = NULL;
    }
    port_file(a, false);
    http_free(a->http);
    a->http = NULL;
    close_handle((uv_handle_t *)&a->wakeup);
    close_handle((uv_handle_t *)&a->ckpt_timer);
    close_handle((uv_handle_t *)&a->house_timer);
    close_handle((uv_handle_t *)&a->sync_timer);
    close_handle((uv_handle_t *)&a->drain_idle);
    close_handle((uv_handle_t *)&a->sig_term);
    close_handle((uv_handle_t *)&a->sig_int);
}

/* Called on: loop thread. */
static void on_signal(uv_signal_t *h, int signum)
{
    struct app *a = h->data;

    if (a->stopping) {
        log_msg(LOG_WARN, "signal %d: already stopping", signum);
        return;
    }
    log_msg(LOG_INFO, "signal %d", signum);
    shutdown_now(a);
}

/* ---- Life cycle -------------------------------------------------------- */

/* Checkpoint, then the log past it, through the normal decode path. */
static int recover(struct app *a, char *err, size_t errlen)
{
    struct checkpoint ck;
    struct replay_stats rs;
    struct pipeline_stats st;
    char note[512] = "";
    bool have;
    int rc;

    rc = checkpoint_load(a->cfg->state_dir, &ck, note, sizeof(note));
    if (rc != 0 && rc != -ENOENT) {
        snprintf(err, errlen,
                 "%s (refusing to start without the learned "
                 "state; move the files away to start afresh)",
                 note);
        return rc;
    }
    if (note[0] != '\0')
        log_msg(LOG_WARN, "checkpoint: %s", note);
    have = rc == 0;
    rc = setup_core_open(&a->core, a->cfg, false, have ? &ck : NULL, app_emit,
                         a, err, errlen);
    if (rc == 0 && have && !a->core.restored) {
        snprintf(err, errlen, "checkpoint %s/%s does not match this build",
                 a->cfg->state_dir, ck.file);
        rc = -EBADMSG;
    }
    if (rc == 0 && have && a->core.restore_rc != 0)
        log_msg(LOG_WARN,
                "checkpoint: some tasks start afresh (%s): their "
                "configuration changed",
                strerror(-a->core.restore_rc));
    if (rc == 0 && have) {
        a->ckpt_lsn = a->ckpt_prev_lsn = ck.lsn;
        a->ckpt_wall_ms = ck.created_ms;
    }
    if (have)
        checkpoint_close(&ck);
    if (rc != 0)
        return rc;
    memset(&rs, 0, sizeof(rs));
    rc = replay_wal(a->wal_dir, a->ckpt_lsn + 1, a->core.decoder,
                    a->core.pipeline, &rs, err, errlen);
    if (rc != 0)
        return rc;
    pipeline_stats(a->core.pipeline, &st);
    log_msg(LOG_INFO,
            "recovered: checkpoint lsn %" PRIu64 ", %" PRIu64
            " messages replayed from the ingest log (last lsn %" PRIu64 ")",
            a->ckpt_lsn, rs.messages, st.last_lsn);
    return 0;
}

static int open_wal(struct app *a, char *err, size_t errlen)
{
    const struct config_wal *w = &a->cfg->wal;
    struct pipeline_stats st;
    struct wal_options o;
    int rc;

    pipeline_stats(a->core.pipeline, &st);
    wal_options_default(&o);
    o.segment_bytes = w->segment_bytes;
    o.max_bytes = w->max_bytes;
    o.sync = w->sync;
    o.sync_interval_ms = w->sync_interval_ms;
    o.full_wait_ms = w->full_wait_ms;
    o.min_next_lsn = st.last_lsn + 1;
    if ((rc = wal_open(&a->wal, a->wal_dir, &o, NULL)) != 0)
        snprintf(err, errlen, "ingest log %s: %s", a->wal_dir, strerror(-rc));
    return rc;
}

static int open_handles(struct app *a)
{
    int rc;

    if ((rc = uv_async_init(&a->loop, &a->wakeup, on_wakeup)) != 0)
        return rc;
    uv_timer_init(&a->loop, &a->ckpt_timer);
    uv_timer_init(&a->loop, &a->house_timer);
    uv_timer_init(&a->loop, &a->sync_timer);
    uv_idle_init(&a->loop, &a->drain_idle);
    uv_signal_init(&a->loop, &a->sig_term);
    uv_signal_init(&a->loop, &a->sig_int);
    a->wakeup.data = a->ckpt_timer.data = a->house_timer.data = a;
    a->sync_timer.data = a->drain_idle.data = a;
    a->sig_term.data = a->sig_int.data = a;
    a->handles = true;
    return 0;
}

static int open_mqtt(struct app *a)
{
    const struct config_mqtt *c = &a->cfg->mqtt;
    struct mqtt_config m;
    size_t i;

    memset(&m, 0, sizeof(m));
    for (i = 0; i < c->nuris && i < MQTT_MAX_URIS; i++)
        m.uris[m.nuris++] = c->uris[i];
    m.client_id = c->client_id;
    m.username = c->username;
    m.password = c->password;
    m.password_file = c->password_file;
    m.version = c->version;
    m.keepalive_ms = c->keepalive_ms;
    m.clean_session = c->clean_session;
    m.session_expiry_ms = c->session_expiry_ms;
    m.connect_timeout_ms = c->connect_timeout_ms;
    m.retry_min_ms = c->retry_min_ms;
    m.retry_max_ms = c->retry_max_ms;
    m.max_inflight = c->max_inflight;
    m.ca_file = c->ca_file;
    m.cert_file = c->cert_file;
    m.key_file = c->key_file;
    m.tls_verify = c->tls_verify;
    for (i = 0; i < a->cfg->nsubs && i < MQTT_MAX_SUBS; i++) {
        m.filters[m.nsubs] = a->cfg->subs[i].filter;
        m.qos[m.nsubs++] = a->cfg->subs[i].qos;
    }
    m.status_topic = a->topics.t[PUBLISH_STATUS];
    m.outbox = a->outbox;
    m.on_message = on_message;
    m.on_state = on_state;
    m.ctx = a;
    return mqtt_new(&a->mqtt, &m);
}

static int open_inbox(struct app *a)
{
    struct inbox_config ic;
    int64_t ka = a->cfg->mqtt.keepalive_ms;

    memset(&ic, 0, sizeof(ic));
    ic.decoder = a->core.decoder;
    ic.wal = a->wal;
    ic.ring = a->ring;
    ic.dlq = a->dlq;
    ic.wakeup = &a->wakeup;
    /* Well under the keep-alive: the broker must keep hearing from us. */
    ic.wait_ms =
        ka > 0 && ka / 4 < RING_WAIT_MAX_MS ? ka / 4 : RING_WAIT_MAX_MS;
    return inbox_new(&a->inbox, &ic);
}

static int open_parts(struct app *a, char *err, size_t errlen)
{
    const struct config *cfg = a->cfg;
    int rc;

    if ((rc = mkdirs(cfg->state_dir)) != 0 || (rc = mkdirs(a->snap_dir)) != 0) {
        snprintf(err, errlen, "state directory %s: %s", cfg->state_dir,
                 strerror(-rc));
        return rc;
    }
    a->snaps = calloc(cfg->ntasks + 1, sizeof(*a->snaps));
    a->batch = calloc(BATCH, sizeof(*a->batch));
    a->dl_topic = malloc(DLQ_MAX_TOPIC + 1);
    a->dl_payload = malloc(DLQ_MAX_PAYLOAD);
    if (a->snaps == NULL || a->batch == NULL || a->dl_topic == NULL ||
        a->dl_payload == NULL)
        return -ENOMEM;
    setup_topics(cfg, &a->topics);
    if ((rc = publish_queue_new(&a->outbox, OUTBOX_BYTES)) != 0 ||
        (rc = recover(a, err, errlen)) != 0 ||
        (rc = open_wal(a, err, errlen)) != 0)
        return rc;
    if ((rc = ring_new(&a->ring, cfg->limits.ring_slots)) != 0 ||
        (rc = dlq_new(&a->dlq, DLQ_BYTES)) != 0 ||
        (rc = open_handles(a)) != 0 || (rc = open_inbox(a)) != 0) {
        snprintf(err, errlen, "start-up: %s", strerror(-rc));
        return rc;
    }
    if ((rc = open_mqtt(a)) != 0)
        snprintf(err, errlen, "mqtt client: %s", strerror(-rc));
    return rc;
}

int app_new(struct app **out, const struct config *cfg, char *err,
            size_t errlen)
{
    struct app *a;
    int rc;

    if ((a = calloc(1, sizeof(*a))) == NULL)
        return -ENOMEM;
    a->cfg = cfg;
    /* Fault injection for tests: a slow loop thread, so that the ring
     * fills and the inbox's wait and the catch-up path run. */
    if (getenv("WEIR_FAULT_LOOP_DELAY_MS") != NULL)
        a->fault_delay_ms = atol(getenv("WEIR_FAULT_LOOP_DELAY_MS"));
    if ((rc = uv_loop_init(&a->loop)) != 0) {
        free(a);
        return rc;
    }
    if (snprintf(a->wal_dir, sizeof(a->wal_dir), "%s/wal", cfg->state_dir) >=
            (int)sizeof(a->wal_dir) ||
        snprintf(a->snap_dir, sizeof(a->snap_dir), "%s/snapshots",
                 cfg->state_dir) >= (int)sizeof(a->snap_dir)) {
        snprintf(err, errlen, "state_dir too long");
        rc = -ENAMETOOLONG;
    } else {
        rc = open_parts(a, err, errlen);
    }
    if (rc != 0) {
        if (err[0] == '\0')
            snprintf(err, errlen, "%s", strerror(-rc));
        app_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

int app_run(struct app *a)
{
    int64_t every = a->cfg->checkpoint_interval_ms;
    int rc;

    if ((rc = http_setup(a)) != 0)
        return 1;
    uv_timer_start(&a->ckpt_timer, on_ckpt_timer, (uint64_t)every,
                   (uint64_t)every);
    uv_timer_start(&a->house_timer, on_house_timer, 1000, 1000);
    if (a->cfg->wal.sync == WAL_SYNC_INTERVAL) {
        uint64_t ms = (uint64_t)a->cfg->wal.sync_interval_ms;
        uv_timer_start(&a->sync_timer, on_sync_timer, ms, ms);
    }
    uv_signal_start(&a->sig_term, on_signal, SIGTERM);
    uv_signal_start(&a->sig_int, on_signal, SIGINT);
    if ((rc = mqtt_start(a->mqtt)) != 0) {
        log_msg(LOG_ERROR, "mqtt: cannot start: %s", strerror(-rc));
        return 1;
    }
    log_msg(LOG_INFO, "running: %zu task(s), %zu subscription(s)",
            a->cfg->ntasks, a->cfg->nsubs);
    ckpt_start(a); /* the recovered state, so the next start replays less */
    uv_run(&a->loop, UV_RUN_DEFAULT);
    if (a->held) {
        /* Paho's thread is inside inbox_message() with the message, using
         * the inbox, the log, the ring, the decoder and Paho's client:
         * nothing may be freed or disconnected (see held_message()). The
         * final checkpoint is written; end here. */
        fflush(NULL);
        _exit(a->exit_code);
    }
    return a->exit_code;
}

void app_free(struct app *a)
{
    size_t i;

    if (a == NULL)
        return;
    if (a->mqtt != NULL) {
        mqtt_stop(a->mqtt, 1000);
        mqtt_free(a->mqtt);
    }
    port_file(a, false);
    http_free(a->http);
    if (a->handles) {
        close_handle((uv_handle_t *)&a->wakeup);
        close_handle((uv_handle_t *)&a->ckpt_timer);
        close_handle((uv_handle_t *)&a->house_timer);
        close_handle((uv_handle_t *)&a->sync_timer);
        close_handle((uv_handle_t *)&a->drain_idle);
        close_handle((uv_handle_t *)&a->sig_term);
        close_handle((uv_handle_t *)&a->sig_int);
    }
    uv_run(&a->loop, UV_RUN_DEFAULT); /* close callbacks, pending work */
    uv_loop_close(&a->loop);
    while (a->snap_head != NULL) { /* only if the loop never ran */
        struct snap_job *j = a->snap_head;
        a->snap_head = j->next;
        free(j->data);
        free(j);
    }
    inbox_free(a->inbox);
    wal_free(a->wal);
    dlq_free(a->dlq);
    ring_free(a->ring);
    setup_core_close(&a->core);
    publish_queue_free(a->outbox);
    for (i = 0; a->snaps != NULL && i < a->cfg->ntasks; i++)
        free(a->snaps[i].data);
    free(a->snaps);
    free(a->ckpt_img);
    free(a->dl_payload);
    free(a->dl_topic);
    free(a->batch);
    free(a);
}
