/*
 * test_sink.c - unit tests of services/scorer/sink.c: the SQLite prediction
 * sink, in a temporary directory. Rows are read back with plain SQL.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

#include "sink.h"
#include "support.h"

#define KEY "store=1/item=1"

static char *tmpdir;
static char sink_path[4096];
static mm_scorer_sink_t *sink;
static char errstr[1024];

static void setup(void) {
    tmpdir = mmt_tmpdir("sink");
    cr_assert_not_null(tmpdir);
    snprintf(sink_path, sizeof(sink_path), "%s/predictions.db", tmpdir);
    sink = mm_scorer_sink_open(sink_path, errstr, sizeof(errstr));
    cr_assert_not_null(sink, "%s", errstr);
}

static void teardown(void) {
    mm_scorer_sink_close(sink);
    mmt_rmtree(tmpdir);
    free(tmpdir);
}

TestSuite(sink, .init = setup, .fini = teardown);

static int64_t time_ms[] = {1000, 2000, 3000};
static double value[] = {1.5, 2.5, 3.5};
static double lower[] = {1.0, NAN, 3.0};
static double upper[] = {2.0, NAN, 4.0};

static mm_prediction_batch_t batch(const char *request_id, double shift) {
    static double shifted[3];
    for (int i = 0; i < 3; i++) shifted[i] = value[i] + shift;
    mm_prediction_batch_t p = {0};
    p.partition_key = (char *)KEY;
    p.request_id = (char *)request_id;
    p.train_id = (char *)"train-1";
    p.algorithm = (char *)"ets";
    p.model_version = 4;
    p.data_watermark_ms = 900;
    p.load_id = NULL;
    p.produced_at_ms = 5000;
    p.n = 3;
    p.time_ms = time_ms;
    p.value = shift == 0.0 ? value : shifted;
    p.lower = lower;
    p.upper = upper;
    return p;
}

static void write_batch(const mm_prediction_batch_t *p) {
    cr_assert_eq(mm_scorer_sink_begin(sink, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(mm_scorer_sink_predictions(sink, p, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(mm_scorer_sink_commit(sink, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
}

/* A second connection, as a BI tool would read the sink. */
static int64_t count(const char *sql) {
    sqlite3 *raw = NULL;
    cr_assert_eq(sqlite3_open_v2(sink_path, &raw, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *stmt = NULL;
    cr_assert_eq(sqlite3_prepare_v2(raw, sql, -1, &stmt, NULL), SQLITE_OK, "%s",
                 sqlite3_errmsg(raw));
    cr_assert_eq(sqlite3_step(stmt), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(raw);
    return n;
}

Test(sink, stores_one_row_per_target_time_with_every_column) {
    mm_prediction_batch_t p = batch("run-1", 0.0);
    write_batch(&p);
    cr_expect_eq(count("SELECT count(*) FROM predictions"), 3);
    cr_expect_eq(count("SELECT count(*) FROM predictions WHERE partition_key = '" KEY "'"
                       " AND target_time_ms = 1000 AND value = 1.5 AND lower = 1.0 AND upper = 2.0"
                       " AND model_version = 4 AND train_id = 'train-1' AND algorithm = 'ets'"
                       " AND data_watermark_ms = 900 AND load_id IS NULL"
                       " AND request_id = 'run-1' AND produced_at_ms = 5000"),
                 1);
    cr_expect_eq(count("SELECT count(*) FROM predictions WHERE target_time_ms = 2000"
                       " AND lower IS NULL AND upper IS NULL"),
                 1, "a missing interval is stored as NULL");
}

Test(sink, a_replayed_run_updates_rows_instead_of_duplicating_them) {
    mm_prediction_batch_t first = batch("run-1", 0.0);
    write_batch(&first);
    write_batch(&first);
    cr_expect_eq(count("SELECT count(*) FROM predictions"), 3, "same run twice: same rows");

    mm_prediction_batch_t again = batch("run-2", 10.0);
    write_batch(&again);
    cr_expect_eq(count("SELECT count(*) FROM predictions"), 3);
    cr_expect_eq(count("SELECT count(*) FROM predictions WHERE request_id = 'run-2'"
                       " AND target_time_ms = 3000 AND value = 13.5"),
                 1, "the newer run's values win");
}

Test(sink, no_model_is_upserted_and_cleared_when_the_key_gets_predictions) {
    cr_assert_eq(
        mm_scorer_sink_no_model(sink, KEY, "no production model: x", 10, errstr, sizeof(errstr)),
        MM_OK, "%s", errstr);
    cr_assert_eq(
        mm_scorer_sink_no_model(sink, KEY, "no production model: y", 20, errstr, sizeof(errstr)),
        MM_OK, "%s", errstr);
    cr_expect_eq(count("SELECT count(*) FROM no_model WHERE reason = 'no production model: y'"
                       " AND at_ms = 20"),
                 1);
    mm_scorer_sink_counts_t c;
    cr_assert_eq(mm_scorer_sink_counts(sink, &c, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_expect_eq(c.no_model_keys, 1);
    cr_expect_eq(c.rows, 0);

    mm_prediction_batch_t p = batch("run-1", 0.0);
    write_batch(&p);
    cr_assert_eq(mm_scorer_sink_counts(sink, &c, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_expect_eq(c.no_model_keys, 0, "the key has a model now");
    cr_expect_eq(c.rows, 3);
    cr_expect_eq(c.keys, 1);
}

Test(sink, a_rolled_back_transaction_leaves_no_rows) {
    mm_prediction_batch_t p = batch("run-1", 0.0);
    cr_assert_eq(mm_scorer_sink_begin(sink, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(mm_scorer_sink_predictions(sink, &p, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    mm_scorer_sink_rollback(sink);
    cr_expect_eq(count("SELECT count(*) FROM predictions"), 0);
}

/* ------------------------------------------------------------ answers and the latest run */

static void answer(const mm_prediction_batch_t *p) {
    cr_assert_eq(mm_scorer_sink_begin(sink, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(mm_scorer_sink_answer(sink, p, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(mm_scorer_sink_commit(sink, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
}

typedef struct latest_rows {
    int64_t n, no_model, fallback, planned;
    double sum;
} latest_rows_t;

static bool on_latest(void *opaque, const mm_scorer_sink_row_t *r) {
    latest_rows_t *l = opaque;
    l->n++;
    if (strcmp(r->status, "no_model") == 0) l->no_model++;
    if (r->fallback) l->fallback++;
    l->planned += r->planned_steps;
    if (!isnan(r->value)) l->sum += r->value;
    return true;
}

static latest_rows_t latest(const char *key) {
    latest_rows_t l = {0};
    cr_assert_eq(mm_scorer_sink_latest(sink, key, on_latest, &l, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    return l;
}

Test(sink, lineage_columns_are_stored_with_every_row) {
    mm_prediction_batch_t p = batch("run-1", 0.0);
    p.fallback = true;
    p.model_data_end_ms = 800;
    p.new_observations = 7;
    p.planned_steps = 2;
    p.carried_steps = 1;
    answer(&p);
    cr_expect_eq(
        count("SELECT COUNT(*) FROM predictions WHERE fallback = 1 AND model_data_end_ms "
              "= 800 AND new_observations = 7 AND planned_steps = 2 AND carried_steps = 1"),
        3);
}

Test(sink, the_latest_view_shows_only_each_keys_latest_run) {
    answer(&(mm_prediction_batch_t){.partition_key = "store=2/item=1",
                                    .request_id = "run-1",
                                    .status = MM_PREDICTION_NO_MODEL,
                                    .message = "no approved model",
                                    .produced_at_ms = 1});
    mm_prediction_batch_t p = batch("run-1", 0.0);
    answer(&p);
    /* The next run starts a period later: its first two target times overlap run-1's. */
    static int64_t later[] = {2000, 3000, 4000};
    p = batch("run-2", 10.0);
    p.time_ms = later;
    p.planned_steps = 3;
    answer(&p);
    latest_rows_t all = latest(NULL);
    cr_expect_eq(all.n, 4, "three predictions of run-2 and one no-model answer");
    cr_expect_eq(all.no_model, 1);
    cr_expect_eq(all.planned, 9);
    cr_expect_eq(all.sum, 11.5 + 12.5 + 13.5);
    latest_rows_t one = latest(KEY);
    cr_expect_eq(one.n, 3);
    /* Replaying run-2 changes nothing. */
    answer(&p);
    cr_expect_eq(latest(NULL).n, 4);
    cr_expect_eq(count("SELECT COUNT(*) FROM predictions"), 4, "run-1's first row stays stored");
}

Test(sink, a_key_answered_no_model_after_predictions_has_no_latest_predictions) {
    mm_prediction_batch_t p = batch("run-1", 0.0);
    answer(&p);
    answer(&(mm_prediction_batch_t){.partition_key = KEY,
                                    .request_id = "run-2",
                                    .status = MM_PREDICTION_NO_MODEL,
                                    .message = "serve_fallback is false",
                                    .produced_at_ms = 2});
    latest_rows_t l = latest(KEY);
    cr_expect_eq(l.n, 1);
    cr_expect_eq(l.no_model, 1);
}

/* ---- the sink URL (sink.c) */

TestSuite(sink_url, .init = setup, .fini = teardown);

static const char *redacted(const char *url) {
    static char out[512];
    mm_scorer_sink_url_redacted(url, out, sizeof(out));
    return out;
}

Test(sink_url, a_plain_path_and_sqlite_urls_choose_sqlite_postgresql_urls_postgres) {
    mm_scorer_sink_kind_t kind;
    const char *path = NULL;
    cr_assert_eq(mm_scorer_sink_parse_url("out/p.db", &kind, &path, errstr, sizeof(errstr)), MM_OK);
    cr_expect_eq(kind, MM_SCORER_SINK_SQLITE);
    cr_expect_str_eq(path, "out/p.db");
    cr_assert_eq(
        mm_scorer_sink_parse_url("sqlite:///var/p.db", &kind, &path, errstr, sizeof(errstr)),
        MM_OK);
    cr_expect_eq(kind, MM_SCORER_SINK_SQLITE);
    cr_expect_str_eq(path, "/var/p.db");
    cr_assert_eq(
        mm_scorer_sink_parse_url("postgresql://u:p@h/db", &kind, &path, errstr, sizeof(errstr)),
        MM_OK);
    cr_expect_eq(kind, MM_SCORER_SINK_POSTGRES);
    cr_expect_null(path);
    cr_assert_eq(mm_scorer_sink_parse_url("postgres://h/db", &kind, &path, errstr, sizeof(errstr)),
                 MM_OK);
    cr_expect_eq(kind, MM_SCORER_SINK_POSTGRES);
}

Test(sink_url, unknown_schemes_and_empty_urls_are_refused_without_the_password) {
    mm_scorer_sink_kind_t kind;
    const char *path = NULL;
    cr_expect_eq(
        mm_scorer_sink_parse_url("mysql://u:hunter2@h/db", &kind, &path, errstr, sizeof(errstr)),
        MM_ERR_INVALID_ARG);
    cr_expect(strstr(errstr, "'mysql'") != NULL, "%s", errstr);
    cr_expect(strstr(errstr, "hunter2") == NULL, "%s", errstr);
    cr_expect_eq(mm_scorer_sink_parse_url("", &kind, &path, errstr, sizeof(errstr)),
                 MM_ERR_INVALID_ARG);
    cr_expect_eq(mm_scorer_sink_parse_url("sqlite://", &kind, &path, errstr, sizeof(errstr)),
                 MM_ERR_INVALID_ARG);
    cr_expect_null(mm_scorer_sink_open("mysql://h/db", errstr, sizeof(errstr)));
}

Test(sink_url, passwords_are_redacted_in_userinfo_and_parameters) {
    cr_expect_str_eq(redacted("postgresql://mm:hunter2@db.example:5432/sales"),
                     "postgresql://mm:***@db.example:5432/sales");
    cr_expect_str_eq(redacted("postgresql://mm@db/sales?sslmode=require&password=hunter2&x=1"),
                     "postgresql://mm@db/sales?sslmode=require&password=***&x=1");
    cr_expect_str_eq(redacted("postgresql://db/sales?password=hunter2"),
                     "postgresql://db/sales?password=***");
    /* An '@' inside the password: the last one before the host ends the userinfo. */
    cr_expect_str_eq(redacted("postgres://mm:p@ss@db/sales"), "postgres://mm:***@db/sales");
    cr_expect_str_eq(redacted("postgresql://mm@db/sales"), "postgresql://mm@db/sales");
    cr_expect_str_eq(redacted("out/predictions.db"), "out/predictions.db");
    cr_expect_str_eq(redacted("sqlite:///var/x.db"), "sqlite:///var/x.db");
    /* Truncation keeps the result a terminated string. */
    char small[16];
    mm_scorer_sink_url_redacted("postgresql://mm:hunter2@db/sales", small, sizeof(small));
    cr_expect_eq(strlen(small), sizeof(small) - 1);
    cr_expect(strstr(small, "hunter2") == NULL);
}

Test(sink_url, a_sqlite_url_opens_the_file_it_names) {
    char url[4200];
    snprintf(url, sizeof(url), "sqlite://%s/other.db", tmpdir);
    mm_scorer_sink_t *other = mm_scorer_sink_open(url, errstr, sizeof(errstr));
    cr_assert_not_null(other, "%s", errstr);
    cr_expect_eq(mm_scorer_sink_kind(other), MM_SCORER_SINK_SQLITE);
    mm_scorer_sink_close(other);
    char path[4200];
    snprintf(path, sizeof(path), "%s/other.db", tmpdir);
    FILE *f = fopen(path, "rb");
    cr_expect_not_null(f, "sqlite://PATH creates PATH");
    if (f) fclose(f);
}

/* Entities of one key: each keeps its own rows and its own latest answer. */
static bool on_entity_row(void *opaque, const mm_scorer_sink_row_t *r) {
    int *per_entity = opaque;
    cr_assert_not_null(r->entity);
    if (strcmp(r->entity, "machine=1") == 0) per_entity[0]++;
    if (strcmp(r->entity, "machine=2") == 0) per_entity[1]++;
    if (strcmp(r->entity, "") == 0) per_entity[2]++;
    return true;
}

Test(sink, each_entity_of_a_key_has_its_own_rows_and_latest_answer) {
    mm_prediction_batch_t p = batch("run-1", 0.0);
    p.entity = "machine=1";
    answer(&p);
    p = batch("run-1", 1.0);
    p.entity = "machine=2";
    answer(&p);
    cr_expect_eq(count("SELECT COUNT(*) FROM predictions"), 6, "same key and times, two entities");
    cr_expect_eq(count("SELECT COUNT(*) FROM key_runs"), 2);
    int per_entity[3] = {0};
    cr_assert_eq(
        mm_scorer_sink_latest(sink, KEY, on_entity_row, per_entity, errstr, sizeof(errstr)), MM_OK,
        "%s", errstr);
    cr_expect_eq(per_entity[0], 3);
    cr_expect_eq(per_entity[1], 3);
    /* a later run of one entity replaces that entity's answer only */
    p = batch("run-2", 5.0);
    p.entity = "machine=2";
    answer(&p);
    cr_expect_eq(count("SELECT COUNT(*) FROM predictions WHERE entity = 'machine=1' AND "
                       "request_id = 'run-1'"),
                 3);
    cr_expect_eq(count("SELECT COUNT(*) FROM latest_predictions WHERE entity = 'machine=2' AND "
                       "request_id = 'run-2'"),
                 3);
    /* a spec without entities writes entity "" */
    p = batch("run-3", 0.0);
    p.partition_key = "store=9/item=9";
    answer(&p);
    memset(per_entity, 0, sizeof(per_entity));
    cr_assert_eq(mm_scorer_sink_latest(sink, "store=9/item=9", on_entity_row, per_entity, errstr,
                                       sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_expect_eq(per_entity[2], 3);
}

/* The sink as schema version 2 wrote it (before entities), with one key's answer. */
static const char sink_v2_sql[] =
    "CREATE TABLE predictions (partition_key TEXT NOT NULL, target_time_ms INTEGER NOT NULL,"
    "  value REAL, lower REAL, upper REAL, model_version INTEGER, train_id TEXT,"
    "  algorithm TEXT, data_watermark_ms INTEGER, load_id TEXT, request_id TEXT,"
    "  produced_at_ms INTEGER, PRIMARY KEY (partition_key, target_time_ms)) WITHOUT ROWID;"
    "CREATE TABLE no_model (partition_key TEXT PRIMARY KEY, reason TEXT, at_ms INTEGER);"
    "ALTER TABLE predictions ADD COLUMN fallback INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE predictions ADD COLUMN model_data_end_ms INTEGER;"
    "ALTER TABLE predictions ADD COLUMN new_observations INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE predictions ADD COLUMN planned_steps INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE predictions ADD COLUMN carried_steps INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE key_runs (partition_key TEXT PRIMARY KEY, request_id TEXT NOT NULL,"
    "  status TEXT NOT NULL, message TEXT, fallback INTEGER NOT NULL DEFAULT 0,"
    "  produced_at_ms INTEGER NOT NULL);"
    "CREATE VIEW latest_predictions AS SELECT r.partition_key, r.status, r.message, r.fallback,"
    "  r.request_id, r.produced_at_ms, p.target_time_ms, p.value, p.lower, p.upper,"
    "  p.model_version, p.train_id, p.algorithm, p.data_watermark_ms, p.load_id,"
    "  p.model_data_end_ms, p.new_observations, p.planned_steps, p.carried_steps"
    "  FROM key_runs r LEFT JOIN predictions p"
    "  ON p.partition_key = r.partition_key AND p.request_id = r.request_id;"
    "INSERT INTO predictions(partition_key, target_time_ms, value, request_id, planned_steps)"
    "  VALUES ('" KEY "', 1000, 1.5, 'run-0', 2), ('" KEY "', 2000, 2.5, 'run-0', 2);"
    "INSERT INTO key_runs VALUES ('" KEY "', 'run-0', 'ok', NULL, 0, 10);"
    "PRAGMA user_version = 2;";

Test(sink, a_sink_written_before_entities_keeps_its_rows_and_latest_answers) {
    char old_path[4200];
    snprintf(old_path, sizeof(old_path), "%s/old-predictions.db", tmpdir);
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(old_path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, sink_v2_sql, NULL, NULL, NULL), SQLITE_OK, "%s",
                 sqlite3_errmsg(db));
    sqlite3_close(db);
    mm_scorer_sink_t *old = mm_scorer_sink_open(old_path, errstr, sizeof(errstr));
    cr_assert_not_null(old, "%s", errstr);
    int per_entity[3] = {0};
    cr_assert_eq(mm_scorer_sink_latest(old, KEY, on_entity_row, per_entity, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_expect_eq(per_entity[2], 2, "the old rows are the key's answer, at entity \"\"");
    /* A new answer of the same key replaces them, as before. */
    mm_prediction_batch_t p = batch("run-1", 0.0);
    cr_assert_eq(mm_scorer_sink_begin(old, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(mm_scorer_sink_answer(old, &p, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(mm_scorer_sink_commit(old, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    memset(per_entity, 0, sizeof(per_entity));
    cr_assert_eq(mm_scorer_sink_latest(old, KEY, on_entity_row, per_entity, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_expect_eq(per_entity[2], 3);
    mm_scorer_sink_close(old);
}
