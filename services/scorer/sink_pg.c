/*
 * sink_pg.c - the prediction sink's PostgreSQL backend (see sink.h and
 * sink_int.h), on libpq: the same tables, columns, upsert keys and
 * latest_predictions view as the SQLite backend, so BI tools read the
 * predictions where they expect them.
 *
 * Workload: a batch run writes horizon-many rows for each of thousands of
 * keys, a few hundred keys per transaction. A key's rows go in one statement
 * (arrays unnested server-side, prepared once per connection), so a key
 * costs two round trips, not one per row; reads stream row by row
 * (single-row mode), so an export of millions of rows holds one at a time.
 *
 * Schema versions live in mm_sink_schema; migrations run in one transaction
 * under an advisory lock, so scorers starting together migrate once.
 */
#include <libpq-fe.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/log.h"
#include "mm/util.h"
#include "sink_int.h"

/* Any constant shared by every scorer: the advisory lock that serialises migrations. */
#define SINK_MIGRATE_LOCK 0x6d6d73696e6bLL /* "mmsink" */

/* migrations[i] upgrades schema version i to i+1. Never edit a released entry: append. */
static const char *const pg_migrations[] = {
    /* v1: the SQLite backend's schema as of its v3, in PostgreSQL types */
    "CREATE TABLE predictions ("
    "  partition_key TEXT NOT NULL,"
    "  entity TEXT NOT NULL DEFAULT '',"
    "  target_time_ms BIGINT NOT NULL,"
    "  value DOUBLE PRECISION,"
    "  lower DOUBLE PRECISION,"
    "  upper DOUBLE PRECISION,"
    "  model_version INTEGER,"
    "  train_id TEXT,"
    "  algorithm TEXT,"
    "  data_watermark_ms BIGINT,"
    "  load_id TEXT,"
    "  request_id TEXT,"
    "  produced_at_ms BIGINT,"
    "  fallback INTEGER NOT NULL DEFAULT 0,"
    "  model_data_end_ms BIGINT,"
    "  new_observations INTEGER NOT NULL DEFAULT 0,"
    "  planned_steps INTEGER NOT NULL DEFAULT 0,"
    "  carried_steps INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (partition_key, entity, target_time_ms));"
    "CREATE TABLE no_model ("
    "  partition_key TEXT PRIMARY KEY,"
    "  reason TEXT,"
    "  at_ms BIGINT);"
    "CREATE TABLE key_runs ("
    "  partition_key TEXT NOT NULL,"
    "  entity TEXT NOT NULL DEFAULT '',"
    "  request_id TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  message TEXT,"
    "  fallback INTEGER NOT NULL DEFAULT 0,"
    "  produced_at_ms BIGINT NOT NULL,"
    "  PRIMARY KEY (partition_key, entity));"
    "CREATE VIEW latest_predictions AS SELECT r.partition_key, r.status, r.message, r.fallback,"
    "  r.request_id, r.produced_at_ms, p.target_time_ms, p.value, p.lower, p.upper,"
    "  p.model_version, p.train_id, p.algorithm, p.data_watermark_ms, p.load_id,"
    "  p.model_data_end_ms, p.new_observations, p.planned_steps, p.carried_steps, r.entity"
    "  FROM key_runs r LEFT JOIN predictions p"
    "  ON p.partition_key = r.partition_key AND p.entity = r.entity"
    "  AND p.request_id = r.request_id;",
};

/* One key's rows in one statement: $2..$5 are arrays of the steps, the rest per key. */
#define PG_UPSERT_NAME "mm_sink_upsert"
#define PG_UPSERT_SQL                                                                              \
    "INSERT INTO predictions(partition_key, target_time_ms, value, lower, upper, "                 \
    "model_version, train_id, algorithm, data_watermark_ms, load_id, request_id, "                 \
    "produced_at_ms, fallback, model_data_end_ms, new_observations, planned_steps, "               \
    "carried_steps, entity) SELECT $1, u.t, u.v, u.lo, u.up, $6, $7, $8, $9, $10, $11, $12, $13, " \
    "$14, $15, $16, $17, $18 FROM unnest($2::bigint[], $3::float8[], $4::float8[], $5::float8[]) " \
    "AS u(t, v, lo, up) "                                                                          \
    "ON CONFLICT (partition_key, entity, target_time_ms) DO UPDATE SET value = excluded.value, "   \
    "lower = excluded.lower, upper = excluded.upper, model_version = excluded.model_version, "     \
    "train_id = excluded.train_id, algorithm = excluded.algorithm, "                               \
    "data_watermark_ms = excluded.data_watermark_ms, load_id = excluded.load_id, "                 \
    "request_id = excluded.request_id, produced_at_ms = excluded.produced_at_ms, "                 \
    "fallback = excluded.fallback, model_data_end_ms = excluded.model_data_end_ms, "               \
    "new_observations = excluded.new_observations, planned_steps = excluded.planned_steps, "       \
    "carried_steps = excluded.carried_steps"
#define PG_UPSERT_PARAMS 18

#define PG_KEY_RUN_SQL                                                                             \
    "INSERT INTO key_runs(partition_key, request_id, status, message, fallback, produced_at_ms, "  \
    "entity) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (partition_key, entity) DO UPDATE "   \
    "SET "                                                                                         \
    "request_id = excluded.request_id, status = excluded.status, message = excluded.message, "     \
    "fallback = excluded.fallback, produced_at_ms = excluded.produced_at_ms"

#define PG_NO_MODEL_SQL                                                                            \
    "INSERT INTO no_model(partition_key, reason, at_ms) VALUES ($1, $2, $3) "                      \
    "ON CONFLICT (partition_key) DO UPDATE SET reason = excluded.reason, at_ms = excluded.at_ms"

/* The view's columns, in the order mm_scorer_sink_row_t is filled. */
#define PG_LATEST_SQL                                                                              \
    "SELECT partition_key, status, message, fallback, request_id, produced_at_ms, "                \
    "target_time_ms, value, lower, upper, model_version, train_id, algorithm, "                    \
    "data_watermark_ms, load_id, model_data_end_ms, new_observations, planned_steps, "             \
    "carried_steps, entity FROM latest_predictions WHERE $1::text IS NULL OR partition_key = $1 "  \
    "ORDER BY partition_key, entity, target_time_ms NULLS FIRST"

typedef struct pg_sink {
    PGconn *conn;
    char *shown; /* the URL without its password, for messages */
    char *arrays[4];
    size_t arrays_cap[4];
} pg_sink_t;

/* Write "sink <url>: <what>: <libpq's message, trimmed>" into errstr. */
static mm_err_t pg_fail(const pg_sink_t *sink, const char *pq_message, char *errstr,
                        size_t errstr_size, const char *what) {
    const char *msg = pq_message && *pq_message ? pq_message : PQerrorMessage(sink->conn);
    int len = (int)strlen(msg);
    while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' ')) len--;
    return mm_errf(MM_ERR_DB, errstr, errstr_size, "sink %s: %s: %.*s", sink->shown, what, len,
                   msg);
}

/* Run @p res's check: @returns MM_OK when it has status @p want; clears @p res either way. */
static mm_err_t pg_check(pg_sink_t *sink, PGresult *res, ExecStatusType want, const char *what,
                         char *errstr, size_t errstr_size) {
    mm_err_t err = MM_OK;
    if (!res)
        err = pg_fail(sink, NULL, errstr, errstr_size, what);
    else if (PQresultStatus(res) != want)
        err = pg_fail(sink, PQresultErrorMessage(res), errstr, errstr_size, what);
    PQclear(res);
    return err;
}

static mm_err_t pg_exec(pg_sink_t *sink, const char *sql, const char *what, char *errstr,
                        size_t errstr_size) {
    return pg_check(sink, PQexec(sink->conn, sql), PGRES_COMMAND_OK, what, errstr, errstr_size);
}

/* Server notices (e.g. "relation already exists, skipping") go to the debug log, not stderr. */
static void on_notice(void *arg, const char *message) {
    (void)arg;
    mm_log_debug("sink_notice", "%s", message);
}

static mm_err_t pg_query_i64(pg_sink_t *sink, const char *sql, int64_t *out, char *errstr,
                             size_t errstr_size) {
    PGresult *res = PQexec(sink->conn, sql);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        mm_err_t err =
            pg_fail(sink, res ? PQresultErrorMessage(res) : NULL, errstr, errstr_size, sql);
        PQclear(res);
        return err;
    }
    *out = PQgetisnull(res, 0, 0) ? 0 : strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return MM_OK;
}

static mm_err_t pg_migrate(pg_sink_t *sink, char *errstr, size_t errstr_size) {
    mm_err_t err = pg_exec(sink, "BEGIN", "begin migration", errstr, errstr_size);
    if (err) return err;
    char lock[96];
    snprintf(lock, sizeof(lock), "SELECT pg_advisory_xact_lock(%lld)",
             (long long)SINK_MIGRATE_LOCK);
    err = pg_check(sink, PQexec(sink->conn, lock), PGRES_TUPLES_OK, "migration lock", errstr,
                   errstr_size);
    if (!err)
        err = pg_exec(sink, "CREATE TABLE IF NOT EXISTS mm_sink_schema (version INTEGER NOT NULL)",
                      "schema version table", errstr, errstr_size);
    int64_t version = 0, rows = 0;
    if (!err)
        err = pg_query_i64(sink, "SELECT count(*) FROM mm_sink_schema", &rows, errstr, errstr_size);
    if (!err && rows == 0)
        err = pg_exec(sink, "INSERT INTO mm_sink_schema(version) VALUES (0)", "schema version",
                      errstr, errstr_size);
    if (!err)
        err = pg_query_i64(sink, "SELECT max(version) FROM mm_sink_schema", &version, errstr,
                           errstr_size);
    if (!err && version > (int64_t)MM_ARRAY_SIZE(pg_migrations))
        err = mm_errf(MM_ERR_UNSUPPORTED, errstr, errstr_size,
                      "sink %s: schema version %lld is newer than this build knows (%zu)",
                      sink->shown, (long long)version, MM_ARRAY_SIZE(pg_migrations));
    for (size_t v = (size_t)(version < 0 ? 0 : version); !err && v < MM_ARRAY_SIZE(pg_migrations);
         v++) {
        char what[48];
        snprintf(what, sizeof(what), "migration to schema v%zu", v + 1);
        err = pg_exec(sink, pg_migrations[v], what, errstr, errstr_size);
        if (!err) {
            char set[80];
            snprintf(set, sizeof(set), "UPDATE mm_sink_schema SET version = %zu", v + 1);
            err = pg_exec(sink, set, what, errstr, errstr_size);
        }
    }
    if (!err) err = pg_exec(sink, "COMMIT", "commit migration", errstr, errstr_size);
    if (err) PQclear(PQexec(sink->conn, "ROLLBACK"));
    return err;
}

static void pg_close(void *impl) {
    pg_sink_t *sink = impl;
    if (!sink) return;
    if (sink->conn) PQfinish(sink->conn);
    for (size_t i = 0; i < MM_ARRAY_SIZE(sink->arrays); i++) free(sink->arrays[i]);
    free(sink->shown);
    free(sink);
}

void *mm_scorer_sink_pg_open(const char *url, const char *shown, char *errstr, size_t errstr_size) {
    pg_sink_t *sink = calloc(1, sizeof(*sink));
    if (!sink || !(sink->shown = strdup(shown))) {
        free(sink);
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "sink: out of memory");
        return NULL;
    }
    sink->conn = PQconnectdb(url);
    if (!sink->conn) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "sink %s: out of memory", shown);
        pg_close(sink);
        return NULL;
    }
    if (PQstatus(sink->conn) != CONNECTION_OK) {
        pg_fail(sink, NULL, errstr, errstr_size, "cannot connect");
        pg_close(sink);
        return NULL;
    }
    PQsetNoticeProcessor(sink->conn, on_notice, NULL);
    mm_err_t err =
        pg_exec(sink, "SET client_min_messages = warning", "session setup", errstr, errstr_size);
    if (!err) err = pg_migrate(sink, errstr, errstr_size);
    if (!err)
        err = pg_check(sink, PQprepare(sink->conn, PG_UPSERT_NAME, PG_UPSERT_SQL, 0, NULL),
                       PGRES_COMMAND_OK, "prepare upsert", errstr, errstr_size);
    if (err) {
        pg_close(sink);
        return NULL;
    }
    return sink;
}

static mm_err_t pg_begin(void *impl, char *errstr, size_t errstr_size) {
    return pg_exec(impl, "BEGIN", "begin", errstr, errstr_size);
}

static mm_err_t pg_commit(void *impl, char *errstr, size_t errstr_size) {
    pg_sink_t *sink = impl;
    mm_err_t err = pg_exec(sink, "COMMIT", "commit", errstr, errstr_size);
    if (err) PQclear(PQexec(sink->conn, "ROLLBACK"));
    return err;
}

static void pg_rollback(void *impl) {
    pg_sink_t *sink = impl;
    if (PQtransactionStatus(sink->conn) != PQTRANS_IDLE) PQclear(PQexec(sink->conn, "ROLLBACK"));
}

/* Array literal building: "{v1,v2,NULL}" into sink->arrays[slot]. */
static bool array_reserve(pg_sink_t *sink, int slot, size_t need) {
    if (need <= sink->arrays_cap[slot]) return true;
    size_t cap = sink->arrays_cap[slot] ? sink->arrays_cap[slot] : 256;
    while (cap < need) cap *= 2;
    char *grown = realloc(sink->arrays[slot], cap);
    if (!grown) return false;
    sink->arrays[slot] = grown;
    sink->arrays_cap[slot] = cap;
    return true;
}

/* Each element at most 32 bytes ("-1.2345678901234567e+308", "NULL", "-Infinity"). */
#define ARRAY_ELEMENT_MAX 32

static bool array_i64(pg_sink_t *sink, int slot, const int64_t *v, size_t n) {
    if (!array_reserve(sink, slot, (n + 1) * ARRAY_ELEMENT_MAX)) return false;
    char *out = sink->arrays[slot];
    size_t len = 0;
    out[len++] = '{';
    for (size_t i = 0; i < n; i++)
        len +=
            (size_t)snprintf(out + len, ARRAY_ELEMENT_MAX, "%s%lld", i ? "," : "", (long long)v[i]);
    out[len++] = '}';
    out[len] = 0;
    return true;
}

static bool array_f64(pg_sink_t *sink, int slot, const double *v, size_t n) {
    if (!array_reserve(sink, slot, (n + 1) * ARRAY_ELEMENT_MAX)) return false;
    char *out = sink->arrays[slot];
    size_t len = 0;
    out[len++] = '{';
    for (size_t i = 0; i < n; i++) {
        const char *sep = i ? "," : "";
        if (!v || isnan(v[i])) /* NaN is stored as NULL, as in SQLite */
            len += (size_t)snprintf(out + len, ARRAY_ELEMENT_MAX, "%sNULL", sep);
        else if (isinf(v[i]))
            len += (size_t)snprintf(out + len, ARRAY_ELEMENT_MAX, "%s%sInfinity", sep,
                                    v[i] < 0 ? "-" : "");
        else
            len += (size_t)snprintf(out + len, ARRAY_ELEMENT_MAX, "%s%.17g", sep, v[i]);
    }
    out[len++] = '}';
    out[len] = 0;
    return true;
}

static mm_err_t pg_predictions(void *impl, const mm_prediction_batch_t *p, char *errstr,
                               size_t errstr_size) {
    pg_sink_t *sink = impl;
    if (p->n > 0) {
        if (!array_i64(sink, 0, p->time_ms, p->n) || !array_f64(sink, 1, p->value, p->n) ||
            !array_f64(sink, 2, p->lower, p->n) || !array_f64(sink, 3, p->upper, p->n))
            return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "sink: out of memory");
        char num[12][24];
        snprintf(num[0], sizeof(num[0]), "%d", (int)p->model_version);
        snprintf(num[1], sizeof(num[1]), "%lld", (long long)p->data_watermark_ms);
        snprintf(num[2], sizeof(num[2]), "%lld", (long long)p->produced_at_ms);
        snprintf(num[3], sizeof(num[3]), "%d", p->fallback ? 1 : 0);
        snprintf(num[4], sizeof(num[4]), "%lld", (long long)p->model_data_end_ms);
        snprintf(num[5], sizeof(num[5]), "%d", (int)p->new_observations);
        snprintf(num[6], sizeof(num[6]), "%d", (int)p->planned_steps);
        snprintf(num[7], sizeof(num[7]), "%d", (int)p->carried_steps);
        const char *values[PG_UPSERT_PARAMS] = {
            p->partition_key, sink->arrays[0], sink->arrays[1],
            sink->arrays[2],  sink->arrays[3], num[0],
            p->train_id,      p->algorithm,    num[1],
            p->load_id,       p->request_id,   num[2],
            num[3],           num[4],          num[5],
            num[6],           num[7],          p->entity ? p->entity : "",
        };
        mm_err_t err = pg_check(
            sink,
            PQexecPrepared(sink->conn, PG_UPSERT_NAME, PG_UPSERT_PARAMS, values, NULL, NULL, 0),
            PGRES_COMMAND_OK, "upsert predictions", errstr, errstr_size);
        if (err) return err;
    }
    const char *key[1] = {p->partition_key};
    return pg_check(sink,
                    PQexecParams(sink->conn, "DELETE FROM no_model WHERE partition_key = $1", 1,
                                 NULL, key, NULL, NULL, 0),
                    PGRES_COMMAND_OK, "clear no_model", errstr, errstr_size);
}

static mm_err_t pg_no_model(void *impl, const char *partition_key, const char *reason,
                            int64_t at_ms, char *errstr, size_t errstr_size) {
    pg_sink_t *sink = impl;
    char at[24];
    snprintf(at, sizeof(at), "%lld", (long long)at_ms);
    const char *values[3] = {partition_key, reason, at};
    return pg_check(sink, PQexecParams(sink->conn, PG_NO_MODEL_SQL, 3, NULL, values, NULL, NULL, 0),
                    PGRES_COMMAND_OK, "upsert no_model", errstr, errstr_size);
}

static mm_err_t pg_key_run(void *impl, const mm_prediction_batch_t *p, char *errstr,
                           size_t errstr_size) {
    pg_sink_t *sink = impl;
    char fallback[4], at[24];
    snprintf(fallback, sizeof(fallback), "%d", p->fallback ? 1 : 0);
    snprintf(at, sizeof(at), "%lld", (long long)p->produced_at_ms);
    const char *values[7] = {p->partition_key,
                             p->request_id,
                             mm_prediction_status_name(p->status),
                             p->message,
                             fallback,
                             at,
                             p->entity ? p->entity : ""};
    return pg_check(sink, PQexecParams(sink->conn, PG_KEY_RUN_SQL, 7, NULL, values, NULL, NULL, 0),
                    PGRES_COMMAND_OK, "upsert key_runs", errstr, errstr_size);
}

static mm_err_t pg_counts(void *impl, mm_scorer_sink_counts_t *counts, char *errstr,
                          size_t errstr_size) {
    pg_sink_t *sink = impl;
    mm_err_t err =
        pg_query_i64(sink, "SELECT count(*) FROM predictions", &counts->rows, errstr, errstr_size);
    if (!err)
        err = pg_query_i64(sink, "SELECT count(DISTINCT partition_key) FROM predictions",
                           &counts->keys, errstr, errstr_size);
    if (!err)
        err = pg_query_i64(sink, "SELECT count(*) FROM no_model", &counts->no_model_keys, errstr,
                           errstr_size);
    return err;
}

static const char *col_text(const PGresult *res, int col) {
    return PQgetisnull(res, 0, col) ? NULL : PQgetvalue(res, 0, col);
}

static int64_t col_i64(const PGresult *res, int col, int64_t null_value) {
    return PQgetisnull(res, 0, col) ? null_value : strtoll(PQgetvalue(res, 0, col), NULL, 10);
}

static double col_double(const PGresult *res, int col) {
    return PQgetisnull(res, 0, col) ? NAN : strtod(PQgetvalue(res, 0, col), NULL);
}

/* Drain what is left of a query after an early stop or an error. */
static void pg_drain(pg_sink_t *sink) {
    PGresult *res;
    while ((res = PQgetResult(sink->conn))) PQclear(res);
}

static mm_err_t pg_latest(void *impl, const char *partition_key, mm_scorer_sink_row_cb_t *cb,
                          void *opaque, char *errstr, size_t errstr_size) {
    pg_sink_t *sink = impl;
    const char *values[1] = {partition_key};
    if (!PQsendQueryParams(sink->conn, PG_LATEST_SQL, 1, NULL, values, NULL, NULL, 0))
        return pg_fail(sink, NULL, errstr, errstr_size, "query latest_predictions");
    if (!PQsetSingleRowMode(sink->conn)) {
        pg_drain(sink);
        return pg_fail(sink, NULL, errstr, errstr_size, "single-row mode");
    }
    mm_err_t err = MM_OK;
    bool stopped = false;
    PGresult *res;
    while ((res = PQgetResult(sink->conn))) {
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_SINGLE_TUPLE && !stopped && !err) {
            mm_scorer_sink_row_t r = {
                .partition_key = col_text(res, 0),
                .status = col_text(res, 1),
                .message = col_text(res, 2),
                .fallback = col_i64(res, 3, 0) != 0,
                .request_id = col_text(res, 4),
                .produced_at_ms = col_i64(res, 5, -1),
                .target_time_ms = col_i64(res, 6, -1),
                .value = col_double(res, 7),
                .lower = col_double(res, 8),
                .upper = col_double(res, 9),
                .model_version = (int32_t)col_i64(res, 10, 0),
                .train_id = col_text(res, 11),
                .algorithm = col_text(res, 12),
                .data_watermark_ms = col_i64(res, 13, -1),
                .load_id = col_text(res, 14),
                .model_data_end_ms = col_i64(res, 15, -1),
                .new_observations = (int32_t)col_i64(res, 16, 0),
                .planned_steps = (int32_t)col_i64(res, 17, 0),
                .carried_steps = (int32_t)col_i64(res, 18, 0),
                .entity = col_text(res, 19),
            };
            if (!cb(opaque, &r)) stopped = true; /* the rest is read and dropped */
        } else if (st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK && !err) {
            err = pg_fail(sink, PQresultErrorMessage(res), errstr, errstr_size,
                          "read latest_predictions");
        }
        PQclear(res);
    }
    return err;
}

const mm_scorer_sink_ops_t mm_scorer_sink_pg_ops = {
    .close = pg_close,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .predictions = pg_predictions,
    .no_model = pg_no_model,
    .key_run = pg_key_run,
    .counts = pg_counts,
    .latest = pg_latest,
};
