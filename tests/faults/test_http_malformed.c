/*
 * test_http_malformed.c - scenario 18, malformed HTTP: the real mm-scorer
 * binary in serve mode (on mm-devbroker, with bearer tokens) receives over
 * raw TCP sockets truncated requests, bytes that are not HTTP, oversized
 * headers and bodies, a huge Content-Length, invalid UTF-8 and JSON,
 * missing and wrong tokens, slowloris connections and many connections at
 * once. Each gets the documented 4xx or is closed, never a 2xx or 5xx; the
 * stalled connections are closed by the server; meanwhile and afterwards a
 * valid request is answered from the champion, /healthz is 200, no log line
 * carries the token, and SIGTERM stops the server with exit status 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "broker.h"
#include "mm/avro.h"
#include "mm/clock.h"
#include "mm/kafka.h"
#include "serve_process.h"
#include "support.h"
#include "test_serve_fixture.h"

#define WAIT_MS      90000
#define TOKEN        "scenario18-token-0123456789abcdef"
#define MAX_BODY     65536
#define MAX_CONNS    64
#define IDLE_S       2
#define REPLY_MAX    65536
#define N_SLOW       16
#define N_CONCURRENT 40
#define N_OVER_LIMIT (MAX_CONNS + 40)
#define VALID_BODY   "{\"key\": \"" SFX_KEY "\", \"horizon\": 3}"
#define VALID_REQUEST                                                                              \
    "POST /v1/forecast HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"                               \
    "Authorization: Bearer " TOKEN "\r\nContent-Type: application/json\r\n"

static sfx_t fx;
static mmt_broker_t broker;
static int port;
static char errstr[1024];

static int connect_server(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    int64_t ms = mmt_timeout_ms(20000);
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "connect: %s",
                 strerror(errno));
    return fd;
}

/* Send what can be sent (the server may answer and close early). */
static void send_all(int fd, const void *bytes, size_t len) {
    size_t sent = 0;
    while (sent < len) {
        ssize_t n = send(fd, (const char *)bytes + sent, len - sent, MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += (size_t)n;
    }
}

/* Read until the server closes (or resets); @returns the bytes read, NUL-terminated. */
static size_t recv_all(int fd, char *reply, size_t size) {
    size_t got = 0;
    while (got + 1 < size) {
        ssize_t n = recv(fd, reply + got, size - 1 - got, 0);
        if (n <= 0) break;
        got += (size_t)n;
    }
    reply[got] = '\0';
    return got;
}

/* One exchange on a new connection; @p half_close: shut the sending side after. */
static int exchange(const void *bytes, size_t len, bool half_close, char *reply, size_t size) {
    int fd = connect_server();
    send_all(fd, bytes, len);
    if (half_close) shutdown(fd, SHUT_WR);
    recv_all(fd, reply, size);
    close(fd);
    int status = 0;
    if (strncmp(reply, "HTTP/1.", 7) == 0 && strlen(reply) >= 12) status = atoi(reply + 9);
    return status;
}

static int exchange_str(const char *text, bool half_close, char *reply, size_t size) {
    return exchange(text, strlen(text), half_close, reply, size);
}

/* A JSON request with @p auth (a full header line or "") and @p body. */
static int post_json(const char *auth, const char *body, char *reply, size_t size) {
    mm_buf_t req;
    mm_buf_init(&req, 0);
    mm_buf_appendf(&req,
                   "POST /v1/forecast HTTP/1.1\r\nHost: t\r\nConnection: close\r\n%s"
                   "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                   auth, strlen(body), body);
    int status = exchange(req.data, req.len, false, reply, size);
    mm_buf_free(&req);
    return status;
}

/* The valid request: 200 from the champion (version 1), three steps. */
static void expect_valid_answer(const char *when) {
    static char reply[REPLY_MAX];
    char req[512];
    snprintf(req, sizeof(req), VALID_REQUEST "Content-Length: %zu\r\n\r\n" VALID_BODY,
             strlen(VALID_BODY));
    int status = exchange_str(req, false, reply, sizeof(reply));
    cr_expect_eq(status, 200, "%s: the valid request: %.300s", when, reply);
    cr_expect(strstr(reply, "\"model_version\":1"), "%s: %.300s", when, reply);
    cr_expect(strstr(reply, "\"key\":\"" SFX_KEY "\""), "%s: %.300s", when, reply);
}

static void expect_healthz(const char *when) {
    static char reply[REPLY_MAX];
    int status = exchange_str("GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                              false, reply, sizeof(reply));
    cr_expect_eq(status, 200, "%s: /healthz: %.200s", when, reply);
}

/* No answer, or a 4xx (or @p also): never a success nor a server error. */
static void expect_refused(const char *what, int status, int also, const char *reply) {
    cr_expect(status == 0 || (status >= 400 && status < 500) || (also && status == also),
              "%s: answered %d: %.200s", what, status, reply);
    const char *eol = status ? strstr(reply, "\r\n") : NULL;
    printf("scenario 18: %-40s -> %.*s\n", what, eol ? (int)(eol - reply) : 26,
           eol ? reply : "closed without an answer");
}

static void produce(mm_kafka_producer_t *producer, const char *topic, const char *key,
                    const mm_buf_t *payload) {
    cr_assert_eq(mm_kafka_produce(producer, topic, key, strlen(key), payload->data, payload->len,
                                  NULL, 10000, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_assert_eq(mm_kafka_producer_flush(producer, 30000), MM_OK);
}

/* The key's observations (days 0 .. SFX_DAYS-1) and its champion's decision. */
static void produce_inputs(void) {
    cr_assert_eq(mm_avro_init(errstr, sizeof(errstr)), MM_OK);
    mm_kafka_producer_t *producer =
        mm_kafka_producer_new(broker.bootstrap, NULL, NULL, NULL, errstr, sizeof(errstr));
    cr_assert_not_null(producer, "%s", errstr);
    mm_buf_t b;
    mm_buf_init(&b, 0);
    sfx_encode_observations(&fx, SFX_KEY, 0, SFX_DAYS, "load-1", &b);
    produce(producer, MM_TOPIC_OBSERVATIONS, SFX_KEY, &b);
    mm_buf_reset(&b);
    mm_model_decision_t d = sfx_train_decision(&fx, SFX_KEY, 100, 2.0, 1);
    cr_assert_eq(mm_avro_encode_model_decision(&d, &b, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    produce(producer, MM_TOPIC_DECISIONS, SFX_KEY, &b);
    mm_model_decision_clear(&d);
    mm_buf_free(&b);
    mm_kafka_producer_destroy(producer, 5000);
}

/* Bytes that are not a usable request, each on its own connection. */
static void malformed_requests(void) {
    static char reply[REPLY_MAX];
    static const struct {
        const char *what;
        const char *bytes;
        size_t len;
        bool half_close;
        int also; /* a status allowed besides 4xx */
    } cases[] = {
#define CASE(what, s, half) {what, s, sizeof(s) - 1, half, 0}
        CASE("truncated request line", "POST /v1/fore", true),
        CASE("truncated headers", "POST /v1/forecast HTTP/1.1\r\nHost: t\r\nContent-Ty", true),
        CASE("truncated body",
             "POST /v1/forecast HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " TOKEN
             "\r\nContent-Length: 100\r\n\r\n{\"key\": \"st",
             true),
        CASE("garbage bytes", "\x00\x01\x02\xff\xfe\x80garbage\r\n\r\n", false),
        CASE("TLS hello on plain HTTP", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
             true),
        /* 505 HTTP Version Not Supported is the protocol's answer (RFC 9110, 15.6.6). */
        {"unknown HTTP version", "GET /healthz HTTP/9.9\r\nHost: t\r\n\r\n",
         sizeof("GET /healthz HTTP/9.9\r\nHost: t\r\n\r\n") - 1, false, 505},
        CASE("header without a colon",
             "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\nNo colon here\r\n\r\n",
             false),
        CASE("negative Content-Length",
             "POST /v1/forecast HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: "
             "Bearer " TOKEN "\r\nContent-Length: -5\r\n\r\n",
             false),
        CASE("huge Content-Length",
             "POST /v1/forecast HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: "
             "Bearer " TOKEN "\r\nContent-Length: 99999999999999999999\r\n\r\n",
             false),
        CASE("bad chunk size",
             "POST /v1/forecast HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: "
             "Bearer " TOKEN "\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
             false),
#undef CASE
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int status =
            exchange(cases[i].bytes, cases[i].len, cases[i].half_close, reply, sizeof(reply));
        expect_refused(cases[i].what, status, cases[i].also, reply);
    }
}

static void oversized_requests(void) {
    static char reply[REPLY_MAX];
    /* A header block well past --serve-max-header (16 KiB). */
    mm_buf_t big;
    mm_buf_init(&big, 0);
    mm_buf_append_str(&big, "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-Big: ");
    for (int i = 0; i < 256 * 1024; i++) mm_buf_append_str(&big, "z");
    mm_buf_append_str(&big, "\r\n\r\n");
    int status = exchange(big.data, big.len, false, reply, sizeof(reply));
    expect_refused("oversized header", status, 0, reply);
    cr_expect_eq(status, 431, "an oversized header block: %.200s", reply);
    mm_buf_free(&big);

    /* A declared body past --serve-max-body: 413 from the headers alone. */
    char req[512];
    snprintf(req, sizeof(req), VALID_REQUEST "Content-Length: %d\r\n\r\n", 50 * MAX_BODY);
    status = exchange_str(req, false, reply, sizeof(reply));
    cr_expect_eq(status, 413, "declared body over the limit: %.200s", reply);
    cr_expect(strstr(reply, "payload_too_large") || strstr(reply, "too large"), "%.300s", reply);
    printf("scenario 18: %-40s -> %d\n", "declared oversized body", status);

    /* A chunked body past the limit: read and dropped, then 413. */
    mm_buf_init(&big, 0);
    mm_buf_append_str(&big,
                      "POST /v1/forecast HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                      "Authorization: Bearer " TOKEN "\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 4 * MAX_BODY / 4096; i++) {
        mm_buf_appendf(&big, "%x\r\n", 4096);
        for (int j = 0; j < 4096; j++) mm_buf_append_str(&big, "[");
        mm_buf_append_str(&big, "\r\n");
    }
    mm_buf_append_str(&big, "0\r\n\r\n");
    status = exchange(big.data, big.len, false, reply, sizeof(reply));
    cr_expect(status == 0 || status == 413, "chunked body over the limit: %.200s", reply);
    printf("scenario 18: %-40s -> %d\n", "chunked oversized body", status);
    mm_buf_free(&big);
}

/* Bodies and tokens the API refuses with its documented codes. */
static void bad_content(void) {
    static char reply[REPLY_MAX];
    const char *auth = "Authorization: Bearer " TOKEN "\r\n";
    static const struct {
        const char *what;
        const char *body;
        int status;
        const char *code;
    } cases[] = {
        {"invalid JSON", "{\"key\": \"" SFX_KEY "\", \"horizon\": ", 400, "invalid_json"},
        {"invalid UTF-8", "{\"key\": \"store=1/item=\xff\xfe\xc3\"}", 400, "invalid_json"},
        {"a lone surrogate", "{\"key\": \"\\ud800\"}", 400, "invalid_json"},
        {"a JSON array", "[1, 2, 3]", 400, "invalid_json"},
        {"wrong type", "{\"key\": \"" SFX_KEY "\", \"horizon\": \"7\"}", 400, "invalid_field"},
        {"control byte in key", "{\"key\": \"a\\u0001b\"}", 400, "invalid_field"},
        {"unknown member", "{\"key\": \"" SFX_KEY "\", \"colour\": 1}", 400, "unknown_field"},
        {"horizon too far", "{\"key\": \"" SFX_KEY "\", \"horizon\": 100000000}", 400,
         "invalid_field"},
        {"unknown key", "{\"key\": \"store=9/item=9\"}", 404, "unknown_key"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int status = post_json(auth, cases[i].body, reply, sizeof(reply));
        cr_expect_eq(status, cases[i].status, "%s: %.300s", cases[i].what, reply);
        cr_expect(strstr(reply, cases[i].code), "%s: want %s: %.300s", cases[i].what, cases[i].code,
                  reply);
        printf("scenario 18: %-40s -> %d %s\n", cases[i].what, status, cases[i].code);
    }
    static const struct {
        const char *what;
        const char *auth;
    } bad_auth[] = {
        {"no token", ""},
        {"wrong token", "Authorization: Bearer wrong-token-0123456789abcdef\r\n"},
        {"not a bearer", "Authorization: Basic " TOKEN "\r\n"},
        {"token and a byte more", "Authorization: Bearer " TOKEN "x\r\n"},
        {"empty bearer", "Authorization: Bearer \r\n"},
    };
    for (size_t i = 0; i < sizeof(bad_auth) / sizeof(bad_auth[0]); i++) {
        int status = post_json(bad_auth[i].auth, VALID_BODY, reply, sizeof(reply));
        cr_expect_eq(status, 401, "%s: %.300s", bad_auth[i].what, reply);
        cr_expect(!strstr(reply, TOKEN), "%s: the answer carries the token", bad_auth[i].what);
        printf("scenario 18: %-40s -> %d\n", bad_auth[i].what, status);
    }
}

/* Wait until the server has closed @p fd (EOF or reset); false if still open. */
static bool closed_by_server(int fd, int64_t timeout_ms) {
    int64_t deadline = mm_mono_ms() + timeout_ms;
    char buf[4096];
    while (mm_mono_ms() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 200) > 0) {
            ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) return true;
        }
    }
    return false;
}

/* Slowloris: connections that start a request and stall; others are served meanwhile. */
static void slow_clients(void) {
    int slow[N_SLOW];
    for (int i = 0; i < N_SLOW; i++) {
        slow[i] = connect_server();
        const char *start = i % 2 ? "POST /v1/forecast HTTP/1.1\r\nHost: t\r\nX-Slow: a"
                                  : VALID_REQUEST "Content-Length: 1000\r\n\r\n{\"key\"";
        send_all(slow[i], start, strlen(start));
    }
    expect_valid_answer("with stalled connections open");
    expect_healthz("with stalled connections open");
    int closed = 0;
    for (int i = 0; i < N_SLOW; i++) {
        if (closed_by_server(slow[i], mmt_timeout_ms(30000))) closed++;
        close(slow[i]);
    }
    cr_expect_eq(closed, N_SLOW, "stalled connections closed by the server (--serve-timeout-s)");
    printf("scenario 18: %d of %d stalled connections closed by the server\n", closed, N_SLOW);
}

/* Many connections at once: within the limit all are answered; past it, refused not hung. */
static void many_connections(void) {
    static char reply[REPLY_MAX];
    int fds[N_OVER_LIMIT];
    char req[512];
    snprintf(req, sizeof(req), VALID_REQUEST "Content-Length: %zu\r\n\r\n" VALID_BODY,
             strlen(VALID_BODY));
    for (int i = 0; i < N_CONCURRENT; i++) fds[i] = connect_server();
    for (int i = 0; i < N_CONCURRENT; i++) send_all(fds[i], req, strlen(req));
    int ok = 0;
    for (int i = 0; i < N_CONCURRENT; i++) {
        recv_all(fds[i], reply, sizeof(reply));
        if (strncmp(reply, "HTTP/1.1 200", 12) == 0 && strstr(reply, "\"model_version\":1")) ok++;
        close(fds[i]);
    }
    cr_expect_eq(ok, N_CONCURRENT, "concurrent valid requests answered");
    printf("scenario 18: %d of %d concurrent valid requests answered 200\n", ok, N_CONCURRENT);

    /* Past --serve-max-connections: the extra ones are refused, the idle ones timed out;
     * none is held open for ever. */
    for (int i = 0; i < N_OVER_LIMIT; i++) fds[i] = connect_server();
    int closed = 0;
    for (int i = 0; i < N_OVER_LIMIT; i++) {
        if (closed_by_server(fds[i], mmt_timeout_ms(30000))) closed++;
        close(fds[i]);
    }
    cr_expect_eq(closed, N_OVER_LIMIT, "connections past the limit closed by the server");
    printf("scenario 18: %d connections opened at once (limit %d), %d closed by the server\n",
           N_OVER_LIMIT, MAX_CONNS, closed);
    expect_valid_answer("after the connection flood");
}

static bool file_contains(const char *path, const char *needle) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    mm_buf_t b;
    mm_buf_init(&b, 0);
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) mm_buf_append(&b, chunk, n);
    fclose(f);
    bool found = b.len && memmem(b.data, b.len, needle, strlen(needle));
    mm_buf_free(&b);
    return found;
}

Test(faults, malformed_http_leaves_serve_answering, .timeout = 600) {
    sfx_init(&fx, NULL);
    mmt_broker_start(&broker, 2);
    produce_inputs();

    char spec_path[4300], state[4300], sink[4300], spec_text[4096], log[4300];
    char tokens_path[4300], max_body[32], max_conns[32], idle[32];
    snprintf(spec_path, sizeof(spec_path), "%s/spec.json", fx.tmpdir);
    snprintf(state, sizeof(state), "%s/serve-state.db", fx.tmpdir);
    snprintf(sink, sizeof(sink), "%s/serve-sink.db", fx.tmpdir);
    snprintf(log, sizeof(log), "%s/serve.log", fx.tmpdir);
    snprintf(tokens_path, sizeof(tokens_path), "%s/tokens", fx.tmpdir);
    sfx_spec_text(spec_text, sizeof(spec_text), NULL);
    cr_assert(mmt_write_file(spec_path, spec_text));
    cr_assert(mmt_write_file(tokens_path, TOKEN "\n"));
    snprintf(max_body, sizeof(max_body), "%d", MAX_BODY);
    snprintf(max_conns, sizeof(max_conns), "%d", MAX_CONNS);
    snprintf(idle, sizeof(idle), "%d", IDLE_S);
    const char *extra[] = {"--tokens-file",
                           tokens_path,
                           "--serve-threads",
                           "2",
                           "--serve-max-body",
                           max_body,
                           "--serve-max-connections",
                           max_conns,
                           "--serve-timeout-s",
                           idle,
                           NULL};
    mmt_serve_opts_t serve_opts = {.spec_path = spec_path,
                                   .bootstrap = broker.bootstrap,
                                   .blob_url = fx.blob_url,
                                   .state = state,
                                   .sink = sink,
                                   .log = log,
                                   .extra = extra};
    mmt_serve_t serve;
    mmt_serve_start(&serve, &serve_opts);
    port = serve.port;
    cr_assert(mmt_serve_wait_ready(&serve, WAIT_MS), "mm-scorer serve never became ready (see %s)",
              log);
    expect_valid_answer("before");

    malformed_requests();
    expect_valid_answer("after malformed requests");
    oversized_requests();
    expect_valid_answer("after oversized requests");
    bad_content();
    slow_clients();
    many_connections();

    expect_valid_answer("at the end");
    expect_healthz("at the end");
    cr_expect_eq(mmt_wait(serve.pid, 0), -1, "mm-scorer serve still running (see %s)", log);
    int status = mmt_serve_stop(&serve, 30000);
    cr_expect_eq(status, 0, "SIGTERM: a clean stop (see %s)", log);
    cr_expect(!file_contains(log, TOKEN), "the bearer token appears in %s", log);
    mmt_serve_destroy(&serve);
    mmt_broker_stop(&broker);
    sfx_fini(&fx);
}
