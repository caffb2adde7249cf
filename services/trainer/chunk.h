/*
 * chunk.h - the encoding of one history chunk: up to MM_TRAINER_CHUNK_ROWS
 * observations of one (key, entity), in time order with distinct times, as
 * one SQLite blob (services/trainer/store.c keeps them in history_chunks).
 *
 * Layout: a 16-byte header (magic "MMHC", format version, flags, exogenous
 * values per row, rows, payload bytes before compression), then the payload:
 * the first time, the time deltas, the targets, then each exogenous column in
 * turn, all 8-byte little-endian words, byte-transposed (every word's byte 0,
 * then every byte 1, ...) so that zlib finds the runs that regular times and
 * small counts make. The payload of a chunk of 256 rows or more is deflated
 * unless that makes it larger.
 */
#ifndef MM_TRAINER_CHUNK_H
#define MM_TRAINER_CHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/buf.h"
#include "mm/err.h"

/* Rows in one chunk at most. */
#define MM_TRAINER_CHUNK_ROWS 4096
/* A batch is merged into the chunk before it while that one has at most this
 * many rows (and the result fits a chunk): small appends (a day at a time)
 * gather into chunks of about this size, while large batches are not
 * rewritten again and again. */
#define MM_TRAINER_CHUNK_MERGE_ROWS 32

/** Rows decoded from (or to encode into) a chunk: column arrays. */
typedef struct mm_trainer_rows {
    size_t n, cap;
    size_t n_exog;
    int64_t *t; /* cap */
    double *y;  /* cap; NaN: no target */
    double *x;  /* cap * n_exog, row-major */
} mm_trainer_rows_t;

/** @brief Make room for @p cap rows; false when out of memory. */
bool mm_trainer_rows_reserve(mm_trainer_rows_t *rows, size_t cap);
void mm_trainer_rows_free(mm_trainer_rows_t *rows);

/**
 * @brief Encode rows [@p from, @p from + @p n) of @p rows (times strictly
 * increasing) into @p out (replacing its contents).
 */
mm_err_t mm_trainer_chunk_encode(const mm_trainer_rows_t *rows, size_t from, size_t n,
                                 mm_buf_t *out, char *errstr, size_t errstr_size);

/**
 * @brief Append the rows of chunk @p blob to @p rows (whose n_exog is set):
 * exogenous columns the chunk lacks read as NaN, extra ones are dropped.
 * @returns MM_ERR_PARSE naming @p what when the blob is not a valid chunk.
 */
mm_err_t mm_trainer_chunk_decode(const void *blob, size_t len, mm_trainer_rows_t *rows,
                                 const char *what, char *errstr, size_t errstr_size);

#endif
