/* intern.h -- device and sensor names to small dense integer ids.
 *
 * A bounded table maps each distinct name to the id 0, 1, 2, ... in order of
 * first sight, so every per-device or per-sensor structure downstream is a
 * plain array indexed by id. The daemon keeps two instances, one for device
 * names and one for sensor names. When the table is full a new name is
 * refused (REJECT_TABLE_FULL) and known names keep working: memory never
 * grows past what intern_new() allocated. Names follow codec_name_ok()
 * (proto/codec.h); anything else is REJECT_BAD_NAME.
 *
 * Threads: one writer thread (the daemon's Paho thread) calls intern_add()
 * and intern_find(); the hash index is private to it. Any other thread may
 * call intern_count() and intern_name() concurrently: an entry is written
 * completely before the count that covers it is published with a release
 * store, and entries never change afterwards. Import runs before the writer
 * starts. */
#ifndef WEIR_STREAM_INTERN_H
#define WEIR_STREAM_INTERN_H

#include <stdbool.h> /* For bool. */
#include <stddef.h>  /* For size_t. */
#include <stdint.h>  /* For uint8_t, uint32_t. */

#include "stream/reject.h" /* For enum reject_reason. */

/* ---- Limits ------------------------------------------------------------ */

#define INTERN_NAME_MAX 64        /* bytes; equals CODEC_NAME_MAX */
#define INTERN_MAX_CAP (1u << 24) /* most names one table can hold */

/* ---- Types ------------------------------------------------------------- */

struct intern;

/* ---- Lifecycle --------------------------------------------------------- */

/* Create an empty table for up to capacity names (1..INTERN_MAX_CAP).
 * Returns 0 and *out (returns owned, free with intern_free()), -EINVAL,
 * -ENOMEM. All memory is allocated here. */
int intern_new(struct intern **out, size_t capacity);

/* Free a table (takes t); intern_free(NULL) is a no-op. */
void intern_free(struct intern *t);

/* ---- Writer thread ----------------------------------------------------- */

/* The id of name[0..len) (borrowed; need not be NUL-terminated), adding the
 * name if it is new. Returns 0 and *id, -EINVAL if the name is not
 * codec_name_ok() (REJECT_BAD_NAME), -ENOSPC if it is new and the table is
 * full (REJECT_TABLE_FULL). *why is set to the reason (REJECT_NONE on
 * success) when why is not NULL. */
int intern_add(struct intern *t, const char *name, size_t len, uint32_t *id,
               enum reject_reason *why);

/* true and *id if name[0..len) is in the table; never adds. */
bool intern_find(const struct intern *t, const char *name, size_t len,
                 uint32_t *id);

/* ---- Any thread -------------------------------------------------------- */

/* Names in the table; ids 0..count-1 are valid (acquire load). */
size_t intern_count(const struct intern *t);

/* The NUL-terminated name of id (borrowed; valid until intern_free()), or
 * NULL if id >= intern_count(). */
const char *intern_name(const struct intern *t, uint32_t id);

/* Maximum number of names. */
size_t intern_capacity(const struct intern *t);

/* ---- Checkpoints ------------------------------------------------------- */

/* Serialise the names in id order into buf (borrowed, cap bytes): a 4-byte
 * little-endian count, then per name a length byte and the bytes. Returns
 * the size needed; the buffer holds a complete export only if that is
 * <= cap. Writer thread (or when it is stopped). */
size_t intern_export(const struct intern *t, uint8_t *buf, size_t cap);

/* Re-add the names of an intern_export() buffer (borrowed) in order, so
 * every name gets its old id back. The table must be empty. Returns 0,
 * -EBUSY if the table is not empty, -EBADMSG if buf is truncated, has
 * trailing bytes, a bad name or a repeated name, -ENOSPC if it holds more
 * names than the capacity. On error the table is left empty. */
int intern_import(struct intern *t, const uint8_t *buf, size_t len);

#endif /* WEIR_STREAM_INTERN_H */
