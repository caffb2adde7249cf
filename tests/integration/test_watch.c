/*
 * test_watch.c - `mm-ingest watch` end to end (docs/operations.md, "Watch
 * mode"): the real binary against the test broker (mm-devbroker, or Apache
 * Kafka with MM_TEST_BROKER=kafka: ctest test_watch_pipeline_on_kafka) with
 * the trainer, promoter and scorer as processes, and the follower against
 * Azurite.
 *
 *   - a file dropped into the folder retrains its keys without anyone
 *     running anything: new model versions, new decisions, new predictions;
 *   - kill -9 in the middle of a file (held there by pacing, so the kill
 *     cannot miss): after the restart no row is stored twice or lost — rows
 *     in the trainer's history plus distinct dead letters equal the rows of
 *     the file, every batch of the load is stored once, one model per key;
 *   - a half-written file is not read before its ready marker (counted in
 *     passes reported by /metrics, not in seconds);
 *   - a blob prefix holding more files than one list page is ingested whole.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "azurite.h"
#include "ingest.h"
#include "mm/avro.h"
#include "mm/blob.h"
#include "mm/buf.h"
#include "mm/fs.h"
#include "mm/hashmap.h"
#include "mm/http.h"
#include "mm/kafka.h"
#include "mm/records.h"
#include "mm/spec.h"
#include "mm/util.h"
#include "pipeline.h"
#include "support.h"
#include "watch.h"

#define HORIZON 7

/* ------------------------------------------------------------ helpers */

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(a);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* GET http://127.0.0.1:port/path: the status, the body into @p body (may be NULL). */
static long http_get(int port, const char *path, mm_buf_t *body) {
    char err[512], url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    mm_http_t *http = mm_http_new(err, sizeof(err));
    cr_assert_not_null(http, "%s", err);
    mm_http_request_t req = {.method = "GET", .url = url, .total_timeout_ms = 5000};
    mm_http_response_t resp = {0};
    long status = 0;
    if (mm_http_perform(http, &req, &resp, err, sizeof(err)) == MM_OK) status = resp.status;
    if (body && status) {
        mm_buf_reset(body);
        mm_buf_append(body, resp.body.data, resp.body.len);
        mm_buf_append(body, "", 1);
    }
    mm_http_response_clear(&resp);
    mm_http_destroy(http);
    return status;
}

/* The value of an unlabelled metric (or a labelled series "name{...}"), -1 when absent. */
static double metric(int port, const char *series) {
    mm_buf_t body;
    mm_buf_init(&body, MM_BUF_CAP_HTTP_BODY);
    double v = -1;
    if (http_get(port, "/metrics", &body) == 200) {
        const char *text = (const char *)body.data;
        size_t n = strlen(series);
        for (const char *line = text; line && *line; line = strchr(line, '\n')) {
            if (*line == '\n') line++;
            if (strncmp(line, series, n) == 0 && line[n] == ' ') {
                v = strtod(line + n + 1, NULL);
                break;
            }
        }
    }
    mm_buf_free(&body);
    return v;
}

/* Wait until /metrics answers; @returns false at the (scaled) deadline. */
static bool wait_http(int port) {
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(60000);
    while (mm_mono_ms() < deadline) {
        if (http_get(port, "/healthz", NULL) == 200) return true;
        mm_sleep_ms(100, NULL);
    }
    return false;
}

/* Wait until the watch has completed @p passes more passes than @p since. */
static void wait_passes(int port, double since, int passes) {
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(60000);
    while (metric(port, "mm_ingest_watch_passes_total") < since + passes) {
        cr_assert_lt(mm_mono_ms(), deadline, "the watch makes no passes");
        mm_sleep_ms(50, NULL);
    }
}

/* Write @p text as dir/name the way a producer should: a hidden temporary name, then rename. */
static void drop_file(const char *dir, const char *name, const char *text) {
    char tmp[8192], path[8192];
    snprintf(tmp, sizeof(tmp), "%s/.%s.part", dir, name);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    cr_assert(mmt_write_file(tmp, text));
    cr_assert_eq(rename(tmp, path), 0);
}

static bool file_exists(const char *dir, const char *name) {
    char path[8192];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    struct stat st;
    return stat(path, &st) == 0;
}

/* Start `mm-ingest watch` on @p dir with the pipeline's environment and @p extra args. */
static pid_t start_watch(mmt_pipeline_t *p, const char *dir, int port, const char *const *extra) {
    static char manifest[4200], dir_arg[4200], http[64];
    snprintf(manifest, sizeof(manifest), "--manifest=%s/watch.db", p->dir);
    snprintf(dir_arg, sizeof(dir_arg), "--dir=%s", dir);
    snprintf(http, sizeof(http), "--http-addr=127.0.0.1:%d", port);
    const char *args[20] = {manifest, dir_arg, http, "--poll-ms=100"};
    size_t n = 4;
    for (size_t i = 0; extra && extra[i]; i++) args[n++] = extra[i];
    args[n] = NULL;
    return mmt_pipeline_ingest_async(p, args, "watch");
}

/* Split the generated CSV into the rows before the last @p tail_days dates and the rest. */
static void split_csv(const char *csv_path, int tail_days, mm_buf_t *head, mm_buf_t *tail,
                      int64_t *head_rows, int64_t *tail_rows) {
    mm_buf_t all;
    mm_buf_init(&all, 0);
    char err[512];
    cr_assert_eq(mm_file_read(csv_path, &all, err, sizeof(err)), MM_OK, "%s", err);
    mm_buf_append(&all, "", 1);
    char *text = (char *)all.data;
    char *nl = strchr(text, '\n');
    cr_assert_not_null(nl);
    *nl = '\0';
    const char *header = text;
    /* The date is the third column (store,item,date,...); dates sort as text. */
    char last[16] = "";
    for (char *line = nl + 1; *line;) {
        char *end = strchr(line, '\n');
        const char *c = line;
        for (int k = 0; k < 2 && c; k++) c = strchr(c, ',') ? strchr(c, ',') + 1 : NULL;
        if (c && strncmp(c, last, 10) > 0) snprintf(last, sizeof(last), "%.10s", c);
        line = end ? end + 1 : line + strlen(line);
    }
    int y, m, d;
    cr_assert_eq(sscanf(last, "%d-%d-%d", &y, &m, &d), 3);
    int64_t cutoff_days = mm_days_from_civil(y, m, d) - tail_days;
    mm_buf_appendf(head, "%s\n", header);
    mm_buf_appendf(tail, "%s\n", header);
    *head_rows = *tail_rows = 0;
    for (char *line = nl + 1; *line;) {
        char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        const char *c = line;
        for (int k = 0; k < 2 && c; k++) c = strchr(c, ',') ? strchr(c, ',') + 1 : NULL;
        cr_assert_not_null(c);
        cr_assert_eq(sscanf(c, "%d-%d-%d", &y, &m, &d), 3);
        bool late = mm_days_from_civil(y, m, d) > cutoff_days;
        mm_buf_append(late ? tail : head, line, len);
        mm_buf_append(late ? tail : head, "\n", 1);
        (*(late ? tail_rows : head_rows))++;
        line = end ? end + 1 : line + len;
    }
    mm_buf_append(head, "", 1);
    mm_buf_append(tail, "", 1);
    mm_buf_free(&all);
}

static int64_t wait_query(mmt_pipeline_t *p, const char *db, const char *sql, int64_t at_least,
                          int64_t timeout_ms) {
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(timeout_ms);
    int64_t v = -1;
    while (mm_mono_ms() < deadline) {
        v = mmt_pipeline_try_query(p, db, sql);
        if (v >= at_least) return v;
        mm_sleep_ms(100, NULL);
    }
    return v;
}

/* ------------------------------------------------------------ drop a file: retraining */

Test(watch, a_dropped_file_retrains_and_rescores_without_anyone, .timeout = 900) {
    const int stores = 3, items = 2;
    const int64_t keys = stores * items;
    mmt_pipeline_t p;
    mmt_pipeline_init(&p, "watch-retrain", 2, HORIZON);
    mmt_pipeline_generate(&p, stores, items, 160, 5);
    mm_buf_t head, tail;
    mm_buf_init(&head, 0);
    mm_buf_init(&tail, 0);
    int64_t head_rows, tail_rows;
    split_csv(p.csv_path, 14, &head, &tail, &head_rows, &tail_rows);
    cr_assert_gt(tail_rows, 0);

    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/incoming", p.dir);
    char err[512];
    cr_assert_eq(mm_mkdirs(dir, err, sizeof(err)), MM_OK);
    mmt_pipeline_start_trainer(&p);
    mmt_pipeline_start_promoter(&p);
    int port = free_port();
    const char *extra[] = {"--settle-ms=0", NULL};
    pid_t watch = start_watch(&p, dir, port, extra);
    cr_assert(wait_http(port), "the watch does not serve /healthz");
    cr_expect_eq(http_get(port, "/readyz", NULL), 200, "ready after a clean pass");

    /* First file: every key gets a model, a decision and predictions. */
    drop_file(dir, "sales-1.csv", (const char *)head.data);
    cr_assert(mmt_pipeline_wait_decisions(&p, keys, 300000), "no decision for every key");
    cr_assert_eq(
        wait_query(&p, "watch.db", "SELECT COUNT(*) FROM files WHERE state = 'done'", 1, 60000), 1);
    cr_expect(file_exists(dir, "done/sales-1.csv"));
    int64_t models_1 = mmt_pipeline_query(&p, "trainer.db", "SELECT COUNT(*) FROM trained");
    cr_expect_eq(models_1, keys);
    int64_t decisions_1 = mmt_pipeline_count_topic(&p, MM_TOPIC_DECISIONS);
    cr_assert_eq(mmt_pipeline_score(&p), 0, "mm-scorer failed");
    int64_t watermark_1 =
        mmt_pipeline_query(&p, "predictions.db", "SELECT MAX(data_watermark_ms) FROM predictions");
    int64_t train_ids_1 = mmt_pipeline_query(
        &p, "predictions.db",
        "SELECT COUNT(DISTINCT train_id) FROM predictions WHERE train_id IS NOT NULL");

    /* Second file, two weeks later: retrained, decided and scored again, by itself. */
    drop_file(dir, "sales-2.csv", (const char *)tail.data);
    cr_assert_eq(wait_query(&p, "trainer.db", "SELECT COUNT(*) FROM trained", 2 * keys, 300000),
                 2 * keys, "every key is retrained on the new file");
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(300000);
    int64_t decisions_2 = decisions_1;
    while (mm_mono_ms() < deadline &&
           (decisions_2 = mmt_pipeline_count_topic(&p, MM_TOPIC_DECISIONS)) < decisions_1 + keys)
        mm_sleep_ms(500, NULL);
    cr_assert_geq(decisions_2, decisions_1 + keys, "a decision for every new model version");
    cr_expect(file_exists(dir, "done/sales-2.csv"));
    cr_assert_eq(mmt_pipeline_score(&p), 0, "mm-scorer failed");
    int64_t watermark_2 =
        mmt_pipeline_query(&p, "predictions.db", "SELECT MAX(data_watermark_ms) FROM predictions");
    cr_expect_eq(watermark_2 - watermark_1, 14 * 86400000LL, "predictions use the new data");
    cr_expect_eq(mmt_pipeline_query(&p, "predictions.db",
                                    "SELECT COUNT(DISTINCT partition_key) FROM predictions WHERE "
                                    "data_watermark_ms = (SELECT MAX(data_watermark_ms) FROM "
                                    "predictions)"),
                 keys);
    int64_t train_ids_2 = mmt_pipeline_query(
        &p, "predictions.db",
        "SELECT COUNT(DISTINCT train_id) FROM predictions WHERE train_id IS NOT NULL");
    cr_expect_gt(train_ids_2, train_ids_1, "the new model versions serve");

    cr_expect_eq(metric(port, "mm_ingest_watch_files_total{source=\"dir\",outcome=\"ingested\"}"),
                 2);
    cr_expect_eq(metric(port, "mm_ingest_watch_rows_total{outcome=\"emitted\"}"),
                 (double)(head_rows + tail_rows));
    cr_expect_eq(mmt_stop(watch, 30000), 0, "SIGTERM stops the watch cleanly");
    mm_buf_free(&head);
    mm_buf_free(&tail);
    mmt_pipeline_stop(&p);
}

/* ------------------------------------------------------------ kill -9 mid-file */

/* Distinct (file, line) of the dead letters on the topic, and all of them. */
static int64_t distinct_dead_letters(mmt_pipeline_t *p, int64_t *all) {
    char err[512];
    mm_kafka_reader_t *r =
        mm_kafka_reader_new(p->broker.bootstrap, MM_TOPIC_DEADLETTER, NULL, err, sizeof(err));
    cr_assert_not_null(r, "%s", err);
    mm_hashmap_t *seen = mm_hashmap_new(0);
    char **names = NULL;
    size_t n_names = 0;
    *all = 0;
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(30000);
    for (;;) {
        mm_kafka_msg_t msg;
        mm_err_t e = mm_kafka_reader_poll(r, 200, &msg, err, sizeof(err));
        if (e == MM_ERR_NOT_FOUND) break;
        if (e == MM_ERR_TIMEOUT) {
            cr_assert_lt(mm_mono_ms(), deadline, "dead letters not readable to the end");
            continue;
        }
        if (e) continue;
        mm_dead_letter_t dl;
        cr_assert_eq(mm_avro_decode_dead_letter(msg.value, msg.value_len, &dl, err, sizeof(err)),
                     MM_OK, "%s", err);
        (*all)++;
        char id[4200];
        snprintf(id, sizeof(id), "%s:%lld", dl.source_file ? dl.source_file : "",
                 (long long)dl.source_line);
        if (!mm_hashmap_get(seen, id, strlen(id))) {
            names = realloc(names, (n_names + 1) * sizeof(*names));
            names[n_names] = strdup(id);
            mm_hashmap_put(seen, names[n_names], strlen(id), names[n_names]);
            n_names++;
        }
        mm_dead_letter_clear(&dl);
    }
    mm_kafka_reader_destroy(r);
    mm_hashmap_destroy(seen);
    for (size_t i = 0; i < n_names; i++) free(names[i]);
    free(names);
    return (int64_t)n_names;
}

Test(watch, kill_9_in_the_middle_of_a_file_loses_and_repeats_nothing, .timeout = 900) {
    const int stores = 6, items = 5;
    const int64_t keys = stores * items;
    mmt_pipeline_t p;
    mmt_pipeline_init(&p, "watch-kill", 2, HORIZON);
    int64_t good = mmt_pipeline_generate(&p, stores, items, 200, 9);
    /* The file: bad rows near the top (sent before the kill and again after it), then the data. */
    mm_buf_t text;
    mm_buf_init(&text, 0);
    char err[512];
    cr_assert_eq(mm_file_read(p.csv_path, &text, err, sizeof(err)), MM_OK);
    mm_buf_append(&text, "", 1);
    char *body = strchr((char *)text.data, '\n') + 1;
    mm_buf_t file;
    mm_buf_init(&file, 0);
    mm_buf_append(&file, text.data, (size_t)(body - (char *)text.data));
    const int bad = 3;
    mm_buf_append_str(&file, "1,1,not-a-date,4,2.50,0\n");
    mm_buf_append_str(&file, "1,2,2024-01-01,many,3.00,0\n");
    mm_buf_append_str(&file, "1,2\n");
    mm_buf_append_str(&file, body);
    mm_buf_append(&file, "", 1);

    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/incoming", p.dir);
    cr_assert_eq(mm_mkdirs(dir, err, sizeof(err)), MM_OK);
    drop_file(dir, "big.csv", (const char *)file.data);

    /* No trainer yet: pacing holds the load after 64 KiB per partition, mid-file, for sure. */
    int port = free_port();
    const char *held[] = {"--settle-ms=0", "--batch-rows=20", "--pace-group=mm-trainer",
                          "--pace-max-bytes=65536", NULL};
    pid_t watch = start_watch(&p, dir, port, held);
    cr_assert(wait_http(port));
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(120000);
    int64_t sent = 0;
    while (mm_mono_ms() < deadline) {
        sent = mmt_pipeline_count_topic(&p, MM_TOPIC_OBSERVATIONS);
        if (sent >= 20 &&
            mmt_pipeline_try_query(&p, "watch.db",
                                   "SELECT COUNT(*) FROM files WHERE state = 'ingesting'") == 1)
            break;
        mm_sleep_ms(100, NULL);
    }
    cr_assert_geq(sent, 20, "the load never started");
    kill(watch, SIGKILL);
    mmt_wait(watch, 10000);
    int64_t batches_total = good / 20; /* at least this many batches make the whole file */
    cr_log_info("killed the watch after %lld of at least %lld batches", (long long)sent,
                (long long)batches_total);
    cr_assert_lt(sent, batches_total, "the kill must land in the middle of the file");
    cr_expect(file_exists(dir, "big.csv"), "a file not finished stays in the folder");

    /* Restart everything; the file is read again under the same load id. */
    mmt_pipeline_start_trainer(&p);
    const char *normal[] = {"--settle-ms=0", "--batch-rows=20", NULL};
    watch = start_watch(&p, dir, port, normal);
    cr_assert_eq(wait_query(&p, "watch.db",
                            "SELECT COUNT(*) FROM files WHERE state = 'done' AND attempts = 2", 1,
                            300000),
                 1, "the restarted watch finishes the file");
    cr_expect(file_exists(dir, "done/big.csv"));
    cr_assert_eq(wait_query(&p, "trainer.db", "SELECT COUNT(*) FROM trained", keys, 300000), keys);

    /* Nothing lost: every row is in the trainer's history or a dead letter. */
    int64_t stored =
        mmt_pipeline_query(&p, "trainer.db", "SELECT COALESCE(SUM(n_rows), 0) FROM history_chunks");
    int64_t dead_all = 0;
    int64_t dead = distinct_dead_letters(&p, &dead_all);
    cr_expect_eq(stored, good, "rows stored by the trainer");
    cr_expect_eq(dead, bad, "distinct dead letters (file, line)");
    cr_expect_eq(stored + dead, good + bad, "rows in = rows stored + dead letters");
    cr_log_info("dead letters on the topic: %lld (the bad rows were read twice)",
                (long long)dead_all);
    /* Nothing twice: each batch of the load stored once, with exactly the file's rows, and one
     * model per key (one end of load each). */
    cr_expect_eq(mmt_pipeline_query(&p, "trainer.db",
                                    "SELECT COALESCE(SUM(n_rows), 0) FROM "
                                    "load_batches WHERE load_id LIKE 'watch-%'"),
                 good);
    cr_expect_eq(
        mmt_pipeline_query(&p, "trainer.db", "SELECT COUNT(DISTINCT load_id) FROM load_batches"), 1,
        "one load, whatever the attempts");
    cr_expect_eq(mmt_pipeline_query(&p, "trainer.db", "SELECT COUNT(*) FROM trained"), keys);
    cr_expect_eq(mmt_stop(watch, 30000), 0);
    mm_buf_free(&text);
    mm_buf_free(&file);
    mmt_pipeline_stop(&p);
}

/* ------------------------------------------------------------ a half-written file */

Test(watch, a_half_written_file_is_not_read_before_its_marker, .timeout = 600) {
    mmt_pipeline_t p;
    mmt_pipeline_init(&p, "watch-half", 2, HORIZON);
    char dir[4200], path[4300], marker[4300];
    snprintf(dir, sizeof(dir), "%s/incoming", p.dir);
    snprintf(path, sizeof(path), "%s/half.csv", dir);
    snprintf(marker, sizeof(marker), "%s/half.csv.ready", dir);
    char err[512];
    cr_assert_eq(mm_mkdirs(dir, err, sizeof(err)), MM_OK);
    int port = free_port();
    const char *extra[] = {"--ready-suffix=.ready", NULL};
    pid_t watch = start_watch(&p, dir, port, extra);
    cr_assert(wait_http(port));

    /* Written in place, as a slow producer would: the header and half a row. */
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("store,item,date,sales,price,promo\n1,1,2024-01-01,1,2.50,0\n1,1,2024-01-", f);
    fflush(f);
    double passes = metric(port, "mm_ingest_watch_passes_total");
    wait_passes(port, passes, 3);
    cr_expect_eq(metric(port, "mm_ingest_watch_files_pending{source=\"dir\"}"), 1);
    cr_expect_eq(mmt_pipeline_count_topic(&p, MM_TOPIC_OBSERVATIONS), 0, "nothing read yet");
    cr_expect_eq(mmt_pipeline_count_topic(&p, MM_TOPIC_DEADLETTER), 0,
                 "the half row was not taken for a bad row");

    fputs("02,2,2.50,0\n1,1,2024-01-03,3,2.50,0\n", f);
    fclose(f);
    cr_assert(mmt_write_file(marker, ""));
    cr_assert_eq(
        wait_query(&p, "watch.db", "SELECT COUNT(*) FROM files WHERE state = 'done'", 1, 60000), 1);
    cr_expect_eq(mmt_pipeline_query(&p, "watch.db", "SELECT rows_emitted FROM files"), 3,
                 "the whole file");
    cr_expect_eq(mmt_pipeline_query(&p, "watch.db", "SELECT rows_deadlettered FROM files"), 0);
    cr_expect(file_exists(dir, "done/half.csv"));
    cr_expect_not(file_exists(dir, "half.csv.ready"));
    cr_expect_eq(mmt_stop(watch, 30000), 0);
    mmt_pipeline_stop(&p);
}

/* ------------------------------------------------------------ Azurite: more than one page */

static mm_err_t count_sink(void *opaque, const char *topic, const char *key, size_t key_len,
                           const void *value, size_t value_len, char *reason, size_t reason_size) {
    (void)key;
    (void)key_len;
    (void)reason;
    (void)reason_size;
    int64_t *rows = opaque;
    if (strcmp(topic, MM_TOPIC_OBSERVATIONS) != 0) return MM_OK;
    mm_observation_batch_t b;
    char err[256];
    cr_assert_eq(mm_avro_decode_observation_batch(value, value_len, &b, err, sizeof(err)), MM_OK);
    *rows += (int64_t)b.n_rows;
    mm_observation_batch_clear(&b);
    return MM_OK;
}

static bool count_cb(void *opaque, const char *name, int64_t size) {
    (void)name;
    (void)size;
    (*(int *)opaque)++;
    return true;
}

Test(watch, a_blob_prefix_longer_than_one_list_page_is_ingested_whole, .timeout = 300) {
    mmt_azurite_t az;
    cr_assert(mmt_azurite_start(&az), "Azurite did not start (scripts/deps.sh installs it)");
    char url[512], err[1024];
    snprintf(url, sizeof(url), "%s/watch", az.endpoint);
    mm_blob_opts_t opts = {.account_key = MMT_AZURITE_KEY, .create_container = true};
    mm_blob_t *blob = mm_blob_new(url, &opts, err, sizeof(err));
    cr_assert_not_null(blob, "%s", err);
    mm_blob_set_list_page_size(blob, 2);
    const int files = 7;
    for (int i = 0; i < files; i++) {
        char name[64], text[256];
        snprintf(name, sizeof(name), "incoming/day-%02d.csv", i);
        snprintf(text, sizeof(text),
                 "store,item,date,sales,price,promo\n1,1,2024-02-%02d,%d,2.50,0\n"
                 "1,2,2024-02-%02d,%d,3.00,0\n",
                 i + 1, i, i + 1, i + 10);
        cr_assert_eq(mm_blob_put(blob, name, text, strlen(text), 0, err, sizeof(err)), MM_OK, "%s",
                     err);
    }
    /* A marker-less neighbour outside the prefix is not followed. */
    cr_assert_eq(mm_blob_put(blob, "elsewhere/x.csv", "a\n", 2, 0, err, sizeof(err)), MM_OK);

    char *tmp = mmt_tmpdir("watch-azurite");
    char manifest[4200];
    snprintf(manifest, sizeof(manifest), "%s/watch.db", tmp);
    mm_spec_t spec = {0};
    cr_assert_eq(
        mm_spec_load_file(MM_SOURCE_DIR "/tools/datagen/specs/sales.json", &spec, err, sizeof(err)),
        MM_OK, "%s", err);
    int64_t rows = 0;
    mm_ingest_config_t icfg = {.spec = &spec, .sink = count_sink, .sink_opaque = &rows};
    mm_watch_config_t wcfg = {.ingest = &icfg,
                              .flush_timeout_ms = 5000,
                              .manifest_path = manifest,
                              .blob = blob,
                              .blob_prefix = "incoming/"};
    mm_watch_t *w = mm_watch_new(&wcfg, err, sizeof(err));
    cr_assert_not_null(w, "%s", err);
    mm_watch_stats_t pass;
    cr_expect_eq(mm_watch_poll(w, &pass, err, sizeof(err)), MM_OK, "%s", err);
    cr_expect_eq(pass.files_seen, files, "every page was listed");
    cr_expect_eq(pass.files_ingested, files);
    cr_expect_eq(rows, 2 * files);

    /* Moved: nothing left under the prefix, everything under done/. */
    int listed = 0;
    cr_expect_eq(mm_blob_list(blob, "incoming/", count_cb, &listed, err, sizeof(err)), MM_OK);
    cr_expect_eq(listed, 0);
    cr_expect_eq(mm_blob_list(blob, "done/incoming/", count_cb, &listed, err, sizeof(err)), MM_OK);
    cr_expect_eq(listed, files);
    cr_expect_eq(mm_watch_poll(w, &pass, err, sizeof(err)), MM_OK);
    cr_expect_eq(pass.files_ingested, 0, "nothing is read twice");
    cr_expect_eq(rows, 2 * files);

    mm_watch_destroy(w);
    mm_spec_clear(&spec);
    mm_blob_destroy(blob);
    mmt_rmtree(tmp);
    free(tmp);
    mmt_azurite_stop(&az);
}

/* ------------------------------------------------------------ retraining by model age */

/*
 * A second file too small to trigger by row count (retrain.min_new_rows) and
 * no end-of-load trigger: the key is retrained only because its model grew
 * older than retrain.max_age_seconds while new rows were waiting.
 */
Test(watch, new_rows_below_the_row_trigger_retrain_once_the_model_is_old, .timeout = 600) {
    const int stores = 2, items = 2;
    const int64_t keys = stores * items;
    mmt_pipeline_t p;
    mmt_pipeline_init_spec(
        &p, "watch-age", 2,
        "{\"name\": \"sales\", \"task\": \"forecast\", \"key\": [\"store\", \"item\"],\n"
        " \"time\": {\"column\": \"date\", \"format\": \"%Y-%m-%d\", \"frequency\": \"day\"},\n"
        " \"target\": {\"column\": \"sales\"}, \"features\": {\"exogenous\": [\"price\", "
        "\"promo\"]},\n"
        " \"horizon\": 7, \"holdout\": 14, \"backtest_windows\": 1, \"season_length\": 7,\n"
        " \"min_history\": 42, \"algorithms\": [\"snaive\"], \"selection_metric\": \"mase\",\n"
        " \"retrain\": {\"on_end_of_load\": false, \"min_new_rows\": 100, \"max_age_seconds\": "
        "2},\n"
        " \"promotion\": {\"metric\": \"mase\", \"threshold\": {\"op\": \"<\", \"value\": 100},\n"
        "   \"margin\": 0.0, \"require_beats_baseline\": false}}\n");
    mmt_pipeline_generate(&p, stores, items, 150, 3);
    mm_buf_t head, tail;
    mm_buf_init(&head, 0);
    mm_buf_init(&tail, 0);
    int64_t head_rows, tail_rows;
    split_csv(p.csv_path, 7, &head, &tail, &head_rows, &tail_rows);
    cr_assert_lt(tail_rows / keys, 100, "the second file alone must not reach min_new_rows");

    char dir[4200], err[512];
    snprintf(dir, sizeof(dir), "%s/incoming", p.dir);
    cr_assert_eq(mm_mkdirs(dir, err, sizeof(err)), MM_OK);
    mmt_pipeline_start_trainer(&p);
    int port = free_port();
    const char *extra[] = {"--settle-ms=0", NULL};
    pid_t watch = start_watch(&p, dir, port, extra);
    cr_assert(wait_http(port));

    drop_file(dir, "first.csv", (const char *)head.data); /* > 100 rows per key: row trigger */
    cr_assert_eq(wait_query(&p, "trainer.db", "SELECT COUNT(*) FROM trained", keys, 300000), keys);
    drop_file(dir, "second.csv", (const char *)tail.data); /* 7 rows per key: no row trigger */
    cr_assert_eq(wait_query(&p, "trainer.db", "SELECT COUNT(*) FROM trained", 2 * keys, 300000),
                 2 * keys, "every key retrained by age");
    cr_expect_eq(
        mmt_pipeline_query(&p, "trainer.db", "SELECT COUNT(*) FROM keys WHERE new_rows > 0"), 0,
        "the new rows went into the retrained models");
    cr_expect_eq(mmt_stop(watch, 30000), 0);
    mm_buf_free(&head);
    mm_buf_free(&tail);
    mmt_pipeline_stop(&p);
}
