/*
 * fuzz.h - what the libFuzzer targets of tests/fuzz/ share: a failure that
 * stops the run with a message (libFuzzer saves the input as a crash).
 */
#ifndef MM_FUZZ_H
#define MM_FUZZ_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* An invariant broken by the current input: say which, and abort so the input is kept. */
static inline void mm_fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void mm_fuzz_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

#endif
