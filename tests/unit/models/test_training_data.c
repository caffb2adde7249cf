/*
 * test_training_data.c - training sees what scoring will see: covariates
 * known in advance (backtest, artifact, older artifacts), missing values in
 * intermittent demand, frequency-aware defaults, and keys whose history is
 * short for their season or lags.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "mm/model.h"
#include "models_int.h"
#include "testdata.h"

#define ONLY(a)    ((1u << MM_ALGO_AUTO) | (1u << (a)))
#define TD_WEEK_MS (7 * TD_DAY_MS)

/* ------------------------------------------------------------ known in advance */

/* Sales driven by a promotion that changes often: only knowing it in
 * advance predicts the holdout. */
static void promo_series(td_series_t *ts, size_t n) {
    td_alloc(ts, n, 1);
    td_rng_t r = {31};
    for (size_t i = 0; i < n; i++) {
        ts->x[0][i] = td_unif(&r) < 0.3 ? 1.0 : 0.0;
        ts->y[i] = 50 + 30 * ts->x[0][i] + 2 * td_norm(&r);
    }
}

Test(known_in_advance, the_backtest_uses_actual_values_only_for_known_columns) {
    td_series_t ts;
    promo_series(&ts, 400);
    mm_model_config_t cfg;
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cfg.candidates = ONLY(MM_ALGO_RIDGE);
    mm_train_result_t known, carried;
    char errstr[256] = "";
    cfg.features.known_in_advance = 1u;
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &known, errstr, sizeof errstr), MM_OK, "%s", errstr);
    cfg.features.known_in_advance = 0;
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &carried, errstr, sizeof errstr), MM_OK, "%s", errstr);
    double mk = known.per_algo[MM_ALGO_RIDGE].v[MM_METRIC_MAE];
    double mc = carried.per_algo[MM_ALGO_RIDGE].v[MM_METRIC_MAE];
    cr_assert(mk < 0.5 * mc, "planned promotions backtest far better: %g vs %g", mk, mc);
    cr_assert(mc > 8, "a carried-forward promotion flag cannot predict the holdout: MAE %g", mc);
    mm_train_result_clear(&known);
    mm_train_result_clear(&carried);
    /* a mask naming a column that does not exist is a config error */
    cfg.features.known_in_advance = 2u;
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &known, errstr, sizeof errstr), MM_ERR_CONFIG);
    cr_assert(strstr(errstr, "known_in_advance") != NULL, "%s", errstr);
    td_free(&ts);
}

Test(known_in_advance, mask_travels_in_the_artifact_and_older_artifacts_know_every_column) {
    td_series_t ts;
    promo_series(&ts, 300);
    mm_model_config_t cfg;
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cfg.candidates = ONLY(MM_ALGO_RIDGE);
    mm_train_result_t res;
    char errstr[256] = "";
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &res, errstr, sizeof errstr), MM_OK, "%s", errstr);
    mm_model_t *model = NULL;
    cr_assert_eq(mm_model_load(res.artifact, res.artifact_len, &model, errstr, sizeof errstr),
                 MM_OK);
    cr_assert_eq(mm_model_config(model)->features.known_in_advance, 0u);
    mm_model_destroy(model);
    size_t len;
    uint8_t *old = td_artifact_edit(res.artifact, res.artifact_len, 7, NULL, 0, &len);
    cr_assert(len < res.artifact_len, "section 7 was there");
    cr_assert_eq(mm_model_load(old, len, &model, errstr, sizeof errstr), MM_OK, "%s", errstr);
    cr_assert_eq(mm_model_config(model)->features.known_in_advance, 1u);
    mm_model_destroy(model);
    free(old);
    mm_train_result_clear(&res);
    td_free(&ts);
}

/* ------------------------------------------------------------ intermittent demand */

/* Demand every fourth period; @p with_gaps inserts a missing period after
 * every fifth observed one. */
static size_t intermittent(double *y, size_t n_obs, bool with_gaps) {
    size_t k = 0;
    for (size_t i = 0; i < n_obs; i++) {
        y[k++] = i % 4 == 3 ? 3.0 + (double)(i % 5) : 0.0;
        if (with_gaps && i % 5 == 4) y[k++] = NAN;
    }
    return k;
}

static double fit_forecast(const mm_models__ops_t *ops, const double *y, size_t n) {
    mm_model_config_t cfg;
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    mm_models__view_t v = {.cfg = &cfg, .n = n, .y = y};
    void *state = NULL;
    char errstr[256] = "";
    cr_assert_eq(ops->fit(&v, &state, errstr, sizeof errstr), MM_OK, "%s", errstr);
    mm_models__fcctx_t fc = {.cfg = &cfg};
    double mean, sd;
    cr_assert_eq(ops->forecast(state, &fc, 1, &mean, &sd, errstr, sizeof errstr), MM_OK);
    ops->destroy(state);
    return mean;
}

Test(intermittent, a_missing_period_is_missing_not_zero_demand) {
    double plain[200], gaps[260], zeros[260];
    size_t n_plain = intermittent(plain, 200, false);
    size_t n_gaps = intermittent(gaps, 200, true);
    for (size_t i = 0; i < n_gaps; i++) zeros[i] = isnan(gaps[i]) ? 0 : gaps[i];
    const mm_models__ops_t *ops[] = {&mm_croston_ops, &mm_sba_ops, &mm_tsb_ops};
    for (size_t a = 0; a < 3; a++) {
        double f_plain = fit_forecast(ops[a], plain, n_plain);
        double f_gaps = fit_forecast(ops[a], gaps, n_gaps);
        double f_zeros = fit_forecast(ops[a], zeros, n_gaps);
        cr_assert_eq(f_gaps, f_plain, "%s: gaps change nothing: %.17g vs %.17g",
                     mm_algo_name(ops[a]->algo), f_gaps, f_plain);
        cr_assert(f_zeros < 0.95 * f_plain, "%s: zeros would lower the rate: %g vs %g",
                  mm_algo_name(ops[a]->algo), f_zeros, f_plain);
    }
}

/* ------------------------------------------------------------ frequency-aware defaults */

Test(defaults, daily_defaults_are_the_library_defaults) {
    mm_model_config_t a, b;
    mm_model_config_defaults(&a, MM_TASK_FORECAST);
    mm_model_config_defaults_for(&b, MM_TASK_FORECAST, TD_DAY_MS);
    cr_assert(memcmp(&a, &b, sizeof a) == 0);
}

Test(defaults, each_frequency_gets_its_season_lags_and_horizon) {
    static const struct {
        int64_t period;
        int season, horizon, last_lag;
    } want[] = {
        {INT64_C(3600000), 24, 48, 168},
        {TD_DAY_MS, 7, 28, 28},
        {TD_WEEK_MS, 52, 13, 52},
        {TD_DAY_MS * 304375 / 10000, 12, 12, 12},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        mm_model_config_t cfg;
        mm_model_config_defaults_for(&cfg, MM_TASK_FORECAST, want[i].period);
        cr_assert_eq(cfg.period_ms, want[i].period);
        cr_assert_eq(cfg.season_length, want[i].season, "period %lld", (long long)want[i].period);
        cr_assert_eq(cfg.horizon, want[i].horizon);
        cr_assert_eq(cfg.features.lags[cfg.features.n_lags - 1], want[i].last_lag);
        cfg.features.n_exog = 0;
        char errstr[256] = "";
        cr_assert_eq(mm_model_config_validate(&cfg, errstr, sizeof errstr), MM_OK, "%s", errstr);
    }
}

/* Two years of weekly sales with a yearly cycle and a trend. */
static void weekly_series(td_series_t *ts, size_t n) {
    td_alloc(ts, n, 0);
    td_rng_t r = {37};
    for (size_t i = 0; i < n; i++) {
        ts->t[i] = TD_START_MS + (int64_t)i * TD_WEEK_MS;
        ts->y[i] = 200 + 0.5 * (double)i + 40 * sin(2 * M_PI * (double)i / 52.0) + 8 * td_norm(&r);
    }
}

Test(defaults, weekly_data_with_two_years_of_history_trains_real_models) {
    td_series_t ts;
    weekly_series(&ts, 104);
    mm_model_config_t cfg;
    mm_model_config_defaults_for(&cfg, MM_TASK_FORECAST, TD_WEEK_MS);
    mm_train_result_t res;
    char errstr[256] = "";
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &res, errstr, sizeof errstr), MM_OK, "%s", errstr);
    cr_assert_not(res.fallback, "%s", res.fallback_reason);
    cr_assert(isfinite(res.per_algo[MM_ALGO_ETS].v[MM_METRIC_MASE]), "ets was backtested");
    cr_assert(isfinite(res.per_algo[MM_ALGO_RIDGE].v[MM_METRIC_MASE]), "ridge was backtested");
    cr_assert(strstr(res.adjustments, "season_length 52 -> 1") != NULL, "%s", res.adjustments);
    mm_model_t *model = NULL;
    cr_assert_eq(mm_model_load(res.artifact, res.artifact_len, &model, errstr, sizeof errstr),
                 MM_OK);
    cr_assert_eq(mm_model_config(model)->season_length, 1, "the artifact holds the key's config");
    mm_model_destroy(model);
    mm_train_result_clear(&res);
    td_free(&ts);
}

Test(defaults, a_short_key_keeps_ridge_with_shorter_lags_and_says_so) {
    td_series_t ts;
    td_seasonal(&ts, 110, 41, 60, 0, 8, 1);
    mm_model_config_t cfg;
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cfg.candidates = ONLY(MM_ALGO_RIDGE);
    cfg.features.lags[cfg.features.n_lags++] = 20; /* fine */
    cfg.features.lags[cfg.features.n_lags++] = 60; /* longer than 110 - 84 points allow */
    mm_train_result_t res;
    char errstr[256] = "";
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &res, errstr, sizeof errstr), MM_OK, "%s", errstr);
    cr_assert_not(res.fallback, "%s", res.fallback_reason);
    cr_assert_eq(res.algorithm, MM_ALGO_RIDGE);
    cr_assert(strstr(res.adjustments, "lags and windows over 16 dropped") != NULL, "%s",
              res.adjustments);
    mm_train_result_clear(&res);
    /* a key that fits its config is left alone */
    td_free(&ts);
    td_seasonal(&ts, 400, 41, 60, 0, 8, 1);
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &res, errstr, sizeof errstr), MM_OK, "%s", errstr);
    cr_assert_str_empty(res.adjustments);
    mm_train_result_clear(&res);
    td_free(&ts);
}

Test(defaults, a_short_key_keeps_a_listed_xgboost_with_shorter_lags_and_says_so) {
    td_series_t ts;
    td_seasonal(&ts, 110, 41, 60, 0, 8, 1);
    mm_model_config_t cfg;
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cfg.candidates = ONLY(MM_ALGO_XGBOOST); /* listed: tried below xgb_min_history too */
    cfg.xgb_rounds = 10;
    cfg.features.lags[cfg.features.n_lags++] = 60; /* longer than 110 - 84 points allow */
    mm_train_result_t res;
    char errstr[256] = "";
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &res, errstr, sizeof errstr), MM_OK, "%s", errstr);
    cr_assert_not(res.fallback, "%s", res.fallback_reason);
    cr_assert_eq(res.algorithm, MM_ALGO_XGBOOST);
    cr_assert(isfinite(res.per_algo[MM_ALGO_XGBOOST].v[MM_METRIC_MASE]), "xgboost was backtested");
    cr_assert(strstr(res.adjustments, "lags and windows over 16 dropped") != NULL, "%s",
              res.adjustments);
    cr_assert(strstr(res.adjustments, "xgboost left out") == NULL, "%s", res.adjustments);
    mm_model_t *model = NULL;
    cr_assert_eq(mm_model_load(res.artifact, res.artifact_len, &model, errstr, sizeof errstr),
                 MM_OK);
    const mm_feature_config_t *f = &mm_model_config(model)->features;
    for (size_t i = 0; i < f->n_lags; i++)
        cr_assert_leq(f->lags[i], 16, "the artifact holds the shorter lags: lag %d", f->lags[i]);
    mm_model_destroy(model);
    mm_train_result_clear(&res);
    td_free(&ts);
}

Test(defaults, auto_below_xgb_min_history_says_xgboost_was_left_out) {
    td_series_t ts;
    td_seasonal(&ts, 400, 43, 60, 0.02, 8, 1);
    mm_model_config_t cfg;
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cfg.xgb_rounds = 10;
    mm_train_result_t res;
    char errstr[256] = "";
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &res, errstr, sizeof errstr), MM_OK, "%s", errstr);
    cr_assert_not(res.fallback, "%s", res.fallback_reason);
    cr_assert_not(isfinite(res.per_algo[MM_ALGO_XGBOOST].v[MM_METRIC_MASE]));
    cr_assert(strstr(res.adjustments,
                     "xgboost left out: 400 points are below xgb_min_history 1000") != NULL,
              "%s", res.adjustments);
    mm_train_result_clear(&res);
    /* reaching the threshold, it is tried and nothing is said */
    cfg.xgb_min_history = 400;
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &res, errstr, sizeof errstr), MM_OK, "%s", errstr);
    cr_assert(isfinite(res.per_algo[MM_ALGO_XGBOOST].v[MM_METRIC_MASE]));
    cr_assert_str_empty(res.adjustments);
    mm_train_result_clear(&res);
    /* never (-1) is the operator's choice, not a want of rows */
    cfg.xgb_min_history = -1;
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &res, errstr, sizeof errstr), MM_OK, "%s", errstr);
    cr_assert_str_empty(res.adjustments);
    mm_train_result_clear(&res);
    td_free(&ts);
}
