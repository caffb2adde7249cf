/*
 * test_promoter.c - unit tests of services/promoter/ without Kafka:
 * decoded ModelTrained records are handed to mm_promoter_handle_trained()
 * against a fresh SQLite registry and a file:// blob store in a temporary
 * directory; decisions are read back from the outbox and decoded.
 *
 * Policy used throughout (unless a test says otherwise): mase < 1.0, must
 * beat the seasonal-naive baseline, and beat the champion by 2%.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "mm/avro.h"
#include "mm/blob.h"
#include "mm/blob_layout.h"
#include "mm/buf.h"
#include "mm/sha256.h"
#include "promoter.h"
#include "support.h"

#define KEY   "store=1/item=1"
#define TOPIC MM_TOPIC_MODELS

static char *tmpdir;
static char registry_path[4096];
static mm_blob_t *blob;
static mm_spec_t spec;
static mm_promoter_t *promoter;
static char errstr[1024];

static void setup(void) {
    char url[4200];
    tmpdir = mmt_tmpdir("promoter");
    cr_assert_not_null(tmpdir);
    snprintf(registry_path, sizeof(registry_path), "%s/registry.db", tmpdir);
    snprintf(url, sizeof(url), "file://%s/blobs", tmpdir);
    mm_blob_opts_t opts = {.create_container = true};
    blob = mm_blob_new(url, &opts, errstr, sizeof(errstr));
    cr_assert_not_null(blob, "%s", errstr);

    memset(&spec, 0, sizeof(spec));
    spec.name = "sales";
    spec.task = MM_TASK_FORECAST;
    snprintf(spec.hash, sizeof(spec.hash), "%064d", 7);
    spec.promotion.metric = MM_METRIC_MASE;
    spec.promotion.has_threshold = true;
    spec.promotion.op = MM_OP_LT;
    spec.promotion.threshold = 1.0;
    spec.promotion.margin = 0.02;
    spec.promotion.require_beats_baseline = true;

    mm_promoter_config_t cfg = {.registry_path = registry_path, .spec = &spec, .blob = blob};
    promoter = mm_promoter_new(&cfg, errstr, sizeof(errstr));
    cr_assert_not_null(promoter, "%s", errstr);
}

static void teardown(void) {
    mm_promoter_destroy(promoter);
    mm_blob_destroy(blob);
    mmt_rmtree(tmpdir);
    free(tmpdir);
}

TestSuite(promoter, .init = setup, .fini = teardown);

/* ------------------------------------------------------------ helpers */

/* A trained model: owns its strings and artifact (free with candidate_free). */
typedef struct candidate {
    mm_model_trained_t rec;
    mm_metric_t metrics[2];
    mm_metric_t baseline[2];
    char train_id[80];
    char uri[256];
    char sha[MM_SHA256_HEX_LEN + 1];
    char artifact[128];
} candidate_t;

/*
 * Make a candidate for @p key with the given MASE (and its baseline), whose
 * artifact (unique per @p train_tag) is stored under candidates/.
 */
static candidate_t *candidate_new(const char *key, const char *train_tag, double mase,
                                  double baseline_mase, bool store_artifact) {
    candidate_t *c = calloc(1, sizeof(*c));
    cr_assert_not_null(c);
    snprintf(c->train_id, sizeof(c->train_id), "train-%s-%s", key, train_tag);
    snprintf(c->artifact, sizeof(c->artifact), "MMMODEL artifact of %s", c->train_id);
    mm_sha256_hex(c->artifact, strlen(c->artifact), c->sha);
    snprintf(c->uri, sizeof(c->uri), "candidates/sales/%s/%s.mm", key, c->sha);
    if (store_artifact)
        cr_assert_eq(mm_blob_put_immutable(blob, c->uri, c->artifact, strlen(c->artifact), c->sha,
                                           errstr, sizeof(errstr)),
                     MM_OK, "%s", errstr);
    c->metrics[0] = (mm_metric_t){.name = "mase", .value = mase};
    c->metrics[1] = (mm_metric_t){.name = "rmse", .value = 2.5};
    c->baseline[0] = (mm_metric_t){.name = "mase", .value = baseline_mase};
    c->baseline[1] = (mm_metric_t){.name = "rmse", .value = 3.0};
    mm_model_trained_t *r = &c->rec;
    r->train_id = c->train_id;
    r->dataset = "sales";
    r->spec_hash = spec.hash;
    r->partition_key = key;
    r->algorithm = "ets";
    r->artifact_uri = c->uri;
    r->artifact_sha256 = c->sha;
    r->artifact_size = (int64_t)strlen(c->artifact);
    r->artifact_format = 1;
    r->n_metrics = 2;
    r->metrics = c->metrics;
    r->n_baseline = 2;
    r->baseline = c->baseline;
    r->data_start_ms = 1700000000000;
    r->data_end_ms = 1710000000000;
    r->n_rows = 365;
    r->data_digest = "digest";
    r->load_id = "load-1";
    r->trained_at_ms = 1710000001000;
    r->trainer = "test";
    return c;
}

static mm_promoter_outcome_t handle(candidate_t *c, int64_t offset) {
    mm_promoter_outcome_t out;
    mm_err_t err = mm_promoter_handle_trained(promoter, &c->rec, TOPIC, 0, offset, &out, errstr,
                                              sizeof(errstr));
    cr_assert_eq(err, MM_OK, "handle_trained: %s", errstr);
    return out;
}

static int64_t count(const char *sql) {
    int64_t n = -1;
    bool found = false;
    cr_assert_eq(mm_db_query_i64(mm_promoter_db(promoter), sql, &n, &found, errstr, sizeof(errstr)),
                 MM_OK, "%s: %s", sql, errstr);
    cr_assert(found, "%s returned no row", sql);
    return n;
}

static int32_t alias(const char *key, const char *name) {
    char sql[512];
    snprintf(sql, sizeof(sql),
             "SELECT coalesce((SELECT version FROM aliases WHERE partition_key = '%s'"
             " AND alias = '%s'), 0)",
             key, name);
    return (int32_t)count(sql);
}

/* Payload and topic of the newest outbox row (malloc'd payload). */
static uint8_t *last_outbox(char *topic, size_t topic_size, size_t *len) {
    sqlite3_stmt *stmt = NULL;
    cr_assert_eq(mm_db_prepare(mm_promoter_db(promoter), &stmt,
                               "SELECT topic, payload FROM outbox ORDER BY id DESC LIMIT 1", errstr,
                               sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_assert_eq(sqlite3_step(stmt), SQLITE_ROW, "the outbox is empty");
    snprintf(topic, topic_size, "%s", (const char *)sqlite3_column_text(stmt, 0));
    *len = (size_t)sqlite3_column_bytes(stmt, 1);
    uint8_t *payload = malloc(*len ? *len : 1);
    memcpy(payload, sqlite3_column_blob(stmt, 1), *len);
    sqlite3_finalize(stmt);
    return payload;
}

static void last_decision(mm_model_decision_t *decision) {
    char topic[128];
    size_t len = 0;
    uint8_t *payload = last_outbox(topic, sizeof(topic), &len);
    cr_assert_str_eq(topic, MM_TOPIC_DECISIONS);
    memset(decision, 0, sizeof(*decision));
    cr_assert_eq(mm_avro_decode_model_decision(payload, len, decision, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    free(payload);
}

static int64_t stored_offset(void) {
    int64_t next = 0;
    bool found = false;
    cr_assert_eq(mm_promoter_stored_offset(mm_promoter_db(promoter), TOPIC, 0, &next, &found,
                                           errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    return found ? next : -1;
}

static bool blob_equals(const char *name, const char *bytes) {
    mm_buf_t buf;
    mm_buf_init(&buf, MM_BUF_CAP_ARTIFACT);
    mm_err_t err = mm_blob_get(blob, name, &buf, errstr, sizeof(errstr));
    bool same = err == MM_OK && buf.len == strlen(bytes) && memcmp(buf.data, bytes, buf.len) == 0;
    mm_buf_free(&buf);
    return same;
}

static bool blob_exists(const char *name) {
    mm_buf_t buf;
    mm_buf_init(&buf, MM_BUF_CAP_ARTIFACT);
    mm_err_t err = mm_blob_get(blob, name, &buf, errstr, sizeof(errstr));
    mm_buf_free(&buf);
    return err == MM_OK;
}

static void production_of(const candidate_t *c, char *out, size_t size) {
    cr_assert_eq(mm_blob_layout_production(c->uri, out, size), MM_OK);
}

/* ------------------------------------------------------------ policy */

Test(promoter, first_good_candidate_is_approved_and_copied_to_production_with_identical_bytes) {
    candidate_t *c = candidate_new(KEY, "a", 0.71, 0.98, true);
    mm_promoter_outcome_t out = handle(c, 10);

    cr_expect_eq(out.decision, MM_DECISION_APPROVED, "reason: %s", out.reason);
    cr_expect_eq(out.version, 1);
    cr_expect_eq(out.champion, 1);
    cr_expect_not(out.replayed);
    cr_expect_str_eq(out.reason,
                     "approved: mase 0.71 < 1.00; beats baseline 0.98; no champion yet");

    char production[512];
    production_of(c, production, sizeof(production));
    cr_expect(strncmp(production, "production/sales/" KEY "/", 23) == 0, "%s", production);
    cr_expect(blob_equals(production, c->artifact), "production copy differs from the candidate");
    cr_expect(blob_equals(c->uri, c->artifact), "the candidate must stay where it was");

    cr_expect_eq(alias(KEY, MM_ALIAS_CHAMPION), 1);
    cr_expect_eq(count("SELECT count(*) FROM versions WHERE status = 'approved'"), 1);
    cr_expect_eq(count("SELECT count(*) FROM audit WHERE decision = 'approved'"), 1);

    mm_model_decision_t d;
    last_decision(&d);
    cr_expect_str_eq(d.partition_key, KEY);
    cr_expect_eq(d.decision, MM_DECISION_APPROVED);
    cr_expect_str_eq(d.candidate_train_id, c->train_id);
    cr_expect_eq(d.candidate_version, 1);
    cr_expect(d.has_production);
    cr_expect_eq(d.production.version, 1);
    cr_expect_str_eq(d.production.artifact_uri, production);
    cr_expect_str_eq(d.production.artifact_sha256, c->sha);
    cr_expect_eq(d.production.artifact_size, (int64_t)strlen(c->artifact));
    cr_expect_eq(d.production.data_end_ms, c->rec.data_end_ms);
    mm_model_decision_clear(&d);
    free(c);
}

Test(promoter, candidate_failing_the_threshold_is_rejected_with_a_reason_naming_the_metric) {
    candidate_t *c = candidate_new(KEY, "a", 1.30, 1.50, true);
    mm_promoter_outcome_t out = handle(c, 0);

    cr_expect_eq(out.decision, MM_DECISION_REJECTED);
    cr_expect_eq(out.champion, 0);
    cr_expect(strstr(out.reason, "rejected: mase 1.30 not < 1.00") != NULL, "%s", out.reason);

    char production[512];
    production_of(c, production, sizeof(production));
    cr_expect_not(blob_exists(production), "a rejected artifact must not reach production/");
    cr_expect_eq(alias(KEY, MM_ALIAS_CHAMPION), 0);
    cr_expect_eq(alias(KEY, MM_ALIAS_CHALLENGER), 1);
    cr_expect_eq(count("SELECT count(*) FROM versions WHERE status = 'rejected'"), 1);

    mm_model_decision_t d;
    last_decision(&d);
    cr_expect_eq(d.decision, MM_DECISION_REJECTED);
    cr_expect_not(d.has_production, "no champion: the decision must say there is none");
    cr_expect(strstr(d.reason, "mase") != NULL);
    mm_model_decision_clear(&d);
    free(c);
}

Test(promoter, candidate_worse_than_the_baseline_is_rejected) {
    candidate_t *c = candidate_new(KEY, "a", 0.90, 0.85, true);
    mm_promoter_outcome_t out = handle(c, 0);
    cr_expect_eq(out.decision, MM_DECISION_REJECTED);
    cr_expect_eq(out.status, MM_REGISTRY_STATUS_REJECTED);
    cr_expect(strstr(out.reason, "worse than baseline 0.85") != NULL, "%s", out.reason);
    cr_expect_eq(count("SELECT count(*) FROM tags WHERE tag = 'failed_check'"
                       " AND value = 'baseline'"),
                 1);
    free(c);
}

Test(promoter, candidate_tying_the_baseline_exactly_is_not_worse_and_passes_that_check) {
    candidate_t *c = candidate_new(KEY, "a", 0.85, 0.85, true);
    mm_promoter_outcome_t out = handle(c, 0);
    cr_expect_eq(out.decision, MM_DECISION_APPROVED, "%s", out.reason);
    cr_expect(strstr(out.reason, "ties baseline 0.85 (not worse)") != NULL, "%s", out.reason);
    free(c);
}

Test(promoter, seasonal_naive_winner_is_the_baseline_and_approved_when_it_passes_the_threshold) {
    candidate_t *c = candidate_new(KEY, "a", 0.93, 0.93, true);
    c->rec.algorithm = "snaive";
    mm_promoter_outcome_t out = handle(c, 0);
    cr_expect_eq(out.decision, MM_DECISION_APPROVED, "%s", out.reason);
    cr_expect_eq(out.champion, 1);
    cr_expect_str_eq(out.reason, "approved: mase 0.93 < 1.00; is the seasonal-naive baseline;"
                                 " no champion yet");

    /* Its own baseline entry may even be missing: it is the baseline. */
    candidate_t *lone = candidate_new("store=2/item=2", "a", 0.93, NAN, true);
    lone->rec.algorithm = "snaive";
    lone->rec.n_baseline = 0;
    cr_expect_eq(handle(lone, 1).decision, MM_DECISION_APPROVED);

    /* The absolute threshold still applies to it. */
    candidate_t *poor = candidate_new("store=3/item=3", "a", 1.20, 1.20, true);
    poor->rec.algorithm = "snaive";
    out = handle(poor, 2);
    cr_expect_eq(out.decision, MM_DECISION_REJECTED);
    cr_expect_str_eq(out.reason, "rejected: mase 1.20 not < 1.00; is the seasonal-naive baseline;"
                                 " no champion yet");
    free(c);
    free(lone);
    free(poor);
}

Test(promoter, nan_metric_is_rejected) {
    candidate_t *c = candidate_new(KEY, "a", NAN, 0.98, true);
    mm_promoter_outcome_t out = handle(c, 0);
    cr_expect_eq(out.decision, MM_DECISION_REJECTED);
    cr_expect(strstr(out.reason, "mase is NaN") != NULL, "%s", out.reason);
    cr_expect_eq(alias(KEY, MM_ALIAS_CHAMPION), 0);
    free(c);
}

Test(promoter, missing_metric_is_rejected) {
    candidate_t *c = candidate_new(KEY, "a", 0.5, 0.98, true);
    c->rec.metrics = &c->metrics[1]; /* rmse only */
    c->rec.n_metrics = 1;
    mm_promoter_outcome_t out = handle(c, 0);
    cr_expect_eq(out.decision, MM_DECISION_REJECTED);
    cr_expect(strstr(out.reason, "mase is missing") != NULL, "%s", out.reason);
    free(c);
}

Test(promoter, challenger_within_the_margin_is_rejected_and_the_champion_kept) {
    candidate_t *first = candidate_new(KEY, "a", 0.80, 0.98, true);
    candidate_t *second = candidate_new(KEY, "b", 0.785, 0.98, true); /* 1.9% better < 2% */
    handle(first, 0);
    mm_promoter_outcome_t out = handle(second, 1);

    cr_expect_eq(out.decision, MM_DECISION_REJECTED);
    cr_expect_eq(out.version, 2);
    cr_expect_eq(out.champion, 1);
    cr_expect(strstr(out.reason, "does not beat champion v1 0.80 by the margin 2.0% (1.9%)") !=
                  NULL,
              "%s", out.reason);
    cr_expect_eq(alias(KEY, MM_ALIAS_CHAMPION), 1);
    cr_expect_eq(alias(KEY, MM_ALIAS_PREVIOUS), 0);
    cr_expect_eq(alias(KEY, MM_ALIAS_CHALLENGER), 2);

    /* A rejected candidate's decision still carries the current production model. */
    char production[512];
    production_of(first, production, sizeof(production));
    mm_model_decision_t d;
    last_decision(&d);
    cr_expect_eq(d.decision, MM_DECISION_REJECTED);
    cr_expect_eq(d.candidate_version, 2);
    cr_expect(d.has_production);
    cr_expect_eq(d.production.version, 1);
    cr_expect_str_eq(d.production.train_id, first->train_id);
    cr_expect_str_eq(d.production.artifact_uri, production);
    mm_model_decision_clear(&d);

    production_of(second, production, sizeof(production));
    cr_expect_not(blob_exists(production));
    free(first);
    free(second);
}

Test(promoter, challenger_beating_the_champion_by_the_margin_is_approved_and_previous_set) {
    candidate_t *first = candidate_new(KEY, "a", 0.80, 0.98, true);
    candidate_t *second = candidate_new(KEY, "b", 0.71, 0.98, true); /* 11.25% better */
    handle(first, 0);
    mm_promoter_outcome_t out = handle(second, 1);

    cr_expect_eq(out.decision, MM_DECISION_APPROVED, "%s", out.reason);
    cr_expect_str_eq(out.reason, "approved: mase 0.71 < 1.00; beats baseline 0.98; beats "
                                 "champion v1 0.80 by 11.3% (margin 2.0%)");
    cr_expect_eq(alias(KEY, MM_ALIAS_CHAMPION), 2);
    cr_expect_eq(alias(KEY, MM_ALIAS_PREVIOUS), 1);

    char production[512];
    production_of(second, production, sizeof(production));
    cr_expect(blob_equals(production, second->artifact));
    mm_model_decision_t d;
    last_decision(&d);
    cr_expect_eq(d.production.version, 2);
    cr_expect_str_eq(d.production.artifact_uri, production);
    mm_model_decision_clear(&d);
    free(first);
    free(second);
}

Test(promoter, higher_is_better_metric_needs_to_be_above_threshold_and_champion) {
    spec.promotion.metric = MM_METRIC_ACCURACY;
    spec.promotion.op = MM_OP_GE;
    spec.promotion.threshold = 0.8;
    spec.promotion.require_beats_baseline = false;
    candidate_t *first = candidate_new(KEY, "a", NAN, NAN, true);
    first->metrics[0] = (mm_metric_t){.name = "accuracy", .value = 0.85};
    candidate_t *worse = candidate_new(KEY, "b", NAN, NAN, true);
    worse->metrics[0] = (mm_metric_t){.name = "accuracy", .value = 0.86}; /* +1.2% < 2% */
    candidate_t *better = candidate_new(KEY, "c", NAN, NAN, true);
    better->metrics[0] = (mm_metric_t){.name = "accuracy", .value = 0.90}; /* +5.9% */
    candidate_t *low = candidate_new("store=2/item=2", "d", NAN, NAN, true);
    low->metrics[0] = (mm_metric_t){.name = "accuracy", .value = 0.70};

    cr_expect_eq(handle(first, 0).decision, MM_DECISION_APPROVED);
    cr_expect_eq(handle(worse, 1).decision, MM_DECISION_REJECTED);
    mm_promoter_outcome_t out = handle(better, 2);
    cr_expect_eq(out.decision, MM_DECISION_APPROVED, "%s", out.reason);
    cr_expect_eq(alias(KEY, MM_ALIAS_CHAMPION), 3);
    out = handle(low, 3);
    cr_expect_eq(out.decision, MM_DECISION_REJECTED);
    cr_expect(strstr(out.reason, "accuracy 0.70 not >= 0.80") != NULL, "%s", out.reason);
    free(first);
    free(worse);
    free(better);
    free(low);
}

/* ------------------------------------------------------------ declared fallbacks */

#define FALLBACK_WHY "30 points < min_history 56"

/* A declared fallback: too little history, no backtest metrics. */
static candidate_t *fallback_new(const char *key, const char *train_tag) {
    candidate_t *c = candidate_new(key, train_tag, NAN, NAN, true);
    c->rec.algorithm = "snaive";
    c->rec.fallback = true;
    c->rec.fallback_reason = FALLBACK_WHY;
    return c;
}

Test(promoter, fallback_for_a_key_without_champion_is_served_labelled_but_never_champion) {
    candidate_t *c = fallback_new(KEY, "a");
    mm_promoter_outcome_t out = handle(c, 0);

    cr_expect_eq(out.decision, MM_DECISION_FALLBACK, "%s", out.reason);
    cr_expect_eq(out.status, MM_REGISTRY_STATUS_FALLBACK);
    cr_expect_eq(out.version, 1);
    cr_expect_eq(out.champion, 0);
    cr_expect_eq(out.fallback, 1);
    cr_expect_str_eq(out.reason, "fallback: declared fallback (" FALLBACK_WHY "), not judged on"
                                 " merit; no approved model: served as a labelled fallback");
    cr_expect_eq(alias(KEY, MM_ALIAS_CHAMPION), 0);
    cr_expect_eq(alias(KEY, MM_ALIAS_CHALLENGER), 0);
    cr_expect_eq(alias(KEY, MM_ALIAS_FALLBACK), 1);
    cr_expect_eq(count("SELECT count(*) FROM versions WHERE status = 'fallback'"
                       " AND production_uri IS NOT NULL"),
                 1);
    cr_expect_eq(count("SELECT count(*) FROM audit WHERE decision = 'fallback'"), 1);

    /* Copied to production/ like an approval, so a scorer can load it. */
    char production[512];
    production_of(c, production, sizeof(production));
    cr_expect(blob_equals(production, c->artifact));
    mm_model_decision_t d;
    last_decision(&d);
    cr_expect_eq(d.decision, MM_DECISION_FALLBACK);
    cr_expect_str_eq(d.candidate_train_id, c->train_id);
    cr_expect(d.has_production, "the fallback is what the key is served");
    cr_expect_eq(d.production.version, 1);
    cr_expect_str_eq(d.production.train_id, c->train_id);
    cr_expect_str_eq(d.production.artifact_uri, production);
    cr_expect_str_eq(d.production.artifact_sha256, c->sha);
    cr_expect(strstr(d.reason, FALLBACK_WHY) != NULL, "%s", d.reason);
    mm_model_decision_clear(&d);
    free(c);
}

Test(promoter, fallback_with_good_metrics_is_still_not_judged_on_merit) {
    candidate_t *c = fallback_new(KEY, "a");
    c->metrics[0].value = 0.40;
    c->baseline[0].value = 0.90;
    mm_promoter_outcome_t out = handle(c, 0);
    cr_expect_eq(out.status, MM_REGISTRY_STATUS_FALLBACK, "%s", out.reason);
    cr_expect_eq(alias(KEY, MM_ALIAS_CHAMPION), 0);
    free(c);
}

Test(promoter, champion_is_kept_when_a_fallback_arrives) {
    candidate_t *first = candidate_new(KEY, "a", 0.71, 0.98, true);
    candidate_t *fallback = fallback_new(KEY, "b");
    handle(first, 0);
    mm_promoter_outcome_t out = handle(fallback, 1);

    cr_expect_eq(out.status, MM_REGISTRY_STATUS_FALLBACK);
    cr_expect_eq(out.decision, MM_DECISION_REJECTED, "production stays the approved champion");
    cr_expect_eq(out.version, 2);
    cr_expect_eq(out.champion, 1);
    cr_expect_eq(out.fallback, 0);
    cr_expect_str_eq(out.reason, "fallback: declared fallback (" FALLBACK_WHY "), not judged on"
                                 " merit; champion v1 kept");
    cr_expect_eq(alias(KEY, MM_ALIAS_CHAMPION), 1);
    cr_expect_eq(alias(KEY, MM_ALIAS_PREVIOUS), 0);
    cr_expect_eq(alias(KEY, MM_ALIAS_FALLBACK), 0);
    cr_expect_eq(count("SELECT count(*) FROM versions WHERE version = 2 AND status = 'fallback'"
                       " AND production_uri IS NULL"),
                 1);
    char production[512];
    production_of(fallback, production, sizeof(production));
    cr_expect_not(blob_exists(production), "a fallback that is not served is not copied");

    mm_model_decision_t d;
    last_decision(&d);
    cr_expect_eq(d.decision, MM_DECISION_REJECTED);
    cr_expect_eq(d.candidate_version, 2);
    cr_expect(d.has_production);
    cr_expect_eq(d.production.version, 1);
    cr_expect_str_eq(d.production.train_id, first->train_id);
    mm_model_decision_clear(&d);
    free(first);
    free(fallback);
}

Test(promoter, rejected_candidate_leaves_the_served_fallback_in_its_decision_until_an_approval) {
    candidate_t *fallback = fallback_new(KEY, "a");
    candidate_t *poor = candidate_new(KEY, "b", 1.30, 1.50, true);
    candidate_t *good = candidate_new(KEY, "c", 0.71, 0.98, true);
    handle(fallback, 0);
    mm_promoter_outcome_t out = handle(poor, 1);

    cr_expect_eq(out.status, MM_REGISTRY_STATUS_REJECTED);
    cr_expect_eq(out.decision, MM_DECISION_FALLBACK, "%s", out.reason);
    cr_expect_eq(out.fallback, 1);
    cr_expect_eq(alias(KEY, MM_ALIAS_CHALLENGER), 2);
    cr_expect_eq(alias(KEY, MM_ALIAS_FALLBACK), 1);
    mm_model_decision_t d;
    last_decision(&d);
    cr_expect_eq(d.decision, MM_DECISION_FALLBACK);
    cr_expect_eq(d.candidate_version, 2);
    cr_expect(d.has_production);
    cr_expect_eq(d.production.version, 1);
    cr_expect_str_eq(d.production.train_id, fallback->train_id);
    cr_expect(strncmp(d.reason, "rejected: ", 10) == 0, "%s", d.reason);
    mm_model_decision_clear(&d);

    out = handle(good, 2);
    cr_expect_eq(out.decision, MM_DECISION_APPROVED, "%s", out.reason);
    cr_expect_eq(out.fallback, 0);
    cr_expect_eq(alias(KEY, MM_ALIAS_CHAMPION), 3);
    cr_expect_eq(alias(KEY, MM_ALIAS_PREVIOUS), 0, "a fallback was never a champion");
    cr_expect_eq(alias(KEY, MM_ALIAS_FALLBACK), 0, "a champion ends fallback service");
    free(fallback);
    free(poor);
    free(good);
}

Test(promoter, newer_fallback_replaces_the_served_one_while_there_is_no_champion) {
    candidate_t *older = fallback_new(KEY, "a");
    candidate_t *newer = fallback_new(KEY, "b");
    handle(older, 0);
    mm_promoter_outcome_t out = handle(newer, 1);
    cr_expect_eq(out.decision, MM_DECISION_FALLBACK);
    cr_expect_eq(out.fallback, 2);
    cr_expect_eq(alias(KEY, MM_ALIAS_FALLBACK), 2);
    free(older);
    free(newer);
}

Test(promoter, replaying_a_fallback_changes_nothing_but_the_offset) {
    candidate_t *c = fallback_new(KEY, "a");
    handle(c, 3);
    int64_t versions = count("SELECT count(*) FROM versions");
    int64_t audit = count("SELECT count(*) FROM audit");
    int64_t outbox = count("SELECT count(*) FROM outbox");
    int64_t aliases = count("SELECT count(*) FROM aliases");

    mm_promoter_outcome_t again = handle(c, 3);
    mm_promoter_outcome_t later = handle(c, 8);
    cr_expect(again.replayed);
    cr_expect(later.replayed);
    cr_expect_eq(later.decision, MM_DECISION_FALLBACK);
    cr_expect_eq(later.status, MM_REGISTRY_STATUS_FALLBACK);
    cr_expect_eq(later.fallback, 1);
    cr_expect_eq(later.champion, 0);
    cr_expect_eq(count("SELECT count(*) FROM versions"), versions);
    cr_expect_eq(count("SELECT count(*) FROM audit"), audit);
    cr_expect_eq(count("SELECT count(*) FROM outbox"), outbox);
    cr_expect_eq(count("SELECT count(*) FROM aliases"), aliases);
    cr_expect_eq(stored_offset(), 9);
    free(c);
}

/* ------------------------------------------------------------ effectively-once */

Test(promoter, replaying_the_same_model_trained_changes_nothing_but_the_offset) {
    candidate_t *c = candidate_new(KEY, "a", 0.71, 0.98, true);
    handle(c, 5);
    int64_t versions = count("SELECT count(*) FROM versions");
    int64_t audit = count("SELECT count(*) FROM audit");
    int64_t outbox = count("SELECT count(*) FROM outbox");
    int64_t aliases = count("SELECT count(*) FROM aliases");

    /* The same record again, once at the same offset and once later in the stream. */
    mm_promoter_outcome_t again = handle(c, 5);
    mm_promoter_outcome_t later = handle(c, 9);

    cr_expect(again.replayed);
    cr_expect(later.replayed);
    cr_expect_eq(later.version, 1);
    cr_expect_eq(later.decision, MM_DECISION_APPROVED);
    cr_expect_eq(count("SELECT count(*) FROM versions"), versions);
    cr_expect_eq(count("SELECT count(*) FROM audit"), audit);
    cr_expect_eq(count("SELECT count(*) FROM outbox"), outbox);
    cr_expect_eq(count("SELECT count(*) FROM aliases"), aliases);
    cr_expect_eq(alias(KEY, MM_ALIAS_CHAMPION), 1);
    cr_expect_eq(stored_offset(), 10, "the replay must still move the offset");
    free(c);
}

Test(promoter, stored_offset_advances_in_the_same_transaction_as_the_decision) {
    candidate_t *c = candidate_new(KEY, "a", 0.71, 0.98, true);
    cr_expect_eq(stored_offset(), -1);
    handle(c, 41);
    cr_expect_eq(stored_offset(), 42);

    /* Make the last write of the transaction fail: nothing of it may remain. */
    cr_assert_eq(mm_db_exec(mm_promoter_db(promoter),
                            "CREATE TRIGGER fail_offsets BEFORE UPDATE ON consumed_offsets"
                            " BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
                            errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    candidate_t *next = candidate_new(KEY, "b", 0.50, 0.98, true);
    mm_promoter_outcome_t out;
    mm_err_t err = mm_promoter_handle_trained(promoter, &next->rec, TOPIC, 0, 42, &out, errstr,
                                              sizeof(errstr));
    cr_expect_neq(err, MM_OK, "the injected failure must surface");
    cr_expect_eq(count("SELECT count(*) FROM versions"), 1,
                 "the version insert was not rolled back");
    cr_expect_eq(count("SELECT count(*) FROM audit"), 1);
    cr_expect_eq(count("SELECT count(*) FROM outbox"), 1);
    cr_expect_eq(alias(KEY, MM_ALIAS_CHAMPION), 1);
    cr_expect_eq(stored_offset(), 42);

    /* Once the fault is gone the same message goes through. */
    cr_assert_eq(
        mm_db_exec(mm_promoter_db(promoter), "DROP TRIGGER fail_offsets", errstr, sizeof(errstr)),
        MM_OK, "%s", errstr);
    out = handle(next, 42);
    cr_expect_eq(out.decision, MM_DECISION_APPROVED, "%s", out.reason);
    cr_expect_eq(out.version, 2);
    cr_expect_eq(stored_offset(), 43);
    free(c);
    free(next);
}

Test(promoter, on_assign_starts_at_the_stored_offset_or_the_beginning) {
    cr_expect_eq(mm_promoter_on_assign(promoter, TOPIC, 0), MM_OFFSET_BEGINNING);
    candidate_t *c = candidate_new(KEY, "a", 0.71, 0.98, true);
    handle(c, 17);
    cr_expect_eq(mm_promoter_on_assign(promoter, TOPIC, 0), 18);
    cr_expect_eq(mm_promoter_on_assign(promoter, TOPIC, 1), MM_OFFSET_BEGINNING);
    free(c);
}

Test(promoter, not_ready_before_partitions_of_mm_models_are_assigned) {
    char reason[256] = "";
    cr_expect_not(mm_promoter_ready(promoter, reason, sizeof(reason)),
                  "an open registry alone is not ready");
    cr_expect_str_eq(reason, "no partitions of mm.models assigned");
}

Test(promoter, registry_survives_reopening) {
    candidate_t *c = candidate_new(KEY, "a", 0.71, 0.98, true);
    handle(c, 3);
    mm_promoter_destroy(promoter);
    mm_promoter_config_t cfg = {.registry_path = registry_path, .spec = &spec, .blob = blob};
    promoter = mm_promoter_new(&cfg, errstr, sizeof(errstr));
    cr_assert_not_null(promoter, "%s", errstr);
    cr_expect_eq(stored_offset(), 4);
    cr_expect(handle(c, 4).replayed);
    cr_expect_eq(count("SELECT count(*) FROM versions"), 1);
    free(c);
}

/* ------------------------------------------------------------ dead letters */

Test(promoter, malformed_message_is_dead_lettered_with_its_bytes_and_the_offset_advanced) {
    static const uint8_t garbage[] = {0x07, 0x00, 0x00, 0x00, 0x02, 0xff, 0xfe};
    mm_kafka_msg_t msg = {.topic = TOPIC,
                          .partition = 0,
                          .offset = 77,
                          .key = KEY,
                          .key_len = strlen(KEY),
                          .value = garbage,
                          .value_len = sizeof(garbage)};
    mm_promoter_outcome_t out;
    cr_assert_eq(mm_promoter_handle_message(promoter, &msg, &out, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    cr_expect(out.dead_lettered);
    cr_expect_eq(stored_offset(), 78);
    cr_expect_eq(count("SELECT count(*) FROM versions"), 0);

    char topic[128];
    size_t len = 0;
    uint8_t *payload = last_outbox(topic, sizeof(topic), &len);
    cr_expect_str_eq(topic, MM_TOPIC_DEADLETTER);
    mm_dead_letter_t letter = {0};
    cr_assert_eq(mm_avro_decode_dead_letter(payload, len, &letter, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    cr_expect_str_eq(letter.service, "mm-promoter");
    cr_expect_str_eq(letter.source_topic, TOPIC);
    cr_expect_eq(letter.source_partition, 0);
    cr_expect_eq(letter.source_offset, 77);
    cr_expect_str_eq(letter.partition_key, KEY);
    cr_expect_eq(letter.original_len, sizeof(garbage));
    cr_expect(letter.original && memcmp(letter.original, garbage, sizeof(garbage)) == 0);
    cr_expect(letter.reason && *letter.reason);
    mm_dead_letter_clear(&letter);
    free(payload);
}

Test(promoter, approved_candidate_whose_artifact_is_missing_is_dead_lettered_not_registered) {
    candidate_t *c = candidate_new(KEY, "a", 0.71, 0.98, false);
    mm_promoter_outcome_t out = handle(c, 8);
    cr_expect(out.dead_lettered);
    cr_expect(strstr(out.reason, "not found") != NULL, "%s", out.reason);
    cr_expect_eq(count("SELECT count(*) FROM versions"), 0);
    cr_expect_eq(count("SELECT count(*) FROM outbox WHERE topic = 'mm.deadletter'"), 1);
    cr_expect_eq(stored_offset(), 9);
    free(c);
}

Test(promoter, approved_candidate_with_a_wrong_checksum_is_dead_lettered) {
    candidate_t *c = candidate_new(KEY, "a", 0.71, 0.98, true);
    static char wrong[MM_SHA256_HEX_LEN + 1];
    memset(wrong, 'a', MM_SHA256_HEX_LEN);
    c->rec.artifact_sha256 = wrong;
    mm_promoter_outcome_t out = handle(c, 0);
    cr_expect(out.dead_lettered);
    cr_expect(strstr(out.reason, "sha256") != NULL, "%s", out.reason);
    char production[512];
    production_of(c, production, sizeof(production));
    cr_expect_not(blob_exists(production));
    free(c);
}

Test(promoter, record_for_another_dataset_is_dead_lettered) {
    candidate_t *c = candidate_new(KEY, "a", 0.71, 0.98, true);
    c->rec.dataset = "telemetry";
    mm_promoter_outcome_t out = handle(c, 0);
    cr_expect(out.dead_lettered);
    cr_expect(strstr(out.reason, "telemetry") != NULL, "%s", out.reason);
    cr_expect_eq(count("SELECT count(*) FROM versions"), 0);

    /* The dead letter carries the record itself, re-encoded, so it can be replayed. */
    char topic[128];
    size_t len = 0;
    uint8_t *payload = last_outbox(topic, sizeof(topic), &len);
    cr_expect_str_eq(topic, MM_TOPIC_DEADLETTER);
    mm_dead_letter_t letter = {0};
    cr_assert_eq(mm_avro_decode_dead_letter(payload, len, &letter, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    mm_model_trained_t back = {0};
    cr_assert_eq(mm_avro_decode_model_trained(letter.original, letter.original_len, &back, errstr,
                                              sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_expect_str_eq(back.train_id, c->train_id);
    cr_expect_str_eq(back.dataset, "telemetry");
    mm_model_trained_clear(&back);
    mm_dead_letter_clear(&letter);
    free(payload);
    free(c);
}

/* ------------------------------------------------------------ manual operations */

Test(promoter, rollback_restores_the_previous_champion) {
    candidate_t *first = candidate_new(KEY, "a", 0.80, 0.98, true);
    candidate_t *second = candidate_new(KEY, "b", 0.70, 0.98, true);
    handle(first, 0);
    handle(second, 1);
    cr_assert_eq(alias(KEY, MM_ALIAS_CHAMPION), 2);

    mm_registry_change_t out;
    cr_assert_eq(mm_registry_rollback(mm_promoter_db(promoter), KEY, "bad forecasts in store 1",
                                      "ops", &out, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_expect_eq(out.champion, 1);
    cr_expect_eq(alias(KEY, MM_ALIAS_CHAMPION), 1);
    cr_expect_eq(alias(KEY, MM_ALIAS_PREVIOUS), 0);

    char production[512];
    production_of(first, production, sizeof(production));
    mm_model_decision_t d;
    last_decision(&d);
    cr_expect_eq(d.decision, MM_DECISION_ROLLED_BACK);
    cr_expect(d.has_production);
    cr_expect_eq(d.production.version, 1);
    cr_expect_str_eq(d.production.artifact_uri, production);
    cr_expect(strstr(d.reason, "bad forecasts in store 1") != NULL, "%s", d.reason);
    mm_model_decision_clear(&d);
    cr_expect_eq(count("SELECT count(*) FROM audit WHERE action = 'rollback' AND actor = 'ops'"),
                 1);

    /* Nothing older to go back to. */
    cr_expect_eq(mm_registry_rollback(mm_promoter_db(promoter), KEY, "again", "ops", &out, errstr,
                                      sizeof(errstr)),
                 MM_ERR_NOT_FOUND);
    cr_expect_eq(mm_registry_rollback(mm_promoter_db(promoter), "store=9/item=9", "x", "ops", &out,
                                      errstr, sizeof(errstr)),
                 MM_ERR_NOT_FOUND);
    free(first);
    free(second);
}

Test(promoter, promote_of_a_rejected_version_copies_it_and_makes_it_champion) {
    candidate_t *first = candidate_new(KEY, "a", 0.80, 0.98, true);
    candidate_t *second = candidate_new(KEY, "b", 0.79, 0.98, true);
    handle(first, 0);
    cr_assert_eq(handle(second, 1).decision, MM_DECISION_REJECTED);

    mm_registry_change_t out;
    cr_expect_eq(mm_registry_promote(mm_promoter_db(promoter), NULL, KEY, 2, "why", "ops", &out,
                                     errstr, sizeof(errstr)),
                 MM_ERR_INVALID_ARG, "without a blob store the copy cannot be made");
    cr_assert_eq(mm_registry_promote(mm_promoter_db(promoter), blob, KEY, 2, "seasonal event",
                                     "ops", &out, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_expect(out.changed);
    cr_expect_eq(alias(KEY, MM_ALIAS_CHAMPION), 2);
    cr_expect_eq(alias(KEY, MM_ALIAS_PREVIOUS), 1);
    cr_expect_eq(alias(KEY, MM_ALIAS_CHALLENGER), 0);
    char production[512];
    production_of(second, production, sizeof(production));
    cr_expect(blob_equals(production, second->artifact));

    mm_model_decision_t d;
    last_decision(&d);
    cr_expect_eq(d.decision, MM_DECISION_PROMOTED);
    cr_expect_eq(d.production.version, 2);
    cr_expect_str_eq(d.production.artifact_uri, production);
    mm_model_decision_clear(&d);

    /* Promoting the champion again is a no-op: no new decision. */
    int64_t outbox = count("SELECT count(*) FROM outbox");
    cr_expect_eq(mm_registry_promote(mm_promoter_db(promoter), blob, KEY, 2, "again", "ops", &out,
                                     errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_expect_not(out.changed);
    cr_expect_eq(count("SELECT count(*) FROM outbox"), outbox);
    cr_expect_eq(mm_registry_promote(mm_promoter_db(promoter), blob, KEY, 7, "x", "ops", &out,
                                     errstr, sizeof(errstr)),
                 MM_ERR_NOT_FOUND);
    free(first);
    free(second);
}

/* ------------------------------------------------------------ outbox rows */

/*
 * Delivery is the outbox's (tests/unit/common/test_outbox.c). What the promoter
 * owes it: decisions keyed by their partition key, so a newer delivered
 * decision supersedes an older failed one of the same key, and rows in the
 * order they were decided.
 */
Test(promoter, decisions_are_queued_in_the_outbox_keyed_by_partition_key_in_decision_order) {
    candidate_t *first = candidate_new(KEY, "a", 0.80, 0.98, true);
    candidate_t *second = candidate_new(KEY, "b", 0.70, 0.98, true);
    candidate_t *other = candidate_new("store=2/item=2", "a", 0.70, 0.98, true);
    handle(first, 0);
    handle(second, 1);
    handle(other, 2);
    cr_assert_eq(count("SELECT count(*) FROM outbox"), 3);
    cr_expect_eq(count("SELECT count(*) FROM outbox WHERE topic = '" MM_TOPIC_DECISIONS "'"), 3);
    cr_expect_eq(count("SELECT count(*) FROM outbox WHERE key = '" KEY "'"), 2);
    cr_expect_eq(count("SELECT count(*) FROM outbox WHERE key = 'store=2/item=2'"), 1);

    /* The newer decision of KEY (v2) comes after the older one (v1). */
    sqlite3_stmt *stmt = NULL;
    cr_assert_eq(mm_db_prepare(mm_promoter_db(promoter), &stmt,
                               "SELECT payload FROM outbox WHERE key = '" KEY "' ORDER BY id",
                               errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    for (int32_t version = 1; version <= 2; version++) {
        cr_assert_eq(sqlite3_step(stmt), SQLITE_ROW);
        mm_model_decision_t decision = {0};
        cr_assert_eq(mm_avro_decode_model_decision(sqlite3_column_blob(stmt, 0),
                                                   (size_t)sqlite3_column_bytes(stmt, 0), &decision,
                                                   errstr, sizeof(errstr)),
                     MM_OK, "%s", errstr);
        cr_expect_eq(decision.candidate_version, version);
        mm_model_decision_clear(&decision);
    }
    sqlite3_finalize(stmt);
    free(first);
    free(second);
    free(other);
}

/* ------------------------------------------------------------ reports */

Test(promoter, stats_count_keys_versions_decisions_and_champion_metrics) {
    candidate_t *a1 = candidate_new("store=1/item=1", "a", 0.80, 1.00, true);
    candidate_t *a2 = candidate_new("store=1/item=1", "b", 0.60, 0.90, true);
    candidate_t *b1 = candidate_new("store=2/item=1", "a", 1.40, 1.60, true);
    candidate_t *c1 = candidate_new("store=3/item=1", "a", 0.90, 0.95, true);
    c1->rec.fallback = true;
    c1->rec.fallback_reason = "30 points < min_history 56";
    handle(a1, 0);
    handle(a2, 1);
    handle(b1, 2);
    handle(c1, 3);

    mm_registry_stats_t st;
    cr_assert_eq(mm_registry_stats(mm_promoter_db(promoter), &st, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    cr_expect_eq(st.keys, 3);
    cr_expect_eq(st.versions, 4);
    cr_expect_eq(st.approved, 2);
    cr_expect_eq(st.rejected, 1);
    cr_expect_eq(st.fallback_versions, 1);
    cr_expect_eq(st.fallback, 1);
    cr_expect_eq(st.fallback_served, 1);
    cr_expect_eq(st.champions, 1, "a declared fallback is never a champion");
    cr_expect_eq(st.decided_keys, 3);
    cr_expect_eq(st.outbox, 4);
    /* The only champion: store=1 v2 (0.60 vs 0.90). */
    cr_expect_eq(st.metrics[MM_METRIC_MASE].n, 1);
    cr_expect_float_eq(st.metrics[MM_METRIC_MASE].model, 0.60, 1e-9);
    cr_expect_float_eq(st.metrics[MM_METRIC_MASE].baseline, 0.90, 1e-9);
    cr_expect_eq(st.metrics[MM_METRIC_AUC].n, 0);
    cr_expect(isnan(st.metrics[MM_METRIC_AUC].model));
    free(a1);
    free(a2);
    free(b1);
    free(c1);
}
