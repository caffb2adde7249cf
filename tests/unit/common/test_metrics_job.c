/*
 * test_metrics_job.c - common/src/metrics_job.c: a one-shot job's metrics
 * written atomically for node_exporter's textfile collector and pushed to a
 * Pushgateway (a scripted fake on loopback), and the last success kept
 * across a failed run.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <criterion/criterion.h>

#include "fake_http.h"
#include "mm/metrics.h"
#include "mm/metrics_job.h"
#include "mm/util.h"
#include "prom_text.h"
#include "support.h"

#define LAST_SUCCESS "mm_test_job_last_success_timestamp_seconds"

/* A registry like a job's: a labelled gauge and a histogram. */
static mm_metrics_t *job_metrics(double keys_ok, double keys_failed) {
    char errstr[256] = "";
    mm_metrics_t *m = mm_metrics_new();
    cr_assert_not_null(m);
    mm_metric_t *keys = mm_metrics_gauge(m, "mm_test_job_keys", "Keys in the last run, by outcome.",
                                         "outcome", errstr, sizeof(errstr));
    cr_assert_not_null(keys, "%s", errstr);
    const char *ok[] = {"ok"}, *failed[] = {"error"};
    mm_metric_set(keys, ok, keys_ok);
    mm_metric_set(keys, failed, keys_failed);
    static const double bounds[] = {0.1, 1};
    mm_metric_t *h = mm_metrics_histogram(m, "mm_test_job_step_seconds", "Step time.", NULL, bounds,
                                          2, errstr, sizeof(errstr));
    cr_assert_not_null(h, "%s", errstr);
    mm_metric_observe(h, NULL, 0.5);
    return m;
}

static size_t files_in(const char *dir) {
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

Test(metrics_job, file_is_the_exposition_written_atomically) {
    char *dir = mmt_tmpdir("metrics-job");
    char path[512];
    snprintf(path, sizeof(path), "%s/job.prom", dir);
    mm_metrics_t *m = job_metrics(7, 2);
    char errstr[512] = "";
    cr_assert_eq(mm_metrics_write_file(m, path, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    char *text = mmt_prom_read(path);
    char why[512] = "";
    cr_assert(mmt_prom_check(text, why, sizeof(why)), "%s\n%s", why, text);
    cr_expect_float_eq(mmt_prom_value(text, "mm_test_job_keys{outcome=\"ok\"}"), 7, 1e-9);
    cr_expect_float_eq(mmt_prom_value(text, "mm_test_job_keys{outcome=\"error\"}"), 2, 1e-9);
    cr_expect_float_eq(mmt_prom_value(text, "mm_test_job_step_seconds_count"), 1, 1e-9);
    cr_expect_str_eq(mmt_prom_type(text, "mm_test_job_keys"), "gauge");
    /* Same bytes as the registry renders, and no temp file left beside it. */
    mm_buf_t rendered;
    mm_buf_init(&rendered, 1 << 20);
    cr_assert_eq(mm_metrics_render(m, &rendered), MM_OK);
    cr_expect_eq(rendered.len, strlen(text));
    cr_expect(memcmp(rendered.data, text, rendered.len) == 0);
    cr_expect_eq(files_in(dir), 1, "a temp file was left next to the metrics file");
    mm_buf_free(&rendered);
    free(text);
    mm_metrics_destroy(m);
    mmt_rmtree(dir);
    free(dir);
}

Test(metrics_job, unwritable_path_is_an_error_naming_it) {
    mm_metrics_t *m = job_metrics(1, 0);
    char errstr[512] = "";
    mm_err_t err =
        mm_metrics_write_file(m, "/nonexistent-dir/sub/job.prom", errstr, sizeof(errstr));
    cr_expect_eq(err, MM_ERR_IO, "%s", mm_err_name(err));
    cr_expect(strstr(errstr, "/nonexistent-dir/sub/job.prom"), "%s", errstr);
    mm_metrics_destroy(m);
}

Test(metrics_job, file_value_reads_an_unlabelled_sample_only) {
    char *dir = mmt_tmpdir("metrics-job");
    char path[512];
    snprintf(path, sizeof(path), "%s/v.prom", dir);
    cr_assert(mmt_write_file(path, "# HELP a_b x\n# TYPE a_b gauge\na_b{l=\"1\"} 3\n"
                                   "# HELP a gauge\n# TYPE a gauge\na 1.5e+09\n"));
    double v = 0;
    char errstr[512] = "";
    cr_expect_eq(mm_metrics_file_value(path, "a", &v, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_expect_float_eq(v, 1.5e9, 1);
    cr_expect_eq(mm_metrics_file_value(path, "a_b", &v, errstr, sizeof(errstr)), MM_ERR_NOT_FOUND);
    char missing[600];
    snprintf(missing, sizeof(missing), "%s/none.prom", dir);
    cr_expect_eq(mm_metrics_file_value(missing, "a", &v, errstr, sizeof(errstr)), MM_ERR_NOT_FOUND);
    mmt_rmtree(dir);
    free(dir);
}

static mm_metrics_job_t job_to(const char *file, bool success) {
    return (mm_metrics_job_t){.file = file,
                              .job = "mm-test",
                              .instance = "sales",
                              .success = success,
                              .last_success_name = LAST_SUCCESS,
                              .last_success_help = "When the job last succeeded."};
}

Test(metrics_job, last_success_is_now_and_survives_a_failed_run) {
    char *dir = mmt_tmpdir("metrics-job");
    char path[512];
    snprintf(path, sizeof(path), "%s/job.prom", dir);
    char errstr[512] = "";

    /* A failure before any success: no last-success sample at all. */
    mm_metrics_t *m = job_metrics(0, 3);
    mm_metrics_job_t job = job_to(path, false);
    cr_assert_eq(mm_metrics_job_export(m, &job, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    mm_metrics_destroy(m);
    char *text = mmt_prom_read(path);
    cr_expect(isnan(mmt_prom_value(text, LAST_SUCCESS)), "%s", text);
    free(text);

    /* A success: now. */
    double before = (double)(mm_now_ms() / 1000);
    m = job_metrics(3, 0);
    job = job_to(path, true);
    cr_assert_eq(mm_metrics_job_export(m, &job, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    mm_metrics_destroy(m);
    double after = (double)(mm_now_ms() / 1000 + 1);
    text = mmt_prom_read(path);
    char why[512] = "";
    cr_assert(mmt_prom_check(text, why, sizeof(why)), "%s\n%s", why, text);
    double success = mmt_prom_value(text, LAST_SUCCESS);
    cr_expect(success >= before && success <= after, "%f not in [%f, %f]", success, before, after);
    cr_expect_str_eq(mmt_prom_type(text, LAST_SUCCESS), "gauge");
    free(text);

    /* A failed run after it: its own values, the same last success. */
    m = job_metrics(1, 2);
    job = job_to(path, false);
    cr_assert_eq(mm_metrics_job_export(m, &job, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    mm_metrics_destroy(m);
    text = mmt_prom_read(path);
    cr_expect(mmt_prom_check(text, why, sizeof(why)), "%s\n%s", why, text);
    cr_expect_float_eq(mmt_prom_value(text, LAST_SUCCESS), success, 1e-3);
    cr_expect_float_eq(mmt_prom_value(text, "mm_test_job_keys{outcome=\"error\"}"), 2, 1e-9);
    free(text);
    mmt_rmtree(dir);
    free(dir);
}

static bool starts_with(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void base_url(const mmt_fake_http_t *fs, const char *suffix, char *url, size_t size) {
    snprintf(url, size, "http://127.0.0.1:%d%s", fs->port, suffix);
}

Test(metrics_job, success_is_put_to_the_job_and_instance_group) {
    static const mmt_fake_reply_t script[] = {{200, NULL, NULL}};
    mmt_fake_http_t fs;
    mmt_fake_http_start(&fs, script, MM_ARRAY_SIZE(script));
    char url[128];
    base_url(&fs, "/", url, sizeof(url)); /* a trailing slash is not doubled */
    mm_metrics_t *m = job_metrics(4, 0);
    mm_metrics_job_t job = job_to(NULL, true);
    job.push_url = url;
    char errstr[512] = "";
    cr_expect_eq(mm_metrics_job_export(m, &job, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    mmt_fake_http_join(&fs);
    cr_assert_eq(fs.n_requests, 1);
    const char *r = fs.requests[0];
    cr_expect(starts_with(r, "PUT /metrics/job/mm-test/instance/sales HTTP/1.1\r\n"), "%.80s", r);
    cr_expect(strstr(r, "\r\nContent-Type: text/plain; version=0.0.4"), "%s", r);
    char why[512] = "";
    cr_expect(mmt_prom_check(fs.bodies[0], why, sizeof(why)), "%s\n%s", why, fs.bodies[0]);
    cr_expect_float_eq(mmt_prom_value(fs.bodies[0], "mm_test_job_keys{outcome=\"ok\"}"), 4, 1e-9);
    cr_expect(!isnan(mmt_prom_value(fs.bodies[0], LAST_SUCCESS)), "%s", fs.bodies[0]);
    mm_metrics_destroy(m);
}

Test(metrics_job, failure_is_posted_without_a_last_success) {
    static const mmt_fake_reply_t script[] = {{202, NULL, NULL}};
    mmt_fake_http_t fs;
    mmt_fake_http_start(&fs, script, MM_ARRAY_SIZE(script));
    char url[128];
    base_url(&fs, "", url, sizeof(url));
    mm_metrics_t *m = job_metrics(1, 1);
    mm_metrics_job_t job = job_to(NULL, false);
    job.push_url = url;
    job.instance = "retail/eu"; /* a '/' must travel base64url-encoded */
    char errstr[512] = "";
    cr_expect_eq(mm_metrics_job_export(m, &job, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    mmt_fake_http_join(&fs);
    cr_assert_eq(fs.n_requests, 1);
    const char *r = fs.requests[0];
    /* base64url("retail/eu") = cmV0YWlsL2V1 */
    cr_expect(starts_with(r, "POST /metrics/job/mm-test/instance@base64/cmV0YWlsL2V1 HTTP/1.1\r\n"),
              "%.90s", r);
    cr_expect(isnan(mmt_prom_value(fs.bodies[0], LAST_SUCCESS)), "%s", fs.bodies[0]);
    mm_metrics_destroy(m);
}

Test(metrics_job, gateway_error_names_status_and_body_and_the_file_is_still_written) {
    static const mmt_fake_reply_t script[] = {
        {400, NULL, "pushed metrics are invalid or inconsistent"}};
    mmt_fake_http_t fs;
    mmt_fake_http_start(&fs, script, MM_ARRAY_SIZE(script));
    char *dir = mmt_tmpdir("metrics-job");
    char path[512], url[128];
    snprintf(path, sizeof(path), "%s/job.prom", dir);
    base_url(&fs, "", url, sizeof(url));
    mm_metrics_t *m = job_metrics(1, 0);
    mm_metrics_job_t job = job_to(path, true);
    job.push_url = url;
    char errstr[512] = "";
    mm_err_t err = mm_metrics_job_export(m, &job, errstr, sizeof(errstr));
    mmt_fake_http_join(&fs);
    cr_expect_eq(err, MM_ERR_HTTP, "%s: %s", mm_err_name(err), errstr);
    cr_expect(strstr(errstr, "HTTP 400"), "%s", errstr);
    cr_expect(strstr(errstr, "invalid or inconsistent"), "%s", errstr);
    struct stat st;
    cr_expect_eq(stat(path, &st), 0, "the file is written even when the push fails");
    mm_metrics_destroy(m);
    mmt_rmtree(dir);
    free(dir);
}

Test(metrics_job, unreachable_gateway_is_a_transport_error_without_the_password) {
    static const mmt_fake_reply_t none[] = {{200, NULL, NULL}};
    mmt_fake_http_t fs;
    mmt_fake_http_start(&fs, none, 0);
    mmt_fake_http_join(&fs); /* nothing listens on the port now */
    char url[160];
    snprintf(url, sizeof(url), "http://ops:s3cret-pw@127.0.0.1:%d", fs.port);
    mm_metrics_t *m = job_metrics(1, 0);
    char errstr[512] = "";
    mm_err_t err = mm_metrics_push(m, url, "mm-test", "sales", true, errstr, sizeof(errstr));
    cr_expect(err == MM_ERR_TRANSPORT || err == MM_ERR_TIMEOUT, "%s: %s", mm_err_name(err), errstr);
    cr_expect(strstr(errstr, "metrics push"), "%s", errstr);
    cr_expect_null(strstr(errstr, "s3cret-pw"), "%s", errstr);
    mm_metrics_destroy(m);
}
