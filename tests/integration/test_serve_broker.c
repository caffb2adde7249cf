/*
 * test_serve_broker.c - the mm-scorer binary in serve mode against
 * mm-devbroker: ready once mm.decisions and mm.observations are read to
 * their end, answers a key from its champion, follows a new decision (the
 * next answers come from the new version) and new observations (the data
 * watermark moves), dead-letters an undecodable decision and goes on, and
 * on SIGTERM finishes and exits 0.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <jansson.h>

#include "broker.h"
#include "mm/avro.h"
#include "mm/clock.h"
#include "mm/kafka.h"
#include "serve_process.h"
#include "support.h"
#include "test_serve_fixture.h"

#define WAIT_MS 90000

static sfx_t fx;
static mmt_broker_t broker;
static mm_kafka_producer_t *producer;
static int port;
static char errstr[1024];

typedef struct reply {
    long status;
    char body[16384];
    size_t len;
} reply_t;

static size_t on_body(char *p, size_t size, size_t n, void *opaque) {
    reply_t *r = opaque;
    size_t len = size * n, room = sizeof(r->body) - 1 - r->len;
    memcpy(r->body + r->len, p, len < room ? len : room);
    r->len += len < room ? len : room;
    r->body[r->len] = '\0';
    return len;
}

static reply_t fetch(const char *path, const char *body) {
    reply_t r = {0};
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body) curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_cleanup(c);
    return r;
}

static void produce(const char *topic, const char *key, const mm_buf_t *payload) {
    cr_assert_eq(mm_kafka_produce(producer, topic, key, strlen(key), payload->data, payload->len,
                                  NULL, 10000, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_assert_eq(mm_kafka_producer_flush(producer, 30000), MM_OK);
}

static void produce_decision(mm_model_decision_t *d) {
    mm_buf_t b;
    mm_buf_init(&b, 0);
    cr_assert_eq(mm_avro_encode_model_decision(d, &b, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    produce(MM_TOPIC_DECISIONS, d->partition_key, &b);
    mm_buf_free(&b);
    mm_model_decision_clear(d);
}

/* Days [from, to) of the key's observations. */
static void produce_observations(const char *key, int from, int to) {
    mm_buf_t b;
    mm_buf_init(&b, 0);
    sfx_encode_observations(&fx, key, from, to, "load-2", &b);
    produce(MM_TOPIC_OBSERVATIONS, key, &b);
    mm_buf_free(&b);
}

/* Poll @p path until @p pred holds on the reply (bounded). */
static reply_t poll_until(const char *path, const char *body, bool (*pred)(const reply_t *)) {
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(WAIT_MS);
    reply_t r;
    do {
        r = fetch(path, body);
        if (pred(&r)) break;
        mm_sleep_ms(100, NULL);
    } while (mm_mono_ms() < deadline);
    return r;
}

static bool is_200(const reply_t *r) {
    return r->status == 200;
}

static bool version_2(const reply_t *r) {
    return r->status == 200 && strstr(r->body, "\"model_version\":2");
}

static bool watermark_moved(const reply_t *r) {
    char day[40], want[64];
    sfx_day_iso(SFX_DAYS + 9, day, sizeof(day));
    snprintf(want, sizeof(want), "\"data_watermark\":\"%s\"", day);
    return r->status == 200 && strstr(r->body, want);
}

Test(serve_broker, follows_decisions_and_scoring_data_and_stops_cleanly, .timeout = 600) {
    sfx_init(&fx, NULL);
    mmt_broker_start(&broker, 2);
    cr_assert_eq(mm_avro_init(errstr, sizeof(errstr)), MM_OK);
    producer = mm_kafka_producer_new(broker.bootstrap, NULL, NULL, NULL, errstr, sizeof(errstr));
    cr_assert_not_null(producer, "%s", errstr);

    produce_observations(SFX_KEY, 0, SFX_DAYS);
    mm_model_decision_t v1 = sfx_train_decision(&fx, SFX_KEY, 100, 2.0, 1);
    produce_decision(&v1);
    mm_buf_t junk;
    mm_buf_init(&junk, 0);
    mm_buf_append_str(&junk, "not avro");
    produce(MM_TOPIC_DECISIONS, "store=5/item=5", &junk);
    mm_buf_free(&junk);

    char spec_path[4300], state[4300], sink[4300], spec_text[4096], log[4300];
    snprintf(spec_path, sizeof(spec_path), "%s/spec.json", fx.tmpdir);
    snprintf(state, sizeof(state), "%s/serve-state.db", fx.tmpdir);
    snprintf(sink, sizeof(sink), "%s/serve-sink.db", fx.tmpdir);
    snprintf(log, sizeof(log), "%s/serve.log", fx.tmpdir);
    sfx_spec_text(spec_text, sizeof(spec_text), NULL);
    cr_assert(mmt_write_file(spec_path, spec_text));
    mmt_serve_opts_t serve_opts = {.spec_path = spec_path,
                                   .bootstrap = broker.bootstrap,
                                   .blob_url = fx.blob_url,
                                   .state = state,
                                   .sink = sink,
                                   .log = log};
    mmt_serve_t serve;
    mmt_serve_start(&serve, &serve_opts);
    port = serve.port;

    reply_t r = poll_until("/readyz", NULL, is_200);
    cr_assert_eq(r.status, 200, "ready once both topics are read (see %s): %s", log, r.body);
    r = fetch("/v1/forecast", "{\"key\": \"" SFX_KEY "\"}");
    cr_expect_eq(r.status, 200, "%s", r.body);
    cr_expect(strstr(r.body, "\"model_version\":1"), "%s", r.body);

    mm_model_decision_t v2 = sfx_train_decision(&fx, SFX_KEY, 90, 2.5, 2);
    produce_decision(&v2);
    r = poll_until("/v1/forecast", "{\"key\": \"" SFX_KEY "\"}", version_2);
    cr_expect(version_2(&r), "the new decision is served: %s", r.body);

    produce_observations(SFX_KEY, SFX_DAYS, SFX_DAYS + 10);
    r = poll_until("/v1/forecast", "{\"key\": \"" SFX_KEY "\"}", watermark_moved);
    cr_expect(watermark_moved(&r), "the new observations are used: %s", r.body);

    r = fetch("/metrics", NULL);
    cr_expect(strstr(r.body, "mm_scorer_decisions_applied_total 2"), "%s", r.body);
    cr_expect(strstr(r.body, "mm_scorer_decisions_dead_lettered_total 1"), "%s", r.body);

    int status = mmt_serve_stop(&serve, 30000);
    cr_expect_eq(status, 0, "SIGTERM: a clean stop (see %s)", log);
    mmt_serve_destroy(&serve);
    mm_kafka_producer_destroy(producer, 5000);
    mmt_broker_stop(&broker);
    sfx_fini(&fx);
}
