/*
 * train_classify.c - training a classification key: labels, temporal
 * backtest of the classifiers (classify.c), selection, refit on every row
 * whose label is known, and what batch scoring needs from the end of the
 * data.
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
 * Workload: hourly telemetry, a few thousand rows per machine and a few
 * dozen features; one call per key on a trainer worker thread.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models_int.h"

/* Fewest labelled rows a classifier is trained on (plus the look-ahead). */
#define MIN_TRAIN_ROWS 24
/* A 0/1 label above this is the positive class. */
#define POSITIVE_LABEL 0.5
/* The constant-rate model's smoothing: (positives + 1/2) / (rows + 1). */
#define RATE_PRIOR_POSITIVES 0.5
#define RATE_PRIOR_ROWS      1.0

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

static bool dataset_alloc(dataset_t *d, size_t n, size_t p) {
    d->n = n;
    d->p = p;
    d->X = malloc((n * p + 1) * sizeof(double));
    d->label = malloc(n * sizeof(double));
    d->known = malloc(n * sizeof(double));
    d->Xtr = malloc((n * p + 1) * sizeof(double));
    d->ytr = malloc(n * sizeof(double));
    d->wtr = malloc(n * sizeof(double));
    d->score = malloc(n * sizeof(double));
    return d->X && d->label && d->known && d->Xtr && d->ytr && d->wtr && d->score;
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
        *n_pos += d->known[t] > POSITIVE_LABEL;
        k++;
    }
    mm_models__class_weights(cfg, d->ytr, k, d->wtr);
    return k;
}

static void set_reason(mm_train_result_t *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_reason(mm_train_result_t *out, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->fallback_reason, sizeof out->fallback_reason, fmt, ap);
    va_end(ap);
}

/* One series' rows, for backtest_one. */
typedef struct series_rows {
    const mm_model_config_t *cfg;
    const mm_series_t *s;
    dataset_t *d;
} series_rows_t;

/* Backtest one classifier over the K windows into @p wm; the prior-rate
 * baseline into @p wb when it is not NULL. @returns false (and why) when a
 * window cannot be trained or predicted. (mm_models__classify_backtest_fn) */
static bool backtest_one(void *ctx, const mm_models__ops_t *ops, mm_metrics_t *wm, mm_metrics_t *wb,
                         char *why, size_t why_size) {
    series_rows_t *r = ctx;
    const mm_model_config_t *cfg = r->cfg;
    const mm_series_t *s = r->s;
    dataset_t *d = r->d;
    size_t n = d->n, p = d->p;
    size_t K = (size_t)cfg->backtest_windows, H = (size_t)cfg->holdout;
    for (size_t w = 0; w < K; w++) {
        size_t cut = n - (K - w) * H, n_pos;
        size_t ntr = gather_train(cfg, s, d, cut, &n_pos);
        if (ntr < MIN_TRAIN_ROWS || n_pos == 0 || n_pos == ntr) {
            snprintf(why, why_size, "window %zu: %zu labelled rows, %zu positive", w, ntr, n_pos);
            return false;
        }
        if (wb) {
            double prior = (double)n_pos / (double)ntr;
            for (size_t i = 0; i < H; i++) d->score[i] = prior;
            mm_metrics_classify(d->label + cut, d->score, H, &wb[w]);
        }
        void *state = NULL;
        if (ops->fit_xy(cfg, d->Xtr, d->ytr, d->wtr, ntr, p, &state, why, why_size) != MM_OK)
            return false;
        mm_err_t perr = ops->predict_x(state, d->X + cut * p, H, p, d->score, why, why_size);
        ops->destroy(state);
        if (perr != MM_OK) return false;
        mm_metrics_classify(d->label + cut, d->score, H, &wm[w]);
    }
    return true;
}

/* Backtest the candidates and choose the best (model->ops stays NULL, and
 * out->fallback_reason says why, when none can be chosen). */
static mm_err_t select_classifier(mm_model_t *model, const mm_series_t *s, dataset_t *d,
                                  mm_train_result_t *out, char *errstr, size_t errstr_size) {
    const mm_model_config_t *cfg = &model->cfg;
    size_t n = d->n, K = (size_t)cfg->backtest_windows, H = (size_t)cfg->holdout;
    size_t min_train = MIN_TRAIN_ROWS + (size_t)cfg->lookahead;
    if (n < (size_t)cfg->min_history) {
        set_reason(out, "%zu rows is below min_history %d", n, cfg->min_history);
        return MM_OK;
    }
    if (n < K * H + min_train) {
        set_reason(out, "%zu rows are too few for %zu backtest windows of %zu plus %zu to train", n,
                   K, H, min_train);
        return MM_OK;
    }
    series_rows_t rows = {.cfg = cfg, .s = s, .d = d};
    return mm_models__select_classifier(model, backtest_one, &rows, out, errstr, errstr_size);
}

mm_err_t mm_models__select_classifier(mm_model_t *model, mm_models__classify_backtest_fn *bt,
                                      void *ctx, mm_train_result_t *out, char *errstr,
                                      size_t errstr_size) {
    const mm_model_config_t *cfg = &model->cfg;
    size_t K = (size_t)cfg->backtest_windows;
    uint32_t cands = cfg->candidates & MM_MODELS__CLASSIFY_ALGOS;
    if (cands == 0) cands = MM_MODELS__CLASSIFY_ALGOS;
    mm_metrics_t res[MM_ALGO__COUNT];
    mm_metrics_t *wm = calloc(K, sizeof *wm), *wb = calloc(K, sizeof *wb);
    if (!wm || !wb) {
        free(wm);
        free(wb);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "train: out of memory");
    }
    char why[256] = "";
    bool baseline_done = false;
    mm_metric_id_t id = cfg->selection_metric;
    mm_algo_t best = MM_ALGO_AUTO;
    for (int a = 0; a < MM_ALGO__COUNT; a++) {
        if (!(cands & MM_MODELS__BIT(a))) continue;
        if (!bt(ctx, mm_models__ops((mm_algo_t)a), wm, baseline_done ? NULL : wb, why, sizeof why))
            continue;
        if (!baseline_done) {
            mm_models__metrics_mean(wb, K, &model->baseline);
            baseline_done = true;
        }
        mm_models__metrics_mean(wm, K, &res[a]);
        out->per_algo[a] = res[a];
        if (best == MM_ALGO_AUTO || mm_models__better(id, res[a].v[id], res[best].v[id]))
            best = (mm_algo_t)a;
    }
    free(wm);
    free(wb);
    if (best == MM_ALGO_AUTO) {
        set_reason(out, "no candidate could be backtested (%s)", why);
        return MM_OK;
    }
    model->algo = best;
    model->ops = mm_models__ops(best);
    model->metrics = res[best];
    return MM_OK;
}

/* Refit on every row whose label is known (mm_models__fit_classifier). */
static mm_err_t fit_final(mm_model_t *model, const mm_series_t *s, dataset_t *d,
                          mm_train_result_t *out, char *errstr, size_t errstr_size) {
    size_t n_pos, ntr = gather_train(&model->cfg, s, d, d->n, &n_pos);
    char rows[64];
    snprintf(rows, sizeof rows, "%zu rows", d->n);
    return mm_models__fit_classifier(model, d->Xtr, d->ytr, d->wtr, ntr, n_pos, d->p, rows, out,
                                     errstr, errstr_size);
}

mm_err_t mm_models__fit_classifier(mm_model_t *model, const double *X, const double *y,
                                   const double *w, size_t ntr, size_t n_pos, size_t p,
                                   const char *rows_desc, mm_train_result_t *out, char *errstr,
                                   size_t errstr_size) {
    const mm_model_config_t *cfg = &model->cfg;
    if (!model->ops) {
        out->fallback = true;
        model->algo = cfg->fallback;
        model->ops = mm_models__ops(cfg->fallback);
    }
    if (ntr == 0)
        return mm_errf(MM_ERR_INSUFFICIENT_DATA, errstr, errstr_size,
                       "train: no row with a known label in %s", rows_desc);
    if (n_pos == 0 || n_pos == ntr || ntr < 2) {
        /* one class only: the honest model is the smoothed base rate */
        size_t used = strlen(out->fallback_reason);
        snprintf(out->fallback_reason + used, sizeof out->fallback_reason - used,
                 "%s%zu of %zu labels positive: constant rate", used ? "; " : "", n_pos, ntr);
        out->fallback = true;
        model->algo = MM_ALGO_LOGISTIC;
        model->ops = &mm_logistic_ops;
        double rate = ((double)n_pos + RATE_PRIOR_POSITIVES) / ((double)ntr + RATE_PRIOR_ROWS);
        return mm_models__constant_classifier(p, rate, &model->state, errstr, errstr_size);
    }
    char why[256] = "";
    mm_err_t err = model->ops->fit_xy(cfg, X, y, w, ntr, p, &model->state, why, sizeof why);
    if (err != MM_OK)
        return mm_errf(err, errstr, errstr_size, "train: %s refit: %s", mm_algo_name(model->algo),
                       why);
    return MM_OK;
}

/* What scoring needs from the end of the data: the last known telemetry
 * values and the rows the last row's rolling windows reach back over. */
static mm_err_t keep_tail(mm_model_t *model, const mm_series_t *s, char *errstr,
                          size_t errstr_size) {
    size_t n = s->n;
    model->n_exog = s->n_exog;
    model->exog_last = malloc((s->n_exog + 1) * sizeof(double));
    if (!model->exog_last)
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "train: out of memory");
    mm_models__last_known_exog(s->n_exog, s->exog, n, model->exog_last);
    size_t rows = 1;
    for (size_t i = 0; i < model->cfg.features.n_windows; i++)
        if ((size_t)model->cfg.features.windows[i] > rows)
            rows = (size_t)model->cfg.features.windows[i];
    if (rows > n) rows = n;
    model->telemetry = malloc((rows * s->n_exog + 1) * sizeof(double));
    if (!model->telemetry)
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "train: out of memory");
    model->n_telemetry = rows;
    for (size_t j = 0; j < s->n_exog; j++)
        memcpy(model->telemetry + j * rows, s->exog[j] + n - rows, rows * sizeof(double));
    model->data_end_ms = s->time_ms[n - 1];
    model->n_obs = n;
    return MM_OK;
}

mm_err_t mm_models__train_classify(const mm_model_config_t *cfg, const mm_series_t *s,
                                   mm_train_result_t *out, char *errstr, size_t errstr_size) {
    mm_models__layout_t lay;
    mm_models__layout_init(cfg, s->n_exog, &lay);
    size_t n = s->n;
    dataset_t d = {0};
    mm_model_t *model = mm_models__model_new(cfg);
    if (!dataset_alloc(&d, n, lay.width) || !model) {
        mm_model_destroy(model);
        dataset_free(&d);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "train: out of memory");
    }
    mm_models__classify_rows(cfg, &lay, n, s->time_ms, s->exog, d.X);
    mm_models__labels(s->y, n, n, cfg->lookahead, d.label);
    mm_err_t err = select_classifier(model, s, &d, out, errstr, errstr_size);
    if (err == MM_OK) err = fit_final(model, s, &d, out, errstr, errstr_size);
    if (err == MM_OK) err = keep_tail(model, s, errstr, errstr_size);
    if (err == MM_OK) {
        model->state_bytes = model->ops->memsize(model->state);
        err = mm_models__train_result_fill(model, out, errstr, errstr_size);
    }
    mm_model_destroy(model);
    dataset_free(&d);
    return err;
}
