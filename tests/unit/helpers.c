/*
 * helpers.c -- see helpers.h.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

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
