/*
 * serve_api.c - the HTTP API of mm-scorer serve (docs/serving.md,
 * docs/openapi.yaml): POST /v1/forecast, POST /v1/predict and
 * GET /v1/models/{key}, JSON in and out, errors as
 * {"error": {"code", "message", "field"}} with stable codes.
 *
 * Every request is checked here before anything is looked up: the bearer
 * token (serve_auth.h), readiness, then the body field by field, so a 400
 * names the field and why. Answers come from serve.c.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "mm/clock.h"
#include "mm/log.h"
#include "mm/util.h"
#include "serve.h"
#include "serve_json.h"

#define JSON_TYPE        "application/json"
#define FIELD_MAX        160
#define MESSAGE_MAX      700
#define TIME_TEXT_MAX    40
#define VALUE_TEXT_MAX   256
#define MAX_PREDICT_ROWS 10000 /* telemetry rows in one /v1/predict request */
#define MODELS_PREFIX    "/v1/models/"
#define MS_PER_DAY       86400000LL

/* Stable error codes (docs/openapi.yaml, Error.code). */
#define E_UNAUTHORIZED  "unauthorized"
#define E_NOT_READY     "not_ready"
#define E_INVALID_JSON  "invalid_json"
#define E_INVALID_FIELD "invalid_field"
#define E_UNKNOWN_FIELD "unknown_field"
#define E_UNKNOWN_KEY   "unknown_key"
#define E_NO_MODEL      "no_model"
#define E_MODEL_FAILED  "model_unavailable"
#define E_INTERNAL      "internal"
#define E_TOO_MANY_KEYS "too_many_keys"
#define E_WRONG_TASK    "invalid_request"

/* A request error: status, code, the field it is about, and why. */
typedef struct api_error {
    int status;
    const char *code;
    char field[FIELD_MAX];
    char message[MESSAGE_MAX];
} api_error_t;

static bool fail(api_error_t *e, int status, const char *code, const char *field, const char *fmt,
                 ...) __attribute__((format(printf, 5, 6)));

/* Cut a UTF-8 sequence that truncation left incomplete at the end of @p s. */
static void utf8_trim(char *s) {
    size_t n = strlen(s), i = n;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) i--; /* continuation bytes */
    if (i == 0 || (unsigned char)s[i - 1] < 0x80) return;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (n - (i - 1) < want) s[i - 1] = '\0';
}

static bool fail(api_error_t *e, int status, const char *code, const char *field, const char *fmt,
                 ...) {
    e->status = status;
    e->code = code;
    snprintf(e->field, sizeof(e->field), "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    utf8_trim(e->field); /* names from the request may be cut mid-character */
    utf8_trim(e->message);
    return false;
}

/* Serialise @p root (stolen) into the response (serve_json.h: what
 * json_dumps writes, without printf for the answer's numbers). */
static void respond_json(mm_httpd_response_t *resp, int status, json_t *root) {
    resp->status = status;
    resp->content_type = JSON_TYPE;
    mm_buf_reset(&resp->body);
    mm_err_t err = root ? mm_serve_json_dump(&resp->body, root) : MM_ERR_NOMEM;
    json_decref(root);
    if (err || mm_buf_append(&resp->body, "\n", 1)) {
        mm_buf_reset(&resp->body);
        resp->status = 500;
        mm_buf_append_str(&resp->body,
                          "{\"error\":{\"code\":\"internal\",\"message\":\"response too large "
                          "or out of memory\"}}\n");
    }
}

static json_t *error_object(const api_error_t *e) {
    json_t *err = json_pack("{s:s, s:s}", "code", e->code, "message", e->message);
    if (err && e->field[0]) json_object_set_new(err, "field", json_string(e->field));
    return err;
}

static void respond_error(mm_httpd_response_t *resp, const api_error_t *e) {
    respond_json(resp, e->status, json_pack("{s:o}", "error", error_object(e)));
}

/* ------------------------------------------------------------ values */

static json_t *num(double v) {
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *str_or_null(const char *s) {
    return s ? json_string(s) : json_null();
}

/* Write @p v (0 <= v < 10^width) as @p width decimal digits at @p out. */
static void put_digits(char *out, int v, int width) {
    for (int i = width - 1; i >= 0; i--, v /= 10) out[i] = (char)('0' + v % 10);
}

/* ISO 8601 UTC, or null for a missing time (< 0): "2024-03-01T00:00:00Z",
 * with milliseconds only when there are some. Formatted by hand: a forecast
 * has one per step, and strftime/printf are a large share of a request's time. */
static json_t *time_json(int64_t ms) {
    if (ms < 0) return json_null();
    int64_t days = ms / MS_PER_DAY, rem = ms % MS_PER_DAY;
    int year, month, day;
    mm_civil_from_days(days, &year, &month, &day);
    if (year < 0 || year > 9999) return json_null();
    int secs = (int)(rem / 1000), frac = (int)(rem % 1000);
    char text[TIME_TEXT_MAX] = "0000-00-00T00:00:00";
    put_digits(text, year, 4);
    put_digits(text + 5, month, 2);
    put_digits(text + 8, day, 2);
    put_digits(text + 11, secs / 3600, 2);
    put_digits(text + 14, secs / 60 % 60, 2);
    put_digits(text + 17, secs % 60, 2);
    size_t n = 19;
    if (frac) {
        text[n++] = '.';
        put_digits(text + n, frac, 3);
        n += 3;
    }
    text[n++] = 'Z';
    return json_stringn_nocheck(text, n);
}

/* A time given as the spec's time text or as epoch milliseconds. */
static bool parse_time(const mm_spec_t *spec, json_t *v, const char *field, int64_t *out,
                       api_error_t *e) {
    if (json_is_integer(v) && json_integer_value(v) > 0) {
        *out = (int64_t)json_integer_value(v);
        return true;
    }
    if (json_is_string(v) &&
        mm_spec_parse_time(spec, json_string_value(v), json_string_length(v), out))
        return true;
    return fail(e, 400, E_INVALID_FIELD, field,
                "%s: expected a time in the format %s or epoch milliseconds", field,
                spec->time_format);
}

/* ------------------------------------------------------------ keys */

/* A key column's value as text: a string, or an integer. */
static bool key_value_text(json_t *v, char *out, size_t out_size) {
    if (json_is_string(v)) {
        if (json_string_length(v) >= out_size) return false;
        memcpy(out, json_string_value(v), json_string_length(v) + 1);
        return strlen(out) == json_string_length(v); /* no NUL inside */
    }
    if (json_is_integer(v)) {
        snprintf(out, out_size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return true;
    }
    return false;
}

/* "key" as a canonical string, or an object of key column values. */
static bool parse_key(const mm_spec_t *spec, json_t *v, const char *field, char *out,
                      size_t out_size, api_error_t *e) {
    if (json_is_string(v)) {
        size_t len = json_string_length(v);
        const char *s = json_string_value(v);
        if (len == 0 || len >= out_size || strlen(s) != len)
            return fail(e, 400, E_INVALID_FIELD, field,
                        "%s: a partition key of 1 to %zu bytes, like \"%s=...\"", field,
                        out_size - 1, spec->key_columns[0]);
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
                return fail(e, 400, E_INVALID_FIELD, field,
                            "%s: control characters are not allowed in a key", field);
        memcpy(out, s, len + 1);
        return true;
    }
    if (!json_is_object(v))
        return fail(e, 400, E_INVALID_FIELD, field,
                    "%s: expected a string (\"%s=...\") or an object of key column values", field,
                    spec->key_columns[0]);
    char texts[MM_SPEC_MAX_KEY_COLUMNS][VALUE_TEXT_MAX];
    const char *values[MM_SPEC_MAX_KEY_COLUMNS];
    size_t lens[MM_SPEC_MAX_KEY_COLUMNS];
    char sub[FIELD_MAX];
    const char *name;
    json_t *cell;
    json_object_foreach(v, name, cell) {
        bool known = false;
        for (size_t c = 0; c < spec->n_key_columns; c++)
            known |= strcmp(name, spec->key_columns[c]) == 0;
        if (!known) {
            snprintf(sub, sizeof(sub), "%s.%s", field, name);
            return fail(e, 400, E_UNKNOWN_FIELD, sub, "%s: not a key column of dataset %s", sub,
                        spec->name);
        }
    }
    for (size_t c = 0; c < spec->n_key_columns; c++) {
        snprintf(sub, sizeof(sub), "%s.%s", field, spec->key_columns[c]);
        cell = json_object_get(v, spec->key_columns[c]);
        if (!cell) return fail(e, 400, E_INVALID_FIELD, sub, "%s: missing", sub);
        if (!key_value_text(cell, texts[c], sizeof(texts[c])) || texts[c][0] == '\0')
            return fail(e, 400, E_INVALID_FIELD, sub,
                        "%s: expected a non-empty string or an integer (up to %d bytes)", sub,
                        VALUE_TEXT_MAX - 1);
        values[c] = texts[c];
        lens[c] = strlen(texts[c]);
    }
    if (mm_spec_partition_key(spec, values, lens, out, out_size))
        return fail(e, 400, E_INVALID_FIELD, field, "%s: the key is longer than %zu bytes", field,
                    out_size - 1);
    return true;
}

/* ------------------------------------------------------------ request body */

/* One request body, parsed and checked. */
typedef struct body {
    json_t *root;
    json_t *key, *keys; /* one of them */
    size_t horizon;
    int64_t as_of_ms;
    size_t n_rows;
    int64_t *time_ms;
    double *x;
    bool rows_given;
} body_t;

static void body_clear(body_t *b) {
    json_decref(b->root);
    free(b->time_ms);
    free(b->x);
    memset(b, 0, sizeof(*b));
}

/* "covariates" (forecast) or "rows" (predict): objects of the time column
 * and feature columns. */
static bool parse_rows(const mm_spec_t *spec, json_t *arr, const char *field, size_t max_rows,
                       body_t *b, api_error_t *e) {
    if (!json_is_array(arr))
        return fail(e, 400, E_INVALID_FIELD, field, "%s: expected an array of objects", field);
    size_t n = json_array_size(arr), nx = spec->n_feature_columns;
    if (n > max_rows)
        return fail(e, 400, E_INVALID_FIELD, field, "%s: at most %zu rows (got %zu)", field,
                    max_rows, n);
    b->rows_given = true;
    b->n_rows = n;
    b->time_ms = calloc(n ? n : 1, sizeof(*b->time_ms));
    b->x = calloc((n ? n : 1) * (nx ? nx : 1), sizeof(*b->x));
    if (!b->time_ms || !b->x) return fail(e, 500, E_INTERNAL, field, "out of memory");
    char sub[FIELD_MAX];
    for (size_t i = 0; i < n; i++) {
        json_t *row = json_array_get(arr, i);
        snprintf(sub, sizeof(sub), "%s[%zu]", field, i);
        if (!json_is_object(row))
            return fail(e, 400, E_INVALID_FIELD, sub, "%s: expected an object", sub);
        const char *name;
        json_t *cell;
        for (size_t j = 0; j < nx; j++) b->x[i * nx + j] = NAN;
        bool has_time = false;
        json_object_foreach(row, name, cell) {
            snprintf(sub, sizeof(sub), "%s[%zu].%s", field, i, name);
            if (strcmp(name, spec->time_column) == 0) {
                if (!parse_time(spec, cell, sub, &b->time_ms[i], e)) return false;
                has_time = true;
                continue;
            }
            size_t j = 0;
            while (j < nx && strcmp(name, spec->feature_columns[j]) != 0) j++;
            if (j == nx)
                return fail(e, 400, E_UNKNOWN_FIELD, sub,
                            "%s: neither the time column (%s) nor a feature column of dataset %s",
                            sub, spec->time_column, spec->name);
            if (json_is_number(cell))
                b->x[i * nx + j] = json_number_value(cell);
            else if (!json_is_null(cell))
                return fail(e, 400, E_INVALID_FIELD, sub, "%s: expected a number or null", sub);
        }
        snprintf(sub, sizeof(sub), "%s[%zu].%s", field, i, spec->time_column);
        if (!has_time) return fail(e, 400, E_INVALID_FIELD, sub, "%s: missing", sub);
        if (i > 0 && b->time_ms[i] <= b->time_ms[i - 1])
            return fail(e, 400, E_INVALID_FIELD, sub, "%s: rows must be in increasing time order",
                        sub);
    }
    return true;
}

static bool parse_body(mm_serve_t *sv, bool forecast, const mm_httpd_request_t *req, body_t *b,
                       api_error_t *e) {
    const mm_spec_t *spec = mm_serve_spec(sv);
    const mm_serve_config_t *cfg = mm_serve_config(sv);
    memset(b, 0, sizeof(*b));
    json_error_t jerr;
    b->root = json_loadb((const char *)req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!b->root)
        return fail(e, 400, E_INVALID_JSON, "", "body: not valid JSON (line %d, column %d: %s)",
                    jerr.line, jerr.column, jerr.text);
    if (!json_is_object(b->root))
        return fail(e, 400, E_INVALID_JSON, "", "body: expected a JSON object");
    const char *rows_field = forecast ? "covariates" : "rows";
    const char *name;
    json_t *v;
    json_object_foreach(b->root, name, v) {
        if (strcmp(name, "key") && strcmp(name, "keys") && strcmp(name, "horizon") &&
            strcmp(name, "as_of") && strcmp(name, rows_field))
            return fail(e, 400, E_UNKNOWN_FIELD, name,
                        "%s: unknown field (expected key or keys, %s, as_of%s)", name, rows_field,
                        forecast ? ", horizon" : "");
    }
    b->key = json_object_get(b->root, "key");
    b->keys = json_object_get(b->root, "keys");
    if (!b->key && !b->keys) return fail(e, 400, E_INVALID_FIELD, "key", "key: required");
    if (b->key && b->keys)
        return fail(e, 400, E_INVALID_FIELD, "keys", "keys: give key or keys, not both");
    if (b->keys) {
        if (!json_is_array(b->keys) || json_array_size(b->keys) == 0)
            return fail(e, 400, E_INVALID_FIELD, "keys", "keys: expected a non-empty array");
        if (json_array_size(b->keys) > cfg->max_keys)
            return fail(e, 400, E_TOO_MANY_KEYS, "keys",
                        "keys: at most %zu keys in one request (got %zu)", cfg->max_keys,
                        json_array_size(b->keys));
    }
    if ((v = json_object_get(b->root, "horizon"))) {
        if (!forecast)
            return fail(e, 400, E_UNKNOWN_FIELD, "horizon", "horizon: only for /v1/forecast");
        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
            (uint64_t)json_integer_value(v) > cfg->max_horizon)
            return fail(e, 400, E_INVALID_FIELD, "horizon",
                        "horizon: expected an integer from 1 to %zu", cfg->max_horizon);
        b->horizon = (size_t)json_integer_value(v);
    }
    if ((v = json_object_get(b->root, "as_of")) && !parse_time(spec, v, "as_of", &b->as_of_ms, e))
        return false;
    if ((v = json_object_get(b->root, rows_field))) {
        if (b->keys)
            return fail(e, 400, E_INVALID_FIELD, rows_field, "%s: only with a single key",
                        rows_field);
        if (!parse_rows(spec, v, rows_field, forecast ? cfg->max_horizon : MAX_PREDICT_ROWS, b, e))
            return false;
    }
    return true;
}

/* ------------------------------------------------------------ answers as JSON */

static json_t *lineage(const mm_prediction_batch_t *p, json_t *o) {
    json_object_set_new(o, "key", json_string(p->partition_key));
    if (p->entity) json_object_set_new(o, "entity", json_string(p->entity));
    json_object_set_new(o, "dataset", str_or_null(p->dataset));
    json_object_set_new(o, "model_version",
                        p->train_id ? json_integer(p->model_version) : json_null());
    json_object_set_new(o, "train_id", str_or_null(p->train_id));
    json_object_set_new(o, "algorithm", str_or_null(p->algorithm));
    json_object_set_new(o, "data_watermark", time_json(p->data_watermark_ms));
    json_object_set_new(o, "model_data_end", time_json(p->model_data_end_ms));
    json_object_set_new(o, "load_id", str_or_null(p->load_id));
    json_object_set_new(o, "fallback", json_boolean(p->fallback));
    if (p->fallback && p->message)
        json_object_set_new(o, "fallback_reason", json_string(p->message));
    json_object_set_new(o, "new_observations", json_integer(p->new_observations));
    return o;
}

static json_t *forecast_json(const mm_prediction_batch_t *p) {
    json_t *values = json_array(), *lower = json_array(), *upper = json_array(),
           *times = json_array();
    for (size_t i = 0; i < p->n; i++) {
        json_array_append_new(values, num(p->value[i]));
        json_array_append_new(lower, num(p->lower[i]));
        json_array_append_new(upper, num(p->upper[i]));
        json_array_append_new(times, time_json(p->time_ms[i]));
    }
    json_t *o = json_object();
    lineage(p, o);
    json_object_set_new(o, "values", values);
    json_object_set_new(o, "lower", lower);
    json_object_set_new(o, "upper", upper);
    json_object_set_new(o, "times", times);
    json_object_set_new(o, "interval_level", num(p->interval_level));
    json_object_set_new(o, "planned_steps", json_integer(p->planned_steps));
    json_object_set_new(o, "carried_steps", json_integer(p->carried_steps));
    return o;
}

static json_t *predict_json(const mm_prediction_batch_t *p) {
    json_t *o = json_object();
    lineage(p, o);
    json_object_set_new(o, "probability", p->n ? num(p->value[0]) : json_null());
    json_object_set_new(o, "time", p->n ? time_json(p->time_ms[0]) : json_null());
    return o;
}

/* An answer's HTTP status and, when not 200, its error. */
static int outcome_error(const mm_serve_answer_t *a, const char *key, api_error_t *e) {
    switch (a->outcome) {
    case MM_SERVE_OK:
        return 200;
    case MM_SERVE_UNKNOWN_KEY:
        fail(e, 404, E_UNKNOWN_KEY, "key", "%s: unknown key (no model decision, no scoring data)",
             key);
        break;
    case MM_SERVE_NO_MODEL:
        fail(e, 404, E_NO_MODEL, "key", "%s: %s (fallbacks are off)", key, a->message);
        break;
    case MM_SERVE_BAD_QUERY:
        fail(e, 400, E_WRONG_TASK, "", "%s", a->message);
        break;
    case MM_SERVE_MODEL_FAILED:
        fail(e, 500, E_MODEL_FAILED, "key", "%s: the model could not be used: %s", key, a->message);
        break;
    case MM_SERVE_NOT_READY:
        fail(e, 503, E_NOT_READY, "", "%s", a->message);
        break;
    default:
        fail(e, 500, E_INTERNAL, "", "%s: %s", key, a->message);
        break;
    }
    return e->status;
}

/* Answer one key into a JSON object; *status receives its HTTP status. */
static json_t *answer_one(mm_serve_t *sv, bool forecast, const char *key, const body_t *b,
                          int *status, api_error_t *e) {
    mm_serve_query_t q = {.key = key,
                          .horizon = b->horizon,
                          .as_of_ms = b->as_of_ms,
                          .rows_given = b->rows_given,
                          .n_rows = b->n_rows,
                          .time_ms = b->time_ms,
                          .x = b->x};
    mm_serve_answer_t a;
    mm_serve_answer(sv, forecast, &q, &a);
    *status = outcome_error(&a, key, e);
    json_t *o = *status == 200 ? (forecast ? forecast_json(&a.p) : predict_json(&a.p)) : NULL;
    if (o && mm_serve_spec(sv)->n_entity_columns > 0) {
        /* A key with entity columns: one answer per entity. */
        json_t *entities = json_array();
        json_array_append_new(entities, o);
        for (size_t i = 0; i < a.n_more; i++) {
            const mm_prediction_batch_t *p = &a.more[i];
            json_t *one =
                p->status == MM_PREDICTION_OK
                    ? (forecast ? forecast_json(p) : predict_json(p))
                    : json_pack("{s:s?, s:s, s:s?}", "entity", p->entity, "status",
                                mm_prediction_status_name(p->status), "message", p->message);
            json_array_append_new(entities, one);
        }
        o = json_pack("{s:s, s:o}", "key", key, "entities", entities);
    }
    mm_serve_answer_clear(&a);
    return o;
}

/* ------------------------------------------------------------ handlers */

/* Authentication and readiness, before anything else. */
static bool admit(mm_serve_t *sv, const mm_httpd_request_t *req, mm_httpd_response_t *resp) {
    api_error_t e = {0};
    const mm_serve_config_t *cfg = mm_serve_config(sv);
    if (!mm_serve_tokens_check(cfg->tokens, mm_httpd_request_header(req, "Authorization"))) {
        fail(&e, 401, E_UNAUTHORIZED, "",
             "a valid bearer token is required (Authorization: "
             "Bearer <token>)");
        respond_error(resp, &e);
        return false;
    }
    char reason[256] = "";
    if (!mm_serve_ready(sv, reason, sizeof(reason))) {
        fail(&e, 503, E_NOT_READY, "", "not ready: %s", reason);
        respond_error(resp, &e);
        return false;
    }
    return true;
}

static void handle_score(mm_serve_t *sv, bool forecast, const mm_httpd_request_t *req,
                         mm_httpd_response_t *resp) {
    if (!admit(sv, req, resp)) return;
    const mm_spec_t *spec = mm_serve_spec(sv);
    api_error_t e = {0};
    body_t b;
    char key[MM_SERVE_KEY_MAX];
    if (!parse_body(sv, forecast, req, &b, &e)) {
        respond_error(resp, &e);
        body_clear(&b);
        return;
    }
    if (b.key) {
        int status = 0;
        json_t *o = parse_key(spec, b.key, "key", key, sizeof(key), &e)
                        ? answer_one(sv, forecast, key, &b, &status, &e)
                        : NULL;
        if (o)
            respond_json(resp, 200, o);
        else
            respond_error(resp, &e);
        body_clear(&b);
        return;
    }
    /* Several keys: every key is checked before any is answered. */
    size_t n = json_array_size(b.keys);
    char(*keys)[MM_SERVE_KEY_MAX] = calloc(n, sizeof(*keys));
    if (!keys) {
        fail(&e, 500, E_INTERNAL, "", "out of memory");
        respond_error(resp, &e);
        body_clear(&b);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char field[FIELD_MAX];
        snprintf(field, sizeof(field), "keys[%zu]", i);
        if (!parse_key(spec, json_array_get(b.keys, i), field, keys[i], sizeof(keys[i]), &e)) {
            respond_error(resp, &e);
            free(keys);
            body_clear(&b);
            return;
        }
    }
    json_t *results = json_array();
    for (size_t i = 0; i < n; i++) {
        int status = 0;
        api_error_t ke = {0};
        json_t *o = answer_one(sv, forecast, keys[i], &b, &status, &ke);
        if (!o)
            o = json_pack("{s:s, s:i, s:o}", "key", keys[i], "status", status, "error",
                          error_object(&ke));
        json_array_append_new(results, o);
    }
    free(keys);
    body_clear(&b);
    respond_json(resp, 200, json_pack("{s:o}", "results", results));
}

static void handle_forecast(void *opaque, const mm_httpd_request_t *req,
                            mm_httpd_response_t *resp) {
    handle_score(opaque, true, req, resp);
}

static void handle_predict(void *opaque, const mm_httpd_request_t *req, mm_httpd_response_t *resp) {
    handle_score(opaque, false, req, resp);
}

static json_t *model_json(const mm_serve_model_info_t *info) {
    const mm_model_decision_t *d = &info->decision;
    json_t *o = json_object();
    json_object_set_new(o, "key", json_string(d->partition_key));
    json_object_set_new(o, "dataset", str_or_null(d->dataset));
    json_object_set_new(o, "decision", json_string(mm_decision_kind_name(d->decision)));
    json_object_set_new(o, "reason", str_or_null(d->reason));
    json_object_set_new(o, "decided_at", time_json(d->decided_at_ms));
    if (!d->has_production) {
        json_object_set_new(o, "production", json_null());
        return o;
    }
    const mm_production_model_t *pm = &d->production;
    json_t *members = json_array(), *metrics = json_object(), *baseline = json_object();
    for (size_t i = 0; i < info->n_members; i++)
        json_array_append_new(members, json_pack("{s:s, s:o}", "algorithm", info->member_algos[i],
                                                 "weight", num(info->member_weights[i])));
    for (size_t i = 0; i < info->n_metrics; i++) {
        json_object_set_new(metrics, info->metric_names[i], num(info->metric_values[i]));
        json_object_set_new(baseline, info->metric_names[i], num(info->baseline_values[i]));
    }
    json_t *p = json_object();
    json_object_set_new(p, "version", json_integer(pm->version));
    json_object_set_new(p, "train_id", str_or_null(pm->train_id));
    json_object_set_new(p, "algorithm", str_or_null(pm->algorithm));
    json_object_set_new(p, "members", members);
    json_object_set_new(p, "fallback", json_boolean(d->decision == MM_DECISION_FALLBACK));
    json_object_set_new(p, "metrics", metrics);
    json_object_set_new(p, "baseline_metrics", baseline);
    json_object_set_new(
        p, "data_window",
        json_pack("{s:o, s:I}", "end", time_json(pm->data_end_ms), "rows", (json_int_t)pm->n_rows));
    json_object_set_new(p, "artifact",
                        json_pack("{s:o, s:o, s:I}", "uri", str_or_null(pm->artifact_uri), "sha256",
                                  str_or_null(pm->artifact_sha256), "size",
                                  (json_int_t)pm->artifact_size));
    json_object_set_new(p, "load_id", str_or_null(pm->load_id));
    json_object_set_new(o, "production", p);
    return o;
}

static void handle_model(void *opaque, const mm_httpd_request_t *req, mm_httpd_response_t *resp) {
    mm_serve_t *sv = opaque;
    if (!admit(sv, req, resp)) return;
    api_error_t e = {0};
    const char *key = req->path + strlen(MODELS_PREFIX);
    size_t len = strlen(key);
    if (len == 0 || len >= MM_SERVE_KEY_MAX) {
        fail(&e, 400, E_INVALID_FIELD, "key",
             "key: the path is /v1/models/<partition key> (1 to %d bytes)", MM_SERVE_KEY_MAX - 1);
        respond_error(resp, &e);
        return;
    }
    mm_serve_model_info_t info;
    if (!mm_serve_model_info(sv, key, &info)) {
        fail(&e, 404, E_UNKNOWN_KEY, "key", "%s: no production model decision for this key", key);
        respond_error(resp, &e);
        return;
    }
    if (!info.loaded && (info.decision.has_production || info.message[0])) {
        fail(&e, 500, E_MODEL_FAILED, "key", "%s: the model could not be read: %s", key,
             info.message);
        respond_error(resp, &e);
    } else {
        respond_json(resp, 200, model_json(&info));
    }
    mm_serve_model_info_clear(&info);
}

mm_err_t mm_serve_routes(mm_serve_t *sv, mm_httpd_t *httpd, char *errstr, size_t errstr_size) {
    mm_err_t err =
        mm_httpd_route(httpd, "POST", "/v1/forecast", handle_forecast, sv, errstr, errstr_size);
    if (!err)
        err = mm_httpd_route(httpd, "POST", "/v1/predict", handle_predict, sv, errstr, errstr_size);
    if (!err)
        err = mm_httpd_route(httpd, "GET", MODELS_PREFIX, handle_model, sv, errstr, errstr_size);
    return err;
}
