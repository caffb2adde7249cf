/*
 * learner.c - the plumbing of the two row learners, a linear model
 * (linear.c: ridge, L2 logistic) or boosted trees (xgb.c), shared by
 * regression (regress.c) and classification (classify.c): free, memory
 * size, save to and load from named parameters, and raw prediction.
 *
 * Parameter names: a linear model is "intercept", "coef", "feature_mean",
 * "feature_scale"; boosted trees are the packed bytes "xgboost_trees".
 *
 * Workload: one learner per fitted model; prediction is per row
 * (recursive forecasting) or per batch (classification).
 */
#include <stdlib.h>
#include <string.h>

#include "models_int.h"

/* XGBoost holds its node arrays and the packed copy: twice the raw bytes. */
#define XGB_COPIES 2
/* A linear model holds coef, mean and scale: three doubles per feature. */
#define LINEAR_VECTORS 3

void mm_models__learner_free(mm_models__learner_t *l) {
    mm_linear_free(&l->lin);
    mm_xgb_free(l->xgb);
    l->xgb = NULL;
}

size_t mm_models__learner_memsize(const mm_models__learner_t *l) {
    const uint8_t *raw;
    size_t xgb = l->xgb ? XGB_COPIES * mm_xgb_raw(l->xgb, &raw) : 0;
    return LINEAR_VECTORS * l->lin.p * sizeof(double) + xgb;
}

mm_err_t mm_models__learner_save(const mm_models__learner_t *l, mm_models__params_t *ps) {
    if (l->xgb) {
        const uint8_t *raw;
        size_t len = mm_xgb_raw(l->xgb, &raw);
        return mm_models__params_add_bytes(ps, "xgboost_trees", raw, len);
    }
    mm_err_t err = mm_models__params_add1(ps, "intercept", l->lin.intercept);
    if (!err) err = mm_models__params_add(ps, "coef", l->lin.coef, l->lin.p);
    if (!err) err = mm_models__params_add(ps, "feature_mean", l->lin.mean, l->lin.p);
    if (!err) err = mm_models__params_add(ps, "feature_scale", l->lin.scale, l->lin.p);
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

mm_err_t mm_models__learner_load(mm_models__learner_t *l, bool trees, const mm_models__params_t *ps,
                                 size_t p, char *errstr, size_t errstr_size) {
    memset(l, 0, sizeof *l);
    if (!trees) return mm_models__linear_load(ps, p, &l->lin, errstr, errstr_size);
    const mm_models__param_t *m = mm_models__params_get(ps, "xgboost_trees", 0);
    if (!m || m->kind != MM_MODELS__PARAM_BYTES)
        return mm_errf(MM_ERR_PARSE, errstr, errstr_size, "artifact: xgboost model missing");
    return mm_xgb_load(m->bytes, m->n, p, &l->xgb, errstr, errstr_size);
}

mm_err_t mm_models__learner_predict(const mm_models__learner_t *l, const double *X, size_t n,
                                    size_t p, double *out, char *errstr, size_t errstr_size) {
    if (l->xgb) return mm_xgb_predict(l->xgb, X, n, out, errstr, errstr_size);
    for (size_t i = 0; i < n; i++) out[i] = mm_linear_eval(&l->lin, X + i * p);
    return MM_OK;
}
