/* evaluate.h -- replay CSV data sets through row assembly and a learner,
 * in stream order: the replay path of benchmarks, tests and offline
 * evaluation (what River calls progressive validation, plus weir's windows,
 * champion and test stream).
 *
 * The files are read one after the other as one stream (ingest/csvsrc.h,
 * one column map for all of them); each CSV row becomes readings, one per
 * present value, device and seq (a running row counter, so (device, seq)
 * is unique across files) attached, given to stream/rows.h, which builds
 * learning rows exactly as the daemon does (latest values, lags "s@-k",
 * forecasting targets "s@+h", missing features flagged); every row goes to
 * learner_update(). Within a CSV row the target's reading comes last, so a
 * nowcast row sees the features of its own CSV row.
 *
 * Layering: a driver around the pure learner that reads files
 * (ingest/csvsrc.h) and assembles rows (stream/rows.h), so it lives in
 * ingest/, which may depend on stream/ and learn/ (DESIGN.md); benchmarks
 * and tests share this one replay path.
 *
 * Threads: everything runs on the calling thread. */
#ifndef WEIR_INGEST_EVALUATE_H
#define WEIR_INGEST_EVALUATE_H

#include <stddef.h> /* For size_t. */
#include <stdint.h> /* For uint64_t, int64_t. */

#include "learn/learner.h" /* For struct learner, learner_config. */

#define EVALUATE_MAX_FILES 64     /* files in one stream */
#define EVALUATE_MAX_DEVICES 4096 /* distinct device names */

/* What to replay and how to make rows of it. */
struct evaluate_spec {
    const char *const *paths;    /* [n_paths] CSV files, in stream order. */
    size_t n_paths;              /* 1..EVALUATE_MAX_FILES. */
    const char *map;             /* Column map (csvsrc.h syntax); "" default. */
    const char *target;          /* Target spec: "class", "co2@+15m". */
    const char *const *features; /* [n_features] feature specs ("nswprice",
                                    "class@-1"), or NULL: every sensor
                                    column, latest value. */
    size_t n_features;           /* Entries in features. */
    int64_t max_age_ms;          /* Feature freshness; 0: rows' default. */
};

/* Counts and timing of one replay. */
struct evaluate_result {
    uint64_t csv_rows;  /* Good CSV rows read, all files. */
    uint64_t csv_bad;   /* CSV rows skipped (csvsrc's reasons). */
    uint64_t rows;      /* Learning rows given to the learner. */
    uint64_t rows_bad;  /* Of those, refused by the learner (label). */
    double seconds;     /* Wall time of the replay (parse included). */
    double cpu_seconds; /* CPU time of the calling thread, the same. */
};

/* Replay spec (borrowed) into a new learner configured by *cfg (borrowed;
 * its n_features and feature_names are replaced by the specs' canonical
 * names, and class_labels, when NULL, by the target column's class
 * strings). Returns 0 with *out (returns owned, learner_free()) and *res
 * filled, or a negative errno with a one-line reason in err: -EINVAL (bad
 * spec, unknown column, files whose columns differ, too many devices),
 * csvsrc_open()'s and learner_new()'s errors, -ENOMEM. */
int evaluate_csv(const struct evaluate_spec *spec,
                 const struct learner_config *cfg, struct learner **out,
                 struct evaluate_result *res, char *err, size_t errlen);

#endif /* WEIR_INGEST_EVALUATE_H */
