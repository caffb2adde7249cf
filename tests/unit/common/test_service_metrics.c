/*
 * test_service_metrics.c - the process-wide metrics every service reports on
 * /metrics: blob store requests (common/src/blob_metrics.c, timed around each
 * backend request of blob.c) and dead letters by source topic and reason
 * (common/src/dead_letter_metrics.c, counted by consumer_state.c once a dead
 * letter is durable). Scraped as Prometheus text; no label names a blob or
 * a key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "mm/avro.h"
#include "mm/blob.h"
#include "mm/consumer_state.h"
#include "mm/db.h"
#include "mm/metrics.h"
#include "mm/outbox.h"
#include "support.h"

static char *tmpdir;
static mm_metrics_t *metrics;
static char errstr[1024];

static void setup(void) {
    tmpdir = mmt_tmpdir("service_metrics");
    cr_assert_not_null(tmpdir);
    metrics = mm_metrics_new();
    cr_assert_not_null(metrics);
    cr_assert_eq(mm_blob_report_metrics(metrics, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(mm_dead_letter_report_metrics(metrics, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
}

static void teardown(void) {
    mm_blob_report_metrics(NULL, NULL, 0);
    mm_dead_letter_report_metrics(NULL, NULL, 0);
    mm_metrics_destroy(metrics);
    mmt_rmtree(tmpdir);
    free(tmpdir);
}

TestSuite(service_metrics, .init = setup, .fini = teardown, .timeout = 60);

static char *scrape(void) {
    mm_buf_t out;
    mm_buf_init(&out, 1 << 20);
    cr_assert_eq(mm_metrics_render(metrics, &out), MM_OK);
    cr_assert_eq(mm_buf_append(&out, "", 1), MM_OK);
    char *text = strdup((const char *)out.data);
    mm_buf_free(&out);
    return text;
}

Test(service_metrics, blob_requests_are_timed_and_their_errors_counted_by_operation) {
    char url[4300];
    snprintf(url, sizeof(url), "file://%s", tmpdir);
    mm_blob_t *blob = mm_blob_new(url, NULL, errstr, sizeof(errstr));
    cr_assert_not_null(blob, "%s", errstr);
    cr_assert_eq(
        mm_blob_put(blob, "models/secret-key-name.bin", "abc", 3, 0, errstr, sizeof(errstr)), MM_OK,
        "%s", errstr);
    mm_buf_t got;
    mm_buf_init(&got, 1 << 20);
    cr_assert_eq(mm_blob_get(blob, "models/secret-key-name.bin", &got, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_assert_eq(mm_blob_get(blob, "models/missing.bin", &got, errstr, sizeof(errstr)),
                 MM_ERR_NOT_FOUND);
    mm_buf_free(&got);
    cr_assert_eq(mm_blob_delete(blob, "models/secret-key-name.bin", errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    mm_blob_destroy(blob);

    char *text = scrape();
    cr_expect(strstr(text, "# TYPE mm_blob_request_seconds histogram"), "%s", text);
    cr_expect(strstr(text, "mm_blob_request_seconds_count{op=\"put\"} 1\n"), "%s", text);
    cr_expect(strstr(text, "mm_blob_request_seconds_count{op=\"get\"} 2\n"), "%s", text);
    cr_expect(strstr(text, "mm_blob_request_seconds_count{op=\"delete\"} 1\n"), "%s", text);
    cr_expect(strstr(text, "mm_blob_errors_total{op=\"get\",error=\"MM_ERR_NOT_FOUND\"} 1\n"), "%s",
              text);
    cr_expect(!strstr(text, "mm_blob_errors_total{op=\"put\""), "the put succeeded: %s", text);
    cr_expect(!strstr(text, "secret-key-name") && !strstr(text, "missing.bin"),
              "no blob name in a label: %s", text);
    free(text);
}

Test(service_metrics, blob_requests_are_not_counted_once_reporting_stops) {
    mm_blob_report_metrics(NULL, NULL, 0);
    char url[4300];
    snprintf(url, sizeof(url), "file://%s", tmpdir);
    mm_blob_t *blob = mm_blob_new(url, NULL, errstr, sizeof(errstr));
    cr_assert_not_null(blob, "%s", errstr);
    cr_assert_eq(mm_blob_put(blob, "a.bin", "abc", 3, 0, errstr, sizeof(errstr)), MM_OK);
    mm_blob_destroy(blob);
    char *text = scrape();
    cr_expect(!strstr(text, "mm_blob_request_seconds_count{op=\"put\"}"), "%s", text);
    free(text);
}

static const char *const layout[] = {MM_CONSUMER_STATE_TABLE_SQL("consumed_offsets")
                                         MM_OUTBOX_TABLE_SQL};

Test(service_metrics, dead_letters_are_counted_by_topic_and_reason_once_durable) {
    cr_assert_eq(mm_avro_init(errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    char path[4300];
    snprintf(path, sizeof(path), "%s/state.db", tmpdir);
    mm_db_t *db = mm_db_open(path, layout, 1, errstr, sizeof(errstr));
    cr_assert_not_null(db, "%s", errstr);
    mm_consumer_state_config_t cfg = {.table = "consumed_offsets", .service = "mm-test"};
    mm_consumer_state_t *cs = mm_consumer_state_new(db, &cfg, errstr, sizeof(errstr));
    cr_assert_not_null(cs, "%s", errstr);
    const struct {
        const char *topic;
        mm_err_t code;
    } letters[] = {{"mm.observations", MM_ERR_SCHEMA},
                   {"mm.observations", MM_ERR_SCHEMA},
                   {"mm.observations", MM_ERR_INVALID_ARG},
                   {"mm.score-requests", MM_ERR_INVALID_ARG}};
    for (size_t i = 0; i < sizeof(letters) / sizeof(letters[0]); i++) {
        mm_consumer_dead_letter_t dl = {.topic = letters[i].topic,
                                        .partition = 0,
                                        .offset = (int64_t)i,
                                        .partition_key = "store=1/item=1",
                                        .original = "x",
                                        .original_len = 1,
                                        .code = letters[i].code,
                                        .reason = "bad record for store=1/item=1"};
        cr_assert_eq(mm_consumer_state_dead_letter(cs, &dl, errstr, sizeof(errstr)), MM_OK, "%s",
                     errstr);
    }
    mm_consumer_state_destroy(cs);
    mm_db_close(db);

    char *text = scrape();
    cr_expect(strstr(text, "# TYPE mm_dead_letters_total counter"), "%s", text);
    cr_expect(
        strstr(text,
               "mm_dead_letters_total{topic=\"mm.observations\",error=\"MM_ERR_SCHEMA\"} 2\n"),
        "%s", text);
    cr_expect(strstr(text, "mm_dead_letters_total{topic=\"mm.observations\",error="
                           "\"MM_ERR_INVALID_ARG\"} 1\n"),
              "%s", text);
    cr_expect(strstr(text, "mm_dead_letters_total{topic=\"mm.score-requests\",error="
                           "\"MM_ERR_INVALID_ARG\"} 1\n"),
              "%s", text);
    cr_expect(!strstr(text, "store=1"), "no key in a label: %s", text);
    free(text);
}
