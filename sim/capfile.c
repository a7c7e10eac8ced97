/* capfile.c -- capture files written in whole records, read as a stream
 * (see capfile.h).
 * Threads: none of its own; one instance per thread. */
#include "sim/capfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WBUF (256 * 1024)
#define RBUF (1024 * 1024 + CAPFILE_TOPIC_MAX + 4096)

struct capfile_writer {
    int fd;           /* Output. */
    bool own_fd;      /* Close it (not stdout). */
    unsigned every;   /* Records per write(2). */
    unsigned pending; /* Records in buf. */
    uint8_t *buf;     /* Whole records, len bytes. */
    size_t len;       /* Bytes in buf. */
    uint64_t records; /* Written (buffered included). */
    int error;        /* Sticky -errno of a failed write. */
};

struct capfile_reader {
    int fd;           /* Input. */
    bool own_fd;      /* Close it. */
    uint8_t *buf;     /* Window of the file. */
    size_t start;     /* First unread byte in buf. */
    size_t end;       /* Bytes in buf. */
    bool eof;         /* read(2) returned 0. */
    uint64_t offset;  /* File offset of buf[start]. */
    uint64_t count;   /* Records returned. */
    char *topic;      /* CAPFILE_TOPIC_MAX bytes. */
    uint8_t *payload; /* CAPFILE_PAYLOAD_MAX bytes. */
    char path[256];   /* For messages. */
    char err[320];    /* Last error. */
};

/* ---- Writer ------------------------------------------------------------ */

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

int capfile_create(struct capfile_writer **out, const char *path,
                   unsigned flush_every, char *err, size_t errlen)
{
    struct capfile_writer *w = calloc(1, sizeof(*w));

    if (w == NULL || (w->buf = malloc(WBUF)) == NULL) {
        free(w);
        snprintf(err, errlen, "%s: out of memory", path);
        return -ENOMEM;
    }
    w->every = flush_every ? flush_every : 1;
    if (strcmp(path, "-") == 0) {
        w->fd = 1;
    } else {
        w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        w->own_fd = true;
    }
    if (w->fd < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        free(w->buf);
        free(w);
        return -e;
    }
    *out = w;
    return 0;
}

int capfile_flush(struct capfile_writer *w)
{
    int rc;

    if (w->error)
        return w->error;
    if (w->len == 0)
        return 0;
    rc = write_all(w->fd, w->buf, w->len);
    w->len = 0;
    w->pending = 0;
    if (rc < 0)
        w->error = rc;
    return rc;
}

int capfile_write(struct capfile_writer *w, const struct codec_capture *c)
{
    size_t need = c->payload_len + strlen(c->topic) + 64;
    size_t n;
    int rc;

    if (w->error)
        return w->error;
    if (c->payload_len > CAPFILE_PAYLOAD_MAX ||
        strlen(c->topic) >= CAPFILE_TOPIC_MAX)
        return -EMSGSIZE;
    if (w->len + need > WBUF && (rc = capfile_flush(w)) < 0)
        return rc;
    if (need > WBUF) { /* a big record: encode and write it alone */
        uint8_t *tmp = malloc(need);
        if (tmp == NULL)
            return -ENOMEM;
        n = codec_encode_capture(c, tmp, need);
        rc = n ? write_all(w->fd, tmp, n) : -EMSGSIZE;
        free(tmp);
        if (rc == 0)
            w->records++;
        else if (rc != -EMSGSIZE)
            w->error = rc;
        return rc;
    }
    n = codec_encode_capture(c, w->buf + w->len, WBUF - w->len);
    if (n == 0)
        return -EMSGSIZE;
    w->len += n;
    w->records++;
    if (++w->pending >= w->every)
        return capfile_flush(w);
    return 0;
}

int capfile_sync(struct capfile_writer *w)
{
    int rc = capfile_flush(w);

    if (rc == 0 && w->own_fd && fsync(w->fd) < 0 && errno != EINVAL)
        rc = -errno;
    return rc;
}

uint64_t capfile_records(const struct capfile_writer *w)
{
    return w->records;
}

int capfile_close(struct capfile_writer *w)
{
    int rc;

    if (w == NULL)
        return 0;
    rc = capfile_sync(w);
    if (w->own_fd && close(w->fd) < 0 && rc == 0)
        rc = -errno;
    free(w->buf);
    free(w);
    return rc;
}

/* ---- Reader ------------------------------------------------------------ */

int capfile_open(struct capfile_reader **out, const char *path, char *err,
                 size_t errlen)
{
    struct capfile_reader *r = calloc(1, sizeof(*r));
    struct stat sb;
    int e;

    if (r == NULL)
        return -ENOMEM;
    r->buf = malloc(RBUF);
    r->topic = malloc(CAPFILE_TOPIC_MAX);
    r->payload = malloc(CAPFILE_PAYLOAD_MAX);
    if (!r->buf || !r->topic || !r->payload) {
        capfile_reader_free(r);
        return -ENOMEM;
    }
    snprintf(r->path, sizeof(r->path), "%s", path);
    if (strcmp(path, "-") == 0) {
        r->fd = 0;
        *out = r;
        return 0;
    }
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        e = errno;
        goto fail;
    }
    r->own_fd = true;
    if (fstat(r->fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        e = EISDIR;
        goto fail;
    }
    *out = r;
    return 0;
fail:
    snprintf(err, errlen, "%s: %s", path, strerror(e));
    capfile_reader_free(r);
    return -e;
}

/* Read more bytes after compacting; false at EOF or error (sets rc). */
static int refill(struct capfile_reader *r)
{
    ssize_t k;

    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    if (r->end == RBUF)
        return -EMSGSIZE;
    do
        k = read(r->fd, r->buf + r->end, RBUF - r->end);
    while (k < 0 && errno == EINTR);
    if (k < 0)
        return -errno;
    if (k == 0)
        r->eof = true;
    r->end += (size_t)k;
    return 0;
}

int capfile_next(struct capfile_reader *r, struct codec_capture *c)
{
    for (;;) {
        size_t used = 0;
        int rc;

        if (r->start == r->end && r->eof)
            return 0;
        rc = r->start == r->end
                 ? -EAGAIN
                 : codec_decode_capture(r->buf + r->start, r->end - r->start,
                                        &used, c, r->topic, CAPFILE_TOPIC_MAX,
                                        r->payload, CAPFILE_PAYLOAD_MAX);
        if (rc == 0) {
            r->start += used;
            r->offset += used;
            r->count++;
            return 1;
        }
        if (rc == -EAGAIN && !r->eof) {
            if ((rc = refill(r)) == 0)
                continue;
        }
        if (rc == -EAGAIN)
            snprintf(r->err, sizeof(r->err),
                     "%s: truncated record at byte "
                     "%llu after %llu records",
                     r->path, (unsigned long long)r->offset,
                     (unsigned long long)r->count);
        else if (rc == -EMSGSIZE)
            snprintf(r->err, sizeof(r->err),
                     "%s: record at byte %llu is "
                     "over the size limits",
                     r->path, (unsigned long long)r->offset);
        else if (rc == -EBADMSG)
            snprintf(r->err, sizeof(r->err),
                     "%s: corrupt record at byte "
                     "%llu after %llu records",
                     r->path, (unsigned long long)r->offset,
                     (unsigned long long)r->count);
        else
            snprintf(r->err, sizeof(r->err), "%s: read error: %s", r->path,
                     strerror(-rc));
        return rc;
    }
}

uint64_t capfile_offset(const struct capfile_reader *r)
{
    return r->offset;
}

uint64_t capfile_read_count(const struct capfile_reader *r)
{
    return r->count;
}

int capfile_rewind(struct capfile_reader *r)
{
    if (lseek(r->fd, 0, SEEK_SET) < 0)
        return -errno;
    r->start = r->end = 0;
    r->eof = false;
    r->offset = 0;
    r->count = 0;
    return 0;
}

const char *capfile_error(const struct capfile_reader *r)
{
    return r->err;
}

void capfile_reader_free(struct capfile_reader *r)
{
    if (r == NULL)
        return;
    if (r->own_fd && r->fd >= 0)
        close(r->fd);
    free(r->buf);
    free(r->topic);
    free(r->payload);
    free(r);
}
