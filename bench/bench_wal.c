/* bench_wal.c -- appends per second into the ingest log, per sync policy,
 * against the floor of one plain write(2) per message measured in the same
 * run on the same file system.
 *
 *   make bench-wal            (or build/default/bench/bench_wal [DIR])
 *
 * A message is a typical single reading: topic "sensors/room-012/co2"
 * and a 24-byte protobuf Reading. The reference writes the same number of
 * bytes per message (the framed record's size) with write(2): what any
 * log that hands each message to the kernel with a syscall pays at least.
 * The ingest log copies records into a shared mapping instead (wal.c), so
 * its ratio is above 1 by what the syscall cost; framing, CRC and
 * bookkeeping are inside its figure. For WAL_SYNC_ALWAYS the reference is
 * write(2) + fdatasync(2) per message.
 * The log lives in DIR (default build/bench-wal.tmp, which is on the
 * project's disk, unlike a tmpfs /tmp) and is deleted afterwards.
 *
 * interval_inline is WAL_SYNC_INTERVAL with nobody calling wal_sync(), so
 * the writer flushes inline; interval_worker adds the daemon's worker that
 * calls wal_sync() every second, as weir does.
 *
 * Threads: the appending thread, plus the syncing thread of
 * interval_worker. */
#include "ingest/wal.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char topic[] = "sensors/room-012/co2";
static const unsigned char payload[24] = {
    0x18, 0xd2, 0x09, 0x20, 0x80, 0xa2, 0xb4, 0x9c, 0xa8, 0x33, 0x29, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x40, 0x7e, 0x40, 0x0a, 0x03, 0x63, 0x6f, 0x32};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int rm_one(const char *path, const struct stat *sb, int flag,
                  struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_rf(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* The daemon's side of WAL_SYNC_INTERVAL: wal_sync() every interval from
 * another thread (a libuv worker in weir). */
struct syncer {
    struct wal *w;
    atomic_bool stop;
};

static void *syncer_main(void *arg)
{
    struct syncer *s = arg;

    while (!atomic_load(&s->stop)) {
        nanosleep(&(struct timespec){1, 0}, NULL);
        wal_sync(s->w);
    }
    return NULL;
}

/* Appends per second for n messages (or until max_s seconds pass). */
static double bench_wal(const char *dir, enum wal_sync sync, bool worker,
                        long n, double max_s, long *done)
{
    struct syncer sy;
    pthread_t th;
    struct wal_options o;
    struct wal *w;
    uint64_t lsn;
    double t0;
    double t;
    long i;
    int rc;

    rm_rf(dir);
    wal_options_default(&o);
    o.sync = sync;
    o.max_bytes = 8ull << 30;
    if ((rc = wal_open(&w, dir, &o, NULL)) < 0) {
        fprintf(stderr, "wal_open %s: %s\n", dir, strerror(-rc));
        exit(1);
    }
    sy.w = w;
    atomic_init(&sy.stop, false);
    if (worker && pthread_create(&th, NULL, syncer_main, &sy) != 0)
        exit(1);
    t0 = now_s();
    for (i = 0; i < n; i++) {
        rc = wal_append(w, topic, payload, sizeof(payload), 1, i, &lsn);
        if (rc < 0) {
            fprintf(stderr, "wal_append: %s\n", strerror(-rc));
            exit(1);
        }
        if ((i & 255) == 0 && now_s() - t0 > max_s)
            break;
    }
    t = now_s() - t0;
    if (worker) {
        atomic_store(&sy.stop, true);
        pthread_join(th, NULL);
    }
    wal_free(w);
    rm_rf(dir);
    *done = i;
    return (double)i / t;
}

/* The reference: one write(2) of rec bytes per message (+ fdatasync). */
static double bench_write(const char *dir, size_t rec, bool sync, long n,
                          double max_s)
{
    char path[4096];
    char buf[256] = {0};
    double t0;
    long i;
    int fd;

    rm_rf(dir);
    mkdir(dir, 0750);
    snprintf(path, sizeof(path), "%s/ref.dat", dir);
    if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0640)) < 0) {
        perror(path);
        exit(1);
    }
    t0 = now_s();
    for (i = 0; i < n; i++) {
        if (write(fd, buf, rec) != (ssize_t)rec || (sync && fdatasync(fd))) {
            perror("write");
            exit(1);
        }
        if ((i & 255) == 0 && now_s() - t0 > max_s)
            break;
    }
    t0 = now_s() - t0;
    close(fd);
    rm_rf(dir);
    return (double)i / t0;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "build/bench-wal.tmp";
    size_t rec = (32 + strlen(topic) + sizeof(payload) + 7) & ~(size_t)7;
    static const struct {
        const char *name;
        enum wal_sync sync;
        bool worker;
        long n;
        double max_s;
    } runs[] = {
        {"none", WAL_SYNC_NONE, false, 3000000, 3.0},
        {"interval_inline", WAL_SYNC_INTERVAL, false, 3000000, 3.0},
        {"interval_worker", WAL_SYNC_INTERVAL, true, 3000000, 3.0},
        {"always", WAL_SYNC_ALWAYS, false, 5000, 3.0},
    };

    printf("# record %zu bytes (topic %zu, payload %zu), dir %s\n", rec,
           strlen(topic), sizeof(payload), dir);
    for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
        long done;
        bool sync = runs[i].sync == WAL_SYNC_ALWAYS;
        double ref = bench_write(dir, rec, sync, runs[i].n, runs[i].max_s);
        double wal = bench_wal(dir, runs[i].sync, runs[i].worker, runs[i].n,
                               runs[i].max_s, &done);
        printf("RESULT wal_append policy=%s appends_per_s=%.0f "
               "ns_per_append=%.0f ref=%s ref_per_s=%.0f ratio=%.2f "
               "messages=%ld\n",
               runs[i].name, wal, 1e9 / wal, sync ? "write+fdatasync" : "write",
               ref, wal / ref, done);
        fflush(stdout);
    }
    return 0;
}
