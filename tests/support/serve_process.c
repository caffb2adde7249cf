/*
 * serve_process.c - `mm-scorer serve` as a child process of a test (see serve_process.h).
 */
#include "serve_process.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "mm/clock.h"
#include "support.h"

#define SERVE_IO_MS 20000 /* per exchange, scaled */

static void arg(mmt_serve_t *s, const char *value) {
    cr_assert_lt(s->argc, (int)(sizeof(s->argv) / sizeof(s->argv[0])) - 1,
                 "too many mm-scorer serve arguments");
    s->argv[s->argc++] = (char *)value;
    s->argv[s->argc] = NULL;
}

void mmt_serve_start(mmt_serve_t *s, const mmt_serve_opts_t *opts) {
    memset(s, 0, sizeof(*s));
    s->pid = -1;
    s->bin = mmt_binary("mm-scorer");
    cr_assert_not_null(s->bin, "mm-scorer is not built");
    s->port = mmt_free_port();
    cr_assert_gt(s->port, 0, "no free loopback port");
    snprintf(s->addr, sizeof(s->addr), "127.0.0.1:%d", s->port);
    snprintf(s->log, sizeof(s->log), "%s", opts->log);
    arg(s, s->bin);
    arg(s, "serve");
    arg(s, "--spec");
    arg(s, opts->spec_path);
    arg(s, "--bootstrap-servers");
    arg(s, opts->bootstrap);
    arg(s, "--blob-url");
    arg(s, opts->blob_url);
    arg(s, "--state");
    arg(s, opts->state);
    arg(s, "--sink");
    arg(s, opts->sink);
    arg(s, "--http-addr");
    arg(s, s->addr);
    for (size_t i = 0; opts->extra && opts->extra[i]; i++) arg(s, opts->extra[i]);
    mmt_serve_restart(s);
}

void mmt_serve_restart(mmt_serve_t *s) {
    char *env[] = {"MM_KAFKA_SESSION_TIMEOUT_MS=6000", NULL};
    s->pid = mmt_spawn(s->argv, env, s->log);
    cr_assert_gt(s->pid, 0, "cannot start mm-scorer serve");
}

/* A connected socket with send and receive timeouts, or -1. */
static int connect_to(const mmt_serve_t *s) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    int64_t ms = mmt_timeout_ms(SERVE_IO_MS);
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int mmt_serve_exchange(const mmt_serve_t *s, const char *request, char *reply, size_t size) {
    reply[0] = '\0';
    int fd = connect_to(s);
    if (fd < 0) return 0;
    size_t len = strlen(request), sent = 0;
    while (sent < len) {
        ssize_t n = send(fd, request + sent, len - sent, MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += (size_t)n;
    }
    size_t got = 0;
    while (got + 1 < size) {
        ssize_t n = recv(fd, reply + got, size - 1 - got, 0);
        if (n <= 0) break;
        got += (size_t)n;
    }
    reply[got] = '\0';
    close(fd);
    if (strncmp(reply, "HTTP/1.", 7) != 0 || got < 12) return 0;
    return atoi(reply + 9);
}

bool mmt_serve_wait_ready(mmt_serve_t *s, int64_t timeout_ms) {
    static char reply[16384];
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(timeout_ms);
    do {
        if (s->pid > 0 && mmt_wait(s->pid, 0) >= 0) {
            s->pid = -1; /* exited: reaped */
            return false;
        }
        if (mmt_serve_exchange(s, "GET /readyz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                               reply, sizeof(reply)) == 200)
            return true;
        mm_sleep_ms(100, NULL);
    } while (mm_mono_ms() < deadline);
    return false;
}

int mmt_serve_stop(mmt_serve_t *s, int64_t grace_ms) {
    if (s->pid <= 0) return -1;
    int status = mmt_stop(s->pid, mmt_timeout_ms(grace_ms));
    s->pid = -1;
    return status;
}

void mmt_serve_destroy(mmt_serve_t *s) {
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        mmt_wait(s->pid, 10000);
    }
    free(s->bin);
    memset(s, 0, sizeof(*s));
    s->pid = -1;
}
