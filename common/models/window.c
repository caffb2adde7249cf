/*
 * window.c - the capped training window: exponential smoothing and XGBoost,
 * the candidates whose fits cost most per point, are fitted on at most
 * cfg->train_window of the latest points of a view (in every backtest
 * window and in the refit); the others see the whole view.
 *
 * The cap only moves where a fit starts: the fitted state still ends at the
 * view's last point, so a forecast from it, and mm_model_forecast_from on
 * newer data (an advanced ETS state, lags read from the history), work as
 * for an uncapped fit. A cap below what a fit needs (two seasons, the
 * longest lag plus the fewest regression rows) is raised to it.
 *
 * ETS keeps its last backtest window's fit as the final model instead of a
 * refit on all data; XGBoost is refitted on all (capped) data (backtest.c).
 *
 * Workload: one call per fit; constant time (pointer arithmetic, no copy).
 */
#include "models_int.h"

bool mm_models__capped_algo(mm_algo_t algo) {
    return algo == MM_ALGO_ETS || algo == MM_ALGO_XGBOOST;
}

size_t mm_models__train_window_floor(const mm_model_config_t *cfg) {
    mm_models__layout_t lay;
    mm_models__layout_init(cfg, cfg->features.n_exog, &lay);
    size_t need = lay.width / MM_MODELS__ROWS_PER_FEATURE_DIVISOR;
    if (need < MM_MODELS__MIN_REGRESSION_ROWS) need = MM_MODELS__MIN_REGRESSION_ROWS;
    size_t regress = lay.max_lookback + need;
    size_t m = cfg->season_length > 1 ? (size_t)cfg->season_length : 1;
    size_t seasons = 4 * m;
    return regress > seasons ? regress : seasons;
}

void mm_models__view_window(const mm_models__view_t *v, mm_algo_t algo,
                            mm_models__window_view_t *out) {
    out->v = *v;
    int cap = v->cfg->train_window;
    if (cap <= 0 || !mm_models__capped_algo(algo)) return;
    size_t keep = (size_t)cap, floor = mm_models__train_window_floor(v->cfg);
    if (keep < floor) keep = floor;
    if (v->n <= keep) return;
    size_t off = v->n - keep;
    out->v.n = keep;
    out->v.time_ms = v->time_ms + off;
    out->v.y = v->y + off;
    for (size_t j = 0; j < v->n_exog && j < MM_MODEL_MAX_EXOG; j++)
        out->exog[j] = v->exog[j] ? v->exog[j] + off : NULL;
    out->v.exog = v->n_exog > 0 ? (const double *const *)out->exog : v->exog;
}

mm_err_t mm_models__fit_windowed(const mm_models__ops_t *ops, const mm_models__view_t *v,
                                 void **state, char *errstr, size_t errstr_size) {
    mm_models__window_view_t w;
    mm_models__view_window(v, ops->algo, &w);
    return ops->fit(&w.v, state, errstr, errstr_size);
}
