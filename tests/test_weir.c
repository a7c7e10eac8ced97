/* test_weir.c -- the weir daemon end to end, against a real Mosquitto on a
 * free loopback port (tests/broker.h) and the weir binary of this build
 * ($BUILD/weir): exact counters and dead letters for a faulty stream, a
 * retained snapshot that predicts, /metrics as valid Prometheus text,
 * kill -9 in the middle of a QoS 1 stream with every reading learned
 * exactly once, a broker restart mid-stream with nothing lost, and `weir
 * replay` of a capture giving the very bytes of the live snapshot.
 *
 * The publisher and the subscribers are Paho MQTTAsync clients in this
 * process; the publisher keeps the ledger (what it sent) in memory.
 *
 * Threads: each case runs in its own child process (harness.h); Paho runs
 * its threads in it; the collected messages are guarded by a mutex. */
#include "tests/broker.h"
#include "tests/harness.h"

#include <MQTTAsync.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "learn/predictor.h"
#include "proto/codec.h"

/* ---- Time -------------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* ---- The daemon -------------------------------------------------------- */

struct daemon {
    pid_t pid;
    char dir[512];
    char cfg[600];
    char log[600];
    int port;               /* HTTP port, from the log. */
    const char *env;        /* "NAME=value" for the child, or NULL. */
    const char *mqtt_extra; /* More [mqtt] lines, or NULL. */
    bool no_wait_connected; /* daemon_start() does not wait for MQTT. */
    long fsize_limit;       /* RLIMIT_FSIZE bytes for the child (0: none). */
};

static const char *const base_config =
    "[weir]\n"
    "state_dir = %s/state\n"
    "checkpoint_interval = 1s\n"
    "[mqtt]\n"
    "uri = %s\n"
    "client_id = weir-test-%d\n"
    "version = %s\n"
    "keepalive = %ds\n"
    "retry_min = 1s\n"
    "retry_max = 2s\n"
    "%s"
    "[subscription batches]\n"
    "topic = sensors/{device}\n"
    "format = protobuf_batch\n"
    "[sensor temperature]\n"
    "min = -20\n"
    "max = 60\n"
    "[task occupancy]\n"
    "kind = classification\n"
    "features = temperature, humidity, light, co2\n"
    "target = occupancy\n"
    "window = 50 rows\n"
    "models = logistic\n"
    "optimizers = adagrad, sgd\n"
    "learning_rates = 0.1\n"
    "l2 = 0\n"
    "test_fraction = 0.1\n"
    "[snapshot]\n"
    "min_interval = 0s\n"
    "keep = 3\n"
    "[http]\n"
    "listen = 127.0.0.1:0\n"
    "[limits]\n"
    "ring_slots = %d\n"
    "[topics]\n"
    "publish_predictions = %s\n";

static void daemon_init_with(struct daemon *d, const char *uri, int keepalive_s,
                             int ring_slots, int version, bool predictions,
                             const char *mqtt_extra)
{
    FILE *f;

    memset(d, 0, sizeof(*d));
    d->mqtt_extra = mqtt_extra;
    snprintf(d->dir, sizeof(d->dir), "%s", test_tmpdir());
    snprintf(d->cfg, sizeof(d->cfg), "%s/weir.ini", d->dir);
    snprintf(d->log, sizeof(d->log), "%s/weir.log", d->dir);
    ASSERT((f = fopen(d->cfg, "w")) != NULL);
    fprintf(f, base_config, d->dir, uri, (int)getpid(),
            version == 5 ? "5" : "3.1.1", keepalive_s,
            d->mqtt_extra ? d->mqtt_extra : "", ring_slots,
            predictions ? "true" : "false");
    fclose(f);
}

static void daemon_init(struct daemon *d, const char *uri)
{
    daemon_init_with(d, uri, 10, 65536, 4, false, NULL);
}

static const char *weir_bin(void)
{
    static char path[512];
    const char *b = getenv("BUILD");

    snprintf(path, sizeof(path), "%s/weir", b ? b : "build/default");
    return path;
}

/* The whole log file as a string (malloc'd). */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf;
    size_t n;

    if (f == NULL)
        return NULL;
    buf = calloc(1, 1 << 20);
    ASSERT(buf != NULL);
    n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Wait until the log holds "what" after position from; returns the text
 * after it, or NULL after timeout_ms. */
static bool log_has(const struct daemon *d, const char *what, int nth,
                    int timeout_ms, char *after, size_t cap)
{
    int i;

    for (i = 0; i <= timeout_ms / 20; i++) {
        char *text = slurp(d->log);
        char *p = text;
        int k;
        for (k = 0; p != NULL && k < nth; k++)
            if ((p = strstr(p, what)) != NULL)
                p += strlen(what);
        if (p != NULL && after != NULL)
            snprintf(after, cap, "%s", p);
        free(text);
        if (p != NULL)
            return true;
        sleep_ms(20);
    }
    return false;
}

static void dump_log(const struct daemon *d)
{
    char *text = slurp(d->log);

    fprintf(stderr, "---- %s ----\n%s---- end ----\n", d->log,
            text ? text : "(none)");
    free(text);
}

/* The port weir wrote to state_dir/http.port, or -1. */
static int port_file(const struct daemon *d)
{
    char path[700];
    char *text;
    int port;

    snprintf(path, sizeof(path), "%s/state/http.port", d->dir);
    if ((text = slurp(path)) == NULL)
        return -1;
    port = strchr(text, '\n') != NULL ? atoi(text) : -1;
    free(text);
    return port;
}

/* Start weir; wait until it serves HTTP and is connected (the nth time
 * these lines appear in the log: restarts append to it). */
static void daemon_start(struct daemon *d, int nth)
{
    char after[64];
    pid_t pid = fork();

    ASSERT(pid >= 0);
    if (pid == 0) {
        int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(fd, 2);
        dup2(fd, 1);
        if (d->env != NULL)
            putenv((char *)d->env);
        if (d->fsize_limit > 0) { /* writes past it fail with EFBIG */
            struct rlimit rl = {(rlim_t)d->fsize_limit, (rlim_t)d->fsize_limit};
            signal(SIGXFSZ, SIG_IGN);
            setrlimit(RLIMIT_FSIZE, &rl);
        }
        execl(weir_bin(), "weir", "-c", d->cfg, (char *)NULL);
        _exit(127);
    }
    d->pid = pid;
    if (!log_has(d, "/healthz on 127.0.0.1:", nth, 20000, after, sizeof(after)))
        dump_log(d);
    ASSERT(log_has(d, "/healthz on 127.0.0.1:", nth, 10, after, sizeof(after)));
    d->port = atoi(after);
    ASSERT(d->port > 0);
    ASSERT_EQ(port_file(d), d->port); /* listen = 127.0.0.1:0 */
    if (!d->no_wait_connected)
        ASSERT(log_has(d, "mqtt: connected", nth, 20000, NULL, 0));
}

/* SIGTERM; returns the exit status (-1 if it did not exit in 20 s). */
static int daemon_stop(struct daemon *d)
{
    int st = 0;
    int i;

    kill(d->pid, SIGTERM);
    for (i = 0; i < 2000; i++) {
        if (waitpid(d->pid, &st, WNOHANG) == d->pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        sleep_ms(10);
    }
    kill(d->pid, SIGKILL);
    waitpid(d->pid, &st, 0);
    return -1;
}

static void daemon_kill9(struct daemon *d)
{
    int st;

    kill(d->pid, SIGKILL);
    ASSERT_EQ(waitpid(d->pid, &st, 0), d->pid);
    ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

/* ---- HTTP and metrics -------------------------------------------------- */

/* GET path; returns the body (malloc'd) or NULL. */
static char *http_get(int port, const char *path, int *status)
{
    struct sockaddr_in a;
    struct timeval tv = {5, 0};
    char req[256];
    char *buf = calloc(1, 1 << 20);
    size_t got = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    char *body;

    ASSERT(fd >= 0 && buf != NULL);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n",
             path);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
        close(fd);
        free(buf);
        return NULL;
    }
    for (;;) {
        ssize_t n = read(fd, buf + got, (1 << 20) - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    if (status != NULL)
        *status = atoi(buf + 9);
    if ((body = strstr(buf, "\r\n\r\n")) == NULL) {
        free(buf);
        return NULL;
    }
    memmove(buf, body + 4, strlen(body + 4) + 1);
    return buf;
}

/* The value of the sample whose line starts with "sample " in text. */
static double sample(const char *text, const char *name)
{
    size_t n = strlen(name);
    const char *p = text;

    while (p != NULL && *p != '\0') {
        if (strncmp(p, name, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return NAN;
}

static double metric(const struct daemon *d, const char *name)
{
    char *body = http_get(d->port, "/metrics", NULL);
    double v = body ? sample(body, name) : NAN;

    free(body);
    return v;
}

/* Wait until metric name equals want (true) or timeout_ms passes. */
static bool wait_metric(const struct daemon *d, const char *name, double want,
                        int timeout_ms)
{
    int i;

    for (i = 0; i < timeout_ms / 50; i++) {
        if (metric(d, name) == want)
            return true;
        sleep_ms(50);
    }
    fprintf(stderr, "%s = %.17g, wanted %.17g\n", name, metric(d, name), want);
    return false;
}

/* A strict check of the Prometheus text format 0.0.4: every sample belongs
 * to the family whose HELP and TYPE came just before it, each family is
 * declared once, names and labels follow the grammar, values parse. */
static bool is_name(const char *s, size_t n, bool label)
{
    size_t i;

    if (n == 0)
        return false;
    for (i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  c == '_' || (!label && c == ':') ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static bool check_labels(const char *p, const char **end)
{
    for (;;) {
        const char *eq = strchr(p, '=');
        if (eq == NULL || !is_name(p, (size_t)(eq - p), true) || eq[1] != '"')
            return false;
        p = eq + 2;
        while (*p != '"') {
            if (*p == '\0' || *p == '\n')
                return false;
            p += *p == '\\' ? 2 : 1;
        }
        p++;
        if (*p == '}') {
            *end = p + 1;
            return true;
        }
        if (*p++ != ',')
            return false;
    }
}

static bool prometheus_valid(const char *text)
{
    char family[128] = "";
    char seen[256][128];
    size_t nseen = 0, i, samples = 0;
    const char *line = text;

    while (*line != '\0') {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (nl == NULL)
            return false; /* the last line must end in a newline too */
        if (strncmp(line, "# HELP ", 7) == 0) {
            size_t n = strcspn(line + 7, " \n");
            if (!is_name(line + 7, n, false) || n >= sizeof(family))
                return false;
            memcpy(family, line + 7, n);
            family[n] = '\0';
            for (i = 0; i < nseen; i++)
                if (strcmp(seen[i], family) == 0)
                    return false;
            if (nseen < 256)
                snprintf(seen[nseen++], sizeof(seen[0]), "%s", family);
        } else if (strncmp(line, "# TYPE ", 7) == 0) {
            const char *t = line + 7 + strlen(family);
            if (strncmp(line + 7, family, strlen(family)) != 0 ||
                (strncmp(t, " counter\n", 9) && strncmp(t, " gauge\n", 7) &&
                 strncmp(t, " untyped\n", 9)))
                return false;
        } else {
            size_t n = strcspn(line, "{ ");
            const char *p = line + n;
            char *end;
            if (n != strlen(family) || strncmp(line, family, n) != 0)
                return false;
            if (*p == '{' && !check_labels(p + 1, &p))
                return false;
            if (*p != ' ')
                return false;
            strtod(p + 1, &end);
            if (end == p + 1 || end != line + len)
                return false;
            samples++;
        }
        line += len + 1;
    }
    return samples > 20;
}

/* ---- MQTT clients ------------------------------------------------------ */

#define MSG_MAX 20000

struct msg {
    char topic[128];
    char reason[32]; /* MQTT 5 user property "reason", or "". */
    uint8_t *payload;
    size_t len;
    bool retained;
};

struct client {
    MQTTAsync c;
    pthread_mutex_t lock;
    struct msg *msgs; /* [MSG_MAX] */
    size_t n;
};

/* Called on: Paho's thread. */
static int collect(void *ctx, char *topic, int tl, MQTTAsync_message *m)
{
    struct client *cl = ctx;

    (void)tl;
    pthread_mutex_lock(&cl->lock);
    if (cl->n < MSG_MAX) {
        struct msg *g = &cl->msgs[cl->n++];
        snprintf(g->topic, sizeof(g->topic), "%s", topic);
        g->payload = malloc((size_t)m->payloadlen + 1);
        memcpy(g->payload, m->payload, (size_t)m->payloadlen);
        g->payload[m->payloadlen] = 0;
        g->len = (size_t)m->payloadlen;
        g->retained = m->retained;
        g->reason[0] = '\0';
        for (int i = 0; i < m->properties.count; i++) {
            MQTTProperty *pr = &m->properties.array[i];
            if (pr->identifier == MQTTPROPERTY_CODE_USER_PROPERTY &&
                pr->value.data.len == 6 &&
                memcmp(pr->value.data.data, "reason", 6) == 0)
                snprintf(g->reason, sizeof(g->reason), "%.*s",
                         pr->value.value.len, pr->value.value.data);
        }
    }
    pthread_mutex_unlock(&cl->lock);
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

/* Connect (clean session) and subscribe to filter (may be NULL). */
static void client_open(struct client *cl, const char *uri, const char *id,
                        const char *filter)
{
    MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
    MQTTAsync_responseOptions r = MQTTAsync_responseOptions_initializer;

    memset(cl, 0, sizeof(*cl));
    pthread_mutex_init(&cl->lock, NULL);
    cl->msgs = calloc(MSG_MAX, sizeof(*cl->msgs));
    ASSERT(cl->msgs != NULL);
    ASSERT_EQ(
        MQTTAsync_create(&cl->c, uri, id, MQTTCLIENT_PERSISTENCE_NONE, NULL),
        0);
    ASSERT_EQ(MQTTAsync_setCallbacks(cl->c, cl, NULL, collect, NULL), 0);
    o.cleansession = 1;
    o.keepAliveInterval = 20;
    ASSERT_EQ(MQTTAsync_connect(cl->c, &o), 0);
    for (int i = 0; i < 500 && !MQTTAsync_isConnected(cl->c); i++)
        sleep_ms(10);
    ASSERT(MQTTAsync_isConnected(cl->c));
    if (filter != NULL) {
        ASSERT_EQ(MQTTAsync_subscribe(cl->c, filter, 1, &r), 0);
        ASSERT_EQ(MQTTAsync_waitForCompletion(cl->c, r.token, 5000), 0);
    }
}

/* The same with MQTT 5 (clean start). */
static void client_open5(struct client *cl, const char *uri, const char *id,
                         const char *filter)
{
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer5;
    MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer5;
    MQTTAsync_responseOptions r = MQTTAsync_responseOptions_initializer;

    memset(cl, 0, sizeof(*cl));
    pthread_mutex_init(&cl->lock, NULL);
    cl->msgs = calloc(MSG_MAX, sizeof(*cl->msgs));
    ASSERT(cl->msgs != NULL);
    ASSERT_EQ(MQTTAsync_createWithOptions(
                  &cl->c, uri, id, MQTTCLIENT_PERSISTENCE_NONE, NULL, &co),
              0);
    ASSERT_EQ(MQTTAsync_setCallbacks(cl->c, cl, NULL, collect, NULL), 0);
    o.cleanstart = 1;
    ASSERT_EQ(MQTTAsync_connect(cl->c, &o), 0);
    for (int i = 0; i < 500 && !MQTTAsync_isConnected(cl->c); i++)
        sleep_ms(10);
    ASSERT(MQTTAsync_isConnected(cl->c));
    ASSERT_EQ(MQTTAsync_subscribe(cl->c, filter, 1, &r), 0);
    ASSERT_EQ(MQTTAsync_waitForCompletion(cl->c, r.token, 5000), 0);
}

static void client_close(struct client *cl)
{
    size_t i;

    if (MQTTAsync_isConnected(cl->c))
        MQTTAsync_disconnect(cl->c, NULL);
    sleep_ms(50);
    MQTTAsync_destroy(&cl->c);
    for (i = 0; i < cl->n; i++)
        free(cl->msgs[i].payload);
    free(cl->msgs);
    pthread_mutex_destroy(&cl->lock);
}

static size_t client_count(struct client *cl, const char *topic)
{
    size_t i, k = 0;

    pthread_mutex_lock(&cl->lock);
    for (i = 0; i < cl->n; i++)
        k += topic == NULL || strcmp(cl->msgs[i].topic, topic) == 0;
    pthread_mutex_unlock(&cl->lock);
    return k;
}

static bool wait_count(struct client *cl, const char *topic, size_t want,
                       int timeout_ms)
{
    int i;

    for (i = 0; i < timeout_ms / 20; i++) {
        if (client_count(cl, topic) >= want)
            return true;
        sleep_ms(20);
    }
    return false;
}

/* Publish at QoS 1; every 64th message waits for its PUBACK, so the
 * publisher never runs far ahead of the broker. */
static void publish(struct client *cl, const char *topic, const void *p,
                    size_t len, uint64_t k)
{
    MQTTAsync_responseOptions r = MQTTAsync_responseOptions_initializer;
    MQTTAsync_message m = MQTTAsync_message_initializer;

    m.payload = (void *)p;
    m.payloadlen = (int)len;
    m.qos = 1;
    ASSERT_EQ(MQTTAsync_sendMessage(cl->c, topic, &m, &r), 0);
    if (k % 64 == 63)
        ASSERT_EQ(MQTTAsync_waitForCompletion(cl->c, r.token, 10000), 0);
}

/* ---- The stream -------------------------------------------------------- */

#define DEVICES 5

/* Message k: device d(k % 5), seq k / 5, temperature, humidity, light,
 * co2 and the label occupancy (a noisy rule of light and co2). */
static size_t batch(uint64_t k, int64_t ts, double temp, uint8_t *buf,
                    size_t cap, char *topic, size_t tcap)
{
    static const char *const names[5] = {"temperature", "humidity", "light",
                                         "co2", "occupancy"};
    uint64_t rng = k * 2654435761u + 7;
    double light = (double)(test_rand(&rng) % 800);
    double co2 = 400 + (double)(test_rand(&rng) % 900);
    double v[5];
    struct codec_msg m;
    int i;

    v[0] = isnan(temp) ? 18 + (double)(test_rand(&rng) % 800) / 100 : temp;
    v[1] = 30 + (double)(test_rand(&rng) % 300) / 10;
    v[2] = light;
    v[3] = co2;
    v[4] = light / 800 + (co2 - 400) / 1800 +
                       (double)(test_rand(&rng) % 100) / 250 >
                   0.9
               ? 1
               : 0;
    memset(&m, 0, sizeof(m));
    snprintf(m.device, sizeof(m.device), "d%u", (unsigned)(k % DEVICES));
    m.has_seq = m.has_ts = true;
    m.seq = k / DEVICES;
    m.ts_ms = ts;
    for (i = 0; i < 5; i++) {
        snprintf(m.m[i].name, sizeof(m.m[i].name), "%s", names[i]);
        m.m[i].value = v[i];
        m.m[i].has_value = true;
        m.m[i].is_label = i == 4;
    }
    m.n = 5;
    snprintf(topic, tcap, "sensors/%s", m.device);
    return codec_encode_batch(&m, buf, cap);
}

/* Publish messages [from, to) of the clean stream. */
static void publish_clean(struct client *pub, uint64_t from, uint64_t to,
                          FILE *capture)
{
    uint8_t buf[512];
    uint8_t rec[1024];
    char topic[96];
    uint64_t k;

    for (k = from; k < to; k++) {
        int64_t ts = now_ms();
        size_t n = batch(k, ts, NAN, buf, sizeof(buf), topic, sizeof(topic));
        ASSERT(n > 0);
        publish(pub, topic, buf, n, k);
        if (capture != NULL) {
            struct codec_capture c = {topic, buf, n, ts * 1000000, 1, false};
            size_t r = codec_encode_capture(&c, rec, sizeof(rec));
            ASSERT(r > 0 && fwrite(rec, 1, r, capture) == r);
        }
    }
}

/* ---- Cases ------------------------------------------------------------- */

/* 400 messages; every 10th is sent twice, every 17th replaced by garbage,
 * every 23rd has temperature NaN, every 29th temperature 500 (out of
 * [-20, 60]). The counters, the dead letters, the retained snapshot and
 * /metrics must all agree with what was sent. */
static void counts_dead_letters_and_snapshot(void)
{
    struct broker *b;
    struct daemon d;
    struct client pub, dl, snap, pred;
    uint64_t dups = 0, bad = 0, nans = 0, big = 0, good = 0, sent = 0, k;
    uint8_t buf[512];
    char topic[96];
    char *body;
    struct predictor *p = NULL;
    int status = 0;

    ASSERT_EQ(broker_start(&b, NULL), 0);
    daemon_init_with(&d, broker_uri(b), 10, 65536, 4, true, NULL);
    client_open(&dl, broker_uri(b), "dead-letters", "weir/rejects/#");
    client_open(&pred, broker_uri(b), "predictions", "weir/pred/#");
    daemon_start(&d, 1);
    client_open(&pub, broker_uri(b), "publisher", NULL);
    for (k = 0; k < 400; k++) {
        double t = k % 29 == 7 ? 500 : k % 23 == 11 ? NAN : NAN;
        size_t n;
        if (k % 17 == 5) {
            snprintf(topic, sizeof(topic), "sensors/d%u", (unsigned)(k % 5));
            publish(&pub, topic, "\xff\x01garbage", 9, sent++);
            bad++;
            continue;
        }
        n = batch(k, now_ms(), t, buf, sizeof(buf), topic, sizeof(topic));
        if (k % 23 == 11) {
            struct codec_msg m;
            enum reject_reason why;
            ASSERT_EQ(codec_decode_batch(buf, n, &m, &why), 0);
            m.m[0].value = NAN;
            n = codec_encode_batch(&m, buf, sizeof(buf));
            nans++;
        }
        big += k % 29 == 7;
        publish(&pub, topic, buf, n, sent++);
        good++;
        if (k % 10 == 3) {
            publish(&pub, topic, buf, n, sent++);
            dups++;
        }
    }
    ASSERT(wait_metric(&d, "weir_messages_total{format=\"protobuf_batch\"}",
                       (double)sent, 20000));
    ASSERT_EQ(metric(&d, "weir_received_total{qos=\"1\"}"), sent);
    ASSERT_EQ(metric(&d, "weir_rejects_total{reason=\"decode_error\"}"), bad);
    ASSERT_EQ(metric(&d, "weir_duplicates_total"), dups);
    ASSERT_EQ(metric(&d, "weir_rejects_total{reason=\"duplicate\"}"), 5 * dups);
    ASSERT_EQ(metric(&d, "weir_rejects_total{reason=\"nan\"}"), nans);
    ASSERT_EQ(metric(&d, "weir_rejects_total{reason=\"out_of_range\"}"), big);
    ASSERT_EQ(metric(&d, "weir_readings_accepted_total"),
              5 * good - nans - big);
    ASSERT_EQ(metric(&d, "weir_task_rows_learned_total{task=\"occupancy\"}"),
              good);
    ASSERT_EQ(metric(&d, "weir_qos0_drops_total"), 0);
    /* Dead letters: one per refusal, with its reason in the topic. */
    ASSERT(wait_count(&dl, NULL, bad + nans + big, 10000));
    sleep_ms(300);
    ASSERT_EQ(client_count(&dl, "weir/rejects/decode_error"), bad);
    ASSERT_EQ(client_count(&dl, "weir/rejects/nan"), nans);
    ASSERT_EQ(client_count(&dl, "weir/rejects/out_of_range"), big);
    ASSERT_EQ(client_count(&dl, NULL), bad + nans + big);
    pthread_mutex_lock(&dl.lock);
    for (k = 0; k < dl.n; k++)
        if (strcmp(dl.msgs[k].topic, "weir/rejects/decode_error") == 0)
            ASSERT(strstr((char *)dl.msgs[k].payload,
                          "\"payload_b64\":\"/wFnYXJiYWdl\"") != NULL &&
                   strstr((char *)dl.msgs[k].payload,
                          "\"topic\":\"sensors/d") != NULL);
    pthread_mutex_unlock(&dl.lock);
    /* One prediction per learned row, QoS 0, on its device's topic. */
    ASSERT(wait_count(&pred, NULL, good, 10000));
    sleep_ms(200);
    {
        size_t per = 0;
        for (k = 0; k < DEVICES; k++) {
            char t[64];
            snprintf(t, sizeof(t), "weir/pred/occupancy/d%u", (unsigned)k);
            per += client_count(&pred, t);
        }
        ASSERT_EQ(per, good);
        ASSERT_EQ(client_count(&pred, NULL), good);
    }
    client_close(&pred);
    /* /metrics is valid Prometheus text; /healthz says connected. */
    body = http_get(d.port, "/metrics", &status);
    ASSERT(body != NULL && status == 200 && prometheus_valid(body));
    free(body);
    body = http_get(d.port, "/healthz", &status);
    ASSERT(body != NULL && status == 200 &&
           strstr(body, "\"connected\":true") != NULL);
    free(body);
    ASSERT_EQ(daemon_stop(&d), 0);
    ASSERT_EQ(port_file(&d), -1); /* removed at a clean shutdown */
    /* The final snapshot is retained on the broker, and predicts. */
    client_open(&snap, broker_uri(b), "snapshots",
                "weir/model/occupancy/snapshot");
    ASSERT(wait_count(&snap, NULL, 1, 5000));
    ASSERT(snap.msgs[0].retained);
    ASSERT_EQ(predictor_load(&p, snap.msgs[0].payload, snap.msgs[0].len), 0);
    ASSERT_EQ(predictor_features(p), 4);
    ASSERT_STREQ(predictor_feature_name(p, 3), "co2");
    ASSERT_EQ(predictor_classes(p), 2);
    {
        double x[4] = {21, 40, 700, 1200};
        struct predictor_out o;
        ASSERT_EQ(predictor_predict(p, x, NULL, NULL, &o), 0);
        ASSERT(o.label <= 1 && o.value >= 0.5 && o.value <= 1);
    }
    predictor_free(p);
    client_close(&snap);
    client_close(&pub);
    client_close(&dl);
    broker_free(b);
}

/* A publisher thread: the clean stream [0, n) at about 2500 messages/s. */
struct pub_thread {
    struct client *pub;
    uint64_t n;
    atomic_uint_fast64_t done; /* Messages published so far. */
};

/* Called on: the publisher thread. */
static void *pub_run(void *arg)
{
    struct pub_thread *pt = arg;
    uint64_t k;

    for (k = 0; k < pt->n; k += 50) {
        publish_clean(pt->pub, k, k + 50, NULL);
        atomic_store(&pt->done, k + 50);
        sleep_ms(20);
    }
    return NULL;
}

/* kill -9 of weir in the middle of a QoS 1 stream, restart while the
 * stream goes on: every reading the publisher sent is accepted exactly
 * once and every message is one row learned. The kill lands between
 * checkpoints, so the restart replays the ingest log past the checkpoint,
 * and the broker redelivers what was in flight. */
static void kill9_learns_everything_once(void)
{
    struct pub_thread pt;
    struct broker *b;
    struct daemon d;
    struct client pub;
    pthread_t th;
    char after[64];
    double ckpts;

    ASSERT_EQ(broker_start(&b, NULL), 0);
    daemon_init(&d, broker_uri(b));
    daemon_start(&d, 1);
    client_open(&pub, broker_uri(b), "publisher", NULL);
    pt.pub = &pub;
    pt.n = 4000;
    atomic_init(&pt.done, 0);
    ASSERT_EQ(pthread_create(&th, NULL, pub_run, &pt), 0);
    while (atomic_load(&pt.done) < 1200)
        sleep_ms(5);
    /* Land the kill between two checkpoints (one per second): 300 ms after
     * one completed, with the stream flowing, so the restart has log
     * records past its checkpoint to replay. */
    ckpts = metric(&d, "weir_checkpoints_total");
    while (metric(&d, "weir_checkpoints_total") == ckpts)
        sleep_ms(10);
    sleep_ms(300);
    daemon_kill9(&d);
    daemon_start(&d, 2);
    ASSERT_EQ(pthread_join(th, NULL), 0);
    ASSERT(wait_metric(&d, "weir_readings_accepted_total", 5.0 * pt.n, 30000));
    sleep_ms(500);
    ASSERT_EQ(metric(&d, "weir_readings_accepted_total"), 5 * pt.n);
    ASSERT_EQ(metric(&d, "weir_task_rows_learned_total{task=\"occupancy\"}"),
              pt.n);
    ASSERT_EQ(metric(&d, "weir_rejects_total{reason=\"stale\"}"), 0);
    /* The second start restored a checkpoint and replayed the log. */
    ASSERT(log_has(&d, "recovered: checkpoint lsn ", 2, 100, after,
                   sizeof(after)));
    ASSERT(atoi(strchr(after, ',') + 1) > 0);
    fprintf(stderr,
            "restart: checkpoint lsn %s; duplicates %g, "
            "redeliveries %g\n",
            after, metric(&d, "weir_duplicates_total"),
            metric(&d, "weir_redeliveries_total"));
    ASSERT_EQ(daemon_stop(&d), 0);
    if (getenv("WEIR_TEST_VERBOSE") != NULL)
        dump_log(&d);
    client_close(&pub);
    broker_free(b);
}

/* A message the ingest log refuses is never acknowledged, not even when
 * weir is told to stop while holding it. The log's segment file may not
 * grow past 128 KiB (RLIMIT_FSIZE: writes fail with EFBIG, as on a full
 * disk), so after some hundred messages an append fails and the callback
 * holds the message, retrying; SIGTERM then finds it held: weir writes
 * its final checkpoint and exits with status 1 without disconnecting (a
 * clean exit would have had to acknowledge it: Paho sends the PUBACK
 * whatever the callback returns). Restarted without the limit, weir gets
 * the held message and the rest from the broker: every message is one
 * row learned, every reading accepted once. */
static void unloggable_message_is_not_acknowledged(void)
{
    const uint64_t n = 2000;
    struct broker_opts bo;
    struct broker *b;
    struct daemon d;
    struct client pub;
    double first;

    memset(&bo, 0, sizeof(bo));
    bo.max_queued_messages = 10000; /* the broker keeps all it holds back */
    ASSERT_EQ(broker_start(&b, &bo), 0);
    daemon_init(&d, broker_uri(b));
    d.fsize_limit = 128 << 10;
    daemon_start(&d, 1);
    client_open(&pub, broker_uri(b), "publisher", NULL);
    publish_clean(&pub, 0, n, NULL);
    ASSERT(log_has(&d, "ingest log append failed", 1, 20000, NULL, 0));
    first = metric(&d, "weir_task_rows_learned_total{task=\"occupancy\"}");
    ASSERT(first > 100 && first < n); /* some logged, the rest held back */
    ASSERT_EQ(daemon_stop(&d), 1);
    ASSERT(log_has(&d, "leaving without acknowledging it", 1, 10, NULL, 0));
    d.fsize_limit = 0;
    daemon_start(&d, 2);
    if (!wait_metric(&d, "weir_task_rows_learned_total{task=\"occupancy\"}",
                     (double)n, 30000))
        dump_log(&d);
    ASSERT_EQ(metric(&d, "weir_task_rows_learned_total{task=\"occupancy\"}"),
              n);
    sleep_ms(500);
    ASSERT_EQ(metric(&d, "weir_task_rows_learned_total{task=\"occupancy\"}"),
              n);
    ASSERT_EQ(metric(&d, "weir_readings_accepted_total"), 5 * n);
    ASSERT_EQ(daemon_stop(&d), 0);
    if (getenv("WEIR_TEST_VERBOSE") != NULL)
        dump_log(&d);
    client_close(&pub);
    broker_free(b);
}

/* The broker stops and restarts (same port, persistent) mid-stream: weir
 * reconnects and loses nothing at QoS 1 -- including messages published
 * while it was still reconnecting, which the broker queued in its
 * session. weir speaks MQTT 5 here (clean start off, a session expiry
 * interval), the other cases 3.1.1. */
static void broker_restart_loses_nothing(void)
{
    const uint64_t n = 1200;
    struct broker_opts bo;
    struct broker *b;
    struct daemon d;
    struct client pub, dl;

    memset(&bo, 0, sizeof(bo));
    bo.persistence = true;
    ASSERT_EQ(broker_start(&b, &bo), 0);
    daemon_init_with(&d, broker_uri(b), 10, 65536, 5, false, NULL);
    daemon_start(&d, 1);
    client_open(&pub, broker_uri(b), "publisher", NULL);
    publish_clean(&pub, 0, n / 2, NULL);
    ASSERT(
        wait_metric(&d, "weir_readings_accepted_total", 5.0 * (n / 2), 20000));
    client_close(&pub);
    ASSERT_EQ(broker_restart(b), 0);
    client_open(&pub, broker_uri(b), "publisher", NULL);
    publish_clean(&pub, n / 2, n, NULL);
    ASSERT(wait_metric(&d, "weir_readings_accepted_total", 5.0 * n, 30000));
    /* MQTT 5 dead letters carry the reason as a user property. */
    client_open5(&dl, broker_uri(b), "dead-letters", "weir/rejects/#");
    publish(&pub, "sensors/d1", "\x08", 1, 0);
    ASSERT(wait_count(&dl, "weir/rejects/decode_error", 1, 10000));
    ASSERT_STREQ(dl.msgs[0].reason, "decode_error");
    client_close(&dl);
    ASSERT(metric(&d, "weir_mqtt_reconnects_total") >= 1);
    ASSERT_EQ(metric(&d, "weir_mqtt_connected"), 1);
    ASSERT_EQ(metric(&d, "weir_task_rows_learned_total{task=\"occupancy\"}"),
              n);
    ASSERT_EQ(daemon_stop(&d), 0);
    client_close(&pub);
    broker_free(b);
}

static size_t read_file(const char *path, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    size_t n;

    ASSERT(f != NULL);
    n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

/* The same messages through MQTT and through `weir replay` of a capture
 * give the same final snapshot, byte for byte. */
static void replay_matches_live_bit_for_bit(void)
{
    struct broker *b;
    struct daemon d;
    struct client pub, snap;
    char cap[600], out[600], cmd[4096], path[700];
    static uint8_t want[1 << 20], got[1 << 20];
    size_t wl, gl;
    FILE *f;

    ASSERT_EQ(broker_start(&b, NULL), 0);
    daemon_init(&d, broker_uri(b));
    snprintf(cap, sizeof(cap), "%s/stream.cap", d.dir);
    snprintf(out, sizeof(out), "%s/replayed", d.dir);
    ASSERT_EQ(mkdir(out, 0755), 0);
    daemon_start(&d, 1);
    client_open(&pub, broker_uri(b), "publisher", NULL);
    ASSERT((f = fopen(cap, "wb")) != NULL);
    publish_clean(&pub, 0, 700, f);
    fclose(f);
    ASSERT(wait_metric(&d, "weir_readings_accepted_total", 3500, 20000));
    ASSERT_EQ(daemon_stop(&d), 0);
    client_open(&snap, broker_uri(b), "snapshots",
                "weir/model/occupancy/snapshot");
    ASSERT(wait_count(&snap, NULL, 1, 5000));
    wl = snap.msgs[0].len;
    memcpy(want, snap.msgs[0].payload, wl);
    snprintf(cmd, sizeof(cmd), "%s replay -c %s --out %s %s > %s/stats.json",
             weir_bin(), d.cfg, out, cap, d.dir);
    ASSERT_EQ(system(cmd), 0);
    snprintf(path, sizeof(path), "%s/occupancy.pb", out);
    gl = read_file(path, got, sizeof(got));
    ASSERT_EQ(gl, wl);
    ASSERT(memcmp(got, want, wl) == 0);
    client_close(&snap);
    client_close(&pub);
    broker_free(b);
}

/* A slow loop thread (fault injection) and a small ring: the ring stays
 * full past the inbox's deadline (keep-alive / 4), the inbox switches to
 * logging only, and the daemon pauses MQTT, catches up from the ingest
 * log and resumes -- still every reading exactly once. */
static void overflow_catches_up_from_the_log(void)
{
    const uint64_t n = 1500;
    struct broker *b;
    struct daemon d;
    struct client pub;

    ASSERT_EQ(broker_start(&b, NULL), 0);
    daemon_init_with(&d, broker_uri(b), 2, 1024, 4, false, NULL);
    d.env = "WEIR_FAULT_LOOP_DELAY_MS=1500";
    daemon_start(&d, 1);
    client_open(&pub, broker_uri(b), "publisher", NULL);
    publish_clean(&pub, 0, n, NULL);
    ASSERT(wait_metric(&d, "weir_readings_accepted_total", 5.0 * n, 40000));
    if (getenv("WEIR_TEST_VERBOSE") != NULL) {
        char *body = http_get(d.port, "/metrics", NULL);
        fprintf(stderr, "%s", body ? body : "");
        free(body);
    }
    ASSERT(metric(&d, "weir_ring_wait_timeouts_total") >= 1);
    ASSERT(metric(&d, "weir_catchups_total") >= 1);
    ASSERT_EQ(metric(&d, "weir_task_rows_learned_total{task=\"occupancy\"}"),
              n);
    ASSERT_EQ(metric(&d, "weir_qos0_drops_total"), 0);
    if (getenv("WEIR_TEST_VERBOSE") != NULL)
        dump_log(&d);
    ASSERT_EQ(daemon_stop(&d), 0);
    client_close(&pub);
    broker_free(b);
}

/* User name and password from the configuration (password_file): the
 * right ones connect, a wrong one is refused and counted, never
 * connected. */
static void authenticates_with_password_file(void)
{
    char extra[1024], cmd[1024], mqtt[1200];
    struct broker_opts bo;
    struct broker *b;
    struct daemon d;
    FILE *f;

    snprintf(cmd, sizeof(cmd),
             "mosquitto_passwd -c -b %s/broker.pw weir s3cret >/dev/null",
             test_tmpdir());
    ASSERT_EQ(system(cmd), 0);
    snprintf(extra, sizeof(extra),
             "allow_anonymous false\npassword_file %s/broker.pw",
             test_tmpdir());
    memset(&bo, 0, sizeof(bo));
    bo.extra = extra;
    ASSERT_EQ(broker_start(&b, &bo), 0);
    snprintf(cmd, sizeof(cmd), "%s/weir.pw", test_tmpdir());
    ASSERT((f = fopen(cmd, "w")) != NULL);
    fputs("s3cret\n", f);
    fclose(f);
    snprintf(mqtt, sizeof(mqtt), "username = weir\npassword_file = %s\n", cmd);
    daemon_init_with(&d, broker_uri(b), 10, 65536, 4, false, mqtt);
    daemon_start(&d, 1);
    ASSERT_EQ(metric(&d, "weir_mqtt_connected"), 1);
    ASSERT_EQ(daemon_stop(&d), 0);
    ASSERT((f = fopen(cmd, "w")) != NULL);
    fputs("wrong\n", f);
    fclose(f);
    d.no_wait_connected = true;
    daemon_start(&d, 2);
    ASSERT(log_has(&d, "mqtt: connect failed", 1, 10000, NULL, 0));
    ASSERT(metric(&d, "weir_mqtt_connect_failures_total") >= 1);
    ASSERT_EQ(metric(&d, "weir_mqtt_connected"), 0);
    ASSERT_EQ(daemon_stop(&d), 0);
    if (getenv("WEIR_TEST_VERBOSE") != NULL)
        dump_log(&d);
    broker_free(b);
}

static const struct test tests[] = {
    {"authenticates_with_password_file", authenticates_with_password_file},
    {"overflow_catches_up_from_the_log", overflow_catches_up_from_the_log},
    {"counts_dead_letters_and_snapshot", counts_dead_letters_and_snapshot},
    {"kill9_learns_everything_once", kill9_learns_everything_once},
    {"broker_restart_loses_nothing", broker_restart_loses_nothing},
    {"unloggable_message_is_not_acknowledged",
     unloggable_message_is_not_acknowledged},
    {"replay_matches_live_bit_for_bit", replay_matches_live_bit_for_bit},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    return test_main(argc, argv, tests);
}
