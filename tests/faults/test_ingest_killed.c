/*
 * test_ingest_killed.c - fault scenario 1 of docs/reliability.md: mm-ingest
 * is killed with SIGKILL in the middle of a load (at a seeded number of
 * batches received by the trainer), and the load is sent again in full, as
 * an operator would. Rows of the cut load arrive twice on Kafka; downstream
 * nothing may be lost or doubled: the common checker.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <criterion/criterion.h>

#include "checker.h"
#include "faults.h"
#include "mm/util.h"
#include "pipeline.h"
#include "support.h"

#define STORES    4
#define ITEMS     6
#define KEYS      (STORES * ITEMS)
#define DAYS      300
#define HORIZON   7
#define DECIDE_MS 240000

Test(fault_ingest_killed, a_load_cut_by_kill_9_and_sent_again_loses_and_doubles_nothing,
     .timeout = 600) {
    uint64_t rng = mmt_fault_seed("1-ingest-killed");
    mmt_pipeline_t p;
    mmt_pipeline_init(&p, "ingest-killed", 4, HORIZON);
    int64_t rows = mmt_pipeline_generate(&p, STORES, ITEMS, DAYS, 59);
    /* 7,200 rows in records of 2 rows, paced by the trainer's commits (64 KiB unconsumed per
     * partition at most), take seconds to send; the kill lands after a seeded number of
     * records reached the trainer. */
    int64_t kill_after = mmt_fault_rand(&rng, 100, 1000);
    mmt_pipeline_start_trainer(&p);
    mmt_pipeline_start_promoter(&p);
    const char *files[] = {p.csv_path, NULL};
    setenv("MM_INGEST_PACE_MAX_BYTES", "65536", 1);
    pid_t ingest = mmt_pipeline_ingest_async(&p, files, "--batch-rows=2");
    unsetenv("MM_INGEST_PACE_MAX_BYTES");
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(120000), batches = 0;
    while (mm_mono_ms() < deadline &&
           (batches = mmt_pipeline_try_query(&p, "trainer.db",
                                             "SELECT COUNT(*) FROM load_batches")) < kill_after)
        mm_sleep_ms(5, NULL);
    kill(ingest, SIGKILL);
    int status = mmt_wait(ingest, mmt_timeout_ms(30000));
    int64_t stored_at_kill =
        mmt_pipeline_query(&p, "trainer.db", "SELECT COALESCE(SUM(n_rows), 0) FROM history_chunks");
    cr_assert_eq(status, 128 + SIGKILL, "mm-ingest was not killed mid-load (status %d)", status);
    cr_expect_lt(stored_at_kill, rows, "the whole load was stored before the kill");

    cr_assert_eq(mmt_pipeline_ingest(&p, files, "--batch-rows=500"), 0, "the resent load failed");
    cr_assert(mmt_pipeline_wait_decisions(&p, KEYS, DECIDE_MS), "not every key was decided");
    fprintf(stderr,
            "fault scenario 1: %lld rows; mm-ingest killed after the trainer had %lld batches "
            "(%lld rows stored), status %d; the load sent again in full\n",
            (long long)rows, (long long)batches, (long long)stored_at_kill, status);

    mmt_check_opts_t opts = {.inputs = files, .keys = KEYS};
    mmt_check_result_t result;
    mmt_check(&p, &opts, &result);
    mmt_pipeline_stop(&p);
}
