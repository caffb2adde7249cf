/*
 * control.h - the dev broker's control channel: a loopback TCP port that
 * takes one fault-injection command per line and answers one line per
 * command (commands.h; docs/ARCHITECTURE.md, "The dev broker").
 */
#ifndef MM_DEVBROKER_CONTROL_H
#define MM_DEVBROKER_CONTROL_H

#include <stddef.h>

#include "commands.h"
#include "mm/err.h"

typedef struct mm_devbroker_control mm_devbroker_control_t;

/**
 * @brief Listen on an ephemeral port of 127.0.0.1.
 * @param commands what the received lines are run against (borrowed; must
 *        outlive the channel).
 * @param errstr receives why on failure.
 * @param errstr_size room in @p errstr.
 * @returns the channel, or NULL (MM_ERR_IO class: socket, bind or listen failed).
 */
mm_devbroker_control_t *mm_devbroker_control_open(mm_devbroker_commands_t *commands, char *errstr,
                                                  size_t errstr_size);

/** @returns the channel's address, "127.0.0.1:<port>" (valid until close). */
const char *mm_devbroker_control_address(const mm_devbroker_control_t *control);

/**
 * @brief Wait up to @p timeout_ms for connections and command lines, and
 * answer every complete line received.
 * @param control the channel.
 * @param timeout_ms longest wait when nothing arrives.
 */
void mm_devbroker_control_serve(mm_devbroker_control_t *control, int timeout_ms);

/** @brief Close every connection and the listener. Accepts NULL. */
void mm_devbroker_control_close(mm_devbroker_control_t *control);

#endif
