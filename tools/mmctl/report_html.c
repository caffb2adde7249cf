/*
 * report_html.c - `mmctl report --html FILE` (see report_html.h): one
 * self-contained HTML page with inline SVG charts and CSS, no script and
 * nothing fetched, so it opens offline and can be mailed or archived.
 *
 * Every chart is an <svg class="chart" data-chart="NAME">; text from the
 * registry and the sink (keys, reasons) is HTML-escaped.
 *
 * Workload: a page over ~10,000 keys: a few histograms and ten drill-down
 * charts; written with stdio in one pass.
 */
#include "report_html.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/util.h"

#define CHART_W 640
#define CHART_H 220
#define PAD_L   56
#define PAD_R   12
#define PAD_T   12
#define PAD_B   28
#define BINS    20
#define SKILL_MAX                                                                                  \
    2.0 /* the accuracy histogram's range: 0 .. 2 x the baseline (the rest in the last bin) */

static void esc(FILE *f, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

static void fmt_day(int64_t ms, char *out, size_t size) {
    char full[32];
    mmctl_fmt_time(ms, full, sizeof(full));
    snprintf(out, size, "%.10s", full);
}

static double skill(const report_key_t *k) {
    if (!k->champion || !isfinite(k->value) || !isfinite(k->baseline) || k->baseline <= 0)
        return NAN;
    return k->value / k->baseline;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static double quantile(const double *sorted, size_t n, double q) {
    if (n == 0) return NAN;
    double pos = q * (double)(n - 1);
    size_t i = (size_t)pos;
    if (i + 1 >= n) return sorted[n - 1];
    return sorted[i] + (pos - (double)i) * (sorted[i + 1] - sorted[i]);
}

/* A bar chart of @p n counts; @p labels under the first, middle and last bars (may be NULL). */
static void bar_chart(FILE *f, const char *name, const int64_t *counts, size_t n,
                      const char *const *labels, const char *color, double marker_at) {
    int64_t max = 1;
    for (size_t i = 0; i < n; i++)
        if (counts[i] > max) max = counts[i];
    fprintf(f,
            "<svg class=\"chart\" data-chart=\"%s\" viewBox=\"0 0 %d %d\" width=\"%d\" "
            "height=\"%d\" role=\"img\">\n",
            name, CHART_W, CHART_H, CHART_W, CHART_H);
    double plot_w = CHART_W - PAD_L - PAD_R, plot_h = CHART_H - PAD_T - PAD_B;
    double bw = plot_w / (double)(n ? n : 1);
    fprintf(f, "<line x1=\"%d\" y1=\"%g\" x2=\"%d\" y2=\"%g\" class=\"axis\"/>\n", PAD_L,
            PAD_T + plot_h, CHART_W - PAD_R, PAD_T + plot_h);
    fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"tick\" text-anchor=\"end\">%lld</text>\n",
            PAD_L - 4, PAD_T + 10, (long long)max);
    fprintf(f, "<text x=\"%d\" y=\"%g\" class=\"tick\" text-anchor=\"end\">0</text>\n", PAD_L - 4,
            PAD_T + plot_h);
    for (size_t i = 0; i < n; i++) {
        double h = plot_h * (double)counts[i] / (double)max;
        fprintf(f,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
                "<title>%lld</title></rect>\n",
                PAD_L + bw * (double)i + 1, PAD_T + plot_h - h, bw > 3 ? bw - 2 : bw, h, color,
                (long long)counts[i]);
        if (labels && labels[i])
            fprintf(f,
                    "<text x=\"%.1f\" y=\"%d\" class=\"tick\" text-anchor=\"middle\">%s</text>\n",
                    PAD_L + bw * ((double)i + 0.5), CHART_H - 8, labels[i]);
    }
    if (isfinite(marker_at))
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.1f\" class=\"marker\"/>\n",
                PAD_L + plot_w * marker_at, PAD_T, PAD_L + plot_w * marker_at, PAD_T + plot_h);
    fputs("</svg>\n", f);
}

static void section_coverage(FILE *f, const report_t *r) {
    int64_t total = r->cov_champion + r->cov_fallback + r->cov_nothing;
    fprintf(f,
            "<h2>Coverage</h2>\n<p>%lld keys %s: <b>%lld</b> answered by a champion, "
            "<b>%lld</b> by a fallback, <b>%lld</b> with nothing (no model or an error).</p>\n",
            (long long)total,
            r->coverage_from_sink ? "in the sink's latest run" : "in the registry (no --sink)",
            (long long)r->cov_champion, (long long)r->cov_fallback, (long long)r->cov_nothing);
    fprintf(f,
            "<svg class=\"chart\" data-chart=\"coverage\" viewBox=\"0 0 %d 48\" width=\"%d\" "
            "height=\"48\" role=\"img\">\n",
            CHART_W, CHART_W);
    const int64_t parts[] = {r->cov_champion, r->cov_fallback, r->cov_nothing};
    const char *const names[] = {"champion", "fallback", "nothing"};
    const char *const colors[] = {"#2b8a3e", "#f59f00", "#c92a2a"};
    double x = 0;
    for (int i = 0; i < 3; i++) {
        double w = total ? (double)CHART_W * (double)parts[i] / (double)total : 0;
        fprintf(f,
                "<rect x=\"%.1f\" y=\"0\" width=\"%.1f\" height=\"28\" fill=\"%s\">"
                "<title>%s: %lld</title></rect>\n",
                x, w, colors[i], names[i], (long long)parts[i]);
        fprintf(f, "<text x=\"%d\" y=\"44\" class=\"tick\" fill=\"%s\">&#9632; %s %lld</text>\n",
                i * 160, colors[i], names[i], (long long)parts[i]);
        x += w;
    }
    fputs("</svg>\n", f);
}

static void section_accuracy(FILE *f, const report_t *r) {
    double *s = calloc(r->n_keys ? r->n_keys : 1, sizeof(*s));
    size_t n = 0;
    for (size_t i = 0; s && i < r->n_keys; i++)
        if (isfinite(skill(&r->keys[i]))) s[n++] = skill(&r->keys[i]);
    fprintf(f, "<h2>Accuracy against the seasonal-naive baseline</h2>\n");
    if (n == 0) {
        fprintf(f, "<p>No champion has both a %s and a baseline value.</p>\n", r->metric);
        free(s);
        return;
    }
    qsort(s, n, sizeof(*s), cmp_double);
    size_t better = 0;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 1.0) better++;
        sum += s[i];
    }
    fprintf(f,
            "<p>Champion %s divided by its baseline's, per key (below 1: the champion beats the "
            "baseline). %zu champions; %zu (%.0f%%) beat it.</p>\n<table class=\"num\"><tr>"
            "<th>mean</th><th>p10</th><th>p25</th><th>median</th><th>p75</th><th>p90</th>"
            "<th>worst</th></tr><tr>",
            r->metric, n, better, 100.0 * (double)better / (double)n);
    const double qs[] = {0.10, 0.25, 0.5, 0.75, 0.90, 1.0};
    fprintf(f, "<td>%.3f</td>", sum / (double)n);
    for (size_t i = 0; i < MM_ARRAY_SIZE(qs); i++)
        fprintf(f, "<td>%.3f</td>", quantile(s, n, qs[i]));
    fputs("</tr></table>\n", f);
    int64_t bins[BINS] = {0};
    for (size_t i = 0; i < n; i++) {
        int b = (int)(s[i] / SKILL_MAX * BINS);
        bins[b < 0 ? 0 : b >= BINS ? BINS - 1 : b]++;
    }
    const char *labels[BINS] = {0};
    labels[0] = "0";
    labels[BINS / 2] = "1.0";
    labels[BINS - 1] = "&#8805;1.9";
    bar_chart(f, "accuracy", bins, BINS, labels, "#1971c2", 1.0 / SKILL_MAX);
    free(s);
}

static void section_models(FILE *f, const report_t *r) {
    fprintf(f,
            "<h2>Model mix</h2>\n<p>Champion algorithms (%lld champions; %lld versions "
            "registered: %lld approved, %lld rejected, %lld declared fallbacks).</p>\n",
            (long long)r->stats.champions, (long long)r->stats.versions,
            (long long)r->stats.approved, (long long)r->stats.rejected,
            (long long)r->stats.fallback_versions);
    size_t n = r->n_algos + (r->algos[REPORT_ALGORITHMS].n > 0 ? 1 : 0);
    int64_t counts[REPORT_ALGORITHMS + 1];
    const char *labels[REPORT_ALGORITHMS + 1];
    size_t m = 0;
    for (size_t i = 0; i < REPORT_ALGORITHMS + 1 && m < n; i++) {
        if (r->algos[i].n == 0) continue;
        counts[m] = r->algos[i].n;
        labels[m] = r->algos[i].name; /* algorithm names: [a-z0-9_] from the model library */
        m++;
    }
    if (m == 0) {
        fputs("<p>No champions yet.</p>\n", f);
        return;
    }
    bar_chart(f, "models", counts, m, labels, "#5f3dc4", NAN);
}

static void section_training(FILE *f, const report_t *r) {
    fprintf(f, "<h2>Training</h2>\n");
    if (r->n_created == 0) {
        fputs("<p>No versions registered.</p>\n", f);
        return;
    }
    int64_t *t = malloc(r->n_created * sizeof(*t));
    if (!t) return;
    memcpy(t, r->created_ms, r->n_created * sizeof(*t));
    qsort(t, r->n_created, sizeof(*t), cmp_i64);
    int64_t first = t[0], last = t[r->n_created - 1], span = last - first;
    char a[32], b[32];
    mmctl_fmt_time(first, a, sizeof(a));
    mmctl_fmt_time(last, b, sizeof(b));
    fprintf(f,
            "<p>When each version was trained and judged (its registration time): %zu versions "
            "from %s to %s. Fit durations are the trainer's <code>mm_trainer_training_seconds"
            "</code> histogram on <code>/metrics</code>.</p>\n",
            r->n_created, a, b);
    int64_t counts[REPORT_TIME_BUCKETS] = {0};
    for (size_t i = 0; i < r->n_created; i++) {
        int bkt = span > 0 ? (int)((double)(t[i] - first) / (double)span * REPORT_TIME_BUCKETS) : 0;
        counts[bkt >= REPORT_TIME_BUCKETS ? REPORT_TIME_BUCKETS - 1 : bkt]++;
    }
    const char *labels[REPORT_TIME_BUCKETS] = {0};
    char la[16], lb[16];
    snprintf(la, sizeof(la), "%.8s", a + 11);
    snprintf(lb, sizeof(lb), "%.8s", b + 11);
    labels[0] = la;
    labels[REPORT_TIME_BUCKETS - 1] = lb;
    bar_chart(f, "training", counts, REPORT_TIME_BUCKETS, labels, "#0c8599", NAN);
    free(t);
}

static void section_rejected(FILE *f, const report_t *r) {
    fprintf(f,
            "<h2>Rejected keys</h2>\n<p>%lld keys have no champion and their newest "
            "version was rejected by the policy.</p>\n",
            (long long)r->rejected_keys);
    if (r->n_rejected == 0) return;
    fputs("<table><tr><th>key</th><th>version</th><th>failed check</th><th>reason</th></tr>\n", f);
    for (size_t i = 0; i < r->n_rejected; i++) {
        const report_rejected_t *rj = &r->rejected[i];
        fputs("<tr><td>", f);
        esc(f, rj->key);
        fprintf(f, "</td><td>%d</td><td>", rj->version);
        esc(f, rj->failed_check ? rj->failed_check : "-");
        fputs("</td><td>", f);
        esc(f, rj->reason);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
    if (r->rejected_keys > (int64_t)r->n_rejected)
        fprintf(f, "<p>... and %lld more.</p>\n", (long long)(r->rejected_keys - r->n_rejected));
}

/* History (line), forecast (line) and its interval (band) of one key. */
static void drill_chart(FILE *f, const report_drill_t *d) {
    int64_t t0 = INT64_MAX, t1 = INT64_MIN;
    double y0 = INFINITY, y1 = -INFINITY;
    for (size_t i = 0; i < d->n_hist; i++) {
        if (d->hist_t[i] < t0) t0 = d->hist_t[i];
        if (d->hist_t[i] > t1) t1 = d->hist_t[i];
        if (isfinite(d->hist_y[i])) y0 = fmin(y0, d->hist_y[i]), y1 = fmax(y1, d->hist_y[i]);
    }
    for (size_t i = 0; i < d->n_fc; i++) {
        if (d->fc_t[i] < t0) t0 = d->fc_t[i];
        if (d->fc_t[i] > t1) t1 = d->fc_t[i];
        const double v[] = {d->fc_v[i], d->fc_lo[i], d->fc_hi[i]};
        for (int j = 0; j < 3; j++)
            if (isfinite(v[j])) y0 = fmin(y0, v[j]), y1 = fmax(y1, v[j]);
    }
    if (t0 >= t1 || !(y0 <= y1)) {
        fputs("<p class=\"note\">Nothing to draw: no history and no forecast.</p>\n", f);
        return;
    }
    if (y0 == y1) y0 -= 1, y1 += 1;
    double pw = CHART_W - PAD_L - PAD_R, ph = CHART_H - PAD_T - PAD_B;
#define X(t) (PAD_L + pw * (double)((t)-t0) / (double)(t1 - t0))
#define Y(v) (PAD_T + ph * (1.0 - ((v)-y0) / (y1 - y0)))
    fprintf(f,
            "<svg class=\"chart\" data-chart=\"drill\" viewBox=\"0 0 %d %d\" width=\"%d\" "
            "height=\"%d\" role=\"img\">\n",
            CHART_W, CHART_H, CHART_W, CHART_H);
    fprintf(f, "<line x1=\"%d\" y1=\"%g\" x2=\"%d\" y2=\"%g\" class=\"axis\"/>\n", PAD_L,
            PAD_T + ph, CHART_W - PAD_R, PAD_T + ph);
    char a[16], b[16];
    fmt_day(t0, a, sizeof(a));
    fmt_day(t1, b, sizeof(b));
    fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"tick\">%s</text>", PAD_L, CHART_H - 8, a);
    fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"tick\" text-anchor=\"end\">%s</text>\n",
            CHART_W - PAD_R, CHART_H - 8, b);
    fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"tick\" text-anchor=\"end\">%.4g</text>", PAD_L - 4,
            PAD_T + 10, y1);
    fprintf(f, "<text x=\"%d\" y=\"%g\" class=\"tick\" text-anchor=\"end\">%.4g</text>\n",
            PAD_L - 4, PAD_T + ph, y0);
    /* The interval: lower bounds forward, upper bounds back (steps without bounds skipped). */
    size_t with_bounds = 0;
    for (size_t i = 0; i < d->n_fc; i++)
        if (isfinite(d->fc_lo[i]) && isfinite(d->fc_hi[i])) with_bounds++;
    if (with_bounds > 1) {
        fputs("<polygon class=\"band\" points=\"", f);
        for (size_t i = 0; i < d->n_fc; i++)
            if (isfinite(d->fc_lo[i]) && isfinite(d->fc_hi[i]))
                fprintf(f, "%.1f,%.1f ", X(d->fc_t[i]), Y(d->fc_lo[i]));
        for (size_t i = d->n_fc; i-- > 0;)
            if (isfinite(d->fc_lo[i]) && isfinite(d->fc_hi[i]))
                fprintf(f, "%.1f,%.1f ", X(d->fc_t[i]), Y(d->fc_hi[i]));
        fputs("\"/>\n", f);
    }
    if (d->n_hist > 0) {
        fputs("<polyline class=\"history\" points=\"", f);
        for (size_t i = 0; i < d->n_hist; i++)
            if (isfinite(d->hist_y[i])) fprintf(f, "%.1f,%.1f ", X(d->hist_t[i]), Y(d->hist_y[i]));
        fputs("\"/>\n", f);
    }
    if (d->n_fc > 0) {
        fputs("<polyline class=\"forecast\" points=\"", f);
        for (size_t i = 0; i < d->n_fc; i++)
            if (isfinite(d->fc_v[i])) fprintf(f, "%.1f,%.1f ", X(d->fc_t[i]), Y(d->fc_v[i]));
        fputs("\"/>\n", f);
    }
#undef X
#undef Y
    fputs("</svg>\n", f);
}

static void section_drill(FILE *f, const report_t *r) {
    fprintf(f,
            "<h2>Keys in detail</h2>\n<p>The %d champions that trail their baseline most, "
            "then keys spread over the key order. <span class=\"k-h\">&#9472; history</span> "
            "(%s), <span class=\"k-f\">&#9472; forecast</span> and "
            "<span class=\"k-b\">&#9632; interval</span> (the sink's latest run).</p>\n",
            REPORT_WORST,
            r->has_state ? "the scorer's state store: the newest observations it forecast from"
                         : "not shown: pass --state with mm-scorer's state store");
    for (size_t i = 0; i < r->n_drill; i++) {
        const report_drill_t *d = &r->drill[i];
        fputs("<div class=\"drill\"><h3>", f);
        esc(f, d->k->key);
        fprintf(f, " <small>(%s)</small></h3>\n<p>", d->why);
        if (d->k->champion)
            fprintf(f, "champion %s, %s %.4g vs baseline %.4g; ",
                    d->k->algorithm ? d->k->algorithm : "?", r->metric, d->k->value,
                    d->k->baseline);
        else
            fputs("no champion; ", f);
        if (d->status) {
            fputs("latest answer: ", f);
            esc(f, d->status);
            fputs(d->fallback ? " (fallback)" : "", f);
        } else {
            fputs(r->coverage_from_sink ? "not in the sink" : "no sink given", f);
        }
        fputs("</p>\n", f);
        drill_chart(f, d);
        fputs("</div>\n", f);
    }
}

static const char page_style[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:24px auto;max-width:980px;color:#212529}"
    "h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #dee2e6}"
    "h3{font-size:15px;margin:16px 0 4px}table{border-collapse:collapse;margin:8px 0}"
    "td,th{border:1px solid #dee2e6;padding:3px 8px;text-align:left;vertical-align:top}"
    "table.num td{text-align:right}svg.chart{display:block;margin:8px 0;background:#fff}"
    ".axis{stroke:#868e96}.tick{font-size:11px;fill:#495057}"
    ".marker{stroke:#c92a2a;stroke-dasharray:4 3}.band{fill:#a5d8ff;opacity:.6}"
    ".history{fill:none;stroke:#495057;stroke-width:1.5}"
    ".forecast{fill:none;stroke:#1971c2;stroke-width:2}"
    ".k-h{color:#495057}.k-f{color:#1971c2}.k-b{color:#74c0fc}.note,small{color:#868e96}";

int report_write_html(const report_t *r, const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "mmctl: report --html: cannot write %s: %s\n", path, strerror(errno));
        return EXIT_ERROR;
    }
    char when[32];
    mmctl_fmt_time(r->generated_ms, when, sizeof(when));
    fprintf(f,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width\">\n"
            "<title>manymodels report</title>\n<style>%s</style></head>\n<body>\n"
            "<h1>manymodels report</h1>\n<p class=\"note\">Generated %s from the registry",
            page_style, when);
    if (r->sink_shown) {
        fputs(" and the sink ", f);
        esc(f, r->sink_shown);
    }
    fprintf(f, ". %lld keys.</p>\n", (long long)r->stats.keys);
    section_coverage(f, r);
    section_accuracy(f, r);
    section_models(f, r);
    section_training(f, r);
    section_rejected(f, r);
    section_drill(f, r);
    fputs("</body></html>\n", f);
    if (fclose(f) != 0) {
        fprintf(stderr, "mmctl: report --html: writing %s failed: %s\n", path, strerror(errno));
        return EXIT_ERROR;
    }
    return EXIT_OK;
}
