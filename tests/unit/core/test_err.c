/*
 * test_err.c - common/core/err.c: every mm_err_t code has a stable number, a
 * name, a description and the right retriable/fatal class; mm_errf formats
 * into the caller's buffer, truncates safely and returns the code.
 */
#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>

#include "mm/err.h"

/* The codes with their numbers as published: numbers are never reused, so
 * a renumbering or a new code without a row here fails. */
#define CODE(c, n)                                                                                 \
    { c, n, #c }
static const struct {
    mm_err_t code;
    int number;
    const char *name;
} codes[] = {
    CODE(MM_OK, 0),
    CODE(MM_ERR_INVALID_ARG, 1),
    CODE(MM_ERR_NOMEM, 2),
    CODE(MM_ERR_IO, 3),
    CODE(MM_ERR_PARSE, 4),
    CODE(MM_ERR_CONFIG, 5),
    CODE(MM_ERR_NOT_FOUND, 6),
    CODE(MM_ERR_EXISTS, 7),
    CODE(MM_ERR_TIMEOUT, 8),
    CODE(MM_ERR_TRANSPORT, 9),
    CODE(MM_ERR_HTTP, 10),
    CODE(MM_ERR_THROTTLED, 11),
    CODE(MM_ERR_AUTH, 12),
    CODE(MM_ERR_KAFKA, 13),
    CODE(MM_ERR_DB, 14),
    CODE(MM_ERR_SCHEMA, 15),
    CODE(MM_ERR_INTEGRITY, 16),
    CODE(MM_ERR_UNSUPPORTED, 17),
    CODE(MM_ERR_NUMERIC, 18),
    CODE(MM_ERR_INSUFFICIENT_DATA, 19),
    CODE(MM_ERR_SHUTDOWN, 20),
    CODE(MM_ERR_BUSY, 21),
};
#define N_CODES (sizeof(codes) / sizeof(codes[0]))

Test(err, every_code_keeps_its_published_number) {
    cr_assert_eq(N_CODES, (size_t)MM_ERR__COUNT, "a code was added without a row in this test");
    for (size_t i = 0; i < N_CODES; i++)
        cr_assert_eq((int)codes[i].code, codes[i].number, "%s", codes[i].name);
}

Test(err, every_code_is_named_after_its_enumerator) {
    for (size_t i = 0; i < N_CODES; i++)
        cr_assert_str_eq(mm_err_name(codes[i].code), codes[i].name);
}

Test(err, every_code_has_its_own_description) {
    for (size_t i = 0; i < N_CODES; i++) {
        const char *desc = mm_err2str(codes[i].code);
        cr_assert(desc && *desc, "%s has no description", codes[i].name);
        cr_assert_str_neq(desc, "unknown error", "%s", codes[i].name);
        for (size_t j = 0; j < i; j++)
            cr_assert_str_neq(desc, mm_err2str(codes[j].code), "%s and %s share a description",
                              codes[i].name, codes[j].name);
    }
    cr_assert_str_eq(mm_err2str(MM_OK), "success");
    cr_assert_str_eq(mm_err2str(MM_ERR_NOT_FOUND), "not found");
}

Test(err, codes_out_of_range_are_unknown_and_fatal) {
    const mm_err_t outside[] = {MM_ERR__COUNT, (mm_err_t)-1, (mm_err_t)1000};
    for (size_t i = 0; i < sizeof(outside) / sizeof(outside[0]); i++) {
        cr_assert_str_eq(mm_err2str(outside[i]), "unknown error");
        cr_assert_str_eq(mm_err_name(outside[i]), "MM_ERR_UNKNOWN");
        cr_assert_not(mm_err_is_retriable(outside[i]));
        cr_assert(mm_err_is_fatal(outside[i]));
    }
}

Test(err, only_transient_conditions_are_retriable) {
    for (size_t i = 0; i < N_CODES; i++) {
        mm_err_t c = codes[i].code;
        bool expected = c == MM_ERR_TIMEOUT || c == MM_ERR_TRANSPORT || c == MM_ERR_THROTTLED ||
                        c == MM_ERR_KAFKA || c == MM_ERR_BUSY;
        cr_assert_eq(mm_err_is_retriable(c), expected, "%s", codes[i].name);
    }
}

Test(err, only_memory_and_configuration_errors_are_fatal) {
    for (size_t i = 0; i < N_CODES; i++) {
        mm_err_t c = codes[i].code;
        bool expected = c == MM_ERR_NOMEM || c == MM_ERR_CONFIG;
        cr_assert_eq(mm_err_is_fatal(c), expected, "%s", codes[i].name);
        cr_assert_not(mm_err_is_fatal(c) && mm_err_is_retriable(c), "%s", codes[i].name);
    }
}

Test(err, errf_formats_the_reason_and_returns_the_code) {
    char errstr[64];
    mm_err_t err = mm_errf(MM_ERR_PARSE, errstr, sizeof(errstr), "%s:%d: %s", "spec.json", 12,
                           "expected a number");
    cr_assert_eq(err, MM_ERR_PARSE);
    cr_assert_str_eq(errstr, "spec.json:12: expected a number");
}

Test(err, errf_truncates_to_the_buffer_and_terminates_it) {
    char errstr[8];
    memset(errstr, 'x', sizeof(errstr));
    cr_assert_eq(mm_errf(MM_ERR_IO, errstr, sizeof(errstr), "%s", "0123456789"), MM_ERR_IO);
    cr_assert_str_eq(errstr, "0123456");
}

Test(err, errf_accepts_no_buffer_and_leaves_an_empty_one_untouched) {
    cr_assert_eq(mm_errf(MM_ERR_DB, NULL, 0, "ignored %d", 1), MM_ERR_DB);
    cr_assert_eq(mm_errf(MM_ERR_DB, NULL, 16, "ignored %d", 2), MM_ERR_DB);
    char errstr[4] = "abc";
    cr_assert_eq(mm_errf(MM_ERR_TIMEOUT, errstr, 0, "ignored"), MM_ERR_TIMEOUT);
    cr_assert_str_eq(errstr, "abc");
}
