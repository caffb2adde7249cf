/*
 * blob_metrics.c - what every blob store request costs, for /metrics:
 * mm_blob_request_seconds{op} (a histogram) and mm_blob_errors_total{op,error}
 * (a counter). Labels are the operation and the error kind only, never a
 * blob name or key, so the series stay few whatever the number of models.
 *
 * Process-wide, like the log: a service registers its registry once at
 * start-up (mm_blob_report_metrics) and every blob handle it opens reports
 * there, including handles opened per worker. blob.c calls
 * mm_blob__observe() around each backend request.
 *
 * Workload: one clock read and one or two metric updates per blob request,
 * against requests that cost a file system or network round trip.
 */
#include <stdatomic.h>
#include <time.h>

#include "blob_int.h"
#include "mm/metrics.h"

/* Seconds: a local file read (~10 us) up to a slow remote upload. */
static const double BLOB_SECONDS_BOUNDS[] = {
    0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

typedef struct blob_metrics {
    mm_metric_t *seconds;
    mm_metric_t *errors;
} blob_metrics_t;

static blob_metrics_t installed;
static _Atomic(blob_metrics_t *) current; /* &installed while reporting, else NULL */

mm_err_t mm_blob_report_metrics(mm_metrics_t *metrics, char *errstr, size_t errstr_size) {
    if (!metrics) {
        atomic_store(&current, NULL);
        return MM_OK;
    }
    atomic_store(&current, NULL);
    blob_metrics_t *m = &installed;
    m->seconds = mm_metrics_histogram(
        metrics, "mm_blob_request_seconds",
        "Time of one blob store request (file:// or Azure Blob), by operation", "op",
        BLOB_SECONDS_BOUNDS, sizeof(BLOB_SECONDS_BOUNDS) / sizeof(BLOB_SECONDS_BOUNDS[0]), errstr,
        errstr_size);
    if (!m->seconds) return MM_ERR_INVALID_ARG;
    m->errors = mm_metrics_counter(
        metrics, "mm_blob_errors_total",
        "Blob store requests that failed, by operation and error (MM_ERR_NOT_FOUND of a get is "
        "often an expected answer)",
        "op,error", errstr, errstr_size);
    if (!m->errors) return MM_ERR_INVALID_ARG;
    atomic_store(&current, m);
    return MM_OK;
}

int64_t mm_blob__clock_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

mm_err_t mm_blob__observe(const char *op, int64_t started_ns, mm_err_t err) {
    blob_metrics_t *m = atomic_load(&current);
    if (!m) return err;
    const char *op_label[] = {op};
    mm_metric_observe(m->seconds, op_label, (double)(mm_blob__clock_ns() - started_ns) / 1e9);
    if (err != MM_OK) {
        const char *labels[] = {op, mm_err_name(err)};
        mm_metric_add(m->errors, labels, 1);
    }
    return err;
}
