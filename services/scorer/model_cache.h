/*
 * model_cache.h - loaded production models, bounded in bytes, least recently
 * used evicted first. Keyed by artifact sha256, so a key whose champion
 * changes simply stops hitting the old entry (hot swap: borrowers of the
 * old model keep it until they release it; nobody ever sees a model that is
 * still loading). Concurrent requests for one artifact load it once: the
 * first caller loads, the others wait for it. An entry in use is never
 * evicted. A failed load can be held for a while (mm_model_cache_set_failure_hold):
 * callers get the same error at once instead of hammering the blob store.
 */
#ifndef MM_SCORER_MODEL_CACHE_H
#define MM_SCORER_MODEL_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "mm/blob.h"
#include "mm/err.h"
#include "mm/model.h"

typedef struct mm_model_cache mm_model_cache_t;

typedef struct mm_model_cache_stats {
    int64_t hits, misses, loads_failed, evictions;
    size_t bytes, entries;
    int64_t loads;         /* artifacts fetched and parsed (successful or not) */
    int64_t failures_held; /* calls answered from a held failure, without a load */
    size_t in_use;         /* entries borrowed right now */
    size_t waiting;        /* callers waiting for another caller's load of the same artifact */
} mm_model_cache_stats_t;

/**
 * @brief Fetch an artifact's bytes and verify them (the default:
 * mm_blob_get_verified). @locality any thread, no cache lock held.
 */
typedef mm_err_t(mm_model_cache_fetch_fn)(void *opaque, mm_blob_t *blob, const char *uri,
                                          const char *sha256_hex, mm_buf_t *out, char *errstr,
                                          size_t errstr_size);

/** @brief Called after each load with its duration and outcome (any thread, no lock held). */
typedef void(mm_model_cache_load_fn)(void *opaque, double seconds, mm_err_t err);

/** @param max_bytes upper bound on the models' memory (mm_model_memory_size + artifact). */
mm_model_cache_t *mm_model_cache_new(size_t max_bytes);
void mm_model_cache_destroy(mm_model_cache_t *cache); /* accepts NULL; no borrowers may remain */

/**
 * @brief Get the model of artifact @p uri with digest @p sha256_hex, loading it
 * from @p blob and verifying the digest on a miss. The returned model is
 * borrowed until mm_model_cache_release().
 * @returns MM_ERR_NOT_FOUND (artifact missing), MM_ERR_INTEGRITY (digest
 * mismatch), or the artifact parser's error.
 * @locality any thread; @p blob must be the caller's own handle.
 */
mm_err_t mm_model_cache_get(mm_model_cache_t *cache, mm_blob_t *blob, const char *uri,
                            const char *sha256_hex, const mm_model_t **model, char *errstr,
                            size_t errstr_size);
/** @brief Return a model borrowed by mm_model_cache_get() for artifact @p sha256_hex. */
void mm_model_cache_release(mm_model_cache_t *cache, const char *sha256_hex);

void mm_model_cache_stats(mm_model_cache_t *cache, mm_model_cache_stats_t *out);

/**
 * @brief Remember a failed load for @p hold_ms: until then a get of the same
 * sha256 fails at once with the same error (the message says it is held).
 * 0 (the default) retries every time. Set before use.
 */
void mm_model_cache_set_failure_hold(mm_model_cache_t *cache, int64_t hold_ms);

/** @brief Fetch artifacts with @p fn instead of the blob store (tests, other sources). */
void mm_model_cache_set_fetch(mm_model_cache_t *cache, mm_model_cache_fetch_fn *fn, void *opaque);

/** @brief Observe every load (metrics). Set before use. */
void mm_model_cache_set_observer(mm_model_cache_t *cache, mm_model_cache_load_fn *fn, void *opaque);

#endif
