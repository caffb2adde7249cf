/*
 * records.h - the six record types that travel on the topics
 * (docs/ARCHITECTURE.md, "Topics and records"), as plain C structs. The Avro schemas in schemas/
 * are their wire form; the codec in common/src/avro*.c converts between the two, driven by one
 * descriptor table per record (common/src/avro_records.c): a field added here
 * needs its .avsc field and one row there.
 *
 * Ownership: a decoded record owns every pointer in it; free them with the
 * matching mm_<record>_clear(), which leaves the struct zeroed (accepts a
 * zeroed struct). For encoding, the struct is only read, so its strings and
 * bytes are const: a caller may point them at borrowed storage without casts.
 * Optional strings are NULL when absent. Times are epoch milliseconds (UTC).
 * Missing numeric values are NaN.
 */
#ifndef MM_RECORDS_H
#define MM_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/err.h"

/* ------------------------------------------------------- ObservationBatch */

typedef struct mm_obs_column {
    const char *name; /* exogenous feature column name, as in the dataset spec */
    double *values;   /* n_rows values; NaN = missing */
} mm_obs_column_t;

typedef struct mm_observation_batch {
    const char *dataset;          /* dataset spec name */
    const char *spec_hash;        /* sha256 hex of the canonical dataset spec */
    const char *partition_key;    /* canonical key: "store=12/item=345" */
    const char *load_id;          /* identifies one ingest run (one load) */
    const char *source;           /* file path, "-" for stdin, or blob URI */
    int32_t batch_seq;            /* 0,1,2,... per key within the load */
    bool end_of_load;             /* last batch of this key in this load */
    int64_t load_rows_for_key;    /* on end_of_load: rows of this key in the whole load; else -1 */
    int32_t load_batches_for_key; /* on end_of_load: batches of this key in the load; else -1 */
    size_t n_rows;
    int64_t *time_ms; /* n_rows observation times */
    double *target;   /* n_rows target values (label for classify) */
    int64_t *line;    /* n_rows source line numbers (lineage) */
    size_t n_columns;
    mm_obs_column_t *columns;
    int64_t produced_at_ms;
    /* Entities (docs/dataset-spec.md, "Entities"): the batch's distinct
     * canonical entities, and one index into them per row; both empty when
     * the spec names no entity columns (and in records written before them).
     * mm_observation_batch_entity() reads a row's entity, checked. */
    size_t n_entities;
    const char **entities;
    size_t n_entity_of_row; /* 0 or n_rows */
    int32_t *entity_of_row;
} mm_observation_batch_t;

void mm_observation_batch_clear(mm_observation_batch_t *rec);

/**
 * @brief Check a decoded batch's entities: entity_of_row empty or one per
 * row, every index within entities, every entity non-empty.
 * @returns MM_ERR_PARSE with errstr naming the field and the row.
 */
mm_err_t mm_observation_batch_entities_check(const mm_observation_batch_t *rec, char *errstr,
                                             size_t errstr_size);
/** @returns row @p i's entity, "" when the batch has none (checked batch only). */
const char *mm_observation_batch_entity(const mm_observation_batch_t *rec, size_t i);

/* ---------------------------------------------------------- ModelTrained */

typedef struct mm_metric {
    const char *name; /* "rmse", "mae", "smape", "mase", "bias", "accuracy", ... */
    double value;
} mm_metric_t;

typedef struct mm_model_trained {
    const char *train_id; /* sha256 hex of key + spec hash + data watermark */
    const char *dataset;
    const char *spec_hash;
    const char *partition_key;
    const char *algorithm; /* "snaive", "ets", "croston", "ridge", "xgboost", ... */
    bool fallback;         /* a declared fallback (too little history), not a selected model */
    const char *fallback_reason; /* optional */
    const char *artifact_uri;    /* blob name under candidates/ */
    const char *artifact_sha256;
    int64_t artifact_size;
    int32_t artifact_format; /* artifact format version */
    size_t n_metrics;
    mm_metric_t *metrics; /* holdout / backtest metrics of the chosen model */
    size_t n_baseline;
    mm_metric_t *baseline;   /* the seasonal-naive baseline on the same windows */
    int64_t data_start_ms;   /* first observation time used */
    int64_t data_end_ms;     /* last observation time used: the data watermark */
    int64_t n_rows;          /* observations used */
    const char *data_digest; /* sha256 hex over the training rows */
    const char *load_id;     /* the load whose end triggered training (optional) */
    int64_t trained_at_ms;
    const char *trainer; /* trainer instance id */
    /* What training changed in the config for this key (season or long lags
     * dropped for a short history, a default candidate left out); optional:
     * NULL when nothing, and in records written before schema id 11. */
    const char *adjustments;
} mm_model_trained_t;

void mm_model_trained_clear(mm_model_trained_t *rec);

/* --------------------------------------------------------- ModelDecision */

typedef enum mm_decision_kind {
    MM_DECISION_APPROVED = 0,    /* candidate became champion */
    MM_DECISION_REJECTED = 1,    /* candidate failed policy; production unchanged */
    MM_DECISION_ROLLED_BACK = 2, /* manual rollback to the previous champion */
    MM_DECISION_PROMOTED = 3,    /* manual promotion of a given version */
    MM_DECISION_FALLBACK = 4,    /* no approved model: production is a declared fallback */
} mm_decision_kind_t;

const char *mm_decision_kind_name(mm_decision_kind_t kind); /* "approved", ... */

typedef struct mm_production_model {
    const char *train_id;
    int32_t version; /* registry version number for the key (1, 2, ...) */
    const char *algorithm;
    const char *artifact_uri; /* blob name under production/ */
    const char *artifact_sha256;
    int64_t artifact_size;
    int64_t data_end_ms; /* data watermark of the training data */
    int64_t n_rows;
    const char *load_id;
} mm_production_model_t;

typedef struct mm_model_decision {
    const char *partition_key;
    const char *dataset;
    const char *spec_hash;
    mm_decision_kind_t decision;
    const char *reason;             /* human-readable policy outcome */
    const char *candidate_train_id; /* the version this decision is about */
    int32_t candidate_version;
    int64_t decided_at_ms;
    bool has_production;              /* false: the key has no production model */
    mm_production_model_t production; /* the key's production model after this decision */
} mm_model_decision_t;

void mm_model_decision_clear(mm_model_decision_t *rec);

/* ---------------------------------------------------------- ScoreRequest */

typedef struct mm_score_request {
    const char *request_id;
    const char *partition_key;
    const char *dataset; /* optional */
    int32_t horizon;     /* forecast: steps ahead; 0 = the spec's horizon */
    size_t n_features;
    const char **feature_names; /* n_features */
    size_t n_rows;    /* classify: rows to score; forecast: known future exogenous values */
    int64_t *time_ms; /* n_rows */
    double *values;   /* n_rows * n_features, row-major */
    int64_t requested_at_ms;
} mm_score_request_t;

void mm_score_request_clear(mm_score_request_t *rec);

/* -------------------------------------------------------- PredictionBatch */

typedef enum mm_prediction_status {
    MM_PREDICTION_OK = 0,
    MM_PREDICTION_NO_MODEL = 1, /* the key has no production model: nothing is guessed */
    MM_PREDICTION_ERROR = 2,    /* the model could not be loaded or applied: see message */
} mm_prediction_status_t;

const char *mm_prediction_status_name(mm_prediction_status_t status);

typedef struct mm_prediction_batch {
    const char *request_id;
    const char *partition_key;
    const char *dataset;
    mm_prediction_status_t status;
    const char *message;  /* optional */
    const char *train_id; /* optional when status != OK */
    int32_t model_version;
    const char *algorithm;     /* optional */
    int64_t data_watermark_ms; /* time of the latest observation the prediction used (scoring
                                  data; the training data's end when there was none); -1 none */
    const char *load_id;       /* optional: the load that delivered that observation */
    double interval_level;     /* e.g. 0.95 */
    size_t n;
    int64_t *time_ms; /* target times */
    double *value;    /* point forecast or probability */
    double *lower;    /* NaN when not available */
    double *upper;
    int64_t produced_at_ms;
    bool fallback;             /* answered by a declared fallback, not an approved model */
    int64_t model_data_end_ms; /* data_end of the model's training data; -1 none */
    int32_t new_observations;  /* observations after the model's training data that were used */
    int32_t planned_steps;     /* steps whose known-in-advance covariates were all planned */
    int32_t carried_steps;     /* steps where a known-in-advance covariate was carried forward */
    const char *entity;        /* optional: the entity answered inside the key (machine_id=42) */
} mm_prediction_batch_t;

void mm_prediction_batch_clear(mm_prediction_batch_t *rec);

/* ------------------------------------------------------------ DeadLetter */

typedef struct mm_dead_letter {
    const char *service;       /* "mm-ingest", "mm-trainer", ... */
    const char *error_code;    /* mm_err_name(): "MM_ERR_PARSE" */
    const char *reason;        /* what failed, why */
    const char *partition_key; /* optional */
    const char *source_topic;  /* optional */
    int32_t source_partition;  /* -1 if not from Kafka */
    int64_t source_offset;     /* -1 if not from Kafka */
    const char *source_file;   /* optional */
    int64_t source_line;       /* -1 if not from a file */
    const uint8_t *original;   /* the original bytes (row text or message value); may be NULL */
    size_t original_len;
    int64_t failed_at_ms;
} mm_dead_letter_t;

void mm_dead_letter_clear(mm_dead_letter_t *rec);

#endif
