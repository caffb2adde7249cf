/*
 * trainer.c - mm-trainer's lifecycle: open the state store, the blob store,
 * the producer and the consumer; run the poll loop; shut down in order.
 *
 * Workload: a steady stream of ObservationBatch records (up to a few
 * thousand rows each) for thousands of keys, and bursts of training when a
 * load ends. The poll thread only does cheap, durable work (intake.c: one
 * SQLite transaction per record), looks for due keys and delivers the
 * outbox; training runs on a worker pool (pool.c, train.c), so the poll loop
 * never starves. The state store is store.c.
 *
 * Effectively-once (docs/ARCHITECTURE.md, "Delivery semantics"):
 *   - history and the consumed offset commit together; on assignment the
 *     consumer seeks to the stored offset (mm/consumer_state.h), so a crash
 *     replays nothing twice;
 *   - a batch is identified by (key, load, batch_seq): a redelivered batch is
 *     ignored, a re-sent observation (same key and time) replaces the old one;
 *   - train_id = sha256(key, spec hash, data watermark, data digest): a key
 *     whose data has not changed since its last model is not retrained;
 *   - artifacts are content-addressed and written with If-None-Match: *;
 *   - ModelTrained and dead letters go through an outbox (mm/outbox.h) written
 *     in the same transaction as the effect and deleted on a successful
 *     delivery report.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/avro.h"
#include "mm/crash.h"
#include "mm/log.h"
#include "mm/util.h"
#include "trainer_int.h"

#define OUTBOX_BATCH         200   /* outbox rows handed to the producer per batch */
#define SCHEDULE_INTERVAL_MS 100   /* how often due keys are looked up */
#define POLL_TIMEOUT_MS      100   /* longest wait for a record */
#define PROGRESS_INTERVAL_MS 10000 /* progress log line */
#define SHUTDOWN_OUTBOX_FLUSH_MS                                                                   \
    10000 /* outbox delivery at shutdown (the rest goes at restart)                                \
           */
#define PRODUCER_DESTROY_FLUSH_MS 5000
#define DEFAULT_MAX_SERIES_POINTS 100000

mm_trainer_t *mm_trainer_new(const mm_trainer_config_t *cfg, char *errstr, size_t errstr_size) {
    mm_trainer_t *t = calloc(1, sizeof(*t));
    if (!t) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    t->cfg = *cfg;
    t->spec = cfg->spec;
    if (t->cfg.workers < 1) t->cfg.workers = 1;
    if (t->cfg.max_series_points <= 0) t->cfg.max_series_points = DEFAULT_MAX_SERIES_POINTS;
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->cond_jobs, NULL);

    if (mm_avro_init(errstr, errstr_size)) goto fail;
    if (mm_trainer_store_open(&t->store, cfg->state_path, t->spec, MM_TRAINER_SERVICE, errstr,
                              errstr_size))
        goto fail;
    /* Delivery reports are served on the poll thread (mm_kafka_producer_poll), so the
     * outbox uses the poll thread's connection; workers insert on their own. */
    if (mm_outbox_init(&t->outbox, t->store.db, OUTBOX_BATCH, errstr, errstr_size)) goto fail;

    /* Check the blob store before consuming anything. */
    {
        mm_blob_t *probe = mm_blob_new(cfg->blob_url, &cfg->blob_opts, errstr, errstr_size);
        if (!probe) goto fail;
        mm_blob_destroy(probe);
    }

    t->producer = mm_kafka_producer_new(cfg->bootstrap, cfg->kafka, mm_outbox_dr_cb, &t->outbox,
                                        errstr, errstr_size);
    if (!t->producer) goto fail;
    mm_kafka_rebalance_cbs_t cbs = {
        .on_assign = mm_trainer__on_assign, .on_revoke = mm_trainer__on_revoke, .opaque = t};
    const char *topics[] = {MM_TOPIC_OBSERVATIONS};
    /* a load arrives far faster than keys train: bounded buffers keep the
     * backlog in the broker, not in this process */
    if (mm_kafka_consumer_props_bounded(cfg->kafka, MM_KAFKA_QUEUE_KBYTES_FOLLOW,
                                        &t->consumer_kafka) != MM_OK) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto fail;
    }
    t->consumer = mm_kafka_consumer_new(cfg->bootstrap, cfg->group_id, topics, 1,
                                        &t->consumer_kafka, &cbs, errstr, errstr_size);
    if (!t->consumer) goto fail;
    if (mm_trainer__metrics_init(t, errstr, errstr_size)) goto fail;
    if (mm_trainer__pool_start(t, errstr, errstr_size)) goto fail;
    return t;
fail:
    mm_trainer_destroy(t);
    return NULL;
}

static void log_progress(mm_trainer_t *t, const char *event) {
    pthread_mutex_lock(&t->lock);
    json_t *f = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "batches",
                          (json_int_t)t->batches, "rows", (json_int_t)t->rows, "duplicate_batches",
                          (json_int_t)t->duplicate_batches, "dead_letters",
                          (json_int_t)t->dead_letters, "trained", (json_int_t)t->trained,
                          "train_skipped", (json_int_t)t->train_skipped, "train_failed",
                          (json_int_t)t->train_failed, "training_queue", (json_int_t)t->n_inflight);
    pthread_mutex_unlock(&t->lock);
    mm_logj(MM_LOG_INFO, event, f, "trainer progress");
}

mm_err_t mm_trainer_run(mm_trainer_t *t, volatile sig_atomic_t *stop) {
    char errstr[512];
    int64_t next_schedule = 0, next_report = mm_mono_ms() + PROGRESS_INTERVAL_MS;
    mm_log_info("trainer_started", "consuming %s with %d training workers", MM_TOPIC_OBSERVATIONS,
                t->cfg.workers);
    while (!*stop) {
        mm_kafka_msg_t msg;
        mm_err_t err =
            mm_kafka_consumer_poll(t->consumer, POLL_TIMEOUT_MS, &msg, errstr, sizeof(errstr));
        if (err == MM_OK) {
            if (mm_trainer__handle_message(t, &msg) == MM_OK) {
                /* Scenario 2 of docs/reliability.md: state committed, Kafka offset not. */
                mm_crash_point("trainer_after_state_commit");
                mm_kafka_consumer_store_offset(t->consumer, msg.topic, msg.partition,
                                               msg.offset + 1);
            } else {
                /* The state store refused the write (disk full, corruption):
                 * stop rather than skip the record. */
                mm_log_error("trainer_stopping", "cannot make progress; stopping");
                break;
            }
        } else if (err != MM_ERR_TIMEOUT) {
            mm_log_warn("consumer_error", "%s", errstr);
            if (mm_err_is_fatal(err)) break;
        }
        int64_t now = mm_mono_ms();
        if (now >= next_schedule) {
            mm_trainer__pool_schedule_due(t);
            mm_trainer__metrics_publish(t);
            if (mm_outbox_drain(&t->outbox, t->producer, NULL, errstr, sizeof(errstr)))
                mm_log_warn("outbox_drain_failed", "%s", errstr);
            next_schedule = now + SCHEDULE_INTERVAL_MS;
        }
        mm_kafka_producer_poll(t->producer, 0);
        if (now >= next_report) {
            log_progress(t, "trainer_progress");
            next_report = now + PROGRESS_INTERVAL_MS;
        }
    }

    /* Orderly shutdown: no new intake; let running jobs finish without further
     * retries, drop queued ones (their keys stay due and resume at restart). */
    mm_log_info("trainer_stopping", "finishing in-flight training");
    t->stop_retries = 1;
    mm_trainer__pool_stop(t);

    /* Deliver what the outbox holds, bounded in time (the rest goes at the next start). */
    if (mm_outbox_flush(&t->outbox, t->producer, SHUTDOWN_OUTBOX_FLUSH_MS, errstr, sizeof(errstr)))
        mm_log_warn("outbox_flush_failed", "%s", errstr);
    mm_trainer__metrics_publish(t);
    log_progress(t, "trainer_stopped");
    return MM_OK;
}

bool mm_trainer_ready(void *trainer, char *reason, size_t reason_size) {
    mm_trainer_t *t = trainer;
    if (!t->store.db) {
        snprintf(reason, reason_size, "state store not open");
        return false;
    }
    if (atomic_load(&t->assigned_partitions) <= 0) {
        snprintf(reason, reason_size, "no partitions of %s assigned", MM_TOPIC_OBSERVATIONS);
        return false;
    }
    return true;
}

void mm_trainer_destroy(mm_trainer_t *t) {
    if (!t) return;
    t->stop_retries = 1;
    mm_trainer__pool_stop(t);
    mm_trainer__pool_free(t);
    mm_kafka_consumer_close(t->consumer);
    mm_kv_list_free(&t->consumer_kafka);
    /* The producer before the outbox (its last reports point into the batch), the outbox
     * before its database. */
    mm_kafka_producer_destroy(t->producer, PRODUCER_DESTROY_FLUSH_MS);
    mm_outbox_free(&t->outbox);
    mm_trainer_store_close(&t->store);
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->cond_jobs);
    free(t);
}
