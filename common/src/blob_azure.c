/*
 * blob_azure.c - the Azure Blob Storage backend over its REST API (through
 * http.h only), for Azure itself and for Azurite.
 *
 * Workload: a few requests per trained or promoted model (put, get, copy) and
 * occasional listings of a prefix with thousands of names; every request goes
 * to the same endpoint, so one keep-alive connection per handle serves all.
 *
 * Authorization is SharedKey (account key; every attempt is re-signed with a
 * fresh x-ms-date), a SAS token appended to the query, or none (public
 * containers). Transport failures, timeouts, 408, 429 and 5xx are retried with
 * mm_backoff_ms; other 4xx never are. A request on which no byte moves for
 * the stall timeout (5 s) fails as a timeout, so a hung server (a stopped
 * process still accepts connections) is retried in seconds, not after the
 * total timeout. Every retry is logged (warn, event blob_retry).
 * References (learn.microsoft.com/rest/api/storageservices):
 * authorize-with-shared-key, create-account-sas, put-blob, get-blob,
 * list-blobs, delete-blob, copy-blob, create-container.
 *
 * This file opens a store (URL forms, path style), runs the request loop
 * with its retries, and carries out the operations; the signatures are
 * computed in blob_azure_sign.c and the XML answers read in blob_azure_xml.c,
 * neither of which calls back into this file.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "blob_int.h"
#include "mm/http.h"
#include "mm/log.h"
#include "mm/sha256.h"
#include "mm/util.h"

#define AZ_MAX_QUERY   6
#define AZ_MAX_HEADERS 16
/* One page of a List Blobs response: 5000 names of up to 1 KiB plus properties. */
#define AZ_LIST_BODY_CAP (32u * 1024u * 1024u)
/* Error bodies are short XML documents; more than this is not worth keeping. */
#define AZ_ERROR_BODY_CAP (64u * 1024u)
/* Growth caps of request URLs and the canonicalized resource (a name is at
 * most 1024 characters, three times that percent-encoded). */
#define AZ_URL_CAP (64u * 1024u)
/* ...of the URL path of one blob, and of the store's own path parts. */
#define AZ_URL_PATH_CAP   16384u
#define AZ_STORE_PATH_CAP 4096u
/* Segments of a store URL's path: [account/]container[/name prefix...]. */
#define AZ_MAX_PATH_SEGMENTS 64

/* Defaults for the mm_blob_opts_t fields left 0. */
#define AZ_DEFAULT_CONNECT_TIMEOUT_MS 5000L
#define AZ_DEFAULT_TOTAL_TIMEOUT_MS   60000L
#define AZ_DEFAULT_STALL_TIMEOUT_MS   5000L
#define AZ_DEFAULT_MAX_RETRIES        5
#define AZ_DEFAULT_RETRY_BASE_MS      200
#define AZ_DEFAULT_RETRY_CAP_MS       10000

/* A pending server-side copy is polled with doubling delays up to a cap, for
 * at most this many request timeouts. */
#define AZ_COPY_POLL_FIRST_MS       100
#define AZ_COPY_POLL_MAX_MS         2000
#define AZ_COPY_POLL_TIMEOUT_FACTOR 10
/* A listing of more pages than this is a service looping on its marker. */
#define AZ_LIST_MAX_PAGES 1000000

typedef struct blob_azure {
    mm_http_t *http;
    char *origin;  /* "https://acct.blob.core.windows.net" or "http://127.0.0.1:10000" */
    char *account; /* for SharedKey and the canonicalized resource */
    char *container;
    char *base_path;   /* URL path of the container: "/container" or "/acct/container" */
    char *name_prefix; /* "" or "dir/sub/" put in front of every name */
    char *account_key; /* base64; NULL when not using SharedKey */
    char *sas_token;   /* without '?'; NULL when unused */
    long connect_timeout_ms;
    long total_timeout_ms;
    long stall_timeout_ms;
    int max_retries;
    int64_t retry_base_ms;
    int64_t retry_cap_ms;
    int page_size; /* maxresults for List Blobs; 0 = service default */
} blob_azure_t;

/* One logical request; az_perform turns it into signed HTTP attempts. */
typedef struct az_req {
    const char *method;
    const char *name; /* blob name without name_prefix; NULL for the container itself */
    const char *query_names[AZ_MAX_QUERY];  /* lower-case, in ascending order */
    const char *query_values[AZ_MAX_QUERY]; /* raw (not yet percent-encoded) */
    size_t n_query;
    mm_http_header_t headers[AZ_MAX_HEADERS];
    size_t n_headers;
    const void *body;
    size_t body_len;
    size_t max_response_bytes;
} az_req_t;

/* ---- URL handling ---- */

/*
 * Percent-encode a blob name for the URL path: unreserved characters, '/'
 * between segments and '=' (legal in a path segment, and common in partition
 * keys) stay as they are; everything else, '%' included, is encoded, so a
 * name holding "%2F" travels as "%252F" and keeps its literal '%'.
 */
static char *az_encode_path(const char *s) {
    return mm_url_encode(s, "/=");
}

/* Does @p host name an endpoint that puts the account in the path (Azurite,
 * an IP address, a bare container host name like "azurite")? */
static bool az_host_is_path_style(const char *host, size_t len) {
    if (len == 0) return true;
    if (host[0] == '[') return true;
    if (len == 9 && strncasecmp(host, "localhost", 9) == 0) return true;
    bool all_ip = true, has_dot = false;
    for (size_t i = 0; i < len; i++) {
        if (host[i] == '.')
            has_dot = true;
        else if (!isdigit((unsigned char)host[i]))
            all_ip = false;
    }
    return all_ip || !has_dot;
}

static void az_free(blob_azure_t *az) {
    if (!az) return;
    mm_http_destroy(az->http);
    free(az->origin);
    free(az->account);
    free(az->container);
    free(az->base_path);
    free(az->name_prefix);
    free(az->account_key);
    free(az->sas_token);
    free(az);
}

static mm_err_t az_perform(blob_azure_t *az, const az_req_t *req, mm_http_response_t *resp,
                           const char *what, char *errstr, size_t errstr_size);

static mm_err_t az_create_container(blob_azure_t *az, char *errstr, size_t errstr_size) {
    az_req_t req = {
        .method = "PUT", .query_names = {"restype"}, .query_values = {"container"}, .n_query = 1};
    mm_http_response_t resp = {0};
    char what[512];
    snprintf(what, sizeof(what), "create container %s", az->container);
    mm_err_t err = az_perform(az, &req, &resp, what, errstr, errstr_size);
    if (err == MM_ERR_EXISTS) {
        const char *code = mm_http_response_header(&resp, "x-ms-error-code");
        if (!code || strcmp(code, "ContainerAlreadyExists") == 0) err = MM_OK;
    }
    mm_http_response_clear(&resp);
    return err;
}

/* The store's base path and name prefix from the path segments after the
 * account (path style) or from the first (account in the host name). */
static mm_err_t az_set_paths(blob_azure_t *az, char *const *segs, size_t n_segs, bool path_style) {
    size_t first = path_style ? 1 : 0;
    if (!(az->container = strdup(segs[first]))) return MM_ERR_NOMEM;
    mm_buf_t b;
    mm_buf_init(&b, AZ_STORE_PATH_CAP);
    mm_err_t e = path_style ? mm_buf_appendf(&b, "/%s/%s", segs[0], segs[1])
                            : mm_buf_appendf(&b, "/%s", segs[0]);
    if (e) {
        mm_buf_free(&b);
        return MM_ERR_NOMEM;
    }
    az->base_path = (char *)mm_buf_steal(&b, NULL);
    mm_buf_init(&b, AZ_STORE_PATH_CAP);
    for (size_t i = first + 1; i < n_segs && !e; i++) e = mm_buf_appendf(&b, "%s/", segs[i]);
    if (!e && !b.data) e = mm_buf_append(&b, "", 0);
    if (e) {
        mm_buf_free(&b);
        return MM_ERR_NOMEM;
    }
    az->name_prefix = (char *)mm_buf_steal(&b, NULL);
    return MM_OK;
}

/*
 * Origin, account, container, base path and name prefix from @p url:
 * "https://ACCOUNT.blob.core.windows.net/CONTAINER[/prefix...]" or, path
 * style, "http://host:port/ACCOUNT/CONTAINER[/prefix...]".
 */
static mm_err_t az_locate(blob_azure_t *az, const char *url, char *errstr, size_t errstr_size) {
    const char *after_scheme = strstr(url, "://") + 3;
    const char *path = strchr(after_scheme, '/');
    if (!path) path = after_scheme + strlen(after_scheme);
    size_t authority_len = (size_t)(path - after_scheme);
    const char *host = after_scheme;
    size_t host_len = authority_len;
    if (memchr(host, '@', authority_len))
        return mm_errf(MM_ERR_CONFIG, errstr, errstr_size,
                       "blob: %s: credentials in the URL are not supported; use the account key "
                       "or SAS options",
                       url);
    if (host[0] != '[') {
        const char *colon = memchr(host, ':', authority_len);
        if (colon) host_len = (size_t)(colon - host);
    }
    bool path_style = az_host_is_path_style(host, host_len);

    /* Split the path into non-empty segments: [account/]container[/prefix...]. */
    mm_err_t err = MM_OK;
    char *path_copy = strdup(path);
    az->origin = strndup(url, (size_t)(path - url));
    if (!path_copy || !az->origin) {
        free(path_copy);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "blob: out of memory");
    }
    char *segs[AZ_MAX_PATH_SEGMENTS];
    size_t n_segs = 0;
    for (char *p = path_copy; *p && !err;) {
        if (*p == '/') {
            *p++ = 0;
            continue;
        }
        if (n_segs == MM_ARRAY_SIZE(segs)) {
            err = mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "blob: %s: path too deep", url);
            break;
        }
        segs[n_segs++] = p;
        while (*p && *p != '/') p++;
    }
    if (!err && path_style && n_segs < 2) {
        err = mm_errf(MM_ERR_CONFIG, errstr, errstr_size,
                      "blob: %s: expected http://host:port/ACCOUNT/CONTAINER", url);
    } else if (!err && !path_style && n_segs < 1) {
        err = mm_errf(MM_ERR_CONFIG, errstr, errstr_size,
                      "blob: %s: expected https://ACCOUNT.blob.core.windows.net/CONTAINER", url);
    } else if (!err) {
        /* Not path style means the host has a dot: the account is before it. */
        const char *dot = path_style ? NULL : memchr(host, '.', host_len);
        az->account = path_style ? strdup(segs[0]) : strndup(host, (size_t)(dot - host));
        if (!az->account || az_set_paths(az, segs, n_segs, path_style) != MM_OK)
            err = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "blob: out of memory");
    }
    free(path_copy);
    return err;
}

/* SharedKey (an account key that must be base64) or a SAS token, or neither. */
static mm_err_t az_set_auth(blob_azure_t *az, const char *url, const mm_blob_opts_t *opts,
                            char *errstr, size_t errstr_size) {
    if (opts->account_key && opts->account_key[0]) {
        size_t key_len = 0;
        uint8_t *key = mm_base64_decode(opts->account_key, &key_len);
        free(key);
        if (!key || key_len == 0)
            return mm_errf(MM_ERR_CONFIG, errstr, errstr_size,
                           "blob: %s: account key is not base64", url);
        if (!(az->account_key = strdup(opts->account_key)))
            return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "blob: out of memory");
    } else if (opts->sas_token && opts->sas_token[0]) {
        const char *sas = opts->sas_token[0] == '?' ? opts->sas_token + 1 : opts->sas_token;
        if (!(az->sas_token = strdup(sas)))
            return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "blob: out of memory");
    }
    return MM_OK;
}

static void *az_open(const char *url, const mm_blob_opts_t *opts, char *errstr,
                     size_t errstr_size) {
    blob_azure_t *az = calloc(1, sizeof(*az));
    if (!az) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "blob: out of memory");
        return NULL;
    }
    if (az_locate(az, url, errstr, errstr_size) != MM_OK) goto fail;
    if (opts->account_name && opts->account_name[0]) {
        free(az->account);
        if (!(az->account = strdup(opts->account_name))) {
            mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "blob: out of memory");
            goto fail;
        }
    }
    if (az_set_auth(az, url, opts, errstr, errstr_size) != MM_OK) goto fail;
    az->connect_timeout_ms =
        opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : AZ_DEFAULT_CONNECT_TIMEOUT_MS;
    az->total_timeout_ms =
        opts->total_timeout_ms > 0 ? opts->total_timeout_ms : AZ_DEFAULT_TOTAL_TIMEOUT_MS;
    az->stall_timeout_ms =
        opts->stall_timeout_ms > 0 ? opts->stall_timeout_ms : AZ_DEFAULT_STALL_TIMEOUT_MS;
    az->max_retries = opts->max_retries == 0  ? AZ_DEFAULT_MAX_RETRIES
                      : opts->max_retries < 0 ? 0
                                              : opts->max_retries;
    az->retry_base_ms = opts->retry_base_ms > 0 ? opts->retry_base_ms : AZ_DEFAULT_RETRY_BASE_MS;
    az->retry_cap_ms = opts->retry_cap_ms > 0 ? opts->retry_cap_ms : AZ_DEFAULT_RETRY_CAP_MS;
    if (!(az->http = mm_http_new(errstr, errstr_size))) goto fail;
    if (opts->create_container && az_create_container(az, errstr, errstr_size) != MM_OK) goto fail;
    return az;
fail:
    az_free(az);
    return NULL;
}

static void az_destroy(void *backend) {
    az_free(backend);
}

static void az_set_list_page_size(void *backend, int page_size) {
    blob_azure_t *az = backend;
    az->page_size = page_size > 0 ? page_size : 0;
}

/* Encoded URL path of @p name (with the store's name prefix), or of the container. */
static char *az_url_path(const blob_azure_t *az, const char *name) {
    mm_buf_t b;
    mm_buf_init(&b, AZ_URL_PATH_CAP);
    mm_err_t err = mm_buf_append_str(&b, az->base_path);
    if (!err && name) {
        char *full = NULL;
        size_t n = strlen(az->name_prefix) + strlen(name) + 1;
        if ((full = malloc(n))) snprintf(full, n, "%s%s", az->name_prefix, name);
        char *enc = full ? az_encode_path(full) : NULL;
        err = enc ? mm_buf_appendf(&b, "/%s", enc) : MM_ERR_NOMEM;
        free(enc);
        free(full);
    }
    if (err) {
        mm_buf_free(&b);
        return NULL;
    }
    return (char *)mm_buf_steal(&b, NULL);
}

/* ---- error text ---- */

/* "HTTP 409 BlobAlreadyExists: The specified blob already exists. RequestId:..." */
static void az_describe_status(const mm_http_response_t *resp, char *out, size_t out_size) {
    const char *xml = resp->body.data ? (const char *)resp->body.data : "";
    const char *xml_end = xml + resp->body.len;
    const char *code = mm_http_response_header(resp, "x-ms-error-code");
    char *body_code = code ? NULL : mm_blob__azure_xml_text(xml, xml_end, "Code");
    char *message = mm_blob__azure_xml_text(xml, xml_end, "Message");
    if (message) {
        /* Azure appends "\nRequestId:...\nTime:..." lines: keep them, on one line. */
        for (char *p = message; *p; p++)
            if (*p == '\n' || *p == '\r') *p = ' ';
    }
    const char *c = code ? code : body_code;
    snprintf(out, out_size, "HTTP %ld%s%s%s%s", resp->status, c ? " " : "", c ? c : "",
             message ? ": " : "", message ? message : "");
    free(body_code);
    free(message);
}

/* ---- the request loop ---- */

static mm_err_t az_perform(blob_azure_t *az, const az_req_t *req, mm_http_response_t *resp,
                           const char *what, char *errstr, size_t errstr_size) {
    mm_err_t err = MM_OK;
    char *path = az_url_path(az, req->name);
    mm_buf_t url, canon;
    mm_buf_init(&url, AZ_URL_CAP);
    mm_buf_init(&canon, AZ_URL_CAP);
    if (!path) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "%s: out of memory", what);

    /* The URL and canonicalized resource do not change between attempts. */
    err = mm_buf_appendf(&url, "%s%s", az->origin, path);
    if (!err) err = mm_buf_appendf(&canon, "/%s%s", az->account, path);
    for (size_t i = 0; !err && i < req->n_query; i++) {
        char *enc = mm_url_encode(req->query_values[i], "");
        if (!enc) {
            err = MM_ERR_NOMEM;
            break;
        }
        err = mm_buf_appendf(&url, "%c%s=%s", i ? '&' : '?', req->query_names[i], enc);
        free(enc);
        if (!err)
            err = mm_buf_appendf(&canon, "\n%s:%s", req->query_names[i], req->query_values[i]);
    }
    if (!err && az->sas_token && !az->account_key)
        err = mm_buf_appendf(&url, "%c%s", req->n_query ? '&' : '?', az->sas_token);
    free(path);
    if (err) {
        mm_buf_free(&url);
        mm_buf_free(&canon);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "%s: out of memory", what);
    }

    for (int attempt = 0;; attempt++) {
        char date[40], content_length[32], auth[512];
        mm_http_header_t headers[AZ_MAX_HEADERS + 4];
        const char *names[AZ_MAX_HEADERS + 4], *values[AZ_MAX_HEADERS + 4];
        size_t n = 0;
        mm_http_date_now(date);
        snprintf(content_length, sizeof(content_length), "%zu", req->body_len);
        headers[n++] = (mm_http_header_t){"x-ms-date", date};
        headers[n++] = (mm_http_header_t){"x-ms-version", MM_BLOB__AZURE_API_VERSION};
        if (strcmp(req->method, "PUT") == 0 || req->body_len)
            headers[n++] = (mm_http_header_t){"Content-Length", content_length};
        for (size_t i = 0; i < req->n_headers; i++) headers[n++] = req->headers[i];
        if (az->account_key) {
            for (size_t i = 0; i < n; i++) {
                names[i] = headers[i].name;
                values[i] = headers[i].value;
            }
            char *sts = mm_blob_azure_string_to_sign(req->method, names, values, n,
                                                     (const char *)canon.data);
            char *sig = sts ? mm_blob_azure_sign(az->account_key, sts) : NULL;
            free(sts);
            if (!sig) {
                err = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "%s: signing failed", what);
                break;
            }
            snprintf(auth, sizeof(auth), "SharedKey %s:%s", az->account, sig);
            free(sig);
            headers[n++] = (mm_http_header_t){"Authorization", auth};
        }
        mm_http_request_t hreq = {
            .method = req->method,
            .url = (const char *)url.data,
            .headers = headers,
            .n_headers = n,
            .body = req->body,
            .body_len = req->body_len,
            .connect_timeout_ms = az->connect_timeout_ms,
            .total_timeout_ms = az->total_timeout_ms,
            .stall_timeout_ms = az->stall_timeout_ms,
            .max_response_bytes =
                req->max_response_bytes ? req->max_response_bytes : AZ_ERROR_BODY_CAP,
        };
        char why[1024];
        err = mm_http_perform(az->http, &hreq, resp, why, sizeof(why));
        if (err == MM_OK) {
            err = mm_http_status_err(resp->status);
            if (err != MM_OK) az_describe_status(resp, why, sizeof(why));
        } else if (err == MM_ERR_NOMEM && resp->status >= 300) {
            /* A huge error body: the status still says what happened. */
            err = mm_http_status_err(resp->status);
            snprintf(why, sizeof(why), "HTTP %ld", resp->status);
        }
        if (err == MM_OK) break;
        bool retriable =
            err == MM_ERR_TRANSPORT || err == MM_ERR_TIMEOUT || err == MM_ERR_THROTTLED;
        if (!retriable || attempt >= az->max_retries) {
            if (retriable && attempt > 0)
                err = mm_errf(err, errstr, errstr_size, "%s: %s (gave up after %d attempts)", what,
                              why, attempt + 1);
            else
                err = mm_errf(err, errstr, errstr_size, "%s: %s", what, why);
            break;
        }
        /* Each retry is logged: an outage of the store shows in the log as it happens,
         * not only once the caller gives up. */
        int64_t delay = mm_backoff_ms(attempt, az->retry_base_ms, az->retry_cap_ms);
        mm_log_warn("blob_retry", "%s: %s (attempt %d of %d, next in %lld ms)", what, why,
                    attempt + 1, az->max_retries + 1, (long long)delay);
        mm_sleep_ms(delay, NULL);
    }
    mm_buf_free(&url);
    mm_buf_free(&canon);
    return err;
}

/* ---- operations ---- */

static mm_err_t az_put(void *backend, const char *name, const void *data, size_t len, int flags,
                       char *errstr, size_t errstr_size) {
    blob_azure_t *az = backend;
    az_req_t req = {.method = "PUT", .name = name, .body = data, .body_len = len};
    req.headers[req.n_headers++] = (mm_http_header_t){"x-ms-blob-type", "BlockBlob"};
    req.headers[req.n_headers++] = (mm_http_header_t){"Content-Type", "application/octet-stream"};
    if (flags & MM_BLOB_IF_NONE_MATCH)
        req.headers[req.n_headers++] = (mm_http_header_t){"If-None-Match", "*"};
    mm_http_response_t resp = {0};
    char what[MM_BLOB__NAME_MAX + 64];
    snprintf(what, sizeof(what), "blob put %s", name);
    mm_err_t err = az_perform(az, &req, &resp, what, errstr, errstr_size);
    mm_http_response_clear(&resp);
    return err;
}

static mm_err_t az_get(void *backend, const char *name, mm_buf_t *out, char *errstr,
                       size_t errstr_size) {
    blob_azure_t *az = backend;
    az_req_t req = {.method = "GET", .name = name};
    req.max_response_bytes = out->limit ? out->limit : MM_BUF_CAP_MESSAGE;
    mm_http_response_t resp = {0};
    char what[MM_BLOB__NAME_MAX + 64];
    snprintf(what, sizeof(what), "blob get %s", name);
    mm_err_t err = az_perform(az, &req, &resp, what, errstr, errstr_size);
    if (err == MM_OK) {
        mm_buf_reset(out);
        if (mm_buf_append(out, resp.body.data, resp.body.len) != MM_OK)
            err = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "%s: more than %zu bytes", what,
                          out->limit);
    }
    mm_http_response_clear(&resp);
    return err;
}

static mm_err_t az_delete(void *backend, const char *name, char *errstr, size_t errstr_size) {
    blob_azure_t *az = backend;
    az_req_t req = {.method = "DELETE", .name = name};
    mm_http_response_t resp = {0};
    char what[MM_BLOB__NAME_MAX + 64];
    snprintf(what, sizeof(what), "blob delete %s", name);
    mm_err_t err = az_perform(az, &req, &resp, what, errstr, errstr_size);
    mm_http_response_clear(&resp);
    return err;
}

static mm_err_t az_copy(void *backend, const char *src, const char *dst, int flags, char *errstr,
                        size_t errstr_size) {
    blob_azure_t *az = backend;
    char what[2 * MM_BLOB__NAME_MAX + 64];
    snprintf(what, sizeof(what), "blob copy %s -> %s", src, dst);
    char *src_path = az_url_path(az, src);
    mm_buf_t source;
    mm_buf_init(&source, AZ_URL_CAP);
    /* Same account: SharedKey on this request authorizes reading the source;
     * with SAS the source URL must carry the token itself. */
    mm_err_t err = src_path ? mm_buf_appendf(&source, "%s%s", az->origin, src_path) : MM_ERR_NOMEM;
    if (!err && az->sas_token && !az->account_key)
        err = mm_buf_appendf(&source, "?%s", az->sas_token);
    free(src_path);
    if (err) {
        mm_buf_free(&source);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "%s: out of memory", what);
    }
    az_req_t req = {.method = "PUT", .name = dst};
    req.headers[req.n_headers++] = (mm_http_header_t){"x-ms-copy-source", (char *)source.data};
    if (flags & MM_BLOB_IF_NONE_MATCH)
        req.headers[req.n_headers++] = (mm_http_header_t){"If-None-Match", "*"};
    mm_http_response_t resp = {0};
    err = az_perform(az, &req, &resp, what, errstr, errstr_size);
    mm_buf_free(&source);
    if (err) {
        mm_http_response_clear(&resp);
        return err;
    }

    /* Copies inside one account usually finish before the response; a
     * "pending" one is polled (Get Blob Properties) until it settles. */
    char *copy_id = NULL;
    const char *status = mm_http_response_header(&resp, "x-ms-copy-status");
    const char *id = mm_http_response_header(&resp, "x-ms-copy-id");
    if (id) copy_id = strdup(id);
    long poll_timeout_ms = AZ_COPY_POLL_TIMEOUT_FACTOR * az->total_timeout_ms;
    int64_t deadline = mm_mono_ms() + poll_timeout_ms;
    int64_t delay = AZ_COPY_POLL_FIRST_MS;
    while (status && strcmp(status, "pending") == 0) {
        if (mm_mono_ms() > deadline) {
            err = mm_errf(MM_ERR_TIMEOUT, errstr, errstr_size, "%s: still pending after %ld ms",
                          what, poll_timeout_ms);
            break;
        }
        mm_sleep_ms(delay, NULL);
        if (delay < AZ_COPY_POLL_MAX_MS) delay *= 2;
        az_req_t head = {.method = "HEAD", .name = dst};
        err = az_perform(az, &head, &resp, what, errstr, errstr_size);
        if (err) break;
        const char *now_id = mm_http_response_header(&resp, "x-ms-copy-id");
        if (copy_id && now_id && strcmp(copy_id, now_id) != 0) {
            err = mm_errf(MM_ERR_EXISTS, errstr, errstr_size,
                          "%s: destination was replaced by another copy while pending", what);
            break;
        }
        status = mm_http_response_header(&resp, "x-ms-copy-status");
    }
    if (!err && status && strcmp(status, "success") != 0) {
        const char *desc = mm_http_response_header(&resp, "x-ms-copy-status-description");
        err = mm_errf(MM_ERR_IO, errstr, errstr_size, "%s: copy %s%s%s", what, status,
                      desc ? ": " : "", desc ? desc : "");
    }
    free(copy_id);
    mm_http_response_clear(&resp);
    return err;
}

/* ---- List Blobs ---- */

static mm_err_t az_list(void *backend, const char *prefix, mm_blob_list_cb_t *cb, void *opaque,
                        char *errstr, size_t errstr_size) {
    blob_azure_t *az = backend;
    size_t full_len = strlen(az->name_prefix) + strlen(prefix) + 1;
    char *full_prefix = malloc(full_len);
    if (!full_prefix) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "blob list: out of memory");
    snprintf(full_prefix, full_len, "%s%s", az->name_prefix, prefix);
    char *marker = NULL;
    char page_size[16];
    snprintf(page_size, sizeof(page_size), "%d", az->page_size);
    char what[MM_BLOB__NAME_MAX + 64];
    snprintf(what, sizeof(what), "blob list %s", prefix);
    mm_err_t err = MM_OK;
    for (int page = 0;; page++) {
        /* Query parameters in the sorted order the canonicalized resource needs. */
        az_req_t req = {.method = "GET", .max_response_bytes = AZ_LIST_BODY_CAP};
        req.query_names[req.n_query] = "comp";
        req.query_values[req.n_query++] = "list";
        if (marker) {
            req.query_names[req.n_query] = "marker";
            req.query_values[req.n_query++] = marker;
        }
        if (az->page_size > 0) {
            req.query_names[req.n_query] = "maxresults";
            req.query_values[req.n_query++] = page_size;
        }
        if (full_prefix[0]) {
            req.query_names[req.n_query] = "prefix";
            req.query_values[req.n_query++] = full_prefix;
        }
        req.query_names[req.n_query] = "restype";
        req.query_values[req.n_query++] = "container";
        mm_http_response_t resp = {0};
        err = az_perform(az, &req, &resp, what, errstr, errstr_size);
        if (err) {
            mm_http_response_clear(&resp);
            break;
        }
        char *next = NULL;
        bool stopped = false;
        err =
            mm_blob__azure_list_parse((const char *)resp.body.data, resp.body.len, az->name_prefix,
                                      cb, opaque, &next, &stopped, errstr, errstr_size);
        mm_http_response_clear(&resp);
        free(marker);
        marker = next;
        if (err || stopped || !marker) break;
        if (page > AZ_LIST_MAX_PAGES) {
            err = mm_errf(MM_ERR_PARSE, errstr, errstr_size, "%s: too many pages", what);
            break;
        }
    }
    free(marker);
    free(full_prefix);
    return err;
}

const mm_blob__ops_t mm_blob__azure_ops = {
    .scheme_name = "azure",
    .open = az_open,
    .put = az_put,
    .get = az_get,
    .list = az_list,
    .del = az_delete,
    .copy = az_copy,
    .set_list_page_size = az_set_list_page_size,
    .destroy = az_destroy,
};
