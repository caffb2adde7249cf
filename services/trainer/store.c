/*
 * store.c - mm-trainer's SQLite state store (see store.h).
 *
 * Workload: the poll thread writes one transaction per ObservationBatch (up
 * to a few thousand rows, merged into one or two history chunks); workers
 * read one key's whole history per training (its chunks, in time order off
 * the primary key) and record one model.
 *
 * History chunks (schema v3): a (key, entity)'s observations are kept as
 * chunks of up to MM_TRAINER_CHUNK_ROWS rows (chunk.h), one SQLite row each,
 * whose time ranges [t_min, t_max] never overlap: a batch is merged into the
 * chunks its time range overlaps, or else into the chunk before it while that
 * is small (MM_TRAINER_CHUNK_MERGE_ROWS), or else becomes a chunk of its own. So a load in time
 * order writes each row about once, a re-sent or planned-then-observed row rewrites only the chunks
 * around it, and reading a key is its chunks concatenated. Nothing is held per key between batches:
 * memory follows the batch, not the number of keys.
 *
 * Idempotence on redelivery: a batch is identified by (key, load, batch_seq)
 * and a redelivered one changes nothing but the offset; an observation is
 * identified by (key, entity, time) and a re-sent one replaces the earlier
 * value. The entity is "" for a spec without entity columns; with them a
 * key's history is one series per entity (docs/dataset-spec.md, "Entities").
 *
 * Planned rows: rows after a key's last observed target whose target is
 * missing carry planned covariates for scoring. They are stored like any row
 * (an observation arriving later for the same time replaces them) but are
 * not training data: the history read for training ends at the last
 * observed target (of each entity), and rows without a target count toward
 * no retrain trigger. Missing targets inside the history stay gaps.
 */
#include "store.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/log.h"
#include "mm/model.h"
#include "mm/outbox.h"
#include "mm/util.h"

/* A DeadLetter's room beyond a full-size original: the envelope (reason, coordinates). */
#define DEADLETTER_ENVELOPE_SLACK 65536
/* Entities of a history read first allocated (doubled as they grow). */
#define HISTORY_INITIAL_ENTITIES 8

const char *const mm_trainer_migrations[] = {
    /* v1 */
    "CREATE TABLE history ("
    "  partition_key TEXT NOT NULL,"
    "  t INTEGER NOT NULL,"
    "  y REAL,"
    "  x BLOB,"
    "  PRIMARY KEY (partition_key, t)) WITHOUT ROWID;"
    "CREATE TABLE keys ("
    "  partition_key TEXT PRIMARY KEY,"
    "  generation INTEGER NOT NULL DEFAULT 0," /* bumped on every data change */
    "  new_rows INTEGER NOT NULL DEFAULT 0,"   /* observed rows since the last model */
    "  dirty INTEGER NOT NULL DEFAULT 0,"      /* a retrain is due */
    "  trigger_at_ms INTEGER NOT NULL DEFAULT 0,"
    "  last_load_id TEXT,"
    "  last_train_id TEXT,"
    "  last_trained_at_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX keys_due ON keys(dirty, trigger_at_ms);"
    "CREATE TABLE load_batches ("
    "  partition_key TEXT NOT NULL,"
    "  load_id TEXT NOT NULL,"
    "  batch_seq INTEGER NOT NULL,"
    "  n_rows INTEGER NOT NULL,"
    "  end_of_load INTEGER NOT NULL,"
    "  expected_rows INTEGER NOT NULL,"
    "  expected_batches INTEGER NOT NULL,"
    "  PRIMARY KEY (partition_key, load_id, batch_seq)) WITHOUT ROWID;"
    "CREATE TABLE offsets ("
    "  topic TEXT NOT NULL,"
    "  partition INTEGER NOT NULL,"
    "  next_offset INTEGER NOT NULL,"
    "  PRIMARY KEY (topic, partition));"
    "CREATE TABLE trained ("
    "  train_id TEXT PRIMARY KEY,"
    "  partition_key TEXT NOT NULL,"
    "  algorithm TEXT NOT NULL,"
    "  fallback INTEGER NOT NULL,"
    "  artifact_uri TEXT NOT NULL,"
    "  sha256 TEXT NOT NULL,"
    "  data_end_ms INTEGER NOT NULL,"
    "  n_rows INTEGER NOT NULL,"
    "  trained_at_ms INTEGER NOT NULL);" MM_OUTBOX_TABLE_SQL,
    /* v2: an observation is identified by (key, entity, time); rows written
     * before entities existed have the entity "" */
    "CREATE TABLE history_v2 ("
    "  partition_key TEXT NOT NULL,"
    "  entity TEXT NOT NULL DEFAULT '',"
    "  t INTEGER NOT NULL,"
    "  y REAL,"
    "  x BLOB,"
    "  PRIMARY KEY (partition_key, entity, t)) WITHOUT ROWID;"
    "INSERT INTO history_v2(partition_key, entity, t, y, x) "
    "  SELECT partition_key, '', t, y, x FROM history;"
    "DROP TABLE history;"
    "ALTER TABLE history_v2 RENAME TO history;",
    /* v3: history in chunks (chunk.h); the v2 rows are moved by
     * migrate_row_history() when the store opens, then the table is dropped */
    "CREATE TABLE history_chunks ("
    "  partition_key TEXT NOT NULL,"
    "  entity TEXT NOT NULL,"
    "  t_min INTEGER NOT NULL,"
    "  t_max INTEGER NOT NULL,"
    "  n_rows INTEGER NOT NULL,"
    "  data BLOB NOT NULL,"
    "  PRIMARY KEY (partition_key, entity, t_min));",
};
const size_t mm_trainer_n_migrations = MM_ARRAY_SIZE(mm_trainer_migrations);

static mm_err_t bind_text(sqlite3_stmt *st, int idx, const char *text) {
    return sqlite3_bind_text(st, idx, text, -1, SQLITE_TRANSIENT) == SQLITE_OK ? MM_OK : MM_ERR_DB;
}

/* ------------------------------------------------------------ poll thread */

/* The poll thread's statements, in the order of the store's fields. */
static const char *const poll_sql[] = {
    /* the chunks a batch's time range [?3, ?4] overlaps, in time order */
    "SELECT t_min, n_rows, data FROM history_chunks WHERE partition_key = ?1 AND entity = ?2 "
    "AND t_max >= ?3 AND t_min <= ?4 ORDER BY t_min",
    /* the chunk before time ?3 */
    "SELECT t_min, n_rows, data FROM history_chunks WHERE partition_key = ?1 AND entity = ?2 "
    "AND t_min < ?3 ORDER BY t_min DESC LIMIT 1",
    "DELETE FROM history_chunks WHERE partition_key = ?1 AND entity = ?2 AND t_min = ?3",
    "INSERT INTO history_chunks(partition_key, entity, t_min, t_max, n_rows, data) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    "INSERT OR IGNORE INTO load_batches(partition_key, load_id, batch_seq, n_rows, end_of_load, "
    "expected_rows, expected_batches) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    "INSERT INTO keys(partition_key, generation, new_rows, last_load_id) VALUES (?1, 1, ?2, ?3) "
    "ON CONFLICT(partition_key) DO UPDATE SET generation = generation + 1, "
    "new_rows = new_rows + excluded.new_rows, last_load_id = excluded.last_load_id",
    "SELECT new_rows FROM keys WHERE partition_key = ?1",
    "UPDATE keys SET dirty = 1, trigger_at_ms = ?2 WHERE partition_key = ?1",
    "SELECT COUNT(*), COALESCE(SUM(n_rows),0) FROM load_batches "
    "WHERE partition_key = ?1 AND load_id = ?2",
};

static sqlite3_stmt **poll_stmts(mm_trainer_store_t *store, size_t i) {
    sqlite3_stmt **stmts[] = {
        &store->st_chunks_overlap, &store->st_chunk_before, &store->st_chunk_delete,
        &store->st_chunk_insert,   &store->st_batch_insert, &store->st_key_touch,
        &store->st_key_new_rows,   &store->st_key_trigger,  &store->st_load_received};
    _Static_assert(MM_ARRAY_SIZE(stmts) == MM_ARRAY_SIZE(poll_sql), "one statement per field");
    return stmts[i];
}

static mm_err_t migrate_row_history(mm_trainer_store_t *store, char *errstr, size_t errstr_size);

mm_err_t mm_trainer_store_open(mm_trainer_store_t *store, const char *path, const mm_spec_t *spec,
                               const char *service, char *errstr, size_t errstr_size) {
    memset(store, 0, sizeof(*store));
    store->spec = spec;
    store->batch_rows.n_exog = store->old_rows.n_exog = store->merged_rows.n_exog =
        spec->n_feature_columns;
    mm_buf_init(&store->chunk, MM_BUF_CAP_MESSAGE);
    mm_err_t err = mm_db_open_err(&store->db, path, mm_trainer_migrations, mm_trainer_n_migrations,
                                  errstr, errstr_size);
    if (err) return err;
    for (size_t i = 0; i < MM_ARRAY_SIZE(poll_sql); i++) {
        err = mm_db_prepare(store->db, poll_stmts(store, i), poll_sql[i], errstr, errstr_size);
        if (err) goto fail;
    }
    err = migrate_row_history(store, errstr, errstr_size);
    if (err) goto fail;
    mm_consumer_state_config_t offsets = {.table = MM_TRAINER_OFFSETS_TABLE,
                                          .service = service,
                                          .deadletter_cap =
                                              MM_BUF_CAP_MESSAGE + DEADLETTER_ENVELOPE_SLACK};
    store->offsets = mm_consumer_state_new(store->db, &offsets, errstr, errstr_size);
    if (!store->offsets) {
        err = MM_ERR_DB;
        goto fail;
    }
    return MM_OK;
fail:
    mm_trainer_store_close(store);
    return err;
}

void mm_trainer_store_close(mm_trainer_store_t *store) {
    mm_consumer_state_destroy(store->offsets);
    for (size_t i = 0; i < MM_ARRAY_SIZE(poll_sql); i++) sqlite3_finalize(*poll_stmts(store, i));
    mm_db_close(store->db);
    free(store->refs);
    free(store->replaced);
    mm_trainer_rows_free(&store->batch_rows);
    mm_trainer_rows_free(&store->old_rows);
    mm_trainer_rows_free(&store->merged_rows);
    mm_buf_free(&store->chunk);
    memset(store, 0, sizeof(*store));
}

/* Map the batch's columns onto the spec's exogenous features (by name). */
static void map_columns(const mm_spec_t *spec, const mm_observation_batch_t *b, int *col_of) {
    for (size_t j = 0; j < spec->n_feature_columns; j++) {
        col_of[j] = -1;
        for (size_t c = 0; c < b->n_columns; c++)
            if (b->columns[c].name && strcmp(b->columns[c].name, spec->feature_columns[j]) == 0)
                col_of[j] = (int)c;
    }
}

/* Rows whose target was observed. A missing target (a planned row with
 * tomorrow's price and promotion, or a gap) is no new observation. */
static int64_t observed_rows(const mm_observation_batch_t *b) {
    int64_t n = 0;
    for (size_t i = 0; i < b->n_rows; i++) n += !isnan(b->target[i]);
    return n;
}

/* One row of a batch, for grouping by entity, then time, then arrival. */
struct mm_trainer_row_ref {
    const char *entity;
    int64_t t;
    size_t i;
};

static int row_ref_cmp(const void *pa, const void *pb) {
    const struct mm_trainer_row_ref *a = pa, *b = pb;
    int c = strcmp(a->entity, b->entity);
    if (c) return c;
    if (a->t != b->t) return a->t < b->t ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

/* A target as the row store (v2) read it back: a missing one (NULL) as NAN,
 * a whole REAL as the integer SQLite stored (so -0 as 0). Keeping these makes
 * a key's digest, and so its train id, what it was before chunks. */
static double stored_target(double y) {
    if (isnan(y)) return NAN;
    return y == 0.0 ? 0.0 : y;
}

static void row_copy(mm_trainer_rows_t *dst, const mm_trainer_rows_t *src, size_t i) {
    const size_t nx = dst->n_exog, at = dst->n++;
    dst->t[at] = src->t[i];
    dst->y[at] = src->y[i];
    if (nx) memcpy(&dst->x[at * nx], &src->x[i * nx], nx * sizeof(double));
}

/* Insert rows [from, from + n) of @p rows as one chunk of (key, entity). */
static mm_err_t write_chunk(mm_trainer_store_t *store, const char *key, const char *entity,
                            const mm_trainer_rows_t *rows, size_t from, size_t n, char *errstr,
                            size_t errstr_size) {
    mm_err_t err = mm_trainer_chunk_encode(rows, from, n, &store->chunk, errstr, errstr_size);
    if (err) return err;
    sqlite3_stmt *st = store->st_chunk_insert;
    bind_text(st, 1, key);
    bind_text(st, 2, entity);
    sqlite3_bind_int64(st, 3, rows->t[from]);
    sqlite3_bind_int64(st, 4, rows->t[from + n - 1]);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)n);
    sqlite3_bind_blob(st, 6, store->chunk.data, (int)store->chunk.len, SQLITE_STATIC);
    err = mm_db_step_done(store->db, st, errstr, errstr_size);
    sqlite3_clear_bindings(st);
    return err;
}

/* Decode the chunks @p q yields into old_rows and note each one's t_min; with
 * @p room > 0, only a chunk of at most @p room rows is taken. */
static mm_err_t take_chunks(mm_trainer_store_t *store, sqlite3_stmt *q, const char *key,
                            int64_t room, size_t *n_replaced, char *errstr, size_t errstr_size) {
    mm_err_t err;
    while ((err = mm_db_step_row(store->db, q, errstr, errstr_size)) == MM_OK) {
        int64_t t_min = sqlite3_column_int64(q, 0);
        if (room > 0 && sqlite3_column_int64(q, 1) > room) continue;
        if (*n_replaced == store->cap_replaced) {
            size_t ncap = store->cap_replaced ? store->cap_replaced * 2 : 16;
            int64_t *grown = realloc(store->replaced, ncap * sizeof(*grown));
            if (!grown) {
                err = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "%s: out of memory", key);
                break;
            }
            store->replaced = grown;
            store->cap_replaced = ncap;
        }
        store->replaced[(*n_replaced)++] = t_min;
        err = mm_trainer_chunk_decode(sqlite3_column_blob(q, 2), (size_t)sqlite3_column_bytes(q, 2),
                                      &store->old_rows, key, errstr, errstr_size);
        if (err) break;
    }
    sqlite3_reset(q);
    return err == MM_ERR_NOT_FOUND ? MM_OK : err;
}

/*
 * Merge batch_rows (one entity's, distinct times in order) into the key's
 * chunks: the chunks the batch's time range overlaps, or else the chunk
 * before it while it is small, are read, merged with the batch (the batch
 * wins on equal times), deleted, and written back in chunks of at most
 * MM_TRAINER_CHUNK_ROWS rows. Chunk ranges stay disjoint.
 */
static mm_err_t merge_entity(mm_trainer_store_t *store, const char *key, const char *entity,
                             char *errstr, size_t errstr_size) {
    const mm_trainer_rows_t *in = &store->batch_rows;
    mm_trainer_rows_t *old = &store->old_rows, *merged = &store->merged_rows;
    size_t n_replaced = 0;
    old->n = 0;
    sqlite3_stmt *q = store->st_chunks_overlap;
    bind_text(q, 1, key);
    bind_text(q, 2, entity);
    sqlite3_bind_int64(q, 3, in->t[0]);
    sqlite3_bind_int64(q, 4, in->t[in->n - 1]);
    mm_err_t err = take_chunks(store, q, key, 0, &n_replaced, errstr, errstr_size);
    if (!err && n_replaced == 0 && in->n < MM_TRAINER_CHUNK_ROWS) {
        size_t room = MM_TRAINER_CHUNK_ROWS - in->n;
        if (room > MM_TRAINER_CHUNK_MERGE_ROWS) room = MM_TRAINER_CHUNK_MERGE_ROWS;
        q = store->st_chunk_before;
        bind_text(q, 1, key);
        bind_text(q, 2, entity);
        sqlite3_bind_int64(q, 3, in->t[0]);
        err = take_chunks(store, q, key, (int64_t)room, &n_replaced, errstr, errstr_size);
    }
    if (err) return err;

    const mm_trainer_rows_t *out = in;
    if (old->n) {
        if (!mm_trainer_rows_reserve(merged, old->n + in->n))
            return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "%s: out of memory", key);
        merged->n = 0;
        size_t i = 0, j = 0;
        while (i < old->n || j < in->n) {
            if (j == in->n || (i < old->n && old->t[i] < in->t[j])) {
                row_copy(merged, old, i++);
            } else {
                if (i < old->n && old->t[i] == in->t[j]) i++; /* replaced */
                row_copy(merged, in, j++);
            }
        }
        out = merged;
    }
    for (size_t k = 0; k < n_replaced && !err; k++) {
        sqlite3_stmt *d = store->st_chunk_delete;
        bind_text(d, 1, key);
        bind_text(d, 2, entity);
        sqlite3_bind_int64(d, 3, store->replaced[k]);
        err = mm_db_step_done(store->db, d, errstr, errstr_size);
    }
    for (size_t from = 0; from < out->n && !err; from += MM_TRAINER_CHUNK_ROWS) {
        size_t n = out->n - from < MM_TRAINER_CHUNK_ROWS ? out->n - from : MM_TRAINER_CHUNK_ROWS;
        err = write_chunk(store, key, entity, out, from, n, errstr, errstr_size);
    }
    return err;
}

/* The batch's rows, grouped by entity, each group merged into its chunks. */
static mm_err_t upsert_rows(mm_trainer_store_t *store, const mm_observation_batch_t *b,
                            char *errstr, size_t errstr_size) {
    const mm_spec_t *spec = store->spec;
    const size_t n = b->n_rows, nx = spec->n_feature_columns;
    if (n == 0) return MM_OK;
    if (n > store->cap_refs) {
        struct mm_trainer_row_ref *refs = realloc(store->refs, n * sizeof(*refs));
        if (!refs)
            return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "%s: out of memory",
                           b->partition_key);
        store->refs = refs;
        store->cap_refs = n;
    }
    struct mm_trainer_row_ref *refs = store->refs;
    for (size_t i = 0; i < n; i++) {
        /* A spec without entity columns keeps every row at the entity "". */
        const char *entity = spec->n_entity_columns ? mm_observation_batch_entity(b, i) : "";
        refs[i] =
            (struct mm_trainer_row_ref){.entity = entity ? entity : "", .t = b->time_ms[i], .i = i};
    }
    qsort(refs, n, sizeof(*refs), row_ref_cmp);
    int col_of[MM_MODEL_MAX_EXOG];
    map_columns(spec, b, col_of);
    mm_trainer_rows_t *in = &store->batch_rows;
    mm_err_t err = MM_OK;
    for (size_t g = 0; g < n && !err;) {
        size_t end = g + 1;
        while (end < n && strcmp(refs[end].entity, refs[g].entity) == 0) end++;
        if (!mm_trainer_rows_reserve(in, end - g))
            return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "%s: out of memory",
                           b->partition_key);
        in->n = 0;
        for (size_t k = g; k < end; k++) {
            if (k + 1 < end && refs[k + 1].t == refs[k].t) continue; /* a later row replaces it */
            size_t i = refs[k].i, at = in->n++;
            in->t[at] = b->time_ms[i];
            in->y[at] = stored_target(b->target[i]);
            for (size_t j = 0; j < nx; j++)
                in->x[at * nx + j] = col_of[j] >= 0 ? b->columns[col_of[j]].values[i] : NAN;
        }
        err = merge_entity(store, b->partition_key, refs[g].entity, errstr, errstr_size);
        g = end;
    }
    return err;
}

/*
 * Schema v2 kept one row per observation in table history: move them into
 * chunks, then drop the table, in one transaction (a crash leaves the rows
 * where they were, and the next open moves them again).
 */
static mm_err_t migrate_row_history(mm_trainer_store_t *store, char *errstr, size_t errstr_size) {
    int64_t exists = 0;
    mm_err_t err = mm_db_query_i64(store->db,
                                   "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND "
                                   "name = 'history'",
                                   &exists, NULL, errstr, errstr_size);
    if (err || !exists) return err;
    err = mm_db_begin(store->db, errstr, errstr_size);
    if (err) return err;
    sqlite3_stmt *q = NULL;
    err = mm_db_prepare(store->db, &q,
                        "SELECT partition_key, entity, t, y, x FROM history "
                        "ORDER BY partition_key, entity, t",
                        errstr, errstr_size);
    mm_trainer_rows_t *rows = &store->batch_rows;
    const size_t nx = rows->n_exog;
    char *key = NULL, *entity = NULL;
    int64_t n_rows = 0, n_chunks = 0;
    rows->n = 0;
    while (!err && (err = mm_db_step_row(store->db, q, errstr, errstr_size)) == MM_OK) {
        const char *k = (const char *)sqlite3_column_text(q, 0);
        const char *e = (const char *)sqlite3_column_text(q, 1);
        if (!k) k = "";
        if (!e) e = "";
        bool same = key && strcmp(k, key) == 0 && strcmp(e, entity) == 0;
        if (rows->n && (!same || rows->n == MM_TRAINER_CHUNK_ROWS)) {
            err = write_chunk(store, key, entity, rows, 0, rows->n, errstr, errstr_size);
            n_chunks++;
            rows->n = 0;
        }
        if (!err && !same) {
            free(key);
            free(entity);
            key = strdup(k);
            entity = strdup(e);
        }
        if (!err && (!key || !entity || !mm_trainer_rows_reserve(rows, rows->n + 1)))
            err = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "moving history: out of memory");
        if (err) break;
        size_t at = rows->n++;
        rows->t[at] = sqlite3_column_int64(q, 2);
        rows->y[at] = sqlite3_column_type(q, 3) == SQLITE_NULL ? NAN : sqlite3_column_double(q, 3);
        const void *blob = sqlite3_column_blob(q, 4);
        size_t blen = (size_t)sqlite3_column_bytes(q, 4);
        for (size_t j = 0; j < nx; j++) {
            double v = NAN;
            if (blob && blen >= (j + 1) * sizeof(double))
                memcpy(&v, (const uint8_t *)blob + j * sizeof(double), sizeof(double));
            rows->x[at * nx + j] = v;
        }
        n_rows++;
    }
    if (err == MM_ERR_NOT_FOUND) err = MM_OK;
    if (!err && rows->n) {
        err = write_chunk(store, key, entity, rows, 0, rows->n, errstr, errstr_size);
        n_chunks++;
    }
    sqlite3_finalize(q);
    free(key);
    free(entity);
    rows->n = 0;
    if (!err) err = mm_db_exec(store->db, "DROP TABLE history", errstr, errstr_size);
    if (!err) err = mm_db_commit(store->db, errstr, errstr_size);
    if (err) {
        mm_db_rollback(store->db);
        return err;
    }
    if (n_rows > 0)
        mm_log_info("history_migrated",
                    "state store: %" PRId64 " history rows moved into %" PRId64
                    " chunks (the freed pages are reused; VACUUM returns them to the file system)",
                    n_rows, n_chunks);
    return MM_OK;
}
/*
 * The key's generation moves. New observations since its last model count
 * toward min_new_rows, and an end of load is a trigger only when there are
 * some: a load of planned rows alone (targets still empty) retrains nothing.
 */
static mm_err_t touch_key(mm_trainer_store_t *store, const mm_observation_batch_t *b,
                          bool *triggered, char *errstr, size_t errstr_size) {
    const mm_retrain_policy_t *rp = &store->spec->retrain;
    sqlite3_stmt *ks = store->st_key_touch;
    bind_text(ks, 1, b->partition_key);
    sqlite3_bind_int64(ks, 2, observed_rows(b));
    bind_text(ks, 3, b->load_id);
    mm_err_t err = mm_db_step_done(store->db, ks, errstr, errstr_size);
    if (err) return err;

    bool end_of_load = b->end_of_load && rp->on_end_of_load;
    bool trigger = false;
    if (end_of_load || rp->min_new_rows > 0) {
        sqlite3_stmt *q = store->st_key_new_rows;
        bind_text(q, 1, b->partition_key);
        err = mm_db_step_row(store->db, q, errstr, errstr_size);
        int64_t new_rows = err == MM_OK ? sqlite3_column_int64(q, 0) : 0;
        sqlite3_reset(q);
        if (err && err != MM_ERR_NOT_FOUND) return err;
        trigger =
            (end_of_load && new_rows > 0) || (rp->min_new_rows > 0 && new_rows >= rp->min_new_rows);
    }
    *triggered = trigger;
    if (!trigger) return MM_OK;
    sqlite3_stmt *ts = store->st_key_trigger;
    bind_text(ts, 1, b->partition_key);
    sqlite3_bind_int64(ts, 2, mm_now_ms() + rp->debounce_ms);
    return mm_db_step_done(store->db, ts, errstr, errstr_size);
}

/* Completeness: every batch of the key's load should be here by the end of load. */
static void check_load_complete(mm_trainer_store_t *store, const mm_observation_batch_t *b) {
    char errstr[256];
    sqlite3_stmt *q = store->st_load_received;
    bind_text(q, 1, b->partition_key);
    bind_text(q, 2, b->load_id);
    if (mm_db_step_row(store->db, q, errstr, sizeof(errstr)) == MM_OK) {
        int64_t got_batches = sqlite3_column_int64(q, 0);
        int64_t got_rows = sqlite3_column_int64(q, 1);
        if ((b->load_batches_for_key >= 0 && got_batches != b->load_batches_for_key) ||
            (b->load_rows_for_key >= 0 && got_rows != b->load_rows_for_key))
            mm_logj(MM_LOG_WARN, "load_incomplete",
                    json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "partition_key", b->partition_key,
                              "load_id", b->load_id, "expected_rows",
                              (json_int_t)b->load_rows_for_key, "received_rows",
                              (json_int_t)got_rows, "expected_batches",
                              (json_int_t)b->load_batches_for_key, "received_batches",
                              (json_int_t)got_batches),
                    "end of load for %s arrived but %" PRId64 " of %" PRId64
                    " rows are here; training on what arrived",
                    b->partition_key, got_rows, b->load_rows_for_key);
    }
    sqlite3_reset(q);
}

mm_err_t mm_trainer_store_apply_batch(mm_trainer_store_t *store, const char *topic,
                                      int32_t partition, int64_t offset,
                                      const mm_observation_batch_t *b,
                                      mm_trainer_batch_outcome_t *outcome, char *errstr,
                                      size_t errstr_size) {
    memset(outcome, 0, sizeof(*outcome));
    mm_err_t err = mm_db_begin(store->db, errstr, errstr_size);
    if (err) return err;

    /* A batch already seen (a redelivery) changes nothing but the offset. */
    sqlite3_stmt *st = store->st_batch_insert;
    bind_text(st, 1, b->partition_key);
    bind_text(st, 2, b->load_id);
    sqlite3_bind_int(st, 3, b->batch_seq);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)b->n_rows);
    sqlite3_bind_int(st, 5, b->end_of_load ? 1 : 0);
    sqlite3_bind_int64(st, 6, b->load_rows_for_key);
    sqlite3_bind_int(st, 7, b->load_batches_for_key);
    err = mm_db_step_done(store->db, st, errstr, errstr_size);
    if (err) goto fail;
    outcome->fresh = sqlite3_changes(store->db->sqlite) > 0;

    if (outcome->fresh) {
        err = upsert_rows(store, b, errstr, errstr_size);
        if (!err) err = touch_key(store, b, &outcome->triggered, errstr, errstr_size);
        if (err) goto fail;
    }
    err =
        mm_consumer_state_store(store->offsets, topic, partition, offset + 1, errstr, errstr_size);
    if (!err) err = mm_db_commit(store->db, errstr, errstr_size);
    if (err) goto fail;
    if (outcome->fresh && b->end_of_load) check_load_complete(store, b);
    return MM_OK;
fail:
    mm_db_rollback(store->db);
    memset(outcome, 0, sizeof(*outcome));
    return err;
}

mm_err_t mm_trainer_store_due_keys(mm_db_t *db, const mm_spec_t *spec, int64_t now_ms, int limit,
                                   mm_trainer_due_cb_t *cb, void *opaque, char *errstr,
                                   size_t errstr_size) {
    sqlite3_stmt *st = NULL;
    mm_err_t err =
        mm_db_prepare(db, &st,
                      "SELECT partition_key FROM keys WHERE (dirty = 1 AND trigger_at_ms <= ?1) "
                      "OR (?2 > 0 AND new_rows > 0 AND last_trained_at_ms > 0 AND "
                      "last_trained_at_ms <= ?1 - ?2 * 1000) ORDER BY trigger_at_ms LIMIT ?3",
                      errstr, errstr_size);
    if (err) return err;
    sqlite3_bind_int64(st, 1, now_ms);
    sqlite3_bind_int64(st, 2, spec->retrain.max_age_s);
    sqlite3_bind_int(st, 3, limit);
    while ((err = mm_db_step_row(db, st, errstr, errstr_size)) == MM_OK) {
        const char *key = (const char *)sqlite3_column_text(st, 0);
        if (key && !cb(opaque, key)) break;
    }
    sqlite3_finalize(st);
    return err == MM_ERR_NOT_FOUND ? MM_OK : err;
}

/* ------------------------------------------------------------ workers */

void mm_trainer_history_clear(mm_trainer_history_t *h) {
    free(h->time_ms);
    free(h->y);
    free(h->x);
    free(h->last_load_id);
    for (size_t e = 0; e < h->n_entities; e++) free(h->entity[e]);
    free(h->entity);
    free(h->entity_start);
    memset(h, 0, sizeof(*h));
}

static mm_err_t read_key_row(mm_db_t *db, const char *key, mm_trainer_history_t *h, char *errstr,
                             size_t errstr_size) {
    sqlite3_stmt *st = NULL;
    mm_err_t err =
        mm_db_prepare(db, &st, "SELECT generation, last_load_id FROM keys WHERE partition_key = ?1",
                      errstr, errstr_size);
    if (err) return err;
    bind_text(st, 1, key);
    err = mm_db_step_row(db, st, errstr, errstr_size);
    if (err == MM_OK) {
        h->generation = sqlite3_column_int64(st, 0);
        const char *load_id = (const char *)sqlite3_column_text(st, 1);
        if (load_id && !(h->last_load_id = strdup(load_id)))
            err = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
    } else if (err == MM_ERR_NOT_FOUND) {
        err = MM_OK;
    }
    sqlite3_finalize(st);
    return err;
}

/* Note that row @p n starts entity @p name (rows come ordered by entity, then time). */
static bool entity_begin(mm_trainer_history_t *h, size_t *cap, const char *name, size_t n) {
    if (h->n_entities + 1 >= *cap) {
        size_t ncap = *cap ? *cap * 2 : HISTORY_INITIAL_ENTITIES;
        char **names = realloc(h->entity, ncap * sizeof(*names));
        if (names) h->entity = names;
        size_t *starts = realloc(h->entity_start, (ncap + 1) * sizeof(*starts));
        if (starts) h->entity_start = starts;
        if (!names || !starts) return false;
        *cap = ncap;
    }
    char *copy = strdup(name);
    if (!copy) return false;
    h->entity[h->n_entities] = copy;
    h->entity_start[h->n_entities++] = n;
    return true;
}

/* The last entity's rows end at its last observed target: its planned rows
 * are not training data, and an entity without any is no history at all. */
static void entity_end(mm_trainer_history_t *h, mm_trainer_rows_t *r) {
    size_t e = h->n_entities - 1, start = h->entity_start[e], end = r->n;
    while (end > start && isnan(r->y[end - 1])) end--;
    r->n = end;
    if (end == start) {
        free(h->entity[e]);
        h->n_entities--;
    }
}

static mm_err_t read_rows(mm_db_t *db, const char *key, mm_trainer_history_t *h, char *errstr,
                          size_t errstr_size) {
    const size_t nx = h->n_exog;
    sqlite3_stmt *st = NULL;
    mm_err_t err = mm_db_prepare(db, &st,
                                 "SELECT entity, data FROM history_chunks WHERE partition_key = ?1 "
                                 "ORDER BY entity, t_min",
                                 errstr, errstr_size);
    if (err) return err;
    bind_text(st, 1, key);
    mm_trainer_rows_t r = {.n_exog = nx};
    size_t entities_cap = 0;
    while ((err = mm_db_step_row(db, st, errstr, errstr_size)) == MM_OK) {
        const char *entity = (const char *)sqlite3_column_text(st, 0);
        if (!entity) entity = "";
        if (h->n_entities == 0 || strcmp(h->entity[h->n_entities - 1], entity) != 0) {
            if (h->n_entities) entity_end(h, &r);
            if (!entity_begin(h, &entities_cap, entity, r.n)) {
                err = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "%s: too many entities", key);
                break;
            }
        }
        err =
            mm_trainer_chunk_decode(sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1),
                                    &r, key, errstr, errstr_size);
        if (err) break;
    }
    sqlite3_finalize(st);
    if (err == MM_ERR_NOT_FOUND) err = MM_OK;
    if (!err && h->n_entities) entity_end(h, &r);
    h->n = r.n;
    h->time_ms = r.t;
    h->y = r.y;
    h->x = r.x;
    if (h->entity_start) h->entity_start[h->n_entities] = h->n;
    if (err) return err;

    /* The entity enters the digest where there is one: digests (and train ids) of
     * data without entities stay what they were. */
    mm_sha256_ctx_t *sha = mm_sha256_new();
    for (size_t e = 0; e < h->n_entities; e++) {
        const char *entity = h->entity[e];
        for (size_t i = h->entity_start[e]; i < h->entity_start[e + 1]; i++) {
            if (entity[0]) mm_sha256_update(sha, entity, strlen(entity) + 1);
            mm_sha256_update(sha, &h->time_ms[i], sizeof(int64_t));
            mm_sha256_update(sha, &h->y[i], sizeof(double));
            if (nx) mm_sha256_update(sha, &h->x[i * nx], nx * sizeof(double));
        }
    }
    mm_sha256_final_hex(sha, h->digest);
    return MM_OK;
}
mm_err_t mm_trainer_store_read_history(mm_db_t *db, const char *key, size_t n_exog,
                                       mm_trainer_history_t *h, char *errstr, size_t errstr_size) {
    memset(h, 0, sizeof(*h));
    h->n_exog = n_exog;
    /* One consistent snapshot; deferred, so that it does not hold the write
     * lock the poll thread needs. */
    mm_err_t err = mm_db_exec(db, "BEGIN", errstr, errstr_size);
    if (err) return err;
    err = read_key_row(db, key, h, errstr, errstr_size);
    if (!err) err = read_rows(db, key, h, errstr, errstr_size);
    mm_db_rollback(db); /* read-only snapshot: nothing to commit */
    if (!err && h->n == 0)
        err = mm_errf(MM_ERR_INSUFFICIENT_DATA, errstr, errstr_size, "%s: no history", key);
    if (err) mm_trainer_history_clear(h);
    return err;
}

mm_err_t mm_trainer_store_is_trained(mm_db_t *db, const char *train_id, bool *trained, char *errstr,
                                     size_t errstr_size) {
    *trained = false;
    sqlite3_stmt *q = NULL;
    mm_err_t err =
        mm_db_prepare(db, &q, "SELECT 1 FROM trained WHERE train_id = ?1", errstr, errstr_size);
    if (err) return err;
    bind_text(q, 1, train_id);
    err = mm_db_step_row(db, q, errstr, errstr_size);
    sqlite3_finalize(q);
    if (err == MM_OK) *trained = true;
    return err == MM_ERR_NOT_FOUND ? MM_OK : err;
}

static mm_err_t insert_model(mm_db_t *db, const mm_trainer_model_row_t *m, char *errstr,
                             size_t errstr_size) {
    sqlite3_stmt *st = NULL;
    mm_err_t err =
        mm_db_prepare(db, &st,
                      "INSERT OR IGNORE INTO trained(train_id, partition_key, algorithm, "
                      "fallback, artifact_uri, sha256, data_end_ms, n_rows, "
                      "trained_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                      errstr, errstr_size);
    if (err) return err;
    bind_text(st, 1, m->train_id);
    bind_text(st, 2, m->partition_key);
    bind_text(st, 3, m->algorithm);
    sqlite3_bind_int(st, 4, m->fallback ? 1 : 0);
    bind_text(st, 5, m->artifact_uri);
    bind_text(st, 6, m->sha256);
    sqlite3_bind_int64(st, 7, m->data_end_ms);
    sqlite3_bind_int64(st, 8, m->n_rows);
    sqlite3_bind_int64(st, 9, mm_now_ms());
    err = mm_db_step_done(db, st, errstr, errstr_size);
    sqlite3_finalize(st);
    return err;
}

static mm_err_t clear_trigger(mm_db_t *db, const char *key, int64_t generation,
                              const char *train_id, char *errstr, size_t errstr_size) {
    sqlite3_stmt *st = NULL;
    mm_err_t err =
        mm_db_prepare(db, &st,
                      "UPDATE keys SET dirty = CASE WHEN generation = ?2 THEN 0 ELSE dirty "
                      "END, new_rows = CASE WHEN generation = ?2 THEN 0 ELSE new_rows END, "
                      "last_train_id = ?3, last_trained_at_ms = ?4 WHERE partition_key = ?1",
                      errstr, errstr_size);
    if (err) return err;
    bind_text(st, 1, key);
    sqlite3_bind_int64(st, 2, generation);
    bind_text(st, 3, train_id);
    sqlite3_bind_int64(st, 4, mm_now_ms());
    err = mm_db_step_done(db, st, errstr, errstr_size);
    sqlite3_finalize(st);
    return err;
}

mm_err_t mm_trainer_store_record_model(mm_db_t *db, const char *key, int64_t generation,
                                       const char *train_id, const mm_trainer_model_row_t *model,
                                       const mm_buf_t *event, char *errstr, size_t errstr_size) {
    mm_err_t err = mm_db_begin(db, errstr, errstr_size);
    if (err) return err;
    if (model) {
        err = insert_model(db, model, errstr, errstr_size);
        if (!err)
            err =
                mm_outbox_insert(db, MM_TOPIC_MODELS, key, event, mm_now_ms(), errstr, errstr_size);
    }
    if (!err) err = clear_trigger(db, key, generation, train_id, errstr, errstr_size);
    if (!err) err = mm_db_commit(db, errstr, errstr_size);
    if (err) mm_db_rollback(db);
    return err;
}

mm_err_t mm_trainer_store_postpone(mm_db_t *db, const char *key, int64_t at_ms, char *errstr,
                                   size_t errstr_size) {
    sqlite3_stmt *st = NULL;
    mm_err_t err = mm_db_prepare(
        db, &st, "UPDATE keys SET trigger_at_ms = ?2 WHERE partition_key = ?1 AND dirty = 1",
        errstr, errstr_size);
    if (err) return err;
    bind_text(st, 1, key);
    sqlite3_bind_int64(st, 2, at_ms);
    err = mm_db_step_done(db, st, errstr, errstr_size);
    sqlite3_finalize(st);
    return err;
}
