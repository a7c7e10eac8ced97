/* test_reject.c -- reject reason names are stable and complete. */
#include "stream/reject.h"
#include "tests/harness.h"

static void every_reason_has_a_distinct_name(void)
{
    for (int i = 0; i < REJECT__COUNT; i++) {
        const char *a = reject_name((enum reject_reason)i);
        ASSERT(a != NULL && strcmp(a, "unknown") != 0);
        for (int j = 0; j < i; j++)
            ASSERT(strcmp(a, reject_name((enum reject_reason)j)) != 0);
    }
}

static void names_are_stable(void)
{
    /* These appear in topics and metrics: changing one breaks users. */
    ASSERT_STREQ(reject_name(REJECT_NAN), "nan");
    ASSERT_STREQ(reject_name(REJECT_DUPLICATE), "duplicate");
    ASSERT_STREQ(reject_name(REJECT_DECODE_ERROR), "decode_error");
    ASSERT_STREQ(reject_name(REJECT_TABLE_FULL), "table_full");
    ASSERT_STREQ(reject_name((enum reject_reason)REJECT__COUNT), "unknown");
}

static const struct test tests[] = {
    {"every_reason_has_a_distinct_name", every_reason_has_a_distinct_name},
    {"names_are_stable", names_are_stable},
    {NULL, NULL}};

int main(int argc, char **argv)
{
    return test_main(argc, argv, tests);
}
