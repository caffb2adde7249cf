/*
 * test_devbroker_control.c - the dev broker's control channel
 * (tools/devbroker/control.c, commands.c): every command answers one line,
 * bad input gets a clear error and leaves the broker serving, and the
 * cluster-wide/per-broker error quirk is refused rather than ignored.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "broker.h"
#include "faults.h"
#include "mm/kafka.h"
#include "support.h"

#define ANSWER_MAX 2048

static mmt_broker_t broker;

static void start_two_brokers(void) {
    mmt_broker_opts_t opts = {.partitions = 2, .brokers = 2, .control = true};
    mmt_broker_start_with(&broker, &opts);
}

static void stop_broker(void) {
    mmt_broker_stop(&broker);
}

/* Fail unless @p command is refused with an answer containing @p why. */
static void expect_refused(const char *command, const char *why) {
    char answer[ANSWER_MAX];
    cr_expect_not(mmt_broker_control(&broker, command, answer, sizeof(answer)), "'%s' was accepted",
                  command);
    cr_expect(strncmp(answer, "error ", 6) == 0 && strstr(answer, why),
              "'%s' answered '%s', expected an error about '%s'", command, answer, why);
}

TestSuite(devbroker_control, .init = start_two_brokers, .fini = stop_broker, .timeout = 60);

Test(devbroker_control, help_lists_every_command) {
    char answer[ANSWER_MAX];
    cr_assert(mmt_broker_control(&broker, "help", answer, sizeof(answer)), "%s", answer);
    const char *commands[] = {"broker down",         "broker rtt",
                              "request-errors",      "broker-request-errors",
                              "partition leader",    "broker-request-errors-count",
                              "clear-request-errors"};
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        cr_expect(strstr(answer, commands[i]), "help does not mention %s: %s", commands[i], answer);
}

Test(devbroker_control, valid_commands_answer_ok) {
    mmt_broker_control_ok(&broker, "broker down 2");
    mmt_broker_control_ok(&broker, "broker up all");
    mmt_broker_control_ok(&broker, "broker rtt 1 20");
    mmt_broker_control_ok(&broker, "broker rtt all 0");
    mmt_broker_control_ok(&broker, "request-errors Produce NOT_LEADER_FOR_PARTITION 7 -195");
    mmt_broker_control_ok(&broker, "clear-request-errors 0");
    mmt_broker_control_ok(&broker, "broker-request-errors 2 Fetch 1:10 0:0");
    mmt_broker_control_ok(&broker, "partition leader " MM_TOPIC_OBSERVATIONS " 1 2");
    mmt_broker_control_ok(&broker, "partition leader " MM_TOPIC_OBSERVATIONS " 1 none");
    char answer[ANSWER_MAX];
    cr_assert(
        mmt_broker_control(&broker, "broker-request-errors-count 2 Fetch", answer, sizeof(answer)),
        "%s", answer);
    cr_expect_str_eq(answer, "ok 2");
}

Test(devbroker_control, bad_commands_get_a_clear_error_and_the_broker_keeps_serving) {
    expect_refused("frobnicate", "unknown command");
    expect_refused("broker down", "usage");
    expect_refused("broker down 3", "expected 1..2");
    expect_refused("broker down one", "broker id");
    expect_refused("broker rtt 1 -5", "rtt");
    expect_refused("request-errors Produce", "usage");
    expect_refused("request-errors Produce NO_SUCH_ERROR", "not a librdkafka error");
    expect_refused("request-errors 99999 6", "ApiKey");
    expect_refused("broker-request-errors 1 Produce 6:abc", "rtt");
    expect_refused("partition leader " MM_TOPIC_OBSERVATIONS " 99 1", "Unknown topic or partition");
    expect_refused("partition leader " MM_TOPIC_OBSERVATIONS " -1 1", "partition");

    char long_line[4096];
    memset(long_line, 'x', sizeof(long_line) - 1);
    long_line[sizeof(long_line) - 1] = '\0';
    expect_refused(long_line, "line longer than");
    /* The rest of the over-long line was skipped: the next command is read cleanly. */
    mmt_broker_control_ok(&broker, "help");
}

Test(devbroker_control, cluster_wide_errors_are_refused_where_a_broker_has_its_own_stack) {
    mmt_broker_control_ok(&broker, "broker-request-errors 1 Produce 6");
    expect_refused("request-errors Produce 6", "broker 1 has its own error stack");
    /* Other request types are unaffected. */
    mmt_broker_control_ok(&broker, "request-errors Heartbeat 25");
}
