/*
 * spec_freq.c - a dataset spec's frequencies: their names and periods, and
 * the model configuration a spec starts from, the defaults by task and
 * frequency (see mm_spec_model_defaults() in spec.h and docs/dataset-spec.md,
 * "Defaults by frequency"); spec.c applies the document's fields on top.
 *
 * Workload: once per spec load, and a name or period lookup now and then;
 * table lookups.
 */
#include <string.h>

#include "mm/spec.h"
#include "mm/util.h"

/* ------------------------------------------------------------ frequencies */

static const struct {
    const char *name;
    const char *alias;
    int64_t period_ms;
} freq_table[] = {
    [MM_FREQ_HOUR] = {"hour", "hourly", 3600000LL},
    [MM_FREQ_DAY] = {"day", "daily", 86400000LL},
    [MM_FREQ_WEEK] = {"week", "weekly", 604800000LL},
    [MM_FREQ_MONTH] = {"month", "monthly", 2629800000LL}, /* 30.4375 days */
};

int64_t mm_freq_period_ms(mm_freq_t freq) {
    if ((int)freq < 0 || (size_t)freq >= MM_ARRAY_SIZE(freq_table)) return 0;
    return freq_table[freq].period_ms;
}

const char *mm_freq_name(mm_freq_t freq) {
    if ((int)freq < 0 || (size_t)freq >= MM_ARRAY_SIZE(freq_table)) return "unknown";
    return freq_table[freq].name;
}

bool mm_freq_parse(const char *name, mm_freq_t *out) {
    for (size_t i = 0; name && i < MM_ARRAY_SIZE(freq_table); i++) {
        if (strcmp(name, freq_table[i].name) == 0 || strcmp(name, freq_table[i].alias) == 0) {
            *out = (mm_freq_t)i;
            return true;
        }
    }
    return false;
}

/* ------------------------------------------------------------ defaults by frequency */

#define SPEC_FREQ_MAX_LAGS    4
#define SPEC_FREQ_MAX_WINDOWS 2

/*
 * Forecast defaults per frequency (docs/dataset-spec.md, "Defaults by
 * frequency"). Horizon = holdout, so the backtest measures the forecast that
 * is delivered; min_history is what a key needs before the fallback gives way
 * to selection; the backtest windows plus one season fit in the history a
 * frequency usually has (weekly: two years, 104 points >= 3 x 8 + 52).
 */
static const struct {
    int season_length;
    int horizon;
    int holdout;
    int backtest_windows;
    int min_history;
    int lags[SPEC_FREQ_MAX_LAGS];
    size_t n_lags;
    int windows[SPEC_FREQ_MAX_WINDOWS]; /* rolling windows */
} freq_defaults[] = {
    [MM_FREQ_HOUR] = {24, 48, 48, 3, 168, {1, 24, 168}, 3, {24, 168}},
    [MM_FREQ_DAY] = {7, 28, 28, 3, 60, {0}, 0, {7, 28}}, /* lags: the library's daily lags */
    [MM_FREQ_WEEK] = {52, 8, 8, 3, 26, {1, 2, 4, 52}, 4, {4, 13}},
    [MM_FREQ_MONTH] = {12, 6, 6, 3, 18, {1, 12}, 2, {3, 12}},
};

/*
 * The one place a spec's model configuration starts from. The model
 * library's mm_model_config_defaults() describes daily data only; the
 * frequency table above adds the others. When the library gains
 * per-frequency defaults (mm_model_config_defaults_for()), this body becomes
 * a call to it and the table moves there.
 */
void mm_spec_model_defaults(mm_model_config_t *cfg, mm_task_t task, mm_freq_t freq) {
    mm_model_config_defaults(cfg, task);
    if ((int)freq < 0 || (size_t)freq >= MM_ARRAY_SIZE(freq_defaults)) return;
    cfg->task = task;
    cfg->period_ms = freq_table[freq].period_ms;
    cfg->season_length = freq_defaults[freq].season_length;
    if (task != MM_TASK_FORECAST) return; /* classify: the library's telemetry defaults */
    cfg->horizon = freq_defaults[freq].horizon;
    cfg->holdout = freq_defaults[freq].holdout;
    cfg->backtest_windows = freq_defaults[freq].backtest_windows;
    cfg->min_history = freq_defaults[freq].min_history;
    mm_feature_config_t *f = &cfg->features;
    if (freq_defaults[freq].n_lags > 0) {
        f->n_lags = freq_defaults[freq].n_lags;
        for (size_t i = 0; i < f->n_lags; i++) f->lags[i] = freq_defaults[freq].lags[i];
    }
    f->n_windows = SPEC_FREQ_MAX_WINDOWS;
    for (size_t i = 0; i < f->n_windows; i++) f->windows[i] = freq_defaults[freq].windows[i];
}
