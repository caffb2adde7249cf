/*
 * score_from.c - scoring new data: a loaded forecasting model applied to a
 * key's newest observations without refitting (mm_model_forecast_from), and
 * how much of a key's history that takes (mm_model_history_needed).
 *
 * The history a forecast starts from is the model's stored tail of targets
 * (ending at its data end) followed by the grid points after it up to the
 * latest observation, missing ones NaN. A forecaster whose state the new
 * points move (exponential smoothing, seasonal naive, Croston/SBA/TSB, an
 * ensemble of them) gets an advanced copy of its state from its own
 * operations; the lag models read their lags from that history. Then the
 * model forecasts as mm_model_forecast does, from the latest observation,
 * with the exogenous values of each step: a known-in-advance column's
 * planned value matched by time, else (and for the other columns) the last
 * value carried forward. With no new point every input equals what
 * mm_model_forecast uses, so the result is the same to the bit.
 *
 * Workload: the scorer, one call per key and run over cached models; the
 * history is the model's tail plus the new points, usually a few dozen
 * values, and each call allocates its output and a few scratch buffers.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models_int.h"

/* Grid points between a model's data end and the latest observation a
 * forecast may span (the history buffer holds them all). */
#define MAX_NEW_SPAN ((int64_t)1 << 24)

size_t mm_model_history_needed(const mm_model_t *model) {
    if (!model) return 1;
    mm_models__layout_t lay;
    mm_models__layout_init(&model->cfg, model->n_exog, &lay);
    size_t need = lay.max_lookback;
    for (size_t i = 0; i < model->cfg.features.n_windows; i++)
        if ((size_t)model->cfg.features.windows[i] > need)
            need = (size_t)model->cfg.features.windows[i];
    size_t seasons = 2 * (size_t)(model->cfg.season_length > 0 ? model->cfg.season_length : 1);
    if (seasons > need) need = seasons;
    if (model->n_tail > need) need = model->n_tail;
    return need > 0 ? need : 1;
}

/* Sorted, on the model's grid when @p grid, columns as the model's (or none). */
static mm_err_t check_series(const char *what, const mm_series_t *s, const mm_model_t *model,
                             bool grid, char *errstr, size_t errstr_size) {
    if (!s || s->n == 0) return MM_OK;
    if (!s->time_ms || (grid && !s->y))
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "forecast_from: %s rows without times or values", what);
    if (s->n_exog != 0 && s->n_exog != model->n_exog)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "forecast_from: %s has %zu exogenous columns, the model %zu", what,
                       s->n_exog, model->n_exog);
    for (size_t j = 0; j < s->n_exog; j++)
        if (!s->exog || !s->exog[j])
            return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                           "forecast_from: %s exogenous column %zu is NULL", what, j);
    const int64_t period = model->cfg.period_ms;
    for (size_t i = 0; i < s->n; i++) {
        int64_t t = s->time_ms[i];
        if (!mm_models__time_in_range(t))
            return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                           "forecast_from: %s time %lld at index %zu is outside years 1..9999",
                           what, (long long)t, i);
        if (i > 0 && t <= s->time_ms[i - 1])
            return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                           "forecast_from: %s times not strictly increasing at index %zu", what, i);
        if (grid && (t - model->data_end_ms) % period != 0)
            return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                           "forecast_from: %s time %lld at index %zu is off the model's grid "
                           "(data end %lld + k x period %lld ms): irregular series",
                           what, (long long)t, i, (long long)model->data_end_ms, (long long)period);
    }
    return MM_OK;
}

/* Where the forecast starts and what it spans. */
typedef struct origin {
    int64_t watermark; /* the latest observation used (the data end without new ones) */
    size_t span;       /* grid points after the data end up to the watermark */
    size_t n_obs;      /* observed targets among them */
    size_t skip;       /* steps from the watermark to the as-of time */
} origin_t;

static mm_err_t find_origin(const mm_model_t *model, const mm_series_t *rec, int64_t as_of,
                            size_t h, origin_t *o, char *errstr, size_t errstr_size) {
    const int64_t d = model->data_end_ms, period = model->cfg.period_ms;
    memset(o, 0, sizeof *o);
    if (as_of != 0) {
        if (!mm_models__time_in_range(as_of) || as_of < d || (as_of - d) % period != 0)
            return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                           "forecast_from: as_of %lld must be on the model's grid at or after "
                           "its data end %lld (period %lld ms)",
                           (long long)as_of, (long long)d, (long long)period);
    }
    o->watermark = d;
    for (size_t i = 0; rec && i < rec->n; i++) {
        int64_t t = rec->time_ms[i];
        if (t <= d) continue;               /* the model's own tail covers these */
        if (as_of != 0 && t > as_of) break; /* after the window's origin: ignored */
        if (isnan(rec->y[i])) continue;
        o->watermark = t;
        o->n_obs++;
    }
    int64_t span = (o->watermark - d) / period;
    if (span > MAX_NEW_SPAN)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "forecast_from: the latest observation is %lld periods after the model's "
                       "data end (at most %lld)",
                       (long long)span, (long long)MAX_NEW_SPAN);
    o->span = (size_t)span;
    int64_t skip = as_of != 0 ? (as_of - o->watermark) / period : 0;
    if (skip > (int64_t)(MM_MODELS__MAX_FORECAST_STEPS - h))
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "forecast_from: as_of is %lld periods after the latest observation; with "
                       "%zu steps that is over %d",
                       (long long)skip, h, MM_MODELS__MAX_FORECAST_STEPS);
    o->skip = (size_t)skip;
    return MM_OK;
}

/* The model's tail, then the grid points up to the watermark from @p rec. */
static double *build_history(const mm_model_t *model, const mm_series_t *rec, const origin_t *o,
                             size_t *n_hist) {
    *n_hist = model->n_tail + o->span;
    double *hist = malloc((*n_hist + 1) * sizeof(double));
    if (!hist) return NULL;
    if (model->n_tail) memcpy(hist, model->tail, model->n_tail * sizeof(double));
    for (size_t i = model->n_tail; i < *n_hist; i++) hist[i] = NAN;
    const int64_t d = model->data_end_ms, period = model->cfg.period_ms;
    for (size_t i = 0; rec && i < rec->n; i++) {
        int64_t t = rec->time_ms[i];
        if (t <= d || t > o->watermark) continue;
        hist[model->n_tail + (size_t)((t - d) / period) - 1] = rec->y[i];
    }
    return hist;
}

/* The last value of each exogenous column observed after the data end up
 * to the watermark, else the one the model was trained with. */
static void latest_exog(const mm_model_t *model, const mm_series_t *rec, int64_t watermark,
                        double *last) {
    for (size_t j = 0; j < model->n_exog; j++) last[j] = model->exog_last[j];
    if (!rec || rec->n_exog == 0) return;
    for (size_t j = 0; j < model->n_exog; j++)
        for (size_t i = rec->n; i-- > 0;) {
            int64_t t = rec->time_ms[i];
            if (t > watermark) continue;
            if (t <= model->data_end_ms) break;
            if (!isnan(rec->exog[j][i])) {
                last[j] = rec->exog[j][i];
                break;
            }
        }
}

/* Planned values of the known columns by step (NaN where none), and the
 * counts of the returned steps that had them all or lacked one. */
static void planned_values(const mm_model_t *model, const mm_series_t *plan, const origin_t *o,
                           size_t steps, double **given, mm_forecast_info_t *info) {
    const uint32_t known = mm_models__known_mask(&model->cfg);
    const int64_t period = model->cfg.period_ms;
    for (size_t j = 0; j < model->n_exog; j++)
        for (size_t k = 0; k < steps; k++) given[j][k] = NAN;
    for (size_t i = 0; plan && plan->n_exog && i < plan->n; i++) {
        int64_t dt = plan->time_ms[i] - o->watermark;
        if (dt <= 0 || dt % period != 0 || dt / period > (int64_t)steps) continue;
        size_t k = (size_t)(dt / period) - 1;
        for (size_t j = 0; j < model->n_exog; j++)
            if (known >> j & 1u) given[j][k] = plan->exog[j][i];
    }
    if (!known) return;
    for (size_t k = o->skip; k < steps; k++) {
        bool all = true;
        for (size_t j = 0; j < model->n_exog; j++)
            if ((known >> j & 1u) && isnan(given[j][k])) all = false;
        if (all)
            info->n_planned_steps++;
        else
            info->n_carried_steps++;
    }
}

/* Forecast @p steps from the origin with the (advanced) state. */
static mm_err_t forecast_steps(const mm_model_t *model, const void *state, const double *hist,
                               size_t n_hist, const origin_t *o, const mm_series_t *rec,
                               const mm_series_t *plan, size_t steps, double *mean, double *sd,
                               mm_forecast_info_t *info, char *errstr, size_t errstr_size) {
    mm_models__exog_buf_t given = {0}, resolved = {0};
    if (!mm_models__exog_buf_init(&given, model->n_exog, steps) ||
        !mm_models__exog_buf_init(&resolved, model->n_exog, steps)) {
        mm_models__exog_buf_free(&given);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "forecast_from: out of memory");
    }
    double last[MM_MODEL_MAX_EXOG];
    latest_exog(model, rec, o->watermark, last);
    planned_values(model, plan, o, steps, given.col, info);
    mm_models__resolve_known_exog(model->n_exog, mm_models__known_mask(&model->cfg),
                                  (const double *const *)given.col, 0, last, steps, resolved.col);
    mm_models__fcctx_t fc = {.cfg = &model->cfg,
                             .hist = hist,
                             .n_hist = n_hist,
                             .end_ms = o->watermark,
                             .n_exog = model->n_exog,
                             .fexog = (const double *const *)resolved.col,
                             .nonneg = model->nonneg};
    mm_err_t err = model->ops->forecast(state, &fc, steps, mean, sd, errstr, errstr_size);
    mm_models__exog_buf_free(&given);
    mm_models__exog_buf_free(&resolved);
    return err;
}

/*
 * A pooled model (mm_model_train_pooled) has no series of its own: seen from
 * one entity it is the same model whose data end one period precedes the
 * entity's first row, so every row given is new and the lags, seasons and
 * carried-forward covariates all come from the entity's own rows. @p view
 * receives that shallow copy (sharing the state; never destroyed).
 */
static const mm_model_t *entity_view(const mm_model_t *model, const mm_scoring_input_t *in,
                                     mm_model_t *view) {
    const mm_series_t *rec = in ? in->recent : NULL;
    if (model->n_entities < 2 || !rec || rec->n == 0 || !rec->time_ms) return model;
    *view = *model;
    view->data_end_ms = rec->time_ms[0] - model->cfg.period_ms;
    view->tail = NULL;
    view->n_tail = 0;
    return view;
}

mm_err_t mm_model_forecast_from(const mm_model_t *pooled_or_not, const mm_scoring_input_t *in,
                                size_t h, mm_forecast_t *out, mm_forecast_info_t *info,
                                char *errstr, size_t errstr_size) {
    mm_model_t view;
    const mm_model_t *model = pooled_or_not ? entity_view(pooled_or_not, in, &view) : NULL;
    memset(out, 0, sizeof *out);
    mm_forecast_info_t scratch;
    if (!info) info = &scratch;
    memset(info, 0, sizeof *info);
    if (!model)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "forecast_from: NULL model");
    if (model->cfg.task != MM_TASK_FORECAST)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "forecast_from: %s is a classification model (use mm_model_predict)",
                       mm_algo_name(model->algo));
    if (h < 1 || h > MM_MODELS__MAX_FORECAST_STEPS)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "forecast_from: horizon %zu out of range 1..%d", h,
                       MM_MODELS__MAX_FORECAST_STEPS);
    const mm_series_t *rec = in ? in->recent : NULL, *plan = in ? in->planned : NULL;
    mm_err_t err = check_series("recent", rec, model, true, errstr, errstr_size);
    if (err == MM_OK) err = check_series("planned", plan, model, false, errstr, errstr_size);
    origin_t o;
    if (err == MM_OK)
        err = find_origin(model, rec, in ? in->as_of_ms : 0, h, &o, errstr, errstr_size);
    if (err != MM_OK) return err;
    size_t n_hist, steps = o.skip + h;
    double *hist = build_history(model, rec, &o, &n_hist);
    double *mean = malloc(2 * steps * sizeof(double));
    if (!hist || !mean || !mm_models__forecast_alloc(out, h, model->cfg.interval_level)) {
        free(hist);
        free(mean);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "forecast_from: out of memory");
    }
    double *sd = mean + steps;
    void *moved = NULL;
    if (o.span > 0 && model->ops->advance)
        err = model->ops->advance(model->state, &model->cfg, hist, n_hist, o.span, &moved, errstr,
                                  errstr_size);
    if (err == MM_OK)
        err = forecast_steps(model, moved ? moved : model->state, hist, n_hist, &o, rec, plan,
                             steps, mean, sd, info, errstr, errstr_size);
    if (moved) model->ops->destroy(moved);
    if (err == MM_OK) mm_models__forecast_finish(model, o.watermark, mean, sd, o.skip, out);
    free(hist);
    free(mean);
    if (err != MM_OK) {
        mm_forecast_clear(out);
        memset(info, 0, sizeof *info);
        return err;
    }
    info->watermark_ms = o.watermark;
    info->n_new = o.n_obs;
    return MM_OK;
}
