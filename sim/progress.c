/* progress.c -- TTY status line (see progress.h).
 * Threads: none of its own. */
#include "sim/progress.h"

#include <stdio.h>
#include <unistd.h>

#include "sim/pace.h"

void progress_init(struct progress *p, bool quiet, const char *unit,
                   uint64_t total, double total_s)
{
    p->on = !quiet && isatty(2);
    p->drawn = false;
    p->unit = unit;
    p->total = total;
    p->total_s = total_s;
    p->start_ns = pace_now_ns();
    p->next_ns = p->start_ns;
}

/* 1234567 -> "1,234,567" */
static void group(char *buf, size_t len, uint64_t v)
{
    char raw[32];
    int n = snprintf(raw, sizeof(raw), "%llu", (unsigned long long)v);
    size_t k = 0;

    for (int i = 0; i < n && k + 2 < len; i++) {
        buf[k++] = raw[i];
        if ((n - i - 1) % 3 == 0 && i != n - 1)
            buf[k++] = ',';
    }
    buf[k] = '\0';
}

static void clock_str(char *buf, size_t len, double s)
{
    long t = (long)(s + 0.5);

    if (t >= 3600)
        snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
}

void progress_update(struct progress *p, uint64_t units, uint64_t msgs,
                     bool force)
{
    int64_t now;
    double el;
    char u[32], r[32], m[32], e[32], eta[48] = "";

    if (!p->on)
        return;
    now = pace_now_ns();
    if (!force && now < p->next_ns)
        return;
    p->next_ns = now + 200000000;
    el = (double)(now - p->start_ns) * 1e-9;
    group(u, sizeof(u), units);
    group(r, sizeof(r), el > 0 ? (uint64_t)((double)units / el) : 0);
    group(m, sizeof(m), msgs);
    clock_str(e, sizeof(e), el);
    if (p->total > 0 && units > 0 && units < p->total) {
        char t[24];
        clock_str(t, sizeof(t),
                  el * (double)(p->total - units) / (double)units);
        snprintf(eta, sizeof(eta), "  ETA %s", t);
    } else if (p->total_s > 0 && el < p->total_s) {
        char t[24];
        clock_str(t, sizeof(t), p->total_s - el);
        snprintf(eta, sizeof(eta), "  ETA %s", t);
    }
    fprintf(stderr, "\r\033[Kweir-sim: %s %s  %s/s  %s msgs  %s%s", u, p->unit,
            r, m, e, eta);
    fflush(stderr);
    p->drawn = true;
}

void progress_done(struct progress *p, uint64_t units, uint64_t msgs)
{
    if (!p->on)
        return;
    progress_update(p, units, msgs, true);
    fputc('\n', stderr);
    p->drawn = false;
}
