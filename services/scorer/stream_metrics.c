/*
 * stream_metrics.c - the Prometheus metrics of mm-scorer's stream mode
 * (docs/scoring.md, "Stream mode"): requests by outcome, prediction rows,
 * answer time, scoring data and decisions applied, dead letters by topic,
 * the outbox backlog, keys with a production model, and the consumer's lag
 * per partition. Labels take bounded values only, never a key.
 *
 * Counters are updated where things happen (the stream's thread); the gauges
 * are published about once a second by the consumer loop. The consumer lag
 * comes from the consumer itself (mm_kafka_consumer_lag: no request); a
 * partition no longer assigned reads 0.
 */
#include <stdio.h>
#include <string.h>

#include "mm/log.h"
#include "mm/util.h"
#include "stream_int.h"

/* Answer time buckets, seconds: a cached model's forecast up to a cold artifact fetch. */
static const double REQUEST_SECONDS_BOUNDS[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                0.05,   0.1,   0.25,   0.5,   1,    2.5};

mm_err_t mm_scorer_stream__metrics_init(mm_scorer_stream_t *st, char *errstr, size_t errstr_size) {
    mm_metrics_t *r = st->opts.metrics;
    if (!r) return MM_OK;
    mm_scorer_stream_metrics_t *m = &st->metrics;
    m->requests = mm_metrics_counter(
        r, "mm_scorer_requests_total",
        "Score requests consumed from mm.score-requests, by outcome: ok (champion), fallback, "
        "no_model, error, duplicate (answered before: nothing sent), dead_letter.",
        "outcome", errstr, errstr_size);
    if (m->requests)
        m->predictions = mm_metrics_counter(r, "mm_scorer_predictions_total",
                                            "Prediction rows in the answers to score requests.",
                                            NULL, errstr, errstr_size);
    if (m->predictions)
        m->request_seconds = mm_metrics_histogram(
            r, "mm_scorer_request_seconds",
            "Time to answer one score request: scoring data read, model load or cache hit, "
            "forecast, sink and state store commits.",
            NULL, REQUEST_SECONDS_BOUNDS, MM_ARRAY_SIZE(REQUEST_SECONDS_BOUNDS), errstr,
            errstr_size);
    if (m->request_seconds)
        m->observations = mm_metrics_counter(
            r, "mm_scorer_observation_batches_total",
            "ObservationBatch records applied to the scoring data.", NULL, errstr, errstr_size);
    if (m->observations)
        m->obs_rows = mm_metrics_counter(r, "mm_scorer_observation_rows_total",
                                         "Rows of the ObservationBatch records applied to the "
                                         "scoring data.",
                                         NULL, errstr, errstr_size);
    if (m->obs_rows)
        m->decisions = mm_metrics_counter(r, "mm_scorer_decisions_applied_total",
                                          "ModelDecision records applied to the production model "
                                          "map (including those read at start).",
                                          NULL, errstr, errstr_size);
    if (m->decisions)
        m->dead_letters = mm_metrics_counter(
            r, "mm_scorer_dead_letters_total",
            "Consumed records the scorer could not use, sent to the dead-letter topic, by the "
            "topic they came from.",
            "topic", errstr, errstr_size);
    if (m->dead_letters)
        m->outbox_backlog = mm_metrics_gauge(
            r, "mm_scorer_outbox_backlog",
            "Records (answers, dead letters) committed in the state store and not yet delivered.",
            NULL, errstr, errstr_size);
    if (m->outbox_backlog)
        m->production_keys =
            mm_metrics_gauge(r, "mm_scorer_production_keys",
                             "Keys with a decision (a production model or a declared fallback).",
                             NULL, errstr, errstr_size);
    if (m->production_keys)
        m->lag = mm_metrics_gauge(r, "mm_scorer_consumer_lag_messages",
                                  "Messages of an assigned partition (mm.score-requests, "
                                  "mm.observations) not yet consumed; 0 once revoked.",
                                  "topic,partition", errstr, errstr_size);
    return m->lag ? MM_OK : MM_ERR_INVALID_ARG;
}

void mm_scorer_stream__metrics_request(mm_scorer_stream_t *st, mm_scorer_stream_outcome_t outcome,
                                       int64_t predictions, double seconds) {
    mm_scorer_stream_metrics_t *m = &st->metrics;
    const char *labels[] = {mm_scorer_stream__outcome_name(outcome)};
    mm_metric_add(m->requests, labels, 1);
    if (predictions > 0) mm_metric_add(m->predictions, NULL, (double)predictions);
    if (outcome != MM_STREAM_DUPLICATE && outcome != MM_STREAM_DEAD_LETTER)
        mm_metric_observe(m->request_seconds, NULL, seconds);
}

void mm_scorer_stream__metrics_dead_letter(mm_scorer_stream_t *st, const char *topic) {
    const char *labels[] = {topic};
    mm_metric_add(st->metrics.dead_letters, labels, 1);
}

void mm_scorer_stream__metrics_applied(mm_scorer_stream_t *st, int64_t observations, int64_t rows,
                                       int64_t decisions) {
    if (observations > 0) mm_metric_add(st->metrics.observations, NULL, (double)observations);
    if (rows > 0) mm_metric_add(st->metrics.obs_rows, NULL, (double)rows);
    if (decisions > 0) mm_metric_add(st->metrics.decisions, NULL, (double)decisions);
}

static void set_lag(mm_scorer_stream_metrics_t *m, const char *topic, int32_t partition,
                    double value) {
    char part[16];
    snprintf(part, sizeof(part), "%d", (int)partition);
    const char *labels[] = {topic, part};
    mm_metric_set(m->lag, labels, value);
}

typedef struct lag_seen {
    mm_scorer_stream_metrics_t *m;
    bool seen[MM_SCORER_STREAM_LAG_PARTITIONS];
} lag_seen_t;

static void on_lag(void *opaque, const char *topic, int32_t partition, int64_t lag) {
    lag_seen_t *ls = opaque;
    mm_scorer_stream_metrics_t *m = ls->m;
    size_t i = 0;
    while (i < m->n_lag_series &&
           !(m->lag_series[i].partition == partition && strcmp(m->lag_series[i].topic, topic) == 0))
        i++;
    if (i == m->n_lag_series) {
        if (i == MM_SCORER_STREAM_LAG_PARTITIONS || strlen(topic) >= sizeof(m->lag_series[i].topic))
            return; /* no room for one more series */
        snprintf(m->lag_series[i].topic, sizeof(m->lag_series[i].topic), "%s", topic);
        m->lag_series[i].partition = partition;
        m->n_lag_series++;
    }
    ls->seen[i] = true;
    if (lag >= 0) set_lag(m, topic, partition, (double)lag); /* unknown yet: keep the last value */
}

void mm_scorer_stream__metrics_publish(mm_scorer_stream_t *st) {
    mm_scorer_stream_metrics_t *m = &st->metrics;
    if (!st->opts.metrics) return;
    mm_metric_set(m->outbox_backlog, NULL,
                  (double)mm_outbox_count(mm_scoring_data_db(st->scorer->scoring)));
    mm_metric_set(m->production_keys, NULL, (double)mm_scorer__decision_keys(st->scorer));
    if (!st->consumer) return;
    lag_seen_t ls = {.m = m};
    char errstr[256];
    if (mm_kafka_consumer_lag(st->consumer, on_lag, &ls, errstr, sizeof(errstr)) != MM_OK) {
        mm_log_debug("lag_read_failed", "%s", errstr);
        return;
    }
    for (size_t i = 0; i < m->n_lag_series; i++)
        if (!ls.seen[i]) set_lag(m, m->lag_series[i].topic, m->lag_series[i].partition, 0);
}
