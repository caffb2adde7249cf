/*
 * intake.c - mm-trainer's poll-thread side of a consumed record: decode the
 * ObservationBatch, check it was produced under this trainer's dataset spec,
 * and apply it to the state store with its offset in one transaction, or
 * dead-letter it (with its offset) when it cannot be used. Also where an
 * assigned partition resumes.
 *
 * Workload: one call per record, thousands of records a second during a
 * load; the cost is the SQLite transaction, so nothing here allocates beyond
 * the decoded batch.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/avro.h"
#include "mm/log.h"
#include "mm/util.h"
#include "trainer_int.h"

/* Room for the decoder's message plus the record's coordinates. */
#define REASON_MAX 700

/* Dead-letter a record we cannot use: outbox + offset in one transaction. */
static mm_err_t dead_letter_msg(mm_trainer_t *t, const mm_kafka_msg_t *msg, mm_err_t why,
                                const char *reason, char *errstr, size_t errstr_size) {
    mm_err_t err = mm_consumer_state_dead_letter_message(t->store.offsets, msg, why, reason, errstr,
                                                         errstr_size);
    if (!err) {
        t->dead_letters++;
        mm_trainer__metrics_dead_letter(t, why);
    }
    return err;
}

mm_err_t mm_trainer__handle_message(mm_trainer_t *t, const mm_kafka_msg_t *msg) {
    char errstr[512];
    char reason[REASON_MAX];
    mm_observation_batch_t batch = {0};
    mm_err_t err = mm_avro_decode_observation_batch(msg->value, msg->value ? msg->value_len : 0,
                                                    &batch, errstr, sizeof(errstr));
    if (err) {
        snprintf(reason, sizeof(reason), "%s [%d] offset %" PRId64 ": %s", msg->topic,
                 msg->partition, msg->offset, errstr);
        err = dead_letter_msg(t, msg, err, reason, errstr, sizeof(errstr));
        goto out;
    }
    if (!err && (err = mm_observation_batch_entities_check(&batch, errstr, sizeof(errstr)))) {
        snprintf(reason, sizeof(reason), "%s [%d] offset %" PRId64 ": %s", msg->topic,
                 msg->partition, msg->offset, errstr);
        err = dead_letter_msg(t, msg, err, reason, errstr, sizeof(errstr));
        goto out;
    }
    if (!batch.spec_hash || strcmp(batch.spec_hash, t->spec->hash) != 0) {
        snprintf(reason, sizeof(reason),
                 "dataset spec mismatch: record was produced with spec %.16s..., this trainer "
                 "runs spec %.16s... (%s)",
                 batch.spec_hash ? batch.spec_hash : "(none)", t->spec->hash, t->spec->name);
        err = dead_letter_msg(t, msg, MM_ERR_CONFIG, reason, errstr, sizeof(errstr));
        goto out;
    }
    mm_trainer_batch_outcome_t outcome;
    err = mm_trainer_store_apply_batch(&t->store, msg->topic, msg->partition, msg->offset, &batch,
                                       &outcome, errstr, sizeof(errstr));
    if (!err && outcome.fresh) {
        t->batches++;
        t->rows += (int64_t)batch.n_rows;
    } else if (!err) {
        t->duplicate_batches++;
    }
out:
    if (err)
        mm_log_error("state_write_failed", "%s [%d] offset %" PRId64 ": %s", msg->topic,
                     msg->partition, msg->offset, errstr);
    mm_observation_batch_clear(&batch);
    return err;
}

int64_t mm_trainer__on_assign(void *opaque, const char *topic, int32_t partition) {
    mm_trainer_t *t = opaque;
    atomic_fetch_add(&t->assigned_partitions, 1);
    return mm_consumer_state_resume_offset(t->store.offsets, topic, partition);
}

void mm_trainer__on_revoke(void *opaque, const char *topic, int32_t partition, bool lost) {
    mm_trainer_t *t = opaque;
    atomic_fetch_sub(&t->assigned_partitions, 1);
    /* Every consumed record is durable before the next poll, so there is no
     * in-flight intake to hand back; keys already due keep training here and
     * their deterministic train ids make any overlap with the new owner harmless. */
    mm_log_info("partition_revoked", "%s [%d]%s", topic, partition, lost ? " (lost)" : "");
}
