/*
 * spec_json.c - the effective configuration of a loaded dataset spec as
 * JSON (see mm_spec_effective_json() in spec.h): the document's fields with
 * every default written out, so an operator sees what a service will do
 * with a spec that leaves fields out (mm-ingest --check-spec).
 *
 * Workload: once per check; clarity over speed.
 */
#include <stdbool.h>
#include <stdlib.h>

#include <jansson.h>

#include "mm/spec.h"

#define SPEC_JSON_INDENT 2

/* Accumulates failures: any failed set leaves ok false, checked once at the end. */
typedef struct json_builder {
    bool ok;
} json_builder_t;

static void put(json_builder_t *b, json_t *obj, const char *name, json_t *value) {
    if (!value || json_object_set_new(obj, name, value) != 0) b->ok = false;
}

static void append(json_builder_t *b, json_t *arr, json_t *value) {
    if (!value || json_array_append_new(arr, value) != 0) b->ok = false;
}

static json_t *string_list(json_builder_t *b, char *const *items, size_t n) {
    json_t *arr = json_array();
    if (!arr) {
        b->ok = false;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) append(b, arr, json_string(items[i]));
    return arr;
}

static json_t *int_list(json_builder_t *b, const int *items, size_t n) {
    json_t *arr = json_array();
    if (!arr) {
        b->ok = false;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) append(b, arr, json_integer(items[i]));
    return arr;
}

static json_t *new_object(json_builder_t *b) {
    json_t *obj = json_object();
    if (!obj) b->ok = false;
    return obj;
}

static json_t *time_json(json_builder_t *b, const mm_spec_t *spec) {
    json_t *o = new_object(b);
    if (!o) return NULL;
    put(b, o, "column", json_string(spec->time_column));
    put(b, o, "format", json_string(spec->time_format));
    put(b, o, "frequency", json_string(mm_freq_name(spec->freq)));
    put(b, o, "period_ms", json_integer(spec->model.period_ms));
    return o;
}

static json_t *target_json(json_builder_t *b, const mm_spec_t *spec) {
    json_t *o = new_object(b);
    if (!o) return NULL;
    if (spec->event_column) {
        put(b, o, "event_column", json_string(spec->event_column));
        put(b, o, "lookahead", json_integer(spec->model.lookahead));
    } else {
        put(b, o, "column", json_string(spec->target_column));
    }
    return o;
}

static json_t *features_json(json_builder_t *b, const mm_spec_t *spec) {
    const mm_feature_config_t *f = &spec->model.features;
    json_t *o = new_object(b);
    if (!o) return NULL;
    put(b, o, "exogenous", string_list(b, spec->feature_columns, spec->n_feature_columns));
    json_t *known = json_array();
    if (!known) b->ok = false;
    for (size_t j = 0; known && j < spec->n_feature_columns; j++)
        if (f->known_in_advance & (UINT32_C(1) << j))
            append(b, known, json_string(spec->feature_columns[j]));
    put(b, o, "known_in_advance", known);
    put(b, o, "lags", int_list(b, f->lags, f->n_lags));
    put(b, o, "calendar", json_boolean(f->calendar));
    put(b, o, "rolling_windows", int_list(b, f->windows, f->n_windows));
    return o;
}

/* "algorithms" as the document would say it; "candidates" the algorithms it means. */
static void algorithms_json(json_builder_t *b, json_t *root, const mm_spec_t *spec) {
    uint32_t mask = spec->model.candidates;
    json_t *algorithms = json_array(), *candidates = json_array();
    if (!algorithms || !candidates) b->ok = false;
    if (algorithms && candidates) {
        for (int a = 0; a < MM_ALGO__COUNT; a++) {
            if (!(mask & (1u << a))) continue;
            json_t *name = json_string(mm_algo_name((mm_algo_t)a));
            if (a == MM_ALGO_AUTO)
                append(b, algorithms, name);
            else
                append(b, candidates, name);
        }
        if (!(mask & (1u << MM_ALGO_AUTO)))
            for (size_t i = 0; i < json_array_size(candidates); i++)
                append(b, algorithms, json_incref(json_array_get(candidates, i)));
    }
    put(b, root, "algorithms", algorithms);
    put(b, root, "candidates", candidates);
}

static json_t *retrain_json(json_builder_t *b, const mm_retrain_policy_t *rp) {
    json_t *o = new_object(b);
    if (!o) return NULL;
    put(b, o, "on_end_of_load", json_boolean(rp->on_end_of_load));
    put(b, o, "min_new_rows", json_integer(rp->min_new_rows));
    put(b, o, "max_age_seconds", json_integer(rp->max_age_s));
    put(b, o, "debounce_ms", json_integer(rp->debounce_ms));
    return o;
}

static json_t *promotion_json(json_builder_t *b, const mm_promotion_policy_t *pp) {
    static const char *const ops[] = {
        [MM_OP_LT] = "<", [MM_OP_LE] = "<=", [MM_OP_GT] = ">", [MM_OP_GE] = ">="};
    json_t *o = new_object(b);
    if (!o) return NULL;
    put(b, o, "metric", json_string(mm_metric_name(pp->metric)));
    if (pp->has_threshold) {
        json_t *th = new_object(b);
        if (th) {
            put(b, th, "op", json_string(ops[pp->op]));
            put(b, th, "value", json_real(pp->threshold));
        }
        put(b, o, "threshold", th);
    } else {
        put(b, o, "threshold", json_null());
    }
    put(b, o, "margin", json_real(pp->margin));
    put(b, o, "require_beats_baseline", json_boolean(pp->require_beats_baseline));
    return o;
}

/* Model library settings the spec does not expose, shown so nothing is hidden. */
static json_t *library_json(json_builder_t *b, const mm_model_config_t *mc) {
    json_t *o = new_object(b);
    if (!o) return NULL;
    put(b, o, "ensemble_max", json_integer(mc->ensemble_max));
    put(b, o, "xgb_min_history", json_integer(mc->xgb_min_history));
    put(b, o, "train_window", json_integer(mc->train_window));
    put(b, o, "xgb_max_bin", json_integer(mc->xgb_max_bin));
    put(b, o, "xgb_colsample", json_real(mc->xgb_colsample));
    return o;
}

char *mm_spec_effective_json(const mm_spec_t *spec) {
    if (!spec || !spec->name) return NULL;
    const mm_model_config_t *mc = &spec->model;
    json_builder_t b = {true};
    json_t *root = json_object();
    if (!root) return NULL;
    put(&b, root, "name", json_string(spec->name));
    put(&b, root, "task", json_string(spec->task == MM_TASK_CLASSIFY ? "classify" : "forecast"));
    put(&b, root, "key", string_list(&b, spec->key_columns, spec->n_key_columns));
    put(&b, root, "entity", string_list(&b, spec->entity_columns, spec->n_entity_columns));
    put(&b, root, "time", time_json(&b, spec));
    put(&b, root, "target", target_json(&b, spec));
    put(&b, root, "features", features_json(&b, spec));
    put(&b, root, "horizon", json_integer(mc->horizon));
    put(&b, root, "holdout", json_integer(mc->holdout));
    put(&b, root, "backtest_windows", json_integer(mc->backtest_windows));
    put(&b, root, "backtest_fits",
        json_integer(mc->backtest_fits > 0 ? mc->backtest_fits : mc->backtest_windows));
    put(&b, root, "season_length", json_integer(mc->season_length));
    put(&b, root, "min_history", json_integer(mc->min_history));
    algorithms_json(&b, root, spec);
    put(&b, root, "fallback", json_string(mm_algo_name(mc->fallback)));
    put(&b, root, "selection_metric", json_string(mm_metric_name(mc->selection_metric)));
    put(&b, root, "interval_level", json_real(mc->interval_level));
    put(&b, root, "retrain", retrain_json(&b, &spec->retrain));
    put(&b, root, "promotion", promotion_json(&b, &spec->promotion));
    json_t *scoring = new_object(&b);
    if (scoring) put(&b, scoring, "fallback", json_string(spec->serve_fallback ? "serve" : "none"));
    put(&b, root, "scoring", scoring);
    put(&b, root, "model_library", library_json(&b, mc));
    put(&b, root, "hash", json_string(spec->hash));
    char *text = b.ok ? json_dumps(root, JSON_INDENT(SPEC_JSON_INDENT) | JSON_PRESERVE_ORDER |
                                             JSON_REAL_PRECISION(15))
                      : NULL;
    json_decref(root);
    return text;
}
