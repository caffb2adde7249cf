/*
 * linear.c - the linear learners: ridge regression (forecasting on lags,
 * calendar and exogenous features) and L2-penalised logistic regression
 * (classification), both on standardised features, solved with LAPACK.
 *
 * Standardisation: each column is centred on its mean and divided by its
 * population standard deviation (a constant column gets scale 1). The
 * penalty applies to the standardised coefficients and never to the
 * intercept, exactly as scikit-learn's Ridge(alpha) and
 * LogisticRegression(C) on standardised input, which the golden tests use.
 * A missing feature value (NaN) is replaced by the training mean, i.e. a
 * standardised 0, in fitting and in scoring alike.
 *
 * Workload: a few hundred to a few thousand rows and at most ~100 columns:
 * forming Z'Z costs n p^2 / 2 and the p x p Cholesky solve is negligible.
 * Ridge is one solve; logistic is Newton's method (IRLS), typically under
 * ten iterations, with step halving for safety.
 *
 * Ridge on nested prefixes of one set of rows (a backtest's windows and the
 * final fit: mm_ridge_fit_prefixes) accumulates the moments once, in one
 * pass, and standardises each prefix's normal equations from them: n p^2 / 2
 * for all the fits instead of per fit. The moments are taken about the
 * first row, so large column means do not cancel digits away.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lapacke.h>

#include "models_int.h"

#define LOGISTIC_MAX_ITER 100

void mm_linear_free(mm_linear_t *lin) {
    if (!lin) return;
    free(lin->coef);
    free(lin->mean);
    free(lin->scale);
    memset(lin, 0, sizeof *lin);
}

static bool linear_alloc(mm_linear_t *lin, size_t p) {
    memset(lin, 0, sizeof *lin);
    lin->p = p;
    lin->coef = calloc(p ? p : 1, sizeof(double));
    lin->mean = calloc(p ? p : 1, sizeof(double));
    lin->scale = calloc(p ? p : 1, sizeof(double));
    if (!lin->coef || !lin->mean || !lin->scale) {
        mm_linear_free(lin);
        return false;
    }
    return true;
}

static void column_stats(const double *X, size_t n, size_t p, double *mean, double *scale) {
    for (size_t j = 0; j < p; j++) {
        double sum = 0;
        size_t cnt = 0;
        for (size_t i = 0; i < n; i++) {
            double v = X[i * p + j];
            if (!isnan(v)) {
                sum += v;
                cnt++;
            }
        }
        double mu = cnt ? sum / (double)cnt : 0;
        double ss = 0;
        for (size_t i = 0; i < n; i++) {
            double v = X[i * p + j];
            if (!isnan(v)) ss += (v - mu) * (v - mu);
        }
        double sd = cnt ? sqrt(ss / (double)cnt) : 0;
        mean[j] = mu;
        /* constant (or nearly) columns carry no information: scale 1 keeps them at 0 */
        scale[j] = sd > 1e-12 * (fabs(mu) + 1e-300) && sd > 0 ? sd : 1.0;
    }
}

/* Z = standardised X, missing -> 0. */
static void standardise(const double *X, size_t n, size_t p, const double *mean,
                        const double *scale, double *Z) {
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < p; j++) {
            double v = X[i * p + j];
            Z[i * p + j] = isnan(v) ? 0.0 : (v - mean[j]) / scale[j];
        }
}

double mm_linear_eval(const mm_linear_t *lin, const double *row) {
    double s = lin->intercept;
    for (size_t j = 0; j < lin->p; j++) {
        double v = row[j];
        if (!isnan(v)) s += lin->coef[j] * (v - lin->mean[j]) / lin->scale[j];
    }
    return s;
}

mm_err_t mm_ridge_fit_xy(const double *X, const double *y, size_t n, size_t p, double lambda,
                         mm_linear_t *out, char *errstr, size_t errstr_size) {
    if (n < 2) return mm_errf(MM_ERR_INSUFFICIENT_DATA, errstr, errstr_size, "ridge: %zu rows", n);
    if (!linear_alloc(out, p))
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "ridge: out of memory");
    column_stats(X, n, p, out->mean, out->scale);
    double ybar = 0;
    for (size_t i = 0; i < n; i++) ybar += y[i];
    ybar /= (double)n;
    out->intercept = ybar;
    if (p == 0) return MM_OK;
    double *Z = malloc(n * p * sizeof(double));
    double *A = calloc(p * p, sizeof(double));
    if (!Z || !A) {
        free(Z);
        free(A);
        mm_linear_free(out);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "ridge: out of memory");
    }
    standardise(X, n, p, out->mean, out->scale, Z);
    /* upper triangle of Z'Z + lambda I, and Z'(y - ybar) */
    for (size_t i = 0; i < n; i++) {
        const double *z = Z + i * p;
        double r = y[i] - ybar;
        for (size_t a = 0; a < p; a++) {
            double za = z[a];
            if (za == 0) continue;
            double *Arow = A + a * p;
            for (size_t b = a; b < p; b++) Arow[b] += za * z[b];
            out->coef[a] += za * r;
        }
    }
    for (size_t a = 0; a < p; a++) {
        /* a column that is identically zero (constant feature) gets a unit
         * diagonal so the system stays definite; its coefficient is 0 */
        if (A[a * p + a] == 0 && lambda == 0) A[a * p + a] = 1.0;
        A[a * p + a] += lambda;
    }
    lapack_int info =
        LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', (lapack_int)p, 1, A, (lapack_int)p, out->coef, 1);
    free(Z);
    free(A);
    if (info != 0) {
        mm_linear_free(out);
        return mm_errf(MM_ERR_NUMERIC, errstr, errstr_size,
                       "ridge: normal equations not positive definite (dposv info %d)", (int)info);
    }
    return MM_OK;
}

/* Standardised normal equations of the first @p n rows from their moments
 * about the first row (@p S: column sums, @p Q: upper cross products, @p Sy
 * and @p Qy: target sum and cross products, all of values minus the first
 * row's): the same system mm_ridge_fit_xy forms from the rows themselves
 * (a constant column has zero moments, exactly, and gets scale 1). */
static mm_err_t ridge_from_moments(const double *x0, double y0, size_t n, size_t p, double lambda,
                                   const double *S, const double *Q, double Sy, const double *Qy,
                                   double *A, mm_linear_t *out, char *errstr, size_t errstr_size) {
    if (n < 2) return mm_errf(MM_ERR_INSUFFICIENT_DATA, errstr, errstr_size, "ridge: %zu rows", n);
    if (!linear_alloc(out, p))
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "ridge: out of memory");
    double dn = (double)n;
    out->intercept = y0 + Sy / dn;
    for (size_t j = 0; j < p; j++) {
        double mu = x0[j] + S[j] / dn;
        double css = Q[j * p + j] - S[j] * S[j] / dn;
        double sd = css > 0 ? sqrt(css / dn) : 0;
        out->mean[j] = mu;
        out->scale[j] = sd > 1e-12 * (fabs(mu) + 1e-300) && sd > 0 ? sd : 1.0;
    }
    if (p == 0) return MM_OK;
    for (size_t a = 0; a < p; a++) {
        for (size_t b = a; b < p; b++)
            A[a * p + b] = (Q[a * p + b] - S[a] * S[b] / dn) / (out->scale[a] * out->scale[b]);
        out->coef[a] = (Qy[a] - S[a] * Sy / dn) / out->scale[a];
        if (A[a * p + a] == 0 && lambda == 0) A[a * p + a] = 1.0;
        A[a * p + a] += lambda;
    }
    lapack_int info =
        LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', (lapack_int)p, 1, A, (lapack_int)p, out->coef, 1);
    if (info != 0) {
        mm_linear_free(out);
        return mm_errf(MM_ERR_NUMERIC, errstr, errstr_size,
                       "ridge: normal equations not positive definite (dposv info %d)", (int)info);
    }
    return MM_OK;
}

mm_err_t mm_ridge_fit_prefixes(const double *X, const double *y, size_t p, double lambda,
                               const size_t *rows, size_t k, mm_linear_t *out, char *errstr,
                               size_t errstr_size) {
    memset(out, 0, k * sizeof *out);
    size_t n = k > 0 ? rows[k - 1] : 0;
    bool missing = false;
    for (size_t i = 0; i < n * p && !missing; i++) missing = isnan(X[i]);
    mm_err_t err = MM_OK;
    if (missing || n < 2) {
        /* a missing value is filled with each prefix's own column mean: one
         * fit per prefix */
        for (size_t i = 0; i < k && err == MM_OK; i++)
            err = mm_ridge_fit_xy(X, y, rows[i], p, lambda, &out[i], errstr, errstr_size);
        goto done;
    }
    double *S = calloc(p + 1, sizeof(double));
    double *Qy = calloc(p + 1, sizeof(double));
    double *Q = calloc(p * p + 1, sizeof(double));
    double *A = malloc((p * p + 1) * sizeof(double));
    double *u = malloc((p + 1) * sizeof(double));
    if (!S || !Qy || !Q || !A || !u) {
        err = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "ridge: out of memory");
    } else {
        const double *x0 = X;
        double y0 = y[0], Sy = 0;
        size_t r = 0;
        for (size_t i = 0; i < k && err == MM_OK; i++) {
            for (; r < rows[i]; r++) {
                const double *x = X + r * p;
                double v = y[r] - y0;
                for (size_t a = 0; a < p; a++) u[a] = x[a] - x0[a];
                for (size_t a = 0; a < p; a++) {
                    double ua = u[a];
                    S[a] += ua;
                    Qy[a] += ua * v;
                    if (ua == 0) continue;
                    double *Qrow = Q + a * p;
                    for (size_t b = a; b < p; b++) Qrow[b] += ua * u[b];
                }
                Sy += v;
            }
            err = ridge_from_moments(x0, y0, rows[i], p, lambda, S, Q, Sy, Qy, A, &out[i], errstr,
                                     errstr_size);
        }
    }
    free(S);
    free(Qy);
    free(Q);
    free(A);
    free(u);
done:
    if (err != MM_OK)
        for (size_t i = 0; i < k; i++) mm_linear_free(&out[i]);
    return err;
}

static double log1pexp(double x) {
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

static double sigmoid(double x) {
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

/* sum_i w_i (log(1 + e^eta) - y eta) + |b|^2 / (2C) */
static double logistic_objective(const double *Z, const double *y, const double *w, size_t n,
                                 size_t p, const double *theta, double c) {
    double f = 0;
    for (size_t i = 0; i < n; i++) {
        double eta = theta[0];
        for (size_t j = 0; j < p; j++) eta += theta[1 + j] * Z[i * p + j];
        f += (w ? w[i] : 1.0) * (log1pexp(eta) - y[i] * eta);
    }
    double pen = 0;
    for (size_t j = 0; j < p; j++) pen += theta[1 + j] * theta[1 + j];
    return f + pen / (2.0 * c);
}

mm_err_t mm_logistic_fit_xy(const double *X, const double *y, const double *w, size_t n, size_t p,
                            double c, mm_linear_t *out, char *errstr, size_t errstr_size) {
    if (n < 2)
        return mm_errf(MM_ERR_INSUFFICIENT_DATA, errstr, errstr_size, "logistic: %zu rows", n);
    if (!(c > 0))
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "logistic: C must be > 0");
    if (!linear_alloc(out, p))
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "logistic: out of memory");
    column_stats(X, n, p, out->mean, out->scale);
    size_t q = p + 1;
    double *Z = malloc((n * p + 1) * sizeof(double));
    double *H = malloc(q * q * sizeof(double));
    double *g = malloc(q * sizeof(double));
    double *theta = calloc(q, sizeof(double));
    double *trial = malloc(q * sizeof(double));
    mm_err_t err = MM_OK;
    if (!Z || !H || !g || !theta || !trial) {
        err = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "logistic: out of memory");
        goto done;
    }
    standardise(X, n, p, out->mean, out->scale, Z);
    /* start at the weighted base rate */
    double sw = 0, swy = 0;
    for (size_t i = 0; i < n; i++) {
        double wi = w ? w[i] : 1.0;
        sw += wi;
        swy += wi * y[i];
    }
    double rate = (swy + 0.5) / (sw + 1.0);
    theta[0] = log(rate / (1.0 - rate));
    double f = logistic_objective(Z, y, w, n, p, theta, c);
    bool converged = false;
    for (int it = 0; it < LOGISTIC_MAX_ITER && !converged; it++) {
        memset(H, 0, q * q * sizeof(double));
        memset(g, 0, q * sizeof(double));
        for (size_t i = 0; i < n; i++) {
            const double *z = Z + i * p;
            double eta = theta[0];
            for (size_t j = 0; j < p; j++) eta += theta[1 + j] * z[j];
            double pr = sigmoid(eta), wi = w ? w[i] : 1.0;
            double r = wi * (pr - y[i]), s = wi * pr * (1.0 - pr);
            g[0] += r;
            H[0] += s;
            for (size_t a = 0; a < p; a++) {
                g[1 + a] += r * z[a];
                H[1 + a] += s * z[a]; /* row 0, column 1+a */
                double sza = s * z[a];
                double *Hrow = H + (1 + a) * q;
                for (size_t b = a; b < p; b++) Hrow[1 + b] += sza * z[b];
            }
        }
        for (size_t j = 0; j < p; j++) {
            g[1 + j] += theta[1 + j] / c;
            H[(1 + j) * q + 1 + j] += 1.0 / c;
        }
        H[0] += 1e-12; /* the unpenalised intercept with all p(1-p) ~ 0 */
        lapack_int info =
            LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', (lapack_int)q, 1, H, (lapack_int)q, g, 1);
        if (info != 0) {
            err = mm_errf(MM_ERR_NUMERIC, errstr, errstr_size,
                          "logistic: Hessian not positive definite (dposv info %d)", (int)info);
            goto done;
        }
        /* Newton step with halving until the objective does not increase */
        double step = 1.0, fnew = f;
        for (int half = 0; half < 30; half++) {
            for (size_t j = 0; j < q; j++) trial[j] = theta[j] - step * g[j];
            fnew = logistic_objective(Z, y, w, n, p, trial, c);
            if (fnew <= f) break;
            step *= 0.5;
        }
        double maxstep = 0;
        for (size_t j = 0; j < q; j++) {
            double d = fabs(trial[j] - theta[j]);
            maxstep = d > maxstep ? d : maxstep;
        }
        if (fnew > f) break; /* no descent possible: at the optimum to rounding */
        memcpy(theta, trial, q * sizeof(double));
        converged = maxstep < 1e-10 || f - fnew <= 1e-14 * (fabs(f) + 1e-300);
        f = fnew;
    }
    out->intercept = theta[0];
    memcpy(out->coef, theta + 1, p * sizeof(double));
done:
    free(Z);
    free(H);
    free(g);
    free(theta);
    free(trial);
    if (err != MM_OK) mm_linear_free(out);
    return err;
}
