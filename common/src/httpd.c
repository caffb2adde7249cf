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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "mm/log.h"
#include "mm/util.h"

#define HOST_MAX          256
#define PORT_MAX          65535
#define REASON_MAX        256
#define HEADER_MEMORY     (64u * 1024u) /* per connection: request line and headers */
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
};

/* One request's state across libmicrohttpd's calls: the body so far. */
typedef struct request_ctx {
    mm_buf_t body;
    bool too_large;
} request_ctx_t;

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
    pthread_mutex_init(&httpd->ready_lock, NULL);
    snprintf(httpd->ready_reason, sizeof(httpd->ready_reason), "%s", STARTING);
    if (parse_addr(httpd, opts ? opts->addr : NULL, errstr, errstr_size) ||
        add_builtin_routes(httpd, errstr, errstr_size)) {
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

/* libmicrohttpd callbacks ------------------------------------------------- */

static enum MHD_Result send_response(struct MHD_Connection *connection, int status,
                                     const char *content_type, const mm_buf_t *body,
                                     const char *allow) {
    struct MHD_Response *response =
        MHD_create_response_from_buffer(body->len, body->data, MHD_RESPMEM_MUST_COPY);
    if (!response) return MHD_NO;
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    if (allow) MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result ret = MHD_queue_response(connection, (unsigned)status, response);
    MHD_destroy_response(response);
    return ret;
}

static enum MHD_Result send_text(struct MHD_Connection *connection, int status, const char *text,
                                 const char *allow) {
    mm_buf_t body;
    mm_buf_init(&body, 0);
    mm_buf_append_str(&body, text);
    enum MHD_Result ret = send_response(connection, status, TEXT_PLAIN, &body, allow);
    mm_buf_free(&body);
    return ret;
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

static enum MHD_Result dispatch(mm_httpd_t *httpd, struct MHD_Connection *connection,
                                const char *path, const char *method, const mm_buf_t *body) {
    bool path_known = false;
    const route_t *r = route_find(httpd, path, method, &path_known);
    if (!r) {
        if (!path_known) return send_text(connection, MHD_HTTP_NOT_FOUND, "not found\n", NULL);
        char allow[ALLOW_HEADER_MAX];
        allow_list(httpd, path, allow, sizeof(allow));
        return send_text(connection, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n", allow);
    }
    mm_httpd_request_t req = {.method = method,
                              .path = path,
                              .body = body->data,
                              .body_len = body->len,
                              .connection = connection};
    mm_httpd_response_t resp = {.status = MHD_HTTP_OK, .content_type = TEXT_PLAIN};
    mm_buf_init(&resp.body, MM_HTTPD_MAX_RESPONSE);
    r->handler(r->opaque, &req, &resp);
    enum MHD_Result ret =
        send_response(connection, resp.status, resp.content_type ? resp.content_type : TEXT_PLAIN,
                      &resp.body, NULL);
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
        *con_cls = ctx;
        if (declared_too_large(connection, httpd->opts.max_body))
            return send_text(connection, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large\n",
                             NULL);
        return MHD_YES; /* headers only; the body, if any, comes in the next calls */
    }
    if (*upload_data_size > 0) {
        if (!ctx->too_large && mm_buf_append(&ctx->body, upload_data, *upload_data_size))
            ctx->too_large = true;
        *upload_data_size = 0; /* past the limit the rest is read and dropped, not kept */
        return MHD_YES;
    }
    if (ctx->too_large)
        return send_text(connection, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large\n", NULL);
    return dispatch(httpd, connection, url, method, &ctx->body);
}

static void on_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)connection;
    (void)toe;
    request_ctx_t *ctx = *con_cls;
    if (!ctx) return;
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
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (httpd->addr.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    httpd->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, httpd, MHD_OPTION_EXTERNAL_LOGGER, on_log, httpd,
        MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&httpd->addr, MHD_OPTION_THREAD_POOL_SIZE,
        httpd->opts.threads, MHD_OPTION_CONNECTION_LIMIT, httpd->opts.max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, httpd->opts.timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)HEADER_MEMORY, MHD_OPTION_NOTIFY_COMPLETED, on_completed, httpd, MHD_OPTION_END);
    if (!httpd->daemon)
        return mm_errf(MM_ERR_IO, errstr, errstr_size,
                       "HTTP server could not start (address in use or not available?)");
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(httpd->daemon, MHD_DAEMON_INFO_BIND_PORT);
    httpd->port = info ? info->port : 0;
    return MM_OK;
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
    if (!req || !req->connection || !name) return NULL;
    return MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND, name);
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
    free(httpd);
}
