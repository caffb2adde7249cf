/*
 * test_spec.c - the dataset spec (common/src/spec.c): validation errors,
 * defaults, the content hash, partition keys, and applying the spec's time
 * format to a cell (the cells themselves: test_cells.c).
 *
 * Data-driven: every tests/fixtures/specs/invalid/<case>.json must fail with
 * MM_ERR_CONFIG and an error containing the text of <case>.expected; every
 * .json file under tests/fixtures/specs/valid/ must load.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <jansson.h>

#include "mm/buf.h"
#include "mm/fs.h"
#include "mm/spec.h"
#include "mm/util.h"

#define SPEC_FIXTURES MM_FIXTURES_DIR "/specs"
#define DATAGEN_SPECS MM_SOURCE_DIR "/tools/datagen/specs"

typedef struct spec_case {
    char name[256];
} spec_case_t;

static int case_cmp(const void *a, const void *b) {
    return strcmp(((const spec_case_t *)a)->name, ((const spec_case_t *)b)->name);
}

static size_t list_cases(const char *dir_path, spec_case_t *cases, size_t max) {
    size_t n = 0;
    DIR *dir = opendir(dir_path);
    if (!dir) return 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL && n < max) {
        size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0) continue;
        snprintf(cases[n].name, sizeof(cases[n].name), "%.*s", (int)(len - 5), de->d_name);
        n++;
    }
    closedir(dir);
    qsort(cases, n, sizeof(cases[0]), case_cmp);
    return n;
}

static char *slurp(const char *path, size_t *len) {
    mm_buf_t buf;
    mm_buf_init(&buf, 1u << 20);
    char errstr[256];
    cr_assert_eq(mm_file_read(path, &buf, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    return (char *)mm_buf_steal(&buf, len);
}

static void trim_newline(char *s) {
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r')) s[--n] = 0;
}

ParameterizedTestParameters(spec, invalid_fixture) {
    static spec_case_t cases[256];
    size_t n = list_cases(SPEC_FIXTURES "/invalid", cases, 256);
    return cr_make_param_array(spec_case_t, cases, n);
}

ParameterizedTest(spec_case_t *tc, spec, invalid_fixture) {
    char path[1024];
    snprintf(path, sizeof(path), "%s/invalid/%s.json", SPEC_FIXTURES, tc->name);
    size_t len;
    char *text = slurp(path, &len);
    snprintf(path, sizeof(path), "%s/invalid/%s.expected", SPEC_FIXTURES, tc->name);
    size_t elen;
    char *expected = slurp(path, &elen);
    trim_newline(expected);

    mm_spec_t spec;
    char errstr[512] = "";
    mm_err_t err = mm_spec_parse(text, len, "invalid.json", &spec, errstr, sizeof(errstr));
    cr_assert_eq(err, MM_ERR_CONFIG, "[%s] want MM_ERR_CONFIG, got %s (%s)", tc->name,
                 mm_err_name(err), errstr);
    cr_assert(strncmp(errstr, "invalid.json:", 13) == 0, "[%s] error lacks the origin: %s",
              tc->name, errstr);
    cr_assert(strstr(errstr, expected), "[%s] error\n  %s\nlacks\n  %s", tc->name, errstr,
              expected);
    /* on error the spec is left cleared */
    cr_assert_null(spec.name);
    cr_assert_eq(spec.n_key_columns, 0);
    cr_assert_null(spec.time_column);
    free(text);
    free(expected);
}

Test(spec, invalid_fixture_directory_has_cases) {
    spec_case_t cases[256];
    cr_assert_geq(list_cases(SPEC_FIXTURES "/invalid", cases, 256), 40);
}

Test(spec, every_valid_fixture_loads) {
    spec_case_t cases[64];
    size_t n = list_cases(SPEC_FIXTURES "/valid", cases, 64);
    cr_assert_geq(n, 2);
    for (size_t i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/valid/%s.json", SPEC_FIXTURES, cases[i].name);
        mm_spec_t spec;
        char errstr[512] = "";
        cr_assert_eq(mm_spec_load_file(path, &spec, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
        mm_spec_clear(&spec);
    }
}

Test(spec, load_file_error_names_the_path) {
    mm_spec_t spec;
    char errstr[512] = "";
    const char *path = SPEC_FIXTURES "/invalid/horizon_zero.json";
    cr_assert_eq(mm_spec_load_file(path, &spec, errstr, sizeof(errstr)), MM_ERR_CONFIG);
    cr_assert(strncmp(errstr, path, strlen(path)) == 0, "%s", errstr);
    cr_assert(strstr(errstr, ": horizon: "), "%s", errstr);
}

Test(spec, missing_file_is_an_io_error) {
    mm_spec_t spec;
    char errstr[512] = "";
    cr_assert_eq(mm_spec_load_file("/nonexistent/spec.json", &spec, errstr, sizeof(errstr)),
                 MM_ERR_IO);
    cr_assert(strstr(errstr, "/nonexistent/spec.json"), "%s", errstr);
}

Test(spec, sales_spec_fields_are_loaded) {
    mm_spec_t spec;
    char errstr[512] = "";
    cr_assert_eq(mm_spec_load_file(DATAGEN_SPECS "/sales.json", &spec, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_assert_str_eq(spec.name, "sales");
    cr_assert_eq(spec.task, MM_TASK_FORECAST);
    cr_assert_eq(spec.n_key_columns, 2);
    cr_assert_str_eq(spec.key_columns[0], "store");
    cr_assert_str_eq(spec.key_columns[1], "item");
    cr_assert_str_eq(spec.time_column, "date");
    cr_assert_eq(spec.time_kind, MM_TIME_DATE);
    cr_assert_eq(spec.freq, MM_FREQ_DAY);
    cr_assert_str_eq(spec.target_column, "sales");
    cr_assert_null(spec.event_column);
    cr_assert_eq(spec.n_feature_columns, 2);
    cr_assert_str_eq(spec.feature_columns[1], "promo");
    cr_assert_eq(spec.model.features.n_exog, 2);
    cr_assert_eq(spec.model.features.known_in_advance, 3u, "price and promo are planned");
    cr_assert(spec.serve_fallback, "scoring.fallback defaults to serve");
    cr_assert_eq(spec.model.features.n_lags, 7, "lags left out: the daily defaults");
    cr_assert_eq(spec.model.features.lags[6], 28);
    cr_assert_eq(spec.model.backtest_windows, 5);
    cr_assert_eq(spec.model.backtest_fits, 3, "the oldest and the newest two windows fitted");
    cr_assert_eq(spec.model.candidates,
                 (1u << MM_ALGO_SNAIVE) | (1u << MM_ALGO_RIDGE) | (1u << MM_ALGO_XGBOOST) |
                     (1u << MM_ALGO_CROSTON) | (1u << MM_ALGO_SBA) | (1u << MM_ALGO_TSB),
                 "no exponential smoothing: it cannot take the plan");
    cr_assert_eq(spec.model.horizon, 28);
    cr_assert_eq(spec.model.holdout, 28);
    cr_assert_eq(spec.model.season_length, 7);
    cr_assert_eq(spec.model.period_ms, 86400000LL);
    cr_assert_eq(spec.model.selection_metric, MM_METRIC_MASE);
    cr_assert_eq(spec.promotion.metric, MM_METRIC_MASE);
    cr_assert_not(spec.promotion.has_threshold, "the sample judges by baseline and margin");
    cr_assert_float_eq(spec.promotion.margin, 0.02, 1e-12);
    cr_assert(spec.promotion.require_beats_baseline);
    cr_assert(spec.retrain.on_end_of_load);
    cr_assert_eq(spec.retrain.debounce_ms, 1000);
    cr_assert_eq(strlen(spec.hash), 64);
    mm_spec_clear(&spec);
}

Test(spec, maintenance_spec_uses_event_column_and_lookahead) {
    mm_spec_t spec;
    char errstr[512] = "";
    cr_assert_eq(
        mm_spec_load_file(DATAGEN_SPECS "/maintenance.json", &spec, errstr, sizeof(errstr)), MM_OK,
        "%s", errstr);
    cr_assert_eq(spec.task, MM_TASK_CLASSIFY);
    cr_assert_str_eq(spec.key_columns[0], "machineID");
    cr_assert_null(spec.target_column);
    cr_assert_str_eq(spec.event_column, "failure");
    cr_assert_eq(spec.model.lookahead, 24);
    cr_assert_eq(spec.freq, MM_FREQ_HOUR);
    cr_assert_eq(spec.time_kind, MM_TIME_DATETIME);
    cr_assert_eq(spec.model.features.n_windows, 2);
    cr_assert_eq(spec.model.features.windows[1], 24);
    cr_assert_eq(spec.model.candidates, (1u << MM_ALGO_LOGISTIC) | (1u << MM_ALGO_XGB_CLASSIFIER));
    cr_assert_eq(spec.promotion.op, MM_OP_GE);
    cr_assert_not(spec.promotion.require_beats_baseline);
    mm_spec_clear(&spec);
}

static const char minimal[] = "{\"name\":\"d\",\"task\":\"forecast\",\"key\":[\"k\"],"
                              "\"time\":{\"column\":\"t\",\"frequency\":\"hour\"},"
                              "\"target\":{\"column\":\"y\"}}";

Test(spec, promotion_threshold_is_loaded_with_its_operator_and_value) {
    static const char text[] =
        "{\"name\":\"d\",\"task\":\"forecast\",\"key\":[\"k\"],"
        "\"time\":{\"column\":\"t\",\"frequency\":\"day\"},\"target\":{\"column\":\"y\"},"
        "\"promotion\":{\"metric\":\"mase\",\"threshold\":{\"op\":\"<=\",\"value\":0.9}}}";
    mm_spec_t spec;
    char errstr[512] = "";
    cr_assert_eq(mm_spec_parse(text, strlen(text), "t.json", &spec, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    cr_assert(spec.promotion.has_threshold);
    cr_assert_eq(spec.promotion.op, MM_OP_LE);
    cr_assert_float_eq(spec.promotion.threshold, 0.9, 1e-12);
    mm_spec_clear(&spec);
}

Test(spec, absent_optional_fields_take_defaults) {
    mm_spec_t spec;
    char errstr[512] = "";
    cr_assert_eq(mm_spec_parse(minimal, strlen(minimal), "m.json", &spec, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    mm_model_config_t library;
    mm_model_config_defaults(&library, MM_TASK_FORECAST);
    cr_assert_eq(spec.time_kind, MM_TIME_ISO8601, "time.format defaults to iso8601");
    cr_assert_str_eq(spec.time_format, "iso8601");
    cr_assert_eq(spec.model.season_length, 24, "hourly data defaults to a daily season");
    cr_assert_eq(spec.model.period_ms, 3600000LL);
    cr_assert_eq(spec.model.horizon, 48, "hourly data forecasts two days");
    cr_assert_eq(spec.model.holdout, 48);
    cr_assert_eq(spec.model.backtest_windows, 3);
    cr_assert_eq(spec.model.backtest_fits, 0, "every backtest window fitted");
    cr_assert_eq(spec.model.min_history, 192);
    cr_assert_eq(spec.model.features.n_lags, 6);
    cr_assert_eq(spec.model.features.lags[5], 168, "hourly lags reach back a week");
    cr_assert_eq(spec.model.candidates, library.candidates);
    cr_assert_eq(spec.model.selection_metric, library.selection_metric);
    cr_assert_eq(spec.model.xgb_min_history, library.xgb_min_history);
    cr_assert_eq(spec.n_feature_columns, 0);
    cr_assert_eq(spec.model.features.known_in_advance, 0u);
    cr_assert(spec.serve_fallback);
    cr_assert(spec.retrain.on_end_of_load);
    cr_assert_eq(spec.retrain.min_new_rows, 0);
    cr_assert_not(spec.promotion.has_threshold);
    cr_assert(spec.promotion.require_beats_baseline);
    mm_spec_clear(&spec);
}

/* A minimal forecast spec at @p freq; the caller clears @p spec. */
static void load_minimal_at(const char *freq, mm_spec_t *spec) {
    char text[512];
    snprintf(text, sizeof(text),
             "{\"name\":\"d\",\"task\":\"forecast\",\"key\":[\"k\"],"
             "\"time\":{\"column\":\"t\",\"frequency\":\"%s\"},"
             "\"target\":{\"column\":\"y\"}}",
             freq);
    char errstr[512] = "";
    cr_assert_eq(mm_spec_parse(text, strlen(text), "m.json", spec, errstr, sizeof(errstr)), MM_OK,
                 "%s: %s", freq, errstr);
}

Test(spec, every_frequency_has_defaults_the_model_library_accepts) {
    static const char *const freqs[] = {"hour", "day", "week", "month"};
    static const int seasons[] = {24, 7, 52, 12};
    for (size_t i = 0; i < MM_ARRAY_SIZE(freqs); i++) {
        mm_spec_t spec;
        load_minimal_at(freqs[i], &spec);
        cr_assert_eq(spec.model.season_length, seasons[i], "%s", freqs[i]);
        cr_assert_eq(spec.model.period_ms, mm_freq_period_ms(spec.freq), "%s", freqs[i]);
        cr_assert_eq(spec.model.horizon, spec.model.holdout,
                     "%s: the backtest measures the delivered horizon", freqs[i]);
        cr_assert_geq(spec.model.backtest_windows, 2, "%s", freqs[i]);
        mm_model_config_t built;
        mm_spec_model_defaults(&built, MM_TASK_FORECAST, spec.freq);
        cr_assert_eq(memcmp(&built, &spec.model, sizeof(built)), 0,
                     "%s: an empty spec is exactly the frequency's defaults", freqs[i]);
        char errstr[256] = "";
        cr_assert_eq(mm_model_config_validate(&built, errstr, sizeof(errstr)), MM_OK, "%s: %s",
                     freqs[i], errstr);
        mm_spec_clear(&spec);
    }
}

Test(spec, weekly_defaults_backtest_two_years_of_history) {
    mm_spec_t spec;
    load_minimal_at("week", &spec);
    const int two_years = 104;
    const mm_model_config_t *mc = &spec.model;
    cr_assert_eq(mc->features.lags[mc->features.n_lags - 1], 52, "a lag of one year");
    cr_assert_leq(mc->min_history, two_years / 2, "half the data is enough to select");
    cr_assert_leq(mc->backtest_windows * mc->holdout + mc->season_length, two_years,
                  "every window leaves a year to train on");
    mm_spec_clear(&spec);
}

Test(spec, daily_defaults_keep_the_model_library_lags) {
    mm_spec_t spec;
    load_minimal_at("day", &spec);
    mm_model_config_t library;
    mm_model_config_defaults(&library, MM_TASK_FORECAST);
    cr_assert_eq(spec.model.features.n_lags, library.features.n_lags);
    cr_assert_eq(
        memcmp(spec.model.features.lags, library.features.lags, sizeof(library.features.lags)), 0);
    cr_assert_eq(spec.model.holdout, 28);
    cr_assert_eq(spec.model.min_history, 98);
    mm_spec_clear(&spec);
}

Test(spec, present_fields_override_the_frequency_defaults) {
    static const char text[] =
        "{\"name\":\"d\",\"task\":\"forecast\",\"key\":[\"k\"],"
        "\"time\":{\"column\":\"t\",\"frequency\":\"week\"},\"target\":{\"column\":\"y\"},"
        "\"holdout\":4,\"min_history\":40,\"features\":{\"lags\":[1]}}";
    mm_spec_t spec;
    char errstr[512] = "";
    cr_assert_eq(mm_spec_parse(text, strlen(text), "w.json", &spec, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    cr_assert_eq(spec.model.holdout, 4);
    cr_assert_eq(spec.model.min_history, 40);
    cr_assert_eq(spec.model.features.n_lags, 1);
    cr_assert_eq(spec.model.horizon, 13, "the omitted horizon keeps the weekly default");
    cr_assert_eq(spec.model.season_length, 52);
    mm_spec_clear(&spec);
}

Test(spec, known_in_advance_sets_the_bits_of_its_exogenous_columns) {
    static const char text[] =
        "{\"name\":\"d\",\"task\":\"forecast\",\"key\":[\"k\"],"
        "\"time\":{\"column\":\"t\",\"frequency\":\"day\"},\"target\":{\"column\":\"y\"},"
        "\"features\":{\"exogenous\":[\"temp\",\"price\",\"promo\"],"
        "\"known_in_advance\":[\"promo\",\"price\"]}}";
    mm_spec_t spec;
    char errstr[512] = "";
    cr_assert_eq(mm_spec_parse(text, strlen(text), "k.json", &spec, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    cr_assert_eq(spec.model.features.known_in_advance, (1u << 1) | (1u << 2),
                 "temp is not planned; price and promo are");
    mm_spec_clear(&spec);
}

Test(spec, scoring_fallback_none_turns_serving_off) {
    static const char text[] =
        "{\"name\":\"d\",\"task\":\"forecast\",\"key\":[\"k\"],"
        "\"time\":{\"column\":\"t\",\"frequency\":\"day\"},\"target\":{\"column\":\"y\"},"
        "\"scoring\":{\"fallback\":\"none\"}}";
    mm_spec_t spec;
    char errstr[512] = "";
    cr_assert_eq(mm_spec_parse(text, strlen(text), "s.json", &spec, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    cr_assert_not(spec.serve_fallback);
    mm_spec_clear(&spec);
}

/* The effective configuration, without the members that only inform, loads as a spec. */
static void strip_informational(json_t *doc) {
    json_object_del(doc, "candidates");
    json_object_del(doc, "model_library");
    json_object_del(doc, "hash");
    json_object_del(json_object_get(doc, "time"), "period_ms");
    json_t *promotion = json_object_get(doc, "promotion");
    if (json_is_null(json_object_get(promotion, "threshold")))
        json_object_del(promotion, "threshold");
}

static void assert_effective_json_round_trips(const mm_spec_t *spec) {
    char *text = mm_spec_effective_json(spec);
    cr_assert_not_null(text);
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    cr_assert_not_null(doc, "%s: %s", jerr.text, text);
    strip_informational(doc);
    char *again = json_dumps(doc, JSON_COMPACT);
    mm_spec_t reloaded;
    char errstr[512] = "";
    cr_assert_eq(
        mm_spec_parse(again, strlen(again), "effective", &reloaded, errstr, sizeof(errstr)), MM_OK,
        "%s\n%s", errstr, text);
    cr_assert_eq(memcmp(&reloaded.model, &spec->model, sizeof(spec->model)), 0,
                 "the printed defaults are the ones in force:\n%s", text);
    cr_assert_eq(memcmp(&reloaded.retrain, &spec->retrain, sizeof(spec->retrain)), 0);
    cr_assert_eq(reloaded.promotion.metric, spec->promotion.metric);
    cr_assert_eq(reloaded.promotion.has_threshold, spec->promotion.has_threshold);
    cr_assert_eq(reloaded.serve_fallback, spec->serve_fallback);
    mm_spec_clear(&reloaded);
    free(again);
    json_decref(doc);
    free(text);
}

Test(spec, effective_json_writes_out_every_default_in_force) {
    mm_spec_t spec;
    load_minimal_at("week", &spec);
    char *text = mm_spec_effective_json(&spec);
    cr_assert_not_null(text);
    json_t *doc = json_loads(text, 0, NULL);
    cr_assert_not_null(doc);
    cr_assert_eq(json_integer_value(json_object_get(doc, "holdout")), 13, "%s", text);
    cr_assert_eq(json_integer_value(json_object_get(doc, "season_length")), 52);
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(doc, "scoring"), "fallback")), "serve");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "hash")), spec.hash);
    json_decref(doc);
    free(text);
    assert_effective_json_round_trips(&spec);
    mm_spec_clear(&spec);
}

Test(spec, effective_json_of_the_sample_specs_round_trips) {
    static const char *const files[] = {DATAGEN_SPECS "/sales.json",
                                        DATAGEN_SPECS "/maintenance.json",
                                        DATAGEN_SPECS "/maintenance_fleet.json",
                                        DATAGEN_SPECS "/maintenance_global.json",
                                        SPEC_FIXTURES "/valid/forecast_weekly_planned.json",
                                        SPEC_FIXTURES "/valid/global_key_entities.json"};
    for (size_t i = 0; i < MM_ARRAY_SIZE(files); i++) {
        mm_spec_t spec;
        char errstr[512] = "";
        cr_assert_eq(mm_spec_load_file(files[i], &spec, errstr, sizeof(errstr)), MM_OK, "%s",
                     errstr);
        assert_effective_json_round_trips(&spec);
        mm_spec_clear(&spec);
    }
}

Test(spec, hash_ignores_formatting_and_member_order) {
    static const char reordered[] =
        "{\n  \"target\": {\"column\": \"y\"},\n  \"time\": {\"frequency\": \"hour\", "
        "\"column\": \"t\"},\n  \"key\": [\"k\"],\n  \"task\": \"forecast\",\n  \"name\": "
        "\"d\"\n}\n";
    mm_spec_t a, b;
    char errstr[512];
    cr_assert_eq(mm_spec_parse(minimal, strlen(minimal), "a", &a, errstr, sizeof(errstr)), MM_OK);
    cr_assert_eq(mm_spec_parse(reordered, strlen(reordered), "b", &b, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_assert_str_eq(a.hash, b.hash);
    mm_spec_clear(&a);
    mm_spec_clear(&b);
}

Test(spec, hash_changes_with_any_value) {
    static const char other[] = "{\"name\":\"d\",\"task\":\"forecast\",\"key\":[\"k\"],"
                                "\"time\":{\"column\":\"t\",\"frequency\":\"hour\"},"
                                "\"target\":{\"column\":\"y\"},\"horizon\":12}";
    mm_spec_t a, b;
    char errstr[512];
    cr_assert_eq(mm_spec_parse(minimal, strlen(minimal), "a", &a, errstr, sizeof(errstr)), MM_OK);
    cr_assert_eq(mm_spec_parse(other, strlen(other), "b", &b, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    cr_assert_str_neq(a.hash, b.hash);
    cr_assert_eq(b.model.horizon, 12);
    mm_spec_clear(&a);
    mm_spec_clear(&b);
}

Test(spec, clear_accepts_null_and_cleared_spec) {
    mm_spec_clear(NULL);
    mm_spec_t spec;
    memset(&spec, 0, sizeof(spec));
    mm_spec_clear(&spec);
    mm_spec_clear(&spec);
    cr_assert_null(spec.name);
}

/* ------------------------------------------------------------ partition key */

static mm_spec_t two_key_spec(void) {
    static const char text[] = "{\"name\":\"d\",\"task\":\"forecast\",\"key\":[\"store\",\"item\"],"
                               "\"time\":{\"column\":\"date\",\"frequency\":\"day\","
                               "\"format\":\"%Y-%m-%d\"},\"target\":{\"column\":\"y\"}}";
    mm_spec_t spec;
    char errstr[512];
    cr_assert_eq(mm_spec_parse(text, strlen(text), "k", &spec, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    return spec;
}

Test(spec, partition_key_joins_columns_in_spec_order) {
    mm_spec_t spec = two_key_spec();
    const char *values[] = {"12", "345"};
    char key[128];
    cr_assert_eq(mm_spec_partition_key(&spec, values, NULL, key, sizeof(key)), MM_OK);
    cr_assert_str_eq(key, "store=12/item=345");
    mm_spec_clear(&spec);
}

Test(spec, partition_key_percent_encodes_reserved_bytes_uppercase) {
    mm_spec_t spec = two_key_spec();
    const char *values[] = {"New York/5", "a=b%c~d.e_f-g\xc3\xa9"};
    char key[256];
    cr_assert_eq(mm_spec_partition_key(&spec, values, NULL, key, sizeof(key)), MM_OK);
    cr_assert_str_eq(key, "store=New%20York%2F5/item=a%3Db%25c~d.e_f-g%C3%A9");
    mm_spec_clear(&spec);
}

Test(spec, partition_key_uses_given_lengths_not_nul) {
    mm_spec_t spec = two_key_spec();
    const char *values[] = {"12xyz", "3\0004"};
    size_t lens[] = {2, 3};
    char key[128];
    cr_assert_eq(mm_spec_partition_key(&spec, values, lens, key, sizeof(key)), MM_OK);
    cr_assert_str_eq(key, "store=12/item=3%004");
    mm_spec_clear(&spec);
}

Test(spec, partition_key_rejects_empty_value) {
    mm_spec_t spec = two_key_spec();
    const char *values[] = {"12", ""};
    char key[128];
    cr_assert_eq(mm_spec_partition_key(&spec, values, NULL, key, sizeof(key)), MM_ERR_INVALID_ARG);
    mm_spec_clear(&spec);
}

Test(spec, partition_key_reports_small_buffer) {
    mm_spec_t spec = two_key_spec();
    const char *values[] = {"12", "345"};
    char key[17]; /* "store=12/item=345" needs 18 */
    cr_assert_eq(mm_spec_partition_key(&spec, values, NULL, key, sizeof(key)), MM_ERR_NOMEM);
    char fits[18];
    cr_assert_eq(mm_spec_partition_key(&spec, values, NULL, fits, sizeof(fits)), MM_OK);
    const char *encoded[] = {"12", "3 5"}; /* the space needs 3 bytes */
    char tight[19];
    cr_assert_eq(mm_spec_partition_key(&spec, encoded, NULL, tight, sizeof(tight)), MM_ERR_NOMEM);
    mm_spec_clear(&spec);
}

/* ------------------------------------------------------------ cells through the spec */

Test(spec, parse_time_applies_the_spec_format_and_cells_keep_their_meaning) {
    const char *text = "{\"name\":\"d\",\"task\":\"forecast\",\"key\":[\"k\"],\"time\":{"
                       "\"column\":\"t\",\"frequency\":\"day\",\"format\":\"%d/%m/%Y\"},"
                       "\"target\":{\"column\":\"y\"}}";
    mm_spec_t spec;
    char errstr[512];
    cr_assert_eq(mm_spec_parse(text, strlen(text), "t", &spec, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    cr_assert_eq(spec.time_kind, MM_TIME_STRPTIME);
    int64_t ms = 0;
    cr_assert(mm_spec_parse_time(&spec, "02/01/2024", 10, &ms));
    cr_assert_eq(ms, 1704153600000LL);
    cr_assert_not(mm_spec_parse_time(&spec, "2024-01-02", 10, &ms));
    double v = 0;
    cr_assert(mm_spec_parse_number("2.5", 3, &v));
    cr_assert_float_eq(v, 2.5, 0);
    cr_assert_eq(mm_spec_event_value("comp2", 5), 1.0);
    mm_spec_clear(&spec);
}

Test(spec, time_format_without_a_conversion_is_rejected) {
    const char *text = "{\"name\":\"d\",\"task\":\"forecast\",\"key\":[\"k\"],\"time\":{"
                       "\"column\":\"t\",\"frequency\":\"day\",\"format\":\"YYYY-MM-DD\"},"
                       "\"target\":{\"column\":\"y\"}}";
    mm_spec_t spec;
    char errstr[512];
    cr_assert_eq(mm_spec_parse(text, strlen(text), "t", &spec, errstr, sizeof(errstr)),
                 MM_ERR_CONFIG);
    cr_assert(strstr(errstr, "time.format"), "%s", errstr);
}

Test(spec, frequency_names_and_periods) {
    mm_freq_t f;
    cr_assert(mm_freq_parse("daily", &f));
    cr_assert_eq(f, MM_FREQ_DAY);
    cr_assert(mm_freq_parse("hour", &f));
    cr_assert_eq(f, MM_FREQ_HOUR);
    cr_assert_not(mm_freq_parse("minute", &f));
    cr_assert_eq(mm_freq_period_ms(MM_FREQ_WEEK), 7 * 86400000LL);
    cr_assert_eq(mm_freq_period_ms(MM_FREQ_MONTH), 2629800000LL);
    cr_assert_str_eq(mm_freq_name(MM_FREQ_MONTH), "month");
}

/* ------------------------------------------------------------ entities */

static mm_err_t parse_text(const char *text, mm_spec_t *spec, char *errstr, size_t errstr_size) {
    return mm_spec_parse(text, strlen(text), "e.json", spec, errstr, errstr_size);
}

Test(spec, entity_columns_are_loaded_and_make_canonical_entities) {
    static const char text[] =
        "{\"name\":\"d\",\"task\":\"forecast\",\"key\":[\"model\"],\"entity\":[\"machine\"],"
        "\"time\":{\"column\":\"t\",\"frequency\":\"day\"},\"target\":{\"column\":\"y\"}}";
    mm_spec_t spec;
    char errstr[512] = "";
    cr_assert_eq(parse_text(text, &spec, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(spec.n_entity_columns, 1);
    cr_assert_str_eq(spec.entity_columns[0], "machine");
    const char *values[] = {"m 7"};
    char entity[64];
    cr_assert_eq(mm_spec_entity_key(&spec, values, NULL, entity, sizeof(entity)), MM_OK);
    cr_assert_str_eq(entity, "machine=m%207");
    const char *empty[] = {""};
    cr_assert_eq(mm_spec_entity_key(&spec, empty, NULL, entity, sizeof(entity)), MM_ERR_INVALID_ARG,
                 "an empty entity cell is a missing entity");
    char *json = mm_spec_effective_json(&spec);
    cr_assert_not_null(json);
    cr_assert_not_null(strstr(json, "\"entity\": [\n    \"machine\"\n  ]"), "%s", json);
    free(json);
    mm_spec_clear(&spec);
}

Test(spec, an_empty_key_list_is_one_global_key) {
    static const char text[] =
        "{\"name\":\"d\",\"task\":\"classify\",\"key\":[],\"entity\":[\"machine\"],"
        "\"time\":{\"column\":\"t\",\"frequency\":\"hour\"},"
        "\"target\":{\"event_column\":\"failure\",\"lookahead\":24},"
        "\"features\":{\"exogenous\":[\"volt\"]}}";
    mm_spec_t spec;
    char errstr[512] = "";
    cr_assert_eq(parse_text(text, &spec, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(spec.n_key_columns, 0);
    char key[32];
    cr_assert_eq(mm_spec_partition_key(&spec, NULL, NULL, key, sizeof(key)), MM_OK);
    cr_assert_str_eq(key, MM_SPEC_GLOBAL_KEY);
    char tiny[3];
    cr_assert_eq(mm_spec_partition_key(&spec, NULL, NULL, tiny, sizeof(tiny)), MM_ERR_NOMEM);
    mm_spec_clear(&spec);
}

Test(spec, a_spec_without_entity_has_rows_without_one) {
    mm_spec_t spec;
    char errstr[512] = "";
    cr_assert_eq(parse_text(minimal, &spec, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(spec.n_entity_columns, 0);
    char entity[8] = "x";
    cr_assert_eq(mm_spec_entity_key(&spec, NULL, NULL, entity, sizeof(entity)), MM_OK);
    cr_assert_str_eq(entity, "");
    mm_spec_clear(&spec);
}

Test(spec, bad_entity_lists_name_the_field) {
    static const struct {
        const char *entity;
        const char *why;
    } cases[] = {
        {"\"machine\"", "e.json: entity: must be a list of 0 to 8 column names"},
        {"[\"k\"]", "entity[0]"},
        {"[\"y\"]", "entity[0]"},
        {"[\"a\",\"a\"]", "entity[1]"},
        {"[1]", "entity[0]"},
    };
    for (size_t i = 0; i < MM_ARRAY_SIZE(cases); i++) {
        char text[512];
        snprintf(text, sizeof(text),
                 "{\"name\":\"d\",\"task\":\"forecast\",\"key\":[\"k\"],\"entity\":%s,"
                 "\"time\":{\"column\":\"t\",\"frequency\":\"day\"},\"target\":{\"column\":\"y\"}}",
                 cases[i].entity);
        mm_spec_t spec;
        char errstr[512] = "";
        cr_assert_eq(parse_text(text, &spec, errstr, sizeof(errstr)), MM_ERR_CONFIG, "%s",
                     cases[i].entity);
        cr_assert_not_null(strstr(errstr, cases[i].why), "%s: %s", cases[i].entity, errstr);
        cr_assert_null(spec.name);
    }
    mm_spec_t spec;
    char errstr[512] = "";
    static const char nine[] =
        "{\"name\":\"d\",\"task\":\"forecast\",\"key\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\","
        "\"h\",\"i\"],\"time\":{\"column\":\"t\",\"frequency\":\"day\"},\"target\":{\"column\":"
        "\"y\"}}";
    cr_assert_eq(parse_text(nine, &spec, errstr, sizeof(errstr)), MM_ERR_CONFIG);
    cr_assert_not_null(strstr(errstr, "key: must be a list of 0 to 8"), "%s", errstr);
}
