/* encode.c -- payloads, topics and corruption (see encode.h).
 * Threads: pure functions; the codec scratch lives on the stack. */
#include "sim/encode.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "proto/codec.h"
#include "proto/json.h"
#include "sim/faults.h"
#include "sim/simrand.h"

static const char *const format_names[] = {
    [ENCODE_PB] = "pb",       [ENCODE_BATCH] = "batch",
    [ENCODE_JSON] = "json",   [ENCODE_JSON_BATCH] = "json-batch",
    [ENCODE_SENML] = "senml",
};

int encode_format_parse(const char *text, enum encode_format *out)
{
    for (size_t i = 0; i < sizeof(format_names) / sizeof(format_names[0]);
         i++) {
        if (strcmp(text, format_names[i]) == 0) {
            *out = (enum encode_format)i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *encode_format_name(enum encode_format f)
{
    if ((unsigned)f >= sizeof(format_names) / sizeof(format_names[0]))
        return "unknown";
    return format_names[f];
}

bool encode_supported(enum encode_format f)
{
    return (unsigned)f <= ENCODE_SENML;
}

bool encode_per_reading(enum encode_format f)
{
    return f == ENCODE_PB || f == ENCODE_JSON;
}

static bool copy_name(char *dst, const char *src)
{
    size_t n = strlen(src);

    if (n > CODEC_NAME_MAX)
        return false;
    memcpy(dst, src, n + 1);
    return true;
}

static size_t encode_msg(enum encode_format f, const char *device, uint64_t seq,
                         int64_t ts_ms, const struct encode_value *v, size_t n,
                         uint8_t *buf, size_t cap)
{
    struct codec_msg m; /* ~20 KiB of scratch; only the used part is set */
    bool batch =
        f == ENCODE_BATCH || f == ENCODE_JSON_BATCH || f == ENCODE_SENML;

    if (n == 0 || n > CODEC_MAX_METRICS || !copy_name(m.device, device))
        return 0;
    m.has_seq = true;
    m.seq = seq;
    m.has_ts = true;
    m.ts_ms = ts_ms;
    m.n = n;
    for (size_t i = 0; i < n; i++) {
        if (!copy_name(m.m[i].name, v[i].name))
            return 0;
        m.m[i].value = v[i].value;
        m.m[i].has_value = true;
        /* A single reading has no label field: there a label is a
         * sensor like any other, named by its topic. */
        m.m[i].is_label = batch && v[i].is_label;
    }
    switch (f) {
    case ENCODE_PB:
        return n == 1 ? codec_encode_reading(&m, buf, cap) : 0;
    case ENCODE_BATCH:
        return codec_encode_batch(&m, buf, cap);
    case ENCODE_JSON:
        return n == 1
                   ? json_encode_reading(&m, JSON_ENC_NAMES, (char *)buf, cap)
                   : 0;
    case ENCODE_JSON_BATCH:
        return json_encode_object(&m, JSON_ENC_NAMES, (char *)buf, cap);
    case ENCODE_SENML:
        return json_encode_senml(&m, (char *)buf, cap);
    }
    return 0;
}

size_t encode_payload(enum encode_format f, const char *device, uint64_t seq,
                      int64_t ts_ms, const struct encode_value *v, size_t n,
                      uint8_t *buf, size_t cap)
{
    return encode_msg(f, device, seq, ts_ms, v, n, buf, cap);
}

int encode_topic(char *buf, size_t cap, const char *prefix, const char *device,
                 const char *sensor)
{
    int k;

    if (sensor != NULL)
        k = snprintf(buf, cap, "%s/%s/%s", prefix, device, sensor);
    else
        k = snprintf(buf, cap, "%s/%s", prefix, device);
    return k < 0 || (size_t)k >= cap ? -ENAMETOOLONG : 0;
}

/* ---- Corruption -------------------------------------------------------- */

/* Read a varint at buf[*k..len); false if it runs off the end. */
static bool varint(const uint8_t *buf, size_t len, size_t *k, uint64_t *out)
{
    uint64_t v = 0;

    for (int shift = 0; shift < 64 && *k < len; shift += 7) {
        uint8_t b = buf[(*k)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* Top-level field boundaries of a protobuf message: starts[i]..starts[i+1].
 * Returns the number of fields, or 0 if the bytes do not walk cleanly. */
static size_t pb_fields(const uint8_t *buf, size_t len, size_t *starts,
                        size_t max)
{
    size_t k = 0;
    size_t n = 0;

    while (k < len && n + 1 < max) {
        uint64_t tag;
        uint64_t l;

        starts[n++] = k;
        if (!varint(buf, len, &k, &tag))
            return 0;
        switch (tag & 7) {
        case 0:
            if (!varint(buf, len, &k, &l))
                return 0;
            break;
        case 1:
            k += 8;
            break;
        case 2:
            if (!varint(buf, len, &k, &l) || l > len - k)
                return 0;
            k += (size_t)l;
            break;
        case 5:
            k += 4;
            break;
        default:
            return 0;
        }
        if (k > len)
            return 0;
    }
    starts[n] = len;
    return k == len ? n : 0;
}

static int corrupt_trunc(enum encode_format f, struct simrand *r, uint8_t *buf,
                         size_t *len)
{
    size_t starts[CODEC_MAX_METRICS + 16];
    size_t n;
    size_t i;

    if (*len < 2)
        return -EINVAL;
    if (f != ENCODE_PB && f != ENCODE_BATCH) {
        *len = 1 + (size_t)simrand_below(r, *len - 1); /* 1..len-1 */
        return 0;
    }
    n = pb_fields(buf, *len, starts, sizeof(starts) / sizeof(starts[0]));
    if (n == 0)
        return -EINVAL;
    i = (size_t)simrand_below(r, n);
    /* Every field is >= 2 bytes (tag + value), so the cut fits. */
    *len =
        starts[i] + 1 + (size_t)simrand_below(r, starts[i + 1] - starts[i] - 1);
    return 0;
}

/* JSON: the number after "key": becomes the string "hot" (a reserved
 * member of the wrong type is decode_error; a metric would only be
 * skipped). */
static int corrupt_json_type(const char *key, uint8_t *buf, size_t *len,
                             size_t cap)
{
    static const char hot[] = "\"hot\"";
    char *text = (char *)buf;
    char *at;
    size_t start, end;

    if (*len >= cap)
        return -EINVAL;
    text[*len] = '\0';
    if ((at = strstr(text, key)) == NULL)
        return -EINVAL;
    start = (size_t)(at - text) + strlen(key);
    end = start;
    while (end < *len && text[end] != ',' && text[end] != '}')
        end++;
    if (*len - (end - start) + 5 + 1 > cap)
        return -EINVAL;
    memmove(text + start + 5, text + end, *len - end);
    memcpy(text + start, hot, 5);
    *len = *len - (end - start) + 5;
    return 0;
}

static int corrupt_type(enum encode_format f, uint8_t *buf, size_t *len,
                        size_t cap)
{
    /* Reading.value (double) or ReadingBatch.ts_ms (int64) appended again
     * as wire type 2 "hot": protobuf-c refuses the wire-type mismatch. */
    uint8_t field = f == ENCODE_PB ? 5 : 3;
    static const char hot[] = "hot";

    if (f == ENCODE_JSON || f == ENCODE_JSON_BATCH)
        return corrupt_json_type("\"seq\":", buf, len, cap);
    if (f == ENCODE_SENML)
        return corrupt_json_type("\"bt\":", buf, len, cap);
    if (*len + 2 + 3 > cap)
        return -EINVAL;
    buf[(*len)++] = (uint8_t)(field << 3 | 2);
    buf[(*len)++] = 3;
    memcpy(buf + *len, hot, 3);
    *len += 3;
    return 0;
}

int encode_corrupt(enum encode_format f, uint32_t kind, struct simrand *r,
                   uint8_t *buf, size_t *len, size_t cap)
{
    switch (kind) {
    case FAULT_CORRUPT_TRUNC:
        return corrupt_trunc(f, r, buf, len);
    case FAULT_CORRUPT_BYTES:
        if (*len == 0)
            return -EINVAL;
        for (size_t i = 0; i < *len; i++)
            buf[i] = (uint8_t)simrand_u64(r);
        buf[0] = f == ENCODE_PB || f == ENCODE_BATCH ? 0x07 : 0xff;
        return 0;
    case FAULT_CORRUPT_TYPE:
        return corrupt_type(f, buf, len, cap);
    default:
        return -EINVAL;
    }
}
