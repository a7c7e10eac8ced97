/* pace.c -- token bucket and sleeps (see pace.h).
 * Threads: none of its own. */
#include "sim/pace.h"

#include <errno.h>
#include <time.h>

int64_t pace_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void pace_sleep_until(int64_t t_ns)
{
    struct timespec ts = {(time_t)(t_ns / 1000000000), t_ns % 1000000000};

    if (t_ns <= pace_now_ns())
        return;
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

void pace_init(struct pace *p, double rate)
{
    p->rate = rate;
    p->burst = rate / 20.0 > 1.0 ? rate / 20.0 : 1.0;
    p->tokens = p->burst;
    p->last_ns = pace_now_ns();
}

void pace_take(struct pace *p, double n)
{
    int64_t now;

    if (p->rate <= 0)
        return;
    now = pace_now_ns();
    p->tokens += (double)(now - p->last_ns) * 1e-9 * p->rate;
    if (p->tokens > p->burst)
        p->tokens = p->burst;
    p->last_ns = now;
    p->tokens -= n;
    if (p->tokens < 0)
        pace_sleep_until(now + (int64_t)(-p->tokens / p->rate * 1e9));
}
