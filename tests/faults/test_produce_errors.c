/*
 * test_produce_errors.c - fault scenario 8 (tests/faults/README.md):
 * retriable produce errors. The dev broker answers Produce requests with
 * NOT_LEADER_FOR_PARTITION (6), REQUEST_TIMED_OUT (7) or closes the
 * connection (-195), three to five times per wave, while the project's
 * producer sends keyed messages; the producer retries them transparently and
 * every message is read back.
 *
 * The dev broker does not deduplicate retries of an idempotent producer, so
 * duplicates are counted and printed, not failed on; nothing may be lost.
 */
#include <stdio.h>

#include <criterion/criterion.h>

#include "broker.h"
#include "faults.h"
#include "mm/kafka.h"
#include "mm/util.h"
#include "support.h"

#define PARTITIONS   4
#define MESSAGES     3000
#define WAVES        3
#define ERRORS_MIN   3
#define ERRORS_MAX   5
#define FLUSH_MS     30000
#define READ_BACK_MS 20000
#define COMMAND_MAX  256

static const char *const retriable[] = {"NOT_LEADER_FOR_PARTITION", "REQUEST_TIMED_OUT",
                                        "_TRANSPORT"};

/* "<prefix> e1 e2 ..." with 3..5 retriable errors drawn from @p rng. */
static void error_wave(char *command, size_t size, const char *prefix, const char *suffix_each,
                       uint64_t *rng) {
    int n = (int)mmt_fault_rand(rng, ERRORS_MIN, ERRORS_MAX);
    size_t len = (size_t)snprintf(command, size, "%s", prefix);
    for (int i = 0; i < n && len < size; i++) {
        const char *err = retriable[mmt_fault_rand(rng, 0, MM_ARRAY_SIZE(retriable) - 1)];
        len += (size_t)snprintf(command + len, size - len, " %s%s", err, suffix_each);
    }
    cr_assert(len < size, "command too long");
}

static void produce_and_check(mmt_broker_t *broker, mmt_fault_producer_t *run,
                              const char *scenario) {
    cr_assert(mmt_fault_producer_finish(run, FLUSH_MS), "%s: messages still in flight", scenario);
    cr_expect_eq(run->failed, 0, "%s: %d delivery failure(s), last: %s", scenario, run->failed,
                 run->last_failure);
    cr_expect_eq(run->delivered, MESSAGES);

    mmt_fault_readback_t back;
    mmt_fault_read_back(broker->bootstrap, MM_TOPIC_OBSERVATIONS, MESSAGES, READ_BACK_MS, &back);
    fprintf(stderr,
            "fault scenario %s: produced %d, delivered %d, failed %d, read %d, lost %d, "
            "duplicates %d\n",
            scenario, run->produced, run->delivered, run->failed, back.received, back.lost,
            back.duplicates);
    cr_expect_eq(back.foreign, 0, "%d message(s) that were not sent", back.foreign);
    cr_expect_eq(back.lost, 0, "%s: %d message(s) lost", scenario, back.lost);
}

Test(fault_produce_errors, cluster_wide_retriable_errors_are_retried_and_nothing_is_lost,
     .timeout = 120) {
    uint64_t rng = mmt_fault_seed("8-cluster-wide");
    mmt_broker_t broker;
    mmt_broker_opts_t opts = {.partitions = PARTITIONS, .brokers = 1, .control = true};
    mmt_broker_start_with(&broker, &opts);

    mmt_fault_producer_t run;
    mmt_fault_producer_new(&run, broker.bootstrap, MM_TOPIC_OBSERVATIONS, NULL);
    for (int wave = 0; wave < WAVES; wave++) {
        char command[COMMAND_MAX];
        error_wave(command, sizeof(command), "request-errors Produce", "", &rng);
        fprintf(stderr, "fault scenario 8-cluster-wide: %s\n", command);
        mmt_broker_control_ok(&broker, command);
        mmt_fault_produce(&run, MESSAGES / WAVES);
        /* Let this wave's errors meet requests before the next is pushed. */
        mm_kafka_producer_flush(run.producer, (int)mmt_timeout_ms(FLUSH_MS));
    }
    produce_and_check(&broker, &run, "8-cluster-wide");
    mmt_broker_stop(&broker);
}

Test(fault_produce_errors, per_broker_retriable_errors_with_delays_are_all_served_and_retried,
     .timeout = 120) {
    uint64_t rng = mmt_fault_seed("8-per-broker");
    mmt_broker_t broker;
    mmt_broker_opts_t opts = {.partitions = PARTITIONS, .brokers = 1, .control = true};
    mmt_broker_start_with(&broker, &opts);

    mmt_fault_producer_t run;
    mmt_fault_producer_new(&run, broker.bootstrap, MM_TOPIC_OBSERVATIONS, NULL);
    char answer[64];
    for (int wave = 0; wave < WAVES; wave++) {
        char command[COMMAND_MAX];
        /* A short delay on each error response: retries also meet a slow broker. */
        error_wave(command, sizeof(command), "broker-request-errors 1 Produce", ":50", &rng);
        fprintf(stderr, "fault scenario 8-per-broker: %s\n", command);
        mmt_broker_control_ok(&broker, command);
        mmt_fault_produce(&run, MESSAGES / WAVES);
        mm_kafka_producer_flush(run.producer, (int)mmt_timeout_ms(FLUSH_MS));
        /* The errors were really injected: every one met a Produce request. */
        cr_assert(mmt_broker_control(&broker, "broker-request-errors-count 1 Produce", answer,
                                     sizeof(answer)),
                  "count: %s", answer);
        cr_expect_str_eq(answer, "ok 0", "wave %d: errors left unserved: %s", wave, answer);
    }
    produce_and_check(&broker, &run, "8-per-broker");
    mmt_broker_stop(&broker);
}
