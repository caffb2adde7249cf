/*
 * run.c - mm-promoter's consume loop (see mm_promoter_run() in promoter.h):
 * poll mm.models, hand each message to intake.c (retrying retriable failures
 * with backoff, never moving past an unfinished message), mirror progress to
 * Kafka for lag monitoring and to progress.c for readiness, drain the
 * registry's outbox, log a summary.
 *
 * Workload: one message per trained model; the loop polls with a short
 * timeout so a stop request and delivery reports are served promptly.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "mm/crash.h"
#include "mm/log.h"
#include "mm/util.h"
#include "promoter_int.h"

#define RUN_SUMMARY_INTERVAL_MS 10000
#define RUN_RETRY_BASE_MS       200
#define RUN_RETRY_CAP_MS        10000

typedef struct run_counts {
    int64_t messages, approved, rejected, replayed, dead_lettered, retries;
} run_counts_t;

/* Wait @p ms while serving delivery reports; returns early on stop. */
static void run_wait(mm_kafka_producer_t *producer, int64_t ms, volatile sig_atomic_t *stop) {
    int64_t end = mm_mono_ms() + ms;
    while (!*stop) {
        int64_t left = end - mm_mono_ms();
        if (left <= 0) return;
        mm_kafka_producer_poll(producer, left > 50 ? 50 : (int)left);
    }
}

static void run_summary(const run_counts_t *c, const mm_outbox_t *outbox) {
    json_t *fields = json_pack(
        "{sIsIsIsIsIsIsIsIsI}", "messages", (json_int_t)c->messages, "approved",
        (json_int_t)c->approved, "rejected", (json_int_t)c->rejected, "replayed",
        (json_int_t)c->replayed, "dead_lettered", (json_int_t)c->dead_lettered, "retries",
        (json_int_t)c->retries, "delivered", (json_int_t)outbox->delivered, "delivery_failed",
        (json_int_t)outbox->failed, "superseded", (json_int_t)outbox->superseded);
    mm_logj(MM_LOG_INFO, "progress", fields, "%lld messages handled", (long long)c->messages);
}

static mm_err_t run_loop(mm_promoter_t *promoter, volatile sig_atomic_t *stop, char *errstr,
                         size_t errstr_size) {
    mm_kafka_consumer_t *consumer = promoter->consumer;
    mm_kafka_producer_t *producer = promoter->producer;
    mm_outbox_t *outbox = &promoter->outbox;
    if (!consumer || !producer)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "promoter: made without Kafka (no bootstrap)");
    run_counts_t counts;
    memset(&counts, 0, sizeof(counts));
    int64_t last_summary = mm_mono_ms();
    bool summary_due = false;
    char why[512];

    while (!*stop) {
        mm_err_t err = mm_outbox_drain(outbox, producer, NULL, why, sizeof(why));
        if (err != MM_OK) mm_log_warn("outbox", "drain: %s", why);
        mm_kafka_producer_poll(producer, 0);

        int64_t now = mm_mono_ms();
        if (summary_due && now - last_summary >= RUN_SUMMARY_INTERVAL_MS) {
            run_summary(&counts, outbox);
            summary_due = false;
            last_summary = now;
        }

        mm_kafka_msg_t msg;
        err = mm_kafka_consumer_poll(consumer, 100, &msg, why, sizeof(why));
        /* Before the message is handled: an assignment made by this poll, readiness, lag. */
        mm_promoter__progress_poll(promoter);
        if (err == MM_ERR_TIMEOUT) continue;
        if (err != MM_OK) {
            if (mm_err_is_fatal(err)) return mm_errf(err, errstr, errstr_size, "consumer: %s", why);
            mm_log_warn("consumer", "%s", why);
            continue;
        }

        mm_promoter_outcome_t outcome;
        for (int attempt = 0;; attempt++) {
            err = mm_promoter_handle_message(promoter, &msg, &outcome, why, sizeof(why));
            if (err == MM_OK) break;
            if (!mm_err_is_retriable(err))
                return mm_errf(err, errstr, errstr_size, "%s[%d]@%lld: %s", msg.topic,
                               (int)msg.partition, (long long)msg.offset, why);
            counts.retries++;
            int64_t delay = mm_backoff_ms(attempt, RUN_RETRY_BASE_MS, RUN_RETRY_CAP_MS);
            mm_log_warn("retry", "%s[%d]@%lld: %s (attempt %d, next in %lld ms)", msg.topic,
                        (int)msg.partition, (long long)msg.offset, why, attempt + 1,
                        (long long)delay);
            run_wait(producer, delay, stop);
            if (*stop) {
                /* Not done: the stored offset still points at this message. */
                run_summary(&counts, outbox);
                return MM_OK;
            }
        }
        /* Scenario 4 of docs/reliability.md: the decision is in the registry and its
         * outbox, not yet published nor the offset stored. */
        mm_crash_point("promoter_after_registry_commit");
        /* The transaction is durable: mirror progress for lag monitoring. */
        mm_kafka_consumer_store_offset(consumer, msg.topic, msg.partition, msg.offset + 1);
        mm_promoter__progress_handled(promoter, msg.partition, msg.offset);
        summary_due = true;
        counts.messages++;
        const char *label;
        if (outcome.dead_lettered) {
            counts.dead_lettered++;
            label = "dead_letter";
        } else if (outcome.replayed) {
            counts.replayed++;
            label = "replayed";
        } else if (outcome.decision == MM_DECISION_APPROVED) {
            counts.approved++;
            label = "approved";
        } else {
            counts.rejected++;
            label = outcome.status == MM_REGISTRY_STATUS_FALLBACK ? "fallback" : "rejected";
        }
        const char *const outcome_label[] = {label};
        mm_metric_add(promoter->decisions, outcome_label, 1);
        mm_metric_set(promoter->outbox_pending, NULL, (double)mm_outbox_count(promoter->db));
    }
    run_summary(&counts, outbox);
    return MM_OK;
}

mm_err_t mm_promoter_run(mm_promoter_t *promoter, volatile sig_atomic_t *stop, char *errstr,
                         size_t errstr_size) {
    mm_err_t err = run_loop(promoter, stop, errstr, errstr_size);
    mm_promoter__progress_stopped(promoter); /* /readyz: stopping */
    return err;
}
