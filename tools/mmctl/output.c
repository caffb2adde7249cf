/*
 * output.c - mmctl's diagnostics and printing helpers (see mmctl.h): stdout
 * carries the data, stderr the diagnostics.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "mm/redact.h"
#include "mmctl.h"

int mmctl_usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "mmctl: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'mmctl --help'.\n");
    va_end(ap);
    return EXIT_USAGE;
}

const char *mmctl_env_or(const char *name, const char *fallback) {
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

static int exit_for(mm_err_t err) {
    if (err == MM_OK) return EXIT_OK;
    if (err == MM_ERR_NOT_FOUND) return EXIT_NOT_FOUND;
    if (err == MM_ERR_CONFIG) return EXIT_CONFIG;
    return EXIT_ERROR;
}

int mmctl_fail(mm_err_t err, const char *what, const char *why) {
    char *what_shown = mm_redact(what);
    char *why_shown = mm_redact(why);
    fprintf(stderr, "mmctl: %s: %s\n", what_shown ? what_shown : MM_REDACTED,
            why_shown ? why_shown : MM_REDACTED);
    free(what_shown);
    free(why_shown);
    return exit_for(err);
}

void mmctl_print_json(json_t *doc) {
    json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
    json_decref(doc);
}

json_t *mmctl_json_num_or_null(double v) {
    return isfinite(v) ? json_real(v) : json_null();
}

json_t *mmctl_json_version_or_null(int32_t version) {
    return version > 0 ? json_integer(version) : json_null();
}

json_t *mmctl_json_str_or_null(const char *s) {
    return s ? json_string(s) : json_null();
}

json_t *mmctl_json_parsed_or_null(const char *text) {
    if (!text) return json_null();
    json_t *v = json_loads(text, 0, NULL);
    return v ? v : json_string(text);
}

void mmctl_fmt_time(int64_t ms, char *out, size_t size) {
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    if (ms <= 0 || !gmtime_r(&secs, &tm) || strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, size, "-");
}

bool mmctl_file_exists(const char *path) {
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}
