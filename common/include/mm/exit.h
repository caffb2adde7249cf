/*
 * exit.h - the one exit-status convention of every manymodels binary
 * (services and tools; docs/operations.md, "Exit status").
 *
 * Usage and configuration errors take the values of BSD <sysexits.h>
 * (EX_USAGE, EX_CONFIG), so they never collide with a program's own
 * outcomes in the small numbers. A long-running service stopped by
 * SIGINT/SIGTERM exits MM_EXIT_OK; a job (mm-ingest, mm-scorer's batch run)
 * stopped before it finished exits MM_EXIT_INTERRUPTED.
 */
#ifndef MM_EXIT_H
#define MM_EXIT_H

enum {
    MM_EXIT_OK = 0,          /* done; or a service stopped by a signal */
    MM_EXIT_FAILURE = 1,     /* runtime failure: broker, blob store, I/O, a failed delivery */
    MM_EXIT_PARTIAL = 2,     /* finished, but some inputs were not processed (dead letters,
                                keys that could not be scored) */
    MM_EXIT_NOT_FOUND = 3,   /* a tool: what was asked for does not exist */
    MM_EXIT_INTERRUPTED = 4, /* a job stopped by SIGINT/SIGTERM before it finished */
    MM_EXIT_USAGE = 64,      /* the command line or MM_* environment does not parse:
                                unknown flag, malformed or out-of-range value, missing setting */
    MM_EXIT_CONFIG = 78,     /* the settings parse but cannot be used: invalid dataset spec,
                                no bootstrap servers, an address that does not parse, ... */
};

#endif
