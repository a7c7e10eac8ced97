/* fuzz_json.c -- libFuzzer target: JSON formats (a) and (b) on any bytes.
 *
 * Each input goes through json_decode_reading() and json_decode_object().
 * Built by `make fuzz` with -DCODEC_CROSSCHECK=1: json.c then aborts if
 * cJSON refuses a text its own RFC 8259 scan accepted. Checks: reason and
 * return code agree, accepted messages hold valid names and no more than
 * CODEC_MAX_METRICS entries (labels last), and they re-encode to text that
 * decodes to the same fields (non-finite values come back as NaN: JSON
 * writes them as null).
 * Threads: libFuzzer's one thread. */
#include "proto/json.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok)
        abort();
}

static void verdict(int rc, enum reject_reason why)
{
    check(why < REJECT__COUNT);
    check((rc == 0) == (why == REJECT_NONE));
    check(rc == 0 || rc == -EMSGSIZE || rc == -EBADMSG || rc == -EINVAL);
}

static void same(const struct codec_msg *a, const struct codec_msg *b)
{
    check(strcmp(a->device, b->device) == 0 && a->n == b->n);
    check(a->has_seq == b->has_seq && a->seq == b->seq);
    check(a->has_ts == b->has_ts && a->ts_ms == b->ts_ms);
    for (size_t i = 0; i < a->n; i++) {
        double x = a->m[i].value;
        double y = b->m[i].value;
        check(strcmp(a->m[i].name, b->m[i].name) == 0);
        check(a->m[i].is_label == b->m[i].is_label);
        check(isfinite(x) ? memcmp(&x, &y, sizeof(x)) == 0 : isnan(y));
    }
}

static void valid(const struct codec_msg *m, bool empty_sensor_ok)
{
    bool label = false;

    check(m->n >= 1 && m->n <= CODEC_MAX_METRICS);
    check(m->device[0] == '\0' || codec_name_ok(m->device, strlen(m->device)));
    for (size_t i = 0; i < m->n; i++) {
        check((empty_sensor_ok && m->m[i].name[0] == '\0') ||
              codec_name_ok(m->m[i].name, strlen(m->m[i].name)));
        check(m->m[i].has_value && (!label || m->m[i].is_label));
        label = m->m[i].is_label;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char text[1 << 17]; /* written and read within one call */
    struct codec_msg *m = malloc(2 * sizeof(*m));
    enum reject_reason why = REJECT__COUNT;
    size_t skipped = 0;
    size_t len;
    int rc;

    check(m != NULL);
    rc = json_decode_reading(data, size, &m[0], &why);
    verdict(rc, why);
    if (rc == 0) {
        valid(&m[0], true);
        check(m[0].n == 1 && !m[0].m[0].is_label);
        check(json_sniff(data, size) == '{');
        len = json_encode_reading(&m[0], JSON_ENC_NAMES, text, sizeof(text));
        check(len > 0);
        check(json_decode_reading((uint8_t *)text, len, &m[1], &why) == 0);
        same(&m[0], &m[1]);
    }
    rc = json_decode_object(data, size, &m[0], &skipped, &why);
    verdict(rc, why);
    if (rc == 0) {
        valid(&m[0], false);
        len = json_encode_object(&m[0], JSON_ENC_NAMES, text, sizeof(text));
        check(len > 0);
        check(json_decode_object((uint8_t *)text, len, &m[1], &skipped, &why) ==
                  0 &&
              skipped == 0);
        same(&m[0], &m[1]);
    }
    free(m);
    return 0;
}
