/*
 * metrics_job.h - the metrics of a job that exits before anything can scrape
 * it (mm-scorer's batch run, a one-shot mm-ingest load), handed over the two
 * ways Prometheus takes a batch job's metrics (docs/operations.md, "Metrics
 * of the one-shot jobs"):
 *
 *   - a file in the text exposition format for node_exporter's textfile
 *     collector, written atomically (temp file next to it, fsync, rename), so
 *     the collector never reads half a file;
 *   - a push to a Prometheus Pushgateway: PUT (a successful run replaces its
 *     group) or POST (a failed run replaces only the metrics it sends) to
 *     <url>/metrics/job/<job>/instance/<instance>.
 *
 * The registry is the services' own (mm/metrics.h); this only renders it at
 * the end of the run and delivers it. The job's last success timestamp is
 * kept across failed runs: a failed run writes the previous file's value
 * again (and does not push it), so an alert on its age keeps working.
 */
#ifndef MM_METRICS_JOB_H
#define MM_METRICS_JOB_H

#include <stdbool.h>
#include <stddef.h>

#include "mm/err.h"
#include "mm/metrics.h"

#define MM_METRICS_JOB_FILE_MAX     (4u << 20) /* bytes of a previous metrics file read back */
#define MM_METRICS_PUSH_TIMEOUT_MS  30000      /* whole push request */
#define MM_METRICS_PUSH_CONNECT_MS  5000
#define MM_METRICS_PUSH_ERROR_SHOWN 200 /* bytes of a Pushgateway error body quoted in errstr */

typedef struct mm_metrics_job {
    const char *file;     /* textfile collector file (…/name.prom); NULL or "": none */
    const char *push_url; /* Pushgateway base URL (http://host:9091); NULL or "": none */
    const char *job;      /* the Pushgateway's job label, e.g. "mm-scorer-batch" */
    const char *instance; /* the Pushgateway's instance label (stable across runs) */
    bool success;         /* the run succeeded (exit status 0) */
    /* The gauge of the last success (..._last_success_timestamp_seconds), registered
     * by mm_metrics_job_export(): now on success, the previous file's value on failure. */
    const char *last_success_name;
    const char *last_success_help;
} mm_metrics_job_t;

/**
 * @brief End-of-run export: register and set the last-success gauge, then
 * write @p job->file and push to @p job->push_url (each when set; both are
 * tried even if the first fails).
 * @returns MM_OK; the first failure (MM_ERR_IO for the file, MM_ERR_TRANSPORT,
 * MM_ERR_TIMEOUT or MM_ERR_HTTP for the push) with what and where in
 * @p errstr (the URL's secrets redacted).
 */
mm_err_t mm_metrics_job_export(mm_metrics_t *metrics, const mm_metrics_job_t *job, char *errstr,
                               size_t errstr_size);

/**
 * @brief Render @p metrics and write it to @p path atomically (a temp file
 * "<path>.tmp.<pid>", which the textfile collector ignores, then rename).
 * @returns MM_OK; MM_ERR_IO naming the path; MM_ERR_NOMEM.
 */
mm_err_t mm_metrics_write_file(mm_metrics_t *metrics, const char *path, char *errstr,
                               size_t errstr_size);

/**
 * @brief The value of the unlabelled sample @p name in the exposition file
 * @p path (as written by mm_metrics_write_file()).
 * @returns MM_OK; MM_ERR_NOT_FOUND when the file or the sample is missing;
 * MM_ERR_IO; MM_ERR_PARSE when the value does not parse.
 */
mm_err_t mm_metrics_file_value(const char *path, const char *name, double *value, char *errstr,
                               size_t errstr_size);

/**
 * @brief Render @p metrics and send them to the Pushgateway at @p url:
 * PUT (@p replace: the group's metrics become exactly these) or POST (only
 * the metrics of the same names are replaced) to
 * <url>/metrics/job/<job>/instance/<instance>. A label value with a
 * character outside [A-Za-z0-9_.-] is sent base64url-encoded
 * ("instance@base64/..."), as the Pushgateway requires for a '/'.
 * @returns MM_OK on a 2xx answer; MM_ERR_TRANSPORT / MM_ERR_TIMEOUT; MM_ERR_HTTP
 * with the status and the start of the body; MM_ERR_INVALID_ARG.
 */
mm_err_t mm_metrics_push(mm_metrics_t *metrics, const char *url, const char *job,
                         const char *instance, bool replace, char *errstr, size_t errstr_size);

#endif
