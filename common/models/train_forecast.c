/*
 * train_forecast.c - training a forecasting key: for each candidate
 * algorithm, a rolling-origin backtest (backtest.c); the candidates ranked
 * by the selection metric; the best two (up to ensemble_max) tried as a
 * combination, scored on the same windows from their window forecasts, and
 * kept if it backtests strictly better than the best one alone; the winner
 * (or every member) refitted on all data, except ETS, whose last
 * backtest window's fit is taken over (moved over the last holdout where new
 * points move its state: mm_models__backtest_take), and ridge, whose fit on
 * all data came with its windows' (one pass); the backtest residual
 * spread kept for intervals where the model has no analytic ones. Seasonal
 * naive is always backtested: it is the baseline. XGBoost joins the automatic
 * candidates on long histories (xgb_min_history), where its trees have the
 * rows to beat the linear model; below that, the adjustments say it was left
 * out (a listed XGBoost is always tried). A key short for the config is fitted
 * without a season, or with shorter lags, when that lets it backtest
 * (mm_train_result_t.adjustments). Without enough data, or when nothing
 * can be backtested, the declared fallback is fitted on all data.
 *
 * Workload: one call per key on a trainer worker thread; re-entrant (no
 * globals besides constant tables) and deterministic.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models_int.h"

/* Fewest points a backtest window trains on, besides two seasons. */
#define MIN_TRAIN_POINTS 8

/* What selection knows after the backtests. */
typedef struct selection {
    mm_models__backtest_t bts[MM_ALGO__COUNT];
    mm_algo_t rank[MM_ALGO__COUNT]; /* backtested candidates, best first */
    size_t n_rank;
    mm_models__backtest_t combo; /* the best combination tried (combo.ok) */
    size_t combo_k;
    double combo_w[MM_MODEL_MAX_ENSEMBLE];
} selection_t;

static void selection_free(selection_t *sel) {
    for (int a = 0; a < MM_ALGO__COUNT; a++) mm_models__backtest_free(&sel->bts[a]);
    mm_models__backtest_free(&sel->combo);
}

/* The fallback reason is advisory text: truncation is acceptable. */
static void set_reason(mm_train_result_t *out, bool append, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_reason(mm_train_result_t *out, bool append, const char *fmt, ...) {
    size_t used = append ? strlen(out->fallback_reason) : 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->fallback_reason + used, sizeof out->fallback_reason - used, fmt, ap);
    va_end(ap);
}

static mm_models__view_t full_view(const mm_model_config_t *cfg, const mm_series_t *s) {
    mm_models__view_t v = {.cfg = cfg,
                           .n = s->n,
                           .time_ms = s->time_ms,
                           .y = s->y,
                           .n_exog = s->n_exog,
                           .exog = s->exog};
    return v;
}

static mm_err_t fit_final(mm_model_t *model, const mm_series_t *s, char *errstr,
                          size_t errstr_size) {
    mm_models__view_t v = full_view(&model->cfg, s);
    return mm_models__fit_windowed(model->ops, &v, &model->state, errstr, errstr_size);
}

/* The candidates to backtest; when the defaults leave XGBoost out for want of
 * rows, out->adjustments says so (a listed XGBoost is always tried). */
static uint32_t eligible_candidates(const mm_model_config_t *cfg, size_t n,
                                    mm_train_result_t *out) {
    uint32_t listed = cfg->candidates & MM_MODELS__FORECAST_ALGOS;
    uint32_t defaults = MM_MODELS__DEFAULT_FORECAST_CANDIDATES & MM_MODELS__FORECAST_ALGOS;
    uint32_t eligible = listed ? listed : defaults;
    bool default_candidates =
        listed == 0 || (listed == defaults && (cfg->candidates & MM_MODELS__BIT(MM_ALGO_AUTO)));
    if (!default_candidates || cfg->xgb_min_history < 0) return eligible;
    if (n >= (size_t)cfg->xgb_min_history)
        eligible |= MM_MODELS__BIT(MM_ALGO_XGBOOST); /* a long history: the trees have the rows */
    else
        mm_models__note_adjustment(out, "xgboost left out: %zu points are below xgb_min_history %d",
                                   n, cfg->xgb_min_history);
    return eligible;
}

/* Backtest every eligible candidate and the baseline, and rank them. */
static mm_err_t measure_candidates(const mm_model_config_t *cfg, const mm_series_t *s, bool nonneg,
                                   selection_t *sel, mm_train_result_t *out, char *why,
                                   size_t why_size) {
    uint32_t eligible = eligible_candidates(cfg, s->n, out);
    uint32_t measured = eligible | MM_MODELS__BIT(MM_ALGO_SNAIVE); /* the baseline, always */
    for (int a = 0; a < MM_ALGO__COUNT; a++) {
        if (!(measured & MM_MODELS__BIT(a))) continue;
        mm_err_t err = mm_models__backtest_run(cfg, s, mm_models__ops((mm_algo_t)a), nonneg,
                                               &sel->bts[a], why, why_size);
        if (err != MM_OK) return err;
        if (sel->bts[a].ok) out->per_algo[a] = sel->bts[a].metrics;
    }
    mm_metric_id_t id = cfg->selection_metric;
    sel->n_rank = mm_models__rank_candidates(id, sel->bts, eligible, sel->rank);
    if (sel->n_rank == 0) {
        /* No finite selection metric anywhere (a flat history makes MASE
         * undefined): the best by RMSE, alone. */
        sel->n_rank =
            mm_models__rank_candidates(MM_METRIC_RMSE, sel->bts, eligible, sel->rank) > 0 ? 1 : 0;
    }
    return MM_OK;
}

/* The best combination of the best k, k = 2..ensemble_max. */
static mm_err_t best_combination(const mm_model_config_t *cfg, const mm_series_t *s,
                                 selection_t *sel, mm_train_result_t *out, char *why,
                                 size_t why_size) {
    mm_metric_id_t id = cfg->selection_metric;
    size_t k_max =
        (size_t)cfg->ensemble_max < sel->n_rank ? (size_t)cfg->ensemble_max : sel->n_rank;
    mm_err_t err = MM_OK;
    for (size_t k = 2; err == MM_OK && k <= k_max; k++) {
        double w[MM_MODEL_MAX_ENSEMBLE];
        mm_models__backtest_t cb;
        mm_models__combination_weights(id, sel->bts, sel->rank, k, w);
        err = mm_models__combine_backtest(cfg, s, sel->bts, sel->rank, w, k, &cb, why, why_size);
        if (err == MM_OK && cb.ok &&
            (!sel->combo.ok || mm_models__better(id, cb.metrics.v[id], sel->combo.metrics.v[id]))) {
            mm_models__backtest_free(&sel->combo);
            sel->combo = cb;
            sel->combo_k = k;
            memcpy(sel->combo_w, w, k * sizeof(double));
        } else {
            mm_models__backtest_free(&cb);
        }
    }
    if (sel->combo.ok) out->per_algo[MM_ALGO_ENSEMBLE] = sel->combo.metrics;
    return err;
}

/* Refit the combination's members on all data; false when a member's refit
 * fails although its windows worked (the best candidate alone then). */
static bool adopt_combination(mm_model_t *model, const mm_series_t *s, selection_t *sel, char *why,
                              size_t why_size) {
    size_t K = (size_t)model->cfg.backtest_windows, H = (size_t)model->cfg.holdout;
    model->algo = MM_ALGO_ENSEMBLE;
    model->ops = &mm_ensemble_ops;
    model->metrics = sel->combo.metrics;
    mm_models__residual_spread(sel->combo.err, K, H, model->interval_sd);
    mm_models__view_t v = full_view(&model->cfg, s);
    void *given[MM_MODEL_MAX_ENSEMBLE] = {NULL};
    for (size_t i = 0; i < sel->combo_k; i++)
        mm_models__backtest_take(&sel->bts[sel->rank[i]], &model->cfg, s, &given[i]);
    if (mm_models__ensemble_fit_given(&v, sel->combo_k, sel->rank, sel->combo_w, given,
                                      &model->state, why, why_size) != MM_OK) {
        model->state = NULL;
        return false;
    }
    return true;
}

/* The selected model refitted on all data; model->state stays NULL when
 * nothing could be selected or refitted (the caller fits the fallback). */
static mm_err_t adopt_selection(mm_model_t *model, const mm_series_t *s, selection_t *sel,
                                mm_train_result_t *out, char *why, size_t why_size) {
    size_t K = (size_t)model->cfg.backtest_windows, H = (size_t)model->cfg.holdout;
    mm_metric_id_t id = model->cfg.selection_metric;
    if (sel->bts[MM_ALGO_SNAIVE].ok) model->baseline = sel->bts[MM_ALGO_SNAIVE].metrics;
    if (sel->n_rank == 0) {
        set_reason(out, false, "no candidate could be backtested (%s)", why);
        return MM_OK;
    }
    model->n_interval_sd = H;
    model->interval_sd = malloc(H * sizeof(double));
    if (!model->interval_sd) return mm_errf(MM_ERR_NOMEM, why, why_size, "out of memory");
    bool use_combo = sel->combo.ok && mm_models__better(id, sel->combo.metrics.v[id],
                                                        sel->bts[sel->rank[0]].metrics.v[id]);
    if (use_combo && adopt_combination(model, s, sel, why, why_size)) return MM_OK;
    mm_algo_t best = sel->rank[0];
    model->algo = best;
    model->ops = mm_models__ops(best);
    model->metrics = sel->bts[best].metrics;
    mm_models__residual_spread(sel->bts[best].err, K, H, model->interval_sd);
    mm_models__backtest_take(&sel->bts[best], &model->cfg, s, &model->state);
    if (!model->state && fit_final(model, s, why, why_size) != MM_OK) {
        /* the refit on all data failed although windows worked: fall back */
        set_reason(out, false, "%s refit failed: %s", mm_algo_name(best), why);
        model->state = NULL;
    }
    return MM_OK;
}

/* Drop the lags and rolling windows longer than @p max_lookback. */
static void drop_long_lags(mm_feature_config_t *f, size_t max_lookback) {
    size_t k = 0;
    for (size_t i = 0; i < f->n_lags; i++)
        if ((size_t)f->lags[i] <= max_lookback) f->lags[k++] = f->lags[i];
    f->n_lags = k;
    k = 0;
    for (size_t i = 0; i < f->n_windows; i++)
        if ((size_t)f->windows[i] <= max_lookback) f->windows[k++] = f->windows[i];
    f->n_windows = k;
}

/* A key whose history is short for the config still gets real candidates:
 * with as many backtest windows as it holds, without a season when two
 * seasons and the backtest do not fit (but the backtest and
 * MIN_TRAIN_POINTS do), and with the lags the first backtest window leaves
 * regression rows for. Nothing changes for a key that fits. */
static void fit_config_to_history(mm_model_config_t *cfg, size_t n, mm_train_result_t *out) {
    /* not even one window: falls back, the reason says why */
    if (!mm_models__fit_windows_to_history(cfg, n, MIN_TRAIN_POINTS, out)) return;
    size_t K = (size_t)cfg->backtest_windows, H = (size_t)cfg->holdout;
    size_t m = (size_t)cfg->season_length;
    if (m > 1 && n < K * H + 2 * m) {
        mm_models__note_adjustment(
            out,
            "season_length %zu -> 1: %zu points are too few for two seasons and %zu "
            "backtest windows of %zu",
            m, n, K, H);
        cfg->season_length = 1;
    }
    mm_models__layout_t lay;
    mm_models__layout_init(cfg, cfg->features.n_exog, &lay);
    size_t first_cut = n - K * H;
    size_t need = lay.width / MM_MODELS__ROWS_PER_FEATURE_DIVISOR;
    if (need < MM_MODELS__MIN_REGRESSION_ROWS) need = MM_MODELS__MIN_REGRESSION_ROWS;
    if (lay.max_lookback + need <= first_cut) return;
    size_t keep = first_cut > need ? first_cut - need : 0;
    drop_long_lags(&cfg->features, keep);
    mm_models__note_adjustment(
        out,
        "lags and windows over %zu dropped: the first backtest window trains on %zu "
        "points",
        keep, first_cut);
}

/* Backtest, select and refit, or say (out->fallback_reason) why not. */
static mm_err_t select_model(mm_model_t *model, const mm_series_t *s, mm_train_result_t *out,
                             char *why, size_t why_size) {
    const mm_model_config_t *cfg = &model->cfg;
    size_t n = s->n;
    if (n < (size_t)cfg->min_history) {
        set_reason(out, false, "%zu points is below min_history %d", n, cfg->min_history);
        return MM_OK;
    }
    fit_config_to_history(&model->cfg, n, out);
    size_t K = (size_t)cfg->backtest_windows, H = (size_t)cfg->holdout;
    size_t m = (size_t)cfg->season_length;
    size_t min_train = 2 * m > MIN_TRAIN_POINTS ? 2 * m : MIN_TRAIN_POINTS;
    if (n < K * H + min_train) {
        set_reason(out, false,
                   "%zu points are too few for %zu backtest windows of %zu plus %zu to train", n, K,
                   H, min_train);
        return MM_OK;
    }
    selection_t *sel = calloc(1, sizeof *sel);
    if (!sel) return mm_errf(MM_ERR_NOMEM, why, why_size, "out of memory");
    mm_err_t err = measure_candidates(cfg, s, model->nonneg, sel, out, why, why_size);
    if (err == MM_OK) err = best_combination(cfg, s, sel, out, why, why_size);
    if (err == MM_OK) err = adopt_selection(model, s, sel, out, why, why_size);
    selection_free(sel);
    free(sel);
    return err;
}

/* The declared fallback on all data, else seasonal naive (one point will do). */
static mm_err_t fit_fallback(mm_model_t *model, const mm_series_t *s, mm_train_result_t *out,
                             char *why, size_t why_size) {
    mm_algo_t fallback = model->cfg.fallback;
    out->fallback = true;
    model->algo = fallback;
    model->ops = mm_models__ops(fallback);
    mm_metrics_init(&model->metrics);
    free(model->interval_sd);
    model->interval_sd = NULL;
    model->n_interval_sd = 0;
    mm_err_t err = fit_final(model, s, why, why_size);
    if (err != MM_OK && fallback != MM_ALGO_SNAIVE) {
        /* the declared fallback itself needs more: seasonal naive needs one point */
        model->algo = MM_ALGO_SNAIVE;
        model->ops = &mm_snaive_ops;
        set_reason(out, true, "; %s impossible, snaive used", mm_algo_name(fallback));
        err = fit_final(model, s, why, why_size);
    }
    return err;
}

/* What scoring needs from the end of the data; then the artifact. */
static mm_err_t finish_model(mm_model_t *model, const mm_series_t *s, mm_train_result_t *out,
                             char *errstr, size_t errstr_size) {
    mm_models__layout_t lay;
    mm_models__layout_init(&model->cfg, s->n_exog, &lay);
    size_t tail = lay.max_lookback;
    if ((size_t)model->cfg.season_length > tail) tail = (size_t)model->cfg.season_length;
    if (tail < 1) tail = 1;
    if (tail > s->n) tail = s->n;
    model->n_tail = tail;
    model->tail = malloc(tail * sizeof(double));
    model->n_exog = s->n_exog;
    model->exog_last = malloc((s->n_exog + 1) * sizeof(double));
    if (!model->tail || !model->exog_last)
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "train: out of memory");
    memcpy(model->tail, s->y + s->n - tail, tail * sizeof(double));
    mm_models__last_known_exog(s->n_exog, s->exog, s->n, model->exog_last);
    model->data_end_ms = s->time_ms[s->n - 1];
    model->n_obs = s->n;
    model->state_bytes = model->ops->memsize ? model->ops->memsize(model->state) : 0;
    return mm_models__train_result_fill(model, out, errstr, errstr_size);
}

mm_err_t mm_models__train_forecast(const mm_model_config_t *cfg, const mm_series_t *s,
                                   mm_train_result_t *out, char *errstr, size_t errstr_size) {
    size_t n = s->n, nobs = 0;
    bool nonneg = true;
    for (size_t i = 0; i < n; i++) {
        if (isnan(s->y[i])) continue;
        nobs++;
        if (s->y[i] < 0) nonneg = false;
    }
    if (nobs < 1)
        return mm_errf(MM_ERR_INSUFFICIENT_DATA, errstr, errstr_size,
                       "train: no observed target value in %zu points", n);

    mm_model_t *model = mm_models__model_new(cfg);
    if (!model) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "train: out of memory");
    model->cfg.features.n_exog = s->n_exog;
    model->nonneg = nonneg;
    char why[256] = "";
    mm_err_t err = select_model(model, s, out, why, sizeof why);
    if (err != MM_OK) {
        mm_model_destroy(model);
        return mm_errf(err, errstr, errstr_size, "train: %s", why);
    }
    if (!model->state && fit_fallback(model, s, out, why, sizeof why) != MM_OK) {
        mm_model_destroy(model);
        return mm_errf(MM_ERR_INSUFFICIENT_DATA, errstr, errstr_size,
                       "train: not even the fallback fits: %s", why);
    }
    err = finish_model(model, s, out, errstr, errstr_size);
    mm_model_destroy(model);
    return err;
}
