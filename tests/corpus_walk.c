/* corpus_walk.c -- walk tests/corpus/<sub> and check decoders' reasons
 * (see corpus_walk.h).
 *
 * Threads: the calling test's thread; no shared state. */
#include "tests/corpus_walk.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/harness.h"

#define CORPUS_WALK_MAX_FILE (1u << 20) /* bytes */

/* Read path into buf (cap bytes); returns its length. */
static size_t corpus_walk_read(const char *path, uint8_t *buf, size_t cap)
{
    FILE *fp = fopen(path, "rb");
    size_t len;

    if (fp == NULL)
        fprintf(stderr, "cannot open %s\n", path);
    ASSERT(fp != NULL);
    len = fread(buf, 1, cap, fp);
    ASSERT(!ferror(fp) && feof(fp)); /* feof: it was not cut at cap */
    fclose(fp);
    return len;
}

size_t corpus_walk(const char *sub, corpus_walk_fn fn)
{
    uint8_t *buf = malloc(CORPUS_WALK_MAX_FILE);
    char path[512];
    struct dirent *e;
    size_t count = 0;
    DIR *d;

    ASSERT(buf != NULL);
    snprintf(path, sizeof(path), "tests/corpus/%s", sub);
    d = opendir(path);
    if (d == NULL)
        fprintf(stderr, "cannot open %s: run from the repository root\n", path);
    ASSERT(d != NULL);
    while ((e = readdir(d)) != NULL) {
        char expect[32];
        const char *sep = strstr(e->d_name, "--");
        size_t len;

        if (e->d_name[0] == '.' || sep == NULL)
            continue;
        ASSERT((size_t)(sep - e->d_name) < sizeof(expect));
        memcpy(expect, e->d_name, (size_t)(sep - e->d_name));
        expect[sep - e->d_name] = '\0';
        snprintf(path, sizeof(path), "tests/corpus/%s/%s", sub, e->d_name);
        len = corpus_walk_read(path, buf, CORPUS_WALK_MAX_FILE);
        fn(e->d_name, buf, len, expect);
        count++;
    }
    closedir(d);
    free(buf);
    return count;
}

/* The reason called name; fails the test if there is none. */
static enum reject_reason corpus_walk_reason(const char *name)
{
    for (int i = 0; i < REJECT__COUNT; i++)
        if (strcmp(reject_name((enum reject_reason)i), name) == 0)
            return (enum reject_reason)i;
    fprintf(stderr, "no reason named %s\n", name);
    abort();
}

void corpus_walk_check_reason(const char *file, int rc, enum reject_reason why,
                              const char *expect)
{
    enum reject_reason want = corpus_walk_reason(expect);

    if (why != want || (rc == 0) != (want == REJECT_NONE))
        fprintf(stderr, "%s: got rc %d reason %s\n", file, rc,
                reject_name(why));
    ASSERT_EQ(why, want);
    ASSERT_EQ(rc == 0, want == REJECT_NONE);
    if (want == REJECT_TOO_LARGE)
        ASSERT_EQ(rc, -EMSGSIZE);
    if (want == REJECT_DECODE_ERROR)
        ASSERT_EQ(rc, -EBADMSG);
    if (want == REJECT_BAD_NAME || want == REJECT_MISSING_FIELD)
        ASSERT_EQ(rc, -EINVAL);
}
