/*
 * blob_int.h - the backend interface behind blob.h, shared by blob.c (URL
 * dispatch, name checks, immutable-put and copy semantics) and the backends
 * blob_file.c and blob_azure.c, and the pieces of the Azure backend that live
 * in files of their own (blob_azure_sign.c, blob_azure_xml.c) so that tests
 * can reach them. Not installed; libmm-internal.
 *
 * Dependencies go one way: blob.c knows each backend by its ops table (which
 * includes how to open it); a backend knows nothing of blob.c. The name rule
 * both sides need is an inline function here, not a call back into blob.c.
 */
#ifndef MM_BLOB_INT_H
#define MM_BLOB_INT_H

#include <stdbool.h>
#include <string.h>

#include "mm/blob.h"

/*
 * One backend. Names reaching these functions are already validated by
 * blob.c (mm_blob__name_ok). Every function returns MM_ERR_NOT_FOUND for a
 * missing name and MM_ERR_EXISTS when MM_BLOB_IF_NONE_MATCH finds one.
 */
typedef struct mm_blob__ops {
    const char *scheme_name; /* for messages: "file", "azure" */
    /* The URL is as given to mm_blob_new() minus any query string; @returns
     * the backend or NULL with errstr set. */
    void *(*open)(const char *url, const mm_blob_opts_t *opts, char *errstr, size_t errstr_size);
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

/* file:// stores (blob_file.c). */
extern const mm_blob__ops_t mm_blob__file_ops;

/* http(s):// Azure Blob stores (blob_azure.c). */
extern const mm_blob__ops_t mm_blob__azure_ops;

/* Request metrics (blob_metrics.c): a monotonic clock in ns, and one
 * request's time and outcome reported when mm_blob_report_metrics() was
 * called; @returns @p err unchanged. */
int64_t mm_blob__clock_ns(void);
mm_err_t mm_blob__observe(const char *op, int64_t started_ns, mm_err_t err);

/* The REST API version every Azure request and SAS token names (x-ms-version, sv=). */
#define MM_BLOB__AZURE_API_VERSION "2021-08-06"

/**
 * @brief Text of the first <tag>...</tag> in [xml, xml_end), undecoded (the
 * Code and Message of an Azure error body). Defined in blob_azure_xml.c.
 * @param tag element name without brackets, shorter than 60 characters.
 * @returns the text (caller frees), or NULL when absent, unterminated, or
 * out of memory.
 */
char *mm_blob__azure_xml_text(const char *xml, const char *xml_end, const char *tag);

/**
 * @brief Parse one page of a List Blobs response (blob_azure_xml.c).
 *
 * Every <Blob> after <Blobs> yields one call of @p cb, in document order,
 * with its <Name> decoded (the five named entities, numeric references as
 * UTF-8, and percent-decoding when the element says Encoded="true") and
 * @p name_prefix removed; names not starting with @p name_prefix are
 * skipped. The size is <Content-Length>, or -1 without one. Names are not
 * validated or bounded here beyond the document (the service caps them at
 * 1024 characters). A <Blob> is only delivered once its </Blob> is seen, so
 * earlier blobs may have been delivered when a later one is malformed.
 *
 * @param xml, len the response body; need not be NUL-terminated; may be NULL
 * when @p len is 0.
 * @param name_prefix the store's name prefix ("" or "dir/"); NULL means "".
 * @param next_marker set to the decoded <NextMarker> (caller frees), or NULL
 * when it is absent or empty: the last page.
 * @param stopped set when @p cb returned false; parsing stops there and
 * *next_marker stays NULL.
 * @returns MM_OK; MM_ERR_PARSE with errstr set for a body without <Blobs>, a
 * <Blob> without </Blob> or <Name>, a bad entity or percent escape, a bad
 * <Content-Length> or <NextMarker> (*next_marker is NULL then).
 */
mm_err_t mm_blob__azure_list_parse(const char *xml, size_t len, const char *name_prefix,
                                   mm_blob_list_cb_t *cb, void *opaque, char **next_marker,
                                   bool *stopped, char *errstr, size_t errstr_size);

/** @brief Longest blob name accepted (Azure's limit is 1024 characters). */
#define MM_BLOB__NAME_MAX 1024

/**
 * @brief Is @p name usable on every backend: non-empty, relative, '/'-separated
 * segments none of which is empty, "." or "..", no control characters, at most
 * MM_BLOB__NAME_MAX bytes. With @p is_prefix an empty string and a trailing
 * '/' or partial last segment are allowed.
 */
static inline bool mm_blob__name_ok(const char *name, bool is_prefix) {
    if (!name) return false;
    size_t len = strlen(name);
    if (len > MM_BLOB__NAME_MAX) return false;
    if (len == 0) return is_prefix;
    if (name[0] == '/') return false;
    if (name[len - 1] == '/' && !is_prefix) return false;
    const char *seg = name;
    for (;;) {
        const char *slash = strchr(seg, '/');
        size_t seg_len = slash ? (size_t)(slash - seg) : strlen(seg);
        bool last = slash == NULL;
        /* A prefix may end in a partial or empty last segment ("a/", "a/b"),
         * but "a/.." as a prefix could still walk out of a file:// root. */
        if (seg_len == 0 && !(last && is_prefix)) return false;
        if (seg_len == 1 && seg[0] == '.') return false;
        if (seg_len == 2 && seg[0] == '.' && seg[1] == '.') return false;
        for (size_t i = 0; i < seg_len; i++) {
            unsigned char c = (unsigned char)seg[i];
            if (c < 0x20 || c == 0x7f || c == '\\') return false;
        }
        if (last) break;
        seg = slash + 1;
    }
    return true;
}

#endif
