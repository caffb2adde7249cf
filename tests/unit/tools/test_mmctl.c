/*
 * test_mmctl.c - tests of tools/mmctl/ as an operator uses it: the built
 * mmctl binary runs against a registry file and a prediction sink this test
 * writes through the registry module and the sink library, and its table
 * and JSON output are checked. Local files only, no network.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "mm/registry.h"
#include "sink.h"
#include "support.h"

#define KEY            "store=1/item=1"
#define FALLBACK_WHY   "30 points < min_history 56"
#define ADJUSTED_WHY   "xgboost left out: 400 points are below xgb_min_history 1000"
#define REJECTED_WHY   "rejected: mase 1.30 not < 1.00; worse than baseline 1.10; no champion yet"
#define MMCTL_WAIT_MS  30000
#define OUTPUT_MAX     (256 * 1024)
#define EXIT_NOT_FOUND 3

static char *tmpdir;
static char registry_path[4096];
static char sink_path[4096];
static char out_path[4096];
static char errstr[1024];

static void setup(void) {
    tmpdir = mmt_tmpdir("mmctl");
    cr_assert_not_null(tmpdir);
    snprintf(registry_path, sizeof(registry_path), "%s/registry.db", tmpdir);
    snprintf(sink_path, sizeof(sink_path), "%s/predictions.db", tmpdir);
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
    rec.adjustments = status == MM_REGISTRY_STATUS_APPROVED ? ADJUSTED_WHY : NULL;
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

/*
 * v1 rejected by the threshold, v2 a declared fallback, v3 the approved
 * champion, trained with XGBoost left out (an adjustment).
 */
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
    cr_expect_str_eq(json_string_value(json_object_get(champion, "adjustments")), ADJUSTED_WHY);
    cr_expect(json_is_null(json_object_get(rejected, "adjustments")));
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
    /* The champion's adjustment on the line after its row, and only there. */
    line = strstr(output, "\nv3 ");
    cr_assert_not_null(line, "%s", output);
    char *next = strchr(line + 1, '\n');
    cr_assert_not_null(next, "%s", output);
    cr_expect_eq(strncmp(next + 1, "         adjusted: " ADJUSTED_WHY "\n",
                         strlen("         adjusted: " ADJUSTED_WHY "\n")),
                 0, "%s", output);
    cr_expect_null(strstr(strstr(output, "adjusted: ") + 1, "adjusted: "), "%s", output);
}

Test(mmctl, models_versions_of_an_unknown_key_exits_not_found) {
    build_registry();
    static char output[OUTPUT_MAX];
    const char *args[] = {"models",     "versions",    "store=9/item=9",
                          "--registry", registry_path, NULL};
    cr_expect_eq(run_mmctl(args, output, sizeof(output)), EXIT_NOT_FOUND, "%s", output);
}

/* ------------------------------------------------------------ predictions */

#define FB_KEY       "store=2/item=1"
#define NO_KEY       "store=3/item=1"
#define NO_MODEL_MSG "no approved model: no candidate has been approved"
#define FB_MSG       "no approved model: only a declared fallback"
#define DAY_MS       86400000LL
#define DAY0_MS      1704067200000LL /* 2024-01-01 */

static void answer(mm_scorer_sink_t *sink, const mm_prediction_batch_t *p) {
    cr_assert_eq(mm_scorer_sink_begin(sink, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(mm_scorer_sink_answer(sink, p, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(mm_scorer_sink_commit(sink, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
}

/*
 * Two runs the way mm-scorer writes them: KEY by its champion in run-1
 * (days 1-3) and again in run-2 (days 2-4, so run-1's day 1 stays stored but
 * is not the latest answer); FB_KEY by its declared fallback (days 2-3) and
 * NO_KEY answered "no model" in run-2. The latest view holds 3 + 2 + 1 rows.
 */
static void build_sink(void) {
    mm_scorer_sink_t *sink = mm_scorer_sink_open(sink_path, errstr, sizeof(errstr));
    cr_assert_not_null(sink, "%s", errstr);
    int64_t t1[] = {DAY0_MS + DAY_MS, DAY0_MS + 2 * DAY_MS, DAY0_MS + 3 * DAY_MS};
    int64_t t2[] = {DAY0_MS + 2 * DAY_MS, DAY0_MS + 3 * DAY_MS, DAY0_MS + 4 * DAY_MS};
    double v1[] = {1.5, 2.5, 3.5}, v2[] = {11.5, 12.5, 13.5}, lo[] = {10, 11, 12},
           hi[] = {13, 14, 15}, none[] = {NAN, NAN, NAN};
    mm_prediction_batch_t p = {.request_id = "run-1",
                               .partition_key = KEY,
                               .dataset = "sales",
                               .status = MM_PREDICTION_OK,
                               .train_id = "t3",
                               .model_version = 3,
                               .algorithm = "ets",
                               .data_watermark_ms = DAY0_MS,
                               .load_id = "load-1",
                               .interval_level = 0.95,
                               .n = 3,
                               .time_ms = t1,
                               .value = v1,
                               .lower = lo,
                               .upper = hi,
                               .produced_at_ms = DAY0_MS + 100,
                               .model_data_end_ms = DAY0_MS - 7 * DAY_MS,
                               .new_observations = 7,
                               .planned_steps = 3};
    answer(sink, &p);
    p.request_id = "run-2";
    p.time_ms = t2;
    p.value = v2;
    p.data_watermark_ms = DAY0_MS + DAY_MS;
    p.load_id = "load-2";
    p.produced_at_ms = DAY0_MS + DAY_MS + 100;
    p.new_observations = 8;
    p.planned_steps = 2;
    p.carried_steps = 1;
    answer(sink, &p);
    answer(sink, &(mm_prediction_batch_t){.request_id = "run-2",
                                          .partition_key = FB_KEY,
                                          .dataset = "sales",
                                          .status = MM_PREDICTION_OK,
                                          .message = FB_MSG,
                                          .algorithm = "snaive",
                                          .data_watermark_ms = DAY0_MS + DAY_MS,
                                          .load_id = "load-2",
                                          .n = 2,
                                          .time_ms = t2,
                                          .value = v1,
                                          .lower = none,
                                          .upper = none,
                                          .produced_at_ms = DAY0_MS + DAY_MS + 100,
                                          .fallback = true,
                                          .model_data_end_ms = -1});
    answer(sink, &(mm_prediction_batch_t){.request_id = "run-2",
                                          .partition_key = NO_KEY,
                                          .dataset = "sales",
                                          .status = MM_PREDICTION_NO_MODEL,
                                          .message = NO_MODEL_MSG,
                                          .data_watermark_ms = -1,
                                          .model_data_end_ms = -1,
                                          .produced_at_ms = DAY0_MS + DAY_MS + 100});
    mm_scorer_sink_close(sink);
}

/* The lines of @p output that hold @p needle, and those that do not (header excluded). */
static void count_lines(char *output, const char *needle, int *with, int *without) {
    *with = *without = 0;
    char *save = NULL;
    bool header = true;
    for (char *line = strtok_r(output, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (header) {
            header = false;
            continue;
        }
        if (strstr(line, needle))
            (*with)++;
        else
            (*without)++;
    }
}

/* One line of `predictions list` as a table. */
typedef struct table_row {
    char key[64], entity[64], status[16], fb[8], when[32], algorithm[32], mark[32];
    double value, lower, upper;
    int version, planned, carried;
    const char *line;
} table_row_t;

/* Parse the table's rows (after its header) into @p rows; returns how many. */
static size_t table_rows(char *output, table_row_t *rows, size_t max) {
    size_t n = 0;
    char *save = NULL;
    char *line = strtok_r(output, "\n", &save); /* the header */
    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        cr_assert_lt(n, max);
        table_row_t *r = &rows[n++];
        int got = sscanf(line, "%63s %63s %15s %7s %31s %lf %lf %lf %d %31s %31s %d/%d", r->key,
                         r->entity, r->status, r->fb, r->when, &r->value, &r->lower, &r->upper,
                         &r->version, r->algorithm, r->mark, &r->planned, &r->carried);
        cr_assert_eq(got, 13, "not a table row: %s", line);
        r->line = line;
    }
    return n;
}

static const table_row_t *find_row(const table_row_t *rows, size_t n, const char *key,
                                   const char *when) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].key, key) == 0 && strcmp(rows[i].when, when) == 0) return &rows[i];
    return NULL;
}

Test(mmctl, predictions_list_table_shows_each_keys_latest_run) {
    build_sink();
    static char output[OUTPUT_MAX];
    const char *args[] = {"predictions", "list", "--sink", sink_path, "-o", "table", NULL};
    cr_assert_eq(run_mmctl(args, output, sizeof(output)), 0, "%s", output);
    cr_assert(strncmp(output, "KEY", 3) == 0, "a header first: %s", output);
    cr_expect(strstr(output, "WATERMARK") != NULL && strstr(output, "PLANNED/CARRIED") != NULL,
              "%s", output);
    table_row_t rows[16];
    size_t n = table_rows(output, rows, 16);
    cr_assert_eq(n, 3 + 2 + 1, "one line per row of the latest view");
    /* KEY's latest run: days 2-4 with its values, interval, version, watermark, plan use */
    const table_row_t *r = find_row(rows, n, KEY, "2024-01-03T00:00:00Z");
    cr_assert_not_null(r);
    cr_expect_str_eq(r->status, "ok");
    cr_expect_str_eq(r->fb, "no");
    cr_expect_eq(r->value, 11.5);
    cr_expect_eq(r->lower, 10);
    cr_expect_eq(r->upper, 13);
    cr_expect_eq(r->version, 3);
    cr_expect_str_eq(r->algorithm, "ets");
    cr_expect_str_eq(r->mark, "2024-01-02T00:00:00Z");
    cr_expect_eq(r->planned, 2);
    cr_expect_eq(r->carried, 1);
    r = find_row(rows, n, KEY, "2024-01-05T00:00:00Z");
    cr_assert_not_null(r);
    cr_expect_eq(r->value, 13.5);
    cr_expect_null(find_row(rows, n, KEY, "2024-01-02T00:00:00Z"),
                   "run-1's first day is stored but not the latest answer");
    /* the fallback is labelled; the key without a model is one line that says why */
    r = find_row(rows, n, FB_KEY, "2024-01-03T00:00:00Z");
    cr_assert_not_null(r);
    cr_expect_str_eq(r->fb, "yes");
    cr_expect_str_eq(r->algorithm, "snaive");
    r = find_row(rows, n, NO_KEY, "-");
    cr_assert_not_null(r);
    cr_expect_str_eq(r->status, "no_model");
    cr_expect(strstr(r->line, NO_MODEL_MSG) != NULL, "%s", r->line);
}

Test(mmctl, predictions_list_key_shows_only_that_keys_rows) {
    build_sink();
    static char output[OUTPUT_MAX];
    const char *args[] = {"predictions", "list", "--key", FB_KEY, "--sink", sink_path, NULL};
    cr_assert_eq(run_mmctl(args, output, sizeof(output)), 0, "%s", output);
    int with, without;
    count_lines(output, FB_KEY, &with, &without);
    cr_expect_eq(with, 2, "%s", output);
    cr_expect_eq(without, 0, "no other key's rows: %s", output);

    const char *json_args[] = {"predictions", "list", "--key", KEY, "--sink",
                               sink_path,     "-o",   "json",  NULL};
    cr_assert_eq(run_mmctl(json_args, output, sizeof(output)), 0, "%s", output);
    json_error_t jerr;
    json_t *rows = json_loads(output, 0, &jerr);
    cr_assert(json_is_array(rows), "%s: %s", jerr.text, output);
    cr_expect_eq(json_array_size(rows), 3);
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) {
        cr_expect_str_eq(json_string_value(json_object_get(row, "partition_key")), KEY);
        cr_expect_str_eq(json_string_value(json_object_get(row, "request_id")), "run-2");
    }
    json_decref(rows);

    const char *unknown[] = {"predictions", "list",    "--key", "store=9/item=9",
                             "--sink",      sink_path, NULL};
    cr_expect_eq(run_mmctl(unknown, output, sizeof(output)), EXIT_NOT_FOUND, "%s", output);
}

/* The sink's columns as docs/scoring.md documents them: the predictions
 * table's, plus the status and message the latest_predictions view adds. */
static size_t documented_columns(char names[][32], size_t max) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/docs/scoring.md", MM_SOURCE_DIR);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    char line[1024];
    bool in_table = false;
    size_t n = 0;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "### ", 4) == 0) in_table = strstr(line, "### `predictions`") == line;
        if (!in_table || strncmp(line, "| `", 3) != 0) continue;
        char *end = strchr(line + 1, '|'); /* the first cell names the column(s) */
        cr_assert_not_null(end);
        *end = '\0';
        for (char *a = strchr(line, '`'); a; a = strchr(a, '`')) {
            char *b = strchr(a + 1, '`');
            cr_assert_not_null(b, "%s", line);
            cr_assert_lt(n, max);
            snprintf(names[n++], 32, "%.*s", (int)(b - a - 1), a + 1);
            a = b + 1;
        }
    }
    fclose(f);
    cr_assert_lt(n + 2, max);
    snprintf(names[n++], 32, "status");
    snprintf(names[n++], 32, "message");
    return n;
}

Test(mmctl, predictions_export_json_is_every_row_with_the_documented_columns) {
    build_sink();
    char names[64][32];
    size_t n_names = documented_columns(names, 64);
    cr_assert_geq(n_names, 20, "docs/scoring.md lists the sink's columns");
    static char output[OUTPUT_MAX];
    const char *args[] = {"predictions", "export", "--sink", sink_path, "-o", "json", NULL};
    cr_assert_eq(run_mmctl(args, output, sizeof(output)), 0, "%s", output);
    json_error_t jerr;
    json_t *rows = json_loads(output, 0, &jerr);
    cr_assert(json_is_array(rows), "not JSON: %s: %s", jerr.text, output);
    cr_assert_eq(json_array_size(rows), 3 + 2 + 1, "every row of the latest view: %s", output);
    size_t i;
    json_t *row;
    int per_key[3] = {0};
    json_array_foreach(rows, i, row) {
        cr_assert(json_is_object(row));
        for (size_t c = 0; c < n_names; c++)
            cr_expect_not_null(json_object_get(row, names[c]), "row %zu has no %s", i, names[c]);
        cr_expect_eq(json_object_size(row), n_names, "row %zu: only the documented columns", i);
        const char *key = json_string_value(json_object_get(row, "partition_key"));
        cr_assert_not_null(key);
        per_key[0] += strcmp(key, KEY) == 0;
        per_key[1] += strcmp(key, FB_KEY) == 0;
        per_key[2] += strcmp(key, NO_KEY) == 0;
    }
    cr_expect_eq(per_key[0], 3);
    cr_expect_eq(per_key[1], 2);
    cr_expect_eq(per_key[2], 1);

    /* the first row: KEY's first step of run-2, every lineage column as written */
    json_t *first = json_array_get(rows, 0);
    cr_expect_str_eq(json_string_value(json_object_get(first, "partition_key")), KEY);
    cr_expect(json_is_null(json_object_get(first, "entity")));
    cr_expect_str_eq(json_string_value(json_object_get(first, "status")), "ok");
    cr_expect(json_is_false(json_object_get(first, "fallback")));
    cr_expect_eq(json_integer_value(json_object_get(first, "target_time_ms")),
                 DAY0_MS + 2 * DAY_MS);
    cr_expect_eq(json_real_value(json_object_get(first, "value")), 11.5);
    cr_expect_eq(json_real_value(json_object_get(first, "lower")), 10.0);
    cr_expect_eq(json_real_value(json_object_get(first, "upper")), 13.0);
    cr_expect_eq(json_integer_value(json_object_get(first, "model_version")), 3);
    cr_expect_str_eq(json_string_value(json_object_get(first, "train_id")), "t3");
    cr_expect_str_eq(json_string_value(json_object_get(first, "algorithm")), "ets");
    cr_expect_eq(json_integer_value(json_object_get(first, "data_watermark_ms")), DAY0_MS + DAY_MS);
    cr_expect_str_eq(json_string_value(json_object_get(first, "load_id")), "load-2");
    cr_expect_eq(json_integer_value(json_object_get(first, "model_data_end_ms")),
                 DAY0_MS - 7 * DAY_MS);
    cr_expect_eq(json_integer_value(json_object_get(first, "new_observations")), 8);
    cr_expect_eq(json_integer_value(json_object_get(first, "planned_steps")), 2);
    cr_expect_eq(json_integer_value(json_object_get(first, "carried_steps")), 1);
    cr_expect_str_eq(json_string_value(json_object_get(first, "request_id")), "run-2");
    cr_expect_eq(json_integer_value(json_object_get(first, "produced_at_ms")),
                 DAY0_MS + DAY_MS + 100);

    /* the fallback: labelled, no interval, no registry version */
    json_t *fb = json_array_get(rows, 3);
    cr_expect_str_eq(json_string_value(json_object_get(fb, "partition_key")), FB_KEY);
    cr_expect(json_is_true(json_object_get(fb, "fallback")));
    cr_expect_str_eq(json_string_value(json_object_get(fb, "message")), FB_MSG);
    cr_expect(json_is_null(json_object_get(fb, "lower")) &&
              json_is_null(json_object_get(fb, "upper")));
    cr_expect(json_is_null(json_object_get(fb, "model_version")));
    /* the key without a model: one row, no target time, no value, why */
    json_t *none = json_array_get(rows, 5);
    cr_expect_str_eq(json_string_value(json_object_get(none, "partition_key")), NO_KEY);
    cr_expect_str_eq(json_string_value(json_object_get(none, "status")), "no_model");
    cr_expect(json_is_null(json_object_get(none, "target_time_ms")));
    cr_expect(json_is_null(json_object_get(none, "value")));
    cr_expect_str_eq(json_string_value(json_object_get(none, "message")), NO_MODEL_MSG);
    json_decref(rows);
}
