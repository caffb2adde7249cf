/*
 * postgres.c - a throwaway PostgreSQL server for a test (see postgres.h):
 * Debian's server binaries (/usr/lib/postgresql/<version>/bin, or initdb on
 * PATH), a fresh cluster in a temp dir, one server on loopback.
 *
 * Workload: one server per test binary; initdb and start take one to three
 * seconds, so suites share it and give each test a database of its own.
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mm/util.h"
#include "support.h"

#define PG_USER             "mm"
#define PG_START_TIMEOUT_MS 60000
#define PG_INITDB_TIMEOUT   120000
#define PG_STOP_GRACE_MS    30000
#define PG_POLL_MS          100
#define PATH_LEN            4096
#define NO_SERVER                                                                                  \
    "PostgreSQL: no server binaries (initdb, postgres); run scripts/deps.sh (Debian packages "     \
    "postgresql and libpq-dev)"

static bool fail(char *why, size_t why_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool fail(char *why, size_t why_size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_size, fmt, ap);
    va_end(ap);
    return false;
}

/* The directory holding initdb and postgres: Debian's, the newest version installed. */
static bool find_bindir(char *out, size_t size) {
    glob_t g;
    bool found = false;
    if (glob("/usr/lib/postgresql/*/bin/postgres", 0, NULL, &g) == 0 && g.gl_pathc > 0) {
        snprintf(out, size, "%s", g.gl_pathv[g.gl_pathc - 1]); /* sorted: newest last */
        *strrchr(out, '/') = 0;
        found = true;
    }
    globfree(&g);
    return found;
}

/* Who runs the server: ourselves, or (as root) the postgres user. */
typedef struct run_as {
    bool drop;
    uid_t uid;
    gid_t gid;
} run_as_t;

static bool pick_user(run_as_t *as, char *why, size_t why_size) {
    memset(as, 0, sizeof(*as));
    if (geteuid() != 0) return true;
    struct passwd *pw = getpwnam("postgres");
    if (!pw) pw = getpwnam("nobody");
    if (!pw)
        return fail(why, why_size,
                    "PostgreSQL: running as root and there is no 'postgres' user to run the "
                    "server as (Debian's postgresql package creates it)");
    as->drop = true;
    as->uid = pw->pw_uid;
    as->gid = pw->pw_gid;
    return true;
}

/* fork + exec @p argv as @p as, output appended to @p log_path; dies with the test (SIGQUIT:
 * the server's immediate shutdown, which also ends its children). */
static pid_t spawn_as(const run_as_t *as, char *const argv[], const char *log_path) {
    pid_t pid = fork();
    if (pid != 0) return pid;
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGQUIT);
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    unsetenv("BXFI_MAP");
    if (as->drop && (setgroups(0, NULL) != 0 || setgid(as->gid) != 0 || setuid(as->uid) != 0)) {
        fprintf(stderr, "cannot switch to uid %d: %s\n", (int)as->uid, strerror(errno));
        _exit(126);
    }
    execv(argv[0], argv);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* Give @p path to the server's user (as root), private to it. */
static bool hand_over(const run_as_t *as, const char *path, mode_t mode) {
    if (as->drop && chown(path, as->uid, as->gid) != 0) return false;
    return chmod(path, mode) == 0;
}

static char *random_password(void) {
    unsigned char raw[12];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    bool ok = fd >= 0 && read(fd, raw, sizeof(raw)) == (ssize_t)sizeof(raw);
    if (fd >= 0) close(fd);
    if (!ok) return NULL;
    char hex[2 * sizeof(raw) + 4] = "pw";
    for (size_t i = 0; i < sizeof(raw); i++) snprintf(hex + 2 + 2 * i, 3, "%02x", raw[i]);
    return strdup(hex);
}

static bool run_initdb(mmt_pg_t *pg, const run_as_t *as, const char *bindir, char *why,
                       size_t why_size) {
    char initdb[PATH_LEN], data[PATH_LEN], pwfile[PATH_LEN], pwarg[PATH_LEN + 16], log[PATH_LEN];
    snprintf(initdb, sizeof(initdb), "%s/initdb", bindir);
    snprintf(data, sizeof(data), "%s/data", pg->dir);
    snprintf(pwfile, sizeof(pwfile), "%s/pwfile", pg->dir);
    snprintf(pwarg, sizeof(pwarg), "--pwfile=%s", pwfile);
    snprintf(log, sizeof(log), "%s/initdb.log", pg->dir);
    char pwtext[64];
    snprintf(pwtext, sizeof(pwtext), "%s\n", pg->password);
    if (!mmt_write_file(pwfile, pwtext) || !hand_over(as, pwfile, 0600))
        return fail(why, why_size, "PostgreSQL: cannot write %s", pwfile);
    char *argv[] = {
        initdb, "-D",   data,          "-U",        PG_USER, pwarg, "--auth=scram-sha-256",
        "-E",   "UTF8", "--no-locale", "--no-sync", NULL};
    pid_t pid = spawn_as(as, argv, log);
    if (pid < 0) return fail(why, why_size, "PostgreSQL: cannot start %s", initdb);
    int status = mmt_wait(pid, mmt_timeout_ms(PG_INITDB_TIMEOUT));
    if (status < 0) mmt_stop(pid, 0);
    unlink(pwfile);
    if (status != 0) {
        mmt_print_file(log);
        return fail(why, why_size, "PostgreSQL: initdb failed (status %d); its log: %s", status,
                    log);
    }
    return true;
}

bool mmt_pg_start(mmt_pg_t *pg, char *why, size_t why_size) {
    memset(pg, 0, sizeof(*pg));
    char bindir[1024];
    if (!find_bindir(bindir, sizeof(bindir))) return fail(why, why_size, "%s", NO_SERVER);
    run_as_t as;
    if (!pick_user(&as, why, why_size)) return false;
    pg->dir = mmt_tmpdir("pg");
    pg->port = mmt_free_port();
    pg->password = random_password();
    if (!pg->dir || pg->port <= 0 || !pg->password)
        return fail(why, why_size, "PostgreSQL: no temp dir, free loopback port or password");
    if (!hand_over(&as, pg->dir, 0700))
        return fail(why, why_size, "PostgreSQL: cannot give %s to the server's user", pg->dir);
    if (!run_initdb(pg, &as, bindir, why, why_size)) return false;

    char postgres[PATH_LEN], data[PATH_LEN], port[16], log[PATH_LEN];
    snprintf(postgres, sizeof(postgres), "%s/postgres", bindir);
    snprintf(data, sizeof(data), "%s/data", pg->dir);
    snprintf(port, sizeof(port), "%d", pg->port);
    snprintf(log, sizeof(log), "%s/server.log", pg->dir);
    char *argv[] = {postgres,
                    "-D",
                    data,
                    "-p",
                    port,
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "unix_socket_directories=",
                    "-c",
                    "fsync=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=20",
                    NULL};
    int64_t started = mm_mono_ms();
    pg->pid = spawn_as(&as, argv, log);
    if (pg->pid < 0) return fail(why, why_size, "PostgreSQL: cannot start %s", postgres);

    char url[512], ping[600];
    snprintf(url, sizeof(url), "postgresql://" PG_USER ":%s@127.0.0.1:%d/postgres", pg->password,
             pg->port);
    snprintf(ping, sizeof(ping), "%s?connect_timeout=2", url);
    pg->url = strdup(url);
    int64_t deadline = started + mmt_timeout_ms(PG_START_TIMEOUT_MS);
    while (PQping(ping) != PQPING_OK) {
        int status = 0;
        if (waitpid(pg->pid, &status, WNOHANG) == pg->pid) {
            pg->pid = 0;
            mmt_print_file(log);
            return fail(why, why_size, "PostgreSQL exited during start-up; its log: %s", log);
        }
        if (mm_mono_ms() > deadline) {
            mmt_print_file(log);
            return fail(why, why_size,
                        "PostgreSQL did not accept connections on port %d in %lld ms", pg->port,
                        (long long)mmt_timeout_ms(PG_START_TIMEOUT_MS));
        }
        mm_sleep_ms(PG_POLL_MS, NULL);
    }
    fprintf(stderr, "PostgreSQL: up on 127.0.0.1:%d after %lld ms\n", pg->port,
            (long long)(mm_mono_ms() - started));
    return true;
}

char *mmt_pg_create_db(const mmt_pg_t *pg, const char *name, char *why, size_t why_size) {
    PGconn *conn = PQconnectdb(pg->url);
    char sql[256];
    snprintf(sql, sizeof(sql), "CREATE DATABASE \"%s\"", name);
    PGresult *res = PQstatus(conn) == CONNECTION_OK ? PQexec(conn, sql) : NULL;
    bool ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok) fail(why, why_size, "PostgreSQL: %s: %s", sql, PQerrorMessage(conn));
    PQclear(res);
    PQfinish(conn);
    if (!ok) return NULL;
    char url[512];
    snprintf(url, sizeof(url), "postgresql://" PG_USER ":%s@127.0.0.1:%d/%s", pg->password,
             pg->port, name);
    return strdup(url);
}

void mmt_pg_stop(mmt_pg_t *pg) {
    if (!pg) return;
    if (pg->pid > 0) {
        kill(pg->pid, SIGINT); /* fast shutdown: ends the sessions, then the server */
        if (mmt_wait(pg->pid, mmt_timeout_ms(PG_STOP_GRACE_MS)) < 0) {
            kill(pg->pid, SIGQUIT);
            mmt_wait(pg->pid, 10000);
        }
    }
    if (pg->dir) mmt_rmtree(pg->dir);
    free(pg->dir);
    free(pg->password);
    free(pg->url);
    memset(pg, 0, sizeof(*pg));
}
