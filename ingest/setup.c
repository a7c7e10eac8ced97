/* setup.c -- configuration -> name tables, decoder, pipeline (see setup.h).
 *
 * Mapping notes. A classification task with more than two classes is
 * multiclass (softmax), otherwise binary. The candidate grid is the cross
 * product models x optimizers x learning rates x l2 in the configuration's
 * order, each candidate named by the learner. The test-stream salt is a
 * hash of the client id and the task name: fixed for a deployment (so the
 * test stream is the same rows across restarts and in a replay with the
 * same configuration), different between deployments.
 *
 * Threads: the calling thread only. */
#include "ingest/setup.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/replay.h"
#include "ingest/task.h"

/* FNV-1a, for the test salt. */
static uint64_t fnv(uint64_t h, const char *s)
{
    for (; s != NULL && *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

static enum decoder_format format_of(enum config_format f)
{
    switch (f) {
    case CONFIG_FORMAT_PROTOBUF_READING:
        return DECODER_PB_READING;
    case CONFIG_FORMAT_PROTOBUF_BATCH:
        return DECODER_PB_BATCH;
    case CONFIG_FORMAT_JSON:
        return DECODER_JSON;
    case CONFIG_FORMAT_SENML:
        return DECODER_SENML;
    }
    return DECODER_AUTO;
}

static int make_decoder(struct setup_core *c, const struct config *cfg,
                        bool extra_csv, char *err, size_t errlen)
{
    struct decoder_sub *subs = calloc(cfg->nsubs + 1, sizeof(*subs));
    size_t n = 0;
    size_t i;
    int rc = 0;

    if (subs == NULL)
        return -ENOMEM;
    if (extra_csv) {
        topic_template_parse(REPLAY_CSV_TEMPLATE, &subs[0].tpl, NULL, 0);
        subs[n++].format = DECODER_PB_BATCH;
    }
    for (i = 0; i < cfg->nsubs && rc == 0; i++, n++) {
        rc =
            topic_template_parse(cfg->subs[i].topic, &subs[n].tpl, err, errlen);
        subs[n].format = format_of(cfg->subs[i].format);
    }
    if (rc == 0 && n > DECODER_MAX_SUBS) {
        snprintf(err, errlen, "more than %d subscriptions", DECODER_MAX_SUBS);
        rc = -EINVAL;
    }
    if (rc == 0)
        rc = decoder_new(&c->decoder, subs, n, c->devices, c->sensors);
    if (rc == 0)
        decoder_set_max_payload(c->decoder, cfg->validation.max_payload);
    free(subs);
    return rc;
}

/* The candidate grid of t into out (room for CONFIG_MAX_CANDIDATES). */
static size_t grid(const struct config_task *t, struct learner_candidate *out)
{
    size_t n = 0;
    size_t a, b, c, d;

    for (a = 0; a < t->nmodels; a++)
        for (b = 0; b < t->noptimizers; b++)
            for (c = 0; c < t->nlearning_rates; c++)
                for (d = 0; d < t->nl2 && n < CONFIG_MAX_CANDIDATES; d++) {
                    struct learner_candidate *k = &out[n++];
                    memset(k, 0, sizeof(*k));
                    model_params_default(&k->params, t->models[a],
                                         t->optimizers[b]);
                    k->params.learning_rate = t->learning_rates[c];
                    k->params.l2 = t->l2[d];
                }
    return n;
}

/* Spec strings of a task: features then target, into one block. */
struct specs {
    char (*text)[ROWS_SPEC_MAX]; /* nfeatures + 1 strings. */
    const char **ptr;            /* Pointers to the feature strings. */
};

static int make_specs(const struct config_task *t, struct specs *s)
{
    size_t i;

    s->text = calloc(t->nfeatures + 1, sizeof(*s->text));
    s->ptr = calloc(t->nfeatures + 1, sizeof(*s->ptr));
    if (s->text == NULL || s->ptr == NULL)
        return -ENOMEM;
    for (i = 0; i < t->nfeatures; i++) {
        rows_spec_format(&t->features[i], s->text[i], ROWS_SPEC_MAX);
        s->ptr[i] = s->text[i];
    }
    if (t->has_target)
        rows_spec_format(&t->target, s->text[t->nfeatures], ROWS_SPEC_MAX);
    return 0;
}

static void task_of(const struct config *cfg, const struct config_task *t,
                    const struct specs *s, struct learner_candidate *cands,
                    struct task_config *o)
{
    memset(o, 0, sizeof(*o));
    o->name = t->name;
    o->kind = t->kind == CONFIG_TASK_REGRESSION ? TASK_REGRESSION
              : t->kind == CONFIG_TASK_ANOMALY  ? TASK_ANOMALY
              : t->nclasses > 2                 ? TASK_MULTICLASS
                                                : TASK_BINARY;
    o->target = t->has_target ? s->text[t->nfeatures] : NULL;
    o->features = s->ptr;
    o->nfeatures = t->nfeatures;
    o->classes = (const char *const *)t->classes;
    o->nclasses = t->nclasses;
    o->window_rows = t->window_rows;
    o->window_ms = t->window_ms;
    o->test_fraction = t->test_fraction;
    o->test_salt =
        fnv(fnv(0xcbf29ce484222325ULL, cfg->mqtt.client_id), t->name);
    o->max_age_ms = t->feature_max_age_ms;
    o->label_max_delay_ms = t->label_max_delay_ms;
    o->pending_total = t->max_pending;
    o->pending_per_device = t->max_pending_per_device;
    o->snapshot_interval_ms = cfg->snapshot.min_interval_ms;
    o->clock_max_gap_ms = t->clock_max_gap_ms;
    o->predictions = t->predictions;
    o->ncandidates = grid(t, cands);
    o->candidates = o->ncandidates > 0 ? cands : NULL;
    o->drift_set = o->kind != TASK_ANOMALY;
    o->detector = t->drift == CONFIG_DRIFT_ADWIN          ? LEARNER_DETECT_ADWIN
                  : t->drift == CONFIG_DRIFT_PAGE_HINKLEY ? LEARNER_DETECT_PH
                                                          : LEARNER_DETECT_NONE;
    o->drift_delta = t->drift_delta;
    o->drift_threshold = t->drift_threshold;
    o->switch_z_set = o->kind != TASK_ANOMALY;
    o->switch_z = t->switch_z;
    o->threshold = t->threshold;
    o->max_series = t->max_series;
}

static void validation_of(const struct config *cfg, struct pipeline_config *pc)
{
    const struct config_validation *v = &cfg->validation;
    size_t rated = 0;
    size_t i;

    pc->dedup = dedup_config_default(cfg->limits.max_devices);
    pc->dedup.window = v->dedup_window;
    pc->dedup.hold_ms = v->dedup_hold_ms;
    pc->dedup.hash_capacity = v->dedup_hashes;
    pc->dedup.ts_future_ms = v->max_future_ms;
    pc->validate = validate_config_default(cfg->limits.max_devices,
                                           cfg->limits.max_sensors);
    pc->validate.max_future_ms = v->max_future_ms;
    pc->validate.max_age_ms = v->max_past_ms;
    pc->validate.refuse_unknown = v->reject_unknown;
    for (i = 0; i < cfg->nsensors; i++)
        rated += isfinite(cfg->sensors[i].max_rate_per_s);
    if (rated > pc->validate.rate_sensors)
        pc->validate.rate_sensors = rated;
}

static int make_rules(const struct config *cfg, struct pipeline_rule **out)
{
    struct pipeline_rule *r = calloc(cfg->nsensors + 1, sizeof(*r));
    size_t i;

    if (r == NULL)
        return -ENOMEM;
    for (i = 0; i < cfg->nsensors; i++) {
        const struct config_sensor *s = &cfg->sensors[i];
        r[i].sensor = s->name;
        r[i].rule = validate_rule_any();
        r[i].rule.min = s->min;
        r[i].rule.max = s->max;
        r[i].rule.max_rate_per_s = s->max_rate_per_s;
        r[i].rule.flags = (s->require_ts ? VALIDATE_REQUIRE_TS : 0) |
                          (s->require_seq ? VALIDATE_REQUIRE_SEQ : 0);
    }
    *out = r;
    return 0;
}

/* Task configurations and the storage they borrow. */
struct tasks {
    struct task_config *tc;
    struct specs *specs;
    struct learner_candidate *cands;
    size_t n;
};

static void tasks_free(struct tasks *t)
{
    size_t i;

    for (i = 0; t->specs != NULL && i < t->n; i++) {
        free(t->specs[i].text);
        free(t->specs[i].ptr);
    }
    free(t->specs);
    free(t->cands);
    free(t->tc);
}

static int tasks_make(const struct config *cfg, struct tasks *t)
{
    size_t i;

    memset(t, 0, sizeof(*t));
    t->n = cfg->ntasks;
    t->tc = calloc(t->n + 1, sizeof(*t->tc));
    t->specs = calloc(t->n + 1, sizeof(*t->specs));
    t->cands = calloc((t->n + 1) * CONFIG_MAX_CANDIDATES, sizeof(*t->cands));
    if (t->tc == NULL || t->specs == NULL || t->cands == NULL)
        return -ENOMEM;
    for (i = 0; i < t->n; i++) {
        if (make_specs(&cfg->tasks[i], &t->specs[i]) != 0)
            return -ENOMEM;
        task_of(cfg, &cfg->tasks[i], &t->specs[i],
                t->cands + i * CONFIG_MAX_CANDIDATES, &t->tc[i]);
    }
    return 0;
}

static int make_pipeline(struct setup_core *c, const struct config *cfg,
                         publish_fn emit, void *ctx, char *err, size_t errlen)
{
    struct pipeline_config pc;
    struct pipeline_rule *rules = NULL;
    struct tasks tasks;
    int rc;

    memset(&pc, 0, sizeof(pc));
    if ((rc = tasks_make(cfg, &tasks)) != 0 ||
        (rc = make_rules(cfg, &rules)) != 0)
        goto out;
    pc.devices = c->devices;
    pc.sensors = c->sensors;
    validation_of(cfg, &pc);
    pc.rules = rules;
    pc.nrules = cfg->nsensors;
    pc.tasks = tasks.tc;
    pc.ntasks = tasks.n;
    pc.dead_letter_mask = setup_dead_letter_mask(cfg);
    pc.emit = emit;
    pc.ctx = ctx;
    rc = pipeline_new(&c->pipeline, &pc, err, errlen);
out:
    free(rules);
    tasks_free(&tasks);
    return rc;
}

static int import_names(struct setup_core *c, const struct checkpoint *ck,
                        char *err, size_t errlen)
{
    int rc = intern_import(c->devices, ck->devices, ck->devices_len);

    if (rc == 0)
        rc = intern_import(c->sensors, ck->sensors, ck->sensors_len);
    if (rc != 0)
        snprintf(err, errlen, "checkpoint %s: name tables refused (%s)",
                 ck->file, strerror(-rc));
    return rc;
}

int setup_core_open(struct setup_core *core, const struct config *cfg,
                    bool extra_csv, const struct checkpoint *ck,
                    publish_fn emit, void *ctx, char *err, size_t errlen)
{
    int rc;

    memset(core, 0, sizeof(*core));
    if ((rc = intern_new(&core->devices, cfg->limits.max_devices)) != 0 ||
        (rc = intern_new(&core->sensors, cfg->limits.max_sensors)) != 0) {
        snprintf(err, errlen, "name tables: %s", strerror(-rc));
        goto fail;
    }
    if (ck != NULL && (rc = import_names(core, ck, err, errlen)) != 0)
        goto fail;
    if ((rc = make_decoder(core, cfg, extra_csv, err, errlen)) != 0)
        goto fail;
    if ((rc = make_pipeline(core, cfg, emit, ctx, err, errlen)) != 0)
        goto fail;
    if (ck != NULL) {
        struct bytes_in in = bytes_in_make(ck->pipeline, ck->pipeline_len);
        core->restore_rc = pipeline_restore(core->pipeline, &in);
        core->restored = core->restore_rc != -EBADMSG;
    }
    return 0;
fail:
    setup_core_close(core);
    return rc;
}

void setup_core_close(struct setup_core *core)
{
    pipeline_free(core->pipeline);
    decoder_free(core->decoder);
    intern_free(core->sensors);
    intern_free(core->devices);
    memset(core, 0, sizeof(*core));
}

void setup_topics(const struct config *cfg, struct publish_topics *out)
{
    const struct config_topics *t = &cfg->topics;

    publish_topics_default(out);
#define SET(kind, s)                                                           \
    do {                                                                       \
        if ((s) != NULL)                                                       \
            snprintf(out->t[kind], sizeof(out->t[kind]), "%s", (s));           \
    } while (0)
    SET(PUBLISH_SNAPSHOT, t->snapshot);
    SET(PUBLISH_METRICS, t->metrics);
    SET(PUBLISH_PREDICTION, t->predictions);
    SET(PUBLISH_DRIFT, t->drift);
    SET(PUBLISH_REJECT, t->rejects);
    SET(PUBLISH_STATUS, t->status);
    SET(PUBLISH_ANOMALY, t->anomaly);
#undef SET
}

uint32_t setup_dead_letter_mask(const struct config *cfg)
{
    if (!cfg->topics.publish_rejects)
        return 0;
    return ~(uint32_t)0 & ~(1u << REJECT_DUPLICATE) & ~(1u << REJECT_NONE);
}
