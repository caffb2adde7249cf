/*
 * fuzz_csv.c - libFuzzer target: the streaming RFC 4180 reader
 * (common/src/csv.c) on arbitrary bytes, read to the end through a FILE as
 * mm-ingest reads a file. Every record it returns must hold what it claims:
 * NUL-terminated fields of the given lengths, a raw text inside the record
 * bounds, line numbers that never go back.
 * Seeds: tests/fuzz/corpus/csv/.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "mm/csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    FILE *file = fmemopen((void *)data, size, "rb");
    if (!file) return 0;
    mm_csv_reader_t *reader = mm_csv_reader_new(file, "fuzz.csv");
    if (!reader) mm_fuzz_fail("csv: no reader");
    static mm_csv_record_t rec; /* large: off the stack */
    char errstr[512];
    int64_t last_line = 0;
    for (size_t n = 0; n <= size + 1; n++) {
        mm_err_t err = mm_csv_next(reader, &rec, errstr, sizeof(errstr));
        if (err == MM_ERR_NOT_FOUND || err == MM_ERR_IO) break;
        if (rec.line < last_line) mm_fuzz_fail("csv: line went back to %lld", (long long)rec.line);
        last_line = rec.line;
        if (rec.raw_len > MM_CSV_MAX_RECORD_BYTES + 2)
            mm_fuzz_fail("csv: raw text of %zu bytes", rec.raw_len);
        if (err != MM_OK) continue;
        if (rec.n_fields == 0 || rec.n_fields > MM_CSV_MAX_FIELDS)
            mm_fuzz_fail("csv: %zu fields", rec.n_fields);
        for (size_t i = 0; i < rec.n_fields; i++)
            if (strlen(rec.fields[i]) > rec.lens[i])
                mm_fuzz_fail("csv: field %zu longer than its length %zu", i, rec.lens[i]);
    }
    mm_csv_reader_destroy(reader);
    fclose(file);
    return 0;
}
