/*
 * serve_json.h - the serving API's JSON writer: a jansson tree written
 * compactly into a buffer, byte for byte what
 * json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(10)) writes, without
 * printf on the common path (a 28-step forecast carries 84 numbers, and
 * printf("%.10g") was most of a warm request's time).
 *
 * Numbers: integers in full; reals with 10 significant digits, the shortest
 * of "%.10g" (trailing zeros dropped) and always with a '.' or an exponent
 * so they read back as reals. Reals of magnitude in [1e-4, 1e10) are
 * formatted with integer arithmetic; other magnitudes, zero, and the rare
 * value within 1e-5 units of the 10th digit of a rounding tie go through
 * snprintf so the digits are exactly those of "%.10g".
 */
#ifndef MM_SCORER_SERVE_JSON_H
#define MM_SCORER_SERVE_JSON_H

#include <stddef.h>

#include <jansson.h>

#include "mm/buf.h"
#include "mm/err.h"

/* Significant digits of reals in answers (docs/serving.md). */
#define MM_SERVE_REAL_DIGITS 10
/* Room for one formatted real: sign, 10 digits, '.', leading zeros or exponent. */
#define MM_SERVE_REAL_TEXT_MAX 32

/**
 * @brief Format finite @p v as json_dumps() with JSON_REAL_PRECISION(10) does.
 * @param out at least MM_SERVE_REAL_TEXT_MAX bytes; NUL-terminated.
 * @returns the length written.
 */
size_t mm_serve_json_real(char *out, double v);

/**
 * @brief Append @p root, compact, to @p buf.
 * @returns MM_OK; MM_ERR_NOMEM (buffer limit or memory); MM_ERR_INVALID_ARG for a
 * non-finite real (jansson cannot hold one).
 */
mm_err_t mm_serve_json_dump(mm_buf_t *buf, const json_t *root);

#endif
