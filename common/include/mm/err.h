/*
 * err.h - the one error enum of manymodels.
 *
 * Numbers are stable and never reused: a retired code stays in the enum as
 * MM_ERR_OBSOLETE<n>. The code says *what* failed; callers pass an
 * errstr/errstr_size pair that says *why* (with file:line for input errors).
 */
#ifndef MM_ERR_H
#define MM_ERR_H

#include <stdbool.h>
#include <stddef.h>

typedef enum mm_err {
    MM_OK = 0,
    MM_ERR_INVALID_ARG = 1,        /* caller passed something unusable */
    MM_ERR_NOMEM = 2,              /* allocation failed or a named cap was hit */
    MM_ERR_IO = 3,                 /* local file or socket I/O */
    MM_ERR_PARSE = 4,              /* malformed input (CSV, JSON, Avro body) */
    MM_ERR_CONFIG = 5,             /* invalid configuration or dataset spec */
    MM_ERR_NOT_FOUND = 6,          /* blob, key, row, ... does not exist */
    MM_ERR_EXISTS = 7,             /* conditional create found it already there */
    MM_ERR_TIMEOUT = 8,            /* nothing arrived / deadline passed */
    MM_ERR_TRANSPORT = 9,          /* network failure (retriable) */
    MM_ERR_HTTP = 10,              /* HTTP status that retrying will not fix */
    MM_ERR_THROTTLED = 11,         /* 408/429/5xx: retriable server condition */
    MM_ERR_AUTH = 12,              /* 401/403: credentials or signature */
    MM_ERR_KAFKA = 13,             /* Kafka client error */
    MM_ERR_DB = 14,                /* SQLite error */
    MM_ERR_SCHEMA = 15,            /* wrong magic byte or unknown schema id */
    MM_ERR_INTEGRITY = 16,         /* checksum / content mismatch */
    MM_ERR_UNSUPPORTED = 17,       /* unknown or newer format version */
    MM_ERR_NUMERIC = 18,           /* a fit or solve failed numerically */
    MM_ERR_INSUFFICIENT_DATA = 19, /* too little history for the request */
    MM_ERR_SHUTDOWN = 20,          /* interrupted by an orderly shutdown */
    MM_ERR_BUSY = 21,              /* resource busy (database lock, full queue) */
    MM_ERR__COUNT
} mm_err_t;

/** @returns a short static description of @p err ("blob not found", ...). */
const char *mm_err2str(mm_err_t err);

/** @returns the symbolic name of @p err ("MM_ERR_NOT_FOUND"). */
const char *mm_err_name(mm_err_t err);

/** @returns true if the same operation may succeed when retried later. */
bool mm_err_is_retriable(mm_err_t err);

/** @returns true if the process cannot sensibly continue after @p err. */
bool mm_err_is_fatal(mm_err_t err);

/**
 * @brief Format a reason into a caller-supplied buffer; returns @p err so a
 * failure path can be one statement: `return mm_errf(MM_ERR_IO, errstr,
 * errstr_size, "open %s: %s", path, strerror(errno));`
 * @remark A NULL or zero-size @p errstr is allowed and ignored.
 */
mm_err_t mm_errf(mm_err_t err, char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
