/*
 * test_trainer_retrain_age.c - retraining by model age
 * (`retrain.max_age_seconds`, docs/dataset-spec.md): the trainer's train
 * decision (services/trainer/store.c, mm_trainer_store_due_keys) makes a key
 * due when its model is older than the limit AND observations arrived since
 * that model; not before, not without new data, not without a model, and
 * never when the limit is 0. Real SQLite file, no network; "now" is passed
 * in, so no test waits for a clock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "mm/util.h"
#include "store.h"
#include "support.h"

#define TOPIC     "mm.observations"
#define KEY       "store=1/item=1"
#define DAY_MS    86400000LL
#define MAX_AGE_S 3600

static char *tmpdir;
static mm_spec_t spec;
static mm_trainer_store_t store;
static char errstr[1024];
static int64_t offset;

static void setup(void) {
    tmpdir = mmt_tmpdir("retrain_age");
    cr_assert_not_null(tmpdir);
    char path[4200];
    snprintf(path, sizeof(path), "%s/trainer.db", tmpdir);
    memset(&spec, 0, sizeof(spec));
    spec.name = "sales";
    spec.freq = MM_FREQ_DAY;
    /* Age is the only trigger: an end of load or a row count never makes the key due. */
    spec.retrain.on_end_of_load = false;
    spec.retrain.min_new_rows = 0;
    spec.retrain.max_age_s = MAX_AGE_S;
    snprintf(spec.hash, sizeof(spec.hash), "%064d", 3);
    offset = 0;
    cr_assert_eq(mm_trainer_store_open(&store, path, &spec, "mm-trainer", errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
}

static void teardown(void) {
    mm_trainer_store_close(&store);
    mmt_rmtree(tmpdir);
    free(tmpdir);
}

TestSuite(retrain_age, .init = setup, .fini = teardown);

/* Store @p n daily observations of KEY from day @p first as batch @p seq of load "l". */
static void observe(int seq, size_t n, int first) {
    int64_t time_ms[8];
    double target[8];
    cr_assert_leq(n, 8u);
    for (size_t i = 0; i < n; i++) {
        time_ms[i] = (first + (int64_t)i) * DAY_MS;
        target[i] = (double)(first + (int64_t)i);
    }
    mm_observation_batch_t b = {.partition_key = KEY,
                                .load_id = "l",
                                .spec_hash = spec.hash,
                                .batch_seq = seq,
                                .end_of_load = true,
                                .load_rows_for_key = -1,
                                .load_batches_for_key = -1,
                                .n_rows = n,
                                .time_ms = time_ms,
                                .target = target};
    mm_trainer_batch_outcome_t outcome;
    cr_assert_eq(mm_trainer_store_apply_batch(&store, TOPIC, 0, offset++, &b, &outcome, errstr,
                                              sizeof(errstr)),
                 MM_OK, "%s", errstr);
}

/* Record a model of KEY trained on generation @p generation (stamped with the real clock). */
static void trained(int64_t generation, const char *train_id) {
    mm_trainer_model_row_t row = {.train_id = train_id,
                                  .partition_key = KEY,
                                  .algorithm = "ets",
                                  .artifact_uri = "candidates/sales/" KEY "/x.mm",
                                  .sha256 = "x",
                                  .data_end_ms = DAY_MS,
                                  .n_rows = 3};
    mm_buf_t event;
    mm_buf_init(&event, 0);
    mm_buf_append_str(&event, "ModelTrained");
    cr_assert_eq(mm_trainer_store_record_model(store.db, KEY, generation, train_id, &row, &event,
                                               errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    mm_buf_free(&event);
}

static bool count_key(void *opaque, const char *key) {
    cr_expect_str_eq(key, KEY);
    (*(int *)opaque)++;
    return true;
}

static int due(int64_t now_ms) {
    int n = 0;
    cr_assert_eq(mm_trainer_store_due_keys(store.db, &spec, now_ms, 10, count_key, &n, errstr,
                                           sizeof(errstr)),
                 MM_OK, "%s", errstr);
    return n;
}

Test(retrain_age, a_model_older_than_the_limit_is_retrained_once_new_data_arrived) {
    observe(0, 3, 0);
    trained(1, "t1");
    int64_t at = mm_now_ms(); /* the model was recorded just now */
    observe(1, 2, 3);         /* new observations after the model */
    cr_expect_eq(due(at), 0, "a fresh model is not retrained");
    cr_expect_eq(due(at + (MAX_AGE_S - 60) * 1000LL), 0, "still younger than the limit");
    cr_expect_eq(due(at + (MAX_AGE_S + 60) * 1000LL), 1, "older than the limit, with new data");
}

Test(retrain_age, an_old_model_without_new_data_is_not_retrained) {
    observe(0, 3, 0);
    trained(1, "t1");
    int64_t at = mm_now_ms();
    cr_expect_eq(due(at + 10LL * MAX_AGE_S * 1000), 0,
                 "nothing changed since the model: retraining would give the same model");
}

Test(retrain_age, the_retrained_model_restarts_the_clock) {
    observe(0, 3, 0);
    trained(1, "t1");
    observe(1, 2, 3);
    int64_t at = mm_now_ms();
    cr_expect_eq(due(at + (MAX_AGE_S + 60) * 1000LL), 1);
    trained(2, "t2"); /* the worker trained generation 2 */
    at = mm_now_ms();
    observe(2, 1, 5);
    cr_expect_eq(due(at + (MAX_AGE_S - 60) * 1000LL), 0, "the new model is young again");
    cr_expect_eq(due(at + (MAX_AGE_S + 60) * 1000LL), 1);
}

Test(retrain_age, a_key_without_any_model_is_not_due_by_age) {
    observe(0, 3, 0);
    cr_expect_eq(due(mm_now_ms() + 10LL * MAX_AGE_S * 1000), 0,
                 "age counts from a model; the first one comes from another trigger");
}

Test(retrain_age, a_limit_of_zero_turns_age_off) {
    spec.retrain.max_age_s = 0;
    observe(0, 3, 0);
    trained(1, "t1");
    observe(1, 2, 3);
    cr_expect_eq(due(mm_now_ms() + 365LL * DAY_MS), 0);
}
