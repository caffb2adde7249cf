/*
 * serve_auth.c - bearer tokens (see serve_auth.h). Only digests are kept:
 * the raw tokens are wiped as soon as they are hashed, and no error message
 * ever contains one.
 */
#include "serve_auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#define BEARER     "Bearer "
#define BEARER_LEN (sizeof(BEARER) - 1)
#define LINE_MAX_  (MM_SERVE_TOKEN_MAX_LEN + 2)

static bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Trim @p s (length *len) in place; returns the start. */
static char *trim(char *s, size_t *len) {
    while (*len > 0 && is_space(s[*len - 1])) (*len)--;
    while (*len > 0 && is_space(*s)) {
        s++;
        (*len)--;
    }
    return s;
}

static mm_err_t add(mm_serve_tokens_t *t, const char *tok, size_t len, const char *origin,
                    size_t line, char *errstr, size_t errstr_size) {
    char where[320];
    if (line)
        snprintf(where, sizeof(where), "%s line %zu", origin, line);
    else
        snprintf(where, sizeof(where), "%s", origin);
    if (len < MM_SERVE_TOKEN_MIN_LEN || len > MM_SERVE_TOKEN_MAX_LEN)
        return mm_errf(MM_ERR_CONFIG, errstr, errstr_size,
                       "%s: a token must have %d to %d characters (this one has %zu)", where,
                       MM_SERVE_TOKEN_MIN_LEN, MM_SERVE_TOKEN_MAX_LEN, len);
    for (size_t i = 0; i < len; i++)
        if (tok[i] <= ' ' || tok[i] > '~')
            return mm_errf(MM_ERR_CONFIG, errstr, errstr_size,
                           "%s: a token may hold only printable ASCII without spaces", where);
    if (t->n == MM_SERVE_TOKENS_MAX)
        return mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "%s: more than %d tokens", where,
                       MM_SERVE_TOKENS_MAX);
    mm_sha256(tok, len, t->digest[t->n++]);
    return MM_OK;
}

static mm_err_t load_file(mm_serve_tokens_t *t, const char *path, char *errstr,
                          size_t errstr_size) {
    FILE *f = fopen(path, "r");
    if (!f)
        return mm_errf(MM_ERR_IO, errstr, errstr_size, "token file %s: %s", path, strerror(errno));
    char line[LINE_MAX_ + 1];
    size_t lineno = 0;
    mm_err_t err = MM_OK;
    while (!err && fgets(line, sizeof(line), f)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
            err = mm_errf(MM_ERR_CONFIG, errstr, errstr_size,
                          "token file %s line %zu: longer than %d characters", path, lineno,
                          MM_SERVE_TOKEN_MAX_LEN);
            break;
        }
        char *tok = trim(line, &len);
        if (len == 0 || tok[0] == '#') continue;
        err = add(t, tok, len, path, lineno, errstr, errstr_size);
    }
    OPENSSL_cleanse(line, sizeof(line));
    if (!err && ferror(f))
        err = mm_errf(MM_ERR_IO, errstr, errstr_size, "token file %s: read error", path);
    fclose(f);
    return err;
}

static mm_err_t load_list(mm_serve_tokens_t *t, const char *list, char *errstr,
                          size_t errstr_size) {
    char *copy = strdup(list);
    if (!copy) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
    size_t total = strlen(copy), item = 0;
    mm_err_t err = MM_OK;
    char *save = NULL;
    for (char *p = strtok_r(copy, ",", &save); p && !err; p = strtok_r(NULL, ",", &save)) {
        size_t len = strlen(p);
        char *tok = trim(p, &len);
        item++;
        if (len == 0) continue;
        char origin[64];
        snprintf(origin, sizeof(origin), "token list item %zu", item);
        err = add(t, tok, len, origin, 0, errstr, errstr_size);
    }
    OPENSSL_cleanse(copy, total);
    free(copy);
    return err;
}

mm_err_t mm_serve_tokens_load(mm_serve_tokens_t *t, const char *path, const char *list,
                              char *errstr, size_t errstr_size) {
    mm_serve_tokens_clear(t);
    mm_err_t err = MM_OK;
    if (path && *path) err = load_file(t, path, errstr, errstr_size);
    if (!err && list && *list) err = load_list(t, list, errstr, errstr_size);
    if (err) mm_serve_tokens_clear(t);
    return err;
}

bool mm_serve_tokens_check(const mm_serve_tokens_t *t, const char *authorization) {
    if (!t || t->n == 0) return true;
    if (!authorization || strncasecmp(authorization, BEARER, BEARER_LEN) != 0) return false;
    const char *tok = authorization + BEARER_LEN;
    while (*tok == ' ') tok++;
    size_t len = strlen(tok);
    if (len == 0 || len > MM_SERVE_TOKEN_MAX_LEN) return false;
    uint8_t digest[MM_SHA256_LEN];
    mm_sha256(tok, len, digest);
    int match = 0;
    for (size_t i = 0; i < t->n; i++) /* no early exit: same work whichever matches */
        match |= CRYPTO_memcmp(digest, t->digest[i], MM_SHA256_LEN) == 0;
    OPENSSL_cleanse(digest, sizeof(digest));
    return match != 0;
}

void mm_serve_tokens_clear(mm_serve_tokens_t *t) {
    if (!t) return;
    OPENSSL_cleanse(t, sizeof(*t));
    t->n = 0;
}
