/* intern.c -- device and sensor names to dense ids, in a bounded table.
 *
 * Layout: an array of fixed 72-byte entries indexed by id (name, length,
 * hash), and an open-addressing index of 32-byte slots (linear probing),
 * each holding id + 1 (0 = empty), a 32-bit hash tag, the name's length
 * and its first INTERN_HEAD bytes. The index has at least twice as many
 * slots as the table has entries, so probes are short (expected < 1.5 at
 * the maximum load of 1/2), and since names are never removed no
 * tombstones are needed. With 10000 devices the index does not fit in L2,
 * so the lookup is bound by cache misses: keeping the head of the name in
 * the slot makes a hit on a name of up to INTERN_HEAD bytes cost one miss
 * (the slot) instead of two (slot, then entry), which measured 1.8x faster
 * on 10000 random device names. Longer names compare their tail in the
 * entry. Slots are 64-byte aligned in pairs, so a slot never straddles two
 * lines. Everything is allocated in intern_new(): capacity x 72 bytes of
 * entries plus 2..4 x capacity x 32 bytes of index.
 *
 * Names are checked with codec_name_ok() only when they are new: a name
 * found in the table was checked when it was added.
 *
 * The hash is a multiply-xorshift over 8-byte words (all names are at most
 * 64 bytes) with a fixed key. It is not keyed per process: an attacker who
 * picks colliding device names can only lengthen probes up to the table
 * size, which is bounded, and the table refuses names beyond its capacity.
 *
 * Publication: the writer fills entries[count] completely, then stores
 * count + 1 with release semantics; readers load count with acquire and
 * read only entries below it, which never change again. The index is never
 * read by other threads.
 *
 * Threads: intern_add(), intern_find(), intern_export() and
 * intern_import() run on the single writer thread (the daemon's Paho
 * thread, or start-up before it exists). intern_count(), intern_name() and
 * intern_capacity() are safe from any thread. */
#include "stream/intern.h"

#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "proto/codec.h"     /* For codec_name_ok(), CODEC_NAME_MAX. */
#include "stream/internal.h" /* For the image codec. */

_Static_assert(INTERN_NAME_MAX == CODEC_NAME_MAX,
               "interned names are codec names");
_Static_assert(INTERN_NAME_MAX < 256, "export stores lengths in one byte");
_Static_assert(INTERN_MAX_CAP <= UINT32_MAX / 4,
               "ids and the index size fit in 32 bits");

struct intern_entry {
    char name[INTERN_NAME_MAX + 1]; /* NUL-terminated; immutable once
                                       published. */
    uint8_t len;                    /* strlen(name). */
    uint32_t hash;                  /* Low 32 bits of the name's hash. */
};

_Static_assert(sizeof(struct intern_entry) == 72, "entry layout");

#define INTERN_HEAD 23 /* name bytes kept in an index slot */

struct intern_slot {
    uint32_t id1;           /* id + 1; 0: empty. */
    uint32_t tag;           /* Low 32 bits of the name's hash. */
    uint8_t len;            /* Name length. */
    char head[INTERN_HEAD]; /* First bytes of the name (not NUL-ended). */
};

_Static_assert(sizeof(struct intern_slot) == 32, "two slots per line");

struct intern {
    atomic_size_t count;          /* Published entries; writer stores. */
    size_t capacity;              /* Maximum entries; constant. */
    struct intern_entry *entries; /* capacity entries; see above. */
    struct intern_slot *index;    /* index_mask + 1 slots; writer only. */
    size_t index_mask;            /* Index slots - 1; constant. */
};

static uint64_t load64(const char *p)
{
    uint64_t v;

    memcpy(&v, p, 8); /* one unaligned load */
    return v;
}

static uint64_t load32(const char *p)
{
    uint32_t v;

    memcpy(&v, p, 4);
    return v;
}

/* 64-bit hash of name[0..len), 1 <= len <= INTERN_NAME_MAX. The tail is
 * read with loads that overlap the bytes before it, never past the end,
 * so there is no byte loop and no variable-length memcpy. */
static uint64_t intern_hash(const char *name, size_t len)
{
    const uint64_t k = 0x9e3779b97f4a7c15ULL;
    uint64_t h = 0x2545f4914f6cdd1dULL ^ (len * k);
    uint64_t w;
    size_t i;

    if (len >= 8) {
        for (i = 0; i + 8 < len; i += 8) {
            h = (h ^ load64(name + i)) * k;
            h ^= h >> 29;
        }
        w = load64(name + len - 8);
    } else if (len >= 4) {
        w = load32(name) | load32(name + len - 4) << 32;
    } else {
        w = (uint64_t)(unsigned char)name[0] |
            (uint64_t)(unsigned char)name[len / 2] << 8 |
            (uint64_t)(unsigned char)name[len - 1] << 16;
    }
    h = (h ^ w) * k;
    /* splitmix64's finaliser: every input bit reaches every output bit. */
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
}

int intern_new(struct intern **out, size_t capacity)
{
    struct intern *t;
    size_t slots = 2;

    if (capacity < 1 || capacity > INTERN_MAX_CAP)
        return -EINVAL;
    while (slots < 2 * capacity)
        slots <<= 1;
    if ((t = calloc(1, sizeof(*t))) == NULL)
        return -ENOMEM;
    if ((t->entries = calloc(capacity, sizeof(*t->entries))) == NULL)
        goto out_free_t;
    t->index = aligned_alloc(64, slots * sizeof(*t->index));
    if (t->index == NULL)
        goto out_free_entries;
    memset(t->index, 0, slots * sizeof(*t->index));
    atomic_init(&t->count, 0);
    t->capacity = capacity;
    t->index_mask = slots - 1;
    *out = t;
    return 0;
out_free_entries:
    free(t->entries);
out_free_t:
    free(t);
    return -ENOMEM;
}

void intern_free(struct intern *t)
{
    if (t == NULL)
        return;
    free(t->index);
    free(t->entries);
    free(t);
}

/* The index slot holding name, or the empty slot where it would go. */
static size_t intern_probe(const struct intern *t, const char *name, size_t len,
                           uint64_t h)
{
    uint32_t tag = (uint32_t)h;
    size_t head = len < INTERN_HEAD ? len : INTERN_HEAD;
    size_t i = (size_t)(h >> 32) & t->index_mask;

    for (;; i = (i + 1) & t->index_mask) {
        const struct intern_slot *s = &t->index[i];

        if (s->id1 == 0)
            return i;
        if (s->tag != tag || s->len != len || memcmp(s->head, name, head) != 0)
            continue;
        if (len <= INTERN_HEAD ||
            memcmp(t->entries[s->id1 - 1].name + INTERN_HEAD,
                   name + INTERN_HEAD, len - INTERN_HEAD) == 0)
            return i;
    }
}

bool intern_find(const struct intern *t, const char *name, size_t len,
                 uint32_t *id)
{
    size_t i;

    if (len == 0 || len > INTERN_NAME_MAX)
        return false;
    i = intern_probe(t, name, len, intern_hash(name, len));
    if (t->index[i].id1 == 0)
        return false;
    *id = t->index[i].id1 - 1;
    return true;
}

/* Add a name known to be new whose empty index slot is i. */
static uint32_t intern_insert(struct intern *t, const char *name, size_t len,
                              uint64_t h, size_t i, size_t n)
{
    struct intern_entry *e = &t->entries[n];
    struct intern_slot *s = &t->index[i];

    memcpy(e->name, name, len);
    e->name[len] = '\0';
    e->len = (uint8_t)len;
    e->hash = (uint32_t)h;
    s->id1 = (uint32_t)n + 1;
    s->tag = (uint32_t)h;
    s->len = (uint8_t)len;
    memcpy(s->head, name, len < INTERN_HEAD ? len : INTERN_HEAD);
    /* Release: the entry is complete before a reader can see its id. */
    atomic_store_explicit(&t->count, n + 1, memory_order_release);
    return (uint32_t)n;
}

int intern_add(struct intern *t, const char *name, size_t len, uint32_t *id,
               enum reject_reason *why)
{
    enum reject_reason dummy;
    uint64_t h = 0;
    size_t i = 0;
    size_t n;

    why = why ? why : &dummy;
    if (len >= 1 && len <= INTERN_NAME_MAX) {
        h = intern_hash(name, len);
        i = intern_probe(t, name, len, h);
        if (t->index[i].id1 != 0) { /* known: checked when added */
            *id = t->index[i].id1 - 1;
            *why = REJECT_NONE;
            return 0;
        }
    }
    if (!codec_name_ok(name, len)) {
        *why = REJECT_BAD_NAME;
        return -EINVAL;
    }
    n = atomic_load_explicit(&t->count, memory_order_relaxed); /* ours */
    if (n == t->capacity) {
        *why = REJECT_TABLE_FULL;
        return -ENOSPC;
    }
    *id = intern_insert(t, name, len, h, i, n);
    *why = REJECT_NONE;
    return 0;
}

size_t intern_count(const struct intern *t)
{
    return atomic_load_explicit(&t->count, memory_order_acquire);
}

const char *intern_name(const struct intern *t, uint32_t id)
{
    if (id >= atomic_load_explicit(&t->count, memory_order_acquire))
        return NULL;
    return t->entries[id].name;
}

size_t intern_capacity(const struct intern *t)
{
    return t->capacity;
}

size_t intern_export(const struct intern *t, uint8_t *buf, size_t cap)
{
    size_t n = atomic_load_explicit(&t->count, memory_order_acquire);
    struct stream__out o = stream__img_out(buf, cap);

    stream__put(&o, n, 4);
    for (size_t i = 0; i < n; i++) {
        stream__put(&o, t->entries[i].len, 1);
        stream__put_mem(&o, t->entries[i].name, t->entries[i].len);
    }
    return o.len;
}

/* Forget every name; only while no reader runs (import, before threads). */
static void intern_clear(struct intern *t)
{
    memset(t->index, 0, (t->index_mask + 1) * sizeof(*t->index));
    atomic_store_explicit(&t->count, 0, memory_order_release);
}

int intern_import(struct intern *t, const uint8_t *buf, size_t len)
{
    struct stream__in in = stream__img_in(buf, len);
    size_t n;

    if (intern_count(t) != 0)
        return -EBUSY;
    n = (size_t)stream__get(&in, 4);
    if (in.bad)
        return -EBADMSG;
    if (n > t->capacity)
        return -ENOSPC;
    for (size_t i = 0; i < n; i++) {
        size_t k = (size_t)stream__get(&in, 1);
        const uint8_t *name = stream__get_mem(&in, k);
        uint32_t id;

        if (name == NULL ||
            intern_add(t, (const char *)name, k, &id, NULL) != 0 ||
            id != i) /* cut short, a bad or a repeated name */
            goto out_bad;
    }
    if (in.at != len)
        goto out_bad;
    return 0;
out_bad:
    intern_clear(t);
    return -EBADMSG;
}
