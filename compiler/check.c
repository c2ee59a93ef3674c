/*
 * check.c -- name resolution and type checking.
 *
 * Input: the AST of a whole program. Output: every expression node gets
 * its type, every name its symbol, and each pipeline becomes a chain of
 * typed stages (kept for the printer and later phases). Errors go through
 * diag.c; an expression that failed to check has type <error>, which is
 * accepted everywhere so that one mistake is reported once.
 *
 * Declarations may come in any order: values (params, fns, lets) are
 * resolved on first use, with cycles reported.
 */
#include <string.h>

#include "builtins.h"
#include "pspfc.h"

/* ---- symbol tables ------------------------------------------------------ */

typedef struct SymTab {
  Symbol **slots; /* open addressing on the interned name pointer */
  size_t cap;     /* a power of two */
  size_t count;   /* used slots */
} SymTab;

static size_t ptr_hash(const void *p) {
  uintptr_t x = (uintptr_t)p;
  x ^= x >> 17;
  x *= 0xed5ad4bbu;
  x ^= x >> 11;
  return (size_t)x;
}

static Symbol *symtab_get(SymTab *t, const char *name) {
  if (!t->cap)
    return NULL;
  for (size_t i = ptr_hash(name) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
    if (!t->slots[i])
      return NULL;
    if (t->slots[i]->name == name)
      return t->slots[i];
  }
}

static void symtab_put(Arena *a, SymTab *t, Symbol *s) {
  if ((t->count + 1) * 2 > t->cap) {
    size_t ncap = t->cap ? t->cap * 2 : 64;
    Symbol **slots = arena_alloc(a, ncap * sizeof *slots);
    for (size_t i = 0; i < t->cap; i++) {
      Symbol *o = t->slots[i];
      if (!o)
        continue;
      size_t j = ptr_hash(o->name) & (ncap - 1);
      while (slots[j])
        j = (j + 1) & (ncap - 1);
      slots[j] = o;
    }
    t->slots = slots;
    t->cap = ncap;
  }
  size_t j = ptr_hash(s->name) & (t->cap - 1);
  while (t->slots[j])
    j = (j + 1) & (t->cap - 1);
  t->slots[j] = s;
  t->count++;
}

/* ---- checker state ------------------------------------------------------ */

/* A lambda or fn parameter in scope. */
typedef struct Local {
  const char *name;   /* interned */
  Type *type;         /* its type */
  Node *decl;         /* the parameter node */
  struct Local *next; /* enclosing scope */
} Local;

typedef struct Checker {
  Ctx *c;          /* the compile */
  Arena *a;        /* = &c->arena */
  Diag *d;         /* = &c->diag */
  SymTab values;   /* params, sources, sinks, fns, lets, builtins */
  SymTab types;    /* type declarations */
  PtrVec symbols;  /* every declared symbol, in source order */
  Checked *out;    /* results */
  Symbol *fn_stack[64]; /* fns being checked, for recursion messages */
  int fn_depth;         /* entries in [fn_stack] */
  int depth;            /* expression nesting, bounded by MAX_DEPTH */
  bool depth_reported;  /* the nesting error has been printed */
} Checker;

#define INTERN(k, s) arena_intern_cstr((k)->a, (s))

static const char *const stream_operators[] = {
    "map",    "filter", "flat_map", "key_by", "event_time", "window",
    "aggregate", "reduce", "fold", "merge", "dedupe", NULL,
};

static bool is_operator_name(const char *name) {
  for (int i = 0; stream_operators[i]; i++)
    if (strcmp(stream_operators[i], name) == 0)
      return true;
  return false;
}

static const char *sym_kind_name(SymKind k) {
  switch (k) {
  case SYM_TYPE:
    return "type";
  case SYM_PARAM:
    return "param";
  case SYM_SOURCE:
    return "source";
  case SYM_SINK:
    return "sink";
  case SYM_FN:
    return "function";
  case SYM_LET:
    return "let";
  case SYM_LOCAL:
    return "parameter";
  case SYM_BUILTIN:
    return "built-in function";
  }
  return "name";
}

static bool is_error(const Type *t) { return !t || t->kind == TY_ERROR; }

static const char *tstr(Checker *k, const Type *t) { return type_str(k->a, t); }

/* True for a literal written with a minus: -10s, -3. */
static bool is_negative_literal(const Node *v) {
  return v->kind == ND_UNARY && v->op == OP_NEG &&
         (v->a->kind == ND_DURATION || v->a->kind == ND_INT) && v->a->ival;
}

/* ---- "did you mean" ----------------------------------------------------- */

typedef struct Suggest {
  const char *want; /* the misspelt name */
  const char *best; /* nearest candidate so far */
  int dist;         /* its distance */
} Suggest;

static void suggest_try(Suggest *s, const char *cand) {
  if (!cand || cand == s->want)
    return;
  size_t wl = strlen(s->want), cl = strlen(cand);
  int limit = wl <= 2 ? 0 : wl <= 4 ? 1 : 2; /* "b" is no typo of "a" */
  if ((wl > cl ? wl - cl : cl - wl) > (size_t)limit)
    return; /* cheap: lengths alone rule it out */
  int d = diag_edit_distance(s->want, cand);
  if (d <= limit && d < s->dist) {
    s->dist = d;
    s->best = cand;
  }
}

static void suggest_help(Checker *k, Suggest *s) {
  if (s->best)
    diag_help(k->d, "did you mean '%s'?", s->best);
}

static void suggest_values(Checker *k, Suggest *s, Local *env) {
  if (k->d->suppressing)
    return; /* past -fmax-errors: the hint would not be printed */
  for (Local *l = env; l; l = l->next)
    suggest_try(s, l->name);
  for (int i = 0; i < k->symbols.len; i++) {
    Symbol *sym = k->symbols.items[i];
    if (sym->kind != SYM_TYPE)
      suggest_try(s, sym->name);
  }
  for (int i = 0; i < builtin_count; i++)
    suggest_try(s, builtins[i].name);
}

/* ---- types from type expressions ---------------------------------------- */

static Type *resolve_type_decl(Checker *k, Symbol *s);

static Type *texpr_inner(Checker *k, Node *n);
static bool too_deep(Checker *k, Node *e);

/* Type expressions nest (and named types chain) without a parser bound:
 * the same depth limit as expressions keeps the C stack safe. */
static Type *texpr(Checker *k, Node *n) {
  if (too_deep(k, n))
    return &ty_error;
  k->depth++;
  Type *t = texpr_inner(k, n);
  k->depth--;
  return t;
}

static Type *texpr_inner(Checker *k, Node *n) {
  switch (n->kind) {
  case TE_NAME: {
    static const struct {
      const char *name;
      Type *type;
    } prim[] = {{"int", &ty_int},         {"float", &ty_float},
                {"bool", &ty_bool},       {"string", &ty_string},
                {"timestamp", &ty_timestamp}, {"duration", &ty_duration}};
    for (size_t i = 0; i < sizeof prim / sizeof prim[0]; i++)
      if (strcmp(prim[i].name, n->name) == 0)
        return prim[i].type;
    Symbol *s = symtab_get(&k->types, n->name);
    if (s) {
      s->used = true;
      return resolve_type_decl(k, s);
    }
    diag_error(k->d, n->loc, "unknown type '%s'", n->name);
    Suggest sg = {n->name, NULL, 99};
    for (size_t i = 0; i < sizeof prim / sizeof prim[0]; i++)
      suggest_try(&sg, INTERN(k, prim[i].name));
    for (int i = 0; i < k->symbols.len; i++) {
      Symbol *sym = k->symbols.items[i];
      if (sym->kind == SYM_TYPE)
        suggest_try(&sg, sym->name);
    }
    if (strcmp(n->name, "str") == 0 || strcmp(n->name, "String") == 0)
      sg.best = "string";
    else if (strcmp(n->name, "double") == 0 || strcmp(n->name, "f64") == 0)
      sg.best = "float";
    else if (strcmp(n->name, "long") == 0 || strcmp(n->name, "i64") == 0)
      sg.best = "int";
    suggest_help(k, &sg);
    return &ty_error;
  }
  case TE_RECORD: {
    int n_f = n->list.len;
    Field *f = arena_alloc(k->a, (size_t)(n_f ? n_f : 1) * sizeof *f);
    bool bad = false;
    for (int i = 0; i < n_f; i++) {
      Node *fn = n->list.items[i];
      for (int j = 0; j < i; j++)
        if (f[j].name == fn->name) {
          diag_error(k->d, fn->name_loc, "duplicate field '%s'", fn->name);
          diag_note(k->d, f[j].loc, "'%s' first declared here", fn->name);
          bad = true;
        }
      f[i].name = fn->name;
      f[i].loc = fn->name_loc;
      f[i].type = texpr(k, fn->a);
      if (f[i].type->kind == TY_LIST) {
        diag_error(k->d, fn->a->loc, "a record field cannot be a list");
        diag_help(k->d, "lists exist only as function results; use flat_map "
                        "to turn one into records");
        bad = true;
      }
    }
    if (bad)
      return &ty_error;
    return type_record(k->a, NULL, f, n_f);
  }
  case TE_LIST: {
    Type *e = texpr(k, n->a);
    return is_error(e) ? e : type_list(k->a, e);
  }
  case TE_OPTIONAL: {
    Type *e = texpr(k, n->a);
    if (e->kind == TY_OPTIONAL) {
      diag_error(k->d, n->loc, "'%s?' is already optional", tstr(k, e));
      return &ty_error;
    }
    return type_optional(k->a, e);
  }
  default:
    diag_error(k->d, n->loc, "expected a type");
    return &ty_error;
  }
}

static Type *resolve_type_decl(Checker *k, Symbol *s) {
  if (s->state == 2)
    return s->type;
  if (s->state == 1) {
    diag_error(k->d, s->decl->name_loc, "type '%s' contains itself",
               s->name);
    diag_help(k->d, "records cannot be recursive: a stream record has a "
                    "fixed layout");
    s->type = &ty_error;
    return &ty_error;
  }
  s->state = 1;
  Type *t = texpr(k, s->decl->a);
  if (s->state == 1) { /* not already failed through a cycle */
    if (t->kind == TY_RECORD) {
      /* A named copy, so messages say "Bid" and not the field list. */
      Type *named = type_record(k->a, s->name, t->fields, t->nfields);
      t = named;
    }
    s->type = t;
  }
  s->state = 2;
  return s->type;
}

/* ---- declarations ------------------------------------------------------- */

static void declare(Checker *k, Node *item) {
  SymKind kind;
  switch (item->kind) {
  case ND_TYPE_DECL:
    kind = SYM_TYPE;
    break;
  case ND_PARAM:
    kind = SYM_PARAM;
    break;
  case ND_SOURCE:
    kind = SYM_SOURCE;
    break;
  case ND_SINK:
    kind = SYM_SINK;
    break;
  case ND_FN:
    kind = SYM_FN;
    break;
  case ND_LET:
    kind = SYM_LET;
    break;
  default:
    return;
  }
  SymTab *tab = kind == SYM_TYPE ? &k->types : &k->values;
  Symbol *prev = symtab_get(tab, item->name);
  if (kind == SYM_TYPE) {
    static const char *const prim[] = {"int",    "float",     "bool",
                                       "string", "timestamp", "duration"};
    for (size_t i = 0; i < 6; i++)
      if (strcmp(prim[i], item->name) == 0) {
        diag_error(k->d, item->name_loc, "'%s' is a built-in type",
                   item->name);
        return;
      }
  }
  if (prev && prev->kind == SYM_BUILTIN) {
    diag_error(k->d, item->name_loc, "'%s' is a built-in function",
               item->name);
    diag_help(k->d, "choose another name");
    return;
  }
  if (prev) {
    diag_error(k->d, item->name_loc, "'%s' is already declared", item->name);
    diag_note(k->d, prev->decl->name_loc, "previous declaration of '%s' (%s)",
              prev->name, sym_kind_name(prev->kind));
    return;
  }
  if (kind != SYM_TYPE && is_operator_name(item->name)) {
    diag_error(k->d, item->name_loc, "'%s' is the name of a stream operator",
               item->name);
    diag_help(k->d, "choose another name");
    return;
  }
  Symbol *s = arena_alloc(k->a, sizeof *s);
  s->kind = kind;
  s->name = item->name;
  s->decl = item;
  symtab_put(k->a, tab, s);
  vec_push(k->a, &k->symbols, s);
}

/* ---- expressions -------------------------------------------------------- */

static Type *expr(Checker *k, Node *e, Local *env);
static Type *resolve_value(Checker *k, Symbol *s, Loc use);
static void resolve_fn(Checker *k, Symbol *s);

static Local *local_find(Local *env, const char *name) {
  for (; env; env = env->next)
    if (env->name == name)
      return env;
  return NULL;
}

/* The name of a field whose type is only `none` (so unknown), or NULL. */
static const char *none_field(const Type *t) {
  if (t->kind != TY_RECORD)
    return NULL;
  for (int i = 0; i < t->nfields; i++) {
    if (t->fields[i].type->kind == TY_NONE)
      return t->fields[i].name;
    const char *inner = none_field(t->fields[i].type);
    if (inner)
      return inner;
  }
  return NULL;
}

/* Reports a value whose type is not fully known: `none` with nothing to
 * give it a type. Returns true if it did. */
static bool report_unknown_none(Checker *k, Loc loc, const Type *t) {
  const char *f = none_field(t);
  if (!f)
    return false;
  diag_error(k->d, loc, "field '%s' is always none, so its type cannot be "
             "known", f);
  diag_help(k->d, "declare the record type (fn f() -> T = ..., let x: T = "
                  "...), or write 'if cond then value else none'");
  return true;
}

static Type *unify(Checker *k, Type *x, Type *y);

/* Records with the same field names in order unify field by field. */
static Type *unify_records(Checker *k, Type *x, Type *y) {
  if (x->nfields != y->nfields)
    return NULL;
  Field *f = arena_alloc(k->a, (size_t)(x->nfields ? x->nfields : 1) *
                                   sizeof *f);
  for (int i = 0; i < x->nfields; i++) {
    if (x->fields[i].name != y->fields[i].name)
      return NULL;
    f[i] = x->fields[i];
    f[i].type = unify(k, x->fields[i].type, y->fields[i].type);
    if (!f[i].type)
      return NULL;
  }
  return type_record(k->a, x->name ? x->name : y->name, f, x->nfields);
}

/* The type both branches of an if (or a list's items) can take, or NULL. */
static Type *unify(Checker *k, Type *x, Type *y) {
  if (is_error(x) || is_error(y))
    return &ty_error;
  if (type_equal(x, y)) {
    if (x->kind == TY_LIST && !x->elem)
      return y;
    return x;
  }
  if (x->kind == TY_NONE && y->kind != TY_NONE)
    return type_optional(k->a, y);
  if (y->kind == TY_NONE)
    return type_optional(k->a, x);
  if (type_assignable(x, y))
    return y;
  if (type_assignable(y, x))
    return x;
  if (x->kind == TY_OPTIONAL && type_assignable(y, x->elem))
    return x;
  if (y->kind == TY_OPTIONAL && type_assignable(x, y->elem))
    return y;
  if (x->kind == TY_RECORD && y->kind == TY_RECORD)
    return unify_records(k, x, y);
  return NULL;
}

static void mismatch_hint(Checker *k, Type *x, Type *y) {
  if ((x->kind == TY_INT && y->kind == TY_FLOAT) ||
      (x->kind == TY_FLOAT && y->kind == TY_INT))
    diag_help(k->d, "there are no implicit conversions: convert the int "
                    "side with float(...) or the float side with int(...)");
  else if ((x->kind == TY_INT && y->kind == TY_TIMESTAMP) ||
           (x->kind == TY_TIMESTAMP && y->kind == TY_INT))
    diag_help(k->d, "timestamp(x) reads an int as epoch milliseconds; a "
                    "span of time is a duration with a unit, as in 1s");
  else if ((x->kind == TY_INT && y->kind == TY_DURATION) ||
           (x->kind == TY_DURATION && y->kind == TY_INT))
    diag_help(k->d, "write a duration with a unit, as in 10s; duration(x) "
                    "and int(d) convert milliseconds");
  else if (y->kind == TY_STRING && x->kind != TY_STRING && type_is_scalar(x))
    diag_help(k->d, "to_string(x) turns %s %s into a string",
              x->kind == TY_INT ? "an" : "a", tstr(k, x));
}

static Type *check_arith(Checker *k, Node *e, Type *l, Type *r) {
  TypeKind a = l->kind, b = r->kind;
  switch (e->op) {
  case OP_ADD:
    if (a == TY_INT && b == TY_INT)
      return &ty_int;
    if (a == TY_FLOAT && b == TY_FLOAT)
      return &ty_float;
    if (a == TY_STRING && b == TY_STRING)
      return &ty_string;
    if (a == TY_DURATION && b == TY_DURATION)
      return &ty_duration;
    if ((a == TY_TIMESTAMP && b == TY_DURATION) ||
        (a == TY_DURATION && b == TY_TIMESTAMP))
      return &ty_timestamp;
    break;
  case OP_SUB:
    if (a == TY_INT && b == TY_INT)
      return &ty_int;
    if (a == TY_FLOAT && b == TY_FLOAT)
      return &ty_float;
    if (a == TY_DURATION && b == TY_DURATION)
      return &ty_duration;
    if (a == TY_TIMESTAMP && b == TY_TIMESTAMP)
      return &ty_duration;
    if (a == TY_TIMESTAMP && b == TY_DURATION)
      return &ty_timestamp;
    break;
  case OP_MUL:
    if (a == TY_INT && b == TY_INT)
      return &ty_int;
    if (a == TY_FLOAT && b == TY_FLOAT)
      return &ty_float;
    if ((a == TY_DURATION && b == TY_INT) || (a == TY_INT && b == TY_DURATION))
      return &ty_duration;
    break;
  case OP_DIV:
    if (a == TY_INT && b == TY_INT)
      return &ty_int;
    if (a == TY_FLOAT && b == TY_FLOAT)
      return &ty_float;
    if (a == TY_DURATION && b == TY_INT)
      return &ty_duration;
    if (a == TY_DURATION && b == TY_DURATION)
      return &ty_int;
    break;
  case OP_MOD:
    if (a == TY_INT && b == TY_INT)
      return &ty_int;
    if (a == TY_FLOAT && b == TY_FLOAT)
      return &ty_float;
    if (a == TY_DURATION && b == TY_DURATION)
      return &ty_duration;
    break;
  default:
    break;
  }
  diag_error(k->d, e->name_loc, "operator '%s' cannot take %s and %s",
             binop_spelling(e->op), tstr(k, l), tstr(k, r));
  if (a == TY_OPTIONAL || b == TY_OPTIONAL)
    diag_help(k->d, "an optional value may be none: give a default with "
                    "'x ?? default' first");
  else if (e->op == OP_ADD && (a == TY_STRING || b == TY_STRING))
    diag_help(k->d, "'+' joins two strings: convert the other side with "
                "to_string(...)");
  else if (a == TY_TIMESTAMP && b == TY_TIMESTAMP && e->op == OP_ADD)
    diag_help(k->d, "two times cannot be added; subtract them to get a "
                    "duration");
  else
    mismatch_hint(k, l, r);
  return &ty_error;
}

static bool is_ordered(const Type *t) {
  return t->kind == TY_INT || t->kind == TY_FLOAT || t->kind == TY_STRING ||
         t->kind == TY_TIMESTAMP || t->kind == TY_DURATION;
}

static Type *check_compare(Checker *k, Node *e, Type *l, Type *r) {
  if (e->op == OP_EQ || e->op == OP_NE) {
    if (type_equal(l, r) && l->kind != TY_LIST)
      return &ty_bool;
    /* x == none, and T? against T */
    if ((l->kind == TY_OPTIONAL && (r->kind == TY_NONE ||
                                    type_equal(l->elem, r))) ||
        (r->kind == TY_OPTIONAL && (l->kind == TY_NONE ||
                                    type_equal(r->elem, l))))
      return &ty_bool;
  } else if (type_equal(l, r) && is_ordered(l)) {
    return &ty_bool;
  }
  if (type_equal(l, r))
    diag_error(k->d, e->name_loc, "operator '%s' cannot compare %s values",
               binop_spelling(e->op), tstr(k, l));
  else
    diag_error(k->d, e->name_loc, "operator '%s' cannot compare %s and %s",
               binop_spelling(e->op), tstr(k, l), tstr(k, r));
  if (l->kind == TY_OPTIONAL || r->kind == TY_OPTIONAL)
    diag_help(k->d, "give the optional a default with 'x ?? default' first");
  else
    mismatch_hint(k, l, r);
  return &ty_error;
}

static Type *expect_type(Checker *k, Node *e, Type *got, Type *want,
                         const char *what) {
  if (is_error(got) || is_error(want) || type_assignable(got, want))
    return want;
  diag_error(k->d, e->loc, "%s must be %s, got %s", what, tstr(k, want),
             tstr(k, got));
  mismatch_hint(k, got, want);
  return &ty_error;
}

static Type *check_call(Checker *k, Node *e, Local *env);

static Type *check_record(Checker *k, Node *e, Local *env) {
  int cap = 0;
  for (int i = 0; i < e->list.len; i++) {
    Node *f = e->list.items[i];
    if (f->kind == ND_SPREAD) {
      Type *t = expr(k, f->a, env);
      f->type = t;
      cap += t->kind == TY_RECORD ? t->nfields : 0;
    } else {
      cap++;
    }
  }
  Field *fields = arena_alloc(k->a, (size_t)(cap ? cap : 1) * sizeof *fields);
  bool *explicit_ = arena_alloc(k->a, (size_t)(cap ? cap : 1));
  int n = 0;
  bool bad = false;
  for (int i = 0; i < e->list.len; i++) {
    Node *f = e->list.items[i];
    if (f->kind == ND_SPREAD) {
      Type *t = f->type;
      if (is_error(t)) {
        bad = true;
        continue;
      }
      if (t->kind != TY_RECORD) {
        diag_error(k->d, f->a->loc, "only a record can be spread, not %s",
                   tstr(k, t));
        bad = true;
        continue;
      }
      for (int j = 0; j < t->nfields; j++) {
        int at = -1;
        for (int m = 0; m < n; m++)
          if (fields[m].name == t->fields[j].name)
            at = m;
        if (at < 0)
          at = n++;
        fields[at] = t->fields[j];
        fields[at].loc = f->loc;
        explicit_[at] = false;
      }
      continue;
    }
    Type *t = expr(k, f->a, env);
    if (is_error(t))
      bad = true;
    else if (t->kind == TY_LIST) {
      diag_error(k->d, f->a->loc, "a record field cannot be a list");
      diag_help(k->d, "use flat_map to emit one record per list item");
      bad = true;
    }
    /* A field that is just `none` takes its type from where the record
     * goes (a declared type); see none_field(). */
    int at = -1;
    for (int m = 0; m < n; m++)
      if (fields[m].name == f->name)
        at = m;
    if (at >= 0 && explicit_[at]) {
      diag_error(k->d, f->name_loc, "duplicate field '%s'", f->name);
      diag_note(k->d, fields[at].loc, "'%s' first set here", f->name);
      bad = true;
      continue;
    }
    if (at < 0)
      at = n++;
    fields[at].name = f->name;
    fields[at].type = t;
    fields[at].loc = f->name_loc;
    explicit_[at] = true;
  }
  if (bad)
    return &ty_error;
  return type_record(k->a, NULL, fields, n);
}

static Type *check_name(Checker *k, Node *e, Local *env) {
  Local *l = local_find(env, e->name);
  if (l)
    return l->type;
  Symbol *s = symtab_get(&k->values, e->name);
  if (!s) {
    if (symtab_get(&k->types, e->name)) {
      diag_error(k->d, e->loc, "'%s' is a type, not a value", e->name);
      return &ty_error;
    }
    diag_error(k->d, e->loc, "unknown name '%s'", e->name);
    Suggest sg = {e->name, NULL, 99};
    suggest_values(k, &sg, env);
    suggest_help(k, &sg);
    return &ty_error;
  }
  s->used = true;
  e->sym = s;
  switch (s->kind) {
  case SYM_PARAM:
    return resolve_value(k, s, e->loc);
  case SYM_LET: {
    Type *t = resolve_value(k, s, e->loc);
    if (s->is_stream) {
      diag_error(k->d, e->loc, "'%s' is a stream, not a value", e->name);
      diag_help(k->d, "a stream can only start a pipeline: %s |> ...",
                e->name);
      return &ty_error;
    }
    return t;
  }
  case SYM_SOURCE:
  case SYM_SINK:
    diag_error(k->d, e->loc, "'%s' is a %s, not a value", e->name,
               sym_kind_name(s->kind));
    if (env)
      diag_help(k->d, "inside a function, use the function's parameter%s",
                env->next ? "s" : "");
    return &ty_error;
  case SYM_FN:
  case SYM_BUILTIN:
    diag_error(k->d, e->loc, "'%s' is a function; call it: %s(...)",
               e->name, e->name);
    return &ty_error;
  default:
    return &ty_error;
  }
}

/* Deeper nesting than this is reported, not recursed into: the checker
 * recurses on the tree and must not overflow the C stack. */
#define MAX_DEPTH 2000

static bool too_deep(Checker *k, Node *e) {
  if (k->depth < MAX_DEPTH)
    return false;
  if (!k->depth_reported) {
    diag_error(k->d, e->loc, "%s nested too deeply (more than %d levels)",
               e->kind >= TE_NAME && e->kind <= TE_OPTIONAL ? "type"
                                                            : "expression",
               MAX_DEPTH);
    diag_help(k->d, "split it with fn or let declarations");
    k->depth_reported = true;
  }
  return true;
}

static Type *expr_inner(Checker *k, Node *e, Local *env);

static Type *expr(Checker *k, Node *e, Local *env) {
  if (too_deep(k, e))
    return e->type = &ty_error;
  k->depth++;
  Type *t = expr_inner(k, e, env);
  k->depth--;
  return t;
}

static Type *expr_inner(Checker *k, Node *e, Local *env) {
  Type *t = &ty_error;
  switch (e->kind) {
  case ND_INT:
    if (e->ival > (uint64_t)INT64_MAX &&
        !(e->negated && e->ival == (uint64_t)INT64_MAX + 1)) {
      diag_error(k->d, e->loc, "integer literal is too large for int");
      diag_help(k->d, "int is 64-bit signed: at most 9223372036854775807");
      break;
    }
    t = &ty_int;
    break;
  case ND_FLOAT:
    t = &ty_float;
    break;
  case ND_STRING:
    t = &ty_string;
    break;
  case ND_BOOL:
    t = &ty_bool;
    break;
  case ND_NONE:
    t = &ty_none;
    break;
  case ND_DURATION:
    t = &ty_duration;
    break;
  case ND_TIMESTAMP:
    t = &ty_timestamp;
    break;
  case ND_NAME:
    t = check_name(k, e, env);
    break;
  case ND_FIELD: {
    Type *r = expr(k, e->a, env);
    if (is_error(r))
      break;
    if (r->kind == TY_OPTIONAL && r->elem->kind == TY_RECORD) {
      diag_error(k->d, e->name_loc, "cannot read field '%s' of an optional "
                 "record (%s)", e->name, tstr(k, r));
      diag_help(k->d, "give a default first: (x ?? {...}).%s", e->name);
      break;
    }
    if (r->kind != TY_RECORD) {
      diag_error(k->d, e->name_loc, "%s has no fields; '.%s' needs a record",
                 tstr(k, r), e->name);
      break;
    }
    const Field *f = type_field(r, e->name);
    if (!f) {
      diag_error(k->d, e->name_loc, "%s has no field '%s'", tstr(k, r),
                 e->name);
      Suggest sg = {e->name, NULL, 99};
      for (int i = 0; i < r->nfields; i++)
        suggest_try(&sg, r->fields[i].name);
      if (sg.best) {
        suggest_help(k, &sg);
      } else if (r->nfields <= 12) {
        const char *list = "";
        for (int i = 0; i < r->nfields; i++)
          list = arena_printf(k->a, "%s%s%s", list, i ? ", " : "",
                              r->fields[i].name);
        diag_note_plain(k->d, "its fields are: %s", list);
      }
      break;
    }
    t = f->type;
    break;
  }
  case ND_CALL:
    t = check_call(k, e, env);
    break;
  case ND_NAMED_ARG:
    diag_error(k->d, e->loc, "a named argument is not a value");
    break;
  case ND_BINARY: {
    Type *l = expr(k, e->a, env);
    Type *r = expr(k, e->b, env);
    if (is_error(l) || is_error(r))
      break;
    switch (e->op) {
    case OP_AND:
    case OP_OR:
      if (l->kind != TY_BOOL || r->kind != TY_BOOL) {
        Node *bad = l->kind != TY_BOOL ? e->a : e->b;
        diag_error(k->d, bad->loc, "operands of '%s' must be bool, got %s",
                   binop_spelling(e->op),
                   tstr(k, l->kind != TY_BOOL ? l : r));
        break;
      }
      t = &ty_bool;
      break;
    case OP_EQ:
    case OP_NE:
    case OP_LT:
    case OP_LE:
    case OP_GT:
    case OP_GE:
      t = check_compare(k, e, l, r);
      break;
    default:
      t = check_arith(k, e, l, r);
      if (!is_error(t) && (e->op == OP_DIV || e->op == OP_MOD) &&
          e->b->kind == ND_INT && e->b->ival == 0)
        diag_warning(k->d, e->loc, "division by zero: every record that "
                     "gets here will be a bad record");
      break;
    }
    break;
  }
  case ND_UNARY: {
    Type *o = expr(k, e->a, env);
    if (is_error(o))
      break;
    if (e->op == OP_NOT) {
      if (o->kind != TY_BOOL) {
        diag_error(k->d, e->loc, "operand of 'not' must be bool, got %s",
                   tstr(k, o));
        break;
      }
      t = &ty_bool;
    } else {
      if (o->kind != TY_INT && o->kind != TY_FLOAT &&
          o->kind != TY_DURATION) {
        diag_error(k->d, e->loc, "unary '-' cannot take %s", tstr(k, o));
        break;
      }
      t = o;
    }
    break;
  }
  case ND_IF: {
    Type *cnd = expr(k, e->a, env);
    Type *x = expr(k, e->b, env);
    Type *y = expr(k, e->c, env);
    if (!is_error(cnd) && cnd->kind != TY_BOOL) {
      diag_error(k->d, e->a->loc, "condition of 'if' must be bool, got %s",
                 tstr(k, cnd));
      break;
    }
    if (is_error(cnd) || is_error(x) || is_error(y))
      break;
    t = unify(k, x, y);
    if (!t) {
      diag_error(k->d, e->loc, "branches of 'if' have different types: %s "
                 "and %s", tstr(k, x), tstr(k, y));
      diag_note(k->d, e->b->loc, "'then' branch is %s", tstr(k, x));
      diag_note(k->d, e->c->loc, "'else' branch is %s", tstr(k, y));
      t = &ty_error;
    }
    break;
  }
  case ND_COALESCE: {
    Type *x = expr(k, e->a, env);
    Type *y = expr(k, e->b, env);
    if (is_error(x) || is_error(y))
      break;
    if (x->kind == TY_NONE) {
      t = y;
      break;
    }
    if (x->kind != TY_OPTIONAL) {
      diag_warning(k->d, e->name_loc, "left side of '?\?' is %s, never none",
                   tstr(k, x));
      t = unify(k, x, y);
      if (!t) {
        diag_error(k->d, e->b->loc, "default of '?\?' must be %s, got %s",
                   tstr(k, x), tstr(k, y));
        t = &ty_error;
      }
      break;
    }
    if (type_assignable(y, x->elem))
      t = x->elem;
    else if (type_assignable(y, x))
      t = x;
    else {
      diag_error(k->d, e->b->loc, "default of '?\?' must be %s, got %s",
                 tstr(k, x->elem), tstr(k, y));
      mismatch_hint(k, y, x->elem);
    }
    break;
  }
  case ND_RECORD:
    t = check_record(k, e, env);
    break;
  case ND_LIST: {
    Type *el = NULL;
    bool bad = false;
    for (int i = 0; i < e->list.len; i++) {
      Type *it = expr(k, e->list.items[i], env);
      if (is_error(it)) {
        bad = true;
        continue;
      }
      if (it->kind == TY_LIST) {
        diag_error(k->d, e->list.items[i]->loc, "lists cannot be nested");
        bad = true;
        continue;
      }
      if (!el) {
        el = it;
        continue;
      }
      Type *u = unify(k, el, it);
      if (!u) {
        diag_error(k->d, e->list.items[i]->loc, "list items have different "
                   "types: %s and %s", tstr(k, el), tstr(k, it));
        bad = true;
        continue;
      }
      el = u;
    }
    if (!bad)
      t = type_list(k->a, el);
    break;
  }
  case ND_LAMBDA:
    diag_error(k->d, e->loc, "a function literal can only be the argument "
               "of a stream operator or an aggregate");
    break;
  case ND_PIPE:
    diag_error(k->d, e->name_loc, "a pipeline cannot be used as a value");
    break;
  default:
    diag_error(k->d, e->loc, "expected an expression");
    break;
  }
  e->type = t;
  return t;
}

/* Calls of user functions and the stdlib in value position. */
static Type *check_call(Checker *k, Node *e, Local *env) {
  int nargs = e->list.len;
  Type **at = arena_alloc(k->a, (size_t)(nargs ? nargs : 1) * sizeof *at);
  bool bad = false;
  for (int i = 0; i < nargs; i++) {
    Node *arg = e->list.items[i];
    if (arg->kind == ND_NAMED_ARG) {
      diag_error(k->d, arg->name_loc, "function '%s' takes no named "
                 "arguments", e->name);
      bad = true;
      continue;
    }
    at[i] = expr(k, arg, env);
    if (is_error(at[i]))
      bad = true;
  }
  if (local_find(env, e->name)) {
    diag_error(k->d, e->name_loc, "'%s' is a parameter, not a function",
               e->name);
    return &ty_error;
  }
  Symbol *s = symtab_get(&k->values, e->name);
  if (!s) {
    if (is_operator_name(e->name)) {
      diag_error(k->d, e->name_loc, "'%s' is a stream operator; use it "
                 "after '|>'", e->name);
      return &ty_error;
    }
    diag_error(k->d, e->name_loc, "unknown function '%s'", e->name);
    Suggest sg = {e->name, NULL, 99};
    suggest_values(k, &sg, NULL);
    suggest_help(k, &sg);
    return &ty_error;
  }
  s->used = true;
  e->sym = s;
  if (s->kind == SYM_FN) {
    resolve_fn(k, s);
    Node *d = s->decl;
    if (nargs != d->list.len) {
      diag_error(k->d, e->loc, "'%s' takes %d argument%s, got %d", e->name,
                 d->list.len, d->list.len == 1 ? "" : "s", nargs);
      diag_note(k->d, d->name_loc, "'%s' declared here", e->name);
      return &ty_error;
    }
    for (int i = 0; i < nargs && !bad; i++) {
      Type *pt = d->list.items[i]->type;
      if (!is_error(pt) && !type_assignable(at[i], pt)) {
        diag_error(k->d, e->list.items[i]->loc, "argument %d of '%s' must "
                   "be %s, got %s", i + 1, e->name, tstr(k, pt),
                   tstr(k, at[i]));
        mismatch_hint(k, at[i], pt);
        diag_note(k->d, d->list.items[i]->loc, "parameter '%s' declared "
                  "here", d->list.items[i]->name);
        bad = true;
      }
    }
    if (bad || !s->type)
      return &ty_error;
    return s->type;
  }
  if (s->kind != SYM_BUILTIN) {
    diag_error(k->d, e->name_loc, "'%s' is a %s, not a function", e->name,
               sym_kind_name(s->kind));
    return &ty_error;
  }
  if (bad)
    return &ty_error;
  /* Overload resolution: exact parameter types. */
  int first = s->builtin, last = first;
  while (last + 1 < builtin_count &&
         strcmp(builtins[last + 1].name, e->name) == 0)
    last++;
  bool arity_ok = false;
  for (int i = first; i <= last; i++) {
    const Builtin *b = &builtins[i];
    if ((int)strlen(b->params) != nargs)
      continue;
    arity_ok = true;
    bool ok = true;
    for (int j = 0; j < nargs && ok; j++)
      ok = type_equal(at[j], builtin_letter_type(k->a, b->params[j]));
    if (ok) {
      e->ival = (uint64_t)i; /* the chosen overload */
      return builtin_result(k->a, b);
    }
  }
  if (!arity_ok) {
    diag_error(k->d, e->loc, "'%s' cannot take %d argument%s", e->name,
               nargs, nargs == 1 ? "" : "s");
  } else {
    const char *got = "";
    for (int j = 0; j < nargs; j++)
      got = arena_printf(k->a, "%s%s%s", got, j ? ", " : "", tstr(k, at[j]));
    diag_error(k->d, e->loc, "'%s' cannot take (%s)", e->name, got);
  }
  for (int i = first; i <= last; i++)
    diag_note_plain(k->d, "%s", builtin_signature(k->a, &builtins[i]));
  for (int j = 0; j < nargs; j++)
    if (at[j]->kind == TY_OPTIONAL) {
      diag_help(k->d, "argument %d may be none: give it a default with "
                "'x ?? default'", j + 1);
      break;
    }
  return &ty_error;
}

/* ---- params, fns, lets -------------------------------------------------- */

static Type *check_stream(Checker *k, Node *e, Chain *ch, bool *sunk);
static bool is_stream_expr(Checker *k, Node *e);

static Type *resolve_value(Checker *k, Symbol *s, Loc use) {
  if (s->state == 2)
    return s->type ? s->type : &ty_error;
  if (s->state == 1) {
    diag_error(k->d, use, "'%s' is defined in terms of itself", s->name);
    diag_note(k->d, s->decl->name_loc, "'%s' declared here", s->name);
    return &ty_error;
  }
  s->state = 1;
  Node *d = s->decl;
  Type *t = &ty_error;
  if (s->kind == SYM_PARAM) {
    t = texpr(k, d->a);
    if (!is_error(t) && !type_is_scalar(t)) {
      diag_error(k->d, d->a->loc, "a param must be int, float, bool, string, "
                 "timestamp or duration, not %s", tstr(k, t));
      diag_help(k->d, "params become command-line flags of the built "
                      "program");
      t = &ty_error;
    }
    if (d->b) {
      Type *v = expr(k, d->b, NULL);
      expect_type(k, d->b, v, t, "the default value");
    }
  } else if (s->kind == SYM_LET) {
    Type *ann = d->a ? texpr(k, d->a) : NULL;
    if (is_stream_expr(k, d->b)) {
      s->is_stream = true;
      Chain *ch = arena_alloc(k->a, sizeof *ch);
      ch->stmt = d;
      bool sunk = false;
      t = check_stream(k, d->b, ch, &sunk);
      vec_push(k->a, &k->out->chains, ch);
      if (sunk) {
        diag_error(k->d, d->b->loc, "a named stream cannot end in a sink");
        diag_help(k->d, "write the pipeline as its own statement: %s |> ...",
                  s->name);
        t = &ty_error;
      }
      if (ann && !is_error(t) && !is_error(ann) &&
          !type_equal(t->elem, ann)) {
        diag_error(k->d, d->a->loc, "stream '%s' carries %s, not %s",
                   s->name, tstr(k, t->elem), tstr(k, ann));
      }
    } else {
      t = expr(k, d->b, NULL);
      if (ann && !is_error(ann))
        t = expect_type(k, d->b, t, ann, "the value");
      else if (t->kind == TY_NONE) {
        diag_error(k->d, d->b->loc, "the type of '%s' cannot be known from "
                   "'none' alone", s->name);
        diag_help(k->d, "declare it: let %s: int? = none", s->name);
        t = &ty_error;
      } else if (report_unknown_none(k, d->b->loc, t)) {
        t = &ty_error;
      }
      if (t->kind == TY_LIST) {
        diag_error(k->d, d->b->loc, "a let cannot hold a list");
        diag_help(k->d, "lists exist only as results of flat_map's function "
                        "and of stdlib functions; write the list there");
        t = &ty_error;
      }
    }
  }
  s->type = t;
  s->state = 2;
  return t;
}

static void resolve_fn(Checker *k, Symbol *s) {
  if (s->state == 2)
    return;
  if (s->state == 1) {
    /* A call back into a function being checked. */
    diag_error(k->d, s->decl->name_loc, "function '%s' is recursive",
               s->name);
    diag_help(k->d, "functions cannot call themselves, directly or "
                    "through others: a pipeline must finish every record");
    for (int i = k->fn_depth - 1; i >= 0 && k->fn_stack[i] != s; i--)
      diag_note(k->d, k->fn_stack[i]->decl->name_loc, "'%s' is part of the "
                "cycle", k->fn_stack[i]->name);
    s->type = NULL;
    return;
  }
  s->state = 1;
  Node *d = s->decl;
  Local *env = NULL;
  for (int i = 0; i < d->list.len; i++) {
    Node *p = d->list.items[i];
    p->type = texpr(k, p->a);
    for (Local *l = env; l; l = l->next)
      if (l->name == p->name) {
        diag_error(k->d, p->name_loc, "duplicate parameter '%s'", p->name);
        p->type = &ty_error;
      }
    Local *l = arena_alloc(k->a, sizeof *l);
    *l = (Local){p->name, p->type, p, env};
    env = l;
  }
  Type *ret = d->a ? texpr(k, d->a) : NULL;
  if (ret)
    s->type = ret; /* known before the body: recursion reports once */
  /* The stack only names the cycle in messages; deeper chains are fine. */
  bool pushed = k->fn_depth < 64;
  if (pushed)
    k->fn_stack[k->fn_depth++] = s;
  Type *body = expr(k, d->b, env);
  if (pushed)
    k->fn_depth--;
  if (s->state != 1) /* recursion was reported */
    return;
  if (ret) {
    if (!is_error(body) && !is_error(ret) && !type_assignable(body, ret)) {
      diag_error(k->d, d->b->loc, "function '%s' must return %s, but its "
                 "body is %s", s->name, tstr(k, ret), tstr(k, body));
      mismatch_hint(k, body, ret);
    }
    s->type = ret;
  } else {
    if (report_unknown_none(k, d->b->loc, body) ||
        (body->kind == TY_NONE &&
         (diag_error(k->d, d->b->loc, "function '%s' always returns none, so "
                     "its type cannot be known", s->name),
          diag_help(k->d, "declare it: fn %s(...) -> int? = ...", s->name),
          true)))
      body = &ty_error;
    s->type = body;
  }
  s->state = 2;
}

/* ---- connectors ---------------------------------------------------------- */

enum { WHERE_SOURCE = 1, WHERE_SINK = 2, WHERE_BOTH = 3 };

typedef struct ConnParam {
  const char *name; /* as written */
  char type;        /* s string, b bool, i int, F format, K field list */
  int where;        /* WHERE_* */
  bool positional;  /* may be the first positional argument */
  bool required;    /* must be given */
} ConnParam;

typedef struct Connector {
  const char *name;        /* file, stdin, ... */
  int where;               /* WHERE_* */
  const char *default_fmt; /* when format: is absent; NULL = from path */
  ConnParam params[8];     /* ends with a NULL name */
} Connector;

static const Connector connectors[] = {
    {"file", WHERE_BOTH, NULL,
     {{"path", 's', WHERE_BOTH, true, true},
      {"format", 'F', WHERE_BOTH, false, false},
      {"follow", 'b', WHERE_SOURCE, false, false},
      {"append", 'b', WHERE_SINK, false, false},
      {NULL, 0, 0, false, false}}},
    {"stdin", WHERE_SOURCE, "json",
     {{"format", 'F', WHERE_BOTH, false, false}, {NULL, 0, 0, false, false}}},
    {"stdout", WHERE_SINK, "json",
     {{"format", 'F', WHERE_BOTH, false, false}, {NULL, 0, 0, false, false}}},
    {"console", WHERE_SINK, "console", {{NULL, 0, 0, false, false}}},
    {"mqtt", WHERE_BOTH, "json",
     {{"url", 's', WHERE_BOTH, true, true},
      {"topic", 's', WHERE_BOTH, false, true},
      {"qos", 'i', WHERE_BOTH, false, false},
      {"client_id", 's', WHERE_BOTH, false, false},
      {"format", 'F', WHERE_BOTH, false, false},
      {NULL, 0, 0, false, false}}},
    {"kafka", WHERE_BOTH, "json",
     {{"brokers", 's', WHERE_BOTH, false, true},
      {"topic", 's', WHERE_BOTH, false, true},
      {"group", 's', WHERE_SOURCE, false, false},
      {"key", 'K', WHERE_BOTH, false, false},
      {"format", 'F', WHERE_BOTH, false, false},
      {NULL, 0, 0, false, false}}},
    {"sqlite", WHERE_SINK, "sqlite",
     {{"path", 's', WHERE_SINK, true, true},
      {"table", 's', WHERE_SINK, false, true},
      {"key", 'K', WHERE_SINK, false, false},
      {NULL, 0, 0, false, false}}},
};

static const Connector *find_connector(const char *name) {
  for (size_t i = 0; i < sizeof connectors / sizeof connectors[0]; i++)
    if (strcmp(connectors[i].name, name) == 0)
      return &connectors[i];
  return NULL;
}

/* format: csv | json | lines, or csv(header: b, delimiter: s). */
static const char *check_format(Checker *k, Node *v, Symbol *s) {
  const char *name = (v->kind == ND_NAME || v->kind == ND_CALL) ? v->name
                                                                : NULL;
  bool known = name && (strcmp(name, "csv") == 0 ||
                        strcmp(name, "json") == 0 ||
                        strcmp(name, "lines") == 0);
  if (!known) {
    diag_error(k->d, v->loc, "unknown format");
    diag_help(k->d, "the formats are csv, json and lines");
    if (name) {
      Suggest sg = {name, NULL, 99};
      suggest_try(&sg, "csv");
      suggest_try(&sg, "json");
      suggest_try(&sg, "lines");
      suggest_help(k, &sg);
    }
    return NULL;
  }
  if (v->kind == ND_CALL) {
    for (int i = 0; i < v->list.len; i++) {
      Node *a = v->list.items[i];
      bool csv = strcmp(name, "csv") == 0;
      if (a->kind != ND_NAMED_ARG || !csv ||
          (strcmp(a->name, "header") != 0 &&
           strcmp(a->name, "delimiter") != 0)) {
        diag_error(k->d, a->loc, "format '%s' takes %s", name,
                   csv ? "only header: and delimiter:" : "no options");
        continue;
      }
      Type *t = expr(k, a->a, NULL);
      if (strcmp(a->name, "header") == 0) {
        expect_type(k, a->a, t, &ty_bool, "header:");
        if (a->a->kind == ND_BOOL && !a->a->bval)
          s->csv_no_header = true;
        else if (a->a->kind != ND_BOOL)
          diag_error(k->d, a->a->loc, "header: must be true or false, "
                     "written out");
      } else if (expect_type(k, a->a, t, &ty_string, "delimiter:") ==
                     &ty_string &&
                 a->a->kind == ND_STRING &&
                 (a->a->slen != 1 || a->a->sval[0] == '"' ||
                  a->a->sval[0] == '\n' || a->a->sval[0] == '\r')) {
        diag_error(k->d, a->a->loc, "delimiter must be one character other "
                   "than a quote or a line break");
      } else if (a->a->kind == ND_STRING) {
        s->csv_delim = a->a->sval[0];
      } else {
        diag_error(k->d, a->a->loc, "delimiter: must be a string literal");
      }
    }
  }
  return arena_intern_cstr(k->a, name);
}

static const char *format_from_path(Node *path) {
  if (!path || path->kind != ND_STRING)
    return NULL;
  const char *dot = strrchr(path->sval, '.');
  if (!dot)
    return NULL;
  if (strcmp(dot, ".csv") == 0 || strcmp(dot, ".tsv") == 0)
    return "csv";
  if (strcmp(dot, ".jsonl") == 0 || strcmp(dot, ".json") == 0 ||
      strcmp(dot, ".ndjson") == 0)
    return "json";
  if (strcmp(dot, ".txt") == 0 || strcmp(dot, ".log") == 0)
    return "lines";
  return NULL;
}

/* Checks a source's or sink's connector call; fills s->connector/format. */
static void check_connector(Checker *k, Symbol *s, Node *call, int where) {
  const char *role = where == WHERE_SOURCE ? "source" : "sink";
  if (call->kind != ND_CALL) {
    diag_error(k->d, call->loc, "a %s is a connector such as file(...), "
               "kafka(...) or %s", role,
               where == WHERE_SOURCE ? "stdin()" : "console()");
    return;
  }
  const Connector *cn = find_connector(call->name);
  if (!cn) {
    diag_error(k->d, call->name_loc, "unknown connector '%s'", call->name);
    Suggest sg = {call->name, NULL, 99};
    for (size_t i = 0; i < sizeof connectors / sizeof connectors[0]; i++)
      if (connectors[i].where & where)
        suggest_try(&sg, INTERN(k, connectors[i].name));
    if (sg.best)
      suggest_help(k, &sg);
    else
      diag_help(k->d, "%s", where == WHERE_SOURCE
                                ? "sources are file, stdin, mqtt and kafka"
                                : "sinks are file, stdout, console, sqlite, "
                                  "mqtt and kafka");
    return;
  }
  s->connector = INTERN(k, cn->name);
  s->conn = call;
  if (!(cn->where & where)) {
    diag_error(k->d, call->name_loc, "'%s' cannot be a %s", cn->name, role);
    diag_help(k->d, "%s", where == WHERE_SOURCE
                              ? "sources are file, stdin, mqtt and kafka"
                              : "sinks are file, stdout, console, sqlite, "
                                "mqtt and kafka");
    return;
  }
  Node *given[8] = {0};
  int npos = 0;
  for (int i = 0; i < call->list.len; i++) {
    Node *a = call->list.items[i];
    const ConnParam *p = NULL;
    int pi = -1;
    if (a->kind == ND_NAMED_ARG) {
      for (int j = 0; cn->params[j].name; j++)
        if (strcmp(cn->params[j].name, a->name) == 0)
          p = &cn->params[j], pi = j;
      if (!p) {
        if (strcmp(a->name, "header") == 0 ||
            strcmp(a->name, "delimiter") == 0) {
          diag_error(k->d, a->name_loc, "'%s' is an option of the csv "
                     "format", a->name);
          diag_help(k->d, "write format: csv(%s: ...)", a->name);
          continue;
        }
        diag_error(k->d, a->name_loc, "'%s' has no parameter '%s'", cn->name,
                   a->name);
        Suggest sg = {a->name, NULL, 99};
        const char *list = "";
        for (int j = 0; cn->params[j].name; j++) {
          if (!(cn->params[j].where & where))
            continue;
          suggest_try(&sg, INTERN(k, cn->params[j].name));
          list = arena_printf(k->a, "%s%s%s:", list, *list ? ", " : "",
                              cn->params[j].name);
        }
        if (sg.best)
          suggest_help(k, &sg);
        else if (*list)
          diag_note_plain(k->d, "'%s' %s takes %s", cn->name, role, list);
        continue;
      }
    } else {
      if (npos == 0 && cn->params[0].name && cn->params[0].positional)
        p = &cn->params[0], pi = 0;
      npos++;
      if (!p) {
        diag_error(k->d, a->loc, "unexpected positional argument to '%s'",
                   cn->name);
        if (npos > 1 && cn->params[0].positional)
          diag_note_plain(k->d, "'%s' takes one positional argument, the %s; "
                          "name the others", cn->name, cn->params[0].name);
        else if (cn->params[0].name)
          diag_help(k->d, "name it, as in %s: ...", cn->params[0].name);
        continue;
      }
    }
    if (given[pi]) {
      diag_error(k->d, a->loc, "'%s' is given twice", p->name);
      continue;
    }
    given[pi] = a;
    if (!(p->where & where)) {
      diag_error(k->d, a->loc, "'%s' is only for %s", p->name,
                 p->where == WHERE_SOURCE ? "sources" : "sinks");
      continue;
    }
    Node *v = a->kind == ND_NAMED_ARG ? a->a : a;
    switch (p->type) {
    case 'F':
      s->format = check_format(k, v, s);
      break;
    case 'K': {
      /* Field names, checked against the sink's type when it is known. */
      bool ok = v->kind == ND_NAME || v->kind == ND_STRING;
      if (v->kind == ND_LIST) {
        ok = v->list.len > 0;
        for (int j = 0; j < v->list.len; j++) {
          NodeKind kk = v->list.items[j]->kind;
          ok = ok && (kk == ND_NAME || kk == ND_STRING);
        }
      }
      if (!ok)
        diag_error(k->d, v->loc, "key: names fields of the records written, "
                   "as in key: id or key: [id, day]");
      break;
    }
    default: {
      Type *want = p->type == 's'   ? &ty_string
                   : p->type == 'b' ? &ty_bool
                                    : &ty_int;
      Type *t = expr(k, v, NULL);
      const char *what = arena_printf(k->a, "%s:", p->name);
      expect_type(k, v, t, want, what);
      if (strcmp(p->name, "qos") == 0 &&
          ((v->kind == ND_INT && v->ival > 1) || is_negative_literal(v)))
        diag_error(k->d, v->loc, "qos must be 0 or 1");
      break;
    }
    }
  }
  for (int j = 0; cn->params[j].name; j++)
    if (cn->params[j].required && (cn->params[j].where & where) &&
        !given[j]) {
      diag_error(k->d, call->loc, "'%s' needs %s%s", cn->name,
                 cn->params[j].positional ? "a " : "",
                 cn->params[j].positional
                     ? cn->params[j].name
                     : arena_printf(k->a, "'%s:'", cn->params[j].name));
    }
  bool fmt_given = false;
  for (int j = 0; cn->params[j].name; j++)
    if (cn->params[j].type == 'F' && given[j])
      fmt_given = true;
  if (!s->format && !fmt_given && cn->default_fmt)
    s->format = INTERN(k, cn->default_fmt);
  if (!s->format && strcmp(cn->name, "file") == 0 && given[0]) {
    Node *path = given[0]->kind == ND_NAMED_ARG ? given[0]->a : given[0];
    const char *f = format_from_path(path);
    if (f) {
      s->format = INTERN(k, f);
      const char *dot = strrchr(path->sval, '.');
      if (dot && strcmp(dot, ".tsv") == 0)
        s->csv_delim = '\t';
    } else {
      diag_error(k->d, call->loc, "the format of this file is not known");
      diag_help(k->d, "add format: csv, format: json or format: lines");
    }
  }
}

/* A field type that CSV and SQLite can hold: a scalar or optional one. */
static bool is_flat_field(const Type *t) {
  if (t->kind == TY_OPTIONAL)
    t = t->elem;
  return type_is_scalar(t);
}

static bool has_list(const Type *t) {
  if (t->kind == TY_LIST)
    return true;
  if (t->kind == TY_OPTIONAL)
    return has_list(t->elem);
  if (t->kind == TY_RECORD)
    for (int i = 0; i < t->nfields; i++)
      if (has_list(t->fields[i].type))
        return true;
  return false;
}

/* Does [t] fit [s]'s format? [where] is the source or the pipeline that
 * fixed the type, for the error's caret. */
static void check_format_fits(Checker *k, Symbol *s, Type *t, Loc where) {
  if (is_error(t) || !s->format)
    return;
  const char *role = s->kind == SYM_SOURCE ? "source" : "sink";
  const char *f = s->format;
  if (strcmp(f, "lines") == 0) {
    if (t->kind != TY_STRING) {
      diag_error(k->d, where, "%s '%s' has format lines, so it %s string, "
                 "not %s", role, s->name,
                 s->kind == SYM_SOURCE ? "must be" : "takes", tstr(k, t));
      if (s->kind == SYM_SOURCE)
        diag_help(k->d, "declare it as: source %s: string = ...", s->name);
      else
        diag_help(k->d, "map each record to a string first, or use format: "
                        "json");
    }
    return;
  }
  if (strcmp(f, "console") == 0)
    return;
  if (t->kind != TY_RECORD) {
    diag_error(k->d, where, "%s '%s' has format %s, which needs records, not "
               "%s", role, s->name, f, tstr(k, t));
    if (t->kind == TY_STRING)
      diag_help(k->d, "use format: lines for plain text");
    return;
  }
  if (strcmp(f, "csv") == 0 || strcmp(f, "sqlite") == 0) {
    for (int i = 0; i < t->nfields; i++)
      if (!is_flat_field(t->fields[i].type)) {
        diag_error(k->d, where, "%s '%s' (%s) cannot hold the %s field "
                   "'%s' of type %s", role, s->name,
                   strcmp(f, "csv") == 0 ? "CSV" : "SQLite",
                   t->fields[i].type->kind == TY_RECORD ? "nested record"
                                                         : "non-scalar",
                   t->fields[i].name, tstr(k, t->fields[i].type));
        if (s->kind == SYM_SINK)
          diag_help(k->d, "flatten it with a map, as in map(r => { %s: "
                    "r.%s.%s, ... }), or use format: json",
                    t->fields[i].type->kind == TY_RECORD &&
                            t->fields[i].type->nfields
                        ? t->fields[i].type->fields[0].name
                        : "x",
                    t->fields[i].name,
                    t->fields[i].type->kind == TY_RECORD &&
                            t->fields[i].type->nfields
                        ? t->fields[i].type->fields[0].name
                        : "x");
        else
          diag_help(k->d, "CSV columns are scalars; use format: json for "
                    "nested records");
        return;
      }
  } else if (has_list(t)) {
    diag_error(k->d, where, "%s '%s' cannot hold lists", role, s->name);
  }
}

/* Fields named by key: of a sink must exist in what it receives; those
 * of a (kafka) source, in what it reads. */
static void check_conn_keys(Checker *k, Symbol *s) {
  Type *t = s->kind == SYM_SOURCE ? s->type : s->sink_type;
  const char *what = s->kind == SYM_SOURCE ? "source" : "sink";
  const char *verb = s->kind == SYM_SOURCE ? "reads" : "writes";
  if (!s->conn || !t || is_error(t))
    return;
  for (int i = 0; i < s->conn->list.len; i++) {
    Node *a = s->conn->list.items[i];
    if (a->kind != ND_NAMED_ARG || strcmp(a->name, "key") != 0)
      continue;
    Node *v = a->a;
    int n = v->kind == ND_LIST ? v->list.len : 1;
    for (int j = 0; j < n; j++) {
      Node *f = v->kind == ND_LIST ? v->list.items[j] : v;
      const char *name = f->kind == ND_NAME     ? f->name
                         : f->kind == ND_STRING ? INTERN(k, f->sval)
                                                : NULL;
      if (!name)
        continue;
      if (t->kind != TY_RECORD || !type_field(t, name)) {
        diag_error(k->d, f->loc, "%s '%s' %s %s, which has no field '%s'",
                   what, s->name, verb, tstr(k, t), name);
        Suggest sg = {name, NULL, 99};
        for (int m = 0; t->kind == TY_RECORD && m < t->nfields; m++)
          suggest_try(&sg, t->fields[m].name);
        suggest_help(k, &sg);
      }
    }
  }
}

/* ---- stream operators ---------------------------------------------------- */

/* Argument binding for operators: positional first, then by name. */
typedef struct OpArg {
  const char *name; /* parameter name; also the allowed named form */
  bool required;    /* must be given */
} OpArg;

static bool bind_args(Checker *k, Node *call, const OpArg *spec, int n,
                      Node **out) {
  bool ok = true;
  int pos = 0;
  for (int i = 0; i < n; i++)
    out[i] = NULL;
  for (int i = 0; i < call->list.len; i++) {
    Node *a = call->list.items[i];
    if (a->kind == ND_NAMED_ARG) {
      int j = 0;
      while (j < n && strcmp(spec[j].name, a->name) != 0)
        j++;
      if (j == n) {
        diag_error(k->d, a->name_loc, "'%s' has no parameter '%s'",
                   call->name, a->name);
        Suggest sg = {a->name, NULL, 99};
        for (int m = 0; m < n; m++)
          suggest_try(&sg, INTERN(k, spec[m].name));
        suggest_help(k, &sg);
        ok = false;
        continue;
      }
      if (out[j]) {
        diag_error(k->d, a->loc, "'%s' is given twice", a->name);
        ok = false;
        continue;
      }
      out[j] = a->a;
    } else {
      if (pos >= n) {
        diag_error(k->d, a->loc, "'%s' takes at most %d argument%s",
                   call->name, n, n == 1 ? "" : "s");
        ok = false;
        continue;
      }
      if (out[pos]) {
        diag_error(k->d, a->loc, "'%s' is given twice", spec[pos].name);
        ok = false;
        continue;
      }
      out[pos++] = a;
    }
  }
  for (int j = 0; j < n; j++)
    if (spec[j].required && !out[j]) {
      diag_error(k->d, call->loc, "'%s' needs %s", call->name,
                 j == 0 && call->list.len == 0
                     ? "an argument"
                     : arena_printf(k->a, "'%s:'", spec[j].name));
      ok = false;
    }
  return ok;
}

/* Checks a function argument of arity [np] over [params]; returns the type
 * of its body. A lambda, or the name of a user fn. */
static Type *check_fn_arg(Checker *k, Node *f, Type **params, int np,
                          const char *what) {
  if (f->kind == ND_NAME) {
    Symbol *s = symtab_get(&k->values, f->name);
    if (s && s->kind == SYM_FN) {
      s->used = true;
      f->sym = s;
      resolve_fn(k, s);
      Node *d = s->decl;
      if (d->list.len != np) {
        diag_error(k->d, f->loc, "%s takes a function of %d argument%s; "
                   "'%s' takes %d", what, np, np == 1 ? "" : "s", f->name,
                   d->list.len);
        return &ty_error;
      }
      for (int i = 0; i < np; i++)
        if (!type_assignable(params[i], d->list.items[i]->type)) {
          diag_error(k->d, f->loc, "%s passes %s to '%s', whose parameter "
                     "'%s' is %s", what, tstr(k, params[i]), f->name,
                     d->list.items[i]->name,
                     tstr(k, d->list.items[i]->type));
          return &ty_error;
        }
      f->type = s->type ? s->type : &ty_error;
      return f->type;
    }
  }
  if (f->kind != ND_LAMBDA) {
    diag_error(k->d, f->loc, "%s takes a function, such as %s", what,
               np == 1 ? "x => x.field" : "(a, b) => ...");
    return &ty_error;
  }
  if (f->list.len != np) {
    diag_error(k->d, f->loc, "%s takes a function of %d argument%s, this "
               "one has %d", what, np, np == 1 ? "" : "s", f->list.len);
    return &ty_error;
  }
  Local *env = NULL;
  for (int i = 0; i < np; i++) {
    Node *p = f->list.items[i];
    for (Local *l = env; l; l = l->next)
      if (l->name == p->name) {
        diag_error(k->d, p->loc, "duplicate parameter '%s'", p->name);
        return &ty_error;
      }
    p->type = params[i];
    Local *l = arena_alloc(k->a, sizeof *l);
    *l = (Local){p->name, params[i], p, env};
    env = l;
  }
  /* The lambda's own parameters come first; older scopes are irrelevant
   * because operator arguments are only checked at top level. */
  Type *t = expr(k, f->b, env);
  f->type = t;
  return t;
}

/* A constant duration argument (lateness:, within:, window sizes). */
/* 90000 -> "90s", 250 -> "250ms": as a user would write it. */
static const char *fmt_duration(Checker *k, uint64_t ms) {
  static const struct {
    const char *u;
    uint64_t ms;
  } units[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}};
  for (size_t i = 0; i < 4; i++)
    if (ms && ms % units[i].ms == 0)
      return arena_printf(k->a, "%llu%s", (unsigned long long)(ms / units[i].ms),
                          units[i].u);
  return arena_printf(k->a, "%llums", (unsigned long long)ms);
}

static bool check_duration_arg(Checker *k, Node *v, const char *what,
                               bool positive) {
  Type *t = expr(k, v, NULL);
  if (is_error(t))
    return false;
  if (t->kind != TY_DURATION) {
    diag_error(k->d, v->loc, "%s must be a duration, got %s", what,
               tstr(k, t));
    if (t->kind == TY_INT)
      diag_help(k->d, "write it with a unit, as in 10s or 250ms");
    return false;
  }
  if (v->kind == ND_DURATION && positive && v->ival == 0) {
    diag_error(k->d, v->loc, "%s must be longer than 0ms", what);
    return false;
  }
  if (is_negative_literal(v)) {
    diag_error(k->d, v->loc, "%s cannot be negative", what);
    return false;
  }
  return true;
}

static bool key_type_ok(const Type *t, int depth) {
  switch (t->kind) {
  case TY_INT:
  case TY_STRING:
  case TY_BOOL:
  case TY_TIMESTAMP:
    return true;
  case TY_RECORD:
    if (depth > 0 || t->nfields == 0)
      return false;
    for (int i = 0; i < t->nfields; i++)
      if (!key_type_ok(t->fields[i].type, depth + 1))
        return false;
    return true;
  default:
    return false;
  }
}

static void key_type_help(Checker *k, const Type *t) {
  if (t->kind == TY_FLOAT)
    diag_help(k->d, "floats make poor keys (0.1 + 0.2 != 0.3): round them "
                    "with int(...) or format them with to_string(...)");
  else if (t->kind == TY_DURATION)
    diag_help(k->d, "use int(d) to key by milliseconds");
  else if (t->kind == TY_OPTIONAL)
    diag_help(k->d, "give the key a default with 'x ?? default'");
  else
    diag_help(k->d, "a key is an int, string, bool or timestamp, or a record "
                    "of them, as in { a: x.a, b: x.b }");
}

static Type *stream_like(Checker *k, Type *in) {
  Type *t = arena_alloc(k->a, sizeof *t);
  *t = *in;
  return t;
}

/* Describes the previous stage for messages: "stage 2 'map'". */
static const char *stage_desc(Checker *k, Chain *ch) {
  int n = ch->stages.len;
  Stage *st = ch->stages.items[n - 1];
  return arena_printf(k->a, "stage %d ('%s')", n, st->label);
}

static void require_not_windowed(Checker *k, Node *call, Type *in,
                                 Chain *ch, bool *ok) {
  if (in->shape != SHAPE_WINDOWED)
    return;
  diag_error(k->d, call->name_loc, "'%s' cannot take a windowed stream; "
             "%s gives %s", call->name, stage_desc(k, ch), tstr(k, in));
  diag_help(k->d, "finish the window with aggregate(...), reduce(...) or "
                  "fold(...) first");
  *ok = false;
}

static Type *window_output(Checker *k, Type *in, Field *extra, int nextra) {
  int n = (in->key ? 1 : 0) + (in->shape == SHAPE_WINDOWED ? 2 : 0) + nextra;
  Field *f = arena_alloc(k->a, (size_t)(n ? n : 1) * sizeof *f);
  int i = 0;
  if (in->key)
    f[i++] = (Field){INTERN(k, "key"), in->key, in->key_loc};
  if (in->shape == SHAPE_WINDOWED) {
    f[i++] = (Field){INTERN(k, "start"), &ty_timestamp, {0, 0}};
    f[i++] = (Field){INTERN(k, "end"), &ty_timestamp, {0, 0}};
  }
  for (int j = 0; j < nextra; j++)
    f[i++] = extra[j];
  return type_record(k->a, NULL, f, n);
}

static Type *op_aggregate(Checker *k, Node *call, Type *in, Chain *ch) {
  Type *T = in->elem;
  int n = call->list.len;
  Field *fields = arena_alloc(k->a, (size_t)(n ? n : 1) * sizeof *fields);
  int nf = 0;
  bool ok = true;
  if (n == 0) {
    diag_error(k->d, call->loc, "'aggregate' needs at least one aggregate, "
               "as in aggregate(n: count())");
    return &ty_error;
  }
  for (int i = 0; i < n; i++) {
    Node *a = call->list.items[i];
    if (a->kind != ND_NAMED_ARG) {
      diag_error(k->d, a->loc, "each aggregate needs a name, as in "
                 "total: sum(x => x.price)");
      ok = false;
      continue;
    }
    bool reserved = (in->key && strcmp(a->name, "key") == 0) ||
                    (in->shape == SHAPE_WINDOWED &&
                     (strcmp(a->name, "start") == 0 ||
                      strcmp(a->name, "end") == 0));
    if (reserved) {
      diag_error(k->d, a->name_loc, "'%s' is a field of every aggregate "
                 "result; choose another name", a->name);
      ok = false;
      continue;
    }
    for (int j = 0; j < nf; j++)
      if (fields[j].name == a->name) {
        diag_error(k->d, a->name_loc, "duplicate aggregate '%s'", a->name);
        ok = false;
      }
    Node *v = a->a;
    static const char *const aggs[] = {"count", "sum",  "min",  "max",
                                       "avg",   "first", "last",
                                       "count_distinct", NULL};
    int which = -1;
    if (v->kind == ND_CALL)
      for (int j = 0; aggs[j]; j++)
        if (strcmp(aggs[j], v->name) == 0)
          which = j;
    if (which < 0) {
      diag_error(k->d, v->loc, "'%s' must be an aggregate: count(), sum(f), "
                 "min(f), max(f), avg(f), first(f), last(f) or "
                 "count_distinct(f)", a->name);
      if (v->kind == ND_CALL) {
        Suggest sg = {v->name, NULL, 99};
        for (int j = 0; aggs[j]; j++)
          suggest_try(&sg, INTERN(k, aggs[j]));
        suggest_help(k, &sg);
      }
      ok = false;
      continue;
    }
    v->ival = (uint64_t)which;
    Type *rt = &ty_error;
    if (which == 0) {
      if (v->list.len != 0) {
        diag_error(k->d, v->loc, "count() takes no arguments");
        ok = false;
        continue;
      }
      rt = &ty_int;
    } else {
      if (v->list.len != 1) {
        diag_error(k->d, v->loc, "%s takes one function, as in %s(x => "
                   "x.price)", v->name, v->name);
        ok = false;
        continue;
      }
      Type *ft = check_fn_arg(k, v->list.items[0], &T, 1,
                              arena_printf(k->a, "'%s'", v->name));
      if (is_error(ft)) {
        ok = false;
        continue;
      }
      bool good = true;
      switch (which) {
      case 1: /* sum */
        good = ft->kind == TY_INT || ft->kind == TY_FLOAT ||
               ft->kind == TY_DURATION;
        rt = ft;
        break;
      case 2:
      case 3: /* min, max */
        good = is_ordered(ft);
        rt = ft;
        break;
      case 4: /* avg */
        good = ft->kind == TY_INT || ft->kind == TY_FLOAT;
        rt = &ty_float;
        break;
      case 5:
      case 6: /* first, last */
        good = ft->kind != TY_LIST && ft->kind != TY_NONE;
        rt = ft;
        break;
      case 7: /* count_distinct */
        good = key_type_ok(ft, 0) || ft->kind == TY_FLOAT ||
               ft->kind == TY_DURATION;
        rt = &ty_int;
        break;
      }
      if (!good) {
        diag_error(k->d, v->list.items[0]->loc, "%s cannot aggregate %s",
                   v->name, tstr(k, ft));
        if (ft->kind == TY_OPTIONAL)
          diag_help(k->d, "give it a default with 'x ?? default'");
        else if (which == 1 || which == 4)
          diag_help(k->d, "%s takes %s", v->name,
                    which == 1 ? "int, float or duration" : "int or float");
        ok = false;
        continue;
      }
    }
    fields[nf++] = (Field){a->name, rt, a->name_loc};
  }
  if (!ok)
    return &ty_error;
  Type *out = stream_like(k, in);
  out->elem = window_output(k, in, fields, nf);
  out->shape = SHAPE_PLAIN;
  out->key = NULL;
  out->window = NULL;
  (void)ch;
  return out;
}

static Type *op_window(Checker *k, Node *call, Type *in, Chain *ch) {
  static const OpArg spec[] = {{"window", true}, {"late", false}};
  Node *args[2];
  bool ok = true;
  require_not_windowed(k, call, in, ch, &ok);
  if (!bind_args(k, call, spec, 2, args) || !ok)
    return &ty_error;
  Node *w = args[0];
  WindowSpec *ws = arena_alloc(k->a, sizeof *ws);
  static const char *const kinds[] = {"tumbling", "sliding", "session",
                                      "count", NULL};
  int which = -1;
  if (w->kind == ND_CALL)
    for (int i = 0; kinds[i]; i++)
      if (strcmp(kinds[i], w->name) == 0)
        which = i;
  if (which < 0) {
    diag_error(k->d, w->loc, "expected a window: tumbling(d), sliding(d, "
               "every: s), session(gap: g) or count(n)");
    if (w->kind == ND_CALL) {
      Suggest sg = {w->name, NULL, 99};
      for (int i = 0; kinds[i]; i++)
        suggest_try(&sg, INTERN(k, kinds[i]));
      suggest_help(k, &sg);
    }
    return &ty_error;
  }
  ws->kind = (WindowKind)which;
  Node *wa[2];
  switch (ws->kind) {
  case WIN_TUMBLING: {
    static const OpArg s[] = {{"size", true}};
    if (!bind_args(k, w, s, 1, wa) ||
        !check_duration_arg(k, wa[0], "the window size", true))
      return &ty_error;
    ws->size = wa[0];
    break;
  }
  case WIN_SLIDING: {
    static const OpArg s[] = {{"size", true}, {"every", true}};
    if (!bind_args(k, w, s, 2, wa) ||
        !check_duration_arg(k, wa[0], "the window size", true) ||
        !check_duration_arg(k, wa[1], "every:", true))
      return &ty_error;
    ws->size = wa[0];
    ws->every = wa[1];
    if (wa[0]->kind == ND_DURATION && wa[1]->kind == ND_DURATION &&
        wa[1]->ival > wa[0]->ival)
      diag_warning(k->d, wa[1]->loc, "windows start every %s but last "
                   "only %s: records between them belong to no window",
                   fmt_duration(k, wa[1]->ival), fmt_duration(k, wa[0]->ival));
    break;
  }
  case WIN_SESSION: {
    static const OpArg s[] = {{"gap", true}};
    if (!bind_args(k, w, s, 1, wa) ||
        !check_duration_arg(k, wa[0], "the session gap", true))
      return &ty_error;
    ws->size = wa[0];
    break;
  }
  case WIN_COUNT: {
    static const OpArg s[] = {{"n", true}, {"every", false}};
    if (!bind_args(k, w, s, 2, wa))
      return &ty_error;
    for (int i = 0; i < 2; i++) {
      if (!wa[i])
        continue;
      Type *t = expr(k, wa[i], NULL);
      if (is_error(t))
        return &ty_error;
      if (t->kind != TY_INT) {
        diag_error(k->d, wa[i]->loc, "%s must be an int, got %s",
                   i ? "every:" : "the count", tstr(k, t));
        return &ty_error;
      }
      if ((wa[i]->kind == ND_INT && wa[i]->ival == 0) ||
          is_negative_literal(wa[i])) {
        diag_error(k->d, wa[i]->loc, "%s must be at least 1",
                   i ? "every:" : "the count");
        return &ty_error;
      }
    }
    if (wa[1] && wa[0]->kind == ND_INT && wa[1]->kind == ND_INT &&
        wa[1]->ival > wa[0]->ival)
      diag_warning(k->d, wa[1]->loc, "windows start every %llu records but "
                   "hold only %llu: records between them belong to no "
                   "window", (unsigned long long)wa[1]->ival,
                   (unsigned long long)wa[0]->ival);
    ws->size = wa[0];
    ws->every = wa[1];
    break;
  }
  }
  if (args[1]) {
    Node *l = args[1];
    Symbol *s = l->kind == ND_NAME ? symtab_get(&k->values, l->name) : NULL;
    if (!s || s->kind != SYM_SINK) {
      diag_error(k->d, l->loc, "late: takes the name of a sink");
      if (l->kind == ND_NAME && !s) {
        Suggest sg = {l->name, NULL, 99};
        for (int i = 0; i < k->symbols.len; i++) {
          Symbol *o = k->symbols.items[i];
          if (o->kind == SYM_SINK)
            suggest_try(&sg, o->name);
        }
        suggest_help(k, &sg);
      }
      return &ty_error;
    }
    s->used = true;
    l->sym = s;
    if (!in->event_time)
      diag_warning(k->d, l->loc, "no record is ever late without "
                   "event_time(...): this late: sink receives nothing");
    else if (ws->kind == WIN_COUNT)
      diag_warning(k->d, l->loc, "count windows close by count, so no "
                   "record is ever late");
    /* The late sink receives the window's input records. */
    if (!s->sink_type) {
      s->sink_type = in->elem;
      s->sink_first = l->loc;
      s->sink_is_late = true;
    } else if (!is_error(s->sink_type) &&
               !type_equal(s->sink_type, in->elem)) {
      diag_error(k->d, l->loc, "late sink '%s' would receive %s, but it "
                 "already receives %s", s->name, tstr(k, in->elem),
                 tstr(k, s->sink_type));
      diag_note(k->d, s->sink_first, "'%s' gets %s here", s->name,
                tstr(k, s->sink_type));
      return &ty_error;
    }
  }
  Type *out = stream_like(k, in);
  out->shape = SHAPE_WINDOWED;
  out->window = ws;
  return out;
}

static bool need_keyed_or_windowed(Checker *k, Node *call, Type *in,
                                   Chain *ch) {
  if (in->shape != SHAPE_PLAIN)
    return true;
  diag_error(k->d, call->name_loc, "'%s' needs a keyed or windowed stream; "
             "%s gives %s", call->name, stage_desc(k, ch), tstr(k, in));
  if (in->lost_key_loc.len) {
    diag_note(k->d, in->lost_key_loc, "the key is dropped here: map, "
              "flat_map and merge give a plain stream");
    diag_help(k->d, "key the stream again with key_by(...) after it");
  } else {
    diag_help(k->d, "key it with key_by(x => ...) or window it with "
                    "window(...) first");
  }
  return false;
}

/* One operator stage: returns the output stream type. */
static Type *apply_operator(Checker *k, Node *call, Type *in, Chain *ch) {
  const char *op = call->name;
  Type *T = in->elem;
  bool ok = true;
  if (strcmp(op, "map") == 0 || strcmp(op, "flat_map") == 0) {
    bool flat = op[0] == 'f';
    static const OpArg spec[] = {{"f", true}};
    Node *a[1];
    require_not_windowed(k, call, in, ch, &ok);
    if (!bind_args(k, call, spec, 1, a) || !ok)
      return &ty_error;
    Type *r = check_fn_arg(k, a[0], &T, 1, arena_printf(k->a, "'%s'", op));
    if (is_error(r))
      return r;
    Type *elem = r;
    if (flat) {
      if (r->kind != TY_LIST) {
        diag_error(k->d, a[0]->loc, "'flat_map' needs a function returning a "
                   "list, got %s", tstr(k, r));
        diag_help(k->d, "return [x] for one record, [] for none; for one "
                        "record each, use map");
        return &ty_error;
      }
      elem = r->elem;
      if (!elem) {
        diag_error(k->d, a[0]->loc, "'flat_map' always returns an empty "
                   "list, so its item type cannot be known");
        return &ty_error;
      }
    } else if (r->kind == TY_LIST) {
      diag_error(k->d, a[0]->loc, "'map' returns %s; a stream cannot carry "
                 "lists", tstr(k, r));
      diag_help(k->d, "use flat_map to emit one record per list item");
      return &ty_error;
    }
    if (elem->kind == TY_NONE) {
      diag_error(k->d, a[0]->loc, "'%s' returns none, which carries no type",
                 op);
      return &ty_error;
    }
    if (report_unknown_none(k, a[0]->loc, elem))
      return &ty_error;
    Type *out = stream_like(k, in);
    out->elem = elem;
    out->shape = SHAPE_PLAIN;
    if (in->key) {
      out->lost_key_loc = call->name_loc;
      out->key = NULL;
    }
    return out;
  }
  if (strcmp(op, "filter") == 0) {
    static const OpArg spec[] = {{"f", true}};
    Node *a[1];
    require_not_windowed(k, call, in, ch, &ok);
    if (!bind_args(k, call, spec, 1, a) || !ok)
      return &ty_error;
    Type *r = check_fn_arg(k, a[0], &T, 1, "'filter'");
    if (is_error(r))
      return r;
    if (r->kind != TY_BOOL) {
      Node *body = a[0]->kind == ND_LAMBDA ? a[0]->b : a[0];
      diag_error(k->d, body->loc, "'filter' needs a function returning bool, "
                 "got %s", tstr(k, r));
      if (r->kind == TY_INT)
        diag_help(k->d, "compare it, as in ... == 0");
      else if (r->kind == TY_OPTIONAL)
        diag_help(k->d, "test it with x != none, or give a default with ??");
      return &ty_error;
    }
    return in;
  }
  if (strcmp(op, "key_by") == 0) {
    static const OpArg spec[] = {{"f", true}};
    Node *a[1];
    require_not_windowed(k, call, in, ch, &ok);
    if (!bind_args(k, call, spec, 1, a) || !ok)
      return &ty_error;
    Type *r = check_fn_arg(k, a[0], &T, 1, "'key_by'");
    if (is_error(r))
      return r;
    if (!key_type_ok(r, 0)) {
      Node *body = a[0]->kind == ND_LAMBDA ? a[0]->b : a[0];
      diag_error(k->d, body->loc, "%s cannot be a key", tstr(k, r));
      key_type_help(k, r);
      return &ty_error;
    }
    Type *out = stream_like(k, in);
    out->shape = SHAPE_KEYED;
    out->key = r;
    out->key_loc = call->loc;
    out->lost_key_loc = (Loc){0, 0};
    return out;
  }
  if (strcmp(op, "event_time") == 0) {
    static const OpArg spec[] = {{"f", true}, {"lateness", false}};
    Node *a[2];
    require_not_windowed(k, call, in, ch, &ok);
    if (!bind_args(k, call, spec, 2, a) || !ok)
      return &ty_error;
    Type *r = check_fn_arg(k, a[0], &T, 1, "'event_time'");
    if (is_error(r))
      return r;
    if (r->kind != TY_TIMESTAMP) {
      Node *body = a[0]->kind == ND_LAMBDA ? a[0]->b : a[0];
      diag_error(k->d, body->loc, "'event_time' needs a function returning "
                 "timestamp, got %s", tstr(k, r));
      if (r->kind == TY_INT)
        diag_help(k->d, "timestamp(x) reads an int as epoch milliseconds");
      else if (r->kind == TY_STRING)
        diag_help(k->d, "declare the field as timestamp in the source type: "
                        "RFC 3339 text and epoch milliseconds both read");
      else if (r->kind == TY_OPTIONAL)
        diag_help(k->d, "give it a default with ??");
      return &ty_error;
    }
    if (a[1] && !check_duration_arg(k, a[1], "lateness:", false))
      return &ty_error;
    Type *out = stream_like(k, in);
    out->event_time = true;
    return out;
  }
  if (strcmp(op, "window") == 0)
    return op_window(k, call, in, ch);
  if (strcmp(op, "aggregate") == 0) {
    if (!need_keyed_or_windowed(k, call, in, ch))
      return &ty_error;
    return op_aggregate(k, call, in, ch);
  }
  if (strcmp(op, "reduce") == 0 || strcmp(op, "fold") == 0) {
    bool fold = op[0] == 'f';
    if (!need_keyed_or_windowed(k, call, in, ch))
      return &ty_error;
    Node *a[2];
    static const OpArg rspec[] = {{"f", true}};
    static const OpArg fspec[] = {{"init", true}, {"f", true}};
    if (!bind_args(k, call, fold ? fspec : rspec, fold ? 2 : 1, a))
      return &ty_error;
    Type *acc = T;
    Node *fn = a[0];
    if (fold) {
      acc = expr(k, a[0], NULL);
      if (is_error(acc))
        return acc;
      if (acc->kind == TY_NONE || (acc->kind == TY_LIST)) {
        diag_error(k->d, a[0]->loc, "the accumulator's type cannot be known "
                   "from %s", acc->kind == TY_NONE ? "none" : "a list");
        return &ty_error;
      }
      if (report_unknown_none(k, a[0]->loc, acc))
        return &ty_error;
      fn = a[1];
    }
    Type *ps[2] = {acc, T};
    Type *r = check_fn_arg(k, fn, ps, 2, arena_printf(k->a, "'%s'", op));
    if (is_error(r))
      return r;
    if (!type_assignable(r, acc)) {
      Node *body = fn->kind == ND_LAMBDA ? fn->b : fn;
      diag_error(k->d, body->loc, "'%s' needs a function returning %s (the "
                 "%s), got %s", op, tstr(k, acc),
                 fold ? "accumulator's type, from init" : "record type",
                 tstr(k, r));
      mismatch_hint(k, r, acc);
      return &ty_error;
    }
    Type *out = stream_like(k, in);
    if (in->shape == SHAPE_WINDOWED) {
      Field v = {INTERN(k, "value"), acc, call->loc};
      out->elem = window_output(k, in, &v, 1);
    } else {
      out->elem = acc;
    }
    out->shape = SHAPE_PLAIN;
    out->key = NULL;
    out->window = NULL;
    return out;
  }
  if (strcmp(op, "dedupe") == 0) {
    static const OpArg spec[] = {{"f", true}, {"within", true}};
    Node *a[2];
    require_not_windowed(k, call, in, ch, &ok);
    if (!bind_args(k, call, spec, 2, a) || !ok)
      return &ty_error;
    Type *r = check_fn_arg(k, a[0], &T, 1, "'dedupe'");
    if (is_error(r))
      return r;
    if (!key_type_ok(r, 0)) {
      Node *body = a[0]->kind == ND_LAMBDA ? a[0]->b : a[0];
      diag_error(k->d, body->loc, "%s cannot be a dedupe key", tstr(k, r));
      key_type_help(k, r);
      return &ty_error;
    }
    if (!check_duration_arg(k, a[1], "within:", true))
      return &ty_error;
    return in;
  }
  return NULL; /* not an operator */
}

/* merge(s1, s2, ...) with [first] already checked (a |> merge(b)). */
static Type *op_merge(Checker *k, Node *call, Type *first, Chain *ch) {
  Type *res = first;
  Node *res_node = NULL;
  bool ok = true;
  int n = call->list.len + (first ? 1 : 0);
  if (n < 2) {
    diag_error(k->d, call->loc, "'merge' needs at least two streams");
    for (int i = 0; i < call->list.len; i++) {
      Node *a = call->list.items[i];
      Symbol *s = a->kind == ND_NAME ? symtab_get(&k->values, a->name) : NULL;
      if (s)
        s->used = true;
    }
    return &ty_error;
  }
  for (int i = 0; i < call->list.len; i++) {
    Node *a = call->list.items[i];
    if (a->kind == ND_NAMED_ARG) {
      diag_error(k->d, a->loc, "'merge' takes streams, not named arguments");
      ok = false;
      continue;
    }
    if (!is_stream_expr(k, a)) {
      diag_error(k->d, a->loc, "'merge' takes streams: sources, named "
                 "streams or pipelines");
      ok = false;
      continue;
    }
    Chain sub = {0};
    bool sunk = false;
    Type *t = check_stream(k, a, &sub, &sunk);
    if (sunk) {
      diag_error(k->d, a->loc, "a stream given to merge cannot end in a "
                 "sink");
      ok = false;
      continue;
    }
    if (is_error(t)) {
      ok = false;
      continue;
    }
    if (t->shape == SHAPE_WINDOWED) {
      diag_error(k->d, a->loc, "'merge' cannot take a windowed stream");
      ok = false;
      continue;
    }
    if (!res) {
      res = t;
      res_node = a;
      continue;
    }
    if (!type_equal(res->elem, t->elem)) {
      diag_error(k->d, a->loc, "'merge' needs streams of one type: this one "
                 "carries %s, the first %s", tstr(k, t->elem),
                 tstr(k, res->elem));
      if (res_node)
        diag_note(k->d, res_node->loc, "the first stream is here");
      ok = false;
      continue;
    }
    if (res->event_time != t->event_time) {
      diag_error(k->d, a->loc, "'merge' cannot mix event time and processing "
                 "time: this stream %s event_time(...), the first %s",
                 t->event_time ? "has" : "has no",
                 res->event_time ? "has" : "has not");
      diag_help(k->d, "apply event_time(...) to every merged stream, or to "
                      "the merged stream");
      ok = false;
    }
  }
  (void)ch;
  if (!ok || !res)
    return &ty_error;
  Type *out = stream_like(k, res);
  if (res->key || (first && first->key))
    out->lost_key_loc = call->name_loc;
  out->shape = SHAPE_PLAIN;
  out->key = NULL;
  return out;
}

static void push_stage(Checker *k, Chain *ch, Node *n, const char *label,
                       Type *t) {
  Stage *st = arena_alloc(k->a, sizeof *st);
  st->node = n;
  st->label = label;
  st->type = t;
  vec_push(k->a, &ch->stages, st);
}

/* True if [e] is written as a stream: a source or stream let, a pipe, or
 * a merge. Resolves lets as needed. */
static bool is_stream_expr(Checker *k, Node *e) {
  if (e->kind == ND_PIPE)
    return true;
  if (e->kind == ND_CALL && strcmp(e->name, "merge") == 0 &&
      !symtab_get(&k->values, e->name))
    return true;
  if (e->kind == ND_NAME) {
    Symbol *s = symtab_get(&k->values, e->name);
    if (!s)
      return false;
    if (s->kind == SYM_SOURCE || s->kind == SYM_SINK)
      return true;
    if (s->kind == SYM_LET) {
      if (s->state == 0)
        resolve_value(k, s, e->loc);
      return s->is_stream || s->state == 1;
    }
  }
  return false;
}

/* Writes stream [in] into sink [s] at stage [n]. */
static void write_sink(Checker *k, Node *n, Symbol *s, Type *in, Chain *ch) {
  s->used = true;
  n->sym = s;
  if (in->shape == SHAPE_WINDOWED) {
    diag_error(k->d, n->loc, "sink '%s' cannot take a windowed stream; %s "
               "gives %s", s->name, stage_desc(k, ch), tstr(k, in));
    diag_help(k->d, "finish the window with aggregate(...), reduce(...) or "
                    "fold(...)");
    return;
  }
  Type *t = in->elem;
  Node *d = s->decl;
  if (d->a) { /* declared: sink out: T = ... */
    Type *want = d->a->type ? d->a->type : texpr(k, d->a);
    d->a->type = want;
    if (!is_error(want) && !type_assignable(t, want)) {
      diag_error(k->d, n->loc, "sink '%s' takes %s, but %s gives %s", s->name,
                 tstr(k, want), stage_desc(k, ch), tstr(k, t));
      diag_note(k->d, d->a->loc, "'%s' declared with this type", s->name);
      return;
    }
    t = want;
  }
  if (!s->sink_type) {
    s->sink_type = t;
    s->sink_first = n->loc;
    return;
  }
  if (is_error(s->sink_type) || type_equal(s->sink_type, t))
    return;
  diag_error(k->d, n->loc, "sink '%s' receives %s here, but %s elsewhere",
             s->name, tstr(k, t), tstr(k, s->sink_type));
  diag_note(k->d, s->sink_first, "'%s' %s %s here", s->name,
            s->sink_is_late ? "receives late records of" : "receives",
            tstr(k, s->sink_type));
  if (s->sink_type->kind == TY_RECORD && t->kind == TY_RECORD)
    diag_help(k->d, "records match by field names, types and order: %s vs %s",
              type_str_full(k->a, t), type_str_full(k->a, s->sink_type));
}

/* Checks stream expression [e], appending its stages to [ch]. Returns a
 * TY_STREAM, or &ty_error; sets *sunk when [e] ends in a sink. */
static Type *check_stream_inner(Checker *k, Node *e, Chain *ch, bool *sunk);

static Type *check_stream(Checker *k, Node *e, Chain *ch, bool *sunk) {
  *sunk = false;
  if (too_deep(k, e))
    return &ty_error;
  k->depth++;
  Type *t = check_stream_inner(k, e, ch, sunk);
  k->depth--;
  return t;
}

static Type *check_stream_inner(Checker *k, Node *e, Chain *ch, bool *sunk) {
  if (e->kind == ND_NAME) {
    Symbol *s = symtab_get(&k->values, e->name);
    if (!s) {
      check_name(k, e, NULL); /* reports, with a suggestion */
      return &ty_error;
    }
    s->used = true;
    e->sym = s;
    if (s->kind == SYM_SOURCE) {
      Type *t = s->type ? s->type : &ty_error;
      if (!is_error(t)) {
        t = type_stream(k->a, t);
        push_stage(k, ch, e, s->name, t);
      }
      e->type = t;
      return t;
    }
    if (s->kind == SYM_LET) {
      Type *t = resolve_value(k, s, e->loc);
      if (is_error(t))
        return &ty_error;
      if (!s->is_stream) {
        diag_error(k->d, e->loc, "'%s' is a value, not a stream", e->name);
        return &ty_error;
      }
      if (!is_error(t))
        push_stage(k, ch, e, s->name, t);
      e->type = t;
      return t;
    }
    if (s->kind == SYM_SINK) {
      diag_error(k->d, e->loc, "'%s' is a sink; a pipeline starts from a "
                 "source or a named stream", e->name);
      return &ty_error;
    }
    diag_error(k->d, e->loc, "'%s' is a %s, not a stream", e->name,
               sym_kind_name(s->kind));
    return &ty_error;
  }
  if (e->kind == ND_CALL && strcmp(e->name, "merge") == 0) {
    Type *t = op_merge(k, e, NULL, ch);
    if (!is_error(t))
      push_stage(k, ch, e, "merge", t);
    e->type = t;
    return t;
  }
  if (e->kind != ND_PIPE) {
    diag_error(k->d, e->loc, "expected a stream: a source, a named stream "
               "or merge(...)");
    return &ty_error;
  }
  bool lsunk = false;
  Type *in = check_stream(k, e->a, ch, &lsunk);
  Node *rhs = e->b;
  if (lsunk) {
    diag_error(k->d, rhs->loc, "nothing can follow a sink in a pipeline");
    diag_help(k->d, "to send a stream to two sinks, name it with let and "
                    "start two pipelines from it");
    return &ty_error;
  }
  if (is_error(in)) {
    /* Still note which sink the broken pipeline meant to write. */
    if (rhs->kind == ND_NAME) {
      Symbol *s = symtab_get(&k->values, rhs->name);
      if (s && s->kind == SYM_SINK)
        s->used = true;
    }
    return &ty_error;
  }
  e->stage_index = ch->stages.len;
  if (rhs->kind == ND_NAME) {
    Symbol *s = symtab_get(&k->values, rhs->name);
    if (s && s->kind == SYM_SINK) {
      write_sink(k, rhs, s, in, ch);
      push_stage(k, ch, rhs, s->name, NULL);
      *sunk = true;
      return in;
    }
    if (is_operator_name(rhs->name)) {
      diag_error(k->d, rhs->loc, "'%s' needs its arguments: %s(...)",
                 rhs->name, rhs->name);
      return &ty_error;
    }
    if (s && (s->kind == SYM_SOURCE || (s->kind == SYM_LET))) {
      diag_error(k->d, rhs->loc, "'%s' is a stream, not a sink", rhs->name);
      diag_help(k->d, "to combine two streams write |> merge(%s)", rhs->name);
      return &ty_error;
    }
    diag_error(k->d, rhs->loc, "unknown sink '%s'", rhs->name);
    Suggest sg = {rhs->name, NULL, 99};
    for (int i = 0; i < k->symbols.len; i++) {
      Symbol *o = k->symbols.items[i];
      if (o->kind == SYM_SINK)
        suggest_try(&sg, o->name);
    }
    if (sg.best)
      suggest_help(k, &sg);
    else
      diag_help(k->d, "declare it, as in: sink %s = console()", rhs->name);
    return &ty_error;
  }
  if (rhs->kind != ND_CALL) {
    diag_error(k->d, rhs->loc, "expected a stream operator or a sink after "
               "'|>'");
    return &ty_error;
  }
  Type *out;
  if (strcmp(rhs->name, "merge") == 0) {
    out = op_merge(k, rhs, in, ch);
  } else {
    out = apply_operator(k, rhs, in, ch);
    if (!out) {
      Symbol *s = symtab_get(&k->values, rhs->name);
      if (s && s->kind == SYM_SINK) {
        diag_error(k->d, rhs->loc, "'%s' is a sink; write '|> %s' without "
                   "arguments", rhs->name, rhs->name);
        if (rhs->list.len && rhs->list.items[0]->loc.off > rhs->name_loc.off &&
            memchr(k->c->src->text + rhs->name_loc.off, '\n',
                   rhs->list.items[0]->loc.off - rhs->name_loc.off))
          diag_help(k->d, "a line that starts with '(' continues the line "
                          "before; end that statement with ';'");
        return &ty_error;
      }
      diag_error(k->d, rhs->name_loc, "unknown stream operator '%s'",
                 rhs->name);
      Suggest sg = {rhs->name, NULL, 99};
      for (int i = 0; stream_operators[i]; i++)
        suggest_try(&sg, INTERN(k, stream_operators[i]));
      if (sg.best)
        suggest_help(k, &sg);
      else
        diag_note_plain(k->d, "the operators are map, filter, flat_map, "
                        "key_by, event_time, window, aggregate, reduce, "
                        "fold, merge and dedupe");
      return &ty_error;
    }
  }
  rhs->type = out;
  if (!is_error(out))
    push_stage(k, ch, rhs, rhs->name, out);
  return out;
}

/* ---- whole program ------------------------------------------------------- */

static void check_source(Checker *k, Symbol *s) {
  Node *d = s->decl;
  check_connector(k, s, d->b, WHERE_SOURCE);
  Type *t = NULL;
  if (d->a) {
    t = texpr(k, d->a);
  } else if (s->format && strcmp(s->format, "lines") == 0) {
    t = &ty_string;
  } else {
    diag_error(k->d, d->name_loc, "source '%s' needs a record type", s->name);
    diag_help(k->d, "write: source %s: { field: type, ... } = ..., or name a "
                    "type declared with 'type'", s->name);
    t = &ty_error;
  }
  if (!is_error(t))
    check_format_fits(k, s, t, d->a ? d->a->loc : d->name_loc);
  s->type = t;
  s->state = 2;
}

static void check_pipeline(Checker *k, Node *item) {
  Node *e = item->a;
  if (!is_stream_expr(k, e)) {
    Type *t = expr(k, e, NULL);
    (void)t;
    if (k->d->errors == 0 || !is_error(t))
      diag_error(k->d, e->loc, "a statement must be a pipeline from a "
                 "stream to a sink");
    return;
  }
  Chain *ch = arena_alloc(k->a, sizeof *ch);
  ch->stmt = item;
  bool sunk = false;
  Type *t = check_stream(k, e, ch, &sunk);
  vec_push(k->a, &k->out->chains, ch);
  if (!sunk && !is_error(t)) {
    diag_error(k->d, e->loc, "this pipeline does not end in a sink");
    diag_help(k->d, "end it with '|> sink_name'; declare one with: sink out "
                    "= console()");
    diag_note_plain(k->d, "to name a stream for later use, write: let name "
                    "= ...");
  }
}

int check_program(Ctx *c) {
  Checker k = {0};
  k.c = c;
  k.a = &c->arena;
  k.d = &c->diag;
  k.out = arena_alloc(k.a, sizeof *k.out);
  c->checked = k.out;
  int before = c->diag.errors;

  for (int i = 0; i < builtin_count; i++) {
    const char *name = INTERN(&k, builtins[i].name);
    if (symtab_get(&k.values, name))
      continue;
    Symbol *s = arena_alloc(k.a, sizeof *s);
    s->kind = SYM_BUILTIN;
    s->name = name;
    s->builtin = i;
    s->state = 2;
    symtab_put(k.a, &k.values, s);
  }
  for (int i = 0; i < c->prog.items.len; i++)
    declare(&k, c->prog.items.items[i]);

  /* Types, params, fns and sources first; then lets and pipelines in
   * source order (lets resolve on first use). */
  for (int i = 0; i < k.symbols.len && !diag_too_many(k.d); i++) {
    Symbol *s = k.symbols.items[i];
    switch (s->kind) {
    case SYM_TYPE:
      resolve_type_decl(&k, s);
      break;
    case SYM_PARAM:
      resolve_value(&k, s, s->decl->name_loc);
      break;
    case SYM_FN:
      resolve_fn(&k, s);
      break;
    case SYM_SOURCE:
      check_source(&k, s);
      break;
    case SYM_SINK:
      check_connector(&k, s, s->decl->b, WHERE_SINK);
      if (s->decl->a) {
        s->decl->a->type = texpr(&k, s->decl->a);
        s->sink_type = s->decl->a->type;
        s->sink_first = s->decl->a->loc;
      }
      break;
    default:
      break;
    }
  }
  for (int i = 0; i < c->prog.items.len && !diag_too_many(k.d); i++) {
    Node *item = c->prog.items.items[i];
    if (item->kind == ND_LET) {
      Symbol *s = symtab_get(&k.values, item->name);
      if (s && s->decl == item)
        resolve_value(&k, s, item->name_loc);
    } else if (item->kind == ND_PIPELINE) {
      check_pipeline(&k, item);
    }
  }
  /* Sinks: format fits what they receive; unused declarations (only on a
   * program without errors: otherwise they are mostly echoes). */
  bool clean = c->diag.errors == before;
  for (int i = 0; i < k.symbols.len && !diag_too_many(k.d); i++) {
    Symbol *s = k.symbols.items[i];
    if (s->kind == SYM_SINK) {
      if (s->sink_type) {
        check_format_fits(&k, s, s->sink_type, s->sink_first);
        check_conn_keys(&k, s);
      } else if (!s->used && clean) {
        diag_warning(k.d, s->decl->name_loc, "sink '%s' is never written",
                     s->name);
      }
    } else if (s->kind == SYM_SOURCE) {
      check_conn_keys(&k, s);
      if (!s->used && clean)
        diag_warning(k.d, s->decl->name_loc, "source '%s' is never read",
                     s->name);
    } else if (s->kind == SYM_LET && s->is_stream && !s->used && clean) {
      diag_warning(k.d, s->decl->name_loc, "stream '%s' is never used",
                   s->name);
    }
  }
  k.out->symbols = k.symbols;
  return c->diag.errors - before;
}

void check_print_chains(Ctx *c, FILE *out) {
  Checked *ck = c->checked;
  if (!ck)
    return;
  for (int i = 0; i < ck->chains.len; i++) {
    Chain *ch = ck->chains.items[i];
    Node *st = ch->stmt;
    int line = source_line(c->src, st->loc.off);
    if (st->kind == ND_LET)
      fprintf(out, "%s:%d: let %s =\n", c->src->path, line, st->name);
    else
      fprintf(out, "%s:%d: pipeline\n", c->src->path, line);
    for (int j = 0; j < ch->stages.len; j++) {
      Stage *sg = ch->stages.items[j];
      const char *lab = j == 0 ? sg->label
                               : arena_printf(&c->arena, "|> %s", sg->label);
      if (!sg->type) {
        Symbol *s = sg->node->sym;
        fprintf(out, "  %-22s sink %s", lab,
                s && s->connector ? s->connector : "?");
        if (s && s->format && s->connector && s->format != s->connector)
          fprintf(out, "(%s)", s->format);
        if (s && s->sink_type)
          fprintf(out, " of %s", type_str(&c->arena, s->sink_type));
        fputc('\n', out);
        continue;
      }
      Type *t = sg->type;
      fprintf(out, "  %-22s %s", lab, type_str(&c->arena, t));
      /* Spell a named record out once, where the chain starts. */
      if (j == 0 && t->elem && t->elem->kind == TY_RECORD && t->elem->name)
        fprintf(out, " = %s", type_str_full(&c->arena, t->elem));
      if (t->event_time)
        fputs(", event time", out);
      fputc('\n', out);
    }
  }
}
