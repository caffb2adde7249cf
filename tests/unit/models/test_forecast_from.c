/*
 * test_forecast_from.c - scoring new data with the model library: forecasts
 * from a key's newest observations without refitting (every algorithm),
 * planned covariates and carry-forward, the as-of window, the checks on
 * the scoring data; and the training side of it: known-in-advance
 * covariates in the backtest, missing values in intermittent demand,
 * frequency-aware defaults and short keys.
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
#define H          14

static mm_model_t *train_load(const mm_model_config_t *cfg, const mm_series_t *s,
                              mm_train_result_t *res) {
    char errstr[256] = "";
    cr_assert_eq(mm_model_train(cfg, s, res, errstr, sizeof errstr), MM_OK, "%s", errstr);
    mm_model_t *model = NULL;
    cr_assert_eq(mm_model_load(res->artifact, res->artifact_len, &model, errstr, sizeof errstr),
                 MM_OK, "%s", errstr);
    return model;
}

static void assert_same_forecast(const mm_forecast_t *a, const mm_forecast_t *b, size_t off) {
    for (size_t k = 0; k < a->h; k++) {
        cr_assert_eq(a->time_ms[k], b->time_ms[k + off]);
        cr_assert(fabs(a->mean[k] - b->mean[k + off]) <= 1e-12 * (1 + fabs(a->mean[k])),
                  "step %zu: %.17g vs %.17g", k, a->mean[k], b->mean[k + off]);
        cr_assert(fabs(a->lower[k] - b->lower[k + off]) <= 1e-12 * (1 + fabs(a->lower[k])));
        cr_assert(fabs(a->upper[k] - b->upper[k + off]) <= 1e-12 * (1 + fabs(a->upper[k])));
    }
}

/* A series with a promotion column that lifts sales; promotions at random days. */
static void promo_series(td_series_t *ts, size_t n, uint64_t seed) {
    td_alloc(ts, n, 1);
    td_rng_t r = {seed};
    for (size_t i = 0; i < n; i++) {
        ts->x[0][i] = td_unif(&r) < 0.15 ? 1.0 : 0.0;
        ts->y[i] = 60 + 8 * sin(2 * M_PI * (double)i / 7.0) + 25 * ts->x[0][i] + 1.5 * td_norm(&r);
    }
}

/* ------------------------------------------------------------ no new points */

static void check_no_new_points(uint32_t candidates, bool intermittent) {
    td_series_t ts;
    td_seasonal(&ts, 300, 11, 50, 0.05, 10, 2);
    if (intermittent)
        for (size_t i = 0; i < ts.n; i++) ts.y[i] = i % 4 == 1 ? ts.y[i] : 0;
    mm_model_config_t cfg;
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cfg.candidates = candidates;
    mm_train_result_t res;
    mm_model_t *model = train_load(&cfg, &ts.s, &res);
    char errstr[256] = "";
    mm_forecast_t ref, got;
    cr_assert_eq(mm_model_forecast(model, H, NULL, &ref, errstr, sizeof errstr), MM_OK, "%s",
                 errstr);
    /* no scoring data at all, then only points the model was trained on */
    cr_assert_eq(mm_model_forecast_from(model, NULL, H, &got, NULL, errstr, sizeof errstr), MM_OK,
                 "%s", errstr);
    assert_same_forecast(&ref, &got, 0);
    mm_forecast_clear(&got);
    mm_series_t old = ts.s;
    old.n = 60;
    old.time_ms = ts.t + ts.n - 60;
    old.y = ts.y + ts.n - 60;
    mm_scoring_input_t in = {.recent = &old};
    mm_forecast_info_t info;
    cr_assert_eq(mm_model_forecast_from(model, &in, H, &got, &info, errstr, sizeof errstr), MM_OK,
                 "%s", errstr);
    assert_same_forecast(&ref, &got, 0);
    cr_assert_eq(info.n_new, 0);
    cr_assert_eq(info.watermark_ms, mm_model_data_end_ms(model));
    mm_forecast_clear(&got);
    mm_forecast_clear(&ref);
    mm_model_destroy(model);
    mm_train_result_clear(&res);
    td_free(&ts);
}

Test(forecast_from, without_new_points_equals_mm_model_forecast_for_every_algorithm) {
    check_no_new_points(ONLY(MM_ALGO_SNAIVE), false);
    check_no_new_points(ONLY(MM_ALGO_ETS), false);
    check_no_new_points(ONLY(MM_ALGO_RIDGE), false);
    check_no_new_points(MM_MODELS__DEFAULT_FORECAST_CANDIDATES, false);
    check_no_new_points(ONLY(MM_ALGO_CROSTON), true);
    check_no_new_points(ONLY(MM_ALGO_TSB), true);
}

/* ------------------------------------------------------------ new points */

Test(forecast_from, forecast_starts_one_period_after_the_newest_observation) {
    td_series_t ts;
    td_seasonal(&ts, 300, 5, 80, 0, 10, 2);
    mm_model_config_t cfg;
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cfg.candidates = MM_MODELS__DEFAULT_FORECAST_CANDIDATES;
    mm_series_t train = ts.s;
    train.n = 280;
    mm_train_result_t res;
    mm_model_t *model = train_load(&cfg, &train, &res);
    mm_series_t recent = ts.s;
    recent.n = 40; /* 20 known to the model, 20 new */
    recent.time_ms = ts.t + 260;
    recent.y = ts.y + 260;
    mm_scoring_input_t in = {.recent = &recent};
    mm_forecast_t fc, stale;
    mm_forecast_info_t info;
    char errstr[256] = "";
    cr_assert_eq(mm_model_forecast_from(model, &in, H, &fc, &info, errstr, sizeof errstr), MM_OK,
                 "%s", errstr);
    cr_assert_eq(fc.time_ms[0], ts.t[299] + TD_DAY_MS);
    cr_assert_eq(info.watermark_ms, ts.t[299]);
    cr_assert_eq(info.n_new, 20);
    cr_assert_eq(mm_model_forecast(model, H, NULL, &stale, errstr, sizeof errstr), MM_OK);
    cr_assert_eq(stale.time_ms[0], ts.t[279] + TD_DAY_MS);
    mm_forecast_clear(&fc);
    mm_forecast_clear(&stale);
    mm_model_destroy(model);
    mm_train_result_clear(&res);
    td_free(&ts);
}

Test(forecast_from, ets_runs_its_fitted_filter_over_the_new_points) {
    td_series_t ts;
    td_seasonal(&ts, 260, 9, 100, 0.1, 12, 2);
    ts.y[250] = NAN; /* a missing new point: the states advance with the prediction */
    mm_model_config_t cfg;
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cfg.candidates = ONLY(MM_ALGO_ETS);
    cfg.ets_trend = MM_ETS_TREND_DAMPED;
    cfg.ets_season = MM_ETS_SEASON_ADD;
    mm_series_t train = ts.s;
    train.n = 240;
    mm_train_result_t res;
    mm_model_t *model = train_load(&cfg, &train, &res);
    cr_assert_eq(mm_model_algorithm(model), MM_ALGO_ETS);
    /* the reference: the same parameters and initial states filtered over
     * everything at once */
    mm_ets_t ref = *(const mm_ets_t *)model->state;
    cr_assert(mm_ets_filter(&ref, ts.y, ts.n, NULL));
    ref.sigma2 = ((const mm_ets_t *)model->state)->sigma2; /* intervals: the fitted variance */
    double mean[H], sd[H];
    mm_ets_forecast(&ref, H, mean, sd);
    mm_series_t recent = ts.s;
    recent.n = 20;
    recent.time_ms = ts.t + 240;
    recent.y = ts.y + 240;
    mm_scoring_input_t in = {.recent = &recent};
    mm_forecast_t fc;
    char errstr[256] = "";
    cr_assert_eq(mm_model_forecast_from(model, &in, H, &fc, NULL, errstr, sizeof errstr), MM_OK,
                 "%s", errstr);
    for (size_t k = 0; k < H; k++) {
        cr_assert(fabs(fc.mean[k] - mean[k]) <= 1e-9 * fabs(mean[k]), "step %zu: %.17g vs %.17g", k,
                  fc.mean[k], mean[k]);
        /* intervals as today: the fitted variance */
        double z = mm_models__interval_z(cfg.interval_level);
        cr_assert(fabs(fc.upper[k] - (mean[k] + z * sd[k])) <= 1e-9 * fabs(mean[k]));
    }
    mm_forecast_clear(&fc);
    mm_model_destroy(model);
    mm_train_result_clear(&res);
    td_free(&ts);
}

Test(forecast_from, seasonal_naive_repeats_the_newest_season) {
    td_series_t ts;
    td_seasonal(&ts, 200, 3, 40, 0.5, 8, 1);
    mm_model_config_t cfg;
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cfg.candidates = ONLY(MM_ALGO_SNAIVE);
    mm_series_t train = ts.s;
    train.n = 180;
    mm_train_result_t res;
    mm_model_t *model = train_load(&cfg, &train, &res);
    mm_series_t recent = ts.s;
    recent.n = 10;
    recent.time_ms = ts.t + 190; /* a gap of 10 missing points after the data end */
    recent.y = ts.y + 190;
    mm_scoring_input_t in = {.recent = &recent};
    mm_forecast_t fc;
    mm_forecast_info_t info;
    char errstr[256] = "";
    cr_assert_eq(mm_model_forecast_from(model, &in, H, &fc, &info, errstr, sizeof errstr), MM_OK,
                 "%s", errstr);
    cr_assert_eq(info.n_new, 10);
    for (size_t k = 0; k < H; k++) cr_assert_eq(fc.mean[k], ts.y[193 + k % 7], "step %zu", k);
    mm_forecast_clear(&fc);
    mm_model_destroy(model);
    mm_train_result_clear(&res);
    td_free(&ts);
}

Test(forecast_from, croston_updates_its_state_and_a_missing_point_is_not_zero_demand) {
    td_series_t ts;
    td_alloc(&ts, 220, 0);
    for (size_t i = 0; i < ts.n; i++) ts.y[i] = i % 5 == 2 ? 4.0 + (double)(i % 3) : 0.0;
    mm_model_config_t cfg;
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cfg.candidates = ONLY(MM_ALGO_CROSTON);
    mm_series_t train = ts.s;
    train.n = 200;
    mm_train_result_t res;
    mm_model_t *model = train_load(&cfg, &train, &res);
    char errstr[256] = "";
    mm_forecast_t moved, gap, stale;
    mm_series_t recent = ts.s;
    recent.n = 20;
    recent.time_ms = ts.t + 200;
    recent.y = ts.y + 200;
    mm_scoring_input_t in = {.recent = &recent};
    cr_assert_eq(mm_model_forecast_from(model, &in, 3, &moved, NULL, errstr, sizeof errstr), MM_OK,
                 "%s", errstr);
    cr_assert_eq(mm_model_forecast(model, 3, NULL, &stale, errstr, sizeof errstr), MM_OK);
    cr_assert(moved.mean[0] != stale.mean[0], "the new demands moved the state");
    /* 19 missing periods then a demand: the interval is one period, as if
     * the demand came right after the data end; 19 zeros make it twenty */
    double late[20], zeros[20];
    for (size_t i = 0; i < 20; i++) {
        late[i] = i < 19 ? NAN : 6.0;
        zeros[i] = i < 19 ? 0.0 : 6.0;
    }
    mm_forecast_t next, zero_fc;
    recent.y = late;
    cr_assert_eq(mm_model_forecast_from(model, &in, 3, &gap, NULL, errstr, sizeof errstr), MM_OK);
    recent.y = zeros;
    cr_assert_eq(mm_model_forecast_from(model, &in, 3, &zero_fc, NULL, errstr, sizeof errstr),
                 MM_OK);
    recent.n = 1;
    recent.y = late + 19;
    cr_assert_eq(mm_model_forecast_from(model, &in, 3, &next, NULL, errstr, sizeof errstr), MM_OK);
    cr_assert_eq(gap.mean[0], next.mean[0], "%.17g vs %.17g", gap.mean[0], next.mean[0]);
    cr_assert(zero_fc.mean[0] < gap.mean[0], "zero demand lengthens the interval: %g vs %g",
              zero_fc.mean[0], gap.mean[0]);
    mm_forecast_clear(&next);
    mm_forecast_clear(&zero_fc);
    mm_forecast_clear(&moved);
    mm_forecast_clear(&gap);
    mm_forecast_clear(&stale);
    mm_model_destroy(model);
    mm_train_result_clear(&res);
    td_free(&ts);
}

/* ------------------------------------------------------------ covariates */

static void check_planned(mm_algo_t algo) {
    td_series_t ts;
    promo_series(&ts, 400, 21);
    mm_model_config_t cfg;
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cfg.candidates = 1u << algo;
    cfg.features.known_in_advance = 1u;
    mm_train_result_t res;
    mm_model_t *model = train_load(&cfg, &ts.s, &res);
    cr_assert_eq(mm_model_config(model)->features.known_in_advance, 1u);
    double promo[H] = {0};
    promo[3] = promo[9] = 1;
    int64_t pt[H];
    double py[H];
    for (size_t k = 0; k < H; k++) {
        pt[k] = ts.t[ts.n - 1] + (int64_t)(k + 1) * TD_DAY_MS;
        py[k] = NAN;
    }
    const double *pcols[1] = {promo};
    mm_series_t planned = {.n = H, .time_ms = pt, .y = py, .n_exog = 1, .exog = pcols};
    mm_scoring_input_t in = {.planned = &planned};
    const double *future[1] = {promo};
    mm_forecast_t ref, got;
    mm_forecast_info_t info;
    char errstr[256] = "";
    cr_assert_eq(mm_model_forecast(model, H, future, &ref, errstr, sizeof errstr), MM_OK);
    cr_assert_eq(mm_model_forecast_from(model, &in, H, &got, &info, errstr, sizeof errstr), MM_OK,
                 "%s", errstr);
    assert_same_forecast(&ref, &got, 0);
    cr_assert_eq(info.n_planned_steps, H);
    cr_assert_eq(info.n_carried_steps, 0);
    mm_forecast_clear(&ref);
    mm_forecast_clear(&got);
    /* steps without a plan carry forward and are counted */
    planned.n = 8;
    double partial[H];
    for (size_t k = 0; k < H; k++) partial[k] = k < 8 ? promo[k] : NAN;
    future[0] = partial;
    cr_assert_eq(mm_model_forecast(model, H, future, &ref, errstr, sizeof errstr), MM_OK);
    cr_assert_eq(mm_model_forecast_from(model, &in, H, &got, &info, errstr, sizeof errstr), MM_OK);
    assert_same_forecast(&ref, &got, 0);
    cr_assert_eq(info.n_planned_steps, 8);
    cr_assert_eq(info.n_carried_steps, H - 8);
    mm_forecast_clear(&ref);
    mm_forecast_clear(&got);
    mm_model_destroy(model);
    mm_train_result_clear(&res);
    td_free(&ts);
}

Test(forecast_from, planned_covariates_change_ridge_as_mm_model_forecast_does) {
    check_planned(MM_ALGO_RIDGE);
}

Test(forecast_from, planned_covariates_change_xgboost_as_mm_model_forecast_does) {
    check_planned(MM_ALGO_XGBOOST);
}

Test(forecast_from, a_column_not_known_in_advance_ignores_plans_and_future_values) {
    td_series_t ts;
    promo_series(&ts, 400, 23);
    mm_model_config_t cfg;
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cfg.candidates = 1u << MM_ALGO_RIDGE;
    mm_train_result_t res;
    mm_model_t *model = train_load(&cfg, &ts.s, &res);
    double promo[H];
    for (size_t k = 0; k < H; k++) promo[k] = 1;
    const double *future[1] = {promo};
    mm_forecast_t with, without;
    char errstr[256] = "";
    cr_assert_eq(mm_model_forecast(model, H, future, &with, errstr, sizeof errstr), MM_OK);
    cr_assert_eq(mm_model_forecast(model, H, NULL, &without, errstr, sizeof errstr), MM_OK);
    cr_assert(memcmp(with.mean, without.mean, H * sizeof(double)) == 0);
    mm_forecast_clear(&with);
    mm_forecast_clear(&without);
    mm_model_destroy(model);
    mm_train_result_clear(&res);
    td_free(&ts);
}

Test(forecast_from, new_exogenous_values_are_carried_forward_from_the_latest_observation) {
    td_series_t ts;
    promo_series(&ts, 420, 29);
    for (size_t i = 400; i < 420; i++) ts.x[0][i] = i >= 415 ? 1.0 : 0.0;
    mm_model_config_t cfg;
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cfg.candidates = 1u << MM_ALGO_RIDGE;
    mm_series_t train = ts.s;
    train.n = 400;
    mm_train_result_t res;
    mm_model_t *model = train_load(&cfg, &train, &res);
    mm_series_t recent = ts.s;
    recent.n = 20;
    recent.time_ms = ts.t + 400;
    recent.y = ts.y + 400;
    const double *rcols[1] = {ts.x[0] + 400};
    recent.exog = rcols;
    mm_scoring_input_t in = {.recent = &recent};
    mm_forecast_t on, off;
    char errstr[256] = "";
    cr_assert_eq(mm_model_forecast_from(model, &in, 3, &on, NULL, errstr, sizeof errstr), MM_OK,
                 "%s", errstr);
    recent.n_exog = 0; /* no exogenous history: the model's last value (0) */
    cr_assert_eq(mm_model_forecast_from(model, &in, 3, &off, NULL, errstr, sizeof errstr), MM_OK);
    cr_assert(on.mean[0] - off.mean[0] > 12, "promotion carried: %g vs %g", on.mean[0],
              off.mean[0]);
    mm_forecast_clear(&on);
    mm_forecast_clear(&off);
    mm_model_destroy(model);
    mm_train_result_clear(&res);
    td_free(&ts);
}

/* ------------------------------------------------------------ as-of window */

Test(forecast_from, as_of_forecasts_through_the_gap_and_returns_only_the_window) {
    td_series_t ts;
    td_seasonal(&ts, 320, 13, 70, 0.05, 9, 2);
    mm_model_config_t cfg;
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cfg.candidates = MM_MODELS__DEFAULT_FORECAST_CANDIDATES;
    mm_series_t train = ts.s;
    train.n = 300;
    mm_train_result_t res;
    mm_model_t *model = train_load(&cfg, &train, &res);
    mm_series_t recent = ts.s;
    recent.n = 20; /* up to day 319; as of day 309, so days 310..319 are ignored */
    recent.time_ms = ts.t + 300;
    recent.y = ts.y + 300;
    mm_scoring_input_t in = {.recent = &recent, .as_of_ms = ts.t[309]};
    mm_forecast_t win, full;
    mm_forecast_info_t info;
    char errstr[256] = "";
    recent.n = 5; /* the key's latest observation is day 304 */
    cr_assert_eq(mm_model_forecast_from(model, &in, 7, &win, &info, errstr, sizeof errstr), MM_OK,
                 "%s", errstr);
    cr_assert_eq(win.time_ms[0], ts.t[309] + TD_DAY_MS);
    cr_assert_eq(info.watermark_ms, ts.t[304]);
    in.as_of_ms = 0;
    cr_assert_eq(mm_model_forecast_from(model, &in, 12, &full, NULL, errstr, sizeof errstr), MM_OK);
    assert_same_forecast(&win, &full, 5);
    mm_forecast_clear(&win);
    mm_forecast_clear(&full);
    /* observations after as_of are ignored */
    recent.n = 20;
    in.as_of_ms = ts.t[309];
    cr_assert_eq(mm_model_forecast_from(model, &in, 7, &win, &info, errstr, sizeof errstr), MM_OK);
    cr_assert_eq(info.watermark_ms, ts.t[309]);
    cr_assert_eq(win.time_ms[0], ts.t[310]);
    mm_forecast_clear(&win);
    /* before the model's data end it cannot forecast without refitting */
    in.as_of_ms = ts.t[250];
    cr_assert_eq(mm_model_forecast_from(model, &in, 7, &win, &info, errstr, sizeof errstr),
                 MM_ERR_INVALID_ARG);
    cr_assert(strstr(errstr, "as_of") != NULL, "%s", errstr);
    mm_model_destroy(model);
    mm_train_result_clear(&res);
    td_free(&ts);
}

Test(forecast_from, unsorted_or_irregular_recent_data_is_refused_with_a_reason) {
    td_series_t ts;
    td_seasonal(&ts, 200, 17, 70, 0, 9, 2);
    mm_model_config_t cfg;
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cfg.candidates = ONLY(MM_ALGO_ETS);
    mm_train_result_t res;
    mm_model_t *model = train_load(&cfg, &ts.s, &res);
    int64_t t[3] = {ts.t[199] + TD_DAY_MS, ts.t[199] + 3 * TD_DAY_MS, ts.t[199] + 2 * TD_DAY_MS};
    double y[3] = {70, 71, 72};
    mm_series_t recent = {.n = 3, .time_ms = t, .y = y};
    mm_scoring_input_t in = {.recent = &recent};
    mm_forecast_t fc;
    char errstr[256] = "";
    cr_assert_eq(mm_model_forecast_from(model, &in, 3, &fc, NULL, errstr, sizeof errstr),
                 MM_ERR_INVALID_ARG);
    cr_assert(strstr(errstr, "increasing") != NULL, "%s", errstr);
    t[2] = t[1] + TD_DAY_MS / 2;
    cr_assert_eq(mm_model_forecast_from(model, &in, 3, &fc, NULL, errstr, sizeof errstr),
                 MM_ERR_INVALID_ARG);
    cr_assert(strstr(errstr, "grid") != NULL, "%s", errstr);
    mm_model_destroy(model);
    mm_train_result_clear(&res);
    td_free(&ts);
}

Test(forecast_from, history_needed_covers_lags_and_two_seasons) {
    td_series_t ts;
    td_seasonal(&ts, 300, 19, 70, 0, 9, 2);
    mm_model_config_t cfg;
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cfg.candidates = ONLY(MM_ALGO_RIDGE);
    mm_train_result_t res;
    mm_model_t *model = train_load(&cfg, &ts.s, &res);
    cr_assert_eq(mm_model_history_needed(model), 28); /* lag 28, window 28 > 2 x 7 */
    mm_model_destroy(model);
    mm_train_result_clear(&res);
    td_free(&ts);
}
