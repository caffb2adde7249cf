/*
 * intake.c - how mm-promoter takes in ModelTrained records, effectively
 * once: the consumed-offset storage (consumed_offsets in the registry), the
 * per-record transaction that writes a decision or a dead letter together
 * with the next offset, the decoding of raw mm.models messages, and the
 * seek-on-assign callback.
 *
 * Everything that ties a record's effects to its offset is in this file and
 * only here; decide.c writes the decision itself inside the transaction
 * opened here.
 *
 * Workload: one small transaction per consumed message (about one per key
 * per load), plus, when the candidate is put into service (an approval, or a
 * fallback for a key without champion), one artifact copy outside it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/avro.h"
#include "mm/blob_layout.h"
#include "mm/log.h"
#include "mm/service.h"
#include "mm/util.h"
#include "promoter_int.h"

#define INTAKE_REPLAY_ATTEMPTS 4 /* re-judge rounds when the champion changes meanwhile */

/* ------------------------------------------------------------ consumed offsets */

mm_err_t mm_promoter_stored_offset(mm_db_t *db, const char *topic, int32_t partition,
                                   int64_t *next_offset, bool *found, char *errstr,
                                   size_t errstr_size) {
    mm_consumer_state_config_t cfg = {.table = MM_PROMOTER__OFFSETS_TABLE,
                                      .service = MM_PROMOTER_SERVICE};
    mm_consumer_state_t *offsets = mm_consumer_state_new(db, &cfg, errstr, errstr_size);
    if (!offsets) return MM_ERR_DB;
    mm_err_t err =
        mm_consumer_state_load(offsets, topic, partition, next_offset, found, errstr, errstr_size);
    mm_consumer_state_destroy(offsets);
    return err;
}

int64_t mm_promoter_on_assign(void *opaque, const char *topic, int32_t partition) {
    mm_promoter_t *promoter = opaque;
    return mm_consumer_state_resume_offset(promoter->offsets, topic, partition);
}

/* ------------------------------------------------------------ dead letters */

/* The promoter's own write in a dead letter's transaction: the audit row. */
typedef struct audit_ctx {
    const mm_promoter_t *promoter;
    const char *partition_key;
    const char *reason;
} audit_ctx_t;

static mm_err_t audit_dead_letter(void *opaque, mm_db_t *db, char *errstr, size_t errstr_size) {
    const audit_ctx_t *ctx = opaque;
    return mm_registry_audit_add(db, mm_now_ms(), ctx->partition_key, 0, "dead_letter", NULL,
                                 ctx->reason, ctx->promoter->actor, errstr, errstr_size);
}

/* A dead letter for a message at (topic, partition, offset): outbox, audit row and the
 * offset past it in one transaction (mm/consumer_state.h). */
static mm_err_t dead_letter_write(mm_promoter_t *promoter, const char *topic, int32_t partition,
                                  int64_t offset, const char *partition_key, const void *original,
                                  size_t original_len, mm_err_t code, const char *reason,
                                  char *errstr, size_t errstr_size) {
    audit_ctx_t ctx = {.promoter = promoter, .partition_key = partition_key, .reason = reason};
    mm_consumer_dead_letter_t dl = {.topic = topic,
                                    .partition = partition,
                                    .offset = offset,
                                    .partition_key = partition_key,
                                    .original = original,
                                    .original_len = original_len,
                                    .code = code,
                                    .reason = reason,
                                    .also = audit_dead_letter,
                                    .also_opaque = &ctx};
    return mm_consumer_state_dead_letter(promoter->offsets, &dl, errstr, errstr_size);
}

/* Dead-letter a decoded record whose raw bytes are not at hand: re-encode it. */
static mm_err_t dead_letter_record(mm_promoter_t *promoter, const mm_model_trained_t *rec,
                                   const mm_kafka_msg_t *raw, const mm_promoter__source_t *src,
                                   mm_err_t code, const char *reason, mm_promoter_outcome_t *out,
                                   char *errstr, size_t errstr_size) {
    mm_buf_t encoded;
    mm_buf_init(&encoded, MM_BUF_CAP_MESSAGE);
    const void *original = raw ? raw->value : NULL;
    size_t original_len = raw ? raw->value_len : 0;
    char scratch[256];
    if (!raw && mm_avro_encode_model_trained(rec, &encoded, scratch, sizeof(scratch)) == MM_OK) {
        original = encoded.data;
        original_len = encoded.len;
    }
    mm_err_t err =
        dead_letter_write(promoter, src->topic, src->partition, src->offset, rec->partition_key,
                          original, original_len, code, reason, errstr, errstr_size);
    mm_buf_free(&encoded);
    if (err == MM_OK) {
        out->dead_lettered = true;
        snprintf(out->reason, sizeof(out->reason), "%s", reason);
    }
    return err;
}

mm_err_t mm_promoter_dead_letter(mm_promoter_t *promoter, const mm_kafka_msg_t *msg,
                                 const char *partition_key, mm_err_t code, const char *reason,
                                 char *errstr, size_t errstr_size) {
    return dead_letter_write(promoter, msg->topic, msg->partition, msg->offset, partition_key,
                             msg->value, msg->value_len, code, reason, errstr, errstr_size);
}

/* ------------------------------------------------------------ one record */

/* Why @p rec cannot be judged at all (written into @p reason), or MM_OK. */
static mm_err_t unjudgeable(const mm_spec_t *spec, const mm_model_trained_t *rec,
                            char *production_uri, size_t production_uri_size, char *reason,
                            size_t reason_size) {
    if (!rec->train_id || !*rec->train_id || !rec->partition_key || !*rec->partition_key) {
        snprintf(reason, reason_size, "ModelTrained without %s",
                 (!rec->train_id || !*rec->train_id) ? "train_id" : "partition_key");
        return MM_ERR_PARSE;
    }
    if (spec->name && rec->dataset && strcmp(spec->name, rec->dataset) != 0) {
        snprintf(reason, reason_size, "ModelTrained %s is for dataset '%s', not '%s'",
                 rec->train_id, rec->dataset, spec->name);
        return MM_ERR_CONFIG;
    }
    if (mm_blob_layout_production(rec->artifact_uri, production_uri, production_uri_size) !=
        MM_OK) {
        snprintf(reason, reason_size, "ModelTrained %s: artifact '%s' is not under %s",
                 rec->train_id, rec->artifact_uri ? rec->artifact_uri : "",
                 MM_BLOB_LAYOUT_CANDIDATES);
        return MM_ERR_INVALID_ARG;
    }
    return MM_OK;
}

/* Store the next offset (when from Kafka) and commit; on failure roll back. */
static mm_err_t commit_with_offset(mm_promoter_t *promoter, const mm_promoter__source_t *src,
                                   char *errstr, size_t errstr_size) {
    mm_db_t *db = promoter->db;
    mm_err_t err = MM_OK;
    if (src->topic)
        err = mm_consumer_state_store(promoter->offsets, src->topic, src->partition,
                                      src->offset + 1, errstr, errstr_size);
    if (err == MM_OK) err = mm_db_commit(db, errstr, errstr_size);
    if (err != MM_OK) mm_db_rollback(db);
    return err;
}

static mm_err_t handle_trained(mm_promoter_t *promoter, const mm_model_trained_t *rec,
                               const mm_kafka_msg_t *raw, const mm_promoter__source_t *src,
                               mm_promoter_outcome_t *out, char *errstr, size_t errstr_size) {
    char reason[MM_REGISTRY_REASON_MAX];
    char production_uri[MM_PROMOTER__NAME_MAX];
    mm_db_t *db = promoter->db;
    const mm_spec_t *spec = promoter->spec;

    memset(out, 0, sizeof(*out));
    /* Records that cannot be judged: dead-letter, keep going. */
    mm_err_t why =
        unjudgeable(spec, rec, production_uri, sizeof(production_uri), reason, sizeof(reason));
    if (why != MM_OK)
        return dead_letter_record(promoter, rec, raw, src, why, reason, out, errstr, errstr_size);
    if (rec->spec_hash && spec->hash[0] && strcmp(rec->spec_hash, spec->hash) != 0)
        mm_log_warn("spec_mismatch", "%s %s was trained with spec %.12s, this promoter has %.12s",
                    rec->partition_key, rec->train_id, rec->spec_hash, spec->hash);

    bool published = false;
    for (int attempt = 0; attempt < INTAKE_REPLAY_ATTEMPTS; attempt++) {
        int64_t now_ms = mm_now_ms();
        mm_err_t err = mm_db_begin(db, errstr, errstr_size);
        if (err != MM_OK) return err;

        /* Replay: the train_id is registered already -> only the offset moves. */
        bool replayed = false, needs_publish = false;
        err = mm_promoter__replay_check(promoter, rec, &replayed, out, errstr, errstr_size);
        if (err == MM_OK && !replayed)
            err = mm_promoter__decide(promoter, rec, production_uri, published, src, now_ms,
                                      &needs_publish, out, errstr, errstr_size);
        if (err != MM_OK) {
            mm_db_rollback(db);
            return err;
        }
        if (needs_publish) {
            /* Copy outside the transaction (it may take a while), then judge again. */
            mm_db_rollback(db);
            err = mm_registry_artifact_publish(promoter->blob, rec->artifact_uri, production_uri,
                                               rec->artifact_sha256, rec->artifact_size, errstr,
                                               errstr_size);
            if (err == MM_ERR_NOT_FOUND || err == MM_ERR_INTEGRITY) {
                snprintf(reason, sizeof(reason), "%s", errstr);
                return dead_letter_record(promoter, rec, raw, src, err, reason, out, errstr,
                                          errstr_size);
            }
            if (err != MM_OK) return err;
            published = true;
            continue;
        }
        err = commit_with_offset(promoter, src, errstr, errstr_size);
        if (err != MM_OK) {
            memset(out, 0, sizeof(*out));
            return err;
        }
        if (!replayed)
            mm_log_debug("decision", "%s v%d %s", rec->partition_key, (int)out->version,
                         out->reason);
        return MM_OK;
    }
    return mm_errf(MM_ERR_BUSY, errstr, errstr_size,
                   "%s: the champion kept changing while judging %s", rec->partition_key,
                   rec->train_id);
}

mm_err_t mm_promoter_handle_trained(mm_promoter_t *promoter, const mm_model_trained_t *rec,
                                    const char *topic, int32_t partition, int64_t offset,
                                    mm_promoter_outcome_t *out, char *errstr, size_t errstr_size) {
    mm_promoter__source_t src = {.topic = topic, .partition = partition, .offset = offset};
    return handle_trained(promoter, rec, NULL, &src, out, errstr, errstr_size);
}

/* ------------------------------------------------------------ raw messages */

/* The message key as a C string, when it is one; else NULL. */
static char *key_string(const mm_kafka_msg_t *msg) {
    if (!msg->key || msg->key_len == 0 || msg->key_len >= MM_PROMOTER__KEY_MAX) return NULL;
    if (memchr(msg->key, 0, msg->key_len)) return NULL;
    return mm_strndup(msg->key, msg->key_len);
}

/* Dead-letter a message that is not a ModelTrained at all. */
static mm_err_t dead_letter_message(mm_promoter_t *promoter, const mm_kafka_msg_t *msg,
                                    const void *original, size_t original_len, mm_err_t code,
                                    const char *reason, mm_promoter_outcome_t *out, char *errstr,
                                    size_t errstr_size) {
    char *key = key_string(msg);
    mm_err_t err = dead_letter_write(promoter, msg->topic, msg->partition, msg->offset, key,
                                     original, original_len, code, reason, errstr, errstr_size);
    free(key);
    if (err == MM_OK) {
        out->dead_lettered = true;
        snprintf(out->reason, sizeof(out->reason), "%s", reason);
    }
    return err;
}

mm_err_t mm_promoter_handle_message(mm_promoter_t *promoter, const mm_kafka_msg_t *msg,
                                    mm_promoter_outcome_t *out, char *errstr, size_t errstr_size) {
    char reason[MM_REGISTRY_REASON_MAX];
    memset(out, 0, sizeof(*out));
    if (!msg->value || msg->value_len == 0) {
        snprintf(reason, sizeof(reason), "empty message (tombstone) on %s", msg->topic);
        return dead_letter_message(promoter, msg, NULL, 0, MM_ERR_PARSE, reason, out, errstr,
                                   errstr_size);
    }
    mm_model_trained_t rec;
    memset(&rec, 0, sizeof(rec));
    char why[400];
    mm_err_t derr =
        mm_avro_decode_model_trained(msg->value, msg->value_len, &rec, why, sizeof(why));
    if (derr == MM_OK) {
        mm_promoter__source_t src = {
            .topic = msg->topic, .partition = msg->partition, .offset = msg->offset};
        mm_err_t err = handle_trained(promoter, &rec, msg, &src, out, errstr, errstr_size);
        mm_model_trained_clear(&rec);
        return err;
    }
    mm_model_trained_clear(&rec);
    snprintf(reason, sizeof(reason), "undecodable ModelTrained: %s", why);
    return dead_letter_message(promoter, msg, msg->value, msg->value_len, derr, reason, out, errstr,
                               errstr_size);
}
