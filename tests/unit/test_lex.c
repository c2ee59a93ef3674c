/*
 * test_lex.c -- the lexer: token kinds, spans, literal values and
 * lexical errors.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "literals.h"

typedef struct Toks {
  char buf[4096]; /* "kind:text kind:text ..." */
  size_t len;
} Toks;

static void collect(void *user, const char *tok, Loc loc, const char *text) {
  Toks *t = user;
  (void)loc;
  t->len += (size_t)snprintf(t->buf + t->len, sizeof t->buf - t->len, "%s%s%s%s",
                             t->len ? " " : "", tok, *text ? ":" : "", text);
}

/* Lexes [text]; returns the token list and, in [*diag], the messages. */
static char *lex(const char *text, char **diag) {
  static Toks t;
  memset(&t, 0, sizeof t);
  size_t dlen;
  char *d = NULL;
  FILE *df = open_memstream(&d, &dlen);
  Ctx c;
  Arena a;
  arena_init(&a);
  Source *src = source_from_string(&a, "t.pspf", text, strlen(text));
  ctx_init(&c, src, df, DIAG_COLOR_NEVER);
  c.arena = a;
  lex_tokens(&c, collect, &t);
  ctx_free(&c);
  fclose(df);
  if (diag)
    *diag = d;
  else
    free(d);
  return t.buf;
}

Test(lex, keywords_and_names) {
  cr_assert_str_eq(lex("type Bid sink fn let typed", NULL),
                   "'type':type name:Bid 'sink':sink 'fn':fn 'let':let "
                   "name:typed end of input");
}

Test(lex, operators) {
  cr_assert_str_eq(lex("|> => -> == != <= >= ?? .. < > ?", NULL),
                   "'|>':|> '=>':=> '->':-> '==':== '!=':!= '<=':<= "
                   "'>=':>= '?\?':?? '..':.. '<':< '>':> '?':? end of input");
}

Test(lex, numbers_and_durations) {
  cr_assert_str_eq(lex("42 1_000_000 0.908 1e-3 250ms 10s 5m 2h 1d 1.5s", NULL),
                   "integer:42 integer:1_000_000 float:0.908 float:1e-3 "
                   "duration:250ms duration:10s duration:5m duration:2h "
                   "duration:1d duration:1.5s end of input");
}

Test(lex, comments_are_skipped) {
  cr_assert_str_eq(lex("a // x |> y\n/* b\n c */ d", NULL),
                   "name:a name:d end of input");
}

Test(lex, lambda_paren_is_distinct) {
  cr_assert_str_eq(lex("(a, b) => a (x)", NULL),
                   "'(':( name:a ',':, name:b ')':) '=>':=> name:a '(':( "
                   "name:x ')':) end of input");
}

Test(lex, unterminated_string) {
  char *d;
  lex("\"abc\nx", &d);
  cr_assert(strstr(d, "t.pspf:1:1: error: unterminated string"), "%s", d);
  free(d);
}

Test(lex, unterminated_comment) {
  char *d;
  lex("a /* never closed", &d);
  cr_assert(strstr(d, "t.pspf:1:3: error: unterminated comment"), "%s", d);
  free(d);
}

Test(lex, bad_escape_points_at_it) {
  char *d;
  lex("  \"ab\\qc\"", &d);
  cr_assert(strstr(d, "t.pspf:1:6: error: unknown escape sequence '\\q'"),
            "%s", d);
  free(d);
}

Test(lex, c_operators_get_a_hint) {
  char *d;
  lex("a && b", &d);
  cr_assert(strstr(d, "'&&' is not an operator"), "%s", d);
  cr_assert(strstr(d, "write 'and'"), "%s", d);
  free(d);
}

Test(lex, unknown_duration_unit) {
  char *d;
  lex("10sec", &d);
  cr_assert(strstr(d, "t.pspf:1:3: error: unknown duration unit 'sec'"), "%s",
            d);
  free(d);
}

Test(lex, stray_bytes) {
  char *d;
  lex("a $ \x01 é", &d);
  cr_assert(strstr(d, "unexpected character '$'"), "%s", d);
  cr_assert(strstr(d, "unexpected byte 0x01"), "%s", d);
  cr_assert(strstr(d, "unexpected character 'é'"), "%s", d);
  free(d);
}

/* Literal decoding, straight through literals.c. */

static Diag quiet(char **buf, size_t *len) {
  Diag d;
  diag_init(&d, NULL, open_memstream(buf, len), DIAG_COLOR_NEVER);
  return d;
}

Test(literals, integers) {
  char *b;
  size_t l;
  Diag d = quiet(&b, &l);
  uint64_t v;
  cr_assert(lit_int(&d, (Loc){0, 9}, "1_000_000", 9, &v));
  cr_assert_eq(v, 1000000);
  cr_assert(lit_int(&d, (Loc){0, 19}, "9223372036854775808", 19, &v));
  cr_assert_eq(v, 9223372036854775808ull);
  cr_assert_not(lit_int(&d, (Loc){0, 20}, "99999999999999999999", 20, &v));
  cr_assert_not(lit_int(&d, (Loc){0, 3}, "1__", 3, &v));
  fclose(d.out);
  free(b);
}

Test(literals, durations) {
  char *b;
  size_t l;
  Diag d = quiet(&b, &l);
  uint64_t v;
  cr_assert(lit_duration(&d, (Loc){0, 5}, "250ms", 5, &v));
  cr_assert_eq(v, 250);
  cr_assert(lit_duration(&d, (Loc){0, 2}, "1d", 2, &v));
  cr_assert_eq(v, 86400000);
  cr_assert(lit_duration(&d, (Loc){0, 4}, "1.5s", 4, &v));
  cr_assert_eq(v, 1500);
  cr_assert_not(lit_duration(&d, (Loc){0, 5}, "1.5ms", 5, &v));
  cr_assert_not(lit_duration(&d, (Loc){0, 3}, "3wk", 3, &v));
  fclose(d.out);
  free(b);
}

Test(literals, timestamps) {
  char *b;
  size_t l;
  Diag d = quiet(&b, &l);
  int64_t v;
  const char *t = "2026-11-23T10:00:00Z";
  cr_assert(lit_timestamp(&d, (Loc){0, 20}, t, strlen(t), &v));
  cr_assert_eq(v, 1795428000000ll);
  t = "2026-11-23T11:00:00.5+01:00";
  cr_assert(lit_timestamp(&d, (Loc){0, 1}, t, strlen(t), &v));
  cr_assert_eq(v, 1795428000500ll);
  t = "1970-01-01";
  cr_assert(lit_timestamp(&d, (Loc){0, 1}, t, strlen(t), &v));
  cr_assert_eq(v, 0);
  t = "1969-12-31T23:59:59.999Z";
  cr_assert(lit_timestamp(&d, (Loc){0, 1}, t, strlen(t), &v));
  cr_assert_eq(v, -1);
  t = "2025-02-29";
  cr_assert_not(lit_timestamp(&d, (Loc){0, 1}, t, strlen(t), &v));
  t = "2024-02-29";
  cr_assert(lit_timestamp(&d, (Loc){0, 1}, t, strlen(t), &v));
  t = "2026-11-23T10:00:00";
  cr_assert_not(lit_timestamp(&d, (Loc){0, 1}, t, strlen(t), &v));
  t = "2026-11-23T25:00:00Z";
  cr_assert_not(lit_timestamp(&d, (Loc){0, 1}, t, strlen(t), &v));
  fclose(d.out);
  free(b);
}

Test(literals, strings) {
  char *b;
  size_t l;
  Diag d = quiet(&b, &l);
  Arena a;
  arena_init(&a);
  const char *s;
  size_t n;
  const char *t = "\"a\\tb\\n\\\\\\\"\\u{1F600}\\u{e9}\"";
  cr_assert(lit_string(&a, &d, (Loc){0, 1}, t, strlen(t), &s, &n));
  cr_assert_eq(n, 12);
  cr_assert(memcmp(s, "a\tb\n\\\"\xF0\x9F\x98\x80\xC3\xA9", 12) == 0);
  t = "\"\\u{D800}\"";
  cr_assert_not(lit_string(&a, &d, (Loc){0, 1}, t, strlen(t), &s, &n));
  t = "\"\\u{110000}\"";
  cr_assert_not(lit_string(&a, &d, (Loc){0, 1}, t, strlen(t), &s, &n));
  t = "\"\\u{}\"";
  cr_assert_not(lit_string(&a, &d, (Loc){0, 1}, t, strlen(t), &s, &n));
  t = "\"\xff\"";
  cr_assert_not(lit_string(&a, &d, (Loc){0, 1}, t, strlen(t), &s, &n));
  arena_free(&a);
  fclose(d.out);
  free(b);
}
