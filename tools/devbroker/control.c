/*
 * control.c - the dev broker's control channel (see control.h): a listener
 * on 127.0.0.1, a few connections, line framing with a bounded line, and
 * one answer line per command line, all on the broker's main thread.
 *
 * Workload: a test harness or a person with nc sending a handful of short
 * commands; a client that sends an over-long line gets an error for it and
 * the rest of that line is skipped, one that stops reading its answers is
 * dropped, and neither can stall the broker.
 */
#include "control.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mm/err.h"
#include "mm/log.h"

/* Connections served at once; more are told so and closed. */
#define CONTROL_MAX_CLIENTS 8
/* Longest command line, newline excluded. */
#define CONTROL_LINE_MAX 1000
/* Longest answer line, newline excluded. */
#define CONTROL_ANSWER_MAX 1024
#define CONTROL_BACKLOG    8

typedef struct control_client {
    int fd; /* -1: free slot */
    char line[CONTROL_LINE_MAX + 1];
    size_t len;
    bool skipping; /* inside an over-long line, until its newline */
} control_client_t;

struct mm_devbroker_control {
    int listen_fd;
    char address[64];
    mm_devbroker_commands_t *commands;
    control_client_t clients[CONTROL_MAX_CLIENTS];
};

static bool set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL, 0);
    return flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

/* Best effort: answers are short, so a full socket buffer means a client that does not read. */
static bool send_line(int fd, const char *text) {
    char buf[CONTROL_ANSWER_MAX + 2];
    int n = snprintf(buf, sizeof(buf), "%s\n", text);
    if (n < 0) return false;
    size_t len = (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1;
    if ((size_t)n >= sizeof(buf)) buf[len - 1] = '\n';
    ssize_t sent = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    return sent == (ssize_t)len;
}

static void client_close(control_client_t *client) {
    if (client->fd >= 0) close(client->fd);
    client->fd = -1;
    client->len = 0;
    client->skipping = false;
}

mm_devbroker_control_t *mm_devbroker_control_open(mm_devbroker_commands_t *commands, char *errstr,
                                                  size_t errstr_size) {
    mm_devbroker_control_t *control = calloc(1, sizeof(*control));
    if (!control) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "control channel: out of memory");
        return NULL;
    }
    control->commands = commands;
    for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) control->clients[i].fd = -1;
    control->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t addr_len = sizeof(addr);
    if (control->listen_fd < 0 ||
        bind(control->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
        listen(control->listen_fd, CONTROL_BACKLOG) != 0 ||
        getsockname(control->listen_fd, (struct sockaddr *)&addr, &addr_len) != 0 ||
        !set_nonblocking(control->listen_fd)) {
        mm_errf(MM_ERR_IO, errstr, errstr_size, "control channel on 127.0.0.1: %s",
                strerror(errno));
        mm_devbroker_control_close(control);
        return NULL;
    }
    snprintf(control->address, sizeof(control->address), "127.0.0.1:%u",
             (unsigned)ntohs(addr.sin_port));
    return control;
}

const char *mm_devbroker_control_address(const mm_devbroker_control_t *control) {
    return control->address;
}

static void accept_clients(mm_devbroker_control_t *control) {
    for (;;) {
        int fd = accept4(control->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return; /* EAGAIN: no more waiting; other errors: retried on the next poll */
        control_client_t *slot = NULL;
        for (int i = 0; i < CONTROL_MAX_CLIENTS && !slot; i++)
            if (control->clients[i].fd < 0) slot = &control->clients[i];
        if (!slot) {
            send_line(fd, "error too many control connections");
            close(fd);
            continue;
        }
        slot->fd = fd;
        slot->len = 0;
        slot->skipping = false;
    }
}

static void run_line(mm_devbroker_control_t *control, control_client_t *client) {
    char answer[CONTROL_ANSWER_MAX];
    client->line[client->len] = '\0';
    if (client->len > 0 && client->line[client->len - 1] == '\r')
        client->line[--client->len] = '\0';
    client->len = 0;
    const char *p = client->line;
    while (*p == ' ' || *p == '\t') p++;
    if (!*p) return; /* a blank line is no command and gets no answer */
    bool applied = mm_devbroker_command_run(control->commands, p, answer, sizeof(answer));
    mm_logj(applied ? MM_LOG_INFO : MM_LOG_WARN, "control_command",
            json_pack("{s:s, s:s}", "command", p, "answer", answer), "%s -> %s", p, answer);
    if (!send_line(client->fd, answer)) client_close(client);
}

/* Read what @p client sent and answer its complete lines; closes it on EOF or error. */
static void serve_client(mm_devbroker_control_t *control, control_client_t *client) {
    char buf[512];
    ssize_t n = recv(client->fd, buf, sizeof(buf), 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        client_close(client);
        return;
    }
    for (ssize_t i = 0; i < n && client->fd >= 0; i++) {
        char ch = buf[i];
        if (ch == '\n') {
            if (client->skipping) {
                client->skipping = false;
                client->len = 0;
            } else {
                run_line(control, client);
            }
        } else if (client->skipping) {
            continue;
        } else if (client->len == CONTROL_LINE_MAX || ch == '\0') {
            char answer[128];
            if (ch == '\0')
                snprintf(answer, sizeof(answer), "error NUL byte in a command line");
            else
                snprintf(answer, sizeof(answer), "error line longer than %d bytes",
                         CONTROL_LINE_MAX);
            client->skipping = true;
            client->len = 0;
            if (!send_line(client->fd, answer)) client_close(client);
        } else {
            client->line[client->len++] = ch;
        }
    }
}

void mm_devbroker_control_serve(mm_devbroker_control_t *control, int timeout_ms) {
    struct pollfd fds[CONTROL_MAX_CLIENTS + 1];
    control_client_t *owners[CONTROL_MAX_CLIENTS + 1];
    nfds_t n = 0;
    fds[n].fd = control->listen_fd;
    fds[n].events = POLLIN;
    owners[n++] = NULL;
    for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
        if (control->clients[i].fd < 0) continue;
        fds[n].fd = control->clients[i].fd;
        fds[n].events = POLLIN;
        owners[n++] = &control->clients[i];
    }
    if (poll(fds, n, timeout_ms) <= 0) return;
    for (nfds_t i = 1; i < n; i++)
        if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) serve_client(control, owners[i]);
    if (fds[0].revents & POLLIN) accept_clients(control);
}

void mm_devbroker_control_close(mm_devbroker_control_t *control) {
    if (!control) return;
    for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) client_close(&control->clients[i]);
    if (control->listen_fd >= 0) close(control->listen_fd);
    free(control);
}
