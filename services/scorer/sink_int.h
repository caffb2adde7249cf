/*
 * sink_int.h - the prediction sink's backends (sink_sqlite.c, sink_pg.c)
 * behind the one interface of sink.h. sink.c parses the sink URL, picks the
 * backend and keeps what both share (a key's answer as predictions, "no
 * model" and its latest run); a backend only stores and reads rows.
 *
 * Every backend keeps the same tables, columns, upsert keys and the
 * latest_predictions view (docs/scoring.md), so a query written for one
 * reads the other.
 */
#ifndef MM_SCORER_SINK_INT_H
#define MM_SCORER_SINK_INT_H

#include "sink.h"

typedef struct mm_scorer_sink_ops {
    void (*close)(void *impl);
    mm_err_t (*begin)(void *impl, char *errstr, size_t errstr_size);
    mm_err_t (*commit)(void *impl, char *errstr, size_t errstr_size); /* rolls back on failure */
    void (*rollback)(void *impl);
    /* Upsert the batch's rows by (key, target time) and drop the key's "no model" row. */
    mm_err_t (*predictions)(void *impl, const mm_prediction_batch_t *p, char *errstr,
                            size_t errstr_size);
    mm_err_t (*no_model)(void *impl, const char *partition_key, const char *reason, int64_t at_ms,
                         char *errstr, size_t errstr_size);
    /* Upsert the key's latest run (key_runs): what latest_predictions follows. */
    mm_err_t (*key_run)(void *impl, const mm_prediction_batch_t *p, char *errstr,
                        size_t errstr_size);
    mm_err_t (*counts)(void *impl, mm_scorer_sink_counts_t *counts, char *errstr,
                       size_t errstr_size);
    mm_err_t (*latest)(void *impl, const char *partition_key, mm_scorer_sink_row_cb_t *cb,
                       void *opaque, char *errstr, size_t errstr_size);
} mm_scorer_sink_ops_t;

/** @brief Open the SQLite backend at @p path. @returns its handle, or NULL with errstr set. */
void *mm_scorer_sink_sqlite_open(const char *path, char *errstr, size_t errstr_size);
extern const mm_scorer_sink_ops_t mm_scorer_sink_sqlite_ops;

/**
 * @brief Open the PostgreSQL backend: connect with the libpq URI @p url and
 * migrate. Errors name the server by @p shown (the URL without its password).
 */
void *mm_scorer_sink_pg_open(const char *url, const char *shown, char *errstr, size_t errstr_size);
extern const mm_scorer_sink_ops_t mm_scorer_sink_pg_ops;

#endif
