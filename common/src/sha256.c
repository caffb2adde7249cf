/*
 * sha256.c - SHA-256 digests, HMAC-SHA256 and base64 over OpenSSL (see sha256.h).
 *
 * Workload: whole model artifacts (up to tens of MiB) hashed once per put or
 * load, and short strings-to-sign HMAC'd once per Azure request. Nothing here
 * keeps state between calls, so every function may be called from any thread.
 */
#include "mm/sha256.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "mm/util.h"

struct mm_sha256_ctx {
    EVP_MD_CTX *md;
};

void mm_sha256(const void *data, size_t len, uint8_t out[MM_SHA256_LEN]) {
    unsigned int out_len = 0;
    /* EVP_Digest only fails on allocation failure; a zero digest then makes
     * every later comparison fail loudly rather than match by accident. */
    if (!EVP_Digest(data, len, out, &out_len, EVP_sha256(), NULL)) memset(out, 0, MM_SHA256_LEN);
}

void mm_sha256_hex(const void *data, size_t len, char out[MM_SHA256_HEX_LEN + 1]) {
    uint8_t digest[MM_SHA256_LEN];
    mm_sha256(data, len, digest);
    mm_hex(digest, sizeof(digest), out);
}

mm_sha256_ctx_t *mm_sha256_new(void) {
    mm_sha256_ctx_t *ctx = calloc(1, sizeof(*ctx));
    if (!ctx) return NULL;
    ctx->md = EVP_MD_CTX_new();
    if (!ctx->md || !EVP_DigestInit_ex(ctx->md, EVP_sha256(), NULL)) {
        EVP_MD_CTX_free(ctx->md);
        free(ctx);
        return NULL;
    }
    return ctx;
}

void mm_sha256_update(mm_sha256_ctx_t *ctx, const void *data, size_t len) {
    if (ctx && len) EVP_DigestUpdate(ctx->md, data, len);
}

void mm_sha256_final_hex(mm_sha256_ctx_t *ctx, char out[MM_SHA256_HEX_LEN + 1]) {
    uint8_t digest[MM_SHA256_LEN];
    unsigned int digest_len = 0;
    if (!ctx || !EVP_DigestFinal_ex(ctx->md, digest, &digest_len))
        memset(digest, 0, sizeof(digest));
    mm_hex(digest, sizeof(digest), out);
    if (ctx) {
        EVP_MD_CTX_free(ctx->md);
        free(ctx);
    }
}

void mm_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                    uint8_t out[MM_SHA256_LEN]) {
    unsigned int out_len = 0;
    static const uint8_t empty_key[1] = {0};
    /* HMAC() takes an int key length and rejects a NULL key pointer. */
    if (key_len > INT_MAX ||
        !HMAC(EVP_sha256(), key_len ? key : empty_key, (int)key_len, data, len, out, &out_len))
        memset(out, 0, MM_SHA256_LEN);
}

char *mm_base64_encode(const uint8_t *data, size_t len) {
    if (len > (size_t)INT_MAX / 4 * 3 - 3) return NULL;
    size_t out_len = 4 * ((len + 2) / 3);
    char *out = malloc(out_len + 1);
    if (!out) return NULL;
    if (len == 0) {
        out[0] = 0;
        return out;
    }
    int n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    if (n < 0 || (size_t)n != out_len) {
        free(out);
        return NULL;
    }
    out[n] = 0;
    return out;
}

static bool base64_char_ok(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

uint8_t *mm_base64_decode(const char *text, size_t *out_len) {
    if (!text) return NULL;
    size_t len = strlen(text);
    /* EVP_DecodeBlock skips surrounding whitespace and keeps the padding as
     * zero bytes in its count, so validate strictly here first: canonical
     * padded base64 only, '=' allowed only as the last one or two chars. */
    if (len % 4 != 0 || len > (size_t)INT_MAX) return NULL;
    size_t pad = 0;
    if (len >= 1 && text[len - 1] == '=') pad++;
    if (len >= 2 && text[len - 2] == '=') pad++;
    for (size_t i = 0; i < len - pad; i++)
        if (!base64_char_ok((unsigned char)text[i])) return NULL;
    uint8_t *out = malloc(len / 4 * 3 + 1);
    if (!out) return NULL;
    if (len == 0) {
        *out_len = 0;
        return out;
    }
    int n = EVP_DecodeBlock(out, (const unsigned char *)text, (int)len);
    if (n < 0 || (size_t)n != len / 4 * 3 || (size_t)n < pad) {
        free(out);
        return NULL;
    }
    *out_len = (size_t)n - pad;
    return out;
}
