/*
 * test_report_html.c - `mmctl report --html` end to end: the pipeline trains,
 * decides and scores a few keys over the dev broker, mmctl writes the page
 * from the registry, the sink and the scorer's state store, and headless
 * Chromium (Debian's `chromium`) renders it: no console errors, every chart
 * drawn with a size, and a screenshot kept in the build dir
 * (tests/artifacts/report.png) for a person to look at.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "pipeline.h"
#include "support.h"

#define ARTIFACTS_DIR MM_BINARY_DIR "/tests/artifacts"

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n + 1);
    if (text && fread(text, 1, (size_t)n, f) != (size_t)n) {
        free(text);
        text = NULL;
    }
    if (text) text[n] = 0;
    fclose(f);
    return text;
}

static int count_of(const char *text, const char *needle) {
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

static char *find_chromium(void) {
    static const char *const candidates[] = {"/usr/bin/chromium", "/usr/bin/chromium-browser"};
    for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++)
        if (access(candidates[i], X_OK) == 0) return strdup(candidates[i]);
    return NULL;
}

/* Run headless Chromium on @p url with @p action ("--dump-dom" or "--screenshot=..."): stdout
 * (the DOM) and stderr (console messages, --enable-logging=stderr) both into @p log. */
static int chromium(const char *bin, const char *profile, const char *action, const char *url,
                    const char *log) {
    char user_data[4200];
    snprintf(user_data, sizeof(user_data), "--user-data-dir=%s", profile);
    char *argv[] = {(char *)bin,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--enable-logging=stderr",
                    "--v=0",
                    "--window-size=1100,3600",
                    user_data,
                    (char *)action,
                    (char *)url,
                    NULL};
    pid_t pid = mmt_spawn(argv, NULL, log);
    cr_assert_gt(pid, 0);
    int st = mmt_wait(pid, mmt_timeout_ms(120000));
    if (st < 0) mmt_stop(pid, 5000);
    return st;
}

/* Appended to a copy of the page: counts the charts that laid out with a size, and logs a
 * line to the console, which proves console output reaches the log we read. */
static const char check_script[] =
    "<script>(function(){var c=document.querySelectorAll('svg.chart'),d=0;"
    "for(var i=0;i<c.length;i++){var b=c[i].getBoundingClientRect();"
    "if(b.width>0&&b.height>0&&c[i].childElementCount>0)d++;}"
    "document.body.setAttribute('data-mmt-check','charts='+c.length+';drawn='+d);"
    "console.log('mmt-check-ran');})();</script>\n";

Test(report_html, the_page_renders_in_headless_chromium_with_every_chart, .timeout = 900) {
    char *browser = find_chromium();
    cr_assert_not_null(browser, "no chromium: run scripts/deps.sh (Debian package chromium)");

    mmt_pipeline_t p;
    mmt_pipeline_init(&p, "report", 2, 7);
    mmt_pipeline_generate(&p, 2, 3, 120, 5);
    mmt_pipeline_start_trainer(&p);
    mmt_pipeline_start_promoter(&p);
    const char *files[] = {p.csv_path, NULL};
    cr_assert_eq(mmt_pipeline_ingest(&p, files, NULL), 0);
    cr_assert(mmt_pipeline_wait_decisions(&p, 6, 300000), "not every key got a decision");
    cr_assert_eq(mmt_pipeline_score(&p), 0, "mm-scorer failed");

    char registry[4096], sink[4096], state[4096], html[4096], out[4096];
    snprintf(registry, sizeof(registry), "%s/registry.db", p.dir);
    snprintf(sink, sizeof(sink), "sqlite://%s/predictions.db", p.dir);
    snprintf(state, sizeof(state), "%s/scorer.db", p.dir);
    snprintf(html, sizeof(html), "%s/report.html", p.dir);
    snprintf(out, sizeof(out), "%s/mmctl.log", p.dir);
    char *mmctl = mmt_binary("mmctl");
    cr_assert_not_null(mmctl);
    char *argv[] = {mmctl,    "report", "--html",  html,  "--registry", registry,
                    "--sink", sink,     "--state", state, NULL};
    cr_assert_eq(mmt_wait(mmt_spawn(argv, NULL, out), mmt_timeout_ms(60000)), 0,
                 "mmctl report --html failed (see %s)", out);

    char *page = slurp(html);
    cr_assert_not_null(page);
    /* Self-contained: nothing to fetch. */
    cr_expect_eq(count_of(page, "http://") + count_of(page, "https://"), 0);
    cr_expect_eq(count_of(page, "src=") + count_of(page, "url("), 0);
    /* Every section, and a drill-down chart per chosen key (6 keys: all are drilled). */
    const char *const charts[] = {"coverage", "accuracy", "models", "training"};
    for (size_t i = 0; i < sizeof(charts) / sizeof(charts[0]); i++) {
        char needle[64];
        snprintf(needle, sizeof(needle), "data-chart=\"%s\"", charts[i]);
        cr_expect_eq(count_of(page, needle), 1, "chart %s", charts[i]);
    }
    cr_expect_eq(count_of(page, "data-chart=\"drill\""), 6);
    cr_expect_eq(count_of(page, "class=\"history\""), 6, "history from the state store");
    cr_expect_eq(count_of(page, "class=\"forecast\""), 6, "forecasts from the sink");
    cr_expect(strstr(page, "6 keys in the sink's latest run") != NULL);

    /* Render a copy with the check script, then the page itself for the screenshot. */
    char checked[4200], url[4300], dom[4200], log[4200], profile[4200];
    snprintf(checked, sizeof(checked), "%s/checked.html", p.dir);
    char *end = strstr(page, "</body>");
    cr_assert_not_null(end);
    FILE *f = fopen(checked, "w");
    cr_assert_not_null(f);
    fprintf(f, "%.*s%s%s", (int)(end - page), page, check_script, end);
    fclose(f);
    snprintf(profile, sizeof(profile), "%s/chromium-profile", p.dir);
    snprintf(url, sizeof(url), "file://%s", checked);
    snprintf(dom, sizeof(dom), "%s/dom.html", p.dir);
    cr_assert_eq(chromium(browser, profile, "--dump-dom", url, dom), 0, "chromium failed: %s", dom);
    char *rendered = slurp(dom);
    cr_assert_not_null(rendered);
    int n_charts = count_of(page, "class=\"chart\"");
    cr_expect_eq(n_charts, 4 + 6);
    char want[64];
    snprintf(want, sizeof(want), "data-mmt-check=\"charts=%d;drawn=%d\"", n_charts, n_charts);
    cr_expect(strstr(rendered, want) != NULL, "every chart laid out with a size (%s)", want);
    /* The console line, quoted by Chromium's log (the script's own text has single quotes). */
    cr_expect(strstr(rendered, "\"mmt-check-ran\"") != NULL, "console output reached the log");
    cr_expect_eq(count_of(rendered, "Uncaught") + count_of(rendered, ":ERROR:CONSOLE"), 0,
                 "console errors (see %s)", dom);

    mkdir(MM_BINARY_DIR "/tests", 0755);
    mkdir(ARTIFACTS_DIR, 0755);
    char shot[4300];
    snprintf(shot, sizeof(shot), "--screenshot=%s/report.png", ARTIFACTS_DIR);
    snprintf(url, sizeof(url), "file://%s", html);
    snprintf(log, sizeof(log), "%s/screenshot.log", p.dir);
    unlink(ARTIFACTS_DIR "/report.png");
    cr_assert_eq(chromium(browser, profile, shot, url, log), 0, "chromium failed: %s", log);
    struct stat st;
    cr_expect(stat(ARTIFACTS_DIR "/report.png", &st) == 0 && st.st_size > 10000,
              "a screenshot in " ARTIFACTS_DIR);
    /* Keep the page beside it. */
    char keep[4300];
    snprintf(keep, sizeof(keep), "%s/report.html", ARTIFACTS_DIR);
    f = fopen(keep, "w");
    if (f) {
        fputs(page, f);
        fclose(f);
    }

    free(rendered);
    free(page);
    free(mmctl);
    free(browser);
    mmt_pipeline_stop(&p);
}
