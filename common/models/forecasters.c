/*
 * forecasters.c - the single forecasting algorithms by id: seasonal naive,
 * exponential smoothing, Croston/SBA/TSB, ridge and XGBoost regression.
 * The table an ensemble takes its members from (no ensembles, no
 * classifiers), and the forecasting part of the full registry
 * (registry.c).
 *
 * Workload: a switch, once per fit or load.
 */
#include "models_int.h"

const mm_models__ops_t *mm_models__forecaster_ops(mm_algo_t algo) {
    switch (algo) {
    case MM_ALGO_SNAIVE:
        return &mm_snaive_ops;
    case MM_ALGO_ETS:
        return &mm_ets_ops;
    case MM_ALGO_CROSTON:
        return &mm_croston_ops;
    case MM_ALGO_SBA:
        return &mm_sba_ops;
    case MM_ALGO_TSB:
        return &mm_tsb_ops;
    case MM_ALGO_RIDGE:
        return &mm_ridge_ops;
    case MM_ALGO_XGBOOST:
        return &mm_xgboost_ops;
    default:
        return NULL;
    }
}
