/*
 * test_pipeline.c - ingest -> trainer -> promoter -> scorer, every service a
 * real process, over TCP to the dev broker, on small generated data.
 */
#include <criterion/criterion.h>

#include "pipeline.h"
#include "support.h"

#define STORES   4
#define ITEMS    3
#define DAYS     150
#define HORIZON  14
#define BAD_ROWS 3

Test(pipeline, every_key_is_decided_and_every_key_is_forecast_for_the_whole_horizon,
     .timeout = 900) {
    mmt_pipeline_t p;
    mmt_pipeline_init(&p, "pipeline", 4, HORIZON);
    int64_t rows = mmt_pipeline_generate(&p, STORES, ITEMS, DAYS, 7);
    cr_assert_eq(rows, STORES * ITEMS * DAYS);
    /* One bad time, one empty key, one unparsable number. */
    char *bad = mmt_pipeline_extra_csv(&p, "bad.csv",
                                       "store,item,date,sales,price,promo\n"
                                       "1,1,2024-13-45,3,1.0,0\n"
                                       "1,,2024-01-02,3,1.0,0\n"
                                       "2,3,2024-01-02,lots,1.0,0\n");
    mmt_pipeline_start_trainer(&p);
    mmt_pipeline_start_promoter(&p);

    const char *files[] = {p.csv_path, bad, NULL};
    int st = mmt_pipeline_ingest(&p, files, NULL);
    cr_assert_eq(st, 2, "mm-ingest should finish with dead-lettered rows (exit 2), got %d", st);

    const int64_t keys = STORES * ITEMS;
    cr_assert(mmt_pipeline_wait_decisions(&p, keys, 300000), "not every key got a decision");
    st = mmt_pipeline_score(&p);
    cr_assert_eq(st, 0, "mm-scorer exited %d", st);

    int64_t with_production = 0;
    cr_expect_eq(mmt_pipeline_decisions(&p, &with_production), keys);
    cr_expect_gt(with_production, 0,
                 "no key was approved: the sample data should beat the threshold");

    /* Rows in == rows in the trainer's store + rows dead-lettered. */
    int64_t stored =
        mmt_pipeline_query(&p, "trainer.db", "SELECT COALESCE(SUM(n_rows), 0) FROM history_chunks");
    int64_t dead = mmt_pipeline_count_topic(&p, "mm.deadletter");
    cr_expect_eq(dead, BAD_ROWS);
    cr_expect_eq(stored + dead, rows + BAD_ROWS, "stored %ld + dead %ld != read %ld", (long)stored,
                 (long)dead, (long)(rows + BAD_ROWS));

    /* Every key is answered for the whole horizon: its champion, or, without an approved
     * model, its declared fallback labelled as such. */
    cr_expect_eq(mmt_pipeline_query(&p, "predictions.db",
                                    "SELECT COUNT(DISTINCT partition_key) FROM predictions"),
                 keys);
    cr_expect_eq(mmt_pipeline_query(&p, "predictions.db",
                                    "SELECT COUNT(*) FROM (SELECT partition_key FROM predictions "
                                    "GROUP BY partition_key HAVING COUNT(*) != 14)"),
                 0);
    cr_expect_eq(mmt_pipeline_query(&p, "predictions.db",
                                    "SELECT COUNT(DISTINCT partition_key) FROM predictions "
                                    "WHERE fallback = 1"),
                 keys - with_production);
    cr_expect_eq(mmt_pipeline_query(&p, "predictions.db", "SELECT COUNT(*) FROM no_model"), 0);
    cr_expect_eq(mmt_pipeline_count_topic(&p, "mm.predictions"), keys);
    /* Each champion's prediction carries the model version; every one the data watermark. */
    cr_expect_eq(mmt_pipeline_query(&p, "predictions.db",
                                    "SELECT COUNT(*) FROM predictions WHERE (fallback = 0 AND "
                                    "(model_version < 1 OR train_id IS NULL)) OR "
                                    "data_watermark_ms <= 0 OR load_id IS NULL"),
                 0);

    /* Scoring again replays into the same rows: upserts, no duplicates. */
    cr_assert_eq(mmt_pipeline_score(&p), 0);
    cr_expect_eq(mmt_pipeline_query(&p, "predictions.db", "SELECT COUNT(*) FROM predictions"),
                 keys * HORIZON);
    free(bad);
    mmt_pipeline_stop(&p);
}
