/*
 * test_schema_registry_real.c - the schema-registry sync (common/src/
 * schema_registry.c) against a real registry implementation: Apicurio
 * Registry 2.4.2 through its Confluent API (tests/support/registry_real.h,
 * built by scripts/schema-registry-deps.sh), plus Confluent's Python Avro
 * deserializer decoding one of our records through it.
 *
 * What this registry is like, and what the tests pin down: its Confluent API
 * has no IMPORT mode (PUT /mode answers 404) and ignores the "id" of a
 * registration, numbering new schemas 1, 2, ... itself. So the sync cannot
 * give it the catalog's ids: it must say so and register nothing. Registered
 * by hand in the catalog's id order, an empty registry ends up with exactly
 * the catalog's ids; then the sync finds everything present, again on a
 * re-run, and an id that maps to another schema or a subject whose latest
 * version is not the current id is refused with the subject and the id named.
 *
 * Each test starts its own empty registry (12 to 22 s each on a busy 2-core
 * machine). Without the build the tests fail, naming the script; they skip
 * only with MM_SKIP_SCHEMA_REGISTRY=1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "mm/avro.h"
#include "mm/http.h"
#include "mm/kafka.h"
#include "mm/records.h"
#include "mm/schema_registry.h"
#include "mm/util.h"
#include "registry_real.h"
#include "support.h"

static mmt_registry_real_t reg;
static char errstr[4096];

static void start(void) {
    if (mmt_registry_real_skipped() && !mmt_registry_real_present())
        cr_skip_test("MM_SKIP_SCHEMA_REGISTRY=1 and no registry built by "
                     "scripts/schema-registry-deps.sh");
    char why[1024] = "";
    bool up = mmt_registry_real_start(&reg, why, sizeof(why));
    if (!up) mmt_registry_real_stop(&reg);
    cr_assert(up, "%s", why);
}

static void stop(void) {
    mmt_registry_real_stop(&reg);
}

static mm_err_t sync_registry(bool verify_only, mm_schema_registry_report_t *report) {
    mm_schema_registry_opts_t opts = {.url = reg.url, .verify_only = verify_only};
    errstr[0] = '\0';
    return mm_schema_registry_sync(&opts, report, errstr, sizeof(errstr));
}

/* POST /subjects/<subject>/versions {"schema": ...} without an id; @returns the id given. */
static json_int_t register_plain(const char *subject, const char *schema) {
    json_t *body = json_pack("{s:s}", "schema", schema);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    char *enc = mm_url_encode(subject, ""), path[512], *reply = NULL;
    snprintf(path, sizeof(path), "/subjects/%s/versions", enc);
    long status = mmt_registry_real_request(&reg, "POST", path, text, &reply);
    cr_assert_eq(status, 200, "POST %s: HTTP %ld %s", path, status, reply ? reply : "");
    json_t *doc = json_loads(reply, 0, NULL);
    json_int_t id = json_integer_value(json_object_get(doc, "id"));
    json_decref(doc);
    free(reply);
    free(text);
    free(enc);
    return id;
}

static int by_id(const void *a, const void *b) {
    const mm_schema_registry_entry_t *x = *(const mm_schema_registry_entry_t *const *)a;
    const mm_schema_registry_entry_t *y = *(const mm_schema_registry_entry_t *const *)b;
    return (x->id > y->id) - (x->id < y->id);
}

/* Register every catalog schema in id order; the registry numbers them as the catalog does. */
static void seed_in_catalog_order(mm_schema_registry_report_t *plan) {
    cr_assert_eq(mm_schema_registry_plan(NULL, plan, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    const mm_schema_registry_entry_t *order[MM_SCHEMA_REGISTRY_MAX_ENTRIES];
    for (size_t i = 0; i < plan->n_entries; i++) order[i] = &plan->entries[i];
    qsort(order, plan->n_entries, sizeof(order[0]), by_id);
    for (size_t i = 0; i < plan->n_entries; i++) {
        cr_assert_eq(order[i]->id, (int32_t)(i + 1),
                     "the catalog's ids are no longer 1..n: seed this registry another way");
        cr_assert_eq(register_plain(order[i]->subject, order[i]->schema), order[i]->id,
                     "%s: the registry did not number the schema as the catalog does",
                     order[i]->subject);
    }
}

static char *get(const char *path) {
    char *reply = NULL;
    long status = mmt_registry_real_request(&reg, "GET", path, NULL, &reply);
    cr_assert_eq(status, 200, "GET %s: HTTP %ld %s", path, status, reply ? reply : "");
    return reply;
}

Test(schema_registry_real, without_import_mode_the_sync_registers_nothing_and_says_why,
     .init = start, .fini = stop, .timeout = 600) {
    mm_schema_registry_report_t r;
    cr_assert_eq(sync_registry(false, &r), MM_ERR_UNSUPPORTED, "%s", errstr);
    const mm_schema_registry_entry_t *first = &r.entries[0];
    char want[1024];
    snprintf(want, sizeof(want), "subject %s, id %d (%s): the registry has no IMPORT mode",
             first->subject, (int)first->id, first->record);
    cr_expect_neq(strstr(errstr, want), NULL, "%s", errstr);
    cr_expect_neq(strstr(errstr, reg.url), NULL, "%s", errstr);
    snprintf(want, sizeof(want),
             "Its answer: subject %s: PUT /mode/%s {\"mode\":\"IMPORT\"}: HTTP 404", first->subject,
             first->subject);
    cr_expect_neq(strstr(errstr, want), NULL, "%s", errstr);
    fprintf(stderr, "the sync's message: %s\n", errstr);
    cr_expect_eq(r.n_registered, 0);
    /* Nothing was registered: this registry would have numbered it itself. */
    char *subjects = get("/subjects");
    cr_expect_str_eq(subjects, "[]");
    free(subjects);

    mm_schema_registry_report_t v;
    cr_assert_eq(sync_registry(true, &v), MM_ERR_NOT_FOUND, "%s", errstr);
    cr_expect_neq(strstr(errstr, "the registry does not know the id"), NULL, "%s", errstr);
}

static void expect_all(const mm_schema_registry_report_t *r, mm_schema_registry_state_t state) {
    for (size_t i = 0; i < r->n_entries; i++)
        cr_expect_eq(r->entries[i].state, state, "subject %s, id %d: %s", r->entries[i].subject,
                     (int)r->entries[i].id, mm_schema_registry_state_name(r->entries[i].state));
}

/* Decode one ModelDecision we encode through the registry with Confluent's deserializer. */
static void independent_decode(void) {
    char python[1024], script[1024];
    snprintf(python, sizeof(python), "%s/.deps/avro-client/bin/python", MM_SOURCE_DIR);
    snprintf(script, sizeof(script), "%s/tests/integration/test_schema_registry_real.py",
             MM_SOURCE_DIR);
    struct stat st;
    cr_assert_eq(stat(python, &st), 0,
                 "%s is missing: run scripts/deps.sh (it calls scripts/avro-client-deps.sh)",
                 python);
    mm_model_decision_t rec = {
        .partition_key = "store=1/item=7",
        .dataset = "sales",
        .spec_hash = "ab12",
        .decision = MM_DECISION_APPROVED,
        .reason = "mase 0.71 beats the champion by 0.05",
        .candidate_train_id = "t-approved",
        .candidate_version = 2,
        .decided_at_ms = 1767225600000,
        .has_production = true,
        .production = {.train_id = "t-approved",
                       .version = 2,
                       .algorithm = "ets",
                       .artifact_uri = "production/sales/store=1/item=7/ff.mm",
                       .artifact_sha256 = "ff00",
                       .artifact_size = 4096,
                       .data_end_ms = 1767139200000,
                       .n_rows = 730,
                       .load_id = "load-1"},
    };
    mm_buf_t value;
    mm_buf_init(&value, MM_BUF_CAP_MESSAGE);
    cr_assert_eq(mm_avro_encode_model_decision(&rec, &value, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    char record_path[1024], out_path[1024];
    snprintf(record_path, sizeof(record_path), "%s/decision.bin", reg.dir);
    snprintf(out_path, sizeof(out_path), "%s/decoder.out", reg.dir);
    FILE *f = fopen(record_path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(value.data, 1, value.len, f), value.len);
    fclose(f);
    mm_buf_free(&value);

    char *argv[] = {python, script, reg.url, MM_TOPIC_DECISIONS, record_path, NULL};
    pid_t pid = mmt_spawn(argv, NULL, out_path);
    cr_assert_gt(pid, 0);
    int status = mmt_wait(pid, mmt_timeout_ms(120000));
    if (status < 0) mmt_stop(pid, 1000);
    json_error_t jerr;
    json_t *doc = json_load_file(out_path, 0, &jerr);
    cr_assert_eq(status, 0, "decoder exit %d (output in %s)", status, out_path);
    cr_assert_not_null(doc, "decoder output: %s", jerr.text);
    cr_expect_eq(json_integer_value(json_object_get(doc, "schema_id")),
                 mm_avro_schema_id(MM_RECORD_MODEL_DECISION));
    json_t *v = json_object_get(doc, "value");
    cr_expect_str_eq(json_string_value(json_object_get(v, "partition_key")), "store=1/item=7");
    cr_expect_str_eq(json_string_value(json_object_get(v, "decision")), "approved");
    cr_expect_str_eq(json_string_value(json_object_get(v, "reason")),
                     "mase 0.71 beats the champion by 0.05");
    json_t *prod = json_object_get(v, "production");
    cr_expect_str_eq(json_string_value(json_object_get(prod, "artifact_uri")),
                     "production/sales/store=1/item=7/ff.mm");
    cr_expect_eq(json_integer_value(json_object_get(prod, "n_rows")), 730);
    json_decref(doc);
}

Test(schema_registry_real, a_registry_seeded_with_the_catalog_ids_agrees_on_every_run,
     .init = start, .fini = stop, .timeout = 600) {
    mm_schema_registry_report_t plan;
    seed_in_catalog_order(&plan);

    mm_schema_registry_report_t r;
    cr_assert_eq(sync_registry(true, &r), MM_OK, "%s", errstr);
    cr_expect_eq(r.n_entries, plan.n_entries);
    expect_all(&r, MM_SCHEMA_REGISTRY_PRESENT);
    for (int run = 0; run < 2; run++) {
        cr_assert_eq(sync_registry(false, &r), MM_OK, "run %d: %s", run, errstr);
        cr_expect_eq(r.n_registered, 0, "run %d", run);
        expect_all(&r, MM_SCHEMA_REGISTRY_PRESENT);
    }
    /* The runs added no version: the three PredictionBatch ids are still its three versions. */
    char *versions = get("/subjects/mm.predictions-value/versions");
    cr_expect_str_eq(versions, "[1,2,3]");
    free(versions);

    independent_decode();

    /* Someone registers a newer ModelTrained: the subject's latest is no longer our id. */
    const mm_schema_registry_entry_t *models = NULL;
    for (size_t i = 0; i < plan.n_entries; i++)
        if (strcmp(plan.entries[i].subject, "mm.models-value") == 0) models = &plan.entries[i];
    cr_assert_not_null(models);
    json_t *changed = json_loads(models->schema, 0, NULL);
    json_array_append_new(
        json_object_get(changed, "fields"),
        json_pack("{s:s,s:[s,s],s:n}", "name", "extra", "type", "null", "string", "default"));
    char *changed_text = json_dumps(changed, JSON_COMPACT);
    json_decref(changed);
    json_int_t newer = register_plain("mm.models-value", changed_text);
    free(changed_text);
    cr_assert_gt(newer, (json_int_t)plan.n_entries);
    cr_assert_eq(sync_registry(true, &r), MM_ERR_SCHEMA, "%s", errstr);
    char want[256];
    snprintf(want, sizeof(want), "subject mm.models-value: the latest version has id %d",
             (int)newer);
    cr_expect_neq(strstr(errstr, want), NULL, "%s", errstr);
}

Test(schema_registry_real, a_registry_mapping_an_id_to_another_schema_is_refused, .init = start,
     .fini = stop, .timeout = 600) {
    /* The first schema registered gets id 1, which the catalog gives to another record. */
    mm_schema_registry_report_t plan;
    cr_assert_eq(mm_schema_registry_plan(NULL, &plan, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(plan.entries[0].id, 1);
    cr_assert_str_eq(plan.entries[0].record, "manymodels.ObservationBatch");
    cr_assert_eq(register_plain("mm.models-value", mm_avro_schema_json(MM_RECORD_MODEL_TRAINED)),
                 1);
    for (int verify_only = 1; verify_only >= 0; verify_only--) {
        mm_schema_registry_report_t r;
        cr_assert_eq(sync_registry(verify_only, &r), MM_ERR_SCHEMA, "%s", errstr);
        cr_expect_neq(strstr(errstr, "subject mm.observations-value, id 1: the registry maps the "
                                     "id to another schema than the catalog's "
                                     "manymodels.ObservationBatch"),
                      NULL, "%s", errstr);
        cr_expect_neq(strstr(errstr, "the registry has record manymodels.ModelTrained"), NULL, "%s",
                      errstr);
        cr_expect_eq(r.n_registered, 0);
    }
}
