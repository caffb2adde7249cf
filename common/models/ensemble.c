/*
 * ensemble.c - forecast combination: the weighted mean of two or more
 * forecasters' forecasts (MM_ALGO_ENSEMBLE).
 *
 * Selection (train_forecast.c) decides the members and their weights from
 * the backtest; this file fits the members on all data, forecasts with them,
 * and stores them. Members are single forecasters, looked up in their own
 * table (forecasters.c), never the full registry: an ensemble cannot
 * contain an ensemble or a classifier, and keeps its members' operations
 * with their states. In an artifact the ensemble is its members' named
 * parameters with a prefix ("m0.alpha", "m1.coef", ...) next to "members"
 * (algorithm ids) and "weights", so it stays readable without knowing the
 * algorithm, and each member is loaded by its own algorithm's code.
 *
 * Forecasts: every member forecasts with the same context (recent targets,
 * resolved exogenous values); a series that never went negative has each
 * member's forecast clipped at zero before averaging, exactly as in the
 * backtest that chose the combination. An ensemble has no analytic sd:
 * its intervals come from the combined forecast's backtest errors.
 *
 * Scoring new data moves each member's state over the new points with the
 * member's own operations; the weights stay.
 *
 * Workload: two or three members, each as cheap as when used alone.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models_int.h"

typedef struct ensemble {
    size_t k;
    mm_algo_t algo[MM_MODEL_MAX_ENSEMBLE];
    double weight[MM_MODEL_MAX_ENSEMBLE];
    const mm_models__ops_t *ops[MM_MODEL_MAX_ENSEMBLE];
    void *state[MM_MODEL_MAX_ENSEMBLE];
    bool borrowed[MM_MODEL_MAX_ENSEMBLE]; /* an advanced copy shares a member it did not move */
} ensemble_t;

static void ensemble_destroy(void *state) {
    ensemble_t *e = state;
    if (!e) return;
    for (size_t i = 0; i < e->k; i++)
        if (e->state[i] && !e->borrowed[i]) e->ops[i]->destroy(e->state[i]);
    free(e);
}

static size_t ensemble_memsize(const void *state) {
    const ensemble_t *e = state;
    size_t bytes = sizeof *e;
    for (size_t i = 0; i < e->k; i++)
        if (e->ops[i]->memsize) bytes += e->ops[i]->memsize(e->state[i]);
    return bytes;
}

/* A member must be a forecaster of its own (no nesting) with a weight > 0. */
static mm_err_t ensemble_new(size_t k, const mm_algo_t *algos, const double *weights,
                             ensemble_t **out, char *errstr, size_t errstr_size) {
    *out = NULL;
    if (k < 1 || k > MM_MODEL_MAX_ENSEMBLE)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "ensemble: %zu members (1..%d allowed)", k, MM_MODEL_MAX_ENSEMBLE);
    ensemble_t *e = calloc(1, sizeof *e);
    if (!e) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "ensemble: out of memory");
    for (size_t i = 0; i < k; i++) {
        const mm_models__ops_t *ops = mm_models__forecaster_ops(algos[i]);
        if (!ops) {
            free(e);
            return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                           "ensemble: member %zu (%s) is not a forecasting algorithm", i,
                           mm_algo_name(algos[i]));
        }
        if (!(weights[i] > 0) || !isfinite(weights[i])) {
            free(e);
            return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                           "ensemble: member %zu weight %g is not positive", i, weights[i]);
        }
        e->algo[i] = algos[i];
        e->weight[i] = weights[i];
        e->ops[i] = ops;
    }
    e->k = k;
    *out = e;
    return MM_OK;
}

mm_err_t mm_models__ensemble_fit(const mm_models__view_t *v, size_t k, const mm_algo_t *algos,
                                 const double *weights, void **state, char *errstr,
                                 size_t errstr_size) {
    return mm_models__ensemble_fit_given(v, k, algos, weights, NULL, state, errstr, errstr_size);
}

mm_err_t mm_models__ensemble_fit_given(const mm_models__view_t *v, size_t k, const mm_algo_t *algos,
                                       const double *weights, void **given, void **state,
                                       char *errstr, size_t errstr_size) {
    *state = NULL;
    ensemble_t *e;
    mm_err_t err = ensemble_new(k, algos, weights, &e, errstr, errstr_size);
    if (err != MM_OK) {
        for (size_t i = 0; given && i < k; i++)
            if (given[i] && mm_models__forecaster_ops(algos[i]))
                mm_models__forecaster_ops(algos[i])->destroy(given[i]);
        return err;
    }
    for (size_t i = 0; i < k; i++) {
        if (given && given[i]) {
            e->state[i] = given[i]; /* taken over: the ensemble owns it now */
            given[i] = NULL;
            continue;
        }
        err = mm_models__fit_windowed(e->ops[i], v, &e->state[i], errstr, errstr_size);
        if (err != MM_OK) {
            ensemble_destroy(e);
            return err;
        }
    }
    *state = e;
    return MM_OK;
}

static size_t ensemble_members(const void *state, mm_algo_t *algos, double *weights, size_t max) {
    const ensemble_t *e = state;
    for (size_t i = 0; i < e->k && i < max; i++) {
        if (algos) algos[i] = e->algo[i];
        if (weights) weights[i] = e->weight[i];
    }
    return e->k;
}

static mm_err_t ensemble_fit(const mm_models__view_t *v, void **state, char *errstr,
                             size_t errstr_size) {
    (void)v;
    *state = NULL;
    return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                   "ensemble: members are chosen by backtest selection, not fitted alone");
}

static mm_err_t ensemble_forecast(const void *state, const mm_models__fcctx_t *fc, size_t h,
                                  double *mean, double *sd, char *errstr, size_t errstr_size) {
    const ensemble_t *e = state;
    double *part = malloc(2 * h * sizeof(double));
    if (!part) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "forecast: out of memory");
    double *part_sd = part + h;
    for (size_t k = 0; k < h; k++) {
        mean[k] = 0;
        sd[k] = NAN; /* intervals from the combination's backtest errors */
    }
    mm_err_t err = MM_OK;
    for (size_t i = 0; i < e->k && err == MM_OK; i++) {
        err = e->ops[i]->forecast(e->state[i], fc, h, part, part_sd, errstr, errstr_size);
        for (size_t k = 0; k < h && err == MM_OK; k++) {
            double p = fc->nonneg && part[k] < 0 ? 0 : part[k];
            mean[k] += e->weight[i] * p;
        }
    }
    free(part);
    return err;
}

/* Every member moved over the new points by its own operations; members
 * without state to move are shared with the loaded model. */
static mm_err_t ensemble_advance(const void *state, const mm_model_config_t *cfg,
                                 const double *hist, size_t n_hist, size_t n_new, void **out,
                                 char *errstr, size_t errstr_size) {
    *out = NULL;
    const ensemble_t *e = state;
    ensemble_t *nx = malloc(sizeof *nx);
    if (!nx) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "ensemble: out of memory");
    *nx = *e;
    for (size_t i = 0; i < e->k; i++) nx->borrowed[i] = true;
    for (size_t i = 0; i < e->k; i++) {
        if (!e->ops[i]->advance) continue;
        mm_err_t err = e->ops[i]->advance(e->state[i], cfg, hist, n_hist, n_new, &nx->state[i],
                                          errstr, errstr_size);
        if (err != MM_OK) {
            nx->state[i] = NULL;
            ensemble_destroy(nx);
            return err;
        }
        nx->borrowed[i] = false;
    }
    *out = nx;
    return MM_OK;
}

static mm_err_t ensemble_save(const void *state, mm_models__params_t *ps) {
    const ensemble_t *e = state;
    double ids[MM_MODEL_MAX_ENSEMBLE];
    for (size_t i = 0; i < e->k; i++) ids[i] = (double)e->algo[i];
    mm_err_t err = mm_models__params_add(ps, "members", ids, e->k);
    if (!err) err = mm_models__params_add(ps, "weights", e->weight, e->k);
    for (size_t i = 0; i < e->k && !err; i++) {
        mm_models__params_t sub = {0};
        err = e->ops[i]->save(e->state[i], &sub);
        for (size_t j = 0; j < sub.n && !err; j++) {
            const mm_models__param_t *p = &sub.p[j];
            char name[MM_MODELS__PARAM_NAME_MAX + 8];
            int len = snprintf(name, sizeof name, "m%zu.%s", i, p->name);
            if (len < 0 || len > MM_MODELS__PARAM_NAME_MAX)
                err = MM_ERR_INVALID_ARG;
            else if (p->kind == MM_MODELS__PARAM_F64)
                err = mm_models__params_add(ps, name, p->v, p->n);
            else
                err = mm_models__params_add_bytes(ps, name, p->bytes, p->n);
        }
        mm_models__params_clear(&sub);
    }
    return err;
}

/* The parameters of member @p i: those named "m<i>.<name>", prefix removed. */
static mm_err_t member_params(const mm_models__params_t *ps, size_t i, mm_models__params_t *sub) {
    char prefix[16];
    int plen = snprintf(prefix, sizeof prefix, "m%zu.", i);
    mm_err_t err = MM_OK;
    for (size_t j = 0; j < ps->n && !err; j++) {
        const mm_models__param_t *p = &ps->p[j];
        if (strncmp(p->name, prefix, (size_t)plen) != 0) continue;
        const char *name = p->name + plen;
        if (p->kind == MM_MODELS__PARAM_F64)
            err = mm_models__params_add(sub, name, p->v, p->n);
        else
            err = mm_models__params_add_bytes(sub, name, p->bytes, p->n);
    }
    return err;
}

static mm_err_t ensemble_load(const mm_models__params_t *ps, const mm_model_config_t *cfg,
                              void **state, char *errstr, size_t errstr_size) {
    *state = NULL;
    const mm_models__param_t *ids = mm_models__params_get(ps, "members", 0);
    const mm_models__param_t *w = mm_models__params_get(ps, "weights", 0);
    if (!ids || !w || ids->kind != MM_MODELS__PARAM_F64 || w->kind != MM_MODELS__PARAM_F64 ||
        ids->n != w->n || ids->n < 1 || ids->n > MM_MODEL_MAX_ENSEMBLE)
        return mm_errf(MM_ERR_PARSE, errstr, errstr_size,
                       "artifact: ensemble needs members and weights of 1..%d values",
                       MM_MODEL_MAX_ENSEMBLE);
    size_t k = ids->n;
    mm_algo_t algos[MM_MODEL_MAX_ENSEMBLE];
    for (size_t i = 0; i < k; i++) {
        double id = ids->v[i];
        if (!(id >= 0 && id < MM_ALGO__COUNT) || id != floor(id))
            return mm_errf(MM_ERR_UNSUPPORTED, errstr, errstr_size,
                           "artifact: ensemble member algorithm id %g is unknown to this build",
                           id);
        algos[i] = (mm_algo_t)id;
    }
    ensemble_t *e;
    char why[160];
    if (ensemble_new(k, algos, w->v, &e, why, sizeof why) != MM_OK)
        return mm_errf(MM_ERR_PARSE, errstr, errstr_size, "artifact: %s", why);
    mm_err_t err = MM_OK;
    for (size_t i = 0; i < k && err == MM_OK; i++) {
        mm_models__params_t sub = {0};
        if (member_params(ps, i, &sub) != MM_OK)
            err = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "ensemble: out of memory");
        else
            err = e->ops[i]->load(&sub, cfg, &e->state[i], errstr, errstr_size);
        mm_models__params_clear(&sub);
    }
    if (err != MM_OK) {
        ensemble_destroy(e);
        return err;
    }
    *state = e;
    return MM_OK;
}

const mm_models__ops_t mm_ensemble_ops = {
    .algo = MM_ALGO_ENSEMBLE,
    .task = MM_TASK_FORECAST,
    .fit = ensemble_fit,
    .forecast = ensemble_forecast,
    .save = ensemble_save,
    .load = ensemble_load,
    .destroy = ensemble_destroy,
    .memsize = ensemble_memsize,
    .members = ensemble_members,
    .advance = ensemble_advance,
};
