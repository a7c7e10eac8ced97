/* test_sim_broker.c -- tests/broker.{h,c}: a private mosquitto starts on a
 * free loopback port and speaks MQTT, restarts on the same port (keeping
 * retained messages when persistent), and never outlives its test, even one
 * that dies without cleaning up. Threads: single-threaded. */
#include "tests/broker.h"
#include "tests/harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Send an MQTT 3.1.1 CONNECT and read the CONNACK: true if accepted. */
static bool mqtt_handshake(uint16_t port)
{
    static const unsigned char connect_pkt[] = {
        0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 1, 'x'};
    unsigned char ack[4] = {0};
    struct sockaddr_in a;
    struct timeval tv = {5, 0};
    size_t got = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bool ok = false;

    ASSERT(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        write(fd, connect_pkt, sizeof(connect_pkt)) ==
            (ssize_t)sizeof(connect_pkt)) {
        while (got < 4) {
            ssize_t n = read(fd, ack + got, 4 - got);
            if (n <= 0)
                break;
            got += (size_t)n;
        }
        ok = got == 4 && ack[0] == 0x20 && ack[1] == 2 && ack[3] == 0;
    }
    close(fd);
    return ok;
}

static bool pid_gone(pid_t pid, int ms)
{
    char path[64];
    struct timespec ts = {0, 10000000L};

    snprintf(path, sizeof(path), "/proc/%d", (int)pid);
    for (int i = 0; i < ms / 10; i++) {
        FILE *f;
        char st[512];
        char *p;

        if ((f = fopen(strcat(strcpy(st, path), "/stat"), "r")) == NULL)
            return true;
        p = fgets(st, sizeof(st), f) ? strrchr(st, ')') : NULL;
        fclose(f);
        if (p != NULL && p[2] == 'Z')
            return true; /* dead, waiting for its parent to reap it */
        nanosleep(&ts, NULL);
    }
    return false;
}

static void starts_and_speaks_mqtt(void)
{
    struct broker *b;
    struct stat sb;
    char dir[256];
    char uri[64];

    ASSERT_EQ(broker_start(&b, NULL), 0);
    ASSERT(broker_port(b) > 0);
    snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%u", broker_port(b));
    ASSERT_STREQ(broker_uri(b), uri);
    ASSERT(broker_running(b));
    ASSERT(mqtt_handshake(broker_port(b)));
    snprintf(dir, sizeof(dir), "%s", broker_dir(b));
    ASSERT_EQ(stat(dir, &sb), 0);
    pid_t pid = broker_pid(b);
    broker_free(b);
    ASSERT(pid_gone(pid, 100));
    ASSERT(stat(dir, &sb) < 0 && errno == ENOENT);
}

static void two_brokers_and_restart_same_port(void)
{
    struct broker *a, *b;
    uint16_t port;

    ASSERT_EQ(broker_start(&a, NULL), 0);
    ASSERT_EQ(broker_start(&b, NULL), 0);
    ASSERT(broker_port(a) != broker_port(b));
    port = broker_port(a);
    ASSERT_EQ(broker_stop(a), 0);
    ASSERT(!broker_running(a));
    ASSERT_EQ(broker_stop(a), -ESRCH);
    ASSERT(!mqtt_handshake(port));
    ASSERT(mqtt_handshake(broker_port(b)));
    ASSERT_EQ(broker_restart(a), 0);
    ASSERT_EQ(broker_port(a), port);
    ASSERT(mqtt_handshake(port));
    broker_free(a);
    broker_free(b);
}

/* Run pre PORT post through the shell. */
static int sh(const char *pre, unsigned port, const char *post)
{
    char cmd[512];

    snprintf(cmd, sizeof(cmd), "%s%u%s", pre, port, post);
    return system(cmd);
}

static void persistent_restart_keeps_retained(void)
{
    struct broker_opts o = {.persistence = true, .max_queued_messages = 5};
    struct broker *b;
    char conf[512];
    char line[256];
    bool found = false;
    FILE *f;

    ASSERT_EQ(broker_start(&b, &o), 0);
    snprintf(conf, sizeof(conf), "%s/mosquitto.conf", broker_dir(b));
    ASSERT((f = fopen(conf, "r")) != NULL);
    while (fgets(line, sizeof(line), f))
        found |= strcmp(line, "max_queued_messages 5\n") == 0;
    fclose(f);
    ASSERT(found);
    ASSERT_EQ(sh("mosquitto_pub -h 127.0.0.1 -p ", broker_port(b),
                 " -t weir/t -m kept -r -q 1"),
              0);
    ASSERT_EQ(broker_restart(b), 0);
    ASSERT_EQ(sh("test \"$(mosquitto_sub -h 127.0.0.1 -p ", broker_port(b),
                 " -t weir/t -C 1 -W 5)\" = kept"),
              0);
    broker_free(b);

    /* Without persistence the retained message is gone after a restart. */
    ASSERT_EQ(broker_start(&b, NULL), 0);
    ASSERT_EQ(sh("mosquitto_pub -h 127.0.0.1 -p ", broker_port(b),
                 " -t weir/t -m kept -r -q 1"),
              0);
    ASSERT_EQ(broker_restart(b), 0);
    ASSERT(sh("test \"$(mosquitto_sub -h 127.0.0.1 -p ", broker_port(b),
              " -t weir/t -C 1 -W 1)\" = kept") != 0);
    broker_free(b);
}

/* A process that starts a broker and dies without stopping it must not
 * leave the broker running (PR_SET_PDEATHSIG). */
static void broker_dies_with_its_parent(void)
{
    int fds[2];
    pid_t child;
    pid_t bpid = 0;
    int status;

    ASSERT_EQ(pipe(fds), 0);
    child = fork();
    ASSERT(child >= 0);
    if (child == 0) {
        struct broker *b;
        pid_t p = 0;
        if (broker_start(&b, NULL) == 0)
            p = broker_pid(b);
        if (write(fds[1], &p, sizeof(p)) != (ssize_t)sizeof(p))
            _exit(2);
        _exit(0); /* no broker_free: simulates a crashed test */
    }
    ASSERT_EQ(read(fds[0], &bpid, sizeof(bpid)), (ssize_t)sizeof(bpid));
    ASSERT(waitpid(child, &status, 0) == child);
    ASSERT(bpid > 0);
    ASSERT(pid_gone(bpid, 3000));
    close(fds[0]);
    close(fds[1]);
}

static void missing_binary_is_an_error(void)
{
    struct broker *b = NULL;

    setenv("WEIR_MOSQUITTO", "/nonexistent/mosquitto", 1);
    ASSERT_EQ(broker_start(&b, NULL), -ENOENT);
    ASSERT(b == NULL);
    unsetenv("WEIR_MOSQUITTO");
}

static void shell_helpers_work(void)
{
    /* tests/broker.sh: start, restart on the same port, clean up. */
    ASSERT_EQ(
        system(
            "sh -c '. tests/broker.sh && broker_start true && "
            "p=$BROKER_PORT && d=$BROKER_DIR && "
            "mosquitto_pub -p $p -t weir/s -m x -r -q 1 && broker_restart && "
            "[ $BROKER_PORT = $p ] && "
            "[ \"$(mosquitto_sub -p $p -t weir/s -C 1 -W 5)\" = x ] && "
            "pid=$BROKER_PID && broker_cleanup && [ ! -d $d ] && "
            "! kill -0 $pid 2>/dev/null'"),
        0);
}

static const struct test tests[] = {
    {"starts_and_speaks_mqtt", starts_and_speaks_mqtt},
    {"two_brokers_and_restart_same_port", two_brokers_and_restart_same_port},
    {"persistent_restart_keeps_retained", persistent_restart_keeps_retained},
    {"broker_dies_with_its_parent", broker_dies_with_its_parent},
    {"missing_binary_is_an_error", missing_binary_is_an_error},
    {"shell_helpers_work", shell_helpers_work},
    {NULL, NULL}};

int main(int argc, char **argv)
{
    return test_main(argc, argv, tests);
}
