/* log.h -- the daemon's one logging entry point (STYLE R23).
 *
 * log_msg(level, fmt, ...) writes one line per event to stderr:
 *
 *     2025-11-29T04:34:00.123Z warn  wal: segment 42 torn at 8191, truncated
 *
 * or, when stderr is connected to the systemd journal (JOURNAL_STREAM names
 * stderr's device:inode, see systemd.exec(5)), "<4>wal: ..." with the
 * sd-daemon(3) priority prefix and no timestamp (the journal adds its own).
 * A line is formatted in a stack buffer (LOG_LINE_MAX bytes, longer
 * messages are cut and end in "..."), control characters in it are escaped
 * as \xNN so text from the network (topics, device names) can neither split
 * a line nor forge one, and it is emitted with a single write(2): lines
 * from different threads never interleave (writes to a pipe up to PIPE_BUF
 * bytes are atomic; LOG_LINE_MAX is below it).
 *
 * Hot paths (a decode error per message, a full ring) log through a struct
 * log_ratelimit: at most `burst` lines per `interval`, the rest counted.
 * The next line that gets through says how many were suppressed since the
 * last one ("... (1234 similar messages suppressed)"), and
 * log_ratelimit_flush(), called from a timer, reports a count that no later
 * message would otherwise carry. As in the kernel's ___ratelimit(), the
 * limiter never blocks: a thread that finds it busy counts its message as
 * suppressed.
 *
 * Threads: log_init() runs once in main() before any thread starts; it sets
 * the level and the output style, the only mutable global allowed (STYLE
 * R12), read-only afterwards. log_msg() and log_enabled() may be called
 * from any thread. A struct log_ratelimit may be shared by threads. */
#ifndef WEIR_INGEST_LOG_H
#define WEIR_INGEST_LOG_H

#include <stdatomic.h> /* For atomic_flag, atomic_uint_fast64_t. */
#include <stdbool.h>   /* For bool. */
#include <stdint.h>    /* For int64_t, uint32_t, uint64_t. */

/* ---- Types ------------------------------------------------------------- */

/* Values are the syslog priorities (error 3, warn 4, info 6, debug 7), so
 * the journal prefix is "<level>". LOG_INFO and LOG_DEBUG have the same
 * names as <syslog.h>'s macros: a file that includes log.h must not include
 * <syslog.h> (weir logs to stderr; the journal takes it from there). */
enum log_level {
    LOG_ERROR = 3, /* Something failed; the daemon may not do its job. */
    LOG_WARN = 4,  /* Something unexpected that weir handled. */
    LOG_INFO = 6,  /* Lifecycle: connected, checkpoint written, ... */
    LOG_DEBUG = 7, /* Detail for developers; off by default. */
};

#define LOG_LINE_MAX 1024 /* bytes of one line, newline included */

/* A rate limiter for one call site (or one kind of event). Initialise with
 * log_ratelimit_init() or LOG_RATELIMIT_INIT; no close needed. */
struct log_ratelimit {
    int64_t interval_ns;             /* Window length; set at init. */
    uint32_t burst;                  /* Lines allowed per window; at init. */
    uint32_t printed;                /* Lines in this window; under lock. */
    bool started;                    /* A window was opened; under lock. */
    int64_t begin_ns;                /* Window start (monotonic); under lock. */
    atomic_flag lock;                /* Try-lock; never waited on. */
    atomic_uint_fast64_t missed;     /* Suppressed since the last report. */
    atomic_uint_fast64_t suppressed; /* Suppressed since init, in total. */
};

#define LOG_RATELIMIT_INIT(interval_ms, burst_)                                \
    {                                                                          \
        .interval_ns = (int64_t)(interval_ms)*1000000, .burst = (burst_),      \
        .lock = ATOMIC_FLAG_INIT                                               \
    }

/* ---- Set-up (main thread, before threads start) ------------------------ */

/* Set the level (messages above it are dropped) and detect the journal.
 * Without a call the level is LOG_INFO and lines carry timestamps. */
void log_init(enum log_level level);

/* Parse "error", "warn", "info" or "debug" (also "warning"); returns 0 and
 * *out, or -EINVAL. */
int log_level_parse(const char *text, enum log_level *out);

/* The canonical name of a level ("error", "warn", ...); never NULL. */
const char *log_level_name(enum log_level level);

/* ---- Any thread -------------------------------------------------------- */

/* true if a message at this level would be written. */
bool log_enabled(enum log_level level);

/* Format and write one line at level (see the top). Never fails visibly:
 * a failed write(2) is ignored, there is nowhere to report it. */
void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- Rate limiting ----------------------------------------------------- */

/* Allow at most burst lines per interval_ms (both > 0). */
void log_ratelimit_init(struct log_ratelimit *rl, int64_t interval_ms,
                        uint32_t burst);

/* The decision alone, with the caller's clock (monotonic ns): true if a
 * line may be written now; then *missed is set to the number suppressed
 * since the last allowed line (and that count restarts). false counts one
 * more suppressed message. Exposed for tests and for callers that build
 * their own line. */
bool log_ratelimit_allow(struct log_ratelimit *rl, int64_t now_ns,
                         uint64_t *missed);

/* log_msg() through rl: writes the line if log_ratelimit_allow() says so
 * (appending "(N similar messages suppressed)" when N > 0), else counts it.
 * Messages above the level are neither written nor counted. */
void log_limited(struct log_ratelimit *rl, enum log_level level,
                 const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* If messages were suppressed since the last line, write "what: N similar
 * messages suppressed" at level and restart the count; for a periodic
 * timer. Returns the count reported (0: nothing written). */
uint64_t log_ratelimit_flush(struct log_ratelimit *rl, enum log_level level,
                             const char *what);

/* Messages suppressed by rl since init, for metrics. */
uint64_t log_ratelimit_suppressed(const struct log_ratelimit *rl);

#endif /* WEIR_INGEST_LOG_H */
