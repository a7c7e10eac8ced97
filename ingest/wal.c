/* wal.c -- the durable ingest log (see wal.h for the format and policy).
 *
 * Appends go through a shared mapping. The writer keeps a window of the
 * current segment (WAL_WINDOW, 1 MiB, or less for tiny segments) mapped
 * MAP_SHARED, its blocks reserved with posix_fallocate() when it is
 * mapped, and copies each record straight into it: topic, payload, the
 * header fields, then zlib's crc32 over the copy, the CRC and the magic
 * last. Stores into a shared file mapping land in the page cache, which
 * the kernel owns, so once the copy is done the record survives kill -9
 * of weir exactly as a write(2) would have made it -- without the
 * syscall, which was the most expensive part of an append (~1.5-3 us of
 * ~3 us, against ~0.1 us for the copy and CRC of a 100-byte message;
 * bench/bench_wal.c). fdatasync(2) on the descriptor flushes pages
 * dirtied through the mapping like any others, so the sync policies are
 * unchanged. A record that would cross the window's end, or any record
 * when mapping is impossible (a file system without mmap, a failed
 * reservation), is written with pwritev(2) instead, as before; both paths
 * write the same bytes at the same offsets, and the page cache keeps them
 * coherent.
 *
 * What the mapping changes on disk: the current segment's file is longer
 * than its records, by zeros up to the end of the reserved window (at
 * most WAL_WINDOW). Rotation and wal_free() cut the file back to its
 * records, so closed segments look exactly as before; after a crash the
 * last segment ends in zeros, which scanning skips (no record starts with
 * a zero magic) and does not count as a torn tail, and which wal_open()
 * truncates. The disk budget (max_bytes) counts record bytes; the
 * reservation can exceed it by one window. Risks of a mapping that a
 * write(2) does not have: an I/O error while faulting a page in (only the
 * partly written page of a segment continued after a restart is ever read
 * from disk) or another process truncating the file would raise SIGBUS
 * instead of returning EIO; the reservation makes ENOSPC impossible on
 * file systems that honour fallocate (not on copy-on-write ones, where a
 * full disk can also turn into SIGBUS). A gateway's log directory is
 * weir's own: the trade is one syscall per message.
 *
 * Cost model. An append copies the record into the window (one page fault
 * per 4 KiB page, i.e. every ~40 typical records, and one per page after
 * each flush, when writeback write-protects it again), computes the CRC
 * (a few GB/s), and updates three counters. No syscall, no allocation, no
 * lock, one clock read under WAL_SYNC_INTERVAL; every WAL_WINDOW bytes an
 * munmap, a posix_fallocate and an mmap. The writer takes the mutex only
 * to rotate (once per segment_bytes) or when the disk budget is
 * exhausted. Start-up scans the last segment once (mmap, CRC of every
 * record: tens of milliseconds for 64 MiB).
 *
 * Forged records. A payload is attacker-controlled bytes that land inside
 * the log, and recovery scans byte ranges for something that looks like a
 * record. So that a payload crafted to look like a record (with a huge lsn)
 * can never be taken for one when a crash tears the record that carries
 * it, every segment has a random 64-bit salt in its header that seeds the
 * CRC of its records: a record is only valid in the segment that wrote it.
 *
 * Threads: see wal.h. The writer owns fd, seg_bytes, seed, next_lsn and
 * the window and reads them without a lock; it writes fd only under mu,
 * so a wal_sync() on another thread, which reads fd under mu, never sees a
 * closed descriptor. segs[], dir_dirty and the condition variable are
 * guarded by mu. The counters are atomics. */
#include "ingest/wal.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "ingest/log.h"

#define WAL_VERSION 1u
#define WAL_REC_MAGIC 0x43455257u /* "WREC" little-endian */
#define WAL_NAME_LEN 24           /* 20 digits + ".wal" */
#define WAL_WINDOW (1u << 20)     /* bytes of the segment mapped at once */

static const uint8_t seg_magic[8] = {'W', 'E', 'I', 'R', 'W', 'A', 'L', 0};
static const uint8_t zeros[8];

struct wal_seg {
    uint64_t first_lsn; /* From the file name. */
    uint64_t bytes;     /* File size; final once the segment is closed. */
    bool synced;        /* Known to be fdatasync'ed since its last write. */
};

struct wal {
    char *dir;                  /* Owned path of the directory. */
    int dir_fd;                 /* For fsync of the directory. */
    struct wal_options opt;     /* Copied at open. */
    pthread_t writer;           /* Set by the first append; for an assert. */
    bool writer_known;          /* Writer: writer is set. */
    int fd;                     /* Writer: current segment; changed under mu. */
    uint64_t seg_bytes;         /* Writer: bytes in the current segment. */
    uint32_t seed;              /* Writer: CRC seed of the current segment. */
    uint64_t next_lsn;          /* Writer: lsn of the next append. */
    pthread_mutex_t mu;         /* Guards segs, nsegs, dir_dirty, fd writes. */
    pthread_cond_t room;        /* Signalled when truncation frees bytes. */
    struct wal_seg *segs;       /* Under mu: oldest first; last is current. */
    size_t nsegs;               /* Under mu. */
    size_t cap;                 /* Under mu: entries allocated in segs. */
    bool dir_dirty;             /* Under mu: a segment was created unsynced. */
    atomic_uint_fast64_t bytes; /* All segments, on disk. */
    atomic_uint_fast64_t written_lsn; /* Last lsn written (release). */
    atomic_uint_fast64_t synced_lsn;  /* Last lsn known durable. */
    clockid_t sync_clock;             /* Of last_sync_ns; constant. */
    atomic_int_fast64_t last_sync_ns; /* sync_clock_ns() of the last sync
                                         of the current segment. */
    atomic_uint_fast64_t nsegments;   /* Mirror of nsegs for stats. */
    atomic_uint_fast64_t appends;
    atomic_uint_fast64_t syncs;
    atomic_uint_fast64_t full_waits;
    atomic_uint_fast64_t full_errors;
    atomic_uint_fast64_t io_errors;
    atomic_uint_fast64_t truncated;
    struct log_ratelimit io_log; /* For write/sync error lines. */
    uint8_t *win;                /* Writer: mapped window, or NULL. */
    uint64_t win_off;            /* Writer: its offset in the segment. */
    uint64_t win_len;            /* Writer: its length; a power of two, a
                                    multiple of the page size. */
    uint64_t alloc_end;          /* Writer: the segment file's size (its
                                    records, then reserved zeros). */
    bool no_map;                 /* Writer: mmap failed; pwrite only. */
    atomic_bool unbounded;       /* wal_set_unbounded(): no budget. */
};

/* ---- Encoding ---------------------------------------------------------- */

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static uint64_t align8(uint64_t n)
{
    return (n + 7) & ~(uint64_t)7;
}

/* zlib's crc32() returns 0 for a NULL buffer whatever crc is: skip empties. */
static uint32_t crc_add(uint32_t crc, const void *p, size_t n)
{
    return n ? (uint32_t)crc32_z(crc, p, n) : crc;
}

static uint32_t salt_seed(uint64_t salt)
{
    uint8_t b[8];

    put64(b, salt);
    return crc_add(0, b, 8);
}

/* Total bytes of a record with these lengths. */
static uint64_t rec_size(size_t topic_len, size_t payload_len)
{
    return align8(WAL_REC_HEADER + (uint64_t)topic_len + payload_len);
}

static int64_t monotonic_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The clock of the inline-sync check on every append (w->sync_clock):
 * the vDSO's coarse clock (a few ns, a timer tick's resolution, 1-10 ms)
 * is plenty against 1.5 intervals of 100 ms or more; shorter intervals
 * read the precise one. */
static int64_t sync_clock_ns(const struct wal *w)
{
    struct timespec ts;

    clock_gettime(w->sync_clock, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void atomic_max(atomic_uint_fast64_t *a, uint64_t v)
{
    uint_fast64_t cur = atomic_load_explicit(a, memory_order_relaxed);

    while (cur < v &&
           !atomic_compare_exchange_weak_explicit(
               a, &cur, v, memory_order_relaxed, memory_order_relaxed))
        ;
}

/* ---- Segment files ----------------------------------------------------- */

static void seg_name(char *buf, size_t cap, const char *dir, uint64_t lsn)
{
    snprintf(buf, cap, "%s/%020" PRIu64 ".wal", dir, lsn);
}

/* true and *lsn if name is exactly 20 digits + ".wal". */
static bool parse_seg_name(const char *name, uint64_t *lsn)
{
    uint64_t v = 0;

    if (strlen(name) != WAL_NAME_LEN || strcmp(name + 20, ".wal") != 0)
        return false;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9')
            return false;
        if (v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(name[i] - '0');
    }
    *lsn = v;
    return v > 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* The first lsns of the segments in dir, sorted; *out returns owned (free).
 * An absent directory is an empty list. */
static int list_segments(const char *dir, uint64_t **out, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    uint64_t *v = NULL;
    size_t len = 0;
    size_t cap = 0;

    *out = NULL;
    *n = 0;
    if (d == NULL)
        return errno == ENOENT ? 0 : -errno;
    while ((e = readdir(d)) != NULL) {
        uint64_t lsn;
        if (!parse_seg_name(e->d_name, &lsn))
            continue;
        if (len == cap) {
            uint64_t *nv = realloc(v, (cap ? cap * 2 : 16) * sizeof(*v));
            if (nv == NULL) {
                free(v);
                closedir(d);
                return -ENOMEM;
            }
            v = nv;
            cap = cap ? cap * 2 : 16;
        }
        v[len++] = lsn;
    }
    closedir(d);
    if (len > 1)
        qsort(v, len, sizeof(*v), cmp_u64);
    *out = v;
    *n = len;
    return 0;
}

/* Check a segment header; true and *seed if it is valid for first_lsn. */
static bool seg_header_ok(const uint8_t *h, uint64_t first_lsn, uint32_t *seed)
{
    if (memcmp(h, seg_magic, 8) != 0 || get32(h + 8) != WAL_VERSION)
        return false;
    if (get32(h + 12) != crc_add(0, h + 16, 16) || get64(h + 16) != first_lsn)
        return false;
    *seed = salt_seed(get64(h + 24));
    return true;
}

/* ---- Scanning ---------------------------------------------------------- */

/* A record found in a mapped segment. */
struct rec_view {
    uint64_t lsn;
    int64_t recv_ns;
    const uint8_t *topic;
    size_t topic_len;
    const uint8_t *payload;
    size_t payload_len;
    int qos;
    uint64_t size; /* bytes, padding included */
};

/* true if a valid record with lsn >= min_lsn starts at map[off]. */
static bool rec_check(const uint8_t *map, uint64_t size, uint64_t off,
                      uint64_t min_lsn, uint32_t seed, struct rec_view *rv)
{
    const uint8_t *p = map + off;
    uint64_t total;

    if (size - off < WAL_REC_HEADER || get32(p) != WAL_REC_MAGIC)
        return false;
    rv->payload_len = get32(p + 24);
    rv->topic_len = (size_t)p[28] | (size_t)p[29] << 8;
    rv->qos = p[30];
    if (rv->payload_len > WAL_MAX_PAYLOAD || rv->qos > 2 || p[31] != 0)
        return false;
    total = rec_size(rv->topic_len, rv->payload_len);
    if (total > size - off)
        return false;
    rv->lsn = get64(p + 8);
    if (rv->lsn < min_lsn || rv->lsn == 0)
        return false;
    if (crc_add(seed, p + 8, total - 8) != get32(p + 4))
        return false;
    rv->recv_ns = (int64_t)get64(p + 16);
    rv->topic = p + WAL_REC_HEADER;
    rv->payload = rv->topic + rv->topic_len;
    rv->size = total;
    return true;
}

/* State of one segment scan. */
struct seg_scan {
    uint64_t first_lsn; /* In: from the file name. */
    uint64_t min_lsn;   /* In: records below are invalid; out: last + 1. */
    uint64_t from_lsn;  /* In: deliver records >= this. */
    wal_replay_fn fn;   /* In: NULL to only scan. */
    void *ctx;          /* In. */
    char *topic_buf;    /* In: WAL_MAX_TOPIC + 1 bytes, when fn is set. */
    uint64_t valid_end; /* Out: offset after the last valid record. */
    uint64_t data_end;  /* Out: offset after the last nonzero byte. */
    uint64_t size;      /* Out: file size. */
    uint64_t last_lsn;  /* Out: last valid lsn (0: none). */
    uint64_t records;   /* Out: valid records found. */
    uint32_t seed;      /* Out: CRC seed from the header. */
};

static int deliver(struct seg_scan *sc, const struct rec_view *rv,
                   struct wal_scan_stats *st)
{
    struct wal_record r;

    if (sc->fn == NULL || rv->lsn < sc->from_lsn)
        return 0;
    memcpy(sc->topic_buf, rv->topic, rv->topic_len);
    sc->topic_buf[rv->topic_len] = '\0';
    r.lsn = rv->lsn;
    r.recv_ns = rv->recv_ns;
    r.topic = sc->topic_buf;
    r.topic_len = strlen(sc->topic_buf);
    r.payload = rv->payload;
    r.payload_len = rv->payload_len;
    r.qos = rv->qos;
    st->records++;
    if (st->first_lsn == 0)
        st->first_lsn = rv->lsn;
    return sc->fn(sc->ctx, &r);
}

/* Offset just past the last nonzero byte of map[from, to), or from. */
static uint64_t nonzero_end(const uint8_t *map, uint64_t from, uint64_t to)
{
    while (to > from && map[to - 1] == 0)
        to--;
    return to;
}

/* Walk the records of a mapped segment; resynchronise over damage. No
 * record starts in the zeros at the end (a crashed writer's reservation,
 * see the top): its magic is not zero. */
static int scan_records(const uint8_t *map, struct seg_scan *sc,
                        struct wal_scan_stats *st)
{
    uint64_t off = WAL_SEG_HEADER;
    uint64_t expect = sc->first_lsn;
    struct rec_view rv;
    int rc;

    sc->valid_end = WAL_SEG_HEADER;
    sc->data_end = nonzero_end(map, WAL_SEG_HEADER, sc->size);
    while (off < sc->data_end && sc->size - off >= WAL_REC_HEADER) {
        if (!rec_check(map, sc->size, off, sc->min_lsn, sc->seed, &rv)) {
            off += 8;
            continue;
        }
        st->corrupt_bytes += off - sc->valid_end;
        if (rv.lsn > expect)
            st->lost_records += rv.lsn - expect;
        expect = rv.lsn + 1;
        sc->min_lsn = rv.lsn + 1;
        sc->last_lsn = rv.lsn;
        sc->records++;
        off += rv.size;
        sc->valid_end = off;
        if (st->last_lsn < rv.lsn)
            st->last_lsn = rv.lsn;
        if ((rc = deliver(sc, &rv, st)) != 0)
            return rc;
    }
    if (sc->data_end < sc->valid_end) /* the last record ends in zeros */
        sc->data_end = sc->valid_end;
    st->tail_bytes += sc->data_end - sc->valid_end;
    return 0;
}

/* Scan the segment at path. Returns 0, the callback's value, -EBADMSG for
 * a bad header (sc->size still set), or a negative errno. */
static int seg_scan(const char *path, struct seg_scan *sc,
                    struct wal_scan_stats *st)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    uint8_t *map;
    int rc;

    sc->last_lsn = 0;
    sc->records = 0;
    sc->size = 0;
    sc->valid_end = 0;
    sc->data_end = 0;
    if (fd < 0)
        return -errno;
    if (fstat(fd, &sb) != 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    sc->size = (uint64_t)sb.st_size;
    if (sc->size < WAL_SEG_HEADER) {
        close(fd);
        return -EBADMSG;
    }
    map = mmap(NULL, sc->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return -errno;
    if (!seg_header_ok(map, sc->first_lsn, &sc->seed))
        rc = -EBADMSG;
    else
        rc = scan_records(map, sc, st);
    munmap(map, sc->size);
    if (rc == 0)
        st->segments++;
    return rc;
}

int wal_replay(const char *dir, uint64_t from_lsn, wal_replay_fn fn, void *ctx,
               struct wal_scan_stats *st)
{
    struct wal_scan_stats dummy;
    struct seg_scan sc = {.from_lsn = from_lsn, .fn = fn, .ctx = ctx};
    char path[4096];
    uint64_t *lsns;
    size_t n;
    size_t i = 0;
    int rc;

    st = st ? st : &dummy;
    memset(st, 0, sizeof(*st));
    if ((rc = list_segments(dir, &lsns, &n)) < 0)
        return rc;
    if ((sc.topic_buf = malloc(WAL_MAX_TOPIC + 1)) == NULL) {
        free(lsns);
        return -ENOMEM;
    }
    while (i + 1 < n && lsns[i + 1] <= from_lsn)
        i++; /* segments before i hold only lsns < from_lsn */
    for (rc = 0; i < n && rc == 0; i++) {
        seg_name(path, sizeof(path), dir, lsns[i]);
        sc.first_lsn = lsns[i];
        if (sc.min_lsn < lsns[i])
            sc.min_lsn = lsns[i];
        rc = seg_scan(path, &sc, st);
        if (rc == -EBADMSG) {
            st->bad_segments++;
            log_msg(LOG_ERROR, "wal: %s: bad segment header, skipped", path);
            rc = 0;
        }
    }
    free(sc.topic_buf);
    free(lsns);
    return rc;
}

/* ---- Writer ------------------------------------------------------------ */

static int sync_dir(struct wal *w)
{
    return fsync(w->dir_fd) == 0 ? 0 : -errno;
}

/* Create the segment for first_lsn: header written, fd returned. */
static int seg_create(struct wal *w, uint64_t first_lsn, int *fd_out,
                      uint32_t *seed)
{
    char path[4096];
    uint8_t h[WAL_SEG_HEADER];
    uint64_t salt;
    int fd;

    if (getrandom(&salt, sizeof(salt), 0) != (ssize_t)sizeof(salt))
        salt = (uint64_t)monotonic_ns() * 0x9e3779b97f4a7c15ULL ^
               (uint64_t)getpid();
    memcpy(h, seg_magic, 8);
    put32(h + 8, WAL_VERSION);
    put64(h + 16, first_lsn);
    put64(h + 24, salt);
    put32(h + 12, crc_add(0, h + 16, 16));
    seg_name(path, sizeof(path), w->dir, first_lsn);
    fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0)
        return -errno;
    if (write(fd, h, sizeof(h)) != (ssize_t)sizeof(h)) {
        int rc = errno ? -errno : -EIO;
        close(fd);
        unlink(path);
        return rc;
    }
    *fd_out = fd;
    *seed = salt_seed(salt);
    return 0;
}

static int segs_push(struct wal *w, uint64_t first_lsn, uint64_t bytes)
{
    if (w->nsegs == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        struct wal_seg *s = realloc(w->segs, cap * sizeof(*s));
        if (s == NULL)
            return -ENOMEM;
        w->segs = s;
        w->cap = cap;
    }
    w->segs[w->nsegs++] = (struct wal_seg){first_lsn, bytes, false};
    atomic_store(&w->nsegments, w->nsegs);
    return 0;
}

static void count_io_error(struct wal *w, const char *what, int err)
{
    atomic_fetch_add(&w->io_errors, 1);
    log_limited(&w->io_log, LOG_ERROR, "wal: %s: %s", what, strerror(err));
}

static int do_fdatasync(struct wal *w, int fd)
{
    atomic_fetch_add(&w->syncs, 1);
    if (fdatasync(fd) == 0)
        return 0;
    count_io_error(w, "fdatasync", errno);
    return -errno;
}

/* ---- Writer: the mapped window (see the top) -------------------------- */

/* The current segment's file is now v bytes long: count the difference
 * (the budget and `bytes` count what is on disk, reservation included). */
static void set_alloc_end(struct wal *w, uint64_t v)
{
    if (v >= w->alloc_end)
        atomic_fetch_add(&w->bytes, v - w->alloc_end);
    else
        atomic_fetch_sub(&w->bytes, w->alloc_end - v);
    w->alloc_end = v;
}

/* Drop the window; its dirty pages stay in the page cache. */
static void win_unmap(struct wal *w)
{
    if (w->win != NULL) {
        munmap(w->win, w->win_len);
        w->win = NULL;
    }
}

/* Cut the current segment's file back to its records: the reserved zeros
 * before it is closed, and whatever a failed write left (always). */
static void trim(struct wal *w, bool always)
{
    win_unmap(w);
    if ((always || w->alloc_end != w->seg_bytes) &&
        ftruncate(w->fd, (off_t)w->seg_bytes) != 0)
        count_io_error(w, "cutting back the segment file", errno);
    else
        set_alloc_end(w, w->seg_bytes);
}

/* Map the window that holds offset off of the current segment, reserving
 * its blocks first. false if that failed (then pwrite: a full disk or a
 * file system without mmap shows up there, as an error to return). */
static bool win_map(struct wal *w, uint64_t off)
{
    uint64_t start = off & ~(w->win_len - 1);
    uint64_t end = start + w->win_len;
    void *p;

    win_unmap(w);
    if (end > w->alloc_end) {
        if (posix_fallocate(w->fd, (off_t)w->alloc_end,
                            (off_t)(end - w->alloc_end)) != 0)
            return false; /* the file may have grown: trim() cuts it */
        set_alloc_end(w, end);
    }
    p = mmap(NULL, w->win_len, PROT_READ | PROT_WRITE, MAP_SHARED, w->fd,
             (off_t)start);
    if (p == MAP_FAILED) {
        w->no_map = true;
        log_msg(LOG_WARN, "wal: mmap of %s failed (%s); appending with pwrite",
                w->dir, strerror(errno));
        return false;
    }
    w->win = p;
    w->win_off = start;
    return true;
}

/* Where a record of total bytes at the end of the segment goes in the
 * window, or NULL (it crosses the window's end, or no mapping). */
static uint8_t *win_slot(struct wal *w, uint64_t total)
{
    uint64_t off = w->seg_bytes;

    if (w->no_map || total > w->win_len - (off & (w->win_len - 1)))
        return NULL;
    if ((w->win == NULL || off < w->win_off ||
         off + total > w->win_off + w->win_len) &&
        !win_map(w, off))
        return NULL;
    return w->win + (off - w->win_off);
}

/* Close the current segment and start one at next_lsn. Writer thread. */
static int rotate(struct wal *w)
{
    int fd;
    uint32_t seed;
    int rc;

    trim(w, false);
    if (w->opt.sync != WAL_SYNC_NONE && (rc = do_fdatasync(w, w->fd)) < 0)
        return rc;
    if ((rc = seg_create(w, w->next_lsn, &fd, &seed)) < 0) {
        count_io_error(w, "creating a segment", -rc);
        return rc;
    }
    pthread_mutex_lock(&w->mu);
    if ((rc = segs_push(w, w->next_lsn, WAL_SEG_HEADER)) < 0) {
        char path[4096];
        pthread_mutex_unlock(&w->mu);
        close(fd);
        seg_name(path, sizeof(path), w->dir, w->next_lsn);
        unlink(path); /* or the next rotation would find it in the way */
        return rc;
    }
    w->segs[w->nsegs - 2].bytes = w->seg_bytes;
    w->segs[w->nsegs - 2].synced = w->opt.sync != WAL_SYNC_NONE;
    close(w->fd);
    w->fd = fd;
    w->dir_dirty = true;
    if (w->opt.sync != WAL_SYNC_NONE && sync_dir(w) == 0)
        w->dir_dirty = false;
    pthread_mutex_unlock(&w->mu);
    w->seg_bytes = WAL_SEG_HEADER;
    w->alloc_end = WAL_SEG_HEADER;
    w->seed = seed;
    atomic_fetch_add(&w->bytes, WAL_SEG_HEADER);
    return 0;
}

/* true if need more bytes fit the budget (or there is none any more). */
static bool fits(struct wal *w, uint64_t need)
{
    return atomic_load(&w->unbounded) ||
           atomic_load(&w->bytes) + need <= w->opt.max_bytes;
}

/* Wait, bounded, until need more bytes fit the budget. Writer thread. */
static int wait_room(struct wal *w, uint64_t need)
{
    struct timespec dl;
    bool ok;

    if (fits(w, need))
        return 0;
    atomic_fetch_add(&w->full_waits, 1);
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += w->opt.full_wait_ms / 1000;
    dl.tv_nsec += (w->opt.full_wait_ms % 1000) * 1000000;
    if (dl.tv_nsec >= 1000000000) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&w->mu);
    while (!fits(w, need))
        if (pthread_cond_timedwait(&w->room, &w->mu, &dl) == ETIMEDOUT)
            break;
    ok = fits(w, need);
    pthread_mutex_unlock(&w->mu);
    if (ok)
        return 0;
    atomic_fetch_add(&w->full_errors, 1);
    return -ENOSPC;
}

/* pwritev all of iov at off; on failure the caller cuts the file back. */
static int pwrite_all(int fd, struct iovec *iov, int n, uint64_t off)
{
    while (n > 0) {
        ssize_t k = pwritev(fd, iov, n, (off_t)off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        if (k == 0)
            return -EIO;
        off += (uint64_t)k;
        while (n > 0 && (size_t)k >= iov->iov_len) {
            k -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + k;
            iov->iov_len -= (size_t)k;
        }
    }
    return 0;
}

/* Bytes the segment files grow by to append a record of total bytes (in a
 * new segment if rot): a new segment's header, then the reservation of
 * the window the record goes to, or the record's bytes past the end of
 * the file. The budget is checked against this before anything moves. */
static uint64_t growth(const struct wal *w, bool rot, uint64_t total)
{
    uint64_t off = rot ? WAL_SEG_HEADER : w->seg_bytes;
    uint64_t alloc = rot ? WAL_SEG_HEADER : w->alloc_end;
    uint64_t end = off + total;

    if (!w->no_map && total <= w->win_len - (off & (w->win_len - 1)))
        end = (off & ~(w->win_len - 1)) + w->win_len;
    return (rot ? WAL_SEG_HEADER : 0) + (end > alloc ? end - alloc : 0);
}

/* The 32-byte record header for the next lsn into h, CRC and magic left
 * to the caller. */
static void put_header(const struct wal *w, uint8_t *h, size_t tlen, size_t len,
                       int qos, int64_t recv_ns)
{
    put64(h + 8, w->next_lsn);
    put64(h + 16, (uint64_t)recv_ns);
    put32(h + 24, (uint32_t)len);
    h[28] = (uint8_t)tlen;
    h[29] = (uint8_t)(tlen >> 8);
    h[30] = (uint8_t)qos;
    h[31] = 0;
}

/* Copy the record into the window at p (see the top): body first, then
 * the header, the CRC over the copy, and the magic. */
static void copy_record(const struct wal *w, uint8_t *p, const char *topic,
                        size_t tlen, const void *payload, size_t len, int qos,
                        int64_t recv_ns, uint64_t total)
{
    size_t pad = (size_t)(total - WAL_REC_HEADER - tlen - len);

    memcpy(p + WAL_REC_HEADER, topic, tlen);
    if (len > 0)
        memcpy(p + WAL_REC_HEADER + tlen, payload, len);
    memset(p + WAL_REC_HEADER + tlen + len, 0, pad);
    put_header(w, p, tlen, len, qos, recv_ns);
    put32(p + 4, crc_add(w->seed, p + 8, (size_t)total - 8));
    put32(p, WAL_REC_MAGIC);
}

/* The same bytes with pwritev(2) at the end of the segment. */
static int write_record(struct wal *w, const char *topic, size_t tlen,
                        const void *payload, size_t len, int qos,
                        int64_t recv_ns, uint64_t total)
{
    uint8_t h[WAL_REC_HEADER];
    size_t pad = (size_t)(total - WAL_REC_HEADER - tlen - len);
    struct iovec iov[4] = {
        {h, sizeof(h)},
        {(void *)topic, tlen},
        {(void *)payload, len},
        {(void *)zeros, pad},
    };
    uint32_t crc;

    put_header(w, h, tlen, len, qos, recv_ns);
    crc = crc_add(w->seed, h + 8, WAL_REC_HEADER - 8);
    crc = crc_add(crc, topic, tlen);
    crc = crc_add(crc, payload, len);
    put32(h + 4, crc_add(crc, zeros, pad));
    put32(h, WAL_REC_MAGIC);
    return pwrite_all(w->fd, iov, 4, w->seg_bytes);
}

static int append_record(struct wal *w, const char *topic, size_t tlen,
                         const void *payload, size_t len, int qos,
                         int64_t recv_ns, uint64_t total)
{
    uint8_t *p = win_slot(w, total);
    int rc;

    if (p != NULL) {
        copy_record(w, p, topic, tlen, payload, len, qos, recv_ns, total);
    } else if ((rc = write_record(w, topic, tlen, payload, len, qos, recv_ns,
                                  total)) < 0) {
        count_io_error(w, "write", -rc);
        trim(w, true); /* the file ends at the last good record */
        return rc;
    } else if (w->seg_bytes + total > w->alloc_end) {
        set_alloc_end(w, w->seg_bytes + total);
    }
    if (w->opt.sync == WAL_SYNC_ALWAYS && (rc = do_fdatasync(w, w->fd)) < 0) {
        trim(w, true);
        return rc;
    }
    return 0;
}

int wal_append(struct wal *w, const char *topic, const void *payload,
               size_t len, int qos, int64_t recv_ns, uint64_t *lsn)
{
    size_t tlen;
    uint64_t total;
    bool rot;
    int rc;

    if (!w->writer_known) {
        w->writer = pthread_self();
        w->writer_known = true;
    }
    assert(pthread_equal(w->writer, pthread_self())); /* one writer only */
    if (topic == NULL || qos < 0 || qos > 2 || (len > 0 && payload == NULL))
        return -EINVAL;
    if ((tlen = strlen(topic)) > WAL_MAX_TOPIC)
        return -EINVAL;
    if (len > WAL_MAX_PAYLOAD)
        return -EMSGSIZE;
    total = rec_size(tlen, len);
    if (total > w->opt.segment_bytes - WAL_SEG_HEADER)
        return -EMSGSIZE;
    rot = w->seg_bytes + total > w->opt.segment_bytes;
    if ((rc = wait_room(w, growth(w, rot, total))) < 0)
        return rc;
    if (rot && (rc = rotate(w)) < 0)
        return rc;
    if ((rc = append_record(w, topic, tlen, payload, len, qos, recv_ns,
                            total)) < 0)
        return rc;
    *lsn = w->next_lsn++;
    w->seg_bytes += total;
    /* The writer's own counter: a plain increment, no locked RMW. */
    atomic_store_explicit(
        &w->appends,
        atomic_load_explicit(&w->appends, memory_order_relaxed) + 1,
        memory_order_relaxed);
    atomic_store_explicit(&w->written_lsn, *lsn, memory_order_release);
    if (w->opt.sync == WAL_SYNC_ALWAYS) {
        atomic_max(&w->synced_lsn, *lsn);
    } else if (w->opt.sync == WAL_SYNC_INTERVAL) {
        /* Inline only if nobody else synced for 1.5 intervals: a daemon
         * that calls wal_sync() every interval from a worker thread keeps
         * the flush off this thread (see wal.h). */
        int64_t now = sync_clock_ns(w);
        int64_t last = atomic_load(&w->last_sync_ns);
        if (now - last >= w->opt.sync_interval_ms * 1500000) {
            atomic_store(&w->last_sync_ns, now);
            if (do_fdatasync(w, w->fd) == 0)
                atomic_max(&w->synced_lsn, *lsn);
        }
    }
    return 0;
}

/* ---- Open, recovery ---------------------------------------------------- */

void wal_options_default(struct wal_options *o)
{
    o->segment_bytes = 64u << 20;
    o->max_bytes = 1ull << 30;
    o->sync = WAL_SYNC_INTERVAL;
    o->sync_interval_ms = 1000;
    o->full_wait_ms = 100;
    o->min_next_lsn = 1;
}

static bool options_ok(const struct wal_options *o)
{
    return o->segment_bytes >= WAL_MIN_SEGMENT &&
           o->max_bytes >= o->segment_bytes &&
           (unsigned)o->sync <= WAL_SYNC_ALWAYS &&
           (o->sync != WAL_SYNC_INTERVAL || o->sync_interval_ms > 0) &&
           o->full_wait_ms >= 0 && o->full_wait_ms <= 3600000;
}

/* Drop the last segment from the list (its file is already gone). */
static void segs_pop(struct wal *w)
{
    atomic_fetch_sub(&w->bytes, w->segs[w->nsegs - 1].bytes);
    w->nsegs--;
    atomic_store(&w->nsegments, w->nsegs);
}

/* The last segment's header is torn (a crash while creating it: nothing
 * was appended to it) or damaged: set it aside. */
static int drop_bad_last(struct wal *w, const char *path, uint64_t size,
                         struct wal_scan_stats *st)
{
    char bad[4200];

    if (size < WAL_SEG_HEADER) {
        log_msg(LOG_WARN, "wal: %s: torn segment header, removed", path);
        if (unlink(path) != 0)
            return -errno;
    } else {
        snprintf(bad, sizeof(bad), "%s.bad", path);
        log_msg(LOG_ERROR, "wal: %s: bad segment header, renamed to %s", path,
                bad);
        st->bad_segments++;
        if (rename(path, bad) != 0)
            return -errno;
    }
    segs_pop(w);
    return 0;
}

/* Cut a torn tail, and reserved zeros, off the last segment. */
static int cut_tail(struct wal *w, const char *path, const struct seg_scan *sc)
{
    int fd;
    int rc = 0;

    /* Zeros past the torn part are the reservation of a writer that did
     * not close the segment (see the top): nothing to warn about. */
    if (sc->data_end > sc->valid_end)
        log_msg(LOG_WARN, "wal: %s: %" PRIu64 " bytes of torn tail truncated",
                path, sc->data_end - sc->valid_end);
    if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
        return -errno;
    if (ftruncate(fd, (off_t)sc->valid_end) != 0)
        rc = -errno;
    close(fd);
    if (rc == 0) {
        atomic_fetch_sub(&w->bytes, sc->size - sc->valid_end);
        w->segs[w->nsegs - 1].bytes = sc->valid_end;
    }
    return rc;
}

/* Read the segment list, recover the last segment; sets w->next_lsn. */
static int recover(struct wal *w, struct seg_scan *sc,
                   struct wal_scan_stats *st)
{
    char path[4096];
    uint64_t *lsns;
    size_t n;
    int rc;

    if ((rc = list_segments(w->dir, &lsns, &n)) < 0)
        return rc;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct stat sb;
        seg_name(path, sizeof(path), w->dir, lsns[i]);
        if (stat(path, &sb) != 0)
            rc = -errno;
        else if ((rc = segs_push(w, lsns[i], (uint64_t)sb.st_size)) == 0)
            atomic_fetch_add(&w->bytes, (uint64_t)sb.st_size);
    }
    free(lsns);
    while (rc == 0 && w->nsegs > 0) {
        uint64_t first = w->segs[w->nsegs - 1].first_lsn;
        seg_name(path, sizeof(path), w->dir, first);
        *sc = (struct seg_scan){.first_lsn = first, .min_lsn = first};
        rc = seg_scan(path, sc, st);
        if (rc != -EBADMSG)
            break;
        rc = drop_bad_last(w, path, sc->size, st);
    }
    if (rc < 0)
        return rc;
    w->next_lsn = 1;
    if (w->nsegs > 0) {
        if (sc->valid_end < sc->size && (rc = cut_tail(w, path, sc)) < 0)
            return rc;
        w->next_lsn = sc->last_lsn ? sc->last_lsn + 1 : sc->first_lsn;
    }
    if (w->next_lsn < w->opt.min_next_lsn)
        w->next_lsn = w->opt.min_next_lsn;
    return 0;
}

/* Continue the last segment if it fits, else start a new one. */
static int open_current(struct wal *w, const struct seg_scan *sc)
{
    char path[4096];
    struct wal_seg *last = w->nsegs ? &w->segs[w->nsegs - 1] : NULL;
    uint64_t cont =
        last ? (sc->last_lsn ? sc->last_lsn + 1 : sc->first_lsn) : 0;
    int rc;

    if (last && cont == w->next_lsn && last->bytes < w->opt.segment_bytes) {
        seg_name(path, sizeof(path), w->dir, last->first_lsn);
        if ((w->fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
            return -errno;
        w->seg_bytes = last->bytes;
        w->alloc_end = last->bytes;
        w->seed = sc->seed;
        return 0;
    }
    if (last && sc->last_lsn == 0) { /* empty and in the way: remove */
        seg_name(path, sizeof(path), w->dir, last->first_lsn);
        if (unlink(path) != 0)
            return -errno;
        segs_pop(w);
    }
    if ((rc = seg_create(w, w->next_lsn, &w->fd, &w->seed)) < 0)
        return rc;
    if ((rc = segs_push(w, w->next_lsn, WAL_SEG_HEADER)) < 0)
        return rc;
    w->seg_bytes = WAL_SEG_HEADER;
    w->alloc_end = WAL_SEG_HEADER;
    w->dir_dirty = true;
    atomic_fetch_add(&w->bytes, WAL_SEG_HEADER);
    return 0;
}

/* wait_room() computes its deadline on CLOCK_MONOTONIC: a wall-clock step
 * (NTP at boot on a gateway without an RTC) must not stretch the wait. */
static void cond_init_monotonic(pthread_cond_t *c)
{
    pthread_condattr_t ca;

    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(c, &ca);
    pthread_condattr_destroy(&ca);
}

int wal_open(struct wal **out, const char *dir, const struct wal_options *opt,
             struct wal_scan_stats *st)
{
    struct wal_scan_stats dummy;
    struct seg_scan sc = {0};
    struct wal *w;
    int rc;

    st = st ? st : &dummy;
    memset(st, 0, sizeof(*st));
    if (opt && !options_ok(opt))
        return -EINVAL;
    if ((w = calloc(1, sizeof(*w))) == NULL)
        return -ENOMEM;
    if (opt)
        w->opt = *opt;
    else
        wal_options_default(&w->opt);
    w->fd = -1;
    w->dir_fd = -1;
    w->sync_clock = w->opt.sync_interval_ms >= 100 ? CLOCK_MONOTONIC_COARSE
                                                   : CLOCK_MONOTONIC;
    w->win_len = WAL_WINDOW;
    while (w->win_len / 2 >= w->opt.segment_bytes &&
           w->win_len / 2 >= (uint64_t)sysconf(_SC_PAGESIZE))
        w->win_len /= 2; /* tiny segments: a window about their size */
    log_ratelimit_init(&w->io_log, 10000, 3);
    pthread_mutex_init(&w->mu, NULL);
    cond_init_monotonic(&w->room);
    if ((w->dir = strdup(dir)) == NULL) {
        rc = -ENOMEM;
        goto out_free;
    }
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        rc = -errno;
        goto out_free;
    }
    if ((w->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        rc = -errno;
        goto out_free;
    }
    if ((rc = recover(w, &sc, st)) < 0 || (rc = open_current(w, &sc)) < 0)
        goto out_free;
    atomic_store(&w->written_lsn, w->next_lsn - 1);
    atomic_store(&w->last_sync_ns, sync_clock_ns(w));
    if (w->opt.sync != WAL_SYNC_NONE && (rc = wal_sync(w)) < 0)
        goto out_free;
    *out = w;
    return 0;
out_free:
    wal_free(w);
    return rc;
}

void wal_free(struct wal *w)
{
    if (w == NULL)
        return;
    if (w->fd >= 0) {
        trim(w, false);
        if (w->opt.sync != WAL_SYNC_NONE)
            fdatasync(w->fd);
        close(w->fd);
    }
    if (w->dir_fd >= 0)
        close(w->dir_fd);
    pthread_cond_destroy(&w->room);
    pthread_mutex_destroy(&w->mu);
    free(w->segs);
    free(w->dir);
    free(w);
}

/* ---- Other threads ----------------------------------------------------- */

int wal_truncate_before(struct wal *w, uint64_t lsn)
{
    char path[4096];
    uint64_t freed = 0;
    size_t k = 0;
    size_t done = 0;
    int rc = 0;

    pthread_mutex_lock(&w->mu);
    while (k + 1 < w->nsegs && w->segs[k + 1].first_lsn <= lsn)
        k++; /* segment k holds only lsns < segs[k + 1].first_lsn <= lsn */
    for (; done < k; done++) {
        seg_name(path, sizeof(path), w->dir, w->segs[done].first_lsn);
        if (unlink(path) != 0 && errno != ENOENT) {
            rc = -errno;
            break;
        }
        freed += w->segs[done].bytes;
    }
    memmove(w->segs, w->segs + done, (w->nsegs - done) * sizeof(*w->segs));
    w->nsegs -= done;
    atomic_store(&w->nsegments, w->nsegs);
    atomic_fetch_sub(&w->bytes, freed);
    atomic_fetch_add(&w->truncated, done);
    pthread_cond_broadcast(&w->room);
    pthread_mutex_unlock(&w->mu);
    if (rc < 0)
        log_msg(LOG_ERROR, "wal: cannot delete %s: %s", path, strerror(-rc));
    return rc < 0 ? rc : (int)done;
}

void wal_set_unbounded(struct wal *w)
{
    pthread_mutex_lock(&w->mu);
    atomic_store(&w->unbounded, true);
    pthread_cond_broadcast(&w->room);
    pthread_mutex_unlock(&w->mu);
}

/* fdatasync a closed segment through a fresh descriptor. */
static int sync_closed(struct wal *w, struct wal_seg *s)
{
    char path[4096];
    int fd;
    int rc;

    seg_name(path, sizeof(path), w->dir, s->first_lsn);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return -errno;
    rc = do_fdatasync(w, fd);
    close(fd);
    if (rc == 0)
        s->synced = true;
    return rc;
}

int wal_sync(struct wal *w)
{
    uint64_t lsn;
    int rc = 0;

    pthread_mutex_lock(&w->mu);
    atomic_store(&w->last_sync_ns, sync_clock_ns(w));
    lsn = atomic_load_explicit(&w->written_lsn, memory_order_acquire);
    for (size_t i = 0; i + 1 < w->nsegs; i++)
        if (!w->segs[i].synced && rc == 0)
            rc = sync_closed(w, &w->segs[i]);
    if (rc == 0)
        rc = do_fdatasync(w, w->fd);
    if (rc == 0 && w->dir_dirty) {
        if ((rc = sync_dir(w)) == 0)
            w->dir_dirty = false;
    }
    pthread_mutex_unlock(&w->mu);
    if (rc == 0)
        atomic_max(&w->synced_lsn, lsn);
    return rc;
}

void wal_stats(struct wal *w, struct wal_stats *out)
{
    out->next_lsn = atomic_load(&w->written_lsn) + 1;
    out->synced_lsn = atomic_load(&w->synced_lsn);
    out->bytes = atomic_load(&w->bytes);
    out->segments = atomic_load(&w->nsegments);
    out->appends = atomic_load(&w->appends);
    out->syncs = atomic_load(&w->syncs);
    out->full_waits = atomic_load(&w->full_waits);
    out->full_errors = atomic_load(&w->full_errors);
    out->io_errors = atomic_load(&w->io_errors);
    out->truncated_segments = atomic_load(&w->truncated);
}
