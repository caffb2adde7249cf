/*
 * test_scoring.c - mm-scorer scores new data, end to end over the dev
 * broker: models are trained on a history, the trainer is stopped, newer
 * observations and planned covariates are ingested without retraining, and
 * a batch run must forecast from the newest observation, use the plan,
 * answer every key (fallbacks labelled) and change nothing when the scoring
 * data is replayed; a key whose data ends a period early gets the same
 * calendar window as the others; a classifier must score the newest
 * telemetry.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "pipeline.h"
#include "support.h"

#define STORES     2
#define ITEMS      2
#define DAYS       120 /* history the models are trained on */
#define NEW_DAYS   7   /* observations that arrive after training */
#define HORIZON    7
#define SHORT_DAYS 20 /* a key too short for a selected model: a declared fallback */
#define DAY_MS     86400000LL
#define LINE_MAX   512

/* Epoch ms of 2024-01-01 (mm-datagen's default start) plus @p days. */
static int64_t day_ms(int days) {
    struct tm tm = {.tm_year = 124, .tm_mon = 0, .tm_mday = 1};
    return ((int64_t)timegm(&tm) + (int64_t)days * 86400) * 1000;
}

static void day_text(int days, char *out, size_t size) {
    time_t t = (time_t)(day_ms(days) / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, size, "%Y-%m-%d", &tm);
}

/*
 * Split the generated sales CSV at day @p cut: rows before it go to
 * @p before, the rest to @p after (both with the header).
 */
static void split_csv(const char *src, const char *before, const char *after, int cut) {
    char cut_date[16];
    day_text(cut, cut_date, sizeof(cut_date));
    FILE *in = fopen(src, "r"), *a = fopen(before, "w"), *b = fopen(after, "w");
    cr_assert(in && a && b);
    char line[LINE_MAX];
    cr_assert_not_null(fgets(line, sizeof(line), in));
    fputs(line, a);
    fputs(line, b);
    while (fgets(line, sizeof(line), in)) {
        /* store,item,date,...: the date is the third field */
        const char *date = strchr(line, ',');
        date = date ? strchr(date + 1, ',') : NULL;
        cr_assert_not_null(date);
        fputs(line, strncmp(date + 1, cut_date, 10) < 0 ? a : b);
    }
    fclose(in);
    fclose(a);
    fclose(b);
}

static const char *const sales_spec =
    "{\n"
    "  \"name\": \"sales\",\n"
    "  \"task\": \"forecast\",\n"
    "  \"key\": [\"store\", \"item\"],\n"
    "  \"time\": {\"column\": \"date\", \"format\": \"%Y-%m-%d\", \"frequency\": \"day\"},\n"
    "  \"target\": {\"column\": \"sales\"},\n"
    "  \"features\": {\"exogenous\": [\"price\", \"promo\"], \"known_in_advance\": [\"price\", "
    "\"promo\"]},\n"
    "  \"horizon\": 7,\n"
    "  \"holdout\": 14,\n"
    "  \"backtest_windows\": 1,\n"
    "  \"season_length\": 7,\n"
    "  \"min_history\": 42,\n"
    "  \"algorithms\": [\"snaive\", \"ets\"],\n"
    "  \"retrain\": {\"on_end_of_load\": true, \"debounce_ms\": 200},\n"
    "  \"promotion\": {\"metric\": \"mase\", \"threshold\": {\"op\": \"<\", \"value\": 10},\n"
    "                \"margin\": 0.0, \"require_beats_baseline\": false}\n"
    "}\n";

/* Planned rows (empty sales) for every generated key and a later key, days from..from+n-1. */
static char *planned_csv(mmt_pipeline_t *p, int from, int n) {
    size_t cap = 65536, len = 0;
    char *text = malloc(cap);
    cr_assert_not_null(text);
    len += (size_t)snprintf(text, cap, "store,item,date,sales,price,promo\n");
    for (int s = 1; s <= STORES + 1; s++) {
        for (int i = 1; i <= ITEMS; i++) {
            for (int d = from; d < from + n; d++) {
                char date[16];
                day_text(d, date, sizeof(date));
                len += (size_t)snprintf(text + len, cap - len, "%d,%d,%s,,%.2f,%d\n", s, i, date,
                                        2.5 + 0.01 * d, d % 2);
                cr_assert_lt(len, cap);
            }
        }
    }
    char *path = mmt_pipeline_extra_csv(p, "planned.csv", text);
    free(text);
    return path;
}

/* Rows of keys the trainer never saw: SHORT_DAYS up to the newest day, store STORES + 1. */
static char *late_key_csv(mmt_pipeline_t *p) {
    size_t cap = 65536, len = 0;
    char *text = malloc(cap);
    cr_assert_not_null(text);
    len += (size_t)snprintf(text, cap, "store,item,date,sales,price,promo\n");
    for (int i = 1; i <= ITEMS; i++) {
        for (int d = DAYS + NEW_DAYS - SHORT_DAYS; d < DAYS + NEW_DAYS; d++) {
            char date[16];
            day_text(d, date, sizeof(date));
            len += (size_t)snprintf(text + len, cap - len, "%d,%d,%s,%d,2.50,0\n", STORES + 1, i,
                                    date, 10 + d % 7);
            cr_assert_lt(len, cap);
        }
    }
    char *path = mmt_pipeline_extra_csv(p, "late.csv", text);
    free(text);
    return path;
}

static int64_t q(mmt_pipeline_t *p, const char *sql) {
    return mmt_pipeline_query(p, "predictions.db", sql);
}

Test(scoring, forecasts_start_after_the_newest_observation_and_every_key_is_answered,
     .timeout = 900) {
    mmt_pipeline_t p;
    mmt_pipeline_init_spec(&p, "scoring", 2, sales_spec);
    mmt_pipeline_generate(&p, STORES, ITEMS, DAYS + NEW_DAYS, 11);
    char *history = mmt_pipeline_extra_csv(&p, "history.csv", "");
    char *newer = mmt_pipeline_extra_csv(&p, "newer.csv", "");
    split_csv(p.csv_path, history, newer, DAYS);

    /* Train and decide on the history, then stop the trainer: nothing retrains after this. */
    mmt_pipeline_start_trainer(&p);
    mmt_pipeline_start_promoter(&p);
    const char *first[] = {history, NULL};
    cr_assert_eq(mmt_pipeline_ingest(&p, first, NULL), 0);
    const int64_t keys = STORES * ITEMS;
    cr_assert(mmt_pipeline_wait_decisions(&p, keys, 300000), "not every key got a decision");
    mmt_pipeline_kill_trainer(&p);

    /* Newer observations, a key the trainer never saw, and the plan for the horizon. */
    char *late = late_key_csv(&p);
    char *plan = planned_csv(&p, DAYS + NEW_DAYS, HORIZON);
    const char *second[] = {newer, late, plan, NULL};
    cr_assert_eq(mmt_pipeline_ingest(&p, second, NULL), 0);
    cr_assert_eq(mmt_pipeline_score(&p), 0, "mm-scorer failed");

    const int64_t answered = keys + ITEMS;
    const int64_t newest = day_ms(DAYS + NEW_DAYS - 1);
    char sql[512];
    /* Every key with data is answered over the whole horizon. */
    cr_expect_eq(q(&p, "SELECT COUNT(*) FROM key_runs WHERE status = 'ok'"), answered);
    cr_expect_eq(q(&p, "SELECT COUNT(*) FROM latest_predictions"), answered * HORIZON);
    /* The first forecast is one period after the newest observation, not the training end. */
    snprintf(sql, sizeof(sql),
             "SELECT COUNT(*) FROM (SELECT partition_key, MIN(target_time_ms) AS first "
             "FROM latest_predictions GROUP BY partition_key) WHERE first != %lld",
             (long long)(newest + DAY_MS));
    cr_expect_eq(q(&p, sql), 0, "forecasts must start the day after the newest observation");
    snprintf(sql, sizeof(sql),
             "SELECT COUNT(*) FROM latest_predictions WHERE data_watermark_ms != %lld",
             (long long)newest);
    cr_expect_eq(q(&p, sql), 0, "the watermark is the newest observation");
    cr_expect_eq(q(&p, "SELECT COUNT(*) FROM latest_predictions WHERE fallback = 0 AND "
                       "(new_observations < 7 OR model_data_end_ms >= data_watermark_ms)"),
                 0, "champions were applied to the newer observations");
    /* The plan reached every step. */
    cr_expect_eq(q(&p, "SELECT COUNT(*) FROM latest_predictions WHERE planned_steps != 7 OR "
                       "carried_steps != 0"),
                 0);
    /* The key the trainer never saw is answered by the declared fallback, labelled. */
    cr_expect_eq(q(&p, "SELECT COUNT(DISTINCT partition_key) FROM latest_predictions WHERE "
                       "fallback = 1 AND partition_key LIKE 'store=3/%' AND message LIKE "
                       "'no approved model%'"),
                 ITEMS);
    cr_expect_eq(q(&p, "SELECT COUNT(*) FROM latest_predictions WHERE load_id IS NULL"), 0);

    /* Replaying the scoring data and scoring as of the same time changes nothing. */
    int64_t rows = q(&p, "SELECT COUNT(*) FROM predictions");
    int64_t sum = q(&p, "SELECT CAST(ROUND(SUM(value) * 1000) AS INTEGER) FROM predictions");
    cr_assert_eq(mmt_pipeline_ingest(&p, second, NULL), 0);
    char as_of[32];
    snprintf(as_of, sizeof(as_of), "%lld", (long long)newest);
    const char *again[] = {"--as-of", as_of, NULL};
    cr_assert_eq(mmt_pipeline_score_with(&p, again), 0);
    cr_expect_eq(q(&p, "SELECT COUNT(*) FROM predictions"), rows);
    cr_expect_eq(q(&p, "SELECT CAST(ROUND(SUM(value) * 1000) AS INTEGER) FROM predictions"), sum);
    cr_expect_eq(mmt_pipeline_query(&p, "scorer.db",
                                    "SELECT COUNT(DISTINCT partition_key) FROM "
                                    "scoring_rows"),
                 answered);

    free(history);
    free(newer);
    free(late);
    free(plan);
    mmt_pipeline_stop(&p);
}

Test(scoring, without_serve_fallback_a_key_without_a_model_is_answered_no_model, .timeout = 600) {
    char spec[2048];
    snprintf(spec, sizeof(spec), "%.*s,\n  \"scoring\": {\"fallback\": \"none\"}\n}\n",
             (int)(strrchr(sales_spec, '}') - sales_spec - 1), sales_spec);
    mmt_pipeline_t p;
    mmt_pipeline_init_spec(&p, "scoring_nofb", 1, spec);
    mmt_pipeline_start_trainer(&p);
    mmt_pipeline_start_promoter(&p);
    char *late = late_key_csv(&p); /* too short for a selected model: a declared fallback */
    const char *files[] = {late, NULL};
    cr_assert_eq(mmt_pipeline_ingest(&p, files, NULL), 0);
    cr_assert(mmt_pipeline_wait_decisions(&p, ITEMS, 300000), "not every key got a decision");
    cr_assert_eq(mmt_pipeline_score(&p), 0, "mm-scorer failed");
    cr_expect_eq(q(&p, "SELECT COUNT(*) FROM key_runs WHERE status = 'no_model'"), ITEMS);
    cr_expect_eq(q(&p, "SELECT COUNT(*) FROM no_model"), ITEMS);
    cr_expect_eq(q(&p, "SELECT COUNT(*) FROM predictions"), 0);
    free(late);
    mmt_pipeline_stop(&p);
}

/*
 * Copy the generated sales CSV @p src to @p dst without key (@p store,
 * @p item)'s row of day @p day: that key's data ends a period early.
 */
static void drop_key_day(const char *src, const char *dst, int store, int item, int day) {
    char date[16], prefix[64];
    day_text(day, date, sizeof(date));
    snprintf(prefix, sizeof(prefix), "%d,%d,%s,", store, item, date);
    FILE *in = fopen(src, "r"), *out = fopen(dst, "w");
    cr_assert(in && out);
    char line[LINE_MAX];
    int dropped = 0;
    while (fgets(line, sizeof(line), in)) {
        if (strncmp(line, prefix, strlen(prefix)) == 0) {
            dropped++;
            continue;
        }
        fputs(line, out);
    }
    fclose(in);
    fclose(out);
    cr_assert_eq(dropped, 1, "the generated data has one row for %s", prefix);
}

Test(scoring, a_key_whose_data_ends_a_period_early_gets_the_same_calendar_window, .timeout = 900) {
    mmt_pipeline_t p;
    mmt_pipeline_init_spec(&p, "scoring_window", 2, sales_spec);
    mmt_pipeline_generate(&p, STORES, ITEMS, DAYS, 13);
    char *uneven = mmt_pipeline_extra_csv(&p, "uneven.csv", "");
    drop_key_day(p.csv_path, uneven, 1, 2, DAYS - 1);

    mmt_pipeline_start_trainer(&p);
    mmt_pipeline_start_promoter(&p);
    const char *files[] = {uneven, NULL};
    cr_assert_eq(mmt_pipeline_ingest(&p, files, NULL), 0);
    const int64_t keys = STORES * ITEMS;
    cr_assert(mmt_pipeline_wait_decisions(&p, keys, 300000), "not every key got a decision");
    cr_assert_eq(mmt_pipeline_score(&p), 0, "mm-scorer failed"); /* as of: the newest row */

    const int64_t newest = day_ms(DAYS - 1);
    char sql[512];
    cr_expect_eq(q(&p, "SELECT COUNT(*) FROM key_runs WHERE status = 'ok'"), keys);
    /* The short key really ends a day early, and is the only one. */
    snprintf(sql, sizeof(sql),
             "SELECT COUNT(DISTINCT partition_key) FROM latest_predictions WHERE "
             "data_watermark_ms = %lld AND partition_key = 'store=1/item=2'",
             (long long)(newest - DAY_MS));
    cr_assert_eq(q(&p, sql), 1, "the short key's watermark is its own newest observation");
    snprintf(sql, sizeof(sql),
             "SELECT COUNT(DISTINCT partition_key) FROM latest_predictions WHERE "
             "data_watermark_ms = %lld",
             (long long)newest);
    cr_assert_eq(q(&p, sql), keys - 1);
    /* Every key, the short one too, forecasts the same window: the day after the
     * newest observation in the dataset, HORIZON days, one row each. */
    snprintf(sql, sizeof(sql),
             "SELECT COUNT(*) FROM (SELECT partition_key, MIN(target_time_ms) AS first, "
             "MAX(target_time_ms) AS last, COUNT(*) AS n, COUNT(DISTINCT target_time_ms) AS d "
             "FROM latest_predictions GROUP BY partition_key) WHERE first = %lld AND "
             "last = %lld AND n = %d AND d = %d",
             (long long)(newest + DAY_MS), (long long)(newest + HORIZON * DAY_MS), HORIZON,
             HORIZON);
    cr_expect_eq(q(&p, sql), keys, "every key answers the common calendar window");
    snprintf(sql, sizeof(sql),
             "SELECT COUNT(*) FROM latest_predictions WHERE partition_key = 'store=1/item=2' "
             "AND target_time_ms > %lld AND target_time_ms <= %lld AND value IS NOT NULL",
             (long long)newest, (long long)(newest + HORIZON * DAY_MS));
    cr_expect_eq(q(&p, sql), HORIZON, "the short key is forecast over the whole window");
    free(uneven);
    mmt_pipeline_stop(&p);
}

/* ------------------------------------------------------------ classification */

#define MACHINES      4
#define TRAIN_DAYS    118
#define NEWER_DAYS    2
#define HOUR_MS       3600000LL
#define MAINT_START_S 1420070400LL /* 2015-01-01, mm-datagen maintenance's default start */

static const char classify_spec[] =
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

/* Split telemetry at @p cut_date ("YYYY-MM-DD"; the datetime is the first field). */
static void split_telemetry(const char *src, const char *before, const char *after,
                            const char *cut_date) {
    FILE *in = fopen(src, "r"), *a = fopen(before, "w"), *b = fopen(after, "w");
    cr_assert(in && a && b);
    char line[LINE_MAX];
    cr_assert_not_null(fgets(line, sizeof(line), in));
    fputs(line, a);
    fputs(line, b);
    while (fgets(line, sizeof(line), in)) fputs(line, strncmp(line, cut_date, 10) < 0 ? a : b);
    fclose(in);
    fclose(a);
    fclose(b);
}

Test(scoring, a_classifier_scores_the_newest_telemetry, .timeout = 900) {
    mmt_pipeline_t p;
    mmt_pipeline_init_spec(&p, "scoring_classify", 2, classify_spec);
    mmt_pipeline_generate_maintenance(&p, MACHINES, TRAIN_DAYS + NEWER_DAYS, 5);
    char *history = mmt_pipeline_extra_csv(&p, "history.csv", "");
    char *newer = mmt_pipeline_extra_csv(&p, "newer.csv", "");
    char cut[16];
    time_t cut_s = (time_t)(MAINT_START_S + (int64_t)TRAIN_DAYS * 86400);
    struct tm tm;
    gmtime_r(&cut_s, &tm);
    strftime(cut, sizeof(cut), "%Y-%m-%d", &tm);
    split_telemetry(p.csv_path, history, newer, cut);

    mmt_pipeline_start_trainer(&p);
    mmt_pipeline_start_promoter(&p);
    const char *first[] = {history, NULL};
    cr_assert_eq(mmt_pipeline_ingest(&p, first, NULL), 0);
    cr_assert(mmt_pipeline_wait_decisions(&p, MACHINES, 300000), "not every machine decided");
    mmt_pipeline_kill_trainer(&p);
    const char *second[] = {newer, NULL};
    cr_assert_eq(mmt_pipeline_ingest(&p, second, NULL), 0);
    cr_assert_eq(mmt_pipeline_score(&p), 0, "mm-scorer failed");

    int64_t with_production = 0;
    mmt_pipeline_decisions(&p, &with_production);
    cr_assert_gt(with_production, 0);
    const int64_t newest =
        (MAINT_START_S + (int64_t)(TRAIN_DAYS + NEWER_DAYS) * 86400) * 1000 - HOUR_MS;
    char sql[512];
    snprintf(sql, sizeof(sql),
             "SELECT COUNT(*) FROM latest_predictions WHERE fallback = 0 AND target_time_ms = %lld "
             "AND data_watermark_ms = %lld AND model_data_end_ms < %lld AND value BETWEEN 0 AND 1",
             (long long)newest, (long long)newest, (long long)(newest - 24 * HOUR_MS));
    cr_expect_eq(q(&p, sql), with_production,
                 "each machine with a model is judged on its newest telemetry row");
    free(history);
    free(newer);
    mmt_pipeline_stop(&p);
}
