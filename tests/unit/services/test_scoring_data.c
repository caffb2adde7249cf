/*
 * test_scoring_data.c - unit tests of services/scorer/scoring_data.c on a
 * real SQLite file, no network: rows are stored and read back in time order
 * with the planned rows (empty target after the newest observation) apart,
 * a planned row never erases an observation, each key is pruned to its
 * newest observed rows, a replayed batch changes nothing, and the offset is
 * stored with the rows it carried.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

#include "mm/outbox.h"
#include "scoring_data.h"
#include "support.h"

#define TOPIC    "mm.observations"
#define KEY      "store=1/item=1"
#define OTHER    "store=2/item=1"
#define DAY_MS   86400000LL
#define KEEP     10
#define MAX_ROWS 32

static char *tmpdir;
static char path[4200];
static mm_spec_t spec;
static char *features[] = {"price"};
static mm_scoring_data_t *sd;
static char errstr[1024];

static void open_store(void) {
    sd = mm_scoring_data_open(path, &spec, KEEP, "mm-scorer", errstr, sizeof(errstr));
    cr_assert_not_null(sd, "%s", errstr);
}

static void setup(void) {
    tmpdir = mmt_tmpdir("scoring_data");
    cr_assert_not_null(tmpdir);
    snprintf(path, sizeof(path), "%s/scorer.db", tmpdir);
    memset(&spec, 0, sizeof(spec));
    spec.name = "sales";
    spec.freq = MM_FREQ_DAY;
    spec.feature_columns[0] = features[0];
    spec.n_feature_columns = 1;
    open_store();
}

static void teardown(void) {
    mm_scoring_data_close(sd);
    mmt_rmtree(tmpdir);
    free(tmpdir);
}

TestSuite(scoring_data, .init = setup, .fini = teardown);

/* A batch of @p n daily rows of @p key from day @p first_day; target NaN from day @p planned_from
 * on; price = 100 + day. */
typedef struct test_batch {
    mm_observation_batch_t b;
    mm_obs_column_t column;
    int64_t time_ms[MAX_ROWS];
    double target[MAX_ROWS];
    double price[MAX_ROWS];
} test_batch_t;

static test_batch_t *make_batch(const char *key, size_t n, int first_day, int planned_from,
                                const char *load_id) {
    static test_batch_t tb;
    memset(&tb, 0, sizeof(tb));
    cr_assert_leq(n, (size_t)MAX_ROWS);
    tb.b.partition_key = key;
    tb.b.load_id = load_id;
    tb.b.n_rows = n;
    for (size_t i = 0; i < n; i++) {
        int day = first_day + (int)i;
        tb.time_ms[i] = day * DAY_MS;
        tb.target[i] = day >= planned_from ? NAN : (double)day;
        tb.price[i] = 100.0 + day;
    }
    tb.column = (mm_obs_column_t){.name = "price", .values = tb.price};
    tb.b.time_ms = tb.time_ms;
    tb.b.target = tb.target;
    tb.b.n_columns = 1;
    tb.b.columns = &tb.column;
    return &tb;
}

static void apply(const test_batch_t *tb, int64_t offset) {
    cr_assert_eq(mm_scoring_data_apply(sd, TOPIC, 0, offset, &tb->b, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
}

static void read_key(const char *key, int64_t until, mm_scoring_rows_t *rows) {
    cr_assert_eq(mm_scoring_data_read(sd, key, until, rows, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
}

static int64_t stored_offset(void) {
    int64_t next = -1;
    bool found = false;
    cr_assert_eq(mm_consumer_state_load(mm_scoring_data_offsets(sd), TOPIC, 0, &next, &found,
                                        errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    return found ? next : -1;
}

Test(scoring_data, rows_read_back_in_time_order_with_planned_rows_apart) {
    apply(make_batch(KEY, 8, 5, 10, "load-1"), 0); /* days 5..9 observed, 10..12 planned */
    mm_scoring_rows_t rows;
    read_key(KEY, 0, &rows);
    cr_assert_eq(rows.n, 8);
    cr_expect_eq(rows.n_observed, 5);
    for (size_t i = 0; i < rows.n; i++) {
        cr_expect_eq(rows.time_ms[i], (5 + (int64_t)i) * DAY_MS);
        cr_expect_eq(rows.x[i], 105.0 + (double)i, "price of row %zu", i);
    }
    cr_expect_eq(rows.y[4], 9.0);
    cr_expect(isnan(rows.y[5]));
    cr_expect_str_eq(rows.load_id, "load-1");
    mm_scoring_rows_clear(&rows);
}

Test(scoring_data, an_unknown_key_reads_empty) {
    mm_scoring_rows_t rows;
    read_key("store=9/item=9", 0, &rows);
    cr_expect_eq(rows.n, 0);
    cr_expect_eq(rows.n_observed, 0);
    mm_scoring_rows_clear(&rows);
}

Test(scoring_data, as_of_moves_newer_observations_to_the_planned_side) {
    apply(make_batch(KEY, 6, 1, 100, "load-1"), 0); /* days 1..6 observed */
    mm_scoring_rows_t rows;
    read_key(KEY, 4 * DAY_MS, &rows);
    cr_expect_eq(rows.n, 6);
    cr_expect_eq(rows.n_observed, 4, "observations after as-of are not observations yet");
    mm_scoring_rows_clear(&rows);
}

Test(scoring_data, a_planned_row_never_erases_an_observation) {
    apply(make_batch(KEY, 5, 1, 100, "load-1"), 0);  /* days 1..5 observed */
    apply(make_batch(KEY, 4, 4, 4, "load-plan"), 1); /* days 4..7 planned */
    mm_scoring_rows_t rows;
    read_key(KEY, 0, &rows);
    cr_assert_eq(rows.n, 7);
    cr_expect_eq(rows.n_observed, 5);
    cr_expect_eq(rows.y[4], 5.0);
    cr_expect_str_eq(rows.load_id, "load-1", "the observation's own load, not the plan's");
    mm_scoring_rows_clear(&rows);
    /* The observation later arrives for a planned day: it replaces the plan. */
    apply(make_batch(KEY, 1, 6, 100, "load-2"), 2);
    read_key(KEY, 0, &rows);
    cr_expect_eq(rows.n_observed, 6);
    cr_expect_str_eq(rows.load_id, "load-2");
    mm_scoring_rows_clear(&rows);
}

Test(scoring_data, each_key_keeps_only_its_newest_observed_rows_and_its_plan) {
    apply(make_batch(KEY, 20, 1, 18, "load-1"), 0); /* days 1..17 observed, 18..20 planned */
    apply(make_batch(OTHER, 3, 1, 100, "load-1"), 1);
    mm_scoring_rows_t rows;
    read_key(KEY, 0, &rows);
    cr_expect_eq(rows.n_observed, KEEP);
    cr_expect_eq(rows.n, KEEP + 3);
    cr_expect_eq(rows.time_ms[0], 8 * DAY_MS, "days 1..7 were pruned");
    mm_scoring_rows_clear(&rows);
    read_key(OTHER, 0, &rows);
    cr_expect_eq(rows.n, 3, "another key is not pruned by this one");
    mm_scoring_rows_clear(&rows);
}

static double sum_rows(const char *key) {
    mm_scoring_rows_t rows;
    read_key(key, 0, &rows);
    double sum = (double)rows.n * 1e6 + (double)rows.n_observed * 1e3;
    for (size_t i = 0; i < rows.n; i++)
        sum += (double)rows.time_ms[i] / DAY_MS + (isnan(rows.y[i]) ? 0 : rows.y[i]) + rows.x[i];
    mm_scoring_rows_clear(&rows);
    return sum;
}

Test(scoring_data, a_replayed_batch_changes_nothing) {
    apply(make_batch(KEY, 12, 1, 10, "load-1"), 0);
    double before = sum_rows(KEY);
    apply(make_batch(KEY, 12, 1, 10, "load-1"), 0);
    apply(make_batch(KEY, 12, 1, 10, "load-1"), 1);
    cr_expect_eq(sum_rows(KEY), before);
}

Test(scoring_data, the_offset_is_stored_with_the_rows_and_survives_a_reopen) {
    cr_expect_eq(stored_offset(), -1);
    apply(make_batch(KEY, 3, 1, 100, "load-1"), 41);
    cr_expect_eq(stored_offset(), 42);
    apply(make_batch(KEY, 3, 1, 100, "load-1"), 7); /* a late duplicate does not rewind */
    cr_expect_eq(stored_offset(), 42);
    mm_scoring_data_close(sd);
    open_store();
    cr_expect_eq(stored_offset(), 42);
    mm_scoring_rows_t rows;
    read_key(KEY, 0, &rows);
    cr_expect_eq(rows.n, 3);
    mm_scoring_rows_clear(&rows);
}

Test(scoring_data, a_batch_without_a_topic_stores_no_offset) {
    const test_batch_t *tb = make_batch(KEY, 2, 1, 100, "load-1");
    cr_assert_eq(mm_scoring_data_apply(sd, NULL, 0, 5, &tb->b, errstr, sizeof(errstr)), MM_OK);
    cr_expect_eq(stored_offset(), -1);
}

static bool collect(void *opaque, const char *key) {
    char *out = opaque;
    size_t len = strlen(out);
    snprintf(out + len, 256 - len, "%s;", key);
    return true;
}

Test(scoring_data, keys_and_the_latest_observation_span_every_key) {
    bool found = true;
    int64_t latest = 0;
    cr_assert_eq(mm_scoring_data_latest(sd, &latest, &found, errstr, sizeof(errstr)), MM_OK);
    cr_expect_not(found);
    apply(make_batch(OTHER, 4, 1, 100, "load-1"), 0);
    apply(make_batch(KEY, 6, 1, 3, "load-1"), 1); /* observed up to day 2, planned to day 6 */
    char keys[256] = "";
    cr_assert_eq(mm_scoring_data_keys(sd, collect, keys, errstr, sizeof(errstr)), MM_OK);
    cr_expect_str_eq(keys, KEY ";" OTHER ";");
    cr_assert_eq(mm_scoring_data_latest(sd, &latest, &found, errstr, sizeof(errstr)), MM_OK);
    cr_expect(found);
    cr_expect_eq(latest, 4 * DAY_MS, "planned rows are not observations");
}

/* ------------------------------------------------------------ entities */

static bool collect_entities(void *opaque, const char *entity) {
    char *seen = opaque;
    strcat(seen, entity);
    strcat(seen, ";");
    return true;
}

Test(scoring_data, each_entity_of_a_key_keeps_its_own_newest_rows) {
    spec.n_entity_columns = 1;
    /* machine 1: days 0..29; machine 2: days 20..24 and a planned day 25 */
    static const char *names[] = {"machine=1", "machine=2"};
    int32_t index[MAX_ROWS];
    test_batch_t *tb = make_batch(KEY, 30, 0, 100, "load-1");
    for (size_t i = 0; i < 30; i++) index[i] = 0;
    tb->b.n_entities = 1;
    tb->b.entities = names;
    tb->b.n_entity_of_row = 30;
    tb->b.entity_of_row = index;
    apply(tb, 0);
    tb = make_batch(KEY, 6, 20, 25, "load-2");
    for (size_t i = 0; i < 6; i++) index[i] = 1;
    tb->b.n_entities = 2;
    tb->b.entities = names;
    tb->b.n_entity_of_row = 6;
    tb->b.entity_of_row = index;
    apply(tb, 1);

    char seen[128] = "";
    cr_assert_eq(mm_scoring_data_entities(sd, KEY, collect_entities, seen, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_expect_str_eq(seen, "machine=1;machine=2;");
    mm_scoring_rows_t rows;
    cr_assert_eq(
        mm_scoring_data_read_entity(sd, KEY, "machine=1", 0, &rows, errstr, sizeof(errstr)), MM_OK,
        "%s", errstr);
    cr_expect_eq(rows.n, (size_t)KEEP, "the entity is pruned to its own bound");
    cr_expect_eq(rows.time_ms[rows.n - 1], 29 * DAY_MS);
    mm_scoring_rows_clear(&rows);
    cr_assert_eq(
        mm_scoring_data_read_entity(sd, KEY, "machine=2", 0, &rows, errstr, sizeof(errstr)), MM_OK,
        "%s", errstr);
    cr_expect_eq(rows.n, 6u, "another entity's rows do not push it out");
    cr_expect_eq(rows.n_observed, 5u);
    cr_expect_str_eq(rows.load_id, "load-2");
    mm_scoring_rows_clear(&rows);
    read_key(KEY, 0, &rows);
    cr_expect_eq(rows.n, 0u, "no row of the key is without an entity");
    mm_scoring_rows_clear(&rows);
}

Test(scoring_data, a_store_written_before_entities_keeps_its_rows_at_entity_none) {
    mm_scoring_data_close(sd);
    snprintf(path, sizeof(path), "%s/old-scorer.db", tmpdir);
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    static const char v1[] =
        "CREATE TABLE scoring_rows (partition_key TEXT NOT NULL, t INTEGER NOT NULL, y REAL,"
        "  x BLOB, load_id TEXT, PRIMARY KEY (partition_key, t)) WITHOUT ROWID;"
        "CREATE INDEX scoring_rows_observed ON scoring_rows(partition_key, t) WHERE y IS NOT "
        "NULL;" MM_CONSUMER_STATE_TABLE_SQL(MM_SCORING_DATA_OFFSETS_TABLE) MM_OUTBOX_TABLE_SQL
        "INSERT INTO scoring_rows VALUES ('" KEY "', 0, 1.0, NULL, 'load-0'),"
        "  ('" KEY "', 86400000, 2.0, NULL, 'load-0');"
        "PRAGMA user_version = 1;";
    cr_assert_eq(sqlite3_exec(db, v1, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_close(db);
    open_store();
    mm_scoring_rows_t rows;
    read_key(KEY, 0, &rows);
    cr_expect_eq(rows.n, 2u);
    cr_expect_eq(rows.n_observed, 2u);
    cr_expect_str_eq(rows.load_id, "load-0");
    mm_scoring_rows_clear(&rows);
}

/* ------------------------------------------------------------ the read cache */

static void expect_same_rows(const mm_scoring_rows_t *a, const mm_scoring_rows_t *b) {
    cr_assert_eq(a->n, b->n);
    cr_expect_eq(a->n_observed, b->n_observed);
    cr_assert_eq(a->n_exog, b->n_exog);
    for (size_t i = 0; i < a->n; i++) {
        cr_expect_eq(a->time_ms[i], b->time_ms[i]);
        cr_expect(a->y[i] == b->y[i] || (isnan(a->y[i]) && isnan(b->y[i])), "row %zu", i);
        for (size_t j = 0; j < a->n_exog; j++)
            cr_expect_eq(a->x[i * a->n_exog + j], b->x[i * b->n_exog + j]);
    }
    cr_expect_str_eq(a->load_id ? a->load_id : "(null)", b->load_id ? b->load_id : "(null)");
}

Test(scoring_data, cached_reads_are_the_stored_rows_and_follow_every_commit) {
    apply(make_batch(KEY, 8, 0, 6, "load-1"), 0);
    apply(make_batch(OTHER, 3, 0, 9, "load-o"), 1);
    mm_scoring_data_t *uncached =
        mm_scoring_data_open(path, &spec, KEEP, "mm-scorer", errstr, sizeof(errstr));
    cr_assert_not_null(uncached, "%s", errstr);
    cr_assert_eq(mm_scoring_data_cache(sd, 1 << 20, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    mm_scoring_rows_t want, got, again;
    cr_assert_eq(mm_scoring_data_read(uncached, KEY, 0, &want, errstr, sizeof(errstr)), MM_OK);
    read_key(KEY, 0, &got);
    read_key(KEY, 0, &again);
    expect_same_rows(&got, &want);
    expect_same_rows(&again, &want);
    cr_expect_eq(want.n_observed, 6);
    mm_scoring_rows_clear(&again);
    /* an as-of read is not the cached one */
    read_key(KEY, 3 * DAY_MS, &again);
    cr_expect_eq(again.n_observed, 4);
    mm_scoring_rows_clear(&again);
    /* another connection commits: the next read sees it */
    cr_assert_eq(mm_scoring_data_apply(uncached, NULL, 0, 0,
                                       &make_batch(KEY, 2, 6, 99, "load-2")->b, errstr,
                                       sizeof(errstr)),
                 MM_OK, "%s", errstr);
    read_key(KEY, 0, &again);
    cr_expect_eq(again.n_observed, 8, "the observations another connection applied");
    cr_expect_str_eq(again.load_id, "load-2");
    mm_scoring_rows_clear(&again);
    /* this handle commits: the next read sees it too */
    apply(make_batch(KEY, 1, 8, 99, "load-3"), 2);
    read_key(KEY, 0, &again);
    cr_expect_eq(again.n_observed, 9, "the observations this handle applied");
    cr_expect_str_eq(again.load_id, "load-3");
    mm_scoring_rows_clear(&again);
    read_key(OTHER, 0, &again);
    cr_expect_eq(again.n, 3);
    mm_scoring_rows_clear(&again);
    mm_scoring_rows_clear(&got);
    mm_scoring_rows_clear(&want);
    mm_scoring_data_close(uncached);
}

Test(scoring_data, a_cache_too_small_for_a_key_still_answers) {
    apply(make_batch(KEY, 8, 0, 6, "load-1"), 0);
    cr_assert_eq(mm_scoring_data_cache(sd, 64, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    for (int i = 0; i < 3; i++) {
        mm_scoring_rows_t rows;
        read_key(KEY, 0, &rows);
        cr_expect_eq(rows.n, 8);
        cr_expect_eq(rows.n_observed, 6);
        mm_scoring_rows_clear(&rows);
    }
}

/* A batch's rows older than its own newest KEEP observations are never
 * written: the prune would delete them in the same transaction. */
Test(scoring_data, rows_the_prune_would_delete_are_not_written) {
    sqlite3 *db = mm_scoring_data_db(sd)->sqlite;
    int before = sqlite3_total_changes(db);
    apply(make_batch(KEY, 30, 1, 100, "load-1"), 0); /* days 1..30 observed */
    int changes = sqlite3_total_changes(db) - before;
    cr_expect_leq(changes, KEEP + 1, "%d rows changed: %d written, the offset, nothing deleted",
                  changes, KEEP);
    mm_scoring_rows_t rows;
    read_key(KEY, 0, &rows);
    cr_expect_eq(rows.n_observed, KEEP);
    cr_expect_eq(rows.time_ms[0], 21 * DAY_MS, "the newest ten days");
    mm_scoring_rows_clear(&rows);
}

/* The prune keeps KEEP distinct times: a time repeated in the batch counts
 * once, so no row the prune keeps is skipped. */
Test(scoring_data, a_repeated_time_counts_once_towards_the_rows_kept) {
    test_batch_t *tb = make_batch(KEY, 12, 1, 100, "load-1"); /* days 1..12 */
    tb->time_ms[10] = tb->time_ms[11] = 10 * DAY_MS;          /* days 1..10, day 10 thrice */
    apply(tb, 0);
    mm_scoring_rows_t rows;
    read_key(KEY, 0, &rows);
    cr_expect_eq(rows.n_observed, KEEP, "ten distinct days");
    cr_expect_eq(rows.time_ms[0], 1 * DAY_MS, "day 1 is among the newest ten distinct days");
    mm_scoring_rows_clear(&rows);
}
