/*
 * fuzz_model.c - libFuzzer target: the model-artifact loader
 * (common/models/artifact.c) on arbitrary bytes, and for an artifact that
 * loads, what the scorer does with it: a short forecast (forecasting) or
 * the latest probability (classification), its members and its size.
 * Seeds: tests/fuzz/corpus/model/ (artifacts of each algorithm).
 */
#include <math.h>
#include <stdint.h>

#include "fuzz.h"
#include "mm/model.h"

#define FUZZ_HORIZON 3

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mm_model_t *model = NULL;
    char errstr[512];
    if (mm_model_load(data, size, &model, errstr, sizeof(errstr)) != MM_OK) return 0;
    if (!model) mm_fuzz_fail("model: loaded without a model");
    mm_algo_t algos[MM_MODEL_MAX_ENSEMBLE];
    double weights[MM_MODEL_MAX_ENSEMBLE];
    size_t n = mm_model_members(model, algos, weights, MM_MODEL_MAX_ENSEMBLE);
    if (n < 1 || n > MM_MODEL_MAX_ENSEMBLE) mm_fuzz_fail("model: %zu members", n);
    (void)mm_model_memory_size(model);
    (void)mm_model_history_needed(model);
    if (mm_model_task(model) == MM_TASK_FORECAST) {
        mm_forecast_t fc;
        if (mm_model_forecast(model, FUZZ_HORIZON, NULL, &fc, errstr, sizeof(errstr)) == MM_OK) {
            if (fc.h != FUZZ_HORIZON) mm_fuzz_fail("model: forecast of %zu steps", fc.h);
            for (size_t i = 1; i < fc.h; i++)
                if (fc.time_ms[i] <= fc.time_ms[i - 1]) mm_fuzz_fail("model: times go back");
            mm_forecast_clear(&fc);
        }
    } else {
        double proba;
        int64_t at_ms;
        if (mm_model_predict_latest(model, &proba, &at_ms, errstr, sizeof(errstr)) == MM_OK &&
            !(proba >= 0 && proba <= 1) && !isnan(proba))
            mm_fuzz_fail("model: probability %g", proba);
    }
    mm_model_destroy(model);
    return 0;
}
