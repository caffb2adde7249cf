/*
 * progress.c - how far through mm.models mm-promoter is (see promoter.h,
 * mm_promoter_ready): its readiness and its consumer lag gauge.
 *
 * Ready means the registry is open and the promoter has caught up: once the
 * group has assigned it partitions, it asks the broker for their end (high
 * watermark) and is ready when the offsets it has handled - where each
 * partition resumed, then past every message whose transaction committed -
 * have reached those ends. The handled offsets are the run loop's own, not
 * the group's committed offsets, which trail them by up to the auto-commit
 * interval. Once caught up it stays ready: a later backlog (a burst of
 * trained models, a partition moved to it by a rebalance) is lag, shown by
 * the gauge, not unreadiness.
 *
 * The gauge is read from the consumer itself (mm_kafka_consumer_lag: cached
 * watermarks and positions, no request), one series per assigned partition,
 * labelled by topic and partition as the trainer's; a partition no longer
 * assigned reads 0 here.
 *
 * Workload: everything but the readiness callback runs on the polling
 * thread, after each poll; the watermark query is one request per assigned
 * partition, once per assignment until caught up.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/log.h"
#include "mm/util.h"
#include "promoter_int.h"

#define PROGRESS_QUERY_TIMEOUT_MS 5000 /* one watermark query */
#define PROGRESS_QUERY_RETRY_MS   1000 /* after a failed one */
#define PROGRESS_PUBLISH_MS       1000 /* lag gauge */

enum { PROGRESS_WAITING, PROGRESS_CATCHING_UP, PROGRESS_CAUGHT_UP, PROGRESS_STOPPED };

mm_err_t mm_promoter__progress_init(mm_promoter_t *promoter, mm_metrics_t *metrics, char *errstr,
                                    size_t errstr_size) {
    mm_promoter__progress_t *pr = &promoter->progress;
    atomic_init(&pr->state, PROGRESS_WAITING);
    atomic_init(&pr->backlog, -1);
    if (!metrics) return MM_OK;
    pr->lag = mm_metrics_gauge(metrics, "mm_promoter_consumer_lag_messages",
                               "Messages of an assigned partition of mm.models not yet consumed by "
                               "this promoter (high watermark minus position); 0 once revoked.",
                               "topic,partition", errstr, errstr_size);
    return pr->lag ? MM_OK : MM_ERR_INVALID_ARG;
}

void mm_promoter__progress_free(mm_promoter_t *promoter) {
    free(promoter->progress.parts);
    promoter->progress.parts = NULL;
    promoter->progress.n_parts = promoter->progress.cap_parts = 0;
}

static mm_promoter__part_t *part_find(mm_promoter__progress_t *pr, int32_t partition) {
    for (size_t i = 0; i < pr->n_parts; i++)
        if (pr->parts[i].partition == partition) return &pr->parts[i];
    return NULL;
}

int64_t mm_promoter__on_assign(void *opaque, const char *topic, int32_t partition) {
    mm_promoter_t *promoter = opaque;
    int64_t start = mm_promoter_on_assign(opaque, topic, partition);
    mm_promoter__progress_t *pr = &promoter->progress;
    int state = atomic_load(&pr->state);
    if (state == PROGRESS_CAUGHT_UP || state == PROGRESS_STOPPED ||
        strcmp(topic, MM_TOPIC_MODELS) != 0)
        return start;
    mm_promoter__part_t *part = part_find(pr, partition);
    if (!part) {
        if (pr->n_parts == pr->cap_parts) {
            size_t cap = pr->cap_parts ? pr->cap_parts * 2 : 8;
            mm_promoter__part_t *grown = realloc(pr->parts, cap * sizeof(*grown));
            if (!grown) {
                /* Unfollowed, the partition cannot hold readiness back: logged instead. */
                mm_log_warn("readiness", "out of memory following %s [%" PRId32 "]", topic,
                            partition);
                return start;
            }
            pr->parts = grown;
            pr->cap_parts = cap;
        }
        part = &pr->parts[pr->n_parts++];
    }
    *part = (mm_promoter__part_t){.partition = partition, .next = start, .low = -1, .end = -1};
    pr->next_query_ms = 0;
    atomic_store(&pr->state, PROGRESS_CATCHING_UP);
    atomic_store(&pr->backlog, -1);
    return start;
}

void mm_promoter__on_revoke(void *opaque, const char *topic, int32_t partition, bool lost) {
    (void)lost;
    mm_promoter_t *promoter = opaque;
    mm_promoter__progress_t *pr = &promoter->progress;
    if (strcmp(topic, MM_TOPIC_MODELS) != 0) return;
    mm_promoter__part_t *part = part_find(pr, partition);
    if (!part) return;
    *part = pr->parts[--pr->n_parts];
    /* Its new owner catches up on it; what is left here is judged by the next poll. */
    if (pr->n_parts == 0 && atomic_load(&pr->state) == PROGRESS_CATCHING_UP)
        atomic_store(&pr->state, PROGRESS_WAITING);
}

/* Read the end of every followed partition that has none yet; false while some are missing. */
static bool query_ends(mm_promoter_t *promoter) {
    mm_promoter__progress_t *pr = &promoter->progress;
    bool all = true;
    for (size_t i = 0; i < pr->n_parts; i++) {
        mm_promoter__part_t *part = &pr->parts[i];
        if (part->end >= 0) continue;
        if (mm_mono_ms() < pr->next_query_ms) return false;
        char why[512];
        if (mm_kafka_consumer_watermarks(promoter->consumer, MM_TOPIC_MODELS, part->partition,
                                         &part->low, &part->end, PROGRESS_QUERY_TIMEOUT_MS, why,
                                         sizeof(why)) != MM_OK) {
            mm_log_warn("readiness", "end of %s [%" PRId32 "]: %s (asking again in %d ms)",
                        MM_TOPIC_MODELS, part->partition, why, PROGRESS_QUERY_RETRY_MS);
            part->low = part->end = -1;
            pr->next_query_ms = mm_mono_ms() + PROGRESS_QUERY_RETRY_MS;
            all = false;
        }
    }
    return all;
}

/* Messages between what was handled and the ends read; ready (for good) at 0. */
static void update_readiness(mm_promoter_t *promoter) {
    mm_promoter__progress_t *pr = &promoter->progress;
    if (atomic_load(&pr->state) != PROGRESS_CATCHING_UP) return;
    if (!query_ends(promoter)) return;
    int64_t backlog = 0;
    for (size_t i = 0; i < pr->n_parts; i++) {
        const mm_promoter__part_t *part = &pr->parts[i];
        /* No stored offset: it starts at the first message the broker still holds. */
        int64_t from = part->next > part->low ? part->next : part->low;
        if (part->end > from) backlog += part->end - from;
    }
    atomic_store(&pr->backlog, backlog);
    if (backlog > 0) return;
    atomic_store(&pr->state, PROGRESS_CAUGHT_UP);
    mm_log_info("caught_up", "caught up on %s: %zu partition(s) handled to their end",
                MM_TOPIC_MODELS, pr->n_parts);
    mm_promoter__progress_free(promoter); /* nothing more to follow */
}

typedef struct lag_seen {
    mm_promoter__progress_t *pr;
    bool seen[MM_PROMOTER__LAG_PARTITIONS];
} lag_seen_t;

static void set_lag(mm_promoter__progress_t *pr, int32_t partition, double value) {
    char topic[] = MM_TOPIC_MODELS, part[16];
    snprintf(part, sizeof(part), "%d", (int)partition);
    const char *labels[] = {topic, part};
    mm_metric_set(pr->lag, labels, value);
}

static void on_lag(void *opaque, const char *topic, int32_t partition, int64_t lag) {
    lag_seen_t *ls = opaque;
    mm_promoter__progress_t *pr = ls->pr;
    if (strcmp(topic, MM_TOPIC_MODELS) != 0) return;
    size_t i = 0;
    while (i < pr->n_lag_partitions && pr->lag_partitions[i] != partition) i++;
    if (i == pr->n_lag_partitions) {
        if (i == MM_PROMOTER__LAG_PARTITIONS) return; /* the registry holds no more series */
        pr->lag_partitions[pr->n_lag_partitions++] = partition;
    }
    ls->seen[i] = true;
    if (lag >= 0) set_lag(pr, partition, (double)lag); /* unknown yet: keep the last value */
}

static void publish_lag(mm_promoter_t *promoter) {
    mm_promoter__progress_t *pr = &promoter->progress;
    int64_t now = mm_mono_ms();
    if (!pr->lag || now < pr->next_publish_ms) return;
    pr->next_publish_ms = now + PROGRESS_PUBLISH_MS;
    lag_seen_t ls = {.pr = pr};
    char errstr[256];
    if (mm_kafka_consumer_lag(promoter->consumer, on_lag, &ls, errstr, sizeof(errstr)) != MM_OK)
        return;
    for (size_t i = 0; i < pr->n_lag_partitions; i++)
        if (!ls.seen[i]) set_lag(pr, pr->lag_partitions[i], 0);
}

void mm_promoter__progress_poll(mm_promoter_t *promoter) {
    update_readiness(promoter);
    publish_lag(promoter);
}

void mm_promoter__progress_handled(mm_promoter_t *promoter, int32_t partition, int64_t offset) {
    mm_promoter__progress_t *pr = &promoter->progress;
    if (atomic_load(&pr->state) != PROGRESS_CATCHING_UP) return;
    mm_promoter__part_t *part = part_find(pr, partition);
    if (part && offset + 1 > part->next) part->next = offset + 1;
    update_readiness(promoter);
}

void mm_promoter__progress_stopped(mm_promoter_t *promoter) {
    atomic_store(&promoter->progress.state, PROGRESS_STOPPED);
}

bool mm_promoter_ready(void *opaque, char *reason, size_t reason_size) {
    mm_promoter_t *promoter = opaque;
    if (!promoter->db) {
        snprintf(reason, reason_size, "registry not open");
        return false;
    }
    int64_t backlog = atomic_load(&promoter->progress.backlog);
    switch (atomic_load(&promoter->progress.state)) {
    case PROGRESS_CAUGHT_UP:
        return true;
    case PROGRESS_STOPPED:
        snprintf(reason, reason_size, "stopping");
        return false;
    case PROGRESS_CATCHING_UP:
        if (backlog >= 0)
            snprintf(reason, reason_size, "catching up on %s: lag %" PRId64, MM_TOPIC_MODELS,
                     backlog);
        else
            snprintf(reason, reason_size, "catching up on %s: reading its end", MM_TOPIC_MODELS);
        return false;
    default:
        snprintf(reason, reason_size, "no partitions of %s assigned", MM_TOPIC_MODELS);
        return false;
    }
}
