/*
 * driver.c -- one compile from source text to checked program, shared by
 * the CLI (main.c) and the in-process tests.
 */
#include <string.h>

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

int driver_check(Source *src, Arena *arena, const Options *o, FILE *diag_out,
                 FILE *out) {
  Ctx c;
  memset(&c, 0, sizeof c);
  c.arena = *arena; /* the caller's arena holds [src]; keep using it */
  c.src = src;
  diag_init(&c.diag, src, diag_out, o->color);
  c.diag.json = o->json;
  c.diag.werror = o->werror;
  c.diag.no_warnings = o->no_warnings;
  c.diag.max_errors = o->max_errors;

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
  diag_finish(&c.diag);
  *arena = c.arena;
  return c.diag.errors ? 1 : 0;
}
