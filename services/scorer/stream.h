/*
 * stream.h - mm-scorer's stream mode (`mm-scorer stream`): a long-running
 * scorer that answers each ScoreRequest consumed from mm.score-requests with
 * a PredictionBatch on mm.predictions (carrying the request id) and rows in
 * the sink, while it keeps following mm.decisions (the latest decision per
 * key wins) and the scoring data on mm.observations, so every answer uses
 * the newest model and data. A key's answer is the batch run's
 * (answer.c): champion, labelled fallback or "no model", with the same
 * lineage.
 *
 * Effectively-once: each request's answer (its PredictionBatch in the state
 * store's outbox), the request id and the consumed offset are committed in
 * one transaction of the scorer's state store, after the sink's upserts. A
 * redelivered record resumes past its offset; a request id seen before (a
 * client's retry, a replayed topic) is recognised and answered nothing more.
 * A request that cannot be used is dead-lettered with its offset, and the
 * stream goes on. docs/scoring.md, "Stream mode".
 */
#ifndef MM_SCORER_STREAM_H
#define MM_SCORER_STREAM_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/err.h"
#include "mm/metrics.h"
#include "scorer.h"

/* Largest horizon a request may ask for. */
#define MM_SCORER_STREAM_MAX_HORIZON 10000
/* Longest request id and partition key accepted, in bytes. */
#define MM_SCORER_STREAM_MAX_ID  256
#define MM_SCORER_STREAM_MAX_KEY 1024

typedef struct mm_scorer_stream_opts {
    mm_metrics_t *metrics;    /* borrowed, outlives the stream; NULL: no metrics */
    int64_t dedupe_window_ms; /* how long answered request ids are remembered (0 = 7 days) */
    int64_t
        decisions_timeout_ms; /* bound on reading mm.decisions to its end at start (0 = 120 s) */
} mm_scorer_stream_opts_t;

/** What a stream did (since it started). */
typedef struct mm_scorer_stream_stats {
    int64_t requests;         /* ScoreRequest records consumed */
    int64_t answered;         /* requests answered (any status) */
    int64_t duplicates;       /* requests recognised as already answered */
    int64_t dead_letters;     /* requests dead-lettered */
    int64_t predictions;      /* prediction rows in the answers */
    int64_t observations;     /* ObservationBatch records applied to the scoring data */
    int64_t decisions;        /* decision records applied after the start */
    int64_t obs_dead_letters; /* observation records dead-lettered */
} mm_scorer_stream_stats_t;

typedef struct mm_scorer_stream mm_scorer_stream_t;

/**
 * @brief A stream over @p scorer (borrowed; it must outlive the stream):
 * prepares the state store's request table and registers the metrics.
 * @returns NULL with errstr set.
 */
mm_scorer_stream_t *mm_scorer_stream_new(mm_scorer_t *scorer, const mm_scorer_stream_opts_t *opts,
                                         char *errstr, size_t errstr_size);

/**
 * @brief Catch up on the scoring data, read mm.decisions to its end (then
 * ready), and answer requests until *@p stop; then close the consumer,
 * deliver what the outbox holds (bounded) and return.
 * @returns MM_OK after an orderly stop; MM_ERR_KAFKA, MM_ERR_DB, MM_ERR_TIMEOUT
 * when the stream cannot start or make progress (errstr says why).
 */
mm_err_t mm_scorer_stream_run(mm_scorer_stream_t *stream, volatile sig_atomic_t *stop, char *errstr,
                              size_t errstr_size);

/** @brief mm_httpd_ready_fn: ready once mm.decisions was read to its end and the consumer runs. */
bool mm_scorer_stream_ready(void *stream, char *reason, size_t reason_size);

/** @brief Copy the stream's counters. @locality the thread that runs the stream. */
void mm_scorer_stream_stats(const mm_scorer_stream_t *stream, mm_scorer_stream_stats_t *stats);

/** @brief Free. Accepts NULL. */
void mm_scorer_stream_destroy(mm_scorer_stream_t *stream);

#endif
