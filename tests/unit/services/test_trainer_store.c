/*
 * test_trainer_store.c - unit tests of services/trainer/store.c on a real
 * SQLite file, no network: a redelivered batch changes only the offset, a
 * re-sent observation replaces the earlier one, end of load (or enough new
 * rows) makes a key due, a recorded model clears the trigger unless new data
 * arrived meanwhile, and the history reads back in time order with a digest
 * that follows the data. Planned rows (missing targets after the last
 * observed one) are stored but are neither training history nor a trigger.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "mm/kafka.h"
#include "mm/outbox.h"
#include "mm/util.h"
#include "store.h"
#include "support.h"

#define TOPIC   "mm.observations"
#define KEY     "store=1/item=1"
#define LOAD    "load-1"
#define DAY_MS  86400000LL
#define SERVICE "mm-trainer"

static char *tmpdir;
static char path[4200];
static mm_spec_t spec;
static mm_trainer_store_t store;
static char errstr[1024];

static void setup(void) {
    tmpdir = mmt_tmpdir("trainer_store");
    cr_assert_not_null(tmpdir);
    snprintf(path, sizeof(path), "%s/trainer.db", tmpdir);
    memset(&spec, 0, sizeof(spec));
    spec.name = "sales";
    spec.freq = MM_FREQ_DAY;
    spec.retrain.on_end_of_load = true;
    snprintf(spec.hash, sizeof(spec.hash), "%064d", 7);
    cr_assert_eq(mm_trainer_store_open(&store, path, &spec, SERVICE, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
}

static void teardown(void) {
    mm_trainer_store_close(&store);
    mmt_rmtree(tmpdir);
    free(tmpdir);
}

TestSuite(trainer_store, .init = setup, .fini = teardown);

/* ------------------------------------------------------------ helpers */

/* A batch of @p n daily rows from day @p first, targets first_value, first_value + 1, ... */
typedef struct test_batch {
    mm_observation_batch_t b;
    int64_t time_ms[16];
    double target[16];
} test_batch_t;

static test_batch_t *make_batch(int seq, size_t n, int first_day, double first_value, bool end) {
    static test_batch_t tb;
    memset(&tb, 0, sizeof(tb));
    cr_assert_leq(n, 16u);
    tb.b.partition_key = KEY;
    tb.b.load_id = LOAD;
    tb.b.spec_hash = spec.hash;
    tb.b.batch_seq = seq;
    tb.b.end_of_load = end;
    tb.b.load_rows_for_key = -1;
    tb.b.load_batches_for_key = -1;
    tb.b.n_rows = n;
    for (size_t i = 0; i < n; i++) {
        tb.time_ms[i] = (first_day + (int64_t)i) * DAY_MS;
        tb.target[i] = first_value + (double)i;
    }
    tb.b.time_ms = tb.time_ms;
    tb.b.target = tb.target;
    return &tb;
}

/* Like make_batch(), with the targets from index @p first_planned on missing (planned rows). */
static test_batch_t *make_planned_batch(int seq, size_t n, int first_day, size_t first_planned,
                                        bool end) {
    test_batch_t *tb = make_batch(seq, n, first_day, 1.0, end);
    for (size_t i = first_planned; i < n; i++) tb->target[i] = NAN;
    return tb;
}

static mm_trainer_batch_outcome_t apply(test_batch_t *tb, int64_t offset) {
    mm_trainer_batch_outcome_t outcome;
    cr_assert_eq(mm_trainer_store_apply_batch(&store, TOPIC, 0, offset, &tb->b, &outcome, errstr,
                                              sizeof(errstr)),
                 MM_OK, "%s", errstr);
    return outcome;
}

static int64_t query(const char *sql) {
    int64_t v = -1;
    cr_assert_eq(mm_db_query_i64(store.db, sql, &v, NULL, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    return v;
}

/* Observations stored: chunk time ranges never overlap, so their rows add up. */
static int64_t stored_rows(void) {
    return query("SELECT COALESCE(SUM(n_rows), 0) FROM history_chunks");
}

static void read_history(mm_trainer_history_t *h);

static int64_t next_offset(void) {
    int64_t next = 0;
    cr_assert_eq(
        mm_consumer_state_load(store.offsets, TOPIC, 0, &next, NULL, errstr, sizeof(errstr)), MM_OK,
        "%s", errstr);
    return next;
}

static bool collect_key(void *opaque, const char *key) {
    int *n = opaque;
    cr_expect_str_eq(key, KEY);
    (*n)++;
    return true;
}

static int due_keys(int64_t now_ms) {
    int n = 0;
    cr_assert_eq(mm_trainer_store_due_keys(store.db, &spec, now_ms, 10, collect_key, &n, errstr,
                                           sizeof(errstr)),
                 MM_OK, "%s", errstr);
    return n;
}

/* ------------------------------------------------------------ intake */

Test(trainer_store, batch_rows_and_offset_are_stored_together) {
    mm_trainer_batch_outcome_t o = apply(make_batch(0, 5, 0, 10.0, false), 7);
    cr_expect(o.fresh);
    cr_expect_not(o.triggered);
    cr_expect_eq(stored_rows(), 5);
    cr_expect_eq(query("SELECT new_rows FROM keys"), 5);
    cr_expect_eq(query("SELECT generation FROM keys"), 1);
    cr_expect_eq(next_offset(), 8);
}

Test(trainer_store, redelivered_batch_changes_only_the_offset) {
    apply(make_batch(0, 5, 0, 10.0, false), 7);
    mm_trainer_batch_outcome_t o = apply(make_batch(0, 5, 0, 99.0, false), 9);
    cr_expect_not(o.fresh);
    cr_expect_eq(stored_rows(), 5);
    mm_trainer_history_t h;
    read_history(&h);
    double sum = 0;
    for (size_t i = 0; i < h.n; i++) sum += h.y[i];
    cr_expect_float_eq(sum, 10 + 11 + 12 + 13 + 14, 0, "the first delivery's values");
    mm_trainer_history_clear(&h);
    cr_expect_eq(query("SELECT generation FROM keys"), 1);
    cr_expect_eq(query("SELECT new_rows FROM keys"), 5);
    cr_expect_eq(next_offset(), 10);
}

Test(trainer_store, resent_observation_replaces_the_earlier_value) {
    apply(make_batch(0, 3, 0, 1.0, false), 0);
    apply(make_batch(1, 2, 2, 50.0, false), 1); /* day 2 again, then day 3 */
    cr_expect_eq(stored_rows(), 4);
    mm_trainer_history_t h;
    read_history(&h);
    cr_assert_eq(h.n, 4u);
    cr_expect_eq(h.time_ms[2], 2 * DAY_MS);
    cr_expect_float_eq(h.y[2], 50.0, 0, "day 2 re-sent");
    cr_expect_float_eq(h.y[3], 51.0, 0);
    mm_trainer_history_clear(&h);
    cr_expect_eq(query("SELECT generation FROM keys"), 2);
}

Test(trainer_store, late_duplicate_does_not_rewind_the_offset) {
    apply(make_batch(0, 2, 0, 1.0, false), 20);
    apply(make_batch(0, 2, 0, 1.0, false), 3);
    cr_expect_eq(next_offset(), 21);
}

Test(trainer_store, end_of_load_makes_the_key_due_after_the_debounce) {
    spec.retrain.debounce_ms = 60000;
    apply(make_batch(0, 3, 0, 1.0, false), 0);
    cr_expect_eq(due_keys(mm_now_ms() + 120000), 0);
    mm_trainer_batch_outcome_t o = apply(make_batch(1, 3, 3, 1.0, true), 1);
    cr_expect(o.triggered);
    cr_expect_eq(due_keys(mm_now_ms()), 0);
    cr_expect_eq(due_keys(mm_now_ms() + 120000), 1);
}

Test(trainer_store, enough_new_rows_make_the_key_due) {
    spec.retrain.on_end_of_load = false;
    spec.retrain.min_new_rows = 6;
    cr_expect_not(apply(make_batch(0, 4, 0, 1.0, false), 0).triggered);
    cr_expect(apply(make_batch(1, 4, 4, 1.0, true), 1).triggered);
    cr_expect_eq(due_keys(mm_now_ms() + 1), 1);
}

Test(trainer_store, end_of_load_is_no_trigger_when_the_spec_says_so) {
    spec.retrain.on_end_of_load = false;
    cr_expect_not(apply(make_batch(0, 4, 0, 1.0, true), 0).triggered);
    cr_expect_eq(due_keys(mm_now_ms() + 1), 0);
}

/* ------------------------------------------------------------ workers */

Test(trainer_store, history_reads_back_in_time_order_with_a_digest_of_the_data) {
    apply(make_batch(0, 3, 5, 1.0, false), 0);
    apply(make_batch(1, 3, 0, 7.0, false), 1);
    mm_trainer_history_t h;
    cr_assert_eq(mm_trainer_store_read_history(store.db, KEY, 0, &h, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    cr_assert_eq(h.n, 6u);
    for (size_t i = 1; i < h.n; i++) cr_expect_lt(h.time_ms[i - 1], h.time_ms[i]);
    cr_expect_str_eq(h.last_load_id, LOAD);
    cr_expect_eq(h.generation, 2);
    char digest[sizeof(h.digest)];
    memcpy(digest, h.digest, sizeof(digest));
    mm_trainer_history_clear(&h);

    apply(make_batch(2, 1, 0, 100.0, false), 2); /* day 0 replaced: the data changed */
    cr_assert_eq(mm_trainer_store_read_history(store.db, KEY, 0, &h, errstr, sizeof(errstr)),
                 MM_OK);
    cr_expect_str_neq(h.digest, digest);
    mm_trainer_history_clear(&h);
}

Test(trainer_store, history_of_an_unknown_key_is_insufficient_data) {
    mm_trainer_history_t h;
    cr_expect_eq(
        mm_trainer_store_read_history(store.db, "store=9/item=9", 0, &h, errstr, sizeof(errstr)),
        MM_ERR_INSUFFICIENT_DATA);
}

static mm_trainer_model_row_t model_row(const char *train_id) {
    return (mm_trainer_model_row_t){.train_id = train_id,
                                    .partition_key = KEY,
                                    .algorithm = "ets",
                                    .artifact_uri = "candidates/sales/" KEY "/abc.mm",
                                    .sha256 = "abc",
                                    .data_end_ms = 5 * DAY_MS,
                                    .n_rows = 6};
}

Test(trainer_store, recorded_model_clears_the_trigger_and_queues_its_event_once) {
    apply(make_batch(0, 3, 0, 1.0, true), 0);
    cr_expect_eq(due_keys(mm_now_ms() + 60000), 1);
    mm_buf_t event;
    mm_buf_init(&event, 0);
    mm_buf_append_str(&event, "ModelTrained bytes");
    mm_trainer_model_row_t row = model_row("t1");
    cr_assert_eq(
        mm_trainer_store_record_model(store.db, KEY, 1, "t1", &row, &event, errstr, sizeof(errstr)),
        MM_OK, "%s", errstr);
    /* A second worker recording the same train id adds no second event row. */
    cr_assert_eq(
        mm_trainer_store_record_model(store.db, KEY, 1, "t1", NULL, &event, errstr, sizeof(errstr)),
        MM_OK, "%s", errstr);
    mm_buf_free(&event);
    bool trained = false;
    cr_assert_eq(mm_trainer_store_is_trained(store.db, "t1", &trained, errstr, sizeof(errstr)),
                 MM_OK);
    cr_expect(trained);
    cr_expect_eq(mm_outbox_count(store.db), 1);
    cr_expect_eq(query("SELECT new_rows FROM keys"), 0);
    cr_expect_eq(due_keys(mm_now_ms() + 60000), 0);
}

Test(trainer_store, data_arriving_during_training_keeps_the_key_due) {
    apply(make_batch(0, 3, 0, 1.0, true), 0);
    apply(make_batch(1, 2, 3, 1.0, true), 1); /* generation 2 while generation 1 trains */
    mm_buf_t event;
    mm_buf_init(&event, 0);
    mm_buf_append_str(&event, "x");
    mm_trainer_model_row_t row = model_row("t1");
    cr_assert_eq(
        mm_trainer_store_record_model(store.db, KEY, 1, "t1", &row, &event, errstr, sizeof(errstr)),
        MM_OK, "%s", errstr);
    mm_buf_free(&event);
    cr_expect_eq(query("SELECT new_rows FROM keys"), 5);
    cr_expect_eq(due_keys(mm_now_ms() + 60000), 1);
}

Test(trainer_store, postponed_key_is_not_due_until_then) {
    apply(make_batch(0, 3, 0, 1.0, true), 0);
    int64_t later = mm_now_ms() + 3600000;
    cr_assert_eq(mm_trainer_store_postpone(store.db, KEY, later, errstr, sizeof(errstr)), MM_OK);
    cr_expect_eq(due_keys(later - 1000), 0);
    cr_expect_eq(due_keys(later), 1);
}

Test(trainer_store, reopened_store_keeps_history_and_offsets) {
    apply(make_batch(0, 3, 0, 1.0, false), 41);
    mm_trainer_store_close(&store);
    cr_assert_eq(mm_trainer_store_open(&store, path, &spec, SERVICE, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    cr_expect_eq(next_offset(), 42);
    cr_expect_eq(stored_rows(), 3);
    cr_expect_not(apply(make_batch(0, 3, 0, 1.0, false), 41).fresh);
}

/* ------------------------------------------------------------ planned rows */

static void read_history(mm_trainer_history_t *h) {
    cr_assert_eq(mm_trainer_store_read_history(store.db, KEY, 0, h, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
}

Test(trainer_store, planned_rows_after_the_last_observation_are_not_training_history) {
    apply(make_batch(0, 5, 0, 10.0, true), 0);
    mm_trainer_history_t alone;
    read_history(&alone);

    apply(make_planned_batch(1, 3, 5, 0, true), 1); /* days 5..7: planned price, no sales yet */
    cr_expect_eq(stored_rows(), 8, "planned rows are stored");
    mm_trainer_history_t with_planned;
    read_history(&with_planned);
    cr_expect_eq(with_planned.n, alone.n, "planned rows are not observations");
    cr_expect_eq(with_planned.time_ms[with_planned.n - 1], 4 * DAY_MS,
                 "the data ends at the last observed target");
    cr_expect_str_eq(with_planned.digest, alone.digest, "the training data did not change");
    mm_trainer_history_clear(&alone);
    mm_trainer_history_clear(&with_planned);
}

Test(trainer_store, missing_targets_inside_the_history_stay_gaps) {
    test_batch_t *tb = make_planned_batch(0, 8, 0, 6, true); /* days 6, 7 planned */
    tb->target[3] = NAN;                                     /* day 3 missing: a gap */
    apply(tb, 0);
    mm_trainer_history_t h;
    read_history(&h);
    cr_expect_eq(h.n, 6u, "days 0..5, the gap included");
    cr_expect(isnan(h.y[3]));
    cr_expect_eq(h.time_ms[5], 5 * DAY_MS);
    mm_trainer_history_clear(&h);
}

Test(trainer_store, an_observation_arriving_for_a_planned_day_extends_the_history) {
    apply(make_batch(0, 3, 0, 1.0, false), 0);
    apply(make_planned_batch(1, 3, 3, 0, false), 1);
    apply(make_batch(2, 1, 3, 9.0, false), 2); /* day 3 observed at last */
    mm_trainer_history_t h;
    read_history(&h);
    cr_expect_eq(h.n, 4u);
    cr_expect_float_eq(h.y[3], 9.0, 0);
    mm_trainer_history_clear(&h);
}

Test(trainer_store, a_key_with_only_planned_rows_has_no_history) {
    apply(make_planned_batch(0, 3, 0, 0, true), 0);
    mm_trainer_history_t h;
    cr_expect_eq(mm_trainer_store_read_history(store.db, KEY, 0, &h, errstr, sizeof(errstr)),
                 MM_ERR_INSUFFICIENT_DATA);
    cr_expect_eq(due_keys(mm_now_ms() + 60000), 0, "nothing to train on: not due");
}

Test(trainer_store, planned_rows_do_not_count_toward_min_new_rows) {
    spec.retrain.on_end_of_load = false;
    spec.retrain.min_new_rows = 4;
    cr_expect_not(apply(make_planned_batch(0, 6, 0, 3, false), 0).triggered,
                  "three observations and three planned rows are three new rows");
    cr_expect_eq(query("SELECT new_rows FROM keys"), 3);
    cr_expect_not(apply(make_planned_batch(1, 4, 6, 0, false), 1).triggered);
    cr_expect(apply(make_batch(2, 1, 10, 1.0, false), 2).triggered, "the fourth observation");
}

Test(trainer_store, a_load_of_planned_rows_alone_triggers_no_retraining) {
    apply(make_batch(0, 5, 0, 1.0, true), 0);
    mm_buf_t event;
    mm_buf_init(&event, 0);
    mm_buf_append_str(&event, "x");
    mm_trainer_model_row_t row = model_row("t1");
    cr_assert_eq(
        mm_trainer_store_record_model(store.db, KEY, 1, "t1", &row, &event, errstr, sizeof(errstr)),
        MM_OK, "%s", errstr);
    mm_buf_free(&event);
    cr_assert_eq(due_keys(mm_now_ms() + 60000), 0);

    cr_expect_not(apply(make_planned_batch(1, 7, 5, 0, true), 1).triggered,
                  "the planned rows' end of load");
    cr_expect_eq(due_keys(mm_now_ms() + 60000), 0);
    cr_expect(apply(make_batch(2, 1, 5, 3.0, true), 2).triggered, "an observation is new data");
}

/* ------------------------------------------------------------ entities */

/* make_batch() with each row's entity: entity_of_row[i] indexes "machine=1", "machine=2". */
static test_batch_t *with_entities(test_batch_t *tb, const int32_t *entity_of_row) {
    static const char *names[] = {"machine=1", "machine=2"};
    static int32_t index[16];
    memcpy(index, entity_of_row, tb->b.n_rows * sizeof(int32_t));
    tb->b.n_entities = 2;
    tb->b.entities = names;
    tb->b.n_entity_of_row = tb->b.n_rows;
    tb->b.entity_of_row = index;
    return tb;
}

Test(trainer_store, each_entity_is_its_own_series_of_the_key) {
    spec.n_entity_columns = 1; /* the store reads entities only for a spec that has them */
    /* days 0..2 for both machines (date-major), then machine 2 alone on day 3 with a planned
     * row on day 4 */
    static const int32_t first[] = {0, 1, 0, 1, 0, 1};
    test_batch_t *tb = make_batch(0, 6, 0, 10.0, false);
    for (int i = 0; i < 6; i++) tb->time_ms[i] = (i / 2) * DAY_MS;
    apply(with_entities(tb, first), 0);
    static const int32_t second[] = {1, 1};
    tb = make_planned_batch(1, 2, 3, 1, true);
    apply(with_entities(tb, second), 1);
    cr_expect_eq(stored_rows(), 8, "(key, entity, time) identifies a row");
    cr_expect_eq(query("SELECT COUNT(DISTINCT entity) FROM history_chunks"), 2);

    mm_trainer_history_t h;
    read_history(&h);
    cr_assert_eq(h.n_entities, 2u);
    cr_expect_str_eq(h.entity[0], "machine=1");
    cr_expect_str_eq(h.entity[1], "machine=2");
    cr_expect_eq(h.entity_start[0], 0u);
    cr_expect_eq(h.entity_start[1], 3u, "machine 1: days 0..2");
    cr_expect_eq(h.entity_start[2], 7u, "machine 2: days 0..3, its planned day 4 left out");
    for (size_t e = 0; e < 2; e++)
        for (size_t i = h.entity_start[e] + 1; i < h.entity_start[e + 1]; i++)
            cr_expect_gt(h.time_ms[i], h.time_ms[i - 1], "each entity in time order");
    cr_expect_float_eq(h.y[0], 10.0, 0, "machine 1, day 0");
    cr_expect_float_eq(h.y[3], 11.0, 0, "machine 2, day 0");
    char digest[MM_SHA256_HEX_LEN + 1];
    memcpy(digest, h.digest, sizeof(digest));
    mm_trainer_history_clear(&h);

    /* a re-sent row of one machine replaces that machine's value only */
    static const int32_t again[] = {0};
    tb = make_batch(2, 1, 0, 99.0, false);
    apply(with_entities(tb, again), 2);
    cr_expect_eq(stored_rows(), 8);
    read_history(&h);
    cr_expect_float_eq(h.y[0], 99.0, 0);
    cr_expect_float_eq(h.y[h.entity_start[1]], 11.0, 0, "machine 2, day 0: unchanged");
    cr_expect_str_neq(h.digest, digest, "the entity's data changed");
    mm_trainer_history_clear(&h);
}

Test(trainer_store, a_spec_without_entities_keeps_the_digest_rows_had_before_entities) {
    apply(make_batch(0, 3, 0, 1.0, true), 0);
    mm_trainer_history_t h;
    read_history(&h);
    cr_assert_eq(h.n_entities, 1u);
    cr_expect_str_eq(h.entity[0], "");
    /* sha256 over (time, value) of each row, as the digest always was */
    mm_sha256_ctx_t *sha = mm_sha256_new();
    for (size_t i = 0; i < h.n; i++) {
        mm_sha256_update(sha, &h.time_ms[i], sizeof(int64_t));
        mm_sha256_update(sha, &h.y[i], sizeof(double));
    }
    char want[MM_SHA256_HEX_LEN + 1];
    mm_sha256_final_hex(sha, want);
    cr_expect_str_eq(h.digest, want, "unchanged data keeps its train id");
    mm_trainer_history_clear(&h);
}

Test(trainer_store, a_store_written_before_entities_keeps_its_rows_at_entity_none) {
    mm_trainer_store_close(&store);
    /* a state store at schema version 1, with one row of history */
    snprintf(path, sizeof(path), "%s/old-trainer.db", tmpdir);
    mm_db_t *db = NULL;
    cr_assert_eq(mm_db_open_err(&db, path, mm_trainer_migrations, 1, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    cr_assert_eq(mm_db_exec(db,
                            "INSERT INTO history(partition_key, t, y) VALUES ('" KEY "', 0, 5.0)",
                            errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    mm_db_close(db);
    cr_assert_eq(mm_trainer_store_open(&store, path, &spec, SERVICE, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    cr_expect_eq(query("SELECT COUNT(*) FROM history_chunks WHERE entity = ''"), 1);
    cr_expect_eq(query("SELECT COUNT(*) FROM sqlite_master WHERE name = 'history'"), 0,
                 "the row table is gone");
    mm_trainer_history_t h;
    read_history(&h);
    cr_assert_eq(h.n, 1u);
    cr_expect_float_eq(h.y[0], 5.0, 0);
    mm_trainer_history_clear(&h);
}
