/*
 * csv.h - streaming RFC 4180 reader: quoted fields with embedded commas,
 * quotes ("") and newlines, CRLF or LF line ends, an optional UTF-8 BOM, a
 * header row. Tuned for long files of short numeric rows: fields are slices
 * of an internal buffer (no per-field allocation).
 *
 * Errors carry the source name and the line where the record started:
 * "sales.csv:1042: unterminated quoted field". A malformed record does not
 * stop the reader: the next call continues at the following record.
 *
 * Strict RFC 4180, by choice: a quote inside an unquoted field, a character
 * other than a comma or line end after a closing quote, and a bare CR
 * outside quotes are errors, not silently repaired data. After such an error
 * the reader resynchronises at the next LF (the quote state is unknowable
 * once a stray quote is seen). Blank lines are skipped (they are not records
 * of one empty field). A record longer than MM_CSV_MAX_RECORD_BYTES or with
 * more than MM_CSV_MAX_FIELDS fields is an error; its raw text is then cut to
 * MM_CSV_RAW_KEEP_BYTES.
 */
#ifndef MM_CSV_H
#define MM_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mm/err.h"

#define MM_CSV_MAX_FIELDS       1024
#define MM_CSV_MAX_RECORD_BYTES (1u << 20) /* a longer record is an error, not unbounded growth */
#define MM_CSV_RAW_KEEP_BYTES   4096u      /* raw text kept of an over-long record (dead letters) */

typedef struct mm_csv_reader mm_csv_reader_t;

typedef struct mm_csv_record {
    size_t n_fields;
    const char *fields[MM_CSV_MAX_FIELDS]; /* NUL-terminated, valid until the next call */
    size_t lens[MM_CSV_MAX_FIELDS];
    int64_t line;    /* 1-based physical line where the record starts */
    const char *raw; /* the record's raw text without its line end (for dead letters),
                        valid until the next call; not NUL-terminated */
    size_t raw_len;
} mm_csv_record_t;

/** @param source_name used in error messages ("-" for stdin). @p file is borrowed. */
mm_csv_reader_t *mm_csv_reader_new(FILE *file, const char *source_name);
void mm_csv_reader_destroy(mm_csv_reader_t *reader);

/**
 * @returns MM_OK with a record, MM_ERR_NOT_FOUND at end of input, MM_ERR_PARSE
 * for a malformed record (errstr says where and why; rec->line/raw describe it),
 * MM_ERR_IO on a read error.
 */
mm_err_t mm_csv_next(mm_csv_reader_t *reader, mm_csv_record_t *rec, char *errstr,
                     size_t errstr_size);

/** @returns the physical lines consumed so far (for progress reporting). */
int64_t mm_csv_lines(const mm_csv_reader_t *reader);

#endif
