/*
 * test_secrets.c - no configured secret in any output of the binaries
 * (tests/faults/README.md, "secrets"): the services run with known secrets
 * (a SAS token given with --blob-sas and inside --blob-url, an account key,
 * Kafka sasl.password and ssl.key.password by flag and by environment) in
 * the situations that used to print them - an unreachable blob host, a
 * --dump-config, a bad Kafka SASL configuration - and everything they wrote
 * to stdout and stderr is searched for each secret.
 *
 * Each secret holds a canary that appears in no other text; a secret is
 * looked for by its canary, so a percent-encoded or decoded copy is found
 * as well as the value as given.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "broker.h"
#include "mm/util.h"
#include "support.h"

/* The SAS's signature; "Q2FuYXJ5U0FTc2ln" is its canary. */
#define SAS_TOKEN                                                                                  \
    "sv=2022-11-02&ss=b&srt=sco&sp=rwdlac&se=2030-01-01T00%3A00%3A00Z&spr=https,http&sig="         \
    "Q2FuYXJ5U0FTc2ln%2BdGVzdA%3D%3D"
/* A signature that comes only inside the blob URL. */
#define URL_SAS            "sv=2022-11-02&sp=rwdlac&sig=VVJMY2FuYXJ5c2ln%2Fx%3D"
#define BLOB_KEY           "Y2FuYXJ5LWJsb2Ita2V5LWZvci10ZXN0cw=="
#define SASL_PASSWORD      "canary-sasl-pass-5150"
#define SSL_KEY_PASSWORD   "canary-ssl-key-pass-8080"
#define UNREACHABLE_BLOB   "http://127.0.0.1:1/acct/models"
#define UNREACHABLE_BROKER "127.0.0.1:1"

static const char *const canaries[] = {"Q2FuYXJ5U0FTc2ln", "VVJMY2FuYXJ5c2ln",
                                       "Y2FuYXJ5LWJsb2Ita2V5", "canary-sasl-pass",
                                       "canary-ssl-key-pass"};

static char *g_dir;
static char *g_spec;

static void setup(void) {
    g_dir = mmt_tmpdir("secrets");
    g_spec = strdup(MM_FIXTURES_DIR "/specs/valid/forecast_minimal.json");
    cr_assert_not_null(g_spec);
}

static void teardown(void) {
    mmt_rmtree(g_dir);
    free(g_dir);
    free(g_spec);
}

TestSuite(secrets, .init = setup, .fini = teardown, .timeout = 180);

static char *path_in(const char *name) {
    size_t n = strlen(g_dir) + strlen(name) + 2;
    char *path = malloc(n);
    cr_assert_not_null(path);
    snprintf(path, n, "%s/%s", g_dir, name);
    return path;
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return strdup("");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    char *text = calloc(1, size > 0 ? (size_t)size + 1 : 1);
    cr_assert_not_null(text);
    if (size > 0) cr_assert_eq(fread(text, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    return text;
}

/*
 * Run @p service with @p args (NULL-terminated) and @p env ("K=V", NULL-
 * terminated, may be NULL), its stdout and stderr into <dir>/<log_name>;
 * stop it after @p run_ms if it is still running (0: wait for it to exit).
 * @returns the output (caller frees); *status receives the exit status.
 */
static char *run(const char *service, const char *const *args, char *const *env, const char *log,
                 int64_t run_ms, int *status) {
    char *bin = mmt_binary(service);
    cr_assert_not_null(bin, "%s is not built", service);
    char *argv[40];
    size_t n = 0;
    argv[n++] = bin;
    for (size_t i = 0; args[i]; i++) {
        cr_assert_lt(n, MM_ARRAY_SIZE(argv) - 1);
        argv[n++] = (char *)args[i];
    }
    argv[n] = NULL;
    char *log_path = path_in(log);
    pid_t pid = mmt_spawn(argv, env, log_path);
    cr_assert_gt(pid, 0, "cannot start %s", service);
    int rc = run_ms > 0 ? mmt_wait(pid, run_ms) : mmt_wait(pid, mmt_timeout_ms(120000));
    if (rc < 0 && run_ms > 0) rc = mmt_stop(pid, mmt_timeout_ms(30000));
    cr_assert_geq(rc, 0, "%s did not exit", service);
    *status = rc;
    char *text = read_file(log_path);
    free(log_path);
    free(bin);
    return text;
}

/* Fail when any secret's canary appears in @p text. */
static void expect_no_secret(const char *what, const char *text) {
    for (size_t i = 0; i < MM_ARRAY_SIZE(canaries); i++)
        cr_expect_null(strstr(text, canaries[i]), "%s printed the secret %s:\n%s", what,
                       canaries[i], text);
}

/* The services that take a blob store, with the flag each one needs besides. */
static void service_state_args(const char *service, const char **name, const char **value) {
    if (strcmp(service, "mm-promoter") == 0) {
        *name = "--registry";
        *value = "registry.db";
    } else if (strcmp(service, "mm-scorer") == 0) {
        *name = "--sink";
        *value = "predictions.db";
    } else {
        *name = "--state";
        *value = "trainer.db";
    }
}

static const char *const blob_services[] = {"mm-trainer", "mm-promoter", "mm-scorer"};

Test(secrets, unreachable_blob_host_with_a_sas_flag_does_not_print_it) {
    for (size_t i = 0; i < MM_ARRAY_SIZE(blob_services); i++) {
        const char *flag, *file;
        service_state_args(blob_services[i], &flag, &file);
        char *state = path_in(file);
        const char *args[] = {"--spec",
                              g_spec,
                              "--bootstrap-servers",
                              UNREACHABLE_BROKER,
                              "--blob-url",
                              UNREACHABLE_BLOB,
                              "--blob-sas",
                              SAS_TOKEN,
                              flag,
                              state,
                              NULL};
        int status;
        char *out = run(blob_services[i], args, NULL, "sas.log", 0, &status);
        cr_expect_neq(status, 0, "%s started without its blob store", blob_services[i]);
        /* The failure happened and was reported: there was something to leak. */
        cr_expect_not_null(strstr(out, "start_failed"), "%s: %s", blob_services[i], out);
        cr_expect_not_null(strstr(out, "127.0.0.1"), "%s: %s", blob_services[i], out);
        expect_no_secret(blob_services[i], out);
        free(out);
        free(state);
    }
}

Test(secrets, unreachable_blob_host_with_a_key_and_a_sas_in_the_url_does_not_print_them) {
    for (size_t i = 0; i < MM_ARRAY_SIZE(blob_services); i++) {
        const char *flag, *file;
        service_state_args(blob_services[i], &flag, &file);
        char *state = path_in(file);
        const char *args[] = {"--spec",
                              g_spec,
                              "--bootstrap-servers",
                              UNREACHABLE_BROKER,
                              "--blob-url",
                              UNREACHABLE_BLOB "?" URL_SAS,
                              flag,
                              state,
                              NULL};
        int status;
        char *out = run(blob_services[i], args, NULL, "url-sas.log", 0, &status);
        cr_expect_neq(status, 0);
        cr_expect_not_null(strstr(out, "start_failed"), "%s: %s", blob_services[i], out);
        expect_no_secret(blob_services[i], out);
        free(out);

        const char *key_args[] = {"--spec",
                                  g_spec,
                                  "--bootstrap-servers",
                                  UNREACHABLE_BROKER,
                                  "--blob-url",
                                  UNREACHABLE_BLOB,
                                  "--blob-key",
                                  BLOB_KEY,
                                  flag,
                                  state,
                                  NULL};
        out = run(blob_services[i], key_args, NULL, "key.log", 0, &status);
        cr_expect_neq(status, 0);
        cr_expect_not_null(strstr(out, "start_failed"), "%s: %s", blob_services[i], out);
        expect_no_secret(blob_services[i], out);
        free(out);
        free(state);
    }
}

Test(secrets, dump_config_of_every_service_hides_every_secret) {
    static const char *const services[] = {"mm-trainer", "mm-promoter", "mm-scorer", "mm-ingest"};
    char *env[] = {"MM_KAFKA_SSL_KEY_PASSWORD=" SSL_KEY_PASSWORD, NULL};
    for (size_t i = 0; i < MM_ARRAY_SIZE(services); i++) {
        bool blob = strcmp(services[i], "mm-ingest") != 0;
        const char *args[16];
        size_t n = 0;
        args[n++] = "--spec";
        args[n++] = g_spec;
        args[n++] = "-X";
        args[n++] = "sasl.password=" SASL_PASSWORD;
        if (blob) {
            args[n++] = "--blob-url";
            args[n++] = "https://acct.blob.core.windows.net/models?" URL_SAS;
            args[n++] = "--blob-sas";
            args[n++] = SAS_TOKEN;
            args[n++] = "--blob-key";
            args[n++] = BLOB_KEY;
        }
        args[n++] = "--dump-config";
        args[n] = NULL;
        int status;
        char *out = run(services[i], args, env, "dump.log", 0, &status);
        cr_expect_eq(status, 0, "%s --dump-config: %s", services[i], out);
        /* It did print the configuration, with the secrets' places marked. */
        cr_expect_not_null(strstr(out, "\"sasl.password\": \"***\""), "%s: %s", services[i], out);
        cr_expect_not_null(strstr(out, "\"ssl.key.password\": \"***\""), "%s: %s", services[i],
                           out);
        if (blob) cr_expect_not_null(strstr(out, "sig=***"), "%s: %s", services[i], out);
        expect_no_secret(services[i], out);
        free(out);
    }
}

Test(secrets, bad_kafka_sasl_configuration_does_not_print_the_password) {
    /* A value librdkafka rejects, echoing it in its error: the password itself, given to a
     * property that wants a number. */
    char *blob = path_in("blobs");
    char blob_url[4096];
    snprintf(blob_url, sizeof(blob_url), "file://%s", blob);
    char *state = path_in("trainer.db");
    const char *args[] = {"--spec",
                          g_spec,
                          "--bootstrap-servers",
                          UNREACHABLE_BROKER,
                          "--blob-url",
                          blob_url,
                          "--state",
                          state,
                          "-X",
                          "sasl.password=" SASL_PASSWORD,
                          "-X",
                          "sasl.kerberos.min.time.before.relogin=" SASL_PASSWORD,
                          NULL};
    int status;
    char *out = run("mm-trainer", args, NULL, "sasl-invalid.log", 0, &status);
    cr_expect_neq(status, 0, "the trainer accepted an invalid librdkafka value: %s", out);
    cr_expect_not_null(strstr(out, "sasl.kerberos.min.time.before.relogin"), "%s", out);
    expect_no_secret("mm-trainer (invalid SASL property)", out);
    free(out);

    /* SASL/PLAIN towards a broker that does not speak it, with librdkafka's security and
     * configuration debugging on: the connection fails over and over for a few seconds. */
    mmt_broker_t broker;
    mmt_broker_start(&broker, 2);
    char *env[] = {"MM_KAFKA_SSL_KEY_PASSWORD=" SSL_KEY_PASSWORD, NULL};
    const char *sasl_args[] = {"--spec",
                               g_spec,
                               "--bootstrap-servers",
                               broker.bootstrap,
                               "--blob-url",
                               blob_url,
                               "--state",
                               state,
                               "--log-level",
                               "debug",
                               "-X",
                               "security.protocol=SASL_PLAINTEXT",
                               "-X",
                               "sasl.mechanisms=PLAIN",
                               "-X",
                               "sasl.username=mm",
                               "-X",
                               "sasl.password=" SASL_PASSWORD,
                               "-X",
                               "debug=security,conf,broker",
                               NULL};
    out = run("mm-trainer", sasl_args, env, "sasl-plain.log", mmt_timeout_ms(6000), &status);
    mmt_broker_stop(&broker);
    /* Something was logged about the connection, so the search meant something. */
    cr_expect_gt(strlen(out), 200, "%s", out);
    expect_no_secret("mm-trainer (SASL/PLAIN against a plain broker)", out);
    free(out);
    free(state);
    free(blob);
}
