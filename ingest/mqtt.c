/* mqtt.c -- Paho MQTTAsync behind a worker thread (see mqtt.h for what and
 * why).
 *
 * The worker is a small state machine:
 *
 *     IDLE --connect--> CONNECTING --onSuccess--> CONNECTED
 *     CONNECTED --(no session, or first connect)--> SUBSCRIBING --> READY
 *     CONNECTED --(session present)--> READY
 *     READY: publish `online`, then take items off the outbox and send
 *     any --connectionLost / onFailure--> IDLE (retry after back-off)
 *     READY --pause/stop--> DISCONNECTING --> PAUSED / STOPPED
 *
 * Paho's callbacks only update the state under our mutex and signal the
 * worker; the worker never holds our mutex while calling into Paho (the
 * callbacks run with Paho's mutex held and then take ours: holding ours
 * across a Paho call would be a lock-order inversion).
 *
 * The first connect of a process always subscribes, even when the broker
 * has the session, because the configuration may have changed since the
 * session was made; MQTT 5 subscriptions ask for retained messages only
 * for new subscriptions (Retain Handling 1), so that costs no redelivery.
 * Later reconnects subscribe only if the session is gone.
 *
 * Threads: see mqtt.h. Fields marked "lock" are guarded by m->lock;
 * counters are atomics. */
#include "ingest/mqtt.h"

#include <MQTTAsync.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ingest/log.h"

enum state {
    ST_IDLE,          /* Not connected; connect at next_attempt_ms. */
    ST_CONNECTING,    /* MQTTAsync_connect() issued. */
    ST_CONNECTED,     /* CONNACK accepted; not subscribed yet. */
    ST_SUBSCRIBING,   /* SUBSCRIBE issued. */
    ST_READY,         /* Subscribed: publishing. */
    ST_DISCONNECTING, /* MQTTAsync_disconnect() issued. */
    ST_PAUSED,        /* Disconnected on purpose (mqtt_pause()). */
    ST_STOPPED,       /* Disconnected for good. */
};

struct mqtt {
    struct mqtt_config cfg;     /* Copied; strings borrowed. */
    MQTTAsync client;           /* Paho handle. */
    pthread_t worker;           /* The worker thread. */
    bool started;               /* worker exists; main thread. */
    pthread_mutex_t lock;       /* Guards the "lock" fields. */
    pthread_cond_t cond;        /* Signalled on every state change. */
    enum state state;           /* lock */
    bool stop;                  /* lock: mqtt_stop() asked. */
    bool pause;                 /* lock: mqtt_pause() asked. */
    bool session_present;       /* lock: of the last CONNACK. */
    bool ever_subscribed;       /* lock: a subscribe completed. */
    bool announced;             /* lock: READY was announced. */
    bool force;                 /* lock: stop without waiting. */
    int64_t next_attempt_ms;    /* lock: monotonic. */
    int64_t backoff_ms;         /* lock: next back-off. */
    uint64_t jitter;            /* lock: PRNG state. */
    char password[256];         /* Worker: from password_file. */
    bool failed;                /* lock: a failed connect awaits its log. */
    int fail_code;              /* lock: Paho's code or CONNACK's. */
    char fail_msg[64];          /* lock: Paho's failure text. */
    char tls_error[192];        /* lock: OpenSSL's first reason in the
                                   current attempt, or "". */
    atomic_bool connected;      /* READY, for any thread. */
    atomic_uint_fast64_t n[11]; /* struct mqtt_stats, in order. */
};

enum {
    N_CONNECTS,
    N_RECONNECTS,
    N_CONNECT_FAIL,
    N_LOST,
    N_SUBSCRIBES,
    N_SUB_FAIL,
    N_SESSIONS,
    N_PUBLISHED,
    N_PUB_FAIL,
    N_INFLIGHT,
    N_RECEIVED,
};

static void count(struct mqtt *m, int i)
{
    atomic_fetch_add_explicit(&m->n[i], 1, memory_order_relaxed);
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int mqtt_errno(int rc)
{
    switch (rc) {
    case MQTTASYNC_SUCCESS:
        return 0;
    case MQTTASYNC_DISCONNECTED:
        return -ENOTCONN;
    case MQTTASYNC_MAX_MESSAGES_INFLIGHT:
    case MQTTASYNC_NO_MORE_MSGIDS:
    case MQTTASYNC_MAX_BUFFERED_MESSAGES:
    case MQTTASYNC_MAX_BUFFERED:
        return -EAGAIN;
    case MQTTASYNC_BAD_UTF8_STRING:
    case MQTTASYNC_NULL_PARAMETER:
    case MQTTASYNC_TOPICNAME_TRUNCATED:
    case MQTTASYNC_BAD_STRUCTURE:
    case MQTTASYNC_BAD_QOS:
    case MQTTASYNC_BAD_PROTOCOL:
    case MQTTASYNC_BAD_MQTT_OPTION:
    case MQTTASYNC_WRONG_MQTT_VERSION:
    case MQTTASYNC_0_LEN_WILL_TOPIC:
        return -EINVAL;
    case MQTTASYNC_SSL_NOT_SUPPORTED:
        return -ENOTSUP;
    case MQTTASYNC_OPERATION_INCOMPLETE:
        return -EINPROGRESS;
    case MQTTASYNC_COMMAND_IGNORED:
        return -EALREADY;
    default:
        return -EIO;
    }
}

/* Move to state s and wake the worker; call with the lock held. */
static void set_state(struct mqtt *m, enum state s)
{
    if (s != ST_READY)
        m->announced = false;
    m->state = s;
    atomic_store_explicit(&m->connected, s == ST_READY, memory_order_release);
    pthread_cond_broadcast(&m->cond);
}

/* Schedule the next connect after the back-off (with +-20 % jitter) and
 * double the back-off; call with the lock held. */
static void schedule_retry(struct mqtt *m)
{
    int64_t b = m->backoff_ms;
    int64_t j;

    m->jitter = m->jitter * 6364136223846793005ULL + 1442695040888963407ULL;
    j = b / 5 > 0 ? (int64_t)((m->jitter >> 33) % (uint64_t)(2 * (b / 5) + 1))
                  : 0;
    m->next_attempt_ms = now_ms() + b - b / 5 + j;
    m->backoff_ms = b * 2 < m->cfg.retry_max_ms ? b * 2 : m->cfg.retry_max_ms;
}

/* ---- Paho callbacks (Paho's threads) ----------------------------------- */

/* Called on: Paho's receive thread. */
static int on_message(void *ctx, char *topic, int topic_len,
                      MQTTAsync_message *msg)
{
    struct mqtt *m = ctx;
    size_t tl = topic_len > 0 ? (size_t)topic_len : strlen(topic);
    int rc;

    count(m, N_RECEIVED);
    rc = m->cfg.on_message(m->cfg.ctx, topic, tl, msg->payload,
                           (size_t)msg->payloadlen, msg->qos, msg->dup != 0);
    if (rc) {
        MQTTAsync_freeMessage(&msg);
        MQTTAsync_free(topic);
    }
    return rc;
}

/* Called on: a Paho thread. */
static void on_lost(void *ctx, char *cause)
{
    struct mqtt *m = ctx;
    bool was_ready;

    log_msg(LOG_WARN, "mqtt: connection lost (%s)", cause ? cause : "?");
    count(m, N_LOST);
    pthread_mutex_lock(&m->lock);
    was_ready = m->state == ST_READY;
    if (m->state != ST_STOPPED && m->state != ST_PAUSED) {
        set_state(m, ST_IDLE);
        m->backoff_ms = m->cfg.retry_min_ms;
        schedule_retry(m);
    }
    pthread_mutex_unlock(&m->lock);
    if (was_ready && m->cfg.on_state != NULL)
        m->cfg.on_state(m->cfg.ctx, false, false);
}

static void connected(struct mqtt *m, int session_present)
{
    pthread_mutex_lock(&m->lock);
    if (atomic_fetch_add(&m->n[N_CONNECTS], 1) > 0)
        count(m, N_RECONNECTS);
    if (session_present)
        count(m, N_SESSIONS);
    atomic_store(&m->n[N_INFLIGHT], 0);
    m->session_present = session_present != 0;
    m->backoff_ms = m->cfg.retry_min_ms;
    if (m->state == ST_CONNECTING)
        set_state(m, ST_CONNECTED);
    pthread_mutex_unlock(&m->lock);
}

/* Record a failed attempt; the worker logs it (report_failure()), since
 * explaining it may take a TCP probe, which must not run here with Paho's
 * mutex held. code: a CONNACK return/reason code (> 0) or Paho's own
 * (< 0). Called on: a Paho thread. */
static void connect_failed(struct mqtt *m, int code, const char *msg)
{
    count(m, N_CONNECT_FAIL);
    pthread_mutex_lock(&m->lock);
    if (m->state == ST_CONNECTING) {
        m->failed = true;
        m->fail_code = code;
        snprintf(m->fail_msg, sizeof(m->fail_msg), "%s",
                 msg ? msg : "no reason given");
        set_state(m, ST_IDLE);
        schedule_retry(m);
    }
    pthread_mutex_unlock(&m->lock);
}

/* OpenSSL's error line, "<tid>:error:<code>:<lib>:<func>:<reason>:<file>:
 * <line>:<data>" (1.1 and 3.x), reduced to "reason" or "reason (data)";
 * anything else is kept whole. */
static void tls_reason(const char *str, size_t len, char *out, size_t cap)
{
    char line[512];
    char *f[6]; /* code lib func reason file line */
    char *p;
    int whole;
    int n = 0;

    snprintf(line, sizeof(line), "%.*s", (int)(len < 511 ? len : 511), str);
    p = line + strlen(line);
    while (p > line && (p[-1] == '\n' || p[-1] == ':' || p[-1] == ' '))
        *--p = '\0';
    whole = (int)(p - line);
    if ((p = strstr(line, ":error:")) != NULL)
        p += 7;
    for (; p != NULL && n < 6; n++) {
        f[n] = p;
        if ((p = strchr(p, ':')) != NULL)
            *p++ = '\0';
    }
    if (n < 4) /* not OpenSSL's layout: keep it whole */
        snprintf(out, cap, "%.*s", whole, str);
    else if (p != NULL && *p != '\0') /* p: the data, colons and all */
        snprintf(out, cap, "%s (%s)", f[3], p);
    else
        snprintf(out, cap, "%s", f[3]);
}

/* OpenSSL's reasons for a failed TLS set-up or handshake; the first of an
 * attempt is kept for report_failure(). Returning 0 lets OpenSSL go on
 * to the next queued error. Called on: a Paho thread, Paho's mutex held. */
static int on_tls_error(const char *str, size_t len, void *ctx)
{
    struct mqtt *m = ctx;

    pthread_mutex_lock(&m->lock);
    if (m->tls_error[0] == '\0')
        tls_reason(str, len, m->tls_error, sizeof(m->tls_error));
    pthread_mutex_unlock(&m->lock);
    return 0;
}

/* Called on: a Paho thread. */
static void on_connect3(void *ctx, MQTTAsync_successData *d)
{
    connected(ctx, d ? d->alt.connect.sessionPresent : 0);
}

static void on_connect5(void *ctx, MQTTAsync_successData5 *d)
{
    connected(ctx, d ? d->alt.connect.sessionPresent : 0);
}

static void on_connect_fail3(void *ctx, MQTTAsync_failureData *d)
{
    connect_failed(ctx, d ? d->code : 0, d ? d->message : NULL);
}

/* Paho 1.3.12 puts a refused CONNACK's reason code in d->code and
 * leaves d->reasonCode 0 for a failed connect. */
static void on_connect_fail5(void *ctx, MQTTAsync_failureData5 *d)
{
    int code = d ? d->code : 0;

    if (d != NULL && code == 0)
        code = (int)d->reasonCode;
    connect_failed(ctx, code, d ? d->message : NULL);
}

static void subscribed(struct mqtt *m, int refused)
{
    if (refused > 0)
        log_msg(LOG_ERROR, "mqtt: the broker refused %d subscription(s)",
                refused);
    atomic_fetch_add(&m->n[N_SUB_FAIL], (uint64_t)refused);
    count(m, N_SUBSCRIBES);
    pthread_mutex_lock(&m->lock);
    m->ever_subscribed = true;
    if (m->state == ST_SUBSCRIBING)
        set_state(m, ST_READY);
    pthread_mutex_unlock(&m->lock);
}

/* Called on: a Paho thread. */
static void on_sub3(void *ctx, MQTTAsync_successData *d)
{
    struct mqtt *m = ctx;
    int refused = 0;
    size_t i;

    for (i = 0; d != NULL && m->cfg.nsubs > 1 && i < m->cfg.nsubs; i++)
        refused += d->alt.qosList != NULL && d->alt.qosList[i] >= 0x80;
    if (d != NULL && m->cfg.nsubs == 1 && d->alt.qos >= 0x80)
        refused = 1;
    subscribed(m, refused);
}

static void on_sub5(void *ctx, MQTTAsync_successData5 *d)
{
    int refused = 0;
    int i;

    /* Paho 1.3 fills reasonCodes only for more than one filter (and
     * leaves the pointer uninitialised otherwise): one is in reasonCode. */
    if (d != NULL && d->alt.sub.reasonCodeCount > 1) {
        for (i = 0; i < d->alt.sub.reasonCodeCount; i++)
            refused += d->alt.sub.reasonCodes[i] >= 0x80;
    } else if (d != NULL && d->reasonCode >= 0x80) {
        refused = 1;
    }
    subscribed(ctx, refused);
}

static void sub_failed(struct mqtt *m, int code)
{
    log_msg(LOG_ERROR, "mqtt: subscribe failed (code %d); reconnecting", code);
    count(m, N_SUB_FAIL);
    pthread_mutex_lock(&m->lock);
    if (m->state == ST_SUBSCRIBING) {
        set_state(m, ST_IDLE); /* the worker disconnects and retries */
        schedule_retry(m);
    }
    pthread_mutex_unlock(&m->lock);
}

static void on_sub_fail3(void *ctx, MQTTAsync_failureData *d)
{
    sub_failed(ctx, d ? d->code : 0);
}

static void on_sub_fail5(void *ctx, MQTTAsync_failureData5 *d)
{
    sub_failed(ctx, d ? (int)d->reasonCode : 0);
}

static void published(struct mqtt *m, bool ok)
{
    uint64_t v = atomic_load(&m->n[N_INFLIGHT]);

    while (v > 0 && !atomic_compare_exchange_weak(&m->n[N_INFLIGHT], &v, v - 1))
        ;
    count(m, ok ? N_PUBLISHED : N_PUB_FAIL);
    pthread_mutex_lock(&m->lock);
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
}

static void on_pub3(void *ctx, MQTTAsync_successData *d)
{
    (void)d;
    published(ctx, true);
}

static void on_pub5(void *ctx, MQTTAsync_successData5 *d)
{
    (void)d;
    published(ctx, true);
}

static void on_pub_fail3(void *ctx, MQTTAsync_failureData *d)
{
    (void)d;
    published(ctx, false);
}

static void on_pub_fail5(void *ctx, MQTTAsync_failureData5 *d)
{
    (void)d;
    published(ctx, false);
}

static void disconnected(struct mqtt *m)
{
    pthread_mutex_lock(&m->lock);
    if (m->state == ST_DISCONNECTING)
        set_state(m, m->stop ? ST_STOPPED : ST_PAUSED);
    pthread_mutex_unlock(&m->lock);
}

static void on_disc3(void *ctx, MQTTAsync_successData *d)
{
    (void)d;
    disconnected(ctx);
}

static void on_disc5(void *ctx, MQTTAsync_successData5 *d)
{
    (void)d;
    disconnected(ctx);
}

static void on_disc_fail3(void *ctx, MQTTAsync_failureData *d)
{
    (void)d;
    disconnected(ctx);
}

static void on_disc_fail5(void *ctx, MQTTAsync_failureData5 *d)
{
    (void)d;
    disconnected(ctx);
}

/* ---- Worker: Paho calls ------------------------------------------------ */

static bool is_tls_uri(const char *uri)
{
    return strncmp(uri, "ssl://", 6) == 0 || strncmp(uri, "mqtts://", 8) == 0 ||
           strncmp(uri, "wss://", 6) == 0;
}

static bool uses_tls(const struct mqtt_config *c)
{
    size_t i;

    for (i = 0; i < c->nuris; i++)
        if (is_tls_uri(c->uris[i]))
            return true;
    return false;
}

/* TLS options from the configuration. ca_file may name a PEM file
 * (trustStore) or a directory of hashed certificates (OpenSSL's CApath,
 * as `openssl rehash` makes); without it Paho loads OpenSSL's default
 * store (SSL_CTX_set_default_verify_paths: the system's CAs, or
 * $SSL_CERT_FILE / $SSL_CERT_DIR). With a cert_file and no key_file Paho
 * reads the key from cert_file. verify makes Paho check the host name of
 * the URI against the certificate (X509_check_host, then
 * X509_check_ip_asc), which enableServerCertAuth alone does not. */
static void tls_options(struct mqtt *m, MQTTAsync_SSLOptions *ssl)
{
    struct stat st;
    const char *ca = m->cfg.ca_file;

    if (ca != NULL && stat(ca, &st) == 0 && S_ISDIR(st.st_mode))
        ssl->CApath = ca;
    else
        ssl->trustStore = ca;
    ssl->keyStore = m->cfg.cert_file;
    ssl->privateKey = m->cfg.key_file;
    ssl->enableServerCertAuth = m->cfg.tls_verify;
    ssl->verify = m->cfg.tls_verify;
    ssl->disableDefaultTrustStore = 0;
    ssl->ssl_error_cb = on_tls_error;
    ssl->ssl_error_context = m;
}

/* The password: inline, or the first line of password_file (read at each
 * connect, so a rotated secret is picked up). NULL if none. */
static const char *password(struct mqtt *m)
{
    FILE *f;
    size_t n;

    if (m->cfg.password_file == NULL)
        return m->cfg.password;
    if ((f = fopen(m->cfg.password_file, "re")) == NULL) {
        log_msg(LOG_ERROR, "mqtt: cannot read password_file %s: %s",
                m->cfg.password_file, strerror(errno));
        return NULL;
    }
    if (fgets(m->password, sizeof(m->password), f) == NULL)
        m->password[0] = '\0';
    fclose(f);
    n = strcspn(m->password, "\r\n");
    m->password[n] = '\0';
    return m->password;
}

static int do_connect(struct mqtt *m)
{
    MQTTAsync_connectOptions o3 = MQTTAsync_connectOptions_initializer;
    MQTTAsync_connectOptions o5 = MQTTAsync_connectOptions_initializer5;
    MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
    MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
    MQTTProperties props = MQTTProperties_initializer;
    MQTTProperty p;
    bool v5 = m->cfg.version == 5;
    MQTTAsync_connectOptions *o = v5 ? &o5 : &o3;
    int rc;

    o->keepAliveInterval = (int)(m->cfg.keepalive_ms / 1000);
    o->maxInflight = (int)m->cfg.max_inflight;
    o->connectTimeout = (int)((m->cfg.connect_timeout_ms + 999) / 1000);
    o->username = m->cfg.username;
    o->password = password(m);
    o->serverURIs = (char *const *)m->cfg.uris;
    o->serverURIcount = (int)m->cfg.nuris;
    o->automaticReconnect = 0; /* ours: it reports sessionPresent */
    o->context = m;
    if (m->cfg.status_topic != NULL) {
        will.topicName = m->cfg.status_topic;
        will.message = "offline";
        will.retained = 1;
        will.qos = 1;
        o->will = &will;
    }
    if (uses_tls(&m->cfg)) {
        tls_options(m, &ssl);
        o->ssl = &ssl;
    }
    if (v5) {
        o5.cleanstart = m->cfg.clean_session;
        p.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL;
        p.value.integer4 = (unsigned)(m->cfg.session_expiry_ms / 1000);
        MQTTProperties_add(&props, &p);
        o5.connectProperties = &props;
        o5.onSuccess5 = on_connect5;
        o5.onFailure5 = on_connect_fail5;
    } else {
        o3.cleansession = m->cfg.clean_session;
        o3.MQTTVersion = MQTTVERSION_3_1_1;
        o3.onSuccess = on_connect3;
        o3.onFailure = on_connect_fail3;
    }
    pthread_mutex_lock(&m->lock);
    m->tls_error[0] = '\0';
    pthread_mutex_unlock(&m->lock);
    rc = MQTTAsync_connect(m->client, o);
    MQTTProperties_free(&props);
    if (rc != MQTTASYNC_SUCCESS)
        log_msg(LOG_WARN, "mqtt: MQTTAsync_connect: Paho code %d", rc);
    return mqtt_errno(rc);
}

static int do_subscribe(struct mqtt *m)
{
    MQTTAsync_responseOptions r = MQTTAsync_responseOptions_initializer;
    MQTTSubscribe_options so[MQTT_MAX_SUBS];
    int rc;
    size_t i;

    r.context = m;
    if (m->cfg.version == 5) {
        for (i = 0; i < m->cfg.nsubs; i++) {
            MQTTSubscribe_options init = MQTTSubscribe_options_initializer;
            so[i] = init;
            so[i].retainHandling = 1; /* retained only for new subs */
        }
        r.subscribeOptionsList = so;
        r.subscribeOptionsCount = (int)m->cfg.nsubs;
        r.onSuccess5 = on_sub5;
        r.onFailure5 = on_sub_fail5;
    } else {
        r.onSuccess = on_sub3;
        r.onFailure = on_sub_fail3;
    }
    rc = MQTTAsync_subscribeMany(m->client, (int)m->cfg.nsubs,
                                 (char *const *)m->cfg.filters, m->cfg.qos, &r);
    if (rc != MQTTASYNC_SUCCESS)
        log_msg(LOG_WARN, "mqtt: MQTTAsync_subscribeMany: Paho code %d", rc);
    return mqtt_errno(rc);
}

static void add_user_prop(MQTTProperties *props, const char *k, const char *v)
{
    MQTTProperty p;

    p.identifier = MQTTPROPERTY_CODE_USER_PROPERTY;
    p.value.data.data = (char *)k;
    p.value.data.len = (int)strlen(k);
    p.value.value.data = (char *)v;
    p.value.value.len = (int)strlen(v);
    MQTTProperties_add(props, &p);
}

/* Send one message; counts it in flight when acknowledged later. */
static int send_one(struct mqtt *m, const char *topic, const void *payload,
                    size_t len, int qos, bool retained, const char *reason,
                    const char *orig_topic)
{
    MQTTAsync_responseOptions r = MQTTAsync_responseOptions_initializer;
    MQTTAsync_message msg = MQTTAsync_message_initializer;
    MQTTProperties props = MQTTProperties_initializer;
    int rc;

    msg.payload = (void *)payload;
    msg.payloadlen = (int)len;
    msg.qos = qos;
    msg.retained = retained;
    r.context = m;
    if (m->cfg.version == 5) {
        if (reason != NULL && reason[0] != '\0') {
            MQTTProperty ct;
            add_user_prop(&props, "reason", reason);
            if (orig_topic != NULL)
                add_user_prop(&props, "topic", orig_topic);
            ct.identifier = MQTTPROPERTY_CODE_CONTENT_TYPE;
            ct.value.data.data = (char *)"application/json";
            ct.value.data.len = 16;
            MQTTProperties_add(&props, &ct);
        }
        msg.properties = props;
        r.onSuccess5 = on_pub5;
        r.onFailure5 = on_pub_fail5;
    } else {
        r.onSuccess = on_pub3;
        r.onFailure = on_pub_fail3;
    }
    atomic_fetch_add(&m->n[N_INFLIGHT], 1);
    rc = MQTTAsync_sendMessage(m->client, topic, &msg, &r);
    MQTTProperties_free(&props);
    if (rc != MQTTASYNC_SUCCESS) {
        uint64_t v = atomic_load(&m->n[N_INFLIGHT]);
        while (v > 0 &&
               !atomic_compare_exchange_weak(&m->n[N_INFLIGHT], &v, v - 1))
            ;
    }
    return mqtt_errno(rc);
}

static int do_disconnect(struct mqtt *m, int64_t timeout_ms)
{
    MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
    int rc;

    d.timeout = (int)timeout_ms;
    d.context = m;
    if (m->cfg.version == 5) {
        d.onSuccess5 = on_disc5;
        d.onFailure5 = on_disc_fail5;
    } else {
        d.onSuccess = on_disc3;
        d.onFailure = on_disc_fail3;
    }
    rc = MQTTAsync_disconnect(m->client, &d);
    return mqtt_errno(rc);
}

/* ---- Worker: explaining a failed connect -------------------------------- */

/* Split scheme://host[:port][/path] (host may be [v6]) into host and port,
 * with the scheme's default port. */
static void uri_host_port(const char *uri, char *host, size_t hcap, char *port,
                          size_t pcap)
{
    const char *h = strstr(uri, "://");
    const char *end;
    const char *colon;

    snprintf(port, pcap, "%s",
             is_tls_uri(uri) ? (strncmp(uri, "wss", 3) ? "8883" : "443")
                             : (strncmp(uri, "ws:", 3) ? "1883" : "80"));
    h = h ? h + 3 : uri;
    end = h + strcspn(h, "/");
    if (*h == '[') {
        const char *close = memchr(h, ']', (size_t)(end - h));
        close = close ? close : end;
        snprintf(host, hcap, "%.*s", (int)(close - h - 1), h + 1);
        colon = close < end && close[1] == ':' ? close + 1 : NULL;
    } else {
        colon = memchr(h, ':', (size_t)(end - h));
        snprintf(host, hcap, "%.*s", (int)((colon ? colon : end) - h), h);
    }
    if (colon != NULL)
        snprintf(port, pcap, "%.*s", (int)(end - colon - 1), colon + 1);
}

/* Can a TCP connection to uri's host and port be made within timeout_ms?
 * 0 if so, else -errno (-EHOSTUNREACH for a name that does not resolve).
 * Tells a closed port from a refusal inside TLS, where OpenSSL may give
 * no reason (a host-name mismatch, a client certificate refused after a
 * TLS 1.3 handshake). */
static int probe_tcp(const char *uri, int timeout_ms)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    struct addrinfo *ai;
    char host[256];
    char port[16];
    socklen_t len = sizeof(int);
    int err = 0;
    int fd;

    uri_host_port(uri, host, sizeof(host), port, sizeof(port));
    if (getaddrinfo(host, port, &hints, &ai) != 0)
        return -EHOSTUNREACH;
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        err = errno;
    } else if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};

        err = errno;
        if (err == EINPROGRESS) {
            err = ETIMEDOUT;
            if (poll(&pfd, 1, timeout_ms) == 1 &&
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
                err = errno;
        }
    }
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
    return -err;
}

/* A refused CONNACK's code as text, and what to do about it ("" if
 * nothing useful). MQTT 3.1.1 return codes 1..5; MQTT 5 reason codes. */
static const char *connack_text(const struct mqtt *m, int code,
                                const char **hint)
{
    static const char *const v3[] = {"",
                                     "unacceptable protocol version",
                                     "client identifier rejected",
                                     "server unavailable",
                                     "bad user name or password",
                                     "not authorized"};
    bool v5 = m->cfg.version == 5;
    bool auth = v5 ? code == 0x86 || code == 0x87 || code == 0x8C
                   : code == 4 || code == 5;

    *hint = "";
    if (auth)
        *hint = m->cfg.username == NULL
                    ? "the broker wants a user name and password: set "
                      "username and password_file in [mqtt]"
                    : "check [mqtt] username and password (or "
                      "password_file) against the broker's password file "
                      "and ACL";
    else if (v5 ? code == 0x85 : code == 2)
        *hint = "the broker refuses [mqtt] client_id";
    else if (v5 ? code == 0x84 : code == 1)
        *hint = "the broker does not speak this [mqtt] version";
    if (v5) {
        const char *t = MQTTReasonCode_toString((enum MQTTReasonCodes)code);
        return t ? t : "unknown reason code";
    }
    return code >= 1 && code <= 5 ? v3[code] : "unknown return code";
}

/* What a failed TLS connect most likely means, given OpenSSL's reason (tls,
 * maybe "") and whether TCP got through (tcp_rc). */
static void tls_hint(const struct mqtt *m, const char *tls, int tcp_rc,
                     const char *host, char *out, size_t cap)
{
    const char *ca = m->cfg.ca_file;
    const char *cert = m->cfg.cert_file;
    const char *need = cert ? "the broker refused the client certificate in "
                            : "the broker requires a client certificate "
                              "(none is set: cert_file, key_file)";

    out[0] = '\0';
    if (strstr(tls, "certificate verify failed") != NULL && ca != NULL)
        snprintf(out, cap,
                 "the broker's certificate does not chain to a CA in "
                 "ca_file %s, or it has expired or is not yet valid",
                 ca);
    else if (strstr(tls, "certificate verify failed") != NULL)
        snprintf(out, cap,
                 "no CA in the system's store signed the broker's "
                 "certificate: set [mqtt] ca_file to the CA that "
                 "did");
    else if (strstr(tls, "alert") != NULL)
        snprintf(out, cap, "the broker ended the TLS handshake: %s%s", need,
                 cert ? cert : "");
    else if (tls[0] == '\0' && tcp_rc == 0 && m->cfg.tls_verify)
        snprintf(out, cap,
                 "TCP connects but TLS failed with no reason from OpenSSL: "
                 "the broker's certificate does not name the host '%s' "
                 "(tls_verify checks it), or %s%s",
                 host, need, cert ? cert : "");
    else if (tls[0] == '\0' && tcp_rc == 0)
        snprintf(out, cap,
                 "TCP connects but TLS failed with no reason from OpenSSL: "
                 "most likely %s%s",
                 need, cert ? cert : "");
}

/* The broker answered CONNECT with a refusal. */
static void report_refused(const struct mqtt *m, const char *uri, int code,
                           double retry_s)
{
    const char *hint;
    const char *why = connack_text(m, code, &hint);

    log_msg(LOG_WARN,
            "mqtt: connect failed: %s refused it: %s (%s %d)%s%s; retrying "
            "in %.1f s",
            uri, why, m->cfg.version == 5 ? "reason code" : "CONNACK", code,
            hint[0] ? ": " : "", hint, retry_s);
}

/* No CONNACK: TCP, TLS or the session failed. paho: Paho's text; tls:
 * OpenSSL's reason or "". Probes TCP when OpenSSL said nothing. */
static void report_transport(const struct mqtt *m, const char *uri,
                             const char *paho, const char *tls, double retry_s)
{
    char host[256];
    char port[16];
    char what[320];
    char hint[512] = "";
    int tcp_rc = tls[0] == '\0' ? probe_tcp(uri, 1000) : 0;

    uri_host_port(uri, host, sizeof(host), port, sizeof(port));
    if (is_tls_uri(uri))
        tls_hint(m, tls, tcp_rc, host, hint, sizeof(hint));
    else if (tcp_rc == 0)
        snprintf(hint, sizeof(hint),
                 "TCP connects, so the broker closed "
                 "the session (if the listener is TLS, "
                 "use ssl://)");
    if (tcp_rc != 0)
        snprintf(what, sizeof(what), "TCP: %s (Paho: %s)", strerror(-tcp_rc),
                 paho);
    else if (tls[0] != '\0' || is_tls_uri(uri))
        snprintf(what, sizeof(what), "TLS: %s (Paho: %s)",
                 tls[0] ? tls : "set-up failed", paho);
    else
        snprintf(what, sizeof(what), "%s", paho);
    log_msg(LOG_WARN, "mqtt: connect failed: %s%s: %s%s%s; retrying in %.1f s",
            uri, m->cfg.nuris > 1 ? " (the last URI tried)" : "", what,
            hint[0] ? "; " : "", hint, retry_s);
}

/* Log the failed attempt recorded by connect_failed(): one line with the
 * reason, what to do about it and when weir tries again. Paho reports a
 * failure only after the last URI of the list, so that one is named.
 * Lock held; dropped for the probe and the log line. */
static void report_failure(struct mqtt *m)
{
    const char *uri = m->cfg.uris[m->cfg.nuris - 1];
    int64_t wait = m->next_attempt_ms - now_ms();
    double retry_s = wait > 0 ? (double)wait / 1000 : 0;
    int code = m->fail_code;
    char paho[sizeof(m->fail_msg)];
    char tls[sizeof(m->tls_error)];

    memcpy(paho, m->fail_msg, sizeof(paho));
    memcpy(tls, m->tls_error, sizeof(tls));
    m->failed = false;
    pthread_mutex_unlock(&m->lock);
    if (code > 0)
        report_refused(m, uri, code, retry_s);
    else
        report_transport(m, uri, paho, tls, retry_s);
    pthread_mutex_lock(&m->lock);
}

/* ---- Worker loop ------------------------------------------------------- */

/* Absolute CLOCK_REALTIME time ms from now, for pthread_cond_timedwait. */
static struct timespec in_ms(int64_t ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static void wait_ms(struct mqtt *m, int64_t ms)
{
    struct timespec until = in_ms(ms);

    pthread_cond_timedwait(&m->cond, &m->lock, &until);
}

/* Wait (lock held) until no publish is in flight, or timeout_ms. */
static void drain_inflight(struct mqtt *m, int64_t timeout_ms)
{
    int64_t end = now_ms() + timeout_ms;

    while (atomic_load(&m->n[N_INFLIGHT]) > 0 && now_ms() < end)
        wait_ms(m, end - now_ms());
}

/* READY: send queued items while there is room in flight. Called with
 * the lock held; returns with it held. */
static void pump(struct mqtt *m)
{
    struct publish_item *it;
    int rc;

    if (atomic_load(&m->n[N_INFLIGHT]) >= m->cfg.max_inflight) {
        wait_ms(m, 50);
        return;
    }
    pthread_mutex_unlock(&m->lock);
    it = publish_queue_pop(m->cfg.outbox, 50);
    if (it != NULL) {
        rc = send_one(m, it->topic, it->payload, it->len, it->qos, it->retained,
                      it->reason, it->orig_topic);
        if (rc == -ENOTCONN || rc == -EAGAIN) {
            publish_queue_unpop(m->cfg.outbox, it);
        } else {
            if (rc != 0) {
                log_msg(LOG_WARN, "mqtt: publish to %s refused: %s", it->topic,
                        strerror(-rc));
                count(m, N_PUB_FAIL);
            }
            free(it);
            publish_queue_done(m->cfg.outbox);
        }
        if (rc == -ENOTCONN)
            usleep(50000);
    }
    pthread_mutex_lock(&m->lock);
}

/* Entering READY: `online`, then tell the owner. Lock held. */
static void go_ready(struct mqtt *m)
{
    bool sp = m->session_present;

    pthread_mutex_unlock(&m->lock);
    if (m->cfg.status_topic != NULL)
        send_one(m, m->cfg.status_topic, "online", 6, 1, true, NULL, NULL);
    log_msg(LOG_INFO, "mqtt: connected (session %s)", sp ? "present" : "new");
    if (m->cfg.on_state != NULL)
        m->cfg.on_state(m->cfg.ctx, true, sp);
    pthread_mutex_lock(&m->lock);
}

/* One step of the state machine; lock held. */
static void step(struct mqtt *m)
{
    int rc;

    switch (m->state) {
    case ST_IDLE:
        if (m->failed) {
            report_failure(m);
        } else if (m->pause || m->stop) {
            set_state(m, m->stop ? ST_STOPPED : ST_PAUSED);
        } else if (now_ms() >= m->next_attempt_ms) {
            set_state(m, ST_CONNECTING);
            pthread_mutex_unlock(&m->lock);
            rc = do_connect(m);
            pthread_mutex_lock(&m->lock);
            if (rc != 0 && m->state == ST_CONNECTING) {
                set_state(m, ST_IDLE);
                schedule_retry(m);
            }
        } else {
            wait_ms(m, m->next_attempt_ms - now_ms());
        }
        break;
    case ST_CONNECTED:
        if (!m->session_present || !m->ever_subscribed) {
            set_state(m, ST_SUBSCRIBING);
            pthread_mutex_unlock(&m->lock);
            rc = do_subscribe(m);
            pthread_mutex_lock(&m->lock);
            if (rc != 0 && m->state == ST_SUBSCRIBING) {
                set_state(m, ST_IDLE);
                schedule_retry(m);
            }
            break;
        }
        set_state(m, ST_READY);
        /* fall through */
    case ST_READY:
        if (m->pause || m->stop) {
            set_state(m, ST_DISCONNECTING);
            pthread_mutex_unlock(&m->lock);
            if (m->stop && m->cfg.status_topic != NULL)
                send_one(m, m->cfg.status_topic, "offline", 7, 1, true, NULL,
                         NULL);
            /* Paho completes a disconnect with publishes in flight only
             * on its 3-second timeout sweep: let them finish first. */
            pthread_mutex_lock(&m->lock);
            drain_inflight(m, 1000);
            pthread_mutex_unlock(&m->lock);
            do_disconnect(m, 1000);
            pthread_mutex_lock(&m->lock);
        } else if (!m->announced) {
            m->announced = true;
            go_ready(m);
        } else {
            pump(m);
        }
        break;
    case ST_PAUSED:
        if (m->stop)
            set_state(m, ST_STOPPED);
        else if (!m->pause)
            set_state(m, ST_IDLE);
        else
            wait_ms(m, 1000);
        break;
    default:
        wait_ms(m, 100);
        break;
    }
}

/* Called on: the worker thread. */
static void *worker(void *arg)
{
    struct mqtt *m = arg;

    pthread_mutex_lock(&m->lock);
    while (m->state != ST_STOPPED && !m->force)
        step(m);
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

/* ---- Lifecycle --------------------------------------------------------- */

int mqtt_new(struct mqtt **out, const struct mqtt_config *cfg)
{
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
    MQTTAsync_createOptions co5 = MQTTAsync_createOptions_initializer5;
    struct mqtt *m;
    int rc;

    if (cfg->nuris == 0 || cfg->nuris > MQTT_MAX_URIS || cfg->nsubs == 0 ||
        cfg->nsubs > MQTT_MAX_SUBS || cfg->client_id == NULL ||
        cfg->on_message == NULL || cfg->outbox == NULL ||
        (cfg->version != 4 && cfg->version != 5) || cfg->max_inflight == 0)
        return -EINVAL;
    if ((m = calloc(1, sizeof(*m))) == NULL)
        return -ENOMEM;
    m->cfg = *cfg;
    if (m->cfg.retry_min_ms <= 0)
        m->cfg.retry_min_ms = 1000;
    if (m->cfg.retry_max_ms < m->cfg.retry_min_ms)
        m->cfg.retry_max_ms = m->cfg.retry_min_ms;
    m->backoff_ms = m->cfg.retry_min_ms;
    m->jitter = (uint64_t)now_ms() ^ ((uint64_t)getpid() << 32);
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->cond, NULL);
    rc = MQTTAsync_createWithOptions(&m->client, cfg->uris[0], cfg->client_id,
                                     MQTTCLIENT_PERSISTENCE_NONE, NULL,
                                     cfg->version == 5 ? &co5 : &co);
    if (rc == MQTTASYNC_SUCCESS)
        rc = MQTTAsync_setCallbacks(m->client, m, on_lost, on_message, NULL);
    if (rc != MQTTASYNC_SUCCESS) {
        log_msg(LOG_ERROR,
                "mqtt: cannot create the client for %s: Paho "
                "code %d",
                cfg->uris[0], rc);
        mqtt_free(m);
        return mqtt_errno(rc) ? mqtt_errno(rc) : -EINVAL;
    }
    *out = m;
    return 0;
}

int mqtt_start(struct mqtt *m)
{
    int rc = pthread_create(&m->worker, NULL, worker, m);

    if (rc != 0)
        return -rc;
    m->started = true;
    return 0;
}

/* Wait (lock held) until the state is one of a or b, or timeout_ms. */
static bool wait_state(struct mqtt *m, enum state a, enum state b,
                       int64_t timeout_ms)
{
    int64_t end = now_ms() + timeout_ms;

    while (m->state != a && m->state != b && now_ms() < end)
        wait_ms(m, end - now_ms());
    return m->state == a || m->state == b;
}

int mqtt_stop(struct mqtt *m, int64_t timeout_ms)
{
    bool ok;

    if (!m->started)
        return 0;
    pthread_mutex_lock(&m->lock);
    m->stop = true;
    pthread_cond_broadcast(&m->cond);
    ok = wait_state(m, ST_STOPPED, ST_STOPPED, timeout_ms);
    m->force = true;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
    pthread_join(m->worker, NULL);
    m->started = false;
    atomic_store(&m->connected, false);
    return ok ? 0 : -ETIMEDOUT;
}

int mqtt_pause(struct mqtt *m, int64_t timeout_ms)
{
    bool ok;

    pthread_mutex_lock(&m->lock);
    m->pause = true;
    pthread_cond_broadcast(&m->cond);
    ok = wait_state(m, ST_PAUSED, ST_STOPPED, timeout_ms);
    pthread_mutex_unlock(&m->lock);
    return ok ? 0 : -ETIMEDOUT;
}

void mqtt_resume(struct mqtt *m)
{
    pthread_mutex_lock(&m->lock);
    m->pause = false;
    m->next_attempt_ms = 0;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
}

void mqtt_free(struct mqtt *m)
{
    if (m == NULL)
        return;
    if (m->started)
        mqtt_stop(m, 1000);
    if (m->client != NULL)
        MQTTAsync_destroy(&m->client);
    pthread_cond_destroy(&m->cond);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

bool mqtt_connected(const struct mqtt *m)
{
    return atomic_load_explicit(&m->connected, memory_order_acquire);
}

void mqtt_stats(const struct mqtt *m, struct mqtt_stats *out)
{
    uint64_t v[11];
    int i;

    for (i = 0; i < 11; i++)
        v[i] = atomic_load_explicit(&m->n[i], memory_order_relaxed);
    out->connects = v[N_CONNECTS];
    out->reconnects = v[N_RECONNECTS];
    out->connect_failures = v[N_CONNECT_FAIL];
    out->lost = v[N_LOST];
    out->subscribes = v[N_SUBSCRIBES];
    out->subscribe_failures = v[N_SUB_FAIL];
    out->sessions_present = v[N_SESSIONS];
    out->published = v[N_PUBLISHED];
    out->publish_failures = v[N_PUB_FAIL];
    out->inflight = v[N_INFLIGHT];
    out->received = v[N_RECEIVED];
}
