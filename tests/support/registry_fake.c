/*
 * registry_fake.c - a FAKE Confluent schema registry for the tests (see
 * registry_fake.h for what it is and why it exists).
 */
#include "registry_fake.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "mm/httpd.h"
#include "mm/sha256.h"
#include "mm/util.h"

#define MAX_SCHEMAS  64
#define MAX_SUBJECTS 32
#define MAX_VERSIONS 32

typedef struct fake_schema {
    int32_t id;
    char *text;
} fake_schema_t;

typedef struct fake_subject {
    char *name;
    int32_t ids[MAX_VERSIONS]; /* version v is ids[v - 1] */
    size_t n_versions;
    char mode[16]; /* "" = none of its own */
} fake_subject_t;

struct mmt_registry_fake {
    mm_httpd_t *httpd;
    char url[64];
    char *auth; /* expected "Basic ..." or NULL */
    pthread_mutex_t mu;
    fake_schema_t schemas[MAX_SCHEMAS];
    size_t n_schemas;
    fake_subject_t subjects[MAX_SUBJECTS];
    size_t n_subjects;
    size_t writes;
    size_t refused;
    bool race_next_post;
    char *last_schema; /* returned by mmt_registry_fake_schema */
};

/* ---------------------------------------------------------------- state */

static fake_schema_t *find_id(mmt_registry_fake_t *f, int32_t id) {
    for (size_t i = 0; i < f->n_schemas; i++)
        if (f->schemas[i].id == id) return &f->schemas[i];
    return NULL;
}

static bool same_text(const char *a, const char *b) {
    json_error_t jerr;
    json_t *x = json_loads(a, 0, &jerr), *y = json_loads(b, 0, &jerr);
    bool same = x && y ? json_equal(x, y) : strcmp(a, b) == 0;
    json_decref(x);
    json_decref(y);
    return same;
}

static fake_schema_t *find_text(mmt_registry_fake_t *f, const char *text) {
    for (size_t i = 0; i < f->n_schemas; i++)
        if (same_text(f->schemas[i].text, text)) return &f->schemas[i];
    return NULL;
}

static fake_subject_t *find_subject(mmt_registry_fake_t *f, const char *name, bool create) {
    for (size_t i = 0; i < f->n_subjects; i++)
        if (strcmp(f->subjects[i].name, name) == 0) return &f->subjects[i];
    if (!create) return NULL;
    cr_assert_lt(f->n_subjects, MAX_SUBJECTS);
    fake_subject_t *s = &f->subjects[f->n_subjects++];
    memset(s, 0, sizeof(*s));
    s->name = strdup(name);
    return s;
}

/* Add @p id -> @p text (if new) and a version of @p subject (if not there yet). */
static void put_locked(mmt_registry_fake_t *f, const char *subject, int32_t id, const char *text) {
    if (!find_id(f, id)) {
        cr_assert_lt(f->n_schemas, MAX_SCHEMAS);
        f->schemas[f->n_schemas++] = (fake_schema_t){.id = id, .text = strdup(text)};
    }
    fake_subject_t *s = find_subject(f, subject, true);
    for (size_t v = 0; v < s->n_versions; v++)
        if (s->ids[v] == id) return;
    cr_assert_lt(s->n_versions, MAX_VERSIONS);
    s->ids[s->n_versions++] = id;
}

/* ------------------------------------------------------------- replies */

static void reply_json(mm_httpd_response_t *resp, int status, json_t *doc) {
    resp->status = status;
    resp->content_type = "application/vnd.schemaregistry.v1+json";
    char *text = json_dumps(doc, JSON_COMPACT);
    mm_buf_append_str(&resp->body, text);
    free(text);
    json_decref(doc);
}

static void reply_error(mm_httpd_response_t *resp, int status, int code, const char *message) {
    reply_json(resp, status, json_pack("{s:i,s:s}", "error_code", code, "message", message));
}

static bool authorized(mmt_registry_fake_t *f, const mm_httpd_request_t *req,
                       mm_httpd_response_t *resp) {
    if (!f->auth) return true;
    const char *got = mm_httpd_request_header(req, "Authorization");
    if (got && strcmp(got, f->auth) == 0) return true;
    f->refused++;
    reply_error(resp, 401, 40101, "Unauthorized");
    return false;
}

/* Parse a decimal id; @returns false when @p s is not one. */
static bool parse_id(const char *s, size_t len, int32_t *id) {
    char buf[16];
    if (len == 0 || len >= sizeof(buf)) return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    int64_t v;
    if (!mm_parse_i64(buf, &v) || v < 0 || v > INT32_MAX) return false;
    *id = (int32_t)v;
    return true;
}

/* --------------------------------------------------------------- routes */

/* GET /schemas/ids/N and /schemas/ids/N/versions */
static void on_schemas(void *opaque, const mm_httpd_request_t *req, mm_httpd_response_t *resp) {
    mmt_registry_fake_t *f = opaque;
    pthread_mutex_lock(&f->mu);
    if (!authorized(f, req, resp)) goto out;
    const char *rest = req->path + strlen("/schemas/ids/");
    size_t id_len = strcspn(rest, "/");
    int32_t id;
    bool versions = strcmp(rest + id_len, "/versions") == 0;
    if (!parse_id(rest, id_len, &id) || (rest[id_len] && !versions)) {
        reply_error(resp, 404, 404, "HTTP 404 Not Found");
        goto out;
    }
    fake_schema_t *s = find_id(f, id);
    if (!s) {
        reply_error(resp, 404, 40403, "Schema not found");
        goto out;
    }
    if (!versions) {
        reply_json(resp, 200, json_pack("{s:s}", "schema", s->text));
        goto out;
    }
    json_t *list = json_array();
    for (size_t i = 0; i < f->n_subjects; i++)
        for (size_t v = 0; v < f->subjects[i].n_versions; v++)
            if (f->subjects[i].ids[v] == id)
                json_array_append_new(list, json_pack("{s:s,s:i}", "subject", f->subjects[i].name,
                                                      "version", (int)(v + 1)));
    reply_json(resp, 200, list);
out:
    pthread_mutex_unlock(&f->mu);
}

/* The subject name between @p prefix and the next '/' (malloc'd; percent-decoding not needed). */
static char *path_subject(const char *path, const char *prefix, const char **rest) {
    const char *s = path + strlen(prefix);
    size_t n = strcspn(s, "/");
    *rest = s + n;
    return mm_strndup(s, n);
}

/* GET /subjects/S/versions/latest, POST /subjects/S/versions */
static void on_subjects(void *opaque, const mm_httpd_request_t *req, mm_httpd_response_t *resp) {
    mmt_registry_fake_t *f = opaque;
    pthread_mutex_lock(&f->mu);
    const char *rest;
    char *name = path_subject(req->path, "/subjects/", &rest);
    json_t *body = NULL;
    if (!authorized(f, req, resp)) goto out;
    fake_subject_t *subject = find_subject(f, name, false);
    if (strcmp(req->method, "GET") == 0) {
        if (strcmp(rest, "/versions/latest") != 0) {
            reply_error(resp, 404, 404, "HTTP 404 Not Found");
        } else if (!subject || subject->n_versions == 0) {
            reply_error(resp, 404, 40401, "Subject not found");
        } else {
            int32_t id = subject->ids[subject->n_versions - 1];
            reply_json(resp, 200,
                       json_pack("{s:s,s:i,s:i,s:s}", "subject", name, "version",
                                 (int)subject->n_versions, "id", (int)id, "schema",
                                 find_id(f, id)->text));
        }
        goto out;
    }
    f->writes++;
    if (strcmp(rest, "/versions") != 0) {
        reply_error(resp, 404, 404, "HTTP 404 Not Found");
        goto out;
    }
    json_error_t jerr;
    body = json_loadb((const char *)req->body, req->body_len, 0, &jerr);
    const char *text = json_string_value(json_object_get(body, "schema"));
    json_t *id_value = json_object_get(body, "id");
    json_t *parsed = text ? json_loads(text, JSON_DECODE_ANY, &jerr) : NULL;
    if (!parsed) {
        reply_error(resp, 422, 42201, "Invalid schema");
        goto out;
    }
    json_decref(parsed);
    if (id_value && f->race_next_post) {
        f->race_next_post = false;
        put_locked(f, name, (int32_t)json_integer_value(id_value), text);
        find_subject(f, name, true)->mode[0] = '\0';
        reply_error(resp, 422, 42205, "Subject is not in import mode");
        goto out;
    }
    if (id_value) {
        if (!subject || strcmp(subject->mode, "IMPORT") != 0) {
            reply_error(resp, 422, 42205,
                        "Subject is not in import mode: a schema id may only be given in IMPORT "
                        "mode");
            goto out;
        }
        int32_t id = (int32_t)json_integer_value(id_value);
        fake_schema_t *taken = find_id(f, id);
        if (taken && !same_text(taken->text, text)) {
            char msg[128];
            snprintf(msg, sizeof(msg), "Overwrite new schema with id %" PRId32 " is not permitted.",
                     id);
            reply_error(resp, 409, 409, msg);
            goto out;
        }
        put_locked(f, name, id, text);
        reply_json(resp, 200, json_pack("{s:i}", "id", (int)id));
        goto out;
    }
    if (subject && strcmp(subject->mode, "IMPORT") == 0) {
        reply_error(resp, 422, 42205, "Subject is in import mode: a schema id is required");
        goto out;
    }
    fake_schema_t *known = find_text(f, text);
    int32_t id = known ? known->id : 0;
    if (!known)
        for (size_t i = 0; i < f->n_schemas; i++)
            if (f->schemas[i].id > id) id = f->schemas[i].id;
    if (!known) id++;
    put_locked(f, name, id, text);
    reply_json(resp, 200, json_pack("{s:i}", "id", (int)id));
out:
    json_decref(body);
    free(name);
    pthread_mutex_unlock(&f->mu);
}

/* GET, PUT and DELETE /mode/S */
static void on_mode(void *opaque, const mm_httpd_request_t *req, mm_httpd_response_t *resp) {
    mmt_registry_fake_t *f = opaque;
    pthread_mutex_lock(&f->mu);
    const char *rest;
    char *name = path_subject(req->path, "/mode/", &rest);
    json_t *body = NULL;
    if (!authorized(f, req, resp)) goto out;
    fake_subject_t *subject = find_subject(f, name, strcmp(req->method, "PUT") == 0);
    if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "DELETE") == 0) {
        if (!subject || !subject->mode[0]) {
            reply_error(resp, 404, 40409, "Subject mode not found");
        } else {
            reply_json(resp, 200, json_pack("{s:s}", "mode", subject->mode));
            if (strcmp(req->method, "DELETE") == 0) {
                f->writes++;
                subject->mode[0] = '\0';
            }
        }
        goto out;
    }
    f->writes++;
    json_error_t jerr;
    body = json_loadb((const char *)req->body, req->body_len, 0, &jerr);
    const char *mode = json_string_value(json_object_get(body, "mode"));
    if (!mode || (strcmp(mode, "IMPORT") != 0 && strcmp(mode, "READWRITE") != 0 &&
                  strcmp(mode, "READONLY") != 0)) {
        reply_error(resp, 422, 42204, "Invalid mode");
        goto out;
    }
    const char *force = mm_httpd_request_query(req, "force");
    if (strcmp(mode, "IMPORT") == 0 && subject->n_versions > 0 &&
        !(force && strcmp(force, "true") == 0)) {
        reply_error(resp, 422, 42205, "Cannot import since found existing subjects");
        goto out;
    }
    snprintf(subject->mode, sizeof(subject->mode), "%s", mode);
    reply_json(resp, 200, json_pack("{s:s}", "mode", mode));
out:
    json_decref(body);
    free(name);
    pthread_mutex_unlock(&f->mu);
}

/* ------------------------------------------------------------ lifecycle */

mmt_registry_fake_t *mmt_registry_fake_start(const char *auth) {
    mmt_registry_fake_t *f = calloc(1, sizeof(*f));
    cr_assert_not_null(f);
    pthread_mutex_init(&f->mu, NULL);
    if (auth) {
        char *b64 = mm_base64_encode((const uint8_t *)auth, strlen(auth));
        cr_assert_not_null(b64);
        size_t n = strlen(b64) + sizeof("Basic ");
        f->auth = malloc(n);
        snprintf(f->auth, n, "Basic %s", b64);
        free(b64);
    }
    char errstr[512];
    mm_httpd_opts_t opts = {.addr = "127.0.0.1:0"};
    f->httpd = mm_httpd_new(&opts, errstr, sizeof(errstr));
    cr_assert_not_null(f->httpd, "%s", errstr);
    static const char *const methods[] = {"GET", "POST", "PUT", "DELETE"};
    for (size_t m = 0; m < 4; m++) {
        if (m < 1)
            cr_assert_eq(mm_httpd_route(f->httpd, methods[m], "/schemas/ids/", on_schemas, f,
                                        errstr, sizeof(errstr)),
                         MM_OK, "%s", errstr);
        if (m < 2)
            cr_assert_eq(mm_httpd_route(f->httpd, methods[m], "/subjects/", on_subjects, f, errstr,
                                        sizeof(errstr)),
                         MM_OK, "%s", errstr);
        if (m != 1)
            cr_assert_eq(
                mm_httpd_route(f->httpd, methods[m], "/mode/", on_mode, f, errstr, sizeof(errstr)),
                MM_OK, "%s", errstr);
    }
    cr_assert_eq(mm_httpd_start(f->httpd, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%u", mm_httpd_port(f->httpd));
    return f;
}

void mmt_registry_fake_stop(mmt_registry_fake_t *f) {
    if (!f) return;
    mm_httpd_destroy(f->httpd);
    for (size_t i = 0; i < f->n_schemas; i++) free(f->schemas[i].text);
    for (size_t i = 0; i < f->n_subjects; i++) free(f->subjects[i].name);
    pthread_mutex_destroy(&f->mu);
    free(f->auth);
    free(f->last_schema);
    free(f);
}

const char *mmt_registry_fake_url(const mmt_registry_fake_t *f) {
    return f->url;
}

void mmt_registry_fake_put(mmt_registry_fake_t *f, const char *subject, int32_t id,
                           const char *schema) {
    pthread_mutex_lock(&f->mu);
    put_locked(f, subject, id, schema);
    pthread_mutex_unlock(&f->mu);
}

void mmt_registry_fake_set_mode(mmt_registry_fake_t *f, const char *subject, const char *mode) {
    pthread_mutex_lock(&f->mu);
    fake_subject_t *s = find_subject(f, subject, true);
    snprintf(s->mode, sizeof(s->mode), "%s", mode);
    pthread_mutex_unlock(&f->mu);
}

void mmt_registry_fake_race_next_post(mmt_registry_fake_t *f) {
    pthread_mutex_lock(&f->mu);
    f->race_next_post = true;
    pthread_mutex_unlock(&f->mu);
}

const char *mmt_registry_fake_schema(mmt_registry_fake_t *f, int32_t id) {
    pthread_mutex_lock(&f->mu);
    fake_schema_t *s = find_id(f, id);
    free(f->last_schema);
    f->last_schema = s ? strdup(s->text) : NULL;
    pthread_mutex_unlock(&f->mu);
    return f->last_schema;
}

size_t mmt_registry_fake_versions(mmt_registry_fake_t *f, const char *subject) {
    pthread_mutex_lock(&f->mu);
    fake_subject_t *s = find_subject(f, subject, false);
    size_t n = s ? s->n_versions : 0;
    pthread_mutex_unlock(&f->mu);
    return n;
}

int32_t mmt_registry_fake_version_id(mmt_registry_fake_t *f, const char *subject, size_t version) {
    pthread_mutex_lock(&f->mu);
    fake_subject_t *s = find_subject(f, subject, false);
    int32_t id = s && version >= 1 && version <= s->n_versions ? s->ids[version - 1] : -1;
    pthread_mutex_unlock(&f->mu);
    return id;
}

const char *mmt_registry_fake_mode(mmt_registry_fake_t *f, const char *subject) {
    pthread_mutex_lock(&f->mu);
    fake_subject_t *s = find_subject(f, subject, false);
    const char *mode = s ? s->mode : "";
    pthread_mutex_unlock(&f->mu);
    return mode;
}

size_t mmt_registry_fake_writes(mmt_registry_fake_t *f) {
    pthread_mutex_lock(&f->mu);
    size_t n = f->writes;
    pthread_mutex_unlock(&f->mu);
    return n;
}

size_t mmt_registry_fake_refused(mmt_registry_fake_t *f) {
    pthread_mutex_lock(&f->mu);
    size_t n = f->refused;
    pthread_mutex_unlock(&f->mu);
    return n;
}
