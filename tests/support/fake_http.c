/*
 * fake_http.c - scripted loopback HTTP server for unit tests (see
 * fake_http.h). One connection at a time, a handful per test: simple
 * blocking reads and writes, no keep-alive.
 */
#include "fake_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "support.h"

#define FAKE_ACCEPT_TIMEOUT_MS 10000
#define FAKE_READ_BUF          65536
#define FAKE_REPLY_BUF         8192
#define FAKE_LISTEN_BACKLOG    8

static void record(mmt_fake_http_t *fs, const char *head, size_t head_len, const char *body,
                   size_t body_len) {
    if (fs->n_requests < MMT_FAKE_HTTP_MAX_REQUESTS) {
        size_t keep =
            head_len < MMT_FAKE_HTTP_REQUEST_HEAD - 1 ? head_len : MMT_FAKE_HTTP_REQUEST_HEAD - 1;
        memcpy(fs->requests[fs->n_requests], head, keep);
        fs->requests[fs->n_requests][keep] = 0;
        keep =
            body_len < MMT_FAKE_HTTP_REQUEST_HEAD - 1 ? body_len : MMT_FAKE_HTTP_REQUEST_HEAD - 1;
        memcpy(fs->bodies[fs->n_requests], body, keep);
        fs->bodies[fs->n_requests][keep] = 0;
    }
    fs->n_requests++;
}

/* Read one request (head and, by Content-Length, body), record it, send @p r. */
static void serve_one(mmt_fake_http_t *fs, int c, const mmt_fake_reply_t *r) {
    char buf[FAKE_READ_BUF];
    size_t got = 0;
    char *head_end = NULL;
    while (!head_end && got < sizeof(buf) - 1) {
        ssize_t n = read(c, buf + got, sizeof(buf) - 1 - got);
        if (n <= 0) break;
        got += (size_t)n;
        buf[got] = 0;
        head_end = strstr(buf, "\r\n\r\n");
    }
    if (!head_end) return;
    size_t head_len = (size_t)(head_end - buf) + 4;
    /* Drain the body so the client sees a clean exchange. */
    long body_len = 0;
    const char *cl = strcasestr(buf, "\r\nContent-Length:");
    if (cl && cl < head_end) body_len = strtol(cl + strlen("\r\nContent-Length:"), NULL, 10);
    while ((long)(got - head_len) < body_len && got < sizeof(buf) - 1) {
        ssize_t n = read(c, buf + got, sizeof(buf) - 1 - got);
        if (n <= 0) break;
        got += (size_t)n;
    }
    record(fs, buf, head_len, buf + head_len, got - head_len);
    const char *body = r->body ? r->body : "";
    char resp[FAKE_REPLY_BUF];
    int n = snprintf(resp, sizeof(resp),
                     "HTTP/1.1 %d Scripted\r\nContent-Length: %zu\r\nConnection: close\r\n%s"
                     "\r\n%s",
                     r->status, strlen(body), r->headers ? r->headers : "", body);
    if (n > 0 && write(c, resp, (size_t)n) < 0) { /* the client gave up: fine */
    }
}

static void *fake_http_main(void *arg) {
    mmt_fake_http_t *fs = arg;
    for (size_t i = 0; i < fs->n_script; i++) {
        struct pollfd pfd = {.fd = fs->fd, .events = POLLIN};
        if (poll(&pfd, 1, (int)mmt_timeout_ms(FAKE_ACCEPT_TIMEOUT_MS)) <= 0) break;
        int c = accept(fs->fd, NULL, NULL);
        if (c < 0) break;
        serve_one(fs, c, &fs->script[i]);
        close(c);
    }
    return NULL;
}

void mmt_fake_http_start(mmt_fake_http_t *fs, const mmt_fake_reply_t *script, size_t n) {
    memset(fs, 0, sizeof(*fs));
    fs->script = script;
    fs->n_script = n;
    fs->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(fs->fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    cr_assert_eq(bind(fs->fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    cr_assert_eq(listen(fs->fd, FAKE_LISTEN_BACKLOG), 0);
    cr_assert_eq(getsockname(fs->fd, (struct sockaddr *)&addr, &len), 0);
    fs->port = ntohs(addr.sin_port);
    cr_assert_eq(pthread_create(&fs->thread, NULL, fake_http_main, fs), 0);
}

void mmt_fake_http_join(mmt_fake_http_t *fs) {
    pthread_join(fs->thread, NULL);
    close(fs->fd);
}
