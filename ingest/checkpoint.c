/* checkpoint.c -- checkpoint images and atomic files (see checkpoint.h).
 *
 * The name tables are exported here through intern_count()/intern_name(),
 * which are safe while the Paho thread keeps adding names, rather than
 * intern_export(), which wants the writer stopped (and whose size-then-fill
 * calls could see two different counts while it runs). Names added after
 * the count was read belong to messages past the checkpoint's lsn; the
 * replay after a restart adds them again in the same order, so they get
 * the same ids. The bytes are intern_export()'s, byte for byte, which
 * intern_import() reads (tests/test_checkpoint.c compares them).
 *
 * Atomicity: write(2) to a temporary file in the same directory, fsync it,
 * rename over the target (atomic on POSIX file systems), fsync the
 * directory so the rename itself is durable. A crash at any point leaves
 * either the old or the new file complete.
 *
 * Threads: see checkpoint.h. */
#include "ingest/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ingest/bytes.h"

static const char magic[8] = {'W', 'E', 'I', 'R', 'C', 'K', 'P', 'T'};

/* intern_export()'s format from the any-thread accessors. */
static void put_names(struct bytes_out *b, const struct intern *t)
{
    struct bytes_out img = {NULL, 0, 0, false};
    size_t n = intern_count(t);
    size_t i;

    bytes_put_u32(&img, (uint32_t)n);
    for (i = 0; i < n; i++) {
        const char *s = intern_name(t, (uint32_t)i);
        size_t len = strlen(s);
        bytes_put_u8(&img, (uint8_t)len);
        bytes_put(&img, s, len);
    }
    if (img.failed)
        b->failed = true;
    bytes_put_blob(b, img.data, img.len);
    free(img.data);
}

int checkpoint_image(uint64_t lsn, int64_t created_ms,
                     const struct intern *devices, const struct intern *sensors,
                     const struct pipeline *p, uint8_t **buf, size_t *len)
{
    struct bytes_out b = {NULL, 0, 0, false};
    struct bytes_out pl = {NULL, 0, 0, false};

    bytes_put(&b, magic, sizeof(magic));
    bytes_put_u32(&b, CHECKPOINT_FORMAT);
    bytes_put_u64(&b, lsn);
    bytes_put_i64(&b, created_ms);
    put_names(&b, devices);
    put_names(&b, sensors);
    if (pipeline_save(p, &pl) != 0)
        b.failed = true;
    bytes_put_blob(&b, pl.data, pl.len);
    free(pl.data);
    bytes_put_crc(&b);
    if (b.failed) {
        free(b.data);
        return -ENOMEM;
    }
    *buf = b.data;
    *len = b.len;
    return 0;
}

int checkpoint_parse(const uint8_t *buf, size_t len, struct checkpoint *out)
{
    struct bytes_in in = bytes_in_make(buf, len);
    char m[sizeof(magic)];

    memset(out, 0, sizeof(*out));
    if (!bytes_check_crc(&in))
        return -EBADMSG;
    bytes_get(&in, m, sizeof(m));
    if (memcmp(m, magic, sizeof(m)) != 0 ||
        bytes_get_u32(&in) != CHECKPOINT_FORMAT)
        return -EBADMSG;
    out->lsn = bytes_get_u64(&in);
    out->created_ms = bytes_get_i64(&in);
    out->devices = bytes_get_blob(&in, &out->devices_len);
    out->sensors = bytes_get_blob(&in, &out->sensors_len);
    out->pipeline = bytes_get_blob(&in, &out->pipeline_len);
    if (in.bad || in.at != in.len)
        return -EBADMSG;
    return 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = 0;

    if (fd < 0)
        return -errno;
    if (fsync(fd) != 0)
        rc = -errno;
    close(fd);
    return rc;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int checkpoint_write_atomic(const char *dir, const char *name,
                            const char *keep_prev, const void *data, size_t len)
{
    char tmp[PATH_MAX];
    char dst[PATH_MAX];
    char prev[PATH_MAX];
    int fd;
    int rc;

    if (snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, name) >= PATH_MAX ||
        snprintf(dst, sizeof(dst), "%s/%s", dir, name) >= PATH_MAX ||
        snprintf(prev, sizeof(prev), "%s/%s", dir,
                 keep_prev ? keep_prev : "") >= PATH_MAX)
        return -ENAMETOOLONG;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    rc = write_all(fd, data, len);
    if (rc == 0 && fsync(fd) != 0)
        rc = -errno;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc != 0)
        goto out_unlink;
    if (keep_prev != NULL && rename(dst, prev) != 0 && errno != ENOENT) {
        rc = -errno;
        goto out_unlink;
    }
    if (rename(tmp, dst) != 0) {
        rc = -errno;
        goto out_unlink;
    }
    return fsync_dir(dir);
out_unlink:
    unlink(tmp);
    return rc;
}

/* Read a whole file (up to 1 GiB) into a new buffer. */
static int read_file(const char *path, uint8_t **buf, size_t *len)
{
    struct stat st;
    uint8_t *p;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc = 0;

    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) != 0 || st.st_size < 0 || st.st_size > (1L << 30)) {
        close(fd);
        return -EFBIG;
    }
    if ((p = malloc((size_t)st.st_size + 1)) == NULL) {
        close(fd);
        return -ENOMEM;
    }
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, p + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : -EBADMSG;
            break;
        }
        got += (size_t)n;
    }
    close(fd);
    if (rc != 0) {
        free(p);
        return rc;
    }
    *buf = p;
    *len = got;
    return 0;
}

static int load_one(const char *dir, const char *name, struct checkpoint *out)
{
    char path[PATH_MAX];
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc;

    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= PATH_MAX)
        return -ENAMETOOLONG;
    if ((rc = read_file(path, &buf, &len)) != 0)
        return rc;
    if ((rc = checkpoint_parse(buf, len, out)) != 0) {
        free(buf);
        return rc;
    }
    out->data = buf;
    out->len = len;
    snprintf(out->file, sizeof(out->file), "%s", name);
    return 0;
}

int checkpoint_load(const char *dir, struct checkpoint *out, char *err,
                    size_t errlen)
{
    int rc = load_one(dir, CHECKPOINT_FILE, out);
    int rc2;

    if (rc == 0)
        return 0;
    rc2 = load_one(dir, CHECKPOINT_PREV, out);
    if (rc2 == 0) {
        snprintf(err, errlen, "%s/%s: %s; using %s", dir, CHECKPOINT_FILE,
                 strerror(-rc), CHECKPOINT_PREV);
        return 0;
    }
    if (rc == -ENOENT && rc2 == -ENOENT)
        return -ENOENT;
    snprintf(err, errlen, "%s/%s: %s; %s: %s", dir, CHECKPOINT_FILE,
             strerror(-rc), CHECKPOINT_PREV, strerror(-rc2));
    return rc == -ENOENT ? rc2 : rc;
}

void checkpoint_close(struct checkpoint *c)
{
    free(c->data);
    memset(c, 0, sizeof(*c));
}
