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
    mm_registry_status_t status; /* approved, rejected, or fallback (never judged on merit) */
    const char *failed_check;    /* "metric", "threshold", "baseline", "champion"; NULL otherwise */
    char reason[MM_REGISTRY_REASON_MAX]; /* "approved: ...", "rejected: ...", "fallback: ..." */
} mm_promoter_verdict_t;

/**
 * @brief Judge @p rec by @p policy against @p champion (NULL: the key has
 * none yet) and fill @p v. A declared fallback (rec->fallback) is not
 * judged on its metrics: its verdict is MM_REGISTRY_STATUS_FALLBACK, saying
 * why training fell back and whether the champion stays. A seasonal-naive
 * candidate is the baseline itself, so require_beats_baseline never fails it;
 * any other candidate must not be worse than the baseline (a tie passes).
 */
void mm_promoter_policy_judge(const mm_promotion_policy_t *policy, const mm_model_trained_t *rec,
                              const mm_registry_version_t *champion, mm_promoter_verdict_t *v);

#endif
