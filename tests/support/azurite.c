/*
 * azurite.c - start and stop an Azurite blob emulator for a test (see
 * azurite.h). One emulator per test process, in memory, on a free loopback
 * port; start-up takes about a second, so suites share one per process. A
 * fault scenario starts one with its data on disk, to kill, pause and
 * restart it.
 */
#include "azurite.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mm/util.h"
#include "support.h"

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

/* The azurite-blob program: MM_AZURITE_BIN, else the one scripts/deps.sh installs. */
static bool azurite_bin(char *bin, size_t size) {
    const char *env_bin = getenv("MM_AZURITE_BIN");
    if (env_bin && *env_bin)
        snprintf(bin, size, "%s", env_bin);
    else
        snprintf(bin, size, "%s/.deps/npm/node_modules/.bin/azurite-blob", MM_SOURCE_DIR);
    if (access(bin, X_OK) != 0) {
        fprintf(stderr,
                "azurite: %s not found or not executable (%s). Install it with scripts/deps.sh "
                "(npm install --prefix .deps/npm azurite), point MM_AZURITE_BIN at azurite-blob, "
                "or set MM_SKIP_AZURITE=1 to skip the Azurite tests.\n",
                bin, strerror(errno));
        return false;
    }
    return true;
}

/* Start the emulator process on azurite->port and wait for the port to open. */
static bool azurite_launch(mmt_azurite_t *azurite) {
    char bin[4096];
    if (!azurite_bin(bin, sizeof(bin))) return false;
    char port[16], log_path[4200], data[4200];
    snprintf(port, sizeof(port), "%d", azurite->port);
    if (azurite->starts == 0)
        snprintf(log_path, sizeof(log_path), "%s/azurite.log", azurite->dir);
    else
        snprintf(log_path, sizeof(log_path), "%s/azurite-%d.log", azurite->dir,
                 azurite->starts + 1);
    snprintf(data, sizeof(data), "%s/data", azurite->dir);
    char *argv[16];
    size_t n = 0;
    argv[n++] = bin;
    argv[n++] = "--blobHost";
    argv[n++] = "127.0.0.1";
    argv[n++] = "--blobPort";
    argv[n++] = port;
    /* No --location in memory: Azurite refuses it together with --inMemoryPersistence;
     * the temp dir then holds only the emulator's log. */
    if (azurite->persistent) {
        argv[n++] = "--location";
        argv[n++] = data;
    } else {
        argv[n++] = "--inMemoryPersistence";
    }
    argv[n++] = "--silent";
    argv[n++] = "--disableTelemetry";
    argv[n++] = "--skipApiVersionCheck";
    argv[n] = NULL;
    char node_options[4400], azurite_dir[4200];
    char *env[3] = {NULL, NULL, NULL};
    if (azurite->persistent) {
        char real[4096];
        if (!realpath(bin, real)) {
            fprintf(stderr, "azurite: %s: %s\n", bin, strerror(errno));
            return false;
        }
        char *slash = strrchr(real, '/');
        if (slash) *slash = 0;
        snprintf(azurite_dir, sizeof(azurite_dir), "MM_AZURITE_DIR=%s", real);
        snprintf(node_options, sizeof(node_options),
                 "NODE_OPTIONS=--require %s/tests/support/azurite_durable.js", MM_SOURCE_DIR);
        env[0] = azurite_dir;
        env[1] = node_options;
    }
    azurite->pid = mmt_spawn(argv, env, log_path);
    if (azurite->pid < 0) {
        fprintf(stderr, "azurite: cannot start %s\n", bin);
        return false;
    }
    azurite->starts++;
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(20000);
    while (!azurite_port_open(azurite->port)) {
        int status = 0;
        if (waitpid(azurite->pid, &status, WNOHANG) == azurite->pid) {
            fprintf(stderr, "azurite: exited during start-up (status %d)\n", status);
            azurite_print_log(log_path);
            azurite->pid = -1;
            return false;
        }
        if (mm_mono_ms() > deadline) {
            fprintf(stderr, "azurite: port %d not open after %lld ms\n", azurite->port,
                    (long long)mmt_timeout_ms(20000));
            azurite_print_log(log_path);
            return false;
        }
        mm_sleep_ms(50, NULL);
    }
    return true;
}

static bool azurite_start(mmt_azurite_t *azurite, bool persistent) {
    memset(azurite, 0, sizeof(*azurite));
    azurite->pid = -1;
    azurite->persistent = persistent;
    char bin[4096];
    if (!azurite_bin(bin, sizeof(bin))) return false;
    azurite->dir = mmt_tmpdir("azurite");
    azurite->port = mmt_free_port();
    if (!azurite->dir || azurite->port <= 0) {
        fprintf(stderr, "azurite: no temp dir or free port\n");
        mmt_azurite_stop(azurite);
        return false;
    }
    if (!azurite_launch(azurite)) {
        mmt_azurite_stop(azurite);
        return false;
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

bool mmt_azurite_start(mmt_azurite_t *azurite) {
    return azurite_start(azurite, false);
}

bool mmt_azurite_start_persistent(mmt_azurite_t *azurite) {
    return azurite_start(azurite, true);
}

void mmt_azurite_kill(mmt_azurite_t *azurite) {
    if (azurite->pid <= 0) return;
    kill(azurite->pid, SIGKILL);
    mmt_wait(azurite->pid, mmt_timeout_ms(10000));
    azurite->pid = -1;
}

bool mmt_azurite_restart(mmt_azurite_t *azurite) {
    if (azurite->pid > 0) mmt_azurite_kill(azurite);
    return azurite_launch(azurite);
}

void mmt_azurite_pause(mmt_azurite_t *azurite) {
    if (azurite->pid > 0) kill(azurite->pid, SIGSTOP);
}

void mmt_azurite_resume(mmt_azurite_t *azurite) {
    if (azurite->pid > 0) kill(azurite->pid, SIGCONT);
}

void mmt_azurite_stop(mmt_azurite_t *azurite) {
    if (!azurite) return;
    if (azurite->pid > 0) kill(azurite->pid, SIGCONT); /* a paused one cannot take SIGTERM */
    if (azurite->pid > 0) mmt_stop(azurite->pid, mmt_timeout_ms(5000));
    azurite->pid = -1;
    if (azurite->dir) mmt_rmtree(azurite->dir);
    free(azurite->dir);
    azurite->dir = NULL;
    free(azurite->endpoint);
    azurite->endpoint = NULL;
}
