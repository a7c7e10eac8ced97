/* fuzz_reading.c -- libFuzzer target: codec_decode_reading() on any bytes.
 *
 * Built by `make fuzz` with -DCODEC_CROSSCHECK=1, so codec.c also decodes
 * every input with protobuf-c and aborts if the two disagree on what is
 * malformed or on any field. On top of that this target checks the
 * decoder's own contract: the return code matches the reason, an accepted
 * message holds valid names, and it re-encodes to bytes that decode to the
 * same fields.
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct codec_msg m;
    struct codec_msg again;
    uint8_t buf[512];
    enum reject_reason why = REJECT__COUNT;
    int rc = codec_decode_reading(data, size, &m, &why);
    size_t len;

    check(why < REJECT__COUNT);
    check((rc == 0) == (why == REJECT_NONE));
    check(rc == 0 || rc == -EMSGSIZE || rc == -EBADMSG || rc == -EINVAL);
    if (rc != 0)
        return 0;
    check(m.n == 1 && m.m[0].has_value && !m.m[0].is_label);
    check(m.m[0].name[0] == '\0' || codec_name_ok(m.m[0].name, strlen(m.m[0].name)));
    check(m.device[0] == '\0' || codec_name_ok(m.device, strlen(m.device)));
    len = codec_encode_reading(&m, buf, sizeof(buf));
    check(len > 0);
    check(codec_decode_reading(buf, len, &again, &why) == 0);
    check(strcmp(m.device, again.device) == 0 &&
          strcmp(m.m[0].name, again.m[0].name) == 0);
    check(m.has_seq == again.has_seq && m.seq == again.seq);
    check(m.has_ts == again.has_ts && m.ts_ms == again.ts_ms);
    check(memcmp(&m.m[0].value, &again.m[0].value, sizeof(double)) == 0);
    return 0;
}
