/*
 * forecast_from_shim.c - TEMPORARY stand-in for the model library's
 * mm_model_forecast_from() and mm_model_history_needed() (declared in
 * mm/model.h), so that mm-scorer builds and is tested before the library
 * implements them. Delete this file (and its line in CMakeLists.txt) once
 * common/models/ provides both.
 *
 * Behaviour: the model is not updated with the new observations; it
 * forecasts from the end of its training data through to the forecast
 * origin (the latest observation, or as_of) and the steps after the origin
 * are returned, with planned covariates aligned to the steps by time. An
 * exogenous column counts as known in advance when its bit is set in
 * features.known_in_advance, or for every column when no bit is set.
 *
 * Workload: one call per key per batch run; a horizon of tens of steps.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mm/model.h"

#define SHIM_MAX_STEPS 100000

size_t mm_model_history_needed(const mm_model_t *model) {
    (void)model;
    return 1;
}

/* The planned value of column @p j at time @p t (within half a period), else NaN. */
static double planned_at(const mm_series_t *planned, size_t j, int64_t t, int64_t period) {
    if (!planned || j >= planned->n_exog || !planned->exog) return NAN;
    for (size_t i = 0; i < planned->n; i++) {
        int64_t d = planned->time_ms[i] - t;
        if (d < 0) d = -d;
        if (d <= period / 2) return planned->exog[j][i];
    }
    return NAN;
}

mm_err_t mm_model_forecast_from(const mm_model_t *model, const mm_scoring_input_t *in, size_t h,
                                mm_forecast_t *out, mm_forecast_info_t *info, char *errstr,
                                size_t errstr_size) {
    memset(out, 0, sizeof(*out));
    if (mm_model_task(model) != MM_TASK_FORECAST)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "not a forecasting model");
    const mm_model_config_t *cfg = mm_model_config(model);
    const int64_t period = cfg->period_ms > 0 ? cfg->period_ms : 1;
    const int64_t end = mm_model_data_end_ms(model);
    const mm_series_t *r = in->recent;
    int64_t watermark = -1;
    size_t n_new = 0;
    for (size_t i = 0; r && i < r->n; i++) {
        if (in->as_of_ms != 0 && r->time_ms[i] > in->as_of_ms) break;
        if (isnan(r->y[i])) continue;
        watermark = r->time_ms[i];
        if (r->time_ms[i] > end) n_new++;
    }
    int64_t origin = in->as_of_ms != 0 ? in->as_of_ms : (watermark >= 0 ? watermark : end);
    size_t gap = origin > end ? (size_t)((origin - end + period / 2) / period) : 0;
    if (h == 0 || h + gap > SHIM_MAX_STEPS)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "horizon %zu from %zu periods after the training data is out of range", h,
                       gap);
    size_t total = gap + h, nx = cfg->features.n_exog;
    uint32_t known = cfg->features.known_in_advance ? cfg->features.known_in_advance : UINT32_MAX;
    double *values = nx ? malloc(nx * total * sizeof(double)) : NULL;
    const double **exog = nx ? malloc(nx * sizeof(double *)) : NULL;
    if (nx && (!values || !exog)) {
        free(values);
        free(exog);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    size_t planned_steps = 0, carried_steps = 0;
    for (size_t k = 0; k < total; k++) {
        bool all_planned = true, any_known = false;
        for (size_t j = 0; j < nx; j++) {
            double v = NAN;
            if (known & (1u << j)) {
                v = planned_at(in->planned, j, end + (int64_t)(k + 1) * period, period);
                any_known = true;
                if (isnan(v)) all_planned = false;
            }
            values[j * total + k] = v;
        }
        if (k >= gap && any_known) {
            if (all_planned)
                planned_steps++;
            else
                carried_steps++;
        }
    }
    for (size_t j = 0; j < nx; j++) exog[j] = values + j * total;
    mm_forecast_t full = {0};
    mm_err_t err = mm_model_forecast(model, total, exog, &full, errstr, errstr_size);
    free(values);
    free(exog);
    if (err) return err;
    out->h = h;
    out->level = full.level;
    out->time_ms = malloc(h * sizeof(int64_t));
    out->mean = malloc(h * sizeof(double));
    out->lower = malloc(h * sizeof(double));
    out->upper = malloc(h * sizeof(double));
    if (!out->time_ms || !out->mean || !out->lower || !out->upper) {
        mm_forecast_clear(&full);
        mm_forecast_clear(out);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    for (size_t k = 0; k < h; k++) {
        out->time_ms[k] = gap > 0 ? origin + (int64_t)(k + 1) * period : full.time_ms[k];
        out->mean[k] = full.mean[gap + k];
        out->lower[k] = full.lower[gap + k];
        out->upper[k] = full.upper[gap + k];
    }
    mm_forecast_clear(&full);
    if (info) {
        info->watermark_ms = watermark >= 0 ? watermark : end;
        info->n_new = n_new;
        info->n_planned_steps = planned_steps;
        info->n_carried_steps = carried_steps;
    }
    return MM_OK;
}
