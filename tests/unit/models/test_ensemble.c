/*
 * test_ensemble.c - forecast combination (common/models/ensemble.c and the
 * selection in model.c): when a combination is chosen, its weights, that it
 * forecasts the weighted mean of its members, its artifact; the selection
 * settings (ensemble_max, xgb_min_history) and their artifact section.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "models_int.h"
#include "testdata.h"

#define BIT(a) (1u << (a))

/* A stationary level, a weekly pattern and noise: seasonal naive copies
 * last week's noise along with the pattern, simple exponential smoothing
 * (ETS without trend or season) misses the pattern. Errors of different
 * kinds, which averaging partly cancels: with amplitude 2 sigma the even mix
 * has about 1.75 sigma^2 expected squared error against 2 and 3 sigma^2. */
static void pattern_series(td_series_t *ts, size_t n, uint64_t seed) {
    td_alloc(ts, n, 0);
    td_rng_t r = {seed};
    for (size_t i = 0; i < n; i++)
        ts->y[i] = 50 + 6 * sin(2 * M_PI * (double)i / 7.0) + 3 * td_norm(&r);
}

static double pattern_truth(size_t i) {
    return 50 + 6 * sin(2 * M_PI * (double)i / 7.0);
}

static mm_model_config_t pair_cfg(uint32_t algos) {
    mm_model_config_t cfg;
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cfg.candidates = BIT(MM_ALGO_AUTO) | algos;
    cfg.ets_trend = MM_ETS_TREND_NONE;
    cfg.ets_season = MM_ETS_SEASON_NONE;
    return cfg;
}

#define PAIR (BIT(MM_ALGO_SNAIVE) | BIT(MM_ALGO_ETS))

static void train_ok(const mm_model_config_t *cfg, const td_series_t *ts, mm_train_result_t *res) {
    char errstr[256] = "";
    cr_assert_eq(mm_model_train(cfg, &ts->s, res, errstr, sizeof errstr), MM_OK, "%s", errstr);
    cr_assert_not(res->fallback, "%s", res->fallback_reason);
}

static mm_model_t *load_ok(const mm_train_result_t *res) {
    mm_model_t *model = NULL;
    char errstr[256] = "";
    cr_assert_eq(mm_model_load(res->artifact, res->artifact_len, &model, errstr, sizeof errstr),
                 MM_OK, "load: %s", errstr);
    return model;
}

static void forecast_ok(const mm_model_t *model, size_t h, mm_forecast_t *fc) {
    char errstr[256] = "";
    cr_assert_eq(mm_model_forecast(model, h, NULL, fc, errstr, sizeof errstr), MM_OK, "%s", errstr);
}

/* ------------------------------------------------------------ selection */

Test(ensemble, candidates_that_err_differently_are_combined_with_inverse_metric_weights) {
    td_series_t ts;
    pattern_series(&ts, 400, 1);
    mm_model_config_t cfg = pair_cfg(PAIR);
    mm_train_result_t res;
    train_ok(&cfg, &ts, &res);
    double m_sn = res.per_algo[MM_ALGO_SNAIVE].v[MM_METRIC_MASE];
    double m_ets = res.per_algo[MM_ALGO_ETS].v[MM_METRIC_MASE];
    cr_assert_eq(res.algorithm, MM_ALGO_ENSEMBLE, "got %s (snaive %.4f, ets %.4f, pair %.4f)",
                 mm_algo_name(res.algorithm), m_sn, m_ets,
                 res.per_algo[MM_ALGO_ENSEMBLE].v[MM_METRIC_MASE]);
    cr_assert(m_sn < m_ets, "seasonal naive is the better one alone");
    cr_assert_eq(res.n_members, 2);
    cr_assert_eq(res.members[0], MM_ALGO_SNAIVE, "best backtest first");
    cr_assert_eq(res.members[1], MM_ALGO_ETS);
    cr_assert_float_eq(res.member_weights[0] + res.member_weights[1], 1.0, 1e-15);
    cr_assert_float_eq(res.member_weights[0] / res.member_weights[1], m_ets / m_sn, 1e-12,
                       "weights proportional to 1 / backtest MASE");
    /* chosen because it backtests better than either; its metrics are the combination's */
    cr_assert(res.metrics.v[MM_METRIC_MASE] < m_sn);
    cr_assert_eq(res.metrics.v[MM_METRIC_MASE], res.per_algo[MM_ALGO_ENSEMBLE].v[MM_METRIC_MASE]);
    for (int i = MM_METRIC_RMSE; i <= MM_METRIC_BIAS; i++)
        cr_assert(isfinite(res.metrics.v[i]), "%s", mm_metric_name((mm_metric_id_t)i));
    cr_assert_eq(res.baseline.v[MM_METRIC_MASE], m_sn, "the baseline is still seasonal naive");
    mm_train_result_clear(&res);
    td_free(&ts);
}

Test(ensemble, ensemble_max_one_keeps_the_best_single_candidate) {
    td_series_t ts;
    pattern_series(&ts, 400, 1);
    mm_model_config_t cfg = pair_cfg(PAIR);
    cfg.ensemble_max = 1;
    mm_train_result_t res;
    train_ok(&cfg, &ts, &res);
    cr_assert_eq(res.algorithm, MM_ALGO_SNAIVE, "got %s", mm_algo_name(res.algorithm));
    cr_assert_eq(res.n_members, 1);
    cr_assert_eq(res.members[0], MM_ALGO_SNAIVE);
    cr_assert_eq(res.member_weights[0], 1.0);
    cr_assert(isnan(res.per_algo[MM_ALGO_ENSEMBLE].v[MM_METRIC_MASE]), "no combination tried");
    mm_train_result_clear(&res);
    td_free(&ts);
}

Test(ensemble, a_single_candidate_is_never_combined) {
    td_series_t ts;
    pattern_series(&ts, 400, 1);
    mm_model_config_t cfg =
        pair_cfg(BIT(MM_ALGO_ETS)); /* seasonal naive: measured, not a candidate */
    cfg.ensemble_max = MM_MODEL_MAX_ENSEMBLE;
    mm_train_result_t res;
    train_ok(&cfg, &ts, &res);
    cr_assert_eq(res.algorithm, MM_ALGO_ETS);
    cr_assert(isfinite(res.per_algo[MM_ALGO_SNAIVE].v[MM_METRIC_MASE]));
    cr_assert(isnan(res.per_algo[MM_ALGO_ENSEMBLE].v[MM_METRIC_MASE]));
    mm_train_result_clear(&res);
    td_free(&ts);
}

/* ------------------------------------------------------------ forecasting */

Test(ensemble, forecast_is_the_weighted_mean_of_its_members_refitted_alone) {
    td_series_t ts;
    pattern_series(&ts, 400, 2);
    mm_model_config_t cfg = pair_cfg(PAIR);
    mm_train_result_t res, r_sn, r_ets;
    train_ok(&cfg, &ts, &res);
    cr_assert_eq(res.algorithm, MM_ALGO_ENSEMBLE);
    mm_model_config_t c_sn = pair_cfg(BIT(MM_ALGO_SNAIVE)), c_ets = pair_cfg(BIT(MM_ALGO_ETS));
    train_ok(&c_sn, &ts, &r_sn);
    train_ok(&c_ets, &ts, &r_ets);
    mm_model_t *ens = load_ok(&res), *sn = load_ok(&r_sn), *ets = load_ok(&r_ets);
    mm_forecast_t f, f_sn, f_ets;
    forecast_ok(ens, 35, &f);
    forecast_ok(sn, 35, &f_sn);
    forecast_ok(ets, 35, &f_ets);
    double w[2];
    mm_algo_t algos[2];
    cr_assert_eq(mm_model_members(ens, algos, w, 2), 2);
    for (size_t k = 0; k < 35; k++) {
        double want = w[0] * f_sn.mean[k] + w[1] * f_ets.mean[k];
        cr_assert_float_eq(f.mean[k], want, 1e-12 * fabs(want), "step %zu: %.17g vs %.17g", k,
                           f.mean[k], want);
        /* intervals from the combination's own backtest errors */
        cr_assert(isfinite(f.lower[k]) && f.lower[k] < f.mean[k] && f.mean[k] < f.upper[k],
                  "step %zu", k);
        cr_assert_eq(f.time_ms[k], ts.t[399] + (int64_t)(k + 1) * TD_DAY_MS);
    }
    cr_assert(f.upper[34] - f.lower[34] >= f.upper[0] - f.lower[0], "intervals do not narrow");
    mm_forecast_clear(&f);
    mm_forecast_clear(&f_sn);
    mm_forecast_clear(&f_ets);
    mm_model_destroy(ens);
    mm_model_destroy(sn);
    mm_model_destroy(ets);
    mm_train_result_clear(&res);
    mm_train_result_clear(&r_sn);
    mm_train_result_clear(&r_ets);
    td_free(&ts);
}

Test(ensemble, combination_is_closer_to_the_truth_than_either_member) {
    /* what combination is for, on the continuation of the process (mean
     * absolute error against the noiseless pattern, over several series) */
    double mae_ens = 0, mae_sn = 0, mae_ets = 0;
    for (uint64_t seed = 10; seed < 16; seed++) {
        td_series_t ts;
        pattern_series(&ts, 400, seed);
        mm_model_config_t cfg = pair_cfg(PAIR), c_sn = pair_cfg(BIT(MM_ALGO_SNAIVE)),
                          c_ets = pair_cfg(BIT(MM_ALGO_ETS));
        mm_train_result_t res, r_sn, r_ets;
        train_ok(&cfg, &ts, &res);
        train_ok(&c_sn, &ts, &r_sn);
        train_ok(&c_ets, &ts, &r_ets);
        cr_assert_eq(res.algorithm, MM_ALGO_ENSEMBLE, "seed %llu", (unsigned long long)seed);
        mm_model_t *ens = load_ok(&res), *sn = load_ok(&r_sn), *ets = load_ok(&r_ets);
        mm_forecast_t f, f_sn, f_ets;
        forecast_ok(ens, 28, &f);
        forecast_ok(sn, 28, &f_sn);
        forecast_ok(ets, 28, &f_ets);
        for (size_t k = 0; k < 28; k++) {
            double truth = pattern_truth(400 + k);
            mae_ens += fabs(f.mean[k] - truth);
            mae_sn += fabs(f_sn.mean[k] - truth);
            mae_ets += fabs(f_ets.mean[k] - truth);
        }
        mm_forecast_clear(&f);
        mm_forecast_clear(&f_sn);
        mm_forecast_clear(&f_ets);
        mm_model_destroy(ens);
        mm_model_destroy(sn);
        mm_model_destroy(ets);
        mm_train_result_clear(&res);
        mm_train_result_clear(&r_sn);
        mm_train_result_clear(&r_ets);
        td_free(&ts);
    }
    cr_log_info("MAE vs truth: ensemble %.3f, snaive %.3f, ses %.3f", mae_ens / 168, mae_sn / 168,
                mae_ets / 168);
    cr_assert(mae_ens < mae_sn && mae_ens < mae_ets, "ensemble %.3f, snaive %.3f, ses %.3f",
              mae_ens / 168, mae_sn / 168, mae_ets / 168);
}

/* ------------------------------------------------------------ artifacts */

static bool contains(const uint8_t *bytes, size_t len, const char *text) {
    size_t n = strlen(text);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(bytes + i, text, n) == 0) return true;
    return false;
}

Test(ensemble, artifact_carries_the_members_and_round_trips_byte_exact) {
    td_series_t ts;
    pattern_series(&ts, 400, 3);
    mm_model_config_t cfg = pair_cfg(PAIR);
    mm_train_result_t res, again_res;
    train_ok(&cfg, &ts, &res);
    train_ok(&cfg, &ts, &again_res);
    cr_assert_eq(res.algorithm, MM_ALGO_ENSEMBLE);
    cr_assert(res.artifact_len == again_res.artifact_len &&
                  memcmp(res.artifact, again_res.artifact, res.artifact_len) == 0,
              "deterministic");
    mm_model_t *model = load_ok(&res);
    cr_assert_eq(mm_model_algorithm(model), MM_ALGO_ENSEMBLE);
    mm_algo_t algos[MM_MODEL_MAX_ENSEMBLE];
    double w[MM_MODEL_MAX_ENSEMBLE];
    cr_assert_eq(mm_model_members(model, algos, w, MM_MODEL_MAX_ENSEMBLE), res.n_members);
    for (size_t i = 0; i < res.n_members; i++) {
        cr_assert_eq(algos[i], res.members[i]);
        cr_assert_eq(w[i], res.member_weights[i]);
    }
    cr_assert_eq(mm_model_members(model, NULL, NULL, 0), 2);
    cr_assert(mm_model_memory_size(model) > 7 * sizeof(double));
    /* self-describing: each member's parameters under its prefix */
    static const char *const names[] = {"members", "weights", "m0.last_season", "m1.alpha"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        cr_assert(contains(res.artifact, res.artifact_len, names[i]), "%s", names[i]);
    uint8_t *bytes;
    size_t len;
    char errstr[256] = "";
    cr_assert_eq(mm_models__serialize(model, &bytes, &len, errstr, sizeof errstr), MM_OK);
    cr_assert(len == res.artifact_len && memcmp(bytes, res.artifact, len) == 0, "byte-exact");
    free(bytes);
    mm_model_destroy(model);

    /* a single model lists itself */
    mm_model_config_t one = pair_cfg(BIT(MM_ALGO_SNAIVE));
    mm_train_result_t r1;
    train_ok(&one, &ts, &r1);
    model = load_ok(&r1);
    cr_assert_eq(mm_model_members(model, algos, w, MM_MODEL_MAX_ENSEMBLE), 1);
    cr_assert(algos[0] == MM_ALGO_SNAIVE && w[0] == 1.0);
    mm_model_destroy(model);
    mm_train_result_clear(&r1);
    mm_train_result_clear(&res);
    mm_train_result_clear(&again_res);
    td_free(&ts);
}

/* Members' parameters as a writer would store them (through the ops). */
static void member_params(mm_models__params_t *ps, const double *ids, const double *w, size_t k) {
    mm_models__params_add(ps, "members", ids, k);
    mm_models__params_add(ps, "weights", w, k);
    double last[7] = {1, 2, 3, 4, 5, 6, 7};
    for (size_t i = 0; i < k; i++) {
        char name[64];
        snprintf(name, sizeof name, "m%zu.sigma", i);
        mm_models__params_add1(ps, name, 1.0);
        snprintf(name, sizeof name, "m%zu.last_season", i);
        mm_models__params_add(ps, name, last, 7);
    }
}

static mm_err_t load_members(const double *ids, const double *w, size_t k) {
    mm_models__params_t ps = {0};
    member_params(&ps, ids, w, k);
    mm_model_config_t cfg = pair_cfg(PAIR);
    void *state = NULL;
    char errstr[256] = "";
    mm_err_t err = mm_ensemble_ops.load(&ps, &cfg, &state, errstr, sizeof errstr);
    if (err == MM_OK) {
        cr_assert_not_null(state);
        mm_ensemble_ops.destroy(state);
    } else {
        cr_assert_null(state);
        cr_assert(errstr[0] != '\0', "a reason is given");
    }
    mm_models__params_clear(&ps);
    return err;
}

Test(ensemble, stored_members_are_checked_on_load) {
    const double sn = MM_ALGO_SNAIVE, half[2] = {0.5, 0.5};
    cr_assert_eq(load_members((double[]){sn, sn}, half, 2), MM_OK);
    cr_assert_eq(load_members((double[]){sn, 99}, half, 2), MM_ERR_UNSUPPORTED,
                 "a member this build does not know");
    cr_assert_eq(load_members((double[]){sn, MM_ALGO_ENSEMBLE}, half, 2), MM_ERR_PARSE,
                 "no nesting");
    cr_assert_eq(load_members((double[]){sn, MM_ALGO_LOGISTIC}, half, 2), MM_ERR_PARSE,
                 "a classifier cannot forecast");
    cr_assert_eq(load_members((double[]){sn, sn}, (double[]){0.5, -0.5}, 2), MM_ERR_PARSE);
    cr_assert_eq(load_members((double[]){sn, sn}, (double[]){0.5, NAN}, 2), MM_ERR_PARSE);
    cr_assert_eq(load_members((double[]){sn, 1.5}, half, 2), MM_ERR_UNSUPPORTED);
    double five[5] = {sn, sn, sn, sn, sn}, w5[5] = {.2, .2, .2, .2, .2};
    cr_assert_eq(load_members(five, w5, 5), MM_ERR_PARSE, "more than MM_MODEL_MAX_ENSEMBLE");

    /* the second member's parameters are missing */
    mm_models__params_t ps = {0};
    mm_models__params_add(&ps, "members", (double[]){sn, sn}, 2);
    mm_models__params_add(&ps, "weights", half, 2);
    mm_models__params_add1(&ps, "m0.sigma", 1.0);
    mm_models__params_add(&ps, "m0.last_season", half, 2);
    mm_model_config_t cfg = pair_cfg(PAIR);
    void *state = NULL;
    char errstr[256] = "";
    cr_assert_eq(mm_ensemble_ops.load(&ps, &cfg, &state, errstr, sizeof errstr), MM_ERR_PARSE);
    cr_assert(strstr(errstr, "snaive") != NULL, "%s", errstr);
    cr_assert_null(state);
    mm_models__params_clear(&ps);
}

Test(ensemble, fitting_an_ensemble_directly_is_refused) {
    td_series_t ts;
    pattern_series(&ts, 100, 4);
    mm_model_config_t cfg = pair_cfg(PAIR);
    mm_models__view_t v = {.cfg = &cfg, .n = ts.n, .time_ms = ts.t, .y = ts.y};
    void *state = NULL;
    char errstr[256] = "";
    cr_assert_eq(mm_models__ops(MM_ALGO_ENSEMBLE)->fit(&v, &state, errstr, sizeof errstr),
                 MM_ERR_INVALID_ARG);
    cr_assert_null(state);
    cr_assert(strstr(errstr, "selection") != NULL, "%s", errstr);
    td_free(&ts);
}

/* ------------------------------------------------------------ selection settings */

Test(ensemble, selection_settings_are_validated) {
    mm_model_config_t cfg;
    char errstr[256] = "";
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cr_assert_eq(cfg.ensemble_max, 2);
    cr_assert_eq(cfg.xgb_min_history, 1000);
    cfg.ensemble_max = 0; /* the default */
    cfg.xgb_min_history = -1;
    cr_assert_eq(mm_model_config_validate(&cfg, errstr, sizeof errstr), MM_OK, "%s", errstr);
    cfg.ensemble_max = MM_MODEL_MAX_ENSEMBLE + 1;
    cr_assert_eq(mm_model_config_validate(&cfg, errstr, sizeof errstr), MM_ERR_CONFIG);
    cr_assert(strstr(errstr, "ensemble_max") != NULL, "%s", errstr);
    cfg.ensemble_max = -1;
    cr_assert_eq(mm_model_config_validate(&cfg, errstr, sizeof errstr), MM_ERR_CONFIG);
    cfg.ensemble_max = 2;
    cfg.xgb_min_history = -2;
    cr_assert_eq(mm_model_config_validate(&cfg, errstr, sizeof errstr), MM_ERR_CONFIG);
    cr_assert(strstr(errstr, "xgb_min_history") != NULL, "%s", errstr);
    /* the name is known, but it is an outcome, never a fallback */
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cfg.fallback = MM_ALGO_ENSEMBLE;
    cr_assert_eq(mm_model_config_validate(&cfg, errstr, sizeof errstr), MM_ERR_CONFIG);
    mm_algo_t a;
    cr_assert(mm_algo_parse("ensemble", &a) && a == MM_ALGO_ENSEMBLE);
}

static bool tries_xgboost(const mm_model_config_t *cfg, const td_series_t *ts) {
    mm_train_result_t res;
    train_ok(cfg, ts, &res);
    bool tried = isfinite(res.per_algo[MM_ALGO_XGBOOST].v[MM_METRIC_MASE]);
    mm_train_result_clear(&res);
    return tried;
}

Test(ensemble, default_candidates_add_xgboost_on_long_histories_only) {
    td_series_t ts;
    td_seasonal(&ts, 400, 8, 100, 0.05, 10, 3);
    mm_model_config_t cfg;
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cfg.xgb_rounds = 10;
    cfg.xgb_min_history = 400;
    cr_assert(tries_xgboost(&cfg, &ts), "400 points reach xgb_min_history 400");
    cfg.xgb_min_history = 401;
    cr_assert_not(tries_xgboost(&cfg, &ts));
    cfg.xgb_min_history = -1;
    cr_assert_not(tries_xgboost(&cfg, &ts), "-1: never");
    cfg.xgb_min_history = 0; /* the default, 1000 */
    cr_assert_not(tries_xgboost(&cfg, &ts));
    /* a list of candidates is taken as given */
    cfg.xgb_min_history = 100;
    cfg.candidates = BIT(MM_ALGO_AUTO) | BIT(MM_ALGO_RIDGE) | BIT(MM_ALGO_ETS);
    cr_assert_not(tries_xgboost(&cfg, &ts));
    cfg.candidates = BIT(MM_ALGO_AUTO); /* nothing named: the defaults */
    cr_assert(tries_xgboost(&cfg, &ts));
    td_free(&ts);
}

Test(ensemble, selection_settings_travel_in_their_own_artifact_section) {
    td_series_t ts;
    pattern_series(&ts, 400, 5);
    mm_model_config_t cfg = pair_cfg(PAIR);
    cfg.ensemble_max = 3;
    cfg.xgb_min_history = -1;
    mm_train_result_t res;
    train_ok(&cfg, &ts, &res);
    mm_model_t *model = load_ok(&res);
    cr_assert_eq(mm_model_config(model)->ensemble_max, 3);
    cr_assert_eq(mm_model_config(model)->xgb_min_history, -1);
    mm_forecast_t want;
    forecast_ok(model, 7, &want);
    mm_model_destroy(model);

    /* without section 5 (an artifact from before it): the defaults, same forecast */
    size_t len;
    uint8_t *old = td_artifact_edit(res.artifact, res.artifact_len, 5, NULL, 0, &len);
    cr_assert(len < res.artifact_len);
    mm_model_t *old_model = NULL;
    char errstr[256] = "";
    cr_assert_eq(mm_model_load(old, len, &old_model, errstr, sizeof errstr), MM_OK, "%s", errstr);
    cr_assert_eq(mm_model_config(old_model)->ensemble_max, 0);
    cr_assert_eq(mm_model_config(old_model)->xgb_min_history, 0);
    mm_forecast_t got;
    forecast_ok(old_model, 7, &got);
    cr_assert(memcmp(got.mean, want.mean, 7 * sizeof(double)) == 0);
    mm_forecast_clear(&got);
    mm_model_destroy(old_model);
    free(old);

    /* a section from a later writer is skipped */
    static const uint8_t later[] = {99, 0, 3, 0, 0, 0, 'n', 'e', 'w'};
    uint8_t *newer =
        td_artifact_edit(res.artifact, res.artifact_len, 0xffff, later, sizeof later, &len);
    mm_model_t *newer_model = NULL;
    cr_assert_eq(mm_model_load(newer, len, &newer_model, errstr, sizeof errstr), MM_OK, "%s",
                 errstr);
    forecast_ok(newer_model, 7, &got);
    cr_assert(memcmp(got.mean, want.mean, 7 * sizeof(double)) == 0);
    mm_forecast_clear(&got);
    mm_model_destroy(newer_model);
    free(newer);
    mm_forecast_clear(&want);
    mm_train_result_clear(&res);
    td_free(&ts);
}
