/*
 * keys.c - the load's partition keys and each key's open batch: the key
 * table, the hold-back rule (a full batch waits for the key's next row or
 * the end of the load, so an end-of-load batch is never empty), batches
 * never mixing sources, and the bound on rows held across keys.
 *
 * Workload: one key-table lookup per row (mm/hashmap.h, no allocation once
 * the key is known) and a few stores into the key's columnar arrays; arrays
 * grow by doubling up to the key's batch size, and shrink after a memory
 * pressure flush. With entity columns a key also keeps its distinct
 * entities (the previous row's checked first, so entity-major files cost
 * one comparison per row) and each open row's index among them.
 */
#include <stdlib.h>
#include <string.h>

#include "ingest_int.h"
#include "mm/log.h"
#include "mm/util.h"

#define KEYS_MIN_ROWS_ALLOC 64  /* first allocation of a key's open batch */
#define KEYS_SHRUNK_ROWS    16  /* what a key keeps after a memory-pressure flush */
#define KEYS_MIN_LIST       256 /* first allocation of the list of keys */

static void key_free(mm_ingest_key_t *ks, size_t n_exog) {
    if (!ks) return;
    free(ks->key);
    free(ks->time_ms);
    free(ks->line);
    free(ks->target);
    free(ks->entity_of_row);
    for (size_t e = 0; e < ks->n_entities; e++) free(ks->entities[e]);
    free(ks->entities);
    if (ks->cols)
        for (size_t j = 0; j < n_exog; j++) free(ks->cols[j]);
    free(ks->cols);
    free(ks);
}

void mm_ingest__keys_free(mm_ingest_t *ingest) {
    for (size_t i = 0; i < ingest->n_keys; i++)
        key_free(ingest->keys[i], ingest->spec->n_feature_columns);
    free(ingest->keys);
    ingest->keys = NULL;
    ingest->n_keys = ingest->keys_cap = 0;
    ingest->recent = NULL;
    mm_hashmap_destroy(ingest->key_table);
    ingest->key_table = NULL;
}

/* The state of @p key, created (with an empty open batch) on its first row. */
static mm_ingest_key_t *key_get(mm_ingest_t *ingest, const char *key, size_t key_len) {
    /* Rows of one key mostly follow each other: try the last row's key before hashing. */
    mm_ingest_key_t *ks = ingest->recent;
    if (ks && ks->key_len == key_len && memcmp(ks->key, key, key_len) == 0) return ks;
    ks = mm_hashmap_get(ingest->key_table, key, key_len);
    if (ks) return ingest->recent = ks;
    if (ingest->n_keys == ingest->keys_cap) {
        size_t cap = ingest->keys_cap ? ingest->keys_cap * 2 : KEYS_MIN_LIST;
        mm_ingest_key_t **keys = realloc(ingest->keys, cap * sizeof(*keys));
        if (!keys) return NULL;
        ingest->keys = keys;
        ingest->keys_cap = cap;
    }
    ks = calloc(1, sizeof(*ks));
    if (!ks) return NULL;
    ks->key = mm_strndup(key, key_len);
    size_t n_exog = ingest->spec->n_feature_columns;
    ks->cols = n_exog ? calloc(n_exog, sizeof(*ks->cols)) : NULL;
    ks->key_len = key_len;
    if (!ks->key || (n_exog && !ks->cols) ||
        mm_hashmap_put(ingest->key_table, ks->key, key_len, ks) != MM_OK) {
        key_free(ks, n_exog);
        return NULL;
    }
    ingest->keys[ingest->n_keys++] = ks;
    return ingest->recent = ks;
}

static bool key_resize(mm_ingest_t *ingest, mm_ingest_key_t *ks, size_t cap) {
    int64_t *t = realloc(ks->time_ms, cap * sizeof(*t));
    if (t) ks->time_ms = t;
    int64_t *l = realloc(ks->line, cap * sizeof(*l));
    if (l) ks->line = l;
    double *y = realloc(ks->target, cap * sizeof(*y));
    if (y) ks->target = y;
    bool ok = t && l && y;
    if (ingest->spec->n_entity_columns) {
        int32_t *e = realloc(ks->entity_of_row, cap * sizeof(*e));
        if (e)
            ks->entity_of_row = e;
        else
            ok = false;
    }
    for (size_t j = 0; j < ingest->spec->n_feature_columns; j++) {
        double *c = realloc(ks->cols[j], cap * sizeof(*c));
        if (c)
            ks->cols[j] = c;
        else
            ok = false;
    }
    if (!ok) return false; /* arrays that grew are fine to keep: cap stays the old size */
    ingest->allocated_rows += (int64_t)cap - (int64_t)ks->cap;
    ks->cap = cap;
    return true;
}

/*
 * Too many rows held across keys: produce every open batch except its newest
 * row (so each key's end-of-load batch still has a row), and shrink.
 */
static mm_err_t relieve_pressure(mm_ingest_t *ingest, char *errstr, size_t errstr_size) {
    int64_t before = ingest->stats.rows_buffered;
    for (size_t i = 0; i < ingest->n_keys; i++) {
        mm_ingest_key_t *ks = ingest->keys[i];
        if (ks->n >= 2) {
            mm_err_t err =
                mm_ingest__produce_rows(ingest, ks, ks->n - 1, false, errstr, errstr_size);
            if (err) return err;
        }
        if (ks->cap > KEYS_SHRUNK_ROWS) key_resize(ingest, ks, KEYS_SHRUNK_ROWS);
    }
    ingest->pressure_floor = ingest->allocated_rows;
    mm_log_debug("memory_pressure", "produced %lld held rows early across %zu keys",
                 (long long)(before - ingest->stats.rows_buffered), ingest->n_keys);
    return MM_OK;
}

/* The index of @p entity among @p ks's entities, added on its first row; -1 when out of memory. */
static int32_t entity_index(mm_ingest_key_t *ks, const char *entity) {
    if (ks->n_entities && strcmp(ks->entities[ks->last_entity], entity) == 0)
        return (int32_t)ks->last_entity;
    for (size_t e = 0; e < ks->n_entities; e++)
        if (strcmp(ks->entities[e], entity) == 0) {
            ks->last_entity = e;
            return (int32_t)e;
        }
    if (ks->n_entities >= INT32_MAX) return -1;
    if (ks->n_entities == ks->entities_cap) {
        size_t cap = ks->entities_cap ? ks->entities_cap * 2 : 8;
        char **grown = realloc(ks->entities, cap * sizeof(*grown));
        if (!grown) return -1;
        ks->entities = grown;
        ks->entities_cap = cap;
    }
    char *copy = mm_strndup(entity, strlen(entity));
    if (!copy) return -1;
    ks->entities[ks->n_entities] = copy;
    ks->last_entity = ks->n_entities++;
    return (int32_t)ks->last_entity;
}

/*
 * Grouped input: the previous row's key is complete, so its open batch goes
 * out now as its end of load (its training need not wait for the whole file).
 * A key seen again after its end is sent again, ending again at the load's end.
 */
static mm_err_t end_previous_key(mm_ingest_t *ingest, mm_ingest_key_t *next, char *errstr,
                                 size_t errstr_size) {
    mm_ingest_key_t *prev = ingest->last_key;
    ingest->last_key = next;
    if (next->ended) {
        next->ended = false;
        mm_log_warn("key_not_grouped",
                    "%s appears again after its end of load was sent (--grouped-by-key: the "
                    "input should keep a key's rows together); its rows are sent and it ends "
                    "again",
                    next->key);
    }
    if (!prev || prev->n == 0) return MM_OK;
    mm_err_t err = mm_ingest__produce_rows(ingest, prev, prev->n, true, errstr, errstr_size);
    if (err == MM_ERR_SHUTDOWN) return err; /* paced and stopped: rows stay counted as buffered */
    if (!err) prev->ended = true;
    return err;
}

mm_err_t mm_ingest__append_row(mm_ingest_t *ingest, const char *source, const char *key,
                               size_t key_len, const mm_ingest_row_t *row, char *errstr,
                               size_t errstr_size) {
    mm_ingest_key_t *ks = key_get(ingest, key, key_len);
    if (!ks) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory (key table)");
    mm_err_t err;
    if (ingest->grouped_by_key && ks != ingest->last_key) {
        err = end_previous_key(ingest, ks, errstr, errstr_size);
        if (err) return err;
    }
    /* A held-back full batch, or one from another source, goes out now: this row follows it. */
    if (ks->n > 0 && (ks->n >= ks->max_rows || ks->source != source)) {
        err = mm_ingest__produce_rows(ingest, ks, ks->n, false, errstr, errstr_size);
        if (err) {
            /* Stopped while paced: this row was read and is not sent (counted so). */
            if (err == MM_ERR_SHUTDOWN) ingest->stats.rows_buffered++;
            return err;
        }
    }
    if (ks->n == 0) {
        ks->source = source;
        ks->max_rows = mm_ingest__batch_max_rows(ingest, ks);
    }
    if (ks->n == ks->cap) {
        size_t cap = ks->cap ? ks->cap * 2 : KEYS_MIN_ROWS_ALLOC;
        if (cap > ks->max_rows) cap = ks->max_rows;
        if (cap <= ks->n) cap = ks->n + 1;
        if (!key_resize(ingest, ks, cap))
            return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory (batch of %s)",
                           ks->key);
    }
    int32_t entity = 0;
    if (ingest->spec->n_entity_columns && (entity = entity_index(ks, row->entity)) < 0)
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory (entities of %s)",
                       ks->key);
    size_t i = ks->n++;
    if (ks->entity_of_row) ks->entity_of_row[i] = entity;
    ks->time_ms[i] = row->time_ms;
    ks->line[i] = row->line;
    ks->target[i] = row->target;
    for (size_t j = 0; j < ingest->spec->n_feature_columns; j++) ks->cols[j][i] = row->exog[j];
    ks->rows_total++;
    ingest->stats.rows_buffered++;

    int64_t limit = ingest->max_buffered_rows;
    if (limit < 2 * ingest->pressure_floor) limit = 2 * ingest->pressure_floor;
    if (ingest->allocated_rows > limit) return relieve_pressure(ingest, errstr, errstr_size);
    return MM_OK;
}

void mm_ingest__key_shift(mm_ingest_t *ingest, mm_ingest_key_t *ks, size_t count) {
    size_t left = ks->n - count;
    if (left) {
        memmove(ks->time_ms, ks->time_ms + count, left * sizeof(*ks->time_ms));
        memmove(ks->line, ks->line + count, left * sizeof(*ks->line));
        memmove(ks->target, ks->target + count, left * sizeof(*ks->target));
        if (ks->entity_of_row)
            memmove(ks->entity_of_row, ks->entity_of_row + count,
                    left * sizeof(*ks->entity_of_row));
        for (size_t j = 0; j < ingest->spec->n_feature_columns; j++)
            memmove(ks->cols[j], ks->cols[j] + count, left * sizeof(double));
    }
    ks->n = left;
}
