/*
 * test_redact.c - the redaction of secrets (common/src/redact.c) and its
 * users: log lines (log.c), --dump-config and the registration of a
 * configuration's secrets (conf.c), dead-letter reasons (service.c),
 * /metrics label values (metrics.c) and HTTP transport errors (http.c).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "mm/avro.h"
#include "mm/conf.h"
#include "mm/http.h"
#include "mm/log.h"
#include "mm/metrics.h"
#include "mm/records.h"
#include "mm/redact.h"
#include "mm/service.h"

static void reset(void) {
    mm_redact_reset();
}

TestSuite(redact, .init = reset, .fini = reset);

/* mm_redact(text), checked against @p expected, freed. */
static void expect_redacted(const char *text, const char *expected) {
    char *out = mm_redact(text);
    cr_assert_not_null(out);
    cr_expect_str_eq(out, expected, "redact(%s)", text);
    free(out);
}

Test(redact, sas_signature_in_a_url_query_is_replaced) {
    expect_redacted("GET https://acct.blob.core.windows.net/c/x?sv=2022-11-02&sig=AbC%2Bd%3D&se=1",
                    "GET https://acct.blob.core.windows.net/c/x?sv=2022-11-02&sig=***&se=1");
    expect_redacted("http://h/a/c?sig=abcdef: Couldn't connect", "http://h/a/c?sig=***: Couldn't "
                                                                 "connect");
    expect_redacted("sv=2022&ss=b&sig=secretsig", "sv=2022&ss=b&sig=***");
    expect_redacted("sig=first", "sig=***");
    /* Only a parameter named sig: "xsig=" and "signal=" are ordinary words. */
    expect_redacted("?xsig=keep&signal=keep", "?xsig=keep&signal=keep");
    expect_redacted("a config=sig=1", "a config=sig=1");
}

Test(redact, userinfo_password_in_any_url_is_replaced) {
    expect_redacted("postgresql://app:s3cr3t@db:5432/mm", "postgresql://app:***@db:5432/mm");
    expect_redacted("connect to \"https://u:p%40ss@h/x\" failed",
                    "connect to \"https://u:***@h/x\" failed");
    /* A user without a password, a port, and an @ in the path are not userinfo. */
    expect_redacted("https://user@host/x", "https://user@host/x");
    expect_redacted("http://host:8080/a@b", "http://host:8080/a@b");
}

Test(redact, password_keyword_values_are_replaced) {
    expect_redacted("host=db user=app password=pw123 dbname=mm",
                    "host=db user=app password=*** dbname=mm");
    expect_redacted("host=db password='with space' port=5", "host=db password=*** port=5");
    expect_redacted("postgresql://db/mm?sslmode=require&password=x1y2",
                    "postgresql://db/mm?sslmode=require&password=***");
    expect_redacted("the password= is empty", "the password= is empty");
}

Test(redact, registered_secrets_are_replaced_wherever_they_occur) {
    cr_assert_eq(mm_redact_register("kafka-sasl-pass"), MM_OK);
    cr_assert_eq(mm_redact_register("dG9wLXNlY3JldA=="), MM_OK);
    expect_redacted("auth failed for kafka-sasl-pass twice: kafka-sasl-pass",
                    "auth failed for *** twice: ***");
    expect_redacted("key dG9wLXNlY3JldA== is not valid", "key *** is not valid");
    /* The percent-encoded form, as it appears inside a URL. */
    expect_redacted("x?k=dG9wLXNlY3JldA%3D%3D", "x?k=***");
    expect_redacted("nothing secret here", "nothing secret here");
}

Test(redact, longer_secret_wins_over_one_it_contains) {
    cr_assert_eq(mm_redact_register("abcd"), MM_OK);
    cr_assert_eq(mm_redact_register("abcdefgh"), MM_OK);
    expect_redacted("[abcdefgh] [abcd]", "[***] [***]");
    expect_redacted("abcdefg", "***efg");
}

Test(redact, short_empty_and_repeated_values_change_nothing) {
    cr_assert_eq(mm_redact_register(NULL), MM_OK);
    cr_assert_eq(mm_redact_register(""), MM_OK);
    cr_assert_eq(mm_redact_register("abc"), MM_OK);
    cr_assert_eq(mm_redact_count(), 0);
    cr_assert_eq(mm_redact_register("abcd"), MM_OK);
    cr_assert_eq(mm_redact_register("abcd"), MM_OK);
    cr_assert_eq(mm_redact_count(), 1);
    expect_redacted("abc", "abc");
}

Test(redact, the_number_of_secrets_is_bounded) {
    char value[32];
    for (int i = 0; i < MM_REDACT_MAX_SECRETS; i++) {
        snprintf(value, sizeof(value), "secret-%04d", i);
        cr_assert_eq(mm_redact_register(value), MM_OK);
    }
    cr_expect_eq(mm_redact_register("one-too-many"), MM_ERR_CONFIG);
    expect_redacted("secret-0000 secret-0063", "*** ***");
}

Test(redact, url_registration_finds_sig_password_and_userinfo) {
    cr_assert_eq(mm_redact_register_url("https://a.blob.core.windows.net/c?sv=1&sig=SIGVALUE1"),
                 MM_OK);
    cr_assert_eq(mm_redact_register_url("postgresql://app:PGPASS22@db/mm"), MM_OK);
    cr_assert_eq(mm_redact_register_url("host=db password=CONNPW33"), MM_OK);
    cr_assert_eq(mm_redact_register_url("file:///tmp/blobs"), MM_OK);
    /* Now known on their own, out of any URL shape. */
    expect_redacted("SIGVALUE1 PGPASS22 CONNPW33", "*** *** ***");
}

Test(redact, into_a_buffer_truncates_and_may_work_in_place) {
    cr_assert_eq(mm_redact_register("TOPSECRET"), MM_OK);
    char buf[64] = "error TOPSECRET at ?sig=abc";
    size_t n = mm_redact_into(buf, buf, sizeof(buf));
    cr_expect_str_eq(buf, "error *** at ?sig=***");
    cr_expect_eq(n, strlen(buf));
    char small[8];
    mm_redact_into("TOPSECRET and more", small, sizeof(small));
    cr_expect_str_eq(small, "*** and");
    cr_expect(mm_redact_needed("x TOPSECRET"));
    cr_expect_not(mm_redact_needed("x TOPSECRE"));
}

/* ---- the users ------------------------------------------------------------- */

typedef struct test_conf {
    char *url;
    char *key;
    char *name;
} test_conf_t;

static const mm_conf_prop_t test_props[] = {
    {"url", MM_CONF_STR, NULL, 0, -1, NULL, "a URL", 0, offsetof(test_conf_t, url)},
    {"key", MM_CONF_STR, NULL, 0, -1, NULL, "a key", MM_CONF_F_SECRET, offsetof(test_conf_t, key)},
    {"name", MM_CONF_STR, NULL, 0, -1, NULL, "a name", 0, offsetof(test_conf_t, name)},
};
static const mm_conf_schema_t test_schema = {"mm-test", "test", NULL, test_props, 3};

/* Everything written to @p fn's FILE, as a string (caller frees). */
static char *read_all(FILE *f) {
    fflush(f);
    long size = ftell(f);
    cr_assert(size >= 0);
    rewind(f);
    char *text = calloc(1, (size_t)size + 1);
    cr_assert_not_null(text);
    cr_assert_eq(fread(text, 1, (size_t)size, f), (size_t)size);
    return text;
}

Test(redact, dump_config_hides_the_sas_inside_the_blob_url_and_secret_values) {
    char *argv[] = {"mm-test",
                    "--url",
                    "https://acct.blob.core.windows.net/c?sv=2022&sig=URLSIG%2Fabc",
                    "--key",
                    "KEYVALUE99",
                    "--name",
                    "uses KEYVALUE99 inside",
                    "-X",
                    "sasl.password=KAFKAPW77",
                    "-X",
                    "sasl.username=alice",
                    "--dump-config"};
    test_conf_t cfg = {0};
    mm_kv_list_t kafka = {0};
    mm_conf_action_t action;
    char errstr[256];
    FILE *saved = stdout;
    FILE *tmp = tmpfile();
    cr_assert_not_null(tmp);
    stdout = tmp;
    mm_err_t err = mm_conf_parse(&test_schema, &cfg, 12, argv, &kafka, NULL, NULL, &action, errstr,
                                 sizeof(errstr));
    stdout = saved;
    cr_assert_eq(err, MM_OK, "%s", errstr);
    cr_assert_eq(action, MM_CONF_EXIT_OK);
    char *dump = read_all(tmp);
    fclose(tmp);
    cr_expect_null(strstr(dump, "URLSIG"), "%s", dump);
    cr_expect_null(strstr(dump, "KEYVALUE99"), "%s", dump);
    cr_expect_null(strstr(dump, "KAFKAPW77"), "%s", dump);
    cr_expect_not_null(strstr(dump, "sig=***"), "%s", dump);
    cr_expect_not_null(strstr(dump, "uses *** inside"), "%s", dump);
    cr_expect_not_null(strstr(dump, "alice"), "%s", dump);
    /* Parsing registered them for every later line. */
    expect_redacted("KEYVALUE99 KAFKAPW77 URLSIG%2Fabc", "*** *** ***");
    free(dump);
    mm_conf_free(&test_schema, &cfg);
    mm_kv_list_free(&kafka);
}

/* stderr captured into a temporary file around @p body. */
#define CAPTURE_STDERR(text, body)                                                                 \
    do {                                                                                           \
        FILE *tmp_ = tmpfile();                                                                    \
        cr_assert_not_null(tmp_);                                                                  \
        fflush(stderr);                                                                            \
        int saved_ = dup(STDERR_FILENO);                                                           \
        cr_assert(dup2(fileno(tmp_), STDERR_FILENO) >= 0);                                         \
        body;                                                                                      \
        cr_assert(dup2(saved_, STDERR_FILENO) >= 0);                                               \
        close(saved_);                                                                             \
        fseek(tmp_, 0, SEEK_END);                                                                  \
        (text) = read_all(tmp_);                                                                   \
        fclose(tmp_);                                                                              \
    } while (0)

Test(redact, log_lines_lose_secrets_in_message_and_fields) {
    cr_assert_eq(mm_redact_register("LOGSECRET1"), MM_OK);
    cr_assert_eq(mm_redact_register("quote\"SECRET"), MM_OK);
    mm_log_init("mm-test", MM_LOG_INFO);
    char *text;
    CAPTURE_STDERR(text, {
        mm_log_error("start_failed", "PUT http://h/a/c/x?sv=1&sig=LOGSIG: LOGSECRET1");
        mm_logj(MM_LOG_INFO, "ev",
                json_pack("{s:s, s:s, s:{s:s}}", "url", "https://u:LOGPW@h/x", "q", "quote\"SECRET",
                          "nested", "k", "LOGSECRET1"),
                "fields");
    });
    cr_expect_null(strstr(text, "LOGSIG"), "%s", text);
    cr_expect_null(strstr(text, "LOGSECRET1"), "%s", text);
    cr_expect_null(strstr(text, "LOGPW"), "%s", text);
    cr_expect_null(strstr(text, "SECRET"), "%s", text);
    cr_expect_not_null(strstr(text, "sig=***"), "%s", text);
    cr_expect_not_null(strstr(text, "start_failed"), "%s", text);
    free(text);
}

Test(redact, dead_letter_reason_loses_secrets) {
    cr_assert_eq(mm_redact_register("DLSECRET42"), MM_OK);
    mm_service_dead_letter_source_t source = {
        .topic = "mm.observations", .partition = 1, .offset = 7};
    mm_buf_t out;
    mm_buf_init(&out, 1 << 20);
    char errstr[256];
    cr_assert_eq(mm_service_dead_letter_encode("mm-test", &source, "k1", "raw", 3, MM_ERR_AUTH,
                                               "blob get x?sig=DLSIG: DLSECRET42", &out, errstr,
                                               sizeof(errstr)),
                 MM_OK, "%s", errstr);
    mm_dead_letter_t letter;
    cr_assert_eq(mm_avro_decode_dead_letter(out.data, out.len, &letter, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_expect_str_eq(letter.reason, "blob get x?sig=***: ***");
    mm_dead_letter_clear(&letter);
    mm_buf_free(&out);
}

Test(redact, metrics_label_values_lose_secrets) {
    cr_assert_eq(mm_redact_register("METRICSECRET"), MM_OK);
    mm_metrics_t *metrics = mm_metrics_new();
    cr_assert_not_null(metrics);
    char errstr[256];
    mm_metric_t *m =
        mm_metrics_counter(metrics, "mm_test_total", "test", "what", errstr, sizeof(errstr));
    cr_assert_not_null(m, "%s", errstr);
    const char *values[] = {"a METRICSECRET b"};
    mm_metric_add(m, values, 1);
    mm_buf_t out;
    mm_buf_init(&out, 1 << 20);
    cr_assert_eq(mm_metrics_render(metrics, &out), MM_OK);
    cr_assert_eq(mm_buf_append(&out, "", 1), MM_OK);
    cr_expect_null(strstr((const char *)out.data, "METRICSECRET"), "%s", (char *)out.data);
    cr_expect_not_null(strstr((const char *)out.data, "what=\"a *** b\""), "%s", (char *)out.data);
    mm_buf_free(&out);
    mm_metrics_destroy(metrics);
}

Test(redact, http_transport_error_does_not_quote_the_sas) {
    char errstr[512];
    mm_http_t *http = mm_http_new(errstr, sizeof(errstr));
    cr_assert_not_null(http, "%s", errstr);
    /* Port 1 on loopback: refused at once, no network needed. */
    mm_http_request_t req = {.method = "GET",
                             .url = "http://127.0.0.1:1/acct/c/x?sv=2022&sig=HTTPSIG%3D",
                             .connect_timeout_ms = 2000,
                             .total_timeout_ms = 2000};
    mm_http_response_t resp;
    memset(&resp, 0, sizeof(resp));
    mm_err_t err = mm_http_perform(http, &req, &resp, errstr, sizeof(errstr));
    cr_expect_neq(err, MM_OK);
    cr_expect_null(strstr(errstr, "HTTPSIG"), "%s", errstr);
    cr_expect_not_null(strstr(errstr, "sig=***"), "%s", errstr);
    mm_http_response_clear(&resp);
    mm_http_destroy(http);
}
