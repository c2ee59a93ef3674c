/*
 * helpers.c -- see helpers.h.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

Compiled compile_text(const char *text, const char *flags) {
  Compiled r = {0};
  size_t dlen = 0, olen = 0;
  FILE *d = open_memstream(&r.diag, &dlen);
  FILE *o = open_memstream(&r.out, &olen);
  Options opt;
  options_init(&opt);
  opt.color = DIAG_COLOR_NEVER;
  opt.max_errors = 0;
  if (flags && strstr(flags, "types"))
    opt.print_types = true;
  if (flags && strstr(flags, "ast"))
    opt.dump_ast = true;
  if (flags && strstr(flags, "json"))
    opt.json = true;
  if (flags && strstr(flags, "werror"))
    opt.werror = true;
  Arena a;
  arena_init(&a);
  Source *src = source_from_string(&a, "t.pspf", text, strlen(text));
  r.status = driver_check(src, &a, &opt, d, o);
  arena_free(&a);
  fclose(d);
  fclose(o);
  return r;
}

void compiled_free(Compiled *c) {
  free(c->diag);
  free(c->out);
  c->diag = c->out = NULL;
}

int run_cmd(const char *cmd, char **out) {
  char *full = malloc(strlen(cmd) + 16);
  sprintf(full, "(%s) 2>&1", cmd);
  FILE *p = popen(full, "r");
  free(full);
  if (!p) {
    *out = strdup("");
    return -1;
  }
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  size_t n;
  while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
    len += n;
    if (cap - len < 2)
      buf = realloc(buf, cap *= 2);
  }
  buf[len] = 0;
  *out = buf;
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  size_t got = fread(buf, 1, (size_t)n, f);
  buf[got] = 0;
  fclose(f);
  return buf;
}

const char *pspfc_path(void) {
  const char *p = getenv("PSPFC");
  return p && *p ? p : "build/san/bin/pspfc";
}

long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void pause_ms(long ms) {
  struct timespec t = {ms / 1000, (ms % 1000) * 1000000};
  while (nanosleep(&t, &t) < 0 && errno == EINTR)
    ;
}

int run_in(const char *dir, char **out, const char *fmt, ...) {
  char cmd[8192];
  /* (not "cd DIR && CMD": a CMD of "A & B" would put the cd, with A, in
   * the background, and run B where the test runs) */
  int k = snprintf(cmd, sizeof cmd, "cd '%s' || exit 125; ", dir);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd + k, sizeof cmd - (size_t)k, fmt, ap);
  va_end(ap);
  return run_cmd(cmd, out);
}

int build_in(const char *dir, const char *pspf, const char *exe,
             const char *cflags, char **out) {
  const char *root = getenv("PSPF_ROOT") ? getenv("PSPF_ROOT") : ".";
  return run_in(dir, out,
                "CFLAGS='%s' PSPF_RUNTIME_DIR='%s/build' '%s' build "
                "-fdiagnostics-color=never '%s' -o '%s'",
                cflags, root, pspfc_path(), pspf, exe);
}

int free_port(void) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t n = sizeof a;
  int port = -1;
  if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(s, (struct sockaddr *)&a, &n) == 0)
    port = ntohs(a.sin_port);
  if (s >= 0)
    close(s);
  return port;
}

void build_prog_in(const char *dir, const char *text, const char *cflags) {
  char path[700];
  snprintf(path, sizeof path, "%s/prog.pspf", dir);
  FILE *f = fopen(path, "w");
  cr_assert(f, "%s: %s", path, strerror(errno));
  fputs(text, f);
  fclose(f);
  char *out;
  int st = build_in(dir, "prog.pspf", "prog", cflags, &out);
  cr_assert_eq(st, 0, "build failed:\n%s", out);
  free(out);
}

pid_t spawn_in(const char *dir, const char *err, const char *const argv[]) {
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (chdir(dir) < 0)
      _exit(127);
    int e = open(err, O_WRONLY | O_CREAT | O_APPEND, 0644);
    int n = open("/dev/null", O_RDWR);
    if (e < 0 || n < 0 || dup2(n, 0) < 0 || dup2(n, 1) < 0 || dup2(e, 2) < 0)
      _exit(127);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  return pid;
}

long rss_kib(pid_t pid) {
  char p[64], line[256];
  snprintf(p, sizeof p, "/proc/%d/status", (int)pid);
  FILE *f = fopen(p, "r");
  if (!f)
    return -1;
  long kib = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
      break;
  fclose(f);
  return kib;
}

void drain_fd(int fd, long *got, long want, long ms, FILE *to) {
  char buf[65536];
  long until = now_ms() + ms;
  while (*got < want && now_ms() < until) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      *got += n;
      if (to)
        fwrite(buf, 1, (size_t)n, to);
    } else {
      pause_ms(1);
    }
  }
}
