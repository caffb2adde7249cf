/*
 * support.h - shared test helpers: temporary directories, timeouts scaled by
 * MM_TEST_TIMEOUT_MULT, child processes of the built binaries.
 */
#ifndef MM_TEST_SUPPORT_H
#define MM_TEST_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/** @returns @p ms scaled by MM_TEST_TIMEOUT_MULT (default 1). */
int64_t mmt_timeout_ms(int64_t ms);

/** @brief Create a fresh temporary directory (under $TMPDIR); @returns malloc'd path. */
char *mmt_tmpdir(const char *tag);
/** @brief rm -rf @p path (best effort). */
void mmt_rmtree(const char *path);

/** @returns malloc'd absolute path of a built binary ("mm-trainer" ->
 * build/services/trainer/mm-trainer). */
char *mmt_binary(const char *name);

/**
 * @brief Start @p argv[0] (a path) with extra environment "K=V" entries,
 * stdout and stderr appended to @p log_path (NULL: inherit). @returns pid or -1.
 */
pid_t mmt_spawn(char *const argv[], char *const env_extra[], const char *log_path);
/** @brief Wait up to @p timeout_ms; @returns exit status (0..255), 128+signal, or -1 on timeout. */
int mmt_wait(pid_t pid, int64_t timeout_ms);
/** @brief SIGTERM, wait up to @p grace_ms, then SIGKILL; @returns status as mmt_wait. */
int mmt_stop(pid_t pid, int64_t grace_ms);

/** @brief Wait until @p path exists and is non-empty. */
bool mmt_wait_file(const char *path, int64_t timeout_ms);
/** @brief Write @p text to @p path. */
bool mmt_write_file(const char *path, const char *text);

/** @returns a loopback TCP port that was free a moment ago (bound to port 0, then closed), or -1.
 */
int mmt_free_port(void);

/** @returns true with the absolute path of `java` ($JAVA_HOME/bin/java, then $PATH) in @p out. */
bool mmt_find_java(char *out, size_t out_size);

/** @brief Copy the file at @p path to stderr between marker lines (a child's log on failure). */
void mmt_print_file(const char *path);

#endif
