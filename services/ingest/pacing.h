/*
 * pacing.h - mm-ingest waits for a consumer group (mm-trainer's by default)
 * so that no partition of the observations topic holds more than a budget of
 * bytes that group has not consumed yet. The dev broker keeps only the newest
 * ~5 MiB per partition and drops older batches silently (docs/ARCHITECTURE.md,
 * "The dev broker"); ingest.h describes the estimate.
 *
 * @locality the ingest's thread.
 */
#ifndef MM_INGEST_PACING_H
#define MM_INGEST_PACING_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/conf.h"
#include "mm/err.h"
#include "mm/kafka.h"

typedef struct mm_ingest_pace mm_ingest_pace_t;

/**
 * @brief Start pacing against consumer group @p group on @p topic: creates
 * the lag probe (no group membership, no commits).
 * @param max_bytes unconsumed bytes allowed per partition (> 0).
 * @returns the pacer, or NULL with errstr set: MM_ERR_CONFIG-class problems
 * (probe configuration, @p topic missing from the cluster) or out of memory.
 */
mm_ingest_pace_t *mm_ingest__pace_new(const char *bootstrap, const mm_kv_list_t *kafka,
                                      const char *group, const char *topic, int64_t max_bytes,
                                      char *errstr, size_t errstr_size);

/** @brief Destroy the pacer and its probe. Accepts NULL. */
void mm_ingest__pace_destroy(mm_ingest_pace_t *pace);

/**
 * @brief Wait until @p bytes more for the partition of @p key keep that
 * partition's estimated backlog within the budget (or the partition is
 * drained: a batch larger than the budget still goes out then), then account
 * for them. While waiting, delivery reports of @p producer are served and the
 * lag is re-read (after @p producer's messages are acknowledged) every
 * PACE_READ_INTERVAL_MS. A NULL @p pace returns MM_OK at once.
 * @returns MM_OK; MM_ERR_SHUTDOWN when @p stop was raised meanwhile; MM_ERR_NOMEM.
 */
mm_err_t mm_ingest__pace_wait(mm_ingest_pace_t *pace, mm_kafka_producer_t *producer,
                              volatile sig_atomic_t *stop, const char *key, size_t key_len,
                              size_t bytes, char *errstr, size_t errstr_size);

/** @returns the pace group, or NULL for a NULL @p pace. */
const char *mm_ingest__pace_group(const mm_ingest_pace_t *pace);
/** @returns the per-partition budget in bytes (0 for a NULL @p pace). */
int64_t mm_ingest__pace_max_bytes(const mm_ingest_pace_t *pace);
/** @returns the milliseconds spent waiting for the group so far (0 for a NULL @p pace). */
int64_t mm_ingest__pace_waited_ms(const mm_ingest_pace_t *pace);

#endif
