/*
 * test_local_stack.c - the equivalent local stack: the compose file's
 * services started as local processes with the same arguments and
 * environment (tests/deploy/local_stack.py), against a real single-node
 * Kafka broker and Azurite started here with tests/support.
 *
 * One Kafka and one Azurite per test; the harness gets their addresses and a
 * fresh work directory and exits 0 when models, decisions and predictions
 * came out for every key (and the scorer answered over HTTP, once
 * `mm-scorer serve` exists). Skipped with MM_SKIP_REAL_KAFKA=1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "azurite.h"
#include "kafka_real.h"
#include "support.h"

#define HARNESS MM_SOURCE_DIR "/tests/deploy/local_stack.py"

static void run_stack(const char *tag, const char *trainers) {
    if (mmt_kafka_skipped()) cr_skip_test("MM_SKIP_REAL_KAFKA=1");
    char why[1024] = "";
    mmt_kafka_t kafka = {0};
    mmt_azurite_t azurite = {0};
    bool kafka_up = mmt_kafka_start(&kafka, 4, why, sizeof(why));
    if (!kafka_up) {
        mmt_kafka_stop(&kafka);
        cr_assert_fail("Kafka did not start: %s", why);
    }
    if (!mmt_azurite_start(&azurite)) {
        mmt_kafka_stop(&kafka);
        cr_assert_fail("Azurite did not start (scripts/deps.sh installs it)");
    }
    char *dir = mmt_tmpdir(tag);
    char work[4096];
    snprintf(work, sizeof(work), "%s/stack", dir);
    char log_path[4096];
    snprintf(log_path, sizeof(log_path), "%s/local_stack.log", dir);

    char *const argv[] = {(char *)MMT_PYTHON3,
                          (char *)HARNESS,
                          "--bootstrap",
                          kafka.bootstrap,
                          "--azurite",
                          azurite.endpoint,
                          "--build-dir",
                          (char *)MM_BINARY_DIR,
                          "--workdir",
                          work,
                          "--trainers",
                          (char *)trainers,
                          NULL};
    pid_t pid = mmt_spawn(argv, NULL, log_path);
    cr_assert_gt(pid, 0, "could not start %s", HARNESS);
    int status = mmt_wait(pid, mmt_timeout_ms(900000));
    if (status < 0) mmt_stop(pid, 10000);

    /* The harness's report, whatever the outcome. */
    FILE *f = fopen(log_path, "r");
    if (f) {
        char line[4096];
        while (fgets(line, sizeof(line), f)) fputs(line, stderr);
        fclose(f);
    }
    mmt_azurite_stop(&azurite);
    mmt_kafka_stop(&kafka);
    if (status == 0) mmt_rmtree(dir);
    cr_assert_eq(status, 0, "local_stack.py exited %d (its output is above; work dir %s)", status,
                 dir);
    free(dir);
}

Test(local_stack, compose_services_produce_models_decisions_predictions) {
    run_stack("local-stack", "1");
}

Test(local_stack, two_trainers_share_the_partitions) {
    run_stack("local-stack-2", "2");
}
