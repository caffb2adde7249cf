/*
 * blob.h - the blob store: model artifacts under candidates/ and production/.
 *
 * One interface, two backends chosen by URL:
 *   file:///var/lib/mm/blobs             a directory (one machine, tests, demo)
 *   https://ACCOUNT.blob.core.windows.net/CONTAINER
 *   http://127.0.0.1:10000/ACCOUNT/CONTAINER   (path-style, e.g. Azurite)
 * Azure uses SharedKey (account key) or a SAS token, speaks only through
 * http.h, and retries 408/429/5xx and transport errors with backoff and
 * jitter. Names are '/'-separated relative paths ("candidates/sales/store=1/item=2/<sha>.mm").
 *
 * A handle is used by one thread at a time; open one per worker.
 */
#ifndef MM_BLOB_H
#define MM_BLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/buf.h"
#include "mm/err.h"
#include "mm/metrics.h"

typedef struct mm_blob mm_blob_t;

typedef struct mm_blob_opts {
    const char *account_name; /* SharedKey: account (default: from the URL) */
    const char *account_key;  /* SharedKey: base64 key; NULL to use SAS or anonymous */
    const char *sas_token;    /* SAS query string without leading '?'; NULL if unused */
    long connect_timeout_ms;  /* 0 = 5000 */
    long total_timeout_ms;    /* 0 = 60000 */
    long stall_timeout_ms;    /* 0 = 5000: a request on which nothing moves this long fails
                                 (and is retried): a hung server costs seconds, not the total */
    int max_retries;          /* 0 = 5; -1 = no retries */
    int64_t retry_base_ms;    /* 0 = 200 */
    int64_t retry_cap_ms;     /* 0 = 10000 */
    bool create_container;    /* create the container / directory if missing */
} mm_blob_opts_t;

/** @param opts may be NULL (defaults). */
mm_blob_t *mm_blob_new(const char *url, const mm_blob_opts_t *opts, char *errstr,
                       size_t errstr_size);
void mm_blob_destroy(mm_blob_t *blob); /* accepts NULL */

/** @returns the URL the store was opened with (for records and logs). */
const char *mm_blob_url(const mm_blob_t *blob);

#define MM_BLOB_IF_NONE_MATCH 0x1 /* fail with MM_ERR_EXISTS if the name exists */

/** @brief Store @p data under @p name. With MM_BLOB_IF_NONE_MATCH never overwrites. */
mm_err_t mm_blob_put(mm_blob_t *blob, const char *name, const void *data, size_t len, int flags,
                     char *errstr, size_t errstr_size);

/**
 * @brief Content-addressed, never-overwriting put: put with If-None-Match: *;
 * if the name exists and its content's sha256 equals @p sha256_hex, that is
 * success (MM_OK); a different content is MM_ERR_INTEGRITY.
 */
mm_err_t mm_blob_put_immutable(mm_blob_t *blob, const char *name, const void *data, size_t len,
                               const char *sha256_hex, char *errstr, size_t errstr_size);

/** @brief Read @p name into @p out (reset first). MM_ERR_NOT_FOUND if absent. */
mm_err_t mm_blob_get(mm_blob_t *blob, const char *name, mm_buf_t *out, char *errstr,
                     size_t errstr_size);

/**
 * @brief Get @p name and check it is what a record says it is: @p out
 * receives the bytes (reset first), which must be @p expected_size bytes
 * long (a negative size is not checked) and hash to @p expected_sha256_hex
 * (hex, either case).
 * @returns MM_OK; MM_ERR_NOT_FOUND if the blob is absent; MM_ERR_INTEGRITY
 * when the size or digest differs (errstr names the blob and both values)
 * or no expected digest is given; else the store's error (retry may help).
 * On failure @p out is emptied.
 */
mm_err_t mm_blob_get_verified(mm_blob_t *blob, const char *name, const char *expected_sha256_hex,
                              int64_t expected_size, mm_buf_t *out, char *errstr,
                              size_t errstr_size);

/** @brief Called once per name, in lexical order. Return false to stop. */
typedef bool(mm_blob_list_cb_t)(void *opaque, const char *name, int64_t size);
mm_err_t mm_blob_list(mm_blob_t *blob, const char *prefix, mm_blob_list_cb_t *cb, void *opaque,
                      char *errstr, size_t errstr_size);

/** @brief Delete; MM_ERR_NOT_FOUND if absent. */
mm_err_t mm_blob_delete(mm_blob_t *blob, const char *name, char *errstr, size_t errstr_size);

/**
 * @brief Copy @p src to @p dst inside the same store (server-side where the
 * backend can, else get + put). @p flags as for put; with
 * MM_BLOB_IF_NONE_MATCH an existing identical @p dst is success and a
 * different one MM_ERR_EXISTS. A missing @p src is MM_ERR_NOT_FOUND.
 */
mm_err_t mm_blob_copy(mm_blob_t *blob, const char *src, const char *dst, int flags, char *errstr,
                      size_t errstr_size);

/* ---- exposed for tests: Azure SharedKey signing ---- */

/**
 * @brief Build the SharedKey string-to-sign for a Blob service request
 * (https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key).
 * @param headers all request headers (x-ms-* are canonicalized from these).
 * @param canonical_resource "/account/container/blob\ncomp:list..." as the spec says.
 * @returns malloc'd string.
 */
char *mm_blob_azure_string_to_sign(const char *method, const char *const *header_names,
                                   const char *const *header_values, size_t n_headers,
                                   const char *canonical_resource);
/** @brief base64(HMAC-SHA256(base64decode(key), string_to_sign)); malloc'd or NULL on bad key. */
char *mm_blob_azure_sign(const char *account_key_b64, const char *string_to_sign);

/**
 * @brief Build an account SAS token for the Blob service (version 2021-08-06,
 * https://learn.microsoft.com/rest/api/storageservices/create-account-sas),
 * usable as mm_blob_opts_t.sas_token.
 * @param permissions e.g. "rwdlac"; @param resource_types e.g. "sco".
 * @param expiry_unix_s when the token stops working (seconds since the epoch).
 * @returns malloc'd query string without a leading '?', or NULL (bad key, OOM).
 */
char *mm_blob_azure_account_sas(const char *account_name, const char *account_key_b64,
                                const char *permissions, const char *resource_types,
                                int64_t expiry_unix_s);

/**
 * @brief Ask for at most @p page_size names per list request (Azure
 * maxresults; 0 = the service default of 5000). Listing still returns every
 * name: this only changes how many round trips it takes (tests use it to
 * exercise marker paging). No effect on file://.
 */
void mm_blob_set_list_page_size(mm_blob_t *blob, int page_size);

/**
 * @brief Report every blob store request of this process to @p metrics:
 * mm_blob_request_seconds{op} (histogram) and mm_blob_errors_total{op,error}
 * (counter); op is put, get, list, delete or copy. No label names a blob.
 * Process-wide: call once at start-up, before blob requests start; NULL
 * stops reporting (before the registry is destroyed).
 * @returns MM_OK; an error when the registry refuses the metrics (already
 * registered there).
 */
mm_err_t mm_blob_report_metrics(mm_metrics_t *metrics, char *errstr, size_t errstr_size);

#endif
