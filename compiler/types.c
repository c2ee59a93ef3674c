/*
 * types.c -- the type representation: constructors, equality, and the
 * spelling used in messages.
 */
#include <string.h>

#include "pspfc.h"

Type ty_error = {.kind = TY_ERROR};
Type ty_int = {.kind = TY_INT};
Type ty_float = {.kind = TY_FLOAT};
Type ty_bool = {.kind = TY_BOOL};
Type ty_string = {.kind = TY_STRING};
Type ty_timestamp = {.kind = TY_TIMESTAMP};
Type ty_duration = {.kind = TY_DURATION};
Type ty_none = {.kind = TY_NONE};

Type *type_record(Arena *a, const char *name, Field *fields, int n) {
  Type *t = arena_alloc(a, sizeof *t);
  t->kind = TY_RECORD;
  t->name = name;
  t->fields = fields;
  t->nfields = n;
  return t;
}

Type *type_list(Arena *a, Type *elem) {
  Type *t = arena_alloc(a, sizeof *t);
  t->kind = TY_LIST;
  t->elem = elem;
  return t;
}

Type *type_optional(Arena *a, Type *inner) {
  if (inner->kind == TY_OPTIONAL || inner->kind == TY_ERROR)
    return inner;
  Type *t = arena_alloc(a, sizeof *t);
  t->kind = TY_OPTIONAL;
  t->elem = inner;
  return t;
}

Type *type_stream(Arena *a, Type *elem) {
  Type *t = arena_alloc(a, sizeof *t);
  t->kind = TY_STREAM;
  t->elem = elem;
  t->shape = SHAPE_PLAIN;
  return t;
}

bool type_equal(const Type *x, const Type *y) {
  if (x == y)
    return true;
  if (x->kind != y->kind)
    return false;
  switch (x->kind) {
  case TY_RECORD:
    if (x->nfields != y->nfields)
      return false;
    for (int i = 0; i < x->nfields; i++)
      if (x->fields[i].name != y->fields[i].name ||
          !type_equal(x->fields[i].type, y->fields[i].type))
        return false;
    return true;
  case TY_LIST:
  case TY_OPTIONAL:
    /* An empty list literal has no element type yet (NULL). */
    if (!x->elem || !y->elem)
      return x->kind == TY_LIST;
    return type_equal(x->elem, y->elem);
  default:
    return true;
  }
}

bool type_assignable(const Type *from, const Type *to) {
  if (from->kind == TY_ERROR || to->kind == TY_ERROR)
    return true;
  if (type_equal(from, to))
    return true;
  if (to->kind == TY_OPTIONAL)
    return from->kind == TY_NONE || type_assignable(from, to->elem);
  if (from->kind == TY_LIST && to->kind == TY_LIST)
    return !from->elem || type_assignable(from->elem, to->elem);
  if (from->kind == TY_RECORD && to->kind == TY_RECORD &&
      from->nfields == to->nfields) {
    for (int i = 0; i < from->nfields; i++)
      if (from->fields[i].name != to->fields[i].name ||
          !type_assignable(from->fields[i].type, to->fields[i].type))
        return false;
    return true;
  }
  return false;
}

bool type_is_scalar(const Type *t) {
  switch (t->kind) {
  case TY_INT:
  case TY_FLOAT:
  case TY_BOOL:
  case TY_STRING:
  case TY_TIMESTAMP:
  case TY_DURATION:
    return true;
  default:
    return false;
  }
}

bool type_is_numeric(const Type *t) {
  return t->kind == TY_INT || t->kind == TY_FLOAT;
}

const Field *type_field(const Type *rec, const char *name) {
  if (rec->kind != TY_RECORD)
    return NULL;
  for (int i = 0; i < rec->nfields; i++)
    if (rec->fields[i].name == name)
      return &rec->fields[i];
  return NULL;
}

/* A small growable string in the arena. */
typedef struct Buf {
  Arena *a;
  char *p;
  size_t len, cap;
} Buf;

static void buf_add(Buf *b, const char *s) {
  size_t n = strlen(s);
  if (b->len + n + 1 > b->cap) {
    size_t ncap = (b->cap ? b->cap * 2 : 64) + n;
    char *np = arena_alloc(b->a, ncap);
    if (b->len)
      memcpy(np, b->p, b->len);
    b->p = np;
    b->cap = ncap;
  }
  memcpy(b->p + b->len, s, n + 1);
  b->len += n;
}

static void type_write(Buf *b, const Type *t, bool full, int depth) {
  static const char *const names[] = {
#define X(k, s) s,
      TYPE_KINDS(X)
#undef X
  };
  if (depth > 8) {
    buf_add(b, "...");
    return;
  }
  switch (t->kind) {
  case TY_RECORD:
    if (t->name && !(full && depth == 0)) {
      buf_add(b, t->name);
      return;
    }
    buf_add(b, "{");
    for (int i = 0; i < t->nfields; i++) {
      buf_add(b, i ? ", " : "");
      buf_add(b, t->fields[i].name);
      buf_add(b, ": ");
      type_write(b, t->fields[i].type, full, depth + 1);
    }
    buf_add(b, "}");
    return;
  case TY_LIST:
    buf_add(b, "[");
    if (t->elem)
      type_write(b, t->elem, full, depth + 1);
    else
      buf_add(b, "?");
    buf_add(b, "]");
    return;
  case TY_OPTIONAL:
    type_write(b, t->elem, full, depth + 1);
    buf_add(b, "?");
    return;
  case TY_STREAM:
    switch (t->shape) {
    case SHAPE_PLAIN:
      buf_add(b, "stream of ");
      break;
    case SHAPE_KEYED:
      buf_add(b, "keyed stream of ");
      break;
    case SHAPE_WINDOWED:
      buf_add(b, t->key ? "windowed keyed stream of " : "windowed stream of ");
      break;
    }
    type_write(b, t->elem, full, depth + 1);
    if (t->key) {
      buf_add(b, " by ");
      type_write(b, t->key, full, depth + 1);
    }
    return;
  default:
    buf_add(b, names[t->kind]);
    return;
  }
}

const char *type_str(Arena *a, const Type *t) {
  Buf b = {a, NULL, 0, 0};
  type_write(&b, t, false, 0);
  return b.p ? b.p : "";
}

const char *type_str_full(Arena *a, const Type *t) {
  Buf b = {a, NULL, 0, 0};
  type_write(&b, t, true, 0);
  return b.p ? b.p : "";
}
