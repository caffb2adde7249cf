/*
 * redact.c - the one redaction of secrets in outgoing text (see redact.h).
 *
 * Workload: a few dozen registered values, applied to log lines, error
 * messages, dead-letter reasons and the odd /metrics page, all short and
 * low volume. One left-to-right pass tries every rule at every position;
 * clarity wins over speed.
 */
#include "mm/redact.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

static pthread_rwlock_t redact_lock = PTHREAD_RWLOCK_INITIALIZER;
/* Longest first, so a secret that contains another is replaced whole. */
static char *redact_values[MM_REDACT_MAX_SECRETS];
static size_t redact_lens[MM_REDACT_MAX_SECRETS];
static size_t redact_n;

/* ---- registration ---------------------------------------------------------- */

static bool registered_locked(const char *value, size_t len) {
    for (size_t i = 0; i < redact_n; i++)
        if (redact_lens[i] == len && memcmp(redact_values[i], value, len) == 0) return true;
    return false;
}

static mm_err_t register_one(const char *value, size_t len) {
    if (!value || len < MM_REDACT_MIN_LEN) return MM_OK;
    mm_err_t err = MM_OK;
    pthread_rwlock_wrlock(&redact_lock);
    if (registered_locked(value, len)) goto out;
    if (redact_n >= MM_REDACT_MAX_SECRETS) {
        err = MM_ERR_CONFIG;
        goto out;
    }
    char *copy = malloc(len + 1);
    if (!copy) {
        err = MM_ERR_NOMEM;
        goto out;
    }
    memcpy(copy, value, len);
    copy[len] = 0;
    size_t at = 0;
    while (at < redact_n && redact_lens[at] >= len) at++;
    memmove(&redact_values[at + 1], &redact_values[at], (redact_n - at) * sizeof(*redact_values));
    memmove(&redact_lens[at + 1], &redact_lens[at], (redact_n - at) * sizeof(*redact_lens));
    redact_values[at] = copy;
    redact_lens[at] = len;
    redact_n++;
out:
    pthread_rwlock_unlock(&redact_lock);
    return err;
}

mm_err_t mm_redact_register(const char *secret) {
    if (!secret) return MM_OK;
    size_t len = strlen(secret);
    if (len < MM_REDACT_MIN_LEN) return MM_OK;
    mm_err_t err = register_one(secret, len);
    if (err) return err;
    /* The same value put into a URL (a SAS token's sig, a password in a
     * connection URL) shows up percent-encoded. */
    char *encoded = curl_easy_escape(NULL, secret, (int)len); /* RFC 3986, as http.c does */
    if (!encoded) return MM_ERR_NOMEM;
    if (strcmp(encoded, secret) != 0) err = register_one(encoded, strlen(encoded));
    curl_free(encoded);
    return err;
}

void mm_redact_reset(void) {
    pthread_rwlock_wrlock(&redact_lock);
    for (size_t i = 0; i < redact_n; i++) free(redact_values[i]);
    redact_n = 0;
    pthread_rwlock_unlock(&redact_lock);
}

size_t mm_redact_count(void) {
    pthread_rwlock_rdlock(&redact_lock);
    size_t n = redact_n;
    pthread_rwlock_unlock(&redact_lock);
    return n;
}

/* ---- the shape rules --------------------------------------------------------- */

/* Where a query or keyword value ends in URLs, conninfo strings, log text and JSON. */
static bool ends_value(char c) {
    return c == 0 || c == '&' || c == '#' || c == ';' || c == '"' || c == '\'' || c == '\\' ||
           c == '<' || c == '>' || isspace((unsigned char)c) || (unsigned char)c < 0x20;
}

/* Where a URL authority (user:password@host:port) ends. */
static bool ends_authority(char c) {
    return c == '/' || c == '?' || c == '#' || c == '@' || ends_value(c);
}

/*
 * Length of a keyword value at @p p: up to a terminator, or a quoted 'value'.
 * A signature is base64 (percent-encoded or not), so a ':' or ',' after it is
 * the text around it ("GET <url>: Couldn't connect"); a password may hold one.
 */
static size_t value_len(const char *p, bool signature) {
    if (*p == '\'') {
        const char *q = strchr(p + 1, '\'');
        return q ? (size_t)(q - p) + 1 : strlen(p);
    }
    size_t n = 0;
    while (!ends_value(p[n]) && !(signature && (p[n] == ':' || p[n] == ','))) n++;
    return n;
}

/*
 * A "name=" keyword at @p i whose value is secret: `sig` at the start or
 * after '?' or '&' (a SAS signature), `password` after the start, a blank, '?', '&', ';' or ','.
 * @returns the length of "name=" or 0.
 */
static size_t secret_keyword(const char *text, size_t i) {
    char before = i > 0 ? text[i - 1] : 0;
    if ((i == 0 || before == '?' || before == '&') && strncasecmp(text + i, "sig=", 4) == 0)
        return 4;
    if ((i == 0 || before == '?' || before == '&' || before == ';' || before == ',' ||
         isspace((unsigned char)before)) &&
        strncasecmp(text + i, "password=", 9) == 0)
        return 9;
    return 0;
}

/*
 * "scheme://user:password@host" at @p i (pointing at "://"): sets the span of
 * the password. @returns false if there is none.
 */
static bool userinfo_password(const char *text, size_t i, size_t *start, size_t *len) {
    if (strncmp(text + i, "://", 3) != 0) return false;
    size_t a = i + 3, j = a;
    while (!ends_authority(text[j])) j++;
    if (text[j] != '@') return false;
    const char *colon = memchr(text + a, ':', j - a);
    if (!colon) return false;
    *start = (size_t)(colon - text) + 1;
    *len = j - *start;
    return *len > 0;
}

/* ---- the pass ---------------------------------------------------------------- */

typedef struct out_text {
    char *data;
    size_t len, cap;
    bool failed;
} out_text_t;

static void out_append(out_text_t *out, const char *s, size_t n) {
    if (!out || out->failed) return;
    if (out->len + n + 1 > out->cap) {
        size_t cap = out->cap ? out->cap : 64;
        while (cap < out->len + n + 1) cap *= 2;
        char *data = realloc(out->data, cap);
        if (!data) {
            out->failed = true;
            return;
        }
        out->data = data;
        out->cap = cap;
    }
    if (n > 0) memcpy(out->data + out->len, s, n); /* s may be NULL when n is 0 */
    out->len += n;
    out->data[out->len] = 0;
}

/* One pass over @p text; appends the redacted text to @p out if non-NULL.
 * @returns true if anything was replaced. Call with the read lock held. */
static bool redact_pass(const char *text, out_text_t *out) {
    bool changed = false;
    size_t i = 0, plain = 0; /* text[plain, i) is copied as it is */
    while (text[i]) {
        size_t skip = 0;
        const char *keep = NULL;
        size_t keep_len = 0;
        for (size_t s = 0; s < redact_n && !skip; s++)
            if (text[i] == redact_values[s][0] &&
                strncmp(text + i, redact_values[s], redact_lens[s]) == 0)
                skip = redact_lens[s];
        if (!skip) {
            size_t kw = secret_keyword(text, i);
            size_t n = kw ? value_len(text + i + kw, kw == 4) : 0;
            if (n > 0) {
                keep = text + i;
                keep_len = kw;
                skip = kw + n;
            }
        }
        if (!skip) {
            size_t start, len;
            if (userinfo_password(text, i, &start, &len)) {
                keep = text + i;
                keep_len = start - i;
                skip = keep_len + len;
            }
        }
        if (!skip) {
            i++;
            continue;
        }
        changed = true;
        out_append(out, text + plain, i - plain);
        out_append(out, keep, keep_len);
        out_append(out, MM_REDACTED, strlen(MM_REDACTED));
        i += skip;
        plain = i;
    }
    out_append(out, text + plain, i - plain);
    return changed;
}

char *mm_redact(const char *text) {
    if (!text) return NULL;
    out_text_t out = {0};
    out_append(&out, "", 0);
    pthread_rwlock_rdlock(&redact_lock);
    redact_pass(text, &out);
    pthread_rwlock_unlock(&redact_lock);
    if (out.failed) {
        free(out.data);
        return NULL;
    }
    return out.data;
}

size_t mm_redact_into(const char *text, char *out, size_t out_size) {
    if (!out || out_size == 0) return 0;
    char *redacted = mm_redact(text ? text : "");
    const char *src = redacted ? redacted : MM_REDACTED;
    size_t n = strlen(src);
    if (n >= out_size) n = out_size - 1;
    memmove(out, src, n);
    out[n] = 0;
    free(redacted);
    return n;
}

bool mm_redact_needed(const char *text) {
    if (!text) return false;
    pthread_rwlock_rdlock(&redact_lock);
    bool changed = redact_pass(text, NULL);
    pthread_rwlock_unlock(&redact_lock);
    return changed;
}

/* ---- secrets inside URLs and connection strings ------------------------------ */

mm_err_t mm_redact_register_url(const char *url) {
    if (!url) return MM_OK;
    mm_err_t err = MM_OK;
    for (size_t i = 0; url[i] && !err; i++) {
        size_t kw = secret_keyword(url, i);
        if (kw) {
            size_t n = value_len(url + i + kw, kw == 4);
            char *value = strndup(url + i + kw, n);
            if (!value) return MM_ERR_NOMEM;
            err = mm_redact_register(value);
            free(value);
            continue;
        }
        size_t start, len;
        if (userinfo_password(url, i, &start, &len)) {
            char *value = strndup(url + start, len);
            if (!value) return MM_ERR_NOMEM;
            err = mm_redact_register(value);
            free(value);
        }
    }
    return err;
}
