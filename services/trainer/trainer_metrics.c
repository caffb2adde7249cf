/*
 * trainer_metrics.c - mm-trainer's Prometheus metrics (docs/operations.md).
 *
 * The intake and training code keep plain counters (trainer_int.h) that the
 * progress log also reports; the poll thread publishes their increase here
 * every scheduling round, so the hot paths pay nothing for metrics. Only the
 * training time is observed where it happens, by the worker, and a dead
 * letter is counted by its reason where it is written.
 *
 * Consumer lag is read from the consumer itself on the poll thread
 * (mm_kafka_consumer_lag: cached watermarks and positions, no request), one
 * gauge series per assigned partition of mm.observations, labelled by topic
 * and partition and never by key. A partition that is no longer assigned
 * reads 0 here: its new owner reports it.
 */
#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "mm/util.h"
#include "trainer_int.h"

/* Training time buckets, seconds: from a cached naive fit to a slow ensemble. */
static const double TRAIN_SECONDS_BOUNDS[] = {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

/* Index of dead_letters in the published counters: counted by reason, not published. */
#define DEAD_LETTERS_INDEX 2

typedef struct metric_def {
    mm_metric_t **slot;
    const char *name;
    const char *help;
    const char *labels;
} metric_def_t;

mm_err_t mm_trainer__metrics_init(mm_trainer_t *t, char *errstr, size_t errstr_size) {
    mm_metrics_t *registry = t->cfg.metrics;
    if (!registry) return MM_OK;
    mm_trainer_metrics_t *m = &t->metrics;
    const metric_def_t counters[] = {
        {&m->batches, "mm_trainer_batches_consumed_total",
         "ObservationBatch records consumed and applied.", NULL},
        {&m->rows, "mm_trainer_rows_consumed_total", "Observation rows applied to key history.",
         NULL},
        {&m->dead_letters, "mm_trainer_dead_letters_total",
         "Consumed records the trainer could not use, sent to the dead-letter topic, by reason "
         "(the error code: parse, schema, config for another dataset spec, ...).",
         "reason"},
        {&m->duplicate_batches, "mm_trainer_duplicate_batches_total",
         "Redelivered batches recognised and ignored.", NULL},
        {&m->trained, "mm_trainer_models_trained_total",
         "Keys trained and published as candidates.", NULL},
        {&m->skipped, "mm_trainer_models_skipped_total",
         "Keys not retrained because their data had not changed since the last model.", NULL},
        {&m->failed, "mm_trainer_models_failed_total", "Keys whose training failed.", NULL},
    };
    for (size_t i = 0; i < MM_ARRAY_SIZE(counters); i++) {
        *counters[i].slot = mm_metrics_counter(registry, counters[i].name, counters[i].help,
                                               counters[i].labels, errstr, errstr_size);
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
    m->lag = mm_metrics_gauge(registry, "mm_trainer_consumer_lag_messages",
                              "Messages of an assigned partition not yet consumed by this trainer "
                              "(high watermark minus position); 0 once the partition is revoked.",
                              "topic,partition", errstr, errstr_size);
    if (!m->queue_depth || !m->assigned || !m->train_seconds || !m->lag) return MM_ERR_INVALID_ARG;
    return MM_OK;
}

/* "MM_ERR_PARSE" -> "parse": a short, bounded label value. */
static void reason_label(mm_err_t code, char *out, size_t size) {
    const char *name = mm_err_name(code);
    if (strncmp(name, "MM_ERR_", 7) == 0) name += 7;
    size_t i = 0;
    for (; name[i] && i + 1 < size; i++) out[i] = (char)tolower((unsigned char)name[i]);
    out[i] = '\0';
}

void mm_trainer__metrics_dead_letter(mm_trainer_t *t, mm_err_t code) {
    if (!t->metrics.dead_letters) return;
    char reason[32];
    reason_label(code, reason, sizeof(reason));
    const char *labels[] = {reason};
    mm_metric_add(t->metrics.dead_letters, labels, 1);
}

/* What one lag read saw: which partitions reported. */
typedef struct lag_seen {
    mm_trainer_metrics_t *m;
    bool seen[MM_TRAINER_LAG_PARTITIONS];
} lag_seen_t;

static void set_lag(mm_trainer_metrics_t *m, int32_t partition, double value) {
    char topic[] = MM_TOPIC_OBSERVATIONS, part[16];
    snprintf(part, sizeof(part), "%d", (int)partition);
    const char *labels[] = {topic, part};
    mm_metric_set(m->lag, labels, value);
}

static void on_lag(void *opaque, const char *topic, int32_t partition, int64_t lag) {
    lag_seen_t *ls = opaque;
    mm_trainer_metrics_t *m = ls->m;
    if (strcmp(topic, MM_TOPIC_OBSERVATIONS) != 0) return;
    size_t i = 0;
    while (i < m->n_lag_partitions && m->lag_partitions[i] != partition) i++;
    if (i == m->n_lag_partitions) {
        if (i == MM_TRAINER_LAG_PARTITIONS) return; /* the registry holds no more series */
        m->lag_partitions[m->n_lag_partitions++] = partition;
    }
    ls->seen[i] = true;
    if (lag >= 0) set_lag(m, partition, (double)lag); /* unknown yet: keep the last value */
}

static void publish_lag(mm_trainer_t *t) {
    mm_trainer_metrics_t *m = &t->metrics;
    if (!m->lag || !t->consumer) return;
    lag_seen_t ls = {.m = m};
    char errstr[256];
    if (mm_kafka_consumer_lag(t->consumer, on_lag, &ls, errstr, sizeof(errstr)) != MM_OK) return;
    /* Partitions no longer assigned read 0. */
    for (size_t i = 0; i < m->n_lag_partitions; i++)
        if (!ls.seen[i]) set_lag(m, m->lag_partitions[i], 0);
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
        if (i != DEAD_LETTERS_INDEX && now[i] > m->published[i])
            mm_metric_add(counters[i], NULL, (double)(now[i] - m->published[i]));
        m->published[i] = now[i];
    }
    mm_metric_set(m->queue_depth, NULL, (double)depth);
    mm_metric_set(m->assigned, NULL, (double)atomic_load(&t->assigned_partitions));
    publish_lag(t);
}
