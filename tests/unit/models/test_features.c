/*
 * test_features.c - the shared feature code path (calendar, labels), the
 * regression forecasters with exogenous columns, and classification end to
 * end through the public API.
 */
#include <math.h>
#include <string.h>

#include <criterion/criterion.h>

#include "models_int.h"
#include "testdata.h"

/* ------------------------------------------------------------ calendar and labels */

static void check_civil(int64_t ms, int y, int mo, int d, int dow, int week, int hour) {
    mm_models__civil_t cv;
    mm_models__civil_from_ms(ms, &cv);
    cr_assert(cv.year == y && cv.month == mo && cv.day == d, "%lld: %d-%d-%d", (long long)ms,
              cv.year, cv.month, cv.day);
    cr_assert_eq(cv.dow, dow, "%lld: dow %d", (long long)ms, cv.dow);
    cr_assert_eq(cv.iso_week, week, "%lld: week %d", (long long)ms, cv.iso_week);
    cr_assert_eq(cv.hour, hour);
}

Test(features, calendar_matches_iso_8601_including_year_boundaries) {
    check_civil(INT64_C(1709211600000), 2024, 2, 29, 3, 9, 13); /* leap day, Thursday */
    check_civil(INT64_C(1609632000000), 2021, 1, 3, 6, 53, 0);  /* Sunday in 2020-W53 */
    check_civil(INT64_C(1735516800000), 2024, 12, 30, 0, 1, 0); /* Monday in 2025-W01 */
    check_civil(INT64_C(1609372800000), 2020, 12, 31, 3, 53, 0);
    check_civil(INT64_C(-3600000), 1969, 12, 31, 2, 1, 23); /* before the epoch */
}

Test(features, event_labels_look_ahead_and_unknown_tail_is_nan) {
    double y[12] = {0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0}, lab[12];
    mm_models__labels(y, 12, 12, 3, lab);
    static const double want[9] = {0, 0, 1, 1, 1, 0, 0, 0, 0};
    for (size_t i = 0; i < 9; i++) cr_assert_eq(lab[i], want[i], "row %zu: %g", i, lab[i]);
    for (size_t i = 9; i < 12; i++)
        cr_assert(isnan(lab[i]), "row %zu: window runs past the data", i);
    /* as known at a cut at 5: the event at 5 is not visible yet */
    mm_models__labels(y, 12, 5, 3, lab);
    cr_assert_eq(lab[1], 0);
    cr_assert(isnan(lab[2]) && isnan(lab[4]), "purged: their windows reach the cut");
}

Test(features, rolling_window_aggregates_use_available_rows) {
    mm_model_config_t cfg;
    mm_model_config_defaults(&cfg, MM_TASK_CLASSIFY);
    cfg.features.n_windows = 1;
    cfg.features.windows[0] = 3;
    cfg.features.calendar = false;
    double col[4] = {1, 2, NAN, 6};
    const double *ex[1] = {col};
    int64_t t[4] = {0, 3600000, 7200000, 10800000};
    mm_models__layout_t lay;
    mm_models__layout_init(&cfg, 1, &lay);
    cr_assert_eq(lay.width, 1 + 4);
    double X[20];
    mm_models__classify_rows(&cfg, &lay, 4, t, ex, X);
    /* row 0: one value */
    cr_assert_eq(X[1], 1);
    cr_assert_eq(X[2], 0);
    /* row 3: window {2, NaN, 6}: mean 4, sd 2, min 2, max 6 */
    cr_assert_eq(X[15], 6);
    cr_assert_float_eq(X[16], 4, 1e-12);
    cr_assert_float_eq(X[17], 2, 1e-12);
    cr_assert_eq(X[18], 2);
    cr_assert_eq(X[19], 6);
}

/* ------------------------------------------------------------ regression forecasters */

/* weekly pattern + a promotion effect of +25 */
static void promo_series(td_series_t *ts, size_t n) {
    td_alloc(ts, n, 1);
    td_rng_t r = {99};
    for (size_t i = 0; i < n; i++) {
        ts->x[0][i] = (i % 11 == 3) ? 1.0 : 0.0;
        ts->y[i] = 60 + 8 * sin(2 * M_PI * (double)i / 7.0) + 25 * ts->x[0][i] + 1.5 * td_norm(&r);
    }
    ts->x[0][n - 1] = 0; /* the last known promotion flag is off */
}

static void check_exogenous(mm_algo_t algo) {
    td_series_t ts;
    promo_series(&ts, 400);
    mm_model_config_t cfg;
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cfg.candidates = 1u << algo;
    mm_train_result_t res;
    char errstr[256] = "";
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &res, errstr, sizeof errstr), MM_OK, "%s", errstr);
    cr_assert_eq(res.algorithm, algo, "%s", res.fallback_reason);
    cr_assert(res.metrics.v[MM_METRIC_MASE] < res.baseline.v[MM_METRIC_MASE],
              "%s should beat seasonal naive with the promotion column: %g vs %g",
              mm_algo_name(algo), res.metrics.v[MM_METRIC_MASE], res.baseline.v[MM_METRIC_MASE]);
    mm_model_t *model = NULL;
    cr_assert_eq(mm_model_load(res.artifact, res.artifact_len, &model, errstr, sizeof errstr),
                 MM_OK, "%s", errstr);
    double promo[14] = {0};
    promo[9] = 1; /* a planned promotion on step 10 */
    const double *future[1] = {promo};
    mm_forecast_t with, carried;
    cr_assert_eq(mm_model_forecast(model, 14, future, &with, errstr, sizeof errstr), MM_OK, "%s",
                 errstr);
    cr_assert_eq(mm_model_forecast(model, 14, NULL, &carried, errstr, sizeof errstr), MM_OK);
    cr_assert(with.mean[9] - carried.mean[9] > 12, "promotion lifts step 10: %g vs %g",
              with.mean[9], carried.mean[9]);
    cr_assert(fabs(with.mean[3] - carried.mean[3]) < 3, "no promotion, no lift before it");
    for (size_t k = 0; k < 14; k++)
        cr_assert(with.lower[k] < with.mean[k] && with.mean[k] < with.upper[k]);
    /* a NaN future value means "carry the last known forward" */
    double unknown[14];
    for (size_t k = 0; k < 14; k++) unknown[k] = NAN;
    const double *future_nan[1] = {unknown};
    mm_forecast_t nanfc;
    cr_assert_eq(mm_model_forecast(model, 14, future_nan, &nanfc, errstr, sizeof errstr), MM_OK);
    cr_assert(memcmp(nanfc.mean, carried.mean, 14 * sizeof(double)) == 0);

    uint8_t *again;
    size_t len;
    cr_assert_eq(mm_models__serialize(model, &again, &len, errstr, sizeof errstr), MM_OK);
    cr_assert(len == res.artifact_len && memcmp(again, res.artifact, len) == 0, "byte-exact");
    free(again);
    mm_forecast_clear(&with);
    mm_forecast_clear(&carried);
    mm_forecast_clear(&nanfc);
    mm_model_destroy(model);
    mm_train_result_clear(&res);
    td_free(&ts);
}

Test(regression, ridge_uses_known_future_exogenous_values) {
    check_exogenous(MM_ALGO_RIDGE);
}

Test(regression, xgboost_uses_known_future_exogenous_values) {
    check_exogenous(MM_ALGO_XGBOOST);
}

Test(regression, xgboost_training_is_deterministic) {
    td_series_t ts;
    promo_series(&ts, 250);
    mm_model_config_t cfg;
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cfg.candidates = 1u << MM_ALGO_XGBOOST;
    cfg.xgb_rounds = 30;
    mm_train_result_t a, b;
    char errstr[256] = "";
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &a, errstr, sizeof errstr), MM_OK, "%s", errstr);
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &b, errstr, sizeof errstr), MM_OK, "%s", errstr);
    cr_assert(a.artifact_len == b.artifact_len &&
              memcmp(a.artifact, b.artifact, a.artifact_len) == 0);
    mm_train_result_clear(&a);
    mm_train_result_clear(&b);
    td_free(&ts);
}

/* ------------------------------------------------------------ classification */

#define HOUR_MS INT64_C(3600000)

/* Hourly telemetry of one machine: vibration ramps up over the 30 hours
 * before each failure; the event column marks the failure hour. */
static void machine_series(td_series_t *ts, size_t n, uint64_t seed, bool failures) {
    td_alloc(ts, n, 2);
    td_rng_t r = {seed};
    for (size_t i = 0; i < n; i++) {
        ts->t[i] = TD_START_MS + (int64_t)i * HOUR_MS;
        ts->y[i] = 0;
        ts->x[0][i] = 170 + 10 * td_norm(&r); /* volt */
        ts->x[1][i] = 40 + 4 * td_norm(&r);   /* vibration */
    }
    if (!failures) return;
    for (size_t f = 150; f < n; f += 170 + (size_t)(td_unif(&r) * 60)) {
        ts->y[f] = 1;
        for (size_t k = 1; k <= 30 && k <= f; k++) ts->x[1][f - k] += 1.0 * (double)(31 - k);
    }
}

static mm_model_config_t classify_cfg(void) {
    mm_model_config_t cfg;
    mm_model_config_defaults(&cfg, MM_TASK_CLASSIFY);
    cfg.lookahead = 24;
    cfg.holdout = 400;
    cfg.backtest_windows = 2;
    cfg.min_history = 500;
    cfg.xgb_rounds = 50;
    return cfg;
}

Test(classify, failures_are_predicted_from_rolling_telemetry) {
    td_series_t ts;
    machine_series(&ts, 2400, 5, true);
    mm_model_config_t cfg = classify_cfg();
    mm_train_result_t res;
    char errstr[256] = "";
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &res, errstr, sizeof errstr), MM_OK, "%s", errstr);
    cr_assert_not(res.fallback, "%s", res.fallback_reason);
    cr_assert(res.algorithm == MM_ALGO_LOGISTIC || res.algorithm == MM_ALGO_XGB_CLASSIFIER);
    cr_assert(res.metrics.v[MM_METRIC_AUC] > 0.9, "auc %g (logistic %g, xgboost %g)",
              res.metrics.v[MM_METRIC_AUC], res.per_algo[MM_ALGO_LOGISTIC].v[MM_METRIC_AUC],
              res.per_algo[MM_ALGO_XGB_CLASSIFIER].v[MM_METRIC_AUC]);
    cr_assert(res.per_algo[MM_ALGO_LOGISTIC].v[MM_METRIC_AUC] > 0.85);
    cr_assert(res.per_algo[MM_ALGO_XGB_CLASSIFIER].v[MM_METRIC_AUC] > 0.85);
    cr_assert_float_eq(res.baseline.v[MM_METRIC_AUC], 0.5, 1e-12);
    cr_assert(res.metrics.v[MM_METRIC_RECALL] > res.baseline.v[MM_METRIC_RECALL]);
    cr_assert(isnan(res.metrics.v[MM_METRIC_RMSE]));

    mm_model_t *model = NULL;
    cr_assert_eq(mm_model_load(res.artifact, res.artifact_len, &model, errstr, sizeof errstr),
                 MM_OK, "%s", errstr);
    cr_assert_eq(mm_model_task(model), MM_TASK_CLASSIFY);
    /* score 48 fresh hours: healthy, then the ramp that precedes a failure */
    td_series_t fresh;
    machine_series(&fresh, 48, 77, false);
    for (size_t k = 1; k <= 20; k++) fresh.x[1][48 - k] += 1.0 * (double)(31 - k);
    double proba[48];
    cr_assert_eq(mm_model_predict(model, 48, fresh.t, (const double *const *)fresh.x, proba, errstr,
                                  sizeof errstr),
                 MM_OK, "%s", errstr);
    cr_assert(proba[10] < 0.5, "healthy hour scored %g", proba[10]);
    cr_assert(proba[47] > 0.5, "degraded hour scored %g", proba[47]);
    for (size_t i = 0; i < 48; i++) cr_assert(proba[i] >= 0 && proba[i] <= 1);

    mm_forecast_t fc;
    cr_assert_eq(mm_model_forecast(model, 3, NULL, &fc, errstr, sizeof errstr), MM_ERR_INVALID_ARG);
    uint8_t *again;
    size_t len;
    cr_assert_eq(mm_models__serialize(model, &again, &len, errstr, sizeof errstr), MM_OK);
    cr_assert(len == res.artifact_len && memcmp(again, res.artifact, len) == 0, "byte-exact");
    free(again);
    mm_model_destroy(model);
    mm_train_result_clear(&res);
    td_free(&fresh);
    td_free(&ts);
}

Test(classify, a_machine_that_never_failed_gets_a_constant_rate_fallback) {
    td_series_t ts;
    machine_series(&ts, 1200, 9, false);
    mm_model_config_t cfg = classify_cfg();
    mm_train_result_t res;
    char errstr[256] = "";
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &res, errstr, sizeof errstr), MM_OK, "%s", errstr);
    cr_assert(res.fallback);
    cr_assert(strstr(res.fallback_reason, "0 of") != NULL, "%s", res.fallback_reason);
    mm_model_t *model = NULL;
    cr_assert_eq(mm_model_load(res.artifact, res.artifact_len, &model, errstr, sizeof errstr),
                 MM_OK);
    double proba[5];
    cr_assert_eq(
        mm_model_predict(model, 5, ts.t, (const double *const *)ts.x, proba, errstr, sizeof errstr),
        MM_OK);
    cr_assert(proba[0] < 0.01 && proba[0] == proba[4]);
    mm_model_destroy(model);
    mm_train_result_clear(&res);
    td_free(&ts);
}

Test(classify, a_label_column_is_used_as_is_without_lookahead) {
    td_series_t ts;
    machine_series(&ts, 1500, 13, false);
    for (size_t i = 0; i < ts.n; i++) { /* label = high vibration right now */
        ts.y[i] = ts.x[1][i] > 44 ? 1 : 0;
    }
    mm_model_config_t cfg = classify_cfg();
    cfg.lookahead = 0;
    cfg.candidates = 1u << MM_ALGO_LOGISTIC;
    mm_train_result_t res;
    char errstr[256] = "";
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &res, errstr, sizeof errstr), MM_OK, "%s", errstr);
    cr_assert_not(res.fallback, "%s", res.fallback_reason);
    cr_assert(res.metrics.v[MM_METRIC_AUC] > 0.98, "auc %g", res.metrics.v[MM_METRIC_AUC]);
    mm_train_result_clear(&res);
    td_free(&ts);
}

Test(classify, forecasting_model_refuses_predict) {
    td_series_t ts;
    td_seasonal(&ts, 50, 1, 10, 0, 1, 1);
    mm_model_config_t cfg;
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    mm_train_result_t res;
    char errstr[256] = "";
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &res, errstr, sizeof errstr), MM_OK);
    mm_model_t *model = NULL;
    cr_assert_eq(mm_model_load(res.artifact, res.artifact_len, &model, errstr, sizeof errstr),
                 MM_OK);
    double p[1];
    cr_assert_eq(mm_model_predict(model, 1, ts.t, NULL, p, errstr, sizeof errstr),
                 MM_ERR_INVALID_ARG);
    mm_model_destroy(model);
    mm_train_result_clear(&res);
    td_free(&ts);
}
