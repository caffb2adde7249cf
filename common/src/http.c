/*
 * http.c - one HTTP request at a time over a libcurl easy handle (see http.h).
 *
 * Workload: blob traffic - a handful of requests per model artifact, bodies
 * from a few KiB to tens of MiB, sent to one endpoint over and over. The easy
 * handle is reset between requests but keeps its connection cache, so
 * consecutive requests to the same host reuse one TCP/TLS connection.
 */
#include "mm/http.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "mm/clock.h"
#include "mm/redact.h"

struct mm_http {
    CURL *curl;
    char curl_err[CURL_ERROR_SIZE];
};

/* Upload state for CURLOPT_READFUNCTION. */
typedef struct http_upload {
    const uint8_t *data;
    size_t len;
    size_t off;
} http_upload_t;

/* Response capture state shared by the write and header callbacks. */
typedef struct http_capture {
    mm_http_response_t *resp;
    size_t max_body;
    int body_too_big;
    int header_oom;
} http_capture_t;

/* Stall watch for CURLOPT_XFERINFOFUNCTION: when a byte last moved either way. */
typedef struct http_stall {
    long limit_ms; /* 0: not watched */
    curl_off_t dl, ul;
    int64_t moved_ms;
    int stalled;
} http_stall_t;

/* Called by libcurl at least once a second, also while nothing moves. */
static int http_xferinfo_cb(void *opaque, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                            curl_off_t ulnow) {
    http_stall_t *stall = opaque;
    (void)dltotal;
    (void)ultotal;
    int64_t now = mm_mono_ms();
    if (dlnow != stall->dl || ulnow != stall->ul) {
        stall->dl = dlnow;
        stall->ul = ulnow;
        stall->moved_ms = now;
        return 0;
    }
    if (now - stall->moved_ms < stall->limit_ms) return 0;
    stall->stalled = 1;
    return 1; /* abort: CURLE_ABORTED_BY_CALLBACK */
}

static pthread_once_t http_global_once = PTHREAD_ONCE_INIT;
static CURLcode http_global_rc;

/* curl_global_init is not thread-safe in every libcurl we may meet; run it
 * exactly once, whichever thread opens the first handle. */
static void http_global_init(void) {
    http_global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

mm_http_t *mm_http_new(char *errstr, size_t errstr_size) {
    pthread_once(&http_global_once, http_global_init);
    if (http_global_rc != CURLE_OK) {
        mm_errf(MM_ERR_TRANSPORT, errstr, errstr_size, "curl_global_init: %s",
                curl_easy_strerror(http_global_rc));
        return NULL;
    }
    mm_http_t *http = calloc(1, sizeof(*http));
    if (!http) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    http->curl = curl_easy_init();
    if (!http->curl) {
        free(http);
        mm_errf(MM_ERR_TRANSPORT, errstr, errstr_size, "curl_easy_init failed");
        return NULL;
    }
    return http;
}

void mm_http_destroy(mm_http_t *http) {
    if (!http) return;
    curl_easy_cleanup(http->curl);
    free(http);
}

void mm_http_response_clear(mm_http_response_t *resp) {
    if (!resp) return;
    mm_buf_free(&resp->body);
    for (size_t i = 0; i < resp->n_headers; i++) {
        free(resp->header_names[i]);
        free(resp->header_values[i]);
        resp->header_names[i] = resp->header_values[i] = NULL;
    }
    resp->n_headers = 0;
    resp->status = 0;
}

const char *mm_http_response_header(const mm_http_response_t *resp, const char *name) {
    for (size_t i = 0; i < resp->n_headers; i++)
        if (strcasecmp(resp->header_names[i], name) == 0) return resp->header_values[i];
    return NULL;
}

static size_t http_read_cb(char *ptr, size_t size, size_t nmemb, void *userdata) {
    http_upload_t *up = userdata;
    size_t room = size * nmemb;
    size_t left = up->len - up->off;
    size_t n = left < room ? left : room;
    if (n) memcpy(ptr, up->data + up->off, n);
    up->off += n;
    return n;
}

static int http_seek_cb(void *userdata, curl_off_t offset, int origin) {
    http_upload_t *up = userdata;
    /* curl rewinds the upload when it must resend the body (e.g. after an
     * auth challenge or a reused connection that turned out to be dead). */
    if (origin != SEEK_SET || offset < 0 || (size_t)offset > up->len) return CURL_SEEKFUNC_FAIL;
    up->off = (size_t)offset;
    return CURL_SEEKFUNC_OK;
}

static size_t http_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata) {
    http_capture_t *cap = userdata;
    size_t n = size * nmemb;
    if (cap->resp->body.len + n > cap->max_body) {
        cap->body_too_big = 1;
        return 0; /* makes curl fail with CURLE_WRITE_ERROR */
    }
    if (mm_buf_append(&cap->resp->body, ptr, n) != MM_OK) {
        cap->body_too_big = 1;
        return 0;
    }
    return n;
}

static void http_headers_reset(mm_http_response_t *resp) {
    for (size_t i = 0; i < resp->n_headers; i++) {
        free(resp->header_names[i]);
        free(resp->header_values[i]);
        resp->header_names[i] = resp->header_values[i] = NULL;
    }
    resp->n_headers = 0;
}

static size_t http_header_cb(char *ptr, size_t size, size_t nmemb, void *userdata) {
    http_capture_t *cap = userdata;
    mm_http_response_t *resp = cap->resp;
    size_t n = size * nmemb;
    /* A new status line starts a new header block (1xx interim responses,
     * redirects): keep only the final response's headers. */
    if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
        http_headers_reset(resp);
        return n;
    }
    const char *colon = memchr(ptr, ':', n);
    if (!colon || colon == ptr) return n; /* blank line or a folded line: ignored */
    if (resp->n_headers >= MM_HTTP_MAX_RESP_HEADERS) return n;
    size_t name_len = (size_t)(colon - ptr);
    const char *v = colon + 1;
    const char *end = ptr + n;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    char *name = malloc(name_len + 1);
    char *value = malloc((size_t)(end - v) + 1);
    if (!name || !value) {
        free(name);
        free(value);
        cap->header_oom = 1;
        return 0;
    }
    for (size_t i = 0; i < name_len; i++) name[i] = (char)tolower((unsigned char)ptr[i]);
    name[name_len] = 0;
    memcpy(value, v, (size_t)(end - v));
    value[end - v] = 0;
    resp->header_names[resp->n_headers] = name;
    resp->header_values[resp->n_headers] = value;
    resp->n_headers++;
    return n;
}

/* Every curl_easy_setopt goes through this so a failure names the option. */
#define HTTP_SETOPT(curl, opt, val)                                                                \
    do {                                                                                           \
        CURLcode setopt_rc_ = curl_easy_setopt((curl), (opt), (val));                              \
        if (setopt_rc_ != CURLE_OK) {                                                              \
            err = mm_errf(MM_ERR_TRANSPORT, errstr, errstr_size, "curl_easy_setopt(%s): %s", #opt, \
                          curl_easy_strerror(setopt_rc_));                                         \
            goto done;                                                                             \
        }                                                                                          \
    } while (0)

mm_err_t mm_http_perform(mm_http_t *http, const mm_http_request_t *req, mm_http_response_t *resp,
                         char *errstr, size_t errstr_size) {
    mm_err_t err = MM_OK;
    struct curl_slist *headers = NULL;
    char line[8192];
    if (!http || !req || !req->method || !req->url || !resp)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "http: missing request or url");

    mm_http_response_clear(resp);
    size_t max_body = req->max_response_bytes ? req->max_response_bytes : MM_BUF_CAP_HTTP_BODY;
    mm_buf_init(&resp->body, max_body);
    http_upload_t upload = {.data = req->body, .len = req->body ? req->body_len : 0};
    http_capture_t cap = {.resp = resp, .max_body = max_body};
    http_stall_t stall = {0};
    CURL *curl = http->curl;
    curl_easy_reset(curl);
    http->curl_err[0] = 0;

    HTTP_SETOPT(curl, CURLOPT_ERRORBUFFER, http->curl_err);
    HTTP_SETOPT(curl, CURLOPT_URL, req->url);
    HTTP_SETOPT(curl, CURLOPT_NOSIGNAL, 1L);
    HTTP_SETOPT(curl, CURLOPT_CONNECTTIMEOUT_MS,
                req->connect_timeout_ms > 0 ? req->connect_timeout_ms : 5000L);
    HTTP_SETOPT(curl, CURLOPT_TIMEOUT_MS,
                req->total_timeout_ms > 0 ? req->total_timeout_ms : 60000L);
    if (req->stall_timeout_ms > 0) {
        /* Not CURLOPT_LOW_SPEED_*: that averages over a window, so the burst of a request
         * body keeps a transfer "moving" for seconds after the server stopped answering. */
        stall.limit_ms = req->stall_timeout_ms;
        stall.moved_ms = mm_mono_ms();
        HTTP_SETOPT(curl, CURLOPT_XFERINFOFUNCTION, http_xferinfo_cb);
        HTTP_SETOPT(curl, CURLOPT_XFERINFODATA, &stall);
        HTTP_SETOPT(curl, CURLOPT_NOPROGRESS, 0L);
    }
    HTTP_SETOPT(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    HTTP_SETOPT(curl, CURLOPT_FOLLOWLOCATION, 0L);
    HTTP_SETOPT(curl, CURLOPT_WRITEFUNCTION, http_write_cb);
    HTTP_SETOPT(curl, CURLOPT_WRITEDATA, &cap);
    HTTP_SETOPT(curl, CURLOPT_HEADERFUNCTION, http_header_cb);
    HTTP_SETOPT(curl, CURLOPT_HEADERDATA, &cap);

    int has_content_type = 0;
    for (size_t i = 0; i < req->n_headers; i++) {
        const mm_http_header_t *h = &req->headers[i];
        /* Content-Length comes from body_len; a second one would be a protocol error. */
        if (strcasecmp(h->name, "Content-Length") == 0) continue;
        if (strcasecmp(h->name, "Content-Type") == 0) has_content_type = 1;
        int n = h->value && h->value[0] ? snprintf(line, sizeof(line), "%s: %s", h->name, h->value)
                                        : snprintf(line, sizeof(line), "%s;", h->name);
        if (n < 0 || (size_t)n >= sizeof(line)) {
            err = mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "http: header %s too long",
                          h->name);
            goto done;
        }
        struct curl_slist *next = curl_slist_append(headers, line);
        if (!next) {
            err = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "http: out of memory");
            goto done;
        }
        headers = next;
    }
    /* No "Expect: 100-continue" round trip before a body, and no default
     * form Content-Type on POST: both would change what was signed. */
    const char *extra[2] = {"Expect:", has_content_type ? NULL : "Content-Type:"};
    for (size_t i = 0; i < 2; i++) {
        if (!extra[i]) continue;
        struct curl_slist *next = curl_slist_append(headers, extra[i]);
        if (!next) {
            err = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "http: out of memory");
            goto done;
        }
        headers = next;
    }
    HTTP_SETOPT(curl, CURLOPT_HTTPHEADER, headers);

    if (strcmp(req->method, "GET") == 0) {
        HTTP_SETOPT(curl, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(req->method, "HEAD") == 0) {
        HTTP_SETOPT(curl, CURLOPT_NOBODY, 1L);
    } else if (strcmp(req->method, "PUT") == 0) {
        HTTP_SETOPT(curl, CURLOPT_UPLOAD, 1L);
        HTTP_SETOPT(curl, CURLOPT_READFUNCTION, http_read_cb);
        HTTP_SETOPT(curl, CURLOPT_READDATA, &upload);
        HTTP_SETOPT(curl, CURLOPT_SEEKFUNCTION, http_seek_cb);
        HTTP_SETOPT(curl, CURLOPT_SEEKDATA, &upload);
        HTTP_SETOPT(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)upload.len);
    } else if (strcmp(req->method, "POST") == 0) {
        HTTP_SETOPT(curl, CURLOPT_POST, 1L);
        HTTP_SETOPT(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)upload.len);
        HTTP_SETOPT(curl, CURLOPT_POSTFIELDS, upload.len ? (const char *)upload.data : "");
    } else {
        HTTP_SETOPT(curl, CURLOPT_CUSTOMREQUEST, req->method);
        if (upload.len) {
            HTTP_SETOPT(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)upload.len);
            HTTP_SETOPT(curl, CURLOPT_POSTFIELDS, (const char *)upload.data);
        }
    }

    CURLcode rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) {
        const char *why = http->curl_err[0] ? http->curl_err : curl_easy_strerror(rc);
        if (cap.body_too_big)
            err = mm_errf(MM_ERR_NOMEM, errstr, errstr_size,
                          "%s %s: response body larger than %zu bytes", req->method, req->url,
                          max_body);
        else if (cap.header_oom)
            err = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "%s %s: out of memory", req->method,
                          req->url);
        else if (stall.stalled)
            err = mm_errf(MM_ERR_TIMEOUT, errstr, errstr_size,
                          "%s %s: stalled: no byte sent or received for %ld ms", req->method,
                          req->url, stall.limit_ms);
        else if (rc == CURLE_OPERATION_TIMEDOUT)
            err = mm_errf(MM_ERR_TIMEOUT, errstr, errstr_size, "%s %s: %s", req->method, req->url,
                          why);
        else
            err = mm_errf(MM_ERR_TRANSPORT, errstr, errstr_size, "%s %s: %s", req->method, req->url,
                          why);
        /* The URL may carry a SAS token: keep it out of the error. */
        mm_redact_into(errstr, errstr, errstr_size);
        long status = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        resp->status = status;
        goto done;
    }
    long status = 0;
    if (curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK) status = 0;
    resp->status = status;
    /* Callers may treat the body as a string even when nothing arrived. */
    if (!resp->body.data && mm_buf_append(&resp->body, "", 0) != MM_OK)
        err = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "http: out of memory");

done:
    /* Detach the stack-owned buffers from the handle before returning. */
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(headers);
    return err;
}

mm_err_t mm_http_status_err(long status) {
    if (status >= 200 && status < 300) return MM_OK;
    switch (status) {
    case 404:
        return MM_ERR_NOT_FOUND;
    case 409:
    case 412:
        return MM_ERR_EXISTS;
    case 401:
    case 403:
        return MM_ERR_AUTH;
    case 408:
    case 429:
        return MM_ERR_THROTTLED;
    default:
        break;
    }
    if (status >= 500 && status < 600) return MM_ERR_THROTTLED;
    if (status == 0) return MM_ERR_TRANSPORT;
    return MM_ERR_HTTP;
}

char *mm_url_encode(const char *s, const char *keep) {
    static const char hex[] = "0123456789ABCDEF";
    size_t len = strlen(s);
    char *out = malloc(3 * len + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~' || (c && keep && strchr(keep, c))) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = 0;
    return out;
}

void mm_http_date_now(char out[40]) {
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    /* Spelled out rather than strftime so the C locale never matters. */
    snprintf(out, 40, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday,
             months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}
