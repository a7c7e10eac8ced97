/* test_checkpoint.c -- the daemon's durable and cross-thread parts without
 * a broker: checkpoint images (names taken while their writer adds more,
 * in intern_export()'s bytes) and atomic files (fallback to the previous
 * one, corruption refused), the dead-letter channel (two threads, wrap,
 * truncation), the outbox queue (bounds, order, drain), and the inbox's
 * backpressure (a QoS 0 drop is counted and never logged; a QoS 1 message
 * waits for room, and after the deadline everything is logged, in order,
 * for the catch-up), and task images (all or nothing, the previous
 * format still read).
 * Threads: dlq_two_threads, inbox_wait_gets_room and
 * checkpoint_names_while_the_writer_runs start a second thread;
 * the rest is single-threaded. */
#include "ingest/checkpoint.h"
#include "ingest/dlq.h"
#include "ingest/inbox.h"
#include "ingest/publish.h"
#include "ingest/wal.h"
#include "tests/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "ingest/task.h"
#include "proto/codec.h"

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static void emit_nothing(void *ctx, const struct publish_msg *m)
{
    (void)ctx;
    (void)m;
}

/* A pipeline with no tasks over two small name tables. */
struct core {
    struct intern *devices;
    struct intern *sensors;
    struct pipeline *pl;
};

static void core_open(struct core *c)
{
    struct pipeline_config pc;
    char err[128];

    ASSERT_EQ(intern_new(&c->devices, 16), 0);
    ASSERT_EQ(intern_new(&c->sensors, 16), 0);
    memset(&pc, 0, sizeof(pc));
    pc.devices = c->devices;
    pc.sensors = c->sensors;
    pc.dedup = dedup_config_default(16);
    pc.validate = validate_config_default(16, 16);
    pc.emit = emit_nothing;
    ASSERT_EQ(pipeline_new(&c->pl, &pc, err, sizeof(err)), 0);
}

static void core_close(struct core *c)
{
    pipeline_free(c->pl);
    intern_free(c->sensors);
    intern_free(c->devices);
}

/* ---- Checkpoints ------------------------------------------------------- */

static void checkpoint_image_round_trip(void)
{
    struct core a, b;
    struct checkpoint ck;
    struct bytes_in in;
    uint8_t *img;
    size_t len;
    uint32_t id;

    core_open(&a);
    ASSERT_EQ(intern_add(a.devices, "room-1", 6, &id, NULL), 0);
    ASSERT_EQ(intern_add(a.devices, "room-2", 6, &id, NULL), 0);
    ASSERT_EQ(intern_add(a.sensors, "co2", 3, &id, NULL), 0);
    ASSERT_EQ(
        checkpoint_image(4242, 17, a.devices, a.sensors, a.pl, &img, &len), 0);
    ASSERT_EQ(checkpoint_parse(img, len, &ck), 0);
    ASSERT_EQ(ck.lsn, 4242);
    ASSERT_EQ(ck.created_ms, 17);
    ASSERT(ck.data == NULL);
    /* The names come back with their ids; the pipeline image restores. */
    ASSERT_EQ(intern_new(&b.devices, 16), 0);
    ASSERT_EQ(intern_import(b.devices, ck.devices, ck.devices_len), 0);
    ASSERT_STREQ(intern_name(b.devices, 1), "room-2");
    intern_free(b.devices);
    core_open(&b);
    in = bytes_in_make(ck.pipeline, ck.pipeline_len);
    ASSERT_EQ(pipeline_restore(b.pl, &in), 0);
    /* Any flipped byte is caught by the CRC; a cut image is refused. */
    for (size_t i = 0; i < len; i += 7) {
        img[i] ^= 0x10;
        ASSERT_EQ(checkpoint_parse(img, len, &ck), -EBADMSG);
        img[i] ^= 0x10;
    }
    ASSERT_EQ(checkpoint_parse(img, len - 1, &ck), -EBADMSG);
    ASSERT_EQ(checkpoint_parse(img, 3, &ck), -EBADMSG);
    free(img);
    core_close(&a);
    core_close(&b);
}

/* The names in a checkpoint are read through intern_count()/intern_name()
 * while the Paho thread may still add names (ingest/checkpoint.c): a
 * writer thread adds names while images are taken. Each image's tables
 * import (intern_import()) to a prefix of the names in their order, and
 * once the writer has stopped, the tables' blobs are byte for byte what
 * intern_export() writes. */
#define NAMES_MAX 3000

struct namer {
    struct intern *t;
    atomic_bool done;
};

static void *namer_main(void *arg)
{
    struct namer *w = arg;
    char name[32];
    uint32_t id;

    for (int i = 0; i < NAMES_MAX; i++) {
        int n = snprintf(name, sizeof(name), "dev-%d", i);
        ASSERT_EQ(intern_add(w->t, name, (size_t)n, &id, NULL), 0);
        ASSERT_EQ(id, i);
        if (i % 32 == 0)
            sleep_ms(1); /* room for images in between */
    }
    atomic_store(&w->done, true);
    return NULL;
}

/* blob imports into a fresh table, whose names are dev-0, dev-1, ... */
static size_t names_prefix(const uint8_t *blob, size_t len)
{
    struct intern *t;
    char want[32];
    size_t n;

    ASSERT_EQ(intern_new(&t, NAMES_MAX), 0);
    ASSERT_EQ(intern_import(t, blob, len), 0);
    n = intern_count(t);
    for (size_t i = 0; i < n; i++) {
        snprintf(want, sizeof(want), "dev-%zu", i);
        ASSERT_STREQ(intern_name(t, (uint32_t)i), want);
    }
    intern_free(t);
    return n;
}

static void checkpoint_names_while_the_writer_runs(void)
{
    struct namer w = {.done = false};
    struct core c;
    struct checkpoint ck;
    struct pipeline_config pc;
    pthread_t th;
    char err[128];
    uint8_t *img;
    uint8_t *exp;
    size_t len;
    size_t last = 0;
    size_t images = 0;
    size_t n;

    ASSERT_EQ(intern_new(&c.devices, NAMES_MAX), 0);
    ASSERT_EQ(intern_new(&c.sensors, 16), 0);
    memset(&pc, 0, sizeof(pc));
    pc.devices = c.devices;
    pc.sensors = c.sensors;
    pc.dedup = dedup_config_default(NAMES_MAX);
    pc.validate = validate_config_default(NAMES_MAX, 16);
    pc.emit = emit_nothing;
    ASSERT_EQ(pipeline_new(&c.pl, &pc, err, sizeof(err)), 0);
    w.t = c.devices;
    ASSERT_EQ(pthread_create(&th, NULL, namer_main, &w), 0);
    while (!atomic_load(&w.done) || images == 0) {
        ASSERT_EQ(
            checkpoint_image(1, 0, c.devices, c.sensors, c.pl, &img, &len), 0);
        ASSERT_EQ(checkpoint_parse(img, len, &ck), 0);
        n = names_prefix(ck.devices, ck.devices_len);
        ASSERT(n >= last); /* names are never lost */
        last = n;
        images++;
        free(img);
    }
    ASSERT_EQ(pthread_join(th, NULL), 0);
    ASSERT_EQ(checkpoint_image(2, 0, c.devices, c.sensors, c.pl, &img, &len),
              0);
    ASSERT_EQ(checkpoint_parse(img, len, &ck), 0);
    ASSERT_EQ(names_prefix(ck.devices, ck.devices_len), NAMES_MAX);
    n = intern_export(c.devices, NULL, 0);
    ASSERT((exp = malloc(n)) != NULL);
    ASSERT_EQ(intern_export(c.devices, exp, n), n);
    ASSERT_EQ(ck.devices_len, n);
    ASSERT(memcmp(ck.devices, exp, n) == 0);
    free(exp);
    n = intern_export(c.sensors, NULL, 0); /* the empty table too */
    ASSERT((exp = malloc(n)) != NULL);
    ASSERT_EQ(intern_export(c.sensors, exp, n), n);
    ASSERT_EQ(ck.sensors_len, n);
    ASSERT(memcmp(ck.sensors, exp, n) == 0);
    free(exp);
    free(img);
    fprintf(stderr, "%zu images while the writer ran\n", images);
    core_close(&c);
}

static void corrupt(const char *dir, const char *name)
{
    char path[512];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    ASSERT((fd = open(path, O_WRONLY)) >= 0);
    ASSERT_EQ(pwrite(fd, "XX", 2, 20), 2);
    close(fd);
}

static void checkpoint_files_fall_back(void)
{
    const char *dir = test_tmpdir();
    struct checkpoint ck;
    struct core a;
    char err[512] = "";
    char tmp[512];
    uint8_t *img1, *img2;
    size_t l1, l2;
    struct stat st;

    core_open(&a);
    ASSERT_EQ(checkpoint_load(dir, &ck, err, sizeof(err)), -ENOENT);
    ASSERT_EQ(checkpoint_image(1, 0, a.devices, a.sensors, a.pl, &img1, &l1),
              0);
    ASSERT_EQ(checkpoint_image(2, 0, a.devices, a.sensors, a.pl, &img2, &l2),
              0);
    ASSERT_EQ(checkpoint_write_atomic(dir, CHECKPOINT_FILE, CHECKPOINT_PREV,
                                      img1, l1),
              0);
    ASSERT_EQ(checkpoint_write_atomic(dir, CHECKPOINT_FILE, CHECKPOINT_PREV,
                                      img2, l2),
              0);
    snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, CHECKPOINT_FILE);
    ASSERT(stat(tmp, &st) != 0 && errno == ENOENT);
    ASSERT_EQ(checkpoint_load(dir, &ck, err, sizeof(err)), 0);
    ASSERT_EQ(ck.lsn, 2);
    ASSERT_STREQ(ck.file, CHECKPOINT_FILE);
    ASSERT_STREQ(err, "");
    checkpoint_close(&ck);
    corrupt(dir, CHECKPOINT_FILE);
    ASSERT_EQ(checkpoint_load(dir, &ck, err, sizeof(err)), 0);
    ASSERT_EQ(ck.lsn, 1);
    ASSERT_STREQ(ck.file, CHECKPOINT_PREV);
    ASSERT(strstr(err, "using checkpoint.prev") != NULL);
    checkpoint_close(&ck);
    corrupt(dir, CHECKPOINT_PREV);
    ASSERT_EQ(checkpoint_load(dir, &ck, err, sizeof(err)), -EBADMSG);
    free(img1);
    free(img2);
    core_close(&a);
}

/* ---- Dead-letter channel ----------------------------------------------- */

struct dlq_run {
    struct dlq *q;
    uint64_t n;
    atomic_uint_fast64_t refused;
};

/* Entry k: reason k % 14 + 1, topic "t/<k>", k % 300 payload bytes. */
static size_t entry_len(uint64_t k)
{
    return (size_t)(k % 300);
}

/* Called on: the producer thread. */
static void *dlq_producer(void *arg)
{
    struct dlq_run *r = arg;
    uint8_t payload[300];
    char topic[32];
    uint64_t k;

    for (k = 0; k < r->n; k++) {
        size_t i, n = entry_len(k);
        for (i = 0; i < n; i++)
            payload[i] = (uint8_t)(k + i);
        snprintf(topic, sizeof(topic), "t/%llu", (unsigned long long)k);
        while (dlq_push(r->q, (enum reject_reason)(k % 14 + 1), topic,
                        strlen(topic), payload, n) != 0) {
            atomic_fetch_add(&r->refused, 1);
            sched_yield();
        }
    }
    return NULL;
}

static void dlq_two_threads(void)
{
    static char topic[DLQ_MAX_TOPIC + 1];
    static uint8_t payload[DLQ_MAX_PAYLOAD];
    struct dlq_run r;
    struct dlq_entry e;
    pthread_t th;
    uint64_t k = 0;

    ASSERT_EQ(dlq_new(&r.q, 1000), -EINVAL);
    ASSERT_EQ(dlq_new(&r.q, DLQ_MIN_CAP), 0);
    r.n = 200000;
    atomic_init(&r.refused, 0);
    e.topic = topic;
    e.payload = payload;
    ASSERT_EQ(pthread_create(&th, NULL, dlq_producer, &r), 0);
    while (k < r.n) {
        char want[32];
        size_t i;
        if (dlq_pop(r.q, &e) == 0) {
            sched_yield();
            continue;
        }
        snprintf(want, sizeof(want), "t/%llu", (unsigned long long)k);
        ASSERT_STREQ(e.topic, want);
        ASSERT_EQ(e.reason, k % 14 + 1);
        ASSERT_EQ(e.len, entry_len(k));
        ASSERT_EQ(e.orig_len, entry_len(k));
        for (i = 0; i < e.len; i++)
            ASSERT_EQ(e.payload[i], (uint8_t)(k + i));
        k++;
    }
    ASSERT_EQ(pthread_join(th, NULL), 0);
    ASSERT_EQ(dlq_pop(r.q, &e), 0);
    ASSERT_EQ(dlq_bytes(r.q), 0);
    dlq_free(r.q);
}

static void dlq_cuts_and_refuses(void)
{
    static char topic[DLQ_MAX_TOPIC + 1];
    static uint8_t payload[DLQ_MAX_PAYLOAD];
    static uint8_t big[DLQ_MAX_PAYLOAD * 2];
    struct dlq_entry e;
    struct dlq *q;
    int pushed = 0;

    memset(big, 0xab, sizeof(big));
    ASSERT_EQ(dlq_new(&q, DLQ_MIN_CAP), 0);
    e.topic = topic;
    e.payload = payload;
    ASSERT_EQ(dlq_push(q, REJECT_TOO_LARGE, "x", 1, big, sizeof(big)), 0);
    ASSERT_EQ(dlq_pop(q, &e), 1);
    ASSERT_EQ(e.len, DLQ_MAX_PAYLOAD);
    ASSERT_EQ(e.orig_len, sizeof(big));
    ASSERT_EQ(e.reason, REJECT_TOO_LARGE);
    while (dlq_push(q, REJECT_NAN, "y", 1, big, DLQ_MAX_PAYLOAD) == 0)
        pushed++;
    ASSERT_EQ(pushed, 3); /* 4 x (64 KiB + header) do not fit 256 KiB */
    ASSERT_EQ(dlq_push(q, REJECT_NAN, "y", 1, big, DLQ_MAX_PAYLOAD), -ENOBUFS);
    dlq_free(q);
}

/* ---- Outbox ------------------------------------------------------------ */

static void outbox_bounds_order_and_drain(void)
{
    struct publish_queue *q;
    struct publish_stats st;
    struct publish_item *it;
    struct publish_msg m;
    char payload[100];
    int i, ok = 0;

    memset(&m, 0, sizeof(m));
    m.kind = PUBLISH_METRICS;
    m.payload = (const uint8_t *)payload;
    m.len = sizeof(payload);
    ASSERT_EQ(publish_queue_new(&q, 0), -EINVAL);
    ASSERT_EQ(publish_queue_new(&q, 4096), 0);
    for (i = 0; i < 100; i++) {
        memset(payload, i, sizeof(payload));
        ok += publish_queue_push(q, &m, "a/b", 1, false) == 0;
    }
    publish_queue_stats(q, &st);
    ASSERT(ok > 0 && ok < 100);
    ASSERT_EQ(st.queued[PUBLISH_METRICS], ok);
    ASSERT_EQ(st.dropped[PUBLISH_METRICS], 100 - ok);
    ASSERT(st.bytes <= 4096);
    it = publish_queue_pop(q, 0);
    ASSERT(it != NULL && it->payload[0] == 0 && it->len == 100);
    ASSERT_STREQ(it->topic, "a/b");
    publish_queue_unpop(q, it);
    ASSERT(!publish_queue_drain(q, 20));
    for (i = 0; i < ok; i++) {
        it = publish_queue_pop(q, 0);
        ASSERT(it != NULL && it->payload[0] == i);
        free(it);
        publish_queue_done(q);
    }
    ASSERT(publish_queue_pop(q, 10) == NULL);
    ASSERT(publish_queue_drain(q, 0));
    publish_queue_close(q);
    ASSERT(publish_queue_pop(q, 10000) == NULL); /* closed: no wait */
    publish_queue_free(q);
}

/* ---- Inbox ------------------------------------------------------------- */

struct box {
    uv_loop_t loop;
    uv_async_t wake;
    struct intern *devices;
    struct intern *sensors;
    struct decoder *dec;
    struct ring *ring;
    struct dlq *dlq;
    struct wal *wal;
    struct inbox *ib;
    char wal_dir[512];
};

static void on_wake(uv_async_t *h)
{
    (void)h;
}

static void box_open(struct box *b, int64_t wait_ms)
{
    struct decoder_sub sub;
    struct inbox_config ic;

    memset(b, 0, sizeof(*b));
    ASSERT_EQ(uv_loop_init(&b->loop), 0);
    ASSERT_EQ(uv_async_init(&b->loop, &b->wake, on_wake), 0);
    ASSERT_EQ(intern_new(&b->devices, 16), 0);
    ASSERT_EQ(intern_new(&b->sensors, 16), 0);
    ASSERT_EQ(topic_template_parse("s/{device}", &sub.tpl, NULL, 0), 0);
    sub.format = DECODER_PB_BATCH;
    ASSERT_EQ(decoder_new(&b->dec, &sub, 1, b->devices, b->sensors), 0);
    ASSERT_EQ(ring_new(&b->ring, 8), 0);
    ASSERT_EQ(dlq_new(&b->dlq, DLQ_MIN_CAP), 0);
    snprintf(b->wal_dir, sizeof(b->wal_dir), "%s/wal", test_tmpdir());
    ASSERT_EQ(wal_open(&b->wal, b->wal_dir, NULL, NULL), 0);
    memset(&ic, 0, sizeof(ic));
    ic.decoder = b->dec;
    ic.wal = b->wal;
    ic.ring = b->ring;
    ic.dlq = b->dlq;
    ic.wakeup = &b->wake;
    ic.wait_ms = wait_ms;
    ASSERT_EQ(inbox_new(&b->ib, &ic), 0);
}

static void box_close(struct box *b)
{
    inbox_free(b->ib);
    wal_free(b->wal);
    dlq_free(b->dlq);
    ring_free(b->ring);
    decoder_free(b->dec);
    intern_free(b->sensors);
    intern_free(b->devices);
    uv_close((uv_handle_t *)&b->wake, NULL);
    uv_run(&b->loop, UV_RUN_DEFAULT);
    uv_loop_close(&b->loop);
}

/* Message k: a batch of three metrics from device "d", seq k (4 records
 * with its meta record). */
static int send_msg(struct box *b, uint64_t k, int qos)
{
    struct codec_msg m;
    uint8_t buf[256];
    size_t n;
    int i;

    memset(&m, 0, sizeof(m));
    snprintf(m.device, sizeof(m.device), "d");
    m.has_seq = true;
    m.seq = k;
    for (i = 0; i < 3; i++) {
        snprintf(m.m[i].name, sizeof(m.m[i].name), "x%d", i);
        m.m[i].value = (double)k;
        m.m[i].has_value = true;
    }
    m.n = 3;
    n = codec_encode_batch(&m, buf, sizeof(buf));
    ASSERT(n > 0);
    return inbox_message(b->ib, "s/d", 3, buf, n, qos, false);
}

static uint64_t wal_count;
static uint64_t wal_lsns[16];

static int count_rec(void *ctx, const struct wal_record *r)
{
    (void)ctx;
    if (wal_count < 16)
        wal_lsns[wal_count] = r->lsn;
    wal_count++;
    return 0;
}

static void inbox_drops_qos0_and_logs_after_deadline(void)
{
    struct reading out[16];
    struct inbox_stats st;
    struct dlq_entry e;
    static char topic[DLQ_MAX_TOPIC + 1];
    static uint8_t payload[DLQ_MAX_PAYLOAD];
    struct box b;

    box_open(&b, 30);
    ASSERT_EQ(send_msg(&b, 1, 1), 1);
    ASSERT_EQ(send_msg(&b, 2, 1), 1); /* the ring (8) is full now */
    ASSERT_EQ(ring_depth(b.ring), 8);
    ASSERT_EQ(send_msg(&b, 3, 0), 1); /* QoS 0: dropped, counted, not logged */
    inbox_stats(b.ib, &st);
    ASSERT_EQ(st.ring_drops, 1);
    ASSERT_EQ(st.last_lsn, 2);
    e.topic = topic;
    e.payload = payload;
    ASSERT_EQ(dlq_pop(b.dlq, &e), 1);
    ASSERT_EQ(e.reason, REJECT_RING_FULL);
    ASSERT(!inbox_log_only(b.ib));
    ASSERT_EQ(send_msg(&b, 4, 1), 1); /* waits 30 ms, then logged only */
    ASSERT(inbox_log_only(b.ib));
    ASSERT_EQ(send_msg(&b, 5, 1), 1); /* log-only */
    inbox_stats(b.ib, &st);
    ASSERT_EQ(st.waits, 1);
    ASSERT_EQ(st.timeouts, 1);
    ASSERT_EQ(st.log_only, 2);
    ASSERT(st.wait_ms >= 25);
    ASSERT_EQ(st.last_lsn, 4);
    ASSERT_EQ(ring_pop(b.ring, out, 16), 8);
    ASSERT(out[0].flags & DECODER_META);
    ASSERT_EQ(out[0].lsn, 1);
    ASSERT_EQ(out[1].lsn, 1);
    ASSERT_EQ(out[4].lsn, 2);
    ASSERT_EQ(out[5].seq, 2);
    wal_free(b.wal);
    b.wal = NULL;
    ASSERT_EQ(wal_replay(b.wal_dir, 1, count_rec, NULL, NULL), 0);
    ASSERT_EQ(wal_count, 4);
    ASSERT_EQ(wal_lsns[3], 4);
    inbox_resume(b.ib);
    ASSERT(!inbox_log_only(b.ib));
    box_close(&b);
}

/* Called on: the consumer thread. */
static void *pop_later(void *arg)
{
    struct box *b = arg;
    struct reading out[8];

    sleep_ms(30);
    ring_pop(b->ring, out, 8);
    return NULL;
}

static void inbox_wait_gets_room(void)
{
    struct inbox_stats st;
    struct box b;
    pthread_t th;

    box_open(&b, 5000);
    ASSERT_EQ(send_msg(&b, 1, 1), 1);
    ASSERT_EQ(send_msg(&b, 2, 1), 1);
    ASSERT_EQ(pthread_create(&th, NULL, pop_later, &b), 0);
    ASSERT_EQ(send_msg(&b, 3, 2), 1); /* waits until the consumer pops */
    ASSERT_EQ(pthread_join(th, NULL), 0);
    inbox_stats(b.ib, &st);
    ASSERT_EQ(st.waits, 1);
    ASSERT_EQ(st.timeouts, 0);
    ASSERT(!inbox_log_only(b.ib));
    ASSERT_EQ(st.qos[1], 2);
    ASSERT_EQ(st.qos[2], 1);
    ASSERT(ring_depth(b.ring) >= 4);
    box_close(&b);
}

/* ---- Task images ------------------------------------------------------- */

/* A task over two small name tables; readings are fed to it directly. */
struct tk {
    struct intern *dev;
    struct intern *sen;
    struct task *t;
};

static void tk_open(struct tk *k, const struct task_config *tc,
                    size_t max_devices)
{
    char err[256] = "";

    ASSERT_EQ(intern_new(&k->dev, 16), 0);
    ASSERT_EQ(intern_new(&k->sen, 16), 0);
    if (task_new(&k->t, tc, k->sen, k->dev, max_devices, emit_nothing, NULL,
                 err, sizeof(err)) != 0) {
        fprintf(stderr, "task_new: %s\n", err);
        ASSERT(0);
    }
}

static void tk_close(struct tk *k)
{
    task_free(k->t);
    intern_free(k->sen);
    intern_free(k->dev);
}

/* n readings of temp, hum and power (in that order) for devices 0..2. */
static void tk_feed(struct tk *k, int from, int n)
{
    static const char *const names[] = {"temp", "hum", "power"};

    for (int i = from; i < from + n; i++) {
        struct reading r;
        memset(&r, 0, sizeof(r));
        r.device_id = (uint32_t)(i % 3);
        ASSERT_EQ(intern_add(k->sen, names[i / 3 % 3], strlen(names[i / 3 % 3]),
                             &r.sensor_id, NULL),
                  0);
        r.ts_ms = 1700000000000LL + (int64_t)i * 5000;
        r.value = 20 + (i * 7919 % 100) / 10.0;
        r.seq = (uint64_t)i;
        r.flags = READING_HAS_SEQ | READING_HAS_TS;
        task_add(k->t, &r, r.ts_ms + 10);
    }
}

static struct task_config forecast_config(const char *target,
                                          uint64_t window_rows)
{
    static const char *const feats[] = {"temp", "temp@-1", "hum", "power"};
    struct task_config tc;

    memset(&tc, 0, sizeof(tc));
    tc.name = "fc";
    tc.kind = TASK_REGRESSION;
    tc.target = target;
    tc.features = feats;
    tc.nfeatures = 4;
    tc.window_rows = window_rows;
    tc.test_fraction = -1;
    return tc;
}

static uint8_t *tk_save(const struct tk *k, size_t *len)
{
    uint8_t *img = NULL;

    ASSERT_EQ(task_save(k->t, &img, len), 0);
    return img;
}

/* task_restore(img) returns rc, and t's image is the same before/after. */
static void tk_refused(struct tk *k, const uint8_t *img, size_t len, int rc)
{
    size_t l0, l1;
    uint8_t *before = tk_save(k, &l0);
    uint8_t *after;

    ASSERT_EQ(task_restore(k->t, img, len), rc);
    after = tk_save(k, &l1);
    ASSERT_EQ(l0, l1);
    ASSERT(memcmp(before, after, l0) == 0);
    free(before);
    free(after);
}

/* A forecasting task's image carries the rows (pending rows included) and
 * restores byte for byte; another configuration, a damaged image, and a
 * learner image that is refused after the rows were applied all leave the
 * task as it was; an image of the previous format (learner only) still
 * restores the learner. */
static void task_images_are_all_or_nothing(void)
{
    struct task_config tc = forecast_config("power@+1m", 20);
    struct task_config other = forecast_config("power@+2m", 20);
    struct task_config window = forecast_config("power@+1m", 30);
    struct tk a, b, c, d, e;
    struct task_stats st;
    struct bytes_out v1 = {NULL, 0, 0, false};
    uint8_t *img, *lb = NULL, *again;
    size_t len, ll, l2;

    tk_open(&a, &tc, 4);
    tk_feed(&a, 0, 900);
    ASSERT(task_rows_pending(a.t) > 0);
    img = tk_save(&a, &len);
    /* Byte for byte into a fresh task. */
    tk_open(&b, &tc, 4);
    ASSERT_EQ(task_restore(b.t, img, len), 0);
    ASSERT_EQ(task_rows_pending(b.t), task_rows_pending(a.t));
    again = tk_save(&b, &l2);
    ASSERT_EQ(l2, len);
    ASSERT(memcmp(again, img, len) == 0);
    free(again);
    /* Another horizon: rows and learner both refuse; nothing changes. */
    tk_open(&c, &other, 4);
    tk_feed(&c, 0, 60);
    tk_refused(&c, img, len, -EINVAL);
    /* Another window: the rows image fits, the learner's does not. The
     * rows applied first must be put back. */
    tk_open(&d, &window, 4);
    tk_feed(&d, 0, 60);
    ASSERT(task_rows_pending(d.t) > 0);
    tk_refused(&d, img, len, -EINVAL);
    /* Damaged anywhere (the task's CRC), or cut. */
    for (size_t i = 0; i < len; i += 97) {
        img[i] ^= 0x08;
        tk_refused(&d, img, len, -EBADMSG);
        img[i] ^= 0x08;
    }
    tk_refused(&d, img, len - 1, -EBADMSG);
    /* Per-device state beyond a smaller device table. */
    tk_close(&c);
    tk_open(&c, &tc, 2);
    tk_refused(&c, img, len, -ENOSPC);
    /* Format 1, as the previous build wrote it: header and learner. */
    task_stats(a.t, &st);
    ASSERT_EQ(learner_save(task_learner(a.t), &lb, &ll), 0);
    bytes_put_u32(&v1, 0x4b535457u);
    bytes_put_u32(&v1, 1);
    bytes_put_u32(&v1, TASK_REGRESSION);
    bytes_put_str(&v1, "fc");
    for (size_t i = 0; i < sizeof(st) / sizeof(uint64_t); i++)
        bytes_put_u64(&v1, ((const uint64_t *)&st)[i]);
    bytes_put_u8(&v1, 0);
    bytes_put_u8(&v1, 1);
    bytes_put_i64(&v1, 0);
    bytes_put_u64(&v1, task_snapshot_version(a.t));
    bytes_put_blob(&v1, lb, ll);
    bytes_put_crc(&v1);
    ASSERT(!v1.failed);
    tk_open(&e, &tc, 4);
    ASSERT_EQ(task_restore(e.t, v1.data, v1.len), 0);
    ASSERT_EQ(task_rows_pending(e.t), 0); /* rows start afresh */
    ASSERT_EQ(task_snapshot_version(e.t), task_snapshot_version(a.t));
    {
        uint8_t *eb = NULL;
        size_t el;
        ASSERT_EQ(learner_save(task_learner(e.t), &eb, &el), 0);
        ASSERT_EQ(el, ll);
        ASSERT(memcmp(eb, lb, ll) == 0);
        free(eb);
    }
    free(v1.data);
    free(lb);
    free(img);
    tk_close(&a);
    tk_close(&b);
    tk_close(&c);
    tk_close(&d);
    tk_close(&e);
}

/* An anomaly task's detectors round-trip through versioned images; the
 * raw-bytes images of the previous format are refused as another
 * configuration (the task starts afresh), damaged ones as such. */
static void anomaly_task_images(void)
{
    static const char *const sensors[] = {"temp", "power"};
    struct task_config tc;
    struct task_stats sa, sb;
    struct tk a, b, c;
    uint8_t *img, *again;
    size_t len, l2, hdr;

    memset(&tc, 0, sizeof(tc));
    tc.name = "watch";
    tc.kind = TASK_ANOMALY;
    tc.features = sensors;
    tc.nfeatures = 2;
    tk_open(&a, &tc, 4);
    tk_feed(&a, 0, 3000);
    task_stats(a.t, &sa);
    ASSERT_EQ(sa.series, 6); /* temp and power of 3 devices */
    img = tk_save(&a, &len);
    tk_open(&b, &tc, 4);
    ASSERT_EQ(task_restore(b.t, img, len), 0);
    task_stats(b.t, &sb);
    ASSERT(memcmp(&sa, &sb, sizeof(sa)) == 0);
    again = tk_save(&b, &l2);
    ASSERT(l2 == len && memcmp(again, img, len) == 0);
    free(again);
    /* The same scores afterwards (the stats count them). */
    tk_feed(&a, 3000, 300);
    tk_feed(&b, 3000, 300);
    {
        uint8_t *ia = tk_save(&a, &len), *ib = tk_save(&b, &l2);
        ASSERT(l2 == len && memcmp(ia, ib, len) == 0);
        free(ia);
        free(ib);
    }
    /* Format 1 (raw detector bytes): refused as another layout. */
    img[4] = 1;
    hdr = len - 4;
    {
        uint32_t crc = (uint32_t)crc32_z(0L, img, hdr);
        for (int i = 0; i < 4; i++)
            img[hdr + (size_t)i] = (uint8_t)(crc >> (8 * i));
    }
    tk_open(&c, &tc, 4);
    tk_feed(&c, 0, 30);
    tk_refused(&c, img, len, -EINVAL);
    img[hdr / 2] ^= 1;
    tk_refused(&c, img, len, -EBADMSG);
    free(img);
    tk_close(&a);
    tk_close(&b);
    tk_close(&c);
}

static const struct test tests[] = {
    {"task_images_are_all_or_nothing", task_images_are_all_or_nothing},
    {"anomaly_task_images", anomaly_task_images},
    {"checkpoint_image_round_trip", checkpoint_image_round_trip},
    {"checkpoint_names_while_the_writer_runs",
     checkpoint_names_while_the_writer_runs},
    {"checkpoint_files_fall_back", checkpoint_files_fall_back},
    {"dlq_two_threads", dlq_two_threads},
    {"dlq_cuts_and_refuses", dlq_cuts_and_refuses},
    {"outbox_bounds_order_and_drain", outbox_bounds_order_and_drain},
    {"inbox_drops_qos0_and_logs_after_deadline",
     inbox_drops_qos0_and_logs_after_deadline},
    {"inbox_wait_gets_room", inbox_wait_gets_room},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return test_main(argc, argv, tests);
}
