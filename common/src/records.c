/*
 * records.c - the names of the record enums of records.h. The mm_<record>_clear()
 * functions are the descriptor-driven mm_avro_clear() (avro_records.c), so
 * that a field added to a record is freed without code here.
 */
#include "mm/records.h"

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
    case MM_DECISION_FALLBACK:
        return "fallback";
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
