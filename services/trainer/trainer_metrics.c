/*
 * trainer_metrics.c - mm-trainer's Prometheus metrics (docs/operations.md).
 *
 * The intake and training code keep plain counters (trainer_int.h) that the
 * progress log also reports; the poll thread publishes their increase here
 * every scheduling round, so the hot paths pay nothing for metrics. Only the
 * training time is observed where it happens, by the worker.
 */
#include <stdatomic.h>
#include <stdio.h>

#include "mm/util.h"
#include "trainer_int.h"

/* Training time buckets, seconds: from a cached naive fit to a slow ensemble. */
static const double TRAIN_SECONDS_BOUNDS[] = {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

typedef struct metric_def {
    mm_metric_t **slot;
    const char *name;
    const char *help;
} metric_def_t;

mm_err_t mm_trainer__metrics_init(mm_trainer_t *t, char *errstr, size_t errstr_size) {
    mm_metrics_t *registry = t->cfg.metrics;
    if (!registry) return MM_OK;
    mm_trainer_metrics_t *m = &t->metrics;
    const metric_def_t counters[] = {
        {&m->batches, "mm_trainer_batches_consumed_total",
         "ObservationBatch records consumed and applied."},
        {&m->rows, "mm_trainer_rows_consumed_total", "Observation rows applied to key history."},
        {&m->dead_letters, "mm_trainer_dead_letters_total",
         "Consumed records the trainer could not use, sent to the dead-letter topic."},
        {&m->duplicate_batches, "mm_trainer_duplicate_batches_total",
         "Redelivered batches recognised and ignored."},
        {&m->trained, "mm_trainer_models_trained_total",
         "Keys trained and published as candidates."},
        {&m->skipped, "mm_trainer_models_skipped_total",
         "Keys not retrained because their data had not changed since the last model."},
        {&m->failed, "mm_trainer_models_failed_total", "Keys whose training failed."},
    };
    for (size_t i = 0; i < MM_ARRAY_SIZE(counters); i++) {
        *counters[i].slot = mm_metrics_counter(registry, counters[i].name, counters[i].help, NULL,
                                               errstr, errstr_size);
        if (!*counters[i].slot) return MM_ERR_INVALID_ARG;
    }
    m->queue_depth =
        mm_metrics_gauge(registry, "mm_trainer_training_queue_depth",
                         "Keys queued for training or training now.", NULL, errstr, errstr_size);
    m->assigned = mm_metrics_gauge(registry, "mm_trainer_assigned_partitions",
                                   "Partitions of mm.observations assigned to this trainer.", NULL,
                                   errstr, errstr_size);
    m->train_seconds = mm_metrics_histogram(
        registry, "mm_trainer_training_seconds",
        "Wall time to train one key: history load, fit, artifact upload, state write.", NULL,
        TRAIN_SECONDS_BOUNDS, MM_ARRAY_SIZE(TRAIN_SECONDS_BOUNDS), errstr, errstr_size);
    if (!m->queue_depth || !m->assigned || !m->train_seconds) return MM_ERR_INVALID_ARG;
    return MM_OK;
}

void mm_trainer__metrics_publish(mm_trainer_t *t) {
    mm_trainer_metrics_t *m = &t->metrics;
    if (!t->cfg.metrics) return;
    pthread_mutex_lock(&t->lock);
    const int64_t now[] = {t->batches, t->rows,          t->dead_letters, t->duplicate_batches,
                           t->trained, t->train_skipped, t->train_failed};
    size_t depth = t->n_inflight;
    pthread_mutex_unlock(&t->lock);
    mm_metric_t *const counters[] = {m->batches, m->rows,    m->dead_letters, m->duplicate_batches,
                                     m->trained, m->skipped, m->failed};
    for (size_t i = 0; i < MM_ARRAY_SIZE(counters); i++) {
        if (now[i] > m->published[i])
            mm_metric_add(counters[i], NULL, (double)(now[i] - m->published[i]));
        m->published[i] = now[i];
    }
    mm_metric_set(m->queue_depth, NULL, (double)depth);
    mm_metric_set(m->assigned, NULL, (double)atomic_load(&t->assigned_partitions));
}
