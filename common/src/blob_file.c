/*
 * blob_file.c - the file:// blob backend: one directory, blob names as
 * relative paths under it.
 *
 * Workload: one machine, tests and demos; thousands of artifacts of a few
 * KiB to tens of MiB, written once and read many times, several processes
 * sharing the directory. Durability rules: a put writes the bytes to a temp
 * file under <root>/.mm-tmp, fsyncs it, then publishes it under its final
 * name in one step - link(2) for If-None-Match (fails atomically if the name
 * exists), rename(2) otherwise - and fsyncs the directory. A crash therefore
 * never leaves a partial blob under a final name, only an orphan temp file.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blob_int.h"
#include "mm/fs.h"
#include "mm/util.h"

/* Temp files live here; this first segment is reserved in blob names. */
#define FILE_TMP_DIR ".mm-tmp"
/* A temp file this old belongs to a put that crashed: removed on open. */
#define FILE_TMP_STALE_S (24 * 3600)
/* Cap on names one listing collects (bounds memory for a runaway tree). */
#define FILE_LIST_MAX_NAMES (16u * 1024u * 1024u)

typedef struct blob_file {
    char *root; /* absolute, no trailing '/' */
} blob_file_t;

static atomic_uint file_tmp_counter;

static mm_err_t file_path(const blob_file_t *fs, const char *name, char *out, size_t out_size,
                          char *errstr, size_t errstr_size) {
    int n = snprintf(out, out_size, "%s/%s", fs->root, name);
    if (n < 0 || (size_t)n >= out_size)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "blob %s: path too long", name);
    return MM_OK;
}

static bool file_name_reserved(const char *name) {
    size_t n = strlen(FILE_TMP_DIR);
    return strncmp(name, FILE_TMP_DIR, n) == 0 && (name[n] == '/' || name[n] == 0);
}

/* fsync a directory so an entry created or removed in it survives a crash. */
static int file_fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

static void file_dirname(const char *path, char *out, size_t out_size) {
    snprintf(out, out_size, "%s", path);
    char *slash = strrchr(out, '/');
    if (slash && slash != out) *slash = 0;
}

/* mkdir -p for the parents of @p path below the root, fsyncing each parent
 * whose entries change so a published blob is reachable after a crash. */
static mm_err_t file_make_parents(const blob_file_t *fs, const char *path, char *errstr,
                                  size_t errstr_size) {
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", path);
    size_t root_len = strlen(fs->root);
    for (char *p = buf + root_len + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) == 0) {
            char parent[PATH_MAX];
            file_dirname(buf, parent, sizeof(parent));
            if (file_fsync_dir(parent) != 0)
                return mm_errf(MM_ERR_IO, errstr, errstr_size, "fsync %s: %s", parent,
                               strerror(errno));
        } else if (errno != EEXIST) {
            return mm_errf(MM_ERR_IO, errstr, errstr_size, "mkdir %s: %s", buf, strerror(errno));
        }
        *p = '/';
    }
    return MM_OK;
}

/* Remove temp files left by puts that crashed long ago (best effort). */
static void file_sweep_stale_temps(const blob_file_t *fs) {
    char tmp_dir[PATH_MAX];
    int n = snprintf(tmp_dir, sizeof(tmp_dir), "%s/%s", fs->root, FILE_TMP_DIR);
    if (n < 0 || (size_t)n >= sizeof(tmp_dir)) return;
    DIR *d = opendir(tmp_dir);
    if (!d) return;
    time_t now = time(NULL);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        if (strncmp(de->d_name, "put.", 4) != 0) continue;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        if (S_ISREG(st.st_mode) && now - st.st_mtime > FILE_TMP_STALE_S)
            unlinkat(dirfd(d), de->d_name, 0);
    }
    closedir(d);
}

static void *file_open(const char *url, const mm_blob_opts_t *opts, char *errstr,
                       size_t errstr_size) {
    const char *path = url + strlen("file://");
    /* Accept file:///abs and file://localhost/abs; nothing relative. */
    if (strncmp(path, "localhost/", 10) == 0) path += strlen("localhost");
    if (path[0] != '/') {
        mm_errf(MM_ERR_CONFIG, errstr, errstr_size,
                "blob: %s: file URLs need an absolute path (file:///dir)", url);
        return NULL;
    }
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') len--;
    if (len + 1 + MM_BLOB__NAME_MAX + 64 >= PATH_MAX) {
        mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "blob: %s: path too long", url);
        return NULL;
    }
    blob_file_t *fs = calloc(1, sizeof(*fs));
    if (!fs || !(fs->root = strndup(path, len))) {
        free(fs);
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "blob: out of memory");
        return NULL;
    }
    if (opts && opts->create_container) {
        if (mm_mkdirs(fs->root, errstr, errstr_size) != MM_OK) goto fail;
    }
    struct stat st;
    if (stat(fs->root, &st) != 0) {
        mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "blob: %s: %s", fs->root, strerror(errno));
        goto fail;
    }
    if (!S_ISDIR(st.st_mode)) {
        mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "blob: %s: not a directory", fs->root);
        goto fail;
    }
    file_sweep_stale_temps(fs);
    return fs;
fail:
    free(fs->root);
    free(fs);
    return NULL;
}

static void file_destroy(void *backend) {
    blob_file_t *fs = backend;
    if (!fs) return;
    free(fs->root);
    free(fs);
}

static mm_err_t file_write_all(int fd, const void *data, size_t len) {
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return MM_ERR_IO;
        }
        p += n;
        len -= (size_t)n;
    }
    return MM_OK;
}

static mm_err_t file_put(void *backend, const char *name, const void *data, size_t len, int flags,
                         char *errstr, size_t errstr_size) {
    blob_file_t *fs = backend;
    char path[PATH_MAX], tmp_dir[PATH_MAX], tmp[PATH_MAX], dir[PATH_MAX];
    mm_err_t err;
    if (file_name_reserved(name))
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "blob put %s: names under %s/ are reserved by the file backend", name,
                       FILE_TMP_DIR);
    if ((err = file_path(fs, name, path, sizeof(path), errstr, errstr_size))) return err;
    snprintf(tmp_dir, sizeof(tmp_dir), "%s/%s", fs->root, FILE_TMP_DIR);
    if (mkdir(tmp_dir, 0755) != 0 && errno != EEXIST)
        return mm_errf(MM_ERR_IO, errstr, errstr_size, "mkdir %s: %s", tmp_dir, strerror(errno));
    int tn = snprintf(tmp, sizeof(tmp), "%s/put.%ld.%u", tmp_dir, (long)getpid(),
                      atomic_fetch_add(&file_tmp_counter, 1u));
    if (tn < 0 || (size_t)tn >= sizeof(tmp))
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "blob put %s: path too long", name);

    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return mm_errf(MM_ERR_IO, errstr, errstr_size, "%s: %s", tmp, strerror(errno));
    if (file_write_all(fd, data, len) != MM_OK || fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return mm_errf(MM_ERR_IO, errstr, errstr_size, "blob put %s: write %s: %s", name, tmp,
                       strerror(e));
    }
    if (close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return mm_errf(MM_ERR_IO, errstr, errstr_size, "blob put %s: close %s: %s", name, tmp,
                       strerror(e));
    }

    /* A concurrent delete may remove the (then empty) parent directory
     * between mkdir and publish: recreate it and try again. */
    int rc = -1, e = 0;
    for (int attempt = 0; attempt < 5; attempt++) {
        if ((err = file_make_parents(fs, path, errstr, errstr_size))) {
            unlink(tmp);
            return err;
        }
        rc = (flags & MM_BLOB_IF_NONE_MATCH) ? link(tmp, path) : rename(tmp, path);
        e = errno;
        if (rc == 0 || e != ENOENT) break;
    }
    if (flags & MM_BLOB_IF_NONE_MATCH) unlink(tmp);
    if (rc != 0) {
        if (!(flags & MM_BLOB_IF_NONE_MATCH)) unlink(tmp);
        if (e == EEXIST)
            return mm_errf(MM_ERR_EXISTS, errstr, errstr_size, "blob put %s: already exists", name);
        if (e == EISDIR)
            return mm_errf(MM_ERR_EXISTS, errstr, errstr_size,
                           "blob put %s: a directory of other blobs has that name", name);
        return mm_errf(MM_ERR_IO, errstr, errstr_size, "blob put %s: publish %s: %s", name, path,
                       strerror(e));
    }
    file_dirname(path, dir, sizeof(dir));
    if (file_fsync_dir(dir) != 0)
        return mm_errf(MM_ERR_IO, errstr, errstr_size, "blob put %s: fsync %s: %s", name, dir,
                       strerror(errno));
    return MM_OK;
}

static mm_err_t file_get(void *backend, const char *name, mm_buf_t *out, char *errstr,
                         size_t errstr_size) {
    blob_file_t *fs = backend;
    char path[PATH_MAX];
    mm_err_t err;
    if (file_name_reserved(name))
        return mm_errf(MM_ERR_NOT_FOUND, errstr, errstr_size, "blob %s: not found", name);
    if ((err = file_path(fs, name, path, sizeof(path), errstr, errstr_size))) return err;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
            return mm_errf(MM_ERR_NOT_FOUND, errstr, errstr_size, "blob %s: not found", name);
        return mm_errf(MM_ERR_IO, errstr, errstr_size, "blob get %s: %s", name, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return mm_errf(MM_ERR_NOT_FOUND, errstr, errstr_size, "blob %s: not found", name);
    }
    mm_buf_reset(out);
    size_t limit = out->limit ? out->limit : MM_BUF_CAP_MESSAGE;
    if ((uint64_t)st.st_size > limit) {
        close(fd);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size,
                       "blob get %s: %lld bytes, more than the %zu-byte limit", name,
                       (long long)st.st_size, limit);
    }
    if (mm_buf_reserve(out, (size_t)st.st_size) != MM_OK) {
        close(fd);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "blob get %s: out of memory", name);
    }
    /* Read to EOF rather than trusting st_size: blobs are immutable once
     * published, but a rename-overwrite swaps whole files, never edits one. */
    for (;;) {
        uint8_t chunk[65536];
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(fd);
            return mm_errf(MM_ERR_IO, errstr, errstr_size, "blob get %s: %s", name, strerror(e));
        }
        if (n == 0) break;
        if (mm_buf_append(out, chunk, (size_t)n) != MM_OK) {
            close(fd);
            return mm_errf(MM_ERR_NOMEM, errstr, errstr_size,
                           "blob get %s: more than the %zu-byte limit", name, limit);
        }
    }
    close(fd);
    return MM_OK;
}

/* Names collected by a listing, sorted before the callbacks run. */
typedef struct file_entry {
    char *name;
    int64_t size;
} file_entry_t;

typedef struct file_names {
    file_entry_t *entries;
    size_t n, cap;
} file_names_t;

static mm_err_t file_names_add(file_names_t *fn, const char *name, int64_t size) {
    if (fn->n == fn->cap) {
        size_t cap = fn->cap ? fn->cap * 2 : 64;
        if (cap > FILE_LIST_MAX_NAMES) return MM_ERR_NOMEM;
        file_entry_t *entries = realloc(fn->entries, cap * sizeof(*entries));
        if (!entries) return MM_ERR_NOMEM;
        fn->entries = entries;
        fn->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy) return MM_ERR_NOMEM;
    fn->entries[fn->n].name = copy;
    fn->entries[fn->n].size = size;
    fn->n++;
    return MM_OK;
}

static void file_names_free(file_names_t *fn) {
    for (size_t i = 0; i < fn->n; i++) free(fn->entries[i].name);
    free(fn->entries);
}

/*
 * Walk @p rel (a directory relative to the root, "" for the root itself),
 * adding every regular file whose relative name starts with @p prefix.
 * Subdirectories that cannot contain a match are not entered.
 */
static mm_err_t file_walk(const blob_file_t *fs, const char *rel, const char *prefix,
                          file_names_t *fn, int depth, char *errstr, size_t errstr_size) {
    char dir_path[PATH_MAX];
    if (depth > 256)
        return mm_errf(MM_ERR_IO, errstr, errstr_size, "blob list: tree deeper than 256 under %s",
                       fs->root);
    snprintf(dir_path, sizeof(dir_path), "%s%s%s", fs->root, rel[0] ? "/" : "", rel);
    DIR *d = opendir(dir_path);
    if (!d) {
        if (errno == ENOENT || errno == ENOTDIR) return MM_OK; /* removed while listing */
        return mm_errf(MM_ERR_IO, errstr, errstr_size, "blob list: %s: %s", dir_path,
                       strerror(errno));
    }
    mm_err_t err = MM_OK;
    size_t prefix_len = strlen(prefix);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        if (!rel[0] && strcmp(de->d_name, FILE_TMP_DIR) == 0) continue;
        char name[PATH_MAX];
        int n = snprintf(name, sizeof(name), "%s%s%s", rel, rel[0] ? "/" : "", de->d_name);
        if (n < 0 || (size_t)n >= sizeof(name) || (size_t)n > MM_BLOB__NAME_MAX) continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        size_t name_len = (size_t)n;
        if (S_ISDIR(st.st_mode)) {
            /* Enter only if "name/" and the prefix agree on their common part. */
            if (prefix_len <= name_len) {
                if (strncmp(name, prefix, prefix_len) != 0) continue;
            } else if (strncmp(name, prefix, name_len) != 0 || prefix[name_len] != '/') {
                continue;
            }
            err = file_walk(fs, name, prefix, fn, depth + 1, errstr, errstr_size);
            if (err) break;
        } else if (S_ISREG(st.st_mode)) {
            if (strncmp(name, prefix, prefix_len) != 0) continue;
            if (!mm_blob__name_ok(name, false)) continue; /* not a name a put could create */
            if (file_names_add(fn, name, (int64_t)st.st_size) != MM_OK) {
                err = mm_errf(MM_ERR_NOMEM, errstr, errstr_size,
                              "blob list %s: out of memory or over %u names", prefix,
                              FILE_LIST_MAX_NAMES);
                break;
            }
        }
    }
    closedir(d);
    return err;
}

/* Byte order, which is also the order Azure lists names in. */
static int file_entry_cmp(const void *a, const void *b) {
    return strcmp(((const file_entry_t *)a)->name, ((const file_entry_t *)b)->name);
}

static mm_err_t file_list(void *backend, const char *prefix, mm_blob_list_cb_t *cb, void *opaque,
                          char *errstr, size_t errstr_size) {
    blob_file_t *fs = backend;
    file_names_t fn = {0};
    mm_err_t err = file_walk(fs, "", prefix, &fn, 0, errstr, errstr_size);
    if (err) {
        file_names_free(&fn);
        return err;
    }
    if (fn.n) qsort(fn.entries, fn.n, sizeof(*fn.entries), file_entry_cmp);
    for (size_t i = 0; i < fn.n; i++)
        if (!cb(opaque, fn.entries[i].name, fn.entries[i].size)) break;
    file_names_free(&fn);
    return MM_OK;
}

static mm_err_t file_delete(void *backend, const char *name, char *errstr, size_t errstr_size) {
    blob_file_t *fs = backend;
    char path[PATH_MAX], dir[PATH_MAX];
    mm_err_t err;
    if (file_name_reserved(name))
        return mm_errf(MM_ERR_NOT_FOUND, errstr, errstr_size, "blob %s: not found", name);
    if ((err = file_path(fs, name, path, sizeof(path), errstr, errstr_size))) return err;
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return mm_errf(MM_ERR_NOT_FOUND, errstr, errstr_size, "blob %s: not found", name);
        return mm_errf(MM_ERR_IO, errstr, errstr_size, "blob delete %s: %s", name, strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) /* a directory of other blobs is not a blob */
        return mm_errf(MM_ERR_NOT_FOUND, errstr, errstr_size, "blob %s: not found", name);
    if (unlink(path) != 0) {
        if (errno == ENOENT)
            return mm_errf(MM_ERR_NOT_FOUND, errstr, errstr_size, "blob %s: not found", name);
        return mm_errf(MM_ERR_IO, errstr, errstr_size, "blob delete %s: %s", name, strerror(errno));
    }
    file_dirname(path, dir, sizeof(dir));
    if (file_fsync_dir(dir) != 0)
        return mm_errf(MM_ERR_IO, errstr, errstr_size, "blob delete %s: fsync %s: %s", name, dir,
                       strerror(errno));
    /* Azure has no directories: drop the ones this delete emptied so a
     * listing and the tree agree. rmdir fails harmlessly on a non-empty one. */
    size_t root_len = strlen(fs->root);
    while (strlen(dir) > root_len && rmdir(dir) == 0) {
        char *slash = strrchr(dir, '/');
        if (!slash) break;
        *slash = 0;
    }
    return MM_OK;
}

const mm_blob__ops_t mm_blob__file_ops = {
    .scheme_name = "file",
    .open = file_open,
    .put = file_put,
    .get = file_get,
    .list = file_list,
    .del = file_delete,
    .copy = NULL, /* blob.c: get + put, which keeps put's atomic publish */
    .set_list_page_size = NULL,
    .destroy = file_destroy,
};
