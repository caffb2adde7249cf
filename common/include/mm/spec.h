/*
 * spec.h - the dataset spec (docs/ARCHITECTURE.md, "The dataset spec";
 * fields in docs/dataset-spec.md): one JSON file per dataset, shared by
 * every service. Validated on load; an invalid spec is
 * MM_ERR_CONFIG with "path:field: why" in errstr, never a silent default for
 * a field that is present but wrong. Its content hash (sha256 of the
 * canonical JSON) travels in records so services can detect a mismatch.
 */
#ifndef MM_SPEC_H
#define MM_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/cells.h"
#include "mm/err.h"
#include "mm/model.h"

typedef enum mm_freq {
    MM_FREQ_HOUR = 0,
    MM_FREQ_DAY = 1,
    MM_FREQ_WEEK = 2,
    MM_FREQ_MONTH = 3,
} mm_freq_t;

#define MM_SPEC_MAX_KEY_COLUMNS 8 /* of the partition key, and of the entity */
/* The partition key of a spec with no key columns: one global key, one model. */
#define MM_SPEC_GLOBAL_KEY "all"

typedef struct mm_retrain_policy {
    bool on_end_of_load;  /* train a key when its end-of-load batch arrives */
    int64_t min_new_rows; /* also train after this many new rows (0 = off) */
    int64_t
        max_age_s; /* also train when the model is older than this and new rows exist (0 = off) */
    int64_t debounce_ms; /* wait this long after a trigger to coalesce (default 1000) */
} mm_retrain_policy_t;

typedef enum mm_threshold_op { MM_OP_LT = 0, MM_OP_LE, MM_OP_GT, MM_OP_GE } mm_threshold_op_t;

typedef struct mm_promotion_policy {
    mm_metric_id_t metric; /* the metric judged, e.g. MASE */
    bool has_threshold;
    mm_threshold_op_t op; /* candidate metric <op> threshold, e.g. mase < 1.0 */
    double threshold;
    double margin; /* relative: challenger must beat champion by this fraction (0.02 = 2%) */
    bool require_beats_baseline; /* candidate must beat the seasonal-naive baseline on the metric */
} mm_promotion_policy_t;

typedef struct mm_spec {
    char *name;
    mm_task_t task;
    char *key_columns[MM_SPEC_MAX_KEY_COLUMNS];
    size_t n_key_columns; /* 0: one global key (MM_SPEC_GLOBAL_KEY) */
    /* Entity columns inside a key (docs/dataset-spec.md, "Entities"): a key's
     * model trains on the rows of all its entities and scoring answers per
     * entity. 0: the key is one series, as without the field. */
    char *entity_columns[MM_SPEC_MAX_KEY_COLUMNS];
    size_t n_entity_columns;
    char *time_column;
    char *time_format; /* strptime-style ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S") or "epoch_s" / "epoch_ms"
                          / "iso8601" */
    mm_time_kind_t time_kind; /* decided at load (mm/cells.h) */
    mm_freq_t freq;
    char *target_column; /* forecast target, or classify 0/1 label column */
    char *event_column; /* classify: event column (non-empty/non-zero = event); NULL if label column
                           used */
    char *feature_columns[MM_MODEL_MAX_EXOG]; /* exogenous numeric columns */
    size_t n_feature_columns;
    /* The model configuration: the defaults for the task and frequency
     * (mm_spec_model_defaults()), then every field the document sets. Known-
     * in-advance exogenous columns are bits of model.features.known_in_advance. */
    mm_model_config_t model;
    mm_retrain_policy_t retrain;
    mm_promotion_policy_t promotion;
    /* scoring.fallback: true ("serve", the default) answers a key without an
     * approved model with its declared fallback's forecast, labelled as one;
     * false ("none") answers it with an explicit "no model". */
    bool serve_fallback;
    char hash[65]; /* sha256 hex of the canonical JSON */
} mm_spec_t;

/** @brief Load and validate a spec file. On error @p spec is left cleared. */
mm_err_t mm_spec_load_file(const char *path, mm_spec_t *spec, char *errstr, size_t errstr_size);
/** @brief Parse and validate JSON text; @p origin names it in errors (a path). */
mm_err_t mm_spec_parse(const char *json_text, size_t len, const char *origin, mm_spec_t *spec,
                       char *errstr, size_t errstr_size);
void mm_spec_clear(mm_spec_t *spec);

/**
 * @brief The model configuration a spec starts from before its own fields
 * apply: the model library's defaults for @p task, with the period, season
 * length, horizon, holdout, backtest windows, minimum history, lags and
 * rolling windows of @p freq (forecast; classify takes the period and season
 * length). The table is in docs/dataset-spec.md ("Defaults by frequency").
 * @param cfg receives the configuration (fully overwritten).
 */
void mm_spec_model_defaults(mm_model_config_t *cfg, mm_task_t task, mm_freq_t freq);

/**
 * @brief The effective configuration of a loaded spec, every default written
 * out, as indented JSON (the document's field names; what mm-ingest
 * --check-spec prints).
 * @returns a malloc'ed NUL-terminated string, or NULL when out of memory.
 */
char *mm_spec_effective_json(const mm_spec_t *spec);

/** @returns period length in ms for @p freq (month: 30.4375 days). */
int64_t mm_freq_period_ms(mm_freq_t freq);
/** @returns "hour", "day", "week" or "month". */
const char *mm_freq_name(mm_freq_t freq);
/** @brief Parse "hour"/"hourly", "day"/"daily", "week"/"weekly", "month"/"monthly". */
bool mm_freq_parse(const char *name, mm_freq_t *out);

/**
 * @brief Canonical partition key: "col=value" per key column in spec order,
 * joined by '/', values percent-encoded where needed (anything but
 * [A-Za-z0-9._~-], so '/', '=', '%' and spaces are encoded); a spec with
 * no key columns has the one key MM_SPEC_GLOBAL_KEY.
 * @returns MM_ERR_INVALID_ARG for an empty value (a missing key), MM_ERR_NOMEM if @p out is too
 * small.
 */
mm_err_t mm_spec_partition_key(const mm_spec_t *spec, const char *const *values,
                               const size_t *value_lens, char *out, size_t out_size);

/**
 * @brief Canonical entity of a row: "col=value" per entity column, encoded
 * as the partition key is ("machine_id=42"); "" for a spec without entity
 * columns.
 * @returns MM_ERR_INVALID_ARG for an empty value, MM_ERR_NOMEM if @p out is too small.
 */
mm_err_t mm_spec_entity_key(const mm_spec_t *spec, const char *const *values,
                            const size_t *value_lens, char *out, size_t out_size);

/**
 * @brief Parse a time cell per the spec's time_format into epoch ms (UTC):
 * mm_cells_parse_time() with the spec's time kind and format.
 * @returns false if unparsable or out of range.
 */
bool mm_spec_parse_time(const mm_spec_t *spec, const char *text, size_t len, int64_t *out_ms);

/** @brief Same as mm_cells_parse_number() (kept for the spec's callers). */
bool mm_spec_parse_number(const char *text, size_t len, double *out);

/** @brief Same as mm_cells_event_value() (kept for the spec's callers). */
double mm_spec_event_value(const char *text, size_t len);

#endif
