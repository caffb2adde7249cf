/*
 * blob_layout.h - where things live in the blob store: the one place that
 * spells the path conventions shared by mm-trainer (writes candidates),
 * mm-promoter (copies approved candidates to production) and mm-scorer
 * (reads production).
 *
 *   candidates/<dataset>/<partition key>/<sha256>.mm   every trained artifact, never overwritten
 *   production/<same rest>                              approved copies; scorers read only here
 *
 * Names only: nothing here touches a store.
 */
#ifndef MM_BLOB_LAYOUT_H
#define MM_BLOB_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>

#include "mm/err.h"

#define MM_BLOB_LAYOUT_CANDIDATES   "candidates/" /* what the trainer writes */
#define MM_BLOB_LAYOUT_PRODUCTION   "production/" /* what scorers read */
#define MM_BLOB_LAYOUT_ARTIFACT_EXT ".mm"         /* artifact file suffix */

/**
 * @brief The candidate artifact name of a trained model:
 * "candidates/<dataset>/<partition_key>/<sha256_hex>.mm".
 * @param out receives the name (NUL-terminated, also on truncation).
 * @returns MM_OK, MM_ERR_INVALID_ARG if an argument is NULL or empty,
 * MM_ERR_NOMEM if @p out is too small.
 */
mm_err_t mm_blob_layout_candidate(char *out, size_t out_size, const char *dataset,
                                  const char *partition_key, const char *sha256_hex);

/** @returns true if @p name is a non-empty name under candidates/. */
bool mm_blob_layout_is_candidate(const char *name);

/**
 * @brief The production name of a candidate: the leading "candidates/"
 * replaced by "production/", the rest unchanged.
 * @returns MM_OK, MM_ERR_INVALID_ARG if @p candidate_name is not under
 * candidates/, MM_ERR_NOMEM if @p out is too small.
 */
mm_err_t mm_blob_layout_production(const char *candidate_name, char *out, size_t out_size);

#endif
