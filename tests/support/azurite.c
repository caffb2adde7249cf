/*
 * azurite.c - start and stop an Azurite blob emulator for a test (see
 * azurite.h). One emulator per test process, in memory, on a free loopback
 * port; start-up takes about a second, so suites share one per process.
 */
#include "azurite.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mm/util.h"
#include "support.h"

/* Ask the kernel for a free port: bind to 0, read it back, close. */
static int azurite_free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    int port = -1;
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
        getsockname(fd, (struct sockaddr *)&addr, &len) == 0)
        port = ntohs(addr.sin_port);
    close(fd);
    return port;
}

static bool azurite_port_open(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;
    close(fd);
    return ok;
}

static void azurite_print_log(const char *log_path) {
    FILE *f = fopen(log_path, "r");
    if (!f) return;
    char line[512];
    fprintf(stderr, "---- %s ----\n", log_path);
    while (fgets(line, sizeof(line), f)) fputs(line, stderr);
    fclose(f);
}

bool mmt_azurite_start(mmt_azurite_t *azurite) {
    memset(azurite, 0, sizeof(*azurite));
    azurite->pid = -1;
    char bin[4096];
    const char *env_bin = getenv("MM_AZURITE_BIN");
    if (env_bin && *env_bin)
        snprintf(bin, sizeof(bin), "%s", env_bin);
    else
        snprintf(bin, sizeof(bin), "%s/.deps/npm/node_modules/.bin/azurite-blob", MM_SOURCE_DIR);
    if (access(bin, X_OK) != 0) {
        fprintf(stderr,
                "azurite: %s not found or not executable (%s). Install it with scripts/deps.sh "
                "(npm install --prefix .deps/npm azurite), point MM_AZURITE_BIN at azurite-blob, "
                "or set MM_SKIP_AZURITE=1 to skip the Azurite tests.\n",
                bin, strerror(errno));
        return false;
    }
    azurite->dir = mmt_tmpdir("azurite");
    azurite->port = azurite_free_port();
    if (!azurite->dir || azurite->port <= 0) {
        fprintf(stderr, "azurite: no temp dir or free port\n");
        mmt_azurite_stop(azurite);
        return false;
    }
    char port[16], log_path[4200];
    snprintf(port, sizeof(port), "%d", azurite->port);
    snprintf(log_path, sizeof(log_path), "%s/azurite.log", azurite->dir);
    char *argv[] = {bin,
                    "--blobHost",
                    "127.0.0.1",
                    "--blobPort",
                    port,
                    "--inMemoryPersistence",
                    "--silent",
                    "--disableTelemetry",
                    "--skipApiVersionCheck",
                    NULL};
    /* No --location: Azurite refuses it together with --inMemoryPersistence;
     * the temp dir holds only the emulator's log. */
    azurite->pid = mmt_spawn(argv, NULL, log_path);
    if (azurite->pid < 0) {
        fprintf(stderr, "azurite: cannot start %s\n", bin);
        mmt_azurite_stop(azurite);
        return false;
    }
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(20000);
    while (!azurite_port_open(azurite->port)) {
        int status = 0;
        if (waitpid(azurite->pid, &status, WNOHANG) == azurite->pid) {
            fprintf(stderr, "azurite: exited during start-up (status %d)\n", status);
            azurite_print_log(log_path);
            azurite->pid = -1;
            mmt_azurite_stop(azurite);
            return false;
        }
        if (mm_mono_ms() > deadline) {
            fprintf(stderr, "azurite: port %d not open after %lld ms\n", azurite->port,
                    (long long)mmt_timeout_ms(20000));
            azurite_print_log(log_path);
            mmt_azurite_stop(azurite);
            return false;
        }
        mm_sleep_ms(50, NULL);
    }
    char endpoint[128];
    snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d/%s", azurite->port,
             MMT_AZURITE_ACCOUNT);
    azurite->endpoint = strdup(endpoint);
    if (!azurite->endpoint) {
        mmt_azurite_stop(azurite);
        return false;
    }
    return true;
}

void mmt_azurite_stop(mmt_azurite_t *azurite) {
    if (!azurite) return;
    if (azurite->pid > 0) mmt_stop(azurite->pid, mmt_timeout_ms(5000));
    azurite->pid = -1;
    if (azurite->dir) mmt_rmtree(azurite->dir);
    free(azurite->dir);
    azurite->dir = NULL;
    free(azurite->endpoint);
    azurite->endpoint = NULL;
}
