/*
 * broker.c - start and stop an mm-devbroker child process for a test (see
 * broker.h). One broker per test: it starts in well under a second.
 */
#include "broker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "mm/kafka.h"
#include "mm/util.h"
#include "support.h"

/* Generous: the broker is up in milliseconds, but sanitizer builds on a busy machine are slow. */
#define BROKER_START_TIMEOUT_MS 20000
#define BROKER_STOP_GRACE_MS    10000

static char *path_join(const char *dir, const char *name) {
    size_t len = strlen(dir) + 1 + strlen(name) + 1;
    char *path = malloc(len);
    cr_assert(path, "out of memory");
    snprintf(path, len, "%s/%s", dir, name);
    return path;
}

void mmt_broker_start(mmt_broker_t *broker, int partitions) {
    memset(broker, 0, sizeof(*broker));
    broker->dir = mmt_tmpdir("broker");
    cr_assert(broker->dir, "cannot create a temporary directory for the broker");
    broker->bootstrap_file = path_join(broker->dir, "bootstrap");
    char *log_path = path_join(broker->dir, "devbroker.log");
    char *binary = mmt_binary("mm-devbroker");
    cr_assert(binary, "mm-devbroker binary not found");

    char partitions_arg[32], pid_arg[32];
    snprintf(partitions_arg, sizeof(partitions_arg), "%d", partitions);
    /* The broker exits by itself if this test process dies without stopping it. */
    snprintf(pid_arg, sizeof(pid_arg), "%ld", (long)getpid());
    char *argv[] = {binary,
                    "--partitions",
                    partitions_arg,
                    "--bootstrap-file",
                    broker->bootstrap_file,
                    "--watch-pid",
                    pid_arg,
                    NULL};
    broker->pid = mmt_spawn(argv, NULL, log_path);
    free(binary);
    cr_assert(broker->pid > 0, "cannot start mm-devbroker");

    if (!mmt_wait_file(broker->bootstrap_file, mmt_timeout_ms(BROKER_START_TIMEOUT_MS))) {
        mmt_stop(broker->pid, mmt_timeout_ms(BROKER_STOP_GRACE_MS));
        broker->pid = 0;
        cr_assert_fail("mm-devbroker did not write %s in time; its log: %s", broker->bootstrap_file,
                       log_path);
    }
    free(log_path);

    char errstr[256];
    broker->bootstrap =
        mm_kafka_resolve_bootstrap(NULL, broker->bootstrap_file, 0, errstr, sizeof(errstr));
    cr_assert(broker->bootstrap, "reading the broker address: %s", errstr);
}

void mmt_broker_stop(mmt_broker_t *broker) {
    if (!broker) return;
    if (broker->pid > 0) {
        int status = mmt_stop(broker->pid, mmt_timeout_ms(BROKER_STOP_GRACE_MS));
        broker->pid = 0;
        /* A clean exit also means the sanitizers found nothing in the broker. */
        cr_expect_eq(status, 0, "mm-devbroker exited with status %d (see %s/devbroker.log)", status,
                     broker->dir ? broker->dir : "?");
        if (status == 0 && broker->bootstrap_file)
            cr_expect(access(broker->bootstrap_file, F_OK) != 0,
                      "mm-devbroker left its bootstrap file behind");
        if (status == 0 && broker->dir) mmt_rmtree(broker->dir);
    } else if (broker->dir) {
        mmt_rmtree(broker->dir);
    }
    free(broker->dir);
    free(broker->bootstrap);
    free(broker->bootstrap_file);
    memset(broker, 0, sizeof(*broker));
}
