/*
 * spec_freq.c - a dataset spec's frequencies: their names and periods, and
 * the model configuration a spec starts from: the model library's defaults
 * for the frequency (mm_spec_model_defaults() in spec.h; docs/dataset-spec.md,
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

/*
 * The one place a spec's model configuration starts from: the model
 * library's defaults for the frequency's period (mm_model_config_defaults_for(),
 * which owns the table: season, horizon, holdout, backtest windows, minimum
 * history, lags, rolling windows). A classification spec keeps the library's
 * telemetry defaults and takes the frequency's period and season.
 */
void mm_spec_model_defaults(mm_model_config_t *cfg, mm_task_t task, mm_freq_t freq) {
    int64_t period_ms = mm_freq_period_ms(freq);
    mm_model_config_defaults_for(cfg, task, period_ms);
    if (task == MM_TASK_FORECAST || period_ms <= 0) return;
    mm_model_config_t forecast;
    mm_model_config_defaults_for(&forecast, MM_TASK_FORECAST, period_ms);
    cfg->season_length = forecast.season_length;
}
