/*
 * promoter_int.h - what the promoter's files share and nothing else links:
 * the handle itself and the decision step between intake and the registry.
 */
#ifndef MM_PROMOTER_INT_H
#define MM_PROMOTER_INT_H

#include "mm/consumer_state.h"
#include "mm/outbox.h"
#include "promoter.h"

#define MM_PROMOTER__NAME_MAX      1280 /* longest blob name we build (Azure allows 1024) */
#define MM_PROMOTER__OFFSETS_TABLE "consumed_offsets" /* released name of the offsets table */
#define MM_PROMOTER__KEY_MAX       1024 /* longest Kafka key kept as a dead letter's partition key */

struct mm_promoter {
    mm_db_t *db;
    mm_consumer_state_t *offsets; /* consumed_offsets in db: where mm.models resumes */
    const mm_spec_t *spec;
    mm_blob_t *blob;
    mm_blob_t *owned_blob; /* blob, when the promoter opened it */
    char *actor;
    char *decisions_topic;
    char *deadletter_topic;
    mm_outbox_t outbox; /* over db; set up only with Kafka */
    bool has_outbox;
    mm_kafka_producer_t *producer;
    mm_kafka_consumer_t *consumer;
    int flush_timeout_ms;
    mm_metric_t *decisions;      /* mm_promoter_decisions_total{outcome}; NULL without metrics */
    mm_metric_t *outbox_pending; /* mm_promoter_outbox_pending */
};

/** Where a consumed record came from. */
typedef struct mm_promoter__source {
    const char *topic; /* NULL when not from Kafka */
    int32_t partition;
    int64_t offset;
} mm_promoter__source_t;

/**
 * @brief Inside the caller's open transaction: was @p rec's train_id
 * registered already? If so *@p replayed is true and @p out says what it
 * became; nothing is written.
 */
mm_err_t mm_promoter__replay_check(mm_promoter_t *promoter, const mm_model_trained_t *rec,
                                   bool *replayed, mm_promoter_outcome_t *out, char *errstr,
                                   size_t errstr_size);

/**
 * @brief Inside the caller's open transaction: judge @p rec against the
 * key's champion and record the decision (version row, tags, aliases, audit,
 * outbox). When the verdict puts the candidate into service (an approval,
 * or a declared fallback for a key without champion) and the artifact is not
 * yet published (@p published false), nothing is written and *@p needs_publish
 * is set: the caller copies the artifact outside the transaction and asks
 * again. The consumed offset is the caller's.
 */
mm_err_t mm_promoter__decide(mm_promoter_t *promoter, const mm_model_trained_t *rec,
                             const char *production_uri, bool published,
                             const mm_promoter__source_t *source, int64_t now_ms,
                             bool *needs_publish, mm_promoter_outcome_t *out, char *errstr,
                             size_t errstr_size);

#endif
