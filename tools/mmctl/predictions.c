/*
 * predictions.c - `mmctl predictions list|export`: the latest predictions in
 * mm-scorer's sink (SQLite or PostgreSQL, by the sink URL; each key's latest
 * run, through the sink library's latest_predictions view), for one key or
 * all, as a table, JSON or CSV.
 * Column meanings: docs/scoring.md.
 *
 * Workload: an operator's look at a key (tens of rows) or an export of a
 * whole run (keys x horizon rows, millions at most): rows stream from SQLite
 * to stdout, nothing is held beyond one row (JSON is built as one document).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "mmctl.h"
#include "sink.h"

typedef struct print_ctx {
    out_format_t format;
    bool full; /* every column (export), or the operator's summary (list as a table) */
    json_t *rows;
    int64_t n;
} print_ctx_t;

static void csv_text(const char *s) {
    if (!s) return;
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, stdout);
        return;
    }
    fputc('"', stdout);
    for (const char *c = s; *c; c++) {
        if (*c == '"') fputc('"', stdout);
        fputc(*c, stdout);
    }
    fputc('"', stdout);
}

static void csv_num(double v) {
    if (isfinite(v)) printf("%.17g", v);
}

static const char csv_header[] =
    "partition_key,entity,status,fallback,target_time,target_time_ms,value,lower,upper,model_"
    "version,"
    "train_id,algorithm,data_watermark_ms,load_id,model_data_end_ms,new_observations,"
    "planned_steps,carried_steps,request_id,produced_at_ms,message\n";

static void print_csv(const mm_scorer_sink_row_t *r) {
    char when[32];
    mmctl_fmt_time(r->target_time_ms, when, sizeof(when));
    csv_text(r->partition_key);
    fputc(',', stdout);
    csv_text(r->entity);
    printf(",%s,%d,%s,", r->status, r->fallback ? 1 : 0, r->target_time_ms >= 0 ? when : "");
    if (r->target_time_ms >= 0) printf("%lld", (long long)r->target_time_ms);
    fputc(',', stdout);
    csv_num(r->value);
    fputc(',', stdout);
    csv_num(r->lower);
    fputc(',', stdout);
    csv_num(r->upper);
    printf(",%d,", r->model_version);
    csv_text(r->train_id);
    fputc(',', stdout);
    csv_text(r->algorithm);
    printf(",%lld,", (long long)r->data_watermark_ms);
    csv_text(r->load_id);
    printf(",%lld,%d,%d,%d,", (long long)r->model_data_end_ms, r->new_observations,
           r->planned_steps, r->carried_steps);
    csv_text(r->request_id);
    printf(",%lld,", (long long)r->produced_at_ms);
    csv_text(r->message);
    fputc('\n', stdout);
}

static json_t *row_json(const mm_scorer_sink_row_t *r) {
    json_t *o = json_object();
    json_object_set_new(o, "partition_key", json_string(r->partition_key));
    json_object_set_new(o, "entity",
                        r->entity && r->entity[0] ? json_string(r->entity) : json_null());
    json_object_set_new(o, "status", json_string(r->status));
    json_object_set_new(o, "fallback", json_boolean(r->fallback));
    json_object_set_new(o, "target_time_ms",
                        r->target_time_ms >= 0 ? json_integer(r->target_time_ms) : json_null());
    json_object_set_new(o, "value", mmctl_json_num_or_null(r->value));
    json_object_set_new(o, "lower", mmctl_json_num_or_null(r->lower));
    json_object_set_new(o, "upper", mmctl_json_num_or_null(r->upper));
    json_object_set_new(o, "model_version", mmctl_json_version_or_null(r->model_version));
    json_object_set_new(o, "train_id", mmctl_json_str_or_null(r->train_id));
    json_object_set_new(o, "algorithm", mmctl_json_str_or_null(r->algorithm));
    json_object_set_new(o, "data_watermark_ms", json_integer(r->data_watermark_ms));
    json_object_set_new(o, "load_id", mmctl_json_str_or_null(r->load_id));
    json_object_set_new(o, "model_data_end_ms", json_integer(r->model_data_end_ms));
    json_object_set_new(o, "new_observations", json_integer(r->new_observations));
    json_object_set_new(o, "planned_steps", json_integer(r->planned_steps));
    json_object_set_new(o, "carried_steps", json_integer(r->carried_steps));
    json_object_set_new(o, "request_id", mmctl_json_str_or_null(r->request_id));
    json_object_set_new(o, "produced_at_ms", json_integer(r->produced_at_ms));
    json_object_set_new(o, "message", mmctl_json_str_or_null(r->message));
    return o;
}

static void print_table_row(const mm_scorer_sink_row_t *r) {
    char when[32], mark[32];
    mmctl_fmt_time(r->target_time_ms, when, sizeof(when));
    mmctl_fmt_time(r->data_watermark_ms, mark, sizeof(mark));
    printf("%-28s %-20s %-8s %-3s %-20s %12.4g %12.4g %12.4g %4d %-10s %-20s %3d/%-3d",
           r->partition_key, r->entity && r->entity[0] ? r->entity : "-", r->status,
           r->fallback ? "yes" : "no", when, r->value, r->lower, r->upper, r->model_version,
           r->algorithm ? r->algorithm : "-", mark, r->planned_steps, r->carried_steps);
    if (r->target_time_ms < 0 && r->message) printf("  %s", r->message);
    fputc('\n', stdout);
}

static bool on_row(void *opaque, const mm_scorer_sink_row_t *r) {
    print_ctx_t *ctx = opaque;
    ctx->n++;
    if (ctx->format == OUT_JSON)
        json_array_append_new(ctx->rows, row_json(r));
    else if (ctx->format == OUT_CSV || ctx->full)
        print_csv(r);
    else
        print_table_row(r);
    return true;
}

int mmctl_open_sink(const mmctl_opts_t *o, mm_scorer_sink_t **sink) {
    *sink = NULL;
    char errstr[1024], shown[1024];
    mm_scorer_sink_kind_t kind;
    const char *path = NULL;
    mm_err_t err = mm_scorer_sink_parse_url(o->sink, &kind, &path, errstr, sizeof(errstr));
    if (err) return mmctl_usage_error("--sink: %s", errstr);
    mm_scorer_sink_url_redacted(o->sink, shown, sizeof(shown));
    /* A SQLite sink that is not there is "not found", never a new empty file. */
    if (kind == MM_SCORER_SINK_SQLITE && !mmctl_file_exists(path)) {
        fprintf(stderr, "mmctl: sink %s does not exist\n", shown);
        return EXIT_NOT_FOUND;
    }
    *sink = mm_scorer_sink_open(o->sink, errstr, sizeof(errstr));
    if (!*sink) return mmctl_fail(MM_ERR_DB, "sink", errstr);
    return EXIT_OK;
}

static int predictions_print(const mmctl_opts_t *o, bool full) {
    if (!o->sink || !*o->sink)
        return mmctl_usage_error("predictions: no sink (--sink URL or MM_SCORER_SINK)");
    mm_scorer_sink_t *sink = NULL;
    int rc = mmctl_open_sink(o, &sink);
    if (rc != EXIT_OK) return rc;
    char errstr[1024];
    print_ctx_t ctx = {.format = o->format, .full = full};
    if (ctx.format == OUT_JSON) ctx.rows = json_array();
    if (ctx.format == OUT_CSV || (full && ctx.format != OUT_JSON))
        fputs(csv_header, stdout);
    else if (ctx.format == OUT_TABLE)
        printf("%-28s %-20s %-8s %-3s %-20s %12s %12s %12s %4s %-10s %-20s %s\n", "KEY", "ENTITY",
               "STATUS", "FB", "TARGET TIME", "VALUE", "LOWER", "UPPER", "VER", "ALGORITHM",
               "WATERMARK", "PLANNED/CARRIED");
    mm_err_t err = mm_scorer_sink_latest(sink, o->key, on_row, &ctx, errstr, sizeof(errstr));
    mm_scorer_sink_close(sink);
    if (ctx.format == OUT_JSON) {
        if (err)
            json_decref(ctx.rows);
        else
            mmctl_print_json(ctx.rows);
    }
    if (err) return mmctl_fail(err, "predictions", errstr);
    if (o->key && ctx.n == 0) {
        fprintf(stderr, "mmctl: no predictions for key %s\n", o->key);
        return EXIT_NOT_FOUND;
    }
    return EXIT_OK;
}

int mmctl_predictions_list(const mmctl_opts_t *o) {
    return predictions_print(o, false);
}

int mmctl_predictions_export(const mmctl_opts_t *o) {
    return predictions_print(o, true);
}
