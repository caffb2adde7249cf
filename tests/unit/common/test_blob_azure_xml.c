/*
 * test_blob_azure_xml.c - the List Blobs response parser and the error-text
 * reader of the Azure backend (common/src/blob_azure_xml.c), fed documents
 * directly: names and NextMarker, entities and percent-encoded names, and
 * malformed or truncated input, which must give MM_ERR_PARSE and never read
 * past the document (each document is copied into a buffer of exactly its
 * length, without a terminating NUL, so the sanitizer build sees any
 * over-read).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "blob_int.h"

#define MAX_SEEN 8

/* What the list callback saw. */
typedef struct seen {
    char *names[MAX_SEEN];
    int64_t sizes[MAX_SEEN];
    int n;
    int stop_after; /* 0: never stop */
} seen_t;

static bool record(void *opaque, const char *name, int64_t size) {
    seen_t *s = opaque;
    cr_assert_lt(s->n, MAX_SEEN, "more names than any test document holds");
    s->names[s->n] = strdup(name);
    s->sizes[s->n] = size;
    s->n++;
    return s->stop_after == 0 || s->n < s->stop_after;
}

static void seen_clear(seen_t *s) {
    for (int i = 0; i < s->n; i++) free(s->names[i]);
    s->n = 0;
}

/* One parse of the first @p len bytes of @p doc, from an exact-size copy. */
typedef struct parsed {
    mm_err_t err;
    char *next;
    bool stopped;
    char errstr[256];
} parsed_t;

static parsed_t parse_n(const char *doc, size_t len, const char *prefix, seen_t *s) {
    parsed_t r = {.err = MM_OK};
    char *copy = len ? malloc(len) : NULL;
    if (len) {
        cr_assert_not_null(copy);
        memcpy(copy, doc, len);
    }
    r.err = mm_blob__azure_list_parse(copy, len, prefix, record, s, &r.next, &r.stopped, r.errstr,
                                      sizeof(r.errstr));
    free(copy);
    return r;
}

static parsed_t parse(const char *doc, const char *prefix, seen_t *s) {
    return parse_n(doc, strlen(doc), prefix, s);
}

/* The document wrapped around @p blobs (the <Blob> elements) and @p tail (after </Blobs>). */
static char *page(const char *blobs, const char *tail) {
    static const char head[] = "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
                               "<EnumerationResults ServiceEndpoint=\"http://127.0.0.1:10000/"
                               "devstoreaccount1\" ContainerName=\"models\"><MaxResults>2"
                               "</MaxResults><Blobs>";
    size_t n = strlen(head) + strlen(blobs) + strlen("</Blobs>") + strlen(tail) +
               strlen("</EnumerationResults>") + 1;
    char *out = malloc(n);
    cr_assert_not_null(out);
    snprintf(out, n, "%s%s</Blobs>%s</EnumerationResults>", head, blobs, tail);
    return out;
}

/* One <Blob> with @p name_elem (the whole <Name ...>...</Name>) and a size. */
#define BLOB(name_elem, size)                                                                      \
    "<Blob>" name_elem "<Properties><Last-Modified>Sat, 21 Nov 2026 22:50:00 GMT</Last-Modified>"  \
    "<Content-Length>" size "</Content-Length><BlobType>BlockBlob</BlobType></Properties></Blob>"

static const char normal_blobs[] = BLOB("<Name>candidates/sales/a.mm</Name>", "11")
    BLOB("<Name>candidates/sales/b.mm</Name>", "0");

Test(blob_azure_xml, page_gives_names_sizes_and_next_marker_in_order) {
    char *doc = page(normal_blobs, "<NextMarker>2!88!MDAwMDE2IWNhbmRpZGF0ZXMvc2FsZXMvYi5tbQ--"
                                   "</NextMarker>");
    seen_t s = {0};
    parsed_t r = parse(doc, "", &s);
    cr_assert_eq(r.err, MM_OK, "%s", r.errstr);
    cr_assert_eq(s.n, 2);
    cr_expect_str_eq(s.names[0], "candidates/sales/a.mm");
    cr_expect_eq(s.sizes[0], 11);
    cr_expect_str_eq(s.names[1], "candidates/sales/b.mm");
    cr_expect_eq(s.sizes[1], 0);
    cr_assert_not_null(r.next);
    cr_expect_str_eq(r.next, "2!88!MDAwMDE2IWNhbmRpZGF0ZXMvc2FsZXMvYi5tbQ--");
    cr_expect_not(r.stopped);
    free(r.next);
    seen_clear(&s);
    free(doc);
}

Test(blob_azure_xml, store_prefix_is_removed_and_names_outside_it_are_skipped) {
    char *doc = page(BLOB("<Name>tenant/x.mm</Name>", "1") BLOB("<Name>other/y.mm</Name>", "2")
                         BLOB("<Name>tenant/sub/z.mm</Name>", "3"),
                     "<NextMarker/>");
    seen_t s = {0};
    parsed_t r = parse(doc, "tenant/", &s);
    cr_assert_eq(r.err, MM_OK, "%s", r.errstr);
    cr_assert_eq(s.n, 2);
    cr_expect_str_eq(s.names[0], "x.mm");
    cr_expect_str_eq(s.names[1], "sub/z.mm");
    cr_expect_eq(s.sizes[1], 3);
    cr_expect_null(r.next);
    seen_clear(&s);
    free(doc);
}

Test(blob_azure_xml, empty_list_is_the_last_page) {
    static const char *const docs[] = {
        "<EnumerationResults><Blobs /><NextMarker /></EnumerationResults>",
        "<EnumerationResults><Blobs></Blobs><NextMarker></NextMarker></EnumerationResults>",
        "<EnumerationResults><Blobs/></EnumerationResults>",
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        seen_t s = {0};
        parsed_t r = parse(docs[i], NULL, &s);
        cr_expect_eq(r.err, MM_OK, "doc %zu: %s", i, r.errstr);
        cr_expect_eq(s.n, 0, "doc %zu", i);
        cr_expect_null(r.next, "doc %zu", i);
        cr_expect_not(r.stopped);
    }
}

Test(blob_azure_xml, missing_next_marker_means_last_page) {
    char *doc = page(normal_blobs, "");
    seen_t s = {0};
    parsed_t r = parse(doc, "", &s);
    cr_assert_eq(r.err, MM_OK, "%s", r.errstr);
    cr_expect_eq(s.n, 2);
    cr_expect_null(r.next);
    seen_clear(&s);
    free(doc);
}

Test(blob_azure_xml, entities_and_numeric_references_are_decoded_to_utf8) {
    char *doc = page(BLOB("<Name>a&amp;b&lt;c&gt;d&quot;e&apos;f&#x41;&#66;&#xE9;&#x20AC;"
                          "&#x1F600;</Name>",
                          "5"),
                     "<NextMarker>m&amp;1</NextMarker>");
    seen_t s = {0};
    parsed_t r = parse(doc, "", &s);
    cr_assert_eq(r.err, MM_OK, "%s", r.errstr);
    cr_assert_eq(s.n, 1);
    cr_expect_str_eq(s.names[0], "a&b<c>d\"e'fAB\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
    cr_assert_not_null(r.next);
    cr_expect_str_eq(r.next, "m&1");
    free(r.next);
    seen_clear(&s);
    free(doc);
}

Test(blob_azure_xml, encoded_names_are_percent_decoded_and_plain_ones_are_not) {
    char *doc = page(BLOB("<Name Encoded=\"true\">dir%2Fx%25y%0Az%26</Name>", "1")
                         BLOB("<Name>k=a%2Fb</Name>", "2")
                             BLOB("<Name Encoded=\"true\">a%26amp;</Name>", "3"),
                     "");
    seen_t s = {0};
    parsed_t r = parse(doc, "", &s);
    cr_assert_eq(r.err, MM_OK, "%s", r.errstr);
    cr_assert_eq(s.n, 3);
    cr_expect_str_eq(s.names[0], "dir/x%y\nz&");
    cr_expect_str_eq(s.names[1], "k=a%2Fb");
    /* Entities are decoded first, then percent escapes: no second round. */
    cr_expect_str_eq(s.names[2], "a&amp;");
    seen_clear(&s);
    free(doc);
}

Test(blob_azure_xml, callback_returning_false_stops_without_a_marker) {
    char *doc = page(normal_blobs, "<NextMarker>more</NextMarker>");
    seen_t s = {.stop_after = 1};
    parsed_t r = parse(doc, "", &s);
    cr_assert_eq(r.err, MM_OK, "%s", r.errstr);
    cr_expect_eq(s.n, 1);
    cr_expect(r.stopped);
    cr_expect_null(r.next);
    seen_clear(&s);
    free(doc);
}

Test(blob_azure_xml, missing_content_length_gives_size_minus_one) {
    char *doc = page("<Blob><Name>a</Name><Properties/></Blob>", "");
    seen_t s = {0};
    parsed_t r = parse(doc, "", &s);
    cr_assert_eq(r.err, MM_OK, "%s", r.errstr);
    cr_assert_eq(s.n, 1);
    cr_expect_eq(s.sizes[0], -1);
    seen_clear(&s);
    free(doc);
}

Test(blob_azure_xml, long_name_is_delivered_whole) {
    /* Not bounded here: the service caps names at 1024 characters, and the
     * HTTP layer caps the page. */
    size_t name_len = 100000;
    char *name = malloc(name_len + 1);
    cr_assert_not_null(name);
    memset(name, 'n', name_len);
    name[name_len] = 0;
    size_t blob_len = name_len + 64;
    char *blob = malloc(blob_len);
    cr_assert_not_null(blob);
    snprintf(blob, blob_len, "<Blob><Name>%s</Name></Blob>", name);
    char *doc = page(blob, "");
    seen_t s = {0};
    parsed_t r = parse(doc, "", &s);
    cr_assert_eq(r.err, MM_OK, "%s", r.errstr);
    cr_assert_eq(s.n, 1);
    cr_expect_str_eq(s.names[0], name);
    seen_clear(&s);
    free(doc);
    free(blob);
    free(name);
}

Test(blob_azure_xml, malformed_name_text_is_a_parse_error) {
    static const char *const names[] = {
        "<Name>a&bogus;</Name>",
        "<Name>a&amp</Name>",
        "<Name>a&;</Name>",
        "<Name>a&#;</Name>",
        "<Name>a&#x;</Name>",
        "<Name>a&#0;</Name>",
        "<Name>a&#x110000;</Name>",
        "<Name>a&#xZZ;</Name>",
        "<Name>a&#12345678901234567890;</Name>",
        "<Name Encoded=\"true\">a%G1</Name>",
        "<Name Encoded=\"true\">a%4</Name>",
        "<Name Encoded=\"true\">a%</Name>",
        "<Name Encoded=\"true\">a%00b</Name>",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char blob[256];
        snprintf(blob, sizeof(blob), "<Blob>%s</Blob>", names[i]);
        char *doc = page(blob, "");
        seen_t s = {0};
        parsed_t r = parse(doc, "", &s);
        cr_expect_eq(r.err, MM_ERR_PARSE, "%s", names[i]);
        cr_expect_eq(s.n, 0, "%s", names[i]);
        cr_expect_null(r.next);
        cr_expect(strstr(r.errstr, "bad <Name> text") != NULL, "%s: %s", names[i], r.errstr);
        seen_clear(&s);
        free(doc);
    }
}

Test(blob_azure_xml, bad_structure_or_size_is_a_parse_error) {
    static const struct {
        const char *blobs, *tail, *why;
    } cases[] = {
        {"<Blob><Properties/></Blob>", "", "without <Name>"},
        {"<Blob><Name>a</Blob>", "", "without <Name>"},
        {"<Blob><Name>a</Name><Content-Length>-1</Content-Length></Blob>", "", "Content-Length"},
        {"<Blob><Name>a</Name><Content-Length>x</Content-Length></Blob>", "", "Content-Length"},
        {"<Blob><Name>a</Name><Content-Length></Content-Length></Blob>", "", "Content-Length"},
        {"<Blob><Name>a</Name><Content-Length>123456789012345678901234567890123</Content-Length>"
         "</Blob>",
         "", "Content-Length"},
        {"<Blob><Name>a</Name><Content-Length>1</Blob>", "", "Content-Length"},
        {"", "<NextMarker>a&x;</NextMarker>", "bad <NextMarker>"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *doc = page(cases[i].blobs, cases[i].tail);
        seen_t s = {0};
        parsed_t r = parse(doc, "", &s);
        cr_expect_eq(r.err, MM_ERR_PARSE, "case %zu", i);
        cr_expect_null(r.next, "case %zu", i);
        cr_expect(strstr(r.errstr, cases[i].why) != NULL, "case %zu: %s", i, r.errstr);
        seen_clear(&s);
        free(doc);
    }
}

Test(blob_azure_xml, body_without_blobs_element_is_a_parse_error) {
    static const char *const docs[] = {"", "<Error><Code>X</Code></Error>", "not xml at all"};
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        seen_t s = {0};
        parsed_t r = parse(docs[i], "", &s);
        cr_expect_eq(r.err, MM_ERR_PARSE, "doc %zu", i);
        cr_expect(strstr(r.errstr, "no <Blobs>") != NULL, "doc %zu: %s", i, r.errstr);
    }
}

Test(blob_azure_xml, document_truncated_inside_a_blob_is_a_parse_error) {
    char *doc = page(normal_blobs, "<NextMarker>m</NextMarker>");
    const char *second = strstr(doc, "<Blob><Name>candidates/sales/b.mm");
    cr_assert_not_null(second);
    /* Cut in the second blob's name: the first was whole and is delivered. */
    size_t cut = (size_t)(second - doc) + 20;
    seen_t s = {0};
    parsed_t r = parse_n(doc, cut, "", &s);
    cr_expect_eq(r.err, MM_ERR_PARSE);
    cr_expect(strstr(r.errstr, "unterminated <Blob>") != NULL, "%s", r.errstr);
    cr_expect_eq(s.n, 1);
    cr_expect_null(r.next);
    seen_clear(&s);
    free(doc);
}

Test(blob_azure_xml, document_truncated_between_blobs_ends_without_a_marker) {
    /* Documented: completeness is the HTTP layer's job (Content-Length); a
     * document cut after a whole </Blob> reads as a last page. */
    char *doc = page(normal_blobs, "<NextMarker>m</NextMarker>");
    const char *first_end = strstr(doc, "</Blob>");
    cr_assert_not_null(first_end);
    seen_t s = {0};
    parsed_t r = parse_n(doc, (size_t)(first_end - doc) + strlen("</Blob>"), "", &s);
    cr_expect_eq(r.err, MM_OK, "%s", r.errstr);
    cr_expect_eq(s.n, 1);
    cr_expect_null(r.next);
    seen_clear(&s);
    free(doc);
}

Test(blob_azure_xml, every_truncation_of_a_page_parses_or_fails_cleanly) {
    char *doc = page(BLOB("<Name Encoded=\"true\">a%2Fb&amp;&#x41;</Name>", "7")
                         BLOB("<Name>c&lt;d</Name>", "8"),
                     "<NextMarker>n&amp;m</NextMarker>");
    size_t len = strlen(doc);
    for (size_t cut = 0; cut <= len; cut++) {
        seen_t s = {0};
        parsed_t r = parse_n(doc, cut, "", &s);
        cr_assert(r.err == MM_OK || r.err == MM_ERR_PARSE, "cut %zu: %d", cut, (int)r.err);
        cr_assert(r.err == MM_OK || r.errstr[0], "cut %zu: no message", cut);
        cr_assert(r.err == MM_OK || r.next == NULL, "cut %zu: marker with an error", cut);
        cr_assert_leq(s.n, 2);
        if (s.n > 0) cr_expect_str_eq(s.names[0], "a/b&A", "cut %zu", cut);
        if (cut == len) {
            cr_expect_eq(s.n, 2);
            cr_assert_not_null(r.next);
            cr_expect_str_eq(r.next, "n&m");
        }
        free(r.next);
        seen_clear(&s);
    }
    free(doc);
}

Test(blob_azure_xml, error_body_text_is_the_first_element_undecoded) {
    static const char body[] = "<?xml version=\"1.0\"?><Error><Code>BlobAlreadyExists</Code>"
                               "<Message>The specified blob already exists.\nRequestId:1 &amp;"
                               "</Message></Error>";
    const char *end = body + strlen(body);
    char *code = mm_blob__azure_xml_text(body, end, "Code");
    char *message = mm_blob__azure_xml_text(body, end, "Message");
    cr_assert_not_null(code);
    cr_assert_not_null(message);
    cr_expect_str_eq(code, "BlobAlreadyExists");
    cr_expect_str_eq(message, "The specified blob already exists.\nRequestId:1 &amp;");
    free(code);
    free(message);
    cr_expect_null(mm_blob__azure_xml_text(body, end, "Missing"));
    /* Cut inside <Code>: no closing tag within the document. */
    cr_expect_null(mm_blob__azure_xml_text(body, body + 40, "Code"));
    cr_expect_null(mm_blob__azure_xml_text(body, body, "Code"));
}
