/*
 * test_fuzz_seeds.c - the committed seed corpora of the fuzz targets
 * (tests/fuzz/corpus/<target>/) are inputs the code accepts: every Avro seed
 * decodes, every model seed loads and scores, every spec seed loads, every
 * CSV seed yields a record. A seed the code rejects would only teach the
 * fuzzer the first error path.
 *
 * With MM_FUZZ_WRITE_SEEDS=1 it first writes the corpora again: sample
 * records of every type (encoded by the codec), artifacts of each algorithm
 * (trained on small synthetic series), the sample specs (some with a cell
 * after a NUL byte) and the CSV fixtures.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <criterion/criterion.h>

#include "../unit/common/test_avro_support.h"
#include "mm/avro.h"
#include "mm/csv.h"
#include "mm/model.h"
#include "mm/spec.h"
#include "mm/util.h"

#define CORPUS MM_SOURCE_DIR "/tests/fuzz/corpus"
#define BIT(a) (1u << (a))

typedef struct file_data {
    uint8_t *data;
    size_t len;
} file_data_t;

static file_data_t read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    file_data_t fd = {0};
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    cr_assert(size >= 0);
    fd.data = malloc((size_t)size + 1);
    cr_assert_not_null(fd.data);
    cr_assert_eq(fread(fd.data, 1, (size_t)size, f), (size_t)size, "%s", path);
    fd.data[size] = 0;
    fd.len = (size_t)size;
    fclose(f);
    return fd;
}

static void write_all(const char *dir, const char *name, const void *data, size_t len) {
    mkdir(CORPUS, 0755);
    char path[1024];
    snprintf(path, sizeof(path), CORPUS "/%s", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), CORPUS "/%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

typedef void (*seed_check_fn)(const char *name, const file_data_t *fd);

/* Run @p check on every file of corpus/<dir>; @returns how many there were. */
static size_t each_seed(const char *dir, seed_check_fn check) {
    char path[1024];
    snprintf(path, sizeof(path), CORPUS "/%s", dir);
    DIR *d = opendir(path);
    cr_assert_not_null(d, "no seed corpus %s", path);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char file[2048];
        snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
        file_data_t fd = read_all(file);
        check(e->d_name, &fd);
        free(fd.data);
        n++;
    }
    closedir(d);
    return n;
}

/* ---- writing the seeds ------------------------------------------------------ */

static void write_record(const char *name, mm_record_type_t type, const void *rec) {
    mm_buf_t buf;
    mm_buf_init(&buf, 0);
    cr_assert_eq(mm_avro_encode(type, rec, &buf, errstr, sizeof(errstr)), MM_OK, "%s: %s", name,
                 errstr);
    write_all("avro", name, buf.data, buf.len);
    mm_buf_free(&buf);
}

static void write_avro_seeds(void) {
    mm_observation_batch_t obs = sample_obs();
    write_record("observation_batch.bin", MM_RECORD_OBSERVATION_BATCH, &obs);
    mm_model_trained_t trained = sample_trained(true);
    write_record("model_trained.bin", MM_RECORD_MODEL_TRAINED, &trained);
    trained = sample_trained(false);
    write_record("model_trained_minimal.bin", MM_RECORD_MODEL_TRAINED, &trained);
    mm_model_decision_t decision = sample_decision(MM_DECISION_APPROVED, true, true);
    write_record("model_decision.bin", MM_RECORD_MODEL_DECISION, &decision);
    decision = sample_decision(MM_DECISION_FALLBACK, false, false);
    write_record("model_decision_fallback.bin", MM_RECORD_MODEL_DECISION, &decision);
    mm_score_request_t score = sample_score(true);
    write_record("score_request.bin", MM_RECORD_SCORE_REQUEST, &score);
    mm_prediction_batch_t prediction = sample_prediction(true);
    write_record("prediction_batch.bin", MM_RECORD_PREDICTION_BATCH, &prediction);
    mm_dead_letter_t letter = sample_dead_letter(true);
    write_record("dead_letter.bin", MM_RECORD_DEAD_LETTER, &letter);
}

#define DAY_MS  86400000LL
#define HOUR_MS 3600000LL

static void write_model(const char *name, const mm_model_config_t *cfg, size_t n, int64_t period,
                        bool intermittent, bool classify) {
    int64_t *t = calloc(n, sizeof(*t));
    double *y = calloc(n, sizeof(*y));
    double *x = calloc(n, sizeof(*x));
    cr_assert(t && y && x);
    uint64_t state = 12345;
    for (size_t i = 0; i < n; i++) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        double u = (double)(state >> 11) / 9007199254740992.0;
        t[i] = 1704067200000LL + (int64_t)i * period;
        x[i] = 50 + 20 * sin((double)i / 9.0) + 10 * u;
        if (classify)
            y[i] = x[i] > 70 ? 1 : 0;
        else if (intermittent)
            y[i] = u < 0.3 ? floor(1 + 4 * u) : 0;
        else
            y[i] = 40 + 8 * sin(2 * M_PI * (double)i / 7.0) + 3 * u;
    }
    const double *exog[1] = {x};
    mm_series_t series = {
        .n = n, .time_ms = t, .y = y, .n_exog = classify ? 1 : 0, .exog = classify ? exog : NULL};
    mm_train_result_t res;
    char why[512] = "";
    cr_assert_eq(mm_model_train(cfg, &series, &res, why, sizeof(why)), MM_OK, "%s: %s", name, why);
    write_all("model", name, res.artifact, res.artifact_len);
    mm_train_result_clear(&res);
    free(t);
    free(y);
    free(x);
}

static void write_model_seeds(void) {
    static const struct {
        const char *name;
        mm_algo_t algo;
        bool intermittent;
    } forecasters[] = {
        {"snaive.bin", MM_ALGO_SNAIVE, false},   {"ets.bin", MM_ALGO_ETS, false},
        {"croston.bin", MM_ALGO_CROSTON, true},  {"sba.bin", MM_ALGO_SBA, true},
        {"tsb.bin", MM_ALGO_TSB, true},          {"ridge.bin", MM_ALGO_RIDGE, false},
        {"xgboost.bin", MM_ALGO_XGBOOST, false},
    };
    for (size_t i = 0; i < MM_ARRAY_SIZE(forecasters); i++) {
        mm_model_config_t cfg;
        mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
        cfg.candidates = BIT(forecasters[i].algo);
        cfg.xgb_rounds = 5;
        write_model(forecasters[i].name, &cfg, 200, DAY_MS, forecasters[i].intermittent, false);
    }
    mm_model_config_t cfg;
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cfg.candidates = BIT(MM_ALGO_AUTO) | BIT(MM_ALGO_SNAIVE) | BIT(MM_ALGO_ETS);
    write_model("ensemble_or_auto.bin", &cfg, 200, DAY_MS, false, false);
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    write_model("fallback_short_history.bin", &cfg, 10, DAY_MS, false, false);

    static const mm_algo_t classifiers[] = {MM_ALGO_LOGISTIC, MM_ALGO_XGB_CLASSIFIER};
    static const char *const classifier_names[] = {"logistic.bin", "xgb_classifier.bin"};
    for (size_t i = 0; i < MM_ARRAY_SIZE(classifiers); i++) {
        mm_model_config_defaults(&cfg, MM_TASK_CLASSIFY);
        cfg.candidates = BIT(classifiers[i]);
        cfg.features.n_exog = 1;
        cfg.lookahead = 0;
        cfg.holdout = 100;
        cfg.backtest_windows = 2;
        cfg.min_history = 300;
        cfg.xgb_rounds = 5;
        write_model(classifier_names[i], &cfg, 600, HOUR_MS, false, true);
    }
}

static void write_spec_seeds(void) {
    static const char *const specs[] = {"classify_event.json", "forecast_minimal.json",
                                        "forecast_weekly_planned.json"};
    static const char *const cells[] = {"2024-01-05", "12.5", "NA"};
    for (size_t i = 0; i < MM_ARRAY_SIZE(specs); i++) {
        char path[1024];
        snprintf(path, sizeof(path), MM_FIXTURES_DIR "/specs/valid/%s", specs[i]);
        file_data_t fd = read_all(path);
        write_all("spec", specs[i], fd.data, fd.len);
        /* The same spec with a cell for the cell parsers after a NUL byte. */
        size_t cell_len = strlen(cells[i]);
        uint8_t *with_cell = malloc(fd.len + 1 + cell_len);
        cr_assert_not_null(with_cell);
        memcpy(with_cell, fd.data, fd.len);
        with_cell[fd.len] = 0;
        memcpy(with_cell + fd.len + 1, cells[i], cell_len);
        char name[256];
        snprintf(name, sizeof(name), "cell_%s", specs[i]);
        write_all("spec", name, with_cell, fd.len + 1 + cell_len);
        free(with_cell);
        free(fd.data);
    }
}

static void write_csv_seeds(void) {
    DIR *d = opendir(MM_FIXTURES_DIR "/csv");
    cr_assert_not_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[1024];
        snprintf(path, sizeof(path), MM_FIXTURES_DIR "/csv/%s/input.csv", e->d_name);
        struct stat st;
        if (stat(path, &st) != 0 || st.st_size == 0) continue;
        file_data_t fd = read_all(path);
        char name[512];
        snprintf(name, sizeof(name), "%s.csv", e->d_name);
        write_all("csv", name, fd.data, fd.len);
        free(fd.data);
    }
    closedir(d);
}

Test(fuzz_seeds, written_again_when_asked, .init = avro_suite_init) {
    const char *write = getenv("MM_FUZZ_WRITE_SEEDS");
    if (!write || strcmp(write, "1") != 0) cr_skip_test("MM_FUZZ_WRITE_SEEDS=1 writes the seeds");
    write_avro_seeds();
    write_model_seeds();
    write_spec_seeds();
    write_csv_seeds();
}

/* ---- checking the seeds --------------------------------------------------------- */

static void check_avro(const char *name, const file_data_t *fd) {
    mm_err_t err = MM_ERR_PARSE;
    for (int type = 0; type < MM_RECORD__COUNT && err; type++) {
        union {
            mm_observation_batch_t a;
            mm_model_trained_t b;
            mm_model_decision_t c;
            mm_score_request_t d;
            mm_prediction_batch_t e;
            mm_dead_letter_t f;
        } rec;
        err =
            mm_avro_decode((mm_record_type_t)type, fd->data, fd->len, &rec, errstr, sizeof(errstr));
        if (!err) mm_avro_clear((mm_record_type_t)type, &rec);
    }
    cr_expect_eq(err, MM_OK, "avro seed %s decodes as no record type", name);
}

static void check_model(const char *name, const file_data_t *fd) {
    mm_model_t *model = NULL;
    cr_assert_eq(mm_model_load(fd->data, fd->len, &model, errstr, sizeof(errstr)), MM_OK,
                 "model seed %s: %s", name, errstr);
    if (mm_model_task(model) == MM_TASK_FORECAST) {
        mm_forecast_t fc;
        cr_expect_eq(mm_model_forecast(model, 3, NULL, &fc, errstr, sizeof(errstr)), MM_OK,
                     "model seed %s: %s", name, errstr);
        mm_forecast_clear(&fc);
    } else {
        double p;
        cr_expect_eq(mm_model_predict_latest(model, &p, NULL, errstr, sizeof(errstr)), MM_OK,
                     "model seed %s: %s", name, errstr);
    }
    mm_model_destroy(model);
}

static void check_spec(const char *name, const file_data_t *fd) {
    const char *nul = memchr(fd->data, 0, fd->len);
    size_t len = nul ? (size_t)(nul - (const char *)fd->data) : fd->len;
    mm_spec_t spec;
    cr_expect_eq(mm_spec_parse((const char *)fd->data, len, name, &spec, errstr, sizeof(errstr)),
                 MM_OK, "spec seed %s: %s", name, errstr);
    mm_spec_clear(&spec);
}

static void check_csv(const char *name, const file_data_t *fd) {
    FILE *f = fmemopen(fd->data, fd->len, "rb");
    cr_assert_not_null(f);
    mm_csv_reader_t *reader = mm_csv_reader_new(f, name);
    static mm_csv_record_t rec;
    mm_err_t err = mm_csv_next(reader, &rec, errstr, sizeof(errstr));
    cr_expect(err == MM_OK || err == MM_ERR_PARSE, "csv seed %s: no record (%s)", name,
              mm_err_name(err));
    mm_csv_reader_destroy(reader);
    fclose(f);
}

Test(fuzz_seeds, every_seed_is_accepted, .init = avro_suite_init) {
    cr_expect_geq(each_seed("avro", check_avro), 6);
    cr_expect_geq(each_seed("model", check_model), 8);
    cr_expect_geq(each_seed("spec", check_spec), 3);
    cr_expect_geq(each_seed("csv", check_csv), 10);
}
