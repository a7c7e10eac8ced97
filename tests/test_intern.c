/* test_intern.c -- name interning: dense ids, bad names, a full table,
 * export/import round trips and corrupt imports, a seeded differential run
 * against a linear list, and a reader thread racing the writer (TSan).
 * Threads: intern_reader_races_writer starts one reader thread. */
#include "stream/intern.h"
#include "tests/harness.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SLOW_BUILD 1
#endif
#ifdef SLOW_BUILD
#define DIFF_OPS 100000u
#else
#define DIFF_OPS 1000000u
#endif

static int add(struct intern *t, const char *name, uint32_t *id,
               enum reject_reason *why)
{
    return intern_add(t, name, strlen(name), id, why);
}

static void intern_gives_dense_ids(void)
{
    struct intern *t;
    uint32_t id = 99;
    enum reject_reason why = REJECT__COUNT;

    ASSERT_EQ(intern_new(&t, 0), -EINVAL);
    ASSERT_EQ(intern_new(&t, (size_t)INTERN_MAX_CAP + 1), -EINVAL);
    ASSERT_EQ(intern_new(&t, 10), 0);
    ASSERT_EQ(intern_count(t), 0);
    ASSERT(intern_name(t, 0) == NULL);
    ASSERT(!intern_find(t, "a", 1, &id));
    ASSERT_EQ(add(t, "kitchen", &id, &why), 0);
    ASSERT_EQ(id, 0);
    ASSERT_EQ(why, REJECT_NONE);
    ASSERT_EQ(add(t, "hall", &id, NULL), 0);
    ASSERT_EQ(id, 1);
    ASSERT_EQ(add(t, "kitchen", &id, NULL), 0); /* known: same id */
    ASSERT_EQ(id, 0);
    /* Not NUL-terminated input: only len bytes count. */
    ASSERT_EQ(intern_add(t, "hallway", 4, &id, NULL), 0);
    ASSERT_EQ(id, 1);
    ASSERT_EQ(intern_count(t), 2);
    ASSERT_STREQ(intern_name(t, 0), "kitchen");
    ASSERT_STREQ(intern_name(t, 1), "hall");
    ASSERT(intern_name(t, 2) == NULL);
    ASSERT(intern_find(t, "hall", 4, &id) && id == 1);
    ASSERT(!intern_find(t, "hal", 3, &id));
    ASSERT_EQ(intern_capacity(t), 10);
    intern_free(t);
    intern_free(NULL);
}

static void intern_refuses_bad_names(void)
{
    static const char *const bad[] = {"",          "a/b",     "a+",      "#",
                                      "tab\there", "del\x7f", "\xff\xfe"};
    char longname[INTERN_NAME_MAX + 2];
    struct intern *t;
    uint32_t id;
    enum reject_reason why;

    ASSERT_EQ(intern_new(&t, 4), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why = REJECT_NONE;
        ASSERT_EQ(add(t, bad[i], &id, &why), -EINVAL);
        ASSERT_EQ(why, REJECT_BAD_NAME);
    }
    ASSERT_EQ(intern_add(t, "nul\0inside", 10, &id, &why), -EINVAL);
    memset(longname, 'x', sizeof(longname));
    longname[INTERN_NAME_MAX + 1] = '\0';
    ASSERT_EQ(add(t, longname, &id, &why), -EINVAL); /* 65 bytes */
    ASSERT_EQ(why, REJECT_BAD_NAME);
    longname[INTERN_NAME_MAX] = '\0';
    ASSERT_EQ(add(t, longname, &id, &why), 0); /* exactly 64 is fine */
    ASSERT_STREQ(intern_name(t, id), longname);
    ASSERT_EQ(add(t, "caf\xc3\xa9", &id, &why), 0); /* UTF-8 is a name */
    ASSERT_EQ(intern_count(t), 2);
    intern_free(t);
}

static void intern_full_table_refuses_new_names_only(void)
{
    struct intern *t;
    uint32_t id;
    enum reject_reason why;
    char name[16];

    ASSERT_EQ(intern_new(&t, 3), 0);
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof(name), "dev%d", i);
        ASSERT_EQ(add(t, name, &id, &why), 0);
        ASSERT_EQ(id, i);
    }
    for (int round = 0; round < 100; round++) {
        snprintf(name, sizeof(name), "new%d", round);
        ASSERT_EQ(add(t, name, &id, &why), -ENOSPC);
        ASSERT_EQ(why, REJECT_TABLE_FULL);
        ASSERT_EQ(add(t, "a/b", &id, &why), -EINVAL); /* still bad_name */
        ASSERT_EQ(add(t, "dev1", &id, &why), 0);      /* known still work */
        ASSERT_EQ(id, 1);
    }
    ASSERT_EQ(intern_count(t), 3);
    ASSERT(intern_name(t, 3) == NULL);
    intern_free(t);
}

/* Names from a small alphabet and lengths 1..64, so some share prefixes and
 * every word-boundary length occurs. */
static size_t random_name(uint64_t *seed, char *out)
{
    uint64_t v = test_rand(seed);
    size_t len = 1 + (size_t)(v % 64);

    if (v & (1ULL << 40))
        len = 1 + (size_t)(v % 3); /* many short, colliding-prone names */
    for (size_t i = 0; i < len; i++)
        out[i] = "abcd-_.xyz"[test_rand(seed) % 4 + (i % 2) * 4];
    out[len] = '\0';
    return len;
}

static void intern_matches_linear_list(void)
{
    enum { CAP = DIFF_OPS / 200 }; /* ops / 4 unique names on average */
    static char ref[CAP][INTERN_NAME_MAX + 1];
    size_t nref = 0;
    struct intern *t;
    uint64_t seed = test_seed();
    size_t refused = 0;

    ASSERT_EQ(intern_new(&t, CAP), 0);
    for (size_t op = 0; op < DIFF_OPS / 50; op++) {
        char name[INTERN_NAME_MAX + 1];
        size_t len = random_name(&seed, name);
        size_t want = nref;
        uint32_t id;
        int rc;

        for (size_t i = 0; i < nref; i++)
            if (strcmp(ref[i], name) == 0)
                want = i;
        rc = intern_add(t, name, len, &id, NULL);
        if (want == nref && nref == CAP) {
            ASSERT_EQ(rc, -ENOSPC);
            refused++;
            continue;
        }
        ASSERT_EQ(rc, 0);
        ASSERT_EQ(id, want);
        if (want == nref)
            memcpy(ref[nref++], name, len + 1);
    }
    ASSERT_EQ(intern_count(t), nref);
    for (size_t i = 0; i < nref; i++)
        ASSERT_STREQ(intern_name(t, (uint32_t)i), ref[i]);
    ASSERT(nref == CAP && refused > 0); /* both regimes were exercised */
    intern_free(t);
}

static void intern_export_import_round_trip(void)
{
    struct intern *a;
    struct intern *b;
    uint8_t buf[4096];
    uint8_t small[8];
    char name[32];
    uint32_t id;
    size_t len;

    ASSERT_EQ(intern_new(&a, 300), 0);
    ASSERT_EQ(intern_new(&b, 300), 0);
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof(name), "sensor-%d", i * 7919 % 1000);
        ASSERT_EQ(add(a, name, &id, NULL), 0);
    }
    len = intern_export(a, buf, sizeof(buf));
    ASSERT(len <= sizeof(buf));
    ASSERT_EQ(intern_export(a, small, sizeof(small)), len); /* size only */
    ASSERT_EQ(intern_import(b, buf, len), 0);
    ASSERT_EQ(intern_count(b), 200);
    for (uint32_t i = 0; i < 200; i++) {
        ASSERT_STREQ(intern_name(b, i), intern_name(a, i));
        ASSERT(
            intern_find(b, intern_name(a, i), strlen(intern_name(a, i)), &id) &&
            id == i);
    }
    /* New names continue after the imported ones. */
    ASSERT_EQ(add(b, "fresh", &id, NULL), 0);
    ASSERT_EQ(id, 200);
    ASSERT_EQ(intern_import(b, buf, len), -EBUSY);
    intern_free(a);
    intern_free(b);
}

static void intern_import_refuses_corrupt_input(void)
{
    /* count 2: "ab", "cd" */
    static const uint8_t good[] = {2, 0, 0, 0, 2, 'a', 'b', 2, 'c', 'd'};
    uint8_t buf[sizeof(good) + 1];
    struct intern *t;

    ASSERT_EQ(intern_new(&t, 2), 0);
    ASSERT_EQ(intern_import(t, good, 3), -EBADMSG);                /* header */
    ASSERT_EQ(intern_import(t, good, sizeof(good) - 1), -EBADMSG); /* cut */
    memcpy(buf, good, sizeof(good));
    buf[sizeof(good)] = 0;
    ASSERT_EQ(intern_import(t, buf, sizeof(buf)), -EBADMSG); /* trailing */
    memcpy(buf, good, sizeof(good));
    buf[8] = 'a', buf[9] = 'b'; /* repeated name */
    ASSERT_EQ(intern_import(t, buf, sizeof(good)), -EBADMSG);
    ASSERT_EQ(intern_count(t), 0); /* the first name was rolled back */
    memcpy(buf, good, sizeof(good));
    buf[5] = '/'; /* bad name */
    ASSERT_EQ(intern_import(t, buf, sizeof(good)), -EBADMSG);
    memcpy(buf, good, sizeof(good));
    buf[4] = 0; /* empty name */
    ASSERT_EQ(intern_import(t, buf, sizeof(good)), -EBADMSG);
    memcpy(buf, good, sizeof(good));
    buf[0] = 3; /* more names than the capacity */
    ASSERT_EQ(intern_import(t, buf, sizeof(good)), -ENOSPC);
    memcpy(buf, good, sizeof(good));
    buf[4] = 200; /* length past the end */
    ASSERT_EQ(intern_import(t, buf, sizeof(good)), -EBADMSG);
    ASSERT_EQ(intern_count(t), 0);
    ASSERT_EQ(intern_import(t, good, sizeof(good)), 0);
    ASSERT_STREQ(intern_name(t, 1), "cd");
    intern_free(t);
}

struct race {
    struct intern *t;
    size_t n;         /* Names the writer adds. */
    atomic_bool done; /* Writer finished. */
    uint64_t checked; /* Reader: names verified. */
    uint64_t bad;     /* Reader: wrong or missing names. */
};

static void *reader(void *arg)
{
    struct race *r = arg;
    char want[32];
    size_t seen = 0;

    for (;;) {
        bool last = atomic_load(&r->done);
        size_t n = intern_count(r->t);

        r->bad += n < seen; /* the count never goes back */
        for (size_t i = seen; i < n; i++) {
            const char *got = intern_name(r->t, (uint32_t)i);
            snprintf(want, sizeof(want), "device-%zu", i);
            r->bad += got == NULL || strcmp(got, want) != 0;
            r->checked++;
        }
        seen = n;
        if (last)
            break;
        sched_yield();
    }
    return NULL;
}

static void intern_reader_races_writer(void)
{
    struct race r;
    pthread_t th;
    char name[32];
    uint32_t id;

    memset(&r, 0, sizeof(r));
    r.n = 50000;
    atomic_init(&r.done, false);
    ASSERT_EQ(intern_new(&r.t, r.n), 0);
    ASSERT_EQ(pthread_create(&th, NULL, reader, &r), 0);
    for (size_t i = 0; i < r.n; i++) {
        int len = snprintf(name, sizeof(name), "device-%zu", i);
        ASSERT_EQ(intern_add(r.t, name, (size_t)len, &id, NULL), 0);
        ASSERT_EQ(id, i);
    }
    atomic_store(&r.done, true);
    ASSERT_EQ(pthread_join(th, NULL), 0);
    ASSERT_EQ(r.bad, 0);
    ASSERT_EQ(r.checked, r.n);
    intern_free(r.t);
}

static const struct test tests[] = {
    {"intern_gives_dense_ids", intern_gives_dense_ids},
    {"intern_refuses_bad_names", intern_refuses_bad_names},
    {"intern_full_table_refuses_new_names_only",
     intern_full_table_refuses_new_names_only},
    {"intern_matches_linear_list", intern_matches_linear_list},
    {"intern_export_import_round_trip", intern_export_import_round_trip},
    {"intern_import_refuses_corrupt_input",
     intern_import_refuses_corrupt_input},
    {"intern_reader_races_writer", intern_reader_races_writer},
    {NULL, NULL}};

int main(int argc, char **argv)
{
    return test_main(argc, argv, tests);
}
