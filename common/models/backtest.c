/*
 * backtest.c - rolling-origin backtest of forecasters and what selection
 * does with it: K windows of `holdout` points at the end of the data, each
 * forecast from a fit on the data before it with what scoring will have
 * (the columns known in advance at their actual values, the others carried
 * forward from the origin; forecasts clipped as mm_model_forecast clips); window
 * metrics averaged; candidates ranked by the selection metric (ties to the
 * lower algorithm id, the simpler model); combinations weighted and scored
 * from their members' window forecasts; and the per-step residual spread
 * that becomes the prediction intervals of models without analytic ones.
 *
 * It is handed each candidate's operations by its caller and knows no
 * algorithm by name.
 *
 * A model whose fit is a sum over rows (ridge) fits the windows and the
 * final model in one pass over the history (ops->fit_prefixes); the final
 * fit is then taken over like the costly candidates' last window.
 *
 * XGBoost fits each window from the one before (ops->fit_next): a few more
 * boosting rounds on the window's rows instead of a new fit; its final model
 * is a fit on all data.
 *
 * A candidate that chooses among forms inside its fit (ETS by AICc) makes
 * that choice on the first window only (ops->settle); the later windows
 * refit the chosen form.
 *
 * With cfg->backtest_fits F below K, only the oldest window and the newest
 * F - 1 are fitted; each window between forecasts with the fit before it,
 * its state moved over the newer observations (ops->advance; a model whose
 * state they do not move forecasts from the longer history as it is). More
 * windows then judge the candidates for a forecast each, not a fit.
 *
 * Workload: per key, every candidate is fitted F times (F = K = 3 by
 * default); the fits dominate, the bookkeeping here is O(K x holdout).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models_int.h"

void mm_models__backtest_free(mm_models__backtest_t *bt) {
    free(bt->err);
    free(bt->fc);
    bt->err = bt->fc = NULL;
    if (bt->last_state && bt->ops) bt->ops->destroy(bt->last_state);
    bt->last_state = NULL;
}

void mm_models__backtest_take(mm_models__backtest_t *bt, const mm_model_config_t *cfg,
                              const mm_series_t *s, void **state) {
    *state = NULL;
    if (!bt->ok || !bt->last_state) return;
    void *st = bt->last_state;
    bt->last_state = NULL;
    size_t H = (size_t)cfg->holdout;
    if (bt->ops->advance && !bt->last_final) {
        void *moved = NULL;
        char why[64];
        mm_err_t err = bt->ops->advance(st, cfg, s->y, s->n, H, &moved, why, sizeof why);
        bt->ops->destroy(st);
        if (err != MM_OK) return; /* the caller fits on all data instead */
        st = moved;
    }
    *state = st;
}

/* Window w of K is fitted when it is the first or one of the last F - 1. */
static bool window_fitted(size_t w, size_t K, size_t F) {
    return w == 0 || w + F > K;
}

/* How many of the K windows are fitted (cfg->backtest_fits; 0 = all). */
static size_t backtest_fits(const mm_model_config_t *cfg) {
    size_t K = (size_t)cfg->backtest_windows;
    size_t F = cfg->backtest_fits > 0 ? (size_t)cfg->backtest_fits : K;
    return F > K ? K : F;
}

mm_err_t mm_models__backtest_run(const mm_model_config_t *cfg, const mm_series_t *s,
                                 const mm_models__ops_t *ops, bool nonneg,
                                 mm_models__backtest_t *bt, char *errstr, size_t errstr_size) {
    size_t K = (size_t)cfg->backtest_windows, H = (size_t)cfg->holdout, n = s->n;
    bt->ok = false;
    bt->ops = ops;
    bt->last_state = NULL;
    bt->last_final = false;
    /* the last window's fit becomes the final model of ETS (moved over the last
     * holdout); XGBoost's is fitted anew on all points: trees grown before the
     * last holdout, or boosted on over it, forecast worse (bench/models/RESULTS.md,
     * 2026-12-03) */
    bool keep = mm_models__capped_algo(ops->algo) && !ops->fit_next;
    mm_metrics_init(&bt->metrics);
    bt->err = malloc(K * H * sizeof(double));
    bt->fc = malloc(K * H * sizeof(double));
    double *sd = malloc(H * sizeof(double));
    mm_metrics_t *wm = malloc(K * sizeof *wm);
    mm_models__exog_buf_t eb = {0};
    bool ok = bt->err && bt->fc && sd && wm && mm_models__exog_buf_init(&eb, s->n_exog, H);
    mm_err_t err =
        ok ? MM_OK : mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "backtest: out of memory");
    /* the windows that get a fit of their own: the first and the last F - 1;
     * the windows between forecast with the first window's model, its state
     * moved over the newer observations (ops->advance) */
    size_t F = backtest_fits(cfg);
    /* the fitted windows and the final fit at once, where the model can
     * (ridge); if that fails, the windows one by one say which fails and why */
    void **pre = NULL;
    if (ok && ops->fit_prefixes) {
        size_t *cuts = malloc((F + 1) * sizeof(size_t));
        pre = calloc(F + 1, sizeof(void *));
        mm_models__view_t all = {.cfg = cfg,
                                 .n = n,
                                 .time_ms = s->time_ms,
                                 .y = s->y,
                                 .n_exog = s->n_exog,
                                 .exog = s->exog};
        for (size_t w = 0, i = 0; cuts && w < K; w++)
            if (window_fitted(w, K, F)) cuts[i++] = n - (K - w) * H;
        if (cuts) cuts[F] = n;
        if (!cuts || !pre || ops->fit_prefixes(&all, cuts, F + 1, pre, errstr, errstr_size)) {
            free(pre);
            pre = NULL;
        }
        free(cuts);
    }
    /* the config of the later windows: the first window's choices settled */
    mm_model_config_t settled = *cfg;
    bool have_settled = false;
    void *cur = NULL;   /* the model forecasting the window */
    size_t cur_end = 0; /* the points it has seen */
    size_t fi = 0;      /* fitted windows so far */
    for (size_t w = 0; ok && w < K; w++) {
        size_t cut = n - (K - w) * H;
        mm_models__view_t v = {.cfg = have_settled ? &settled : cfg,
                               .n = cut,
                               .time_ms = s->time_ms,
                               .y = s->y,
                               .n_exog = s->n_exog,
                               .exog = s->exog};
        void *state = NULL;
        mm_err_t fit_err = MM_OK;
        bool fitted = window_fitted(w, K, F);
        if (!fitted && !ops->advance) {
            state = cur; /* the forecast takes its lags from the history */
            cur = NULL;
        } else if (!fitted) {
            fit_err = ops->advance(cur, cfg, s->y, cut, cut - cur_end, &state, errstr, errstr_size);
        } else if (pre) {
            state = pre[fi];
            pre[fi] = NULL;
        } else if (ops->fit_next) {
            mm_models__window_view_t wv;
            mm_models__view_window(&v, ops->algo, &wv);
            fit_err = ops->fit_next(cur, &wv.v, &state, errstr, errstr_size);
        } else {
            fit_err = mm_models__fit_windowed(ops, &v, &state, errstr, errstr_size);
        }
        fi += fitted;
        if (cur) {
            ops->destroy(cur);
            cur = NULL;
        }
        if (fit_err != MM_OK && w > 0 && (have_settled || ops->fit_next || !fitted)) {
            /* the settled form does not fit this window (a multiplicative
             * season after a zero), the previous fit could not be continued
             * or its state not moved: a fit of its own */
            v.cfg = cfg;
            fit_err = mm_models__fit_windowed(ops, &v, &state, errstr, errstr_size);
        }
        if (fit_err != MM_OK) {
            ok = false;
            break;
        }
        if (w == 0 && ops->settle) {
            ops->settle(state, &settled);
            have_settled = true;
        }
        double last[MM_MODEL_MAX_EXOG];
        mm_models__last_known_exog(s->n_exog, s->exog, cut, last);
        mm_models__resolve_known_exog(s->n_exog, mm_models__known_mask(cfg), s->exog, cut, last, H,
                                      eb.col);
        mm_models__fcctx_t fc = {.cfg = cfg,
                                 .hist = s->y,
                                 .n_hist = cut,
                                 .end_ms = s->time_ms[cut - 1],
                                 .n_exog = s->n_exog,
                                 .fexog = (const double *const *)eb.col,
                                 .nonneg = nonneg};
        double *mean = bt->fc + w * H;
        mm_err_t ferr = ops->forecast(state, &fc, H, mean, sd, errstr, errstr_size);
        if (keep && w == K - 1 && ferr == MM_OK) {
            bt->last_state = state;
        } else if (w < K - 1 && ferr == MM_OK) {
            cur = state; /* the next window continues from it */
            cur_end = cut;
        } else {
            ops->destroy(state);
        }
        if (ferr != MM_OK) {
            ok = false;
            break;
        }
        mm_models__clip_nonneg(nonneg, mean, H);
        for (size_t k = 0; k < H; k++) bt->err[w * H + k] = s->y[cut + k] - mean[k];
        mm_metrics_forecast(s->y + cut, mean, H, s->y, cut, cfg->season_length, &wm[w]);
    }
    if (ok) {
        mm_models__metrics_mean(wm, K, &bt->metrics);
        bt->ok = true;
        if (pre) { /* the final fit, taken as it is (mm_models__backtest_take) */
            bt->last_state = pre[F];
            bt->last_final = true;
            pre[F] = NULL;
        }
    }
    if (cur) ops->destroy(cur);
    for (size_t w = 0; pre && w <= F; w++)
        if (pre[w]) ops->destroy(pre[w]);
    free(pre);
    free(sd);
    free(wm);
    mm_models__exog_buf_free(&eb);
    return err;
}

/* Per-step residual sd from K windows: sd_k = c k^b. Three windows per step
 * are too few to use raw, so the growth b comes from a log-log fit of the
 * per-step RMS errors, and the level c from matching the pooled squared
 * errors (a log-space fit alone sits low: the mean log of an RMS of few
 * values is biased down). */
void mm_models__residual_spread(const double *err, size_t K, size_t H, double *sd_out) {
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

/* The eligible candidates with a value of @p id, best first (ties: lower id
 * first, the simpler model). @returns how many. */
size_t mm_models__rank_candidates(mm_metric_id_t id, const mm_models__backtest_t *bts,
                                  uint32_t eligible, mm_algo_t *rank) {
    size_t k = 0;
    for (int a = 0; a < MM_ALGO__COUNT; a++) {
        if (!(eligible & MM_MODELS__BIT(a)) || !bts[a].ok || isnan(bts[a].metrics.v[id])) continue;
        size_t at = k++;
        for (;
             at > 0 && mm_models__better(id, bts[a].metrics.v[id], bts[rank[at - 1]].metrics.v[id]);
             at--)
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
void mm_models__combination_weights(mm_metric_id_t id, const mm_models__backtest_t *bts,
                                    const mm_algo_t *members, size_t k, double *w) {
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
mm_err_t mm_models__combine_backtest(const mm_model_config_t *cfg, const mm_series_t *s,
                                     const mm_models__backtest_t *bts, const mm_algo_t *members,
                                     const double *weights, size_t k, mm_models__backtest_t *out,
                                     char *errstr, size_t errstr_size) {
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
