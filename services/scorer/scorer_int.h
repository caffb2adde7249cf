/*
 * scorer_int.h - what mm-scorer's files share: the scorer's state and the
 * internal entry points of scorer.c (decisions, batch loop), intake.c
 * (catch-up on mm.observations) and answer.c (one key's answer).
 */
#ifndef MM_SCORER_INT_H
#define MM_SCORER_INT_H

#include "mm/hashmap.h"
#include "mm/kafka.h"
#include "mm/outbox.h"
#include "mm/records.h"
#include "model_cache.h"
#include "scorer.h"
#include "scoring_data.h"
#include "sink.h"

#define MM_SCORER_SERVICE_NAME "mm-scorer"

typedef struct mm_scorer_key_entry {
    mm_model_decision_t decision; /* latest decision for the key (owned) */
} mm_scorer_key_entry_t;

struct mm_scorer {
    mm_scorer_config_t cfg;
    /* What the scorer's consumers and readers are configured with: cfg.kafka over the
     * prefetch bounds of scorer.c (the producer takes cfg.kafka as given). */
    mm_kv_list_t consumer_kafka;
    mm_scorer_sink_t *sink;
    mm_scoring_data_t *scoring; /* state store: scoring data, offsets, outbox */
    mm_outbox_t outbox;         /* dead letters found while catching up */
    bool outbox_ready;
    mm_blob_t *blob;
    mm_model_cache_t *cache;
    mm_kafka_producer_t *producer;
    mm_hashmap_t *by_key;            /* partition key -> entry (keys borrowed from decisions) */
    mm_scorer_key_entry_t **entries; /* insertion order */
    size_t n_entries, cap_entries;
    int64_t decisions_read, decisions_bad;
    int64_t delivered, delivery_failed;
    /* Stream mode (stream.c): answers go into the outbox of this database (the state store), in
     * its open transaction, instead of straight to the producer. NULL in batch mode. */
    mm_db_t *answers_outbox;
};

/** The run-wide settings of one key's answer. */
typedef struct mm_scorer_run {
    const char *run_id;
    int64_t as_of_ms; /* 0: each key from its own latest observation */
    bool as_of_given; /* set by the operator: also bounds classification telemetry */
    size_t horizon;   /* forecast steps */
    mm_scorer_batch_stats_t *stats;
    /* A batch run: a model the blob store could not deliver for a transient
     * reason (it does not answer, after its own retries) fails the answer
     * with that error instead of answering the key with an error record, so
     * the run stops at the first such key rather than wait out the retries of
     * every key after it (docs/reliability.md, scenario 13). */
    bool stop_on_store_error;
    /* Answering one request (serve.c) rather than a batch: the caller's own
     * handles, its changes to the key's rows, and the answer handed back to it
     * instead of the sink and mm.predictions. All NULL in a batch run. */
    mm_scoring_data_t *scoring; /* NULL: the scorer's own store */
    mm_blob_t *blob;            /* NULL: the scorer's own handle */
    /* Called with the key's rows as read, before the model is chosen; an error
     * fails the answer with that error (nothing is delivered). */
    mm_err_t (*amend_rows)(void *opaque, mm_scoring_rows_t *rows, char *errstr, size_t errstr_size);
    /* Called with the answer in place of the sink and mm.predictions. */
    mm_err_t (*deliver)(void *opaque, const mm_prediction_batch_t *p, char *errstr,
                        size_t errstr_size);
    void *hook_opaque;
} mm_scorer_run_t;

/**
 * @brief Answer @p key: champion, labelled fallback or "no model", into the
 * sink's open transaction and onto mm.predictions.
 * @param decision the key's latest decision, or NULL when it has none.
 * @returns MM_OK when answered (a model that could not be applied is counted
 * in stats->failed and answered with an error record); a sink or producer
 * error otherwise.
 */
mm_err_t mm_scorer__answer_key(mm_scorer_t *scorer, const char *key,
                               const mm_model_decision_t *decision, const mm_scorer_run_t *run,
                               char *errstr, size_t errstr_size);

/** @brief Dead-letter a consumed record as it came, with @p reason (mm.decisions). */
void mm_scorer__dead_letter(mm_scorer_t *scorer, const mm_kafka_msg_t *msg, mm_err_t why,
                            const char *reason);

/**
 * @brief Decode one mm.decisions record and make it its key's production
 * model (the latest per key wins); an undecodable record is dead-lettered,
 * another dataset's ignored. @p applied (may be NULL) says whether the map
 * changed. @returns MM_OK; MM_ERR_NOMEM.
 */
mm_err_t mm_scorer__apply_decision(mm_scorer_t *scorer, const mm_kafka_msg_t *msg, bool *applied,
                                   char *errstr, size_t errstr_size);

/** @returns @p key's latest decision (owned by the map: valid until the next decision), or NULL. */
const mm_model_decision_t *mm_scorer__decision(mm_scorer_t *scorer, const char *key);

/** @returns how many keys have a decision. */
size_t mm_scorer__decision_keys(const mm_scorer_t *scorer);

/**
 * @brief Apply one mm.observations record to the scoring data with its
 * offset in one transaction, or dead-letter it (undecodable, another spec)
 * through the state store's outbox. Counts into @p stats.
 * @returns MM_OK once the record's effect and offset are durable; MM_ERR_DB.
 */
mm_err_t mm_scorer__apply_observation(mm_scorer_t *scorer, const mm_kafka_msg_t *msg,
                                      mm_scorer_intake_stats_t *stats, char *errstr,
                                      size_t errstr_size);

/** @returns monotonic seconds, for durations finer than a millisecond (batch_metrics.c). */
double mm_scorer__mono_seconds(void);

/** @brief Encode @p p and hand it to the producer for mm.predictions (stream mode: to the
 * answers outbox). */
mm_err_t mm_scorer__produce(mm_scorer_t *scorer, const mm_prediction_batch_t *p, char *errstr,
                            size_t errstr_size);

#endif
