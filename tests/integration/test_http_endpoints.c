/*
 * test_http_endpoints.c - a service started with --http-addr serves
 * /healthz, /readyz and /metrics (docs/operations.md): mm-trainer against
 * mm-devbroker, its readiness following what is true of it.
 *
 * The transition is made deterministic rather than timed: the topic has one
 * partition and the test itself holds it in the trainer's consumer group
 * before the trainer starts, so the trainer joins with nothing assigned
 * (not ready, and /metrics says 0 partitions); when the test leaves the
 * group, the partition moves to the trainer (ready, 1 partition). SIGTERM
 * then stops it cleanly.
 *
 * mm-promoter likewise, with a backlog: ModelTrained records already on
 * mm.models when it starts. The test holds the partition first (not ready:
 * none assigned), then the registry's write lock, so that once the partition
 * moves the promoter has read its end but can handle nothing (not ready,
 * "catching up on mm.models: lag N"); released, it handles the backlog and
 * is ready - and whenever /readyz answers 200, the registry already holds
 * every one of the N decisions.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <curl/curl.h>

#include "broker.h"
#include "mm/avro.h"
#include "mm/buf.h"
#include "mm/db.h"
#include "mm/exit.h"
#include "mm/fs.h"
#include "mm/kafka.h"
#include "mm/registry.h"
#include "mm/spec.h"
#include "mm/util.h"
#include "support.h"

#define SPEC_PATH      MM_FIXTURES_DIR "/specs/valid/forecast_minimal.json"
#define WAIT_MS        60000
#define STOP_GRACE_MS  30000
#define HTTP_TIMEOUT_S 10

typedef struct answer {
    long status;
    char body[65536];
    size_t len;
    char content_type[128];
} answer_t;

static size_t on_body(char *data, size_t size, size_t n, void *opaque) {
    answer_t *a = opaque;
    size_t bytes = size * n;
    size_t room = sizeof(a->body) - 1 - a->len;
    size_t take = bytes < room ? bytes : room;
    memcpy(a->body + a->len, data, take);
    a->len += take;
    a->body[a->len] = '\0';
    return bytes;
}

static void get(int port, const char *path, answer_t *a) {
    memset(a, 0, sizeof(*a));
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    CURL *curl = curl_easy_init();
    cr_assert(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long)HTTP_TIMEOUT_S);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(curl);
    cr_assert_eq(rc, CURLE_OK, "GET %s: %s", url, curl_easy_strerror(rc));
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &a->status);
    char *type = NULL;
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
    if (type) snprintf(a->content_type, sizeof(a->content_type), "%s", type);
    curl_easy_cleanup(curl);
}

/* The port the service logged in its http_listening event ("... (port N)"). */
static int wait_listening_port(const char *log_path) {
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(WAIT_MS);
    while (mm_mono_ms() < deadline) {
        mm_buf_t text;
        mm_buf_init(&text, 16 * 1024 * 1024);
        char why[256];
        if (mm_file_read(log_path, &text, why, sizeof(why)) == MM_OK && text.len > 0) {
            mm_buf_append(&text, "", 1);
            const char *event = strstr((const char *)text.data, "\"event\":\"http_listening\"");
            const char *port = event ? strstr((const char *)text.data, "(port ") : NULL;
            int value = port ? atoi(port + 6) : 0;
            mm_buf_free(&text);
            if (value > 0) return value;
        } else {
            mm_buf_free(&text);
        }
        mm_sleep_ms(100, NULL);
    }
    cr_assert_fail("the service logged no http_listening event (see %s)", log_path);
    return -1;
}

/* GET /readyz until it answers @p status (the service's state changes under it); fail after the
 * (scaled) wait. */
static void wait_ready_status(int port, long status, answer_t *a, mm_kafka_consumer_t *hold) {
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(WAIT_MS);
    for (;;) {
        get(port, "/readyz", a);
        if (a->status == status) return;
        cr_assert_lt(mm_mono_ms(), deadline, "/readyz stayed %ld (%s), expected %ld", a->status,
                     a->body, status);
        if (hold) {
            /* Keep the test's member alive in the group while waiting. */
            mm_kafka_msg_t msg;
            char errstr[256];
            mm_kafka_consumer_poll(hold, 200, &msg, errstr, sizeof(errstr));
        } else {
            mm_sleep_ms(200, NULL);
        }
    }
}

static bool has_partition;

static int64_t hold_assign(void *opaque, const char *topic, int32_t partition) {
    (void)opaque;
    (void)topic;
    (void)partition;
    has_partition = true;
    return MM_OFFSET_BEGINNING;
}

static void hold_revoke(void *opaque, const char *topic, int32_t partition, bool lost) {
    (void)opaque;
    (void)topic;
    (void)partition;
    (void)lost;
    has_partition = false;
}

/* A member of @p group on @p topic (one partition) of the test's own, holding that partition. */
static mm_kafka_consumer_t *hold_only_partition(const char *bootstrap, const char *group,
                                                const char *topic) {
    mm_kv_t items[] = {{"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "500"}};
    mm_kv_list_t props = {items, MM_ARRAY_SIZE(items)};
    mm_kafka_rebalance_cbs_t cbs = {.on_assign = hold_assign, .on_revoke = hold_revoke};
    const char *topics[] = {topic};
    char errstr[512] = "";
    has_partition = false;
    mm_kafka_consumer_t *hold =
        mm_kafka_consumer_new(bootstrap, group, topics, 1, &props, &cbs, errstr, sizeof(errstr));
    cr_assert(hold, "%s", errstr);
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(WAIT_MS);
    while (!has_partition) {
        cr_assert_lt(mm_mono_ms(), deadline, "the test's member got no partition");
        mm_kafka_msg_t msg;
        mm_kafka_consumer_poll(hold, 200, &msg, errstr, sizeof(errstr));
    }
    return hold;
}

Test(http_endpoints, trainer_is_live_at_once_ready_only_with_a_partition_and_exposes_metrics) {
    mmt_broker_t broker;
    mmt_broker_start(&broker, 1);
    char *dir = mmt_tmpdir("http-endpoints");
    cr_assert(dir);
    char state[4200], blob[4200], log_path[4200];
    snprintf(state, sizeof(state), "%s/trainer.db", dir);
    snprintf(blob, sizeof(blob), "file://%s/blob", dir);
    snprintf(log_path, sizeof(log_path), "%s/trainer.log", dir);

    /* The test takes the only partition in the trainer's group first. */
    mm_kafka_consumer_t *hold =
        hold_only_partition(broker.bootstrap, "mm-trainer", MM_TOPIC_OBSERVATIONS);

    char *bin = mmt_binary("mm-trainer");
    cr_assert(bin, "mm-trainer is not built");
    char *argv[] = {bin,
                    "--spec",
                    SPEC_PATH,
                    "--bootstrap-servers",
                    broker.bootstrap,
                    "--blob-url",
                    blob,
                    "--state",
                    state,
                    "--http-addr",
                    "127.0.0.1:0",
                    "--workers",
                    "1",
                    "-X",
                    "session.timeout.ms=6000",
                    NULL};
    pid_t trainer = mmt_spawn(argv, NULL, log_path);
    cr_assert_gt(trainer, 0);
    int port = wait_listening_port(log_path);

    answer_t a;
    get(port, "/healthz", &a);
    cr_expect_eq(a.status, 200, "/healthz: %ld %s", a.status, a.body);
    cr_expect(strncmp(a.body, "ok", 2) == 0, "%s", a.body);

    /* Joined, but the partition stays with the test's member: live, not ready. */
    wait_ready_status(port, 503, &a, hold);
    cr_expect(strstr(a.body, "no partitions of mm.observations assigned") != NULL, "%s", a.body);
    get(port, "/metrics", &a);
    cr_expect_eq(a.status, 200);
    cr_expect(strstr(a.content_type, "text/plain") && strstr(a.content_type, "version=0.0.4"),
              "content type %s", a.content_type);
    cr_expect(strstr(a.body, "\nmm_trainer_assigned_partitions 0\n") != NULL, "%s", a.body);
    cr_expect(strstr(a.body, "# TYPE mm_trainer_training_seconds histogram") != NULL, "%s", a.body);
    cr_expect(strstr(a.body, "# TYPE mm_trainer_rows_consumed_total counter") != NULL, "%s",
              a.body);
    cr_expect(strstr(a.body, "mm_metrics_series_dropped_total 0") != NULL, "%s", a.body);
    cr_expect(strstr(a.body, "store=") == NULL, "no per-key label");
    get(port, "/no-such-path", &a);
    cr_expect_eq(a.status, 404);

    /* The test leaves the group: the partition moves to the trainer, which becomes ready. */
    mm_kafka_consumer_close(hold);
    wait_ready_status(port, 200, &a, NULL);
    cr_expect(strncmp(a.body, "ready", 5) == 0, "%s", a.body);
    /* Metrics are published every 100 ms: wait for the gauge, not for a time. */
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(WAIT_MS);
    for (;;) {
        get(port, "/metrics", &a);
        if (strstr(a.body, "\nmm_trainer_assigned_partitions 1\n")) break;
        cr_assert_lt(mm_mono_ms(), deadline, "the gauge never said 1: %s", a.body);
        mm_sleep_ms(100, NULL);
    }
    get(port, "/healthz", &a);
    cr_expect_eq(a.status, 200);

    /* SIGTERM: a clean stop, exit 0 by the convention, and the port is closed. */
    int status = mmt_stop(trainer, mmt_timeout_ms(STOP_GRACE_MS));
    cr_expect_eq(status, MM_EXIT_OK, "mm-trainer exited %d (see %s)", status, log_path);
    free(bin);
    mmt_broker_stop(&broker);
    if (status == MM_EXIT_OK) mmt_rmtree(dir);
    free(dir);
}

#define BACKLOG 20 /* ModelTrained records on mm.models before the promoter starts */

/* Publish @p n ModelTrained records for @p spec's dataset, each judged "rejected" (NaN metric):
 * a decision and a version row each, and no artifact needed. */
static void publish_trained(const char *bootstrap, const mm_spec_t *spec, int n) {
    char errstr[512] = "";
    mm_kafka_producer_t *producer =
        mm_kafka_producer_new(bootstrap, NULL, NULL, NULL, errstr, sizeof(errstr));
    cr_assert(producer, "%s", errstr);
    for (int i = 0; i < n; i++) {
        char train_id[64], key[64], uri[256], sha[65];
        snprintf(train_id, sizeof(train_id), "train-backlog-%d", i);
        snprintf(key, sizeof(key), "store=%d/item=1", i);
        snprintf(sha, sizeof(sha), "%064d", i + 1);
        snprintf(uri, sizeof(uri), "candidates/%s/%s/%s.mm", spec->name, key, sha);
        mm_metric_t metrics[] = {{.name = "mase", .value = NAN}, {.name = "rmse", .value = NAN}};
        mm_model_trained_t rec = {.train_id = train_id,
                                  .dataset = spec->name,
                                  .spec_hash = spec->hash,
                                  .partition_key = key,
                                  .algorithm = "ets",
                                  .artifact_uri = uri,
                                  .artifact_sha256 = sha,
                                  .artifact_size = 10,
                                  .artifact_format = 1,
                                  .n_metrics = 2,
                                  .metrics = metrics,
                                  .data_start_ms = 1700000000000,
                                  .data_end_ms = 1710000000000,
                                  .n_rows = 365,
                                  .data_digest = "digest",
                                  .load_id = "load-1",
                                  .trained_at_ms = 1710000001000,
                                  .trainer = "test"};
        mm_buf_t value;
        mm_buf_init(&value, 0);
        cr_assert_eq(mm_avro_encode_model_trained(&rec, &value, errstr, sizeof(errstr)), MM_OK,
                     "%s", errstr);
        cr_assert_eq(mm_kafka_produce(producer, MM_TOPIC_MODELS, key, strlen(key), value.data,
                                      value.len, NULL, 10000, errstr, sizeof(errstr)),
                     MM_OK, "%s", errstr);
        mm_buf_free(&value);
    }
    cr_assert_eq(mm_kafka_producer_flush(producer, 30000), MM_OK, "the backlog was not delivered");
    mm_kafka_producer_destroy(producer, 0);
}

static int64_t versions(mm_db_t *registry) {
    int64_t n = -1;
    char errstr[512] = "";
    cr_assert_eq(mm_db_query_i64(registry, "SELECT count(*) FROM versions", &n, NULL, errstr,
                                 sizeof(errstr)),
                 MM_OK, "%s", errstr);
    return n;
}

/* GET /readyz until its body holds @p text (keeping @p hold, if any, in the group). */
static void wait_ready_body(int port, const char *text, answer_t *a, mm_kafka_consumer_t *hold) {
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(WAIT_MS);
    for (;;) {
        get(port, "/readyz", a);
        if (strstr(a->body, text)) return;
        cr_assert_neq(a->status, 200, "/readyz was ready before \"%s\": %s", text, a->body);
        cr_assert_lt(mm_mono_ms(), deadline, "/readyz never said \"%s\" (last %ld %s)", text,
                     a->status, a->body);
        if (hold) {
            mm_kafka_msg_t msg;
            char errstr[256];
            mm_kafka_consumer_poll(hold, 200, &msg, errstr, sizeof(errstr));
        } else {
            mm_sleep_ms(100, NULL);
        }
    }
}

Test(http_endpoints, promoter_is_ready_only_once_caught_up_on_the_backlog_of_mm_models) {
    mmt_broker_t broker;
    mmt_broker_start(&broker, 1);
    char *dir = mmt_tmpdir("http-endpoints-promoter");
    cr_assert(dir);
    char registry_path[4200], blob[4200], log_path[4200];
    snprintf(registry_path, sizeof(registry_path), "%s/registry.db", dir);
    snprintf(blob, sizeof(blob), "file://%s/blob", dir);
    snprintf(log_path, sizeof(log_path), "%s/promoter.log", dir);
    char errstr[512] = "";
    mm_spec_t spec;
    memset(&spec, 0, sizeof(spec));
    cr_assert_eq(mm_spec_load_file(SPEC_PATH, &spec, errstr, sizeof(errstr)), MM_OK, "%s", errstr);

    publish_trained(broker.bootstrap, &spec, BACKLOG);

    /* The test takes the only partition in the promoter's group first. */
    mm_kafka_consumer_t *hold =
        hold_only_partition(broker.bootstrap, "mm-promoter", MM_TOPIC_MODELS);

    char *bin = mmt_binary("mm-promoter");
    cr_assert(bin, "mm-promoter is not built");
    char *argv[] = {bin,
                    "--spec",
                    SPEC_PATH,
                    "--bootstrap-servers",
                    broker.bootstrap,
                    "--blob-url",
                    blob,
                    "--registry",
                    registry_path,
                    "--http-addr",
                    "127.0.0.1:0",
                    "-X",
                    "session.timeout.ms=6000",
                    NULL};
    pid_t promoter = mmt_spawn(argv, NULL, log_path);
    cr_assert_gt(promoter, 0);
    int port = wait_listening_port(log_path);

    answer_t a;
    get(port, "/healthz", &a);
    cr_expect_eq(a.status, 200, "/healthz: %ld %s", a.status, a.body);

    /* The registry is open (it listens only after), but nothing of mm.models is assigned. */
    wait_ready_body(port, "no partitions of mm.models assigned", &a, hold);
    cr_expect_eq(a.status, 503);

    /* Hold the registry's write lock: the promoter can read the end of its partition but not
     * record a decision. */
    mm_db_t *registry = mm_registry_open(registry_path, errstr, sizeof(errstr));
    cr_assert(registry, "%s", errstr);
    cr_assert_eq(mm_db_begin(registry, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    mm_kafka_consumer_close(hold);
    char lag[64];
    snprintf(lag, sizeof(lag), "catching up on mm.models: lag %d", BACKLOG);
    wait_ready_body(port, lag, &a, NULL);
    cr_expect_eq(a.status, 503);
    mm_db_rollback(registry);

    /* Released: ready once every decision is in the registry, never before. */
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(WAIT_MS);
    for (;;) {
        get(port, "/readyz", &a);
        if (a.status == 200) break;
        cr_assert_eq(a.status, 503, "%s", a.body);
        cr_assert(strstr(a.body, "catching up on mm.models: lag "), "%s", a.body);
        cr_assert_lt(mm_mono_ms(), deadline, "/readyz stayed %ld (%s)", a.status, a.body);
        mm_sleep_ms(20, NULL);
    }
    cr_expect_eq(versions(registry), BACKLOG, "ready before the backlog was handled");
    cr_expect(strncmp(a.body, "ready", 5) == 0, "%s", a.body);

    /* The consumer lag gauge, per partition as the trainer's, reaches 0. */
    deadline = mm_mono_ms() + mmt_timeout_ms(WAIT_MS);
    for (;;) {
        get(port, "/metrics", &a);
        if (strstr(a.body, "\nmm_promoter_consumer_lag_messages{topic=\"mm.models\","
                           "partition=\"0\"} 0\n"))
            break;
        cr_assert_lt(mm_mono_ms(), deadline, "the lag gauge never said 0: %s", a.body);
        mm_sleep_ms(100, NULL);
    }
    cr_expect(strstr(a.body, "store=") == NULL, "no per-key label");
    mm_db_close(registry);

    int status = mmt_stop(promoter, mmt_timeout_ms(STOP_GRACE_MS));
    cr_expect_eq(status, MM_EXIT_OK, "mm-promoter exited %d (see %s)", status, log_path);
    free(bin);
    mm_spec_clear(&spec);
    mmt_broker_stop(&broker);
    if (status == MM_EXIT_OK) mmt_rmtree(dir);
    free(dir);
}
