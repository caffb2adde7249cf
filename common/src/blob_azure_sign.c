/*
 * blob_azure_sign.c - Azure Blob authorization strings: the SharedKey
 * string-to-sign, its HMAC-SHA256 signature, and account SAS tokens, as
 * declared in mm/blob.h (public so tests can check them against values
 * computed independently).
 *
 * Workload: one string-to-sign and one signature per HTTP attempt of
 * blob_azure.c (a handful of headers each), and a SAS token now and then
 * from mmctl; clarity over speed. References (learn.microsoft.com/rest/api/
 * storageservices): authorize-with-shared-key, create-account-sas.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "blob_int.h"
#include "mm/http.h"
#include "mm/sha256.h"
#include "mm/util.h"

/* Growth caps of the strings built here: all are a few hundred bytes. */
#define AZ_STRING_TO_SIGN_CAP (1024u * 1024u)
#define AZ_SAS_CAP            4096u

static const char *az_header_find(const char *name, const char *const *names,
                                  const char *const *values, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(names[i], name) == 0) return values[i] ? values[i] : "";
    return "";
}

/* Canonicalized-header order: by lower-cased name. */
typedef struct az_xms {
    char *name;
    const char *value;
} az_xms_t;

static int az_xms_cmp(const void *a, const void *b) {
    return strcmp(((const az_xms_t *)a)->name, ((const az_xms_t *)b)->name);
}

/* Append @p value with runs of whitespace folded to one space and trimmed. */
static mm_err_t az_append_folded(mm_buf_t *out, const char *value) {
    const char *p = value;
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
    int pending_space = 0;
    for (; *p; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
            pending_space = 1;
            continue;
        }
        if (pending_space && mm_buf_append(out, " ", 1) != MM_OK) return MM_ERR_NOMEM;
        pending_space = 0;
        if (mm_buf_append(out, p, 1) != MM_OK) return MM_ERR_NOMEM;
    }
    return MM_OK;
}

char *mm_blob_azure_string_to_sign(const char *method, const char *const *header_names,
                                   const char *const *header_values, size_t n_headers,
                                   const char *canonical_resource) {
    static const char *const standard[] = {"Content-Encoding",
                                           "Content-Language",
                                           "Content-Length",
                                           "Content-MD5",
                                           "Content-Type",
                                           "Date",
                                           "If-Modified-Since",
                                           "If-Match",
                                           "If-None-Match",
                                           "If-Unmodified-Since",
                                           "Range"};
    mm_buf_t out;
    mm_buf_init(&out, AZ_STRING_TO_SIGN_CAP);
    az_xms_t *xms = calloc(n_headers ? n_headers : 1, sizeof(*xms));
    size_t n_xms = 0;
    mm_err_t err = xms ? MM_OK : MM_ERR_NOMEM;

    if (!err) err = mm_buf_appendf(&out, "%s\n", method);
    for (size_t i = 0; !err && i < MM_ARRAY_SIZE(standard); i++) {
        const char *v = az_header_find(standard[i], header_names, header_values, n_headers);
        /* Since 2015-02-21 a zero Content-Length is signed as the empty string. */
        if (strcmp(standard[i], "Content-Length") == 0 && strcmp(v, "0") == 0) v = "";
        err = mm_buf_appendf(&out, "%s\n", v);
    }
    for (size_t i = 0; !err && i < n_headers; i++) {
        if (strncasecmp(header_names[i], "x-ms-", 5) != 0) continue;
        size_t len = strlen(header_names[i]);
        char *lower = malloc(len + 1);
        if (!lower) {
            err = MM_ERR_NOMEM;
            break;
        }
        for (size_t k = 0; k <= len; k++)
            lower[k] = (char)tolower((unsigned char)header_names[i][k]);
        xms[n_xms].name = lower;
        xms[n_xms].value = header_values[i] ? header_values[i] : "";
        n_xms++;
    }
    if (!err && n_xms) qsort(xms, n_xms, sizeof(*xms), az_xms_cmp);
    for (size_t i = 0; !err && i < n_xms; i++) {
        err = mm_buf_appendf(&out, "%s:", xms[i].name);
        if (!err) err = az_append_folded(&out, xms[i].value);
        if (!err) err = mm_buf_append(&out, "\n", 1);
    }
    if (!err) err = mm_buf_append_str(&out, canonical_resource);
    for (size_t i = 0; i < n_xms; i++) free(xms[i].name);
    free(xms);
    if (err) {
        mm_buf_free(&out);
        return NULL;
    }
    return (char *)mm_buf_steal(&out, NULL);
}

char *mm_blob_azure_sign(const char *account_key_b64, const char *string_to_sign) {
    size_t key_len = 0;
    uint8_t *key = mm_base64_decode(account_key_b64, &key_len);
    if (!key || key_len == 0) {
        free(key);
        return NULL;
    }
    uint8_t mac[MM_SHA256_LEN];
    mm_hmac_sha256(key, key_len, string_to_sign, strlen(string_to_sign), mac);
    free(key);
    return mm_base64_encode(mac, sizeof(mac));
}

char *mm_blob_azure_account_sas(const char *account_name, const char *account_key_b64,
                                const char *permissions, const char *resource_types,
                                int64_t expiry_unix_s) {
    char expiry[64];
    time_t t = (time_t)expiry_unix_s;
    struct tm tm;
    if (!account_name || !account_key_b64 || !permissions || !resource_types || !gmtime_r(&t, &tm))
        return NULL;
    snprintf(expiry, sizeof(expiry), "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    const char *services = "b", *protocols = "https,http";
    /* Fields in the documented order for version 2020-12-06 and later, the
     * empty ones being start time, IP range and encryption scope. */
    mm_buf_t sts;
    mm_buf_init(&sts, AZ_SAS_CAP);
    if (mm_buf_appendf(&sts, "%s\n%s\n%s\n%s\n\n%s\n\n%s\n%s\n\n", account_name, permissions,
                       services, resource_types, expiry, protocols,
                       MM_BLOB__AZURE_API_VERSION) != MM_OK) {
        mm_buf_free(&sts);
        return NULL;
    }
    char *sig = mm_blob_azure_sign(account_key_b64, (const char *)sts.data);
    mm_buf_free(&sts);
    if (!sig) return NULL;
    char *sig_enc = mm_url_encode(sig, "");
    char *exp_enc = mm_url_encode(expiry, "");
    char *spr_enc = mm_url_encode(protocols, "");
    char *perm_enc = mm_url_encode(permissions, "");
    char *rt_enc = mm_url_encode(resource_types, "");
    char *token = NULL;
    if (sig_enc && exp_enc && spr_enc && perm_enc && rt_enc) {
        mm_buf_t out;
        mm_buf_init(&out, AZ_SAS_CAP);
        if (mm_buf_appendf(&out, "sv=%s&ss=%s&srt=%s&sp=%s&se=%s&spr=%s&sig=%s",
                           MM_BLOB__AZURE_API_VERSION, services, rt_enc, perm_enc, exp_enc, spr_enc,
                           sig_enc) == MM_OK)
            token = (char *)mm_buf_steal(&out, NULL);
        else
            mm_buf_free(&out);
    }
    free(sig);
    free(sig_enc);
    free(exp_enc);
    free(spr_enc);
    free(perm_enc);
    free(rt_enc);
    return token;
}
