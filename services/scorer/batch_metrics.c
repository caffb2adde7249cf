/*
 * batch_metrics.c - the metrics of an mm-scorer batch run (see
 * batch_metrics.h). Every value describes the last run, so each is a gauge
 * ("in the last run"), set once from the run's counts; labels take bounded
 * values only (an outcome, a topic), never a key.
 */
#include "batch_metrics.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mm/kafka.h"
#include "mm/metrics_job.h"
#include "mm/util.h"
#include "scorer_int.h"

double mm_scorer__mono_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct gauge_spec {
    const char *name;
    const char *help;
    const char *labels;
} gauge_spec_t;

/* In the order they are rendered. */
enum {
    G_KEYS,
    G_ANSWERED,
    G_PREDICTIONS,
    G_SINK_SECONDS,
    G_DURATION,
    G_MODEL_LOADS,
    G_MODEL_LOAD_FAILURES,
    G_MODEL_CACHE_HITS,
    G_OBSERVATION_BATCHES,
    G_DEAD_LETTERS,
    G_AS_OF,
    G_EXIT_STATUS,
    G_COUNT
};

static const gauge_spec_t GAUGES[G_COUNT] = {
    [G_KEYS] = {"mm_scorer_batch_keys",
                "Keys the last batch run had to answer: those with scoring data or a decision.",
                NULL},
    [G_ANSWERED] = {"mm_scorer_batch_keys_answered",
                    "Keys answered by the last batch run (with entity columns: entities), by "
                    "outcome: champion, fallback (labelled), no_model, error (the model could "
                    "not be loaded or applied). Keys minus their sum were not reached.",
                    "outcome"},
    [G_PREDICTIONS] = {"mm_scorer_batch_predictions",
                       "Prediction rows the last batch run wrote to the sink and mm.predictions.",
                       NULL},
    [G_SINK_SECONDS] = {"mm_scorer_batch_sink_write_seconds",
                        "Seconds the last batch run spent writing the prediction sink (answers, "
                        "transaction begin and commit).",
                        NULL},
    [G_DURATION] = {"mm_scorer_batch_duration_seconds",
                    "Seconds the last batch run took, start to exit: catch-up on scoring data, "
                    "decisions, scoring, delivery.",
                    NULL},
    [G_MODEL_LOADS] = {"mm_scorer_batch_model_loads",
                       "Model artifacts the last batch run fetched and parsed (one per model; "
                       "failed ones included).",
                       NULL},
    [G_MODEL_LOAD_FAILURES] = {"mm_scorer_batch_model_load_failures",
                               "Model artifact loads of the last batch run that failed (missing, "
                               "corrupt or unreadable artifact).",
                               NULL},
    [G_MODEL_CACHE_HITS] = {"mm_scorer_batch_model_cache_hits",
                            "Answers of the last batch run whose model was already loaded.", NULL},
    [G_OBSERVATION_BATCHES] = {"mm_scorer_batch_observation_batches",
                               "ObservationBatch records the last batch run applied to the "
                               "scoring data while catching up on mm.observations.",
                               NULL},
    [G_DEAD_LETTERS] = {"mm_scorer_batch_dead_letters",
                        "Records the last batch run could not use and sent to the dead-letter "
                        "topic, by the topic they came from.",
                        "topic"},
    [G_AS_OF] = {"mm_scorer_batch_as_of_timestamp_seconds",
                 "The time the last batch run forecast from (--as-of, else the newest "
                 "observation of all keys); 0 without scoring data.",
                 NULL},
    [G_EXIT_STATUS] = {"mm_scorer_batch_exit_status",
                       "Exit status of the last batch run: 0 ok, 1 failure, 2 partial (some keys "
                       "could not be scored), 4 interrupted (docs/operations.md, \"Exit status\").",
                       NULL},
};

static void set(mm_metric_t *g, const char *label, double v) {
    const char *labels[] = {label};
    mm_metric_set(g, label ? labels : NULL, v);
}

mm_err_t mm_scorer_batch_metrics_export(mm_metrics_t *metrics,
                                        const mm_scorer_batch_report_t *report, char *errstr,
                                        size_t errstr_size) {
    if (!metrics || !report || !report->stats || !report->intake)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "batch metrics: NULL argument");
    mm_metric_t *g[G_COUNT];
    for (size_t i = 0; i < G_COUNT; i++) {
        g[i] = mm_metrics_gauge(metrics, GAUGES[i].name, GAUGES[i].help, GAUGES[i].labels, errstr,
                                errstr_size);
        if (!g[i]) return MM_ERR_INVALID_ARG;
    }
    const mm_scorer_batch_stats_t *s = report->stats;
    set(g[G_KEYS], NULL, (double)s->keys);
    set(g[G_ANSWERED], "champion", (double)s->scored);
    set(g[G_ANSWERED], "fallback", (double)s->fallback);
    set(g[G_ANSWERED], "no_model", (double)s->no_model);
    set(g[G_ANSWERED], "error", (double)s->failed);
    set(g[G_PREDICTIONS], NULL, (double)s->predictions);
    set(g[G_SINK_SECONDS], NULL, s->sink_seconds);
    set(g[G_DURATION], NULL, report->duration_seconds);
    set(g[G_MODEL_LOADS], NULL, (double)s->model_loads);
    set(g[G_MODEL_LOAD_FAILURES], NULL, (double)s->model_load_failures);
    set(g[G_MODEL_CACHE_HITS], NULL, (double)s->model_cache_hits);
    set(g[G_OBSERVATION_BATCHES], NULL, (double)report->intake->batches);
    set(g[G_DEAD_LETTERS], MM_TOPIC_OBSERVATIONS, (double)report->intake->dead_letters);
    set(g[G_DEAD_LETTERS], MM_TOPIC_DECISIONS, (double)s->decisions_bad);
    set(g[G_AS_OF], NULL, (double)s->as_of_ms / 1000.0);
    set(g[G_EXIT_STATUS], NULL, (double)report->exit_status);
    mm_metrics_job_t job = {
        .file = report->file,
        .push_url = report->push_url,
        .job = MM_SCORER_BATCH_JOB,
        .instance = report->instance ? report->instance : "",
        .success = report->exit_status == 0,
        .last_success_name = "mm_scorer_batch_last_success_timestamp_seconds",
        .last_success_help = "When a batch run last succeeded (exit status 0), Unix seconds; kept "
                             "from the previous run's file when this one did not.",
    };
    return mm_metrics_job_export(metrics, &job, errstr, errstr_size);
}
