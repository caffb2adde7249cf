/*
 * test_broker_restart_kafka.c - fault scenario 6 of docs/reliability.md on a
 * real broker (K): a single-node Apache Kafka broker of this test's own
 * (tests/support/kafka_real.c) is stopped (SIGTERM, its controlled shutdown)
 * and started again on the same ports and log dir in the middle of a
 * pipeline load, for less than message.timeout.ms. mm-ingest sends the load
 * in records of 2 rows, so the trainer takes seconds to consume it: the
 * restart lands after a seeded number of records reached the trainer, while
 * it consumes, trains and publishes and the promoter decides. The producers
 * retry and the consumers rejoin; the load must finish, every key be
 * decided, and downstream nothing be lost or doubled: the common checker.
 *
 * mm-ingest paces the load to 64 KiB unconsumed per partition (the whole
 * load is about 0.4 MiB), so it waits on the group's committed offsets across
 * the restart. That is the regression test of a stall found here: the
 * trainer's commits failed while the broker was away, its partitions were
 * lost and given back at the offsets of its state, and with no new record to
 * consume it stored no offset and committed nothing, so the group's
 * committed offsets stayed behind and mm-ingest waited for good for a lag
 * that never shrank. A consumer now stores the offsets it resumes from at
 * assignment (common/src/kafka_consumer.c).
 */
#include <stdio.h>
#include <stdlib.h>

#include <criterion/criterion.h>

#include "broker.h"
#include "checker.h"
#include "faults.h"
#include "kafka_real.h"
#include "mm/util.h"
#include "pipeline.h"
#include "support.h"

#define STORES  4
#define ITEMS   5
#define KEYS    (STORES * ITEMS)
#define DAYS    150
#define HORIZON 7
/* Every service's message.timeout.ms (librdkafka's default, set to be explicit): the scenario is a
 * restart shorter than that. */
#define MESSAGE_TIMEOUT_MS   "300000"
#define MESSAGE_TIMEOUT_MS_I 300000
#define PACE_MAX_BYTES       "65536"
#define RESTART_AFTER_MIN    50
#define RESTART_AFTER_MAX    300
#define LOAD_MS              120000
#define INGEST_MS            240000
#define DECIDE_MS            240000

Test(fault_broker_restart_kafka, a_real_broker_restarted_mid_load_loses_and_doubles_nothing,
     .timeout = 900) {
    if (mmt_kafka_skipped()) cr_skip_test("MM_SKIP_REAL_KAFKA=1");
    uint64_t rng = mmt_fault_seed("6-broker-restart-kafka");
    int64_t restart_after = mmt_fault_rand(&rng, RESTART_AFTER_MIN, RESTART_AFTER_MAX);
    /* A real broker of this test's own: a shared one (tests/support/broker.h) cannot restart. */
    setenv("MM_TEST_BROKER", "kafka", 1);
    unsetenv(MMT_KAFKA_SHARED_ENV);
    setenv("MM_KAFKA_MESSAGE_TIMEOUT_MS", MESSAGE_TIMEOUT_MS, 1);
    setenv("MM_INGEST_PACE_MAX_BYTES", PACE_MAX_BYTES, 1);
    mmt_pipeline_t p;
    mmt_pipeline_init(&p, "broker-restart-kafka", 4, HORIZON);
    cr_assert(p.broker.kafka, "the test has no real broker of its own to restart");
    int64_t rows = mmt_pipeline_generate(&p, STORES, ITEMS, DAYS, 61);
    mmt_pipeline_start_trainer(&p);
    mmt_pipeline_start_promoter(&p);
    const char *files[] = {p.csv_path, NULL};
    pid_t ingest = mmt_pipeline_ingest_async(&p, files, "--batch-rows=2");

    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(LOAD_MS), batches = 0;
    while (mm_mono_ms() < deadline &&
           (batches = mmt_pipeline_try_query(&p, "trainer.db",
                                             "SELECT COUNT(*) FROM load_batches")) < restart_after)
        mm_sleep_ms(5, NULL);
    cr_assert_geq(batches, restart_after, "the trainer got %lld of %lld records before the restart",
                  (long long)batches, (long long)restart_after);
    int64_t stored_at_restart =
        mmt_pipeline_query(&p, "trainer.db", "SELECT COALESCE(SUM(n_rows), 0) FROM history_chunks");

    char why[1024] = "";
    int64_t down = mm_mono_ms();
    bool restarted = mmt_kafka_restart(p.broker.kafka, why, sizeof(why));
    int64_t up = mm_mono_ms();
    cr_assert(restarted, "%s", why);
    int64_t restart_ms = up - down;

    int status = mmt_wait(ingest, mmt_timeout_ms(INGEST_MS));
    cr_assert_eq(status, 0, "mm-ingest exited with %d after the restart (see %s/ingest.log)",
                 status, p.dir);
    int64_t ingest_done_ms = mm_mono_ms() - up;
    cr_assert(mmt_pipeline_wait_decisions(&p, KEYS, DECIDE_MS), "not every key was decided");
    int64_t decided_ms = mm_mono_ms() - up;
    fprintf(stderr,
            "fault scenario 6-K: %lld rows in records of 2; real broker restarted after the "
            "trainer had %lld records (%lld rows stored), down %lld ms (stop and start, "
            "message.timeout.ms %s); mm-ingest done %lld ms and every key decided %lld ms after "
            "it was back\n",
            (long long)rows, (long long)batches, (long long)stored_at_restart,
            (long long)restart_ms, MESSAGE_TIMEOUT_MS, (long long)ingest_done_ms,
            (long long)decided_ms);
    /* The restart hit the load, and stayed shorter than message.timeout.ms. */
    cr_expect_lt(stored_at_restart, rows, "the whole load was stored before the restart");
    cr_expect_lt(restart_ms, MESSAGE_TIMEOUT_MS_I,
                 "the restart took %lld ms, not shorter than message.timeout.ms: another scenario",
                 (long long)restart_ms);

    mmt_check_opts_t opts = {.inputs = files, .keys = KEYS};
    mmt_check_result_t result;
    mmt_check(&p, &opts, &result);
    mmt_pipeline_stop(&p);
    unsetenv("MM_KAFKA_MESSAGE_TIMEOUT_MS");
    unsetenv("MM_INGEST_PACE_MAX_BYTES");
}
