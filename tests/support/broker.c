/*
 * broker.c - start and stop the Kafka broker of a test, and talk to
 * mm-devbroker's control channel (see broker.h). One broker per test:
 * mm-devbroker starts in well under a second; a real broker (MM_TEST_BROKER=
 * kafka) in about 10 s, so only the suites that need its behaviour run on it,
 * and under CTest they share one (MMT_KAFKA_SHARED_ENV), each start with a
 * topic prefix of its own.
 * Commands go one at a time over one connection, so each answer line belongs
 * to the command just sent.
 */
#include "broker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "kafka_real.h"
#include "mm/kafka.h"
#include "mm/util.h"
#include "support.h"

/* Generous: the broker is up in milliseconds, but sanitizer builds on a busy machine are slow. */
#define BROKER_START_TIMEOUT_MS 20000
#define BROKER_STOP_GRACE_MS    10000
/* A command is applied in microseconds; this only bounds a broker that hangs. */
#define BROKER_CONTROL_TIMEOUT_MS 10000
#define BROKER_ANSWER_MAX         2048
/* mmctl topics init on a fresh real broker: admin requests and the topics appearing. */
#define TOPICS_INIT_TIMEOUT_MS 60000

static char *path_join(const char *dir, const char *name) {
    size_t len = strlen(dir) + 1 + strlen(name) + 1;
    char *path = malloc(len);
    cr_assert(path, "out of memory");
    snprintf(path, len, "%s/%s", dir, name);
    return path;
}

bool mmt_broker_real(void) {
    const char *kind = getenv("MM_TEST_BROKER");
    if (!kind || !*kind || strcmp(kind, "devbroker") == 0) return false;
    cr_assert(strcmp(kind, "kafka") == 0, "MM_TEST_BROKER=%s: expected devbroker or kafka", kind);
    return true;
}

const char *mmt_broker_kind(void) {
    return mmt_broker_real() ? "kafka" : "devbroker";
}

/* The topics of a deployment on a fresh real broker, as `mmctl topics init` makes them. */
static void real_topics_init(mmt_broker_t *broker, int partitions) {
    char *mmctl = mmt_binary("mmctl");
    cr_assert(mmctl, "mmctl binary not found (a real-broker test creates its topics with it)");
    char partitions_arg[32];
    snprintf(partitions_arg, sizeof(partitions_arg), "%d", partitions);
    char *log_path = path_join(broker->dir, "topics-init.log");
    /* With a prefix (a shared broker), the topics of this test alone. */
    char *argv[] = {mmctl,
                    "topics",
                    "init",
                    "--bootstrap-servers",
                    broker->bootstrap,
                    "--partitions",
                    partitions_arg,
                    "--replication",
                    "1",
                    broker->topic_prefix ? "--topic-prefix" : NULL,
                    broker->topic_prefix,
                    NULL};
    pid_t pid = mmt_spawn(argv, NULL, log_path);
    int status = pid > 0 ? mmt_wait(pid, mmt_timeout_ms(TOPICS_INIT_TIMEOUT_MS)) : -1;
    if (status < 0 && pid > 0) mmt_stop(pid, 0);
    free(mmctl);
    cr_assert_eq(status, 0, "mmctl topics init exited with %d (see %s)", status, log_path);
    free(log_path);
}

/* A single-node Apache Kafka broker in place of mm-devbroker. */
static void real_start(mmt_broker_t *broker, int partitions) {
    if (mmt_kafka_skipped()) cr_skip_test("MM_SKIP_REAL_KAFKA=1");
    broker->kafka = calloc(1, sizeof(*broker->kafka));
    cr_assert(broker->kafka, "out of memory");
    char why[1024] = "";
    bool up = mmt_kafka_start(broker->kafka, partitions, why, sizeof(why));
    if (!up) {
        mmt_kafka_stop(broker->kafka);
        free(broker->kafka);
        broker->kafka = NULL;
        cr_assert_fail("%s", why);
    }
    broker->bootstrap = strdup(broker->kafka->bootstrap);
    cr_assert(broker->bootstrap, "out of memory");
    /* Services given --bootstrap-file find the address as with the dev broker. */
    cr_assert(mmt_write_file(broker->bootstrap_file, broker->bootstrap), "writing %s",
              broker->bootstrap_file);
    real_topics_init(broker, partitions);
}

/*
 * The run's shared real broker, its address in @p file: this start gets a topic prefix of its own,
 * unique across the run (the process id, a count, and random bits against a reused id), set in
 * this process (the test's own Kafka handles) and in the environment (every service, mmctl) and
 * used by `mmctl topics init`, so its topics and consumer groups are its own.
 */
static void shared_start(mmt_broker_t *broker, int partitions, const char *file) {
    if (mmt_kafka_skipped()) cr_skip_test("MM_SKIP_REAL_KAFKA=1");
    char errstr[512];
    broker->bootstrap = mm_kafka_resolve_bootstrap(NULL, file, 0, errstr, sizeof(errstr));
    cr_assert(broker->bootstrap,
              "%s=%s: no address of the shared Kafka broker (%s); CTest's fixture test "
              "kafka_broker_start writes it, or unset %s to start a broker of the test's own",
              MMT_KAFKA_SHARED_ENV, file, errstr, MMT_KAFKA_SHARED_ENV);
    static int starts;
    uint32_t nonce = 0;
    cr_assert_eq(getrandom(&nonce, sizeof(nonce), 0), (ssize_t)sizeof(nonce), "getrandom: %s",
                 strerror(errno));
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "t%ld-%d-%08x.", (long)getpid(), ++starts, (unsigned)nonce);
    cr_assert_eq(mm_kafka_set_topic_prefix(prefix, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(setenv("MM_TOPIC_PREFIX", prefix, 1), 0, "setenv MM_TOPIC_PREFIX");
    broker->topic_prefix = strdup(prefix);
    cr_assert(broker->topic_prefix, "out of memory");
    cr_assert(mmt_write_file(broker->bootstrap_file, broker->bootstrap), "writing %s",
              broker->bootstrap_file);
    real_topics_init(broker, partitions);
}

void mmt_broker_start(mmt_broker_t *broker, int partitions) {
    mmt_broker_opts_t opts = {.partitions = partitions, .brokers = 1, .control = false};
    mmt_broker_start_with(broker, &opts);
}

void mmt_broker_start_with(mmt_broker_t *broker, const mmt_broker_opts_t *opts) {
    memset(broker, 0, sizeof(*broker));
    broker->dir = mmt_tmpdir("broker");
    cr_assert(broker->dir, "cannot create a temporary directory for the broker");
    broker->bootstrap_file = path_join(broker->dir, "bootstrap");
    if (opts->control) broker->control_file = path_join(broker->dir, "control");
    if (!opts->control && mmt_broker_real()) {
        const char *shared = getenv(MMT_KAFKA_SHARED_ENV);
        if (shared && *shared)
            shared_start(broker, opts->partitions, shared);
        else
            real_start(broker, opts->partitions);
        return;
    }
    char *log_path = path_join(broker->dir, "devbroker.log");
    char *binary = mmt_binary("mm-devbroker");
    cr_assert(binary, "mm-devbroker binary not found");

    char partitions_arg[32], brokers_arg[32], pid_arg[32];
    snprintf(partitions_arg, sizeof(partitions_arg), "%d", opts->partitions);
    snprintf(brokers_arg, sizeof(brokers_arg), "%d", opts->brokers > 0 ? opts->brokers : 1);
    /* The broker exits by itself if this test process dies without stopping it. */
    snprintf(pid_arg, sizeof(pid_arg), "%ld", (long)getpid());
    char *argv[] = {binary,
                    "--partitions",
                    partitions_arg,
                    "--brokers",
                    brokers_arg,
                    "--bootstrap-file",
                    broker->bootstrap_file,
                    "--watch-pid",
                    pid_arg,
                    broker->control_file ? "--control-file" : NULL,
                    broker->control_file,
                    NULL};
    broker->pid = mmt_spawn(argv, NULL, log_path);
    free(binary);
    cr_assert(broker->pid > 0, "cannot start mm-devbroker");

    /* The broker writes the control file before the bootstrap file. */
    if (!mmt_wait_file(broker->bootstrap_file, mmt_timeout_ms(BROKER_START_TIMEOUT_MS))) {
        mmt_stop(broker->pid, mmt_timeout_ms(BROKER_STOP_GRACE_MS));
        broker->pid = 0;
        cr_assert_fail("mm-devbroker did not write %s in time; its log: %s", broker->bootstrap_file,
                       log_path);
    }
    free(log_path);

    char errstr[256];
    broker->bootstrap =
        mm_kafka_resolve_bootstrap(NULL, broker->bootstrap_file, 0, errstr, sizeof(errstr));
    cr_assert(broker->bootstrap, "reading the broker address: %s", errstr);
}

/* Connect to the address in the broker's control file ("127.0.0.1:<port>"). */
static int control_connect(const mmt_broker_t *broker) {
    cr_assert(broker->control_file, "this broker was started without a control channel");
    char errstr[256];
    char *address =
        mm_kafka_resolve_bootstrap(NULL, broker->control_file, 0, errstr, sizeof(errstr));
    cr_assert(address, "reading the control address: %s", errstr);
    const char *colon = strrchr(address, ':');
    int64_t port = 0;
    cr_assert(colon && mm_parse_i64(colon + 1, &port) && port > 0 && port <= 65535,
              "bad control address %s", address);
    free(address);

    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(fd >= 0, "socket: %s", strerror(errno));
    int64_t timeout_ms = mmt_timeout_ms(BROKER_CONTROL_TIMEOUT_MS);
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons((uint16_t)port);
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        int e = errno;
        close(fd);
        cr_assert_fail("connecting to the control channel on port %d: %s", (int)port, strerror(e));
    }
    return fd;
}

bool mmt_broker_control(mmt_broker_t *broker, const char *command, char *answer,
                        size_t answer_size) {
    if (!broker->control_connected) {
        broker->control_fd = control_connect(broker);
        broker->control_connected = true;
    }
    size_t len = strlen(command);
    char *line = malloc(len + 2);
    cr_assert(line, "out of memory");
    memcpy(line, command, len);
    line[len] = '\n';
    ssize_t sent = send(broker->control_fd, line, len + 1, MSG_NOSIGNAL);
    free(line);
    cr_assert_eq(sent, (ssize_t)(len + 1), "sending '%s' to the control channel: %s", command,
                 strerror(errno));

    /* Byte by byte: never read past this command's answer. */
    char buf[BROKER_ANSWER_MAX];
    size_t n = 0;
    for (;;) {
        char ch;
        ssize_t got = recv(broker->control_fd, &ch, 1, 0);
        cr_assert_eq(got, 1, "no answer to '%s' from the control channel (%s)", command,
                     got == 0 ? "connection closed" : strerror(errno));
        if (ch == '\n') break;
        if (n + 1 < sizeof(buf)) buf[n++] = ch;
    }
    buf[n] = '\0';
    if (answer && answer_size > 0) snprintf(answer, answer_size, "%s", buf);
    return strncmp(buf, "ok", 2) == 0 && (buf[2] == '\0' || buf[2] == ' ');
}

void mmt_broker_control_ok(mmt_broker_t *broker, const char *command) {
    char answer[BROKER_ANSWER_MAX];
    bool applied = mmt_broker_control(broker, command, answer, sizeof(answer));
    cr_assert(applied, "control command '%s' answered: %s", command, answer);
}

void mmt_broker_stop(mmt_broker_t *broker) {
    if (!broker) return;
    if (broker->control_connected) close(broker->control_fd);
    if (broker->topic_prefix) {
        /* The shared broker runs on; its topics of this test are left to it (the run's end
         * removes them all). */
        char errstr[256];
        mm_kafka_set_topic_prefix("", errstr, sizeof(errstr));
        unsetenv("MM_TOPIC_PREFIX");
        free(broker->topic_prefix);
        if (broker->dir) mmt_rmtree(broker->dir);
    } else if (broker->kafka) {
        mmt_kafka_stop(broker->kafka);
        free(broker->kafka);
        if (broker->dir) mmt_rmtree(broker->dir);
    } else if (broker->pid > 0) {
        int status = mmt_stop(broker->pid, mmt_timeout_ms(BROKER_STOP_GRACE_MS));
        broker->pid = 0;
        /* A clean exit also means the sanitizers found nothing in the broker. */
        cr_expect_eq(status, 0, "mm-devbroker exited with status %d (see %s/devbroker.log)", status,
                     broker->dir ? broker->dir : "?");
        if (status == 0 && broker->bootstrap_file)
            cr_expect(access(broker->bootstrap_file, F_OK) != 0,
                      "mm-devbroker left its bootstrap file behind");
        if (status == 0 && broker->control_file)
            cr_expect(access(broker->control_file, F_OK) != 0,
                      "mm-devbroker left its control file behind");
        if (status == 0 && broker->dir) mmt_rmtree(broker->dir);
    } else if (broker->dir) {
        mmt_rmtree(broker->dir);
    }
    free(broker->dir);
    free(broker->bootstrap);
    free(broker->bootstrap_file);
    free(broker->control_file);
    memset(broker, 0, sizeof(*broker));
}
