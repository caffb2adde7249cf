/*
 * checker.h - the one checker every pipeline fault scenario ends with
 * (docs/reliability.md, "The checker"):
 *
 *  - rows in == rows stored + rows dead-lettered, the two disjoint: every
 *    data row of the input files is in the trainer's history (by its key and
 *    time) or dead-lettered by mm-ingest (by its file and line), never both,
 *    and the history holds nothing that was not sent;
 *  - 0 duplicate model versions (one registry version per train id, versions
 *    of a key unique), 0 duplicate prediction rows in the sink;
 *  - every registered version's artifact (and its production copy) present
 *    in the blob store with its sha256;
 *  - the outboxes of the trainer and the promoter drained;
 *  - every key decided (mm.decisions) and, when the scorer ran, answered;
 *  - no configured secret in any log the run wrote.
 */
#ifndef MM_TEST_CHECKER_H
#define MM_TEST_CHECKER_H

#include <stdbool.h>
#include <stdint.h>

#include "pipeline.h"

typedef struct mmt_check_opts {
    const char *const *inputs;  /* CSV files sent (NULL-terminated) */
    int64_t keys;               /* keys in the input */
    bool scored;                /* the batch scorer ran: every key answered */
    const char *const *secrets; /* values no log may hold (NULL-terminated; may be NULL) */
    int64_t artifacts_lost;     /* artifacts the scenario removed from the blob store */
    /* The trainers' state stores in the pipeline dir (NULL-terminated; NULL: "trainer.db"
     * alone). With several, a row is stored when any of them holds it, and every store's
     * outbox must drain. */
    const char *const *stores;
} mmt_check_opts_t;

typedef struct mmt_check_result {
    int64_t rows_in;            /* data rows of the input files */
    int64_t rows_stored;        /* rows of the trainers' history (each stored row once) */
    int64_t rows_dead_lettered; /* input rows mm-ingest dead-lettered */
    int64_t rows_lost;          /* input rows neither stored nor dead-lettered */
    int64_t rows_both;          /* input rows stored and dead-lettered */
    int64_t rows_foreign;       /* stored rows that were not sent */
    int64_t versions;           /* registry versions */
    int64_t duplicate_versions;
    int64_t duplicate_predictions;
    int64_t artifacts_checked;
    int64_t artifacts_bad; /* missing or with another sha256 */
    int64_t outbox_left;   /* rows left in the trainer's and promoter's outboxes */
    int64_t keys_decided;
    int64_t keys_answered;
    int64_t secrets_found;
} mmt_check_result_t;

/**
 * @brief Check the pipeline's end state (services may still run; the
 * outboxes are given 30 s, scaled, to drain) and print one summary line.
 * Fails the test (Criterion expectations, so every finding is reported) on
 * any violation.
 */
void mmt_check(mmt_pipeline_t *p, const mmt_check_opts_t *opts, mmt_check_result_t *out);

/**
 * @brief The observations in the trainer's state store, read through the
 * store's reader: @returns how many (key, entity, time) are stored more than
 * once (0 for a sound store); @p rows (may be NULL) receives the rows read.
 */
int64_t mmt_check_history_duplicates(mmt_pipeline_t *p, int64_t *rows);

#endif
