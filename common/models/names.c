/*
 * names.c - the names of algorithms and metrics, and parsing them: what
 * specs, logs and artifacts' readers show. A leaf: constant tables only.
 *
 * Workload: spec parsing and log lines; a linear scan of a dozen names.
 */
#include <math.h>
#include <string.h>

#include "models_int.h"

static const char *const algo_names[MM_ALGO__COUNT] = {
    [MM_ALGO_AUTO] = "auto",         [MM_ALGO_SNAIVE] = "snaive",
    [MM_ALGO_ETS] = "ets",           [MM_ALGO_CROSTON] = "croston",
    [MM_ALGO_SBA] = "sba",           [MM_ALGO_TSB] = "tsb",
    [MM_ALGO_RIDGE] = "ridge",       [MM_ALGO_XGBOOST] = "xgboost",
    [MM_ALGO_LOGISTIC] = "logistic", [MM_ALGO_XGB_CLASSIFIER] = "xgb_classifier",
    [MM_ALGO_ENSEMBLE] = "ensemble",
};

const char *mm_algo_name(mm_algo_t algo) {
    return (unsigned)algo < MM_ALGO__COUNT ? algo_names[algo] : "unknown";
}

bool mm_algo_parse(const char *name, mm_algo_t *out) {
    if (!name) return false;
    for (int i = 0; i < MM_ALGO__COUNT; i++) {
        if (strcmp(name, algo_names[i]) == 0) {
            *out = (mm_algo_t)i;
            return true;
        }
    }
    return false;
}

static const char *const metric_names[MM_METRIC__COUNT] = {
    [MM_METRIC_RMSE] = "rmse",
    [MM_METRIC_MAE] = "mae",
    [MM_METRIC_SMAPE] = "smape",
    [MM_METRIC_MASE] = "mase",
    [MM_METRIC_BIAS] = "bias",
    [MM_METRIC_ACCURACY] = "accuracy",
    [MM_METRIC_PRECISION] = "precision",
    [MM_METRIC_RECALL] = "recall",
    [MM_METRIC_F1] = "f1",
    [MM_METRIC_AUC] = "auc",
};

const char *mm_metric_name(mm_metric_id_t id) {
    return (unsigned)id < MM_METRIC__COUNT ? metric_names[id] : "unknown";
}

bool mm_metric_parse(const char *name, mm_metric_id_t *out) {
    if (!name) return false;
    for (int i = 0; i < MM_METRIC__COUNT; i++) {
        if (strcmp(name, metric_names[i]) == 0) {
            *out = (mm_metric_id_t)i;
            return true;
        }
    }
    return false;
}

bool mm_metric_higher_is_better(mm_metric_id_t id) {
    return id == MM_METRIC_ACCURACY || id == MM_METRIC_PRECISION || id == MM_METRIC_RECALL ||
           id == MM_METRIC_F1 || id == MM_METRIC_AUC;
}

bool mm_models__metric_for_task(mm_metric_id_t id, mm_task_t task) {
    return task == MM_TASK_FORECAST ? id <= MM_METRIC_BIAS : id >= MM_METRIC_ACCURACY;
}

bool mm_models__better(mm_metric_id_t id, double a, double b) {
    if (isnan(a)) return false;
    if (isnan(b)) return true;
    return mm_metric_higher_is_better(id) ? a > b : a < b;
}
