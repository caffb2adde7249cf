/*
 * fuzz_blob_xml.c - libFuzzer target: the parser of Azure List Blobs pages
 * (common/src/blob_azure_xml.c), which reads what a remote server sends.
 * Every name it delivers must be a NUL-terminated string no longer than the
 * page, with the store's prefix removed; a size is -1 or not negative.
 * Seeds: tests/fuzz/corpus/blob_xml/ (pages as Azurite and Azure send them).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "blob_int.h"
#include "fuzz.h"

typedef struct page_limits {
    size_t len;
} page_limits_t;

static bool on_blob(void *opaque, const char *name, int64_t size) {
    const page_limits_t *limits = opaque;
    if (!name || strlen(name) > limits->len) mm_fuzz_fail("blob xml: a name longer than the page");
    if (size < -1) mm_fuzz_fail("blob xml: size %lld", (long long)size);
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* The prefix comes first, up to a NUL byte, as the store's name prefix would. */
    const char *text = (const char *)data;
    const char *nul = memchr(text, 0, size < 64 ? size : 64);
    char prefix[64] = "";
    if (nul) {
        memcpy(prefix, text, (size_t)(nul - text));
        prefix[nul - text] = 0;
        size -= (size_t)(nul - text) + 1;
        text = nul + 1;
    }
    page_limits_t limits = {.len = size};
    char *next = NULL;
    bool stopped = false;
    char errstr[512];
    mm_err_t err = mm_blob__azure_list_parse(size ? text : NULL, size, prefix, on_blob, &limits,
                                             &next, &stopped, errstr, sizeof(errstr));
    if (err != MM_OK && next) mm_fuzz_fail("blob xml: a marker after an error");
    if (next && strlen(next) > size) mm_fuzz_fail("blob xml: a marker longer than the page");
    free(next);
    return 0;
}
