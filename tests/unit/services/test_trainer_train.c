/*
 * test_trainer_train.c - mm-trainer's training of one key
 * (services/trainer/train.c) on a real state store and a file:// blob
 * store, no broker: planned rows (targets still empty, planned price and
 * promotion) loaded with or after the history change nothing the trainer
 * produces, neither the model nor its identity; the ModelTrained event says
 * what training adjusted for the key.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "mm/avro.h"
#include "mm/blob.h"
#include "mm/util.h"
#include "store.h"
#include "support.h"
#include "trainer_int.h"

#define SALES_SPEC     MM_SOURCE_DIR "/tools/datagen/specs/sales.json"
#define TOPIC          "mm.observations"
#define KEY            "store=1/item=1"
#define DAY_MS         86400000LL
#define HISTORY_DAYS   140
#define PLANNED_DAYS   28
#define MAX_DAYS       (HISTORY_DAYS + PLANNED_DAYS)
#define WEEK_DAYS      7
#define PROMO_EVERY    9
#define SERIES_POINTS  100000
#define TWO_PI         6.283185307179586
#define NOISE_MODULUS  1000
#define NOISE_SCALE    0.002 /* noise in [-1, 1) */
#define LCG_MULTIPLIER 1103515245u
#define LCG_INCREMENT  12345u

static mm_spec_t spec;

/* One trainer over its own state store and blob store. */
typedef struct rig {
    char *dir;
    mm_trainer_t trainer;
    mm_blob_t *blob;
} rig_t;

/* A batch of the key's days [first, first + n): observed sales up to the
 * history's end, empty targets after it. */
typedef struct day_batch {
    mm_observation_batch_t b;
    mm_obs_column_t columns[2];
    int64_t time_ms[MAX_DAYS];
    double target[MAX_DAYS];
    double price[MAX_DAYS];
    double promo[MAX_DAYS];
} day_batch_t;

static void setup(void) {
    char errstr[1024] = "";
    cr_assert_eq(mm_spec_load_file(SALES_SPEC, &spec, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
}

static void teardown(void) {
    mm_spec_clear(&spec);
}

TestSuite(trainer_train, .init = setup, .fini = teardown);

static void rig_open(rig_t *rig, const char *name) {
    memset(rig, 0, sizeof(*rig));
    rig->dir = mmt_tmpdir(name);
    cr_assert_not_null(rig->dir);
    char path[4200], url[4200], errstr[1024] = "";
    snprintf(path, sizeof(path), "%s/trainer.db", rig->dir);
    snprintf(url, sizeof(url), "file://%s/blob", rig->dir);
    mm_trainer_t *t = &rig->trainer;
    t->spec = &spec;
    t->cfg.spec = &spec;
    t->cfg.instance_id = "test-trainer";
    t->cfg.max_series_points = SERIES_POINTS;
    cr_assert_eq(pthread_mutex_init(&t->lock, NULL), 0);
    cr_assert_eq(
        mm_trainer_store_open(&t->store, path, &spec, "mm-trainer", errstr, sizeof(errstr)), MM_OK,
        "%s", errstr);
    mm_blob_opts_t opts = {.create_container = true};
    rig->blob = mm_blob_new(url, &opts, errstr, sizeof(errstr));
    cr_assert_not_null(rig->blob, "%s", errstr);
}

static void rig_close(rig_t *rig) {
    mm_blob_destroy(rig->blob);
    mm_trainer_store_close(&rig->trainer.store);
    pthread_mutex_destroy(&rig->trainer.lock);
    mmt_rmtree(rig->dir);
    free(rig->dir);
}

static day_batch_t *make_days(int seq, int first, int n, bool end_of_load) {
    static day_batch_t db;
    memset(&db, 0, sizeof(db));
    cr_assert_leq(first + n, MAX_DAYS);
    uint32_t noise = 1;
    for (int d = 0; d < first + n; d++) {
        noise = noise * LCG_MULTIPLIER + LCG_INCREMENT;
        if (d < first) continue;
        size_t i = (size_t)(d - first);
        double price = 2.0 + 0.1 * (d % 5);
        double promo = d % PROMO_EVERY == 0 ? 1.0 : 0.0;
        db.time_ms[i] = d * DAY_MS;
        db.price[i] = price;
        db.promo[i] = promo;
        db.target[i] = d < HISTORY_DAYS
                           ? 20.0 + 5.0 * sin(TWO_PI * d / WEEK_DAYS) + 4.0 * promo - 2.0 * price +
                                 ((noise >> 8) % NOISE_MODULUS) * NOISE_SCALE - 1.0
                           : NAN;
    }
    db.columns[0] = (mm_obs_column_t){.name = "price", .values = db.price};
    db.columns[1] = (mm_obs_column_t){.name = "promo", .values = db.promo};
    db.b = (mm_observation_batch_t){.dataset = spec.name,
                                    .spec_hash = spec.hash,
                                    .partition_key = KEY,
                                    .load_id = "load-1",
                                    .batch_seq = seq,
                                    .end_of_load = end_of_load,
                                    .load_rows_for_key = -1,
                                    .load_batches_for_key = -1,
                                    .n_rows = (size_t)n,
                                    .time_ms = db.time_ms,
                                    .target = db.target,
                                    .n_columns = 2,
                                    .columns = db.columns};
    return &db;
}

static bool apply(rig_t *rig, day_batch_t *db, int64_t offset) {
    mm_trainer_batch_outcome_t outcome;
    char errstr[1024] = "";
    cr_assert_eq(mm_trainer_store_apply_batch(&rig->trainer.store, TOPIC, 0, offset, &db->b,
                                              &outcome, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    return outcome.triggered;
}

/* What the trainer recorded for the key: one model, its identity and data. */
typedef struct recorded {
    char train_id[80];
    char sha256[80];
    char algorithm[32];
    int64_t data_end_ms;
    int64_t n_rows;
    int64_t models;
} recorded_t;

static recorded_t recorded(rig_t *rig) {
    recorded_t r = {0};
    mm_db_t *db = rig->trainer.store.db;
    char errstr[512] = "";
    cr_assert_eq(mm_db_query_i64(db, "SELECT COUNT(*) FROM trained", &r.models, NULL, errstr,
                                 sizeof(errstr)),
                 MM_OK, "%s", errstr);
    sqlite3_stmt *st = NULL;
    cr_assert_eq(mm_db_prepare(db, &st,
                               "SELECT train_id, sha256, algorithm, data_end_ms, n_rows FROM "
                               "trained ORDER BY trained_at_ms DESC LIMIT 1",
                               errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_assert_eq(mm_db_step_row(db, st, errstr, sizeof(errstr)), MM_OK, "no model: %s", errstr);
    snprintf(r.train_id, sizeof(r.train_id), "%s", (const char *)sqlite3_column_text(st, 0));
    snprintf(r.sha256, sizeof(r.sha256), "%s", (const char *)sqlite3_column_text(st, 1));
    snprintf(r.algorithm, sizeof(r.algorithm), "%s", (const char *)sqlite3_column_text(st, 2));
    r.data_end_ms = sqlite3_column_int64(st, 3);
    r.n_rows = sqlite3_column_int64(st, 4);
    sqlite3_finalize(st);
    return r;
}

static void train(rig_t *rig) {
    mm_trainer__train_key(&rig->trainer, rig->trainer.store.db, rig->blob, KEY);
    cr_assert_eq(rig->trainer.train_failed, 0, "training failed");
}

Test(trainer_train, history_plus_planned_rows_trains_the_same_model_as_the_history_alone) {
    rig_t alone, with_planned;
    rig_open(&alone, "train_alone");
    rig_open(&with_planned, "train_planned");
    cr_assert(apply(&alone, make_days(0, 0, HISTORY_DAYS, true), 0));
    cr_assert(apply(&with_planned, make_days(0, 0, HISTORY_DAYS + PLANNED_DAYS, true), 0),
              "one load: history and planned rows");
    train(&alone);
    train(&with_planned);
    recorded_t a = recorded(&alone), p = recorded(&with_planned);
    cr_expect_eq(a.models, 1);
    cr_expect_eq(p.models, 1);
    cr_expect_eq(p.n_rows, HISTORY_DAYS, "planned rows are not observations");
    cr_expect_eq(p.data_end_ms, (HISTORY_DAYS - 1) * DAY_MS, "the watermark is the last sale");
    cr_expect_str_eq(p.train_id, a.train_id);
    cr_expect_str_eq(p.sha256, a.sha256, "the same artifact, byte for byte");
    cr_expect_str_eq(p.algorithm, a.algorithm);
    rig_close(&alone);
    rig_close(&with_planned);
}

/* The ModelTrained event the trainer queued for KEY (the outbox's only row for it), decoded. */
static void queued_event(rig_t *rig, mm_model_trained_t *ev) {
    mm_db_t *db = rig->trainer.store.db;
    char errstr[1024] = "";
    sqlite3_stmt *st = NULL;
    cr_assert_eq(mm_db_prepare(db, &st, "SELECT payload FROM outbox WHERE key = '" KEY "'", errstr,
                               sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_assert_eq(mm_db_step_row(db, st, errstr, sizeof(errstr)), MM_OK, "no event: %s", errstr);
    cr_assert_eq(mm_avro_decode_model_trained(sqlite3_column_blob(st, 0),
                                              (size_t)sqlite3_column_bytes(st, 0), ev, errstr,
                                              sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_expect_eq(mm_db_step_row(db, st, errstr, sizeof(errstr)), MM_ERR_NOT_FOUND, "one event");
    sqlite3_finalize(st);
}

Test(trainer_train, the_event_says_what_training_adjusted_for_a_short_history) {
    rig_t rig;
    rig_open(&rig, "train_adjusted");
    /* 140 days hold 2 of the spec's 5 backtest windows of 28 days. */
    cr_assert(apply(&rig, make_days(0, 0, HISTORY_DAYS, true), 0));
    train(&rig);
    mm_model_trained_t ev;
    queued_event(&rig, &ev);
    cr_assert_not_null(ev.adjustments);
    cr_expect_not_null(strstr(ev.adjustments, "backtest_windows 5 -> 2: 140 points are too few for "
                                              "5 windows of 28"),
                       "%s", ev.adjustments);
    cr_expect_not(ev.fallback);
    mm_model_trained_clear(&ev);
    rig_close(&rig);
}

Test(trainer_train, planned_rows_loaded_after_training_neither_trigger_nor_change_the_model) {
    rig_t rig;
    rig_open(&rig, "train_later");
    cr_assert(apply(&rig, make_days(0, 0, HISTORY_DAYS, true), 0));
    train(&rig);
    recorded_t before = recorded(&rig);
    cr_expect_not(apply(&rig, make_days(1, HISTORY_DAYS, PLANNED_DAYS, true), 1),
                  "a load of planned rows is no retrain trigger");
    train(&rig); /* even when asked, the data is unchanged */
    recorded_t after = recorded(&rig);
    cr_expect_eq(after.models, 1, "no second model version");
    cr_expect_str_eq(after.train_id, before.train_id);
    cr_expect_eq(rig.trainer.train_skipped, 1);
    rig_close(&rig);
}

/* make_days() for one entity ("item=1" or "item=2"), its sales raised by @p lift. */
static day_batch_t *entity_days(int seq, int first, int n, const char *const *entity, double lift) {
    static int32_t index[MAX_DAYS];
    day_batch_t *db = make_days(seq, first, n, false);
    for (int i = 0; i < n; i++) {
        db->target[i] += lift;
        index[i] = 0;
    }
    db->b.n_entities = 1;
    db->b.entities = (const char **)entity;
    db->b.n_entity_of_row = (size_t)n;
    db->b.entity_of_row = index;
    return db;
}

Test(trainer_train, a_key_of_several_entities_trains_one_pooled_model_on_all_their_rows) {
    spec.entity_columns[0] = strdup("item");
    spec.n_entity_columns = 1;
    rig_t rig;
    rig_open(&rig, "train_entities");
    static const char *const first[] = {"item=1"}, *const second[] = {"item=2"};
    apply(&rig, entity_days(0, 0, 120, first, 0.0), 0);
    apply(&rig, entity_days(1, 10, 120, second, 30.0), 1); /* ends 10 days later */
    train(&rig);
    recorded_t r = recorded(&rig);
    cr_expect_eq(r.models, 1, "one model for the key");
    cr_expect_eq(r.n_rows, 240, "trained on both entities' rows");
    cr_expect_eq(r.data_end_ms, 129 * DAY_MS, "the data end is the latest entity's");
    cr_expect(strcmp(r.algorithm, "ridge") == 0 || strcmp(r.algorithm, "xgboost") == 0,
              "a pooled learner, got %s", r.algorithm);
    train(&rig); /* the same data: the same train id, no second version */
    cr_expect_eq(recorded(&rig).models, 1);
    cr_expect_eq(rig.trainer.train_skipped, 1);
    rig_close(&rig);
}
