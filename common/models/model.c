/*
 * model.c - the public face of the model library: configuration, names,
 * training with rolling-origin backtest and selection, and scoring
 * (forecast with prediction intervals, classification probabilities).
 *
 * Training a forecasting key: for each candidate algorithm, fit on the data
 * before each of k backtest origins and forecast `holdout` points; average
 * the window metrics; rank the candidates by the selection metric (ties go
 * to the lower algorithm id, the simpler model); try the best two (up to
 * ensemble_max) as a combination, scored on the same windows from their
 * window forecasts, and keep it if it backtests strictly better than the
 * best one alone; refit the winner (or every member) on all data; store the
 * backtest residual spread for intervals where the model has no analytic
 * ones. Seasonal naive is always backtested: it is the baseline. XGBoost
 * joins the automatic candidates on long histories (xgb_min_history), where
 * its trees have the rows to beat the linear model.
 *
 * Workload: one call per key on a trainer worker thread; everything is
 * re-entrant (no globals besides constant tables) and deterministic.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models_int.h"

#define MAX_FORECAST_STEPS 100000

/* ------------------------------------------------------------ names */

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

static bool metric_for_task(mm_metric_id_t id, mm_task_t task) {
    return task == MM_TASK_FORECAST ? id <= MM_METRIC_BIAS : id >= MM_METRIC_ACCURACY;
}

/* ------------------------------------------------------------ algorithms */

const mm_models__ops_t *mm_models__ops(mm_algo_t algo) {
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
    case MM_ALGO_LOGISTIC:
        return &mm_logistic_ops;
    case MM_ALGO_XGB_CLASSIFIER:
        return &mm_xgbc_ops;
    case MM_ALGO_ENSEMBLE:
        return &mm_ensemble_ops;
    default:
        return NULL;
    }
}

#define BIT(a) (1u << (a))

/* XGBoost is not a default candidate: it costs two orders of magnitude more
 * per key than the rest; add it in the spec where it pays. */
#define DEFAULT_FORECAST_CANDIDATES                                                                \
    (BIT(MM_ALGO_AUTO) | BIT(MM_ALGO_SNAIVE) | BIT(MM_ALGO_ETS) | BIT(MM_ALGO_CROSTON) |           \
     BIT(MM_ALGO_SBA) | BIT(MM_ALGO_TSB) | BIT(MM_ALGO_RIDGE))
#define DEFAULT_CLASSIFY_CANDIDATES                                                                \
    (BIT(MM_ALGO_AUTO) | BIT(MM_ALGO_LOGISTIC) | BIT(MM_ALGO_XGB_CLASSIFIER))
#define FORECAST_ALGOS                                                                             \
    (BIT(MM_ALGO_SNAIVE) | BIT(MM_ALGO_ETS) | BIT(MM_ALGO_CROSTON) | BIT(MM_ALGO_SBA) |            \
     BIT(MM_ALGO_TSB) | BIT(MM_ALGO_RIDGE) | BIT(MM_ALGO_XGBOOST))
#define CLASSIFY_ALGOS (BIT(MM_ALGO_LOGISTIC) | BIT(MM_ALGO_XGB_CLASSIFIER))

/* The best two capture what combination gains; every further option is
 * one more chance for three backtest windows to select noise (pairs beat
 * up-to-three on both benchmark datasets, bench/models/RESULTS.md). */
#define DEFAULT_ENSEMBLE_MAX 2
/* XGBoost's trees beat ridge on the same features only with enough rows:
 * on 702 daily points it loses to ridge, and as a candidate costs 4x the
 * time per key for no gain; on 3,972 it wins, and auto with it gains 5% in
 * MASE for 2.2x the time (bench/models/RESULTS.md). */
#define DEFAULT_XGB_MIN_HISTORY 1000

/* ------------------------------------------------------------ configuration */

void mm_model_config_defaults(mm_model_config_t *cfg, mm_task_t task) {
    memset(cfg, 0, sizeof *cfg);
    cfg->task = task;
    cfg->interval_level = 0.95;
    cfg->ridge_lambda = 1.0;
    cfg->logistic_c = 1.0;
    cfg->xgb_rounds = 100;
    cfg->xgb_max_depth = 4;
    cfg->xgb_eta = 0.1;
    cfg->class_weight = MM_CLASS_WEIGHT_BALANCED;
    cfg->ets_trend = MM_ETS_TREND_AUTO;
    cfg->ets_season = MM_ETS_SEASON_AUTO;
    cfg->ensemble_max = DEFAULT_ENSEMBLE_MAX;
    cfg->xgb_min_history = DEFAULT_XGB_MIN_HISTORY;
    mm_feature_config_t *f = &cfg->features;
    if (task == MM_TASK_FORECAST) {
        static const int lags[] = {1, 2, 3, 7, 14, 21, 28};
        cfg->period_ms = MM_MODELS__MS_PER_DAY;
        cfg->horizon = 28;
        cfg->holdout = 28;
        cfg->backtest_windows = 3;
        cfg->season_length = 7;
        cfg->min_history = 2 * 7 + 3 * 28;
        cfg->fallback = MM_ALGO_SNAIVE;
        cfg->candidates = DEFAULT_FORECAST_CANDIDATES;
        cfg->selection_metric = MM_METRIC_MASE;
        for (size_t i = 0; i < sizeof lags / sizeof lags[0]; i++) f->lags[f->n_lags++] = lags[i];
        f->calendar = true;
        f->windows[f->n_windows++] = 7;
        f->windows[f->n_windows++] = 28;
    } else {
        /* hourly telemetry, "fails within the next 24 hours" */
        cfg->period_ms = 3600000;
        cfg->horizon = 1;
        cfg->holdout = 24 * 14;
        cfg->backtest_windows = 2;
        cfg->season_length = 24;
        cfg->min_history = 24 * 7 + 2 * 24 * 14;
        cfg->fallback = MM_ALGO_LOGISTIC;
        cfg->candidates = DEFAULT_CLASSIFY_CANDIDATES;
        cfg->selection_metric = MM_METRIC_AUC;
        cfg->lookahead = 24;
        f->windows[f->n_windows++] = 3;
        f->windows[f->n_windows++] = 24;
    }
}

/* Zero tuning fields mean "default": resolve them on a private copy. */
static void resolve_tuning(mm_model_config_t *cfg) {
    if (cfg->ridge_lambda == 0) cfg->ridge_lambda = 1.0;
    if (cfg->logistic_c == 0) cfg->logistic_c = 1.0;
    if (cfg->xgb_rounds == 0) cfg->xgb_rounds = 100;
    if (cfg->xgb_max_depth == 0) cfg->xgb_max_depth = 4;
    if (cfg->xgb_eta == 0) cfg->xgb_eta = 0.1;
    if (cfg->class_weight == MM_CLASS_WEIGHT_DEFAULT) cfg->class_weight = MM_CLASS_WEIGHT_BALANCED;
    if (cfg->ensemble_max == 0) cfg->ensemble_max = DEFAULT_ENSEMBLE_MAX;
    if (cfg->xgb_min_history == 0) cfg->xgb_min_history = DEFAULT_XGB_MIN_HISTORY;
}

#define CHECK(cond, field, ...)                                                                    \
    do {                                                                                           \
        if (!(cond)) return mm_errf(MM_ERR_CONFIG, errstr, errstr_size, field ": " __VA_ARGS__);   \
    } while (0)

mm_err_t mm_model_config_validate(const mm_model_config_t *cfg, char *errstr, size_t errstr_size) {
    CHECK(cfg != NULL, "model", "no config");
    CHECK(cfg->task == MM_TASK_FORECAST || cfg->task == MM_TASK_CLASSIFY, "task", "unknown task %d",
          (int)cfg->task);
    CHECK(cfg->period_ms > 0, "period_ms", "must be positive, got %lld", (long long)cfg->period_ms);
    CHECK(cfg->horizon >= 1 && cfg->horizon <= MAX_FORECAST_STEPS, "horizon",
          "must be in 1..%d, got %d", MAX_FORECAST_STEPS, cfg->horizon);
    CHECK(cfg->holdout >= 1 && cfg->holdout <= 1000000, "holdout", "must be in 1..1000000, got %d",
          cfg->holdout);
    CHECK(cfg->backtest_windows >= 1 && cfg->backtest_windows <= 100, "backtest_windows",
          "must be in 1..100, got %d", cfg->backtest_windows);
    CHECK(cfg->season_length >= 1 && cfg->season_length <= MM_ETS_MAX_SEASON, "season_length",
          "must be in 1..%d, got %d", MM_ETS_MAX_SEASON, cfg->season_length);
    CHECK(cfg->min_history >= 0, "min_history", "must not be negative, got %d", cfg->min_history);
    uint32_t allowed = cfg->task == MM_TASK_FORECAST ? FORECAST_ALGOS : CLASSIFY_ALGOS;
    CHECK((unsigned)cfg->fallback < MM_ALGO__COUNT && (BIT(cfg->fallback) & allowed), "fallback",
          "%s is not a %s algorithm", mm_algo_name(cfg->fallback),
          cfg->task == MM_TASK_FORECAST ? "forecasting" : "classification");
    CHECK((cfg->candidates & ~(allowed | BIT(MM_ALGO_AUTO))) == 0, "candidates",
          "contains an algorithm that does not fit the task (mask 0x%x)", cfg->candidates);
    CHECK(cfg->candidates != 0, "candidates", "empty");
    CHECK((unsigned)cfg->selection_metric < MM_METRIC__COUNT &&
              metric_for_task(cfg->selection_metric, cfg->task),
          "selection_metric", "%s does not apply to this task",
          mm_metric_name(cfg->selection_metric));
    CHECK(cfg->interval_level > 0 && cfg->interval_level < 1, "interval_level",
          "must be in (0,1), got %g", cfg->interval_level);
    const mm_feature_config_t *f = &cfg->features;
    CHECK(f->n_lags <= MM_MODEL_MAX_LAGS, "features.lags", "at most %d", MM_MODEL_MAX_LAGS);
    for (size_t i = 0; i < f->n_lags; i++)
        CHECK(f->lags[i] >= 1 && f->lags[i] <= 100000, "features.lags",
              "lag %d out of range 1..100000", f->lags[i]);
    CHECK(f->n_windows <= MM_MODEL_MAX_WINDOWS, "features.windows", "at most %d",
          MM_MODEL_MAX_WINDOWS);
    for (size_t i = 0; i < f->n_windows; i++)
        CHECK(f->windows[i] >= 1 && f->windows[i] <= 100000, "features.windows",
              "window %d out of range 1..100000", f->windows[i]);
    CHECK(f->n_exog <= MM_MODEL_MAX_EXOG, "features.exog", "at most %d columns", MM_MODEL_MAX_EXOG);
    CHECK(cfg->lookahead >= 0 && cfg->lookahead <= 100000, "lookahead",
          "must be in 0..100000, got %d", cfg->lookahead);
    CHECK(cfg->ets_trend >= MM_ETS_TREND_AUTO && cfg->ets_trend <= MM_ETS_TREND_DAMPED, "ets_trend",
          "unknown form %d", cfg->ets_trend);
    CHECK(cfg->ets_season >= MM_ETS_SEASON_AUTO && cfg->ets_season <= MM_ETS_SEASON_MUL,
          "ets_season", "unknown form %d", cfg->ets_season);
    CHECK(cfg->ridge_lambda >= 0 && isfinite(cfg->ridge_lambda), "ridge_lambda",
          "must be finite and >= 0");
    CHECK(cfg->logistic_c >= 0 && isfinite(cfg->logistic_c), "logistic_c",
          "must be finite and >= 0");
    CHECK(cfg->xgb_rounds >= 0 && cfg->xgb_rounds <= 10000, "xgb_rounds", "must be in 0..10000");
    CHECK(cfg->xgb_max_depth >= 0 && cfg->xgb_max_depth <= 16, "xgb_max_depth", "must be in 0..16");
    CHECK(cfg->xgb_eta >= 0 && cfg->xgb_eta <= 1, "xgb_eta", "must be in [0,1]");
    CHECK(cfg->class_weight >= MM_CLASS_WEIGHT_DEFAULT && cfg->class_weight <= MM_CLASS_WEIGHT_NONE,
          "class_weight", "unknown value %d", cfg->class_weight);
    CHECK(cfg->ensemble_max >= 0 && cfg->ensemble_max <= MM_MODEL_MAX_ENSEMBLE, "ensemble_max",
          "must be in 0..%d, got %d", MM_MODEL_MAX_ENSEMBLE, cfg->ensemble_max);
    CHECK(cfg->xgb_min_history >= -1, "xgb_min_history", "must be -1 (never) or >= 0, got %d",
          cfg->xgb_min_history);
    if (cfg->task == MM_TASK_CLASSIFY)
        CHECK(f->n_exog >= 1, "features.exog", "classification needs at least one column");
    return MM_OK;
}

/* ------------------------------------------------------------ shared helpers */

static void resolve_exog(size_t n_exog, const double *const *given, size_t given_off,
                         const double *last_known, size_t h, double **out) {
    for (size_t j = 0; j < n_exog; j++) {
        double carry = last_known ? last_known[j] : NAN;
        for (size_t k = 0; k < h; k++) {
            double v = given && given[j] ? given[j][given_off + k] : NAN;
            if (isnan(v)) v = carry;
            out[j][k] = v;
            carry = v;
        }
    }
}

/* Extend the residual sd beyond the steps the backtest saw with the growth
 * law of its own last step: sd_k = sd_H (k/H)^b, b from sd_1 and sd_H. */
static double residual_sd(const double *sd, size_t n, size_t k /* 1-based */) {
    if (n == 0) return NAN;
    if (k <= n) return sd[k - 1];
    double b = 0.5;
    if (n > 1 && sd[0] > 0 && sd[n - 1] > 0) {
        b = log(sd[n - 1] / sd[0]) / log((double)n);
        b = b < 0 ? 0 : b > 1 ? 1 : b;
    }
    return sd[n - 1] * pow((double)k / (double)n, b);
}

static void postprocess(bool nonneg, double *mean, size_t h) {
    /* A series that never went negative (sales) is not forecast below zero. */
    if (!nonneg) return;
    for (size_t k = 0; k < h; k++)
        if (mean[k] < 0) mean[k] = 0;
}

typedef struct exog_buf {
    double *mem;
    double *col[MM_MODEL_MAX_EXOG];
} exog_buf_t;

static bool exog_buf_init(exog_buf_t *eb, size_t n_exog, size_t h) {
    eb->mem = malloc((n_exog * h + 1) * sizeof(double));
    if (!eb->mem) return false;
    for (size_t j = 0; j < n_exog; j++) eb->col[j] = eb->mem + j * h;
    return true;
}

static void last_known_exog(const mm_series_t *s, size_t upto, double *out) {
    for (size_t j = 0; j < s->n_exog; j++) {
        out[j] = NAN;
        for (size_t i = upto; i-- > 0;)
            if (!isnan(s->exog[j][i])) {
                out[j] = s->exog[j][i];
                break;
            }
    }
}

/* ------------------------------------------------------------ forecasting: training */

typedef struct backtest {
    mm_metrics_t metrics; /* mean over windows */
    double *err;          /* K x H forecast errors (actual - forecast), NaN where unknown */
    double *fc;           /* K x H forecasts (clipped as mm_model_forecast clips) */
    bool ok;
} backtest_t;

static void backtest_free(backtest_t *bt) {
    free(bt->err);
    free(bt->fc);
    bt->err = bt->fc = NULL;
}

static mm_err_t run_backtest(const mm_model_config_t *cfg, const mm_series_t *s,
                             const mm_models__ops_t *ops, bool nonneg, backtest_t *bt, char *errstr,
                             size_t errstr_size) {
    size_t K = (size_t)cfg->backtest_windows, H = (size_t)cfg->holdout, n = s->n;
    bt->ok = false;
    mm_metrics_init(&bt->metrics);
    bt->err = malloc(K * H * sizeof(double));
    bt->fc = malloc(K * H * sizeof(double));
    double *sd = malloc(H * sizeof(double));
    mm_metrics_t *wm = malloc(K * sizeof *wm);
    exog_buf_t eb = {0};
    bool ok = bt->err && bt->fc && sd && wm && exog_buf_init(&eb, s->n_exog, H);
    mm_err_t err =
        ok ? MM_OK : mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "backtest: out of memory");
    for (size_t w = 0; ok && w < K; w++) {
        size_t cut = n - (K - w) * H;
        mm_models__view_t v = {.cfg = cfg,
                               .n = cut,
                               .time_ms = s->time_ms,
                               .y = s->y,
                               .n_exog = s->n_exog,
                               .exog = s->exog};
        void *state = NULL;
        if (ops->fit(&v, &state, errstr, errstr_size) != MM_OK) {
            ok = false;
            break;
        }
        double last[MM_MODEL_MAX_EXOG];
        last_known_exog(s, cut, last);
        resolve_exog(s->n_exog, s->exog, cut, last, H, eb.col);
        mm_models__fcctx_t fc = {.cfg = cfg,
                                 .hist = s->y,
                                 .n_hist = cut,
                                 .end_ms = s->time_ms[cut - 1],
                                 .n_exog = s->n_exog,
                                 .fexog = (const double *const *)eb.col,
                                 .nonneg = nonneg};
        double *mean = bt->fc + w * H;
        mm_err_t ferr = ops->forecast(state, &fc, H, mean, sd, errstr, errstr_size);
        ops->destroy(state);
        if (ferr != MM_OK) {
            ok = false;
            break;
        }
        postprocess(nonneg, mean, H);
        for (size_t k = 0; k < H; k++) bt->err[w * H + k] = s->y[cut + k] - mean[k];
        mm_metrics_forecast(s->y + cut, mean, H, s->y, cut, cfg->season_length, &wm[w]);
    }
    if (ok) {
        mm_models__metrics_mean(wm, K, &bt->metrics);
        bt->ok = true;
    }
    free(sd);
    free(wm);
    free(eb.mem);
    return err;
}

/* Per-step residual sd from K windows: sd_k = c k^b. Three windows per step
 * are too few to use raw, so the growth b comes from a log-log fit of the
 * per-step RMS errors, and the level c from matching the pooled squared
 * errors (a log-space fit alone sits low: the mean log of an RMS of few
 * values is biased down). */
static void residual_spread(const double *err, size_t K, size_t H, double *sd_out) {
    double sx = 0, sy = 0, sxx = 0, sxy = 0, cnt = 0, pooled = 0, pooled_n = 0;
    for (size_t k = 0; k < H; k++) {
        double ss = 0, c = 0;
        for (size_t w = 0; w < K; w++) {
            double e = err[w * H + k];
            if (!isnan(e)) {
                ss += e * e;
                c++;
            }
        }
        pooled += ss;
        pooled_n += c;
        if (c == 0 || ss <= 0) continue;
        double x = log((double)(k + 1)), yv = 0.5 * log(ss / c);
        sx += x, sy += yv, sxx += x * x, sxy += x * yv, cnt++;
    }
    double b = 0;
    if (cnt >= 2 && cnt * sxx - sx * sx > 0) {
        b = (cnt * sxy - sx * sy) / (cnt * sxx - sx * sx);
        b = b < 0 ? 0 : b > 1 ? 1 : b;
    }
    /* c^2 sum_k n_k k^2b = sum of squared errors */
    double den = 0;
    for (size_t k = 0; k < H; k++) {
        double c = 0;
        for (size_t w = 0; w < K; w++) c += !isnan(err[w * H + k]);
        den += c * pow((double)(k + 1), 2 * b);
    }
    double scale = den > 0 && pooled > 0 ? sqrt(pooled / den) : (pooled_n > 0 ? 0 : NAN);
    for (size_t k = 0; k < H; k++) sd_out[k] = scale * pow((double)(k + 1), b);
}

static bool better(mm_metric_id_t id, double a, double b) {
    if (isnan(a)) return false;
    if (isnan(b)) return true;
    return mm_metric_higher_is_better(id) ? a > b : a < b;
}

/* The eligible candidates with a value of @p id, best first (ties: lower id
 * first, the simpler model). @returns how many. */
static size_t rank_candidates(mm_metric_id_t id, const backtest_t *bts, uint32_t eligible,
                              mm_algo_t *rank) {
    size_t k = 0;
    for (int a = 0; a < MM_ALGO__COUNT; a++) {
        if (!(eligible & BIT(a)) || !bts[a].ok || isnan(bts[a].metrics.v[id])) continue;
        size_t at = k++;
        for (; at > 0 && better(id, bts[a].metrics.v[id], bts[rank[at - 1]].metrics.v[id]); at--)
            rank[at] = rank[at - 1];
        rank[at] = (mm_algo_t)a;
    }
    return k;
}

/* Weights of a combination: proportional to 1 / backtest metric (Bates and
 * Granger's inverse-error weighting, with the selection metric in place of
 * the error variance); equal when a member's metric is not positive (bias
 * can be negative, a perfect backtest is 0). Fixed here, stored with the
 * model. */
static void combination_weights(mm_metric_id_t id, const backtest_t *bts, const mm_algo_t *members,
                                size_t k, double *w) {
    bool inverse = id != MM_METRIC_BIAS;
    for (size_t i = 0; i < k; i++) {
        double v = bts[members[i]].metrics.v[id];
        if (!(v > 0) || !isfinite(v)) inverse = false;
    }
    double sum = 0;
    for (size_t i = 0; i < k; i++) {
        w[i] = inverse ? 1.0 / bts[members[i]].metrics.v[id] : 1.0;
        sum += w[i];
    }
    for (size_t i = 0; i < k; i++) w[i] /= sum;
}

/* Score a combination on the backtest windows from its members' window
 * forecasts: the same sums mm_model_forecast computes for an ensemble. */
static mm_err_t combine_backtest(const mm_model_config_t *cfg, const mm_series_t *s,
                                 const backtest_t *bts, const mm_algo_t *members,
                                 const double *weights, size_t k, backtest_t *out, char *errstr,
                                 size_t errstr_size) {
    size_t K = (size_t)cfg->backtest_windows, H = (size_t)cfg->holdout, n = s->n;
    memset(out, 0, sizeof *out);
    mm_metrics_init(&out->metrics);
    out->fc = malloc(K * H * sizeof(double));
    out->err = malloc(K * H * sizeof(double));
    mm_metrics_t *wm = malloc(K * sizeof *wm);
    if (!out->fc || !out->err || !wm) {
        free(wm);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "backtest: out of memory");
    }
    for (size_t w = 0; w < K; w++) {
        size_t cut = n - (K - w) * H;
        double *f = out->fc + w * H;
        for (size_t h = 0; h < H; h++) {
            double v = 0;
            for (size_t i = 0; i < k; i++) v += weights[i] * bts[members[i]].fc[w * H + h];
            f[h] = v;
            out->err[w * H + h] = s->y[cut + h] - v;
        }
        mm_metrics_forecast(s->y + cut, f, H, s->y, cut, cfg->season_length, &wm[w]);
    }
    mm_models__metrics_mean(wm, K, &out->metrics);
    out->ok = true;
    free(wm);
    return MM_OK;
}

static mm_models__view_t full_view(const mm_model_config_t *cfg, const mm_series_t *s) {
    mm_models__view_t v = {.cfg = cfg,
                           .n = s->n,
                           .time_ms = s->time_ms,
                           .y = s->y,
                           .n_exog = s->n_exog,
                           .exog = s->exog};
    return v;
}

static mm_err_t fit_final(mm_model_t *model, const mm_series_t *s, char *errstr,
                          size_t errstr_size) {
    mm_models__view_t v = full_view(&model->cfg, s);
    return model->ops->fit(&v, &model->state, errstr, errstr_size);
}

static mm_err_t finish_model(mm_model_t *model, const mm_series_t *s, mm_train_result_t *out,
                             char *errstr, size_t errstr_size) {
    /* what scoring needs from the end of the data */
    mm_models__layout_t lay;
    mm_models__layout_init(&model->cfg, s->n_exog, &lay);
    size_t tail = lay.max_lookback;
    if ((size_t)model->cfg.season_length > tail) tail = (size_t)model->cfg.season_length;
    if (tail < 1) tail = 1;
    if (tail > s->n) tail = s->n;
    model->n_tail = tail;
    model->tail = malloc(tail * sizeof(double));
    model->n_exog = s->n_exog;
    model->exog_last = malloc((s->n_exog + 1) * sizeof(double));
    if (!model->tail || !model->exog_last)
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "train: out of memory");
    memcpy(model->tail, s->y + s->n - tail, tail * sizeof(double));
    last_known_exog(s, s->n, model->exog_last);
    model->data_end_ms = s->time_ms[s->n - 1];
    model->n_obs = s->n;
    model->state_bytes = model->ops->memsize ? model->ops->memsize(model->state) : 0;
    out->algorithm = model->algo;
    out->metrics = model->metrics;
    out->baseline = model->baseline;
    out->n_members =
        mm_model_members(model, out->members, out->member_weights, MM_MODEL_MAX_ENSEMBLE);
    return mm_models__serialize(model, &out->artifact, &out->artifact_len, errstr, errstr_size);
}

/* The fallback reason is advisory text: truncation is acceptable. */
static void set_reason(mm_train_result_t *out, bool append, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_reason(mm_train_result_t *out, bool append, const char *fmt, ...) {
    size_t used = append ? strlen(out->fallback_reason) : 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->fallback_reason + used, sizeof out->fallback_reason - used, fmt, ap);
    va_end(ap);
}

static mm_err_t train_forecast(const mm_model_config_t *cfg, const mm_series_t *s,
                               mm_train_result_t *out, char *errstr, size_t errstr_size) {
    size_t n = s->n, nobs = 0;
    bool nonneg = true;
    for (size_t i = 0; i < n; i++) {
        if (isnan(s->y[i])) continue;
        nobs++;
        if (s->y[i] < 0) nonneg = false;
    }
    if (nobs < 1)
        return mm_errf(MM_ERR_INSUFFICIENT_DATA, errstr, errstr_size,
                       "train: no observed target value in %zu points", n);

    mm_model_t *model = calloc(1, sizeof *model);
    if (!model) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "train: out of memory");
    model->cfg = *cfg;
    model->cfg.features.n_exog = s->n_exog;
    model->nonneg = nonneg;
    mm_metrics_init(&model->metrics);
    mm_metrics_init(&model->baseline);

    size_t K = (size_t)cfg->backtest_windows, H = (size_t)cfg->holdout;
    size_t m = (size_t)cfg->season_length;
    size_t min_train = 2 * m > 8 ? 2 * m : 8;
    mm_err_t err = MM_OK;
    char why[256] = "";

    if (n < (size_t)cfg->min_history) {
        set_reason(out, false, "%zu points is below min_history %d", n, cfg->min_history);
    } else if (n < K * H + min_train) {
        set_reason(out, false,
                   "%zu points are too few for %zu backtest windows of %zu plus %zu to train", n, K,
                   H, min_train);
    } else {
        uint32_t listed = cfg->candidates & FORECAST_ALGOS;
        uint32_t defaults = DEFAULT_FORECAST_CANDIDATES & FORECAST_ALGOS;
        uint32_t eligible = listed ? listed : defaults;
        bool default_candidates =
            listed == 0 || (listed == defaults && (cfg->candidates & BIT(MM_ALGO_AUTO)));
        if (default_candidates && cfg->xgb_min_history >= 0 && n >= (size_t)cfg->xgb_min_history)
            eligible |= BIT(MM_ALGO_XGBOOST); /* a long history: the trees have the rows */
        uint32_t measured = eligible | BIT(MM_ALGO_SNAIVE); /* the baseline is always measured */
        backtest_t bts[MM_ALGO__COUNT], combo = {0};
        memset(bts, 0, sizeof bts);
        for (int a = 0; a < MM_ALGO__COUNT && err == MM_OK; a++) {
            if (!(measured & BIT(a))) continue;
            err = run_backtest(cfg, s, mm_models__ops((mm_algo_t)a), nonneg, &bts[a], why,
                               sizeof why);
            if (err == MM_OK && bts[a].ok) out->per_algo[a] = bts[a].metrics;
        }
        mm_metric_id_t id = cfg->selection_metric;
        mm_algo_t rank[MM_ALGO__COUNT];
        size_t n_rank = err == MM_OK ? rank_candidates(id, bts, eligible, rank) : 0;
        if (err == MM_OK && n_rank == 0) {
            /* No finite selection metric anywhere (a flat history makes MASE
             * undefined): the best by RMSE, alone. */
            n_rank = rank_candidates(MM_METRIC_RMSE, bts, eligible, rank) > 0 ? 1 : 0;
        }
        /* the best combination of the best k, k = 2..ensemble_max */
        size_t combo_k = 0;
        double combo_w[MM_MODEL_MAX_ENSEMBLE] = {0};
        size_t k_max = (size_t)cfg->ensemble_max < n_rank ? (size_t)cfg->ensemble_max : n_rank;
        for (size_t k = 2; err == MM_OK && k <= k_max; k++) {
            double w[MM_MODEL_MAX_ENSEMBLE];
            backtest_t cb;
            combination_weights(id, bts, rank, k, w);
            err = combine_backtest(cfg, s, bts, rank, w, k, &cb, why, sizeof why);
            if (err == MM_OK && cb.ok &&
                (!combo.ok || better(id, cb.metrics.v[id], combo.metrics.v[id]))) {
                backtest_free(&combo);
                combo = cb;
                combo_k = k;
                memcpy(combo_w, w, k * sizeof(double));
            } else {
                backtest_free(&cb);
            }
        }
        if (combo.ok) out->per_algo[MM_ALGO_ENSEMBLE] = combo.metrics;
        bool use_combo =
            err == MM_OK && combo.ok && better(id, combo.metrics.v[id], bts[rank[0]].metrics.v[id]);
        if (bts[MM_ALGO_SNAIVE].ok) model->baseline = bts[MM_ALGO_SNAIVE].metrics;
        if (err == MM_OK && n_rank > 0) {
            model->n_interval_sd = H;
            model->interval_sd = malloc(H * sizeof(double));
            if (!model->interval_sd) err = mm_errf(MM_ERR_NOMEM, why, sizeof why, "out of memory");
        }
        if (err == MM_OK && use_combo) {
            model->algo = MM_ALGO_ENSEMBLE;
            model->ops = &mm_ensemble_ops;
            model->metrics = combo.metrics;
            residual_spread(combo.err, K, H, model->interval_sd);
            mm_models__view_t v = full_view(&model->cfg, s);
            if (mm_models__ensemble_fit(&v, combo_k, rank, combo_w, &model->state, why,
                                        sizeof why) != MM_OK) {
                /* a member's refit on all data failed although its windows
                 * worked: the best candidate alone instead */
                model->state = NULL;
                use_combo = false;
            }
        }
        if (err == MM_OK && n_rank > 0 && !use_combo) {
            mm_algo_t best = rank[0];
            model->algo = best;
            model->ops = mm_models__ops(best);
            model->metrics = bts[best].metrics;
            residual_spread(bts[best].err, K, H, model->interval_sd);
            err = fit_final(model, s, why, sizeof why);
            if (err != MM_OK) {
                /* the refit on all data failed although windows worked: fall back */
                set_reason(out, false, "%s refit failed: %s", mm_algo_name(best), why);
                model->state = NULL;
                err = MM_OK;
            }
        } else if (err == MM_OK && n_rank == 0) {
            set_reason(out, false, "no candidate could be backtested (%s)", why);
        }
        for (int a = 0; a < MM_ALGO__COUNT; a++) backtest_free(&bts[a]);
        backtest_free(&combo);
        if (err != MM_OK) {
            mm_model_destroy(model);
            return mm_errf(err, errstr, errstr_size, "train: %s", why);
        }
    }

    if (!model->state) {
        /* declared fallback */
        out->fallback = true;
        model->algo = cfg->fallback;
        model->ops = mm_models__ops(cfg->fallback);
        mm_metrics_init(&model->metrics);
        free(model->interval_sd);
        model->interval_sd = NULL;
        model->n_interval_sd = 0;
        err = fit_final(model, s, why, sizeof why);
        if (err != MM_OK && cfg->fallback != MM_ALGO_SNAIVE) {
            /* the declared fallback itself needs more: seasonal naive needs one point */
            model->algo = MM_ALGO_SNAIVE;
            model->ops = &mm_snaive_ops;
            set_reason(out, true, "; %s impossible, snaive used", mm_algo_name(cfg->fallback));
            err = fit_final(model, s, why, sizeof why);
        }
        if (err != MM_OK) {
            mm_model_destroy(model);
            return mm_errf(MM_ERR_INSUFFICIENT_DATA, errstr, errstr_size,
                           "train: not even the fallback fits: %s", why);
        }
    }
    err = finish_model(model, s, out, errstr, errstr_size);
    mm_model_destroy(model);
    return err;
}

/* ------------------------------------------------------------ public entry points */

void mm_train_result_clear(mm_train_result_t *res) {
    if (!res) return;
    free(res->artifact);
    memset(res, 0, sizeof *res);
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
    resolve_tuning(&cfg);
    cfg.features.n_exog = series->n_exog;
    mm_err_t err = mm_model_config_validate(&cfg, errstr, errstr_size);
    if (err != MM_OK) return err;
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
    if (cfg.task == MM_TASK_CLASSIFY)
        return mm_models__train_classify(&cfg, series, out, errstr, errstr_size);
    return train_forecast(&cfg, series, out, errstr, errstr_size);
}

/* ------------------------------------------------------------ scoring */

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

size_t mm_model_members(const mm_model_t *model, mm_algo_t *algos, double *weights, size_t max) {
    if (model->algo == MM_ALGO_ENSEMBLE && model->state)
        return mm_models__ensemble_members(model->state, algos, weights, max);
    if (max > 0) {
        if (algos) algos[0] = model->algo;
        if (weights) weights[0] = 1.0;
    }
    return 1;
}

size_t mm_model_memory_size(const mm_model_t *model) {
    return sizeof *model +
           (model->n_tail + model->n_exog + model->n_interval_sd +
            model->n_telemetry * model->n_exog) *
               sizeof(double) +
           model->state_bytes;
}

void mm_forecast_clear(mm_forecast_t *fc) {
    if (!fc) return;
    free(fc->time_ms);
    free(fc->mean);
    free(fc->lower);
    free(fc->upper);
    memset(fc, 0, sizeof *fc);
}

mm_err_t mm_model_forecast(const mm_model_t *model, size_t h, const double *const *future_exog,
                           mm_forecast_t *out, char *errstr, size_t errstr_size) {
    memset(out, 0, sizeof *out);
    if (!model) return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "forecast: NULL model");
    if (model->cfg.task != MM_TASK_FORECAST)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "forecast: %s is a classification model (use mm_model_predict)",
                       mm_algo_name(model->algo));
    if (h < 1 || h > MAX_FORECAST_STEPS)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "forecast: horizon %zu out of range 1..%d", h, MAX_FORECAST_STEPS);
    out->h = h;
    out->level = model->cfg.interval_level;
    out->time_ms = malloc(h * sizeof(int64_t));
    out->mean = malloc(h * sizeof(double));
    out->lower = malloc(h * sizeof(double));
    out->upper = malloc(h * sizeof(double));
    exog_buf_t eb = {0};
    if (!out->time_ms || !out->mean || !out->lower || !out->upper ||
        !exog_buf_init(&eb, model->n_exog, h)) {
        mm_forecast_clear(out);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "forecast: out of memory");
    }
    resolve_exog(model->n_exog, future_exog, 0, model->exog_last, h, eb.col);
    mm_models__fcctx_t fc = {.cfg = &model->cfg,
                             .hist = model->tail,
                             .n_hist = model->n_tail,
                             .end_ms = model->data_end_ms,
                             .n_exog = model->n_exog,
                             .fexog = (const double *const *)eb.col,
                             .nonneg = model->nonneg};
    double *sd = out->lower; /* analytic sd lands here first */
    mm_err_t err = model->ops->forecast(model->state, &fc, h, out->mean, sd, errstr, errstr_size);
    free(eb.mem);
    if (err != MM_OK) {
        mm_forecast_clear(out);
        return err;
    }
    postprocess(model->nonneg, out->mean, h);
    double z = mm_models__interval_z(model->cfg.interval_level);
    for (size_t k = 0; k < h; k++) {
        out->time_ms[k] = model->data_end_ms + (int64_t)(k + 1) * model->cfg.period_ms;
        double s = sd[k];
        if (!isfinite(s)) s = residual_sd(model->interval_sd, model->n_interval_sd, k + 1);
        double lo = out->mean[k] - z * s, hi = out->mean[k] + z * s;
        if (model->nonneg && lo < 0) lo = 0;
        out->lower[k] = lo;
        out->upper[k] = hi;
    }
    return MM_OK;
}
