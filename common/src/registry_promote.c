/*
 * registry_promote.c - the registry's promotion primitives (see registry.h):
 * a decision into the outbox, the verified copy of an approved artifact to
 * production/, and the manual promote and rollback that mmctl runs.
 *
 * Workload: one call per judged candidate (decision, copy) or per operator
 * command (promote, rollback); a copy reads one artifact of a few KiB.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mm/avro.h"
#include "mm/blob_layout.h"
#include "mm/kafka.h"
#include "mm/outbox.h"
#include "mm/registry.h"
#include "mm/sha256.h"
#include "mm/util.h"

#define REGISTRY_NAME_MAX 1280 /* longest blob name we build (Azure allows 1024) */

/* ------------------------------------------------------------ decisions */

static void production_from_version(const mm_registry_version_t *v, mm_production_model_t *p) {
    p->train_id = v->train_id;
    p->version = v->version;
    p->algorithm = v->algorithm;
    p->artifact_uri = v->production_uri;
    p->artifact_sha256 = v->sha256;
    p->artifact_size = v->size;
    p->data_end_ms = v->data_end_ms;
    p->n_rows = v->n_rows;
    p->load_id = v->load_id;
}

mm_err_t mm_registry_decision_to_outbox(mm_db_t *db, const mm_registry_decision_t *d, char *errstr,
                                        size_t errstr_size) {
    mm_model_decision_t decision;
    memset(&decision, 0, sizeof(decision));
    /* Encoding only reads the struct: borrowed pointers are fine. */
    decision.partition_key = (char *)d->partition_key;
    decision.dataset = (char *)d->dataset;
    decision.spec_hash = (char *)d->spec_hash;
    decision.decision = d->kind;
    decision.reason = (char *)d->reason;
    decision.candidate_train_id = (char *)d->candidate_train_id;
    decision.candidate_version = d->candidate_version;
    decision.decided_at_ms = d->now_ms;
    decision.has_production = d->production != NULL;
    if (d->production) production_from_version(d->production, &decision.production);

    mm_err_t err = mm_avro_init(errstr, errstr_size);
    if (err != MM_OK) return err;
    mm_buf_t payload;
    mm_buf_init(&payload, MM_BUF_CAP_MESSAGE);
    err = mm_avro_encode_model_decision(&decision, &payload, errstr, errstr_size);
    if (err == MM_OK)
        err = mm_outbox_insert(db, d->topic, d->partition_key, &payload, d->now_ms, errstr,
                               errstr_size);
    mm_buf_free(&payload);
    return err;
}

/* ------------------------------------------------------------ artifacts */

mm_err_t mm_registry_artifact_publish(mm_blob_t *blob, const char *candidate,
                                      const char *production, const char *sha256_hex, int64_t size,
                                      char *errstr, size_t errstr_size) {
    if (!blob)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "no blob store configured to copy %s to %s", candidate, production);
    mm_buf_t data;
    mm_buf_init(&data, MM_BUF_CAP_ARTIFACT);
    mm_err_t err =
        mm_blob_get_verified(blob, candidate, sha256_hex, size, &data, errstr, errstr_size);
    mm_buf_free(&data);
    if (err != MM_OK) return err;

    err = mm_blob_copy(blob, candidate, production, MM_BLOB_IF_NONE_MATCH, errstr, errstr_size);
    if (err == MM_ERR_EXISTS) {
        /* Content-addressed: an existing copy must be byte-identical. */
        char actual[MM_SHA256_HEX_LEN + 1];
        mm_buf_init(&data, MM_BUF_CAP_ARTIFACT);
        err = mm_blob_get(blob, production, &data, errstr, errstr_size);
        if (err == MM_OK) {
            mm_sha256_hex(data.data, data.len, actual);
            if (strcasecmp(actual, sha256_hex) != 0)
                err = mm_errf(MM_ERR_INTEGRITY, errstr, errstr_size,
                              "%s exists with sha256 %s, expected %s", production, actual,
                              sha256_hex);
        }
        mm_buf_free(&data);
    }
    return err;
}

/* ------------------------------------------------------------ manual operations */

static const char *actor_or_default(const char *actor) {
    return actor && *actor ? actor : MM_REGISTRY_DEFAULT_ACTOR;
}

static const char *reason_or_default(const char *reason) {
    return reason && *reason ? reason : "(no reason given)";
}

/* A version never copied to production/: verify and copy it, then remember where. */
static mm_err_t promote_copy(mm_blob_t *blob, const char *partition_key,
                             mm_registry_version_t *target, char *errstr, size_t errstr_size) {
    char production_uri[REGISTRY_NAME_MAX];
    if (mm_blob_layout_production(target->artifact_uri, production_uri, sizeof(production_uri)) !=
        MM_OK)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "%s v%d: artifact '%s' is not under %s", partition_key, (int)target->version,
                       target->artifact_uri, MM_BLOB_LAYOUT_CANDIDATES);
    if (!blob)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "%s v%d was never copied to production/; a blob store is needed",
                       partition_key, (int)target->version);
    mm_err_t err = mm_registry_artifact_publish(blob, target->artifact_uri, production_uri,
                                                target->sha256, target->size, errstr, errstr_size);
    if (err != MM_OK) return err;
    free(target->production_uri);
    target->production_uri = strdup(production_uri);
    if (!target->production_uri)
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "promote: out of memory");
    return MM_OK;
}

/* The promote transaction's writes, once the champion is known to change. */
static mm_err_t promote_write(mm_db_t *db, const char *partition_key,
                              const mm_registry_version_t *target, bool copied, int32_t champion,
                              const char *text, const char *actor, int64_t now_ms, char *errstr,
                              size_t errstr_size) {
    int32_t version = target->version, challenger = 0;
    mm_err_t err = mm_registry_alias_get(db, partition_key, MM_ALIAS_CHALLENGER, &challenger,
                                         errstr, errstr_size);
    if (err == MM_OK && copied)
        err = mm_db_run(
            db, errstr, errstr_size,
            "UPDATE versions SET production_uri = ? WHERE partition_key = ? AND version = ?", "tti",
            target->production_uri, partition_key, (int64_t)version);
    if (err == MM_OK && champion > 0)
        err = mm_registry_alias_set(db, partition_key, MM_ALIAS_PREVIOUS, champion, now_ms, errstr,
                                    errstr_size);
    if (err == MM_OK)
        err = mm_registry_alias_set(db, partition_key, MM_ALIAS_CHAMPION, version, now_ms, errstr,
                                    errstr_size);
    if (err == MM_OK && challenger == version)
        err = mm_registry_alias_set(db, partition_key, MM_ALIAS_CHALLENGER, 0, now_ms, errstr,
                                    errstr_size);
    /* A key with a champion is not served a fallback any more. */
    if (err == MM_OK)
        err = mm_registry_alias_set(db, partition_key, MM_ALIAS_FALLBACK, 0, now_ms, errstr,
                                    errstr_size);
    if (err == MM_OK)
        err = mm_registry_audit_add(db, now_ms, partition_key, version, "promote",
                                    mm_decision_kind_name(MM_DECISION_PROMOTED), text,
                                    actor_or_default(actor), errstr, errstr_size);
    if (err == MM_OK) {
        mm_registry_decision_t d = {.topic = MM_TOPIC_DECISIONS,
                                    .partition_key = partition_key,
                                    .dataset = target->dataset,
                                    .spec_hash = target->spec_hash,
                                    .kind = MM_DECISION_PROMOTED,
                                    .reason = text,
                                    .candidate_train_id = target->train_id,
                                    .candidate_version = version,
                                    .production = target,
                                    .now_ms = now_ms};
        err = mm_registry_decision_to_outbox(db, &d, errstr, errstr_size);
    }
    return err;
}

mm_err_t mm_registry_promote(mm_db_t *db, mm_blob_t *blob, const char *partition_key,
                             int32_t version, const char *reason, const char *actor,
                             mm_registry_change_t *change, char *errstr, size_t errstr_size) {
    mm_registry_version_t target;
    memset(&target, 0, sizeof(target));
    memset(change, 0, sizeof(*change));
    bool found = false;
    char text[MM_REGISTRY_REASON_MAX];

    if (!partition_key || version <= 0)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "promote: key and version > 0");
    mm_err_t err =
        mm_registry_version_get(db, partition_key, version, &target, &found, errstr, errstr_size);
    if (err != MM_OK) return err;
    if (!found)
        return mm_errf(MM_ERR_NOT_FOUND, errstr, errstr_size, "%s has no version %d", partition_key,
                       (int)version);

    bool needs_copy = target.production_uri == NULL;
    if (needs_copy) err = promote_copy(blob, partition_key, &target, errstr, errstr_size);
    if (err != MM_OK) goto done;

    int64_t now_ms = mm_now_ms();
    int32_t champion = 0;
    err = mm_db_begin(db, errstr, errstr_size);
    if (err != MM_OK) goto done;
    err =
        mm_registry_alias_get(db, partition_key, MM_ALIAS_CHAMPION, &champion, errstr, errstr_size);
    if (err == MM_OK && champion == version) {
        mm_db_rollback(db);
        change->changed = false;
        change->decision = MM_DECISION_PROMOTED;
        change->version = version;
        change->champion = champion;
        snprintf(change->reason, sizeof(change->reason), "v%d is already the champion of %s",
                 (int)version, partition_key);
        goto done;
    }
    if (champion > 0)
        snprintf(text, sizeof(text), "promoted: v%d replaces champion v%d by hand: %s",
                 (int)version, (int)champion, reason_or_default(reason));
    else
        snprintf(text, sizeof(text), "promoted: v%d becomes the first champion by hand: %s",
                 (int)version, reason_or_default(reason));
    if (err == MM_OK)
        err = promote_write(db, partition_key, &target, needs_copy, champion, text, actor, now_ms,
                            errstr, errstr_size);
    if (err == MM_OK) err = mm_db_commit(db, errstr, errstr_size);
    if (err != MM_OK) {
        mm_db_rollback(db);
        goto done;
    }
    change->changed = true;
    change->decision = MM_DECISION_PROMOTED;
    change->version = version;
    change->champion = version;
    snprintf(change->reason, sizeof(change->reason), "%s", text);
done:
    mm_registry_version_clear(&target);
    return err;
}

/* The newest production version of the key older than @p version; 0 if none. */
static mm_err_t older_production(mm_db_t *db, const char *partition_key, int32_t version,
                                 int32_t *older, char *errstr, size_t errstr_size) {
    sqlite3_stmt *stmt = NULL;
    *older = 0;
    mm_err_t err = mm_db_query_cached(db, &stmt, errstr, errstr_size,
                                      "SELECT coalesce(max(version), 0) FROM versions"
                                      " WHERE partition_key = ? AND version < ?"
                                      " AND production_uri IS NOT NULL",
                                      "ti", partition_key, (int64_t)version);
    if (err != MM_OK) return err;
    err = mm_db_step_row(db, stmt, errstr, errstr_size);
    if (err == MM_OK) *older = (int32_t)sqlite3_column_int64(stmt, 0);
    mm_db_release(db, stmt);
    return err;
}

mm_err_t mm_registry_rollback(mm_db_t *db, const char *partition_key, const char *reason,
                              const char *actor, mm_registry_change_t *change, char *errstr,
                              size_t errstr_size) {
    mm_registry_version_t restored;
    memset(&restored, 0, sizeof(restored));
    memset(change, 0, sizeof(*change));
    char text[MM_REGISTRY_REASON_MAX];
    int32_t champion = 0, previous = 0, older = 0;
    bool found = false;

    if (!partition_key) return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "rollback: no key");
    int64_t now_ms = mm_now_ms();
    mm_err_t err = mm_db_begin(db, errstr, errstr_size);
    if (err != MM_OK) return err;
    err =
        mm_registry_alias_get(db, partition_key, MM_ALIAS_CHAMPION, &champion, errstr, errstr_size);
    if (err == MM_OK)
        err = mm_registry_alias_get(db, partition_key, MM_ALIAS_PREVIOUS, &previous, errstr,
                                    errstr_size);
    if (err == MM_OK && champion <= 0)
        err = mm_errf(MM_ERR_NOT_FOUND, errstr, errstr_size, "%s has no champion", partition_key);
    if (err == MM_OK && previous <= 0)
        err = mm_errf(MM_ERR_NOT_FOUND, errstr, errstr_size,
                      "%s has no previous champion to roll back to", partition_key);
    if (err == MM_OK)
        err = mm_registry_version_get(db, partition_key, previous, &restored, &found, errstr,
                                      errstr_size);
    if (err == MM_OK && (!found || !restored.production_uri))
        err = mm_errf(MM_ERR_NOT_FOUND, errstr, errstr_size,
                      "%s: previous v%d has no production artifact", partition_key, (int)previous);
    /* The new previous: the newest production version older than the restored one. */
    if (err == MM_OK)
        err = older_production(db, partition_key, previous, &older, errstr, errstr_size);
    if (err == MM_OK) {
        snprintf(text, sizeof(text), "rolled back: v%d replaces champion v%d by hand: %s",
                 (int)previous, (int)champion, reason_or_default(reason));
        err = mm_registry_alias_set(db, partition_key, MM_ALIAS_CHAMPION, previous, now_ms, errstr,
                                    errstr_size);
    }
    if (err == MM_OK)
        err = mm_registry_alias_set(db, partition_key, MM_ALIAS_PREVIOUS, older, now_ms, errstr,
                                    errstr_size);
    if (err == MM_OK)
        err = mm_registry_audit_add(db, now_ms, partition_key, previous, "rollback",
                                    mm_decision_kind_name(MM_DECISION_ROLLED_BACK), text,
                                    actor_or_default(actor), errstr, errstr_size);
    if (err == MM_OK) {
        mm_registry_decision_t d = {.topic = MM_TOPIC_DECISIONS,
                                    .partition_key = partition_key,
                                    .dataset = restored.dataset,
                                    .spec_hash = restored.spec_hash,
                                    .kind = MM_DECISION_ROLLED_BACK,
                                    .reason = text,
                                    .candidate_train_id = restored.train_id,
                                    .candidate_version = previous,
                                    .production = &restored,
                                    .now_ms = now_ms};
        err = mm_registry_decision_to_outbox(db, &d, errstr, errstr_size);
    }
    if (err == MM_OK) err = mm_db_commit(db, errstr, errstr_size);
    if (err != MM_OK) {
        mm_db_rollback(db);
    } else {
        change->changed = true;
        change->decision = MM_DECISION_ROLLED_BACK;
        change->version = previous;
        change->champion = previous;
        snprintf(change->reason, sizeof(change->reason), "%s", text);
    }
    mm_registry_version_clear(&restored);
    return err;
}
