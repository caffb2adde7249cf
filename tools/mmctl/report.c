/*
 * report.c - `mmctl report`: registry counts, champion metrics against their
 * seasonal-naive baselines, and the scorer's sink, as a table or JSON.
 *
 * Workload: a script may poll this once a second; a dozen aggregate queries
 * over registries of ~10,000 keys.
 */
#include <math.h>
#include <stdio.h>

#include "mm/model.h"
#include "mm/registry.h"
#include "mmctl.h"
#include "report_html.h"
#include "sink.h"

/* Count the scorer's sink (it owns the schema and opens it at exactly that version). */
static int sink_count(const mmctl_opts_t *o, mm_scorer_sink_counts_t *counts) {
    char errstr[1024];
    mm_scorer_sink_t *sink = NULL;
    int rc = mmctl_open_sink(o, &sink);
    if (rc != EXIT_OK) return rc;
    mm_err_t err = mm_scorer_sink_counts(sink, counts, errstr, sizeof(errstr));
    mm_scorer_sink_close(sink);
    if (err) return mmctl_fail(err, "sink", errstr);
    return EXIT_OK;
}

/* Metrics always reported (forecasting), plus any other with champions that carry it. */
static bool report_metric(const mm_registry_stats_t *st, mm_metric_id_t m) {
    return m == MM_METRIC_MASE || m == MM_METRIC_RMSE || m == MM_METRIC_SMAPE ||
           m == MM_METRIC_MAE || st->metrics[m].n > 0;
}

/* `report --html FILE`: report_data.c gathers, report_html.c draws. */
static int report_html(const mmctl_opts_t *o) {
    report_t r;
    char shown[1024];
    int rc = report_collect(o, &r);
    if (rc == EXIT_OK) {
        if (o->sink && *o->sink) {
            mm_scorer_sink_url_redacted(o->sink, shown, sizeof(shown));
            r.sink_shown = shown;
        }
        rc = report_write_html(&r, o->html);
    }
    report_free(&r);
    return rc;
}

int mmctl_report(const mmctl_opts_t *o) {
    if (o->html) return report_html(o);
    mm_db_t *db = NULL;
    int rc = mmctl_open_registry(o, &db);
    if (rc) return rc;
    char errstr[1024];
    mm_registry_stats_t st;
    mm_err_t err = mm_registry_stats(db, &st, errstr, sizeof(errstr));
    mm_db_close(db);
    if (err) return mmctl_fail(err, "report", errstr);
    mm_scorer_sink_counts_t sink = {0};
    bool has_sink = o->sink && *o->sink;
    if (has_sink && (rc = sink_count(o, &sink)) != EXIT_OK) return rc;

    if (o->format == OUT_JSON) {
        json_t *doc = json_object();
        json_object_set_new(doc, "keys", json_integer(st.keys));
        json_object_set_new(doc, "versions", json_integer(st.versions));
        json_object_set_new(doc, "approved", json_integer(st.approved));
        json_object_set_new(doc, "rejected", json_integer(st.rejected));
        json_object_set_new(doc, "fallback_versions", json_integer(st.fallback_versions));
        json_object_set_new(doc, "fallback", json_integer(st.fallback));
        json_object_set_new(doc, "fallback_served", json_integer(st.fallback_served));
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
                                          mmctl_json_num_or_null(st.metrics[m].model), "baseline",
                                          mmctl_json_num_or_null(st.metrics[m].baseline),
                                          "champions", (json_int_t)st.metrics[m].n));
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
        mmctl_print_json(doc);
        return EXIT_OK;
    }

    printf("registry %s\n", o->registry);
    printf("  keys            %lld (%lld with a champion, %lld decided)\n", (long long)st.keys,
           (long long)st.champions, (long long)st.decided_keys);
    printf("  versions        %lld (%lld approved, %lld rejected, %lld fallback)\n",
           (long long)st.versions, (long long)st.approved, (long long)st.rejected,
           (long long)st.fallback_versions);
    printf("  fallback        %lld keys whose newest model is a declared fallback,"
           " %lld served one for want of a champion\n",
           (long long)st.fallback, (long long)st.fallback_served);
    printf("  manual          %lld promoted, %lld rolled back\n", (long long)st.promoted,
           (long long)st.rolled_back);
    printf("  outbox          %lld decisions not yet delivered\n", (long long)st.outbox);
    printf("champion metrics (mean over champions) vs their seasonal-naive baselines\n");
    printf("  %-10s %-12s %-12s %-10s %s\n", "METRIC", "MODEL", "BASELINE", "CHANGE", "CHAMPIONS");
    for (int m = 0; m < MM_METRIC__COUNT; m++) {
        if (!report_metric(&st, (mm_metric_id_t)m)) continue;
        const mm_registry_metric_mean_t *mean = &st.metrics[m];
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
        char shown[1024];
        mm_scorer_sink_url_redacted(o->sink, shown, sizeof(shown));
        printf("sink %s\n", shown);
        printf("  predictions     %lld rows for %lld keys\n", (long long)sink.rows,
               (long long)sink.keys);
        printf("  no model        %lld keys\n", (long long)sink.no_model_keys);
    }
    return EXIT_OK;
}
