/*
 * keys.c - the load's partition keys and each key's open batch: the key
 * table, the hold-back rule (a full batch waits for the key's next row or
 * the end of the load, so an end-of-load batch is never empty), batches
 * never mixing sources, and the bound on rows held across keys.
 *
 * Memory: a key's open rows sit in fixed-size blocks (ingest_int.h,
 * mm_ingest_block_t) from one pool per load. A block released by a produced
 * batch goes back to the pool's free list and is reused as is, never freed
 * before the load ends, so what the open batches take from the heap is the
 * most blocks ever in use: at most max(max_buffered_rows / block_rows,
 * 2 x keys) + 1 (the pressure rule below), whatever the number of rows. (Per
 * key arrays grown by doubling and shrunk after a pressure flush fragmented
 * the heap instead: a key-major load of 10,000 keys grew by ~30 MB of
 * resident memory per million rows.)
 *
 * Workload: one key-table lookup per row (mm/hashmap.h, no allocation once
 * the key is known) and a few stores into the key's current block; one block
 * from the pool every block_rows rows of a key. With entity columns a key
 * also keeps its distinct entities (the previous row's checked first, so
 * entity-major files cost one comparison per row) and each open row's index
 * among them.
 */
#include <stdlib.h>
#include <string.h>

#include "ingest_int.h"
#include "mm/log.h"
#include "mm/util.h"

#define KEYS_BLOCK_ROWS      16  /* rows of a block (at most) */
#define KEYS_BLOCKS_IN_BOUND 64  /* a block holds at most this share of max_buffered_rows */
#define KEYS_MIN_LIST        256 /* first allocation of the list of keys */
#define KEYS_MIN_GATHER      64  /* first allocation of the gather arrays */

/* ------------------------------------------------------------ blocks */

/* Columns of a block: time_ms, line, target, then the feature columns (8 bytes a value). */
#define BLOCK_COL_TIME   0
#define BLOCK_COL_LINE   1
#define BLOCK_COL_TARGET 2
#define BLOCK_COL_EXOG   3

static size_t block_n_cols(const mm_ingest_t *ingest) {
    return BLOCK_COL_EXOG + ingest->spec->n_feature_columns;
}

static void *block_col(const mm_ingest_t *ingest, const mm_ingest_block_t *b, size_t col) {
    return (char *)(b + 1) + col * ingest->block_rows * sizeof(double);
}

static int32_t *block_entity(const mm_ingest_t *ingest, const mm_ingest_block_t *b) {
    return (int32_t *)block_col(ingest, b, block_n_cols(ingest));
}

void mm_ingest__blocks_init(mm_ingest_t *ingest) {
    size_t rows = (size_t)ingest->max_buffered_rows / KEYS_BLOCKS_IN_BOUND;
    if (rows > KEYS_BLOCK_ROWS) rows = KEYS_BLOCK_ROWS;
    if (rows < 1) rows = 1;
    ingest->block_rows = rows;
    size_t per_row = block_n_cols(ingest) * sizeof(double) +
                     (ingest->spec->n_entity_columns ? sizeof(int32_t) : 0);
    ingest->block_bytes = sizeof(mm_ingest_block_t) + rows * per_row;
}

/* A block from the pool: a released one, else a new one from the heap. */
static mm_ingest_block_t *block_take(mm_ingest_t *ingest) {
    mm_ingest_block_t *b = ingest->free_blocks;
    if (b) {
        ingest->free_blocks = b->next;
    } else {
        b = malloc(ingest->block_bytes);
        if (!b) return NULL;
        ingest->blocks_allocated++;
        /* Blocks are never freed before the load ends: the pool only grows, so its size is
         * its peak. */
        ingest->stats.held_rows_peak = ingest->blocks_allocated * (int64_t)ingest->block_rows;
        ingest->stats.held_bytes_peak = ingest->blocks_allocated * (int64_t)ingest->block_bytes;
    }
    b->next = NULL;
    ingest->blocks_used++;
    return b;
}

/* Back to the pool (not to the heap: see the top of this file). */
static void block_release(mm_ingest_t *ingest, mm_ingest_block_t *b) {
    b->next = ingest->free_blocks;
    ingest->free_blocks = b;
    ingest->blocks_used--;
}

static void blocks_free(mm_ingest_block_t *b) {
    while (b) {
        mm_ingest_block_t *next = b->next;
        free(b);
        b = next;
    }
}

/* ------------------------------------------------------------ keys */

static void key_free(mm_ingest_key_t *ks) {
    if (!ks) return;
    free(ks->key);
    blocks_free(ks->head);
    for (size_t e = 0; e < ks->n_entities; e++) free(ks->entities[e]);
    free(ks->entities);
    free(ks);
}

void mm_ingest__keys_free(mm_ingest_t *ingest) {
    for (size_t i = 0; i < ingest->n_keys; i++) key_free(ingest->keys[i]);
    free(ingest->keys);
    ingest->keys = NULL;
    ingest->n_keys = ingest->keys_cap = 0;
    ingest->recent = NULL;
    mm_hashmap_destroy(ingest->key_table);
    ingest->key_table = NULL;
    blocks_free(ingest->free_blocks);
    ingest->free_blocks = NULL;
    ingest->blocks_used = ingest->blocks_allocated = 0;
    free(ingest->gather_time_ms);
    free(ingest->gather_line);
    free(ingest->gather_target);
    for (size_t j = 0; j < MM_MODEL_MAX_EXOG; j++) free(ingest->gather_cols[j]);
    free(ingest->gather_entity);
    ingest->gather_time_ms = ingest->gather_line = NULL;
    ingest->gather_target = NULL;
    memset(ingest->gather_cols, 0, sizeof(ingest->gather_cols));
    ingest->gather_entity = NULL;
    ingest->gather_cap = 0;
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
    ks->key_len = key_len;
    if (!ks->key || mm_hashmap_put(ingest->key_table, ks->key, key_len, ks) != MM_OK) {
        key_free(ks);
        return NULL;
    }
    ingest->keys[ingest->n_keys++] = ks;
    return ingest->recent = ks;
}

/*
 * Too many rows held across keys: produce every open batch except its newest
 * row (so each key's end-of-load batch still has a row). Each key then holds
 * one block at most; the rest went back to the pool.
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
    }
    ingest->pressure_floor = ingest->blocks_used;
    ingest->stats.pressure_flushes++;
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
    int32_t entity = 0;
    if (ingest->spec->n_entity_columns && (entity = entity_index(ks, row->entity)) < 0)
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory (entities of %s)",
                       ks->key);
    size_t at = ks->head_off + ks->n; /* the new row's index from the head block's start */
    if (!ks->tail || at % ingest->block_rows == 0) {
        mm_ingest_block_t *b = block_take(ingest);
        if (!b)
            return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory (batch of %s)",
                           ks->key);
        if (ks->tail)
            ks->tail->next = b;
        else
            ks->head = b;
        ks->tail = b;
    }
    size_t i = at % ingest->block_rows;
    mm_ingest_block_t *b = ks->tail;
    if (ingest->spec->n_entity_columns) block_entity(ingest, b)[i] = entity;
    ((int64_t *)block_col(ingest, b, BLOCK_COL_TIME))[i] = row->time_ms;
    ((int64_t *)block_col(ingest, b, BLOCK_COL_LINE))[i] = row->line;
    ((double *)block_col(ingest, b, BLOCK_COL_TARGET))[i] = row->target;
    for (size_t j = 0; j < ingest->spec->n_feature_columns; j++)
        ((double *)block_col(ingest, b, BLOCK_COL_EXOG + j))[i] = row->exog[j];
    ks->n++;
    ks->rows_total++;
    ingest->stats.rows_buffered++;

    /* The bound counts whole blocks; past it, and at least twice what the last
     * flush left (one block per key holding a row), the open batches go out. */
    int64_t limit = ingest->max_buffered_rows;
    if (limit < 2 * ingest->pressure_floor * (int64_t)ingest->block_rows)
        limit = 2 * ingest->pressure_floor * (int64_t)ingest->block_rows;
    if (ingest->blocks_used * (int64_t)ingest->block_rows > limit)
        return relieve_pressure(ingest, errstr, errstr_size);
    return MM_OK;
}

void mm_ingest__key_shift(mm_ingest_t *ingest, mm_ingest_key_t *ks, size_t count) {
    ks->n -= count;
    ks->head_off += count;
    while (ks->head && (ks->head_off >= ingest->block_rows || ks->n == 0)) {
        mm_ingest_block_t *b = ks->head;
        ks->head = b->next;
        block_release(ingest, b);
        ks->head_off = ks->head_off >= ingest->block_rows ? ks->head_off - ingest->block_rows : 0;
    }
    if (!ks->head) {
        ks->tail = NULL;
        ks->head_off = 0;
    }
}

/* Grow *@p array to @p cap items of @p size bytes; @returns false (and leaves it) when out of
 * memory. */
static bool grow(void *array, size_t cap, size_t size) {
    void **p = array;
    void *grown = realloc(*p, cap * size);
    if (!grown) return false;
    *p = grown;
    return true;
}

static bool gather_reserve(mm_ingest_t *ingest, size_t count) {
    if (count <= ingest->gather_cap) return true;
    size_t cap = ingest->gather_cap ? ingest->gather_cap : KEYS_MIN_GATHER;
    while (cap < count) cap *= 2;
    bool ok = grow(&ingest->gather_time_ms, cap, sizeof(int64_t));
    ok = grow(&ingest->gather_line, cap, sizeof(int64_t)) && ok;
    ok = grow(&ingest->gather_target, cap, sizeof(double)) && ok;
    for (size_t j = 0; j < ingest->spec->n_feature_columns; j++)
        ok = grow(&ingest->gather_cols[j], cap, sizeof(double)) && ok;
    if (ingest->spec->n_entity_columns)
        ok = grow(&ingest->gather_entity, cap, sizeof(int32_t)) && ok;
    if (ok) ingest->gather_cap = cap; /* arrays that grew are fine to keep */
    return ok;
}

bool mm_ingest__key_gather(mm_ingest_t *ingest, const mm_ingest_key_t *ks, size_t count) {
    if (!gather_reserve(ingest, count ? count : 1)) return false; /* no NULL column, even empty */
    size_t n_exog = ingest->spec->n_feature_columns;
    const mm_ingest_block_t *b = ks->head;
    size_t off = ks->head_off, done = 0;
    while (done < count) {
        size_t take = ingest->block_rows - off;
        if (take > count - done) take = count - done;
        memcpy(ingest->gather_time_ms + done, (int64_t *)block_col(ingest, b, BLOCK_COL_TIME) + off,
               take * sizeof(int64_t));
        memcpy(ingest->gather_line + done, (int64_t *)block_col(ingest, b, BLOCK_COL_LINE) + off,
               take * sizeof(int64_t));
        memcpy(ingest->gather_target + done, (double *)block_col(ingest, b, BLOCK_COL_TARGET) + off,
               take * sizeof(double));
        for (size_t j = 0; j < n_exog; j++)
            memcpy(ingest->gather_cols[j] + done,
                   (double *)block_col(ingest, b, BLOCK_COL_EXOG + j) + off, take * sizeof(double));
        if (ingest->spec->n_entity_columns)
            memcpy(ingest->gather_entity + done, block_entity(ingest, b) + off,
                   take * sizeof(int32_t));
        done += take;
        off = 0;
        b = b->next;
    }
    return true;
}
