/*
 * registry_query.c - the registry's read-only questions (see registry.h):
 * the per-key summary of `mmctl models list`, a key's recent audit rows, and
 * the counts of `mmctl report`.
 *
 * Workload: an operator's occasional command or a script polling a report
 * once a second over registries of ~10,000 keys: one SQL statement per
 * question, rows handed to a callback without being collected.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "mm/registry.h"
#include "mm/util.h"

/* A column as a double, NaN for SQL NULL. */
static double column_double_or_nan(sqlite3_stmt *stmt, int col) {
    return sqlite3_column_type(stmt, col) == SQLITE_NULL ? NAN : sqlite3_column_double(stmt, col);
}

mm_err_t mm_registry_list(mm_db_t *db, const char *metric, mm_registry_key_cb_t *cb, void *opaque,
                          char *errstr, size_t errstr_size) {
    char path[80];
    snprintf(path, sizeof(path), "$.\"%s\"", metric);
    sqlite3_stmt *stmt = NULL;
    mm_err_t err = mm_db_query(
        db, &stmt, errstr, errstr_size,
        "WITH keys AS (SELECT partition_key, count(*) AS n FROM versions GROUP BY partition_key)"
        " SELECT keys.partition_key, keys.n, ch.version, ch.algorithm,"
        " json_extract(ch.metrics, ?1), json_extract(ch.baseline, ?1), pv.version, cl.version,"
        " ch.fallback, fb.version"
        " FROM keys"
        " LEFT JOIN aliases ach ON ach.partition_key = keys.partition_key AND ach.alias = "
        "'champion'"
        " LEFT JOIN versions ch ON ch.partition_key = ach.partition_key AND ch.version = "
        "ach.version"
        " LEFT JOIN aliases pv ON pv.partition_key = keys.partition_key AND pv.alias = 'previous'"
        " LEFT JOIN aliases cl ON cl.partition_key = keys.partition_key AND cl.alias = 'challenger'"
        " LEFT JOIN aliases fb ON fb.partition_key = keys.partition_key AND fb.alias = 'fallback'"
        " ORDER BY keys.partition_key",
        "t", path);
    if (err != MM_OK) return err;
    while ((err = mm_db_step_row(db, stmt, errstr, errstr_size)) == MM_OK) {
        const unsigned char *key = sqlite3_column_text(stmt, 0);
        const unsigned char *algorithm = sqlite3_column_text(stmt, 3);
        mm_registry_key_summary_t row = {
            .partition_key = key ? (const char *)key : "",
            .versions = sqlite3_column_int64(stmt, 1),
            .champion = (int32_t)sqlite3_column_int64(stmt, 2),
            .algorithm = algorithm ? (const char *)algorithm : NULL,
            .value = column_double_or_nan(stmt, 4),
            .baseline = column_double_or_nan(stmt, 5),
            .previous = (int32_t)sqlite3_column_int64(stmt, 6),
            .challenger = (int32_t)sqlite3_column_int64(stmt, 7),
            .fallback = sqlite3_column_int64(stmt, 8) != 0,
            .fallback_version = (int32_t)sqlite3_column_int64(stmt, 9),
        };
        if (!cb(opaque, &row)) break;
    }
    sqlite3_finalize(stmt);
    return err == MM_ERR_NOT_FOUND ? MM_OK : err;
}

mm_err_t mm_registry_audit_recent(mm_db_t *db, const char *partition_key, int limit,
                                  mm_registry_audit_cb_t *cb, void *opaque, char *errstr,
                                  size_t errstr_size) {
    sqlite3_stmt *stmt = NULL;
    mm_err_t err = mm_db_query(db, &stmt, errstr, errstr_size,
                               "SELECT at_ms, version, action, decision, reason, actor FROM audit"
                               " WHERE partition_key = ? ORDER BY id DESC LIMIT ?",
                               "ti", partition_key, (int64_t)limit);
    if (err != MM_OK) return err;
    while ((err = mm_db_step_row(db, stmt, errstr, errstr_size)) == MM_OK) {
        mm_registry_audit_entry_t entry = {
            .at_ms = sqlite3_column_int64(stmt, 0),
            .version = (int32_t)sqlite3_column_int64(stmt, 1),
            .action = (const char *)sqlite3_column_text(stmt, 2),
            .decision = (const char *)sqlite3_column_text(stmt, 3),
            .reason = (const char *)sqlite3_column_text(stmt, 4),
            .actor = (const char *)sqlite3_column_text(stmt, 5),
        };
        if (!cb(opaque, &entry)) break;
    }
    sqlite3_finalize(stmt);
    return err == MM_ERR_NOT_FOUND ? MM_OK : err;
}

mm_err_t mm_registry_stats(mm_db_t *db, mm_registry_stats_t *stats, char *errstr,
                           size_t errstr_size) {
    static const struct {
        size_t offset;
        const char *sql;
    } counts[] = {
        {offsetof(mm_registry_stats_t, keys), "SELECT count(DISTINCT partition_key) FROM versions"},
        {offsetof(mm_registry_stats_t, versions), "SELECT count(*) FROM versions"},
        {offsetof(mm_registry_stats_t, approved),
         "SELECT count(*) FROM versions WHERE status = 'approved'"},
        {offsetof(mm_registry_stats_t, rejected),
         "SELECT count(*) FROM versions WHERE status = 'rejected'"},
        {offsetof(mm_registry_stats_t, fallback_versions),
         "SELECT count(*) FROM versions WHERE status = 'fallback'"},
        {offsetof(mm_registry_stats_t, fallback_served),
         "SELECT count(*) FROM aliases f WHERE f.alias = 'fallback' AND NOT EXISTS"
         " (SELECT 1 FROM aliases c WHERE c.partition_key = f.partition_key"
         " AND c.alias = 'champion')"},
        {offsetof(mm_registry_stats_t, fallback),
         "SELECT count(*) FROM versions v WHERE v.fallback = 1 AND v.version ="
         " (SELECT max(w.version) FROM versions w WHERE w.partition_key = v.partition_key)"},
        {offsetof(mm_registry_stats_t, champions),
         "SELECT count(*) FROM aliases WHERE alias = 'champion'"},
        {offsetof(mm_registry_stats_t, decided_keys),
         "SELECT count(DISTINCT partition_key) FROM audit WHERE decision IS NOT NULL"},
        {offsetof(mm_registry_stats_t, promoted),
         "SELECT count(*) FROM audit WHERE action = 'promote'"},
        {offsetof(mm_registry_stats_t, rolled_back),
         "SELECT count(*) FROM audit WHERE action = 'rollback'"},
        {offsetof(mm_registry_stats_t, outbox), "SELECT count(*) FROM outbox"},
    };
    memset(stats, 0, sizeof(*stats));
    for (size_t i = 0; i < MM_ARRAY_SIZE(counts); i++) {
        int64_t value = 0;
        bool found = false;
        mm_err_t err = mm_db_query_i64(db, counts[i].sql, &value, &found, errstr, errstr_size);
        if (err != MM_OK) return err;
        *(int64_t *)((char *)stats + counts[i].offset) = found ? value : 0;
    }
    for (int m = 0; m < MM_METRIC__COUNT; m++) {
        mm_registry_metric_mean_t *mean = &stats->metrics[m];
        mean->model = mean->baseline = NAN;
        char path[64];
        snprintf(path, sizeof(path), "$.\"%s\"", mm_metric_name((mm_metric_id_t)m));
        sqlite3_stmt *stmt = NULL;
        mm_err_t err = mm_db_query(
            db, &stmt, errstr, errstr_size,
            "SELECT count(*), avg(json_extract(v.metrics, ?1)), avg(json_extract(v.baseline, ?1))"
            " FROM aliases a JOIN versions v"
            " ON v.partition_key = a.partition_key AND v.version = a.version"
            " WHERE a.alias = 'champion' AND json_extract(v.metrics, ?1) IS NOT NULL"
            " AND json_extract(v.baseline, ?1) IS NOT NULL",
            "t", path);
        if (err != MM_OK) return err;
        err = mm_db_step_row(db, stmt, errstr, errstr_size);
        if (err == MM_OK) {
            mean->n = sqlite3_column_int64(stmt, 0);
            if (mean->n > 0) {
                mean->model = sqlite3_column_double(stmt, 1);
                mean->baseline = sqlite3_column_double(stmt, 2);
            }
        }
        sqlite3_finalize(stmt);
        if (err != MM_OK && err != MM_ERR_NOT_FOUND) return err;
    }
    return MM_OK;
}
