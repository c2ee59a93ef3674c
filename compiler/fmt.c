/*
 * fmt.c -- pspfc fmt: a .pspf file in one canonical style.
 *
 * The way gofmt does it: the user's line breaks stay where they are (at
 * most one blank line in a row), and everything else is decided here,
 * token by token:
 *
 * - spaces: one around binary operators, `=`, `=>`, `->` and `|>`, one
 *   after `,` and `:`, none inside `(` `)` and `[` `]`, one inside a
 *   non-empty `{ }`, none before `,` `:` `)` `]` `.` `?` or a call's
 *   `(`, none after a unary `-`, `.` or `..`, two before a comment that
 *   ends a line;
 * - indentation: two spaces a level; a level for each bracket still open
 *   at the start of the line (a line that starts by closing one goes
 *   back), and one more for a line that goes on with a statement (one
 *   that starts with `|>` or another operator, or follows a line that
 *   ends with one, `=` or `,`), and for the lines inside brackets of such
 *   a statement;
 * - comments are kept, at the end of their line or on their own; a block
 *   comment over several lines keeps its inner lines as they are;
 *   strings are kept byte for byte; no space at the ends of lines; one
 *   newline at the end of the file.
 *
 * The file must parse (fmt never rewrites a program it cannot read; type
 * errors are no obstacle), and
 * formatting is idempotent: the tests format every example and test
 * program twice, and check that the formatted program type-checks to the
 * same typed chains as the original.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pspfc.h"

typedef enum {
  T_WORD,    /* name or keyword */
  T_NUM,     /* number, duration */
  T_TIME,    /* @timestamp */
  T_STR,     /* "..." */
  T_LINE,    /* // comment */
  T_BLOCK,   /* block comment */
  T_OP,      /* operator or punctuation */
} TokKind;

typedef struct Tok {
  TokKind kind;
  const char *p;
  size_t n;
  int nl_before; /* newlines between the previous token and this one */
} Tok;

static bool is_id(int c) { return isalnum(c) || c == '_'; }

static bool op_is(const Tok *t, const char *s) {
  return t && t->kind == T_OP && t->n == strlen(s) && memcmp(t->p, s, t->n) == 0;
}

static bool word_is(const Tok *t, const char *s) {
  return t && t->kind == T_WORD && t->n == strlen(s) &&
         memcmp(t->p, s, t->n) == 0;
}

/* Splits [src] into tokens (comments included). */
static Tok *lex_all(const char *s, size_t len, int *ntok) {
  int cap = 256, n = 0;
  Tok *v = malloc(sizeof *v * (size_t)cap);
  size_t i = 0;
  int nl = 0;
  static const char *const ops[] = {"|>", "=>", "->", "==", "!=", "<=", ">=",
                                    "??", "..", "&&", "||"};
  while (v && i < len) {
    char c = s[i];
    if (c == '\n') {
      nl++;
      i++;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
      i++;
      continue;
    }
    if (n == cap) {
      cap *= 2;
      Tok *w = realloc(v, sizeof *v * (size_t)cap);
      if (!w) {
        free(v);
        return NULL;
      }
      v = w;
    }
    Tok t = {T_OP, s + i, 1, nl};
    nl = 0;
    if (c == '/' && i + 1 < len && s[i + 1] == '/') {
      size_t j = i;
      while (j < len && s[j] != '\n')
        j++;
      while (j > i + 2 && strchr(" \t\r\f\v", s[j - 1]))
        j--; /* (no space at the end of a line) */
      t.kind = T_LINE, t.n = j - i;
    } else if (c == '/' && i + 1 < len && s[i + 1] == '*') {
      const char *e = strstr(s + i + 2, "*/");
      size_t j = e ? (size_t)(e - s) + 2 : len;
      t.kind = T_BLOCK, t.n = j - i;
    } else if (c == '"') {
      size_t j = i + 1;
      while (j < len && s[j] != '"' && s[j] != '\n')
        j += s[j] == '\\' && j + 1 < len ? 2 : 1;
      t.kind = T_STR, t.n = (j < len ? j + 1 : j) - i;
    } else if (c == '@') {
      size_t j = i + 1;
      while (j < len && (isalnum((unsigned char)s[j]) || strchr(":+.-", s[j])))
        j++;
      t.kind = T_TIME, t.n = j - i;
    } else if (isdigit((unsigned char)c)) {
      size_t j = i;
      bool plain = true; /* only digits, '_' and '.' so far */
      while (j < len) {
        char d = s[j];
        if (isdigit((unsigned char)d) || d == '_') {
          j++;
        } else if (d == '.' && j + 1 < len && isdigit((unsigned char)s[j + 1])) {
          j++;
        } else if ((d == 'e' || d == 'E') && plain && j + 2 < len &&
                   (s[j + 1] == '+' || s[j + 1] == '-') &&
                   isdigit((unsigned char)s[j + 2])) {
          j += 2; /* an exponent with its sign */
          plain = false;
        } else if (is_id((unsigned char)d)) {
          j++; /* a unit, or an exponent without a sign */
          plain = false;
        } else {
          break;
        }
      }
      t.kind = T_NUM, t.n = j - i;
    } else if (is_id((unsigned char)c)) {
      size_t j = i;
      while (j < len && is_id((unsigned char)s[j]))
        j++;
      t.kind = T_WORD, t.n = j - i;
    } else {
      for (size_t k = 0; k < sizeof ops / sizeof *ops; k++)
        if (i + 1 < len && s[i] == ops[k][0] && s[i + 1] == ops[k][1])
          t.n = 2;
    }
    v[n++] = t;
    i += t.n;
  }
  *ntok = n;
  return v;
}

static bool binary_op(const Tok *t) {
  static const char *const bin[] = {"|>", "=>", "->", "==", "!=", "<=", ">=",
                                    "??", "=",  "<",  ">",  "+",  "*",  "/",
                                    "%",  "&&", "||", "-"};
  if (t->kind == T_WORD)
    return word_is(t, "and") || word_is(t, "or");
  for (size_t k = 0; k < sizeof bin / sizeof *bin; k++)
    if (op_is(t, bin[k]))
      return true;
  return false;
}

/* Whether [t] (after [prev]) is a unary minus: after an operator, an
 * opening bracket, a comma, a colon, a keyword that starts an expression,
 * or at the start. */
static bool unary(const Tok *prev, const Tok *t) {
  if (!op_is(t, "-"))
    return false;
  if (!prev)
    return true;
  if (prev->kind == T_OP)
    return !op_is(prev, ")") && !op_is(prev, "]") && !op_is(prev, "}") &&
           !op_is(prev, "?");
  return word_is(prev, "then") || word_is(prev, "else") ||
         word_is(prev, "if") || word_is(prev, "and") || word_is(prev, "or") ||
         word_is(prev, "not");
}

static bool keyword(const Tok *t) {
  static const char *const kw[] = {"type", "param", "source", "sink", "fn",
                                   "let",  "if",    "then",   "else", "and",
                                   "or",   "not"};
  for (size_t k = 0; t->kind == T_WORD && k < sizeof kw / sizeof *kw; k++)
    if (word_is(t, kw[k]))
      return true;
  return false;
}

/* The space between [a] and [b] on one line: 0 or 1 (2 before a comment
 * that ends the line). */
static int space(const Tok *pp, const Tok *a, const Tok *b) {
  if (b->kind == T_LINE || (b->kind == T_BLOCK && a))
    return 2;
  if (a->kind == T_LINE)
    return 1;
  if (a->kind == T_BLOCK)
    return 1;
  if (op_is(b, ",") || op_is(b, ":") || op_is(b, ";") || op_is(b, ")") ||
      op_is(b, "]") || op_is(b, ".") || op_is(b, "?"))
    return 0;
  if (op_is(a, "(") || op_is(a, "[") || op_is(a, ".") || op_is(a, ".."))
    return 0;
  if (op_is(a, "{"))
    return op_is(b, "}") ? 0 : 1;
  if (op_is(b, "}"))
    return 1;
  if (op_is(b, "(")) /* a call, or a grouping after an operator */
    return (a->kind == T_WORD && !keyword(a)) || op_is(a, ")") ||
                   op_is(a, "]") || op_is(a, "?")
               ? 0
               : 1;
  if (op_is(b, "[")) /* an index, or a list */
    return a->kind == T_WORD && !keyword(a) ? 0 : 1;
  if (unary(pp, a))
    return 0;
  if (op_is(a, "!") || (op_is(a, "-") && unary(pp, a)))
    return 0;
  return 1;
}

/* Formats [src] into [*out] (malloc'd). */
static char *format(const char *src, size_t len, size_t *outlen) {
  int n;
  Tok *t = lex_all(src, len, &n);
  if (!t)
    return NULL;
  size_t cap = len * 2 + 64, k = 0;
  char *o = malloc(cap);
  if (!o) {
    free(t);
    return NULL;
  }
#define PUT(s, m)                                                              \
  do {                                                                         \
    size_t m_ = (m);                                                           \
    while (k + m_ + 1 > cap) {                                                 \
      cap *= 2;                                                                \
      char *w_ = realloc(o, cap);                                              \
      if (!w_) {                                                               \
        free(o);                                                               \
        free(t);                                                               \
        return NULL;                                                           \
      }                                                                        \
      o = w_;                                                                  \
    }                                                                          \
    memcpy(o + k, (s), m_);                                                    \
    k += m_;                                                                   \
  } while (0)
  int depth = 0;            /* brackets open */
  bool stmt_cont = false;   /* the statement has gone on over lines */
  const Tok *prev = NULL, *pprev = NULL;
  for (int i = 0; i < n; i++) {
    Tok *tk = &t[i];
    bool new_line = i == 0 || tk->nl_before > 0;
    if (new_line) {
      if (i > 0) {
        PUT("\n", 1);
        if (tk->nl_before > 1)
          PUT("\n", 1);
      }
      /* Does this line go on with the statement? */
      bool closes = op_is(tk, ")") || op_is(tk, "]") || op_is(tk, "}");
      bool cont = false;
      if (prev && prev->kind != T_LINE && prev->kind != T_BLOCK &&
          (binary_op(prev) || op_is(prev, ",") || op_is(prev, ":") ||
           op_is(prev, "(") || op_is(prev, "[") || op_is(prev, "{")))
        cont = true;
      if (binary_op(tk) && !word_is(tk, "not"))
        cont = true;
      if (prev && (word_is(tk, "then") || word_is(tk, "else")))
        cont = true;
      if (depth == 0 && !cont)
        stmt_cont = false;
      else if (depth == 0 && cont)
        stmt_cont = true;
      int level = depth - (closes ? 1 : 0) + (stmt_cont ? 1 : 0);
      if (depth > 0 && (binary_op(tk) || word_is(tk, "then") ||
                        word_is(tk, "else")))
        level++; /* an expression going on inside brackets */
      if (level < 0)
        level = 0;
      if (tk->kind != T_LINE || i == 0 || tk->nl_before > 0)
        for (int l = 0; l < level; l++)
          PUT("  ", 2);
    } else if (prev) {
      int sp = space(pprev, prev, tk);
      PUT("  ", (size_t)sp);
    }
    PUT(tk->p, tk->n);
    if (op_is(tk, "(") || op_is(tk, "[") || op_is(tk, "{"))
      depth++;
    else if ((op_is(tk, ")") || op_is(tk, "]") || op_is(tk, "}")) && depth)
      depth--;
    if (tk->kind != T_LINE && tk->kind != T_BLOCK) {
      pprev = prev;
      prev = tk;
    } else if (tk->kind == T_LINE && !new_line) {
      /* a comment after code: the code decides what comes next */
    } else {
      pprev = prev;
      prev = tk;
    }
  }
  if (k)
    PUT("\n", 1);
#undef PUT
  o[k] = 0;
  free(t);
  *outlen = k;
  return o;
}

int driver_fmt(Source *src, Arena *arena, const Options *o, bool write,
               bool check, FILE *diag_out, FILE *out) {
  /* It must parse first: fmt never rewrites what it cannot read (type
   * errors are no obstacle). */
  if (driver_parse(src, arena, o, diag_out) != 0)
    return 1;
  size_t n;
  char *f = format(src->text, src->len, &n);
  if (!f) {
    fprintf(diag_out, "pspfc: error: out of memory\n");
    return 4;
  }
  int status = 0;
  bool same = n == src->len && memcmp(f, src->text, n) == 0;
  if (check) {
    if (!same) {
      fprintf(out, "%s\n", src->path);
      status = 1;
    }
  } else if (write) {
    if (!same) {
      char tmp[4200];
      snprintf(tmp, sizeof tmp, "%s.fmt-tmp", src->path);
      FILE *w = fopen(tmp, "w");
      if (!w || fwrite(f, 1, n, w) != n || fclose(w) != 0 ||
          rename(tmp, src->path) != 0) {
        fprintf(diag_out, "pspfc: error: cannot write '%s'\n", src->path);
        remove(tmp);
        status = 1;
      }
    }
  } else {
    fwrite(f, 1, n, out);
  }
  free(f);
  return status;
}
