/*
 * mm-devbroker - an embedded Kafka for one machine: librdkafka's mock cluster
 * serving the real Kafka protocol on loopback (docs/ARCHITECTURE.md, "The dev broker").
 *
 * Workload: tests, demos and single-machine runs. It creates the pipeline's
 * topics, publishes its (ephemeral) bootstrap address on stdout and in a
 * file, and serves until SIGTERM/SIGINT. It is not durable storage: the mock
 * keeps only the newest ~5 MiB per partition and drops older batches. With
 * --control-file it also takes fault-injection commands on a loopback port
 * (control.c, commands.c).
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "commands.h"
#include "control.h"
#include "mm/conf.h"
#include "mm/err.h"
#include "mm/exit.h"
#include "mm/fs.h"
#include "mm/kafka.h"
#include "mm/log.h"
#include "mm/service.h"
#include "mm/util.h"
#include "mm/version.h"

/* The main loop's poll slice: how quickly a signal or a vanished parent is noticed. */
#define DEVBROKER_POLL_MS 200
/* Cap on a topic name (Kafka allows 249 characters). */
#define DEVBROKER_TOPIC_MAX 249

typedef struct devbroker_conf {
    int64_t brokers;
    int64_t partitions;
    char *topics;
    char *bootstrap_file;
    char *control_file;
    char *log_level;
    int64_t watch_pid;
} devbroker_conf_t;

static const mm_conf_prop_t devbroker_props[] = {
    {"brokers", MM_CONF_INT, "1", 1, MM_DEVBROKER_MAX_BROKERS, "MM_DEVBROKER_BROKERS",
     "number of mock brokers", 0, offsetof(devbroker_conf_t, brokers)},
    {"partitions", MM_CONF_INT, "4", 1, 1024, "MM_DEVBROKER_PARTITIONS",
     "partitions per created topic", 0, offsetof(devbroker_conf_t, partitions)},
    {"topics", MM_CONF_STR,
     MM_TOPIC_OBSERVATIONS "," MM_TOPIC_MODELS "," MM_TOPIC_DECISIONS "," MM_TOPIC_SCORE_REQUESTS
                           "," MM_TOPIC_PREDICTIONS "," MM_TOPIC_DEADLETTER,
     1, 0, "MM_DEVBROKER_TOPICS", "comma-separated topics to create", 0,
     offsetof(devbroker_conf_t, topics)},
    {"bootstrap-file", MM_CONF_STR, NULL, 1, 0, "MM_DEVBROKER_BOOTSTRAP_FILE",
     "write the bootstrap address here (atomically; removed at exit)", 0,
     offsetof(devbroker_conf_t, bootstrap_file)},
    {"control-file", MM_CONF_STR, NULL, 1, 0, "MM_DEVBROKER_CONTROL_FILE",
     "open the fault-injection control channel on a loopback port and write its address here "
     "(atomically; removed at exit); send 'help' to it for the commands",
     0, offsetof(devbroker_conf_t, control_file)},
    {"log-level", MM_CONF_STR, "info", 1, 0, "MM_LOG_LEVEL", "debug, info, warn or error", 0,
     offsetof(devbroker_conf_t, log_level)},
    {"watch-pid", MM_CONF_INT, "0", 0, 2147483647, "MM_DEVBROKER_WATCH_PID",
     "exit when this process is gone (0: never); keeps test brokers from outliving their test", 0,
     offsetof(devbroker_conf_t, watch_pid)},
};

static const mm_conf_schema_t devbroker_schema = {
    .program = "mm-devbroker",
    .summary = "embedded Kafka (librdkafka mock cluster) on loopback for tests and demos; "
               "keeps only the newest ~5 MiB per partition, not durable",
    .usage_args = NULL,
    .props = devbroker_props,
    .n_props = MM_ARRAY_SIZE(devbroker_props),
};

/* librdkafka logs with syslog levels (0 emerg .. 7 debug). */
static void devbroker_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    (void)rk;
    mm_log_level_t mm_level = level <= 3   ? MM_LOG_ERROR
                              : level == 4 ? MM_LOG_WARN
                              : level <= 6 ? MM_LOG_INFO
                                           : MM_LOG_DEBUG;
    if (!mm_log_enabled(mm_level)) return;
    mm_logj(mm_level, "kafka_client_log", json_pack("{s:s}", "facility", fac ? fac : ""), "%s",
            buf);
}

/* Create every topic of the comma-separated @p topics. */
static mm_err_t create_topics(rd_kafka_mock_cluster_t *mcluster, const char *topics, int partitions,
                              int replication, char *errstr, size_t errstr_size) {
    const char *p = topics ? topics : "";
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        while (len > 0 && (*p == ' ' || *p == '\t')) p++, len--;
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
        if (len > DEVBROKER_TOPIC_MAX)
            return mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "--topics: name longer than %d",
                           DEVBROKER_TOPIC_MAX);
        if (len > 0) {
            char topic[DEVBROKER_TOPIC_MAX + 1];
            memcpy(topic, p, len);
            topic[len] = '\0';
            rd_kafka_resp_err_t err =
                rd_kafka_mock_topic_create(mcluster, topic, partitions, replication);
            if (err)
                return mm_errf(MM_ERR_KAFKA, errstr, errstr_size, "create topic %s: %s", topic,
                               rd_kafka_err2str(err));
            mm_logj(MM_LOG_INFO, "topic_created",
                    json_pack("{s:s, s:i, s:i}", "topic", topic, "partitions", partitions,
                              "replication", replication),
                    "created topic %s", topic);
        }
        if (!comma) break;
        p = comma + 1;
    }
    return MM_OK;
}

/* Publish @p address as one line in @p path (atomically, so readers never see half a line). */
static mm_err_t write_address_file(const char *path, const char *address, char *errstr,
                                   size_t errstr_size) {
    char line[1024];
    int n = snprintf(line, sizeof(line), "%s\n", address);
    if (n < 0 || (size_t)n >= sizeof(line))
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "%s: address too long", path);
    return mm_file_write_atomic(path, line, (size_t)n, errstr, errstr_size);
}

static void remove_address_file(const char *path) {
    if (unlink(path) != 0 && errno != ENOENT)
        mm_log_warn("address_file_remove_failed", "%s: %s", path, strerror(errno));
}

static bool parent_gone(int64_t watch_pid) {
    return watch_pid > 0 && kill((pid_t)watch_pid, 0) != 0 && errno == ESRCH;
}

int main(int argc, char **argv) {
    devbroker_conf_t cfg;
    memset(&cfg, 0, sizeof(cfg));
    mm_kv_list_t kafka_props = {0};
    mm_conf_action_t action = MM_CONF_RUN;
    char errstr[512];
    int status = MM_EXIT_FAILURE;
    rd_kafka_t *rk = NULL;
    rd_kafka_mock_cluster_t *mcluster = NULL;
    static mm_devbroker_commands_t commands;
    mm_devbroker_control_t *control = NULL;
    bool wrote_file = false, wrote_control_file = false;

    if (mm_version_requested(argc, argv))
        return mm_version_print("mm-devbroker", stdout) == 0 ? MM_EXIT_OK : MM_EXIT_FAILURE;
    mm_log_init("mm-devbroker", MM_LOG_INFO);
    if (mm_conf_parse(&devbroker_schema, &cfg, argc, argv, &kafka_props, NULL, NULL, &action,
                      errstr, sizeof(errstr)) != MM_OK) {
        mm_log_error("config_invalid", "%s", errstr);
        fprintf(stderr, "mm-devbroker: %s (see --help)\n", errstr);
        status = MM_EXIT_USAGE;
        goto out;
    }
    if (action == MM_CONF_EXIT_OK) {
        status = MM_EXIT_OK;
        goto out;
    }
    mm_log_level_t level;
    if (!mm_log_level_parse(cfg.log_level, &level)) {
        mm_log_error("config_invalid", "--log-level: unknown level '%s'",
                     cfg.log_level ? cfg.log_level : "");
        status = MM_EXIT_CONFIG;
        goto out;
    }
    mm_log_set_level(level);
    mm_service_install_signals();

    /* The mock cluster needs a client handle for its bookkeeping; a producer serves. */
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, devbroker_log_cb);
    for (size_t i = 0; i < kafka_props.n; i++) {
        if (rd_kafka_conf_set(conf, kafka_props.items[i].key, kafka_props.items[i].value, errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK) {
            mm_log_error("config_invalid", "-X %s: %s", kafka_props.items[i].key, errstr);
            rd_kafka_conf_destroy(conf);
            status = MM_EXIT_CONFIG;
            goto out;
        }
    }
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        mm_log_error("kafka_init_failed", "%s", errstr);
        goto out;
    }
    conf = NULL; /* now owned by rk */

    mcluster = rd_kafka_mock_cluster_new(rk, (int)cfg.brokers);
    if (!mcluster) {
        mm_log_error("mock_cluster_failed", "could not create a mock cluster of %d broker(s)",
                     (int)cfg.brokers);
        goto out;
    }
    int replication = cfg.brokers >= 3 ? 3 : (int)cfg.brokers;
    if (create_topics(mcluster, cfg.topics, (int)cfg.partitions, replication, errstr,
                      sizeof(errstr)) != MM_OK) {
        mm_log_error("topic_create_failed", "%s", errstr);
        goto out;
    }

    /* The control channel is ready before the bootstrap file appears, so a
     * harness that waits for the bootstrap file can use both at once. */
    if (cfg.control_file && *cfg.control_file) {
        mm_devbroker_commands_init(&commands, mcluster, (int)cfg.brokers);
        control = mm_devbroker_control_open(&commands, errstr, sizeof(errstr));
        if (!control) {
            mm_log_error("control_open_failed", "%s", errstr);
            goto out;
        }
        const char *address = mm_devbroker_control_address(control);
        if (write_address_file(cfg.control_file, address, errstr, sizeof(errstr)) != MM_OK) {
            mm_log_error("control_file_failed", "%s: %s", cfg.control_file, errstr);
            goto out;
        }
        wrote_control_file = true;
        mm_logj(MM_LOG_INFO, "control_ready", json_pack("{s:s}", "address", address),
                "fault-injection commands on %s", address);
    }

    const char *bootstrap = rd_kafka_mock_cluster_bootstraps(mcluster);
    if (cfg.bootstrap_file && *cfg.bootstrap_file) {
        if (write_address_file(cfg.bootstrap_file, bootstrap, errstr, sizeof(errstr)) != MM_OK) {
            mm_log_error("bootstrap_file_failed", "%s: %s", cfg.bootstrap_file, errstr);
            goto out;
        }
        wrote_file = true;
    }
    printf("%s\n", bootstrap);
    fflush(stdout);
    mm_logj(MM_LOG_INFO, "devbroker_ready",
            json_pack("{s:s, s:i, s:i}", "bootstrap", bootstrap, "brokers", (int)cfg.brokers,
                      "partitions", (int)cfg.partitions),
            "serving on %s", bootstrap);

    while (!mm_service_stop) {
        if (control) {
            mm_devbroker_control_serve(control, DEVBROKER_POLL_MS);
            rd_kafka_poll(rk, 0);
        } else {
            rd_kafka_poll(rk, DEVBROKER_POLL_MS);
        }
        if (parent_gone(cfg.watch_pid)) {
            mm_log_warn("watched_process_gone", "process %lld is gone; stopping",
                        (long long)cfg.watch_pid);
            break;
        }
    }
    mm_log_info("devbroker_stopping", "shutting down");
    status = MM_EXIT_OK;

out:
    if (wrote_file) remove_address_file(cfg.bootstrap_file);
    if (wrote_control_file) remove_address_file(cfg.control_file);
    mm_devbroker_control_close(control);
    if (mcluster) rd_kafka_mock_cluster_destroy(mcluster);
    if (rk) rd_kafka_destroy(rk);
    mm_conf_free(&devbroker_schema, &cfg);
    mm_kv_list_free(&kafka_props);
    return status;
}
