/*
 * broker.h - start and stop the Kafka broker of a test, and send
 * fault-injection commands to mm-devbroker's control channel.
 *
 * Which broker: MM_TEST_BROKER=devbroker (the default: mm-devbroker, started
 * in milliseconds) or MM_TEST_BROKER=kafka (a single-node Apache Kafka
 * broker, tests/support/kafka_real.c, its topics created by `mmctl topics
 * init` as a deployment would). A broker with the control channel is always
 * mm-devbroker: fault injection is its feature.
 *
 * A shared real broker: when MM_TEST_KAFKA_BOOTSTRAP_FILE names a file (CTest's
 * fixture kafka_broker_start writes it, tests/support/kafka_shared.c), a real
 * broker is not started but that one is used, and each start gets a topic
 * prefix of its own (MM_TOPIC_PREFIX, also set in the environment of every
 * process the test starts), so tests sharing the broker never see each
 * other's topics or consumer groups.
 */
#ifndef MM_TEST_BROKER_H
#define MM_TEST_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct mmt_kafka;

typedef struct mmt_broker {
    pid_t pid;               /* mm-devbroker's; 0 for a real broker */
    struct mmt_kafka *kafka; /* the real broker (MM_TEST_BROKER=kafka), else NULL */
    char *topic_prefix;      /* on a shared real broker: this start's own prefix, else NULL */
    char *dir;               /* working directory (bootstrap file lives here) */
    char *bootstrap;         /* "127.0.0.1:port,..." */
    char *bootstrap_file;
    char *control_file; /* NULL without a control channel */
    int control_fd;     /* connection to the control channel, when control_connected */
    bool control_connected;
} mmt_broker_t;

/* How to start a dev broker. */
typedef struct mmt_broker_opts {
    int partitions; /* per created topic */
    int brokers;    /* mock brokers, ids 1..brokers (0: 1) */
    bool control;   /* open the fault-injection control channel */
} mmt_broker_opts_t;

/** @returns true when MM_TEST_BROKER=kafka; fails the test for a value other than devbroker or
 * kafka. */
bool mmt_broker_real(void);

/** @returns "devbroker" or "kafka": the broker MM_TEST_BROKER chooses. */
const char *mmt_broker_kind(void);

/** @brief Start the broker with @p partitions per topic; fails the test on error. */
void mmt_broker_start(mmt_broker_t *broker, int partitions);

/**
 * @brief Start the broker as @p opts say (mm-devbroker when opts->control); fails the test on
 * error, skips it when a real broker is asked for and MM_SKIP_REAL_KAFKA=1.
 * @param broker filled on success.
 * @param opts partitions, brokers and whether the control channel is opened.
 */
void mmt_broker_start_with(mmt_broker_t *broker, const mmt_broker_opts_t *opts);

/**
 * @brief Send one command line to the broker's control channel and read its answer.
 * @param broker started with opts.control.
 * @param command one line without newline, e.g. "broker down 1".
 * @param answer receives the answer line without newline (may be NULL).
 * @param answer_size room in @p answer.
 * @returns true when the answer is "ok" (possibly followed by a result).
 * Fails the test when the channel cannot be reached or does not answer.
 */
bool mmt_broker_control(mmt_broker_t *broker, const char *command, char *answer,
                        size_t answer_size);

/** @brief As mmt_broker_control(), and fail the test unless the answer is ok. */
void mmt_broker_control_ok(mmt_broker_t *broker, const char *command);

/** Names the file holding the address of a real broker shared by the tests of a run. */
#define MMT_KAFKA_SHARED_ENV "MM_TEST_KAFKA_BOOTSTRAP_FILE"

/** @brief Stop (SIGTERM) and free; on a shared broker, drop the test's topic prefix. */
void mmt_broker_stop(mmt_broker_t *broker);

#endif
