/*
 * db.c - SQLite helpers (see db.h): open with WAL, synchronous=NORMAL,
 * foreign keys and a busy timeout; versioned migrations by PRAGMA
 * user_version; transactions; errors copied out of sqlite3_errmsg() at once,
 * with the database path and what was being done.
 *
 * Used for local state stores, the registry and sinks: many small write
 * transactions from one owning thread per handle, so handles are opened
 * SQLITE_OPEN_NOMUTEX and never shared.
 *
 * Preparing a statement costs more than running a point query on an index
 * (bench/registry/RESULTS.md), so each handle caches its statements by SQL
 * text: a small array scanned by hash, least recently used evicted. The few
 * dozen distinct statements a service runs all fit.
 */
#include "mm/db.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/hashmap.h"

#define DB_BUSY_TIMEOUT_MS 10000
#define DB_SQL_SHOWN       80 /* characters of a statement quoted in an error */

static mm_err_t code_for(int rc) {
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return MM_ERR_BUSY;
    case SQLITE_NOMEM:
        return MM_ERR_NOMEM;
    default:
        return MM_ERR_DB;
    }
}

/* "path: <what>: sqlite message", with the code mapped from the connection's last error. */
static mm_err_t db_errf(sqlite3 *sqlite, const char *path, char *errstr, size_t errstr_size,
                        const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static mm_err_t db_errf(sqlite3 *sqlite, const char *path, char *errstr, size_t errstr_size,
                        const char *fmt, ...) {
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    int rc = sqlite ? sqlite3_extended_errcode(sqlite) : SQLITE_NOMEM;
    const char *msg = sqlite ? sqlite3_errmsg(sqlite) : "out of memory";
    return mm_errf(code_for(rc), errstr, errstr_size, "%s: %s: %s", path ? path : "(db)", what,
                   msg);
}

mm_err_t mm_db_err(mm_db_t *db, const char *what, char *errstr, size_t errstr_size) {
    if (!db) return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "%s: no database", what);
    return db_errf(db->sqlite, db->path, errstr, errstr_size, "%s", what);
}

/* ------------------------------------------------------------ statement cache */

typedef struct {
    char *sql;
    uint64_t hash;
    sqlite3_stmt *stmt;
    uint64_t last_used; /* the cache's clock at the last hand-out */
    bool held;
} db_cached_t;

struct mm_db_stmt_cache {
    db_cached_t entries[MM_DB_STMT_CACHE_SIZE];
    size_t n;
    uint64_t clock;
    mm_db_cache_stats_t stats;
};

static void cache_free(struct mm_db_stmt_cache *cache) {
    if (!cache) return;
    for (size_t i = 0; i < cache->n; i++) {
        sqlite3_finalize(cache->entries[i].stmt);
        free(cache->entries[i].sql);
    }
    free(cache);
}

/* The entry to (re)fill with a new statement, or NULL when every one is held. */
static db_cached_t *cache_slot(struct mm_db_stmt_cache *cache) {
    if (cache->n < MM_DB_STMT_CACHE_SIZE) return &cache->entries[cache->n++];
    db_cached_t *oldest = NULL;
    for (size_t i = 0; i < cache->n; i++) {
        db_cached_t *e = &cache->entries[i];
        if (!e->held && (!oldest || e->last_used < oldest->last_used)) oldest = e;
    }
    if (!oldest) return NULL;
    sqlite3_finalize(oldest->stmt);
    free(oldest->sql);
    cache->stats.evictions++;
    return oldest;
}

mm_err_t mm_db_cached(mm_db_t *db, const char *sql, sqlite3_stmt **stmt, char *errstr,
                      size_t errstr_size) {
    if (!db || !stmt || !sql)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "db prepare: no SQL");
    *stmt = NULL;
    struct mm_db_stmt_cache *cache = db->cache;
    if (!cache) return mm_db_prepare(db, stmt, sql, errstr, errstr_size);
    size_t len = strlen(sql);
    uint64_t hash = mm_hashmap_hash(sql, len);
    for (size_t i = 0; i < cache->n; i++) {
        db_cached_t *e = &cache->entries[i];
        if (e->hash != hash || strcmp(e->sql, sql) != 0) continue;
        if (e->held) {
            cache->stats.bypassed++;
            return mm_db_prepare(db, stmt, sql, errstr, errstr_size);
        }
        e->held = true;
        e->last_used = ++cache->clock;
        cache->stats.hits++;
        *stmt = e->stmt;
        return MM_OK;
    }
    cache->stats.misses++;
    mm_err_t err = mm_db_prepare(db, stmt, sql, errstr, errstr_size);
    if (err != MM_OK) return err;
    char *copy = malloc(len + 1);
    if (!copy) return MM_OK; /* served uncached: release finalizes it */
    memcpy(copy, sql, len + 1);
    db_cached_t *e = cache_slot(cache);
    if (!e) {
        free(copy);
        return MM_OK;
    }
    *e = (db_cached_t){
        .sql = copy, .hash = hash, .stmt = *stmt, .last_used = ++cache->clock, .held = true};
    return MM_OK;
}

void mm_db_release(mm_db_t *db, sqlite3_stmt *stmt) {
    if (!stmt) return;
    struct mm_db_stmt_cache *cache = db ? db->cache : NULL;
    for (size_t i = 0; cache && i < cache->n; i++) {
        db_cached_t *e = &cache->entries[i];
        if (e->stmt != stmt) continue;
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
        e->held = false;
        return;
    }
    sqlite3_finalize(stmt);
}

void mm_db_cache_stats(const mm_db_t *db, mm_db_cache_stats_t *stats) {
    memset(stats, 0, sizeof(*stats));
    if (!db || !db->cache) return;
    *stats = db->cache->stats;
    stats->cached = db->cache->n;
}

/* ------------------------------------------------------------ statements */

mm_err_t mm_db_exec(mm_db_t *db, const char *sql, char *errstr, size_t errstr_size) {
    if (!db || !sql) return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "db exec: no SQL");
    if (sqlite3_exec(db->sqlite, sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_errf(db->sqlite, db->path, errstr, errstr_size, "exec '%.*s'", DB_SQL_SHOWN, sql);
    return MM_OK;
}

mm_err_t mm_db_begin(mm_db_t *db, char *errstr, size_t errstr_size) {
    /*
     * IMMEDIATE takes the write lock now, so a busy database is seen (and
     * waited on by the busy timeout) here, not as an unretriable
     * SQLITE_BUSY when a deferred read transaction tries to upgrade.
     */
    return mm_db_run(db, errstr, errstr_size, "BEGIN IMMEDIATE", NULL);
}

mm_err_t mm_db_commit(mm_db_t *db, char *errstr, size_t errstr_size) {
    return mm_db_run(db, errstr, errstr_size, "COMMIT", NULL);
}

void mm_db_rollback(mm_db_t *db) {
    if (!db || !db->sqlite || sqlite3_get_autocommit(db->sqlite)) return;
    char errstr[256];
    mm_db_run(db, errstr, sizeof(errstr), "ROLLBACK", NULL);
}

mm_err_t mm_db_prepare(mm_db_t *db, sqlite3_stmt **stmt, const char *sql, char *errstr,
                       size_t errstr_size) {
    if (!db || !stmt || !sql)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "db prepare: no SQL");
    *stmt = NULL;
    if (sqlite3_prepare_v2(db->sqlite, sql, -1, stmt, NULL) != SQLITE_OK) {
        mm_err_t err =
            db_errf(db->sqlite, db->path, errstr, errstr_size, "prepare '%.*s'", DB_SQL_SHOWN, sql);
        sqlite3_finalize(*stmt);
        *stmt = NULL;
        return err;
    }
    return MM_OK;
}

mm_err_t mm_db_step_done(mm_db_t *db, sqlite3_stmt *stmt, char *errstr, size_t errstr_size) {
    if (!db || !stmt)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "db step: no statement");
    int rc = sqlite3_step(stmt);
    mm_err_t err = MM_OK;
    if (rc == SQLITE_ROW) {
        err = mm_errf(MM_ERR_DB, errstr, errstr_size,
                      "%s: step '%.*s': returned a row, expected none", db->path, DB_SQL_SHOWN,
                      sqlite3_sql(stmt));
    } else if (rc != SQLITE_DONE) {
        /* Copied before the reset below, which reports the same error again. */
        err = db_errf(db->sqlite, db->path, errstr, errstr_size, "step '%.*s'", DB_SQL_SHOWN,
                      sqlite3_sql(stmt));
    }
    /* Bindings are kept on purpose: callers re-step with only the changed ones rebound. */
    sqlite3_reset(stmt);
    return err;
}

mm_err_t mm_db_query_i64(mm_db_t *db, const char *sql, int64_t *out, bool *found, char *errstr,
                         size_t errstr_size) {
    if (found) *found = false;
    if (!out) return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "db query: no output");
    *out = 0;
    sqlite3_stmt *stmt = NULL;
    mm_err_t err = mm_db_cached(db, sql, &stmt, errstr, errstr_size);
    if (err) return err;
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        if (sqlite3_column_type(stmt, 0) != SQLITE_NULL) {
            *out = sqlite3_column_int64(stmt, 0);
            if (found) *found = true;
        }
    } else if (rc != SQLITE_DONE) {
        err = db_errf(db->sqlite, db->path, errstr, errstr_size, "query '%.*s'", DB_SQL_SHOWN, sql);
    }
    mm_db_release(db, stmt);
    return err;
}

/* PRAGMA user_version of an open connection. */
static mm_err_t read_user_version(mm_db_t *db, int64_t *version, char *errstr, size_t errstr_size) {
    bool found = false;
    mm_err_t err = mm_db_query_i64(db, "PRAGMA user_version", version, &found, errstr, errstr_size);
    if (!err && !found) *version = 0;
    return err;
}

/*
 * Apply migrations one transaction each. The version is read again inside
 * each write transaction, so two processes opening the same new database at
 * once cannot both apply a migration: the second one sees the first one's
 * user_version and moves on.
 */
static mm_err_t migrate(mm_db_t *db, const char *const *migrations, size_t n_migrations,
                        char *errstr, size_t errstr_size) {
    int64_t version = 0;
    mm_err_t err = read_user_version(db, &version, errstr, errstr_size);
    if (err) return err;
    for (;;) {
        if (version > (int64_t)n_migrations)
            return mm_errf(MM_ERR_UNSUPPORTED, errstr, errstr_size,
                           "%s: database schema version %lld is newer than this program (%zu)",
                           db->path, (long long)version, n_migrations);
        if (version == (int64_t)n_migrations) return MM_OK;

        err = mm_db_begin(db, errstr, errstr_size);
        if (err) return err;
        err = read_user_version(db, &version, errstr, errstr_size);
        if (err) {
            mm_db_rollback(db);
            return err;
        }
        if (version >= (int64_t)n_migrations) {
            mm_db_rollback(db);
            continue; /* someone else migrated meanwhile; re-check the bound above */
        }
        const char *sql = migrations[version];
        if (!sql) {
            mm_db_rollback(db);
            return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "%s: migration %lld is NULL",
                           db->path, (long long)version + 1);
        }
        if (sqlite3_exec(db->sqlite, sql, NULL, NULL, NULL) != SQLITE_OK) {
            err = db_errf(db->sqlite, db->path, errstr, errstr_size,
                          "migration to schema version %lld of %zu", (long long)version + 1,
                          n_migrations);
            mm_db_rollback(db);
            return err;
        }
        char set_version[64];
        snprintf(set_version, sizeof(set_version), "PRAGMA user_version = %lld",
                 (long long)version + 1);
        err = mm_db_exec(db, set_version, errstr, errstr_size);
        if (!err) err = mm_db_commit(db, errstr, errstr_size);
        if (err) {
            mm_db_rollback(db);
            return err;
        }
        version++;
    }
}

static mm_err_t configure(mm_db_t *db, char *errstr, size_t errstr_size) {
    /* Set first, so that even switching to WAL waits out another writer. */
    if (sqlite3_busy_timeout(db->sqlite, DB_BUSY_TIMEOUT_MS) != SQLITE_OK)
        return db_errf(db->sqlite, db->path, errstr, errstr_size, "set busy timeout");

    sqlite3_stmt *stmt = NULL;
    mm_err_t err = mm_db_prepare(db, &stmt, "PRAGMA journal_mode=WAL", errstr, errstr_size);
    if (err) return err;
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW) {
        err = db_errf(db->sqlite, db->path, errstr, errstr_size, "set journal_mode=WAL");
        sqlite3_finalize(stmt);
        return err;
    }
    const char *mode = (const char *)sqlite3_column_text(stmt, 0);
    const char *filename = sqlite3_db_filename(db->sqlite, "main");
    bool in_memory = !filename || !*filename; /* ":memory:" and temporary databases */
    if (!in_memory && (!mode || strcmp(mode, "wal") != 0)) {
        err = mm_errf(MM_ERR_DB, errstr, errstr_size,
                      "%s: set journal_mode=WAL: the database stayed in mode '%s'", db->path,
                      mode ? mode : "?");
    }
    sqlite3_finalize(stmt);
    if (err) return err;

    /*
     * WAL with synchronous=NORMAL: a commit is in the WAL file (in the OS page
     * cache) before COMMIT returns and is only fsynced at checkpoints. That is
     * durable across a crash or kill -9 of this process, which is what we
     * require; a power loss or kernel crash may roll back the last few
     * commits but never corrupts the database. FULL would add an fsync per
     * commit for protection we do not need.
     */
    err = mm_db_exec(db, "PRAGMA synchronous=NORMAL", errstr, errstr_size);
    if (!err) err = mm_db_exec(db, "PRAGMA foreign_keys=ON", errstr, errstr_size);
    return err;
}

mm_err_t mm_db_open_err(mm_db_t **out, const char *path, const char *const *migrations,
                        size_t n_migrations, char *errstr, size_t errstr_size) {
    if (!out || !path || (n_migrations > 0 && !migrations))
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "db open: invalid arguments");
    *out = NULL;
    mm_db_t *db = calloc(1, sizeof(*db));
    if (!db) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "%s: out of memory", path);
    db->path = strdup(path);
    db->cache = calloc(1, sizeof(*db->cache));
    if (!db->path || !db->cache) {
        free(db->cache);
        free(db->path);
        free(db);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "%s: out of memory", path);
    }
    int rc = sqlite3_open_v2(
        path, &db->sqlite, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    mm_err_t err = MM_OK;
    if (rc != SQLITE_OK) {
        /* sqlite3_open_v2 usually returns a handle even on failure, holding the message. */
        err = db_errf(db->sqlite, db->path, errstr, errstr_size, "open");
    } else {
        sqlite3_extended_result_codes(db->sqlite, 1);
        err = configure(db, errstr, errstr_size);
        if (!err) err = migrate(db, migrations, n_migrations, errstr, errstr_size);
    }
    if (err) {
        mm_db_close(db);
        return err;
    }
    *out = db;
    return MM_OK;
}

mm_db_t *mm_db_open(const char *path, const char *const *migrations, size_t n_migrations,
                    char *errstr, size_t errstr_size) {
    mm_db_t *db = NULL;
    if (mm_db_open_err(&db, path, migrations, n_migrations, errstr, errstr_size)) return NULL;
    return db;
}

void mm_db_close(mm_db_t *db) {
    if (!db) return;
    cache_free(db->cache);
    /* close_v2 defers the close until a leaked statement is finalized instead of failing. */
    sqlite3_close_v2(db->sqlite);
    free(db->path);
    free(db);
}

mm_err_t mm_db_step_row(mm_db_t *db, sqlite3_stmt *stmt, char *errstr, size_t errstr_size) {
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) return MM_OK;
    if (rc == SQLITE_DONE) return MM_ERR_NOT_FOUND;
    mm_err_t err = mm_db_err(db, "query", errstr, errstr_size);
    return ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) ? MM_ERR_BUSY : err;
}

/* ------------------------------------------------------------ binding by type string */

mm_err_t mm_db_bindv(mm_db_t *db, sqlite3_stmt *stmt, const char *types, va_list ap, char *errstr,
                     size_t errstr_size) {
    for (int i = 0; types && types[i]; i++) {
        int idx = i + 1, rc;
        switch (types[i]) {
        case 't': {
            const char *s = va_arg(ap, const char *);
            rc = s ? sqlite3_bind_text(stmt, idx, s, -1, SQLITE_TRANSIENT)
                   : sqlite3_bind_null(stmt, idx);
            break;
        }
        case 'i':
            rc = sqlite3_bind_int64(stmt, idx, (sqlite3_int64)va_arg(ap, int64_t));
            break;
        case 'd': {
            double d = va_arg(ap, double);
            rc = isnan(d) ? sqlite3_bind_null(stmt, idx) : sqlite3_bind_double(stmt, idx, d);
            break;
        }
        case 'b': {
            const void *p = va_arg(ap, const void *);
            size_t n = va_arg(ap, size_t);
            rc = sqlite3_bind_blob64(stmt, idx, p ? p : "", (sqlite3_uint64)n, SQLITE_TRANSIENT);
            break;
        }
        default:
            return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "bind: bad type '%c'",
                           types[i]);
        }
        if (rc != SQLITE_OK) return mm_db_err(db, "bind", errstr, errstr_size);
    }
    return MM_OK;
}

mm_err_t mm_db_bind(mm_db_t *db, sqlite3_stmt *stmt, char *errstr, size_t errstr_size,
                    const char *types, ...) {
    va_list ap;
    va_start(ap, types);
    mm_err_t err = mm_db_bindv(db, stmt, types, ap, errstr, errstr_size);
    va_end(ap);
    return err;
}

/* Prepare @p sql (from the statement cache when @p cached) and bind its parameters. */
static mm_err_t query_v(mm_db_t *db, sqlite3_stmt **stmt, bool cached, char *errstr,
                        size_t errstr_size, const char *sql, const char *types, va_list ap) {
    *stmt = NULL;
    mm_err_t err = cached ? mm_db_cached(db, sql, stmt, errstr, errstr_size)
                          : mm_db_prepare(db, stmt, sql, errstr, errstr_size);
    if (err != MM_OK) return err;
    err = mm_db_bindv(db, *stmt, types, ap, errstr, errstr_size);
    if (err != MM_OK) {
        if (cached)
            mm_db_release(db, *stmt);
        else
            sqlite3_finalize(*stmt);
        *stmt = NULL;
    }
    return err;
}

mm_err_t mm_db_query(mm_db_t *db, sqlite3_stmt **stmt, char *errstr, size_t errstr_size,
                     const char *sql, const char *types, ...) {
    va_list ap;
    va_start(ap, types);
    mm_err_t err = query_v(db, stmt, false, errstr, errstr_size, sql, types, ap);
    va_end(ap);
    return err;
}

mm_err_t mm_db_query_cached(mm_db_t *db, sqlite3_stmt **stmt, char *errstr, size_t errstr_size,
                            const char *sql, const char *types, ...) {
    va_list ap;
    va_start(ap, types);
    mm_err_t err = query_v(db, stmt, true, errstr, errstr_size, sql, types, ap);
    va_end(ap);
    return err;
}

mm_err_t mm_db_run(mm_db_t *db, char *errstr, size_t errstr_size, const char *sql,
                   const char *types, ...) {
    sqlite3_stmt *stmt = NULL;
    mm_err_t err = mm_db_cached(db, sql, &stmt, errstr, errstr_size);
    if (err != MM_OK) return err;
    va_list ap;
    va_start(ap, types);
    err = mm_db_bindv(db, stmt, types, ap, errstr, errstr_size);
    va_end(ap);
    if (err == MM_OK) err = mm_db_step_done(db, stmt, errstr, errstr_size);
    mm_db_release(db, stmt);
    return err;
}

char *mm_db_column_strdup(sqlite3_stmt *stmt, int col) {
    const unsigned char *s = sqlite3_column_text(stmt, col);
    return s ? strdup((const char *)s) : NULL;
}
