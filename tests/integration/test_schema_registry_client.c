/*
 * test_schema_registry_client.c - the schema registry setting end to end, with
 * the built binaries: `mmctl schemas sync [--verify-only]`, the services'
 * start-up sync (mm-trainer registers the catalog; mm-promoter refuses to
 * start when the registry maps an id to another schema), and an independent
 * reader - Confluent's Python client with its Avro deserializer
 * (tests/integration/test_schema_registry_client.py, installed by
 * scripts/avro-client-deps.sh) - decoding records our producer wrote to a
 * real Apache Kafka broker, fetching each writer schema from the registry by
 * the id in the 5-byte header.
 *
 * The registry is the FAKE of tests/support/registry_fake.h (which has IMPORT
 * mode); test_schema_registry_real.c runs the sync against a real one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "kafka_real.h"
#include "mm/avro.h"
#include "mm/kafka.h"
#include "mm/records.h"
#include "mm/schema_registry.h"
#include "registry_fake.h"
#include "support.h"

#define RUN_TIMEOUT_MS 60000

static char *dir;

static void setup(void) {
    dir = mmt_tmpdir("schema-registry");
}
static void teardown(void) {
    mmt_rmtree(dir);
    free(dir);
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return strdup("");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = calloc(1, (size_t)n + 1);
    size_t got = fread(text, 1, (size_t)n, f);
    text[got] = '\0';
    fclose(f);
    return text;
}

/* Run @p argv with @p env, stdout+stderr into dir/<log>; @returns the exit status. */
static int run(char *const argv[], char *const env[], const char *log, char **output) {
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, log);
    pid_t pid = mmt_spawn(argv, env, path);
    cr_assert_gt(pid, 0, "cannot start %s", argv[0]);
    int status = mmt_wait(pid, mmt_timeout_ms(RUN_TIMEOUT_MS));
    if (status < 0) mmt_stop(pid, 1000);
    *output = slurp(path);
    return status;
}

static int mmctl_sync(mmt_registry_fake_t *fake, const char *password, bool verify_only,
                      const char *log, char **output) {
    char *mmctl = mmt_binary("mmctl");
    cr_assert_not_null(mmctl);
    char url[128], user[64], pw[128];
    snprintf(url, sizeof(url), "MM_SCHEMA_REGISTRY_URL=%s", mmt_registry_fake_url(fake));
    snprintf(user, sizeof(user), "MM_SCHEMA_REGISTRY_USER=ops");
    snprintf(pw, sizeof(pw), "MM_SCHEMA_REGISTRY_PASSWORD=%s", password);
    char *env[] = {url, user, pw, NULL};
    char *argv[] = {mmctl, "schemas", "sync", "-o", "json", verify_only ? "--verify-only" : NULL,
                    NULL};
    int status = run(argv, env, log, output);
    free(mmctl);
    return status;
}

Test(schema_registry_client, mmctl_syncs_then_verifies_and_never_prints_the_password, .init = setup,
     .fini = teardown) {
    mmt_registry_fake_t *fake = mmt_registry_fake_start("ops:Pw-9f3e1");
    char *out = NULL;
    int status = mmctl_sync(fake, "wrong-Pw-77", false, "refused.log", &out);
    cr_expect_eq(status, 1, "refused credentials: exit %d\n%s", status, out);
    cr_expect_neq(strstr(out, "refused the credentials"), NULL, "%s", out);
    cr_expect_eq(strstr(out, "wrong-Pw-77"), NULL, "%s", out);
    free(out);

    status = mmctl_sync(fake, "Pw-9f3e1", false, "sync.log", &out);
    cr_assert_eq(status, 0, "exit %d\n%s", status, out);
    json_error_t jerr;
    json_t *doc = json_loads(out, 0, &jerr);
    cr_assert_not_null(doc, "not JSON: %s\n%s", jerr.text, out);
    mm_schema_registry_report_t plan;
    char errstr[1024];
    cr_assert_eq(mm_schema_registry_plan(NULL, &plan, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    json_t *rows = json_object_get(doc, "schemas");
    cr_assert_eq(json_array_size(rows), plan.n_entries);
    cr_expect_eq(json_integer_value(json_object_get(doc, "registered")),
                 (json_int_t)plan.n_entries);
    json_t *row;
    size_t i;
    json_array_foreach(rows, i, row) {
        cr_expect_str_eq(json_string_value(json_object_get(row, "subject")),
                         plan.entries[i].subject);
        cr_expect_eq(json_integer_value(json_object_get(row, "id")), plan.entries[i].id);
        cr_expect_eq(json_is_true(json_object_get(row, "retired")), plan.entries[i].retired);
        cr_expect_str_eq(json_string_value(json_object_get(row, "state")), "registered");
    }
    json_decref(doc);
    free(out);
    cr_expect_gt(mmt_registry_fake_versions(fake, "mm.decisions-value"), 1);

    status = mmctl_sync(fake, "Pw-9f3e1", true, "verify.log", &out);
    cr_assert_eq(status, 0, "exit %d\n%s", status, out);
    doc = json_loads(out, 0, &jerr);
    cr_assert_not_null(doc, "not JSON: %s\n%s", jerr.text, out);
    cr_expect_eq(json_integer_value(json_object_get(doc, "registered")), 0);
    json_array_foreach(json_object_get(doc, "schemas"), i, row)
        cr_expect_str_eq(json_string_value(json_object_get(row, "state")), "present", "row %zu", i);
    json_decref(doc);
    free(out);
    mmt_registry_fake_stop(fake);
}

Test(schema_registry_client, mmctl_verify_only_on_an_empty_registry_exits_not_found, .init = setup,
     .fini = teardown) {
    mmt_registry_fake_t *fake = mmt_registry_fake_start(NULL);
    char *out = NULL;
    int status = mmctl_sync(fake, "", true, "verify.log", &out);
    cr_expect_eq(status, 3, "exit %d\n%s", status, out);
    cr_expect_neq(strstr(out, "subject mm.observations-value, id 1"), NULL, "%s", out);
    cr_expect_eq(mmt_registry_fake_writes(fake), 0);
    free(out);
    mmt_registry_fake_stop(fake);
}

Test(schema_registry_client, with_a_topic_prefix_the_subjects_carry_it, .init = setup,
     .fini = teardown) {
    mmt_registry_fake_t *fake = mmt_registry_fake_start(NULL);
    char *mmctl = mmt_binary("mmctl");
    char url[128];
    snprintf(url, sizeof(url), "MM_SCHEMA_REGISTRY_URL=%s", mmt_registry_fake_url(fake));
    char *env[] = {url, "MM_TOPIC_PREFIX=retail.", NULL};
    char *argv[] = {mmctl, "schemas", "sync", NULL};
    char *out = NULL;
    int status = run(argv, env, "prefix.log", &out);
    cr_assert_eq(status, 0, "exit %d\n%s", status, out);
    cr_expect_neq(strstr(out, "retail.mm.decisions-value"), NULL, "%s", out);
    cr_expect_eq(
        mmt_registry_fake_version_id(fake, "retail.mm.decisions-value",
                                     mmt_registry_fake_versions(fake, "retail.mm.decisions-value")),
        mm_avro_schema_id(MM_RECORD_MODEL_DECISION));
    cr_expect_eq(mmt_registry_fake_versions(fake, "mm.decisions-value"), 0);
    free(out);
    free(mmctl);
    mmt_registry_fake_stop(fake);
}

/* A service's argv: spec, blob store, a bootstrap nobody listens on, the registry. */
static int service(const char *name, const char *registry_url, int64_t run_ms,
                   mmt_registry_fake_t *wait_for, char **output) {
    char *bin = mmt_binary(name);
    cr_assert_not_null(bin);
    char spec[1024], blob[1024], state[1024], log[1024];
    snprintf(spec, sizeof(spec), "%s/specs/valid/forecast_minimal.json", MM_FIXTURES_DIR);
    snprintf(blob, sizeof(blob), "file://%s/blob", dir);
    snprintf(state, sizeof(state), "%s/%s.db", dir, name);
    snprintf(log, sizeof(log), "%s/%s.log", dir, name);
    char *argv[] = {bin,
                    "--spec",
                    spec,
                    "--blob-url",
                    blob,
                    "--bootstrap-servers",
                    "127.0.0.1:9",
                    strcmp(name, "mm-promoter") == 0 ? "--registry" : "--state",
                    state,
                    "--schema-registry-url",
                    (char *)registry_url,
                    NULL};
    pid_t pid = mmt_spawn(argv, NULL, log);
    cr_assert_gt(pid, 0);
    int status = -1;
    if (wait_for) {
        /* Registration happens before the service touches Kafka; then stop it. */
        int64_t waited = 0;
        while (mmt_registry_fake_versions(wait_for, "mm.deadletter-value") == 0 &&
               waited < mmt_timeout_ms(run_ms)) {
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
            waited += 50;
        }
        status = mmt_stop(pid, 10000);
    } else {
        status = mmt_wait(pid, mmt_timeout_ms(run_ms));
        if (status < 0) mmt_stop(pid, 1000);
    }
    *output = slurp(log);
    free(bin);
    return status;
}

Test(schema_registry_client, a_producing_service_registers_the_catalog_at_start_up, .init = setup,
     .fini = teardown) {
    mmt_registry_fake_t *fake = mmt_registry_fake_start(NULL);
    char *out = NULL;
    service("mm-trainer", mmt_registry_fake_url(fake), 30000, fake, &out);
    mm_schema_registry_report_t plan;
    char errstr[1024];
    cr_assert_eq(mm_schema_registry_plan(NULL, &plan, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    for (size_t i = 0; i < plan.n_entries; i++)
        cr_expect_not_null(mmt_registry_fake_schema(fake, plan.entries[i].id), "id %d\n%s",
                           (int)plan.entries[i].id, out);
    cr_expect_eq(
        mmt_registry_fake_version_id(fake, "mm.decisions-value",
                                     mmt_registry_fake_versions(fake, "mm.decisions-value")),
        mm_avro_schema_id(MM_RECORD_MODEL_DECISION), "%s", out);
    cr_expect_neq(strstr(out, "schema_registry_synced"), NULL, "%s", out);
    free(out);
    mmt_registry_fake_stop(fake);
}

Test(schema_registry_client, a_service_refuses_to_start_when_the_registry_disagrees, .init = setup,
     .fini = teardown) {
    mmt_registry_fake_t *fake = mmt_registry_fake_start(NULL);
    int32_t id = mm_avro_schema_id(MM_RECORD_MODEL_DECISION);
    mmt_registry_fake_put(fake, "legacy-value", id,
                          "{\"type\":\"record\",\"name\":\"Legacy\",\"fields\":[]}");
    char *out = NULL;
    int status = service("mm-promoter", mmt_registry_fake_url(fake), 30000, NULL, &out);
    cr_expect_eq(status, 78, "a configuration error (MM_EXIT_CONFIG): exit %d\n%s", status, out);
    char want[128];
    snprintf(want, sizeof(want), "subject mm.decisions-value, id %d", (int)id);
    cr_expect_neq(strstr(out, want), NULL, "%s", out);
    cr_expect_neq(strstr(out, "the registry has record Legacy"), NULL, "%s", out);
    free(out);
    mmt_registry_fake_stop(fake);
}

Test(schema_registry_client, a_service_that_cannot_reach_the_registry_exits_with_a_runtime_failure,
     .init = setup, .fini = teardown) {
    char *out = NULL;
    int status = service("mm-promoter", "http://127.0.0.1:1", 60000, NULL, &out);
    cr_expect_eq(status, 1, "a runtime failure (MM_EXIT_FAILURE): exit %d\n%s", status, out);
    cr_expect_neq(strstr(out, "schema registry http://127.0.0.1:1"), NULL, "%s", out);
    cr_expect_neq(strstr(out, "startup_failed"), NULL, "%s", out);
    free(out);
}

/* -------------------------------------- an independent reader on a real broker */

static void produce_decisions(const char *bootstrap) {
    char errstr[1024];
    mm_kafka_producer_t *producer =
        mm_kafka_producer_new(bootstrap, NULL, NULL, NULL, errstr, sizeof(errstr));
    cr_assert_not_null(producer, "%s", errstr);
    mm_model_decision_t approved = {
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
    mm_model_decision_t rejected = approved;
    rejected.partition_key = "store=2/item=9";
    rejected.decision = MM_DECISION_REJECTED;
    rejected.reason = "mase 1.40 above the threshold 1.0";
    rejected.has_production = false;
    const mm_model_decision_t *recs[] = {&approved, &rejected};
    for (size_t i = 0; i < 2; i++) {
        mm_buf_t value;
        mm_buf_init(&value, MM_BUF_CAP_MESSAGE);
        cr_assert_eq(mm_avro_encode_model_decision(recs[i], &value, errstr, sizeof(errstr)), MM_OK,
                     "%s", errstr);
        cr_assert_eq(mm_kafka_produce(producer, MM_TOPIC_DECISIONS, recs[i]->partition_key,
                                      strlen(recs[i]->partition_key), value.data, value.len, NULL,
                                      10000, errstr, sizeof(errstr)),
                     MM_OK, "%s", errstr);
        mm_buf_free(&value);
    }
    cr_assert_eq(mm_kafka_producer_flush(producer, (int)mmt_timeout_ms(30000)), MM_OK);
    mm_kafka_producer_destroy(producer, 0);
}

static json_t *find_key(json_t *const *lines, size_t n, const char *key) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(json_string_value(json_object_get(lines[i], "key")), key) == 0) return lines[i];
    cr_assert_fail("no record with key %s", key);
    return NULL;
}

Test(schema_registry_client, an_independent_avro_reader_decodes_our_records_via_the_registry,
     .init = setup, .fini = teardown, .timeout = 300) {
    if (mmt_kafka_skipped()) cr_skip_test("MM_SKIP_REAL_KAFKA=1");
    char python[1024], script[1024];
    snprintf(python, sizeof(python), "%s/.deps/avro-client/bin/python", MM_SOURCE_DIR);
    snprintf(script, sizeof(script), "%s/tests/integration/test_schema_registry_client.py",
             MM_SOURCE_DIR);
    struct stat st;
    cr_assert_eq(stat(python, &st), 0, "%s is missing: run scripts/deps.sh", python);

    mmt_registry_fake_t *fake = mmt_registry_fake_start(NULL);
    char *out = NULL;
    cr_assert_eq(mmctl_sync(fake, "", false, "sync.log", &out), 0, "%s", out);
    free(out);

    mmt_kafka_t kafka = {0};
    char why[1024] = "";
    bool up = mmt_kafka_start(&kafka, 1, why, sizeof(why));
    if (!up) mmt_kafka_stop(&kafka);
    cr_assert(up, "Kafka broker: %s", why);
    produce_decisions(kafka.bootstrap);

    char *argv[] = {
        python, script, kafka.bootstrap, (char *)mmt_registry_fake_url(fake), MM_TOPIC_DECISIONS,
        "2",    NULL};
    char path[1024];
    snprintf(path, sizeof(path), "%s/reader.out", dir);
    pid_t pid = mmt_spawn(argv, NULL, path);
    cr_assert_gt(pid, 0);
    int status = mmt_wait(pid, mmt_timeout_ms(120000));
    if (status < 0) mmt_stop(pid, 1000);
    mmt_kafka_stop(&kafka);
    out = slurp(path);
    cr_assert_eq(status, 0, "reader exit %d\n%s", status, out);

    /* One JSON line per record (stderr lines, if any, are not JSON objects). */
    json_t *lines[8];
    size_t n = 0;
    for (char *line = strtok(out, "\n"); line && n < 8; line = strtok(NULL, "\n")) {
        json_t *doc = json_loads(line, 0, NULL);
        if (json_is_object(doc) && json_object_get(doc, "value"))
            lines[n++] = doc;
        else
            json_decref(doc);
    }
    cr_assert_eq(n, 2, "two decoded records expected");
    json_t *a = find_key(lines, n, "store=1/item=7");
    json_t *r = find_key(lines, n, "store=2/item=9");
    cr_expect_eq(json_integer_value(json_object_get(a, "schema_id")),
                 mm_avro_schema_id(MM_RECORD_MODEL_DECISION));
    json_t *av = json_object_get(a, "value");
    cr_expect_str_eq(json_string_value(json_object_get(av, "partition_key")), "store=1/item=7");
    cr_expect_str_eq(json_string_value(json_object_get(av, "decision")), "approved");
    cr_expect_str_eq(json_string_value(json_object_get(av, "reason")),
                     "mase 0.71 beats the champion by 0.05");
    cr_expect_eq(json_integer_value(json_object_get(av, "candidate_version")), 2);
    json_t *prod = json_object_get(av, "production");
    cr_expect_str_eq(json_string_value(json_object_get(prod, "artifact_uri")),
                     "production/sales/store=1/item=7/ff.mm");
    cr_expect_eq(json_integer_value(json_object_get(prod, "n_rows")), 730);
    json_t *rv = json_object_get(r, "value");
    cr_expect_str_eq(json_string_value(json_object_get(rv, "decision")), "rejected");
    cr_expect(json_is_null(json_object_get(rv, "production")));
    for (size_t i = 0; i < n; i++) json_decref(lines[i]);
    free(out);
    mmt_registry_fake_stop(fake);
}
