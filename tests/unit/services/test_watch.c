/*
 * test_watch.c - mm-ingest watch (services/ingest/watch.c, manifest.c)
 * without a broker: records go to a sink that decodes and keeps them, the
 * folder is a temporary directory and the blob store a file:// one. Each
 * test drives passes by hand (mm_watch_poll), so nothing depends on timing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

#include "ingest.h"
#include "manifest.h"
#include "mm/avro.h"
#include "mm/blob.h"
#include "mm/fs.h"
#include "mm/kafka.h"
#include "mm/records.h"
#include "mm/sha256.h"
#include "mm/spec.h"
#include "support.h"
#include "watch.h"

#define SALES_SPEC  MM_SOURCE_DIR "/tools/datagen/specs/sales.json"
#define MAX_RECORDS 1024

static const char GOOD_CSV[] = "store,item,date,sales,price,promo\n"
                               "1,1,2024-01-01,1,2.50,0\n"
                               "1,2,2024-01-01,11,3.00,1\n"
                               "1,1,2024-01-02,2,2.50,0\n"
                               "1,2,2024-01-02,12,3.00,1\n"
                               "1,1,2024-01-03,3,2.50,0\n"
                               "1,1,not-a-date,4,2.50,0\n"
                               "1,2,2024-01-03,13,3.00,0\n";
#define GOOD_ROWS 6
#define GOOD_BAD  1

/* ------------------------------------------------------------ the sink */

typedef struct produced {
    bool dead_letter;
    mm_observation_batch_t batch;
    mm_dead_letter_t dl;
} produced_t;

typedef struct capture {
    produced_t records[MAX_RECORDS];
    size_t n;
    int fail_after; /* > 0: records after this many are reported undelivered */
} capture_t;

static mm_err_t capture_sink(void *opaque, const char *topic, const char *key, size_t key_len,
                             const void *value, size_t value_len, char *reason,
                             size_t reason_size) {
    (void)key;
    (void)key_len;
    capture_t *cap = opaque;
    cr_assert_lt(cap->n, MAX_RECORDS);
    produced_t *p = &cap->records[cap->n++];
    char errstr[512];
    if (strcmp(topic, MM_TOPIC_DEADLETTER) == 0) {
        p->dead_letter = true;
        cr_assert_eq(mm_avro_decode_dead_letter(value, value_len, &p->dl, errstr, sizeof(errstr)),
                     MM_OK, "%s", errstr);
    } else {
        cr_assert_eq(
            mm_avro_decode_observation_batch(value, value_len, &p->batch, errstr, sizeof(errstr)),
            MM_OK, "%s", errstr);
    }
    if (cap->fail_after > 0 && cap->n > (size_t)cap->fail_after) {
        snprintf(reason, reason_size, "broker said no");
        return MM_ERR_KAFKA;
    }
    return MM_OK;
}

static void capture_reset(capture_t *cap) {
    for (size_t i = 0; i < cap->n; i++) {
        if (cap->records[i].dead_letter)
            mm_dead_letter_clear(&cap->records[i].dl);
        else
            mm_observation_batch_clear(&cap->records[i].batch);
    }
    cap->n = 0;
    cap->fail_after = 0;
}

static int64_t rows_in(const capture_t *cap, int64_t *dead, int64_t *end_of_load) {
    int64_t rows = 0;
    *dead = 0;
    *end_of_load = 0;
    for (size_t i = 0; i < cap->n; i++) {
        if (cap->records[i].dead_letter) {
            (*dead)++;
        } else {
            rows += (int64_t)cap->records[i].batch.n_rows;
            *end_of_load += cap->records[i].batch.end_of_load;
        }
    }
    return rows;
}

/* ------------------------------------------------------------ fixture */

static char *tmp;
static char dir[4096], manifest_path[4096];
static mm_spec_t spec;
static capture_t *cap;
static mm_ingest_config_t icfg;
static mm_watch_config_t wcfg;
static char errstr[1024];

static void setup(void) {
    tmp = mmt_tmpdir("watch");
    cr_assert_not_null(tmp);
    snprintf(dir, sizeof(dir), "%s/incoming", tmp);
    snprintf(manifest_path, sizeof(manifest_path), "%s/manifest.db", tmp);
    cr_assert_eq(mm_mkdirs(dir, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(mm_spec_load_file(SALES_SPEC, &spec, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cap = calloc(1, sizeof(*cap));
    cr_assert_not_null(cap);
    icfg = (mm_ingest_config_t){
        .spec = &spec, .batch_rows = 2, .sink = capture_sink, .sink_opaque = cap};
    wcfg = (mm_watch_config_t){.ingest = &icfg,
                               .flush_timeout_ms = 1000,
                               .manifest_path = manifest_path,
                               .dir = dir,
                               .settle_ms = 0};
}

static void teardown(void) {
    capture_reset(cap);
    free(cap);
    mm_spec_clear(&spec);
    mmt_rmtree(tmp);
    free(tmp);
}

TestSuite(watch, .init = setup, .fini = teardown);

static void put(const char *name, const char *text) {
    char path[8192];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    cr_assert(mmt_write_file(path, text), "write %s", path);
}

static bool exists(const char *sub) {
    char path[8192];
    snprintf(path, sizeof(path), "%s/%s", dir, sub);
    struct stat st;
    return stat(path, &st) == 0;
}

static mm_watch_stats_t poll(mm_watch_t *w) {
    mm_watch_stats_t pass;
    mm_err_t err = mm_watch_poll(w, &pass, errstr, sizeof(errstr));
    (void)err;
    return pass;
}

static int64_t manifest_count(mm_watch_t *w, const char *state) {
    (void)w;
    mm_manifest_t *m = mm_manifest_open(manifest_path, errstr, sizeof(errstr));
    cr_assert_not_null(m, "%s", errstr);
    int64_t n = -1;
    cr_assert_eq(mm_manifest_count(m, state, &n, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    mm_manifest_close(m);
    return n;
}

/* ------------------------------------------------------------ the manifest */

Test(watch, manifest_keeps_a_file_across_reopen_and_counts_attempts) {
    mm_manifest_t *m = mm_manifest_open(manifest_path, errstr, sizeof(errstr));
    cr_assert_not_null(m, "%s", errstr);
    cr_assert_eq(
        mm_manifest_begin(m, "/in", "a.csv", "abc", 10, "watch-1", 1, errstr, sizeof(errstr)),
        MM_OK, "%s", errstr);
    mm_manifest_close(m);
    m = mm_manifest_open(manifest_path, errstr, sizeof(errstr));
    cr_assert_not_null(m, "%s", errstr);
    mm_manifest_entry_t e;
    bool found = false;
    cr_assert_eq(mm_manifest_get(m, "/in", "a.csv", "abc", &e, &found, errstr, sizeof(errstr)),
                 MM_OK);
    cr_assert(found);
    cr_expect_str_eq(e.state, MM_MANIFEST_INGESTING);
    cr_expect_str_eq(e.load_id, "watch-1");
    cr_expect_eq(e.attempts, 1);
    /* A second attempt keeps the first load id. */
    cr_assert_eq(
        mm_manifest_begin(m, "/in", "a.csv", "abc", 10, "other", 2, errstr, sizeof(errstr)), MM_OK);
    mm_manifest_counts_t counts = {.rows_read = 5, .rows_emitted = 4, .rows_deadlettered = 1};
    cr_assert_eq(mm_manifest_finish(m, "/in", "a.csv", "abc", MM_MANIFEST_DONE, &counts, NULL, 3,
                                    errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_assert_eq(mm_manifest_get(m, "/in", "a.csv", "abc", &e, &found, errstr, sizeof(errstr)),
                 MM_OK);
    cr_expect_str_eq(e.state, MM_MANIFEST_DONE);
    cr_expect_str_eq(e.load_id, "watch-1");
    cr_expect_eq(e.attempts, 2);
    cr_expect_eq(e.rows_emitted, 4);
    /* Other bytes under the same name are another file. */
    cr_assert_eq(mm_manifest_get(m, "/in", "a.csv", "abd", &e, &found, errstr, sizeof(errstr)),
                 MM_OK);
    cr_expect_not(found);
    cr_expect_eq(mm_manifest_finish(m, "/in", "b.csv", "abc", MM_MANIFEST_DONE, NULL, NULL, 3,
                                    errstr, sizeof(errstr)),
                 MM_ERR_NOT_FOUND);
    mm_manifest_close(m);
}

Test(watch, load_id_follows_source_name_and_content) {
    char a[128], b[128], c[128], d[128];
    mm_manifest_load_id("/in", "a.csv", "abc", a, sizeof(a));
    mm_manifest_load_id("/in", "a.csv", "abc", b, sizeof(b));
    mm_manifest_load_id("/in", "a.csv", "abd", c, sizeof(c));
    mm_manifest_load_id("/in2", "a.csv", "abc", d, sizeof(d));
    cr_expect_str_eq(a, b);
    cr_expect_str_neq(a, c);
    cr_expect_str_neq(a, d);
    cr_expect_eq(strncmp(a, "watch-", 6), 0);
    cr_expect_eq(strlen(a), 6u + 24u);
}

/* ------------------------------------------------------------ the ready rule */

Test(watch, settle_rule_needs_two_equal_sightings_and_an_old_enough_mtime) {
    /* First sighting: never ready, however old. */
    cr_expect_not(mm_watch_settled(false, 0, 0, 100, 1000, 1000000, 5000));
    /* Grew or touched since the last pass: not ready. */
    cr_expect_not(mm_watch_settled(true, 90, 1000, 100, 1000, 1000000, 5000));
    cr_expect_not(mm_watch_settled(true, 100, 900, 100, 1000, 1000000, 5000));
    /* Unchanged, but written less than settle_ms ago. */
    cr_expect_not(mm_watch_settled(true, 100, 1000, 100, 1000, 5999, 5000));
    cr_expect(mm_watch_settled(true, 100, 1000, 100, 1000, 6000, 5000));
}

/* ------------------------------------------------------------ the folder */

Test(watch, a_settled_file_is_ingested_once_and_moved_to_done) {
    mm_watch_t *w = mm_watch_new(&wcfg, errstr, sizeof(errstr));
    cr_assert_not_null(w, "%s", errstr);
    put("day1.csv", GOOD_CSV);
    put(".hidden.csv", GOOD_CSV);
    put("notes.txt", "not data");

    mm_watch_stats_t pass = poll(w); /* first sighting: not ready yet */
    cr_expect_eq(pass.files_seen, 1);
    cr_expect_eq(pass.files_pending, 1);
    cr_expect_eq(cap->n, 0u);

    pass = poll(w);
    cr_expect_eq(pass.files_ingested, 1, "%s", errstr);
    cr_expect_eq(pass.rows_emitted, GOOD_ROWS);
    cr_expect_eq(pass.rows_deadlettered, GOOD_BAD);
    int64_t dead, eol;
    cr_expect_eq(rows_in(cap, &dead, &eol), GOOD_ROWS);
    cr_expect_eq(dead, GOOD_BAD);
    cr_expect_eq(eol, 2, "one end-of-load batch per key");
    cr_expect_eq(strncmp(cap->records[0].batch.load_id, "watch-", 6), 0);
    cr_expect_not(exists("day1.csv"));
    cr_expect(exists("done/day1.csv"));
    cr_expect(exists(".hidden.csv") && exists("notes.txt"), "other names are left alone");
    cr_expect_eq(manifest_count(w, MM_MANIFEST_DONE), 1);

    /* Nothing new: nothing read. */
    size_t before = cap->n;
    pass = poll(w);
    cr_expect_eq(pass.files_ingested, 0);
    cr_expect_eq(cap->n, before);

    /* The same bytes dropped again under the same name: recognised, only moved. */
    put("day1.csv", GOOD_CSV);
    poll(w);
    pass = poll(w);
    cr_expect_eq(pass.files_duplicate, 1);
    cr_expect_eq(cap->n, before, "a file already ingested is not read again");
    cr_expect_not(exists("day1.csv"));
    cr_expect_eq(manifest_count(w, NULL), 1);

    /* Other bytes under that name are a new file. */
    put("day1.csv", "store,item,date,sales,price,promo\n1,1,2024-01-04,5,2.50,0\n");
    poll(w);
    pass = poll(w);
    cr_expect_eq(pass.files_ingested, 1);
    cr_expect_eq(manifest_count(w, MM_MANIFEST_DONE), 2);
    mm_watch_destroy(w);
}

Test(watch, a_file_without_its_ready_marker_is_never_read) {
    wcfg.ready_suffix = ".ready";
    mm_watch_t *w = mm_watch_new(&wcfg, errstr, sizeof(errstr));
    cr_assert_not_null(w, "%s", errstr);
    /* Half a file: the writer has not finished. */
    put("big.csv", "store,item,date,sales,price,promo\n1,1,2024-01-01,1,2.50,0\n1,2,2024-01-");
    for (int i = 0; i < 3; i++) {
        mm_watch_stats_t pass = poll(w);
        cr_expect_eq(pass.files_pending, 1);
        cr_expect_eq(pass.files_ingested, 0);
    }
    cr_expect_eq(cap->n, 0u, "nothing of a file without its marker is read");
    put("big.csv", GOOD_CSV);
    put("big.csv.ready", "");
    mm_watch_stats_t pass = poll(w);
    cr_expect_eq(pass.files_ingested, 1, "%s", errstr);
    int64_t dead, eol;
    cr_expect_eq(rows_in(cap, &dead, &eol), GOOD_ROWS, "the whole file, not the half");
    cr_expect(exists("done/big.csv"));
    cr_expect_not(exists("big.csv.ready"), "the marker goes with the file");
    mm_watch_destroy(w);
}

Test(watch, a_marker_suffix_ending_in_the_file_suffix_is_refused) {
    wcfg.ready_suffix = ".done.csv";
    mm_watch_t *w = mm_watch_new(&wcfg, errstr, sizeof(errstr));
    cr_expect_null(w);
    cr_expect(strstr(errstr, "--ready-suffix") != NULL, "%s", errstr);
}

Test(watch, a_header_the_spec_does_not_fit_goes_to_failed) {
    mm_watch_t *w = mm_watch_new(&wcfg, errstr, sizeof(errstr));
    cr_assert_not_null(w, "%s", errstr);
    put("wrong.csv", "shop,product,day,qty\n1,1,2024-01-01,3\n");
    poll(w);
    mm_watch_stats_t pass = poll(w);
    cr_expect_eq(pass.files_failed, 1);
    cr_expect(exists("failed/wrong.csv"));
    cr_expect_not(exists("wrong.csv"));
    cr_expect_eq(manifest_count(w, MM_MANIFEST_FAILED), 1);
    cr_expect_eq(cap->n, 0u);
    mm_watch_destroy(w);
}

/*
 * The property kill -9 relies on: an attempt that did not complete is read
 * again under the same load id, and every batch it had sent comes again with
 * the same (key, load id, sequence) and the same rows, so a consumer that
 * keeps (key, load, sequence) ignores it.
 */
Test(watch, a_failed_delivery_is_retried_with_the_same_batches) {
    mm_watch_t *w = mm_watch_new(&wcfg, errstr, sizeof(errstr));
    cr_assert_not_null(w, "%s", errstr);
    put("day.csv", GOOD_CSV);
    poll(w);
    cap->fail_after = 2;
    mm_watch_stats_t pass = poll(w);
    cr_expect_eq(pass.files_retry, 1);
    cr_expect_eq(pass.files_ingested, 0);
    cr_expect(exists("day.csv"), "a file not delivered stays where it is");
    cr_expect_eq(manifest_count(w, MM_MANIFEST_INGESTING), 1);

    /* Keep what the failed attempt produced. */
    size_t first_n = cap->n;
    cr_assert_geq(first_n, 2u);
    char load_id[128];
    int32_t seq[MAX_RECORDS];
    char keys[MAX_RECORDS][64];
    size_t rows[MAX_RECORDS];
    int64_t first_time[MAX_RECORDS];
    bool first_eol[MAX_RECORDS];
    size_t n_first = 0;
    snprintf(load_id, sizeof(load_id), "%s", "");
    for (size_t i = 0; i < first_n; i++) {
        if (cap->records[i].dead_letter) continue;
        mm_observation_batch_t *b = &cap->records[i].batch;
        snprintf(load_id, sizeof(load_id), "%s", b->load_id);
        seq[n_first] = b->batch_seq;
        snprintf(keys[n_first], sizeof(keys[0]), "%s", b->partition_key);
        rows[n_first] = b->n_rows;
        first_time[n_first] = b->time_ms[0];
        first_eol[n_first] = b->end_of_load;
        n_first++;
    }
    cr_assert_gt(n_first, 0u);
    capture_reset(cap);

    pass = poll(w);
    cr_expect_eq(pass.files_ingested, 1, "%s", errstr);
    cr_expect(exists("done/day.csv"));
    int64_t dead, eol;
    cr_expect_eq(rows_in(cap, &dead, &eol), GOOD_ROWS);
    for (size_t k = 0; k < n_first; k++) {
        bool same = false;
        for (size_t i = 0; i < cap->n && !same; i++) {
            if (cap->records[i].dead_letter) continue;
            mm_observation_batch_t *b = &cap->records[i].batch;
            same = strcmp(b->load_id, load_id) == 0 && strcmp(b->partition_key, keys[k]) == 0 &&
                   b->batch_seq == seq[k] && b->n_rows == rows[k] &&
                   b->time_ms[0] == first_time[k] && b->end_of_load == first_eol[k];
        }
        cr_expect(same, "batch %s #%d of the failed attempt comes again unchanged", keys[k],
                  seq[k]);
    }
    mm_manifest_t *m = mm_manifest_open(manifest_path, errstr, sizeof(errstr));
    cr_assert_not_null(m);
    cr_expect_eq(manifest_count(w, MM_MANIFEST_DONE), 1);
    mm_manifest_close(m);
    mm_watch_destroy(w);
}

Test(watch, a_restart_resumes_a_file_left_ingesting) {
    mm_watch_t *w = mm_watch_new(&wcfg, errstr, sizeof(errstr));
    cr_assert_not_null(w, "%s", errstr);
    put("day.csv", GOOD_CSV);
    poll(w);
    cap->fail_after = 1;
    poll(w);
    mm_watch_destroy(w); /* as if the process had died here */
    capture_reset(cap);

    w = mm_watch_new(&wcfg, errstr, sizeof(errstr));
    cr_assert_not_null(w, "%s", errstr);
    poll(w); /* the restarted watch sees the file for the first time */
    mm_watch_stats_t pass = poll(w);
    cr_expect_eq(pass.files_ingested, 1, "%s", errstr);
    mm_manifest_t *m = mm_manifest_open(manifest_path, errstr, sizeof(errstr));
    cr_assert_not_null(m);
    mm_manifest_entry_t e;
    bool found = false;
    char identity[65];
    mm_sha256_hex(GOOD_CSV, strlen(GOOD_CSV), identity);
    char real[4096];
    cr_assert_not_null(realpath(dir, real));
    cr_assert_eq(mm_manifest_get(m, real, "day.csv", identity, &e, &found, errstr, sizeof(errstr)),
                 MM_OK);
    cr_assert(found);
    cr_expect_str_eq(e.state, MM_MANIFEST_DONE);
    cr_expect_eq(e.attempts, 2);
    cr_expect_str_eq(cap->records[0].dead_letter ? cap->records[1].batch.load_id
                                                 : cap->records[0].batch.load_id,
                     e.load_id);
    mm_manifest_close(m);
    mm_watch_destroy(w);
}

/* ------------------------------------------------------------ a blob prefix (file://) */

Test(watch, blobs_under_the_prefix_are_ingested_and_moved_to_the_done_prefix) {
    char url[8192];
    snprintf(url, sizeof(url), "file://%s/blobs", tmp);
    mm_blob_opts_t opts = {.create_container = true};
    mm_blob_t *blob = mm_blob_new(url, &opts, errstr, sizeof(errstr));
    cr_assert_not_null(blob, "%s", errstr);
    cr_assert_eq(
        mm_blob_put(blob, "incoming/a.csv", GOOD_CSV, strlen(GOOD_CSV), 0, errstr, sizeof(errstr)),
        MM_OK, "%s", errstr);
    cr_assert_eq(
        mm_blob_put(blob, "incoming/b.csv", GOOD_CSV, strlen(GOOD_CSV), 0, errstr, sizeof(errstr)),
        MM_OK);
    cr_assert_eq(
        mm_blob_put(blob, "other/c.csv", GOOD_CSV, strlen(GOOD_CSV), 0, errstr, sizeof(errstr)),
        MM_OK);
    wcfg.dir = NULL;
    wcfg.blob = blob;
    wcfg.blob_prefix = "incoming/";
    mm_watch_t *w = mm_watch_new(&wcfg, errstr, sizeof(errstr));
    cr_assert_not_null(w, "%s", errstr);
    mm_watch_stats_t pass = poll(w); /* a listed blob is committed: ready at once */
    cr_expect_eq(pass.files_seen, 2);
    cr_expect_eq(pass.files_ingested, 2, "%s", errstr);
    int64_t dead, eol;
    cr_expect_eq(rows_in(cap, &dead, &eol), 2 * GOOD_ROWS);
    mm_buf_t out;
    mm_buf_init(&out, 0);
    cr_expect_eq(mm_blob_get(blob, "done/incoming/a.csv", &out, errstr, sizeof(errstr)), MM_OK);
    cr_expect_eq(mm_blob_get(blob, "incoming/a.csv", &out, errstr, sizeof(errstr)),
                 MM_ERR_NOT_FOUND);
    cr_expect_eq(mm_blob_get(blob, "other/c.csv", &out, errstr, sizeof(errstr)), MM_OK);
    mm_buf_free(&out);
    /* The two blobs have the same bytes but other names: two files, two loads. */
    cr_expect_eq(manifest_count(w, MM_MANIFEST_DONE), 2);
    size_t before = cap->n;
    pass = poll(w);
    cr_expect_eq(pass.files_ingested, 0);
    cr_expect_eq(cap->n, before);
    mm_watch_destroy(w);
    mm_blob_destroy(blob);
}

Test(watch, nothing_to_follow_is_a_configuration_error) {
    wcfg.dir = NULL;
    mm_watch_t *w = mm_watch_new(&wcfg, errstr, sizeof(errstr));
    cr_expect_null(w);
    cr_expect(strstr(errstr, "--dir") != NULL, "%s", errstr);
}

/* ------------------------------------------------------------ readiness */

Test(watch, ready_after_a_clean_pass_and_not_while_the_folder_cannot_be_listed) {
    mm_watch_t *w = mm_watch_new(&wcfg, errstr, sizeof(errstr));
    cr_assert_not_null(w, "%s", errstr);
    char reason[256] = "";
    cr_expect_not(mm_watch_ready(w, reason, sizeof(reason)));
    cr_expect_str_eq(reason, "no pass yet");
    cr_expect_eq(mm_watch_poll(w, NULL, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_expect(mm_watch_ready(w, reason, sizeof(reason)));

    char moved[8192];
    snprintf(moved, sizeof(moved), "%s.away", dir);
    cr_assert_eq(rename(dir, moved), 0);
    cr_expect_eq(mm_watch_poll(w, NULL, errstr, sizeof(errstr)), MM_ERR_IO);
    cr_expect_not(mm_watch_ready(w, reason, sizeof(reason)));
    cr_expect(strncmp(reason, "folder: ", 8) == 0, "%s", reason);

    cr_assert_eq(rename(moved, dir), 0);
    cr_expect_eq(mm_watch_poll(w, NULL, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_expect(mm_watch_ready(w, reason, sizeof(reason)), "ready again: %s", reason);
    mm_watch_destroy(w);
}

Test(watch, an_unwritable_manifest_stops_the_watch) {
    mm_watch_t *w = mm_watch_new(&wcfg, errstr, sizeof(errstr));
    cr_assert_not_null(w, "%s", errstr);
    put("day.csv", GOOD_CSV);
    poll(w);
    /* Another connection holds the write lock past the busy timeout. */
    sqlite3 *other = NULL;
    cr_assert_eq(sqlite3_open(manifest_path, &other), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    mm_err_t err = mm_watch_poll(w, NULL, errstr, sizeof(errstr));
    cr_expect_eq(err, MM_ERR_DB, "%s", errstr);
    char reason[256];
    cr_expect_not(mm_watch_ready(w, reason, sizeof(reason)));
    cr_expect_str_eq(reason, "manifest not writable");
    cr_expect(exists("day.csv"), "the file was not touched");
    cr_expect_eq(cap->n, 0u, "nothing produced without a manifest entry");
    sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(other);
    mm_watch_destroy(w);
}
