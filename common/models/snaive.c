/*
 * snaive.c - seasonal naive: the forecast for step k repeats the value one
 * season earlier. The baseline every other model is judged against, and the
 * declared fallback for short histories (it needs a single observation).
 *
 * Gaps: a missing value in the last season is filled from the same phase of
 * an earlier season, else from the last observed value. With fewer points
 * than one season the method degrades to naive (m = 1).
 *
 * Scoring new data takes the last season of the newest points the same
 * way (the fitted sigma stays).
 *
 * Intervals are analytic: sd_k = sigma * sqrt(floor((k-1)/m) + 1), sigma the
 * RMS of the in-sample seasonal differences (Hyndman & Athanasopoulos, FPP
 * section 5.5).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models_int.h"

typedef struct snaive {
    size_t m;
    double sigma; /* NaN when no seasonal difference exists */
    double *last; /* m values: last[j] is the forecast for steps j+1, j+1+m, ... */
} snaive_t;

static void snaive_destroy(void *state) {
    snaive_t *sn = state;
    if (!sn) return;
    free(sn->last);
    free(sn);
}

static size_t snaive_memsize(const void *state) {
    const snaive_t *sn = state;
    return sizeof *sn + sn->m * sizeof(double);
}

/* last[j] for j < m from y[0..n) (n >= m): the same phase of the latest
 * season that has it, else @p last_obs. */
static void last_season(const double *y, size_t n, size_t m, double last_obs, double *last) {
    for (size_t j = 0; j < m; j++) {
        double val = NAN;
        /* Same phase, walking back one season at a time. */
        for (size_t i = n - m + j;; i -= m) {
            if (!isnan(y[i])) {
                val = y[i];
                break;
            }
            if (i < m) break;
        }
        last[j] = isnan(val) ? last_obs : val;
    }
}

static double last_observed(const double *y, size_t n) {
    for (size_t i = n; i-- > 0;)
        if (!isnan(y[i])) return y[i];
    return NAN;
}

static mm_err_t snaive_fit(const mm_models__view_t *v, void **state, char *errstr,
                           size_t errstr_size) {
    *state = NULL;
    const double *y = v->y;
    size_t n = v->n;
    double last_obs = last_observed(y, n);
    if (n == 0 || isnan(last_obs))
        return mm_errf(MM_ERR_INSUFFICIENT_DATA, errstr, errstr_size,
                       "snaive: no observed value in %zu points", n);
    size_t m = v->cfg->season_length > 1 ? (size_t)v->cfg->season_length : 1;
    if (n < m) m = 1;
    snaive_t *sn = calloc(1, sizeof *sn);
    if (!sn || !(sn->last = malloc(m * sizeof(double)))) {
        free(sn);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "snaive: out of memory");
    }
    sn->m = m;
    last_season(y, n, m, last_obs, sn->last);
    double ss = 0;
    size_t cnt = 0;
    for (size_t t = m; t < n; t++) {
        if (isnan(y[t]) || isnan(y[t - m])) continue;
        double e = y[t] - y[t - m];
        ss += e * e;
        cnt++;
    }
    sn->sigma = cnt ? sqrt(ss / (double)cnt) : NAN;
    *state = sn;
    return MM_OK;
}

static mm_err_t snaive_forecast(const void *state, const mm_models__fcctx_t *fc, size_t h,
                                double *mean, double *sd, char *errstr, size_t errstr_size) {
    (void)fc;
    (void)errstr;
    (void)errstr_size;
    const snaive_t *sn = state;
    for (size_t k = 0; k < h; k++) {
        mean[k] = sn->last[k % sn->m];
        sd[k] = sn->sigma * sqrt((double)(k / sn->m + 1));
    }
    return MM_OK;
}

/* The last season of the newest data; sigma stays the fitted one. */
static mm_err_t snaive_advance(const void *state, const mm_model_config_t *cfg, const double *hist,
                               size_t n_hist, size_t n_new, void **out, char *errstr,
                               size_t errstr_size) {
    (void)cfg;
    (void)n_new;
    *out = NULL;
    const snaive_t *sn = state;
    snaive_t *nx = calloc(1, sizeof *nx);
    if (!nx || !(nx->last = malloc(sn->m * sizeof(double)))) {
        free(nx);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "snaive: out of memory");
    }
    nx->m = sn->m;
    nx->sigma = sn->sigma;
    double last_obs = last_observed(hist, n_hist);
    if (n_hist < sn->m || isnan(last_obs)) {
        /* nothing observed to take a season from: keep the fitted one */
        memcpy(nx->last, sn->last, sn->m * sizeof(double));
    } else {
        last_season(hist, n_hist, sn->m, last_obs, nx->last);
    }
    *out = nx;
    return MM_OK;
}

static mm_err_t snaive_save(const void *state, mm_models__params_t *ps) {
    const snaive_t *sn = state;
    mm_err_t err = mm_models__params_add1(ps, "sigma", sn->sigma);
    if (err == MM_OK) err = mm_models__params_add(ps, "last_season", sn->last, sn->m);
    return err;
}

static mm_err_t snaive_load(const mm_models__params_t *ps, const mm_model_config_t *cfg,
                            void **state, char *errstr, size_t errstr_size) {
    (void)cfg;
    *state = NULL;
    const mm_models__param_t *sigma = mm_models__params_get(ps, "sigma", 1);
    const mm_models__param_t *last = mm_models__params_get(ps, "last_season", 0);
    if (!sigma || !last || last->n == 0 || last->kind != MM_MODELS__PARAM_F64 ||
        sigma->kind != MM_MODELS__PARAM_F64)
        return mm_errf(MM_ERR_PARSE, errstr, errstr_size,
                       "artifact: snaive needs sigma and last_season");
    snaive_t *sn = calloc(1, sizeof *sn);
    if (!sn || !(sn->last = malloc(last->n * sizeof(double)))) {
        free(sn);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "snaive: out of memory");
    }
    sn->m = last->n;
    sn->sigma = sigma->v[0];
    memcpy(sn->last, last->v, last->n * sizeof(double));
    *state = sn;
    return MM_OK;
}

const mm_models__ops_t mm_snaive_ops = {
    .algo = MM_ALGO_SNAIVE,
    .task = MM_TASK_FORECAST,
    .fit = snaive_fit,
    .forecast = snaive_forecast,
    .save = snaive_save,
    .load = snaive_load,
    .destroy = snaive_destroy,
    .memsize = snaive_memsize,
    .advance = snaive_advance,
};
