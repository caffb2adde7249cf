/*
 * test_race.c - fault scenario 15 of docs/reliability.md: two trainers race
 * on the same keys and two promoters on the same decisions.
 *
 * The second trainer has a state store and a consumer group of its own, so
 * it reads every batch the first one reads, trains the same keys on the same
 * data and writes the same content-addressed artifacts (the put of an
 * existing name with the same sha256 succeeds) and the same train ids. The
 * two promoters share the registry file but not their consumer group, so
 * each judges every ModelTrained of both trainers. One winner per model:
 * one registry version per train id, versions of a key unique and numbered
 * 1, 2, ... without a gap; then the common checker.
 */
#include <stdio.h>
#include <stdlib.h>

#include <criterion/criterion.h>

#include "checker.h"
#include "mm/util.h"
#include "pipeline.h"
#include "support.h"

#define STORES    3
#define ITEMS     4
#define KEYS      (STORES * ITEMS)
#define DAYS      150
#define HORIZON   7
#define DECIDE_MS 240000

/* A second instance of @p service with its own @p args, the pipeline's environment. */
static pid_t spawn_second(mmt_pipeline_t *p, const char *service, const char *const *args,
                          const char *log_name) {
    char *bin = mmt_binary(service);
    cr_assert_not_null(bin);
    char spec[4200], bootstrap[4200], blob[4200], log[4200];
    snprintf(spec, sizeof(spec), "MM_SPEC=%s", p->spec_path);
    snprintf(bootstrap, sizeof(bootstrap), "MM_BOOTSTRAP_SERVERS=%s", p->broker.bootstrap);
    snprintf(blob, sizeof(blob), "MM_BLOB_URL=%s", p->blob_url);
    snprintf(log, sizeof(log), "%s/%s", p->dir, log_name);
    char *env[] = {spec, bootstrap, blob, "MM_KAFKA_SESSION_TIMEOUT_MS=6000", NULL};
    char *argv[16];
    size_t n = 0;
    argv[n++] = bin;
    for (size_t i = 0; args[i]; i++) argv[n++] = (char *)args[i];
    argv[n] = NULL;
    pid_t pid = mmt_spawn(argv, env, log);
    cr_assert_gt(pid, 0, "cannot start a second %s", service);
    free(bin);
    return pid;
}

Test(fault_race, two_trainers_and_two_promoters_make_one_version_per_model, .timeout = 600) {
    mmt_pipeline_t p;
    mmt_pipeline_init(&p, "race", 4, HORIZON);
    int64_t rows = mmt_pipeline_generate(&p, STORES, ITEMS, DAYS, 41);
    char state2[4200], registry[4200];
    snprintf(state2, sizeof(state2), "%s/trainer2.db", p.dir);
    snprintf(registry, sizeof(registry), "%s/registry.db", p.dir);
    mmt_pipeline_start_trainer(&p);
    mmt_pipeline_start_promoter(&p);
    const char *trainer_args[] = {"--state",   state2, "--group-id", "mm-trainer-2",
                                  "--workers", "2",    NULL};
    const char *promoter_args[] = {"--registry", registry, "--group-id", "mm-promoter-2", NULL};
    pid_t trainer2 = spawn_second(&p, "mm-trainer", trainer_args, "trainer2.log");
    pid_t promoter2 = spawn_second(&p, "mm-promoter", promoter_args, "promoter2.log");

    const char *files[] = {p.csv_path, NULL};
    cr_assert_eq(mmt_pipeline_ingest(&p, files, "--batch-rows=50"), 0, "mm-ingest failed");
    cr_assert(mmt_pipeline_wait_decisions(&p, KEYS, DECIDE_MS), "not every key was decided");
    /* Both trainers trained every key; the slower one's records reach the promoters too. */
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(DECIDE_MS), trained2 = 0;
    while (mm_mono_ms() < deadline &&
           (trained2 = mmt_pipeline_try_query(
                &p, "trainer2.db", "SELECT COUNT(DISTINCT partition_key) FROM trained")) < KEYS)
        mm_sleep_ms(500, NULL);
    cr_assert_eq(trained2, KEYS, "the second trainer trained %lld of %d keys", (long long)trained2,
                 KEYS);
    /* Same data, same train ids: the two trainers made the same models. */
    int64_t models = mmt_pipeline_query(&p, "trainer.db", "SELECT COUNT(*) FROM trained");
    int64_t models2 = mmt_pipeline_query(&p, "trainer2.db", "SELECT COUNT(*) FROM trained");
    cr_expect_eq(models, models2, "the trainers made %lld and %lld models", (long long)models,
                 (long long)models2);
    mm_sleep_ms(mmt_timeout_ms(3000), NULL);

    int64_t versions = mmt_pipeline_query(&p, "registry.db", "SELECT COUNT(*) FROM versions");
    cr_expect_eq(versions, models, "%lld versions for %lld models", (long long)versions,
                 (long long)models);
    /* Monotonic without a gap: a key's versions are 1..n. */
    cr_expect_eq(mmt_pipeline_query(&p, "registry.db",
                                    "SELECT COUNT(*) FROM (SELECT partition_key FROM versions "
                                    "GROUP BY partition_key HAVING MAX(version) != COUNT(*))"),
                 0, "a key's versions are not numbered 1..n");
    int64_t judged =
        mmt_pipeline_query(&p, "registry.db", "SELECT COUNT(*) FROM audit WHERE action = 'judge'");
    fprintf(stderr,
            "fault scenario 15 (races): %lld rows; two trainers trained %lld and %lld keys; "
            "%lld models, %lld registry versions, %lld judgements recorded by two promoters\n",
            (long long)rows,
            (long long)mmt_pipeline_query(&p, "trainer.db",
                                          "SELECT COUNT(DISTINCT partition_key) FROM trained"),
            (long long)trained2, (long long)models, (long long)versions, (long long)judged);

    cr_assert_geq(mmt_stop(trainer2, mmt_timeout_ms(30000)), 0);
    cr_assert_geq(mmt_stop(promoter2, mmt_timeout_ms(30000)), 0);
    mmt_check_opts_t opts = {.inputs = files, .keys = KEYS};
    mmt_check_result_t result;
    mmt_check(&p, &opts, &result);
    mmt_pipeline_stop(&p);
}
