/*
 * object.c - the model object (struct mm_model in models_int.h): creating
 * and destroying it, and what can be read off it. A model carries its
 * algorithm's operations, so nothing here needs to know which algorithm it
 * is: an ensemble reports its members through its own operations.
 *
 * Workload: the scorer keeps many loaded models in a byte-bounded cache;
 * these calls are O(1).
 */
#include <stdlib.h>

#include "models_int.h"

mm_model_t *mm_models__model_new(const mm_model_config_t *cfg) {
    mm_model_t *model = calloc(1, sizeof *model);
    if (!model) return NULL;
    if (cfg) model->cfg = *cfg;
    mm_metrics_init(&model->metrics);
    mm_metrics_init(&model->baseline);
    return model;
}

void mm_model_destroy(mm_model_t *model) {
    if (!model) return;
    if (model->ops && model->state) model->ops->destroy(model->state);
    free(model->tail);
    free(model->exog_last);
    free(model->interval_sd);
    free(model->telemetry);
    free(model);
}

mm_algo_t mm_model_algorithm(const mm_model_t *model) {
    return model->algo;
}

mm_task_t mm_model_task(const mm_model_t *model) {
    return model->cfg.task;
}

const mm_model_config_t *mm_model_config(const mm_model_t *model) {
    return &model->cfg;
}

int64_t mm_model_data_end_ms(const mm_model_t *model) {
    return model->data_end_ms;
}

size_t mm_model_entities(const mm_model_t *model) {
    return model->n_entities > 1 ? model->n_entities : 0;
}

size_t mm_model_members(const mm_model_t *model, mm_algo_t *algos, double *weights, size_t max) {
    if (model->ops && model->ops->members && model->state)
        return model->ops->members(model->state, algos, weights, max);
    if (max > 0) {
        if (algos) algos[0] = model->algo;
        if (weights) weights[0] = 1.0;
    }
    return 1;
}

void mm_model_backtest_metrics(const mm_model_t *model, mm_metrics_t *metrics,
                               mm_metrics_t *baseline) {
    if (metrics) *metrics = model->metrics;
    if (baseline) *baseline = model->baseline;
}

size_t mm_model_memory_size(const mm_model_t *model) {
    return sizeof *model +
           (model->n_tail + model->n_exog + model->n_interval_sd +
            model->n_telemetry * model->n_exog) *
               sizeof(double) +
           model->state_bytes;
}
