/*
 * sink.c - mm-scorer's SQLite prediction sink (see sink.h).
 *
 * Workload: a batch run writes horizon-many rows for each of thousands of
 * keys, a few hundred keys per transaction: the upsert is prepared once per
 * sink and reused for every row.
 */
#include "sink.h"

#include <stdlib.h>

#include "mm/db.h"
#include "mm/util.h"

/* migrations[i] upgrades schema version i to i+1. Never edit a released entry: append. */
static const char *const sink_migrations[] = {
    /* v1 */
    "CREATE TABLE predictions ("
    "  partition_key TEXT NOT NULL,"
    "  target_time_ms INTEGER NOT NULL,"
    "  value REAL,"
    "  lower REAL,"
    "  upper REAL,"
    "  model_version INTEGER,"
    "  train_id TEXT,"
    "  algorithm TEXT,"
    "  data_watermark_ms INTEGER,"
    "  load_id TEXT,"
    "  request_id TEXT,"
    "  produced_at_ms INTEGER,"
    "  PRIMARY KEY (partition_key, target_time_ms)) WITHOUT ROWID;"
    "CREATE TABLE no_model ("
    "  partition_key TEXT PRIMARY KEY,"
    "  reason TEXT,"
    "  at_ms INTEGER);",
};

#define SINK_UPSERT_SQL                                                                            \
    "INSERT INTO predictions(partition_key, target_time_ms, value, lower, upper, "                 \
    "model_version, train_id, algorithm, data_watermark_ms, load_id, request_id, "                 \
    "produced_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "                  \
    "ON CONFLICT(partition_key, target_time_ms) DO UPDATE SET value = excluded.value, "            \
    "lower = excluded.lower, upper = excluded.upper, model_version = excluded.model_version, "     \
    "train_id = excluded.train_id, algorithm = excluded.algorithm, "                               \
    "data_watermark_ms = excluded.data_watermark_ms, load_id = excluded.load_id, "                 \
    "request_id = excluded.request_id, produced_at_ms = excluded.produced_at_ms"

struct mm_scorer_sink {
    mm_db_t *db;
    sqlite3_stmt *upsert; /* prepared at open, reused for every row */
};

mm_scorer_sink_t *mm_scorer_sink_open(const char *path, char *errstr, size_t errstr_size) {
    mm_scorer_sink_t *sink = calloc(1, sizeof(*sink));
    if (!sink) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "sink: out of memory");
        return NULL;
    }
    sink->db =
        mm_db_open(path, sink_migrations, MM_ARRAY_SIZE(sink_migrations), errstr, errstr_size);
    if (!sink->db ||
        mm_db_prepare(sink->db, &sink->upsert, SINK_UPSERT_SQL, errstr, errstr_size) != MM_OK) {
        mm_scorer_sink_close(sink);
        return NULL;
    }
    return sink;
}

void mm_scorer_sink_close(mm_scorer_sink_t *sink) {
    if (!sink) return;
    sqlite3_finalize(sink->upsert);
    mm_db_close(sink->db);
    free(sink);
}

mm_err_t mm_scorer_sink_begin(mm_scorer_sink_t *sink, char *errstr, size_t errstr_size) {
    return mm_db_begin(sink->db, errstr, errstr_size);
}

mm_err_t mm_scorer_sink_commit(mm_scorer_sink_t *sink, char *errstr, size_t errstr_size) {
    mm_err_t err = mm_db_commit(sink->db, errstr, errstr_size);
    if (err) mm_db_rollback(sink->db);
    return err;
}

void mm_scorer_sink_rollback(mm_scorer_sink_t *sink) {
    mm_db_rollback(sink->db);
}

mm_err_t mm_scorer_sink_predictions(mm_scorer_sink_t *sink, const mm_prediction_batch_t *p,
                                    char *errstr, size_t errstr_size) {
    for (size_t i = 0; i < p->n; i++) {
        mm_err_t err =
            mm_db_bind(sink->db, sink->upsert, errstr, errstr_size,
                       "tiddditti"
                       "tti",
                       p->partition_key, p->time_ms[i], p->value[i], p->lower[i], p->upper[i],
                       (int64_t)p->model_version, p->train_id, p->algorithm, p->data_watermark_ms,
                       p->load_id, p->request_id, p->produced_at_ms);
        if (!err) err = mm_db_step_done(sink->db, sink->upsert, errstr, errstr_size);
        if (err) return err;
    }
    return mm_db_run(sink->db, errstr, errstr_size, "DELETE FROM no_model WHERE partition_key = ?1",
                     "t", p->partition_key);
}

mm_err_t mm_scorer_sink_no_model(mm_scorer_sink_t *sink, const char *partition_key,
                                 const char *reason, int64_t at_ms, char *errstr,
                                 size_t errstr_size) {
    return mm_db_run(sink->db, errstr, errstr_size,
                     "INSERT INTO no_model(partition_key, reason, at_ms) VALUES (?1, ?2, ?3)"
                     " ON CONFLICT(partition_key) DO UPDATE SET"
                     " reason = excluded.reason, at_ms = excluded.at_ms",
                     "tti", partition_key, reason, at_ms);
}

mm_err_t mm_scorer_sink_counts(mm_scorer_sink_t *sink, mm_scorer_sink_counts_t *counts,
                               char *errstr, size_t errstr_size) {
    static const char *const sql[] = {
        "SELECT count(*) FROM predictions",
        "SELECT count(DISTINCT partition_key) FROM predictions",
        "SELECT count(*) FROM no_model",
    };
    int64_t *out[] = {&counts->rows, &counts->keys, &counts->no_model_keys};
    for (size_t i = 0; i < MM_ARRAY_SIZE(sql); i++) {
        bool found = false;
        *out[i] = 0;
        mm_err_t err = mm_db_query_i64(sink->db, sql[i], out[i], &found, errstr, errstr_size);
        if (err) return err;
    }
    return MM_OK;
}
