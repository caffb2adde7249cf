/*
 * registry_real.h - a real Confluent-compatible schema registry for a test:
 * Apicurio Registry (in-memory storage, a fresh one per start) on a free
 * loopback port, its Confluent API at <base>/apis/ccompat/v7. Built once by
 * scripts/schema-registry-deps.sh into .deps/apicurio/quarkus-app/.
 */
#ifndef MM_TEST_REGISTRY_REAL_H
#define MM_TEST_REGISTRY_REAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct mmt_registry_real {
    pid_t pid;
    int port;
    char *dir; /* temp dir: registry.log */
    char *url; /* "http://127.0.0.1:<port>/apis/ccompat/v7" (the Confluent API's base URL) */
} mmt_registry_real_t;

/** @returns true when MM_SKIP_SCHEMA_REGISTRY=1 asks to skip the real-registry tests. */
bool mmt_registry_real_skipped(void);

/** @returns true when scripts/schema-registry-deps.sh has built the registry. */
bool mmt_registry_real_present(void);

/**
 * @brief Start an empty registry and return once its Confluent API answers
 * GET /subjects. @returns false with the reason in @p why (naming
 * scripts/schema-registry-deps.sh when the build is missing); call
 * mmt_registry_real_stop either way. Asserts nothing.
 */
bool mmt_registry_real_start(mmt_registry_real_t *reg, char *why, size_t why_size);

/**
 * @brief One request to the registry's Confluent API: @p method, @p path
 * (after the base URL), JSON @p body or NULL. @returns the HTTP status (0 on
 * a transport error); the reply body, malloc'd and NUL-terminated, into
 * @p reply when not NULL.
 */
long mmt_registry_real_request(const mmt_registry_real_t *reg, const char *method, const char *path,
                               const char *body, char **reply);

/** @brief Stop the registry, remove its directory and free. Accepts one never started. */
void mmt_registry_real_stop(mmt_registry_real_t *reg);

#endif
