/*
 * classify.c - the classifiers (predictive maintenance: "does this machine
 * fail within the next 24 hours?"): L2 logistic regression and the XGBoost
 * classifier as algorithm operations on feature rows, through the shared
 * learner plumbing (learner.c); the class weights both train with; the
 * constant-rate model a one-class history gets. Training with the temporal
 * backtest is train_classify.c; scoring is score.c.
 *
 * Class imbalance: failures are rare, so by default the classes are weighted
 * inversely to their frequency (scikit-learn's class_weight="balanced";
 * XGBoost's scale_pos_weight = negatives/positives). The scores then rank
 * well (AUC) and a 0.5 threshold balances recall and precision; they are not
 * calibrated probabilities of the raw base rate.
 *
 * Workload: hourly telemetry, a few thousand rows per machine and a few
 * dozen features.
 */
#include <math.h>
#include <stdlib.h>

#include "models_int.h"

/* A 0/1 label at or above this is the positive class. */
#define POSITIVE_LABEL 0.5

typedef struct clf {
    mm_algo_t algo;
    size_t p;
    mm_models__learner_t learner; /* linear (logistic) or trees (xgb_classifier) */
} clf_t;

static void clf_destroy(void *state) {
    clf_t *c = state;
    if (!c) return;
    mm_models__learner_free(&c->learner);
    free(c);
}

static size_t clf_memsize(const void *state) {
    const clf_t *c = state;
    return sizeof *c + mm_models__learner_memsize(&c->learner);
}

void mm_models__class_weights(const mm_model_config_t *cfg, const double *y, size_t n, double *w) {
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) pos += y[i] > POSITIVE_LABEL;
    size_t neg = n - pos;
    bool balanced = cfg->class_weight != MM_CLASS_WEIGHT_NONE && pos > 0 && neg > 0;
    double wp = balanced ? (double)n / (2.0 * (double)pos) : 1.0;
    double wn = balanced ? (double)n / (2.0 * (double)neg) : 1.0;
    for (size_t i = 0; i < n; i++) w[i] = y[i] > POSITIVE_LABEL ? wp : wn;
}

static mm_err_t clf_fit(mm_algo_t algo, const mm_model_config_t *cfg, const double *X,
                        const double *y, const double *w, size_t n, size_t p, void **state,
                        char *errstr, size_t errstr_size) {
    *state = NULL;
    clf_t *c = calloc(1, sizeof *c);
    if (!c)
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "%s: out of memory", mm_algo_name(algo));
    c->algo = algo;
    c->p = p;
    mm_err_t err;
    if (algo == MM_ALGO_LOGISTIC) {
        err = mm_logistic_fit_xy(X, y, w, n, p, cfg->logistic_c, &c->learner.lin, errstr,
                                 errstr_size);
    } else {
        /* XGBoost takes the imbalance as scale_pos_weight, not per-row weights */
        double spw = 1.0;
        size_t pos = 0;
        for (size_t i = 0; i < n; i++) pos += y[i] > POSITIVE_LABEL;
        if (cfg->class_weight != MM_CLASS_WEIGHT_NONE && pos > 0 && pos < n)
            spw = (double)(n - pos) / (double)pos;
        err = mm_xgb_fit(cfg, X, y, NULL, n, p, true, spw, &c->learner.xgb, errstr, errstr_size);
    }
    if (err != MM_OK) {
        clf_destroy(c);
        return err;
    }
    *state = c;
    return MM_OK;
}

static mm_err_t logistic_fit(const mm_model_config_t *cfg, const double *X, const double *y,
                             const double *w, size_t n, size_t p, void **state, char *e,
                             size_t es) {
    return clf_fit(MM_ALGO_LOGISTIC, cfg, X, y, w, n, p, state, e, es);
}

static mm_err_t xgbc_fit(const mm_model_config_t *cfg, const double *X, const double *y,
                         const double *w, size_t n, size_t p, void **state, char *e, size_t es) {
    return clf_fit(MM_ALGO_XGB_CLASSIFIER, cfg, X, y, w, n, p, state, e, es);
}

static double sigmoid(double x) {
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double ex = exp(x);
    return ex / (1.0 + ex);
}

static mm_err_t clf_predict(const void *state, const double *X, size_t n, size_t p, double *out,
                            char *errstr, size_t errstr_size) {
    const clf_t *c = state;
    if (p != c->p)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "predict: %zu features, the model has %zu", p, c->p);
    mm_err_t err = mm_models__learner_predict(&c->learner, X, n, p, out, errstr, errstr_size);
    if (err == MM_OK && !c->learner.xgb)
        for (size_t i = 0; i < n; i++) out[i] = sigmoid(out[i]);
    return err;
}

static mm_err_t clf_save(const void *state, mm_models__params_t *ps) {
    const clf_t *c = state;
    return mm_models__learner_save(&c->learner, ps);
}

static mm_err_t clf_load(mm_algo_t algo, const mm_models__params_t *ps,
                         const mm_model_config_t *cfg, void **state, char *errstr,
                         size_t errstr_size) {
    *state = NULL;
    mm_models__layout_t lay;
    mm_models__layout_init(cfg, cfg->features.n_exog, &lay);
    clf_t *c = calloc(1, sizeof *c);
    if (!c)
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "%s: out of memory", mm_algo_name(algo));
    c->algo = algo;
    c->p = lay.width;
    mm_err_t err = mm_models__learner_load(&c->learner, algo == MM_ALGO_XGB_CLASSIFIER, ps, c->p,
                                           errstr, errstr_size);
    if (err != MM_OK) {
        clf_destroy(c);
        return err;
    }
    *state = c;
    return MM_OK;
}

static mm_err_t logistic_load(const mm_models__params_t *ps, const mm_model_config_t *cfg,
                              void **state, char *e, size_t es) {
    return clf_load(MM_ALGO_LOGISTIC, ps, cfg, state, e, es);
}

static mm_err_t xgbc_load(const mm_models__params_t *ps, const mm_model_config_t *cfg, void **state,
                          char *e, size_t es) {
    return clf_load(MM_ALGO_XGB_CLASSIFIER, ps, cfg, state, e, es);
}

const mm_models__ops_t mm_logistic_ops = {
    .algo = MM_ALGO_LOGISTIC,
    .task = MM_TASK_CLASSIFY,
    .fit_xy = logistic_fit,
    .predict_x = clf_predict,
    .save = clf_save,
    .load = logistic_load,
    .destroy = clf_destroy,
    .memsize = clf_memsize,
};

const mm_models__ops_t mm_xgbc_ops = {
    .algo = MM_ALGO_XGB_CLASSIFIER,
    .task = MM_TASK_CLASSIFY,
    .fit_xy = xgbc_fit,
    .predict_x = clf_predict,
    .save = clf_save,
    .load = xgbc_load,
    .destroy = clf_destroy,
    .memsize = clf_memsize,
};

mm_err_t mm_models__constant_classifier(size_t p, double rate, void **state, char *errstr,
                                        size_t errstr_size) {
    clf_t *c = calloc(1, sizeof *c);
    if (!c) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "logistic: out of memory");
    c->algo = MM_ALGO_LOGISTIC;
    c->p = p;
    mm_linear_t *lin = &c->learner.lin;
    lin->p = p;
    lin->coef = calloc(p + 1, sizeof(double));
    lin->mean = calloc(p + 1, sizeof(double));
    lin->scale = malloc((p + 1) * sizeof(double));
    if (!lin->coef || !lin->mean || !lin->scale) {
        clf_destroy(c);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "logistic: out of memory");
    }
    for (size_t j = 0; j < p; j++) lin->scale[j] = 1.0;
    lin->intercept = log(rate / (1.0 - rate));
    *state = c;
    return MM_OK;
}
