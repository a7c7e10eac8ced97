/* test_reject.c -- reject reason names are stable and complete, and so are
 * their numbers (checkpoints save counters by index).
 * Threads: single-threaded. */
#include "stream/reject.h"
#include "tests/harness.h"

#include "proto/codec.h" /* For codec_name_ok(). */

static void every_reason_has_a_distinct_name(void)
{
    for (int i = 0; i < REJECT__COUNT; i++) {
        const char *a = reject_name((enum reject_reason)i);
        ASSERT(a != NULL && strcmp(a, "unknown") != 0);
        /* A name is a topic level of weir/rejects/{reason} and a label. */
        ASSERT(codec_name_ok(a, strlen(a)));
        for (const char *c = a; *c != '\0'; c++)
            ASSERT((*c >= 'a' && *c <= 'z') || *c == '_');
        for (int j = 0; j < i; j++)
            ASSERT(strcmp(a, reject_name((enum reject_reason)j)) != 0);
    }
}

static void names_and_numbers_are_stable(void)
{
    /* Names appear in topics and metrics, numbers in checkpoints: a
     * reason is only ever added at the end. This table is the contract. */
    static const char *const names[] = {
        "none",     "decode_error",   "too_large",      "missing_field",
        "bad_name", "table_full",     "duplicate",      "stale",
        "nan",      "out_of_range",   "rate_of_change", "ts_future",
        "ts_stale", "unknown_sensor", "ring_full",      "unknown_topic",
    };

    ASSERT_EQ(sizeof(names) / sizeof(names[0]), REJECT__COUNT);
    for (int i = 0; i < REJECT__COUNT; i++)
        ASSERT_STREQ(reject_name((enum reject_reason)i), names[i]);
    ASSERT_EQ(REJECT_UNKNOWN_TOPIC, 15);
    ASSERT_STREQ(reject_name((enum reject_reason)REJECT__COUNT), "unknown");
    ASSERT_STREQ(reject_name((enum reject_reason) - 1), "unknown");
}

static const struct test tests[] = {
    {"every_reason_has_a_distinct_name", every_reason_has_a_distinct_name},
    {"names_and_numbers_are_stable", names_and_numbers_are_stable},
    {NULL, NULL}};

int main(int argc, char **argv)
{
    return test_main(argc, argv, tests);
}
