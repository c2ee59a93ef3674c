/*
 * test_follow.c -- `file(..., follow: true)` sources and the clean stop on
 * SIGINT/SIGTERM, end to end: each program is built with pspfc (with
 * AddressSanitizer and UndefinedBehaviorSanitizer, as in test_run.c) and
 * started as a real process; the test writes its input while it runs,
 * waits (polling with a deadline) for its output, then signals it.
 *
 * Every wait has its own deadline (DEADLINE_MS), so the tests take no
 * Criterion .timeout: with them next to run/ and examples/ (which have
 * one), Criterion 2.4.1's runner leaked a timeout request (48 bytes from
 * its bundled BoxFort's bxfi_push_timeout, reported by LeakSanitizer when
 * the runner exits).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

#define DEADLINE_MS 30000 /* for anything the program must do */

/* A test's directory, program and process. */
typedef struct Prog {
  char dir[64];   /* its temporary directory */
  char path[600]; /* scratch for file names */
  pid_t pid;      /* the running program, or 0 */
} Prog;

/* dir/name, in p->path. */
static const char *in_dir(Prog *p, const char *name) {
  snprintf(p->path, sizeof p->path, "%s/%s", p->dir, name);
  return p->path;
}

static void write_file(Prog *p, const char *name, const char *text,
                       int flags) {
  int fd = open(in_dir(p, name), O_WRONLY | O_CREAT | flags, 0644);
  cr_assert(fd >= 0, "open %s: %s", p->path, strerror(errno));
  size_t n = strlen(text);
  cr_assert_eq(write(fd, text, n), (ssize_t)n);
  close(fd);
}

static void append(Prog *p, const char *name, const char *text) {
  write_file(p, name, text, O_APPEND);
}

/* Builds [text] as dir/prog with the sanitized pspfc. */
static void build(Prog *p, const char *text) {
  strcpy(p->dir, "/tmp/pspfc-follow-XXXXXX");
  cr_assert(mkdtemp(p->dir));
  p->pid = 0;
  write_file(p, "prog.pspf", text, O_TRUNC);
  char *out;
  int st = build_in(p->dir, "prog.pspf", "prog", SAN_CFLAGS, &out);
  if (st != 0) {
    static char msg[16384];
    snprintf(msg, sizeof msg, "%s", out);
    free(out);
    cr_assert_fail("build failed:\n%s", msg);
  }
  free(out);
}

/* Starts dir/prog in dir, reading [in] (or /dev/null) as standard input,
 * with stdout.txt and stderr.txt; SIGINT and SIGTERM as by default. */
static void start(Prog *p, int in) {
  char exe[600], out[600], err[600];
  snprintf(exe, sizeof exe, "%s/prog", p->dir);
  snprintf(out, sizeof out, "%s/stdout.txt", p->dir);
  snprintf(err, sizeof err, "%s/stderr.txt", p->dir);
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (in < 0)
      in = open("/dev/null", O_RDONLY);
    int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || o < 0 || e < 0 || chdir(p->dir) < 0 || dup2(in, 0) < 0 ||
        dup2(o, 1) < 0 || dup2(e, 2) < 0)
      _exit(127);
    execl(exe, exe, "--dead-letter", "dead.jsonl", (char *)NULL);
    _exit(127);
  }
  p->pid = pid;
}

static void cleanup(Prog *p);

/* The contents of dir/name ("" if it is not there yet). */
static char *contents(Prog *p, const char *name) {
  char *s = slurp(in_dir(p, name));
  return s ? s : strdup("");
}

static int count_lines(const char *s) {
  int n = 0;
  for (; *s; s++)
    n += *s == '\n';
  return n;
}

/* Waits until dir/name holds [want] lines (a header included); fails the
 * test with what is there at the deadline, or if the program ended. */
static void wait_lines(Prog *p, const char *name, int want) {
  static char msg[16384];
  long until = now_ms() + DEADLINE_MS;
  for (;;) {
    char *s = contents(p, name);
    int n = count_lines(s), st = 0;
    if (n >= want) {
      free(s);
      return;
    }
    bool ended = waitpid(p->pid, &st, WNOHANG) == p->pid;
    if (ended || now_ms() > until) {
      char *err = contents(p, "stderr.txt");
      if (ended)
        snprintf(msg, sizeof msg, "the program ended (wait status %#x) with "
                 "%d of %d lines in %s:\n%s\nstderr:\n%s", st, n, want, name,
                 s, err);
      else
        snprintf(msg, sizeof msg, "%d of %d lines in %s after %d ms:\n%s\n"
                 "stderr:\n%s", n, want, name, DEADLINE_MS, s, err);
      if (ended)
        p->pid = 0;
      free(s);
      free(err);
      cleanup(p);
      cr_assert_fail("%s", msg);
    }
    free(s);
    pause_ms(10);
  }
}

/* Sends [sig] and waits for the program to end; returns the wait status.
 * It must end within [ms] (then it is killed and the test fails). */
static int stop(Prog *p, int sig, long ms) {
  cr_assert_eq(kill(p->pid, sig), 0);
  long until = now_ms() + ms;
  int st;
  while (waitpid(p->pid, &st, WNOHANG) != p->pid) {
    if (now_ms() > until) {
      cleanup(p);
      cr_assert_fail("still running %ld ms after signal %d", ms, sig);
    }
    pause_ms(5);
  }
  p->pid = 0;
  return st;
}

/* The program ended with status 0 and a clean stderr. */
static void expect_clean_exit(Prog *p, int st) {
  char *err = contents(p, "stderr.txt");
  cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0,
            "wait status %#x (exit %d, signal %d)\nstderr:\n%s", st,
            WIFEXITED(st) ? WEXITSTATUS(st) : -1,
            WIFSIGNALED(st) ? WTERMSIG(st) : 0, err);
  cr_expect_null(strstr(err, "Sanitizer"), "%s", err);
  cr_expect_null(strstr(err, "runtime error"), "%s", err);
  free(err);
}

static void expect_file(Prog *p, const char *name, const char *want) {
  char *got = contents(p, name);
  cr_expect_str_eq(got, want, "%s\n--- got:\n%s--- want:\n%s", name, got,
                   want);
  free(got);
}

static void cleanup(Prog *p) {
  if (p->pid > 0) {
    kill(p->pid, SIGKILL);
    waitpid(p->pid, NULL, 0);
  }
  char cmd[128], *out;
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", p->dir);
  run_cmd(cmd, &out);
  free(out);
}

static const char *const doubler =
    "type Bid = { id: int, price: int }\n"
    "source bids: Bid = file(\"in.csv\", format: csv, follow: true)\n"
    "sink out = file(\"out.csv\", format: csv)\n"
    "bids |> map(b => { id: b.id, total: b.price * 2 }) |> out\n";

Test(follow, appended_records_and_partial_line) {
  Prog p;
  build(&p, doubler);
  write_file(&p, "in.csv", "id,price\n1,10\n2,20\n3,30\n", O_TRUNC);
  start(&p, -1);
  wait_lines(&p, "out.csv", 1 + 3);
  expect_file(&p, "out.csv", "id,total\n1,20\n2,40\n3,60\n");

  /* Two records and the start of a third, in one write. */
  append(&p, "in.csv", "4,40\n5,50\n6,6");
  wait_lines(&p, "out.csv", 1 + 5);
  /* The program has read the partial line with the two records before it;
   * give it a few polls to (wrongly) process it. */
  pause_ms(600);
  expect_file(&p, "out.csv", "id,total\n1,20\n2,40\n3,60\n4,80\n5,100\n");

  append(&p, "in.csv", "0\n");
  wait_lines(&p, "out.csv", 1 + 6);
  int st = stop(&p, SIGTERM, DEADLINE_MS);
  expect_clean_exit(&p, st);
  expect_file(&p, "out.csv",
              "id,total\n1,20\n2,40\n3,60\n4,80\n5,100\n6,120\n");
  char *dead = slurp(in_dir(&p, "dead.jsonl"));
  cr_expect_null(dead, "unexpected dead letters:\n%s", dead);
  free(dead);
  cleanup(&p);
}

Test(follow, truncated_file_is_read_again) {
  Prog p;
  build(&p, doubler);
  write_file(&p, "in.csv", "id,price\n1,10\n2,20\n", O_TRUNC);
  start(&p, -1);
  wait_lines(&p, "out.csv", 1 + 2);
  /* Shorter than before: the program notices, warns, starts again. */
  write_file(&p, "in.csv", "id,price\n9,1\n", O_TRUNC);
  wait_lines(&p, "out.csv", 1 + 3);
  append(&p, "in.csv", "8,2\n");
  wait_lines(&p, "out.csv", 1 + 4);
  int st = stop(&p, SIGTERM, DEADLINE_MS);
  expect_clean_exit(&p, st);
  expect_file(&p, "out.csv", "id,total\n1,20\n2,40\n9,2\n8,4\n");
  char *err = contents(&p, "stderr.txt");
  cr_expect(strstr(err, "warning: source 'bids': 'in.csv' shrank from 19 to "),
            "no truncation warning:\n%s", err);
  free(err);
  cleanup(&p);
}

Test(follow, rotated_file_is_followed_by_name) {
  Prog p;
  build(&p, doubler);
  write_file(&p, "in.csv", "id,price\n1,10\n", O_TRUNC);
  start(&p, -1);
  wait_lines(&p, "out.csv", 1 + 1);
  /* Renamed: the program keeps reading the old file while no new one is
   * at the path (a writer may still be appending to it). */
  char from[600];
  snprintf(from, sizeof from, "%s", in_dir(&p, "in.csv"));
  cr_assert_eq(rename(from, in_dir(&p, "in.csv.1")), 0);
  append(&p, "in.csv.1", "2,20\n");
  wait_lines(&p, "out.csv", 1 + 2);
  /* A new file at the path, with its own header (columns swapped): read
   * from its start once the old one is drained. */
  write_file(&p, "in.csv", "price,id\n30,3\n", O_TRUNC);
  wait_lines(&p, "out.csv", 1 + 3);
  append(&p, "in.csv", "40,4\n");
  wait_lines(&p, "out.csv", 1 + 4);
  int st = stop(&p, SIGINT, DEADLINE_MS);
  expect_clean_exit(&p, st);
  expect_file(&p, "out.csv", "id,total\n1,20\n2,40\n3,60\n4,80\n");
  cleanup(&p);
}

Test(follow, sigterm_stops_a_program_reading_an_open_pipe) {
  Prog p;
  /* Not follow: standard input is a pipe whose writer stays. The second
   * pipeline has a window still open when the signal comes: it is not
   * fired (only the end of input fires open windows). */
  build(&p, "type R = { ts: timestamp, v: int }\n"
            "source rs: R = stdin(format: csv)\n"
            "sink each = file(\"each.csv\", format: csv)\n"
            "sink win = file(\"win.csv\", format: csv)\n"
            "rs |> each\n"
            "rs |> event_time(r => r.ts, lateness: 0s)\n"
            "   |> window(tumbling(10s))\n"
            "   |> aggregate(n: count(), s: sum(r => r.v))\n"
            "   |> win\n");
  int fds[2];
  cr_assert_eq(pipe(fds), 0);
  start(&p, fds[0]);
  close(fds[0]);
  const char *in = "ts,v\n1000,1\n2000,2\n12000,3\n";
  cr_assert_eq(write(fds[1], in, strlen(in)), (ssize_t)strlen(in));
  /* The input goes quiet: the sinks are flushed. */
  wait_lines(&p, "each.csv", 1 + 3);
  wait_lines(&p, "win.csv", 1 + 1);
  int st = stop(&p, SIGTERM, 5000);
  close(fds[1]);
  expect_clean_exit(&p, st);
  expect_file(&p, "each.csv",
              "ts,v\n1970-01-01T00:00:01.000Z,1\n1970-01-01T00:00:02.000Z,2\n"
              "1970-01-01T00:00:12.000Z,3\n");
  expect_file(&p, "win.csv",
              "start,end,n,s\n"
              "1970-01-01T00:00:00.000Z,1970-01-01T00:00:10.000Z,2,3\n");
  cleanup(&p);
}
