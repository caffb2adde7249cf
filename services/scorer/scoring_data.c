/*
 * scoring_data.c - mm-scorer's SQLite state store of scoring data (see
 * scoring_data.h).
 *
 * Workload: a catch-up before each batch run applies one transaction per
 * ObservationBatch (a few to a few thousand row upserts through one prepared
 * statement, then one bounded delete per key); scoring then reads each key's
 * few hundred rows once, in time order off the primary key. A batch's rows
 * older than its own newest keep_observed observations are not written at
 * all: the delete would remove them in the same transaction (a history load
 * of thousands of rows per key writes a tenth of them).
 */
#include "scoring_data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mm/outbox.h"
#include "mm/util.h"

/* A DeadLetter's room beyond a full-size original: the envelope (reason, coordinates). */
#define DEADLETTER_ENVELOPE_SLACK 65536
/* First allocation, in rows, of a key's read (doubled as it grows). */
#define ROWS_INITIAL 512

/* migrations[i] upgrades schema version i to i+1. Never edit a released entry: append. */
static const char *const scoring_migrations[] = {
    /* v1 */
    "CREATE TABLE scoring_rows ("
    "  partition_key TEXT NOT NULL,"
    "  t INTEGER NOT NULL,"
    "  y REAL,"
    "  x BLOB,"
    "  load_id TEXT,"
    "  PRIMARY KEY (partition_key, t)) WITHOUT ROWID;"
    "CREATE INDEX scoring_rows_observed ON scoring_rows(partition_key, t) WHERE y IS NOT "
    "NULL;" MM_CONSUMER_STATE_TABLE_SQL(MM_SCORING_DATA_OFFSETS_TABLE) MM_OUTBOX_TABLE_SQL,
    /* v2: a row is identified by (key, entity, time); rows stored before entities have "" */
    "CREATE TABLE scoring_rows_v2 ("
    "  partition_key TEXT NOT NULL,"
    "  entity TEXT NOT NULL DEFAULT '',"
    "  t INTEGER NOT NULL,"
    "  y REAL,"
    "  x BLOB,"
    "  load_id TEXT,"
    "  PRIMARY KEY (partition_key, entity, t)) WITHOUT ROWID;"
    "INSERT INTO scoring_rows_v2(partition_key, entity, t, y, x, load_id)"
    "  SELECT partition_key, '', t, y, x, load_id FROM scoring_rows;"
    "DROP TABLE scoring_rows;"
    "ALTER TABLE scoring_rows_v2 RENAME TO scoring_rows;"
    "CREATE INDEX scoring_rows_observed ON scoring_rows(partition_key, entity, t) WHERE y IS NOT "
    "NULL;",
    /* v3: mm-scorer serve's latest decision per key (served_decisions.c) */
    "CREATE TABLE served_decisions ("
    "  partition_key TEXT PRIMARY KEY,"
    "  seq INTEGER NOT NULL,"
    "  decision BLOB NOT NULL) WITHOUT ROWID;",
};

/* The apply path's statements, in the order of the store's fields. */
static const char *const apply_sql[] = {
    /* A planned row (empty target) never erases a stored observed target. */
    "INSERT INTO scoring_rows(partition_key, t, y, x, load_id, entity) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
    "ON CONFLICT(partition_key, entity, t) DO UPDATE SET y = COALESCE(excluded.y, y), "
    "x = excluded.x, "
    "load_id = CASE WHEN excluded.y IS NULL AND y IS NOT NULL THEN load_id "
    "ELSE excluded.load_id END",
    /* Keep the entity's newest ?2 observed rows and everything after the oldest of them. */
    "DELETE FROM scoring_rows WHERE partition_key = ?1 AND entity = ?3 AND t < ("
    "SELECT t FROM scoring_rows WHERE partition_key = ?1 AND entity = ?3 AND y IS NOT NULL "
    "ORDER BY t DESC LIMIT 1 OFFSET ?2 - 1)",
};

/* One cached read: a key's (entity's) rows as read with until_ms 0. */
typedef struct cached_rows {
    char *id; /* key '\0' entity '\0'; NULL = empty slot */
    size_t id_len;
    size_t bytes;
    mm_scoring_rows_t rows;
} cached_rows_t;

/* The reads of hot keys kept in memory (mm_scoring_data_cache): direct-mapped
 * slots, bounded in bytes, all dropped when the store's data version moves. */
typedef struct rows_cache {
    cached_rows_t *slots;
    size_t n_slots; /* a power of two; 0 = no cache */
    size_t bytes, max_bytes;
    int64_t data_version;
} rows_cache_t;

struct mm_scoring_data {
    mm_db_t *db;
    const mm_spec_t *spec;
    size_t keep_observed;
    mm_consumer_state_t *offsets;
    sqlite3_stmt *st_upsert;
    sqlite3_stmt *st_prune;
    sqlite3_stmt *st_read;    /* a key's rows: prepared once, reset after each read */
    sqlite3_stmt *st_version; /* PRAGMA data_version: changes when anyone commits */
    rows_cache_t cache;
};

/* One key's (entity's) rows in time order, off the primary key. */
#define READ_SQL                                                                                   \
    "SELECT t, y, x, load_id FROM scoring_rows WHERE partition_key = ?1 AND entity = ?2 ORDER BY " \
    "t"

static sqlite3_stmt **apply_stmt(mm_scoring_data_t *sd, size_t i) {
    sqlite3_stmt **stmts[] = {&sd->st_upsert, &sd->st_prune};
    _Static_assert(MM_ARRAY_SIZE(stmts) == MM_ARRAY_SIZE(apply_sql), "one statement per field");
    return stmts[i];
}

void mm_scoring_rows_clear(mm_scoring_rows_t *rows) {
    free(rows->time_ms);
    free(rows->y);
    free(rows->x);
    free(rows->load_id);
    memset(rows, 0, sizeof(*rows));
}

static size_t rows_bytes(const mm_scoring_rows_t *r) {
    return sizeof(*r) + r->n * (sizeof(int64_t) + sizeof(double) * (1 + r->n_exog)) +
           (r->load_id ? strlen(r->load_id) + 1 : 0);
}

static void slot_clear(rows_cache_t *c, cached_rows_t *slot) {
    if (!slot->id) return;
    c->bytes -= slot->bytes;
    free(slot->id);
    mm_scoring_rows_clear(&slot->rows);
    memset(slot, 0, sizeof(*slot));
}

static void cache_drop(rows_cache_t *c) {
    for (size_t i = 0; i < c->n_slots; i++) slot_clear(c, &c->slots[i]);
}

/* Copy @p src's arrays into @p dst (zeroed). @returns false out of memory. */
static bool rows_copy(mm_scoring_rows_t *dst, const mm_scoring_rows_t *src) {
    *dst = (mm_scoring_rows_t){.n = src->n, .n_observed = src->n_observed, .n_exog = src->n_exog};
    if (src->n == 0) return true; /* an unknown key: no arrays, as read_store leaves them */
    size_t n = src->n;
    dst->time_ms = malloc(n * sizeof(int64_t));
    dst->y = malloc(n * sizeof(double));
    dst->x = src->n_exog ? malloc(n * src->n_exog * sizeof(double)) : NULL;
    dst->load_id = src->load_id ? strdup(src->load_id) : NULL;
    if (!dst->time_ms || !dst->y || (src->n_exog && !dst->x) || (src->load_id && !dst->load_id)) {
        mm_scoring_rows_clear(dst);
        return false;
    }
    memcpy(dst->time_ms, src->time_ms, src->n * sizeof(int64_t));
    memcpy(dst->y, src->y, src->n * sizeof(double));
    if (src->n_exog) memcpy(dst->x, src->x, src->n * src->n_exog * sizeof(double));
    return true;
}

/* "key\0entity\0" into @p out (@p cap bytes); 0 when it does not fit. */
static size_t cache_id(char *out, size_t cap, const char *key, const char *entity) {
    size_t kl = strlen(key), el = strlen(entity);
    if (kl + el + 2 > cap) return 0;
    memcpy(out, key, kl + 1);
    memcpy(out + kl + 1, entity, el + 1);
    return kl + el + 2;
}

static size_t cache_slot(const rows_cache_t *c, const char *id, size_t len) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)id[i]) * 1099511628211ULL;
    return (size_t)(h & (c->n_slots - 1));
}

/* Drop every cached read when the store changed since they were made. */
static mm_err_t cache_check_version(mm_scoring_data_t *sd, char *errstr, size_t errstr_size) {
    mm_err_t err = mm_db_step_row(sd->db, sd->st_version, errstr, errstr_size);
    int64_t v = err == MM_OK ? sqlite3_column_int64(sd->st_version, 0) : -1;
    sqlite3_reset(sd->st_version);
    if (err)
        return err == MM_ERR_NOT_FOUND
                   ? mm_errf(MM_ERR_DB, errstr, errstr_size, "scoring data: no data_version")
                   : err;
    if (v != sd->cache.data_version) {
        cache_drop(&sd->cache);
        sd->cache.data_version = v;
    }
    return MM_OK;
}

mm_err_t mm_scoring_data_cache(mm_scoring_data_t *sd, size_t max_bytes, char *errstr,
                               size_t errstr_size) {
    if (sd->cache.n_slots)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "scoring data: the read cache is already set");
    if (max_bytes == 0) return MM_OK;
    size_t n = 64;
    while (n < MM_SCORING_DATA_CACHE_SLOTS_MAX && n * MM_SCORING_DATA_CACHE_SLOT_BYTES < max_bytes)
        n *= 2;
    mm_err_t err =
        mm_db_prepare(sd->db, &sd->st_version, "PRAGMA data_version", errstr, errstr_size);
    if (err) return err;
    sd->cache.slots = calloc(n, sizeof(*sd->cache.slots));
    if (!sd->cache.slots)
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "scoring data: out of memory");
    sd->cache.n_slots = n;
    sd->cache.max_bytes = max_bytes;
    sd->cache.data_version = -1;
    return MM_OK;
}

mm_scoring_data_t *mm_scoring_data_open(const char *path, const mm_spec_t *spec,
                                        size_t keep_observed, const char *service, char *errstr,
                                        size_t errstr_size) {
    mm_scoring_data_t *sd = calloc(1, sizeof(*sd));
    if (!sd) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "scoring data: out of memory");
        return NULL;
    }
    sd->spec = spec;
    sd->keep_observed = keep_observed ? keep_observed : MM_SCORING_DATA_DEFAULT_KEEP;
    if (mm_db_open_err(&sd->db, path, scoring_migrations, MM_ARRAY_SIZE(scoring_migrations), errstr,
                       errstr_size))
        goto fail;
    for (size_t i = 0; i < MM_ARRAY_SIZE(apply_sql); i++)
        if (mm_db_prepare(sd->db, apply_stmt(sd, i), apply_sql[i], errstr, errstr_size)) goto fail;
    if (mm_db_prepare(sd->db, &sd->st_read, READ_SQL, errstr, errstr_size)) goto fail;
    mm_consumer_state_config_t offsets = {.table = MM_SCORING_DATA_OFFSETS_TABLE,
                                          .service = service,
                                          .deadletter_cap =
                                              MM_BUF_CAP_MESSAGE + DEADLETTER_ENVELOPE_SLACK};
    sd->offsets = mm_consumer_state_new(sd->db, &offsets, errstr, errstr_size);
    if (!sd->offsets) goto fail;
    return sd;
fail:
    mm_scoring_data_close(sd);
    return NULL;
}

void mm_scoring_data_close(mm_scoring_data_t *sd) {
    if (!sd) return;
    mm_consumer_state_destroy(sd->offsets);
    for (size_t i = 0; i < MM_ARRAY_SIZE(apply_sql); i++) sqlite3_finalize(*apply_stmt(sd, i));
    sqlite3_finalize(sd->st_read);
    sqlite3_finalize(sd->st_version);
    cache_drop(&sd->cache);
    free(sd->cache.slots);
    mm_db_close(sd->db);
    free(sd);
}

mm_db_t *mm_scoring_data_db(const mm_scoring_data_t *sd) {
    return sd->db;
}

mm_consumer_state_t *mm_scoring_data_offsets(const mm_scoring_data_t *sd) {
    return sd->offsets;
}

/* Map the batch's columns onto the spec's exogenous columns (by name); -1 = absent. */
static void map_columns(const mm_spec_t *spec, const mm_observation_batch_t *b, int *col_of) {
    for (size_t j = 0; j < spec->n_feature_columns; j++) {
        col_of[j] = -1;
        for (size_t c = 0; c < b->n_columns; c++)
            if (b->columns[c].name && strcmp(b->columns[c].name, spec->feature_columns[j]) == 0)
                col_of[j] = (int)c;
    }
}

static int cmp_desc_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x < y) - (x > y);
}

/* For each entity of the batch (one when it has none), the time below which
 * its rows need not be written: the keep-th newest distinct time among its
 * own observed rows. After the upsert the store holds at least those keep
 * observations of the entity at or after it, so the prune that follows in
 * the same transaction deletes every row before it. INT64_MIN (write every
 * row) when the entity has fewer, or when there is no memory to find out. */
static void batch_floors(const mm_observation_batch_t *b, bool entities, size_t n_entities,
                         size_t keep, int64_t *floor) {
    for (size_t e = 0; e < n_entities; e++) floor[e] = INT64_MIN;
    int64_t *t = malloc((b->n_rows ? b->n_rows : 1) * sizeof(*t));
    if (!t) return;
    for (size_t e = 0; e < n_entities; e++) {
        size_t n = 0;
        for (size_t i = 0; i < b->n_rows; i++)
            if (!isnan(b->target[i]) && (!entities || (size_t)b->entity_of_row[i] == e))
                t[n++] = b->time_ms[i];
        if (n < keep) continue;
        qsort(t, n, sizeof(*t), cmp_desc_i64);
        size_t distinct = 0;
        for (size_t i = 0; i < n; i++) {
            if (i > 0 && t[i] == t[i - 1]) continue;
            if (++distinct == keep) {
                floor[e] = t[i];
                break;
            }
        }
    }
    free(t);
}

static mm_err_t upsert_rows(mm_scoring_data_t *sd, const mm_observation_batch_t *b, bool entities,
                            const int64_t *floor, char *errstr, size_t errstr_size) {
    const size_t nx = sd->spec->n_feature_columns;
    int col_of[MM_MODEL_MAX_EXOG];
    double x[MM_MODEL_MAX_EXOG];
    map_columns(sd->spec, b, col_of);
    sqlite3_stmt *st = sd->st_upsert;
    for (size_t i = 0; i < b->n_rows; i++) {
        if (b->time_ms[i] < floor[entities ? b->entity_of_row[i] : 0]) continue; /* pruned */
        sqlite3_bind_text(st, 1, b->partition_key, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, b->time_ms[i]);
        sqlite3_bind_text(st, 6,
                          sd->spec->n_entity_columns ? mm_observation_batch_entity(b, i) : "", -1,
                          SQLITE_STATIC);
        if (isnan(b->target[i]))
            sqlite3_bind_null(st, 3);
        else
            sqlite3_bind_double(st, 3, b->target[i]);
        if (nx > 0) {
            for (size_t j = 0; j < nx; j++)
                x[j] = col_of[j] >= 0 ? b->columns[col_of[j]].values[i] : NAN;
            sqlite3_bind_blob(st, 4, x, (int)(nx * sizeof(double)), SQLITE_TRANSIENT);
        } else {
            sqlite3_bind_null(st, 4);
        }
        if (b->load_id)
            sqlite3_bind_text(st, 5, b->load_id, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 5);
        mm_err_t err = mm_db_step_done(sd->db, st, errstr, errstr_size);
        if (err) return err;
    }
    return MM_OK;
}

mm_err_t mm_scoring_data_apply(mm_scoring_data_t *sd, const char *topic, int32_t partition,
                               int64_t offset, const mm_observation_batch_t *batch, char *errstr,
                               size_t errstr_size) {
    /* Each entity of the batch keeps its own newest rows. */
    bool entities = sd->spec->n_entity_columns && batch->n_entity_of_row;
    size_t n_entities = entities ? batch->n_entities : 1;
    int64_t one_floor, *floor = n_entities > 1 ? malloc(n_entities * sizeof(*floor)) : &one_floor;
    if (!floor) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "scoring data: out of memory");
    batch_floors(batch, entities, n_entities, sd->keep_observed, floor);
    mm_err_t err = mm_db_begin(sd->db, errstr, errstr_size);
    if (err) {
        if (floor != &one_floor) free(floor);
        return err;
    }
    err = upsert_rows(sd, batch, entities, floor, errstr, errstr_size);
    if (floor != &one_floor) free(floor);
    for (size_t e = 0; !err && e < n_entities; e++) {
        err = mm_db_bind(sd->db, sd->st_prune, errstr, errstr_size, "tit", batch->partition_key,
                         (int64_t)sd->keep_observed, entities ? batch->entities[e] : "");
        if (!err) err = mm_db_step_done(sd->db, sd->st_prune, errstr, errstr_size);
    }
    if (!err && topic)
        err =
            mm_consumer_state_store(sd->offsets, topic, partition, offset + 1, errstr, errstr_size);
    if (!err) err = mm_db_commit(sd->db, errstr, errstr_size);
    if (err) mm_db_rollback(sd->db);
    cache_drop(&sd->cache); /* data_version moves only for other connections' commits */
    return err;
}

static bool rows_grow(mm_scoring_rows_t *r, size_t *cap) {
    size_t ncap = *cap ? *cap * 2 : ROWS_INITIAL;
    int64_t *nt = realloc(r->time_ms, ncap * sizeof(*nt));
    if (nt) r->time_ms = nt;
    double *ny = realloc(r->y, ncap * sizeof(*ny));
    if (ny) r->y = ny;
    double *nx = r->n_exog ? realloc(r->x, ncap * r->n_exog * sizeof(*nx)) : r->x;
    if (nx) r->x = nx;
    if (!nt || !ny || (r->n_exog && !nx)) return false;
    *cap = ncap;
    return true;
}

/* Append the statement's current row (t, y, x) to @p r. */
static void rows_take(mm_scoring_rows_t *r, sqlite3_stmt *st) {
    size_t n = r->n, nx = r->n_exog;
    r->time_ms[n] = sqlite3_column_int64(st, 0);
    r->y[n] = sqlite3_column_type(st, 1) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 1);
    const void *blob = sqlite3_column_blob(st, 2);
    int blen = sqlite3_column_bytes(st, 2);
    for (size_t j = 0; j < nx; j++) {
        double v = NAN;
        if (blob && (size_t)blen >= (j + 1) * sizeof(double))
            memcpy(&v, (const uint8_t *)blob + j * sizeof(double), sizeof(double));
        r->x[n * nx + j] = v;
    }
    r->n++;
}

mm_err_t mm_scoring_data_read(mm_scoring_data_t *sd, const char *key, int64_t until_ms,
                              mm_scoring_rows_t *rows, char *errstr, size_t errstr_size) {
    return mm_scoring_data_read_entity(sd, key, "", until_ms, rows, errstr, errstr_size);
}

static mm_err_t read_store(mm_scoring_data_t *sd, const char *key, const char *entity,
                           int64_t until_ms, mm_scoring_rows_t *rows, char *errstr,
                           size_t errstr_size) {
    memset(rows, 0, sizeof(*rows));
    rows->n_exog = sd->spec->n_feature_columns;
    /* The statement is the store's own (a serving worker reads with it per
     * request): bound and stepped here, reset and unbound before returning. */
    sqlite3_stmt *st = sd->st_read;
    mm_err_t err = MM_OK;
    if (sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 2, entity ? entity : "", -1, SQLITE_STATIC) != SQLITE_OK)
        err = mm_db_err(sd->db, "bind", errstr, errstr_size);
    size_t cap = 0, planned = 0;
    int64_t newest_observed = -1;
    while (err == MM_OK && (err = mm_db_step_row(sd->db, st, errstr, errstr_size)) == MM_OK) {
        if (rows->n == cap && !rows_grow(rows, &cap)) {
            err = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "%s: scoring data too large", key);
            break;
        }
        rows_take(rows, st);
        size_t i = rows->n - 1;
        if (!isnan(rows->y[i]) && (until_ms == 0 || rows->time_ms[i] <= until_ms)) {
            newest_observed = (int64_t)i;
            planned = 0;
            free(rows->load_id);
            rows->load_id = mm_db_column_strdup(st, 3);
        } else if (newest_observed >= 0 && ++planned >= MM_SCORING_DATA_MAX_PLANNED) {
            break; /* no horizon reaches further */
        }
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (err == MM_ERR_NOT_FOUND) err = MM_OK;
    if (err) {
        mm_scoring_rows_clear(rows);
        return err;
    }
    rows->n_observed = (size_t)(newest_observed + 1);
    return MM_OK;
}

mm_err_t mm_scoring_data_read_entity(mm_scoring_data_t *sd, const char *key, const char *entity,
                                     int64_t until_ms, mm_scoring_rows_t *rows, char *errstr,
                                     size_t errstr_size) {
    if (!entity) entity = "";
    rows_cache_t *c = &sd->cache;
    char id[MM_SCORING_DATA_CACHE_ID_MAX];
    size_t id_len = c->n_slots && until_ms == 0 ? cache_id(id, sizeof(id), key, entity) : 0;
    if (!id_len) return read_store(sd, key, entity, until_ms, rows, errstr, errstr_size);
    mm_err_t err = cache_check_version(sd, errstr, errstr_size);
    if (err) return err;
    cached_rows_t *slot = &c->slots[cache_slot(c, id, id_len)];
    if (slot->id && slot->id_len == id_len && memcmp(slot->id, id, id_len) == 0) {
        if (rows_copy(rows, &slot->rows)) return MM_OK;
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "%s: scoring data too large", key);
    }
    err = read_store(sd, key, entity, 0, rows, errstr, errstr_size);
    if (err) return err;
    slot_clear(c, slot);
    size_t bytes = rows_bytes(rows) + id_len;
    if (c->bytes + bytes > c->max_bytes) return MM_OK; /* over the bound: not kept */
    slot->id = malloc(id_len);
    if (!slot->id || !rows_copy(&slot->rows, rows)) {
        free(slot->id);
        memset(slot, 0, sizeof(*slot));
        return MM_OK; /* the answer stands; only the cache went without */
    }
    memcpy(slot->id, id, id_len);
    slot->id_len = id_len;
    slot->bytes = bytes;
    c->bytes += bytes;
    return MM_OK;
}

mm_err_t mm_scoring_data_keys(mm_scoring_data_t *sd, mm_scoring_data_key_cb_t *cb, void *opaque,
                              char *errstr, size_t errstr_size) {
    sqlite3_stmt *st = NULL;
    mm_err_t err = mm_db_query(sd->db, &st, errstr, errstr_size,
                               "SELECT DISTINCT partition_key FROM scoring_rows ORDER BY 1", "");
    while (err == MM_OK && (err = mm_db_step_row(sd->db, st, errstr, errstr_size)) == MM_OK) {
        const char *key = (const char *)sqlite3_column_text(st, 0);
        if (key && !cb(opaque, key)) break;
    }
    sqlite3_finalize(st);
    return err == MM_ERR_NOT_FOUND ? MM_OK : err;
}

mm_err_t mm_scoring_data_entities(mm_scoring_data_t *sd, const char *key,
                                  mm_scoring_data_key_cb_t *cb, void *opaque, char *errstr,
                                  size_t errstr_size) {
    sqlite3_stmt *st = NULL;
    mm_err_t err = mm_db_query(sd->db, &st, errstr, errstr_size,
                               "SELECT DISTINCT entity FROM scoring_rows WHERE partition_key = ?1 "
                               "ORDER BY 1",
                               "t", key);
    while (err == MM_OK && (err = mm_db_step_row(sd->db, st, errstr, errstr_size)) == MM_OK) {
        const char *entity = (const char *)sqlite3_column_text(st, 0);
        if (entity && !cb(opaque, entity)) break;
    }
    sqlite3_finalize(st);
    return err == MM_ERR_NOT_FOUND ? MM_OK : err;
}

mm_err_t mm_scoring_data_latest(mm_scoring_data_t *sd, int64_t *latest_ms, bool *found,
                                char *errstr, size_t errstr_size) {
    *latest_ms = 0;
    *found = false;
    sqlite3_stmt *st = NULL;
    mm_err_t err = mm_db_query(sd->db, &st, errstr, errstr_size,
                               "SELECT MAX(t) FROM scoring_rows WHERE y IS NOT NULL", "");
    if (err == MM_OK) err = mm_db_step_row(sd->db, st, errstr, errstr_size);
    if (err == MM_OK && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        *latest_ms = sqlite3_column_int64(st, 0);
        *found = true;
    }
    sqlite3_finalize(st);
    return err == MM_ERR_NOT_FOUND ? MM_OK : err;
}
