/*
 * registry_fake.h - a FAKE Confluent schema registry for the tests, in a
 * thread of the test process (mm_httpd on a loopback port).
 *
 * It is a stand-in, not a registry implementation: Karapace is not published
 * on PyPI and the Confluent Schema Registry is not on Maven Central, so no
 * real registry can be installed from the package registries the tests may
 * use (docs/operations.md, "Schema registry"). It keeps the state a registry
 * keeps — ids to schemas, subjects to versions, per-subject modes — and
 * answers the calls mm_schema_registry_sync() makes with the statuses and
 * error codes the Confluent REST API documents:
 *
 *   GET  /schemas/ids/N               200 {"schema"} | 404 40403
 *   GET  /schemas/ids/N/versions      200 [{"subject","version"}] | 404 40403
 *   GET  /subjects/S/versions/latest  200 {"subject","version","id","schema"} | 404 40401
 *   POST /subjects/S/versions         {"schema"[,"id"]}: 200 {"id"}; an id needs IMPORT mode
 *                                     (422 42205), an id taken by another schema is 409
 *   GET/PUT/DELETE /mode/S            404 40409 when the subject has no mode of its own
 *
 * Schemas are compared as text after parsing (json_equal), which is enough
 * for the texts the tests send. Basic auth is checked when configured.
 */
#ifndef MM_TEST_REGISTRY_FAKE_H
#define MM_TEST_REGISTRY_FAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mmt_registry_fake mmt_registry_fake_t;

/** @brief Start on a free loopback port; @p auth is "user:password" or NULL. Asserts. */
mmt_registry_fake_t *mmt_registry_fake_start(const char *auth);
void mmt_registry_fake_stop(mmt_registry_fake_t *fake);

/** @returns "http://127.0.0.1:PORT" (owned by the fake). */
const char *mmt_registry_fake_url(const mmt_registry_fake_t *fake);

/** @brief Register @p schema under @p subject with @p id directly (test set-up). */
void mmt_registry_fake_put(mmt_registry_fake_t *fake, const char *subject, int32_t id,
                           const char *schema);

/** @brief Give @p subject a mode of its own ("READONLY", ...), as an operator would. */
void mmt_registry_fake_set_mode(mmt_registry_fake_t *fake, const char *subject, const char *mode);

/**
 * @brief Play a concurrent registration: the next POST with an id is first
 * applied as if another client had registered it and put the subject's mode
 * back, then refused as outside IMPORT mode (422 42205).
 */
void mmt_registry_fake_race_next_post(mmt_registry_fake_t *fake);

/** @returns the schema text id @p id maps to, or NULL (borrowed until the next call). */
const char *mmt_registry_fake_schema(mmt_registry_fake_t *fake, int32_t id);
/** @returns how many versions @p subject holds. */
size_t mmt_registry_fake_versions(mmt_registry_fake_t *fake, const char *subject);
/** @returns the id of version @p version (1-based) of @p subject, or -1. */
int32_t mmt_registry_fake_version_id(mmt_registry_fake_t *fake, const char *subject,
                                     size_t version);
/** @returns the subject's own mode, or "" when it has none (borrowed). */
const char *mmt_registry_fake_mode(mmt_registry_fake_t *fake, const char *subject);
/** @returns the number of requests that changed something (POST, PUT, DELETE). */
size_t mmt_registry_fake_writes(mmt_registry_fake_t *fake);
/** @returns the number of requests refused for their credentials. */
size_t mmt_registry_fake_refused(mmt_registry_fake_t *fake);

#endif
