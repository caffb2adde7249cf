/*
 * sink_sqlite.c - the prediction sink's SQLite backend (see sink.h and
 * sink_int.h): a file next to the scorer, the default.
 *
 * Workload: a batch run writes horizon-many rows for each of thousands of
 * keys, a few hundred keys per transaction: the upsert is prepared once per
 * sink and reused for every row.
 */
#include <math.h>
#include <stdlib.h>

#include "mm/db.h"
#include "mm/util.h"
#include "sink_int.h"

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
    /* v2: lineage of the scoring data and the fallback label; each key's latest answer */
    "ALTER TABLE predictions ADD COLUMN fallback INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE predictions ADD COLUMN model_data_end_ms INTEGER;"
    "ALTER TABLE predictions ADD COLUMN new_observations INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE predictions ADD COLUMN planned_steps INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE predictions ADD COLUMN carried_steps INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE key_runs ("
    "  partition_key TEXT PRIMARY KEY,"
    "  request_id TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  message TEXT,"
    "  fallback INTEGER NOT NULL DEFAULT 0,"
    "  produced_at_ms INTEGER NOT NULL);"
    "CREATE VIEW latest_predictions AS SELECT r.partition_key, r.status, r.message, r.fallback,"
    "  r.request_id, r.produced_at_ms, p.target_time_ms, p.value, p.lower, p.upper,"
    "  p.model_version, p.train_id, p.algorithm, p.data_watermark_ms, p.load_id,"
    "  p.model_data_end_ms, p.new_observations, p.planned_steps, p.carried_steps"
    "  FROM key_runs r LEFT JOIN predictions p"
    "  ON p.partition_key = r.partition_key AND p.request_id = r.request_id;",
    /* v3: one answer per entity of a key ('' for a spec without entity columns) */
    "DROP VIEW latest_predictions;"
    "CREATE TABLE predictions_v3 ("
    "  partition_key TEXT NOT NULL,"
    "  entity TEXT NOT NULL DEFAULT '',"
    "  target_time_ms INTEGER NOT NULL,"
    "  value REAL, lower REAL, upper REAL,"
    "  model_version INTEGER, train_id TEXT, algorithm TEXT,"
    "  data_watermark_ms INTEGER, load_id TEXT, request_id TEXT, produced_at_ms INTEGER,"
    "  fallback INTEGER NOT NULL DEFAULT 0, model_data_end_ms INTEGER,"
    "  new_observations INTEGER NOT NULL DEFAULT 0, planned_steps INTEGER NOT NULL DEFAULT 0,"
    "  carried_steps INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (partition_key, entity, target_time_ms)) WITHOUT ROWID;"
    "INSERT INTO predictions_v3 SELECT partition_key, '', target_time_ms, value, lower, upper,"
    "  model_version, train_id, algorithm, data_watermark_ms, load_id, request_id,"
    "  produced_at_ms, fallback, model_data_end_ms, new_observations, planned_steps,"
    "  carried_steps FROM predictions;"
    "DROP TABLE predictions;"
    "ALTER TABLE predictions_v3 RENAME TO predictions;"
    "CREATE TABLE key_runs_v3 ("
    "  partition_key TEXT NOT NULL,"
    "  entity TEXT NOT NULL DEFAULT '',"
    "  request_id TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  message TEXT,"
    "  fallback INTEGER NOT NULL DEFAULT 0,"
    "  produced_at_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (partition_key, entity));"
    "INSERT INTO key_runs_v3 SELECT partition_key, '', request_id, status, message, fallback,"
    "  produced_at_ms FROM key_runs;"
    "DROP TABLE key_runs;"
    "ALTER TABLE key_runs_v3 RENAME TO key_runs;"
    "CREATE VIEW latest_predictions AS SELECT r.partition_key, r.status, r.message, r.fallback,"
    "  r.request_id, r.produced_at_ms, p.target_time_ms, p.value, p.lower, p.upper,"
    "  p.model_version, p.train_id, p.algorithm, p.data_watermark_ms, p.load_id,"
    "  p.model_data_end_ms, p.new_observations, p.planned_steps, p.carried_steps, r.entity"
    "  FROM key_runs r LEFT JOIN predictions p"
    "  ON p.partition_key = r.partition_key AND p.entity = r.entity"
    "  AND p.request_id = r.request_id;",
};

#define SINK_UPSERT_SQL                                                                            \
    "INSERT INTO predictions(partition_key, target_time_ms, value, lower, upper, "                 \
    "model_version, train_id, algorithm, data_watermark_ms, load_id, request_id, "                 \
    "produced_at_ms, fallback, model_data_end_ms, new_observations, planned_steps, "               \
    "carried_steps, entity) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, " \
    "?15, ?16, ?17, ?18) "                                                                         \
    "ON CONFLICT(partition_key, entity, target_time_ms) DO UPDATE SET value = excluded.value, "    \
    "lower = excluded.lower, upper = excluded.upper, model_version = excluded.model_version, "     \
    "train_id = excluded.train_id, algorithm = excluded.algorithm, "                               \
    "data_watermark_ms = excluded.data_watermark_ms, load_id = excluded.load_id, "                 \
    "request_id = excluded.request_id, produced_at_ms = excluded.produced_at_ms, "                 \
    "fallback = excluded.fallback, model_data_end_ms = excluded.model_data_end_ms, "               \
    "new_observations = excluded.new_observations, planned_steps = excluded.planned_steps, "       \
    "carried_steps = excluded.carried_steps"

#define SINK_KEY_RUN_SQL                                                                           \
    "INSERT INTO key_runs(partition_key, request_id, status, message, fallback, produced_at_ms, "  \
    "entity) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(partition_key, entity) DO UPDATE "    \
    "SET "                                                                                         \
    "request_id = excluded.request_id, status = excluded.status, message = excluded.message, "     \
    "fallback = excluded.fallback, produced_at_ms = excluded.produced_at_ms"

typedef struct sqlite_sink {
    mm_db_t *db;
    sqlite3_stmt *upsert; /* prepared at open, reused for every row */
} sqlite_sink_t;

static void sqlite_close(void *impl);

void *mm_scorer_sink_sqlite_open(const char *path, char *errstr, size_t errstr_size) {
    sqlite_sink_t *sink = calloc(1, sizeof(*sink));
    if (!sink) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "sink: out of memory");
        return NULL;
    }
    sink->db =
        mm_db_open(path, sink_migrations, MM_ARRAY_SIZE(sink_migrations), errstr, errstr_size);
    if (!sink->db ||
        mm_db_prepare(sink->db, &sink->upsert, SINK_UPSERT_SQL, errstr, errstr_size) != MM_OK) {
        sqlite_close(sink);
        return NULL;
    }
    return sink;
}

static void sqlite_close(void *impl) {
    sqlite_sink_t *sink = impl;
    if (!sink) return;
    sqlite3_finalize(sink->upsert);
    mm_db_close(sink->db);
    free(sink);
}

static mm_err_t sqlite_begin(void *impl, char *errstr, size_t errstr_size) {
    sqlite_sink_t *sink = impl;
    return mm_db_begin(sink->db, errstr, errstr_size);
}

static mm_err_t sqlite_commit(void *impl, char *errstr, size_t errstr_size) {
    sqlite_sink_t *sink = impl;
    mm_err_t err = mm_db_commit(sink->db, errstr, errstr_size);
    if (err) mm_db_rollback(sink->db);
    return err;
}

static void sqlite_rollback(void *impl) {
    sqlite_sink_t *sink = impl;
    mm_db_rollback(sink->db);
}

static mm_err_t sqlite_predictions(void *impl, const mm_prediction_batch_t *p, char *errstr,
                                   size_t errstr_size) {
    sqlite_sink_t *sink = impl;
    for (size_t i = 0; i < p->n; i++) {
        mm_err_t err = mm_db_bind(sink->db, sink->upsert, errstr, errstr_size,
                                  "tiddditti"
                                  "ttiii"
                                  "iiit",
                                  p->partition_key, p->time_ms[i], p->value[i], p->lower[i],
                                  p->upper[i], (int64_t)p->model_version, p->train_id, p->algorithm,
                                  p->data_watermark_ms, p->load_id, p->request_id,
                                  p->produced_at_ms, (int64_t)p->fallback, p->model_data_end_ms,
                                  (int64_t)p->new_observations, (int64_t)p->planned_steps,
                                  (int64_t)p->carried_steps, p->entity ? p->entity : "");
        if (!err) err = mm_db_step_done(sink->db, sink->upsert, errstr, errstr_size);
        if (err) return err;
    }
    return mm_db_run(sink->db, errstr, errstr_size, "DELETE FROM no_model WHERE partition_key = ?1",
                     "t", p->partition_key);
}

static mm_err_t sqlite_no_model(void *impl, const char *partition_key, const char *reason,
                                int64_t at_ms, char *errstr, size_t errstr_size) {
    sqlite_sink_t *sink = impl;
    return mm_db_run(sink->db, errstr, errstr_size,
                     "INSERT INTO no_model(partition_key, reason, at_ms) VALUES (?1, ?2, ?3)"
                     " ON CONFLICT(partition_key) DO UPDATE SET"
                     " reason = excluded.reason, at_ms = excluded.at_ms",
                     "tti", partition_key, reason, at_ms);
}

static mm_err_t sqlite_key_run(void *impl, const mm_prediction_batch_t *p, char *errstr,
                               size_t errstr_size) {
    sqlite_sink_t *sink = impl;
    return mm_db_run(sink->db, errstr, errstr_size, SINK_KEY_RUN_SQL, "ttttiit", p->partition_key,
                     p->request_id, mm_prediction_status_name(p->status), p->message,
                     (int64_t)p->fallback, p->produced_at_ms, p->entity ? p->entity : "");
}

static mm_err_t sqlite_counts(void *impl, mm_scorer_sink_counts_t *counts, char *errstr,
                              size_t errstr_size) {
    sqlite_sink_t *sink = impl;
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

/* The view's columns, in the order mm_scorer_sink_row_t is filled. */
#define SINK_LATEST_SQL                                                                            \
    "SELECT partition_key, status, message, fallback, request_id, produced_at_ms, "                \
    "target_time_ms, value, lower, upper, model_version, train_id, algorithm, "                    \
    "data_watermark_ms, load_id, model_data_end_ms, new_observations, planned_steps, "             \
    "carried_steps, entity FROM latest_predictions WHERE ?1 IS NULL OR partition_key = ?1 "        \
    "ORDER BY partition_key, entity, target_time_ms"

static double column_double(sqlite3_stmt *st, int col) {
    return sqlite3_column_type(st, col) == SQLITE_NULL ? NAN : sqlite3_column_double(st, col);
}

static int64_t column_i64(sqlite3_stmt *st, int col, int64_t null_value) {
    return sqlite3_column_type(st, col) == SQLITE_NULL ? null_value : sqlite3_column_int64(st, col);
}

static mm_err_t sqlite_latest(void *impl, const char *partition_key, mm_scorer_sink_row_cb_t *cb,
                              void *opaque, char *errstr, size_t errstr_size) {
    sqlite_sink_t *sink = impl;
    sqlite3_stmt *st = NULL;
    mm_err_t err =
        mm_db_query(sink->db, &st, errstr, errstr_size, SINK_LATEST_SQL, "t", partition_key);
    while (err == MM_OK && (err = mm_db_step_row(sink->db, st, errstr, errstr_size)) == MM_OK) {
        mm_scorer_sink_row_t r = {
            .partition_key = (const char *)sqlite3_column_text(st, 0),
            .status = (const char *)sqlite3_column_text(st, 1),
            .message = (const char *)sqlite3_column_text(st, 2),
            .fallback = sqlite3_column_int64(st, 3) != 0,
            .request_id = (const char *)sqlite3_column_text(st, 4),
            .produced_at_ms = column_i64(st, 5, -1),
            .target_time_ms = column_i64(st, 6, -1),
            .value = column_double(st, 7),
            .lower = column_double(st, 8),
            .upper = column_double(st, 9),
            .model_version = (int32_t)column_i64(st, 10, 0),
            .train_id = (const char *)sqlite3_column_text(st, 11),
            .algorithm = (const char *)sqlite3_column_text(st, 12),
            .data_watermark_ms = column_i64(st, 13, -1),
            .load_id = (const char *)sqlite3_column_text(st, 14),
            .model_data_end_ms = column_i64(st, 15, -1),
            .new_observations = (int32_t)column_i64(st, 16, 0),
            .planned_steps = (int32_t)column_i64(st, 17, 0),
            .carried_steps = (int32_t)column_i64(st, 18, 0),
            .entity = (const char *)sqlite3_column_text(st, 19),
        };
        if (!cb(opaque, &r)) break;
    }
    sqlite3_finalize(st);
    return err == MM_ERR_NOT_FOUND ? MM_OK : err;
}

const mm_scorer_sink_ops_t mm_scorer_sink_sqlite_ops = {
    .close = sqlite_close,
    .begin = sqlite_begin,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .predictions = sqlite_predictions,
    .no_model = sqlite_no_model,
    .key_run = sqlite_key_run,
    .counts = sqlite_counts,
    .latest = sqlite_latest,
};
