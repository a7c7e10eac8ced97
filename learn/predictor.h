/* predictor.h -- the small public C API for devices that consume published
 * model snapshots: load a ModelSnapshot, predict.
 *
 *     struct predictor *p;
 *     if (predictor_load(&p, payload, payload_len) == 0) {
 *         double x[3] = {21.5, 0.0, 450.0};
 *         uint8_t present[3] = {1, 0, 1};      // humidity is missing
 *         struct predictor_out o;
 *         predictor_predict(p, x, present, &o);
 *         ...                                  // o.value, o.label
 *         predictor_free(p);
 *     }
 *
 * Inputs are the snapshot's *features*, in its order (predictor_feature_name
 * or predictor_feature_index map names to positions); the "?missing"
 * indicator inputs are derived from present[] here, exactly as the learner
 * does: a missing or non-finite value is imputed at the feature's running
 * mean and its indicator set to 1. The scaler state, weights and link are
 * the snapshot's, and the arithmetic is learn/scaler.h and learn/model.h's
 * own, so a prediction equals the learner's (learner_predict()) for the
 * same state bit for bit.
 *
 * Threads: a loaded predictor is immutable. predictor_predict() has no side
 * effects (it writes only its outputs), so any number of threads may call
 * it on one predictor at once. */
#ifndef WEIR_LEARN_PREDICTOR_H
#define WEIR_LEARN_PREDICTOR_H

#include <stddef.h> /* For size_t. */
#include <stdint.h> /* For uint8_t, uint64_t. */

#include "proto/snapshot.h" /* For struct snapshot, enum snapshot_kind. */

struct predictor;

/* A prediction. */
struct predictor_out {
    double value; /* Regression: the prediction in target units.
                     Classification: the probability of `label`. */
    size_t label; /* Classification: the predicted class index (lowest on
                     ties); 0 for regression. */
};

/* ---- Lifecycle --------------------------------------------------------- */

/* Decode an encoded ModelSnapshot (buf borrowed) and build a predictor.
 * Returns 0 and *out (returns owned; predictor_free()), or -EMSGSIZE,
 * -EBADMSG (not a usable snapshot: snapshot_decode's checks, or inputs not
 * laid out as features then their "?missing" indicators), -EPROTONOSUPPORT
 * (a newer format or an unsupported model kind), -ENOMEM. */
int predictor_load(struct predictor **out, const uint8_t *buf, size_t len);

/* The same from an already decoded snapshot (borrowed; copied). */
int predictor_from_snapshot(struct predictor **out, const struct snapshot *s);

/* Free p (takes it); NULL is a no-op. */
void predictor_free(struct predictor *p);

/* ---- Description ------------------------------------------------------- */

enum snapshot_kind predictor_kind(const struct predictor *p);
uint64_t predictor_version(const struct predictor *p);
size_t predictor_features(const struct predictor *p);
/* Name of feature i (borrowed until predictor_free), NULL if out of range. */
const char *predictor_feature_name(const struct predictor *p, size_t i);
/* Position of the named feature, or -1. */
long predictor_feature_index(const struct predictor *p, const char *name);
size_t predictor_classes(const struct predictor *p); /* 0: regression */
/* Label of class k (borrowed), NULL if out of range. */
const char *predictor_class_label(const struct predictor *p, size_t k);

/* ---- Prediction -------------------------------------------------------- */

/* Predict for x[predictor_features()] with present[] (0/1; NULL = all
 * present), both borrowed. proba (the caller's, predictor_classes()
 * entries, or NULL) receives class probabilities. Returns 0, or -ENOMEM
 * only for models over 512 inputs when scratch memory cannot be had. */
int predictor_predict(const struct predictor *p, const double *x,
                      const uint8_t *present, double *proba,
                      struct predictor_out *out);

#endif /* WEIR_LEARN_PREDICTOR_H */
