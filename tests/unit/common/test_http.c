/*
 * test_http.c - the HTTP client (common/src/http.c) against a scripted
 * loopback server (tests/support/fake_http.h): what goes on the wire, how
 * statuses, headers and bodies come back, the response cap, transport
 * errors, the stall limit, and the status-to-error map.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "fake_http.h"
#include "mm/http.h"
#include "mm/util.h"

#define CONNECT_TIMEOUT_MS 2000
#define TOTAL_TIMEOUT_MS   5000

static mm_http_t *http_new(void) {
    char errstr[256] = "";
    mm_http_t *http = mm_http_new(errstr, sizeof(errstr));
    cr_assert_not_null(http, "%s", errstr);
    return http;
}

static void url_of(const mmt_fake_http_t *fs, const char *path, char *url, size_t url_size) {
    snprintf(url, url_size, "http://127.0.0.1:%d%s", fs->port, path);
}

Test(http, put_sends_method_path_headers_and_body) {
    static const mmt_fake_reply_t script[] = {{201, NULL, NULL}};
    mmt_fake_http_t fs;
    mmt_fake_http_start(&fs, script, MM_ARRAY_SIZE(script));
    char url[128];
    url_of(&fs, "/c/a%3Db.mm", url, sizeof(url));
    mm_http_header_t headers[] = {{"x-ms-blob-type", "BlockBlob"}, {"If-None-Match", "*"}};
    mm_http_request_t req = {.method = "PUT",
                             .url = url,
                             .headers = headers,
                             .n_headers = MM_ARRAY_SIZE(headers),
                             .body = "hello",
                             .body_len = 5,
                             .connect_timeout_ms = CONNECT_TIMEOUT_MS,
                             .total_timeout_ms = TOTAL_TIMEOUT_MS};
    mm_http_response_t resp;
    memset(&resp, 0, sizeof(resp));
    mm_http_t *http = http_new();
    char errstr[512] = "";
    cr_assert_eq(mm_http_perform(http, &req, &resp, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    mmt_fake_http_join(&fs);
    cr_expect_eq(resp.status, 201);
    cr_assert_eq(fs.n_requests, 1);
    const char *r = fs.requests[0];
    cr_expect(strncmp(r, "PUT /c/a%3Db.mm HTTP/1.1\r\n", 26) == 0, "%.60s", r);
    cr_expect(strstr(r, "\r\nx-ms-blob-type: BlockBlob\r\n"), "%s", r);
    cr_expect(strstr(r, "\r\nIf-None-Match: *\r\n"), "%s", r);
    cr_expect(strstr(r, "\r\nContent-Length: 5\r\n"), "%s", r);
    cr_expect_str_eq(fs.bodies[0], "hello");
    mm_http_response_clear(&resp);
    mm_http_destroy(http);
}

Test(http, any_status_is_ok_with_status_headers_and_body_returned) {
    static const mmt_fake_reply_t script[] = {
        {404, "x-ms-error-code: BlobNotFound\r\nETag: \"0x1\"\r\n", "<Error>missing</Error>"},
        {200, NULL, "second"},
    };
    mmt_fake_http_t fs;
    mmt_fake_http_start(&fs, script, MM_ARRAY_SIZE(script));
    char url[128];
    url_of(&fs, "/c/x", url, sizeof(url));
    mm_http_request_t req = {.method = "GET",
                             .url = url,
                             .connect_timeout_ms = CONNECT_TIMEOUT_MS,
                             .total_timeout_ms = TOTAL_TIMEOUT_MS};
    mm_http_t *http = http_new();
    mm_http_response_t resp;
    memset(&resp, 0, sizeof(resp));
    char errstr[512] = "";
    cr_assert_eq(mm_http_perform(http, &req, &resp, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_expect_eq(resp.status, 404);
    cr_expect_str_eq(mm_http_response_header(&resp, "X-MS-Error-Code"), "BlobNotFound",
                     "header names are case-insensitive");
    cr_expect_str_eq(mm_http_response_header(&resp, "etag"), "\"0x1\"");
    cr_expect_null(mm_http_response_header(&resp, "x-absent"));
    cr_expect_eq(resp.body.len, strlen("<Error>missing</Error>"));
    cr_expect_str_eq((const char *)resp.body.data, "<Error>missing</Error>");
    mm_http_response_clear(&resp);
    /* The handle is reusable; a cleared response holds nothing of the last one. */
    cr_assert_eq(mm_http_perform(http, &req, &resp, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    mmt_fake_http_join(&fs);
    cr_expect_eq(resp.status, 200);
    cr_expect_str_eq((const char *)resp.body.data, "second");
    cr_expect_null(mm_http_response_header(&resp, "x-ms-error-code"));
    mm_http_response_clear(&resp);
    mm_http_destroy(http);
}

Test(http, body_larger_than_the_cap_is_an_error) {
    static const mmt_fake_reply_t script[] = {{200, NULL, "0123456789abcdef"}};
    mmt_fake_http_t fs;
    mmt_fake_http_start(&fs, script, MM_ARRAY_SIZE(script));
    char url[128];
    url_of(&fs, "/big", url, sizeof(url));
    mm_http_request_t req = {.method = "GET",
                             .url = url,
                             .connect_timeout_ms = CONNECT_TIMEOUT_MS,
                             .total_timeout_ms = TOTAL_TIMEOUT_MS,
                             .max_response_bytes = 8};
    mm_http_t *http = http_new();
    mm_http_response_t resp;
    memset(&resp, 0, sizeof(resp));
    char errstr[512] = "";
    mm_err_t err = mm_http_perform(http, &req, &resp, errstr, sizeof(errstr));
    mmt_fake_http_join(&fs);
    cr_expect_neq(err, MM_OK, "a 16-byte body passed an 8-byte cap");
    cr_expect(errstr[0] != 0, "the reason is given");
    mm_http_response_clear(&resp);
    mm_http_destroy(http);
}

Test(http, connection_refused_is_a_transport_error_with_no_status) {
    /* Listen, learn the port, close: nothing accepts there now. */
    static const mmt_fake_reply_t none[] = {{200, NULL, NULL}};
    mmt_fake_http_t fs;
    mmt_fake_http_start(&fs, none, 0);
    mmt_fake_http_join(&fs);
    char url[128];
    url_of(&fs, "/x", url, sizeof(url));
    mm_http_request_t req = {.method = "GET",
                             .url = url,
                             .connect_timeout_ms = CONNECT_TIMEOUT_MS,
                             .total_timeout_ms = TOTAL_TIMEOUT_MS};
    mm_http_t *http = http_new();
    mm_http_response_t resp;
    memset(&resp, 0, sizeof(resp));
    char errstr[512] = "";
    mm_err_t err = mm_http_perform(http, &req, &resp, errstr, sizeof(errstr));
    cr_expect(err == MM_ERR_TRANSPORT || err == MM_ERR_TIMEOUT, "%s: %s", mm_err_name(err), errstr);
    cr_expect_eq(resp.status, 0);
    cr_expect(errstr[0] != 0);
    mm_http_response_clear(&resp);
    mm_http_destroy(http);
}

Test(http, status_maps_to_the_documented_errors) {
    cr_expect_eq(mm_http_status_err(200), MM_OK);
    cr_expect_eq(mm_http_status_err(201), MM_OK);
    cr_expect_eq(mm_http_status_err(404), MM_ERR_NOT_FOUND);
    cr_expect_eq(mm_http_status_err(409), MM_ERR_EXISTS);
    cr_expect_eq(mm_http_status_err(412), MM_ERR_EXISTS);
    cr_expect_eq(mm_http_status_err(401), MM_ERR_AUTH);
    cr_expect_eq(mm_http_status_err(403), MM_ERR_AUTH);
    cr_expect_eq(mm_http_status_err(408), MM_ERR_THROTTLED);
    cr_expect_eq(mm_http_status_err(429), MM_ERR_THROTTLED);
    cr_expect_eq(mm_http_status_err(503), MM_ERR_THROTTLED);
    cr_expect_eq(mm_http_status_err(400), MM_ERR_HTTP);
}

Test(http, url_encode_keeps_unreserved_and_the_given_characters) {
    char *s = mm_url_encode("a b/c=d%~", "/");
    cr_assert_not_null(s);
    cr_expect_str_eq(s, "a%20b/c%3Dd%25~");
    free(s);
    s = mm_url_encode("a/b", "");
    cr_expect_str_eq(s, "a%2Fb");
    free(s);
}

Test(http, date_is_rfc_1123_gmt) {
    char date[40];
    mm_http_date_now(date);
    cr_expect_eq(strlen(date), 29, "%s", date);
    cr_expect(strcmp(date + 25, " GMT") == 0, "%s", date);
    cr_expect_eq(date[3], ',');
}

Test(http, a_server_that_accepts_and_never_answers_stalls_out_before_the_total_timeout,
     .timeout = 50) {
    /* A listening socket nobody accepts on: the kernel completes the handshake and takes
     * the request, as for a stopped server process. Only the stall limit can end the
     * request before the Criterion timeout; the total timeout is longer than that. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    cr_assert_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    cr_assert_eq(listen(fd, 4), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", ntohs(addr.sin_port));
    static uint8_t body[64 * 1024]; /* a body's burst must not count as progress later */
    mm_http_request_t req = {.method = "PUT",
                             .url = url,
                             .body = body,
                             .body_len = sizeof(body),
                             .connect_timeout_ms = CONNECT_TIMEOUT_MS,
                             .total_timeout_ms = 60000,
                             .stall_timeout_ms = 1000};
    mm_http_t *http = http_new();
    mm_http_response_t resp;
    memset(&resp, 0, sizeof(resp));
    char errstr[512] = "";
    mm_err_t err = mm_http_perform(http, &req, &resp, errstr, sizeof(errstr));
    cr_expect_eq(err, MM_ERR_TIMEOUT, "%s: %s", mm_err_name(err), errstr);
    cr_expect(strstr(errstr, "stalled: no byte sent or received for 1000 ms"), "%s", errstr);
    cr_expect(mm_err_is_retriable(err));
    mm_http_response_clear(&resp);
    mm_http_destroy(http);
    close(fd);
}
