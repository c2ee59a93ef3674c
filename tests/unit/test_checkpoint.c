/*
 * test_checkpoint.c -- durable checkpoints (--checkpoint-dir): the file
 * format with the runtime linked in (CRC-32C, writing, reading, every
 * check), and built programs end to end: killed with SIGKILL at random
 * moments and restarted until they finish, damaged checkpoints, SIGTERM,
 * changed programs, and `pspfc inspect-checkpoint`.
 *
 * The programs are the .pspf files of tests/ckpt/; their inputs are
 * generated here, deterministically (PSPF_CKPT_SEED=N picks other data
 * and other kill times). Every output is compared byte for byte with an
 * uninterrupted run's of the same program on the same input: the runtime
 * restores hash tables slot for slot, so even the order of keys within
 * one firing is the same.
 *
 * The programs are built as in test_run.c, with AddressSanitizer and
 * UndefinedBehaviorSanitizer, except the big crash test's (plain -O2 -g:
 * a sanitized program starts too slowly for kills 10..100 ms apart to let
 * it get anywhere). Each test works in its own directory under /tmp,
 * removed at the end (PSPF_TEST_KEEP=1 keeps it).
 *
 * Every wait has its own deadline, and the builds and pspfc runs go
 * through timeout(1), so the tests take no Criterion .timeout: Criterion
 * 2.4.1's runner (its bundled BoxFort) loses the timeout requests of
 * running tests when a test with an earlier deadline starts (its
 * bxfi_push_timeout() inserts the new request without linking the rest
 * after it), and LeakSanitizer then fails the whole run at its exit (see
 * also test_follow.c).
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "pspf/checkpoint.h"

#define DEADLINE_MS 60000 /* for anything one run of a program must do */

static const char *const sanitized =
    "-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined "
    "-fno-omit-frame-pointer";

/* ---- the test's directory, paths, processes ------------------------------ */

static char g_dir[64]; /* this test's directory, or "" */
static pid_t g_pids[4]; /* programs still running, or 0 */
static void *g_owned[8]; /* freed when the test ends, however it ends */

/* [p], freed when the test ends. */
static void *owned(void *p) {
  for (int i = 0; i < 8; i++)
    if (!g_owned[i])
      return g_owned[i] = p;
  cr_assert_fail("too many owned() blocks");
  return p;
}

static void finish(void) {
  for (int i = 0; i < 8; i++) {
    free(g_owned[i]);
    g_owned[i] = NULL;
  }
  for (int i = 0; i < 4; i++)
    if (g_pids[i] > 0) {
      kill(g_pids[i], SIGKILL);
      waitpid(g_pids[i], NULL, 0);
      g_pids[i] = 0;
    }
  if (g_dir[0] && !getenv("PSPF_TEST_KEEP")) {
    char cmd[128], *out;
    snprintf(cmd, sizeof cmd, "cd / && rm -rf '%s'", g_dir);
    run_cmd(cmd, &out);
    free(out);
  }
  g_dir[0] = 0;
}

TestSuite(checkpoint, .fini = finish);

/* A program started ([pid] > 0), or one that has ended ([pid] < 0): the
 * test kills those still running when it ends. */
static void track(pid_t pid) {
  for (int i = 0; i < 4; i++)
    if (pid > 0 ? g_pids[i] == 0 : g_pids[i] == -pid) {
      g_pids[i] = pid > 0 ? pid : 0;
      return;
    }
}

static const char *root(void) {
  const char *r = getenv("PSPF_ROOT");
  return r && *r ? r : ".";
}

/* A path (or any text) from a format; 16 of them live at a time. */
static const char *fmt(const char *f, ...)
    __attribute__((format(printf, 1, 2)));
static const char *fmt(const char *f, ...) {
  static char bufs[16][1024];
  static int k;
  char *b = bufs[k++ & 15];
  va_list ap;
  va_start(ap, f);
  vsnprintf(b, sizeof bufs[0], f, ap);
  va_end(ap);
  return b;
}

/* The line of [text] that contains [needle], or "" (in fmt()'s storage). */
static const char *line_with(const char *text, const char *needle) {
  const char *p = strstr(text, needle);
  if (!p)
    return "";
  while (p > text && p[-1] != '\n')
    p--;
  return fmt("%.*s", (int)strcspn(p, "\n"), p);
}

/* g_dir/name. */
static const char *in_dir(const char *name) {
  return fmt("%s/%s", g_dir, name);
}

static void make_dir(void) {
  strcpy(g_dir, "/tmp/pspfc-ckpt-XXXXXX");
  cr_assert(mkdtemp(g_dir), "mkdtemp: %s", strerror(errno));
}

static void make_sub(const char *name) {
  cr_assert_eq(mkdir(in_dir(name), 0755), 0, "mkdir %s: %s", in_dir(name),
               strerror(errno));
}

/* Runs a shell command in g_dir; returns its status, output in *out. */
static int sh(char **out, const char *f, ...)
    __attribute__((format(printf, 2, 3)));
static int sh(char **out, const char *f, ...) {
  char cmd[8192];
  int k = snprintf(cmd, sizeof cmd, "cd '%s' && ", g_dir);
  va_list ap;
  va_start(ap, f);
  vsnprintf(cmd + k, sizeof cmd - (size_t)k, f, ap);
  va_end(ap);
  return run_cmd(cmd, out);
}

/* Like sh(), and the command must succeed. */
static void sh_ok(const char *f, ...) __attribute__((format(printf, 1, 2)));
static void sh_ok(const char *f, ...) {
  char cmd[8192], *out;
  int k = snprintf(cmd, sizeof cmd, "cd '%s' && ", g_dir);
  va_list ap;
  va_start(ap, f);
  vsnprintf(cmd + k, sizeof cmd - (size_t)k, f, ap);
  va_end(ap);
  int st = run_cmd(cmd, &out);
  if (st != 0) {
    static char msg[8192];
    snprintf(msg, sizeof msg, "%s", out);
    free(out);
    cr_assert_fail("command failed (status %d): %s\n%s", st, cmd, msg);
  }
  free(out);
}

/* Builds tests/ckpt/[name].pspf as g_dir/[exe] with C flags [cflags]. */
static void build(const char *name, const char *exe, const char *cflags) {
  char *out;
  int st = sh(&out,
              "CFLAGS='%s' PSPF_RUNTIME_DIR='%s/build' timeout 300 '%s' build "
              "-fdiagnostics-color=never '%s/tests/ckpt/%s.pspf' -o '%s'",
              cflags, root(), pspfc_path(), root(), name, exe);
  if (st != 0) {
    static char msg[16384];
    snprintf(msg, sizeof msg, "%s", out);
    free(out);
    cr_assert_fail("building tests/ckpt/%s.pspf failed:\n%s", name, msg);
  }
  free(out);
}

/* Reads a whole file; NULL if it is not there. [*n]: its length. */
static char *read_all(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  size_t cap = 1 << 16, len = 0;
  char *b = malloc(cap + 1);
  size_t got;
  while ((got = fread(b + len, 1, cap - len, f)) > 0) {
    len += got;
    if (len == cap)
      b = realloc(b, (cap *= 2) + 1);
  }
  fclose(f);
  b[len] = 0;
  if (n)
    *n = len;
  return b;
}

/* The text of a file, "" if it is not there (malloc'd). */
static char *text_of(const char *path) {
  char *s = read_all(path, NULL);
  return s ? s : strdup("");
}

static void write_text(const char *path, const char *text, int flags) {
  int fd = open(path, O_WRONLY | O_CREAT | flags, 0644);
  cr_assert(fd >= 0, "open %s: %s", path, strerror(errno));
  size_t n = strlen(text);
  cr_assert_eq(write(fd, text, n), (ssize_t)n, "write %s", path);
  close(fd);
}

static long long file_size(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static int count_lines(const char *s) {
  int n = 0;
  for (; *s; s++)
    n += *s == '\n';
  return n;
}

/* Starts [exe] (a path from g_dir) in g_dir/[wd] with the arguments
 * that follow (NULL-terminated); standard input /dev/null, standard
 * output appended to wd/stdout.txt, standard error to wd/[err]. */
static pid_t spawn(const char *wd, const char *err, const char *exe, ...) {
  const char *argv[32];
  int n = 0;
  argv[n++] = exe;
  va_list ap;
  va_start(ap, exe);
  const char *a;
  while ((a = va_arg(ap, const char *)) && n < 31)
    argv[n++] = a;
  va_end(ap);
  argv[n] = NULL;
  char dir[512], exepath[512];
  snprintf(dir, sizeof dir, "%s/%s", g_dir, wd);
  snprintf(exepath, sizeof exepath, "%s/%s", g_dir, exe);
  fflush(NULL);
  pid_t pid = fork();
  cr_assert(pid >= 0, "fork: %s", strerror(errno));
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (chdir(dir) < 0)
      _exit(127);
    int in = open("/dev/null", O_RDONLY);
    int o = open("stdout.txt", O_WRONLY | O_CREAT | O_APPEND, 0644);
    int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || o < 0 || e < 0 || dup2(in, 0) < 0 || dup2(o, 1) < 0 ||
        dup2(e, 2) < 0)
      _exit(127);
    execv(exepath, (char *const *)argv);
    _exit(127);
  }
  track(pid);
  return pid;
}

/* Waits for [pid] to end, at most [ms]; returns its exit status (128 +
 * the signal if one ended it). At the deadline it is killed and the test
 * fails with what it wrote to wd/[err]. */
static int wait_end(pid_t pid, long ms, const char *wd, const char *err) {
  long until = now_ms() + ms;
  int st;
  while (waitpid(pid, &st, WNOHANG) != pid) {
    if (now_ms() > until) {
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
      track(-pid);
      char *e = text_of(in_dir(fmt("%s/%s", wd, err)));
      static char msg[8192];
      snprintf(msg, sizeof msg, "%s", e);
      free(e);
      cr_assert_fail("the program in %s still ran after %ld ms; its "
                     "stderr:\n%s", wd, ms, msg);
    }
    pause_ms(2);
  }
  track(-pid);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Runs [exe] in g_dir/[wd] (arguments after, NULL-terminated) to its
 * end; returns the exit status; its stderr is in wd/[err]. */
#define run_prog(wd, err, exe, ...)                                          \
  wait_end(spawn(wd, err, exe, __VA_ARGS__), DEADLINE_MS, wd, err)

/* wd/[err] of a program built with the sanitizers reports nothing. */
static void expect_no_sanitizer(const char *wd, const char *err) {
  char *e = text_of(in_dir(fmt("%s/%s", wd, err)));
  cr_expect_null(strstr(e, "Sanitizer"), "%s/%s:\n%s", wd, err, e);
  cr_expect_null(strstr(e, "runtime error"), "%s/%s:\n%s", wd, err, e);
  free(e);
}

/* The program ended with [want] and a clean stderr. */
static void expect_status(int got, int want, const char *wd,
                          const char *err) {
  if (got != want) {
    char *e = text_of(in_dir(fmt("%s/%s", wd, err)));
    static char msg[8192];
    snprintf(msg, sizeof msg, "%s", e);
    free(e);
    cr_assert_fail("the program in %s exited with %d, not %d; its stderr:\n%s",
                   wd, got, want, msg);
  }
  expect_no_sanitizer(wd, err);
}

/* How many lines of wd/[err] contain [needle]. */
static int lines_with(const char *wd, const char *err, const char *needle) {
  char *e = text_of(in_dir(fmt("%s/%s", wd, err)));
  int n = 0;
  for (char *line = strtok(e, "\n"); line; line = strtok(NULL, "\n"))
    n += strstr(line, needle) != NULL;
  free(e);
  return n;
}

/* Stderr contains [want]. */
static void expect_in(const char *wd, const char *err, const char *want) {
  char *e = text_of(in_dir(fmt("%s/%s", wd, err)));
  cr_expect(strstr(e, want), "%s/%s lacks \"%s\"; it is:\n%s", wd, err, want,
            e);
  free(e);
}

static void expect_not_in(const char *wd, const char *err,
                          const char *unwanted) {
  char *e = text_of(in_dir(fmt("%s/%s", wd, err)));
  cr_expect_null(strstr(e, unwanted), "%s/%s has \"%s\"; it is:\n%s", wd, err,
                 unwanted, e);
  free(e);
}

/* g_dir/[got] is byte for byte g_dir/[want]; a difference is reported
 * with its offset, line and both lines. */
static void expect_same_file(const char *got, const char *want) {
  size_t ng, nw;
  char *g = read_all(in_dir(got), &ng);
  char *w = read_all(in_dir(want), &nw);
  if (!g || !w) {
    free(g);
    free(w);
    cr_assert_fail("%s is missing", !w ? want : got);
  }
  if (ng != nw || memcmp(g, w, ng) != 0) {
    size_t i = 0, line = 1, bol = 0;
    while (i < ng && i < nw && g[i] == w[i]) {
      if (g[i] == '\n')
        line++, bol = i + 1;
      i++;
    }
    size_t eg = bol, ew = bol;
    while (eg < ng && g[eg] != '\n' && eg - bol < 300)
      eg++;
    while (ew < nw && w[ew] != '\n' && ew - bol < 300)
      ew++;
    cr_expect_fail("%s differs from %s (%zu and %zu bytes): first at byte "
                   "%zu, line %zu:\n  got:  %.*s\n  want: %.*s", got, want,
                   ng, nw, i, line, (int)(eg - bol), g + bol, (int)(ew - bol),
                   w + bol);
  }
  free(g);
  free(w);
}

/* The checkpoint ids in g_dir/[ck], newest first; returns how many. */
static long ck_ids(const char *ck, uint64_t ids[], long max) {
  uint64_t *v;
  long n = pspf_ckpt_list(in_dir(ck), &v);
  for (long i = 0; i < n && i < max; i++)
    ids[i] = v[i];
  free(v);
  return n < 0 ? 0 : n;
}

static uint64_t newest_ck(const char *ck) {
  uint64_t ids[8];
  return ck_ids(ck, ids, 8) > 0 ? ids[0] : 0;
}

/* Checkpoint [id] of g_dir/[ck]. */
static const char *ck_file(const char *ck, uint64_t id) {
  return in_dir(fmt("%s/checkpoint-%012" PRIu64, ck, id));
}

static void flip_bit(const char *path, long long at, int bit) {
  int fd = open(path, O_RDWR);
  cr_assert(fd >= 0, "open %s: %s", path, strerror(errno));
  unsigned char c;
  cr_assert_eq(pread(fd, &c, 1, at), 1, "read %s at %lld", path, at);
  c ^= (unsigned char)(1u << bit);
  cr_assert_eq(pwrite(fd, &c, 1, at), 1, "write %s at %lld", path, at);
  close(fd);
}

/* Waits until g_dir/[name] holds at least [want] lines, while the
 * program [pid] runs; fails with what is there at the deadline. */
static void wait_lines(pid_t pid, const char *wd, const char *name, int want,
                       const char *err) {
  long until = now_ms() + DEADLINE_MS;
  for (;;) {
    char *s = text_of(in_dir(fmt("%s/%s", wd, name)));
    int n = count_lines(s), st;
    free(s);
    if (n >= want)
      return;
    bool ended = waitpid(pid, &st, WNOHANG) == pid;
    if (ended || now_ms() > until) {
      if (!ended) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
      }
      track(-pid);
      char *e = text_of(in_dir(fmt("%s/%s", wd, err)));
      static char msg[8192];
      snprintf(msg, sizeof msg, "%s", e);
      free(e);
      cr_assert_fail("%s/%s has %d of %d lines; the program %s; its "
                     "stderr:\n%s", wd, name, n, want,
                     ended ? "ended" : "is too slow", msg);
    }
    pause_ms(5);
  }
}

/* Waits until g_dir/[wd]/[name] is [want], while the program [pid] runs. */
static void wait_text(pid_t pid, const char *wd, const char *name,
                      const char *want, const char *err) {
  long until = now_ms() + DEADLINE_MS;
  for (;;) {
    char *s = text_of(in_dir(fmt("%s/%s", wd, name)));
    bool same = strcmp(s, want) == 0;
    free(s);
    if (same)
      return;
    int st;
    bool ended = waitpid(pid, &st, WNOHANG) == pid;
    if (ended || now_ms() > until) {
      if (!ended) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
      }
      track(-pid);
      char *got = text_of(in_dir(fmt("%s/%s", wd, name)));
      char *e = text_of(in_dir(fmt("%s/%s", wd, err)));
      static char msg[16384];
      snprintf(msg, sizeof msg, "%s/%s is not as expected; the program %s."
               "\n--- got:\n%s--- want:\n%s--- its stderr:\n%s", wd, name,
               ended ? "ended" : "is too slow", got, want, e);
      free(got);
      free(e);
      cr_assert_fail("%s", msg);
    }
    pause_ms(5);
  }
}

/* Sends [sig] to [pid] and waits for it to end; returns the exit status. */
static int stop_with(pid_t pid, int sig, const char *wd, const char *err) {
  cr_assert_eq(kill(pid, sig), 0);
  return wait_end(pid, DEADLINE_MS, wd, err);
}

/* What `pspfc inspect-checkpoint g_dir/[ck]` says of the newest
 * checkpoint (malloc'd); its exit status in [*st]. */
static char *inspect_newest(const char *ck, int *st) {
  char *out;
  *st = sh(&out, "timeout 60 '%s' inspect-checkpoint '%s'", pspfc_path(), ck);
  char *second = strstr(out, "\n");
  second = second ? strstr(second, fmt("%s/checkpoint-", ck)) : NULL;
  if (second)
    *second = 0;
  return out;
}

/* ---- deterministic data ----------------------------------------------- */

typedef struct Rng {
  uint64_t s;
} Rng;

static uint64_t rng_next(Rng *r) { /* splitmix64 */
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static uint64_t rng_below(Rng *r, uint64_t n) { return rng_next(r) % n; }

static uint64_t seed(void) {
  const char *s = getenv("PSPF_CKPT_SEED");
  return s && *s ? strtoull(s, NULL, 10) : 20261123u;
}

/* A buffered writer of generated text. */
typedef struct Gen {
  FILE *f;
  char buf[1 << 16];
  size_t n;
} Gen;

static void gen_flush(Gen *g) {
  cr_assert_eq(fwrite(g->buf, 1, g->n, g->f), g->n);
  g->n = 0;
}

static void gen_str(Gen *g, const char *s) {
  size_t n = strlen(s);
  if (g->n + n > sizeof g->buf)
    gen_flush(g);
  memcpy(g->buf + g->n, s, n);
  g->n += n;
}

static void gen_int(Gen *g, int64_t v) {
  char t[24];
  int k = 0;
  uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
  do
    t[k++] = (char)('0' + u % 10);
  while (u /= 10);
  if (g->n + 24 > sizeof g->buf)
    gen_flush(g);
  if (v < 0)
    g->buf[g->n++] = '-';
  while (k)
    g->buf[g->n++] = t[--k];
}

static Gen *gen_open(const char *path) {
  Gen *g = calloc(1, sizeof *g);
  g->f = fopen(path, "wb");
  cr_assert(g->f, "%s: %s", path, strerror(errno));
  return g;
}

static void gen_close(Gen *g) {
  gen_flush(g);
  cr_assert_eq(fclose(g->f), 0);
  free(g);
}

/* [n] events for crash.pspf, in CSV whose columns are in another order
 * than the type's: event times 0..20 ms apart, 4% of them up to 1.5 s
 * out of order (within the lateness), 0.1% 20..40 s in the past (late);
 * one item's name has a comma (quoted); every 9973rd record is bad. */
static void gen_events(const char *path, long n, uint64_t sd) {
  Rng r = {sd};
  Gen *g = gen_open(path);
  gen_str(g, "ts,item,user,v\n");
  int64_t t = 1700000000000;
  for (long i = 0; i < n; i++) {
    t += (int64_t)rng_below(&r, 21);
    int64_t ts = t;
    uint64_t x = rng_below(&r, 10000);
    if (x < 400)
      ts -= (int64_t)rng_below(&r, 1501);
    else if (x < 410)
      ts -= 20000 + (int64_t)rng_below(&r, 20001);
    int item = (int)rng_below(&r, 100);
    gen_int(g, ts);
    gen_str(g, item == 99 ? ",\"i,99\"," : ",i");
    if (item != 99) {
      gen_int(g, item);
      gen_str(g, ",");
    }
    gen_int(g, (int64_t)rng_below(&r, 50));
    gen_str(g, ",");
    gen_int(g, (int64_t)rng_below(&r, 10000));
    gen_str(g, i % 9973 == 17 ? "x\n" : "\n");
  }
  gen_close(g);
}

/* [n] records for states.pspf, JSON lines: 40 keys, event times 0..30 ms
 * apart, 3% up to 0.8 s out of order, 0.1% 30 s in the past; tag
 * present, null or absent; every 7919th line is bad. */
static void gen_states(const char *path, long n, uint64_t sd) {
  Rng r = {sd};
  Gen *g = gen_open(path);
  int64_t t = 1700000000000;
  for (long i = 0; i < n; i++) {
    t += (int64_t)rng_below(&r, 31);
    int64_t ts = t;
    uint64_t x = rng_below(&r, 1000);
    if (x < 30)
      ts -= (int64_t)rng_below(&r, 801);
    else if (x == 999)
      ts -= 30000;
    gen_str(g, "{\"k\":\"k");
    gen_int(g, (int64_t)rng_below(&r, 40));
    gen_str(g, "\",\"g\":");
    gen_int(g, (int64_t)rng_below(&r, 1000));
    gen_str(g, ",\"x\":");
    gen_int(g, (int64_t)rng_below(&r, 100000) - 50000);
    gen_str(g, ".25,\"n\":");
    if (i % 7919 == 100)
      gen_str(g, "\"many\"");
    else
      gen_int(g, (int64_t)rng_below(&r, 100000));
    gen_str(g, ",\"ts\":");
    gen_int(g, ts);
    uint64_t tag = rng_below(&r, 6);
    if (tag < 3) {
      gen_str(g, ",\"tag\":\"t");
      gen_int(g, (int64_t)tag);
      gen_str(g, "\"");
    } else if (tag == 3) {
      gen_str(g, ",\"tag\":null");
    }
    gen_str(g, "}\n");
  }
  gen_close(g);
}

/* ======================================================================== */
/* 1. The file format, with the runtime linked in.                          */
/* ======================================================================== */

/* CRC-32C one bit at a time: the definition. */
static uint32_t crc_bitwise(uint32_t crc, const unsigned char *p, size_t n) {
  crc = ~crc;
  while (n--) {
    crc ^= *p++;
    for (int k = 0; k < 8; k++)
      crc = crc & 1 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
  }
  return ~crc;
}

Test(checkpoint, crc32c_check_value) {
  cr_assert_eq(pspf_crc32c(0, "123456789", 9), 0xE3069283u,
               "crc32c(\"123456789\") = %08x, not e3069283",
               pspf_crc32c(0, "123456789", 9));
  cr_assert_eq(pspf_crc32c(0, "", 0), 0u);
  cr_assert_eq(pspf_crc32c(0, "a", 1), 0xC1D04330u,
               "crc32c(\"a\") = %08x", pspf_crc32c(0, "a", 1));
  /* Continuing from a CRC is the CRC of the whole. */
  cr_assert_eq(pspf_crc32c(pspf_crc32c(0, "1234", 4), "56789", 5),
               0xE3069283u);
  /* 32 zero bytes and 32 0xff bytes (RFC 3720, B.4). */
  unsigned char z[32] = {0}, f[32];
  memset(f, 0xff, sizeof f);
  cr_assert_eq(pspf_crc32c(0, z, 32), 0x8A9136AAu);
  cr_assert_eq(pspf_crc32c(0, f, 32), 0x62A8AB43u);
}

/* Random buffers of random lengths at random alignments: the linked
 * pspf_crc32c (SSE4.2 on a CPU that has it) and the table path (forced
 * in tests/ckpt/crc_table.c) both agree with the bitwise definition, in
 * one call and continued from a split point. */
Test(checkpoint, crc32c_hardware_and_table_agree) {
  make_dir();
  enum { BUFS = 600 };
  Rng r = {seed()};
#if defined(__x86_64__)
  __builtin_cpu_init();
  const char *linked = __builtin_cpu_supports("sse4.2") ? "SSE4.2" : "table";
#else
  const char *linked = "table";
#endif
  FILE *f = fopen(in_dir("bufs.bin"), "wb");
  cr_assert(f);
  uint32_t *want = malloc(BUFS * sizeof *want);
  uint32_t *lens = malloc(BUFS * sizeof *lens);
  unsigned char *store = malloc(20000 + 16);
  for (int i = 0; i < BUFS; i++) {
    uint32_t n = i < 40 ? (uint32_t)i : (uint32_t)rng_below(&r, i % 7 ? 300
                                                                      : 20000);
    uint32_t split = (uint32_t)rng_below(&r, n + 1);
    unsigned char *p = store + rng_below(&r, 16);
    for (uint32_t k = 0; k < n; k++)
      p[k] = (unsigned char)rng_next(&r);
    want[i] = crc_bitwise(0, p, n);
    lens[i] = n;
    uint32_t got = pspf_crc32c(0, p, n);
    uint32_t cont = pspf_crc32c(pspf_crc32c(0, p, split), p + split, n - split);
    cr_assert_eq(got, want[i], "buffer %d (%u bytes at offset %d): linked "
                 "pspf_crc32c (%s) %08x, bitwise %08x", i, n,
                 (int)((uintptr_t)p & 15), linked, got, want[i]);
    cr_assert_eq(cont, want[i], "buffer %d (%u bytes, split at %u): "
                 "continued (%s) %08x, bitwise %08x", i, n, split, linked,
                 cont, want[i]);
    uint32_t hdr[2] = {n, split};
    fwrite(hdr, 4, 2, f);
    fwrite(p, 1, n, f);
  }
  fclose(f);
  free(store);
  sh_ok("timeout 300 cc -std=c11 -O1 -g -fsanitize=address,undefined "
        "-fno-sanitize-recover=undefined -D_POSIX_C_SOURCE=200809L "
        "-D_DEFAULT_SOURCE -I'%s/runtime/include' -I'%s/runtime/src' -o "
        "crc_table '%s/tests/ckpt/crc_table.c' '%s/runtime/src/buf.c' "
        "'%s/runtime/src/format.c' -lm 2>&1",
        root(), root(), root(), root(), root());
  char *out;
  cr_assert_eq(sh(&out, "timeout 60 ./crc_table bufs.bin"), 0, "%s", out);
  const char *p = out;
  for (int i = 0; i < BUFS; i++) {
    unsigned whole, parts;
    int used;
    cr_assert_eq(sscanf(p, "%x %x\n%n", &whole, &parts, &used), 2,
                 "line %d of crc_table's output: %.40s", i + 1, p);
    p += used;
    cr_assert_eq(whole, want[i], "buffer %d (%u bytes): table path %08x, "
                 "bitwise %08x", i, lens[i], whole, want[i]);
    cr_assert_eq(parts, want[i], "buffer %d (%u bytes): table path "
                 "continued %08x, bitwise %08x", i, lens[i], parts, want[i]);
  }
  cr_assert_eq(*p, 0, "crc_table printed more: %.80s", p);
  free(out);
  free(want);
  free(lens);
}

Test(checkpoint, fingerprint_is_fnv1a) {
  cr_assert_eq(pspf_fingerprint(0, "", 0), 0xcbf29ce484222325ull);
  cr_assert_eq(pspf_fingerprint(0, "a", 1), 0xaf63dc4c8601ec8cull);
  cr_assert_eq(pspf_fingerprint(0, "foobar", 6), 0x85944171f73967e8ull);
  cr_assert_eq(pspf_fingerprint(pspf_fingerprint(0, "foo", 3), "bar", 3),
               0x85944171f73967e8ull);
}

/* A body of three sections: a payload of every field kind, an empty one
 * and 1000 random bytes. */
static uint32_t make_body(pspf_buf_t *body, char random_bytes[1000]) {
  size_t at = pspf_ckpt_section_begin(body, PSPF_CKPT_META, 0);
  pspf_ck_u64(body, 0x0123456789abcdefull);
  pspf_ck_i64(body, -42);
  pspf_ck_f64(body, 0.1);
  pspf_ck_bool(body, true);
  pspf_ck_bool(body, false);
  pspf_ck_str(body, (pspf_str_t){"h\0llo", 5});
  pspf_ck_cstr(body, NULL);
  pspf_ck_cstr(body, "caf\xc3\xa9");
  pspf_ckpt_section_end(body, at, 0);
  at = pspf_ckpt_section_begin(body, PSPF_CKPT_SINK, 7);
  pspf_ckpt_section_end(body, at, 0);
  at = pspf_ckpt_section_begin(body, PSPF_CKPT_STATE, 3);
  Rng r = {99};
  for (int i = 0; i < 1000; i++)
    random_bytes[i] = (char)rng_next(&r);
  pspf_ck_bytes(body, random_bytes, 1000);
  pspf_ckpt_section_end(body, at, 42);
  return 3;
}

/* Writes checkpoint [id] of g_dir/ck with make_body(). */
static void write_ck(uint64_t id, uint32_t flags) {
  pspf_buf_t body = {0};
  char rnd[1000];
  uint32_t ns = make_body(&body, rnd);
  char why[512] = "";
  int rc = pspf_ckpt_write(in_dir("ck"), id, 0xfeedfacecafebeefull, flags,
                           &body, ns, why, sizeof why);
  cr_assert_eq(rc, 0, "pspf_ckpt_write: %s", why);
  pspf_buf_free(&body);
}

Test(checkpoint, write_then_read_round_trip) {
  make_dir();
  make_sub("ck");
  long t0 = (long)time(NULL);
  write_ck(7, PSPF_CKPT_FINAL);
  /* The name is the id in 12 digits; no temporary file is left. */
  char *path = pspf_ckpt_path(in_dir("ck"), 7);
  cr_assert_str_eq(path, in_dir("ck/checkpoint-000000000007"));
  cr_assert_eq(access(in_dir("ck/.checkpoint-000000000007.tmp"), F_OK), -1);
  pspf_ckpt_file_t f;
  char why[512] = "";
  cr_assert_eq(pspf_ckpt_read(path, &f, why, sizeof why), 0,
               "pspf_ckpt_read: %s", why);
  cr_assert_eq(f.id, 7);
  cr_assert_eq(f.fingerprint, 0xfeedfacecafebeefull);
  cr_assert_eq(f.flags, PSPF_CKPT_FINAL);
  cr_assert_eq((long long)f.size, file_size(path));
  cr_assert(f.written / 1000 >= t0 - 1 && f.written / 1000 <= t0 + 60,
            "written %lld ms, now %ld s", (long long)f.written, t0);
  cr_assert_eq(f.nsections, 3);

  pspf_ckpt_section_t *s = &f.sections[0];
  cr_assert_eq(s->kind, PSPF_CKPT_META);
  cr_assert_eq(s->index, 0);
  pspf_ckr_t r = pspf_ckr_of(s->payload, s->size);
  cr_assert_eq(pspf_ckr_u64(&r), 0x0123456789abcdefull);
  cr_assert_eq(pspf_ckr_i64(&r), -42);
  cr_assert_eq(pspf_ckr_f64(&r), 0.1);
  cr_assert(pspf_ckr_bool(&r));
  cr_assert_not(pspf_ckr_bool(&r));
  pspf_str_t v = pspf_ckr_view(&r);
  cr_assert(v.n == 5 && memcmp(v.p, "h\0llo", 5) == 0);
  v = pspf_ckr_view(&r);
  cr_assert_eq(v.n, 0);
  v = pspf_ckr_view(&r);
  cr_assert(v.n == 5 && memcmp(v.p, "caf\xc3\xa9", 5) == 0);
  cr_assert_null(r.error, "%s", r.error);
  cr_assert_eq(r.p, r.end, "%td bytes left", r.end - r.p);

  s = &f.sections[1];
  cr_assert(s->kind == PSPF_CKPT_SINK && s->index == 7 && s->size == 0 &&
            s->items == 0);
  s = &f.sections[2];
  char rnd[1000];
  pspf_buf_t again = {0};
  make_body(&again, rnd);
  pspf_buf_free(&again);
  cr_assert(s->kind == PSPF_CKPT_STATE && s->index == 3 && s->items == 42 &&
            s->size == 1000);
  cr_assert(memcmp(s->payload, rnd, 1000) == 0);
  pspf_ckpt_file_free(&f);
  free(path);
}

Test(checkpoint, list_is_newest_first_and_ignores_other_files) {
  make_dir();
  make_sub("ck");
  write_ck(3, 0);
  write_ck(12, 0);
  write_ck(7, 0);
  write_text(in_dir("ck/.checkpoint-000000000099.tmp"), "x", O_TRUNC);
  write_text(in_dir("ck/checkpoint-00000000001x"), "x", O_TRUNC);
  write_text(in_dir("ck/checkpoint-1"), "x", O_TRUNC);
  write_text(in_dir("ck/checkpoint-0000000000123"), "x", O_TRUNC);
  uint64_t ids[8];
  cr_assert_eq(ck_ids("ck", ids, 8), 3);
  cr_assert(ids[0] == 12 && ids[1] == 7 && ids[2] == 3, "%" PRIu64 " %" PRIu64
            " %" PRIu64, ids[0], ids[1], ids[2]);
  uint64_t *v;
  cr_assert_eq(pspf_ckpt_list(in_dir("no-such-dir"), &v), -1);
  /* Writing into a directory that is not there fails, with a reason. */
  pspf_buf_t body = {0};
  char why[512] = "";
  cr_assert_eq(pspf_ckpt_write(in_dir("no-such-dir"), 1, 0, 0, &body, 0, why,
                               sizeof why), -1);
  cr_assert(strstr(why, "cannot open") && strstr(why, "No such file"), "%s",
            why);
}

/* Makes the header of [path] good again after an edit: its body size,
 * the body's checksum (checkpoint.h: over the section headers, each of
 * which holds its payload's checksum, as many as the header says that
 * fit) and its own checksum. */
static void reseal(const char *path) {
  size_t n;
  char *b = read_all(path, &n);
  cr_assert(b && n >= PSPF_CKPT_HEADER);
  uint64_t body = n - PSPF_CKPT_HEADER;
  memcpy(b + 40, &body, 8);
  uint32_t ns, c = 0;
  memcpy(&ns, b + 52, 4);
  const char *s = b + PSPF_CKPT_HEADER;
  size_t at = 0;
  for (uint32_t i = 0; i < ns && body - at >= PSPF_CKPT_SECTION; i++) {
    uint64_t len;
    memcpy(&len, s + at + 8, 8);
    c = pspf_crc32c(c, s + at, PSPF_CKPT_SECTION);
    if (len > body - at - PSPF_CKPT_SECTION)
      break;
    at += PSPF_CKPT_SECTION + (size_t)len;
  }
  memcpy(b + 48, &c, 4);
  c = pspf_crc32c(0, b, 60);
  memcpy(b + 60, &c, 4);
  FILE *f = fopen(path, "wb");
  fwrite(b, 1, n, f);
  fclose(f);
  free(b);
}

static void put32_at(const char *path, long at, uint32_t v) {
  int fd = open(path, O_RDWR);
  cr_assert(fd >= 0);
  cr_assert_eq(pwrite(fd, &v, 4, at), 4);
  close(fd);
}

/* pspf_ckpt_read() of checkpoint 1 (damaged by [damage]) fails with a
 * reason containing [want]. */
static void expect_rejected(const char *what, void (*damage)(const char *),
                            const char *want) {
  const char *path = in_dir("ck/checkpoint-000000000001");
  write_ck(1, 0);
  damage(path);
  pspf_ckpt_file_t f;
  char why[512] = "";
  int rc = pspf_ckpt_read(path, &f, why, sizeof why);
  cr_expect_eq(rc, -1, "%s: read as good", what);
  if (rc == 0)
    pspf_ckpt_file_free(&f);
  cr_expect(strstr(why, want), "%s: the reason is \"%s\", not \"%s\"", what,
            why, want);
  cr_expect_null(f.bytes, "%s: the file's bytes are not freed", what);
}

static void cut_10(const char *p) { cr_assert_eq(truncate(p, 10), 0); }
static void cut_header(const char *p) { cr_assert_eq(truncate(p, 64), 0); }
static void cut_last(const char *p) {
  cr_assert_eq(truncate(p, file_size(p) - 1), 0);
}
static void cut_middle(const char *p) {
  cr_assert_eq(truncate(p, file_size(p) / 2), 0);
}
static void flip_magic(const char *p) { flip_bit(p, 3, 0); }
static void flip_header(const char *p) { flip_bit(p, 17, 5); } /* the id */
static void flip_header_crc(const char *p) { flip_bit(p, 62, 1); }
static void flip_body_crc(const char *p) { flip_bit(p, 49, 0); }
/* In the middle of the file: in the last section's payload, which its
 * own checksum covers. */
static void flip_middle(const char *p) { flip_bit(p, file_size(p) / 2, 3); }
static void flip_last(const char *p) { flip_bit(p, file_size(p) - 1, 7); }
/* The first payload (at 64 + 32), the file's checksums made good again:
 * only the section's own checksum sees it. */
static void flip_first_payload(const char *p) {
  flip_bit(p, 64 + 32 + 3, 2);
  reseal(p);
}
/* The first section's header (its [items]), which the body's checksum
 * covers. */
static void flip_section_header(const char *p) { flip_bit(p, 64 + 16, 0); }
/* The second section's header (its [kind]). */
static void flip_second_header(const char *p) {
  uint64_t len;
  int fd = open(p, O_RDONLY);
  cr_assert_eq(pread(fd, &len, 8, 64 + 8), 8);
  close(fd);
  flip_bit(p, 64 + 32 + (long long)len, 1);
}
static void bad_version(const char *p) {
  put32_at(p, 8, 2);
  reseal(p);
}
static void too_many_sections(const char *p) {
  put32_at(p, 52, 1000);
  reseal(p);
}
static void one_section_less(const char *p) {
  put32_at(p, 52, 2);
  reseal(p);
}
static void trailing_bytes(const char *p) {
  write_text(p, "abcde", O_APPEND);
  reseal(p);
}
static void long_section(const char *p) {
  uint64_t big = 1u << 20;
  int fd = open(p, O_RDWR);
  cr_assert_eq(pwrite(fd, &big, 8, 64 + 8), 8);
  close(fd);
  reseal(p);
}
static void removed(const char *p) { cr_assert_eq(unlink(p), 0); }

Test(checkpoint, read_rejects_damage_with_a_reason) {
  make_dir();
  make_sub("ck");
  expect_rejected("truncated to 10 bytes", cut_10,
                  "truncated: 10 bytes, less than its header");
  expect_rejected("only the header", cut_header,
                  "truncated: 0 bytes of body, the header says");
  expect_rejected("the last byte cut", cut_last, "truncated: ");
  expect_rejected("cut in the middle", cut_middle, "truncated: ");
  expect_rejected("bit flipped in the magic", flip_magic,
                  "not a pspf checkpoint (bad magic)");
  expect_rejected("bit flipped in the header", flip_header,
                  "its header is damaged (checksum mismatch)");
  expect_rejected("bit flipped in the header's checksum", flip_header_crc,
                  "its header is damaged (checksum mismatch)");
  expect_rejected("bit flipped in the body's checksum", flip_body_crc,
                  "its header is damaged (checksum mismatch)");
  expect_rejected("bit flipped in the middle", flip_middle,
                  "section 2 is damaged (checksum mismatch)");
  expect_rejected("bit flipped in the last byte", flip_last,
                  "section 2 is damaged (checksum mismatch)");
  expect_rejected("bit flipped in the first payload, checksums redone",
                  flip_first_payload,
                  "section 0 is damaged (checksum mismatch)");
  expect_rejected("bit flipped in a section header", flip_section_header,
                  "its body is damaged (checksum mismatch)");
  expect_rejected("bit flipped in another section header",
                  flip_second_header,
                  "its body is damaged (checksum mismatch)");
  expect_rejected("another version", bad_version,
                  "format version 2, this program reads version 1");
  expect_rejected("1000 sections", too_many_sections,
                  "1000 sections do not fit in");
  expect_rejected("a section left out of the count", one_section_less,
                  "bytes after the last section");
  expect_rejected("bytes after the sections", trailing_bytes,
                  "5 bytes after the last section");
  expect_rejected("a section longer than the file", long_section,
                  "section 0 is longer than the file");
  expect_rejected("no file", removed, "cannot read it: No such file");
}

/* A payload read past its end, or with a bad bool or count, reads zeros
 * and keeps the first reason. */
Test(checkpoint, payload_reader_rejects_short_and_bad_payloads) {
  pspf_buf_t b = {0};
  pspf_ck_u64(&b, 7);
  pspf_ck_u64(&b, UINT64_MAX);
  pspf_ck_i64(&b, INT64_MIN);
  pspf_ck_i64(&b, -1);
  pspf_ckr_t r = pspf_ckr_of(b.p, b.n);
  cr_assert_eq(pspf_ckr_u64(&r), 7);
  cr_assert_eq(pspf_ckr_u64(&r), UINT64_MAX);
  cr_assert_eq(pspf_ckr_i64(&r), INT64_MIN);
  cr_assert_eq(pspf_ckr_i64(&r), -1);
  cr_assert_null(r.error, "%s", r.error);
  cr_assert_eq(r.p, r.end);
  /* Past the end: zeros and a reason, the first one kept. */
  cr_assert_eq(pspf_ckr_u64(&r), 0);
  cr_assert_not_null(r.error);
  const char *first = r.error;
  cr_assert_eq(pspf_ckr_f64(&r), 0.0);
  cr_assert_eq(r.error, first);
  cr_assert_eq(r.p, r.end);
  /* A number cut off in the middle. */
  r = pspf_ckr_of(b.p + 1, 2); /* UINT64_MAX: 10 bytes */
  cr_assert_eq(pspf_ckr_u64(&r), 0);
  cr_assert_not_null(r.error);
  cr_assert_eq(r.p, r.end);
  /* A double past the end. */
  r = pspf_ckr_of(b.p, 4);
  cr_assert_eq(pspf_ckr_f64(&r), 0.0);
  cr_assert_str_eq(r.error, "the payload ends early");

  b.n = 0;
  pspf_ck_bytes(&b, "\2", 1);
  r = pspf_ckr_of(b.p, b.n);
  pspf_ckr_bool(&r);
  cr_assert_str_eq(r.error, "a bool is neither 0 nor 1");

  b.n = 0; /* a string of 1000 bytes in a payload of a few */
  pspf_ck_u64(&b, 1000);
  pspf_ck_bytes(&b, "abcd", 4);
  r = pspf_ckr_of(b.p, b.n);
  pspf_str_t s = pspf_ckr_view(&r);
  cr_assert_eq(s.n, 0);
  cr_assert_str_eq(r.error, "a count is larger than the payload");
  b.n = 0; /* a count that would overflow a size */
  pspf_ck_u64(&b, UINT64_MAX / 2);
  pspf_ck_bytes(&b, "abcdefghijklmnop", 16);
  r = pspf_ckr_of(b.p, b.n);
  cr_assert_eq(pspf_ckr_count(&r, 16), 0);
  cr_assert_str_eq(r.error, "a count is larger than the payload");
  pspf_buf_free(&b);
}

/* ======================================================================== */
/* 2. Killed at random moments, restarted until done.                       */
/* ======================================================================== */

/* The crash test: crash.pspf (built -O2, see the top) over 3,000,000
 * generated events, checkpoints every 20 ms, killed with SIGKILL at
 * random moments (10..100 ms after each start) and restarted until it
 * exits 0 by itself, at least ten times; then every file it wrote is byte
 * for byte an uninterrupted run's. */
Test(checkpoint, sigkill_at_random_moments) {
  long t_start = now_ms();
  make_dir();
  build("crash", "prog", "-O2 -g");
  uint64_t sd = seed();
  gen_events(in_dir("in.csv"), 3000000, sd);
  make_sub("ref");
  make_sub("run");
  long t_setup = now_ms() - t_start;

  /* The uninterrupted run, without checkpoints. */
  long t0 = now_ms();
  int st = run_prog("ref", "err.txt", "prog", "--input=../in.csv",
                    "--dead-letter=dead.jsonl", "--log-level=info", NULL);
  long t_ref = now_ms() - t0;
  expect_status(st, 0, "ref", "err.txt");

  /* Kills 10..100 ms after each start, at most an eighth of an
   * uninterrupted run: a restarted run gets much less far than its time
   * (it starts, restores, and loses what it did since its last
   * checkpoint), so it takes a few dozen kills to finish, never ten. On
   * a loaded machine, where runs get less far, every 30 runs allow 100
   * ms more. */
  long lo = 10, hi = t_ref / 8;
  if (hi > 100)
    hi = 100;
  if (hi < 30)
    hi = 30;
  long t_loop = now_ms();
  Rng r = {sd ^ 0x5eed};
  int kills = 0, runs = 0, resumed = 0;
  long until = now_ms() + 240000;
  for (;;) {
    cr_assert(now_ms() < until && runs < 3000,
              "after %d runs (%d kills, %d resumed from a checkpoint) the "
              "program has not finished (seed %" PRIu64 ")", runs, kills,
              resumed, sd);
    long top = hi + 100 * (runs / 30);
    long delay = lo + (long)rng_below(&r, (uint64_t)(top - lo + 1));
    runs++;
    pid_t pid = spawn("run", "err.txt", "prog", "--input=../in.csv",
                      "--dead-letter=dead.jsonl", "--checkpoint-dir=ck",
                      "--checkpoint-interval=20ms", "--log-level=info", NULL);
    long kill_at = now_ms() + delay;
    int ws = 0;
    bool ended = false;
    while (now_ms() < kill_at)
      if (waitpid(pid, &ws, WNOHANG) == pid) {
        ended = true;
        break;
      } else {
        pause_ms(1);
      }
    if (!ended) {
      kill(pid, SIGKILL);
      cr_assert_eq(waitpid(pid, &ws, 0), pid);
      /* It may have ended by itself just before. */
      ended = !(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
      kills += !ended;
    }
    track(-pid);
    char *e = text_of(in_dir("run/err.txt"));
    resumed += strstr(e, "info: resuming from checkpoint ") != NULL;
    if (ended) {
      int code = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
      static char msg[8192];
      snprintf(msg, sizeof msg, "%s", e);
      free(e);
      cr_assert_eq(code, 0, "run %d (after %d kills) exited with %d (seed %"
                   PRIu64 "); its stderr:\n%s", runs, kills, code, sd, msg);
      break;
    }
    free(e);
  }
  cr_log_info("checkpoint crash test: %d runs, %d kills, %d resumed; kills "
              "%ld..%ld ms after each start (100 ms more every 30 runs); "
              "set-up %ld ms, uninterrupted run %ld ms, killed runs %ld ms",
              runs, kills, resumed, lo, hi, t_setup, t_ref,
              now_ms() - t_loop);
  cr_expect_geq(kills, 10, "only %d kills", kills);
  cr_expect_geq(resumed, 1, "no run resumed from a checkpoint");
  static const char *const files[] = {"win.csv", "late.jsonl", "sess.csv",
                                      "run.csv", "dead.jsonl"};
  for (size_t i = 0; i < sizeof files / sizeof *files; i++)
    expect_same_file(fmt("run/%s", files[i]), fmt("ref/%s", files[i]));
  /* The counts come back with the state: the last run reports the same
   * number of late records as the uninterrupted one. */
  char *ref_err = text_of(in_dir("ref/err.txt"));
  char line[256];
  const char *l = line_with(ref_err, " late records (");
  snprintf(line, sizeof line, "%s", /* (not its time) */
           strstr(l, "crash: ") ? strstr(l, "crash: ") : l);
  free(ref_err);
  cr_assert(strstr(line, "crash: info: "), "no count of late records in "
            "ref/err.txt");
  expect_in("run", "err.txt", line);
  /* Two checkpoints are kept; none is left half written. */
  uint64_t ids[8];
  cr_expect_eq(ck_ids("run/ck", ids, 8), 2);
  char *out;
  sh(&out, "ls -a run/ck | grep -c tmp");
  cr_expect_str_eq(out, "0\n", "temporary files left: %s", out);
  free(out);
}

/* The other kinds of state (states.pspf, sanitized): killed with SIGKILL
 * eight times, each time at a random moment after the run has taken a
 * checkpoint of its own (so that every run gets somewhere), the kills
 * spread over the input; then restarted once more and left to finish. */
/* Runs g_dir/prog in run/ (in.jsonl there; checkpoints every 20 ms in
 * run/ck) until it ends by itself: each run after a new checkpoint of its
 * own is killed with SIGKILL at a random moment up to [spread] ms later,
 * until [want] kills; then one runs to its end. Every restart must say it
 * resumes; none may report a sanitizer error; the last must exit 0. With
 * [workers], each run takes --workers=1..4 at random, counted in
 * workers[1..4]. Returns the kills; [*runs] the runs. */
static int run_with_kills(Rng *r, long spread, int want, int *workers,
                          int *runs) {
  int kills = 0;
  for (;;) {
    uint64_t before = newest_ck("run/ck");
    const char *nw = NULL;
    if (workers) {
      int k = 1 + (int)rng_below(r, 4);
      workers[k]++;
      nw = fmt("--workers=%d", k);
    }
    ++*runs;
    pid_t pid = spawn("run", "err.txt", "prog", "--dead-letter=dead.jsonl",
                      "--checkpoint-dir=ck", "--checkpoint-interval=20ms",
                      "--log-level=info", nw, NULL);
    int ws = 0;
    bool ended = false;
    long kill_at = kills < want ? -1 : LONG_MAX;
    long limit = now_ms() + DEADLINE_MS;
    for (;;) {
      if (waitpid(pid, &ws, WNOHANG) == pid) {
        ended = true;
        break;
      }
      long now = now_ms();
      if (now > limit) {
        kill(pid, SIGKILL);
        waitpid(pid, &ws, 0);
        track(-pid);
        cr_assert_fail("run %d is still running after %d ms", *runs,
                       DEADLINE_MS);
      }
      if (kill_at < 0 && newest_ck("run/ck") > before)
        kill_at = now + (long)rng_below(r, (uint64_t)spread);
      if (kill_at >= 0 && now >= kill_at)
        break;
      pause_ms(1);
    }
    if (!ended) {
      kill(pid, SIGKILL);
      cr_assert_eq(waitpid(pid, &ws, 0), pid);
      ended = !(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
      kills += !ended;
    }
    track(-pid);
    expect_no_sanitizer("run", "err.txt");
    if (*runs > 1)
      expect_in("run", "err.txt", "info: resuming from checkpoint ");
    if (ended) {
      int code = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
      expect_status(code, 0, "run", "err.txt");
      return kills;
    }
  }
}

Test(checkpoint, every_kind_of_state_survives_kills) {
  long t_start = now_ms();
  make_dir();
  build("states", "prog", sanitized);
  uint64_t sd = seed();
  gen_states(in_dir("in.jsonl"), 80000, sd);
  make_sub("ref");
  make_sub("run");
  cr_assert_eq(symlink("../in.jsonl", in_dir("ref/in.jsonl")), 0);
  cr_assert_eq(symlink("../in.jsonl", in_dir("run/in.jsonl")), 0);
  long t0 = now_ms();
  int st = run_prog("ref", "err.txt", "prog", "--dead-letter=dead.jsonl",
                    NULL);
  long t_ref = now_ms() - t0;
  expect_status(st, 0, "ref", "err.txt");

  Rng r = {sd ^ 0xabc};
  int runs = 0;
  int kills = run_with_kills(&r, t_ref / 8 > 20 ? t_ref / 8 : 20, 8, NULL,
                             &runs);
  cr_log_info("checkpoint state test: %d runs, %d kills; set-up %ld ms, "
              "uninterrupted run %ld ms, the rest %ld ms", runs, kills,
              t0 - t_start, t_ref, now_ms() - t0 - t_ref);
  cr_expect_geq(kills, 4, "only %d kills", kills);
  static const char *const files[] = {
      "slide.jsonl", "count.jsonl", "dedupe.csv", "fold.jsonl",
      "reduce.jsonl", "plain.csv", "rfold.csv", "rreduce.jsonl",
      "dead.jsonl"};
  for (size_t i = 0; i < sizeof files / sizeof *files; i++)
    expect_same_file(fmt("run/%s", files[i]), fmt("ref/%s", files[i]));
}

/* ======================================================================== */
/* 3. Damaged checkpoints.                                                  */
/* ======================================================================== */

/* crash.pspf (sanitized) over [n] events: run uninterrupted in ref/, and
 * in killed/ with checkpoints every 20 ms, killed with SIGKILL once its
 * third checkpoint is there (or ended, if it was too quick). Returns the
 * newest checkpoint's id. */
static uint64_t killed_run(long n) {
  make_dir();
  build("crash", "prog", sanitized);
  gen_events(in_dir("in.csv"), n, seed());
  make_sub("ref");
  make_sub("killed");
  int st = run_prog("ref", "err.txt", "prog", "--input=../in.csv",
                    "--dead-letter=dead.jsonl", NULL);
  expect_status(st, 0, "ref", "err.txt");
  pid_t pid = spawn("killed", "err.txt", "prog", "--input=../in.csv",
                    "--dead-letter=dead.jsonl", "--checkpoint-dir=ck",
                    "--checkpoint-interval=20ms", NULL);
  long until = now_ms() + DEADLINE_MS;
  int ws;
  bool ended = false;
  while (newest_ck("killed/ck") < 3) {
    if (waitpid(pid, &ws, WNOHANG) == pid) {
      ended = true;
      break;
    }
    cr_assert(now_ms() < until, "no third checkpoint after %d ms",
              DEADLINE_MS);
    pause_ms(1);
  }
  if (!ended) {
    kill(pid, SIGKILL);
    waitpid(pid, &ws, 0);
  }
  track(-pid);
  if (!(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL))
    expect_status(WIFEXITED(ws) ? WEXITSTATUS(ws) : 128, 0, "killed",
                  "err.txt");
  uint64_t ids[8];
  long k = ck_ids("killed/ck", ids, 8);
  /* Killed between writing the newest and deleting the oldest: delete it
   * as the program would have, so that there are two. */
  for (long i = 2; i < k && i < 8; i++)
    cr_assert_eq(unlink(ck_file("killed/ck", ids[i])), 0);
  k = ck_ids("killed/ck", ids, 8);
  cr_assert_eq(k, 2, "%ld checkpoints in killed/ck, not the two newest", k);
  cr_assert_eq(ids[1] + 1, ids[0]);
  cr_assert_geq(ids[0], 3);
  /* Some dead letters are committed: a restart must not write them
   * twice. */
  cr_assert_gt(file_size(in_dir("killed/dead.jsonl")), 0,
               "no dead letters committed yet");
  return ids[0];
}

/* What crash.pspf writes: its sinks, then the dead-letter file. */
static const char *const crash_files[] = {"win.csv", "late.jsonl", "sess.csv",
                                          "run.csv", "dead.jsonl"};

/* Restarts the killed run copied to [wd] to its end; its sinks, and
 * with [dead] its dead letters, are as the uninterrupted run's. */
static void restart_in(const char *wd, const char *extra, bool dead) {
  int st = run_prog(wd, "err.txt", "prog", "--input=../in.csv",
                    "--dead-letter=dead.jsonl", "--checkpoint-dir=ck",
                    "--checkpoint-interval=20ms", "--log-level=info", extra,
                    NULL);
  expect_status(st, 0, wd, "err.txt");
  for (size_t i = 0; i < (dead ? 5 : 4); i++)
    expect_same_file(fmt("%s/%s", wd, crash_files[i]),
                     fmt("ref/%s", crash_files[i]));
}

/* The newest checkpoint truncated, with a bit flipped, or deleted: the
 * program says so, resumes from the one before it, and its output is an
 * uninterrupted run's. */
Test(checkpoint, damaged_newest_falls_back_to_the_previous) {
  uint64_t n = killed_run(200000);
  sh_ok("cp -a killed truncated && cp -a killed flipped && "
        "cp -a killed deleted");
  char prev[128];
  snprintf(prev, sizeof prev, "info: resuming from checkpoint %" PRIu64
           " of ck ", n - 1);

  const char *newest = ck_file("truncated/ck", n);
  cr_assert_eq(truncate(newest, file_size(newest) / 2), 0);
  restart_in("truncated", NULL, true);
  expect_in("truncated", "err.txt",
            fmt("warning: checkpoint ck/checkpoint-%012" PRIu64 " is damaged: "
                "truncated: ", n));
  expect_in("truncated", "err.txt", "; using the one before it\n");
  expect_in("truncated", "err.txt", prev);
  cr_expect_eq(lines_with("truncated", "err.txt", "damaged"), 1,
               "not one line about the damage");

  newest = ck_file("flipped/ck", n);
  flip_bit(newest, file_size(newest) / 2, 4);
  restart_in("flipped", NULL, true);
  /* (The middle is in a section's payload or, when the sections are
   * small, in a section header, which the body's checksum covers.) */
  expect_in("flipped", "err.txt",
            fmt("warning: checkpoint ck/checkpoint-%012" PRIu64 " is damaged: ",
                n));
  expect_in("flipped", "err.txt", " is damaged (checksum mismatch); using "
                                  "the one before it\n");
  expect_in("flipped", "err.txt", prev);
  cr_expect_eq(lines_with("flipped", "err.txt", "damaged"), 1,
               "not one line about the damage");

  cr_assert_eq(unlink(ck_file("deleted/ck", n)), 0);
  restart_in("deleted", NULL, true);
  expect_not_in("deleted", "err.txt", "damaged");
  expect_in("deleted", "err.txt", prev);
}

/* Every checkpoint damaged: the program refuses to start (status 2, the
 * output left alone) and names --checkpoint-reset; with it, it starts
 * over and writes the output of an uninterrupted run. */
Test(checkpoint, all_damaged_refuses_until_reset) {
  uint64_t n = killed_run(200000);
  cr_assert_eq(truncate(ck_file("killed/ck", n), 10), 0);
  flip_bit(ck_file("killed/ck", n - 1), 20, 0);
  sh_ok("cp -a killed before");
  int st = run_prog("killed", "err.txt", "prog", "--input=../in.csv",
                    "--dead-letter=dead.jsonl", "--checkpoint-dir=ck", NULL);
  expect_status(st, 2, "killed", "err.txt");
  expect_in("killed", "err.txt",
            fmt("warning: checkpoint ck/checkpoint-%012" PRIu64 " is damaged: "
                "truncated: 10 bytes, less than its header; using the one "
                "before it\n", n));
  expect_in("killed", "err.txt",
            fmt("warning: checkpoint ck/checkpoint-%012" PRIu64 " is damaged: "
                "its header is damaged (checksum mismatch); there is none "
                "before it\n", n - 1));
  expect_in("killed", "err.txt",
            "error: no good checkpoint in ck (2 damaged), so the program "
            "cannot resume; to start over, run with --checkpoint-reset\n");
  /* Refused: no output file and no checkpoint was touched. */
  for (size_t i = 0; i < sizeof crash_files / sizeof *crash_files; i++)
    expect_same_file(fmt("killed/%s", crash_files[i]),
                     fmt("before/%s", crash_files[i]));
  expect_same_file(fmt("killed/ck/checkpoint-%012" PRIu64, n),
                   fmt("before/ck/checkpoint-%012" PRIu64, n));

  /* (The dead-letter file after --checkpoint-reset is the next test's.) */
  restart_in("killed", "--checkpoint-reset", false);
  expect_in("killed", "err.txt",
            "warning: --checkpoint-reset: removed 2 checkpoints of ck; "
            "starting from the beginning\n");
  expect_not_in("killed", "err.txt", "resuming");
}

/* --checkpoint-reset starts over: the dead-letter file too is written
 * anew, as the sinks are, not appended to (which would hold every bad
 * record of the input twice). */
Test(checkpoint, reset_starts_the_dead_letter_file_anew) {
  make_dir();
  build("crash", "prog", sanitized);
  gen_events(in_dir("in.csv"), 30000, seed());
  make_sub("run");
  int st = run_prog("run", "err.txt", "prog", "--input=../in.csv",
                    "--dead-letter=dead.jsonl", "--checkpoint-dir=ck", NULL);
  expect_status(st, 0, "run", "err.txt");
  sh_ok("cp -a run first");
  char *dead = text_of(in_dir("run/dead.jsonl"));
  int letters = count_lines(dead);
  free(dead);
  cr_assert_eq(letters, 4, "%d dead letters, not 4", letters);
  st = run_prog("run", "err.txt", "prog", "--input=../in.csv",
                "--dead-letter=dead.jsonl", "--checkpoint-dir=ck",
                "--checkpoint-reset", NULL);
  expect_status(st, 0, "run", "err.txt");
  expect_in("run", "err.txt", "warning: --checkpoint-reset: removed ");
  for (size_t i = 0; i < sizeof crash_files / sizeof *crash_files; i++)
    expect_same_file(fmt("run/%s", crash_files[i]),
                     fmt("first/%s", crash_files[i]));
}

/* ======================================================================== */
/* 4. SIGTERM and SIGINT.                                                   */
/* ======================================================================== */

/* Records [from, to) of follow.pspf's input: 7 keys, a second apart. */
static char *follow_records(int from, int to) {
  size_t cap = (size_t)(to - from) * 40 + 1, n = 0;
  char *s = malloc(cap);
  for (int i = from; i < to; i++)
    n += (size_t)snprintf(s + n, cap - n, "%d,k%d,%lld\n", i, i * 5 % 7,
                          1700000000000LL + i * 1000LL);
  return s;
}

/* A followed file stopped with SIGTERM: status 0, a checkpoint at the
 * position it had read to; restarted on more input, it reads on from
 * there (no record twice: the running counts and each.csv show it), and
 * stopped again with SIGINT its output is that of one run over the whole
 * input stopped once. */
Test(checkpoint, sigterm_checkpoints_and_resumes_without_reprocessing) {
  make_dir();
  build("follow", "prog", sanitized);
  make_sub("run");
  make_sub("ref");
  char *part1 = owned(follow_records(1, 301));
  char *part2 = owned(follow_records(301, 501));
  write_text(in_dir("run/in.csv"), "id,k,ts\n", O_TRUNC);
  write_text(in_dir("run/in.csv"), part1, O_APPEND);
  long long size1 = file_size(in_dir("run/in.csv"));

  pid_t pid = spawn("run", "err1.txt", "prog", "--checkpoint-dir=ck",
                    "--log-level=debug", NULL);
  wait_lines(pid, "run", "each.csv", 1 + 300, "err1.txt");
  wait_lines(pid, "run", "counts.csv", 1 + 300, "err1.txt");
  /* A second program on the same directory meanwhile is refused. */
  pid_t other = fork();
  cr_assert(other >= 0);
  if (other == 0) {
    if (chdir(in_dir("run")) == 0) {
      int e = open("err0.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int o = open("/dev/null", O_WRONLY);
      if (e >= 0 && o >= 0 && dup2(e, 2) >= 0 && dup2(o, 1) >= 0)
        execl("../prog", "../prog", "--checkpoint-dir=ck", (char *)NULL);
    }
    _exit(127);
  }
  track(other);
  expect_status(wait_end(other, DEADLINE_MS, "run", "err0.txt"), 2, "run",
                "err0.txt");
  expect_in("run", "err0.txt", "follow: error: checkpoint directory 'ck' is "
                               "in use by another process (ck/.lock is "
                               "locked)\n");
  expect_status(stop_with(pid, SIGTERM, "run", "err1.txt"), 0, "run",
                "err1.txt");
  /* The default interval is 10 s: the newest checkpoint is the
   * signal's. */
  uint64_t n1 = newest_ck("run/ck");
  cr_assert_geq(n1, 1);
  expect_in("run", "err1.txt", fmt("debug: checkpoint %" PRIu64 ": ", n1));
  expect_in("run", "err1.txt", fmt("info: stopped by SIGTERM: open windows "
                                   "are kept in checkpoint %" PRIu64 ", not "
                                   "fired\n", n1));
  int st;
  char *out = inspect_newest("run/ck", &st);
  cr_assert_eq(st, 0, "%s", out);
  cr_expect(strstr(out, fmt("source rs (in.csv): 301 records seen (a CSV header included), at byte %lld\n",
                            size1)), "inspect-checkpoint:\n%s", out);
  cr_expect(strstr(out, "program follow: 300 records read, 0 bad"),
            "inspect-checkpoint:\n%s", out);
  cr_expect_null(strstr(out, "taken at the end of the input"), "%s", out);
  free(out);

  write_text(in_dir("run/in.csv"), part2, O_APPEND);
  pid = spawn("run", "err2.txt", "prog", "--checkpoint-dir=ck",
              "--log-level=info", NULL);
  wait_lines(pid, "run", "each.csv", 1 + 500, "err2.txt");
  wait_lines(pid, "run", "counts.csv", 1 + 500, "err2.txt");
  pause_ms(300); /* a record read twice would show by now */
  expect_status(stop_with(pid, SIGINT, "run", "err2.txt"), 0, "run",
                "err2.txt");
  expect_in("run", "err2.txt", fmt("info: resuming from checkpoint %" PRIu64
                                   " of ck ", n1));
  uint64_t n2 = newest_ck("run/ck");
  cr_expect_gt(n2, n1);
  expect_in("run", "err2.txt", fmt("info: stopped by SIGINT: open windows "
                                   "are kept in checkpoint %" PRIu64 ", not "
                                   "fired\n", n2));
  out = inspect_newest("run/ck", &st);
  cr_assert_eq(st, 0, "%s", out);
  cr_expect(strstr(out, fmt("source rs (in.csv): 501 records seen (a CSV header included), at byte %lld\n",
                            file_size(in_dir("run/in.csv")))),
            "inspect-checkpoint:\n%s", out);
  cr_expect(strstr(out, "program follow: 500 records read, 0 bad"),
            "inspect-checkpoint:\n%s", out);
  free(out);

  /* One run over the whole input, stopped once. */
  write_text(in_dir("ref/in.csv"), "id,k,ts\n", O_TRUNC);
  write_text(in_dir("ref/in.csv"), part1, O_APPEND);
  write_text(in_dir("ref/in.csv"), part2, O_APPEND);
  pid = spawn("ref", "err.txt", "prog", NULL);
  wait_lines(pid, "ref", "each.csv", 1 + 500, "err.txt");
  wait_lines(pid, "ref", "counts.csv", 1 + 500, "err.txt");
  expect_status(stop_with(pid, SIGTERM, "ref", "err.txt"), 0, "ref",
                "err.txt");
  expect_same_file("run/each.csv", "ref/each.csv");
  expect_same_file("run/counts.csv", "ref/counts.csv");
  expect_same_file("run/win.csv", "ref/win.csv");
  /* The last running count of k0 is the number of k0 records: none was
   * counted twice. */
  char *counts = text_of(in_dir("run/counts.csv"));
  cr_expect(strstr(counts, "\nk0,71,497\n"), "counts.csv:\n%s", counts);
  free(counts);
}

/* A followed file gone quiet, its last line not finished: the interval's
 * timer takes a checkpoint without new input, at the start of that line.
 * Killed with SIGKILL, then restarted on the rest of the line and more,
 * the program reads every record once, the half line too. */
Test(checkpoint, quiet_follow_input_is_checkpointed_by_the_timer) {
  make_dir();
  build("follow", "prog", sanitized);
  make_sub("run");
  make_sub("ref");
  char *part1 = owned(follow_records(1, 201));
  char *part2 = owned(follow_records(201, 401));
  write_text(in_dir("run/in.csv"), "id,k,ts\n", O_TRUNC);
  write_text(in_dir("run/in.csv"), part1, O_APPEND);
  long long size1 = file_size(in_dir("run/in.csv"));
  char half[8];
  snprintf(half, sizeof half, "%.4s", part2); /* "201," */
  write_text(in_dir("run/in.csv"), half, O_APPEND);

  pid_t pid = spawn("run", "err1.txt", "prog", "--checkpoint-dir=ck",
                    "--checkpoint-interval=50ms", NULL);
  wait_lines(pid, "run", "each.csv", 1 + 200, "err1.txt");
  char want[128];
  snprintf(want, sizeof want, "source rs (in.csv): 201 records seen (a CSV header included), at byte %lld\n",
           size1);
  long until = now_ms() + DEADLINE_MS;
  for (;;) {
    int st;
    char *out = inspect_newest("run/ck", &st);
    bool there = st == 0 && strstr(out, want);
    free(out);
    if (there)
      break;
    cr_assert(now_ms() < until, "no checkpoint with \"%s\" after %d ms",
              want, DEADLINE_MS);
    pause_ms(20);
  }
  expect_status(stop_with(pid, SIGKILL, "run", "err1.txt"), 128 + SIGKILL,
                "run", "err1.txt");

  write_text(in_dir("run/in.csv"), part2 + 4, O_APPEND);
  pid = spawn("run", "err2.txt", "prog", "--checkpoint-dir=ck",
              "--checkpoint-interval=50ms", "--log-level=info", NULL);
  wait_lines(pid, "run", "each.csv", 1 + 400, "err2.txt");
  wait_lines(pid, "run", "counts.csv", 1 + 400, "err2.txt");
  pause_ms(300); /* a record read twice would show by now */
  expect_status(stop_with(pid, SIGTERM, "run", "err2.txt"), 0, "run",
                "err2.txt");
  expect_in("run", "err2.txt", "info: resuming from checkpoint ");

  write_text(in_dir("ref/in.csv"), "id,k,ts\n", O_TRUNC);
  write_text(in_dir("ref/in.csv"), part1, O_APPEND);
  write_text(in_dir("ref/in.csv"), part2, O_APPEND);
  pid = spawn("ref", "err.txt", "prog", NULL);
  wait_lines(pid, "ref", "each.csv", 1 + 400, "err.txt");
  wait_lines(pid, "ref", "counts.csv", 1 + 400, "err.txt");
  expect_status(stop_with(pid, SIGTERM, "ref", "err.txt"), 0, "ref",
                "err.txt");
  expect_same_file("run/each.csv", "ref/each.csv");
  expect_same_file("run/counts.csv", "ref/counts.csv");
  expect_same_file("run/win.csv", "ref/win.csv");
}

/* SIGTERM after the checkpoint at the end of the input, while the open
 * windows fire (final.pspf: 200,000 of them): the program exits 0, as on
 * any SIGTERM, and a restart (from that checkpoint) writes the output of
 * an uninterrupted run. */
Test(checkpoint, sigterm_while_the_last_windows_fire) {
  make_dir();
  build("final", "prog", sanitized);
  make_sub("run");
  make_sub("ref");
  Gen *g = gen_open(in_dir("in.csv"));
  gen_str(g, "id,ts\n");
  for (int i = 0; i < 200000; i++) {
    gen_int(g, i);
    gen_str(g, ",");
    gen_int(g, 1700000000000 + i);
    gen_str(g, "\n");
  }
  gen_close(g);
  sh_ok("ln in.csv run/in.csv && ln in.csv ref/in.csv");
  int st = run_prog("ref", "err.txt", "prog", NULL);
  expect_status(st, 0, "ref", "err.txt");

  /* Checkpoint 1 at the start, 2 at the end of the input (the interval
   * is an hour): the signal comes as soon as 2 is logged. */
  pid_t pid = spawn("run", "err.txt", "prog", "--checkpoint-dir=ck",
                    "--checkpoint-interval=1h", "--log-level=debug", NULL);
  long until = now_ms() + DEADLINE_MS;
  for (;;) {
    char *e = text_of(in_dir("run/err.txt"));
    bool there = strstr(e, "debug: checkpoint 2: ") != NULL;
    free(e);
    if (there)
      break;
    cr_assert(now_ms() < until, "no checkpoint 2 after %d ms", DEADLINE_MS);
    pause_ms(1);
  }
  st = stop_with(pid, SIGTERM, "run", "err.txt");
  char *e = text_of(in_dir("run/err.txt"));
  cr_expect_eq(st, 0, "SIGTERM after the last checkpoint: exit status %d, "
               "not 0 (%s); stderr:\n%s", st,
               st == 128 + SIGTERM ? "killed by the signal" : "?", e);
  free(e);
  expect_no_sanitizer("run", "err.txt");

  st = run_prog("run", "err2.txt", "prog", "--checkpoint-dir=ck",
                "--log-level=info", NULL);
  expect_status(st, 0, "run", "err2.txt");
  expect_in("run", "err2.txt", "info: resuming from checkpoint ");
  expect_same_file("run/out.csv", "ref/out.csv");
}

/* ======================================================================== */
/* 5. A changed program.                                                    */
/* ======================================================================== */

/* Records [from, to) of change_*.pspf's input. */
static char *change_records(int from, int to) {
  size_t cap = (size_t)(to - from) * 48 + 1, n = 0;
  char *s = malloc(cap);
  for (int i = from; i < to; i++)
    n += (size_t)snprintf(s + n, cap - n, "%d,k%d,%d,%lld\n", i, i % 3,
                          i * 37 % 101, 1700000000000LL + i * 700LL);
  return s;
}

/* What sel.csv holds: records [1, to) with v > [lo1] below [cut], v >
 * [lo2] from it. */
static char *expected_sel(int to, int cut, int lo1, int lo2) {
  size_t cap = (size_t)to * 24 + 16, n = 0;
  char *s = malloc(cap);
  n += (size_t)snprintf(s, cap, "id,v\n");
  for (int i = 1; i < to; i++) {
    int v = i * 37 % 101;
    if (v > (i < cut ? lo1 : lo2))
      n += (size_t)snprintf(s + n, cap - n, "%d,%d\n", i, v);
  }
  return s;
}

/* What tot.csv holds: the running count and sum per key, and the
 * maximum with [hi]. */
static char *expected_tot(int to, bool hi) {
  size_t cap = (size_t)to * 32 + 16, n = 0;
  char *s = malloc(cap);
  long cnt[3] = {0}, sum[3] = {0}, max[3] = {0};
  n += (size_t)snprintf(s, cap, hi ? "key,n,s,hi\n" : "key,n,s\n");
  for (int i = 1; i < to; i++) {
    int k = i % 3, v = i * 37 % 101;
    cnt[k]++;
    sum[k] += v;
    if (cnt[k] == 1 || v > max[k])
      max[k] = v;
    n += (size_t)snprintf(s + n, cap - n, "k%d,%ld,%ld", k, cnt[k], sum[k]);
    n += (size_t)(hi ? snprintf(s + n, cap - n, ",%ld\n", max[k])
                     : snprintf(s + n, cap - n, "\n"));
  }
  return s;
}

/* [n] bytes at [p] contain [needle] ([k] bytes). */
static bool has(const char *p, size_t n, const char *needle, size_t k) {
  for (size_t i = 0; i + k <= n; i++)
    if (memcmp(p + i, needle, k) == 0)
      return true;
  return false;
}

/* g_dir/[name] holds [want] (which is freed). */
static void expect_text(const char *name, char *want) {
  char *got = text_of(in_dir(name));
  cr_expect_str_eq(got, want, "%s\n--- got:\n%s--- want:\n%s", name, got,
                   want);
  free(got);
  free(want);
}

/* Runs [exe] in run/ until tot.csv has [lines] lines, or (when [tot] is
 * not NULL) until it is [tot], then stops it with SIGTERM. */
static void follow_until(const char *exe, int lines, const char *tot,
                         const char *err, const char *extra) {
  pid_t pid = spawn("run", err, exe, "--checkpoint-dir=ck",
                    "--log-level=info", extra, NULL);
  if (tot)
    wait_text(pid, "run", "tot.csv", tot, err);
  else
    wait_lines(pid, "run", "tot.csv", lines, err);
  expect_status(stop_with(pid, SIGTERM, "run", err), 0, "run", err);
}

Test(checkpoint, changed_program) {
  make_dir();
  build("change_base", "base", sanitized);
  build("change_stateless", "stateless", sanitized);
  build("change_state", "state", sanitized);
  make_sub("run");
  make_sub("ref");
  char *part1 = owned(change_records(1, 101));
  char *part2 = owned(change_records(101, 201));
  write_text(in_dir("run/in.csv"), "id,k,v,ts\n", O_TRUNC);
  write_text(in_dir("run/in.csv"), part1, O_APPEND);
  follow_until("base", 1 + 100, NULL, "err1.txt", NULL);
  expect_text("run/tot.csv", expected_tot(101, false));
  uint64_t n1 = newest_ck("run/ck");
  cr_assert_geq(n1, 1);

  /* Changed state: refused, status 2, what changed as a diff. */
  sh_ok("cp -a run before");
  int st = run_prog("run", "err2.txt", "state", "--checkpoint-dir=ck", NULL);
  expect_status(st, 2, "run", "err2.txt");
  char *e = text_of(in_dir("run/err2.txt"));
  cr_expect(strstr(e, fmt("change_state: error: the program has changed "
                          "since checkpoint ck/checkpoint-%012" PRIu64 " was "
                          "taken (fingerprint ", n1)), "err2.txt:\n%s", e);
  cr_expect(strstr(e, "), so it cannot resume from it. What changed:\n"),
            "err2.txt:\n%s", e);
  /* The window's line, then the running aggregate's, each "-" as it was
   * and "+" as it is now, with where it is. */
  const char *w_old = strstr(e, "\n  - state: window tumbling(");
  const char *w_new = strstr(e, "\n  + state: window tumbling(");
  const char *a_old = strstr(e, "\n  - state: running aggregate key string: ");
  const char *a_new = strstr(e, "\n  + state: running aggregate key string: ");
  cr_expect(w_old && w_new && a_old && a_new, "err2.txt:\n%s", e);
  if (w_old && w_new && a_old && a_new) {
    size_t lo = strcspn(w_old + 1, "\n"), ln = strcspn(w_new + 1, "\n");
    w_old++, w_new++;
    cr_expect(has(w_old, lo, "10000", 5) && has(w_new, ln, "20000", 5),
              "the window lines:\n%.*s\n%.*s", (int)lo, w_old, (int)ln, w_new);
    cr_expect(has(w_old, lo, "change_base.pspf:21)", 20), "%.*s", (int)lo,
              w_old);
    cr_expect(has(w_new, ln, "change_state.pspf:20)", 21), "%.*s", (int)ln,
              w_new);
    a_old++, a_new++;
    lo = strcspn(a_old, "\n");
    ln = strcspn(a_new, "\n");
    cr_expect(!has(a_old, lo, "hi max int", 10) &&
                  has(a_new, ln, "hi max int", 10),
              "the aggregate lines:\n%.*s\n%.*s", (int)lo, a_old, (int)ln,
              a_new);
  }
  int minus = 0, plus = 0;
  for (const char *p = e; (p = strstr(p, "\n  - ")); p++)
    minus++;
  for (const char *p = e; (p = strstr(p, "\n  + ")); p++)
    plus++;
  cr_expect(minus == 2 && plus == 2, "%d lines '-' and %d '+', not 2 and 2:"
            "\n%s", minus, plus, e);
  cr_expect(strstr(e, "change_state: error: to start over, run with "
                      "--checkpoint-reset"), "err2.txt:\n%s", e);
  /* The diff is for people: durations as such, not the C that the
   * compiler writes for them (docs/operations.md shows "tumbling(10000ms,
   * every 10000ms)"). */
  cr_expect_null(strstr(e, "INT64_C"), "the diff shows C source text:\n%s",
                 e);
  free(e);
  char ck1[64];
  snprintf(ck1, sizeof ck1, "ck/checkpoint-%012" PRIu64, n1);
  const char *const outs[] = {"sel.csv", "tot.csv", "win.csv", ck1};
  for (int i = 0; i < 4; i++)
    expect_same_file(fmt("run/%s", outs[i]), fmt("before/%s", outs[i]));

  /* Changed where there is no state: it resumes, and goes on with its
   * own filter from where the first program stopped. */
  write_text(in_dir("run/in.csv"), part2, O_APPEND);
  follow_until("stateless", 1 + 200, NULL, "err3.txt", NULL);
  expect_in("run", "err3.txt", fmt("info: resuming from checkpoint %" PRIu64
                                   " of ck ", n1));
  expect_text("run/sel.csv", expected_sel(201, 101, 50, 20));
  expect_text("run/tot.csv", expected_tot(201, false));
  /* The windows as one run of the first program over all of it. */
  write_text(in_dir("ref/in.csv"), "id,k,v,ts\n", O_TRUNC);
  write_text(in_dir("ref/in.csv"), part1, O_APPEND);
  write_text(in_dir("ref/in.csv"), part2, O_APPEND);
  pid_t pid = spawn("ref", "err.txt", "base", NULL);
  wait_lines(pid, "ref", "tot.csv", 1 + 200, "err.txt");
  expect_status(stop_with(pid, SIGTERM, "ref", "err.txt"), 0, "ref",
                "err.txt");
  expect_same_file("run/win.csv", "ref/win.csv");

  /* The changed state with --checkpoint-reset: from the start, with
   * every output written anew. */
  uint64_t ids[8];
  long k = ck_ids("run/ck", ids, 8);
  cr_assert_geq(k, 1);
  /* (tot.csv has 201 lines already: wait for the new ones.) */
  char *tot = owned(expected_tot(201, true));
  follow_until("state", 0, tot, "err4.txt", "--checkpoint-reset");
  expect_in("run", "err4.txt", fmt("warning: --checkpoint-reset: removed %ld "
                                   "checkpoint%s of ck; starting from the "
                                   "beginning\n", k, k == 1 ? "" : "s"));
  expect_not_in("run", "err4.txt", "resuming");
  expect_text("run/sel.csv", expected_sel(201, 201, 50, 50));
  expect_text("run/tot.csv", strdup(tot));
}

/* ======================================================================== */
/* 6. inspect-checkpoint, and what a finished run leaves.                   */
/* ======================================================================== */

Test(checkpoint, inspect_checkpoint) {
  make_dir();
  build("crash", "prog", sanitized);
  gen_events(in_dir("in.csv"), 20000, seed());
  make_sub("run");
  int st = run_prog("run", "err.txt", "prog", "--input=../in.csv",
                    "--dead-letter=dead.jsonl", "--checkpoint-dir=ck",
                    "--log-level=debug", NULL);
  expect_status(st, 0, "run", "err.txt");
  uint64_t n = newest_ck("run/ck");
  cr_assert_geq(n, 1);
  expect_in("run", "err.txt", fmt("debug: checkpoint %" PRIu64 ": ", n));
  long long in_size = file_size(in_dir("in.csv"));
  long long run_size = file_size(in_dir("run/run.csv"));
  long long dead_size = file_size(in_dir("run/dead.jsonl"));
  char *run_csv = text_of(in_dir("run/run.csv"));
  int run_records = count_lines(run_csv) - 1;
  free(run_csv);

  char *out = inspect_newest("run/ck", &st);
  cr_expect_eq(st, 0, "inspect-checkpoint exited with %d:\n%s", st, out);
  const char *want[] = {
      fmt("run/ck/checkpoint-%012" PRIu64 ": good\n  id %" PRIu64 ", "
          "written ", n, n),
      ", taken at the end of the input\n",
      fmt("  program crash: 20000 records read, 3 bad (dead letters: "
          "dead.jsonl, %lld bytes), ", dead_size),
      fmt("  source ev (../in.csv): 20001 records seen (a CSV header included), ended, at byte %lld\n",
          in_size),
      /* The running aggregate's output is all committed; the windows'
       * fire after the checkpoint. */
      fmt("  sink run (file csv run.csv): %d records, committed length "
          "%lld\n", run_records, run_size),
      "  sink win (file csv win.csv): ",
      "  sink late (file json late.jsonl): ",
      "  sink sess (file csv sess.csv): ",
  };
  for (size_t i = 0; i < sizeof want / sizeof *want; i++)
    cr_expect(strstr(out, want[i]), "inspect-checkpoint lacks \"%s\":\n%s",
              want[i], out);
  /* Each state with where it is and its keys: the running aggregate has
   * one a user % 7; every item (100) has an open session at the end. */
  const char *agg = line_with(out, "/tests/ckpt/crash.pspf:47, running "
                                   "aggregate key int: ");
  cr_expect(strstr(agg, "): 7 keys, "), "the running aggregate's line: "
            "\"%s\" in:\n%s", agg, out);
  const char *sess = line_with(out, "/tests/ckpt/crash.pspf:38, window "
                                    "session(");
  cr_expect(strstr(sess, "): 100 keys, "), "the session window's line: "
            "\"%s\" in:\n%s", sess, out);
  const char *tumb = line_with(out, "/tests/ckpt/crash.pspf:30, window "
                                    "tumbling(");
  cr_expect(strstr(tumb, " keys, "), "the tumbling window's line: \"%s\" "
            "in:\n%s", tumb, out);
  /* Taken before the windows open at the end fired: win.csv grew after
   * its committed length. */
  const char *win = line_with(out, "  sink win (file csv win.csv): ");
  const char *len = strstr(win, "committed length ");
  long long committed = len ? atoll(len + 17) : -1;
  cr_expect(committed > 0 && committed < file_size(in_dir("run/win.csv")),
            "win.csv: committed length %lld, %lld bytes at the end:\n%s",
            committed, file_size(in_dir("run/win.csv")), out);
  free(out);

  /* Run again on its checkpoints, twice: each run fires the windows
   * again over the committed output, and the output does not change. The
   * two newest checkpoints are kept. */
  sh_ok("cp -a run first");
  for (uint64_t i = 0; i < 2; i++) {
    st = run_prog("run", "err.txt", "prog", "--input=../in.csv",
                  "--dead-letter=dead.jsonl", "--checkpoint-dir=ck",
                  "--log-level=info", NULL);
    expect_status(st, 0, "run", "err.txt");
    expect_in("run", "err.txt", fmt("info: resuming from checkpoint %" PRIu64
                                    " of ck (taken ", n + i));
    expect_in("run", "err.txt", " at the end of the input): ");
    for (size_t k = 0; k < sizeof crash_files / sizeof *crash_files; k++)
      expect_same_file(fmt("run/%s", crash_files[k]),
                       fmt("first/%s", crash_files[k]));
  }
  uint64_t ids[8];
  cr_expect_eq(ck_ids("run/ck", ids, 8), 2);
  cr_expect(ids[0] == n + 2 && ids[1] == n + 1, "checkpoints %" PRIu64
            " and %" PRIu64 ", not %" PRIu64 " and %" PRIu64, ids[0], ids[1],
            n + 2, n + 1);
  n += 2;

  /* The newest damaged: exit status 1, and it says which and why. */
  flip_bit(ck_file("run/ck", n), 30, 2);
  st = sh(&out, "timeout 60 '%s' inspect-checkpoint run/ck", pspfc_path());
  cr_expect_eq(st, 1, "inspect-checkpoint exited with %d:\n%s", st, out);
  cr_expect(strstr(out, fmt("run/ck/checkpoint-%012" PRIu64 ": damaged: its "
                            "header is damaged (checksum mismatch)\n", n)),
            "%s", out);
  cr_expect(strstr(out, fmt("run/ck/checkpoint-%012" PRIu64 ": good\n",
                            n - 1)), "%s", out);
  free(out);
  /* Only an older one damaged: 0. */
  flip_bit(ck_file("run/ck", n), 30, 2);
  flip_bit(ck_file("run/ck", n - 1), 30, 2);
  st = sh(&out, "timeout 60 '%s' inspect-checkpoint run/ck", pspfc_path());
  cr_expect_eq(st, 0, "inspect-checkpoint exited with %d:\n%s", st, out);
  free(out);
  /* No checkpoints, no directory. */
  make_sub("empty");
  st = sh(&out, "timeout 60 '%s' inspect-checkpoint empty", pspfc_path());
  cr_expect_eq(st, 1);
  cr_expect_str_eq(out, "empty: no checkpoints\n");
  free(out);
  st = sh(&out, "timeout 60 '%s' inspect-checkpoint nothing-here",
          pspfc_path());
  cr_expect_eq(st, 1);
  cr_expect_str_eq(out, "nothing-here: cannot read the directory: No such "
                        "file or directory\n");
  free(out);
  st = sh(&out, "timeout 60 '%s' inspect-checkpoint", pspfc_path());
  cr_expect_eq(st, 1, "%s", out);
  cr_expect(strstr(out, "usage: pspfc inspect-checkpoint DIR"), "%s", out);
  free(out);
}

/* The checkpoint flags: bad values are usage errors (status 1); a
 * directory that cannot be made is a run-time failure (2); PSPF_
 * variables stand for the flags; --log-level=debug logs one line per
 * checkpoint, and the two newest are kept. */
Test(checkpoint, flags_and_environment) {
  make_dir();
  build("crash", "prog", sanitized);
  gen_events(in_dir("in.csv"), 100000, seed());
  make_sub("run");
  static const struct {
    const char *flag, *msg;
  } bad[] = {
      {"--checkpoint-interval=abc", "crash: error: --checkpoint-interval is "
                                    "a duration such as 10s or 500ms, not "
                                    "'abc'\n"},
      {"--checkpoint-interval=0", "crash: error: --checkpoint-interval is a "
                                  "duration such as 10s or 500ms, not '0'\n"},
      {"--checkpoint-interval=5 s", "not '5 s'\n"},
      {"--checkpoint-reset=maybe", "crash: error: --checkpoint-reset is true "
                                   "or false, not 'maybe'\n"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    int st = run_prog("run", "err.txt", "prog", "--input=../in.csv",
                      "--checkpoint-dir=ck", bad[i].flag, NULL);
    expect_status(st, 1, "run", "err.txt");
    expect_in("run", "err.txt", bad[i].msg);
  }
  cr_expect_eq(access(in_dir("run/ck"), F_OK), -1, "a usage error made ck");
  int st = run_prog("run", "err.txt", "prog", "--input=../in.csv",
                    "--checkpoint-dir=no/such/dir", NULL);
  expect_status(st, 2, "run", "err.txt");
  expect_in("run", "err.txt", "crash: error: cannot make the checkpoint "
                              "directory 'no/such/dir': No such file or "
                              "directory\n");

  /* PSPF_CHECKPOINT_DIR and PSPF_CHECKPOINT_INTERVAL. */
  cr_assert_eq(setenv("PSPF_CHECKPOINT_DIR", "envck", 1), 0);
  cr_assert_eq(setenv("PSPF_CHECKPOINT_INTERVAL", "1ms", 1), 0);
  st = run_prog("run", "err.txt", "prog", "--input=../in.csv",
                "--dead-letter=dead.jsonl", "--log-level=debug", NULL);
  unsetenv("PSPF_CHECKPOINT_DIR");
  unsetenv("PSPF_CHECKPOINT_INTERVAL");
  expect_status(st, 0, "run", "err.txt");
  uint64_t ids[8];
  long k = ck_ids("run/envck", ids, 8);
  cr_assert_eq(k, 2, "%ld checkpoints in run/envck", k);
  /* One debug line a checkpoint, 1, 2, ... up to the newest. */
  char *e = text_of(in_dir("run/err.txt"));
  uint64_t want = 1;
  for (const char *p = e; (p = strstr(p, "crash: debug: checkpoint ")); p++) {
    unsigned long long id = strtoull(p + 25, NULL, 10);
    cr_expect_eq(id, want, "debug line for checkpoint %llu, expected %" PRIu64
                 ":\n%s", id, want, e);
    want++;
  }
  cr_expect_eq(want - 1, ids[0], "%" PRIu64 " debug lines, newest checkpoint "
               "%" PRIu64 ":\n%s", want - 1, ids[0], e);
  cr_expect_gt(ids[0], 2, "a 1 ms interval took only %" PRIu64
               " checkpoints:\n%s", ids[0], e);
  cr_expect_eq(ids[1] + 1, ids[0]);
  free(e);

  /* Restarted on other input, or with an output cut shorter outside the
   * program: refused (status 2), saying what and how to go on. */
  sh_ok("cp in.csv other.csv");
  st = run_prog("run", "err.txt", "prog", "--input=../other.csv",
                "--dead-letter=dead.jsonl", "--checkpoint-dir=envck", NULL);
  expect_status(st, 2, "run", "err.txt");
  expect_in("run", "err.txt",
            fmt("crash: error: source 'ev' reads '../other.csv', but "
                "checkpoint %" PRIu64 " was taken reading '../in.csv': run it "
                "on the same input, or start over with --checkpoint-reset\n",
                ids[0]));
  cr_assert_eq(truncate(in_dir("run/win.csv"), 5), 0);
  st = run_prog("run", "err.txt", "prog", "--input=../in.csv",
                "--dead-letter=dead.jsonl", "--checkpoint-dir=envck", NULL);
  expect_status(st, 2, "run", "err.txt");
  expect_in("run", "err.txt", "crash: error: sink 'win': 'win.csv' holds 5 "
                              "bytes, fewer than the ");
  expect_in("run", "err.txt", " its checkpoint committed: it was changed "
                              "outside the program (put it back, or start "
                              "over with --checkpoint-reset)\n");
}

/* ======================================================================== */
/* 7. --workers: every worker's state in the checkpoint, spread again when  */
/*    the program restarts with another number of them.                    */
/* ======================================================================== */

static int line_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* [got] and [want] (under g_dir) hold the same lines, in any order: a
 * restart with another number of workers fills its tables anew, so the
 * keys of one firing may come in another order (which the spec leaves
 * open); everything else must be there exactly once. */
static void expect_same_lines(const char *got, const char *want) {
  char *text[2] = {text_of(in_dir(got)), text_of(in_dir(want))};
  cr_assert(text[0] && text[1], "%s is missing", !text[1] ? want : got);
  char **lines[2];
  int n[2];
  for (int f = 0; f < 2; f++) {
    n[f] = count_lines(text[f]);
    lines[f] = calloc((size_t)n[f] + 1, sizeof *lines[f]);
    cr_assert(lines[f]);
    int k = 0;
    for (char *p = text[f], *nl; *p && k < n[f]; p = nl + 1, k++) {
      nl = strchr(p, '\n');
      if (!nl)
        nl = p + strlen(p) - 1;
      else
        *nl = 0;
      lines[f][k] = p;
    }
    n[f] = k;
    qsort(lines[f], (size_t)n[f], sizeof *lines[f], line_cmp);
  }
  cr_expect_eq(n[0], n[1], "%s has %d lines, %s %d", got, n[0], want, n[1]);
  for (int i = 0; i < n[0] && i < n[1]; i++)
    if (strcmp(lines[0][i], lines[1][i]) != 0) {
      cr_expect_fail("%s and %s differ (sorted, line %d):\n  got:  %.300s\n"
                     "  want: %.300s", got, want, i + 1, lines[0][i],
                     lines[1][i]);
      break;
    }
  for (int f = 0; f < 2; f++) {
    free(lines[f]);
    free(text[f]);
  }
}

Test(checkpoint, workers_change_between_kills) {
  make_dir();
  build("workers", "prog", sanitized);
  uint64_t sd = seed();
  gen_states(in_dir("in.jsonl"), 200000, sd);
  make_sub("ref");
  make_sub("run");
  cr_assert_eq(symlink("../in.jsonl", in_dir("ref/in.jsonl")), 0);
  cr_assert_eq(symlink("../in.jsonl", in_dir("run/in.jsonl")), 0);
  long t0 = now_ms();
  int st = run_prog("ref", "err.txt", "prog", "--dead-letter=dead.jsonl",
                    NULL);
  long t_ref = now_ms() - t0;
  expect_status(st, 0, "ref", "err.txt");

  Rng r = {sd ^ 0x5eed};
  int runs = 0, counts[5] = {0};
  /* (Several workers may go faster than the reference run.) */
  int kills = run_with_kills(&r, t_ref / 40 > 10 ? t_ref / 40 : 10, 6, counts,
                             &runs);
  cr_log_info("workers checkpoint test: %d runs (1 to 4 workers: %d %d %d "
              "%d), %d kills", runs, counts[1], counts[2], counts[3],
              counts[4], kills);
  cr_expect_geq(kills, 4, "only %d kills", kills);
  static const char *const files[] = {
      "slide.jsonl", "count.jsonl", "dedupe.csv", "reduce.jsonl",
      "plain.csv", "rfold.csv", "rreduce.jsonl", "big.csv"};
  for (size_t i = 0; i < sizeof files / sizeof *files; i++)
    expect_same_lines(fmt("run/%s", files[i]), fmt("ref/%s", files[i]));
}

/* Session windows are not spread over another number of workers yet: a
 * checkpoint of two workers restarted with three is refused with a clear
 * message; with two it goes on. */
Test(checkpoint, workers_keep_their_number_for_sessions) {
  make_dir();
  build("states", "prog", sanitized);
  gen_states(in_dir("in.jsonl"), 20000, seed());
  make_sub("ref");
  make_sub("run");
  cr_assert_eq(symlink("../in.jsonl", in_dir("ref/in.jsonl")), 0);
  cr_assert_eq(symlink("../in.jsonl", in_dir("run/in.jsonl")), 0);
  int st = run_prog("ref", "err.txt", "prog", "--dead-letter=dead.jsonl",
                    NULL);
  expect_status(st, 0, "ref", "err.txt");
  /* To the end with two workers: the last checkpoint is taken before the
   * windows open at the end fire, so a restart fires them again. */
  st = run_prog("run", "err.txt", "prog", "--dead-letter=dead.jsonl",
                "--checkpoint-dir=ck", "--workers=2", NULL);
  expect_status(st, 0, "run", "err.txt");
  st = run_prog("run", "err3.txt", "prog", "--dead-letter=dead.jsonl",
                "--checkpoint-dir=ck", "--workers=3", NULL);
  expect_status(st, 2, "run", "err3.txt");
  expect_in("run", "err3.txt", "session windows are not spread over another "
            "number of workers yet: restart with as many as before");
  st = run_prog("run", "err2.txt", "prog", "--dead-letter=dead.jsonl",
                "--checkpoint-dir=ck", "--workers=2", "--log-level=info",
                NULL);
  expect_status(st, 0, "run", "err2.txt");
  expect_in("run", "err2.txt", "info: resuming from checkpoint ");
  static const char *const files[] = {
      "slide.jsonl", "count.jsonl", "dedupe.csv", "fold.jsonl",
      "reduce.jsonl", "plain.csv", "rfold.csv", "rreduce.jsonl"};
  for (size_t i = 0; i < sizeof files / sizeof *files; i++)
    expect_same_lines(fmt("run/%s", files[i]), fmt("ref/%s", files[i]));
}

/* Many small chunks (reads of 4 KiB), so that the ring of chunks in
 * flight fills again and again, through every kind of pipeline of
 * crash.pspf: three workers write what one does (the keys of one firing
 * aside), and the same dead letters in the same order. */
Test(checkpoint, workers_many_chunks_match_one_worker) {
  make_dir();
  build("crash", "prog", sanitized);
  gen_events(in_dir("in.csv"), 150000, seed());
  make_sub("ref");
  make_sub("run");
  int st = run_prog("ref", "err.txt", "prog", "--input=../in.csv",
                    "--dead-letter=dead.jsonl", NULL);
  expect_status(st, 0, "ref", "err.txt");
  cr_assert_eq(setenv("PSPF_READ_LIMIT", "4096", 1), 0);
  st = run_prog("run", "err.txt", "prog", "--input=../in.csv",
                "--dead-letter=dead.jsonl", "--workers=3", NULL);
  unsetenv("PSPF_READ_LIMIT");
  expect_status(st, 0, "run", "err.txt");
  expect_no_sanitizer("run", "err.txt");
  for (size_t i = 0; i < 4; i++)
    expect_same_lines(fmt("run/%s", crash_files[i]),
                      fmt("ref/%s", crash_files[i]));
  expect_same_file("run/dead.jsonl", "ref/dead.jsonl");
}
