/*
 * request_rows.c - rows a request brings, checked and applied to a key's
 * scoring data (request_rows.h). Shared by serve (serve.c) and stream
 * (stream_request.c), so both answer the same rows the same way.
 *
 * Workload: per request, a copy of at most the request's rows.
 */
#include "request_rows.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Replace rows [from, n) of @p rows with the request's rows (no target: NaN). */
static mm_err_t replace_tail(mm_scoring_rows_t *rows, size_t from, const mm_request_rows_t *q,
                             char *errstr, size_t errstr_size) {
    size_t n = from + q->n_rows, nx = rows->n_exog;
    int64_t *t = realloc(rows->time_ms, (n ? n : 1) * sizeof(*t));
    if (t) rows->time_ms = t;
    double *y = realloc(rows->y, (n ? n : 1) * sizeof(*y));
    if (y) rows->y = y;
    double *x = nx ? realloc(rows->x, (n ? n : 1) * nx * sizeof(*x)) : rows->x;
    if (x) rows->x = x;
    if (!t || !y || (nx && !x)) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
    for (size_t i = 0; i < q->n_rows; i++) {
        rows->time_ms[from + i] = q->time_ms[i];
        rows->y[from + i] = NAN;
        for (size_t j = 0; j < nx; j++) rows->x[(from + i) * nx + j] = q->x[i * nx + j];
    }
    rows->n = n;
    return MM_OK;
}

mm_err_t mm_request_rows_apply(const mm_request_rows_t *q, bool forecast, const char *field,
                               mm_scoring_rows_t *rows, char *errstr, size_t errstr_size) {
    if (!q || !q->given) return MM_OK;
    if (!forecast) { /* telemetry to score replaces the stored telemetry */
        mm_err_t err = replace_tail(rows, 0, q, errstr, errstr_size);
        rows->n_observed = rows->n;
        return err;
    }
    if (rows->n_observed > 0 && q->n_rows > 0 &&
        q->time_ms[0] <= rows->time_ms[rows->n_observed - 1])
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "%s[0]: its time is not after the key's newest observation", field);
    return replace_tail(rows, rows->n_observed, q, errstr, errstr_size);
}

mm_err_t mm_request_rows_from_named(const mm_spec_t *spec, size_t n_names, const char *const *names,
                                    size_t n_rows, const int64_t *time_ms, const double *values,
                                    size_t n_values, mm_request_rows_t *out, double **x_owned,
                                    char *errstr, size_t errstr_size) {
    memset(out, 0, sizeof(*out));
    *x_owned = NULL;
    const size_t nx = spec->n_feature_columns;
    if (n_names > 0 && n_rows > SIZE_MAX / n_names)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "time_ms: %zu rows is too many",
                       n_rows);
    if (n_values != n_rows * n_names)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "values: %zu values, expected len(time_ms) * len(feature_names) = %zu",
                       n_values, n_rows * n_names);
    size_t *col = calloc(n_names ? n_names : 1, sizeof(*col));
    if (!col) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
    mm_err_t err = MM_OK;
    for (size_t k = 0; k < n_names && !err; k++) {
        size_t j = 0;
        while (j < nx && (!names[k] || strcmp(names[k], spec->feature_columns[j]) != 0)) j++;
        if (j == nx)
            err = mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                          "feature_names[%zu] '%.64s' is not a feature column of dataset %s", k,
                          names[k] ? names[k] : "", spec->name);
        for (size_t p = 0; p < k && !err; p++)
            if (col[p] == j)
                err = mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                              "feature_names[%zu] '%.64s' repeats feature_names[%zu]", k, names[k],
                              p);
        col[k] = j;
    }
    for (size_t i = 1; i < n_rows && !err; i++)
        if (time_ms[i] <= time_ms[i - 1])
            err = mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                          "time_ms[%zu]: %" PRId64 " is not after time_ms[%zu] (%" PRId64
                          "); rows must be in increasing time order",
                          i, time_ms[i], i - 1, time_ms[i - 1]);
    double *x = NULL;
    if (!err && n_rows > 0 && nx > 0) {
        x = malloc(n_rows * nx * sizeof(*x));
        if (!x) err = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    if (!err) {
        for (size_t i = 0; x && i < n_rows; i++) {
            for (size_t j = 0; j < nx; j++) x[i * nx + j] = NAN;
            for (size_t k = 0; k < n_names; k++) x[i * nx + col[k]] = values[i * n_names + k];
        }
        out->given = n_rows > 0;
        out->n_rows = n_rows;
        out->time_ms = time_ms;
        out->x = x;
        *x_owned = x;
    }
    free(col);
    return err;
}
