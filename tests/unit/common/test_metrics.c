/*
 * test_metrics.c - the metrics registry (common/src/metrics.c): the exact
 * exposition text, cumulative histogram buckets, the label cardinality cap,
 * name checks and concurrent updates.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "mm/metrics.h"
#include "mm/util.h"

#define DROPPED_HEADER                                                                             \
    "# HELP mm_metrics_series_dropped_total Metric updates dropped because the metric already "    \
    "had its maximum number of label-value sets, or the label values were unusable.\n"             \
    "# TYPE mm_metrics_series_dropped_total counter\n"

static mm_metrics_t *metrics_new(void) {
    mm_metrics_t *metrics = mm_metrics_new();
    cr_assert_not_null(metrics);
    return metrics;
}

static mm_metric_t *must(mm_metric_t *metric, const char *errstr) {
    cr_assert_not_null(metric, "%s", errstr);
    return metric;
}

/* The rendering, NUL-terminated, owned by @p buf. */
static const char *render(mm_metrics_t *metrics, mm_buf_t *buf) {
    mm_buf_init(buf, 0);
    cr_assert_eq(mm_metrics_render(metrics, buf), MM_OK);
    return buf->len ? (const char *)buf->data : "";
}

Test(metrics, renders_counters_and_gauges_in_the_exposition_format) {
    mm_metrics_t *metrics = metrics_new();
    char errstr[256] = "";
    mm_metric_t *rows = must(mm_metrics_counter(metrics, "mm_trainer_rows_consumed_total",
                                                "Rows consumed.", NULL, errstr, sizeof(errstr)),
                             errstr);
    mm_metric_t *decisions =
        must(mm_metrics_counter(metrics, "mm_promoter_decisions_total",
                                "Decisions\\by \"outcome\".\n", "outcome", errstr, sizeof(errstr)),
             errstr);
    mm_metric_t *depth = must(mm_metrics_gauge(metrics, "mm_trainer_queue_depth", "Keys waiting.",
                                               NULL, errstr, sizeof(errstr)),
                              errstr);
    mm_metric_add(rows, NULL, 3);
    mm_metric_add(rows, NULL, 0.5);
    mm_metric_add(decisions, (const char *[]){"approved"}, 2);
    mm_metric_add(decisions, (const char *[]){"odd\"\\\nvalue"}, 1);
    mm_metric_add(decisions, (const char *[]){"approved"}, 1);
    mm_metric_set(depth, NULL, 7);
    mm_metric_add(depth, NULL, -9);
    mm_buf_t buf;
    cr_expect_str_eq(render(metrics, &buf), DROPPED_HEADER
                     "mm_metrics_series_dropped_total 0\n"
                     "# HELP mm_trainer_rows_consumed_total Rows consumed.\n"
                     "# TYPE mm_trainer_rows_consumed_total counter\n"
                     "mm_trainer_rows_consumed_total 3.5\n"
                     "# HELP mm_promoter_decisions_total Decisions\\\\by "
                     "\"outcome\".\\n\n"
                     "# TYPE mm_promoter_decisions_total counter\n"
                     "mm_promoter_decisions_total{outcome=\"approved\"} 3\n"
                     "mm_promoter_decisions_total{outcome=\"odd\\\"\\\\\\nvalue\"} 1\n"
                     "# HELP mm_trainer_queue_depth Keys waiting.\n"
                     "# TYPE mm_trainer_queue_depth gauge\n"
                     "mm_trainer_queue_depth -2\n");
    mm_buf_free(&buf);
    mm_metrics_destroy(metrics);
}

Test(metrics, histogram_buckets_are_cumulative_with_inf_sum_and_count) {
    mm_metrics_t *metrics = metrics_new();
    char errstr[256] = "";
    static const double bounds[] = {0.25, 1, 10};
    mm_metric_t *seconds =
        must(mm_metrics_histogram(metrics, "mm_trainer_training_seconds", "Fit time.", "algo",
                                  bounds, MM_ARRAY_SIZE(bounds), errstr, sizeof(errstr)),
             errstr);
    const char *ets[] = {"ets"};
    mm_metric_observe(seconds, ets, 0.125);
    mm_metric_observe(seconds, ets, 0.25); /* on a bound: counted in that bucket */
    mm_metric_observe(seconds, ets, 2);
    mm_metric_observe(seconds, ets, 100);
    mm_buf_t buf;
    cr_expect_str_eq(render(metrics, &buf), DROPPED_HEADER
                     "mm_metrics_series_dropped_total 0\n"
                     "# HELP mm_trainer_training_seconds Fit time.\n"
                     "# TYPE mm_trainer_training_seconds histogram\n"
                     "mm_trainer_training_seconds_bucket{algo=\"ets\",le=\"0.25\"} 2\n"
                     "mm_trainer_training_seconds_bucket{algo=\"ets\",le=\"1\"} 2\n"
                     "mm_trainer_training_seconds_bucket{algo=\"ets\",le=\"10\"} 3\n"
                     "mm_trainer_training_seconds_bucket{algo=\"ets\",le=\"+Inf\"} 4\n"
                     "mm_trainer_training_seconds_sum{algo=\"ets\"} 102.375\n"
                     "mm_trainer_training_seconds_count{algo=\"ets\"} 4\n");
    mm_buf_free(&buf);
    mm_metrics_destroy(metrics);
}

Test(metrics, unlabelled_histogram_renders_le_as_its_only_label) {
    mm_metrics_t *metrics = metrics_new();
    char errstr[256] = "";
    static const double bounds[] = {1};
    mm_metric_t *h = must(
        mm_metrics_histogram(metrics, "mm_x_seconds", "x", NULL, bounds, 1, errstr, sizeof(errstr)),
        errstr);
    mm_metric_observe(h, NULL, 3);
    mm_buf_t buf;
    const char *text = render(metrics, &buf);
    cr_expect(strstr(text, "mm_x_seconds_bucket{le=\"1\"} 0\n"
                           "mm_x_seconds_bucket{le=\"+Inf\"} 1\n"
                           "mm_x_seconds_sum 3\n"
                           "mm_x_seconds_count 1\n"),
              "%s", text);
    mm_buf_free(&buf);
    mm_metrics_destroy(metrics);
}

Test(metrics, label_values_beyond_the_cap_are_dropped_and_counted) {
    mm_metrics_t *metrics = metrics_new();
    char errstr[256] = "";
    mm_metric_t *c = must(
        mm_metrics_counter(metrics, "mm_x_keys_total", "x", "key", errstr, sizeof(errstr)), errstr);
    const int extra = 5;
    for (int i = 0; i < MM_METRICS_MAX_SERIES + extra; i++) {
        char key[32];
        snprintf(key, sizeof(key), "k%d", i);
        mm_metric_add(c, (const char *[]){key}, 1);
    }
    mm_metric_add(c, (const char *[]){"k0"}, 1); /* an existing set still counts */
    mm_metric_add(c, NULL, 1);                   /* no values for a labelled metric */
    mm_buf_t buf;
    const char *text = render(metrics, &buf);
    char expected[64];
    snprintf(expected, sizeof(expected), "mm_metrics_series_dropped_total %d\n", extra + 1);
    cr_expect(strstr(text, expected), "%s", text);
    cr_expect(strstr(text, "mm_x_keys_total{key=\"k0\"} 2\n"), "%s", text);
    char last_kept[64], first_dropped[64];
    snprintf(last_kept, sizeof(last_kept), "{key=\"k%d\"} 1\n", MM_METRICS_MAX_SERIES - 1);
    snprintf(first_dropped, sizeof(first_dropped), "{key=\"k%d\"}", MM_METRICS_MAX_SERIES);
    cr_expect(strstr(text, last_kept), "%s", text);
    cr_expect_null(strstr(text, first_dropped), "%s", text);
    mm_buf_free(&buf);
    mm_metrics_destroy(metrics);
}

Test(metrics, refuses_bad_names_duplicates_and_bad_buckets) {
    mm_metrics_t *metrics = metrics_new();
    char errstr[256] = "";
    cr_expect_null(mm_metrics_counter(metrics, "mm_x_rows", "a counter without _total", NULL,
                                      errstr, sizeof(errstr)));
    cr_expect(strstr(errstr, "_total"), "%s", errstr);
    cr_expect_null(mm_metrics_gauge(metrics, "9lives", "x", NULL, errstr, sizeof(errstr)));
    cr_expect_null(mm_metrics_gauge(metrics, "mm-x", "x", NULL, errstr, sizeof(errstr)));
    cr_expect_null(mm_metrics_gauge(metrics, "mm_x", "x", "a,a", errstr, sizeof(errstr)));
    cr_expect_null(mm_metrics_gauge(metrics, "mm_x", "x", "__a", errstr, sizeof(errstr)));
    cr_expect_null(mm_metrics_gauge(metrics, "mm_x", "x", "a,b,c,d,e", errstr, sizeof(errstr)));
    static const double le_bounds[] = {1};
    cr_expect_null(
        mm_metrics_histogram(metrics, "mm_h", "x", "le", le_bounds, 1, errstr, sizeof(errstr)));
    static const double unordered[] = {1, 1};
    cr_expect_null(
        mm_metrics_histogram(metrics, "mm_h", "x", NULL, unordered, 2, errstr, sizeof(errstr)));
    cr_expect_not_null(mm_metrics_gauge(metrics, "mm_x", "x", "a,b", errstr, sizeof(errstr)));
    cr_expect_null(mm_metrics_gauge(metrics, "mm_x", "again", NULL, errstr, sizeof(errstr)));
    cr_expect(strstr(errstr, "already"), "%s", errstr);
    mm_metrics_destroy(metrics);
}

Test(metrics, updates_of_the_wrong_kind_and_null_metrics_are_ignored) {
    mm_metrics_t *metrics = metrics_new();
    char errstr[256] = "";
    mm_metric_t *c =
        must(mm_metrics_counter(metrics, "mm_x_total", "x", NULL, errstr, sizeof(errstr)), errstr);
    mm_metric_add(c, NULL, -1);    /* a counter never goes down */
    mm_metric_set(c, NULL, 5);     /* nor is set */
    mm_metric_observe(c, NULL, 5); /* nor observes */
    mm_metric_add(NULL, NULL, 1);  /* metrics off */
    mm_buf_t buf;
    const char *text = render(metrics, &buf);
    cr_expect(strstr(text, "\nmm_x_total 0\n"), "%s", text);
    mm_buf_free(&buf);
    mm_metrics_destroy(metrics);
}

#define THREADS         4
#define ADDS_PER_THREAD 100000
typedef struct adder_arg {
    mm_metric_t *counter;
    mm_metric_t *histogram;
} adder_arg_t;

static void *adder(void *p) {
    adder_arg_t *arg = p;
    const char *labels[] = {"approved"};
    for (int i = 0; i < ADDS_PER_THREAD; i++) {
        mm_metric_add(arg->counter, labels, 1);
        mm_metric_observe(arg->histogram, NULL, 1);
    }
    return NULL;
}

Test(metrics, concurrent_updates_from_threads_add_up) {
    mm_metrics_t *metrics = metrics_new();
    char errstr[256] = "";
    static const double bounds[] = {0.5, 2};
    adder_arg_t arg = {.counter = must(mm_metrics_counter(metrics, "mm_x_total", "x", "outcome",
                                                          errstr, sizeof(errstr)),
                                       errstr),
                       .histogram = must(mm_metrics_histogram(metrics, "mm_x_seconds", "x", NULL,
                                                              bounds, 2, errstr, sizeof(errstr)),
                                         errstr)};
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_create(&threads[i], NULL, adder, &arg), 0);
    for (int i = 0; i < THREADS; i++) pthread_join(threads[i], NULL);
    mm_buf_t buf;
    const char *text = render(metrics, &buf);
    char expected[128];
    snprintf(expected, sizeof(expected), "mm_x_total{outcome=\"approved\"} %d\n",
             THREADS * ADDS_PER_THREAD);
    cr_expect(strstr(text, expected), "%s", text);
    snprintf(expected, sizeof(expected), "mm_x_seconds_bucket{le=\"2\"} %d\n",
             THREADS * ADDS_PER_THREAD);
    cr_expect(strstr(text, expected), "%s", text);
    snprintf(expected, sizeof(expected), "mm_x_seconds_count %d\n", THREADS * ADDS_PER_THREAD);
    cr_expect(strstr(text, expected), "%s", text);
    mm_buf_free(&buf);
    mm_metrics_destroy(metrics);
}
