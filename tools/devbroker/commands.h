/*
 * commands.h - the dev broker's fault-injection command language: one text
 * line in, one answer line out ("ok ..." or "error <why>"), applied to the
 * librdkafka mock cluster (docs/ARCHITECTURE.md, "The dev broker").
 */
#ifndef MM_DEVBROKER_COMMANDS_H
#define MM_DEVBROKER_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/* Brokers a cluster may have (mirrors --brokers' upper bound). */
#define MM_DEVBROKER_MAX_BROKERS 16
/* ApiKeys the commands accept: 0 .. MM_DEVBROKER_API_KEY_MAX - 1 (Kafka defines fewer than 70). */
#define MM_DEVBROKER_API_KEY_MAX 128

/* What the commands remember about the cluster between lines. */
typedef struct mm_devbroker_commands {
    rd_kafka_mock_cluster_t *mcluster;
    int brokers; /* broker ids are 1 .. brokers */
    /* Per broker and ApiKey: whether a per-broker error stack exists. Once it
     * does (even empty), the mock ignores cluster-wide errors for that ApiKey
     * on that broker, so request-errors refuses rather than silently not injecting. */
    bool broker_stack[MM_DEVBROKER_MAX_BROKERS + 1][MM_DEVBROKER_API_KEY_MAX];
} mm_devbroker_commands_t;

/**
 * @brief Initialise @p commands for @p mcluster of @p brokers brokers.
 * @param commands the state to fill.
 * @param mcluster the mock cluster the commands act on (borrowed).
 * @param brokers number of brokers (1 .. MM_DEVBROKER_MAX_BROKERS).
 */
void mm_devbroker_commands_init(mm_devbroker_commands_t *commands,
                                rd_kafka_mock_cluster_t *mcluster, int brokers);

/**
 * @brief Run one command line (without its newline) and write the answer.
 * @param commands state from mm_devbroker_commands_init().
 * @param line the command; any text, which is only read.
 * @param answer receives one line without newline: "ok" (possibly followed by
 *        a result) or "error <why>".
 * @param answer_size room in @p answer (truncated answers stay NUL-terminated).
 * @returns true when the command was applied (the answer starts with "ok").
 */
bool mm_devbroker_command_run(mm_devbroker_commands_t *commands, const char *line, char *answer,
                              size_t answer_size);

#endif
