/*
 * promoter.h - mm-promoter's testable logic: the model registry (SQLite),
 * the promotion policy, manual promote/rollback, and the registry's outbox
 * (mm/outbox.h) that carries decisions to mm.decisions (DESIGN.md sections 5
 * and 9).
 *
 * Used by services/promoter/main.c (the consumer service), tools/mmctl (the
 * admin CLI: registry queries, manual operations, reports) and the unit tests,
 * which drive mm_promoter_handle_trained() without Kafka.
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
#include "mm/db.h"
#include "mm/err.h"
#include "mm/kafka.h"
#include "mm/model.h"
#include "mm/outbox.h"
#include "mm/records.h"
#include "mm/spec.h"

#define MM_PROMOTER_SERVICE "mm-promoter"
#define MM_PROMOTER_GROUP   "mm-promoter"

/* Blob name prefixes: the trainer writes candidates, scorers read production. */
#define MM_PROMOTER_CANDIDATES_PREFIX "candidates/"
#define MM_PROMOTER_PRODUCTION_PREFIX "production/"

/* Aliases a key can carry in the registry. */
#define MM_ALIAS_CHAMPION   "champion"
#define MM_ALIAS_PREVIOUS   "previous"
#define MM_ALIAS_CHALLENGER "challenger"

/* ------------------------------------------------------------ registry */

/**
 * @brief Open (creating and migrating) the registry database at @p path.
 * @returns a handle owned by the caller (mm_db_close), or NULL with errstr set.
 */
mm_db_t *mm_promoter_registry_open(const char *path, char *errstr, size_t errstr_size);

/** @returns the registry schema version the code migrates to. */
int mm_promoter_registry_schema_version(void);

/**
 * @brief The production blob name of a candidate: leading "candidates/"
 * replaced by "production/". @returns MM_ERR_INVALID_ARG if @p candidate_uri
 * is not under candidates/, MM_ERR_NOMEM if @p out is too small.
 */
mm_err_t mm_promoter_production_name(const char *candidate_uri, char *out, size_t out_size);

/* ------------------------------------------------------------ promoter */

typedef struct mm_promoter mm_promoter_t;

typedef struct mm_promoter_config {
    const char *registry_path;    /* SQLite file; created and migrated */
    const mm_spec_t *spec;        /* borrowed: dataset name, hash and the promotion policy */
    mm_blob_t *blob;              /* borrowed: where candidates/ and production/ live */
    const char *actor;            /* audit actor; NULL = "mm-promoter" */
    const char *decisions_topic;  /* NULL = MM_TOPIC_DECISIONS */
    const char *deadletter_topic; /* NULL = MM_TOPIC_DEADLETTER */
} mm_promoter_config_t;

/** @brief Open the registry and keep the borrowed spec and blob. NULL with errstr on failure. */
mm_promoter_t *mm_promoter_new(const mm_promoter_config_t *cfg, char *errstr, size_t errstr_size);
void mm_promoter_destroy(mm_promoter_t *promoter); /* accepts NULL */

/** @returns the registry database (borrowed; owned by the promoter). */
mm_db_t *mm_promoter_db(mm_promoter_t *promoter);

/** What happened to one consumed message. */
typedef struct mm_promoter_outcome {
    bool replayed;      /* the train_id was already registered: only the offset moved */
    bool dead_lettered; /* the message went to the dead-letter topic */
    bool changed;       /* manual operations: false when nothing had to change */
    mm_decision_kind_t decision;
    int32_t version;  /* the version the decision is about (0 if dead-lettered) */
    int32_t champion; /* the key's champion version after the decision; 0 = none */
    char reason[512]; /* policy outcome or dead-letter reason */
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

/* ------------------------------------------------------------ manual operations */

/**
 * @brief Make @p version of @p partition_key the champion (the old champion
 * becomes previous), writing an audit row and a MM_DECISION_PROMOTED
 * decision into the outbox in one transaction. A version never copied to
 * production/ (a rejected one) is verified and copied first, which needs
 * @p blob (may be NULL otherwise). Promoting the current champion changes
 * nothing (@p out->changed false).
 * @returns MM_ERR_NOT_FOUND for an unknown key or version.
 */
mm_err_t mm_promoter_promote(mm_db_t *db, mm_blob_t *blob, const char *partition_key,
                             int32_t version, const char *reason, const char *actor,
                             mm_promoter_outcome_t *out, char *errstr, size_t errstr_size);

/**
 * @brief Make the previous champion of @p partition_key the champion again.
 * The new previous is the newest production version older than it (none:
 * the alias is removed), so repeated rollbacks walk back through history.
 * Writes an audit row and a MM_DECISION_ROLLED_BACK decision into the outbox.
 * @returns MM_ERR_NOT_FOUND for an unknown key or when there is no previous.
 */
mm_err_t mm_promoter_rollback(mm_db_t *db, const char *partition_key, const char *reason,
                              const char *actor, mm_promoter_outcome_t *out, char *errstr,
                              size_t errstr_size);

/* ------------------------------------------------------------ service loop */

/**
 * @brief The service: poll @p consumer, handle each message (retrying
 * retriable failures with backoff and jitter, without moving past the
 * message), mirror progress with store_offset after each transaction, and
 * drain @p outbox (over mm_promoter_db(), delivering through @p producer,
 * whose delivery callback is mm_outbox_dr_cb) until *@p stop becomes non-zero.
 * @returns MM_OK on a requested stop, else the error that ended the loop.
 */
mm_err_t mm_promoter_run(mm_promoter_t *promoter, mm_kafka_consumer_t *consumer,
                         mm_kafka_producer_t *producer, mm_outbox_t *outbox,
                         volatile sig_atomic_t *stop, char *errstr, size_t errstr_size);

/* ------------------------------------------------------------ reports */

typedef struct mm_promoter_metric_mean {
    int64_t n;    /* champions with both the model's and the baseline's value */
    double model; /* mean over those champions; NaN when n == 0 */
    double baseline;
} mm_promoter_metric_mean_t;

typedef struct mm_promoter_stats {
    int64_t keys;         /* keys with at least one registered version */
    int64_t versions;     /* registered versions (every judged candidate) */
    int64_t approved;     /* versions approved by policy */
    int64_t rejected;     /* versions rejected by policy */
    int64_t fallback;     /* keys whose newest version is a declared fallback */
    int64_t champions;    /* keys with a champion (a production model) */
    int64_t decided_keys; /* keys with at least one decision in the audit log */
    int64_t promoted;     /* manual promotions */
    int64_t rolled_back;  /* manual rollbacks */
    int64_t outbox;       /* decisions and dead letters not yet delivered */
    mm_promoter_metric_mean_t metrics[MM_METRIC__COUNT]; /* champions vs their baselines */
} mm_promoter_stats_t;

/** @brief Count the registry for reports (mmctl report). */
mm_err_t mm_promoter_stats(mm_db_t *db, mm_promoter_stats_t *stats, char *errstr,
                           size_t errstr_size);

#endif
