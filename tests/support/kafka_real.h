/*
 * kafka_real.h - start, restart and stop a single-node Apache Kafka broker
 * (KRaft, broker and controller in one JVM) on free loopback ports for a
 * test. The jars come from scripts/kafka-deps.sh (.deps/kafka/libs/).
 */
#ifndef MM_TEST_KAFKA_REAL_H
#define MM_TEST_KAFKA_REAL_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct mmt_kafka {
    pid_t pid;
    int port;            /* PLAINTEXT listener */
    int controller_port; /* CONTROLLER listener (the KRaft quorum of one) */
    char *dir;           /* temp dir: server.properties, broker.log, data/ */
    char *bootstrap;     /* "127.0.0.1:port" */
} mmt_kafka_t;

/** @returns true when MM_SKIP_REAL_KAFKA=1 asks to skip the real-broker tests. */
bool mmt_kafka_skipped(void);

/**
 * @brief Format a fresh log dir and start the broker with @p partitions per
 * auto-created topic; returns once a metadata request succeeds.
 * @returns false with the reason in @p why (naming scripts/deps.sh when the
 * jars are missing); call mmt_kafka_stop either way. Asserts nothing, so it
 * also serves outside a test (a runner hook sharing one broker per binary, the
 * supervisor of the broker shared by a CTest run: tests/support/kafka_shared.c).
 */
bool mmt_kafka_start(mmt_kafka_t *kafka, int partitions, char *why, size_t why_size);

/**
 * @brief Stop the broker (SIGTERM, then SIGKILL after a grace) and start it
 * again on the same ports and log dir. @returns false with the reason in @p why.
 */
bool mmt_kafka_restart(mmt_kafka_t *kafka, char *why, size_t why_size);

/** @brief Stop the broker, remove its directory and free. Accepts a broker never started. */
void mmt_kafka_stop(mmt_kafka_t *kafka);

#endif
