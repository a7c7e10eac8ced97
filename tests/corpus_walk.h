/* corpus_walk.h -- the decoder corpus under tests/corpus/, for the tests
 * that feed it to a decoder (test_codec, test_json).
 *
 * Each corpus file is named "EXPECT--what-it-is" (tests/corpus/gen.py),
 * EXPECT being the reject_name() the decoder must answer with ("none" when
 * it must accept the payload), or for capture/ the outcome (ok, eagain,
 * ebadmsg, emsgsize). corpus_walk() calls a function on every such file of
 * one folder; corpus_walk_check_reason() asserts a decoder's answer against
 * a reason name. Paths are relative: tests run from the repository root.
 *
 * Threads: the calling test's thread. */
#ifndef WEIR_TESTS_CORPUS_WALK_H
#define WEIR_TESTS_CORPUS_WALK_H

#include <stddef.h> /* For size_t. */
#include <stdint.h> /* For uint8_t. */

#include "stream/reject.h" /* For enum reject_reason. */

/* Called with the file's name (borrowed), its bytes (borrowed, valid for
 * the call only) and the expected reason's name (borrowed). */
typedef void (*corpus_walk_fn)(const char *file, const uint8_t *buf, size_t len,
                               const char *expect);

/* Call fn on every "EXPECT--..." file of tests/corpus/sub (up to 1 MiB
 * each); returns how many. Aborts the test if the folder or a file cannot
 * be read. */
size_t corpus_walk(const char *sub, corpus_walk_fn fn);

/* Assert that a decode of file ended as expect says: reason why is the one
 * named expect (an unknown name fails the test), rc is 0 exactly for
 * "none", and the reasons with a fixed errno have it (too_large -EMSGSIZE,
 * decode_error -EBADMSG, bad_name and missing_field -EINVAL). */
void corpus_walk_check_reason(const char *file, int rc, enum reject_reason why,
                              const char *expect);

#endif /* WEIR_TESTS_CORPUS_WALK_H */
