/*
 * sink.h - mm-scorer's SQLite prediction sink: one row per (key, target
 * time) written as an upsert, so a replayed run never duplicates, plus one
 * row per key answered "no model" (docs/ARCHITECTURE.md).
 *
 * Owned by mm-scorer, which writes it; mmctl opens it read-only in spirit
 * (mm_scorer_sink_counts) for its report. A sink handle belongs to one
 * thread at a time.
 */
#ifndef MM_SCORER_SINK_H
#define MM_SCORER_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "mm/err.h"
#include "mm/records.h"

typedef struct mm_scorer_sink mm_scorer_sink_t;

/**
 * @brief Open (creating and migrating) the sink at @p path.
 * @returns the sink (mm_scorer_sink_close), or NULL with errstr set.
 */
mm_scorer_sink_t *mm_scorer_sink_open(const char *path, char *errstr, size_t errstr_size);

/** @brief Close the sink. Accepts NULL. */
void mm_scorer_sink_close(mm_scorer_sink_t *sink);

/** @brief Open a write transaction (many keys per transaction keep commits few). */
mm_err_t mm_scorer_sink_begin(mm_scorer_sink_t *sink, char *errstr, size_t errstr_size);
/** @brief Commit; on failure the transaction is rolled back. */
mm_err_t mm_scorer_sink_commit(mm_scorer_sink_t *sink, char *errstr, size_t errstr_size);
/** @brief Roll back the open transaction, if any. */
void mm_scorer_sink_rollback(mm_scorer_sink_t *sink);

/**
 * @brief Upsert one row per step of @p p (value, interval bounds (NaN stored
 * as NULL), model version, train id, algorithm, data watermark, load id,
 * request id, produced at), keyed by (partition key, target time), and drop
 * the key's "no model" row: the key has a model now.
 */
mm_err_t mm_scorer_sink_predictions(mm_scorer_sink_t *sink, const mm_prediction_batch_t *p,
                                    char *errstr, size_t errstr_size);

/** @brief Record (upsert) that @p partition_key was answered "no model", and why. */
mm_err_t mm_scorer_sink_no_model(mm_scorer_sink_t *sink, const char *partition_key,
                                 const char *reason, int64_t at_ms, char *errstr,
                                 size_t errstr_size);

typedef struct mm_scorer_sink_counts {
    int64_t rows;          /* prediction rows */
    int64_t keys;          /* keys with prediction rows */
    int64_t no_model_keys; /* keys answered "no model" */
} mm_scorer_sink_counts_t;

/** @brief Count the sink for reports (mmctl report). */
mm_err_t mm_scorer_sink_counts(mm_scorer_sink_t *sink, mm_scorer_sink_counts_t *counts,
                               char *errstr, size_t errstr_size);

#endif
