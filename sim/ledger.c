/* ledger.c -- CSV lines of what the simulator sent (see ledger.h).
 * Threads: none of its own; one instance per thread. */
#include "sim/ledger.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/faults.h"

struct ledger {
    FILE *f;     /* Output. */
    char *buf;   /* stdio buffer, 1 MiB. */
    bool failed; /* A write failed. */
};

int ledger_open(struct ledger **out, const char *path, char *err, size_t errlen)
{
    struct ledger *l = calloc(1, sizeof(*l));
    int rc;

    if (l == NULL)
        return -ENOMEM;
    if ((l->f = fopen(path, "w")) == NULL) {
        rc = -errno;
        snprintf(err, errlen, "%s: %s", path, strerror(-rc));
        free(l);
        return rc;
    }
    if ((l->buf = malloc(1 << 20)) != NULL)
        setvbuf(l->f, l->buf, _IOFBF, 1 << 20);
    fputs("msg,sent,device,seq,ts_ms,sensor,label,value,fault,expect\n", l->f);
    *out = l;
    return 0;
}

const char *ledger_expect(uint32_t faults, bool sent)
{
    if (!sent)
        return "lost";
    if (faults & FAULT_CORRUPT)
        return "decode_error";
    if (faults & FAULT_DUP)
        return "duplicate";
    if (faults & (FAULT_NAN | FAULT_INF))
        return "nan";
    if (faults & (FAULT_SPIKE | FAULT_SKEW | FAULT_RESTART))
        return "-";
    return "accept";
}

static void fault_names(uint32_t bits, char *buf, size_t len)
{
    size_t k = 0;

    buf[0] = '\0';
    for (int i = 0; i < FAULT__BITS; i++) {
        if (!(bits & (1u << i)))
            continue;
        k += (size_t)snprintf(buf + k, len - k, "%s%s", k ? "+" : "",
                              faults_bit_name(1u << i));
        if (k >= len)
            break;
    }
    if (k == 0)
        snprintf(buf, len, "none");
}

void ledger_write(struct ledger *l, const struct ledger_entry *e)
{
    char faults[160];
    char value[32];

    fault_names(e->faults, faults, sizeof(faults));
    if (isnan(e->value))
        snprintf(value, sizeof(value), "nan");
    else if (isinf(e->value))
        snprintf(value, sizeof(value), e->value > 0 ? "inf" : "-inf");
    else
        snprintf(value, sizeof(value), "%.17g", e->value);
    if (fprintf(l->f, "%llu,%d,%s,%llu,%lld,%s,%d,%s,%s,%s\n",
                (unsigned long long)e->msg, e->sent, e->device,
                (unsigned long long)e->seq, (long long)e->ts_ms, e->sensor,
                e->label, value, faults, ledger_expect(e->faults, e->sent)) < 0)
        l->failed = true;
}

int ledger_close(struct ledger *l)
{
    int rc = 0;

    if (l == NULL)
        return 0;
    if (fclose(l->f) != 0 || l->failed)
        rc = -EIO;
    free(l->buf);
    free(l);
    return rc;
}
