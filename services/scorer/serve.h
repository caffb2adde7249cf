/*
 * serve.h - mm-scorer serve: the real-time scoring API (docs/serving.md).
 *
 * The server follows mm.decisions continuously (the latest record per key
 * wins; a new decision swaps the key's model for the requests that start
 * after it, while requests in flight finish on the old one) and the scoring
 * data (the scorer's own consumer group on mm.observations, the same store
 * as a batch run), and answers one key, or a few, per HTTP request with the
 * same model application and lineage as a batch run (answer.c).
 *
 * Requests run on the HTTP server's threads. Each borrows a worker: its own
 * read handle on the scoring-data store, its own blob handle and its own
 * memory of hot keys' decisions; the model cache is shared. Decisions live
 * in the state store (served_decisions.h), written by the decisions thread;
 * a decision in memory is reference-counted so a swap never frees one in use.
 *
 * The HTTP side is serve_api.c (routes, JSON, errors, authentication); this
 * file's functions are callable without any socket.
 */
#ifndef MM_SCORER_SERVE_H
#define MM_SCORER_SERVE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/err.h"
#include "mm/httpd.h"
#include "mm/metrics.h"
#include "mm/records.h"
#include "scorer.h"
#include "serve_auth.h"

#define MM_SERVE_DEFAULT_MAX_KEYS     100  /* keys in one request */
#define MM_SERVE_DEFAULT_MAX_HORIZON  1000 /* forecast steps in one answer */
#define MM_SERVE_DEFAULT_WORKERS      4
#define MM_SERVE_DEFAULT_ROWS_CACHE   (4u << 20) /* bytes of scoring-data reads per worker */
#define MM_SERVE_DEFAULT_FAILURE_HOLD 5000       /* ms a failed artifact load is held */
#define MM_SERVE_KEY_MAX              1024       /* bytes of a canonical partition key */

typedef struct mm_serve mm_serve_t;

typedef struct mm_serve_config {
    size_t max_keys;         /* "keys" per request; 0 = MM_SERVE_DEFAULT_MAX_KEYS */
    size_t max_horizon;      /* 0 = MM_SERVE_DEFAULT_MAX_HORIZON */
    unsigned workers;        /* concurrent answers (HTTP threads); 0 = MM_SERVE_DEFAULT_WORKERS */
    int64_t failure_hold_ms; /* a failed load answers at once for this long; <0: 0, 0: default */
    size_t rows_cache_bytes; /* per worker, hot keys' scoring data kept in memory
                                (mm_scoring_data_cache); 0 = MM_SERVE_DEFAULT_ROWS_CACHE */
    const mm_serve_tokens_t *tokens; /* borrowed; NULL or empty: no authentication */
    mm_metrics_t *metrics;           /* borrowed; NULL: no metrics */
} mm_serve_config_t;

/** One question about one key (what a request body says, parsed). */
typedef struct mm_serve_query {
    const char *key;  /* canonical partition key */
    size_t horizon;   /* forecast steps; 0 = the scorer's default */
    int64_t as_of_ms; /* 0 = the latest observation (forecast) / the newest telemetry (predict) */
    /* Rows given in the request: covariates for the horizon (forecast; they
     * replace the key's stored planned rows) or telemetry rows to score
     * (predict; they replace the stored telemetry). */
    bool rows_given;
    size_t n_rows;
    const int64_t *time_ms; /* n_rows, increasing */
    const double *x;        /* n_rows * the spec's feature columns, row-major; NaN = missing */
} mm_serve_query_t;

/** What kind of answer a query got. */
typedef enum mm_serve_outcome {
    MM_SERVE_OK = 0,       /* answered (a fallback's answer is labelled in p.fallback) */
    MM_SERVE_UNKNOWN_KEY,  /* no decision and no scoring data: 404 */
    MM_SERVE_NO_MODEL,     /* no model and fallbacks are off: 404 */
    MM_SERVE_BAD_QUERY,    /* the query cannot be answered as asked: 400 */
    MM_SERVE_MODEL_FAILED, /* the artifact could not be loaded or applied: 500 */
    MM_SERVE_NOT_READY,    /* shutting down / no worker: 503 */
    MM_SERVE_INTERNAL,     /* the store failed: 500 */
} mm_serve_outcome_t;

/** An answer: the prediction record a batch run would have written. */
typedef struct mm_serve_answer {
    mm_serve_outcome_t outcome;
    char message[600];           /* why, when not MM_SERVE_OK */
    mm_prediction_batch_t p;     /* owned (mm_serve_answer_clear); with entity columns, the
                                  * first entity's answer */
    mm_prediction_batch_t *more; /* with entity columns: the other entities' answers (owned) */
    size_t n_more;
} mm_serve_answer_t;

void mm_serve_answer_clear(mm_serve_answer_t *a);

/** A key's production model, for GET /v1/models/{key}. */
typedef struct mm_serve_model_info {
    mm_model_decision_t decision; /* owned copy of the key's latest decision */
    bool loaded;                  /* the model below was read from the artifact */
    char algorithm[64];
    size_t n_members;
    char member_algos[8][32];
    double member_weights[8];
    size_t n_metrics;
    char metric_names[16][16];
    double metric_values[16];
    double baseline_values[16]; /* the seasonal-naive baseline on the same windows; NaN none */
    int64_t model_data_end_ms;
    char message[600]; /* why the model could not be read, when !loaded */
} mm_serve_model_info_t;

void mm_serve_model_info_clear(mm_serve_model_info_t *info);

/**
 * @brief The serving state over @p scorer (borrowed: its spec, cache, store
 * path and Kafka settings). Opens cfg->workers read handles on the store.
 */
mm_serve_t *mm_serve_new(mm_scorer_t *scorer, const mm_serve_config_t *cfg, char *errstr,
                         size_t errstr_size);

/** @brief Stop the followers (if started) and free. Accepts NULL. No request may be running. */
void mm_serve_destroy(mm_serve_t *serve);

/** @returns the configuration in effect (defaults filled in). */
const mm_serve_config_t *mm_serve_config(const mm_serve_t *serve);

/** @returns the scorer's dataset spec. */
const mm_spec_t *mm_serve_spec(const mm_serve_t *serve);

/**
 * @brief Apply a decision (stolen; cleared on return): it is committed to
 * the state store and becomes the key's production model for every request
 * that starts after this call. A decision of another dataset is ignored.
 * @returns MM_OK; MM_ERR_DB (logged; the key keeps its previous decision).
 * @locality any thread.
 */
mm_err_t mm_serve_put_decision(mm_serve_t *serve, mm_model_decision_t *decision);

/** @brief Mark the decisions and the scoring data as read to their end (tests, no Kafka). */
void mm_serve_set_caught_up(mm_serve_t *serve);

/** @brief Readiness (an mm_httpd_ready_fn): decisions and scoring data read to their end once. */
bool mm_serve_ready(void *serve, char *reason, size_t reason_size);

/** @brief Shutting down: /readyz answers 503 from now on; requests are still answered. */
void mm_serve_set_draining(mm_serve_t *serve);

/**
 * @brief Start following mm.decisions and mm.observations on two threads of
 * their own. @returns MM_OK or MM_ERR_KAFKA / MM_ERR_NOMEM.
 */
mm_err_t mm_serve_start_followers(mm_serve_t *serve, char *errstr, size_t errstr_size);

/**
 * @brief Stop following: the observations consumer leaves its group and the
 * decisions reader closes, in that order; joins both threads. Idempotent.
 */
void mm_serve_stop_followers(mm_serve_t *serve);

/**
 * @brief Answer @p q as a batch run would (champion, labelled fallback, or
 * no model), without writing to the sink or mm.predictions.
 * @param forecast true: a forecast (POST /v1/forecast); false: a
 *        classifier's probability (POST /v1/predict).
 * @locality any thread; blocks while every worker is busy.
 */
void mm_serve_answer(mm_serve_t *serve, bool forecast, const mm_serve_query_t *q,
                     mm_serve_answer_t *out);

/**
 * @brief The key's production model, read from its artifact through the
 * cache. @returns false when the key has no decision.
 */
bool mm_serve_model_info(mm_serve_t *serve, const char *key, mm_serve_model_info_t *out);

/** Counters for /metrics (never per key). */
typedef struct mm_serve_stats {
    int64_t decisions_applied, decisions_bad;
    int64_t scoring_lag; /* -1: unknown */
    int64_t cache_hits, cache_misses, cache_evictions, cache_loads, cache_loads_failed;
    size_t cache_bytes, cache_entries;
    size_t keys_with_decisions;
} mm_serve_stats_t;

void mm_serve_stats(mm_serve_t *serve, mm_serve_stats_t *out);

/* ------------------------------------------------------------ the HTTP API (serve_api.c) */

/**
 * @brief Register the /v1 routes on @p httpd (before it starts), and the
 * serve metrics on cfg->metrics. The server should have json_errors and
 * request_metrics set, and mm_serve_ready and mm_serve_collect as its
 * readiness and collect callbacks.
 */
mm_err_t mm_serve_routes(mm_serve_t *serve, mm_httpd_t *httpd, char *errstr, size_t errstr_size);

/** @brief Refresh the serve gauges before /metrics is rendered (an mm_httpd collect callback). */
void mm_serve_collect(void *serve);

#endif
