/*
 * fuzz_spec.c - libFuzzer target: the dataset-spec loader
 * (common/src/spec*.c) and, for a spec that loads, the cell parsers it
 * drives (common/src/cells.c) on the rest of the input.
 *
 * Input: spec JSON, then optionally a NUL byte and a cell text. A spec that
 * loads must render its effective JSON (what mm-ingest --check-spec prints),
 * naming its hash.
 * Seeds: tests/fuzz/corpus/spec/ (the sample specs, some with a cell).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "mm/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    const char *nul = memchr(text, 0, size);
    size_t json_len = nul ? (size_t)(nul - text) : size;
    const char *cell = nul ? nul + 1 : "";
    size_t cell_len = nul ? size - json_len - 1 : 0;

    mm_spec_t spec;
    char errstr[1024];
    if (mm_spec_parse(text, json_len, "fuzz.json", &spec, errstr, sizeof(errstr)) != MM_OK)
        return 0;
    int64_t ms;
    double v;
    (void)mm_spec_parse_time(&spec, cell, cell_len, &ms);
    (void)mm_spec_parse_number(cell, cell_len, &v);
    (void)mm_spec_event_value(cell, cell_len);
    char *effective = mm_spec_effective_json(&spec);
    if (!effective) mm_fuzz_fail("spec: no effective JSON");
    if (!strstr(effective, spec.hash)) mm_fuzz_fail("spec: the effective JSON lacks the hash");
    free(effective);
    mm_spec_clear(&spec);
    return 0;
}
