/*
 * test_blob_lost.c - fault scenario 14 of docs/reliability.md: the blob
 * store lost data after the versions were registered. One key's artifact
 * (its candidate and its production copy) disappears; the batch scorer must
 * say so clearly - that key answered with status "error" naming the
 * artifact, a score_failed log line, a failing exit status - and answer
 * every other key as usual. Detection, not durability: the checker then
 * reports the missing artifact, which is what it is for.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

#include "checker.h"
#include "mm/util.h"
#include "pipeline.h"
#include "support.h"

#define STORES    3
#define ITEMS     4
#define KEYS      (STORES * ITEMS)
#define DAYS      150
#define HORIZON   7
#define DECIDE_MS 240000

/* The key, candidate and production names of one version with a production copy. */
static bool production_version(mmt_pipeline_t *p, char *key, char *candidate, char *production,
                               size_t size) {
    char path[4200];
    snprintf(path, sizeof(path), "%s/registry.db", p->dir);
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db,
                                    "SELECT partition_key, artifact_uri, production_uri FROM "
                                    "versions WHERE production_uri IS NOT NULL ORDER BY "
                                    "partition_key LIMIT 1",
                                    -1, &st, NULL),
                 SQLITE_OK);
    bool found = sqlite3_step(st) == SQLITE_ROW;
    if (found) {
        snprintf(key, size, "%s", sqlite3_column_text(st, 0));
        snprintf(candidate, size, "%s", sqlite3_column_text(st, 1));
        snprintf(production, size, "%s", sqlite3_column_text(st, 2));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return found;
}

static void lose_blob(mmt_pipeline_t *p, const char *name) {
    char path[8400];
    snprintf(path, sizeof(path), "%s/%s", p->blob_url + strlen("file://"), name);
    cr_assert_eq(unlink(path), 0, "cannot remove %s", path);
}

static char *key_run(mmt_pipeline_t *p, const char *key, const char *column) {
    char path[4200], sql[256];
    snprintf(path, sizeof(path), "%s/predictions.db", p->dir);
    snprintf(sql, sizeof(sql), "SELECT %s FROM key_runs WHERE partition_key = ?", column);
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    char *value = NULL;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        value = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return value;
}

static char *read_log(mmt_pipeline_t *p, const char *name) {
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", p->dir, name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    char *text = calloc(1, (size_t)size + 1);
    cr_assert_not_null(text);
    cr_assert_eq(fread(text, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    return text;
}

Test(fault_blob_lost, a_lost_artifact_is_reported_for_its_key_and_the_others_are_answered,
     .timeout = 600) {
    mmt_pipeline_t p;
    mmt_pipeline_init(&p, "blob-lost", 4, HORIZON);
    int64_t rows = mmt_pipeline_generate(&p, STORES, ITEMS, DAYS, 43);
    mmt_pipeline_start_trainer(&p);
    mmt_pipeline_start_promoter(&p);
    const char *files[] = {p.csv_path, NULL};
    cr_assert_eq(mmt_pipeline_ingest(&p, files, NULL), 0, "mm-ingest failed");
    cr_assert(mmt_pipeline_wait_decisions(&p, KEYS, DECIDE_MS), "not every key was decided");

    char key[512], candidate[512], production[512];
    cr_assert(production_version(&p, key, candidate, production, sizeof(key)),
              "no key has a production model to lose");
    lose_blob(&p, production);
    lose_blob(&p, candidate);

    int status = mmt_pipeline_score(&p);
    cr_expect_neq(status, 0, "the scorer succeeded with an artifact missing");
    char *lost_status = key_run(&p, key, "status");
    char *lost_message = key_run(&p, key, "message");
    cr_assert_not_null(lost_status, "the key with the lost artifact was not answered at all");
    cr_expect_str_eq(lost_status, "error");
    cr_expect(lost_message && strstr(lost_message, production), "message: %s",
              lost_message ? lost_message : "(none)");
    int64_t ok = mmt_pipeline_query(&p, "predictions.db",
                                    "SELECT COUNT(*) FROM key_runs WHERE status = 'ok'");
    cr_expect_eq(ok, KEYS - 1, "other keys affected: %lld of %d answered", (long long)ok, KEYS - 1);
    char *log = read_log(&p, "scorer.log");
    cr_expect(strstr(log, "score_failed") && strstr(log, key), "no score_failed line for %s", key);

    fprintf(stderr,
            "fault scenario 14 (blob data lost): %lld rows; artifact of %s removed; scorer exit "
            "%d; that key: %s (%s); %lld other keys answered\n",
            (long long)rows, key, status, lost_status, lost_message ? lost_message : "",
            (long long)ok);
    free(lost_status);
    free(lost_message);
    free(log);

    /* The checker's artifact check finds exactly the lost one (two names), nothing else. */
    mmt_check_opts_t opts = {.inputs = files, .keys = KEYS, .scored = true, .artifacts_lost = 2};
    mmt_check_result_t result;
    mmt_check(&p, &opts, &result);
    cr_expect_eq(result.rows_lost + result.rows_both + result.rows_foreign, 0);
    mmt_pipeline_stop(&p);
}
