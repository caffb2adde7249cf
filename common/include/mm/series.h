/*
 * series.h - a key's rows regularised onto the dataset's period: the one
 * code path by which both mm-trainer (training data) and mm-scorer (scoring
 * data) turn stored rows into the regular series the model library takes,
 * so the two cannot disagree on gaps, slots or the window kept.
 *
 * Workload: once per key per training or scoring; a few hundred to a few
 * thousand rows; a handful of allocations.
 */
#ifndef MM_SERIES_H
#define MM_SERIES_H

#include <stddef.h>
#include <stdint.h>

#include "mm/err.h"
#include "mm/model.h"
#include "mm/spec.h"

/** A regular series; every array is owned (mm_regular_series_clear()). */
typedef struct mm_regular_series {
    size_t n;
    size_t n_exog;
    int64_t *time_ms;    /* one slot per period */
    double *y;           /* NaN where the period has no row (a gap) */
    double *x;           /* n_exog * n, column-major: x[j * n + i]; NaN in gaps */
    const double **exog; /* exog[j] = x + j * n */
} mm_regular_series_t;

/**
 * @brief The period index of @p t counted from @p t0: whole periods, rounded
 * to the nearest; calendar months for monthly data.
 */
int64_t mm_series_period_index(mm_freq_t freq, int64_t t0, int64_t t);

/**
 * @brief Regularise @p n rows sorted by time (time_ms[i], y[i], and
 * row-major exogenous values x[i * n_exog + j]) onto the period of @p freq:
 * one slot per period from the first row to the last, a period without a row
 * is a gap (NaN target and covariates, its time one period after the slot
 * before), and only the newest @p max_periods slots are kept (0: all).
 * @returns MM_OK; MM_ERR_INVALID_ARG for no rows; MM_ERR_NOMEM.
 */
mm_err_t mm_series_regularise(mm_freq_t freq, const int64_t *time_ms, const double *y,
                              const double *x, size_t n, size_t n_exog, size_t max_periods,
                              mm_regular_series_t *out, char *errstr, size_t errstr_size);

/** @returns the model library's view of @p s (borrowing its arrays). */
mm_series_t mm_regular_series_view(const mm_regular_series_t *s);

/** @brief Free the arrays and zero @p s. Accepts NULL. */
void mm_regular_series_clear(mm_regular_series_t *s);

#endif
