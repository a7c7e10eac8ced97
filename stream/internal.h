/* internal.h -- helpers shared inside stream/, never included from outside
 * it (STYLE R1: folder-internal names carry a double underscore).
 *
 * The checkpoint image codec of dedup.c, validate.c, rows.c and intern.c.
 * Images are little-endian integers of 1 to 8 bytes written one byte at a
 * time, so they read the same on any host. The writer is bounded and never
 * fails: it counts every byte and stores those that fit in the caller's
 * buffer, so one pass both sizes and fills an image (the save functions
 * return the size needed, as snprintf does). It also keeps the FNV-1a 64
 * of what it produced, which stream__img_end() appends. The reader is
 * sticky: a read past the end sets bad and returns 0, so a parser reads a
 * whole record and checks once.
 *
 * A framed image is "u32 magic, u32 version, body, u64 FNV-1a of
 * everything before it"; stream__img_open() checks the frame and leaves
 * the reader on the body.
 *
 * Threads: plain values, owned by the thread that made them. */
#ifndef WEIR_STREAM_INTERNAL_H
#define WEIR_STREAM_INTERNAL_H

#include <stdbool.h> /* For bool. */
#include <stddef.h>  /* For size_t. */
#include <stdint.h>  /* For uint8_t, uint32_t, uint64_t. */

/* ---- Types ------------------------------------------------------------- */

/* A bounded writer; make one with stream__img_out(). */
struct stream__out {
    uint8_t *buf; /* Borrowed; may be NULL when cap is 0. */
    size_t cap;   /* Bytes in buf. */
    size_t len;   /* Bytes produced so far (may exceed cap). */
    uint64_t fnv; /* FNV-1a 64 of the bytes produced so far. */
};

/* A sticky reader over borrowed bytes; make one with stream__img_in(). */
struct stream__in {
    const uint8_t *buf; /* Borrowed. */
    size_t len;         /* Bytes that may be read. */
    size_t at;          /* Next byte. */
    bool bad;           /* A read ran past len. */
};

/* ---- Writing ----------------------------------------------------------- */

/* A writer into buf (borrowed, cap bytes; NULL if cap is 0). */
struct stream__out stream__img_out(uint8_t *buf, size_t cap);

/* The n (1..8) low bytes of v, least significant first. */
void stream__put(struct stream__out *o, uint64_t v, int n);

/* The bits of d as 8 bytes. */
void stream__put_f64(struct stream__out *o, double d);

/* n bytes of p (borrowed) as they are. */
void stream__put_mem(struct stream__out *o, const void *p, size_t n);

/* Append the FNV-1a of everything written as 8 bytes; returns the image's
 * size (complete in the buffer only if <= cap). */
size_t stream__img_end(struct stream__out *o);

/* ---- Reading ----------------------------------------------------------- */

/* A reader over buf[0..len) (borrowed). */
struct stream__in stream__img_in(const uint8_t *buf, size_t len);

/* n (1..8) bytes as a little-endian integer; 0 (and bad) past the end. */
uint64_t stream__get(struct stream__in *in, int n);

/* 8 bytes as the bits of a double. */
double stream__get_f64(struct stream__in *in);

/* Skip n bytes; n may be any value (a crafted count): past the end sets
 * bad. */
void stream__skip(struct stream__in *in, uint64_t n);

/* A pointer to the next n bytes (borrowed from the buffer) and skip them,
 * or NULL (and bad) if fewer are left. */
const uint8_t *stream__get_mem(struct stream__in *in, size_t n);

/* Check the frame of buf[0..len) (borrowed): the magic, the version, at
 * least min_len bytes in all and the trailing FNV-1a. Returns 0 and *in
 * reading the body (from byte 8 to the checksum), -EBADMSG (short, another
 * magic, a bad checksum) or -EPROTONOSUPPORT (another version). */
int stream__img_open(struct stream__in *in, const uint8_t *buf, size_t len,
                     uint32_t magic, uint32_t version, size_t min_len);

#endif /* WEIR_STREAM_INTERNAL_H */
