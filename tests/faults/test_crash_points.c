/*
 * test_crash_points.c - fault scenarios 2, 3, 4 and 5 (batch) of
 * docs/reliability.md: a service kills itself with SIGKILL at a named crash
 * point (MM_CRASH_AT, common/src/crash.c), is started again, and the run
 * ends with the common checker (checker.h): every row stored or
 * dead-lettered, no duplicate model version or prediction, every artifact
 * present with its sha256, the outboxes drained, every key decided and
 * answered, and none of the secrets configured for the run in any log.
 *
 * Which hit of a point fires is drawn from the printed seed
 * (MM_FAULT_SEED replays a run).
 */
#include <stdio.h>
#include <stdlib.h>

#include <criterion/criterion.h>

#include "checker.h"
#include "faults.h"
#include "mm/util.h"
#include "pipeline.h"
#include "support.h"

#define STORES     4
#define ITEMS      5
#define KEYS       (STORES * ITEMS)
#define DAYS       150
#define HORIZON    7
#define BATCH_ROWS "--batch-rows=20" /* many small records: a kill lands mid-load */
#define SIGKILLED  (128 + 9)
#define DECIDE_MS  240000
#define CRASH_MS   180000
#define CANARY_SAS "sv=2022-11-02&sp=r&sig=Q3Jhc2hDYW5hcnlTaWc%3D"
#define CANARY_KEY "Q3Jhc2hDYW5hcnlLZXk="
#define CANARY_SIG "Q3Jhc2hDYW5hcnlTaWc"

static const char *const secrets[] = {CANARY_SIG, CANARY_KEY, NULL};

/* Known secrets for every service of the run (file:// blob store: configured, not used). */
static void configure_secrets(void) {
    setenv("MM_BLOB_SAS", CANARY_SAS, 1);
    setenv("MM_BLOB_KEY", CANARY_KEY, 1);
}

static void arm(const char *point, int64_t hit) {
    char value[128];
    snprintf(value, sizeof(value), "%s:%lld", point, (long long)hit);
    setenv("MM_CRASH_AT", value, 1);
}

static void disarm(void) {
    unsetenv("MM_CRASH_AT");
}

/* Wait for @p pid to kill itself at its crash point; fails the test otherwise. */
static void expect_crashed(pid_t pid, const char *what) {
    int status = mmt_wait(pid, mmt_timeout_ms(CRASH_MS));
    cr_assert_eq(status, SIGKILLED, "%s: expected to die at its crash point, got status %d", what,
                 status);
}

static void check(mmt_pipeline_t *p, bool scored) {
    const char *inputs[] = {p->csv_path, NULL};
    mmt_check_opts_t opts = {.inputs = inputs, .keys = KEYS, .scored = scored, .secrets = secrets};
    mmt_check_result_t result;
    mmt_check(p, &opts, &result);
    cr_expect_gt(result.rows_stored, 0);
}

Test(fault_crash_points, trainer_killed_after_state_commit_and_after_blob_put, .timeout = 600) {
    uint64_t rng = mmt_fault_seed("2-3-trainer-crash-points");
    int64_t state_hit = mmt_fault_rand(&rng, 10, 100);
    int64_t blob_hit = mmt_fault_rand(&rng, 1, KEYS / 2);
    configure_secrets();
    mmt_pipeline_t p;
    mmt_pipeline_init(&p, "crash-trainer", 4, HORIZON);
    int64_t rows = mmt_pipeline_generate(&p, STORES, ITEMS, DAYS, 23);
    mmt_pipeline_start_promoter(&p);

    /* 2: state committed, Kafka offset not stored. */
    arm("trainer_after_state_commit", state_hit);
    mmt_pipeline_start_trainer(&p);
    disarm();
    const char *files[] = {p.csv_path, NULL};
    pid_t ingest = mmt_pipeline_ingest_async(&p, files, BATCH_ROWS);
    expect_crashed(p.trainer, "mm-trainer (trainer_after_state_commit)");
    int64_t t0 = mm_mono_ms();
    /* 3: the artifact stored, the model not recorded. */
    arm("trainer_after_blob_put", blob_hit);
    mmt_pipeline_start_trainer(&p);
    disarm();
    cr_assert_eq(mmt_wait(ingest, mmt_timeout_ms(300000)), 0, "mm-ingest failed");
    expect_crashed(p.trainer, "mm-trainer (trainer_after_blob_put)");
    int64_t t1 = mm_mono_ms();
    mmt_pipeline_start_trainer(&p);

    cr_assert(mmt_pipeline_wait_decisions(&p, KEYS, DECIDE_MS), "not every key was decided");
    int64_t recovered_ms = mm_mono_ms() - t1;
    fprintf(stderr,
            "fault scenario 2-3: %lld rows; trainer killed at state commit hit %lld and at blob "
            "put hit %lld (%lld ms apart); every key decided %lld ms after the last restart\n",
            (long long)rows, (long long)state_hit, (long long)blob_hit, (long long)(t1 - t0),
            (long long)recovered_ms);
    check(&p, false);
    mmt_pipeline_stop(&p);
}

Test(fault_crash_points, promoter_killed_after_registry_commit_then_batch_scorer, .timeout = 600) {
    uint64_t rng = mmt_fault_seed("4-5-promoter-scorer-crash-points");
    int64_t promoter_hit = mmt_fault_rand(&rng, 2, KEYS - 2);
    int64_t answer_hit = mmt_fault_rand(&rng, 1, KEYS - 1);
    configure_secrets();
    mmt_pipeline_t p;
    mmt_pipeline_init(&p, "crash-promoter", 4, HORIZON);
    int64_t rows = mmt_pipeline_generate(&p, STORES, ITEMS, DAYS, 29);
    mmt_pipeline_start_trainer(&p);

    /* 4: the decision is in the registry and its outbox, not yet published. */
    arm("promoter_after_registry_commit", promoter_hit);
    mmt_pipeline_start_promoter(&p);
    disarm();
    const char *files[] = {p.csv_path, NULL};
    cr_assert_eq(mmt_pipeline_ingest(&p, files, BATCH_ROWS), 0, "mm-ingest failed");
    expect_crashed(p.promoter, "mm-promoter (promoter_after_registry_commit)");
    int64_t restarted = mm_mono_ms();
    mmt_pipeline_start_promoter(&p);
    cr_assert(mmt_pipeline_wait_decisions(&p, KEYS, DECIDE_MS), "not every key was decided");
    int64_t decided_ms = mm_mono_ms() - restarted;
    /* The decision made before the kill went out once it was republished from the outbox:
     * its key counts among the decided ones, and the registry holds one version for it. */
    int64_t outbox = mmt_pipeline_query(&p, "registry.db", "SELECT COUNT(*) FROM outbox");

    /* 5 (batch): killed in the middle of a sink transaction, then after the sink commit
     * with the predictions not yet flushed to Kafka; each time the run is repeated. */
    arm("scorer_after_answer", answer_hit);
    cr_assert_eq(mmt_pipeline_score(&p), SIGKILLED, "mm-scorer did not die mid-transaction");
    disarm();
    int64_t after_first =
        mmt_pipeline_try_query(&p, "predictions.db", "SELECT COUNT(*) FROM predictions");
    cr_expect_leq(after_first, 0, "a rolled-back transaction left %lld prediction rows",
                  (long long)after_first);
    arm("scorer_after_sink_commit", 1);
    cr_assert_eq(mmt_pipeline_score(&p), SIGKILLED, "mm-scorer did not die after its commit");
    disarm();
    int64_t committed =
        mmt_pipeline_query(&p, "predictions.db", "SELECT COUNT(*) FROM predictions");
    cr_assert_eq(mmt_pipeline_score(&p), 0, "the repeated scorer run failed");
    int64_t final_rows =
        mmt_pipeline_query(&p, "predictions.db", "SELECT COUNT(*) FROM predictions");
    cr_expect_eq(final_rows, committed, "repeating the run changed the number of prediction rows");

    fprintf(stderr,
            "fault scenario 4-5: %lld rows; promoter killed at registry commit hit %lld, every "
            "key decided %lld ms after its restart (outbox rows left then: %lld); scorer killed "
            "at answer %lld (sink rows after: %lld) and after its commit (%lld rows), re-run: "
            "%lld rows\n",
            (long long)rows, (long long)promoter_hit, (long long)decided_ms, (long long)outbox,
            (long long)answer_hit, (long long)(after_first < 0 ? 0 : after_first),
            (long long)committed, (long long)final_rows);
    check(&p, true);
    mmt_pipeline_stop(&p);
}
