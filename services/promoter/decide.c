/*
 * decide.c - the promoter's decision step (see promoter_int.h): a judged
 * candidate becomes a version row, aliases, an audit row and a ModelDecision
 * in the registry's outbox, all inside the transaction intake.c opened.
 *
 * What a verdict does to the key (docs/registry.md, "Policy"):
 * - approved: the candidate becomes champion, the old one previous;
 * - rejected: the candidate becomes challenger, production is unchanged;
 * - fallback (a declared fallback): never champion; while the key has no
 *   champion it is copied to production/ and named by the fallback alias,
 *   and the decision (kind fallback) carries it so a scorer serves it
 *   labelled as a fallback. A champion is never replaced by a fallback.
 * The ModelDecision always names what to serve: the champion, else the
 * fallback (kind fallback), else nothing.
 *
 * Workload: one call per consumed ModelTrained (about one per key per load);
 * a handful of indexed statements each.
 */
#include <stdio.h>
#include <string.h>

#include "policy.h"
#include "promoter_int.h"

/* The decision kind a candidate's registered status stands for. */
static mm_decision_kind_t kind_of_status(mm_registry_status_t status) {
    switch (status) {
    case MM_REGISTRY_STATUS_APPROVED:
        return MM_DECISION_APPROVED;
    case MM_REGISTRY_STATUS_FALLBACK:
        return MM_DECISION_FALLBACK;
    case MM_REGISTRY_STATUS_REJECTED:
        break;
    }
    return MM_DECISION_REJECTED;
}

mm_err_t mm_promoter__replay_check(mm_promoter_t *promoter, const mm_model_trained_t *rec,
                                   bool *replayed, mm_promoter_outcome_t *out, char *errstr,
                                   size_t errstr_size) {
    char known_key[MM_PROMOTER__KEY_MAX];
    int32_t known_version = 0, champion = 0, fallback = 0;
    mm_registry_status_t known_status = MM_REGISTRY_STATUS_REJECTED;
    *replayed = false;
    mm_err_t err =
        mm_registry_find_train_id(promoter->db, rec->train_id, known_key, sizeof(known_key),
                                  &known_version, &known_status, errstr, errstr_size);
    if (err != MM_OK || known_version <= 0) return err;
    err = mm_registry_alias_get(promoter->db, known_key, MM_ALIAS_CHAMPION, &champion, errstr,
                                errstr_size);
    if (err == MM_OK && champion <= 0)
        err = mm_registry_alias_get(promoter->db, known_key, MM_ALIAS_FALLBACK, &fallback, errstr,
                                    errstr_size);
    if (err != MM_OK) return err;
    *replayed = true;
    out->replayed = true;
    out->decision = kind_of_status(known_status);
    out->status = known_status;
    out->version = known_version;
    out->champion = champion;
    out->fallback = fallback;
    snprintf(out->reason, sizeof(out->reason), "replay of %s: already v%d (%s)", rec->train_id,
             (int)known_version, mm_registry_status_name(known_status));
    return MM_OK;
}

/* The registry row view of a just-published candidate (borrowing rec's strings). */
static void version_from_record(const mm_model_trained_t *rec, int32_t version,
                                const char *production_uri, mm_registry_version_t *v) {
    memset(v, 0, sizeof(*v));
    /* Only read (encoded into the decision): the casts never lead to a write. */
    v->version = version;
    v->train_id = (char *)rec->train_id;
    v->algorithm = (char *)rec->algorithm;
    v->production_uri = (char *)production_uri;
    v->sha256 = (char *)rec->artifact_sha256;
    v->size = rec->artifact_size;
    v->data_end_ms = rec->data_end_ms;
    v->n_rows = rec->n_rows;
    v->load_id = (char *)rec->load_id;
    v->fallback = rec->fallback;
}

/*
 * Aliases after a verdict: an approval crowns the candidate (and ends any
 * fallback service), a rejection makes it the challenger, a fallback is
 * served only where there is no champion.
 */
static mm_err_t aliases_after(mm_db_t *db, const char *partition_key, mm_registry_status_t status,
                              int32_t version, int32_t old_champion, int64_t now_ms, char *errstr,
                              size_t errstr_size) {
    switch (status) {
    case MM_REGISTRY_STATUS_REJECTED:
        /* The newest candidate that did not make it: what an operator may promote by hand. */
        return mm_registry_alias_set(db, partition_key, MM_ALIAS_CHALLENGER, version, now_ms,
                                     errstr, errstr_size);
    case MM_REGISTRY_STATUS_FALLBACK:
        if (old_champion > 0) return MM_OK;
        return mm_registry_alias_set(db, partition_key, MM_ALIAS_FALLBACK, version, now_ms, errstr,
                                     errstr_size);
    case MM_REGISTRY_STATUS_APPROVED:
        break;
    }
    mm_err_t err = MM_OK;
    if (old_champion > 0)
        err = mm_registry_alias_set(db, partition_key, MM_ALIAS_PREVIOUS, old_champion, now_ms,
                                    errstr, errstr_size);
    if (err == MM_OK)
        err = mm_registry_alias_set(db, partition_key, MM_ALIAS_CHAMPION, version, now_ms, errstr,
                                    errstr_size);
    if (err == MM_OK)
        err = mm_registry_alias_set(db, partition_key, MM_ALIAS_CHALLENGER, 0, now_ms, errstr,
                                    errstr_size);
    if (err == MM_OK)
        err = mm_registry_alias_set(db, partition_key, MM_ALIAS_FALLBACK, 0, now_ms, errstr,
                                    errstr_size);
    return err;
}

/* Whether the verdict puts the candidate itself into service (so it must be in production/). */
static bool serves_candidate(const mm_promoter_verdict_t *verdict,
                             const mm_registry_version_t *champion) {
    return verdict->status == MM_REGISTRY_STATUS_APPROVED ||
           (verdict->status == MM_REGISTRY_STATUS_FALLBACK && !champion);
}

/* The ModelDecision of a verdict, naming what the key is served with afterwards. */
static mm_err_t decision_write(mm_promoter_t *promoter, const mm_model_trained_t *rec,
                               const mm_promoter_verdict_t *verdict, int32_t version,
                               const char *production_uri, const mm_registry_version_t *champion,
                               int64_t now_ms, mm_promoter_outcome_t *out, char *errstr,
                               size_t errstr_size) {
    mm_db_t *db = promoter->db;
    const mm_spec_t *spec = promoter->spec;
    mm_registry_version_t candidate_view, served;
    memset(&served, 0, sizeof(served));
    const mm_registry_version_t *production = champion;
    mm_decision_kind_t kind = MM_DECISION_REJECTED;
    bool served_is_fallback = false;
    mm_err_t err = MM_OK;
    if (serves_candidate(verdict, champion)) {
        version_from_record(rec, version, production_uri, &candidate_view);
        production = &candidate_view;
        served_is_fallback = verdict->status == MM_REGISTRY_STATUS_FALLBACK;
        kind = served_is_fallback ? MM_DECISION_FALLBACK : MM_DECISION_APPROVED;
    } else if (!champion) {
        /* A rejection where a declared fallback serves the key: the decision still names it. */
        bool found = false;
        err = mm_registry_served_get(db, rec->partition_key, &served, &found, &served_is_fallback,
                                     errstr, errstr_size);
        production = found ? &served : NULL;
        if (found && served_is_fallback) kind = MM_DECISION_FALLBACK;
    }
    if (err == MM_OK)
        err = mm_registry_audit_add(db, now_ms, rec->partition_key, version, "judge",
                                    mm_decision_kind_name(kind), verdict->reason, promoter->actor,
                                    errstr, errstr_size);
    if (err == MM_OK) {
        mm_registry_decision_t d = {.topic = promoter->decisions_topic,
                                    .partition_key = rec->partition_key,
                                    .dataset = rec->dataset ? rec->dataset : spec->name,
                                    .spec_hash = rec->spec_hash ? rec->spec_hash : spec->hash,
                                    .kind = kind,
                                    .reason = verdict->reason,
                                    .candidate_train_id = rec->train_id,
                                    .candidate_version = version,
                                    .production = production,
                                    .now_ms = now_ms};
        err = mm_registry_decision_to_outbox(db, &d, errstr, errstr_size);
    }
    if (err == MM_OK) {
        out->decision = kind;
        out->champion = verdict->status == MM_REGISTRY_STATUS_APPROVED
                            ? version
                            : (champion ? champion->version : 0);
        out->fallback = served_is_fallback && production ? production->version : 0;
    }
    mm_registry_version_clear(&served);
    return err;
}

/* Write everything a verdict changes; the champion row (may be NULL) is borrowed. */
static mm_err_t record_verdict(mm_promoter_t *promoter, const mm_model_trained_t *rec,
                               const mm_promoter_verdict_t *verdict, const char *production_uri,
                               const mm_registry_version_t *champion,
                               const mm_promoter__source_t *source, int64_t now_ms,
                               mm_promoter_outcome_t *out, char *errstr, size_t errstr_size) {
    mm_db_t *db = promoter->db;
    int32_t version = 0;
    bool copied = serves_candidate(verdict, champion);
    mm_err_t err = mm_registry_next_version(db, rec->partition_key, &version, errstr, errstr_size);
    if (err == MM_OK) {
        mm_registry_judged_t judged = {.rec = rec,
                                       .version = version,
                                       .dataset = promoter->spec->name,
                                       .production_uri = copied ? production_uri : NULL,
                                       .status = verdict->status,
                                       .reason = verdict->reason,
                                       .failed_check = verdict->failed_check,
                                       .source_topic = source->topic,
                                       .source_partition = source->partition,
                                       .source_offset = source->offset,
                                       .now_ms = now_ms};
        err = mm_registry_version_insert(db, &judged, errstr, errstr_size);
    }
    if (err == MM_OK)
        err = aliases_after(db, rec->partition_key, verdict->status, version,
                            champion ? champion->version : 0, now_ms, errstr, errstr_size);
    if (err == MM_OK)
        err = decision_write(promoter, rec, verdict, version, production_uri, champion, now_ms, out,
                             errstr, errstr_size);
    if (err != MM_OK) return err;
    out->status = verdict->status;
    out->version = version;
    snprintf(out->reason, sizeof(out->reason), "%s", verdict->reason);
    return MM_OK;
}

mm_err_t mm_promoter__decide(mm_promoter_t *promoter, const mm_model_trained_t *rec,
                             const char *production_uri, bool published,
                             const mm_promoter__source_t *source, int64_t now_ms,
                             bool *needs_publish, mm_promoter_outcome_t *out, char *errstr,
                             size_t errstr_size) {
    mm_registry_version_t champion;
    memset(&champion, 0, sizeof(champion));
    bool has_champion = false;
    *needs_publish = false;
    mm_err_t err = mm_registry_champion_get(promoter->db, rec->partition_key, &champion,
                                            &has_champion, errstr, errstr_size);
    if (err != MM_OK) return err;

    mm_promoter_verdict_t verdict;
    const mm_registry_version_t *current = has_champion ? &champion : NULL;
    mm_promoter_policy_judge(&promoter->spec->promotion, rec, current, &verdict);
    if (serves_candidate(&verdict, current) && !published) {
        *needs_publish = true;
    } else {
        err = record_verdict(promoter, rec, &verdict, production_uri, current, source, now_ms, out,
                             errstr, errstr_size);
    }
    mm_registry_version_clear(&champion);
    return err;
}
