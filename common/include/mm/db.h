/*
 * db.h - SQLite helpers: open with WAL and a busy timeout, versioned
 * migrations (PRAGMA user_version), transactions, parameter binding by a type
 * string, and errors copied out of sqlite3_errmsg() at the call site.
 *
 * A handle belongs to one thread at a time; open one per thread.
 *
 * Each handle keeps its most recently used prepared statements (up to
 * MM_DB_STMT_CACHE_SIZE, keyed by SQL text): mm_db_cached() hands one out,
 * mm_db_release() gives it back. mm_db_run(), mm_db_query_i64() and the
 * transaction helpers go through it.
 */
#ifndef MM_DB_H
#define MM_DB_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "mm/err.h"

/** Prepared statements a connection keeps, least recently used evicted first. */
#define MM_DB_STMT_CACHE_SIZE 48

struct mm_db_stmt_cache;

typedef struct mm_db {
    sqlite3 *sqlite;
    char *path;
    struct mm_db_stmt_cache *cache; /* NULL: every statement prepared per use */
} mm_db_t;

/**
 * @brief Open (creating) @p path, set WAL, synchronous=NORMAL or FULL, foreign keys, busy timeout,
 * then apply @p migrations[user_version..n-1] each in its own transaction.
 * migrations[i] is SQL text that upgrades schema version i to i+1.
 * @returns NULL with errstr set on failure.
 */
mm_db_t *mm_db_open(const char *path, const char *const *migrations, size_t n_migrations,
                    char *errstr, size_t errstr_size);
/**
 * @brief Same as mm_db_open, returning why it failed: MM_ERR_UNSUPPORTED when
 * the database's schema version is newer than @p n_migrations, MM_ERR_BUSY
 * when another connection holds the lock past the busy timeout, MM_ERR_DB
 * otherwise. @p *db is set on success and NULL on failure.
 */
mm_err_t mm_db_open_err(mm_db_t **db, const char *path, const char *const *migrations,
                        size_t n_migrations, char *errstr, size_t errstr_size);
/**
 * @brief Finalize the cached statements and close. Statements from
 * mm_db_cached() not yet released are finalized too (their pointers go
 * stale); ones from mm_db_prepare() or mm_db_query() must be finalized first.
 * Accepts NULL.
 */
void mm_db_close(mm_db_t *db);

/** @brief Execute SQL with no result rows. */
mm_err_t mm_db_exec(mm_db_t *db, const char *sql, char *errstr, size_t errstr_size);
mm_err_t mm_db_begin(mm_db_t *db, char *errstr, size_t errstr_size); /* BEGIN IMMEDIATE */
/** @remark On failure the transaction is still open: call mm_db_rollback. */
mm_err_t mm_db_commit(mm_db_t *db, char *errstr, size_t errstr_size);
void mm_db_rollback(mm_db_t *db); /* best effort, never fails loudly */

/** @brief Prepare; on failure copies sqlite3_errmsg into errstr. */
mm_err_t mm_db_prepare(mm_db_t *db, sqlite3_stmt **stmt, const char *sql, char *errstr,
                       size_t errstr_size);
/**
 * @brief A prepared statement for @p sql from the connection's cache (prepared
 * and cached on a miss), reset and with no bindings. The caller holds it until
 * mm_db_release(); while held it is never handed out again nor evicted: the
 * same SQL asked for meanwhile gets a fresh statement that release finalizes.
 * When the cache is full, the least recently used statement not held is
 * finalized. On failure *@p stmt is NULL.
 */
mm_err_t mm_db_cached(mm_db_t *db, const char *sql, sqlite3_stmt **stmt, char *errstr,
                      size_t errstr_size);
/**
 * @brief Give back a statement from mm_db_cached() or mm_db_query_cached():
 * reset and its bindings cleared, kept in the cache (or finalized if it was
 * not cached). Accepts NULL.
 */
void mm_db_release(mm_db_t *db, sqlite3_stmt *stmt);

/** Counters of a connection's statement cache, since it was opened. */
typedef struct mm_db_cache_stats {
    uint64_t hits;      /* handed out a cached statement */
    uint64_t misses;    /* prepared, then cached unless every entry was held */
    uint64_t evictions; /* finalized to make room */
    uint64_t bypassed;  /* prepared uncached: the cached statement of that SQL was held */
    size_t cached;      /* statements in the cache now */
} mm_db_cache_stats_t;

/** @brief The cache's counters (all 0 for a handle without a cache). */
void mm_db_cache_stats(const mm_db_t *db, mm_db_cache_stats_t *stats);

/** @brief Step a statement expected to finish (DONE); copies the error out. Resets it. */
mm_err_t mm_db_step_done(mm_db_t *db, sqlite3_stmt *stmt, char *errstr, size_t errstr_size);

/**
 * @brief Step a query: MM_OK with a row, MM_ERR_NOT_FOUND when there are no
 * more rows, MM_ERR_BUSY when the database is locked, else MM_ERR_DB (errstr
 * says why).
 */
mm_err_t mm_db_step_row(mm_db_t *db, sqlite3_stmt *stmt, char *errstr, size_t errstr_size);

/**
 * @brief Run a query returning one integer (e.g. COUNT(*)); *found false if no
 * row or a NULL value (MAX() of an empty table), and *out is then 0.
 * @p found may be NULL.
 */
mm_err_t mm_db_query_i64(mm_db_t *db, const char *sql, int64_t *out, bool *found, char *errstr,
                         size_t errstr_size);

/*
 * Binding by a type string: one character per '?' parameter, in order.
 *   t  const char *        text; NULL binds NULL
 *   i  int64_t             integer (pass int64_t: cast narrower values)
 *   d  double              real; NaN binds NULL
 *   b  const void *, size_t  blob (two arguments); NULL binds an empty blob
 */

/**
 * @brief Bind @p ap to @p stmt's parameters 1..strlen(@p types) by @p types.
 * @returns MM_OK, MM_ERR_INVALID_ARG for an unknown type character, or the
 * SQLite failure (errstr names the database).
 */
mm_err_t mm_db_bindv(mm_db_t *db, sqlite3_stmt *stmt, const char *types, va_list ap, char *errstr,
                     size_t errstr_size);

/** @brief mm_db_bindv() with variadic arguments. */
mm_err_t mm_db_bind(mm_db_t *db, sqlite3_stmt *stmt, char *errstr, size_t errstr_size,
                    const char *types, ...);

/**
 * @brief Prepare @p sql and bind the arguments by @p types; the caller steps
 * (mm_db_step_row) and finalizes *@p stmt. On failure *@p stmt is NULL.
 */
mm_err_t mm_db_query(mm_db_t *db, sqlite3_stmt **stmt, char *errstr, size_t errstr_size,
                     const char *sql, const char *types, ...);

/**
 * @brief mm_db_query() through the statement cache: the caller steps and
 * gives *@p stmt back with mm_db_release(). On failure *@p stmt is NULL.
 */
mm_err_t mm_db_query_cached(mm_db_t *db, sqlite3_stmt **stmt, char *errstr, size_t errstr_size,
                            const char *sql, const char *types, ...);

/**
 * @brief Bind the arguments by @p types to the cached statement of @p sql and
 * step it to the end: for statements that return no rows (INSERT, UPDATE,
 * DELETE).
 */
mm_err_t mm_db_run(mm_db_t *db, char *errstr, size_t errstr_size, const char *sql,
                   const char *types, ...);

/**
 * @brief A copy of text column @p col of the current row (malloc'd, caller
 * frees), or NULL for SQL NULL (or when out of memory).
 */
char *mm_db_column_strdup(sqlite3_stmt *stmt, int col);

/** @brief Format a SQLite failure: "what: sqlite message". */
mm_err_t mm_db_err(mm_db_t *db, const char *what, char *errstr, size_t errstr_size);

#endif
