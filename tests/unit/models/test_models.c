/*
 * test_models.c - the model library through its public API (mm/model.h):
 * configuration, names, metrics (against scikit-learn golden values),
 * training with backtest selection and fallback, artifacts, forecasting.
 */
#include <math.h>
#include <string.h>

#include <criterion/criterion.h>

#include "golden.h"
#include "models_int.h"
#include "testdata.h"

/* ------------------------------------------------------------ config and names */

Test(model_config, defaults_are_valid_for_both_tasks) {
    mm_model_config_t cfg;
    char errstr[256];
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cr_assert_eq(mm_model_config_validate(&cfg, errstr, sizeof errstr), MM_OK, "%s", errstr);
    cr_assert_eq(cfg.fallback, MM_ALGO_SNAIVE);
    cr_assert_eq(cfg.selection_metric, MM_METRIC_MASE);
    mm_model_config_defaults(&cfg, MM_TASK_CLASSIFY);
    cfg.features.n_exog = 2;
    cr_assert_eq(mm_model_config_validate(&cfg, errstr, sizeof errstr), MM_OK, "%s", errstr);
}

Test(model_config, invalid_field_is_named_in_the_error) {
    mm_model_config_t cfg;
    char errstr[256];
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cfg.horizon = 0;
    cr_assert_eq(mm_model_config_validate(&cfg, errstr, sizeof errstr), MM_ERR_CONFIG);
    cr_assert(strstr(errstr, "horizon") != NULL, "%s", errstr);

    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cfg.selection_metric = MM_METRIC_AUC;
    cr_assert_eq(mm_model_config_validate(&cfg, errstr, sizeof errstr), MM_ERR_CONFIG);
    cr_assert(strstr(errstr, "selection_metric") != NULL, "%s", errstr);

    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cfg.candidates |= 1u << MM_ALGO_LOGISTIC;
    cr_assert_eq(mm_model_config_validate(&cfg, errstr, sizeof errstr), MM_ERR_CONFIG);
    cr_assert(strstr(errstr, "candidates") != NULL, "%s", errstr);

    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cfg.features.lags[0] = 0;
    cr_assert_eq(mm_model_config_validate(&cfg, errstr, sizeof errstr), MM_ERR_CONFIG);
    cr_assert(strstr(errstr, "features.lags") != NULL, "%s", errstr);

    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cfg.interval_level = 1.0;
    cr_assert_eq(mm_model_config_validate(&cfg, errstr, sizeof errstr), MM_ERR_CONFIG);
    cr_assert(strstr(errstr, "interval_level") != NULL, "%s", errstr);
}

Test(model_config, zero_tuning_fields_mean_defaults) {
    mm_model_config_t cfg;
    char errstr[256];
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cfg.ridge_lambda = 0;
    cfg.xgb_rounds = 0;
    cfg.ets_trend = 0;
    cr_assert_eq(mm_model_config_validate(&cfg, errstr, sizeof errstr), MM_OK, "%s", errstr);
}

Test(names, algorithm_names_round_trip) {
    for (int a = 0; a < MM_ALGO__COUNT; a++) {
        mm_algo_t back;
        cr_assert(mm_algo_parse(mm_algo_name((mm_algo_t)a), &back), "%d", a);
        cr_assert_eq(back, (mm_algo_t)a);
    }
    mm_algo_t x;
    cr_assert_not(mm_algo_parse("arima", &x));
    cr_assert_not(mm_algo_parse(NULL, &x));
    cr_assert_str_eq(mm_algo_name(MM_ALGO_ETS), "ets");
    cr_assert_str_eq(mm_algo_name((mm_algo_t)99), "unknown");
}

Test(names, metric_names_round_trip_and_direction) {
    for (int i = 0; i < MM_METRIC__COUNT; i++) {
        mm_metric_id_t back;
        cr_assert(mm_metric_parse(mm_metric_name((mm_metric_id_t)i), &back));
        cr_assert_eq(back, (mm_metric_id_t)i);
    }
    cr_assert_str_eq(mm_metric_name(MM_METRIC_SMAPE), "smape");
    cr_assert(mm_metric_higher_is_better(MM_METRIC_AUC));
    cr_assert(mm_metric_higher_is_better(MM_METRIC_F1));
    cr_assert_not(mm_metric_higher_is_better(MM_METRIC_MASE));
    cr_assert_not(mm_metric_higher_is_better(MM_METRIC_RMSE));
}

/* ------------------------------------------------------------ metrics */

Test(metrics, forecast_metrics_match_reference_values) {
    size_t n, ni;
    const double *a = golden("metrics.actual", &n);
    const double *p = golden("metrics.pred", NULL);
    const double *ins = golden("metrics.insample", &ni);
    const double *want = golden("metrics.forecast", NULL);
    mm_metrics_t m;
    mm_metrics_forecast(a, p, n, ins, ni, 7, &m);
    static const mm_metric_id_t ids[] = {MM_METRIC_RMSE, MM_METRIC_MAE, MM_METRIC_SMAPE,
                                         MM_METRIC_MASE, MM_METRIC_BIAS};
    for (size_t i = 0; i < 5; i++)
        cr_assert_float_eq(m.v[ids[i]], want[i], 1e-12, "%s: %.15g vs %.15g",
                           mm_metric_name(ids[i]), m.v[ids[i]], want[i]);
    cr_assert(isnan(m.v[MM_METRIC_AUC]), "classification metrics stay NaN");
}

Test(metrics, classification_metrics_match_scikit_learn) {
    size_t n;
    const double *lab = golden("metrics.label", &n);
    const double *score = golden("metrics.score", NULL);
    const double *want = golden("metrics.classify", NULL);
    mm_metrics_t m;
    mm_metrics_classify(lab, score, n, &m);
    static const mm_metric_id_t ids[] = {MM_METRIC_ACCURACY, MM_METRIC_PRECISION, MM_METRIC_RECALL,
                                         MM_METRIC_F1, MM_METRIC_AUC};
    for (size_t i = 0; i < 5; i++)
        cr_assert_float_eq(m.v[ids[i]], want[i], 1e-12, "%s: %.15g vs %.15g",
                           mm_metric_name(ids[i]), m.v[ids[i]], want[i]);
    cr_assert(isnan(m.v[MM_METRIC_RMSE]));
}

Test(metrics, mase_uses_lag_one_when_history_is_shorter_than_a_season) {
    double ins[5] = {1, 3, 2, 5, 4}; /* n = 5 <= m = 7: scale = mean |lag-1 diff| = 1.75 */
    double a[2] = {6, 6}, p[2] = {4, 4};
    mm_metrics_t m;
    mm_metrics_forecast(a, p, 2, ins, 5, 7, &m);
    cr_assert_float_eq(m.v[MM_METRIC_MASE], 2.0 / 1.75, 1e-12);
}

Test(metrics, gaps_in_actuals_are_skipped_and_zero_over_zero_is_perfect) {
    double a[4] = {NAN, 0, 2, 4}, p[4] = {100, 0, 2, 2};
    mm_metrics_t m;
    mm_metrics_forecast(a, p, 4, NULL, 0, 1, &m);
    cr_assert_float_eq(m.v[MM_METRIC_MAE], 2.0 / 3.0, 1e-12);
    cr_assert_float_eq(m.v[MM_METRIC_SMAPE], 100.0 * (2.0 * 2.0 / 6.0) / 3.0, 1e-12);
    cr_assert(isnan(m.v[MM_METRIC_MASE]), "no in-sample data, no MASE");
}

Test(metrics, auc_is_undefined_with_a_single_class) {
    double lab[3] = {1, 1, 1}, s[3] = {0.2, 0.7, 0.9};
    mm_metrics_t m;
    mm_metrics_classify(lab, s, 3, &m);
    cr_assert(isnan(m.v[MM_METRIC_AUC]));
    cr_assert_float_eq(m.v[MM_METRIC_RECALL], 2.0 / 3.0, 1e-12);
}

Test(metrics, normal_quantile_is_accurate) {
    cr_assert_float_eq(mm_models__interval_z(0.95), 1.959963984540054, 1e-13);
    cr_assert_float_eq(mm_models__interval_z(0.80), 1.2815515655446004, 1e-13);
    cr_assert_float_eq(mm_models__norm_ppf(0.001), -3.090232306167813, 1e-12);
}

/* ------------------------------------------------------------ training and forecasting */

static mm_model_config_t forecast_cfg(uint32_t candidates) {
    mm_model_config_t cfg;
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cfg.candidates = candidates;
    return cfg;
}

#define ONLY(a) ((1u << MM_ALGO_AUTO) | (1u << (a)))

static mm_model_t *load_ok(const mm_train_result_t *res) {
    mm_model_t *model = NULL;
    char errstr[256] = "";
    mm_err_t err = mm_model_load(res->artifact, res->artifact_len, &model, errstr, sizeof errstr);
    cr_assert_eq(err, MM_OK, "load: %s", errstr);
    return model;
}

Test(train, seasonal_series_beats_the_baseline_and_forecasts_with_intervals) {
    td_series_t ts;
    td_seasonal(&ts, 400, 7, 100, 0.1, 20, 2);
    mm_model_config_t cfg = forecast_cfg(ONLY(MM_ALGO_ETS) | (1u << MM_ALGO_SNAIVE));
    mm_train_result_t res;
    char errstr[256] = "";
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &res, errstr, sizeof errstr), MM_OK, "%s", errstr);
    cr_assert_not(res.fallback);
    cr_assert_eq(res.algorithm, MM_ALGO_ETS, "ETS should win on trend+season, got %s",
                 mm_algo_name(res.algorithm));
    cr_assert(res.metrics.v[MM_METRIC_MASE] < res.baseline.v[MM_METRIC_MASE]);
    cr_assert(isfinite(res.per_algo[MM_ALGO_SNAIVE].v[MM_METRIC_RMSE]));
    cr_assert(isnan(res.per_algo[MM_ALGO_RIDGE].v[MM_METRIC_RMSE]), "ridge was not a candidate");
    for (int i = MM_METRIC_RMSE; i <= MM_METRIC_BIAS; i++)
        cr_assert(isfinite(res.metrics.v[i]), "%s", mm_metric_name((mm_metric_id_t)i));
    cr_assert_eq(res.baseline.v[MM_METRIC_RMSE], res.per_algo[MM_ALGO_SNAIVE].v[MM_METRIC_RMSE]);

    mm_model_t *model = load_ok(&res);
    cr_assert_eq(mm_model_algorithm(model), MM_ALGO_ETS);
    cr_assert_eq(mm_model_task(model), MM_TASK_FORECAST);
    cr_assert_eq(mm_model_data_end_ms(model), ts.t[399]);
    cr_assert_eq(mm_model_config(model)->season_length, 7);
    cr_assert(mm_model_memory_size(model) > sizeof(double));

    mm_forecast_t fc;
    cr_assert_eq(mm_model_forecast(model, 28, NULL, &fc, errstr, sizeof errstr), MM_OK, "%s",
                 errstr);
    cr_assert_eq(fc.h, 28);
    cr_assert_float_eq(fc.level, 0.95, 1e-12);
    double abs_err = 0;
    for (size_t k = 0; k < 28; k++) {
        cr_assert_eq(fc.time_ms[k], ts.t[399] + (int64_t)(k + 1) * TD_DAY_MS);
        cr_assert(fc.lower[k] < fc.mean[k] && fc.mean[k] < fc.upper[k], "step %zu", k);
        double truth = 100 + 0.1 * (double)(400 + k) + 20 * sin(2 * M_PI * (double)(400 + k) / 7.0);
        abs_err += fabs(fc.mean[k] - truth);
    }
    cr_assert(abs_err / 28 < 4.0, "mean abs error vs noiseless truth %.3f", abs_err / 28);
    /* intervals widen with the horizon */
    cr_assert(fc.upper[27] - fc.lower[27] > fc.upper[0] - fc.lower[0]);
    mm_forecast_clear(&fc);
    mm_model_destroy(model);
    mm_train_result_clear(&res);
    td_free(&ts);
}

Test(train, same_input_gives_identical_artifact_bytes) {
    td_series_t ts;
    td_seasonal(&ts, 300, 11, 50, 0.05, 8, 3);
    mm_model_config_t cfg = forecast_cfg(1u << MM_ALGO_AUTO);
    mm_train_result_t a, b;
    char errstr[256] = "";
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &a, errstr, sizeof errstr), MM_OK, "%s", errstr);
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &b, errstr, sizeof errstr), MM_OK, "%s", errstr);
    cr_assert_eq(a.artifact_len, b.artifact_len);
    cr_assert(memcmp(a.artifact, b.artifact, a.artifact_len) == 0);
    mm_train_result_clear(&a);
    mm_train_result_clear(&b);
    td_free(&ts);
}

Test(train, short_history_gets_the_declared_fallback_with_a_reason) {
    td_series_t ts;
    td_seasonal(&ts, 30, 3, 10, 0, 2, 0.5);
    mm_model_config_t cfg = forecast_cfg(1u << MM_ALGO_AUTO);
    mm_train_result_t res;
    char errstr[256] = "";
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &res, errstr, sizeof errstr), MM_OK, "%s", errstr);
    cr_assert(res.fallback);
    cr_assert_eq(res.algorithm, MM_ALGO_SNAIVE);
    cr_assert(strstr(res.fallback_reason, "min_history") != NULL, "%s", res.fallback_reason);
    cr_assert(isnan(res.metrics.v[MM_METRIC_MASE]), "no backtest, no metrics");
    mm_model_t *model = load_ok(&res);
    mm_forecast_t fc;
    cr_assert_eq(mm_model_forecast(model, 14, NULL, &fc, errstr, sizeof errstr), MM_OK);
    /* seasonal naive repeats the last week */
    for (size_t k = 0; k < 14; k++) cr_assert_eq(fc.mean[k], ts.y[30 - 7 + (k % 7)], "step %zu", k);
    mm_forecast_clear(&fc);
    mm_model_destroy(model);
    mm_train_result_clear(&res);
    td_free(&ts);
}

Test(train, history_too_short_for_one_backtest_window_falls_back) {
    td_series_t ts;
    td_seasonal(&ts, 30, 3, 10, 0, 2, 0.5); /* below one window of 28 and 8 points */
    mm_model_config_t cfg = forecast_cfg(1u << MM_ALGO_AUTO);
    cfg.min_history = 10;
    mm_train_result_t res;
    char errstr[256] = "";
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &res, errstr, sizeof errstr), MM_OK, "%s", errstr);
    cr_assert(res.fallback);
    cr_assert(strstr(res.fallback_reason, "backtest") != NULL, "%s", res.fallback_reason);
    mm_train_result_clear(&res);
    td_free(&ts);
}

/* 60 points, the daily 3 windows of 28 asked: the windows take at most half
 * the history, so one window, and the key gets a backtested model. */
Test(train, history_short_for_the_backtest_windows_backtests_fewer) {
    td_series_t ts;
    td_seasonal(&ts, 60, 3, 10, 0, 2, 0.5);
    mm_model_config_t cfg = forecast_cfg(1u << MM_ALGO_AUTO);
    cfg.min_history = 10;
    cfg.backtest_fits = 2;
    mm_train_result_t res;
    char errstr[256] = "";
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &res, errstr, sizeof errstr), MM_OK, "%s", errstr);
    cr_assert_not(res.fallback, "%s", res.fallback_reason);
    cr_assert(strstr(res.adjustments, "backtest_windows 3 -> 1") != NULL, "%s", res.adjustments);
    mm_model_t *model = load_ok(&res);
    cr_assert_eq(model->cfg.backtest_windows, 1);
    cr_assert_eq(model->cfg.backtest_fits, 0, "the one window is fitted");
    mm_model_destroy(model);
    mm_train_result_clear(&res);
    td_free(&ts);
}

/* A one-point holdout: half of 10 points would hold 5 windows, but the
 * first window must still train on 8 points: 2 windows. */
Test(train, fewer_windows_still_leave_the_first_its_training_points) {
    td_series_t ts;
    td_seasonal(&ts, 10, 3, 10, 0, 2, 0.5);
    mm_model_config_t cfg = forecast_cfg(ONLY(MM_ALGO_SNAIVE) | (1u << MM_ALGO_ETS));
    cfg.min_history = 10;
    cfg.holdout = 1;
    cfg.horizon = 1;
    cfg.backtest_windows = 6;
    cfg.season_length = 1;
    mm_train_result_t res;
    char errstr[256] = "";
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &res, errstr, sizeof errstr), MM_OK, "%s", errstr);
    cr_assert(strstr(res.adjustments, "backtest_windows 6 -> 2") != NULL, "%s", res.adjustments);
    mm_train_result_clear(&res);
    td_free(&ts);
}

Test(train, single_point_forecasts_that_point_and_empty_series_is_insufficient) {
    td_series_t ts;
    td_alloc(&ts, 1, 0);
    ts.y[0] = 5;
    mm_model_config_t cfg = forecast_cfg(1u << MM_ALGO_AUTO);
    mm_train_result_t res;
    char errstr[256] = "";
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &res, errstr, sizeof errstr), MM_OK, "%s", errstr);
    cr_assert(res.fallback);
    mm_model_t *model = load_ok(&res);
    mm_forecast_t fc;
    cr_assert_eq(mm_model_forecast(model, 3, NULL, &fc, errstr, sizeof errstr), MM_OK);
    cr_assert_eq(fc.mean[2], 5.0);
    mm_forecast_clear(&fc);
    mm_model_destroy(model);
    mm_train_result_clear(&res);

    ts.s.n = 0;
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &res, errstr, sizeof errstr),
                 MM_ERR_INSUFFICIENT_DATA);
    ts.s.n = 1;
    ts.y[0] = NAN;
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &res, errstr, sizeof errstr),
                 MM_ERR_INSUFFICIENT_DATA);
    td_free(&ts);
}

Test(train, gaps_in_the_target_are_tolerated) {
    td_series_t ts;
    td_seasonal(&ts, 300, 5, 100, 0, 15, 2);
    for (size_t i = 50; i < 300; i += 37) ts.y[i] = NAN;
    ts.y[299] = NAN; /* even the last point */
    mm_model_config_t cfg = forecast_cfg(1u << MM_ALGO_AUTO);
    mm_train_result_t res;
    char errstr[256] = "";
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &res, errstr, sizeof errstr), MM_OK, "%s", errstr);
    cr_assert_not(res.fallback, "%s", res.fallback_reason);
    cr_assert(isfinite(res.metrics.v[MM_METRIC_MASE]));
    mm_model_t *model = load_ok(&res);
    mm_forecast_t fc;
    cr_assert_eq(mm_model_forecast(model, 7, NULL, &fc, errstr, sizeof errstr), MM_OK, "%s",
                 errstr);
    for (size_t k = 0; k < 7; k++)
        cr_assert(isfinite(fc.mean[k]) && isfinite(fc.lower[k]) && isfinite(fc.upper[k]));
    mm_forecast_clear(&fc);
    mm_model_destroy(model);
    mm_train_result_clear(&res);
    td_free(&ts);
}

Test(train, unsorted_times_and_mismatched_exogenous_are_refused) {
    td_series_t ts;
    td_seasonal(&ts, 50, 5, 100, 0, 15, 2);
    ts.t[10] = ts.t[9];
    mm_model_config_t cfg = forecast_cfg(1u << MM_ALGO_AUTO);
    mm_train_result_t res;
    char errstr[256] = "";
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &res, errstr, sizeof errstr), MM_ERR_INVALID_ARG);
    cr_assert(strstr(errstr, "index 10") != NULL, "%s", errstr);
    ts.t[10] = ts.t[9] + TD_DAY_MS;
    cfg.features.n_exog = 2;
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &res, errstr, sizeof errstr), MM_ERR_INVALID_ARG);
    td_free(&ts);
}

/* ------------------------------------------------------------ artifacts */

static mm_train_result_t trained_ets(void) {
    td_series_t ts;
    td_seasonal(&ts, 250, 21, 80, 0.2, 10, 2);
    mm_model_config_t cfg = forecast_cfg(ONLY(MM_ALGO_ETS));
    mm_train_result_t res;
    char errstr[256] = "";
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &res, errstr, sizeof errstr), MM_OK, "%s", errstr);
    td_free(&ts);
    return res;
}

Test(artifact, round_trip_is_byte_exact) {
    mm_train_result_t res = trained_ets();
    mm_model_t *model = load_ok(&res);
    uint8_t *again;
    size_t len;
    char errstr[256] = "";
    cr_assert_eq(mm_models__serialize(model, &again, &len, errstr, sizeof errstr), MM_OK);
    cr_assert_eq(len, res.artifact_len);
    cr_assert(memcmp(again, res.artifact, len) == 0);
    free(again);
    mm_model_destroy(model);
    mm_train_result_clear(&res);
}

Test(artifact, artifact_is_compact) {
    mm_train_result_t res = trained_ets();
    cr_assert(res.artifact_len < 4096, "%zu bytes", res.artifact_len);
    cr_assert(memcmp(res.artifact, "MMMODEL", 8) == 0);
    mm_train_result_clear(&res);
}

static void patch_crc(uint8_t *a, size_t len) {
    uint32_t crc = mm_models__crc32(a, len - 4);
    for (int i = 0; i < 4; i++) a[len - 4 + (size_t)i] = (uint8_t)(crc >> (8 * i));
}

Test(artifact, newer_format_version_is_unsupported_with_a_clear_message) {
    mm_train_result_t res = trained_ets();
    res.artifact[8] = MM_ARTIFACT_FORMAT + 1;
    res.artifact[9] = 0;
    patch_crc(res.artifact, res.artifact_len);
    mm_model_t *model = NULL;
    char errstr[256] = "";
    cr_assert_eq(mm_model_load(res.artifact, res.artifact_len, &model, errstr, sizeof errstr),
                 MM_ERR_UNSUPPORTED);
    cr_assert_null(model);
    cr_assert(strstr(errstr, "format version 2") != NULL, "%s", errstr);
    mm_train_result_clear(&res);
}

Test(artifact, unknown_algorithm_is_unsupported) {
    mm_train_result_t res = trained_ets();
    res.artifact[10] = 77;
    patch_crc(res.artifact, res.artifact_len);
    mm_model_t *model = NULL;
    char errstr[256] = "";
    cr_assert_eq(mm_model_load(res.artifact, res.artifact_len, &model, errstr, sizeof errstr),
                 MM_ERR_UNSUPPORTED);
    cr_assert(strstr(errstr, "algorithm id 77") != NULL, "%s", errstr);
    mm_train_result_clear(&res);
}

Test(artifact, every_truncation_is_a_parse_error) {
    mm_train_result_t res = trained_ets();
    char errstr[256] = "";
    for (size_t len = 0; len < res.artifact_len; len++) {
        mm_model_t *model = NULL;
        mm_err_t err = mm_model_load(res.artifact, len, &model, errstr, sizeof errstr);
        cr_assert_eq(err, MM_ERR_PARSE, "length %zu: %s", len, errstr);
        cr_assert_null(model);
    }
    mm_train_result_clear(&res);
}

Test(artifact, flipped_byte_is_detected_as_corrupt) {
    mm_train_result_t res = trained_ets();
    char errstr[256] = "";
    for (size_t i = 16; i < res.artifact_len; i += 7) {
        res.artifact[i] ^= 0x40;
        mm_model_t *model = NULL;
        cr_assert_eq(mm_model_load(res.artifact, res.artifact_len, &model, errstr, sizeof errstr),
                     MM_ERR_PARSE, "byte %zu", i);
        res.artifact[i] ^= 0x40;
    }
    mm_train_result_clear(&res);
}

Test(artifact, bad_magic_is_a_parse_error) {
    mm_train_result_t res = trained_ets();
    res.artifact[0] = 'X';
    mm_model_t *model = NULL;
    char errstr[256] = "";
    cr_assert_eq(mm_model_load(res.artifact, res.artifact_len, &model, errstr, sizeof errstr),
                 MM_ERR_PARSE);
    cr_assert(strstr(errstr, "magic") != NULL, "%s", errstr);
    mm_train_result_clear(&res);
}

Test(artifact, inconsistent_lengths_with_a_valid_crc_are_parse_errors) {
    mm_train_result_t res = trained_ets();
    char errstr[256] = "";
    /* The first section header follows the 16-byte header: make its length
     * huge and re-seal the CRC, as a forged or buggy writer would. */
    uint8_t *copy = malloc(res.artifact_len);
    memcpy(copy, res.artifact, res.artifact_len);
    copy[18] = 0xff, copy[19] = 0xff, copy[20] = 0xff, copy[21] = 0x7f;
    patch_crc(copy, res.artifact_len);
    mm_model_t *model = NULL;
    cr_assert_eq(mm_model_load(copy, res.artifact_len, &model, errstr, sizeof errstr),
                 MM_ERR_PARSE);
    free(copy);
    mm_train_result_clear(&res);
}

Test(forecast, classification_model_or_bad_horizon_is_refused) {
    mm_train_result_t res = trained_ets();
    mm_model_t *model = load_ok(&res);
    mm_forecast_t fc;
    char errstr[256] = "";
    cr_assert_eq(mm_model_forecast(model, 0, NULL, &fc, errstr, sizeof errstr), MM_ERR_INVALID_ARG);
    cr_assert_eq(mm_model_forecast(model, 1000001, NULL, &fc, errstr, sizeof errstr),
                 MM_ERR_INVALID_ARG);
    mm_model_destroy(model);
    mm_model_destroy(NULL);
    mm_train_result_clear(&res);
}

/* ------------------------------------------------------------ form choice and intervals */

static mm_ets_t *ets_state_of(const mm_train_result_t *res, mm_model_t **model) {
    char errstr[256] = "";
    cr_assert_eq(mm_model_load(res->artifact, res->artifact_len, model, errstr, sizeof errstr),
                 MM_OK, "%s", errstr);
    cr_assert_eq(mm_model_algorithm(*model), MM_ALGO_ETS);
    return (*model)->state;
}

Test(ets_auto, aicc_picks_a_seasonal_form_for_seasonal_data_and_none_for_a_random_walk) {
    mm_model_config_t cfg = forecast_cfg(ONLY(MM_ALGO_ETS));
    char errstr[256] = "";
    td_series_t ts;
    td_seasonal(&ts, 300, 17, 100, 0, 12, 2);
    mm_train_result_t res;
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &res, errstr, sizeof errstr), MM_OK, "%s", errstr);
    mm_model_t *model;
    mm_ets_t *e = ets_state_of(&res, &model);
    cr_assert_neq(e->season, MM_ETS_S_NONE, "weekly pattern of amplitude 12 over noise 2");
    mm_model_destroy(model);
    mm_train_result_clear(&res);

    td_rng_t r = {5};
    double level = 50;
    for (size_t i = 0; i < ts.n; i++) {
        level += td_norm(&r);
        ts.y[i] = level;
    }
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &res, errstr, sizeof errstr), MM_OK, "%s", errstr);
    e = ets_state_of(&res, &model);
    cr_assert_eq(e->season, MM_ETS_S_NONE, "a random walk has no season (got form %d/%d)", e->trend,
                 e->season);
    mm_model_destroy(model);
    mm_train_result_clear(&res);
    td_free(&ts);
}

/* Simulate many series from a known process, forecast the continuation, and
 * count how often the 90% interval holds the truth. */
static double coverage(mm_algo_t algo, int ets_season) {
    size_t hits = 0, total = 0;
    for (uint64_t seed = 1; seed <= 30; seed++) {
        td_series_t ts;
        td_alloc(&ts, 314, 0);
        td_rng_t r = {seed * 7919};
        double level = 100;
        for (size_t i = 0; i < 314; i++) {
            level += 0.5 * td_norm(&r);
            ts.y[i] = level + 6 * sin(2 * M_PI * (double)i / 7.0) + 1.5 * td_norm(&r);
        }
        ts.s.n = 300;
        mm_model_config_t cfg = forecast_cfg(ONLY(algo));
        cfg.interval_level = 0.9;
        cfg.holdout = 14;
        cfg.backtest_windows = 6;
        cfg.ets_season = ets_season;
        mm_train_result_t res;
        char errstr[256] = "";
        cr_assert_eq(mm_model_train(&cfg, &ts.s, &res, errstr, sizeof errstr), MM_OK, "%s", errstr);
        mm_model_t *model = NULL;
        cr_assert_eq(mm_model_load(res.artifact, res.artifact_len, &model, errstr, sizeof errstr),
                     MM_OK);
        mm_forecast_t fc;
        cr_assert_eq(mm_model_forecast(model, 14, NULL, &fc, errstr, sizeof errstr), MM_OK);
        for (size_t k = 0; k < 14; k++) {
            double truth = ts.y[300 + k];
            hits += truth >= fc.lower[k] && truth <= fc.upper[k];
            total++;
        }
        mm_forecast_clear(&fc);
        mm_model_destroy(model);
        mm_train_result_clear(&res);
        td_free(&ts);
    }
    return (double)hits / (double)total;
}

Test(intervals, analytic_ets_intervals_cover_near_their_level) {
    double c = coverage(MM_ALGO_ETS, MM_ETS_SEASON_ADD);
    cr_log_info("ets 90%% interval coverage %.3f", c);
    cr_assert(c > 0.82 && c < 0.97, "90%% intervals covered %.3f", c);
}

Test(intervals, backtest_residual_intervals_cover_near_their_level) {
    double c = coverage(MM_ALGO_RIDGE, 0);
    cr_log_info("ridge 90%% interval coverage %.3f", c);
    cr_assert(c > 0.78 && c < 0.98, "90%% intervals covered %.3f", c);
}

Test(artifact, checksum_is_standard_crc32) {
    /* the check value of CRC-32/IEEE (zlib, PNG) */
    cr_assert_eq(mm_models__crc32("123456789", 9), 0xCBF43926u);
}
