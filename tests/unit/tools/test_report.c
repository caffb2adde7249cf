/*
 * test_report.c - `mmctl report --html` (tools/mmctl/report_data.c,
 * report_html.c) on files this test writes: a registry through the registry
 * module and a SQLite sink through the sink library. Checks what the page
 * says (coverage, the accuracy distribution, rejected keys and their
 * reasons, which keys are drilled into), that text from the data is
 * HTML-escaped, and the exit statuses of bad input. Local files only; the
 * rendering in a browser is tests/integration/test_report_html.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "mm/registry.h"
#include "sink.h"
#include "support.h"

#define GOOD           "store=1/item=1"
#define WORST          "store=1/item=2"
#define HOSTILE        "store=<b>3</b>/item=1"
#define REJECTED_WHY   "rejected: mase 1.30 not < 1.00 & worse than baseline <1.10>"
#define MMCTL_WAIT_MS  30000
#define OUTPUT_MAX     (512 * 1024)
#define EXIT_USAGE     2
#define EXIT_NOT_FOUND 3

static char *tmpdir;
static char registry_path[4096], sink_path[4096], html_path[4096], out_path[4096];
static char errstr[1024];
static char page[OUTPUT_MAX];

static void setup(void) {
    tmpdir = mmt_tmpdir("report");
    cr_assert_not_null(tmpdir);
    snprintf(registry_path, sizeof(registry_path), "%s/registry.db", tmpdir);
    snprintf(sink_path, sizeof(sink_path), "%s/predictions.db", tmpdir);
    snprintf(html_path, sizeof(html_path), "%s/report.html", tmpdir);
    snprintf(out_path, sizeof(out_path), "%s/out.txt", tmpdir);
}

static void teardown(void) {
    mmt_rmtree(tmpdir);
    free(tmpdir);
}

TestSuite(report_html, .init = setup, .fini = teardown);

static void add_version(mm_db_t *db, const char *key, const char *train_id, double mase,
                        double baseline, mm_registry_status_t status, const char *reason,
                        const char *failed_check) {
    char uri[256];
    snprintf(uri, sizeof(uri), "candidates/sales/%s/%s.mm", key, train_id);
    mm_metric_t metrics[] = {{.name = "mase", .value = mase}};
    mm_metric_t base[] = {{.name = "mase", .value = baseline}};
    mm_model_trained_t rec = {0};
    rec.partition_key = (char *)key;
    rec.train_id = (char *)train_id;
    rec.dataset = "sales";
    rec.spec_hash = "hash";
    rec.algorithm = "ets";
    rec.artifact_uri = uri;
    rec.artifact_sha256 = "00";
    rec.artifact_size = 2;
    rec.metrics = metrics;
    rec.n_metrics = 1;
    rec.baseline = base;
    rec.n_baseline = 1;
    int32_t version = 0;
    cr_assert_eq(mm_registry_next_version(db, key, &version, errstr, sizeof(errstr)), MM_OK);
    mm_registry_judged_t judged = {.rec = &rec,
                                   .version = version,
                                   .production_uri =
                                       status == MM_REGISTRY_STATUS_APPROVED ? uri : NULL,
                                   .status = status,
                                   .reason = reason,
                                   .failed_check = failed_check,
                                   .now_ms = 1700000000000 + version};
    cr_assert_eq(mm_registry_version_insert(db, &judged, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    if (status == MM_REGISTRY_STATUS_APPROVED)
        cr_assert_eq(
            mm_registry_alias_set(db, key, MM_ALIAS_CHAMPION, version, 1, errstr, sizeof(errstr)),
            MM_OK, "%s", errstr);
}

/* GOOD beats its baseline, WORST trails it, HOSTILE has only a rejected version. */
static void build_registry(void) {
    mm_db_t *db = mm_registry_open(registry_path, errstr, sizeof(errstr));
    cr_assert_not_null(db, "%s", errstr);
    add_version(db, GOOD, "t1", 0.5, 1.0, MM_REGISTRY_STATUS_APPROVED, "approved", NULL);
    add_version(db, WORST, "t2", 1.5, 1.0, MM_REGISTRY_STATUS_APPROVED, "approved", NULL);
    add_version(db, HOSTILE, "t3", 1.3, 1.1, MM_REGISTRY_STATUS_REJECTED, REJECTED_WHY,
                "threshold");
    mm_db_close(db);
}

/* GOOD and WORST answered by their champions, HOSTILE "no model". */
static void build_sink(void) {
    mm_scorer_sink_t *sink = mm_scorer_sink_open(sink_path, errstr, sizeof(errstr));
    cr_assert_not_null(sink, "%s", errstr);
    static int64_t t[] = {86400000, 172800000};
    static double v[] = {10, 12}, lo[] = {8, 9}, hi[] = {12, 15};
    const char *keys[] = {GOOD, WORST};
    cr_assert_eq(mm_scorer_sink_begin(sink, errstr, sizeof(errstr)), MM_OK);
    for (int i = 0; i < 2; i++) {
        mm_prediction_batch_t p = {.partition_key = (char *)keys[i],
                                   .request_id = "run-1",
                                   .status = MM_PREDICTION_OK,
                                   .model_version = 1,
                                   .algorithm = "ets",
                                   .produced_at_ms = 5,
                                   .n = 2,
                                   .time_ms = t,
                                   .value = v,
                                   .lower = lo,
                                   .upper = hi};
        cr_assert_eq(mm_scorer_sink_answer(sink, &p, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    }
    mm_prediction_batch_t none = {.partition_key = HOSTILE,
                                  .request_id = "run-1",
                                  .status = MM_PREDICTION_NO_MODEL,
                                  .message = "no approved model",
                                  .produced_at_ms = 5};
    cr_assert_eq(mm_scorer_sink_answer(sink, &none, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(mm_scorer_sink_commit(sink, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    mm_scorer_sink_close(sink);
}

static int run_mmctl(const char *const *args) {
    char *bin = mmt_binary("mmctl");
    cr_assert_not_null(bin, "mmctl is not built");
    char *argv[20] = {bin};
    for (size_t i = 0; args[i] && i + 2 < sizeof(argv) / sizeof(argv[0]); i++)
        argv[i + 1] = (char *)args[i];
    remove(out_path);
    pid_t pid = mmt_spawn(argv, NULL, out_path);
    cr_assert_gt(pid, 0);
    int status = mmt_wait(pid, mmt_timeout_ms(MMCTL_WAIT_MS));
    free(bin);
    return status;
}

static const char *read_file(const char *path) {
    FILE *f = fopen(path, "r");
    size_t len = f ? fread(page, 1, sizeof(page) - 1, f) : 0;
    page[len] = '\0';
    if (f) fclose(f);
    return page;
}

static int count_of(const char *text, const char *needle) {
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

Test(report_html, the_page_counts_coverage_accuracy_and_rejected_keys_with_reasons) {
    build_registry();
    build_sink();
    const char *args[] = {"report",      "--html", html_path, "--registry",
                          registry_path, "--sink", sink_path, NULL};
    cr_assert_eq(run_mmctl(args), 0, "%s", read_file(out_path));
    const char *html = read_file(html_path);
    cr_expect(strstr(html, "3 keys in the sink's latest run: <b>2</b> answered by a champion, "
                           "<b>0</b> by a fallback, <b>1</b> with nothing") != NULL);
    cr_expect(strstr(html, "2 champions; 1 (50%) beat it") != NULL, "the accuracy summary");
    /* Ratios 0.5 and 1.5: mean 1.0, p10 0.6 (interpolated), the worst 1.5. */
    cr_expect(strstr(html, "<td>1.000</td><td>0.600</td>") != NULL, "mean and p10");
    cr_expect(strstr(html, "<td>1.500</td></tr>") != NULL, "the worst ratio");
    cr_expect(strstr(html, "1 keys have no champion and their newest version was rejected") !=
              NULL);
    /* Text from the data is escaped: the key and the reason. */
    cr_expect(strstr(html, "store=&lt;b&gt;3&lt;/b&gt;/item=1") != NULL);
    cr_expect(strstr(html, "<b>3</b>") == NULL, "a key must not become markup");
    cr_expect(strstr(html, "not &lt; 1.00 &amp; worse than baseline &lt;1.10&gt;") != NULL);
    cr_expect(strstr(html, "<td>threshold</td>") != NULL, "the failed check");
    /* Drill-down: the worst champion first, then the sample; forecasts from the sink. */
    const char *worst = strstr(html, "<h3>" WORST " <small>(worst)</small>");
    const char *good = strstr(html, "<h3>" GOOD);
    cr_expect(worst && good && worst < good, "the worst key is drilled into first");
    cr_expect_eq(count_of(html, "data-chart=\"drill\""), 2, "two keys with a forecast to draw");
    cr_expect_eq(count_of(html, "class=\"band\""), 2, "each with its interval");
    cr_expect(strstr(html, "not shown: pass --state") != NULL, "no history without --state");
    cr_expect_eq(count_of(html, "data-chart=\"coverage\""), 1);
    cr_expect_eq(count_of(html, "data-chart=\"accuracy\""), 1);
    cr_expect_eq(count_of(html, "data-chart=\"models\""), 1);
    cr_expect_eq(count_of(html, "data-chart=\"training\""), 1);
    cr_expect_eq(count_of(html, "<script"), 0, "no script");
}

Test(report_html, without_a_sink_coverage_comes_from_the_registry) {
    build_registry();
    const char *args[] = {"report", "--html", html_path, "--registry", registry_path, NULL};
    cr_assert_eq(run_mmctl(args), 0, "%s", read_file(out_path));
    const char *html = read_file(html_path);
    cr_expect(strstr(html, "3 keys in the registry (no --sink): <b>2</b> answered by a champion, "
                           "<b>0</b> by a fallback, <b>1</b> with nothing") != NULL);
}

Test(report_html, bad_input_gets_a_clear_error_and_its_exit_status) {
    build_registry();
    char missing[4200], bad_out[4200];
    snprintf(missing, sizeof(missing), "%s/absent.db", tmpdir);
    snprintf(bad_out, sizeof(bad_out), "%s/no/such/dir/report.html", tmpdir);

    const char *no_registry[] = {"report", "--html", html_path, "--registry", missing, NULL};
    cr_expect_eq(run_mmctl(no_registry), EXIT_NOT_FOUND);
    cr_expect(strstr(read_file(out_path), "absent.db does not exist") != NULL, "%s", page);

    const char *bad_scheme[] = {"report",
                                "--html",
                                html_path,
                                "--registry",
                                registry_path,
                                "--sink",
                                "mysql://u:hunter2@h/db",
                                NULL};
    cr_expect_eq(run_mmctl(bad_scheme), EXIT_USAGE);
    cr_expect(strstr(read_file(out_path), "unknown URL scheme 'mysql'") != NULL, "%s", page);
    cr_expect(strstr(page, "hunter2") == NULL, "the password leaked: %s", page);

    const char *no_state[] = {"report",      "--html",  html_path, "--registry",
                              registry_path, "--state", missing,   NULL};
    cr_expect_eq(run_mmctl(no_state), EXIT_NOT_FOUND);
    cr_expect(strstr(read_file(out_path), "scorer state") != NULL, "%s", page);

    const char *unwritable[] = {"report", "--html", bad_out, "--registry", registry_path, NULL};
    cr_expect_eq(run_mmctl(unwritable), 1);
    cr_expect(strstr(read_file(out_path), "cannot write") != NULL, "%s", page);
}
