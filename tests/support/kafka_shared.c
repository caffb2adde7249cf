/*
 * kafka_shared.c - mmt-kafka-shared: one real Kafka broker for a whole CTest
 * run (docs/testing.md, "One broker per run"). CTest's fixture test
 * kafka_broker_start runs `mmt-kafka-shared start <dir>`, kafka_broker_stop
 * runs `mmt-kafka-shared stop <dir>`; the tests in between read the broker's
 * address from <dir>/bootstrap (MM_TEST_KAFKA_BOOTSTRAP_FILE,
 * tests/support/broker.c) and keep to topics of their own.
 *
 * `start` forks a supervisor that outlives it: the supervisor starts the
 * broker (tests/support/kafka_real.c; the JVM dies with the supervisor),
 * writes <dir>/bootstrap and <dir>/pid, reports to `start` through a pipe and
 * then waits for SIGTERM (from `stop`), for the process that ran `start`
 * (CTest) to be gone, or for the broker to die. So an interrupted run leaves
 * no broker behind, and a supervisor found running belongs to a run still
 * going: `start` then fails rather than take the directory over. Its output goes to
 * <dir>/supervisor.log: CTest waits for the output pipes of a test to close, and the supervisor
 * must not hold them.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kafka_real.h"
#include "mm/util.h"
#include "support.h"

#define SHARED_PARTITIONS 4
#define WATCH_POLL_MS     500
#define STOP_WAIT_MS      60000
#define PROGRAM_NAME      "mmt-kafka-shared"
#define REPORT_MAX        2048

static volatile int stop_requested;

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

static void path_in(char *out, size_t size, const char *dir, const char *name) {
    snprintf(out, size, "%s/%s", dir, name);
}

/* Write @p text to @p path through a temporary file and rename: readers see all or nothing. */
static bool write_atomic(const char *dir, const char *name, const char *text) {
    char tmp[4096], path[4096];
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
    path_in(path, sizeof(path), dir, name);
    return mmt_write_file(tmp, text) && rename(tmp, path) == 0;
}

/* @returns the supervisor's pid from <dir>/pid when that process is still this program, else 0. */
static pid_t running_supervisor(const char *dir) {
    char path[4096], text[64] = "";
    path_in(path, sizeof(path), dir, "pid");
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    bool read = fgets(text, sizeof(text), f) != NULL;
    fclose(f);
    int64_t pid = 0;
    text[strcspn(text, "\n")] = '\0';
    if (!read || !mm_parse_i64(text, &pid) || pid <= 1) return 0;
    /* A pid file outlives its process, and the id may be reused: check what runs under it. */
    char cmdline_path[64], cmdline[4096] = "";
    snprintf(cmdline_path, sizeof(cmdline_path), "/proc/%lld/cmdline", (long long)pid);
    f = fopen(cmdline_path, "r");
    if (!f) return 0;
    size_t n = fread(cmdline, 1, sizeof(cmdline) - 1, f);
    fclose(f);
    cmdline[n] = '\0';
    const char *base = strrchr(cmdline, '/');
    return strcmp(base ? base + 1 : cmdline, PROGRAM_NAME) == 0 ? (pid_t)pid : 0;
}

/* SIGTERM the supervisor and wait until it is gone (SIGKILL after the wait). */
static void terminate_supervisor(pid_t pid) {
    kill(pid, SIGTERM);
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(STOP_WAIT_MS);
    while (kill(pid, 0) == 0 && mm_mono_ms() < deadline) mm_sleep_ms(100, NULL);
    if (kill(pid, 0) == 0) {
        fprintf(stderr, PROGRAM_NAME ": supervisor %ld still running; SIGKILL\n", (long)pid);
        kill(pid, SIGKILL); /* the broker dies with it (PR_SET_PDEATHSIG) */
    }
}

/* The supervisor: start the broker, report on @p report_fd, keep it until told to stop. */
static int supervise(const char *dir, pid_t watched, int report_fd) {
    setsid();
    char path[4096];
    path_in(path, sizeof(path), dir, "supervisor.log");
    int log_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (log_fd < 0 || null_fd < 0) {
        dprintf(report_fd, "fail cannot open %s: %s\n", path, strerror(errno));
        return 1;
    }
    dup2(null_fd, STDIN_FILENO);
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    mmt_kafka_t kafka;
    char why[1024] = "";
    if (!mmt_kafka_start(&kafka, SHARED_PARTITIONS, why, sizeof(why))) {
        fprintf(stderr, "%s\n", why);
        dprintf(report_fd, "fail %s\n", why);
        mmt_kafka_stop(&kafka);
        return 1;
    }
    char pid_text[32];
    snprintf(pid_text, sizeof(pid_text), "%ld\n", (long)getpid());
    if (!write_atomic(dir, "pid", pid_text) || !write_atomic(dir, "bootstrap", kafka.bootstrap)) {
        dprintf(report_fd, "fail cannot write the pid and bootstrap files in %s\n", dir);
        mmt_kafka_stop(&kafka);
        return 1;
    }
    dprintf(report_fd, "ok %s (broker log: %s/broker.log)\n", kafka.bootstrap, kafka.dir);
    close(report_fd);

    const char *why_stop = "stop requested";
    while (!stop_requested) {
        if (kill(watched, 0) != 0 && errno == ESRCH) {
            why_stop = "the process that started it is gone";
            break;
        }
        int status = 0;
        if (waitpid(kafka.pid, &status, WNOHANG) == kafka.pid) {
            kafka.pid = 0;
            why_stop = "the broker exited";
            break;
        }
        mm_sleep_ms(WATCH_POLL_MS, &stop_requested);
    }
    fprintf(stderr, PROGRAM_NAME ": stopping the broker on %s: %s\n", kafka.bootstrap, why_stop);
    path_in(path, sizeof(path), dir, "bootstrap");
    unlink(path);
    mmt_kafka_stop(&kafka);
    path_in(path, sizeof(path), dir, "pid");
    unlink(path);
    return 0;
}

static int start(const char *dir) {
    char path[4096];
    path_in(path, sizeof(path), dir, "bootstrap");
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, PROGRAM_NAME ": cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    /* A supervisor ends with the process that started it, so one still running belongs to a run
     * still going (or to a shell): two runs must not share one directory. */
    pid_t running = running_supervisor(dir);
    if (running > 0) {
        fprintf(stderr,
                PROGRAM_NAME ": a shared broker is already up for %s (supervisor pid %ld), for "
                             "another run in this build directory; stop it with `" PROGRAM_NAME
                             " stop %s`\n",
                dir, (long)running, dir);
        return 1;
    }
    unlink(path);
    if (mmt_kafka_skipped()) {
        printf("MM_SKIP_REAL_KAFKA=1: no shared broker (the real-broker tests skip)\n");
        return 0;
    }
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        fprintf(stderr, PROGRAM_NAME ": pipe: %s\n", strerror(errno));
        return 1;
    }
    fflush(NULL);
    pid_t watched = getppid();
    pid_t child = fork();
    if (child < 0) {
        fprintf(stderr, PROGRAM_NAME ": fork: %s\n", strerror(errno));
        return 1;
    }
    if (child == 0) {
        close(fds[0]);
        _exit(supervise(dir, watched, fds[1]));
    }
    close(fds[1]);
    /* The supervisor's start-up is bounded by kafka_real.c's own timeouts. */
    char report[REPORT_MAX];
    size_t n = 0;
    for (;;) {
        ssize_t got = read(fds[0], report + n, sizeof(report) - 1 - n);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        n += (size_t)got;
        if (n == sizeof(report) - 1 || memchr(report, '\n', n)) break;
    }
    close(fds[0]);
    report[n] = '\0';
    if (strncmp(report, "ok ", 3) == 0) {
        printf("shared Kafka broker up on %s", report + 3);
        printf("supervisor pid %ld; address in %s\n", (long)child, path);
        return 0;
    }
    fprintf(stderr, PROGRAM_NAME ": the shared broker did not start: %s\n",
            n ? report : "the supervisor exited without a word");
    path_in(path, sizeof(path), dir, "supervisor.log");
    mmt_print_file(path);
    waitpid(child, NULL, 0);
    return 1;
}

static int stop(const char *dir) {
    pid_t pid = running_supervisor(dir);
    if (pid <= 0) {
        printf("no shared Kafka broker running for %s\n", dir);
        return 0;
    }
    terminate_supervisor(pid);
    printf("shared Kafka broker stopped (supervisor pid %ld)\n", (long)pid);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "start") == 0) return start(argv[2]);
    if (argc == 3 && strcmp(argv[1], "stop") == 0) return stop(argv[2]);
    fprintf(stderr, "usage: " PROGRAM_NAME " start|stop <dir>\n");
    return 2;
}
