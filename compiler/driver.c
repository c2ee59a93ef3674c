/*
 * driver.c -- one compile from source text to checked program, shared by
 * the CLI (main.c) and the in-process tests.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pspfc.h"

void options_init(Options *o) {
  memset(o, 0, sizeof *o);
  o->color = DIAG_COLOR_AUTO;
  o->max_errors = 20;
}

void ctx_init(Ctx *c, Source *src, FILE *diag_out, DiagColor color) {
  memset(c, 0, sizeof *c);
  arena_init(&c->arena);
  c->src = src;
  diag_init(&c->diag, src, diag_out, color);
}

void ctx_free(Ctx *c) { arena_free(&c->arena); }

/* A compile of [src] in the caller's [arena] (which already holds [src]),
 * with diagnostics set up from [o]. */
static void ctx_for(Ctx *c, Source *src, Arena *arena, const Options *o,
                    FILE *diag_out) {
  memset(c, 0, sizeof *c);
  c->arena = *arena;
  c->src = src;
  diag_init(&c->diag, src, diag_out, o->color);
  c->diag.json = o->json;
  c->diag.werror = o->werror;
  c->diag.no_warnings = o->no_warnings;
  c->diag.max_errors = o->max_errors;
}

int driver_check(Source *src, Arena *arena, const Options *o, FILE *diag_out,
                 FILE *out) {
  Ctx c;
  ctx_for(&c, src, arena, o, diag_out);
  parse_program(&c);
  if (o->dump_ast && c.diag.errors == 0)
    for (int i = 0; i < c.prog.items.len; i++) {
      ast_dump(out, c.prog.items.items[i]);
      fputc('\n', out);
    }
  /* Type errors after syntax errors would mostly be echoes of them; after
   * lexical errors (a bad escape, an unknown unit) the tokens are sound
   * and checking goes on. */
  if (c.syntax_errors == 0 && !diag_too_many(&c.diag))
    check_program(&c);
  if (o->print_types && c.diag.errors == 0)
    check_print_chains(&c, out);
  if (o->graph && c.diag.errors == 0)
    graph_write(&c, out, o->graph == 2);
  if (o->explain && c.diag.errors == 0 && explain_write(&c, out) != 0)
    diag_finish(&c.diag); /* (the emitter reported why) */
  diag_finish(&c.diag);
  *arena = c.arena;
  return c.diag.errors ? 1 : 0;
}

int driver_parse(Source *src, Arena *arena, const Options *o,
                 FILE *diag_out) {
  Ctx c;
  ctx_for(&c, src, arena, o, diag_out);
  parse_program(&c);
  int bad = c.syntax_errors || c.diag.errors; /* (lexical ones too) */
  diag_finish(&c.diag);
  *arena = c.arena;
  return bad ? 1 : 0;
}

/* Parses, checks and emits; on success [*c_text] holds the C. */
static int front_and_emit(Source *src, Arena *arena, const Options *o,
                          const char *c_path, bool no_line, FILE *diag_out,
                          char **c_text, size_t *c_len) {
  Ctx c;
  ctx_for(&c, src, arena, o, diag_out);
  parse_program(&c);
  if (c.syntax_errors == 0 && !diag_too_many(&c.diag))
    check_program(&c);
  *c_text = NULL;
  if (c.diag.errors == 0) {
    EmitOptions eo = {.no_line = no_line, .out_path = c_path};
    emit_c(&c, &eo, c_text, c_len);
    if (c.diag.errors) {
      free(*c_text);
      *c_text = NULL;
    }
  }
  diag_finish(&c.diag);
  *arena = c.arena;
  return c.diag.errors ? 1 : 0;
}

static int write_file(const char *path, const char *text, size_t len) {
  FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
  if (!f) {
    fprintf(stderr, "pspfc: error: cannot write '%s': %s\n", path,
            strerror(errno));
    return 1;
  }
  size_t n = fwrite(text, 1, len, f);
  int bad = n != len || (f == stdout ? fflush(f) : fclose(f)) != 0;
  if (bad) {
    fprintf(stderr, "pspfc: error: cannot write '%s': %s\n", path,
            strerror(errno));
    return 1;
  }
  return 0;
}

int driver_emit(Source *src, Arena *arena, const Options *o,
                const BuildOptions *b, FILE *diag_out) {
  char *text;
  size_t len;
  const char *out = b->output ? b->output : "-";
  const char *c_name = strcmp(out, "-") == 0 ? "<stdout>" : out;
  int st = front_and_emit(src, arena, o, c_name, b->no_line, diag_out, &text,
                          &len);
  if (st)
    return st;
  st = write_file(out, text, len);
  free(text);
  return st;
}

/* Where the runtime's headers and library are: beside the pspfc binary,
 * as ../include and ../lib (the build tree stages them the same way). */
static void runtime_dirs(char *inc, char *lib, size_t n) {
  char exe[PATH_MAX - 64];
  ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (k < 0)
    k = 0;
  exe[k] = 0;
  char *slash = strrchr(exe, '/');
  if (slash)
    *slash = 0;
  const char *env = getenv("PSPF_RUNTIME_DIR");
  if (env && *env) {
    snprintf(inc, n, "%s/include", env);
    snprintf(lib, n, "%s/lib", env);
    return;
  }
  snprintf(inc, n, "%s/../include", exe);
  snprintf(lib, n, "%s/../lib", exe);
}

int driver_build(Source *src, Arena *arena, const Options *o,
                 const BuildOptions *b, FILE *diag_out) {
  const char *exe = b->output ? b->output : "a.out";
  char c_path[PATH_MAX];
  if (b->save_temps) {
    snprintf(c_path, sizeof c_path, "%s.c", exe);
  } else {
    snprintf(c_path, sizeof c_path, "%s/pspfc-XXXXXX.c",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    int fd = mkstemps(c_path, 2);
    if (fd < 0) {
      fprintf(stderr, "pspfc: error: cannot create a temporary file: %s\n",
              strerror(errno));
      return 1;
    }
    close(fd);
  }
  char *text;
  size_t len;
  int st = front_and_emit(src, arena, o, c_path, b->no_line, diag_out, &text,
                          &len);
  if (st || write_file(c_path, text, len)) {
    free(text);
    if (!b->save_temps)
      unlink(c_path);
    return st ? st : 1;
  }
  /* Only the libraries the program uses: a sqlite sink's code names
   * pspf_sqlite_ops. */
  bool sqlite = strstr(text, "pspf_sqlite_ops") != NULL;
  bool mqtt = strstr(text, "pspf_mqtt_") != NULL;
  bool kafka = strstr(text, "pspf_kafka_") != NULL;
  free(text);

  char inc[PATH_MAX], lib[PATH_MAX];
  runtime_dirs(inc, lib, sizeof inc);
  const char *cc = getenv("CC");
  const char *cflags = getenv("CFLAGS");
  const char *ldflags = getenv("LDFLAGS");
  char cmd[4 * PATH_MAX + 512];
  snprintf(cmd, sizeof cmd,
           "%s %s -std=c11 -Wall -Wextra -Werror -Wno-unused-label "
           "-Wno-unused-variable -Wno-unused-function -I'%s' -o '%s' '%s' "
           "'%s/libpspf.a' %s -luv%s%s%s -lm",
           cc && *cc ? cc : "cc", cflags && *cflags ? cflags : "-O2", inc,
           exe, c_path, lib, ldflags ? ldflags : "",
           sqlite ? " -lsqlite3" : "", mqtt ? " -lmosquitto" : "",
           kafka ? " -lrdkafka" : "");
  if (b->verbose)
    fprintf(stderr, "%s\n", cmd);
  int rc = system(cmd);
  if (rc != 0) {
    fprintf(stderr,
            "pspfc: internal error: the C compiler rejected the generated "
            "code (a bug in pspfc); kept in %s\n", c_path);
    return 4;
  }
  if (!b->save_temps)
    unlink(c_path);
  return 0;
}
