/*
 * watch.h - mm-ingest watch: follow a folder and/or an Azure Blob prefix and
 * ingest each new CSV file exactly once, through the same load as the
 * one-shot mode (ingest.h: one mm_ingest_t per file). Operator guide:
 * docs/operations.md, "Watch mode".
 *
 * A pass (mm_watch_poll) lists the folder's top-level files and the blob
 * prefix's names, keeps those ending in the configured suffix (".csv";
 * hidden names, sub-folders and the done/ and failed/ areas never count), and
 * takes each READY file in name order:
 *
 *   ready    folder: with a ready suffix configured, when NAME<suffix> exists
 *            (the marker); otherwise when two consecutive passes saw the same
 *            size and mtime and the mtime is at least settle_ms old
 *            (mm_watch_settled). Blob: a listed blob is committed, hence
 *            whole; with a ready suffix, the marker blob must be listed too.
 *   identity sha256 of the bytes; the manifest (manifest.h) is keyed by
 *            (source, name, identity).
 *   load id  derived from the same three (mm_manifest_load_id): every attempt
 *            at one file produces the same batches — (key, load id, batch
 *            sequence) with the same rows — so after a crash or a failed
 *            delivery the file is simply read again: the trainer ignores the
 *            batches it already has, observations are upserts by (key, time).
 *            An attempt that does not end is never "finished" with unflagged
 *            tails (that would give a batch sequence other rows); only a
 *            complete read flags each key's last batch end_of_load. Dead
 *            letters of a file read twice are sent twice (same file and line).
 *   outcome  every record acknowledged: manifest done, the file moved to
 *            done/ (folder) or copied to the done prefix and deleted (blob),
 *            its marker removed. A header the spec does not fit: manifest
 *            failed, moved to failed/. Anything else (broker, delivery, I/O):
 *            the file stays, state ingesting, and is read again next pass.
 *            A file found done in the manifest (killed between "done" and
 *            the move, or dropped again unchanged) is only moved.
 *
 * @locality one thread (mm_watch_ready may be called from any thread).
 */
#ifndef MM_INGEST_WATCH_H
#define MM_INGEST_WATCH_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest.h"
#include "mm/blob.h"
#include "mm/err.h"
#include "mm/metrics.h"

#define MM_WATCH_DEFAULT_SUFFIX         ".csv"
#define MM_WATCH_DEFAULT_SETTLE_MS      5000
#define MM_WATCH_DEFAULT_POLL_MS        2000
#define MM_WATCH_DEFAULT_MAX_BLOB_BYTES (256LL * 1024 * 1024)

struct mm_watch_config {
    /* Each file's load: everything but load_id (set per file) is used as given. */
    const mm_ingest_config_t *ingest;
    int flush_timeout_ms;
    const char *manifest_path; /* SQLite file (created) */

    const char *dir;        /* folder to follow; NULL or "": none */
    const char *done_dir;   /* NULL or "": <dir>/done */
    const char *failed_dir; /* NULL or "": <dir>/failed */

    mm_blob_t *blob;                /* borrowed; NULL: no blob prefix */
    const char *blob_prefix;        /* names under it ("incoming/"); "" the whole container */
    const char *blob_done_prefix;   /* NULL or "": "done/" + blob_prefix */
    const char *blob_failed_prefix; /* NULL or "": "failed/" + blob_prefix */
    int64_t max_blob_bytes;         /* a bigger blob fails (it is read into memory); 0: default */

    const char *suffix;       /* NULL or "": MM_WATCH_DEFAULT_SUFFIX */
    const char *ready_suffix; /* NULL or "": no marker, the settle rule */
    int64_t settle_ms;        /* 0 is allowed (one unchanged pass is then enough) */

    mm_metrics_t *metrics;       /* borrowed; NULL: none */
    volatile sig_atomic_t *stop; /* polled between files and while reading */
};

typedef struct mm_watch_config mm_watch_config_t;
typedef struct mm_watch mm_watch_t;

/** What one pass did (also accumulated over the watch's life, mm_watch_totals). */
typedef struct mm_watch_stats {
    int64_t files_seen;      /* names matching the suffix, first sighting */
    int64_t files_ingested;  /* read whole and acknowledged: done */
    int64_t files_failed;    /* moved to failed/ */
    int64_t files_duplicate; /* already done in the manifest: only moved */
    int64_t files_retry;     /* attempts that will be repeated */
    int64_t files_pending;   /* seen but not ready yet (this pass) */
    int64_t rows_emitted;    /* of ingested files */
    int64_t rows_deadlettered;
} mm_watch_stats_t;

/** @brief Open the manifest, create done/ and failed/ folders. NULL with errstr set. */
mm_watch_t *mm_watch_new(const mm_watch_config_t *cfg, char *errstr, size_t errstr_size);
void mm_watch_destroy(mm_watch_t *watch); /* accepts NULL */

/**
 * @brief One pass over the folder and the blob prefix.
 * @param pass receives this pass's counts (may be NULL).
 * @returns MM_OK; MM_ERR_SHUTDOWN when stop was raised; MM_ERR_DB when the
 * manifest cannot be read or written (the watch cannot go on); otherwise the
 * first error of a source that could not be listed or of a file to be
 * retried (errstr says which); the other source is still followed.
 */
mm_err_t mm_watch_poll(mm_watch_t *watch, mm_watch_stats_t *pass, char *errstr, size_t errstr_size);

/**
 * @brief Poll every @p poll_ms until stop is raised; after a pass that left a
 * file to be retried, wait with exponential backoff (1 s doubling to 30 s).
 * @returns 0 when stopped by a signal after a clean pass; MM_INGEST_EXIT_FATAL
 * when the manifest cannot be written.
 */
int mm_watch_run(mm_watch_t *watch, int64_t poll_ms);

/** @brief Copy the totals since mm_watch_new. */
void mm_watch_totals(const mm_watch_t *watch, mm_watch_stats_t *totals);

/**
 * @brief Readiness for /readyz: the manifest is open and the last pass
 * listed every configured source. @locality any thread.
 */
bool mm_watch_ready(void *watch, char *reason, size_t reason_size);

/**
 * @brief The settle rule for a folder file without a marker: ready when the
 * previous pass saw it (@p seen_before) with the same size and mtime, and
 * its mtime is at least @p settle_ms before @p now_ms (wall clock).
 */
bool mm_watch_settled(bool seen_before, int64_t prev_size, int64_t prev_mtime_ms, int64_t size,
                      int64_t mtime_ms, int64_t now_ms, int64_t settle_ms);

#endif
