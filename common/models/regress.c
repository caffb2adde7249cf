/*
 * regress.c - forecasting by regression on features: ridge (linear.c) and
 * XGBoost (xgb.c) fitted on rows of target lags, rolling target means,
 * calendar terms and exogenous values (features.c), and forecast
 * recursively: each step's prediction becomes a lag for the next.
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

#define MIN_ROWS 10

typedef struct regress {
    mm_algo_t algo;
    mm_models__layout_t lay;
    mm_linear_t lin; /* ridge */
    mm_xgb_t *xgb;   /* xgboost */
} regress_t;

static void regress_destroy(void *state) {
    regress_t *r = state;
    if (!r) return;
    mm_linear_free(&r->lin);
    mm_xgb_free(r->xgb);
    free(r);
}

static size_t regress_memsize(const void *state) {
    const regress_t *r = state;
    const uint8_t *raw;
    size_t xgb = r->xgb ? mm_xgb_raw(r->xgb, &raw) * 2 : 0; /* node arrays + packed copy */
    return sizeof *r + 3 * r->lin.p * sizeof(double) + xgb;
}

static mm_err_t regress_fit(mm_algo_t algo, const mm_models__view_t *v, void **state, char *errstr,
                            size_t errstr_size) {
    *state = NULL;
    const mm_model_config_t *cfg = v->cfg;
    regress_t *r = calloc(1, sizeof *r);
    if (!r)
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "%s: out of memory", mm_algo_name(algo));
    r->algo = algo;
    mm_models__layout_init(cfg, v->n_exog, &r->lay);
    size_t width = r->lay.width, start = r->lay.max_lookback, rows = 0;
    if (width == 0) {
        free(r);
        return mm_errf(MM_ERR_CONFIG, errstr, errstr_size,
                       "%s: no features (lags, windows, calendar or exogenous)",
                       mm_algo_name(algo));
    }
    for (size_t t = start; t < v->n; t++) rows += !isnan(v->y[t]);
    if (rows < MIN_ROWS || rows < width / 4) {
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
    for (size_t t = start; t < v->n; t++) {
        if (isnan(v->y[t])) continue;
        for (size_t j = 0; j < v->n_exog; j++) ex[j] = v->exog[j][t];
        mm_models__forecast_row(cfg, &r->lay, v->y, t, v->time_ms[t], ex, X + k * width);
        yv[k++] = v->y[t];
    }
    mm_err_t err;
    if (algo == MM_ALGO_RIDGE)
        err = mm_ridge_fit_xy(X, yv, rows, width, cfg->ridge_lambda, &r->lin, errstr, errstr_size);
    else
        err = mm_xgb_fit(cfg, X, yv, NULL, rows, width, false, 0, &r->xgb, errstr, errstr_size);
    free(X);
    free(yv);
    if (err != MM_OK) {
        regress_destroy(r);
        return err;
    }
    *state = r;
    return MM_OK;
}

static mm_err_t ridge_fit(const mm_models__view_t *v, void **state, char *e, size_t es) {
    return regress_fit(MM_ALGO_RIDGE, v, state, e, es);
}

static mm_err_t xgboost_fit(const mm_models__view_t *v, void **state, char *e, size_t es) {
    return regress_fit(MM_ALGO_XGBOOST, v, state, e, es);
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
        if (r->algo == MM_ALGO_RIDGE) {
            pred = mm_linear_eval(&r->lin, row);
        } else if ((err = mm_xgb_predict(r->xgb, row, 1, &pred, errstr, errstr_size)) != MM_OK) {
            break;
        }
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
    if (r->algo == MM_ALGO_XGBOOST) {
        const uint8_t *raw;
        size_t len = mm_xgb_raw(r->xgb, &raw);
        return mm_models__params_add_bytes(ps, "xgboost_trees", raw, len);
    }
    mm_err_t err = mm_models__params_add1(ps, "intercept", r->lin.intercept);
    if (!err) err = mm_models__params_add(ps, "coef", r->lin.coef, r->lin.p);
    if (!err) err = mm_models__params_add(ps, "feature_mean", r->lin.mean, r->lin.p);
    if (!err) err = mm_models__params_add(ps, "feature_scale", r->lin.scale, r->lin.p);
    return err;
}

mm_err_t mm_models__linear_load(const mm_models__params_t *ps, size_t p, mm_linear_t *lin,
                                char *errstr, size_t errstr_size) {
    const mm_models__param_t *ic = mm_models__params_get(ps, "intercept", 1);
    const mm_models__param_t *co = mm_models__params_get(ps, "coef", p);
    const mm_models__param_t *mu = mm_models__params_get(ps, "feature_mean", p);
    const mm_models__param_t *sc = mm_models__params_get(ps, "feature_scale", p);
    if (!ic || !co || !mu || !sc || ic->kind != MM_MODELS__PARAM_F64 ||
        co->kind != MM_MODELS__PARAM_F64 || mu->kind != MM_MODELS__PARAM_F64 ||
        sc->kind != MM_MODELS__PARAM_F64 || (p == 0 && co->n != 0))
        return mm_errf(MM_ERR_PARSE, errstr, errstr_size,
                       "artifact: linear model needs intercept, coef, feature_mean and "
                       "feature_scale of %zu values",
                       p);
    for (size_t j = 0; j < p; j++)
        if (!(sc->v[j] > 0))
            return mm_errf(MM_ERR_PARSE, errstr, errstr_size,
                           "artifact: feature_scale[%zu] is not positive", j);
    memset(lin, 0, sizeof *lin);
    lin->p = p;
    lin->intercept = ic->v[0];
    lin->coef = malloc((p + 1) * sizeof(double));
    lin->mean = malloc((p + 1) * sizeof(double));
    lin->scale = malloc((p + 1) * sizeof(double));
    if (!lin->coef || !lin->mean || !lin->scale) {
        mm_linear_free(lin);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "linear: out of memory");
    }
    if (p) {
        memcpy(lin->coef, co->v, p * sizeof(double));
        memcpy(lin->mean, mu->v, p * sizeof(double));
        memcpy(lin->scale, sc->v, p * sizeof(double));
    }
    return MM_OK;
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
    mm_err_t err;
    if (algo == MM_ALGO_RIDGE) {
        err = mm_models__linear_load(ps, r->lay.width, &r->lin, errstr, errstr_size);
    } else {
        const mm_models__param_t *m = mm_models__params_get(ps, "xgboost_trees", 0);
        err = m && m->kind == MM_MODELS__PARAM_BYTES
                  ? mm_xgb_load(m->bytes, m->n, r->lay.width, &r->xgb, errstr, errstr_size)
                  : mm_errf(MM_ERR_PARSE, errstr, errstr_size, "artifact: xgboost model missing");
    }
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
    .forecast = regress_forecast,
    .save = regress_save,
    .load = xgboost_load,
    .destroy = regress_destroy,
    .memsize = regress_memsize,
};
