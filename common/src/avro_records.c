/*
 * avro_records.c - the descriptors of the six record types: one static table
 * of field rows per record, in the field order of its schemas/ .avsc file.
 * Pure data and one lookup: the codec, the schema check and the typed
 * wrappers (avro_typed.c) all read these tables, and this file calls none of
 * them.
 *
 * Adding a field means its .avsc field plus one row here; the start-up schema
 * check (avro_schema_check.c) fails, naming the record and field, if a table
 * and its schema disagree. Each row macro also checks at compile time that the
 * struct member has the C type the row claims.
 */
#include "avro_int.h"

/* offsetof(T, m), refused at compile time unless T.m has C type @p ctype. */
#define TYPED(T, m, ctype)                                                                         \
    (offsetof(T, m) + 0 * sizeof(char[_Generic(((T *)0)->m, ctype : 1, default : -1)]))

#define SCALAR(T, m, k, ctype)                                                                     \
    { .name = #m, .kind = (k), .offset = TYPED(T, m, ctype) }
#define LONG(T, m)    SCALAR(T, m, MM_AVRO__LONG, int64_t)
#define INT(T, m)     SCALAR(T, m, MM_AVRO__INT, int32_t)
#define DOUBLE(T, m)  SCALAR(T, m, MM_AVRO__DOUBLE, double)
#define BOOLEAN(T, m) SCALAR(T, m, MM_AVRO__BOOLEAN, bool)
#define STRING(T, m)  SCALAR(T, m, MM_AVRO__STRING, const char *)
#define OPT_STRING(T, m)                                                                           \
    { .name = #m, .kind = MM_AVRO__STRING, .nullable = true, .offset = TYPED(T, m, const char *) }
/* A C enum is stored as an int: the size check stands in for the type check. */
#define ENUM(T, m, syms)                                                                           \
    {                                                                                              \
        .name = #m, .kind = MM_AVRO__ENUM,                                                         \
        .offset = offsetof(T, m) + 0 * sizeof(char[sizeof(((T *)0)->m) == sizeof(int) ? 1 : -1]),  \
        .symbols = (syms), .n_symbols = (int)(sizeof(syms) / sizeof((syms)[0]))                    \
    }
#define OPT_BYTES(T, m, len)                                                                       \
    {                                                                                              \
        .name = #m, .kind = MM_AVRO__BYTES, .nullable = true,                                      \
        .offset = TYPED(T, m, const uint8_t *), .count = TYPED(T, len, size_t)                     \
    }
#define OPT_RECORD(T, m, has, ctype, desc)                                                         \
    {                                                                                              \
        .name = #m, .kind = MM_AVRO__RECORD, .nullable = true, .offset = TYPED(T, m, ctype),       \
        .presence = TYPED(T, has, bool), .record = &(desc)                                         \
    }
/* An array whose length this field sets (COUNT_OWN) at the size_t member @p n. */
#define ARRAY(T, m, k, ctype, n)                                                                   \
    {                                                                                              \
        .name = #m, .kind = (k), .array = true, .offset = TYPED(T, m, ctype *),                    \
        .item_size = sizeof(ctype), .count_rule = MM_AVRO__COUNT_OWN, .count = TYPED(T, n, size_t) \
    }
#define RECORD_ARRAY(T, m, ctype, n, desc)                                                         \
    {                                                                                              \
        .name = #m, .kind = MM_AVRO__RECORD, .array = true, .offset = TYPED(T, m, ctype *),        \
        .item_size = sizeof(ctype), .count_rule = MM_AVRO__COUNT_OWN,                              \
        .count = TYPED(T, n, size_t), .record = &(desc)                                            \
    }
/* An array of scalars whose length must match a count set elsewhere (@p rule). */
#define ROWS(T, m, k, ctype, rule, n, n2, of)                                                      \
    {                                                                                              \
        .name = #m, .kind = (k), .array = true, .offset = TYPED(T, m, ctype *),                    \
        .item_size = sizeof(ctype), .count_rule = (rule), .count = (n), .count2 = (n2),            \
        .count_of = (of)                                                                           \
    }

#define N_FIELDS(fields) (sizeof(fields) / sizeof((fields)[0]))

/* ------------------------------------------------------- ObservationBatch */

#define T mm_obs_column_t
static const mm_avro__field_t obs_column_fields[] = {
    STRING(T, name),
    /* One value per row of the enclosing batch. */
    ROWS(T, values, MM_AVRO__DOUBLE, double, MM_AVRO__COUNT_PARENT,
         TYPED(mm_observation_batch_t, n_rows, size_t), 0, "len(time_ms)"),
};
#undef T
static const mm_avro__record_t obs_column = {"ObservationColumn", sizeof(mm_obs_column_t),
                                             obs_column_fields, N_FIELDS(obs_column_fields)};

#define T mm_observation_batch_t
static const mm_avro__field_t observation_batch_fields[] = {
    STRING(T, dataset),
    STRING(T, spec_hash),
    STRING(T, partition_key),
    STRING(T, load_id),
    STRING(T, source),
    INT(T, batch_seq),
    BOOLEAN(T, end_of_load),
    LONG(T, load_rows_for_key),
    INT(T, load_batches_for_key),
    ARRAY(T, time_ms, MM_AVRO__LONG, int64_t, n_rows),
    ROWS(T, target, MM_AVRO__DOUBLE, double, MM_AVRO__COUNT_SAME, TYPED(T, n_rows, size_t), 0,
         "len(time_ms)"),
    ROWS(T, line, MM_AVRO__LONG, int64_t, MM_AVRO__COUNT_SAME, TYPED(T, n_rows, size_t), 0,
         "len(time_ms)"),
    RECORD_ARRAY(T, columns, mm_obs_column_t, n_columns, obs_column),
    LONG(T, produced_at_ms),
    ARRAY(T, entities, MM_AVRO__STRING, const char *, n_entities),
    /* Empty or one per row: checked by mm_observation_batch_entities_check(). */
    ARRAY(T, entity_of_row, MM_AVRO__INT, int32_t, n_entity_of_row),
};
#undef T

/* ---------------------------------------------------------- ModelTrained */

#define T mm_metric_t
static const mm_avro__field_t metric_fields[] = {
    STRING(T, name),
    DOUBLE(T, value),
};
#undef T
static const mm_avro__record_t metric = {"Metric", sizeof(mm_metric_t), metric_fields,
                                         N_FIELDS(metric_fields)};

#define T mm_model_trained_t
static const mm_avro__field_t model_trained_fields[] = {
    STRING(T, train_id),
    STRING(T, dataset),
    STRING(T, spec_hash),
    STRING(T, partition_key),
    STRING(T, algorithm),
    BOOLEAN(T, fallback),
    OPT_STRING(T, fallback_reason),
    STRING(T, artifact_uri),
    STRING(T, artifact_sha256),
    LONG(T, artifact_size),
    INT(T, artifact_format),
    RECORD_ARRAY(T, metrics, mm_metric_t, n_metrics, metric),
    RECORD_ARRAY(T, baseline, mm_metric_t, n_baseline, metric),
    LONG(T, data_start_ms),
    LONG(T, data_end_ms),
    LONG(T, n_rows),
    STRING(T, data_digest),
    OPT_STRING(T, load_id),
    LONG(T, trained_at_ms),
    STRING(T, trainer),
    OPT_STRING(T, adjustments),
};
#undef T

/* --------------------------------------------------------- ModelDecision */

/* Indexed by mm_decision_kind_t; the symbols of DecisionKind. */
static const char *const decision_kinds[] = {"approved", "rejected", "rolled_back", "promoted",
                                             "fallback"};

#define T mm_production_model_t
static const mm_avro__field_t production_model_fields[] = {
    STRING(T, train_id),        INT(T, version),
    STRING(T, algorithm),       STRING(T, artifact_uri),
    STRING(T, artifact_sha256), LONG(T, artifact_size),
    LONG(T, data_end_ms),       LONG(T, n_rows),
    OPT_STRING(T, load_id),
};
#undef T
static const mm_avro__record_t production_model = {"ProductionModel", sizeof(mm_production_model_t),
                                                   production_model_fields,
                                                   N_FIELDS(production_model_fields)};

#define T mm_model_decision_t
static const mm_avro__field_t model_decision_fields[] = {
    STRING(T, partition_key),
    STRING(T, dataset),
    STRING(T, spec_hash),
    ENUM(T, decision, decision_kinds),
    STRING(T, reason),
    STRING(T, candidate_train_id),
    INT(T, candidate_version),
    LONG(T, decided_at_ms),
    OPT_RECORD(T, production, has_production, mm_production_model_t, production_model),
};
#undef T

/* ---------------------------------------------------------- ScoreRequest */

#define T mm_score_request_t
static const mm_avro__field_t score_request_fields[] = {
    STRING(T, request_id),
    STRING(T, partition_key),
    OPT_STRING(T, dataset),
    INT(T, horizon),
    ARRAY(T, feature_names, MM_AVRO__STRING, const char *, n_features),
    ARRAY(T, time_ms, MM_AVRO__LONG, int64_t, n_rows),
    /* Row-major: one value per row and feature. */
    ROWS(T, values, MM_AVRO__DOUBLE, double, MM_AVRO__COUNT_PRODUCT, TYPED(T, n_rows, size_t),
         TYPED(T, n_features, size_t), "len(time_ms) x len(feature_names)"),
    LONG(T, requested_at_ms),
};
#undef T

/* -------------------------------------------------------- PredictionBatch */

/* Indexed by mm_prediction_status_t; the symbols of PredictionStatus. */
static const char *const prediction_statuses[] = {"ok", "no_model", "error"};

#define T mm_prediction_batch_t
static const mm_avro__field_t prediction_batch_fields[] = {
    STRING(T, request_id),
    STRING(T, partition_key),
    STRING(T, dataset),
    ENUM(T, status, prediction_statuses),
    OPT_STRING(T, message),
    OPT_STRING(T, train_id),
    INT(T, model_version),
    OPT_STRING(T, algorithm),
    LONG(T, data_watermark_ms),
    OPT_STRING(T, load_id),
    DOUBLE(T, interval_level),
    ARRAY(T, time_ms, MM_AVRO__LONG, int64_t, n),
    ROWS(T, value, MM_AVRO__DOUBLE, double, MM_AVRO__COUNT_SAME, TYPED(T, n, size_t), 0,
         "len(time_ms)"),
    ROWS(T, lower, MM_AVRO__DOUBLE, double, MM_AVRO__COUNT_SAME, TYPED(T, n, size_t), 0,
         "len(time_ms)"),
    ROWS(T, upper, MM_AVRO__DOUBLE, double, MM_AVRO__COUNT_SAME, TYPED(T, n, size_t), 0,
         "len(time_ms)"),
    LONG(T, produced_at_ms),
    BOOLEAN(T, fallback),
    LONG(T, model_data_end_ms),
    INT(T, new_observations),
    INT(T, planned_steps),
    INT(T, carried_steps),
    OPT_STRING(T, entity),
};
#undef T

/* ------------------------------------------------------------ DeadLetter */

#define T mm_dead_letter_t
static const mm_avro__field_t dead_letter_fields[] = {
    STRING(T, service),
    STRING(T, error_code),
    STRING(T, reason),
    OPT_STRING(T, partition_key),
    OPT_STRING(T, source_topic),
    INT(T, source_partition),
    LONG(T, source_offset),
    OPT_STRING(T, source_file),
    LONG(T, source_line),
    /* Present when the pointer is non-NULL, even with length 0. */
    OPT_BYTES(T, original, original_len),
    LONG(T, failed_at_ms),
};
#undef T

/* ---------------------------------------------------------------- lookup */

#define RECORD(name, T, fields)                                                                    \
    { name, sizeof(T), fields, N_FIELDS(fields) }

static const mm_avro__record_t descriptors[MM_RECORD__COUNT] = {
    [MM_RECORD_OBSERVATION_BATCH] =
        RECORD("ObservationBatch", mm_observation_batch_t, observation_batch_fields),
    [MM_RECORD_MODEL_TRAINED] = RECORD("ModelTrained", mm_model_trained_t, model_trained_fields),
    [MM_RECORD_MODEL_DECISION] =
        RECORD("ModelDecision", mm_model_decision_t, model_decision_fields),
    [MM_RECORD_SCORE_REQUEST] = RECORD("ScoreRequest", mm_score_request_t, score_request_fields),
    [MM_RECORD_PREDICTION_BATCH] =
        RECORD("PredictionBatch", mm_prediction_batch_t, prediction_batch_fields),
    [MM_RECORD_DEAD_LETTER] = RECORD("DeadLetter", mm_dead_letter_t, dead_letter_fields),
};

const mm_avro__record_t *mm_avro__descriptor(mm_record_type_t type) {
    return &descriptors[type];
}
