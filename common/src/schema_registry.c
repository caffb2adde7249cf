/*
 * schema_registry.c - make a Confluent-compatible schema registry agree with
 * the schema catalog (see schema_registry.h for the contract).
 *
 * REST calls used (Confluent Schema Registry API, also served by Karapace):
 *   GET    /schemas/ids/<id>                 the schema of an id (404: unknown)
 *   GET    /schemas/ids/<id>/versions        the (subject, version) pairs of an id
 *   GET    /subjects/<subject>/versions/latest
 *   GET    /mode/<subject>                   the subject's own mode (404: none set)
 *   PUT    /mode/<subject>?force=true        {"mode":"IMPORT"}, then the previous mode back
 *   DELETE /mode/<subject>                   when the subject had no mode of its own
 *   POST   /subjects/<subject>/versions      {"schema": "...", "id": N}
 *
 * Credentials go as basic auth from their own settings; a URL carrying them
 * (user:password@host) is refused, so no message - nor the HTTP helper's,
 * which quote the URL - can carry them.
 */
#include "mm/schema_registry.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <avro.h>
#include <jansson.h>

#include "mm/avro.h"
#include "mm/clock.h"
#include "mm/http.h"
#include "mm/kafka.h"
#include "mm/sha256.h"
#include "mm/util.h"
#include "schemas_embedded.h"

#define CONTENT_TYPE "application/vnd.schemaregistry.v1+json"
#define ACCEPT       "application/vnd.schemaregistry.v1+json, application/json"
#define MAX_RESPONSE (4u * 1024u * 1024u)

/* The topic each record type travels on (docs/ARCHITECTURE.md, "Topics and records"). */
static const char *const record_topics[MM_RECORD__COUNT] = {
    [MM_RECORD_OBSERVATION_BATCH] = MM_TOPIC_OBSERVATIONS,
    [MM_RECORD_MODEL_TRAINED] = MM_TOPIC_MODELS,
    [MM_RECORD_MODEL_DECISION] = MM_TOPIC_DECISIONS,
    [MM_RECORD_SCORE_REQUEST] = MM_TOPIC_SCORE_REQUESTS,
    [MM_RECORD_PREDICTION_BATCH] = MM_TOPIC_PREDICTIONS,
    [MM_RECORD_DEAD_LETTER] = MM_TOPIC_DEADLETTER,
};

const char *mm_schema_registry_state_name(mm_schema_registry_state_t state) {
    switch (state) {
    case MM_SCHEMA_REGISTRY_PRESENT:
        return "present";
    case MM_SCHEMA_REGISTRY_REGISTERED:
        return "registered";
    default:
        return "planned";
    }
}

bool mm_schema_registry_subject(const char *topic_prefix, const char *topic, char *out,
                                size_t out_size) {
    int n = snprintf(out, out_size, "%s%s-value", topic_prefix ? topic_prefix : "", topic);
    return n > 0 && (size_t)n < out_size;
}

/* ------------------------------------------------------------------ plan */

static const char *retired_schema_text(const char *file) {
    for (size_t i = 0; i < mm__retired_schema_file_count; i++)
        if (strcmp(mm__retired_schema_files[i].file, file) == 0)
            return mm__retired_schema_files[i].text;
    return NULL;
}

static int compare_ids(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static mm_err_t add_entry(mm_schema_registry_report_t *report, const char *topic_prefix,
                          mm_record_type_t type, int32_t id, const char *schema, bool retired,
                          char *errstr, size_t errstr_size) {
    if (report->n_entries == MM_SCHEMA_REGISTRY_MAX_ENTRIES)
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size,
                       "schema registry: the catalog holds more than %d schemas",
                       MM_SCHEMA_REGISTRY_MAX_ENTRIES);
    mm_schema_registry_entry_t *e = &report->entries[report->n_entries];
    memset(e, 0, sizeof(*e));
    if (!mm_schema_registry_subject(topic_prefix, record_topics[type], e->subject,
                                    sizeof(e->subject)))
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "schema registry: the subject of topic %s%s is longer than %d bytes",
                       topic_prefix ? topic_prefix : "", record_topics[type],
                       MM_SCHEMA_REGISTRY_SUBJECT_MAX - 1);
    e->id = id;
    e->record = mm_avro_schema_name(type);
    e->schema = schema;
    e->retired = retired;
    e->state = MM_SCHEMA_REGISTRY_PLANNED;
    report->n_entries++;
    return MM_OK;
}

mm_err_t mm_schema_registry_plan(const char *topic_prefix, mm_schema_registry_report_t *report,
                                 char *errstr, size_t errstr_size) {
    memset(report, 0, sizeof(*report));
    mm_err_t err = mm_avro_init(errstr, errstr_size);
    if (err) return err;
    json_error_t jerr;
    json_t *catalog = json_loads(mm__schema_catalog, 0, &jerr);
    if (!catalog)
        return mm_errf(MM_ERR_SCHEMA, errstr, errstr_size, "schemas/catalog.json: %s", jerr.text);
    json_t *retired = json_object_get(catalog, "retired");
    for (int t = 0; !err && t < MM_RECORD__COUNT; t++) {
        const char *name = mm_avro_schema_name((mm_record_type_t)t);
        /* Retired ids of this record, oldest first, then the current one. */
        int32_t ids[MM_SCHEMA_REGISTRY_MAX_ENTRIES];
        const char *files[MM_SCHEMA_REGISTRY_MAX_ENTRIES];
        size_t n = 0;
        const char *key;
        json_t *value;
        json_object_foreach(retired, key, value) {
            const char *record = json_string_value(json_object_get(value, "record"));
            if (!record || strcmp(record, name) != 0) continue;
            int64_t id = 0;
            if (!mm_parse_i64(key, &id) || id <= 0 || id > INT32_MAX ||
                n == MM_SCHEMA_REGISTRY_MAX_ENTRIES) {
                err = mm_errf(MM_ERR_SCHEMA, errstr, errstr_size,
                              "schemas/catalog.json: retired id '%s' of %s is unusable", key, name);
                break;
            }
            ids[n++] = (int32_t)id;
        }
        if (err) break;
        qsort(ids, n, sizeof(ids[0]), compare_ids);
        for (size_t i = 0; !err && i < n; i++) {
            char id_key[16];
            snprintf(id_key, sizeof(id_key), "%" PRId32, ids[i]);
            files[i] =
                json_string_value(json_object_get(json_object_get(retired, id_key), "schema"));
            const char *text = files[i] ? retired_schema_text(files[i]) : NULL;
            if (!text)
                err = mm_errf(MM_ERR_SCHEMA, errstr, errstr_size,
                              "schemas/catalog.json: retired id %" PRId32 " of %s names no "
                              "embedded schema file",
                              ids[i], name);
            else
                err = add_entry(report, topic_prefix, (mm_record_type_t)t, ids[i], text, true,
                                errstr, errstr_size);
        }
        if (!err)
            err = add_entry(report, topic_prefix, (mm_record_type_t)t,
                            mm_avro_schema_id((mm_record_type_t)t),
                            mm_avro_schema_json((mm_record_type_t)t), false, errstr, errstr_size);
    }
    json_decref(catalog);
    return err;
}

/* ---------------------------------------------------------------- client */

typedef struct client {
    const mm_schema_registry_opts_t *opts;
    mm_http_t *http;
    char *base;    /* the URL without a trailing '/' */
    char *auth;    /* "Authorization" value, or NULL */
    long status;   /* of the last response */
    json_t *reply; /* its parsed body (NULL if none or not JSON) */
} client_t;

/*
 * Check @p opts->url and keep it, without a trailing '/', as c->base. A URL
 * carrying credentials (user:password@host) is refused: the URL is printed by
 * --dump-config and in messages, the password setting is not.
 */
static mm_err_t client_init(client_t *c, const mm_schema_registry_opts_t *opts, char *errstr,
                            size_t errstr_size) {
    memset(c, 0, sizeof(*c));
    c->opts = opts;
    const char *url = opts->url;
    const char *scheme_end = url ? strstr(url, "://") : NULL;
    const char *host = scheme_end ? scheme_end + 3 : NULL;
    const char *path = host ? host + strcspn(host, "/?#") : NULL;
    if (host && memchr(host, '@', (size_t)(path - host)))
        return mm_errf(MM_ERR_CONFIG, errstr, errstr_size,
                       "--schema-registry-url: credentials do not belong in the URL; use "
                       "--schema-registry-user and --schema-registry-password "
                       "(MM_SCHEMA_REGISTRY_USER, MM_SCHEMA_REGISTRY_PASSWORD)");
    if (!scheme_end || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) ||
        path == host)
        return mm_errf(MM_ERR_CONFIG, errstr, errstr_size,
                       "--schema-registry-url: expected http://host:port or https://..., got '%s'",
                       url ? url : "");
    const char *user = opts->user && *opts->user ? opts->user : NULL;
    const char *password = opts->password ? opts->password : "";
    c->base = strdup(url);
    if (!c->base) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
    for (size_t n = strlen(c->base); n > 0 && c->base[n - 1] == '/'; n--) c->base[n - 1] = '\0';
    if (user) {
        mm_buf_t b;
        mm_buf_init(&b, 64 * 1024);
        mm_buf_appendf(&b, "%s:%s", user, password);
        char *b64 = mm_base64_encode(b.data, b.len);
        /* Wipe the plain credentials before freeing them. */
        memset(b.data, 0, b.len);
        mm_buf_free(&b);
        if (b64) {
            size_t n = strlen(b64) + sizeof("Basic ");
            c->auth = malloc(n);
            if (c->auth) snprintf(c->auth, n, "Basic %s", b64);
            memset(b64, 0, strlen(b64));
            free(b64);
        }
    }
    if (user && !c->auth) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
    c->http = mm_http_new(errstr, errstr_size);
    return c->http ? MM_OK : MM_ERR_TRANSPORT;
}

static void client_free(client_t *c) {
    mm_http_destroy(c->http);
    free(c->base);
    if (c->auth) {
        memset(c->auth, 0, strlen(c->auth));
        free(c->auth);
    }
    json_decref(c->reply);
}

/* The registry's own explanation of the last response: " (error_code N: message)". */
static void reply_reason(const client_t *c, char *out, size_t size) {
    out[0] = '\0';
    json_t *code = json_object_get(c->reply, "error_code");
    const char *message = json_string_value(json_object_get(c->reply, "message"));
    if (json_is_integer(code) || message)
        snprintf(out, size, " (error_code %" JSON_INTEGER_FORMAT ": %s)",
                 json_is_integer(code) ? json_integer_value(code) : 0, message ? message : "");
}

/*
 * One request, retried on transport errors, 429 and 5xx. Any other status is
 * MM_OK with c->status and c->reply set; @p what names the request in errors.
 */
static mm_err_t request(client_t *c, const char *method, const char *path, const json_t *body,
                        const char *what, char *errstr, size_t errstr_size) {
    char *url = NULL;
    size_t url_len = strlen(c->base) + strlen(path) + 1;
    url = malloc(url_len);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (!url || (body && !text)) {
        free(url);
        free(text);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    snprintf(url, url_len, "%s%s", c->base, path);
    mm_http_header_t headers[3] = {{"Accept", ACCEPT}, {"Content-Type", CONTENT_TYPE}};
    size_t n_headers = 2;
    if (c->auth) headers[n_headers++] = (mm_http_header_t){"Authorization", c->auth};
    mm_http_request_t req = {.method = method,
                             .url = url,
                             .headers = headers,
                             .n_headers = n_headers,
                             .body = text,
                             .body_len = text ? strlen(text) : 0,
                             .total_timeout_ms =
                                 c->opts->timeout_ms > 0 ? c->opts->timeout_ms : 10000,
                             .max_response_bytes = MAX_RESPONSE};
    int attempts = c->opts->attempts > 0 ? c->opts->attempts : 4;
    mm_err_t err = MM_OK;
    json_decref(c->reply);
    c->reply = NULL;
    c->status = 0;
    for (int attempt = 0; attempt < attempts; attempt++) {
        if (attempt > 0) mm_sleep_ms(mm_backoff_ms(attempt - 1, 200, 2000), NULL);
        mm_http_response_t resp;
        memset(&resp, 0, sizeof(resp));
        char why[512];
        err = mm_http_perform(c->http, &req, &resp, why, sizeof(why));
        if (!err) {
            c->status = resp.status;
            json_decref(c->reply);
            json_error_t jerr;
            c->reply = resp.body.len
                           ? json_loadb((const char *)resp.body.data, resp.body.len, 0, &jerr)
                           : NULL;
            if (mm_http_status_err(resp.status) == MM_ERR_THROTTLED) {
                char reason[256];
                reply_reason(c, reason, sizeof(reason));
                err = mm_errf(MM_ERR_THROTTLED, errstr, errstr_size,
                              "schema registry %s: %s: HTTP %ld%s", c->base, what, resp.status,
                              reason);
            }
        } else {
            mm_errf(err, errstr, errstr_size, "schema registry %s: %s: %s", c->base, what, why);
        }
        mm_http_response_clear(&resp);
        if (!err) break;
        if (err != MM_ERR_TRANSPORT && err != MM_ERR_TIMEOUT && err != MM_ERR_THROTTLED) break;
    }
    free(url);
    free(text);
    return err;
}

/* An unexpected status of the last response as an error naming @p what. */
static mm_err_t status_error(const client_t *c, const char *what, char *errstr,
                             size_t errstr_size) {
    char reason[512];
    reply_reason(c, reason, sizeof(reason));
    mm_err_t err = mm_http_status_err(c->status);
    if (err == MM_OK || err == MM_ERR_NOT_FOUND) err = MM_ERR_HTTP;
    if (err == MM_ERR_AUTH)
        return mm_errf(err, errstr, errstr_size,
                       "schema registry %s: %s: HTTP %ld, the registry refused the credentials "
                       "(--schema-registry-user/--schema-registry-password)%s",
                       c->base, what, c->status, reason);
    return mm_errf(err, errstr, errstr_size, "schema registry %s: %s: HTTP %ld%s", c->base, what,
                   c->status, reason);
}

/* ------------------------------------------------------------ comparing */

/* Say where two record schemas differ: the name, or the first field that differs. */
static void describe_difference(const char *ours, const char *theirs, char *out, size_t size) {
    json_error_t jerr;
    json_t *a = json_loads(ours, 0, &jerr);
    json_t *b = json_loads(theirs, 0, &jerr);
    const char *a_name = json_string_value(json_object_get(a, "name"));
    const char *b_name = json_string_value(json_object_get(b, "name"));
    const char *a_ns = json_string_value(json_object_get(a, "namespace"));
    const char *b_ns = json_string_value(json_object_get(b, "namespace"));
    json_t *af = json_object_get(a, "fields");
    json_t *bf = json_object_get(b, "fields");
    snprintf(out, size, "the schemas differ");
    if (!json_is_object(b)) {
        snprintf(out, size, "the registry's schema is not an Avro record");
    } else if (!b_name || !a_name || strcmp(a_name, b_name) != 0 ||
               ((a_ns || b_ns) && (!a_ns || !b_ns || strcmp(a_ns, b_ns) != 0))) {
        snprintf(out, size, "the registry has record %s%s%s, the catalog %s%s%s", b_ns ? b_ns : "",
                 b_ns ? "." : "", b_name ? b_name : "(no name)", a_ns ? a_ns : "", a_ns ? "." : "",
                 a_name ? a_name : "(no name)");
    } else {
        size_t na = json_array_size(af), nb = json_array_size(bf);
        size_t i = 0;
        for (; i < na && i < nb; i++) {
            json_t *fa = json_array_get(af, i), *fb = json_array_get(bf, i);
            const char *fa_name = json_string_value(json_object_get(fa, "name"));
            const char *fb_name = json_string_value(json_object_get(fb, "name"));
            if (!fa_name || !fb_name || strcmp(fa_name, fb_name) != 0) {
                snprintf(out, size, "field %zu is '%s' in the registry, '%s' in the catalog", i,
                         fb_name ? fb_name : "?", fa_name ? fa_name : "?");
                break;
            }
            if (!json_equal(json_object_get(fa, "type"), json_object_get(fb, "type"))) {
                snprintf(out, size, "field %s.%s has another type in the registry", a_name,
                         fa_name);
                break;
            }
        }
        if (i == na && i == nb) {
            /* Same names and field types as JSON: the difference is deeper (or in defaults). */
        } else if (i == na || i == nb) {
            snprintf(out, size, "the registry's %s has %zu fields, the catalog's %zu", a_name, nb,
                     na);
        }
    }
    json_decref(a);
    json_decref(b);
}

/*
 * Whether the registry's schema text @p theirs is the Avro schema @p ours
 * (parsed and compared, so whitespace and key order do not matter).
 */
static bool same_schema(const char *ours, const char *theirs) {
    avro_schema_t a = NULL, b = NULL;
    bool same = false;
    if (avro_schema_from_json_length(ours, strlen(ours), &a) == 0 &&
        avro_schema_from_json_length(theirs, strlen(theirs), &b) == 0)
        same = avro_schema_equal(a, b) != 0;
    if (a) avro_schema_decref(a);
    if (b) avro_schema_decref(b);
    return same;
}

/* ------------------------------------------------------------- one subject */

/* What the registry says of one entry before anything is registered. */
typedef enum { ID_MISSING, ID_ELSEWHERE, ID_PRESENT } id_state_t;

static mm_err_t check_entry(client_t *c, const mm_schema_registry_entry_t *e, id_state_t *state,
                            char *errstr, size_t errstr_size) {
    char path[1024], what[2048];
    snprintf(path, sizeof(path), "/schemas/ids/%" PRId32, e->id);
    snprintf(what, sizeof(what), "subject %s, id %" PRId32 " (%s): GET %s", e->subject, e->id,
             e->record, path);
    mm_err_t err = request(c, "GET", path, NULL, what, errstr, errstr_size);
    if (err) return err;
    if (c->status == 404 && json_integer_value(json_object_get(c->reply, "error_code")) == 40403) {
        *state = ID_MISSING; /* "Schema not found" */
        return MM_OK;
    }
    if (c->status == 404) {
        /* Not the registry's "schema not found": most likely not the registry's base URL. */
        char reason[256];
        reply_reason(c, reason, sizeof(reason));
        return mm_errf(MM_ERR_CONFIG, errstr, errstr_size,
                       "schema registry %s: %s: HTTP 404%s, without the registry's error code "
                       "40403 (schema not found): is --schema-registry-url the registry's base "
                       "URL?",
                       c->base, what, reason);
    }
    if (c->status != 200) return status_error(c, what, errstr, errstr_size);
    const char *type = json_string_value(json_object_get(c->reply, "schemaType"));
    const char *theirs = json_string_value(json_object_get(c->reply, "schema"));
    if (type && strcmp(type, "AVRO") != 0)
        return mm_errf(MM_ERR_SCHEMA, errstr, errstr_size,
                       "schema registry %s: subject %s, id %" PRId32
                       ": the registry maps the id to a %s schema, the catalog to the Avro "
                       "schema of %s",
                       c->base, e->subject, e->id, type, e->record);
    if (!theirs)
        return mm_errf(MM_ERR_HTTP, errstr, errstr_size,
                       "schema registry %s: %s: no \"schema\" in "
                       "the reply",
                       c->base, what);
    if (!same_schema(e->schema, theirs)) {
        char diff[512];
        describe_difference(e->schema, theirs, diff, sizeof(diff));
        return mm_errf(MM_ERR_SCHEMA, errstr, errstr_size,
                       "schema registry %s: subject %s, id %" PRId32
                       ": the registry maps the id to another schema than the catalog's %s: %s. "
                       "Ids are fixed by schemas/catalog.json; this registry cannot serve "
                       "these topics",
                       c->base, e->subject, e->id, e->record, diff);
    }
    /* The id is ours; is it listed under our subject? */
    snprintf(path, sizeof(path), "/schemas/ids/%" PRId32 "/versions", e->id);
    snprintf(what, sizeof(what), "subject %s, id %" PRId32 ": GET %s", e->subject, e->id, path);
    err = request(c, "GET", path, NULL, what, errstr, errstr_size);
    if (err) return err;
    if (c->status != 200) return status_error(c, what, errstr, errstr_size);
    *state = ID_ELSEWHERE;
    size_t i;
    json_t *v;
    json_array_foreach(c->reply, i, v) {
        const char *subject = json_string_value(json_object_get(v, "subject"));
        if (subject && strcmp(subject, e->subject) == 0) *state = ID_PRESENT;
    }
    return MM_OK;
}

/* The subject's own mode into @p mode ("" when it has none). */
static mm_err_t get_mode(client_t *c, const char *subject, const char *enc, char *mode, size_t size,
                         char *errstr, size_t errstr_size) {
    char path[1024], what[2048];
    snprintf(path, sizeof(path), "/mode/%s", enc);
    snprintf(what, sizeof(what), "subject %s: GET /mode/%s", subject, subject);
    mm_err_t err = request(c, "GET", path, NULL, what, errstr, errstr_size);
    if (err) return err;
    mode[0] = '\0';
    if (c->status == 404) return MM_OK;
    if (c->status != 200) return status_error(c, what, errstr, errstr_size);
    const char *m = json_string_value(json_object_get(c->reply, "mode"));
    if (m) snprintf(mode, size, "%s", m);
    return MM_OK;
}

static mm_err_t put_mode(client_t *c, const char *subject, const char *enc, const char *mode,
                         char *errstr, size_t errstr_size) {
    char path[1024], what[2048];
    snprintf(path, sizeof(path), "/mode/%s?force=true", enc);
    snprintf(what, sizeof(what), "subject %s: PUT /mode/%s {\"mode\":\"%s\"}", subject, subject,
             mode);
    json_t *body = json_pack("{s:s}", "mode", mode);
    mm_err_t err = request(c, "PUT", path, body, what, errstr, errstr_size);
    json_decref(body);
    if (!err && c->status != 200) err = status_error(c, what, errstr, errstr_size);
    const char *now = err ? NULL : json_string_value(json_object_get(c->reply, "mode"));
    if (now && strcmp(now, mode) != 0)
        err = mm_errf(MM_ERR_UNSUPPORTED, errstr, errstr_size,
                      "schema registry %s: %s: the registry answered mode %s", c->base, what, now);
    return err;
}

/* Put the subject's mode back as it was: @p previous, or none of its own. */
static mm_err_t restore_mode(client_t *c, const char *subject, const char *enc,
                             const char *previous, char *errstr, size_t errstr_size) {
    if (*previous) return put_mode(c, subject, enc, previous, errstr, errstr_size);
    char path[1024], what[2048];
    snprintf(path, sizeof(path), "/mode/%s", enc);
    snprintf(what, sizeof(what), "subject %s: DELETE /mode/%s", subject, subject);
    mm_err_t err = request(c, "DELETE", path, NULL, what, errstr, errstr_size);
    if (!err && c->status != 200 && c->status != 404)
        err = status_error(c, what, errstr, errstr_size);
    return err;
}

static mm_err_t register_entry(client_t *c, const mm_schema_registry_entry_t *e, const char *enc,
                               char *errstr, size_t errstr_size) {
    char path[1024], what[2048];
    snprintf(path, sizeof(path), "/subjects/%s/versions", enc);
    snprintf(what, sizeof(what), "subject %s, id %" PRId32 " (%s): POST /subjects/%s/versions",
             e->subject, e->id, e->record, e->subject);
    json_t *body = json_pack("{s:s,s:i}", "schema", e->schema, "id", (json_int_t)e->id);
    mm_err_t err = request(c, "POST", path, body, what, errstr, errstr_size);
    json_decref(body);
    if (err) return err;
    if (c->status != 200) {
        char reason[512];
        reply_reason(c, reason, sizeof(reason));
        err = mm_http_status_err(c->status);
        if (err == MM_OK || err == MM_ERR_NOT_FOUND) err = MM_ERR_HTTP;
        return mm_errf(err, errstr, errstr_size,
                       "schema registry %s: %s: the registry refused to register the catalog's "
                       "schema under this id: HTTP %ld%s",
                       c->base, what, c->status, reason);
    }
    json_t *id = json_object_get(c->reply, "id");
    if (!json_is_integer(id) || json_integer_value(id) != e->id)
        return mm_errf(MM_ERR_SCHEMA, errstr, errstr_size,
                       "schema registry %s: %s: the registry answered id %" JSON_INTEGER_FORMAT
                       " instead of the catalog's %" PRId32 " (is IMPORT mode supported?)",
                       c->base, what, json_is_integer(id) ? json_integer_value(id) : -1, e->id);
    return MM_OK;
}

/* Whether the registry now agrees on @p e (registered by someone else meanwhile). */
static bool agrees_now(client_t *c, const mm_schema_registry_entry_t *e) {
    id_state_t now = ID_MISSING;
    char why[256];
    return check_entry(c, e, &now, why, sizeof(why)) == MM_OK && now == ID_PRESENT;
}

/*
 * Register @p e (the subject being in IMPORT mode), setting its state. Another
 * service starting at the same time may register the same schemas and put the
 * subject's mode back under us: a refused registration is looked at again, and
 * tried once more in IMPORT mode, before it counts as an error.
 */
static mm_err_t register_or_agree(client_t *c, mm_schema_registry_entry_t *e, const char *enc,
                                  char *errstr, size_t errstr_size) {
    mm_err_t err = register_entry(c, e, enc, errstr, errstr_size);
    if (err && err != MM_ERR_TRANSPORT && err != MM_ERR_TIMEOUT) {
        if (agrees_now(c, e)) {
            e->state = MM_SCHEMA_REGISTRY_PRESENT;
            return MM_OK;
        }
        char why[512];
        if (put_mode(c, e->subject, enc, "IMPORT", why, sizeof(why)) == MM_OK) {
            err = register_entry(c, e, enc, errstr, errstr_size);
            if (err && agrees_now(c, e)) {
                e->state = MM_SCHEMA_REGISTRY_PRESENT;
                return MM_OK;
            }
        }
    }
    if (!err) e->state = MM_SCHEMA_REGISTRY_REGISTERED;
    return err;
}

/* The subject's latest version must be the record's current id. */
static mm_err_t check_latest(client_t *c, const mm_schema_registry_entry_t *current,
                             const char *enc, char *errstr, size_t errstr_size) {
    char path[1024], what[2048];
    snprintf(path, sizeof(path), "/subjects/%s/versions/latest", enc);
    snprintf(what, sizeof(what), "subject %s: GET /subjects/%s/versions/latest", current->subject,
             current->subject);
    mm_err_t err = request(c, "GET", path, NULL, what, errstr, errstr_size);
    if (err) return err;
    if (c->status != 200) return status_error(c, what, errstr, errstr_size);
    json_t *id = json_object_get(c->reply, "id");
    if (!json_is_integer(id) || json_integer_value(id) != current->id)
        return mm_errf(
            MM_ERR_SCHEMA, errstr, errstr_size,
            "schema registry %s: subject %s: the latest version has id %" JSON_INTEGER_FORMAT
            ", but %s is written with id %" PRId32
            " (schemas/catalog.json); a newer version was registered under the "
            "subject by someone else",
            c->base, current->subject, json_is_integer(id) ? json_integer_value(id) : -1,
            current->record, current->id);
    return MM_OK;
}

/*
 * Whether the refused PUT /mode/<subject> says the registry has no such
 * operation (404, 405, 501 without a registry error code of its own): a
 * registry without IMPORT mode, such as Apicurio Registry 2.x, whose
 * Confluent API also ignores the "id" of a registration and numbers new
 * schemas itself.
 */
static bool no_import_mode(const client_t *c) {
    if (c->status != 404 && c->status != 405 && c->status != 501) return false;
    json_int_t code = json_integer_value(json_object_get(c->reply, "error_code"));
    return code == 0 || code == 404 || code == 405 || code == 501;
}

/* The error for a registry without IMPORT mode, naming the first id it lacks. */
static mm_err_t import_unsupported(const client_t *c, const mm_schema_registry_report_t *report,
                                   size_t from, size_t to, const id_state_t *states, char *errstr,
                                   size_t errstr_size) {
    const mm_schema_registry_entry_t *e = &report->entries[from];
    for (size_t i = from; i < to; i++)
        if (states[i - from] != ID_PRESENT) {
            e = &report->entries[i];
            break;
        }
    /* put_mode's message without its leading "schema registry <base>: ". */
    const char *inner = errstr;
    size_t base_len = strlen(c->base);
    if (strncmp(inner, "schema registry ", 16) == 0 &&
        strncmp(inner + 16, c->base, base_len) == 0 && strncmp(inner + 16 + base_len, ": ", 2) == 0)
        inner += 16 + base_len + 2;
    char answer[512];
    snprintf(answer, sizeof(answer), "%s", inner);
    return mm_errf(MM_ERR_UNSUPPORTED, errstr, errstr_size,
                   "schema registry %s: subject %s, id %" PRId32
                   " (%s): the registry has no IMPORT mode, so it cannot register a schema "
                   "under the catalog's id (nothing was registered); seed it with these ids by "
                   "its own means and check it with --verify-only (docs/operations.md). Its "
                   "answer: %s",
                   c->base, e->subject, e->id, e->record, answer);
}

/* Entries [from, to) share one subject; the last one is the current id. */
static mm_err_t sync_subject(client_t *c, mm_schema_registry_report_t *report, size_t from,
                             size_t to, char *errstr, size_t errstr_size) {
    const char *subject = report->entries[from].subject;
    char *enc = mm_url_encode(subject, "");
    if (!enc) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
    id_state_t states[MM_SCHEMA_REGISTRY_MAX_ENTRIES];
    size_t missing = 0;
    mm_err_t err = MM_OK;
    for (size_t i = from; !err && i < to; i++) {
        err = check_entry(c, &report->entries[i], &states[i - from], errstr, errstr_size);
        if (err) break;
        if (states[i - from] == ID_PRESENT) {
            report->entries[i].state = MM_SCHEMA_REGISTRY_PRESENT;
        } else if (c->opts->verify_only) {
            const mm_schema_registry_entry_t *e = &report->entries[i];
            err = mm_errf(MM_ERR_NOT_FOUND, errstr, errstr_size,
                          "schema registry %s: subject %s, id %" PRId32 " (%s): %s", c->base,
                          e->subject, e->id, e->record,
                          states[i - from] == ID_MISSING
                              ? "the registry does not know the id (run `mmctl schemas sync`)"
                              : "the id is registered, but not under this subject (run `mmctl "
                                "schemas sync`)");
        } else {
            missing++;
        }
    }
    if (!err && missing > 0) {
        char previous[32];
        err = get_mode(c, subject, enc, previous, sizeof(previous), errstr, errstr_size);
        if (!err && strcmp(previous, "READONLY") == 0)
            err = mm_errf(MM_ERR_CONFIG, errstr, errstr_size,
                          "schema registry %s: subject %s is READONLY: %zu schema(s) of the "
                          "catalog cannot be registered",
                          c->base, subject, missing);
        if (!err) {
            err = put_mode(c, subject, enc, "IMPORT", errstr, errstr_size);
            if (err && no_import_mode(c))
                err = import_unsupported(c, report, from, to, states, errstr, errstr_size);
        }
        bool imported = !err;
        for (size_t i = from; !err && i < to; i++) {
            if (states[i - from] == ID_PRESENT) continue;
            err = register_or_agree(c, &report->entries[i], enc, errstr, errstr_size);
            if (!err && report->entries[i].state == MM_SCHEMA_REGISTRY_REGISTERED)
                report->n_registered++;
        }
        if (imported) {
            /* Restore the mode even after a failed registration, keeping the first error. */
            char restore_err[512];
            mm_err_t rerr =
                restore_mode(c, subject, enc, previous, restore_err, sizeof(restore_err));
            if (!err && rerr) err = mm_errf(rerr, errstr, errstr_size, "%s", restore_err);
        }
    }
    if (!err) err = check_latest(c, &report->entries[to - 1], enc, errstr, errstr_size);
    free(enc);
    return err;
}

mm_err_t mm_schema_registry_sync(const mm_schema_registry_opts_t *opts,
                                 mm_schema_registry_report_t *report, char *errstr,
                                 size_t errstr_size) {
    mm_err_t err = mm_schema_registry_plan(opts->topic_prefix, report, errstr, errstr_size);
    if (err) return err;
    if (!opts->url || !*opts->url)
        return mm_errf(MM_ERR_CONFIG, errstr, errstr_size,
                       "--schema-registry-url: no schema registry configured");
    client_t c;
    err = client_init(&c, opts, errstr, errstr_size);
    for (size_t from = 0; !err && from < report->n_entries;) {
        size_t to = from + 1;
        while (to < report->n_entries &&
               strcmp(report->entries[to].subject, report->entries[from].subject) == 0)
            to++;
        err = sync_subject(&c, report, from, to, errstr, errstr_size);
        from = to;
    }
    client_free(&c);
    return err;
}
