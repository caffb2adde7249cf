/*
 * test_load_metrics.c - services/ingest/load_metrics.c: a one-shot load's
 * metrics file, from real loads without a broker (records go to a sink):
 * it parses as the exposition format, its values are the load's (rows read,
 * produced, dead letters by kind of reason), and it is written when the
 * load fails as well, without claiming a success.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "ingest.h"
#include "load_metrics.h"
#include "mm/metrics.h"
#include "mm/spec.h"
#include "mm/util.h"
#include "prom_text.h"
#include "support.h"

#define SALES_SPEC   MM_SOURCE_DIR "/tools/datagen/specs/sales.json"
#define LAST_SUCCESS "mm_ingest_load_last_success_timestamp_seconds"

/* 6 good rows of 2 keys, and one bad row of each kind a sales spec can reject. */
static const char *const LOAD_CSV = "store,item,date,sales,price,promo\n"
                                    "1,1,2024-01-01,1,2.50,0\n"
                                    "1,2,2024-01-01,11,3.00,1\n"
                                    "1,1,2024-01-02,2,2.50,0\n"
                                    "3,7\"8,2024-01-07,5,1.0,0\n" /* csv: a quote inside a field */
                                    "1,2,2024-01-02,12,3.00,0\n"
                                    "3,7,2024-01-06,5,1.0\n"      /* columns */
                                    "3,,2024-01-01,5,1.0,0\n"     /* key: empty */
                                    "\xff,1,2024-01-01,5,1.0,0\n" /* key: not UTF-8 */
                                    "3,7,2023-02-29,5,1.0,0\n"    /* time */
                                    "3,7,2024-01-05,lots,1.0,0\n" /* value */
                                    "3,7,2024-01-08,5,cheap,0\n"  /* value */
                                    "1,1,2024-01-03,3,2.50,0\n"
                                    "1,2,2024-01-03,13,3.00,1\n";
#define GOOD_ROWS 6

typedef struct sink_state {
    int fail_every; /* > 0: every n-th record is reported undelivered */
    int n;
} sink_state_t;

static mm_err_t sink(void *opaque, const char *topic, const char *key, size_t key_len,
                     const void *value, size_t value_len, char *reason, size_t reason_size) {
    (void)topic, (void)key, (void)key_len, (void)value, (void)value_len;
    sink_state_t *st = opaque;
    if (st->fail_every > 0 && ++st->n % st->fail_every == 0) {
        snprintf(reason, reason_size, "broker said no");
        return MM_ERR_KAFKA;
    }
    return MM_OK;
}

/* Load LOAD_CSV (from a file) into @p st's sink; @returns the exit status and the metrics text. */
static int load_and_export(const char *dir, sink_state_t *st, char **text) {
    char csv[512], prom[512], errstr[1024] = "";
    snprintf(csv, sizeof(csv), "%s/load.csv", dir);
    snprintf(prom, sizeof(prom), "%s/mm-ingest.prom", dir);
    cr_assert(mmt_write_file(csv, LOAD_CSV));
    mm_spec_t spec = {0};
    cr_assert_eq(mm_spec_load_file(SALES_SPEC, &spec, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    mm_ingest_config_t cfg = {
        .spec = &spec, .load_id = "load-metrics", .batch_rows = 2, .sink = sink, .sink_opaque = st};
    mm_ingest_t *ingest = mm_ingest_new(&cfg, errstr, sizeof(errstr));
    cr_assert_not_null(ingest, "%s", errstr);
    const char *sources[] = {csv};
    int status = mm_ingest_run(ingest, sources, 1, 1000, NULL);
    mm_ingest_stats_t stats;
    mm_ingest_get_stats(ingest, &stats);
    mm_metrics_t *metrics = mm_metrics_new();
    cr_assert_not_null(metrics);
    mm_ingest_load_report_t report = {
        .file = prom, .instance = spec.name, .exit_status = status, .stats = &stats};
    cr_assert_eq(mm_ingest_load_metrics_export(metrics, &report, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    mm_metrics_destroy(metrics);
    mm_ingest_destroy(ingest);
    mm_spec_clear(&spec);
    *text = mmt_prom_read(prom);
    char why[512] = "";
    cr_assert(mmt_prom_check(*text, why, sizeof(why)), "%s\n%s", why, *text);
    return status;
}

static double dead(const char *text, const char *reason) {
    char series[128];
    snprintf(series, sizeof(series), "mm_ingest_load_rows_dead_lettered{reason=\"%s\"}", reason);
    return mmt_prom_value(text, series);
}

Test(load_metrics, file_counts_the_load_and_its_dead_letters_by_kind) {
    char *dir = mmt_tmpdir("load-metrics");
    sink_state_t st = {0};
    char *text = NULL;
    int status = load_and_export(dir, &st, &text);
    cr_expect_eq(status, MM_INGEST_EXIT_DEADLETTERS, "bad rows make the load partial");
    cr_expect_float_eq(mmt_prom_value(text, "mm_ingest_load_files"), 1, 1e-9);
    cr_expect_float_eq(mmt_prom_value(text, "mm_ingest_load_rows_read"), GOOD_ROWS + 7, 1e-9);
    cr_expect_float_eq(mmt_prom_value(text, "mm_ingest_load_rows_produced"), GOOD_ROWS, 1e-9);
    cr_expect_float_eq(dead(text, "csv"), 1, 1e-9, "%s", text);
    cr_expect_float_eq(dead(text, "columns"), 1, 1e-9, "%s", text);
    cr_expect_float_eq(dead(text, "key"), 2, 1e-9, "%s", text);
    cr_expect_float_eq(dead(text, "time"), 1, 1e-9, "%s", text);
    cr_expect_float_eq(dead(text, "value"), 2, 1e-9, "%s", text);
    cr_expect_float_eq(dead(text, "entity"), 0, 1e-9, "%s", text);
    cr_expect_float_eq(dead(text, "other"), 0, 1e-9, "%s", text);
    cr_expect_float_eq(mmt_prom_value(text, "mm_ingest_load_keys"), 2, 1e-9);
    cr_expect_float_eq(mmt_prom_value(text, "mm_ingest_load_rows_delivery_failed"), 0, 1e-9);
    cr_expect_float_eq(mmt_prom_value(text, "mm_ingest_load_exit_status"), 2, 1e-9);
    cr_expect(mmt_prom_value(text, "mm_ingest_load_duration_seconds") >= 0);
    /* Every row delivered or dead-lettered: a success for the last-success timestamp. */
    cr_expect(mmt_prom_value(text, LAST_SUCCESS) > 1.7e9, "%s", text);
    cr_expect_str_eq(mmt_prom_type(text, "mm_ingest_load_rows_read"), "gauge");
    free(text);
    mmt_rmtree(dir);
    free(dir);
}

Test(load_metrics, failed_delivery_is_written_and_keeps_the_last_success) {
    char *dir = mmt_tmpdir("load-metrics");
    sink_state_t ok = {0};
    char *text = NULL;
    load_and_export(dir, &ok, &text);
    double success = mmt_prom_value(text, LAST_SUCCESS);
    cr_assert(!isnan(success));
    free(text);

    sink_state_t failing = {.fail_every = 3};
    int status = load_and_export(dir, &failing, &text);
    cr_expect_eq(status, MM_INGEST_EXIT_DELIVERY);
    cr_expect_float_eq(mmt_prom_value(text, "mm_ingest_load_exit_status"), MM_INGEST_EXIT_DELIVERY,
                       1e-9);
    cr_expect_gt(mmt_prom_value(text, "mm_ingest_load_rows_delivery_failed"), 0, "%s", text);
    cr_expect_float_eq(mmt_prom_value(text, LAST_SUCCESS), success, 1e-3,
                       "a failed load keeps the previous success");
    free(text);
    mmt_rmtree(dir);
    free(dir);
}

Test(load_metrics, reason_kinds_and_names) {
    cr_expect_eq(mm_ingest_reject_kind("wrong column count: 5 fields, the header has 6"),
                 MM_INGEST_REJECT_COLUMNS);
    cr_expect_eq(mm_ingest_reject_kind("partition key longer than 1023 bytes"),
                 MM_INGEST_REJECT_KEY);
    cr_expect_eq(mm_ingest_reject_kind("empty entity column \"machine\""), MM_INGEST_REJECT_ENTITY);
    cr_expect_eq(mm_ingest_reject_kind("label column \"failure\" must be 0 or 1: \"x\""),
                 MM_INGEST_REJECT_VALUE);
    cr_expect_eq(mm_ingest_reject_kind("something new"), MM_INGEST_REJECT_OTHER);
    cr_expect_eq(mm_ingest_reject_kind(NULL), MM_INGEST_REJECT_OTHER);
    for (int k = 0; k < MM_INGEST_REJECT_COUNT; k++)
        cr_expect_not_null(mm_ingest_reject_name((mm_ingest_reject_t)k));
    cr_expect_str_eq(mm_ingest_reject_name(MM_INGEST_REJECT_COUNT), "other");
}
