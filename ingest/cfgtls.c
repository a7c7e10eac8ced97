/* cfgtls.c -- the TLS files of [mqtt], checked when the configuration is
 * read (see cfgtls.h).
 *
 * Only what can be told without OpenSSL: which PEM blocks a file holds
 * (from its BEGIN lines), whether a CA directory has the hashed names
 * OpenSSL looks up, whether a private key is encrypted or readable by
 * anyone. That catches the usual mistakes (a DER file, the key given as
 * the certificate, a CSR, a directory nobody ran `openssl rehash` on) at
 * `weir check-config` time with the file and line of the key, instead of
 * as a handshake failure at connect; OpenSSL parses the contents then.
 *
 * Threads: the configuration's thread only (see cfgtls.h). */
#include "ingest/cfgtls.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ingest/config.h" /* For struct config_mqtt. */

struct tls {
    struct cfgdiag *diag;             /* Messages (borrowed). */
    const struct config_mqtt *m;      /* Checked (borrowed). */
    const struct cfgtls_lines *lines; /* Where its keys are (borrowed). */
};

bool cfgtls_uri(const char *uri)
{
    return strncmp(uri, "ssl://", 6) == 0 || strncmp(uri, "mqtts://", 8) == 0 ||
           strncmp(uri, "wss://", 6) == 0;
}

bool cfgtls_wanted(const struct config_mqtt *m)
{
    for (size_t i = 0; i < m->nuris; i++)
        if (cfgtls_uri(m->uris[i]))
            return true;
    return false;
}

/* The line of a file key of [mqtt]. */
static int line_of(const struct tls *p, const char *key)
{
    if (strcmp(key, "ca_file") == 0)
        return p->lines->ca_file;
    if (strcmp(key, "cert_file") == 0)
        return p->lines->cert_file;
    return p->lines->key_file;
}

enum pem_kind {
    PEM_CERT = 1 << 0,      /* a certificate */
    PEM_KEY = 1 << 1,       /* a private key */
    PEM_ENCRYPTED = 1 << 2, /* the key needs a passphrase */
};

/* The PEM blocks in the file at path, as a mask of enum pem_kind; -errno
 * if it cannot be read. Only BEGIN lines are looked at: this catches the
 * wrong file (DER, a key given for a certificate, a CSR) when the
 * configuration is checked; OpenSSL parses the contents at connect. */
static int pem_scan(const char *path)
{
    char line[256];
    FILE *f = fopen(path, "re");
    int found = 0;

    if (f == NULL)
        return -errno;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "Proc-Type: 4,ENCRYPTED", 22) == 0)
            found |= PEM_ENCRYPTED; /* legacy OpenSSL key encryption */
        if (strncmp(line, "-----BEGIN ", 11) != 0)
            continue;
        if (strstr(line, "CERTIFICATE-----") != NULL) /* not a REQUEST */
            found |= PEM_CERT;
        else if (strstr(line, "ENCRYPTED PRIVATE KEY-----") != NULL)
            found |= PEM_KEY | PEM_ENCRYPTED;
        else if (strstr(line, "PRIVATE KEY-----") != NULL)
            found |= PEM_KEY;
    }
    if (ferror(f))
        found = -EIO;
    fclose(f);
    return found;
}

/* A directory of trusted certificates must hold OpenSSL's hashed names
 * (8 hex digits, '.', a digit: what `openssl rehash` makes). */
static bool has_hashed_names(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    bool found = false;

    if (d == NULL)
        return false;
    while (!found && (e = readdir(d)) != NULL)
        found = strlen(e->d_name) >= 10 &&
                strspn(e->d_name, "0123456789abcdef") == 8 &&
                e->d_name[8] == '.' && e->d_name[9] >= '0' &&
                e->d_name[9] <= '9';
    closedir(d);
    return found;
}

/* key (a key name) names a file that must hold want (enum pem_kind);
 * returns what it holds, or -1 after an error. */
static int check_pem(struct tls *p, const char *key, const char *path, int want,
                     const char *what)
{
    int line = line_of(p, key);
    struct stat st;
    int found;

    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        cfgdiag_error(p->diag, line, "[mqtt] %s = %s: not a regular file", key,
                      path);
        return -1;
    }
    if ((found = pem_scan(path)) < 0) {
        cfgdiag_error(p->diag, line, "[mqtt] %s = %s: cannot read it: %s", key,
                      path, strerror(-found));
        return -1;
    }
    if ((found & want) == 0) {
        cfgdiag_error(
            p->diag, line,
            "[mqtt] %s = %s: no PEM %s in it (a DER file converts with "
            "'openssl %s -inform der -in FILE -out FILE.pem')",
            key, path, what, want == PEM_CERT ? "x509" : "pkey");
        return -1;
    }
    return found;
}

/* ca_file: a PEM bundle, or a directory of hashed certificates. */
static void check_ca(struct tls *p, const char *ca)
{
    struct stat st;

    if (stat(ca, &st) == 0 && S_ISDIR(st.st_mode)) {
        if (!has_hashed_names(ca))
            cfgdiag_error(
                p->diag, p->lines->ca_file,
                "[mqtt] ca_file = %s: a directory without hashed "
                "certificate names, so OpenSSL would find no CA in it: run "
                "'openssl rehash %s' (or name a PEM file)",
                ca, ca);
        return;
    }
    check_pem(p, "ca_file", ca, PEM_CERT, "certificate");
}

/* Paho 1.3 turns TLS on at the first TLS URI of a list and never off
 * again, and a plain fallback would defeat TLS anyway. */
static void check_tls_uris(struct tls *p)
{
    const struct config_mqtt *m = p->m;
    size_t tls = 0;

    for (size_t i = 0; i < m->nuris; i++)
        tls += cfgtls_uri(m->uris[i]);
    if (tls > 0 && tls < m->nuris)
        cfgdiag_error(
            p->diag, p->lines->uri,
            "[mqtt] uri: TLS and plain URIs in one list: a failover to a "
            "plain URI would send the password and readings in the clear "
            "(and Paho keeps TLS on once used): use one kind");
}

/* The client's key: in key_file, or in cert_file without one; not
 * encrypted (weir cannot ask for a passphrase); not readable by anyone. */
static void check_client_key(struct tls *p, int cert, int key)
{
    const struct config_mqtt *m = p->m;
    const char *path = m->key_file ? m->key_file : m->cert_file;
    const char *name = m->key_file ? "key_file" : "cert_file";
    int line = line_of(p, name);
    int found = m->key_file ? key : cert;
    struct stat st;

    if (found < 0)
        return; /* already reported */
    if (!m->key_file && !(found & PEM_KEY)) {
        cfgdiag_error(
            p->diag, line,
            "[mqtt] cert_file without key_file, and %s holds no private "
            "key: set key_file",
            path);
    } else if (found & PEM_ENCRYPTED) {
        cfgdiag_error(
            p->diag, line,
            "[mqtt] %s = %s: the private key is encrypted and weir cannot "
            "ask for a passphrase: store it decrypted, mode 0600 "
            "('openssl pkey -in KEY -out PLAIN')",
            name, path);
    } else if (stat(path, &st) == 0 && (st.st_mode & S_IROTH)) {
        cfgdiag_warning(
            p->diag, line,
            "[mqtt] %s = %s: the private key can be read by anyone: "
            "chmod 0600 (or 0640 with weir's group)",
            name, path);
    }
}

void cfgtls_check(struct cfgdiag *diag, const struct config_mqtt *m,
                  const struct cfgtls_lines *lines)
{
    struct tls t = {diag, m, lines};
    struct tls *p = &t;
    int cert = 0;
    int key = 0;

    if (!cfgtls_wanted(m))
        return; /* the TLS keys do not apply (ingest/config.c) */
    check_tls_uris(p);
    if (m->ca_file)
        check_ca(p, m->ca_file);
    if (m->cert_file)
        cert = check_pem(p, "cert_file", m->cert_file, PEM_CERT, "certificate");
    if (m->key_file)
        key = check_pem(p, "key_file", m->key_file, PEM_KEY, "private key");
    if (m->cert_file)
        check_client_key(p, cert, key);
}
