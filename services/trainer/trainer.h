/*
 * trainer.h - mm-trainer's logic: consume ObservationBatch records, keep each
 * key's history in a local SQLite state store (with the consumed offsets in
 * the same transaction), train keys on their retrain triggers on a worker
 * pool, write artifacts to candidates/ and publish ModelTrained through an
 * outbox. main.c only parses configuration and handles signals.
 */
#ifndef MM_TRAINER_H
#define MM_TRAINER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "mm/blob.h"
#include "mm/conf.h"
#include "mm/err.h"
#include "mm/metrics.h"
#include "mm/spec.h"

typedef struct mm_trainer_config {
    const char *bootstrap;     /* resolved bootstrap servers */
    const mm_kv_list_t *kafka; /* librdkafka pass-through (may be NULL) */
    const char *group_id;      /* consumer group ("mm-trainer") */
    const mm_spec_t *spec;     /* borrowed; outlives the trainer */
    const char *state_path;    /* SQLite state store */
    const char *blob_url;
    mm_blob_opts_t blob_opts;
    int workers;               /* training threads (>= 1) */
    const char *instance_id;   /* written into ModelTrained.trainer */
    int64_t max_series_points; /* longest regular series trained (older points dropped) */
    mm_metrics_t *metrics;     /* borrowed, outlives the trainer; NULL: no metrics */
} mm_trainer_config_t;

typedef struct mm_trainer mm_trainer_t;

/** @brief Open the state store, the blob store, the producer and the consumer. */
mm_trainer_t *mm_trainer_new(const mm_trainer_config_t *cfg, char *errstr, size_t errstr_size);

/**
 * @brief Run until *stop becomes non-zero, then shut down in order: stop
 * intake, finish in-flight training, deliver the outbox (bounded), close the
 * consumer. @returns MM_OK on an orderly stop.
 * @locality the calling thread is the consumer's poll thread.
 */
mm_err_t mm_trainer_run(mm_trainer_t *trainer, volatile sig_atomic_t *stop);

void mm_trainer_destroy(mm_trainer_t *trainer); /* accepts NULL */

/**
 * @brief Readiness for /readyz: the state store is open and the consumer
 * has partitions assigned. @returns true when ready, else false with the
 * reason in @p reason. @locality any thread.
 */
bool mm_trainer_ready(void *trainer, char *reason, size_t reason_size);

/** State store schema migrations (exposed for tests and tools; defined in store.c). */
extern const char *const mm_trainer_migrations[];
extern const size_t mm_trainer_n_migrations;

#endif
