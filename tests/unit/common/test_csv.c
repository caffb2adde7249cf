/*
 * test_csv.c - the RFC 4180 reader (common/src/csv.c).
 *
 * Data-driven: every tests/fixtures/csv/<case>/ holds input.csv and
 * expected.json ({"records":[{"line":N,"fields":[...]} | {"line":N,"error":
 * "fragment"}, optional "raw"]}), read in order. Bounds (field count, record
 * size) and buffer-boundary behaviour are generated here, as they are too big
 * for fixtures.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <jansson.h>

#include "mm/csv.h"

#define CSV_FIXTURES MM_FIXTURES_DIR "/csv"

typedef struct csv_case {
    char name[256];
} csv_case_t;

static int case_cmp(const void *a, const void *b) {
    return strcmp(((const csv_case_t *)a)->name, ((const csv_case_t *)b)->name);
}

ParameterizedTestParameters(csv, fixture) {
    static csv_case_t cases[128];
    size_t n = 0;
    DIR *dir = opendir(CSV_FIXTURES);
    if (!dir) return cr_make_param_array(csv_case_t, cases, 0);
    struct dirent *de;
    while ((de = readdir(dir)) != NULL && n < 128) {
        if (de->d_name[0] == '.') continue;
        snprintf(cases[n].name, sizeof(cases[n].name), "%s", de->d_name);
        n++;
    }
    closedir(dir);
    qsort(cases, n, sizeof(cases[0]), case_cmp);
    return cr_make_param_array(csv_case_t, cases, n);
}

ParameterizedTest(csv_case_t *tc, csv, fixture) {
    char path[1024], exp_path[1024];
    snprintf(path, sizeof(path), "%s/%s/input.csv", CSV_FIXTURES, tc->name);
    snprintf(exp_path, sizeof(exp_path), "%s/%s/expected.json", CSV_FIXTURES, tc->name);
    json_error_t jerr;
    json_t *expected = json_load_file(exp_path, 0, &jerr);
    cr_assert(expected, "%s: %s", exp_path, jerr.text);
    json_t *records = json_object_get(expected, "records");
    cr_assert(json_is_array(records), "%s: no records array", exp_path);

    FILE *f = fopen(path, "rb");
    cr_assert(f, "%s: cannot open", path);
    mm_csv_reader_t *reader = mm_csv_reader_new(f, "input.csv");
    cr_assert(reader);
    mm_csv_record_t *rec = malloc(sizeof(*rec));
    cr_assert(rec);

    size_t i;
    json_t *want;
    json_array_foreach(records, i, want) {
        char errstr[512] = "";
        mm_err_t err = mm_csv_next(reader, rec, errstr, sizeof(errstr));
        json_int_t line = json_integer_value(json_object_get(want, "line"));
        cr_assert_eq(rec->line, (int64_t)line, "[%s] record %zu: line %lld, want %lld", tc->name, i,
                     (long long)rec->line, (long long)line);
        const char *fragment = json_string_value(json_object_get(want, "error"));
        if (fragment) {
            cr_assert_eq(err, MM_ERR_PARSE, "[%s] record %zu: want a parse error, got %s", tc->name,
                         i, mm_err_name(err));
            char prefix[64];
            snprintf(prefix, sizeof(prefix), "input.csv:%lld: ", (long long)line);
            cr_assert(strncmp(errstr, prefix, strlen(prefix)) == 0,
                      "[%s] record %zu: error '%s' does not start with '%s'", tc->name, i, errstr,
                      prefix);
            cr_assert(strstr(errstr, fragment), "[%s] record %zu: error '%s' lacks '%s'", tc->name,
                      i, errstr, fragment);
        } else {
            cr_assert_eq(err, MM_OK, "[%s] record %zu: %s", tc->name, i, errstr);
            json_t *fields = json_object_get(want, "fields");
            cr_assert_eq(rec->n_fields, json_array_size(fields), "[%s] record %zu: %zu fields",
                         tc->name, i, rec->n_fields);
            for (size_t j = 0; j < rec->n_fields; j++) {
                const char *w = json_string_value(json_array_get(fields, j));
                size_t wlen = json_string_length(json_array_get(fields, j));
                cr_assert_eq(rec->lens[j], wlen, "[%s] record %zu field %zu: length %zu, want %zu",
                             tc->name, i, j, rec->lens[j], wlen);
                cr_assert(memcmp(rec->fields[j], w, wlen) == 0 && rec->fields[j][wlen] == 0,
                          "[%s] record %zu field %zu: '%s', want '%s'", tc->name, i, j,
                          rec->fields[j], w);
            }
        }
        const char *raw = json_string_value(json_object_get(want, "raw"));
        if (raw) {
            size_t rlen = json_string_length(json_object_get(want, "raw"));
            cr_assert(rec->raw_len == rlen && memcmp(rec->raw, raw, rlen) == 0,
                      "[%s] record %zu: raw '%.*s', want '%s'", tc->name, i, (int)rec->raw_len,
                      rec->raw ? rec->raw : "", raw);
        }
    }
    char errstr[256] = "";
    mm_err_t err = mm_csv_next(reader, rec, errstr, sizeof(errstr));
    cr_assert_eq(err, MM_ERR_NOT_FOUND, "[%s] expected end of input, got %s: %s", tc->name,
                 mm_err_name(err), errstr);
    /* end of input is sticky */
    cr_assert_eq(mm_csv_next(reader, rec, errstr, sizeof(errstr)), MM_ERR_NOT_FOUND);

    free(rec);
    mm_csv_reader_destroy(reader);
    fclose(f);
    json_decref(expected);
}

/* ------------------------------------------------------------ generated inputs */

static FILE *mem_file(const char *text, size_t len) {
    FILE *f = tmpfile();
    cr_assert(f);
    cr_assert_eq(fwrite(text, 1, len, f), len);
    rewind(f);
    return f;
}

Test(csv, fixture_directory_is_not_empty) {
    /* guards the data-driven test against silently running zero cases */
    DIR *dir = opendir(CSV_FIXTURES);
    cr_assert(dir, "%s missing", CSV_FIXTURES);
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL)
        if (de->d_name[0] != '.') n++;
    closedir(dir);
    cr_assert_geq(n, 10);
}

Test(csv, too_many_fields_is_an_error_and_the_next_record_is_read) {
    size_t cap = (MM_CSV_MAX_FIELDS + 10) * 2 + 64;
    char *text = malloc(cap);
    size_t len = 0;
    for (int i = 0; i < MM_CSV_MAX_FIELDS + 1; i++) {
        text[len++] = 'x';
        text[len++] = i == MM_CSV_MAX_FIELDS ? '\n' : ',';
    }
    len += (size_t)snprintf(text + len, cap - len, "a,b\n");
    FILE *f = mem_file(text, len);
    mm_csv_reader_t *reader = mm_csv_reader_new(f, "wide.csv");
    mm_csv_record_t *rec = malloc(sizeof(*rec));
    char errstr[256];
    cr_assert_eq(mm_csv_next(reader, rec, errstr, sizeof(errstr)), MM_ERR_PARSE);
    cr_assert(strstr(errstr, "wide.csv:1: more than"), "%s", errstr);
    cr_assert_eq(mm_csv_next(reader, rec, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(rec->line, 2);
    cr_assert_eq(rec->n_fields, 2);
    cr_assert_str_eq(rec->fields[1], "b");
    cr_assert_eq(mm_csv_next(reader, rec, errstr, sizeof(errstr)), MM_ERR_NOT_FOUND);
    free(rec);
    free(text);
    mm_csv_reader_destroy(reader);
    fclose(f);
}

Test(csv, exactly_max_fields_is_accepted) {
    size_t cap = MM_CSV_MAX_FIELDS * 2 + 8;
    char *text = malloc(cap);
    size_t len = 0;
    for (int i = 0; i < MM_CSV_MAX_FIELDS; i++) {
        text[len++] = 'y';
        text[len++] = i == MM_CSV_MAX_FIELDS - 1 ? '\n' : ',';
    }
    FILE *f = mem_file(text, len);
    mm_csv_reader_t *reader = mm_csv_reader_new(f, "w.csv");
    mm_csv_record_t *rec = malloc(sizeof(*rec));
    char errstr[256];
    cr_assert_eq(mm_csv_next(reader, rec, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(rec->n_fields, MM_CSV_MAX_FIELDS);
    free(rec);
    free(text);
    mm_csv_reader_destroy(reader);
    fclose(f);
}

static void check_overlong(bool quoted) {
    /* 2.5 MiB record spanning several buffer refills, between two good ones */
    size_t big = MM_CSV_MAX_RECORD_BYTES * 5 / 2;
    size_t cap = big + 256;
    char *text = malloc(cap);
    size_t len = (size_t)snprintf(text, cap, "h1,h2\n");
    if (quoted) text[len++] = '"';
    for (size_t i = 0; i < big; i++) text[len++] = (quoted && i % 1000 == 999) ? '\n' : 'z';
    if (quoted) text[len++] = '"';
    len += (size_t)snprintf(text + len, cap - len, ",1\nafter,2\n");
    FILE *f = mem_file(text, len);
    mm_csv_reader_t *reader = mm_csv_reader_new(f, "long.csv");
    mm_csv_record_t *rec = malloc(sizeof(*rec));
    char errstr[256];
    cr_assert_eq(mm_csv_next(reader, rec, errstr, sizeof(errstr)), MM_OK);
    cr_assert_eq(mm_csv_next(reader, rec, errstr, sizeof(errstr)), MM_ERR_PARSE);
    cr_assert(strstr(errstr, "long.csv:2: record longer than"), "%s", errstr);
    cr_assert_leq(rec->raw_len, MM_CSV_RAW_KEEP_BYTES);
    cr_assert_gt(rec->raw_len, 0);
    cr_assert_eq(rec->raw[quoted ? 1 : 0], 'z');
    cr_assert_eq(mm_csv_next(reader, rec, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_str_eq(rec->fields[0], "after");
    int64_t want_line = quoted ? 3 + (int64_t)(big / 1000) : 3;
    cr_assert_eq(rec->line, want_line, "line %lld want %lld", (long long)rec->line,
                 (long long)want_line);
    cr_assert_eq(mm_csv_next(reader, rec, errstr, sizeof(errstr)), MM_ERR_NOT_FOUND);
    free(rec);
    free(text);
    mm_csv_reader_destroy(reader);
    fclose(f);
}

Test(csv, overlong_unquoted_record_is_an_error_with_bounded_raw_and_reading_continues) {
    check_overlong(false);
}

Test(csv, overlong_quoted_record_is_an_error_and_line_numbers_stay_right) {
    check_overlong(true);
}

/* An unquoted record of @p size bytes (two fields), then "next,1". */
static void check_record_of_size(size_t size, bool accepted) {
    size_t cap = size + 64;
    char *text = malloc(cap);
    size_t len = 0;
    text[len++] = 'a';
    text[len++] = ',';
    while (len < size) text[len++] = 'b';
    len += (size_t)snprintf(text + len, cap - len, "\nnext,1\n");
    FILE *f = mem_file(text, len);
    mm_csv_reader_t *reader = mm_csv_reader_new(f, "size.csv");
    mm_csv_record_t *rec = malloc(sizeof(*rec));
    char errstr[256];
    mm_err_t err = mm_csv_next(reader, rec, errstr, sizeof(errstr));
    if (accepted) {
        cr_assert_eq(err, MM_OK, "%zu bytes: %s", size, errstr);
        cr_assert_eq(rec->n_fields, 2);
        cr_assert_eq(rec->raw_len, size);
        cr_assert_eq(rec->lens[1], size - 2);
        cr_assert_eq(rec->fields[1][size - 2], 0);
    } else {
        cr_assert_eq(err, MM_ERR_PARSE, "%zu bytes accepted", size);
        cr_assert(strstr(errstr, "size.csv:1: record longer than"), "%s", errstr);
    }
    cr_assert_eq(mm_csv_next(reader, rec, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(rec->line, 2);
    cr_assert_str_eq(rec->fields[0], "next");
    cr_assert_eq(mm_csv_next(reader, rec, errstr, sizeof(errstr)), MM_ERR_NOT_FOUND);
    free(rec);
    free(text);
    mm_csv_reader_destroy(reader);
    fclose(f);
}

Test(csv, a_record_of_the_maximum_size_is_read_and_one_byte_more_is_not) {
    check_record_of_size(MM_CSV_MAX_RECORD_BYTES, true);
    check_record_of_size(MM_CSV_MAX_RECORD_BYTES + 1, false);
}

Test(csv, records_straddling_buffer_refills_are_intact) {
    /* ~5 MiB of varied rows, some quoted with escapes: every one must round-trip */
    size_t rows = 120000;
    size_t cap = rows * 64;
    char *text = malloc(cap);
    size_t len = 0;
    for (size_t i = 0; i < rows; i++) {
        if (i % 7 == 3)
            len += (size_t)snprintf(text + len, cap - len, "%zu,\"q\"\"%zu,\n\",%zu.5\r\n", i,
                                    i * 3, i % 97);
        else
            len +=
                (size_t)snprintf(text + len, cap - len, "%zu,plain%zu,%zu.5\n", i, i * 3, i % 97);
    }
    FILE *f = mem_file(text, len);
    mm_csv_reader_t *reader = mm_csv_reader_new(f, "big.csv");
    mm_csv_record_t *rec = malloc(sizeof(*rec));
    char errstr[256], want[64];
    int64_t line = 1;
    for (size_t i = 0; i < rows; i++) {
        cr_assert_eq(mm_csv_next(reader, rec, errstr, sizeof(errstr)), MM_OK, "row %zu: %s", i,
                     errstr);
        cr_assert_eq(rec->n_fields, 3, "row %zu", i);
        cr_assert_eq(rec->line, line, "row %zu", i);
        snprintf(want, sizeof(want), "%zu", i);
        cr_assert_str_eq(rec->fields[0], want);
        if (i % 7 == 3) {
            snprintf(want, sizeof(want), "q\"%zu,\n", i * 3);
            line += 2;
        } else {
            snprintf(want, sizeof(want), "plain%zu", i * 3);
            line += 1;
        }
        cr_assert_str_eq(rec->fields[1], want, "row %zu", i);
        snprintf(want, sizeof(want), "%zu.5", i % 97);
        cr_assert_str_eq(rec->fields[2], want, "row %zu", i);
    }
    cr_assert_eq(mm_csv_next(reader, rec, errstr, sizeof(errstr)), MM_ERR_NOT_FOUND);
    cr_assert_eq(mm_csv_lines(reader), line - 1);
    free(rec);
    free(text);
    mm_csv_reader_destroy(reader);
    fclose(f);
}

Test(csv, reader_rejects_null_file) {
    cr_assert_null(mm_csv_reader_new(NULL, "x"));
    mm_csv_reader_destroy(NULL);
}
