/* harness.h -- the whole test framework: a table of cases, ASSERT macros that
 * print file:line and abort(), and test_main().
 *
 * Each tests/test_<module>.c ends with
 *
 *     static const struct test tests[] = {
 *         { "ring_drops_newest_when_full", ring_drops_newest_when_full },
 *         { NULL, NULL }
 *     };
 *     int main(int argc, char **argv) { return test_main(argc, argv, tests); }
 *
 * test_main() runs every case in a child process (fork), so one abort() or
 * sanitizer report fails that case only; argv[1] runs the one case named.
 * It prints "ok N - name" / "not ok N - name" and closes with the line
 * "N passed, N failed". Threads: the cases own whatever threads they start. */
#ifndef WEIR_TESTS_HARNESS_H
#define WEIR_TESTS_HARNESS_H

#include <stdint.h> /* For intmax_t. */
#include <stdio.h>  /* For fprintf. */
#include <stdlib.h> /* For abort. */
#include <string.h> /* For strcmp. */

struct test {
    const char *name;
    void (*fn)(void);
};

int test_main(int argc, char **argv, const struct test *tests);

/* Seed for randomised tests: WEIR_TEST_SEED from the environment, else a
 * fixed default, so a failure can be replayed. Printed by test_main(). */
uint64_t test_seed(void);

/* A small deterministic PRNG (splitmix64) for tests. */
uint64_t test_rand(uint64_t *state);

/* A scratch directory unique to this case, created on first use and removed
 * with its contents after the case; returns a borrowed path. */
const char *test_tmpdir(void);

#define ASSERT(expr)                                                          \
    do {                                                                      \
        if (!(expr)) {                                                        \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__,       \
                    __LINE__, #expr);                                         \
            abort();                                                          \
        }                                                                     \
    } while (0)

#define ASSERT_EQ(a, b)                                                       \
    do {                                                                      \
        intmax_t a_ = (intmax_t)(a), b_ = (intmax_t)(b);                      \
        if (a_ != b_) {                                                       \
            fprintf(stderr, "%s:%d: %s == %s failed: %jd != %jd\n", __FILE__, \
                    __LINE__, #a, #b, a_, b_);                                \
            abort();                                                          \
        }                                                                     \
    } while (0)

#define ASSERT_STREQ(a, b)                                                    \
    do {                                                                      \
        const char *a_ = (a), *b_ = (b);                                      \
        if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0) {                \
            fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" != \"%s\"\n",     \
                    __FILE__, __LINE__, #a, #b, a_ ? a_ : "(null)",           \
                    b_ ? b_ : "(null)");                                      \
            abort();                                                          \
        }                                                                     \
    } while (0)

/* |a - b| <= tol */
#define ASSERT_NEAR(a, b, tol)                                                \
    do {                                                                      \
        double a_ = (a), b_ = (b), t_ = (tol);                                \
        if (!(a_ - b_ <= t_ && b_ - a_ <= t_)) {                              \
            fprintf(stderr, "%s:%d: |%s - %s| <= %s failed: %.9g vs %.9g\n",  \
                    __FILE__, __LINE__, #a, #b, #tol, a_, b_);                \
            abort();                                                          \
        }                                                                     \
    } while (0)

#endif /* WEIR_TESTS_HARNESS_H */
