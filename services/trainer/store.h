/*
 * store.h - mm-trainer's state store (SQLite): per-key history, the batches
 * seen per load, each key's generation and retrain trigger, the models
 * trained, the consumed offsets (mm/consumer_state.h) and the outbox.
 *
 * Two kinds of user, each on its own connection: the poll thread applies
 * records (mm_trainer_store_t, with prepared statements), the workers read a
 * key's history and record its model (functions over a plain mm_db_t).
 */
#ifndef MM_TRAINER_STORE_H
#define MM_TRAINER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chunk.h"
#include "mm/buf.h"
#include "mm/consumer_state.h"
#include "mm/db.h"
#include "mm/records.h"
#include "mm/sha256.h"
#include "mm/spec.h"

/* The offsets table, under the name the trainer released it with. */
#define MM_TRAINER_OFFSETS_TABLE "offsets"

/* ------------------------------------------------------------ poll thread */

/** The poll thread's connection and statements. */
typedef struct mm_trainer_store {
    mm_db_t *db;                  /* owned */
    mm_consumer_state_t *offsets; /* owned; over db */
    const mm_spec_t *spec;        /* borrowed */
    sqlite3_stmt *st_chunks_overlap;
    sqlite3_stmt *st_chunk_before;
    sqlite3_stmt *st_chunk_delete;
    sqlite3_stmt *st_chunk_insert;
    sqlite3_stmt *st_batch_insert;
    sqlite3_stmt *st_key_touch;
    sqlite3_stmt *st_key_new_rows;
    sqlite3_stmt *st_key_trigger;
    sqlite3_stmt *st_load_received;
    /* scratch of one batch, reused (bounded by a batch and the chunks it touches) */
    struct mm_trainer_row_ref *refs;
    size_t cap_refs;
    mm_trainer_rows_t batch_rows, old_rows, merged_rows;
    int64_t *replaced; /* t_min of the chunks a merge replaces */
    size_t cap_replaced;
    mm_buf_t chunk;
} mm_trainer_store_t;

/** What applying one batch did. */
typedef struct mm_trainer_batch_outcome {
    bool fresh;     /* false: a redelivered batch, only the offset moved */
    bool triggered; /* the key became due for training */
} mm_trainer_batch_outcome_t;

/**
 * @brief Open (creating and migrating) the state store at @p path for the
 * poll thread. @p spec is borrowed and must outlive the store. A store of
 * schema v2 (one row per observation) has its rows moved into chunks here,
 * in one transaction, before anything else is read.
 */
mm_err_t mm_trainer_store_open(mm_trainer_store_t *store, const char *path, const mm_spec_t *spec,
                               const char *service, char *errstr, size_t errstr_size);

/** @brief Finalize statements and close. Accepts a zeroed or closed store. */
void mm_trainer_store_close(mm_trainer_store_t *store);

/**
 * @brief In one transaction: note the batch; unless it was seen before,
 * merge its rows into the key's history chunks by (entity, time) (a re-sent
 * observation replaces the earlier one; the last of a batch's duplicates
 * wins), bump the key's generation and set its
 * trigger (end of load with new observations, or enough new observations;
 * rows without a target count as none); store the offset past
 * (@p topic, @p partition, @p offset). Warns when an end of load finds
 * batches or rows missing.
 */
mm_err_t mm_trainer_store_apply_batch(mm_trainer_store_t *store, const char *topic,
                                      int32_t partition, int64_t offset,
                                      const mm_observation_batch_t *batch,
                                      mm_trainer_batch_outcome_t *outcome, char *errstr,
                                      size_t errstr_size);

/** @brief Called per due key by mm_trainer_store_due_keys(); false stops the scan. */
typedef bool(mm_trainer_due_cb_t)(void *opaque, const char *partition_key);

/**
 * @brief Visit up to @p limit keys due at @p now_ms (triggered, or with new
 * rows and a model older than the spec's max age), earliest trigger first.
 */
mm_err_t mm_trainer_store_due_keys(mm_db_t *db, const mm_spec_t *spec, int64_t now_ms, int limit,
                                   mm_trainer_due_cb_t *cb, void *opaque, char *errstr,
                                   size_t errstr_size);

/* ------------------------------------------------------------ workers */

/** A key's stored history, read in one snapshot. */
typedef struct mm_trainer_history {
    size_t n;         /* observations, in time order */
    size_t n_exog;    /* exogenous values per observation */
    int64_t *time_ms; /* n */
    double *y;        /* n; NaN where the target is missing */
    double *x;        /* n * n_exog, row-major */
    /* Entities: rows come ordered by entity, then time; entity e's rows are
     * [entity_start[e], entity_start[e + 1]). One entity "" for a spec
     * without entity columns. */
    size_t n_entities;
    char **entity;        /* n_entities names, canonical ("machine_id=42") */
    size_t *entity_start; /* n_entities + 1 */
    int64_t generation;
    char *last_load_id; /* may be NULL */
    char digest[MM_SHA256_HEX_LEN + 1];
} mm_trainer_history_t;

void mm_trainer_history_clear(mm_trainer_history_t *history);

/**
 * @brief Read @p key's history, generation, last load and digest in one
 * snapshot. The history ends at the key's last observed target: planned
 * rows after it (missing targets) are not training data and are left out of
 * the rows, the count and the digest; missing targets before it are kept.
 * @returns MM_ERR_INSUFFICIENT_DATA when it has no observed target.
 */
mm_err_t mm_trainer_store_read_history(mm_db_t *db, const char *key, size_t n_exog,
                                       mm_trainer_history_t *history, char *errstr,
                                       size_t errstr_size);

/** @brief *@p trained: a model with @p train_id is recorded already. */
mm_err_t mm_trainer_store_is_trained(mm_db_t *db, const char *train_id, bool *trained, char *errstr,
                                     size_t errstr_size);

/** A trained model as the store records it. */
typedef struct mm_trainer_model_row {
    const char *train_id;
    const char *partition_key;
    const char *algorithm;
    bool fallback;
    const char *artifact_uri;
    const char *sha256;
    int64_t data_end_ms;
    int64_t n_rows;
} mm_trainer_model_row_t;

/**
 * @brief In one transaction: record @p model and queue @p event (ModelTrained)
 * in the outbox unless @p model is NULL (a retrain skipped as unchanged);
 * then clear @p key's trigger unless its generation moved past
 * @p generation (new data arrived meanwhile: the key stays due).
 */
mm_err_t mm_trainer_store_record_model(mm_db_t *db, const char *key, int64_t generation,
                                       const char *train_id, const mm_trainer_model_row_t *model,
                                       const mm_buf_t *event, char *errstr, size_t errstr_size);

/** @brief Push a still-due key's next attempt to @p at_ms (after a failure). */
mm_err_t mm_trainer_store_postpone(mm_db_t *db, const char *key, int64_t at_ms, char *errstr,
                                   size_t errstr_size);

/** State store schema migrations. */
extern const char *const mm_trainer_migrations[];
extern const size_t mm_trainer_n_migrations;

#endif
