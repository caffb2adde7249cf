/*
 * version.h - what `--version` prints for every binary: the manymodels
 * version, the git revision it was built from, and the versions of the
 * libraries it runs with (read from the libraries at run time where they
 * say, else as compiled against).
 */
#ifndef MM_VERSION_H
#define MM_VERSION_H

#include <stdbool.h>
#include <stdio.h>

/** @returns the manymodels version, "MAJOR.MINOR.PATCH". */
const char *mm_version(void);

/** @returns the git revision built from (12 hex digits, "-dirty" if modified), or "unknown". */
const char *mm_version_git_revision(void);

/**
 * @returns true when @p argv (before any "--") holds "--version": the
 * caller prints the version and exits MM_EXIT_OK without validating
 * anything else, like --help.
 */
bool mm_version_requested(int argc, char **argv);

/**
 * @brief Print "<program> <version> (git <revision>)" and one line per
 * library, "  <library> <version>", to @p out.
 * @returns 0, or -1 when writing failed.
 */
int mm_version_print(const char *program, FILE *out);

#endif
