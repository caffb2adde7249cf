/*
 * ets.c - exponential smoothing (Holt-Winters family) as additive-error
 * innovations state-space models, fitted by maximum likelihood with NLopt,
 * the form chosen by AICc in the spirit of R's forecast::ets.
 *
 * Forms: trend none / additive / damped additive, times season none /
 * additive / multiplicative (multiplicative only for strictly positive
 * data). Equations and parameter names follow Hyndman, Koehler, Ord & Snyder
 * (2008) and statsmodels' ETSModel (error="add"), which the golden tests hold
 * us to:
 *
 *   yhat_t = (l + phi b) + s_{t-m}              (additive season)
 *          = (l + phi b) * s_{t-m}              (multiplicative season)
 *   e_t    = y_t - yhat_t
 *   l_t    = l + phi b + alpha e_t [/ s_{t-m}]
 *   b_t    = phi b + beta e_t [/ s_{t-m}]
 *   s_t    = s_{t-m} + gamma e_t [/ (l + phi b)]
 *
 * with the usual admissible region 0 < alpha < 1, 0 < beta < alpha,
 * 0 < gamma < 1 - alpha, 0.8 <= phi <= 0.98 (enforced through beta* =
 * beta/alpha and gamma* = gamma/(1-alpha) in (0,1)). Initial level, trend
 * and m-1 seasonal states are estimated too (the seasonal states sum to 0,
 * or to m when multiplicative). Missing targets (NaN) do not update the
 * states' error term and do not count in the likelihood.
 *
 * With every form allowed, the trend is chosen by AICc among the
 * additive-season forms first, and the no-season and multiplicative forms
 * are fitted with that trend only (5 fits instead of 9; the same accuracy on
 * the sales benchmark, bench/models/RESULTS.md).
 *
 * This file is the algorithm: the forms to try, the choice by AICc, and
 * storing and loading the fitted model. The model (filter, forecast) is
 * ets_model.c; fitting one form is ets_fit.c.
 *
 * Workload: a series of a few hundred to a few thousand points, fitted in
 * about a millisecond per form: the filter is a tight loop over the data;
 * the optimiser (BOBYQA, derivative-free with bounds) works on parameters
 * scaled to order one; the starting point is the heuristic initialisation
 * of Hyndman et al. (2008, section 2.6.1), as statsmodels does it.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models_int.h"

/* ------------------------------------------------------------ the ETS algorithm */

static mm_err_t ets_fit(const mm_models__view_t *v, void **state, char *errstr,
                        size_t errstr_size) {
    *state = NULL;
    const mm_model_config_t *cfg = v->cfg;
    int m = cfg->season_length > 1 ? cfg->season_length : 1;
    bool positive = true;
    size_t nobs = 0;
    for (size_t i = 0; i < v->n; i++) {
        if (isnan(v->y[i])) continue;
        nobs++;
        if (!(v->y[i] > 0)) positive = false;
    }
    bool trends[3] = {false, false, false}, seasons[3] = {false, false, false};
    switch (cfg->ets_trend) {
    case MM_ETS_TREND_NONE:
        trends[MM_ETS_T_NONE] = true;
        break;
    case MM_ETS_TREND_ADD:
        trends[MM_ETS_T_ADD] = true;
        break;
    case MM_ETS_TREND_DAMPED:
        trends[MM_ETS_T_DAMPED] = true;
        break;
    default:
        trends[0] = trends[1] = trends[2] = true;
        break;
    }
    switch (cfg->ets_season) {
    case MM_ETS_SEASON_NONE:
        seasons[MM_ETS_S_NONE] = true;
        break;
    case MM_ETS_SEASON_ADD:
        seasons[MM_ETS_S_ADD] = true;
        break;
    case MM_ETS_SEASON_MUL:
        seasons[MM_ETS_S_MUL] = true;
        break;
    default:
        seasons[MM_ETS_S_NONE] = true;
        seasons[MM_ETS_S_ADD] = m > 1;
        seasons[MM_ETS_S_MUL] = m > 1 && positive;
        break;
    }
    mm_ets_t *best = malloc(sizeof *best), *cand = malloc(sizeof *cand);
    if (!best || !cand) {
        free(best);
        free(cand);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "ets: out of memory");
    }
    bool have = false;
    char why[192] = "no form allowed";
    /* With every trend and several seasons to try, the trend is chosen
     * among the additive-season forms first and the other seasons are
     * fitted with that trend only: 5 fits instead of 9 (bench/models/
     * RESULTS.md). */
    bool prescreen = trends[0] && trends[1] && trends[2] && seasons[MM_ETS_S_ADD] &&
                     (seasons[MM_ETS_S_NONE] || seasons[MM_ETS_S_MUL]);
    static const int order[3] = {MM_ETS_S_ADD, MM_ETS_S_NONE, MM_ETS_S_MUL};
    for (int si = 0; si < 3; si++) {
        int s = order[si];
        if (prescreen && si == 1 && have) {
            for (int t = 0; t < 3; t++) trends[t] = t == (int)best->trend;
        }
        for (int t = 0; t < 3; t++) {
            if (!seasons[s] || !trends[t]) continue;
            mm_err_t err = mm_ets_fit_form(v->y, v->n, m, (mm_ets_trend_t)t, (mm_ets_season_t)s,
                                           cand, why, sizeof why);
            if (err != MM_OK) continue;
            /* Strictly better AICc wins, so ties keep the form tried first. */
            if (!have || cand->aicc < best->aicc) {
                mm_ets_t *tmp = best;
                best = cand;
                cand = tmp;
                have = true;
            }
        }
    }
    free(cand);
    if (!have) {
        free(best);
        return mm_errf(MM_ERR_INSUFFICIENT_DATA, errstr, errstr_size, "ets: %s", why);
    }
    (void)nobs;
    *state = best;
    return MM_OK;
}

static mm_err_t ets_forecast_op(const void *state, const mm_models__fcctx_t *fc, size_t h,
                                double *mean, double *sd, char *errstr, size_t errstr_size) {
    (void)fc;
    (void)errstr;
    (void)errstr_size;
    mm_ets_forecast(state, h, mean, sd);
    return MM_OK;
}

static mm_err_t ets_advance(const void *state, const mm_model_config_t *cfg, const double *hist,
                            size_t n_hist, size_t n_new, void **out, char *errstr,
                            size_t errstr_size) {
    (void)cfg;
    *out = NULL;
    mm_ets_t *e = malloc(sizeof *e);
    if (!e) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "ets: out of memory");
    memcpy(e, state, sizeof *e);
    if (!mm_ets_extend(e, hist + (n_hist - n_new), n_new)) {
        free(e);
        return mm_errf(MM_ERR_NUMERIC, errstr, errstr_size,
                       "ets: the states leave the admissible region over the %zu new points",
                       n_new);
    }
    *out = e;
    return MM_OK;
}

static mm_err_t ets_save(const void *state, mm_models__params_t *ps) {
    const mm_ets_t *e = state;
    size_t m = e->season != MM_ETS_S_NONE ? (size_t)e->m : 0;
    double form[3] = {(double)e->trend, (double)e->season, (double)e->m};
    mm_err_t err = mm_models__params_add(ps, "form", form, 3);
    if (!err) err = mm_models__params_add1(ps, "alpha", e->alpha);
    if (!err && mm_ets_has_trend(e)) err = mm_models__params_add1(ps, "beta", e->beta);
    if (!err && m) err = mm_models__params_add1(ps, "gamma", e->gamma);
    if (!err && e->trend == MM_ETS_T_DAMPED) err = mm_models__params_add1(ps, "phi", e->phi);
    if (!err) err = mm_models__params_add1(ps, "initial_level", e->l0);
    if (!err && mm_ets_has_trend(e)) err = mm_models__params_add1(ps, "initial_trend", e->b0);
    if (!err && m) err = mm_models__params_add(ps, "initial_seasonal", e->s0, m);
    if (!err) err = mm_models__params_add1(ps, "level", e->level);
    if (!err && mm_ets_has_trend(e)) err = mm_models__params_add1(ps, "trend", e->slope);
    if (!err && m) err = mm_models__params_add(ps, "seasonal", e->s_end, m);
    double fit[4] = {e->sigma2, e->loglik, e->aicc, (double)e->nobs};
    if (!err) err = mm_models__params_add(ps, "sigma2_loglik_aicc_nobs", fit, 4);
    return err;
}

static bool get1(const mm_models__params_t *ps, const char *name, double *out) {
    const mm_models__param_t *p = mm_models__params_get(ps, name, 1);
    if (!p || p->kind != MM_MODELS__PARAM_F64) return false;
    *out = p->v[0];
    return true;
}

static mm_err_t ets_load(const mm_models__params_t *ps, const mm_model_config_t *cfg, void **state,
                         char *errstr, size_t errstr_size) {
    (void)cfg;
    *state = NULL;
    const mm_models__param_t *form = mm_models__params_get(ps, "form", 3);
    const mm_models__param_t *fit = mm_models__params_get(ps, "sigma2_loglik_aicc_nobs", 4);
    if (!form || !fit || form->kind != MM_MODELS__PARAM_F64 || fit->kind != MM_MODELS__PARAM_F64)
        return mm_errf(MM_ERR_PARSE, errstr, errstr_size, "artifact: ets form missing");
    double t = form->v[0], s = form->v[1], mm = form->v[2];
    if (!(t == 0 || t == 1 || t == 2) || !(s == 0 || s == 1 || s == 2) || !(mm >= 1) ||
        !(mm <= MM_ETS_MAX_SEASON) || mm != floor(mm))
        return mm_errf(MM_ERR_PARSE, errstr, errstr_size, "artifact: ets form out of range");
    mm_ets_t *e = calloc(1, sizeof *e);
    if (!e) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "ets: out of memory");
    e->trend = (mm_ets_trend_t)t;
    e->season = (mm_ets_season_t)s;
    e->m = (int)mm;
    e->phi = 1.0;
    size_t m = e->season != MM_ETS_S_NONE ? (size_t)e->m : 0;
    bool ok = get1(ps, "alpha", &e->alpha) && get1(ps, "initial_level", &e->l0) &&
              get1(ps, "level", &e->level);
    if (ok && mm_ets_has_trend(e))
        ok = get1(ps, "beta", &e->beta) && get1(ps, "initial_trend", &e->b0) &&
             get1(ps, "trend", &e->slope);
    if (ok && e->trend == MM_ETS_T_DAMPED) ok = get1(ps, "phi", &e->phi);
    if (ok && m) {
        const mm_models__param_t *s0 = mm_models__params_get(ps, "initial_seasonal", m);
        const mm_models__param_t *se = mm_models__params_get(ps, "seasonal", m);
        ok = get1(ps, "gamma", &e->gamma) && s0 && se && s0->kind == MM_MODELS__PARAM_F64 &&
             se->kind == MM_MODELS__PARAM_F64;
        if (ok) {
            memcpy(e->s0, s0->v, m * sizeof(double));
            memcpy(e->s_end, se->v, m * sizeof(double));
        }
    }
    if (!ok) {
        free(e);
        return mm_errf(MM_ERR_PARSE, errstr, errstr_size, "artifact: ets parameters incomplete");
    }
    e->sigma2 = fit->v[0];
    e->loglik = fit->v[1];
    e->aicc = fit->v[2];
    e->nobs = fit->v[3] >= 0 && fit->v[3] < 1e18 ? (size_t)fit->v[3] : 0;
    e->n_params = mm_ets_count_params(e);
    *state = e;
    return MM_OK;
}

/* The later backtest windows refit the form the first one chose by AICc
 * (bench/models/RESULTS.md, 2026-12-02: the choice rarely changes between
 * windows 28 points apart, and choosing costs 5 fits instead of 1). */
static void ets_settle(const void *state, mm_model_config_t *cfg) {
    const mm_ets_t *e = state;
    static const int trend_form[3] = {MM_ETS_TREND_NONE, MM_ETS_TREND_ADD, MM_ETS_TREND_DAMPED};
    static const int season_form[3] = {MM_ETS_SEASON_NONE, MM_ETS_SEASON_ADD, MM_ETS_SEASON_MUL};
    cfg->ets_trend = trend_form[e->trend];
    cfg->ets_season = season_form[e->season];
}

static void ets_destroy(void *state) {
    free(state);
}

static size_t ets_memsize(const void *state) {
    (void)state;
    return sizeof(mm_ets_t);
}

const mm_models__ops_t mm_ets_ops = {
    .algo = MM_ALGO_ETS,
    .task = MM_TASK_FORECAST,
    .fit = ets_fit,
    .forecast = ets_forecast_op,
    .save = ets_save,
    .load = ets_load,
    .destroy = ets_destroy,
    .memsize = ets_memsize,
    .advance = ets_advance,
    .settle = ets_settle,
};
