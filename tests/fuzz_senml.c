/* fuzz_senml.c -- libFuzzer target: json_decode_senml() on any bytes.
 *
 * Built by `make fuzz` with -DCODEC_CROSSCHECK=1 (json.c aborts if cJSON
 * refuses a text its RFC 8259 scan accepted). Checks: reason and return
 * code agree, a refused pack delivers nothing, every group is non-empty
 * with valid names, no seq and labels last, at most CODEC_MAX_METRICS
 * readings in all; and each group whose names fit RFC 8428's character set
 * and whose time is absolute re-encodes to a pack that decodes to the same
 * single group.
 * Threads: libFuzzer's one thread. */
#include "proto/json.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW_MS 1700000000000LL

static void check(bool ok)
{
    if (!ok)
        abort();
}

struct state {
    size_t readings;         /* Delivered so far. */
    struct codec_msg *again; /* Scratch for the re-decoded group. */
    struct codec_msg *copy;  /* The re-decoded group. */
    char *text;              /* Re-encoded pack. */
};

static bool senml_chars(const char *s)
{
    for (const char *p = s; *p != '\0'; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || (p > s && strchr("-:._", c))))
            return false;
    }
    return true;
}

/* Called on: libFuzzer's thread, from json_decode_senml(). */
static int copy_group(void *ctx, const struct codec_msg *m)
{
    struct codec_msg *dst = ctx;

    check(dst->n == 0);
    *dst = *m;
    return 0;
}

static bool round_trippable(const struct codec_msg *m)
{
    if (m->has_ts &&
        (m->ts_ms < 268435456000LL || m->ts_ms > 1000000000000000LL))
        return false; /* relative in SenML, or past exact ms in a double */
    if (!senml_chars(m->device))
        return false;
    for (size_t i = 0; i < m->n; i++)
        if (!senml_chars(m->m[i].name) || strpbrk(m->m[i].name, ":/"))
            return false;
    return true;
}

/* Called on: libFuzzer's thread, from json_decode_senml(). */
static int on_group(void *ctx, const struct codec_msg *m)
{
    struct state *st = ctx;
    enum reject_reason why;
    bool label = false;
    size_t len;

    check(m->n >= 1 && !m->has_seq);
    st->readings += m->n;
    check(st->readings <= CODEC_MAX_METRICS);
    check(m->device[0] == '\0' || codec_name_ok(m->device, strlen(m->device)));
    for (size_t i = 0; i < m->n; i++) {
        check(codec_name_ok(m->m[i].name, strlen(m->m[i].name)));
        check(m->m[i].has_value && (!label || m->m[i].is_label));
        label = m->m[i].is_label;
    }
    if (!round_trippable(m))
        return 0;
    len = json_encode_senml(m, st->text, 1 << 17);
    check(len > 0);
    st->copy->n = 0;
    check(json_decode_senml((uint8_t *)st->text, len, NOW_MS, st->again,
                            copy_group, st->copy, NULL, &why) == 0);
    check(strcmp(st->copy->device, m->device) == 0 && st->copy->n == m->n);
    check(st->copy->has_ts == m->has_ts && st->copy->ts_ms == m->ts_ms);
    for (size_t i = 0; i < m->n; i++) {
        double x = m->m[i].value;
        double y = st->copy->m[i].value;
        check(strcmp(st->copy->m[i].name, m->m[i].name) == 0);
        check(st->copy->m[i].is_label == m->m[i].is_label);
        check(isfinite(x) ? memcmp(&x, &y, sizeof(x)) == 0 : isnan(y));
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct codec_msg *m = malloc(3 * sizeof(*m));
    char *text = malloc(1 << 17);
    struct state st = {0, NULL, NULL, text};
    enum reject_reason why = REJECT__COUNT;
    size_t skipped = 0;
    int rc;

    check(m != NULL && text != NULL);
    st.again = &m[1];
    st.copy = &m[2];
    rc = json_decode_senml(data, size, NOW_MS, &m[0], on_group, &st, &skipped,
                           &why);
    check(why < REJECT__COUNT && (rc == 0) == (why == REJECT_NONE));
    check(rc == 0 || rc == -EMSGSIZE || rc == -EBADMSG || rc == -EINVAL);
    check(rc == 0 ? st.readings >= 1 : st.readings == 0);
    check(skipped <= CODEC_MAX_METRICS);
    free(text);
    free(m);
    return 0;
}
