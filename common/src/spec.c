/*
 * spec.c - the dataset spec: load, validate, hash (see spec.h and
 * docs/dataset-spec.md), and the canonical partition key; frequencies and
 * the defaults by frequency are spec_freq.c's. Reading one cell
 * of a row (time, number, event) is cells.c's; the mm_spec_parse_* functions
 * here only apply the spec's time format to it.
 *
 * Loading happens once per process and favours clear errors over speed:
 * every field is checked and an error names the file and the field path.
 * The partition key is built once per CSV row, without allocation.
 */
#include "mm/spec.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mm/buf.h"
#include "mm/cells.h"
#include "mm/fs.h"
#include "mm/sha256.h"
#include "mm/util.h"

#define SPEC_MAX_FILE_BYTES  (1u << 20)
#define SPEC_MAX_NAME        128
#define SPEC_MAX_COLUMN_NAME 256
#define SPEC_MAX_RANGE       10000
#define SPEC_MAX_TIME_FORMAT 64 /* bytes of a strptime pattern, NUL excluded */

/* ------------------------------------------------------------ validation context */

typedef struct spec_ctx {
    const char *origin;
    char *errstr;
    size_t errstr_size;
} spec_ctx_t;

/* A short rendering of a JSON value for "(got ...)" in errors. */
static void spec_render(const json_t *v, char *out, size_t out_size) {
    if (!v) {
        snprintf(out, out_size, "nothing");
        return;
    }
    if (json_is_real(v)) { /* jansson prints 17 digits: -0.1 would show as -0.10000000000000001 */
        snprintf(out, out_size, "%.15g", json_real_value(v));
        return;
    }
    char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!text) {
        snprintf(out, out_size, "?");
        return;
    }
    if (strlen(text) > 60)
        snprintf(out, out_size, "%.57s...", text);
    else
        snprintf(out, out_size, "%s", text);
    free(text);
}

/* "origin: field: why (got X)"; @p got may be NULL for no "(got ...)". */
static mm_err_t spec_fail(const spec_ctx_t *ctx, const char *field, const json_t *got,
                          const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static mm_err_t spec_fail(const spec_ctx_t *ctx, const char *field, const json_t *got,
                          const char *fmt, ...) {
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (got) {
        char shown[80];
        spec_render(got, shown, sizeof(shown));
        return mm_errf(MM_ERR_CONFIG, ctx->errstr, ctx->errstr_size, "%s: %s: %s (got %s)",
                       ctx->origin, field, why, shown);
    }
    return mm_errf(MM_ERR_CONFIG, ctx->errstr, ctx->errstr_size, "%s: %s: %s", ctx->origin, field,
                   why);
}

static void spec_path(char *out, size_t out_size, const char *parent, const char *name) {
    if (parent && *parent)
        snprintf(out, out_size, "%s.%s", parent, name);
    else
        snprintf(out, out_size, "%s", name);
}

static size_t spec_edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 64;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] == b[j - 1] ? 0 : 1);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* Unknown members are errors: a typo must not silently become a default. */
static mm_err_t spec_check_members(const spec_ctx_t *ctx, const json_t *obj, const char *parent,
                                   const char *const *allowed, size_t n_allowed) {
    const char *member;
    json_t *value;
    json_object_foreach((json_t *)obj, member, value) {
        bool known = false;
        const char *closest = NULL;
        size_t closest_d = 3;
        for (size_t i = 0; i < n_allowed; i++) {
            if (strcmp(member, allowed[i]) == 0) {
                known = true;
                break;
            }
            size_t d = spec_edit_distance(member, allowed[i]);
            if (d < closest_d) {
                closest_d = d;
                closest = allowed[i];
            }
        }
        if (known) continue;
        char path[160];
        spec_path(path, sizeof(path), parent, member);
        if (closest)
            return spec_fail(ctx, path, NULL, "unknown field (did you mean \"%s\"?)", closest);
        return spec_fail(ctx, path, NULL, "unknown field");
    }
    return MM_OK;
}

static mm_err_t spec_object(const spec_ctx_t *ctx, const json_t *parent_obj, const char *member,
                            const char *path, bool required, json_t **out) {
    json_t *v = json_object_get(parent_obj, member);
    *out = NULL;
    if (!v) return required ? spec_fail(ctx, path, NULL, "required") : MM_OK;
    if (!json_is_object(v)) return spec_fail(ctx, path, v, "must be an object");
    *out = v;
    return MM_OK;
}

static mm_err_t spec_int(const spec_ctx_t *ctx, const json_t *obj, const char *member,
                         const char *parent, int64_t lo, int64_t hi, int64_t *out) {
    json_t *v = json_object_get(obj, member);
    if (!v) return MM_OK; /* *out keeps its default */
    char path[160];
    spec_path(path, sizeof(path), parent, member);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return spec_fail(ctx, path, v, "must be an integer between %lld and %lld", (long long)lo,
                         (long long)hi);
    *out = (int64_t)json_integer_value(v);
    return MM_OK;
}

static mm_err_t spec_int32(const spec_ctx_t *ctx, const json_t *obj, const char *member,
                           const char *parent, int64_t lo, int64_t hi, int *out) {
    int64_t v = *out;
    mm_err_t err = spec_int(ctx, obj, member, parent, lo, hi, &v);
    if (!err) *out = (int)v;
    return err;
}

/* A number in [lo, hi], with either end exclusive as asked. */
static mm_err_t spec_number(const spec_ctx_t *ctx, const json_t *obj, const char *member,
                            const char *parent, double lo, bool lo_open, double hi, bool hi_open,
                            double *out) {
    json_t *v = json_object_get(obj, member);
    if (!v) return MM_OK;
    char path[160];
    spec_path(path, sizeof(path), parent, member);
    double x = json_is_number(v) ? json_number_value(v) : NAN;
    if (!json_is_number(v) || !isfinite(x) || (lo_open ? x <= lo : x < lo) ||
        (hi_open ? x >= hi : x > hi))
        return spec_fail(ctx, path, v, "must be a number %s %g and %s %g",
                         lo_open ? "greater than" : "at least", lo,
                         hi_open ? "less than" : "at most", hi);
    *out = x;
    return MM_OK;
}

static mm_err_t spec_bool(const spec_ctx_t *ctx, const json_t *obj, const char *member,
                          const char *parent, bool *out) {
    json_t *v = json_object_get(obj, member);
    if (!v) return MM_OK;
    char path[160];
    spec_path(path, sizeof(path), parent, member);
    if (!json_is_boolean(v)) return spec_fail(ctx, path, v, "must be true or false");
    *out = json_is_true(v);
    return MM_OK;
}

/* A non-empty string; *out is borrowed from the document (NULL when absent). */
static mm_err_t spec_string(const spec_ctx_t *ctx, const json_t *obj, const char *member,
                            const char *parent, bool required, const char **out) {
    json_t *v = json_object_get(obj, member);
    char path[160];
    spec_path(path, sizeof(path), parent, member);
    *out = NULL;
    if (!v) return required ? spec_fail(ctx, path, NULL, "required") : MM_OK;
    if (!json_is_string(v) || json_string_length(v) == 0)
        return spec_fail(ctx, path, v, "must be a non-empty string");
    if (strlen(json_string_value(v)) != json_string_length(v))
        return spec_fail(ctx, path, NULL, "must not contain NUL characters");
    *out = json_string_value(v);
    return MM_OK;
}

/* A column name: non-empty string, bounded, no control characters. */
static mm_err_t spec_column(const spec_ctx_t *ctx, const json_t *v, const char *path, char **out) {
    if (!json_is_string(v) || json_string_length(v) == 0)
        return spec_fail(ctx, path, v, "must be a non-empty column name");
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (len > SPEC_MAX_COLUMN_NAME || strlen(s) != len)
        return spec_fail(ctx, path, v, "must be a column name of at most %d bytes",
                         SPEC_MAX_COLUMN_NAME);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return spec_fail(ctx, path, v, "must not contain control characters");
    *out = strdup(s);
    return *out ? MM_OK : mm_errf(MM_ERR_NOMEM, ctx->errstr, ctx->errstr_size, "out of memory");
}

/* ------------------------------------------------------------ task tables */

static bool spec_algo_fits(mm_algo_t algo, mm_task_t task) {
    switch (algo) {
    case MM_ALGO_SNAIVE:
    case MM_ALGO_ETS:
    case MM_ALGO_CROSTON:
    case MM_ALGO_SBA:
    case MM_ALGO_TSB:
    case MM_ALGO_RIDGE:
    case MM_ALGO_XGBOOST:
        return task == MM_TASK_FORECAST;
    case MM_ALGO_LOGISTIC:
    case MM_ALGO_XGB_CLASSIFIER:
        return task == MM_TASK_CLASSIFY;
    default:
        return false;
    }
}

/* Metrics a model can be selected or judged by (bias is signed: not a score). */
static bool spec_metric_fits(mm_metric_id_t metric, mm_task_t task) {
    switch (metric) {
    case MM_METRIC_RMSE:
    case MM_METRIC_MAE:
    case MM_METRIC_SMAPE:
    case MM_METRIC_MASE:
        return task == MM_TASK_FORECAST;
    case MM_METRIC_ACCURACY:
    case MM_METRIC_PRECISION:
    case MM_METRIC_RECALL:
    case MM_METRIC_F1:
    case MM_METRIC_AUC:
        return task == MM_TASK_CLASSIFY;
    default:
        return false;
    }
}

static const char *spec_task_name(mm_task_t task) {
    return task == MM_TASK_CLASSIFY ? "classify" : "forecast";
}

static mm_err_t spec_metric(const spec_ctx_t *ctx, const json_t *obj, const char *member,
                            const char *parent, mm_task_t task, mm_metric_id_t *out) {
    const char *name;
    char path[160];
    spec_path(path, sizeof(path), parent, member);
    mm_err_t err = spec_string(ctx, obj, member, parent, false, &name);
    if (err || !name) return err;
    mm_metric_id_t metric;
    if (!mm_metric_parse(name, &metric))
        return spec_fail(ctx, path, json_object_get(obj, member), "unknown metric");
    if (!spec_metric_fits(metric, task))
        return spec_fail(ctx, path, json_object_get(obj, member), "is not a metric for a %s task",
                         spec_task_name(task));
    *out = metric;
    return MM_OK;
}

/* ------------------------------------------------------------ sections */

static mm_err_t spec_add_used(const spec_ctx_t *ctx, const char **used, const char **used_by,
                              size_t *n_used, const char *column, const char *path) {
    for (size_t i = 0; i < *n_used; i++)
        if (strcmp(used[i], column) == 0)
            return spec_fail(ctx, path, NULL, "column \"%s\" is already used as %s", column,
                             used_by[i]);
    used[*n_used] = column;
    used_by[*n_used] = path;
    (*n_used)++;
    return MM_OK;
}

static mm_err_t spec_parse_time_section(const spec_ctx_t *ctx, const json_t *root,
                                        mm_spec_t *spec) {
    static const char *const members[] = {"column", "format", "frequency"};
    json_t *time_obj;
    mm_err_t err = spec_object(ctx, root, "time", "time", true, &time_obj);
    if (err) return err;
    err = spec_check_members(ctx, time_obj, "time", members, MM_ARRAY_SIZE(members));
    if (err) return err;
    json_t *col = json_object_get(time_obj, "column");
    if (!col) return spec_fail(ctx, "time.column", NULL, "required");
    err = spec_column(ctx, col, "time.column", &spec->time_column);
    if (err) return err;

    const char *format;
    err = spec_string(ctx, time_obj, "format", "time", false, &format);
    if (err) return err;
    if (!format) format = "iso8601";
    if (strlen(format) >= SPEC_MAX_TIME_FORMAT || !mm_cells_time_kind(format, &spec->time_kind))
        return spec_fail(ctx, "time.format", json_object_get(time_obj, "format"),
                         "must be \"iso8601\", \"epoch_s\", \"epoch_ms\" or a strptime pattern "
                         "such as \"%%Y-%%m-%%d\"");
    spec->time_format = strdup(format);
    if (!spec->time_format)
        return mm_errf(MM_ERR_NOMEM, ctx->errstr, ctx->errstr_size, "out of memory");

    const char *freq;
    err = spec_string(ctx, time_obj, "frequency", "time", true, &freq);
    if (err) return err;
    if (!mm_freq_parse(freq, &spec->freq))
        return spec_fail(ctx, "time.frequency", json_object_get(time_obj, "frequency"),
                         "must be \"hour\", \"day\", \"week\" or \"month\"");
    return MM_OK;
}

static mm_err_t spec_parse_target(const spec_ctx_t *ctx, const json_t *root, mm_spec_t *spec) {
    static const char *const members[] = {"column", "event_column", "lookahead"};
    json_t *target;
    mm_err_t err = spec_object(ctx, root, "target", "target", true, &target);
    if (err) return err;
    err = spec_check_members(ctx, target, "target", members, MM_ARRAY_SIZE(members));
    if (err) return err;
    json_t *col = json_object_get(target, "column");
    json_t *event = json_object_get(target, "event_column");
    json_t *lookahead = json_object_get(target, "lookahead");
    if (spec->task == MM_TASK_FORECAST) {
        if (event) return spec_fail(ctx, "target.event_column", NULL, "only for a classify task");
        if (lookahead) return spec_fail(ctx, "target.lookahead", NULL, "only for a classify task");
        if (!col) return spec_fail(ctx, "target.column", NULL, "required");
        return spec_column(ctx, col, "target.column", &spec->target_column);
    }
    if (col && event)
        return spec_fail(ctx, "target", NULL,
                         "give either \"column\" (a 0/1 label) or \"event_column\" with "
                         "\"lookahead\", not both");
    if (!col && !event)
        return spec_fail(ctx, "target", NULL,
                         "a classify task needs a label \"column\" or an \"event_column\" "
                         "with \"lookahead\"");
    if (col) {
        if (lookahead)
            return spec_fail(ctx, "target.lookahead", NULL, "only with \"event_column\"");
        spec->model.lookahead = 0;
        return spec_column(ctx, col, "target.column", &spec->target_column);
    }
    err = spec_column(ctx, event, "target.event_column", &spec->event_column);
    if (err) return err;
    if (!lookahead)
        return spec_fail(ctx, "target.lookahead", NULL, "required with \"event_column\"");
    return spec_int32(ctx, target, "lookahead", "target", 1, 100000, &spec->model.lookahead);
}

static mm_err_t spec_int_list(const spec_ctx_t *ctx, const json_t *obj, const char *member,
                              const char *parent, int lo, int hi, int *out, size_t max,
                              size_t *n_out) {
    json_t *arr = json_object_get(obj, member);
    if (!arr) return MM_OK;
    char path[160];
    spec_path(path, sizeof(path), parent, member);
    if (!json_is_array(arr) || json_array_size(arr) > max)
        return spec_fail(ctx, path, arr, "must be an array of at most %zu integers", max);
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        char item[192];
        snprintf(item, sizeof(item), "%s[%zu]", path, i);
        if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
            return spec_fail(ctx, item, v, "must be an integer between %d and %d", lo, hi);
        for (size_t j = 0; j < i; j++)
            if (out[j] == (int)json_integer_value(v))
                return spec_fail(ctx, item, v, "duplicate value");
        out[i] = (int)json_integer_value(v);
    }
    *n_out = json_array_size(arr);
    return MM_OK;
}

/* features.known_in_advance: exogenous columns whose future values are given
 * (planned price, promotion); bit j of the mask is features.exogenous[j]. */
static mm_err_t spec_parse_known_in_advance(const spec_ctx_t *ctx, const json_t *features,
                                            mm_spec_t *spec) {
    json_t *arr = json_object_get(features, "known_in_advance");
    spec->model.features.known_in_advance = 0;
    if (!arr) return MM_OK;
    if (!json_is_array(arr))
        return spec_fail(ctx, "features.known_in_advance", arr,
                         "must be an array of column names from features.exogenous");
    uint32_t mask = 0;
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        char item[64];
        snprintf(item, sizeof(item), "features.known_in_advance[%zu]", i);
        if (!json_is_string(v) || json_string_length(v) == 0)
            return spec_fail(ctx, item, v, "must be a non-empty column name");
        size_t j = 0;
        while (j < spec->n_feature_columns &&
               strcmp(spec->feature_columns[j], json_string_value(v)) != 0)
            j++;
        if (j == spec->n_feature_columns)
            return spec_fail(ctx, item, v, "is not a column of features.exogenous");
        if (mask & (UINT32_C(1) << j)) return spec_fail(ctx, item, v, "listed twice");
        mask |= UINT32_C(1) << j;
    }
    spec->model.features.known_in_advance = mask;
    return MM_OK;
}

static mm_err_t spec_parse_features(const spec_ctx_t *ctx, const json_t *root, mm_spec_t *spec) {
    static const char *const members[] = {"exogenous", "lags", "calendar", "rolling_windows",
                                          "known_in_advance"};
    json_t *features;
    mm_err_t err = spec_object(ctx, root, "features", "features", false, &features);
    if (err || !features) return err;
    err = spec_check_members(ctx, features, "features", members, MM_ARRAY_SIZE(members));
    if (err) return err;

    json_t *exog = json_object_get(features, "exogenous");
    if (exog) {
        if (!json_is_array(exog) || json_array_size(exog) > MM_MODEL_MAX_EXOG)
            return spec_fail(ctx, "features.exogenous", exog,
                             "must be an array of at most %d column names", MM_MODEL_MAX_EXOG);
        size_t i;
        json_t *v;
        json_array_foreach(exog, i, v) {
            char item[64];
            snprintf(item, sizeof(item), "features.exogenous[%zu]", i);
            err = spec_column(ctx, v, item, &spec->feature_columns[i]);
            if (err) return err;
            spec->n_feature_columns = i + 1;
        }
    }
    mm_feature_config_t *fc = &spec->model.features;
    err = spec_int_list(ctx, features, "lags", "features", 1, SPEC_MAX_RANGE, fc->lags,
                        MM_MODEL_MAX_LAGS, &fc->n_lags);
    if (err) return err;
    err = spec_bool(ctx, features, "calendar", "features", &fc->calendar);
    if (err) return err;
    err = spec_int_list(ctx, features, "rolling_windows", "features", 2, SPEC_MAX_RANGE,
                        fc->windows, MM_MODEL_MAX_WINDOWS, &fc->n_windows);
    if (err) return err;
    return spec_parse_known_in_advance(ctx, features, spec);
}

static mm_err_t spec_parse_algorithms(const spec_ctx_t *ctx, const json_t *root, mm_spec_t *spec) {
    json_t *arr = json_object_get(root, "algorithms");
    mm_model_config_t *mc = &spec->model;
    if (arr) {
        if (!json_is_array(arr) || json_array_size(arr) == 0 ||
            json_array_size(arr) > MM_ALGO__COUNT)
            return spec_fail(ctx, "algorithms", arr,
                             "must be [\"auto\"] or a non-empty list of algorithm names");
        uint32_t candidates = 0;
        bool saw_auto = false;
        size_t i;
        json_t *v;
        json_array_foreach(arr, i, v) {
            char item[64];
            snprintf(item, sizeof(item), "algorithms[%zu]", i);
            mm_algo_t algo;
            if (!json_is_string(v) || !mm_algo_parse(json_string_value(v), &algo))
                return spec_fail(ctx, item, v, "unknown algorithm");
            if (algo == MM_ALGO_AUTO) {
                saw_auto = true;
                continue;
            }
            if (!spec_algo_fits(algo, spec->task))
                return spec_fail(ctx, item, v, "is not an algorithm for a %s task",
                                 spec_task_name(spec->task));
            if (candidates & (1u << algo)) return spec_fail(ctx, item, v, "listed twice");
            candidates |= 1u << algo;
        }
        if (saw_auto && json_array_size(arr) > 1)
            return spec_fail(ctx, "algorithms", arr,
                             "\"auto\" picks among all candidates and cannot be combined with "
                             "a list");
        if (!saw_auto) mc->candidates = candidates;
    }
    const char *fallback;
    mm_err_t err = spec_string(ctx, root, "fallback", "", false, &fallback);
    if (err) return err;
    if (fallback) {
        mm_algo_t algo;
        if (!mm_algo_parse(fallback, &algo) || algo == MM_ALGO_AUTO)
            return spec_fail(ctx, "fallback", json_object_get(root, "fallback"),
                             "must name one algorithm");
        if (!spec_algo_fits(algo, spec->task))
            return spec_fail(ctx, "fallback", json_object_get(root, "fallback"),
                             "is not an algorithm for a %s task", spec_task_name(spec->task));
        mc->fallback = algo;
    }
    return MM_OK;
}

static mm_err_t spec_parse_retrain(const spec_ctx_t *ctx, const json_t *root, mm_spec_t *spec) {
    static const char *const members[] = {"on_end_of_load", "min_new_rows", "max_age_seconds",
                                          "debounce_ms"};
    mm_retrain_policy_t *rp = &spec->retrain;
    rp->on_end_of_load = true;
    rp->min_new_rows = 0;
    rp->max_age_s = 0;
    rp->debounce_ms = 1000;
    json_t *obj;
    mm_err_t err = spec_object(ctx, root, "retrain", "retrain", false, &obj);
    if (err || !obj) return err;
    err = spec_check_members(ctx, obj, "retrain", members, MM_ARRAY_SIZE(members));
    if (!err) err = spec_bool(ctx, obj, "on_end_of_load", "retrain", &rp->on_end_of_load);
    if (!err)
        err = spec_int(ctx, obj, "min_new_rows", "retrain", 0, 1000000000LL, &rp->min_new_rows);
    if (!err)
        err =
            spec_int(ctx, obj, "max_age_seconds", "retrain", 0, 10LL * 365 * 86400, &rp->max_age_s);
    if (!err) err = spec_int(ctx, obj, "debounce_ms", "retrain", 0, 3600000, &rp->debounce_ms);
    if (err) return err;
    if (!rp->on_end_of_load && rp->min_new_rows == 0 && rp->max_age_s == 0)
        return spec_fail(ctx, "retrain", obj,
                         "no trigger left: enable on_end_of_load, min_new_rows or "
                         "max_age_seconds");
    return MM_OK;
}

static mm_err_t spec_parse_promotion(const spec_ctx_t *ctx, const json_t *root, mm_spec_t *spec) {
    static const char *const members[] = {"metric", "threshold", "margin",
                                          "require_beats_baseline"};
    static const char *const ops[] = {
        [MM_OP_LT] = "<", [MM_OP_LE] = "<=", [MM_OP_GT] = ">", [MM_OP_GE] = ">="};
    mm_promotion_policy_t *pp = &spec->promotion;
    pp->metric = spec->model.selection_metric;
    pp->has_threshold = false;
    pp->op = MM_OP_LT;
    pp->threshold = 0;
    pp->margin = 0;
    pp->require_beats_baseline = spec->task == MM_TASK_FORECAST;
    json_t *obj;
    mm_err_t err = spec_object(ctx, root, "promotion", "promotion", false, &obj);
    if (err || !obj) return err;
    err = spec_check_members(ctx, obj, "promotion", members, MM_ARRAY_SIZE(members));
    if (!err) err = spec_metric(ctx, obj, "metric", "promotion", spec->task, &pp->metric);
    if (!err) err = spec_number(ctx, obj, "margin", "promotion", 0, false, 1, true, &pp->margin);
    if (!err)
        err =
            spec_bool(ctx, obj, "require_beats_baseline", "promotion", &pp->require_beats_baseline);
    if (err) return err;

    json_t *th;
    err = spec_object(ctx, obj, "threshold", "promotion.threshold", false, &th);
    if (err || !th) return err;
    static const char *const th_members[] = {"op", "value"};
    err = spec_check_members(ctx, th, "promotion.threshold", th_members, MM_ARRAY_SIZE(th_members));
    if (err) return err;
    const char *op;
    err = spec_string(ctx, th, "op", "promotion.threshold", true, &op);
    if (err) return err;
    bool found = false;
    for (size_t i = 0; i < MM_ARRAY_SIZE(ops); i++) {
        if (strcmp(op, ops[i]) == 0) {
            pp->op = (mm_threshold_op_t)i;
            found = true;
        }
    }
    if (!found)
        return spec_fail(ctx, "promotion.threshold.op", json_object_get(th, "op"),
                         "must be \"<\", \"<=\", \">\" or \">=\"");
    if (!json_object_get(th, "value"))
        return spec_fail(ctx, "promotion.threshold.value", NULL, "required");
    err = spec_number(ctx, th, "value", "promotion.threshold", -1e300, false, 1e300, false,
                      &pp->threshold);
    if (err) return err;
    pp->has_threshold = true;
    return MM_OK;
}

static mm_err_t spec_parse_scoring(const spec_ctx_t *ctx, const json_t *root, mm_spec_t *spec) {
    static const char *const members[] = {"fallback"};
    spec->serve_fallback = true;
    json_t *obj;
    mm_err_t err = spec_object(ctx, root, "scoring", "scoring", false, &obj);
    if (err || !obj) return err;
    err = spec_check_members(ctx, obj, "scoring", members, MM_ARRAY_SIZE(members));
    if (err) return err;
    const char *fallback;
    err = spec_string(ctx, obj, "fallback", "scoring", false, &fallback);
    if (err || !fallback) return err;
    if (strcmp(fallback, "serve") == 0)
        spec->serve_fallback = true;
    else if (strcmp(fallback, "none") == 0)
        spec->serve_fallback = false;
    else
        return spec_fail(ctx, "scoring.fallback", json_object_get(obj, "fallback"),
                         "must be \"serve\" or \"none\"");
    return MM_OK;
}

static mm_err_t spec_parse_name(const spec_ctx_t *ctx, const json_t *root, mm_spec_t *spec) {
    const char *name;
    mm_err_t err = spec_string(ctx, root, "name", "", true, &name);
    if (err) return err;
    size_t len = strlen(name);
    bool ok = len <= SPEC_MAX_NAME;
    for (size_t i = 0; ok && i < len; i++)
        ok = isalnum((unsigned char)name[i]) || name[i] == '.' || name[i] == '_' || name[i] == '-';
    if (!ok)
        return spec_fail(ctx, "name", json_object_get(root, "name"),
                         "must be 1 to %d characters of [A-Za-z0-9._-]", SPEC_MAX_NAME);
    spec->name = strdup(name);
    return spec->name ? MM_OK
                      : mm_errf(MM_ERR_NOMEM, ctx->errstr, ctx->errstr_size, "out of memory");
}

/* A list of 0 (when @p allow_empty) to MM_SPEC_MAX_KEY_COLUMNS column names at @p field. */
static mm_err_t spec_parse_column_list(const spec_ctx_t *ctx, const json_t *list, const char *field,
                                       bool allow_empty, char **cols, size_t *n_cols) {
    if (!json_is_array(list) || (!allow_empty && json_array_size(list) == 0) ||
        json_array_size(list) > MM_SPEC_MAX_KEY_COLUMNS)
        return spec_fail(ctx, field, list, "must be a list of %d to %d column names",
                         allow_empty ? 0 : 1, MM_SPEC_MAX_KEY_COLUMNS);
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) {
        char item[32];
        snprintf(item, sizeof(item), "%s[%zu]", field, i);
        mm_err_t err = spec_column(ctx, v, item, &cols[i]);
        if (err) return err;
        *n_cols = i + 1;
    }
    return MM_OK;
}

/* "key": the partition key columns, [] for one global key; "entity": the
 * series inside a key (optional). */
static mm_err_t spec_parse_key(const spec_ctx_t *ctx, const json_t *root, mm_spec_t *spec) {
    json_t *key = json_object_get(root, "key");
    if (!key)
        return spec_fail(ctx, "key", NULL, "required (an empty list [] means one global key)");
    mm_err_t err =
        spec_parse_column_list(ctx, key, "key", true, spec->key_columns, &spec->n_key_columns);
    if (err) return err;
    json_t *entity = json_object_get(root, "entity");
    if (!entity) return MM_OK;
    return spec_parse_column_list(ctx, entity, "entity", true, spec->entity_columns,
                                  &spec->n_entity_columns);
}

static mm_err_t spec_check_columns_unique(const spec_ctx_t *ctx, const mm_spec_t *spec) {
    const char *used[2 * MM_SPEC_MAX_KEY_COLUMNS + MM_MODEL_MAX_EXOG + 2];
    const char *used_by[2 * MM_SPEC_MAX_KEY_COLUMNS + MM_MODEL_MAX_EXOG + 2];
    char paths[2 * MM_SPEC_MAX_KEY_COLUMNS + MM_MODEL_MAX_EXOG + 2][48];
    size_t n = 0;
    mm_err_t err;
    for (size_t i = 0; i < spec->n_key_columns; i++) {
        snprintf(paths[n], sizeof(paths[n]), "key[%zu]", i);
        if ((err = spec_add_used(ctx, used, used_by, &n, spec->key_columns[i], paths[n])))
            return err;
    }
    for (size_t i = 0; i < spec->n_entity_columns; i++) {
        snprintf(paths[n], sizeof(paths[n]), "entity[%zu]", i);
        if ((err = spec_add_used(ctx, used, used_by, &n, spec->entity_columns[i], paths[n])))
            return err;
    }
    snprintf(paths[n], sizeof(paths[n]), "time.column");
    if ((err = spec_add_used(ctx, used, used_by, &n, spec->time_column, paths[n]))) return err;
    if (spec->target_column) {
        snprintf(paths[n], sizeof(paths[n]), "target.column");
        if ((err = spec_add_used(ctx, used, used_by, &n, spec->target_column, paths[n])))
            return err;
    }
    if (spec->event_column) {
        snprintf(paths[n], sizeof(paths[n]), "target.event_column");
        if ((err = spec_add_used(ctx, used, used_by, &n, spec->event_column, paths[n]))) return err;
    }
    for (size_t i = 0; i < spec->n_feature_columns; i++) {
        snprintf(paths[n], sizeof(paths[n]), "features.exogenous[%zu]", i);
        if ((err = spec_add_used(ctx, used, used_by, &n, spec->feature_columns[i], paths[n])))
            return err;
    }
    return MM_OK;
}

static mm_err_t spec_validate(const spec_ctx_t *ctx, const json_t *root, mm_spec_t *spec) {
    static const char *const members[] = {"name",          "description",      "task",
                                          "key",           "entity",           "time",
                                          "target",        "features",         "horizon",
                                          "holdout",       "backtest_windows", "backtest_fits",
                                          "season_length", "min_history",      "algorithms",
                                          "fallback",      "selection_metric", "interval_level",
                                          "retrain",       "promotion",        "scoring"};
    if (!json_is_object(root)) return spec_fail(ctx, "(document)", NULL, "must be a JSON object");
    mm_err_t err = spec_check_members(ctx, root, "", members, MM_ARRAY_SIZE(members));
    if (err) return err;
    const char *desc;
    if ((err = spec_string(ctx, root, "description", "", false, &desc))) return err;
    if ((err = spec_parse_name(ctx, root, spec))) return err;

    const char *task;
    if ((err = spec_string(ctx, root, "task", "", true, &task))) return err;
    if (strcmp(task, "forecast") == 0)
        spec->task = MM_TASK_FORECAST;
    else if (strcmp(task, "classify") == 0)
        spec->task = MM_TASK_CLASSIFY;
    else
        return spec_fail(ctx, "task", json_object_get(root, "task"),
                         "must be \"forecast\" or \"classify\"");

    if ((err = spec_parse_key(ctx, root, spec))) return err;
    if ((err = spec_parse_time_section(ctx, root, spec))) return err;
    /* The defaults for the task and frequency first; every field present in
     * the document overrides. */
    mm_spec_model_defaults(&spec->model, spec->task, spec->freq);
    if ((err = spec_parse_target(ctx, root, spec))) return err;
    if ((err = spec_parse_features(ctx, root, spec))) return err;
    spec->model.features.n_exog = spec->n_feature_columns;
    if ((err = spec_check_columns_unique(ctx, spec))) return err;

    mm_model_config_t *mc = &spec->model;
    if ((err = spec_int32(ctx, root, "horizon", "", 1, SPEC_MAX_RANGE, &mc->horizon))) return err;
    if ((err = spec_int32(ctx, root, "holdout", "", 1, SPEC_MAX_RANGE, &mc->holdout))) return err;
    if ((err = spec_int32(ctx, root, "backtest_windows", "", 1, 100, &mc->backtest_windows)))
        return err;
    if ((err = spec_int32(ctx, root, "backtest_fits", "", 1, 100, &mc->backtest_fits))) return err;
    if (mc->backtest_fits > mc->backtest_windows)
        return spec_fail(ctx, "backtest_fits", json_object_get(root, "backtest_fits"),
                         "must be at most backtest_windows (%d)", mc->backtest_windows);
    if (mc->backtest_fits == mc->backtest_windows) mc->backtest_fits = 0; /* every window */
    if ((err = spec_int32(ctx, root, "season_length", "", 1, SPEC_MAX_RANGE, &mc->season_length)))
        return err;
    if ((err = spec_int32(ctx, root, "min_history", "", 1, 1000000, &mc->min_history))) return err;
    if ((err = spec_parse_algorithms(ctx, root, spec))) return err;
    if ((err = spec_metric(ctx, root, "selection_metric", "", spec->task, &mc->selection_metric)))
        return err;
    if (!spec_metric_fits(mc->selection_metric, spec->task))
        mc->selection_metric = spec->task == MM_TASK_FORECAST ? MM_METRIC_MASE : MM_METRIC_F1;
    if ((err = spec_number(ctx, root, "interval_level", "", 0, true, 1, true, &mc->interval_level)))
        return err;
    if ((err = spec_parse_retrain(ctx, root, spec))) return err;
    if ((err = spec_parse_promotion(ctx, root, spec))) return err;
    if ((err = spec_parse_scoring(ctx, root, spec))) return err;

    char why[256] = "";
    if ((err = mm_model_config_validate(mc, why, sizeof(why))))
        return mm_errf(MM_ERR_CONFIG, ctx->errstr, ctx->errstr_size, "%s: %s", ctx->origin, why);
    return MM_OK;
}

/* ------------------------------------------------------------ load / clear */

void mm_spec_clear(mm_spec_t *spec) {
    if (!spec) return;
    free(spec->name);
    for (size_t i = 0; i < spec->n_key_columns; i++) free(spec->key_columns[i]);
    for (size_t i = 0; i < spec->n_entity_columns; i++) free(spec->entity_columns[i]);
    free(spec->time_column);
    free(spec->time_format);
    free(spec->target_column);
    free(spec->event_column);
    for (size_t i = 0; i < spec->n_feature_columns; i++) free(spec->feature_columns[i]);
    memset(spec, 0, sizeof(*spec));
}

mm_err_t mm_spec_parse(const char *json_text, size_t len, const char *origin, mm_spec_t *spec,
                       char *errstr, size_t errstr_size) {
    if (!spec) return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "spec: NULL argument");
    memset(spec, 0, sizeof(*spec));
    spec_ctx_t ctx = {origin ? origin : "spec", errstr, errstr_size};
    if (!json_text)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "%s: no text", ctx.origin);
    json_error_t jerr;
    json_t *root = json_loadb(json_text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "%s:%d:%d: invalid JSON: %s", ctx.origin,
                       jerr.line, jerr.column, jerr.text);
    mm_err_t err = spec_validate(&ctx, root, spec);
    if (!err) {
        /* The hash covers the document as written, canonicalised (sorted keys, compact). */
        char *canonical = json_dumps(root, JSON_SORT_KEYS | JSON_COMPACT);
        if (!canonical)
            err = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "%s: out of memory", ctx.origin);
        else
            mm_sha256_hex(canonical, strlen(canonical), spec->hash);
        free(canonical);
    }
    json_decref(root);
    if (err) mm_spec_clear(spec);
    return err;
}

mm_err_t mm_spec_load_file(const char *path, mm_spec_t *spec, char *errstr, size_t errstr_size) {
    if (!path || !spec)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "spec: NULL argument");
    memset(spec, 0, sizeof(*spec));
    mm_buf_t text;
    mm_buf_init(&text, SPEC_MAX_FILE_BYTES);
    mm_err_t err = mm_file_read(path, &text, errstr, errstr_size);
    if (err) {
        mm_buf_free(&text);
        return err == MM_ERR_NOMEM ? MM_ERR_CONFIG : err;
    }
    err = mm_spec_parse((const char *)text.data, text.len, path, spec, errstr, errstr_size);
    mm_buf_free(&text);
    return err;
}

/* ------------------------------------------------------------ partition key */

static inline bool key_char_plain(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '~' || c == '-';
}

/* Append percent-encoded @p s; false if it does not fit. */
static bool key_append(char *out, size_t out_size, size_t *pos, const char *s, size_t len) {
    static const char hex[] = "0123456789ABCDEF";
    size_t p = *pos;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (key_char_plain(c)) {
            if (p + 1 >= out_size) return false;
            out[p++] = (char)c;
        } else {
            if (p + 3 >= out_size) return false;
            out[p++] = '%';
            out[p++] = hex[c >> 4];
            out[p++] = hex[c & 15];
        }
    }
    *pos = p;
    return true;
}

/* "col=value" per column joined by '/', both percent-encoded. */
static mm_err_t canonical_key(char *const *cols, size_t n_cols, const char *const *values,
                              const size_t *value_lens, char *out, size_t out_size) {
    size_t pos = 0;
    out[0] = 0;
    for (size_t i = 0; i < n_cols; i++) {
        const char *v = values[i];
        size_t vlen = v ? (value_lens ? value_lens[i] : strlen(v)) : 0;
        if (vlen == 0) return MM_ERR_INVALID_ARG;
        const char *col = cols[i];
        /* Column names are encoded too, so an odd header cannot break the key's shape. */
        if (i > 0) {
            if (pos + 1 >= out_size) return MM_ERR_NOMEM;
            out[pos++] = '/';
        }
        if (!key_append(out, out_size, &pos, col, strlen(col))) return MM_ERR_NOMEM;
        if (pos + 1 >= out_size) return MM_ERR_NOMEM;
        out[pos++] = '=';
        if (!key_append(out, out_size, &pos, v, vlen)) return MM_ERR_NOMEM;
    }
    out[pos] = 0;
    return MM_OK;
}

mm_err_t mm_spec_partition_key(const mm_spec_t *spec, const char *const *values,
                               const size_t *value_lens, char *out, size_t out_size) {
    if (!spec || (!values && spec->n_key_columns) || !out || out_size == 0)
        return MM_ERR_INVALID_ARG;
    if (spec->n_key_columns == 0) {
        if (out_size <= strlen(MM_SPEC_GLOBAL_KEY)) return MM_ERR_NOMEM;
        memcpy(out, MM_SPEC_GLOBAL_KEY, sizeof(MM_SPEC_GLOBAL_KEY));
        return MM_OK;
    }
    return canonical_key(spec->key_columns, spec->n_key_columns, values, value_lens, out, out_size);
}

mm_err_t mm_spec_entity_key(const mm_spec_t *spec, const char *const *values,
                            const size_t *value_lens, char *out, size_t out_size) {
    if (!spec || (!values && spec->n_entity_columns) || !out || out_size == 0)
        return MM_ERR_INVALID_ARG;
    return canonical_key(spec->entity_columns, spec->n_entity_columns, values, value_lens, out,
                         out_size);
}

/* ------------------------------------------------------------ cells */

bool mm_spec_parse_time(const mm_spec_t *spec, const char *text, size_t len, int64_t *out_ms) {
    if (!spec) return false;
    return mm_cells_parse_time(spec->time_kind, spec->time_format, text, len, out_ms);
}

bool mm_spec_parse_number(const char *text, size_t len, double *out) {
    return mm_cells_parse_number(text, len, out);
}

double mm_spec_event_value(const char *text, size_t len) {
    return mm_cells_event_value(text, len);
}
