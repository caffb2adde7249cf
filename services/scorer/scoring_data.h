/*
 * scoring_data.h - mm-scorer's state store: each key's scoring data (its
 * newest observations and its planned covariates) in SQLite, fed from
 * mm.observations by the scorer's own consumer group, with the consumed
 * offsets in the same transaction as the rows they carried
 * (mm/consumer_state.h) and undecodable records dead-lettered through the
 * store's outbox.
 *
 * A row is identified by (key, time): a replayed batch upserts the same
 * values and changes nothing. A row whose target is empty is a planned row
 * when it lies after the key's newest observed target (a planned price or
 * promotion); before it, it is a gap. A planned row never erases an observed
 * target that is already stored for the same time. Per key the store keeps
 * the newest keep_observed observed rows and every row after the oldest of
 * them; older rows are pruned when the key's batch is applied.
 *
 * A store handle belongs to one thread at a time.
 */
#ifndef MM_SCORER_SCORING_DATA_H
#define MM_SCORER_SCORING_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/consumer_state.h"
#include "mm/db.h"
#include "mm/err.h"
#include "mm/records.h"
#include "mm/spec.h"

/* The offsets table of the scorer's state store. */
#define MM_SCORING_DATA_OFFSETS_TABLE "consumed_offsets"
/* Default observed rows kept per key: lags, two seasons and rolling windows of daily data. */
#define MM_SCORING_DATA_DEFAULT_KEEP 400
/* Most planned rows read for one key (the longest horizon a forecast takes). */
#define MM_SCORING_DATA_MAX_PLANNED 100000

/* The read cache (mm_scoring_data_cache): slots per expected bytes, most
 * slots, and the longest key + entity it keeps. */
#define MM_SCORING_DATA_CACHE_SLOT_BYTES 1024
#define MM_SCORING_DATA_CACHE_SLOTS_MAX  (1u << 16)
#define MM_SCORING_DATA_CACHE_ID_MAX     512

typedef struct mm_scoring_data mm_scoring_data_t;

/** One key's scoring data as read for scoring, in time order. */
typedef struct mm_scoring_rows {
    size_t n;          /* rows */
    size_t n_observed; /* rows [0, n_observed) end with the newest observed target; the rest are
                          planned rows (empty target, after the newest observation) */
    size_t n_exog;
    int64_t *time_ms; /* n */
    double *y;        /* n; NaN = empty target */
    double *x;        /* n * n_exog, row-major; NaN = missing */
    char *load_id;    /* load of the newest observed row (NULL when unknown) */
} mm_scoring_rows_t;

/** @brief Free @p rows' arrays and zero it. Accepts a zeroed struct. */
void mm_scoring_rows_clear(mm_scoring_rows_t *rows);

/**
 * @brief Open (creating and migrating) the state store at @p path.
 * @param spec borrowed: maps batch columns onto the spec's exogenous columns.
 * @param keep_observed observed rows kept per key (>= 1).
 * @param service written into DeadLetter.service.
 * @returns the store (mm_scoring_data_close), or NULL with errstr set.
 */
mm_scoring_data_t *mm_scoring_data_open(const char *path, const mm_spec_t *spec,
                                        size_t keep_observed, const char *service, char *errstr,
                                        size_t errstr_size);

/**
 * @brief Keep the reads of hot keys in memory (a serving worker's handle),
 * up to @p max_bytes (0 = none, the default): a read with until_ms 0 of a key
 * read before is answered from memory, with the same rows, as long as nobody
 * committed to the store since (SQLite's data_version, checked per read: any
 * applied observation batch drops the whole cache). Reads with an as-of are
 * never cached. Call once, before the first read.
 */
mm_err_t mm_scoring_data_cache(mm_scoring_data_t *sd, size_t max_bytes, char *errstr,
                               size_t errstr_size);

/** @brief Close the store. Accepts NULL. */
void mm_scoring_data_close(mm_scoring_data_t *sd);

/** @returns the store's database (borrowed), e.g. for its outbox. */
mm_db_t *mm_scoring_data_db(const mm_scoring_data_t *sd);

/** @returns the store's consumer state (borrowed): resume offsets, dead letters. */
mm_consumer_state_t *mm_scoring_data_offsets(const mm_scoring_data_t *sd);

/**
 * @brief Apply @p batch (from @p topic [@p partition] at @p offset) in one
 * transaction: upsert its rows, prune the key to its bound, and store the
 * next offset. With @p topic NULL no offset is stored (tests, local loads).
 * @returns MM_OK; MM_ERR_DB (nothing applied).
 */
mm_err_t mm_scoring_data_apply(mm_scoring_data_t *sd, const char *topic, int32_t partition,
                               int64_t offset, const mm_observation_batch_t *batch, char *errstr,
                               size_t errstr_size);

/**
 * @brief Read @p key's rows at or before @p until_ms (0 = all), split into
 * observed and planned (see mm_scoring_rows_t).
 * @returns MM_OK (n = 0 for an unknown key); MM_ERR_NOMEM; MM_ERR_DB.
 */
mm_err_t mm_scoring_data_read(mm_scoring_data_t *sd, const char *key, int64_t until_ms,
                              mm_scoring_rows_t *rows, char *errstr, size_t errstr_size);

/**
 * @brief mm_scoring_data_read() of one entity of @p key (docs/dataset-spec.md,
 * "Entities"): each entity is its own series; "" is the one series of a key
 * when the spec names no entity columns (what mm_scoring_data_read() reads).
 */
mm_err_t mm_scoring_data_read_entity(mm_scoring_data_t *sd, const char *key, const char *entity,
                                     int64_t until_ms, mm_scoring_rows_t *rows, char *errstr,
                                     size_t errstr_size);

/** @brief Called per key by mm_scoring_data_keys(); return false to stop. */
typedef bool(mm_scoring_data_key_cb_t)(void *opaque, const char *key);

/** @brief Every key with scoring data, in key order. */
mm_err_t mm_scoring_data_keys(mm_scoring_data_t *sd, mm_scoring_data_key_cb_t *cb, void *opaque,
                              char *errstr, size_t errstr_size);

/** @brief Every entity of @p key with scoring data, in order (the callback gets the entity). */
mm_err_t mm_scoring_data_entities(mm_scoring_data_t *sd, const char *key,
                                  mm_scoring_data_key_cb_t *cb, void *opaque, char *errstr,
                                  size_t errstr_size);

/**
 * @brief The time of the newest observed row over all keys (the default
 * as-of of a batch run).
 * @param found receives false when the store holds no observation.
 */
mm_err_t mm_scoring_data_latest(mm_scoring_data_t *sd, int64_t *latest_ms, bool *found,
                                char *errstr, size_t errstr_size);

#endif
