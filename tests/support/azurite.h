/*
 * azurite.h - start and stop an Azurite blob emulator (npm package, installed
 * into .deps/ by scripts/deps.sh) on a free loopback port for a test.
 */
#ifndef MM_TEST_AZURITE_H
#define MM_TEST_AZURITE_H

#include <stdbool.h>
#include <sys/types.h>

#define MMT_AZURITE_ACCOUNT "devstoreaccount1"
#define MMT_AZURITE_KEY                                                                            \
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

typedef struct mmt_azurite {
    pid_t pid;
    int port;
    char *dir;
    char *endpoint; /* "http://127.0.0.1:PORT/devstoreaccount1" */
} mmt_azurite_t;

/** @returns false (and logs why) if Azurite is not installed or did not start. */
bool mmt_azurite_start(mmt_azurite_t *azurite);
void mmt_azurite_stop(mmt_azurite_t *azurite);

#endif
