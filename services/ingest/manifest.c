/*
 * manifest.c - the watch manifest on SQLite (manifest.h). Every change is one
 * autocommitted statement on a WAL database, so it is durable against a
 * process killed at any moment.
 */
#include "manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/sha256.h"

struct mm_manifest {
    mm_db_t *db;
};

static const char *const manifest_migrations[] = {
    "CREATE TABLE files ("
    " source TEXT NOT NULL,"
    " name TEXT NOT NULL,"
    " identity TEXT NOT NULL," /* sha256 hex of the bytes */
    " size INTEGER NOT NULL,"
    " load_id TEXT NOT NULL,"
    " state TEXT NOT NULL CHECK (state IN ('ingesting', 'done', 'failed')),"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " rows_read INTEGER NOT NULL DEFAULT 0,"
    " rows_emitted INTEGER NOT NULL DEFAULT 0,"
    " rows_deadlettered INTEGER NOT NULL DEFAULT 0,"
    " error TEXT,"
    " first_seen_ms INTEGER NOT NULL,"
    " updated_ms INTEGER NOT NULL,"
    " PRIMARY KEY (source, name, identity));"
    "CREATE INDEX files_state ON files(state);",
};

mm_manifest_t *mm_manifest_open(const char *path, char *errstr, size_t errstr_size) {
    mm_manifest_t *m = calloc(1, sizeof(*m));
    if (!m) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    m->db = mm_db_open(path, manifest_migrations,
                       sizeof(manifest_migrations) / sizeof(manifest_migrations[0]), errstr,
                       errstr_size);
    if (!m->db) {
        free(m);
        return NULL;
    }
    return m;
}

void mm_manifest_close(mm_manifest_t *manifest) {
    if (!manifest) return;
    mm_db_close(manifest->db);
    free(manifest);
}

mm_db_t *mm_manifest_db(mm_manifest_t *manifest) {
    return manifest ? manifest->db : NULL;
}

static void copy_text(char *out, size_t out_size, const unsigned char *text) {
    snprintf(out, out_size, "%s", text ? (const char *)text : "");
}

mm_err_t mm_manifest_get(mm_manifest_t *manifest, const char *source, const char *name,
                         const char *identity, mm_manifest_entry_t *entry, bool *found,
                         char *errstr, size_t errstr_size) {
    memset(entry, 0, sizeof(*entry));
    *found = false;
    sqlite3_stmt *st = NULL;
    mm_err_t err = mm_db_query(manifest->db, &st, errstr, errstr_size,
                               "SELECT state, load_id, attempts, size, rows_read, rows_emitted, "
                               "rows_deadlettered, error FROM files "
                               "WHERE source = ?1 AND name = ?2 AND identity = ?3",
                               "ttt", source, name, identity);
    if (err) return err;
    err = mm_db_step_row(manifest->db, st, errstr, errstr_size);
    if (err == MM_OK) {
        *found = true;
        copy_text(entry->state, sizeof(entry->state), sqlite3_column_text(st, 0));
        copy_text(entry->load_id, sizeof(entry->load_id), sqlite3_column_text(st, 1));
        entry->attempts = sqlite3_column_int64(st, 2);
        entry->size = sqlite3_column_int64(st, 3);
        entry->rows_read = sqlite3_column_int64(st, 4);
        entry->rows_emitted = sqlite3_column_int64(st, 5);
        entry->rows_deadlettered = sqlite3_column_int64(st, 6);
        copy_text(entry->error, sizeof(entry->error), sqlite3_column_text(st, 7));
    } else if (err == MM_ERR_NOT_FOUND) {
        err = MM_OK;
    }
    sqlite3_finalize(st);
    return err;
}

mm_err_t mm_manifest_begin(mm_manifest_t *manifest, const char *source, const char *name,
                           const char *identity, int64_t size, const char *load_id, int64_t now_ms,
                           char *errstr, size_t errstr_size) {
    return mm_db_run(
        manifest->db, errstr, errstr_size,
        "INSERT INTO files(source, name, identity, size, load_id, state, attempts, "
        "first_seen_ms, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, 'ingesting', 1, ?6, ?6) "
        "ON CONFLICT(source, name, identity) DO UPDATE SET state = 'ingesting', "
        "attempts = attempts + 1, updated_ms = ?6",
        "tttiti", source, name, identity, size, load_id, now_ms);
}

mm_err_t mm_manifest_finish(mm_manifest_t *manifest, const char *source, const char *name,
                            const char *identity, const char *state,
                            const mm_manifest_counts_t *counts, const char *error, int64_t now_ms,
                            char *errstr, size_t errstr_size) {
    if (!state || (strcmp(state, MM_MANIFEST_DONE) != 0 && strcmp(state, MM_MANIFEST_FAILED) != 0 &&
                   strcmp(state, MM_MANIFEST_INGESTING) != 0))
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "manifest: bad state %s",
                       state ? state : "(null)");
    mm_manifest_counts_t zero = {0};
    if (!counts) counts = &zero;
    mm_err_t err = mm_db_run(manifest->db, errstr, errstr_size,
                             "UPDATE files SET state = ?4, rows_read = ?5, rows_emitted = ?6, "
                             "rows_deadlettered = ?7, error = ?8, updated_ms = ?9 "
                             "WHERE source = ?1 AND name = ?2 AND identity = ?3",
                             "ttttiiiti", source, name, identity, state, counts->rows_read,
                             counts->rows_emitted, counts->rows_deadlettered,
                             error && *error ? error : NULL, now_ms);
    if (err) return err;
    if (sqlite3_changes(manifest->db->sqlite) == 0)
        return mm_errf(MM_ERR_NOT_FOUND, errstr, errstr_size, "manifest: %s (%s) was never begun",
                       name, source);
    return MM_OK;
}

mm_err_t mm_manifest_count(mm_manifest_t *manifest, const char *state, int64_t *count, char *errstr,
                           size_t errstr_size) {
    *count = 0;
    sqlite3_stmt *st = NULL;
    mm_err_t err =
        mm_db_query(manifest->db, &st, errstr, errstr_size,
                    "SELECT COUNT(*) FROM files WHERE ?1 IS NULL OR state = ?1", "t", state);
    if (err) return err;
    err = mm_db_step_row(manifest->db, st, errstr, errstr_size);
    if (err == MM_OK) *count = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return err == MM_ERR_NOT_FOUND ? MM_OK : err;
}

void mm_manifest_load_id(const char *source, const char *name, const char *identity, char *out,
                         size_t out_size) {
    char hex[MM_SHA256_HEX_LEN + 1] = "000000000000000000000000";
    mm_sha256_ctx_t *ctx = mm_sha256_new();
    if (ctx) {
        const char *parts[] = {source, name, identity};
        for (size_t i = 0; i < 3; i++) {
            mm_sha256_update(ctx, parts[i], strlen(parts[i]));
            mm_sha256_update(ctx, "\n", 1);
        }
        mm_sha256_final_hex(ctx, hex);
    }
    snprintf(out, out_size, "watch-%.24s", hex);
}
