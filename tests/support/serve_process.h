/*
 * serve_process.h - the mm-scorer binary in serve mode as a child process of a test:
 * started on a loopback port with the given spec, broker, blob store, state
 * store and sink (plus any extra options), waited for until /readyz answers
 * 200, and restarted on the same port after a kill.
 */
#ifndef MM_TEST_SERVE_PROCESS_H
#define MM_TEST_SERVE_PROCESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct mmt_serve_opts {
    const char *spec_path;
    const char *bootstrap;
    const char *blob_url;
    const char *state;        /* the scorer's state store (--state) */
    const char *sink;         /* --sink */
    const char *log;          /* stdout and stderr appended here */
    const char *const *extra; /* more arguments (NULL-terminated; may be NULL) */
} mmt_serve_opts_t;

typedef struct mmt_serve {
    pid_t pid; /* -1 when not running */
    int port;  /* 127.0.0.1:port, kept across restarts */
    char *bin;
    char *argv[48];
    int argc;
    char addr[64];
    char log[4200];
} mmt_serve_t;

/**
 * @brief Start `mm-scorer serve` with @p opts on a free loopback port
 * (`--http-addr 127.0.0.1:<port>`, `MM_KAFKA_SESSION_TIMEOUT_MS=6000`).
 * Fails the test when it cannot be started. The options' strings are
 * borrowed until mmt_serve_destroy().
 */
void mmt_serve_start(mmt_serve_t *s, const mmt_serve_opts_t *opts);

/** @brief Start it again with the same arguments and port (after it stopped or was killed). */
void mmt_serve_restart(mmt_serve_t *s);

/**
 * @brief Poll GET /readyz until it answers 200 or @p timeout_ms (scaled) passes.
 * @returns true when ready; false on timeout or when the process exited.
 */
bool mmt_serve_wait_ready(mmt_serve_t *s, int64_t timeout_ms);

/**
 * @brief One HTTP/1.1 exchange on a new connection to the server: @p request is sent
 * as given (request line, headers, body) and the reply read until the server closes.
 * @param reply receives the reply, NUL-terminated (size > 0).
 * @returns the status code, or 0 when the connection failed or nothing parsable came back.
 */
int mmt_serve_exchange(const mmt_serve_t *s, const char *request, char *reply, size_t size);

/** @brief SIGTERM, wait up to @p grace_ms (scaled), then SIGKILL; @returns status as mmt_wait. */
int mmt_serve_stop(mmt_serve_t *s, int64_t grace_ms);

/** @brief Stop it if running (SIGKILL) and free what mmt_serve_start allocated. */
void mmt_serve_destroy(mmt_serve_t *s);

#endif
