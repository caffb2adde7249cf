/*
 * model.c - the entry point of training: mm_model_train checks the series
 * against the config (tuning fields at zero resolved to the defaults,
 * config.c) and hands it to forecast training (train_forecast.c) or
 * classification training (train_classify.c). Scoring is score.c, the
 * model object object.c, artifacts artifact.c.
 *
 * Workload: one call per key on a trainer worker thread; O(n) checks before
 * the training itself.
 */
#include <stdlib.h>
#include <string.h>

#include "models_int.h"

void mm_train_result_clear(mm_train_result_t *res) {
    if (!res) return;
    free(res->artifact);
    memset(res, 0, sizeof *res);
}

mm_err_t mm_models__check_series(const mm_model_config_t *cfg_in, const mm_series_t *series,
                                 char *errstr, size_t errstr_size) {
    if (series->n > 0 && (!series->time_ms || !series->y))
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "train: series without times or values");
    if (series->n_exog > MM_MODEL_MAX_EXOG || (series->n_exog > 0 && !series->exog))
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "train: %zu exogenous columns (max %d) or NULL columns", series->n_exog,
                       MM_MODEL_MAX_EXOG);
    for (size_t j = 0; j < series->n_exog; j++)
        if (!series->exog[j])
            return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                           "train: exogenous column %zu is NULL", j);
    if (cfg_in->features.n_exog != 0 && cfg_in->features.n_exog != series->n_exog)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "train: config names %zu exogenous columns, series has %zu",
                       cfg_in->features.n_exog, series->n_exog);
    if (series->n < 1)
        return mm_errf(MM_ERR_INSUFFICIENT_DATA, errstr, errstr_size, "train: empty series");
    for (size_t i = 1; i < series->n; i++)
        if (series->time_ms[i] <= series->time_ms[i - 1])
            return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                           "train: times not strictly increasing at index %zu", i);
    /* sorted: the first and the last bound them all; an artifact with a data
     * end outside the range would not load */
    if (!mm_models__time_in_range(series->time_ms[0]) ||
        !mm_models__time_in_range(series->time_ms[series->n - 1]))
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "train: times must lie in years 1..9999 (%lld..%lld ms), got %lld..%lld",
                       (long long)MM_MODELS__MIN_TIME_MS, (long long)MM_MODELS__MAX_TIME_MS,
                       (long long)series->time_ms[0], (long long)series->time_ms[series->n - 1]);
    return MM_OK;
}

mm_err_t mm_model_train(const mm_model_config_t *cfg_in, const mm_series_t *series,
                        mm_train_result_t *out, char *errstr, size_t errstr_size) {
    memset(out, 0, sizeof *out);
    out->algorithm = MM_ALGO_AUTO;
    mm_metrics_init(&out->metrics);
    mm_metrics_init(&out->baseline);
    for (int a = 0; a < MM_ALGO__COUNT; a++) mm_metrics_init(&out->per_algo[a]);
    if (!cfg_in || !series)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "train: NULL config or series");
    mm_model_config_t cfg = *cfg_in;
    mm_models__resolve_tuning(&cfg);
    cfg.features.n_exog = series->n_exog;
    mm_err_t err = mm_model_config_validate(&cfg, errstr, errstr_size);
    if (err != MM_OK) return err;
    err = mm_models__check_series(cfg_in, series, errstr, errstr_size);
    if (err != MM_OK) return err;
    if (cfg.task == MM_TASK_CLASSIFY)
        return mm_models__train_classify(&cfg, series, out, errstr, errstr_size);
    return mm_models__train_forecast(&cfg, series, out, errstr, errstr_size);
}
