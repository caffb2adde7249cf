/*
 * fs.c - local files: whole-file reads under a cap, atomic writes, mkdir -p
 * (see fs.h).
 *
 * Workload: configuration, specs, artifacts and file:// blobs, read or
 * written whole; durability (fsync before rename) over speed.
 */
#include "mm/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bytes read per fread() while slurping a file. */
#define FS_READ_CHUNK (64 * 1024)

mm_err_t mm_file_read(const char *path, mm_buf_t *out, char *errstr, size_t errstr_size) {
    FILE *f = fopen(path, "rb");
    if (!f) return mm_errf(MM_ERR_IO, errstr, errstr_size, "%s: %s", path, strerror(errno));
    mm_buf_reset(out);
    char chunk[FS_READ_CHUNK];
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
