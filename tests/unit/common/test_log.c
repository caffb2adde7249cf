/*
 * test_log.c - structured logs (common/src/log.c): one JSON object per line
 * on stderr with ts, level, service, event and msg; extra fields merged;
 * escaping of quotes, newlines and control bytes; the level filter.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "mm/log.h"

#define MAX_LINES 16

typedef struct captured {
    json_t *lines[MAX_LINES];
    size_t n;
} captured_t;

static FILE *g_tmp;
static int g_saved_stderr = -1;

/* Send stderr to a temporary file until capture_end(). */
static void capture_begin(void) {
    g_tmp = tmpfile();
    cr_assert_not_null(g_tmp);
    fflush(stderr);
    g_saved_stderr = dup(STDERR_FILENO);
    cr_assert(g_saved_stderr >= 0);
    cr_assert(dup2(fileno(g_tmp), STDERR_FILENO) >= 0);
}

/* Restore stderr and parse every captured line (each must be one JSON object). */
static void capture_end(captured_t *out) {
    fflush(stderr);
    cr_assert(dup2(g_saved_stderr, STDERR_FILENO) >= 0);
    close(g_saved_stderr);
    memset(out, 0, sizeof(*out));
    rewind(g_tmp);
    char line[8192];
    while (fgets(line, sizeof(line), g_tmp)) {
        size_t len = strlen(line);
        cr_assert(len > 0 && line[len - 1] == '\n', "a line must end in a newline: %s", line);
        json_error_t error;
        json_t *obj = json_loadb(line, len - 1, 0, &error);
        cr_assert_not_null(obj, "not JSON (%s): %s", error.text, line);
        cr_assert(json_is_object(obj), "not an object: %s", line);
        cr_assert_lt(out->n, MAX_LINES);
        out->lines[out->n++] = obj;
    }
    fclose(g_tmp);
}

static void captured_free(captured_t *c) {
    for (size_t i = 0; i < c->n; i++) json_decref(c->lines[i]);
}

static const char *field(const json_t *obj, const char *name) {
    const char *s = json_string_value(json_object_get(obj, name));
    cr_assert_not_null(s, "field %s missing", name);
    return s;
}

Test(log, each_call_is_one_json_line_with_the_standard_fields) {
    mm_log_init("mm-test", MM_LOG_DEBUG);
    capture_begin();
    mm_log_info("started", "load %s began with %d rows", "l-1", 3);
    mm_log_error("failed", "no");
    captured_t c;
    capture_end(&c);
    cr_assert_eq(c.n, 2);
    cr_expect_str_eq(field(c.lines[0], "level"), "info");
    cr_expect_str_eq(field(c.lines[0], "service"), "mm-test");
    cr_expect_str_eq(field(c.lines[0], "event"), "started");
    cr_expect_str_eq(field(c.lines[0], "msg"), "load l-1 began with 3 rows");
    const char *ts = field(c.lines[0], "ts");
    cr_expect_eq(strlen(ts), strlen("2026-11-21T22:50:01.123Z"), "%s", ts);
    cr_expect_eq(ts[10], 'T');
    cr_expect_eq(ts[strlen(ts) - 1], 'Z');
    cr_expect_str_eq(field(c.lines[1], "level"), "error");
    captured_free(&c);
}

Test(log, quotes_newlines_and_control_bytes_are_escaped_within_one_line) {
    mm_log_init("mm-test", MM_LOG_INFO);
    capture_begin();
    mm_log_warn("odd", "a \"quoted\" cell\nsecond line\ttab \x01 back\\slash");
    captured_t c;
    capture_end(&c);
    cr_assert_eq(c.n, 1, "a newline in a message must not split the line");
    cr_expect_str_eq(field(c.lines[0], "msg"),
                     "a \"quoted\" cell\nsecond line\ttab \x01 back\\slash");
    captured_free(&c);
}

Test(log, extra_fields_are_merged_and_the_object_is_stolen) {
    mm_log_init("mm-test", MM_LOG_INFO);
    capture_begin();
    mm_logj(MM_LOG_INFO, "ingest_summary", json_pack("{s:s, s:I}", "load_id", "l-2", "rows", 42),
            "done");
    mm_logj(MM_LOG_INFO, "no_fields", NULL, "plain");
    captured_t c;
    capture_end(&c);
    cr_assert_eq(c.n, 2);
    cr_expect_str_eq(field(c.lines[0], "load_id"), "l-2");
    cr_expect_eq(json_integer_value(json_object_get(c.lines[0], "rows")), 42);
    cr_expect_str_eq(field(c.lines[0], "msg"), "done");
    cr_expect_str_eq(field(c.lines[1], "event"), "no_fields");
    captured_free(&c);
}

Test(log, lines_below_the_level_are_dropped) {
    mm_log_init("mm-test", MM_LOG_WARN);
    cr_expect_not(mm_log_enabled(MM_LOG_INFO));
    cr_expect(mm_log_enabled(MM_LOG_ERROR));
    capture_begin();
    mm_log_debug("d", "dropped");
    mm_log_info("i", "dropped");
    mm_logj(MM_LOG_INFO, "j", json_pack("{s:i}", "x", 1), "dropped, fields freed");
    mm_log_warn("w", "kept");
    mm_log_set_level(MM_LOG_DEBUG);
    mm_log_debug("d2", "kept");
    captured_t c;
    capture_end(&c);
    cr_assert_eq(c.n, 2);
    cr_expect_str_eq(field(c.lines[0], "event"), "w");
    cr_expect_str_eq(field(c.lines[1], "event"), "d2");
    captured_free(&c);
}

Test(log, level_names_parse_in_any_case) {
    mm_log_level_t level;
    cr_expect(mm_log_level_parse("debug", &level));
    cr_expect_eq(level, MM_LOG_DEBUG);
    cr_expect(mm_log_level_parse("WARN", &level));
    cr_expect_eq(level, MM_LOG_WARN);
    cr_expect(mm_log_level_parse("Error", &level));
    cr_expect_eq(level, MM_LOG_ERROR);
    cr_expect_not(mm_log_level_parse("verbose", &level));
    cr_expect_not(mm_log_level_parse(NULL, &level));
}
