/* bench_e2e_watch.c -- watch weir's /metrics from `make bench-e2e`.
 *
 * weir has no option to exit after N messages and no log line per
 * message, so bench/e2e.sh learns when weir has processed a backlog by
 * polling its Prometheus endpoint: one keep-alive HTTP/1.1 connection to
 * 127.0.0.1, GET /metrics, the samples of some families summed over their
 * labels. A poll costs weir about 0.15 ms of CPU (measured: the request,
 * rendering ~9 KB of text on its loop thread, the reply), so polls are
 * spaced by the expected time to the target: half the time the last two
 * polls' rate predicts, at most INTERVAL_MS and at least 2 ms. A 2-second
 * drain then costs weir a few dozen polls (well under 1% of its CPU) and
 * its end is still known to within a few ms. weir answers between two
 * batches of its drain loop, so the first answer that shows the target
 * comes right after the batch that reached it; the uncertainty is the gap
 * to the previous poll, which is reported.
 *
 *   bench_e2e_watch freeport
 *       print a 127.0.0.1 TCP port that was free a moment ago
 *   bench_e2e_watch wait PORT METRICS TARGET [INTERVAL_MS [TIMEOUT_S [PID]]]
 *       poll (at most INTERVAL_MS apart, 50) until the sum of the
 *       families in METRICS (comma-separated, each summed over its
 *       labels) >= TARGET; print
 *         reached_ms=T prev_ms=P polls=K value=V
 *       T: wall-clock (CLOCK_REALTIME, as weir's log timestamps) ms when
 *       the answer that showed the target arrived; P: when the previous
 *       poll was sent (the target was not reached before that). Exit 1 on
 *       timeout (60 s) or when process PID is gone, printing the last
 *       value. Connection refused (weir not listening yet) is retried.
 *   bench_e2e_watch get PORT METRIC...
 *       print METRIC=sum for each family (nan if absent)
 *
 * Threads: one; no globals. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BODY_MAX (8u << 20)

struct conn {
    int port;   /* weir's HTTP port. */
    int fd;     /* Keep-alive connection, or -1. */
    char *buf;  /* Response bytes [BODY_MAX + 1]. */
    size_t len; /* Bytes in buf. */
};

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port = -1;

    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static int conn_open(struct conn *c)
{
    struct sockaddr_in a;

    if (c->fd >= 0)
        return 0;
    if ((c->fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
        return -errno;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)c->port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        int rc = -errno;
        close(c->fd);
        c->fd = -1;
        return rc;
    }
    return 0;
}

static void conn_close(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

/* Read until the headers and Content-Length bytes of body are in. Returns
 * the body offset, or -errno. */
static long read_response(struct conn *c)
{
    long body = -1;
    size_t want = 0;

    c->len = 0;
    for (;;) {
        ssize_t got;
        if (body < 0) {
            char *end;
            c->buf[c->len] = '\0';
            if ((end = strstr(c->buf, "\r\n\r\n")) != NULL) {
                const char *cl = strstr(c->buf, "Content-Length:");
                body = end + 4 - c->buf;
                want = cl ? strtoul(cl + 15, NULL, 10) : 0;
            }
        }
        if (body >= 0 && c->len >= (size_t)body + want)
            return body;
        if (c->len >= BODY_MAX)
            return -EMSGSIZE;
        got = read(c->fd, c->buf + c->len, BODY_MAX - c->len);
        if (got <= 0)
            return got == 0 ? -ECONNRESET : -errno;
        c->len += (size_t)got;
    }
}

/* Sum of the samples of family `name` in text (NUL-terminated); NAN if
 * there are none. */
static double family_sum(const char *text, const char *name)
{
    size_t n = strlen(name);
    const char *p = text;
    double sum = NAN;

    while (p != NULL && *p != '\0') {
        const char *eol = strchr(p, '\n');
        const char *v = eol ? eol : p + strlen(p);
        /* The value is the last field (weir writes no timestamps); a
         * label value may hold spaces, the value cannot. */
        while (v > p && v[-1] != ' ')
            v--;
        if (strncmp(p, name, n) == 0 && (p[n] == ' ' || p[n] == '{') && v > p)
            sum = (isnan(sum) ? 0 : sum) + strtod(v, NULL);
        p = eol ? eol + 1 : NULL;
    }
    return sum;
}

/* Sum of the comma-separated families in names; NAN if none is there. */
static double families_sum(const char *text, const char *names)
{
    char one[128];
    double sum = NAN;

    while (*names != '\0') {
        size_t n = strcspn(names, ",");
        double v;
        if (n > 0 && n < sizeof(one)) {
            memcpy(one, names, n);
            one[n] = '\0';
            v = family_sum(text, one);
            if (!isnan(v))
                sum = (isnan(sum) ? 0 : sum) + v;
        }
        names += n + (names[n] == ',');
    }
    return sum;
}

/* true while process pid exists and is not a zombie (0: no pid). */
static bool pid_alive(long pid)
{
    char path[64];
    char buf[512];
    FILE *f;
    char *p;
    bool alive = false;

    if (pid <= 0)
        return true;
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    if ((f = fopen(path, "r")) == NULL)
        return false;
    if (fgets(buf, sizeof(buf), f) != NULL && (p = strrchr(buf, ')')) &&
        p[1] == ' ')
        alive = p[2] != 'Z' && p[2] != 'X';
    fclose(f);
    return alive;
}

/* One GET /metrics; returns the body offset in c->buf or -errno. */
static long scrape(struct conn *c)
{
    static const char req[] = "GET /metrics HTTP/1.1\r\n"
                              "Host: 127.0.0.1\r\n\r\n";
    long body;
    int rc;

    if ((rc = conn_open(c)) != 0)
        return rc;
    if (write(c->fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1) ||
        (body = read_response(c)) < 0) {
        conn_close(c);
        return -ECONNRESET;
    }
    c->buf[c->len] = '\0';
    return body;
}

/* Milliseconds to the next poll: half the predicted time to the target
 * at the rate seen between the last two polls, within [2, max_ms]. */
static long next_gap(double v, double v_prev, int64_t dt_ms, double target,
                     long max_ms)
{
    double eta;

    if (isnan(v) || isnan(v_prev) || v <= v_prev || dt_ms <= 0)
        return max_ms;
    eta = (target - v) / ((v - v_prev) / (double)dt_ms);
    if (eta / 2 >= (double)max_ms)
        return max_ms;
    return eta / 2 > 2 ? (long)(eta / 2) : 2;
}

static int cmd_wait(struct conn *c, const char *names, double target,
                    long max_ms, double timeout_s, long pid)
{
    int64_t deadline = mono_ms() + (int64_t)(timeout_s * 1000);
    int64_t prev = 0;
    int64_t t_prev = 0;
    double v = NAN;
    double v_prev = NAN;
    long polls = 0;

    while (mono_ms() < deadline && pid_alive(pid)) {
        int64_t sent = wall_ms();
        long body = scrape(c);
        long gap = max_ms;
        polls++;
        if (body >= 0) {
            v = families_sum(c->buf + body, names);
            if (!isnan(v) && v >= target) {
                printf("reached_ms=%lld prev_ms=%lld polls=%ld value=%.0f\n",
                       (long long)wall_ms(), (long long)prev, polls, v);
                return 0;
            }
            gap = next_gap(v, v_prev, sent - t_prev, target, max_ms);
            v_prev = v;
            t_prev = sent;
        }
        prev = sent;
        usleep((useconds_t)gap * 1000);
    }
    printf("%s value=%.0f polls=%ld\n", pid_alive(pid) ? "timeout" : "exited",
           v, polls);
    return 1;
}

static int cmd_get(struct conn *c, char **names, int n)
{
    long body = scrape(c);
    int i;

    if (body < 0) {
        fprintf(stderr, "bench_e2e_watch: 127.0.0.1:%d: %s\n", c->port,
                strerror((int)-body));
        return 1;
    }
    for (i = 0; i < n; i++)
        printf("%s%s=%.0f", i ? " " : "", names[i],
               family_sum(c->buf + body, names[i]));
    printf("\n");
    return 0;
}

int main(int argc, char **argv)
{
    struct conn c = {.fd = -1};
    int rc = 2;

    if (argc == 2 && strcmp(argv[1], "freeport") == 0) {
        int port = free_port();
        if (port > 0)
            printf("%d\n", port);
        return port > 0 ? 0 : 1;
    }
    if (argc < 4) {
        fprintf(stderr, "usage: bench_e2e_watch freeport | wait PORT "
                        "METRICS TARGET [INTERVAL_MS [TIMEOUT_S [PID]]] | "
                        "get PORT METRIC...\n");
        return 2;
    }
    c.port = atoi(argv[2]);
    if ((c.buf = malloc(BODY_MAX + 1)) == NULL)
        return 1;
    if (strcmp(argv[1], "wait") == 0 && argc >= 5)
        rc = cmd_wait(&c, argv[3], atof(argv[4]),
                      argc > 5 && atol(argv[5]) > 0 ? atol(argv[5]) : 50,
                      argc > 6 ? atof(argv[6]) : 60,
                      argc > 7 ? atol(argv[7]) : 0);
    else if (strcmp(argv[1], "get") == 0)
        rc = cmd_get(&c, argv + 3, argc - 3);
    conn_close(&c);
    free(c.buf);
    return rc;
}
