/* test_log.c -- log lines: format, level, escaping, truncation, the journal
 * prefix, the rate limiter (with a fake clock), and lines from several
 * threads never interleaving.
 *
 * Each case runs in its own child (tests/harness.h), so log_init() and the
 * redirection of stderr into a pipe stay inside the case.
 *
 * Threads: the last two cases start writer threads and a reader thread. */
#include "ingest/log.h"
#include "tests/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

/* Point stderr at a pipe; returns the read end. */
static int capture_stderr(void)
{
    int fds[2];

    ASSERT_EQ(pipe(fds), 0);
    ASSERT(dup2(fds[1], STDERR_FILENO) == STDERR_FILENO);
    close(fds[1]);
    return fds[0];
}

/* Read what is in the pipe now (the writes are synchronous). */
static size_t drain(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    int fl = fcntl(fd, F_GETFL);

    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    for (;;) {
        ssize_t k = read(fd, buf + n, cap - 1 - n);
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    buf[n] = '\0';
    return n;
}

static bool is_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* "2025-11-29T04:34:00.123Z " */
static bool has_timestamp(const char *l)
{
    return is_digits(l, 4) && l[4] == '-' && is_digits(l + 5, 2) &&
           l[7] == '-' && is_digits(l + 8, 2) && l[10] == 'T' &&
           is_digits(l + 11, 2) && l[13] == ':' && is_digits(l + 14, 2) &&
           l[16] == ':' && is_digits(l + 17, 2) && l[19] == '.' &&
           is_digits(l + 20, 3) && l[23] == 'Z' && l[24] == ' ';
}

static void lines_have_time_level_and_text(void)
{
    static char buf[8192];
    int fd = capture_stderr();

    unsetenv("JOURNAL_STREAM");
    log_init(LOG_WARN);
    ASSERT(log_enabled(LOG_ERROR) && log_enabled(LOG_WARN));
    ASSERT(!log_enabled(LOG_INFO) && !log_enabled(LOG_DEBUG));
    log_msg(LOG_INFO, "not shown");
    log_msg(LOG_DEBUG, "not shown");
    log_msg(LOG_WARN, "wal: segment %d torn", 42);
    log_msg(LOG_ERROR, "%s", "broken");
    drain(fd, buf, sizeof(buf));
    ASSERT(has_timestamp(buf));
    ASSERT(strncmp(buf + 25, "warn  wal: segment 42 torn\n", 27) == 0);
    ASSERT(has_timestamp(strchr(buf, '\n') + 1));
    ASSERT(strstr(buf, " error broken\n") != NULL);
    ASSERT(strstr(buf, "not shown") == NULL);
}

static void control_characters_are_escaped(void)
{
    static char buf[8192];
    int fd = capture_stderr();

    unsetenv("JOURNAL_STREAM");
    log_init(LOG_INFO);
    log_msg(LOG_INFO, "topic=%s end", "a\nfake 2025 error line\r\x01\x7f");
    drain(fd, buf, sizeof(buf));
    ASSERT(
        strstr(buf, "topic=a\\x0afake 2025 error line\\x0d\\x01\\x7f end\n"));
    ASSERT_EQ(strchr(buf, '\n') - buf + 1, (long)strlen(buf)); /* one line */
}

static void long_lines_are_cut(void)
{
    static char buf[8192];
    static char big[3000];
    int fd = capture_stderr();
    size_t n;

    unsetenv("JOURNAL_STREAM");
    log_init(LOG_INFO);
    memset(big, 'x', sizeof(big) - 1);
    log_msg(LOG_INFO, "%s", big);
    n = drain(fd, buf, sizeof(buf));
    ASSERT(n <= LOG_LINE_MAX);
    ASSERT(n > LOG_LINE_MAX - 8);
    ASSERT(strcmp(buf + n - 4, "...\n") == 0);
}

static void journal_gets_priority_prefix(void)
{
    static char buf[8192];
    int fd = capture_stderr();
    struct stat st;
    char env[64];

    ASSERT_EQ(fstat(STDERR_FILENO, &st), 0);
    snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    setenv("JOURNAL_STREAM", env, 1);
    log_init(LOG_DEBUG);
    log_msg(LOG_WARN, "disk %s", "full");
    log_msg(LOG_DEBUG, "detail");
    drain(fd, buf, sizeof(buf));
    ASSERT_STREQ(buf, "<4>disk full\n<7>detail\n");
    /* Another file's identity: not the journal. */
    setenv("JOURNAL_STREAM", "1:2", 1);
    log_init(LOG_INFO);
    log_msg(LOG_INFO, "x");
    drain(fd, buf, sizeof(buf));
    ASSERT(has_timestamp(buf));
}

static void level_names_round_trip(void)
{
    enum log_level l;

    for (int i = 0; i < 8; i++) {
        const char *name = log_level_name((enum log_level)i);
        if (strcmp(name, "unknown") == 0)
            continue;
        ASSERT_EQ(log_level_parse(name, &l), 0);
        ASSERT_EQ(l, i);
    }
    ASSERT_EQ(log_level_parse("warning", &l), 0);
    ASSERT_EQ(l, LOG_WARN);
    ASSERT_EQ(log_level_parse("verbose", &l), -EINVAL);
    ASSERT_EQ(log_level_parse("", &l), -EINVAL);
}

static void ratelimit_counts_what_it_suppresses(void)
{
    struct log_ratelimit rl;
    const int64_t s = 1000000000;
    uint64_t missed = 99;

    log_ratelimit_init(&rl, 1000, 3);
    for (int i = 0; i < 3; i++) {
        ASSERT(log_ratelimit_allow(&rl, 5 * s, &missed));
        ASSERT_EQ(missed, 0);
    }
    for (int i = 0; i < 7; i++)
        ASSERT(!log_ratelimit_allow(&rl, 5 * s + i, &missed));
    ASSERT_EQ(log_ratelimit_suppressed(&rl), 7);
    ASSERT(!log_ratelimit_allow(&rl, 6 * s - 1, &missed)); /* same window */
    ASSERT(log_ratelimit_allow(&rl, 6 * s, &missed));      /* next window */
    ASSERT_EQ(missed, 8); /* reported once, then the count restarts */
    ASSERT(log_ratelimit_allow(&rl, 6 * s, &missed));
    ASSERT_EQ(missed, 0);
    ASSERT_EQ(log_ratelimit_suppressed(&rl), 8); /* the total stays */
}

static void limited_lines_say_how_many_were_dropped(void)
{
    static char buf[16384];
    struct log_ratelimit rl = LOG_RATELIMIT_INIT(3600000, 2);
    int fd = capture_stderr();

    unsetenv("JOURNAL_STREAM");
    log_init(LOG_INFO);
    for (int i = 0; i < 10; i++)
        log_limited(&rl, LOG_WARN, "bad payload %d", i);
    drain(fd, buf, sizeof(buf));
    ASSERT(strstr(buf, "bad payload 0\n") && strstr(buf, "bad payload 1\n"));
    ASSERT(strstr(buf, "bad payload 2") == NULL);
    ASSERT_EQ(log_ratelimit_suppressed(&rl), 8);
    ASSERT_EQ(log_ratelimit_flush(&rl, LOG_WARN, "decoder"), 8);
    drain(fd, buf, sizeof(buf));
    ASSERT(strstr(buf, "warn  decoder: 8 similar messages suppressed\n"));
    ASSERT_EQ(log_ratelimit_flush(&rl, LOG_WARN, "decoder"), 0);
    ASSERT_EQ(drain(fd, buf, sizeof(buf)), 0);
    /* Below the level: neither written nor counted. */
    log_limited(&rl, LOG_DEBUG, "quiet");
    ASSERT_EQ(log_ratelimit_suppressed(&rl), 8);

    /* The suffix rides on the next line that gets through. */
    log_ratelimit_init(&rl, 50, 1);
    log_limited(&rl, LOG_INFO, "a");
    log_limited(&rl, LOG_INFO, "b");
    log_limited(&rl, LOG_INFO, "c");
    nanosleep(&(struct timespec){0, 60000000}, NULL);
    log_limited(&rl, LOG_INFO, "d");
    drain(fd, buf, sizeof(buf));
    ASSERT(strstr(buf, "info  d (2 similar messages suppressed)\n"));
}

/* ---- Threads ----------------------------------------------------------- */

#define NTHREADS 4
#define NLINES 2000

struct reader {
    int fd;
    char *buf;
    size_t len;
    size_t cap;
};

static void *read_all(void *arg)
{
    struct reader *r = arg;

    for (;;) {
        ssize_t k = read(r->fd, r->buf + r->len, r->cap - r->len);
        if (k <= 0)
            break;
        r->len += (size_t)k;
    }
    return NULL;
}

struct writer {
    int id;
    struct log_ratelimit *rl;
    atomic_int *allowed;
};

static void *write_lines(void *arg)
{
    struct writer *w = arg;
    char pad[300];

    memset(pad, 'a' + w->id, sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    for (int i = 0; i < NLINES; i++) {
        log_msg(LOG_INFO, "thread %d line %d %s", w->id, i, pad);
        if (w->rl) {
            uint64_t missed;
            if (log_ratelimit_allow(w->rl, i, &missed))
                atomic_fetch_add(w->allowed, 1);
        }
    }
    return NULL;
}

static void threads_never_interleave_lines(void)
{
    struct reader r = {.cap = (size_t)NTHREADS * NLINES * 400};
    struct log_ratelimit rl;
    atomic_int allowed = 0;
    struct writer w[NTHREADS];
    pthread_t th[NTHREADS];
    pthread_t rd;
    int seen[NTHREADS] = {0};
    int saved = dup(STDERR_FILENO);
    size_t lines = 0;

    unsetenv("JOURNAL_STREAM");
    log_init(LOG_INFO);
    log_ratelimit_init(&rl, 3600000, 100);
    r.buf = malloc(r.cap);
    ASSERT(r.buf != NULL && saved >= 0);
    r.fd = capture_stderr();
    ASSERT_EQ(pthread_create(&rd, NULL, read_all, &r), 0);
    for (int i = 0; i < NTHREADS; i++) {
        w[i] = (struct writer){i, &rl, &allowed};
        ASSERT_EQ(pthread_create(&th[i], NULL, write_lines, &w[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++)
        ASSERT_EQ(pthread_join(th[i], NULL), 0);
    dup2(saved, STDERR_FILENO); /* closes the pipe's last write end */
    ASSERT_EQ(pthread_join(rd, NULL), 0);
    for (char *l = r.buf; l < r.buf + r.len; lines++) {
        char *nl = memchr(l, '\n', (size_t)(r.buf + r.len - l));
        int id;
        int n;
        ASSERT(nl != NULL);
        *nl = '\0';
        ASSERT(has_timestamp(l));
        ASSERT(sscanf(l + 25, "info  thread %d line %d ", &id, &n) == 2);
        ASSERT(id >= 0 && id < NTHREADS);
        ASSERT_EQ(n, seen[id]); /* each thread's lines, whole and in order */
        ASSERT_EQ(strlen(strrchr(l, ' ') + 1), 299);
        ASSERT(strrchr(l, ' ')[1] == 'a' + id);
        seen[id]++;
        l = nl + 1;
    }
    ASSERT_EQ(lines, NTHREADS * NLINES);
    /* Shared limiter: 100 lines per window allowed, the rest counted. */
    ASSERT(atomic_load(&allowed) <= 100);
    ASSERT_EQ((uint64_t)atomic_load(&allowed) + log_ratelimit_suppressed(&rl),
              NTHREADS * NLINES);
    free(r.buf);
}

static const struct test tests[] = {
    {"lines_have_time_level_and_text", lines_have_time_level_and_text},
    {"control_characters_are_escaped", control_characters_are_escaped},
    {"long_lines_are_cut", long_lines_are_cut},
    {"journal_gets_priority_prefix", journal_gets_priority_prefix},
    {"level_names_round_trip", level_names_round_trip},
    {"ratelimit_counts_what_it_suppresses",
     ratelimit_counts_what_it_suppresses},
    {"limited_lines_say_how_many_were_dropped",
     limited_lines_say_how_many_were_dropped},
    {"threads_never_interleave_lines", threads_never_interleave_lines},
    {NULL, NULL}};

int main(int argc, char **argv)
{
    return test_main(argc, argv, tests);
}
