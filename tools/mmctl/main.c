/*
 * mmctl - the manymodels admin CLI, noun-verb style:
 *
 *   mmctl models list|get|versions|promote|rollback   the model registry (mm-promoter's SQLite)
 *   mmctl report                                      registry counts, champion metrics vs
 *                                                     baselines, and the scorer's sink
 *   mmctl outbox deliver                              send pending decisions to Kafka
 *   mmctl topics init                                 create the topics
 *
 * Output: -o table (default, for people) or -o json (for scripts; stable field names).
 * stdout carries the data, stderr the diagnostics. Exit codes: 0 ok, 1 error, 2 usage,
 * 3 not found.
 *
 * Workload: an operator's occasional command or a script polling `report` once a
 * second; queries are single SQL statements over registries of ~10,000 keys.
 * Registry logic (schema, manual promote/rollback, counts) lives in
 * services/promoter/promoter.c and outbox delivery in common/src/outbox.c; this
 * file parses arguments and prints.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "mm/blob.h"
#include "mm/conf.h"
#include "mm/db.h"
#include "mm/kafka.h"
#include "mm/log.h"
#include "mm/model.h"
#include "mm/outbox.h"
#include "mm/spec.h"
#include "mm/util.h"
#include "promoter.h"
#include "scorer.h"

enum {
    EXIT_OK = 0,
    EXIT_ERROR = 1,
    EXIT_USAGE = 2,
    EXIT_NOT_FOUND = 3,
};

#define MMCTL_DELIVER_TIMEOUT_MS 30000
#define MMCTL_AUDIT_ROWS         10 /* audit entries shown by `models get` */

typedef enum { OUT_TABLE = 0, OUT_JSON = 1 } out_format_t;

typedef struct mmctl_opts {
    const char *registry;
    const char *sink;
    const char *reason;
    const char *actor;
    const char *metric;
    const char *spec;
    const char *bootstrap_servers;
    const char *bootstrap_file;
    const char *blob_url;
    const char *blob_account;
    const char *blob_key;
    const char *blob_sas;
    int64_t partitions;
    int64_t replication;
    out_format_t format;
    mm_kv_list_t kafka;
} mmctl_opts_t;

static const char usage_text[] =
    "usage: mmctl [OPTIONS] NOUN VERB [ARGS]\n"
    "\n"
    "Administer manymodels: the model registry, reports, outbox and topics.\n"
    "\n"
    "Commands:\n"
    "  models list                      one row per key: champion version, algorithm,\n"
    "                                   metric vs baseline, previous champion\n"
    "  models get KEY                   a key's aliases, champion details and recent audit\n"
    "  models versions KEY              every registered version of a key\n"
    "  models promote KEY VERSION --reason TEXT\n"
    "                                   make VERSION the champion (old champion -> previous)\n"
    "  models rollback KEY --reason TEXT\n"
    "                                   restore the previous champion\n"
    "  report [--sink PATH]             keys, versions, approved, rejected, fallback,\n"
    "                                   champion metrics vs baselines, predictions in the sink\n"
    "  outbox deliver                   send pending decisions to Kafka (needs a bootstrap)\n"
    "  topics init [--partitions N] [--replication N]\n"
    "                                   create the mm.* topics (no error if they exist)\n"
    "\n"
    "Options:\n"
    "  --registry PATH         registry SQLite file (env MM_PROMOTER_REGISTRY)\n"
    "  --sink PATH             mm-scorer's SQLite sink, for report (env MM_SCORER_SINK)\n"
    "  -o, --output FORMAT     table (default) or json\n"
    "  --reason TEXT           why (required for promote and rollback; kept in the audit log)\n"
    "  --actor NAME            who, for the audit log (default mmctl:$USER)\n"
    "  --metric NAME           metric shown by models list (default: the spec's promotion\n"
    "                          metric with --spec / MM_SPEC, else mase)\n"
    "  --spec PATH             dataset spec (env MM_SPEC)\n"
    "  --bootstrap-servers S   Kafka bootstrap (env MM_BOOTSTRAP_SERVERS)\n"
    "  --bootstrap-file PATH   file holding the bootstrap (env MM_BOOTSTRAP_FILE)\n"
    "  --blob-url URL          blob store, needed to promote a version never copied to\n"
    "                          production/ (env MM_BLOB_URL)\n"
    "  --blob-account NAME     Azure account (env MM_BLOB_ACCOUNT)\n"
    "  --blob-key KEY          Azure SharedKey (env MM_BLOB_KEY)\n"
    "  --blob-sas TOKEN        Azure SAS token (env MM_BLOB_SAS)\n"
    "  --partitions N          topics init: partitions per topic (default 4)\n"
    "  --replication N         topics init: replication factor (default 1)\n"
    "  -X KEY=VALUE            librdkafka property (repeatable)\n"
    "  -h, --help              this text\n"
    "\n"
    "Decisions made by promote and rollback are written to the registry's outbox in the\n"
    "same transaction as the change. With a bootstrap (flag or env) mmctl delivers them to\n"
    "mm.decisions itself; otherwise the running mm-promoter delivers them.\n"
    "\n"
    "Exit status: 0 ok, 1 error, 2 usage, 3 not found (unknown key or version, nothing to\n"
    "roll back to, missing registry or sink file).\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "mmctl: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'mmctl --help'.\n");
    va_end(ap);
    return EXIT_USAGE;
}

static const char *env_or(const char *name, const char *fallback) {
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

static int exit_for(mm_err_t err) {
    if (err == MM_OK) return EXIT_OK;
    if (err == MM_ERR_NOT_FOUND) return EXIT_NOT_FOUND;
    return EXIT_ERROR;
}

static int fail(mm_err_t err, const char *what, const char *why) {
    fprintf(stderr, "mmctl: %s: %s\n", what, why);
    return exit_for(err);
}

/* ------------------------------------------------------------ output helpers */

static void print_json(json_t *doc) {
    json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
    json_decref(doc);
}

static json_t *json_num_or_null(double v) {
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *json_col_int_or_null(sqlite3_stmt *stmt, int col) {
    return sqlite3_column_type(stmt, col) == SQLITE_NULL
               ? json_null()
               : json_integer((json_int_t)sqlite3_column_int64(stmt, col));
}

static json_t *json_col_str_or_null(sqlite3_stmt *stmt, int col) {
    const unsigned char *s = sqlite3_column_text(stmt, col);
    return s ? json_string((const char *)s) : json_null();
}

static json_t *json_col_json_or_null(sqlite3_stmt *stmt, int col) {
    const unsigned char *s = sqlite3_column_text(stmt, col);
    if (!s) return json_null();
    json_t *v = json_loads((const char *)s, 0, NULL);
    return v ? v : json_string((const char *)s);
}

static const char *col_text(sqlite3_stmt *stmt, int col, const char *dflt) {
    const unsigned char *s = sqlite3_column_text(stmt, col);
    return s ? (const char *)s : dflt;
}

static void fmt_version(sqlite3_stmt *stmt, int col, char *out, size_t size) {
    if (sqlite3_column_type(stmt, col) == SQLITE_NULL)
        snprintf(out, size, "-");
    else
        snprintf(out, size, "v%lld", (long long)sqlite3_column_int64(stmt, col));
}

static void fmt_real(sqlite3_stmt *stmt, int col, char *out, size_t size) {
    if (sqlite3_column_type(stmt, col) == SQLITE_NULL)
        snprintf(out, size, "-");
    else
        snprintf(out, size, "%.4g", sqlite3_column_double(stmt, col));
}

static void fmt_time(int64_t ms, char *out, size_t size) {
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    if (ms <= 0 || !gmtime_r(&secs, &tm) || strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, size, "-");
}

/* ------------------------------------------------------------ opening things */

static bool file_exists(const char *path) {
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int open_registry(const mmctl_opts_t *o, mm_db_t **db) {
    char errstr[1024];
    if (!o->registry || !*o->registry)
        return usage_error("--registry PATH is required (or MM_PROMOTER_REGISTRY)");
    if (!file_exists(o->registry)) {
        fprintf(stderr, "mmctl: registry %s does not exist\n", o->registry);
        return EXIT_NOT_FOUND;
    }
    *db = mm_promoter_registry_open(o->registry, errstr, sizeof(errstr));
    if (!*db) return fail(MM_ERR_DB, o->registry, errstr);
    return EXIT_OK;
}

static const char *list_metric(const mmctl_opts_t *o, char *buf, size_t size) {
    if (o->metric && *o->metric) return o->metric;
    if (o->spec && *o->spec) {
        mm_spec_t spec;
        char errstr[512];
        memset(&spec, 0, sizeof(spec));
        if (mm_spec_load_file(o->spec, &spec, errstr, sizeof(errstr)) == MM_OK) {
            snprintf(buf, size, "%s", mm_metric_name(spec.promotion.metric));
            mm_spec_clear(&spec);
            return buf;
        }
        fprintf(stderr, "mmctl: warning: %s (showing mase)\n", errstr);
    }
    return "mase";
}

/* ------------------------------------------------------------ models list */

static int cmd_models_list(const mmctl_opts_t *o) {
    mm_db_t *db = NULL;
    int rc = open_registry(o, &db);
    if (rc) return rc;
    char errstr[1024], metric_buf[64], path[80];
    const char *metric = list_metric(o, metric_buf, sizeof(metric_buf));
    snprintf(path, sizeof(path), "$.\"%s\"", metric);

    sqlite3_stmt *stmt = NULL;
    mm_err_t err = mm_db_prepare(
        db, &stmt,
        "WITH keys AS (SELECT partition_key, count(*) AS n FROM versions GROUP BY partition_key)"
        " SELECT keys.partition_key, keys.n, ch.version, ch.algorithm,"
        " json_extract(ch.metrics, ?1), json_extract(ch.baseline, ?1), pv.version, cl.version,"
        " ch.fallback"
        " FROM keys"
        " LEFT JOIN aliases ach ON ach.partition_key = keys.partition_key AND ach.alias = "
        "'champion'"
        " LEFT JOIN versions ch ON ch.partition_key = ach.partition_key AND ch.version = "
        "ach.version"
        " LEFT JOIN aliases pv ON pv.partition_key = keys.partition_key AND pv.alias = 'previous'"
        " LEFT JOIN aliases cl ON cl.partition_key = keys.partition_key AND cl.alias = 'challenger'"
        " ORDER BY keys.partition_key",
        errstr, sizeof(errstr));
    if (err) {
        mm_db_close(db);
        return fail(err, "models list", errstr);
    }
    sqlite3_bind_text(stmt, 1, path, -1, SQLITE_TRANSIENT);

    json_t *rows = o->format == OUT_JSON ? json_array() : NULL;
    if (o->format == OUT_TABLE)
        printf("%-32s %-9s %-10s %-10s %-10s %-9s %-10s %s\n", "KEY", "CHAMPION", "ALGORITHM",
               metric, "BASELINE", "PREVIOUS", "CHALLENGER", "VERSIONS");
    int step;
    while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (rows) {
            json_t *row = json_object();
            json_object_set_new(row, "partition_key", json_col_str_or_null(stmt, 0));
            json_object_set_new(row, "champion", json_col_int_or_null(stmt, 2));
            json_object_set_new(row, "algorithm", json_col_str_or_null(stmt, 3));
            json_object_set_new(row, "metric", json_string(metric));
            json_object_set_new(row, "value",
                                sqlite3_column_type(stmt, 4) == SQLITE_NULL
                                    ? json_null()
                                    : json_real(sqlite3_column_double(stmt, 4)));
            json_object_set_new(row, "baseline",
                                sqlite3_column_type(stmt, 5) == SQLITE_NULL
                                    ? json_null()
                                    : json_real(sqlite3_column_double(stmt, 5)));
            json_object_set_new(row, "fallback", json_boolean(sqlite3_column_int64(stmt, 8) != 0));
            json_object_set_new(row, "previous", json_col_int_or_null(stmt, 6));
            json_object_set_new(row, "challenger", json_col_int_or_null(stmt, 7));
            json_object_set_new(row, "versions",
                                json_integer((json_int_t)sqlite3_column_int64(stmt, 1)));
            json_array_append_new(rows, row);
        } else {
            char champion[24], previous[24], challenger[24], value[32], baseline[32];
            fmt_version(stmt, 2, champion, sizeof(champion));
            fmt_version(stmt, 6, previous, sizeof(previous));
            fmt_version(stmt, 7, challenger, sizeof(challenger));
            fmt_real(stmt, 4, value, sizeof(value));
            fmt_real(stmt, 5, baseline, sizeof(baseline));
            printf("%-32s %-9s %-10s %-10s %-10s %-9s %-10s %lld\n", col_text(stmt, 0, ""),
                   champion, col_text(stmt, 3, "-"), value, baseline, previous, challenger,
                   (long long)sqlite3_column_int64(stmt, 1));
        }
    }
    if (step != SQLITE_DONE) {
        mm_db_err(db, "models list", errstr, sizeof(errstr));
        sqlite3_finalize(stmt);
        json_decref(rows);
        mm_db_close(db);
        return fail(MM_ERR_DB, "models list", errstr);
    }
    sqlite3_finalize(stmt);
    if (rows) print_json(rows);
    mm_db_close(db);
    return EXIT_OK;
}

/* ------------------------------------------------------------ models get / versions */

#define VERSION_COLUMNS                                                                            \
    "v.version, v.status, v.algorithm, v.train_id, v.artifact_uri, v.production_uri, v.sha256,"    \
    " v.size, v.metrics, v.baseline, v.data_start_ms, v.data_end_ms, v.n_rows, v.load_id,"         \
    " v.fallback, v.created_at_ms, v.reason,"                                                      \
    " (SELECT group_concat(alias, ',') FROM aliases a"                                             \
    "   WHERE a.partition_key = v.partition_key AND a.version = v.version)"

static json_t *version_json(sqlite3_stmt *stmt) {
    json_t *v = json_object();
    json_object_set_new(v, "version", json_col_int_or_null(stmt, 0));
    json_object_set_new(v, "status", json_col_str_or_null(stmt, 1));
    json_object_set_new(v, "aliases", json_col_str_or_null(stmt, 17));
    json_object_set_new(v, "algorithm", json_col_str_or_null(stmt, 2));
    json_object_set_new(v, "train_id", json_col_str_or_null(stmt, 3));
    json_object_set_new(v, "artifact_uri", json_col_str_or_null(stmt, 4));
    json_object_set_new(v, "production_uri", json_col_str_or_null(stmt, 5));
    json_object_set_new(v, "sha256", json_col_str_or_null(stmt, 6));
    json_object_set_new(v, "size", json_col_int_or_null(stmt, 7));
    json_object_set_new(v, "metrics", json_col_json_or_null(stmt, 8));
    json_object_set_new(v, "baseline", json_col_json_or_null(stmt, 9));
    json_object_set_new(v, "data_start_ms", json_col_int_or_null(stmt, 10));
    json_object_set_new(v, "data_end_ms", json_col_int_or_null(stmt, 11));
    json_object_set_new(v, "n_rows", json_col_int_or_null(stmt, 12));
    json_object_set_new(v, "load_id", json_col_str_or_null(stmt, 13));
    json_object_set_new(v, "fallback", json_boolean(sqlite3_column_int64(stmt, 14) != 0));
    json_object_set_new(v, "created_at_ms", json_col_int_or_null(stmt, 15));
    json_object_set_new(v, "reason", json_col_str_or_null(stmt, 16));
    return v;
}

static int key_exists(mm_db_t *db, const char *key, bool *exists, char *errstr,
                      size_t errstr_size) {
    sqlite3_stmt *stmt = NULL;
    *exists = false;
    mm_err_t err = mm_db_prepare(
        db, &stmt, "SELECT 1 FROM versions WHERE partition_key = ? LIMIT 1", errstr, errstr_size);
    if (err) return err;
    sqlite3_bind_text(stmt, 1, key, -1, SQLITE_TRANSIENT);
    int step = sqlite3_step(stmt);
    if (step == SQLITE_ROW) *exists = true;
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        err = mm_db_err(db, "lookup", errstr, errstr_size);
    sqlite3_finalize(stmt);
    return err;
}

/* Open the registry for a command about @p key; exit status EXIT_NOT_FOUND if the key has no
 * version. */
static int open_registry_for_key(const mmctl_opts_t *o, const char *key, mm_db_t **db) {
    int rc = open_registry(o, db);
    if (rc) return rc;
    char errstr[1024];
    bool exists = false;
    mm_err_t err = key_exists(*db, key, &exists, errstr, sizeof(errstr));
    if (!err && exists) return EXIT_OK;
    mm_db_close(*db);
    *db = NULL;
    if (err) return fail(err, key, errstr);
    fprintf(stderr, "mmctl: no such key: %s\n", key);
    return EXIT_NOT_FOUND;
}

static int cmd_models_versions(const mmctl_opts_t *o, const char *key) {
    mm_db_t *db = NULL;
    int rc = open_registry_for_key(o, key, &db);
    if (rc) return rc;
    char errstr[1024];
    sqlite3_stmt *stmt = NULL;
    mm_err_t err = mm_db_prepare(db, &stmt,
                                 "SELECT " VERSION_COLUMNS
                                 " FROM versions v WHERE v.partition_key = ? ORDER BY v.version",
                                 errstr, sizeof(errstr));
    if (err) {
        mm_db_close(db);
        return fail(err, key, errstr);
    }
    sqlite3_bind_text(stmt, 1, key, -1, SQLITE_TRANSIENT);
    json_t *rows = o->format == OUT_JSON ? json_array() : NULL;
    if (!rows)
        printf("%-8s %-9s %-20s %-10s %-20s %s\n", "VERSION", "STATUS", "ALIASES", "ALGORITHM",
               "CREATED", "REASON");
    while (sqlite3_step(stmt) == SQLITE_ROW) {
        if (rows) {
            json_array_append_new(rows, version_json(stmt));
        } else {
            char created[32];
            fmt_time(sqlite3_column_int64(stmt, 15), created, sizeof(created));
            printf("v%-7lld %-9s %-20s %-10s %-20s %s\n", (long long)sqlite3_column_int64(stmt, 0),
                   col_text(stmt, 1, "-"), col_text(stmt, 17, "-"), col_text(stmt, 2, "-"), created,
                   col_text(stmt, 16, ""));
        }
    }
    sqlite3_finalize(stmt);
    if (rows) print_json(rows);
    mm_db_close(db);
    return EXIT_OK;
}

static int cmd_models_get(const mmctl_opts_t *o, const char *key) {
    mm_db_t *db = NULL;
    int rc = open_registry_for_key(o, key, &db);
    if (rc) return rc;
    char errstr[1024];

    json_t *doc = json_object();
    json_object_set_new(doc, "partition_key", json_string(key));
    json_t *aliases = json_object();
    json_object_set_new(aliases, MM_ALIAS_CHAMPION, json_null());
    json_object_set_new(aliases, MM_ALIAS_PREVIOUS, json_null());
    json_object_set_new(aliases, MM_ALIAS_CHALLENGER, json_null());
    sqlite3_stmt *stmt = NULL;
    mm_err_t err =
        mm_db_prepare(db, &stmt, "SELECT alias, version FROM aliases WHERE partition_key = ?",
                      errstr, sizeof(errstr));
    if (!err) {
        sqlite3_bind_text(stmt, 1, key, -1, SQLITE_TRANSIENT);
        while (sqlite3_step(stmt) == SQLITE_ROW)
            json_object_set_new(aliases, col_text(stmt, 0, "?"), json_col_int_or_null(stmt, 1));
        sqlite3_finalize(stmt);
    }
    json_object_set_new(doc, "aliases", aliases);
    json_object_set_new(doc, "versions", json_null());
    json_object_set_new(doc, "champion", json_null());

    if (!err)
        err = mm_db_prepare(db, &stmt, "SELECT count(*) FROM versions WHERE partition_key = ?",
                            errstr, sizeof(errstr));
    if (!err) {
        sqlite3_bind_text(stmt, 1, key, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(stmt) == SQLITE_ROW)
            json_object_set_new(doc, "versions", json_col_int_or_null(stmt, 0));
        sqlite3_finalize(stmt);
    }
    if (!err)
        err = mm_db_prepare(db, &stmt,
                            "SELECT " VERSION_COLUMNS
                            " FROM versions v JOIN aliases a ON a.partition_key = v.partition_key"
                            " AND a.version = v.version AND a.alias = 'champion'"
                            " WHERE v.partition_key = ?",
                            errstr, sizeof(errstr));
    if (!err) {
        sqlite3_bind_text(stmt, 1, key, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(stmt) == SQLITE_ROW)
            json_object_set_new(doc, "champion", version_json(stmt));
        sqlite3_finalize(stmt);
    }
    json_t *audit = json_array();
    if (!err)
        err = mm_db_prepare(db, &stmt,
                            "SELECT at_ms, version, action, decision, reason, actor FROM audit"
                            " WHERE partition_key = ? ORDER BY id DESC LIMIT ?",
                            errstr, sizeof(errstr));
    if (!err) {
        sqlite3_bind_text(stmt, 1, key, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(stmt, 2, MMCTL_AUDIT_ROWS);
        while (sqlite3_step(stmt) == SQLITE_ROW) {
            json_t *a = json_object();
            json_object_set_new(a, "at_ms", json_col_int_or_null(stmt, 0));
            json_object_set_new(a, "version", json_col_int_or_null(stmt, 1));
            json_object_set_new(a, "action", json_col_str_or_null(stmt, 2));
            json_object_set_new(a, "decision", json_col_str_or_null(stmt, 3));
            json_object_set_new(a, "reason", json_col_str_or_null(stmt, 4));
            json_object_set_new(a, "actor", json_col_str_or_null(stmt, 5));
            json_array_append_new(audit, a);
        }
        sqlite3_finalize(stmt);
    }
    json_object_set_new(doc, "audit", audit);
    mm_db_close(db);
    if (err) {
        json_decref(doc);
        return fail(err, key, errstr);
    }
    if (o->format == OUT_JSON) {
        print_json(doc);
        return EXIT_OK;
    }

    /* Table: the same content as key: value lines. */
    printf("key:          %s\n", key);
    const char *names[] = {MM_ALIAS_CHAMPION, MM_ALIAS_PREVIOUS, MM_ALIAS_CHALLENGER};
    for (size_t i = 0; i < MM_ARRAY_SIZE(names); i++) {
        json_t *v = json_object_get(aliases, names[i]);
        if (json_is_integer(v))
            printf("%-13s v%lld\n", names[i], (long long)json_integer_value(v));
        else
            printf("%-13s -\n", names[i]);
    }
    printf("versions:     %lld\n", (long long)json_integer_value(json_object_get(doc, "versions")));
    json_t *champion = json_object_get(doc, "champion");
    if (json_is_object(champion)) {
        static const char *const fields[] = {
            "algorithm", "train_id",    "production_uri", "sha256",   "size",  "n_rows",
            "load_id",   "data_end_ms", "metrics",        "baseline", "reason"};
        printf("champion details:\n");
        for (size_t i = 0; i < MM_ARRAY_SIZE(fields); i++) {
            json_t *v = json_object_get(champion, fields[i]);
            char *text = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            printf("  %-15s %s\n", fields[i],
                   json_is_string(v) ? json_string_value(v) : (text ? text : "-"));
            free(text);
        }
    }
    printf("recent audit:\n");
    size_t i;
    json_t *a;
    json_array_foreach(audit, i, a) {
        char at[32];
        fmt_time((int64_t)json_integer_value(json_object_get(a, "at_ms")), at, sizeof(at));
        json_t *version = json_object_get(a, "version");
        printf("  %s  v%-4lld %-8s %-11s %-14s %s\n", at,
               json_is_integer(version) ? (long long)json_integer_value(version) : 0LL,
               json_string_value(json_object_get(a, "action")),
               json_is_string(json_object_get(a, "decision"))
                   ? json_string_value(json_object_get(a, "decision"))
                   : "-",
               json_string_value(json_object_get(a, "actor")),
               json_string_value(json_object_get(a, "reason")));
    }
    json_decref(doc);
    return EXIT_OK;
}

/* ------------------------------------------------------------ outbox delivery */

/*
 * Deliver the outbox with a producer of our own. @returns MM_OK when
 * delivered, MM_ERR_NOT_FOUND when no bootstrap is configured.
 */
static mm_err_t deliver_outbox(const mmctl_opts_t *o, mm_db_t *db, char *errstr,
                               size_t errstr_size) {
    bool has_servers = o->bootstrap_servers && *o->bootstrap_servers;
    bool has_file = o->bootstrap_file && *o->bootstrap_file;
    if (!has_servers && !has_file) return MM_ERR_NOT_FOUND;
    char *bootstrap = mm_kafka_resolve_bootstrap(o->bootstrap_servers, o->bootstrap_file, 5000,
                                                 errstr, errstr_size);
    if (!bootstrap) return MM_ERR_CONFIG;
    mm_outbox_t outbox;
    mm_err_t err = mm_outbox_init(&outbox, db, 0, errstr, errstr_size);
    if (err) {
        free(bootstrap);
        return err;
    }
    mm_kafka_producer_t *producer =
        mm_kafka_producer_new(bootstrap, &o->kafka, mm_outbox_dr_cb, &outbox, errstr, errstr_size);
    free(bootstrap);
    if (!producer) {
        mm_outbox_free(&outbox);
        return MM_ERR_KAFKA;
    }
    err = mm_outbox_flush(&outbox, producer, MMCTL_DELIVER_TIMEOUT_MS, errstr, errstr_size);
    mm_kafka_producer_destroy(producer, 5000);
    mm_outbox_free(&outbox);
    return err;
}

static int cmd_outbox_deliver(const mmctl_opts_t *o) {
    mm_db_t *db = NULL;
    int rc = open_registry(o, &db);
    if (rc) return rc;
    char errstr[1024];
    int64_t before = mm_outbox_count(db);
    mm_err_t err = deliver_outbox(o, db, errstr, sizeof(errstr));
    int64_t after = mm_outbox_count(db);
    mm_db_close(db);
    if (err == MM_ERR_NOT_FOUND)
        return usage_error("outbox deliver needs --bootstrap-servers or --bootstrap-file");
    if (err) return fail(err, "outbox deliver", errstr);
    if (o->format == OUT_JSON) {
        print_json(json_pack("{sIsI}", "delivered", (json_int_t)(before - after), "pending",
                             (json_int_t)after));
    } else {
        printf("delivered %lld decisions; %lld pending\n", (long long)(before - after),
               (long long)after);
    }
    return EXIT_OK;
}

/* ------------------------------------------------------------ promote / rollback */

static int print_outcome(const mmctl_opts_t *o, mm_db_t *db, const char *key,
                         const mm_promoter_outcome_t *out) {
    char errstr[1024];
    const char *delivery = "none";
    if (out->changed) {
        mm_err_t err = deliver_outbox(o, db, errstr, sizeof(errstr));
        if (err == MM_OK) {
            delivery = "delivered";
        } else if (err == MM_ERR_NOT_FOUND) {
            delivery = "outbox"; /* the running mm-promoter sends it */
        } else {
            delivery = "outbox";
            fprintf(stderr,
                    "mmctl: warning: decision recorded, delivery deferred to mm-promoter: %s\n",
                    errstr);
        }
    }
    if (o->format == OUT_JSON) {
        json_t *doc = json_object();
        json_object_set_new(doc, "partition_key", json_string(key));
        json_object_set_new(doc, "decision", json_string(mm_decision_kind_name(out->decision)));
        json_object_set_new(doc, "changed", json_boolean(out->changed));
        json_object_set_new(doc, "version", json_integer(out->version));
        json_object_set_new(doc, "champion", json_integer(out->champion));
        json_object_set_new(doc, "reason", json_string(out->reason));
        json_object_set_new(doc, "delivery", json_string(delivery));
        print_json(doc);
    } else {
        printf("%s: %s\n", key, out->reason);
        if (out->changed)
            printf("decision %s\n",
                   strcmp(delivery, "delivered") == 0
                       ? "delivered to " MM_TOPIC_DECISIONS
                       : "queued in the registry outbox (mm-promoter delivers it)");
    }
    return EXIT_OK;
}

static void default_actor(const mmctl_opts_t *o, char *out, size_t size) {
    if (o->actor && *o->actor)
        snprintf(out, size, "%s", o->actor);
    else
        snprintf(out, size, "mmctl:%s", env_or("USER", "unknown"));
}

static int cmd_models_promote(const mmctl_opts_t *o, const char *key, const char *version_text) {
    int64_t version = 0;
    if (!mm_parse_i64(version_text, &version) || version <= 0 || version > INT32_MAX)
        return usage_error("VERSION must be a positive integer, not '%s'", version_text);
    if (!o->reason || !*o->reason) return usage_error("promote needs --reason TEXT");
    mm_db_t *db = NULL;
    int rc = open_registry(o, &db);
    if (rc) return rc;
    char errstr[1024], actor[256];
    default_actor(o, actor, sizeof(actor));
    mm_blob_t *blob = NULL;
    if (o->blob_url && *o->blob_url) {
        mm_blob_opts_t opts = {
            .account_name = o->blob_account, .account_key = o->blob_key, .sas_token = o->blob_sas};
        blob = mm_blob_new(o->blob_url, &opts, errstr, sizeof(errstr));
        if (!blob) {
            mm_db_close(db);
            return fail(MM_ERR_CONFIG, "blob store", errstr);
        }
    }
    mm_promoter_outcome_t out;
    mm_err_t err = mm_promoter_promote(db, blob, key, (int32_t)version, o->reason, actor, &out,
                                       errstr, sizeof(errstr));
    mm_blob_destroy(blob);
    if (err) {
        mm_db_close(db);
        return fail(err, "models promote", errstr);
    }
    rc = print_outcome(o, db, key, &out);
    mm_db_close(db);
    return rc;
}

static int cmd_models_rollback(const mmctl_opts_t *o, const char *key) {
    if (!o->reason || !*o->reason) return usage_error("rollback needs --reason TEXT");
    mm_db_t *db = NULL;
    int rc = open_registry(o, &db);
    if (rc) return rc;
    char errstr[1024], actor[256];
    default_actor(o, actor, sizeof(actor));
    mm_promoter_outcome_t out;
    mm_err_t err = mm_promoter_rollback(db, key, o->reason, actor, &out, errstr, sizeof(errstr));
    if (err) {
        mm_db_close(db);
        return fail(err, "models rollback", errstr);
    }
    rc = print_outcome(o, db, key, &out);
    mm_db_close(db);
    return rc;
}

/* ------------------------------------------------------------ report */

typedef struct sink_counts {
    int64_t rows, keys, no_model_keys;
} sink_counts_t;

static int sink_count(const char *path, sink_counts_t *c) {
    char errstr[1024];
    if (!file_exists(path)) {
        fprintf(stderr, "mmctl: sink %s does not exist\n", path);
        return EXIT_NOT_FOUND;
    }
    /* The scorer owns the sink's schema: open it at exactly that version. */
    mm_db_t *db = mm_db_open(path, mm_scorer_sink_migrations, mm_scorer_sink_n_migrations, errstr,
                             sizeof(errstr));
    if (!db) return fail(MM_ERR_DB, path, errstr);
    static const char *const sql[] = {
        "SELECT count(*) FROM predictions",
        "SELECT count(DISTINCT partition_key) FROM predictions",
        "SELECT count(*) FROM no_model",
    };
    int64_t *out[] = {&c->rows, &c->keys, &c->no_model_keys};
    for (size_t i = 0; i < MM_ARRAY_SIZE(sql); i++) {
        bool found = false;
        *out[i] = 0;
        mm_err_t err = mm_db_query_i64(db, sql[i], out[i], &found, errstr, sizeof(errstr));
        if (err) {
            mm_db_close(db);
            return fail(err, path, errstr);
        }
    }
    mm_db_close(db);
    return EXIT_OK;
}

/* Metrics always reported (forecasting), plus any other with champions that carry it. */
static bool report_metric(const mm_promoter_stats_t *st, mm_metric_id_t m) {
    return m == MM_METRIC_MASE || m == MM_METRIC_RMSE || m == MM_METRIC_SMAPE ||
           m == MM_METRIC_MAE || st->metrics[m].n > 0;
}

static int cmd_report(const mmctl_opts_t *o) {
    mm_db_t *db = NULL;
    int rc = open_registry(o, &db);
    if (rc) return rc;
    char errstr[1024];
    mm_promoter_stats_t st;
    mm_err_t err = mm_promoter_stats(db, &st, errstr, sizeof(errstr));
    mm_db_close(db);
    if (err) return fail(err, "report", errstr);
    sink_counts_t sink = {0};
    bool has_sink = o->sink && *o->sink;
    if (has_sink && (rc = sink_count(o->sink, &sink)) != EXIT_OK) return rc;

    if (o->format == OUT_JSON) {
        json_t *doc = json_object();
        json_object_set_new(doc, "keys", json_integer(st.keys));
        json_object_set_new(doc, "versions", json_integer(st.versions));
        json_object_set_new(doc, "approved", json_integer(st.approved));
        json_object_set_new(doc, "rejected", json_integer(st.rejected));
        json_object_set_new(doc, "fallback", json_integer(st.fallback));
        json_object_set_new(doc, "champions", json_integer(st.champions));
        json_object_set_new(doc, "decided_keys", json_integer(st.decided_keys));
        json_object_set_new(doc, "promoted", json_integer(st.promoted));
        json_object_set_new(doc, "rolled_back", json_integer(st.rolled_back));
        json_object_set_new(doc, "outbox_pending", json_integer(st.outbox));
        json_t *metrics = json_object();
        for (int m = 0; m < MM_METRIC__COUNT; m++) {
            if (!report_metric(&st, (mm_metric_id_t)m)) continue;
            json_object_set_new(metrics, mm_metric_name((mm_metric_id_t)m),
                                json_pack("{soso sI}", "model",
                                          json_num_or_null(st.metrics[m].model), "baseline",
                                          json_num_or_null(st.metrics[m].baseline), "champions",
                                          (json_int_t)st.metrics[m].n));
        }
        json_object_set_new(doc, "metrics", metrics);
        if (has_sink) {
            json_object_set_new(
                doc, "predictions",
                json_pack("{sIsI}", "rows", (json_int_t)sink.rows, "keys", (json_int_t)sink.keys));
            json_object_set_new(doc, "no_model_keys", json_integer(sink.no_model_keys));
        } else {
            json_object_set_new(doc, "predictions", json_null());
            json_object_set_new(doc, "no_model_keys", json_null());
        }
        print_json(doc);
        return EXIT_OK;
    }

    printf("registry %s\n", o->registry);
    printf("  keys            %lld (%lld with a champion, %lld decided)\n", (long long)st.keys,
           (long long)st.champions, (long long)st.decided_keys);
    printf("  versions        %lld (%lld approved, %lld rejected)\n", (long long)st.versions,
           (long long)st.approved, (long long)st.rejected);
    printf("  fallback        %lld keys whose newest model is a declared fallback\n",
           (long long)st.fallback);
    printf("  manual          %lld promoted, %lld rolled back\n", (long long)st.promoted,
           (long long)st.rolled_back);
    printf("  outbox          %lld decisions not yet delivered\n", (long long)st.outbox);
    printf("champion metrics (mean over champions) vs their seasonal-naive baselines\n");
    printf("  %-10s %-12s %-12s %-10s %s\n", "METRIC", "MODEL", "BASELINE", "CHANGE", "CHAMPIONS");
    for (int m = 0; m < MM_METRIC__COUNT; m++) {
        if (!report_metric(&st, (mm_metric_id_t)m)) continue;
        const mm_promoter_metric_mean_t *mean = &st.metrics[m];
        if (mean->n == 0) {
            printf("  %-10s %-12s %-12s %-10s 0\n", mm_metric_name((mm_metric_id_t)m), "-", "-",
                   "-");
            continue;
        }
        char change[32] = "-";
        if (mean->baseline != 0.0)
            snprintf(change, sizeof(change), "%+.1f%%",
                     (mean->model - mean->baseline) / fabs(mean->baseline) * 100.0);
        printf("  %-10s %-12.4g %-12.4g %-10s %lld\n", mm_metric_name((mm_metric_id_t)m),
               mean->model, mean->baseline, change, (long long)mean->n);
    }
    if (has_sink) {
        printf("sink %s\n", o->sink);
        printf("  predictions     %lld rows for %lld keys\n", (long long)sink.rows,
               (long long)sink.keys);
        printf("  no model        %lld keys\n", (long long)sink.no_model_keys);
    }
    return EXIT_OK;
}

/* ------------------------------------------------------------ topics */

static int cmd_topics_init(const mmctl_opts_t *o) {
    char errstr[1024];
    if ((!o->bootstrap_servers || !*o->bootstrap_servers) &&
        (!o->bootstrap_file || !*o->bootstrap_file))
        return usage_error("topics init needs --bootstrap-servers or --bootstrap-file");
    char *bootstrap = mm_kafka_resolve_bootstrap(o->bootstrap_servers, o->bootstrap_file, 5000,
                                                 errstr, sizeof(errstr));
    if (!bootstrap) return fail(MM_ERR_CONFIG, "bootstrap", errstr);
    static const char *const topics[] = {MM_TOPIC_OBSERVATIONS, MM_TOPIC_MODELS,
                                         MM_TOPIC_DECISIONS,    MM_TOPIC_SCORE_REQUESTS,
                                         MM_TOPIC_PREDICTIONS,  MM_TOPIC_DEADLETTER};
    int rc = EXIT_OK;
    for (size_t i = 0; i < MM_ARRAY_SIZE(topics); i++) {
        mm_err_t err = mm_kafka_topic_ensure(bootstrap, &o->kafka, topics[i], (int)o->partitions,
                                             (int)o->replication, errstr, sizeof(errstr));
        if (err) {
            rc = fail(err, topics[i], errstr);
            break;
        }
        if (o->format == OUT_TABLE)
            printf("%s: ok (%lld partitions)\n", topics[i], (long long)o->partitions);
    }
    if (rc == EXIT_OK && o->format == OUT_JSON)
        print_json(json_pack("{sIsI}", "topics", (json_int_t)MM_ARRAY_SIZE(topics), "partitions",
                             (json_int_t)o->partitions));
    free(bootstrap);
    return rc;
}

/* ------------------------------------------------------------ arguments */

enum {
    OPT_REGISTRY = 256,
    OPT_SINK,
    OPT_REASON,
    OPT_ACTOR,
    OPT_METRIC,
    OPT_SPEC,
    OPT_BOOTSTRAP_SERVERS,
    OPT_BOOTSTRAP_FILE,
    OPT_BLOB_URL,
    OPT_BLOB_ACCOUNT,
    OPT_BLOB_KEY,
    OPT_BLOB_SAS,
    OPT_PARTITIONS,
    OPT_REPLICATION,
};

static const struct option long_options[] = {
    {"registry", required_argument, NULL, OPT_REGISTRY},
    {"sink", required_argument, NULL, OPT_SINK},
    {"output", required_argument, NULL, 'o'},
    {"reason", required_argument, NULL, OPT_REASON},
    {"actor", required_argument, NULL, OPT_ACTOR},
    {"metric", required_argument, NULL, OPT_METRIC},
    {"spec", required_argument, NULL, OPT_SPEC},
    {"bootstrap-servers", required_argument, NULL, OPT_BOOTSTRAP_SERVERS},
    {"bootstrap-file", required_argument, NULL, OPT_BOOTSTRAP_FILE},
    {"blob-url", required_argument, NULL, OPT_BLOB_URL},
    {"blob-account", required_argument, NULL, OPT_BLOB_ACCOUNT},
    {"blob-key", required_argument, NULL, OPT_BLOB_KEY},
    {"blob-sas", required_argument, NULL, OPT_BLOB_SAS},
    {"partitions", required_argument, NULL, OPT_PARTITIONS},
    {"replication", required_argument, NULL, OPT_REPLICATION},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* @returns -1 to go on, else an exit status. */
static int parse_args(int argc, char **argv, mmctl_opts_t *o) {
    o->registry = env_or("MM_PROMOTER_REGISTRY", NULL);
    o->sink = env_or("MM_SCORER_SINK", NULL);
    o->spec = env_or("MM_SPEC", NULL);
    o->bootstrap_servers = env_or("MM_BOOTSTRAP_SERVERS", NULL);
    o->bootstrap_file = env_or("MM_BOOTSTRAP_FILE", NULL);
    o->blob_url = env_or("MM_BLOB_URL", NULL);
    o->blob_account = env_or("MM_BLOB_ACCOUNT", NULL);
    o->blob_key = env_or("MM_BLOB_KEY", NULL);
    o->blob_sas = env_or("MM_BLOB_SAS", NULL);
    o->partitions = 4;
    o->replication = 1;
    o->format = OUT_TABLE;

    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+ho:X:", long_options, NULL)) != -1) {
        switch (c) {
        case 'h':
            fputs(usage_text, stdout);
            return EXIT_OK;
        case 'o':
            if (strcmp(optarg, "table") == 0)
                o->format = OUT_TABLE;
            else if (strcmp(optarg, "json") == 0)
                o->format = OUT_JSON;
            else
                return usage_error("-o: expected table or json, not '%s'", optarg);
            break;
        case 'X': {
            const char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg) return usage_error("-X: expected KEY=VALUE, not '%s'", optarg);
            char *key = mm_strndup(optarg, (size_t)(eq - optarg));
            if (!key || mm_kv_list_set(&o->kafka, key, eq + 1) != MM_OK) {
                free(key);
                return fail(MM_ERR_NOMEM, "-X", "out of memory");
            }
            free(key);
            break;
        }
        case OPT_REGISTRY:
            o->registry = optarg;
            break;
        case OPT_SINK:
            o->sink = optarg;
            break;
        case OPT_REASON:
            o->reason = optarg;
            break;
        case OPT_ACTOR:
            o->actor = optarg;
            break;
        case OPT_METRIC: {
            mm_metric_id_t id;
            if (!mm_metric_parse(optarg, &id))
                return usage_error("--metric: unknown metric '%s'", optarg);
            o->metric = optarg;
            break;
        }
        case OPT_SPEC:
            o->spec = optarg;
            break;
        case OPT_BOOTSTRAP_SERVERS:
            o->bootstrap_servers = optarg;
            break;
        case OPT_BOOTSTRAP_FILE:
            o->bootstrap_file = optarg;
            break;
        case OPT_BLOB_URL:
            o->blob_url = optarg;
            break;
        case OPT_BLOB_ACCOUNT:
            o->blob_account = optarg;
            break;
        case OPT_BLOB_KEY:
            o->blob_key = optarg;
            break;
        case OPT_BLOB_SAS:
            o->blob_sas = optarg;
            break;
        case OPT_PARTITIONS:
            if (!mm_parse_i64(optarg, &o->partitions) || o->partitions < 1 || o->partitions > 10000)
                return usage_error("--partitions: expected 1..10000, not '%s'", optarg);
            break;
        case OPT_REPLICATION:
            if (!mm_parse_i64(optarg, &o->replication) || o->replication < 1 ||
                o->replication > 100)
                return usage_error("--replication: expected 1..100, not '%s'", optarg);
            break;
        case '?':
        default:
            return usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    return -1;
}

int main(int argc, char **argv) {
    mmctl_opts_t o;
    memset(&o, 0, sizeof(o));
    mm_log_init("mmctl", MM_LOG_WARN);

    /* Options may come before, between or after the words: collect the words first. */
    char **words = calloc((size_t)argc + 1, sizeof(char *));
    char **opt_argv = calloc((size_t)argc + 1, sizeof(char *));
    if (!words || !opt_argv) {
        free(words);
        free(opt_argv);
        return fail(MM_ERR_NOMEM, "mmctl", "out of memory");
    }
    int n_words = 0, n_opts = 0;
    opt_argv[n_opts++] = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            while (++i < argc) words[n_words++] = argv[i];
            break;
        }
        if (a[0] == '-' && a[1] != 0) {
            opt_argv[n_opts++] = argv[i];
            /* An option taking a value in the next argument carries it along. */
            bool takes_value = false;
            if (strcmp(a, "-o") == 0 || strcmp(a, "-X") == 0) takes_value = true;
            if (a[1] == '-' && !strchr(a, '='))
                for (const struct option *lo = long_options; lo->name; lo++)
                    if (strcmp(a + 2, lo->name) == 0 && lo->has_arg == required_argument)
                        takes_value = true;
            if (takes_value && i + 1 < argc) opt_argv[n_opts++] = argv[++i];
        } else {
            words[n_words++] = argv[i];
        }
    }
    int rc = parse_args(n_opts, opt_argv, &o);
    if (rc >= 0) goto out;

    const char *noun = n_words > 0 ? words[0] : NULL;
    const char *verb = n_words > 1 ? words[1] : NULL;
    if (!noun) {
        fputs(usage_text, stderr);
        rc = EXIT_USAGE;
    } else if (strcmp(noun, "models") == 0 && verb && strcmp(verb, "list") == 0 && n_words == 2) {
        rc = cmd_models_list(&o);
    } else if (strcmp(noun, "models") == 0 && verb && strcmp(verb, "get") == 0 && n_words == 3) {
        rc = cmd_models_get(&o, words[2]);
    } else if (strcmp(noun, "models") == 0 && verb && strcmp(verb, "versions") == 0 &&
               n_words == 3) {
        rc = cmd_models_versions(&o, words[2]);
    } else if (strcmp(noun, "models") == 0 && verb && strcmp(verb, "promote") == 0 &&
               n_words == 4) {
        rc = cmd_models_promote(&o, words[2], words[3]);
    } else if (strcmp(noun, "models") == 0 && verb && strcmp(verb, "rollback") == 0 &&
               n_words == 3) {
        rc = cmd_models_rollback(&o, words[2]);
    } else if (strcmp(noun, "report") == 0 && n_words == 1) {
        rc = cmd_report(&o);
    } else if (strcmp(noun, "outbox") == 0 && verb && strcmp(verb, "deliver") == 0 &&
               n_words == 2) {
        rc = cmd_outbox_deliver(&o);
    } else if (strcmp(noun, "topics") == 0 && verb && strcmp(verb, "init") == 0 && n_words == 2) {
        rc = cmd_topics_init(&o);
    } else {
        fprintf(stderr, "mmctl: unknown command or wrong arguments:");
        for (int i = 0; i < n_words; i++) fprintf(stderr, " %s", words[i]);
        fprintf(stderr, "\nTry 'mmctl --help'.\n");
        rc = EXIT_USAGE;
    }
out:
    mm_kv_list_free(&o.kafka);
    free(words);
    free(opt_argv);
    return rc;
}
