/*
 * intake.c - mm-scorer's catch-up on mm.observations before a batch run: a
 * member of the scorer's own consumer group, resuming each partition where
 * the state store says, applying each ObservationBatch to the scoring data
 * with its offset in one transaction (scoring_data.c), dead-lettering what
 * cannot be used through the store's outbox, and stopping once the group's
 * lag is zero on every partition.
 *
 * mm_scorer_follow() is the same loop for mm-scorer serve: it never stops at
 * the end, and reports the group's lag after each check.
 *
 * Workload: the observations that arrived since the last run (a load's worth:
 * thousands of batches), one SQLite transaction each; the lag is checked
 * only when the consumer is idle, at most once per LAG_CHECK_MS.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/avro.h"
#include "mm/log.h"
#include "mm/util.h"
#include "scorer_int.h"

#define POLL_MS                     200
#define LAG_CHECK_MS                1000
#define LAG_READ_TIMEOUT_MS         5000
#define DEFAULT_CATCH_UP_TIMEOUT_MS 300000
#define OUTBOX_FLUSH_MS             10000
#define MAX_PARTITIONS              1024
/* Room for the decoder's message plus the record's coordinates. */
#define REASON_MAX 700

typedef struct intake {
    mm_scorer_t *scorer;
    mm_kafka_consumer_t *consumer;
    mm_scorer_intake_stats_t *stats;
    int32_t assigned[MAX_PARTITIONS]; /* partitions assigned so far */
    size_t n_assigned;
    bool offsets_mirrored; /* resume offsets of idle partitions stored for the commit */
} intake_t;

static int64_t on_assign(void *opaque, const char *topic, int32_t partition) {
    intake_t *in = opaque;
    if (in->n_assigned < MAX_PARTITIONS) in->assigned[in->n_assigned++] = partition;
    in->offsets_mirrored = false;
    return mm_consumer_state_resume_offset(mm_scoring_data_offsets(in->scorer->scoring), topic,
                                           partition);
}

static mm_err_t dead_letter(mm_scorer_t *s, mm_scorer_intake_stats_t *stats,
                            const mm_kafka_msg_t *msg, mm_err_t why, const char *reason,
                            char *errstr, size_t errstr_size) {
    mm_err_t err = mm_consumer_state_dead_letter_message(mm_scoring_data_offsets(s->scoring), msg,
                                                         why, reason, errstr, errstr_size);
    if (!err) stats->dead_letters++;
    return err;
}

/* Apply one record, or dead-letter it; either way its offset is durable on MM_OK. */
mm_err_t mm_scorer__apply_observation(mm_scorer_t *s, const mm_kafka_msg_t *msg,
                                      mm_scorer_intake_stats_t *stats, char *errstr,
                                      size_t errstr_size) {
    const mm_spec_t *spec = s->cfg.spec;
    char why[512], reason[REASON_MAX];
    mm_observation_batch_t batch = {0};
    mm_err_t err = mm_avro_decode_observation_batch(msg->value, msg->value ? msg->value_len : 0,
                                                    &batch, why, sizeof(why));
    if (!err) err = mm_observation_batch_entities_check(&batch, why, sizeof(why));
    if (err) {
        snprintf(reason, sizeof(reason), "%s [%d] offset %" PRId64 ": %s", msg->topic,
                 msg->partition, msg->offset, why);
        err = dead_letter(s, stats, msg, err, reason, errstr, errstr_size);
    } else if (!batch.spec_hash || strcmp(batch.spec_hash, spec->hash) != 0) {
        snprintf(reason, sizeof(reason),
                 "dataset spec mismatch: record was produced with spec %.16s..., this scorer "
                 "runs spec %.16s... (%s)",
                 batch.spec_hash ? batch.spec_hash : "(none)", spec->hash, spec->name);
        err = dead_letter(s, stats, msg, MM_ERR_CONFIG, reason, errstr, errstr_size);
    } else {
        err = mm_scoring_data_apply(s->scoring, msg->topic, msg->partition, msg->offset, &batch,
                                    errstr, errstr_size);
        if (!err) {
            stats->batches++;
            stats->rows += (int64_t)batch.n_rows;
        }
    }
    mm_observation_batch_clear(&batch);
    return err;
}

static mm_err_t handle(intake_t *in, const mm_kafka_msg_t *msg, char *errstr, size_t errstr_size) {
    mm_err_t err = mm_scorer__apply_observation(in->scorer, msg, in->stats, errstr, errstr_size);
    if (!err)
        mm_kafka_consumer_store_offset(in->consumer, msg->topic, msg->partition, msg->offset + 1);
    return err;
}

/*
 * Mirror the resume offsets of partitions that delivered nothing into the
 * group's commit, so the lag reads zero when the state store is already
 * past everything.
 */
static void mirror_offsets(intake_t *in) {
    if (in->offsets_mirrored) return;
    mm_consumer_state_t *cs = mm_scoring_data_offsets(in->scorer->scoring);
    char errstr[256];
    for (size_t i = 0; i < in->n_assigned; i++) {
        int64_t next;
        bool found = false;
        if (mm_consumer_state_load(cs, MM_TOPIC_OBSERVATIONS, in->assigned[i], &next, &found,
                                   errstr, sizeof(errstr)) == MM_OK &&
            found)
            mm_kafka_consumer_store_offset(in->consumer, MM_TOPIC_OBSERVATIONS, in->assigned[i],
                                           next);
    }
    in->offsets_mirrored = true;
}

/* Whether the group has consumed every partition to its end; @p total (may
 * be NULL) receives the group's lag summed over the partitions, -1 unknown. */
static bool caught_up(intake_t *in, mm_kafka_lag_probe_t *probe, int64_t *total) {
    int64_t lag[MAX_PARTITIONS];
    int32_t n = 0;
    char errstr[512];
    if (total) *total = -1;
    if (mm_kafka_lag_probe_read(probe, lag, MAX_PARTITIONS, &n, LAG_READ_TIMEOUT_MS, errstr,
                                sizeof(errstr)) != MM_OK) {
        mm_log_warn("lag_read_failed", "%s", errstr);
        return false;
    }
    int64_t sum = 0;
    bool done = !(n > 0 && in->n_assigned == 0); /* not a member yet */
    for (int32_t p = 0; p < n; p++) {
        sum += lag[p] > 0 ? lag[p] : 0;
        if (lag[p] > 0) done = false;
    }
    if (total) *total = sum;
    return done;
}

/* Following (serve): keep consuming after the end and report the lag. */
typedef struct follow {
    mm_scorer_lag_fn *on_lag;
    void *opaque;
} follow_t;

static mm_err_t consume(intake_t *in, mm_kafka_lag_probe_t *probe, const follow_t *follow,
                        volatile sig_atomic_t *stop, char *errstr, size_t errstr_size) {
    mm_scorer_t *s = in->scorer;
    int64_t timeout =
        s->cfg.catch_up_timeout_ms > 0 ? s->cfg.catch_up_timeout_ms : DEFAULT_CATCH_UP_TIMEOUT_MS;
    int64_t deadline = mm_mono_ms() + timeout, next_check = 0;
    while (!*stop) {
        mm_kafka_msg_t msg;
        char why[512];
        mm_err_t err = mm_kafka_consumer_poll(in->consumer, POLL_MS, &msg, why, sizeof(why));
        if (err == MM_OK) {
            err = handle(in, &msg, errstr, errstr_size);
            if (err) return err;
        } else if (err != MM_ERR_TIMEOUT) {
            mm_log_warn("consumer_error", "%s", why);
        }
        if (mm_outbox_drain(&s->outbox, s->producer, NULL, why, sizeof(why)))
            mm_log_warn("outbox_drain_failed", "%s", why);
        mm_kafka_producer_poll(s->producer, 0);
        if (err == MM_OK || mm_mono_ms() < next_check) continue;
        mirror_offsets(in);
        int64_t lag = -1;
        bool done = caught_up(in, probe, &lag);
        next_check = mm_mono_ms() + LAG_CHECK_MS;
        if (follow) {
            follow->on_lag(follow->opaque, lag, done);
            continue;
        }
        if (done) return MM_OK;
        if (mm_mono_ms() > deadline)
            return mm_errf(MM_ERR_TIMEOUT, errstr, errstr_size,
                           "%s not caught up within %" PRId64 " ms", MM_TOPIC_OBSERVATIONS,
                           timeout);
    }
    return mm_errf(MM_ERR_SHUTDOWN, errstr, errstr_size, "stopped while catching up");
}

mm_err_t mm_scorer_catch_up(mm_scorer_t *s, volatile sig_atomic_t *stop,
                            mm_scorer_intake_stats_t *stats, char *errstr, size_t errstr_size) {
    memset(stats, 0, sizeof(*stats));
    int64_t started = mm_mono_ms();
    char why[512];
    mm_kafka_lag_probe_t *probe =
        mm_kafka_lag_probe_new(s->cfg.bootstrap, &s->consumer_kafka, s->cfg.group_id,
                               MM_TOPIC_OBSERVATIONS, why, sizeof(why));
    if (!probe) {
        /* No observations topic yet: nothing to catch up on; keys answer from their models. */
        mm_log_warn("no_scoring_data", "%s", why);
        return MM_OK;
    }
    intake_t in = {.scorer = s, .stats = stats};
    const char *topics[] = {MM_TOPIC_OBSERVATIONS};
    mm_kafka_rebalance_cbs_t cbs = {.on_assign = on_assign, .opaque = &in};
    in.consumer = mm_kafka_consumer_new(s->cfg.bootstrap, s->cfg.group_id, topics, 1,
                                        &s->consumer_kafka, &cbs, errstr, errstr_size);
    mm_err_t err =
        in.consumer ? consume(&in, probe, NULL, stop, errstr, errstr_size) : MM_ERR_KAFKA;
    mm_kafka_consumer_close(in.consumer);
    mm_kafka_lag_probe_destroy(probe);
    if (mm_outbox_flush(&s->outbox, s->producer, OUTBOX_FLUSH_MS, why, sizeof(why)))
        mm_log_warn("outbox_flush_failed", "%s (the rest goes with the next run)", why);
    mm_logj(MM_LOG_INFO, "scoring_data_caught_up",
            json_pack("{s:I, s:I, s:I, s:I}", "batches", (json_int_t)stats->batches, "rows",
                      (json_int_t)stats->rows, "dead_letters", (json_int_t)stats->dead_letters,
                      "ms", (json_int_t)(mm_mono_ms() - started)),
            "scoring data read to the end of %s", MM_TOPIC_OBSERVATIONS);
    return err;
}

mm_err_t mm_scorer_follow(mm_scorer_t *s, volatile sig_atomic_t *stop, mm_scorer_lag_fn *on_lag,
                          void *opaque, mm_scorer_intake_stats_t *stats, char *errstr,
                          size_t errstr_size) {
    memset(stats, 0, sizeof(*stats));
    char why[512];
    mm_kafka_lag_probe_t *probe = NULL;
    while (!*stop && !probe) {
        probe = mm_kafka_lag_probe_new(s->cfg.bootstrap, &s->consumer_kafka, s->cfg.group_id,
                                       MM_TOPIC_OBSERVATIONS, why, sizeof(why));
        if (probe) break;
        /* No observations topic yet: keys answer from their models meanwhile. */
        on_lag(opaque, 0, true);
        mm_log_warn("no_scoring_data", "%s (looking again in %d ms)", why, LAG_CHECK_MS * 5);
        for (int i = 0; i < 5 * LAG_CHECK_MS / POLL_MS && !*stop; i++) mm_sleep_ms(POLL_MS, NULL);
    }
    if (!probe) return mm_errf(MM_ERR_SHUTDOWN, errstr, errstr_size, "stopped");
    intake_t in = {.scorer = s, .stats = stats};
    const char *topics[] = {MM_TOPIC_OBSERVATIONS};
    mm_kafka_rebalance_cbs_t cbs = {.on_assign = on_assign, .opaque = &in};
    follow_t follow = {.on_lag = on_lag, .opaque = opaque};
    in.consumer = mm_kafka_consumer_new(s->cfg.bootstrap, s->cfg.group_id, topics, 1,
                                        &s->consumer_kafka, &cbs, errstr, errstr_size);
    mm_err_t err =
        in.consumer ? consume(&in, probe, &follow, stop, errstr, errstr_size) : MM_ERR_KAFKA;
    mm_kafka_consumer_close(in.consumer);
    mm_kafka_lag_probe_destroy(probe);
    if (mm_outbox_flush(&s->outbox, s->producer, OUTBOX_FLUSH_MS, why, sizeof(why)))
        mm_log_warn("outbox_flush_failed", "%s (the rest goes at the next start)", why);
    return err;
}
