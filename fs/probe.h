/*
 * probe — `outboxfs --probe [ACCOUNT] [--rcpt ADDR] [-o config=FILE]`:
 * the hand test of a server with telnet, automated. main() hands argv
 * over when argv[1] is "--probe".
 */
#ifndef OUTBOXFS_PROBE_H
#define OUTBOXFS_PROBE_H

/* Returns the process exit status (0: every step asked for worked). */
int probe_main(int argc, char **argv);

#endif
