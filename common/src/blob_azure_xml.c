/*
 * blob_azure_xml.c - the XML the Azure Blob service answers with, read by
 * search rather than by a general parser: the text of one element of an
 * error body, and the List Blobs response (names, sizes, NextMarker), with
 * entity references and percent-encoded names decoded.
 *
 * Workload: one error body per failed request (a few hundred bytes) and one
 * page per List Blobs request (up to 5000 <Blob> elements, a few MB); each
 * page is scanned once, front to back. The input comes over the network, so
 * every length is bounded by the document and no malformed text may read
 * past it: bad entities, unterminated elements and bad numbers are
 * MM_ERR_PARSE. The layout relied upon is the service's (list-blobs in
 * learn.microsoft.com/rest/api/storageservices), not all of XML.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob_int.h"
#include "mm/util.h"

/* Longest element name az_xml_text looks for, with its brackets. */
#define AZ_TAG_MAX 64
/* "&#1114111;" and "&#x10FFFF;" need 7 digits; 15 leaves room for leading zeros. */
#define AZ_ENTITY_DIGITS_MAX 15
/* Content-Length is an int64: 19 digits. */
#define AZ_SIZE_DIGITS_MAX 31
/* Highest Unicode code point a numeric reference may name. */
#define AZ_CODE_POINT_MAX 0x10FFFFul

char *mm_blob__azure_xml_text(const char *xml, const char *xml_end, const char *tag) {
    char open[AZ_TAG_MAX], close[AZ_TAG_MAX];
    if (!xml || xml_end <= xml) return NULL;
    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    const char *a = memmem(xml, (size_t)(xml_end - xml), open, strlen(open));
    if (!a) return NULL;
    a += strlen(open);
    const char *b = memmem(a, (size_t)(xml_end - a), close, strlen(close));
    if (!b) return NULL;
    return mm_strndup(a, (size_t)(b - a));
}

/* Decode the five XML entities and numeric references in place-copied text. */
static char *az_xml_unescape(const char *s, size_t len) {
    char *out = malloc(len + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        if (s[i] != '&') {
            out[o++] = s[i++];
            continue;
        }
        const char *semi = memchr(s + i, ';', len - i);
        if (!semi) {
            free(out);
            return NULL;
        }
        size_t ent_len = (size_t)(semi - (s + i)) + 1;
        const char *ent = s + i;
        static const struct {
            const char *name;
            char c;
        } named[] = {
            {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
        bool done = false;
        for (size_t k = 0; k < MM_ARRAY_SIZE(named); k++) {
            if (ent_len == strlen(named[k].name) && memcmp(ent, named[k].name, ent_len) == 0) {
                out[o++] = named[k].c;
                done = true;
                break;
            }
        }
        if (!done && ent_len >= 4 && ent[1] == '#') {
            char num[AZ_ENTITY_DIGITS_MAX + 1];
            bool hex = ent[2] == 'x' || ent[2] == 'X';
            size_t digits = ent_len - (hex ? 4 : 3);
            if (digits == 0 || digits >= sizeof(num)) {
                free(out);
                return NULL;
            }
            memcpy(num, ent + (hex ? 3 : 2), digits);
            num[digits] = 0;
            char *end = NULL;
            unsigned long cp = strtoul(num, &end, hex ? 16 : 10);
            if (*end || cp == 0 || cp > AZ_CODE_POINT_MAX) {
                free(out);
                return NULL;
            }
            /* UTF-8 is never longer than the reference it replaces ("&#N;" >= 4 bytes). */
            if (cp < 0x80) {
                out[o++] = (char)cp;
            } else if (cp < 0x800) {
                out[o++] = (char)(0xC0 | (cp >> 6));
                out[o++] = (char)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                out[o++] = (char)(0xE0 | (cp >> 12));
                out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                out[o++] = (char)(0x80 | (cp & 0x3F));
            } else {
                out[o++] = (char)(0xF0 | (cp >> 18));
                out[o++] = (char)(0x80 | ((cp >> 12) & 0x3F));
                out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                out[o++] = (char)(0x80 | (cp & 0x3F));
            }
            done = true;
        }
        if (!done) {
            free(out);
            return NULL;
        }
        i += ent_len;
    }
    out[o] = 0;
    return out;
}

static int az_hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Names with characters XML cannot carry come as <Name Encoded="true">, percent-encoded. */
static bool az_percent_decode_inplace(char *s) {
    char *o = s;
    for (char *p = s; *p; p++) {
        if (*p == '%') {
            int hi = az_hexval(p[1]), lo = hi >= 0 ? az_hexval(p[2]) : -1;
            /* %00 would cut the name short, as &#0; would: refused like it. */
            if (hi < 0 || lo < 0 || hi * 16 + lo == 0) return false;
            *o++ = (char)(hi * 16 + lo);
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    *o = 0;
    return true;
}

/* The <Content-Length> of one <Blob> element [b, b_end), or -1 without one. */
static mm_err_t az_list_blob_size(const char *b, const char *b_end, int64_t *size, char *errstr,
                                  size_t errstr_size) {
    static const char open[] = "<Content-Length>", close[] = "</Content-Length>";
    *size = -1;
    const char *cl = memmem(b, (size_t)(b_end - b), open, sizeof(open) - 1);
    if (!cl) return MM_OK;
    char num[AZ_SIZE_DIGITS_MAX + 1];
    const char *cl_end = memmem(cl, (size_t)(b_end - cl), close, sizeof(close) - 1);
    size_t digits = cl_end ? (size_t)(cl_end - cl) - (sizeof(open) - 1) : 0;
    if (!cl_end || digits == 0 || digits >= sizeof(num))
        return mm_errf(MM_ERR_PARSE, errstr, errstr_size, "blob list: bad <Content-Length>");
    memcpy(num, cl + sizeof(open) - 1, digits);
    num[digits] = 0;
    if (!mm_parse_i64(num, size) || *size < 0)
        return mm_errf(MM_ERR_PARSE, errstr, errstr_size, "blob list: bad <Content-Length> %s",
                       num);
    return MM_OK;
}

/* The decoded <Name> of one <Blob> element [b, b_end) (malloc'd), or NULL with errstr set. */
static char *az_list_blob_name(const char *b, const char *b_end, char *errstr, size_t errstr_size) {
    const char *n = memmem(b, (size_t)(b_end - b), "<Name", 5);
    const char *n_gt = n ? memchr(n, '>', (size_t)(b_end - n)) : NULL;
    const char *n_end = n_gt ? memmem(n_gt, (size_t)(b_end - n_gt), "</Name>", 7) : NULL;
    if (!n_end) {
        mm_errf(MM_ERR_PARSE, errstr, errstr_size, "blob list: <Blob> without <Name>");
        return NULL;
    }
    bool encoded = memmem(n, (size_t)(n_gt - n), "Encoded=\"true\"", 14) != NULL;
    char *name = az_xml_unescape(n_gt + 1, (size_t)(n_end - n_gt - 1));
    if (!name || (encoded && !az_percent_decode_inplace(name))) {
        free(name);
        mm_errf(MM_ERR_PARSE, errstr, errstr_size, "blob list: bad <Name> text");
        return NULL;
    }
    return name;
}

mm_err_t mm_blob__azure_list_parse(const char *xml, size_t len, const char *name_prefix,
                                   mm_blob_list_cb_t *cb, void *opaque, char **next_marker,
                                   bool *stopped, char *errstr, size_t errstr_size) {
    if (!name_prefix) name_prefix = "";
    size_t skip = strlen(name_prefix);
    *next_marker = NULL;
    *stopped = false;
    const char *blobs = xml && len ? memmem(xml, len, "<Blobs", 6) : NULL;
    if (!blobs)
        return mm_errf(MM_ERR_PARSE, errstr, errstr_size, "blob list: response has no <Blobs>");
    const char *end = xml + len;
    for (const char *p = blobs;;) {
        const char *b = memmem(p, (size_t)(end - p), "<Blob>", 6);
        if (!b) break;
        const char *b_end = memmem(b, (size_t)(end - b), "</Blob>", 7);
        if (!b_end)
            return mm_errf(MM_ERR_PARSE, errstr, errstr_size, "blob list: unterminated <Blob>");
        char *name = az_list_blob_name(b, b_end, errstr, errstr_size);
        if (!name) return MM_ERR_PARSE;
        int64_t size = -1;
        mm_err_t err = az_list_blob_size(b, b_end, &size, errstr, errstr_size);
        if (err) {
            free(name);
            return err;
        }
        /* The store's own prefix is not part of the names it shows. */
        bool keep_going = true;
        if (strncmp(name, name_prefix, skip) == 0) keep_going = cb(opaque, name + skip, size);
        free(name);
        if (!keep_going) {
            *stopped = true;
            return MM_OK;
        }
        p = b_end + 7;
    }
    char *marker = mm_blob__azure_xml_text(xml, end, "NextMarker");
    if (marker && marker[0]) {
        *next_marker = az_xml_unescape(marker, strlen(marker));
        free(marker);
        if (!*next_marker)
            return mm_errf(MM_ERR_PARSE, errstr, errstr_size, "blob list: bad <NextMarker>");
    } else {
        free(marker);
    }
    return MM_OK;
}
