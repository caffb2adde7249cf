/*
 * stream.c - mm-scorer's stream mode (see stream.h): start-up (scoring data
 * caught up, mm.decisions read to its end), the consumer loop over
 * mm.score-requests and mm.observations that also follows mm.decisions, and
 * the orderly stop. One request's handling is stream_request.c's; the
 * metrics stream_metrics.c's.
 *
 * Before anything else, answers that a previous run left in the outbox
 * although they were delivered are taken out of it (stream_outbox.c).
 *
 * One thread does everything that touches the state store, the sink and the
 * producer (SQLite handles belong to one thread); /healthz, /readyz and
 * /metrics are answered on the HTTP server's threads from atomics and the
 * thread-safe metrics registry.
 *
 * Workload: requests one at a time, each a cached model's forecast and two
 * small commits; observation batches as they arrive; decisions as the
 * promoter publishes them (a handful per second at most). The loop polls the
 * consumer for at most POLL_MS, then serves decisions, the outbox and the
 * producer's delivery reports, so none of them waits long on the others.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/log.h"
#include "mm/util.h"
#include "stream_int.h"

#define POLL_MS                   100
#define DECISIONS_PER_ROUND       500
#define HOUSEKEEPING_MS           1000  /* gauges */
#define PRUNE_MS                  60000 /* forget request ids past the window */
#define DEFAULT_DECISIONS_TIMEOUT 120000
#define SHUTDOWN_OUTBOX_FLUSH_MS  10000

static int64_t on_assign(void *opaque, const char *topic, int32_t partition) {
    mm_scorer_stream_t *st = opaque;
    atomic_fetch_add(&st->assigned, 1);
    return mm_consumer_state_resume_offset(mm_scoring_data_offsets(st->scorer->scoring), topic,
                                           partition);
}

static void on_revoke(void *opaque, const char *topic, int32_t partition, bool lost) {
    mm_scorer_stream_t *st = opaque;
    (void)topic;
    (void)partition;
    (void)lost; /* every record's effect is already durable: nothing to hand back */
    atomic_fetch_sub(&st->assigned, 1);
}

mm_scorer_stream_t *mm_scorer_stream_new(mm_scorer_t *scorer, const mm_scorer_stream_opts_t *opts,
                                         char *errstr, size_t errstr_size) {
    mm_scorer_stream_t *st = calloc(1, sizeof(*st));
    if (!st) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    st->scorer = scorer;
    if (opts) st->opts = *opts;
    atomic_init(&st->decisions_at_end, false);
    atomic_init(&st->assigned, 0);
    atomic_init(&st->running, false);
    if (mm_scorer_stream__requests_open(st, errstr, errstr_size) ||
        mm_scorer_stream__metrics_init(st, errstr, errstr_size)) {
        mm_scorer_stream_destroy(st);
        return NULL;
    }
    return st;
}

void mm_scorer_stream_destroy(mm_scorer_stream_t *st) {
    if (!st) return;
    mm_kafka_consumer_close(st->consumer);
    mm_kafka_reader_destroy(st->decisions);
    mm_scorer_stream__requests_close(st);
    free(st);
}

bool mm_scorer_stream_ready(void *stream, char *reason, size_t reason_size) {
    mm_scorer_stream_t *st = stream;
    if (!atomic_load(&st->decisions_at_end)) {
        snprintf(reason, reason_size, "reading scoring data and %s", MM_TOPIC_DECISIONS);
        return false;
    }
    if (!atomic_load(&st->running)) {
        snprintf(reason, reason_size, "not consuming %s", MM_TOPIC_SCORE_REQUESTS);
        return false;
    }
    return true;
}

void mm_scorer_stream_stats(const mm_scorer_stream_t *st, mm_scorer_stream_stats_t *stats) {
    *stats = st->stats;
}

/* Apply what mm.decisions has for us now, at most @p max records without waiting. */
static mm_err_t follow_decisions(mm_scorer_stream_t *st, int timeout_ms, int max, bool *at_end,
                                 char *errstr, size_t errstr_size) {
    int64_t applied = 0;
    mm_err_t result = MM_OK;
    for (int i = 0; i < max; i++) {
        mm_kafka_msg_t msg;
        char why[512];
        mm_err_t err = mm_kafka_reader_poll(st->decisions, timeout_ms, &msg, why, sizeof(why));
        if (err == MM_ERR_NOT_FOUND) {
            if (at_end) *at_end = true;
            continue; /* later records still come with further polls */
        }
        if (err == MM_ERR_TIMEOUT) break;
        if (err) {
            mm_log_warn("consumer_error", "%s: %s", MM_TOPIC_DECISIONS, why);
            break;
        }
        bool changed = false;
        result = mm_scorer__apply_decision(st->scorer, &msg, &changed, errstr, errstr_size);
        if (result) break;
        if (changed) applied++;
    }
    if (atomic_load(&st->running)) st->stats.decisions += applied;
    mm_scorer_stream__metrics_applied(st, 0, 0, applied);
    return result;
}

/* Read mm.decisions from the beginning to its end (bounded), keeping the reader open. */
static mm_err_t read_decisions(mm_scorer_stream_t *st, volatile sig_atomic_t *stop, char *errstr,
                               size_t errstr_size) {
    mm_scorer_t *s = st->scorer;
    st->decisions = mm_kafka_reader_new(s->cfg.bootstrap, MM_TOPIC_DECISIONS, &s->consumer_kafka,
                                        errstr, errstr_size);
    if (!st->decisions) return MM_ERR_KAFKA;
    int64_t timeout = st->opts.decisions_timeout_ms > 0 ? st->opts.decisions_timeout_ms
                                                        : DEFAULT_DECISIONS_TIMEOUT;
    int64_t deadline = mm_mono_ms() + timeout;
    bool at_end = false;
    while (!*stop && !at_end) {
        mm_err_t err = follow_decisions(st, 200, DECISIONS_PER_ROUND, &at_end, errstr, errstr_size);
        if (err) return err;
        if (!at_end && mm_mono_ms() > deadline)
            return mm_errf(MM_ERR_TIMEOUT, errstr, errstr_size,
                           "%s was not read to its end within %" PRId64 " ms", MM_TOPIC_DECISIONS,
                           timeout);
    }
    if (*stop) return mm_errf(MM_ERR_SHUTDOWN, errstr, errstr_size, "stopped while starting");
    mm_log_info("decisions_loaded", "%zu keys with a decision", mm_scorer__decision_keys(s));
    atomic_store(&st->decisions_at_end, true);
    return MM_OK;
}

/* One consumed record: a request or an observation batch, durable with its offset on MM_OK. */
static mm_err_t handle(mm_scorer_stream_t *st, const mm_kafka_msg_t *msg, char *errstr,
                       size_t errstr_size) {
    mm_err_t err;
    if (strcmp(msg->topic, MM_TOPIC_SCORE_REQUESTS) == 0) {
        err = mm_scorer_stream__handle_request(st, msg, errstr, errstr_size);
    } else {
        mm_scorer_intake_stats_t in = {0};
        err = mm_scorer__apply_observation(st->scorer, msg, &in, errstr, errstr_size);
        st->stats.observations += in.batches;
        st->stats.obs_dead_letters += in.dead_letters;
        mm_scorer_stream__metrics_applied(st, in.batches, in.rows, 0);
        if (in.dead_letters > 0) mm_scorer_stream__metrics_dead_letter(st, msg->topic);
    }
    if (!err)
        mm_kafka_consumer_store_offset(st->consumer, msg->topic, msg->partition, msg->offset + 1);
    return err;
}

static mm_err_t consume(mm_scorer_stream_t *st, volatile sig_atomic_t *stop, char *errstr,
                        size_t errstr_size) {
    mm_scorer_t *s = st->scorer;
    int64_t next_housekeeping = 0, next_prune = 0;
    while (!*stop) {
        mm_kafka_msg_t msg;
        char why[512];
        mm_err_t err = mm_kafka_consumer_poll(st->consumer, POLL_MS, &msg, why, sizeof(why));
        if (err == MM_OK) {
            err = handle(st, &msg, errstr, errstr_size);
            if (err) return err; /* the state store or the sink refused: stop, skip nothing */
        } else if (err != MM_ERR_TIMEOUT) {
            mm_log_warn("consumer_error", "%s", why);
            if (mm_err_is_fatal(err)) return mm_errf(err, errstr, errstr_size, "consumer: %s", why);
        }
        err = follow_decisions(st, 0, DECISIONS_PER_ROUND, NULL, errstr, errstr_size);
        if (err) return err;
        if (mm_outbox_drain(&s->outbox, s->producer, NULL, why, sizeof(why)))
            mm_log_warn("outbox_drain_failed", "%s", why);
        mm_kafka_producer_poll(s->producer, 0);
        int64_t now = mm_mono_ms();
        if (now >= next_housekeeping) {
            mm_scorer_stream__metrics_publish(st);
            next_housekeeping = now + HOUSEKEEPING_MS;
        }
        if (now >= next_prune) {
            mm_scorer_stream__requests_prune(st);
            next_prune = now + PRUNE_MS;
        }
    }
    return MM_OK;
}

mm_err_t mm_scorer_stream_run(mm_scorer_stream_t *st, volatile sig_atomic_t *stop, char *errstr,
                              size_t errstr_size) {
    mm_scorer_t *s = st->scorer;
    mm_scorer_intake_stats_t intake = {0};
    /* Answers a previous run left in the outbox after their delivery: not twice. */
    mm_err_t err = mm_scorer_stream__outbox_reconcile(st, errstr, errstr_size);
    if (err) return err;
    /* Start from the newest scoring data and models, then follow both. */
    err = mm_scorer_catch_up(s, stop, &intake, errstr, errstr_size);
    st->stats.obs_dead_letters += intake.dead_letters;
    mm_scorer_stream__metrics_applied(st, intake.batches, intake.rows, 0);
    if (!err) err = read_decisions(st, stop, errstr, errstr_size);
    if (err) return err;

    const char *topics[] = {MM_TOPIC_SCORE_REQUESTS, MM_TOPIC_OBSERVATIONS};
    mm_kafka_rebalance_cbs_t cbs = {.on_assign = on_assign, .on_revoke = on_revoke, .opaque = st};
    st->consumer =
        mm_kafka_consumer_new(s->cfg.bootstrap, s->cfg.group_id, topics, MM_ARRAY_SIZE(topics),
                              &s->consumer_kafka, &cbs, errstr, errstr_size);
    if (!st->consumer) return MM_ERR_KAFKA;
    atomic_store(&st->running, true);
    mm_log_info("stream_started", "answering %s in group %s", MM_TOPIC_SCORE_REQUESTS,
                s->cfg.group_id);
    err = consume(st, stop, errstr, errstr_size);

    /* Orderly stop: no more intake; the group sees where we got; what is committed goes out. */
    atomic_store(&st->running, false);
    mm_kafka_consumer_close(st->consumer);
    st->consumer = NULL;
    mm_kafka_reader_destroy(st->decisions);
    st->decisions = NULL;
    char why[512];
    if (mm_outbox_flush(&s->outbox, s->producer, SHUTDOWN_OUTBOX_FLUSH_MS, why, sizeof(why)))
        mm_log_warn("outbox_flush_failed", "%s (the rest goes at the next start)", why);
    mm_scorer_stream__metrics_publish(st);
    mm_logj(MM_LOG_INFO, "stream_stopped",
            json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "requests",
                      (json_int_t)st->stats.requests, "answered", (json_int_t)st->stats.answered,
                      "duplicates", (json_int_t)st->stats.duplicates, "dead_letters",
                      (json_int_t)st->stats.dead_letters, "predictions",
                      (json_int_t)st->stats.predictions, "observation_batches",
                      (json_int_t)st->stats.observations, "decisions",
                      (json_int_t)st->stats.decisions),
            "stream stopped");
    return err;
}
