/*
 * test_batch_metrics.c - the one-shot jobs write their metrics at exit, end
 * to end over the dev broker: mm-ingest --metrics-file counts the load (its
 * bad rows as dead letters), and mm-scorer batch --metrics-file answers
 * "what did the scheduled run do" — keys by outcome, predictions, model
 * loads, blob requests, the last success — for a clean run and for a
 * partial one (a production artifact damaged), where the exit status is
 * MM_EXIT_PARTIAL and the last success is the clean run's.
 */
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "mm/exit.h"
#include "pipeline.h"
#include "prom_text.h"
#include "support.h"

#define STORES  1
#define ITEMS   3
#define DAYS    90
#define HORIZON 7
#define KEYS    (STORES * ITEMS)

#define SCORER_SUCCESS "mm_scorer_batch_last_success_timestamp_seconds"

static const char *const spec_json =
    "{\n"
    "  \"name\": \"sales\",\n"
    "  \"task\": \"forecast\",\n"
    "  \"key\": [\"store\", \"item\"],\n"
    "  \"time\": {\"column\": \"date\", \"format\": \"%Y-%m-%d\", \"frequency\": \"day\"},\n"
    "  \"target\": {\"column\": \"sales\"},\n"
    "  \"features\": {\"exogenous\": [\"price\", \"promo\"]},\n"
    "  \"horizon\": 7,\n"
    "  \"holdout\": 14,\n"
    "  \"backtest_windows\": 1,\n"
    "  \"season_length\": 7,\n"
    "  \"min_history\": 42,\n"
    "  \"algorithms\": [\"snaive\"],\n"
    "  \"retrain\": {\"on_end_of_load\": true, \"debounce_ms\": 200},\n"
    "  \"promotion\": {\"metric\": \"mase\", \"threshold\": {\"op\": \"<\", \"value\": 100},\n"
    "                \"margin\": 0.0, \"require_beats_baseline\": false}\n"
    "}\n";

static char damaged[4096]; /* the production artifact a test damaged */

static int damage_first_artifact(const char *path, const struct stat *st, int type,
                                 struct FTW *ftw) {
    (void)st, (void)ftw;
    if (type != FTW_F) return 0;
    FILE *f = fopen(path, "r+b");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite("garbage!", 1, 8, f), 8); /* the sha256 no longer matches */
    fclose(f);
    snprintf(damaged, sizeof(damaged), "%s", path);
    return 1; /* one is enough */
}

static double value(const char *text, const char *series) {
    double v = mmt_prom_value(text, series);
    cr_assert(!isnan(v), "no sample %s in:\n%s", series, text);
    return v;
}

static char *read_checked(const char *path) {
    char *text = mmt_prom_read(path);
    char why[512] = "";
    cr_assert(mmt_prom_check(text, why, sizeof(why)), "%s: %s\n%s", path, why, text);
    return text;
}

Test(batch_metrics, ingest_and_batch_scorer_write_their_metrics_also_on_partial_runs,
     .timeout = 900) {
    mmt_pipeline_t p;
    mmt_pipeline_init_spec(&p, "batch-metrics", 1, spec_json);
    int64_t rows = mmt_pipeline_generate(&p, STORES, ITEMS, DAYS, 5);
    char *bad = mmt_pipeline_extra_csv(&p, "bad.csv",
                                       "store,item,date,sales,price,promo\n"
                                       "1,1,2024-13-45,3,2.50,0\n"      /* time */
                                       "1,1,2024-01-05,many,2.50,0\n"); /* value */
    char ingest_prom[1024], ingest_arg[1100], scorer_prom[1024];
    snprintf(ingest_prom, sizeof(ingest_prom), "%s/mm-ingest.prom", p.dir);
    snprintf(ingest_arg, sizeof(ingest_arg), "--metrics-file=%s", ingest_prom);
    snprintf(scorer_prom, sizeof(scorer_prom), "%s/mm-scorer.prom", p.dir);

    mmt_pipeline_start_trainer(&p);
    mmt_pipeline_start_promoter(&p);
    const char *files[] = {p.csv_path, bad, NULL};
    cr_assert_eq(mmt_pipeline_ingest(&p, files, ingest_arg), MM_EXIT_PARTIAL,
                 "two bad rows: partial (see %s)", p.dir);
    char *text = read_checked(ingest_prom);
    cr_expect_float_eq(value(text, "mm_ingest_load_files"), 2, 1e-9);
    cr_expect_float_eq(value(text, "mm_ingest_load_rows_read"), (double)rows + 2, 1e-9);
    cr_expect_float_eq(value(text, "mm_ingest_load_rows_produced"), (double)rows, 1e-9);
    cr_expect_float_eq(value(text, "mm_ingest_load_rows_dead_lettered{reason=\"time\"}"), 1, 1e-9);
    cr_expect_float_eq(value(text, "mm_ingest_load_rows_dead_lettered{reason=\"value\"}"), 1, 1e-9);
    cr_expect_float_eq(value(text, "mm_ingest_load_keys"), KEYS, 1e-9);
    cr_expect_float_eq(value(text, "mm_ingest_load_exit_status"), MM_EXIT_PARTIAL, 1e-9);
    free(text);

    cr_assert(mmt_pipeline_wait_decisions(&p, KEYS, 300000), "not every key got a decision");
    int64_t with_production = 0;
    mmt_pipeline_decisions(&p, &with_production);
    cr_assert_eq(with_production, KEYS, "every key has an approved champion");

    /* A clean run: every key by its champion. */
    const char *extra[] = {"--metrics-file", scorer_prom, NULL};
    cr_assert_eq(mmt_pipeline_score_with(&p, extra), MM_EXIT_OK, "mm-scorer failed (see %s)",
                 p.dir);
    text = read_checked(scorer_prom);
    cr_expect_float_eq(value(text, "mm_scorer_batch_keys"), KEYS, 1e-9);
    cr_expect_float_eq(value(text, "mm_scorer_batch_keys_answered{outcome=\"champion\"}"), KEYS,
                       1e-9);
    cr_expect_float_eq(value(text, "mm_scorer_batch_keys_answered{outcome=\"error\"}"), 0, 1e-9);
    cr_expect_float_eq(value(text, "mm_scorer_batch_predictions"), KEYS * HORIZON, 1e-9);
    cr_expect_float_eq(value(text, "mm_scorer_batch_model_loads"), KEYS, 1e-9);
    cr_expect_float_eq(value(text, "mm_scorer_batch_model_load_failures"), 0, 1e-9);
    cr_expect_float_eq(value(text, "mm_scorer_batch_exit_status"), MM_EXIT_OK, 1e-9);
    cr_expect_gt(value(text, "mm_scorer_batch_observation_batches"), 0);
    cr_expect_geq(value(text, "mm_scorer_batch_sink_write_seconds"), 0);
    cr_expect_geq(value(text, "mm_scorer_batch_duration_seconds"),
                  value(text, "mm_scorer_batch_sink_write_seconds"));
    cr_expect_geq(value(text, "mm_blob_request_seconds_count{op=\"get\"}"), KEYS,
                  "the blob store's requests are in the run's metrics");
    double success = value(text, SCORER_SUCCESS);
    cr_expect_gt(success, 1.7e9);
    free(text);

    /* A damaged artifact: that key is answered with an error record, the run is partial, and
     * the file says so without moving the last success. */
    char production[1100];
    snprintf(production, sizeof(production), "%s/blobs/production", p.dir);
    cr_assert_eq(nftw(production, damage_first_artifact, 8, FTW_PHYS), 1, "no artifact under %s",
                 production);
    cr_assert_eq(mmt_pipeline_score_with(&p, extra), MM_EXIT_PARTIAL,
                 "a damaged artifact (%s) makes the run partial (see %s)", damaged, p.dir);
    text = read_checked(scorer_prom);
    cr_expect_float_eq(value(text, "mm_scorer_batch_keys_answered{outcome=\"error\"}"), 1, 1e-9);
    cr_expect_float_eq(value(text, "mm_scorer_batch_keys_answered{outcome=\"champion\"}"), KEYS - 1,
                       1e-9);
    cr_expect_float_eq(value(text, "mm_scorer_batch_model_load_failures"), 1, 1e-9);
    cr_expect_float_eq(value(text, "mm_scorer_batch_exit_status"), MM_EXIT_PARTIAL, 1e-9);
    cr_expect_float_eq(value(text, "mm_scorer_batch_predictions"), (KEYS - 1) * HORIZON, 1e-9);
    cr_expect_float_eq(value(text, SCORER_SUCCESS), success, 1e-3,
                       "a partial run keeps the last success");
    free(text);

    free(bad);
    mmt_pipeline_stop(&p);
}
