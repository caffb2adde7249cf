/*
 * test_mmctl.c - tests of tools/mmctl/ as an operator uses it: the built
 * mmctl binary runs against a registry file this test writes through the
 * registry module, and its table and JSON output are checked. Local files
 * only, no network.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "mm/registry.h"
#include "support.h"

#define KEY            "store=1/item=1"
#define FALLBACK_WHY   "30 points < min_history 56"
#define REJECTED_WHY   "rejected: mase 1.30 not < 1.00; worse than baseline 1.10; no champion yet"
#define MMCTL_WAIT_MS  30000
#define OUTPUT_MAX     (256 * 1024)
#define EXIT_NOT_FOUND 3

static char *tmpdir;
static char registry_path[4096];
static char out_path[4096];
static char errstr[1024];

static void setup(void) {
    tmpdir = mmt_tmpdir("mmctl");
    cr_assert_not_null(tmpdir);
    snprintf(registry_path, sizeof(registry_path), "%s/registry.db", tmpdir);
    snprintf(out_path, sizeof(out_path), "%s/out.txt", tmpdir);
}

static void teardown(void) {
    mmt_rmtree(tmpdir);
    free(tmpdir);
}

TestSuite(mmctl, .init = setup, .fini = teardown);

/* Register one judged version of KEY the way mm-promoter does. */
static void add_version(mm_db_t *db, const char *train_id, mm_registry_status_t status,
                        const char *reason, const char *failed_check) {
    char uri[256], production[256];
    snprintf(uri, sizeof(uri), "candidates/sales/%s/%s.mm", KEY, train_id);
    snprintf(production, sizeof(production), "production/sales/%s/%s.mm", KEY, train_id);
    bool fallback = status == MM_REGISTRY_STATUS_FALLBACK;
    mm_metric_t metrics[] = {{.name = "mase", .value = fallback ? NAN : 0.8}};
    mm_model_trained_t rec = {0};
    rec.partition_key = KEY;
    rec.train_id = (char *)train_id;
    rec.dataset = "sales";
    rec.spec_hash = "hash";
    rec.algorithm = fallback ? "snaive" : "ets";
    rec.artifact_uri = uri;
    rec.artifact_sha256 = "00";
    rec.artifact_size = 2;
    rec.metrics = metrics;
    rec.n_metrics = 1;
    rec.baseline = metrics;
    rec.n_baseline = 1;
    rec.fallback = fallback;
    rec.fallback_reason = fallback ? FALLBACK_WHY : NULL;
    int32_t version = 0;
    cr_assert_eq(mm_registry_next_version(db, KEY, &version, errstr, sizeof(errstr)), MM_OK);
    mm_registry_judged_t judged = {.rec = &rec,
                                   .version = version,
                                   .production_uri =
                                       status == MM_REGISTRY_STATUS_REJECTED ? NULL : production,
                                   .status = status,
                                   .reason = reason,
                                   .failed_check = failed_check,
                                   .now_ms = 1700000000000 + version};
    cr_assert_eq(mm_registry_version_insert(db, &judged, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
}

/* v1 rejected by the threshold, v2 a declared fallback, v3 the approved champion. */
static void build_registry(void) {
    mm_db_t *db = mm_registry_open(registry_path, errstr, sizeof(errstr));
    cr_assert_not_null(db, "%s", errstr);
    add_version(db, "t1", MM_REGISTRY_STATUS_REJECTED, REJECTED_WHY, "threshold");
    add_version(db, "t2", MM_REGISTRY_STATUS_FALLBACK,
                "fallback: declared fallback (" FALLBACK_WHY "), not judged on merit", NULL);
    add_version(db, "t3", MM_REGISTRY_STATUS_APPROVED, "approved: mase 0.80 < 1.00", NULL);
    cr_assert_eq(mm_registry_alias_set(db, KEY, MM_ALIAS_CHAMPION, 3, 1, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    mm_db_close(db);
}

/* Run mmctl with @p args (NULL-terminated); its stdout and stderr land in out_path. */
static int run_mmctl(const char *const *args, char *output, size_t output_size) {
    char *bin = mmt_binary("mmctl");
    cr_assert_not_null(bin, "mmctl is not built");
    char *argv[16] = {bin};
    for (size_t i = 0; args[i] && i + 2 < sizeof(argv) / sizeof(argv[0]); i++)
        argv[i + 1] = (char *)args[i];
    remove(out_path);
    pid_t pid = mmt_spawn(argv, NULL, out_path);
    cr_assert_gt(pid, 0);
    int status = mmt_wait(pid, mmt_timeout_ms(MMCTL_WAIT_MS));
    free(bin);
    FILE *f = fopen(out_path, "r");
    size_t len = f ? fread(output, 1, output_size - 1, f) : 0;
    output[len] = '\0';
    if (f) fclose(f);
    return status;
}

Test(mmctl, models_versions_json_shows_status_and_why_each_version_fell_back_or_was_rejected) {
    build_registry();
    static char output[OUTPUT_MAX];
    const char *args[] = {"models",      "versions", KEY,    "--registry",
                          registry_path, "-o",       "json", NULL};
    cr_assert_eq(run_mmctl(args, output, sizeof(output)), 0, "%s", output);
    json_error_t jerr;
    json_t *rows = json_loads(output, 0, &jerr);
    cr_assert(json_is_array(rows), "%s: %s", jerr.text, output);
    cr_assert_eq(json_array_size(rows), 3);

    json_t *rejected = json_array_get(rows, 0), *fallback = json_array_get(rows, 1),
           *champion = json_array_get(rows, 2);
    cr_expect_str_eq(json_string_value(json_object_get(rejected, "status")), "rejected");
    cr_expect_str_eq(json_string_value(json_object_get(rejected, "failed_check")), "threshold");
    cr_expect_str_eq(json_string_value(json_object_get(rejected, "reason")), REJECTED_WHY);
    cr_expect(json_is_null(json_object_get(rejected, "fallback_reason")));

    cr_expect_str_eq(json_string_value(json_object_get(fallback, "status")), "fallback");
    cr_expect(json_is_true(json_object_get(fallback, "fallback")));
    cr_expect_str_eq(json_string_value(json_object_get(fallback, "fallback_reason")), FALLBACK_WHY);
    cr_expect(json_is_null(json_object_get(fallback, "failed_check")));

    cr_expect_str_eq(json_string_value(json_object_get(champion, "status")), "approved");
    cr_expect_str_eq(json_string_value(json_object_get(champion, "aliases")), "champion");
    json_decref(rows);
}

Test(mmctl, models_versions_table_has_a_why_column) {
    build_registry();
    static char output[OUTPUT_MAX];
    const char *args[] = {"models", "versions", KEY, "--registry", registry_path, NULL};
    cr_assert_eq(run_mmctl(args, output, sizeof(output)), 0, "%s", output);
    cr_expect(strstr(output, "WHY") != NULL, "%s", output);
    char *line = strstr(output, "\nv2 ");
    cr_assert_not_null(line, "%s", output);
    char *end = strchr(line + 1, '\n');
    if (end) *end = '\0';
    cr_expect(strstr(line, "fallback") != NULL, "%s", line);
    cr_expect(strstr(line, FALLBACK_WHY) != NULL, "%s", line);
    if (end) *end = '\n';
    line = strstr(output, "\nv1 ");
    cr_assert_not_null(line, "%s", output);
    cr_expect(strstr(line, "rejected") != NULL, "%s", line);
    cr_expect(strstr(line, "threshold") != NULL, "%s", line);
}

Test(mmctl, models_versions_of_an_unknown_key_exits_not_found) {
    build_registry();
    static char output[OUTPUT_MAX];
    const char *args[] = {"models",     "versions",    "store=9/item=9",
                          "--registry", registry_path, NULL};
    cr_expect_eq(run_mmctl(args, output, sizeof(output)), EXIT_NOT_FOUND, "%s", output);
}
