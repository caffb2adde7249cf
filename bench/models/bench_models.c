/*
 * bench_models.c - accuracy and speed of the model library on sales data,
 * per algorithm and for auto selection, on a holdout at the end of every
 * series. The same CSV feeds bench/models/reference.py (statsmodels and
 * per-series XGBoost), so the numbers compare side by side.
 *
 *   bench_models --csv sales.csv [--holdout 28] [--algos a,b,...] [--limit N]
 *                [--windows K] [--train-window N] [--xgb-rounds R] [--xgb-eta E]
 *                [--xgb-depth D] [--xgb-max-bin B] [--xgb-colsample S]
 *                [--out per_series.csv]
 *
 * Input: mm-datagen's sales layout, store,item,date,sales,price,promo, rows
 * series-major and daily. price and promo are exogenous columns whose future
 * values are known (planned), as the trainer/scorer would pass them.
 *
 * Algorithms: every single algorithm is one fit on the training part and one
 * forecast (the cost a per-key refit pays); "ets_aada" is exponential
 * smoothing fixed to damped additive trend + additive season, the
 * statsmodels configuration; "ets" chooses its form by AICc; "auto" is the
 * whole mm_model_train path (backtest of the default candidates, selection
 * with combination, refit, artifact) plus load and forecast, the cost the
 * trainer pays per key; "auto_xgb" adds XGBoost to the candidates of every
 * key; "auto_single" is selection as it was before combination and
 * history-based XGBoost (ensemble_max 1, xgb_min_history -1); "auto_max3"
 * may combine up to three candidates.
 *
 * Metrics per series on the holdout: RMSE, sMAPE, MASE (scaled by the
 * in-sample seasonal-naive MAE of the training part, m = 7), then averaged
 * over series. Time: wall-clock per model, single thread.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm/clock.h"
#include "models_int.h"

#define MAX_SERIES 100000
#define MAX_ALGOS  16

static int backtest_windows = 3; /* --windows: rolling origins for the auto rows */
static int train_window = 0;     /* --train-window: 0 = the library default, -1 = no cap */
static int xgb_rounds = 0;       /* --xgb-rounds: 0 = the library default */
static double xgb_eta = 0;       /* --xgb-eta: 0 = the library default */
static int xgb_depth = 0;        /* --xgb-depth: 0 = the library default */
static int xgb_max_bin = 0;      /* --xgb-max-bin: 0 = the library default */
static double xgb_colsample = 0; /* --xgb-colsample: 0 = the library default */
static int backtest_fits = 0;    /* --fits: windows fitted (0 = every window) */
static uint32_t candidates = 0;  /* --candidates: 0 = the library default */

typedef struct series {
    char key[64];
    size_t n, cap;
    int64_t *t;
    double *y, *price, *promo;
} series_t;

typedef struct algo_run {
    char name[32];
    double sum_rmse, sum_smape, sum_mase, sum_ms;
    size_t n_ok, n_mase, n_fail;
    size_t chosen[MM_ALGO__COUNT];      /* auto: which algorithm won */
    size_t in_ensemble[MM_ALGO__COUNT]; /* auto: how often each was an ensemble member */
    double sum_load_us, sum_bytes;      /* auto: artifact load time and size */
    size_t n_load;
} algo_run_t;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void push(series_t *s, int64_t t, double y, double price, double promo) {
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 1024;
        s->t = realloc(s->t, s->cap * sizeof *s->t);
        s->y = realloc(s->y, s->cap * sizeof *s->y);
        s->price = realloc(s->price, s->cap * sizeof *s->price);
        s->promo = realloc(s->promo, s->cap * sizeof *s->promo);
        if (!s->t || !s->y || !s->price || !s->promo) {
            fprintf(stderr, "bench_models: out of memory\n");
            exit(1);
        }
    }
    s->t[s->n] = t;
    s->y[s->n] = y;
    s->price[s->n] = price;
    s->promo[s->n] = promo;
    s->n++;
}

static size_t read_csv(const char *path, series_t *all, size_t limit) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "bench_models: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    char line[512];
    size_t n = 0, lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (lineno == 1) continue; /* header */
        char *field[6];
        char *p = line;
        int k = 0;
        for (; k < 6; k++) {
            field[k] = p;
            char *c = strpbrk(p, ",\n");
            if (!c) break;
            *c = '\0';
            p = c + 1;
        }
        if (k < 5) {
            fprintf(stderr, "bench_models: %s:%zu: expected 6 fields\n", path, lineno);
            exit(1);
        }
        char key[64];
        snprintf(key, sizeof key, "store=%.24s/item=%.24s", field[0], field[1]);
        if (n == 0 || strcmp(all[n - 1].key, key) != 0) {
            if (n == limit || n == MAX_SERIES) break;
            memset(&all[n], 0, sizeof all[n]);
            snprintf(all[n].key, sizeof all[n].key, "%.63s", key);
            n++;
        }
        int y, m, d;
        if (sscanf(field[2], "%d-%d-%d", &y, &m, &d) != 3) {
            fprintf(stderr, "bench_models: %s:%zu: bad date\n", path, lineno);
            exit(1);
        }
        char *end;
        double sales = field[3][0] ? strtod(field[3], &end) : NAN;
        push(&all[n - 1], mm_days_from_civil(y, m, d) * MM_MODELS__MS_PER_DAY, sales,
             strtod(field[4], &end), strtod(field[5], &end));
    }
    fclose(f);
    return n;
}

static void account(algo_run_t *run, const series_t *s, size_t n_train, const double *pred,
                    double ms) {
    mm_metrics_t m;
    size_t H = s->n - n_train;
    mm_metrics_forecast(s->y + n_train, pred, H, s->y, n_train, 7, &m);
    if (!isfinite(m.v[MM_METRIC_RMSE])) {
        run->n_fail++;
        return;
    }
    run->sum_rmse += m.v[MM_METRIC_RMSE];
    run->sum_smape += m.v[MM_METRIC_SMAPE];
    run->sum_ms += ms;
    run->n_ok++;
    if (isfinite(m.v[MM_METRIC_MASE])) {
        run->sum_mase += m.v[MM_METRIC_MASE];
        run->n_mase++;
    }
}

static void base_config(mm_model_config_t *cfg, size_t H) {
    mm_model_config_defaults(cfg, MM_TASK_FORECAST);
    cfg->holdout = (int)H;
    cfg->horizon = (int)H;
    cfg->features.n_exog = 2;
    cfg->features.known_in_advance = 3u; /* price and promotion are planned */
}

/* One fit + one forecast of a single algorithm, through the library's
 * internal operations (what a refit costs, without the backtest). */
static bool single(const char *name, const series_t *s, size_t H, double *pred, FILE *out) {
    mm_model_config_t cfg;
    base_config(&cfg, H);
    mm_algo_t algo;
    if (strcmp(name, "ets_aada") == 0) {
        algo = MM_ALGO_ETS;
        cfg.ets_trend = MM_ETS_TREND_DAMPED;
        cfg.ets_season = MM_ETS_SEASON_ADD;
    } else if (!mm_algo_parse(name, &algo) || algo == MM_ALGO_AUTO) {
        fprintf(stderr, "bench_models: unknown algorithm %s\n", name);
        exit(2);
    }
    if (algo == MM_ALGO_XGBOOST) {
        /* reference.py's parameters, so the row reproduces py_xgb */
        cfg.xgb_rounds = 100;
        cfg.xgb_eta = 0.1;
        cfg.xgb_max_bin = 256;
        cfg.xgb_colsample = 1;
    }
    (void)out;
    const mm_models__ops_t *ops = mm_models__ops(algo);
    size_t n_train = s->n - H;
    const double *exog[2] = {s->price, s->promo};
    mm_models__view_t v = {
        .cfg = &cfg, .n = n_train, .time_ms = s->t, .y = s->y, .n_exog = 2, .exog = exog};
    void *state = NULL;
    char errstr[256];
    if (ops->fit(&v, &state, errstr, sizeof errstr) != MM_OK) return false;
    const double *fexog[2] = {s->price + n_train, s->promo + n_train};
    mm_models__fcctx_t fc = {.cfg = &cfg,
                             .hist = s->y,
                             .n_hist = n_train,
                             .end_ms = s->t[n_train - 1],
                             .n_exog = 2,
                             .fexog = fexog};
    double *sd = malloc(H * sizeof(double));
    mm_err_t err = ops->forecast(state, &fc, H, pred, sd, errstr, sizeof errstr);
    free(sd);
    ops->destroy(state);
    bool nonneg = true;
    for (size_t i = 0; i < n_train; i++)
        if (s->y[i] < 0) nonneg = false;
    for (size_t k = 0; nonneg && k < H; k++)
        if (pred[k] < 0) pred[k] = 0; /* as mm_model_forecast does for non-negative series */
    return err == MM_OK;
}

/* auto's candidates from a list of algorithm names ("ridge,xgboost,sba") */
static uint32_t parse_candidates(const char *list) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    uint32_t mask = 1u << MM_ALGO_AUTO;
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        mm_algo_t algo;
        if (!mm_algo_parse(tok, &algo)) {
            fprintf(stderr, "bench_models: unknown algorithm %s in --candidates\n", tok);
            exit(2);
        }
        mask |= 1u << algo;
    }
    return mask;
}

static bool auto_path(const char *name, const series_t *s, size_t H, double *pred, mm_algo_t *won,
                      algo_run_t *run) {
    mm_model_config_t cfg;
    base_config(&cfg, H);
    if (strcmp(name, "auto_xgb") == 0) {
        cfg.candidates |= 1u << MM_ALGO_XGBOOST;
    } else if (strcmp(name, "auto_single") == 0) {
        cfg.ensemble_max = 1;
        cfg.xgb_min_history = -1;
    } else if (strcmp(name, "auto_max3") == 0) {
        cfg.ensemble_max = 3;
    } else if (strcmp(name, "auto") != 0) {
        fprintf(stderr, "bench_models: unknown algorithm %s\n", name);
        exit(2);
    }
    if (candidates) cfg.candidates = candidates;
    cfg.backtest_windows = backtest_windows;
    cfg.backtest_fits = backtest_fits;
    cfg.train_window = train_window;
    if (xgb_rounds > 0) cfg.xgb_rounds = xgb_rounds;
    if (xgb_eta > 0) cfg.xgb_eta = xgb_eta;
    if (xgb_depth > 0) cfg.xgb_max_depth = xgb_depth;
    if (xgb_max_bin > 0) cfg.xgb_max_bin = xgb_max_bin;
    if (xgb_colsample > 0) cfg.xgb_colsample = xgb_colsample;
    size_t n_train = s->n - H;
    const double *exog[2] = {s->price, s->promo};
    mm_series_t ser = {.n = n_train, .time_ms = s->t, .y = s->y, .n_exog = 2, .exog = exog};
    mm_train_result_t res;
    char errstr[256];
    if (mm_model_train(&cfg, &ser, &res, errstr, sizeof errstr) != MM_OK) {
        fprintf(stderr, "bench_models: %s: train: %s\n", s->key, errstr);
        return false;
    }
    *won = res.algorithm;
    if (res.algorithm == MM_ALGO_ENSEMBLE)
        for (size_t i = 0; i < res.n_members; i++) run->in_ensemble[res.members[i]]++;
    mm_model_t *model = NULL;
    double t0 = now_ms();
    mm_err_t err = mm_model_load(res.artifact, res.artifact_len, &model, errstr, sizeof errstr);
    run->sum_load_us += (now_ms() - t0) * 1e3;
    run->sum_bytes += (double)res.artifact_len;
    run->n_load++;
    mm_train_result_clear(&res);
    if (err != MM_OK) return false;
    const double *fexog[2] = {s->price + n_train, s->promo + n_train};
    mm_forecast_t fc;
    err = mm_model_forecast(model, H, fexog, &fc, errstr, sizeof errstr);
    mm_model_destroy(model);
    if (err != MM_OK) return false;
    memcpy(pred, fc.mean, H * sizeof(double));
    mm_forecast_clear(&fc);
    return true;
}

int main(int argc, char **argv) {
    const char *csv = NULL, *algos = "snaive,ets_aada,ets,croston,sba,tsb,ridge,xgboost,auto",
               *out_path = NULL, *fc_path = NULL;
    size_t H = 28, limit = MAX_SERIES;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--csv") == 0 && i + 1 < argc)
            csv = argv[++i];
        else if (strcmp(argv[i], "--holdout") == 0 && i + 1 < argc)
            H = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--algos") == 0 && i + 1 < argc)
            algos = argv[++i];
        else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc)
            limit = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--windows") == 0 && i + 1 < argc)
            backtest_windows = (int)strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--fits") == 0 && i + 1 < argc)
            backtest_fits = (int)strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--train-window") == 0 && i + 1 < argc)
            train_window = (int)strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--xgb-rounds") == 0 && i + 1 < argc)
            xgb_rounds = (int)strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--xgb-max-bin") == 0 && i + 1 < argc)
            xgb_max_bin = (int)strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--xgb-colsample") == 0 && i + 1 < argc)
            xgb_colsample = strtod(argv[++i], NULL);
        else if (strcmp(argv[i], "--xgb-depth") == 0 && i + 1 < argc)
            xgb_depth = (int)strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--xgb-eta") == 0 && i + 1 < argc)
            xgb_eta = strtod(argv[++i], NULL);
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            out_path = argv[++i];
        else if (strcmp(argv[i], "--forecasts") == 0 && i + 1 < argc)
            fc_path = argv[++i];
        else if (strcmp(argv[i], "--candidates") == 0 && i + 1 < argc)
            candidates = parse_candidates(argv[++i]);
        else {
            fprintf(stderr,
                    "usage: bench_models --csv FILE [--holdout 28] [--algos a,b] "
                    "[--limit N] [--windows K] [--fits F] [--train-window N] [--xgb-rounds R] "
                    "[--xgb-eta E] [--xgb-depth D] [--xgb-max-bin B] [--xgb-colsample S] "
                    "[--candidates a,b] [--out per_series.csv] [--forecasts per_step.csv]\n");
            return 2;
        }
    }
    if (!csv || H < 1) {
        fprintf(stderr, "bench_models: --csv is required\n");
        return 2;
    }
    series_t *all = calloc(MAX_SERIES, sizeof *all);
    size_t n_series = read_csv(csv, all, limit);
    FILE *out = out_path ? fopen(out_path, "w") : NULL;
    if (out) fprintf(out, "algo,key,rmse,smape,mase,ms,chosen\n");
    FILE *fcs = fc_path ? fopen(fc_path, "w") : NULL;
    if (fcs) fprintf(fcs, "algo,key,step,forecast,actual\n");

    algo_run_t runs[MAX_ALGOS];
    size_t n_runs = 0;
    char list[512];
    snprintf(list, sizeof list, "%s", algos);
    for (char *tok = list, *next; tok && *tok && n_runs < MAX_ALGOS; tok = next) {
        next = strchr(tok, ',');
        if (next) *next++ = '\0';
        algo_run_t *run = &runs[n_runs++];
        memset(run, 0, sizeof *run);
        snprintf(run->name, sizeof run->name, "%.31s", tok);
        bool is_auto = strncmp(tok, "auto", 4) == 0;
        for (size_t i = 0; i < n_series; i++) {
            const series_t *s = &all[i];
            if (s->n <= H + 14) {
                run->n_fail++;
                continue;
            }
            double *pred = malloc(H * sizeof(double));
            mm_algo_t won = MM_ALGO_AUTO;
            double t0 = now_ms();
            bool ok =
                is_auto ? auto_path(tok, s, H, pred, &won, run) : single(tok, s, H, pred, out);
            double ms = now_ms() - t0;
            if (ok) {
                account(run, s, s->n - H, pred, ms);
                if (is_auto) run->chosen[won]++;
                if (out) {
                    mm_metrics_t m;
                    mm_metrics_forecast(s->y + s->n - H, pred, H, s->y, s->n - H, 7, &m);
                    fprintf(out, "%s,%s,%.6g,%.6g,%.6g,%.4f,%s\n", tok, s->key, m.v[MM_METRIC_RMSE],
                            m.v[MM_METRIC_SMAPE], m.v[MM_METRIC_MASE], ms,
                            is_auto ? mm_algo_name(won) : tok);
                }
                for (size_t k = 0; fcs && k < H; k++)
                    fprintf(fcs, "%s,%s,%zu,%.6g,%.6g\n", tok, s->key, k + 1, pred[k],
                            s->y[s->n - H + k]);
            } else {
                run->n_fail++;
            }
            free(pred);
        }
        fprintf(stderr, "bench_models: %s done (%zu series)\n", tok, n_series);
    }

    printf("%-10s %8s %10s %10s %10s %10s\n", "algo", "series", "RMSE", "sMAPE", "MASE",
           "ms/model");
    for (size_t r = 0; r < n_runs; r++) {
        const algo_run_t *run = &runs[r];
        double n = run->n_ok ? (double)run->n_ok : NAN;
        printf("%-10s %8zu %10.4f %10.4f %10.4f %10.3f", run->name, run->n_ok, run->sum_rmse / n,
               run->sum_smape / n, run->n_mase ? run->sum_mase / (double)run->n_mase : NAN,
               run->sum_ms / n);
        if (run->n_fail) printf("  (%zu failed)", run->n_fail);
        if (strncmp(run->name, "auto", 4) == 0) {
            printf("  load %.1f us, %.0f bytes; chosen:", run->sum_load_us / (double)run->n_load,
                   run->sum_bytes / (double)run->n_load);
            for (int a = 0; a < MM_ALGO__COUNT; a++)
                if (run->chosen[a]) printf(" %s=%zu", mm_algo_name((mm_algo_t)a), run->chosen[a]);
            if (run->chosen[MM_ALGO_ENSEMBLE]) {
                printf("; ensemble members:");
                for (int a = 0; a < MM_ALGO__COUNT; a++)
                    if (run->in_ensemble[a])
                        printf(" %s=%zu", mm_algo_name((mm_algo_t)a), run->in_ensemble[a]);
            }
        }
        printf("\n");
    }
    if (out) fclose(out);
    if (fcs) fclose(fcs);
    for (size_t i = 0; i < n_series; i++) {
        free(all[i].t);
        free(all[i].y);
        free(all[i].price);
        free(all[i].promo);
    }
    free(all);
    return 0;
}
