/*
 * dead_letter_metrics.c - dead letters by source topic and reason, for
 * /metrics: mm_dead_letters_total{topic,error}, counted by
 * mm_consumer_state_dead_letter() once a dead letter is durable. The reason
 * label is the error kind (MM_ERR_SCHEMA, MM_ERR_INVALID_ARG, ...), never
 * the free-text reason or a key, so the series stay few.
 *
 * Process-wide, like the blob request metrics: a service registers its
 * registry once at start-up (mm_dead_letter_report_metrics).
 *
 * Workload: one counter update per dead letter.
 */
#include <stdatomic.h>

#include "mm/consumer_state.h"
#include "mm/metrics.h"

static _Atomic(mm_metric_t *) counter; /* NULL: not reporting */

mm_err_t mm_dead_letter_report_metrics(mm_metrics_t *metrics, char *errstr, size_t errstr_size) {
    atomic_store(&counter, NULL);
    if (!metrics) return MM_OK;
    mm_metric_t *c = mm_metrics_counter(
        metrics, "mm_dead_letters_total",
        "Records dead-lettered by this service, by source topic and reason (error kind); the "
        "DeadLetter on mm.deadletter carries the full reason",
        "topic,error", errstr, errstr_size);
    if (!c) return MM_ERR_INVALID_ARG;
    atomic_store(&counter, c);
    return MM_OK;
}

void mm_consumer_state__count_dead_letter(const char *topic, mm_err_t code) {
    mm_metric_t *c = atomic_load(&counter);
    if (!c) return;
    const char *labels[] = {topic ? topic : "", mm_err_name(code)};
    mm_metric_add(c, labels, 1);
}
