/*
 * batch_metrics.h - the metrics of one mm-scorer batch run, handed over at
 * its end (a batch run exits before anything scrapes it): written for
 * node_exporter's textfile collector (--metrics-file) and/or pushed to a
 * Pushgateway (--metrics-push); docs/operations.md, "Metrics of the one-shot
 * jobs".
 */
#ifndef MM_SCORER_BATCH_METRICS_H
#define MM_SCORER_BATCH_METRICS_H

#include <stddef.h>

#include "mm/err.h"
#include "mm/metrics.h"
#include "scorer.h"

#define MM_SCORER_BATCH_JOB "mm-scorer-batch" /* the Pushgateway's job label */

/** What a batch run did, for its metrics. */
typedef struct mm_scorer_batch_report {
    const char *file;        /* --metrics-file; NULL or "": none */
    const char *push_url;    /* --metrics-push; NULL or "": none */
    const char *instance;    /* the Pushgateway's instance label: the dataset's name */
    int exit_status;         /* the process's exit status (mm/exit.h) */
    double duration_seconds; /* start to end of the run: catch-up, decisions, scoring */
    const mm_scorer_intake_stats_t *intake;
    const mm_scorer_batch_stats_t *stats;
} mm_scorer_batch_report_t;

/**
 * @brief Register the run's metrics in @p metrics (which may already hold the
 * blob store's and dead letters' counters of the run), set them from
 * @p report, and write and/or push them (mm/metrics_job.h): the last success
 * timestamp is now when the exit status is 0, else the previous file's.
 * @returns MM_OK; the first failure with what and where in @p errstr.
 */
mm_err_t mm_scorer_batch_metrics_export(mm_metrics_t *metrics,
                                        const mm_scorer_batch_report_t *report, char *errstr,
                                        size_t errstr_size);

#endif
