/*
 * test_binaries.c - what every manymodels binary shares (mm/exit.h,
 * mm/version.h): --version prints the version, the git revision and the
 * library versions and exits 0; a flag that does not parse is a usage error
 * (64); settings that parse but cannot be used are a configuration error
 * (78). Each binary is run as built, against local files only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <criterion/criterion.h>

#include "mm/exit.h"
#include "mm/version.h"
#include "support.h"

#define RUN_WAIT_MS 20000
#define OUTPUT_MAX  16384

static const char *const binaries[] = {"mm-ingest",    "mm-trainer", "mm-promoter", "mm-scorer",
                                       "mm-devbroker", "mmctl",      "mm-datagen"};
#define N_BINARIES (sizeof(binaries) / sizeof(binaries[0]))

/* A spec that parses as JSON but is invalid (names the field in its error). */
#define INVALID_SPEC MM_FIXTURES_DIR "/specs/invalid/known_in_advance_not_exogenous.json"

static char *dir;

static void setup(void) {
    dir = mmt_tmpdir("binaries");
    cr_assert_not_null(dir);
}

static void teardown(void) {
    if (dir) mmt_rmtree(dir);
    free(dir);
    dir = NULL;
}

/* Run @p name with @p args (NULL-terminated) and no MM_* settings of the caller's environment
 * that could change the outcome; stdout and stderr land in @p output. @returns the status. */
static int run(const char *name, const char *const *args, char *output, size_t output_size) {
    char *bin = mmt_binary(name);
    cr_assert_not_null(bin, "%s is not built", name);
    char *argv[24] = {bin};
    for (size_t i = 0; args[i] && i + 2 < sizeof(argv) / sizeof(argv[0]); i++)
        argv[i + 1] = (char *)args[i];
    char log[4096];
    snprintf(log, sizeof(log), "%s/%s.out", dir, name);
    remove(log);
    static char *const env[] = {
        "MM_BOOTSTRAP_SERVERS=", "MM_BOOTSTRAP_FILE=", "MM_SPEC=", "MM_LOG_LEVEL=", NULL};
    pid_t pid = mmt_spawn(argv, env, log);
    cr_assert_gt(pid, 0, "cannot start %s", bin);
    int status = mmt_wait(pid, mmt_timeout_ms(RUN_WAIT_MS));
    if (status < 0) mmt_stop(pid, 0);
    free(bin);
    FILE *f = fopen(log, "r");
    size_t len = f ? fread(output, 1, output_size - 1, f) : 0;
    output[len] = '\0';
    if (f) fclose(f);
    return status;
}

Test(binaries, version_names_the_binary_the_revision_and_the_libraries, .init = setup,
     .fini = teardown) {
    static char output[OUTPUT_MAX];
    char first[256];
    for (size_t i = 0; i < N_BINARIES; i++) {
        const char *args[] = {"--version", NULL};
        int status = run(binaries[i], args, output, sizeof(output));
        cr_expect_eq(status, MM_EXIT_OK, "%s --version exited %d: %s", binaries[i], status, output);
        snprintf(first, sizeof(first), "%s %s (git %s)\n", binaries[i], mm_version(),
                 mm_version_git_revision());
        cr_expect(strncmp(output, first, strlen(first)) == 0, "%s --version begins with '%s': %s",
                  binaries[i], first, output);
        static const char *const libraries[] = {
            "\n  librdkafka ", "\n  libcurl ",       "\n  openssl ", "\n  sqlite ", "\n  avro-c ",
            "\n  jansson ",    "\n  libmicrohttpd ", "\n  xgboost ", "\n  nlopt "};
        for (size_t l = 0; l < sizeof(libraries) / sizeof(libraries[0]); l++)
            cr_expect(strstr(output, libraries[l]) != NULL, "%s --version names%s: %s", binaries[i],
                      libraries[l], output);
    }
}

Test(binaries, version_is_answered_before_anything_is_validated, .init = setup, .fini = teardown) {
    static char output[OUTPUT_MAX];
    /* Like --help: an operator asking for the version gets it whatever else is wrong. */
    const char *args[] = {"--no-such-flag", "--version", NULL};
    cr_expect_eq(run("mm-trainer", args, output, sizeof(output)), MM_EXIT_OK, "%s", output);
    /* After "--" it is an argument, not a flag. */
    const char *after_dashes[] = {"--", "--version", NULL};
    cr_expect_neq(run("mm-devbroker", after_dashes, output, sizeof(output)), MM_EXIT_OK, "%s",
                  output);
}

Test(binaries, git_revision_is_a_commit_or_says_unknown) {
    const char *rev = mm_version_git_revision();
    cr_assert_not_null(rev);
    if (strcmp(rev, "unknown") == 0) return; /* built outside a git checkout */
    size_t hex = strspn(rev, "0123456789abcdef");
    cr_expect_eq(hex, 12, "12 hex digits: '%s'", rev);
    cr_expect(rev[hex] == '\0' || strcmp(rev + hex, "-dirty") == 0, "'%s'", rev);
}

Test(binaries, an_unknown_flag_is_a_usage_error_everywhere, .init = setup, .fini = teardown) {
    static char output[OUTPUT_MAX];
    for (size_t i = 0; i < N_BINARIES; i++) {
        /* mm-datagen and mmctl take a command word first. */
        const char *args[] = {strcmp(binaries[i], "mm-datagen") == 0 ? "sales" : "--no-such-flag",
                              "--no-such-flag", NULL};
        int status = run(binaries[i], args, output, sizeof(output));
        cr_expect_eq(status, MM_EXIT_USAGE, "%s --no-such-flag exited %d: %s", binaries[i], status,
                     output);
        cr_expect(strstr(output, "no-such-flag") != NULL, "%s names the flag: %s", binaries[i],
                  output);
    }
}

Test(binaries, a_malformed_value_is_a_usage_error, .init = setup, .fini = teardown) {
    static char output[OUTPUT_MAX];
    const char *trainer[] = {"--workers", "many", NULL};
    cr_expect_eq(run("mm-trainer", trainer, output, sizeof(output)), MM_EXIT_USAGE, "%s", output);
    cr_expect(strstr(output, "--workers") != NULL, "%s", output);
    const char *mmctl[] = {"topics", "init", "--partitions", "0", NULL};
    cr_expect_eq(run("mmctl", mmctl, output, sizeof(output)), MM_EXIT_USAGE, "%s", output);
    const char *datagen[] = {"sales", "--stores", "x", NULL};
    cr_expect_eq(run("mm-datagen", datagen, output, sizeof(output)), MM_EXIT_USAGE, "%s", output);
    const char *no_command[] = {NULL};
    cr_expect_eq(run("mm-datagen", no_command, output, sizeof(output)), MM_EXIT_USAGE, "%s",
                 output);
}

Test(binaries, an_invalid_spec_is_a_configuration_error_for_every_service, .init = setup,
     .fini = teardown) {
    static char output[OUTPUT_MAX];
    static const char *const services[] = {"mm-ingest", "mm-trainer", "mm-promoter", "mm-scorer"};
    char blob[4200], state[4200], registry[4200], sink[4200];
    snprintf(blob, sizeof(blob), "file://%s/blob", dir);
    snprintf(state, sizeof(state), "%s/state.db", dir);
    snprintf(registry, sizeof(registry), "%s/registry.db", dir);
    snprintf(sink, sizeof(sink), "%s/sink.db", dir);
    for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++) {
        const char *args[] = {"--spec",      INVALID_SPEC, "--bootstrap-servers",
                              "127.0.0.1:1", "--blob-url", blob,
                              "--state",     state,        NULL};
        const char *promoter[] = {"--spec",      INVALID_SPEC, "--bootstrap-servers",
                                  "127.0.0.1:1", "--blob-url", blob,
                                  "--registry",  registry,     NULL};
        const char *scorer[] = {"--spec",      INVALID_SPEC, "--bootstrap-servers",
                                "127.0.0.1:1", "--blob-url", blob,
                                "--state",     state,        "--sink",
                                sink,          NULL};
        const char *ingest[] = {"--spec",      INVALID_SPEC, "--bootstrap-servers",
                                "127.0.0.1:1", "/dev/null",  NULL};
        const char *const *use = args;
        if (strcmp(services[i], "mm-promoter") == 0) use = promoter;
        if (strcmp(services[i], "mm-scorer") == 0) use = scorer;
        if (strcmp(services[i], "mm-ingest") == 0) use = ingest;
        int status = run(services[i], use, output, sizeof(output));
        cr_expect_eq(status, MM_EXIT_CONFIG, "%s with an invalid spec exited %d: %s", services[i],
                     status, output);
        cr_expect(strstr(output, "features.known_in_advance[1]") != NULL, "%s names the field: %s",
                  services[i], output);
    }
}

Test(binaries, unusable_settings_are_a_configuration_error_in_the_tools, .init = setup,
     .fini = teardown) {
    static char output[OUTPUT_MAX];
    const char *devbroker[] = {"--log-level", "loud", NULL};
    cr_expect_eq(run("mm-devbroker", devbroker, output, sizeof(output)), MM_EXIT_CONFIG, "%s",
                 output);
    /* A librdkafka property that does not exist: the client cannot be configured. */
    const char *mmctl[] = {
        "topics", "init", "--bootstrap-servers", "127.0.0.1:1", "-X", "no.such.property=1", NULL};
    cr_expect_eq(run("mmctl", mmctl, output, sizeof(output)), MM_EXIT_CONFIG, "%s", output);
    cr_expect(strstr(output, "no.such.property") != NULL, "%s", output);
    /* A service whose --log-level is not a level. */
    char blob[4200], state[4200];
    snprintf(blob, sizeof(blob), "file://%s/blob", dir);
    snprintf(state, sizeof(state), "%s/state.db", dir);
    const char *trainer[] = {"--spec",
                             MM_FIXTURES_DIR "/specs/valid/forecast_minimal.json",
                             "--blob-url",
                             blob,
                             "--state",
                             state,
                             "--bootstrap-servers",
                             "127.0.0.1:1",
                             "--log-level",
                             "loud",
                             NULL};
    cr_expect_eq(run("mm-trainer", trainer, output, sizeof(output)), MM_EXIT_CONFIG, "%s", output);
    cr_expect(strstr(output, "--log-level") != NULL, "%s", output);
}

Test(binaries, mmctl_reads_librdkafka_properties_from_the_environment, .init = setup,
     .fini = teardown) {
    static char output[OUTPUT_MAX];
    /* MM_KAFKA_<KEY> as the services read it: a property that does not exist
     * reaches the client and is refused, named. */
    cr_assert_eq(setenv("MM_KAFKA_NO_SUCH_PROPERTY", "1", 1), 0);
    const char *mmctl[] = {"topics", "init", "--bootstrap-servers", "127.0.0.1:1", NULL};
    cr_expect_eq(run("mmctl", mmctl, output, sizeof(output)), MM_EXIT_CONFIG, "%s", output);
    cr_expect(strstr(output, "no.such.property") != NULL, "%s", output);
    unsetenv("MM_KAFKA_NO_SUCH_PROPERTY");
}
