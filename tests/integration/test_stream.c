/*
 * test_stream.c - `mm-scorer stream` end to end over the dev broker: models
 * are trained and decided, then requests on mm.score-requests must be
 * answered on mm.predictions with their request id and the values a batch
 * run gives for the key; a repeated request must be answered once; a
 * malformed request must be dead-lettered and the next one answered; a
 * scorer killed with SIGKILL and restarted must lose and duplicate nothing;
 * /metrics must count it all. The trainer's /metrics (consumer lag per
 * partition, dead letters by reason) and the promoter's are scraped in the
 * same pipeline, with the blob request and dead-letter metrics every service
 * publishes.
 */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "mm/avro.h"
#include "mm/http.h"
#include "mm/kafka.h"
#include "mm/util.h"
#include "pipeline.h"
#include "support.h"

#define STORES  2
#define ITEMS   2
#define DAYS    90
#define HORIZON 7
#define KEYS    (STORES * ITEMS)

static const char *const spec_json =
    "{\n"
    "  \"name\": \"sales\",\n"
    "  \"task\": \"forecast\",\n"
    "  \"key\": [\"store\", \"item\"],\n"
    "  \"time\": {\"column\": \"date\", \"format\": \"%Y-%m-%d\", \"frequency\": \"day\"},\n"
    "  \"target\": {\"column\": \"sales\"},\n"
    "  \"horizon\": 7,\n"
    "  \"holdout\": 14,\n"
    "  \"backtest_windows\": 1,\n"
    "  \"season_length\": 7,\n"
    "  \"min_history\": 28,\n"
    "  \"algorithms\": [\"snaive\", \"ets\"],\n"
    "  \"retrain\": {\"on_end_of_load\": true, \"debounce_ms\": 200},\n"
    "  \"promotion\": {\"metric\": \"mase\", \"threshold\": {\"op\": \"<\", \"value\": 10},\n"
    "                \"margin\": 0.0, \"require_beats_baseline\": false}\n"
    "}\n";

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

/* Start @p name with @p args (NULL-terminated) and the pipeline's environment. */
static pid_t spawn(mmt_pipeline_t *p, const char *name, const char *log_name,
                   const char *const *args) {
    char *bin = mmt_binary(name);
    cr_assert_not_null(bin, "%s is not built", name);
    char env_spec[1024], env_boot[512], env_blob[1024];
    snprintf(env_spec, sizeof(env_spec), "MM_SPEC=%s", p->spec_path);
    snprintf(env_boot, sizeof(env_boot), "MM_BOOTSTRAP_SERVERS=%s", p->broker.bootstrap);
    snprintf(env_blob, sizeof(env_blob), "MM_BLOB_URL=%s", p->blob_url);
    char *env[] = {
        env_spec, env_boot, env_blob, "MM_KAFKA_SESSION_TIMEOUT_MS=6000", "MM_LOG_LEVEL=info",
        NULL};
    char *argv[32];
    size_t n = 0;
    argv[n++] = bin;
    for (size_t i = 0; args[i]; i++) argv[n++] = (char *)args[i];
    argv[n] = NULL;
    char log[1024];
    snprintf(log, sizeof(log), "%s/%s", p->dir, log_name);
    pid_t pid = mmt_spawn(argv, env, log);
    cr_assert_gt(pid, 0, "cannot start %s", name);
    free(bin);
    return pid;
}

typedef struct stream_proc {
    pid_t pid;
    int port;
    char sink[1024], state[1024];
} stream_proc_t;

static void stream_start(mmt_pipeline_t *p, stream_proc_t *s) {
    snprintf(s->sink, sizeof(s->sink), "%s/stream-predictions.db", p->dir);
    snprintf(s->state, sizeof(s->state), "%s/stream-state.db", p->dir);
    if (s->port == 0) s->port = free_port();
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", s->port);
    const char *args[] = {"stream",     "--sink",           s->sink,       "--state", s->state,
                          "--group-id", "mm-scorer-stream", "--http-addr", addr,      NULL};
    s->pid = spawn(p, "mm-scorer", "scorer-stream.log", args);
}

/* GET http://127.0.0.1:port/path; @returns the status, body in @p body (malloc'd, may be NULL). */
static long http_get(int port, const char *path, char **body) {
    char url[256], errstr[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    mm_http_t *http = mm_http_new(errstr, sizeof(errstr));
    cr_assert_not_null(http, "%s", errstr);
    mm_http_request_t req = {.method = "GET", .url = url, .total_timeout_ms = 5000};
    mm_http_response_t resp = {0};
    long status = 0;
    if (mm_http_perform(http, &req, &resp, errstr, sizeof(errstr)) == MM_OK) status = resp.status;
    if (body) *body = status ? mm_strndup((const char *)resp.body.data, resp.body.len) : NULL;
    mm_http_response_clear(&resp);
    mm_http_destroy(http);
    return status;
}

/* Wait until GET path answers 200 (or the timeout passes). */
static bool wait_http_ok(int port, const char *path, int64_t timeout_ms) {
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(timeout_ms);
    while (mm_mono_ms() < deadline) {
        if (http_get(port, path, NULL) == 200) return true;
        usleep(200000);
    }
    return false;
}

/* Wait until @p sql on the stream's state store reads @p want. */
static bool wait_state(mmt_pipeline_t *p, const char *sql, int64_t want, int64_t timeout_ms) {
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(timeout_ms);
    while (mm_mono_ms() < deadline) {
        if (mmt_pipeline_try_query(p, "stream-state.db", sql) == want) return true;
        usleep(200000);
    }
    return false;
}

static bool answered(mmt_pipeline_t *p, const char *request_id, int64_t timeout_ms) {
    char sql[512];
    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM stream_requests WHERE request_id = '%s'",
             request_id);
    return wait_state(p, sql, 1, timeout_ms);
}

static mm_kafka_producer_t *producer_new(mmt_pipeline_t *p) {
    char errstr[512];
    mm_kafka_producer_t *prod =
        mm_kafka_producer_new(p->broker.bootstrap, NULL, NULL, NULL, errstr, sizeof(errstr));
    cr_assert_not_null(prod, "%s", errstr);
    return prod;
}

static void produce_raw(mm_kafka_producer_t *prod, const char *topic, const char *key,
                        const void *value, size_t len) {
    char errstr[512];
    cr_assert_eq(mm_kafka_produce(prod, topic, key, key ? strlen(key) : 0, value, len, NULL, 5000,
                                  errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_assert_eq(mm_kafka_producer_flush(prod, 10000), MM_OK);
}

static void produce_request(mm_kafka_producer_t *prod, const char *request_id, const char *key,
                            int horizon) {
    mm_score_request_t r = {.request_id = request_id,
                            .partition_key = key,
                            .horizon = horizon,
                            .requested_at_ms = mm_now_ms()};
    mm_buf_t buf;
    mm_buf_init(&buf, MM_BUF_CAP_MESSAGE);
    char errstr[512];
    cr_assert_eq(mm_avro_encode_score_request(&r, &buf, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    produce_raw(prod, MM_TOPIC_SCORE_REQUESTS, key, buf.data, buf.len);
    mm_buf_free(&buf);
}

/* Every PredictionBatch on mm.predictions whose request id starts with @p prefix. */
typedef struct answers {
    mm_prediction_batch_t recs[256];
    size_t n;
} answers_t;

static void read_answers(mmt_pipeline_t *p, const char *prefix, answers_t *out) {
    char errstr[512];
    memset(out, 0, sizeof(*out));
    mm_kafka_reader_t *r = mm_kafka_reader_new(p->broker.bootstrap, MM_TOPIC_PREDICTIONS, NULL,
                                               errstr, sizeof(errstr));
    cr_assert_not_null(r, "%s", errstr);
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(60000);
    for (;;) {
        mm_kafka_msg_t msg;
        mm_err_t err = mm_kafka_reader_poll(r, 500, &msg, errstr, sizeof(errstr));
        if (err == MM_ERR_NOT_FOUND) break;
        cr_assert(mm_mono_ms() < deadline, "mm.predictions not read to its end");
        if (err) continue;
        mm_prediction_batch_t rec = {0};
        cr_assert_eq(
            mm_avro_decode_prediction_batch(msg.value, msg.value_len, &rec, errstr, sizeof(errstr)),
            MM_OK, "%s", errstr);
        if (strncmp(rec.request_id, prefix, strlen(prefix)) == 0 && out->n < 256)
            out->recs[out->n++] = rec;
        else
            mm_prediction_batch_clear(&rec);
    }
    mm_kafka_reader_destroy(r);
}

static void answers_clear(answers_t *a) {
    for (size_t i = 0; i < a->n; i++) mm_prediction_batch_clear(&a->recs[i]);
    a->n = 0;
}

static size_t count_id(const answers_t *a, const char *request_id) {
    size_t n = 0;
    for (size_t i = 0; i < a->n; i++) n += strcmp(a->recs[i].request_id, request_id) == 0;
    return n;
}

static const mm_prediction_batch_t *find_id(const answers_t *a, const char *request_id) {
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->recs[i].request_id, request_id) == 0) return &a->recs[i];
    return NULL;
}

/* Dead letters of mm-scorer whose source is mm.score-requests. */
static int64_t scorer_request_dead_letters(mmt_pipeline_t *p) {
    char errstr[512];
    mm_kafka_reader_t *r =
        mm_kafka_reader_new(p->broker.bootstrap, MM_TOPIC_DEADLETTER, NULL, errstr, sizeof(errstr));
    cr_assert_not_null(r, "%s", errstr);
    int64_t n = 0, deadline = mm_mono_ms() + mmt_timeout_ms(60000);
    for (;;) {
        mm_kafka_msg_t msg;
        mm_err_t err = mm_kafka_reader_poll(r, 500, &msg, errstr, sizeof(errstr));
        if (err == MM_ERR_NOT_FOUND) break;
        cr_assert(mm_mono_ms() < deadline, "mm.deadletter not read to its end");
        if (err) continue;
        mm_dead_letter_t dl = {0};
        if (mm_avro_decode_dead_letter(msg.value, msg.value_len, &dl, errstr, sizeof(errstr)) ==
                MM_OK &&
            dl.service && strcmp(dl.service, "mm-scorer") == 0 && dl.source_topic &&
            strcmp(dl.source_topic, MM_TOPIC_SCORE_REQUESTS) == 0)
            n++;
        mm_dead_letter_clear(&dl);
    }
    mm_kafka_reader_destroy(r);
    return n;
}

static void key_of(int store, int item, char *out, size_t size) {
    snprintf(out, size, "store=%d/item=%d", store, item);
}

static int promoter_port; /* the promoter's /metrics, set by pipeline_with_models */

/* Train and decide every key; the trainer serves /metrics on @p trainer_port. */
static void pipeline_with_models(mmt_pipeline_t *p, const char *tag, int trainer_port) {
    mmt_pipeline_init_spec(p, tag, 2, spec_json);
    mmt_pipeline_generate(p, STORES, ITEMS, DAYS, 5);
    char state[1024], addr[64];
    snprintf(state, sizeof(state), "%s/trainer.db", p->dir);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", trainer_port);
    const char *args[] = {"--state", state, "--workers", "2", "--http-addr", addr, NULL};
    p->trainer = spawn(p, "mm-trainer", "trainer.log", args);
    promoter_port = free_port();
    char promoter_addr[64];
    snprintf(promoter_addr, sizeof(promoter_addr), "127.0.0.1:%d", promoter_port);
    cr_assert_eq(setenv("MM_HTTP_ADDR", promoter_addr, 1), 0); /* the promoter's --http-addr */
    mmt_pipeline_start_promoter(p);
    unsetenv("MM_HTTP_ADDR");
    const char *files[] = {p->csv_path, NULL};
    cr_assert_eq(mmt_pipeline_ingest(p, files, NULL), 0);
    cr_assert(mmt_pipeline_wait_decisions(p, KEYS, 300000), "not every key got a decision");
}

/* ------------------------------------------------------------ tests */

Test(stream, answers_like_batch_once_per_request_and_dead_letters_malformed, .timeout = 900) {
    mmt_pipeline_t p;
    int trainer_port = free_port();
    pipeline_with_models(&p, "stream", trainer_port);
    cr_assert_eq(mmt_pipeline_score(&p), 0, "batch mm-scorer failed");

    stream_proc_t s = {0};
    stream_start(&p, &s);
    cr_assert(wait_http_ok(s.port, "/readyz", 120000), "the stream scorer never became ready");

    /* One request per key, and one for a key nobody knows. */
    mm_kafka_producer_t *prod = producer_new(&p);
    char key[64], id[96];
    for (int st = 1; st <= STORES; st++)
        for (int it = 1; it <= ITEMS; it++) {
            key_of(st, it, key, sizeof(key));
            snprintf(id, sizeof(id), "req-%s", key);
            produce_request(prod, id, key, 0);
        }
    produce_request(prod, "req-unknown", "store=9/item=9", 0);
    cr_assert(wait_state(&p, "SELECT COUNT(*) FROM stream_requests", KEYS + 1, 120000),
              "not every request was answered");

    /* The same request again, then a marker: the repeat is answered nothing more. */
    produce_request(prod, "req-store=1/item=1", "store=1/item=1", 0);
    produce_request(prod, "req-marker", "store=1/item=2", 3);
    cr_assert(answered(&p, "req-marker", 120000));

    /* Malformed: bytes that are no record, and a record with a negative horizon; then a good one.
     */
    produce_raw(prod, MM_TOPIC_SCORE_REQUESTS, "store=2/item=2", "not avro", 8);
    produce_request(prod, "req-bad-horizon", "store=2/item=2", -3);
    produce_request(prod, "req-next", "store=2/item=2", 0);
    cr_assert(answered(&p, "req-next", 120000), "the request after the malformed ones");
    cr_assert(wait_state(&p, "SELECT COUNT(*) FROM outbox", 0, 60000), "outbox not delivered");

    answers_t a;
    read_answers(&p, "req-", &a);
    for (int st = 1; st <= STORES; st++)
        for (int it = 1; it <= ITEMS; it++) {
            key_of(st, it, key, sizeof(key));
            snprintf(id, sizeof(id), "req-%s", key);
            cr_expect_eq(count_id(&a, id), 1, "%s answered %zu times", id, count_id(&a, id));
            const mm_prediction_batch_t *r = find_id(&a, id);
            cr_assert_not_null(r, "%s not answered", id);
            cr_expect_str_eq(r->partition_key, key);
            cr_expect_eq(r->status, MM_PREDICTION_OK, "%s: %s", id, r->message ? r->message : "");
            cr_assert_eq(r->n, HORIZON);
            cr_expect_gt(r->model_version, 0);
            /* The values a batch run gives for the key, step by step. */
            for (size_t i = 0; i < r->n; i++) {
                char sql[512];
                snprintf(sql, sizeof(sql),
                         "SELECT CAST(ROUND(value * 1000000) AS INTEGER) FROM predictions "
                         "WHERE partition_key = '%s' AND target_time_ms = %lld",
                         key, (long long)r->time_ms[i]);
                int64_t batch = mmt_pipeline_query(&p, "predictions.db", sql);
                cr_expect_eq((int64_t)llround(r->value[i] * 1e6), batch,
                             "%s step %zu: stream %.6f, batch %.6f", key, i, r->value[i],
                             (double)batch / 1e6);
            }
        }
    const mm_prediction_batch_t *unknown = find_id(&a, "req-unknown");
    cr_assert_not_null(unknown);
    cr_expect_eq(unknown->status, MM_PREDICTION_NO_MODEL);
    const mm_prediction_batch_t *marker = find_id(&a, "req-marker");
    cr_assert_not_null(marker);
    cr_expect_eq(marker->n, 3, "the request's horizon");
    cr_expect_eq(count_id(&a, "req-next"), 1);
    cr_expect_eq(count_id(&a, "req-bad-horizon"), 0);
    cr_expect_eq(a.n, KEYS + 3, "answers: %zu", a.n);
    answers_clear(&a);
    cr_expect_eq(scorer_request_dead_letters(&p), 2);
    /* The sink has the stream's answers too. */
    cr_expect_eq(mmt_pipeline_query(&p, "stream-predictions.db",
                                    "SELECT COUNT(*) FROM key_runs WHERE request_id = 'req-next'"),
                 1);

    /* /metrics counts it all. */
    char *metrics = NULL;
    cr_assert_eq(http_get(s.port, "/metrics", &metrics), 200);
    cr_expect(strstr(metrics, "mm_scorer_requests_total{outcome=\"ok\"} 6\n"), "%s", metrics);
    cr_expect(strstr(metrics, "mm_scorer_requests_total{outcome=\"no_model\"} 1\n"));
    cr_expect(strstr(metrics, "mm_scorer_requests_total{outcome=\"duplicate\"} 1\n"));
    cr_expect(strstr(metrics, "mm_scorer_requests_total{outcome=\"dead_letter\"} 2\n"));
    cr_expect(strstr(metrics, "mm_scorer_dead_letters_total{topic=\"mm.score-requests\"} 2\n"));
    cr_expect(strstr(metrics, "mm_scorer_production_keys 4\n"), "%s", metrics);
    cr_expect(strstr(metrics, "mm_scorer_consumer_lag_messages{topic=\"mm.score-requests\""));
    /* The promoter's: blob requests (candidates copied to production/), dead letters. */
    char *pm = NULL;
    cr_assert_eq(http_get(promoter_port, "/metrics", &pm), 200);
    cr_expect(strstr(pm, "mm_blob_request_seconds_count{op=\"put\"} "), "%s", pm);
    cr_expect(strstr(pm, "# TYPE mm_dead_letters_total counter"), "%s", pm);
    cr_expect(strstr(pm, "store=") == NULL, "no per-key label: %s", pm);
    free(pm);
    /* Every service's own: dead letters by reason, blob requests (the models loaded). */
    cr_expect(strstr(metrics, "mm_dead_letters_total{topic=\"mm.score-requests\",error=\""), "%s",
              metrics);
    cr_expect(strstr(metrics, "mm_blob_request_seconds_count{op=\"get\"} "), "%s", metrics);
    cr_expect(strstr(metrics, "mm_scorer_observation_rows_total "), "%s", metrics);
    cr_expect(!strstr(metrics, "mm_scorer_observation_rows_total 0\n"), "%s", metrics);
    cr_expect(strstr(metrics, "# TYPE mm_blob_errors_total counter"), "%s", metrics);
    free(metrics);

    /* It follows the scoring data: a newer observation applies to the next request. */
    char *newer =
        mmt_pipeline_extra_csv(&p, "newer.csv", "store,item,date,sales\n1,1,2024-03-31,12\n");
    const char *newer_files[] = {newer, NULL};
    cr_assert_eq(mmt_pipeline_ingest(&p, newer_files, NULL), 0);
    free(newer);
    const long long day90 = 1711843200000LL; /* 2024-03-31, the day after the generated data */
    bool follows = false;
    for (int i = 0; i < 60 && !follows; i++) {
        char sql[512];
        snprintf(id, sizeof(id), "req-newer-%d", i);
        produce_request(prod, id, "store=1/item=1", 0);
        cr_assert(answered(&p, id, 60000), "%s", id);
        snprintf(sql, sizeof(sql),
                 "SELECT COUNT(*) FROM predictions WHERE request_id = '%s' AND "
                 "data_watermark_ms = %lld AND target_time_ms = %lld",
                 id, day90, day90 + 86400000LL);
        follows = mmt_pipeline_query(&p, "stream-predictions.db", sql) == 1;
        if (!follows) usleep(500000);
    }
    cr_expect(follows, "answers never used the newer observation");

    /* It follows mm.decisions: a key whose production model is withdrawn gets its fallback. */
    mm_model_decision_t d = {.partition_key = "store=2/item=1",
                             .dataset = "sales",
                             .spec_hash = "0000000000000000000000000000000000000000000000000000"
                                          "000000000000",
                             .decision = MM_DECISION_REJECTED,
                             .reason = "withdrawn by the test",
                             .candidate_train_id = "none",
                             .decided_at_ms = mm_now_ms(),
                             .has_production = false};
    mm_buf_t dbuf;
    mm_buf_init(&dbuf, MM_BUF_CAP_MESSAGE);
    char derr[256];
    cr_assert_eq(mm_avro_encode_model_decision(&d, &dbuf, derr, sizeof(derr)), MM_OK, "%s", derr);
    produce_raw(prod, MM_TOPIC_DECISIONS, d.partition_key, dbuf.data, dbuf.len);
    mm_buf_free(&dbuf);
    bool withdrawn = false;
    for (int i = 0; i < 60 && !withdrawn; i++) {
        char sql[512];
        snprintf(id, sizeof(id), "req-live-%d", i);
        produce_request(prod, id, "store=2/item=1", 0);
        cr_assert(answered(&p, id, 60000), "%s", id);
        snprintf(sql, sizeof(sql),
                 "SELECT COUNT(*) FROM key_runs WHERE request_id = '%s' AND fallback = 1 AND "
                 "status = 'ok' AND message LIKE '%%withdrawn by the test%%'",
                 id);
        withdrawn = mmt_pipeline_query(&p, "stream-predictions.db", sql) == 1;
        if (!withdrawn) usleep(500000);
    }
    cr_expect(withdrawn, "answers never followed the new decision");

    /* The trainer's metrics: dead letters by reason, consumer lag per partition. */
    produce_raw(prod, MM_TOPIC_OBSERVATIONS, "store=1/item=1", "garbage", 7);
    char *tm = NULL;
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(60000);
    bool seen = false;
    while (!seen && mm_mono_ms() < deadline) {
        free(tm);
        tm = NULL;
        if (http_get(trainer_port, "/metrics", &tm) == 200 && tm)
            seen = strstr(tm, "mm_trainer_dead_letters_total{reason=\"schema\"} 1\n") != NULL;
        if (!seen) usleep(300000);
    }
    cr_expect(seen, "trainer dead letters by reason: %s", tm ? tm : "(no answer)");
    cr_expect(tm && strstr(tm, "mm_trainer_consumer_lag_messages{topic=\"mm.observations\","
                               "partition=\"0\"} 0\n"),
              "trainer lag: %s", tm ? tm : "");
    cr_expect(tm && strstr(tm, "mm_trainer_consumer_lag_messages{topic=\"mm.observations\","
                               "partition=\"1\"} 0\n"));
    cr_expect(tm && strstr(tm, "mm_dead_letters_total{topic=\"mm.observations\",error="
                               "\"MM_ERR_SCHEMA\"} 1\n"),
              "trainer dead letters by topic and reason: %s", tm ? tm : "");
    cr_expect(tm && strstr(tm, "mm_blob_request_seconds_count{op=\"put\"} "),
              "trainer blob requests (artifacts stored): %s", tm ? tm : "");
    free(tm);
    mm_kafka_producer_destroy(prod, 5000);

    /* SIGTERM: an orderly stop. */
    cr_expect_eq(mmt_stop(s.pid, 30000), 0, "mm-scorer stream did not stop cleanly");
    mmt_pipeline_stop(&p);
}

Test(stream, killed_and_restarted_loses_and_duplicates_nothing, .timeout = 900) {
    mmt_pipeline_t p;
    pipeline_with_models(&p, "stream-kill", free_port());
    stream_proc_t s = {0};
    stream_start(&p, &s);
    cr_assert(wait_http_ok(s.port, "/readyz", 120000));

    enum { FIRST = 40, SECOND = 40 };
    mm_kafka_producer_t *prod = producer_new(&p);
    char key[64], id[64];
    for (int i = 0; i < FIRST; i++) {
        key_of(1 + i % STORES, 1 + (i / STORES) % ITEMS, key, sizeof(key));
        snprintf(id, sizeof(id), "kill-%03d", i);
        produce_request(prod, id, key, 0);
    }
    /* Kill it once it has answered some of them, without a goodbye. */
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(120000);
    while (mmt_pipeline_try_query(&p, "stream-state.db", "SELECT COUNT(*) FROM stream_requests") <
               5 &&
           mm_mono_ms() < deadline)
        usleep(20000);
    kill(s.pid, SIGKILL);
    mmt_wait(s.pid, 10000);
    for (int i = FIRST; i < FIRST + SECOND; i++) {
        key_of(1 + i % STORES, 1 + (i / STORES) % ITEMS, key, sizeof(key));
        snprintf(id, sizeof(id), "kill-%03d", i);
        produce_request(prod, id, key, 0);
    }
    /* A client's retry of a request answered before the kill. */
    produce_request(prod, "kill-000", "store=1/item=1", 0);
    mm_kafka_producer_destroy(prod, 5000);

    stream_start(&p, &s);
    cr_assert(wait_state(&p, "SELECT COUNT(*) FROM stream_requests", FIRST + SECOND, 180000),
              "not every request answered after the restart");
    cr_assert(wait_state(&p, "SELECT COUNT(*) FROM outbox", 0, 60000), "outbox not delivered");
    cr_expect_eq(mmt_stop(s.pid, 30000), 0);

    answers_t a;
    read_answers(&p, "kill-", &a);
    for (int i = 0; i < FIRST + SECOND; i++) {
        snprintf(id, sizeof(id), "kill-%03d", i);
        cr_expect_eq(count_id(&a, id), 1, "%s answered %zu times", id, count_id(&a, id));
        const mm_prediction_batch_t *r = find_id(&a, id);
        if (r) cr_expect_eq(r->status, MM_PREDICTION_OK, "%s", id);
    }
    cr_expect_eq(a.n, FIRST + SECOND);
    answers_clear(&a);
    mmt_pipeline_stop(&p);
}
