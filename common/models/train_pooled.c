/*
 * train_pooled.c - one model for several series (mm_model_train_pooled in
 * mm/model.h): a key whose rows come from several entities, such as the
 * machines of one machine type, trains one learner on the rows of all of
 * them and is judged on each of them.
 *
 * Forecast: ridge (and XGBoost where listed or where the rows reach
 * xgb_min_history) fitted on every entity's feature rows at once
 * (regress.c), each entity forecast recursively from its own history;
 * seasonal naive per entity is the baseline, and the fallback. Classify:
 * the classifiers on every entity's telemetry rows and look-ahead labels.
 * The backtest cuts each entity at the same distance from its own end, so
 * entities whose histories end on different days are judged alike.
 *
 * Workload: one call per multi-entity key on a trainer worker thread; each
 * window builds one pooled design matrix (rows of all entities) and
 * forecasts every entity: O(windows x candidates x rows).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models_int.h"

/* Fewest points an entity keeps before its first backtest window (forecast). */
#define MIN_TRAIN_POINTS 8
/* Fewest labelled training rows of a classifier window (all entities). */
#define MIN_TRAIN_ROWS 24
/* A 0/1 label above this is the positive class. */
#define POSITIVE_LABEL 0.5

static void set_reason(mm_train_result_t *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_reason(mm_train_result_t *out, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mm_models__vnote(out->fallback_reason, sizeof out->fallback_reason, fmt, ap);
    va_end(ap);
}

static mm_models__view_t view_of(const mm_model_config_t *cfg, const mm_series_t *s, size_t n) {
    return (mm_models__view_t){
        .cfg = cfg, .n = n, .time_ms = s->time_ms, .y = s->y, .n_exog = s->n_exog, .exog = s->exog};
}

/* The pooled model's common fields: no tail, no carried value of any one entity. */
static mm_err_t finish_pooled(mm_model_t *model, const mm_series_t *series, size_t n_series,
                              mm_train_result_t *out, char *errstr, size_t errstr_size) {
    int64_t end = series[0].time_ms[series[0].n - 1];
    uint64_t n_obs = 0;
    for (size_t e = 0; e < n_series; e++) {
        const mm_series_t *s = &series[e];
        if (s->time_ms[s->n - 1] > end) end = s->time_ms[s->n - 1];
        n_obs += s->n;
    }
    model->n_entities = (uint32_t)n_series;
    model->data_end_ms = end;
    model->n_obs = n_obs;
    model->n_exog = series[0].n_exog;
    model->exog_last = malloc((model->n_exog + 1) * sizeof(double));
    if (!model->exog_last)
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "train: out of memory");
    for (size_t j = 0; j < model->n_exog; j++) model->exog_last[j] = NAN;
    model->state_bytes = model->ops->memsize ? model->ops->memsize(model->state) : 0;
    return mm_models__train_result_fill(model, out, errstr, errstr_size);
}

/* ------------------------------------------------------------ forecast */

/* The learners among the candidates: only they pool. */
static uint32_t pooled_learners(const mm_model_config_t *cfg, size_t total_points) {
    const uint32_t learners = MM_MODELS__BIT(MM_ALGO_RIDGE) | MM_MODELS__BIT(MM_ALGO_XGBOOST);
    uint32_t listed = cfg->candidates & MM_MODELS__FORECAST_ALGOS;
    bool defaults = listed == 0 || (cfg->candidates & MM_MODELS__BIT(MM_ALGO_AUTO));
    uint32_t out = listed ? listed & learners : MM_MODELS__BIT(MM_ALGO_RIDGE);
    if (defaults && cfg->xgb_min_history >= 0 && total_points >= (size_t)cfg->xgb_min_history)
        out |= MM_MODELS__BIT(MM_ALGO_XGBOOST);
    return out;
}

/* One candidate's backtest over (window, entity) pairs. */
typedef struct pooled_bt {
    mm_metrics_t metrics;
    double *err; /* pairs x H errors, for the interval spread */
    size_t pairs;
    bool ok;
} pooled_bt_t;

/* The entities long enough for the backtest, listed in @p idx. */
static size_t backtest_entities(const mm_model_config_t *cfg, const mm_series_t *series,
                                size_t n_series, size_t *idx) {
    size_t K = (size_t)cfg->backtest_windows, H = (size_t)cfg->holdout, k = 0;
    for (size_t e = 0; e < n_series; e++)
        if (series[e].n >= K * H + MIN_TRAIN_POINTS) idx[k++] = e;
    return k;
}

/* Forecast entity @p s from its first @p cut points with @p state; errors and metrics. */
static mm_err_t forecast_window(const mm_model_config_t *cfg, const mm_models__ops_t *ops,
                                const void *state, const mm_series_t *s, size_t cut, bool nonneg,
                                mm_models__exog_buf_t *eb, double *mean, double *sd, double *err,
                                mm_metrics_t *m, char *why, size_t why_size) {
    size_t H = (size_t)cfg->holdout;
    double last[MM_MODEL_MAX_EXOG];
    mm_models__last_known_exog(s->n_exog, s->exog, cut, last);
    mm_models__resolve_known_exog(s->n_exog, mm_models__known_mask(cfg), s->exog, cut, last, H,
                                  eb->col);
    mm_models__fcctx_t fc = {.cfg = cfg,
                             .hist = s->y,
                             .n_hist = cut,
                             .end_ms = s->time_ms[cut - 1],
                             .n_exog = s->n_exog,
                             .fexog = (const double *const *)eb->col,
                             .nonneg = nonneg};
    mm_err_t e = ops->forecast(state, &fc, H, mean, sd, why, why_size);
    if (e != MM_OK) return e;
    mm_models__clip_nonneg(nonneg, mean, H);
    for (size_t k = 0; k < H; k++) err[k] = s->y[cut + k] - mean[k];
    mm_metrics_forecast(s->y + cut, mean, H, s->y, cut, cfg->season_length, m);
    return MM_OK;
}

static mm_err_t backtest_learner(const mm_model_config_t *cfg, const mm_series_t *series,
                                 const size_t *idx, size_t n_idx, mm_algo_t algo, bool nonneg,
                                 pooled_bt_t *bt, char *why, size_t why_size) {
    size_t K = (size_t)cfg->backtest_windows, H = (size_t)cfg->holdout;
    const mm_models__ops_t *ops = mm_models__ops(algo);
    memset(bt, 0, sizeof *bt);
    mm_metrics_init(&bt->metrics);
    mm_models__view_t *views = malloc(n_idx * sizeof *views);
    mm_metrics_t *pm = malloc(K * n_idx * sizeof *pm);
    double *mean = malloc(2 * H * sizeof(double));
    bt->err = malloc(K * n_idx * H * sizeof(double));
    mm_models__exog_buf_t eb = {0};
    mm_err_t err = MM_OK;
    if (!views || !pm || !mean || !bt->err || !mm_models__exog_buf_init(&eb, series[0].n_exog, H))
        err = mm_errf(MM_ERR_NOMEM, why, why_size, "backtest: out of memory");
    bool ok = err == MM_OK;
    for (size_t w = 0; ok && w < K; w++) {
        for (size_t i = 0; i < n_idx; i++) {
            const mm_series_t *s = &series[idx[i]];
            views[i] = view_of(cfg, s, s->n - (K - w) * H);
        }
        void *state = NULL;
        if (mm_models__regress_fit_pooled(algo, views, n_idx, &state, why, why_size) != MM_OK) {
            ok = false;
            break;
        }
        for (size_t i = 0; ok && i < n_idx; i++) {
            size_t pair = w * n_idx + i;
            ok = forecast_window(cfg, ops, state, &series[idx[i]], views[i].n, nonneg, &eb, mean,
                                 mean + H, bt->err + pair * H, &pm[pair], why, why_size) == MM_OK;
        }
        ops->destroy(state);
    }
    if (ok) {
        bt->pairs = K * n_idx;
        mm_models__metrics_mean(pm, bt->pairs, &bt->metrics);
        bt->ok = true;
    }
    mm_models__exog_buf_free(&eb);
    free(views);
    free(pm);
    free(mean);
    return err;
}

/* Seasonal naive of each backtested entity, averaged: the baseline. */
static mm_err_t pooled_baseline(const mm_model_config_t *cfg, const mm_series_t *series,
                                const size_t *idx, size_t n_idx, bool nonneg, mm_metrics_t *out,
                                char *why, size_t why_size) {
    mm_metrics_t *per = malloc((n_idx + 1) * sizeof *per);
    if (!per) return mm_errf(MM_ERR_NOMEM, why, why_size, "backtest: out of memory");
    size_t k = 0;
    mm_err_t err = MM_OK;
    for (size_t i = 0; err == MM_OK && i < n_idx; i++) {
        mm_models__backtest_t bt = {0};
        err = mm_models__backtest_run(cfg, &series[idx[i]], &mm_snaive_ops, nonneg, &bt, why,
                                      why_size);
        if (err == MM_OK && bt.ok) per[k++] = bt.metrics;
        mm_models__backtest_free(&bt);
    }
    if (err == MM_OK && k > 0) mm_models__metrics_mean(per, k, out);
    free(per);
    return err;
}

/* Seasonal naive as the pooled fallback: its state is the longest entity's (each
 * entity is scored from its own latest season). */
static mm_err_t pooled_snaive(mm_model_t *model, const mm_series_t *series, size_t n_series,
                              mm_train_result_t *out, char *why, size_t why_size) {
    size_t longest = 0;
    for (size_t e = 1; e < n_series; e++)
        if (series[e].n > series[longest].n) longest = e;
    out->fallback = true;
    model->algo = MM_ALGO_SNAIVE;
    model->ops = &mm_snaive_ops;
    mm_metrics_init(&model->metrics);
    free(model->interval_sd);
    model->interval_sd = NULL;
    model->n_interval_sd = 0;
    mm_models__view_t v = view_of(&model->cfg, &series[longest], series[longest].n);
    return mm_snaive_ops.fit(&v, &model->state, why, why_size);
}

/* Backtest the pooled learners, keep the best refitted on all rows (model->state
 * stays NULL, with a reason, when none can be). */
static mm_err_t select_pooled_learner(mm_model_t *model, const mm_series_t *series, size_t n_series,
                                      size_t total, mm_train_result_t *out, char *why,
                                      size_t why_size) {
    const mm_model_config_t *cfg = &model->cfg;
    size_t longest = 0;
    for (size_t e = 0; e < n_series; e++)
        if (series[e].n > longest) longest = series[e].n;
    mm_models__fit_windows_to_history(&model->cfg, longest, MIN_TRAIN_POINTS, out);
    size_t K = (size_t)cfg->backtest_windows, H = (size_t)cfg->holdout;
    if (total < (size_t)cfg->min_history) {
        set_reason(out, "%zu points over %zu entities is below min_history %d", total, n_series,
                   cfg->min_history);
        return MM_OK;
    }
    uint32_t learners = pooled_learners(cfg, total);
    if (!learners) {
        set_reason(out, "no pooled learner (ridge, xgboost) among the candidates");
        return MM_OK;
    }
    size_t *idx = malloc(n_series * sizeof *idx);
    if (!idx) return mm_errf(MM_ERR_NOMEM, why, why_size, "train: out of memory");
    size_t n_idx = backtest_entities(cfg, series, n_series, idx);
    mm_err_t err = MM_OK;
    if (n_idx == 0) {
        set_reason(out, "no entity has %zu backtest windows of %zu plus %d points", K, H,
                   MIN_TRAIN_POINTS);
        free(idx);
        return MM_OK;
    }
    err = pooled_baseline(cfg, series, idx, n_idx, model->nonneg, &model->baseline, why, why_size);
    pooled_bt_t bts[MM_ALGO__COUNT];
    memset(bts, 0, sizeof bts);
    mm_algo_t best = MM_ALGO_AUTO;
    mm_metric_id_t id = cfg->selection_metric;
    for (int a = 0; err == MM_OK && a < MM_ALGO__COUNT; a++) {
        if (!(learners & MM_MODELS__BIT(a))) continue;
        err = backtest_learner(cfg, series, idx, n_idx, (mm_algo_t)a, model->nonneg, &bts[a], why,
                               why_size);
        if (err != MM_OK || !bts[a].ok) continue;
        out->per_algo[a] = bts[a].metrics;
        if (best == MM_ALGO_AUTO ||
            mm_models__better(id, bts[a].metrics.v[id], bts[best].metrics.v[id]) ||
            (isnan(bts[best].metrics.v[id]) &&
             mm_models__better(MM_METRIC_RMSE, bts[a].metrics.v[MM_METRIC_RMSE],
                               bts[best].metrics.v[MM_METRIC_RMSE])))
            best = (mm_algo_t)a;
    }
    if (err == MM_OK && best == MM_ALGO_AUTO)
        set_reason(out, "no pooled learner could be backtested (%s)", why);
    if (err == MM_OK && best != MM_ALGO_AUTO) {
        model->interval_sd = malloc(H * sizeof(double));
        mm_models__view_t *views = malloc(n_series * sizeof *views);
        if (!model->interval_sd || !views) {
            err = mm_errf(MM_ERR_NOMEM, why, why_size, "train: out of memory");
        } else {
            model->n_interval_sd = H;
            mm_models__residual_spread(bts[best].err, bts[best].pairs, H, model->interval_sd);
            for (size_t e = 0; e < n_series; e++) views[e] = view_of(cfg, &series[e], series[e].n);
            model->algo = best;
            model->ops = mm_models__ops(best);
            model->metrics = bts[best].metrics;
            if (mm_models__regress_fit_pooled(best, views, n_series, &model->state, why,
                                              why_size) != MM_OK) {
                set_reason(out, "%s refit failed: %s", mm_algo_name(best), why);
                model->state = NULL;
            }
        }
        free(views);
    }
    for (int a = 0; a < MM_ALGO__COUNT; a++) free(bts[a].err);
    free(idx);
    return err;
}

static mm_err_t train_pooled_forecast(const mm_model_config_t *cfg, const mm_series_t *series,
                                      size_t n_series, mm_train_result_t *out, char *errstr,
                                      size_t errstr_size) {
    size_t total = 0, nobs = 0;
    bool nonneg = true;
    for (size_t e = 0; e < n_series; e++) {
        total += series[e].n;
        for (size_t i = 0; i < series[e].n; i++) {
            if (isnan(series[e].y[i])) continue;
            nobs++;
            if (series[e].y[i] < 0) nonneg = false;
        }
    }
    if (nobs < 1)
        return mm_errf(MM_ERR_INSUFFICIENT_DATA, errstr, errstr_size,
                       "train: no observed target value in %zu points of %zu entities", total,
                       n_series);
    mm_model_t *model = mm_models__model_new(cfg);
    if (!model) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "train: out of memory");
    model->nonneg = nonneg;
    char why[256] = "";
    mm_err_t err = select_pooled_learner(model, series, n_series, total, out, why, sizeof why);
    if (err == MM_OK && !model->state) {
        if (pooled_snaive(model, series, n_series, out, why, sizeof why) != MM_OK)
            err = MM_ERR_INSUFFICIENT_DATA;
    }
    if (err != MM_OK) {
        mm_model_destroy(model);
        return mm_errf(err, errstr, errstr_size, "train: %s", why);
    }
    err = finish_pooled(model, series, n_series, out, errstr, errstr_size);
    mm_model_destroy(model);
    return err;
}

/* ------------------------------------------------------------ classify */

/* Every entity's feature rows and labels, one after another. */
typedef struct pooled_rows {
    size_t p, n;   /* features per row, rows in all */
    size_t *start; /* n_series + 1: entity e's rows are [start[e], start[e + 1]) */
    double *X;     /* n x p */
    double *label; /* labels known with the whole history */
    double *known; /* scratch: labels as known at a cut */
    double *Xtr, *ytr, *wtr, *yte, *score;
} pooled_rows_t;

static void pooled_rows_free(pooled_rows_t *d) {
    free(d->start);
    free(d->X);
    free(d->label);
    free(d->known);
    free(d->Xtr);
    free(d->ytr);
    free(d->wtr);
    free(d->yte);
    free(d->score);
}

static bool pooled_rows_build(const mm_model_config_t *cfg, const mm_series_t *series,
                              size_t n_series, pooled_rows_t *d) {
    mm_models__layout_t lay;
    mm_models__layout_init(cfg, series[0].n_exog, &lay);
    d->p = lay.width;
    d->start = malloc((n_series + 1) * sizeof *d->start);
    if (!d->start) return false;
    d->n = 0;
    for (size_t e = 0; e < n_series; e++) {
        d->start[e] = d->n;
        d->n += series[e].n;
    }
    d->start[n_series] = d->n;
    size_t n = d->n, p = d->p;
    d->X = malloc((n * p + 1) * sizeof(double));
    d->label = malloc(n * sizeof(double));
    d->known = malloc(n * sizeof(double));
    d->Xtr = malloc((n * p + 1) * sizeof(double));
    d->ytr = malloc(n * sizeof(double));
    d->wtr = malloc(n * sizeof(double));
    d->yte = malloc(n * sizeof(double));
    d->score = malloc(n * sizeof(double));
    if (!d->X || !d->label || !d->known || !d->Xtr || !d->ytr || !d->wtr || !d->yte || !d->score)
        return false;
    for (size_t e = 0; e < n_series; e++) {
        const mm_series_t *s = &series[e];
        size_t at = d->start[e];
        mm_models__classify_rows(cfg, &lay, s->n, s->time_ms, s->exog, d->X + at * p);
        mm_models__labels(s->y, s->n, s->n, cfg->lookahead, d->label + at);
    }
    return true;
}

/* The rows of each entity before its cut (@p cut_back rows before its end; 0: all)
 * whose labels are known at that cut, weighted. */
static size_t gather_pooled_train(const mm_model_config_t *cfg, const mm_series_t *series,
                                  size_t n_series, pooled_rows_t *d, size_t cut_back,
                                  size_t *n_pos) {
    size_t k = 0;
    *n_pos = 0;
    for (size_t e = 0; e < n_series; e++) {
        const mm_series_t *s = &series[e];
        if (s->n <= cut_back) continue;
        size_t cut = s->n - cut_back, at = d->start[e];
        mm_models__labels(s->y, s->n, cut, cfg->lookahead, d->known + at);
        for (size_t t = 0; t < cut; t++) {
            if (isnan(d->known[at + t])) continue;
            memcpy(d->Xtr + k * d->p, d->X + (at + t) * d->p, d->p * sizeof(double));
            d->ytr[k] = d->known[at + t];
            *n_pos += d->ytr[k] > POSITIVE_LABEL;
            k++;
        }
    }
    mm_models__class_weights(cfg, d->ytr, k, d->wtr);
    return k;
}

/* The entities' rows, for backtest_classifier. */
typedef struct pooled_ctx {
    const mm_model_config_t *cfg;
    const mm_series_t *series;
    size_t n_series;
    pooled_rows_t *d;
} pooled_ctx_t;

/* One classifier over the K windows, every entity's test rows together; the
 * prior rate's metrics too when @p wb is not NULL (mm_models__classify_backtest_fn). */
static bool backtest_classifier(void *ctx, const mm_models__ops_t *ops, mm_metrics_t *wm,
                                mm_metrics_t *wb, char *why, size_t why_size) {
    pooled_ctx_t *c = ctx;
    const mm_model_config_t *cfg = c->cfg;
    const mm_series_t *series = c->series;
    size_t n_series = c->n_series;
    pooled_rows_t *d = c->d;
    size_t K = (size_t)cfg->backtest_windows, H = (size_t)cfg->holdout, p = d->p;
    for (size_t w = 0; w < K; w++) {
        size_t back = (K - w) * H, n_pos;
        size_t ntr = gather_pooled_train(cfg, series, n_series, d, back, &n_pos);
        if (ntr < MIN_TRAIN_ROWS || n_pos == 0 || n_pos == ntr) {
            snprintf(why, why_size, "window %zu: %zu labelled rows, %zu positive", w, ntr, n_pos);
            return false;
        }
        void *state = NULL;
        if (ops->fit_xy(cfg, d->Xtr, d->ytr, d->wtr, ntr, p, &state, why, why_size) != MM_OK)
            return false;
        size_t nte = 0;
        bool ok = true;
        for (size_t e = 0; ok && e < n_series; e++) {
            const mm_series_t *s = &series[e];
            if (s->n <= back) continue;
            size_t cut = d->start[e] + s->n - back;
            ok =
                ops->predict_x(state, d->X + cut * p, H, p, d->score + nte, why, why_size) == MM_OK;
            memcpy(d->yte + nte, d->label + cut, H * sizeof(double));
            nte += H;
        }
        ops->destroy(state);
        if (!ok) return false;
        mm_metrics_classify(d->yte, d->score, nte, &wm[w]);
        if (wb) {
            double prior = (double)n_pos / (double)ntr;
            for (size_t i = 0; i < nte; i++) d->score[i] = prior;
            mm_metrics_classify(d->yte, d->score, nte, &wb[w]);
        }
    }
    return true;
}

static mm_err_t select_pooled_classifier(mm_model_t *model, const mm_series_t *series,
                                         size_t n_series, pooled_rows_t *d, mm_train_result_t *out,
                                         char *errstr, size_t errstr_size) {
    const mm_model_config_t *cfg = &model->cfg;
    size_t K = (size_t)cfg->backtest_windows, H = (size_t)cfg->holdout;
    if (d->n < (size_t)cfg->min_history) {
        set_reason(out, "%zu rows over %zu entities is below min_history %d", d->n, n_series,
                   cfg->min_history);
        return MM_OK;
    }
    bool any = false;
    for (size_t e = 0; e < n_series; e++) any = any || series[e].n > K * H;
    if (!any) {
        set_reason(out, "no entity has more than %zu backtest windows of %zu rows", K, H);
        return MM_OK;
    }
    pooled_ctx_t ctx = {.cfg = cfg, .series = series, .n_series = n_series, .d = d};
    return mm_models__select_classifier(model, backtest_classifier, &ctx, out, errstr, errstr_size);
}

/* Refit on every row whose label is known (mm_models__fit_classifier). */
static mm_err_t fit_pooled_classifier(mm_model_t *model, const mm_series_t *series, size_t n_series,
                                      pooled_rows_t *d, mm_train_result_t *out, char *errstr,
                                      size_t errstr_size) {
    size_t n_pos, ntr = gather_pooled_train(&model->cfg, series, n_series, d, 0, &n_pos);
    char rows[96];
    snprintf(rows, sizeof rows, "%zu rows of %zu entities", d->n, n_series);
    return mm_models__fit_classifier(model, d->Xtr, d->ytr, d->wtr, ntr, n_pos, d->p, rows, out,
                                     errstr, errstr_size);
}

static mm_err_t train_pooled_classify(const mm_model_config_t *cfg, const mm_series_t *series,
                                      size_t n_series, mm_train_result_t *out, char *errstr,
                                      size_t errstr_size) {
    pooled_rows_t d = {0};
    mm_model_t *model = mm_models__model_new(cfg);
    if (!model || !pooled_rows_build(cfg, series, n_series, &d)) {
        mm_model_destroy(model);
        pooled_rows_free(&d);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "train: out of memory");
    }
    mm_err_t err = select_pooled_classifier(model, series, n_series, &d, out, errstr, errstr_size);
    if (err == MM_OK)
        err = fit_pooled_classifier(model, series, n_series, &d, out, errstr, errstr_size);
    if (err == MM_OK) err = finish_pooled(model, series, n_series, out, errstr, errstr_size);
    mm_model_destroy(model);
    pooled_rows_free(&d);
    return err;
}

/* ------------------------------------------------------------ entry */

mm_err_t mm_model_train_pooled(const mm_model_config_t *cfg_in, const mm_series_t *series,
                               size_t n_series, mm_train_result_t *out, char *errstr,
                               size_t errstr_size) {
    if (cfg_in && series && n_series == 1)
        return mm_model_train(cfg_in, series, out, errstr, errstr_size);
    memset(out, 0, sizeof *out);
    out->algorithm = MM_ALGO_AUTO;
    mm_metrics_init(&out->metrics);
    mm_metrics_init(&out->baseline);
    for (int a = 0; a < MM_ALGO__COUNT; a++) mm_metrics_init(&out->per_algo[a]);
    if (!cfg_in || !series || n_series == 0)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "train: NULL config or no series");
    if (n_series > UINT32_MAX)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "train: %zu series", n_series);
    mm_model_config_t cfg = *cfg_in;
    mm_models__resolve_tuning(&cfg);
    cfg.features.n_exog = series[0].n_exog;
    mm_err_t err = mm_model_config_validate(&cfg, errstr, errstr_size);
    if (err != MM_OK) return err;
    for (size_t e = 0; e < n_series; e++) {
        if (series[e].n_exog != series[0].n_exog)
            return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                           "train: series %zu has %zu exogenous columns, series 0 %zu", e,
                           series[e].n_exog, series[0].n_exog);
        err = mm_models__check_series(cfg_in, &series[e], errstr, errstr_size);
        if (err != MM_OK) return err;
    }
    if (cfg.task == MM_TASK_CLASSIFY)
        return train_pooled_classify(&cfg, series, n_series, out, errstr, errstr_size);
    return train_pooled_forecast(&cfg, series, n_series, out, errstr, errstr_size);
}
