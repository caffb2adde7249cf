/*
 * test_broker_down_long.c - fault scenario 7 of docs/reliability.md: the
 * broker is down longer than message.timeout.ms while the trainer publishes
 * what it trains. With message.timeout.ms=3000 (every service of the run)
 * and the broker down for 6 s from the moment the trainer has the load, the
 * ModelTrained records of the models trained meanwhile fail delivery; they
 * stay in the trainer's outbox and go out once the broker is back: every
 * key decided, outboxes drained, the common checker clean. No silent gap.
 */
#include <stdio.h>
#include <stdlib.h>

#include <criterion/criterion.h>

#include "broker.h"
#include "checker.h"
#include "faults.h"
#include "mm/util.h"
#include "pipeline.h"
#include "support.h"

#define STORES    3
#define ITEMS     4
#define KEYS      (STORES * ITEMS)
#define DAYS      150
#define HORIZON   7
#define DOWN_MS   6000
#define DECIDE_MS 240000

Test(fault_broker_down_long, longer_than_message_timeout_goes_out_through_the_outbox,
     .timeout = 600) {
    uint64_t rng = mmt_fault_seed("7-broker-down-long");
    int64_t delay_ms = mmt_fault_rand(&rng, 0, 200);
    setenv("MM_KAFKA_MESSAGE_TIMEOUT_MS", "3000", 1);
    mmt_pipeline_t p;
    mmt_pipeline_init_control(&p, "broker-down-long", 4, HORIZON);
    int64_t rows = mmt_pipeline_generate(&p, STORES, ITEMS, DAYS, 53);
    mmt_pipeline_start_trainer(&p);
    mmt_pipeline_start_promoter(&p);
    const char *files[] = {p.csv_path, NULL};
    cr_assert_eq(mmt_pipeline_ingest(&p, files, NULL), 0, "mm-ingest failed");

    /* Training starts when the trainer has the end of each key's load: then take the
     * broker away, at a seeded moment. */
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(120000), ended = 0;
    while (mm_mono_ms() < deadline &&
           (ended = mmt_pipeline_try_query(&p, "trainer.db",
                                           "SELECT COUNT(*) FROM load_batches WHERE "
                                           "end_of_load = 1")) < KEYS)
        mm_sleep_ms(20, NULL);
    cr_assert_eq(ended, KEYS, "the trainer did not receive the whole load");
    mm_sleep_ms(delay_ms, NULL);
    int64_t trained_before =
        mmt_pipeline_try_query(&p, "trainer.db", "SELECT COUNT(*) FROM trained");
    mmt_broker_control_ok(&p.broker, "broker down 1");
    mm_sleep_ms(DOWN_MS, NULL);
    int64_t trained_during =
        mmt_pipeline_try_query(&p, "trainer.db", "SELECT COUNT(*) FROM trained") -
        (trained_before < 0 ? 0 : trained_before);
    int64_t waiting = mmt_pipeline_try_query(&p, "trainer.db", "SELECT COUNT(*) FROM outbox");
    cr_expect_gt(waiting, 0, "nothing waited in the outbox: the outage missed the training");
    mmt_broker_control_ok(&p.broker, "broker up 1");
    int64_t up = mm_mono_ms();
    cr_assert(mmt_pipeline_wait_decisions(&p, KEYS, DECIDE_MS), "not every key was decided");
    int64_t recovered_ms = mm_mono_ms() - up;
    fprintf(stderr,
            "fault scenario 7: %lld rows; broker down %d ms (message.timeout.ms 3000) %lld ms "
            "after the trainer had the load; %lld models trained while it was down, %lld outbox "
            "rows waiting "
            "at its return; every key decided %lld ms after it came back\n",
            (long long)rows, DOWN_MS, (long long)delay_ms, (long long)trained_during,
            (long long)waiting, (long long)recovered_ms);

    mmt_check_opts_t opts = {.inputs = files, .keys = KEYS};
    mmt_check_result_t result;
    mmt_check(&p, &opts, &result);
    mmt_pipeline_stop(&p);
    unsetenv("MM_KAFKA_MESSAGE_TIMEOUT_MS");
}
