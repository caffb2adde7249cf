/*
 * model.h - the model library's public face (sources in common/models/).
 *
 * Pure computation: no I/O, no logging, no globals besides constant tables.
 * One code path computes features for training and for scoring, so
 * train/serve skew cannot happen. Used by mm-trainer (mm_model_train) and
 * mm-scorer (mm_model_load + mm_model_forecast / mm_model_predict).
 *
 * Tuned for many small models: a series of a few hundred to a few thousand
 * points is fitted in milliseconds, an artifact is a few KiB and loads in
 * microseconds.
 */
#ifndef MM_MODEL_H
#define MM_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/err.h"

typedef enum mm_task {
    MM_TASK_FORECAST = 0,
    MM_TASK_CLASSIFY = 1,
} mm_task_t;

/* Stable ids: they are written into artifacts. Never renumber. */
typedef enum mm_algo {
    MM_ALGO_AUTO = 0,        /* pick the best candidate per key by backtest */
    MM_ALGO_SNAIVE = 1,      /* seasonal naive: the baseline */
    MM_ALGO_ETS = 2,         /* exponential smoothing (Holt-Winters family) */
    MM_ALGO_CROSTON = 3,     /* Croston (classic) */
    MM_ALGO_SBA = 4,         /* Syntetos-Boylan approximation */
    MM_ALGO_TSB = 5,         /* Teunter-Syntetos-Babai */
    MM_ALGO_RIDGE = 6,       /* ridge regression on lags/calendar/exogenous, recursive */
    MM_ALGO_XGBOOST = 7,     /* gradient-boosted trees (XGBoost C API), recursive */
    MM_ALGO_LOGISTIC = 8,    /* L2 logistic regression (classify) */
    MM_ALGO_XGB_CLASSIFIER = 9, /* XGBoost binary classifier (classify) */
    MM_ALGO__COUNT
} mm_algo_t;

const char *mm_algo_name(mm_algo_t algo);      /* "snaive", "ets", ... */
bool mm_algo_parse(const char *name, mm_algo_t *out);

typedef enum mm_metric_id {
    MM_METRIC_RMSE = 0,
    MM_METRIC_MAE,
    MM_METRIC_SMAPE,
    MM_METRIC_MASE,
    MM_METRIC_BIAS,
    MM_METRIC_ACCURACY,
    MM_METRIC_PRECISION,
    MM_METRIC_RECALL,
    MM_METRIC_F1,
    MM_METRIC_AUC,
    MM_METRIC__COUNT
} mm_metric_id_t;

const char *mm_metric_name(mm_metric_id_t id); /* "rmse", ... */
bool mm_metric_parse(const char *name, mm_metric_id_t *out);
/** @returns true if a larger value is better (accuracy, f1, auc...). */
bool mm_metric_higher_is_better(mm_metric_id_t id);

/** Metric values; NaN where not applicable. */
typedef struct mm_metrics {
    double v[MM_METRIC__COUNT];
} mm_metrics_t;

void mm_metrics_init(mm_metrics_t *m); /* all NaN */

/* Forecast error metrics over n points; insample/season for MASE scaling. */
void mm_metrics_forecast(const double *actual, const double *pred, size_t n,
                         const double *insample, size_t n_insample, int season_length,
                         mm_metrics_t *out);
/* Classification metrics: labels 0/1, scores are probabilities, threshold 0.5. */
void mm_metrics_classify(const double *label, const double *score, size_t n, mm_metrics_t *out);

#define MM_MODEL_MAX_LAGS 32
#define MM_MODEL_MAX_WINDOWS 8
#define MM_MODEL_MAX_EXOG 32

typedef struct mm_feature_config {
    int lags[MM_MODEL_MAX_LAGS];        /* target lags in periods, e.g. 1,7,14,28 */
    size_t n_lags;
    bool calendar;                      /* day of week, week of year, month */
    int windows[MM_MODEL_MAX_WINDOWS];  /* rolling windows (classify telemetry) */
    size_t n_windows;
    size_t n_exog;                      /* exogenous numeric columns, in spec order */
} mm_feature_config_t;

typedef struct mm_model_config {
    mm_task_t task;
    int64_t period_ms;       /* sampling period: hour/day/week (month = 30.4375 days nominal) */
    int horizon;             /* forecast steps */
    int holdout;             /* points per backtest window */
    int backtest_windows;    /* rolling-origin windows (>= 1) */
    int season_length;       /* e.g. 7 for daily data with weekly seasonality; 1 = none */
    int min_history;         /* fewer points: declared fallback */
    mm_algo_t fallback;      /* algorithm used for short series (default snaive) */
    uint32_t candidates;     /* bit (1u << mm_algo_t) per candidate; only AUTO picks among several */
    mm_metric_id_t selection_metric;
    double interval_level;   /* e.g. 0.95 */
    mm_feature_config_t features;
    /* classification */
    int lookahead;           /* label derived from an event column within this many periods; 0 = label column */
} mm_model_config_t;

/** @brief Fill sensible defaults for @p task (daily, horizon 28, weekly seasonality, ...). */
void mm_model_config_defaults(mm_model_config_t *cfg, mm_task_t task);
/** @brief Check internal consistency; errstr names the field. */
mm_err_t mm_model_config_validate(const mm_model_config_t *cfg, char *errstr, size_t errstr_size);

/** One key's history, sorted by time, regular at period_ms (gaps are NaN targets). */
typedef struct mm_series {
    size_t n;
    const int64_t *time_ms;
    const double *y;             /* target (forecast) or label/event indicator (classify) */
    size_t n_exog;
    const double *const *exog;   /* exog[j][i], j < n_exog; may be NULL when n_exog == 0 */
} mm_series_t;

typedef struct mm_train_result {
    mm_algo_t algorithm;         /* chosen */
    bool fallback;               /* declared fallback for short history */
    char fallback_reason[128];
    mm_metrics_t metrics;        /* backtest metrics of the chosen algorithm */
    mm_metrics_t baseline;       /* backtest metrics of seasonal naive (forecast) / prior rate (classify) */
    mm_metrics_t per_algo[MM_ALGO__COUNT]; /* backtest metrics of every candidate tried (NaN if not) */
    uint8_t *artifact;           /* malloc'd artifact bytes; owned by the result */
    size_t artifact_len;
} mm_train_result_t;

/**
 * @brief Backtest the candidates, pick by cfg->selection_metric, refit on all
 * data, and serialise the artifact. Deterministic: the same inputs give the
 * same artifact bytes.
 * @returns MM_ERR_INSUFFICIENT_DATA only when not even the fallback can be fitted.
 */
mm_err_t mm_model_train(const mm_model_config_t *cfg, const mm_series_t *series,
                        mm_train_result_t *out, char *errstr, size_t errstr_size);
void mm_train_result_clear(mm_train_result_t *res);

/* ------------------------------------------------------------ scoring */

typedef struct mm_model mm_model_t;

#define MM_ARTIFACT_MAGIC "MMMODEL"
#define MM_ARTIFACT_FORMAT 1 /* current artifact format version */

/**
 * @brief Parse an artifact. Unknown magic is MM_ERR_PARSE; a newer format or
 * an unknown algorithm is MM_ERR_UNSUPPORTED; lengths are checked.
 */
mm_err_t mm_model_load(const void *artifact, size_t len, mm_model_t **out, char *errstr,
                       size_t errstr_size);
void mm_model_destroy(mm_model_t *model); /* accepts NULL */

mm_algo_t mm_model_algorithm(const mm_model_t *model);
mm_task_t mm_model_task(const mm_model_t *model);
const mm_model_config_t *mm_model_config(const mm_model_t *model);
/** @returns time of the last observation the model was fitted on. */
int64_t mm_model_data_end_ms(const mm_model_t *model);
/** @returns approximate heap bytes held (for byte-bounded caches). */
size_t mm_model_memory_size(const mm_model_t *model);

typedef struct mm_forecast {
    size_t h;
    int64_t *time_ms;  /* h target times after the last observation */
    double *mean;
    double *lower;     /* prediction interval at level */
    double *upper;
    double level;
} mm_forecast_t;

/**
 * @brief Forecast @p h steps from the end of the training data.
 * @param future_exog known future exogenous values, future_exog[j][i] for i < h;
 *        NULL (or a NaN value) means "last known value is carried forward".
 */
mm_err_t mm_model_forecast(const mm_model_t *model, size_t h, const double *const *future_exog,
                           mm_forecast_t *out, char *errstr, size_t errstr_size);
void mm_forecast_clear(mm_forecast_t *fc);

/**
 * @brief Classification: probability of the positive class for @p n rows of
 * raw telemetry (times and exogenous columns, exog[j][i]), features computed
 * by the shared feature code path. @p proba receives n values.
 */
mm_err_t mm_model_predict(const mm_model_t *model, size_t n, const int64_t *time_ms,
                          const double *const *exog, double *proba, char *errstr,
                          size_t errstr_size);

#endif
