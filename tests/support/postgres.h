/*
 * postgres.h - start and stop a throwaway PostgreSQL server from Debian's
 * packages for a test: initdb into a fresh temp dir (password
 * authentication, a random password), then `postgres` on 127.0.0.1 and a
 * free port, no Unix socket, as a child process that dies with the test.
 * Run as root, the server runs as the `postgres` user (initdb refuses root).
 */
#ifndef MM_TEST_POSTGRES_H
#define MM_TEST_POSTGRES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct mmt_pg {
    pid_t pid;
    int port;
    char *dir;      /* temp dir: data/, pwfile, server.log */
    char *password; /* the user's random password */
    char *url;      /* "postgresql://mm:<password>@127.0.0.1:<port>/postgres" */
} mmt_pg_t;

/**
 * @brief initdb and start a server; returns once it accepts connections.
 * @returns false with the reason in @p why (naming scripts/deps.sh when the
 * server binaries are missing); call mmt_pg_stop either way. Asserts nothing.
 */
bool mmt_pg_start(mmt_pg_t *pg, char *why, size_t why_size);

/** @brief A fresh database @p name on the server; @returns its URL (malloc'd) or NULL. */
char *mmt_pg_create_db(const mmt_pg_t *pg, const char *name, char *why, size_t why_size);

/** @brief Stop the server (fast shutdown), remove its directory, free. Accepts one never started.
 */
void mmt_pg_stop(mmt_pg_t *pg);

#endif
