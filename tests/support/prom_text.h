/*
 * prom_text.h - read a Prometheus text exposition (format 0.0.4) in tests:
 * check that it parses as Prometheus would take it, and look samples up.
 */
#ifndef MM_TEST_PROM_TEXT_H
#define MM_TEST_PROM_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/**
 * @brief Check @p text line by line: "# HELP name text" and "# TYPE name
 * counter|gauge|histogram|summary|untyped" once per family, before its
 * samples; each sample "name[{label="value",...}] value" with a valid name,
 * a family declared by TYPE (a histogram's _bucket/_sum/_count included)
 * and a value strtod takes whole; families not interleaved; the text ends
 * in a newline. @returns true, or false with the first problem and its line
 * number in @p why.
 */
bool mmt_prom_check(const char *text, char *why, size_t why_size);

/**
 * @returns the value of the sample written exactly as @p series
 * ("name" or "name{label=\"v\"}"), or NAN when there is none.
 */
double mmt_prom_value(const char *text, const char *series);

/** @returns the TYPE of family @p name ("gauge", ...), or NULL; points into a static buffer. */
const char *mmt_prom_type(const char *text, const char *name);

/** @returns the file at @p path as a malloc'd string (asserts it can be read). */
char *mmt_prom_read(const char *path);

#endif
