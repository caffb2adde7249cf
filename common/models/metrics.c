/*
 * metrics.c - forecast and classification metrics, and the normal quantile
 * used for prediction intervals.
 *
 * Workload: called once per backtest window per candidate (tens of points
 * each) and once per key for the baseline; plain loops, no allocation except
 * the sort behind ROC AUC.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models_int.h"

void mm_metrics_init(mm_metrics_t *m) {
    for (size_t i = 0; i < MM_METRIC__COUNT; i++) m->v[i] = NAN;
}

double mm_models__mase_scale(const double *y, size_t n, int season_length) {
    size_t m = season_length > 0 ? (size_t)season_length : 1;
    if (n <= m) m = 1;
    double sum = 0;
    size_t cnt = 0;
    for (size_t t = m; t < n; t++) {
        if (isnan(y[t]) || isnan(y[t - m])) continue;
        sum += fabs(y[t] - y[t - m]);
        cnt++;
    }
    return cnt ? sum / (double)cnt : NAN;
}

void mm_metrics_forecast(const double *actual, const double *pred, size_t n, const double *insample,
                         size_t n_insample, int season_length, mm_metrics_t *out) {
    mm_metrics_init(out);
    double se = 0, ae = 0, sm = 0, bias = 0;
    size_t cnt = 0;
    for (size_t i = 0; i < n; i++) {
        /* Points without an actual (gaps) or without a prediction do not count. */
        if (isnan(actual[i]) || !isfinite(pred[i])) continue;
        double e = pred[i] - actual[i];
        se += e * e;
        ae += fabs(e);
        bias += e;
        double den = fabs(actual[i]) + fabs(pred[i]);
        /* 0/0 (zero demand forecast as zero) is a perfect forecast, not NaN. */
        if (den > 0) sm += 2.0 * fabs(e) / den;
        cnt++;
    }
    if (cnt == 0) return;
    double c = (double)cnt;
    out->v[MM_METRIC_RMSE] = sqrt(se / c);
    out->v[MM_METRIC_MAE] = ae / c;
    out->v[MM_METRIC_SMAPE] = 100.0 * sm / c;
    out->v[MM_METRIC_BIAS] = bias / c;
    if (insample && n_insample > 0) {
        double scale = mm_models__mase_scale(insample, n_insample, season_length);
        if (isfinite(scale) && scale > 0)
            out->v[MM_METRIC_MASE] = (ae / c) / scale;
        else if (isfinite(scale) && ae == 0)
            out->v[MM_METRIC_MASE] = 0; /* flat history, forecast exact */
    }
}

typedef struct scored {
    double score;
    double label;
} scored_t;

static int scored_cmp(const void *a, const void *b) {
    const scored_t *x = a, *y = b;
    return (x->score > y->score) - (x->score < y->score);
}

void mm_metrics_classify(const double *label, const double *score, size_t n, mm_metrics_t *out) {
    mm_metrics_init(out);
    size_t tp = 0, fp = 0, tn = 0, fn = 0, cnt = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(label[i]) || isnan(score[i])) continue;
        bool pos = label[i] > 0.5, hit = score[i] >= 0.5;
        tp += pos && hit;
        fn += pos && !hit;
        fp += !pos && hit;
        tn += !pos && !hit;
        cnt++;
    }
    if (cnt == 0) return;
    /* Zero denominators give 0, as scikit-learn's zero_division default. */
    double prec = (tp + fp) ? (double)tp / (double)(tp + fp) : 0;
    double rec = (tp + fn) ? (double)tp / (double)(tp + fn) : 0;
    out->v[MM_METRIC_ACCURACY] = (double)(tp + tn) / (double)cnt;
    out->v[MM_METRIC_PRECISION] = prec;
    out->v[MM_METRIC_RECALL] = rec;
    out->v[MM_METRIC_F1] = (prec + rec) > 0 ? 2 * prec * rec / (prec + rec) : 0;

    size_t npos = tp + fn, nneg = fp + tn;
    if (npos == 0 || nneg == 0) return; /* AUC undefined with one class */
    scored_t *s = malloc(cnt * sizeof *s);
    if (!s) return;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(label[i]) || isnan(score[i])) continue;
        s[k].score = score[i];
        s[k].label = label[i] > 0.5 ? 1 : 0;
        k++;
    }
    qsort(s, cnt, sizeof *s, scored_cmp);
    /* Mann-Whitney U with mid-ranks for ties (equals the trapezoidal ROC area). */
    double rank_sum = 0;
    for (size_t i = 0; i < cnt;) {
        size_t j = i;
        while (j < cnt && s[j].score == s[i].score) j++;
        double mid = ((double)(i + 1) + (double)j) / 2.0;
        for (size_t q = i; q < j; q++)
            if (s[q].label > 0.5) rank_sum += mid;
        i = j;
    }
    free(s);
    double u = rank_sum - (double)npos * ((double)npos + 1) / 2.0;
    out->v[MM_METRIC_AUC] = u / ((double)npos * (double)nneg);
}

void mm_models__metrics_mean(const mm_metrics_t *sets, size_t k, mm_metrics_t *out) {
    for (size_t i = 0; i < MM_METRIC__COUNT; i++) {
        double sum = 0;
        size_t cnt = 0;
        for (size_t w = 0; w < k; w++) {
            if (isnan(sets[w].v[i])) continue;
            sum += sets[w].v[i];
            cnt++;
        }
        out->v[i] = cnt ? sum / (double)cnt : NAN;
    }
}

/* Acklam's rational approximation, then one Halley step on erfc: full double
 * precision, which the golden interval tests rely on. */
double mm_models__norm_ppf(double p) {
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                               -2.759285104469687e+02, 1.383577518672690e+02,
                               -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                               -1.556989798598866e+02, 6.680131188771972e+01,
                               -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                               -2.400758277161838e+00, -2.549732539343734e+00,
                               4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    if (!(p > 0 && p < 1)) return p == 0 ? -INFINITY : p == 1 ? INFINITY : NAN;
    double x;
    if (p < 0.02425) {
        double q = sqrt(-2 * log(p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    } else if (p <= 1 - 0.02425) {
        double q = p - 0.5, r = q * q;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
    } else {
        double q = sqrt(-2 * log(1 - p));
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    double e = 0.5 * erfc(-x / sqrt(2.0)) - p;
    double u = e * sqrt(2 * M_PI) * exp(x * x / 2);
    return x - u / (1 + x * u / 2);
}

double mm_models__interval_z(double level) {
    return mm_models__norm_ppf(0.5 + level / 2.0);
}
