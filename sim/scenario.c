/* scenario.c -- the building and machine worlds (see scenario.h for the
 * rules they follow).
 *
 * Each device has its own random stream (seed, "values", device index), so
 * room 7 produces the same values whether there are 10 rooms or 1000, and
 * per-device state: the latent occupancy or wear, first-order filtered
 * quantities (CO2, heat, moisture) and the aux random walks. A step costs a
 * handful of exp/sin calls per device.
 *
 * Threads: none of its own; one instance per thread. */
#include "sim/scenario.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/simrand.h"

#define TWO_PI 6.283185307179586
#define DAY_MS 86400000.0

struct room {
    double start_h; /* Working hours begin (UTC hour). */
    double end_h;   /* Working hours end. */
    int capacity;   /* People when occupied. */
    bool occupied;  /* Latent state. */
    double co2;     /* ppm, filtered. */
    double heat;    /* C above base, filtered. */
    double moist;   /* % above base, filtered. */
    double t_off;   /* Per-room temperature offset. */
};

struct machine {
    double wear;       /* 0..1. */
    double life_ms;    /* Time from repair to wear 1. */
    double threshold;  /* Wear at which the next failure starts. */
    int64_t fail_left; /* Samples left in a failure episode, 0 = none. */
    double temp;       /* C, filtered. */
    double fail_temp;  /* Extra C during a failure. */
};

struct device {
    struct simrand rng;               /* Its own stream. */
    uint64_t tick;                    /* Samples so far. */
    double aux[SCENARIO_MAX_SENSORS]; /* Random-walk states. */
    union {
        struct room room;
        struct machine mach;
    } u;
};

struct scenario {
    struct scenario_opts o; /* Copy; prefix points at prefix[]. */
    char prefix[SCENARIO_NAME_MAX];
    size_t base;        /* The kind's own sensors. */
    size_t next_dev;    /* Device of the next sample. */
    struct device *dev; /* o.devices entries. */
    char (*dev_name)[SCENARIO_NAME_MAX];
    char vname[SCENARIO_MAX_SENSORS + SCENARIO_MAX_LABELS][SCENARIO_NAME_MAX];
    double scale[SCENARIO_MAX_SENSORS + SCENARIO_MAX_LABELS];
};

static const char *const building_names[] = {"temperature", "humidity", "light",
                                             "co2"};
static const double building_scale[] = {4.0, 10.0, 800.0, 800.0};
static const char *const machine_names[] = {"vibration", "temperature",
                                            "current"};
static const double machine_scale[] = {5.0, 40.0, 15.0};

int scenario_kind_parse(const char *text, enum scenario_kind *out)
{
    if (strcmp(text, "building") == 0)
        *out = SCENARIO_BUILDING;
    else if (strcmp(text, "machine") == 0)
        *out = SCENARIO_MACHINE;
    else
        return -EINVAL;
    return 0;
}

/* ---- Time helpers ------------------------------------------------------ */

static double hour_of_day(int64_t ts_ms)
{
    double d = fmod((double)ts_ms, DAY_MS);

    if (d < 0)
        d += DAY_MS;
    return d / 3600000.0;
}

static bool weekday(int64_t ts_ms)
{
    int64_t days = ts_ms >= 0 ? ts_ms / 86400000 : (ts_ms + 1) / 86400000 - 1;
    int64_t dow = ((days % 7) + 7 + 3) % 7; /* 0 = Monday; 1970-01-01 Thu */

    return dow < 5;
}

/* Daylight in lux through the windows: a half sine 6:00-18:00. */
static double daylight(double h)
{
    if (h < 6.0 || h > 18.0)
        return 0.0;
    return 350.0 * sin(TWO_PI * (h - 6.0) / 24.0);
}

/* Fraction of the way to the target after dt with time constant tau. */
static double approach(double dt_ms, double tau_ms)
{
    return 1.0 - exp(-dt_ms / tau_ms);
}

/* ---- Building ---------------------------------------------------------- */

static void room_init(struct room *r, struct simrand *g)
{
    r->start_h = simrand_range(g, 7.5, 9.5);
    r->end_h = simrand_range(g, 16.5, 18.5);
    r->capacity = 1 + (int)simrand_below(g, 6);
    r->co2 = simrand_range(g, 410, 440);
    r->t_off = simrand_range(g, -1.0, 1.0);
}

static double occupancy_p(const struct room *r, int64_t ts, double h)
{
    if (!weekday(ts) || h < r->start_h || h >= r->end_h)
        return 0.02;
    if (h >= 12.0 && h < 13.0)
        return 0.4;
    return 0.8;
}

static void room_step(struct scenario *s, struct device *d, int64_t ts,
                      bool drifted, double *v, double *label)
{
    struct room *r = &d->u.room;
    struct simrand *g = &d->rng;
    double dt = (double)s->o.period_ms;
    double h = hour_of_day(ts);
    double p = occupancy_p(r, ts, h);
    double tau = 30.0 * 60000.0;
    double flip = r->occupied ? (1.0 - p) : p;
    double day = daylight(h);
    double lights;

    /* Leave/enter at rate flip / tau: stationary P(occupied) = p. */
    if (simrand_chance(g, 1.0 - exp(-dt * flip / tau)))
        r->occupied = !r->occupied;
    double people = r->occupied ? r->capacity : 0;
    double co2_gain = drifted ? 75.0 : 150.0;
    r->co2 += (420.0 + people * co2_gain - r->co2) * approach(dt, 1.2e6);
    r->heat += ((r->occupied ? 0.6 : 0.0) - r->heat) * approach(dt, 1.8e6);
    r->moist += ((r->occupied ? 1.5 : 0.0) - r->moist) * approach(dt, 1.2e6);
    if (!drifted)
        lights = r->occupied ? 400.0 : 0.0;
    else if (r->occupied)
        lights = day < 200.0 ? 400.0 : 0.0;
    else
        lights = weekday(ts) && h >= 19.0 && h < 21.0 ? 400.0 : 0.0;
    v[0] = 20.5 + r->t_off + 1.5 * sin(TWO_PI * (h - 9.0) / 24.0) + r->heat +
           0.05 * simrand_normal(g);
    v[1] = 30.0 + 3.0 * sin(TWO_PI * (h - 4.0) / 24.0) + r->moist +
           0.2 * simrand_normal(g);
    v[2] =
        fmax(0.0, day + lights + (lights > 0 ? 20.0 : 2.0) * simrand_normal(g));
    v[3] = r->co2 + 5.0 * simrand_normal(g);
    *label = r->occupied ? 1.0 : 0.0;
}

/* ---- Machine ----------------------------------------------------------- */

static void machine_repair(struct machine *m, struct simrand *g)
{
    m->wear = 0.0;
    m->life_ms = simrand_range(g, 2.0, 5.0) * DAY_MS;
    m->threshold = simrand_range(g, 0.85, 1.0);
    m->fail_left = 0;
    m->fail_temp = 0.0;
}

static void machine_init(struct machine *m, struct simrand *g)
{
    machine_repair(m, g);
    m->wear = simrand_range(g, 0.0, 0.7); /* machines of different ages */
    m->temp = 40.0;
}

static void machine_step(struct scenario *s, struct device *d, int64_t ts,
                         bool drifted, double *v, double *label)
{
    struct machine *m = &d->u.mach;
    struct simrand *g = &d->rng;
    double dt = (double)s->o.period_ms;
    double h = hour_of_day(ts);
    double load = (h >= 6.0 && h < 22.0 ? 0.8 : 0.2) + 0.05 * simrand_normal(g);
    int64_t episode = (int64_t)(30.0 * 60000.0 / dt);

    if (m->fail_left == 0 && m->wear >= m->threshold)
        m->fail_left = episode > 1 ? episode : 1;
    m->wear += dt / m->life_ms;
    m->temp += (35.0 + 20.0 * load + 10.0 * m->wear - m->temp) *
               approach(dt, 600000.0);
    v[0] = 1.5 + 2.5 * m->wear * m->wear + 0.8 * load +
           (0.1 + 0.2 * m->wear) * simrand_normal(g);
    v[2] = 8.0 + 12.0 * load + 3.0 * m->wear + 0.3 * simrand_normal(g);
    *label = m->fail_left > 0 ? 1.0 : 0.0;
    if (m->fail_left > 0) {
        m->fail_temp += dt / 60000.0;
        if (!drifted) {
            v[0] *= simrand_range(g, 3.0, 5.0);
            v[2] += 4.0 * simrand_normal(g);
        } else {
            v[2] *= 0.6;
        }
        if (--m->fail_left == 0)
            machine_repair(m, g);
    }
    v[1] = m->temp + m->fail_temp + 0.2 * simrand_normal(g);
}

/* ---- Scenario ---------------------------------------------------------- */

static void names_init(struct scenario *s)
{
    const char *const *names =
        s->o.kind == SCENARIO_BUILDING ? building_names : machine_names;
    const double *scale =
        s->o.kind == SCENARIO_BUILDING ? building_scale : machine_scale;
    size_t j;

    for (j = 0; j < s->o.sensors; j++) {
        if (j < s->base) {
            snprintf(s->vname[j], SCENARIO_NAME_MAX, "%s", names[j]);
            s->scale[j] = scale[j];
        } else {
            snprintf(s->vname[j], SCENARIO_NAME_MAX, "aux%zu", j - s->base + 1);
            s->scale[j] = 10.0;
        }
    }
    snprintf(s->vname[j], SCENARIO_NAME_MAX, "%s",
             s->o.kind == SCENARIO_BUILDING ? "occupancy" : "failure");
    s->scale[j] = 1.0;
}

int scenario_new(struct scenario **out, const struct scenario_opts *opts)
{
    struct scenario *s;

    if (opts->devices < 1 || opts->devices > SCENARIO_MAX_DEVICES ||
        opts->sensors > SCENARIO_MAX_SENSORS || opts->period_ms <= 0 ||
        (opts->prefix && strlen(opts->prefix) > SCENARIO_NAME_MAX - 8))
        return -EINVAL;
    if ((s = calloc(1, sizeof(*s))) == NULL)
        return -ENOMEM;
    s->o = *opts;
    s->base = opts->kind == SCENARIO_BUILDING ? 4 : 3;
    if (s->o.sensors == 0)
        s->o.sensors = s->base;
    snprintf(s->prefix, sizeof(s->prefix), "%s",
             opts->prefix
                 ? opts->prefix
                 : (opts->kind == SCENARIO_BUILDING ? "room-" : "machine-"));
    s->o.prefix = s->prefix;
    s->dev = calloc(opts->devices, sizeof(*s->dev));
    s->dev_name = calloc(opts->devices, sizeof(*s->dev_name));
    if (s->dev == NULL || s->dev_name == NULL) {
        scenario_free(s);
        return -ENOMEM;
    }
    names_init(s);
    for (size_t i = 0; i < opts->devices; i++) {
        struct device *d = &s->dev[i];
        char tmp[SCENARIO_NAME_MAX + 32];
        snprintf(tmp, sizeof(tmp), "%s%03zu", s->prefix, i + 1);
        memcpy(s->dev_name[i], tmp, SCENARIO_NAME_MAX - 1); /* fits: see */
        s->dev_name[i][SCENARIO_NAME_MAX - 1] = '\0';       /* prefix check */
        simrand_init_stream(&d->rng, opts->seed, "values", i);
        if (opts->kind == SCENARIO_BUILDING)
            room_init(&d->u.room, &d->rng);
        else
            machine_init(&d->u.mach, &d->rng);
        for (size_t j = 0; j < SCENARIO_MAX_SENSORS; j++)
            d->aux[j] = simrand_range(&d->rng, 0.0, 10.0);
    }
    *out = s;
    return 0;
}

void scenario_free(struct scenario *s)
{
    if (s == NULL)
        return;
    free(s->dev);
    free(s->dev_name);
    free(s);
}

void scenario_next(struct scenario *s, struct scenario_sample *out)
{
    size_t i = s->next_dev;
    struct device *d = &s->dev[i];
    int64_t ts = s->o.start_ms + (int64_t)d->tick * s->o.period_ms;
    bool drifted = s->o.drift_at_ms >= 0 && ts >= s->o.drift_at_ms;
    double base[4];
    double label;
    double h = hour_of_day(ts);

    if (s->o.kind == SCENARIO_BUILDING)
        room_step(s, d, ts, drifted, base, &label);
    else
        machine_step(s, d, ts, drifted, base, &label);
    for (size_t j = 0; j < s->o.sensors; j++) {
        if (j < s->base) {
            out->value[j] = base[j];
            continue;
        }
        d->aux[j] += 0.1 * simrand_normal(&d->rng);
        out->value[j] = d->aux[j] + 2.0 * sin(TWO_PI * h / 24.0 + (double)j);
    }
    out->value[s->o.sensors] = label;
    out->device = i;
    out->tick = d->tick++;
    out->ts_ms = ts;
    out->drifted = drifted;
    out->n_sensors = s->o.sensors;
    out->n_labels = 1;
    s->next_dev = i + 1 == s->o.devices ? 0 : i + 1;
}

const char *scenario_device_name(const struct scenario *s, size_t i)
{
    return i < s->o.devices ? s->dev_name[i] : NULL;
}

const char *scenario_value_name(const struct scenario *s, size_t j)
{
    return j <= s->o.sensors ? s->vname[j] : NULL;
}

size_t scenario_devices(const struct scenario *s)
{
    return s->o.devices;
}

size_t scenario_sensors(const struct scenario *s)
{
    return s->o.sensors;
}

size_t scenario_labels(const struct scenario *s)
{
    (void)s;
    return 1;
}

double scenario_value_scale(const struct scenario *s, size_t j)
{
    return j <= s->o.sensors ? s->scale[j] : 1.0;
}
