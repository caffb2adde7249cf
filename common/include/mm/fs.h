/*
 * fs.h - local files: read a whole file under a cap, write one atomically,
 * create a directory path. Part of libmm (the I/O layer); the core layer and
 * the model library do no file I/O.
 */
#ifndef MM_FS_H
#define MM_FS_H

#include <stddef.h>

#include "mm/buf.h"
#include "mm/err.h"

/**
 * @brief Read a whole file into @p out (its limit applies).
 * @returns MM_OK, MM_ERR_IO (open or read failed) or MM_ERR_NOMEM (over the cap).
 */
mm_err_t mm_file_read(const char *path, mm_buf_t *out, char *errstr, size_t errstr_size);
/**
 * @brief Write a file atomically: temp file next to it, fsync, rename.
 * @returns MM_OK, MM_ERR_INVALID_ARG (path too long) or MM_ERR_IO.
 */
mm_err_t mm_file_write_atomic(const char *path, const void *data, size_t len, char *errstr,
                              size_t errstr_size);
/** @brief mkdir -p. @returns MM_OK, MM_ERR_INVALID_ARG (path too long) or MM_ERR_IO. */
mm_err_t mm_mkdirs(const char *path, char *errstr, size_t errstr_size);

#endif
