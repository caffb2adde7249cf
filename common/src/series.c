/*
 * series.c - stored rows to the regular series the model library takes (see
 * series.h): the one regularisation shared by training and scoring.
 *
 * Workload: once per key per training or scoring run; linear in the rows and
 * the slots, four allocations.
 */
#include "mm/series.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MONTHS_PER_YEAR 12

int64_t mm_series_period_index(mm_freq_t freq, int64_t t0, int64_t t) {
    if (freq == MM_FREQ_MONTH) {
        time_t a = (time_t)(t0 / 1000), b = (time_t)(t / 1000);
        struct tm ta, tb;
        gmtime_r(&a, &ta);
        gmtime_r(&b, &tb);
        return (int64_t)(tb.tm_year - ta.tm_year) * MONTHS_PER_YEAR + (tb.tm_mon - ta.tm_mon);
    }
    int64_t p = mm_freq_period_ms(freq);
    return (t - t0 + p / 2) / p;
}

void mm_regular_series_clear(mm_regular_series_t *s) {
    if (!s) return;
    free(s->time_ms);
    free(s->y);
    free(s->x);
    free(s->exog);
    memset(s, 0, sizeof(*s));
}

mm_series_t mm_regular_series_view(const mm_regular_series_t *s) {
    return (mm_series_t){
        .n = s->n, .time_ms = s->time_ms, .y = s->y, .n_exog = s->n_exog, .exog = s->exog};
}

mm_err_t mm_series_regularise(mm_freq_t freq, const int64_t *time_ms, const double *y,
                              const double *x, size_t n, size_t n_exog, size_t max_periods,
                              mm_regular_series_t *out, char *errstr, size_t errstr_size) {
    memset(out, 0, sizeof(*out));
    if (n == 0) return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "no rows to regularise");
    const int64_t t0 = time_ms[0], period = mm_freq_period_ms(freq);
    int64_t last = mm_series_period_index(freq, t0, time_ms[n - 1]);
    int64_t first = 0;
    if (max_periods > 0 && last + 1 > (int64_t)max_periods) first = last + 1 - (int64_t)max_periods;
    const size_t len = (size_t)(last - first + 1);
    out->n = len;
    out->n_exog = n_exog;
    out->time_ms = malloc(len * sizeof(int64_t));
    out->y = malloc(len * sizeof(double));
    out->x = n_exog ? malloc(len * n_exog * sizeof(double)) : NULL;
    out->exog = n_exog ? calloc(n_exog, sizeof(double *)) : NULL;
    if (!out->time_ms || !out->y || (n_exog && (!out->x || !out->exog))) {
        mm_regular_series_clear(out);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "series of %zu periods too large", len);
    }
    for (size_t i = 0; i < len; i++) {
        out->y[i] = NAN;
        out->time_ms[i] = 0;
        for (size_t j = 0; j < n_exog; j++) out->x[j * len + i] = NAN;
    }
    for (size_t i = 0; i < n; i++) {
        int64_t idx = mm_series_period_index(freq, t0, time_ms[i]) - first;
        if (idx < 0 || idx >= (int64_t)len) continue;
        out->y[idx] = y[i];
        out->time_ms[idx] = time_ms[i];
        for (size_t j = 0; j < n_exog; j++) out->x[j * len + (size_t)idx] = x[i * n_exog + j];
    }
    /* Times of gap slots: one period after the slot before (the first slot kept
     * is a row's unless older slots were cut). */
    for (size_t i = 0; i < len; i++)
        if (out->time_ms[i] == 0 && !(i == 0 && first == 0))
            out->time_ms[i] = i > 0 ? out->time_ms[i - 1] + period : t0 + first * period;
    for (size_t j = 0; j < n_exog; j++) out->exog[j] = out->x + j * len;
    return MM_OK;
}
