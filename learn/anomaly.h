/* anomaly.h -- online, label-free anomaly scores for one sensor series.
 *
 * One detector per (device, sensor) series: anomaly_new() with a config,
 * then anomaly_update(det, ts_ms, value) for each reading in stream order,
 * which returns that reading's score in [0, 1] (higher = more anomalous)
 * using only the readings up to and including it. Deterministic: the same
 * readings give the same scores, bit for bit. The state is one fixed-size
 * allocation (anomaly_state_bytes()); nothing grows with the stream. It is
 * saved and restored with anomaly_save() / anomaly_restore() (a versioned,
 * checksummed image), so a detector resumed from a checkpoint scores the
 * rest of its series exactly as an uninterrupted one.
 *
 * How it scores (details in anomaly.c): a small online forecaster predicts
 * each reading from the previous ones and its time of day/week; the size of
 * the miss, against the usual size of misses, is the raw surprise; the
 * anomaly likelihood asks how unusual the last few raw surprises are
 * against their long history; a new extreme of the value range, or a
 * single miss dozens of times the usual size, scores high on its own;
 * after an alarm, further alarms are damped for a refractory period, so
 * one event raises one alarm.
 *
 * Threads: none of its own; a detector belongs to the thread that created
 * it (the loop thread in the daemon). */
#ifndef WEIR_LEARN_ANOMALY_H
#define WEIR_LEARN_ANOMALY_H

#include <stddef.h> /* For size_t. */
#include <stdint.h> /* For int64_t, uint8_t, uint32_t. */

/* ---- Types --------------------------------------------------------------- */

#define ANOMALY_MAX_LAGS 16  /* Upper bound of anomaly_config.lags. */
#define ANOMALY_MAX_SHORT 64 /* Upper bound of anomaly_config.short_window. */
#define ANOMALY_X_MAX 1e150  /* |value| is clamped to this before use. */

/* anomaly_state_bytes() and anomaly_save() never exceed these. */
#define ANOMALY_STATE_MAX_BYTES 4096
#define ANOMALY_SAVE_MAX_BYTES 4096u

#define ANOMALY_FORMAT_VERSION 1u /* of anomaly_save()'s output */

/* Configuration (a value type; anomaly_config_default() fills weir's
 * defaults, chosen as described in anomaly.c). */
struct anomaly_config {
    uint32_t warmup;       /* Readings scored 0 while the detector learns. */
    uint32_t lags;         /* Autoregressive lags of the forecaster, 0..16. */
    double forget;         /* RLS forgetting factor, in (0.9, 1]. */
    double norm_halflife;  /* Half-life of the value standardiser, readings. */
    double season_rate;    /* Learning rate of the time-of-week profile. */
    double err_halflife;   /* Half-life of the usual miss size, readings. */
    double raw_scale;      /* Raw surprise = 1 - exp(-miss / raw_scale). */
    uint32_t short_window; /* Readings in the likelihood's short average. */
    double long_halflife;  /* Half-life of the likelihood's history. */
    double var_floor;      /* Smallest std of the short average's history. */
    int two_sided;         /* 1: unusually low surprise is anomalous too. */
    double spatial_tol;    /* A value beyond [min, max] seen by this fraction
                              of the range scores 1; 0 turns this off. */
    uint32_t refractory;   /* Readings after an alarm with damped scores. */
    double alarm_level;    /* A score at or above this is an alarm. */
    double damp;           /* Scores in the refractory period are scaled. */
    double point_scale;    /* A single miss of z usual misses scores
                              -log10(Q(z / point_scale)) / 10 on its own
                              (Q the Gaussian tail); 0 turns this off. */
};

struct anomaly;

/* ---- Lifecycle ----------------------------------------------------------- */

/* Fill *cfg with weir's defaults. cfg is the caller's. */
void anomaly_config_default(struct anomaly_config *cfg);

/* Check a config: returns 0 or -EINVAL (a field out of its range). */
int anomaly_config_check(const struct anomaly_config *cfg);

/* Make a detector in *out with config cfg (borrowed, copied). On success
 * *out is returned owned (free with anomaly_free()). Returns 0, -EINVAL (see
 * anomaly_config_check()) or -ENOMEM. */
int anomaly_new(struct anomaly **out, const struct anomaly_config *cfg);

/* Free a detector; NULL is a no-op. Takes det. */
void anomaly_free(struct anomaly *det);

/* Forget everything learnt; keeps the config. */
void anomaly_reset(struct anomaly *det);

/* Bytes of state of one detector (its single allocation). */
size_t anomaly_state_bytes(const struct anomaly *det);

/* ---- Operations ---------------------------------------------------------- */

/* Score one reading (ts_ms: ms since the Unix epoch, UTC; value: the
 * reading) and learn from it. Returns the score in [0, 1]. |value| is
 * clamped to ANOMALY_X_MAX (so squares stay finite). A non-finite
 * value is not learnt from and scores 0 (the daemon rejects those before,
 * see stream/reject.h); timestamps may repeat or go backwards (the
 * time-of-week profile just uses the stamp given). */
double anomaly_update(struct anomaly *det, int64_t ts_ms, double value);

/* Readings learnt from so far. */
uint64_t anomaly_count(const struct anomaly *det);

/* ---- Checkpoints --------------------------------------------------------- */

/* Serialise det (borrowed): its configuration and its whole learnt state,
 * into buf (borrowed, cap bytes; may be NULL when cap is 0). The format
 * is versioned (ANOMALY_FORMAT_VERSION), little-endian, with a CRC-32
 * (layout in anomaly.c). Returns the size needed, at most
 * ANOMALY_SAVE_MAX_BYTES; the buffer holds the image only if that is <=
 * cap. Never allocates. */
size_t anomaly_save(const struct anomaly *det, uint8_t *buf, size_t cap);

/* Replace det's state with the image in buf[0..len) (borrowed), which must
 * have been saved from a detector of the same configuration. Returns 0,
 * -EBADMSG (truncated, CRC or a field out of range), -EPROTONOSUPPORT
 * (unknown format version), -EINVAL (another configuration). On error det
 * is unchanged. Never allocates. */
int anomaly_restore(struct anomaly *det, const uint8_t *buf, size_t len);

#endif /* WEIR_LEARN_ANOMALY_H */
