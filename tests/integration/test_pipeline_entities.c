/*
 * test_pipeline_entities.c - one model for many series, end to end: a spec
 * with entity columns inside its key (sales: key store, entity item;
 * predictive maintenance: no key columns at all, entity machineID) goes
 * through mm-ingest -> mm-trainer (one pooled model per key, trained on all
 * its entities' rows) -> mm-promoter -> mm-scorer, which answers every
 * entity with its key's model, from that entity's own newest rows.
 */
#include <criterion/criterion.h>

#include "pipeline.h"
#include "support.h"

#define STORES  2
#define ITEMS   4
#define DAYS    150
#define HORIZON 14

static const char sales_spec[] =
    "{\n"
    "  \"name\": \"sales_by_store\",\n"
    "  \"task\": \"forecast\",\n"
    "  \"key\": [\"store\"],\n"
    "  \"entity\": [\"item\"],\n"
    "  \"time\": {\"column\": \"date\", \"format\": \"%Y-%m-%d\", \"frequency\": \"day\"},\n"
    "  \"target\": {\"column\": \"sales\"},\n"
    "  \"features\": {\"exogenous\": [\"price\", \"promo\"], \"known_in_advance\": [\"price\", "
    "\"promo\"],\n"
    "               \"lags\": [1, 7, 14], \"calendar\": true},\n"
    "  \"horizon\": 14,\n"
    "  \"holdout\": 14,\n"
    "  \"backtest_windows\": 2,\n"
    "  \"season_length\": 7,\n"
    "  \"min_history\": 56,\n"
    "  \"retrain\": {\"on_end_of_load\": true, \"debounce_ms\": 200},\n"
    "  \"promotion\": {\"metric\": \"mase\", \"threshold\": {\"op\": \"<\", \"value\": 100},\n"
    "                \"margin\": 0.0, \"require_beats_baseline\": false}\n"
    "}\n";

Test(pipeline_entities, each_item_is_forecast_by_the_pooled_model_of_its_store, .timeout = 900) {
    mmt_pipeline_t p;
    mmt_pipeline_init_spec(&p, "entities", 2, sales_spec);
    int64_t rows = mmt_pipeline_generate(&p, STORES, ITEMS, DAYS, 11);
    cr_assert_eq(rows, STORES * ITEMS * DAYS);
    mmt_pipeline_start_trainer(&p);
    mmt_pipeline_start_promoter(&p);
    const char *files[] = {p.csv_path, NULL};
    int st = mmt_pipeline_ingest(&p, files, NULL);
    cr_assert_eq(st, 0, "mm-ingest exited %d", st);

    cr_assert(mmt_pipeline_wait_decisions(&p, STORES, 300000), "not every store got a decision");
    cr_assert_eq(mmt_pipeline_score(&p), 0, "mm-scorer failed");

    int64_t with_production = 0;
    cr_expect_eq(mmt_pipeline_decisions(&p, &with_production), STORES, "one model per store");
    cr_expect_eq(with_production, STORES, "the pooled learners pass a loose threshold");
    /* The trainer keeps every row under its store, apart per item. */
    cr_expect_eq(
        mmt_pipeline_query(&p, "trainer.db", "SELECT COALESCE(SUM(n_rows), 0) FROM history_chunks"),
        rows);
    cr_expect_eq(mmt_pipeline_query(&p, "trainer.db",
                                    "SELECT COUNT(*) FROM (SELECT DISTINCT partition_key, entity "
                                    "FROM history_chunks)"),
                 STORES * ITEMS);
    cr_expect_eq(mmt_pipeline_query(&p, "trainer.db", "SELECT COUNT(*) FROM trained"), STORES);
    cr_expect_eq(mmt_pipeline_query(&p, "trainer.db",
                                    "SELECT COUNT(*) FROM trained WHERE algorithm NOT IN "
                                    "('ridge', 'xgboost')"),
                 0, "only learners pool");
    /* Every item is answered over the whole horizon, by its store's model. */
    cr_expect_eq(mmt_pipeline_query(&p, "predictions.db",
                                    "SELECT COUNT(*) FROM (SELECT partition_key, entity FROM "
                                    "predictions GROUP BY partition_key, entity HAVING COUNT(*) = "
                                    "14 AND entity LIKE 'item=%')"),
                 STORES * ITEMS);
    cr_expect_eq(mmt_pipeline_query(&p, "predictions.db",
                                    "SELECT COUNT(*) FROM (SELECT partition_key FROM predictions "
                                    "GROUP BY partition_key HAVING COUNT(DISTINCT train_id) != 1 "
                                    "OR COUNT(DISTINCT entity) != 4)"),
                 0, "the items of a store share its one model");
    cr_expect_eq(mmt_pipeline_query(&p, "predictions.db",
                                    "SELECT COUNT(*) FROM predictions WHERE fallback = 1 OR "
                                    "model_version < 1 OR data_watermark_ms <= 0 OR load_id IS "
                                    "NULL"),
                 0);
    /* Items differ in level: the same model gives each its own forecast. */
    cr_expect_gt(
        mmt_pipeline_query(&p, "predictions.db",
                           "SELECT COUNT(DISTINCT CAST(value * 1000 AS INTEGER)) FROM "
                           "predictions WHERE target_time_ms = (SELECT MIN(target_time_ms) "
                           "FROM predictions)"),
        STORES);
    cr_expect_eq(mmt_pipeline_count_topic(&p, "mm.predictions"), STORES * ITEMS);
    cr_expect_eq(
        mmt_pipeline_query(&p, "predictions.db", "SELECT COUNT(*) FROM latest_predictions"),
        STORES * ITEMS * HORIZON);

    /* Scoring again replays into the same rows. */
    cr_assert_eq(mmt_pipeline_score(&p), 0);
    cr_expect_eq(mmt_pipeline_query(&p, "predictions.db", "SELECT COUNT(*) FROM predictions"),
                 STORES * ITEMS * HORIZON);
    mmt_pipeline_stop(&p);
}

#define MACHINES 4
#define PM_DAYS  90

static const char fleet_spec[] =
    "{\n"
    "  \"name\": \"maintenance_global\",\n"
    "  \"task\": \"classify\",\n"
    "  \"key\": [],\n"
    "  \"entity\": [\"machineID\"],\n"
    "  \"time\": {\"column\": \"datetime\", \"format\": \"%Y-%m-%d %H:%M:%S\", \"frequency\": "
    "\"hour\"},\n"
    "  \"target\": {\"event_column\": \"failure\", \"lookahead\": 24},\n"
    "  \"features\": {\"exogenous\": [\"volt\", \"rotate\", \"pressure\", \"vibration\"],\n"
    "               \"rolling_windows\": [3, 24], \"calendar\": false},\n"
    "  \"horizon\": 24,\n"
    "  \"holdout\": 720,\n"
    "  \"backtest_windows\": 1,\n"
    "  \"season_length\": 24,\n"
    "  \"min_history\": 336,\n"
    "  \"algorithms\": [\"logistic\"],\n"
    "  \"selection_metric\": \"auc\",\n"
    "  \"retrain\": {\"on_end_of_load\": true, \"debounce_ms\": 200},\n"
    "  \"promotion\": {\"metric\": \"auc\", \"threshold\": {\"op\": \">=\", \"value\": 0.0},\n"
    "                \"margin\": 0.0, \"require_beats_baseline\": false}\n"
    "}\n";

Test(pipeline_entities, one_global_classifier_scores_every_machine, .timeout = 900) {
    mmt_pipeline_t p;
    mmt_pipeline_init_spec(&p, "fleet", 2, fleet_spec);
    mmt_pipeline_generate_maintenance(&p, MACHINES, PM_DAYS, 5);
    mmt_pipeline_start_trainer(&p);
    mmt_pipeline_start_promoter(&p);
    const char *files[] = {p.csv_path, NULL};
    int st = mmt_pipeline_ingest(&p, files, NULL);
    cr_assert_eq(st, 0, "mm-ingest exited %d", st);

    cr_assert(mmt_pipeline_wait_decisions(&p, 1, 300000), "the global key got no decision");
    cr_assert_eq(mmt_pipeline_score(&p), 0, "mm-scorer failed");
    int64_t with_production = 0;
    cr_expect_eq(mmt_pipeline_decisions(&p, &with_production), 1, "one model for the fleet");
    cr_expect_eq(with_production, 1);
    cr_expect_eq(
        mmt_pipeline_query(
            &p, "trainer.db",
            "SELECT COALESCE(SUM(n_rows), 0) FROM history_chunks WHERE partition_key = 'all'"),
        (int64_t)MACHINES * PM_DAYS * 24);
    /* One probability per machine, as of its newest telemetry row. */
    cr_expect_eq(mmt_pipeline_query(&p, "predictions.db",
                                    "SELECT COUNT(DISTINCT entity) FROM predictions WHERE "
                                    "partition_key = 'all' AND entity LIKE 'machineID=%'"),
                 MACHINES);
    cr_expect_eq(mmt_pipeline_query(&p, "predictions.db", "SELECT COUNT(*) FROM predictions"),
                 MACHINES);
    cr_expect_eq(mmt_pipeline_query(&p, "predictions.db",
                                    "SELECT COUNT(*) FROM predictions WHERE value < 0 OR value > 1 "
                                    "OR value IS NULL OR target_time_ms != data_watermark_ms"),
                 0);
    mmt_pipeline_stop(&p);
}
