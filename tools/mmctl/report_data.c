/*
 * report_data.c - what `mmctl report --html` shows (see report_html.h),
 * gathered from the registry (champions, their metric against the
 * seasonal-naive baseline, algorithms, every version's registration time,
 * rejected keys), the scorer's sink (coverage, each drilled key's latest
 * forecast and interval) and, with --state, the scorer's state store (each
 * drilled key's newest observations).
 *
 * History comes from the scorer's state store because it holds exactly the
 * rows the forecast was made from (the newest --keep-periods observations per
 * key); the sink holds forecasts only.
 *
 * Workload: one pass over the registry's keys (~10,000) with one versions
 * query per key, one streamed pass over the sink's latest rows, and one
 * history query per drilled key (ten).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "mm/util.h"
#include "report_html.h"
#include "sink.h"

static char *dup_or_null(const char *s) {
    return s ? strdup(s) : NULL;
}

static bool on_key(void *opaque, const mm_registry_key_summary_t *s) {
    report_t *r = opaque;
    if (r->n_keys == r->cap_keys) {
        size_t cap = r->cap_keys ? r->cap_keys * 2 : 256;
        report_key_t *grown = realloc(r->keys, cap * sizeof(*grown));
        if (!grown) return false;
        r->keys = grown;
        r->cap_keys = cap;
    }
    report_key_t *k = &r->keys[r->n_keys];
    memset(k, 0, sizeof(*k));
    k->key = strdup(s->partition_key);
    if (!k->key) return false;
    k->champion = s->champion > 0;
    k->fallback_served = !k->champion && s->fallback_version > 0;
    k->algorithm = k->champion ? dup_or_null(s->algorithm) : NULL;
    k->value = k->champion ? s->value : NAN;
    k->baseline = k->champion ? s->baseline : NAN;
    r->n_keys++;
    return true;
}

/* The newest version seen of one key, while its versions stream by. */
typedef struct key_versions {
    report_t *r;
    int32_t version;
    bool rejected;
    char *failed_check, *reason;
    bool nomem;
} key_versions_t;

static bool on_version(void *opaque, const mm_registry_version_t *v) {
    key_versions_t *kv = opaque;
    report_t *r = kv->r;
    if (r->n_created == r->cap_created) {
        size_t cap = r->cap_created ? r->cap_created * 2 : 1024;
        int64_t *grown = realloc(r->created_ms, cap * sizeof(*grown));
        if (!grown) {
            kv->nomem = true;
            return false;
        }
        r->created_ms = grown;
        r->cap_created = cap;
    }
    r->created_ms[r->n_created++] = v->created_at_ms;
    kv->version = v->version; /* oldest first: the last one seen is the newest */
    kv->rejected = v->status && strcmp(v->status, "rejected") == 0;
    free(kv->failed_check);
    free(kv->reason);
    kv->failed_check = dup_or_null(v->failed_check);
    kv->reason = dup_or_null(v->reason);
    return true;
}

static void count_algorithm(report_t *r, const char *name) {
    for (size_t i = 0; i < r->n_algos; i++)
        if (strcmp(r->algos[i].name, name) == 0) {
            r->algos[i].n++;
            return;
        }
    size_t slot = r->n_algos;
    if (slot == REPORT_ALGORITHMS) { /* the last slot counts every other algorithm */
        if (r->algos[slot].name[0] == 0) snprintf(r->algos[slot].name, 64, "other");
        r->algos[slot].n++;
        return;
    }
    snprintf(r->algos[slot].name, sizeof(r->algos[slot].name), "%s", name);
    r->algos[slot].n = 1;
    r->n_algos++;
}

static int collect_registry(const mmctl_opts_t *o, report_t *r) {
    mm_db_t *db = NULL;
    int rc = mmctl_open_registry(o, &db);
    if (rc) return rc;
    char errstr[1024];
    mm_err_t err = mm_registry_stats(db, &r->stats, errstr, sizeof(errstr));
    if (!err) err = mm_registry_list(db, r->metric, on_key, r, errstr, sizeof(errstr));
    if (!err && r->n_keys < (size_t)r->stats.keys)
        err = mm_errf(MM_ERR_NOMEM, errstr, sizeof(errstr), "out of memory");
    if (!err && r->n_keys > 0 && !(r->rejected = calloc(REPORT_REJECTED, sizeof(*r->rejected))))
        err = mm_errf(MM_ERR_NOMEM, errstr, sizeof(errstr), "out of memory");
    for (size_t i = 0; !err && i < r->n_keys; i++) {
        report_key_t *k = &r->keys[i];
        if (k->champion) count_algorithm(r, k->algorithm ? k->algorithm : "?");
        key_versions_t kv = {.r = r};
        err = mm_registry_versions(db, k->key, on_version, &kv, errstr, sizeof(errstr));
        if (!err && kv.nomem) err = mm_errf(MM_ERR_NOMEM, errstr, sizeof(errstr), "out of memory");
        if (!err && !k->champion && kv.rejected) {
            r->rejected_keys++;
            if (r->n_rejected < REPORT_REJECTED) {
                report_rejected_t *rj = &r->rejected[r->n_rejected++];
                rj->key = strdup(k->key);
                rj->version = kv.version;
                rj->failed_check = kv.failed_check;
                rj->reason = kv.reason;
                kv.failed_check = kv.reason = NULL;
            }
        }
        free(kv.failed_check);
        free(kv.reason);
    }
    mm_db_close(db);
    if (err) return mmctl_fail(err, "report", errstr);
    return EXIT_OK;
}

/* Relative accuracy: the champion's metric over its baseline's (below 1: better). */
static double skill(const report_key_t *k) {
    if (!k->champion || !isfinite(k->value) || !isfinite(k->baseline) || k->baseline <= 0)
        return NAN;
    return k->value / k->baseline;
}

static bool drilled(const report_t *r, const report_key_t *k) {
    for (size_t i = 0; i < r->n_drill; i++)
        if (r->drill[i].k == k) return true;
    return false;
}

/* The worst champions by skill, then keys spread evenly over the key order. */
static void choose_drill(report_t *r) {
    for (int w = 0; w < REPORT_WORST; w++) {
        const report_key_t *worst = NULL;
        for (size_t i = 0; i < r->n_keys; i++) {
            const report_key_t *k = &r->keys[i];
            if (isnan(skill(k)) || drilled(r, k)) continue;
            if (!worst || skill(k) > skill(worst)) worst = k;
        }
        if (!worst) break;
        r->drill[r->n_drill++] = (report_drill_t){.k = worst, .why = "worst"};
    }
    size_t want = REPORT_SAMPLE, step = r->n_keys / (want ? want : 1);
    if (step == 0) step = 1;
    for (size_t i = 0; i < r->n_keys && want > 0; i += step) {
        if (drilled(r, &r->keys[i])) continue;
        r->drill[r->n_drill++] = (report_drill_t){.k = &r->keys[i], .why = "sample"};
        want--;
    }
}

static report_drill_t *drill_for(report_t *r, const char *key) {
    for (size_t i = 0; i < r->n_drill; i++)
        if (strcmp(r->drill[i].k->key, key) == 0) return &r->drill[i];
    return NULL;
}

typedef struct sink_pass {
    report_t *r;
    char last_key[1024];
    bool nomem;
} sink_pass_t;

static bool on_sink_row(void *opaque, const mm_scorer_sink_row_t *row) {
    sink_pass_t *sp = opaque;
    report_t *r = sp->r;
    if (strcmp(sp->last_key, row->partition_key) != 0) { /* rows come in key order */
        snprintf(sp->last_key, sizeof(sp->last_key), "%s", row->partition_key);
        if (strcmp(row->status, "ok") != 0)
            r->cov_nothing++;
        else if (row->fallback)
            r->cov_fallback++;
        else
            r->cov_champion++;
    }
    report_drill_t *d = drill_for(r, row->partition_key);
    if (!d) return true;
    if (!d->status) {
        d->status = strdup(row->status);
        d->fallback = row->fallback;
    }
    if (row->target_time_ms < 0) return true;
    if (d->n_fc == d->cap_fc) {
        size_t cap = d->cap_fc ? d->cap_fc * 2 : 64;
        int64_t *t = realloc(d->fc_t, cap * sizeof(*t));
        if (t) d->fc_t = t;
        double *v = realloc(d->fc_v, cap * sizeof(*v));
        if (v) d->fc_v = v;
        double *lo = realloc(d->fc_lo, cap * sizeof(*lo));
        if (lo) d->fc_lo = lo;
        double *hi = realloc(d->fc_hi, cap * sizeof(*hi));
        if (hi) d->fc_hi = hi;
        if (!t || !v || !lo || !hi) {
            sp->nomem = true;
            return false;
        }
        d->cap_fc = cap;
    }
    d->fc_t[d->n_fc] = row->target_time_ms;
    d->fc_v[d->n_fc] = row->value;
    d->fc_lo[d->n_fc] = row->lower;
    d->fc_hi[d->n_fc] = row->upper;
    d->n_fc++;
    return true;
}

static int collect_sink(const mmctl_opts_t *o, report_t *r) {
    mm_scorer_sink_t *sink = NULL;
    int rc = mmctl_open_sink(o, &sink);
    if (rc) return rc;
    char errstr[1024];
    sink_pass_t sp = {.r = r};
    mm_err_t err = mm_scorer_sink_latest(sink, NULL, on_sink_row, &sp, errstr, sizeof(errstr));
    mm_scorer_sink_close(sink);
    if (!err && sp.nomem) err = mm_errf(MM_ERR_NOMEM, errstr, sizeof(errstr), "out of memory");
    if (err) return mmctl_fail(err, "sink", errstr);
    r->coverage_from_sink = true;
    return EXIT_OK;
}

/* The newest REPORT_HISTORY observations of each drilled key, oldest first. */
static int collect_history(const mmctl_opts_t *o, report_t *r) {
    if (!mmctl_file_exists(o->state)) {
        fprintf(stderr, "mmctl: scorer state %s does not exist\n", o->state);
        return EXIT_NOT_FOUND;
    }
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_open_v2(o->state, &db, SQLITE_OPEN_READONLY, NULL);
    if (rc == SQLITE_OK) sqlite3_busy_timeout(db, 5000);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db,
                                "SELECT t, y FROM (SELECT t, y FROM scoring_rows WHERE "
                                "partition_key = ?1 AND y IS NOT NULL ORDER BY t DESC LIMIT ?2) "
                                "ORDER BY t",
                                -1, &st, NULL);
    for (size_t i = 0; rc == SQLITE_OK && i < r->n_drill; i++) {
        report_drill_t *d = &r->drill[i];
        d->hist_t = calloc(REPORT_HISTORY, sizeof(*d->hist_t));
        d->hist_y = calloc(REPORT_HISTORY, sizeof(*d->hist_y));
        if (!d->hist_t || !d->hist_y) {
            rc = SQLITE_NOMEM;
            break;
        }
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, d->k->key, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, REPORT_HISTORY);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW && d->n_hist < REPORT_HISTORY) {
            d->hist_t[d->n_hist] = sqlite3_column_int64(st, 0);
            d->hist_y[d->n_hist] = sqlite3_column_double(st, 1);
            d->n_hist++;
        }
        if (rc == SQLITE_DONE) rc = SQLITE_OK;
    }
    char why[512];
    snprintf(why, sizeof(why), "%s", rc == SQLITE_OK ? "" : db ? sqlite3_errmsg(db) : "no memory");
    sqlite3_finalize(st);
    sqlite3_close(db);
    if (rc != SQLITE_OK) {
        fprintf(stderr, "mmctl: scorer state %s: %s (is it mm-scorer's --state file?)\n", o->state,
                why);
        return EXIT_ERROR;
    }
    r->has_state = true;
    return EXIT_OK;
}

int report_collect(const mmctl_opts_t *o, report_t *r) {
    memset(r, 0, sizeof(*r));
    r->metric = o->metric ? o->metric : "mase";
    r->generated_ms = mm_now_ms();
    int rc = collect_registry(o, r);
    if (rc) return rc;
    choose_drill(r);
    if (o->sink && *o->sink) {
        if ((rc = collect_sink(o, r)) != EXIT_OK) return rc;
    } else {
        for (size_t i = 0; i < r->n_keys; i++) {
            if (r->keys[i].champion)
                r->cov_champion++;
            else if (r->keys[i].fallback_served)
                r->cov_fallback++;
            else
                r->cov_nothing++;
        }
    }
    if (o->state && *o->state && (rc = collect_history(o, r)) != EXIT_OK) return rc;
    return EXIT_OK;
}

void report_free(report_t *r) {
    for (size_t i = 0; i < r->n_keys; i++) {
        free(r->keys[i].key);
        free(r->keys[i].algorithm);
    }
    free(r->keys);
    free(r->created_ms);
    for (size_t i = 0; i < r->n_rejected; i++) {
        free(r->rejected[i].key);
        free(r->rejected[i].failed_check);
        free(r->rejected[i].reason);
    }
    free(r->rejected);
    for (size_t i = 0; i < r->n_drill; i++) {
        report_drill_t *d = &r->drill[i];
        free(d->status);
        free(d->hist_t);
        free(d->hist_y);
        free(d->fc_t);
        free(d->fc_v);
        free(d->fc_lo);
        free(d->fc_hi);
    }
    memset(r, 0, sizeof(*r));
}
