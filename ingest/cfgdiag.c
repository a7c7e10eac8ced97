/* cfgdiag.c -- messages of a configuration file (see cfgdiag.h).
 *
 * A growing array of (line, arrival order, severity, text). A file has a
 * handful of messages in practice, so each text is its own allocation and
 * the array grows by one; cfgdiag_render() sorts it in place by (line,
 * arrival), which keeps the messages of one line in the order they were
 * found.
 *
 * Threads: the reading thread only (see cfgdiag.h). */
#include "ingest/cfgdiag.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct msg {
    int line;     /* 0: the file as a whole. */
    size_t seq;   /* Order of arrival, to keep qsort() stable. */
    bool warning; /* Not counted as an error. */
    char *text;   /* Owned. */
};

struct cfgdiag {
    const char *name; /* File name for rendering (borrowed). */
    struct msg *msgs; /* nmsgs entries, owned. */
    size_t nmsgs;
    size_t nerrors; /* Errors added (kept or not). */
    bool oom;       /* An allocation failed somewhere. */
};

int cfgdiag_new(struct cfgdiag **out, const char *name)
{
    struct cfgdiag *d = calloc(1, sizeof(*d));

    if (d == NULL)
        return -ENOMEM;
    d->name = name;
    *out = d;
    return 0;
}

void cfgdiag_free(struct cfgdiag *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->nmsgs; i++)
        free(d->msgs[i].text);
    free(d->msgs);
    free(d);
}

void cfgdiag_vadd(struct cfgdiag *d, int line, bool warning, const char *fmt,
                  va_list ap)
{
    struct msg *m;
    char buf[512];

    if (!warning)
        d->nerrors++;
    vsnprintf(buf, sizeof(buf), fmt, ap);
    m = realloc(d->msgs, (d->nmsgs + 1) * sizeof(*m));
    if (m == NULL) {
        d->oom = true;
        return;
    }
    d->msgs = m;
    m += d->nmsgs;
    m->line = line;
    m->seq = d->nmsgs;
    m->warning = warning;
    if ((m->text = strdup(buf)) == NULL) {
        d->oom = true;
        return;
    }
    d->nmsgs++;
}

void cfgdiag_error(struct cfgdiag *d, int line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    cfgdiag_vadd(d, line, false, fmt, ap);
    va_end(ap);
}

void cfgdiag_warning(struct cfgdiag *d, int line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    cfgdiag_vadd(d, line, true, fmt, ap);
    va_end(ap);
}

void cfgdiag_nomem(struct cfgdiag *d)
{
    d->oom = true;
}

size_t cfgdiag_errors(const struct cfgdiag *d)
{
    return d->nerrors;
}

bool cfgdiag_out_of_memory(const struct cfgdiag *d)
{
    return d->oom;
}

static int cmp_msg(const void *a, const void *b)
{
    const struct msg *x = a;
    const struct msg *y = b;

    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

char *cfgdiag_render(struct cfgdiag *d)
{
    size_t cap = 1;
    char *out;
    char *w;

    if (d->nmsgs == 0)
        return NULL;
    for (size_t i = 0; i < d->nmsgs; i++)
        cap += strlen(d->name) + strlen(d->msgs[i].text) + 40;
    if ((out = malloc(cap)) == NULL)
        return NULL;
    qsort(d->msgs, d->nmsgs, sizeof(*d->msgs), cmp_msg);
    w = out;
    for (size_t i = 0; i < d->nmsgs; i++) {
        const struct msg *m = &d->msgs[i];
        const char *sev = m->warning ? "warning" : "error";
        if (m->line > 0)
            w += sprintf(w, "%s:%d: %s: %s\n", d->name, m->line, sev, m->text);
        else
            w += sprintf(w, "%s: %s: %s\n", d->name, sev, m->text);
    }
    return out;
}
