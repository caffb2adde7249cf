/*
 * horizon.c - what forecasting over a horizon needs alike in the backtest
 * (train_forecast.c, backtest.c) and at scoring (score.c): exogenous values
 * resolved step by step (given values, else the last known one carried
 * forward; a column not known in advance only carried forward), the
 * buffer holding them, and clipping at zero for a series that
 * never went negative. One implementation, so a backtest forecasts exactly
 * as mm_model_forecast will.
 *
 * Workload: once per backtest window and once per forecast call; h x n_exog
 * values.
 */
#include <math.h>
#include <stdlib.h>

#include "models_int.h"

void mm_models__resolve_exog(size_t n_exog, const double *const *given, size_t given_off,
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

void mm_models__resolve_known_exog(size_t n_exog, uint32_t known, const double *const *given,
                                   size_t given_off, const double *last_known, size_t h,
                                   double **out) {
    for (size_t j = 0; j < n_exog; j++) {
        /* a column known only up to the forecast origin gets no future values */
        const double *col = given && (known >> j & 1u) ? given[j] : NULL;
        const double *one[1] = {col};
        double *dst[1] = {out[j]};
        mm_models__resolve_exog(1, col ? one : NULL, given_off, last_known ? last_known + j : NULL,
                                h, dst);
    }
}

void mm_models__last_known_exog(size_t n_exog, const double *const *exog, size_t upto,
                                double *out) {
    for (size_t j = 0; j < n_exog; j++) {
        out[j] = NAN;
        for (size_t i = upto; i-- > 0;)
            if (!isnan(exog[j][i])) {
                out[j] = exog[j][i];
                break;
            }
    }
}

bool mm_models__exog_buf_init(mm_models__exog_buf_t *eb, size_t n_exog, size_t h) {
    eb->mem = malloc((n_exog * h + 1) * sizeof(double));
    if (!eb->mem) return false;
    for (size_t j = 0; j < n_exog; j++) eb->col[j] = eb->mem + j * h;
    return true;
}

void mm_models__exog_buf_free(mm_models__exog_buf_t *eb) {
    free(eb->mem);
    eb->mem = NULL;
}

void mm_models__clip_nonneg(bool nonneg, double *mean, size_t h) {
    /* A series that never went negative (sales) is not forecast below zero. */
    if (!nonneg) return;
    for (size_t k = 0; k < h; k++)
        if (mean[k] < 0) mean[k] = 0;
}
