/* drift.h -- concept drift detectors on a stream of losses: ADWIN
 * (Bifet & Gavalda 2007, the exponential-histogram ADWIN2) and Page-Hinkley
 * (Page 1954, Hinkley 1971), with explicit NONE / WARNING / DETECTED states.
 *
 * Both are transparent fixed-size values (no pointers): init in the
 * caller's storage, copy for a checkpoint, read a struct drift_status for a
 * snapshot or a DriftEvent. Each update is O(1) amortised; neither
 * allocates.
 *
 * ADWIN keeps a window W of recent values as an exponential histogram:
 * bucket row r holds 1..DRIFT_ADWIN_M buckets of 2^r values each (sum and
 * variance), so memory is bounded (DRIFT_ADWIN_ROWS rows, ~5 KB in all)
 * while W can grow to M (2^ROWS - 1) values (~1.4e15; past that the
 * oldest bucket is dropped). Every `clock` values (32, as MOA and River) it
 * tests every split W = W0 W1 at a bucket boundary, both parts at least
 * min_window long, for |mean W0 - mean W1| > eps with Bernstein's bound
 *     eps = sqrt(2 sigma^2 d / m) + 2 d / (3 m),
 *     m = 1 / (1/|W0| + 1/|W1|),  d = ln(2 / delta') = ln(2 |W| / delta),
 * sigma^2 the variance of W: the paper's bound with delta' = delta / |W|
 * (a union bound over all splits). MOA and River use d = ln(2 ln|W| /
 * delta) instead; measured here on Bernoulli(0.2), that form raised a
 * false drift in 4 of 20 stationary runs of 1e6 values at delta 0.002,
 * this one in none, for ~7 more values of detection delay (a 0.2 -> 0.8
 * shift is detected after 48-80 values). A split passing at delta is a
 * drift: W is cut at the most significant passing split (largest
 * |mean0 - mean1| / eps), again while one passes; the state is DETECTED
 * for that update, mean_before is the mean of the dropped values and
 * mean_after the mean of what remains (the reset rule: ADWIN keeps only
 * the post-change window). The paper drops one oldest bucket at a time
 * instead, which stops early at bucket granularity and re-detects the
 * same change a few checks later. A split passing only at the looser
 * delta_warning (0.1) gives WARNING until the next check; measured on a
 * 0.2 -> 0.5 shift, it precedes the drift in 44 of 50 runs by ~40 values.
 *
 * Page-Hinkley, in its recursive CUSUM form with forgetting alpha,
 *     g_up   = max(0, alpha g_up   + (x - mean - delta))
 *     g_down = max(0, alpha g_down + (mean - x - delta))
 * where mean is the running mean since the last reset; with alpha = 1 this
 * is exactly Page-Hinkley's m_T - min m_t. DETECTED when a watched
 * direction's g > lambda (after min_instances values), WARNING when g >
 * lambda_warning. The change point is the last time that g was 0:
 * mean_before and mean_after are the means of the values before and after
 * it. After a detection everything restarts from the next value.
 *
 * Threads: none of its own; a detector belongs to its owner's thread. */
#ifndef WEIR_LEARN_DRIFT_H
#define WEIR_LEARN_DRIFT_H

#include <stdint.h> /* For uint8_t, uint32_t, uint64_t. */

/* ---- Types ------------------------------------------------------------- */

/* Values equal proto DriftState. */
enum drift_state {
    DRIFT_NONE = 0,
    DRIFT_WARNING = 1,
    DRIFT_DETECTED = 2,
};

/* What a DriftEvent or a snapshot needs to know about a detector. */
struct drift_status {
    enum drift_state state; /* Result of the last update. */
    uint64_t seen;          /* Values fed since init or reset. */
    uint64_t detections;    /* DETECTED results since init or reset. */
    uint64_t width;         /* ADWIN: values in W; PH: since last restart. */
    double mean;            /* Mean of those values (0 if none). */
    uint64_t detected_at;   /* `seen` at the last detection (0: none). */
    double mean_before;     /* At the last detection: mean before the change
                               point (NaN if none yet). */
    double mean_after;      /* ... and after it (NaN if none yet). */
};

#define DRIFT_ADWIN_M 5     /* max buckets per row (MOA, River) */
#define DRIFT_ADWIN_ROWS 48 /* bucket rows: W up to M (2^48 - 1) values */
#define DRIFT_ADWIN_PEND 32 /* values waiting for the histogram (>= 1) */

struct drift_adwin_params {
    double delta;         /* Confidence of a drift, (0, 1); 0.002. */
    double delta_warning; /* Looser confidence of a warning, in [delta, 1);
                             0.1. */
    uint32_t clock;       /* Check every this many values (>= 1); 32. */
    uint32_t min_window;  /* Minimum values in W0 and in W1 (>= 1); 5. */
};

/* ADWIN state. Fields are written only by drift_adwin_*(). */
struct drift_adwin {
    struct drift_adwin_params p;   /* Parameters, copied at init. */
    uint64_t seen;                 /* Values fed since init or reset. */
    uint64_t detections;           /* Drifts detected since init or reset. */
    uint64_t detected_at;          /* seen at the last drift (0: none). */
    double mean_before;            /* Mean of the values dropped then. */
    double mean_after;             /* Mean of W right after dropping. */
    uint64_t width;                /* Values in W. */
    double total;                  /* Sum of the values in W. */
    double var;                    /* Sum of squared deviations in W. */
    uint32_t state;                /* enum drift_state of the last update. */
    uint32_t rows;                 /* Bucket rows in use. */
    uint8_t len[DRIFT_ADWIN_ROWS]; /* Buckets in each row, 0..M (M+1
                                      transiently). */
    double b_total[DRIFT_ADWIN_ROWS][DRIFT_ADWIN_M + 1]; /* Bucket sums,
                                                            oldest first. */
    double b_var[DRIFT_ADWIN_ROWS][DRIFT_ADWIN_M + 1];   /* Bucket sums of
                                                            squared
                                                            deviations. */
    uint32_t pending;              /* Values not yet in the buckets (width,
                                      total and var count them). */
    double pend[DRIFT_ADWIN_PEND]; /* Those values, oldest first. */
};

enum drift_direction {
    DRIFT_UP = 1,   /* Watch increases (a loss getting worse). */
    DRIFT_DOWN = 2, /* Watch decreases. */
    DRIFT_BOTH = 3,
};

struct drift_ph_params {
    double delta;           /* Tolerated change, >= 0; 0.05. */
    double lambda;          /* Detection threshold, > 0; 50. */
    double lambda_warning;  /* Warning threshold, (0, lambda]; 25. */
    double alpha;           /* Forgetting factor, (0, 1]; 1 - 1e-4. */
    uint32_t min_instances; /* No verdict before this many values; 30. */
    uint32_t direction;     /* enum drift_direction; DRIFT_UP. */
};

/* Page-Hinkley state. Fields are written only by drift_ph_*(). */
struct drift_ph {
    struct drift_ph_params p; /* Parameters, copied at init. */
    uint64_t seen;            /* Values fed since init or reset. */
    uint64_t detections;      /* Drifts detected since init or reset. */
    uint64_t detected_at;     /* seen at the last drift (0: none). */
    double mean_before;       /* At the last drift: mean before the change
                                 point. */
    double mean_after;        /* ... and after it. */
    uint64_t n;               /* Values since the last restart. */
    double sum;               /* Their sum. */
    double mean;              /* Their running mean. */
    double g_up;              /* CUSUM of increases. */
    double g_down;            /* CUSUM of decreases. */
    uint64_t n0_up;           /* n when g_up was last 0. */
    double sum0_up;           /* sum when g_up was last 0. */
    uint64_t n0_down;         /* n when g_down was last 0. */
    double sum0_down;         /* sum when g_down was last 0. */
    uint32_t state;           /* enum drift_state of the last update. */
};

/* ---- ADWIN ------------------------------------------------------------- */

/* Defaults: delta 0.002, delta_warning 0.1, clock 32, min_window 5.
 * out is the caller's. */
void drift_adwin_params_default(struct drift_adwin_params *out);

/* Initialise *a (the caller's storage) empty with parameters p (borrows;
 * NULL for the defaults). Returns 0 or -EINVAL (a out of range): a then
 * unusable. Nothing to close. */
int drift_adwin_init(struct drift_adwin *a, const struct drift_adwin_params *p);

/* Empty the window and the counters; parameters kept. */
void drift_adwin_reset(struct drift_adwin *a);

/* Add value x (a loss; the bound is tightest for values in [0, 1]) and
 * return the new state. A non-finite x is ignored (state NONE returned,
 * nothing counted in seen). */
enum drift_state drift_adwin_update(struct drift_adwin *a, double x);

/* Fill *out (the caller's) from a. */
void drift_adwin_status(const struct drift_adwin *a, struct drift_status *out);

/* Put the pending values into the bucket rows (len, b_total, b_var, rows)
 * as if each had gone there on its own update: a reader of those fields
 * (a checkpoint, a test) calls it first. Calls at any time leave the same
 * histogram, bit for bit, and change nothing else: the window's width,
 * total and variance are always up to date. */
void drift_adwin_flush(struct drift_adwin *a);

/* ---- Page-Hinkley ------------------------------------------------------ */

/* Defaults: delta 0.05, lambda 50, lambda_warning 25, alpha 1 - 1e-4,
 * min_instances 30, direction DRIFT_UP. MOA and River default to delta
 * 0.005; on a Bernoulli(0.2) 0/1 loss (sigma^2 = 0.16) that gives a false
 * alarm every ~1e5 values (CUSUM run length ~ exp(2 delta lambda / sigma^2)
 * sigma^2 / (2 delta^2)), while 0.05 gives ~1e12 and still detects a 0.2 ->
 * 0.8 shift in ~90 values. out is the caller's. */
void drift_ph_params_default(struct drift_ph_params *out);

/* Initialise *ph (the caller's storage) with parameters p (borrows; NULL
 * for the defaults). Returns 0 or -EINVAL: ph then unusable. */
int drift_ph_init(struct drift_ph *ph, const struct drift_ph_params *p);

/* Restart the statistics and clear the counters; parameters kept. */
void drift_ph_reset(struct drift_ph *ph);

/* Add value x and return the new state. A non-finite x is ignored (NONE
 * returned, nothing counted). */
enum drift_state drift_ph_update(struct drift_ph *ph, double x);

/* Fill *out (the caller's) from ph. */
void drift_ph_status(const struct drift_ph *ph, struct drift_status *out);

#endif /* WEIR_LEARN_DRIFT_H */
