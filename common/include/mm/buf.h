/*
 * buf.h - growable byte buffer with a named cap.
 *
 * Every growable buffer in manymodels has a cap: appending past it fails with
 * MM_ERR_NOMEM instead of growing without bound (decoders, HTTP bodies,
 * batches). Tuned for the common case of building one message at a time.
 */
#ifndef MM_BUF_H
#define MM_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "mm/err.h"

/* Named caps used across the code base. */
#define MM_BUF_CAP_MESSAGE   (8u * 1024u * 1024u)   /* one Kafka payload we build or accept */
#define MM_BUF_CAP_HTTP_BODY (256u * 1024u * 1024u) /* one HTTP response body */
#define MM_BUF_CAP_ARTIFACT  (64u * 1024u * 1024u)  /* one model artifact */

typedef struct mm_buf {
    uint8_t *data; /* owned; NUL-terminated after every append (not counted in len) */
    size_t len;
    size_t cap;   /* allocated bytes */
    size_t limit; /* max len; 0 means MM_BUF_CAP_MESSAGE */
} mm_buf_t;

/** @brief Initialise an empty buffer that may grow to @p limit bytes. */
void mm_buf_init(mm_buf_t *buf, size_t limit);
/** @brief Free the storage; the buffer may be re-used after mm_buf_init(). Accepts NULL. */
void mm_buf_free(mm_buf_t *buf);
/** @brief Set len to 0, keeping storage. */
void mm_buf_reset(mm_buf_t *buf);
/** @brief Ensure room for @p extra more bytes. */
mm_err_t mm_buf_reserve(mm_buf_t *buf, size_t extra);
mm_err_t mm_buf_append(mm_buf_t *buf, const void *data, size_t len);
mm_err_t mm_buf_append_str(mm_buf_t *buf, const char *s);
mm_err_t mm_buf_appendf(mm_buf_t *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** @brief Hand the storage to the caller (free() it); the buffer becomes empty. */
uint8_t *mm_buf_steal(mm_buf_t *buf, size_t *len);

#endif
