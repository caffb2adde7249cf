/*
 * test_httpd.c - the HTTP server (common/src/httpd.c) on 127.0.0.1 with an
 * ephemeral port, driven by the project's HTTP client and by raw sockets:
 * the built-in routes, readiness, registered routes, 404/405, the body limit
 * (declared and chunked), and bytes that are not HTTP.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "mm/http.h"
#include "mm/httpd.h"
#include "mm/metrics.h"
#include "mm/util.h"
#include "support.h"

#define CONNECT_TIMEOUT_MS  2000
#define TOTAL_TIMEOUT_MS    5000
#define TEST_MAX_BODY       1024
#define RAW_REPLY_MAX       4096
#define RAW_RECV_TIMEOUT_MS 1000 /* replies come in milliseconds; some junk gets none */

typedef struct fixture {
    mm_httpd_t *httpd;
    mm_metrics_t *metrics;
    mm_http_t *http;
} fixture_t;

static void handle_echo(void *opaque, const mm_httpd_request_t *req, mm_httpd_response_t *resp) {
    (void)opaque;
    resp->status = 201;
    resp->content_type = "application/json";
    const char *q = mm_httpd_request_query(req, "q");
    const char *h = mm_httpd_request_header(req, "X-Test");
    mm_buf_appendf(&resp->body, "{\"path\":\"%s\",\"q\":\"%s\",\"h\":\"%s\",\"len\":%zu}",
                   req->path, q ? q : "", h ? h : "", req->body_len);
}

static void fixture_start(fixture_t *fx, mm_httpd_ready_fn ready, void *ready_opaque) {
    char errstr[256] = "";
    memset(fx, 0, sizeof(*fx));
    fx->metrics = mm_metrics_new();
    cr_assert_not_null(fx->metrics);
    mm_httpd_opts_t opts = {.addr = "127.0.0.1:0",
                            .max_body = TEST_MAX_BODY,
                            .metrics = fx->metrics,
                            .ready = ready,
                            .ready_opaque = ready_opaque};
    fx->httpd = mm_httpd_new(&opts, errstr, sizeof(errstr));
    cr_assert_not_null(fx->httpd, "%s", errstr);
    cr_assert_eq(
        mm_httpd_route(fx->httpd, "POST", "/v1/echo/", handle_echo, NULL, errstr, sizeof(errstr)),
        MM_OK, "%s", errstr);
    cr_assert_eq(mm_httpd_start(fx->httpd, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_gt(mm_httpd_port(fx->httpd), 0);
    fx->http = mm_http_new(errstr, sizeof(errstr));
    cr_assert_not_null(fx->http, "%s", errstr);
}

static void fixture_stop(fixture_t *fx) {
    mm_http_destroy(fx->http);
    mm_httpd_destroy(fx->httpd);
    mm_metrics_destroy(fx->metrics);
}

static void request(fixture_t *fx, const char *method, const char *path, const char *body,
                    size_t body_len, mm_http_response_t *resp) {
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", mm_httpd_port(fx->httpd), path);
    mm_http_header_t headers[] = {{"X-Test", "yes"}};
    mm_http_request_t req = {.method = method,
                             .url = url,
                             .headers = headers,
                             .n_headers = MM_ARRAY_SIZE(headers),
                             .body = body,
                             .body_len = body_len,
                             .connect_timeout_ms = CONNECT_TIMEOUT_MS,
                             .total_timeout_ms = mmt_timeout_ms(TOTAL_TIMEOUT_MS)};
    memset(resp, 0, sizeof(*resp));
    char errstr[512] = "";
    cr_assert_eq(mm_http_perform(fx->http, &req, resp, errstr, sizeof(errstr)), MM_OK, "%s %s: %s",
                 method, path, errstr);
}

static const char *body_of(const mm_http_response_t *resp) {
    return resp->body.len ? (const char *)resp->body.data : "";
}

Test(httpd, healthz_answers_ok_on_an_ephemeral_port) {
    fixture_t fx;
    fixture_start(&fx, NULL, NULL);
    mm_http_response_t resp;
    request(&fx, "GET", "/healthz", NULL, 0, &resp);
    cr_expect_eq(resp.status, 200);
    cr_expect_str_eq(body_of(&resp), "ok\n");
    mm_http_response_clear(&resp);
    request(&fx, "HEAD", "/healthz", NULL, 0, &resp);
    cr_expect_eq(resp.status, 200);
    mm_http_response_clear(&resp);
    fixture_stop(&fx);
}

Test(httpd, readyz_turns_from_503_with_the_reason_to_200) {
    fixture_t fx;
    fixture_start(&fx, NULL, NULL);
    mm_http_response_t resp;
    request(&fx, "GET", "/readyz", NULL, 0, &resp);
    cr_expect_eq(resp.status, 503);
    cr_expect_str_eq(body_of(&resp), "not ready: starting\n");
    mm_http_response_clear(&resp);
    mm_httpd_set_ready(fx.httpd, false, "partitions not assigned");
    request(&fx, "GET", "/readyz", NULL, 0, &resp);
    cr_expect_eq(resp.status, 503);
    cr_expect_str_eq(body_of(&resp), "not ready: partitions not assigned\n");
    mm_http_response_clear(&resp);
    mm_httpd_set_ready(fx.httpd, true, NULL);
    request(&fx, "GET", "/readyz", NULL, 0, &resp);
    cr_expect_eq(resp.status, 200);
    mm_http_response_clear(&resp);
    fixture_stop(&fx);
}

static bool ready_when_flag(void *opaque, char *reason, size_t reason_size) {
    const bool *flag = opaque;
    if (!*flag) snprintf(reason, reason_size, "registry not open");
    return *flag;
}

Test(httpd, readyz_asks_the_readiness_callback) {
    bool ready = false;
    fixture_t fx;
    fixture_start(&fx, ready_when_flag, &ready);
    mm_http_response_t resp;
    request(&fx, "GET", "/readyz", NULL, 0, &resp);
    cr_expect_eq(resp.status, 503);
    cr_expect_str_eq(body_of(&resp), "not ready: registry not open\n");
    mm_http_response_clear(&resp);
    ready = true;
    request(&fx, "GET", "/readyz", NULL, 0, &resp);
    cr_expect_eq(resp.status, 200);
    mm_http_response_clear(&resp);
    fixture_stop(&fx);
}

Test(httpd, metrics_are_served_as_prometheus_text) {
    fixture_t fx;
    fixture_start(&fx, NULL, NULL);
    char errstr[256] = "";
    mm_metric_t *c = mm_metrics_counter(fx.metrics, "mm_test_requests_total", "Requests.", NULL,
                                        errstr, sizeof(errstr));
    cr_assert_not_null(c, "%s", errstr);
    mm_metric_add(c, NULL, 42);
    mm_http_response_t resp;
    request(&fx, "GET", "/metrics", NULL, 0, &resp);
    cr_expect_eq(resp.status, 200);
    const char *type = mm_http_response_header(&resp, "content-type");
    cr_assert_not_null(type);
    cr_expect(strncmp(type, "text/plain; version=0.0.4", 25) == 0, "%s", type);
    cr_expect(strstr(body_of(&resp), "# TYPE mm_test_requests_total counter\n"
                                     "mm_test_requests_total 42\n"),
              "%s", body_of(&resp));
    mm_http_response_clear(&resp);
    fixture_stop(&fx);
}

Test(httpd, unknown_path_is_404_and_wrong_method_is_405) {
    fixture_t fx;
    fixture_start(&fx, NULL, NULL);
    mm_http_response_t resp;
    request(&fx, "GET", "/nothing-here", NULL, 0, &resp);
    cr_expect_eq(resp.status, 404);
    cr_expect_str_eq(body_of(&resp), "not found\n");
    mm_http_response_clear(&resp);
    request(&fx, "POST", "/healthz", "x", 1, &resp);
    cr_expect_eq(resp.status, 405);
    cr_expect_str_eq(mm_http_response_header(&resp, "allow"), "GET");
    mm_http_response_clear(&resp);
    request(&fx, "GET", "/v1/echo/a", NULL, 0, &resp);
    cr_expect_eq(resp.status, 405);
    cr_expect_str_eq(mm_http_response_header(&resp, "allow"), "POST");
    mm_http_response_clear(&resp);
    request(&fx, "POST", "/v1/echo", "x", 1, &resp); /* the prefix is "/v1/echo/" */
    cr_expect_eq(resp.status, 404);
    mm_http_response_clear(&resp);
    fixture_stop(&fx);
}

Test(httpd, registered_route_gets_path_query_headers_and_body) {
    fixture_t fx;
    fixture_start(&fx, NULL, NULL);
    mm_http_response_t resp;
    request(&fx, "POST", "/v1/echo/store%3D1?q=a%20b", "{\"k\":1}", 7, &resp);
    cr_expect_eq(resp.status, 201);
    cr_expect_str_eq(mm_http_response_header(&resp, "content-type"), "application/json");
    cr_expect_str_eq(body_of(&resp), "{\"path\":\"/v1/echo/store=1\",\"q\":\"a b\",\"h\":\"yes\","
                                     "\"len\":7}");
    mm_http_response_clear(&resp);
    fixture_stop(&fx);
}

Test(httpd, body_over_the_limit_is_413_and_at_the_limit_is_served) {
    fixture_t fx;
    fixture_start(&fx, NULL, NULL);
    char *body = malloc(TEST_MAX_BODY + 1);
    cr_assert_not_null(body);
    memset(body, 'x', TEST_MAX_BODY + 1);
    mm_http_response_t resp;
    request(&fx, "POST", "/v1/echo/a", body, TEST_MAX_BODY + 1, &resp);
    cr_expect_eq(resp.status, 413);
    mm_http_response_clear(&resp);
    request(&fx, "POST", "/v1/echo/a", body, TEST_MAX_BODY, &resp);
    cr_expect_eq(resp.status, 201);
    mm_http_response_clear(&resp);
    free(body);
    fixture_stop(&fx);
}

/* Send @p bytes on a fresh connection, read what comes back until the
 * server closes or RAW_RECV_TIMEOUT_MS passes without a byte; @returns the reply (NUL-terminated)
 * length. */
static size_t raw_exchange(const fixture_t *fx, const char *bytes, size_t len, char *reply,
                           size_t reply_size) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    int64_t recv_ms = mmt_timeout_ms(RAW_RECV_TIMEOUT_MS);
    struct timeval tv = {.tv_sec = recv_ms / 1000, .tv_usec = (recv_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(mm_httpd_port(fx->httpd))};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    size_t sent = 0;
    while (sent < len) {
        ssize_t n = send(fd, bytes + sent, len - sent, MSG_NOSIGNAL);
        if (n <= 0) break; /* the server may answer and close early */
        sent += (size_t)n;
    }
    size_t got = 0;
    while (got + 1 < reply_size) {
        ssize_t n = recv(fd, reply + got, reply_size - 1 - got, 0);
        if (n <= 0) break;
        got += (size_t)n;
    }
    reply[got] = '\0';
    close(fd);
    return got;
}

Test(httpd, chunked_body_over_the_limit_is_413) {
    fixture_t fx;
    fixture_start(&fx, NULL, NULL);
    mm_buf_t req;
    mm_buf_init(&req, 0);
    mm_buf_append_str(&req, "POST /v1/echo/a HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                            "Transfer-Encoding: chunked\r\n\r\n");
    const int chunk = 256, n_chunks = TEST_MAX_BODY / 256 + 2;
    for (int i = 0; i < n_chunks; i++) {
        mm_buf_appendf(&req, "%x\r\n", chunk);
        for (int j = 0; j < chunk; j++) mm_buf_append_str(&req, "y");
        mm_buf_append_str(&req, "\r\n");
    }
    mm_buf_append_str(&req, "0\r\n\r\n");
    char reply[RAW_REPLY_MAX];
    raw_exchange(&fx, (const char *)req.data, req.len, reply, sizeof(reply));
    cr_expect(strncmp(reply, "HTTP/1.1 413", 12) == 0, "%.80s", reply);
    mm_buf_free(&req);
    fixture_stop(&fx);
}

Test(httpd, bytes_that_are_not_http_get_an_error_and_the_server_stays_up) {
    fixture_t fx;
    fixture_start(&fx, NULL, NULL);
#define JUNK(s)                                                                                    \
    { s, sizeof(s) - 1 }
    static const struct {
        const char *bytes;
        size_t len;
    } junk[] = {
        JUNK("\x00\x01\x02\xff\xfe garbage\r\n\r\n"),
        JUNK("GET /healthz HTTP/9.9\r\n\r\n"),
        JUNK("GET /healthz HTTP/1.1\r\nHost: t\r\nBad Header Without Colon\r\n\r\n"),
        JUNK("POST /v1/echo/a HTTP/1.1\r\nHost: t\r\nContent-Length: -5\r\n\r\n"),
        JUNK("POST /v1/echo/a HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999\r\n"
             "\r\n"),
    };
#undef JUNK
    char reply[RAW_REPLY_MAX];
    for (size_t i = 0; i < MM_ARRAY_SIZE(junk); i++) {
        raw_exchange(&fx, junk[i].bytes, junk[i].len, reply, sizeof(reply));
        cr_expect(strncmp(reply, "HTTP/1.1 200", 12) != 0, "case %zu: %.80s", i, reply);
    }
    /* A huge header block is refused, not buffered. */
    mm_buf_t big;
    mm_buf_init(&big, 0);
    mm_buf_append_str(&big, "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: ");
    for (int i = 0; i < 200000; i++) mm_buf_append_str(&big, "z");
    mm_buf_append_str(&big, "\r\n\r\n");
    raw_exchange(&fx, (const char *)big.data, big.len, reply, sizeof(reply));
    cr_expect(strncmp(reply, "HTTP/1.1 200", 12) != 0, "%.80s", reply);
    mm_buf_free(&big);
    mm_http_response_t resp;
    request(&fx, "GET", "/healthz", NULL, 0, &resp);
    cr_expect_eq(resp.status, 200);
    mm_http_response_clear(&resp);
    fixture_stop(&fx);
}

Test(httpd, bad_addresses_are_configuration_errors) {
    static const char *const bad[] = {"127.0.0.1", "127.0.0.1:", "127.0.0.1:70000", "127.0.0.1:8x",
                                      "[::1]8080"};
    for (size_t i = 0; i < MM_ARRAY_SIZE(bad); i++) {
        char errstr[256] = "";
        mm_httpd_opts_t opts = {.addr = bad[i]};
        mm_httpd_t *httpd = mm_httpd_new(&opts, errstr, sizeof(errstr));
        cr_expect_null(httpd, "%s", bad[i]);
        cr_expect(errstr[0] != '\0', "%s", bad[i]);
        mm_httpd_destroy(httpd);
    }
}

Test(httpd, a_port_in_use_fails_to_start) {
    fixture_t fx;
    fixture_start(&fx, NULL, NULL);
    char addr[64], errstr[256] = "";
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", mm_httpd_port(fx.httpd));
    mm_httpd_opts_t opts = {.addr = addr};
    mm_httpd_t *second = mm_httpd_new(&opts, errstr, sizeof(errstr));
    cr_assert_not_null(second, "%s", errstr);
    cr_expect_eq(mm_httpd_start(second, errstr, sizeof(errstr)), MM_ERR_IO);
    mm_httpd_destroy(second);
    fixture_stop(&fx);
}
