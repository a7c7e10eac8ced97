/* scenario.h -- synthetic sensor worlds for weir-sim: clean signals, before
 * any fault.
 *
 * A scenario has devices that each sample all their sensors once per period
 * of simulated time. scenario_next() returns the samples tick by tick: at
 * tick k every device in order 0..n-1 samples at start + k * period. Time is
 * simulated, so the output depends only on the options and the seed.
 *
 * building: per room, temperature [C], humidity [%], light [lux] and co2
 *   [ppm] with daily cycles and noise, and the label occupancy (0/1). The
 *   hidden rule: each room has working hours (start 7:30-9:30, end
 *   16:30-18:30 UTC, weekdays) during which it is occupied with probability
 *   0.8 (0.4 at lunch 12-13) and outside them with probability 0.02, as a
 *   two-state Markov chain with a 30-minute mean dwell. Occupants (1..6 per
 *   room) warm the room (+0.6 C), add moisture (+1.5 %) and CO2 (+150 ppm
 *   each, first-order with a 20-minute constant) and switch the lights on
 *   (+400 lux over daylight).
 *   After drift: occupants work by daylight (lights only when daylight is
 *   under 200 lux), a cleaning crew switches the lights on in empty rooms
 *   19:00-21:00 on weekdays, and demand-controlled ventilation halves the
 *   CO2 rise: light stops being the tell and CO2 becomes a weaker one.
 *
 * machine: per machine, vibration [mm/s RMS], temperature [C] and current
 *   [A] with a day/night load cycle and slow wear, and the label failure
 *   (0/1). Wear grows linearly over a life of 2..5 simulated days; when it
 *   passes a threshold (0.85..1) a failure episode of 30 minutes begins
 *   (label 1): vibration bursts to 3-5x, temperature climbs 1 C per minute,
 *   current turns erratic. Then the machine is repaired (wear 0, new life).
 *   After drift: failures show as a current sag and a temperature rise with
 *   no vibration burst (a different failure mode).
 *
 * Extra sensors (sensors > the scenario's own) are aux1, aux2, ...: slow
 * random walks with a daily component, unrelated to the label. Fewer sensors
 * keep the first ones. Labels come after sensors in struct scenario_sample.
 *
 * Threads: a struct scenario is used by one thread at a time. */
#ifndef WEIR_SIM_SCENARIO_H
#define WEIR_SIM_SCENARIO_H

#include <stdbool.h> /* For bool. */
#include <stddef.h>  /* For size_t. */
#include <stdint.h>  /* For int64_t, uint64_t. */

#define SCENARIO_MAX_SENSORS 64 /* sensors per device */
#define SCENARIO_MAX_LABELS 2   /* labels per device */
#define SCENARIO_MAX_DEVICES 100000
#define SCENARIO_NAME_MAX 32 /* bytes of a device or sensor name */

enum scenario_kind { SCENARIO_BUILDING, SCENARIO_MACHINE };

struct scenario_opts {
    enum scenario_kind kind; /* building or machine. */
    size_t devices;          /* 1..SCENARIO_MAX_DEVICES. */
    size_t sensors;          /* 1..SCENARIO_MAX_SENSORS; 0 = the kind's. */
    uint64_t seed;           /* Everything follows from it. */
    int64_t start_ms;        /* Simulated time of tick 0, ms (UTC). */
    int64_t period_ms;       /* Simulated time between samples, > 0. */
    int64_t drift_at_ms;     /* Rule change at this simulated time, or -1. */
    const char *prefix;      /* Device name prefix (borrowed), NULL = kind's
                                ("room-" / "machine-"). */
};

/* One device's sample: sensors, then labels. */
struct scenario_sample {
    size_t device;    /* 0..devices-1. */
    uint64_t tick;    /* Sample number of the device. */
    int64_t ts_ms;    /* Simulated sample time. */
    bool drifted;     /* After the rule change. */
    size_t n_sensors; /* Entries in value[] first. */
    size_t n_labels;  /* Then this many labels. */
    double value[SCENARIO_MAX_SENSORS + SCENARIO_MAX_LABELS];
};

struct scenario;

/* Parse "building" or "machine"; 0 or -EINVAL. */
int scenario_kind_parse(const char *text, enum scenario_kind *out);

/* Build a scenario (opts borrowed; the prefix is copied). Returns 0 and
 * *out (returns owned; scenario_free), -EINVAL for options out of range,
 * -ENOMEM. */
int scenario_new(struct scenario **out, const struct scenario_opts *opts);
void scenario_free(struct scenario *s);

/* Next sample, in tick-major, device-minor order. Never fails. */
void scenario_next(struct scenario *s, struct scenario_sample *out);

/* Names, borrowed from s: device i, and value j of a sample (sensors then
 * labels). */
const char *scenario_device_name(const struct scenario *s, size_t i);
const char *scenario_value_name(const struct scenario *s, size_t j);
size_t scenario_devices(const struct scenario *s);
size_t scenario_sensors(const struct scenario *s);
size_t scenario_labels(const struct scenario *s);

/* A typical magnitude of value j (its normal range's width), used to size
 * spikes; > 0. */
double scenario_value_scale(const struct scenario *s, size_t j);

#endif /* WEIR_SIM_SCENARIO_H */
