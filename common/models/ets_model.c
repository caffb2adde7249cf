/*
 * ets_model.c - the exponential smoothing model itself (ets.c describes the
 * family): the innovations filter that yields states, SSE and likelihood
 * for given parameters, and the forecast with its analytic variance. The
 * fit (ets_fit.c) calls the filter many times; the algorithm (ets.c)
 * forecasts with the result.
 *
 * Workload: the filter is the hot loop of fitting, one pass over a few
 * hundred to a few thousand points per likelihood evaluation.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models_int.h"

int mm_ets_count_params(const mm_ets_t *e) {
    int k = 2;                                           /* alpha, l0 */
    if (mm_ets_has_trend(e)) k += 2;                     /* beta, b0 */
    if (e->trend == MM_ETS_T_DAMPED) k += 1;             /* phi */
    if (e->season != MM_ETS_S_NONE) k += 1 + (e->m - 1); /* gamma, free seasonal states */
    return k;
}

bool mm_ets_filter(mm_ets_t *e, const double *y, size_t n, double *fitted) {
    const size_t m = e->season != MM_ETS_S_NONE ? (size_t)e->m : 1;
    const bool mul = e->season == MM_ETS_S_MUL;
    const bool seasonal = e->season != MM_ETS_S_NONE;
    const double phi = e->trend == MM_ETS_T_DAMPED ? e->phi : 1.0;
    const double alpha = e->alpha, beta = mm_ets_has_trend(e) ? e->beta : 0.0;
    const double gamma = seasonal ? e->gamma : 0.0;
    double ring[MM_ETS_MAX_SEASON];
    for (size_t j = 0; j < m; j++) ring[j] = seasonal ? e->s0[j] : (mul ? 1.0 : 0.0);
    double l = e->l0, b = mm_ets_has_trend(e) ? e->b0 : 0.0;
    double sse = 0;
    size_t nobs = 0, si = 0;
    bool ok = true;
    for (size_t t = 0; t < n; t++) {
        double bphi = phi * b;
        double lb = l + bphi;
        double s = ring[si];
        double yhat = mul ? lb * s : lb + s;
        if (fitted) fitted[t] = yhat;
        double err = 0;
        if (!isnan(y[t])) {
            err = y[t] - yhat;
            sse += err * err;
            nobs++;
        }
        if (mul) {
            l = lb + alpha * err / s;
            b = bphi + beta * err / s;
            ring[si] = s + gamma * err / lb;
            if (!(ring[si] > 0) || !(lb > 0)) ok = false;
        } else {
            l = lb + alpha * err;
            b = bphi + beta * err;
            ring[si] = s + gamma * err;
        }
        if (++si == m) si = 0;
    }
    if (!isfinite(l) || !isfinite(b) || !isfinite(sse)) ok = false;
    e->level = l;
    e->slope = b;
    /* After n points the ring index n % m holds s_{n-m}, the state that
     * forecast step 1 uses. */
    for (size_t j = 0; j < m; j++) e->s_end[j] = ring[(n + j) % m];
    e->sse = sse;
    e->nobs = nobs;
    e->n_params = mm_ets_count_params(e);
    if (nobs == 0) {
        e->sigma2 = NAN;
        e->loglik = NAN;
        e->aicc = INFINITY;
        return false;
    }
    double dn = (double)nobs;
    e->sigma2 = sse / dn;
    /* A perfect fit would give log(0); floor the variance far below any
     * real noise so forms still compare by their penalty. */
    double floor2 = 1e-24 * (1.0 + e->l0 * e->l0);
    double s2 = e->sigma2 > floor2 ? e->sigma2 : floor2;
    e->loglik = -0.5 * dn * (log(2.0 * M_PI * s2) + 1.0);
    double k = (double)e->n_params + 1.0; /* + the variance */
    e->aicc = dn - k - 1.0 > 0 ? -2.0 * e->loglik + 2.0 * k + 2.0 * k * (k + 1.0) / (dn - k - 1.0)
                               : INFINITY;
    return ok;
}

bool mm_ets_extend(mm_ets_t *e, const double *y, size_t n) {
    /* The filter's step, the same arithmetic in the same order, started
     * from the end states: fitting on y and extending by more points gives
     * the states of filtering everything at once. */
    const size_t m = e->season != MM_ETS_S_NONE ? (size_t)e->m : 1;
    const bool mul = e->season == MM_ETS_S_MUL;
    const bool seasonal = e->season != MM_ETS_S_NONE;
    const double phi = e->trend == MM_ETS_T_DAMPED ? e->phi : 1.0;
    const double alpha = e->alpha, beta = mm_ets_has_trend(e) ? e->beta : 0.0;
    const double gamma = seasonal ? e->gamma : 0.0;
    double ring[MM_ETS_MAX_SEASON];
    for (size_t j = 0; j < m; j++) ring[j] = seasonal ? e->s_end[j] : (mul ? 1.0 : 0.0);
    double l = e->level, b = mm_ets_has_trend(e) ? e->slope : 0.0;
    size_t si = 0;
    bool ok = true;
    for (size_t t = 0; t < n; t++) {
        double bphi = phi * b;
        double lb = l + bphi;
        double s = ring[si];
        double yhat = mul ? lb * s : lb + s;
        double err = isnan(y[t]) ? 0 : y[t] - yhat;
        if (mul) {
            l = lb + alpha * err / s;
            b = bphi + beta * err / s;
            ring[si] = s + gamma * err / lb;
            if (!(ring[si] > 0) || !(lb > 0)) ok = false;
        } else {
            l = lb + alpha * err;
            b = bphi + beta * err;
            ring[si] = s + gamma * err;
        }
        if (++si == m) si = 0;
    }
    if (!isfinite(l) || !isfinite(b)) ok = false;
    e->level = l;
    e->slope = b;
    if (seasonal)
        for (size_t j = 0; j < m; j++) e->s_end[j] = ring[(n + j) % m];
    return ok;
}

static double phi_sum(const mm_ets_t *e, size_t k) {
    if (e->trend == MM_ETS_T_NONE) return 0;
    if (e->trend == MM_ETS_T_ADD) return (double)k;
    double s = 0, p = 1;
    for (size_t i = 1; i <= k; i++) {
        p *= e->phi;
        s += p;
    }
    return s;
}

void mm_ets_forecast(const mm_ets_t *e, size_t h, double *mean, double *sd) {
    size_t m = e->season != MM_ETS_S_NONE ? (size_t)e->m : 1;
    double phik = 0, pw = 1, var_acc = 1.0;
    for (size_t k = 1; k <= h; k++) {
        if (e->trend == MM_ETS_T_DAMPED) {
            pw *= e->phi;
            phik += pw;
        } else if (e->trend == MM_ETS_T_ADD) {
            phik = (double)k;
        }
        double lb = e->level + phik * e->slope;
        double s = e->season == MM_ETS_S_NONE ? 0 : e->s_end[(k - 1) % m];
        mean[k - 1] = e->season == MM_ETS_S_MUL ? lb * s : lb + s;
        if (e->season == MM_ETS_S_MUL) {
            sd[k - 1] = NAN; /* no closed form: intervals come from backtest residuals */
            continue;
        }
        /* Class 1 variance (Hyndman et al. 2008, ch. 6):
         * v_k = sigma2 (1 + sum_{j<k} c_j^2), c_j = alpha + beta phi_j + gamma [m | j]. */
        if (k >= 2) {
            size_t j = k - 1;
            double c = e->alpha + (e->trend != MM_ETS_T_NONE ? e->beta * phi_sum(e, j) : 0) +
                       (e->season != MM_ETS_S_NONE && j % m == 0 ? e->gamma : 0);
            var_acc += c * c;
        }
        sd[k - 1] = sqrt(e->sigma2 * var_acc);
    }
}
