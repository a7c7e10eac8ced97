/* bytes.c -- little-endian put/get with sticky errors (see bytes.h).
 *
 * The output buffer doubles on growth, so serialising an image of n bytes
 * costs O(n) copies in total. Integers are written byte by byte so the
 * format is the same on any host.
 *
 * Threads: none; plain values. */
#include "ingest/bytes.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

void bytes_put(struct bytes_out *b, const void *p, size_t n)
{
    if (b->failed || n == 0)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        uint8_t *d;
        while (cap < b->len + n)
            cap *= 2;
        if ((d = realloc(b->data, cap)) == NULL) {
            b->failed = true;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

/* The n low bytes of v, least significant first. */
static void put_le(struct bytes_out *b, uint64_t v, int n)
{
    uint8_t x[8];

    for (int i = 0; i < n; i++)
        x[i] = (uint8_t)(v >> (8 * i));
    bytes_put(b, x, (size_t)n);
}

/* n bytes at x as a little-endian integer. */
static uint64_t load_le(const uint8_t *x, int n)
{
    uint64_t v = 0;

    for (int i = 0; i < n; i++)
        v |= (uint64_t)x[i] << (8 * i);
    return v;
}

void bytes_put_u8(struct bytes_out *b, uint8_t v)
{
    bytes_put(b, &v, 1);
}

void bytes_put_u32(struct bytes_out *b, uint32_t v)
{
    put_le(b, v, 4);
}

void bytes_put_u64(struct bytes_out *b, uint64_t v)
{
    put_le(b, v, 8);
}

void bytes_put_i64(struct bytes_out *b, int64_t v)
{
    bytes_put_u64(b, (uint64_t)v);
}

void bytes_put_str(struct bytes_out *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;

    bytes_put_u32(b, (uint32_t)n);
    bytes_put(b, s, n);
}

void bytes_put_blob(struct bytes_out *b, const void *p, size_t n)
{
    bytes_put_u64(b, n);
    bytes_put(b, p, n);
}

void bytes_put_crc(struct bytes_out *b)
{
    uLong crc = crc32(0L, Z_NULL, 0);

    if (b->failed)
        return;
    crc = crc32_z(crc, b->data, b->len);
    bytes_put_u32(b, (uint32_t)crc);
}

struct bytes_in bytes_in_make(const uint8_t *p, size_t len)
{
    struct bytes_in in = {p, len, 0, false};

    return in;
}

bool bytes_check_crc(struct bytes_in *in)
{
    uLong crc = crc32(0L, Z_NULL, 0);

    if (in->len < 4)
        return false;
    crc = crc32_z(crc, in->p, in->len - 4);
    if ((uint32_t)crc != load_le(in->p + in->len - 4, 4))
        return false;
    in->len -= 4;
    return true;
}

void bytes_get(struct bytes_in *in, void *p, size_t n)
{
    if (in->bad || n > in->len - in->at) {
        in->bad = true;
        memset(p, 0, n);
        return;
    }
    memcpy(p, in->p + in->at, n);
    in->at += n;
}

uint8_t bytes_get_u8(struct bytes_in *in)
{
    uint8_t v;

    bytes_get(in, &v, 1);
    return v;
}

uint32_t bytes_get_u32(struct bytes_in *in)
{
    uint8_t x[4];

    bytes_get(in, x, 4);
    return (uint32_t)load_le(x, 4);
}

uint64_t bytes_get_u64(struct bytes_in *in)
{
    uint8_t x[8];

    bytes_get(in, x, 8);
    return load_le(x, 8);
}

int64_t bytes_get_i64(struct bytes_in *in)
{
    return (int64_t)bytes_get_u64(in);
}

void bytes_get_str(struct bytes_in *in, char *buf, size_t cap)
{
    uint32_t n = bytes_get_u32(in);

    if (in->bad || cap == 0 || n >= cap || n > in->len - in->at) {
        in->bad = true;
        if (cap > 0)
            buf[0] = '\0';
        return;
    }
    memcpy(buf, in->p + in->at, n);
    buf[n] = '\0';
    in->at += n;
}

const uint8_t *bytes_get_blob(struct bytes_in *in, size_t *n)
{
    uint64_t len = bytes_get_u64(in);
    const uint8_t *p;

    if (in->bad || len > in->len - in->at) {
        in->bad = true;
        *n = 0;
        return NULL;
    }
    p = in->p + in->at;
    in->at += (size_t)len;
    *n = (size_t)len;
    return p;
}
