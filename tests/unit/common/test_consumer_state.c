/*
 * test_consumer_state.c - unit tests of common/src/consumer_state.c on a real
 * SQLite file: offsets stored inside the caller's transaction and never moved
 * backwards, the default for a partition never seen, a dead letter and its
 * offset committed together or not at all, and databases created under both
 * released offsets-table layouts (mm-trainer's `offsets`, mm-promoter's
 * `consumed_offsets`) opening again unchanged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "mm/avro.h"
#include "mm/consumer_state.h"
#include "mm/db.h"
#include "mm/kafka.h"
#include "mm/outbox.h"
#include "mm/records.h"
#include "support.h"

#define TOPIC   "mm.observations"
#define SERVICE "mm-test"
#define KEY     "store=1/item=1"

/* The trainer's released layout: no updated_at_ms, unquoted partition. */
static const char *const trainer_layout[] = {
    "CREATE TABLE offsets ("
    "  topic TEXT NOT NULL,"
    "  partition INTEGER NOT NULL,"
    "  next_offset INTEGER NOT NULL,"
    "  PRIMARY KEY (topic, partition));" MM_OUTBOX_TABLE_SQL};
/* The promoter's released layout, which the module's own macro reproduces. */
static const char *const promoter_layout[] = {MM_CONSUMER_STATE_TABLE_SQL("consumed_offsets")
                                                  MM_OUTBOX_TABLE_SQL};

static char *tmpdir;
static char path[4200];
static mm_db_t *db;
static mm_consumer_state_t *cs;
static char errstr[1024];

static void open_state(const char *const *layout, const char *table) {
    db = mm_db_open(path, layout, 1, errstr, sizeof(errstr));
    cr_assert_not_null(db, "%s", errstr);
    mm_consumer_state_config_t cfg = {.table = table, .service = SERVICE};
    cs = mm_consumer_state_new(db, &cfg, errstr, sizeof(errstr));
    cr_assert_not_null(cs, "%s", errstr);
}

static void close_state(void) {
    mm_consumer_state_destroy(cs);
    cs = NULL;
    mm_db_close(db);
    db = NULL;
}

static void setup(void) {
    tmpdir = mmt_tmpdir("consumer_state");
    cr_assert_not_null(tmpdir);
    snprintf(path, sizeof(path), "%s/state.db", tmpdir);
    cr_assert_eq(mm_avro_init(errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    open_state(trainer_layout, "offsets");
}

static void teardown(void) {
    close_state();
    mmt_rmtree(tmpdir);
    free(tmpdir);
}

TestSuite(consumer_state, .init = setup, .fini = teardown);

/* ------------------------------------------------------------ helpers */

static void store_committed(int32_t partition, int64_t next_offset) {
    cr_assert_eq(mm_db_begin(db, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(mm_consumer_state_store(cs, TOPIC, partition, next_offset, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_assert_eq(mm_db_commit(db, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
}

static int64_t stored(int32_t partition, bool *found) {
    int64_t next = 0;
    cr_assert_eq(mm_consumer_state_load(cs, TOPIC, partition, &next, found, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    return next;
}

static mm_consumer_dead_letter_t bad_record(int64_t offset) {
    static const char original[] = "\x01not avro";
    return (mm_consumer_dead_letter_t){.topic = TOPIC,
                                       .partition = 0,
                                       .offset = offset,
                                       .partition_key = KEY,
                                       .original = original,
                                       .original_len = sizeof(original) - 1,
                                       .code = MM_ERR_PARSE,
                                       .reason = "undecodable ObservationBatch"};
}

static mm_err_t refuse(void *opaque, mm_db_t *txn_db, char *why, size_t why_size) {
    (void)opaque;
    (void)txn_db;
    return mm_errf(MM_ERR_DB, why, why_size, "refused by the test");
}

static mm_err_t write_marker(void *opaque, mm_db_t *txn_db, char *why, size_t why_size) {
    int *calls = opaque;
    (*calls)++;
    return mm_db_exec(txn_db, "CREATE TABLE marker (x INTEGER)", why, why_size);
}

/* ------------------------------------------------------------ offsets */

Test(consumer_state, load_of_a_partition_never_stored_is_the_beginning_and_not_found) {
    bool found = true;
    cr_expect_eq(stored(3, &found), MM_OFFSET_BEGINNING);
    cr_expect_not(found);
    cr_expect_eq(mm_consumer_state_resume_offset(cs, TOPIC, 3), MM_OFFSET_BEGINNING);
}

Test(consumer_state, store_then_load_returns_the_next_offset_per_partition) {
    store_committed(0, 18);
    store_committed(1, 4);
    bool found = false;
    cr_expect_eq(stored(0, &found), 18);
    cr_expect(found);
    cr_expect_eq(stored(1, NULL), 4);
    cr_expect_eq(mm_consumer_state_on_assign(cs, TOPIC, 0), 18);
}

Test(consumer_state, store_never_moves_an_offset_backwards) {
    store_committed(0, 50);
    store_committed(0, 12); /* a late duplicate */
    cr_expect_eq(stored(0, NULL), 50);
    store_committed(0, 51);
    cr_expect_eq(stored(0, NULL), 51);
}

Test(consumer_state, store_outside_a_transaction_is_refused) {
    cr_expect_eq(mm_consumer_state_store(cs, TOPIC, 0, 7, errstr, sizeof(errstr)),
                 MM_ERR_INVALID_ARG);
    cr_expect_eq(stored(0, NULL), MM_OFFSET_BEGINNING);
}

Test(consumer_state, rolled_back_store_leaves_the_previous_offset) {
    store_committed(0, 9);
    cr_assert_eq(mm_db_begin(db, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(mm_consumer_state_store(cs, TOPIC, 0, 30, errstr, sizeof(errstr)), MM_OK);
    mm_db_rollback(db);
    cr_expect_eq(stored(0, NULL), 9);
}

Test(consumer_state, new_refuses_a_missing_table_or_an_unsafe_name) {
    mm_consumer_state_config_t cfg = {.table = "no_such_table", .service = SERVICE};
    cr_expect_null(mm_consumer_state_new(db, &cfg, errstr, sizeof(errstr)));
    cr_expect(strstr(errstr, "no_such_table") != NULL, "%s", errstr);
    cfg.table = "offsets; DROP TABLE outbox";
    cr_expect_null(mm_consumer_state_new(db, &cfg, errstr, sizeof(errstr)));
    cr_expect_eq(mm_outbox_count(db), 0); /* the outbox is still there */
}

/* ------------------------------------------------------------ dead letters */

Test(consumer_state, dead_letter_queues_the_record_and_skips_its_offset_together) {
    mm_consumer_dead_letter_t dl = bad_record(41);
    cr_assert_eq(mm_consumer_state_dead_letter(cs, &dl, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    cr_expect_eq(stored(0, NULL), 42);
    cr_expect_eq(mm_outbox_count(db), 1);

    sqlite3_stmt *st = NULL;
    cr_assert_eq(
        mm_db_prepare(db, &st, "SELECT topic, key, payload FROM outbox", errstr, sizeof(errstr)),
        MM_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_expect_str_eq((const char *)sqlite3_column_text(st, 0), MM_TOPIC_DEADLETTER);
    cr_expect_str_eq((const char *)sqlite3_column_text(st, 1), KEY);
    mm_dead_letter_t rec = {0};
    cr_assert_eq(mm_avro_decode_dead_letter(sqlite3_column_blob(st, 2),
                                            (size_t)sqlite3_column_bytes(st, 2), &rec, errstr,
                                            sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_expect_str_eq(rec.service, SERVICE);
    cr_expect_str_eq(rec.error_code, "MM_ERR_PARSE");
    cr_expect_str_eq(rec.source_topic, TOPIC);
    cr_expect_eq(rec.source_offset, 41);
    cr_expect_eq(rec.original_len, dl.original_len);
    mm_dead_letter_clear(&rec);
    sqlite3_finalize(st);
}

Test(consumer_state, dead_letter_message_takes_key_bytes_and_coordinates_from_the_message) {
    static const char value[] = "\x00\x00\x00\x00\x63 not a record";
    /* The key as Kafka delivers it: bytes with a length, not a C string. */
    static const char key_bytes[] = KEY "trailing bytes beyond the length";
    mm_kafka_msg_t msg = {.topic = TOPIC,
                          .partition = 2,
                          .offset = 77,
                          .key = key_bytes,
                          .key_len = strlen(KEY),
                          .value = value,
                          .value_len = sizeof(value) - 1,
                          .timestamp_ms = -1};
    cr_assert_eq(mm_consumer_state_dead_letter_message(cs, &msg, MM_ERR_PARSE, "bad bytes", errstr,
                                                       sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_expect_eq(stored(2, NULL), 78);
    sqlite3_stmt *st = NULL;
    cr_assert_eq(mm_db_prepare(db, &st, "SELECT key, payload FROM outbox", errstr, sizeof(errstr)),
                 MM_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_expect_str_eq((const char *)sqlite3_column_text(st, 0), KEY);
    mm_dead_letter_t rec = {0};
    cr_assert_eq(mm_avro_decode_dead_letter(sqlite3_column_blob(st, 1),
                                            (size_t)sqlite3_column_bytes(st, 1), &rec, errstr,
                                            sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_expect_eq(rec.source_partition, 2);
    cr_expect_eq(rec.source_offset, 77);
    cr_expect_eq(rec.original_len, sizeof(value) - 1);
    cr_expect_eq(memcmp(rec.original, value, sizeof(value) - 1), 0);
    cr_expect_str_eq(rec.reason, "bad bytes");
    mm_dead_letter_clear(&rec);
    sqlite3_finalize(st);

    /* A message without a key dead-letters without one. */
    msg.key = NULL;
    msg.key_len = 0;
    msg.offset = 78;
    cr_assert_eq(mm_consumer_state_dead_letter_message(cs, &msg, MM_ERR_PARSE, "no key", errstr,
                                                       sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_expect_eq(stored(2, NULL), 79);
    cr_expect_eq(mm_outbox_count(db), 2);
}

Test(consumer_state, failed_dead_letter_rolls_back_both_the_record_and_the_offset) {
    store_committed(0, 5);
    mm_consumer_dead_letter_t dl = bad_record(41);
    dl.also = refuse;
    cr_expect_eq(mm_consumer_state_dead_letter(cs, &dl, errstr, sizeof(errstr)), MM_ERR_DB);
    cr_expect(strstr(errstr, "refused by the test") != NULL, "%s", errstr);
    cr_expect_eq(stored(0, NULL), 5);
    cr_expect_eq(mm_outbox_count(db), 0);
}

Test(consumer_state, failed_offset_write_rolls_back_the_dead_letter) {
    cr_assert_eq(mm_db_exec(db,
                            "CREATE TRIGGER no_offsets BEFORE INSERT ON offsets "
                            "BEGIN SELECT RAISE(ABORT, 'disk says no'); END",
                            errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    mm_consumer_dead_letter_t dl = bad_record(41);
    cr_expect_eq(mm_consumer_state_dead_letter(cs, &dl, errstr, sizeof(errstr)), MM_ERR_DB);
    cr_expect_eq(mm_outbox_count(db), 0);
    cr_expect_eq(stored(0, NULL), MM_OFFSET_BEGINNING);
}

Test(consumer_state, dead_letter_runs_the_extra_writes_in_its_transaction) {
    int calls = 0;
    mm_consumer_dead_letter_t dl = bad_record(3);
    dl.also = write_marker;
    dl.also_opaque = &calls;
    cr_assert_eq(mm_consumer_state_dead_letter(cs, &dl, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    cr_expect_eq(calls, 1);
    int64_t n = -1;
    cr_expect_eq(
        mm_db_query_i64(db, "SELECT COUNT(*) FROM marker", &n, NULL, errstr, sizeof(errstr)), MM_OK,
        "%s", errstr);
    cr_expect_eq(stored(0, NULL), 4);
}

Test(consumer_state, dead_letter_not_from_kafka_stores_no_offset) {
    mm_consumer_dead_letter_t dl = bad_record(3);
    dl.topic = NULL;
    cr_assert_eq(mm_consumer_state_dead_letter(cs, &dl, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    cr_expect_eq(mm_outbox_count(db), 1);
    int64_t n = -1;
    cr_expect_eq(
        mm_db_query_i64(db, "SELECT COUNT(*) FROM offsets", &n, NULL, errstr, sizeof(errstr)),
        MM_OK);
    cr_expect_eq(n, 0);
}

/* ------------------------------------------------------------ existing databases */

Test(consumer_state, reopened_trainer_database_resumes_where_it_stopped) {
    store_committed(0, 77);
    close_state();
    open_state(trainer_layout, "offsets");
    cr_expect_eq(mm_consumer_state_resume_offset(cs, TOPIC, 0), 77);
    store_committed(0, 78);
    cr_expect_eq(stored(0, NULL), 78);
}

Test(consumer_state, promoter_layout_keeps_updated_at_current_and_reopens) {
    close_state();
    snprintf(path, sizeof(path), "%s/registry.db", tmpdir);
    open_state(promoter_layout, "consumed_offsets");
    store_committed(2, 10);
    store_committed(2, 8);
    int64_t updated = 0;
    cr_assert_eq(mm_db_query_i64(db, "SELECT updated_at_ms FROM consumed_offsets", &updated, NULL,
                                 errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_expect_gt(updated, 0);
    close_state();
    open_state(promoter_layout, "consumed_offsets");
    cr_expect_eq(stored(2, NULL), 10);
}
