/*
 * util.c - clocks, backoff with jitter, checked parsing, files (see util.h).
 */
#include "mm/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int64_t mm_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mm_mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void mm_sleep_ms(int64_t ms, volatile int *stop) {
    int64_t end = mm_mono_ms() + ms;
    while (!(stop && *stop)) {
        int64_t left = end - mm_mono_ms();
        if (left <= 0) return;
        if (stop && left > 50) left = 50; /* re-check the stop flag often */
        struct timespec ts = {.tv_sec = left / 1000, .tv_nsec = (left % 1000) * 1000000};
        nanosleep(&ts, NULL);
    }
}

static _Thread_local uint64_t backoff_state;

static uint64_t backoff_rand(void) {
    if (!backoff_state) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        backoff_state = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^
                        (uint64_t)(uintptr_t)&backoff_state ^ 0x9e3779b97f4a7c15ull;
    }
    /* xorshift64* */
    backoff_state ^= backoff_state >> 12;
    backoff_state ^= backoff_state << 25;
    backoff_state ^= backoff_state >> 27;
    return backoff_state * 2685821657736338717ull;
}

int64_t mm_backoff_ms(int attempt, int64_t base_ms, int64_t cap_ms) {
    if (base_ms <= 0) base_ms = 1;
    if (cap_ms < base_ms) cap_ms = base_ms;
    int64_t ceiling = base_ms;
    for (int i = 0; i < attempt && ceiling < cap_ms; i++) ceiling *= 2;
    if (ceiling > cap_ms) ceiling = cap_ms;
    int64_t floor_ms = base_ms / 2;
    if (ceiling <= floor_ms) return ceiling;
    return floor_ms + (int64_t)(backoff_rand() % (uint64_t)(ceiling - floor_ms + 1));
}

int64_t mm_days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void mm_civil_from_days(int64_t z, int *y, int *m, int *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

void mm_hex(const uint8_t *bytes, size_t len, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * len] = 0;
}

bool mm_parse_i64(const char *s, int64_t *out) {
    if (!s || !*s) return false;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end) return false;
    *out = (int64_t)v;
    return true;
}

bool mm_parse_double(const char *s, double *out, bool allow_nonfinite) {
    if (!s || !*s) return false;
    errno = 0;
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || *end) return false;
    if (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL)) return false;
    if (!allow_nonfinite && !isfinite(v)) return false;
    *out = v;
    return true;
}

bool mm_parse_bool(const char *s, bool *out) {
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    if (!s) return false;
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

mm_err_t mm_file_read(const char *path, mm_buf_t *out, char *errstr, size_t errstr_size) {
    FILE *f = fopen(path, "rb");
    if (!f) return mm_errf(MM_ERR_IO, errstr, errstr_size, "%s: %s", path, strerror(errno));
    mm_buf_reset(out);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (mm_buf_append(out, chunk, n)) {
            fclose(f);
            return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "%s: larger than %zu bytes", path,
                           out->limit);
        }
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) return mm_errf(MM_ERR_IO, errstr, errstr_size, "%s: read error", path);
    if (!out->data) mm_buf_append(out, "", 0);
    return MM_OK;
}

mm_err_t mm_file_write_atomic(const char *path, const void *data, size_t len, char *errstr,
                              size_t errstr_size) {
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return mm_errf(MM_ERR_IO, errstr, errstr_size, "%s: %s", tmp, strerror(errno));
    const uint8_t *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(fd);
            unlink(tmp);
            return mm_errf(MM_ERR_IO, errstr, errstr_size, "%s: %s", tmp, strerror(e));
        }
        p += n;
        left -= (size_t)n;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return mm_errf(MM_ERR_IO, errstr, errstr_size, "%s: %s", tmp, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return mm_errf(MM_ERR_IO, errstr, errstr_size, "rename %s: %s", path, strerror(e));
    }
    return MM_OK;
}

mm_err_t mm_mkdirs(const char *path, char *errstr, size_t errstr_size) {
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "%s: path too long", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return mm_errf(MM_ERR_IO, errstr, errstr_size, "mkdir %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return mm_errf(MM_ERR_IO, errstr, errstr_size, "mkdir %s: %s", buf, strerror(errno));
    return MM_OK;
}

char *mm_strndup(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}
