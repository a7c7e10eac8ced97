/* nab_data.h -- loading the Numenta Anomaly Benchmark's files for tests and
 * benchmarks: data CSVs, label windows, profiles, published results and the
 * per-row outputs of NAB's detectors (.csv.gz).
 *
 * The scorer itself (learn/nab.h) does no I/O; this helper object is linked
 * into every test and bench program. The data live in shared/data/nab (see
 * its SOURCE.md): nab_data_root() finds them beside the work tree.
 *
 * Threads: none; every function works on its caller's memory only. */
#ifndef WEIR_TESTS_NAB_DATA_H
#define WEIR_TESTS_NAB_DATA_H

#include <stddef.h> /* For size_t. */
#include <stdint.h> /* For int64_t. */

#include "learn/nab.h" /* For struct nab_window, struct nab_profile. */

/* One NAB data file with its windows. */
struct nab_series {
    char name[128];         /* Relative path, e.g. "realTweets/x.csv". */
    int64_t *ts_s;          /* Timestamps, s since the epoch (UTC). */
    double *value;          /* Values. */
    size_t n;               /* Rows. */
    struct nab_window *win; /* Labelled windows, in time order. */
    size_t nwin;            /* Number of windows. */
};

/* The NAB directory: $WEIR_NAB_DIR if set, else ../shared/data/nab or
 * /work/shared/data/nab, whichever holds labels/combined_windows.json;
 * NULL when none does. Returns a borrowed static string. */
const char *nab_data_root(void);

/* Parse "YYYY-MM-DD HH:MM:SS[.ffffff]" as UTC into seconds since the epoch
 * (fractions dropped). Returns 0 or -EINVAL. */
int nab_data_parse_ts(const char *s, int64_t *out_s);

/* Load every series named in labels/combined_windows.json under root, in
 * the file's key order, into *out (returns owned, free with
 * nab_data_free_corpus()), *n_out series. Returns 0, -ENOENT, -EINVAL
 * (malformed file) or -ENOMEM. */
int nab_data_load_corpus(const char *root, struct nab_series **out,
                         size_t *n_out);

/* Free what nab_data_load_corpus() returned; NULL is a no-op. Takes s. */
void nab_data_free_corpus(struct nab_series *s, size_t n);

/* Load config/profiles.json under root into p[0..3): standard,
 * reward_low_FP_rate, reward_low_FN_rate, in that order. Returns 0,
 * -ENOENT or -EINVAL. */
int nab_data_load_profiles(const char *root, struct nab_profile p[3]);

/* Read results/final_results.json's score for detector and profile.
 * Returns 0, -ENOENT or -EINVAL (no such entry). */
int nab_data_final_score(const char *root, const char *detector,
                         const char *profile, double *out);

/* Read the raw corpus score ("Totals" row, Score column) of
 * results/<detector>/<detector>_<profile>_scores.csv. Returns 0, -ENOENT or
 * -EINVAL. */
int nab_data_total_raw(const char *root, const char *detector,
                       const char *profile, double *out);

/* Read a detector's per-row results file (plain or gzip-compressed CSV with
 * a header naming "timestamp" and "anomaly_score"). Fills *ts_s and *score
 * (returns owned, free() each) with *n rows; when col is non-NULL, also the
 * column of that name into *extra (returns owned; NULL if col is NULL).
 * Returns 0, -ENOENT, -EINVAL or -ENOMEM. */
int nab_data_load_results(const char *path, const char *col, int64_t **ts_s,
                          double **score, double **extra, size_t *n);

#endif /* WEIR_TESTS_NAB_DATA_H */
