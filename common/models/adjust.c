/*
 * adjust.c - what training changes in a key's config to fit its data, and
 * how it says so: the notes of mm_train_result_t.adjustments, and fewer
 * backtest windows for a history too short for the ones the config asks.
 *
 * Workload: a few calls per trained key.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "models_int.h"

void mm_models__vnote(char *buf, size_t size, const char *fmt, va_list ap) {
    size_t used = strlen(buf);
    if (used > 0 && used + 2 < size) {
        memcpy(buf + used, "; ", 3);
        used += 2;
    }
    if (used < size) vsnprintf(buf + used, size - used, fmt, ap);
}

void mm_models__note_adjustment(mm_train_result_t *out, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mm_models__vnote(out->adjustments, sizeof out->adjustments, fmt, ap);
    va_end(ap);
}

bool mm_models__fit_windows_to_history(mm_model_config_t *cfg, size_t n, size_t min_train,
                                       mm_train_result_t *out) {
    size_t K = (size_t)cfg->backtest_windows, H = (size_t)cfg->holdout;
    if (n >= K * H + min_train) return true;
    if (n < H + min_train) return false;
    /* the windows take at most half the history (one at least): the first
     * still trains on as much as it tests, and the lags keep their rows;
     * never so many that the first trains on fewer than min_train points */
    size_t fit = n / 2 / H, most = (n - min_train) / H;
    if (fit > most) fit = most;
    if (fit < 1) fit = 1;
    mm_models__note_adjustment(out,
                               "backtest_windows %zu -> %zu: %zu points are too few for %zu "
                               "windows of %zu and the points before them",
                               K, fit, n, K, H);
    cfg->backtest_windows = (int)fit;
    if (cfg->backtest_fits > cfg->backtest_windows) cfg->backtest_fits = 0; /* every window */
    return true;
}
