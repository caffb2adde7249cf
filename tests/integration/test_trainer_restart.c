/*
 * test_trainer_restart.c - kill -9 the trainer in the middle of a load (and
 * again in the middle of training), restart it, and check that the same set
 * of models comes out as from an uninterrupted run: no row lost, no model
 * version or prediction duplicated.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

#include "mm/buf.h"
#include "mm/util.h"
#include "pipeline.h"
#include "support.h"

#define STORES  5
#define ITEMS   4
#define DAYS    200
#define HORIZON 7

/* "key train_id" lines of the trainer's models, sorted: the set of models. */
static char *model_set(mmt_pipeline_t *p) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/trainer.db", p->dir);
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db,
                                    "SELECT partition_key, train_id, sha256 FROM trained "
                                    "ORDER BY partition_key, train_id",
                                    -1, &st, NULL),
                 SQLITE_OK);
    mm_buf_t out;
    mm_buf_init(&out, 0);
    while (sqlite3_step(st) == SQLITE_ROW)
        mm_buf_appendf(&out, "%s %s %s\n", sqlite3_column_text(st, 0), sqlite3_column_text(st, 1),
                       sqlite3_column_text(st, 2));
    sqlite3_finalize(st);
    sqlite3_close(db);
    if (!out.data) mm_buf_append_str(&out, "");
    return (char *)mm_buf_steal(&out, NULL);
}

static char *run(bool interrupt) {
    mmt_pipeline_t p;
    mmt_pipeline_init(&p, interrupt ? "restart" : "reference", 4, HORIZON);
    int64_t rows = mmt_pipeline_generate(&p, STORES, ITEMS, DAYS, 11);
    const int64_t keys = STORES * ITEMS;
    mmt_pipeline_start_trainer(&p);
    mmt_pipeline_start_promoter(&p);

    /* Small batches make the load many records long, so the kill lands mid-load. */
    const char *files[] = {p.csv_path, NULL};
    pid_t ingest = mmt_pipeline_ingest_async(&p, files, "--batch-rows=20");
    if (interrupt) {
        int64_t deadline = mm_mono_ms() + mmt_timeout_ms(120000);
        int64_t batches = 0;
        while (mm_mono_ms() < deadline) {
            batches = mmt_pipeline_try_query(&p, "trainer.db", "SELECT COUNT(*) FROM load_batches");
            if (batches >= 40) break;
            mm_sleep_ms(20, NULL);
        }
        cr_assert_geq(batches, 40, "the trainer never got going");
        mmt_pipeline_kill_trainer(&p);
        int64_t at_kill = mmt_pipeline_query(&p, "trainer.db",
                                             "SELECT COALESCE(SUM(n_rows), 0) FROM history_chunks");
        cr_log_info("killed the trainer with %ld of %ld rows stored", (long)at_kill, (long)rows);
        mmt_pipeline_start_trainer(&p);
    }
    cr_assert_eq(mmt_wait(ingest, mmt_timeout_ms(300000)), 0, "mm-ingest failed");

    if (interrupt) {
        /* Second kill: while models are being trained. */
        int64_t deadline = mm_mono_ms() + mmt_timeout_ms(180000);
        while (mm_mono_ms() < deadline &&
               mmt_pipeline_try_query(&p, "trainer.db", "SELECT COUNT(*) FROM trained") < 1)
            mm_sleep_ms(10, NULL);
        mmt_pipeline_kill_trainer(&p);
        cr_log_info("killed the trainer with %ld of %ld keys trained",
                    (long)mmt_pipeline_query(&p, "trainer.db", "SELECT COUNT(*) FROM trained"),
                    (long)keys);
        mmt_pipeline_start_trainer(&p);
    }

    cr_assert(mmt_pipeline_wait_decisions(&p, keys, 300000), "not every key got a decision");
    cr_assert_eq(mmt_pipeline_score(&p), 0, "mm-scorer failed");

    /* No row lost, none doubled. */
    cr_expect_eq(
        mmt_pipeline_query(&p, "trainer.db", "SELECT COALESCE(SUM(n_rows), 0) FROM history_chunks"),
        rows);
    /* One model per key: nothing retrained or republished after the restarts. */
    cr_expect_eq(mmt_pipeline_query(&p, "trainer.db", "SELECT COUNT(*) FROM trained"), keys);
    cr_expect_eq(mmt_pipeline_query(&p, "trainer.db", "SELECT COUNT(*) FROM outbox"), 0,
                 "the outbox should be delivered");
    /* The registry has exactly one version per key, whatever the stream carried twice. */
    cr_expect_eq(mmt_pipeline_query(&p, "registry.db", "SELECT COUNT(*) FROM versions"), keys);
    cr_expect_eq(
        mmt_pipeline_query(&p, "registry.db", "SELECT COUNT(DISTINCT partition_key) FROM versions"),
        keys);
    int64_t with_production = 0;
    mmt_pipeline_decisions(&p, &with_production);
    /* Every key is answered: its champion, or its declared fallback labelled as such. */
    cr_expect_eq(mmt_pipeline_query(&p, "predictions.db", "SELECT COUNT(*) FROM predictions"),
                 keys * HORIZON);
    cr_expect_eq(mmt_pipeline_query(&p, "predictions.db",
                                    "SELECT COUNT(*) FROM predictions WHERE fallback = 0"),
                 with_production * HORIZON);

    char *set = model_set(&p);
    mmt_pipeline_stop(&p);
    return set;
}

Test(trainer_restart, kill_9_mid_load_and_mid_training_yields_the_same_models, .timeout = 1200) {
    char *reference = run(false);
    char *restarted = run(true);
    cr_expect_gt(strlen(reference), 0);
    cr_expect_str_eq(restarted, reference, "model sets differ:\nreference:\n%s\nrestarted:\n%s",
                     reference, restarted);
    free(reference);
    free(restarted);
}
