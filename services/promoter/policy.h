/*
 * policy.h - mm-promoter's promotion policy: judge a candidate against the
 * dataset spec's thresholds, its seasonal-naive baseline and the key's
 * champion (docs/ARCHITECTURE.md). Pure: no I/O, no registry writes.
 */
#ifndef MM_PROMOTER_POLICY_H
#define MM_PROMOTER_POLICY_H

#include <stdbool.h>

#include "mm/records.h"
#include "mm/registry.h"
#include "mm/spec.h"

typedef struct mm_promoter_verdict {
    bool approved;
    const char *failed_check; /* "metric", "threshold", "baseline", "champion"; NULL if approved */
    char reason[MM_REGISTRY_REASON_MAX]; /* "approved: ..." or "rejected: ...", every check */
} mm_promoter_verdict_t;

/**
 * @brief Judge @p rec by @p policy against @p champion (NULL: the key has
 * none yet) and fill @p v.
 */
void mm_promoter_policy_judge(const mm_promotion_policy_t *policy, const mm_model_trained_t *rec,
                              const mm_registry_version_t *champion, mm_promoter_verdict_t *v);

#endif
