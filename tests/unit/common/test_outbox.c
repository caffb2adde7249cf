/*
 * test_outbox.c - unit tests of common/src/outbox.c: rows inserted into a
 * real SQLite file inside the caller's transaction, drained in id order one
 * batch at a time, deleted on a successful delivery report, re-sent after a
 * failed one unless superseded, and a bounded flush.
 *
 * The producer points at a closed loopback port and only queues locally;
 * delivery reports are simulated by calling mm_outbox_dr_cb directly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "mm/buf.h"
#include "mm/db.h"
#include "mm/kafka.h"
#include "mm/outbox.h"
#include "support.h"

#define TOPIC     "mm.decisions"
#define KEY       "store=1/item=1"
#define OTHER_KEY "store=2/item=2"

static const char *const migrations[] = {MM_OUTBOX_TABLE_SQL};

static char *tmpdir;
static mm_db_t *db;
static mm_outbox_t outbox;
static mm_kafka_producer_t *producer;
static char errstr[1024];

static void setup(void) {
    char path[4200];
    tmpdir = mmt_tmpdir("outbox");
    cr_assert_not_null(tmpdir);
    snprintf(path, sizeof(path), "%s/state.db", tmpdir);
    db = mm_db_open(path, migrations, 1, errstr, sizeof(errstr));
    cr_assert_not_null(db, "%s", errstr);
    memset(&outbox, 0, sizeof(outbox));
    producer = NULL;
}

static void teardown(void) {
    /* The producer first: the failed reports it serves at destroy point into the batch. */
    mm_kafka_producer_destroy(producer, 0);
    mm_outbox_free(&outbox);
    mm_db_close(db);
    mmt_rmtree(tmpdir);
    free(tmpdir);
}

TestSuite(outbox, .init = setup, .fini = teardown);

/* ------------------------------------------------------------ helpers */

static void start_delivery(size_t batch_cap) {
    cr_assert_eq(mm_outbox_init(&outbox, db, batch_cap, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    producer = mm_kafka_producer_new("127.0.0.1:1", NULL, mm_outbox_dr_cb, &outbox, errstr,
                                     sizeof(errstr));
    cr_assert_not_null(producer, "%s", errstr);
}

/* Insert one row in its own transaction; @returns its id. */
static int64_t insert(const char *key, const char *text) {
    mm_buf_t payload;
    mm_buf_init(&payload, MM_BUF_CAP_MESSAGE);
    cr_assert_eq(mm_buf_append_str(&payload, text), MM_OK);
    cr_assert_eq(mm_db_begin(db, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(mm_outbox_insert(db, TOPIC, key, &payload, 1700000000000, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_assert_eq(mm_db_commit(db, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    mm_buf_free(&payload);
    int64_t id = 0;
    cr_assert_eq(
        mm_db_query_i64(db, "SELECT last_insert_rowid()", &id, NULL, errstr, sizeof(errstr)), MM_OK,
        "%s", errstr);
    return id;
}

static int64_t count(const char *sql) {
    int64_t n = -1;
    bool found = false;
    cr_assert_eq(mm_db_query_i64(db, sql, &n, &found, errstr, sizeof(errstr)), MM_OK, "%s: %s", sql,
                 errstr);
    cr_assert(found, "%s returned no row", sql);
    return n;
}

static size_t drain(void) {
    size_t queued = 0;
    cr_assert_eq(mm_outbox_drain(&outbox, producer, &queued, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    return queued;
}

/* ------------------------------------------------------------ inserting */

Test(outbox, insert_writes_topic_key_and_payload_inside_the_callers_transaction) {
    mm_buf_t payload;
    mm_buf_init(&payload, MM_BUF_CAP_MESSAGE);
    static const uint8_t bytes[] = {0x00, 0x00, 0x00, 0x00, 0x03, 0xff, 0x00, 0x7f};
    cr_assert_eq(mm_buf_append(&payload, bytes, sizeof(bytes)), MM_OK);

    cr_assert_eq(mm_db_begin(db, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(mm_outbox_insert(db, TOPIC, KEY, &payload, 42, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    mm_db_rollback(db);
    cr_expect_eq(mm_outbox_count(db), 0, "a rolled-back insert must leave nothing");

    cr_assert_eq(mm_db_begin(db, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(mm_outbox_insert(db, TOPIC, KEY, &payload, 42, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    cr_assert_eq(mm_outbox_insert(db, TOPIC, NULL, &payload, 43, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    cr_assert_eq(mm_db_commit(db, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_expect_eq(mm_outbox_count(db), 2);

    sqlite3_stmt *stmt = NULL;
    cr_assert_eq(mm_db_prepare(db, &stmt,
                               "SELECT topic, key, payload, created_at_ms FROM outbox ORDER BY id",
                               errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_assert_eq(sqlite3_step(stmt), SQLITE_ROW);
    cr_expect_str_eq((const char *)sqlite3_column_text(stmt, 0), TOPIC);
    cr_expect_str_eq((const char *)sqlite3_column_text(stmt, 1), KEY);
    cr_expect_eq(sqlite3_column_bytes(stmt, 2), (int)sizeof(bytes));
    cr_expect(memcmp(sqlite3_column_blob(stmt, 2), bytes, sizeof(bytes)) == 0);
    cr_expect_eq(sqlite3_column_int64(stmt, 3), 42);
    cr_assert_eq(sqlite3_step(stmt), SQLITE_ROW);
    cr_expect_eq(sqlite3_column_type(stmt, 1), SQLITE_NULL, "a keyless row has a NULL key");
    cr_expect_eq(sqlite3_column_int64(stmt, 3), 43);
    sqlite3_finalize(stmt);
    mm_buf_free(&payload);
}

/* ------------------------------------------------------------ delivery */

Test(outbox, rows_go_out_in_id_order_one_batch_at_a_time) {
    int64_t ids[5];
    for (int i = 0; i < 5; i++) ids[i] = insert(i % 2 ? OTHER_KEY : KEY, "decision");
    start_delivery(2);

    cr_expect_eq(drain(), 2);
    cr_expect_eq(outbox.pending, 2);
    cr_expect_eq(outbox.batch[0].id, ids[0]);
    cr_expect_eq(outbox.batch[1].id, ids[1]);
    /* While a batch is in flight nothing more is queued. */
    cr_expect_eq(drain(), 0);

    mm_outbox_dr_cb(&outbox, &outbox.batch[0], MM_OK, NULL);
    cr_expect_eq(outbox.pending, 1);
    cr_expect_eq(drain(), 0, "the batch is not settled until every report is in");
    mm_outbox_dr_cb(&outbox, &outbox.batch[1], MM_OK, NULL);
    cr_expect_eq(outbox.pending, 0);
    cr_expect_eq(outbox.delivered, 2);
    cr_expect_eq(count("SELECT count(*) FROM outbox"), 3, "delivered rows must be deleted");

    cr_expect_eq(drain(), 2);
    cr_expect_eq(outbox.batch[0].id, ids[2]);
    cr_expect_eq(outbox.batch[1].id, ids[3]);
}

Test(outbox, a_report_for_an_entry_not_in_flight_is_ignored) {
    insert(KEY, "decision");
    start_delivery(0);
    cr_expect_eq(drain(), 1);
    mm_outbox_dr_cb(&outbox, &outbox.batch[0], MM_OK, NULL);
    mm_outbox_dr_cb(&outbox, &outbox.batch[0], MM_ERR_TRANSPORT, "late duplicate");
    mm_outbox_dr_cb(&outbox, NULL, MM_ERR_TRANSPORT, "not an outbox message");
    cr_expect_eq(outbox.delivered, 1);
    cr_expect_eq(outbox.failed, 0);
    cr_expect_eq(outbox.pending, 0);
    cr_expect_eq(mm_outbox_count(db), 0);
}

Test(outbox, failed_row_is_sent_again_with_the_next_batch) {
    int64_t first = insert(KEY, "a");
    int64_t second = insert(NULL, "b");
    start_delivery(0);
    cr_expect_eq(drain(), 2);
    mm_outbox_dr_cb(&outbox, &outbox.batch[0], MM_ERR_TRANSPORT, "injected");
    mm_outbox_dr_cb(&outbox, &outbox.batch[1], MM_ERR_TRANSPORT, "injected");
    cr_expect_eq(outbox.failed, 2);
    cr_expect_eq(mm_outbox_count(db), 2, "a failed row stays in the outbox");

    cr_expect_eq(drain(), 2);
    cr_expect_eq(outbox.superseded, 0);
    cr_expect_eq(outbox.batch[0].id, first);
    cr_expect_eq(outbox.batch[1].id, second);
}

Test(outbox, drops_a_failed_row_superseded_by_a_newer_delivered_one_for_the_same_key) {
    insert(KEY, "older decision");
    insert(KEY, "newer decision");
    int64_t other_id = insert(OTHER_KEY, "other decision");
    cr_assert_eq(count("SELECT count(*) FROM outbox"), 3);
    start_delivery(0);

    size_t queued = 0;
    cr_assert_eq(mm_outbox_drain(&outbox, producer, &queued, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    cr_expect_eq(queued, 3);
    cr_expect_eq(outbox.pending, 3);
    /* While a batch is in flight nothing more is queued. */
    cr_expect_eq(mm_outbox_drain(&outbox, producer, &queued, errstr, sizeof(errstr)), MM_OK);
    cr_expect_eq(queued, 0);

    /* Row 1 (KEY, older) fails, row 2 (KEY, newer) is delivered, row 3 (other key) fails. */
    mm_outbox_dr_cb(&outbox, &outbox.batch[0], MM_ERR_TRANSPORT, "injected");
    mm_outbox_dr_cb(&outbox, &outbox.batch[1], MM_OK, NULL);
    mm_outbox_dr_cb(&outbox, &outbox.batch[2], MM_ERR_TRANSPORT, "injected");
    cr_expect_eq(outbox.pending, 0);
    cr_expect_eq(count("SELECT count(*) FROM outbox"), 2, "a delivered row must be deleted");

    cr_assert_eq(mm_outbox_drain(&outbox, producer, &queued, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    cr_expect_eq(outbox.superseded, 1);
    cr_expect_eq(count("SELECT count(*) FROM outbox"), 1,
                 "the older record must not be re-sent after the newer one");
    cr_expect_eq(queued, 1, "the other key's failed row is sent again");
    cr_expect_eq(outbox.batch[0].id, other_id);
}

Test(outbox, keyless_failed_row_is_never_superseded) {
    int64_t first = insert(NULL, "a");
    insert(NULL, "b");
    start_delivery(0);
    cr_expect_eq(drain(), 2);
    mm_outbox_dr_cb(&outbox, &outbox.batch[0], MM_ERR_TRANSPORT, "injected");
    mm_outbox_dr_cb(&outbox, &outbox.batch[1], MM_OK, NULL);
    cr_expect_eq(drain(), 1);
    cr_expect_eq(outbox.superseded, 0);
    cr_expect_eq(outbox.batch[0].id, first);
}

/* ------------------------------------------------------------ flush */

Test(outbox, flush_of_an_empty_outbox_returns_at_once) {
    start_delivery(0);
    cr_expect_eq(mm_outbox_flush(&outbox, producer, 10000, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
}

Test(outbox, flush_gives_up_after_the_timeout_and_keeps_the_rows) {
    insert(KEY, "a");
    insert(OTHER_KEY, "b");
    start_delivery(0);
    cr_expect_eq(mm_outbox_flush(&outbox, producer, 300, errstr, sizeof(errstr)), MM_ERR_TIMEOUT);
    cr_expect(strstr(errstr, "2 rows still undelivered") != NULL, "%s", errstr);
    cr_expect_eq(mm_outbox_count(db), 2, "undelivered rows stay for the next start");
}
