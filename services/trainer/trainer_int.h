/*
 * trainer_int.h - what the parts of mm-trainer share: the trainer itself,
 * and the entry points of its intake (intake.c), its training of one key
 * (train.c) and its worker pool (pool.c). trainer.c wires them together.
 */
#ifndef MM_TRAINER_INT_H
#define MM_TRAINER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "mm/blob.h"
#include "mm/kafka.h"
#include "mm/outbox.h"
#include "store.h"
#include "trainer.h"

#define MM_TRAINER_SERVICE "mm-trainer"
/* Keys queued for training at once. */
#define MM_TRAINER_JOB_QUEUE_CAP 256

#define MM_TRAINER_N_COUNTERS 7 /* batches .. failed below */
/* Partitions whose consumer lag series the trainer keeps current (the registry's series cap). */
#define MM_TRAINER_LAG_PARTITIONS 32
/* The trainer's Prometheus metrics: the counters of struct mm_trainer, published from the
 * poll thread, and the training time observed by the workers. Every handle
 * is NULL when the trainer runs without a registry. */
typedef struct mm_trainer_metrics {
    mm_metric_t *batches, *rows, *dead_letters, *duplicate_batches;
    mm_metric_t *trained, *skipped, *failed;
    mm_metric_t *queue_depth, *assigned, *train_seconds;
    int64_t published[MM_TRAINER_N_COUNTERS]; /* their values at the last publish, in order */
    mm_metric_t *lag;                         /* consumer lag per partition (trainer_metrics.c) */
    int32_t lag_partitions[MM_TRAINER_LAG_PARTITIONS]; /* partitions with a lag series */
    size_t n_lag_partitions;
} mm_trainer_metrics_t;

typedef struct mm_trainer_job {
    char *partition_key;
} mm_trainer_job_t;

struct mm_trainer {
    mm_trainer_config_t cfg;
    const mm_spec_t *spec;
    mm_trainer_store_t store; /* the poll thread's connection */
    mm_kafka_producer_t *producer;
    mm_kafka_consumer_t *consumer;
    mm_kv_list_t consumer_kafka; /* cfg.kafka over bounded fetch buffers */

    /* worker pool (pool.c) */
    pthread_t *threads;
    int n_threads;
    pthread_mutex_t lock;
    pthread_cond_t cond_jobs;
    mm_trainer_job_t queue[MM_TRAINER_JOB_QUEUE_CAP];
    size_t q_head, q_len;
    char **inflight; /* keys queued or training (small: <= queue cap + workers) */
    size_t n_inflight, cap_inflight;
    bool stopping;
    /* Set once at shutdown; retry waits (train.c) give up when it is. */
    volatile int stop_retries;

    /* outbox delivery over the poll thread's db (delivery reports land there) */
    mm_outbox_t outbox;

    /* counters (poll thread, except trained/train_skipped/train_failed under lock) */
    int64_t batches, rows, dead_letters, duplicate_batches;
    int64_t trained, train_skipped, train_failed;

    atomic_int assigned_partitions; /* changed by the rebalance callbacks, read by /readyz */
    mm_trainer_metrics_t metrics;   /* trainer_metrics.c */
};

/**
 * @brief Decode, check and apply one consumed record (or dead-letter it).
 * @returns MM_OK when the record's effect and offset are durable; an error
 * when the state store refused the write (the caller stops).
 * @locality the poll thread.
 */
mm_err_t mm_trainer__handle_message(mm_trainer_t *trainer, const mm_kafka_msg_t *msg);

/** mm_kafka_rebalance_cbs_t callbacks with the trainer as opaque. */
int64_t mm_trainer__on_assign(void *opaque, const char *topic, int32_t partition);
void mm_trainer__on_revoke(void *opaque, const char *topic, int32_t partition, bool lost);

/**
 * @brief Train one key: load history, build the series, fit, write the
 * artifact, record the model and queue ModelTrained. Failures are logged and
 * counted; the key then stays due with its next attempt postponed.
 * @locality a worker thread, with its own @p db and @p blob.
 */
void mm_trainer__train_key(mm_trainer_t *trainer, mm_db_t *db, mm_blob_t *blob, const char *key);

/** @brief Register the trainer's metrics in cfg.metrics (nothing when NULL). */
mm_err_t mm_trainer__metrics_init(mm_trainer_t *trainer, char *errstr, size_t errstr_size);
/** @brief Bring the metrics up to date with the counters (poll thread). */
void mm_trainer__metrics_publish(mm_trainer_t *trainer);
/** @brief Count one dead letter by its reason (the error code's name; poll thread). */
void mm_trainer__metrics_dead_letter(mm_trainer_t *trainer, mm_err_t code);

/** @brief Start cfg.workers training threads. */
mm_err_t mm_trainer__pool_start(mm_trainer_t *trainer, char *errstr, size_t errstr_size);
/** @brief Queue due keys that are not already queued or training (poll thread). */
void mm_trainer__pool_schedule_due(mm_trainer_t *trainer);
/** @brief Drop queued jobs, let running ones finish, join the threads. */
void mm_trainer__pool_stop(mm_trainer_t *trainer);
/** @brief Free what the pool holds (after mm_trainer__pool_stop). */
void mm_trainer__pool_free(mm_trainer_t *trainer);

#endif
