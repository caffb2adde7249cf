/*
 * served_decisions.h - mm-scorer serve's decisions in its state store: the
 * latest ModelDecision of each key, in the served_decisions table of the
 * scoring-data store (its schema is scoring_data.c's), so that memory does not
 * grow with the number of keys.
 *
 * A row is a key, a sequence number (larger for a later decision, so that a
 * reader holding a copy can tell whether it is still the latest) and the
 * decision: the mm_model_decision_t as this build lays it out, its ten
 * strings replaced by their offsets after it, then the strings. The table is
 * cleared when serve starts (mm.decisions is read from its beginning at each
 * start, as the source of truth), so it is only ever read by the build that
 * wrote it.
 *
 * A handle prepares its statements on a borrowed connection and belongs to the
 * thread that holds that connection.
 */
#ifndef MM_SCORER_SERVED_DECISIONS_H
#define MM_SCORER_SERVED_DECISIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/db.h"
#include "mm/err.h"
#include "mm/records.h"

typedef struct mm_served_decisions mm_served_decisions_t;

/* The strings of a decision. */
#define MM_SERVED_DECISION_STRINGS 10

/** @brief Where @p d's strings are (their fields' addresses). */
void mm_served_decision_strings(mm_model_decision_t *d,
                                const char **out[MM_SERVED_DECISION_STRINGS]);

/** @brief Prepare the statements on @p db (borrowed; the scoring-data store, migrated). */
mm_served_decisions_t *mm_served_decisions_open(mm_db_t *db, char *errstr, size_t errstr_size);

/** @brief Finalize the statements. Accepts NULL. */
void mm_served_decisions_close(mm_served_decisions_t *sd);

/** @brief Delete every stored decision (serve's start). */
mm_err_t mm_served_decisions_clear(mm_served_decisions_t *sd, char *errstr, size_t errstr_size);

/**
 * @brief Store @p d as its key's decision with sequence number @p seq, in
 * the caller's transaction (mm_db_begin on the connection) or its own.
 * @param new_key receives whether the key had no decision before.
 * @returns MM_OK; MM_ERR_INVALID_ARG (no key); MM_ERR_DB; MM_ERR_NOMEM.
 */
mm_err_t mm_served_decisions_put(mm_served_decisions_t *sd, const mm_model_decision_t *d,
                                 int64_t seq, bool *new_key, char *errstr, size_t errstr_size);

/**
 * @brief Read @p key's decision.
 * @param known_seq the sequence number of a copy the caller holds (-1: none):
 *        when the stored row still has it, @p out is left untouched.
 * @param seq receives the stored row's sequence number.
 * @param out receives the stored decision, unless *seq == known_seq (then
 *        NULL): borrowed from @p sd, valid until its next call.
 * @param found receives false for a key without a decision.
 * @returns MM_OK; MM_ERR_DB; MM_ERR_NOMEM; MM_ERR_PARSE (a row that is not
 * a stored decision).
 */
mm_err_t mm_served_decisions_get(mm_served_decisions_t *sd, const char *key, int64_t known_seq,
                                 int64_t *seq, const mm_model_decision_t **out, bool *found,
                                 char *errstr, size_t errstr_size);

#endif
