/*
 * simulate.h - `moonbase simulate` (simulate.c): a match run offline on a
 * simulated clock, with votes tallied as on the server.
 */
#ifndef MB_SIMULATE_H
#define MB_SIMULATE_H

/* `moonbase simulate <mode> ...` (argv after the subcommand): the process
 * exit code. */
int simulate_main(int argc, char **argv);

#endif
