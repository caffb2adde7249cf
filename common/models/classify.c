/*
 * classify.c - per-key classification (predictive maintenance: "does this
 * machine fail within the next 24 hours?"): labels, temporal backtest,
 * selection, refit, and scoring with mm_model_predict.
 *
 * Labels are the 0/1 target column, or derived from an event column with a
 * look-ahead window (features.c). Features are the telemetry values and
 * their rolling aggregates, computed by the shared feature code path for
 * training and scoring alike.
 *
 * Backtest: k windows of `holdout` rows at the end of the data, in time
 * order. A training row whose look-ahead window reaches into the test window
 * is purged (its label would leak the future), which labelling "as known at
 * the cut" does by construction. The baseline predicts the training prior.
 *
 * Batch scoring: the model keeps the last max(window) rows of raw telemetry
 * it was trained on, so mm_model_predict_latest can score the end of the
 * data through the same feature code as mm_model_predict, without the
 * caller fetching history.
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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models_int.h"

#define MIN_TRAIN_ROWS 24

/* ------------------------------------------------------------ the learners */

typedef struct clf {
    mm_algo_t algo;
    size_t p;
    mm_linear_t lin; /* logistic */
    mm_xgb_t *xgb;   /* xgb_classifier */
} clf_t;

static void clf_destroy(void *state) {
    clf_t *c = state;
    if (!c) return;
    mm_linear_free(&c->lin);
    mm_xgb_free(c->xgb);
    free(c);
}

static size_t clf_memsize(const void *state) {
    const clf_t *c = state;
    const uint8_t *raw;
    return sizeof *c + 3 * c->lin.p * sizeof(double) + (c->xgb ? 2 * mm_xgb_raw(c->xgb, &raw) : 0);
}

static void class_weights(const mm_model_config_t *cfg, const double *y, size_t n, double *w,
                          double *spw) {
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) pos += y[i] > 0.5;
    size_t neg = n - pos;
    bool balanced = cfg->class_weight != MM_CLASS_WEIGHT_NONE && pos > 0 && neg > 0;
    double wp = balanced ? (double)n / (2.0 * (double)pos) : 1.0;
    double wn = balanced ? (double)n / (2.0 * (double)neg) : 1.0;
    for (size_t i = 0; i < n; i++) w[i] = y[i] > 0.5 ? wp : wn;
    *spw = balanced ? (double)neg / (double)pos : 1.0;
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
        err = mm_logistic_fit_xy(X, y, w, n, p, cfg->logistic_c, &c->lin, errstr, errstr_size);
    } else {
        /* XGBoost takes the imbalance as scale_pos_weight, not per-row weights */
        double spw = 1.0;
        size_t pos = 0;
        for (size_t i = 0; i < n; i++) pos += y[i] > 0.5;
        if (cfg->class_weight != MM_CLASS_WEIGHT_NONE && pos > 0 && pos < n)
            spw = (double)(n - pos) / (double)pos;
        err = mm_xgb_fit(cfg, X, y, NULL, n, p, true, spw, &c->xgb, errstr, errstr_size);
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
    if (c->algo == MM_ALGO_LOGISTIC) {
        for (size_t i = 0; i < n; i++) out[i] = sigmoid(mm_linear_eval(&c->lin, X + i * p));
        return MM_OK;
    }
    return mm_xgb_predict(c->xgb, X, n, out, errstr, errstr_size);
}

static mm_err_t clf_save(const void *state, mm_models__params_t *ps) {
    const clf_t *c = state;
    if (c->algo == MM_ALGO_XGB_CLASSIFIER) {
        const uint8_t *raw;
        size_t len = mm_xgb_raw(c->xgb, &raw);
        return mm_models__params_add_bytes(ps, "xgboost_trees", raw, len);
    }
    mm_err_t err = mm_models__params_add1(ps, "intercept", c->lin.intercept);
    if (!err) err = mm_models__params_add(ps, "coef", c->lin.coef, c->lin.p);
    if (!err) err = mm_models__params_add(ps, "feature_mean", c->lin.mean, c->lin.p);
    if (!err) err = mm_models__params_add(ps, "feature_scale", c->lin.scale, c->lin.p);
    return err;
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
    mm_err_t err;
    if (algo == MM_ALGO_LOGISTIC) {
        err = mm_models__linear_load(ps, c->p, &c->lin, errstr, errstr_size);
    } else {
        const mm_models__param_t *m = mm_models__params_get(ps, "xgboost_trees", 0);
        err = m && m->kind == MM_MODELS__PARAM_BYTES
                  ? mm_xgb_load(m->bytes, m->n, c->p, &c->xgb, errstr, errstr_size)
                  : mm_errf(MM_ERR_PARSE, errstr, errstr_size, "artifact: xgboost model missing");
    }
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

/* ------------------------------------------------------------ training */

typedef struct dataset {
    size_t n, p;
    double *X;     /* all rows, n x p */
    double *label; /* labels as known with the whole history */
    double *known; /* scratch: labels as known at a cut */
    double *Xtr, *ytr, *wtr, *score;
} dataset_t;

static void dataset_free(dataset_t *d) {
    free(d->X);
    free(d->label);
    free(d->known);
    free(d->Xtr);
    free(d->ytr);
    free(d->wtr);
    free(d->score);
}

/* Gather the rows before @p cut whose label is known at the cut. */
static size_t gather_train(const mm_model_config_t *cfg, const mm_series_t *s, dataset_t *d,
                           size_t cut, size_t *n_pos) {
    mm_models__labels(s->y, s->n, cut, cfg->lookahead, d->known);
    size_t k = 0;
    *n_pos = 0;
    for (size_t t = 0; t < cut; t++) {
        if (isnan(d->known[t])) continue;
        memcpy(d->Xtr + k * d->p, d->X + t * d->p, d->p * sizeof(double));
        d->ytr[k] = d->known[t];
        *n_pos += d->known[t] > 0.5;
        k++;
    }
    double spw;
    class_weights(cfg, d->ytr, k, d->wtr, &spw);
    return k;
}

typedef struct cand_result {
    bool ok;
    mm_metrics_t metrics;
} cand_result_t;

static void set_reason(mm_train_result_t *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_reason(mm_train_result_t *out, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->fallback_reason, sizeof out->fallback_reason, fmt, ap);
    va_end(ap);
}

static bool better(mm_metric_id_t id, double a, double b) {
    if (isnan(a)) return false;
    if (isnan(b)) return true;
    return mm_metric_higher_is_better(id) ? a > b : a < b;
}

/* A constant-probability logistic model (no usable features or one class). */
static mm_err_t constant_model(size_t p, double rate, void **state, char *errstr,
                               size_t errstr_size) {
    clf_t *c = calloc(1, sizeof *c);
    if (!c) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "logistic: out of memory");
    c->algo = MM_ALGO_LOGISTIC;
    c->p = p;
    c->lin.p = p;
    c->lin.coef = calloc(p + 1, sizeof(double));
    c->lin.mean = calloc(p + 1, sizeof(double));
    c->lin.scale = malloc((p + 1) * sizeof(double));
    if (!c->lin.coef || !c->lin.mean || !c->lin.scale) {
        clf_destroy(c);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "logistic: out of memory");
    }
    for (size_t j = 0; j < p; j++) c->lin.scale[j] = 1.0;
    c->lin.intercept = log(rate / (1.0 - rate));
    *state = c;
    return MM_OK;
}

mm_err_t mm_models__train_classify(const mm_model_config_t *cfg, const mm_series_t *s,
                                   mm_train_result_t *out, char *errstr, size_t errstr_size) {
    mm_models__layout_t lay;
    mm_models__layout_init(cfg, s->n_exog, &lay);
    size_t n = s->n, p = lay.width;
    dataset_t d = {.n = n, .p = p};
    d.X = malloc((n * p + 1) * sizeof(double));
    d.label = malloc(n * sizeof(double));
    d.known = malloc(n * sizeof(double));
    d.Xtr = malloc((n * p + 1) * sizeof(double));
    d.ytr = malloc(n * sizeof(double));
    d.wtr = malloc(n * sizeof(double));
    d.score = malloc(n * sizeof(double));
    mm_model_t *model = calloc(1, sizeof *model);
    mm_err_t err = MM_OK;
    char why[256] = "";
    if (!d.X || !d.label || !d.known || !d.Xtr || !d.ytr || !d.wtr || !d.score || !model) {
        err = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "train: out of memory");
        goto done;
    }
    mm_models__classify_rows(cfg, &lay, n, s->time_ms, s->exog, d.X);
    mm_models__labels(s->y, n, n, cfg->lookahead, d.label);
    model->cfg = *cfg;
    mm_metrics_init(&model->metrics);
    mm_metrics_init(&model->baseline);

    size_t K = (size_t)cfg->backtest_windows, H = (size_t)cfg->holdout;
    size_t min_train = MIN_TRAIN_ROWS + (size_t)cfg->lookahead;
    if (n < (size_t)cfg->min_history) {
        set_reason(out, "%zu rows is below min_history %d", n, cfg->min_history);
    } else if (n < K * H + min_train) {
        set_reason(out, "%zu rows are too few for %zu backtest windows of %zu plus %zu to train", n,
                   K, H, min_train);
    } else {
        uint32_t cands =
            cfg->candidates & ((1u << MM_ALGO_LOGISTIC) | (1u << MM_ALGO_XGB_CLASSIFIER));
        if (cands == 0) cands = (1u << MM_ALGO_LOGISTIC) | (1u << MM_ALGO_XGB_CLASSIFIER);
        cand_result_t res[MM_ALGO__COUNT];
        memset(res, 0, sizeof res);
        mm_metrics_t *wm = calloc(K, sizeof *wm), *wb = calloc(K, sizeof *wb);
        if (!wm || !wb) {
            free(wm);
            free(wb);
            err = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "train: out of memory");
            goto done;
        }
        bool baseline_done = false;
        for (int a = 0; a < MM_ALGO__COUNT; a++) {
            if (!(cands & (1u << a))) continue;
            const mm_models__ops_t *ops = mm_models__ops((mm_algo_t)a);
            bool ok = true;
            for (size_t w = 0; w < K && ok; w++) {
                size_t cut = n - (K - w) * H, n_pos;
                size_t ntr = gather_train(cfg, s, &d, cut, &n_pos);
                if (ntr < MIN_TRAIN_ROWS || n_pos == 0 || n_pos == ntr) {
                    snprintf(why, sizeof why, "window %zu: %zu labelled rows, %zu positive", w, ntr,
                             n_pos);
                    ok = false;
                    break;
                }
                if (!baseline_done) {
                    double prior = (double)n_pos / (double)ntr;
                    for (size_t i = 0; i < H; i++) d.score[i] = prior;
                    mm_metrics_classify(d.label + cut, d.score, H, &wb[w]);
                }
                void *state = NULL;
                if (ops->fit_xy(cfg, d.Xtr, d.ytr, d.wtr, ntr, p, &state, why, sizeof why) !=
                    MM_OK) {
                    ok = false;
                    break;
                }
                mm_err_t perr =
                    ops->predict_x(state, d.X + cut * p, H, p, d.score, why, sizeof why);
                ops->destroy(state);
                if (perr != MM_OK) {
                    ok = false;
                    break;
                }
                mm_metrics_classify(d.label + cut, d.score, H, &wm[w]);
            }
            if (ok && !baseline_done) {
                mm_models__metrics_mean(wb, K, &model->baseline);
                baseline_done = true;
            }
            if (!ok) continue;
            res[a].ok = true;
            mm_models__metrics_mean(wm, K, &res[a].metrics);
            out->per_algo[a] = res[a].metrics;
        }
        free(wm);
        free(wb);
        mm_algo_t best = MM_ALGO_AUTO;
        for (int a = 0; a < MM_ALGO__COUNT; a++) {
            if (!res[a].ok) continue;
            if (best == MM_ALGO_AUTO ||
                better(cfg->selection_metric, res[a].metrics.v[cfg->selection_metric],
                       res[best].metrics.v[cfg->selection_metric]))
                best = (mm_algo_t)a;
        }
        if (best == MM_ALGO_AUTO) {
            set_reason(out, "no candidate could be backtested (%s)", why);
        } else {
            model->algo = best;
            model->ops = mm_models__ops(best);
            model->metrics = res[best].metrics;
        }
    }

    /* refit on every row whose label is known (or fit the fallback) */
    size_t n_pos, ntr = gather_train(cfg, s, &d, n, &n_pos);
    if (!model->ops) {
        out->fallback = true;
        model->algo = cfg->fallback;
        model->ops = mm_models__ops(cfg->fallback);
    }
    if (ntr == 0) {
        err = mm_errf(MM_ERR_INSUFFICIENT_DATA, errstr, errstr_size,
                      "train: no row with a known label in %zu rows", n);
        goto done;
    }
    if (n_pos == 0 || n_pos == ntr || ntr < 2) {
        /* one class only: the honest model is the smoothed base rate */
        size_t used = strlen(out->fallback_reason);
        snprintf(out->fallback_reason + used, sizeof out->fallback_reason - used,
                 "%s%zu of %zu labels positive: constant rate", used ? "; " : "", n_pos, ntr);
        out->fallback = true;
        model->algo = MM_ALGO_LOGISTIC;
        model->ops = &mm_logistic_ops;
        err = constant_model(p, ((double)n_pos + 0.5) / ((double)ntr + 1.0), &model->state, errstr,
                             errstr_size);
    } else {
        err = model->ops->fit_xy(cfg, d.Xtr, d.ytr, d.wtr, ntr, p, &model->state, why, sizeof why);
        if (err != MM_OK)
            err = mm_errf(err, errstr, errstr_size, "train: %s refit: %s",
                          mm_algo_name(model->algo), why);
    }
    if (err != MM_OK) goto done;
    model->n_exog = s->n_exog;
    model->exog_last = malloc((s->n_exog + 1) * sizeof(double));
    if (!model->exog_last) {
        err = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "train: out of memory");
        goto done;
    }
    for (size_t j = 0; j < s->n_exog; j++) {
        model->exog_last[j] = NAN;
        for (size_t i = n; i-- > 0;)
            if (!isnan(s->exog[j][i])) {
                model->exog_last[j] = s->exog[j][i];
                break;
            }
    }
    /* the rows the last row's rolling windows reach back over */
    size_t rows = 1;
    for (size_t i = 0; i < cfg->features.n_windows; i++)
        if ((size_t)cfg->features.windows[i] > rows) rows = (size_t)cfg->features.windows[i];
    if (rows > n) rows = n;
    model->telemetry = malloc((rows * s->n_exog + 1) * sizeof(double));
    if (!model->telemetry) {
        err = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "train: out of memory");
        goto done;
    }
    model->n_telemetry = rows;
    for (size_t j = 0; j < s->n_exog; j++)
        memcpy(model->telemetry + j * rows, s->exog[j] + n - rows, rows * sizeof(double));
    model->data_end_ms = s->time_ms[n - 1];
    model->n_obs = n;
    model->state_bytes = model->ops->memsize(model->state);
    out->algorithm = model->algo;
    out->metrics = model->metrics;
    out->baseline = model->baseline;
    out->n_members =
        mm_model_members(model, out->members, out->member_weights, MM_MODEL_MAX_ENSEMBLE);
    err = mm_models__serialize(model, &out->artifact, &out->artifact_len, errstr, errstr_size);
done:
    mm_model_destroy(model);
    dataset_free(&d);
    return err;
}

/* ------------------------------------------------------------ scoring */

mm_err_t mm_model_predict(const mm_model_t *model, size_t n, const int64_t *time_ms,
                          const double *const *exog, double *proba, char *errstr,
                          size_t errstr_size) {
    if (!model || (n > 0 && (!time_ms || !proba)))
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "predict: NULL argument");
    if (model->cfg.task != MM_TASK_CLASSIFY)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "predict: %s is a forecasting model (use mm_model_forecast)",
                       mm_algo_name(model->algo));
    if (n == 0) return MM_OK;
    if (n > ((size_t)1 << 24))
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "predict: %zu rows is too many", n);
    if (model->n_exog > 0 && !exog)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "predict: the model needs %zu telemetry columns", model->n_exog);
    for (size_t j = 0; j < model->n_exog; j++)
        if (!exog[j])
            return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "predict: column %zu is NULL",
                           j);
    mm_models__layout_t lay;
    mm_models__layout_init(&model->cfg, model->n_exog, &lay);
    double *X = malloc((n * lay.width + 1) * sizeof(double));
    if (!X) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "predict: out of memory");
    mm_models__classify_rows(&model->cfg, &lay, n, time_ms, exog, X);
    mm_err_t err = model->ops->predict_x(model->state, X, n, lay.width, proba, errstr, errstr_size);
    free(X);
    return err;
}

mm_err_t mm_model_predict_latest(const mm_model_t *model, double *proba, int64_t *at_ms,
                                 char *errstr, size_t errstr_size) {
    if (!model || !proba)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "predict_latest: NULL argument");
    if (model->cfg.task != MM_TASK_CLASSIFY)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "predict_latest: %s is a forecasting model (use mm_model_forecast)",
                       mm_algo_name(model->algo));
    if (!model->telemetry || model->n_telemetry == 0)
        return mm_errf(MM_ERR_UNSUPPORTED, errstr, errstr_size,
                       "predict_latest: the artifact predates stored telemetry (no tail of raw "
                       "rows to score); retrain the key, or call mm_model_predict with recent "
                       "rows");
    size_t rows = model->n_telemetry;
    const double *cols[MM_MODEL_MAX_EXOG];
    for (size_t j = 0; j < model->n_exog; j++) cols[j] = model->telemetry + j * rows;
    mm_models__layout_t lay;
    mm_models__layout_init(&model->cfg, model->n_exog, &lay);
    double *row = malloc((lay.width + 1) * sizeof(double));
    if (!row) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "predict_latest: out of memory");
    mm_models__classify_last_row(&model->cfg, &lay, rows, model->data_end_ms, cols, row);
    mm_err_t err =
        model->ops->predict_x(model->state, row, 1, lay.width, proba, errstr, errstr_size);
    free(row);
    if (err == MM_OK && at_ms) *at_ms = model->data_end_ms;
    return err;
}
