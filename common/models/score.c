/*
 * score.c - scoring a loaded or freshly trained model: forecasts with
 * prediction intervals (mm_model_forecast), and classification
 * probabilities for rows of telemetry (mm_model_predict) or for the end of
 * the training data (mm_model_predict_latest). The model's own operations
 * do the arithmetic; this file resolves inputs, clips, and turns standard
 * deviations into intervals.
 *
 * Forecast times are data_end + k * period: the loader and training bound
 * data_end and the period (config.c) and the horizon is at most
 * MM_MODELS__MAX_FORECAST_STEPS, so the sum cannot overflow.
 *
 * Workload: the scorer, many calls per second over cached models; each call
 * allocates its output and one scratch buffer.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models_int.h"

/* Rows one mm_model_predict call accepts. */
#define MAX_PREDICT_ROWS ((size_t)1 << 24)

/* ------------------------------------------------------------ forecasting */

/* Extend the residual sd beyond the steps the backtest saw with the growth
 * law of its own last step: sd_k = sd_H (k/H)^b, b from sd_1 and sd_H. */
static double residual_sd(const double *sd, size_t n, size_t k /* 1-based */) {
    if (n == 0) return NAN;
    if (k <= n) return sd[k - 1];
    double b = 0.5;
    if (n > 1 && sd[0] > 0 && sd[n - 1] > 0) {
        b = log(sd[n - 1] / sd[0]) / log((double)n);
        b = b < 0 ? 0 : b > 1 ? 1 : b;
    }
    return sd[n - 1] * pow((double)k / (double)n, b);
}

void mm_forecast_clear(mm_forecast_t *fc) {
    if (!fc) return;
    free(fc->time_ms);
    free(fc->mean);
    free(fc->lower);
    free(fc->upper);
    memset(fc, 0, sizeof *fc);
}

bool mm_models__forecast_alloc(mm_forecast_t *out, size_t h, double level) {
    out->h = h;
    out->level = level;
    out->time_ms = malloc(h * sizeof(int64_t));
    out->mean = malloc(h * sizeof(double));
    out->lower = malloc(h * sizeof(double));
    out->upper = malloc(h * sizeof(double));
    if (out->time_ms && out->mean && out->lower && out->upper) return true;
    mm_forecast_clear(out);
    return false;
}

void mm_models__forecast_finish(const mm_model_t *model, int64_t end_ms, const double *mean,
                                const double *sd, size_t skip, mm_forecast_t *out) {
    size_t h = out->h;
    if (out->mean != mean + skip) memmove(out->mean, mean + skip, h * sizeof(double));
    mm_models__clip_nonneg(model->nonneg, out->mean, h);
    double z = mm_models__interval_z(model->cfg.interval_level);
    for (size_t k = 0; k < h; k++) {
        size_t step = skip + k + 1;
        out->time_ms[k] = end_ms + (int64_t)step * model->cfg.period_ms;
        double s = sd[skip + k];
        if (!isfinite(s)) s = residual_sd(model->interval_sd, model->n_interval_sd, step);
        double lo = out->mean[k] - z * s, hi = out->mean[k] + z * s;
        if (model->nonneg && lo < 0) lo = 0;
        out->lower[k] = lo;
        out->upper[k] = hi;
    }
}

mm_err_t mm_model_forecast(const mm_model_t *model, size_t h, const double *const *future_exog,
                           mm_forecast_t *out, char *errstr, size_t errstr_size) {
    memset(out, 0, sizeof *out);
    if (!model) return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "forecast: NULL model");
    if (model->cfg.task != MM_TASK_FORECAST)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "forecast: %s is a classification model (use mm_model_predict)",
                       mm_algo_name(model->algo));
    if (h < 1 || h > MM_MODELS__MAX_FORECAST_STEPS)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "forecast: horizon %zu out of range 1..%d", h,
                       MM_MODELS__MAX_FORECAST_STEPS);
    mm_models__exog_buf_t eb = {0};
    if (!mm_models__forecast_alloc(out, h, model->cfg.interval_level) ||
        !mm_models__exog_buf_init(&eb, model->n_exog, h)) {
        mm_forecast_clear(out);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "forecast: out of memory");
    }
    mm_models__resolve_known_exog(model->n_exog, mm_models__known_mask(&model->cfg), future_exog, 0,
                                  model->exog_last, h, eb.col);
    mm_models__fcctx_t fc = {.cfg = &model->cfg,
                             .hist = model->tail,
                             .n_hist = model->n_tail,
                             .end_ms = model->data_end_ms,
                             .n_exog = model->n_exog,
                             .fexog = (const double *const *)eb.col,
                             .nonneg = model->nonneg};
    double *sd = out->lower; /* analytic sd lands here first */
    mm_err_t err = model->ops->forecast(model->state, &fc, h, out->mean, sd, errstr, errstr_size);
    mm_models__exog_buf_free(&eb);
    if (err != MM_OK) {
        mm_forecast_clear(out);
        return err;
    }
    mm_models__forecast_finish(model, model->data_end_ms, out->mean, sd, 0, out);
    return MM_OK;
}

/* ------------------------------------------------------------ classification */

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
    if (n > MAX_PREDICT_ROWS)
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
