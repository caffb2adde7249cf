/*
 * http.h - one HTTP request at a time over libcurl, with connect and total
 * timeouts, a capped response body and the curl error copied into errstr.
 * No retries here: callers that sign requests (blob) re-sign per attempt and
 * own the retry loop (see mm_backoff_ms in util.h).
 */
#ifndef MM_HTTP_H
#define MM_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "mm/buf.h"
#include "mm/err.h"

typedef struct mm_http mm_http_t; /* a reusable connection cache (one curl easy handle) */

typedef struct mm_http_header {
    const char *name;
    const char *value;
} mm_http_header_t;

typedef struct mm_http_request {
    const char *method; /* "GET", "PUT", "DELETE", "HEAD" */
    const char *url;
    const mm_http_header_t *headers;
    size_t n_headers;
    const void *body; /* may be NULL */
    size_t body_len;
    long connect_timeout_ms;   /* 0 = 5000 */
    long total_timeout_ms;     /* 0 = 60000 */
    size_t max_response_bytes; /* 0 = MM_BUF_CAP_HTTP_BODY */
    /* > 0: give up (MM_ERR_TIMEOUT, "stalled") once no byte has moved either way for
     * this long (checked about once a second): a hung server is noticed long before the
     * total timeout, while a slow but moving transfer goes on. 0 = no stall limit. */
    long stall_timeout_ms;
} mm_http_request_t;

#define MM_HTTP_MAX_RESP_HEADERS 32

typedef struct mm_http_response {
    long status; /* 0 when no response arrived */
    mm_buf_t body;
    size_t n_headers;
    char *header_names[MM_HTTP_MAX_RESP_HEADERS]; /* lower-cased */
    char *header_values[MM_HTTP_MAX_RESP_HEADERS];
} mm_http_response_t;

mm_http_t *mm_http_new(char *errstr, size_t errstr_size);
void mm_http_destroy(mm_http_t *http); /* accepts NULL */

/**
 * @brief Perform @p req. Transport failures are MM_ERR_TRANSPORT (or
 * MM_ERR_TIMEOUT) with curl's message; any HTTP status is MM_OK with
 * resp->status set — mapping statuses to errors is the caller's business
 * (see mm_http_status_err). @p resp must be zeroed or cleared before use.
 */
mm_err_t mm_http_perform(mm_http_t *http, const mm_http_request_t *req, mm_http_response_t *resp,
                         char *errstr, size_t errstr_size);
/** @returns the value of response header @p name (case-insensitive) or NULL. */
const char *mm_http_response_header(const mm_http_response_t *resp, const char *name);
void mm_http_response_clear(mm_http_response_t *resp);

/** @brief Map a status to an error: 2xx OK, 404 NOT_FOUND, 409/412 EXISTS, 401/403 AUTH,
 *  408/429/5xx THROTTLED, other HTTP. */
mm_err_t mm_http_status_err(long status);

/**
 * @brief RFC 3986 percent-encode: unreserved characters and those in @p keep
 * (e.g. "/" for a path, "/=" for a blob name; "" for a query value) stay,
 * everything else, '%' included, becomes %XX. @returns malloc'd or NULL.
 */
char *mm_url_encode(const char *s, const char *keep);

/** @brief RFC 1123 date for "now" (x-ms-date): "Sat, 21 Nov 2026 22:50:00 GMT". */
void mm_http_date_now(char out[40]);

#endif
