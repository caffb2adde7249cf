/*
 * redact.h - the one redaction every text leaving a process goes through:
 * log lines, error messages printed or logged, dead-letter reasons,
 * --dump-config and /metrics.
 *
 * Two kinds of rules are applied to any string:
 *
 *  - shapes that always carry a secret, wherever they appear:
 *      the value of a `sig` query parameter (an Azure SAS signature):
 *        `?sv=2022&sig=AbC%2B` -> `?sv=2022&sig=***`;
 *      the password of URL userinfo: `postgresql://app:pw@db/x` ->
 *        `postgresql://app:***@db/x`;
 *      a `password=` keyword value (libpq conninfo, URL queries):
 *        `host=db password=pw` -> `host=db password=***`;
 *  - the values registered at start-up (blob account key, SAS token, Kafka
 *    sasl.password / ssl.key.password, bearer tokens, PostgreSQL password),
 *    replaced wherever they occur, also in their percent-encoded form.
 *
 * Registration happens once per process, before threads start (mm_conf_parse
 * registers every secret property of the table and every secret librdkafka
 * property); redaction is thread-safe and may run on any thread.
 */
#ifndef MM_REDACT_H
#define MM_REDACT_H

#include <stdbool.h>
#include <stddef.h>

#include "mm/err.h"

/** What a redacted secret is replaced by. */
#define MM_REDACTED "***"

/** Registered values shorter than this are not replaced inside other text
 * (they would blank out ordinary words); they are still hidden where they
 * are shown as a value of their own (--dump-config). */
#define MM_REDACT_MIN_LEN 4

/** At most this many values are registered; more is a configuration error. */
#define MM_REDACT_MAX_SECRETS 64

/**
 * @brief Register @p secret: every later redaction replaces it (and its
 * percent-encoded form) by MM_REDACTED.
 * @returns MM_OK (also for NULL, empty, too short or already registered
 *          values, which change nothing), MM_ERR_NOMEM, or MM_ERR_CONFIG when
 *          MM_REDACT_MAX_SECRETS values are registered already.
 */
mm_err_t mm_redact_register(const char *secret);

/**
 * @brief Register the secrets a URL or connection string carries: the `sig`
 * query value, the userinfo password, a `password=` value. Text without any
 * is ignored.
 */
mm_err_t mm_redact_register_url(const char *url);

/** @brief Forget every registered value (tests). */
void mm_redact_reset(void);

/** @returns the number of registered values (each form counts once). */
size_t mm_redact_count(void);

/**
 * @brief A redacted copy of @p text.
 * @returns a new string (caller frees with free()); NULL if @p text is NULL
 *          or memory runs out.
 */
char *mm_redact(const char *text);

/**
 * @brief Redact @p text into @p out (truncated to @p out_size - 1 bytes, always
 * NUL-terminated). @p text and @p out may be the same buffer.
 * @returns the length written. Without memory to work in, @p out receives
 *          MM_REDACTED alone rather than unredacted text.
 */
size_t mm_redact_into(const char *text, char *out, size_t out_size);

/** @returns true if @p text contains something redaction would replace. */
bool mm_redact_needed(const char *text);

#endif
