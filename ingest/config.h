/* config.h -- weir's configuration: one INI file, parsed and checked.
 *
 * The file is read with inih (the maintained INI parser Debian ships as
 * libinih); this module adds the schema. Every key has a type, a range and
 * a default; an unknown section or key, a value of the wrong type, an
 * impossible value or combination is an error that names the file and the
 * line ("weir.ini:12: error: [task occupancy] test_fraction = '1.5': must
 * be in [0, 0.5]"), with a suggestion for a misspelt name. Nothing is silently
 * ignored: a key that does not apply to the rest of its section (a
 * page_hinkley threshold under drift = adwin) is an error too. All errors
 * of a file are reported at once, sorted by line.
 *
 * Syntax (inih's): "[section]" or "[kind name]" headers, "key = value"
 * lines, comments on lines starting with ';' or '#' and after " ;" at the
 * end of a line. Values are taken verbatim (no quotes). A list may
 * continue on indented lines:
 *
 *     features = temperature, humidity, light,
 *                co2, co2@-1
 *
 * Indenting any other key is an error (inih would read it as a
 * continuation). Lines are at most 196 characters and a section header at
 * most 49 (inih's limits; longer is an error, not a truncation). Relative
 * paths are relative to the directory of the configuration file.
 *
 * Value types: durations "250ms", "30s", "15m", "2h", "1d", combinations
 * "1h30m", a bare number is seconds; sizes "512", "64KiB" ("64K"), "8MiB"
 * ("8M"), "1GiB" ("1G"), all binary; booleans true/false, yes/no, on/off,
 * 1/0; lists are comma-separated.
 *
 * Schema and defaults (examples/building.ini explains each key):
 *
 *   [weir]          state_dir = /var/lib/weir, log_level = info
 *                   (error|warn|info|debug), checkpoint_interval = 60s
 *   [mqtt]          uri = tcp://127.0.0.1:1883 (a list: failover order;
 *                   tcp:// mqtt:// ssl:// mqtts:// ws:// wss://),
 *                   client_id = weir-<hostname>, username, password |
 *                   password_file, version = 3.1.1 (or 5), keepalive = 30s,
 *                   qos = 1, clean_session = false, session_expiry = 1d
 *                   (v5), connect_timeout = 10s, retry_min = 1s,
 *                   retry_max = 60s, max_inflight = 64; TLS (only with
 *                   TLS URIs, and then every URI of the list is TLS):
 *                   ca_file (PEM file, or a directory `openssl rehash`
 *                   made; default: the system's CAs), cert_file and
 *                   key_file (PEM; key_file may be left out when
 *                   cert_file holds the key; no passphrase), tls_verify =
 *                   true (the broker's chain and host name). The files
 *                   are checked here: PEM of the right kind, a key that
 *                   nobody else can read (a warning).
 *   [subscription NAME]  (one or more) topic = template with {device}
 *                   and {sensor} as whole levels, format =
 *                   protobuf_reading | protobuf_batch | json | senml,
 *                   qos = [mqtt] qos, share_group (v5 shared subscription)
 *   [validation]    max_future_skew = 5m, max_past_skew = 7d,
 *                   max_payload = 64KiB, unknown_sensor = accept (|reject),
 *                   dedup_window = 1024 (multiple of 64, 64..65536),
 *                   dedup_hold = 10m, dedup_hashes = 65536
 *   [sensor NAME]   min, max, max_rate (units per second; each optional),
 *                   require_timestamp = false, require_seq = false
 *   [task NAME]     kind = regression | classification | anomaly,
 *                   features = list of NAME, NAME@-k (k readings earlier,
 *                   1..16; anomaly: the sensors to score, no lags),
 *                   predictions = [topics] publish_predictions (on|off:
 *                   this task's per-row predictions or scores);
 *                   supervised only: target = NAME or NAME@+h (forecast h
 *                   ahead), window = 500 rows (or a duration), models
 *                   (regression: linear; classification: logistic,
 *                   softmax; default linear / logistic), classes
 *                   (classification: class labels, more than 2 is
 *                   multiclass), optimizers = sgd, adagrad, normalized,
 *                   learning_rates = 0.5, 0.1, 0.01, l2 = 0, 0.0001 (at
 *                   most 64 candidates), test_fraction = 0.1 in [0, 0.5],
 *                   drift = adwin | page_hinkley | none, drift_delta =
 *                   0.002 (adwin) / 0.05 (page_hinkley), drift_threshold =
 *                   50 (page_hinkley), switch_z = 3 (0..10: the paired
 *                   test's z a challenger must also reach to unseat the
 *                   champion, learn/learner.h "Rotation"; 0 = the margin
 *                   alone), feature_max_age = 10m, clock_max_gap = 60s
 *                   (1s..1d: most receive time one step of the task's
 *                   data clock counts, ingest/task.h "Time");
 *                   forecasting only: label_max_delay = 10m, max_pending =
 *                   16384, max_pending_per_device = 256;
 *                   anomaly only: threshold = 0.5, max_series = 4096
 *   [topics]        snapshot = weir/model/{task}/snapshot, metrics =
 *                   weir/model/{task}/metrics, predictions =
 *                   weir/pred/{task}/{device}, publish_predictions = false,
 *                   anomaly = weir/anomaly/{task}/{device} (anomaly
 *                   events), rejects = weir/rejects/{reason},
 *                   publish_rejects = true, status = weir/status, drift =
 *                   weir/model/{task}/drift
 *   [snapshot]      min_interval = 10s, keep = 5
 *   [wal]           fsync = interval (none|interval|always),
 *                   fsync_interval = 1s, segment_size = 64MiB, max_size =
 *                   1GiB (>= 2 segments), full_wait = 100ms
 *   [http]          listen = 127.0.0.1:9107 (host:port, [v6]:port, port
 *                   0 for any free port -- the daemon logs the one it got
 *                   and writes it to state_dir/http.port -- or off),
 *                   max_connections = 32, timeout = 5s, max_request =
 *                   8KiB, keep_alive = true
 *   [limits]        ring_slots = 65536 (power of two), max_devices =
 *                   10000, max_sensors = 4096
 *
 * Threads: config_load() and config_parse() run in main() before any thread
 * starts; the struct config they return is read-only afterwards and may be
 * read by every thread. */
#ifndef WEIR_INGEST_CONFIG_H
#define WEIR_INGEST_CONFIG_H

#include <stdbool.h> /* For bool. */
#include <stddef.h>  /* For size_t. */
#include <stdint.h>  /* For int64_t, uint32_t, uint64_t. */
#include <stdio.h>   /* For FILE. */

#include "ingest/log.h"  /* For enum log_level. */
#include "ingest/wal.h"  /* For enum wal_sync. */
#include "learn/model.h" /* For enum model_kind, enum model_optimizer. */
#include "stream/rows.h" /* For struct rows_spec. */

/* ---- Limits ------------------------------------------------------------ */

#define CONFIG_MAX_URIS 8         /* broker URIs */
#define CONFIG_MAX_GRID 16        /* values per candidate-grid axis */
#define CONFIG_MAX_CANDIDATES 64  /* models x optimizers x rates x l2 */
#define CONFIG_MAX_FILE (1 << 20) /* bytes of a configuration file */

/* ---- Types ------------------------------------------------------------- */

enum config_format {
    CONFIG_FORMAT_PROTOBUF_READING, /* weir.Reading */
    CONFIG_FORMAT_PROTOBUF_BATCH,   /* weir.ReadingBatch */
    CONFIG_FORMAT_JSON,             /* a JSON object (proto/json.h) */
    CONFIG_FORMAT_SENML,            /* RFC 8428 SenML JSON */
};

enum config_task_kind {
    CONFIG_TASK_REGRESSION,
    CONFIG_TASK_CLASSIFICATION,
    CONFIG_TASK_ANOMALY,
};

enum config_drift {
    CONFIG_DRIFT_NONE,
    CONFIG_DRIFT_ADWIN,
    CONFIG_DRIFT_PAGE_HINKLEY,
};

struct config_mqtt {
    char *uris[CONFIG_MAX_URIS]; /* Broker URIs in failover order. */
    size_t nuris;                /* 1..CONFIG_MAX_URIS. */
    char *client_id;             /* Stable id: the persistent session. */
    char *username;              /* NULL: none. */
    char *password;              /* NULL: none (or see password_file). */
    char *password_file;         /* NULL: none; read at connect. */
    int version;                 /* 4 (3.1.1) or 5. */
    int64_t keepalive_ms;        /* 0 (off) or 1 s .. 65535 s. */
    int qos;                     /* Default subscription QoS, 0..2. */
    bool clean_session;          /* false keeps the session (no loss). */
    int64_t session_expiry_ms;   /* MQTT 5 session expiry. */
    int64_t connect_timeout_ms;  /* Per connection attempt. */
    int64_t retry_min_ms;        /* Reconnect back-off, first wait. */
    int64_t retry_max_ms;        /* Reconnect back-off, longest wait. */
    uint32_t max_inflight;       /* Unacknowledged publishes at once. */
    char *ca_file;               /* PEM file or hashed directory of
                                    trusted CAs; NULL: the system's. */
    char *cert_file;             /* Client certificate (PEM), or NULL. */
    char *key_file;              /* Its private key (PEM); NULL: in
                                    cert_file (checked). */
    bool tls_verify;             /* Verify the broker's chain and name. */
};

struct config_subscription {
    char *name;                /* From [subscription NAME]. */
    char *topic;               /* Template, e.g. "sensors/{device}/{sensor}". */
    char *filter;              /* MQTT filter derived from it ("+" levels,
                                  "$share/G/" prefix with share_group). */
    bool has_device;           /* The topic has a {device} level. */
    bool has_sensor;           /* The topic has a {sensor} level. */
    enum config_format format; /* Payload format. */
    int qos;                   /* Subscription QoS. */
    char *share_group;         /* MQTT 5 shared-subscription group or NULL. */
    int line;                  /* Line of the section header. */
};

struct config_validation {
    int64_t max_future_ms; /* Largest lead of a timestamp over now. */
    int64_t max_past_ms;   /* Largest lag of a timestamp behind now. */
    size_t max_payload;    /* Bytes; <= CODEC_MAX_PAYLOAD. */
    bool reject_unknown;   /* Sensors without [sensor NAME]: refuse. */
    uint32_t dedup_window; /* Sequence numbers per device window. */
    int64_t dedup_hold_ms; /* Content hashes are held this long. */
    size_t dedup_hashes;   /* Content hashes held at once. */
};

struct config_sensor {
    char *name;            /* From [sensor NAME]. */
    double min;            /* Smallest valid value; -INFINITY: none. */
    double max;            /* Largest valid value; INFINITY: none. */
    double max_rate_per_s; /* Largest |dv/dt|; INFINITY: none. */
    bool require_ts;       /* Readings must carry a device timestamp. */
    bool require_seq;      /* Readings must carry a sequence number. */
    int line;              /* Line of the section header. */
};

struct config_task {
    char *name;                 /* From [task NAME]. */
    enum config_task_kind kind; /* What is learnt. */
    struct rows_spec *features; /* nfeatures specs, owned. */
    size_t nfeatures;           /* 1..ROWS_MAX_FEATURES. */
    bool has_target;            /* Set for every supervised task. */
    struct rows_spec target;    /* horizon_ms > 0: forecasting. */
    uint64_t window_rows;       /* Window by rows, or 0 ... */
    int64_t window_ms;          /* ... by time, or 0 (one is set). */
    enum model_kind models[3];  /* Candidate model kinds. */
    size_t nmodels;
    enum model_optimizer optimizers[3]; /* Candidate optimizers. */
    size_t noptimizers;
    double learning_rates[CONFIG_MAX_GRID]; /* Candidate rates, > 0. */
    size_t nlearning_rates;
    double l2[CONFIG_MAX_GRID]; /* Candidate L2 strengths, >= 0. */
    size_t nl2;
    char **classes;                /* Classification: class labels
                                      (nclasses, owned), or NULL. */
    size_t nclasses;               /* 0 (binary, "0"/"1") or 2..1024. */
    double test_fraction;          /* Rows held out for testing. */
    enum config_drift drift;       /* Detector on the champion's loss
                                      (NONE for anomaly tasks). */
    double drift_delta;            /* ADWIN delta / Page-Hinkley delta. */
    double drift_threshold;        /* Page-Hinkley lambda. */
    double switch_z;               /* Paired test's z to unseat the
                                      champion; 0: off (margin alone). */
    int64_t feature_max_age_ms;    /* Older feature values are missing. */
    int64_t clock_max_gap_ms;      /* Most receive time one step of the
                                      data clock counts. */
    int64_t label_max_delay_ms;    /* Forecast: label at most t+h+this. */
    size_t max_pending;            /* Forecast rows waiting, in all. */
    size_t max_pending_per_device; /* Forecast rows waiting, per device. */
    double threshold;              /* Anomaly: score that is an event. */
    size_t max_series;             /* Anomaly: (device, sensor) series. */
    bool predictions;              /* Publish per-row predictions/scores
                                      (default: [topics]'s switch). */
    int line;                      /* Line of the section header. */
};

struct config_topics {
    char *snapshot;           /* {task}; retained ModelSnapshot. */
    char *metrics;            /* {task}; JSON window summary. */
    char *predictions;        /* {task}, {device}. */
    bool publish_predictions; /* Predictions are published. */
    char *rejects;            /* {reason}; dead-letter topic. */
    bool publish_rejects;     /* Rejects are published. */
    char *status;             /* online/offline, retained, last will. */
    char *drift;              /* {task}; DriftEvent. */
    char *anomaly;            /* {task}, {device}; JSON anomaly event. */
};

struct config_snapshot {
    int64_t min_interval_ms; /* Between two snapshots of a task. */
    uint32_t keep;           /* Snapshot files kept per task. */
};

struct config_wal {
    enum wal_sync sync;       /* fsync policy (ingest/wal.h). */
    int64_t sync_interval_ms; /* For WAL_SYNC_INTERVAL. */
    uint64_t segment_bytes;   /* Segment size. */
    uint64_t max_bytes;       /* Disk budget of the log. */
    int64_t full_wait_ms;     /* Longest wait of a full log. */
};

struct config_http {
    bool enabled;             /* false: listen = off. */
    char *host;               /* Numeric address to bind. */
    int port;                 /* 0..65535; 0: any free port. */
    uint32_t max_connections; /* Open at once. */
    int64_t timeout_ms;       /* A request must arrive in this. */
    size_t max_request_bytes; /* Request line + headers. */
    bool keep_alive;          /* Several requests per connection. */
};

struct config_limits {
    size_t ring_slots;  /* Records in the ring; a power of two. */
    size_t max_devices; /* Device names (interning, dedup, rows). */
    size_t max_sensors; /* Sensor names. */
};

/* The whole configuration: transparent, owned by the caller. */
struct config {
    char *path;                     /* As given to config_load(). */
    char *state_dir;                /* Checkpoints, log, snapshots. */
    enum log_level log_level;       /* [weir] log_level. */
    int64_t checkpoint_interval_ms; /* Between checkpoints. */
    struct config_mqtt mqtt;
    struct config_validation validation;
    struct config_topics topics;
    struct config_snapshot snapshot;
    struct config_wal wal;
    struct config_http http;
    struct config_limits limits;
    struct config_subscription *subs; /* nsubs >= 1, owned. */
    size_t nsubs;
    struct config_sensor *sensors; /* nsensors, owned. */
    size_t nsensors;
    struct config_task *tasks; /* ntasks, owned. */
    size_t ntasks;
};

/* ---- Lifecycle --------------------------------------------------------- */

/* Read and check the file at path (borrowed). Returns 0 and *out (returns
 * owned, free with config_free()); -EINVAL if the file has errors;
 * -ENOENT, -EACCES, -EFBIG (over CONFIG_MAX_FILE), ... if it cannot be
 * read; -ENOMEM. *diag returns owned text (free()) or NULL: one line per
 * error or warning, "path:line: error: ..." / "path:line: warning: ...",
 * sorted by line; warnings may accompany success. */
int config_load(struct config **out, const char *path, char **diag);

/* The same for text[0..len) (borrowed) in memory; name (borrowed) stands
 * for the file in messages and its directory anchors relative paths. */
int config_parse(struct config **out, const char *text, size_t len,
                 const char *name, char **diag);

/* Free a configuration (takes cfg); NULL is a no-op. */
void config_free(struct config *cfg);

/* ---- Operations -------------------------------------------------------- */

/* Write the effective configuration to f (borrowed) as INI text that
 * config_parse() reads back to the same values: every key with its value,
 * defaults included, keys that do not apply left out, secrets replaced by
 * a comment. For `weir check-config`. Returns 0 or -EIO. */
int config_print(const struct config *cfg, FILE *f);

/* The [sensor NAME] section for name (borrowed), or NULL. */
const struct config_sensor *config_sensor_find(const struct config *cfg,
                                               const char *name);

/* Candidates of a task: models x optimizers x learning rates x l2 (0 for
 * anomaly tasks). */
size_t config_task_candidates(const struct config_task *t);

#endif /* WEIR_INGEST_CONFIG_H */
