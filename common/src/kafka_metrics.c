/*
 * kafka_metrics.c - what an operator must see of the Kafka clients, for
 * /metrics: producers that failed fatally and were replaced
 * (mm_kafka_producer_fatal_errors_total{error}, mm_kafka_producer_recreated_total),
 * consumer errors by topic and error (mm_kafka_consumer_errors_total{topic,error})
 * and partitions a consumer stopped because its offset was out of range
 * (mm_kafka_partitions_stopped_total{topic}). Labels are topic and error
 * names only, never a key, so the series stay few.
 *
 * Process-wide, like the blob request metrics: a service registers its
 * registry once at start-up (mm_kafka_report_metrics) and every Kafka
 * handle it opens reports there.
 *
 * Workload: an update per fatal error or consumer error event: rare.
 */
#include <stdatomic.h>

#include "kafka_int.h"
#include "mm/metrics.h"

typedef struct kafka_metrics {
    mm_metric_t *producer_fatal;
    mm_metric_t *producer_recreated;
    mm_metric_t *consumer_errors;
    mm_metric_t *partitions_stopped;
} kafka_metrics_t;

static kafka_metrics_t installed;
static _Atomic(kafka_metrics_t *) current; /* &installed while reporting, else NULL */

mm_err_t mm_kafka_report_metrics(mm_metrics_t *metrics, char *errstr, size_t errstr_size) {
    atomic_store(&current, NULL);
    if (!metrics) return MM_OK;
    kafka_metrics_t *m = &installed;
    m->producer_fatal = mm_metrics_counter(
        metrics, "mm_kafka_producer_fatal_errors_total",
        "Kafka producer instances that failed fatally (idempotence state lost, e.g. "
        "OUT_OF_ORDER_SEQUENCE_NUMBER), by the fatal error; each is replaced",
        "error", errstr, errstr_size);
    if (!m->producer_fatal) return MM_ERR_INVALID_ARG;
    m->producer_recreated =
        mm_metrics_counter(metrics, "mm_kafka_producer_recreated_total",
                           "Kafka producer instances created to replace one that failed fatally",
                           NULL, errstr, errstr_size);
    if (!m->producer_recreated) return MM_ERR_INVALID_ARG;
    m->consumer_errors = mm_metrics_counter(
        metrics, "mm_kafka_consumer_errors_total",
        "Errors a Kafka consumer returned instead of a message, by topic and error", "topic,error",
        errstr, errstr_size);
    if (!m->consumer_errors) return MM_ERR_INVALID_ARG;
    m->partitions_stopped = mm_metrics_counter(
        metrics, "mm_kafka_partitions_stopped_total",
        "Partitions a consumer stopped reading because its offset was out of range "
        "(auto.offset.reset=error); each needs an operator (docs/operations.md)",
        "topic", errstr, errstr_size);
    if (!m->partitions_stopped) return MM_ERR_INVALID_ARG;
    atomic_store(&current, m);
    return MM_OK;
}

void mm_kafka__count_producer_fatal(const char *error) {
    kafka_metrics_t *m = atomic_load(&current);
    if (!m) return;
    const char *labels[] = {error ? error : ""};
    mm_metric_add(m->producer_fatal, labels, 1);
}

void mm_kafka__count_producer_recreated(void) {
    kafka_metrics_t *m = atomic_load(&current);
    if (m) mm_metric_add(m->producer_recreated, NULL, 1);
}

void mm_kafka__count_consumer_error(const char *topic, const char *error, bool stopped) {
    kafka_metrics_t *m = atomic_load(&current);
    if (!m) return;
    const char *labels[] = {topic ? topic : "", error ? error : ""};
    mm_metric_add(m->consumer_errors, labels, 1);
    if (stopped) mm_metric_add(m->partitions_stopped, labels, 1);
}
