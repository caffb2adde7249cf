/*
 * support.c - shared test helpers (see support.h): temporary directories,
 * scaled timeouts, and child processes of the built binaries.
 */
#include "support.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mm/util.h"

extern char **environ;

int64_t mmt_timeout_ms(int64_t ms) {
    const char *mult = getenv("MM_TEST_TIMEOUT_MULT");
    double m = 1.0;
    if (mult && mm_parse_double(mult, &m, false) && m > 0) return (int64_t)((double)ms * m);
    return ms;
}

char *mmt_tmpdir(const char *tag) {
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    char path[4096];
    snprintf(path, sizeof(path), "%s/mmtest-%s-XXXXXX", base, tag ? tag : "t");
    if (!mkdtemp(path)) return NULL;
    return strdup(path);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void mmt_rmtree(const char *path) {
    if (!path || !*path || strcmp(path, "/") == 0) return;
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

char *mmt_binary(const char *name) {
    static const char *const dirs[] = {"services/ingest", "services/trainer", "services/promoter",
                                       "services/scorer", "tools/devbroker",  "tools/mmctl",
                                       "tools/datagen"};
    char path[4096];
    for (size_t i = 0; i < MM_ARRAY_SIZE(dirs); i++) {
        snprintf(path, sizeof(path), "%s/%s/%s", MM_BINARY_DIR, dirs[i], name);
        if (access(path, X_OK) == 0) return strdup(path);
    }
    return NULL;
}

pid_t mmt_spawn(char *const argv[], char *const env_extra[], const char *log_path) {
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid > 0) return pid;
    /* child: dies with the test process, so a killed test leaves nothing running */
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (log_path) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    unsetenv("BXFI_MAP"); /* the test runner's own channel: not for the programs under test */
    for (size_t i = 0; env_extra && env_extra[i]; i++) putenv(env_extra[i]);
    execv(argv[0], argv);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

int mmt_wait(pid_t pid, int64_t timeout_ms) {
    int64_t end = mm_mono_ms() + timeout_ms;
    for (;;) {
        int status = 0;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            if (WIFEXITED(status)) return WEXITSTATUS(status);
            if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
            return -1;
        }
        if (r < 0 && errno != EINTR) return -1;
        if (mm_mono_ms() >= end) return -1;
        mm_sleep_ms(20, NULL);
    }
}

int mmt_stop(pid_t pid, int64_t grace_ms) {
    if (pid <= 0) return -1;
    kill(pid, SIGTERM);
    int st = mmt_wait(pid, grace_ms);
    if (st >= 0) return st;
    kill(pid, SIGKILL);
    return mmt_wait(pid, 10000);
}

bool mmt_wait_file(const char *path, int64_t timeout_ms) {
    int64_t end = mm_mono_ms() + timeout_ms;
    while (mm_mono_ms() < end) {
        struct stat st;
        if (stat(path, &st) == 0 && st.st_size > 0) return true;
        mm_sleep_ms(20, NULL);
    }
    return false;
}

bool mmt_write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    size_t len = strlen(text);
    bool ok = fwrite(text, 1, len, f) == len;
    return fclose(f) == 0 && ok;
}

int mmt_free_port(void) {
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

bool mmt_find_java(char *out, size_t out_size) {
    const char *home = getenv("JAVA_HOME");
    if (home && *home) {
        snprintf(out, out_size, "%s/bin/java", home);
        if (access(out, X_OK) == 0) return true;
    }
    const char *path = getenv("PATH");
    if (!path) return false;
    const char *dir = path;
    while (*dir) {
        size_t len = strcspn(dir, ":");
        snprintf(out, out_size, "%.*s/java", (int)len, dir);
        if (len > 0 && access(out, X_OK) == 0) return true;
        dir += len;
        if (*dir == ':') dir++;
    }
    return false;
}

void mmt_print_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[1024];
    fprintf(stderr, "---- %s ----\n", path);
    while (fgets(line, sizeof(line), f)) fputs(line, stderr);
    fclose(f);
}
