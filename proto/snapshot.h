/* snapshot.h -- a plain C mirror of the protobuf ModelSnapshot, and its
 * encoder and decoder.
 *
 * A snapshot carries everything a device needs to predict with a trained
 * model (feature names, per-input scaler state and imputed values, weights,
 * hyper-parameters) plus how good the model is (validation, test and
 * baseline metrics, drift state). The learner fills a struct snapshot from
 * its champion and encodes it; devices decode one and hand it to
 * learn/predictor.h. Nothing outside proto/ sees protobuf-c types
 * (STYLE R22): this header is the door.
 *
 * Compatibility (proto/weir.proto's rules): the decoder ignores fields it
 * does not know, refuses a format_version newer than SNAPSHOT_FORMAT_VERSION
 * (-EPROTONOSUPPORT) and any message whose parts are inconsistent (weights
 * not outputs x (inputs + 1), one scaler per input, non-finite weights,
 * input scales that are not one per input or not finite and >= 0, ...)
 * with -EBADMSG, so a decoded snapshot can always be used to predict without
 * further checks. Doubles travel as fixed64, so a round trip is bit-exact.
 * Optional metric fields that are absent decode to NaN, and NaN metric fields
 * are omitted when encoding: NaN is the C side's "absent".
 *
 * Limits bound what a hostile payload can make the decoder allocate:
 * SNAPSHOT_MAX_BYTES of input, SNAPSHOT_MAX_INPUTS inputs, and so on.
 *
 * Threads: pure functions over caller-owned values; any thread may call
 * them on distinct snapshots. */
#ifndef WEIR_PROTO_SNAPSHOT_H
#define WEIR_PROTO_SNAPSHOT_H

#include <stdbool.h> /* For bool. */
#include <stddef.h>  /* For size_t. */
#include <stdint.h>  /* For uint8_t, uint32_t, uint64_t, int64_t. */

/* ---- Limits ------------------------------------------------------------ */

#define SNAPSHOT_FORMAT_VERSION 1u     /* what this code writes and reads */
#define SNAPSHOT_MAX_BYTES (16u << 20) /* encoded size accepted by decode */
#define SNAPSHOT_MAX_INPUTS 65536u     /* feature_names entries */
#define SNAPSHOT_MAX_OUTPUTS 1024u     /* outputs (softmax classes) */
#define SNAPSHOT_MAX_BASELINES 16u     /* baselines entries */
#define SNAPSHOT_MAX_EXTRA (SNAPSHOT_MAX_INPUTS + 64u) /* hyper.extra */
#define SNAPSHOT_NAME_MAX 256u /* bytes of any name, NUL excluded */

/* ---- Types ------------------------------------------------------------- */

/* Values of weir.ModelKind. */
enum snapshot_kind {
    SNAPSHOT_KIND_UNKNOWN = 0,
    SNAPSHOT_KIND_LINEAR = 1,   /* squared-loss regression */
    SNAPSHOT_KIND_LOGISTIC = 2, /* binary classification, 1 output */
    SNAPSHOT_KIND_SOFTMAX = 3,  /* K classes, K outputs */
    SNAPSHOT_KIND_ANOMALY = 4,  /* anomaly score in [0, 1] */
};

/* Values of weir.Optimizer. */
enum snapshot_optimizer {
    SNAPSHOT_OPT_UNKNOWN = 0,
    SNAPSHOT_OPT_SGD = 1,
    SNAPSHOT_OPT_ADAGRAD = 2,
    SNAPSHOT_OPT_NORMALIZED = 3,
};

/* Values of weir.DriftState. */
enum snapshot_drift {
    SNAPSHOT_DRIFT_NONE = 0,
    SNAPSHOT_DRIFT_WARNING = 1,
    SNAPSHOT_DRIFT_DETECTED = 2,
};

/* Welford state of one column: weir.ScalerState. */
struct snapshot_scaler {
    uint64_t count; /* Values seen. */
    double mean;    /* Their running mean. */
    double m2;      /* Sum of squared deviations from the mean. */
};

/* weir.MetricSet; a NaN field is absent on the wire. */
struct snapshot_metrics {
    uint64_t rows;         /* Rows scored. */
    double mae;            /* Regression. */
    double rmse;           /* Regression. */
    double r2;             /* Regression. */
    double accuracy;       /* Classification. */
    double log_loss;       /* Classification. */
    double macro_f1;       /* Classification. */
    double kappa;          /* Classification: Cohen's kappa. */
    double kappa_temporal; /* Classification: against the no-change model. */
};

/* One extra hyper-parameter (weir.Metric inside HyperParams.extra). */
struct snapshot_param {
    char *name;   /* Owned. */
    double value; /* As configured. */
};

/* weir.ModelSnapshot. Every pointer is owned by the struct and freed by
 * snapshot_close(); arrays have the lengths named beside them. */
struct snapshot {
    uint32_t format_version; /* SNAPSHOT_FORMAT_VERSION when made here. */
    char *task;              /* Task name; may be NULL. */
    char *target;            /* Target column; may be NULL. */
    char *candidate;         /* Champion configuration's name; may be NULL. */
    uint64_t version;        /* Monotonic per task. */
    int64_t created_at_ms;   /* ms since the Unix epoch (data time). */
    enum snapshot_kind kind; /* Model kind. */

    enum snapshot_optimizer optimizer; /* Hyper-parameters... */
    double learning_rate;              /* ...base step size... */
    double l2;                         /* ...and L2 strength. */
    size_t n_extra;                    /* Entries in extra. */
    struct snapshot_param *extra;      /* Further hyper-parameters. */

    size_t n_inputs;                        /* Model inputs (incl. ?missing). */
    char **feature_names;                   /* [n_inputs] input names. */
    struct snapshot_scaler *feature_scaler; /* [n_inputs] scaler states. */
    double *impute;         /* [n_inputs] value used when an input is absent. */
    bool has_target_scaler; /* Regression only. */
    struct snapshot_scaler target_scaler; /* Valid if has_target_scaler. */

    uint32_t outputs;    /* 1 (linear, logistic, anomaly) or K (softmax). */
    double *weights;     /* [outputs][n_inputs + 1], bias last in each row. */
    double *input_scale; /* [n_inputs] or NULL: the normalized optimizer's
                            per-input scales (ModelSnapshot.input_scale;
                            snapshot_alloc_input_scale()). */
    size_t n_classes;    /* Entries in class_labels (0 for regression). */
    char **class_labels; /* [n_classes] label of each class. */

    struct snapshot_metrics validation; /* Last closed window, champion. */
    struct snapshot_metrics test;       /* Test stream, champion. */
    size_t n_baselines;                 /* Entries in the next two. */
    struct snapshot_metrics *baselines; /* [n_baselines], same window. */
    char **baseline_names;              /* [n_baselines] their names. */

    uint64_t window_id;        /* Window the validation metrics came from. */
    enum snapshot_drift drift; /* Champion's drift state. */
    uint64_t rows_trained;     /* Rows the champion was trained on. */
};

/* ---- Lifecycle ---------------------------------------------------------- */

/* Make s empty: no arrays, NaN metrics, format_version set. Borrows s. */
void snapshot_init(struct snapshot *s);

/* Free everything s owns and make it empty again. snapshot_close() of an
 * initialised, empty snapshot is a no-op. Borrows s. */
void snapshot_close(struct snapshot *s);

/* Allocate the arrays of an empty snapshot s (names NULL, numbers zero,
 * metrics NaN) for the given sizes; sets n_inputs, outputs, n_classes,
 * n_baselines, n_extra. 0, -EINVAL (sizes over the limits or s not empty)
 * or -ENOMEM (s is left empty). Borrows s. */
int snapshot_alloc(struct snapshot *s, size_t n_inputs, uint32_t outputs,
                   size_t n_classes, size_t n_baselines, size_t n_extra);

/* Allocate s->input_scale (n_inputs zeros) for a snapshot made by
 * snapshot_alloc(). 0, -EINVAL (already there) or -ENOMEM (s unchanged).
 * Borrows s. */
int snapshot_alloc_input_scale(struct snapshot *s);

/* Replace *dst with an owned copy of src (NULL allowed). 0 or -ENOMEM
 * (*dst unchanged). Borrows src. */
int snapshot_set_string(char **dst, const char *src);

/* Fill m with NaN metrics and rows = 0. Borrows m. */
void snapshot_metrics_clear(struct snapshot_metrics *m);

/* ---- Encoding ------------------------------------------------------------ */

/* 0 if s is consistent enough to encode and to predict with, else -EBADMSG
 * (or -EPROTONOSUPPORT for a format_version this code does not know).
 * Borrows s. */
int snapshot_check(const struct snapshot *s);

/* Encode s as a ModelSnapshot into a new buffer: *out returns owned (free()),
 * *len its size. 0, -EBADMSG (snapshot_check failed) or -ENOMEM. Borrows s. */
int snapshot_encode(const struct snapshot *s, uint8_t **out, size_t *len);

/* Decode buf[0..len) into out, which must be empty (snapshot_init); out
 * returns owned members (snapshot_close). 0, -EMSGSIZE (len over
 * SNAPSHOT_MAX_BYTES), -EBADMSG (not a ModelSnapshot, or inconsistent),
 * -EPROTONOSUPPORT (format_version newer than this code) or -ENOMEM; on
 * error out is left empty. Borrows buf. */
int snapshot_decode(const uint8_t *buf, size_t len, struct snapshot *out);

#endif /* WEIR_PROTO_SNAPSHOT_H */
