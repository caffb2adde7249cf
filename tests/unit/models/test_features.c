/*
 * test_features.c - the shared feature code path (calendar, labels), the
 * regression forecasters with exogenous columns, and classification end to
 * end through the public API, batch scoring from the stored telemetry tail
 * included.
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
    cfg.features.known_in_advance = 1u; /* the promotion is planned */
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
    double latest = NAN;
    cr_assert_eq(mm_model_predict_latest(model, &latest, NULL, errstr, sizeof errstr), MM_OK, "%s",
                 errstr);
    cr_assert_eq(latest, proba[0], "a constant-rate model scores the data end at its rate");
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
    int64_t at = 0;
    cr_assert_eq(mm_model_predict_latest(model, p, &at, errstr, sizeof errstr), MM_ERR_INVALID_ARG);
    cr_assert(strstr(errstr, "forecasting model") != NULL, "%s", errstr);
    mm_model_destroy(model);
    mm_train_result_clear(&res);
    td_free(&ts);
}

/* ------------------------------------------------------------ batch scoring (predict_latest) */

/* Failures every 200 hours, the last one 100+ hours before the end, so the
 * end of the data is healthy; with @p degrading_end the last 20 hours ramp
 * up as they do before a failure, one that has not happened yet. */
static void machine_series_ending(td_series_t *ts, size_t n, uint64_t seed, bool degrading_end) {
    machine_series(ts, n, seed, false);
    for (size_t f = 150; f + 100 < n; f += 200) {
        ts->y[f] = 1;
        for (size_t k = 1; k <= 30; k++) ts->x[1][f - k] += (double)(31 - k);
    }
    if (degrading_end)
        for (size_t k = 1; k <= 20; k++) ts->x[1][n - k] += (double)(31 - k);
}

static mm_model_t *train_and_load(const td_series_t *ts, uint32_t candidates,
                                  mm_train_result_t *res) {
    mm_model_config_t cfg = classify_cfg();
    cfg.candidates = candidates;
    cfg.features.calendar = true; /* the time of the scored row matters too */
    char errstr[256] = "";
    cr_assert_eq(mm_model_train(&cfg, &ts->s, res, errstr, sizeof errstr), MM_OK, "%s", errstr);
    cr_assert_not(res->fallback, "%s", res->fallback_reason);
    mm_model_t *model = NULL;
    cr_assert_eq(mm_model_load(res->artifact, res->artifact_len, &model, errstr, sizeof errstr),
                 MM_OK, "%s", errstr);
    return model;
}

Test(classify, batch_score_is_high_when_the_training_data_ends_degrading) {
    /* Same machine, same history except the last 20 hours; those have no
     * known label yet (the look-ahead runs past the end), so both models
     * are fitted on the same rows: only the end of the data differs. */
    td_series_t degrading, healthy;
    machine_series_ending(&degrading, 2000, 21, true);
    machine_series_ending(&healthy, 2000, 21, false);
    mm_train_result_t rd, rh;
    uint32_t cands =
        (1u << MM_ALGO_AUTO) | (1u << MM_ALGO_LOGISTIC) | (1u << MM_ALGO_XGB_CLASSIFIER);
    mm_model_t *md = train_and_load(&degrading, cands, &rd);
    mm_model_t *mh = train_and_load(&healthy, cands, &rh);
    double pd = NAN, ph = NAN;
    int64_t at_d = 0, at_h = 0;
    char errstr[256] = "";
    cr_assert_eq(mm_model_predict_latest(md, &pd, &at_d, errstr, sizeof errstr), MM_OK, "%s",
                 errstr);
    cr_assert_eq(mm_model_predict_latest(mh, &ph, &at_h, errstr, sizeof errstr), MM_OK, "%s",
                 errstr);
    cr_log_info("batch score: degrading end %.4f, healthy end %.4f (%s)", pd, ph,
                mm_algo_name(rd.algorithm));
    cr_assert(pd > 0.5, "degrading end scored %g", pd);
    cr_assert(ph < 0.5, "healthy end scored %g", ph);
    cr_assert(pd > ph);
    cr_assert_eq(at_d, degrading.t[1999], "the score refers to the data end");
    cr_assert_eq(at_h, mm_model_data_end_ms(mh));
    mm_model_destroy(md);
    mm_model_destroy(mh);
    mm_train_result_clear(&rd);
    mm_train_result_clear(&rh);
    td_free(&degrading);
    td_free(&healthy);
}

Test(classify, batch_score_equals_predict_on_the_last_rows_and_survives_the_artifact) {
    td_series_t ts;
    machine_series_ending(&ts, 2000, 23, true);
    mm_train_result_t res;
    /* logistic: a continuous score, so any other row or time would show */
    mm_model_t *model = train_and_load(&ts, 1u << MM_ALGO_LOGISTIC, &res);
    char errstr[256] = "";
    double latest = NAN;
    cr_assert_eq(mm_model_predict_latest(model, &latest, NULL, errstr, sizeof errstr), MM_OK, "%s",
                 errstr);
    cr_assert(latest > 0 && latest < 1, "%g", latest);

    /* the last max(window) = 24 rows, as a scorer holding them would pass them */
    const size_t w = 24, from = 2000 - w;
    const double *tail[2] = {ts.x[0] + from, ts.x[1] + from};
    double proba[2000];
    cr_assert_eq(mm_model_predict(model, w, ts.t + from, tail, proba, errstr, sizeof errstr), MM_OK,
                 "%s", errstr);
    cr_assert_eq(proba[w - 1], latest, "%.17g vs %.17g", proba[w - 1], latest);
    /* the whole history gives the same last value */
    cr_assert_eq(mm_model_predict(model, 2000, ts.t, (const double *const *)ts.x, proba, errstr,
                                  sizeof errstr),
                 MM_OK, "%s", errstr);
    cr_assert_eq(proba[1999], latest);
    /* fewer rows than the longest window would change it: the tail is needed */
    const double *last3[2] = {ts.x[0] + 1997, ts.x[1] + 1997};
    cr_assert_eq(mm_model_predict(model, 3, ts.t + 1997, last3, proba, errstr, sizeof errstr),
                 MM_OK);
    cr_assert_neq(proba[2], latest);

    /* artifact round trip: byte-exact, same score */
    uint8_t *again;
    size_t len;
    cr_assert_eq(mm_models__serialize(model, &again, &len, errstr, sizeof errstr), MM_OK);
    cr_assert(len == res.artifact_len && memcmp(again, res.artifact, len) == 0, "byte-exact");
    mm_model_t *reloaded = NULL;
    cr_assert_eq(mm_model_load(again, len, &reloaded, errstr, sizeof errstr), MM_OK, "%s", errstr);
    double again_latest = NAN;
    cr_assert_eq(mm_model_predict_latest(reloaded, &again_latest, NULL, errstr, sizeof errstr),
                 MM_OK);
    cr_assert_eq(again_latest, latest);
    cr_assert(mm_model_memory_size(reloaded) >= w * 2 * sizeof(double), "the tail is accounted");
    free(again);
    mm_model_destroy(reloaded);
    mm_model_destroy(model);
    mm_train_result_clear(&res);
    td_free(&ts);
}

Test(classify, artifact_without_the_telemetry_tail_loads_but_cannot_batch_score) {
    /* an artifact as written before the tail was stored: no section 6 */
    td_series_t ts;
    machine_series_ending(&ts, 2000, 25, false);
    mm_train_result_t res;
    mm_model_t *model = train_and_load(&ts, 1u << MM_ALGO_LOGISTIC, &res);
    size_t old_len;
    uint8_t *old = td_artifact_edit(res.artifact, res.artifact_len, 6, NULL, 0, &old_len);
    cr_assert(old_len < res.artifact_len, "the telemetry section was there to remove");
    mm_model_t *old_model = NULL;
    char errstr[256] = "";
    cr_assert_eq(mm_model_load(old, old_len, &old_model, errstr, sizeof errstr), MM_OK, "%s",
                 errstr);
    double p = NAN;
    cr_assert_eq(mm_model_predict_latest(old_model, &p, NULL, errstr, sizeof errstr),
                 MM_ERR_UNSUPPORTED);
    cr_assert(strstr(errstr, "retrain") != NULL, "%s", errstr);
    /* scoring given rows still works, with the same model */
    double a[48], b[48];
    cr_assert_eq(mm_model_predict(old_model, 48, ts.t, (const double *const *)ts.x, a, errstr,
                                  sizeof errstr),
                 MM_OK);
    cr_assert_eq(
        mm_model_predict(model, 48, ts.t, (const double *const *)ts.x, b, errstr, sizeof errstr),
        MM_OK);
    cr_assert(memcmp(a, b, sizeof a) == 0);

    /* a telemetry section twice is a broken writer, not something to guess about */
    size_t sec_at = 0, sec_len = 0;
    for (size_t at = 16; at + 6 <= res.artifact_len - 4;) {
        size_t len = 6 + ((size_t)res.artifact[at + 2] | (size_t)res.artifact[at + 3] << 8 |
                          (size_t)res.artifact[at + 4] << 16 | (size_t)res.artifact[at + 5] << 24);
        if (res.artifact[at] == 6 && res.artifact[at + 1] == 0) sec_at = at, sec_len = len;
        at += len;
    }
    cr_assert(sec_len > 0);
    size_t twice_len;
    uint8_t *twice = td_artifact_edit(res.artifact, res.artifact_len, 0xffff, res.artifact + sec_at,
                                      sec_len, &twice_len);
    mm_model_t *bad = NULL;
    cr_assert_eq(mm_model_load(twice, twice_len, &bad, errstr, sizeof errstr), MM_ERR_PARSE);
    cr_assert(strstr(errstr, "twice") != NULL, "%s", errstr);
    cr_assert_null(bad);
    free(twice);
    free(old);
    mm_model_destroy(old_model);
    mm_model_destroy(model);
    mm_train_result_clear(&res);
    td_free(&ts);
}
