/*
 * httpd.h - a small HTTP/1.1 server on libmicrohttpd for the services'
 * operational endpoints and APIs: GET /healthz, /readyz and /metrics built
 * in, more routes registered by method and path prefix.
 *
 * Requests are answered on libmicrohttpd's internal threads (epoll, a
 * configurable thread pool); handlers therefore run concurrently with the
 * service's own threads and with each other. Request bodies are buffered up
 * to a limit (413 beyond), request line and headers to another (431 beyond),
 * connections are capped and time out. With a certificate and key the
 * server speaks HTTPS only (libmicrohttpd's GnuTLS support).
 *
 * A request can also be routed without a socket (mm_httpd_handle): the same
 * routing, limits and handlers, for tests and fuzzing.
 */
#ifndef MM_HTTPD_H
#define MM_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/buf.h"
#include "mm/err.h"
#include "mm/metrics.h"

#define MM_HTTPD_DEFAULT_HOST            "127.0.0.1"
#define MM_HTTPD_DEFAULT_THREADS         2
#define MM_HTTPD_DEFAULT_MAX_CONNECTIONS 64
#define MM_HTTPD_DEFAULT_TIMEOUT_S       30
#define MM_HTTPD_DEFAULT_MAX_BODY        (1024u * 1024u)
#define MM_HTTPD_MAX_RESPONSE            (64u * 1024u * 1024u) /* one response body */
#define MM_HTTPD_MAX_ROUTES              32
#define MM_HTTPD_DEFAULT_MAX_HEADER      (16u * 1024u) /* request line + headers per request */
#define MM_HTTPD_DEFAULT_DRAIN_MS        10000

typedef struct mm_httpd mm_httpd_t;

/** A request header (mm_httpd_handle: a request without a socket). */
typedef struct mm_httpd_header {
    const char *name;
    const char *value;
} mm_httpd_header_t;

/** One request as a handler sees it; everything is borrowed for the call. */
typedef struct mm_httpd_request {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* without the query string */
    const uint8_t *body;
    size_t body_len;
    void *connection; /* for mm_httpd_request_header / _query; NULL without a socket */
    const mm_httpd_header_t *headers; /* without a socket: the headers, for _request_header */
    size_t n_headers;
} mm_httpd_request_t;

/** What a handler fills in: a status, a content type and a body. */
typedef struct mm_httpd_response {
    int status;               /* preset to 200 */
    const char *content_type; /* static string; preset to "text/plain; charset=utf-8" */
    mm_buf_t body;            /* append to it; capped at MM_HTTPD_MAX_RESPONSE */
} mm_httpd_response_t;

/**
 * @brief A route handler. @p opaque is what was registered with the route.
 * @locality a libmicrohttpd thread, possibly several at once.
 */
typedef void (*mm_httpd_handler_fn)(void *opaque, const mm_httpd_request_t *req,
                                    mm_httpd_response_t *resp);

/**
 * @brief Readiness: @returns true when ready, else false with the reason in
 * @p reason. @locality a libmicrohttpd thread.
 */
typedef bool (*mm_httpd_ready_fn)(void *opaque, char *reason, size_t reason_size);

typedef struct mm_httpd_opts {
    const char *addr;         /* "host:port", ":port" or "[v6]:port"; port 0 = any free
                               * port (see mm_httpd_port); NULL/"" = 127.0.0.1:0 */
    unsigned threads;         /* 0 = MM_HTTPD_DEFAULT_THREADS */
    unsigned max_connections; /* 0 = MM_HTTPD_DEFAULT_MAX_CONNECTIONS */
    unsigned timeout_s;       /* idle seconds per connection; 0 = MM_HTTPD_DEFAULT_TIMEOUT_S */
    size_t max_body;          /* request body bytes; 0 = MM_HTTPD_DEFAULT_MAX_BODY */
    mm_metrics_t *metrics;    /* borrowed, outlives the server; NULL: /metrics is empty */
    mm_httpd_ready_fn ready;  /* NULL: readiness as set by mm_httpd_set_ready */
    void *ready_opaque;
    size_t max_header;        /* request line + headers bytes; 0 = MM_HTTPD_DEFAULT_MAX_HEADER */
    const char *tls_cert_pem; /* PEM certificate (chain), copied; with tls_key_pem: HTTPS only */
    const char *tls_key_pem;  /* PEM private key, copied, wiped at destroy; never logged */
    bool json_errors;         /* the server's own 404/405/413/503 as {"error":{code,message}} */
    void (*collect)(void *opaque); /* called before /metrics is rendered (refresh gauges) */
    void *collect_opaque;
    bool request_metrics; /* count requests by route, method and status, time them by
                           * route (mm_http_requests_total, mm_http_request_duration_seconds;
                           * needs metrics) */
} mm_httpd_opts_t;

/**
 * @brief A server, not yet listening: register routes, then mm_httpd_start().
 * @returns NULL with the reason in @p errstr (an address that does not parse).
 */
mm_httpd_t *mm_httpd_new(const mm_httpd_opts_t *opts, char *errstr, size_t errstr_size);

/**
 * @brief Route requests whose path is @p path, or starts with it when it ends
 * in '/', to @p handler. The longest matching path wins; a path that matches
 * with another method gets 405. Only before mm_httpd_start().
 * @param method "GET", "POST", ... (HEAD is served by GET routes).
 * @returns MM_OK, MM_ERR_INVALID_ARG after start or with a bad path,
 * MM_ERR_NOMEM past MM_HTTPD_MAX_ROUTES.
 */
mm_err_t mm_httpd_route(mm_httpd_t *httpd, const char *method, const char *path,
                        mm_httpd_handler_fn handler, void *opaque, char *errstr,
                        size_t errstr_size);

/**
 * @brief Bind and start serving on libmicrohttpd's threads.
 * @returns MM_OK, or MM_ERR_IO with the reason (address in use, ...).
 */
mm_err_t mm_httpd_start(mm_httpd_t *httpd, char *errstr, size_t errstr_size);

/** @returns the bound port once started (the chosen one for port 0), else 0. */
uint16_t mm_httpd_port(const mm_httpd_t *httpd);

/**
 * @brief Set readiness when no ready callback was given: @p reason says why
 * not (copied). Starts as not ready, "starting". @locality any thread.
 */
void mm_httpd_set_ready(mm_httpd_t *httpd, bool ready, const char *reason);

/** @returns request header @p name (case-insensitive) or NULL. */
const char *mm_httpd_request_header(const mm_httpd_request_t *req, const char *name);

/** @returns query argument @p name (decoded) or NULL. */
const char *mm_httpd_request_query(const mm_httpd_request_t *req, const char *name);

/**
 * @brief Route @p req as if it had arrived on a socket (no connection is
 * needed: headers come from req->headers): 404/405 for an unknown path or
 * method, 413 for a body over the limit, else the route's handler. The
 * server need not be started. @p resp is initialised here; free its body
 * with mm_buf_free(). @locality any thread.
 */
void mm_httpd_handle(mm_httpd_t *httpd, const mm_httpd_request_t *req, mm_httpd_response_t *resp);

/**
 * @brief Graceful stop: close the listening socket (no new connection is
 * accepted), answer what is in flight with "Connection: close", and wait up
 * to @p timeout_ms for the requests in flight to finish.
 * @returns the requests still in flight when it returned (0: drained).
 */
int mm_httpd_drain(mm_httpd_t *httpd, int64_t timeout_ms);

/** @returns the requests being received or handled right now. */
int mm_httpd_in_flight(const mm_httpd_t *httpd);

/** @brief Stop serving (requests in flight finish) and free. Accepts NULL. */
void mm_httpd_destroy(mm_httpd_t *httpd);

#endif
