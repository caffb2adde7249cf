/*
 * regress.c - forecasting by regression on features: ridge (linear.c) and
 * XGBoost (xgb.c), through the shared learner plumbing (learner.c), fitted on rows of target lags,
 * rolling target means, calendar terms and exogenous values (features.c), and forecast recursively:
 * each step's prediction becomes a lag for the next.
 *
 * Training rows start once every lag is inside the data; rows whose target
 * is missing are skipped; a missing lag (a gap) stays NaN for the learner
 * to handle. At forecast time the exogenous values are the caller's known
 * future values, or the last known value carried forward.
 *
 * Workload: a few hundred to a few thousand rows per key; the recursive
 * forecast builds one row per step from a buffer of the last max-lag values.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models_int.h"

typedef struct regress {
    mm_algo_t algo;
    mm_models__layout_t lay;
    mm_models__learner_t learner; /* linear (ridge) or trees (xgboost) */
} regress_t;

static void regress_destroy(void *state) {
    regress_t *r = state;
    if (!r) return;
    mm_models__learner_free(&r->learner);
    free(r);
}

static size_t regress_memsize(const void *state) {
    const regress_t *r = state;
    return sizeof *r + mm_models__learner_memsize(&r->learner);
}

/* How trees are fitted: from scratch, or resumably (the booster kept for
 * the next backtest window), or continued from the previous window's. */
typedef struct tree_fit {
    bool resumable;
    mm_xgb_t *prev; /* continue from (its booster is taken), or NULL */
} tree_fit_t;

/* Fit on the rows of every view (one series each; a pooled model's entities). */
static mm_err_t regress_fit_views(mm_algo_t algo, const mm_models__view_t *views, size_t n_views,
                                  const tree_fit_t *tf, void **state, char *errstr,
                                  size_t errstr_size) {
    *state = NULL;
    const mm_model_config_t *cfg = views[0].cfg;
    regress_t *r = calloc(1, sizeof *r);
    if (!r)
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "%s: out of memory", mm_algo_name(algo));
    r->algo = algo;
    mm_models__layout_init(cfg, views[0].n_exog, &r->lay);
    size_t width = r->lay.width, start = r->lay.max_lookback, rows = 0;
    if (width == 0) {
        free(r);
        return mm_errf(MM_ERR_CONFIG, errstr, errstr_size,
                       "%s: no features (lags, windows, calendar or exogenous)",
                       mm_algo_name(algo));
    }
    for (size_t e = 0; e < n_views; e++)
        for (size_t t = start; t < views[e].n; t++) rows += !isnan(views[e].y[t]);
    if (rows < MM_MODELS__MIN_REGRESSION_ROWS ||
        rows < width / MM_MODELS__ROWS_PER_FEATURE_DIVISOR) {
        free(r);
        return mm_errf(MM_ERR_INSUFFICIENT_DATA, errstr, errstr_size,
                       "%s: %zu usable rows for %zu features", mm_algo_name(algo), rows, width);
    }
    double *X = malloc(rows * width * sizeof(double));
    double *yv = malloc(rows * sizeof(double));
    if (!X || !yv) {
        free(X);
        free(yv);
        free(r);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "%s: out of memory", mm_algo_name(algo));
    }
    double ex[MM_MODEL_MAX_EXOG];
    size_t k = 0;
    for (size_t e = 0; e < n_views; e++) {
        const mm_models__view_t *v = &views[e];
        for (size_t t = start; t < v->n; t++) {
            if (isnan(v->y[t])) continue;
            for (size_t j = 0; j < v->n_exog; j++) ex[j] = v->exog[j][t];
            mm_models__forecast_row(cfg, &r->lay, v->y, t, v->time_ms[t], ex, X + k * width);
            yv[k++] = v->y[t];
        }
    }
    mm_err_t err;
    if (algo == MM_ALGO_RIDGE)
        err = mm_ridge_fit_xy(X, yv, rows, width, cfg->ridge_lambda, &r->learner.lin, errstr,
                              errstr_size);
    else if (tf && tf->prev)
        err = mm_xgb_continue(cfg, tf->prev, X, yv, rows, width, mm_models__xgb_next_rounds(cfg),
                              &r->learner.xgb, errstr, errstr_size);
    else if (tf && tf->resumable)
        err = mm_xgb_fit_resumable(cfg, X, yv, rows, width, &r->learner.xgb, errstr, errstr_size);
    else
        err = mm_xgb_fit(cfg, X, yv, NULL, rows, width, false, 0, &r->learner.xgb, errstr,
                         errstr_size);
    free(X);
    free(yv);
    if (err != MM_OK) {
        regress_destroy(r);
        return err;
    }
    *state = r;
    return MM_OK;
}

static mm_err_t regress_fit(mm_algo_t algo, const mm_models__view_t *v, void **state, char *errstr,
                            size_t errstr_size) {
    return regress_fit_views(algo, v, 1, NULL, state, errstr, errstr_size);
}

mm_err_t mm_models__regress_fit_pooled(mm_algo_t algo, const mm_models__view_t *views,
                                       size_t n_views, void **state, char *errstr,
                                       size_t errstr_size) {
    *state = NULL;
    if ((algo != MM_ALGO_RIDGE && algo != MM_ALGO_XGBOOST) || n_views == 0)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "%s: only ridge and xgboost pool the rows of several series",
                       mm_algo_name(algo));
    return regress_fit_views(algo, views, n_views, NULL, state, errstr, errstr_size);
}

static mm_err_t ridge_fit(const mm_models__view_t *v, void **state, char *e, size_t es) {
    return regress_fit(MM_ALGO_RIDGE, v, state, e, es);
}

/* Ridge on nested prefixes of one series: the rows are built once (a row
 * depends only on the points before it and its own time and exogenous
 * values, so a prefix's rows are the first rows of the whole) and the
 * normal equations accumulated once (mm_ridge_fit_prefixes). */
static mm_err_t ridge_fit_prefixes(const mm_models__view_t *v, const size_t *cuts, size_t k,
                                   void **states, char *errstr, size_t errstr_size) {
    const mm_model_config_t *cfg = v->cfg;
    for (size_t i = 0; i < k; i++) states[i] = NULL;
    if (k == 0) return MM_OK;
    mm_models__layout_t lay;
    mm_models__layout_init(cfg, v->n_exog, &lay);
    size_t width = lay.width, start = lay.max_lookback, last = cuts[k - 1];
    if (width == 0)
        return mm_errf(MM_ERR_CONFIG, errstr, errstr_size,
                       "ridge: no features (lags, windows, calendar or exogenous)");
    size_t *rows = malloc(k * sizeof(size_t));
    mm_linear_t *lins = calloc(k, sizeof *lins);
    regress_t **rs = calloc(k, sizeof *rs);
    size_t total = 0;
    for (size_t t = start; t < last && t < v->n; t++) total += !isnan(v->y[t]);
    double *X = malloc((total * width + 1) * sizeof(double));
    double *yv = malloc((total + 1) * sizeof(double));
    mm_err_t err = MM_OK;
    if (!rows || !lins || !rs || !X || !yv) {
        err = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "ridge: out of memory");
        goto done;
    }
    double ex[MM_MODEL_MAX_EXOG];
    size_t r = 0, i = 0;
    for (size_t t = start; t < last; t++) {
        for (; i < k && cuts[i] <= t; i++) rows[i] = r;
        if (isnan(v->y[t])) continue;
        for (size_t j = 0; j < v->n_exog; j++) ex[j] = v->exog[j][t];
        mm_models__forecast_row(cfg, &lay, v->y, t, v->time_ms[t], ex, X + r * width);
        yv[r++] = v->y[t];
    }
    for (; i < k; i++) rows[i] = r;
    for (i = 0; i < k; i++)
        if (rows[i] < MM_MODELS__MIN_REGRESSION_ROWS ||
            rows[i] < width / MM_MODELS__ROWS_PER_FEATURE_DIVISOR) {
            err = mm_errf(MM_ERR_INSUFFICIENT_DATA, errstr, errstr_size,
                          "ridge: %zu usable rows for %zu features", rows[i], width);
            goto done;
        }
    err =
        mm_ridge_fit_prefixes(X, yv, width, cfg->ridge_lambda, rows, k, lins, errstr, errstr_size);
    for (i = 0; err == MM_OK && i < k; i++) {
        if (!(rs[i] = calloc(1, sizeof *rs[i]))) {
            err = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "ridge: out of memory");
            break;
        }
        rs[i]->algo = MM_ALGO_RIDGE;
        rs[i]->lay = lay;
        rs[i]->learner.lin = lins[i];
        memset(&lins[i], 0, sizeof lins[i]);
    }
    if (err == MM_OK)
        for (i = 0; i < k; i++) states[i] = rs[i];
done:
    if (err != MM_OK && rs)
        for (i = 0; i < k; i++) regress_destroy(rs[i]);
    if (lins)
        for (i = 0; i < k; i++) mm_linear_free(&lins[i]);
    free(rows);
    free(lins);
    free(rs);
    free(X);
    free(yv);
    return err;
}

static mm_err_t xgboost_fit(const mm_models__view_t *v, void **state, char *e, size_t es) {
    return regress_fit(MM_ALGO_XGBOOST, v, state, e, es);
}

/* A fifth of the rounds: on the sales benchmark as accurate as fitting each
 * window anew, or better (bench/models/RESULTS.md, 2026-12-02). */
int mm_models__xgb_next_rounds(const mm_model_config_t *cfg) {
    int r = cfg->xgb_rounds / 5;
    return r > 0 ? r : 1;
}

/* The next backtest window's trees: the previous window's boosted a few
 * rounds further on this window's rows (the first window: a full fit that
 * keeps its booster). */
static mm_err_t xgboost_fit_next(void *prev, const mm_models__view_t *v, void **state, char *e,
                                 size_t es) {
    regress_t *pr = prev;
    tree_fit_t tf = {.resumable = true, .prev = pr ? pr->learner.xgb : NULL};
    return regress_fit_views(MM_ALGO_XGBOOST, v, 1, &tf, state, e, es);
}

static mm_err_t regress_forecast(const void *state, const mm_models__fcctx_t *fc, size_t h,
                                 double *mean, double *sd, char *errstr, size_t errstr_size) {
    const regress_t *r = state;
    const mm_model_config_t *cfg = fc->cfg;
    size_t L = r->lay.max_lookback, width = r->lay.width;
    double *buf = malloc((L + h + 1) * sizeof(double));
    double *row = malloc((width + 1) * sizeof(double));
    if (!buf || !row) {
        free(buf);
        free(row);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "forecast: out of memory");
    }
    /* buf[0..L) = the last L targets (NaN-padded when the history is shorter) */
    for (size_t i = 0; i < L; i++) {
        size_t back = L - i; /* 1 = the last value */
        buf[i] = back <= fc->n_hist ? fc->hist[fc->n_hist - back] : NAN;
    }
    double ex[MM_MODEL_MAX_EXOG];
    mm_err_t err = MM_OK;
    for (size_t k = 0; k < h; k++) {
        for (size_t j = 0; j < fc->n_exog; j++) ex[j] = fc->fexog[j][k];
        int64_t t_ms = fc->end_ms + (int64_t)(k + 1) * cfg->period_ms;
        mm_models__forecast_row(cfg, &r->lay, buf, L + k, t_ms, ex, row);
        double pred;
        err = mm_models__learner_predict(&r->learner, row, 1, width, &pred, errstr, errstr_size);
        if (err != MM_OK) break;
        buf[L + k] = pred;
        mean[k] = pred;
        sd[k] = NAN; /* intervals from backtest residuals */
    }
    free(buf);
    free(row);
    return err;
}

static mm_err_t regress_save(const void *state, mm_models__params_t *ps) {
    const regress_t *r = state;
    return mm_models__learner_save(&r->learner, ps);
}

static mm_err_t regress_load(mm_algo_t algo, const mm_models__params_t *ps,
                             const mm_model_config_t *cfg, void **state, char *errstr,
                             size_t errstr_size) {
    *state = NULL;
    regress_t *r = calloc(1, sizeof *r);
    if (!r)
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "%s: out of memory", mm_algo_name(algo));
    r->algo = algo;
    mm_models__layout_init(cfg, cfg->features.n_exog, &r->lay);
    mm_err_t err = mm_models__learner_load(&r->learner, algo == MM_ALGO_XGBOOST, ps, r->lay.width,
                                           errstr, errstr_size);
    if (err != MM_OK) {
        regress_destroy(r);
        return err;
    }
    *state = r;
    return MM_OK;
}

static mm_err_t ridge_load(const mm_models__params_t *ps, const mm_model_config_t *cfg,
                           void **state, char *e, size_t es) {
    return regress_load(MM_ALGO_RIDGE, ps, cfg, state, e, es);
}

static mm_err_t xgboost_load(const mm_models__params_t *ps, const mm_model_config_t *cfg,
                             void **state, char *e, size_t es) {
    return regress_load(MM_ALGO_XGBOOST, ps, cfg, state, e, es);
}

const mm_models__ops_t mm_ridge_ops = {
    .algo = MM_ALGO_RIDGE,
    .task = MM_TASK_FORECAST,
    .fit = ridge_fit,
    .fit_prefixes = ridge_fit_prefixes,
    .forecast = regress_forecast,
    .save = regress_save,
    .load = ridge_load,
    .destroy = regress_destroy,
    .memsize = regress_memsize,
};

const mm_models__ops_t mm_xgboost_ops = {
    .algo = MM_ALGO_XGBOOST,
    .task = MM_TASK_FORECAST,
    .fit = xgboost_fit,
    .fit_next = xgboost_fit_next,
    .forecast = regress_forecast,
    .save = regress_save,
    .load = xgboost_load,
    .destroy = regress_destroy,
    .memsize = regress_memsize,
};
