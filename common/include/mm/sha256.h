/*
 * sha256.h - SHA-256 digests (OpenSSL EVP underneath).
 */
#ifndef MM_SHA256_H
#define MM_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define MM_SHA256_LEN     32
#define MM_SHA256_HEX_LEN 64 /* without the NUL */

typedef struct mm_sha256_ctx mm_sha256_ctx_t;

void mm_sha256(const void *data, size_t len, uint8_t out[MM_SHA256_LEN]);
/** @brief Hex digest into @p out (65 bytes incl. NUL). */
void mm_sha256_hex(const void *data, size_t len, char out[MM_SHA256_HEX_LEN + 1]);

/** Incremental use: new / update... / final_hex (which also destroys). */
mm_sha256_ctx_t *mm_sha256_new(void);
void mm_sha256_update(mm_sha256_ctx_t *ctx, const void *data, size_t len);
void mm_sha256_final_hex(mm_sha256_ctx_t *ctx, char out[MM_SHA256_HEX_LEN + 1]);

/** @brief HMAC-SHA256 (used by SharedKey signing). */
void mm_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                    uint8_t out[MM_SHA256_LEN]);

/** @brief Standard base64 encode into a malloc'd NUL-terminated string. */
char *mm_base64_encode(const uint8_t *data, size_t len);
/** @brief Standard base64 decode; @returns malloc'd bytes or NULL if invalid. */
uint8_t *mm_base64_decode(const char *text, size_t *out_len);

#endif
