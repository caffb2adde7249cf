/*
 * sink.h - mm-scorer's prediction sink: one row per (key, target time)
 * written as an upsert, so a replayed run never duplicates, plus one row per
 * key answered "no model" and each key's latest run (docs/ARCHITECTURE.md).
 *
 * Two backends behind one interface, chosen by the sink URL: SQLite
 * (`sqlite://PATH` or a plain path, sink_sqlite.c) and PostgreSQL
 * (`postgresql://...` or `postgres://...`, a libpq connection URI,
 * sink_pg.c). Both keep the same tables, columns, upsert keys and the
 * latest_predictions view (docs/scoring.md).
 *
 * Owned by mm-scorer, which writes it; mmctl opens it read-only in spirit
 * (counts, latest rows) for its reports. A sink handle belongs to one
 * thread at a time.
 */
#ifndef MM_SCORER_SINK_H
#define MM_SCORER_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/err.h"
#include "mm/records.h"

typedef struct mm_scorer_sink mm_scorer_sink_t;

typedef enum mm_scorer_sink_kind {
    MM_SCORER_SINK_SQLITE = 0,
    MM_SCORER_SINK_POSTGRES = 1,
} mm_scorer_sink_kind_t;

/**
 * @brief Classify a sink URL: `sqlite://PATH` or a plain path (SQLite;
 * *@p sqlite_path points at the path inside @p url), `postgresql://...` or
 * `postgres://...` (PostgreSQL; *@p sqlite_path NULL). Any other
 * `scheme://` and an empty URL are MM_ERR_INVALID_ARG with errstr naming the
 * accepted forms (and never the URL's password).
 */
mm_err_t mm_scorer_sink_parse_url(const char *url, mm_scorer_sink_kind_t *kind,
                                  const char **sqlite_path, char *errstr, size_t errstr_size);

/**
 * @brief Copy @p url into @p out with any password replaced by "***": the
 * userinfo's (`scheme://user:secret@host`) and a `password=` query or
 * keyword parameter. Safe to log. Truncates to @p out_size.
 */
void mm_scorer_sink_url_redacted(const char *url, char *out, size_t out_size);

/**
 * @brief Open (creating and migrating) the sink named by @p url (see
 * mm_scorer_sink_parse_url). Error messages name the sink by its redacted URL.
 * @returns the sink (mm_scorer_sink_close), or NULL with errstr set.
 */
mm_scorer_sink_t *mm_scorer_sink_open(const char *url, char *errstr, size_t errstr_size);

/** @returns the backend of an open sink. */
mm_scorer_sink_kind_t mm_scorer_sink_kind(const mm_scorer_sink_t *sink);

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

/**
 * @brief Record one key's answer of a run: its predictions (status ok, as
 * mm_scorer_sink_predictions), or its "no model" row, and in either case
 * (and for status error) the key's latest run (request id, status, message,
 * fallback label), which the latest_predictions view follows.
 */
mm_err_t mm_scorer_sink_answer(mm_scorer_sink_t *sink, const mm_prediction_batch_t *p, char *errstr,
                               size_t errstr_size);

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

/**
 * One row of the latest_predictions view: a prediction of the key's latest
 * run, or (target_time_ms -1, value NaN) the key's answer without
 * predictions (status "no_model" or "error"). Strings are borrowed for the
 * callback's duration.
 */
typedef struct mm_scorer_sink_row {
    const char *partition_key;
    const char *status;  /* "ok", "no_model", "error" */
    const char *message; /* may be NULL */
    bool fallback;
    const char *request_id;
    int64_t produced_at_ms;
    int64_t target_time_ms;
    double value, lower, upper; /* NaN when absent */
    int32_t model_version;      /* 0 when none */
    const char *train_id;       /* may be NULL */
    const char *algorithm;      /* may be NULL */
    int64_t data_watermark_ms;
    const char *load_id; /* may be NULL */
    int64_t model_data_end_ms;
    int32_t new_observations, planned_steps, carried_steps;
    const char *entity; /* the entity answered inside the key; "" for a spec without entities */
} mm_scorer_sink_row_t;

/** @brief Called per row by mm_scorer_sink_latest(); return false to stop. */
typedef bool(mm_scorer_sink_row_cb_t)(void *opaque, const mm_scorer_sink_row_t *row);

/**
 * @brief The latest predictions: every row of each key's latest run, in key
 * and target time order (mmctl predictions).
 * @param partition_key one key, or NULL for all.
 */
mm_err_t mm_scorer_sink_latest(mm_scorer_sink_t *sink, const char *partition_key,
                               mm_scorer_sink_row_cb_t *cb, void *opaque, char *errstr,
                               size_t errstr_size);

#endif
