/*
 * promoter.c - mm-promoter's logic: judge each ModelTrained against the
 * dataset spec's promotion policy, keep the SQLite registry (versions,
 * aliases, tags, audit), copy approved artifacts to production/, and carry
 * decisions and dead letters to Kafka through the registry's outbox
 * (mm/outbox.h).
 *
 * Workload: one message per trained model, i.e. about one per key per load
 * (10,000 keys -> 10,000 small transactions per load), each a handful of
 * indexed statements plus, on approval, one artifact read (a few KiB) and
 * one blob copy. Statements are prepared per use: SQLite's prepare costs
 * microseconds, far below the fsync of the commit that dominates.
 */
#include "promoter.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "mm/avro.h"
#include "mm/buf.h"
#include "mm/log.h"
#include "mm/service.h"
#include "mm/sha256.h"
#include "mm/util.h"

#define PROMOTER_NAME_MAX        1280 /* longest blob name we build (Azure allows 1024) */
#define PROMOTER_REPLAY_ATTEMPTS 4    /* re-judge rounds when the champion changes meanwhile */
#define PROMOTER_KEY_MAX         1024 /* longest Kafka key kept as a dead letter's partition key */

/* ------------------------------------------------------------ schema */

/*
 * migrations[i] upgrades schema version i to i+1. Never edit a released
 * entry: append a new one.
 */
static const char *const registry_migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE versions ("
    "  partition_key TEXT NOT NULL,"
    "  version INTEGER NOT NULL CHECK (version > 0),"
    "  train_id TEXT NOT NULL UNIQUE,"
    "  dataset TEXT NOT NULL,"
    "  spec_hash TEXT NOT NULL,"
    "  algorithm TEXT NOT NULL,"
    "  artifact_uri TEXT NOT NULL," /* candidate blob name */
    "  production_uri TEXT,"        /* set once copied to production/ */
    "  sha256 TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  artifact_format INTEGER NOT NULL,"
    "  metrics TEXT NOT NULL," /* JSON object name -> value (null = NaN) */
    "  baseline TEXT NOT NULL,"
    "  data_start_ms INTEGER NOT NULL,"
    "  data_end_ms INTEGER NOT NULL,"
    "  n_rows INTEGER NOT NULL,"
    "  data_digest TEXT,"
    "  load_id TEXT,"
    "  fallback INTEGER NOT NULL DEFAULT 0,"
    "  fallback_reason TEXT,"
    "  trained_at_ms INTEGER,"
    "  trainer TEXT,"
    "  created_at_ms INTEGER NOT NULL,"
    "  status TEXT NOT NULL CHECK (status IN ('approved', 'rejected')),"
    "  reason TEXT NOT NULL,"
    "  source_topic TEXT,"
    "  source_partition INTEGER,"
    "  source_offset INTEGER,"
    "  PRIMARY KEY (partition_key, version)"
    ");"
    "CREATE TABLE aliases ("
    "  partition_key TEXT NOT NULL,"
    "  alias TEXT NOT NULL CHECK (alias IN ('champion', 'previous', 'challenger')),"
    "  version INTEGER NOT NULL,"
    "  updated_at_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (partition_key, alias),"
    "  FOREIGN KEY (partition_key, version) REFERENCES versions (partition_key, version)"
    ");"
    "CREATE TABLE tags ("
    "  partition_key TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  tag TEXT NOT NULL,"
    "  value TEXT,"
    "  PRIMARY KEY (partition_key, version, tag),"
    "  FOREIGN KEY (partition_key, version) REFERENCES versions (partition_key, version)"
    ");"
    "CREATE TABLE audit ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  at_ms INTEGER NOT NULL,"
    "  partition_key TEXT,"
    "  version INTEGER,"
    "  action TEXT NOT NULL," /* judge | promote | rollback | dead_letter */
    "  decision TEXT,"        /* approved | rejected | promoted | rolled_back */
    "  reason TEXT NOT NULL,"
    "  actor TEXT NOT NULL"
    ");"
    "CREATE INDEX audit_by_key ON audit (partition_key, id);"
    "CREATE TABLE consumed_offsets ("
    "  topic TEXT NOT NULL,"
    "  \"partition\" INTEGER NOT NULL,"
    "  next_offset INTEGER NOT NULL,"
    "  updated_at_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (topic, \"partition\")"
    ");" MM_OUTBOX_TABLE_SQL,
};

int mm_promoter_registry_schema_version(void) {
    return (int)MM_ARRAY_SIZE(registry_migrations);
}

mm_db_t *mm_promoter_registry_open(const char *path, char *errstr, size_t errstr_size) {
    if (!path || !*path) {
        mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "registry path is empty");
        return NULL;
    }
    return mm_db_open(path, registry_migrations, MM_ARRAY_SIZE(registry_migrations), errstr,
                      errstr_size);
}

/* ------------------------------------------------------------ small SQL helpers */

/*
 * Bind parameters by a type string: t = const char * (NULL binds NULL),
 * i = int64_t, d = double (NaN binds NULL), b = const void * + size_t.
 */
static mm_err_t db_bindv(mm_db_t *db, sqlite3_stmt *stmt, const char *types, va_list ap,
                         char *errstr, size_t errstr_size) {
    for (int i = 0; types && types[i]; i++) {
        int idx = i + 1, rc;
        switch (types[i]) {
        case 't': {
            const char *s = va_arg(ap, const char *);
            rc = s ? sqlite3_bind_text(stmt, idx, s, -1, SQLITE_TRANSIENT)
                   : sqlite3_bind_null(stmt, idx);
            break;
        }
        case 'i':
            rc = sqlite3_bind_int64(stmt, idx, (sqlite3_int64)va_arg(ap, int64_t));
            break;
        case 'd': {
            double d = va_arg(ap, double);
            rc = isnan(d) ? sqlite3_bind_null(stmt, idx) : sqlite3_bind_double(stmt, idx, d);
            break;
        }
        case 'b': {
            const void *p = va_arg(ap, const void *);
            size_t n = va_arg(ap, size_t);
            rc = sqlite3_bind_blob64(stmt, idx, p ? p : "", (sqlite3_uint64)n, SQLITE_TRANSIENT);
            break;
        }
        default:
            return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "bind: bad type '%c'",
                           types[i]);
        }
        if (rc != SQLITE_OK) return mm_db_err(db, "bind", errstr, errstr_size);
    }
    return MM_OK;
}

/* Prepare @p sql and bind; the caller steps and finalizes. */
static mm_err_t db_query(mm_db_t *db, sqlite3_stmt **stmt, char *errstr, size_t errstr_size,
                         const char *sql, const char *types, ...) {
    *stmt = NULL;
    mm_err_t err = mm_db_prepare(db, stmt, sql, errstr, errstr_size);
    if (err != MM_OK) return err;
    va_list ap;
    va_start(ap, types);
    err = db_bindv(db, *stmt, types, ap, errstr, errstr_size);
    va_end(ap);
    if (err != MM_OK) {
        sqlite3_finalize(*stmt);
        *stmt = NULL;
    }
    return err;
}

/* Run a statement that returns no rows. */
static mm_err_t db_run(mm_db_t *db, char *errstr, size_t errstr_size, const char *sql,
                       const char *types, ...) {
    sqlite3_stmt *stmt = NULL;
    mm_err_t err = mm_db_prepare(db, &stmt, sql, errstr, errstr_size);
    if (err != MM_OK) return err;
    va_list ap;
    va_start(ap, types);
    err = db_bindv(db, stmt, types, ap, errstr, errstr_size);
    va_end(ap);
    if (err == MM_OK) err = mm_db_step_done(db, stmt, errstr, errstr_size);
    sqlite3_finalize(stmt);
    return err;
}

static char *col_strdup(sqlite3_stmt *stmt, int col) {
    const unsigned char *s = sqlite3_column_text(stmt, col);
    return s ? strdup((const char *)s) : NULL;
}

/* ------------------------------------------------------------ registry rows */

typedef struct reg_version {
    int32_t version;
    char *train_id;
    char *dataset;
    char *spec_hash;
    char *algorithm;
    char *artifact_uri;
    char *production_uri;
    char *sha256;
    char *metrics; /* JSON text */
    char *load_id;
    char *status;
    int64_t size;
    int64_t data_end_ms;
    int64_t n_rows;
    bool fallback;
} reg_version_t;

static void reg_version_clear(reg_version_t *v) {
    free(v->train_id);
    free(v->dataset);
    free(v->spec_hash);
    free(v->algorithm);
    free(v->artifact_uri);
    free(v->production_uri);
    free(v->sha256);
    free(v->metrics);
    free(v->load_id);
    free(v->status);
    memset(v, 0, sizeof(*v));
}

#define REG_VERSION_COLUMNS                                                                        \
    "version, train_id, dataset, spec_hash, algorithm, artifact_uri, production_uri, sha256,"      \
    " metrics, load_id, status, size, data_end_ms, n_rows, fallback"

static mm_err_t reg_version_from_row(sqlite3_stmt *stmt, reg_version_t *v, char *errstr,
                                     size_t errstr_size) {
    v->version = (int32_t)sqlite3_column_int64(stmt, 0);
    v->train_id = col_strdup(stmt, 1);
    v->dataset = col_strdup(stmt, 2);
    v->spec_hash = col_strdup(stmt, 3);
    v->algorithm = col_strdup(stmt, 4);
    v->artifact_uri = col_strdup(stmt, 5);
    v->production_uri = col_strdup(stmt, 6);
    v->sha256 = col_strdup(stmt, 7);
    v->metrics = col_strdup(stmt, 8);
    v->load_id = col_strdup(stmt, 9);
    v->status = col_strdup(stmt, 10);
    v->size = sqlite3_column_int64(stmt, 11);
    v->data_end_ms = sqlite3_column_int64(stmt, 12);
    v->n_rows = sqlite3_column_int64(stmt, 13);
    v->fallback = sqlite3_column_int64(stmt, 14) != 0;
    if (!v->train_id || !v->dataset || !v->spec_hash || !v->algorithm || !v->artifact_uri ||
        !v->sha256 || !v->metrics || !v->status) {
        reg_version_clear(v);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "registry row: out of memory");
    }
    return MM_OK;
}

/* Load (key, version). *found false (MM_OK) when absent. */
static mm_err_t reg_version_load(mm_db_t *db, const char *partition_key, int32_t version,
                                 reg_version_t *v, bool *found, char *errstr, size_t errstr_size) {
    sqlite3_stmt *stmt;
    *found = false;
    mm_err_t err = db_query(db, &stmt, errstr, errstr_size,
                            "SELECT " REG_VERSION_COLUMNS
                            " FROM versions WHERE partition_key = ? AND version = ?",
                            "ti", partition_key, (int64_t)version);
    if (err != MM_OK) return err;
    err = mm_db_step_row(db, stmt, errstr, errstr_size);
    if (err == MM_OK) {
        err = reg_version_from_row(stmt, v, errstr, errstr_size);
        *found = err == MM_OK;
    } else if (err == MM_ERR_NOT_FOUND) {
        err = MM_OK;
    }
    sqlite3_finalize(stmt);
    return err;
}

static mm_err_t reg_alias_get(mm_db_t *db, const char *partition_key, const char *alias,
                              int32_t *version, char *errstr, size_t errstr_size) {
    int64_t v = 0;
    bool found = false;
    sqlite3_stmt *stmt;
    *version = 0;
    mm_err_t err = db_query(db, &stmt, errstr, errstr_size,
                            "SELECT version FROM aliases WHERE partition_key = ? AND alias = ?",
                            "tt", partition_key, alias);
    if (err != MM_OK) return err;
    err = mm_db_step_row(db, stmt, errstr, errstr_size);
    if (err == MM_OK) {
        v = sqlite3_column_int64(stmt, 0);
        found = true;
    } else if (err == MM_ERR_NOT_FOUND) {
        err = MM_OK;
    }
    sqlite3_finalize(stmt);
    if (found) *version = (int32_t)v;
    return err;
}

static mm_err_t reg_alias_set(mm_db_t *db, const char *partition_key, const char *alias,
                              int32_t version, int64_t now_ms, char *errstr, size_t errstr_size) {
    if (version <= 0)
        return db_run(db, errstr, errstr_size,
                      "DELETE FROM aliases WHERE partition_key = ? AND alias = ?", "tt",
                      partition_key, alias);
    return db_run(db, errstr, errstr_size,
                  "INSERT INTO aliases (partition_key, alias, version, updated_at_ms)"
                  " VALUES (?, ?, ?, ?) ON CONFLICT (partition_key, alias) DO UPDATE SET"
                  " version = excluded.version, updated_at_ms = excluded.updated_at_ms",
                  "ttii", partition_key, alias, (int64_t)version, now_ms);
}

static mm_err_t reg_audit(mm_db_t *db, int64_t now_ms, const char *partition_key, int32_t version,
                          const char *action, const char *decision, const char *reason,
                          const char *actor, char *errstr, size_t errstr_size) {
    if (version > 0)
        return db_run(db, errstr, errstr_size,
                      "INSERT INTO audit (at_ms, partition_key, version, action, decision, reason,"
                      " actor) VALUES (?, ?, ?, ?, ?, ?, ?)",
                      "ititttt", now_ms, partition_key, (int64_t)version, action, decision, reason,
                      actor);
    return db_run(db, errstr, errstr_size,
                  "INSERT INTO audit (at_ms, partition_key, version, action, decision, reason,"
                  " actor) VALUES (?, ?, NULL, ?, ?, ?, ?)",
                  "itt"
                  "ttt",
                  now_ms, partition_key, action, decision, reason, actor);
}

static mm_err_t reg_store_offset(mm_db_t *db, const char *topic, int32_t partition,
                                 int64_t next_offset, int64_t now_ms, char *errstr,
                                 size_t errstr_size) {
    /* Never backwards: a duplicate delivered late must not rewind progress. */
    return db_run(db, errstr, errstr_size,
                  "INSERT INTO consumed_offsets (topic, \"partition\", next_offset, updated_at_ms)"
                  " VALUES (?, ?, ?, ?) ON CONFLICT (topic, \"partition\") DO UPDATE SET"
                  " next_offset = max(next_offset, excluded.next_offset),"
                  " updated_at_ms = excluded.updated_at_ms",
                  "tiii", topic, (int64_t)partition, next_offset, now_ms);
}

mm_err_t mm_promoter_stored_offset(mm_db_t *db, const char *topic, int32_t partition,
                                   int64_t *next_offset, bool *found, char *errstr,
                                   size_t errstr_size) {
    sqlite3_stmt *stmt;
    *found = false;
    *next_offset = MM_OFFSET_BEGINNING;
    mm_err_t err = db_query(db, &stmt, errstr, errstr_size,
                            "SELECT next_offset FROM consumed_offsets"
                            " WHERE topic = ? AND \"partition\" = ?",
                            "ti", topic, (int64_t)partition);
    if (err != MM_OK) return err;
    err = mm_db_step_row(db, stmt, errstr, errstr_size);
    if (err == MM_OK) {
        *next_offset = sqlite3_column_int64(stmt, 0);
        *found = true;
    } else if (err == MM_ERR_NOT_FOUND) {
        err = MM_OK;
    }
    sqlite3_finalize(stmt);
    return err;
}

/* ------------------------------------------------------------ metrics */

static double metric_find(const mm_metric_t *metrics, size_t n, const char *name) {
    double value = NAN;
    for (size_t i = 0; i < n; i++)
        if (metrics[i].name && name && strcmp(metrics[i].name, name) == 0) value = metrics[i].value;
    return value;
}

static bool metric_present(const mm_metric_t *metrics, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (metrics[i].name && name && strcmp(metrics[i].name, name) == 0) return true;
    return false;
}

/* JSON object name -> value; NaN and infinities as null (JSON has no NaN). */
static char *metrics_to_json(const mm_metric_t *metrics, size_t n) {
    json_t *obj = json_object();
    if (!obj) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (!metrics[i].name || !*metrics[i].name) continue;
        json_t *value = isfinite(metrics[i].value) ? json_real(metrics[i].value) : json_null();
        if (!value || json_object_set_new(obj, metrics[i].name, value) != 0) {
            json_decref(obj);
            return NULL;
        }
    }
    char *text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(obj);
    return text;
}

static double metrics_json_get(const char *json_text, const char *name) {
    double value = NAN;
    if (!json_text || !name) return value;
    json_t *obj = json_loads(json_text, 0, NULL);
    if (!obj) return value;
    json_t *member = json_object_get(obj, name);
    if (member && json_is_number(member)) value = json_number_value(member);
    json_decref(obj);
    return value;
}

/* Short, readable numbers for reasons: "0.71", "1.00", "0.0123", "1.23e+05". */
static void fmt_num(double v, char *out, size_t out_size) {
    double a = fabs(v);
    if (isnan(v))
        snprintf(out, out_size, "NaN");
    else if (a == 0.0 || (a >= 0.1 && a < 1e5))
        snprintf(out, out_size, "%.2f", v);
    else
        snprintf(out, out_size, "%.3g", v);
}

static const char *op_text(mm_threshold_op_t op) {
    switch (op) {
    case MM_OP_LT:
        return "<";
    case MM_OP_LE:
        return "<=";
    case MM_OP_GT:
        return ">";
    case MM_OP_GE:
        return ">=";
    }
    return "?";
}

static bool op_holds(mm_threshold_op_t op, double a, double b) {
    switch (op) { /* comparisons with NaN are false: a NaN metric never passes */
    case MM_OP_LT:
        return a < b;
    case MM_OP_LE:
        return a <= b;
    case MM_OP_GT:
        return a > b;
    case MM_OP_GE:
        return a >= b;
    }
    return false;
}

/* ------------------------------------------------------------ policy */

typedef struct verdict {
    bool approved;
    const char *failed_check; /* "metric", "threshold", "baseline", "champion"; NULL if approved */
    char reason[512];
} verdict_t;

static void reason_add(char *reason, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void reason_add(char *reason, size_t size, const char *fmt, ...) {
    size_t used = strlen(reason);
    if (used + 1 >= size) return;
    if (used > 0 && reason[used - 1] != ' ') {
        snprintf(reason + used, size - used, "; ");
        used = strlen(reason);
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason + used, size - used, fmt, ap);
    va_end(ap);
}

static void verdict_fail(verdict_t *v, const char *check) {
    if (v->approved) v->failed_check = check;
    v->approved = false;
}

/*
 * Judge a candidate: the absolute threshold, the seasonal-naive baseline,
 * then the champion by the relative margin. Every check is stated in the
 * reason, passed or not, with the numbers it used.
 */
static void policy_judge(const mm_promotion_policy_t *policy, const mm_model_trained_t *rec,
                         const reg_version_t *champion, verdict_t *v) {
    const char *metric = mm_metric_name(policy->metric);
    bool higher_better = mm_metric_higher_is_better(policy->metric);
    double cand = metric_find(rec->metrics, rec->n_metrics, metric);
    char body[448] = "";
    char c[32], t[32], b[32], h[32];

    v->approved = true;
    v->failed_check = NULL;
    fmt_num(cand, c, sizeof(c));

    if (isnan(cand)) {
        verdict_fail(v, "metric");
        reason_add(body, sizeof(body), "%s is %s", metric,
                   metric_present(rec->metrics, rec->n_metrics, metric) ? "NaN" : "missing");
    }
    if (policy->has_threshold) {
        fmt_num(policy->threshold, t, sizeof(t));
        if (op_holds(policy->op, cand, policy->threshold)) {
            reason_add(body, sizeof(body), "%s %s %s %s", metric, c, op_text(policy->op), t);
        } else {
            verdict_fail(v, "threshold");
            reason_add(body, sizeof(body), "%s %s not %s %s", metric, c, op_text(policy->op), t);
        }
    } else if (!isnan(cand)) {
        reason_add(body, sizeof(body), "%s %s (no threshold)", metric, c);
    }
    if (policy->require_beats_baseline) {
        double base = metric_find(rec->baseline, rec->n_baseline, metric);
        fmt_num(base, b, sizeof(b));
        if (isnan(base)) {
            verdict_fail(v, "baseline");
            reason_add(body, sizeof(body), "no baseline %s to beat", metric);
        } else if (higher_better ? cand > base : cand < base) {
            reason_add(body, sizeof(body), "beats baseline %s", b);
        } else {
            verdict_fail(v, "baseline");
            reason_add(body, sizeof(body), "does not beat baseline %s", b);
        }
    }
    if (champion) {
        double champ = metrics_json_get(champion->metrics, metric);
        double margin_pct = policy->margin * 100.0;
        if (isnan(champ)) {
            reason_add(body, sizeof(body), "champion v%d has no %s", (int)champion->version,
                       metric);
        } else {
            /* Relative to |champ| so a negative metric (bias) moves the right way. */
            double need = higher_better ? champ + fabs(champ) * policy->margin
                                        : champ - fabs(champ) * policy->margin;
            bool beats = higher_better ? cand >= need : cand <= need;
            double gain = higher_better ? cand - champ : champ - cand;
            double gain_pct = champ != 0.0 ? gain / fabs(champ) * 100.0
                                           : (gain > 0   ? INFINITY
                                              : gain < 0 ? -INFINITY
                                                         : 0.0);
            fmt_num(champ, h, sizeof(h));
            if (beats) {
                reason_add(body, sizeof(body), "beats champion v%d %s by %.1f%% (margin %.1f%%)",
                           (int)champion->version, h, gain_pct, margin_pct);
            } else {
                verdict_fail(v, "champion");
                reason_add(body, sizeof(body),
                           "does not beat champion v%d %s by the margin %.1f%% (%.1f%%)",
                           (int)champion->version, h, margin_pct, gain_pct);
            }
        }
    } else {
        reason_add(body, sizeof(body), "no champion yet");
    }
    snprintf(v->reason, sizeof(v->reason), "%s: %s", v->approved ? "approved" : "rejected", body);
}

/* ------------------------------------------------------------ artifacts */

mm_err_t mm_promoter_production_name(const char *candidate_uri, char *out, size_t out_size) {
    size_t plen = strlen(MM_PROMOTER_CANDIDATES_PREFIX);
    if (!candidate_uri || strncmp(candidate_uri, MM_PROMOTER_CANDIDATES_PREFIX, plen) != 0 ||
        candidate_uri[plen] == 0)
        return MM_ERR_INVALID_ARG;
    int n = snprintf(out, out_size, "%s%s", MM_PROMOTER_PRODUCTION_PREFIX, candidate_uri + plen);
    if (n < 0 || (size_t)n >= out_size) return MM_ERR_NOMEM;
    return MM_OK;
}

/*
 * Verify the candidate against its recorded size and sha256, then copy it to
 * production/ without ever overwriting (an identical copy already there is
 * success). MM_ERR_NOT_FOUND / MM_ERR_INTEGRITY mean the artifact itself is
 * unusable; other errors are the store's (retry).
 */
static mm_err_t artifact_publish(mm_blob_t *blob, const char *candidate, const char *production,
                                 const char *sha256_hex, int64_t size, char *errstr,
                                 size_t errstr_size) {
    if (!blob)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "no blob store configured to copy %s to %s", candidate, production);
    mm_buf_t data;
    mm_buf_init(&data, MM_BUF_CAP_ARTIFACT);
    mm_err_t err = mm_blob_get(blob, candidate, &data, errstr, errstr_size);
    if (err != MM_OK) {
        mm_buf_free(&data);
        if (err == MM_ERR_NOT_FOUND)
            return mm_errf(err, errstr, errstr_size, "candidate artifact %s not found", candidate);
        return err;
    }
    char actual[MM_SHA256_HEX_LEN + 1];
    mm_sha256_hex(data.data, data.len, actual);
    size_t len = data.len;
    mm_buf_free(&data);
    if (size >= 0 && (uint64_t)len != (uint64_t)size)
        return mm_errf(MM_ERR_INTEGRITY, errstr, errstr_size,
                       "candidate artifact %s is %zu bytes, the record says %lld", candidate, len,
                       (long long)size);
    if (!sha256_hex || strcasecmp(actual, sha256_hex) != 0)
        return mm_errf(MM_ERR_INTEGRITY, errstr, errstr_size,
                       "candidate artifact %s has sha256 %s, the record says %s", candidate, actual,
                       sha256_hex ? sha256_hex : "(none)");

    err = mm_blob_copy(blob, candidate, production, MM_BLOB_IF_NONE_MATCH, errstr, errstr_size);
    if (err == MM_ERR_EXISTS) {
        /* Content-addressed: an existing copy must be byte-identical. */
        mm_buf_init(&data, MM_BUF_CAP_ARTIFACT);
        err = mm_blob_get(blob, production, &data, errstr, errstr_size);
        if (err == MM_OK) {
            mm_sha256_hex(data.data, data.len, actual);
            if (strcasecmp(actual, sha256_hex) != 0)
                err = mm_errf(MM_ERR_INTEGRITY, errstr, errstr_size,
                              "%s exists with sha256 %s, expected %s", production, actual,
                              sha256_hex);
        }
        mm_buf_free(&data);
    }
    return err;
}

/* ------------------------------------------------------------ decisions */

static void production_from_version(const reg_version_t *v, mm_production_model_t *p) {
    p->train_id = v->train_id;
    p->version = v->version;
    p->algorithm = v->algorithm;
    p->artifact_uri = v->production_uri;
    p->artifact_sha256 = v->sha256;
    p->artifact_size = v->size;
    p->data_end_ms = v->data_end_ms;
    p->n_rows = v->n_rows;
    p->load_id = v->load_id;
}

/* Encode a ModelDecision and put it into the outbox (inside the caller's transaction). */
static mm_err_t decision_to_outbox(mm_db_t *db, const char *topic, const char *partition_key,
                                   const char *dataset, const char *spec_hash,
                                   mm_decision_kind_t kind, const char *reason,
                                   const char *candidate_train_id, int32_t candidate_version,
                                   const reg_version_t *production, int64_t now_ms, char *errstr,
                                   size_t errstr_size) {
    mm_model_decision_t decision;
    memset(&decision, 0, sizeof(decision));
    /* Encoding only reads the struct: borrowed pointers are fine. */
    decision.partition_key = partition_key;
    decision.dataset = dataset;
    decision.spec_hash = spec_hash;
    decision.decision = kind;
    decision.reason = reason;
    decision.candidate_train_id = candidate_train_id;
    decision.candidate_version = candidate_version;
    decision.decided_at_ms = now_ms;
    decision.has_production = production != NULL;
    if (production) production_from_version(production, &decision.production);

    mm_err_t err = mm_avro_init(errstr, errstr_size);
    if (err != MM_OK) return err;
    mm_buf_t payload;
    mm_buf_init(&payload, MM_BUF_CAP_MESSAGE);
    err = mm_avro_encode_model_decision(&decision, &payload, errstr, errstr_size);
    if (err == MM_OK)
        err = mm_outbox_insert(db, topic, partition_key, &payload, now_ms, errstr, errstr_size);
    mm_buf_free(&payload);
    return err;
}

/* ------------------------------------------------------------ the promoter */

struct mm_promoter {
    mm_db_t *db;
    const mm_spec_t *spec;
    mm_blob_t *blob;
    char *actor;
    char *decisions_topic;
    char *deadletter_topic;
};

mm_promoter_t *mm_promoter_new(const mm_promoter_config_t *cfg, char *errstr, size_t errstr_size) {
    if (!cfg || !cfg->spec) {
        mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "promoter: a dataset spec is required");
        return NULL;
    }
    if (mm_avro_init(errstr, errstr_size) != MM_OK) return NULL;
    mm_promoter_t *promoter = calloc(1, sizeof(*promoter));
    if (!promoter) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "promoter: out of memory");
        return NULL;
    }
    promoter->spec = cfg->spec;
    promoter->blob = cfg->blob;
    promoter->actor = strdup(cfg->actor ? cfg->actor : MM_PROMOTER_SERVICE);
    promoter->decisions_topic =
        strdup(cfg->decisions_topic ? cfg->decisions_topic : MM_TOPIC_DECISIONS);
    promoter->deadletter_topic =
        strdup(cfg->deadletter_topic ? cfg->deadletter_topic : MM_TOPIC_DEADLETTER);
    if (!promoter->actor || !promoter->decisions_topic || !promoter->deadletter_topic) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "promoter: out of memory");
        mm_promoter_destroy(promoter);
        return NULL;
    }
    promoter->db = mm_promoter_registry_open(cfg->registry_path, errstr, errstr_size);
    if (!promoter->db) {
        mm_promoter_destroy(promoter);
        return NULL;
    }
    return promoter;
}

void mm_promoter_destroy(mm_promoter_t *promoter) {
    if (!promoter) return;
    mm_db_close(promoter->db);
    free(promoter->actor);
    free(promoter->decisions_topic);
    free(promoter->deadletter_topic);
    free(promoter);
}

mm_db_t *mm_promoter_db(mm_promoter_t *promoter) {
    return promoter->db;
}

/* A dead letter for a message at (topic, partition, offset), in one transaction with its offset. */
static mm_err_t dead_letter_write(mm_promoter_t *promoter, const char *topic, int32_t partition,
                                  int64_t offset, const char *partition_key, const void *original,
                                  size_t original_len, mm_err_t code, const char *reason,
                                  char *errstr, size_t errstr_size) {
    int64_t now_ms = mm_now_ms();
    mm_service_dead_letter_source_t source = {
        .topic = topic, .partition = partition, .offset = offset};
    mm_buf_t payload;
    mm_buf_init(&payload, MM_BUF_CAP_MESSAGE);
    mm_err_t err =
        mm_service_dead_letter_encode(MM_PROMOTER_SERVICE, &source, partition_key, original,
                                      original_len, code, reason, &payload, errstr, errstr_size);
    if (err != MM_OK) {
        mm_buf_free(&payload);
        return err;
    }
    err = mm_db_begin(promoter->db, errstr, errstr_size);
    if (err == MM_OK)
        err = mm_outbox_insert(promoter->db, promoter->deadletter_topic, partition_key, &payload,
                               now_ms, errstr, errstr_size);
    if (err == MM_OK)
        err = reg_audit(promoter->db, now_ms, partition_key, 0, "dead_letter", NULL, reason,
                        promoter->actor, errstr, errstr_size);
    if (err == MM_OK && topic)
        err = reg_store_offset(promoter->db, topic, partition, offset + 1, now_ms, errstr,
                               errstr_size);
    if (err == MM_OK) err = mm_db_commit(promoter->db, errstr, errstr_size);
    if (err != MM_OK) mm_db_rollback(promoter->db);
    mm_buf_free(&payload);
    if (err == MM_OK)
        mm_log_warn("dead_letter", "%s[%d]@%lld: %s", topic ? topic : "-", (int)partition,
                    (long long)offset, reason);
    return err;
}

/* Dead-letter a decoded record whose raw bytes are not at hand: re-encode it. */
static mm_err_t dead_letter_record(mm_promoter_t *promoter, const mm_model_trained_t *rec,
                                   const mm_kafka_msg_t *raw, const char *topic, int32_t partition,
                                   int64_t offset, mm_err_t code, const char *reason,
                                   mm_promoter_outcome_t *out, char *errstr, size_t errstr_size) {
    mm_buf_t encoded;
    mm_buf_init(&encoded, MM_BUF_CAP_MESSAGE);
    const void *original = raw ? raw->value : NULL;
    size_t original_len = raw ? raw->value_len : 0;
    char scratch[256];
    if (!raw && mm_avro_encode_model_trained(rec, &encoded, scratch, sizeof(scratch)) == MM_OK) {
        original = encoded.data;
        original_len = encoded.len;
    }
    mm_err_t err = dead_letter_write(promoter, topic, partition, offset, rec->partition_key,
                                     original, original_len, code, reason, errstr, errstr_size);
    mm_buf_free(&encoded);
    if (err == MM_OK) {
        out->dead_lettered = true;
        snprintf(out->reason, sizeof(out->reason), "%s", reason);
    }
    return err;
}

mm_err_t mm_promoter_dead_letter(mm_promoter_t *promoter, const mm_kafka_msg_t *msg,
                                 const char *partition_key, mm_err_t code, const char *reason,
                                 char *errstr, size_t errstr_size) {
    return dead_letter_write(promoter, msg->topic, msg->partition, msg->offset, partition_key,
                             msg->value, msg->value_len, code, reason, errstr, errstr_size);
}

/* Look up a train_id; *version 0 when not registered. */
static mm_err_t lookup_train_id(mm_db_t *db, const char *train_id, char *partition_key_out,
                                size_t key_size, int32_t *version, bool *approved, char *errstr,
                                size_t errstr_size) {
    sqlite3_stmt *stmt;
    *version = 0;
    *approved = false;
    mm_err_t err = db_query(
        db, &stmt, errstr, errstr_size,
        "SELECT version, status, partition_key FROM versions WHERE train_id = ?", "t", train_id);
    if (err != MM_OK) return err;
    err = mm_db_step_row(db, stmt, errstr, errstr_size);
    if (err == MM_OK) {
        const unsigned char *status = sqlite3_column_text(stmt, 1);
        const unsigned char *key = sqlite3_column_text(stmt, 2);
        *version = (int32_t)sqlite3_column_int64(stmt, 0);
        *approved = status && strcmp((const char *)status, "approved") == 0;
        snprintf(partition_key_out, key_size, "%s", key ? (const char *)key : "");
    } else if (err == MM_ERR_NOT_FOUND) {
        err = MM_OK;
    }
    sqlite3_finalize(stmt);
    return err;
}

static mm_err_t champion_load(mm_db_t *db, const char *partition_key, reg_version_t *champion,
                              bool *found, char *errstr, size_t errstr_size) {
    int32_t version = 0;
    *found = false;
    mm_err_t err =
        reg_alias_get(db, partition_key, MM_ALIAS_CHAMPION, &version, errstr, errstr_size);
    if (err != MM_OK || version <= 0) return err;
    return reg_version_load(db, partition_key, version, champion, found, errstr, errstr_size);
}

static mm_err_t insert_version(mm_promoter_t *promoter, const mm_model_trained_t *rec,
                               int32_t version, const char *production_uri, const verdict_t *v,
                               const char *topic, int32_t partition, int64_t offset, int64_t now_ms,
                               char *errstr, size_t errstr_size) {
    char *metrics = metrics_to_json(rec->metrics, rec->n_metrics);
    char *baseline = metrics_to_json(rec->baseline, rec->n_baseline);
    mm_err_t err;
    if (!metrics || !baseline) {
        err = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "metrics JSON: out of memory");
    } else {
        err = db_run(
            promoter->db, errstr, errstr_size,
            "INSERT INTO versions (partition_key, version, train_id, dataset, spec_hash,"
            " algorithm, artifact_uri, production_uri, sha256, size, artifact_format, metrics,"
            " baseline, data_start_ms, data_end_ms, n_rows, data_digest, load_id, fallback,"
            " fallback_reason, trained_at_ms, trainer, created_at_ms, status, reason,"
            " source_topic, source_partition, source_offset)"
            " VALUES (?,?,?,?,?, ?,?,?,?,?, ?,?,?,?,?, ?,?,?,?,?, ?,?,?,?,?, ?,?,?)",
            "tittt"
            "tttti"
            "ittii"
            "ittit"
            "ititt"
            "tii",
            rec->partition_key, (int64_t)version, rec->train_id,
            rec->dataset ? rec->dataset : promoter->spec->name,
            rec->spec_hash ? rec->spec_hash : "", rec->algorithm ? rec->algorithm : "unknown",
            rec->artifact_uri, production_uri, rec->artifact_sha256 ? rec->artifact_sha256 : "",
            rec->artifact_size, (int64_t)rec->artifact_format, metrics, baseline,
            rec->data_start_ms, rec->data_end_ms, rec->n_rows, rec->data_digest, rec->load_id,
            (int64_t)(rec->fallback ? 1 : 0), rec->fallback_reason, rec->trained_at_ms,
            rec->trainer, now_ms, v->approved ? "approved" : "rejected", v->reason, topic,
            (int64_t)partition, offset);
    }
    free(metrics);
    free(baseline);
    if (err == MM_OK && !v->approved && v->failed_check)
        err = db_run(promoter->db, errstr, errstr_size,
                     "INSERT INTO tags (partition_key, version, tag, value) VALUES (?, ?, ?, ?)",
                     "titt", rec->partition_key, (int64_t)version, "failed_check", v->failed_check);
    if (err == MM_OK && rec->fallback)
        err = db_run(promoter->db, errstr, errstr_size,
                     "INSERT INTO tags (partition_key, version, tag, value) VALUES (?, ?, ?, ?)",
                     "titt", rec->partition_key, (int64_t)version, "fallback",
                     rec->fallback_reason ? rec->fallback_reason : "declared fallback");
    return err;
}

/*
 * Build the reg_version_t view of a just-approved candidate, borrowing rec's
 * strings: the view is only read and never cleared, so the casts are safe.
 */
static void version_from_record(const mm_model_trained_t *rec, int32_t version,
                                char *production_uri, reg_version_t *v) {
    memset(v, 0, sizeof(*v));
    v->version = version;
    v->train_id = (char *)rec->train_id;
    v->algorithm = (char *)rec->algorithm;
    v->production_uri = production_uri;
    v->sha256 = (char *)rec->artifact_sha256;
    v->size = rec->artifact_size;
    v->data_end_ms = rec->data_end_ms;
    v->n_rows = rec->n_rows;
    v->load_id = (char *)rec->load_id;
}

static mm_err_t handle_trained(mm_promoter_t *promoter, const mm_model_trained_t *rec,
                               const mm_kafka_msg_t *raw, const char *topic, int32_t partition,
                               int64_t offset, mm_promoter_outcome_t *out, char *errstr,
                               size_t errstr_size) {
    char reason[512];
    char production_uri[PROMOTER_NAME_MAX];
    mm_db_t *db = promoter->db;
    const mm_spec_t *spec = promoter->spec;

    memset(out, 0, sizeof(*out));

    /* Records that cannot be judged: dead-letter, keep going. */
    if (!rec->train_id || !*rec->train_id || !rec->partition_key || !*rec->partition_key) {
        snprintf(reason, sizeof(reason), "ModelTrained without %s",
                 (!rec->train_id || !*rec->train_id) ? "train_id" : "partition_key");
        return dead_letter_record(promoter, rec, raw, topic, partition, offset, MM_ERR_PARSE,
                                  reason, out, errstr, errstr_size);
    }
    if (spec->name && rec->dataset && strcmp(spec->name, rec->dataset) != 0) {
        snprintf(reason, sizeof(reason), "ModelTrained %s is for dataset '%s', not '%s'",
                 rec->train_id, rec->dataset, spec->name);
        return dead_letter_record(promoter, rec, raw, topic, partition, offset, MM_ERR_CONFIG,
                                  reason, out, errstr, errstr_size);
    }
    if (mm_promoter_production_name(rec->artifact_uri, production_uri, sizeof(production_uri)) !=
        MM_OK) {
        snprintf(reason, sizeof(reason), "ModelTrained %s: artifact '%s' is not under %s",
                 rec->train_id, rec->artifact_uri ? rec->artifact_uri : "",
                 MM_PROMOTER_CANDIDATES_PREFIX);
        return dead_letter_record(promoter, rec, raw, topic, partition, offset, MM_ERR_INVALID_ARG,
                                  reason, out, errstr, errstr_size);
    }
    if (rec->spec_hash && spec->hash[0] && strcmp(rec->spec_hash, spec->hash) != 0)
        mm_log_warn("spec_mismatch", "%s %s was trained with spec %.12s, this promoter has %.12s",
                    rec->partition_key, rec->train_id, rec->spec_hash, spec->hash);

    bool published = false;
    for (int attempt = 0; attempt < PROMOTER_REPLAY_ATTEMPTS; attempt++) {
        int64_t now_ms = mm_now_ms();
        mm_err_t err = mm_db_begin(db, errstr, errstr_size);
        if (err != MM_OK) return err;

        /* Replay: the train_id is registered already -> only the offset moves. */
        char known_key[PROMOTER_KEY_MAX];
        int32_t known_version = 0;
        bool known_approved = false;
        err = lookup_train_id(db, rec->train_id, known_key, sizeof(known_key), &known_version,
                              &known_approved, errstr, errstr_size);
        if (err == MM_OK && known_version > 0) {
            int32_t champion = 0;
            err = reg_alias_get(db, known_key, MM_ALIAS_CHAMPION, &champion, errstr, errstr_size);
            if (err == MM_OK && topic)
                err =
                    reg_store_offset(db, topic, partition, offset + 1, now_ms, errstr, errstr_size);
            if (err == MM_OK) err = mm_db_commit(db, errstr, errstr_size);
            if (err != MM_OK) {
                mm_db_rollback(db);
                return err;
            }
            out->replayed = true;
            out->decision = known_approved ? MM_DECISION_APPROVED : MM_DECISION_REJECTED;
            out->version = known_version;
            out->champion = champion;
            snprintf(out->reason, sizeof(out->reason), "replay of %s: already v%d (%s)",
                     rec->train_id, (int)known_version, known_approved ? "approved" : "rejected");
            return MM_OK;
        }

        reg_version_t champion;
        memset(&champion, 0, sizeof(champion));
        bool has_champion = false;
        if (err == MM_OK)
            err = champion_load(db, rec->partition_key, &champion, &has_champion, errstr,
                                errstr_size);
        if (err != MM_OK) {
            mm_db_rollback(db);
            return err;
        }

        verdict_t verdict;
        policy_judge(&spec->promotion, rec, has_champion ? &champion : NULL, &verdict);

        if (verdict.approved && !published) {
            /* Copy outside the transaction (it may take a while), then judge again. */
            mm_db_rollback(db);
            reg_version_clear(&champion);
            err = artifact_publish(promoter->blob, rec->artifact_uri, production_uri,
                                   rec->artifact_sha256, rec->artifact_size, errstr, errstr_size);
            if (err == MM_ERR_NOT_FOUND || err == MM_ERR_INTEGRITY) {
                snprintf(reason, sizeof(reason), "%s", errstr);
                return dead_letter_record(promoter, rec, raw, topic, partition, offset, err, reason,
                                          out, errstr, errstr_size);
            }
            if (err != MM_OK) return err;
            published = true;
            continue;
        }

        int64_t max_version = 0;
        sqlite3_stmt *stmt = NULL;
        err = db_query(db, &stmt, errstr, errstr_size,
                       "SELECT coalesce(max(version), 0) FROM versions WHERE partition_key = ?",
                       "t", rec->partition_key);
        if (err == MM_OK) {
            err = mm_db_step_row(db, stmt, errstr, errstr_size);
            if (err == MM_OK) max_version = sqlite3_column_int64(stmt, 0);
            sqlite3_finalize(stmt);
        }
        int32_t version = (int32_t)(max_version + 1);
        int32_t champion_after = has_champion ? champion.version : 0;

        if (err == MM_OK)
            err = insert_version(promoter, rec, version, verdict.approved ? production_uri : NULL,
                                 &verdict, topic, partition, offset, now_ms, errstr, errstr_size);
        if (err == MM_OK && verdict.approved) {
            if (has_champion)
                err = reg_alias_set(db, rec->partition_key, MM_ALIAS_PREVIOUS, champion.version,
                                    now_ms, errstr, errstr_size);
            if (err == MM_OK)
                err = reg_alias_set(db, rec->partition_key, MM_ALIAS_CHAMPION, version, now_ms,
                                    errstr, errstr_size);
            if (err == MM_OK)
                err = reg_alias_set(db, rec->partition_key, MM_ALIAS_CHALLENGER, 0, now_ms, errstr,
                                    errstr_size);
            champion_after = version;
        } else if (err == MM_OK) {
            /* The newest candidate that did not make it: what an operator may promote by hand. */
            err = reg_alias_set(db, rec->partition_key, MM_ALIAS_CHALLENGER, version, now_ms,
                                errstr, errstr_size);
        }
        mm_decision_kind_t kind = verdict.approved ? MM_DECISION_APPROVED : MM_DECISION_REJECTED;
        if (err == MM_OK)
            err = reg_audit(db, now_ms, rec->partition_key, version, "judge",
                            mm_decision_kind_name(kind), verdict.reason, promoter->actor, errstr,
                            errstr_size);
        if (err == MM_OK) {
            reg_version_t approved_view;
            const reg_version_t *production = NULL;
            if (verdict.approved) {
                version_from_record(rec, version, production_uri, &approved_view);
                production = &approved_view;
            } else if (has_champion) {
                production = &champion;
            }
            err = decision_to_outbox(db, promoter->decisions_topic, rec->partition_key,
                                     rec->dataset ? rec->dataset : spec->name,
                                     rec->spec_hash ? rec->spec_hash : spec->hash, kind,
                                     verdict.reason, rec->train_id, version, production, now_ms,
                                     errstr, errstr_size);
        }
        if (err == MM_OK && topic)
            err = reg_store_offset(db, topic, partition, offset + 1, now_ms, errstr, errstr_size);
        if (err == MM_OK) err = mm_db_commit(db, errstr, errstr_size);
        reg_version_clear(&champion);
        if (err != MM_OK) {
            mm_db_rollback(db);
            return err;
        }
        out->decision = kind;
        out->version = version;
        out->champion = champion_after;
        snprintf(out->reason, sizeof(out->reason), "%s", verdict.reason);
        mm_log_debug("decision", "%s v%d %s", rec->partition_key, (int)version, verdict.reason);
        return MM_OK;
    }
    return mm_errf(MM_ERR_BUSY, errstr, errstr_size,
                   "%s: the champion kept changing while judging %s", rec->partition_key,
                   rec->train_id);
}

mm_err_t mm_promoter_handle_trained(mm_promoter_t *promoter, const mm_model_trained_t *rec,
                                    const char *topic, int32_t partition, int64_t offset,
                                    mm_promoter_outcome_t *out, char *errstr, size_t errstr_size) {
    return handle_trained(promoter, rec, NULL, topic, partition, offset, out, errstr, errstr_size);
}

/* The message key as a C string, when it is one; else NULL. */
static char *key_string(const mm_kafka_msg_t *msg) {
    if (!msg->key || msg->key_len == 0 || msg->key_len >= PROMOTER_KEY_MAX) return NULL;
    if (memchr(msg->key, 0, msg->key_len)) return NULL;
    return mm_strndup(msg->key, msg->key_len);
}

mm_err_t mm_promoter_handle_message(mm_promoter_t *promoter, const mm_kafka_msg_t *msg,
                                    mm_promoter_outcome_t *out, char *errstr, size_t errstr_size) {
    char reason[512];
    memset(out, 0, sizeof(*out));
    if (!msg->value || msg->value_len == 0) {
        snprintf(reason, sizeof(reason), "empty message (tombstone) on %s", msg->topic);
    } else {
        mm_model_trained_t rec;
        memset(&rec, 0, sizeof(rec));
        char why[400];
        mm_err_t derr =
            mm_avro_decode_model_trained(msg->value, msg->value_len, &rec, why, sizeof(why));
        if (derr == MM_OK) {
            mm_err_t err = handle_trained(promoter, &rec, msg, msg->topic, msg->partition,
                                          msg->offset, out, errstr, errstr_size);
            mm_model_trained_clear(&rec);
            return err;
        }
        mm_model_trained_clear(&rec);
        snprintf(reason, sizeof(reason), "undecodable ModelTrained: %s", why);
        char *key = key_string(msg);
        mm_err_t err =
            dead_letter_write(promoter, msg->topic, msg->partition, msg->offset, key, msg->value,
                              msg->value_len, derr, reason, errstr, errstr_size);
        free(key);
        if (err == MM_OK) {
            out->dead_lettered = true;
            snprintf(out->reason, sizeof(out->reason), "%s", reason);
        }
        return err;
    }
    char *key = key_string(msg);
    mm_err_t err = dead_letter_write(promoter, msg->topic, msg->partition, msg->offset, key, NULL,
                                     0, MM_ERR_PARSE, reason, errstr, errstr_size);
    free(key);
    if (err == MM_OK) {
        out->dead_lettered = true;
        snprintf(out->reason, sizeof(out->reason), "%s", reason);
    }
    return err;
}

int64_t mm_promoter_on_assign(void *opaque, const char *topic, int32_t partition) {
    mm_promoter_t *promoter = opaque;
    char errstr[256];
    int64_t next_offset = MM_OFFSET_BEGINNING;
    bool found = false;
    mm_err_t err = mm_promoter_stored_offset(promoter->db, topic, partition, &next_offset, &found,
                                             errstr, sizeof(errstr));
    if (err != MM_OK) {
        /* Starting over is safe: replays change nothing. */
        mm_log_error("assign", "%s[%d]: stored offset unreadable (%s); starting from the beginning",
                     topic, (int)partition, errstr);
        return MM_OFFSET_BEGINNING;
    }
    if (!found) {
        mm_log_info("assign", "%s[%d]: no stored offset, starting from the beginning", topic,
                    (int)partition);
        return MM_OFFSET_BEGINNING;
    }
    mm_log_info("assign", "%s[%d]: starting at stored offset %lld", topic, (int)partition,
                (long long)next_offset);
    return next_offset;
}

/* ------------------------------------------------------------ manual operations */

static const char *actor_or_default(const char *actor) {
    return actor && *actor ? actor : "mmctl";
}

mm_err_t mm_promoter_promote(mm_db_t *db, mm_blob_t *blob, const char *partition_key,
                             int32_t version, const char *reason, const char *actor,
                             mm_promoter_outcome_t *out, char *errstr, size_t errstr_size) {
    reg_version_t target;
    memset(&target, 0, sizeof(target));
    memset(out, 0, sizeof(*out));
    bool found = false;
    char production_uri[PROMOTER_NAME_MAX];
    char text[512];

    if (!partition_key || version <= 0)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "promote: key and version > 0");
    mm_err_t err =
        reg_version_load(db, partition_key, version, &target, &found, errstr, errstr_size);
    if (err != MM_OK) return err;
    if (!found)
        return mm_errf(MM_ERR_NOT_FOUND, errstr, errstr_size, "%s has no version %d", partition_key,
                       (int)version);

    bool needs_copy = target.production_uri == NULL;
    if (needs_copy) {
        if (mm_promoter_production_name(target.artifact_uri, production_uri,
                                        sizeof(production_uri)) != MM_OK) {
            err = mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                          "%s v%d: artifact '%s' is not under %s", partition_key, (int)version,
                          target.artifact_uri, MM_PROMOTER_CANDIDATES_PREFIX);
            goto done;
        }
        if (!blob) {
            err = mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                          "%s v%d was never copied to production/; a blob store is needed",
                          partition_key, (int)version);
            goto done;
        }
        err = artifact_publish(blob, target.artifact_uri, production_uri, target.sha256,
                               target.size, errstr, errstr_size);
        if (err != MM_OK) goto done;
        free(target.production_uri);
        target.production_uri = strdup(production_uri);
        if (!target.production_uri) {
            err = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "promote: out of memory");
            goto done;
        }
    }

    int64_t now_ms = mm_now_ms();
    int32_t champion = 0, challenger = 0;
    err = mm_db_begin(db, errstr, errstr_size);
    if (err != MM_OK) goto done;
    err = reg_alias_get(db, partition_key, MM_ALIAS_CHAMPION, &champion, errstr, errstr_size);
    if (err == MM_OK && champion == version) {
        mm_db_rollback(db);
        out->changed = false;
        out->decision = MM_DECISION_PROMOTED;
        out->version = version;
        out->champion = champion;
        snprintf(out->reason, sizeof(out->reason), "v%d is already the champion of %s",
                 (int)version, partition_key);
        goto done;
    }
    if (err == MM_OK)
        err =
            reg_alias_get(db, partition_key, MM_ALIAS_CHALLENGER, &challenger, errstr, errstr_size);
    if (err == MM_OK && needs_copy)
        err =
            db_run(db, errstr, errstr_size,
                   "UPDATE versions SET production_uri = ? WHERE partition_key = ? AND version = ?",
                   "tti", target.production_uri, partition_key, (int64_t)version);
    if (champion > 0) {
        snprintf(text, sizeof(text), "promoted: v%d replaces champion v%d by hand: %s",
                 (int)version, (int)champion, reason && *reason ? reason : "(no reason given)");
        if (err == MM_OK)
            err = reg_alias_set(db, partition_key, MM_ALIAS_PREVIOUS, champion, now_ms, errstr,
                                errstr_size);
    } else {
        snprintf(text, sizeof(text), "promoted: v%d becomes the first champion by hand: %s",
                 (int)version, reason && *reason ? reason : "(no reason given)");
    }
    if (err == MM_OK)
        err = reg_alias_set(db, partition_key, MM_ALIAS_CHAMPION, version, now_ms, errstr,
                            errstr_size);
    if (err == MM_OK && challenger == version)
        err = reg_alias_set(db, partition_key, MM_ALIAS_CHALLENGER, 0, now_ms, errstr, errstr_size);
    if (err == MM_OK)
        err = reg_audit(db, now_ms, partition_key, version, "promote",
                        mm_decision_kind_name(MM_DECISION_PROMOTED), text, actor_or_default(actor),
                        errstr, errstr_size);
    if (err == MM_OK)
        err = decision_to_outbox(db, MM_TOPIC_DECISIONS, partition_key, target.dataset,
                                 target.spec_hash, MM_DECISION_PROMOTED, text, target.train_id,
                                 version, &target, now_ms, errstr, errstr_size);
    if (err == MM_OK) err = mm_db_commit(db, errstr, errstr_size);
    if (err != MM_OK) {
        mm_db_rollback(db);
        goto done;
    }
    out->changed = true;
    out->decision = MM_DECISION_PROMOTED;
    out->version = version;
    out->champion = version;
    snprintf(out->reason, sizeof(out->reason), "%s", text);
done:
    reg_version_clear(&target);
    return err;
}

mm_err_t mm_promoter_rollback(mm_db_t *db, const char *partition_key, const char *reason,
                              const char *actor, mm_promoter_outcome_t *out, char *errstr,
                              size_t errstr_size) {
    reg_version_t restored;
    memset(&restored, 0, sizeof(restored));
    memset(out, 0, sizeof(*out));
    char text[512];
    int32_t champion = 0, previous = 0;
    bool found = false;

    if (!partition_key) return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "rollback: no key");
    int64_t now_ms = mm_now_ms();
    mm_err_t err = mm_db_begin(db, errstr, errstr_size);
    if (err != MM_OK) return err;
    err = reg_alias_get(db, partition_key, MM_ALIAS_CHAMPION, &champion, errstr, errstr_size);
    if (err == MM_OK)
        err = reg_alias_get(db, partition_key, MM_ALIAS_PREVIOUS, &previous, errstr, errstr_size);
    if (err == MM_OK && champion <= 0)
        err = mm_errf(MM_ERR_NOT_FOUND, errstr, errstr_size, "%s has no champion", partition_key);
    if (err == MM_OK && previous <= 0)
        err = mm_errf(MM_ERR_NOT_FOUND, errstr, errstr_size,
                      "%s has no previous champion to roll back to", partition_key);
    if (err == MM_OK)
        err = reg_version_load(db, partition_key, previous, &restored, &found, errstr, errstr_size);
    if (err == MM_OK && (!found || !restored.production_uri))
        err = mm_errf(MM_ERR_NOT_FOUND, errstr, errstr_size,
                      "%s: previous v%d has no production artifact", partition_key, (int)previous);

    /* The new previous: the newest production version older than the restored one. */
    int64_t older = 0;
    if (err == MM_OK) {
        sqlite3_stmt *stmt = NULL;
        err = db_query(db, &stmt, errstr, errstr_size,
                       "SELECT coalesce(max(version), 0) FROM versions WHERE partition_key = ?"
                       " AND version < ? AND production_uri IS NOT NULL",
                       "ti", partition_key, (int64_t)previous);
        if (err == MM_OK) {
            err = mm_db_step_row(db, stmt, errstr, errstr_size);
            if (err == MM_OK) older = sqlite3_column_int64(stmt, 0);
            sqlite3_finalize(stmt);
        }
    }
    if (err == MM_OK) {
        snprintf(text, sizeof(text), "rolled back: v%d replaces champion v%d by hand: %s",
                 (int)previous, (int)champion, reason && *reason ? reason : "(no reason given)");
        err = reg_alias_set(db, partition_key, MM_ALIAS_CHAMPION, previous, now_ms, errstr,
                            errstr_size);
    }
    if (err == MM_OK)
        err = reg_alias_set(db, partition_key, MM_ALIAS_PREVIOUS, (int32_t)older, now_ms, errstr,
                            errstr_size);
    if (err == MM_OK)
        err = reg_audit(db, now_ms, partition_key, previous, "rollback",
                        mm_decision_kind_name(MM_DECISION_ROLLED_BACK), text,
                        actor_or_default(actor), errstr, errstr_size);
    if (err == MM_OK)
        err =
            decision_to_outbox(db, MM_TOPIC_DECISIONS, partition_key, restored.dataset,
                               restored.spec_hash, MM_DECISION_ROLLED_BACK, text, restored.train_id,
                               previous, &restored, now_ms, errstr, errstr_size);
    if (err == MM_OK) err = mm_db_commit(db, errstr, errstr_size);
    if (err != MM_OK) {
        mm_db_rollback(db);
    } else {
        out->changed = true;
        out->decision = MM_DECISION_ROLLED_BACK;
        out->version = previous;
        out->champion = previous;
        snprintf(out->reason, sizeof(out->reason), "%s", text);
    }
    reg_version_clear(&restored);
    return err;
}

/* ------------------------------------------------------------ service loop */

#define RUN_COMMIT_INTERVAL_MS  1000
#define RUN_SUMMARY_INTERVAL_MS 10000
#define RUN_RETRY_BASE_MS       200
#define RUN_RETRY_CAP_MS        10000

typedef struct run_counts {
    int64_t messages, approved, rejected, replayed, dead_lettered, retries;
} run_counts_t;

/* Wait @p ms while serving delivery reports; returns early on stop. */
static void run_wait(mm_kafka_producer_t *producer, int64_t ms, volatile sig_atomic_t *stop) {
    int64_t end = mm_mono_ms() + ms;
    while (!*stop) {
        int64_t left = end - mm_mono_ms();
        if (left <= 0) return;
        mm_kafka_producer_poll(producer, left > 50 ? 50 : (int)left);
    }
}

static void run_summary(const run_counts_t *c, const mm_outbox_t *outbox) {
    json_t *fields = json_pack(
        "{sIsIsIsIsIsIsIsIsI}", "messages", (json_int_t)c->messages, "approved",
        (json_int_t)c->approved, "rejected", (json_int_t)c->rejected, "replayed",
        (json_int_t)c->replayed, "dead_lettered", (json_int_t)c->dead_lettered, "retries",
        (json_int_t)c->retries, "delivered", (json_int_t)outbox->delivered, "delivery_failed",
        (json_int_t)outbox->failed, "superseded", (json_int_t)outbox->superseded);
    mm_logj(MM_LOG_INFO, "progress", fields, "%lld messages handled", (long long)c->messages);
}

mm_err_t mm_promoter_run(mm_promoter_t *promoter, mm_kafka_consumer_t *consumer,
                         mm_kafka_producer_t *producer, mm_outbox_t *outbox,
                         volatile sig_atomic_t *stop, char *errstr, size_t errstr_size) {
    run_counts_t counts;
    memset(&counts, 0, sizeof(counts));
    int64_t last_commit = mm_mono_ms(), last_summary = last_commit;
    bool dirty = false, summary_due = false;
    char why[512];

    while (!*stop) {
        mm_err_t err = mm_outbox_drain(outbox, producer, NULL, why, sizeof(why));
        if (err != MM_OK) mm_log_warn("outbox", "drain: %s", why);
        mm_kafka_producer_poll(producer, 0);

        int64_t now = mm_mono_ms();
        if (dirty && now - last_commit >= RUN_COMMIT_INTERVAL_MS) {
            mm_kafka_consumer_commit_async(consumer);
            dirty = false;
            last_commit = now;
        }
        if (summary_due && now - last_summary >= RUN_SUMMARY_INTERVAL_MS) {
            run_summary(&counts, outbox);
            summary_due = false;
            last_summary = now;
        }

        mm_kafka_msg_t msg;
        err = mm_kafka_consumer_poll(consumer, 100, &msg, why, sizeof(why));
        if (err == MM_ERR_TIMEOUT) continue;
        if (err != MM_OK) {
            if (mm_err_is_fatal(err)) return mm_errf(err, errstr, errstr_size, "consumer: %s", why);
            mm_log_warn("consumer", "%s", why);
            continue;
        }

        mm_promoter_outcome_t outcome;
        for (int attempt = 0;; attempt++) {
            err = mm_promoter_handle_message(promoter, &msg, &outcome, why, sizeof(why));
            if (err == MM_OK) break;
            if (!mm_err_is_retriable(err))
                return mm_errf(err, errstr, errstr_size, "%s[%d]@%lld: %s", msg.topic,
                               (int)msg.partition, (long long)msg.offset, why);
            counts.retries++;
            int64_t delay = mm_backoff_ms(attempt, RUN_RETRY_BASE_MS, RUN_RETRY_CAP_MS);
            mm_log_warn("retry", "%s[%d]@%lld: %s (attempt %d, next in %lld ms)", msg.topic,
                        (int)msg.partition, (long long)msg.offset, why, attempt + 1,
                        (long long)delay);
            run_wait(producer, delay, stop);
            if (*stop) {
                /* Not done: the stored offset still points at this message. */
                run_summary(&counts, outbox);
                return MM_OK;
            }
        }
        /* The transaction is durable: mirror progress for lag monitoring. */
        mm_kafka_consumer_store_offset(consumer, msg.topic, msg.partition, msg.offset + 1);
        dirty = true;
        summary_due = true;
        counts.messages++;
        if (outcome.dead_lettered)
            counts.dead_lettered++;
        else if (outcome.replayed)
            counts.replayed++;
        else if (outcome.decision == MM_DECISION_APPROVED)
            counts.approved++;
        else
            counts.rejected++;
    }
    if (dirty) mm_kafka_consumer_commit_async(consumer);
    run_summary(&counts, outbox);
    return MM_OK;
}

/* ------------------------------------------------------------ reports */

mm_err_t mm_promoter_stats(mm_db_t *db, mm_promoter_stats_t *stats, char *errstr,
                           size_t errstr_size) {
    static const struct {
        size_t offset;
        const char *sql;
    } counts[] = {
        {offsetof(mm_promoter_stats_t, keys), "SELECT count(DISTINCT partition_key) FROM versions"},
        {offsetof(mm_promoter_stats_t, versions), "SELECT count(*) FROM versions"},
        {offsetof(mm_promoter_stats_t, approved),
         "SELECT count(*) FROM versions WHERE status = 'approved'"},
        {offsetof(mm_promoter_stats_t, rejected),
         "SELECT count(*) FROM versions WHERE status = 'rejected'"},
        {offsetof(mm_promoter_stats_t, fallback),
         "SELECT count(*) FROM versions v WHERE v.fallback = 1 AND v.version ="
         " (SELECT max(w.version) FROM versions w WHERE w.partition_key = v.partition_key)"},
        {offsetof(mm_promoter_stats_t, champions),
         "SELECT count(*) FROM aliases WHERE alias = 'champion'"},
        {offsetof(mm_promoter_stats_t, decided_keys),
         "SELECT count(DISTINCT partition_key) FROM audit WHERE decision IS NOT NULL"},
        {offsetof(mm_promoter_stats_t, promoted),
         "SELECT count(*) FROM audit WHERE action = 'promote'"},
        {offsetof(mm_promoter_stats_t, rolled_back),
         "SELECT count(*) FROM audit WHERE action = 'rollback'"},
        {offsetof(mm_promoter_stats_t, outbox), "SELECT count(*) FROM outbox"},
    };
    memset(stats, 0, sizeof(*stats));
    for (size_t i = 0; i < MM_ARRAY_SIZE(counts); i++) {
        int64_t value = 0;
        bool found = false;
        mm_err_t err = mm_db_query_i64(db, counts[i].sql, &value, &found, errstr, errstr_size);
        if (err != MM_OK) return err;
        *(int64_t *)((char *)stats + counts[i].offset) = found ? value : 0;
    }
    for (int m = 0; m < MM_METRIC__COUNT; m++) {
        mm_promoter_metric_mean_t *mean = &stats->metrics[m];
        mean->model = mean->baseline = NAN;
        char path[64];
        snprintf(path, sizeof(path), "$.\"%s\"", mm_metric_name((mm_metric_id_t)m));
        sqlite3_stmt *stmt = NULL;
        mm_err_t err = db_query(
            db, &stmt, errstr, errstr_size,
            "SELECT count(*), avg(json_extract(v.metrics, ?1)), avg(json_extract(v.baseline, ?1))"
            " FROM aliases a JOIN versions v"
            " ON v.partition_key = a.partition_key AND v.version = a.version"
            " WHERE a.alias = 'champion' AND json_extract(v.metrics, ?1) IS NOT NULL"
            " AND json_extract(v.baseline, ?1) IS NOT NULL",
            "t", path);
        if (err != MM_OK) return err;
        err = mm_db_step_row(db, stmt, errstr, errstr_size);
        if (err == MM_OK) {
            mean->n = sqlite3_column_int64(stmt, 0);
            if (mean->n > 0) {
                mean->model = sqlite3_column_double(stmt, 1);
                mean->baseline = sqlite3_column_double(stmt, 2);
            }
        }
        sqlite3_finalize(stmt);
        if (err != MM_OK && err != MM_ERR_NOT_FOUND) return err;
    }
    return MM_OK;
}
