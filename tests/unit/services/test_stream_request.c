/*
 * test_stream_request.c - one mm.score-requests record in mm-scorer's stream
 * mode, without a broker: the answer goes to the state store's outbox with
 * the request id and the offset, a repeated request id is answered nothing
 * more, and each kind of unusable request is dead-lettered with the field it
 * got wrong and its offset stored, so the stream goes on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

#include "mm/avro.h"
#include "mm/util.h"
#include "stream_int.h"
#include "support.h"

static const char *const spec_json =
    "{\"name\": \"sales\", \"task\": \"forecast\", \"key\": [\"store\", \"item\"],"
    " \"time\": {\"column\": \"date\", \"format\": \"%Y-%m-%d\", \"frequency\": \"day\"},"
    " \"target\": {\"column\": \"sales\"},"
    " \"features\": {\"exogenous\": [\"price\"], \"known_in_advance\": [\"price\"]},"
    " \"horizon\": 7, \"holdout\": 14, \"season_length\": 7, \"algorithms\": [\"snaive\"]}";

static char *tmpdir;
static mm_spec_t spec;
static mm_scorer_t *scorer;
static mm_scorer_stream_t *stream;
static mm_metrics_t *metrics;
static char state_path[1024], sink_path[1024];
static int64_t next_offset;

static void setup(void) {
    char errstr[1024], blob_url[1100];
    tmpdir = mmt_tmpdir("stream_request");
    cr_assert_not_null(tmpdir);
    cr_assert_eq(mm_spec_parse(spec_json, strlen(spec_json), "test", &spec, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    snprintf(state_path, sizeof(state_path), "%s/state.db", tmpdir);
    snprintf(sink_path, sizeof(sink_path), "%s/sink.db", tmpdir);
    snprintf(blob_url, sizeof(blob_url), "file://%s", tmpdir);
    mm_scorer_config_t cfg = {.bootstrap = "127.0.0.1:9",
                              .spec = &spec,
                              .blob_url = blob_url,
                              .sink_path = sink_path,
                              .state_path = state_path,
                              .group_id = "mm-scorer-test"};
    scorer = mm_scorer_new(&cfg, errstr, sizeof(errstr));
    cr_assert_not_null(scorer, "%s", errstr);
    metrics = mm_metrics_new();
    mm_scorer_stream_opts_t opts = {.metrics = metrics};
    stream = mm_scorer_stream_new(scorer, &opts, errstr, sizeof(errstr));
    cr_assert_not_null(stream, "%s", errstr);
    next_offset = 0;
}

static void teardown(void) {
    mm_scorer_stream_destroy(stream);
    mm_scorer_destroy(scorer);
    mm_metrics_destroy(metrics);
    mm_spec_clear(&spec);
    mmt_rmtree(tmpdir);
    free(tmpdir);
}

TestSuite(stream_request, .init = setup, .fini = teardown, .timeout = 60);

/* Hand @p value to the stream as the next record of mm.score-requests [0], keyed @p key. */
static void consume(const char *key, const void *value, size_t len) {
    char errstr[1024];
    mm_kafka_msg_t msg = {.topic = MM_TOPIC_SCORE_REQUESTS,
                          .partition = 0,
                          .offset = next_offset++,
                          .key = key,
                          .key_len = key ? strlen(key) : 0,
                          .value = value,
                          .value_len = len,
                          .timestamp_ms = -1};
    cr_assert_eq(mm_scorer_stream__handle_request(stream, &msg, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
}

static void consume_request(const mm_score_request_t *r, const char *key) {
    mm_buf_t buf;
    mm_buf_init(&buf, MM_BUF_CAP_MESSAGE);
    char errstr[512];
    cr_assert_eq(mm_avro_encode_score_request(r, &buf, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    consume(key, buf.data, buf.len);
    mm_buf_free(&buf);
}

static int64_t query(const char *path, const char *sql) {
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql,
                 sqlite3_errmsg(db));
    int64_t v = -1;
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* The payload of the outbox row number @p nth (0-based, in id order) for @p topic. */
static void *outbox_payload(const char *topic, int nth, size_t *len) {
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(state_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db,
                                    "SELECT payload FROM outbox WHERE topic = ?1 ORDER BY id "
                                    "LIMIT 1 OFFSET ?2",
                                    -1, &st, NULL),
                 SQLITE_OK);
    sqlite3_bind_text(st, 1, topic, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, nth);
    void *copy = NULL;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *len = (size_t)sqlite3_column_bytes(st, 0);
        copy = malloc(*len);
        memcpy(copy, sqlite3_column_blob(st, 0), *len);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    cr_assert_not_null(copy, "no outbox row %d for %s", nth, topic);
    return copy;
}

static int64_t outbox_rows(const char *topic) {
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM outbox WHERE topic = '%s'", topic);
    return query(state_path, sql);
}

static int64_t stored_offset(void) {
    return query(state_path, "SELECT next_offset FROM consumed_offsets WHERE topic = "
                             "'mm.score-requests' AND \"partition\" = 0");
}

/* The reason of dead letter number @p nth; @returns it (malloc'd). */
static char *dead_letter_reason(int nth) {
    size_t len = 0;
    void *payload = outbox_payload(MM_TOPIC_DEADLETTER, nth, &len);
    mm_dead_letter_t dl = {0};
    char errstr[512];
    cr_assert_eq(mm_avro_decode_dead_letter(payload, len, &dl, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    cr_expect_str_eq(dl.service, "mm-scorer");
    cr_expect_str_eq(dl.source_topic, MM_TOPIC_SCORE_REQUESTS);
    char *reason = strdup(dl.reason);
    mm_dead_letter_clear(&dl);
    free(payload);
    return reason;
}

Test(stream_request, answers_with_the_request_id_and_stores_the_offset_with_it) {
    mm_score_request_t r = {.request_id = "r-1", .partition_key = "store=1/item=1"};
    consume_request(&r, "store=1/item=1");

    cr_assert_eq(outbox_rows(MM_TOPIC_PREDICTIONS), 1);
    size_t len = 0;
    void *payload = outbox_payload(MM_TOPIC_PREDICTIONS, 0, &len);
    mm_prediction_batch_t p = {0};
    char errstr[512];
    cr_assert_eq(mm_avro_decode_prediction_batch(payload, len, &p, errstr, sizeof(errstr)), MM_OK);
    cr_expect_str_eq(p.request_id, "r-1");
    cr_expect_str_eq(p.partition_key, "store=1/item=1");
    cr_expect_eq(p.status, MM_PREDICTION_NO_MODEL, "no decision, no data: no model");
    mm_prediction_batch_clear(&p);
    free(payload);
    cr_expect_eq(stored_offset(), 1);
    cr_expect_eq(query(state_path, "SELECT COUNT(*) FROM stream_requests WHERE request_id = "
                                   "'r-1' AND outcome = 'no_model'"),
                 1);
    cr_expect_eq(query(sink_path, "SELECT COUNT(*) FROM key_runs WHERE request_id = 'r-1' AND "
                                  "status = 'no_model'"),
                 1);
    mm_scorer_stream_stats_t stats;
    mm_scorer_stream_stats(stream, &stats);
    cr_expect_eq(stats.answered, 1);
}

Test(stream_request, a_repeated_request_id_is_answered_once) {
    mm_score_request_t r = {.request_id = "r-1", .partition_key = "store=1/item=1"};
    consume_request(&r, "store=1/item=1");
    consume_request(&r, "store=1/item=1");
    cr_expect_eq(outbox_rows(MM_TOPIC_PREDICTIONS), 1, "the repeat sends nothing");
    cr_expect_eq(stored_offset(), 2, "the repeat's offset is stored");
    mm_scorer_stream_stats_t stats;
    mm_scorer_stream_stats(stream, &stats);
    cr_expect_eq(stats.answered, 1);
    cr_expect_eq(stats.duplicates, 1);
    mm_buf_t out;
    mm_buf_init(&out, 1 << 20);
    cr_assert_eq(mm_metrics_render(metrics, &out), MM_OK);
    mm_buf_append(&out, "", 1);
    cr_expect(strstr((char *)out.data, "mm_scorer_requests_total{outcome=\"no_model\"} 1\n"));
    cr_expect(strstr((char *)out.data, "mm_scorer_requests_total{outcome=\"duplicate\"} 1\n"), "%s",
              (char *)out.data);
    mm_buf_free(&out);
}

Test(stream_request, unusable_requests_are_dead_lettered_naming_the_field) {
    const char *unknown_feature[] = {"colour"};
    int64_t t[] = {1};
    double v[] = {2.5};
    struct {
        mm_score_request_t r;
        const char *key; /* Kafka key */
        const char *expect;
    } cases[] = {
        {{.request_id = "", .partition_key = "store=1/item=1"}, "store=1/item=1", "request_id"},
        {{.request_id = "a", .partition_key = ""}, NULL, "partition_key"},
        {{.request_id = "b", .partition_key = "store=1/item=1"}, "store=2/item=2", "Kafka key"},
        {{.request_id = "c", .partition_key = "store=1/item=1", .dataset = "weather"},
         "store=1/item=1",
         "dataset 'weather'"},
        {{.request_id = "d", .partition_key = "store=1/item=1", .horizon = -1},
         "store=1/item=1",
         "horizon -1"},
        {{.request_id = "e", .partition_key = "store=1/item=1", .horizon = 10001},
         "store=1/item=1",
         "horizon 10001"},
        {{.request_id = "f",
          .partition_key = "store=1/item=1",
          .n_features = 1,
          .feature_names = unknown_feature,
          .n_rows = 1,
          .time_ms = t,
          .values = v},
         "store=1/item=1",
         "feature_names[0] 'colour'"},
    };
    for (size_t i = 0; i < MM_ARRAY_SIZE(cases); i++) consume_request(&cases[i].r, cases[i].key);
    consume("store=1/item=1", "\x01garbage", 8);
    /* The stream goes on: the next request is answered. */
    mm_score_request_t ok = {.request_id = "g", .partition_key = "store=1/item=1"};
    consume_request(&ok, "store=1/item=1");

    cr_assert_eq(outbox_rows(MM_TOPIC_DEADLETTER), (int64_t)MM_ARRAY_SIZE(cases) + 1);
    for (size_t i = 0; i < MM_ARRAY_SIZE(cases); i++) {
        char *reason = dead_letter_reason((int)i);
        char where[64];
        snprintf(where, sizeof(where), "offset %zu:", i);
        cr_expect(strstr(reason, cases[i].expect), "case %zu: '%s' lacks '%s'", i, reason,
                  cases[i].expect);
        cr_expect(strstr(reason, where), "case %zu: '%s' lacks '%s'", i, reason, where);
        free(reason);
    }
    char *reason = dead_letter_reason((int)MM_ARRAY_SIZE(cases));
    cr_expect(strstr(reason, "offset 7:"), "%s", reason);
    free(reason);
    cr_expect_eq(outbox_rows(MM_TOPIC_PREDICTIONS), 1);
    cr_expect_eq(stored_offset(), (int64_t)MM_ARRAY_SIZE(cases) + 2);
    mm_scorer_stream_stats_t stats;
    mm_scorer_stream_stats(stream, &stats);
    cr_expect_eq(stats.dead_letters, (int64_t)MM_ARRAY_SIZE(cases) + 1);
    cr_expect_eq(stats.answered, 1);
}
