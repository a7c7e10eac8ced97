/* setup.h -- from a parsed configuration (ingest/config.h) to the core's
 * parts: name tables, decoder, pipeline. The daemon and `weir replay`
 * build their core here, with the same code, which is what lets a replay
 * reproduce the daemon's models bit for bit.
 *
 * struct setup_core owns the parts; setup_core_open() builds them in the
 * order a restore needs: name tables, then (optionally) the checkpoint's
 * names imported into them, then the decoder, then the pipeline (which
 * interns rule and task names after the imported ones), then the
 * checkpoint's pipeline image.
 *
 * Threads: the calling thread builds and owns everything; afterwards the
 * daemon hands the decoder to Paho's callback thread (see ingest/app.c). */
#ifndef WEIR_INGEST_SETUP_H
#define WEIR_INGEST_SETUP_H

#include <stdbool.h> /* For bool. */
#include <stddef.h>  /* For size_t. */
#include <stdint.h>  /* For uint64_t. */

#include "ingest/checkpoint.h" /* For struct checkpoint. */
#include "ingest/config.h"     /* For struct config. */
#include "ingest/decoder.h"    /* For struct decoder. */
#include "ingest/pipeline.h"   /* For struct pipeline. */
#include "ingest/publish.h"    /* For publish_fn, struct publish_topics. */

struct setup_core {
    struct intern *devices;    /* Owned. */
    struct intern *sensors;    /* Owned. */
    struct decoder *decoder;   /* Owned. */
    struct pipeline *pipeline; /* Owned. */
    bool restored;             /* The checkpoint's image was applied. */
    int restore_rc;            /* ...or why not all of it (0: all). */
};

/* Build the core from cfg (borrowed; must outlive the core). extra_csv
 * adds a first subscription for REPLAY_CSV_TEMPLATE (weir replay --csv).
 * ck (may be NULL) is a loaded checkpoint to restore. emit/ctx receive the
 * pipeline's outputs. Returns 0, or a negative errno with the reason in
 * err. On error *core is left empty. */
int setup_core_open(struct setup_core *core, const struct config *cfg,
                    bool extra_csv, const struct checkpoint *ck,
                    publish_fn emit, void *ctx, char *err, size_t errlen);

/* Free the parts (NULL members are skipped) and empty *core. */
void setup_core_close(struct setup_core *core);

/* Output topics, QoS and retain flags from cfg's [topics]. */
void setup_topics(const struct config *cfg, struct publish_topics *out);

/* Which reject reasons go to the dead-letter topic: all but duplicates
 * when [topics] publish_rejects is on (duplicates are normal traffic --
 * QoS 1 redeliveries -- and are counted instead), none when off. */
uint32_t setup_dead_letter_mask(const struct config *cfg);

#endif /* WEIR_INGEST_SETUP_H */
