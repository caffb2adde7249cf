/*
 * blob_int.h - the backend interface behind blob.h, shared by blob.c (URL
 * dispatch, name checks, immutable-put and copy semantics) and the backends
 * blob_file.c and blob_azure.c. Not installed; libmm-internal.
 */
#ifndef MM_BLOB_INT_H
#define MM_BLOB_INT_H

#include "mm/blob.h"

/*
 * One backend. Names reaching these functions are already validated by
 * blob.c (mm_blob__name_ok). Every function returns MM_ERR_NOT_FOUND for a
 * missing name and MM_ERR_EXISTS when MM_BLOB_IF_NONE_MATCH finds one.
 */
typedef struct mm_blob__ops {
    const char *scheme_name; /* for messages: "file", "azure" */
    mm_err_t (*put)(void *backend, const char *name, const void *data, size_t len, int flags,
                    char *errstr, size_t errstr_size);
    mm_err_t (*get)(void *backend, const char *name, mm_buf_t *out, char *errstr,
                    size_t errstr_size);
    mm_err_t (*list)(void *backend, const char *prefix, mm_blob_list_cb_t *cb, void *opaque,
                     char *errstr, size_t errstr_size);
    mm_err_t (*del)(void *backend, const char *name, char *errstr, size_t errstr_size);
    /* NULL: blob.c copies with get + put. */
    mm_err_t (*copy)(void *backend, const char *src, const char *dst, int flags, char *errstr,
                     size_t errstr_size);
    void (*set_list_page_size)(void *backend, int page_size); /* may be NULL */
    void (*destroy)(void *backend);
} mm_blob__ops_t;

/** @brief Open a file:// store; @returns the backend or NULL with errstr set. */
void *mm_blob__file_open(const char *url, const mm_blob_opts_t *opts, char *errstr,
                         size_t errstr_size);
extern const mm_blob__ops_t mm_blob__file_ops;

/** @brief Open an http(s):// Azure Blob store; @returns the backend or NULL with errstr set. */
void *mm_blob__azure_open(const char *url, const mm_blob_opts_t *opts, char *errstr,
                          size_t errstr_size);
extern const mm_blob__ops_t mm_blob__azure_ops;

/** @brief Longest blob name accepted (Azure's limit is 1024 characters). */
#define MM_BLOB__NAME_MAX 1024

/**
 * @brief Is @p name usable on every backend: non-empty, relative, '/'-separated
 * segments none of which is empty, "." or "..", no control characters, at most
 * MM_BLOB__NAME_MAX bytes. With @p is_prefix an empty string and a trailing
 * '/' or partial last segment are allowed.
 */
bool mm_blob__name_ok(const char *name, bool is_prefix);

#endif
