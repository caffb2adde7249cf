/*
 * test_produce_nonretriable.c - fault scenario 9 of docs/reliability.md, its
 * non-retriable part: Produce answered with TOPIC_AUTHORIZATION_FAILED (29)
 * a seeded number of times, cluster-wide, while the project's producer sends
 * keyed messages. Such a failure cannot be retried away, so it must be
 * reported: every message is either delivered or has a failed delivery
 * report with a reason naming the error, and the messages missing on the
 * topic are exactly as many as the failures reported - nothing vanishes
 * silently. (What a service does with a failed report - keep the row in its
 * outbox - is scenario 7.)
 */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "broker.h"
#include "faults.h"
#include "mm/kafka.h"
#include "mm/util.h"
#include "support.h"

#define PARTITIONS   4
#define MESSAGES     1000
#define FLUSH_MS     30000
#define READ_BACK_MS 20000

Test(fault_produce_nonretriable, authorization_failures_are_reported_and_nothing_vanishes,
     .timeout = 120) {
    uint64_t rng = mmt_fault_seed("9-non-retriable");
    int64_t errors = mmt_fault_rand(&rng, 1, 3);
    mmt_broker_t broker;
    mmt_broker_opts_t opts = {.partitions = PARTITIONS, .brokers = 1, .control = true};
    mmt_broker_start_with(&broker, &opts);

    mmt_fault_producer_t run;
    mmt_fault_producer_new(&run, broker.bootstrap, MM_TOPIC_OBSERVATIONS, NULL);
    /* A first half delivered normally, so the topic and the producer are warm. */
    mmt_fault_produce(&run, MESSAGES / 2);
    mm_kafka_producer_flush(run.producer, (int)mmt_timeout_ms(FLUSH_MS));
    char command[128];
    int len = snprintf(command, sizeof(command), "request-errors Produce");
    for (int64_t i = 0; i < errors; i++)
        len += snprintf(command + len, sizeof(command) - (size_t)len, " 29");
    mmt_broker_control_ok(&broker, command);
    mmt_fault_produce(&run, MESSAGES / 2);
    cr_assert(mmt_fault_producer_finish(&run, FLUSH_MS), "messages still in flight");

    cr_expect_eq(run.delivered + run.failed, run.produced,
                 "%d produced, %d delivered, %d failed: reports missing", run.produced,
                 run.delivered, run.failed);
    cr_expect_gt(run.failed, 0, "no failure reported for %lld authorization errors",
                 (long long)errors);
    if (run.failed > 0)
        cr_expect(strcasestr(run.last_failure, "authoriz") != NULL,
                  "the failure does not name the error: %s", run.last_failure);
    mmt_fault_readback_t back;
    mmt_fault_read_back(broker.bootstrap, MM_TOPIC_OBSERVATIONS, run.produced, READ_BACK_MS, &back);
    cr_expect_eq(back.foreign, 0);
    cr_expect_eq(back.lost, run.failed, "%d message(s) missing on the topic, %d failures reported",
                 back.lost, run.failed);
    fprintf(stderr,
            "fault scenario 9-non-retriable: %lld TOPIC_AUTHORIZATION_FAILED pushed; produced "
            "%d, delivered %d, failed %d (last: %s), read %d, missing %d, duplicates %d\n",
            (long long)errors, run.produced, run.delivered, run.failed, run.last_failure,
            back.received, back.lost, back.duplicates);
    mmt_broker_stop(&broker);
}
