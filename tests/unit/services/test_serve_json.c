/*
 * test_serve_json.c - the serving API's JSON writer (services/scorer/serve_json.c)
 * writes exactly what jansson's json_dumps(JSON_COMPACT | JSON_REAL_PRECISION(10))
 * writes: reals over many magnitudes, ties and carries, strings with every
 * escape, and a forecast-shaped tree.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "serve_json.h"

#define FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(MM_SERVE_REAL_DIGITS))

/* @p root (stolen) is written byte for byte as json_dumps writes it. */
static void expect_same(json_t *root) {
    cr_assert_not_null(root);
    char *want = json_dumps(root, FLAGS | JSON_ENCODE_ANY);
    cr_assert_not_null(want);
    mm_buf_t buf;
    mm_buf_init(&buf, 0);
    cr_assert_eq(mm_serve_json_dump(&buf, root), MM_OK);
    cr_expect_str_eq((const char *)buf.data, want);
    mm_buf_free(&buf);
    free(want);
    json_decref(root);
}

static void expect_real(double v) {
    json_t *r = json_real(v);
    char *want = json_dumps(r, FLAGS | JSON_ENCODE_ANY);
    char got[MM_SERVE_REAL_TEXT_MAX];
    size_t n = mm_serve_json_real(got, v);
    cr_assert_eq(n, strlen(got));
    cr_assert_str_eq(got, want, "%.17g", v);
    free(want);
    json_decref(r);
}

/* xorshift64*: a fixed sequence, so a failure is reproducible */
static uint64_t next_u64(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

Test(serve_json, reals_are_written_as_printf_10g_over_every_magnitude) {
    static const double fixed[] = {
        0.0,  -0.0,         1.0,          -1.0,       0.5,
        0.1,  1e-4,         9.99999e-5,   1e-5,       123.456,
        1e10, 9999999999.0, 9999999999.5, 1e9,        99.99999999,
        1e22, 1e300,        -2.5e-300,    5e-324,     1.7976931348623157e308,
        0.3,  2.0 / 3.0,    100.0,        12345.6789, 0.000123456789012};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) expect_real(fixed[i]);
    uint64_t s = 88172645463325252ULL;
    for (int i = 0; i < 200000; i++) {
        /* a magnitude from 1e-7 to 1e12, and some values with few digits */
        double u = (double)(next_u64(&s) >> 11) / 9007199254740992.0;
        double v = pow(10.0, -7.0 + 19.0 * u);
        if (i % 4 == 1) v = round(v * 1000.0) / 1000.0;
        if (i % 4 == 2) v = (double)(int64_t)(next_u64(&s) % 20000001) / 1000.0 - 10000.0;
        if (i % 2) v = -v;
        expect_real(v);
    }
}

Test(serve_json, ties_of_the_tenth_digit_are_rounded_as_printf_rounds) {
    /* values whose 11th significant digit is a 5 in decimal */
    for (int64_t m = 10000000005LL; m < 99999999999LL; m += 7777777770LL)
        for (int e = -4; e <= 8; e++) expect_real((double)m * pow(10.0, e - 10));
}

Test(serve_json, strings_keep_utf8_and_escape_what_jansson_escapes) {
    char all[128];
    for (int i = 1; i < 128; i++) all[i - 1] = (char)i;
    all[127] = '\0';
    expect_same(json_string(all));
    expect_same(json_string("store=12/item=345 \xc3\xa9\xe2\x82\xac"));
    expect_same(json_stringn("a\0b", 3));
    expect_same(json_string(""));
}

Test(serve_json, a_forecast_shaped_tree_is_written_as_jansson_writes_it) {
    json_t *o = json_object();
    json_object_set_new(o, "key", json_string("store=1/item=\"2\""));
    json_object_set_new(o, "model_version", json_integer(-9223372036854775807LL - 1));
    json_object_set_new(o, "big", json_integer(9223372036854775807LL));
    json_object_set_new(o, "zero", json_integer(0));
    json_object_set_new(o, "fallback", json_false());
    json_object_set_new(o, "ok", json_true());
    json_object_set_new(o, "load_id", json_null());
    json_t *values = json_array();
    for (int i = 0; i < 28; i++) json_array_append_new(values, json_real(50.0 + 10.0 * sin(i)));
    json_object_set_new(o, "values", values);
    json_object_set_new(o, "empty", json_array());
    json_object_set_new(o, "nested", json_pack("{s:{}, s:[[], {s:i}]}", "a", "b", "c", 1));
    expect_same(json_pack("[o, o]", json_incref(o), json_array()));
    expect_same(o);
}
