/*
 * registry_query.c - the registry's read-only questions (see registry.h):
 * the per-key summary of `mmctl models list`, a key's recent audit rows, and
 * the counts of `mmctl report`.
 *
 * Workload: an operator's occasional command or a script polling a report
 * over registries of 10,000 to 10^6 keys: one SQL statement per question
 * (the report: one scan per table), rows handed to a callback without being
 * collected.
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

/* Run @p sql (one row of @p n integers) into the stats fields at @p offsets; NULL counts 0. */
static mm_err_t stats_row(mm_db_t *db, const char *sql, const size_t *offsets, int n,
                          mm_registry_stats_t *stats, char *errstr, size_t errstr_size) {
    sqlite3_stmt *stmt = NULL;
    mm_err_t err = mm_db_prepare(db, &stmt, sql, errstr, errstr_size);
    if (err != MM_OK) return err;
    err = mm_db_step_row(db, stmt, errstr, errstr_size);
    if (err == MM_OK)
        for (int i = 0; i < n; i++)
            *(int64_t *)((char *)stats + offsets[i]) = sqlite3_column_int64(stmt, i);
    sqlite3_finalize(stmt);
    return err == MM_ERR_NOT_FOUND ? MM_OK : err;
}

/*
 * The champions' mean of every metric against their baselines, in one pass
 * over the champions: per metric, the champions with both values, and the
 * two means over those. The subquery's LIMIT -1 (no limit) keeps SQLite
 * from flattening it into the aggregate, which would evaluate each
 * json_extract three times per row instead of once.
 */
static mm_err_t stats_metric_means(mm_db_t *db, mm_registry_stats_t *stats, char *errstr,
                                   size_t errstr_size) {
    char sql[8192], *p = sql;
    size_t left = sizeof(sql);
    int n = snprintf(p, left, "SELECT 0");
    for (int m = 0; m < MM_METRIC__COUNT && n > 0 && (size_t)n < left; m++) {
        p += n, left -= (size_t)n;
        n = snprintf(p, left,
                     ", count(CASE WHEN m%d IS NOT NULL AND b%d IS NOT NULL THEN 1 END)"
                     ", avg(CASE WHEN m%d IS NOT NULL AND b%d IS NOT NULL THEN m%d END)"
                     ", avg(CASE WHEN m%d IS NOT NULL AND b%d IS NOT NULL THEN b%d END)",
                     m, m, m, m, m, m, m, m);
    }
    for (int m = 0; m < MM_METRIC__COUNT && n > 0 && (size_t)n < left; m++) {
        p += n, left -= (size_t)n;
        const char *name = mm_metric_name((mm_metric_id_t)m);
        n = snprintf(p, left,
                     "%s json_extract(v.metrics, '$.\"%s\"') AS m%d,"
                     " json_extract(v.baseline, '$.\"%s\"') AS b%d",
                     m == 0 ? " FROM (SELECT" : ",", name, m, name, m);
    }
    if (n > 0 && (size_t)n < left) {
        p += n, left -= (size_t)n;
        n = snprintf(p, left,
                     " FROM aliases a JOIN versions v"
                     " ON v.partition_key = a.partition_key AND v.version = a.version"
                     " WHERE a.alias = 'champion' LIMIT -1)");
    }
    if (n <= 0 || (size_t)n >= left)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "registry stats: query too long");
    for (int m = 0; m < MM_METRIC__COUNT; m++) {
        stats->metrics[m].model = stats->metrics[m].baseline = NAN;
        stats->metrics[m].n = 0;
    }
    sqlite3_stmt *stmt = NULL;
    mm_err_t err = mm_db_prepare(db, &stmt, sql, errstr, errstr_size);
    if (err != MM_OK) return err;
    err = mm_db_step_row(db, stmt, errstr, errstr_size);
    if (err == MM_OK) {
        for (int m = 0; m < MM_METRIC__COUNT; m++) {
            mm_registry_metric_mean_t *mean = &stats->metrics[m];
            mean->n = sqlite3_column_int64(stmt, 1 + 3 * m);
            if (mean->n > 0) {
                mean->model = sqlite3_column_double(stmt, 2 + 3 * m);
                mean->baseline = sqlite3_column_double(stmt, 3 + 3 * m);
            }
        }
    }
    sqlite3_finalize(stmt);
    return err == MM_ERR_NOT_FOUND ? MM_OK : err;
}

/*
 * One scan per table, not one per count: at 10^6 keys the versions table
 * is gigabytes (bench/registry/RESULTS.md).
 */
mm_err_t mm_registry_stats(mm_db_t *db, mm_registry_stats_t *stats, char *errstr,
                           size_t errstr_size) {
#define F(field) offsetof(mm_registry_stats_t, field)
    static const size_t keys[] = {F(keys)};
    static const size_t versions[] = {F(versions), F(approved), F(rejected), F(fallback_versions),
                                      F(fallback)};
    static const size_t aliases[] = {F(champions), F(fallback_served)};
    static const size_t audit[] = {F(decided_keys), F(promoted), F(rolled_back)};
    static const size_t outbox[] = {F(outbox)};
#undef F
    static const struct {
        const char *sql;
        const size_t *offsets;
        int n;
    } rows[] = {
        /* The primary key's index, in key order: no table rows read. */
        {"SELECT count(DISTINCT partition_key) FROM versions", keys, 1},
        /* fallback: keys whose newest version is a declared fallback. */
        {"SELECT count(*), coalesce(sum(v.status = 'approved'), 0),"
         " coalesce(sum(v.status = 'rejected'), 0), coalesce(sum(v.status = 'fallback'), 0),"
         " coalesce(sum(v.fallback = 1 AND v.version ="
         " (SELECT max(w.version) FROM versions w WHERE w.partition_key = v.partition_key)), 0)"
         " FROM versions v",
         versions, 5},
        /* fallback_served: keys without a champion that are served a declared fallback. */
        {"SELECT coalesce(sum(f.alias = 'champion'), 0),"
         " coalesce(sum(f.alias = 'fallback' AND NOT EXISTS (SELECT 1 FROM aliases c"
         " WHERE c.partition_key = f.partition_key AND c.alias = 'champion')), 0)"
         " FROM aliases f",
         aliases, 2},
        {"SELECT count(DISTINCT CASE WHEN decision IS NOT NULL THEN partition_key END),"
         " coalesce(sum(action = 'promote'), 0), coalesce(sum(action = 'rollback'), 0) FROM audit",
         audit, 3},
        {"SELECT count(*) FROM outbox", outbox, 1},
    };
    memset(stats, 0, sizeof(*stats));
    for (size_t i = 0; i < MM_ARRAY_SIZE(rows); i++) {
        mm_err_t err =
            stats_row(db, rows[i].sql, rows[i].offsets, rows[i].n, stats, errstr, errstr_size);
        if (err != MM_OK) return err;
    }
    return stats_metric_means(db, stats, errstr, errstr_size);
}
