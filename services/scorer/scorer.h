/*
 * scorer.h - mm-scorer's logic. The scorer keeps each key's scoring data
 * (its newest observations and planned covariates, scoring_data.h), fed by
 * its own consumer group on mm.observations, and the key -> production model
 * map built from mm.decisions (read from the beginning; the latest record
 * per key wins). A batch run first catches up on mm.observations, then
 * answers every key that has scoring data or a decision, all as of one time
 * (so every key is forecast over the same calendar window):
 *   - the champion's forecast from the key's newest data (for a
 *     classification dataset: the probability of the positive class as of
 *     the key's newest telemetry row);
 *   - else, unless the spec says fallbacks must not be served, the declared
 *     fallback's forecast, labelled as a fallback;
 *   - else an explicit "no model", never a guess.
 * Answers go to mm.predictions and to the SQLite sink (upserts keyed by
 * (key, target time), so a replay never duplicates).
 */
#ifndef MM_SCORER_H
#define MM_SCORER_H

#include <signal.h>
#include <stdbool.h>
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
    const char *sink_path;       /* prediction sink URL: a SQLite path or postgresql://... */
    size_t cache_bytes;          /* model cache bound */
    int horizon;                 /* 0 = the spec's horizon */
    const char *state_path;      /* SQLite state store of the scoring data */
    const char *group_id;        /* consumer group on mm.observations */
    size_t keep_observed;        /* observed rows kept per key (0 = the default) */
    int64_t as_of_ms;            /* forecast window start; 0 = latest observation of all keys */
    int64_t catch_up_timeout_ms; /* bound on the catch-up before a run (0 = 300 s) */
    int consumer_queue_kbytes;   /* fetch queue (0 = MM_KAFKA_QUEUE_KBYTES_FOLLOW) */
} mm_scorer_config_t;

typedef struct mm_scorer_batch_stats {
    int64_t keys;                /* keys answered or attempted: with scoring data or a decision */
    int64_t scored;              /* keys forecast by their champion */
    int64_t fallback;            /* keys forecast by their declared fallback (labelled) */
    int64_t no_model;            /* keys answered "no model" */
    int64_t failed;              /* keys whose model could not be loaded or applied */
    int64_t predictions;         /* prediction rows written */
    int64_t decisions_read;      /* records read from mm.decisions */
    int64_t decisions_bad;       /* undecodable decision records (dead-lettered) */
    int64_t as_of_ms;            /* the run's as-of time (0: no scoring data) */
    double sink_seconds;         /* spent writing the sink: answers, transaction begin and commit */
    int64_t model_loads;         /* artifacts fetched and parsed (successful or not) */
    int64_t model_load_failures; /* of which failed (missing, corrupt, unreadable) */
    int64_t model_cache_hits;    /* answers whose model was already loaded */
} mm_scorer_batch_stats_t;

/** What a catch-up on mm.observations did. */
typedef struct mm_scorer_intake_stats {
    int64_t batches;      /* ObservationBatch records applied */
    int64_t rows;         /* rows in them */
    int64_t dead_letters; /* records dead-lettered (undecodable, another spec) */
} mm_scorer_intake_stats_t;

typedef struct mm_scorer mm_scorer_t;

mm_scorer_t *mm_scorer_new(const mm_scorer_config_t *cfg, char *errstr, size_t errstr_size);

/**
 * @brief Consume mm.observations in the scorer's group until every partition
 * is read to its end (the group's lag is zero), applying each batch to the
 * scoring data with its offset in one transaction and dead-lettering what
 * cannot be used. @returns MM_OK; MM_ERR_TIMEOUT when not caught up within
 * the configured bound; MM_ERR_SHUTDOWN; MM_ERR_KAFKA or MM_ERR_DB.
 */
mm_err_t mm_scorer_catch_up(mm_scorer_t *scorer, volatile sig_atomic_t *stop,
                            mm_scorer_intake_stats_t *stats, char *errstr, size_t errstr_size);

/**
 * @brief Called by mm_scorer_follow() after each lag check: @p lag is the
 * group's lag on mm.observations summed over partitions (-1: could not be
 * read), @p caught_up whether every partition was read to its end.
 */
typedef void(mm_scorer_lag_fn)(void *opaque, int64_t lag, bool caught_up);

/**
 * @brief mm_scorer_catch_up() that does not stop at the end: follow
 * mm.observations until *@p stop (mm-scorer serve), reporting the lag to
 * @p on_lag (on this thread) about once a second. Waits for the topic when
 * it does not exist yet. @returns MM_ERR_SHUTDOWN when stopped; MM_ERR_KAFKA
 * or MM_ERR_DB when it cannot go on. @locality one thread; the scorer's own
 * store is written only by it meanwhile.
 */
mm_err_t mm_scorer_follow(mm_scorer_t *scorer, volatile sig_atomic_t *stop,
                          mm_scorer_lag_fn *on_lag, void *opaque, mm_scorer_intake_stats_t *stats,
                          char *errstr, size_t errstr_size);

/** @brief Read mm.decisions to its end and build the production model map. */
mm_err_t mm_scorer_load_decisions(mm_scorer_t *scorer, volatile sig_atomic_t *stop, char *errstr,
                                  size_t errstr_size);

/**
 * @brief Answer every key with scoring data or a decision (the scheduled
 * batch job), as of the configured time or the latest observation, and wait
 * for delivery. @returns MM_OK when every key was answered (champion,
 * fallback or "no model") and every record delivered; MM_ERR_* otherwise
 * with stats filled.
 */
mm_err_t mm_scorer_run_batch(mm_scorer_t *scorer, const char *run_id, volatile sig_atomic_t *stop,
                             mm_scorer_batch_stats_t *stats, char *errstr, size_t errstr_size);

void mm_scorer_destroy(mm_scorer_t *scorer);

#endif
