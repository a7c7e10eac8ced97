/* internal.c -- the checkpoint image codec shared inside stream/ (see
 * internal.h).
 *
 * Cost model: a byte at a time, with one FNV-1a step per byte written: an
 * image of n bytes costs about 5n instructions to write and 4n to check,
 * which is nothing next to the fsync that follows a checkpoint. The byte
 * loop is what makes the format independent of the host's byte order and
 * alignment.
 *
 * Threads: none; plain values. */
#include "stream/internal.h"

#include <errno.h>
#include <string.h>

#define STREAM__FNV_OFFSET 0xcbf29ce484222325ULL
#define STREAM__FNV_PRIME 0x100000001b3ULL

struct stream__out stream__img_out(uint8_t *buf, size_t cap)
{
    struct stream__out o = {buf, cap, 0, STREAM__FNV_OFFSET};

    return o;
}

static void stream__put_byte(struct stream__out *o, uint8_t b)
{
    o->fnv = (o->fnv ^ b) * STREAM__FNV_PRIME;
    if (o->len < o->cap)
        o->buf[o->len] = b;
    o->len++;
}

void stream__put(struct stream__out *o, uint64_t v, int n)
{
    for (int i = 0; i < n; i++, v >>= 8)
        stream__put_byte(o, (uint8_t)v);
}

void stream__put_f64(struct stream__out *o, double d)
{
    uint64_t bits;

    memcpy(&bits, &d, sizeof(bits));
    stream__put(o, bits, 8);
}

void stream__put_mem(struct stream__out *o, const void *p, size_t n)
{
    const uint8_t *b = p;

    for (size_t i = 0; i < n; i++)
        stream__put_byte(o, b[i]);
}

size_t stream__img_end(struct stream__out *o)
{
    stream__put(o, o->fnv, 8);
    return o->len;
}

struct stream__in stream__img_in(const uint8_t *buf, size_t len)
{
    struct stream__in in = {buf, len, 0, false};

    return in;
}

uint64_t stream__get(struct stream__in *in, int n)
{
    uint64_t v = 0;

    if (in->bad || in->len - in->at < (size_t)n) {
        in->bad = true;
        return 0;
    }
    for (int i = 0; i < n; i++)
        v |= (uint64_t)in->buf[in->at + i] << (8 * i);
    in->at += (size_t)n;
    return v;
}

double stream__get_f64(struct stream__in *in)
{
    uint64_t bits = stream__get(in, 8);
    double d;

    memcpy(&d, &bits, sizeof(d));
    return d;
}

void stream__skip(struct stream__in *in, uint64_t n)
{
    if (in->bad || n > in->len - in->at)
        in->bad = true;
    else
        in->at += (size_t)n;
}

const uint8_t *stream__get_mem(struct stream__in *in, size_t n)
{
    const uint8_t *p;

    if (in->bad || n > in->len - in->at) {
        in->bad = true;
        return NULL;
    }
    p = in->buf + in->at;
    in->at += n;
    return p;
}

int stream__img_open(struct stream__in *in, const uint8_t *buf, size_t len,
                     uint32_t magic, uint32_t version, size_t min_len)
{
    uint64_t fnv = STREAM__FNV_OFFSET;

    *in = stream__img_in(buf, len);
    if (buf == NULL || len < 8 || stream__get(in, 4) != magic)
        return -EBADMSG;
    if (stream__get(in, 4) != version)
        return -EPROTONOSUPPORT;
    if (len < min_len || len < 16)
        return -EBADMSG;
    for (size_t i = 0; i < len - 8; i++)
        fnv = (fnv ^ buf[i]) * STREAM__FNV_PRIME;
    in->at = len - 8;
    if (stream__get(in, 8) != fnv)
        return -EBADMSG;
    in->at = 8;
    in->len = len - 8; /* the checksum is not part of the body */
    return 0;
}
