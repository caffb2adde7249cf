/*
 * test_train_window.c - the capped training window (common/models/window.c,
 * config field train_window): its defaults by frequency and validation, the
 * view it gives, the forecasting trees' rounds and rate, that ETS and XGBoost see only the latest
 * points while the other candidates see all, its artifact field, and that a capped model forecasts
 * from the latest data (mm_model_forecast_from) as a model fitted on those points alone does.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "mm/model.h"
#include "models_int.h"
#include "testdata.h"

#define ONLY(a) ((1u << MM_ALGO_AUTO) | (1u << (a)))
#define N       900
#define CAP     300
#define H       14

static const int64_t k_hour = 3600000, k_day = 86400000;

Test(train_window, defaults_by_frequency_and_validation) {
    mm_model_config_t cfg;
    char errstr[256] = "";
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cr_assert_eq(cfg.train_window, 730, "daily: two years");
    mm_model_config_defaults_for(&cfg, MM_TASK_FORECAST, k_hour);
    cr_assert_eq(cfg.train_window, 12 * 168, "hourly: twelve weeks");
    mm_model_config_defaults_for(&cfg, MM_TASK_FORECAST, 7 * k_day);
    cr_assert_eq(cfg.train_window, 5 * 52, "weekly: five years");
    mm_model_config_defaults_for(&cfg, MM_TASK_FORECAST, 30 * k_day);
    cr_assert_eq(cfg.train_window, 120, "monthly: ten years");
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cfg.train_window = -1; /* no cap */
    cr_assert_eq(mm_model_config_validate(&cfg, errstr, sizeof errstr), MM_OK, "%s", errstr);
    cfg.train_window = 0; /* the default */
    cr_assert_eq(mm_model_config_validate(&cfg, errstr, sizeof errstr), MM_OK, "%s", errstr);
    cfg.train_window = -2;
    cr_assert_eq(mm_model_config_validate(&cfg, errstr, sizeof errstr), MM_ERR_CONFIG);
    cr_assert(strstr(errstr, "train_window") != NULL, "%s", errstr);
    /* zero resolves to the period's default */
    mm_model_config_defaults_for(&cfg, MM_TASK_FORECAST, k_hour);
    cfg.train_window = 0;
    mm_models__resolve_tuning(&cfg);
    cr_assert_eq(cfg.train_window, 12 * 168);
}

Test(train_window, forecasting_trees_default_to_fewer_faster_rounds) {
    mm_model_config_t cfg;
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cr_assert_eq(cfg.xgb_rounds, 50);
    cr_assert_float_eq(cfg.xgb_eta, 0.2, 1e-15);
    cfg.xgb_rounds = 0;
    cfg.xgb_eta = 0;
    mm_models__resolve_tuning(&cfg);
    cr_assert_eq(cfg.xgb_rounds, 50);
    cr_assert_float_eq(cfg.xgb_eta, 0.2, 1e-15);
    cr_assert_eq(cfg.xgb_max_bin, 32);
    char errstr[256] = "";
    cfg.xgb_max_bin = 1;
    cr_assert_eq(mm_model_config_validate(&cfg, errstr, sizeof errstr), MM_ERR_CONFIG);
    cr_assert(strstr(errstr, "xgb_max_bin") != NULL, "%s", errstr);
    cfg.xgb_max_bin = 0;
    cr_assert_eq(mm_model_config_validate(&cfg, errstr, sizeof errstr), MM_OK, "%s", errstr);
    mm_models__resolve_tuning(&cfg);
    cr_assert_eq(cfg.xgb_max_bin, 32);
    cr_assert_float_eq(cfg.xgb_colsample, 0.5, 1e-15, "half the features at each node");
    cfg.xgb_colsample = 1.5;
    cr_assert_eq(mm_model_config_validate(&cfg, errstr, sizeof errstr), MM_ERR_CONFIG);
    cr_assert(strstr(errstr, "xgb_colsample") != NULL, "%s", errstr);
    cfg.xgb_colsample = -0.25;
    cr_assert_eq(mm_model_config_validate(&cfg, errstr, sizeof errstr), MM_ERR_CONFIG);
    cfg.xgb_colsample = 0;
    cr_assert_eq(mm_model_config_validate(&cfg, errstr, sizeof errstr), MM_OK, "%s", errstr);
    mm_models__resolve_tuning(&cfg);
    cr_assert_float_eq(cfg.xgb_colsample, 0.5, 1e-15);
    /* classifiers keep theirs, and no training window */
    mm_model_config_defaults(&cfg, MM_TASK_CLASSIFY);
    cr_assert_eq(cfg.xgb_rounds, 100);
    cr_assert_float_eq(cfg.xgb_eta, 0.1, 1e-15);
    cfg.xgb_rounds = 0;
    cfg.xgb_eta = 0;
    mm_models__resolve_tuning(&cfg);
    cr_assert_eq(cfg.xgb_rounds, 100);
    cr_assert_float_eq(cfg.xgb_eta, 0.1, 1e-15);
    cr_assert_eq(cfg.xgb_max_bin, 256);
    cr_assert_float_eq(cfg.xgb_colsample, 1.0, 1e-15);
    cfg.xgb_colsample = 0;
    mm_models__resolve_tuning(&cfg);
    cr_assert_float_eq(cfg.xgb_colsample, 1.0, 1e-15);
    cr_assert_eq(cfg.train_window, 0);
}

Test(train_window, the_view_keeps_the_latest_points_of_capped_algorithms_only) {
    td_series_t ts;
    td_alloc(&ts, N, 2);
    for (size_t i = 0; i < N; i++) ts.y[i] = ts.x[0][i] = ts.x[1][i] = (double)i;
    mm_model_config_t cfg;
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cfg.features.n_exog = 2;
    cfg.train_window = CAP;
    mm_models__view_t v = {.cfg = &cfg,
                           .n = N,
                           .time_ms = ts.t,
                           .y = ts.y,
                           .n_exog = 2,
                           .exog = (const double *const *)ts.x};
    mm_models__window_view_t w;
    mm_models__view_window(&v, MM_ALGO_ETS, &w);
    cr_assert_eq(w.v.n, CAP);
    cr_assert_eq(w.v.y[0], N - CAP);
    cr_assert_eq(w.v.time_ms[0], ts.t[N - CAP]);
    cr_assert_eq(w.v.exog[0][0], N - CAP);
    cr_assert_eq(w.v.exog[1][CAP - 1], N - 1, "the window ends where the view ends");
    mm_models__view_window(&v, MM_ALGO_XGBOOST, &w);
    cr_assert_eq(w.v.n, CAP);
    mm_models__view_window(&v, MM_ALGO_RIDGE, &w);
    cr_assert_eq(w.v.n, N, "ridge is cheap: it sees everything");
    cr_assert_eq(w.v.y, ts.y);
    cfg.train_window = -1;
    mm_models__view_window(&v, MM_ALGO_ETS, &w);
    cr_assert_eq(w.v.n, N, "-1: no cap");
    /* a cap below what a fit needs is raised to it */
    cfg.train_window = 5;
    size_t floor = mm_models__train_window_floor(&cfg);
    cr_assert_geq(floor, 28 + 10, "the longest lag plus the fewest regression rows");
    cr_assert_geq(floor, 2 * 7);
    mm_models__view_window(&v, MM_ALGO_XGBOOST, &w);
    cr_assert_eq(w.v.n, floor);
    /* a view shorter than the cap is left alone */
    cfg.train_window = 2 * N;
    mm_models__view_window(&v, MM_ALGO_ETS, &w);
    cr_assert_eq(w.v.n, N);
    td_free(&ts);
}

/* Two histories that agree on their last CAP + 3 x holdout points and not
 * before: a level shift early in one of them. */
static void twin_series(td_series_t *a, td_series_t *b, bool promo) {
    td_alloc(a, N, promo ? 1 : 0);
    td_alloc(b, N, promo ? 1 : 0);
    td_rng_t r = {17};
    for (size_t i = 0; i < N; i++) {
        double x = promo ? (td_unif(&r) < 0.15 ? 1.0 : 0.0) : 0;
        double y =
            60 + 0.02 * (double)i + 8 * sin(2 * M_PI * (double)i / 7.0) + 20 * x + 2 * td_norm(&r);
        a->y[i] = y;
        b->y[i] = i < N / 3 ? y + 40 : y;
        if (promo) a->x[0][i] = b->x[0][i] = x;
    }
}

static mm_model_t *train_load(const mm_model_config_t *cfg, const mm_series_t *s) {
    char errstr[256] = "";
    mm_train_result_t res;
    cr_assert_eq(mm_model_train(cfg, s, &res, errstr, sizeof errstr), MM_OK, "%s", errstr);
    cr_assert_not(res.fallback, "%s", res.fallback_reason);
    mm_model_t *model = NULL;
    cr_assert_eq(mm_model_load(res.artifact, res.artifact_len, &model, errstr, sizeof errstr),
                 MM_OK, "%s", errstr);
    mm_train_result_clear(&res);
    return model;
}

static void forecast_latest(const mm_model_t *model, const td_series_t *ts, size_t upto,
                            mm_forecast_t *fc) {
    mm_series_t recent = ts->s;
    recent.n = 60;
    recent.time_ms = ts->t + upto - 60;
    recent.y = ts->y + upto - 60;
    const double *rx[1] = {ts->n_exog ? ts->x[0] + upto - 60 : NULL};
    recent.exog = rx;
    mm_scoring_input_t in = {.recent = &recent};
    char errstr[256] = "";
    cr_assert_eq(mm_model_forecast_from(model, &in, H, fc, NULL, errstr, sizeof errstr), MM_OK,
                 "%s", errstr);
}

static double max_gap(const mm_forecast_t *a, const mm_forecast_t *b) {
    double d = 0;
    for (size_t k = 0; k < a->h; k++) {
        cr_assert_eq(a->time_ms[k], b->time_ms[k]);
        double g = fabs(a->mean[k] - b->mean[k]);
        if (g > d) d = g;
    }
    return d;
}

/* Trained on the first n_train points, scored with 20 newer ones: with the
 * cap, the early level shift changes nothing; without it, the forecast. */
static void check_capped(mm_algo_t algo, bool promo) {
    td_series_t a, b;
    twin_series(&a, &b, promo);
    mm_model_config_t cfg;
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cfg.candidates = ONLY(algo);
    cfg.ets_trend = MM_ETS_TREND_DAMPED;
    cfg.ets_season = MM_ETS_SEASON_ADD;
    cfg.xgb_rounds = 20;
    cfg.features.n_exog = promo ? 1 : 0;
    cfg.features.known_in_advance = promo ? 1u : 0;
    cfg.train_window = CAP;
    size_t n_train = N - 20;
    mm_series_t sa = a.s, sb = b.s;
    sa.n = sb.n = n_train;
    mm_model_t *ma = train_load(&cfg, &sa), *mb = train_load(&cfg, &sb);
    cr_assert_eq(mm_model_algorithm(ma), algo);
    mm_forecast_t fa, fb;
    forecast_latest(ma, &a, N, &fa);
    forecast_latest(mb, &b, N, &fb);
    cr_assert_eq(fa.time_ms[0], a.t[N - 1] + k_day, "the forecast starts after the newest point");
    cr_assert_eq(max_gap(&fa, &fb), 0, "%s: capped fits never saw the early points",
                 mm_algo_name(algo));
    for (size_t k = 0; k < H; k++) cr_assert(isfinite(fa.mean[k]) && fa.mean[k] > 20);
    mm_forecast_clear(&fa);
    mm_forecast_clear(&fb);
    mm_model_destroy(ma);
    mm_model_destroy(mb);
    /* without the cap the early points move the fit */
    cfg.train_window = -1;
    ma = train_load(&cfg, &sa);
    mb = train_load(&cfg, &sb);
    forecast_latest(ma, &a, N, &fa);
    forecast_latest(mb, &b, N, &fb);
    cr_assert_gt(max_gap(&fa, &fb), 1e-6, "%s: uncapped fits see the whole history",
                 mm_algo_name(algo));
    mm_forecast_clear(&fa);
    mm_forecast_clear(&fb);
    mm_model_destroy(ma);
    mm_model_destroy(mb);
    td_free(&a);
    td_free(&b);
}

Test(train_window, capped_ets_forecasts_from_the_latest_data) {
    check_capped(MM_ALGO_ETS, false);
}

Test(train_window, capped_xgboost_forecasts_from_the_latest_data_with_planned_covariates) {
    check_capped(MM_ALGO_XGBOOST, true);
}

Test(train_window, a_combination_caps_its_costly_member_only) {
    td_series_t a, b;
    twin_series(&a, &b, false);
    mm_model_config_t cfg;
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cfg.train_window = CAP;
    cfg.ets_trend = MM_ETS_TREND_DAMPED;
    cfg.ets_season = MM_ETS_SEASON_ADD;
    mm_models__view_t va = {.cfg = &cfg, .n = N, .time_ms = a.t, .y = a.y},
                      vb = {.cfg = &cfg, .n = N, .time_ms = b.t, .y = b.y};
    const mm_algo_t algos[2] = {MM_ALGO_ETS, MM_ALGO_RIDGE};
    const double w[2] = {0.5, 0.5};
    void *sa = NULL, *sb = NULL;
    char errstr[256] = "";
    cr_assert_eq(mm_models__ensemble_fit(&va, 2, algos, w, &sa, errstr, sizeof errstr), MM_OK, "%s",
                 errstr);
    cr_assert_eq(mm_models__ensemble_fit(&vb, 2, algos, w, &sb, errstr, sizeof errstr), MM_OK, "%s",
                 errstr);
    mm_models__params_t pa = {0}, pb = {0};
    cr_assert_eq(mm_ensemble_ops.save(sa, &pa), MM_OK);
    cr_assert_eq(mm_ensemble_ops.save(sb, &pb), MM_OK);
    const mm_models__param_t *la = mm_models__params_get(&pa, "m0.level", 1),
                             *lb = mm_models__params_get(&pb, "m0.level", 1);
    cr_assert(la && lb, "the ETS member's end level is saved");
    cr_assert_eq(la->v[0], lb->v[0], "the ETS member never saw the early points");
    const mm_models__param_t *ia = mm_models__params_get(&pa, "m1.intercept", 1),
                             *ib = mm_models__params_get(&pb, "m1.intercept", 1);
    cr_assert(ia && ib, "the ridge member's intercept is saved");
    cr_assert_neq(ia->v[0], ib->v[0], "the ridge member saw the whole history");
    mm_models__params_clear(&pa);
    mm_models__params_clear(&pb);
    mm_ensemble_ops.destroy(sa);
    mm_ensemble_ops.destroy(sb);
    td_free(&a);
    td_free(&b);
}

Test(train_window, the_artifact_carries_the_cap) {
    td_series_t ts;
    td_seasonal(&ts, 400, 3, 50, 0.05, 10, 2);
    mm_model_config_t cfg;
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cfg.candidates = ONLY(MM_ALGO_ETS);
    cfg.train_window = 0; /* resolved to the daily default */
    mm_model_t *model = train_load(&cfg, &ts.s);
    cr_assert_eq(model->cfg.train_window, 730);
    mm_model_destroy(model);
    cfg.train_window = 200;
    model = train_load(&cfg, &ts.s);
    cr_assert_eq(model->cfg.train_window, 200);
    cr_assert_eq(model->cfg.xgb_max_bin, 32, "the resolved bins travel with the cap");
    cr_assert_eq(model->cfg.backtest_fits, 0, "every window fitted");
    cr_assert_float_eq(model->cfg.xgb_colsample, 0.5, 1e-15, "and the features' share");
    mm_model_destroy(model);
    cfg.backtest_windows = 4;
    cfg.backtest_fits = 2;
    model = train_load(&cfg, &ts.s);
    cr_assert_eq(model->cfg.backtest_fits, 2, "and how many backtest windows were fitted");
    mm_model_destroy(model);
    td_free(&ts);
}

/* An artifact written before xgb_colsample existed (its SELECTION section
 * ends at backtest_fits) loads with every feature: how its trees were grown. */
Test(train_window, an_artifact_without_the_features_share_reads_every_feature) {
    td_series_t ts;
    td_seasonal(&ts, 400, 3, 50, 0.05, 10, 2);
    mm_model_config_t cfg;
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cfg.candidates = ONLY(MM_ALGO_RIDGE);
    mm_train_result_t res;
    char errstr[256] = "";
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &res, errstr, sizeof errstr), MM_OK, "%s", errstr);
    /* tag 5, 20 bytes: ensemble_max 2, xgb_min_history 1000, train_window
     * 730, xgb_max_bin 32, backtest_fits 0 */
    const int32_t fields[5] = {2, 1000, 730, 32, 0};
    uint8_t sec[6 + sizeof fields] = {5, 0, (uint8_t)sizeof fields, 0, 0, 0};
    for (size_t f = 0; f < 5; f++)
        for (size_t k = 0; k < 4; k++)
            sec[6 + 4 * f + k] = (uint8_t)((uint32_t)fields[f] >> (8 * k));
    size_t len;
    uint8_t *old = td_artifact_edit(res.artifact, res.artifact_len, 5, sec, sizeof sec, &len);
    cr_assert_eq(len, res.artifact_len - 8, "the section lost its last field only");
    mm_model_t *model = NULL;
    cr_assert_eq(mm_model_load(old, len, &model, errstr, sizeof errstr), MM_OK, "%s", errstr);
    cr_assert_eq(model->cfg.xgb_max_bin, 32);
    cr_assert_float_eq(model->cfg.xgb_colsample, 1.0, 1e-15);
    mm_model_destroy(model);
    cr_assert_eq(mm_model_load(res.artifact, res.artifact_len, &model, errstr, sizeof errstr),
                 MM_OK);
    cr_assert_float_eq(model->cfg.xgb_colsample, 0.5, 1e-15, "today's artifact records it");
    mm_model_destroy(model);
    free(old);
    mm_train_result_clear(&res);
    td_free(&ts);
}

/* The costly candidates' final model is their last backtest window's fit,
 * moved over the last holdout: no second fit. */
Test(train_window, the_last_backtest_fit_becomes_the_model_of_a_costly_candidate) {
    td_series_t ts;
    td_seasonal(&ts, 500, 21, 80, 0.05, 10, 2);
    mm_model_config_t cfg;
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    mm_models__resolve_tuning(&cfg);
    cfg.ets_trend = MM_ETS_TREND_DAMPED;
    cfg.ets_season = MM_ETS_SEASON_ADD;
    cfg.train_window = CAP;
    size_t Hh = (size_t)cfg.holdout;
    char errstr[256] = "";
    mm_models__backtest_t bt = {0};
    cr_assert_eq(
        mm_models__backtest_run(&cfg, &ts.s, &mm_ets_ops, true, &bt, errstr, sizeof errstr), MM_OK,
        "%s", errstr);
    cr_assert(bt.ok, "%s", errstr);
    void *taken = NULL, *again = NULL;
    mm_models__backtest_take(&bt, &cfg, &ts.s, &taken);
    cr_assert_not_null(taken);
    mm_models__backtest_take(&bt, &cfg, &ts.s, &again);
    cr_assert_null(again, "taken once");
    /* the same as fitting the last window and filtering the holdout */
    mm_models__view_t v = {.cfg = &cfg, .n = ts.n - Hh, .time_ms = ts.t, .y = ts.y};
    void *fit = NULL, *moved = NULL;
    cr_assert_eq(mm_models__fit_windowed(&mm_ets_ops, &v, &fit, errstr, sizeof errstr), MM_OK);
    cr_assert_eq(mm_ets_ops.advance(fit, &cfg, ts.y, ts.n, Hh, &moved, errstr, sizeof errstr),
                 MM_OK);
    const mm_ets_t *a = taken, *b = moved;
    cr_assert_eq(a->level, b->level);
    cr_assert_eq(a->slope, b->slope);
    cr_assert_eq(a->alpha, b->alpha);
    mm_ets_ops.destroy(fit);
    mm_ets_ops.destroy(moved);
    mm_ets_ops.destroy(taken);
    mm_models__backtest_free(&bt);
    /* a cheap candidate keeps nothing: it is refitted on all data */
    cr_assert_eq(
        mm_models__backtest_run(&cfg, &ts.s, &mm_sba_ops, true, &bt, errstr, sizeof errstr), MM_OK,
        "%s", errstr);
    cr_assert(bt.ok, "%s", errstr);
    mm_models__backtest_take(&bt, &cfg, &ts.s, &taken);
    cr_assert_null(taken);
    mm_models__backtest_free(&bt);
    td_free(&ts);
}
