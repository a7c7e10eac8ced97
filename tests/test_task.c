/* test_task.c -- a task's data clock (ingest/task.h "Time"): TIME-mode
 * windows and forecast deadlines follow data time whatever the receive
 * clock does.
 *
 * The stream: devices d0..d2 send co2 and temp once a minute (d1 7 s and
 * d2 14 s after d0); a forecast task learns co2@+15m from them in windows
 * of one hour. Every expectation is counted from the generator, not from
 * the task: a co2 reading at t is labelled by the same device's reading
 * 15 samples later, so the last 15 anchors of each device never are; rows
 * arrive in the order of their anchors, so window k holds exactly the
 * labelled anchors of data hour k after the first one. The receive clock
 * is set per case: 14 days ahead of the data at the data's pace (a
 * simulation of past data, as in `make demo`), 1 s per data hour (a fast
 * replay), or beside the data with an outage. Ticks come as the pipeline
 * makes them: on every 1 s boundary of receive time, before the message.
 *
 * Threads: single-threaded. */
#include "ingest/task.h"
#include "tests/harness.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ingest/bytes.h"

#define T0 1700000000000LL /* first sample of d0 */
#define MIN_MS 60000LL
#define HOUR_MS 3600000LL
#define DAY_MS 86400000LL
#define H_MS (15 * MIN_MS)     /* forecast horizon */
#define DELAY_MS (10 * MIN_MS) /* label_max_delay */
#define NDEV 3
#define STAGGER_MS 7000LL /* d1, d2 after d0 */
#define LEAD 15           /* samples between an anchor and its label */
#define MAX_WIN 256

/* ---- What the task emitted --------------------------------------------- */

struct win {
    int64_t start_ms; /* First row's data time. */
    int64_t end_ms;   /* Last row's. */
    uint64_t rows;    /* Rows, test rows included. */
};

struct out {
    struct win w[MAX_WIN];
    size_t nwin;
    size_t snapshots;
    size_t n;      /* Outputs of every kind. */
    uint64_t hash; /* FNV-1a over kind and bytes of every output. */
};

static void out_emit(void *ctx, const struct publish_msg *m)
{
    struct out *o = ctx;
    size_t i;

    o->n++;
    o->hash = (o->hash ^ (uint64_t)m->kind) * 0x100000001b3ull;
    for (i = 0; i < m->len; i++)
        o->hash = (o->hash ^ m->payload[i]) * 0x100000001b3ull;
    if (m->kind == PUBLISH_SNAPSHOT)
        o->snapshots++;
    if (m->kind == PUBLISH_METRICS) {
        cJSON *j = cJSON_ParseWithLength((const char *)m->payload, m->len);
        struct win *w = &o->w[o->nwin];
        ASSERT(j != NULL && o->nwin < MAX_WIN);
        w->start_ms = (int64_t)cJSON_GetObjectItem(j, "start_ms")->valuedouble;
        w->end_ms = (int64_t)cJSON_GetObjectItem(j, "end_ms")->valuedouble;
        w->rows = (uint64_t)cJSON_GetObjectItem(j, "rows")->valuedouble +
                  (uint64_t)cJSON_GetObjectItem(j, "test_rows")->valuedouble;
        ASSERT_EQ((uint64_t)cJSON_GetObjectItem(j, "window_id")->valuedouble,
                  o->nwin);
        o->nwin++;
        cJSON_Delete(j);
    }
}

/* ---- A task and its clocks --------------------------------------------- */

struct rig {
    struct intern *devices;
    struct intern *sensors;
    struct task *task;
    struct out *out;
    uint32_t dev[NDEV + 1]; /* d0..d2, and d3 (beyond max_devices) */
    uint32_t co2, temp, noise;
    int64_t recv_ms;      /* Receive clock (monotonic). */
    int64_t next_tick_ms; /* As ingest/pipeline.c ticks. */
};

static const char *const feats[] = {"co2", "temp"};

/* The task, emitting into g->out. */
static void rig_task(struct rig *g, int64_t max_gap_ms)
{
    struct task_config tc;
    char err[256] = "";

    memset(&tc, 0, sizeof(tc));
    tc.name = "co2_forecast";
    tc.kind = TASK_REGRESSION;
    tc.target = "co2@+15m";
    tc.features = feats;
    tc.nfeatures = 2;
    tc.window_ms = HOUR_MS;
    tc.test_fraction = 0.1;
    tc.label_max_delay_ms = DELAY_MS;
    tc.snapshot_interval_ms = 10000;
    tc.clock_max_gap_ms = max_gap_ms;
    tc.drift_set = true; /* no drift: windows keep their length */
    tc.detector = LEARNER_DETECT_NONE;
    if (task_new(&g->task, &tc, g->sensors, g->devices, NDEV, out_emit, g->out,
                 err, sizeof(err)) != 0) {
        fprintf(stderr, "task_new: %s\n", err);
        ASSERT(0);
    }
}

static void rig_open(struct rig *g, int64_t max_gap_ms)
{
    char name[8];

    memset(g, 0, sizeof(*g));
    ASSERT((g->out = calloc(1, sizeof(*g->out))) != NULL);
    g->out->hash = 0xcbf29ce484222325ull;
    ASSERT_EQ(intern_new(&g->devices, 8), 0);
    ASSERT_EQ(intern_new(&g->sensors, 16), 0);
    for (int d = 0; d <= NDEV; d++) {
        snprintf(name, sizeof(name), "d%d", d);
        ASSERT_EQ(intern_add(g->devices, name, strlen(name), &g->dev[d], NULL),
                  0);
    }
    ASSERT_EQ(intern_add(g->sensors, "noise", 5, &g->noise, NULL), 0);
    rig_task(g, max_gap_ms);
    ASSERT(intern_find(g->sensors, "co2", 3, &g->co2));
    ASSERT(intern_find(g->sensors, "temp", 4, &g->temp));
    g->recv_ms = INT64_MIN;
}

static void rig_close(struct rig *g)
{
    task_free(g->task);
    intern_free(g->sensors);
    intern_free(g->devices);
    free(g->out);
}

/* Receive time moves to recv (never back): tick on a 1 s boundary, as
 * ingest/pipeline.c advance() does before each message. */
static void rig_recv(struct rig *g, int64_t recv)
{
    if (recv <= g->recv_ms)
        return;
    g->recv_ms = recv;
    if (g->next_tick_ms == 0)
        g->next_tick_ms = recv - recv % 1000 + 1000;
    if (recv < g->next_tick_ms)
        return;
    task_tick(g->task, recv);
    g->next_tick_ms = recv - recv % 1000 + 1000;
}

static void rig_add(struct rig *g, uint32_t dev, uint32_t sensor, int64_t ts,
                    double v, uint64_t seq)
{
    struct reading r;

    memset(&r, 0, sizeof(r));
    r.seq = seq;
    r.ts_ms = ts;
    r.value = v;
    r.device_id = dev;
    r.sensor_id = sensor;
    r.flags = READING_HAS_SEQ | READING_HAS_TS;
    task_add(g->task, &r, g->recv_ms);
}

/* Sample i of device d: its time and its two readings. */
static int64_t sample_ts(int64_t i, int d)
{
    return T0 + i * MIN_MS + d * STAGGER_MS;
}

static void rig_sample(struct rig *g, int64_t i, int d, int64_t recv)
{
    int64_t ts = sample_ts(i, d);
    double co2 = 600 + 150 * sin((double)i / 40.0 + d) + (double)(i % 7);
    double temp = 21 + 2 * cos((double)i / 90.0) + 0.1 * d;

    rig_recv(g, recv);
    rig_add(g, g->dev[d], g->co2, ts, co2, (uint64_t)i * 2);
    rig_add(g, g->dev[d], g->temp, ts, temp, (uint64_t)i * 2 + 1);
}

/* Receive clocks of the cases, for data time ts. */
enum pace { BEHIND_14D, FAST_REPLAY };

static int64_t recv_of(enum pace p, int64_t ts)
{
    if (p == BEHIND_14D)
        return ts + 14 * DAY_MS + 30;
    /* 1 s of receive time per hour of data, the data 3 days behind. */
    return T0 + 3 * DAY_MS + (ts - T0) / 3600;
}

/* Samples from..to of every device, in time order. */
static void rig_run(struct rig *g, enum pace p, int64_t from, int64_t to)
{
    for (int64_t i = from; i < to; i++)
        for (int d = 0; d < NDEV; d++)
            rig_sample(g, i, d, recv_of(p, sample_ts(i, d)));
}

/* ---- Expectations from the generator ----------------------------------- */

/* Labelled anchors of n samples per device in data hour k after T0. */
static uint64_t rows_in_hour(int64_t n, int64_t k)
{
    uint64_t c = 0;

    for (int64_t i = 0; i + LEAD < n; i++)
        for (int d = 0; d < NDEV; d++)
            c += (sample_ts(i, d) - T0) / HOUR_MS == k;
    return c;
}

/* Data hours holding labelled anchors (n samples per device). */
static int64_t hours_with_rows(int64_t n)
{
    return (sample_ts(n - LEAD - 1, NDEV - 1) - T0) / HOUR_MS + 1;
}

/* Unlabelled anchors whose deadline (t + h + delay) is at or after clock:
 * rows_expire() keeps them. */
static size_t pending_at(int64_t n, int64_t clock)
{
    size_t c = 0;

    for (int64_t i = n - LEAD; i < n; i++)
        for (int d = 0; d < NDEV; d++)
            c += sample_ts(i, d) + H_MS + DELAY_MS >= clock;
    return c;
}

/* The windows emitted are the data hours 0..nwin-1, each with exactly the
 * rows anchored in it. */
static void check_windows(const struct out *o, int64_t n, size_t nwin)
{
    ASSERT_EQ(o->nwin, nwin);
    for (size_t k = 0; k < o->nwin; k++) {
        ASSERT_EQ((o->w[k].start_ms - T0) / HOUR_MS, (int64_t)k);
        ASSERT_EQ((o->w[k].end_ms - T0) / HOUR_MS, (int64_t)k);
        ASSERT_EQ(o->w[k].rows, rows_in_hour(n, (int64_t)k));
    }
}

/* After the data: receive time passes in steps of step_ms with no
 * readings (other traffic ticks the pipeline). Each step checks the
 * pending rows against the generator. Returns the receive time elapsed. */
static int64_t rig_silence(struct rig *g, int64_t n, int64_t step_ms,
                           int64_t total_ms)
{
    int64_t last_ts = sample_ts(n - 1, NDEV - 1);
    int64_t start = g->recv_ms;
    int64_t e;

    for (e = step_ms; e <= total_ms; e += step_ms) {
        rig_recv(g, start + e);
        ASSERT_EQ(task_data_clock(g->task), last_ts + e);
        ASSERT_EQ(task_rows_pending(g->task),
                  pending_at(n, task_data_clock(g->task)));
    }
    return e - step_ms;
}

/* ---- Cases ------------------------------------------------------------- */

/* One pace end to end: 30 hours of data; windows rotate once per data hour
 * with the rows of that hour; every anchor whose label comes is labelled,
 * none expires while the data flows; then the devices fall silent and
 * receive time alone expires the last anchors (exactly when their
 * deadlines pass) and closes the last window. */
static void run_pace(enum pace p)
{
    const int64_t n = 30 * 60;
    struct rows_stats rs;
    struct task_stats ts;
    struct rig g;

    rig_open(&g, 0);
    rig_run(&g, p, 0, n);
    task_rows_stats(g.task, &rs);
    task_stats(g.task, &ts);
    ASSERT_EQ(rs.rows, (uint64_t)(n - LEAD) * NDEV);
    ASSERT_EQ(ts.rows, rs.rows);
    ASSERT_EQ(rs.pending_expired, 0);
    ASSERT_EQ(task_rows_pending(g.task), (size_t)LEAD * NDEV);
    /* The clock is the newest data time (receive time since is tiny). */
    ASSERT(task_data_clock(g.task) >= sample_ts(n - 1, NDEV - 1));
    ASSERT(task_data_clock(g.task) < sample_ts(n - 1, NDEV - 1) + 1000);
    /* Every hour but the last (still open: its rows' labels are due). */
    check_windows(g.out, n, (size_t)hours_with_rows(n) - 1);
    ASSERT(g.out->snapshots >= 1);

    rig_silence(&g, n, 1000, 2 * HOUR_MS);
    task_rows_stats(g.task, &rs);
    ASSERT_EQ(rs.pending_expired, (uint64_t)LEAD * NDEV);
    ASSERT_EQ(rs.rows, (uint64_t)(n - LEAD) * NDEV);
    ASSERT_EQ(task_rows_pending(g.task), 0);
    check_windows(g.out, n, (size_t)hours_with_rows(n));
    rig_close(&g);
}

static void windows_and_labels_in_data_time_14_days_behind(void)
{
    run_pace(BEHIND_14D);
}

static void windows_and_labels_in_data_time_fast_replay(void)
{
    run_pace(FAST_REPLAY);
}

/* The clock: only readings of sensors the task names, of devices its rows
 * keep, move it forward; never back; between them receive time moves it,
 * one step counting at most clock_max_gap_ms. */
static void data_clock_moves_forward_on_its_own_readings(void)
{
    struct rig g;
    int64_t ts = T0 + 5 * HOUR_MS;

    rig_open(&g, 0);
    ASSERT_EQ(task_data_clock(g.task), INT64_MIN);
    rig_recv(&g, T0 + 7 * DAY_MS);
    rig_add(&g, g.dev[0], g.noise, ts, 1, 1); /* not the task's sensor */
    rig_add(&g, g.dev[3], g.co2, ts, 500, 1); /* device beyond max_devices */
    ASSERT_EQ(task_data_clock(g.task), INT64_MIN);
    task_tick(g.task, g.recv_ms); /* nothing to follow yet */
    ASSERT_EQ(task_data_clock(g.task), INT64_MIN);
    rig_add(&g, g.dev[1], g.temp, ts, 20, 1);
    ASSERT_EQ(task_data_clock(g.task), ts);
    rig_add(&g, g.dev[2], g.co2, ts - HOUR_MS, 500, 2); /* older: stays */
    ASSERT_EQ(task_data_clock(g.task), ts);
    rig_add(&g, g.dev[0], g.noise, ts + DAY_MS, 1, 2);
    ASSERT_EQ(task_data_clock(g.task), ts);
    /* Receive time: 40 s counts 40 s, a 2 h gap counts the cap (60 s). */
    rig_recv(&g, g.recv_ms + 40000);
    ASSERT_EQ(task_data_clock(g.task), ts + 40000);
    rig_recv(&g, g.recv_ms + 2 * HOUR_MS);
    ASSERT_EQ(task_data_clock(g.task), ts + 40000 + TASK_CLOCK_MAX_GAP_MS);
    /* A newer reading moves it to its time; receive time goes on from
     * there. */
    rig_add(&g, g.dev[0], g.co2, ts + 10 * MIN_MS, 500, 3);
    ASSERT_EQ(task_data_clock(g.task), ts + 10 * MIN_MS);
    rig_recv(&g, g.recv_ms + 1500);
    ASSERT_EQ(task_data_clock(g.task), ts + 10 * MIN_MS + 1500);
    rig_close(&g);
}

/* An outage: weir hears nothing for an hour, then the broker delivers the
 * hour's backlog in a burst, with its original timestamps. The gap counts
 * one minute, so the rows waiting at the outage are labelled by the
 * backlog. Counting the gap in full (a cap of a day) expires them all:
 * the test can tell the two apart. */
static void outage_backlog_labels_its_rows(void)
{
    const int64_t n = 6 * 60, cut = 3 * 60, out_ms = HOUR_MS;
    uint64_t expired[2];

    for (int c = 0; c < 2; c++) {
        struct rows_stats rs;
        struct rig g;
        int64_t burst = 0;
        rig_open(&g, c == 0 ? 0 : DAY_MS);
        for (int64_t i = 0; i < n; i++) {
            for (int d = 0; d < NDEV; d++) {
                int64_t ts = sample_ts(i, d);
                int64_t recv = ts + 50;
                if (i >= cut && ts < sample_ts(cut, 0) + out_ms)
                    recv = sample_ts(cut, 0) + out_ms + 10 * burst++;
                rig_sample(&g, i, d, recv);
            }
        }
        task_rows_stats(g.task, &rs);
        expired[c] = rs.pending_expired;
        ASSERT_EQ(rs.rows + rs.pending_expired + task_rows_pending(g.task),
                  (uint64_t)n * NDEV);
        if (c == 0) {
            ASSERT_EQ(rs.rows, (uint64_t)(n - LEAD) * NDEV);
            check_windows(g.out, n, (size_t)hours_with_rows(n) - 1);
        }
        rig_close(&g);
    }
    ASSERT_EQ(expired[0], 0);
    /* At least every row waiting at the cut; more in the burst. */
    ASSERT(expired[1] >= (uint64_t)LEAD * NDEV);
}

/* Image of a run at the end, and its output hash. */
struct end_state {
    uint8_t *img;
    size_t len;
    uint64_t hash;
    size_t n;
};

static void end_of(struct rig *g, struct end_state *e)
{
    ASSERT_EQ(task_save(g->task, &e->img, &e->len), 0);
    e->hash = g->out->hash;
    e->n = g->out->n;
}

/* A fresh task with the image of g's restored (the outputs carry on; the
 * name tables keep their ids, as intern_import() would). */
static void reopen(struct rig *g)
{
    uint8_t *img;
    size_t len;

    ASSERT_EQ(task_save(g->task, &img, &len), 0);
    task_free(g->task);
    rig_task(g, 0);
    ASSERT_EQ(task_restore(g->task, img, len), 0);
    free(img);
}

/* Checkpoints mid-stream (pending rows waiting, a window open) and in the
 * silence: the resumed run emits what the uninterrupted one does, byte
 * for byte, and ends with the same image. */
static void clock_survives_checkpoints(void)
{
    const int64_t n = 8 * 60;
    struct end_state a, b;
    struct rig g;

    rig_open(&g, 0);
    rig_run(&g, BEHIND_14D, 0, n);
    rig_silence(&g, n, 1000, HOUR_MS);
    end_of(&g, &a);
    rig_close(&g);

    rig_open(&g, 0);
    rig_run(&g, BEHIND_14D, 0, 200);
    ASSERT(task_rows_pending(g.task) > 0);
    reopen(&g);
    ASSERT(task_data_clock(g.task) >= sample_ts(199, NDEV - 1));
    rig_run(&g, BEHIND_14D, 200, n);
    rig_silence(&g, n, 1000, 10 * MIN_MS);
    reopen(&g);
    {
        /* rig_silence measures from the receive time it starts at. */
        int64_t e0 = 10 * MIN_MS, start = g.recv_ms;
        for (int64_t e = 1000; e + e0 <= HOUR_MS; e += 1000)
            rig_recv(&g, start + e);
    }
    end_of(&g, &b);
    ASSERT_EQ(a.n, b.n);
    ASSERT(a.hash == b.hash);
    ASSERT_EQ(a.len, b.len);
    ASSERT(memcmp(a.img, b.img, a.len) == 0);
    ASSERT(g.out->nwin >= 8);
    free(a.img);
    free(b.img);
    rig_close(&g);
}

/* A format-2 image (before the clock: the same bytes without the clock's
 * 17) restores everything else; the clock starts at the next reading. */
static void format_2_image_is_still_read(void)
{
    struct bytes_out b = {NULL, 0, 0, false};
    struct rig g;
    uint8_t *img;
    size_t len, at;
    size_t pending;

    rig_open(&g, 0);
    rig_run(&g, BEHIND_14D, 0, 100);
    pending = task_rows_pending(g.task);
    ASSERT(pending > 0);
    ASSERT_EQ(task_save(g.task, &img, &len), 0);
    /* magic, format, kind, name (u32 + bytes), 11 counters, pending, any,
     * last, version: then the clock (u8, i64, i64). */
    at = 4 + 4 + 4 + 4 + strlen("co2_forecast") + 11 * 8 + 1 + 1 + 8 + 8;
    ASSERT(img[at] == 1); /* clock_set */
    bytes_put(&b, img, 4);
    bytes_put_u32(&b, 2);
    bytes_put(&b, img + 8, at - 8);
    bytes_put(&b, img + at + 17, len - 4 - (at + 17));
    bytes_put_crc(&b);
    ASSERT(!b.failed);
    task_free(g.task);
    rig_task(&g, 0);
    ASSERT_EQ(task_restore(g.task, b.data, b.len), 0);
    ASSERT_EQ(task_data_clock(g.task), INT64_MIN);
    ASSERT_EQ(task_rows_pending(g.task), pending);
    /* A corrupt byte is refused, the task unchanged. */
    b.data[at] ^= 0x40;
    ASSERT_EQ(task_restore(g.task, b.data, b.len), -EBADMSG);
    ASSERT_EQ(task_rows_pending(g.task), pending);
    rig_run(&g, BEHIND_14D, 100, 101);
    ASSERT_EQ(task_data_clock(g.task), sample_ts(100, NDEV - 1));
    free(b.data);
    free(img);
    rig_close(&g);
}

static const struct test tests[] = {
    {"windows_and_labels_in_data_time_14_days_behind",
     windows_and_labels_in_data_time_14_days_behind},
    {"windows_and_labels_in_data_time_fast_replay",
     windows_and_labels_in_data_time_fast_replay},
    {"data_clock_moves_forward_on_its_own_readings",
     data_clock_moves_forward_on_its_own_readings},
    {"outage_backlog_labels_its_rows", outage_backlog_labels_its_rows},
    {"clock_survives_checkpoints", clock_survives_checkpoints},
    {"format_2_image_is_still_read", format_2_image_is_still_read},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return test_main(argc, argv, tests);
}
