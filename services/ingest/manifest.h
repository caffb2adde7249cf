/*
 * manifest.h - mm-ingest watch's record of the files it has seen
 * (docs/operations.md, "Watch mode"): one SQLite file, one row per
 * (source, name, content identity), surviving restarts and kill -9.
 *
 * A row's state goes
 *
 *   ingesting  written BEFORE the first record of the file is produced,
 *              with the file's load id; a restart finds it and reads the
 *              file again under the same load id (see watch.h: batches are
 *              deterministic, so the trainer ignores the ones it has)
 *   done       every record of the file was acknowledged by the broker
 *   failed     the file can never be read (a header the spec does not fit)
 *
 * The content identity is the sha256 of the file's bytes: the same name with
 * other bytes is another file, the same bytes under the same name are the
 * same file however often they appear.
 *
 * @locality one thread.
 */
#ifndef MM_INGEST_MANIFEST_H
#define MM_INGEST_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/db.h"
#include "mm/err.h"

#define MM_MANIFEST_INGESTING "ingesting"
#define MM_MANIFEST_DONE      "done"
#define MM_MANIFEST_FAILED    "failed"

typedef struct mm_manifest mm_manifest_t;

/** One file as the manifest knows it. */
typedef struct mm_manifest_entry {
    char state[16];    /* MM_MANIFEST_* */
    char load_id[128]; /* the load id every attempt at this file uses */
    int64_t attempts;  /* times reading the file was started */
    int64_t size;      /* bytes */
    int64_t rows_read, rows_emitted, rows_deadlettered; /* of the last attempt */
    char error[512]; /* why the last attempt failed ("" if it did not) */
} mm_manifest_entry_t;

/** Counts of the last attempt, recorded with the file's outcome. */
typedef struct mm_manifest_counts {
    int64_t rows_read, rows_emitted, rows_deadlettered;
} mm_manifest_counts_t;

/** @brief Open (creating) the manifest at @p path. NULL with errstr set on failure. */
mm_manifest_t *mm_manifest_open(const char *path, char *errstr, size_t errstr_size);
void mm_manifest_close(mm_manifest_t *manifest); /* accepts NULL */

/** @returns the database (for tests and counts); borrowed. */
mm_db_t *mm_manifest_db(mm_manifest_t *manifest);

/**
 * @brief Look a file up by @p source (the watched folder or blob prefix),
 * @p name (relative to it) and @p identity (sha256 hex of its bytes).
 * @param found false (and @p entry zeroed) when the manifest has no such file.
 */
mm_err_t mm_manifest_get(mm_manifest_t *manifest, const char *source, const char *name,
                         const char *identity, mm_manifest_entry_t *entry, bool *found,
                         char *errstr, size_t errstr_size);

/**
 * @brief Note that reading the file starts (state ingesting, attempts + 1),
 * inserting it with @p load_id the first time. Durable when it returns.
 */
mm_err_t mm_manifest_begin(mm_manifest_t *manifest, const char *source, const char *name,
                           const char *identity, int64_t size, const char *load_id, int64_t now_ms,
                           char *errstr, size_t errstr_size);

/**
 * @brief Record the outcome of an attempt: @p state MM_MANIFEST_DONE or
 * MM_MANIFEST_FAILED (final), or MM_MANIFEST_INGESTING (to be tried again)
 * with @p error saying why (may be NULL).
 */
mm_err_t mm_manifest_finish(mm_manifest_t *manifest, const char *source, const char *name,
                            const char *identity, const char *state,
                            const mm_manifest_counts_t *counts, const char *error, int64_t now_ms,
                            char *errstr, size_t errstr_size);

/** @brief How many files are in @p state (NULL: all). */
mm_err_t mm_manifest_count(mm_manifest_t *manifest, const char *state, int64_t *count, char *errstr,
                           size_t errstr_size);

/**
 * @brief The load id of a file: "watch-" and 24 hex digits of
 * sha256(source, name, identity). The same file always gets the same id.
 */
void mm_manifest_load_id(const char *source, const char *name, const char *identity, char *out,
                         size_t out_size);

#endif
