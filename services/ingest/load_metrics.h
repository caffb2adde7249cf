/*
 * load_metrics.h - the metrics of one one-shot mm-ingest load, handed over
 * at its end (the load exits before anything scrapes it): written for
 * node_exporter's textfile collector (--metrics-file) and/or pushed to a
 * Pushgateway (--metrics-push); docs/operations.md, "Metrics of the one-shot
 * jobs". Also the kinds of dead-letter reasons those metrics count by.
 */
#ifndef MM_INGEST_LOAD_METRICS_H
#define MM_INGEST_LOAD_METRICS_H

#include <stddef.h>

#include "ingest.h"
#include "mm/err.h"
#include "mm/metrics.h"

#define MM_INGEST_LOAD_JOB "mm-ingest" /* the Pushgateway's job label */

/** @returns the kind of a bad row's reason as rows.c words it (MM_INGEST_REJECT_OTHER if none). */
mm_ingest_reject_t mm_ingest_reject_kind(const char *reason);

/** @returns the label value of @p kind: csv, columns, key, entity, time, value or other. */
const char *mm_ingest_reject_name(mm_ingest_reject_t kind);

/** What a load did, for its metrics. */
typedef struct mm_ingest_load_report {
    const char *file;     /* --metrics-file; NULL or "": none */
    const char *push_url; /* --metrics-push; NULL or "": none */
    const char *instance; /* the Pushgateway's instance label: the dataset's name */
    int exit_status;      /* the process's exit status (mm/exit.h) */
    const mm_ingest_stats_t *stats;
} mm_ingest_load_report_t;

/**
 * @brief Register the load's metrics in @p metrics, set them from @p report
 * and write and/or push them (mm/metrics_job.h). A load succeeded when every
 * row read was delivered or dead-lettered (exit status 0 or 2): then the
 * last success timestamp is now, else the previous file's.
 * @returns MM_OK; the first failure with what and where in @p errstr.
 */
mm_err_t mm_ingest_load_metrics_export(mm_metrics_t *metrics, const mm_ingest_load_report_t *report,
                                       char *errstr, size_t errstr_size);

#endif
