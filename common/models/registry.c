/*
 * registry.c - every algorithm's operations by id: the single forecasters
 * (forecasters.c), the ensemble, and the classifiers. Used where an id
 * comes from outside (a config's candidates and fallback, an artifact's
 * header); a model, once fitted or loaded, carries its operations and
 * needs no lookup.
 *
 * Workload: a switch, once per candidate or artifact.
 */
#include "models_int.h"

const mm_models__ops_t *mm_models__ops(mm_algo_t algo) {
    switch (algo) {
    case MM_ALGO_LOGISTIC:
        return &mm_logistic_ops;
    case MM_ALGO_XGB_CLASSIFIER:
        return &mm_xgbc_ops;
    case MM_ALGO_ENSEMBLE:
        return &mm_ensemble_ops;
    default:
        return mm_models__forecaster_ops(algo);
    }
}
