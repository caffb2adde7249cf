/*
 * test_backtest.c - how the rolling-origin backtest (common/models/backtest.c)
 * fits its windows: ridge fits every window and the final model from one
 * pass (the same models as a fit per window, and the final one taken over);
 * ETS chooses its form on the first window and refits that form on the
 * others; XGBoost boosts each window's trees on from the window before;
 * with backtest_fits below the windows, the windows between the fits
 * forecast with the fit before them.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "mm/model.h"
#include "models_int.h"
#include "testdata.h"

static mm_model_config_t daily_cfg(void) {
    mm_model_config_t cfg;
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    mm_models__resolve_tuning(&cfg);
    cfg.train_window = 300;
    return cfg;
}

/* The forecast of @p ops from @p state at @p cut of the series. */
static void forecast_at(const mm_models__ops_t *ops, const void *state,
                        const mm_model_config_t *cfg, const td_series_t *ts, size_t cut, size_t h,
                        double *mean) {
    double sd[64];
    char errstr[256] = "";
    mm_models__fcctx_t fc = {.cfg = cfg,
                             .hist = ts->y,
                             .n_hist = cut,
                             .end_ms = ts->t[cut - 1],
                             .n_exog = 0,
                             .fexog = NULL,
                             .nonneg = true};
    cr_assert_eq(ops->forecast(state, &fc, h, mean, sd, errstr, sizeof errstr), MM_OK, "%s",
                 errstr);
    mm_models__clip_nonneg(true, mean, h);
}

static void *fit_at(const mm_models__ops_t *ops, const mm_model_config_t *cfg,
                    const td_series_t *ts, size_t cut) {
    mm_models__view_t v = {.cfg = cfg, .n = cut, .time_ms = ts->t, .y = ts->y};
    void *state = NULL;
    char errstr[256] = "";
    cr_assert_eq(mm_models__fit_windowed(ops, &v, &state, errstr, sizeof errstr), MM_OK, "%s",
                 errstr);
    return state;
}

/* Backtest @p ops on @p ts and assert that every window was fitted and forecast. */
static void run_backtest(const mm_model_config_t *cfg, const td_series_t *ts,
                         const mm_models__ops_t *ops, mm_models__backtest_t *bt) {
    char errstr[256] = "";
    *bt = (mm_models__backtest_t){0};
    cr_assert_eq(mm_models__backtest_run(cfg, &ts->s, ops, true, bt, errstr, sizeof errstr), MM_OK,
                 "%s", errstr);
    cr_assert(bt->ok, "%s", errstr);
}

/* Ridge's final model is the fit on all data, taken from the backtest once. */
static void assert_final_is_the_fit_on_all_data(mm_models__backtest_t *bt,
                                                const mm_model_config_t *cfg,
                                                const td_series_t *ts) {
    size_t Hh = (size_t)cfg->holdout;
    void *taken = NULL, *again = NULL;
    mm_models__backtest_take(bt, cfg, &ts->s, &taken);
    cr_assert_not_null(taken);
    mm_models__backtest_take(bt, cfg, &ts->s, &again);
    cr_assert_null(again, "taken once");
    void *all = fit_at(&mm_ridge_ops, cfg, ts, ts->n);
    double got[64], want[64];
    forecast_at(&mm_ridge_ops, taken, cfg, ts, ts->n, Hh, got);
    forecast_at(&mm_ridge_ops, all, cfg, ts, ts->n, Hh, want);
    for (size_t k = 0; k < Hh; k++)
        cr_assert_float_eq(got[k], want[k], 1e-9 * fmax(1, fabs(want[k])), "final, step %zu", k);
    mm_ridge_ops.destroy(all);
    mm_ridge_ops.destroy(taken);
}

Test(backtest, ridge_fits_every_window_and_the_final_model_in_one_pass) {
    td_series_t ts;
    td_seasonal(&ts, 700, 5, 120, 0.05, 15, 3);
    mm_model_config_t cfg = daily_cfg();
    size_t K = (size_t)cfg.backtest_windows, Hh = (size_t)cfg.holdout;
    mm_models__backtest_t bt;
    run_backtest(&cfg, &ts, &mm_ridge_ops, &bt);
    double want[64];
    /* each window forecasts as a fit on the points before it does */
    for (size_t w = 0; w < K; w++) {
        size_t cut = ts.n - (K - w) * Hh;
        void *one = fit_at(&mm_ridge_ops, &cfg, &ts, cut);
        forecast_at(&mm_ridge_ops, one, &cfg, &ts, cut, Hh, want);
        for (size_t k = 0; k < Hh; k++)
            cr_assert_float_eq(bt.fc[w * Hh + k], want[k], 1e-9 * fmax(1, fabs(want[k])),
                               "window %zu step %zu", w, k);
        mm_ridge_ops.destroy(one);
    }
    /* and the final model is the fit on all data, taken once */
    assert_final_is_the_fit_on_all_data(&bt, &cfg, &ts);
    mm_models__backtest_free(&bt);
    td_free(&ts);
}

Test(backtest, ets_refits_the_form_the_first_window_chose) {
    td_series_t ts;
    td_seasonal(&ts, 500, 21, 80, 0.05, 10, 2);
    mm_model_config_t cfg = daily_cfg(); /* every form allowed */
    size_t K = (size_t)cfg.backtest_windows, Hh = (size_t)cfg.holdout;
    char errstr[256] = "";
    mm_models__backtest_t bt;
    run_backtest(&cfg, &ts, &mm_ets_ops, &bt);
    mm_ets_t *first = fit_at(&mm_ets_ops, &cfg, &ts, ts.n - K * Hh);
    void *taken = NULL;
    mm_models__backtest_take(&bt, &cfg, &ts.s, &taken);
    cr_assert_not_null(taken);
    const mm_ets_t *last = taken;
    cr_assert_eq(last->trend, first->trend);
    cr_assert_eq(last->season, first->season);
    /* the last window is that form fitted on its own points */
    mm_model_config_t fixed = cfg;
    mm_ets_ops.settle(first, &fixed);
    cr_assert_neq(fixed.ets_trend, MM_ETS_TREND_AUTO);
    cr_assert_neq(fixed.ets_season, MM_ETS_SEASON_AUTO);
    mm_ets_t *one = fit_at(&mm_ets_ops, &fixed, &ts, ts.n - Hh);
    void *moved = NULL;
    cr_assert_eq(mm_ets_ops.advance(one, &cfg, ts.y, ts.n, Hh, &moved, errstr, sizeof errstr),
                 MM_OK);
    const mm_ets_t *m = moved;
    cr_assert_eq(last->alpha, m->alpha);
    cr_assert_eq(last->level, m->level);
    mm_ets_ops.destroy(first);
    mm_ets_ops.destroy(one);
    mm_ets_ops.destroy(moved);
    mm_ets_ops.destroy(taken);
    mm_models__backtest_free(&bt);
    td_free(&ts);
}

static uint32_t n_trees(const void *state) {
    mm_models__params_t ps = {0};
    cr_assert_eq(mm_xgboost_ops.save(state, &ps), MM_OK);
    const mm_models__param_t *t = mm_models__params_get(&ps, "xgboost_trees", 0);
    cr_assert_not_null(t);
    uint32_t n = (uint32_t)t->bytes[8] | (uint32_t)t->bytes[9] << 8;
    mm_models__params_clear(&ps);
    return n;
}

Test(backtest, xgboost_boosts_each_window_on_from_the_one_before_and_refits_the_final_model) {
    td_series_t ts;
    td_seasonal(&ts, 600, 9, 60, 0.02, 12, 3);
    mm_model_config_t cfg = daily_cfg();
    cfg.xgb_rounds = 20;
    size_t K = (size_t)cfg.backtest_windows, Hh = (size_t)cfg.holdout;
    char errstr[256] = "";
    mm_models__backtest_t bt;
    run_backtest(&cfg, &ts, &mm_xgboost_ops, &bt);
    /* the first window is an ordinary fit */
    size_t cut0 = ts.n - K * Hh;
    void *first = fit_at(&mm_xgboost_ops, &cfg, &ts, cut0);
    double want[64];
    forecast_at(&mm_xgboost_ops, first, &cfg, &ts, cut0, Hh, want);
    cr_assert(memcmp(bt.fc, want, Hh * sizeof(double)) == 0);
    cr_assert_eq(n_trees(first), 20);
    /* the later ones boost the window before on by mm_models__xgb_next_rounds */
    int next = mm_models__xgb_next_rounds(&cfg);
    cr_assert_eq(next, 4, "a fifth of the rounds");
    void *prev = NULL, *chained = NULL;
    for (size_t w = 0; w < K; w++) {
        mm_models__view_t v = {.cfg = &cfg, .n = ts.n - (K - w) * Hh, .time_ms = ts.t, .y = ts.y};
        mm_models__window_view_t wv;
        mm_models__view_window(&v, MM_ALGO_XGBOOST, &wv);
        cr_assert_eq(mm_xgboost_ops.fit_next(prev, &wv.v, &chained, errstr, sizeof errstr), MM_OK,
                     "%s", errstr);
        if (prev) mm_xgboost_ops.destroy(prev);
        prev = chained;
    }
    cr_assert_eq(n_trees(chained), 20 + (uint32_t)(K - 1) * (uint32_t)next);
    size_t cut_last = ts.n - Hh;
    forecast_at(&mm_xgboost_ops, chained, &cfg, &ts, cut_last, Hh, want);
    cr_assert(memcmp(bt.fc + (K - 1) * Hh, want, Hh * sizeof(double)) == 0,
              "the last window forecasts with the chained trees");
    /* no window's trees become the final model: it is fitted on all data */
    void *taken = NULL;
    mm_models__backtest_take(&bt, &cfg, &ts.s, &taken);
    cr_assert_null(taken, "XGBoost's final model is a fit on all points, not a window's");
    mm_xgboost_ops.destroy(chained);
    mm_xgboost_ops.destroy(first);
    mm_models__backtest_free(&bt);
    td_free(&ts);
}

/* backtest_fits 2 of 4 windows: the first and the last are fitted; the two
 * between forecast with the first window's fit. */
Test(backtest, ets_windows_between_the_fits_forecast_with_the_fit_before_moved_on) {
    td_series_t ts;
    td_seasonal(&ts, 500, 21, 80, 0.05, 10, 2);
    mm_model_config_t cfg = daily_cfg();
    cfg.backtest_windows = 4;
    cfg.backtest_fits = 2;
    size_t K = 4, Hh = (size_t)cfg.holdout;
    char errstr[256] = "";
    mm_models__backtest_t bt;
    run_backtest(&cfg, &ts, &mm_ets_ops, &bt);
    size_t cut0 = ts.n - K * Hh;
    mm_ets_t *first = fit_at(&mm_ets_ops, &cfg, &ts, cut0);
    double want[64];
    forecast_at(&mm_ets_ops, first, &cfg, &ts, cut0, Hh, want);
    cr_assert(memcmp(bt.fc, want, Hh * sizeof(double)) == 0, "window 0 is the first fit's");
    for (size_t w = 1; w < K - 1; w++) {
        size_t cut = ts.n - (K - w) * Hh;
        void *moved = NULL;
        cr_assert_eq(
            mm_ets_ops.advance(first, &cfg, ts.y, cut, cut - cut0, &moved, errstr, sizeof errstr),
            MM_OK, "%s", errstr);
        forecast_at(&mm_ets_ops, moved, &cfg, &ts, cut, Hh, want);
        cr_assert(memcmp(bt.fc + w * Hh, want, Hh * sizeof(double)) == 0,
                  "window %zu forecasts with the first fit moved over %zu points", w, cut - cut0);
        mm_ets_ops.destroy(moved);
    }
    /* the last window is a fit of its own (the form the first chose) */
    mm_model_config_t fixed = cfg;
    mm_ets_ops.settle(first, &fixed);
    mm_ets_t *last = fit_at(&mm_ets_ops, &fixed, &ts, ts.n - Hh);
    forecast_at(&mm_ets_ops, last, &cfg, &ts, ts.n - Hh, Hh, want);
    cr_assert(memcmp(bt.fc + (K - 1) * Hh, want, Hh * sizeof(double)) == 0,
              "the last window is fitted");
    mm_ets_ops.destroy(first);
    mm_ets_ops.destroy(last);
    mm_models__backtest_free(&bt);
    td_free(&ts);
}

/* Ridge's state does not move with new points: a window between the fits
 * forecasts with the fit before it from its own longer history; the final
 * model is still the fit on all data. */
Test(backtest, ridge_windows_between_the_fits_forecast_from_their_own_origin) {
    td_series_t ts;
    td_seasonal(&ts, 700, 5, 120, 0.05, 15, 3);
    mm_model_config_t cfg = daily_cfg();
    cfg.backtest_windows = 4;
    cfg.backtest_fits = 2;
    size_t K = 4, Hh = (size_t)cfg.holdout;
    mm_models__backtest_t bt;
    run_backtest(&cfg, &ts, &mm_ridge_ops, &bt);
    size_t cut0 = ts.n - K * Hh, cut3 = ts.n - Hh;
    void *first = fit_at(&mm_ridge_ops, &cfg, &ts, cut0);
    void *last = fit_at(&mm_ridge_ops, &cfg, &ts, cut3);
    double want[64];
    for (size_t w = 0; w < K; w++) {
        size_t cut = ts.n - (K - w) * Hh;
        forecast_at(&mm_ridge_ops, w == K - 1 ? last : first, &cfg, &ts, cut, Hh, want);
        for (size_t k = 0; k < Hh; k++)
            cr_assert_float_eq(bt.fc[w * Hh + k], want[k], 1e-9 * fmax(1, fabs(want[k])),
                               "window %zu step %zu", w, k);
    }
    /* window 1 is not window 0's forecast repeated: it starts from its own origin */
    cr_assert(memcmp(bt.fc, bt.fc + Hh, Hh * sizeof(double)) != 0);
    mm_ridge_ops.destroy(first);
    mm_ridge_ops.destroy(last);
    assert_final_is_the_fit_on_all_data(&bt, &cfg, &ts);
    mm_models__backtest_free(&bt);
    td_free(&ts);
}
