/*
 * test_schema_registry.c - common/src/schema_registry.c against a FAKE
 * Confluent schema registry in the test process (tests/support/registry_fake.h
 * says why no real registry is used): the plan (subjects, retired ids), a sync
 * into an empty registry, verifying a synced one (also one serving our
 * schemas reformatted, without docs), an idempotent re-run, a
 * conflicting id, a foreign latest version, a READONLY subject, basic auth
 * and credentials kept out of every message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "fake_http.h"
#include "mm/avro.h"
#include "mm/schema_registry.h"
#include "registry_fake.h"

static char errstr[1024];

static const mm_schema_registry_entry_t *find(const mm_schema_registry_report_t *r, int32_t id) {
    for (size_t i = 0; i < r->n_entries; i++)
        if (r->entries[i].id == id) return &r->entries[i];
    cr_assert_fail("id %d not in the report", (int)id);
    return NULL;
}

static mm_err_t sync(mmt_registry_fake_t *fake, bool verify_only,
                     mm_schema_registry_report_t *report) {
    mm_schema_registry_opts_t opts = {
        .url = mmt_registry_fake_url(fake), .verify_only = verify_only, .attempts = 1};
    errstr[0] = '\0';
    return mm_schema_registry_sync(&opts, report, errstr, sizeof(errstr));
}

/* The subject of each record type: the contract (docs/ARCHITECTURE.md, "Topics and records"). */
static const char *const subjects[MM_RECORD__COUNT] = {
    [MM_RECORD_OBSERVATION_BATCH] = "mm.observations-value",
    [MM_RECORD_MODEL_TRAINED] = "mm.models-value",
    [MM_RECORD_MODEL_DECISION] = "mm.decisions-value",
    [MM_RECORD_SCORE_REQUEST] = "mm.score-requests-value",
    [MM_RECORD_PREDICTION_BATCH] = "mm.predictions-value",
    [MM_RECORD_DEAD_LETTER] = "mm.deadletter-value",
};

static mm_schema_registry_report_t plan;

static void load_plan(void) {
    cr_assert_eq(mm_schema_registry_plan(NULL, &plan, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
}

/* Put every catalog schema of @p type into the fake under its subject, as a sync would. */
static void seed(mmt_registry_fake_t *fake, mm_record_type_t type) {
    for (size_t i = 0; i < plan.n_entries; i++)
        if (strcmp(plan.entries[i].subject, subjects[type]) == 0)
            mmt_registry_fake_put(fake, plan.entries[i].subject, plan.entries[i].id,
                                  plan.entries[i].schema);
}

/* The first plan entry of @p type's subject (its oldest id). */
static const mm_schema_registry_entry_t *first_of(mm_record_type_t type) {
    for (size_t i = 0; i < plan.n_entries; i++)
        if (strcmp(plan.entries[i].subject, subjects[type]) == 0) return &plan.entries[i];
    cr_assert_fail("no entry for %s", subjects[type]);
    return NULL;
}

Test(schema_registry, plan_puts_every_catalog_id_under_its_topic_subject_retired_first,
     .init = load_plan) {
    /* Every id of schemas/catalog.json, current and retired, once. */
    char path[1024];
    snprintf(path, sizeof(path), "%s/schemas/catalog.json", MM_SOURCE_DIR);
    json_error_t jerr;
    json_t *catalog = json_load_file(path, 0, &jerr);
    cr_assert_not_null(catalog, "%s", jerr.text);
    json_t *retired = json_object_get(catalog, "retired");
    cr_assert_eq(plan.n_entries, MM_RECORD__COUNT + json_object_size(retired));
    const char *key;
    json_t *value;
    json_object_foreach(retired, key, value) {
        const mm_schema_registry_entry_t *e = find(&plan, atoi(key));
        cr_expect(e->retired, "retired id %s", key);
        cr_expect_str_eq(e->record, json_string_value(json_object_get(value, "record")));
    }
    json_decref(catalog);
    /* Per record type: one subject, contiguous, retired ids ascending, the current id last. */
    size_t i = 0;
    for (int t = 0; t < MM_RECORD__COUNT; t++) {
        mm_record_type_t type = (mm_record_type_t)t;
        int32_t previous = 0;
        while (plan.entries[i].retired) {
            cr_expect_str_eq(plan.entries[i].subject, subjects[t]);
            cr_expect_str_eq(plan.entries[i].record, mm_avro_schema_name(type));
            cr_expect_gt(plan.entries[i].id, previous);
            cr_expect_neq(
                strstr(plan.entries[i].schema, strchr(mm_avro_schema_name(type), '.') + 1), NULL);
            previous = plan.entries[i++].id;
        }
        cr_expect_str_eq(plan.entries[i].subject, subjects[t]);
        cr_expect_eq(plan.entries[i].id, mm_avro_schema_id(type));
        cr_expect_str_eq(plan.entries[i].schema, mm_avro_schema_json(type));
        cr_expect_eq(plan.entries[i].state, MM_SCHEMA_REGISTRY_PLANNED);
        i++;
    }
    cr_expect_eq(i, plan.n_entries);

    mm_schema_registry_report_t r;
    cr_assert_eq(mm_schema_registry_plan("prod.", &r, errstr, sizeof(errstr)), MM_OK);
    cr_expect_str_eq(r.entries[0].subject, "prod.mm.observations-value");
}

Test(schema_registry, sync_into_an_empty_registry_imports_the_catalog_ids, .init = load_plan) {
    mmt_registry_fake_t *fake = mmt_registry_fake_start(NULL);
    mm_schema_registry_report_t r;
    cr_assert_eq(sync(fake, false, &r), MM_OK, "%s", errstr);
    cr_expect_eq(r.n_registered, plan.n_entries);
    for (size_t i = 0; i < r.n_entries; i++)
        cr_expect_eq(r.entries[i].state, MM_SCHEMA_REGISTRY_REGISTERED, "%s id %d",
                     r.entries[i].subject, (int)r.entries[i].id);
    /* The registry serves the catalog's schemas under the catalog's ids. */
    for (int t = 0; t < MM_RECORD__COUNT; t++) {
        const char *got = mmt_registry_fake_schema(fake, mm_avro_schema_id((mm_record_type_t)t));
        cr_assert_not_null(got);
        cr_expect_str_eq(got, mm_avro_schema_json((mm_record_type_t)t));
    }
    /* Retired ids are the older versions of their subject, in id order; the current id is the
     * latest. */
    for (size_t i = 0, version = 1; i < plan.n_entries; i++, version++) {
        if (i > 0 && strcmp(plan.entries[i].subject, plan.entries[i - 1].subject) != 0) version = 1;
        cr_expect_eq(mmt_registry_fake_version_id(fake, plan.entries[i].subject, version),
                     plan.entries[i].id, "%s version %zu", plan.entries[i].subject, version);
    }
    cr_expect_gt(mmt_registry_fake_versions(fake, "mm.decisions-value"), 1,
                 "the catalog has a retired ModelDecision id");
    /* IMPORT mode was only for the registration: the subjects have no mode of their own. */
    cr_expect_str_eq(mmt_registry_fake_mode(fake, "mm.decisions-value"), "");
    cr_expect_str_eq(mmt_registry_fake_mode(fake, "mm.observations-value"), "");
    mmt_registry_fake_stop(fake);
}

Test(schema_registry, a_second_sync_and_a_verify_change_nothing, .init = load_plan) {
    mmt_registry_fake_t *fake = mmt_registry_fake_start(NULL);
    mm_schema_registry_report_t r;
    cr_assert_eq(sync(fake, false, &r), MM_OK, "%s", errstr);
    size_t writes = mmt_registry_fake_writes(fake);
    cr_assert_eq(sync(fake, false, &r), MM_OK, "%s", errstr);
    cr_expect_eq(r.n_registered, 0);
    for (size_t i = 0; i < r.n_entries; i++)
        cr_expect_eq(r.entries[i].state, MM_SCHEMA_REGISTRY_PRESENT);
    cr_assert_eq(sync(fake, true, &r), MM_OK, "%s", errstr);
    for (size_t i = 0; i < r.n_entries; i++)
        cr_expect_eq(r.entries[i].state, MM_SCHEMA_REGISTRY_PRESENT);
    cr_expect_eq(mmt_registry_fake_writes(fake), writes, "a synced registry is only read");
    cr_expect_eq(mmt_registry_fake_versions(fake, "mm.decisions-value"),
                 (size_t)(find(&plan, mm_avro_schema_id(MM_RECORD_MODEL_DECISION)) -
                          first_of(MM_RECORD_MODEL_DECISION) + 1));
    mmt_registry_fake_stop(fake);
}

Test(schema_registry, verify_only_on_an_empty_registry_names_the_first_missing_subject_and_id,
     .init = load_plan) {
    mmt_registry_fake_t *fake = mmt_registry_fake_start(NULL);
    mm_schema_registry_report_t r;
    cr_assert_eq(sync(fake, true, &r), MM_ERR_NOT_FOUND);
    char want[128];
    snprintf(want, sizeof(want), "subject mm.observations-value, id %d",
             (int)first_of(MM_RECORD_OBSERVATION_BATCH)->id);
    cr_expect_neq(strstr(errstr, want), NULL, "%s", errstr);
    cr_expect_neq(strstr(errstr, "does not know the id"), NULL, "%s", errstr);
    cr_expect_eq(mmt_registry_fake_writes(fake), 0, "verify-only never writes");
    mmt_registry_fake_stop(fake);
}

Test(schema_registry, an_id_registered_to_another_schema_fails_naming_subject_id_and_difference,
     .init = load_plan) {
    mmt_registry_fake_t *fake = mmt_registry_fake_start(NULL);
    /* Someone else's schema already holds ModelDecision's current id. */
    int32_t id = mm_avro_schema_id(MM_RECORD_MODEL_DECISION);
    mmt_registry_fake_put(fake, "orders-value", id,
                          "{\"type\":\"record\",\"name\":\"Order\",\"namespace\":\"com.acme\","
                          "\"fields\":[{\"name\":\"id\",\"type\":\"long\"}]}");
    mm_schema_registry_report_t r;
    cr_assert_eq(sync(fake, false, &r), MM_ERR_SCHEMA);
    char want[128];
    snprintf(want, sizeof(want), "subject mm.decisions-value, id %d", (int)id);
    cr_expect_neq(strstr(errstr, want), NULL, "%s", errstr);
    cr_expect_neq(strstr(errstr, "the registry has record com.acme.Order, the catalog "
                                 "manymodels.ModelDecision"),
                  NULL, "%s", errstr);
    /* Subjects before it were synced; the failing one registered nothing new. */
    cr_expect_eq(find(&r, mm_avro_schema_id(MM_RECORD_OBSERVATION_BATCH))->state,
                 MM_SCHEMA_REGISTRY_REGISTERED);
    cr_expect_eq(find(&r, id)->state, MM_SCHEMA_REGISTRY_PLANNED);
    cr_expect_eq(mmt_registry_fake_versions(fake, "mm.decisions-value"), 0);
    mmt_registry_fake_stop(fake);
}

Test(schema_registry, an_id_holding_an_altered_copy_of_our_schema_names_the_field) {
    mmt_registry_fake_t *fake = mmt_registry_fake_start(NULL);
    /* ObservationBatch with its first field retyped from string to bytes. */
    json_error_t jerr;
    json_t *schema = json_loads(mm_avro_schema_json(MM_RECORD_OBSERVATION_BATCH), 0, &jerr);
    json_t *first = json_array_get(json_object_get(schema, "fields"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(first, "type")), "string");
    json_object_set_new(first, "type", json_string("bytes"));
    char *altered = json_dumps(schema, JSON_COMPACT);
    int32_t id = mm_avro_schema_id(MM_RECORD_OBSERVATION_BATCH);
    mmt_registry_fake_put(fake, "mm.observations-value", id, altered);
    mm_schema_registry_report_t r;
    cr_assert_eq(sync(fake, false, &r), MM_ERR_SCHEMA);
    char want[128];
    snprintf(want, sizeof(want), "subject mm.observations-value, id %d", (int)id);
    cr_expect_neq(strstr(errstr, want), NULL, "%s", errstr);
    snprintf(want, sizeof(want), "field ObservationBatch.%s has another type",
             json_string_value(json_object_get(first, "name")));
    cr_expect_neq(strstr(errstr, want), NULL, "%s", errstr);
    free(altered);
    json_decref(schema);
    mmt_registry_fake_stop(fake);
}

/* Remove every "doc" member of @p v, recursively. */
static void strip_docs(json_t *v) {
    if (json_is_object(v)) {
        json_object_del(v, "doc");
        const char *k;
        json_t *child;
        json_object_foreach(v, k, child) strip_docs(child);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *child;
        json_array_foreach(v, i, child) strip_docs(child);
    }
}

Test(schema_registry, a_registry_serving_our_schema_reformatted_without_docs_agrees,
     .init = load_plan) {
    mmt_registry_fake_t *fake = mmt_registry_fake_start(NULL);
    for (size_t i = 0; i < plan.n_entries; i++) {
        json_error_t jerr;
        json_t *schema = json_loads(plan.entries[i].schema, 0, &jerr);
        cr_assert_not_null(schema);
        strip_docs(schema);
        char *compact = json_dumps(schema, JSON_COMPACT | JSON_SORT_KEYS);
        cr_assert_str_neq(compact, plan.entries[i].schema);
        mmt_registry_fake_put(fake, plan.entries[i].subject, plan.entries[i].id, compact);
        free(compact);
        json_decref(schema);
    }
    mm_schema_registry_report_t r;
    cr_assert_eq(sync(fake, true, &r), MM_OK, "%s", errstr);
    for (size_t i = 0; i < r.n_entries; i++)
        cr_expect_eq(r.entries[i].state, MM_SCHEMA_REGISTRY_PRESENT);
    mmt_registry_fake_stop(fake);
}

Test(schema_registry, our_schema_under_another_subject_is_added_to_ours, .init = load_plan) {
    mmt_registry_fake_t *fake = mmt_registry_fake_start(NULL);
    seed(fake, MM_RECORD_OBSERVATION_BATCH);
    const mm_schema_registry_entry_t *models = first_of(MM_RECORD_MODEL_TRAINED);
    mmt_registry_fake_put(fake, "copy-of-models-value", models->id, models->schema);
    mm_schema_registry_report_t r;
    cr_assert_eq(sync(fake, true, &r), MM_ERR_NOT_FOUND);
    char want[128];
    snprintf(want, sizeof(want), "subject mm.models-value, id %d", (int)models->id);
    cr_expect_neq(strstr(errstr, want), NULL, "%s", errstr);
    cr_expect_neq(strstr(errstr, "not under this subject"), NULL, "%s", errstr);
    cr_assert_eq(sync(fake, false, &r), MM_OK, "%s", errstr);
    cr_expect_eq(find(&r, models->id)->state, MM_SCHEMA_REGISTRY_REGISTERED);
    cr_expect_eq(mmt_registry_fake_version_id(fake, "mm.models-value", 1), models->id);
    mmt_registry_fake_stop(fake);
}

Test(schema_registry, a_registration_raced_by_another_service_counts_as_present,
     .init = load_plan) {
    mmt_registry_fake_t *fake = mmt_registry_fake_start(NULL);
    mmt_registry_fake_race_next_post(fake);
    mm_schema_registry_report_t r;
    cr_assert_eq(sync(fake, false, &r), MM_OK, "%s", errstr);
    cr_expect_eq(r.entries[0].state, MM_SCHEMA_REGISTRY_PRESENT, "registered by the other one");
    /* The others were registered after switching the subject to IMPORT again. */
    cr_expect_eq(r.n_registered, plan.n_entries - 1);
    cr_expect_str_eq(mmt_registry_fake_mode(fake, "mm.observations-value"), "");
    mmt_registry_fake_stop(fake);
}

Test(schema_registry, a_foreign_latest_version_under_our_subject_is_an_error) {
    mmt_registry_fake_t *fake = mmt_registry_fake_start(NULL);
    mm_schema_registry_report_t r;
    cr_assert_eq(sync(fake, false, &r), MM_OK, "%s", errstr);
    mmt_registry_fake_put(fake, "mm.deadletter-value", 100,
                          "{\"type\":\"record\",\"name\":\"DeadLetter\",\"namespace\":"
                          "\"manymodels\",\"fields\":[]}");
    cr_assert_eq(sync(fake, true, &r), MM_ERR_SCHEMA);
    char want[256];
    snprintf(want, sizeof(want),
             "subject mm.deadletter-value: the latest version has id 100, but "
             "manymodels.DeadLetter is written with id %d",
             (int)mm_avro_schema_id(MM_RECORD_DEAD_LETTER));
    cr_expect_neq(strstr(errstr, want), NULL, "%s", errstr);
    mmt_registry_fake_stop(fake);
}

Test(schema_registry, a_readonly_subject_is_not_imported_into, .init = load_plan) {
    mmt_registry_fake_t *fake = mmt_registry_fake_start(NULL);
    /* A READONLY subject that has the current ModelDecision id but misses the retired ones. */
    seed(fake, MM_RECORD_OBSERVATION_BATCH);
    seed(fake, MM_RECORD_MODEL_TRAINED);
    cr_assert(first_of(MM_RECORD_MODEL_DECISION)->retired);
    mmt_registry_fake_put(fake, "mm.decisions-value", mm_avro_schema_id(MM_RECORD_MODEL_DECISION),
                          mm_avro_schema_json(MM_RECORD_MODEL_DECISION));
    mmt_registry_fake_set_mode(fake, "mm.decisions-value", "READONLY");
    mm_schema_registry_report_t r;
    cr_assert_eq(sync(fake, false, &r), MM_ERR_CONFIG);
    cr_expect_neq(strstr(errstr, "subject mm.decisions-value is READONLY"), NULL, "%s", errstr);
    cr_expect_str_eq(mmt_registry_fake_mode(fake, "mm.decisions-value"), "READONLY");
    cr_expect_eq(mmt_registry_fake_versions(fake, "mm.decisions-value"), 1);
    mmt_registry_fake_stop(fake);
}

Test(schema_registry, a_subject_mode_of_its_own_is_restored_after_the_import) {
    mmt_registry_fake_t *fake = mmt_registry_fake_start(NULL);
    mmt_registry_fake_set_mode(fake, "mm.models-value", "READWRITE");
    mm_schema_registry_report_t r;
    cr_assert_eq(sync(fake, false, &r), MM_OK, "%s", errstr);
    cr_expect_str_eq(mmt_registry_fake_mode(fake, "mm.models-value"), "READWRITE");
    cr_expect_str_eq(mmt_registry_fake_mode(fake, "mm.observations-value"), "");
    mmt_registry_fake_stop(fake);
}

Test(schema_registry, a_registry_without_modes_gets_nothing_registered, .init = load_plan) {
    /* A registry that knows no id and has no /mode endpoint (scripted replies, in order): one
     * GET per id of the first subject, GET /mode, PUT /mode. */
    size_t n_ids = 0;
    while (strcmp(plan.entries[n_ids].subject, "mm.observations-value") == 0) n_ids++;
    mmt_fake_reply_t script[MM_SCHEMA_REGISTRY_MAX_ENTRIES + 2];
    for (size_t i = 0; i < n_ids; i++)
        script[i] = (mmt_fake_reply_t){404, NULL,
                                       "{\"error_code\":40403,\"message\":\"Schema not found\"}"};
    for (size_t i = n_ids; i < n_ids + 2; i++)
        script[i] = (mmt_fake_reply_t){404, NULL,
                                       "{\"error_code\":404,\"message\":\"HTTP 404 Not Found\"}"};
    mmt_fake_http_t server;
    mmt_fake_http_start(&server, script, n_ids + 2);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", server.port);
    mm_schema_registry_opts_t opts = {.url = url, .attempts = 1};
    mm_schema_registry_report_t r;
    cr_assert_eq(mm_schema_registry_sync(&opts, &r, errstr, sizeof(errstr)), MM_ERR_UNSUPPORTED,
                 "%s", errstr);
    mmt_fake_http_join(&server);
    char first[96];
    snprintf(first, sizeof(first), "subject mm.observations-value, id %d (",
             (int)first_of(MM_RECORD_OBSERVATION_BATCH)->id);
    cr_expect_neq(strstr(errstr, first), NULL, "%s", errstr);
    cr_expect_neq(strstr(errstr, "the registry has no IMPORT mode"), NULL, "%s", errstr);
    cr_expect_neq(strstr(errstr, "subject mm.observations-value: PUT /mode/mm.observations-value"),
                  NULL, "%s", errstr);
    cr_expect_neq(strstr(errstr, "HTTP 404 (error_code 404: HTTP 404 Not Found)"), NULL, "%s",
                  errstr);
    cr_assert_eq(server.n_requests, n_ids + 2);
    char want[64];
    snprintf(want, sizeof(want), "GET /schemas/ids/%d ",
             (int)first_of(MM_RECORD_OBSERVATION_BATCH)->id);
    cr_expect_eq(strncmp(server.requests[0], want, strlen(want)), 0, "%s", server.requests[0]);
    cr_expect_eq(
        strncmp(server.requests[n_ids + 1], "PUT /mode/mm.observations-value?force=true ", 43), 0,
        "%s", server.requests[n_ids + 1]);
    cr_expect_eq(r.n_registered, 0);
}

Test(schema_registry, a_url_that_is_not_the_registry_is_a_configuration_error) {
    static const mmt_fake_reply_t script[] = {{404, NULL, "<html>Not Found</html>"}};
    mmt_fake_http_t server;
    mmt_fake_http_start(&server, script, 1);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/wrong", server.port);
    mm_schema_registry_opts_t opts = {.url = url, .attempts = 1};
    mm_schema_registry_report_t r;
    cr_assert_eq(mm_schema_registry_sync(&opts, &r, errstr, sizeof(errstr)), MM_ERR_CONFIG);
    mmt_fake_http_join(&server);
    cr_expect_neq(strstr(errstr, "is --schema-registry-url the registry's base URL?"), NULL, "%s",
                  errstr);
    cr_expect_eq(strncmp(server.requests[0], "GET /wrong/schemas/ids/", 23), 0, "%s",
                 server.requests[0]);
}

Test(schema_registry, basic_auth_is_sent_and_a_refusal_never_shows_the_password,
     .init = load_plan) {
    mmt_registry_fake_t *fake = mmt_registry_fake_start("alice:s3cret-pw");
    mm_schema_registry_report_t r;
    mm_schema_registry_opts_t opts = {.url = mmt_registry_fake_url(fake),
                                      .user = "alice",
                                      .password = "wrong-pw-42",
                                      .attempts = 1};
    cr_assert_eq(mm_schema_registry_sync(&opts, &r, errstr, sizeof(errstr)), MM_ERR_AUTH);
    cr_expect_neq(strstr(errstr, "refused the credentials"), NULL, "%s", errstr);
    cr_expect_eq(strstr(errstr, "wrong-pw-42"), NULL, "%s", errstr);
    cr_expect_eq(mmt_registry_fake_refused(fake), 1);

    opts.password = "s3cret-pw";
    cr_assert_eq(mm_schema_registry_sync(&opts, &r, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_expect_eq(r.n_registered, plan.n_entries);

    /* Credentials in the URL are refused without being repeated. */
    char url[256];
    snprintf(url, sizeof(url), "http://alice:s3cret-pw@%s",
             mmt_registry_fake_url(fake) + strlen("http://"));
    mm_schema_registry_opts_t in_url = {.url = url, .attempts = 1};
    cr_assert_eq(mm_schema_registry_sync(&in_url, &r, errstr, sizeof(errstr)), MM_ERR_CONFIG);
    cr_expect_neq(strstr(errstr, "--schema-registry-password"), NULL, "%s", errstr);
    cr_expect_eq(strstr(errstr, "s3cret-pw"), NULL, "%s", errstr);
    cr_expect_eq(strstr(errstr, "alice"), NULL, "%s", errstr);
    mmt_registry_fake_stop(fake);
}

Test(schema_registry, an_unreachable_registry_is_a_transport_error_without_credentials) {
    mm_schema_registry_opts_t opts = {.url = "http://127.0.0.1:1",
                                      .user = "bob",
                                      .password = "hunter2",
                                      .attempts = 2,
                                      .timeout_ms = 2000};
    mm_schema_registry_report_t r;
    mm_err_t err = mm_schema_registry_sync(&opts, &r, errstr, sizeof(errstr));
    cr_assert_eq(err, MM_ERR_TRANSPORT, "%s: %s", mm_err_name(err), errstr);
    cr_expect_neq(strstr(errstr, "http://127.0.0.1:1"), NULL, "%s", errstr);
    cr_expect_eq(strstr(errstr, "hunter2"), NULL, "%s", errstr);
}

Test(schema_registry, a_url_that_is_not_http_is_a_configuration_error) {
    mm_schema_registry_report_t r;
    mm_schema_registry_opts_t opts = {.url = "ftp://host/x"};
    cr_assert_eq(mm_schema_registry_sync(&opts, &r, errstr, sizeof(errstr)), MM_ERR_CONFIG);
    cr_expect_neq(strstr(errstr, "--schema-registry-url: expected http"), NULL, "%s", errstr);
    opts.url = "http://";
    cr_assert_eq(mm_schema_registry_sync(&opts, &r, errstr, sizeof(errstr)), MM_ERR_CONFIG);
    opts.url = "";
    cr_assert_eq(mm_schema_registry_sync(&opts, &r, errstr, sizeof(errstr)), MM_ERR_CONFIG);
}
