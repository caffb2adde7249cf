/*
 * watch_main.h - the `mm-ingest watch` mode's process entry (watch_main.c),
 * called by main.c when argv[1] is "watch".
 */
#ifndef MM_INGEST_WATCH_MAIN_H
#define MM_INGEST_WATCH_MAIN_H

/**
 * @brief Run `mm-ingest watch` with @p argv[0] == "watch" and its flags.
 * @returns the process exit status.
 */
int mm_ingest_watch_main(int argc, char **argv);

#endif
