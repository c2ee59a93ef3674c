/*
 * ast.c -- syntax tree nodes: constructors and an S-expression dump used
 * by the parser tests and `pspfc check --dump-ast`.
 */
#include <inttypes.h>
#include <string.h>

#include "pspfc.h"

static const char *const kind_names[] = {
#define X(k, d) #k,
    NODE_KINDS(X)
#undef X
};

static const char *const op_spellings[] = {
#define X(k, s) s,
    BINOPS(X)
#undef X
};

const char *node_kind_name(NodeKind k) { return kind_names[k]; }

const char *binop_spelling(BinOp op) { return op_spellings[op]; }

Node *ast_new(Arena *a, NodeKind kind, Loc loc) {
  Node *n = arena_alloc(a, sizeof *n);
  n->kind = kind;
  n->loc = loc;
  n->stage_index = -1;
  return n;
}

void ast_list_push(Arena *a, NodeList *l, Node *n) {
  if (l->len == l->cap) {
    int ncap = l->cap ? l->cap * 2 : 4;
    Node **items = arena_alloc(a, (size_t)ncap * sizeof *items);
    if (l->len)
      memcpy(items, l->items, (size_t)l->len * sizeof *items);
    l->items = items;
    l->cap = ncap;
  }
  l->items[l->len++] = n;
}

static void dump_string(FILE *out, const char *s, size_t len) {
  fputc('"', out);
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch == '"' || ch == '\\')
      fprintf(out, "\\%c", ch);
    else if (ch == '\n')
      fputs("\\n", out);
    else if (ch == '\t')
      fputs("\\t", out);
    else if (ch < 0x20)
      fprintf(out, "\\x%02x", ch);
    else
      fputc(ch, out);
  }
  fputc('"', out);
}

static void dump(FILE *out, const Node *n, int depth);

void ast_dump(FILE *out, const Node *n) { dump(out, n, 0); }

static void dump(FILE *out, const Node *n, int depth) {
  if (!n) {
    fputs("nil", out);
    return;
  }
  if (depth > 5000) { /* the checker bounds nesting well below this */
    fputs("...", out);
    return;
  }
  /* Drop the ND_/TE_ prefix and lower-case: (binary + a b). */
  const char *kn = kind_names[n->kind] + 3;
  fputc('(', out);
  for (const char *p = kn; *p; p++)
    fputc(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p, out);
  switch (n->kind) {
  case ND_INT:
    fprintf(out, " %" PRIu64, n->ival);
    break;
  case ND_FLOAT:
    fprintf(out, " %.17g", n->fval);
    break;
  case ND_STRING:
    fputc(' ', out);
    dump_string(out, n->sval, n->slen);
    break;
  case ND_BOOL:
    fputs(n->bval ? " true" : " false", out);
    break;
  case ND_DURATION:
    fprintf(out, " %" PRIu64 "ms", n->ival);
    break;
  case ND_TIMESTAMP:
    fprintf(out, " %" PRId64, n->tval);
    break;
  case ND_BINARY:
  case ND_UNARY:
    fprintf(out, " %s", op_spellings[n->op]);
    break;
  default:
    break;
  }
  if (n->name)
    fprintf(out, " %s", n->name);
  if (n->a) {
    fputc(' ', out);
    dump(out, n->a, depth + 1);
  }
  if (n->b) {
    fputc(' ', out);
    dump(out, n->b, depth + 1);
  }
  if (n->c) {
    fputc(' ', out);
    dump(out, n->c, depth + 1);
  }
  if (n->list.len) {
    fputs(" [", out);
    for (int i = 0; i < n->list.len; i++) {
      if (i)
        fputc(' ', out);
      dump(out, n->list.items[i], depth + 1);
    }
    fputc(']', out);
  }
  fputc(')', out);
}
