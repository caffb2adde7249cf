/*
 * test_replay.c - fault scenario 19 of docs/reliability.md, its duplicated
 * and replayed deliveries: the same load sent twice, then the trainer and
 * the promoter made to consume their topics again from the beginning (their
 * stored offsets removed or reset to 0, as a group reset or a restore of an
 * old state file would). Nothing downstream may change: the trainer's rows,
 * the registry's versions and the checker's findings stay as they were.
 */
#include <stdio.h>
#include <stdlib.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

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
#define CATCH_MS  120000

static void exec_sql(mmt_pipeline_t *p, const char *db_name, const char *sql) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", p->dir, db_name);
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK, "%s", path);
    sqlite3_busy_timeout(db, 10000);
    char *err = NULL;
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &err), SQLITE_OK, "%s: %s", sql,
                 err ? err : "?");
    sqlite3_close(db);
}

static void stop_services(mmt_pipeline_t *p) {
    cr_assert_geq(mmt_stop(p->trainer, mmt_timeout_ms(30000)), 0);
    cr_assert_geq(mmt_stop(p->promoter, mmt_timeout_ms(30000)), 0);
    p->trainer = p->promoter = -1;
}

/* Wait until @p sql (a sum of stored offsets) reaches @p want again. */
static int64_t wait_caught_up(mmt_pipeline_t *p, const char *db_name, const char *sql,
                              int64_t want) {
    int64_t start = mm_mono_ms(), deadline = start + mmt_timeout_ms(CATCH_MS), got = -1;
    while (mm_mono_ms() < deadline) {
        got = mmt_pipeline_try_query(p, db_name, sql);
        if (got >= want) return mm_mono_ms() - start;
        mm_sleep_ms(200, NULL);
    }
    cr_assert_fail("%s: stored offsets %lld, %lld before the replay", db_name, (long long)got,
                   (long long)want);
    return -1;
}

#define TRAINER_OFFSETS  "SELECT COALESCE(SUM(next_offset), 0) FROM offsets"
#define PROMOTER_OFFSETS "SELECT COALESCE(SUM(next_offset), 0) FROM consumed_offsets"

Test(fault_replay, the_same_load_twice_and_topics_replayed_from_the_start_change_nothing,
     .timeout = 600) {
    mmt_pipeline_t p;
    mmt_pipeline_init(&p, "replay", 4, HORIZON);
    int64_t rows = mmt_pipeline_generate(&p, STORES, ITEMS, DAYS, 37);
    mmt_pipeline_start_trainer(&p);
    mmt_pipeline_start_promoter(&p);
    const char *files[] = {p.csv_path, NULL};
    cr_assert_eq(mmt_pipeline_ingest(&p, files, "--batch-rows=50"), 0, "mm-ingest failed");
    cr_assert(mmt_pipeline_wait_decisions(&p, KEYS, DECIDE_MS), "not every key was decided");
    int64_t versions = mmt_pipeline_query(&p, "registry.db", "SELECT COUNT(*) FROM versions");
    int64_t stored =
        mmt_pipeline_query(&p, "trainer.db", "SELECT COALESCE(SUM(n_rows), 0) FROM history_chunks");

    /* The same load again: same rows, a new load id. */
    cr_assert_eq(mmt_pipeline_ingest(&p, files, "--batch-rows=50"), 0, "second mm-ingest failed");
    int64_t loads = 0, deadline = mm_mono_ms() + mmt_timeout_ms(CATCH_MS);
    while (mm_mono_ms() < deadline && loads < 2) {
        loads = mmt_pipeline_try_query(&p, "trainer.db",
                                       "SELECT COUNT(DISTINCT load_id) FROM load_batches "
                                       "WHERE end_of_load = 1");
        mm_sleep_ms(200, NULL);
    }
    cr_assert_geq(loads, 2, "the trainer never saw the second load end");
    /* Let the promoter hear of anything the second load might have trained. */
    mm_sleep_ms(mmt_timeout_ms(3000), NULL);

    /* Replay: the trainer forgets its offsets (a partition without local state starts
     * from the beginning), the promoter's are reset to 0. */
    stop_services(&p);
    int64_t trainer_offsets = mmt_pipeline_query(&p, "trainer.db", TRAINER_OFFSETS);
    int64_t promoter_offsets = mmt_pipeline_query(&p, "registry.db", PROMOTER_OFFSETS);
    exec_sql(&p, "trainer.db", "DELETE FROM offsets");
    exec_sql(&p, "registry.db", "UPDATE consumed_offsets SET next_offset = 0");
    mmt_pipeline_start_trainer(&p);
    mmt_pipeline_start_promoter(&p);
    int64_t trainer_ms = wait_caught_up(&p, "trainer.db", TRAINER_OFFSETS, trainer_offsets);
    int64_t promoter_ms = wait_caught_up(&p, "registry.db", PROMOTER_OFFSETS, promoter_offsets);
    /* Whatever the replay would train is given the time to show. */
    mm_sleep_ms(mmt_timeout_ms(3000), NULL);

    cr_expect_eq(
        mmt_pipeline_query(&p, "trainer.db", "SELECT COALESCE(SUM(n_rows), 0) FROM history_chunks"),
        stored, "the replays changed the trainer's rows");
    int64_t after = mmt_pipeline_query(&p, "registry.db", "SELECT COUNT(*) FROM versions");
    cr_expect_eq(after, versions, "the replays made %lld new model version(s)",
                 (long long)(after - versions));
    fprintf(stderr,
            "fault scenario 19 (duplicates, replays): %lld rows sent twice; %lld versions "
            "before and %lld after; trainer replayed %lld records in %lld ms, promoter %lld "
            "in %lld ms\n",
            (long long)rows, (long long)versions, (long long)after, (long long)trainer_offsets,
            (long long)trainer_ms, (long long)promoter_offsets, (long long)promoter_ms);

    mmt_check_opts_t opts = {.inputs = files, .keys = KEYS};
    mmt_check_result_t result;
    mmt_check(&p, &opts, &result);
    mmt_pipeline_stop(&p);
}
