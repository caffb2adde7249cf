/*
 * httpd.c - the HTTP server on libmicrohttpd (see httpd.h).
 *
 * Tuned for operational traffic and small JSON APIs: a scrape every few
 * seconds, health probes, requests of a few KiB answered from memory. The
 * route table is fixed before start and read without locks; libmicrohttpd
 * parses the protocol, this file bounds what it buffers (the body) and maps
 * path and method to a handler or to 404/405/413.
 */
#include "mm/httpd.h"

#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/crypto.h>

#include "mm/clock.h"
#include "mm/log.h"
#include "mm/util.h"

#define HOST_MAX          256
#define PORT_MAX          65535
#define REASON_MAX        256
#define CONN_BUFFERS      (32u * 1024u) /* per connection beyond the headers: I/O buffers */
#define JSON_TYPE         "application/json"
#define DRAIN_POLL_MS     10
#define ROUTE_OTHER       "other" /* the route label of requests that matched no route */
#define STATUS_LABEL_MAX  8
#define TEXT_PLAIN        "text/plain; charset=utf-8"
#define STARTING          "starting"
#define LOG_LINE_MAX      512
#define ALLOW_HEADER_MAX  128
#define CONTENT_LEN_RADIX 10

typedef struct route {
    char *method;
    char *path;
    bool prefix; /* path ends in '/': matches everything under it */
    mm_httpd_handler_fn handler;
    void *opaque;
} route_t;

struct mm_httpd {
    mm_httpd_opts_t opts;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    struct MHD_Daemon *daemon;
    uint16_t port;
    route_t routes[MM_HTTPD_MAX_ROUTES];
    size_t n_routes;
    pthread_mutex_t ready_lock; /* guards ready and ready_reason */
    bool ready;
    char ready_reason[REASON_MAX];
    char *tls_cert, *tls_key; /* owned copies (the key wiped at destroy) */
    atomic_int in_flight;     /* requests between their headers and their completion */
    atomic_bool draining;     /* answer with "Connection: close" */
    atomic_bool quiesced;     /* the listening socket is closed */
    mm_metric_t *m_requests;  /* by route, method, status */
    mm_metric_t *m_duration;  /* by route */
};

/* One request's state across libmicrohttpd's calls: the body so far. */
typedef struct request_ctx {
    mm_buf_t body;
    bool too_large;
    int64_t started_ns;
} request_ctx_t;

/* Request latency buckets, seconds: 100 us .. 10 s. */
static const double duration_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                         0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};

static mm_err_t add_builtin_routes(mm_httpd_t *httpd, char *errstr, size_t errstr_size);

/* "host:port", ":port", "[v6]:port" -> a socket address. */
static mm_err_t parse_addr(mm_httpd_t *httpd, const char *addr, char *errstr, size_t errstr_size) {
    char host[HOST_MAX] = MM_HTTPD_DEFAULT_HOST;
    const char *port_str = "0";
    if (addr && *addr) {
        const char *colon = strrchr(addr, ':');
        const char *host_begin = addr, *host_end = colon;
        if (addr[0] == '[') {
            const char *close = strchr(addr, ']');
            if (!close || close[1] != ':') colon = NULL;
            host_begin = addr + 1;
            host_end = close;
        }
        if (!colon || !colon[1])
            return mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "HTTP address '%s' is not host:port",
                           addr);
        size_t host_len = (size_t)(host_end - host_begin);
        if (host_len >= sizeof(host))
            return mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "HTTP address '%s': host too long",
                           addr);
        if (host_len > 0) {
            memcpy(host, host_begin, host_len);
            host[host_len] = '\0';
        }
        port_str = colon + 1;
    }
    char *end = NULL;
    long port = strtol(port_str, &end, CONTENT_LEN_RADIX);
    if (*end || port < 0 || port > PORT_MAX)
        return mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "HTTP address '%s': bad port",
                       addr ? addr : "");
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(host, port_str, &hints, &res);
    if (rc != 0 || !res)
        return mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "HTTP address '%s': %s",
                       addr ? addr : "", gai_strerror(rc));
    memcpy(&httpd->addr, res->ai_addr, res->ai_addrlen);
    httpd->addr_len = res->ai_addrlen;
    freeaddrinfo(res);
    return MM_OK;
}

/* The certificate and key, both or neither, copied: the caller's strings are borrowed. */
static mm_err_t tls_copy(mm_httpd_t *httpd, const mm_httpd_opts_t *opts, char *errstr,
                         size_t errstr_size) {
    const char *cert = opts ? opts->tls_cert_pem : NULL, *key = opts ? opts->tls_key_pem : NULL;
    bool has_cert = cert && *cert, has_key = key && *key;
    if (!has_cert && !has_key) return MM_OK;
    if (has_cert != has_key)
        return mm_errf(MM_ERR_CONFIG, errstr, errstr_size,
                       "TLS needs both a certificate and a private key (only the %s was given)",
                       has_cert ? "certificate" : "key");
    httpd->tls_cert = strdup(cert);
    httpd->tls_key = strdup(key);
    if (!httpd->tls_cert || !httpd->tls_key)
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
    return MM_OK;
}

static mm_err_t add_request_metrics(mm_httpd_t *httpd, char *errstr, size_t errstr_size) {
    if (!httpd->opts.request_metrics || !httpd->opts.metrics) return MM_OK;
    httpd->m_requests = mm_metrics_counter(httpd->opts.metrics, "mm_http_requests_total",
                                           "HTTP requests answered, by route, method and status",
                                           "route,method,status", errstr, errstr_size);
    if (!httpd->m_requests) return MM_ERR_CONFIG;
    httpd->m_duration = mm_metrics_histogram(
        httpd->opts.metrics, "mm_http_request_duration_seconds",
        "time from a request's headers to its response being queued, by route", "route",
        duration_bounds, MM_ARRAY_SIZE(duration_bounds), errstr, errstr_size);
    return httpd->m_duration ? MM_OK : MM_ERR_CONFIG;
}

mm_httpd_t *mm_httpd_new(const mm_httpd_opts_t *opts, char *errstr, size_t errstr_size) {
    mm_httpd_t *httpd = calloc(1, sizeof(*httpd));
    if (!httpd) return NULL;
    if (opts) httpd->opts = *opts;
    httpd->opts.addr = NULL; /* borrowed string not kept: parsed here */
    if (!httpd->opts.threads) httpd->opts.threads = MM_HTTPD_DEFAULT_THREADS;
    if (!httpd->opts.max_connections)
        httpd->opts.max_connections = MM_HTTPD_DEFAULT_MAX_CONNECTIONS;
    if (!httpd->opts.timeout_s) httpd->opts.timeout_s = MM_HTTPD_DEFAULT_TIMEOUT_S;
    if (!httpd->opts.max_body) httpd->opts.max_body = MM_HTTPD_DEFAULT_MAX_BODY;
    if (!httpd->opts.max_header) httpd->opts.max_header = MM_HTTPD_DEFAULT_MAX_HEADER;
    httpd->opts.tls_cert_pem = httpd->opts.tls_key_pem = NULL; /* copied below */
    atomic_init(&httpd->in_flight, 0);
    atomic_init(&httpd->draining, false);
    atomic_init(&httpd->quiesced, false);
    pthread_mutex_init(&httpd->ready_lock, NULL);
    snprintf(httpd->ready_reason, sizeof(httpd->ready_reason), "%s", STARTING);
    if (parse_addr(httpd, opts ? opts->addr : NULL, errstr, errstr_size) ||
        tls_copy(httpd, opts, errstr, errstr_size) ||
        add_builtin_routes(httpd, errstr, errstr_size) ||
        add_request_metrics(httpd, errstr, errstr_size)) {
        mm_httpd_destroy(httpd);
        return NULL;
    }
    return httpd;
}

mm_err_t mm_httpd_route(mm_httpd_t *httpd, const char *method, const char *path,
                        mm_httpd_handler_fn handler, void *opaque, char *errstr,
                        size_t errstr_size) {
    if (!httpd || httpd->daemon || !method || !path || path[0] != '/' || !handler)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "route: a method, a path starting with '/' and a handler, before start");
    if (httpd->n_routes == MM_HTTPD_MAX_ROUTES)
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "route %s: more than %d routes", path,
                       MM_HTTPD_MAX_ROUTES);
    route_t *r = &httpd->routes[httpd->n_routes];
    r->method = strdup(method);
    r->path = strdup(path);
    if (!r->method || !r->path) {
        free(r->method);
        free(r->path);
        return MM_ERR_NOMEM;
    }
    r->prefix = path[strlen(path) - 1] == '/';
    r->handler = handler;
    r->opaque = opaque;
    httpd->n_routes++;
    return MM_OK;
}

static bool route_matches(const route_t *r, const char *path) {
    return r->prefix ? strncmp(path, r->path, strlen(r->path)) == 0 : strcmp(path, r->path) == 0;
}

static bool method_matches(const route_t *r, const char *method) {
    return strcmp(r->method, method) == 0 ||
           (strcmp(method, MHD_HTTP_METHOD_HEAD) == 0 && strcmp(r->method, "GET") == 0);
}

/* The longest route for @p path with @p method; *path_known says whether
 * some route had the path under another method (405 rather than 404). */
static const route_t *route_find(const mm_httpd_t *httpd, const char *path, const char *method,
                                 bool *path_known) {
    const route_t *best = NULL;
    *path_known = false;
    for (size_t i = 0; i < httpd->n_routes; i++) {
        const route_t *r = &httpd->routes[i];
        if (!route_matches(r, path)) continue;
        *path_known = true;
        if (method_matches(r, method) && (!best || strlen(r->path) > strlen(best->path))) best = r;
    }
    return best;
}

/* The built-in routes ---------------------------------------------------- */

static void handle_healthz(void *opaque, const mm_httpd_request_t *req, mm_httpd_response_t *resp) {
    (void)opaque;
    (void)req;
    mm_buf_append_str(&resp->body, "ok\n");
}

static void handle_readyz(void *opaque, const mm_httpd_request_t *req, mm_httpd_response_t *resp) {
    mm_httpd_t *httpd = opaque;
    (void)req;
    char reason[REASON_MAX] = "";
    bool ready;
    if (httpd->opts.ready) {
        ready = httpd->opts.ready(httpd->opts.ready_opaque, reason, sizeof(reason));
    } else {
        pthread_mutex_lock(&httpd->ready_lock);
        ready = httpd->ready;
        snprintf(reason, sizeof(reason), "%s", httpd->ready_reason);
        pthread_mutex_unlock(&httpd->ready_lock);
    }
    if (ready) {
        mm_buf_append_str(&resp->body, "ready\n");
        return;
    }
    resp->status = MHD_HTTP_SERVICE_UNAVAILABLE;
    mm_buf_appendf(&resp->body, "not ready: %s\n", reason[0] ? reason : "(no reason given)");
}

static void handle_metrics(void *opaque, const mm_httpd_request_t *req, mm_httpd_response_t *resp) {
    mm_httpd_t *httpd = opaque;
    (void)req;
    resp->content_type = MM_METRICS_CONTENT_TYPE;
    if (httpd->opts.collect) httpd->opts.collect(httpd->opts.collect_opaque);
    if (httpd->opts.metrics && mm_metrics_render(httpd->opts.metrics, &resp->body)) {
        mm_buf_reset(&resp->body);
        resp->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        resp->content_type = TEXT_PLAIN;
        mm_buf_append_str(&resp->body, "metrics too large\n");
    }
}

/* Registered first, so a service route for the same path never replaces them. */
static mm_err_t add_builtin_routes(mm_httpd_t *httpd, char *errstr, size_t errstr_size) {
    static const char *const paths[] = {"/healthz", "/readyz", "/metrics"};
    const mm_httpd_handler_fn handlers[] = {handle_healthz, handle_readyz, handle_metrics};
    for (size_t i = 0; i < MM_ARRAY_SIZE(paths); i++) {
        mm_err_t err =
            mm_httpd_route(httpd, "GET", paths[i], handlers[i], httpd, errstr, errstr_size);
        if (err) return err;
    }
    return MM_OK;
}

/* Routing, without a socket ---------------------------------------------- */

static int64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The server's own error: JSON {"error":{"code","message"}} or a text line. */
static void error_body(const mm_httpd_t *httpd, mm_httpd_response_t *resp, int status,
                       const char *code, const char *message) {
    mm_buf_reset(&resp->body);
    resp->status = status;
    if (httpd->opts.json_errors) {
        resp->content_type = JSON_TYPE;
        mm_buf_appendf(&resp->body, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}\n", code,
                       message);
    } else {
        resp->content_type = TEXT_PLAIN;
        mm_buf_appendf(&resp->body, "%s\n", message);
    }
}

static void response_init(mm_httpd_response_t *resp) {
    resp->status = MHD_HTTP_OK;
    resp->content_type = TEXT_PLAIN;
    mm_buf_init(&resp->body, MM_HTTPD_MAX_RESPONSE);
}

/* "GET, POST": the methods of the routes that match @p path. */
static void allow_list(const mm_httpd_t *httpd, const char *path, char *out, size_t out_size) {
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < httpd->n_routes; i++) {
        const route_t *r = &httpd->routes[i];
        if (!route_matches(r, path) || strstr(out, r->method)) continue;
        int n = snprintf(out + used, out_size - used, "%s%s", used ? ", " : "", r->method);
        if (n < 0 || (size_t)n >= out_size - used) break;
        used += (size_t)n;
    }
}

/* Route @p req (a body over the limit is 413) into @p resp; @p route_label
 * receives the matched route's path (bounded: never the request's own path). */
static void route_request(mm_httpd_t *httpd, const mm_httpd_request_t *req, bool too_large,
                          mm_httpd_response_t *resp, const char **route_label, char *allow,
                          size_t allow_size) {
    bool path_known = false;
    const route_t *r = route_find(httpd, req->path, req->method, &path_known);
    *route_label = r ? r->path : ROUTE_OTHER;
    allow[0] = '\0';
    if (!r && !path_known) {
        error_body(httpd, resp, MHD_HTTP_NOT_FOUND, "not_found", "not found");
    } else if (!r) {
        allow_list(httpd, req->path, allow, allow_size);
        error_body(httpd, resp, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
                   "method not allowed");
    } else if (too_large) {
        error_body(httpd, resp, MHD_HTTP_CONTENT_TOO_LARGE, "body_too_large",
                   "request body too large");
    } else {
        r->handler(r->opaque, req, resp);
        if (!resp->content_type) resp->content_type = TEXT_PLAIN;
    }
}

/* A method label from a bounded set. */
static const char *method_label(const char *method) {
    static const char *const known[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
    for (size_t i = 0; i < MM_ARRAY_SIZE(known); i++)
        if (strcmp(method, known[i]) == 0) return known[i];
    return ROUTE_OTHER;
}

static void count_request(mm_httpd_t *httpd, const char *route, const char *method, int status,
                          int64_t started_ns) {
    if (!httpd->m_requests) return;
    char status_str[STATUS_LABEL_MAX];
    snprintf(status_str, sizeof(status_str), "%d", status);
    const char *labels[] = {route, method_label(method), status_str};
    mm_metric_add(httpd->m_requests, labels, 1);
    const char *route_only[] = {route};
    mm_metric_observe(httpd->m_duration, route_only, (double)(mono_ns() - started_ns) / 1e9);
}

void mm_httpd_handle(mm_httpd_t *httpd, const mm_httpd_request_t *req, mm_httpd_response_t *resp) {
    response_init(resp);
    if (!httpd || !req || !req->method || !req->path) {
        resp->status = MHD_HTTP_BAD_REQUEST;
        mm_buf_append_str(&resp->body, "bad request\n");
        return;
    }
    int64_t started = mono_ns();
    char allow[ALLOW_HEADER_MAX];
    const char *route = ROUTE_OTHER;
    route_request(httpd, req, req->body_len > httpd->opts.max_body, resp, &route, allow,
                  sizeof(allow));
    count_request(httpd, route, req->method, resp->status, started);
}

/* libmicrohttpd callbacks ------------------------------------------------- */

static enum MHD_Result send_response(mm_httpd_t *httpd, struct MHD_Connection *connection,
                                     const mm_httpd_response_t *resp, const char *allow) {
    struct MHD_Response *response =
        MHD_create_response_from_buffer(resp->body.len, resp->body.data, MHD_RESPMEM_MUST_COPY);
    if (!response) return MHD_NO;
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
    if (allow && *allow) MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, allow);
    if (atomic_load(&httpd->draining))
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(connection, (unsigned)resp->status, response);
    MHD_destroy_response(response);
    return ret;
}

/* Route the request received on @p connection and queue the answer. */
static enum MHD_Result dispatch(mm_httpd_t *httpd, struct MHD_Connection *connection,
                                const char *path, const char *method, request_ctx_t *ctx) {
    mm_httpd_request_t req = {.method = method,
                              .path = path,
                              .body = ctx->body.data,
                              .body_len = ctx->body.len,
                              .connection = connection};
    mm_httpd_response_t resp;
    response_init(&resp);
    char allow[ALLOW_HEADER_MAX];
    const char *route = ROUTE_OTHER;
    route_request(httpd, &req, ctx->too_large, &resp, &route, allow, sizeof(allow));
    enum MHD_Result ret = send_response(httpd, connection, &resp, allow);
    count_request(httpd, route, method, resp.status, ctx->started_ns);
    mm_buf_free(&resp.body);
    return ret;
}

/* The declared Content-Length exceeds @p limit. */
static bool declared_too_large(struct MHD_Connection *connection, size_t limit) {
    const char *cl =
        MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!cl) return false;
    char *end = NULL;
    unsigned long long n = strtoull(cl, &end, CONTENT_LEN_RADIX);
    return end != cl && n > limit;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
    mm_httpd_t *httpd = cls;
    (void)version;
    request_ctx_t *ctx = *con_cls;
    if (!ctx) {
        ctx = calloc(1, sizeof(*ctx));
        if (!ctx) return MHD_NO;
        mm_buf_init(&ctx->body, httpd->opts.max_body);
        ctx->started_ns = mono_ns();
        *con_cls = ctx;
        atomic_fetch_add(&httpd->in_flight, 1);
        if (declared_too_large(connection, httpd->opts.max_body)) {
            ctx->too_large = true;
            return dispatch(httpd, connection, url, method, ctx);
        }
        return MHD_YES; /* headers only; the body, if any, comes in the next calls */
    }
    if (*upload_data_size > 0) {
        if (!ctx->too_large && mm_buf_append(&ctx->body, upload_data, *upload_data_size))
            ctx->too_large = true;
        *upload_data_size = 0; /* past the limit the rest is read and dropped, not kept */
        return MHD_YES;
    }
    return dispatch(httpd, connection, url, method, ctx);
}

static void on_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    mm_httpd_t *httpd = cls;
    (void)connection;
    (void)toe;
    request_ctx_t *ctx = *con_cls;
    if (!ctx) return;
    atomic_fetch_sub(&httpd->in_flight, 1);
    mm_buf_free(&ctx->body);
    free(ctx);
    *con_cls = NULL;
}

static void on_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char line[LOG_LINE_MAX];
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && line[n - 1] == '\n') line[--n] = '\0';
    mm_log_warn("httpd", "%s", line);
}

mm_err_t mm_httpd_start(mm_httpd_t *httpd, char *errstr, size_t errstr_size) {
    if (!httpd || httpd->daemon)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "httpd: already started");
    /* ITC: needed to quiesce (mm_httpd_drain) a daemon with a thread pool. */
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    if (httpd->addr.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    if (httpd->tls_cert) flags |= MHD_USE_TLS;
    struct MHD_OptionItem tls[] = {
        {httpd->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, httpd->tls_cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, httpd->tls_key},
        {MHD_OPTION_END, 0, NULL},
    };
    httpd->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, httpd, MHD_OPTION_EXTERNAL_LOGGER, on_log, httpd,
        MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&httpd->addr, MHD_OPTION_THREAD_POOL_SIZE,
        httpd->opts.threads > 1 ? httpd->opts.threads : 0, MHD_OPTION_CONNECTION_LIMIT,
        httpd->opts.max_connections, MHD_OPTION_CONNECTION_TIMEOUT, httpd->opts.timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, httpd->opts.max_header + (size_t)CONN_BUFFERS,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, httpd, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
    if (!httpd->daemon)
        return mm_errf(MM_ERR_IO, errstr, errstr_size,
                       "HTTP server could not start (address in use or not available%s?)",
                       httpd->tls_cert ? ", or a certificate or key that does not parse" : "");
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(httpd->daemon, MHD_DAEMON_INFO_BIND_PORT);
    httpd->port = info ? info->port : 0;
    return MM_OK;
}

int mm_httpd_in_flight(const mm_httpd_t *httpd) {
    return httpd ? atomic_load(&((mm_httpd_t *)httpd)->in_flight) : 0;
}

int mm_httpd_drain(mm_httpd_t *httpd, int64_t timeout_ms) {
    if (!httpd || !httpd->daemon) return 0;
    atomic_store(&httpd->draining, true);
    if (!atomic_exchange(&httpd->quiesced, true)) {
        MHD_socket fd = MHD_quiesce_daemon(httpd->daemon);
        if (fd != MHD_INVALID_SOCKET) close(fd);
    }
    int64_t deadline = mm_mono_ms() + timeout_ms;
    int left;
    while ((left = atomic_load(&httpd->in_flight)) > 0 && mm_mono_ms() < deadline)
        mm_sleep_ms(DRAIN_POLL_MS, NULL);
    return left;
}

uint16_t mm_httpd_port(const mm_httpd_t *httpd) {
    return httpd ? httpd->port : 0;
}

void mm_httpd_set_ready(mm_httpd_t *httpd, bool ready, const char *reason) {
    if (!httpd) return;
    pthread_mutex_lock(&httpd->ready_lock);
    snprintf(httpd->ready_reason, sizeof(httpd->ready_reason), "%s", reason ? reason : "");
    httpd->ready = ready;
    pthread_mutex_unlock(&httpd->ready_lock);
}

const char *mm_httpd_request_header(const mm_httpd_request_t *req, const char *name) {
    if (!req || !name) return NULL;
    if (req->connection) return MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND, name);
    for (size_t i = 0; i < req->n_headers; i++)
        if (req->headers[i].name && strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

const char *mm_httpd_request_query(const mm_httpd_request_t *req, const char *name) {
    if (!req || !req->connection || !name) return NULL;
    return MHD_lookup_connection_value(req->connection, MHD_GET_ARGUMENT_KIND, name);
}

void mm_httpd_destroy(mm_httpd_t *httpd) {
    if (!httpd) return;
    if (httpd->daemon) MHD_stop_daemon(httpd->daemon);
    for (size_t i = 0; i < httpd->n_routes; i++) {
        free(httpd->routes[i].method);
        free(httpd->routes[i].path);
    }
    pthread_mutex_destroy(&httpd->ready_lock);
    if (httpd->tls_key) OPENSSL_cleanse(httpd->tls_key, strlen(httpd->tls_key));
    free(httpd->tls_key);
    free(httpd->tls_cert);
    free(httpd);
}
