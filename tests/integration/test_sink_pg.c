/*
 * test_sink_pg.c - the PostgreSQL prediction sink (services/scorer/sink_pg.c)
 * against a real PostgreSQL server from Debian's packages, started once per
 * test binary on loopback with password authentication
 * (tests/support/postgres.c): the sink library's upserts, "no model" rows
 * and the latest_predictions view, read back over a second connection as a
 * BI tool would; then the batch scorer run end to end into it over the dev
 * broker, replayed, read by mmctl, and with the password in no log.
 */
#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "pipeline.h"
#include "postgres.h"
#include "sink.h"
#include "support.h"

#define PG_URL_ENV "MMT_PG_URL"
#define PG_PW_ENV  "MMT_PG_PASSWORD"
#define PG_WHY_ENV "MMT_PG_WHY"
#define KEY        "store=1/item=1"

static mmt_pg_t shared_pg;

ReportHook(PRE_ALL)(struct criterion_test_set *set) {
    (void)set;
    char why[1024] = "";
    if (mmt_pg_start(&shared_pg, why, sizeof(why))) {
        setenv(PG_URL_ENV, shared_pg.url, 1);
        setenv(PG_PW_ENV, shared_pg.password, 1);
    } else {
        setenv(PG_WHY_ENV, why, 1);
    }
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats) {
    (void)stats;
    mmt_pg_stop(&shared_pg);
}

static char errstr[1024];
static char *db_url;   /* this test's own database */
static PGconn *reader; /* a second connection, as a BI tool */

/* A database of the test's own, named after @p tag. */
static void use_database(const char *tag) {
    const char *url = getenv(PG_URL_ENV);
    const char *why = getenv(PG_WHY_ENV);
    cr_assert(url, "%s", why ? why : "the shared PostgreSQL server was not started");
    mmt_pg_t view = {0};
    view.url = (char *)url;
    view.password = getenv(PG_PW_ENV);
    const char *port = strrchr(url, ':');
    view.port = port ? atoi(port + 1) : 0;
    char why_db[512];
    db_url = mmt_pg_create_db(&view, tag, why_db, sizeof(why_db));
    cr_assert_not_null(db_url, "%s", why_db);
    reader = PQconnectdb(db_url);
    cr_assert_eq(PQstatus(reader), CONNECTION_OK, "%s", PQerrorMessage(reader));
}

static void done(void) {
    if (reader) PQfinish(reader);
    reader = NULL;
    free(db_url);
    db_url = NULL;
}

/* One value of @p sql over the second connection; NULL reads as @p null_value. */
static double q(const char *sql, double null_value) {
    PGresult *res = PQexec(reader, sql);
    cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(reader));
    cr_assert_eq(PQntuples(res), 1, "%s: %d rows", sql, PQntuples(res));
    double v = PQgetisnull(res, 0, 0) ? null_value : strtod(PQgetvalue(res, 0, 0), NULL);
    PQclear(res);
    return v;
}

static int64_t time_ms[] = {1000, 2000, 3000};
static double value[] = {1.5, 2.5, 3.5};
static double lower[] = {1.0, NAN, 3.0};
static double upper[] = {2.0, NAN, 4.0};

static mm_prediction_batch_t batch(const char *request_id, double *values, size_t n) {
    mm_prediction_batch_t p = {0};
    p.partition_key = (char *)KEY;
    p.request_id = (char *)request_id;
    p.train_id = (char *)"train-1";
    p.algorithm = (char *)"ets";
    p.model_version = 4;
    p.data_watermark_ms = 900;
    p.produced_at_ms = 5000;
    p.model_data_end_ms = 800;
    p.new_observations = 2;
    p.planned_steps = 1;
    p.n = n;
    p.time_ms = time_ms;
    p.value = values;
    p.lower = lower;
    p.upper = upper;
    p.status = MM_PREDICTION_OK;
    return p;
}

static void answer(mm_scorer_sink_t *sink, const mm_prediction_batch_t *p) {
    cr_assert_eq(mm_scorer_sink_begin(sink, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(mm_scorer_sink_answer(sink, p, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(mm_scorer_sink_commit(sink, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
}

TestSuite(sink_pg, .fini = done);

Test(sink_pg, rows_are_upserted_by_key_and_target_time_and_nan_is_null) {
    use_database("upsert");
    mm_scorer_sink_t *sink = mm_scorer_sink_open(db_url, errstr, sizeof(errstr));
    cr_assert_not_null(sink, "%s", errstr);
    cr_expect_eq(mm_scorer_sink_kind(sink), MM_SCORER_SINK_POSTGRES);
    mm_prediction_batch_t p = batch("run-1", value, 3);
    answer(sink, &p);
    cr_expect_eq(q("SELECT count(*) FROM predictions", -1), 3);
    cr_expect_eq(q("SELECT count(*) FROM predictions WHERE lower IS NULL", -1), 1);
    cr_expect_eq(q("SELECT value FROM predictions WHERE target_time_ms = 2000", -1), 2.5);
    cr_expect_eq(q("SELECT model_data_end_ms FROM predictions WHERE target_time_ms = 1000", -1),
                 800);

    /* A replay with new values replaces, never duplicates. */
    double shifted[] = {10.5, 20.5, 30.5};
    mm_prediction_batch_t again = batch("run-2", shifted, 3);
    answer(sink, &again);
    cr_expect_eq(q("SELECT count(*) FROM predictions", -1), 3);
    cr_expect_eq(q("SELECT sum(value) FROM predictions", -1), 61.5);
    cr_expect_eq(q("SELECT count(*) FROM predictions WHERE request_id = 'run-2'", -1), 3);

    mm_scorer_sink_counts_t c;
    cr_assert_eq(mm_scorer_sink_counts(sink, &c, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_expect_eq(c.rows, 3);
    cr_expect_eq(c.keys, 1);
    cr_expect_eq(c.no_model_keys, 0);
    mm_scorer_sink_close(sink);
}

typedef struct latest {
    int n;
    int64_t times[8];
    char status[8][16];
    double values[8];
} latest_t;

static bool on_latest(void *opaque, const mm_scorer_sink_row_t *r) {
    latest_t *l = opaque;
    if (l->n < 8) {
        l->times[l->n] = r->target_time_ms;
        snprintf(l->status[l->n], sizeof(l->status[0]), "%s", r->status);
        l->values[l->n] = r->value;
    }
    l->n++;
    return true;
}

Test(sink_pg, the_latest_view_follows_each_keys_latest_run) {
    use_database("latest");
    mm_scorer_sink_t *sink = mm_scorer_sink_open(db_url, errstr, sizeof(errstr));
    cr_assert_not_null(sink, "%s", errstr);
    mm_prediction_batch_t first = batch("run-1", value, 3);
    answer(sink, &first);
    /* The next run answers two steps: the third row stays in predictions, not in the view. */
    double v2[] = {7.0, 8.0};
    mm_prediction_batch_t second = batch("run-2", v2, 2);
    answer(sink, &second);
    cr_expect_eq(q("SELECT count(*) FROM predictions", -1), 3);
    cr_expect_eq(q("SELECT count(*) FROM latest_predictions", -1), 2);

    latest_t l = {0};
    cr_assert_eq(mm_scorer_sink_latest(sink, KEY, on_latest, &l, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    cr_assert_eq(l.n, 2);
    cr_expect_eq(l.times[0], 1000);
    cr_expect_eq(l.values[1], 8.0);
    cr_expect_str_eq(l.status[0], "ok");

    /* A run that answers "no model": one view row without a target time. */
    mm_prediction_batch_t none = {0};
    none.partition_key = (char *)"store=2/item=1";
    none.request_id = (char *)"run-2";
    none.status = MM_PREDICTION_NO_MODEL;
    none.message = (char *)"no production model";
    none.produced_at_ms = 6000;
    answer(sink, &none);
    memset(&l, 0, sizeof(l));
    cr_assert_eq(mm_scorer_sink_latest(sink, NULL, on_latest, &l, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    cr_assert_eq(l.n, 3);
    cr_expect_str_eq(l.status[2], "no_model");
    cr_expect_eq(l.times[2], -1);
    cr_expect(isnan(l.values[2]));
    cr_expect_eq(q("SELECT count(*) FROM no_model", -1), 1);

    /* The key gets a model: its "no model" row goes. */
    mm_prediction_batch_t later = batch("run-3", value, 3);
    later.partition_key = (char *)"store=2/item=1";
    answer(sink, &later);
    cr_expect_eq(q("SELECT count(*) FROM no_model", -1), 0);
    mm_scorer_sink_close(sink);
}

Test(sink_pg, a_rolled_back_transaction_leaves_nothing_and_reopening_migrates_once) {
    use_database("rollback");
    mm_scorer_sink_t *sink = mm_scorer_sink_open(db_url, errstr, sizeof(errstr));
    cr_assert_not_null(sink, "%s", errstr);
    mm_prediction_batch_t p = batch("run-1", value, 3);
    cr_assert_eq(mm_scorer_sink_begin(sink, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(mm_scorer_sink_answer(sink, &p, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    mm_scorer_sink_rollback(sink);
    cr_expect_eq(q("SELECT count(*) FROM predictions", -1), 0);
    cr_expect_eq(q("SELECT count(*) FROM key_runs", -1), 0);
    mm_scorer_sink_close(sink);

    sink = mm_scorer_sink_open(db_url, errstr, sizeof(errstr));
    cr_assert_not_null(sink, "%s", errstr);
    mm_scorer_sink_close(sink);
    cr_expect_eq(q("SELECT count(*) FROM mm_sink_schema", -1), 1);
    cr_expect_eq(q("SELECT version FROM mm_sink_schema", -1), 1);
}

Test(sink_pg, a_wrong_password_is_an_error_that_names_the_server_but_not_the_password) {
    use_database("auth");
    const char *password = getenv(PG_PW_ENV);
    /* The right user, a wrong password that must not leak either. */
    char bad[512];
    const char *at = strchr(db_url, '@');
    snprintf(bad, sizeof(bad), "postgresql://mm:not-%s%s", password, at);
    mm_scorer_sink_t *sink = mm_scorer_sink_open(bad, errstr, sizeof(errstr));
    cr_assert_null(sink);
    cr_expect(strstr(errstr, "127.0.0.1") != NULL, "%s", errstr);
    cr_expect(strstr(errstr, "mm:***@") != NULL, "%s", errstr);
    cr_expect(strstr(errstr, password) == NULL, "the password leaked: %s", errstr);
    cr_expect(strstr(errstr, "password authentication failed") != NULL, "%s", errstr);
}

/* ---- the batch scorer, end to end, into PostgreSQL */

/* @returns true if the file at @p path contains @p needle. */
static bool file_contains(const char *path, const char *needle) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char line[8192];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f)) found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

/* Run mmctl with @p args, stdout into @p out_path; @returns its exit status. */
static int run_mmctl(char *const *args, const char *out_path) {
    char *bin = mmt_binary("mmctl");
    cr_assert_not_null(bin, "mmctl is not built");
    char *argv[16] = {bin};
    size_t n = 1;
    for (size_t i = 0; args[i] && n < 15; i++) argv[n++] = args[i];
    argv[n] = NULL;
    pid_t pid = mmt_spawn(argv, NULL, out_path);
    int st = mmt_wait(pid, mmt_timeout_ms(60000));
    free(bin);
    return st;
}

TestSuite(sink_pg_pipeline, .fini = done);

Test(sink_pg_pipeline, the_batch_scorer_writes_upserts_and_mmctl_reads_them, .timeout = 900) {
    use_database("pipeline");
    mmt_pipeline_t p;
    const int stores = 2, items = 2, horizon = 7;
    mmt_pipeline_init(&p, "sinkpg", 2, horizon);
    mmt_pipeline_generate(&p, stores, items, 120, 3);
    mmt_pipeline_start_trainer(&p);
    mmt_pipeline_start_promoter(&p);
    const char *files[] = {p.csv_path, NULL};
    cr_assert_eq(mmt_pipeline_ingest(&p, files, NULL), 0);
    const int64_t keys = stores * items;
    cr_assert(mmt_pipeline_wait_decisions(&p, keys, 300000), "not every key got a decision");

    cr_assert_eq(mmt_pipeline_score_into(&p, db_url, NULL), 0, "mm-scorer failed (see %s)", p.dir);
    cr_expect_eq(q("SELECT count(*) FROM key_runs WHERE status = 'ok'", -1), (double)keys);
    cr_expect_eq(q("SELECT count(*) FROM latest_predictions", -1), (double)(keys * horizon));
    cr_expect_eq(q("SELECT count(*) FROM predictions WHERE value IS NULL OR train_id IS NULL", -1),
                 0);
    double rows = q("SELECT count(*) FROM predictions", -1);
    double sum = q("SELECT round(sum(value)::numeric, 3) FROM predictions", -1);
    cr_expect_eq(rows, (double)(keys * horizon));

    /* The same run again: same rows, same values, a new request id in the view. */
    const char *again[] = {"--run-id", "replay-1", NULL};
    cr_assert_eq(mmt_pipeline_score_into(&p, db_url, again), 0);
    cr_expect_eq(q("SELECT count(*) FROM predictions", -1), rows);
    cr_expect_eq(q("SELECT round(sum(value)::numeric, 3) FROM predictions", -1), sum);
    cr_expect_eq(q("SELECT count(*) FROM latest_predictions WHERE request_id = 'replay-1'", -1),
                 (double)(keys * horizon));

    /* mmctl reads the same sink by its URL. */
    char out[4096];
    snprintf(out, sizeof(out), "%s/export.csv", p.dir);
    char *args[] = {"predictions", "export", "--sink", db_url, NULL};
    cr_assert_eq(run_mmctl(args, out), 0);
    cr_expect(file_contains(out, "replay-1"), "the export names the latest run");
    cr_expect(file_contains(out, "store=1/item=1"));
    snprintf(out, sizeof(out), "%s/report.txt", p.dir);
    char *report[] = {"report", "--sink", db_url, "--registry", NULL, NULL};
    char registry[4096];
    snprintf(registry, sizeof(registry), "%s/registry.db", p.dir);
    report[4] = registry;
    cr_assert_eq(run_mmctl(report, out), 0);
    char rows_line[64];
    snprintf(rows_line, sizeof(rows_line), "%lld rows for %lld keys", (long long)(keys * horizon),
             (long long)keys);
    cr_expect(file_contains(out, rows_line), "report counts the PostgreSQL sink");
    cr_expect(file_contains(out, "mm:***@"), "report names the sink without its password");

    /* The password is in no log and no output. */
    const char *password = getenv(PG_PW_ENV);
    const char *logs[] = {"scorer.log", "export.csv", "report.txt"};
    for (size_t i = 0; i < sizeof(logs) / sizeof(logs[0]); i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", p.dir, logs[i]);
        cr_expect(!file_contains(path, password), "the password is in %s", logs[i]);
    }
    mmt_pipeline_stop(&p);
}
