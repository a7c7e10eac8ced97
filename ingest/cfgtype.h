/* cfgtype.h -- the value types only weir's own keys have (ingest/config.c
 * holds the tables; ingest/cfgkey.h has the generic types and explains
 * struct cfgkey_type).
 *
 * Threads: the configuration's thread only (main(), before any other
 * thread starts); the type objects are constant. */
#ifndef WEIR_INGEST_CFGTYPE_H
#define WEIR_INGEST_CFGTYPE_H

#include "ingest/cfgkey.h" /* For struct cfgkey_type. */

/* ---- Value types ------------------------------------------------------- */

/* [mqtt] uri: a list of scheme://host[:port][/path] (tcp, mqtt, ssl,
 * mqtts, ws, wss; port 1..65535), at most CONFIG_MAX_URIS, into
 * struct config_mqtt's uris and nuris (base is the struct). */
extern const struct cfgkey_type cfgtype_uris;

/* An output topic template ([topics]): no '+' or '#', placeholders
 * {name} as whole levels, every one of the spec's names[] present and no
 * other; a char * field. */
extern const struct cfgkey_type cfgtype_outtopic;

/* A subscription's topic template: '+' and a last '#' allowed, names[]
 * placeholders optional; sets the struct config_subscription's (base)
 * filter, has_device and has_sensor as ingest/topic.h parses it. */
extern const struct cfgkey_type cfgtype_intopic;

/* [task] target: one stream/rows.h term (NAME, NAME@+h) into struct
 * config_task's target and has_target. */
extern const struct cfgkey_type cfgtype_target;

/* [task] features: a list of distinct terms without a horizon (NAME,
 * NAME@-k), at most ROWS_MAX_FEATURES, into struct config_task's features
 * and nfeatures. */
extern const struct cfgkey_type cfgtype_features;

/* [task] window: "N rows" (10..100000000) or a duration (1s..30d) into
 * struct config_task's window_rows or window_ms (the other zeroed). */
extern const struct cfgkey_type cfgtype_window;

/* [http] listen: a numeric host:port, [v6]:port (port 0: any free one) or
 * off, into struct config_http's enabled, host and port. */
extern const struct cfgkey_type cfgtype_listen;

#endif /* WEIR_INGEST_CFGTYPE_H */
