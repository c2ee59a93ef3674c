/*
 * test_parse.c -- the parser: tree shapes (as S-expressions), precedence,
 * spans, and recovery after syntax errors.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

/* The AST dump of [text], which must parse; types are not checked. */
static char *ast(const char *text) {
  size_t dlen, olen;
  char *d = NULL, *o = NULL;
  FILE *df = open_memstream(&d, &dlen), *of = open_memstream(&o, &olen);
  Ctx c;
  Arena a;
  arena_init(&a);
  Source *src = source_from_string(&a, "t.pspf", text, strlen(text));
  ctx_init(&c, src, df, DIAG_COLOR_NEVER);
  arena_free(&c.arena);
  c.arena = a;
  int errs = parse_program(&c);
  for (int i = 0; i < c.prog.items.len; i++)
    ast_dump(of, c.prog.items.items[i]);
  fclose(df);
  fclose(of);
  cr_assert_eq(errs, 0, "syntax errors in %s:\n%s", text, d);
  free(d);
  ctx_free(&c);
  return o;
}

#define AST_EQ(text, want)                                                     \
  do {                                                                         \
    char *got_ = ast(text);                                                    \
    cr_assert_str_eq(got_, want);                                              \
    free(got_);                                                                \
  } while (0)

Test(parse, precedence_arith) {
  AST_EQ("let x = 1 + 2 * 3 - 4",
         "(let x (binary - (binary + (int 1) (binary * (int 2) (int 3))) "
         "(int 4)))");
}

Test(parse, precedence_logic_and_compare) {
  AST_EQ("let x = not a == b and c or d",
         "(let x (binary or (binary and (unary not (binary == (name a) "
         "(name b))) (name c)) (name d)))");
}

Test(parse, coalesce_binds_tighter_than_compare) {
  AST_EQ("let x = a ?? 0 > 1 + 2",
         "(let x (binary > (coalesce (name a) (int 0)) (binary + (int 1) "
         "(int 2))))");
  AST_EQ("let x = a ?? b ?? c",
         "(let x (coalesce (name a) (coalesce (name b) (name c))))");
}

Test(parse, pipeline_is_left_assoc) {
  AST_EQ("s |> map(x => x.a + 1) |> o",
         "(pipeline (pipe (pipe (name s) (call map [(lambda (binary + "
         "(field a (name x)) (int 1)) [(fn_param x)])])) (name o)))");
}

Test(parse, two_param_lambda_and_named_args) {
  AST_EQ("s |> fold(0, (acc, x) => acc + x.n) |> o",
         "(pipeline (pipe (pipe (name s) (call fold [(int 0) (lambda "
         "(binary + (name acc) (field n (name x))) [(fn_param acc) "
         "(fn_param x)])])) (name o)))");
  AST_EQ("s |> event_time(b => b.ts, lateness: 2s) |> o",
         "(pipeline (pipe (pipe (name s) (call event_time [(lambda "
         "(field ts (name b)) [(fn_param b)]) (named_arg lateness "
         "(duration 2000ms))])) (name o)))");
}

Test(parse, parenthesised_expression_is_not_a_lambda) {
  AST_EQ("let x = (a) * 2", "(let x (binary * (name a) (int 2)))");
}

Test(parse, records_spread_lists_if) {
  AST_EQ("let r = { ..a, b: if c then [1, 2] else [], type: 1, }",
         "(let r (record [(spread (name a)) (field_init b (if (name c) "
         "(list [(int 1) (int 2)]) (list))) (field_init type (int 1))]))");
}

Test(parse, declarations) {
  AST_EQ("type T = { a: int?, b: [string], c: { d: bool } }",
         "(type_decl T (record [(field a (optional (name int))) (field b "
         "(list (name string))) (field c (record [(field d (name bool))]))]))");
  AST_EQ("param n: int = 5", "(param n (name int) (int 5))");
  AST_EQ("fn f(a: int, b: float) -> float = float(a) * b",
         "(fn f (name float) (binary * (call float [(name a)]) (name b)) "
         "[(fn_param a (name int)) (fn_param b (name float))])");
  AST_EQ("sink o: T = console();",
         "(sink o (name T) (call console))");
}

Test(parse, literals) {
  AST_EQ("let t = @2026-11-23T10:00:00Z - 1h + 250ms",
         "(let t (binary + (binary - (timestamp 1795428000000) (duration "
         "3600000ms)) (duration 250ms)))");
  AST_EQ("let s = \"a\\u{41}\\n\"", "(let s (string \"aA\\n\"))");
  AST_EQ("let m = -9223372036854775808",
         "(let m (unary - (int 9223372036854775808)))");
}

Test(parse, merge_call_starts_a_stream) {
  AST_EQ("merge(a, b) |> o",
         "(pipeline (pipe (call merge [(name a) (name b)]) (name o)))");
}

Test(parse, spans_cover_the_whole_node) {
  Compiled r = compile_text("sink o = console()\nsource s: {a: int} = "
                            "stdin()\ns |> filter(x =>\n  x.a + 1) |> o\n",
                            NULL);
  /* The caret spans the lambda body across its first line. */
  cr_assert(strstr(r.diag, "t.pspf:4:3: error: 'filter' needs a function "
                           "returning bool, got int"), "%s", r.diag);
  cr_assert(strstr(r.diag, "    |   ^~~~~~~\n"), "%s", r.diag);
  compiled_free(&r);
}

Test(parse, recovers_and_reports_every_statement) {
  Compiled r = compile_text("let a = 1 +\n"
                            "let b = (2\n"
                            "type T = { x int }\n"
                            "let c = 3 * * 4\n"
                            "let d = 5\n",
                            NULL);
  cr_assert_eq(r.status, 1);
  cr_assert(strstr(r.diag, "t.pspf:2:1: error: expected an expression, found "
                           "'let'"), "%s", r.diag);
  cr_assert(strstr(r.diag, "t.pspf:3:1: error:"), "%s", r.diag);
  cr_assert(strstr(r.diag, "t.pspf:3:14: error: expected ':'"), "%s", r.diag);
  cr_assert(strstr(r.diag, "t.pspf:4:13: error: expected an expression, "
                           "found '*'"), "%s", r.diag);
  compiled_free(&r);
}

Test(parse, end_of_input_inside_a_statement) {
  Compiled r = compile_text("sink o = console(", NULL);
  cr_assert(strstr(r.diag, "found end of input"), "%s", r.diag);
  cr_assert(strstr(r.diag, "left open"), "%s", r.diag);
  compiled_free(&r);
}

Test(parse, assignment_instead_of_comparison) {
  Compiled r = compile_text("source s: {a: int} = stdin()\nsink o = "
                            "console()\ns |> filter(x => x.a = 1) |> o\n",
                            NULL);
  cr_assert(strstr(r.diag, "t.pspf:3:22: error:"), "%s", r.diag);
  cr_assert(strstr(r.diag, "= help: compare with '=='"), "%s", r.diag);
  compiled_free(&r);
}

Test(parse, deep_nesting_is_an_error_not_a_crash) {
  size_t n = 50000;
  char *text = malloc(2 * n + 16);
  strcpy(text, "let x = ");
  size_t k = strlen(text);
  for (size_t i = 0; i < n; i++)
    text[k++] = '(';
  text[k++] = '1';
  for (size_t i = 0; i < n; i++)
    text[k++] = ')';
  text[k] = 0;
  Compiled r = compile_text(text, NULL);
  cr_assert_eq(r.status, 1);
  cr_assert(strstr(r.diag, "nested too deeply"), "%.300s", r.diag);
  compiled_free(&r);
  free(text);
}
