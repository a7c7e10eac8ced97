/* test_config.c -- the configuration schema: the shipped examples parse
 * and print back to themselves, documented defaults hold, and a table of
 * bad files each gives exactly one error, at the right line, saying why;
 * and [task] switch_z and clock_max_gap reach the learner and the task
 * through ingest/setup.h, the way the daemon builds them.
 *
 * Threads: single-threaded. */
#include "ingest/config.h"
#include "tests/harness.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ingest/setup.h"
#include "ingest/task.h"
#include "learn/learner.h"
#include "proto/codec.h"

/* ---- Helpers ----------------------------------------------------------- */

static int parse_str(const char *text, struct config **cfg, char **diag)
{
    return config_parse(cfg, text, strlen(text), "bad.ini", diag);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;

    for (const char *p = hay; hay && (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static char *print_str(const struct config *cfg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    ASSERT(f != NULL);
    ASSERT_EQ(config_print(cfg, f), 0);
    ASSERT_EQ(fclose(f), 0);
    return buf;
}

/* The first subscription every case needs (3 lines). */
#define P                                                                      \
    "[subscription s]\n"                                                       \
    "topic = sensors/{device}/{sensor}\n"                                      \
    "format = protobuf_reading\n"

/* ---- The examples ------------------------------------------------------ */

static void building_example_parses(void)
{
    struct config *c;
    char *diag;
    const struct config_task *t;

    ASSERT_EQ(config_load(&c, "examples/building.ini", &diag), 0);
    if (diag)
        fputs(diag, stderr);
    ASSERT(diag == NULL); /* not even a warning */
    ASSERT_EQ(c->nsubs, 2);
    ASSERT_STREQ(c->subs[0].filter, "sensors/+/+");
    ASSERT_STREQ(c->subs[1].filter, "sensors/+");
    ASSERT_EQ(c->subs[1].format, CONFIG_FORMAT_PROTOBUF_BATCH);
    ASSERT_EQ(c->nsensors, 5);
    ASSERT_NEAR(config_sensor_find(c, "co2")->max_rate_per_s, 20, 0);
    ASSERT(isinf(config_sensor_find(c, "light")->max_rate_per_s));
    ASSERT_EQ(c->ntasks, 2);
    t = &c->tasks[0];
    ASSERT_STREQ(t->name, "occupancy");
    ASSERT_EQ(t->kind, CONFIG_TASK_CLASSIFICATION);
    ASSERT_EQ(t->nfeatures, 6); /* over two lines */
    ASSERT_STREQ(t->features[4].name, "co2");
    ASSERT_EQ(t->features[4].lag, 1);
    ASSERT_EQ(t->nclasses, 2);
    ASSERT_STREQ(t->classes[1], "occupied");
    ASSERT_EQ(config_task_candidates(t), 1 * 3 * 3 * 2);
    t = &c->tasks[1];
    ASSERT_STREQ(t->target.name, "co2");
    ASSERT_EQ(t->target.horizon_ms, 15 * 60 * 1000);
    ASSERT_EQ(t->window_ms, 3600 * 1000);
    ASSERT_EQ(t->window_rows, 0);
    ASSERT_EQ(t->drift, CONFIG_DRIFT_PAGE_HINKLEY);
    ASSERT_STREQ(c->mqtt.client_id, "weir-building-a");
    config_free(c);
}

static void machine_example_parses(void)
{
    struct config *c;
    char *diag;

    ASSERT_EQ(config_load(&c, "examples/machine.ini", &diag), 0);
    /* The one warning: metrics exposed on the plant network, on purpose. */
    ASSERT_EQ(count(diag, "warning:"), 1);
    ASSERT(strstr(diag, "examples/machine.ini:"));
    ASSERT(strstr(diag, "reachable from other machines"));
    free(diag);
    ASSERT_EQ(c->mqtt.version, 5);
    ASSERT_EQ(c->mqtt.nuris, 2);
    ASSERT_EQ(c->mqtt.session_expiry_ms, 2 * 86400 * 1000LL);
    ASSERT(c->validation.reject_unknown);
    ASSERT_EQ(c->wal.sync, WAL_SYNC_ALWAYS);
    ASSERT_EQ(c->wal.segment_bytes, 16 << 20);
    ASSERT_EQ(c->tasks[0].kind, CONFIG_TASK_ANOMALY);
    ASSERT_EQ(config_task_candidates(&c->tasks[0]), 0);
    ASSERT_EQ(c->tasks[0].drift, CONFIG_DRIFT_NONE);
    ASSERT_NEAR(c->tasks[0].threshold, 0.5, 0);
    ASSERT_EQ(c->tasks[1].target.horizon_ms, 10 * 60 * 1000);
    ASSERT_STREQ(c->http.host, "10.0.0.17");
    ASSERT_EQ(c->http.port, 9107);
    /* Scores follow [topics] publish_predictions; the forecast task turns
     * its predictions off; anomaly events live under factory/ too. */
    ASSERT(c->topics.publish_predictions);
    ASSERT(c->tasks[0].predictions && !c->tasks[1].predictions);
    ASSERT_STREQ(c->topics.anomaly, "factory/weir/{task}/anomaly/{device}");
    config_free(c);
}

/* print(parse(x)) parses to a config that prints the same text. */
static void print_reads_back(void)
{
    static const char *const files[] = {"examples/building.ini",
                                        "examples/machine.ini"};

    for (size_t i = 0; i < 2; i++) {
        struct config *a;
        struct config *b;
        char *diag;
        char *ta;
        char *tb;

        ASSERT_EQ(config_load(&a, files[i], &diag), 0);
        free(diag);
        ta = print_str(a);
        ASSERT_EQ(config_parse(&b, ta, strlen(ta), files[i], &diag), 0);
        free(diag);
        tb = print_str(b);
        ASSERT_STREQ(ta, tb);
        /* Spot checks that the text carried the values. */
        ASSERT_EQ(a->ntasks, b->ntasks);
        ASSERT_EQ(a->tasks[1].target.horizon_ms, b->tasks[1].target.horizon_ms);
        ASSERT_EQ(a->wal.max_bytes, b->wal.max_bytes);
        free(ta);
        free(tb);
        config_free(a);
        config_free(b);
    }
}

/* The defaults config.h documents. */
static void documented_defaults(void)
{
    struct config *c;
    char *diag;

    ASSERT_EQ(parse_str(P, &c, &diag), 0);
    ASSERT(strstr(diag, "warning: no [task NAME]")); /* and nothing else */
    ASSERT_EQ(count(diag, "\n"), 1);
    free(diag);
    ASSERT_STREQ(c->state_dir, "/var/lib/weir");
    ASSERT_EQ(c->log_level, LOG_INFO);
    ASSERT_EQ(c->checkpoint_interval_ms, 60000);
    ASSERT_EQ(c->mqtt.nuris, 1);
    ASSERT_STREQ(c->mqtt.uris[0], "tcp://127.0.0.1:1883");
    ASSERT(strncmp(c->mqtt.client_id, "weir-", 5) == 0);
    ASSERT_EQ(c->mqtt.version, 4);
    ASSERT_EQ(c->mqtt.keepalive_ms, 30000);
    ASSERT_EQ(c->mqtt.qos, 1);
    ASSERT(!c->mqtt.clean_session);
    ASSERT(c->mqtt.username == NULL && c->mqtt.password == NULL);
    ASSERT_EQ(c->subs[0].qos, 1); /* inherited from [mqtt] */
    ASSERT_EQ(c->validation.max_future_ms, 5 * 60000);
    ASSERT_EQ(c->validation.max_past_ms, 7 * 86400000LL);
    ASSERT_EQ(c->validation.max_payload, 65536);
    ASSERT(!c->validation.reject_unknown);
    ASSERT_EQ(c->validation.dedup_window, 1024);
    ASSERT_EQ(c->validation.dedup_hold_ms, 600000);
    ASSERT_STREQ(c->topics.snapshot, "weir/model/{task}/snapshot");
    ASSERT_STREQ(c->topics.rejects, "weir/rejects/{reason}");
    ASSERT(!c->topics.publish_predictions && c->topics.publish_rejects);
    ASSERT_STREQ(c->topics.anomaly, "weir/anomaly/{task}/{device}");
    ASSERT_EQ(c->snapshot.min_interval_ms, 10000);
    ASSERT_EQ(c->snapshot.keep, 5);
    ASSERT_EQ(c->wal.sync, WAL_SYNC_INTERVAL);
    ASSERT_EQ(c->wal.sync_interval_ms, 1000);
    ASSERT_EQ(c->wal.segment_bytes, 64 << 20);
    ASSERT_EQ(c->wal.max_bytes, 1 << 30);
    ASSERT_EQ(c->wal.full_wait_ms, 100);
    ASSERT(c->http.enabled);
    ASSERT_STREQ(c->http.host, "127.0.0.1");
    ASSERT_EQ(c->http.port, 9107);
    ASSERT_EQ(c->http.max_request_bytes, 8192);
    ASSERT_EQ(c->limits.ring_slots, 65536);
    config_free(c);

    /* Task defaults, by kind. */
    ASSERT_EQ(parse_str(P "[task r]\nkind = regression\nfeatures = a\n"
                          "target = b\n[task c]\nkind = classification\n"
                          "features = a\ntarget = b\n[task p]\n"
                          "kind = regression\nfeatures = a\ntarget = b\n"
                          "drift = page_hinkley\n",
                        &c, &diag),
              0);
    ASSERT(diag == NULL);
    ASSERT_EQ(c->tasks[0].models[0], MODEL_LINEAR);
    ASSERT_EQ(c->tasks[1].models[0], MODEL_LOGISTIC);
    ASSERT_EQ(c->tasks[0].window_rows, 500);
    ASSERT_EQ(config_task_candidates(&c->tasks[0]), 18);
    ASSERT_NEAR(c->tasks[0].test_fraction, 0.1, 0);
    ASSERT_EQ(c->tasks[0].drift, CONFIG_DRIFT_ADWIN);
    ASSERT_NEAR(c->tasks[0].drift_delta, 0.002, 0);
    ASSERT_NEAR(c->tasks[2].drift_delta, 0.05, 0);
    ASSERT_NEAR(c->tasks[2].drift_threshold, 50, 0);
    ASSERT_EQ(c->tasks[0].feature_max_age_ms, 600000);
    ASSERT(!c->tasks[0].predictions); /* [topics] publish_predictions */
    /* switch_z: the learner's own default, which config.h documents as 3;
     * clock_max_gap: 60s, the task's TASK_CLOCK_MAX_GAP_MS. */
    {
        struct learner_config lc;
        learner_config_default(&lc, LEARNER_BINARY, 1, 2);
        for (size_t i = 0; i < 3; i++) {
            ASSERT_NEAR(c->tasks[i].switch_z, lc.switch_z, 0);
            ASSERT_NEAR(c->tasks[i].switch_z, 3, 0);
            ASSERT_EQ(c->tasks[i].clock_max_gap_ms, 60000);
            ASSERT_EQ(c->tasks[i].clock_max_gap_ms, TASK_CLOCK_MAX_GAP_MS);
        }
    }
    config_free(c);
}

/* [http] listen = host:0, [topics] anomaly, and a task's own predictions
 * switch (which otherwise follows [topics] publish_predictions, wherever
 * [topics] is in the file); all print back. */
static void any_port_anomaly_topic_task_predictions(void)
{
    static const char *const text =
        P "[task a]\nkind = anomaly\nfeatures = x\n"
          "[task b]\nkind = anomaly\nfeatures = x\npredictions = off\n"
          "[task c]\nkind = regression\nfeatures = x\ntarget = y\n"
          "predictions = on\n"
          "[http]\nlisten = 127.0.0.1:0\n"
          "[topics]\npublish_predictions = true\n"
          "anomaly = alerts/{task}/{device}\n";
    struct config *c, *d;
    char *diag, *ta, *tb;

    ASSERT_EQ(parse_str(text, &c, &diag), 0);
    ASSERT(diag == NULL);
    ASSERT(c->http.enabled);
    ASSERT_EQ(c->http.port, 0);
    ASSERT(c->tasks[0].predictions);  /* inherited: on */
    ASSERT(!c->tasks[1].predictions); /* its own: off */
    ASSERT(c->tasks[2].predictions);
    ASSERT_STREQ(c->topics.anomaly, "alerts/{task}/{device}");
    ta = print_str(c);
    ASSERT(strstr(ta, "listen = 127.0.0.1:0\n") != NULL);
    ASSERT(strstr(ta, "anomaly = alerts/{task}/{device}\n") != NULL);
    ASSERT_EQ(count(ta, "\npredictions = true\n"), 2);
    ASSERT_EQ(count(ta, "\npredictions = false\n"), 1);
    ASSERT_EQ(config_parse(&d, ta, strlen(ta), "bad.ini", &diag), 0);
    free(diag);
    tb = print_str(d);
    ASSERT_STREQ(ta, tb);
    ASSERT(!d->tasks[1].predictions && d->tasks[0].predictions);
    free(ta);
    free(tb);
    config_free(c);
    config_free(d);
    /* With [topics] off, a task may still turn its own on. */
    ASSERT_EQ(parse_str(P "[task a]\nkind = anomaly\nfeatures = x\n"
                          "predictions = yes\n[task b]\nkind = anomaly\n"
                          "features = x\n",
                        &c, &diag),
              0);
    ASSERT(c->tasks[0].predictions && !c->tasks[1].predictions);
    config_free(c);
}

/* ---- Bad files --------------------------------------------------------- */

struct bad {
    const char *text;
    int line;         /* 0: a file-level message without a line */
    const char *says; /* substring of the message */
};

#define T4 "[task t]\nkind = regression\nfeatures = a, b\ntarget = c\n"

static const struct bad bads[] = {
    /* Sections and syntax. */
    {P "[mqqt]\nuri = tcp://x:1\n", 4,
     "unknown section [mqqt] (did you mean [mqtt]?)"},
    {P "[mqtt x]\n", 4, "[mqtt] takes no name"},
    {P "[task]\n", 4, "[task] needs a name: [task NAME]"},
    {P "[mqtt]\nqos = 1\n[mqtt]\n", 6,
     "section [mqtt] appears twice "
     "(first at line 4)"},
    {P "[mqtt\nqos = 1\n", 4, "section header without ']'"},
    {P "[mqtt] junk\n", 4, "text after the section header"},
    {P "[task aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\n", 4,
     "section header longer than 49 characters"},
    {P "[task a/b]\n", 4, "a name is 1..64 bytes without '/'"},
    {"qos = 1\n" P, 1, "'qos' is outside any section"},
    {P "[mqtt]\nkeepalive 30s\n", 5, "expected 'key = value'"},
    {P "[mqtt]\nclient_id = "
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "\n",
     5, "line longer than 196 characters"},
    {P "[mqtt]\nqos = 1\n  keepalive = 30s\n", 6,
     "continues 'qos', which is not a list"},
    {P "[mqtt]\nkeepalve = 30s\n", 5,
     "unknown key 'keepalve' in [mqtt] (did you mean 'keepalive'?)"},
    {P "[mqtt]\nqos = 1\nqos = 2\n", 6,
     "'qos' is set twice in [mqtt] (first at line 5)"},
    {P "[task t]\nkind = anomaly\nfeatures = a\n[task t]\n", 7,
     "duplicate section [task t] (first at line 4)"},
    /* Types and ranges. */
    {P "[mqtt]\nkeepalive = soon\n", 5, "expected a duration such as"},
    {P "[mqtt]\nkeepalive = -5s\n", 5, "a duration cannot be negative"},
    {P "[mqtt]\nkeepalive = 100000s\n", 5, "must be between 0s and"},
    {P "[mqtt]\nclean_session = maybe\n", 5, "expected true or false"},
    {P "[mqtt]\nqos = 3\n", 5, "expected a whole number in [0, 2]"},
    {P "[mqtt]\nmax_inflight = 0\n", 5, "must be in [1, 65535]"},
    {P "[mqtt]\nversion = 4\n", 5, "expected one of 3.1.1, 5"},
    {P "[mqtt]\nuri = http://broker\n", 5, "expected tcp://"},
    {P "[mqtt]\nuri = tcp://broker:99999\n", 5, "bad port"},
    {P "[validation]\nmax_payload = 64KB\n", 5, "expected a size"},
    {P "[validation]\nmax_payload = 1MiB\n", 5,
     "must be between 16 and 65536 bytes"},
    {P "[validation]\ndedup_window = 100\n", 5, "multiple of 64"},
    {P "[validation]\nunknown_sensor = drop\n", 5,
     "expected one of accept, reject"},
    {P "[subscription b]\ntopic = s/{device}\nformat = xml\n", 6,
     "expected one of protobuf_reading, protobuf_batch, json, senml"},
    {P "[sensor co2]\nmin = 10\nmax = 5\n", 6,
     "[sensor co2] min (10) is larger than max (5)"},
    {P "[sensor co2]\nmax_rate = 0\n", 5, "must be in (0, "},
    {P "[sensor co2]\nmin = nan\n", 5, "expected a finite number"},
    {P "[http]\nlisten = localhost:9107\n", 5, "expected a numeric address"},
    {P "[http]\nlisten = 127.0.0.1:65536\n", 5, "127.0.0.1:0 for any free"},
    {P "[http]\nlisten = 127.0.0.1:\n", 5, "expected a numeric address"},
    {P "[limits]\nring_slots = 3000\n", 5, "power of two"},
    /* Tasks. */
    {P T4 "window = -5 rows\n", 8, "a window cannot be negative"},
    {P T4 "window = 500\n", 8, "needs a unit: '500 rows'"},
    {P T4 "test_fraction = 0.51\n", 8, "must be in [0, 0.5]"},
    {P T4 "test_fraction = -0.1\n", 8, "must be in [0, 0.5]"},
    {P "[task t]\nkind = regression\nfeatures = a, c\ntarget = c\n", 6,
     "the target 'c' is also a feature"},
    {P "[task t]\nkind = regression\nfeatures = a, a\ntarget = c\n", 6,
     "listed twice"},
    {P "[task t]\nkind = regression\nfeatures = a,,b\ntarget = c\n", 6,
     "empty list item"},
    {P "[task t]\nkind = regression\nfeatures = a@+5m\ntarget = c\n", 6,
     "a feature cannot look ahead"},
    {P "[task t]\nkind = regression\nfeatures = a@-17\ntarget = c\n", 6,
     "a lag is @-k with k from 1 to 16"},
    {P "[task t]\nkind = regression\nfeatures = a\ntarget = c@-1\n", 7,
     "target cannot be lagged"},
    {P "[task t]\nkind = regression\nfeatures = a\ntarget = c@+15\n", 7,
     "a horizon is @+ and a positive duration with one unit"},
    {P "[task t]\nkind = regression\nfeatures = a\n", 4,
     "[task t] needs 'target'"},
    {P "[task t]\nfeatures = a\ntarget = b\n", 4, "[task t] needs 'kind'"},
    {P "[task t]\nkind = regression\ntarget = b\n", 4,
     "[task t] needs 'features'"},
    {P "[task t]\nkind = learning\n", 5,
     "expected one of regression, classification, anomaly"},
    {P T4 "models = logistic\n", 8, "logistic cannot do regression"},
    {P "[task t]\nkind = classification\nfeatures = a\ntarget = c\n"
       "classes = x, y, z\nmodels = logistic\n",
     9, "logistic is binary, but there are 3 classes"},
    {P "[task t]\nkind = classification\nfeatures = a\ntarget = c\n"
       "classes = x\n",
     8, "needs at least two"},
    {P T4 "classes = x, y\n", 8, "applies only to classification tasks"},
    {P T4 "learning_rates = 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12\n", 4,
     "72 candidates"},
    {P T4 "learning_rates = 0\n", 8, "expected numbers in (0, "},
    {P T4 "drift_threshold = 10\n", 8, "applies only to drift = page_hinkley"},
    {P T4 "drift = none\ndrift_delta = 0.1\n", 9,
     "applies only to supervised tasks with a drift detector"},
    {P T4 "drift_delta = 2\n", 8, "ADWIN's confidence must be in (0, 1)"},
    {P T4 "max_pending = 10\n", 8, "applies only to forecasting targets"},
    {P T4 "switch_z = 11\n", 8, "must be in [0, 10]"},
    {P T4 "switch_z = -0.5\n", 8, "must be in [0, 10]"},
    {P T4 "switch_z = high\n", 8, "expected a finite number"},
    {P T4 "switch_z = inf\n", 8, "expected a finite number"},
    {P T4 "clock_max_gap = 500ms\n", 8, "must be between 1s and 1d"},
    {P T4 "clock_max_gap = 2d\n", 8, "must be between 1s and 1d"},
    {P T4 "clock_max_gap = -1m\n", 8, "a duration cannot be negative"},
    {P T4 "clock_max_gap = 3 rows\n", 8, "expected a duration such as"},
    {P "[task t]\nkind = anomaly\nfeatures = a\nswitch_z = 2\n", 7,
     "[task t] switch_z does not apply to anomaly tasks"},
    {P "[task t]\nkind = anomaly\nfeatures = a\nclock_max_gap = 5m\n", 7,
     "[task t] clock_max_gap does not apply to anomaly tasks"},
    {P "[task t]\nkind = anomaly\nfeatures = a\nmodels = linear\n", 7,
     "does not apply to anomaly tasks"},
    {P "[task t]\nkind = anomaly\nfeatures = a\ntarget = b\n", 7,
     "does not apply to anomaly tasks"},
    {P "[task t]\nkind = anomaly\nfeatures = a@-1\n", 6,
     "an anomaly task watches sensors"},
    {P "[task t]\nkind = anomaly\nfeatures = a\npredictions = maybe\n", 7,
     "expected true or false"},
    {P "[task t]\nkind = regression\nfeatures = a\ntarget = c\n"
       "threshold = 0.9\n",
     8, "applies only to anomaly tasks"},
    {P "[validation]\nunknown_sensor = reject\n[sensor a]\n[sensor c]\n" T4, 10,
     "sensor 'b' has no [sensor b] section"},
    /* Topics. */
    {"[subscription s]\ntopic = sensors/{devcie}/{sensor}\nformat = json\n", 2,
     "unknown placeholder {devcie}"},
    {"[subscription s]\ntopic = sensors/dev-{device}\nformat = json\n", 2,
     "whole"},
    {"[subscription s]\ntopic = a/#/b\nformat = json\n", 2, "'#'"},
    {"[subscription s]\ntopic = s/{device}/{sensor}\n"
     "format = protobuf_batch\n",
     2, "{sensor} in the topic is not used"},
    {"[subscription s]\nformat = json\n", 1, "needs 'topic'"},
    {"[subscription s]\ntopic = s/+\n", 1, "needs 'format'"},
    {P "[subscription t]\ntopic = sensors/+/temp\nformat = json\n", 5,
     "overlaps [subscription s] (line 1)"},
    {P "[subscription t]\ntopic = sensors/#\nformat = json\n", 5,
     "overlaps [subscription s]"},
    {P "[subscription t]\ntopic = x/{device}\nformat = json\n"
       "share_group = g\n",
     7, "applies only to version = 5"},
    {"[subscription s]\ntopic = weir/+\nformat = json\n[topics]\n"
     "status = weir/status\n",
     5, "weir would read its own output"},
    {P "[topics]\nsnapshot = weir/model/snapshot\n", 5, "needs {task}"},
    {P "[topics]\nstatus = weir/+/status\n", 5,
     "an output topic cannot contain + or #"},
    {P "[topics]\nstatus = weir/{task}/x\n", 5, "unknown placeholder {task}"},
    {P "[task t]\nkind = anomaly\nfeatures = a\n[topics]\n"
       "metrics = weir/model/{task}/snapshot\n",
     8, "metrics and snapshot can both publish to 'weir/model/t/snapshot'"},
    {P "[task rejects]\nkind = anomaly\nfeatures = a\n[topics]\n"
       "snapshot = weir/{task}/nan\n",
     8, "rejects and snapshot can both publish to 'weir/rejects/nan'"},
    {"[topics]\nstatus = s/x\n", 0, "no [subscription NAME] section"},
    {P "[topics]\nanomaly = weir/anomaly/{task}\n", 5, "needs {device}"},
    {P "[task t]\nkind = anomaly\nfeatures = a\n[topics]\n"
       "anomaly = weir/pred/{task}/{device}\n",
     8, "anomaly and predictions can both publish to 'weir/pred/t/+'"},
    {"[subscription s]\ntopic = alerts/{device}/{sensor}\n"
     "format = json\n[task t]\nkind = anomaly\nfeatures = a\n"
     "[topics]\nanomaly = alerts/{task}/{device}\n",
     8, "weir would read its own output"},
    /* MQTT and cross-section rules. */
    {P "[mqtt]\nsession_expiry = 1h\n", 5, "applies only to version = 5"},
    {P "[mqtt]\nca_file = /dev/null\n", 5,
     "applies only to ssl://, mqtts:// or wss:// URIs"},
    {P "[mqtt]\nuri = ssl://b:8883\nca_file = /nonexistent/ca.pem\n", 6,
     "cannot read /nonexistent/ca.pem"},
    {P "[mqtt]\nusername = u\npassword = p\npassword_file = /dev/null\n", 7,
     "password and password_file are both set"},
    {P "[mqtt]\npassword = p\n", 5, "only with a username"},
    {P "[mqtt]\nretry_min = 2m\nretry_max = 1m\n", 5,
     "retry_min is larger than retry_max"},
    {P "[mqtt]\nkeepalive = 1500ms\n", 5, "whole seconds"},
    {P "[wal]\nsegment_size = 64MiB\nmax_size = 100MiB\n", 6,
     "at least two segments"},
    {P "[wal]\nfsync = always\nfsync_interval = 1s\n", 6,
     "applies only to fsync = interval"},
    {P "[mqtt]\nkeepalive = 10s\n[wal]\nfull_wait = 6s\n", 7,
     "at most half of [mqtt] keepalive"},
    {P "[http]\nlisten = off\ntimeout = 1s\n", 6,
     "does not apply to listen = off"},
    {NULL, 0, NULL}};

static void bad_configs_name_file_and_line(void)
{
    int failures = 0;

    for (const struct bad *b = bads; b->text; b++) {
        struct config *c = NULL;
        char *diag = NULL;
        char want[64];
        int rc = parse_str(b->text, &c, &diag);
        const char *at;
        bool ok;

        if (b->line > 0)
            snprintf(want, sizeof(want), "bad.ini:%d: error: ", b->line);
        else
            snprintf(want, sizeof(want), "bad.ini: error: ");
        at = diag ? strstr(diag, want) : NULL;
        ok = rc == -EINVAL && c == NULL && at != NULL &&
             count(diag, "error:") == 1;
        if (ok) { /* the reason is on that same line */
            const char *nl = strchr(at, '\n');
            const char *why = strstr(at, b->says);
            ok = why != NULL && nl != NULL && why < nl;
        }
        if (!ok) {
            fprintf(stderr, "case %zu: want \"%s...%s\", rc %d, got:\n%s\n",
                    (size_t)(b - bads), want, b->says, rc,
                    diag ? diag : "(nothing)");
            failures++;
        }
        free(diag);
        config_free(c);
    }
    ASSERT_EQ(failures, 0);
}

/* A NUL byte cannot be in the table's C strings. */
static void nul_byte_is_an_error(void)
{
    static const char text[] = P "[mqtt]\nqos = 1\0\n";
    struct config *c;
    char *diag;

    ASSERT_EQ(config_parse(&c, text, sizeof(text) - 1, "bad.ini", &diag),
              -EINVAL);
    ASSERT(strstr(diag, "bad.ini:5: error: NUL byte"));
    free(diag);
}

/* Every error of a file at once, sorted by line, cross-key checks too. */
static void all_errors_sorted_by_line(void)
{
    const char *text = P                 /* 1-3 */
        "[sensor x]\nmin = 5\nmax = 1\n" /* 4-6: min > max (6) */
        "[mqtt]\nqos = 7\n"              /* 7-8: range (8) */
        "[task t]\nkind = regression\n"  /* 9-10 */
        "features = a\n"                 /* 11 */
        "[bogus]\n";                     /* 12: unknown; t has no
                                            target (9) */
    struct config *c;
    char *diag;
    const char *l6;
    const char *l8;
    const char *l9;
    const char *l12;

    ASSERT_EQ(parse_str(text, &c, &diag), -EINVAL);
    ASSERT_EQ(count(diag, "error:"), 4);
    l6 = strstr(diag, "bad.ini:6: error:");
    l8 = strstr(diag, "bad.ini:8: error:");
    l9 = strstr(diag, "bad.ini:9: error:");
    l12 = strstr(diag, "bad.ini:12: error:");
    ASSERT(l6 && l8 && l9 && l12);
    ASSERT(diag == l6 && l6 < l8 && l8 < l9 && l9 < l12);
    free(diag);
}

static void warnings_do_not_fail(void)
{
    struct config *c;
    char *diag;

    ASSERT_EQ(parse_str(P "[mqtt]\nclean_session = true\n"
                          "[task t]\nkind = anomaly\nfeatures = a\n",
                        &c, &diag),
              0);
    ASSERT(strstr(diag, "bad.ini:5: warning: [mqtt] clean_session = true"));
    ASSERT_EQ(count(diag, "warning:"), 1);
    ASSERT(c->mqtt.clean_session);
    free(diag);
    config_free(c);
}

static void lists_continue_on_indented_lines(void)
{
    struct config *c;
    char *diag;

    ASSERT_EQ(parse_str(P "[task t]\nkind = regression\n"
                          "features = a,\n"
                          "  b, b@-2,\n"
                          "; a comment between\n"
                          "\tc\n"
                          "target = y\n"
                          "learning_rates = 0.3,\n    0.03\n",
                        &c, &diag),
              0);
    free(diag);
    ASSERT_EQ(c->tasks[0].nfeatures, 4);
    ASSERT_STREQ(c->tasks[0].features[3].name, "c");
    ASSERT_EQ(c->tasks[0].features[2].lag, 2);
    ASSERT_EQ(c->tasks[0].nlearning_rates, 2);
    ASSERT_NEAR(c->tasks[0].learning_rates[1], 0.03, 0);
    config_free(c);
}

static void values_and_units(void)
{
    struct config *c;
    char *diag;

    ASSERT_EQ(parse_str(P "[mqtt]\nversion = 5\nkeepalive = 1m30s\n"
                          "session_expiry = 3600\n"
                          "[subscription t]\ntopic = other/{device}\n"
                          "format = senml\nshare_group = grp\nqos = 2\n"
                          "[wal]\nsegment_size = 8M\nmax_size = 1G\n"
                          "fsync = none\nfull_wait = 250ms\n"
                          "[http]\nlisten = [::1]:19107\n"
                          "[validation]\nmax_payload = 4096\n"
                          "[task t]\nkind = regression\nfeatures = a\n"
                          "target = b@+1h\nwindow = 90m\n"
                          "switch_z = 0\nclock_max_gap = 1h30m\n"
                          "[task u]\nkind = classification\n"
                          "features = a\ntarget = b\nswitch_z = 2.5\n"
                          "clock_max_gap = 1s\n",
                        &c, &diag),
              0);
    free(diag);
    ASSERT_NEAR(c->tasks[0].switch_z, 0, 0); /* 0: off, not "unset" */
    ASSERT_EQ(c->tasks[0].clock_max_gap_ms, 90 * 60000);
    ASSERT_NEAR(c->tasks[1].switch_z, 2.5, 0);
    ASSERT_EQ(c->tasks[1].clock_max_gap_ms, 1000);
    {
        char *text = print_str(c);
        struct config *d;
        ASSERT(strstr(text, "\nswitch_z = 0\n"));
        ASSERT(strstr(text, "\nclock_max_gap = 1h30m\n"));
        ASSERT(strstr(text, "\nswitch_z = 2.5\n"));
        ASSERT(strstr(text, "\nclock_max_gap = 1s\n"));
        ASSERT_EQ(config_parse(&d, text, strlen(text), "p.ini", &diag), 0);
        free(diag);
        ASSERT_NEAR(d->tasks[0].switch_z, 0, 0);
        ASSERT_EQ(d->tasks[0].clock_max_gap_ms, 90 * 60000);
        ASSERT_NEAR(d->tasks[1].switch_z, 2.5, 0);
        config_free(d);
        free(text);
    }
    ASSERT_EQ(c->mqtt.keepalive_ms, 90000);
    ASSERT_EQ(c->mqtt.session_expiry_ms, 3600000);
    ASSERT_STREQ(c->subs[1].filter, "$share/grp/other/+");
    ASSERT_EQ(c->subs[1].qos, 2);
    ASSERT(c->subs[1].has_device && !c->subs[1].has_sensor);
    ASSERT_EQ(c->wal.segment_bytes, 8 << 20);
    ASSERT_EQ(c->wal.max_bytes, 1 << 30);
    ASSERT_EQ(c->wal.sync, WAL_SYNC_NONE);
    ASSERT_EQ(c->wal.full_wait_ms, 250);
    ASSERT_STREQ(c->http.host, "::1");
    ASSERT_EQ(c->http.port, 19107);
    ASSERT_EQ(c->validation.max_payload, 4096);
    ASSERT_EQ(c->tasks[0].target.horizon_ms, 3600000);
    ASSERT_EQ(c->tasks[0].window_ms, 90 * 60000);
    config_free(c);
}

/* ---- The task keys reach the task -------------------------------------- */

/* A core built from configuration text by ingest/setup.h, as the daemon
 * and `weir replay` build theirs, fed protobuf batches on
 * sensors/{device}. */
struct core {
    struct config *cfg;
    struct setup_core sc;
    uint64_t lsn;
};

#define CORE_SUB                                                               \
    "[subscription s]\ntopic = sensors/{device}\n"                             \
    "format = protobuf_batch\n[http]\nlisten = off\n"

static void core_emit(void *ctx, const struct publish_msg *m)
{
    (void)ctx;
    (void)m;
}

static void core_open(struct core *c, const char *text)
{
    char *diag = NULL;
    char err[256] = "";

    memset(c, 0, sizeof(*c));
    ASSERT_EQ(parse_str(text, &c->cfg, &diag), 0);
    free(diag);
    if (setup_core_open(&c->sc, c->cfg, false, NULL, core_emit, c, err,
                        sizeof(err)) != 0) {
        fprintf(stderr, "setup_core_open: %s\n", err);
        ASSERT(0);
    }
}

static void core_close(struct core *c)
{
    setup_core_close(&c->sc);
    config_free(c->cfg);
}

/* One message of device dev: names[i] = values[i] (n of them, in this
 * order) sampled at ts_ms, received at recv_ms. */
static void core_send(struct core *c, const char *dev, int64_t ts_ms,
                      int64_t recv_ms, const char *const *names,
                      const double *values, size_t n)
{
    struct reading recs[DECODER_MAX_RECORDS];
    struct codec_msg m;
    struct decoder_input in;
    enum reject_reason why;
    uint8_t buf[512];
    char topic[80];
    size_t len;
    size_t nrec;

    memset(&m, 0, sizeof(m));
    snprintf(m.device, sizeof(m.device), "%s", dev);
    m.has_seq = m.has_ts = true;
    m.seq = ++c->lsn;
    m.ts_ms = ts_ms;
    for (size_t i = 0; i < n; i++) {
        snprintf(m.m[i].name, sizeof(m.m[i].name), "%s", names[i]);
        m.m[i].value = values[i];
        m.m[i].has_value = true;
    }
    m.n = n;
    ASSERT((len = codec_encode_batch(&m, buf, sizeof(buf))) > 0);
    snprintf(topic, sizeof(topic), "sensors/%s", dev);
    in = (struct decoder_input){.topic = topic,
                                .topic_len = strlen(topic),
                                .payload = buf,
                                .len = len,
                                .qos = 1,
                                .recv_ms = recv_ms,
                                .lsn = c->lsn};
    nrec = decoder_decode(c->sc.decoder, &in, recs, &why);
    ASSERT_EQ(why, REJECT_NONE);
    ASSERT_EQ(pipeline_run(c->sc.pipeline, recs, nrec), nrec);
}

static double unit_rand(uint64_t *st)
{
    return (double)(test_rand(st) >> 11) / 9007199254740992.0;
}

/* Two near-identical candidates (plain SGD, and the same with a little
 * L2) on a stationary stream with 2 % label noise. With switch_z = 0 the
 * margin alone decides, and they trade the crown on noise (as in
 * test_learner's near_identical_candidates_do_not_flap); with the
 * default paired test the champion stays. So the configured value, and
 * the default when the key is left out, reach the learner. */
static void switch_z_reaches_the_learner(void)
{
    static const char *const names[] = {"a", "b", "y"};
    static const char *const keys[] = {"switch_z = 0\n", ""};
    uint64_t changes[2];

    for (int k = 0; k < 2; k++) {
        char text[1024];
        struct core c;
        struct learner_stats s;
        const struct learner *l;
        uint64_t st = test_seed();
        int64_t t0 = 1700000000000LL;

        snprintf(text, sizeof(text),
                 CORE_SUB "[task t]\nkind = classification\n"
                          "features = a, b\ntarget = y\nwindow = 500 rows\n"
                          "models = logistic\noptimizers = sgd\n"
                          "learning_rates = 0.1\nl2 = 0, 0.001\n"
                          "test_fraction = 0\ndrift = none\n%s",
                 keys[k]);
        core_open(&c, text);
        ASSERT_NEAR(c.cfg->tasks[0].switch_z, k == 0 ? 0 : 3, 0);
        l = task_learner(pipeline_task(c.sc.pipeline, 0));
        ASSERT(l != NULL && learner_candidates(l) == 2);
        changes[k] = 0;
        for (int64_t i = 0; i < 500 * 81; i++) {
            double v[3];
            v[0] = 2 * unit_rand(&st) - 1;
            v[1] = 2 * unit_rand(&st) - 1;
            v[2] = (v[0] > 0) != (unit_rand(&st) < 0.02);
            core_send(&c, "d0", t0 + i * 1000, t0 + i * 1000, names, v, 3);
            if (i == 499) { /* after the first pick */
                learner_stats(l, &s);
                changes[k] = s.champion_changes;
            }
        }
        learner_stats(l, &s);
        ASSERT_EQ(s.rows, 500 * 81);
        ASSERT_EQ(s.windows, 81);
        changes[k] = s.champion_changes - changes[k];
        core_close(&c);
    }
    fprintf(stderr, "champion changes: switch_z = 0: %llu, default: %llu\n",
            (unsigned long long)changes[0], (unsigned long long)changes[1]);
    ASSERT(changes[0] >= 4); /* the margin alone flaps */
    ASSERT(changes[1] <= 1); /* the paired test does not */
}

/* The ends of the task ranges the configuration accepts are accepted by
 * the core too (a value check-config passes must not stop the daemon at
 * start-up with "learner refused the configuration"). */
static void range_ends_build_a_core(void)
{
    static const char *const keys[] = {
        "test_fraction = 0\nswitch_z = 0\nclock_max_gap = 1s\n",
        "test_fraction = 0.5\nswitch_z = 10\nclock_max_gap = 1d\n",
    };

    for (size_t k = 0; k < 2; k++) {
        char text[512];
        struct core c;

        snprintf(text, sizeof(text),
                 CORE_SUB "[task t]\nkind = classification\nfeatures = a\n"
                          "target = y\n%s",
                 keys[k]);
        core_open(&c, text); /* asserts that setup_core_open() succeeds */
        ASSERT(task_learner(pipeline_task(c.sc.pipeline, 0)) != NULL);
        core_close(&c);
    }
}

/* After ten minutes in which nothing reaches weir, a message of another
 * device moves a task's data clock by clock_max_gap: the default 60s, or
 * the configured 5m (ingest/task.h, "Time"). */
static void clock_max_gap_reaches_the_task(void)
{
    static const char *const task_names[] = {"a", "y"};
    static const char *const other[] = {"z"};
    static const char *const keys[] = {"", "clock_max_gap = 5m\n"};
    static const int64_t gap[] = {60000, 300000};
    const double v[2] = {1, 2};
    const int64_t t0 = 1700000000000LL;

    for (int k = 0; k < 2; k++) {
        char text[512];
        struct core c;
        const struct task *t;

        snprintf(text, sizeof(text),
                 CORE_SUB "[task t]\nkind = regression\nfeatures = a\n"
                          "target = y\n%s",
                 keys[k]);
        core_open(&c, text);
        ASSERT_EQ(c.cfg->tasks[0].clock_max_gap_ms, gap[k]);
        t = pipeline_task(c.sc.pipeline, 0);
        core_send(&c, "d0", t0, t0, task_names, v, 2);
        ASSERT_EQ(task_data_clock(t), t0);
        core_send(&c, "d1", t0 + 600000, t0 + 600000, other, v, 1);
        ASSERT_EQ(task_data_clock(t), t0 + gap[k]);
        core_close(&c);
    }
}

/* Relative paths are relative to the file; unreadable files are named. */
static void load_resolves_paths_and_reports_io(void)
{
    char path[512];
    char ca[512];
    char big[512];
    struct config *c;
    char *diag;
    FILE *f;

    snprintf(ca, sizeof(ca), "%s/ca.pem", test_tmpdir());
    f = fopen(ca, "w");
    ASSERT(f != NULL);
    fputs("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/weir.ini", test_tmpdir());
    f = fopen(path, "w");
    ASSERT(f != NULL);
    fputs(P "[mqtt]\nuri = mqtts://broker:8883\nca_file = ca.pem\n"
            "username = u\npassword = secret\n"
            "[task t]\nkind = anomaly\nfeatures = a\n",
          f);
    fclose(f);
    ASSERT_EQ(chmod(path, 0600), 0);
    ASSERT_EQ(config_load(&c, path, &diag), 0);
    ASSERT(diag == NULL);
    ASSERT_STREQ(c->mqtt.ca_file, ca);
    {
        char *text = print_str(c); /* the secret is not printed */
        ASSERT(strstr(text, "secret") == NULL);
        ASSERT(strstr(text, "# password = (set, not shown)"));
        free(text);
    }
    config_free(c);
    ASSERT_EQ(chmod(path, 0644), 0); /* a password anyone can read */
    ASSERT_EQ(config_load(&c, path, &diag), 0);
    ASSERT(strstr(diag, "weir.ini:8: warning: [mqtt] password in a file "
                        "anyone can read"));
    free(diag);
    config_free(c);

    ASSERT_EQ(config_load(&c, "/nonexistent/weir.ini", &diag), -ENOENT);
    ASSERT(strstr(diag, "/nonexistent/weir.ini: error: No such file"));
    free(diag);
    ASSERT_EQ(config_load(&c, test_tmpdir(), &diag), -EINVAL);
    ASSERT(strstr(diag, "not a regular file"));
    free(diag);
    snprintf(big, sizeof(big), "%s/big.ini", test_tmpdir());
    f = fopen(big, "w");
    ASSERT(f != NULL);
    for (int i = 0; i < 40000; i++)
        fputs("; a comment line of some length\n", f);
    fclose(f);
    ASSERT_EQ(config_load(&c, big, &diag), -EFBIG);
    ASSERT(strstr(diag, "larger than 1 MiB"));
    free(diag);
}

/* ---- TLS files --------------------------------------------------------- */

/* Write text to dir/name with the given mode. */
static void put_file(const char *name, const char *text, mode_t mode)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", test_tmpdir(), name);
    ASSERT((f = fopen(path, "w")) != NULL);
    fputs(text, f);
    ASSERT_EQ(fclose(f), 0);
    ASSERT_EQ(chmod(path, mode), 0);
}

#define CERT "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
#define KEY "-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n"

/* Parse P + [mqtt] lines as tmpdir/t.ini (relative paths resolve there);
 * want_line 0: must parse with no message; else exactly one message (an
 * error, or a warning if warn) at line want_line that says says. */
static bool tls_case(const char *mqtt, int want_line, bool warn,
                     const char *says)
{
    char name[512];
    char text[1024];
    char want[600];
    struct config *c = NULL;
    char *diag = NULL;
    int rc;
    bool ok;

    snprintf(name, sizeof(name), "%s/t.ini", test_tmpdir());
    snprintf(text, sizeof(text),
             P "[mqtt]\n%s[task t]\nkind = anomaly\nfeatures = a\n", mqtt);
    rc = config_parse(&c, text, strlen(text), name, &diag);
    snprintf(want, sizeof(want), "t.ini:%d: %s: ", want_line,
             warn ? "warning" : "error");
    if (want_line == 0)
        ok = rc == 0 && diag == NULL;
    else
        ok = (warn ? rc == 0 : rc == -EINVAL) && diag != NULL &&
             strstr(diag, want) != NULL && strstr(diag, says) != NULL &&
             count(diag, "\n") == 1;
    if (!ok)
        fprintf(stderr, "case:\n%swant %s%s; rc %d, got:\n%s\n", mqtt,
                want_line ? want : "no message", want_line ? says : "", rc,
                diag ? diag : "(nothing)");
    free(diag);
    config_free(c);
    return ok;
}

/* ca_file, cert_file and key_file are checked when the configuration is:
 * PEM of the right kind, a key for the certificate, no passphrase, a CA
 * directory that OpenSSL can use; and one kind of URI. */
static void tls_files_are_checked(void)
{
    char dir[512];
    int bad = 0;

    put_file("ca.pem", CERT CERT, 0644);
    put_file("cert.pem", CERT, 0644);
    put_file("key.pem", KEY, 0600);
    put_file("open.key", KEY, 0644);
    put_file("both.pem", CERT KEY, 0600);
    put_file("csr.pem", "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n", 0644);
    put_file("pk8.key", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n", 0600);
    put_file("old.key",
             "-----BEGIN EC PRIVATE KEY-----\n"
             "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n",
             0600);
    put_file("ca.der", "\x30\x82\x01\x0a\x02\x82", 0644);
    snprintf(dir, sizeof(dir), "%s/empty", test_tmpdir());
    ASSERT_EQ(mkdir(dir, 0755), 0);
    snprintf(dir, sizeof(dir), "%s/hashed", test_tmpdir());
    ASSERT_EQ(mkdir(dir, 0755), 0);
    put_file("hashed/1a2b3c4d.0", CERT, 0644);

    /* Lines: 1-3 P, 4 [mqtt], 5 uri, 6.. the rest. */
#define U "uri = ssl://broker:8883\n"
    bad += !tls_case(U "ca_file = ca.pem\ncert_file = cert.pem\n"
                       "key_file = key.pem\n",
                     0, false, NULL);
    bad += !tls_case(U "cert_file = both.pem\n", 0, false, NULL);
    bad += !tls_case(U "ca_file = hashed\n", 0, false, NULL);
    bad +=
        !tls_case("uri = mqtts://a:8883, wss://b:443/mqtt\n", 0, false, NULL);
    bad += !tls_case(U "cert_file = cert.pem\n", 6, false,
                     "cert_file without key_file, and");
    bad += !tls_case(U "key_file = key.pem\n", 6, false,
                     "key_file without cert_file");
    bad +=
        !tls_case(U "ca_file = ca.der\n", 6, false, "no PEM certificate in it");
    bad += !tls_case(U "ca_file = key.pem\n", 6, false,
                     "no PEM certificate in it");
    bad += !tls_case(U "cert_file = csr.pem\nkey_file = key.pem\n", 6, false,
                     "no PEM certificate in it");
    bad += !tls_case(U "cert_file = cert.pem\nkey_file = cert.pem\n", 7, false,
                     "no PEM private key in it");
    bad += !tls_case(U "cert_file = cert.pem\nkey_file = pk8.key\n", 7, false,
                     "encrypted");
    bad += !tls_case(U "cert_file = cert.pem\nkey_file = old.key\n", 7, false,
                     "encrypted");
    bad += !tls_case(U "ca_file = empty\n", 6, false, "openssl rehash");
    bad += !tls_case(U "cert_file = hashed\nkey_file = key.pem\n", 6, false,
                     "not a regular file");
    bad += !tls_case("uri = ssl://a:8883, tcp://b:1883\n", 5, false,
                     "TLS and plain URIs in one list");
    bad += !tls_case(U "cert_file = cert.pem\nkey_file = open.key\n", 7, true,
                     "can be read by anyone");
    bad += !tls_case(U "ca_file = nothere.pem\n", 6, false, "cannot read");
#undef U
    ASSERT_EQ(bad, 0);
}

/* Mangled versions of the building example: never a crash or a leak, and
 * an error always comes with a message. */
static void mangled_files_are_refused_cleanly(void)
{
    struct config *c;
    char *diag;
    char *orig;
    size_t len;
    uint64_t seed = test_seed();
    FILE *f = fopen("examples/building.ini", "rb");

    ASSERT(f != NULL);
    orig = malloc(1 << 16);
    len = fread(orig, 1, 1 << 16, f);
    fclose(f);
    for (int iter = 0; iter < 1500; iter++) {
        char *m = malloc(len);
        size_t mlen = len;
        memcpy(m, orig, len);
        for (int k = 0; k < 1 + (int)(test_rand(&seed) % 4); k++) {
            size_t at = (size_t)(test_rand(&seed) % mlen);
            uint64_t r = test_rand(&seed);
            if (r % 3 == 0)
                m[at] = (char)(r >> 8); /* any byte, NUL included */
            else if (r % 3 == 1)
                m[at] = "=[]\n ,;@#{}+-0"[(r >> 8) % 15];
            else if (mlen > 1) { /* delete a stretch */
                size_t n = (size_t)((r >> 8) % 40);
                n = n > mlen - at ? mlen - at : n;
                memmove(m + at, m + at + n, mlen - at - n);
                mlen -= n;
            }
        }
        int rc = config_parse(&c, m, mlen, "m.ini", &diag);
        ASSERT(rc == 0 || rc == -EINVAL);
        ASSERT(rc == 0 || (diag != NULL && strstr(diag, "error:")));
        if (rc == 0)
            config_free(c);
        free(diag);
        free(m);
    }
    free(orig);
}

static const struct test tests[] = {
    {"building_example_parses", building_example_parses},
    {"machine_example_parses", machine_example_parses},
    {"print_reads_back", print_reads_back},
    {"documented_defaults", documented_defaults},
    {"any_port_anomaly_topic_task_predictions",
     any_port_anomaly_topic_task_predictions},
    {"bad_configs_name_file_and_line", bad_configs_name_file_and_line},
    {"nul_byte_is_an_error", nul_byte_is_an_error},
    {"all_errors_sorted_by_line", all_errors_sorted_by_line},
    {"warnings_do_not_fail", warnings_do_not_fail},
    {"lists_continue_on_indented_lines", lists_continue_on_indented_lines},
    {"values_and_units", values_and_units},
    {"switch_z_reaches_the_learner", switch_z_reaches_the_learner},
    {"clock_max_gap_reaches_the_task", clock_max_gap_reaches_the_task},
    {"range_ends_build_a_core", range_ends_build_a_core},
    {"load_resolves_paths_and_reports_io", load_resolves_paths_and_reports_io},
    {"tls_files_are_checked", tls_files_are_checked},
    {"mangled_files_are_refused_cleanly", mangled_files_are_refused_cleanly},
    {NULL, NULL}};

int main(int argc, char **argv)
{
    return test_main(argc, argv, tests);
}
