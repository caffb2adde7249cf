/*
 * test_registry.c - unit tests of common/src/registry*.c: schema, version
 * rows, aliases, the audit log, the list/versions queries and the manual
 * promote/rollback primitives, against a fresh SQLite file. Versions are
 * inserted as judged candidates the way mm-promoter does, without a policy.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "mm/avro.h"
#include "mm/kafka.h"
#include "mm/outbox.h"
#include "mm/registry.h"
#include "mm/util.h"
#include "support.h"

#define KEY "store=1/item=1"

static char *tmpdir;
static char path[4096];
static mm_db_t *db;
static char errstr[1024];

static void setup(void) {
    tmpdir = mmt_tmpdir("registry");
    cr_assert_not_null(tmpdir);
    snprintf(path, sizeof(path), "%s/registry.db", tmpdir);
    db = mm_registry_open(path, errstr, sizeof(errstr));
    cr_assert_not_null(db, "%s", errstr);
}

static void teardown(void) {
    mm_db_close(db);
    mmt_rmtree(tmpdir);
    free(tmpdir);
}

TestSuite(registry, .init = setup, .fini = teardown);

#define APPROVED MM_REGISTRY_STATUS_APPROVED
#define REJECTED MM_REGISTRY_STATUS_REJECTED
#define FALLBACK MM_REGISTRY_STATUS_FALLBACK

/*
 * Register a judged candidate of @p key with what training adjusted for it
 * (NULL: nothing); approved ones and fallbacks get a production name.
 */
static int32_t add_adjusted_version(const char *key, const char *train_id, double mase,
                                    mm_registry_status_t status, const char *adjustments) {
    bool approved = status == APPROVED;
    char uri[256], production[256];
    snprintf(uri, sizeof(uri), "candidates/sales/%s/%s.mm", key, train_id);
    snprintf(production, sizeof(production), "production/sales/%s/%s.mm", key, train_id);
    mm_metric_t metrics[] = {{.name = "mase", .value = mase}};
    mm_metric_t baseline[] = {{.name = "mase", .value = 1.0}};
    mm_model_trained_t rec = {0};
    rec.partition_key = (char *)key;
    rec.train_id = (char *)train_id;
    rec.dataset = (char *)"sales";
    rec.spec_hash = (char *)"hash";
    rec.algorithm = (char *)"ets";
    rec.artifact_uri = uri;
    rec.artifact_sha256 = (char *)"00";
    rec.artifact_size = 2;
    rec.metrics = metrics;
    rec.n_metrics = 1;
    rec.baseline = baseline;
    rec.n_baseline = 1;
    rec.data_end_ms = 86400000;
    rec.n_rows = 10;
    rec.fallback = status == FALLBACK;
    rec.fallback_reason = rec.fallback ? (char *)"12 points < min_history 56" : NULL;
    rec.adjustments = adjustments;
    int32_t version = 0;
    cr_assert_eq(mm_registry_next_version(db, key, &version, errstr, sizeof(errstr)), MM_OK);
    mm_registry_judged_t judged = {.rec = &rec,
                                   .version = version,
                                   .dataset = "sales",
                                   .production_uri = status != REJECTED ? production : NULL,
                                   .status = status,
                                   .reason = approved             ? "approved: test"
                                             : status == FALLBACK ? "fallback: test"
                                                                  : "rejected: test",
                                   .failed_check = approved ? NULL : "threshold",
                                   .now_ms = 1000 + version};
    cr_assert_eq(mm_registry_version_insert(db, &judged, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    return version;
}

static int32_t add_version(const char *key, const char *train_id, double mase,
                           mm_registry_status_t status) {
    return add_adjusted_version(key, train_id, mase, status, NULL);
}

static int64_t count(const char *sql) {
    int64_t n = -1;
    bool found = false;
    cr_assert_eq(mm_db_query_i64(db, sql, &n, &found, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    return n;
}

Test(registry, opens_at_the_current_schema_version_and_reopens_unchanged) {
    cr_expect_eq(count("PRAGMA user_version"), mm_registry_schema_version());
    cr_expect_eq(count("SELECT count(*) FROM sqlite_master WHERE name IN ('versions', 'aliases',"
                       " 'tags', 'audit', 'consumed_offsets', 'outbox')"),
                 6);
    mm_db_close(db);
    db = mm_registry_open(path, errstr, sizeof(errstr));
    cr_assert_not_null(db, "%s", errstr);
    cr_expect_eq(count("PRAGMA user_version"), mm_registry_schema_version());
    cr_expect_null(mm_registry_open("", errstr, sizeof(errstr)));
}

Test(registry, versions_are_numbered_per_key_and_read_back_whole) {
    cr_expect_eq(add_version(KEY, "t1", 0.8, APPROVED), 1);
    cr_expect_eq(add_version(KEY, "t2", 1.2, REJECTED), 2);
    cr_expect_eq(add_version("store=2/item=1", "t3", 0.5, APPROVED), 1);

    mm_registry_version_t v;
    bool found = false;
    cr_assert_eq(mm_registry_version_get(db, KEY, 2, &v, &found, errstr, sizeof(errstr)), MM_OK);
    cr_assert(found);
    cr_expect_str_eq(v.train_id, "t2");
    cr_expect_str_eq(v.status, "rejected");
    cr_expect_null(v.production_uri, "a rejected version is not in production");
    cr_expect_str_eq(v.metrics, "{\"mase\":1.2}");
    cr_expect_eq(v.data_end_ms, 86400000);
    mm_registry_version_clear(&v);
    cr_expect_eq(count("SELECT count(*) FROM tags WHERE tag = 'failed_check'"
                       " AND value = 'threshold'"),
                 1);

    cr_assert_eq(mm_registry_version_get(db, KEY, 9, &v, &found, errstr, sizeof(errstr)), MM_OK);
    cr_expect_not(found);
    int64_t n = 0;
    cr_assert_eq(mm_registry_version_count(db, KEY, &n, errstr, sizeof(errstr)), MM_OK);
    cr_expect_eq(n, 2);

    char key[64];
    int32_t version = 0;
    mm_registry_status_t status = REJECTED;
    cr_assert_eq(mm_registry_find_train_id(db, "t3", key, sizeof(key), &version, &status, errstr,
                                           sizeof(errstr)),
                 MM_OK);
    cr_expect_str_eq(key, "store=2/item=1");
    cr_expect_eq(version, 1);
    cr_expect_eq(status, APPROVED);
    cr_assert_eq(mm_registry_find_train_id(db, "nope", key, sizeof(key), &version, &status, errstr,
                                           sizeof(errstr)),
                 MM_OK);
    cr_expect_eq(version, 0);
}

Test(registry, aliases_are_set_moved_and_removed) {
    add_version(KEY, "t1", 0.8, APPROVED);
    add_version(KEY, "t2", 0.7, APPROVED);
    int32_t version = -1;
    cr_assert_eq(
        mm_registry_alias_get(db, KEY, MM_ALIAS_CHAMPION, &version, errstr, sizeof(errstr)), MM_OK);
    cr_expect_eq(version, 0, "unset");
    cr_assert_eq(mm_registry_alias_set(db, KEY, MM_ALIAS_CHAMPION, 1, 5, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_assert_eq(mm_registry_alias_set(db, KEY, MM_ALIAS_CHAMPION, 2, 6, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    mm_registry_alias_get(db, KEY, MM_ALIAS_CHAMPION, &version, errstr, sizeof(errstr));
    cr_expect_eq(version, 2);
    mm_registry_version_t champion;
    bool found = false;
    cr_assert_eq(mm_registry_champion_get(db, KEY, &champion, &found, errstr, sizeof(errstr)),
                 MM_OK);
    cr_assert(found);
    cr_expect_str_eq(champion.train_id, "t2");
    cr_expect_str_eq(champion.aliases, MM_ALIAS_CHAMPION);
    mm_registry_version_clear(&champion);
    cr_assert_eq(mm_registry_alias_set(db, KEY, MM_ALIAS_CHAMPION, 0, 7, errstr, sizeof(errstr)),
                 MM_OK);
    mm_registry_alias_get(db, KEY, MM_ALIAS_CHAMPION, &version, errstr, sizeof(errstr));
    cr_expect_eq(version, 0, "removed");
}

static bool collect_audit(void *opaque, const mm_registry_audit_entry_t *e) {
    char *out = opaque;
    size_t used = strlen(out);
    snprintf(out + used, 256 - used, "%s:%d:%s;", e->action, (int)e->version,
             e->decision ? e->decision : "-");
    return true;
}

Test(registry, audit_rows_come_back_newest_first_and_limited) {
    add_version(KEY, "t1", 0.8, APPROVED);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(mm_registry_audit_add(
                         db, 100 + i, KEY, i == 2 ? 0 : 1, i == 0 ? "judge" : "dead_letter",
                         i == 0 ? "approved" : NULL, "why", "me", errstr, sizeof(errstr)),
                     MM_OK, "%s", errstr);
    char seen[256] = "";
    cr_assert_eq(mm_registry_audit_recent(db, KEY, 2, collect_audit, seen, errstr, sizeof(errstr)),
                 MM_OK);
    cr_expect_str_eq(seen, "dead_letter:0:-;dead_letter:1:-;");
}

static bool collect_keys(void *opaque, const mm_registry_key_summary_t *k) {
    char *out = opaque;
    size_t used = strlen(out);
    snprintf(out + used, 512 - used, "%s c%d p%d x%d %s %.2f/%.2f n%lld;", k->partition_key,
             (int)k->champion, (int)k->previous, (int)k->challenger,
             k->algorithm ? k->algorithm : "-", k->value, k->baseline, (long long)k->versions);
    return true;
}

Test(registry, list_summarises_each_key_with_its_aliases_and_champion_metric) {
    add_version(KEY, "t1", 0.8, APPROVED);
    add_version(KEY, "t2", 1.3, REJECTED);
    add_version("store=2/item=1", "t3", 1.4, REJECTED);
    mm_registry_alias_set(db, KEY, MM_ALIAS_CHAMPION, 1, 5, errstr, sizeof(errstr));
    mm_registry_alias_set(db, KEY, MM_ALIAS_CHALLENGER, 2, 5, errstr, sizeof(errstr));
    char seen[512] = "";
    cr_assert_eq(mm_registry_list(db, "mase", collect_keys, seen, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    cr_expect_str_eq(seen, "store=1/item=1 c1 p0 x2 ets 0.80/1.00 n2;"
                           "store=2/item=1 c0 p0 x0 - nan/nan n1;");
}

Test(registry, promote_and_rollback_move_the_champion_and_queue_decisions) {
    add_version(KEY, "t1", 0.8, APPROVED);
    add_version(KEY, "t2", 0.7, APPROVED);
    mm_registry_alias_set(db, KEY, MM_ALIAS_CHAMPION, 1, 5, errstr, sizeof(errstr));
    mm_registry_change_t change;
    cr_assert_eq(
        mm_registry_promote(db, NULL, KEY, 2, "better", "ops", &change, errstr, sizeof(errstr)),
        MM_OK, "%s", errstr);
    cr_expect(change.changed);
    cr_expect_eq(change.champion, 2);
    cr_expect(strstr(change.reason, "v2 replaces champion v1 by hand: better") != NULL, "%s",
              change.reason);
    cr_expect_eq(count("SELECT count(*) FROM outbox WHERE topic = '" MM_TOPIC_DECISIONS "'"), 1);

    cr_assert_eq(mm_registry_rollback(db, KEY, NULL, NULL, &change, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    cr_expect_eq(change.champion, 1);
    cr_expect_eq(count("SELECT count(*) FROM audit WHERE action = 'rollback'"
                       " AND actor = '" MM_REGISTRY_DEFAULT_ACTOR "'"
                       " AND reason LIKE '%(no reason given)'"),
                 1);
    cr_expect_eq(count("SELECT count(*) FROM outbox"), 2);
    cr_expect_eq(mm_registry_rollback(db, KEY, "x", "ops", &change, errstr, sizeof(errstr)),
                 MM_ERR_NOT_FOUND, "nothing older than v1");
    cr_expect_eq(mm_registry_promote(db, NULL, "store=9/item=9", 1, "x", "ops", &change, errstr,
                                     sizeof(errstr)),
                 MM_ERR_NOT_FOUND);
}

/* ------------------------------------------------------------ fallbacks */

Test(registry, fallback_versions_keep_their_status_reason_and_failed_checks_read_back) {
    add_version(KEY, "t1", 1.3, REJECTED);
    add_version(KEY, "t2", NAN, FALLBACK);
    mm_registry_version_t v;
    bool found = false;
    cr_assert_eq(mm_registry_version_get(db, KEY, 2, &v, &found, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    cr_assert(found);
    cr_expect_str_eq(v.status, "fallback");
    cr_expect(v.fallback);
    cr_expect_str_eq(v.fallback_reason, "12 points < min_history 56");
    cr_expect_null(v.failed_check, "a fallback failed no check: it was not judged");
    cr_expect_not_null(v.production_uri);
    mm_registry_version_clear(&v);
    cr_assert_eq(mm_registry_version_get(db, KEY, 1, &v, &found, errstr, sizeof(errstr)), MM_OK);
    cr_expect_str_eq(v.failed_check, "threshold");
    cr_expect_null(v.fallback_reason);
    mm_registry_version_clear(&v);

    char key[64];
    int32_t version = 0;
    mm_registry_status_t status = APPROVED;
    cr_assert_eq(mm_registry_find_train_id(db, "t2", key, sizeof(key), &version, &status, errstr,
                                           sizeof(errstr)),
                 MM_OK);
    cr_expect_eq(status, FALLBACK);
    cr_expect_str_eq(mm_registry_status_name(FALLBACK), "fallback");
}

Test(registry, a_version_keeps_what_training_adjusted_for_its_key) {
    add_adjusted_version(KEY, "t1", 0.8, APPROVED,
                         "season_length 7 -> 1: 40 points < 2 seasons + 3 x 5 backtest");
    add_version(KEY, "t2", 0.7, APPROVED);
    mm_registry_version_t v;
    bool found = false;
    cr_assert_eq(mm_registry_version_get(db, KEY, 1, &v, &found, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    cr_assert(found);
    cr_expect_str_eq(v.adjustments, "season_length 7 -> 1: 40 points < 2 seasons + 3 x 5 backtest");
    mm_registry_version_clear(&v);
    cr_assert_eq(mm_registry_version_get(db, KEY, 2, &v, &found, errstr, sizeof(errstr)), MM_OK);
    cr_expect_null(v.adjustments, "nothing adjusted reads back as NULL");
    mm_registry_version_clear(&v);
}

Test(registry, served_model_is_the_champion_else_the_fallback_alias_else_none) {
    mm_registry_version_t v;
    bool found = true, is_fallback = true;
    cr_assert_eq(mm_registry_served_get(db, KEY, &v, &found, &is_fallback, errstr, sizeof(errstr)),
                 MM_OK);
    cr_expect_not(found);
    cr_expect_not(is_fallback);

    add_version(KEY, "t1", NAN, FALLBACK);
    cr_assert_eq(mm_registry_alias_set(db, KEY, MM_ALIAS_FALLBACK, 1, 5, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_assert_eq(mm_registry_served_get(db, KEY, &v, &found, &is_fallback, errstr, sizeof(errstr)),
                 MM_OK);
    cr_assert(found);
    cr_expect(is_fallback);
    cr_expect_str_eq(v.train_id, "t1");
    mm_registry_version_clear(&v);

    add_version(KEY, "t2", 0.7, APPROVED);
    cr_assert_eq(mm_registry_alias_set(db, KEY, MM_ALIAS_CHAMPION, 2, 6, errstr, sizeof(errstr)),
                 MM_OK);
    cr_assert_eq(mm_registry_served_get(db, KEY, &v, &found, &is_fallback, errstr, sizeof(errstr)),
                 MM_OK);
    cr_assert(found);
    cr_expect_not(is_fallback, "a champion is served before any fallback");
    cr_expect_str_eq(v.train_id, "t2");
    mm_registry_version_clear(&v);
}

Test(registry, promote_ends_fallback_service_and_stats_count_fallbacks) {
    add_version(KEY, "t1", NAN, FALLBACK);
    add_version(KEY, "t2", 1.3, REJECTED);
    add_version("store=2/item=1", "t3", NAN, FALLBACK);
    mm_registry_alias_set(db, KEY, MM_ALIAS_FALLBACK, 1, 5, errstr, sizeof(errstr));
    mm_registry_alias_set(db, "store=2/item=1", MM_ALIAS_FALLBACK, 1, 5, errstr, sizeof(errstr));
    mm_registry_stats_t st;
    cr_assert_eq(mm_registry_stats(db, &st, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_expect_eq(st.fallback_versions, 2);
    cr_expect_eq(st.fallback_served, 2);
    cr_expect_eq(st.fallback, 1, "store=1's newest version is the rejected v2");
    cr_expect_eq(st.champions, 0);

    mm_registry_change_t change;
    cr_assert_eq(
        mm_registry_promote(db, NULL, KEY, 1, "serve it", "ops", &change, errstr, sizeof(errstr)),
        MM_OK, "%s", errstr);
    int32_t version = -1;
    mm_registry_alias_get(db, KEY, MM_ALIAS_FALLBACK, &version, errstr, sizeof(errstr));
    cr_expect_eq(version, 0, "a key with a champion is not served a fallback");
    cr_assert_eq(mm_registry_stats(db, &st, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_expect_eq(st.fallback_served, 1);
    cr_expect_eq(st.champions, 1);
}

Test(registry, stats_count_versions_audit_and_champion_means) {
    add_version(KEY, "t1", 0.8, APPROVED);
    add_version(KEY, "t2", 0.6, APPROVED);
    add_version(KEY, "t3", 1.2, REJECTED);
    add_version("store=2/item=1", "t4", 0.5, APPROVED);
    add_version("store=3/item=1", "t5", NAN, FALLBACK);
    mm_registry_alias_set(db, KEY, MM_ALIAS_CHAMPION, 1, 5, errstr, sizeof(errstr));
    mm_registry_alias_set(db, "store=2/item=1", MM_ALIAS_CHAMPION, 1, 5, errstr, sizeof(errstr));
    mm_registry_alias_set(db, "store=3/item=1", MM_ALIAS_FALLBACK, 1, 5, errstr, sizeof(errstr));
    mm_registry_change_t change;
    cr_assert_eq(
        mm_registry_promote(db, NULL, KEY, 2, "better", "ops", &change, errstr, sizeof(errstr)),
        MM_OK, "%s", errstr);
    cr_assert_eq(
        mm_registry_rollback(db, KEY, "worse live", "ops", &change, errstr, sizeof(errstr)), MM_OK,
        "%s", errstr);
    cr_assert_eq(
        mm_registry_promote(db, NULL, KEY, 2, "again", "ops", &change, errstr, sizeof(errstr)),
        MM_OK, "%s", errstr);

    mm_registry_stats_t st;
    cr_assert_eq(mm_registry_stats(db, &st, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_expect_eq(st.keys, 3);
    cr_expect_eq(st.versions, 5);
    cr_expect_eq(st.approved, 3);
    cr_expect_eq(st.rejected, 1);
    cr_expect_eq(st.fallback_versions, 1);
    cr_expect_eq(st.fallback, 1, "store=3's only version is a declared fallback");
    cr_expect_eq(st.fallback_served, 1);
    cr_expect_eq(st.champions, 2);
    cr_expect_eq(st.decided_keys, 1, "only store=1 has decisions in the audit log");
    cr_expect_eq(st.promoted, 2);
    cr_expect_eq(st.rolled_back, 1);
    cr_expect_eq(st.outbox, 3, "one decision per manual operation");
    /* Champions: store=1 v2 (0.6) and store=2 v1 (0.5), baselines 1.0. */
    cr_expect_eq(st.metrics[MM_METRIC_MASE].n, 2);
    cr_expect_float_eq(st.metrics[MM_METRIC_MASE].model, 0.55, 1e-12);
    cr_expect_float_eq(st.metrics[MM_METRIC_MASE].baseline, 1.0, 1e-12);
    cr_expect_eq(st.metrics[MM_METRIC_RMSE].n, 0);
    cr_expect(isnan(st.metrics[MM_METRIC_RMSE].model));
    cr_expect(isnan(st.metrics[MM_METRIC_RMSE].baseline));
}

/*
 * The schema as released at version 1, verbatim: a registry written by that
 * code must open, keep its rows, and accept what version 2 added.
 */
static const char *const registry_v1[] = {
    "CREATE TABLE versions ("
    "  partition_key TEXT NOT NULL, version INTEGER NOT NULL CHECK (version > 0),"
    "  train_id TEXT NOT NULL UNIQUE, dataset TEXT NOT NULL, spec_hash TEXT NOT NULL,"
    "  algorithm TEXT NOT NULL, artifact_uri TEXT NOT NULL, production_uri TEXT,"
    "  sha256 TEXT NOT NULL, size INTEGER NOT NULL, artifact_format INTEGER NOT NULL,"
    "  metrics TEXT NOT NULL, baseline TEXT NOT NULL, data_start_ms INTEGER NOT NULL,"
    "  data_end_ms INTEGER NOT NULL, n_rows INTEGER NOT NULL, data_digest TEXT, load_id TEXT,"
    "  fallback INTEGER NOT NULL DEFAULT 0, fallback_reason TEXT, trained_at_ms INTEGER,"
    "  trainer TEXT, created_at_ms INTEGER NOT NULL,"
    "  status TEXT NOT NULL CHECK (status IN ('approved', 'rejected')),"
    "  reason TEXT NOT NULL, source_topic TEXT, source_partition INTEGER, source_offset INTEGER,"
    "  PRIMARY KEY (partition_key, version));"
    "CREATE TABLE aliases (partition_key TEXT NOT NULL,"
    "  alias TEXT NOT NULL CHECK (alias IN ('champion', 'previous', 'challenger')),"
    "  version INTEGER NOT NULL, updated_at_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (partition_key, alias),"
    "  FOREIGN KEY (partition_key, version) REFERENCES versions (partition_key, version));"
    "CREATE TABLE tags (partition_key TEXT NOT NULL, version INTEGER NOT NULL,"
    "  tag TEXT NOT NULL, value TEXT, PRIMARY KEY (partition_key, version, tag),"
    "  FOREIGN KEY (partition_key, version) REFERENCES versions (partition_key, version));"
    "CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL,"
    "  partition_key TEXT, version INTEGER, action TEXT NOT NULL, decision TEXT,"
    "  reason TEXT NOT NULL, actor TEXT NOT NULL);"
    "CREATE INDEX audit_by_key ON audit (partition_key, id);"
    "CREATE TABLE consumed_offsets (topic TEXT NOT NULL, \"partition\" INTEGER NOT NULL,"
    "  next_offset INTEGER NOT NULL, updated_at_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (topic, \"partition\"));" MM_OUTBOX_TABLE_SQL,
};

/* A version row as a version 1 registry held it (no later column); rejected ones tagged. */
static void add_v1_version(int32_t version, const char *train_id, const char *status) {
    cr_assert_eq(
        mm_db_run(db, errstr, sizeof(errstr),
                  "INSERT INTO versions (partition_key, version, train_id, dataset, spec_hash,"
                  " algorithm, artifact_uri, sha256, size, artifact_format, metrics, baseline,"
                  " data_start_ms, data_end_ms, n_rows, created_at_ms, status, reason)"
                  " VALUES (?, ?, ?, 'sales', 'hash', 'ets', 'candidates/x.mm', '00', 2, 1,"
                  " '{}', '{}', 0, 86400000, 10, 1000, ?, 'test')",
                  "titt", KEY, (int64_t)version, train_id, status),
        MM_OK, "%s", errstr);
    if (strcmp(status, "rejected") == 0)
        cr_assert_eq(mm_db_run(db, errstr, sizeof(errstr),
                               "INSERT INTO tags (partition_key, version, tag, value)"
                               " VALUES (?, ?, 'failed_check', 'threshold')",
                               "ti", KEY, (int64_t)version),
                     MM_OK, "%s", errstr);
}

Test(registry, a_version_1_registry_migrates_keeping_versions_aliases_and_tags) {
    mm_db_close(db);
    char old_path[4200];
    snprintf(old_path, sizeof(old_path), "%s/v1.db", tmpdir);
    db = mm_db_open(old_path, registry_v1, 1, errstr, sizeof(errstr));
    cr_assert_not_null(db, "%s", errstr);
    add_v1_version(1, "t1", "approved");
    add_v1_version(2, "t2", "rejected");
    cr_assert_eq(mm_registry_alias_set(db, KEY, MM_ALIAS_CHAMPION, 1, 5, errstr, sizeof(errstr)),
                 MM_OK);
    cr_assert_eq(mm_registry_alias_set(db, KEY, MM_ALIAS_CHALLENGER, 2, 5, errstr, sizeof(errstr)),
                 MM_OK);
    cr_expect_neq(mm_registry_alias_set(db, KEY, MM_ALIAS_FALLBACK, 1, 5, errstr, sizeof(errstr)),
                  MM_OK, "version 1 knows no fallback alias");
    mm_db_close(db);

    db = mm_registry_open(old_path, errstr, sizeof(errstr));
    cr_assert_not_null(db, "%s", errstr);
    cr_expect_eq(count("PRAGMA user_version"), mm_registry_schema_version());
    cr_expect_eq(count("SELECT count(*) FROM versions"), 2);
    cr_expect_eq(count("SELECT count(*) FROM tags WHERE tag = 'failed_check'"), 1);
    cr_expect_eq(count("SELECT count(*) FROM sqlite_master WHERE name LIKE '%_v1'"
                       " OR name LIKE '%_v2'"),
                 0, "no migration leftovers");
    int32_t version = 0;
    mm_registry_alias_get(db, KEY, MM_ALIAS_CHAMPION, &version, errstr, sizeof(errstr));
    cr_expect_eq(version, 1);
    mm_registry_alias_get(db, KEY, MM_ALIAS_CHALLENGER, &version, errstr, sizeof(errstr));
    cr_expect_eq(version, 2);
    mm_registry_version_t v;
    bool found = false;
    cr_assert_eq(mm_registry_version_get(db, KEY, 1, &v, &found, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    cr_expect(found);
    cr_expect_null(v.adjustments, "a row from before the column has none");
    mm_registry_version_clear(&v);
    cr_expect_eq(add_adjusted_version(KEY, "t3", NAN, FALLBACK, "lags > 14 dropped"), 3);
    cr_assert_eq(mm_registry_version_get(db, KEY, 3, &v, &found, errstr, sizeof(errstr)), MM_OK);
    cr_expect_str_eq(v.adjustments, "lags > 14 dropped");
    mm_registry_version_clear(&v);
    cr_expect_eq(mm_registry_alias_set(db, KEY, MM_ALIAS_FALLBACK, 3, 6, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_expect_eq(count("SELECT count(*) FROM pragma_foreign_key_check"), 0,
                 "no dangling references");
    cr_expect_neq(mm_registry_alias_set(db, KEY, MM_ALIAS_FALLBACK, 9, 7, errstr, sizeof(errstr)),
                  MM_OK, "foreign keys still hold after the rebuild");
}
