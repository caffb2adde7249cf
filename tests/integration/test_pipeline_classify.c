/*
 * test_pipeline_classify.c - the predictive-maintenance path end to end:
 * mm-datagen maintenance -> mm-ingest (event column + look-ahead label) ->
 * mm-trainer (classifiers per machine) -> mm-promoter -> mm-scorer, which
 * answers each machine with the probability of a failure within the
 * look-ahead window as of the end of its data.
 */
#include <criterion/criterion.h>

#include "pipeline.h"
#include "support.h"

#define MACHINES 4
#define DAYS     120

static const char spec[] =
    "{\n"
    "  \"name\": \"maintenance\",\n"
    "  \"task\": \"classify\",\n"
    "  \"key\": [\"machineID\"],\n"
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

Test(pipeline_classify, every_machine_with_a_model_gets_a_failure_probability, .timeout = 900) {
    mmt_pipeline_t p;
    mmt_pipeline_init_spec(&p, "classify", 2, spec);
    mmt_pipeline_generate_maintenance(&p, MACHINES, DAYS, 5);
    mmt_pipeline_start_trainer(&p);
    mmt_pipeline_start_promoter(&p);
    const char *files[] = {p.csv_path, NULL};
    int st = mmt_pipeline_ingest(&p, files, NULL);
    cr_assert_eq(st, 0, "mm-ingest exited %d", st);

    cr_assert(mmt_pipeline_wait_decisions(&p, MACHINES, 300000),
              "not every machine got a decision");
    cr_assert_eq(mmt_pipeline_score(&p), 0, "mm-scorer failed");

    int64_t with_production = 0;
    cr_expect_eq(mmt_pipeline_decisions(&p, &with_production), MACHINES);
    cr_expect_gt(with_production, 0);
    /* One probability per machine with a model, as of its last observation. */
    cr_expect_eq(mmt_pipeline_query(&p, "predictions.db", "SELECT COUNT(*) FROM predictions"),
                 with_production);
    cr_expect_eq(mmt_pipeline_query(&p, "predictions.db",
                                    "SELECT COUNT(*) FROM predictions WHERE value < 0 OR value > 1 "
                                    "OR value IS NULL"),
                 0);
    cr_expect_eq(mmt_pipeline_query(&p, "predictions.db",
                                    "SELECT COUNT(*) FROM predictions WHERE target_time_ms != "
                                    "data_watermark_ms"),
                 0);
    cr_expect_eq(
        mmt_pipeline_query(&p, "trainer.db", "SELECT COALESCE(SUM(n_rows), 0) FROM history_chunks"),
        (int64_t)MACHINES * DAYS * 24);
    mmt_pipeline_stop(&p);
}
