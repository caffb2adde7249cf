/*
 * blob_layout.c - the blob store's path conventions (see blob_layout.h).
 *
 * Workload: one or two names built per trained or promoted model; plain
 * string formatting, no allocation.
 */
#include "mm/blob_layout.h"

#include <stdio.h>
#include <string.h>

mm_err_t mm_blob_layout_candidate(char *out, size_t out_size, const char *dataset,
                                  const char *partition_key, const char *sha256_hex) {
    if (!out || out_size == 0) return MM_ERR_INVALID_ARG;
    out[0] = 0;
    if (!dataset || !*dataset || !partition_key || !*partition_key || !sha256_hex || !*sha256_hex)
        return MM_ERR_INVALID_ARG;
    int n = snprintf(out, out_size, "%s%s/%s/%s%s", MM_BLOB_LAYOUT_CANDIDATES, dataset,
                     partition_key, sha256_hex, MM_BLOB_LAYOUT_ARTIFACT_EXT);
    if (n < 0 || (size_t)n >= out_size) return MM_ERR_NOMEM;
    return MM_OK;
}

bool mm_blob_layout_is_candidate(const char *name) {
    size_t plen = strlen(MM_BLOB_LAYOUT_CANDIDATES);
    return name && strncmp(name, MM_BLOB_LAYOUT_CANDIDATES, plen) == 0 && name[plen] != 0;
}

mm_err_t mm_blob_layout_production(const char *candidate_name, char *out, size_t out_size) {
    if (!mm_blob_layout_is_candidate(candidate_name)) return MM_ERR_INVALID_ARG;
    int n = snprintf(out, out_size, "%s%s", MM_BLOB_LAYOUT_PRODUCTION,
                     candidate_name + strlen(MM_BLOB_LAYOUT_CANDIDATES));
    if (n < 0 || (size_t)n >= out_size) return MM_ERR_NOMEM;
    return MM_OK;
}
