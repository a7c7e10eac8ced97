/* log.c -- one line per event on stderr, escaped, written with one write(2).
 *
 * Cost model: a line costs a vsnprintf into a stack buffer, a clock read,
 * one pass to escape it and one write(2) (a few microseconds); a message
 * above the level costs one comparison. A rate-limited message that is
 * suppressed costs a try-lock and an atomic increment, no formatting.
 *
 * Threads: log_state is written by log_init() before threads start and only
 * read afterwards (STYLE R12's one exception). Everything else works on the
 * caller's stack or on a struct log_ratelimit through atomics. */
#include "ingest/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Set once by log_init(); see "Threads" above. */
static struct {
    enum log_level level; /* Messages above it are dropped. */
    bool journal;         /* stderr is the journal: "<N>" prefix, no time. */
} log_state = {LOG_INFO, false};

static const char *const level_names[8] = {
    [LOG_ERROR] = "error",
    [LOG_WARN] = "warn",
    [LOG_INFO] = "info",
    [LOG_DEBUG] = "debug",
};

/* true if $JOURNAL_STREAM ("dev:ino") names the file stderr is open on. */
static bool stderr_is_journal(void)
{
    const char *env = getenv("JOURNAL_STREAM");
    unsigned long long dev;
    unsigned long long ino;
    struct stat st;

    if (env == NULL || sscanf(env, "%llu:%llu", &dev, &ino) != 2)
        return false;
    if (fstat(STDERR_FILENO, &st) != 0)
        return false;
    return (unsigned long long)st.st_dev == dev &&
           (unsigned long long)st.st_ino == ino;
}

void log_init(enum log_level level)
{
    log_state.level = level;
    log_state.journal = stderr_is_journal();
}

int log_level_parse(const char *text, enum log_level *out)
{
    static const struct {
        const char *name;
        enum log_level level;
    } names[] = {{"error", LOG_ERROR},
                 {"warn", LOG_WARN},
                 {"warning", LOG_WARN},
                 {"info", LOG_INFO},
                 {"debug", LOG_DEBUG}};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(text, names[i].name) == 0) {
            *out = names[i].level;
            return 0;
        }
    }
    return -EINVAL;
}

const char *log_level_name(enum log_level level)
{
    if ((unsigned)level < 8 && level_names[level] != NULL)
        return level_names[level];
    return "unknown";
}

bool log_enabled(enum log_level level)
{
    return level <= log_state.level;
}

/* "2025-11-29T04:34:00.123Z warn  " or "<4>"; returns its length. */
static size_t line_prefix(char *buf, size_t cap, enum log_level level)
{
    struct timespec ts;
    struct tm tm;
    int n;

    if (log_state.journal)
        n = snprintf(buf, cap, "<%d>", (int)level);
    else if (clock_gettime(CLOCK_REALTIME, &ts) != 0 ||
             gmtime_r(&ts.tv_sec, &tm) == NULL)
        n = snprintf(buf, cap, "%-5s ", log_level_name(level));
    else
        n = snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                     log_level_name(level));
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

/* Copy msg into out[pos..cap) escaping control bytes as \xNN; returns the
 * new position. Stops early (leaving room for "...\n") if it does not fit,
 * and says so through *cut. */
static size_t escape_into(char *out, size_t pos, size_t cap, const char *msg,
                          bool *cut)
{
    static const char hex[] = "0123456789abcdef";
    const size_t room = cap - 4; /* "...\n" */

    for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
        bool ctl = *p < 0x20 || *p == 0x7f;
        if (pos + (ctl ? 4 : 1) > room) {
            *cut = true;
            break;
        }
        if (ctl) {
            out[pos++] = '\\';
            out[pos++] = 'x';
            out[pos++] = hex[*p >> 4];
            out[pos++] = hex[*p & 15];
        } else {
            out[pos++] = (char)*p;
        }
    }
    return pos;
}

static void write_all(const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

/* Format, escape and write one line; suffix (may be "") follows the text. */
__attribute__((format(printf, 3, 0))) static void
log_vwrite(enum log_level level, const char *suffix, const char *fmt,
           va_list ap)
{
    char msg[LOG_LINE_MAX];
    char line[LOG_LINE_MAX];
    bool cut = false;
    size_t pos;
    int n;

    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    if (n < 0)
        snprintf(msg, sizeof(msg), "(unformattable message: %s)", fmt);
    else if ((size_t)n >= sizeof(msg))
        cut = true;
    pos = line_prefix(line, sizeof(line), level);
    pos = escape_into(line, pos, sizeof(line), msg, &cut);
    if (!cut && *suffix)
        pos = escape_into(line, pos, sizeof(line), suffix, &cut);
    if (cut) {
        memcpy(line + pos, "...", 3);
        pos += 3;
    }
    line[pos++] = '\n';
    write_all(line, pos);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    va_list ap;

    if (!log_enabled(level))
        return;
    va_start(ap, fmt);
    log_vwrite(level, "", fmt, ap);
    va_end(ap);
}

/* ---- Rate limiting ----------------------------------------------------- */

static int64_t monotonic_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void log_ratelimit_init(struct log_ratelimit *rl, int64_t interval_ms,
                        uint32_t burst)
{
    memset(rl, 0, sizeof(*rl));
    rl->interval_ns = interval_ms * 1000000;
    rl->burst = burst;
    atomic_flag_clear(&rl->lock);
    atomic_init(&rl->missed, 0);
    atomic_init(&rl->suppressed, 0);
}

static void count_suppressed(struct log_ratelimit *rl)
{
    atomic_fetch_add_explicit(&rl->missed, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&rl->suppressed, 1, memory_order_relaxed);
}

bool log_ratelimit_allow(struct log_ratelimit *rl, int64_t now_ns,
                         uint64_t *missed)
{
    bool ok;

    if (atomic_flag_test_and_set_explicit(&rl->lock, memory_order_acquire)) {
        count_suppressed(rl); /* busy: never wait on a hot path */
        return false;
    }
    if (!rl->started || now_ns - rl->begin_ns >= rl->interval_ns) {
        rl->started = true;
        rl->begin_ns = now_ns;
        rl->printed = 0;
    }
    ok = rl->printed < rl->burst;
    if (ok)
        rl->printed++;
    atomic_flag_clear_explicit(&rl->lock, memory_order_release);
    if (!ok) {
        count_suppressed(rl);
        return false;
    }
    *missed = atomic_exchange_explicit(&rl->missed, 0, memory_order_relaxed);
    return true;
}

void log_limited(struct log_ratelimit *rl, enum log_level level,
                 const char *fmt, ...)
{
    char suffix[64] = "";
    uint64_t missed;
    va_list ap;

    if (!log_enabled(level))
        return;
    if (!log_ratelimit_allow(rl, monotonic_ns(), &missed))
        return;
    if (missed > 0)
        snprintf(suffix, sizeof(suffix), " (%llu similar messages suppressed)",
                 (unsigned long long)missed);
    va_start(ap, fmt);
    log_vwrite(level, suffix, fmt, ap);
    va_end(ap);
}

uint64_t log_ratelimit_flush(struct log_ratelimit *rl, enum log_level level,
                             const char *what)
{
    uint64_t n;

    if (!log_enabled(level))
        return 0;
    n = atomic_exchange_explicit(&rl->missed, 0, memory_order_relaxed);
    if (n > 0)
        log_msg(level, "%s: %llu similar messages suppressed", what,
                (unsigned long long)n);
    return n;
}

uint64_t log_ratelimit_suppressed(const struct log_ratelimit *rl)
{
    return atomic_load_explicit(&rl->suppressed, memory_order_relaxed);
}
