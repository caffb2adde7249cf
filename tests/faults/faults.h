/*
 * faults.h - shared parts of the fault scenarios (tests/faults/README.md): a
 * printed seed, keyed test messages that say who they are, a producer that
 * counts its delivery reports, and a read-back that counts what was lost and
 * what arrived twice.
 */
#ifndef MM_TEST_FAULTS_H
#define MM_TEST_FAULTS_H

#include <stdbool.h>
#include <stdint.h>

#include "mm/kafka.h"

/* Distinct keys the test messages cycle through (several messages per key and partition). */
#define MMT_FAULT_KEYS 97

/**
 * @brief The scenario's seed: MM_FAULT_SEED when set (to replay a run), else
 * from the clock. Printed on stderr with the scenario's name either way.
 * @param scenario a name for the print.
 * @returns the seed (never 0).
 */
uint64_t mmt_fault_seed(const char *scenario);

/**
 * @brief The next pseudo-random number of the sequence in @p state (splitmix64).
 * @param state seeded by mmt_fault_seed(); advanced.
 * @returns a number uniform in [lo, hi].
 */
int64_t mmt_fault_rand(uint64_t *state, int64_t lo, int64_t hi);

/* A producer run: the project's producer and what its delivery reports said. */
typedef struct mmt_fault_producer {
    mm_kafka_producer_t *producer;
    const char *topic;
    int produced;  /* messages queued, seq 0 .. produced - 1 */
    int delivered; /* reports with MM_OK */
    int failed;    /* reports with an error */
    char last_failure[512];
    int64_t last_report_ms;             /* monotonic time of the newest report */
    int64_t mark_ms;                    /* set by the scenario (e.g. when a fault ends); 0: none */
    int64_t first_report_after_mark_ms; /* monotonic time of the first report since mark_ms */
} mmt_fault_producer_t;

/**
 * @brief Create the project's producer (mm_kafka_producer_new) for @p topic.
 * @param run filled; fails the test on error.
 * @param bootstrap the broker.
 * @param topic where every message goes.
 * @param props extra librdkafka properties (may be NULL).
 */
void mmt_fault_producer_new(mmt_fault_producer_t *run, const char *bootstrap, const char *topic,
                            const mm_kv_list_t *props);

/**
 * @brief Queue @p count more test messages (seq continues from run->produced):
 * key "key-<seq % MMT_FAULT_KEYS>", value "<key>|<seq>". Fails the test when
 * one cannot be queued.
 */
void mmt_fault_produce(mmt_fault_producer_t *run, int count);

/**
 * @brief Flush every queued message within @p timeout_ms (scaled), then destroy the producer.
 * @returns true when nothing was still in flight.
 */
bool mmt_fault_producer_finish(mmt_fault_producer_t *run, int64_t timeout_ms);

/* What reading the topic back found, for seq 0 .. expected - 1. */
typedef struct mmt_fault_readback {
    int expected;
    int received;   /* messages read, duplicates included */
    int distinct;   /* distinct seqs read */
    int lost;       /* expected - distinct */
    int duplicates; /* received - distinct */
    int foreign;    /* messages that are not test messages, or whose key does not match */
} mmt_fault_readback_t;

/**
 * @brief Read @p topic from the beginning with a group-less reader until
 * every seq below @p expected arrived and every partition reached its end, or
 * @p timeout_ms (scaled) passed; count what arrived.
 */
void mmt_fault_read_back(const char *bootstrap, const char *topic, int expected, int64_t timeout_ms,
                         mmt_fault_readback_t *out);

#endif
