/*
 * models.c - `mmctl models list|get|versions|promote|rollback`: the model
 * registry through libmm's registry module (mm/registry.h); this file only
 * asks and prints.
 *
 * Workload: an operator's occasional command over registries of ~10,000
 * keys; rows are printed as the registry hands them over.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/blob.h"
#include "mm/kafka.h"
#include "mm/model.h"
#include "mm/registry.h"
#include "mm/spec.h"
#include "mm/util.h"
#include "mmctl.h"

#define MMCTL_AUDIT_ROWS 10 /* audit entries shown by `models get` */

int mmctl_open_registry(const mmctl_opts_t *o, mm_db_t **db) {
    char errstr[1024];
    if (!o->registry || !*o->registry)
        return mmctl_usage_error("--registry PATH is required (or MM_PROMOTER_REGISTRY)");
    if (!mmctl_file_exists(o->registry)) {
        fprintf(stderr, "mmctl: registry %s does not exist\n", o->registry);
        return EXIT_NOT_FOUND;
    }
    *db = mm_registry_open(o->registry, errstr, sizeof(errstr));
    if (!*db) return mmctl_fail(MM_ERR_DB, o->registry, errstr);
    return EXIT_OK;
}

/* Open the registry for a command about @p key; EXIT_NOT_FOUND if the key has no version. */
static int open_registry_for_key(const mmctl_opts_t *o, const char *key, mm_db_t **db) {
    int rc = mmctl_open_registry(o, db);
    if (rc) return rc;
    char errstr[1024];
    int64_t versions = 0;
    mm_err_t err = mm_registry_version_count(*db, key, &versions, errstr, sizeof(errstr));
    if (!err && versions > 0) return EXIT_OK;
    mm_db_close(*db);
    *db = NULL;
    if (err) return mmctl_fail(err, key, errstr);
    fprintf(stderr, "mmctl: no such key: %s\n", key);
    return EXIT_NOT_FOUND;
}

/* ------------------------------------------------------------ models list */

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

static void fmt_version(int32_t version, char *out, size_t size) {
    if (version > 0)
        snprintf(out, size, "v%lld", (long long)version);
    else
        snprintf(out, size, "-");
}

static void fmt_real(double v, char *out, size_t size) {
    if (v != v) /* NaN: no value */
        snprintf(out, size, "-");
    else
        snprintf(out, size, "%.4g", v);
}

typedef struct list_ctx {
    const char *metric;
    json_t *rows; /* NULL: print a table */
} list_ctx_t;

static bool list_row(void *opaque, const mm_registry_key_summary_t *k) {
    list_ctx_t *ctx = opaque;
    if (ctx->rows) {
        json_t *row = json_object();
        json_object_set_new(row, "partition_key", json_string(k->partition_key));
        json_object_set_new(row, "champion", mmctl_json_version_or_null(k->champion));
        json_object_set_new(row, "algorithm", mmctl_json_str_or_null(k->algorithm));
        json_object_set_new(row, "metric", json_string(ctx->metric));
        json_object_set_new(row, "value", mmctl_json_num_or_null(k->value));
        json_object_set_new(row, "baseline", mmctl_json_num_or_null(k->baseline));
        json_object_set_new(row, "fallback", json_boolean(k->fallback));
        json_object_set_new(row, "previous", mmctl_json_version_or_null(k->previous));
        json_object_set_new(row, "challenger", mmctl_json_version_or_null(k->challenger));
        json_object_set_new(row, "fallback_version",
                            mmctl_json_version_or_null(k->fallback_version));
        json_object_set_new(row, "versions", json_integer((json_int_t)k->versions));
        json_array_append_new(ctx->rows, row);
        return true;
    }
    char champion[24], previous[24], challenger[24], fallback[24], value[32], baseline[32];
    fmt_version(k->champion, champion, sizeof(champion));
    fmt_version(k->fallback_version, fallback, sizeof(fallback));
    fmt_version(k->previous, previous, sizeof(previous));
    fmt_version(k->challenger, challenger, sizeof(challenger));
    fmt_real(k->value, value, sizeof(value));
    fmt_real(k->baseline, baseline, sizeof(baseline));
    printf("%-32s %-9s %-10s %-10s %-10s %-9s %-10s %-9s %lld\n", k->partition_key, champion,
           k->algorithm ? k->algorithm : "-", value, baseline, previous, challenger, fallback,
           (long long)k->versions);
    return true;
}

int mmctl_models_list(const mmctl_opts_t *o) {
    mm_db_t *db = NULL;
    int rc = mmctl_open_registry(o, &db);
    if (rc) return rc;
    char errstr[1024], metric_buf[64];
    list_ctx_t ctx = {.metric = list_metric(o, metric_buf, sizeof(metric_buf))};
    if (o->format == OUT_JSON)
        ctx.rows = json_array();
    else
        printf("%-32s %-9s %-10s %-10s %-10s %-9s %-10s %-9s %s\n", "KEY", "CHAMPION", "ALGORITHM",
               ctx.metric, "BASELINE", "PREVIOUS", "CHALLENGER", "FALLBACK", "VERSIONS");
    mm_err_t err = mm_registry_list(db, ctx.metric, list_row, &ctx, errstr, sizeof(errstr));
    mm_db_close(db);
    if (err) {
        json_decref(ctx.rows);
        return mmctl_fail(err, "models list", errstr);
    }
    if (ctx.rows) mmctl_print_json(ctx.rows);
    return EXIT_OK;
}

/* ------------------------------------------------------------ models get / versions */

static json_t *version_json(const mm_registry_version_t *r) {
    json_t *v = json_object();
    json_object_set_new(v, "version", json_integer(r->version));
    json_object_set_new(v, "status", mmctl_json_str_or_null(r->status));
    json_object_set_new(v, "aliases", mmctl_json_str_or_null(r->aliases));
    json_object_set_new(v, "algorithm", mmctl_json_str_or_null(r->algorithm));
    json_object_set_new(v, "train_id", mmctl_json_str_or_null(r->train_id));
    json_object_set_new(v, "artifact_uri", mmctl_json_str_or_null(r->artifact_uri));
    json_object_set_new(v, "production_uri", mmctl_json_str_or_null(r->production_uri));
    json_object_set_new(v, "sha256", mmctl_json_str_or_null(r->sha256));
    json_object_set_new(v, "size", json_integer((json_int_t)r->size));
    json_object_set_new(v, "metrics", mmctl_json_parsed_or_null(r->metrics));
    json_object_set_new(v, "baseline", mmctl_json_parsed_or_null(r->baseline));
    json_object_set_new(v, "data_start_ms", json_integer((json_int_t)r->data_start_ms));
    json_object_set_new(v, "data_end_ms", json_integer((json_int_t)r->data_end_ms));
    json_object_set_new(v, "n_rows", json_integer((json_int_t)r->n_rows));
    json_object_set_new(v, "load_id", mmctl_json_str_or_null(r->load_id));
    json_object_set_new(v, "fallback", json_boolean(r->fallback));
    json_object_set_new(v, "fallback_reason", mmctl_json_str_or_null(r->fallback_reason));
    json_object_set_new(v, "failed_check", mmctl_json_str_or_null(r->failed_check));
    json_object_set_new(v, "adjustments", mmctl_json_str_or_null(r->adjustments));
    json_object_set_new(v, "created_at_ms", json_integer((json_int_t)r->created_at_ms));
    json_object_set_new(v, "reason", mmctl_json_str_or_null(r->reason));
    return v;
}

/*
 * Why a version is not (only) an approved model: the first check a rejected
 * one failed, or why training fell back; "-" otherwise.
 */
static const char *version_why(const mm_registry_version_t *v) {
    if (v->failed_check) return v->failed_check;
    if (v->fallback) return v->fallback_reason ? v->fallback_reason : "declared fallback";
    return "-";
}

static bool versions_row(void *opaque, const mm_registry_version_t *v) {
    json_t *rows = opaque;
    if (rows) {
        json_array_append_new(rows, version_json(v));
        return true;
    }
    char created[32];
    mmctl_fmt_time(v->created_at_ms, created, sizeof(created));
    printf("v%-7lld %-9s %-20s %-10s %-20s %-24s %s\n", (long long)v->version,
           v->status ? v->status : "-", v->aliases ? v->aliases : "-",
           v->algorithm ? v->algorithm : "-", created, version_why(v), v->reason ? v->reason : "");
    /* What training changed in the config for the key, on a line of its own. */
    if (v->adjustments && *v->adjustments) printf("%-8s adjusted: %s\n", "", v->adjustments);
    return true;
}

int mmctl_models_versions(const mmctl_opts_t *o, const char *key) {
    mm_db_t *db = NULL;
    int rc = open_registry_for_key(o, key, &db);
    if (rc) return rc;
    char errstr[1024];
    json_t *rows = o->format == OUT_JSON ? json_array() : NULL;
    if (!rows)
        printf("%-8s %-9s %-20s %-10s %-20s %-24s %s\n", "VERSION", "STATUS", "ALIASES",
               "ALGORITHM", "CREATED", "WHY", "REASON");
    mm_err_t err = mm_registry_versions(db, key, versions_row, rows, errstr, sizeof(errstr));
    mm_db_close(db);
    if (err) {
        json_decref(rows);
        return mmctl_fail(err, key, errstr);
    }
    if (rows) mmctl_print_json(rows);
    return EXIT_OK;
}

static bool audit_row(void *opaque, const mm_registry_audit_entry_t *e) {
    json_t *a = json_object();
    json_object_set_new(a, "at_ms", json_integer((json_int_t)e->at_ms));
    json_object_set_new(a, "version", mmctl_json_version_or_null(e->version));
    json_object_set_new(a, "action", mmctl_json_str_or_null(e->action));
    json_object_set_new(a, "decision", mmctl_json_str_or_null(e->decision));
    json_object_set_new(a, "reason", mmctl_json_str_or_null(e->reason));
    json_object_set_new(a, "actor", mmctl_json_str_or_null(e->actor));
    json_array_append_new((json_t *)opaque, a);
    return true;
}

static const char *const alias_names[] = {MM_ALIAS_CHAMPION, MM_ALIAS_PREVIOUS, MM_ALIAS_CHALLENGER,
                                          MM_ALIAS_FALLBACK};

/* A key's aliases, version count, champion row and recent audit, as one JSON document. */
static mm_err_t key_document(mm_db_t *db, const char *key, json_t *doc, char *errstr,
                             size_t errstr_size) {
    mm_err_t err = MM_OK;
    json_object_set_new(doc, "partition_key", json_string(key));
    json_t *aliases = json_object();
    for (size_t i = 0; i < MM_ARRAY_SIZE(alias_names); i++) {
        int32_t version = 0;
        if (!err)
            err = mm_registry_alias_get(db, key, alias_names[i], &version, errstr, errstr_size);
        json_object_set_new(aliases, alias_names[i], mmctl_json_version_or_null(version));
    }
    json_object_set_new(doc, "aliases", aliases);
    int64_t versions = 0;
    if (!err) err = mm_registry_version_count(db, key, &versions, errstr, errstr_size);
    json_object_set_new(doc, "versions", err ? json_null() : json_integer((json_int_t)versions));
    mm_registry_version_t champion;
    memset(&champion, 0, sizeof(champion));
    bool found = false;
    if (!err) err = mm_registry_champion_get(db, key, &champion, &found, errstr, errstr_size);
    json_object_set_new(doc, "champion", found ? version_json(&champion) : json_null());
    mm_registry_version_clear(&champion);
    json_t *audit = json_array();
    if (!err)
        err = mm_registry_audit_recent(db, key, MMCTL_AUDIT_ROWS, audit_row, audit, errstr,
                                       errstr_size);
    json_object_set_new(doc, "audit", audit);
    return err;
}

static void print_key_table(const char *key, json_t *doc) {
    printf("key:          %s\n", key);
    json_t *aliases = json_object_get(doc, "aliases");
    for (size_t i = 0; i < MM_ARRAY_SIZE(alias_names); i++) {
        json_t *v = json_object_get(aliases, alias_names[i]);
        if (json_is_integer(v))
            printf("%-13s v%lld\n", alias_names[i], (long long)json_integer_value(v));
        else
            printf("%-13s -\n", alias_names[i]);
    }
    printf("versions:     %lld\n", (long long)json_integer_value(json_object_get(doc, "versions")));
    json_t *champion = json_object_get(doc, "champion");
    if (json_is_object(champion)) {
        static const char *const fields[] = {
            "algorithm", "train_id",    "production_uri", "sha256",  "size",     "n_rows",
            "load_id",   "data_end_ms", "adjustments",    "metrics", "baseline", "reason"};
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
    json_array_foreach(json_object_get(doc, "audit"), i, a) {
        char at[32];
        mmctl_fmt_time((int64_t)json_integer_value(json_object_get(a, "at_ms")), at, sizeof(at));
        json_t *version = json_object_get(a, "version");
        json_t *decision = json_object_get(a, "decision");
        printf("  %s  v%-4lld %-8s %-11s %-14s %s\n", at,
               json_is_integer(version) ? (long long)json_integer_value(version) : 0LL,
               json_string_value(json_object_get(a, "action")),
               json_is_string(decision) ? json_string_value(decision) : "-",
               json_string_value(json_object_get(a, "actor")),
               json_string_value(json_object_get(a, "reason")));
    }
}

int mmctl_models_get(const mmctl_opts_t *o, const char *key) {
    mm_db_t *db = NULL;
    int rc = open_registry_for_key(o, key, &db);
    if (rc) return rc;
    char errstr[1024];
    json_t *doc = json_object();
    mm_err_t err = key_document(db, key, doc, errstr, sizeof(errstr));
    mm_db_close(db);
    if (err) {
        json_decref(doc);
        return mmctl_fail(err, key, errstr);
    }
    if (o->format == OUT_JSON) {
        mmctl_print_json(doc);
        return EXIT_OK;
    }
    print_key_table(key, doc);
    json_decref(doc);
    return EXIT_OK;
}

/* ------------------------------------------------------------ promote / rollback */

static int print_change(const mmctl_opts_t *o, mm_db_t *db, const char *key,
                        const mm_registry_change_t *change) {
    char errstr[1024];
    const char *delivery = "none";
    if (change->changed) {
        mm_err_t err = mmctl_deliver_outbox(o, db, errstr, sizeof(errstr));
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
        json_object_set_new(doc, "decision", json_string(mm_decision_kind_name(change->decision)));
        json_object_set_new(doc, "changed", json_boolean(change->changed));
        json_object_set_new(doc, "version", json_integer(change->version));
        json_object_set_new(doc, "champion", json_integer(change->champion));
        json_object_set_new(doc, "reason", json_string(change->reason));
        json_object_set_new(doc, "delivery", json_string(delivery));
        mmctl_print_json(doc);
    } else {
        printf("%s: %s\n", key, change->reason);
        if (change->changed)
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
        snprintf(out, size, "mmctl:%s", mmctl_env_or("USER", "unknown"));
}

int mmctl_models_promote(const mmctl_opts_t *o, const char *key, const char *version_text) {
    int64_t version = 0;
    if (!mm_parse_i64(version_text, &version) || version <= 0 || version > INT32_MAX)
        return mmctl_usage_error("VERSION must be a positive integer, not '%s'", version_text);
    if (!o->reason || !*o->reason) return mmctl_usage_error("promote needs --reason TEXT");
    mm_db_t *db = NULL;
    int rc = mmctl_open_registry(o, &db);
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
            return mmctl_fail(MM_ERR_CONFIG, "blob store", errstr);
        }
    }
    mm_registry_change_t change;
    mm_err_t err = mm_registry_promote(db, blob, key, (int32_t)version, o->reason, actor, &change,
                                       errstr, sizeof(errstr));
    mm_blob_destroy(blob);
    if (err) {
        mm_db_close(db);
        return mmctl_fail(err, "models promote", errstr);
    }
    rc = print_change(o, db, key, &change);
    mm_db_close(db);
    return rc;
}

int mmctl_models_rollback(const mmctl_opts_t *o, const char *key) {
    if (!o->reason || !*o->reason) return mmctl_usage_error("rollback needs --reason TEXT");
    mm_db_t *db = NULL;
    int rc = mmctl_open_registry(o, &db);
    if (rc) return rc;
    char errstr[1024], actor[256];
    default_actor(o, actor, sizeof(actor));
    mm_registry_change_t change;
    mm_err_t err = mm_registry_rollback(db, key, o->reason, actor, &change, errstr, sizeof(errstr));
    if (err) {
        mm_db_close(db);
        return mmctl_fail(err, "models rollback", errstr);
    }
    rc = print_change(o, db, key, &change);
    mm_db_close(db);
    return rc;
}
