/*
 * promoter_int.h - what the promoter's files share and nothing else links:
 * the handle itself and the decision step between intake and the registry.
 */
#ifndef MM_PROMOTER_INT_H
#define MM_PROMOTER_INT_H

#include <stdatomic.h>

#include "mm/consumer_state.h"
#include "mm/outbox.h"
#include "promoter.h"

#define MM_PROMOTER__NAME_MAX      1280 /* longest blob name we build (Azure allows 1024) */
#define MM_PROMOTER__OFFSETS_TABLE "consumed_offsets" /* released name of the offsets table */
#define MM_PROMOTER__KEY_MAX       1024 /* longest Kafka key kept as a dead letter's partition key */

#define MM_PROMOTER__LAG_PARTITIONS 32 /* partitions of mm.models with a lag series */

/** One assigned partition of mm.models, followed until the backlog is consumed. */
typedef struct mm_promoter__part {
    int32_t partition;
    int64_t next; /* next offset to handle: where it resumed, then past each handled message;
                     MM_OFFSET_BEGINNING until then for a partition without a stored offset */
    int64_t low;  /* watermarks read from the broker after the assignment; */
    int64_t end;  /*   -1 until read */
} mm_promoter__part_t;

/**
 * How far through mm.models the promoter is (progress.c): the readiness
 * /readyz reports, and the consumer lag gauge. Everything but the atomics
 * belongs to the polling thread.
 */
typedef struct mm_promoter__progress {
    mm_promoter__part_t *parts; /* assigned partitions, until caught up */
    size_t n_parts, cap_parts;
    int64_t next_query_ms;   /* a failed watermark query is retried from then */
    int64_t next_publish_ms; /* when the lag gauge is published next */
    mm_metric_t *lag;        /* mm_promoter_consumer_lag_messages{topic,partition}; NULL = none */
    int32_t lag_partitions[MM_PROMOTER__LAG_PARTITIONS]; /* partitions with a lag series */
    size_t n_lag_partitions;
    atomic_int state;        /* progress.c: waiting, catching up, caught up, stopped */
    _Atomic int64_t backlog; /* messages left to catch up on; -1 while unknown */
} mm_promoter__progress_t;

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
    mm_promoter__progress_t progress;
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

/* ------------------------------------------------------------ progress.c */

/** @brief Create the lag gauge in @p metrics (NULL: none). */
mm_err_t mm_promoter__progress_init(mm_promoter_t *promoter, mm_metrics_t *metrics, char *errstr,
                                    size_t errstr_size);
/** @brief Free what the progress holds. */
void mm_promoter__progress_free(mm_promoter_t *promoter);
/**
 * @brief mm_kafka_rebalance_cbs_t callbacks with the promoter as opaque:
 * on_assign resumes where the registry says (mm_promoter_on_assign) and
 * follows the partition; on_revoke stops following it.
 */
int64_t mm_promoter__on_assign(void *opaque, const char *topic, int32_t partition);
void mm_promoter__on_revoke(void *opaque, const char *topic, int32_t partition, bool lost);
/**
 * @brief After each consumer poll, before the message is handled: read the
 * end of newly assigned partitions, update readiness, publish the lag gauge
 * when due.
 */
void mm_promoter__progress_poll(mm_promoter_t *promoter);
/** @brief The message at (@p partition, @p offset) of mm.models is handled and stored. */
void mm_promoter__progress_handled(mm_promoter_t *promoter, int32_t partition, int64_t offset);
/** @brief The run loop ended: /readyz says "stopping". */
void mm_promoter__progress_stopped(mm_promoter_t *promoter);

#endif
