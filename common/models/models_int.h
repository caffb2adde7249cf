/*
 * models_int.h - internals shared by the files of the model library
 * (common/models/). Not installed, not for services: they use mm/model.h.
 * Each declaration names the file that defines it; those files call each
 * other from the top down only (CMakeLists.txt lists them from the leaves
 * up), so a model carries its operations and an ensemble its members'
 * instead of looking them up in the registry.
 *
 * Workload: many small fits (one per key, a few hundred to a few thousand
 * points), so everything here works on plain arrays without copies where it
 * can, and every fit is deterministic.
 */
#ifndef MM_MODELS_INT_H
#define MM_MODELS_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/model.h"

#define MM_MODELS__MS_PER_DAY INT64_C(86400000)
/* Forecast steps one call may ask for (and the longest configured horizon). */
#define MM_MODELS__MAX_FORECAST_STEPS 100000
/* The longest sampling period: 100 years of 365.25 days. */
#define MM_MODELS__MAX_PERIOD_MS (INT64_C(36525) * MM_MODELS__MS_PER_DAY)
/* Times a model may end at: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999Z.
 * With the period and horizon bounds, data_end + k * period never leaves
 * int64 (config.c asserts it). */
#define MM_MODELS__MIN_TIME_MS INT64_C(-62135596800000)
#define MM_MODELS__MAX_TIME_MS INT64_C(253402300799999)
/* Artifacts above this size are refused on write and on load. */
#define MM_MODELS__ARTIFACT_MAX ((size_t)64 << 20)
/* A regression forecaster needs this many training rows, and at least one
 * per MM_MODELS__ROWS_PER_FEATURE_DIVISOR features (regress.c; training
 * shortens the lags of a short key to leave them, train_forecast.c). */
#define MM_MODELS__MIN_REGRESSION_ROWS      10
#define MM_MODELS__ROWS_PER_FEATURE_DIVISOR 4
/* Named parameter vectors per artifact, and the longest name. */
#define MM_MODELS__MAX_PARAMS     48
#define MM_MODELS__PARAM_NAME_MAX 31

/* ------------------------------------------------------------ names and config (names.c, config.c)
 */

#define MM_MODELS__BIT(a) (1u << (a))

/* XGBoost is not a default candidate: it costs two orders of magnitude more
 * per key than the rest; add it in the spec where it pays (or let
 * xgb_min_history add it on long histories). */
#define MM_MODELS__DEFAULT_FORECAST_CANDIDATES                                                     \
    (MM_MODELS__BIT(MM_ALGO_AUTO) | MM_MODELS__BIT(MM_ALGO_SNAIVE) | MM_MODELS__BIT(MM_ALGO_ETS) | \
     MM_MODELS__BIT(MM_ALGO_CROSTON) | MM_MODELS__BIT(MM_ALGO_SBA) | MM_MODELS__BIT(MM_ALGO_TSB) | \
     MM_MODELS__BIT(MM_ALGO_RIDGE))
#define MM_MODELS__DEFAULT_CLASSIFY_CANDIDATES                                                     \
    (MM_MODELS__BIT(MM_ALGO_AUTO) | MM_MODELS__BIT(MM_ALGO_LOGISTIC) |                             \
     MM_MODELS__BIT(MM_ALGO_XGB_CLASSIFIER))
#define MM_MODELS__FORECAST_ALGOS                                                                  \
    (MM_MODELS__BIT(MM_ALGO_SNAIVE) | MM_MODELS__BIT(MM_ALGO_ETS) |                                \
     MM_MODELS__BIT(MM_ALGO_CROSTON) | MM_MODELS__BIT(MM_ALGO_SBA) | MM_MODELS__BIT(MM_ALGO_TSB) | \
     MM_MODELS__BIT(MM_ALGO_RIDGE) | MM_MODELS__BIT(MM_ALGO_XGBOOST))
#define MM_MODELS__CLASSIFY_ALGOS                                                                  \
    (MM_MODELS__BIT(MM_ALGO_LOGISTIC) | MM_MODELS__BIT(MM_ALGO_XGB_CLASSIFIER))

/** @returns whether metric @p id applies to @p task. */
bool mm_models__metric_for_task(mm_metric_id_t id, mm_task_t task);
/** @returns whether @p a is a better value of metric @p id than @p b (NaN is worst). */
bool mm_models__better(mm_metric_id_t id, double a, double b);
/** @brief Replace the tuning fields left at zero by the library defaults. */
void mm_models__resolve_tuning(mm_model_config_t *cfg);
/** @returns whether @p ms lies in MM_MODELS__MIN_TIME_MS..MM_MODELS__MAX_TIME_MS. */
bool mm_models__time_in_range(int64_t ms);
/** @returns the bits of cfg->features.known_in_advance that name existing exogenous columns. */
uint32_t mm_models__known_mask(const mm_model_config_t *cfg);

/* ------------------------------------------------------------ numerics */

/** @returns the standard normal quantile at @p p (0 < p < 1). */
double mm_models__norm_ppf(double p);
/** @returns z such that a central interval at @p level is mean +- z*sd. */
double mm_models__interval_z(double level);

/* ------------------------------------------------------------ named parameters (params.c) */

enum { MM_MODELS__PARAM_F64 = 1, MM_MODELS__PARAM_BYTES = 2 };

typedef struct mm_models__param {
    char name[MM_MODELS__PARAM_NAME_MAX + 1];
    uint8_t kind;
    uint32_t n;     /* doubles (F64) or bytes (BYTES) */
    double *v;      /* owned, kind F64 */
    uint8_t *bytes; /* owned, kind BYTES */
} mm_models__param_t;

/* The fitted parameters of one model as named vectors: what the artifact
 * stores, so an artifact can be inspected without knowing the algorithm. */
typedef struct mm_models__params {
    mm_models__param_t p[MM_MODELS__MAX_PARAMS];
    size_t n;
} mm_models__params_t;

mm_err_t mm_models__params_add(mm_models__params_t *ps, const char *name, const double *v,
                               size_t n);
mm_err_t mm_models__params_add1(mm_models__params_t *ps, const char *name, double v);
mm_err_t mm_models__params_add_bytes(mm_models__params_t *ps, const char *name, const void *bytes,
                                     size_t n);
/** @returns the vector named @p name if it has exactly @p n values (n == 0: any length). */
const mm_models__param_t *mm_models__params_get(const mm_models__params_t *ps, const char *name,
                                                size_t n);
void mm_models__params_clear(mm_models__params_t *ps);

/* ------------------------------------------------------------ calendar and features */

typedef struct mm_models__civil {
    int year, month, day; /* month 1..12 */
    int dow;              /* 0 = Monday .. 6 = Sunday */
    int iso_week;         /* 1..53 */
    int hour;
} mm_models__civil_t;

void mm_models__civil_from_ms(int64_t ms, mm_models__civil_t *out);

/* Column layout of a feature row, derived from the config alone so training
 * and scoring agree by construction. */
typedef struct mm_models__layout {
    size_t n_lags; /* forecast: target lags */
    size_t n_ywin; /* forecast: rolling means of the target over windows */
    size_t n_cal;  /* calendar columns */
    size_t n_exog; /* exogenous values at t */
    size_t n_xwin; /* classify: 4 aggregates x windows x exogenous columns */
    size_t width;
    size_t max_lookback; /* target values needed before t */
    bool hourly;         /* hour-of-day terms present */
} mm_models__layout_t;

void mm_models__layout_init(const mm_model_config_t *cfg, size_t n_exog, mm_models__layout_t *lay);

/**
 * @brief One forecast feature row for the point at index @p t of @p y
 * (y[t-lag] etc.; indices below zero are NaN). Calendar from @p time_ms,
 * exogenous values from @p exog_t (n_exog values, may be NULL when 0).
 */
void mm_models__forecast_row(const mm_model_config_t *cfg, const mm_models__layout_t *lay,
                             const double *y, size_t t, int64_t time_ms, const double *exog_t,
                             double *row);

/**
 * @brief Classification feature rows for n raw telemetry rows: current
 * values, rolling mean/std/min/max over each window (windows that reach
 * before the first row use the rows available), calendar. @p X is n x width,
 * row-major.
 */
void mm_models__classify_rows(const mm_model_config_t *cfg, const mm_models__layout_t *lay,
                              size_t n, const int64_t *time_ms, const double *const *exog,
                              double *X);
/** @brief The last of those rows alone (n >= 1, @p time_ms its time): what
 * mm_models__classify_rows gives as row n-1, without the rows before it. */
void mm_models__classify_last_row(const mm_model_config_t *cfg, const mm_models__layout_t *lay,
                                  size_t n, int64_t time_ms, const double *const *exog,
                                  double *row);

/**
 * @brief Labels for classification: the 0/1 column as is (lookahead 0), or 1
 * when an event (y > 0) occurs in (t, t+lookahead]. Rows whose look-ahead
 * window runs past @p n_known without an event get NaN (unknown).
 */
void mm_models__labels(const double *y, size_t n, size_t n_known, int lookahead, double *label);

/* ------------------------------------------------------------ metrics helpers */

/** @returns in-sample seasonal-naive MAE of @p y (m := 1 when n <= m); NaN if undefined. */
double mm_models__mase_scale(const double *y, size_t n, int season_length);
/** @brief Average @p k metric sets value by value, ignoring NaN entries. */
void mm_models__metrics_mean(const mm_metrics_t *sets, size_t k, mm_metrics_t *out);

/* ------------------------------------------------------------ algorithms */

/* A training view: the first n points of the series. */
typedef struct mm_models__view {
    const mm_model_config_t *cfg;
    size_t n;
    const int64_t *time_ms;
    const double *y;
    size_t n_exog;
    const double *const *exog;
} mm_models__view_t;

/* What a forecaster knows at forecast time besides its own state. */
typedef struct mm_models__fcctx {
    const mm_model_config_t *cfg;
    const double *hist; /* most recent targets, hist[n_hist-1] is the last */
    size_t n_hist;
    int64_t end_ms; /* time of hist[n_hist-1] */
    size_t n_exog;
    const double *const *fexog; /* fexog[j][k]: exogenous value at step k+1, resolved */
    bool nonneg; /* the series never went negative: forecasts are clipped at 0 (an ensemble
                    clips each member, as its backtest did) */
} mm_models__fcctx_t;

typedef struct mm_models__ops {
    mm_algo_t algo;
    mm_task_t task;
    /* Forecasters: fit a view; forecast h steps; sd[k] analytic or NaN. */
    mm_err_t (*fit)(const mm_models__view_t *v, void **state, char *errstr, size_t errstr_size);
    mm_err_t (*forecast)(const void *state, const mm_models__fcctx_t *fc, size_t h, double *mean,
                         double *sd, char *errstr, size_t errstr_size);
    /* Classifiers: fit rows X (n x p) with labels and weights; predict probabilities. */
    mm_err_t (*fit_xy)(const mm_model_config_t *cfg, const double *X, const double *y,
                       const double *w, size_t n, size_t p, void **state, char *errstr,
                       size_t errstr_size);
    mm_err_t (*predict_x)(const void *state, const double *X, size_t n, size_t p, double *out,
                          char *errstr, size_t errstr_size);
    mm_err_t (*save)(const void *state, mm_models__params_t *ps);
    mm_err_t (*load)(const mm_models__params_t *ps, const mm_model_config_t *cfg, void **state,
                     char *errstr, size_t errstr_size);
    void (*destroy)(void *state);
    size_t (*memsize)(const void *state);
    /* Forecasters whose state new observations move (NULL: the state does
     * not depend on them; a forecast takes its lags from the history):
     * a new state (freed with destroy) after the last @p n_new values of
     * @p hist, the points after the data end (NaN = missing); @p hist ends
     * with them and begins with the targets the model was fitted on last. */
    mm_err_t (*advance)(const void *state, const mm_model_config_t *cfg, const double *hist,
                        size_t n_hist, size_t n_new, void **out, char *errstr, size_t errstr_size);
    /* Optional: fit the first cuts[i] points of @p v for each of @p k
     * ascending cuts at once (states[i]; all or none), what a backtest's
     * windows and the final fit are for a model whose fit is a sum over rows
     * (ridge). NULL: one fit per window. */
    mm_err_t (*fit_prefixes)(const mm_models__view_t *v, const size_t *cuts, size_t k,
                             void **states, char *errstr, size_t errstr_size);
    /* Optional: the backtest's fits, window by window, each from the one
     * before (@p prev: NULL for the first window; what it holds for the
     * next fit may be taken, its forecast stays valid): XGBoost boosts the
     * previous window's trees a few rounds further (mm_models__xgb_next_rounds)
     * instead of fitting anew. NULL: ops->fit per window. */
    mm_err_t (*fit_next)(void *prev, const mm_models__view_t *v, void **state, char *errstr,
                         size_t errstr_size);
    /* Optional (NULL: every backtest window chooses afresh): fix in @p cfg
     * the choices the fit @p state made among the forms @p cfg allows (ETS:
     * trend and season), so the later backtest windows of one key refit that
     * form only instead of choosing again (backtest.c). */
    void (*settle)(const void *state, mm_model_config_t *cfg);
    /* Combinations only (NULL otherwise): the members and their weights. */
    size_t (*members)(const void *state, mm_algo_t *algos, double *weights, size_t max);
} mm_models__ops_t;

/* ------------------------------------------------------------ capped training window (window.c) */

/* A view on the latest points of another (exogenous column pointers moved). */
typedef struct mm_models__window_view {
    mm_models__view_t v;
    const double *exog[MM_MODEL_MAX_EXOG];
} mm_models__window_view_t;

/** @returns whether fits of @p algo are capped at cfg->train_window points (ETS, XGBoost). */
bool mm_models__capped_algo(mm_algo_t algo);
/** @returns the fewest points a capped fit is given: two seasons twice over, or the longest
 * lag plus the fewest regression rows, whichever is more. */
size_t mm_models__train_window_floor(const mm_model_config_t *cfg);
/** @brief @p out: @p v itself, or its latest cfg->train_window points (at least the floor)
 * when @p algo is capped and the view is longer. */
void mm_models__view_window(const mm_models__view_t *v, mm_algo_t algo,
                            mm_models__window_view_t *out);
/** @brief ops->fit on the view, capped as mm_models__view_window caps it. */
mm_err_t mm_models__fit_windowed(const mm_models__ops_t *ops, const mm_models__view_t *v,
                                 void **state, char *errstr, size_t errstr_size);

/** @returns the operations of @p algo, or NULL if it has none (AUTO, unknown) (registry.c). */
const mm_models__ops_t *mm_models__ops(mm_algo_t algo);
/** @returns the operations of a single forecaster (no ensemble, no classifier), else NULL
 * (forecasters.c). */
const mm_models__ops_t *mm_models__forecaster_ops(mm_algo_t algo);

/**
 * @brief Ridge or XGBoost (@p algo) fitted on the rows of several series at
 * once (regress.c): each view's feature rows, lags and rolling means taken
 * within the view, pooled into one learner whose state is that of
 * mm_ridge_ops / mm_xgboost_ops. MM_ERR_INVALID_ARG for another algorithm.
 */
mm_err_t mm_models__regress_fit_pooled(mm_algo_t algo, const mm_models__view_t *views,
                                       size_t n_views, void **state, char *errstr,
                                       size_t errstr_size);

extern const mm_models__ops_t mm_snaive_ops;
extern const mm_models__ops_t mm_ets_ops;
extern const mm_models__ops_t mm_croston_ops;
extern const mm_models__ops_t mm_sba_ops;
extern const mm_models__ops_t mm_tsb_ops;
extern const mm_models__ops_t mm_ridge_ops;
extern const mm_models__ops_t mm_xgboost_ops;
extern const mm_models__ops_t mm_logistic_ops;
extern const mm_models__ops_t mm_xgbc_ops;
extern const mm_models__ops_t mm_ensemble_ops;

/* ------------------------------------------------------------ ensembles (ensemble.c) */

/**
 * @brief Fit every member of a combination on the view: @p k forecasting
 * algorithms (no ensembles) with positive @p weights. Its ops are
 * mm_ensemble_ops (whose own fit refuses: members come from selection).
 */
mm_err_t mm_models__ensemble_fit(const mm_models__view_t *v, size_t k, const mm_algo_t *algos,
                                 const double *weights, void **state, char *errstr,
                                 size_t errstr_size);

/** @brief mm_models__ensemble_fit with members already fitted: given[i] (may be NULL, or
 * NULL entries: fitted on @p v) is taken over by the ensemble, also on failure, and set to
 * NULL. */
mm_err_t mm_models__ensemble_fit_given(const mm_models__view_t *v, size_t k, const mm_algo_t *algos,
                                       const double *weights, void **given, void **state,
                                       char *errstr, size_t errstr_size);

/* ------------------------------------------------------------ ETS internals (ets_model.c,
 * ets_fit.c; tests, bench) */

typedef enum mm_ets_trend {
    MM_ETS_T_NONE = 0,
    MM_ETS_T_ADD = 1,
    MM_ETS_T_DAMPED = 2
} mm_ets_trend_t;
typedef enum mm_ets_season {
    MM_ETS_S_NONE = 0,
    MM_ETS_S_ADD = 1,
    MM_ETS_S_MUL = 2
} mm_ets_season_t;

#define MM_ETS_MAX_SEASON 400

/* An additive-error ETS model (Hyndman et al. 2008 notation, as statsmodels
 * ETSModel): b_t = phi b_{t-1} + beta e_t (beta, not Holt's beta*). */
typedef struct mm_ets {
    mm_ets_trend_t trend;
    mm_ets_season_t season;
    int m; /* season length (1 when no season) */
    double alpha, beta, gamma, phi;
    double l0, b0;                /* initial states */
    double s0[MM_ETS_MAX_SEASON]; /* s0[j] = s_{j-m}: initial seasonal states, oldest first */
    /* after filtering */
    double level, slope;
    double s_end[MM_ETS_MAX_SEASON]; /* s_end[j]: seasonal state used by forecast step j+1 */
    double sse;
    size_t nobs;   /* non-missing observations */
    double sigma2; /* SSE / nobs */
    double loglik, aicc;
    int n_params; /* smoothing parameters + free initial states */
    int n_evals;  /* likelihood evaluations the fit used (diagnostics) */
} mm_ets_t;

static inline bool mm_ets_has_trend(const mm_ets_t *e) {
    return e->trend != MM_ETS_T_NONE;
}
/** @returns the parameters the likelihood counts: smoothing parameters and free initial
 * states. */
int mm_ets_count_params(const mm_ets_t *e);

/**
 * @brief Run the filter over y (NaN = missing) with the model's parameters
 * and initial states; sets level/slope/s_end, sse, nobs, sigma2, loglik,
 * aicc. @p fitted (may be NULL) receives the one-step predictions.
 * @returns false when the states leave the admissible region (e.g. a
 * multiplicative seasonal state <= 0).
 */
bool mm_ets_filter(mm_ets_t *ets, const double *y, size_t n, double *fitted);

/** @brief Fit one form by maximum likelihood (NLopt). */
mm_err_t mm_ets_fit_form(const double *y, size_t n, int m, mm_ets_trend_t trend,
                         mm_ets_season_t season, mm_ets_t *out, char *errstr, size_t errstr_size);

/**
 * @brief Continue the filter of a fitted model over @p n further points
 * (NaN = missing: the states advance with the one-step prediction) from its
 * end states (level, slope, s_end), without touching the parameters or the
 * fitted variance. @returns false when the states leave the admissible
 * region or stop being finite.
 */
bool mm_ets_extend(mm_ets_t *ets, const double *y, size_t n);

/** @brief Forecast h steps: mean, and analytic sd (NaN for multiplicative seasonality). */
void mm_ets_forecast(const mm_ets_t *ets, size_t h, double *mean, double *sd);

/* ------------------------------------------------------------ linear learners (tests, bench) */

typedef struct mm_linear {
    size_t p;
    double intercept;
    double *coef;  /* p, on the standardised scale */
    double *mean;  /* p, column means (also the fill value for missing) */
    double *scale; /* p, column standard deviations (1 when constant) */
} mm_linear_t;

/** @brief Ridge: min sum (y - b0 - Zb)^2 + lambda |b|^2 on standardised Z. */
mm_err_t mm_ridge_fit_xy(const double *X, const double *y, size_t n, size_t p, double lambda,
                         mm_linear_t *out, char *errstr, size_t errstr_size);
/**
 * @brief Ridge as mm_ridge_fit_xy on the first rows[i] rows of X, for each
 * of @p k ascending prefixes, from one pass over the rows (the prefixes'
 * moments; one fit per prefix when a value is missing). @p out holds k
 * models; on failure none is left allocated.
 */
mm_err_t mm_ridge_fit_prefixes(const double *X, const double *y, size_t p, double lambda,
                               const size_t *rows, size_t k, mm_linear_t *out, char *errstr,
                               size_t errstr_size);
/** @brief L2 logistic: min sum w_i logloss_i + |b|^2 / (2C) on standardised Z (sklearn's
 * objective). */
mm_err_t mm_logistic_fit_xy(const double *X, const double *y, const double *w, size_t n, size_t p,
                            double c, mm_linear_t *out, char *errstr, size_t errstr_size);
double mm_linear_eval(const mm_linear_t *lin, const double *row);
void mm_linear_free(mm_linear_t *lin);

/* ------------------------------------------------------------ XGBoost (xgb.c) */

typedef struct mm_xgb mm_xgb_t;

/** @brief Fit boosted trees (squared error, or logistic when @p classify) on X (n x p). */
mm_err_t mm_xgb_fit(const mm_model_config_t *cfg, const double *X, const double *y, const double *w,
                    size_t n, size_t p, bool classify, double scale_pos_weight, mm_xgb_t **out,
                    char *errstr, size_t errstr_size);
/** @brief mm_xgb_fit of a regression (no weights) that keeps its booster for mm_xgb_continue. */
mm_err_t mm_xgb_fit_resumable(const mm_model_config_t *cfg, const double *X, const double *y,
                              size_t n, size_t p, mm_xgb_t **out, char *errstr, size_t errstr_size);
/**
 * @brief @p rounds more rounds of @p prev's booster (taken from @p prev, whose
 * trees stay usable) on new rows X (n x p): @p out has prev's trees and the
 * new ones, and keeps the booster. MM_ERR_INVALID_ARG when @p prev kept none.
 */
mm_err_t mm_xgb_continue(const mm_model_config_t *cfg, mm_xgb_t *prev, const double *X,
                         const double *y, size_t n, size_t p, int rounds, mm_xgb_t **out,
                         char *errstr, size_t errstr_size);
/** @brief Free the booster @p x kept (may be NULL); its trees stay. */
void mm_xgb_drop_booster(mm_xgb_t *x);
/** @returns the rounds a backtest window adds to the previous window's trees (regress.c). */
int mm_models__xgb_next_rounds(const mm_model_config_t *cfg);
/** @brief The trees of a model in XGBoost's binary form (UBJSON, what the fits read back), for
 * tests: anything malformed where it is read is refused with MM_ERR_NUMERIC. */
mm_err_t mm_models__xgb_from_ubj(const uint8_t *ubj, size_t len, size_t p, bool logistic,
                                 mm_xgb_t **out, char *errstr, size_t errstr_size);
/** @brief Rebuild the trees from the packed bytes mm_xgb_raw() gave (no XGBoost call). */
mm_err_t mm_xgb_load(const uint8_t *raw, size_t len, size_t p, mm_xgb_t **out, char *errstr,
                     size_t errstr_size);
/** @brief Predict n rows (values, or probabilities for a classifier). Read-only: safe across
 * threads. */
mm_err_t mm_xgb_predict(const mm_xgb_t *x, const double *X, size_t n, double *out, char *errstr,
                        size_t errstr_size);
/** @returns the packed trees (borrowed) and their length: what artifacts store. */
size_t mm_xgb_raw(const mm_xgb_t *x, const uint8_t **raw);
void mm_xgb_free(mm_xgb_t *x);

/* ------------------------------------------------------------ row learners (learner.c) */

/* A fitted row learner: a linear model or boosted trees, the one plumbing
 * regression (regress.c) and classification (classify.c) share. */
typedef struct mm_models__learner {
    mm_linear_t lin; /* the linear model; zero when trees */
    mm_xgb_t *xgb;   /* boosted trees; NULL for a linear model */
} mm_models__learner_t;

void mm_models__learner_free(mm_models__learner_t *l);
/** @returns heap bytes the learner holds. */
size_t mm_models__learner_memsize(const mm_models__learner_t *l);
/** @brief Store as named parameters ("intercept", "coef", ... or "xgboost_trees"). */
mm_err_t mm_models__learner_save(const mm_models__learner_t *l, mm_models__params_t *ps);
/** @brief Rebuild a learner of @p p features from what mm_models__learner_save stored. */
mm_err_t mm_models__learner_load(mm_models__learner_t *l, bool trees, const mm_models__params_t *ps,
                                 size_t p, char *errstr, size_t errstr_size);
/** @brief Rebuild a linear model of @p p features from named parameters. */
mm_err_t mm_models__linear_load(const mm_models__params_t *ps, size_t p, mm_linear_t *lin,
                                char *errstr, size_t errstr_size);
/** @brief Raw predictions for n rows of X (n x p): the linear value, or the trees' output
 * (values, or probabilities for a classifier). */
mm_err_t mm_models__learner_predict(const mm_models__learner_t *l, const double *X, size_t n,
                                    size_t p, double *out, char *errstr, size_t errstr_size);

/* ------------------------------------------------------------ classifiers (classify.c) */

/** @brief Per-row weights for labels @p y: balanced (n / (2 n_class)) unless the config says
 * none or one class is absent, then 1. */
void mm_models__class_weights(const mm_model_config_t *cfg, const double *y, size_t n, double *w);
/** @brief A logistic state that predicts @p rate for every row of @p p features. */
mm_err_t mm_models__constant_classifier(size_t p, double rate, void **state, char *errstr,
                                        size_t errstr_size);

/* ------------------------------------------------------------ horizon (horizon.c) */

typedef struct mm_models__exog_buf {
    double *mem;
    double *col[MM_MODEL_MAX_EXOG];
} mm_models__exog_buf_t;

/** @brief out[j][k] for k < h: given[j][given_off + k], or (NULL/NaN) the value before it
 * carried forward, starting from @p last_known[j] (may be NULL: NaN). */
void mm_models__resolve_exog(size_t n_exog, const double *const *given, size_t given_off,
                             const double *last_known, size_t h, double **out);
/** @brief The last non-NaN value of each column before index @p upto (NaN if none). */
void mm_models__last_known_exog(size_t n_exog, const double *const *exog, size_t upto, double *out);
/** @brief Room for n_exog columns of h values (col[j]). @returns false when out of memory. */
bool mm_models__exog_buf_init(mm_models__exog_buf_t *eb, size_t n_exog, size_t h);
void mm_models__exog_buf_free(mm_models__exog_buf_t *eb);
/** @brief The exogenous values of a forecast: for each column, @p given
 * (NULL: none) for a known-in-advance column, nothing for the others, then
 * resolved as mm_models__resolve_exog does. */
void mm_models__resolve_known_exog(size_t n_exog, uint32_t known, const double *const *given,
                                   size_t given_off, const double *last_known, size_t h,
                                   double **out);
/** @brief Clip @p mean at zero when @p nonneg. */
void mm_models__clip_nonneg(bool nonneg, double *mean, size_t h);

/* ------------------------------------------------------------ backtest (backtest.c) */

typedef struct mm_models__backtest {
    mm_metrics_t metrics; /* mean over windows */
    double *err;          /* K x H forecast errors (actual - forecast), NaN where unknown */
    double *fc;           /* K x H forecasts (clipped as mm_model_forecast clips) */
    bool ok;
    /* ETS (a capped candidate without fit_next): the last window's fit, kept
     * so the final model need not be fitted again (mm_models__backtest_take) */
    void *last_state;
    bool last_final; /* last_state is the fit on all data (ops->fit_prefixes), not moved */
    const mm_models__ops_t *ops;
} mm_models__backtest_t;

void mm_models__backtest_free(mm_models__backtest_t *bt);
/** @brief Append a note to the text in @p buf ("; " between notes;
 * truncated at @p size, advisory text). */
void mm_models__vnote(char *buf, size_t size, const char *fmt, va_list ap);

/** @brief Append a note to out->adjustments (mm_models__vnote). */
void mm_models__note_adjustment(mm_train_result_t *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** @brief Fewer backtest windows for a history of @p n points that holds
 * fewer than cfg->backtest_windows windows of cfg->holdout besides the
 * @p min_train points the first window trains on: as many as fit in half
 * the history, one at least (backtest_fits kept when it still fits, else
 * every window fitted), said in out->adjustments.
 * @returns false when it holds not even one window (cfg unchanged). */
bool mm_models__fit_windows_to_history(mm_model_config_t *cfg, size_t n, size_t min_train,
                                       mm_train_result_t *out);

/** @brief Backtest one forecaster on cfg->backtest_windows windows of cfg->holdout points.
 * bt->ok is false when a window cannot be fitted or forecast (@p errstr says why).
 * @returns MM_ERR_NOMEM only. */
mm_err_t mm_models__backtest_run(const mm_model_config_t *cfg, const mm_series_t *s,
                                 const mm_models__ops_t *ops, bool nonneg,
                                 mm_models__backtest_t *bt, char *errstr, size_t errstr_size);
/**
 * @brief The final model of a costly candidate without another fit: its last
 * backtest window's fit (on the points before the last holdout), moved over
 * that holdout with ops->advance when new observations move its state (the
 * lag models read them from the history anyway). @p *state is NULL when
 * there is none to take (fit on all data then). Taken once.
 */
void mm_models__backtest_take(mm_models__backtest_t *bt, const mm_model_config_t *cfg,
                              const mm_series_t *s, void **state);
/** @brief Per-step residual sd (H values) from K windows of errors: sd_k = c k^b. */
void mm_models__residual_spread(const double *err, size_t K, size_t H, double *sd_out);
/** @brief The eligible, backtested candidates with a value of @p id, best first (ties:
 * lower id first). @returns how many. */
size_t mm_models__rank_candidates(mm_metric_id_t id, const mm_models__backtest_t *bts,
                                  uint32_t eligible, mm_algo_t *rank);
/** @brief Weights of a combination of @p k members: proportional to 1 / metric. */
void mm_models__combination_weights(mm_metric_id_t id, const mm_models__backtest_t *bts,
                                    const mm_algo_t *members, size_t k, double *w);
/** @brief Score a combination on the backtest windows from its members' window forecasts. */
mm_err_t mm_models__combine_backtest(const mm_model_config_t *cfg, const mm_series_t *s,
                                     const mm_models__backtest_t *bts, const mm_algo_t *members,
                                     const double *weights, size_t k, mm_models__backtest_t *out,
                                     char *errstr, size_t errstr_size);

/* ------------------------------------------------------------ model objects */

struct mm_model {
    mm_model_config_t cfg;
    mm_algo_t algo;
    int64_t data_end_ms;
    uint64_t n_obs;
    bool nonneg;  /* the training target never went below zero */
    double *tail; /* last n_tail targets (lags, seasonal naive) */
    size_t n_tail;
    double *exog_last; /* last known value of each exogenous column */
    size_t n_exog;
    double *interval_sd; /* backtest-residual sd per step (when not analytic) */
    size_t n_interval_sd;
    /* classification: the last rows of raw telemetry (the longest rolling
     * window), column-major: telemetry[j * n_telemetry + i]; NULL in
     * artifacts written before it was stored */
    double *telemetry;
    size_t n_telemetry;
    /* > 1: fitted on the rows of this many entities (mm_model_train_pooled):
     * no tail of its own; a forecast from scoring data takes every target
     * from the entity's rows (score_from.c) */
    uint32_t n_entities;
    mm_metrics_t metrics;
    mm_metrics_t baseline;
    const mm_models__ops_t *ops;
    void *state;
    size_t state_bytes;
};

/** @returns a zeroed model with @p cfg (may be NULL) and NaN metrics; NULL when out of
 * memory (object.c). */
mm_model_t *mm_models__model_new(const mm_model_config_t *cfg);

/** @brief Fill @p out's times, means (clipped) and intervals for steps
 * @p skip + 1 .. @p skip + out->h of a forecast from @p end_ms: @p mean and
 * @p sd hold skip + h steps, sd analytic or NaN (score.c). */
void mm_models__forecast_finish(const mm_model_t *model, int64_t end_ms, const double *mean,
                                const double *sd, size_t skip, mm_forecast_t *out);
/** @brief Allocate @p out for @p h steps. @returns false when out of memory (score.c). */
bool mm_models__forecast_alloc(mm_forecast_t *out, size_t h, double level);

/** @brief Forecast training (train_forecast.c), called by mm_model_train with a resolved,
 * validated config and a checked series. */
mm_err_t mm_models__train_forecast(const mm_model_config_t *cfg, const mm_series_t *s,
                                   mm_train_result_t *out, char *errstr, size_t errstr_size);
/** @brief The checks mm_model_train makes of a series against a config (model.c). */
mm_err_t mm_models__check_series(const mm_model_config_t *cfg_in, const mm_series_t *series,
                                 char *errstr, size_t errstr_size);
/** @brief Classification training (train_classify.c), called by mm_model_train. */
mm_err_t mm_models__train_classify(const mm_model_config_t *cfg, const mm_series_t *s,
                                   mm_train_result_t *out, char *errstr, size_t errstr_size);
/**
 * @brief One classifier candidate backtested over the config's K windows
 * into @p wm[K], and the prior-rate baseline into @p wb[K] when @p wb is not
 * NULL. @returns false (and why) when a window cannot be trained or predicted.
 */
typedef bool(mm_models__classify_backtest_fn)(void *ctx, const mm_models__ops_t *ops,
                                              mm_metrics_t *wm, mm_metrics_t *wb, char *why,
                                              size_t why_size);
/**
 * @brief Backtest every classifier candidate of model->cfg with @p bt, keep
 * the baseline and each candidate's mean metrics (out->per_algo), and choose
 * the best by the selection metric (model->algo, ops, metrics); model->ops
 * stays NULL and out->fallback_reason says why when none could be backtested
 * (train_classify.c; the pooled training uses it too).
 */
mm_err_t mm_models__select_classifier(mm_model_t *model, mm_models__classify_backtest_fn *bt,
                                      void *ctx, mm_train_result_t *out, char *errstr,
                                      size_t errstr_size);
/**
 * @brief The final classifier on @p ntr gathered rows (@p n_pos positive, @p p
 * features): the declared fallback when nothing was selected, the smoothed
 * base rate when the labels hold one class (said in out->fallback_reason).
 * @returns MM_ERR_INSUFFICIENT_DATA naming @p rows_desc when @p ntr is 0.
 */
mm_err_t mm_models__fit_classifier(mm_model_t *model, const double *X, const double *y,
                                   const double *w, size_t ntr, size_t n_pos, size_t p,
                                   const char *rows_desc, mm_train_result_t *out, char *errstr,
                                   size_t errstr_size);
/** @brief The result of training a finished model: summary fields and the artifact
 * (artifact.c). */
mm_err_t mm_models__train_result_fill(const mm_model_t *model, mm_train_result_t *out, char *errstr,
                                      size_t errstr_size);

/** @brief Serialise @p model into a malloc'd artifact (artifact.c). */
mm_err_t mm_models__serialize(const mm_model_t *model, uint8_t **out, size_t *out_len, char *errstr,
                              size_t errstr_size);

/** @returns CRC-32 (IEEE) of @p len bytes. */
uint32_t mm_models__crc32(const void *data, size_t len);

#endif
