/*
 * model.h - the model library's public face (sources in common/models/).
 *
 * Pure computation: no I/O, no logging, no globals besides constant tables.
 * One code path computes features for training and for scoring, so
 * train/serve skew cannot happen. Used by mm-trainer (mm_model_train) and
 * mm-scorer (mm_model_load + mm_model_forecast / mm_model_predict /
 * mm_model_predict_latest).
 *
 * Tuned for many small models: a series of a few hundred to a few thousand
 * points is fitted in milliseconds, an artifact is a few KiB and loads in
 * microseconds.
 *
 * Threads: every function is re-entrant; a loaded mm_model_t is read-only
 * and may be used by several threads at once (mm_model_forecast,
 * mm_model_predict, mm_model_predict_latest); only mm_model_destroy needs
 * exclusive access.
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
    MM_ALGO_AUTO = 0,           /* pick the best candidate per key by backtest */
    MM_ALGO_SNAIVE = 1,         /* seasonal naive: the baseline */
    MM_ALGO_ETS = 2,            /* exponential smoothing (Holt-Winters family) */
    MM_ALGO_CROSTON = 3,        /* Croston (classic) */
    MM_ALGO_SBA = 4,            /* Syntetos-Boylan approximation */
    MM_ALGO_TSB = 5,            /* Teunter-Syntetos-Babai */
    MM_ALGO_RIDGE = 6,          /* ridge regression on lags/calendar/exogenous, recursive */
    MM_ALGO_XGBOOST = 7,        /* gradient-boosted trees (XGBoost C API), recursive */
    MM_ALGO_LOGISTIC = 8,       /* L2 logistic regression (classify) */
    MM_ALGO_XGB_CLASSIFIER = 9, /* XGBoost binary classifier (classify) */
    MM_ALGO_ENSEMBLE = 10,      /* weighted mean of forecasters' forecasts: an outcome of
                                   selection (forecast), not a candidate to list */
    MM_ALGO__COUNT
} mm_algo_t;

const char *mm_algo_name(mm_algo_t algo); /* "snaive", "ets", ... */
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

/**
 * @brief Forecast error metrics over n points (points whose actual is NaN are
 * skipped): RMSE; MAE; sMAPE in percent, mean of 200|p-a|/(|a|+|p|) with 0/0
 * counted as 0; MASE = MAE / in-sample seasonal-naive MAE of @p insample
 * (lag @p season_length, lag 1 when n_insample <= season_length; NaN when
 * that scale is 0 but the errors are not, 0 when both are, NaN without
 * in-sample data); bias = mean(pred - actual),
 * positive when over-forecasting. Classification entries stay NaN.
 */
void mm_metrics_forecast(const double *actual, const double *pred, size_t n, const double *insample,
                         size_t n_insample, int season_length, mm_metrics_t *out);
/**
 * @brief Classification metrics: labels 0/1, scores are probabilities,
 * threshold 0.5 (score >= 0.5 is positive). Precision/recall/F1 with a zero
 * denominator are 0 (scikit-learn's default); ROC AUC by ranks with ties
 * averaged, NaN when only one class is present. NaN rows are skipped.
 */
void mm_metrics_classify(const double *label, const double *score, size_t n, mm_metrics_t *out);

#define MM_MODEL_MAX_LAGS     32
#define MM_MODEL_MAX_WINDOWS  8
#define MM_MODEL_MAX_EXOG     32
#define MM_MODEL_MAX_ENSEMBLE 4 /* members of a forecast combination */

typedef struct mm_feature_config {
    int lags[MM_MODEL_MAX_LAGS]; /* target lags in periods, e.g. 1,7,14,28 */
    size_t n_lags;
    bool calendar;                     /* day of week, week of year, month */
    int windows[MM_MODEL_MAX_WINDOWS]; /* rolling windows (classify telemetry) */
    size_t n_windows;
    size_t n_exog; /* exogenous numeric columns, in spec order */
    /* Bit j set: exogenous column j is known in advance (a planned price or
     * promotion): its future values are given at scoring time, and the
     * backtest uses its actual values. Bit clear: at scoring time only its
     * past is known, so the forecast carries the last value forward (future
     * values given for it are ignored) and the backtest does the same from
     * each origin. 0, the default: no column is known in advance. Bits
     * beyond n_exog are a config error. Artifacts written before this field
     * existed load with every column known (what their backtest assumed). */
    uint32_t known_in_advance;
} mm_feature_config_t;

typedef struct mm_model_config {
    mm_task_t task;
    int64_t period_ms;    /* sampling period: hour/day/week (month = 30.4375 days nominal) */
    int horizon;          /* forecast steps */
    int holdout;          /* points per backtest window */
    int backtest_windows; /* rolling-origin windows (>= 1) */
    int season_length;    /* e.g. 7 for daily data with weekly seasonality; 1 = none */
    int min_history;      /* fewer points: declared fallback */
    mm_algo_t fallback;   /* algorithm used for short series (default snaive) */
    uint32_t candidates;  /* bit (1u << mm_algo_t) per candidate; only AUTO picks among several */
    mm_metric_id_t selection_metric;
    double interval_level; /* e.g. 0.95 */
    mm_feature_config_t features;
    /* classification */
    int lookahead; /* label derived from an event column within this many periods; 0 = label column
                    */
    /*
     * Algorithm tuning. Zero means "the library default" for every field
     * below, so a zero-initialised tail (code written before these fields
     * existed) stays valid; mm_model_config_defaults() writes the defaults out.
     */
    int ets_trend;  /* mm_ets_trend_form_t: which trend forms ETS may use (0 = auto by AICc) */
    int ets_season; /* mm_ets_season_form_t: which seasonal forms ETS may use (0 = auto by AICc) */
    double ridge_lambda; /* ridge penalty on standardised features (default 1.0) */
    double logistic_c;   /* L2 logistic inverse penalty, scikit-learn's C (default 1.0) */
    int xgb_rounds;      /* boosting rounds (default 50 forecasting, 100 classifying) */
    int xgb_max_depth;   /* tree depth (default 4) */
    double xgb_eta;      /* learning rate (default 0.2 forecasting, 0.1 classifying) */
    int class_weight;    /* mm_class_weight_t (default balanced) */
    /*
     * Selection (forecasting); zero means the library default here too.
     * ensemble_max: the most candidates selection may average into one
     * forecast (default 2; 1 = always a single algorithm; at most
     * MM_MODEL_MAX_ENSEMBLE). xgb_min_history: when the candidates are the
     * defaults (as mm_model_config_defaults() sets them, or none named: a
     * spec's "auto"), keys with at least this many points also backtest
     * XGBoost (default 1000; -1 = never).
     * train_window: forecasting; exponential smoothing and XGBoost, the
     * candidates whose fits cost most, are fitted in every backtest window
     * on at most this many of the latest points before the window's origin
     * (the last window's fit, moved over the last holdout, is their final
     * model; a refit on all data, capped alike, only when that fails); the
     * others, and the backtest's scoring, still see the whole history
     * (default by period: 2 years of days, 12 weeks of hours, 5 years of
     * weeks, 10 years of months; -1 = no cap).
     */
    int ensemble_max;
    int xgb_min_history;
    int train_window;
    /* xgb_max_bin: histogram bins per feature of XGBoost's "hist" method
     * (default 32 forecasting, 256 classifying: XGBoost's own default). */
    int xgb_max_bin;
    /* xgb_colsample: the share of the features each tree node chooses its
     * split among, drawn anew at every node (XGBoost's colsample_bynode;
     * the draws are seeded: the same data gives the same trees). 0, the
     * default: 0.5 forecasting, 1 (every feature) classifying. */
    double xgb_colsample;
    /* backtest_fits: forecasting; how many of the backtest windows get a fit
     * of their own: the oldest and the newest backtest_fits - 1. A window
     * between them forecasts with the fit before it, its state moved over
     * the newer observations (the model is not refitted): more windows judge
     * the candidates for the cost of a forecast each. 0, the default: every
     * window is fitted; otherwise 1..backtest_windows. */
    int backtest_fits;
} mm_model_config_t;

/* ETS form choices for mm_model_config_t.ets_trend / .ets_season. */
typedef enum mm_ets_trend_form {
    MM_ETS_TREND_AUTO = 0, /* none, additive or damped additive, by AICc */
    MM_ETS_TREND_NONE = 1,
    MM_ETS_TREND_ADD = 2,
    MM_ETS_TREND_DAMPED = 3, /* additive damped */
} mm_ets_trend_form_t;

typedef enum mm_ets_season_form {
    MM_ETS_SEASON_AUTO = 0, /* none, additive or multiplicative (positive data only), by AICc */
    MM_ETS_SEASON_NONE = 1,
    MM_ETS_SEASON_ADD = 2,
    MM_ETS_SEASON_MUL = 3,
} mm_ets_season_form_t;

/* Class-imbalance handling for classifiers. */
typedef enum mm_class_weight {
    MM_CLASS_WEIGHT_DEFAULT = 0, /* = balanced */
    MM_CLASS_WEIGHT_BALANCED =
        1, /* positives weighted n_neg/n_pos (logistic weights, XGBoost scale_pos_weight) */
    MM_CLASS_WEIGHT_NONE = 2,
} mm_class_weight_t;

/** @brief Fill sensible defaults for @p task (daily, horizon 28, weekly seasonality, ...):
 * mm_model_config_defaults_for() with a period of one day (forecast) or one hour (classify). */
void mm_model_config_defaults(mm_model_config_t *cfg, mm_task_t task);
/**
 * @brief Defaults that fit the sampling period @p period_ms (0: the task's
 * usual one, as mm_model_config_defaults). Forecasting, by the nearest of:
 *   hour:  season 24, horizon and holdout 48, lags 1,2,3,24,48,168, windows 24,168
 *   day:   season 7, horizon and holdout 28, lags 1,2,3,7,14,21,28, windows 7,28
 *   week:  season 52, horizon and holdout 13, lags 1,2,4,52, windows 4,13
 *   month: season 12, horizon 12, holdout 6, lags 1,2,3,12, windows 3,12
 * with 3 backtest windows and min_history = 3 x holdout + (48 hours, 14
 * days, 13 weeks, 12 months); period_ms is set to @p period_ms itself.
 * Classification keeps its hourly row counts (windows 3 and 24 rows,
 * look-ahead 24 rows) with the given period.
 * @remark Training adapts a config to a key whose history is short for it
 * (mm_train_result_t.adjustments): two seasons plus the backtest do not fit,
 * so the key is fitted without a season; lags longer than the first backtest
 * window can train on are dropped. Weekly data with two years of history
 * thus trains exponential smoothing and ridge with lag 52.
 */
void mm_model_config_defaults_for(mm_model_config_t *cfg, mm_task_t task, int64_t period_ms);
/** @brief Check internal consistency; errstr names the field. */
mm_err_t mm_model_config_validate(const mm_model_config_t *cfg, char *errstr, size_t errstr_size);

/** One key's history, sorted by time, regular at period_ms (gaps are NaN targets). */
typedef struct mm_series {
    size_t n;
    const int64_t *time_ms;
    const double *y; /* target (forecast) or label/event indicator (classify) */
    size_t n_exog;
    const double *const *exog; /* exog[j][i], j < n_exog; may be NULL when n_exog == 0 */
} mm_series_t;

typedef struct mm_train_result {
    mm_algo_t algorithm; /* chosen */
    bool fallback;       /* declared fallback for short history */
    char fallback_reason[128];
    mm_metrics_t metrics; /* backtest metrics of the chosen algorithm */
    mm_metrics_t
        baseline; /* backtest metrics of seasonal naive (forecast) / prior rate (classify) */
    mm_metrics_t
        per_algo[MM_ALGO__COUNT]; /* backtest metrics of every candidate tried (NaN if not);
                                     [MM_ALGO_ENSEMBLE]: the best combination tried */
    uint8_t *artifact;            /* malloc'd artifact bytes; owned by the result */
    size_t artifact_len;
    /* What the model forecasts with: the chosen algorithm alone (one member,
     * weight 1), or an ensemble's members, best backtest first. */
    size_t n_members;
    mm_algo_t members[MM_MODEL_MAX_ENSEMBLE];
    double member_weights[MM_MODEL_MAX_ENSEMBLE];
    /* What training changed in the config for this key because its history
     * is short for it ("season_length 52 -> 1: ...", "lags > 48 dropped:
     * ..."; the artifact holds the config as changed), and a default
     * candidate left out for want of rows ("xgboost left out: 400 points are
     * below xgb_min_history 1000"). Empty when nothing. */
    char adjustments[160];
} mm_train_result_t;

/**
 * @brief Backtest the candidates, pick by cfg->selection_metric, refit on all
 * data, and serialise the artifact. Deterministic: the same inputs give the
 * same artifact bytes.
 *
 * Backtest: cfg->backtest_windows rolling origins, each forecasting
 * cfg->holdout points from the data before it, with exactly what scoring
 * will have: the columns known in advance at their actual values, the
 * others carried forward from the origin; metrics are averaged over the windows; ties
 * go to the lower algorithm id. Seasonal naive is always measured: it is
 * @p out->baseline. Classification backtests in time order too; training
 * rows whose look-ahead window reaches into a test window are left out.
 *
 * Combination (forecasting): with cfg->ensemble_max >= 2 and two or more
 * candidates backtested, the best k (k = 2..ensemble_max) by the selection
 * metric are also tried as one forecast: their weighted mean, weights
 * proportional to 1 / backtest metric (equal when the metric can be zero or
 * negative). A combination is scored on the same windows from its members'
 * window forecasts and chosen only when it backtests strictly better than
 * the best single candidate; the model is then MM_ALGO_ENSEMBLE and every
 * member is refitted on all data (should a refit fail, the best candidate
 * alone is used). Combining is the robust answer to
 * selection noise: a few backtest windows often cannot tell two good
 * candidates apart, and their errors partly cancel.
 *
 * Short histories: when two seasons plus the backtest windows do not fit
 * but the windows and MIN_TRAIN (8) points do, the key is fitted with
 * season_length 1 (non-seasonal candidates; seasonal naive becomes naive);
 * lags and rolling windows too long for the first backtest window to keep
 * 10 regression rows are dropped for the key. Both are reported in
 * @p out->adjustments and kept in the artifact's config. Default candidates
 * on fewer than cfg->xgb_min_history points leave XGBoost out, which
 * @p out->adjustments reports too.
 *
 * Fallback: with fewer than cfg->min_history points, too few for the
 * backtest, or no candidate that fits, cfg->fallback is fitted on all data
 * (seasonal naive if even that fails), @p out->fallback is set with a
 * reason, and metrics stay NaN. A classifier whose labels hold one class
 * only becomes a constant-rate model, also flagged as fallback.
 *
 * @param cfg config; its tuning fields at 0 mean the library defaults.
 * @param series one key's history; series->n_exog must match
 *        cfg->features.n_exog when that is non-zero.
 * @returns MM_ERR_INSUFFICIENT_DATA only when not even the fallback can be
 * fitted (no observed target); MM_ERR_CONFIG for an invalid config;
 * MM_ERR_INVALID_ARG for unsorted times or mismatched columns.
 * @remark @p out owns the artifact: release it with mm_train_result_clear().
 */
mm_err_t mm_model_train(const mm_model_config_t *cfg, const mm_series_t *series,
                        mm_train_result_t *out, char *errstr, size_t errstr_size);
void mm_train_result_clear(mm_train_result_t *res);

/**
 * @brief One model for several series: a key whose rows come from several
 * entities (the machines of one machine type, docs/dataset-spec.md
 * "Entities"). With one series this is mm_model_train.
 *
 * Forecast: only learners pool: the candidates are ridge (and XGBoost when
 * the spec lists it, or its rows reach cfg->xgb_min_history with the
 * default candidates), each fitted on the feature rows of every entity,
 * lags and rolling means taken within the entity. Per-series statistical
 * models (exponential smoothing, Croston/SBA/TSB) describe one series and
 * are not candidates. Backtest per entity: in each of the K windows every
 * entity with K x holdout + 8 points is cut holdout x (K - w) before its own
 * end, the learner is fitted on all entities' rows before their cuts, and
 * each entity is forecast from its own history; metrics are the mean over
 * (window, entity), the baseline the seasonal naive of each entity averaged
 * alike. The fallback (too few rows, no learner among the candidates, none
 * fits) is a pooled seasonal naive: scored per entity from that entity's
 * latest season.
 *
 * Classify: logistic and the XGBoost classifier on the pooled rows, rolling
 * features and look-ahead labels within each entity; a window's metrics are
 * those of all entities' test rows together.
 *
 * The artifact is marked pooled (mm_model_entities()): it keeps no series
 * tail, and mm_model_forecast_from / mm_model_predict take everything from
 * the entity's own rows; mm_model_predict_latest is unavailable.
 * @param series @p n_series series (each sorted, regular on cfg->period_ms).
 */
mm_err_t mm_model_train_pooled(const mm_model_config_t *cfg, const mm_series_t *series,
                               size_t n_series, mm_train_result_t *out, char *errstr,
                               size_t errstr_size);

/* ------------------------------------------------------------ scoring */

typedef struct mm_model mm_model_t;

#define MM_ARTIFACT_MAGIC  "MMMODEL"
#define MM_ARTIFACT_FORMAT 1 /* current artifact format version */

/**
 * @brief Parse an artifact. Unknown magic is MM_ERR_PARSE; a newer format or
 * an unknown algorithm is MM_ERR_UNSUPPORTED; lengths are checked.
 * @remark Format 1 grew optional sections (the selection settings, a
 * classifier's telemetry tail, the known-in-advance mask) and the ensemble
 * algorithm without a new format number: artifacts written before them load
 * (with ensemble_max and xgb_min_history 0, the defaults; without
 * mm_model_predict_latest; with every exogenous column known in advance),
 * and a build that predates them loads every new artifact except an
 * ensemble, which it refuses as an unknown algorithm (such a build treats
 * every column as known in advance).
 */
mm_err_t mm_model_load(const void *artifact, size_t len, mm_model_t **out, char *errstr,
                       size_t errstr_size);
void mm_model_destroy(mm_model_t *model); /* accepts NULL */

mm_algo_t mm_model_algorithm(const mm_model_t *model);
mm_task_t mm_model_task(const mm_model_t *model);
const mm_model_config_t *mm_model_config(const mm_model_t *model);
/** @returns time of the last observation the model was fitted on. */
int64_t mm_model_data_end_ms(const mm_model_t *model);
/**
 * @brief The algorithms a model forecasts with: an ensemble's members and
 * their weights (best backtest first), or the model's own algorithm with
 * weight 1. Writes at most @p max entries (either array may be NULL).
 * @returns the number of members (1..MM_MODEL_MAX_ENSEMBLE).
 */
size_t mm_model_members(const mm_model_t *model, mm_algo_t *algos, double *weights, size_t max);
/**
 * @brief The backtest metrics the model was selected on and the seasonal-naive
 * baseline's on the same windows (NaN where not applicable). Either may be NULL.
 */
void mm_model_backtest_metrics(const mm_model_t *model, mm_metrics_t *metrics,
                               mm_metrics_t *baseline);
/** @returns how many entities a pooled model was fitted on (mm_model_train_pooled), 0 for a
 * model of one series. */
size_t mm_model_entities(const mm_model_t *model);
/** @returns approximate heap bytes held (for byte-bounded caches). */
size_t mm_model_memory_size(const mm_model_t *model);

typedef struct mm_forecast {
    size_t h;
    int64_t *time_ms; /* h target times after the last observation */
    double *mean;
    double *lower; /* prediction interval at level */
    double *upper;
    double level;
} mm_forecast_t;

/**
 * @brief Forecast @p h steps from the end of the training data, at times
 * data_end + k * period_ms (k = 1..h).
 * @param future_exog known future exogenous values, future_exog[j][i] for i < h;
 *        NULL (or a NaN value) means "last known value is carried forward"
 *        (the last value given earlier in the horizon, else the last value
 *        seen in training). Only the columns known in advance
 *        (cfg->features.known_in_advance) take them; the others are always
 *        carried forward, as the backtest did.
 * @remark Intervals at cfg->interval_level: analytic for seasonal naive and
 * additive exponential smoothing; otherwise from the chosen model's backtest
 * errors (a power law in the step fitted to the per-step RMS errors; for an
 * ensemble, the errors of its combined backtest forecast). For a
 * series that never went negative, means and lower bounds are clipped at 0.
 * A model trained as a declared fallback without backtest has analytic
 * intervals only (NaN bounds where there are none).
 * @returns MM_ERR_INVALID_ARG for a classification model or h outside 1..100000.
 */
mm_err_t mm_model_forecast(const mm_model_t *model, size_t h, const double *const *future_exog,
                           mm_forecast_t *out, char *errstr, size_t errstr_size);
void mm_forecast_clear(mm_forecast_t *fc);

/**
 * @brief Classification: probability of the positive class for @p n rows of
 * raw telemetry (times and exogenous columns, exog[j][i]), features computed
 * by the shared feature code path. @p proba receives n values.
 * @remark Rolling-window features of a row use the rows before it in this
 * call (as in training, windows at the start use what is there): pass at
 * least max(window) - 1 rows of recent history before the rows of interest.
 * With class weighting (the default) the scores rank well and 0.5 balances
 * recall and precision; they are not calibrated to the raw base rate.
 */
mm_err_t mm_model_predict(const mm_model_t *model, size_t n, const int64_t *time_ms,
                          const double *const *exog, double *proba, char *errstr,
                          size_t errstr_size);

/**
 * @brief Classification, batch scoring: probability of the positive class as
 * of the end of the training data, from the last rows of telemetry the
 * model was trained on (the artifact keeps the max(window) rows its rolling
 * features need). Equals the last value mm_model_predict gives for those
 * rows, or for the whole training history.
 * @param proba receives the probability.
 * @param at_ms receives the time it refers to, mm_model_data_end_ms() (may
 *        be NULL).
 * @returns MM_ERR_INVALID_ARG for a forecasting model; MM_ERR_UNSUPPORTED
 * for an artifact written before the telemetry tail was stored (retrain the
 * key to score it this way; mm_model_predict still works on it).
 */
mm_err_t mm_model_predict_latest(const mm_model_t *model, double *proba, int64_t *at_ms,
                                 char *errstr, size_t errstr_size);

/* ------------------------------------------------------------ scoring new data */

/**
 * A key's scoring data: what the scorer keeps for it, independent of when its
 * model was trained.
 */
typedef struct mm_scoring_input {
    /* The key's newest observations, sorted, on the model's grid (data end
     * + k x period; missing rows and NaN targets are gaps). May overlap the
     * training data: at or before the model's data end the model's own
     * stored history is used. n_exog is the model's or 0 (then the model's
     * last known exogenous values are carried forward). Rows after the last
     * non-NaN target are not observations and are ignored. */
    const mm_series_t *recent;
    /* Planned covariates: rows after the latest observation whose target is
     * empty; their known-in-advance exogenous values, matched to horizon
     * steps by time (y ignored; NaN = not planned). NULL = none. */
    const mm_series_t *planned;
    /* 0: the forecast starts one period after the latest observation. Else
     * the forecast window is as_of + period .. as_of + h * period for every
     * key alike; a key whose latest observation is earlier is forecast
     * through the gap (only the window is returned, its intervals those of
     * its steps from the latest observation), and observations after as_of
     * are ignored. as_of must lie on the model's grid at or after its data
     * end (else MM_ERR_INVALID_ARG). */
    int64_t as_of_ms;
} mm_scoring_input_t;

/** What a forecast from scoring data used. */
typedef struct mm_forecast_info {
    int64_t watermark_ms; /* time of the latest observation used */
    size_t n_new;         /* observations after the model's data end that were applied */
    /* Of the returned steps, for a model with known-in-advance columns
     * (both 0 without): */
    size_t n_planned_steps; /* steps whose known-in-advance covariates were all planned */
    size_t n_carried_steps; /* steps where a known-in-advance covariate was carried forward */
} mm_forecast_info_t;

/**
 * @returns how many of a key's most recent periods the model needs in
 * mm_scoring_input_t.recent to forecast from new data (its largest lag, two
 * seasons, rolling windows, the history it stored; at least 1). A scorer
 * keeps at least this many. The state-space models (exponential smoothing,
 * Croston/SBA/TSB) also run over every point after the model's data end:
 * those not given count as missing.
 */
size_t mm_model_history_needed(const mm_model_t *model);

/**
 * @brief Apply the production model to a key's newest data without
 * refitting, and forecast @p h steps from there: exponential smoothing runs
 * its fitted filter from the end of training over the new points; seasonal
 * naive and the lag models (ridge, XGBoost) take their lags from the new
 * points; Croston/SBA/TSB update their demand and interval state (a NaN is a
 * missing value, not a zero demand); an ensemble combines its members'
 * forecasts with its weights. Known-in-advance exogenous values come from
 * @p in->planned, the others (and unplanned steps) are carried forward from
 * the latest observation. With no new points the result equals
 * mm_model_forecast() with the same covariates (planned rows at data end +
 * k x period as its future_exog[j][k-1]). A NaN target is missing: the
 * filters advance with their one-step prediction, Croston/SBA/TSB skip it,
 * a lag on it is missing. Intervals are those of mm_model_forecast at the
 * same step counted from the latest observation.
 * @param in may be NULL (no scoring data: mm_model_forecast()).
 * @param info may be NULL.
 * @returns MM_ERR_INVALID_ARG for a classification model, h outside
 * 1..100000, unsorted or off-grid times, a bad as_of, mismatched exogenous
 * columns (errstr says which); MM_ERR_NUMERIC when a multiplicative
 * seasonal filter leaves its admissible region over the new points.
 */
mm_err_t mm_model_forecast_from(const mm_model_t *model, const mm_scoring_input_t *in, size_t h,
                                mm_forecast_t *out, mm_forecast_info_t *info, char *errstr,
                                size_t errstr_size);

#endif
