/*
 * golden.h - reader for tests/fixtures/models/golden.txt, the reference
 * values computed with statsmodels / scikit-learn / xgboost by
 * tests/fixtures/models/make_golden.py.
 */
#ifndef MM_TEST_GOLDEN_H
#define MM_TEST_GOLDEN_H

#include <stddef.h>

/** @brief Load the golden file once per process (aborts the test on failure). */
void golden_load(void);
/** @returns the values of record @p name and its count in @p n; fails the test if absent. */
const double *golden(const char *name, size_t *n);
/** @returns the single value of record @p name. */
double golden1(const char *name);

#endif
