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
 * mm_backoff_ms; other 4xx never are. References (learn.microsoft.com/rest/api/
 * storageservices): authorize-with-shared-key, create-account-sas, put-blob,
 * get-blob, list-blobs, delete-blob, copy-blob, create-container.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "blob_int.h"
#include "mm/http.h"
#include "mm/sha256.h"
#include "mm/util.h"

#define AZ_API_VERSION "2021-08-06"
#define AZ_MAX_QUERY   6
#define AZ_MAX_HEADERS 16
/* One page of a List Blobs response: 5000 names of up to 1 KiB plus properties. */
#define AZ_LIST_BODY_CAP (32u * 1024u * 1024u)
/* Error bodies are short XML documents; more than this is not worth keeping. */
#define AZ_ERROR_BODY_CAP (64u * 1024u)

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

/* ---- SharedKey signing (exposed in blob.h for tests) ---- */

static const char *az_header_find(const char *name, const char *const *names,
                                  const char *const *values, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(names[i], name) == 0) return values[i] ? values[i] : "";
    return "";
}

/* Canonicalized-header order: by lower-cased name. */
typedef struct az_xms {
    char *name;
    const char *value;
} az_xms_t;

static int az_xms_cmp(const void *a, const void *b) {
    return strcmp(((const az_xms_t *)a)->name, ((const az_xms_t *)b)->name);
}

/* Append @p value with runs of whitespace folded to one space and trimmed. */
static mm_err_t az_append_folded(mm_buf_t *out, const char *value) {
    const char *p = value;
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
    int pending_space = 0;
    for (; *p; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
            pending_space = 1;
            continue;
        }
        if (pending_space && mm_buf_append(out, " ", 1) != MM_OK) return MM_ERR_NOMEM;
        pending_space = 0;
        if (mm_buf_append(out, p, 1) != MM_OK) return MM_ERR_NOMEM;
    }
    return MM_OK;
}

char *mm_blob_azure_string_to_sign(const char *method, const char *const *header_names,
                                   const char *const *header_values, size_t n_headers,
                                   const char *canonical_resource) {
    static const char *const standard[] = {"Content-Encoding",
                                           "Content-Language",
                                           "Content-Length",
                                           "Content-MD5",
                                           "Content-Type",
                                           "Date",
                                           "If-Modified-Since",
                                           "If-Match",
                                           "If-None-Match",
                                           "If-Unmodified-Since",
                                           "Range"};
    mm_buf_t out;
    mm_buf_init(&out, 1024u * 1024u);
    az_xms_t *xms = calloc(n_headers ? n_headers : 1, sizeof(*xms));
    size_t n_xms = 0;
    mm_err_t err = xms ? MM_OK : MM_ERR_NOMEM;

    if (!err) err = mm_buf_appendf(&out, "%s\n", method);
    for (size_t i = 0; !err && i < MM_ARRAY_SIZE(standard); i++) {
        const char *v = az_header_find(standard[i], header_names, header_values, n_headers);
        /* Since 2015-02-21 a zero Content-Length is signed as the empty string. */
        if (strcmp(standard[i], "Content-Length") == 0 && strcmp(v, "0") == 0) v = "";
        err = mm_buf_appendf(&out, "%s\n", v);
    }
    for (size_t i = 0; !err && i < n_headers; i++) {
        if (strncasecmp(header_names[i], "x-ms-", 5) != 0) continue;
        size_t len = strlen(header_names[i]);
        char *lower = malloc(len + 1);
        if (!lower) {
            err = MM_ERR_NOMEM;
            break;
        }
        for (size_t k = 0; k <= len; k++)
            lower[k] = (char)tolower((unsigned char)header_names[i][k]);
        xms[n_xms].name = lower;
        xms[n_xms].value = header_values[i] ? header_values[i] : "";
        n_xms++;
    }
    if (!err && n_xms) qsort(xms, n_xms, sizeof(*xms), az_xms_cmp);
    for (size_t i = 0; !err && i < n_xms; i++) {
        err = mm_buf_appendf(&out, "%s:", xms[i].name);
        if (!err) err = az_append_folded(&out, xms[i].value);
        if (!err) err = mm_buf_append(&out, "\n", 1);
    }
    if (!err) err = mm_buf_append_str(&out, canonical_resource);
    for (size_t i = 0; i < n_xms; i++) free(xms[i].name);
    free(xms);
    if (err) {
        mm_buf_free(&out);
        return NULL;
    }
    return (char *)mm_buf_steal(&out, NULL);
}

char *mm_blob_azure_sign(const char *account_key_b64, const char *string_to_sign) {
    size_t key_len = 0;
    uint8_t *key = mm_base64_decode(account_key_b64, &key_len);
    if (!key || key_len == 0) {
        free(key);
        return NULL;
    }
    uint8_t mac[MM_SHA256_LEN];
    mm_hmac_sha256(key, key_len, string_to_sign, strlen(string_to_sign), mac);
    free(key);
    return mm_base64_encode(mac, sizeof(mac));
}

char *mm_blob_azure_account_sas(const char *account_name, const char *account_key_b64,
                                const char *permissions, const char *resource_types,
                                int64_t expiry_unix_s) {
    char expiry[64];
    time_t t = (time_t)expiry_unix_s;
    struct tm tm;
    if (!account_name || !account_key_b64 || !permissions || !resource_types || !gmtime_r(&t, &tm))
        return NULL;
    snprintf(expiry, sizeof(expiry), "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    const char *services = "b", *protocols = "https,http";
    /* Fields in the documented order for version 2020-12-06 and later, the
     * empty ones being start time, IP range and encryption scope. */
    mm_buf_t sts;
    mm_buf_init(&sts, 4096);
    if (mm_buf_appendf(&sts, "%s\n%s\n%s\n%s\n\n%s\n\n%s\n%s\n\n", account_name, permissions,
                       services, resource_types, expiry, protocols, AZ_API_VERSION) != MM_OK) {
        mm_buf_free(&sts);
        return NULL;
    }
    char *sig = mm_blob_azure_sign(account_key_b64, (const char *)sts.data);
    mm_buf_free(&sts);
    if (!sig) return NULL;
    char *sig_enc = mm_url_encode(sig, "");
    char *exp_enc = mm_url_encode(expiry, "");
    char *spr_enc = mm_url_encode(protocols, "");
    char *perm_enc = mm_url_encode(permissions, "");
    char *rt_enc = mm_url_encode(resource_types, "");
    char *token = NULL;
    if (sig_enc && exp_enc && spr_enc && perm_enc && rt_enc) {
        mm_buf_t out;
        mm_buf_init(&out, 4096);
        if (mm_buf_appendf(&out, "sv=%s&ss=%s&srt=%s&sp=%s&se=%s&spr=%s&sig=%s", AZ_API_VERSION,
                           services, rt_enc, perm_enc, exp_enc, spr_enc, sig_enc) == MM_OK)
            token = (char *)mm_buf_steal(&out, NULL);
        else
            mm_buf_free(&out);
    }
    free(sig);
    free(sig_enc);
    free(exp_enc);
    free(spr_enc);
    free(perm_enc);
    free(rt_enc);
    return token;
}

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

static void *az_open(const char *url, const mm_blob_opts_t *opts, char *errstr,
                     size_t errstr_size) {
    blob_azure_t *az = calloc(1, sizeof(*az));
    char *path_copy = NULL;
    if (!az) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "blob: out of memory");
        return NULL;
    }
    const char *after_scheme = strstr(url, "://") + 3;
    const char *path = strchr(after_scheme, '/');
    if (!path) path = after_scheme + strlen(after_scheme);
    size_t authority_len = (size_t)(path - after_scheme);
    const char *host = after_scheme;
    size_t host_len = authority_len;
    if (memchr(host, '@', authority_len)) {
        mm_errf(MM_ERR_CONFIG, errstr, errstr_size,
                "blob: %s: credentials in the URL are not supported; use the account key or SAS "
                "options",
                url);
        goto fail;
    }
    if (host[0] != '[') {
        const char *colon = memchr(host, ':', authority_len);
        if (colon) host_len = (size_t)(colon - host);
    }
    bool path_style = az_host_is_path_style(host, host_len);

    /* Split the path into non-empty segments: [account/]container[/prefix...]. */
    path_copy = strdup(path);
    az->origin = strndup(url, (size_t)(path - url));
    if (!path_copy || !az->origin) goto oom;
    char *segs[64];
    size_t n_segs = 0;
    for (char *p = path_copy; *p;) {
        if (*p == '/') {
            *p++ = 0;
            continue;
        }
        if (n_segs == MM_ARRAY_SIZE(segs)) {
            mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "blob: %s: path too deep", url);
            goto fail;
        }
        segs[n_segs++] = p;
        while (*p && *p != '/') p++;
    }
    size_t first = 0;
    if (path_style) {
        if (n_segs < 2) {
            mm_errf(MM_ERR_CONFIG, errstr, errstr_size,
                    "blob: %s: expected http://host:port/ACCOUNT/CONTAINER", url);
            goto fail;
        }
        az->account = strdup(segs[0]);
        first = 1;
    } else {
        if (n_segs < 1) {
            mm_errf(MM_ERR_CONFIG, errstr, errstr_size,
                    "blob: %s: expected https://ACCOUNT.blob.core.windows.net/CONTAINER", url);
            goto fail;
        }
        const char *dot = memchr(host, '.', host_len);
        az->account = strndup(host, (size_t)(dot - host));
    }
    if (!az->account) goto oom;
    if (opts->account_name && opts->account_name[0]) {
        free(az->account);
        if (!(az->account = strdup(opts->account_name))) goto oom;
    }
    if (!(az->container = strdup(segs[first]))) goto oom;
    {
        mm_buf_t b;
        mm_buf_init(&b, 4096);
        mm_err_t e = path_style ? mm_buf_appendf(&b, "/%s/%s", segs[0], segs[1])
                                : mm_buf_appendf(&b, "/%s", segs[0]);
        if (e) {
            mm_buf_free(&b);
            goto oom;
        }
        az->base_path = (char *)mm_buf_steal(&b, NULL);
        mm_buf_init(&b, 4096);
        for (size_t i = first + 1; i < n_segs && !e; i++) e = mm_buf_appendf(&b, "%s/", segs[i]);
        if (!e && !b.data) e = mm_buf_append(&b, "", 0);
        if (e) {
            mm_buf_free(&b);
            goto oom;
        }
        az->name_prefix = (char *)mm_buf_steal(&b, NULL);
    }
    if (opts->account_key && opts->account_key[0]) {
        size_t key_len = 0;
        uint8_t *key = mm_base64_decode(opts->account_key, &key_len);
        free(key);
        if (!key || key_len == 0) {
            mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "blob: %s: account key is not base64", url);
            goto fail;
        }
        if (!(az->account_key = strdup(opts->account_key))) goto oom;
    } else if (opts->sas_token && opts->sas_token[0]) {
        const char *sas = opts->sas_token[0] == '?' ? opts->sas_token + 1 : opts->sas_token;
        if (!(az->sas_token = strdup(sas))) goto oom;
    }
    az->connect_timeout_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 5000;
    az->total_timeout_ms = opts->total_timeout_ms > 0 ? opts->total_timeout_ms : 60000;
    az->max_retries = opts->max_retries == 0 ? 5 : opts->max_retries < 0 ? 0 : opts->max_retries;
    az->retry_base_ms = opts->retry_base_ms > 0 ? opts->retry_base_ms : 200;
    az->retry_cap_ms = opts->retry_cap_ms > 0 ? opts->retry_cap_ms : 10000;
    if (!(az->http = mm_http_new(errstr, errstr_size))) goto fail;
    free(path_copy);
    path_copy = NULL;

    if (opts->create_container && az_create_container(az, errstr, errstr_size) != MM_OK) goto fail;
    return az;
oom:
    mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "blob: out of memory");
fail:
    free(path_copy);
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
    mm_buf_init(&b, 16384);
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

/* Text of the first <tag>...</tag> in @p xml (no entity decoding), or NULL. */
static char *az_xml_text(const char *xml, const char *xml_end, const char *tag) {
    char open[64], close[64];
    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    const char *a = memmem(xml, (size_t)(xml_end - xml), open, strlen(open));
    if (!a) return NULL;
    a += strlen(open);
    const char *b = memmem(a, (size_t)(xml_end - a), close, strlen(close));
    if (!b) return NULL;
    return mm_strndup(a, (size_t)(b - a));
}

/* "HTTP 409 BlobAlreadyExists: The specified blob already exists. RequestId:..." */
static void az_describe_status(const mm_http_response_t *resp, char *out, size_t out_size) {
    const char *xml = resp->body.data ? (const char *)resp->body.data : "";
    const char *xml_end = xml + resp->body.len;
    const char *code = mm_http_response_header(resp, "x-ms-error-code");
    char *body_code = code ? NULL : az_xml_text(xml, xml_end, "Code");
    char *message = az_xml_text(xml, xml_end, "Message");
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
    mm_buf_init(&url, 64u * 1024u);
    mm_buf_init(&canon, 64u * 1024u);
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
        headers[n++] = (mm_http_header_t){"x-ms-version", AZ_API_VERSION};
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
        mm_sleep_ms(mm_backoff_ms(attempt, az->retry_base_ms, az->retry_cap_ms), NULL);
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
    mm_buf_init(&source, 64u * 1024u);
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
    int64_t deadline = mm_mono_ms() + 10 * az->total_timeout_ms;
    int64_t delay = 100;
    while (status && strcmp(status, "pending") == 0) {
        if (mm_mono_ms() > deadline) {
            err = mm_errf(MM_ERR_TIMEOUT, errstr, errstr_size, "%s: still pending after %ld ms",
                          what, 10 * az->total_timeout_ms);
            break;
        }
        mm_sleep_ms(delay, NULL);
        if (delay < 2000) delay *= 2;
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

/* Decode the five XML entities and numeric references in place-copied text. */
static char *az_xml_unescape(const char *s, size_t len) {
    char *out = malloc(len + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        if (s[i] != '&') {
            out[o++] = s[i++];
            continue;
        }
        const char *semi = memchr(s + i, ';', len - i);
        if (!semi) {
            free(out);
            return NULL;
        }
        size_t ent_len = (size_t)(semi - (s + i)) + 1;
        const char *ent = s + i;
        static const struct {
            const char *name;
            char c;
        } named[] = {
            {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
        bool done = false;
        for (size_t k = 0; k < MM_ARRAY_SIZE(named); k++) {
            if (ent_len == strlen(named[k].name) && memcmp(ent, named[k].name, ent_len) == 0) {
                out[o++] = named[k].c;
                done = true;
                break;
            }
        }
        if (!done && ent_len >= 4 && ent[1] == '#') {
            char num[16];
            bool hex = ent[2] == 'x' || ent[2] == 'X';
            size_t digits = ent_len - (hex ? 4 : 3);
            if (digits == 0 || digits >= sizeof(num)) {
                free(out);
                return NULL;
            }
            memcpy(num, ent + (hex ? 3 : 2), digits);
            num[digits] = 0;
            char *end = NULL;
            unsigned long cp = strtoul(num, &end, hex ? 16 : 10);
            if (*end || cp == 0 || cp > 0x10FFFF) {
                free(out);
                return NULL;
            }
            /* UTF-8 is never longer than the reference it replaces ("&#N;" >= 4 bytes). */
            if (cp < 0x80) {
                out[o++] = (char)cp;
            } else if (cp < 0x800) {
                out[o++] = (char)(0xC0 | (cp >> 6));
                out[o++] = (char)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                out[o++] = (char)(0xE0 | (cp >> 12));
                out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                out[o++] = (char)(0x80 | (cp & 0x3F));
            } else {
                out[o++] = (char)(0xF0 | (cp >> 18));
                out[o++] = (char)(0x80 | ((cp >> 12) & 0x3F));
                out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                out[o++] = (char)(0x80 | (cp & 0x3F));
            }
            done = true;
        }
        if (!done) {
            free(out);
            return NULL;
        }
        i += ent_len;
    }
    out[o] = 0;
    return out;
}

static int az_hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Names with characters XML cannot carry come as <Name Encoded="true">, percent-encoded. */
static bool az_percent_decode_inplace(char *s) {
    char *o = s;
    for (char *p = s; *p; p++) {
        if (*p == '%') {
            int hi = az_hexval(p[1]), lo = hi >= 0 ? az_hexval(p[2]) : -1;
            if (hi < 0 || lo < 0) return false;
            *o++ = (char)(hi * 16 + lo);
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    *o = 0;
    return true;
}

/*
 * Parse one List Blobs page: calls @p cb per <Blob>, sets *next_marker
 * (malloc'd, NULL at the end) and *stopped when the callback said stop.
 */
static mm_err_t az_list_parse(const blob_azure_t *az, const char *xml, size_t len,
                              mm_blob_list_cb_t *cb, void *opaque, char **next_marker,
                              bool *stopped, char *errstr, size_t errstr_size) {
    const char *end = xml + len;
    const char *p = xml;
    size_t skip = strlen(az->name_prefix);
    *next_marker = NULL;
    *stopped = false;
    const char *blobs = memmem(xml, len, "<Blobs", 6);
    if (!blobs)
        return mm_errf(MM_ERR_PARSE, errstr, errstr_size, "blob list: response has no <Blobs>");
    p = blobs;
    for (;;) {
        const char *b = memmem(p, (size_t)(end - p), "<Blob>", 6);
        if (!b) break;
        const char *b_end = memmem(b, (size_t)(end - b), "</Blob>", 7);
        if (!b_end)
            return mm_errf(MM_ERR_PARSE, errstr, errstr_size, "blob list: unterminated <Blob>");
        const char *n = memmem(b, (size_t)(b_end - b), "<Name", 5);
        const char *n_gt = n ? memchr(n, '>', (size_t)(b_end - n)) : NULL;
        const char *n_end = n_gt ? memmem(n_gt, (size_t)(b_end - n_gt), "</Name>", 7) : NULL;
        if (!n_end)
            return mm_errf(MM_ERR_PARSE, errstr, errstr_size, "blob list: <Blob> without <Name>");
        bool encoded = memmem(n, (size_t)(n_gt - n), "Encoded=\"true\"", 14) != NULL;
        char *name = az_xml_unescape(n_gt + 1, (size_t)(n_end - n_gt - 1));
        if (!name || (encoded && !az_percent_decode_inplace(name))) {
            free(name);
            return mm_errf(MM_ERR_PARSE, errstr, errstr_size, "blob list: bad <Name> text");
        }
        int64_t size = -1;
        const char *cl = memmem(b, (size_t)(b_end - b), "<Content-Length>", 16);
        if (cl) {
            char num[32];
            const char *cl_end = memmem(cl, (size_t)(b_end - cl), "</Content-Length>", 17);
            size_t digits = cl_end ? (size_t)(cl_end - cl - 16) : 0;
            if (!cl_end || digits == 0 || digits >= sizeof(num)) {
                free(name);
                return mm_errf(MM_ERR_PARSE, errstr, errstr_size,
                               "blob list: bad <Content-Length>");
            }
            memcpy(num, cl + 16, digits);
            num[digits] = 0;
            if (!mm_parse_i64(num, &size) || size < 0) {
                free(name);
                return mm_errf(MM_ERR_PARSE, errstr, errstr_size,
                               "blob list: bad <Content-Length> %s", num);
            }
        }
        bool keep_going = true;
        if (strncmp(name, az->name_prefix, skip) == 0) keep_going = cb(opaque, name + skip, size);
        free(name);
        if (!keep_going) {
            *stopped = true;
            return MM_OK;
        }
        p = b_end + 7;
    }
    char *marker = az_xml_text(xml, end, "NextMarker");
    if (marker && marker[0]) {
        *next_marker = az_xml_unescape(marker, strlen(marker));
        free(marker);
        if (!*next_marker)
            return mm_errf(MM_ERR_PARSE, errstr, errstr_size, "blob list: bad <NextMarker>");
    } else {
        free(marker);
    }
    return MM_OK;
}

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
        err = az_list_parse(az, (const char *)resp.body.data, resp.body.len, cb, opaque, &next,
                            &stopped, errstr, errstr_size);
        mm_http_response_clear(&resp);
        free(marker);
        marker = next;
        if (err || stopped || !marker) break;
        if (page > 1000000) {
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
