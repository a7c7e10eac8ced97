/* test_wal.c -- the ingest log: round trips, torn tails at every byte,
 * a writer killed with SIGKILL, rotation, truncation, the disk budget, and
 * a concurrent truncating thread (run under TSan too).
 *
 * Threads: single-threaded except where a case starts its own. */
#include "ingest/wal.h"
#include "tests/harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define MAXP 20000 /* largest generated payload */

/* ---- Helpers ----------------------------------------------------------- */

/* The content every test expects for lsn: topic, payload and qos are a
 * pure function of (lsn, maxlen), so a replay can be checked without
 * keeping copies. */
struct gen {
    char topic[64];
    uint8_t payload[MAXP];
    size_t len;
    int qos;
    int64_t recv_ns;
};

static void gen(uint64_t lsn, size_t maxlen, struct gen *g)
{
    uint64_t s = lsn * 7919;
    uint64_t r = test_rand(&s);

    snprintf(g->topic, sizeof(g->topic), "sensors/dev-%llu/s%llu",
             (unsigned long long)(r % 1000), (unsigned long long)(lsn % 7));
    g->len = maxlen ? (size_t)(test_rand(&s) % (maxlen + 1)) : 0;
    for (size_t i = 0; i < g->len; i++)
        g->payload[i] = (uint8_t)test_rand(&s);
    g->qos = (int)(r % 3);
    g->recv_ns = (int64_t)(r >> 2);
}

static uint64_t append_gen(struct wal *w, uint64_t expect, size_t maxlen)
{
    static struct gen g; /* large; tests are single-threaded here */
    uint64_t lsn = 0;

    gen(expect, maxlen, &g);
    ASSERT_EQ(wal_append(w, g.topic, g.payload, g.len, g.qos, g.recv_ns, &lsn),
              0);
    ASSERT_EQ(lsn, expect);
    return lsn;
}

/* Replay collector: checks each record against gen() and records lsns. */
struct seen {
    size_t maxlen;
    uint64_t lsns[20000];
    size_t n;
    int stop_at; /* return 7 after this many records (0: never) */
};

static int check_rec(void *ctx, const struct wal_record *r)
{
    static struct gen g;
    struct seen *s = ctx;

    gen(r->lsn, s->maxlen, &g);
    ASSERT_STREQ(r->topic, g.topic);
    ASSERT_EQ(r->topic_len, strlen(g.topic));
    ASSERT_EQ(r->payload_len, g.len);
    ASSERT(g.len == 0 || memcmp(r->payload, g.payload, g.len) == 0);
    ASSERT_EQ(r->qos, g.qos);
    ASSERT_EQ(r->recv_ns, g.recv_ns);
    ASSERT(s->n < sizeof(s->lsns) / sizeof(s->lsns[0]));
    s->lsns[s->n++] = r->lsn;
    if (s->stop_at && (int)s->n == s->stop_at)
        return 7;
    return 0;
}

static struct seen *replay(const char *dir, uint64_t from, size_t maxlen,
                           struct wal_scan_stats *st)
{
    struct seen *s = calloc(1, sizeof(*s));

    ASSERT(s != NULL);
    s->maxlen = maxlen;
    ASSERT_EQ(wal_replay(dir, from, check_rec, s, st), 0);
    return s;
}

/* lsns a..b (inclusive) exactly, in order. */
static void assert_range(const struct seen *s, uint64_t a, uint64_t b)
{
    ASSERT_EQ(s->n, b >= a ? b - a + 1 : 0);
    for (size_t i = 0; i < s->n; i++)
        ASSERT_EQ(s->lsns[i], a + i);
}

static void subdir(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", test_tmpdir(), name);
}

static struct wal_options opts(uint64_t seg, uint64_t max, enum wal_sync sy)
{
    struct wal_options o;

    wal_options_default(&o);
    o.segment_bytes = seg;
    o.max_bytes = max;
    o.sync = sy;
    return o;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Names of the segment files in dir, sorted; returns how many. */
static size_t seg_files(const char *dir, char names[][64], size_t cap)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0;

    ASSERT(d != NULL);
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l < 4 || strcmp(e->d_name + l - 4, ".wal") != 0)
            continue;
        ASSERT(n < cap);
        snprintf(names[n++], 64, "%s", e->d_name);
    }
    closedir(d);
    qsort(names, n, 64, cmp_name);
    return n;
}

static uint64_t dir_bytes(const char *dir)
{
    static char names[4096][64];
    size_t n = seg_files(dir, names, 4096);
    uint64_t total = 0;
    char path[512];
    struct stat sb;

    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/%.63s", dir, names[i]);
        ASSERT_EQ(stat(path, &sb), 0);
        total += (uint64_t)sb.st_size;
    }
    return total;
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long n;

    ASSERT(f != NULL);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    ASSERT(buf != NULL);
    ASSERT_EQ(fread(buf, 1, (size_t)n, f), n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void write_file(const char *path, const uint8_t *buf, size_t len)
{
    FILE *f = fopen(path, "wb");

    ASSERT(f != NULL);
    ASSERT_EQ(fwrite(buf, 1, len, f), len);
    ASSERT_EQ(fclose(f), 0);
}

static size_t rec_bytes(uint64_t lsn, size_t maxlen)
{
    static struct gen g;

    gen(lsn, maxlen, &g);
    return (32 + strlen(g.topic) + g.len + 7) & ~(size_t)7;
}

/* ---- Cases ------------------------------------------------------------- */

static void round_trip(void)
{
    char dir[256];
    struct wal *w;
    struct wal_options o = opts(1 << 20, 64 << 20, WAL_SYNC_NONE);
    struct wal_scan_stats st;
    struct wal_stats ws;
    struct seen *s;

    subdir(dir, sizeof(dir), "wal");
    ASSERT_EQ(wal_open(&w, dir, &o, NULL), 0);
    for (uint64_t i = 1; i <= 2000; i++)
        append_gen(w, i, 3000);
    wal_stats(w, &ws);
    ASSERT_EQ(ws.next_lsn, 2001);
    ASSERT_EQ(ws.appends, 2000);
    ASSERT_EQ(ws.bytes, dir_bytes(dir));
    ASSERT(ws.segments > 1); /* ~3 MB in 1 MiB segments */
    wal_free(w);

    s = replay(dir, 1, 3000, &st);
    assert_range(s, 1, 2000);
    ASSERT_EQ(st.records, 2000);
    ASSERT_EQ(st.first_lsn, 1);
    ASSERT_EQ(st.last_lsn, 2000);
    ASSERT_EQ(st.corrupt_bytes + st.tail_bytes + st.lost_records, 0);
    free(s);
    s = replay(dir, 1234, 3000, &st);
    assert_range(s, 1234, 2000);
    free(s);
    s = replay(dir, 5000, 3000, &st);
    ASSERT_EQ(s->n, 0);
    free(s);

    /* Reopen: appends continue in order. */
    ASSERT_EQ(wal_open(&w, dir, &o, &st), 0);
    ASSERT_EQ(st.tail_bytes, 0);
    append_gen(w, 2001, 3000);
    wal_free(w);
    s = replay(dir, 1990, 3000, NULL);
    assert_range(s, 1990, 2001);
    free(s);
}

static void replay_of_missing_dir_is_empty(void)
{
    char dir[256];
    struct seen *s;

    subdir(dir, sizeof(dir), "nothing-here");
    s = replay(dir, 1, 0, NULL);
    ASSERT_EQ(s->n, 0);
    free(s);
}

static void replay_callback_can_stop(void)
{
    char dir[256];
    struct wal *w;
    struct wal_options o = opts(1 << 20, 64 << 20, WAL_SYNC_NONE);
    struct seen *s = calloc(1, sizeof(*s));

    subdir(dir, sizeof(dir), "wal");
    ASSERT_EQ(wal_open(&w, dir, &o, NULL), 0);
    for (uint64_t i = 1; i <= 10; i++)
        append_gen(w, i, 10);
    wal_free(w);
    s->maxlen = 10;
    s->stop_at = 4;
    ASSERT_EQ(wal_replay(dir, 1, check_rec, s, NULL), 7);
    assert_range(s, 1, 4);
    free(s);
}

/* Write n records (maxlen) into a fresh log in dir and return the path of
 * its single segment in seg. */
static void small_log(const char *dir, uint64_t n, size_t maxlen, char *seg,
                      size_t cap)
{
    struct wal_options o = opts(1 << 20, 64 << 20, WAL_SYNC_NONE);
    char names[4][64];
    struct wal *w;

    ASSERT_EQ(wal_open(&w, dir, &o, NULL), 0);
    for (uint64_t i = 1; i <= n; i++)
        append_gen(w, i, maxlen);
    wal_free(w);
    ASSERT_EQ(seg_files(dir, names, 4), 1);
    snprintf(seg, cap, "%s/%.63s", dir, names[0]);
}

/* The torn tail wal.h defines: from `from` to the last nonzero byte of
 * b[from, to) (trailing zeros are a crashed writer's reservation). */
static size_t torn_bytes(const uint8_t *b, size_t from, size_t to)
{
    while (to > from && b[to - 1] == 0)
        to--;
    return to - from;
}

/* Truncate or corrupt the last record at every byte offset: replay yields
 * exactly the complete records, and wal_open() cuts the tail and goes on
 * with the same lsn. */
static void torn_tail_at_every_offset(void)
{
    const uint64_t n = 6;
    const size_t maxlen = 90;
    char src[256], seg[512], dir[256], path[600];
    size_t len;
    uint8_t *orig;
    size_t last = rec_bytes(n, maxlen);
    struct wal_options o = opts(1 << 20, 64 << 20, WAL_SYNC_NONE);

    subdir(src, sizeof(src), "orig");
    small_log(src, n, maxlen, seg, sizeof(seg));
    orig = read_file(seg, &len);
    ASSERT(len > last);
    for (size_t k = 0; k < last; k++) {
        struct wal_scan_stats st;
        struct seen *s;
        struct wal *w;
        uint8_t *bad = malloc(len);

        /* (a) the file ends k bytes into the last record */
        snprintf(dir, sizeof(dir), "%s/cut%zu", test_tmpdir(), k);
        ASSERT_EQ(mkdir(dir, 0700), 0);
        snprintf(path, sizeof(path), "%s/%s", dir, strrchr(seg, '/') + 1);
        write_file(path, orig, len - last + k);
        s = replay(dir, 1, maxlen, &st);
        assert_range(s, 1, n - 1);
        ASSERT_EQ(st.tail_bytes, torn_bytes(orig, len - last, len - last + k));
        ASSERT(st.tail_bytes + 8 > k); /* only the record's zero bytes */
        ASSERT_EQ(st.corrupt_bytes, 0);
        free(s);
        ASSERT_EQ(wal_open(&w, dir, &o, &st), 0);
        ASSERT_EQ(st.tail_bytes, torn_bytes(orig, len - last, len - last + k));
        append_gen(w, n, maxlen); /* the torn record never returned */
        wal_free(w);
        s = replay(dir, 1, maxlen, NULL);
        assert_range(s, 1, n);
        free(s);

        /* (b) one byte of the last record is flipped */
        memcpy(bad, orig, len);
        bad[len - last + k] ^= 0x5a;
        snprintf(dir, sizeof(dir), "%s/flip%zu", test_tmpdir(), k);
        ASSERT_EQ(mkdir(dir, 0700), 0);
        snprintf(path, sizeof(path), "%s/%s", dir, strrchr(seg, '/') + 1);
        write_file(path, bad, len);
        s = replay(dir, 1, maxlen, &st);
        assert_range(s, 1, n - 1);
        ASSERT_EQ(st.tail_bytes, torn_bytes(bad, len - last, len));
        free(s);
        free(bad);
    }
    free(orig);
}

/* A damaged record in the middle is skipped; the records after it are
 * kept, by replay and by wal_open(). */
static void damaged_middle_record_is_skipped(void)
{
    char dir[256], seg[512];
    size_t len;
    size_t off = 32;
    uint8_t *buf;
    struct wal_scan_stats st;
    struct wal_options o = opts(1 << 20, 64 << 20, WAL_SYNC_NONE);
    struct seen *s;
    struct wal *w;

    subdir(dir, sizeof(dir), "wal");
    small_log(dir, 10, 200, seg, sizeof(seg));
    buf = read_file(seg, &len);
    for (uint64_t i = 1; i < 5; i++)
        off += rec_bytes(i, 200);
    buf[off + rec_bytes(5, 200) / 2] ^= 1; /* inside record 5 */
    write_file(seg, buf, len);
    free(buf);
    s = replay(dir, 1, 200, &st);
    ASSERT_EQ(s->n, 9);
    for (size_t i = 0; i < 9; i++)
        ASSERT_EQ(s->lsns[i], i < 4 ? i + 1 : i + 2);
    ASSERT_EQ(st.lost_records, 1);
    ASSERT_EQ(st.corrupt_bytes, rec_bytes(5, 200));
    ASSERT_EQ(st.tail_bytes, 0);
    free(s);
    ASSERT_EQ(wal_open(&w, dir, &o, NULL), 0);
    append_gen(w, 11, 200);
    wal_free(w);
    s = replay(dir, 10, 200, NULL);
    assert_range(s, 10, 11);
    free(s);
}

/* A payload that is itself a well-formed record with a huge lsn and an
 * unsalted CRC must not be taken for a record when its carrier is torn. */
static void forged_record_in_torn_payload_is_ignored(void)
{
    char dir[256], seg[512], names[4][64];
    uint8_t forged[64] = {0};
    const char *topic = "x/y";
    struct wal_options o = opts(1 << 20, 64 << 20, WAL_SYNC_NONE);
    struct wal_scan_stats st;
    struct wal *w;
    uint64_t lsn;
    size_t len;
    uint8_t *buf;
    struct seen *s;

    subdir(dir, sizeof(dir), "wal");
    ASSERT_EQ(wal_open(&w, dir, &o, NULL), 0);
    for (uint64_t i = 1; i <= 3; i++)
        append_gen(w, i, 50);
    /* magic "WREC", crc, lsn 2^40, recv 0, payload_len 0, topic_len 3 */
    memcpy(forged, "WREC", 4);
    forged[8 + 5] = 1;
    forged[28] = 3;
    memcpy(forged + 32, topic, 3);
    uint32_t crc = (uint32_t)crc32(0, forged + 8, 40 - 8);
    for (int i = 0; i < 4; i++)
        forged[4 + i] = (uint8_t)(crc >> (8 * i));
    /* The carrier's payload starts 32 + 5 bytes into its 8-aligned record,
     * so the forged record at payload offset 3 is 8-aligned in the file,
     * where a resynchronising scan looks. */
    uint8_t carrier[112];
    memset(carrier, 'p', sizeof(carrier));
    memcpy(carrier + 3, forged, 40);
    ASSERT_EQ(wal_append(w, "abcde", carrier, sizeof(carrier), 1, 0, &lsn), 0);
    wal_free(w);
    ASSERT_EQ(seg_files(dir, names, 4), 1);
    snprintf(seg, sizeof(seg), "%s/%.63s", dir, names[0]);
    buf = read_file(seg, &len);
    write_file(seg, buf, len - 16); /* tear the carrier's end */
    free(buf);
    s = replay(dir, 1, 50, &st);
    assert_range(s, 1, 3);
    ASSERT_EQ(st.last_lsn, 3);
    free(s);
    ASSERT_EQ(wal_open(&w, dir, &o, NULL), 0);
    append_gen(w, 4, 50); /* continues at 4, not at 2^40 + 1 */
    wal_free(w);
}

static void rotation_and_truncation(void)
{
    static char names[1024][64];
    char dir[256];
    struct wal_options o = opts(4096, 1 << 20, WAL_SYNC_NONE);
    struct wal_stats ws;
    struct wal *w;
    struct seen *s;
    size_t nseg;
    uint64_t first2;
    int k;

    subdir(dir, sizeof(dir), "wal");
    ASSERT_EQ(wal_open(&w, dir, &o, NULL), 0);
    for (uint64_t i = 1; i <= 600; i++)
        append_gen(w, i, 120);
    wal_stats(w, &ws);
    nseg = seg_files(dir, names, 1024);
    ASSERT(nseg > 10);
    ASSERT_EQ(ws.segments, nseg);
    ASSERT_EQ(ws.bytes, dir_bytes(dir));
    for (size_t i = 0; i < nseg; i++) {
        char path[512];
        struct stat sb;
        snprintf(path, sizeof(path), "%s/%.63s", dir, names[i]);
        ASSERT_EQ(stat(path, &sb), 0);
        ASSERT(sb.st_size <= 4096);
        if (i > 0) /* named by first lsn: consecutive names, growing */
            ASSERT(strcmp(names[i - 1], names[i]) < 0);
    }
    ASSERT_EQ(strtoull(names[0], NULL, 10), 1);

    ASSERT_EQ(wal_truncate_before(w, 1), 0); /* nothing is below 1 */
    k = wal_truncate_before(w, 300);
    ASSERT(k > 0);
    nseg = seg_files(dir, names, 1024);
    first2 = strtoull(names[1], NULL, 10);
    ASSERT(strtoull(names[0], NULL, 10) <= 300 && first2 > 300);
    wal_stats(w, &ws);
    ASSERT_EQ(ws.truncated_segments, k);
    ASSERT_EQ(ws.segments, nseg);
    ASSERT_EQ(ws.bytes, dir_bytes(dir));
    s = replay(dir, 300, 120, NULL);
    assert_range(s, 300, 600);
    free(s);

    /* Everything checkpointed: only the current segment stays. */
    wal_truncate_before(w, UINT64_MAX);
    ASSERT_EQ(seg_files(dir, names, 1024), 1);
    append_gen(w, 601, 120);
    wal_free(w);
    s = replay(dir, 1, 120, NULL);
    ASSERT(s->n >= 1 && s->lsns[s->n - 1] == 601);
    free(s);
}

static void budget_full_returns_enospc(void)
{
    char dir[256];
    struct wal_options o = opts(4096, 4 * 4096, WAL_SYNC_NONE);
    struct wal_stats ws;
    struct wal *w;
    uint64_t lsn = 0;
    uint64_t i;
    int rc = 0;
    static struct gen g;

    o.full_wait_ms = 20;
    subdir(dir, sizeof(dir), "wal");
    ASSERT_EQ(wal_open(&w, dir, &o, NULL), 0);
    for (i = 1; i < 1000; i++) {
        gen(i, 100, &g);
        rc = wal_append(w, g.topic, g.payload, g.len, g.qos, g.recv_ns, &lsn);
        if (rc != 0)
            break;
        ASSERT_EQ(lsn, i);
    }
    ASSERT_EQ(rc, -ENOSPC);
    wal_stats(w, &ws);
    ASSERT_EQ(ws.full_errors, 1);
    ASSERT_EQ(ws.full_waits, 1);
    ASSERT(ws.bytes <= 4 * 4096);
    ASSERT_EQ(ws.bytes, dir_bytes(dir));
    ASSERT_EQ(ws.next_lsn, i); /* the refused message took no lsn */
    ASSERT(wal_truncate_before(w, i) > 0);
    append_gen(w, i, 100);
    wal_free(w);
}

static void bad_arguments_are_refused(void)
{
    char dir[256];
    struct wal_options o = opts(4096, 1 << 20, WAL_SYNC_NONE);
    struct wal *w;
    uint64_t lsn;
    char *topic = malloc(WAL_MAX_TOPIC + 2);
    uint8_t *big = calloc(1, 5000);

    subdir(dir, sizeof(dir), "wal");
    o.segment_bytes = 100;
    ASSERT_EQ(wal_open(&w, dir, &o, NULL), -EINVAL);
    o = opts(4096, 2048, WAL_SYNC_NONE); /* budget below a segment */
    ASSERT_EQ(wal_open(&w, dir, &o, NULL), -EINVAL);
    o = opts(4096, 1 << 20, (enum wal_sync)7);
    ASSERT_EQ(wal_open(&w, dir, &o, NULL), -EINVAL);
    o = opts(4096, 1 << 20, WAL_SYNC_NONE);
    ASSERT_EQ(wal_open(&w, dir, &o, NULL), 0);
    ASSERT_EQ(wal_append(w, "t", "x", 1, 3, 0, &lsn), -EINVAL);
    ASSERT_EQ(wal_append(w, "t", NULL, 1, 1, 0, &lsn), -EINVAL);
    memset(topic, 'a', WAL_MAX_TOPIC + 1);
    topic[WAL_MAX_TOPIC + 1] = '\0';
    ASSERT_EQ(wal_append(w, topic, "x", 1, 1, 0, &lsn), -EINVAL);
    ASSERT_EQ(wal_append(w, "t", big, 5000, 1, 0, &lsn), -EMSGSIZE);
    ASSERT_EQ(wal_append(w, "t", big, WAL_MAX_PAYLOAD + 1, 1, 0, &lsn),
              -EMSGSIZE);
    ASSERT_EQ(wal_append(w, "t", NULL, 0, 0, 0, &lsn), 0); /* empty is ok */
    ASSERT_EQ(lsn, 1);
    wal_free(w);
    free(topic);
    free(big);
}

static void min_next_lsn_starts_after_checkpoint(void)
{
    char dir[256];
    struct wal_options o = opts(1 << 16, 1 << 20, WAL_SYNC_NONE);
    struct wal *w;
    struct seen *s;

    subdir(dir, sizeof(dir), "wal");
    o.min_next_lsn = 1000;
    ASSERT_EQ(wal_open(&w, dir, &o, NULL), 0);
    append_gen(w, 1000, 10);
    wal_free(w);
    o.min_next_lsn = 5; /* below what the log has: the log wins */
    ASSERT_EQ(wal_open(&w, dir, &o, NULL), 0);
    append_gen(w, 1001, 10);
    wal_free(w);
    /* A checkpoint ahead of the log (the log lost unsynced records in a
     * power cut): lsns must not be reused. */
    o.min_next_lsn = 5000;
    ASSERT_EQ(wal_open(&w, dir, &o, NULL), 0);
    append_gen(w, 5000, 10);
    wal_free(w);
    s = replay(dir, 1, 10, NULL);
    ASSERT_EQ(s->n, 3);
    ASSERT_EQ(s->lsns[0], 1000);
    ASSERT_EQ(s->lsns[1], 1001);
    ASSERT_EQ(s->lsns[2], 5000);
    free(s);
}

static void torn_segment_header_is_removed(void)
{
    char dir[256], path[512], names[8][64];
    struct wal_options o = opts(4096, 1 << 20, WAL_SYNC_NONE);
    struct wal_scan_stats st;
    struct wal *w;
    struct seen *s;

    subdir(dir, sizeof(dir), "wal");
    ASSERT_EQ(wal_open(&w, dir, &o, NULL), 0);
    for (uint64_t i = 1; i <= 5; i++)
        append_gen(w, i, 10);
    wal_free(w);
    /* A crash while creating the next segment left 10 bytes of header. */
    snprintf(path, sizeof(path), "%s/%020d.wal", dir, 6);
    write_file(path, (const uint8_t *)"WEIRWAL\0\1\0", 10);
    ASSERT_EQ(wal_open(&w, dir, &o, &st), 0);
    append_gen(w, 6, 10); /* continues segment 1 */
    wal_free(w);
    s = replay(dir, 1, 10, &st);
    assert_range(s, 1, 6);
    ASSERT_EQ(st.bad_segments, 0);
    free(s);
    ASSERT_EQ(seg_files(dir, names, 8), 1);

    /* A damaged header in the middle: replay skips that segment only. */
    ASSERT_EQ(wal_open(&w, dir, &o, &st), 0);
    for (uint64_t i = 7; i <= 200; i++)
        append_gen(w, i, 10);
    wal_free(w);
    ASSERT(seg_files(dir, names, 8) >= 3);
    snprintf(path, sizeof(path), "%s/%.63s", dir, names[0]);
    {
        size_t len;
        uint8_t *buf = read_file(path, &len);
        buf[20] ^= 0xff;
        write_file(path, buf, len);
        free(buf);
    }
    s = replay(dir, 1, 10, &st);
    ASSERT_EQ(st.bad_segments, 1);
    assert_range(s, strtoull(names[1], NULL, 10), 200);
    free(s);
}

static void sync_policies_advance_synced_lsn(void)
{
    char dir[256];
    struct wal_options o = opts(4096, 1 << 20, WAL_SYNC_ALWAYS);
    struct wal_stats ws;
    struct wal *w;

    subdir(dir, sizeof(dir), "always");
    ASSERT_EQ(wal_open(&w, dir, &o, NULL), 0);
    for (uint64_t i = 1; i <= 50; i++) {
        append_gen(w, i, 100);
        wal_stats(w, &ws);
        ASSERT_EQ(ws.synced_lsn, i);
    }
    wal_free(w);

    o = opts(4096, 1 << 20, WAL_SYNC_NONE);
    subdir(dir, sizeof(dir), "none");
    ASSERT_EQ(wal_open(&w, dir, &o, NULL), 0);
    for (uint64_t i = 1; i <= 100; i++) /* several segments */
        append_gen(w, i, 100);
    wal_stats(w, &ws);
    ASSERT_EQ(ws.synced_lsn, 0);
    ASSERT_EQ(ws.syncs, 0);
    ASSERT_EQ(wal_sync(w), 0);
    wal_stats(w, &ws);
    ASSERT_EQ(ws.synced_lsn, 100);
    ASSERT(ws.syncs >= ws.segments); /* every unsynced segment, once */
    wal_free(w);

    o = opts(4096, 1 << 20, WAL_SYNC_INTERVAL);
    o.sync_interval_ms = 1;
    subdir(dir, sizeof(dir), "interval");
    ASSERT_EQ(wal_open(&w, dir, &o, NULL), 0);
    append_gen(w, 1, 100);
    nanosleep(&(struct timespec){0, 3000000}, NULL);
    append_gen(w, 2, 100);
    wal_stats(w, &ws);
    ASSERT_EQ(ws.synced_lsn, 2);
    wal_free(w);
}

/* Content for the kill test: large payloads (up to 128 KiB, cheap to
 * generate) so that the writev a SIGKILL interrupts is often half done. */
#define KILL_MAXP (128u << 10)

static size_t kill_payload(uint64_t lsn, uint64_t *words)
{
    size_t len = (size_t)((lsn * 2654435761u) % KILL_MAXP);

    for (size_t i = 0; i < (len + 7) / 8; i++)
        words[i] = lsn * 0x9e3779b97f4a7c15ULL ^ i;
    return len;
}

struct kill_seen {
    uint64_t *words; /* scratch, KILL_MAXP bytes */
    uint64_t n;      /* records seen, which must be lsns 1..n */
};

static int check_kill(void *ctx, const struct wal_record *r)
{
    struct kill_seen *k = ctx;
    size_t len = kill_payload(r->lsn, k->words);

    ASSERT_EQ(r->lsn, k->n + 1);
    ASSERT_STREQ(r->topic, "sensors/kill");
    ASSERT_EQ(r->payload_len, len);
    ASSERT(memcmp(r->payload, k->words, len) == 0);
    k->n++;
    return 0;
}

static void kill_child(const char *dir, int fd)
{
    struct wal_options o = opts(1 << 20, 1ull << 30, WAL_SYNC_NONE);
    uint64_t *words = malloc(KILL_MAXP);
    struct wal_stats ws;
    struct wal *w;
    uint64_t lsn;

    if (words == NULL || wal_open(&w, dir, &o, NULL) != 0)
        _exit(3);
    wal_stats(w, &ws);
    for (uint64_t i = ws.next_lsn;; i++) {
        size_t len = kill_payload(i, words);
        if (wal_append(w, "sensors/kill", words, len, 1, 0, &lsn) != 0 ||
            lsn != i)
            _exit(4);
        if (write(fd, &lsn, sizeof(lsn)) != sizeof(lsn))
            _exit(5);
    }
}

/* A child appends records as fast as it can and reports each lsn through a
 * pipe once wal_append() returned; it is SIGKILLed mid-stream, several
 * times, each run reopening (and so recovering) the same log. Every
 * reported lsn must be replayed with its content; the log holds exactly
 * the lsns 1..M, M >= the highest reported. */
static void killed_writer_loses_no_returned_append(void)
{
    char dir[256];
    uint64_t seed = test_seed();
    uint64_t max_reported = 0;
    struct kill_seen k = {.words = malloc(KILL_MAXP)};

    ASSERT(k.words != NULL);
    subdir(dir, sizeof(dir), "wal");
    for (int round = 0; round < 6; round++) {
        struct wal_scan_stats st;
        int fds[2];
        pid_t pid;
        uint64_t got = 0;
        uint64_t lsn;
        uint64_t want = 20 + test_rand(&seed) % 80;
        int status;

        ASSERT_EQ(pipe(fds), 0);
        fflush(NULL);
        pid = fork();
        ASSERT(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            kill_child(dir, fds[1]);
        }
        close(fds[1]);
        while (got < want && read(fds[0], &lsn, sizeof(lsn)) == sizeof(lsn)) {
            ASSERT(lsn > max_reported);
            max_reported = lsn;
            got++;
        }
        /* Land the kill anywhere in the next append, not just after the
         * child's pipe write. */
        nanosleep(&(struct timespec){0, (long)(test_rand(&seed) % 300000)},
                  NULL);
        ASSERT_EQ(kill(pid, SIGKILL), 0);
        while (read(fds[0], &lsn, sizeof(lsn)) == sizeof(lsn))
            max_reported = lsn; /* written before it died */
        close(fds[0]);
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

        k.n = 0;
        ASSERT_EQ(wal_replay(dir, 1, check_kill, &k, &st), 0);
        ASSERT(k.n >= max_reported); /* and 1..n contiguous, checked */
        ASSERT_EQ(st.corrupt_bytes, 0);
        ASSERT_EQ(st.lost_records, 0);
        fprintf(stderr,
                "# round %d: %llu records, %llu reported, torn tail "
                "%llu bytes\n",
                round, (unsigned long long)k.n,
                (unsigned long long)max_reported,
                (unsigned long long)st.tail_bytes);
        max_reported = k.n; /* the next run continues after all of them */
    }
    free(k.words);
}

/* ---- The mapped window (wal.c) ----------------------------------------- */

/* maxlen of records_across_windows() for lsn. */
static size_t mixed_max(uint64_t lsn)
{
    return lsn % 100 == 0 ? MAXP : 2000;
}

static int check_mixed(void *ctx, const struct wal_record *r)
{
    struct seen *s = ctx;

    s->maxlen = mixed_max(r->lsn);
    return check_rec(ctx, r);
}

/* Bytes of records 1..n of records_across_windows(). */
static uint64_t rec_total(uint64_t n)
{
    uint64_t t = 0;

    for (uint64_t i = 1; i <= n; i++)
        t += rec_bytes(i, mixed_max(i));
    return t;
}

/* Bytes of records 1..n generated with maxlen. */
static uint64_t rec_bytes_upto(uint64_t n, size_t maxlen)
{
    uint64_t t = 0;

    for (uint64_t i = 1; i <= n; i++)
        t += rec_bytes(i, maxlen);
    return t;
}

/* Records of every size in 8 MiB segments, so that some cross the 1 MiB
 * windows' ends (written with pwrite) and the rest are copied into the
 * mapping: replay, while the writer still has the file open and mapped,
 * and again after closing, gives every record back; closing leaves the
 * files exactly as long as their records. */
static void records_across_windows(void)
{
    char dir[256];
    static char names[16][64];
    struct wal_options o = opts(8 << 20, 64 << 20, WAL_SYNC_NONE);
    struct wal_scan_stats st;
    struct wal_stats ws;
    struct wal *w;
    struct seen *s;
    uint64_t i;

    subdir(dir, sizeof(dir), "wal");
    ASSERT_EQ(wal_open(&w, dir, &o, NULL), 0);
    for (i = 1; i <= 3000; i++)
        append_gen(w, i, mixed_max(i));
    wal_stats(w, &ws);
    ASSERT_EQ(ws.bytes, dir_bytes(dir)); /* reservation included */
    s = calloc(1, sizeof(*s));
    ASSERT(s != NULL);
    ASSERT_EQ(wal_replay(dir, 1, check_mixed, s, &st), 0);
    assert_range(s, 1, 3000);
    ASSERT_EQ(st.corrupt_bytes + st.tail_bytes + st.lost_records, 0);
    free(s);
    wal_free(w);
    s = calloc(1, sizeof(*s));
    ASSERT(s != NULL);
    ASSERT_EQ(wal_replay(dir, 1, check_mixed, s, &st), 0);
    assert_range(s, 1, 3000);
    free(s);
    ASSERT_EQ(seg_files(dir, names, 16), 1);
    ASSERT_EQ(dir_bytes(dir), rec_total(3000) + 32);
}

/* A writer that dies with its window mapped (kill -9, here _exit without
 * wal_free) leaves its records -- they are in the page cache -- and the
 * reserved zeros after them, which are neither a torn tail nor damage;
 * wal_open() cuts them off and appending goes on. */
static void crashed_writer_leaves_reserved_zeros(void)
{
    char dir[256];
    static char names[4][64];
    struct wal_options o = opts(8 << 20, 64 << 20, WAL_SYNC_NONE);
    struct wal_scan_stats st;
    struct wal_stats ws;
    struct wal *w;
    struct seen *s;
    pid_t pid;
    int status;

    subdir(dir, sizeof(dir), "wal");
    fflush(NULL);
    pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        if (wal_open(&w, dir, &o, NULL) != 0)
            _exit(3);
        for (uint64_t i = 1; i <= 50; i++)
            append_gen(w, i, 300);
        _exit(0);
    }
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ASSERT_EQ(seg_files(dir, names, 4), 1);
    ASSERT(dir_bytes(dir) > rec_bytes_upto(50, 300) + 32); /* zeros */
    s = replay(dir, 1, 300, &st);
    assert_range(s, 1, 50);
    ASSERT_EQ(st.corrupt_bytes + st.tail_bytes + st.lost_records, 0);
    free(s);
    ASSERT_EQ(wal_open(&w, dir, &o, &st), 0);
    ASSERT_EQ(st.tail_bytes, 0);
    ASSERT_EQ(st.last_lsn, 50);
    ASSERT_EQ(dir_bytes(dir), rec_bytes_upto(50, 300) + 32); /* cut */
    append_gen(w, 51, 300);
    wal_stats(w, &ws);
    ASSERT_EQ(ws.bytes, dir_bytes(dir));
    wal_free(w);
    s = replay(dir, 1, 300, NULL);
    assert_range(s, 1, 51);
    free(s);
}

/* ---- Concurrent truncation (TSan) -------------------------------------- */

struct conc {
    struct wal *w;
    atomic_bool done;
    atomic_uint_fast64_t truncated_to; /* lsn passed to the last truncate */
    uint64_t n;
};

static void *writer_thread(void *arg)
{
    struct conc *c = arg;

    for (uint64_t i = 1; i <= c->n; i++) {
        char topic[32];
        uint8_t payload[64];
        uint64_t lsn;
        snprintf(topic, sizeof(topic), "t/%llu", (unsigned long long)i);
        memset(payload, (int)i, sizeof(payload));
        ASSERT_EQ(
            wal_append(c->w, topic, payload, (i % 64), 1, (int64_t)i, &lsn), 0);
        ASSERT_EQ(lsn, i);
    }
    atomic_store(&c->done, true);
    return NULL;
}

static int check_conc(void *ctx, const struct wal_record *r)
{
    uint64_t *next = ctx;
    char topic[32];

    ASSERT_EQ(r->lsn, *next);
    snprintf(topic, sizeof(topic), "t/%llu", (unsigned long long)r->lsn);
    ASSERT_STREQ(r->topic, topic);
    ASSERT_EQ(r->payload_len, r->lsn % 64);
    ASSERT_EQ(r->recv_ns, (int64_t)r->lsn);
    (*next)++;
    return 0;
}

static void concurrent_truncate_and_sync(void)
{
    char dir[256];
    struct wal_options o = opts(4096, 8 * 4096, WAL_SYNC_NONE);
    struct conc c = {.n = 20000};
    struct wal_stats ws;
    pthread_t th;
    uint64_t next;
    unsigned spins = 0;

    o.full_wait_ms = 30000; /* the writer must never give up here */
    subdir(dir, sizeof(dir), "wal");
    ASSERT_EQ(wal_open(&c.w, dir, &o, NULL), 0);
    ASSERT_EQ(pthread_create(&th, NULL, writer_thread, &c), 0);
    while (!atomic_load(&c.done)) {
        wal_stats(c.w, &ws);
        uint64_t upto = ws.next_lsn > 20 ? ws.next_lsn - 20 : 1;
        ASSERT(wal_truncate_before(c.w, upto) >= 0);
        atomic_store(&c.truncated_to, upto);
        if (++spins % 16 == 0)
            ASSERT_EQ(wal_sync(c.w), 0);
        sched_yield();
    }
    ASSERT_EQ(pthread_join(th, NULL), 0);
    wal_stats(c.w, &ws);
    ASSERT_EQ(ws.next_lsn, c.n + 1);
    ASSERT_EQ(ws.full_errors, 0);
    ASSERT_EQ(ws.io_errors, 0);
    ASSERT(ws.bytes <= o.max_bytes);
    ASSERT_EQ(ws.bytes, dir_bytes(dir));
    wal_free(c.w);
    next = atomic_load(&c.truncated_to);
    ASSERT_EQ(wal_replay(dir, next, check_conc, &next, NULL), 0);
    ASSERT_EQ(next, c.n + 1); /* everything from the truncation point on */
}

static const struct test tests[] = {
    {"round_trip", round_trip},
    {"replay_of_missing_dir_is_empty", replay_of_missing_dir_is_empty},
    {"replay_callback_can_stop", replay_callback_can_stop},
    {"torn_tail_at_every_offset", torn_tail_at_every_offset},
    {"damaged_middle_record_is_skipped", damaged_middle_record_is_skipped},
    {"forged_record_in_torn_payload_is_ignored",
     forged_record_in_torn_payload_is_ignored},
    {"rotation_and_truncation", rotation_and_truncation},
    {"budget_full_returns_enospc", budget_full_returns_enospc},
    {"bad_arguments_are_refused", bad_arguments_are_refused},
    {"min_next_lsn_starts_after_checkpoint",
     min_next_lsn_starts_after_checkpoint},
    {"torn_segment_header_is_removed", torn_segment_header_is_removed},
    {"sync_policies_advance_synced_lsn", sync_policies_advance_synced_lsn},
    {"killed_writer_loses_no_returned_append",
     killed_writer_loses_no_returned_append},
    {"concurrent_truncate_and_sync", concurrent_truncate_and_sync},
    {"records_across_windows", records_across_windows},
    {"crashed_writer_leaves_reserved_zeros",
     crashed_writer_leaves_reserved_zeros},
    {NULL, NULL}};

int main(int argc, char **argv)
{
    return test_main(argc, argv, tests);
}
