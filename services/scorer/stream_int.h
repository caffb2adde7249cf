/*
 * stream_int.h - what the parts of mm-scorer's stream mode share: the
 * stream itself (stream.c: the consumer loop, decisions, shutdown), one
 * request's handling (stream_request.c: checks, answer, remembered request
 * ids) and its metrics (stream_metrics.c).
 */
#ifndef MM_SCORER_STREAM_INT_H
#define MM_SCORER_STREAM_INT_H

#include <stdatomic.h>

#include "mm/kafka.h"
#include "scorer_int.h"
#include "stream.h"

#define MM_SCORER_STREAM_LAG_PARTITIONS 32 /* partitions with a lag series (the series cap) */

typedef struct mm_scorer_stream_metrics {
    mm_metric_t *requests;        /* by outcome */
    mm_metric_t *predictions;     /* prediction rows answered */
    mm_metric_t *request_seconds; /* time to answer one request */
    mm_metric_t *observations;    /* ObservationBatch records applied */
    mm_metric_t *obs_rows;        /* rows in them */
    mm_metric_t *decisions;       /* decision records applied */
    mm_metric_t *dead_letters;    /* by topic */
    mm_metric_t *outbox_backlog;  /* rows waiting in the state store's outbox */
    mm_metric_t *production_keys; /* keys with a decision */
    mm_metric_t *lag;             /* consumer lag by topic and partition */
    struct {
        char topic[64];
        int32_t partition;
    } lag_series[MM_SCORER_STREAM_LAG_PARTITIONS];
    size_t n_lag_series;
} mm_scorer_stream_metrics_t;

/* Outcomes of one request, for the stream's request counter. */
typedef enum mm_scorer_stream_outcome {
    MM_STREAM_OK = 0,      /* answered by the champion */
    MM_STREAM_FALLBACK,    /* answered by the declared fallback, labelled */
    MM_STREAM_NO_MODEL,    /* answered "no model" */
    MM_STREAM_ERROR,       /* answered with an error (model unusable) */
    MM_STREAM_DUPLICATE,   /* already answered: nothing sent */
    MM_STREAM_DEAD_LETTER, /* unusable request: dead-lettered */
    MM_STREAM__N_OUTCOMES
} mm_scorer_stream_outcome_t;

struct mm_scorer_stream {
    mm_scorer_t *scorer; /* borrowed */
    mm_scorer_stream_opts_t opts;
    mm_kafka_consumer_t *consumer;
    mm_kafka_reader_t *decisions;
    sqlite3_stmt *st_seen;     /* is a request id remembered? */
    sqlite3_stmt *st_remember; /* remember an answered request id */
    mm_scorer_stream_stats_t stats;
    mm_scorer_stream_metrics_t metrics;
    atomic_bool decisions_at_end; /* read by /readyz */
    atomic_int assigned;          /* partitions assigned to the consumer */
    atomic_bool running;          /* the consumer loop runs */
};

/** @returns the outcome's label value ("ok", "duplicate", ...). */
const char *mm_scorer_stream__outcome_name(mm_scorer_stream_outcome_t outcome);

/**
 * @brief Handle one mm.score-requests record: check it, answer it (or
 * recognise it as answered before, or dead-letter it), and make the answer,
 * the request id and the offset durable together.
 * @returns MM_OK once the record's effect and offset are durable; MM_ERR_DB
 * (or another error) when the state store or the sink refused: the caller
 * stops rather than skip the record.
 * @locality the stream's thread.
 */
mm_err_t mm_scorer_stream__handle_request(mm_scorer_stream_t *stream, const mm_kafka_msg_t *msg,
                                          char *errstr, size_t errstr_size);

/** @brief Create the request table if needed and prepare its statements. */
mm_err_t mm_scorer_stream__requests_open(mm_scorer_stream_t *stream, char *errstr,
                                         size_t errstr_size);
/** @brief Forget request ids answered before the dedupe window. */
void mm_scorer_stream__requests_prune(mm_scorer_stream_t *stream);
/** @brief Finalize the request table's statements. */
void mm_scorer_stream__requests_close(mm_scorer_stream_t *stream);

/**
 * @brief Delete the answers in the outbox that already reached
 * mm.predictions (a previous run stopped between their delivery and their
 * delete), before anything drains the outbox. A topic that cannot be read
 * leaves them to be sent again. @returns an error of the state store only.
 */
mm_err_t mm_scorer_stream__outbox_reconcile(mm_scorer_stream_t *stream, char *errstr,
                                            size_t errstr_size);

/** @brief Register the stream's metrics (nothing without a registry). */
mm_err_t mm_scorer_stream__metrics_init(mm_scorer_stream_t *stream, char *errstr,
                                        size_t errstr_size);
/** @brief Count one request's outcome, its prediction rows and its answer time. */
void mm_scorer_stream__metrics_request(mm_scorer_stream_t *stream,
                                       mm_scorer_stream_outcome_t outcome, int64_t predictions,
                                       double seconds);
/** @brief Count one dead letter written for a record of @p topic. */
void mm_scorer_stream__metrics_dead_letter(mm_scorer_stream_t *stream, const char *topic);
/** @brief Count applied observation batches and decisions. */
void mm_scorer_stream__metrics_applied(mm_scorer_stream_t *stream, int64_t observations,
                                       int64_t rows, int64_t decisions);
/** @brief Publish the gauges: consumer lag, outbox backlog, keys with a decision. */
void mm_scorer_stream__metrics_publish(mm_scorer_stream_t *stream);

#endif
