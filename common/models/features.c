/*
 * features.c - the one feature code path for training and scoring: target
 * lags and rolling means (forecasting), calendar terms, exogenous values,
 * rolling telemetry aggregates (classification), and labels derived from an
 * event column with a look-ahead window.
 *
 * Workload: one row per training point (a few thousand per key) and one row
 * per recursive forecast step; the layout is a pure function of the config,
 * so a row built at scoring time has the columns the model was fitted on.
 *
 * Missing values: a lag that falls on a gap or before the data is NaN; each
 * learner decides what NaN means (ridge and logistic fill the training mean,
 * XGBoost follows its learnt default direction).
 */
#include <math.h>
#include <string.h>

#include "mm/clock.h"
#include "models_int.h"

/* Calendar columns: 6 day-of-week dummies (Monday is the base), 11 month
 * dummies (January is the base), week of year as one sine/cosine pair, and
 * for sub-daily data 23 hour-of-day dummies. Dummies, not ordinals, because
 * the linear learners need them; the tree learner splits them just as well. */
#define CAL_DOW   6
#define CAL_MONTH 11
#define CAL_WOY   2
#define CAL_HOUR  23

static int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static int iso_p(int y) {
    return (y + y / 4 - y / 100 + y / 400) % 7;
}

static int iso_weeks_in_year(int y) {
    return (iso_p(y) == 4 || iso_p(y - 1) == 3) ? 53 : 52;
}

static bool is_leap(int y) {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

void mm_models__civil_from_ms(int64_t ms, mm_models__civil_t *out) {
    int64_t days = floor_div(ms, MM_MODELS__MS_PER_DAY);
    int64_t rem = ms - days * MM_MODELS__MS_PER_DAY;
    out->hour = (int)(rem / 3600000);
    mm_civil_from_days(days, &out->year, &out->month, &out->day);
    /* 1970-01-01 was a Thursday (Monday = 0). */
    out->dow = (int)(((days % 7) + 7 + 3) % 7);

    static const int cum[] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    int ordinal = cum[out->month - 1] + out->day + (out->month > 2 && is_leap(out->year));
    int week = (ordinal - (out->dow + 1) + 10) / 7;
    if (week < 1)
        week = iso_weeks_in_year(out->year - 1);
    else if (week > iso_weeks_in_year(out->year))
        week = 1;
    out->iso_week = week;
}

void mm_models__layout_init(const mm_model_config_t *cfg, size_t n_exog, mm_models__layout_t *lay) {
    memset(lay, 0, sizeof *lay);
    const mm_feature_config_t *f = &cfg->features;
    lay->hourly = cfg->period_ms > 0 && cfg->period_ms < MM_MODELS__MS_PER_DAY;
    lay->n_cal = f->calendar ? CAL_DOW + CAL_MONTH + CAL_WOY + (lay->hourly ? CAL_HOUR : 0) : 0;
    lay->n_exog = n_exog;
    if (cfg->task == MM_TASK_FORECAST) {
        lay->n_lags = f->n_lags;
        lay->n_ywin = f->n_windows;
        for (size_t i = 0; i < f->n_lags; i++)
            if ((size_t)f->lags[i] > lay->max_lookback) lay->max_lookback = (size_t)f->lags[i];
        for (size_t i = 0; i < f->n_windows; i++)
            if ((size_t)f->windows[i] > lay->max_lookback)
                lay->max_lookback = (size_t)f->windows[i];
    } else {
        lay->n_xwin = 4 * f->n_windows * n_exog;
    }
    lay->width = lay->n_lags + lay->n_ywin + lay->n_cal + lay->n_exog + lay->n_xwin;
}

static double *calendar_cols(const mm_models__layout_t *lay, int64_t time_ms, double *col) {
    if (!lay->n_cal) return col;
    mm_models__civil_t cv;
    mm_models__civil_from_ms(time_ms, &cv);
    for (int d = 1; d <= CAL_DOW; d++) *col++ = cv.dow == d;
    for (int mo = 2; mo <= 12; mo++) *col++ = cv.month == mo;
    double ang = 2.0 * M_PI * (double)(cv.iso_week - 1) / 52.1775;
    *col++ = sin(ang);
    *col++ = cos(ang);
    if (lay->hourly)
        for (int hr = 1; hr <= CAL_HOUR; hr++) *col++ = cv.hour == hr;
    return col;
}

void mm_models__forecast_row(const mm_model_config_t *cfg, const mm_models__layout_t *lay,
                             const double *y, size_t t, int64_t time_ms, const double *exog_t,
                             double *row) {
    const mm_feature_config_t *f = &cfg->features;
    double *col = row;
    for (size_t i = 0; i < lay->n_lags; i++) {
        size_t lag = (size_t)f->lags[i];
        *col++ = lag <= t ? y[t - lag] : NAN;
    }
    for (size_t i = 0; i < lay->n_ywin; i++) {
        size_t w = (size_t)f->windows[i];
        double sum = 0;
        size_t cnt = 0;
        for (size_t k = 1; k <= w && k <= t; k++) {
            if (!isnan(y[t - k])) {
                sum += y[t - k];
                cnt++;
            }
        }
        *col++ = cnt ? sum / (double)cnt : NAN;
    }
    col = calendar_cols(lay, time_ms, col);
    for (size_t j = 0; j < lay->n_exog; j++) *col++ = exog_t[j];
}

/* Row @p t of the classification features: needs rows t+1-max(window)..t. */
static void classify_row(const mm_model_config_t *cfg, const mm_models__layout_t *lay, size_t t,
                         int64_t time_ms, const double *const *exog, double *col) {
    const mm_feature_config_t *f = &cfg->features;
    for (size_t j = 0; j < lay->n_exog; j++) *col++ = exog[j][t];
    for (size_t wi = 0; wi < f->n_windows; wi++) {
        size_t w = (size_t)f->windows[wi];
        size_t from = t + 1 >= w ? t + 1 - w : 0;
        for (size_t j = 0; j < lay->n_exog; j++) {
            double sum = 0, sq = 0, mn = INFINITY, mx = -INFINITY;
            size_t cnt = 0;
            for (size_t k = from; k <= t; k++) {
                double v = exog[j][k];
                if (isnan(v)) continue;
                sum += v;
                sq += v * v;
                mn = v < mn ? v : mn;
                mx = v > mx ? v : mx;
                cnt++;
            }
            if (cnt == 0) {
                col[0] = col[1] = col[2] = col[3] = NAN;
            } else {
                double mean = sum / (double)cnt;
                double var = sq / (double)cnt - mean * mean;
                col[0] = mean;
                col[1] = var > 0 ? sqrt(var) : 0;
                col[2] = mn;
                col[3] = mx;
            }
            col += 4;
        }
    }
    calendar_cols(lay, time_ms, col);
}

void mm_models__classify_rows(const mm_model_config_t *cfg, const mm_models__layout_t *lay,
                              size_t n, const int64_t *time_ms, const double *const *exog,
                              double *X) {
    for (size_t t = 0; t < n; t++) classify_row(cfg, lay, t, time_ms[t], exog, X + t * lay->width);
}

void mm_models__classify_last_row(const mm_model_config_t *cfg, const mm_models__layout_t *lay,
                                  size_t n, int64_t time_ms, const double *const *exog,
                                  double *row) {
    classify_row(cfg, lay, n - 1, time_ms, exog, row);
}

void mm_models__labels(const double *y, size_t n, size_t n_known, int lookahead, double *label) {
    if (n_known > n) n_known = n;
    if (lookahead <= 0) {
        for (size_t t = 0; t < n; t++) label[t] = isnan(y[t]) ? NAN : (y[t] > 0.5 ? 1.0 : 0.0);
        return;
    }
    size_t L = (size_t)lookahead;
    /* Walk backwards tracking the nearest event after t: O(n). */
    size_t next_event = SIZE_MAX;
    for (size_t i = n; i-- > 0;) {
        if (next_event != SIZE_MAX && next_event - i <= L)
            label[i] = 1.0;
        else if (i + L < n_known)
            label[i] = 0.0;
        else
            label[i] = NAN; /* the window is not fully observed: unknown */
        if (i < n_known && !isnan(y[i]) && y[i] > 0) next_event = i;
    }
}
