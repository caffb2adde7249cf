/*
 * load_metrics.c - the metrics of a one-shot mm-ingest load (see
 * load_metrics.h). Every value describes the last load, so each is a gauge
 * ("in the last load"), set once from the load's counts; the only label is
 * the kind of a dead letter's reason, a fixed set, never a key or a file.
 */
#include "load_metrics.h"

#include <string.h>

#include "mm/metrics_job.h"
#include "mm/util.h"

/* Reason prefixes as rows.c writes them (a test pins each to a real bad row). */
static const struct {
    const char *prefix;
    mm_ingest_reject_t kind;
} REASON_PREFIXES[] = {
    {"wrong column count", MM_INGEST_REJECT_COLUMNS},
    {"empty key column", MM_INGEST_REJECT_KEY},
    {"key column ", MM_INGEST_REJECT_KEY},
    {"partition key longer", MM_INGEST_REJECT_KEY},
    {"empty entity column", MM_INGEST_REJECT_ENTITY},
    {"entity longer", MM_INGEST_REJECT_ENTITY},
    {"unparsable time", MM_INGEST_REJECT_TIME},
    {"unparsable number", MM_INGEST_REJECT_VALUE},
    {"label column ", MM_INGEST_REJECT_VALUE},
};

static const char *const REJECT_NAMES[MM_INGEST_REJECT_COUNT] = {
    [MM_INGEST_REJECT_CSV] = "csv",     [MM_INGEST_REJECT_COLUMNS] = "columns",
    [MM_INGEST_REJECT_KEY] = "key",     [MM_INGEST_REJECT_ENTITY] = "entity",
    [MM_INGEST_REJECT_TIME] = "time",   [MM_INGEST_REJECT_VALUE] = "value",
    [MM_INGEST_REJECT_OTHER] = "other",
};

mm_ingest_reject_t mm_ingest_reject_kind(const char *reason) {
    for (size_t i = 0; reason && i < MM_ARRAY_SIZE(REASON_PREFIXES); i++)
        if (strncmp(reason, REASON_PREFIXES[i].prefix, strlen(REASON_PREFIXES[i].prefix)) == 0)
            return REASON_PREFIXES[i].kind;
    return MM_INGEST_REJECT_OTHER;
}

const char *mm_ingest_reject_name(mm_ingest_reject_t kind) {
    return (unsigned)kind < MM_INGEST_REJECT_COUNT ? REJECT_NAMES[kind] : "other";
}

enum {
    G_FILES,
    G_ROWS_READ,
    G_ROWS_PRODUCED,
    G_ROWS_DEAD,
    G_ROWS_UNSENT,
    G_ROWS_FAILED,
    G_KEYS,
    G_BATCHES,
    G_DURATION,
    G_PACED,
    G_EXIT_STATUS,
    G_COUNT
};

static const struct {
    const char *name, *help, *labels;
} GAUGES[G_COUNT] = {
    [G_FILES] = {"mm_ingest_load_files", "Sources (files, stdin) the last load opened.", NULL},
    [G_ROWS_READ] = {"mm_ingest_load_rows_read",
                     "Data records the last load read (malformed ones included; header rows and "
                     "blank lines not).",
                     NULL},
    [G_ROWS_PRODUCED] = {"mm_ingest_load_rows_produced",
                         "Rows the last load produced in ObservationBatch records on "
                         "mm.observations.",
                         NULL},
    [G_ROWS_DEAD] = {"mm_ingest_load_rows_dead_lettered",
                     "Rows the last load sent to the dead-letter topic, by kind of reason: csv, "
                     "columns, key, entity, time, value, other.",
                     "reason"},
    [G_ROWS_UNSENT] = {"mm_ingest_load_rows_unsent",
                       "Rows the last load read but did not send (stopped while paced).", NULL},
    [G_ROWS_FAILED] = {"mm_ingest_load_rows_delivery_failed",
                       "Rows in records of the last load whose delivery failed.", NULL},
    [G_KEYS] = {"mm_ingest_load_keys", "Distinct partition keys in the last load.", NULL},
    [G_BATCHES] = {"mm_ingest_load_batches", "ObservationBatch records the last load produced.",
                   NULL},
    [G_DURATION] = {"mm_ingest_load_duration_seconds",
                    "Seconds the last load took, start to the last delivery report.", NULL},
    [G_PACED] = {"mm_ingest_load_paced_seconds",
                 "Seconds of the last load spent waiting for the pace group to consume.", NULL},
    [G_EXIT_STATUS] = {"mm_ingest_load_exit_status",
                       "Exit status of the last load: 0 ok, 1 failure, 2 some rows "
                       "dead-lettered, 4 interrupted (docs/operations.md, \"Exit status\").",
                       NULL},
};

mm_err_t mm_ingest_load_metrics_export(mm_metrics_t *metrics, const mm_ingest_load_report_t *report,
                                       char *errstr, size_t errstr_size) {
    if (!metrics || !report || !report->stats)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "load metrics: NULL argument");
    mm_metric_t *g[G_COUNT];
    for (size_t i = 0; i < G_COUNT; i++) {
        g[i] = mm_metrics_gauge(metrics, GAUGES[i].name, GAUGES[i].help, GAUGES[i].labels, errstr,
                                errstr_size);
        if (!g[i]) return MM_ERR_INVALID_ARG;
    }
    const mm_ingest_stats_t *s = report->stats;
    mm_metric_set(g[G_FILES], NULL, (double)s->files);
    mm_metric_set(g[G_ROWS_READ], NULL, (double)s->rows_read);
    mm_metric_set(g[G_ROWS_PRODUCED], NULL, (double)s->rows_emitted);
    for (int k = 0; k < MM_INGEST_REJECT_COUNT; k++) {
        const char *label[] = {mm_ingest_reject_name((mm_ingest_reject_t)k)};
        mm_metric_set(g[G_ROWS_DEAD], label, (double)s->rows_deadlettered_by[k]);
    }
    mm_metric_set(g[G_ROWS_UNSENT], NULL, (double)s->rows_buffered);
    mm_metric_set(g[G_ROWS_FAILED], NULL, (double)s->rows_failed);
    mm_metric_set(g[G_KEYS], NULL, (double)s->keys);
    mm_metric_set(g[G_BATCHES], NULL, (double)s->batches);
    mm_metric_set(g[G_DURATION], NULL, s->seconds);
    mm_metric_set(g[G_PACED], NULL, s->paced_seconds);
    mm_metric_set(g[G_EXIT_STATUS], NULL, (double)report->exit_status);
    mm_metrics_job_t job = {
        .file = report->file,
        .push_url = report->push_url,
        .job = MM_INGEST_LOAD_JOB,
        .instance = report->instance ? report->instance : "",
        .success = report->exit_status == MM_INGEST_EXIT_OK ||
                   report->exit_status == MM_INGEST_EXIT_DEADLETTERS,
        .last_success_name = "mm_ingest_load_last_success_timestamp_seconds",
        .last_success_help = "When a load last finished with every row delivered or "
                             "dead-lettered (exit status 0 or 2), Unix seconds; kept from the "
                             "previous load's file when this one did not.",
    };
    return mm_metrics_job_export(metrics, &job, errstr, errstr_size);
}
