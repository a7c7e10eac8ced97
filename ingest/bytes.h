/* bytes.h -- little-endian serialisation into a growable buffer, and
 * bounds-checked reading back, for checkpoint images.
 *
 * Writing never fails midway: the first allocation failure sets `failed`
 * and later puts are ignored, so a serialiser writes everything and checks
 * once at the end. Reading is sticky the same way: a get past the end sets
 * `bad` and returns zeros, so a parser reads a whole record and checks once.
 *
 * Threads: values owned by one thread; no shared state. */
#ifndef WEIR_INGEST_BYTES_H
#define WEIR_INGEST_BYTES_H

#include <stdbool.h> /* For bool. */
#include <stddef.h>  /* For size_t. */
#include <stdint.h>  /* For fixed-width integers. */

/* A growable output buffer; start with {0} (all zero). */
struct bytes_out {
    uint8_t *data; /* Owned; free() it, or take it. */
    size_t len;    /* Bytes written. */
    size_t cap;    /* Bytes allocated. */
    bool failed;   /* An allocation failed; content is incomplete. */
};

/* A reader over borrowed bytes. */
struct bytes_in {
    const uint8_t *p; /* Borrowed. */
    size_t len;       /* Total bytes. */
    size_t at;        /* Next byte to read. */
    bool bad;         /* A read went past the end. */
};

void bytes_put(struct bytes_out *b, const void *p, size_t n);
void bytes_put_u8(struct bytes_out *b, uint8_t v);
void bytes_put_u32(struct bytes_out *b, uint32_t v);
void bytes_put_u64(struct bytes_out *b, uint64_t v);
void bytes_put_i64(struct bytes_out *b, int64_t v);
/* A u32 length, then the bytes (a NULL or empty string writes length 0). */
void bytes_put_str(struct bytes_out *b, const char *s);
/* A u64 length, then n bytes of p. */
void bytes_put_blob(struct bytes_out *b, const void *p, size_t n);
/* Append the CRC-32 (zlib) of everything written so far. */
void bytes_put_crc(struct bytes_out *b);

/* A reader over p[0..len) (borrowed). */
struct bytes_in bytes_in_make(const uint8_t *p, size_t len);
/* true if the last 4 bytes are the CRC-32 of the rest; then the reader's
 * length excludes them. */
bool bytes_check_crc(struct bytes_in *in);
void bytes_get(struct bytes_in *in, void *p, size_t n);
uint8_t bytes_get_u8(struct bytes_in *in);
uint32_t bytes_get_u32(struct bytes_in *in);
uint64_t bytes_get_u64(struct bytes_in *in);
int64_t bytes_get_i64(struct bytes_in *in);
/* A bytes_put_str() string into buf (cap bytes, NUL-terminated); a longer
 * one sets bad. */
void bytes_get_str(struct bytes_in *in, char *buf, size_t cap);
/* A bytes_put_blob(): returns a pointer into the input (borrowed) and its
 * length in *n, or NULL (and bad) if it runs past the end. */
const uint8_t *bytes_get_blob(struct bytes_in *in, size_t *n);

#endif /* WEIR_INGEST_BYTES_H */
