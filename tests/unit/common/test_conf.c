/*
 * test_conf.c - unit tests of common/src/conf.c: precedence of defaults,
 * environment and flags, librdkafka pass-through, validation messages,
 * help/dump/markdown output and redaction of secrets.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <jansson.h>

#include "mm/conf.h"

extern char **environ;

typedef struct test_cfg {
    char *bootstrap_servers;
    int64_t workers;
    double ratio;
    bool verbose;
    char *sasl_password;
    char *group;
} test_cfg_t;

static const mm_conf_prop_t test_props[] = {
    {"bootstrap-servers", MM_CONF_STR, "localhost:9092", 0, -1, "MM_TEST_BOOTSTRAP_SERVERS",
     "Kafka bootstrap servers", 0, offsetof(test_cfg_t, bootstrap_servers)},
    {"workers", MM_CONF_INT, "4", 1, 64, "MM_TEST_WORKERS", "training threads", 0,
     offsetof(test_cfg_t, workers)},
    {"ratio", MM_CONF_DBL, "0.5", 0, 1, "MM_TEST_RATIO", "holdout ratio | share", 0,
     offsetof(test_cfg_t, ratio)},
    {"verbose", MM_CONF_BOOL, "false", 0, -1, "MM_TEST_VERBOSE", "log more", 0,
     offsetof(test_cfg_t, verbose)},
    {"sasl-password", MM_CONF_STR, NULL, 0, -1, "MM_TEST_SASL_PASSWORD", "SASL password",
     MM_CONF_F_SECRET, offsetof(test_cfg_t, sasl_password)},
    {"group", MM_CONF_STR, "trainers", 0, -1, "MM_TEST_GROUP", "consumer group", 0,
     offsetof(test_cfg_t, group)},
};

static const mm_conf_schema_t test_schema = {
    .program = "mm-test",
    .summary = "exercises the configuration table",
    .usage_args = "[FILE...]",
    .props = test_props,
    .n_props = sizeof(test_props) / sizeof(test_props[0]),
};

/* Same layout, but the group has no default and must be given. */
static const mm_conf_prop_t required_props[] = {
    {"group", MM_CONF_STR, NULL, 0, -1, "MM_TEST_GROUP", "consumer group", MM_CONF_F_REQUIRED,
     offsetof(test_cfg_t, group)},
};

static const mm_conf_schema_t required_schema = {
    .program = "mm-test",
    .summary = "required property",
    .props = required_props,
    .n_props = 1,
};

#define ARGV(...) ((char *[]){"mm-test", __VA_ARGS__, NULL})

static test_cfg_t cfg;
static mm_kv_list_t kafka;
static char errstr[512];
static char **positional;
static size_t n_positional;
static mm_conf_action_t action;

/* Remove every variable the tests read, so the outer environment cannot leak in. */
static void clear_test_env(void) {
    for (;;) {
        char name[256] = "";
        for (char **e = environ; e && *e; e++) {
            if (strncmp(*e, "MM_KAFKA_", 9) == 0 || strncmp(*e, "MM_TEST_", 8) == 0) {
                const char *eq = strchr(*e, '=');
                size_t len = eq ? (size_t)(eq - *e) : strlen(*e);
                if (len >= sizeof(name)) len = sizeof(name) - 1;
                memcpy(name, *e, len);
                name[len] = 0;
                break;
            }
        }
        if (!name[0]) return;
        unsetenv(name);
    }
}

static void setup(void) {
    clear_test_env();
    memset(&cfg, 0, sizeof(cfg));
    memset(&kafka, 0, sizeof(kafka));
    errstr[0] = 0;
    positional = NULL;
    n_positional = 0;
    action = MM_CONF_RUN;
}

static void teardown(void) {
    mm_conf_free(&test_schema, &cfg);
    mm_kv_list_free(&kafka);
    free(positional);
    clear_test_env();
}

TestSuite(conf, .init = setup, .fini = teardown);

/* For tests that read what mm_conf_parse printed to stdout. */
static void setup_capture_stdout(void) {
    setup();
    cr_redirect_stdout();
}

static mm_err_t parse(const mm_conf_schema_t *schema, int argc, char **argv) {
    return mm_conf_parse(schema, &cfg, argc, argv, &kafka, &positional, &n_positional, &action,
                         errstr, sizeof(errstr));
}

/* mm_conf_dump into a memory stream; @returns malloc'd text. */
static char *capture_dump(const test_cfg_t *c, const mm_kv_list_t *kv) {
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    cr_assert_not_null(out);
    mm_conf_dump(&test_schema, c, kv, out);
    fclose(out);
    return text;
}

Test(conf, defaults_apply_when_no_env_or_flags) {
    char **argv = ARGV(NULL);
    cr_assert_eq(parse(&test_schema, 1, argv), MM_OK, "%s", errstr);
    cr_assert_eq(action, MM_CONF_RUN);
    cr_assert_str_eq(cfg.bootstrap_servers, "localhost:9092");
    cr_assert_eq(cfg.workers, 4);
    cr_assert_float_eq(cfg.ratio, 0.5, 1e-12);
    cr_assert_not(cfg.verbose);
    cr_assert_null(cfg.sasl_password);
    cr_assert_eq(kafka.n, 0);
    cr_assert_eq(n_positional, 0);
    cr_assert_null(positional);
}

Test(conf, defaults_only_ignores_environment) {
    setenv("MM_TEST_WORKERS", "9", 1);
    cr_assert_eq(mm_conf_defaults(&test_schema, &cfg, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(cfg.workers, 4);
    cr_assert_str_eq(cfg.group, "trainers");
}

Test(conf, env_overrides_default) {
    setenv("MM_TEST_WORKERS", "8", 1);
    setenv("MM_TEST_BOOTSTRAP_SERVERS", "broker:9093", 1);
    setenv("MM_TEST_RATIO", "0.25", 1);
    setenv("MM_TEST_VERBOSE", "yes", 1);
    char **argv = ARGV(NULL);
    cr_assert_eq(parse(&test_schema, 1, argv), MM_OK, "%s", errstr);
    cr_assert_eq(cfg.workers, 8);
    cr_assert_str_eq(cfg.bootstrap_servers, "broker:9093");
    cr_assert_float_eq(cfg.ratio, 0.25, 1e-12);
    cr_assert(cfg.verbose);
}

Test(conf, empty_env_var_counts_as_unset) {
    setenv("MM_TEST_WORKERS", "", 1);
    char **argv = ARGV(NULL);
    cr_assert_eq(parse(&test_schema, 1, argv), MM_OK, "%s", errstr);
    cr_assert_eq(cfg.workers, 4);
}

Test(conf, flag_overrides_env_in_both_spellings) {
    setenv("MM_TEST_WORKERS", "8", 1);
    setenv("MM_TEST_BOOTSTRAP_SERVERS", "env:1", 1);
    char **argv = ARGV("--workers", "16", "--bootstrap-servers=flag:2");
    cr_assert_eq(parse(&test_schema, 4, argv), MM_OK, "%s", errstr);
    cr_assert_eq(cfg.workers, 16);
    cr_assert_str_eq(cfg.bootstrap_servers, "flag:2");
}

Test(conf, last_repeated_flag_wins) {
    char **argv = ARGV("--workers=2", "--workers", "3");
    cr_assert_eq(parse(&test_schema, 4, argv), MM_OK, "%s", errstr);
    cr_assert_eq(cfg.workers, 3);
}

Test(conf, kafka_x_flags_pass_through_in_order) {
    char **argv = ARGV("-X", "acks=all", "-Xcompression.type=zstd", "-X", "linger.ms=5");
    cr_assert_eq(parse(&test_schema, 6, argv), MM_OK, "%s", errstr);
    cr_assert_eq(kafka.n, 3);
    cr_assert_str_eq(kafka.items[0].key, "acks");
    cr_assert_str_eq(kafka.items[0].value, "all");
    cr_assert_str_eq(kafka.items[1].key, "compression.type");
    cr_assert_str_eq(kafka.items[1].value, "zstd");
    cr_assert_str_eq(kafka.items[2].key, "linger.ms");
    cr_assert_str_eq(kafka.items[2].value, "5");
}

Test(conf, kafka_env_maps_to_dotted_lowercase_key_and_flag_wins) {
    setenv("MM_KAFKA_SESSION_TIMEOUT_MS", "6000", 1);
    setenv("MM_KAFKA_AUTO_OFFSET_RESET", "error", 1);
    char **argv = ARGV("-X", "session.timeout.ms=7000");
    cr_assert_eq(parse(&test_schema, 3, argv), MM_OK, "%s", errstr);
    cr_assert_eq(kafka.n, 2);
    cr_assert_str_eq(mm_kv_list_get(&kafka, "session.timeout.ms"), "7000");
    cr_assert_str_eq(mm_kv_list_get(&kafka, "auto.offset.reset"), "error");
}

Test(conf, kafka_env_claimed_by_the_table_is_not_passed_through) {
    static const mm_conf_prop_t props[] = {
        {"bootstrap-servers", MM_CONF_STR, NULL, 0, -1, "MM_KAFKA_BOOTSTRAP", "servers", 0,
         offsetof(test_cfg_t, bootstrap_servers)},
    };
    static const mm_conf_schema_t schema = {.program = "mm-test", .props = props, .n_props = 1};
    setenv("MM_KAFKA_BOOTSTRAP", "b:1", 1);
    char **argv = ARGV(NULL);
    cr_assert_eq(parse(&schema, 1, argv), MM_OK, "%s", errstr);
    cr_assert_str_eq(cfg.bootstrap_servers, "b:1");
    cr_assert_null(mm_kv_list_get(&kafka, "bootstrap"));
}

Test(conf, x_without_equals_is_an_error) {
    char **argv = ARGV("-X", "acks");
    cr_assert_eq(parse(&test_schema, 3, argv), MM_ERR_CONFIG);
    cr_assert_str_eq(errstr, "-X: 'acks' is not key=value");
}

Test(conf, range_error_names_the_flag) {
    char **argv = ARGV("--workers", "0");
    cr_assert_eq(parse(&test_schema, 3, argv), MM_ERR_CONFIG);
    cr_assert_str_eq(errstr, "--workers: 0 is below the minimum 1");
    cr_assert_null(cfg.bootstrap_servers, "strings are freed on failure");
}

Test(conf, range_is_inclusive_and_above_maximum_is_an_error) {
    char **ok = ARGV("--workers=64", "--ratio=1");
    cr_assert_eq(parse(&test_schema, 3, ok), MM_OK, "%s", errstr);
    cr_assert_eq(cfg.workers, 64);
    mm_conf_free(&test_schema, &cfg);

    char **bad = ARGV("--ratio=1.5");
    cr_assert_eq(parse(&test_schema, 2, bad), MM_ERR_CONFIG);
    cr_assert_str_eq(errstr, "--ratio: 1.5 is above the maximum 1");
}

Test(conf, type_error_names_the_env_var) {
    setenv("MM_TEST_WORKERS", "abc", 1);
    char **argv = ARGV(NULL);
    cr_assert_eq(parse(&test_schema, 1, argv), MM_ERR_CONFIG);
    cr_assert_str_eq(errstr, "MM_TEST_WORKERS: 'abc' is not an integer");
}

Test(conf, env_range_error_names_the_env_var) {
    setenv("MM_TEST_WORKERS", "65", 1);
    char **argv = ARGV(NULL);
    cr_assert_eq(parse(&test_schema, 1, argv), MM_ERR_CONFIG);
    cr_assert_str_eq(errstr, "MM_TEST_WORKERS: 65 is above the maximum 64");
}

Test(conf, integer_with_trailing_text_or_overflow_is_rejected) {
    char **trailing = ARGV("--workers", "4x");
    cr_assert_eq(parse(&test_schema, 3, trailing), MM_ERR_CONFIG);
    cr_assert_str_eq(errstr, "--workers: '4x' is not an integer");

    char **overflow = ARGV("--workers", "99999999999999999999");
    cr_assert_eq(parse(&test_schema, 3, overflow), MM_ERR_CONFIG);
    cr_assert(strstr(errstr, "is not an integer"), "%s", errstr);
}

Test(conf, bad_double_and_bool_are_rejected) {
    char **dbl = ARGV("--ratio=half");
    cr_assert_eq(parse(&test_schema, 2, dbl), MM_ERR_CONFIG);
    cr_assert(strstr(errstr, "--ratio: 'half' is not a"), "%s", errstr);

    setenv("MM_TEST_VERBOSE", "maybe", 1);
    char **none = ARGV(NULL);
    cr_assert_eq(parse(&test_schema, 1, none), MM_ERR_CONFIG);
    cr_assert(strstr(errstr, "MM_TEST_VERBOSE: 'maybe' is not a boolean"), "%s", errstr);
}

Test(conf, unknown_flag_is_an_error_naming_it) {
    char **argv = ARGV("--wrokers", "3");
    cr_assert_eq(parse(&test_schema, 3, argv), MM_ERR_CONFIG);
    cr_assert(strstr(errstr, "--wrokers"), "%s", errstr);
    cr_assert(strstr(errstr, "unknown flag"), "%s", errstr);

    char **short_flag = ARGV("-q");
    cr_assert_eq(parse(&test_schema, 2, short_flag), MM_ERR_CONFIG);
    cr_assert(strstr(errstr, "-q"), "%s", errstr);
}

Test(conf, missing_value_is_an_error) {
    char **argv = ARGV("--workers");
    cr_assert_eq(parse(&test_schema, 2, argv), MM_ERR_CONFIG);
    cr_assert_str_eq(errstr, "--workers: missing value");
}

Test(conf, bool_flag_bare_no_prefix_and_explicit_value) {
    setenv("MM_TEST_VERBOSE", "true", 1);
    char **off = ARGV("--no-verbose");
    cr_assert_eq(parse(&test_schema, 2, off), MM_OK, "%s", errstr);
    cr_assert_not(cfg.verbose);
    mm_conf_free(&test_schema, &cfg);

    unsetenv("MM_TEST_VERBOSE");
    char **on = ARGV("--verbose");
    cr_assert_eq(parse(&test_schema, 2, on), MM_OK, "%s", errstr);
    cr_assert(cfg.verbose);
    mm_conf_free(&test_schema, &cfg);

    char **explicit_off = ARGV("--verbose=false");
    cr_assert_eq(parse(&test_schema, 2, explicit_off), MM_OK, "%s", errstr);
    cr_assert_not(cfg.verbose);
    mm_conf_free(&test_schema, &cfg);

    char **spaced_off = ARGV("--verbose", "off");
    cr_assert_eq(parse(&test_schema, 3, spaced_off), MM_OK, "%s", errstr);
    cr_assert_not(cfg.verbose);
    cr_assert_eq(n_positional, 0);
}

Test(conf, bare_bool_does_not_swallow_a_positional_argument) {
    char **argv = ARGV("--verbose", "data.csv");
    cr_assert_eq(parse(&test_schema, 3, argv), MM_OK, "%s", errstr);
    cr_assert(cfg.verbose);
    cr_assert_eq(n_positional, 1);
    cr_assert_str_eq(positional[0], "data.csv");
}

Test(conf, no_prefix_on_a_non_bool_flag_is_unknown) {
    char **argv = ARGV("--no-workers");
    cr_assert_eq(parse(&test_schema, 2, argv), MM_ERR_CONFIG);
    cr_assert(strstr(errstr, "--no-workers: unknown flag"), "%s", errstr);
}

Test(conf, required_missing_is_an_error_naming_flag_and_env) {
    char **argv = ARGV(NULL);
    cr_assert_eq(parse(&required_schema, 1, argv), MM_ERR_CONFIG);
    cr_assert(strstr(errstr, "--group"), "%s", errstr);
    cr_assert(strstr(errstr, "MM_TEST_GROUP"), "%s", errstr);
    cr_assert(strstr(errstr, "required"), "%s", errstr);
}

Test(conf, required_empty_flag_is_still_missing) {
    char **argv = ARGV("--group=");
    cr_assert_eq(parse(&required_schema, 2, argv), MM_ERR_CONFIG);
    cr_assert(strstr(errstr, "required"), "%s", errstr);
}

Test(conf, required_satisfied_by_env) {
    setenv("MM_TEST_GROUP", "g1", 1);
    char **argv = ARGV(NULL);
    cr_assert_eq(parse(&required_schema, 1, argv), MM_OK, "%s", errstr);
    cr_assert_str_eq(cfg.group, "g1");
}

Test(conf, double_dash_ends_options_and_positionals_are_returned) {
    char **argv = ARGV("a.csv", "--workers", "2", "-", "--", "--workers", "-X");
    cr_assert_eq(parse(&test_schema, 8, argv), MM_OK, "%s", errstr);
    cr_assert_eq(cfg.workers, 2);
    cr_assert_eq(n_positional, 4);
    cr_assert_str_eq(positional[0], "a.csv");
    cr_assert_str_eq(positional[1], "-");
    cr_assert_str_eq(positional[2], "--workers");
    cr_assert_str_eq(positional[3], "-X");
    cr_assert_eq(positional[0], argv[1], "positionals point into argv");
}

Test(conf, positional_argument_refused_when_none_accepted) {
    char **argv = ARGV("stray");
    cr_assert_eq(mm_conf_parse(&test_schema, &cfg, 2, argv, &kafka, NULL, NULL, &action, errstr,
                               sizeof(errstr)),
                 MM_ERR_CONFIG);
    cr_assert(strstr(errstr, "stray"), "%s", errstr);
}

Test(conf, free_releases_strings_and_sets_them_null) {
    char **argv = ARGV("--sasl-password", "pw");
    cr_assert_eq(parse(&test_schema, 3, argv), MM_OK, "%s", errstr);
    cr_assert_not_null(cfg.sasl_password);
    mm_conf_free(&test_schema, &cfg);
    cr_assert_null(cfg.sasl_password);
    cr_assert_null(cfg.bootstrap_servers);
    cr_assert_null(cfg.group);
    mm_conf_free(&test_schema, &cfg); /* twice is harmless */
}

Test(conf, dump_redacts_secret_props_and_secret_kafka_keys) {
    setenv("MM_KAFKA_SASL_PASSWORD", "kafka-pw-1", 1);
    char **argv = ARGV("--sasl-password", "table-pw-2", "-X", "ssl.key.password=key-pw-3", "-X",
                       "sasl.oauthbearer.client.secret=oauth-4", "-X", "acks=all");
    cr_assert_eq(parse(&test_schema, 9, argv), MM_OK, "%s", errstr);
    char *text = capture_dump(&cfg, &kafka);

    cr_assert_null(strstr(text, "kafka-pw-1"), "%s", text);
    cr_assert_null(strstr(text, "table-pw-2"), "%s", text);
    cr_assert_null(strstr(text, "key-pw-3"), "%s", text);
    cr_assert_null(strstr(text, "oauth-4"), "%s", text);

    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    cr_assert_not_null(root, "%s: %s", jerr.text, text);
    cr_assert_str_eq(json_string_value(json_object_get(root, "sasl-password")), "***");
    cr_assert_str_eq(json_string_value(json_object_get(root, "bootstrap-servers")),
                     "localhost:9092");
    cr_assert_eq(json_integer_value(json_object_get(root, "workers")), 4);
    cr_assert(json_is_false(json_object_get(root, "verbose")));
    cr_assert_float_eq(json_real_value(json_object_get(root, "ratio")), 0.5, 1e-12);
    json_t *k = json_object_get(root, "kafka");
    cr_assert_str_eq(json_string_value(json_object_get(k, "sasl.password")), "***");
    cr_assert_str_eq(json_string_value(json_object_get(k, "ssl.key.password")), "***");
    cr_assert_str_eq(json_string_value(json_object_get(k, "sasl.oauthbearer.client.secret")),
                     "***");
    cr_assert_str_eq(json_string_value(json_object_get(k, "acks")), "all");
    json_decref(root);
    free(text);
}

Test(conf, dump_shows_unset_secret_as_null) {
    char **argv = ARGV(NULL);
    cr_assert_eq(parse(&test_schema, 1, argv), MM_OK, "%s", errstr);
    char *text = capture_dump(&cfg, &kafka);
    json_t *root = json_loads(text, 0, NULL);
    cr_assert_not_null(root, "%s", text);
    cr_assert(json_is_null(json_object_get(root, "sasl-password")), "%s", text);
    json_decref(root);
    free(text);
}

Test(conf, kafka_secret_keys_are_recognised) {
    cr_assert(mm_conf_kafka_is_secret("sasl.password"));
    cr_assert(mm_conf_kafka_is_secret("ssl.key.password"));
    cr_assert(mm_conf_kafka_is_secret("ssl.keystore.password"));
    cr_assert(mm_conf_kafka_is_secret("sasl.oauthbearer.client.secret"));
    cr_assert(mm_conf_kafka_is_secret("sasl.oauthbearer.config"));
    cr_assert_not(mm_conf_kafka_is_secret("bootstrap.servers"));
    cr_assert_not(mm_conf_kafka_is_secret("sasl.username"));
    cr_assert_not(mm_conf_kafka_is_secret(NULL));
}

Test(conf, kv_list_set_replaces_in_place) {
    cr_assert_eq(mm_kv_list_set(&kafka, "a", "1"), MM_OK);
    cr_assert_eq(mm_kv_list_set(&kafka, "b", "2"), MM_OK);
    cr_assert_eq(mm_kv_list_set(&kafka, "a", "3"), MM_OK);
    cr_assert_eq(kafka.n, 2);
    cr_assert_str_eq(kafka.items[0].key, "a");
    cr_assert_str_eq(kafka.items[0].value, "3");
    cr_assert_null(mm_kv_list_get(&kafka, "c"));
    cr_assert_eq(mm_kv_list_set(&kafka, "", "x"), MM_ERR_INVALID_ARG);
}

Test(conf, dump_config_flag_prints_json_and_exits_ok, .init = setup_capture_stdout) {
    char **argv = ARGV("--dump-config", "--workers", "7");
    cr_assert_eq(parse(&test_schema, 4, argv), MM_OK, "%s", errstr);
    cr_assert_eq(action, MM_CONF_EXIT_OK);
    fflush(stdout);
    FILE *out = cr_get_redirected_stdout();
    char buf[4096];
    size_t n = fread(buf, 1, sizeof(buf) - 1, out);
    buf[n] = 0;
    json_t *root = json_loads(buf, 0, NULL);
    cr_assert_not_null(root, "%s", buf);
    cr_assert_eq(json_integer_value(json_object_get(root, "workers")), 7);
    json_decref(root);
}

Test(conf, help_flag_prints_flags_and_exits_ok_even_with_bad_env, .init = setup_capture_stdout) {
    setenv("MM_TEST_WORKERS", "abc", 1);
    char **argv = ARGV("--workers", "2", "-h");
    cr_assert_eq(parse(&test_schema, 4, argv), MM_OK, "%s", errstr);
    cr_assert_eq(action, MM_CONF_EXIT_OK);
    fflush(stdout);
    FILE *out = cr_get_redirected_stdout();
    char buf[8192];
    size_t n = fread(buf, 1, sizeof(buf) - 1, out);
    buf[n] = 0;
    cr_assert(strstr(buf, "Usage: mm-test [OPTIONS] [FILE...]"), "%s", buf);
    cr_assert(strstr(buf, "--workers INT"), "%s", buf);
    cr_assert(strstr(buf, "--[no-]verbose"), "%s", buf);
    cr_assert(strstr(buf, "default: 4, range: [1, 64], env: MM_TEST_WORKERS"), "%s", buf);
    cr_assert(strstr(buf, "training threads"), "%s", buf);
    cr_assert(strstr(buf, "-X KEY=VALUE"), "%s", buf);
}

Test(conf, help_markdown_lists_every_flag_and_env_var) {
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    cr_assert_not_null(out);
    mm_conf_markdown(&test_schema, out);
    fclose(out);
    cr_assert(strstr(text, "| Flag | Type | Default | Range | Env | Description |"), "%s", text);
    for (size_t i = 0; i < test_schema.n_props; i++) {
        char flag[128];
        snprintf(flag, sizeof(flag), "`--%s`", test_props[i].name);
        cr_assert(strstr(text, flag), "missing %s in %s", flag, text);
        cr_assert(strstr(text, test_props[i].env), "missing %s in %s", test_props[i].env, text);
    }
    cr_assert(strstr(text, "| `--workers` | int | `4` | [1, 64] | `MM_TEST_WORKERS` |"), "%s",
              text);
    cr_assert(strstr(text, "holdout ratio \\| share"), "pipe is escaped: %s", text);
    free(text);
}
