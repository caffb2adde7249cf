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
    char *endpoint;  /* "http://127.0.0.1:PORT/devstoreaccount1" */
    bool persistent; /* data under dir/data, kept through a kill (mmt_azurite_start_persistent) */
    int starts;      /* processes started so far (logs: dir/azurite.log, then azurite-<n>.log) */
} mmt_azurite_t;

/** @returns false (and logs why) if Azurite is not installed or did not start. */
bool mmt_azurite_start(mmt_azurite_t *azurite);
void mmt_azurite_stop(mmt_azurite_t *azurite);

/**
 * @brief Start Azurite with its data on disk (--location dir/data) instead of
 * in memory, saving every metadata change before it answers the request
 * (tests/support/azurite_durable.js): a write it acknowledged survives
 * mmt_azurite_kill and mmt_azurite_restart, as on Azure Storage.
 * @returns false (and logs why) if Azurite is not installed or did not start.
 */
bool mmt_azurite_start_persistent(mmt_azurite_t *azurite);
/** @brief SIGKILL the emulator and reap it: no goodbye, connections reset. */
void mmt_azurite_kill(mmt_azurite_t *azurite);
/** @brief Start it again on the same port with the same data (after mmt_azurite_kill). */
bool mmt_azurite_restart(mmt_azurite_t *azurite);
/** @brief SIGSTOP / SIGCONT: a hung server (the kernel still accepts connections). */
void mmt_azurite_pause(mmt_azurite_t *azurite);
void mmt_azurite_resume(mmt_azurite_t *azurite);

#endif
