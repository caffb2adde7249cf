/*
 * metrics.h - a small thread-safe registry of Prometheus metrics (counters,
 * gauges, histograms with fixed buckets) rendered in the text exposition
 * format 0.0.4 for GET /metrics (see mm/httpd.h).
 *
 * Names follow Prometheus naming: mm_<service>_<what>_<unit>, counters end
 * in _total, durations are in _seconds. Labels take a small, bounded set of
 * values (an outcome, a route): each metric holds at most
 * MM_METRICS_MAX_SERIES label-value sets, so a per-key label cannot grow it
 * without bound; an update for one more set is dropped and counted in
 * mm_metrics_series_dropped_total.
 *
 * Updates may come from any thread; a scrape renders a consistent copy of
 * each metric. Every update function accepts a NULL metric and does
 * nothing, so code paths run the same with metrics off.
 */
#ifndef MM_METRICS_H
#define MM_METRICS_H

#include <stddef.h>

#include "mm/buf.h"
#include "mm/err.h"

#define MM_METRICS_MAX_LABELS      4   /* label names per metric */
#define MM_METRICS_MAX_SERIES      32  /* label-value sets per metric */
#define MM_METRICS_MAX_BUCKETS     32  /* histogram upper bounds, +Inf not counted */
#define MM_METRICS_MAX_LABEL_VALUE 128 /* bytes of one label value */
#define MM_METRICS_CONTENT_TYPE    "text/plain; version=0.0.4; charset=utf-8"

typedef struct mm_metrics mm_metrics_t; /* the registry */
typedef struct mm_metric mm_metric_t;   /* one metric family, owned by its registry */

/** @brief A new, empty registry. @returns NULL only when out of memory. */
mm_metrics_t *mm_metrics_new(void);
/** @brief Free the registry and every metric in it. Accepts NULL. */
void mm_metrics_destroy(mm_metrics_t *metrics);

/**
 * @brief Register a counter (a value that only goes up).
 * @param name Prometheus metric name ending in _total.
 * @param help one line saying what is counted.
 * @param labels comma-separated label names ("outcome", "route,status") or
 *        NULL for none.
 * @returns the metric (owned by @p metrics), or NULL with the reason in
 * @p errstr: an invalid or duplicate name, invalid label names.
 * @locality any thread, but usually at start-up.
 */
mm_metric_t *mm_metrics_counter(mm_metrics_t *metrics, const char *name, const char *help,
                                const char *labels, char *errstr, size_t errstr_size);

/** @brief Register a gauge (a value that goes up and down); as mm_metrics_counter(). */
mm_metric_t *mm_metrics_gauge(mm_metrics_t *metrics, const char *name, const char *help,
                              const char *labels, char *errstr, size_t errstr_size);

/**
 * @brief Register a histogram with fixed buckets; as mm_metrics_counter().
 * @param bounds the buckets' upper bounds, strictly increasing and finite;
 *        the +Inf bucket is implied.
 * @param n_bounds 1 .. MM_METRICS_MAX_BUCKETS.
 */
mm_metric_t *mm_metrics_histogram(mm_metrics_t *metrics, const char *name, const char *help,
                                  const char *labels, const double *bounds, size_t n_bounds,
                                  char *errstr, size_t errstr_size);

/**
 * @brief Add @p value (>= 0 for a counter; a negative one is ignored) to a
 * counter or gauge.
 * @param label_values one value per label name, in order; NULL for a metric
 *        without labels.
 */
void mm_metric_add(mm_metric_t *metric, const char *const *label_values, double value);

/** @brief Set a gauge to @p value. */
void mm_metric_set(mm_metric_t *metric, const char *const *label_values, double value);

/** @brief Record one observation of @p value in a histogram. */
void mm_metric_observe(mm_metric_t *metric, const char *const *label_values, double value);

/**
 * @brief Append every metric, in registration order, to @p out in the
 * Prometheus text exposition format 0.0.4 (content type
 * MM_METRICS_CONTENT_TYPE).
 * @returns MM_OK, or MM_ERR_NOMEM when @p out's limit is reached.
 */
mm_err_t mm_metrics_render(mm_metrics_t *metrics, mm_buf_t *out);

#endif
