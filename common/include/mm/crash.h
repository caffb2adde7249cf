/*
 * crash.h - named crash points for the fault suite (tests/faults/).
 *
 * mm_crash_point("promoter_after_registry_commit") kills the process with
 * SIGKILL - no cleanup, no flush, as `kill -9` would - when the environment
 * names that point:
 *
 *   MM_CRASH_AT=promoter_after_registry_commit      the first time it is reached
 *   MM_CRASH_AT=scorer_after_answer:7               the 7th time
 *
 * The points exist only in builds configured with MM_CRASH_POINTS=ON (the
 * default of a development tree, so the tests can use them; a release build
 * passes -DMM_CRASH_POINTS=OFF and every point compiles to nothing). An armed
 * point is logged at start-up (a warning), so a stray MM_CRASH_AT in a
 * deployment is visible before it fires. docs/reliability.md lists the points.
 */
#ifndef MM_CRASH_H
#define MM_CRASH_H

#ifdef MM_CRASH_POINTS
/** @brief Read MM_CRASH_AT now and log the armed point (mm_service_start calls it once
 * logging is set up); otherwise the first point reached does. */
void mm_crash_points_init(void);
/** @brief Die here by SIGKILL if MM_CRASH_AT names @p name (and its count is reached).
 * Thread-safe; costs one atomic load when no point is armed. */
void mm_crash_point(const char *name);
#else
#define mm_crash_points_init() ((void)0)
#define mm_crash_point(name)   ((void)(name))
#endif

#endif
