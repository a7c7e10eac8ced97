/* harness.c -- runs a table of test cases, each in a forked child.
 *
 * The parent makes one scratch directory per case and points the child's
 * TMPDIR at it, so test_tmpdir() and everything a case creates with
 * TMPDIR (tests/broker.c's broker directories) lives under it; the parent
 * removes it when the child ends, also when the case aborted or was killed
 * (the child's own clean-up never runs then).
 * Threads: the parent is single-threaded; a case may start threads in its
 * child, which exits when the case returns. */
#include "tests/harness.h"

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[256]; /* Per case; set in the child by test_tmpdir(). */

uint64_t test_seed(void)
{
    const char *s = getenv("WEIR_TEST_SEED");
    return s ? strtoull(s, NULL, 0) : 0x5eed5eed5eedULL;
}

uint64_t test_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

const char *test_tmpdir(void)
{
    if (tmpdir[0] == '\0') {
        const char *base = getenv("TMPDIR");
        snprintf(tmpdir, sizeof(tmpdir), "%s/weir-test-XXXXXX",
                 base ? base : "/tmp");
        if (mkdtemp(tmpdir) == NULL) {
            perror("mkdtemp");
            abort();
        }
    }
    return tmpdir;
}

static int rm_one(const char *path, const struct stat *sb, int flag,
                  struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static bool run_one(const struct test *t)
{
    const char *base = getenv("TMPDIR");
    char casedir[256];
    int status;
    pid_t pid;

    snprintf(casedir, sizeof(casedir), "%s/weir-case-XXXXXX",
             base ? base : "/tmp");
    if (mkdtemp(casedir) == NULL) {
        perror("mkdtemp");
        return false;
    }
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        perror("fork");
        nftw(casedir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        return false;
    }
    if (pid == 0) {
        if (setenv("TMPDIR", casedir, 1) != 0)
            abort();
        t->fn();
        if (tmpdir[0] != '\0')
            nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        exit(0); /* not _exit: LeakSanitizer checks at exit */
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    nftw(casedir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    if (WIFSIGNALED(status))
        fprintf(stderr, "%s: killed by signal %d\n", t->name,
                WTERMSIG(status));
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int test_main(int argc, char **argv, const struct test *tests)
{
    int passed = 0;
    int failed = 0;
    int n = 0;

    fprintf(stderr, "# seed 0x%" PRIx64 " (set WEIR_TEST_SEED to change)\n",
            test_seed());
    for (const struct test *t = tests; t->name != NULL; t++) {
        if (argc > 1 && strcmp(argv[1], t->name) != 0)
            continue;
        n++;
        if (run_one(t)) {
            printf("ok %d - %s\n", n, t->name);
            passed++;
        } else {
            printf("not ok %d - %s\n", n, t->name);
            failed++;
        }
        fflush(stdout);
    }
    if (argc > 1 && n == 0) {
        fprintf(stderr, "no test named %s\n", argv[1]);
        failed++;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
