/*
 * request_rows.h - rows a request brings with it, applied to a key's scoring
 * data before the model is chosen. One implementation for both long-running
 * modes: serve (the "covariates"/"rows" of a JSON body) and stream (the
 * feature_names/time_ms/values of a ScoreRequest).
 *
 * Forecast: the rows are the planned (future) exogenous values for the
 * horizon; they replace the key's stored planned rows and must start after
 * its newest observation. Classify: the rows are telemetry to score; they
 * replace the stored telemetry.
 */
#ifndef MM_SCORER_REQUEST_ROWS_H
#define MM_SCORER_REQUEST_ROWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/err.h"
#include "mm/spec.h"
#include "scoring_data.h"

/** Rows in the spec's feature-column order. */
typedef struct mm_request_rows {
    bool given; /* false: the request brought none (the stored rows are used) */
    size_t n_rows;
    const int64_t *time_ms; /* n_rows, increasing */
    const double *x;        /* n_rows * spec->n_feature_columns, row-major; NaN = missing */
} mm_request_rows_t;

/**
 * @brief Apply @p q to @p rows (a key's rows as read from the scoring data).
 * @param forecast the dataset's task is forecasting.
 * @param field the request's name for the rows, used in errors ("covariates").
 * @returns MM_OK (nothing to do when !q->given); MM_ERR_INVALID_ARG naming
 * "<field>[0]" when planned rows do not start after the newest observation;
 * MM_ERR_NOMEM.
 */
mm_err_t mm_request_rows_apply(const mm_request_rows_t *q, bool forecast, const char *field,
                               mm_scoring_rows_t *rows, char *errstr, size_t errstr_size);

/**
 * @brief Rows given by column name (a ScoreRequest), reordered into the
 * spec's feature columns; a feature column not named is missing (NaN).
 * @param values n_rows * n_names, row-major, in @p names' order.
 * @param out filled on success; out->x points into *x_owned (free()).
 * @returns MM_OK; MM_ERR_INVALID_ARG naming the field (feature_names[i]:
 * unknown or repeated; time_ms[i]: not after time_ms[i-1]; values: a count
 * other than n_rows * n_names); MM_ERR_NOMEM.
 */
mm_err_t mm_request_rows_from_named(const mm_spec_t *spec, size_t n_names, const char *const *names,
                                    size_t n_rows, const int64_t *time_ms, const double *values,
                                    size_t n_values, mm_request_rows_t *out, double **x_owned,
                                    char *errstr, size_t errstr_size);

#endif
