/*
 * helpers.h -- shared by the Criterion suites: compile a program text in
 * process and capture what the compiler prints; run a command and capture
 * its output.
 */
#ifndef PSPFC_TEST_HELPERS_H
#define PSPFC_TEST_HELPERS_H

#include <sys/types.h>

#include "pspfc.h"

/* The result of one in-process compile. */
typedef struct Compiled {
  int status;   /* driver_check's return: 0 or 1 */
  char *diag;   /* everything written to the diagnostics stream */
  char *out;    /* everything written to the listing stream */
} Compiled;

/* Checks [text] as file "t.pspf". [flags]: "types", "ast", "json" or NULL.
 * Free the result with compiled_free(). */
Compiled compile_text(const char *text, const char *flags);
void compiled_free(Compiled *c);

/* Runs [cmd] with sh; returns its exit status and, in [*out], stdout and
 * stderr together (malloc'd). */
int run_cmd(const char *cmd, char **out);

/* Reads a whole file (malloc'd, NUL-terminated) or returns NULL. */
char *slurp(const char *path);

/* The pspfc under test: $PSPFC, else build/san/bin/pspfc. */
const char *pspfc_path(void);

/* The C flags end-to-end tests build programs with: the sanitizers. */
#define SAN_CFLAGS                                                             \
  "-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined "      \
  "-fno-omit-frame-pointer"

/* A monotonic clock in milliseconds; a sleep of [ms] (signals or not). */
long now_ms(void);
void pause_ms(long ms);

/* run_cmd() of the formatted command, in directory [dir]. */
int run_in(const char *dir, char **out, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Builds [dir]/[pspf] into [dir]/[exe] with the pspfc under test and the
 * runtime of this tree, the C compiler getting [cflags]; returns the
 * exit status, pspfc's output in *out. */
int build_in(const char *dir, const char *pspf, const char *exe,
             const char *cflags, char **out);

/* A loopback TCP port nobody listens on now. */
int free_port(void);

/* Writes [text] to [dir]/prog.pspf and builds it into [dir]/prog, the C
 * compiler getting [cflags]; a failed build fails the test. */
void build_prog_in(const char *dir, const char *text, const char *cflags);

/* Starts [argv] (NULL-terminated; argv[0] relative to [dir]) in [dir],
 * standard input and output /dev/null, standard error appended to
 * [dir]/[err]. It is killed if the test process dies (a failed assertion
 * skips the test's cleanup). */
pid_t spawn_in(const char *dir, const char *err, const char *const argv[]);

/* VmRSS of process [pid] in KiB, or -1. */
long rss_kib(pid_t pid);

/* Reads [fd] (non-blocking) until *got reaches [want] or [ms] pass; what
 * is read is added to *got and written to [to] if not NULL. */
void drain_fd(int fd, long *got, long want, long ms, FILE *to);

#endif
