/*
 * serve_auth.h - bearer tokens for mm-scorer serve: read from a file (one
 * per line) and/or an environment variable (comma-separated), kept only as
 * their sha256 digests, and checked in constant time (CRYPTO_memcmp over
 * equal-length digests, every configured token compared every time).
 */
#ifndef MM_SCORER_SERVE_AUTH_H
#define MM_SCORER_SERVE_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/err.h"
#include "mm/sha256.h"

#define MM_SERVE_TOKENS_MAX    64   /* tokens configured at once */
#define MM_SERVE_TOKEN_MIN_LEN 16   /* shorter tokens are refused as guessable */
#define MM_SERVE_TOKEN_MAX_LEN 4096 /* bytes of one token */

typedef struct mm_serve_tokens {
    size_t n;
    uint8_t digest[MM_SERVE_TOKENS_MAX][MM_SHA256_LEN];
} mm_serve_tokens_t;

/**
 * @brief Load tokens from @p path (one per line; blank lines and lines
 * starting with '#' skipped; surrounding white space trimmed) when non-NULL
 * and non-empty, and from @p list (comma-separated) when non-NULL and
 * non-empty. A token shorter than MM_SERVE_TOKEN_MIN_LEN, longer than
 * MM_SERVE_TOKEN_MAX_LEN or with bytes outside printable ASCII is refused.
 * @returns MM_OK (n may be 0: no authentication); MM_ERR_CONFIG naming the
 * file and line (never the token); MM_ERR_IO when the file cannot be read.
 */
mm_err_t mm_serve_tokens_load(mm_serve_tokens_t *tokens, const char *path, const char *list,
                              char *errstr, size_t errstr_size);

/**
 * @brief Whether @p authorization (an Authorization header value, may be
 * NULL) is "Bearer <one of the tokens>". Always true when no token is
 * configured. Takes the same time whichever token matches, or none.
 */
bool mm_serve_tokens_check(const mm_serve_tokens_t *tokens, const char *authorization);

/** @brief Forget every token (the digests are wiped). */
void mm_serve_tokens_clear(mm_serve_tokens_t *tokens);

#endif
