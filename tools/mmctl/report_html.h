/*
 * report_html.h - `mmctl report --html FILE`: what the page shows, gathered
 * by report_data.c (registry, sink, scorer state) and drawn by
 * report_html.c (one self-contained HTML page, inline SVG, no script, no
 * network). docs/operations.md, "Report", says what each part means.
 */
#ifndef MMCTL_REPORT_HTML_H
#define MMCTL_REPORT_HTML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/registry.h"
#include "mmctl.h"

#define REPORT_WORST        5   /* drill-down: the keys whose champions trail the baseline most */
#define REPORT_SAMPLE       5   /* drill-down: keys spread evenly over the key order */
#define REPORT_HISTORY      120 /* newest observations drawn per drilled key */
#define REPORT_REJECTED     200 /* rejected keys listed (the rest counted) */
#define REPORT_ALGORITHMS   32  /* distinct champion algorithms named (the rest "other") */
#define REPORT_TIME_BUCKETS 24  /* registrations over time: buckets of the span */

typedef struct report_key {
    char *key;
    char *algorithm; /* the champion's; NULL when none */
    double value;    /* the champion's metric; NaN when none */
    double baseline; /* its seasonal-naive baseline's; NaN when none */
    bool champion;
    bool fallback_served; /* no champion, served a declared fallback */
} report_key_t;

typedef struct report_rejected {
    char *key;
    int32_t version;
    char *failed_check; /* may be NULL */
    char *reason;
} report_rejected_t;

typedef struct report_drill {
    const report_key_t *k;
    const char *why; /* "worst" or "sample" */
    char *status;    /* the sink's latest answer: ok, no_model, error; NULL when not answered */
    bool fallback;
    int64_t *hist_t;
    double *hist_y;
    size_t n_hist;
    int64_t *fc_t;
    double *fc_v, *fc_lo, *fc_hi;
    size_t n_fc, cap_fc;
} report_drill_t;

typedef struct report_algo {
    char name[64];
    int64_t n;
} report_algo_t;

typedef struct report {
    const char *metric; /* the accuracy metric compared */
    mm_registry_stats_t stats;
    report_key_t *keys;
    size_t n_keys, cap_keys;
    /* coverage: from the sink's latest answers when a sink is given, else the registry */
    bool coverage_from_sink;
    int64_t cov_champion, cov_fallback, cov_nothing;
    report_algo_t algos[REPORT_ALGORITHMS + 1]; /* the last: every other algorithm */
    size_t n_algos;
    int64_t *created_ms; /* every version's registration time */
    size_t n_created, cap_created;
    report_rejected_t *rejected;
    size_t n_rejected;
    int64_t rejected_keys; /* keys without a champion whose newest version was rejected */
    report_drill_t drill[REPORT_WORST + REPORT_SAMPLE];
    size_t n_drill;
    bool has_state;         /* history comes from the scorer's state store */
    const char *sink_shown; /* the sink, password redacted; NULL when none */
    int64_t generated_ms;
} report_t;

/** @brief Gather everything the page shows. @returns EXIT_OK or an exit status (printed). */
int report_collect(const mmctl_opts_t *o, report_t *r);
/** @brief Free what report_collect gathered. */
void report_free(report_t *r);
/** @brief Write the page to @p path. @returns EXIT_OK or an exit status (printed). */
int report_write_html(const report_t *r, const char *path);

#endif
