/*
 * test_commit_errors.c - fault scenario 10 of docs/reliability.md: commit
 * and heartbeat errors while a load flows through the trainer and the
 * promoter. Through the dev broker's control channel, waves of OffsetCommit
 * REBALANCE_IN_PROGRESS (27) and Heartbeat UNKNOWN_MEMBER_ID (25) errors are
 * pushed at seeded moments: the consumers lose their commits, leave and
 * rejoin their groups, and the records they get again must be absorbed -
 * the common checker finds nothing lost and nothing duplicated.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
#define WAVES     6
#define DECIDE_MS 240000

/* Lines of the trainer's and the promoter's logs that mention @p what (case-insensitive). */
static int log_mentions(mmt_pipeline_t *p, const char *what) {
    int n = 0;
    static const char *const logs[] = {"trainer.log", "promoter.log"};
    for (size_t i = 0; i < MM_ARRAY_SIZE(logs); i++) {
        char path[4200], line[8192];
        snprintf(path, sizeof(path), "%s/%s", p->dir, logs[i]);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        while (fgets(line, sizeof(line), f))
            if (strcasestr(line, what)) n++;
        fclose(f);
    }
    return n;
}

Test(fault_commit_errors, offset_commit_and_heartbeat_errors_lose_and_duplicate_nothing,
     .timeout = 600) {
    uint64_t rng = mmt_fault_seed("10-commit-heartbeat-errors");
    mmt_pipeline_t p;
    mmt_pipeline_init_control(&p, "commit-errors", 4, HORIZON);
    int64_t rows = mmt_pipeline_generate(&p, STORES, ITEMS, DAYS, 47);
    mmt_pipeline_start_trainer(&p);
    mmt_pipeline_start_promoter(&p);
    const char *files[] = {p.csv_path, NULL};
    pid_t ingest = mmt_pipeline_ingest_async(&p, files, "--batch-rows=10");

    int commit_errors = 0, heartbeat_errors = 0;
    for (int wave = 0; wave < WAVES; wave++) {
        mm_sleep_ms(mmt_fault_rand(&rng, 300, 1500), NULL);
        int64_t n = mmt_fault_rand(&rng, 3, 5);
        char command[128];
        int len = snprintf(command, sizeof(command), "request-errors OffsetCommit");
        for (int64_t i = 0; i < n; i++)
            len += snprintf(command + len, sizeof(command) - (size_t)len, " 27");
        mmt_broker_control_ok(&p.broker, command);
        commit_errors += (int)n;
        snprintf(command, sizeof(command), "request-errors Heartbeat 25 25");
        mmt_broker_control_ok(&p.broker, command);
        heartbeat_errors += 2;
    }
    int64_t faults_end = mm_mono_ms();
    cr_assert_eq(mmt_wait(ingest, mmt_timeout_ms(300000)), 0, "mm-ingest failed");
    cr_assert(mmt_pipeline_wait_decisions(&p, KEYS, DECIDE_MS), "not every key was decided");
    int64_t decided_ms = mm_mono_ms() - faults_end;
    fprintf(stderr,
            "fault scenario 10: %lld rows in batches of 10; %d waves: %d OffsetCommit "
            "REBALANCE_IN_PROGRESS and %d Heartbeat UNKNOWN_MEMBER_ID errors pushed; every key "
            "decided %lld ms after the last wave\n",
            (long long)rows, WAVES, commit_errors, heartbeat_errors, (long long)decided_ms);

    /* The errors reached the consumers: they said so. */
    int failed_commits = log_mentions(&p, "\"kafka_commit_failed\"");
    /* Every group consumer logs a revoked or lost assignment (common/src/kafka_consumer.c). */
    int revoked = log_mentions(&p, "\"kafka_revoked\"") + log_mentions(&p, "\"kafka_lost\"");
    int seen = failed_commits + revoked;
    fprintf(stderr, "fault scenario 10: %d failed commits and %d revoked partitions logged\n",
            failed_commits, revoked);
    cr_expect_gt(seen, 0, "no consumer noticed a commit or heartbeat error");

    mmt_check_opts_t opts = {.inputs = files, .keys = KEYS};
    mmt_check_result_t result;
    mmt_check(&p, &opts, &result);
    mmt_pipeline_stop(&p);
}
