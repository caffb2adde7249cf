/*
 * intermittent.c - Croston, SBA and TSB for intermittent demand (series that
 * are mostly zeros, as many retail store x item series are).
 *
 *   Croston (1972): smooth the non-zero demand sizes z and the intervals
 *   between them p with the same alpha, updating only when demand occurs;
 *   forecast z / p.
 *   SBA (Syntetos & Boylan 2005): Croston times (1 - alpha/2), removing its
 *   positive bias.
 *   TSB (Teunter, Syntetos & Babai 2011): smooth the demand probability pi
 *   every period (beta) and the size z on demand (alpha); forecast pi z, which
 *   decays towards zero when demand stops (obsolescence).
 *
 * Initial states as R's tsintermittent / statsforecast: the first demand and
 * its interval (Croston, SBA); the mean size and the demand frequency over
 * the fit (TSB). Smoothing constants are picked from a fixed grid by
 * in-sample one-step MSE: cheap, deterministic and, for these methods, as
 * good as continuous optimisation in the literature's comparisons.
 *
 * Missing targets (NaN) are missing, not zero demand: they neither update
 * the states nor count as periods, so intervals are measured in observed
 * periods (a gap in the records says nothing about demand). Negative
 * values are refused: these methods model non-negative demand. Forecasts are
 * flat; intervals come from the backtest residuals.
 *
 * Scoring new data runs the same updates over the points after the data
 * end with the fitted constants; the artifact keeps the periods since the
 * last demand for that ("since_demand"; artifacts written before it get the
 * count from the stored tail of targets).
 */
#include <math.h>
#include <stdlib.h>

#include "models_int.h"

typedef enum { KIND_CROSTON, KIND_SBA, KIND_TSB } kind_t;

typedef struct interm {
    kind_t kind;
    double alpha, beta;
    double z, p; /* size and interval (Croston/SBA) or size and probability (TSB) */
    double q;    /* Croston/SBA: observed periods since the last demand, plus one; NaN unknown */
    double forecast;
} interm_t;

static const double alpha_grid[] = {0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5};
static const double beta_grid[] = {0.01, 0.02, 0.05, 0.1, 0.2, 0.3};

static double croston_forecast_of(kind_t kind, double alpha, double z, double p) {
    double f = p > 0 ? z / p : 0;
    return kind == KIND_SBA ? (1.0 - alpha / 2.0) * f : f;
}

#define N_ALPHA (sizeof alpha_grid / sizeof alpha_grid[0])
#define N_BETA  (sizeof beta_grid / sizeof beta_grid[0])
#define N_TSB   (N_ALPHA * N_BETA)

/* Run Croston/SBA over y for every alpha of the grid at once: one pass over
 * the series instead of one per alpha (the periods since the last demand, q,
 * are the same for all). Each alpha's arithmetic is that of a run on its
 * own. Leaves each one's in-sample one-step MSE from the first demand on in
 * mse[] and final states in st[]. */
static void run_croston_grid(const double *y, size_t n, kind_t kind, double mse[N_ALPHA],
                             interm_t st[N_ALPHA]) {
    size_t first = n;
    for (size_t i = 0; i < n; i++)
        if (y[i] > 0) {
            first = i;
            break;
        }
    for (size_t k = 0; k < N_ALPHA; k++)
        st[k] = (interm_t){.kind = kind, .alpha = alpha_grid[k], .beta = 0};
    if (first == n) {
        for (size_t k = 0; k < N_ALPHA; k++) {
            st[k].z = 0;
            st[k].p = 1;
            st[k].q = NAN; /* no demand yet: an interval starts at the first one */
            st[k].forecast = 0;
            mse[k] = 0;
        }
        return;
    }
    size_t observed = 0; /* observed periods up to and including the first demand */
    for (size_t i = 0; i <= first; i++) observed += !isnan(y[i]);
    double z[N_ALPHA], p[N_ALPHA], f[N_ALPHA], se[N_ALPHA], q = 1;
    for (size_t k = 0; k < N_ALPHA; k++) {
        z[k] = y[first];
        p[k] = (double)observed;
        f[k] = croston_forecast_of(kind, alpha_grid[k], z[k], p[k]);
        se[k] = 0;
    }
    size_t cnt = 0;
    for (size_t t = first + 1; t < n; t++) {
        double yt = y[t];
        if (isnan(yt)) continue; /* missing: no demand, no period */
        cnt++;
        if (yt > 0) {
            for (size_t k = 0; k < N_ALPHA; k++) {
                double a = alpha_grid[k];
                se[k] += (yt - f[k]) * (yt - f[k]);
                z[k] += a * (yt - z[k]);
                p[k] += a * (q - p[k]);
                /* the forecast changes only with a demand */
                f[k] = croston_forecast_of(kind, a, z[k], p[k]);
            }
            q = 1;
        } else {
            for (size_t k = 0; k < N_ALPHA; k++) se[k] += (yt - f[k]) * (yt - f[k]);
            q += 1;
        }
    }
    for (size_t k = 0; k < N_ALPHA; k++) {
        st[k].z = z[k];
        st[k].p = p[k];
        st[k].q = q;
        st[k].forecast = f[k];
        mse[k] = cnt ? se[k] / (double)cnt : 0;
    }
}

/* Run TSB over y for every (alpha, beta) of the grid at once, combination
 * a * N_BETA + b: one pass over the series instead of one per combination
 * (the updates of a period depend only on whether it has demand, the same
 * for all). Each combination's arithmetic is that of a run on its own.
 * Leaves each one's in-sample one-step MSE in mse[] and final states in st[]. */
static void run_tsb_grid(const double *y, size_t n, double mse[N_TSB], interm_t st[N_TSB]) {
    double sum = 0;
    size_t nz = 0, nobs = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(y[i])) continue;
        nobs++;
        if (y[i] > 0) {
            sum += y[i];
            nz++;
        }
    }
    double alpha[N_TSB], beta[N_TSB], z[N_TSB], pi[N_TSB], se[N_TSB];
    for (size_t k = 0; k < N_TSB; k++) {
        alpha[k] = alpha_grid[k / N_BETA];
        beta[k] = beta_grid[k % N_BETA];
        z[k] = nz ? sum / (double)nz : 0;
        pi[k] = nobs ? (double)nz / (double)nobs : 0;
        se[k] = 0;
    }
    size_t cnt = 0;
    for (size_t t = 0; t < n; t++) {
        double yt = y[t];
        if (isnan(yt)) continue; /* missing: the probability does not decay */
        cnt++;
        if (yt > 0) {
            for (size_t k = 0; k < N_TSB; k++) {
                double e = yt - pi[k] * z[k];
                se[k] += e * e;
                pi[k] += beta[k] * (1.0 - pi[k]);
                z[k] += alpha[k] * (yt - z[k]);
            }
        } else {
            for (size_t k = 0; k < N_TSB; k++) {
                double e = yt - pi[k] * z[k];
                se[k] += e * e;
                pi[k] -= beta[k] * pi[k];
            }
        }
    }
    for (size_t k = 0; k < N_TSB; k++) {
        st[k] = (interm_t){.kind = KIND_TSB,
                           .alpha = alpha[k],
                           .beta = beta[k],
                           .z = z[k],
                           .p = pi[k],
                           .q = NAN,
                           .forecast = pi[k] * z[k]};
        mse[k] = cnt ? se[k] / (double)cnt : 0;
    }
}

static mm_err_t interm_fit(kind_t kind, const mm_models__view_t *v, void **state, char *errstr,
                           size_t errstr_size) {
    *state = NULL;
    size_t nobs = 0;
    for (size_t i = 0; i < v->n; i++) {
        if (isnan(v->y[i])) continue;
        if (v->y[i] < 0)
            return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                           "%s: negative demand at index %zu", kind == KIND_TSB ? "tsb" : "croston",
                           i);
        nobs++;
    }
    if (nobs < 2)
        return mm_errf(MM_ERR_INSUFFICIENT_DATA, errstr, errstr_size,
                       "intermittent: %zu observations are too few", nobs);
    interm_t *best = calloc(1, sizeof *best);
    if (!best) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "intermittent: out of memory");
    double best_mse = INFINITY;
    double mse[N_TSB]; /* room for either grid: N_TSB >= N_ALPHA */
    interm_t st[N_TSB];
    size_t n_fits = kind == KIND_TSB ? N_TSB : N_ALPHA;
    if (kind == KIND_TSB)
        run_tsb_grid(v->y, v->n, mse, st);
    else
        run_croston_grid(v->y, v->n, kind, mse, st);
    for (size_t k = 0; k < n_fits; k++)
        if (mse[k] < best_mse) { /* strict: ties keep the smaller, smoother constants */
            best_mse = mse[k];
            *best = st[k];
        }
    *state = best;
    return MM_OK;
}

static mm_err_t croston_fit(const mm_models__view_t *v, void **state, char *e, size_t es) {
    return interm_fit(KIND_CROSTON, v, state, e, es);
}

static mm_err_t sba_fit(const mm_models__view_t *v, void **state, char *e, size_t es) {
    return interm_fit(KIND_SBA, v, state, e, es);
}

static mm_err_t tsb_fit(const mm_models__view_t *v, void **state, char *e, size_t es) {
    return interm_fit(KIND_TSB, v, state, e, es);
}

static mm_err_t interm_forecast(const void *state, const mm_models__fcctx_t *fc, size_t h,
                                double *mean, double *sd, char *errstr, size_t errstr_size) {
    (void)fc;
    (void)errstr;
    (void)errstr_size;
    const interm_t *st = state;
    for (size_t k = 0; k < h; k++) {
        mean[k] = st->forecast;
        sd[k] = NAN;
    }
    return MM_OK;
}

/* Croston/SBA's periods since the last demand (plus one) from the targets
 * before the new points, for states loaded without it: the observed
 * periods after the last demand there (a lower bound when there is none). */
static double since_demand_from(const double *y, size_t n) {
    double q = 1;
    for (size_t i = n; i-- > 0;) {
        if (isnan(y[i])) continue;
        if (y[i] > 0) break;
        q += 1;
    }
    return q;
}

static mm_err_t interm_advance(const void *state, const mm_model_config_t *cfg, const double *hist,
                               size_t n_hist, size_t n_new, void **out, char *errstr,
                               size_t errstr_size) {
    (void)cfg;
    *out = NULL;
    interm_t *st = malloc(sizeof *st);
    if (!st) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "intermittent: out of memory");
    *st = *(const interm_t *)state;
    size_t n_old = n_hist - n_new;
    bool demand_seen = !(st->z == 0 && st->p == 1 && isnan(st->q));
    if (st->kind != KIND_TSB && demand_seen && isnan(st->q)) st->q = since_demand_from(hist, n_old);
    double observed = 0; /* periods observed before a first demand, if none was seen */
    for (size_t i = 0; i < n_old; i++) observed += !isnan(hist[i]);
    for (size_t t = n_old; t < n_hist; t++) {
        double yt = hist[t];
        if (isnan(yt)) continue; /* missing, as in training */
        if (st->kind == KIND_TSB) {
            if (yt > 0) {
                st->p += st->beta * (1.0 - st->p);
                st->z += st->alpha * (yt - st->z);
            } else {
                st->p -= st->beta * st->p;
            }
            continue;
        }
        observed += 1;
        if (!(yt > 0)) {
            st->q += 1; /* NaN until the first demand: stays NaN */
        } else if (!demand_seen) {
            st->z = yt;
            st->p = observed;
            st->q = 1;
            demand_seen = true;
        } else {
            st->z += st->alpha * (yt - st->z);
            st->p += st->alpha * (st->q - st->p);
            st->q = 1;
        }
    }
    st->forecast = st->kind == KIND_TSB ? st->p * st->z
                                        : croston_forecast_of(st->kind, st->alpha, st->z, st->p);
    *out = st;
    return MM_OK;
}

static mm_err_t interm_save(const void *state, mm_models__params_t *ps) {
    const interm_t *st = state;
    mm_err_t err = mm_models__params_add1(ps, "alpha", st->alpha);
    if (!err && st->kind == KIND_TSB) err = mm_models__params_add1(ps, "beta", st->beta);
    if (!err) err = mm_models__params_add1(ps, "size", st->z);
    if (!err)
        err = mm_models__params_add1(ps, st->kind == KIND_TSB ? "probability" : "interval", st->p);
    if (!err) err = mm_models__params_add1(ps, "forecast", st->forecast);
    if (!err && st->kind != KIND_TSB && !isnan(st->q))
        err = mm_models__params_add1(ps, "since_demand", st->q);
    return err;
}

static mm_err_t interm_load(kind_t kind, const mm_models__params_t *ps, void **state, char *errstr,
                            size_t errstr_size) {
    *state = NULL;
    const mm_models__param_t *a = mm_models__params_get(ps, "alpha", 1);
    const mm_models__param_t *b = mm_models__params_get(ps, "beta", 1);
    const mm_models__param_t *z = mm_models__params_get(ps, "size", 1);
    const mm_models__param_t *p =
        mm_models__params_get(ps, kind == KIND_TSB ? "probability" : "interval", 1);
    const mm_models__param_t *f = mm_models__params_get(ps, "forecast", 1);
    const mm_models__param_t *q = mm_models__params_get(ps, "since_demand", 1);
    if (!a || !z || !p || !f || (kind == KIND_TSB && !b) || a->kind != MM_MODELS__PARAM_F64 ||
        z->kind != MM_MODELS__PARAM_F64 || p->kind != MM_MODELS__PARAM_F64 ||
        f->kind != MM_MODELS__PARAM_F64 || (b && b->kind != MM_MODELS__PARAM_F64) ||
        (q && q->kind != MM_MODELS__PARAM_F64))
        return mm_errf(MM_ERR_PARSE, errstr, errstr_size,
                       "artifact: intermittent-demand parameters incomplete");
    interm_t *st = calloc(1, sizeof *st);
    if (!st) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "intermittent: out of memory");
    st->kind = kind;
    st->alpha = a->v[0];
    st->beta = b ? b->v[0] : 0;
    st->z = z->v[0];
    st->p = p->v[0];
    st->q = q ? q->v[0] : NAN; /* absent: no demand seen, or written before it was stored */
    st->forecast = f->v[0];
    *state = st;
    return MM_OK;
}

static mm_err_t croston_load(const mm_models__params_t *ps, const mm_model_config_t *cfg,
                             void **state, char *e, size_t es) {
    (void)cfg;
    return interm_load(KIND_CROSTON, ps, state, e, es);
}

static mm_err_t sba_load(const mm_models__params_t *ps, const mm_model_config_t *cfg, void **state,
                         char *e, size_t es) {
    (void)cfg;
    return interm_load(KIND_SBA, ps, state, e, es);
}

static mm_err_t tsb_load(const mm_models__params_t *ps, const mm_model_config_t *cfg, void **state,
                         char *e, size_t es) {
    (void)cfg;
    return interm_load(KIND_TSB, ps, state, e, es);
}

static void interm_destroy(void *state) {
    free(state);
}

static size_t interm_memsize(const void *state) {
    (void)state;
    return sizeof(interm_t);
}

#define INTERM_OPS(name_, algo_, fit_, load_)                                                      \
    const mm_models__ops_t name_ = {                                                               \
        .algo = algo_,                                                                             \
        .task = MM_TASK_FORECAST,                                                                  \
        .fit = fit_,                                                                               \
        .forecast = interm_forecast,                                                               \
        .save = interm_save,                                                                       \
        .load = load_,                                                                             \
        .destroy = interm_destroy,                                                                 \
        .memsize = interm_memsize,                                                                 \
        .advance = interm_advance,                                                                 \
    }

INTERM_OPS(mm_croston_ops, MM_ALGO_CROSTON, croston_fit, croston_load);
INTERM_OPS(mm_sba_ops, MM_ALGO_SBA, sba_fit, sba_load);
INTERM_OPS(mm_tsb_ops, MM_ALGO_TSB, tsb_fit, tsb_load);
