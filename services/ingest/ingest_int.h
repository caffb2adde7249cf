/*
 * ingest_int.h - what the pieces of mm-ingest share (not part of its API):
 * the load's state, one key's open batch, and the functions one file of
 * services/ingest/ calls in another.
 *
 *   ingest.c   the load: new/destroy, the read loop, finish, summary
 *   rows.c     header to column map, CSV record to a checked row or a reason
 *   keys.c     the key table and each key's open batch (hold-back, memory bound)
 *   produce.c  encoding, splitting by bytes, the output (Kafka or a sink), delivery
 *   pacing.c   waiting for the pace group to consume (pacing.h)
 *
 * @locality one thread, as ingest.h says.
 */
#ifndef MM_INGEST_INT_H
#define MM_INGEST_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest.h"
#include "mm/buf.h"
#include "mm/csv.h"
#include "mm/hashmap.h"
#include "mm/kafka.h"
#include "mm/records.h"
#include "pacing.h"

#define INGEST_MAX_REASON 512 /* bytes of a dead letter's reason */

/*
 * A block of a key's open batch: a fixed number of rows (ingest->block_rows),
 * columnar, in one allocation after this header: time_ms, line, target, each
 * feature column (8 bytes a value each), then each row's entity index (4
 * bytes). Every block of a load has the same size and comes from the load's
 * pool (keys.c), which keeps released blocks for reuse instead of freeing
 * them, so the heap is never fragmented by batches of different sizes.
 */
typedef struct mm_ingest_block {
    struct mm_ingest_block *next; /* the key's next block; the pool's next free one */
} mm_ingest_block_t;

/* One partition key of the load and its open batch (in blocks of the load's pool). */
typedef struct mm_ingest_key {
    char *key; /* owned; also the key the key table borrows */
    size_t key_len;
    int32_t batch_seq;              /* batches of this key produced so far */
    int64_t rows_total;             /* rows of this key in the load: produced + open */
    const char *source;             /* source of the open batch (owned by ingest->sources) */
    size_t n;                       /* rows in the open batch */
    size_t max_rows;                /* the open batch is full at this many rows */
    mm_ingest_block_t *head, *tail; /* the open batch's blocks, oldest first; NULL when n == 0 */
    size_t head_off;                /* the first open row's index in head */
    /* Entities (spec entity columns): the key's distinct entities in the
     * load; each open row keeps its entity's index among them. */
    char **entities;
    size_t n_entities, entities_cap;
    size_t last_entity; /* the entity of the key's previous row: checked first */
    bool ended;         /* grouped_by_key: its end of load was sent */
} mm_ingest_key_t;

/* Where each column the spec needs sits in a source's header. */
typedef struct mm_ingest_column_map {
    size_t n_header;
    int key[MM_SPEC_MAX_KEY_COLUMNS];
    int entity[MM_SPEC_MAX_KEY_COLUMNS];
    int time;
    int target; /* target.column or target.event_column */
    int exog[MM_MODEL_MAX_EXOG];
} mm_ingest_column_map_t;

/* One row that passed every check, ready for its key's open batch. */
typedef struct mm_ingest_row {
    int64_t line;
    int64_t time_ms;
    double target;
    double exog[MM_MODEL_MAX_EXOG];
    char entity[MM_INGEST_MAX_KEY_BYTES + 1]; /* canonical entity; "" without entity columns */
} mm_ingest_row_t;

struct mm_ingest {
    const mm_spec_t *spec;
    char *topic_obs;
    char *topic_dl;
    int64_t batch_rows;
    int64_t batch_bytes;
    int64_t max_message_bytes; /* largest record (key + value) the output takes; 0: no limit */
    size_t row_bound_base;     /* mm_ingest__row_fits_alone's bound less key, source and entity;
                                  0 until first needed */
    int64_t max_buffered_rows;
    int block_ms;
    volatile sig_atomic_t *stop;
    char load_id[128];
    mm_kafka_producer_t *producer; /* NULL when records go to the sink */
    mm_ingest_sink_fn sink;
    void *sink_opaque;

    mm_ingest_key_t **keys; /* in order of first appearance */
    size_t n_keys, keys_cap;
    mm_hashmap_t *key_table; /* partition key -> mm_ingest_key_t (keys borrowed) */

    char **sources;
    size_t n_sources;

    /* The pool of blocks (keys.c): every block the load took from the heap is
     * in a key's open batch or on the free list until the load is destroyed. */
    size_t block_rows;              /* rows of a block */
    size_t block_bytes;             /* bytes of a block, header included */
    mm_ingest_block_t *free_blocks; /* released blocks, for reuse */
    int64_t blocks_used;            /* in keys' open batches */
    int64_t blocks_allocated;       /* taken from the heap: used + free */
    int64_t pressure_floor;         /* blocks used after the last pressure flush */

    /* The first rows of a key's open batch, contiguous, as one batch is encoded
     * (mm_ingest__key_gather); grown to the largest batch of the load. */
    size_t gather_cap;
    int64_t *gather_time_ms, *gather_line;
    double *gather_target;
    double *gather_cols[MM_MODEL_MAX_EXOG];
    int32_t *gather_entity;

    mm_buf_t enc;
    mm_obs_column_t *batch_columns;
    mm_csv_record_t *rec;

    mm_ingest_pace_t *pace; /* NULL: not paced */

    mm_ingest_stats_t stats;
    int64_t started_mono;
    char first_failure[512];
    mm_err_t fatal; /* a produce error: the load cannot continue */
    bool finished;
    bool grouped_by_key;       /* mm_ingest_config_t.grouped_by_key */
    mm_ingest_key_t *last_key; /* the key of the previous row (grouped_by_key) */
    mm_ingest_key_t *recent;   /* the key the last row was appended to (lookup shortcut) */
};

/* ---- rows.c */

/** @brief Find every column the spec needs in @p header (errors name source:line and the role). */
mm_err_t mm_ingest__map_columns(const mm_spec_t *spec, const mm_csv_record_t *header,
                                const char *source, mm_ingest_column_map_t *map, char *errstr,
                                size_t errstr_size);

/**
 * @brief Check and convert one record. On a bad row fill @p reason and return
 * false; @p key_ok says whether @p key (the partition key) was built first.
 */
bool mm_ingest__convert_row(const mm_spec_t *spec, const mm_ingest_column_map_t *map,
                            const mm_csv_record_t *rec, char *key, size_t key_size, bool *key_ok,
                            mm_ingest_row_t *row, char *reason, size_t reason_size);

/*
 * The key cells of the last row whose partition key was built, and that key:
 * a row with the same key cells (the next row of a file sorted by key) takes
 * the key from here instead of checking and encoding its cells again. Zero it
 * before the first row of a source.
 */
typedef struct mm_ingest_key_cache {
    bool valid;
    char cells[MM_INGEST_MAX_KEY_BYTES]; /* the key cells, back to back */
    size_t lens[MM_SPEC_MAX_KEY_COLUMNS];
    char key[MM_INGEST_MAX_KEY_BYTES + 1];
    size_t key_len;
} mm_ingest_key_cache_t;

/** @brief mm_ingest__convert_row() through @p cache (see mm_ingest_key_cache_t). */
bool mm_ingest__convert_row_cached(const mm_spec_t *spec, const mm_ingest_column_map_t *map,
                                   const mm_csv_record_t *rec, mm_ingest_key_cache_t *cache,
                                   char *key, size_t key_size, bool *key_ok, mm_ingest_row_t *row,
                                   char *reason, size_t reason_size);

/** @returns the CSV reader's reason for a bad record without its "source:line: " prefix. */
const char *mm_ingest__csv_reason(const char *errstr, const char *source, int64_t line);

/* ---- keys.c */

/** @brief Append @p row to @p key's open batch, producing what it holds back first. */
mm_err_t mm_ingest__append_row(mm_ingest_t *ingest, const char *source, const char *key,
                               size_t key_len, const mm_ingest_row_t *row, char *errstr,
                               size_t errstr_size);
/** @brief Drop the first @p count rows of the open batch (they were produced). */
void mm_ingest__key_shift(mm_ingest_t *ingest, mm_ingest_key_t *ks, size_t count);
/**
 * @brief Copy the first @p count rows of @p ks's open batch into the gather
 * arrays of @p ingest (gather_time_ms ...), each column contiguous.
 * @returns false when out of memory.
 */
bool mm_ingest__key_gather(mm_ingest_t *ingest, const mm_ingest_key_t *ks, size_t count);
/** @brief Set the pool's block size for @p max_buffered_rows (mm_ingest_new). */
void mm_ingest__blocks_init(mm_ingest_t *ingest);
/** @brief Free every key, the key table, the pool and the gather arrays. */
void mm_ingest__keys_free(mm_ingest_t *ingest);

/* ---- produce.c */

/** @returns how many rows fit one batch of @p ks by batch_rows and by batch_bytes (at least 1). */
size_t mm_ingest__batch_max_rows(const mm_ingest_t *ingest, const mm_ingest_key_t *ks);
/**
 * @brief Whether @p row of @p key, read from @p source, fits the output's
 * message limit in a batch of its own (always true without a limit). A row
 * that does not is a dead letter at once, with its original bytes: @p reason
 * then names its record's size and the limit. Checked with an upper bound,
 * and by encoding only near the limit.
 */
bool mm_ingest__row_fits_alone(mm_ingest_t *ingest, const char *source, const char *key,
                               size_t key_len, const mm_ingest_row_t *row, char *reason,
                               size_t reason_size);
/** @brief The delivery report of one record (the producer's callback; the sink's result). */
void mm_ingest__delivered(void *opaque, void *msg_opaque, mm_err_t err, const char *reason);
/**
 * @brief Produce the first @p count rows of @p ks's open batch, flagged
 * end_of_load when @p final (only with count == ks->n).
 */
mm_err_t mm_ingest__produce_rows(mm_ingest_t *ingest, mm_ingest_key_t *ks, size_t count, bool final,
                                 char *errstr, size_t errstr_size);
/** @brief Produce one dead letter for a bad row (@p partition_key NULL when unknown). */
mm_err_t mm_ingest__produce_dead_letter(mm_ingest_t *ingest, const char *source, int64_t line,
                                        const char *partition_key, const char *reason,
                                        const char *raw, size_t raw_len, char *errstr,
                                        size_t errstr_size);
/** @brief Serve delivery reports for up to @p timeout_ms (nothing to do with a sink). */
void mm_ingest__poll(mm_ingest_t *ingest, int timeout_ms);
/** @returns MM_OK when everything produced is acknowledged, MM_ERR_TIMEOUT otherwise. */
mm_err_t mm_ingest__flush(mm_ingest_t *ingest, int timeout_ms);
/** @returns messages still waiting for a delivery report. */
int mm_ingest__in_flight(const mm_ingest_t *ingest);

#endif
