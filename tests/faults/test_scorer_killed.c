/*
 * test_scorer_killed.c - fault scenario 5 of docs/reliability.md in stream
 * and serve modes (batch mode is in test_crash_points.c).
 *
 * Both run the mm-scorer binary on mm-devbroker over scoring data and
 * champions made here (the serve tests' fixture: a ridge model per key,
 * its artifact in a file:// blob store, observations on mm.observations and
 * the decisions on mm.decisions).
 *
 * Stream: requests flow on mm.score-requests while the scorer is killed
 * with SIGKILL at seeded moments (after a seeded number of answers), and
 * once by the named crash point scorer_stream_after_sink_commit (the sink
 * committed, the state store not), and restarted each time. At the end:
 * every request id recorded once in the state store with its answer, none
 * missing and none twice on mm.predictions, and the sink holds no duplicate row and each
 * key's latest answer from the last request sent for it.
 *
 * Serve: a client sends forecasts without pause while the server is killed
 * with SIGKILL at seeded moments and restarted on the same port: it becomes
 * ready again, answers the key with the same model version and the same
 * values as before, and no answer is malformed (refused connections while
 * it is down and 503 not_ready while it starts are expected).
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <sqlite3.h>

#include "broker.h"
#include "faults.h"
#include "mm/avro.h"
#include "mm/clock.h"
#include "mm/kafka.h"
#include "serve_process.h"
#include "support.h"
#include "test_serve_fixture.h"

#define KEYS          8
#define PARTITIONS    2
#define PHASE         120 /* requests produced before each kill, and at the end */
#define RANDOM_KILLS  3
#define TOTAL         ((RANDOM_KILLS + 2) * PHASE)
#define WAIT_MS       120000
#define SERVE_KILLS   3
#define SERVE_HORIZON 3
#define REPLY_MAX     65536
#define CRASH_POINT   "scorer_stream_after_sink_commit"

static sfx_t fx;
static mmt_broker_t broker;
static char errstr[1024];
static char spec_path[4300];

static void key_of(int i, char *out, size_t size) {
    snprintf(out, size, "store=%d/item=1", 1 + i % KEYS);
}

static void produce(mm_kafka_producer_t *producer, const char *topic, const char *key,
                    const mm_buf_t *payload) {
    cr_assert_eq(mm_kafka_produce(producer, topic, key, strlen(key), payload->data, payload->len,
                                  NULL, 10000, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
}

/* The fixture, a broker, and for every key its observations (days 0 .. SFX_DAYS-1) and its
 * champion (version 1, trained on days 0..99). */
static void setup(void) {
    sfx_init(&fx, NULL);
    mmt_broker_start(&broker, PARTITIONS);
    cr_assert_eq(mm_avro_init(errstr, sizeof(errstr)), MM_OK);
    snprintf(spec_path, sizeof(spec_path), "%s/spec.json", fx.tmpdir);
    char spec_text[4096];
    sfx_spec_text(spec_text, sizeof(spec_text), NULL);
    cr_assert(mmt_write_file(spec_path, spec_text));
    mm_kafka_producer_t *producer =
        mm_kafka_producer_new(broker.bootstrap, NULL, NULL, NULL, errstr, sizeof(errstr));
    cr_assert_not_null(producer, "%s", errstr);
    mm_buf_t b;
    mm_buf_init(&b, 0);
    for (int k = 0; k < KEYS; k++) {
        char key[64];
        key_of(k, key, sizeof(key));
        sfx_encode_observations(&fx, key, 0, SFX_DAYS, "load-1", &b);
        produce(producer, MM_TOPIC_OBSERVATIONS, key, &b);
        mm_buf_reset(&b);
        mm_model_decision_t d = sfx_train_decision(&fx, key, 100, 2.0, 1);
        cr_assert_eq(mm_avro_encode_model_decision(&d, &b, errstr, sizeof(errstr)), MM_OK, "%s",
                     errstr);
        produce(producer, MM_TOPIC_DECISIONS, key, &b);
        mm_model_decision_clear(&d);
    }
    mm_buf_free(&b);
    cr_assert_eq(mm_kafka_producer_flush(producer, mmt_timeout_ms(30000)), MM_OK);
    mm_kafka_producer_destroy(producer, 5000);
}

static void teardown(void) {
    mmt_broker_stop(&broker);
    sfx_fini(&fx);
}

/* ------------------------------------------------------------------ stream */

static char stream_state[4300], stream_sink[4300], stream_log[4300];

/* mm-scorer stream, with MM_CRASH_AT=@p crash_at when not NULL. */
static pid_t stream_start(const char *crash_at) {
    char *bin = mmt_binary("mm-scorer");
    cr_assert_not_null(bin, "mm-scorer is not built");
    char crash[128];
    snprintf(crash, sizeof(crash), "MM_CRASH_AT=%s", crash_at ? crash_at : "");
    char *env[] = {"MM_KAFKA_SESSION_TIMEOUT_MS=6000", "MM_LOG_LEVEL=info", crash_at ? crash : NULL,
                   NULL};
    char *argv[] = {bin,
                    "stream",
                    "--spec",
                    spec_path,
                    "--bootstrap-servers",
                    broker.bootstrap,
                    "--blob-url",
                    fx.blob_url,
                    "--state",
                    stream_state,
                    "--sink",
                    stream_sink,
                    "--group-id",
                    "mm-scorer-stream",
                    NULL};
    pid_t pid = mmt_spawn(argv, env, stream_log);
    cr_assert_gt(pid, 0, "cannot start mm-scorer stream");
    free(bin);
    return pid;
}

/* One integer from @p sql on the state store (with the sink attached as "sink" when
 * @p with_sink); -1 while the store or its tables do not exist yet. */
static int64_t state_query(const char *sql, bool with_sink) {
    sqlite3 *db = NULL;
    int64_t v = -1;
    if (sqlite3_open_v2(stream_state, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) ==
        SQLITE_OK) {
        sqlite3_busy_timeout(db, 10000);
        char attach[4400];
        snprintf(attach, sizeof(attach), "ATTACH DATABASE 'file:%s?mode=ro' AS sink", stream_sink);
        sqlite3_stmt *st = NULL;
        if ((!with_sink || sqlite3_exec(db, attach, NULL, NULL, NULL) == SQLITE_OK) &&
            sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return v;
}

static int64_t answered(void) {
    return state_query("SELECT COUNT(*) FROM stream_requests", false);
}

/* Wait until at least @p n requests are answered; @returns the count then. */
static int64_t wait_answered(int64_t n) {
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(WAIT_MS), got;
    while ((got = answered()) < n && mm_mono_ms() < deadline) mm_sleep_ms(2, NULL);
    cr_assert_geq(got, n, "%lld of %lld requests answered (see %s)", (long long)got, (long long)n,
                  stream_log);
    return got;
}

static void produce_requests(mm_kafka_producer_t *producer, int from, int to) {
    mm_buf_t b;
    mm_buf_init(&b, 0);
    for (int i = from; i < to; i++) {
        char key[64], id[32];
        key_of(i, key, sizeof(key));
        snprintf(id, sizeof(id), "req-%04d", i);
        mm_score_request_t r = {
            .request_id = id, .partition_key = key, .requested_at_ms = mm_now_ms()};
        mm_buf_reset(&b);
        cr_assert_eq(mm_avro_encode_score_request(&r, &b, errstr, sizeof(errstr)), MM_OK, "%s",
                     errstr);
        produce(producer, MM_TOPIC_SCORE_REQUESTS, key, &b);
    }
    mm_buf_free(&b);
    cr_assert_eq(mm_kafka_producer_flush(producer, mmt_timeout_ms(30000)), MM_OK);
}

/* How often each request id arrived on mm.predictions. */
static void read_predictions(int *seen) {
    mm_kafka_reader_t *r =
        mm_kafka_reader_new(broker.bootstrap, MM_TOPIC_PREDICTIONS, NULL, errstr, sizeof(errstr));
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
        int i = -1;
        if (rec.request_id && sscanf(rec.request_id, "req-%d", &i) == 1 && i >= 0 && i < TOTAL)
            seen[i]++;
        mm_prediction_batch_clear(&rec);
    }
    mm_kafka_reader_destroy(r);
}

/* What the starts logged of the answers a previous run left in the outbox
 * (outbox_reconciled: rows, already_delivered), summed over the log. */
static void reconciled(int64_t *rows, int64_t *already_delivered, int *starts) {
    *rows = *already_delivered = 0;
    *starts = 0;
    FILE *f = fopen(stream_log, "r");
    if (!f) return;
    static char line[65536];
    while (fgets(line, sizeof(line), f)) {
        if (!strstr(line, "\"outbox_reconciled\"")) continue;
        json_t *event = json_loads(line, 0, NULL);
        cr_assert_not_null(event, "not a JSON log line: %s", line);
        *rows += json_integer_value(json_object_get(event, "rows"));
        *already_delivered += json_integer_value(json_object_get(event, "already_delivered"));
        ++*starts;
        json_decref(event);
    }
    fclose(f);
}

Test(fault_scorer_killed, stream_killed_at_seeded_moments_answers_every_request_once, .init = setup,
     .fini = teardown, .timeout = 600) {
    uint64_t rng = mmt_fault_seed("5-scorer-killed-stream");
    snprintf(stream_state, sizeof(stream_state), "%s/stream-state.db", fx.tmpdir);
    snprintf(stream_sink, sizeof(stream_sink), "%s/stream-sink.db", fx.tmpdir);
    snprintf(stream_log, sizeof(stream_log), "%s/stream.log", fx.tmpdir);
    mm_kafka_producer_t *producer =
        mm_kafka_producer_new(broker.bootstrap, NULL, NULL, NULL, errstr, sizeof(errstr));
    cr_assert_not_null(producer, "%s", errstr);
    int sent = 0;
    pid_t pid = stream_start(NULL);

    /* Killed with SIGKILL after a seeded number of the phase's answers; the last restart
     * arms the named crash point: it fires once the sink committed, the state store not. */
    int64_t crash_hit = mmt_fault_rand(&rng, 1, PHASE / 2);
    char crash_at[64];
    snprintf(crash_at, sizeof(crash_at), CRASH_POINT ":%lld", (long long)crash_hit);
    int64_t killed_at[RANDOM_KILLS], left[RANDOM_KILLS], before_crash = 0;
    for (int k = 0; k < RANDOM_KILLS; k++) {
        int64_t before = answered();
        if (before < 0) before = 0; /* the store is not created yet */
        produce_requests(producer, sent, sent + PHASE);
        sent += PHASE;
        int64_t target = before + mmt_fault_rand(&rng, 1, PHASE - 1);
        killed_at[k] = wait_answered(target);
        kill(pid, SIGKILL);
        cr_assert_eq(mmt_wait(pid, mmt_timeout_ms(10000)), 128 + SIGKILL);
        left[k] = state_query("SELECT COUNT(*) FROM outbox", false);
        before_crash = answered();
        pid = stream_start(k + 1 == RANDOM_KILLS ? crash_at : NULL);
    }
    produce_requests(producer, sent, sent + PHASE);
    sent += PHASE;
    int status = mmt_wait(pid, mmt_timeout_ms(WAIT_MS));
    cr_assert_eq(status, 128 + SIGKILL, "%s did not fire (status %d, see %s)", crash_at, status,
                 stream_log);
    int64_t after_crash = answered();
    cr_expect_eq(after_crash, before_crash + crash_hit - 1,
                 "answers recorded before the crash point: %lld, want %lld",
                 (long long)(after_crash - before_crash), (long long)(crash_hit - 1));
    /* The crashed request's answer is in the sink and not in the state store. */
    int64_t in_sink_only = state_query("SELECT COUNT(*) FROM sink.key_runs WHERE request_id NOT "
                                       "IN (SELECT request_id FROM stream_requests)",
                                       true);
    cr_expect_geq(in_sink_only, 1, "no answer in the sink alone at the crash point");

    /* Restarted: the crashed request and the rest are answered; then a last phase. */
    pid = stream_start(NULL);
    produce_requests(producer, sent, sent + PHASE);
    sent += PHASE;
    cr_assert_eq(sent, TOTAL);
    wait_answered(TOTAL);
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(60000);
    while (state_query("SELECT COUNT(*) FROM outbox", false) != 0 && mm_mono_ms() < deadline)
        mm_sleep_ms(100, NULL);
    cr_expect_eq(state_query("SELECT COUNT(*) FROM outbox", false), 0, "answers not delivered");
    cr_expect_eq(mmt_stop(pid, mmt_timeout_ms(30000)), 0, "SIGTERM: a clean stop (see %s)",
                 stream_log);
    mm_kafka_producer_destroy(producer, 5000);

    /* State store: every request once, answered from its champion. */
    int64_t recorded = state_query("SELECT COUNT(*) FROM stream_requests", false);
    int64_t ok = state_query("SELECT COUNT(*) FROM stream_requests WHERE outcome = 'ok'", false);
    cr_expect_eq(recorded, TOTAL, "request ids recorded: %lld of %d", (long long)recorded, TOTAL);
    cr_expect_eq(ok, TOTAL, "requests answered ok: %lld of %d", (long long)ok, TOTAL);
    /* mm.predictions: none missing, none twice. A kill between the broker's acknowledgement
     * and the outbox row's deletion leaves delivered answers in the outbox: the next start
     * finds them on the topic and deletes them instead of sending them again
     * (services/scorer/stream_outbox.c). */
    static int seen[TOTAL];
    memset(seen, 0, sizeof(seen));
    read_predictions(seen);
    int missing = 0, duplicates = 0;
    for (int i = 0; i < TOTAL; i++) {
        if (seen[i] == 0) missing++;
        if (seen[i] > 1) duplicates += seen[i] - 1;
    }
    cr_expect_eq(missing, 0, "%d request(s) without an answer on mm.predictions", missing);
    cr_expect_eq(duplicates, 0, "%d answer(s) twice on mm.predictions (see %s)", duplicates,
                 stream_log);
    int64_t reconciled_rows = 0, already_delivered = 0;
    int reconciling_starts = 0;
    reconciled(&reconciled_rows, &already_delivered, &reconciling_starts);
    /* Sink: no duplicate row; each key's answer is the last request sent for it, in full. */
    int64_t duplicate_rows = state_query(
        "SELECT COUNT(*) - (SELECT COUNT(*) FROM (SELECT DISTINCT partition_key, entity, "
        "target_time_ms FROM sink.predictions)) FROM sink.predictions",
        true);
    cr_expect_eq(duplicate_rows, 0, "duplicate prediction rows in the sink");
    int64_t keys_latest = 0;
    for (int k = 0; k < KEYS; k++) {
        char key[64], sql[512];
        key_of(k, key, sizeof(key));
        int last = TOTAL - KEYS + k; /* requests cycle through the keys in order */
        snprintf(sql, sizeof(sql),
                 "SELECT COUNT(*) FROM sink.key_runs r JOIN sink.predictions p USING "
                 "(partition_key, entity, request_id) WHERE r.partition_key = '%s' AND "
                 "r.request_id = 'req-%04d' AND r.status = 'ok'",
                 key, last);
        int64_t rows = state_query(sql, true);
        cr_expect_eq(rows, SFX_HORIZON, "%s: %lld rows of its last request req-%04d", key,
                     (long long)rows, last);
        keys_latest += rows == SFX_HORIZON;
    }
    int64_t sink_rows = state_query("SELECT COUNT(*) FROM sink.predictions", true);
    cr_expect_eq(sink_rows, KEYS * SFX_HORIZON, "sink rows");
    fprintf(stderr,
            "fault scenario 5 (stream): %d requests over %d keys; SIGKILL after %lld, %lld and "
            "%lld answers, leaving %lld, %lld and %lld outbox rows; %s fired at hit %lld (sink "
            "committed, %lld answer in the sink only); %d starts found %lld answers in the "
            "outbox, %lld of them already on mm.predictions (deleted, not sent again); "
            "%lld requests recorded once, %lld ok; mm.predictions: %d missing, %d duplicates; "
            "sink: %lld rows, %lld duplicates, %lld of %d keys hold their last request\n",
            TOTAL, KEYS, (long long)killed_at[0], (long long)killed_at[1], (long long)killed_at[2],
            (long long)left[0], (long long)left[1], (long long)left[2], CRASH_POINT,
            (long long)crash_hit, (long long)in_sink_only, reconciling_starts,
            (long long)reconciled_rows, (long long)already_delivered, (long long)recorded,
            (long long)ok, missing, duplicates, (long long)sink_rows, (long long)duplicate_rows,
            (long long)keys_latest, KEYS);
}

/* How many records of mm.predictions carry @p key and the bytes @p value. */
static int topic_count(const char *key, const char *value) {
    mm_kafka_reader_t *r =
        mm_kafka_reader_new(broker.bootstrap, MM_TOPIC_PREDICTIONS, NULL, errstr, sizeof(errstr));
    cr_assert_not_null(r, "%s", errstr);
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(60000);
    int n = 0;
    for (;;) {
        mm_kafka_msg_t msg;
        mm_err_t err = mm_kafka_reader_poll(r, 500, &msg, errstr, sizeof(errstr));
        if (err == MM_ERR_NOT_FOUND) break;
        cr_assert(mm_mono_ms() < deadline, "mm.predictions not read to its end");
        if (err) continue;
        n += msg.key && msg.key_len == strlen(key) && memcmp(msg.key, key, msg.key_len) == 0 &&
             msg.value && msg.value_len == strlen(value) &&
             memcmp(msg.value, value, msg.value_len) == 0;
    }
    mm_kafka_reader_destroy(r);
    return n;
}

/* The reconciliation alone: one answer left in the outbox is on the topic already (its
 * delivery report was never served), the other is not. */
Test(fault_scorer_killed, stream_start_sends_again_only_the_outbox_answers_not_on_the_topic,
     .init = setup, .fini = teardown, .timeout = 300) {
    snprintf(stream_state, sizeof(stream_state), "%s/outbox-state.db", fx.tmpdir);
    snprintf(stream_sink, sizeof(stream_sink), "%s/outbox-sink.db", fx.tmpdir);
    snprintf(stream_log, sizeof(stream_log), "%s/outbox.log", fx.tmpdir);
    /* A first run creates the state store. */
    pid_t pid = stream_start(NULL);
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(WAIT_MS);
    while (answered() < 0 && mm_mono_ms() < deadline) mm_sleep_ms(50, NULL);
    cr_assert_geq(answered(), 0, "no state store (see %s)", stream_log);
    cr_assert_eq(mmt_stop(pid, mmt_timeout_ms(30000)), 0, "SIGTERM (see %s)", stream_log);

    char key[64];
    key_of(0, key, sizeof(key));
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(stream_state, &db), SQLITE_OK);
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "INSERT INTO outbox (topic, key, payload, created_at_ms) VALUES "
             "('%s', '%s', CAST('answer-delivered' AS BLOB), %lld), "
             "('%s', '%s', CAST('answer-pending' AS BLOB), %lld)",
             MM_TOPIC_PREDICTIONS, key, (long long)mm_now_ms(), MM_TOPIC_PREDICTIONS, key,
             (long long)mm_now_ms());
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_close(db);
    mm_kafka_producer_t *producer =
        mm_kafka_producer_new(broker.bootstrap, NULL, NULL, NULL, errstr, sizeof(errstr));
    cr_assert_not_null(producer, "%s", errstr);
    cr_assert_eq(mm_kafka_produce(producer, MM_TOPIC_PREDICTIONS, key, strlen(key),
                                  "answer-delivered", strlen("answer-delivered"), NULL, 10000,
                                  errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_assert_eq(mm_kafka_producer_flush(producer, mmt_timeout_ms(30000)), MM_OK);
    mm_kafka_producer_destroy(producer, 5000);

    pid = stream_start(NULL);
    deadline = mm_mono_ms() + mmt_timeout_ms(WAIT_MS);
    while (state_query("SELECT COUNT(*) FROM outbox", false) != 0 && mm_mono_ms() < deadline)
        mm_sleep_ms(50, NULL);
    cr_expect_eq(state_query("SELECT COUNT(*) FROM outbox", false), 0, "outbox not drained");
    cr_expect_eq(mmt_stop(pid, mmt_timeout_ms(30000)), 0, "SIGTERM (see %s)", stream_log);
    int delivered = topic_count(key, "answer-delivered");
    int pending = topic_count(key, "answer-pending");
    int64_t rows = 0, already = 0;
    int starts = 0;
    reconciled(&rows, &already, &starts);
    fprintf(stderr,
            "fault scenario 5 (stream outbox): the start found %lld answers in the outbox, %lld "
            "already on mm.predictions; on the topic: the delivered answer %d time(s), the "
            "pending one %d time(s)\n",
            (long long)rows, (long long)already, delivered, pending);
    cr_expect_eq(starts, 1, "outbox_reconciled logged by %d starts (see %s)", starts, stream_log);
    cr_expect_eq(rows, 2);
    cr_expect_eq(already, 1);
    cr_expect_eq(delivered, 1, "the delivered answer is on mm.predictions %d times", delivered);
    cr_expect_eq(pending, 1, "the pending answer is on mm.predictions %d times", pending);
}

/* ------------------------------------------------------------------- serve */

#define SERVE_BODY "{\"key\": \"store=1/item=1\", \"horizon\": 3}"

typedef struct answer {
    int64_t model_version;
    char values[1024]; /* the JSON text of values and times */
} answer_t;

/* A forecast reply's body as an answer_t; false when it is not a well-formed forecast. */
static bool parse_answer(const char *reply, answer_t *out) {
    const char *body = strstr(reply, "\r\n\r\n");
    if (!body) return false;
    json_t *doc = json_loads(body + 4, 0, NULL);
    if (!doc) return false;
    json_t *values = json_object_get(doc, "values"), *times = json_object_get(doc, "times");
    json_t *version = json_object_get(doc, "model_version");
    bool ok = json_is_array(values) && json_array_size(values) == SERVE_HORIZON &&
              json_is_array(times) && json_array_size(times) == SERVE_HORIZON &&
              json_is_integer(version);
    if (ok) {
        out->model_version = json_integer_value(version);
        char *v = json_dumps(values, JSON_COMPACT), *t = json_dumps(times, JSON_COMPACT);
        snprintf(out->values, sizeof(out->values), "%s %s", v, t);
        free(v);
        free(t);
    }
    json_decref(doc);
    return ok;
}

/* Whether @p reply holds its whole body (Content-Length); a reply cut by the kill does not. */
static bool complete(const char *reply) {
    const char *body = strstr(reply, "\r\n\r\n");
    const char *length = strcasestr(reply, "\r\nContent-Length:");
    if (!body || !length || length > body) return false;
    return strlen(body + 4) >= strtoul(length + strlen("\r\nContent-Length:"), NULL, 10);
}

typedef struct client {
    mmt_serve_t *serve;
    answer_t reference;
    atomic_bool stop;
    atomic_int ok, refused, cut, not_ready, malformed;
    char first_malformed[512];
} client_t;

static void forecast_request(char *req, size_t size) {
    snprintf(req, size,
             "POST /v1/forecast HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
             "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
             strlen(SERVE_BODY), SERVE_BODY);
}

/* Forecasts without pause; every reply classified. */
static void *client_main(void *opaque) {
    client_t *c = opaque;
    static char reply[REPLY_MAX];
    char req[512];
    forecast_request(req, sizeof(req));
    while (!atomic_load(&c->stop)) {
        int status = mmt_serve_exchange(c->serve, req, reply, sizeof(reply));
        answer_t a;
        if (status == 0 && reply[0] == '\0') {
            atomic_fetch_add(&c->refused, 1); /* down: refused or reset without a byte */
            mm_sleep_ms(5, NULL);
        } else if (!complete(reply) && (status == 0 || status == 200 || status == 503)) {
            atomic_fetch_add(&c->cut, 1); /* the connection died with the process */
        } else if (status == 503 && strstr(reply, "not_ready")) {
            atomic_fetch_add(&c->not_ready, 1); /* starting: catching up on the topics */
            mm_sleep_ms(5, NULL);
        } else if (status == 200 && parse_answer(reply, &a) &&
                   a.model_version == c->reference.model_version &&
                   strcmp(a.values, c->reference.values) == 0) {
            atomic_fetch_add(&c->ok, 1);
        } else {
            if (atomic_fetch_add(&c->malformed, 1) == 0)
                snprintf(c->first_malformed, sizeof(c->first_malformed), "%d: %.400s", status,
                         reply);
        }
    }
    return NULL;
}

Test(fault_scorer_killed, serve_killed_under_requests_comes_back_with_the_same_answers,
     .init = setup, .fini = teardown, .timeout = 600) {
    uint64_t rng = mmt_fault_seed("5-scorer-killed-serve");
    char state[4300], sink[4300], log[4300];
    snprintf(state, sizeof(state), "%s/serve-state.db", fx.tmpdir);
    snprintf(sink, sizeof(sink), "%s/serve-sink.db", fx.tmpdir);
    snprintf(log, sizeof(log), "%s/serve.log", fx.tmpdir);
    mmt_serve_opts_t opts = {.spec_path = spec_path,
                             .bootstrap = broker.bootstrap,
                             .blob_url = fx.blob_url,
                             .state = state,
                             .sink = sink,
                             .log = log};
    mmt_serve_t serve;
    mmt_serve_start(&serve, &opts);
    cr_assert(mmt_serve_wait_ready(&serve, WAIT_MS), "mm-scorer serve never became ready (see %s)",
              log);

    static client_t c;
    memset(&c, 0, sizeof(c));
    c.serve = &serve;
    static char reply[REPLY_MAX];
    char req[512];
    forecast_request(req, sizeof(req));
    int status = mmt_serve_exchange(&serve, req, reply, sizeof(reply));
    cr_assert_eq(status, 200, "the first forecast: %.400s", reply);
    cr_assert(parse_answer(reply, &c.reference), "not a forecast: %.400s", reply);
    cr_assert_eq(c.reference.model_version, 1, "%.400s", reply);

    pthread_t thread;
    cr_assert_eq(pthread_create(&thread, NULL, client_main, &c), 0);
    int64_t ready_ms[SERVE_KILLS], kill_after[SERVE_KILLS];
    for (int k = 0; k < SERVE_KILLS; k++) {
        /* A seeded number of answers after the last restart, then kill -9 mid-stream. */
        kill_after[k] = mmt_fault_rand(&rng, 5, 60);
        int target = atomic_load(&c.ok) + (int)kill_after[k];
        int64_t deadline = mm_mono_ms() + mmt_timeout_ms(WAIT_MS);
        while (atomic_load(&c.ok) < target && mm_mono_ms() < deadline) mm_sleep_ms(1, NULL);
        cr_assert_geq(atomic_load(&c.ok), target, "answers stopped (see %s): %s", log,
                      c.first_malformed);
        kill(serve.pid, SIGKILL);
        cr_assert_eq(mmt_wait(serve.pid, mmt_timeout_ms(10000)), 128 + SIGKILL);
        int64_t killed = mm_mono_ms();
        mmt_serve_restart(&serve);
        cr_assert(mmt_serve_wait_ready(&serve, WAIT_MS),
                  "mm-scorer serve not ready after kill %d (see %s)", k + 1, log);
        ready_ms[k] = mm_mono_ms() - killed;
        answer_t after;
        status = mmt_serve_exchange(&serve, req, reply, sizeof(reply));
        cr_assert_eq(status, 200, "after kill %d: %.400s", k + 1, reply);
        cr_assert(parse_answer(reply, &after), "after kill %d: %.400s", k + 1, reply);
        cr_expect_eq(after.model_version, c.reference.model_version, "after kill %d", k + 1);
        cr_expect_str_eq(after.values, c.reference.values, "after kill %d", k + 1);
    }
    /* A few more answers after the last restart, then the client stops. */
    int target = atomic_load(&c.ok) + 20;
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(WAIT_MS);
    while (atomic_load(&c.ok) < target && mm_mono_ms() < deadline) mm_sleep_ms(1, NULL);
    atomic_store(&c.stop, true);
    pthread_join(thread, NULL);

    cr_expect_eq(atomic_load(&c.malformed), 0, "%d malformed or wrong answers; the first: %s",
                 atomic_load(&c.malformed), c.first_malformed);
    cr_expect_geq(atomic_load(&c.ok), target, "answers after the last restart");
    fprintf(stderr,
            "fault scenario 5 (serve): %d kills after %lld, %lld and %lld answers; ready again "
            "%lld, %lld and %lld ms after each kill; %d answers equal to the first (model "
            "version %lld), %d refused connections, %d cut by a kill, %d not_ready, %d "
            "malformed\n",
            SERVE_KILLS, (long long)kill_after[0], (long long)kill_after[1],
            (long long)kill_after[2], (long long)ready_ms[0], (long long)ready_ms[1],
            (long long)ready_ms[2], atomic_load(&c.ok), (long long)c.reference.model_version,
            atomic_load(&c.refused), atomic_load(&c.cut), atomic_load(&c.not_ready),
            atomic_load(&c.malformed));
    cr_expect_eq(mmt_serve_stop(&serve, 30000), 0, "SIGTERM: a clean stop (see %s)", log);
    mmt_serve_destroy(&serve);
}
