/*
 * test_trainer_chunks.c - unit tests of mm-trainer's chunked history
 * (services/trainer/chunk.c, store.c) on a real SQLite file: the chunk
 * encoding round-trips every value and refuses a damaged blob; batches in
 * any order, overlapping, re-sent and larger than a chunk read back as the
 * last value per (entity, time), with chunk ranges that never overlap; a
 * batch is applied exactly once across a restart; a v2 store (one row per
 * observation) is moved into chunks when it opens, with the digest (and so
 * the train id) that the same data has when it arrives as batches.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "chunk.h"
#include "mm/util.h"
#include "store.h"
#include "support.h"

#define TOPIC   "mm.observations"
#define KEY     "store=1/item=1"
#define SERVICE "mm-trainer"
#define DAY_MS  86400000LL
/* the reference series: days 0..SPAN-1 */
#define SPAN 10000

static char *tmpdir;
static char path[4200];
static mm_spec_t spec;
static mm_trainer_store_t store;
static char errstr[1024];
static char col_price[] = "price", col_promo[] = "promo";

static void setup(void) {
    tmpdir = mmt_tmpdir("trainer_chunks");
    cr_assert_not_null(tmpdir);
    snprintf(path, sizeof(path), "%s/trainer.db", tmpdir);
    memset(&spec, 0, sizeof(spec));
    spec.name = "sales";
    spec.freq = MM_FREQ_DAY;
    spec.retrain.on_end_of_load = true;
    spec.feature_columns[0] = col_price;
    spec.feature_columns[1] = col_promo;
    spec.n_feature_columns = 2;
    snprintf(spec.hash, sizeof(spec.hash), "%064d", 7);
}

static void open_store(void) {
    cr_assert_eq(mm_trainer_store_open(&store, path, &spec, SERVICE, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
}

static void teardown(void) {
    mm_trainer_store_close(&store);
    mmt_rmtree(tmpdir);
    free(tmpdir);
}

TestSuite(trainer_chunks, .init = setup, .fini = teardown);

/* ------------------------------------------------------------ helpers */

static uint64_t rng_state = 88172645463325252ULL;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* A batch owning its arrays. */
typedef struct owned_batch {
    mm_observation_batch_t b;
    mm_obs_column_t columns[2];
    const char *entities[2];
} owned_batch_t;

static owned_batch_t *batch_new(int seq, size_t n, const char *load) {
    owned_batch_t *ob = calloc(1, sizeof(*ob));
    cr_assert_not_null(ob);
    ob->b.partition_key = KEY;
    ob->b.load_id = load;
    ob->b.spec_hash = spec.hash;
    ob->b.batch_seq = seq;
    ob->b.load_rows_for_key = -1;
    ob->b.load_batches_for_key = -1;
    ob->b.n_rows = n;
    ob->b.time_ms = calloc(n, sizeof(int64_t));
    ob->b.target = calloc(n, sizeof(double));
    ob->columns[0] = (mm_obs_column_t){.name = col_price, .values = calloc(n, sizeof(double))};
    ob->columns[1] = (mm_obs_column_t){.name = col_promo, .values = calloc(n, sizeof(double))};
    ob->b.columns = ob->columns;
    ob->b.n_columns = 2;
    return ob;
}

static void batch_free(owned_batch_t *ob) {
    free(ob->b.time_ms);
    free(ob->b.target);
    free(ob->columns[0].values);
    free(ob->columns[1].values);
    free(ob->b.entity_of_row);
    free(ob);
}

static mm_trainer_batch_outcome_t apply(owned_batch_t *ob, int64_t offset) {
    mm_trainer_batch_outcome_t outcome;
    cr_assert_eq(mm_trainer_store_apply_batch(&store, TOPIC, 0, offset, &ob->b, &outcome, errstr,
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

static void read_history(mm_trainer_history_t *h) {
    cr_assert_eq(mm_trainer_store_read_history(store.db, KEY, 2, h, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
}

/* Chunks of one (key, entity) whose time ranges overlap: must be none. */
static int64_t overlapping_chunks(void) {
    return query("SELECT COUNT(*) FROM history_chunks a JOIN history_chunks b ON "
                 "a.partition_key = b.partition_key AND a.entity = b.entity AND a.t_min < b.t_min "
                 "AND a.t_max >= b.t_min");
}

/* ------------------------------------------------------------ encoding */

Test(trainer_chunks, a_chunk_round_trips_every_value) {
    mm_trainer_rows_t rows = {.n_exog = 2};
    cr_assert(mm_trainer_rows_reserve(&rows, 3000));
    for (size_t i = 0; i < 3000; i++) {
        rows.t[i] = -5 * DAY_MS + (int64_t)(i * i) * 1000; /* irregular, from before 1970 */
        rows.y[i] = i % 7 == 0 ? NAN : (double)(i % 13) - 6.5;
        rows.x[2 * i] = i % 5 == 0 ? NAN : 1.0 / (double)(i + 1);
        rows.x[2 * i + 1] = (double)(i % 2);
    }
    rows.n = 3000;
    mm_buf_t blob;
    mm_buf_init(&blob, MM_BUF_CAP_MESSAGE);
    cr_assert_eq(mm_trainer_chunk_encode(&rows, 1000, 2000, &blob, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    cr_expect_lt(blob.len, 2000 * 4 * sizeof(double), "deflated");

    mm_trainer_rows_t back = {.n_exog = 2};
    cr_assert_eq(mm_trainer_chunk_decode(blob.data, blob.len, &back, "t", errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_assert_eq(back.n, 2000u);
    for (size_t i = 0; i < 2000; i++) {
        cr_assert_eq(back.t[i], rows.t[1000 + i]);
        cr_assert_eq(memcmp(&back.y[i], &rows.y[1000 + i], sizeof(double)), 0, "row %zu", i);
        cr_assert_eq(memcmp(&back.x[2 * i], &rows.x[2 * (1000 + i)], 2 * sizeof(double)), 0);
    }

    /* read with a third column the chunk does not have: NaN */
    mm_trainer_rows_t wider = {.n_exog = 3};
    cr_assert_eq(mm_trainer_chunk_decode(blob.data, blob.len, &wider, "t", errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_expect(isnan(wider.x[2]) && wider.x[1] == rows.x[2 * 1000 + 1]);

    /* damage: truncated, a flipped payload byte, not a chunk */
    mm_trainer_rows_t bad = {.n_exog = 2};
    cr_expect_eq(mm_trainer_chunk_decode(blob.data, blob.len / 2, &bad, "store=1/item=1", errstr,
                                         sizeof(errstr)),
                 MM_ERR_PARSE);
    cr_expect(strstr(errstr, "store=1/item=1") != NULL, "names what: %s", errstr);
    blob.data[blob.len / 2] ^= 0xff;
    cr_expect_eq(mm_trainer_chunk_decode(blob.data, blob.len, &bad, "t", errstr, sizeof(errstr)),
                 MM_ERR_PARSE);
    cr_expect_eq(mm_trainer_chunk_decode("hello", 5, &bad, "t", errstr, sizeof(errstr)),
                 MM_ERR_PARSE);
    cr_expect_eq(bad.n, 0u, "nothing appended from a damaged chunk");
    mm_buf_free(&blob);
    mm_trainer_rows_free(&rows);
    mm_trainer_rows_free(&back);
    mm_trainer_rows_free(&wider);
    mm_trainer_rows_free(&bad);
}

/* ------------------------------------------------------------ merging */

Test(trainer_chunks, batches_in_any_order_read_back_as_the_last_value_per_time) {
    open_store();
    static double want[SPAN], want_price[SPAN];
    int64_t offset = 0;
    /* a load in time order, in batches of 5000 (more than a chunk), then 60 batches of
     * random days, sizes and values (re-sent rows, duplicates within a batch) */
    for (int seq = 0; seq < 2; seq++) {
        owned_batch_t *ob = batch_new(seq, SPAN / 2, "load-1");
        for (size_t i = 0; i < SPAN / 2; i++) {
            int64_t day = seq * (SPAN / 2) + (int64_t)i;
            ob->b.time_ms[i] = day * DAY_MS;
            ob->b.target[i] = want[day] = (double)(day % 97);
            ob->columns[0].values[i] = want_price[day] = 1.5 * (double)day;
            ob->columns[1].values[i] = 0;
        }
        apply(ob, offset++);
        batch_free(ob);
    }
    cr_expect_gt(query("SELECT COUNT(*) FROM history_chunks"), 2, "split at the chunk size");
    for (int seq = 2; seq < 62; seq++) {
        size_t n = 1 + rnd() % (seq % 3 == 0 ? 3000 : 40);
        owned_batch_t *ob = batch_new(seq, n, "load-2");
        int64_t base = (int64_t)(rnd() % SPAN);
        for (size_t i = 0; i < n; i++) {
            int64_t day = (base + (int64_t)(rnd() % (2 * n + 1))) % SPAN;
            ob->b.time_ms[i] = day * DAY_MS;
            ob->b.target[i] = want[day] = 1000.0 + (double)(rnd() % 1000);
            ob->columns[0].values[i] = want_price[day] = (double)seq;
        }
        apply(ob, offset++);
        batch_free(ob);
    }
    cr_expect_eq(overlapping_chunks(), 0);
    cr_expect_eq(query("SELECT MAX(n_rows) FROM history_chunks"), MM_TRAINER_CHUNK_ROWS);

    mm_trainer_history_t h;
    read_history(&h);
    cr_assert_eq(h.n, (size_t)SPAN);
    for (size_t i = 0; i < h.n; i++) {
        cr_assert_eq(h.time_ms[i], (int64_t)i * DAY_MS, "day %zu", i);
        cr_assert_float_eq(h.y[i], want[i], 0, "day %zu", i);
        cr_assert_float_eq(h.x[2 * i], want_price[i], 0, "day %zu", i);
    }
    mm_trainer_history_clear(&h);
    cr_expect_eq(query("SELECT SUM(n_rows) FROM history_chunks"), SPAN);
}

Test(trainer_chunks, daily_appends_fill_the_last_chunk) {
    open_store();
    for (int day = 0; day < 300; day++) {
        owned_batch_t *ob = batch_new(day, 1, "daily");
        ob->b.time_ms[0] = day * DAY_MS;
        ob->b.target[0] = day;
        apply(ob, day);
        batch_free(ob);
    }
    /* chunks of MM_TRAINER_CHUNK_MERGE_ROWS + 1 rows: 129 + 129 + 42 */
    cr_expect_eq(query("SELECT COUNT(*) FROM history_chunks"),
                 300 / (MM_TRAINER_CHUNK_MERGE_ROWS + 1) + 1, "a few chunks, not 300");
    cr_expect_eq(query("SELECT MAX(n_rows) FROM history_chunks"), MM_TRAINER_CHUNK_MERGE_ROWS + 1);
    cr_expect_eq(query("SELECT SUM(n_rows) FROM history_chunks"), 300);
    cr_expect_eq(overlapping_chunks(), 0);
}

Test(trainer_chunks, a_batch_is_applied_once_across_a_restart) {
    open_store();
    owned_batch_t *ob = batch_new(0, 100, "load-1");
    for (size_t i = 0; i < 100; i++) {
        ob->b.time_ms[i] = (int64_t)i * DAY_MS;
        ob->b.target[i] = 1.0;
    }
    ob->b.end_of_load = true;
    cr_expect(apply(ob, 41).fresh);
    mm_trainer_history_t before;
    read_history(&before);
    mm_trainer_store_close(&store);

    open_store();
    for (size_t i = 0; i < 100; i++) ob->b.target[i] = 2.0; /* same batch, other values */
    cr_expect_not(apply(ob, 41).fresh, "a redelivery after the restart");
    int64_t next = 0;
    cr_assert_eq(
        mm_consumer_state_load(store.offsets, TOPIC, 0, &next, NULL, errstr, sizeof(errstr)), MM_OK,
        "%s", errstr);
    cr_expect_eq(next, 42);
    mm_trainer_history_t after;
    read_history(&after);
    cr_expect_eq(after.n, 100u);
    cr_expect_float_eq(after.y[50], 1.0, 0, "the first delivery's value");
    cr_expect_str_eq(after.digest, before.digest);
    cr_expect_eq(after.generation, before.generation);
    mm_trainer_history_clear(&before);
    mm_trainer_history_clear(&after);
    batch_free(ob);
}

/* ------------------------------------------------------------ migration */

/* Rows of the v2 fixture: two entities, a gap (missing target) inside, planned rows after
 * the last observation, -0 and prices with a missing one; more than a chunk for machine=1. */
#define M1_ROWS 5000
#define M2_ROWS 40

static void fixture_row(int e, int i, int64_t *t, double *y, double x[2]) {
    *t = (int64_t)i * DAY_MS;
    int n = e == 0 ? M1_ROWS : M2_ROWS;
    *y = (i == 7 || i >= n - 3) ? NAN : (i == 3 ? -0.0 : (double)((i * 31 + e) % 50));
    x[0] = i == 11 ? NAN : 0.25 * (double)i;
    x[1] = (double)(i % 2);
}

Test(trainer_chunks, a_v2_store_moves_into_chunks_with_its_digest) {
    static const char *const entity[] = {"machine=1", "machine=2"};
    /* the digest of the same data, arriving as batches on a new store */
    spec.n_entity_columns = 1;
    open_store();
    for (int e = 0; e < 2; e++) {
        int n = e == 0 ? M1_ROWS : M2_ROWS;
        owned_batch_t *ob = batch_new(e, (size_t)n, "load-1");
        ob->b.n_entities = 1;
        ob->entities[0] = entity[e];
        ob->b.entities = ob->entities;
        ob->b.n_entity_of_row = (size_t)n;
        ob->b.entity_of_row = calloc((size_t)n, sizeof(int32_t));
        for (int i = 0; i < n; i++) {
            double x[2];
            fixture_row(e, i, &ob->b.time_ms[i], &ob->b.target[i], x);
            ob->columns[0].values[i] = x[0];
            ob->columns[1].values[i] = x[1];
        }
        apply(ob, e);
        batch_free(ob);
    }
    mm_trainer_history_t fresh;
    read_history(&fresh);
    mm_trainer_store_close(&store);

    /* a store at schema v2 with the same rows */
    snprintf(path, sizeof(path), "%s/v2-trainer.db", tmpdir);
    mm_db_t *db = NULL;
    cr_assert_eq(mm_db_open_err(&db, path, mm_trainer_migrations, 2, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    sqlite3_stmt *ins = NULL;
    cr_assert_eq(mm_db_prepare(db, &ins,
                               "INSERT INTO history(partition_key, entity, t, y, x) "
                               "VALUES (?1, ?2, ?3, ?4, ?5)",
                               errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_assert_eq(mm_db_begin(db, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    for (int e = 1; e >= 0; e--) /* any order: the primary key orders them */
        for (int i = 0; i < (e == 0 ? M1_ROWS : M2_ROWS); i++) {
            int64_t t;
            double y, x[2];
            fixture_row(e, i, &t, &y, x);
            sqlite3_bind_text(ins, 1, KEY, -1, SQLITE_STATIC);
            sqlite3_bind_text(ins, 2, entity[e], -1, SQLITE_STATIC);
            sqlite3_bind_int64(ins, 3, t);
            if (isnan(y))
                sqlite3_bind_null(ins, 4);
            else
                sqlite3_bind_double(ins, 4, y);
            sqlite3_bind_blob(ins, 5, x, sizeof(x), SQLITE_TRANSIENT);
            cr_assert_eq(mm_db_step_done(db, ins, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
        }
    cr_assert_eq(mm_db_exec(db,
                            "INSERT INTO keys(partition_key, generation, new_rows, last_load_id) "
                            "VALUES ('" KEY "', 2, 5000, 'load-1')",
                            errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_assert_eq(mm_db_commit(db, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    sqlite3_finalize(ins);
    mm_db_close(db);

    open_store();
    cr_expect_eq(query("SELECT COUNT(*) FROM sqlite_master WHERE name = 'history'"), 0);
    cr_expect_eq(query("SELECT SUM(n_rows) FROM history_chunks"), M1_ROWS + M2_ROWS);
    cr_expect_eq(query("SELECT COUNT(*) FROM history_chunks WHERE entity = 'machine=1'"), 2,
                 "5000 rows: two chunks");
    cr_expect_eq(overlapping_chunks(), 0);
    mm_trainer_history_t moved;
    read_history(&moved);
    cr_expect_eq(moved.n, fresh.n);
    cr_expect_eq(moved.n, (size_t)(M1_ROWS - 3 + M2_ROWS - 3), "planned rows are not history");
    cr_expect_str_eq(moved.digest, fresh.digest, "same data, same digest, same train id");
    cr_expect_eq(moved.generation, 2);
    cr_expect_str_eq(moved.last_load_id, "load-1");

    /* the v2 reader's digest, over (entity, time, target, exogenous) of each row */
    mm_sha256_ctx_t *sha = mm_sha256_new();
    for (int e = 0; e < 2; e++)
        for (int i = 0; i < (e == 0 ? M1_ROWS : M2_ROWS) - 3; i++) {
            int64_t t;
            double y, x[2];
            fixture_row(e, i, &t, &y, x);
            if (isnan(y)) y = NAN;
            if (y == 0) y = 0.0; /* SQLite stored a whole REAL as the integer 0 */
            mm_sha256_update(sha, entity[e], strlen(entity[e]) + 1);
            mm_sha256_update(sha, &t, sizeof(t));
            mm_sha256_update(sha, &y, sizeof(y));
            mm_sha256_update(sha, x, sizeof(x));
        }
    char want[MM_SHA256_HEX_LEN + 1];
    mm_sha256_final_hex(sha, want);
    cr_expect_str_eq(moved.digest, want);
    mm_trainer_history_clear(&fresh);
    mm_trainer_history_clear(&moved);
}
