/*
 * test_serve_http.c - mm-scorer serve's API over real sockets on 127.0.0.1:
 * HTTPS with a self-signed pair made by the openssl CLI (a client that
 * trusts it is answered, plain HTTP and an untrusting client are not), the
 * bearer token over the wire, the header and connection limits, and a
 * graceful drain that lets the requests in flight finish while refusing new
 * connections.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <curl/curl.h>

#include "mm/clock.h"
#include "mm/fs.h"
#include "support.h"
#include "test_serve_fixture.h"

#define TOKEN   "s3cret-token-0123456789"
#define WAIT_MS 20000

static sfx_t fx;

static atomic_bool slow_release;

static void teardown(void) {
    atomic_store(&slow_release, true); /* never leave a handler blocked */
    sfx_fini(&fx);
}

TestSuite(serve_http, .fini = teardown, .timeout = 120);

typedef struct reply {
    long status;
    CURLcode rc;
    char body[8192];
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

/* One request with libcurl; @p ca: trust this PEM file (HTTPS). */
static reply_t fetch(const char *scheme, const char *path, const char *body, const char *auth,
                     const char *ca) {
    reply_t r = {0};
    char url[256], header[256];
    snprintf(url, sizeof(url), "%s://127.0.0.1:%u%s", scheme, mm_httpd_port(fx.httpd), path);
    CURL *c = curl_easy_init();
    cr_assert_not_null(c);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (auth) {
        snprintf(header, sizeof(header), "Authorization: %s", auth);
        h = curl_slist_append(h, header);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)mmt_timeout_ms(10000));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body) curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    if (ca) curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    r.rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return r;
}

static char *read_text(const char *path) {
    mm_buf_t buf;
    mm_buf_init(&buf, 1 << 20);
    char errstr[512];
    cr_assert_eq(mm_file_read(path, &buf, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    mm_buf_append(&buf, "", 1);
    size_t len;
    return (char *)mm_buf_steal(&buf, &len);
}

Test(serve_http, https_with_a_self_signed_pair) {
    sfx_init(&fx, NULL);
    char cert[4300], key[4300], cmd[9000];
    snprintf(cert, sizeof(cert), "%s/cert.pem", fx.tmpdir);
    snprintf(key, sizeof(key), "%s/key.pem", fx.tmpdir);
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout '%s' -out '%s' -days 2 "
             "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1",
             key, cert);
    cr_assert_eq(system(cmd), 0, "openssl could not make a self-signed pair");
    char *cert_pem = read_text(cert), *key_pem = read_text(key);
    sfx_listen(&fx, cert_pem, key_pem);
    reply_t r = fetch("https", "/v1/forecast", "{\"key\": \"" SFX_KEY "\"}", NULL, cert);
    cr_expect_eq(r.rc, CURLE_OK, "%s", curl_easy_strerror(r.rc));
    cr_expect_eq(r.status, 200, "%s", r.body);
    cr_expect(strstr(r.body, "\"values\""), "%s", r.body);
    r = fetch("https", "/healthz", NULL, NULL, cert);
    cr_expect_eq(r.status, 200);
    r = fetch("https", "/healthz", NULL, NULL, NULL);
    cr_expect_neq(r.rc, CURLE_OK, "a client that does not trust the certificate refuses it");
    r = fetch("http", "/healthz", NULL, NULL, NULL);
    cr_expect(r.rc != CURLE_OK || r.status != 200, "plain HTTP is not served on the TLS port");
    r = fetch("https", "/v1/forecast", "{\"key\": \"" SFX_KEY "\"}", NULL, cert);
    cr_expect_eq(r.status, 200, "the server goes on after plain-text bytes");
    free(cert_pem);
    free(key_pem);
}

Test(serve_http, a_certificate_without_its_key_is_a_configuration_error) {
    sfx_init(&fx, NULL);
    char errstr[256];
    mm_httpd_opts_t opts = {.tls_cert_pem = "-----BEGIN CERTIFICATE-----"};
    cr_expect_null(mm_httpd_new(&opts, errstr, sizeof(errstr)));
    cr_expect(strstr(errstr, "key"), "%s", errstr);
}

Test(serve_http, the_bearer_token_over_the_wire) {
    sfx_opts_t opts = {.tokens = TOKEN};
    sfx_init(&fx, &opts);
    sfx_listen(&fx, NULL, NULL);
    const char *body = "{\"key\": \"" SFX_KEY "\"}";
    cr_expect_eq(fetch("http", "/v1/forecast", body, NULL, NULL).status, 401);
    cr_expect_eq(fetch("http", "/v1/forecast", body, "Bearer nope-nope-nope-nope", NULL).status,
                 401);
    cr_expect_eq(fetch("http", "/v1/forecast", body, "Bearer " TOKEN, NULL).status, 200);
    cr_expect_eq(fetch("http", "/healthz", NULL, NULL, NULL).status, 200);
}

/* ------------------------------------------------------------ limits */

static int connect_raw(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(mm_httpd_port(fx.httpd))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

Test(serve_http, headers_over_the_limit_are_refused_and_the_server_goes_on) {
    sfx_init(&fx, NULL);
    sfx_listen(&fx, NULL, NULL);
    int fd = connect_raw();
    cr_assert_geq(fd, 0);
    size_t n = 3 * MM_HTTPD_DEFAULT_MAX_HEADER;
    char *req = malloc(n + 256);
    int len = snprintf(req, 256, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(req + len, 'a', n);
    memcpy(req + len + n, "\r\n\r\n", 4);
    ssize_t sent = send(fd, req, (size_t)len + n + 4, MSG_NOSIGNAL);
    (void)sent;
    char reply[512] = "";
    ssize_t got = recv(fd, reply, sizeof(reply) - 1, 0);
    if (got > 0) {
        reply[got] = '\0';
        cr_expect(strstr(reply, " 431 ") || strstr(reply, " 413 ") || strstr(reply, " 400 "),
                  "refused: %s", reply);
        cr_expect_null(strstr(reply, " 200 "), "%s", reply);
    }
    close(fd);
    free(req);
    cr_expect_eq(fetch("http", "/healthz", NULL, NULL, NULL).status, 200);
}

Test(serve_http, connections_over_the_limit_are_closed_until_one_frees) {
    sfx_init(&fx, NULL);
    mm_httpd_destroy(fx.httpd);
    char errstr[256];
    mm_httpd_opts_t opts = {.addr = "127.0.0.1:0", .threads = 1, .max_connections = 2};
    fx.httpd = mm_httpd_new(&opts, errstr, sizeof(errstr));
    cr_assert_not_null(fx.httpd, "%s", errstr);
    sfx_listen(&fx, NULL, NULL);
    int a = connect_raw(), b = connect_raw();
    cr_assert(a >= 0 && b >= 0);
    const char *get = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    char reply[512];
    cr_assert_gt(send(a, get, strlen(get), MSG_NOSIGNAL), 0);
    cr_expect_gt(recv(a, reply, sizeof(reply), 0), 0, "the first two are served");
    int c = connect_raw(); /* the kernel accepts it; the server closes it at once */
    if (c >= 0) {
        send(c, get, strlen(get), MSG_NOSIGNAL);
        cr_expect_leq(recv(c, reply, sizeof(reply), 0), 0, "the third connection is closed");
        close(c);
    }
    close(a);
    close(b);
    reply_t r = {0};
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(WAIT_MS);
    do { /* the server notices the closed ones */
        r = fetch("http", "/healthz", NULL, NULL, NULL);
    } while (r.status != 200 && mm_mono_ms() < deadline && (mm_sleep_ms(20, NULL), 1));
    cr_expect_eq(r.status, 200, "a connection freed is a connection served");
}

Test(serve_http, an_idle_or_slow_connection_is_closed_after_the_timeout) {
    sfx_init(&fx, NULL);
    mm_httpd_destroy(fx.httpd);
    char errstr[256];
    mm_httpd_opts_t opts = {.addr = "127.0.0.1:0", .timeout_s = 1};
    fx.httpd = mm_httpd_new(&opts, errstr, sizeof(errstr));
    cr_assert_not_null(fx.httpd, "%s", errstr);
    sfx_listen(&fx, NULL, NULL);
    int fd = connect_raw(); /* receive timeout 5 s: longer than the server's 1 s */
    cr_assert_geq(fd, 0);
    const char *partial = "GET /healthz HTTP/1.1\r\nHost: x\r\n"; /* never finished */
    cr_assert_gt(send(fd, partial, strlen(partial), MSG_NOSIGNAL), 0);
    char reply[256];
    ssize_t got = recv(fd, reply, sizeof(reply), 0);
    cr_expect_eq(got, 0, "the server closed the slow connection (recv %zd)", got);
    close(fd);
    cr_expect_eq(fetch("http", "/healthz", NULL, NULL, NULL).status, 200);
}

/* ------------------------------------------------------------ drain */

static void handle_slow(void *opaque, const mm_httpd_request_t *req, mm_httpd_response_t *resp) {
    (void)opaque;
    (void)req;
    while (!atomic_load(&slow_release)) mm_sleep_ms(2, NULL);
    mm_buf_append_str(&resp->body, "done\n");
}

typedef struct client {
    reply_t r;
} client_t;

static void *slow_client(void *opaque) {
    client_t *c = opaque;
    c->r = fetch("http", "/test/slow", NULL, NULL, NULL);
    return NULL;
}

static void *release_later(void *opaque) {
    (void)opaque;
    mm_sleep_ms(200, NULL);
    atomic_store(&slow_release, true);
    return NULL;
}

Test(serve_http, a_drain_finishes_the_requests_in_flight_and_accepts_no_new_connection) {
    enum { N = 3 };
    sfx_init(&fx, NULL);
    char errstr[256];
    atomic_store(&slow_release, false);
    cr_assert_eq(
        mm_httpd_route(fx.httpd, "GET", "/test/slow", handle_slow, NULL, errstr, sizeof(errstr)),
        MM_OK);
    sfx_listen(&fx, NULL, NULL);
    pthread_t th[N], rel;
    client_t clients[N];
    memset(clients, 0, sizeof(clients));
    /* One at a time, so that each lands on a free server thread (a request
     * blocks its thread while its handler runs). */
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(WAIT_MS);
    for (int i = 0; i < N; i++) {
        pthread_create(&th[i], NULL, slow_client, &clients[i]);
        while (mm_httpd_in_flight(fx.httpd) < i + 1 && mm_mono_ms() < deadline)
            mm_sleep_ms(2, NULL);
    }
    cr_expect_eq(mm_httpd_in_flight(fx.httpd), N, "all requests are in flight");
    mm_serve_set_draining(fx.serve);
    pthread_create(&rel, NULL, release_later, NULL);
    int left = mm_httpd_drain(fx.httpd, mmt_timeout_ms(WAIT_MS));
    cr_expect_eq(left, 0, "drained");
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        cr_expect_eq(clients[i].r.status, 200, "request %d finished: %s", i, clients[i].r.body);
        cr_expect_str_eq(clients[i].r.body, "done\n");
    }
    pthread_join(rel, NULL);
    cr_expect_lt(connect_raw(), 0, "no new connection after the drain");
}
