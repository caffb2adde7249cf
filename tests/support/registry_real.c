/*
 * registry_real.c - Apicurio Registry as a child process for a test (see
 * registry_real.h): java -Dquarkus.http.port=<free port> -jar quarkus-run.jar,
 * in-memory H2 storage, so every start is an empty registry.
 *
 * Workload: a JVM start takes 12 to 22 s on a busy 2-core machine (Quarkus
 * start-up, the H2 schema); a suite starts one per scenario that needs an
 * empty registry.
 */
#include "registry_real.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mm/clock.h"
#include "mm/http.h"
#include "support.h"

#define REGISTRY_JAR  MM_SOURCE_DIR "/.deps/apicurio/quarkus-app/quarkus-run.jar"
#define REGISTRY_API  "/apis/ccompat/v7"
#define REGISTRY_HEAP "-Xmx512m"
#define PATH_MAX_LEN  4096
/* The JVM, Quarkus and the in-memory database on a busy machine. */
#define REGISTRY_START_TIMEOUT_MS 180000
#define REGISTRY_STOP_GRACE_MS    30000
#define REGISTRY_POLL_MS          250
#define NO_BUILD                                                                                   \
    "real schema registry: no " REGISTRY_JAR "; run scripts/deps.sh (it calls "                    \
    "scripts/schema-registry-deps.sh), or set MM_SKIP_SCHEMA_REGISTRY=1 to skip these tests"

bool mmt_registry_real_skipped(void) {
    const char *skip = getenv("MM_SKIP_SCHEMA_REGISTRY");
    return skip && strcmp(skip, "1") == 0;
}

bool mmt_registry_real_present(void) {
    return access(REGISTRY_JAR, R_OK) == 0;
}

static bool fail(char *why, size_t why_size, const char *log_path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Writes the reason into @p why, prints @p log_path (if any) to stderr; @returns false. */
static bool fail(char *why, size_t why_size, const char *log_path, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_size, fmt, ap);
    va_end(ap);
    if (log_path) mmt_print_file(log_path);
    return false;
}

long mmt_registry_real_request(const mmt_registry_real_t *reg, const char *method, const char *path,
                               const char *body, char **reply) {
    if (reply) *reply = NULL;
    char why[512], url[1024];
    snprintf(url, sizeof(url), "%s%s", reg->url, path);
    mm_http_t *http = mm_http_new(why, sizeof(why));
    if (!http) return 0;
    mm_http_header_t headers[] = {{"Content-Type", "application/vnd.schemaregistry.v1+json"},
                                  {"Accept", "application/vnd.schemaregistry.v1+json"}};
    mm_http_request_t req = {.method = method,
                             .url = url,
                             .headers = headers,
                             .n_headers = 2,
                             .body = body,
                             .body_len = body ? strlen(body) : 0,
                             .connect_timeout_ms = 2000,
                             .total_timeout_ms = 30000};
    mm_http_response_t resp;
    memset(&resp, 0, sizeof(resp));
    long status = 0;
    if (mm_http_perform(http, &req, &resp, why, sizeof(why)) == MM_OK) {
        status = resp.status;
        if (reply) {
            *reply = calloc(1, resp.body.len + 1);
            if (*reply && resp.body.len) memcpy(*reply, resp.body.data, resp.body.len);
        }
    }
    mm_http_response_clear(&resp);
    mm_http_destroy(http);
    return status;
}

bool mmt_registry_real_start(mmt_registry_real_t *reg, char *why, size_t why_size) {
    memset(reg, 0, sizeof(*reg));
    if (!mmt_registry_real_present()) return fail(why, why_size, NULL, "%s", NO_BUILD);
    char java[PATH_MAX_LEN];
    if (!mmt_find_java(java, sizeof(java)))
        return fail(why, why_size, NULL,
                    "real schema registry: no java on PATH; run scripts/deps.sh (or set "
                    "MM_SKIP_SCHEMA_REGISTRY=1)");
    reg->dir = mmt_tmpdir("registry");
    reg->port = mmt_free_port();
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d" REGISTRY_API, reg->port);
    reg->url = strdup(url);
    if (!reg->dir || !reg->url || reg->port <= 0)
        return fail(why, why_size, NULL, "real schema registry: no temp dir or free loopback port");

    char port_arg[64], log_path[PATH_MAX_LEN];
    snprintf(port_arg, sizeof(port_arg), "-Dquarkus.http.port=%d", reg->port);
    snprintf(log_path, sizeof(log_path), "%s/registry.log", reg->dir);
    char *argv[] = {java,
                    REGISTRY_HEAP,
                    "-XX:+UseSerialGC",
                    port_arg,
                    "-Dquarkus.http.host=127.0.0.1",
                    "-jar",
                    REGISTRY_JAR,
                    NULL};
    int64_t started = mm_mono_ms();
    reg->pid = mmt_spawn(argv, NULL, log_path);
    if (reg->pid <= 0)
        return fail(why, why_size, NULL, "real schema registry: cannot start %s", java);

    int64_t deadline = started + mmt_timeout_ms(REGISTRY_START_TIMEOUT_MS);
    while (mmt_registry_real_request(reg, "GET", "/subjects", NULL, NULL) != 200) {
        int status = 0;
        if (waitpid(reg->pid, &status, WNOHANG) == reg->pid) {
            reg->pid = 0;
            return fail(why, why_size, log_path,
                        "real schema registry exited during start-up (status %d); its log: %s",
                        status, log_path);
        }
        if (mm_mono_ms() > deadline)
            return fail(why, why_size, log_path,
                        "real schema registry did not answer GET %s/subjects in %lld ms", reg->url,
                        (long long)mmt_timeout_ms(REGISTRY_START_TIMEOUT_MS));
        mm_sleep_ms(REGISTRY_POLL_MS, NULL);
    }
    fprintf(stderr, "real schema registry: up on %s after %lld ms\n", reg->url,
            (long long)(mm_mono_ms() - started));
    return true;
}

void mmt_registry_real_stop(mmt_registry_real_t *reg) {
    if (!reg) return;
    if (reg->pid > 0) mmt_stop(reg->pid, mmt_timeout_ms(REGISTRY_STOP_GRACE_MS));
    if (reg->dir) mmt_rmtree(reg->dir);
    free(reg->dir);
    free(reg->url);
    memset(reg, 0, sizeof(*reg));
}
