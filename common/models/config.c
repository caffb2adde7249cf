/*
 * config.c - the model configuration: library defaults per task, resolution
 * of the tuning fields left at zero ("use the default"), and validation,
 * which training and the artifact loader both apply.
 *
 * Validation also bounds the time fields: a period of at most
 * MM_MODELS__MAX_PERIOD_MS, so that a forecast time data_end + k * period
 * (k up to the longest horizon or holdout) stays far inside int64 for every
 * data end the library accepts (MM_MODELS__MIN_TIME_MS..MAX_TIME_MS).
 *
 * Workload: once per training call and once per artifact load; a few dozen
 * comparisons.
 */
#include <math.h>
#include <string.h>

#include "models_int.h"

/* The best two capture what combination gains; every further option is
 * one more chance for three backtest windows to select noise (pairs beat
 * up-to-three on both benchmark datasets, bench/models/RESULTS.md). */
#define DEFAULT_ENSEMBLE_MAX 2
/* XGBoost's trees beat ridge on the same features only with enough rows:
 * on 702 daily points it loses to ridge, and as a candidate costs 4x the
 * time per key for no gain; on 3,972 it wins, and auto with it gains 5% in
 * MASE for 2.2x the time (bench/models/RESULTS.md). */
#define DEFAULT_XGB_MIN_HISTORY 1000
/* Daily series: ETS and XGBoost fit on the last two years (bench/models/RESULTS.md). */
#define DEFAULT_TRAIN_WINDOW_DAYS 730

#define DEFAULT_INTERVAL_LEVEL 0.95
#define DEFAULT_RIDGE_LAMBDA   1.0
#define DEFAULT_LOGISTIC_C     1.0
#define DEFAULT_XGB_ROUNDS     100
#define DEFAULT_XGB_MAX_DEPTH  4
#define DEFAULT_XGB_ETA        0.1
/* Forecasting trees: half the rounds at twice the rate, as accurate on the
 * sales benchmark at half the cost per fit (bench/models/RESULTS.md). */
#define DEFAULT_FORECAST_XGB_ROUNDS 50
#define DEFAULT_FORECAST_XGB_ETA    0.2
/* Histogram bins: split finding scans every bin of every feature at every
 * node; forecasting trees on a few hundred rows need few. 32 bins judged the
 * seed's keys as well as 64 (0.8059 / 0.8295 against 0.8062 / 0.8314 mean
 * MASE on two blocks of 1,000) for 8 % less training (bench/models/RESULTS.md). */
#define DEFAULT_XGB_MAX_BIN          256
#define DEFAULT_FORECAST_XGB_MAX_BIN 32
#define MAX_XGB_MAX_BIN              65536
/* Features per node: each node of a forecasting tree picks its split among
 * half the features, drawn anew per node. Over the seed's 10,000 keys more
 * accurate than all of them (0.8059 against 0.8073 mean MASE), for about
 * 10 % less CPU (split finding was a quarter of it) (bench/models/RESULTS.md). */
#define DEFAULT_XGB_COLSAMPLE          1.0
#define DEFAULT_FORECAST_XGB_COLSAMPLE 0.5

#define HOURS_PER_DAY 24
#define DAYS_PER_WEEK 7
#define MS_PER_HOUR   INT64_C(3600000)

/* Validation ranges. */
#define MAX_HOLDOUT          1000000
#define MAX_BACKTEST_WINDOWS 100
#define MAX_LAG_OR_WINDOW    100000
#define MAX_LOOKAHEAD        100000
#define MAX_XGB_ROUNDS       10000
#define MAX_XGB_DEPTH        16

_Static_assert(MAX_HOLDOUT >= MM_MODELS__MAX_FORECAST_STEPS, "holdout bounds the backtest steps");
/* The largest forecast or backtest time cannot overflow int64. */
_Static_assert(MM_MODELS__MAX_TIME_MS <=
                   INT64_MAX - (int64_t)MAX_HOLDOUT * MM_MODELS__MAX_PERIOD_MS,
               "time bounds leave room for the longest horizon");
_Static_assert(MM_MODELS__MIN_TIME_MS >=
                   INT64_MIN + (int64_t)MAX_HOLDOUT * MM_MODELS__MAX_PERIOD_MS,
               "time bounds leave room below too");

/* What a sampling period implies: one row per frequency the defaults know. */
typedef struct freq_defaults {
    int64_t period_ms;
    int season_length;    /* the dominant cycle in periods */
    int horizon, holdout; /* a forecast and a backtest window */
    int backtest_windows;
    int min_history_extra; /* besides the backtest windows: points to train the first window */
    int lags[MM_MODEL_MAX_LAGS];
    size_t n_lags;
    int windows[MM_MODEL_MAX_WINDOWS];
    size_t n_windows;
    int train_window; /* ETS and XGBoost fit on at most this many latest points */
} freq_defaults_t;

#define MS_PER_DAY        MM_MODELS__MS_PER_DAY
#define MS_PER_WEEK       (DAYS_PER_WEEK * MS_PER_DAY)
#define MS_PER_MONTH      (MS_PER_DAY * 304375 / 10000) /* 30.4375 days, the nominal month */
#define HOURS_PER_WEEK    (HOURS_PER_DAY * DAYS_PER_WEEK)
#define WEEKS_PER_YEAR    52
#define MONTHS_PER_YEAR   12
#define WEEKS_PER_QUARTER 13

/* Daily: the library's historical defaults, unchanged (mm_model_config_defaults).
 * Hourly: a daily and a weekly cycle. Weekly: the yearly cycle, which two
 * years of history cannot fit as a season (training then uses season 1 for
 * the key) but lag 52 can still carry; one year of history is the minimum.
 * Monthly: the yearly cycle, a year ahead, judged on two yearly windows
 * (the horizon equals the holdout at every frequency, so the backtest
 * measures the forecast that is delivered). */
static const freq_defaults_t k_freq[] = {
    {MS_PER_HOUR,
     HOURS_PER_DAY,
     2 * HOURS_PER_DAY,
     2 * HOURS_PER_DAY,
     3,
     2 * HOURS_PER_DAY,
     {1, 2, 3, HOURS_PER_DAY, 2 * HOURS_PER_DAY, HOURS_PER_WEEK},
     6,
     {HOURS_PER_DAY, HOURS_PER_WEEK},
     2,
     12 * HOURS_PER_WEEK},
    {MS_PER_DAY,
     DAYS_PER_WEEK,
     4 * DAYS_PER_WEEK,
     4 * DAYS_PER_WEEK,
     3,
     2 * DAYS_PER_WEEK,
     {1, 2, 3, 7, 14, 21, 28},
     7,
     {DAYS_PER_WEEK, 4 * DAYS_PER_WEEK},
     2,
     DEFAULT_TRAIN_WINDOW_DAYS},
    {MS_PER_WEEK,
     WEEKS_PER_YEAR,
     WEEKS_PER_QUARTER,
     WEEKS_PER_QUARTER,
     3,
     WEEKS_PER_QUARTER,
     {1, 2, 4, WEEKS_PER_YEAR},
     4,
     {4, WEEKS_PER_QUARTER},
     2,
     5 * WEEKS_PER_YEAR},
    {MS_PER_MONTH,
     MONTHS_PER_YEAR,
     MONTHS_PER_YEAR,
     MONTHS_PER_YEAR,
     2,
     MONTHS_PER_YEAR,
     {1, 2, 3, MONTHS_PER_YEAR},
     4,
     {3, MONTHS_PER_YEAR},
     2,
     10 * MONTHS_PER_YEAR},
};

/* The row for @p period_ms: the nearest of the known frequencies on a log
 * scale (so 15 minutes is hourly, 10 days weekly, a quarter monthly). */
static const freq_defaults_t *freq_for(int64_t period_ms) {
    size_t best = 1; /* daily */
    double best_d = INFINITY;
    for (size_t i = 0; i < sizeof k_freq / sizeof k_freq[0]; i++) {
        double d = fabs(log((double)period_ms / (double)k_freq[i].period_ms));
        if (d < best_d) {
            best_d = d;
            best = i;
        }
    }
    return &k_freq[best];
}

static void forecast_defaults(mm_model_config_t *cfg, int64_t period_ms) {
    const freq_defaults_t *fd = freq_for(period_ms);
    mm_feature_config_t *f = &cfg->features;
    cfg->period_ms = period_ms;
    cfg->horizon = fd->horizon;
    cfg->holdout = fd->holdout;
    cfg->backtest_windows = fd->backtest_windows;
    cfg->season_length = fd->season_length;
    cfg->min_history = fd->min_history_extra + cfg->backtest_windows * cfg->holdout;
    cfg->fallback = MM_ALGO_SNAIVE;
    cfg->candidates = MM_MODELS__DEFAULT_FORECAST_CANDIDATES;
    cfg->selection_metric = MM_METRIC_MASE;
    for (size_t i = 0; i < fd->n_lags; i++) f->lags[f->n_lags++] = fd->lags[i];
    f->calendar = true;
    for (size_t i = 0; i < fd->n_windows; i++) f->windows[f->n_windows++] = fd->windows[i];
    cfg->train_window = fd->train_window;
    cfg->xgb_rounds = DEFAULT_FORECAST_XGB_ROUNDS;
    cfg->xgb_eta = DEFAULT_FORECAST_XGB_ETA;
    cfg->xgb_max_bin = DEFAULT_FORECAST_XGB_MAX_BIN;
    cfg->xgb_colsample = DEFAULT_FORECAST_XGB_COLSAMPLE;
}

/* Hourly telemetry, "fails within the next 24 hours"; other periods keep
 * the same row counts (windows of 3 and 24 rows, a look-ahead of 24 rows). */
static void classify_defaults(mm_model_config_t *cfg) {
    mm_feature_config_t *f = &cfg->features;
    cfg->period_ms = MS_PER_HOUR;
    cfg->horizon = 1;
    cfg->holdout = HOURS_PER_DAY * 2 * DAYS_PER_WEEK;
    cfg->backtest_windows = 2;
    cfg->season_length = HOURS_PER_DAY;
    cfg->min_history = HOURS_PER_DAY * DAYS_PER_WEEK + cfg->backtest_windows * cfg->holdout;
    cfg->fallback = MM_ALGO_LOGISTIC;
    cfg->candidates = MM_MODELS__DEFAULT_CLASSIFY_CANDIDATES;
    cfg->selection_metric = MM_METRIC_AUC;
    cfg->lookahead = HOURS_PER_DAY;
    f->windows[f->n_windows++] = 3;
    f->windows[f->n_windows++] = HOURS_PER_DAY;
}

void mm_model_config_defaults(mm_model_config_t *cfg, mm_task_t task) {
    mm_model_config_defaults_for(cfg, task, 0);
}

void mm_model_config_defaults_for(mm_model_config_t *cfg, mm_task_t task, int64_t period_ms) {
    memset(cfg, 0, sizeof *cfg);
    cfg->task = task;
    cfg->interval_level = DEFAULT_INTERVAL_LEVEL;
    cfg->ridge_lambda = DEFAULT_RIDGE_LAMBDA;
    cfg->logistic_c = DEFAULT_LOGISTIC_C;
    cfg->xgb_rounds = DEFAULT_XGB_ROUNDS;
    cfg->xgb_max_depth = DEFAULT_XGB_MAX_DEPTH;
    cfg->xgb_eta = DEFAULT_XGB_ETA;
    cfg->class_weight = MM_CLASS_WEIGHT_BALANCED;
    cfg->ets_trend = MM_ETS_TREND_AUTO;
    cfg->ets_season = MM_ETS_SEASON_AUTO;
    cfg->ensemble_max = DEFAULT_ENSEMBLE_MAX;
    cfg->xgb_min_history = DEFAULT_XGB_MIN_HISTORY;
    cfg->xgb_max_bin = DEFAULT_XGB_MAX_BIN;
    cfg->xgb_colsample = DEFAULT_XGB_COLSAMPLE;
    if (task == MM_TASK_FORECAST) {
        forecast_defaults(cfg, period_ms > 0 ? period_ms : MS_PER_DAY);
    } else {
        classify_defaults(cfg);
        if (period_ms > 0) cfg->period_ms = period_ms;
    }
}

uint32_t mm_models__known_mask(const mm_model_config_t *cfg) {
    size_t n = cfg->features.n_exog;
    uint32_t all = n >= 32 ? UINT32_MAX : (UINT32_C(1) << n) - 1u;
    return cfg->features.known_in_advance & all;
}

void mm_models__resolve_tuning(mm_model_config_t *cfg) {
    if (cfg->ridge_lambda == 0) cfg->ridge_lambda = DEFAULT_RIDGE_LAMBDA;
    if (cfg->logistic_c == 0) cfg->logistic_c = DEFAULT_LOGISTIC_C;
    bool forecast = cfg->task == MM_TASK_FORECAST;
    if (cfg->xgb_rounds == 0)
        cfg->xgb_rounds = forecast ? DEFAULT_FORECAST_XGB_ROUNDS : DEFAULT_XGB_ROUNDS;
    if (cfg->xgb_max_depth == 0) cfg->xgb_max_depth = DEFAULT_XGB_MAX_DEPTH;
    if (cfg->xgb_eta == 0) cfg->xgb_eta = forecast ? DEFAULT_FORECAST_XGB_ETA : DEFAULT_XGB_ETA;
    if (cfg->xgb_max_bin == 0)
        cfg->xgb_max_bin = forecast ? DEFAULT_FORECAST_XGB_MAX_BIN : DEFAULT_XGB_MAX_BIN;
    if (cfg->xgb_colsample == 0)
        cfg->xgb_colsample = forecast ? DEFAULT_FORECAST_XGB_COLSAMPLE : DEFAULT_XGB_COLSAMPLE;
    if (cfg->class_weight == MM_CLASS_WEIGHT_DEFAULT) cfg->class_weight = MM_CLASS_WEIGHT_BALANCED;
    if (cfg->ensemble_max == 0) cfg->ensemble_max = DEFAULT_ENSEMBLE_MAX;
    if (cfg->xgb_min_history == 0) cfg->xgb_min_history = DEFAULT_XGB_MIN_HISTORY;
    if (cfg->train_window == 0 && cfg->task == MM_TASK_FORECAST && cfg->period_ms > 0)
        cfg->train_window = freq_for(cfg->period_ms)->train_window;
}

bool mm_models__time_in_range(int64_t ms) {
    return ms >= MM_MODELS__MIN_TIME_MS && ms <= MM_MODELS__MAX_TIME_MS;
}

#define CHECK(cond, field, ...)                                                                    \
    do {                                                                                           \
        if (!(cond)) return mm_errf(MM_ERR_CONFIG, errstr, errstr_size, field ": " __VA_ARGS__);   \
    } while (0)

/* Task, time and selection fields. */
static mm_err_t validate_core(const mm_model_config_t *cfg, char *errstr, size_t errstr_size) {
    CHECK(cfg->task == MM_TASK_FORECAST || cfg->task == MM_TASK_CLASSIFY, "task", "unknown task %d",
          (int)cfg->task);
    CHECK(cfg->period_ms > 0 && cfg->period_ms <= MM_MODELS__MAX_PERIOD_MS, "period_ms",
          "must be in 1..%lld (100 years), got %lld", (long long)MM_MODELS__MAX_PERIOD_MS,
          (long long)cfg->period_ms);
    CHECK(cfg->horizon >= 1 && cfg->horizon <= MM_MODELS__MAX_FORECAST_STEPS, "horizon",
          "must be in 1..%d, got %d", MM_MODELS__MAX_FORECAST_STEPS, cfg->horizon);
    CHECK(cfg->holdout >= 1 && cfg->holdout <= MAX_HOLDOUT, "holdout", "must be in 1..%d, got %d",
          MAX_HOLDOUT, cfg->holdout);
    CHECK(cfg->backtest_windows >= 1 && cfg->backtest_windows <= MAX_BACKTEST_WINDOWS,
          "backtest_windows", "must be in 1..%d, got %d", MAX_BACKTEST_WINDOWS,
          cfg->backtest_windows);
    CHECK(cfg->backtest_fits >= 0 && cfg->backtest_fits <= cfg->backtest_windows, "backtest_fits",
          "must be 0 (every window) or in 1..backtest_windows (%d), got %d", cfg->backtest_windows,
          cfg->backtest_fits);
    CHECK(cfg->season_length >= 1 && cfg->season_length <= MM_ETS_MAX_SEASON, "season_length",
          "must be in 1..%d, got %d", MM_ETS_MAX_SEASON, cfg->season_length);
    CHECK(cfg->min_history >= 0, "min_history", "must not be negative, got %d", cfg->min_history);
    uint32_t allowed =
        cfg->task == MM_TASK_FORECAST ? MM_MODELS__FORECAST_ALGOS : MM_MODELS__CLASSIFY_ALGOS;
    CHECK((unsigned)cfg->fallback < MM_ALGO__COUNT && (MM_MODELS__BIT(cfg->fallback) & allowed),
          "fallback", "%s is not a %s algorithm", mm_algo_name(cfg->fallback),
          cfg->task == MM_TASK_FORECAST ? "forecasting" : "classification");
    CHECK((cfg->candidates & ~(allowed | MM_MODELS__BIT(MM_ALGO_AUTO))) == 0, "candidates",
          "contains an algorithm that does not fit the task (mask 0x%x)", cfg->candidates);
    CHECK(cfg->candidates != 0, "candidates", "empty");
    CHECK((unsigned)cfg->selection_metric < MM_METRIC__COUNT &&
              mm_models__metric_for_task(cfg->selection_metric, cfg->task),
          "selection_metric", "%s does not apply to this task",
          mm_metric_name(cfg->selection_metric));
    CHECK(cfg->interval_level > 0 && cfg->interval_level < 1, "interval_level",
          "must be in (0,1), got %g", cfg->interval_level);
    return MM_OK;
}

static mm_err_t validate_features(const mm_model_config_t *cfg, char *errstr, size_t errstr_size) {
    const mm_feature_config_t *f = &cfg->features;
    CHECK(f->n_lags <= MM_MODEL_MAX_LAGS, "features.lags", "at most %d", MM_MODEL_MAX_LAGS);
    for (size_t i = 0; i < f->n_lags; i++)
        CHECK(f->lags[i] >= 1 && f->lags[i] <= MAX_LAG_OR_WINDOW, "features.lags",
              "lag %d out of range 1..%d", f->lags[i], MAX_LAG_OR_WINDOW);
    CHECK(f->n_windows <= MM_MODEL_MAX_WINDOWS, "features.windows", "at most %d",
          MM_MODEL_MAX_WINDOWS);
    for (size_t i = 0; i < f->n_windows; i++)
        CHECK(f->windows[i] >= 1 && f->windows[i] <= MAX_LAG_OR_WINDOW, "features.windows",
              "window %d out of range 1..%d", f->windows[i], MAX_LAG_OR_WINDOW);
    CHECK(f->n_exog <= MM_MODEL_MAX_EXOG, "features.exog", "at most %d columns", MM_MODEL_MAX_EXOG);
    CHECK(f->known_in_advance == mm_models__known_mask(cfg), "features.known_in_advance",
          "mask 0x%x names a column beyond the %zu exogenous columns",
          (unsigned)f->known_in_advance, f->n_exog);
    CHECK(cfg->lookahead >= 0 && cfg->lookahead <= MAX_LOOKAHEAD, "lookahead",
          "must be in 0..%d, got %d", MAX_LOOKAHEAD, cfg->lookahead);
    return MM_OK;
}

static mm_err_t validate_tuning(const mm_model_config_t *cfg, char *errstr, size_t errstr_size) {
    CHECK(cfg->ets_trend >= MM_ETS_TREND_AUTO && cfg->ets_trend <= MM_ETS_TREND_DAMPED, "ets_trend",
          "unknown form %d", cfg->ets_trend);
    CHECK(cfg->ets_season >= MM_ETS_SEASON_AUTO && cfg->ets_season <= MM_ETS_SEASON_MUL,
          "ets_season", "unknown form %d", cfg->ets_season);
    CHECK(cfg->ridge_lambda >= 0 && isfinite(cfg->ridge_lambda), "ridge_lambda",
          "must be finite and >= 0");
    CHECK(cfg->logistic_c >= 0 && isfinite(cfg->logistic_c), "logistic_c",
          "must be finite and >= 0");
    CHECK(cfg->xgb_rounds >= 0 && cfg->xgb_rounds <= MAX_XGB_ROUNDS, "xgb_rounds",
          "must be in 0..%d", MAX_XGB_ROUNDS);
    CHECK(cfg->xgb_max_depth >= 0 && cfg->xgb_max_depth <= MAX_XGB_DEPTH, "xgb_max_depth",
          "must be in 0..%d", MAX_XGB_DEPTH);
    CHECK(cfg->xgb_eta >= 0 && cfg->xgb_eta <= 1, "xgb_eta", "must be in [0,1]");
    CHECK(cfg->class_weight >= MM_CLASS_WEIGHT_DEFAULT && cfg->class_weight <= MM_CLASS_WEIGHT_NONE,
          "class_weight", "unknown value %d", cfg->class_weight);
    CHECK(cfg->ensemble_max >= 0 && cfg->ensemble_max <= MM_MODEL_MAX_ENSEMBLE, "ensemble_max",
          "must be in 0..%d, got %d", MM_MODEL_MAX_ENSEMBLE, cfg->ensemble_max);
    CHECK(cfg->xgb_min_history >= -1, "xgb_min_history", "must be -1 (never) or >= 0, got %d",
          cfg->xgb_min_history);
    CHECK(cfg->xgb_max_bin == 0 || (cfg->xgb_max_bin >= 2 && cfg->xgb_max_bin <= MAX_XGB_MAX_BIN),
          "xgb_max_bin", "must be 0 (the default) or in 2..%d, got %d", MAX_XGB_MAX_BIN,
          cfg->xgb_max_bin);
    CHECK(cfg->xgb_colsample >= 0 && cfg->xgb_colsample <= 1, "xgb_colsample",
          "must be 0 (the default) or a share of the features in (0,1], got %g",
          cfg->xgb_colsample);
    CHECK(cfg->train_window >= -1, "train_window",
          "must be -1 (no cap), 0 (the default) or a number of points, got %d", cfg->train_window);
    return MM_OK;
}

mm_err_t mm_model_config_validate(const mm_model_config_t *cfg, char *errstr, size_t errstr_size) {
    CHECK(cfg != NULL, "model", "no config");
    mm_err_t err = validate_core(cfg, errstr, errstr_size);
    if (err == MM_OK) err = validate_features(cfg, errstr, errstr_size);
    if (err == MM_OK) err = validate_tuning(cfg, errstr, errstr_size);
    if (err != MM_OK) return err;
    if (cfg->task == MM_TASK_CLASSIFY)
        CHECK(cfg->features.n_exog >= 1, "features.exog",
              "classification needs at least one column");
    return MM_OK;
}
