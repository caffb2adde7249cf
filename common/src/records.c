/*
 * records.c - freeing the record structs of records.h, and the names of their
 * enums. Called once per decoded message, so it is plain and allocation-free.
 */
#include "mm/records.h"

#include <stdlib.h>
#include <string.h>

const char *mm_decision_kind_name(mm_decision_kind_t kind) {
    /* The same spellings as the DecisionKind symbols in schemas/ModelDecision.avsc. */
    switch (kind) {
    case MM_DECISION_APPROVED:
        return "approved";
    case MM_DECISION_REJECTED:
        return "rejected";
    case MM_DECISION_ROLLED_BACK:
        return "rolled_back";
    case MM_DECISION_PROMOTED:
        return "promoted";
    }
    return "unknown";
}

const char *mm_prediction_status_name(mm_prediction_status_t status) {
    /* The same spellings as the PredictionStatus symbols in schemas/PredictionBatch.avsc. */
    switch (status) {
    case MM_PREDICTION_OK:
        return "ok";
    case MM_PREDICTION_NO_MODEL:
        return "no_model";
    case MM_PREDICTION_ERROR:
        return "error";
    }
    return "unknown";
}

void mm_observation_batch_clear(mm_observation_batch_t *rec) {
    if (!rec) return;
    free(rec->dataset);
    free(rec->spec_hash);
    free(rec->partition_key);
    free(rec->load_id);
    free(rec->source);
    free(rec->time_ms);
    free(rec->target);
    free(rec->line);
    if (rec->columns) {
        for (size_t i = 0; i < rec->n_columns; i++) {
            free(rec->columns[i].name);
            free(rec->columns[i].values);
        }
    }
    free(rec->columns);
    memset(rec, 0, sizeof(*rec));
}

static void metrics_free(mm_metric_t *metrics, size_t n) {
    if (!metrics) return;
    for (size_t i = 0; i < n; i++) free(metrics[i].name);
    free(metrics);
}

void mm_model_trained_clear(mm_model_trained_t *rec) {
    if (!rec) return;
    free(rec->train_id);
    free(rec->dataset);
    free(rec->spec_hash);
    free(rec->partition_key);
    free(rec->algorithm);
    free(rec->fallback_reason);
    free(rec->artifact_uri);
    free(rec->artifact_sha256);
    metrics_free(rec->metrics, rec->n_metrics);
    metrics_free(rec->baseline, rec->n_baseline);
    free(rec->data_digest);
    free(rec->load_id);
    free(rec->trainer);
    memset(rec, 0, sizeof(*rec));
}

void mm_model_decision_clear(mm_model_decision_t *rec) {
    if (!rec) return;
    free(rec->partition_key);
    free(rec->dataset);
    free(rec->spec_hash);
    free(rec->reason);
    free(rec->candidate_train_id);
    /* Freed whatever has_production says: a partly decoded record may hold some of them. */
    free(rec->production.train_id);
    free(rec->production.algorithm);
    free(rec->production.artifact_uri);
    free(rec->production.artifact_sha256);
    free(rec->production.load_id);
    memset(rec, 0, sizeof(*rec));
}

void mm_score_request_clear(mm_score_request_t *rec) {
    if (!rec) return;
    free(rec->request_id);
    free(rec->partition_key);
    free(rec->dataset);
    if (rec->feature_names) {
        for (size_t i = 0; i < rec->n_features; i++) free(rec->feature_names[i]);
    }
    free(rec->feature_names);
    free(rec->time_ms);
    free(rec->values);
    memset(rec, 0, sizeof(*rec));
}

void mm_prediction_batch_clear(mm_prediction_batch_t *rec) {
    if (!rec) return;
    free(rec->request_id);
    free(rec->partition_key);
    free(rec->dataset);
    free(rec->message);
    free(rec->train_id);
    free(rec->algorithm);
    free(rec->load_id);
    free(rec->time_ms);
    free(rec->value);
    free(rec->lower);
    free(rec->upper);
    memset(rec, 0, sizeof(*rec));
}

void mm_dead_letter_clear(mm_dead_letter_t *rec) {
    if (!rec) return;
    free(rec->service);
    free(rec->error_code);
    free(rec->reason);
    free(rec->partition_key);
    free(rec->source_topic);
    free(rec->source_file);
    free(rec->original);
    memset(rec, 0, sizeof(*rec));
}
