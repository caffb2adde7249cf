/*
 * broker.h - start and stop an mm-devbroker child process for a test.
 */
#ifndef MM_TEST_BROKER_H
#define MM_TEST_BROKER_H

#include <sys/types.h>

typedef struct mmt_broker {
    pid_t pid;
    char *dir;       /* working directory (bootstrap file lives here) */
    char *bootstrap; /* "127.0.0.1:port,..." */
    char *bootstrap_file;
} mmt_broker_t;

/** @brief Start mm-devbroker with @p partitions per topic; fails the test on error. */
void mmt_broker_start(mmt_broker_t *broker, int partitions);
/** @brief Stop (SIGTERM) and free. */
void mmt_broker_stop(mmt_broker_t *broker);

#endif
