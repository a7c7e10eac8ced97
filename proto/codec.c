/* codec.c -- wire bytes <-> plain C values (skeleton: every call refuses).
 *
 * Threads: pure functions; each call touches only its arguments. */
#include "proto/codec.h"

#include <errno.h>

#include "proto/weir.pb-c.h"

bool codec_name_ok(const char *name, size_t len)
{
    (void)name;
    return len > 0 && len <= CODEC_NAME_MAX;
}

int codec_decode_reading(const uint8_t *buf, size_t len, struct codec_msg *out,
                         enum reject_reason *why)
{
    (void)buf;
    (void)len;
    (void)out;
    *why = REJECT_DECODE_ERROR;
    return -EBADMSG;
}

int codec_decode_batch(const uint8_t *buf, size_t len, struct codec_msg *out,
                       enum reject_reason *why)
{
    (void)buf;
    (void)len;
    (void)out;
    *why = REJECT_DECODE_ERROR;
    return -EBADMSG;
}

size_t codec_encode_reading(const struct codec_msg *msg, uint8_t *buf,
                            size_t cap)
{
    (void)msg;
    (void)buf;
    (void)cap;
    return 0;
}

size_t codec_encode_batch(const struct codec_msg *msg, uint8_t *buf,
                          size_t cap)
{
    (void)msg;
    (void)buf;
    (void)cap;
    return 0;
}

size_t codec_encode_capture(const struct codec_capture *c, uint8_t *buf,
                            size_t cap)
{
    (void)c;
    (void)buf;
    (void)cap;
    return 0;
}

int codec_decode_capture(const uint8_t *buf, size_t len, size_t *used,
                         struct codec_capture *c, char *topic_buf,
                         size_t topic_cap, uint8_t *payload_buf,
                         size_t payload_cap)
{
    (void)buf;
    (void)len;
    (void)used;
    (void)c;
    (void)topic_buf;
    (void)topic_cap;
    (void)payload_buf;
    (void)payload_cap;
    return -EBADMSG;
}

size_t codec_encode_drift_event(const struct codec_drift_event *e,
                                uint8_t *buf, size_t cap)
{
    (void)e;
    (void)buf;
    (void)cap;
    return 0;
}
