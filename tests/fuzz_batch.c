/* fuzz_batch.c -- libFuzzer target: codec_decode_batch() on any bytes.
 *
 * Built by `make fuzz` with -DCODEC_CROSSCHECK=1 (protobuf-c decodes every
 * input too; any disagreement aborts). Checks the contract: reason and
 * return code agree, at most CODEC_MAX_METRICS entries, valid names,
 * metrics before labels, and an accepted batch re-encodes to bytes that
 * decode to the same entries in the same order.
 * Threads: libFuzzer's one thread. */
#include "proto/codec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok)
        abort();
}

static void same(const struct codec_msg *a, const struct codec_msg *b)
{
    check(strcmp(a->device, b->device) == 0 && a->n == b->n);
    check(a->has_seq == b->has_seq && a->seq == b->seq);
    check(a->has_ts == b->has_ts && a->ts_ms == b->ts_ms);
    for (size_t i = 0; i < a->n; i++) {
        check(strcmp(a->m[i].name, b->m[i].name) == 0);
        check(a->m[i].is_label == b->m[i].is_label);
        check(memcmp(&a->m[i].value, &b->m[i].value, sizeof(double)) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t buf[1 << 16]; /* written and read within one call */
    struct codec_msg *m = malloc(2 * sizeof(*m));
    enum reject_reason why = REJECT__COUNT;
    int rc;
    size_t len;
    bool label = false;

    check(m != NULL);
    rc = codec_decode_batch(data, size, &m[0], &why);
    check(why < REJECT__COUNT);
    check((rc == 0) == (why == REJECT_NONE));
    check(rc == 0 || rc == -EMSGSIZE || rc == -EBADMSG || rc == -EINVAL);
    if (rc == 0) {
        check(m[0].n >= 1 && m[0].n <= CODEC_MAX_METRICS);
        check(m[0].device[0] == '\0' ||
              codec_name_ok(m[0].device, strlen(m[0].device)));
        for (size_t i = 0; i < m[0].n; i++) {
            check(codec_name_ok(m[0].m[i].name, strlen(m[0].m[i].name)));
            check(m[0].m[i].has_value);
            check(!label || m[0].m[i].is_label);
            label = m[0].m[i].is_label;
        }
        len = codec_encode_batch(&m[0], buf, sizeof(buf));
        check(len > 0);
        check(codec_decode_batch(buf, len, &m[1], &why) == 0);
        same(&m[0], &m[1]);
    }
    free(m);
    return 0;
}
