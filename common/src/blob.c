/*
 * blob.c - the blob store front end (see blob.h): picks a backend by URL
 * scheme, checks names once for every backend, and implements the semantics
 * that must not differ between backends: content-addressed immutable puts and
 * "copy onto an identical existing name is success".
 *
 * Workload: a few operations per trained or promoted model; correctness and
 * clear errors matter far more than per-call overhead here.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "blob_int.h"
#include "mm/sha256.h"

struct mm_blob {
    char *url; /* as opened, minus any SAS query string */
    const mm_blob__ops_t *ops;
    void *backend;
};

mm_blob_t *mm_blob_new(const char *url, const mm_blob_opts_t *opts, char *errstr,
                       size_t errstr_size) {
    if (!url) {
        mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "blob: no URL given");
        return NULL;
    }
    mm_blob_opts_t defaults = {0};
    mm_blob_opts_t o = opts ? *opts : defaults;
    mm_blob_t *blob = calloc(1, sizeof(*blob));
    if (!blob) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "blob: out of memory");
        return NULL;
    }
    /* A SAS token may come inside the URL; keep it out of mm_blob_url(),
     * which ends up in records and logs. */
    const char *query = strchr(url, '?');
    blob->url = query ? strndup(url, (size_t)(query - url)) : strdup(url);
    if (!blob->url) {
        free(blob);
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "blob: out of memory");
        return NULL;
    }
    if (strncasecmp(url, "file://", 7) == 0) {
        blob->ops = &mm_blob__file_ops;
    } else if (strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0) {
        if (query && query[1] && !o.sas_token) o.sas_token = query + 1;
        blob->ops = &mm_blob__azure_ops;
    } else {
        mm_errf(MM_ERR_CONFIG, errstr, errstr_size,
                "blob: unsupported URL %s (expected file://, http:// or https://)", blob->url);
    }
    if (blob->ops) blob->backend = blob->ops->open(blob->url, &o, errstr, errstr_size);
    if (!blob->backend) {
        free(blob->url);
        free(blob);
        return NULL;
    }
    return blob;
}

void mm_blob_destroy(mm_blob_t *blob) {
    if (!blob) return;
    blob->ops->destroy(blob->backend);
    free(blob->url);
    free(blob);
}

const char *mm_blob_url(const mm_blob_t *blob) {
    return blob->url;
}

void mm_blob_set_list_page_size(mm_blob_t *blob, int page_size) {
    if (blob && blob->ops->set_list_page_size)
        blob->ops->set_list_page_size(blob->backend, page_size);
}

/* The backend's requests, timed and counted for /metrics (blob_metrics.c). */
static mm_err_t op_put(mm_blob_t *blob, const char *name, const void *data, size_t len, int flags,
                       char *errstr, size_t errstr_size) {
    int64_t t0 = mm_blob__clock_ns();
    return mm_blob__observe(
        "put", t0, blob->ops->put(blob->backend, name, data, len, flags, errstr, errstr_size));
}

static mm_err_t op_get(mm_blob_t *blob, const char *name, mm_buf_t *out, char *errstr,
                       size_t errstr_size) {
    int64_t t0 = mm_blob__clock_ns();
    return mm_blob__observe("get", t0,
                            blob->ops->get(blob->backend, name, out, errstr, errstr_size));
}

static mm_err_t op_list(mm_blob_t *blob, const char *prefix, mm_blob_list_cb_t *cb, void *opaque,
                        char *errstr, size_t errstr_size) {
    int64_t t0 = mm_blob__clock_ns();
    return mm_blob__observe(
        "list", t0, blob->ops->list(blob->backend, prefix, cb, opaque, errstr, errstr_size));
}

static mm_err_t op_del(mm_blob_t *blob, const char *name, char *errstr, size_t errstr_size) {
    int64_t t0 = mm_blob__clock_ns();
    return mm_blob__observe("delete", t0, blob->ops->del(blob->backend, name, errstr, errstr_size));
}

static mm_err_t op_copy(mm_blob_t *blob, const char *src, const char *dst, int flags, char *errstr,
                        size_t errstr_size) {
    int64_t t0 = mm_blob__clock_ns();
    return mm_blob__observe("copy", t0,
                            blob->ops->copy(blob->backend, src, dst, flags, errstr, errstr_size));
}

static mm_err_t blob_bad_name(const char *what, const char *name, char *errstr,
                              size_t errstr_size) {
    return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                   "blob: invalid %s \"%s\" (relative '/'-separated path, no empty, \".\" or "
                   "\"..\" segments, no control characters, at most %d bytes)",
                   what, name ? name : "(null)", MM_BLOB__NAME_MAX);
}

mm_err_t mm_blob_put(mm_blob_t *blob, const char *name, const void *data, size_t len, int flags,
                     char *errstr, size_t errstr_size) {
    if (!mm_blob__name_ok(name, false)) return blob_bad_name("name", name, errstr, errstr_size);
    if (!data && len)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "blob put %s: no data", name);
    return op_put(blob, name, data ? data : "", len, flags, errstr, errstr_size);
}

mm_err_t mm_blob_get(mm_blob_t *blob, const char *name, mm_buf_t *out, char *errstr,
                     size_t errstr_size) {
    if (!mm_blob__name_ok(name, false)) return blob_bad_name("name", name, errstr, errstr_size);
    mm_buf_reset(out);
    mm_err_t err = op_get(blob, name, out, errstr, errstr_size);
    if (err == MM_OK && !out->data && mm_buf_append(out, "", 0) != MM_OK)
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "blob get %s: out of memory", name);
    return err;
}

mm_err_t mm_blob_list(mm_blob_t *blob, const char *prefix, mm_blob_list_cb_t *cb, void *opaque,
                      char *errstr, size_t errstr_size) {
    if (!prefix) prefix = "";
    if (!mm_blob__name_ok(prefix, true))
        return blob_bad_name("prefix", prefix, errstr, errstr_size);
    if (!cb) return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "blob list: no callback");
    return op_list(blob, prefix, cb, opaque, errstr, errstr_size);
}

mm_err_t mm_blob_delete(mm_blob_t *blob, const char *name, char *errstr, size_t errstr_size) {
    if (!mm_blob__name_ok(name, false)) return blob_bad_name("name", name, errstr, errstr_size);
    return op_del(blob, name, errstr, errstr_size);
}

/* How many times an immutable put re-checks a name that vanished between
 * the refused put and the read-back (a concurrent delete). */
#define BLOB_IMMUTABLE_ATTEMPTS 3

mm_err_t mm_blob_put_immutable(mm_blob_t *blob, const char *name, const void *data, size_t len,
                               const char *sha256_hex, char *errstr, size_t errstr_size) {
    char want[MM_SHA256_HEX_LEN + 1];
    if (!mm_blob__name_ok(name, false)) return blob_bad_name("name", name, errstr, errstr_size);
    if (!data && len)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "blob put %s: no data", name);
    if (!data) data = "";
    mm_sha256_hex(data, len, want);
    /* A caller-supplied digest that does not match the bytes is a bug upstream;
     * storing the bytes under that content address would poison it. */
    if (sha256_hex && strcasecmp(sha256_hex, want) != 0)
        return mm_errf(MM_ERR_INTEGRITY, errstr, errstr_size,
                       "blob put %s: data has sha256 %s, caller said %s", name, want, sha256_hex);

    mm_err_t err = MM_OK;
    for (int attempt = 0; attempt < BLOB_IMMUTABLE_ATTEMPTS; attempt++) {
        err = op_put(blob, name, data, len, MM_BLOB_IF_NONE_MATCH, errstr, errstr_size);
        if (err != MM_ERR_EXISTS) return err;

        /* Read back at most len + 1 bytes: anything longer cannot be equal. */
        mm_buf_t existing;
        mm_buf_init(&existing, len + 1);
        err = op_get(blob, name, &existing, errstr, errstr_size);
        if (err == MM_ERR_NOT_FOUND) {
            mm_buf_free(&existing);
            continue;
        }
        if (err == MM_ERR_NOMEM) {
            mm_buf_free(&existing);
            return mm_errf(MM_ERR_INTEGRITY, errstr, errstr_size,
                           "blob put %s: exists with different content (larger than %zu bytes)",
                           name, len);
        }
        if (err != MM_OK) {
            mm_buf_free(&existing);
            return err;
        }
        char have[MM_SHA256_HEX_LEN + 1];
        mm_sha256_hex(existing.data ? existing.data : (const uint8_t *)"", existing.len, have);
        mm_buf_free(&existing);
        if (strcmp(have, want) == 0) return MM_OK;
        return mm_errf(MM_ERR_INTEGRITY, errstr, errstr_size,
                       "blob put %s: exists with sha256 %s, expected %s", name, have, want);
    }
    return mm_errf(MM_ERR_EXISTS, errstr, errstr_size,
                   "blob put %s: refused as existing but not readable after %d attempts", name,
                   BLOB_IMMUTABLE_ATTEMPTS);
}

/* get + put, for backends without a server-side copy. */
static mm_err_t blob_copy_by_value(mm_blob_t *blob, const char *src, const char *dst, int flags,
                                   char *errstr, size_t errstr_size) {
    mm_buf_t data;
    mm_buf_init(&data, MM_BUF_CAP_HTTP_BODY);
    mm_err_t err = op_get(blob, src, &data, errstr, errstr_size);
    if (err == MM_OK)
        err = op_put(blob, dst, data.data ? data.data : (const uint8_t *)"", data.len, flags,
                     errstr, errstr_size);
    mm_buf_free(&data);
    return err;
}

/* After a refused conditional copy: is @p dst byte-for-byte @p src? */
static mm_err_t blob_copy_same_content(mm_blob_t *blob, const char *src, const char *dst,
                                       char *errstr, size_t errstr_size) {
    mm_buf_t a, b;
    mm_buf_init(&a, MM_BUF_CAP_HTTP_BODY);
    mm_err_t err = op_get(blob, src, &a, errstr, errstr_size);
    if (err != MM_OK) {
        mm_buf_free(&a);
        return err;
    }
    mm_buf_init(&b, a.len + 1);
    err = op_get(blob, dst, &b, errstr, errstr_size);
    if (err == MM_OK && (a.len != b.len || (a.len && memcmp(a.data, b.data, a.len) != 0)))
        err = MM_ERR_NOMEM; /* same outcome as "dst is longer": different */
    if (err == MM_ERR_NOMEM)
        err = mm_errf(MM_ERR_EXISTS, errstr, errstr_size,
                      "blob copy %s -> %s: destination exists with different content", src, dst);
    else if (err == MM_ERR_NOT_FOUND)
        err =
            mm_errf(MM_ERR_EXISTS, errstr, errstr_size,
                    "blob copy %s -> %s: destination refused as existing, then vanished", src, dst);
    mm_buf_free(&a);
    mm_buf_free(&b);
    return err;
}

mm_err_t mm_blob_copy(mm_blob_t *blob, const char *src, const char *dst, int flags, char *errstr,
                      size_t errstr_size) {
    if (!mm_blob__name_ok(src, false))
        return blob_bad_name("source name", src, errstr, errstr_size);
    if (!mm_blob__name_ok(dst, false))
        return blob_bad_name("destination name", dst, errstr, errstr_size);
    mm_err_t err = blob->ops->copy ? op_copy(blob, src, dst, flags, errstr, errstr_size)
                                   : blob_copy_by_value(blob, src, dst, flags, errstr, errstr_size);
    if (err == MM_ERR_EXISTS && (flags & MM_BLOB_IF_NONE_MATCH))
        err = blob_copy_same_content(blob, src, dst, errstr, errstr_size);
    return err;
}

/* ------------------------------------------------------------ verified get */

mm_err_t mm_blob_get_verified(mm_blob_t *blob, const char *name, const char *expected_sha256_hex,
                              int64_t expected_size, mm_buf_t *out, char *errstr,
                              size_t errstr_size) {
    mm_err_t err = mm_blob_get(blob, name, out, errstr, errstr_size);
    if (err == MM_ERR_NOT_FOUND) {
        err = mm_errf(err, errstr, errstr_size, "blob %s not found", name);
    } else if (err == MM_OK && expected_size >= 0 &&
               (uint64_t)out->len != (uint64_t)expected_size) {
        err = mm_errf(MM_ERR_INTEGRITY, errstr, errstr_size, "blob %s is %zu bytes, expected %lld",
                      name, out->len, (long long)expected_size);
    } else if (err == MM_OK) {
        char actual[MM_SHA256_HEX_LEN + 1];
        mm_sha256_hex(out->data, out->len, actual);
        if (!expected_sha256_hex || strcasecmp(actual, expected_sha256_hex) != 0)
            err =
                mm_errf(MM_ERR_INTEGRITY, errstr, errstr_size, "blob %s has sha256 %s, expected %s",
                        name, actual, expected_sha256_hex ? expected_sha256_hex : "(none)");
    }
    if (err != MM_OK) mm_buf_reset(out);
    return err;
}
