/*
 * test_db.c - unit tests of common/src/db.c: migrations by user_version,
 * refusal of a newer schema, transactions, durability across close/reopen,
 * statement helpers and error messages, the per-connection statement cache.
 * Each test works in its own temporary directory.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "mm/db.h"

static char tmpdir[64];
static char db_path[PATH_MAX];
static char errstr[512];

static void setup(void) {
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/mm-test-db-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    snprintf(db_path, sizeof(db_path), "%s/state.db", tmpdir);
    errstr[0] = 0;
}

static void remove_if_exists(const char *suffix) {
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s%s", db_path, suffix);
    unlink(path);
}

static void teardown(void) {
    remove_if_exists("");
    remove_if_exists("-wal");
    remove_if_exists("-shm");
    rmdir(tmpdir);
}

TestSuite(db, .init = setup, .fini = teardown);

/* The second migration inserts a row: applying it twice would show as two rows. */
static const char *const migrations[] = {
    "CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL);",
    "INSERT INTO kv (k, v) VALUES ('seed', 1);",
    "CREATE TABLE parent (id INTEGER PRIMARY KEY);"
    "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES "
    "parent(id));",
};

static int64_t query(mm_db_t *db, const char *sql) {
    int64_t v = -1;
    bool found = false;
    cr_assert_eq(mm_db_query_i64(db, sql, &v, &found, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert(found, "%s returned no row", sql);
    return v;
}

Test(db, migrations_are_applied_once_and_reopen_is_a_no_op) {
    mm_db_t *db = mm_db_open(db_path, migrations, 3, errstr, sizeof(errstr));
    cr_assert_not_null(db, "%s", errstr);
    cr_assert_eq(query(db, "PRAGMA user_version"), 3);
    cr_assert_eq(query(db, "SELECT COUNT(*) FROM kv"), 1);
    mm_db_close(db);

    db = mm_db_open(db_path, migrations, 3, errstr, sizeof(errstr));
    cr_assert_not_null(db, "%s", errstr);
    cr_assert_eq(query(db, "PRAGMA user_version"), 3);
    cr_assert_eq(query(db, "SELECT COUNT(*) FROM kv"), 1, "seed migration ran again");
    mm_db_close(db);
}

Test(db, reopen_with_more_migrations_applies_only_the_new_ones) {
    mm_db_t *db = mm_db_open(db_path, migrations, 2, errstr, sizeof(errstr));
    cr_assert_not_null(db, "%s", errstr);
    cr_assert_eq(query(db, "PRAGMA user_version"), 2);
    mm_db_close(db);

    db = mm_db_open(db_path, migrations, 3, errstr, sizeof(errstr));
    cr_assert_not_null(db, "%s", errstr);
    cr_assert_eq(query(db, "PRAGMA user_version"), 3);
    cr_assert_eq(query(db, "SELECT COUNT(*) FROM kv"), 1);
    cr_assert_eq(query(db, "SELECT COUNT(*) FROM parent"), 0);
    mm_db_close(db);
}

Test(db, newer_schema_is_refused) {
    mm_db_t *db = mm_db_open(db_path, migrations, 3, errstr, sizeof(errstr));
    cr_assert_not_null(db, "%s", errstr);
    mm_db_close(db);

    cr_assert_null(mm_db_open(db_path, migrations, 1, errstr, sizeof(errstr)));
    cr_assert(strstr(errstr, "database schema version 3 is newer than this program (1)"), "%s",
              errstr);
    cr_assert(strstr(errstr, db_path), "%s", errstr);

    mm_db_t *out = (mm_db_t *)1;
    cr_assert_eq(mm_db_open_err(&out, db_path, migrations, 2, errstr, sizeof(errstr)),
                 MM_ERR_UNSUPPORTED);
    cr_assert_null(out);
}

Test(db, failed_migration_is_rolled_back_and_names_its_version) {
    static const char *const broken[] = {
        "CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL);",
        "CREATE TABLE half (x INTEGER); INSERT INTO no_such_table VALUES (1);",
    };
    mm_db_t *out = NULL;
    cr_assert_eq(mm_db_open_err(&out, db_path, broken, 2, errstr, sizeof(errstr)), MM_ERR_DB);
    cr_assert_null(out);
    cr_assert(strstr(errstr, "migration to schema version 2 of 2"), "%s", errstr);
    cr_assert(strstr(errstr, "no_such_table"), "%s", errstr);

    mm_db_t *db = mm_db_open(db_path, migrations, 1, errstr, sizeof(errstr));
    cr_assert_not_null(db, "%s", errstr);
    cr_assert_eq(query(db, "PRAGMA user_version"), 1);
    cr_assert_eq(query(db, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'half'"), 0);
    mm_db_close(db);
}

Test(db, open_sets_wal_and_foreign_keys) {
    mm_db_t *db = mm_db_open(db_path, migrations, 3, errstr, sizeof(errstr));
    cr_assert_not_null(db, "%s", errstr);

    sqlite3_stmt *stmt = NULL;
    cr_assert_eq(mm_db_prepare(db, &stmt, "PRAGMA journal_mode", errstr, sizeof(errstr)), MM_OK);
    cr_assert_eq(sqlite3_step(stmt), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(stmt, 0), "wal");
    sqlite3_finalize(stmt);

    cr_assert_eq(query(db, "PRAGMA synchronous"), 1, "synchronous=NORMAL");
    cr_assert_eq(query(db, "PRAGMA foreign_keys"), 1);
    cr_assert_eq(
        mm_db_exec(db, "INSERT INTO child (id, parent_id) VALUES (1, 42)", errstr, sizeof(errstr)),
        MM_ERR_DB);
    cr_assert(strstr(errstr, "FOREIGN KEY"), "%s", errstr);
    mm_db_close(db);
}

Test(db, rollback_leaves_nothing) {
    mm_db_t *db = mm_db_open(db_path, migrations, 1, errstr, sizeof(errstr));
    cr_assert_not_null(db, "%s", errstr);
    cr_assert_eq(mm_db_begin(db, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(mm_db_exec(db, "INSERT INTO kv VALUES ('a', 1)", errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    cr_assert_eq(query(db, "SELECT COUNT(*) FROM kv"), 1, "visible inside the transaction");
    mm_db_rollback(db);
    cr_assert_eq(query(db, "SELECT COUNT(*) FROM kv"), 0);
    mm_db_rollback(db); /* no transaction open: harmless */
    mm_db_close(db);

    db = mm_db_open(db_path, migrations, 1, errstr, sizeof(errstr));
    cr_assert_not_null(db, "%s", errstr);
    cr_assert_eq(query(db, "SELECT COUNT(*) FROM kv"), 0);
    mm_db_close(db);
}

Test(db, committed_data_survives_close_and_reopen) {
    mm_db_t *db = mm_db_open(db_path, migrations, 1, errstr, sizeof(errstr));
    cr_assert_not_null(db, "%s", errstr);
    cr_assert_eq(mm_db_begin(db, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(mm_db_exec(db, "INSERT INTO kv VALUES ('watermark', 1234567890123)", errstr,
                            sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_assert_eq(mm_db_commit(db, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    mm_db_close(db);

    db = mm_db_open(db_path, migrations, 1, errstr, sizeof(errstr));
    cr_assert_not_null(db, "%s", errstr);
    cr_assert_eq(query(db, "SELECT v FROM kv WHERE k = 'watermark'"), 1234567890123LL);
    mm_db_close(db);
}

Test(db, begin_is_immediate_so_a_second_writer_waits_and_fails_busy) {
    mm_db_t *a = mm_db_open(db_path, migrations, 1, errstr, sizeof(errstr));
    cr_assert_not_null(a, "%s", errstr);
    mm_db_t *b = mm_db_open(db_path, migrations, 1, errstr, sizeof(errstr));
    cr_assert_not_null(b, "%s", errstr);
    sqlite3_busy_timeout(b->sqlite, 10); /* keep the test fast */

    cr_assert_eq(mm_db_begin(a, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(mm_db_begin(b, errstr, sizeof(errstr)), MM_ERR_BUSY, "%s", errstr);
    cr_assert(strstr(errstr, "BEGIN IMMEDIATE"), "%s", errstr);
    mm_db_rollback(a);
    mm_db_close(b);
    mm_db_close(a);
}

Test(db, query_i64_reports_found_and_not_found) {
    mm_db_t *db = mm_db_open(db_path, migrations, 2, errstr, sizeof(errstr));
    cr_assert_not_null(db, "%s", errstr);
    int64_t v = -1;
    bool found = false;

    cr_assert_eq(mm_db_query_i64(db, "SELECT v FROM kv WHERE k = 'seed'", &v, &found, errstr,
                                 sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_assert(found);
    cr_assert_eq(v, 1);

    cr_assert_eq(mm_db_query_i64(db, "SELECT v FROM kv WHERE k = 'absent'", &v, &found, errstr,
                                 sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_assert_not(found);
    cr_assert_eq(v, 0);

    found = true;
    cr_assert_eq(mm_db_query_i64(db, "SELECT MAX(v) FROM kv WHERE k = 'absent'", &v, &found, errstr,
                                 sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_assert_not(found, "NULL counts as not found");

    cr_assert_eq(mm_db_query_i64(db, "SELECT COUNT(*) FROM kv", &v, NULL, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_assert_eq(v, 1);
    mm_db_close(db);
}

Test(db, step_done_resets_but_keeps_bindings) {
    mm_db_t *db = mm_db_open(db_path, migrations, 1, errstr, sizeof(errstr));
    cr_assert_not_null(db, "%s", errstr);
    sqlite3_stmt *stmt = NULL;
    cr_assert_eq(
        mm_db_prepare(db, &stmt, "INSERT INTO kv (k, v) VALUES (?1, ?2)", errstr, sizeof(errstr)),
        MM_OK, "%s", errstr);
    sqlite3_bind_text(stmt, 1, "a", -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, 7);
    cr_assert_eq(mm_db_step_done(db, stmt, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    /* Only the key is rebound: the value binding must still be 7. */
    sqlite3_bind_text(stmt, 1, "b", -1, SQLITE_STATIC);
    cr_assert_eq(mm_db_step_done(db, stmt, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(query(db, "SELECT v FROM kv WHERE k = 'b'"), 7);

    /* A constraint failure is reported with the statement, and the statement stays usable. */
    cr_assert_eq(mm_db_step_done(db, stmt, errstr, sizeof(errstr)), MM_ERR_DB);
    cr_assert(strstr(errstr, "UNIQUE constraint failed"), "%s", errstr);
    cr_assert(strstr(errstr, "INSERT INTO kv"), "%s", errstr);
    sqlite3_bind_text(stmt, 1, "c", -1, SQLITE_STATIC);
    cr_assert_eq(mm_db_step_done(db, stmt, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(query(db, "SELECT COUNT(*) FROM kv"), 3);
    sqlite3_finalize(stmt);
    mm_db_close(db);
}

Test(db, prepare_error_names_path_and_sqlite_message) {
    mm_db_t *db = mm_db_open(db_path, migrations, 1, errstr, sizeof(errstr));
    cr_assert_not_null(db, "%s", errstr);
    sqlite3_stmt *stmt = (sqlite3_stmt *)1;
    cr_assert_eq(mm_db_prepare(db, &stmt, "SELECT * FROM missing_table", errstr, sizeof(errstr)),
                 MM_ERR_DB);
    cr_assert_null(stmt);
    cr_assert(strstr(errstr, db_path), "%s", errstr);
    cr_assert(strstr(errstr, "no such table: missing_table"), "%s", errstr);
    mm_db_close(db);
}

Test(db, open_in_a_missing_directory_fails_with_the_path) {
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/no/such/dir/state.db", tmpdir);
    cr_assert_null(mm_db_open(path, migrations, 1, errstr, sizeof(errstr)));
    cr_assert(strstr(errstr, path), "%s", errstr);
    cr_assert(strstr(errstr, "open"), "%s", errstr);
}

Test(db, close_accepts_null) {
    mm_db_close(NULL); /* a crash here fails the test */
}

/* ------------------------------------------------------------ binding by type string */

Test(db, run_binds_text_integer_real_and_blob_by_type_string) {
    static const char *const typed[] = {"CREATE TABLE t (s TEXT, i INTEGER, d REAL, b BLOB);"};
    mm_db_t *db = mm_db_open(db_path, typed, 1, errstr, sizeof(errstr));
    cr_assert_not_null(db, "%s", errstr);
    cr_assert_eq(mm_db_run(db, errstr, sizeof(errstr), "INSERT INTO t VALUES (?, ?, ?, ?)", "tidb",
                           "text", (int64_t)INT64_MAX, 2.5, "\x01\x00\x02", (size_t)3),
                 MM_OK, "%s", errstr);
    sqlite3_stmt *stmt = NULL;
    cr_assert_eq(mm_db_query(db, &stmt, errstr, sizeof(errstr),
                             "SELECT s, i, d, b FROM t WHERE s = ? AND i = ?", "ti", "text",
                             (int64_t)INT64_MAX),
                 MM_OK, "%s", errstr);
    cr_assert_eq(mm_db_step_row(db, stmt, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    char *s = mm_db_column_strdup(stmt, 0);
    cr_expect_str_eq(s, "text");
    free(s);
    cr_expect_eq(sqlite3_column_int64(stmt, 1), INT64_MAX);
    cr_expect_float_eq(sqlite3_column_double(stmt, 2), 2.5, 1e-12);
    cr_expect_eq(sqlite3_column_bytes(stmt, 3), 3);
    cr_expect_eq(memcmp(sqlite3_column_blob(stmt, 3), "\x01\x00\x02", 3), 0);
    sqlite3_finalize(stmt);
    mm_db_close(db);
}

Test(db, null_text_and_nan_bind_sql_null) {
    static const char *const typed[] = {"CREATE TABLE t (s TEXT, d REAL);"};
    mm_db_t *db = mm_db_open(db_path, typed, 1, errstr, sizeof(errstr));
    cr_assert_not_null(db, "%s", errstr);
    cr_assert_eq(mm_db_run(db, errstr, sizeof(errstr), "INSERT INTO t VALUES (?, ?)", "td",
                           (const char *)NULL, NAN),
                 MM_OK, "%s", errstr);
    cr_expect_eq(query(db, "SELECT count(*) FROM t WHERE s IS NULL AND d IS NULL"), 1);
    sqlite3_stmt *stmt = NULL;
    cr_assert_eq(mm_db_query(db, &stmt, errstr, sizeof(errstr), "SELECT s FROM t", NULL), MM_OK);
    cr_assert_eq(mm_db_step_row(db, stmt, errstr, sizeof(errstr)), MM_OK);
    cr_expect_null(mm_db_column_strdup(stmt, 0), "SQL NULL copies as NULL");
    sqlite3_finalize(stmt);
    mm_db_close(db);
}

Test(db, an_unknown_type_character_is_refused_and_nothing_runs) {
    static const char *const typed[] = {"CREATE TABLE t (s TEXT);"};
    mm_db_t *db = mm_db_open(db_path, typed, 1, errstr, sizeof(errstr));
    cr_assert_not_null(db, "%s", errstr);
    cr_expect_eq(mm_db_run(db, errstr, sizeof(errstr), "INSERT INTO t VALUES (?)", "x", 1),
                 MM_ERR_INVALID_ARG);
    cr_expect(strstr(errstr, "'x'") != NULL, "%s", errstr);
    sqlite3_stmt *stmt = (sqlite3_stmt *)1;
    cr_expect_eq(mm_db_query(db, &stmt, errstr, sizeof(errstr), "SELECT ?", "q", 1),
                 MM_ERR_INVALID_ARG);
    cr_expect_null(stmt, "a failed query leaves no statement behind");
    cr_expect_eq(query(db, "SELECT count(*) FROM t"), 0);
    mm_db_close(db);
}

/* ------------------------------------------------------------ statement cache */

/* Statements alive on the connection: what a cache that leaks or double-finalizes gets wrong. */
static int live_statements(mm_db_t *db) {
    int n = 0;
    for (sqlite3_stmt *st = sqlite3_next_stmt(db->sqlite, NULL); st;
         st = sqlite3_next_stmt(db->sqlite, st))
        n++;
    return n;
}

static sqlite3_stmt *cached(mm_db_t *db, const char *sql) {
    sqlite3_stmt *stmt = NULL;
    cr_assert_eq(mm_db_cached(db, sql, &stmt, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_not_null(stmt);
    return stmt;
}

static mm_db_cache_stats_t cache_stats(mm_db_t *db) {
    mm_db_cache_stats_t stats;
    mm_db_cache_stats(db, &stats);
    return stats;
}

Test(db, a_released_statement_is_handed_out_again_as_a_hit) {
    mm_db_t *db = mm_db_open(db_path, migrations, 2, errstr, sizeof(errstr));
    cr_assert_not_null(db, "%s", errstr);
    mm_db_cache_stats_t before = cache_stats(db);

    sqlite3_stmt *first = cached(db, "SELECT v FROM kv WHERE k = ?");
    mm_db_release(db, first);
    sqlite3_stmt *again = cached(db, "SELECT v FROM kv WHERE k = ?");
    cr_expect_eq(again, first, "the same prepared statement");
    mm_db_release(db, again);
    mm_db_cache_stats_t after = cache_stats(db);
    cr_expect_eq(after.misses - before.misses, 1);
    cr_expect_eq(after.hits - before.hits, 1);

    /* mm_db_run and mm_db_query_i64 go through the cache too. */
    for (int64_t i = 0; i < 3; i++)
        cr_assert_eq(mm_db_run(db, errstr, sizeof(errstr), "INSERT INTO kv (k, v) VALUES (?, ?)",
                               "ti",
                               i == 0   ? "a"
                               : i == 1 ? "b"
                                        : "c",
                               i),
                     MM_OK, "%s", errstr);
    cr_expect_eq(query(db, "SELECT count(*) FROM kv"), 4);
    cr_expect_eq(query(db, "SELECT count(*) FROM kv"), 4);
    mm_db_cache_stats_t last = cache_stats(db);
    cr_expect_eq(last.misses - after.misses, 2, "one INSERT, one count");
    cr_expect_eq(last.hits - after.hits, 3);
    cr_expect_eq(last.evictions, 0);
    mm_db_close(db);
}

Test(db, a_full_cache_finalizes_its_least_recently_used_statement) {
    mm_db_t *db = mm_db_open(db_path, migrations, 1, errstr, sizeof(errstr));
    cr_assert_not_null(db, "%s", errstr);
    /* Fill it with statements of our own: whatever opening cached is older and goes first. */
    char sql[64];
    for (int i = 0; i < MM_DB_STMT_CACHE_SIZE; i++) {
        snprintf(sql, sizeof(sql), "SELECT %d", i);
        mm_db_release(db, cached(db, sql));
    }
    mm_db_cache_stats_t full = cache_stats(db);
    cr_assert_eq(full.cached, MM_DB_STMT_CACHE_SIZE);
    cr_assert_eq(live_statements(db), MM_DB_STMT_CACHE_SIZE);

    mm_db_release(db, cached(db, "SELECT 0")); /* used again: "SELECT 1" is now the oldest */
    mm_db_release(db, cached(db, "SELECT 1000"));
    mm_db_cache_stats_t after = cache_stats(db);
    cr_expect_eq(after.evictions - full.evictions, 1);
    cr_expect_eq(after.cached, MM_DB_STMT_CACHE_SIZE);
    cr_expect_eq(live_statements(db), MM_DB_STMT_CACHE_SIZE, "the evicted one was finalized");

    mm_db_release(db, cached(db, "SELECT 0"));
    cr_expect_eq(cache_stats(db).hits - after.hits, 1, "SELECT 0 stayed");
    mm_db_release(db, cached(db, "SELECT 1"));
    cr_expect_eq(cache_stats(db).misses - after.misses, 1, "SELECT 1 was evicted");
    mm_db_close(db);
}

Test(db, a_held_statement_is_neither_handed_out_twice_nor_evicted) {
    mm_db_t *db = mm_db_open(db_path, migrations, 2, errstr, sizeof(errstr));
    cr_assert_not_null(db, "%s", errstr);
    int live = live_statements(db);
    sqlite3_stmt *outer = cached(db, "SELECT k, v FROM kv");
    cr_assert_eq(mm_db_step_row(db, outer, errstr, sizeof(errstr)), MM_OK, "%s", errstr);

    /* The same SQL while the first is mid-iteration: a statement of its own. */
    sqlite3_stmt *inner = cached(db, "SELECT k, v FROM kv");
    cr_assert_neq(inner, outer);
    cr_expect_eq(cache_stats(db).bypassed, 1);
    cr_expect_eq(live_statements(db), live + 2);
    cr_assert_eq(mm_db_step_row(db, inner, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    mm_db_release(db, inner);
    cr_expect_eq(live_statements(db), live + 1, "the uncached one is finalized on release");

    /* Cycling more statements than the cache holds leaves the held one alone. */
    char sql[64];
    for (int i = 0; i < 2 * MM_DB_STMT_CACHE_SIZE; i++) {
        snprintf(sql, sizeof(sql), "SELECT %d", i);
        mm_db_release(db, cached(db, sql));
    }
    cr_expect_gt(cache_stats(db).evictions, 0);
    cr_expect_str_eq((const char *)sqlite3_column_text(outer, 0), "seed");
    cr_expect_eq(mm_db_step_row(db, outer, errstr, sizeof(errstr)), MM_ERR_NOT_FOUND);
    mm_db_release(db, outer);
    cr_expect_eq(cached(db, "SELECT k, v FROM kv"), outer, "still cached after the churn");
    mm_db_close(db); /* finalizes the held one: nothing leaks (the sanitizer build checks) */
}

Test(db, a_released_statement_comes_back_reset_without_bindings) {
    mm_db_t *db = mm_db_open(db_path, migrations, 2, errstr, sizeof(errstr));
    cr_assert_not_null(db, "%s", errstr);
    sqlite3_stmt *stmt = NULL;
    cr_assert_eq(mm_db_query_cached(db, &stmt, errstr, sizeof(errstr),
                                    "SELECT ?1, (SELECT count(*) FROM kv)", "i", (int64_t)42),
                 MM_OK, "%s", errstr);
    cr_assert_eq(mm_db_step_row(db, stmt, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_expect_eq(sqlite3_column_int64(stmt, 0), 42);
    mm_db_release(db, stmt); /* mid-result: reset here, not left holding a read */

    cr_assert_eq(
        mm_db_run(db, errstr, sizeof(errstr), "INSERT INTO kv (k, v) VALUES ('x', 2)", NULL), MM_OK,
        "%s", errstr);
    sqlite3_stmt *again = cached(db, "SELECT ?1, (SELECT count(*) FROM kv)");
    cr_assert_eq(again, stmt);
    cr_assert_eq(mm_db_step_row(db, again, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_expect_eq(sqlite3_column_type(again, 0), SQLITE_NULL, "the binding of 42 was cleared");
    cr_expect_eq(sqlite3_column_int64(again, 1), 2, "a fresh run sees the insert");
    mm_db_release(db, again);
    mm_db_close(db);
}

Test(db, a_statement_that_fails_to_prepare_is_not_cached) {
    mm_db_t *db = mm_db_open(db_path, migrations, 1, errstr, sizeof(errstr));
    cr_assert_not_null(db, "%s", errstr);
    size_t n = cache_stats(db).cached;
    sqlite3_stmt *stmt = (sqlite3_stmt *)1;
    cr_expect_eq(mm_db_cached(db, "SELECT * FROM missing_table", &stmt, errstr, sizeof(errstr)),
                 MM_ERR_DB);
    cr_expect_null(stmt);
    cr_expect(strstr(errstr, "no such table: missing_table"), "%s", errstr);
    cr_expect_eq(cache_stats(db).cached, n);
    mm_db_release(db, NULL); /* accepted */
    mm_db_close(db);
}

Test(db, cached_statements_follow_schema_changes) {
    static const char *const one[] = {"CREATE TABLE t (a INTEGER);"
                                      "INSERT INTO t VALUES (1);"};
    mm_db_t *db = mm_db_open(db_path, one, 1, errstr, sizeof(errstr));
    cr_assert_not_null(db, "%s", errstr);
    sqlite3_stmt *stmt = cached(db, "SELECT * FROM t");
    cr_assert_eq(sqlite3_column_count(stmt), 1);
    mm_db_release(db, stmt);

    cr_assert_eq(
        mm_db_exec(db, "ALTER TABLE t ADD COLUMN b TEXT DEFAULT 'new'", errstr, sizeof(errstr)),
        MM_OK, "%s", errstr);
    stmt = cached(db, "SELECT * FROM t");
    cr_assert_eq(mm_db_step_row(db, stmt, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_expect_eq(sqlite3_column_count(stmt), 2, "re-prepared for the new column");
    cr_expect_str_eq((const char *)sqlite3_column_text(stmt, 1), "new");
    mm_db_release(db, stmt);

    cr_assert_eq(mm_db_exec(db, "DROP TABLE t", errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    stmt = cached(db, "SELECT * FROM t");
    cr_expect_eq(mm_db_step_row(db, stmt, errstr, sizeof(errstr)), MM_ERR_DB);
    cr_expect(strstr(errstr, "no such table"), "%s", errstr);
    mm_db_release(db, stmt);
    int64_t n = -1;
    cr_expect_eq(mm_db_query_i64(db, "SELECT count(*) FROM t", &n, NULL, errstr, sizeof(errstr)),
                 MM_ERR_DB);

    cr_assert_eq(mm_db_exec(db,
                            "CREATE TABLE t (x TEXT, y TEXT, z TEXT); INSERT INTO t VALUES "
                            "('p', 'q', 'r'), ('s', 't', 'u');",
                            errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    stmt = cached(db, "SELECT * FROM t");
    cr_assert_eq(mm_db_step_row(db, stmt, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_expect_eq(sqlite3_column_count(stmt), 3);
    cr_expect_str_eq((const char *)sqlite3_column_text(stmt, 2), "r");
    mm_db_release(db, stmt);
    cr_expect_eq(query(db, "SELECT count(*) FROM t"), 2);
    mm_db_close(db);
}

Test(db, close_with_statements_cached_and_held_frees_everything) {
    /* A first open and close, so that SQLite's one-time setup is not counted. */
    mm_db_close(mm_db_open(db_path, migrations, 2, errstr, sizeof(errstr)));
    sqlite3_int64 baseline = sqlite3_memory_used();

    mm_db_t *db = mm_db_open(db_path, migrations, 2, errstr, sizeof(errstr));
    cr_assert_not_null(db, "%s", errstr);
    char sql[64];
    for (int i = 0; i < MM_DB_STMT_CACHE_SIZE + 5; i++) {
        snprintf(sql, sizeof(sql), "SELECT %d, k FROM kv", i);
        mm_db_release(db, cached(db, sql));
    }
    sqlite3_stmt *held = cached(db, "SELECT v FROM kv");
    cr_assert_eq(mm_db_step_row(db, held, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_gt(sqlite3_memory_used(), baseline);
    mm_db_close(db);
    /* A statement left unfinalized would keep the connection, and its memory, alive. */
    cr_expect_eq(sqlite3_memory_used(), baseline);
}
