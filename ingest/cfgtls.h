/* cfgtls.h -- the TLS settings of [mqtt] checked when the configuration is
 * read: the CA file or directory, the client certificate and its key are
 * the right kind of PEM file, the key is not encrypted (weir cannot ask
 * for a passphrase) and not readable by anyone (a warning), and a URI
 * list does not mix TLS and plain brokers.
 *
 * Threads: the configuration's thread only (main(), before any other
 * thread starts). */
#ifndef WEIR_INGEST_CFGTLS_H
#define WEIR_INGEST_CFGTLS_H

#include <stdbool.h> /* For bool. */

#include "ingest/cfgdiag.h" /* For struct cfgdiag. */

/* ---- Types ------------------------------------------------------------- */

struct config_mqtt; /* ingest/config.h */

/* The lines messages about each key go to: where it was set, else the
 * [mqtt] header (0: not in the file). */
struct cfgtls_lines {
    int uri;       /* [mqtt] uri. */
    int ca_file;   /* [mqtt] ca_file. */
    int cert_file; /* [mqtt] cert_file. */
    int key_file;  /* [mqtt] key_file. */
};

/* ---- Operations -------------------------------------------------------- */

/* The URI (borrowed) is a TLS one: ssl://, mqtts:// or wss://. */
bool cfgtls_uri(const char *uri);

/* Some URI of m (borrowed) is a TLS one. */
bool cfgtls_wanted(const struct config_mqtt *m);

/* If m (borrowed) uses TLS, check its URIs and files, reporting to diag
 * (borrowed) at lines (borrowed). Reads the files; changes nothing. */
void cfgtls_check(struct cfgdiag *diag, const struct config_mqtt *m,
                  const struct cfgtls_lines *lines);

#endif /* WEIR_INGEST_CFGTLS_H */
