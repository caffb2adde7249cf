/*
 * promoter.h - mm-promoter's testable logic: consume ModelTrained, judge each
 * candidate by the dataset spec's promotion policy, record the outcome in the
 * model registry (mm/registry.h) and carry decisions to mm.decisions through
 * the registry's outbox (mm/outbox.h) (docs/ARCHITECTURE.md).
 *
 * Used by services/promoter/main.c (the consumer service) and the unit
 * tests, which drive mm_promoter_handle_trained() without Kafka. Manual
 * promote/rollback and the registry queries live in the registry module,
 * which mmctl links without this service.
 *
 * Effectively-once: every effect of one consumed message (registry rows,
 * aliases, audit, the outbox row and the consumed offset) is written in one
 * SQLite transaction. The blob copy to production/ happens before that
 * transaction and is idempotent (content-addressed, If-None-Match), so a
 * crash at any point either leaves nothing or everything, and a replayed
 * message changes nothing but the stored offset.
 *
 * A promoter handle and its database belong to one thread at a time.
 */
#ifndef MM_PROMOTER_H
#define MM_PROMOTER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/blob.h"
#include "mm/conf.h"
#include "mm/db.h"
#include "mm/err.h"
#include "mm/kafka.h"
#include "mm/metrics.h"
#include "mm/model.h"
#include "mm/records.h"
#include "mm/registry.h"
#include "mm/spec.h"

#define MM_PROMOTER_SERVICE "mm-promoter"
#define MM_PROMOTER_GROUP   "mm-promoter"

typedef struct mm_promoter mm_promoter_t;

typedef struct mm_promoter_config {
    const char *registry_path;    /* SQLite file; created and migrated */
    const mm_spec_t *spec;        /* borrowed: dataset name, hash and the promotion policy */
    mm_blob_t *blob;              /* borrowed: where candidates/ and production/ live; */
    const char *blob_url;         /*   or, when blob is NULL, a store the promoter opens */
    mm_blob_opts_t blob_opts;     /*   with these options (pointers borrowed during new) */
    const char *actor;            /* audit actor; NULL = "mm-promoter" */
    const char *decisions_topic;  /* NULL = MM_TOPIC_DECISIONS */
    const char *deadletter_topic; /* NULL = MM_TOPIC_DEADLETTER */
    /* Kafka, for mm_promoter_run(). NULL bootstrap: no Kafka clients (tests). */
    const char *bootstrap;
    const mm_kv_list_t *kafka; /* librdkafka pass-through properties */
    const char *group_id;      /* NULL = MM_PROMOTER_GROUP */
    size_t outbox_batch;       /* outbox rows per producer batch; 0 = the outbox default */
    int flush_timeout_ms;      /* at destroy, how long to keep delivering the outbox */
    mm_metrics_t *metrics;     /* where the service loop publishes its metrics; NULL = none */
} mm_promoter_config_t;

/**
 * @brief Open the registry, keep the borrowed spec and blob (or open the
 * blob store), and with a bootstrap create the outbox, the producer and the
 * consumer of mm.models (joining the group at the first run poll).
 * @returns the promoter, or NULL with errstr set (what failed, then why).
 */
mm_promoter_t *mm_promoter_new(const mm_promoter_config_t *cfg, char *errstr, size_t errstr_size);

/**
 * @brief Shut down in order: leave the group (consumer close), deliver what
 * the outbox holds within flush_timeout_ms (the rest is re-sent at the next
 * start), destroy the producer, close the registry. Accepts NULL.
 */
void mm_promoter_destroy(mm_promoter_t *promoter);

/** @returns the registry database (borrowed; owned by the promoter). */
mm_db_t *mm_promoter_db(mm_promoter_t *promoter);

/** What happened to one consumed message. */
typedef struct mm_promoter_outcome {
    bool replayed;               /* the train_id was already registered: only the offset moved */
    bool dead_lettered;          /* the message went to the dead-letter topic */
    mm_decision_kind_t decision; /* the ModelDecision published (on a replay: from status) */
    mm_registry_status_t status; /* what the candidate was registered as */
    int32_t version;             /* the version the decision is about (0 if dead-lettered) */
    int32_t champion;            /* the key's champion version after the decision; 0 = none */
    int32_t fallback;            /* the declared fallback served for want of a champion; 0 = none */
    char reason[MM_REGISTRY_REASON_MAX]; /* policy outcome or dead-letter reason */
} mm_promoter_outcome_t;

/**
 * @brief Judge one decoded ModelTrained consumed at (@p topic, @p partition,
 * @p offset) and record the outcome: on approval the artifact is verified
 * and copied to production/ first, then one transaction writes the version,
 * aliases, audit row, the ModelDecision outbox row and next_offset =
 * @p offset + 1. A record that cannot be judged (wrong dataset, an artifact
 * outside candidates/, a missing or corrupt artifact) is dead-lettered in
 * the same way (outbox row + offset). A train_id already registered only
 * advances the offset (@p out->replayed).
 * @returns MM_OK, or an error with nothing written (retry the same message:
 * mm_err_is_retriable() says whether waiting may help).
 */
mm_err_t mm_promoter_handle_trained(mm_promoter_t *promoter, const mm_model_trained_t *rec,
                                    const char *topic, int32_t partition, int64_t offset,
                                    mm_promoter_outcome_t *out, char *errstr, size_t errstr_size);

/**
 * @brief Decode one mm.models message and handle it; a message that does not
 * decode is dead-lettered (original bytes, source topic/partition/offset,
 * reason) and its offset advanced. @returns as mm_promoter_handle_trained().
 */
mm_err_t mm_promoter_handle_message(mm_promoter_t *promoter, const mm_kafka_msg_t *msg,
                                    mm_promoter_outcome_t *out, char *errstr, size_t errstr_size);

/**
 * @brief Put a DeadLetter for @p msg into the outbox and advance the stored
 * offset past it, in one transaction.
 */
mm_err_t mm_promoter_dead_letter(mm_promoter_t *promoter, const mm_kafka_msg_t *msg,
                                 const char *partition_key, mm_err_t code, const char *reason,
                                 char *errstr, size_t errstr_size);

/**
 * @brief The stored next offset of (@p topic, @p partition); *found false if none.
 */
mm_err_t mm_promoter_stored_offset(mm_db_t *db, const char *topic, int32_t partition,
                                   int64_t *next_offset, bool *found, char *errstr,
                                   size_t errstr_size);

/**
 * @brief mm_kafka_rebalance_cbs_t.on_assign with the promoter as opaque:
 * the stored next offset, or MM_OFFSET_BEGINNING when there is none.
 * @locality the consumer's polling thread.
 */
int64_t mm_promoter_on_assign(void *opaque, const char *topic, int32_t partition);

/**
 * @brief Readiness for /readyz (mm_httpd_ready_fn, with the promoter as
 * opaque): the registry is open and the promoter has caught up on mm.models,
 * i.e. after its group assignment the offsets it has handled reached the
 * ends its partitions had when it asked the broker. Until then false with
 * the reason ("no partitions of mm.models assigned", "catching up on
 * mm.models: lag N"); once caught up it stays ready until the run loop ends
 * ("stopping"): a later backlog is lag, not unreadiness.
 * @locality any thread.
 */
bool mm_promoter_ready(void *promoter, char *reason, size_t reason_size);

/**
 * @brief The service: poll the consumer, handle each message (retrying
 * retriable failures with backoff and jitter, without moving past the
 * message), mirror progress with store_offset after each transaction, and
 * drain the outbox until *@p stop becomes non-zero. Needs a promoter made
 * with a bootstrap.
 * @returns MM_OK on a requested stop, else the error that ended the loop.
 */
mm_err_t mm_promoter_run(mm_promoter_t *promoter, volatile sig_atomic_t *stop, char *errstr,
                         size_t errstr_size);

#endif
