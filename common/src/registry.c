/*
 * registry.c - the model registry's schema and rows (see registry.h):
 * migrations, version rows, aliases and the audit log.
 *
 * Workload: about one judged candidate per key per load (10,000 keys ->
 * 10,000 small transactions), each a handful of indexed statements.
 * Statements come from the connection's statement cache (db.h): preparing
 * one cost more than the indexed lookup it runs (bench/registry/RESULTS.md).
 */
#include "mm/registry.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mm/outbox.h"
#include "mm/util.h"

/* ------------------------------------------------------------ schema */

/*
 * migrations[i] upgrades schema version i to i+1. Never edit a released
 * entry: append a new one.
 */
static const char *const registry_migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE versions ("
    "  partition_key TEXT NOT NULL,"
    "  version INTEGER NOT NULL CHECK (version > 0),"
    "  train_id TEXT NOT NULL UNIQUE,"
    "  dataset TEXT NOT NULL,"
    "  spec_hash TEXT NOT NULL,"
    "  algorithm TEXT NOT NULL,"
    "  artifact_uri TEXT NOT NULL," /* candidate blob name */
    "  production_uri TEXT,"        /* set once copied to production/ */
    "  sha256 TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  artifact_format INTEGER NOT NULL,"
    "  metrics TEXT NOT NULL," /* JSON object name -> value (null = NaN) */
    "  baseline TEXT NOT NULL,"
    "  data_start_ms INTEGER NOT NULL,"
    "  data_end_ms INTEGER NOT NULL,"
    "  n_rows INTEGER NOT NULL,"
    "  data_digest TEXT,"
    "  load_id TEXT,"
    "  fallback INTEGER NOT NULL DEFAULT 0,"
    "  fallback_reason TEXT,"
    "  trained_at_ms INTEGER,"
    "  trainer TEXT,"
    "  created_at_ms INTEGER NOT NULL,"
    "  status TEXT NOT NULL CHECK (status IN ('approved', 'rejected')),"
    "  reason TEXT NOT NULL,"
    "  source_topic TEXT,"
    "  source_partition INTEGER,"
    "  source_offset INTEGER,"
    "  PRIMARY KEY (partition_key, version)"
    ");"
    "CREATE TABLE aliases ("
    "  partition_key TEXT NOT NULL,"
    "  alias TEXT NOT NULL CHECK (alias IN ('champion', 'previous', 'challenger')),"
    "  version INTEGER NOT NULL,"
    "  updated_at_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (partition_key, alias),"
    "  FOREIGN KEY (partition_key, version) REFERENCES versions (partition_key, version)"
    ");"
    "CREATE TABLE tags ("
    "  partition_key TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  tag TEXT NOT NULL,"
    "  value TEXT,"
    "  PRIMARY KEY (partition_key, version, tag),"
    "  FOREIGN KEY (partition_key, version) REFERENCES versions (partition_key, version)"
    ");"
    "CREATE TABLE audit ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  at_ms INTEGER NOT NULL,"
    "  partition_key TEXT,"
    "  version INTEGER,"
    "  action TEXT NOT NULL," /* judge | promote | rollback | dead_letter */
    "  decision TEXT,"        /* approved | rejected | promoted | rolled_back */
    "  reason TEXT NOT NULL,"
    "  actor TEXT NOT NULL"
    ");"
    "CREATE INDEX audit_by_key ON audit (partition_key, id);"
    "CREATE TABLE consumed_offsets ("
    "  topic TEXT NOT NULL,"
    "  \"partition\" INTEGER NOT NULL,"
    "  next_offset INTEGER NOT NULL,"
    "  updated_at_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (topic, \"partition\")"
    ");" MM_OUTBOX_TABLE_SQL,
    /*
     * 1 -> 2: status 'fallback' (a declared fallback, never a champion on
     * merit) and alias 'fallback' (the one served while a key has no
     * champion). SQLite cannot widen a CHECK in place, so the three tables
     * are rebuilt; tags and aliases go first, as they reference versions
     * and foreign keys stay on during migrations.
     */
    "CREATE TABLE versions_v2 ("
    "  partition_key TEXT NOT NULL,"
    "  version INTEGER NOT NULL CHECK (version > 0),"
    "  train_id TEXT NOT NULL UNIQUE,"
    "  dataset TEXT NOT NULL,"
    "  spec_hash TEXT NOT NULL,"
    "  algorithm TEXT NOT NULL,"
    "  artifact_uri TEXT NOT NULL,"
    "  production_uri TEXT,"
    "  sha256 TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  artifact_format INTEGER NOT NULL,"
    "  metrics TEXT NOT NULL,"
    "  baseline TEXT NOT NULL,"
    "  data_start_ms INTEGER NOT NULL,"
    "  data_end_ms INTEGER NOT NULL,"
    "  n_rows INTEGER NOT NULL,"
    "  data_digest TEXT,"
    "  load_id TEXT,"
    "  fallback INTEGER NOT NULL DEFAULT 0,"
    "  fallback_reason TEXT,"
    "  trained_at_ms INTEGER,"
    "  trainer TEXT,"
    "  created_at_ms INTEGER NOT NULL,"
    "  status TEXT NOT NULL CHECK (status IN ('approved', 'rejected', 'fallback')),"
    "  reason TEXT NOT NULL,"
    "  source_topic TEXT,"
    "  source_partition INTEGER,"
    "  source_offset INTEGER,"
    "  PRIMARY KEY (partition_key, version)"
    ");"
    "INSERT INTO versions_v2 SELECT * FROM versions;"
    "CREATE TEMP TABLE aliases_v1 AS SELECT * FROM aliases;"
    "CREATE TEMP TABLE tags_v1 AS SELECT * FROM tags;"
    "DROP TABLE tags;"
    "DROP TABLE aliases;"
    "DROP TABLE versions;"
    "ALTER TABLE versions_v2 RENAME TO versions;"
    "CREATE TABLE aliases ("
    "  partition_key TEXT NOT NULL,"
    "  alias TEXT NOT NULL CHECK (alias IN ('champion', 'previous', 'challenger', 'fallback')),"
    "  version INTEGER NOT NULL,"
    "  updated_at_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (partition_key, alias),"
    "  FOREIGN KEY (partition_key, version) REFERENCES versions (partition_key, version)"
    ");"
    "CREATE TABLE tags ("
    "  partition_key TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  tag TEXT NOT NULL,"
    "  value TEXT,"
    "  PRIMARY KEY (partition_key, version, tag),"
    "  FOREIGN KEY (partition_key, version) REFERENCES versions (partition_key, version)"
    ");"
    "INSERT INTO aliases (partition_key, alias, version, updated_at_ms)"
    "  SELECT partition_key, alias, version, updated_at_ms FROM temp.aliases_v1;"
    "INSERT INTO tags (partition_key, version, tag, value)"
    "  SELECT partition_key, version, tag, value FROM temp.tags_v1;"
    "DROP TABLE temp.aliases_v1;"
    "DROP TABLE temp.tags_v1;",
    /* 2 -> 3: what training changed in the config for the key (ModelTrained.adjustments). */
    "ALTER TABLE versions ADD COLUMN adjustments TEXT;",
};

const char *mm_registry_status_name(mm_registry_status_t status) {
    /* The spellings of the versions.status CHECK above. */
    switch (status) {
    case MM_REGISTRY_STATUS_REJECTED:
        return "rejected";
    case MM_REGISTRY_STATUS_APPROVED:
        return "approved";
    case MM_REGISTRY_STATUS_FALLBACK:
        return "fallback";
    }
    return "rejected";
}

/* The status column's text as the enum; anything unknown counts as rejected. */
static mm_registry_status_t status_parse(const char *text) {
    if (text && strcmp(text, "approved") == 0) return MM_REGISTRY_STATUS_APPROVED;
    if (text && strcmp(text, "fallback") == 0) return MM_REGISTRY_STATUS_FALLBACK;
    return MM_REGISTRY_STATUS_REJECTED;
}

int mm_registry_schema_version(void) {
    return (int)MM_ARRAY_SIZE(registry_migrations);
}

mm_db_t *mm_registry_open(const char *path, char *errstr, size_t errstr_size) {
    if (!path || !*path) {
        mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "registry path is empty");
        return NULL;
    }
    return mm_db_open(path, registry_migrations, MM_ARRAY_SIZE(registry_migrations), errstr,
                      errstr_size);
}

/* ------------------------------------------------------------ version rows */

void mm_registry_version_clear(mm_registry_version_t *v) {
    free(v->train_id);
    free(v->dataset);
    free(v->spec_hash);
    free(v->algorithm);
    free(v->artifact_uri);
    free(v->production_uri);
    free(v->sha256);
    free(v->metrics);
    free(v->baseline);
    free(v->load_id);
    free(v->status);
    free(v->reason);
    free(v->fallback_reason);
    free(v->failed_check);
    free(v->aliases);
    free(v->adjustments);
    memset(v, 0, sizeof(*v));
}

#define VERSION_COLUMNS                                                                            \
    "v.version, v.train_id, v.dataset, v.spec_hash, v.algorithm, v.artifact_uri,"                  \
    " v.production_uri, v.sha256, v.metrics, v.baseline, v.load_id, v.status, v.reason,"           \
    " (SELECT group_concat(alias, ',') FROM aliases a"                                             \
    "   WHERE a.partition_key = v.partition_key AND a.version = v.version),"                       \
    " v.size, v.data_start_ms, v.data_end_ms, v.n_rows, v.created_at_ms, v.fallback,"              \
    " v.fallback_reason, (SELECT t.value FROM tags t WHERE t.partition_key = v.partition_key"      \
    "   AND t.version = v.version AND t.tag = 'failed_check'), v.adjustments"

/* Column indexes of VERSION_COLUMNS. */
enum {
    COL_VERSION,
    COL_TRAIN_ID,
    COL_DATASET,
    COL_SPEC_HASH,
    COL_ALGORITHM,
    COL_ARTIFACT_URI,
    COL_PRODUCTION_URI,
    COL_SHA256,
    COL_METRICS,
    COL_BASELINE,
    COL_LOAD_ID,
    COL_STATUS,
    COL_REASON,
    COL_ALIASES,
    COL_SIZE,
    COL_DATA_START_MS,
    COL_DATA_END_MS,
    COL_N_ROWS,
    COL_CREATED_AT_MS,
    COL_FALLBACK,
    COL_FALLBACK_REASON,
    COL_FAILED_CHECK,
    COL_ADJUSTMENTS,
};

static mm_err_t version_from_row(sqlite3_stmt *stmt, mm_registry_version_t *v, char *errstr,
                                 size_t errstr_size) {
    memset(v, 0, sizeof(*v));
    v->version = (int32_t)sqlite3_column_int64(stmt, COL_VERSION);
    v->train_id = mm_db_column_strdup(stmt, COL_TRAIN_ID);
    v->dataset = mm_db_column_strdup(stmt, COL_DATASET);
    v->spec_hash = mm_db_column_strdup(stmt, COL_SPEC_HASH);
    v->algorithm = mm_db_column_strdup(stmt, COL_ALGORITHM);
    v->artifact_uri = mm_db_column_strdup(stmt, COL_ARTIFACT_URI);
    v->production_uri = mm_db_column_strdup(stmt, COL_PRODUCTION_URI);
    v->sha256 = mm_db_column_strdup(stmt, COL_SHA256);
    v->metrics = mm_db_column_strdup(stmt, COL_METRICS);
    v->baseline = mm_db_column_strdup(stmt, COL_BASELINE);
    v->load_id = mm_db_column_strdup(stmt, COL_LOAD_ID);
    v->status = mm_db_column_strdup(stmt, COL_STATUS);
    v->reason = mm_db_column_strdup(stmt, COL_REASON);
    v->aliases = mm_db_column_strdup(stmt, COL_ALIASES);
    v->size = sqlite3_column_int64(stmt, COL_SIZE);
    v->data_start_ms = sqlite3_column_int64(stmt, COL_DATA_START_MS);
    v->data_end_ms = sqlite3_column_int64(stmt, COL_DATA_END_MS);
    v->n_rows = sqlite3_column_int64(stmt, COL_N_ROWS);
    v->created_at_ms = sqlite3_column_int64(stmt, COL_CREATED_AT_MS);
    v->fallback = sqlite3_column_int64(stmt, COL_FALLBACK) != 0;
    v->fallback_reason = mm_db_column_strdup(stmt, COL_FALLBACK_REASON);
    v->failed_check = mm_db_column_strdup(stmt, COL_FAILED_CHECK);
    v->adjustments = mm_db_column_strdup(stmt, COL_ADJUSTMENTS);
    /* NOT NULL columns: a NULL copy means the copy failed. */
    if (!v->train_id || !v->dataset || !v->spec_hash || !v->algorithm || !v->artifact_uri ||
        !v->sha256 || !v->metrics || !v->baseline || !v->status || !v->reason) {
        mm_registry_version_clear(v);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "registry row: out of memory");
    }
    return MM_OK;
}

mm_err_t mm_registry_version_get(mm_db_t *db, const char *partition_key, int32_t version,
                                 mm_registry_version_t *v, bool *found, char *errstr,
                                 size_t errstr_size) {
    sqlite3_stmt *stmt;
    *found = false;
    mm_err_t err = mm_db_query_cached(
        db, &stmt, errstr, errstr_size,
        "SELECT " VERSION_COLUMNS " FROM versions v WHERE v.partition_key = ? AND v.version = ?",
        "ti", partition_key, (int64_t)version);
    if (err != MM_OK) return err;
    err = mm_db_step_row(db, stmt, errstr, errstr_size);
    if (err == MM_OK) {
        err = version_from_row(stmt, v, errstr, errstr_size);
        *found = err == MM_OK;
    } else if (err == MM_ERR_NOT_FOUND) {
        err = MM_OK;
    }
    mm_db_release(db, stmt);
    return err;
}

mm_err_t mm_registry_champion_get(mm_db_t *db, const char *partition_key, mm_registry_version_t *v,
                                  bool *found, char *errstr, size_t errstr_size) {
    int32_t version = 0;
    *found = false;
    mm_err_t err =
        mm_registry_alias_get(db, partition_key, MM_ALIAS_CHAMPION, &version, errstr, errstr_size);
    if (err != MM_OK || version <= 0) return err;
    return mm_registry_version_get(db, partition_key, version, v, found, errstr, errstr_size);
}

mm_err_t mm_registry_served_get(mm_db_t *db, const char *partition_key, mm_registry_version_t *v,
                                bool *found, bool *is_fallback, char *errstr, size_t errstr_size) {
    *is_fallback = false;
    mm_err_t err = mm_registry_champion_get(db, partition_key, v, found, errstr, errstr_size);
    if (err != MM_OK || *found) return err;
    int32_t version = 0;
    err =
        mm_registry_alias_get(db, partition_key, MM_ALIAS_FALLBACK, &version, errstr, errstr_size);
    if (err != MM_OK || version <= 0) return err;
    err = mm_registry_version_get(db, partition_key, version, v, found, errstr, errstr_size);
    *is_fallback = err == MM_OK && *found;
    return err;
}

mm_err_t mm_registry_versions(mm_db_t *db, const char *partition_key, mm_registry_version_cb_t *cb,
                              void *opaque, char *errstr, size_t errstr_size) {
    sqlite3_stmt *stmt;
    mm_err_t err = mm_db_query_cached(
        db, &stmt, errstr, errstr_size,
        "SELECT " VERSION_COLUMNS " FROM versions v WHERE v.partition_key = ? ORDER BY v.version",
        "t", partition_key);
    if (err != MM_OK) return err;
    while ((err = mm_db_step_row(db, stmt, errstr, errstr_size)) == MM_OK) {
        mm_registry_version_t v;
        err = version_from_row(stmt, &v, errstr, errstr_size);
        if (err != MM_OK) break;
        bool go_on = cb(opaque, &v);
        mm_registry_version_clear(&v);
        if (!go_on) break;
    }
    mm_db_release(db, stmt);
    return err == MM_ERR_NOT_FOUND ? MM_OK : err;
}

/* One integer from a query with bound parameters; 0 when no row or NULL. */
static mm_err_t query_i64(mm_db_t *db, int64_t *out, char *errstr, size_t errstr_size,
                          const char *sql, const char *key, int64_t arg) {
    sqlite3_stmt *stmt;
    *out = 0;
    mm_err_t err = arg >= 0
                       ? mm_db_query_cached(db, &stmt, errstr, errstr_size, sql, "ti", key, arg)
                       : mm_db_query_cached(db, &stmt, errstr, errstr_size, sql, "t", key);
    if (err != MM_OK) return err;
    err = mm_db_step_row(db, stmt, errstr, errstr_size);
    if (err == MM_OK) *out = sqlite3_column_int64(stmt, 0);
    mm_db_release(db, stmt);
    return err == MM_ERR_NOT_FOUND ? MM_OK : err;
}

mm_err_t mm_registry_version_count(mm_db_t *db, const char *partition_key, int64_t *count,
                                   char *errstr, size_t errstr_size) {
    return query_i64(db, count, errstr, errstr_size,
                     "SELECT count(*) FROM versions WHERE partition_key = ?", partition_key, -1);
}

mm_err_t mm_registry_next_version(mm_db_t *db, const char *partition_key, int32_t *version,
                                  char *errstr, size_t errstr_size) {
    int64_t newest = 0;
    mm_err_t err =
        query_i64(db, &newest, errstr, errstr_size,
                  "SELECT coalesce(max(version), 0) FROM versions WHERE partition_key = ?",
                  partition_key, -1);
    *version = (int32_t)(newest + 1);
    return err;
}

mm_err_t mm_registry_find_train_id(mm_db_t *db, const char *train_id, char *partition_key,
                                   size_t partition_key_size, int32_t *version,
                                   mm_registry_status_t *status, char *errstr, size_t errstr_size) {
    sqlite3_stmt *stmt;
    *version = 0;
    *status = MM_REGISTRY_STATUS_REJECTED;
    mm_err_t err = mm_db_query_cached(
        db, &stmt, errstr, errstr_size,
        "SELECT version, status, partition_key FROM versions WHERE train_id = ?", "t", train_id);
    if (err != MM_OK) return err;
    err = mm_db_step_row(db, stmt, errstr, errstr_size);
    if (err == MM_OK) {
        const unsigned char *key = sqlite3_column_text(stmt, 2);
        *version = (int32_t)sqlite3_column_int64(stmt, 0);
        *status = status_parse((const char *)sqlite3_column_text(stmt, 1));
        snprintf(partition_key, partition_key_size, "%s", key ? (const char *)key : "");
    } else if (err == MM_ERR_NOT_FOUND) {
        err = MM_OK;
    }
    mm_db_release(db, stmt);
    return err;
}

/* JSON object name -> value; NaN and infinities as null (JSON has no NaN). */
static char *metrics_to_json(const mm_metric_t *metrics, size_t n) {
    json_t *obj = json_object();
    if (!obj) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (!metrics[i].name || !*metrics[i].name) continue;
        json_t *value = isfinite(metrics[i].value) ? json_real(metrics[i].value) : json_null();
        if (!value || json_object_set_new(obj, metrics[i].name, value) != 0) {
            json_decref(obj);
            return NULL;
        }
    }
    char *text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(obj);
    return text;
}

static mm_err_t tag_add(mm_db_t *db, const char *partition_key, int32_t version, const char *tag,
                        const char *value, char *errstr, size_t errstr_size) {
    return mm_db_run(db, errstr, errstr_size,
                     "INSERT INTO tags (partition_key, version, tag, value) VALUES (?, ?, ?, ?)",
                     "titt", partition_key, (int64_t)version, tag, value);
}

mm_err_t mm_registry_version_insert(mm_db_t *db, const mm_registry_judged_t *j, char *errstr,
                                    size_t errstr_size) {
    const mm_model_trained_t *rec = j->rec;
    char *metrics = metrics_to_json(rec->metrics, rec->n_metrics);
    char *baseline = metrics_to_json(rec->baseline, rec->n_baseline);
    mm_err_t err;
    if (!metrics || !baseline) {
        err = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "metrics JSON: out of memory");
    } else {
        err = mm_db_run(
            db, errstr, errstr_size,
            "INSERT INTO versions (partition_key, version, train_id, dataset, spec_hash,"
            " algorithm, artifact_uri, production_uri, sha256, size, artifact_format, metrics,"
            " baseline, data_start_ms, data_end_ms, n_rows, data_digest, load_id, fallback,"
            " fallback_reason, trained_at_ms, trainer, created_at_ms, status, reason,"
            " source_topic, source_partition, source_offset, adjustments)"
            " VALUES (?,?,?,?,?, ?,?,?,?,?, ?,?,?,?,?, ?,?,?,?,?, ?,?,?,?,?, ?,?,?,?)",
            "tittt"
            "tttti"
            "ittii"
            "ittit"
            "ititt"
            "tiit",
            rec->partition_key, (int64_t)j->version, rec->train_id,
            rec->dataset ? rec->dataset : j->dataset, rec->spec_hash ? rec->spec_hash : "",
            rec->algorithm ? rec->algorithm : "unknown", rec->artifact_uri, j->production_uri,
            rec->artifact_sha256 ? rec->artifact_sha256 : "", rec->artifact_size,
            (int64_t)rec->artifact_format, metrics, baseline, rec->data_start_ms, rec->data_end_ms,
            rec->n_rows, rec->data_digest, rec->load_id, (int64_t)(rec->fallback ? 1 : 0),
            rec->fallback_reason, rec->trained_at_ms, rec->trainer, j->now_ms,
            mm_registry_status_name(j->status), j->reason, j->source_topic,
            (int64_t)j->source_partition, j->source_offset, rec->adjustments);
    }
    free(metrics);
    free(baseline);
    if (err == MM_OK && j->status == MM_REGISTRY_STATUS_REJECTED && j->failed_check)
        err = tag_add(db, rec->partition_key, j->version, "failed_check", j->failed_check, errstr,
                      errstr_size);
    if (err == MM_OK && rec->fallback)
        err = tag_add(db, rec->partition_key, j->version, "fallback",
                      rec->fallback_reason ? rec->fallback_reason : "declared fallback", errstr,
                      errstr_size);
    return err;
}

/* ------------------------------------------------------------ aliases */

mm_err_t mm_registry_alias_get(mm_db_t *db, const char *partition_key, const char *alias,
                               int32_t *version, char *errstr, size_t errstr_size) {
    sqlite3_stmt *stmt;
    *version = 0;
    mm_err_t err =
        mm_db_query_cached(db, &stmt, errstr, errstr_size,
                           "SELECT version FROM aliases WHERE partition_key = ? AND alias = ?",
                           "tt", partition_key, alias);
    if (err != MM_OK) return err;
    err = mm_db_step_row(db, stmt, errstr, errstr_size);
    if (err == MM_OK)
        *version = (int32_t)sqlite3_column_int64(stmt, 0);
    else if (err == MM_ERR_NOT_FOUND)
        err = MM_OK;
    mm_db_release(db, stmt);
    return err;
}

mm_err_t mm_registry_alias_set(mm_db_t *db, const char *partition_key, const char *alias,
                               int32_t version, int64_t now_ms, char *errstr, size_t errstr_size) {
    if (version <= 0)
        return mm_db_run(db, errstr, errstr_size,
                         "DELETE FROM aliases WHERE partition_key = ? AND alias = ?", "tt",
                         partition_key, alias);
    return mm_db_run(db, errstr, errstr_size,
                     "INSERT INTO aliases (partition_key, alias, version, updated_at_ms)"
                     " VALUES (?, ?, ?, ?) ON CONFLICT (partition_key, alias) DO UPDATE SET"
                     " version = excluded.version, updated_at_ms = excluded.updated_at_ms",
                     "ttii", partition_key, alias, (int64_t)version, now_ms);
}

/* ------------------------------------------------------------ audit log */

mm_err_t mm_registry_audit_add(mm_db_t *db, int64_t now_ms, const char *partition_key,
                               int32_t version, const char *action, const char *decision,
                               const char *reason, const char *actor, char *errstr,
                               size_t errstr_size) {
    if (version > 0)
        return mm_db_run(db, errstr, errstr_size,
                         "INSERT INTO audit (at_ms, partition_key, version, action, decision,"
                         " reason, actor) VALUES (?, ?, ?, ?, ?, ?, ?)",
                         "ititttt", now_ms, partition_key, (int64_t)version, action, decision,
                         reason, actor);
    return mm_db_run(db, errstr, errstr_size,
                     "INSERT INTO audit (at_ms, partition_key, version, action, decision, reason,"
                     " actor) VALUES (?, ?, NULL, ?, ?, ?, ?)",
                     "itt"
                     "ttt",
                     now_ms, partition_key, action, decision, reason, actor);
}
