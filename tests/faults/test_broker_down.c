/*
 * test_broker_down.c - fault scenario 6 (tests/faults/README.md): the broker
 * is down for 5 s, shorter than message.timeout.ms, while the project's
 * producer sends keyed messages at a steady pace. Nothing may be lost; the
 * producer reconnects and delivers what it queued while the broker was away.
 *
 * When the broker goes down is seeded (printed). The dev broker does not
 * deduplicate idempotent retries, so duplicates are counted and printed, not
 * failed on.
 */
#include <stdio.h>

#include <criterion/criterion.h>

#include "broker.h"
#include "faults.h"
#include "mm/kafka.h"
#include "mm/util.h"
#include "support.h"

#define PARTITIONS 4
/* The run: a batch every tick for RUN_MS; the outage starts at a seeded time. */
#define RUN_MS         10000
#define TICK_MS        100
#define PER_TICK       20
#define DOWN_AT_MIN_MS 1000
#define DOWN_AT_MAX_MS 3000
#define DOWN_MS        5000
#define FLUSH_MS       30000
#define READ_BACK_MS   20000
/* The producer's reconnect backoff doubles during the outage up to librdkafka's
 * reconnect.backoff.max.ms (10 s); the first delivery after "up" may wait that
 * long, and more is a regression. */
#define RECOVERY_MAX_MS 15000

Test(fault_broker_down, shorter_than_message_timeout_loses_nothing, .timeout = 120) {
    uint64_t rng = mmt_fault_seed("6-broker-down");
    int64_t down_at = mmt_fault_rand(&rng, DOWN_AT_MIN_MS, DOWN_AT_MAX_MS);
    mmt_broker_t broker;
    mmt_broker_opts_t opts = {.partitions = PARTITIONS, .brokers = 1, .control = true};
    mmt_broker_start_with(&broker, &opts);

    mmt_fault_producer_t run;
    mmt_fault_producer_new(&run, broker.bootstrap, MM_TOPIC_OBSERVATIONS, NULL);
    int64_t start = mm_mono_ms(), down_since = -1, up_since = -1;
    int delivered_at_up = 0, queued_at_up = 0;
    while (mm_mono_ms() - start < RUN_MS) {
        int64_t now = mm_mono_ms() - start;
        if (down_since < 0 && now >= down_at) {
            mmt_broker_control_ok(&broker, "broker down 1");
            down_since = now;
        } else if (down_since >= 0 && up_since < 0 && now >= down_since + DOWN_MS) {
            mmt_broker_control_ok(&broker, "broker up 1");
            up_since = now;
            run.mark_ms = mm_mono_ms();
            delivered_at_up = run.delivered;
            queued_at_up = mm_kafka_producer_outq_len(run.producer);
        }
        mmt_fault_produce(&run, PER_TICK);
        /* Serve delivery reports until the next tick: a steady pace, not a burst. */
        int64_t next_tick = start + (now / TICK_MS + 1) * TICK_MS;
        while (mm_mono_ms() < next_tick)
            mm_kafka_producer_poll(run.producer, (int)(next_tick - mm_mono_ms()));
    }
    cr_assert(up_since >= 0, "the outage did not end within the run");
    /* The outage was real: what was produced while the broker was down waited for it. */
    cr_expect_geq(queued_at_up, PER_TICK, "only %d message(s) waiting when the broker came up",
                  queued_at_up);
    cr_assert(mmt_fault_producer_finish(&run, FLUSH_MS), "messages still in flight");
    /* Recovery: from "broker up" to the first delivery report after it. */
    int64_t recovery_ms = run.first_report_after_mark_ms - run.mark_ms;
    cr_expect_eq(run.failed, 0, "%d delivery failure(s), last: %s", run.failed, run.last_failure);
    cr_expect_eq(run.delivered, run.produced);
    cr_expect_gt(run.delivered, delivered_at_up, "nothing was delivered after the broker came up");

    mmt_fault_readback_t back;
    mmt_fault_read_back(broker.bootstrap, MM_TOPIC_OBSERVATIONS, run.produced, READ_BACK_MS, &back);
    fprintf(stderr,
            "fault scenario 6-broker-down: down at %lld ms for %d ms; produced %d, delivered %d "
            "(%d before up, %d waiting), failed %d, read %d, lost %d, duplicates %d, first "
            "delivery %lld ms after up\n",
            (long long)down_since, DOWN_MS, run.produced, run.delivered, delivered_at_up,
            queued_at_up, run.failed, back.received, back.lost, back.duplicates,
            (long long)recovery_ms);
    cr_expect_eq(back.foreign, 0, "%d message(s) that were not sent", back.foreign);
    cr_expect_eq(back.lost, 0, "%d message(s) lost", back.lost);
    cr_expect_leq(recovery_ms, mmt_timeout_ms(RECOVERY_MAX_MS),
                  "the first delivery came %lld ms after the broker came up",
                  (long long)recovery_ms);
    mmt_broker_stop(&broker);
}
