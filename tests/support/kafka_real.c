/*
 * kafka_real.c - a single-node Apache Kafka broker in KRaft mode for a test
 * (see kafka_real.h): free loopback ports, a fresh log dir formatted with
 * kafka.tools.StorageTool, then kafka.Kafka as a child process that dies with
 * the test.
 *
 * Workload: one broker per CTest run (tests/support/kafka_shared.c starts it
 * for the run's fixture), or per test binary run by hand, plus one for each
 * test that stops or restarts its broker. A JVM start takes seconds (10-30 s
 * for format and start on a busy 2-core machine), so tests share it rather
 * than starting one each.
 */
#include "kafka_real.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "mm/util.h"
#include "support.h"

#define KAFKA_LIBS_DIR          MM_SOURCE_DIR "/.deps/kafka/libs"
#define KAFKA_CLASSPATH         KAFKA_LIBS_DIR "/*"
#define KAFKA_MARKER_JAR_PREFIX "kafka_2.13-"
/* Any fixed base64 UUID serves: the log dir is new for every start-up. */
#define KAFKA_CLUSTER_ID     "bWFueW1vZGVscy10ZXN0cw"
#define KAFKA_HEAP           "-Xmx512m"
#define KAFKA_FORMAT_HEAP    "-Xmx256m"
#define KAFKA_FORMAT_TIMEOUT 60000
/* The JVM, the KRaft election and the first metadata answer, on a busy machine. */
#define KAFKA_START_TIMEOUT_MS 90000
#define KAFKA_STOP_GRACE_MS    30000
#define KAFKA_METADATA_WAIT_MS 1000
#define KAFKA_POLL_MS          250
#define PATH_MAX_LEN           4096
#define NO_JAVA                "real Kafka: no java on PATH; run scripts/deps.sh (or set MM_SKIP_REAL_KAFKA=1)"

bool mmt_kafka_skipped(void) {
    const char *skip = getenv("MM_SKIP_REAL_KAFKA");
    return skip && strcmp(skip, "1") == 0;
}

/* @returns true if .deps/kafka/libs holds the broker jar. */
static bool jars_present(void) {
    DIR *dir = opendir(KAFKA_LIBS_DIR);
    if (!dir) return false;
    bool found = false;
    struct dirent *entry;
    while (!found && (entry = readdir(dir)))
        found =
            strncmp(entry->d_name, KAFKA_MARKER_JAR_PREFIX, strlen(KAFKA_MARKER_JAR_PREFIX)) == 0;
    closedir(dir);
    return found;
}

static bool write_properties(const mmt_kafka_t *kafka, int partitions, const char *path) {
    char text[2048];
    snprintf(text, sizeof(text),
             "process.roles=broker,controller\n"
             "node.id=1\n"
             "controller.quorum.voters=1@127.0.0.1:%d\n"
             "listeners=PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d\n"
             "advertised.listeners=PLAINTEXT://127.0.0.1:%d\n"
             "controller.listener.names=CONTROLLER\n"
             "inter.broker.listener.name=PLAINTEXT\n"
             "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n"
             "log.dirs=%s/data\n"
             "num.partitions=%d\n"
             "offsets.topic.replication.factor=1\n"
             "offsets.topic.num.partitions=%d\n"
             "transaction.state.log.replication.factor=1\n"
             "transaction.state.log.min.isr=1\n"
             "share.coordinator.state.topic.replication.factor=1\n"
             "share.coordinator.state.topic.min.isr=1\n"
             "group.initial.rebalance.delay.ms=0\n"
             /* The log cleaner looks for work every second (default 15 s), so a test of
              * compaction waits seconds, not minutes; the topic decides when it is due. */
             "log.cleaner.backoff.ms=1000\n"
             "log.retention.check.interval.ms=5000\n",
             kafka->controller_port, kafka->port, kafka->controller_port, kafka->port, kafka->dir,
             partitions, partitions);
    return mmt_write_file(path, text);
}

/* @returns true once a metadata request to the broker succeeds. */
static bool metadata_answers(const char *bootstrap) {
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        return false;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return false;
    }
    const struct rd_kafka_metadata *md = NULL;
    bool ok =
        rd_kafka_metadata(rk, 1, NULL, &md, KAFKA_METADATA_WAIT_MS) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->broker_cnt == 1;
    if (md) rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);
    return ok;
}

static bool fail(char *why, size_t why_size, const char *log_path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Writes the reason into @p why, prints @p log_path (if any) to stderr; @returns false. */
static bool fail(char *why, size_t why_size, const char *log_path, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_size, fmt, ap);
    va_end(ap);
    if (log_path) mmt_print_file(log_path);
    return false;
}

static bool launch(mmt_kafka_t *kafka, char *why, size_t why_size) {
    char java[PATH_MAX_LEN], props[PATH_MAX_LEN], log_path[PATH_MAX_LEN];
    if (!mmt_find_java(java, sizeof(java))) return fail(why, why_size, NULL, "%s", NO_JAVA);
    snprintf(props, sizeof(props), "%s/server.properties", kafka->dir);
    snprintf(log_path, sizeof(log_path), "%s/broker.log", kafka->dir);
    char *argv[] = {java,  KAFKA_HEAP, "-XX:+UseSerialGC", "-cp", KAFKA_CLASSPATH, "kafka.Kafka",
                    props, NULL};
    int64_t started = mm_mono_ms();
    kafka->pid = mmt_spawn(argv, NULL, log_path);
    if (kafka->pid <= 0) return fail(why, why_size, NULL, "real Kafka: cannot start %s", java);

    int64_t deadline = started + mmt_timeout_ms(KAFKA_START_TIMEOUT_MS);
    while (!metadata_answers(kafka->bootstrap)) {
        int status = 0;
        if (waitpid(kafka->pid, &status, WNOHANG) == kafka->pid) {
            kafka->pid = 0;
            return fail(why, why_size, log_path,
                        "real Kafka exited during start-up (status %d); its log: %s", status,
                        log_path);
        }
        if (mm_mono_ms() > deadline)
            return fail(why, why_size, log_path,
                        "real Kafka did not answer a metadata request on %s in %lld ms",
                        kafka->bootstrap, (long long)mmt_timeout_ms(KAFKA_START_TIMEOUT_MS));
        mm_sleep_ms(KAFKA_POLL_MS, NULL);
    }
    fprintf(stderr, "real Kafka: up on %s after %lld ms\n", kafka->bootstrap,
            (long long)(mm_mono_ms() - started));
    return true;
}

static bool format_log_dir(const mmt_kafka_t *kafka, const char *java, const char *props, char *why,
                           size_t why_size) {
    char log_path[PATH_MAX_LEN];
    snprintf(log_path, sizeof(log_path), "%s/format.log", kafka->dir);
    char *argv[] = {(char *)java,
                    KAFKA_FORMAT_HEAP,
                    "-cp",
                    KAFKA_CLASSPATH,
                    "kafka.tools.StorageTool",
                    "format",
                    "--cluster-id",
                    KAFKA_CLUSTER_ID,
                    "--config",
                    (char *)props,
                    NULL};
    pid_t format = mmt_spawn(argv, NULL, log_path);
    if (format <= 0) return fail(why, why_size, NULL, "real Kafka: cannot start %s", java);
    int status = mmt_wait(format, mmt_timeout_ms(KAFKA_FORMAT_TIMEOUT));
    if (status < 0) mmt_stop(format, 0);
    if (status != 0)
        return fail(why, why_size, log_path,
                    "real Kafka: formatting the log dir failed (status %d); its log: %s", status,
                    log_path);
    return true;
}

bool mmt_kafka_start(mmt_kafka_t *kafka, int partitions, char *why, size_t why_size) {
    memset(kafka, 0, sizeof(*kafka));
    if (!jars_present())
        return fail(why, why_size, NULL,
                    "real Kafka: no broker jars in %s; run scripts/deps.sh (it calls "
                    "scripts/kafka-deps.sh), or set MM_SKIP_REAL_KAFKA=1 to skip these tests",
                    KAFKA_LIBS_DIR);
    char java[PATH_MAX_LEN];
    if (!mmt_find_java(java, sizeof(java))) return fail(why, why_size, NULL, "%s", NO_JAVA);
    kafka->dir = mmt_tmpdir("kafka");
    kafka->port = mmt_free_port();
    kafka->controller_port = mmt_free_port();
    char bootstrap[64];
    snprintf(bootstrap, sizeof(bootstrap), "127.0.0.1:%d", kafka->port);
    kafka->bootstrap = strdup(bootstrap);
    if (!kafka->dir || !kafka->bootstrap || kafka->port <= 0 || kafka->controller_port <= 0 ||
        kafka->port == kafka->controller_port)
        return fail(why, why_size, NULL, "real Kafka: no temp dir or free loopback ports");

    char props[PATH_MAX_LEN];
    snprintf(props, sizeof(props), "%s/server.properties", kafka->dir);
    if (!write_properties(kafka, partitions, props))
        return fail(why, why_size, NULL, "real Kafka: cannot write %s", props);
    return format_log_dir(kafka, java, props, why, why_size) && launch(kafka, why, why_size);
}

bool mmt_kafka_restart(mmt_kafka_t *kafka, char *why, size_t why_size) {
    if (!kafka->dir || !kafka->bootstrap)
        return fail(why, why_size, NULL, "real Kafka: restart of a broker never started");
    if (kafka->pid > 0) mmt_stop(kafka->pid, mmt_timeout_ms(KAFKA_STOP_GRACE_MS));
    kafka->pid = 0;
    return launch(kafka, why, why_size);
}

void mmt_kafka_stop(mmt_kafka_t *kafka) {
    if (!kafka) return;
    /* The JVM's shutdown hook closes the log; its exit status on SIGTERM is 143, not 0. */
    if (kafka->pid > 0) mmt_stop(kafka->pid, mmt_timeout_ms(KAFKA_STOP_GRACE_MS));
    if (kafka->dir) mmt_rmtree(kafka->dir);
    free(kafka->dir);
    free(kafka->bootstrap);
    memset(kafka, 0, sizeof(*kafka));
}
