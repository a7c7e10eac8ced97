/* fuzz_capture.c -- libFuzzer target: read any bytes as a capture file.
 *
 * Decodes delimited Capture records one after another, as weir-sim replay
 * does, until the bytes run out or a record is refused. Built by `make
 * fuzz` with -DCODEC_CROSSCHECK=1 (protobuf-c decodes every record too).
 * Checks: only the documented errors, `used` within the input, fields
 * within the caller's buffers, and each record re-encodes to bytes that
 * decode to the same fields. Small buffers (64-byte topic, 1 KiB payload)
 * make the -EMSGSIZE paths reachable.
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
    char topic[64];
    char topic2[64];
    uint8_t payload[1024];
    uint8_t payload2[1024];
    uint8_t rec[1200];
    size_t at = 0;

    while (at < size) {
        struct codec_capture c;
        struct codec_capture d;
        size_t used = 0;
        size_t used2 = 0;
        size_t len;
        int rc = codec_decode_capture(data + at, size - at, &used, &c, topic,
                                      sizeof(topic), payload, sizeof(payload));
        check(rc == 0 || rc == -EAGAIN || rc == -EBADMSG || rc == -EMSGSIZE);
        if (rc != 0)
            break;
        check(used > 0 && used <= size - at);
        check(c.topic == topic && strlen(topic) < sizeof(topic));
        check(c.payload_len <= sizeof(payload) && c.qos >= 0 && c.qos <= 2);
        len = codec_encode_capture(&c, rec, sizeof(rec));
        check(len > 0);
        check(codec_decode_capture(rec, len, &used2, &d, topic2, sizeof(topic2),
                                   payload2, sizeof(payload2)) == 0 &&
              used2 == len);
        check(strcmp(topic, topic2) == 0 && c.payload_len == d.payload_len);
        check(memcmp(payload, payload2, c.payload_len) == 0);
        check(c.recv_ns == d.recv_ns && c.qos == d.qos &&
              c.retained == d.retained);
        at += used;
    }
    return 0;
}
