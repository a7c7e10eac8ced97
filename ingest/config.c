/* config.c -- the INI schema of weir (see config.h for the user's view).
 *
 * The schema is data: one table of struct cfgkey_spec per section, each
 * key with a type (parse/print/release functions), the offset of its
 * field, a range, a default written as config text (parsed by the same
 * code as the file, so defaults are checked like user input) and, where
 * it matters, a predicate saying when the key applies. Checks that
 * involve several keys run after the whole file is read (check_*), so
 * that key order does not matter. Every message goes into one list,
 * sorted by line at the end.
 *
 * The parts, each a module of its own:
 *   ingest/cfgdiag   the messages of a file, rendered sorted by line;
 *   ingest/cfgkey    key specs and the generic value types (strings,
 *                    numbers, durations, sizes, enums, lists);
 *   ingest/cfgtype   the value types only weir's keys have (broker URIs,
 *                    topic templates, row terms, windows, listen);
 *   ingest/cfgini    reading the file with inih against the tables, with
 *                    a message for whatever inih would take silently;
 *   ingest/cfgtls    the TLS files of [mqtt], checked on disk;
 *   this file        weir's tables, the checks across keys, the API.
 *
 * config_print() walks the same tables, so the effective configuration it
 * prints covers every key and reads back to the same values.
 *
 * Threads: none; runs before threads start. */
#include "ingest/config.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ingest/cfgdiag.h" /* For the message list. */
#include "ingest/cfgini.h"  /* For reading the file against the tables. */
#include "ingest/cfgkey.h"  /* For struct cfgkey_spec and generic types. */
#include "ingest/cfgtls.h"  /* For cfgtls_check(). */
#include "ingest/cfgtype.h" /* For weir's own value types. */
#include "ingest/task.h"    /* For TASK_CLOCK_MAX_GAP_MS. */
#include "ingest/topic.h"   /* For topic_render(), TOPIC_TEMPLATE_MAX. */
#include "learn/learner.h"  /* For learner_config_default(). */
#include "proto/codec.h"    /* For CODEC_MAX_PAYLOAD. */
#include "stream/reject.h"  /* For reject_name(). */

#define MS_PER_DAY 86400000LL
#define SWITCH_Z_MAX 10 /* z = 10: p ~ 1e-23, stricter means never */

/* ---- The schema -------------------------------------------------------- */

/* Section kinds: indices of sects[], in the order config_print() writes
 * them. */
enum sect {
    S_WEIR,
    S_MQTT,
    S_SUB,
    S_VALIDATION,
    S_SENSOR,
    S_TASK,
    S_TOPICS,
    S_SNAPSHOT,
    S_WAL,
    S_HTTP,
    S_LIMITS,
    S__COUNT
};

static bool is_v5(const struct config *c, const void *b)
{
    (void)b;
    return c->mqtt.version == 5;
}

static bool uses_tls(const struct config *c, const void *b)
{
    (void)b;
    return cfgtls_wanted(&c->mqtt);
}

static bool fsync_interval(const struct config *c, const void *b)
{
    (void)b;
    return c->wal.sync == WAL_SYNC_INTERVAL;
}

static bool http_on(const struct config *c, const void *b)
{
    (void)b;
    return c->http.enabled;
}

static bool has_grid(const struct config *c, const void *b)
{
    (void)c;
    return ((const struct config_task *)b)->kind != CONFIG_TASK_ANOMALY;
}

static bool is_classification(const struct config *c, const void *b)
{
    (void)c;
    return ((const struct config_task *)b)->kind == CONFIG_TASK_CLASSIFICATION;
}

static bool is_anomaly(const struct config *c, const void *b)
{
    (void)c;
    return ((const struct config_task *)b)->kind == CONFIG_TASK_ANOMALY;
}

static bool has_drift(const struct config *c, const void *b)
{
    return has_grid(c, b) &&
           ((const struct config_task *)b)->drift != CONFIG_DRIFT_NONE;
}

static bool is_ph(const struct config *c, const void *b)
{
    return has_grid(c, b) &&
           ((const struct config_task *)b)->drift == CONFIG_DRIFT_PAGE_HINKLEY;
}

static bool is_forecast(const struct config *c, const void *b)
{
    const struct config_task *t = b;

    (void)c;
    return t->has_target && t->target.horizon_ms > 0;
}

static const char *const log_names[] = {"error", "warn", "info", "debug", NULL};
static const int log_values[] = {LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG};
static const char *const version_names[] = {"3.1.1", "5", NULL};
static const int version_values[] = {4, 5};
static const char *const format_names[] = {"protobuf_reading", "protobuf_batch",
                                           "json", "senml", NULL};
static const char *const unknown_names[] = {"accept", "reject", NULL};
static const char *const kind_names[] = {"regression", "classification",
                                         "anomaly", NULL};
static const char *const drift_names[] = {"none", "adwin", "page_hinkley",
                                          NULL};
static const char *const fsync_names[] = {"none", "interval", "always", NULL};
static const int fsync_values[] = {WAL_SYNC_NONE, WAL_SYNC_INTERVAL,
                                   WAL_SYNC_ALWAYS};
static const char *const model_names[] = {"linear", "logistic", "softmax",
                                          NULL};
static const int model_values[] = {MODEL_LINEAR, MODEL_LOGISTIC, MODEL_SOFTMAX};
static const char *const opt_names[] = {"sgd", "adagrad", "normalized", NULL};
static const int opt_values[] = {MODEL_SGD, MODEL_ADAGRAD, MODEL_NORMALIZED};
static const char *const ph_in[] = {"device", "sensor", NULL};
static const char *const ph_task[] = {"task", NULL};
static const char *const ph_pred[] = {"task", "device", NULL};
static const char *const ph_reason[] = {"reason", NULL};
static const char *const ph_none[] = {NULL};

#define K(S, F, NAME, TYPE)                                                    \
    .name = NAME, .type = &TYPE, .off = offsetof(S, F),                        \
    .width = sizeof(((S *)0)->F)
#define KN(S, F, N) .off_n = offsetof(S, N)
#define NA(FN, WHY) .applies = FN, .na = WHY

static const struct cfgkey_spec weir_keys[] = {
    {K(struct config, state_dir, "state_dir", cfgkey_path),
     .flags = CFGKEY_NONEMPTY, .def = "/var/lib/weir"},
    {K(struct config, log_level, "log_level", cfgkey_enum), .names = log_names,
     .values = log_values, .def = "info"},
    {K(struct config, checkpoint_interval_ms, "checkpoint_interval",
       cfgkey_duration),
     .lo = 1000, .hi = MS_PER_DAY, .def = "60s"},
};

#define TLS_NA NA(uses_tls, "applies only to ssl://, mqtts:// or wss:// URIs")
static const struct cfgkey_spec mqtt_keys[] = {
    {K(struct config_mqtt, uris, "uri", cfgtype_uris),
     .def = "tcp://127.0.0.1:1883"},
    {K(struct config_mqtt, client_id, "client_id", cfgkey_string),
     .flags = CFGKEY_NONEMPTY},
    {K(struct config_mqtt, username, "username", cfgkey_string)},
    {K(struct config_mqtt, password, "password", cfgkey_string),
     .flags = CFGKEY_SECRET},
    {K(struct config_mqtt, password_file, "password_file", cfgkey_path),
     .flags = CFGKEY_READABLE},
    {K(struct config_mqtt, version, "version", cfgkey_enum),
     .names = version_names, .values = version_values, .def = "3.1.1"},
    {K(struct config_mqtt, keepalive_ms, "keepalive", cfgkey_duration), .lo = 0,
     .hi = 65535000, .def = "30s"},
    {K(struct config_mqtt, qos, "qos", cfgkey_int), .lo = 0, .hi = 2,
     .def = "1"},
    {K(struct config_mqtt, clean_session, "clean_session", cfgkey_bool),
     .def = "false"},
    {K(struct config_mqtt, session_expiry_ms, "session_expiry",
       cfgkey_duration),
     .lo = 0, .hi = 4294967295000.0, .def = "1d",
     NA(is_v5, "applies only to version = 5")},
    {K(struct config_mqtt, connect_timeout_ms, "connect_timeout",
       cfgkey_duration),
     .lo = 1000, .hi = 600000, .def = "10s"},
    {K(struct config_mqtt, retry_min_ms, "retry_min", cfgkey_duration),
     .lo = 1000, .hi = 3600000, .def = "1s"},
    {K(struct config_mqtt, retry_max_ms, "retry_max", cfgkey_duration),
     .lo = 1000, .hi = MS_PER_DAY, .def = "60s"},
    {K(struct config_mqtt, max_inflight, "max_inflight", cfgkey_uint), .lo = 1,
     .hi = 65535, .def = "64"},
    {K(struct config_mqtt, ca_file, "ca_file", cfgkey_path),
     .flags = CFGKEY_READABLE, TLS_NA},
    {K(struct config_mqtt, cert_file, "cert_file", cfgkey_path),
     .flags = CFGKEY_READABLE, TLS_NA},
    {K(struct config_mqtt, key_file, "key_file", cfgkey_path),
     .flags = CFGKEY_READABLE, TLS_NA},
    {K(struct config_mqtt, tls_verify, "tls_verify", cfgkey_bool),
     .def = "true", TLS_NA},
};

static const struct cfgkey_spec sub_keys[] = {
    {K(struct config_subscription, topic, "topic", cfgtype_intopic),
     .names = ph_in},
    {K(struct config_subscription, format, "format", cfgkey_enum),
     .names = format_names},
    {K(struct config_subscription, qos, "qos", cfgkey_int), .lo = 0, .hi = 2},
    {K(struct config_subscription, share_group, "share_group", cfgkey_string),
     NA(is_v5, "applies only to version = 5 (shared subscriptions)")},
};

static const struct cfgkey_spec validation_keys[] = {
    {K(struct config_validation, max_future_ms, "max_future_skew",
       cfgkey_duration),
     .lo = 0, .hi = MS_PER_DAY, .def = "5m"},
    {K(struct config_validation, max_past_ms, "max_past_skew", cfgkey_duration),
     .lo = 0, .hi = 365 * MS_PER_DAY, .def = "7d"},
    {K(struct config_validation, max_payload, "max_payload", cfgkey_size),
     .lo = 16, .hi = CODEC_MAX_PAYLOAD, .def = "64KiB"},
    {K(struct config_validation, reject_unknown, "unknown_sensor", cfgkey_enum),
     .names = unknown_names, .def = "accept"},
    {K(struct config_validation, dedup_window, "dedup_window", cfgkey_uint),
     .lo = 64, .hi = 65536, .def = "1024"},
    {K(struct config_validation, dedup_hold_ms, "dedup_hold", cfgkey_duration),
     .lo = 0, .hi = 7 * MS_PER_DAY, .def = "10m"},
    {K(struct config_validation, dedup_hashes, "dedup_hashes", cfgkey_uint),
     .lo = 1, .hi = 1 << 24, .def = "65536"},
};

static const struct cfgkey_spec sensor_keys[] = {
    {K(struct config_sensor, min, "min", cfgkey_double), .lo = -1e300,
     .hi = 1e300},
    {K(struct config_sensor, max, "max", cfgkey_double), .lo = -1e300,
     .hi = 1e300},
    {K(struct config_sensor, max_rate_per_s, "max_rate", cfgkey_double),
     .lo = 0, .hi = 1e300, .flags = CFGKEY_OPEN_LO},
    {K(struct config_sensor, require_ts, "require_timestamp", cfgkey_bool),
     .def = "false"},
    {K(struct config_sensor, require_seq, "require_seq", cfgkey_bool),
     .def = "false"},
};

#define GRID_NA NA(has_grid, "does not apply to anomaly tasks")
#define DRIFT_NA                                                               \
    NA(has_drift, "applies only to supervised tasks with a drift detector")
#define FC_NA                                                                  \
    NA(is_forecast, "applies only to forecasting targets (target = s@+h)")
static const struct cfgkey_spec task_keys[] = {
    {K(struct config_task, kind, "kind", cfgkey_enum), .names = kind_names},
    {K(struct config_task, features, "features", cfgtype_features)},
    {K(struct config_task, target, "target", cfgtype_target), GRID_NA},
    {K(struct config_task, window_rows, "window", cfgtype_window),
     .def = "500 rows", GRID_NA},
    {K(struct config_task, models, "models", cfgkey_enums),
     KN(struct config_task, models, nmodels), .names = model_names,
     .values = model_values, .hi = 3, GRID_NA},
    {K(struct config_task, optimizers, "optimizers", cfgkey_enums),
     KN(struct config_task, optimizers, noptimizers), .names = opt_names,
     .values = opt_values, .hi = 3, .def = "sgd, adagrad, normalized", GRID_NA},
    {K(struct config_task, learning_rates, "learning_rates", cfgkey_doubles),
     KN(struct config_task, learning_rates, nlearning_rates), .lo = 0,
     .hi = MODEL_LR_MAX, .flags = CFGKEY_OPEN_LO, .def = "0.5, 0.1, 0.01",
     GRID_NA},
    {K(struct config_task, l2, "l2", cfgkey_doubles),
     KN(struct config_task, l2, nl2), .lo = 0, .hi = MODEL_LR_MAX,
     .def = "0, 0.0001", GRID_NA},
    {K(struct config_task, classes, "classes", cfgkey_strings),
     KN(struct config_task, classes, nclasses), .hi = 1024,
     NA(is_classification, "applies only to classification tasks")},
    /* At most half of the rows: what learner_new() accepts. */
    {K(struct config_task, test_fraction, "test_fraction", cfgkey_double),
     .lo = 0, .hi = 0.5, .def = "0.1", GRID_NA},
    {K(struct config_task, drift, "drift", cfgkey_enum), .names = drift_names,
     .def = "adwin", GRID_NA},
    {K(struct config_task, drift_delta, "drift_delta", cfgkey_double), .lo = 0,
     .hi = 1e6, DRIFT_NA},
    {K(struct config_task, drift_threshold, "drift_threshold", cfgkey_double),
     .lo = 0, .hi = 1e300, .flags = CFGKEY_OPEN_LO, .def = "50",
     NA(is_ph, "applies only to drift = page_hinkley")},
    /* No built-in default: unset, it is the learner's (check_task()). */
    {K(struct config_task, switch_z, "switch_z", cfgkey_double), .lo = 0,
     .hi = SWITCH_Z_MAX, GRID_NA},
    {K(struct config_task, feature_max_age_ms, "feature_max_age",
       cfgkey_duration),
     .lo = 1000, .hi = 365 * MS_PER_DAY, .def = "10m", GRID_NA},
    {K(struct config_task, clock_max_gap_ms, "clock_max_gap", cfgkey_duration),
     .lo = 1000, .hi = MS_PER_DAY, .def = "60s", GRID_NA},
    {K(struct config_task, label_max_delay_ms, "label_max_delay",
       cfgkey_duration),
     .lo = 0, .hi = 365 * MS_PER_DAY, .def = "10m", FC_NA},
    {K(struct config_task, max_pending, "max_pending", cfgkey_uint), .lo = 1,
     .hi = ROWS_MAX_PENDING, .def = "16384", FC_NA},
    {K(struct config_task, max_pending_per_device, "max_pending_per_device",
       cfgkey_uint),
     .lo = 1, .hi = ROWS_MAX_PENDING, .def = "256", FC_NA},
    {K(struct config_task, threshold, "threshold", cfgkey_double), .lo = 0,
     .hi = 1, .flags = CFGKEY_OPEN_LO, .def = "0.5",
     NA(is_anomaly, "applies only to anomaly tasks")},
    {K(struct config_task, max_series, "max_series", cfgkey_uint), .lo = 1,
     .hi = 65536, .def = "4096",
     NA(is_anomaly, "applies only to anomaly tasks")},
    /* No built-in default: unset, it follows [topics] publish_predictions
     * (check_task()). */
    {K(struct config_task, predictions, "predictions", cfgkey_bool)},
};

static const struct cfgkey_spec topics_keys[] = {
    {K(struct config_topics, snapshot, "snapshot", cfgtype_outtopic),
     .names = ph_task, .def = "weir/model/{task}/snapshot"},
    {K(struct config_topics, metrics, "metrics", cfgtype_outtopic),
     .names = ph_task, .def = "weir/model/{task}/metrics"},
    {K(struct config_topics, predictions, "predictions", cfgtype_outtopic),
     .names = ph_pred, .def = "weir/pred/{task}/{device}"},
    {K(struct config_topics, publish_predictions, "publish_predictions",
       cfgkey_bool),
     .def = "false"},
    {K(struct config_topics, rejects, "rejects", cfgtype_outtopic),
     .names = ph_reason, .def = "weir/rejects/{reason}"},
    {K(struct config_topics, publish_rejects, "publish_rejects", cfgkey_bool),
     .def = "true"},
    {K(struct config_topics, status, "status", cfgtype_outtopic),
     .names = ph_none, .def = "weir/status"},
    {K(struct config_topics, drift, "drift", cfgtype_outtopic),
     .names = ph_task, .def = "weir/model/{task}/drift"},
    {K(struct config_topics, anomaly, "anomaly", cfgtype_outtopic),
     .names = ph_pred, .def = "weir/anomaly/{task}/{device}"},
};
_Static_assert(TASK_CLOCK_MAX_GAP_MS == 60000,
               "task_keys[] clock_max_gap's default must be the task's");
/* check_topics() keeps a flag per pair of keys, and one per key at 15. */
_Static_assert(sizeof(topics_keys) / sizeof(topics_keys[0]) < 15,
               "check_topics() said[][] is too small");

static const struct cfgkey_spec snapshot_keys[] = {
    {K(struct config_snapshot, min_interval_ms, "min_interval",
       cfgkey_duration),
     .lo = 0, .hi = MS_PER_DAY, .def = "10s"},
    {K(struct config_snapshot, keep, "keep", cfgkey_uint), .lo = 1, .hi = 1000,
     .def = "5"},
};

static const struct cfgkey_spec wal_keys[] = {
    {K(struct config_wal, sync, "fsync", cfgkey_enum), .names = fsync_names,
     .values = fsync_values, .def = "interval"},
    {K(struct config_wal, sync_interval_ms, "fsync_interval", cfgkey_duration),
     .lo = 10, .hi = 600000, .def = "1s",
     NA(fsync_interval, "applies only to fsync = interval")},
    {K(struct config_wal, segment_bytes, "segment_size", cfgkey_size),
     .lo = 1 << 20, .hi = 1 << 30, .def = "64MiB"},
    {K(struct config_wal, max_bytes, "max_size", cfgkey_size), .lo = 2 << 20,
     .hi = 1099511627776.0, .def = "1GiB"},
    {K(struct config_wal, full_wait_ms, "full_wait", cfgkey_duration), .lo = 0,
     .hi = 60000, .def = "100ms"},
};

#define HTTP_NA NA(http_on, "does not apply to listen = off")
static const struct cfgkey_spec http_keys[] = {
    {K(struct config_http, enabled, "listen", cfgtype_listen),
     .def = "127.0.0.1:9107"},
    {K(struct config_http, max_connections, "max_connections", cfgkey_uint),
     .lo = 1, .hi = 1024, .def = "32", HTTP_NA},
    {K(struct config_http, timeout_ms, "timeout", cfgkey_duration), .lo = 100,
     .hi = 300000, .def = "5s", HTTP_NA},
    {K(struct config_http, max_request_bytes, "max_request", cfgkey_size),
     .lo = 1024, .hi = 1 << 20, .def = "8KiB", HTTP_NA},
    {K(struct config_http, keep_alive, "keep_alive", cfgkey_bool),
     .def = "true", HTTP_NA},
};

static const struct cfgkey_spec limits_keys[] = {
    {K(struct config_limits, ring_slots, "ring_slots", cfgkey_uint), .lo = 1024,
     .hi = 1 << 26, .def = "65536"},
    {K(struct config_limits, max_devices, "max_devices", cfgkey_uint), .lo = 1,
     .hi = 1 << 24, .def = "10000"},
    {K(struct config_limits, max_sensors, "max_sensors", cfgkey_uint), .lo = 1,
     .hi = 1 << 24, .def = "4096"},
};

#define SECT(NAME, NAMED, KEYS)                                                \
    {                                                                          \
        NAME, NAMED, KEYS, sizeof(KEYS) / sizeof(KEYS[0])                      \
    }
static const struct cfgini_section sects[S__COUNT] = {
    [S_WEIR] = SECT("weir", false, weir_keys),
    [S_MQTT] = SECT("mqtt", false, mqtt_keys),
    [S_SUB] = SECT("subscription", true, sub_keys),
    [S_VALIDATION] = SECT("validation", false, validation_keys),
    [S_SENSOR] = SECT("sensor", true, sensor_keys),
    [S_TASK] = SECT("task", true, task_keys),
    [S_TOPICS] = SECT("topics", false, topics_keys),
    [S_SNAPSHOT] = SECT("snapshot", false, snapshot_keys),
    [S_WAL] = SECT("wal", false, wal_keys),
    [S_HTTP] = SECT("http", false, http_keys),
    [S_LIMITS] = SECT("limits", false, limits_keys),
};

/* ---- Sections ---------------------------------------------------------- */

/* The struct of element index of section kind (cfgini_schema.base). */
static void *sect_base(struct config *c, size_t kind, size_t index)
{
    switch ((enum sect)kind) {
    case S_WEIR:
        return c;
    case S_MQTT:
        return &c->mqtt;
    case S_SUB:
        return &c->subs[index];
    case S_VALIDATION:
        return &c->validation;
    case S_SENSOR:
        return &c->sensors[index];
    case S_TASK:
        return &c->tasks[index];
    case S_TOPICS:
        return &c->topics;
    case S_SNAPSHOT:
        return &c->snapshot;
    case S_WAL:
        return &c->wal;
    case S_HTTP:
        return &c->http;
    case S_LIMITS:
        return &c->limits;
    default:
        assert(0);
        return NULL;
    }
}

/* Grow one of the named-section arrays by a zeroed element. */
static void *grow(void **arr, size_t *n, size_t size)
{
    char *a = realloc(*arr, (*n + 1) * size);

    if (a == NULL)
        return NULL;
    memset(a + *n * size, 0, size);
    *arr = a;
    return a + (*n)++ * size;
}

/* Create the element of a named section; returns its index or SIZE_MAX
 * (cfgini_schema.add). */
static size_t new_named(struct config *c, size_t kind, const char *name,
                        int line)
{
    char *copy = strdup(name);
    size_t idx = SIZE_MAX;

    if (copy == NULL)
        goto oom;
    if (kind == S_SUB) {
        struct config_subscription *s =
            grow((void **)&c->subs, &c->nsubs, sizeof(*s));
        if (s == NULL)
            goto oom;
        *s =
            (struct config_subscription){.name = copy, .qos = -1, .line = line};
        idx = c->nsubs - 1;
    } else if (kind == S_SENSOR) {
        struct config_sensor *s =
            grow((void **)&c->sensors, &c->nsensors, sizeof(*s));
        if (s == NULL)
            goto oom;
        *s = (struct config_sensor){.name = copy,
                                    .min = -INFINITY,
                                    .max = INFINITY,
                                    .max_rate_per_s = INFINITY,
                                    .line = line};
        idx = c->nsensors - 1;
    } else {
        struct config_task *t =
            grow((void **)&c->tasks, &c->ntasks, sizeof(*t));
        if (t == NULL)
            goto oom;
        t->name = copy;
        t->line = line;
        idx = c->ntasks - 1;
    }
    return idx;
oom:
    free(copy);
    return SIZE_MAX;
}

static const struct cfgini_schema schema = {sects, S__COUNT, sect_base,
                                            new_named};

/* ---- Checks across keys ------------------------------------------------ */

/* What the checks work on. */
struct check {
    struct config *cfg;   /* Checked, and completed (defaults that depend
                             on other keys). */
    struct cfgini *ini;   /* Where each key was set. */
    struct cfgdiag *diag; /* Messages. */
    bool world_readable;  /* The file can be read by anyone. */
};

__attribute__((format(printf, 3, 4))) static void
perr(struct check *p, int line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    cfgdiag_vadd(p->diag, line, false, fmt, ap);
    va_end(ap);
}

__attribute__((format(printf, 3, 4))) static void
pwarn(struct check *p, int line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    cfgdiag_vadd(p->diag, line, true, fmt, ap);
    va_end(ap);
}

/* Line where a key was set (0: not set). */
static int set_line(const struct check *p, enum sect kind, size_t index,
                    const char *key)
{
    return cfgini_set_line(p->ini, kind, index, key);
}

/* Line to blame for a key: where it was set, else the section header. */
static int blame(const struct check *p, enum sect kind, size_t index,
                 const char *key)
{
    return cfgini_blame(p->ini, kind, index, key);
}

static void default_client_id(struct check *p)
{
    char host[256] = "";
    char id[300];

    if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0')
        snprintf(host, sizeof(host), "gateway");
    for (char *c = host; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
              (*c >= '0' && *c <= '9') || *c == '-' || *c == '_'))
            *c = '-';
    snprintf(id, sizeof(id), "weir-%s", host);
    if ((p->cfg->mqtt.client_id = strdup(id)) == NULL)
        cfgdiag_nomem(p->diag);
}

static void check_mqtt(struct check *p)
{
    struct config_mqtt *m = &p->cfg->mqtt;

    if (m->client_id == NULL)
        default_client_id(p);
    else if (strlen(m->client_id) > 256)
        perr(p, blame(p, S_MQTT, 0, "client_id"),
             "[mqtt] client_id: longer than 256 bytes");
    if (m->password && m->password_file)
        perr(p, blame(p, S_MQTT, 0, "password_file"),
             "[mqtt] password and password_file are both set: keep one");
    if ((m->password || m->password_file) && !m->username && m->version == 4)
        perr(p, blame(p, S_MQTT, 0, m->password ? "password" : "password_file"),
             "[mqtt] MQTT 3.1.1 sends a password only with a username");
    if (m->retry_min_ms > m->retry_max_ms)
        perr(p, blame(p, S_MQTT, 0, "retry_min"),
             "[mqtt] retry_min is larger than retry_max");
    if (m->keepalive_ms % 1000 != 0)
        perr(p, blame(p, S_MQTT, 0, "keepalive"),
             "[mqtt] keepalive: MQTT counts it in whole seconds");
    if (m->session_expiry_ms % 1000 != 0)
        perr(p, blame(p, S_MQTT, 0, "session_expiry"),
             "[mqtt] session_expiry: MQTT counts it in whole seconds");
    if (m->key_file && !m->cert_file)
        perr(p, blame(p, S_MQTT, 0, "key_file"),
             "[mqtt] key_file without cert_file");
    if (m->clean_session)
        pwarn(p, blame(p, S_MQTT, 0, "clean_session"),
              "[mqtt] clean_session = true: the broker forgets the session "
              "when weir disconnects, so readings sent meanwhile are lost");
    if (!m->tls_verify && uses_tls(p->cfg, m))
        pwarn(p, blame(p, S_MQTT, 0, "tls_verify"),
              "[mqtt] tls_verify = false: the broker's identity is not "
              "checked");
    if (m->password && p->world_readable)
        pwarn(p, blame(p, S_MQTT, 0, "password"),
              "[mqtt] password in a file anyone can read: use "
              "password_file with mode 0600, or chmod this file");
}

static void check_tls(struct check *p)
{
    const struct cfgtls_lines lines = {
        blame(p, S_MQTT, 0, "uri"), blame(p, S_MQTT, 0, "ca_file"),
        blame(p, S_MQTT, 0, "cert_file"), blame(p, S_MQTT, 0, "key_file")};

    cfgtls_check(p->diag, &p->cfg->mqtt, &lines);
}

/* true if some topic matches both filters (levels, '+', trailing '#'). */
static bool filters_intersect(const char *a, const char *b)
{
    for (;;) {
        size_t na = strcspn(a, "/");
        size_t nb = strcspn(b, "/");
        if ((na == 1 && a[0] == '#') || (nb == 1 && b[0] == '#'))
            return true;
        if (!(na == 1 && a[0] == '+') && !(nb == 1 && b[0] == '+') &&
            (na != nb || memcmp(a, b, na) != 0))
            return false;
        a += na;
        b += nb;
        if (*a == '\0' || *b == '\0') /* "x/#" also matches "x" */
            return (*a == '\0' && *b == '\0') ||
                   (*a == '\0' ? strcmp(b, "/#") == 0 : strcmp(a, "/#") == 0);
        a++;
        b++;
    }
}

/* The subscription's filter with the share prefix ("$share/g/..."). */
static void share_filter(struct check *p, struct config_subscription *s)
{
    size_t n;
    char *f;

    if (s->share_group == NULL || s->filter == NULL)
        return;
    n = strlen(s->share_group) + strlen(s->filter) + 9;
    if ((f = malloc(n)) == NULL) {
        cfgdiag_nomem(p->diag);
        return;
    }
    snprintf(f, n, "$share/%s/%s", s->share_group, s->filter);
    free(s->filter);
    s->filter = f;
}

/* The filter without a "$share/group/" prefix. */
static const char *plain_filter(const struct config_subscription *s)
{
    return s->share_group ? s->filter + 8 + strlen(s->share_group) : s->filter;
}

static void check_sub(struct check *p, size_t i)
{
    struct config_subscription *s = &p->cfg->subs[i];

    if (s->topic == NULL && !set_line(p, S_SUB, i, "topic"))
        perr(p, s->line, "[subscription %s] needs 'topic'", s->name);
    if (!set_line(p, S_SUB, i, "format"))
        perr(p, s->line,
             "[subscription %s] needs 'format' (protobuf_reading, "
             "protobuf_batch, json or senml)",
             s->name);
    else if (s->has_sensor && (s->format == CONFIG_FORMAT_PROTOBUF_BATCH ||
                               s->format == CONFIG_FORMAT_SENML))
        perr(p, blame(p, S_SUB, i, "topic"),
             "[subscription %s] {sensor} in the topic is not used: a %s "
             "payload names its sensors itself",
             s->name, format_names[s->format]);
    if (s->qos < 0)
        s->qos = p->cfg->mqtt.qos;
    else if (s->qos == 0)
        pwarn(p, blame(p, S_SUB, i, "qos"),
              "[subscription %s] qos = 0: readings are not acknowledged and "
              "can be lost",
              s->name);
    if (s->share_group && strpbrk(s->share_group, "/+#"))
        perr(p, blame(p, S_SUB, i, "share_group"),
             "[subscription %s] share_group cannot contain '/', '+' or '#'",
             s->name);
    share_filter(p, s);
}

static void check_subs(struct check *p)
{
    struct config *c = p->cfg;

    if (c->nsubs == 0)
        perr(p, 0,
             "no [subscription NAME] section: weir would receive "
             "nothing");
    for (size_t i = 0; i < c->nsubs; i++)
        check_sub(p, i);
    for (size_t j = 0; j < c->nsubs; j++) {
        for (size_t i = 0; i < j; i++) {
            const struct config_subscription *a = &c->subs[i];
            const struct config_subscription *b = &c->subs[j];
            if (a->filter && b->filter &&
                filters_intersect(plain_filter(a), plain_filter(b)))
                perr(p, blame(p, S_SUB, j, "topic"),
                     "[subscription %s] topic '%s' overlaps [subscription "
                     "%s] (line %d): a message matching both would be read "
                     "twice",
                     b->name, b->topic, a->name, a->line);
        }
    }
}

static void check_sensor(struct check *p, size_t i)
{
    const struct config_sensor *s = &p->cfg->sensors[i];

    if (s->min > s->max) {
        int lmin = set_line(p, S_SENSOR, i, "min");
        int lmax = set_line(p, S_SENSOR, i, "max");
        perr(p, lmin > lmax ? lmin : lmax,
             "[sensor %s] min (%g) is larger than max (%g)", s->name, s->min,
             s->max);
    }
}

static bool same_term(const struct rows_spec *a, const struct rows_spec *b)
{
    return strcmp(a->name, b->name) == 0 && a->lag == b->lag &&
           a->horizon_ms == b->horizon_ms;
}

/* The learner's own default switch_z (learn/learner.h), whatever it is. */
static double default_switch_z(void)
{
    struct learner_config lc;

    learner_config_default(&lc, LEARNER_REGRESSION, 1, 0);
    return lc.switch_z;
}

/* Regression: linear; classification: logistic and softmax. Unset,
 * switch_z is the learner's default. */
static void check_grid(struct check *p, size_t i)
{
    struct config_task *t = &p->cfg->tasks[i];
    bool regression = t->kind == CONFIG_TASK_REGRESSION;

    if (t->nmodels == 0) {
        t->models[0] = regression ? MODEL_LINEAR : MODEL_LOGISTIC;
        t->nmodels = 1;
    }
    for (size_t j = 0; j < t->nmodels; j++) {
        if (t->models[j] == MODEL_LOGISTIC && t->nclasses > 2)
            perr(p, blame(p, S_TASK, i, "models"),
                 "[task %s] models: logistic is binary, but there are %zu "
                 "classes (use softmax)",
                 t->name, t->nclasses);
        if ((t->models[j] == MODEL_LINEAR) != regression)
            perr(p, blame(p, S_TASK, i, "models"),
                 "[task %s] models: %s cannot do %s (use %s)", t->name,
                 model_names[t->models[j] - 1], kind_names[t->kind],
                 regression ? "linear" : "logistic or softmax");
    }
    if (config_task_candidates(t) > CONFIG_MAX_CANDIDATES)
        perr(p, t->line,
             "[task %s] %zu candidates (models x optimizers x learning_rates "
             "x l2): at most %d",
             t->name, config_task_candidates(t), CONFIG_MAX_CANDIDATES);
    if (!set_line(p, S_TASK, i, "switch_z"))
        t->switch_z = default_switch_z();
}

static void check_drift(struct check *p, size_t i)
{
    struct config_task *t = &p->cfg->tasks[i];

    if (!set_line(p, S_TASK, i, "drift_delta"))
        t->drift_delta = t->drift == CONFIG_DRIFT_PAGE_HINKLEY ? 0.05 : 0.002;
    else if (t->drift == CONFIG_DRIFT_ADWIN &&
             !(t->drift_delta > 0 && t->drift_delta < 1))
        perr(p, blame(p, S_TASK, i, "drift_delta"),
             "[task %s] drift_delta: ADWIN's confidence must be in (0, 1)",
             t->name);
}

/* Every sensor a task names needs a [sensor] if unknown ones are refused. */
static void check_known(struct check *p, size_t i, const struct rows_spec *s,
                        const char *key)
{
    if (p->cfg->validation.reject_unknown &&
        config_sensor_find(p->cfg, s->name) == NULL)
        perr(p, blame(p, S_TASK, i, key),
             "[task %s] sensor '%s' has no [sensor %s] section, and "
             "unknown_sensor = reject would refuse all of its readings",
             p->cfg->tasks[i].name, s->name, s->name);
}

static void check_target(struct check *p, size_t i)
{
    struct config_task *t = &p->cfg->tasks[i];

    if (t->kind == CONFIG_TASK_ANOMALY)
        return; /* a target there is refused by check_applies() */
    if (!t->has_target) {
        if (!set_line(p, S_TASK, i, "target"))
            perr(p, t->line, "[task %s] needs 'target'", t->name);
        return;
    }
    if (t->target.lag > 0)
        perr(p, blame(p, S_TASK, i, "target"),
             "[task %s] target cannot be lagged (@-k is for features)",
             t->name);
    for (size_t j = 0; j < t->nfeatures; j++)
        if (t->target.horizon_ms == 0 && same_term(&t->target, &t->features[j]))
            perr(p, blame(p, S_TASK, i, "features"),
                 "[task %s] the target '%s' is also a feature: the model "
                 "would see its own label (use %s@-1 for its previous value)",
                 t->name, t->target.name, t->target.name);
    check_known(p, i, &t->target, "target");
}

static void check_task(struct check *p, size_t i)
{
    struct config_task *t = &p->cfg->tasks[i];

    if (!set_line(p, S_TASK, i, "kind"))
        perr(p, t->line,
             "[task %s] needs 'kind' (regression, classification or "
             "anomaly)",
             t->name);
    if (!cfgini_parsed(p->ini, S_TASK, i, "kind"))
        return; /* nothing else can be checked */
    if (t->nfeatures == 0 && !set_line(p, S_TASK, i, "features"))
        perr(p, t->line, "[task %s] needs 'features'", t->name);
    check_target(p, i);
    for (size_t j = 0; j < t->nfeatures; j++) {
        check_known(p, i, &t->features[j], "features");
        if (t->kind == CONFIG_TASK_ANOMALY && t->features[j].lag > 0)
            perr(p, blame(p, S_TASK, i, "features"),
                 "[task %s] an anomaly task watches sensors: '%s@-%u' has a "
                 "lag",
                 t->name, t->features[j].name, (unsigned)t->features[j].lag);
    }
    if (t->nclasses == 1)
        perr(p, blame(p, S_TASK, i, "classes"),
             "[task %s] classes: a classifier needs at least two", t->name);
    if (t->kind != CONFIG_TASK_ANOMALY) {
        check_grid(p, i);
        check_drift(p, i);
    } else {
        t->nmodels = t->noptimizers = t->nlearning_rates = t->nl2 = 0;
        t->drift = CONFIG_DRIFT_NONE;
    }
    if (!set_line(p, S_TASK, i, "predictions"))
        t->predictions = p->cfg->topics.publish_predictions;
    if (is_forecast(p->cfg, t) && t->max_pending_per_device > t->max_pending)
        perr(p, blame(p, S_TASK, i, "max_pending_per_device"),
             "[task %s] max_pending_per_device is larger than max_pending",
             t->name);
}

/* Every topic an output template can produce, with {task} and {reason}
 * filled in from the tasks and the reject reasons (both known here) and
 * {device} as '+'. */
struct out_topic {
    size_t key; /* index in topics_keys */
    char topic[2 * TOPIC_TEMPLATE_MAX];
};

static bool expand_outputs(struct check *p, struct out_topic **out, size_t *n)
{
    const struct config *c = p->cfg;
    const struct cfgini_section *ss = &sects[S_TOPICS];
    static const char *const keys[] = {"task", "reason", "device"};
    struct out_topic *v = NULL;
    size_t len = 0;

    for (size_t k = 0; k < ss->nkeys; k++) {
        const char *t;
        if (ss->keys[k].type != &cfgtype_outtopic)
            continue;
        t = *(char *const *)cfgkey_cfield(&c->topics, &ss->keys[k]);
        size_t nt = strstr(t, "{task}") ? c->ntasks : 1;
        size_t nr = strstr(t, "{reason}") ? REJECT__COUNT - 1 : 1;
        for (size_t i = 0; i < nt; i++) {
            for (size_t r = 0; r < nr; r++) {
                const char *vals[3] = {
                    c->ntasks ? c->tasks[i < c->ntasks ? i : 0].name : "+",
                    reject_name((enum reject_reason)(r + 1)), "+"};
                struct out_topic *g = realloc(v, (len + 1) * sizeof(*v));
                if (g == NULL) {
                    free(v);
                    cfgdiag_nomem(p->diag);
                    return false;
                }
                v = g;
                v[len].key = k;
                topic_render(t, keys, vals, 3, v[len].topic,
                             sizeof(v[len].topic));
                len++;
            }
        }
    }
    *out = v;
    *n = len;
    return true;
}

/* Output topics: none may be read back by a subscription, and no two
 * outputs may produce the same topic. Reported once per pair. */
static void check_topics(struct check *p)
{
    const struct cfgini_section *ss = &sects[S_TOPICS];
    const struct config *c = p->cfg;
    bool said[16][16] = {{false}};
    struct out_topic *v;
    size_t n;

    if (!expand_outputs(p, &v, &n))
        return;
    for (size_t i = 0; i < n; i++) {
        const struct cfgkey_spec *k = &ss->keys[v[i].key];
        int line = blame(p, S_TOPICS, 0, k->name);
        int li = set_line(p, S_TOPICS, 0, k->name);
        for (size_t j = 0; j < c->nsubs; j++) {
            if (!said[v[i].key][15] && c->subs[j].filter &&
                filters_intersect(v[i].topic, plain_filter(&c->subs[j]))) {
                said[v[i].key][15] = true;
                perr(p, line,
                     "[topics] %s: '%s' matches [subscription %s] ('%s'): "
                     "weir would read its own output",
                     k->name, v[i].topic, c->subs[j].name, c->subs[j].topic);
            }
        }
        for (size_t j = 0; j < i; j++) {
            if (v[j].key == v[i].key || said[v[j].key][v[i].key] ||
                !filters_intersect(v[i].topic, v[j].topic))
                continue;
            said[v[j].key][v[i].key] = true;
            perr(p, li ? li : blame(p, S_TOPICS, 0, ss->keys[v[j].key].name),
                 "[topics] %s and %s can both publish to '%s'", k->name,
                 ss->keys[v[j].key].name, v[i].topic);
        }
    }
    free(v);
}

static void check_rest(struct check *p)
{
    struct config *c = p->cfg;

    if (c->validation.dedup_window % 64 != 0)
        perr(p, blame(p, S_VALIDATION, 0, "dedup_window"),
             "[validation] dedup_window must be a multiple of 64");
    if (c->wal.max_bytes < 2 * c->wal.segment_bytes)
        perr(p, blame(p, S_WAL, 0, "max_size"),
             "[wal] max_size must hold at least two segments (segment_size "
             "x 2)");
    if (c->mqtt.keepalive_ms > 0 &&
        c->wal.full_wait_ms * 2 > c->mqtt.keepalive_ms)
        perr(p, blame(p, S_WAL, 0, "full_wait"),
             "[wal] full_wait must be at most half of [mqtt] keepalive: the "
             "client must keep answering the broker");
    if ((c->limits.ring_slots & (c->limits.ring_slots - 1)) != 0)
        perr(p, blame(p, S_LIMITS, 0, "ring_slots"),
             "[limits] ring_slots must be a power of two");
    if (c->http.enabled && strcmp(c->http.host, "127.0.0.1") != 0 &&
        strcmp(c->http.host, "::1") != 0 &&
        strncmp(c->http.host, "127.", 4) != 0)
        pwarn(p, blame(p, S_HTTP, 0, "listen"),
              "[http] listen = %s: the metrics endpoint is reachable from "
              "other machines",
              c->http.host);
    if (c->ntasks == 0)
        pwarn(p, 0,
              "no [task NAME] section: weir will validate and count "
              "readings but learn nothing");
}

static void check_all(struct check *p)
{
    check_mqtt(p);
    check_tls(p);
    check_subs(p);
    for (size_t i = 0; i < p->cfg->nsensors; i++)
        check_sensor(p, i);
    for (size_t i = 0; i < p->cfg->ntasks; i++)
        check_task(p, i);
    check_topics(p);
    check_rest(p);
    cfgini_check_applies(p->ini);
}

/* ---- Public API -------------------------------------------------------- */

size_t config_task_candidates(const struct config_task *t)
{
    return t->nmodels * t->noptimizers * t->nlearning_rates * t->nl2;
}

const struct config_sensor *config_sensor_find(const struct config *cfg,
                                               const char *name)
{
    for (size_t i = 0; i < cfg->nsensors; i++)
        if (strcmp(cfg->sensors[i].name, name) == 0)
            return &cfg->sensors[i];
    return NULL;
}

void config_free(struct config *cfg)
{
    if (cfg == NULL)
        return;
    for (int k = S_WEIR; k < S__COUNT; k++)
        if (!sects[k].named)
            cfgini_release_keys(&schema, cfg, (size_t)k, 0);
    for (size_t i = 0; i < cfg->nsubs; i++) {
        cfgini_release_keys(&schema, cfg, S_SUB, i);
        free(cfg->subs[i].name);
    }
    for (size_t i = 0; i < cfg->nsensors; i++) {
        cfgini_release_keys(&schema, cfg, S_SENSOR, i);
        free(cfg->sensors[i].name);
    }
    for (size_t i = 0; i < cfg->ntasks; i++) {
        cfgini_release_keys(&schema, cfg, S_TASK, i);
        free(cfg->tasks[i].name);
    }
    free(cfg->subs);
    free(cfg->sensors);
    free(cfg->tasks);
    free(cfg->path);
    free(cfg);
}

int config_print(const struct config *cfg, FILE *f)
{
    static const char *const label[] = {
        [S_SUB] = "subscription", [S_SENSOR] = "sensor", [S_TASK] = "task"};

    fprintf(f, "# Effective configuration of %s, defaults included.\n",
            cfg->path);
    for (int k = S_WEIR; k < S__COUNT; k++) {
        size_t n = k == S_SUB      ? cfg->nsubs
                   : k == S_SENSOR ? cfg->nsensors
                   : k == S_TASK   ? cfg->ntasks
                                   : 1;
        for (size_t i = 0; i < n; i++) {
            if (sects[k].named) {
                const char *name = k == S_SUB      ? cfg->subs[i].name
                                   : k == S_SENSOR ? cfg->sensors[i].name
                                                   : cfg->tasks[i].name;
                fprintf(f, "\n[%s %s]\n", label[k], name);
            } else {
                fprintf(f, "\n[%s]\n", sects[k].name);
            }
            if (cfgini_print_keys(&schema, cfg, (size_t)k, i, f) < 0)
                return -EIO;
        }
    }
    return ferror(f) ? -EIO : 0;
}

static int parse(struct config **out, const char *text, size_t len,
                 const char *name, bool world_readable, char **diag)
{
    struct check c = {.world_readable = world_readable};
    const char *slash = strrchr(name, '/');
    char *base_dir = NULL;
    int rc = -ENOMEM;

    *out = NULL;
    *diag = NULL;
    if ((c.cfg = calloc(1, sizeof(*c.cfg))) == NULL ||
        (c.cfg->path = strdup(name)) == NULL ||
        (slash &&
         (base_dir = strndup(name, (size_t)(slash - name + (slash == name)))) ==
             NULL) ||
        cfgdiag_new(&c.diag, name) != 0 ||
        cfgini_new(&c.ini, &schema, c.cfg, c.diag, base_dir) != 0)
        goto out;
    if (cfgini_read(c.ini, text, len) == 0)
        check_all(&c);
    *diag = cfgdiag_render(c.diag);
    rc = cfgdiag_out_of_memory(c.diag) ? -ENOMEM
         : cfgdiag_errors(c.diag)      ? -EINVAL
                                       : 0;
    if (rc == 0) {
        *out = c.cfg;
        c.cfg = NULL;
    }
out:
    cfgini_free(c.ini);
    cfgdiag_free(c.diag);
    free(base_dir);
    config_free(c.cfg);
    return rc;
}

int config_parse(struct config **out, const char *text, size_t len,
                 const char *name, char **diag)
{
    return parse(out, text, len, name, false, diag);
}

int config_load(struct config **out, const char *path, char **diag)
{
    struct stat st;
    char *text = NULL;
    ssize_t n = 0;
    int fd;
    int rc;

    *out = NULL;
    *diag = NULL;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0) {
        rc = -errno;
        goto fail;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > CONFIG_MAX_FILE) {
        rc = S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
        goto fail;
    }
    if ((text = malloc((size_t)st.st_size + 1)) == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    for (size_t got = 0; got < (size_t)st.st_size; got += (size_t)n) {
        n = read(fd, text + got, (size_t)st.st_size - got);
        if (n <= 0) {
            rc = n < 0 ? -errno : -EIO;
            goto fail;
        }
    }
    close(fd);
    rc = parse(out, text, (size_t)st.st_size, path, (st.st_mode & S_IROTH) != 0,
               diag);
    free(text);
    return rc;
fail:
    if (fd >= 0)
        close(fd);
    free(text);
    {
        const char *why = rc == -EFBIG    ? "file larger than 1 MiB"
                          : rc == -EINVAL ? "not a regular file"
                                          : strerror(-rc);
        size_t cap = strlen(path) + strlen(why) + 16;
        if ((*diag = malloc(cap)) != NULL)
            snprintf(*diag, cap, "%s: error: %s\n", path, why);
    }
    return rc;
}
