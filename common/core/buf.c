/*
 * buf.c - growable byte buffer with a cap (see buf.h).
 */
#include "mm/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mm_buf_init(mm_buf_t *buf, size_t limit) {
    buf->data = NULL;
    buf->len = 0;
    buf->cap = 0;
    buf->limit = limit ? limit : MM_BUF_CAP_MESSAGE;
}

void mm_buf_free(mm_buf_t *buf) {
    if (!buf) return;
    free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
}

void mm_buf_reset(mm_buf_t *buf) {
    buf->len = 0;
    if (buf->data) buf->data[0] = 0;
}

mm_err_t mm_buf_reserve(mm_buf_t *buf, size_t extra) {
    size_t limit = buf->limit ? buf->limit : MM_BUF_CAP_MESSAGE;
    if (extra > limit || buf->len > limit - extra) return MM_ERR_NOMEM;
    size_t need = buf->len + extra + 1; /* + NUL */
    if (need <= buf->cap) return MM_OK;
    size_t cap = buf->cap ? buf->cap : 256;
    while (cap < need) cap *= 2;
    uint8_t *data = realloc(buf->data, cap);
    if (!data) return MM_ERR_NOMEM;
    buf->data = data;
    buf->cap = cap;
    return MM_OK;
}

mm_err_t mm_buf_append(mm_buf_t *buf, const void *data, size_t len) {
    mm_err_t err = mm_buf_reserve(buf, len);
    if (err) return err;
    if (len) memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    buf->data[buf->len] = 0;
    return MM_OK;
}

mm_err_t mm_buf_append_str(mm_buf_t *buf, const char *s) {
    return mm_buf_append(buf, s, strlen(s));
}

mm_err_t mm_buf_appendf(mm_buf_t *buf, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return MM_ERR_INVALID_ARG;
    mm_err_t err = mm_buf_reserve(buf, (size_t)n);
    if (err) return err;
    va_start(ap, fmt);
    vsnprintf((char *)buf->data + buf->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    buf->len += (size_t)n;
    return MM_OK;
}

uint8_t *mm_buf_steal(mm_buf_t *buf, size_t *len) {
    uint8_t *data = buf->data;
    if (len) *len = buf->len;
    buf->data = NULL;
    buf->len = buf->cap = 0;
    return data;
}
