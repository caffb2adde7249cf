/*
 * ets_fit.c - fitting one exponential smoothing form (ets.c describes the
 * family) by maximum likelihood: the heuristic starting states of Hyndman
 * et al. (2008, section 2.6.1), as statsmodels computes them; the
 * likelihood optimised with NLopt's BOBYQA on parameters scaled to order
 * one; for the additive forms, the initial states solved exactly by least
 * squares inside the objective (concentrated likelihood).
 *
 * Workload: a series of a few hundred to a few thousand points, about a
 * millisecond per form; the filter (ets_model.c) runs once per evaluation.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <nlopt.h>

#include "models_int.h"

#define ETS_MAX_PARAMS (4 + 2 + MM_ETS_MAX_SEASON)

/* ------------------------------------------------------------ initial states */

/* Linear interpolation over gaps (the heuristic needs complete data; the
 * likelihood still skips the gaps). */
static void fill_gaps(const double *y, size_t n, double *out) {
    size_t prev = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        if (!isnan(y[i])) {
            if (prev == SIZE_MAX) {
                for (size_t k = 0; k < i; k++) out[k] = y[i];
            } else {
                for (size_t k = prev + 1; k < i; k++)
                    out[k] = y[prev] + (y[i] - y[prev]) * (double)(k - prev) / (double)(i - prev);
            }
            out[i] = y[i];
            prev = i;
        }
    }
    for (size_t k = prev + 1; k < n; k++) out[k] = y[prev];
}

/* Least-squares line through z[0..k-1] at x = 1..k: intercept at x = 0 and slope. */
static void line_fit(const double *z, size_t k, double *icept, double *slope) {
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (size_t i = 0; i < k; i++) {
        double x = (double)(i + 1);
        sx += x;
        sy += z[i];
        sxx += x * x;
        sxy += x * z[i];
    }
    double dk = (double)k, den = dk * sxx - sx * sx;
    *slope = den != 0 ? (dk * sxy - sx * sy) / den : 0;
    *icept = (sy - *slope * sx) / dk;
}

/* Hyndman et al. (2008) section 2.6.1, as statsmodels'
 * _initialization_heuristic; a simpler fallback for very short data. */
static void heuristic_init(const double *yf, size_t n, mm_ets_t *e) {
    size_t m = (size_t)e->m;
    bool seasonal = e->season != MM_ETS_S_NONE;
    bool mul = e->season == MM_ETS_S_MUL;
    double *trendc = NULL;
    const double *base = yf;
    size_t n_base = n;
    if (seasonal) {
        size_t min_obs = 10 + 2 * (m / 2);
        size_t k_cycles = n / m < 5 ? n / m : 5;
        size_t need = (min_obs + m - 1) / m;
        if (k_cycles < need) k_cycles = need;
        size_t len = k_cycles * m < n ? k_cycles * m : n;
        trendc = malloc(len * sizeof(double));
        if (n >= min_obs && n >= 2 * m && trendc) {
            /* centred moving average (2 x m when m is even) */
            size_t half = m / 2;
            size_t ntr = 0;
            for (size_t t = 0; t < len; t++) {
                double v = NAN;
                if (m % 2 == 1) {
                    if (t >= half && t + half < len) {
                        double s = 0;
                        for (size_t k = t - half; k <= t + half; k++) s += yf[k];
                        v = s / (double)m;
                    }
                } else if (t >= half && t + half < len) {
                    double s = 0.5 * yf[t - half] + 0.5 * yf[t + half];
                    for (size_t k = t - half + 1; k < t + half; k++) s += yf[k];
                    v = s / (double)m;
                }
                trendc[t] = v;
            }
            double sum = 0;
            for (size_t j = 0; j < m; j++) {
                double acc = 0;
                size_t cnt = 0;
                for (size_t t = j; t < len; t += m) {
                    if (isnan(trendc[t])) continue;
                    acc += mul ? yf[t] / trendc[t] : yf[t] - trendc[t];
                    cnt++;
                }
                e->s0[j] = cnt ? acc / (double)cnt : (mul ? 1.0 : 0.0);
                sum += e->s0[j];
            }
            double mean = sum / (double)m;
            for (size_t j = 0; j < m; j++) e->s0[j] = mul ? e->s0[j] / mean : e->s0[j] - mean;
            /* level and trend from the trend-cycle */
            for (size_t t = 0; t < len; t++)
                if (!isnan(trendc[t])) trendc[ntr++] = trendc[t];
            base = trendc;
            n_base = ntr;
        } else {
            /* simple: first season against its mean */
            size_t mm = m <= n ? m : n;
            double mean = 0;
            for (size_t j = 0; j < mm; j++) mean += yf[j];
            mean /= (double)mm;
            for (size_t j = 0; j < m; j++) {
                double v = j < mm ? yf[j] : mean;
                e->s0[j] = mul ? (mean != 0 ? v / mean : 1.0) : v - mean;
            }
        }
    }
    size_t k = n_base < 10 ? n_base : 10;
    double icept = base[0], slope = 0;
    if (k >= 2) line_fit(base, k, &icept, &slope);
    e->l0 = icept;
    e->b0 = mm_ets_has_trend(e) ? slope : 0;
    free(trendc);
}

/* ------------------------------------------------------------ optimisation */

typedef struct objective {
    const double *y;
    size_t n;
    mm_ets_t *e;
    double scale; /* data scale: states are optimised in units of it */
    double norm;  /* SSE normaliser */
    int i_beta, i_gamma, i_phi, i_l0, i_b0, i_s0;
    int evals;
} objective_t;

static void unpack(const objective_t *o, const double *x) {
    mm_ets_t *e = o->e;
    e->alpha = x[0];
    if (o->i_beta >= 0) e->beta = x[0] * x[o->i_beta];
    if (o->i_gamma >= 0) e->gamma = (1.0 - x[0]) * x[o->i_gamma];
    if (o->i_phi >= 0) e->phi = x[o->i_phi];
    e->l0 = x[o->i_l0] * o->scale;
    if (o->i_b0 >= 0) e->b0 = x[o->i_b0] * o->scale;
    if (o->i_s0 >= 0) {
        int m = e->m;
        double sum = 0;
        bool mul = e->season == MM_ETS_S_MUL;
        for (int j = 0; j < m - 1; j++) {
            e->s0[j] = mul ? x[o->i_s0 + j] : x[o->i_s0 + j] * o->scale;
            sum += e->s0[j];
        }
        e->s0[m - 1] = mul ? (double)m - sum : -sum;
    }
}

static double objective_fn(unsigned dims, const double *x, double *grad, void *data) {
    (void)dims;
    (void)grad;
    objective_t *o = data;
    o->evals++;
    unpack(o, x);
    if (!mm_ets_filter(o->e, o->y, o->n, NULL)) return 1e30;
    return o->e->sse / o->norm;
}

/*
 * Concentrated likelihood for the additive forms. With the smoothing
 * parameters fixed, an additive-error, additive-season model is linear in
 * its initial states x0: e_t = e0_t - z_t' x0, where e0 comes from the
 * filter started at x0 = 0 and z_t = d yhat_t / d x0 from the state
 * sensitivities (only three state rows change per step). The x0 that
 * minimises the SSE is then a p x p least-squares solve, so the optimiser
 * searches only the (at most four) smoothing parameters: an order of
 * magnitude fewer likelihood evaluations than searching x0 as well, for the
 * same optimum. Seasons longer than CONC_MAX_FREE_SEASON keep the heuristic
 * seasonal states (p^2 per step would dominate); level and trend are still
 * solved for.
 */
#define CONC_MAX_FREE_SEASON 24
/* The second, polishing run is only worth its cost in the alpha-beta
 * valley: when the first run ends with beta* or gamma* above this. */
#define POLISH_ABOVE 0.2

typedef struct conc {
    const double *y;
    size_t n;
    mm_ets_t *e;
    bool free_season;
    int p; /* free initial states: l0, [b0], [m-1 seasonal] */
    int i_beta, i_gamma, i_phi;
    double *S;     /* (2 + m) x p state sensitivities */
    double *Zc;    /* p columns of n: d yhat_t / d x0 at observed t */
    double *e0;    /* n: errors of the filter started at x0 = 0 */
    double *A, *b; /* normal equations */
    double x0[2 + MM_ETS_MAX_SEASON];
    int evals;
    bool star; /* coordinates: beta* and gamma* (true) or beta and gamma */
} conc_t;

static double clamp(double v, double lo, double hi) {
    return v < lo ? lo : v > hi ? hi : v;
}

/* The optimiser works on (alpha, beta, gamma, phi) directly, not on
 * beta* = beta/alpha: the likelihood's typical valley runs along alpha at
 * nearly constant beta, which is axis-aligned here (BOBYQA follows it) but
 * curved in (alpha, beta*). The admissible region of statsmodels and R
 * (beta/alpha and gamma/(1-alpha) in [1e-4, 1-1e-4]) is enforced by
 * clamping, and the distance clamped is returned so the objective can add a
 * small slope back towards it. */
static double conc_smoothing(const conc_t *c, const double *x) {
    mm_ets_t *e = c->e;
    double over = 0;
    e->alpha = x[0];
    if (c->star) {
        e->beta = c->i_beta >= 0 ? x[0] * x[c->i_beta] : 0;
        e->gamma = c->i_gamma >= 0 ? (1 - x[0]) * x[c->i_gamma] : 0;
        e->phi = c->i_phi >= 0 ? x[c->i_phi] : 1.0;
        return 0;
    }
    e->beta = 0;
    if (c->i_beta >= 0) {
        e->beta = clamp(x[c->i_beta], x[0] * 1e-4, x[0] * (1 - 1e-4));
        over += fabs(x[c->i_beta] - e->beta);
    }
    e->gamma = 0;
    if (c->i_gamma >= 0) {
        e->gamma = clamp(x[c->i_gamma], (1.0 - x[0]) * 1e-4, (1.0 - x[0]) * (1 - 1e-4));
        over += fabs(x[c->i_gamma] - e->gamma);
    }
    e->phi = c->i_phi >= 0 ? x[c->i_phi] : 1.0;
    return over;
}

/* One pass over the data: e0 and the rows z_t, stored by column so the
 * normal equations are dot products of contiguous columns afterwards
 * (vectorised) instead of a p x p outer product per step. Inlined with the
 * common state counts as constants (1, 2, m and m + 1 for weekly data). */
static inline __attribute__((always_inline)) size_t conc_pass(const conc_t *restrict c, const int p,
                                                              double *restrict S,
                                                              double *restrict Zc,
                                                              double *restrict e0v) {
    const mm_ets_t *e = c->e;
    const size_t m = e->season != MM_ETS_S_NONE ? (size_t)e->m : 1;
    const double alpha = e->alpha, beta = e->beta, gamma = e->gamma, phi = e->phi;
    double ring[MM_ETS_MAX_SEASON];
    for (size_t j = 0; j < m; j++)
        ring[j] = e->season != MM_ETS_S_NONE && !c->free_season ? e->s0[j] : 0.0;
    double l = 0, b = 0;
    double z[2 + MM_ETS_MAX_SEASON];
    const double *restrict y = c->y;
    const size_t n = c->n;
    size_t si = 0, rows = 0;
    for (size_t t = 0; t < n; t++) {
        double *restrict Sl = S, *restrict Sb = S + p, *restrict Sr = S + (2 + si) * (size_t)p;
        double bphi = phi * b;
        double yhat = l + bphi + ring[si];
        double e0 = 0;
        if (!isnan(y[t])) {
            for (int q = 0; q < p; q++) {
                z[q] = Sl[q] + phi * Sb[q] + Sr[q];
                Zc[(size_t)q * n + rows] = z[q];
            }
            e0 = y[t] - yhat;
            e0v[rows++] = e0;
            for (int q = 0; q < p; q++) {
                Sl[q] += phi * Sb[q] - alpha * z[q];
                Sb[q] = phi * Sb[q] - beta * z[q];
                Sr[q] -= gamma * z[q];
            }
        } else {
            for (int q = 0; q < p; q++) {
                Sl[q] += phi * Sb[q];
                Sb[q] *= phi;
            }
        }
        l = l + bphi + alpha * e0;
        b = bphi + beta * e0;
        ring[si] += gamma * e0;
        if (++si == m) si = 0;
    }
    return rows;
}

static double dot(const double *restrict a, const double *restrict b, size_t n) {
    /* four partial sums: vectorises and shortens the dependency chain */
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; i++) s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

/* Solve A x = b in place for a small symmetric positive definite A (upper
 * triangle, row-major). Hand-written rather than LAPACK: p is at most 25,
 * it runs once per likelihood evaluation, and a library call here costs
 * more than the arithmetic (layout conversion, and a threaded BLAS waking
 * its workers). */
static bool cholesky_solve(double *A, int p, double *b) {
    for (int j = 0; j < p; j++) {
        double d = A[j * p + j];
        for (int k = 0; k < j; k++) d -= A[k * p + j] * A[k * p + j];
        if (!(d > 0)) return false;
        d = sqrt(d);
        A[j * p + j] = d;
        for (int i = j + 1; i < p; i++) {
            double v = A[j * p + i];
            for (int k = 0; k < j; k++) v -= A[k * p + j] * A[k * p + i];
            A[j * p + i] = v / d; /* R[j][i] of A = R'R */
        }
    }
    for (int i = 0; i < p; i++) { /* R' y = b */
        double v = b[i];
        for (int k = 0; k < i; k++) v -= A[k * p + i] * b[k];
        b[i] = v / A[i * p + i];
    }
    for (int i = p - 1; i >= 0; i--) { /* R x = y */
        double v = b[i];
        for (int k = i + 1; k < p; k++) v -= A[i * p + k] * b[k];
        b[i] = v / A[i * p + i];
    }
    return true;
}

static double conc_objective(unsigned dims, const double *x, double *grad, void *data) {
    (void)dims;
    (void)grad;
    conc_t *c = data;
    mm_ets_t *e = c->e;
    c->evals++;
    double over = conc_smoothing(c, x);
    const int p = c->p;
    const size_t m = e->season != MM_ETS_S_NONE ? (size_t)e->m : 1;
    const bool trend = e->trend != MM_ETS_T_NONE, seasonal = e->season != MM_ETS_S_NONE;
    const size_t rows = 2 + m;
    double *S = c->S, *A = c->A, *bv = c->b;
    memset(S, 0, rows * (size_t)p * sizeof(double));
    /* S rows: 0 level, 1 trend, 2 + j seasonal ring slot j */
    int k = 0;
    S[0 * p + k++] = 1.0;
    if (trend) S[1 * p + k++] = 1.0;
    if (seasonal && c->free_season) {
        /* s0[m-1] = -sum of the others keeps level and season apart */
        for (size_t j = 0; j + 1 < m; j++) {
            S[(2 + j) * p + k + (int)j] = 1.0;
            S[(2 + m - 1) * p + k + (int)j] = -1.0;
        }
    }
    size_t rows_used;
    switch (p) {
    case 1:
        rows_used = conc_pass(c, 1, S, c->Zc, c->e0);
        break;
    case 2:
        rows_used = conc_pass(c, 2, S, c->Zc, c->e0);
        break;
    case 7:
        rows_used = conc_pass(c, 7, S, c->Zc, c->e0);
        break;
    case 8:
        rows_used = conc_pass(c, 8, S, c->Zc, c->e0);
        break;
    default:
        rows_used = conc_pass(c, p, S, c->Zc, c->e0);
        break;
    }
    const size_t n = c->n;
    double ee = dot(c->e0, c->e0, rows_used);
    for (int a = 0; a < p; a++) {
        const double *za = c->Zc + (size_t)a * n;
        bv[a] = dot(za, c->e0, rows_used);
        for (int q = a; q < p; q++) A[a * p + q] = dot(za, c->Zc + (size_t)q * n, rows_used);
    }
    /* a relative jitter keeps nearly collinear states (alpha ~ 1) solvable */
    for (int a = 0; a < p; a++) A[a * p + a] += 1e-10 * A[a * p + a] + 1e-300;
    memcpy(c->x0, bv, (size_t)p * sizeof(double));
    if (!cholesky_solve(A, p, c->x0) || !isfinite(ee)) return 1e30;
    double sse = ee;
    for (int q = 0; q < p; q++) sse -= bv[q] * c->x0[q];
    sse = sse > 0 ? sse : 0;
    return sse * (1.0 + over);
}

static mm_err_t fit_concentrated(const double *y, size_t n, mm_ets_t *out, double scale,
                                 size_t nobs, char *errstr, size_t errstr_size) {
    const bool trend = out->trend != MM_ETS_T_NONE, seasonal = out->season != MM_ETS_S_NONE;
    const size_t m = seasonal ? (size_t)out->m : 1;
    conc_t c = {.y = y, .n = n, .e = out, .i_beta = -1, .i_gamma = -1, .i_phi = -1};
    c.free_season = seasonal && m <= CONC_MAX_FREE_SEASON;
    c.p = 1 + (trend ? 1 : 0) + (c.free_season ? (int)m - 1 : 0);
    c.S = malloc((2 + m) * (size_t)c.p * sizeof(double));
    c.A = malloc((size_t)c.p * (size_t)c.p * sizeof(double));
    c.b = malloc((size_t)c.p * sizeof(double));
    c.Zc = malloc(((size_t)c.p * n + 1) * sizeof(double));
    c.e0 = malloc((n + 1) * sizeof(double));
    if (!c.S || !c.A || !c.b || !c.Zc || !c.e0) {
        free(c.S);
        free(c.A);
        free(c.b);
        free(c.Zc);
        free(c.e0);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "ets: out of memory");
    }
    /* Two runs. First in (alpha, beta*, gamma*, phi) with beta* = beta/alpha
     * and gamma* = gamma/(1-alpha), from R's ets defaults: the admissible
     * region is a box there, and most series end at a small beta. Then a
     * polish in (alpha, beta, gamma, phi) from that optimum: the likelihood's
     * typical valley runs along alpha at nearly constant beta, which is
     * axis-aligned in these coordinates and curved in the first, so the
     * second run walks along it where the first stalls. */
    double x[4], lb[4], ub[4], step[4];
    int d = 0;
    d++;
    if (trend) c.i_beta = d++;
    if (seasonal) c.i_gamma = d++;
    if (out->trend == MM_ETS_T_DAMPED) c.i_phi = d++;
    nlopt_opt opt = nlopt_create(NLOPT_LN_BOBYQA, (unsigned)d);
    if (!opt) {
        free(c.S);
        free(c.A);
        free(c.b);
        free(c.Zc);
        free(c.e0);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "ets: nlopt_create failed");
    }
    /* SSE in units of the data scale: tolerances mean the same for any series */
    double norm = scale * scale * (double)nobs;
    nlopt_set_min_objective(opt, conc_objective, &c);
    nlopt_set_maxeval(opt, 150 * d);
    double best[4] = {0.2, 0, 0, 1}, fbest = HUGE_VAL; /* model terms: alpha, beta, gamma, phi */
    nlopt_result rc = NLOPT_FAILURE;
    int runs = d > 1 ? 2 : 1; /* simple smoothing has a single basin */
    for (int run = 0; run < runs; run++) {
        c.star = run == 0;
        if (c.star) {
            x[0] = 0.2, lb[0] = 1e-4, ub[0] = 1 - 1e-4, step[0] = 0.1;
            if (c.i_beta >= 0)
                x[c.i_beta] = 0.1, lb[c.i_beta] = 1e-4, ub[c.i_beta] = 1 - 1e-4,
                step[c.i_beta] = 0.05;
            if (c.i_gamma >= 0)
                x[c.i_gamma] = 0.05, lb[c.i_gamma] = 1e-4, ub[c.i_gamma] = 1 - 1e-4,
                step[c.i_gamma] = 0.04;
        } else {
            x[0] = best[0], lb[0] = 1e-4, ub[0] = 1 - 1e-4, step[0] = 0.05;
            if (c.i_beta >= 0)
                x[c.i_beta] = best[1], lb[c.i_beta] = 1e-8, ub[c.i_beta] = 1 - 1e-4,
                step[c.i_beta] = 0.005;
            if (c.i_gamma >= 0)
                x[c.i_gamma] = best[2], lb[c.i_gamma] = 1e-8, ub[c.i_gamma] = 1 - 1e-4,
                step[c.i_gamma] = 0.02;
        }
        if (c.i_phi >= 0)
            x[c.i_phi] = run == 0 ? 0.95 : best[3], lb[c.i_phi] = 0.8, ub[c.i_phi] = 0.98,
            step[c.i_phi] = 0.02;
        for (int i = 0; i < d; i++) {
            double room = fmax(ub[i] - x[i], x[i] - lb[i]);
            step[i] = fmin(step[i], 0.5 * room);
        }
        nlopt_set_lower_bounds(opt, lb);
        nlopt_set_upper_bounds(opt, ub);
        nlopt_set_initial_step(opt, step);
        /* the first run only has to find the basin; the polish converges */
        bool last = run == runs - 1;
        nlopt_set_ftol_abs(opt, (last ? 1e-10 : 1e-8) * norm);
        nlopt_set_xtol_rel(opt, last ? 1e-7 : 1e-5);
        double fstart = conc_objective((unsigned)d, x, NULL, &c);
        double fmin = HUGE_VAL;
        rc = nlopt_optimize(opt, x, &fmin);
        if (!(rc > 0 || rc == NLOPT_ROUNDOFF_LIMITED) || fmin > fstart) {
            fmin = fstart; /* keep the start: the run did not improve on it */
            conc_objective((unsigned)d, x, NULL, &c);
        }
        conc_smoothing(&c, x);
        if (fmin < fbest) {
            fbest = fmin;
            best[0] = out->alpha, best[1] = out->beta, best[2] = out->gamma, best[3] = out->phi;
        }
        if (run == 0 && best[1] < POLISH_ABOVE * best[0] && best[2] < POLISH_ABOVE * (1 - best[0]))
            break;
    }
    nlopt_destroy(opt);
    /* back to model terms: the direct coordinates reproduce them exactly */
    c.star = 0;
    x[0] = best[0];
    if (c.i_beta >= 0) x[c.i_beta] = best[1];
    if (c.i_gamma >= 0) x[c.i_gamma] = best[2];
    if (c.i_phi >= 0) x[c.i_phi] = best[3];
    /* recover x0 at the chosen smoothing parameters */
    conc_objective((unsigned)d, x, NULL, &c);
    conc_smoothing(&c, x);
    int k = 0;
    out->l0 = c.x0[k++];
    out->b0 = trend ? c.x0[k++] : 0;
    if (c.free_season) {
        double sum = 0;
        for (size_t j = 0; j + 1 < m; j++) {
            out->s0[j] = c.x0[k + (int)j];
            sum += out->s0[j];
        }
        out->s0[m - 1] = -sum;
    }
    out->n_evals = c.evals;
    free(c.S);
    free(c.A);
    free(c.b);
    free(c.Zc);
    free(c.e0);
    if (!mm_ets_filter(out, y, n, NULL) || !isfinite(out->loglik))
        return mm_errf(MM_ERR_NUMERIC, errstr, errstr_size,
                       "ets: no admissible fit (nlopt status %d)", (int)rc);
    return MM_OK;
}

/* Multiplicative season: not linear in the initial states, so they are
 * searched with the smoothing parameters (seasonal states only for seasons
 * up to CONC_MAX_FREE_SEASON; longer ones keep their start). @p out holds
 * the form and the heuristic start. */
static mm_err_t fit_multiplicative(const double *y, size_t n, mm_ets_t *out, double scale,
                                   size_t nobs, double ymin, double ymax, char *errstr,
                                   size_t errstr_size) {
    const int m = out->m;
    const mm_ets_trend_t trend = out->trend;
    const mm_ets_season_t season = out->season;
    /* The start is the additive-season fit of the same trend, translated
     * (s_mul = 1 + s_add / level, same smoothing): a far better point than
     * the heuristic, so the 12-dimensional search is short. */
    mm_ets_t *warm = malloc(sizeof *warm);
    if (!warm) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "ets: out of memory");
    *warm = *out;
    warm->season = MM_ETS_S_ADD;
    bool have_warm = fit_concentrated(y, n, warm, scale, nobs, NULL, 0) == MM_OK && warm->l0 > 0;
    if (have_warm) {
        double sum = 0;
        for (int j = 0; j < m; j++) {
            double v = 1.0 + warm->s0[j] / warm->l0;
            out->s0[j] = v > 0.05 ? v : 0.05;
            sum += out->s0[j];
        }
        for (int j = 0; j < m; j++) out->s0[j] *= (double)m / sum;
        out->l0 = warm->l0;
        out->b0 = warm->b0;
    }
    objective_t o = {.y = y,
                     .n = n,
                     .e = out,
                     .scale = scale,
                     .i_beta = -1,
                     .i_gamma = -1,
                     .i_phi = -1,
                     .i_b0 = -1,
                     .i_s0 = -1};
    o.norm = scale * scale * (double)nobs;
    double x[ETS_MAX_PARAMS], lb[ETS_MAX_PARAMS], ub[ETS_MAX_PARAMS], step[ETS_MAX_PARAMS];
    int d = 0;
    /* Without a warm start, R's ets defaults: alpha .2, beta .1 alpha,
     * gamma .05 (1-alpha). */
    double a0 = have_warm ? warm->alpha : 0.2;
    double bs0 = have_warm ? clamp(warm->beta / warm->alpha, 1e-4, 1 - 1e-4) : 0.1;
    double gs0 = have_warm ? clamp(warm->gamma / (1 - warm->alpha), 1e-4, 1 - 1e-4) : 0.05;
    double phi0 = have_warm ? warm->phi : 0.97;
    double shrink = have_warm ? 0.25 : 1.0; /* smaller first steps from a good start */
    free(warm);
    x[d] = a0, lb[d] = 1e-4, ub[d] = 1 - 1e-4, step[d] = 0.1 * shrink, d++;
    if (trend != MM_ETS_T_NONE)
        o.i_beta = d, x[d] = bs0, lb[d] = 1e-4, ub[d] = 1 - 1e-4, step[d] = 0.05 * shrink, d++;
    if (season != MM_ETS_S_NONE)
        o.i_gamma = d, x[d] = gs0, lb[d] = 1e-4, ub[d] = 1 - 1e-4, step[d] = 0.05 * shrink, d++;
    if (trend == MM_ETS_T_DAMPED)
        o.i_phi = d, x[d] = phi0, lb[d] = 0.8, ub[d] = 0.98, step[d] = 0.02 * shrink, d++;
    o.i_l0 = d;
    x[d] = out->l0 / scale;
    lb[d] = ymin / scale - 1.0, ub[d] = ymax / scale + 1.0, step[d] = 0.05 * shrink, d++;
    if (trend != MM_ETS_T_NONE) {
        o.i_b0 = d;
        x[d] = out->b0 / scale;
        lb[d] = -0.5, ub[d] = 0.5, step[d] = 0.01 * shrink, d++;
    }
    if (season != MM_ETS_S_NONE && m <= CONC_MAX_FREE_SEASON) {
        o.i_s0 = d;
        for (int j = 0; j < m - 1; j++, d++) {
            if (season == MM_ETS_S_MUL) {
                x[d] = out->s0[j], lb[d] = 0.01, ub[d] = 10.0, step[d] = 0.05 * shrink;
            } else {
                x[d] = out->s0[j] / scale, lb[d] = -2.0, ub[d] = 2.0, step[d] = 0.05;
            }
        }
    }
    for (int i = 0; i < d; i++) {
        if (x[i] < lb[i]) x[i] = lb[i];
        if (x[i] > ub[i]) x[i] = ub[i];
        /* a step must fit inside the box from the start point */
        double room = fmax(ub[i] - x[i], x[i] - lb[i]);
        if (step[i] > 0.5 * room) step[i] = 0.5 * room;
    }

    double best_x[ETS_MAX_PARAMS];
    memcpy(best_x, x, (size_t)d * sizeof(double));
    double f0 = objective_fn((unsigned)d, x, NULL, &o);

    nlopt_opt opt = nlopt_create(NLOPT_LN_BOBYQA, (unsigned)d);
    if (!opt) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "ets: nlopt_create failed");
    nlopt_set_min_objective(opt, objective_fn, &o);
    nlopt_set_lower_bounds(opt, lb);
    nlopt_set_upper_bounds(opt, ub);
    nlopt_set_initial_step(opt, step);
    nlopt_set_ftol_rel(opt, 1e-9);
    nlopt_set_xtol_rel(opt, 1e-6);
    nlopt_set_maxeval(opt, 50 * d);
    double fmin = HUGE_VAL;
    nlopt_result rc = nlopt_optimize(opt, x, &fmin);
    nlopt_destroy(opt);
    if (rc > 0 || rc == NLOPT_ROUNDOFF_LIMITED) {
        if (fmin <= f0) memcpy(best_x, x, (size_t)d * sizeof(double));
    }
    unpack(&o, best_x);
    out->n_evals = o.evals;
    if (!mm_ets_filter(out, y, n, NULL) || !isfinite(out->loglik))
        return mm_errf(MM_ERR_NUMERIC, errstr, errstr_size,
                       "ets: no admissible fit (nlopt status %d)", (int)rc);
    return MM_OK;
}

mm_err_t mm_ets_fit_form(const double *y, size_t n, int m, mm_ets_trend_t trend,
                         mm_ets_season_t season, mm_ets_t *out, char *errstr, size_t errstr_size) {
    memset(out, 0, sizeof *out);
    if (season == MM_ETS_S_NONE) m = 1;
    if (m < 1 || m > MM_ETS_MAX_SEASON || (season != MM_ETS_S_NONE && m < 2))
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "ets: season length %d unusable",
                       m);
    out->trend = trend;
    out->season = season;
    out->m = m;
    out->phi = 1.0;
    size_t nobs = 0;
    double ymin = INFINITY, ymax = -INFINITY, sumabs = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(y[i])) continue;
        nobs++;
        ymin = y[i] < ymin ? y[i] : ymin;
        ymax = y[i] > ymax ? y[i] : ymax;
        sumabs += fabs(y[i]);
    }
    int k = mm_ets_count_params(out) + 1;
    if (nobs < (size_t)k + 2 || (season != MM_ETS_S_NONE && n < 2 * (size_t)m))
        return mm_errf(MM_ERR_INSUFFICIENT_DATA, errstr, errstr_size,
                       "ets: %zu observations are too few for %d parameters", nobs, k);
    if (season == MM_ETS_S_MUL && !(ymin > 0))
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "ets: multiplicative seasonality needs strictly positive data");

    double *yf = malloc(n * sizeof(double));
    if (!yf) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "ets: out of memory");
    fill_gaps(y, n, yf);
    heuristic_init(yf, n, out);
    free(yf);

    double scale = ymax - ymin;
    double meanabs = sumabs / (double)nobs;
    if (!(scale > 1e-9 * meanabs) || scale == 0) scale = meanabs > 0 ? meanabs : 1.0;

    if (season != MM_ETS_S_MUL)
        return fit_concentrated(y, n, out, scale, nobs, errstr, errstr_size);

    return fit_multiplicative(y, n, out, scale, nobs, ymin, ymax, errstr, errstr_size);
}
