/*
 * scorer.h - mm-scorer's logic. The key -> production model map is built
 * from mm.decisions (read from the beginning; the latest record per key
 * wins). Batch mode forecasts the horizon for every key with a production
 * model (for a classification dataset: the probability of the positive class,
 * e.g. a failure within the look-ahead window, as of the end of the key's
 * data) and writes PredictionBatch records to mm.predictions and rows to the
 * SQLite sink (upserts keyed by (key, target time), so a replay never
 * duplicates). A key without a production model gets an explicit "no model"
 * answer, never a guess.
 */
#ifndef MM_SCORER_H
#define MM_SCORER_H

#include <signal.h>
#include <stdint.h>

#include "mm/blob.h"
#include "mm/conf.h"
#include "mm/err.h"
#include "mm/spec.h"

typedef struct mm_scorer_config {
    const char *bootstrap;
    const mm_kv_list_t *kafka;
    const mm_spec_t *spec; /* borrowed */
    const char *blob_url;
    mm_blob_opts_t blob_opts;
    const char *sink_path; /* SQLite prediction sink */
    size_t cache_bytes;    /* model cache bound */
    int horizon;           /* 0 = the spec's horizon */
} mm_scorer_config_t;

typedef struct mm_scorer_batch_stats {
    int64_t keys;           /* keys with a decision */
    int64_t scored;         /* keys forecast */
    int64_t no_model;       /* keys without a production model */
    int64_t failed;         /* keys whose model could not be loaded or applied */
    int64_t predictions;    /* prediction rows written */
    int64_t decisions_read; /* records read from mm.decisions */
    int64_t decisions_bad;  /* undecodable decision records (dead-lettered) */
} mm_scorer_batch_stats_t;

typedef struct mm_scorer mm_scorer_t;

mm_scorer_t *mm_scorer_new(const mm_scorer_config_t *cfg, char *errstr, size_t errstr_size);

/** @brief Read mm.decisions to its end and build the production model map. */
mm_err_t mm_scorer_load_decisions(mm_scorer_t *scorer, volatile sig_atomic_t *stop, char *errstr,
                                  size_t errstr_size);

/**
 * @brief Score every key of the map (the scheduled batch job), wait for
 * delivery. @returns MM_OK when every key was answered (scored or "no model")
 * and every record delivered; MM_ERR_* otherwise with stats filled.
 */
mm_err_t mm_scorer_run_batch(mm_scorer_t *scorer, const char *run_id, volatile sig_atomic_t *stop,
                             mm_scorer_batch_stats_t *stats, char *errstr, size_t errstr_size);

void mm_scorer_destroy(mm_scorer_t *scorer);

#endif
