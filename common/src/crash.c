/*
 * crash.c - named crash points (see crash.h). MM_CRASH_AT is read once, on
 * the first point reached; from then on a point that is not armed costs a
 * string compare against the armed name, and nothing at all when none is.
 */
#include "mm/crash.h"

#ifdef MM_CRASH_POINTS

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mm/log.h"
#include "mm/util.h"

static pthread_once_t crash_once = PTHREAD_ONCE_INIT;
static char crash_name[128];
static long crash_at = 1;
static atomic_long crash_hits;

static void crash_arm(void) {
    const char *spec = getenv("MM_CRASH_AT");
    if (!spec || !*spec) return;
    const char *colon = strchr(spec, ':');
    size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
    if (len == 0 || len >= sizeof(crash_name)) return;
    if (colon) {
        int64_t n;
        if (!mm_parse_i64(colon + 1, &n) || n < 1) {
            mm_log_warn("crash_point",
                        "MM_CRASH_AT=%s: the count must be a positive integer; "
                        "no crash point armed",
                        spec);
            return;
        }
        crash_at = (long)n;
    }
    memcpy(crash_name, spec, len);
    crash_name[len] = 0;
    mm_log_warn("crash_point", "crash point %s armed: the process kills itself there (hit %ld)",
                crash_name, crash_at);
}

void mm_crash_points_init(void) {
    pthread_once(&crash_once, crash_arm);
}

void mm_crash_point(const char *name) {
    pthread_once(&crash_once, crash_arm);
    if (!crash_name[0] || strcmp(name, crash_name) != 0) return;
    if (atomic_fetch_add(&crash_hits, 1) + 1 != crash_at) return;
    mm_log_warn("crash_point", "crash point %s reached: SIGKILL", name);
    kill(getpid(), SIGKILL);
    _exit(137); /* not reached */
}

#endif
