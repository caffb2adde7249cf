/*
 * fake_http.h - a scripted HTTP/1.1 server on a loopback port, in a thread of
 * the test process: it answers the n-th connection with the n-th scripted
 * reply (then closes it) and records each request's line and headers, so a
 * test can check what a client sent and how it handles each status.
 */
#ifndef MM_TEST_FAKE_HTTP_H
#define MM_TEST_FAKE_HTTP_H

#include <pthread.h>
#include <stddef.h>

#define MMT_FAKE_HTTP_MAX_REQUESTS 16   /* requests recorded (more are answered, not kept) */
#define MMT_FAKE_HTTP_REQUEST_HEAD 4096 /* bytes of one recorded request line and headers */

typedef struct mmt_fake_reply {
    int status;
    const char *headers; /* extra header lines, each ending in \r\n; may be NULL */
    const char *body;    /* may be NULL */
} mmt_fake_reply_t;

typedef struct mmt_fake_http {
    int fd;
    int port;
    pthread_t thread;
    const mmt_fake_reply_t *script; /* borrowed */
    size_t n_script;
    size_t n_requests;
    char requests[MMT_FAKE_HTTP_MAX_REQUESTS][MMT_FAKE_HTTP_REQUEST_HEAD];
    char bodies[MMT_FAKE_HTTP_MAX_REQUESTS][MMT_FAKE_HTTP_REQUEST_HEAD]; /* request bodies, cut */
} mmt_fake_http_t;

/**
 * @brief Listen on a free loopback port and serve @p script (borrowed; one
 * reply per connection, in order) from a thread. The server stops after the
 * script, or when no connection arrives within 10 s (scaled by
 * MM_TEST_TIMEOUT_MULT). Asserts on failure.
 */
void mmt_fake_http_start(mmt_fake_http_t *fs, const mmt_fake_reply_t *script, size_t n);

/** @brief Wait for the server thread to end, then close the socket. */
void mmt_fake_http_join(mmt_fake_http_t *fs);

#endif
