/*
 * emit_c.c -- checked program to readable C.
 *
 * Input: the typed chains of check.c. Output: one C file that includes
 * <pspf/rt.h> and <pspf/std.h> and holds, in order:
 *
 *   record structs          struct rec_Bid { int64_t f_auction; ... };
 *   params and constants    static pspf_str_t P_input; static int64_t L_k;
 *   user functions          static double fn_dollars(pspf_ctx_t *ctx, ...)
 *   sinks and writers       static void sink_q1_write(ctx, const T *r)
 *   readers                 static void src_bids_record(ctx, p, n)
 *   flows                   one function a source: every pipeline that
 *                           starts from it, fused into straight-line code
 *   main                    the program description for pspf_main()
 *
 * Each statement is preceded by a comment quoting its .pspf line and a
 * #line directive pointing at it (unless --no-line); glue switches back
 * to the C file's own lines, so gdb steps through .pspf lines.
 *
 * This slice generates stateless pipelines (map, filter, flat_map and
 * event_time's timestamps); stateful operators are reported as not yet
 * supported rather than compiled wrongly.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "builtins.h"
#include "pspf/format.h"
#include "pspfc.h"

/* ---- the writer ------------------------------------------------------- */

typedef struct CW {
  Arena *a;      /* for strings */
  char *buf;     /* the output */
  size_t len;    /* bytes used */
  size_t cap;    /* allocated */
  int line;      /* lines written so far (the next line is line + 1) */
  int indent;    /* current depth, two spaces each */
  bool at_bol;   /* the next byte starts a line */
} CW;

static void cw_raw(CW *w, const char *s, size_t n) {
  if (w->len + n + 1 > w->cap) {
    size_t cap = w->cap ? w->cap * 2 : 1 << 16;
    while (cap < w->len + n + 1)
      cap *= 2;
    char *nb = realloc(w->buf, cap);
    if (!nb) {
      fputs("pspfc: out of memory\n", stderr);
      exit(4);
    }
    w->buf = nb;
    w->cap = cap;
  }
  memcpy(w->buf + w->len, s, n);
  w->len += n;
  w->buf[w->len] = 0;
  for (size_t i = 0; i < n; i++)
    if (s[i] == '\n')
      w->line++;
}

/* Writes formatted text, indenting each new line. */
static void cw(CW *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cw(CW *w, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = NULL;
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  s = arena_alloc(w->a, (size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  va_end(ap);
  for (const char *p = s; *p;) {
    const char *nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p) : strlen(p);
    if (w->at_bol && len && *p != '#')
      for (int i = 0; i < w->indent; i++)
        cw_raw(w, "  ", 2);
    cw_raw(w, p, len);
    w->at_bol = false;
    p += len;
    if (nl) {
      cw_raw(w, "\n", 1);
      w->at_bol = true;
      p++;
    }
  }
}

/* ---- emitter state ---------------------------------------------------- */

/* A record type given a C struct. */
typedef struct RecDecl {
  Type *type;        /* the record */
  const char *cname; /* "struct rec_Bid" */
  const char *tag;   /* "rec_Bid" */
} RecDecl;

/* A local name in scope: a lambda parameter bound to a C expression. */
typedef struct Env {
  const char *name;  /* interned .pspf name */
  const char *code;  /* C expression for it */
  struct Env *next;  /* outer */
} Env;

typedef struct Emitter {
  Ctx *c;            /* the compile */
  Arena *a;          /* = &c->arena */
  CW w;              /* the output */
  const EmitOptions *opt; /* options */
  PtrVec recs;       /* RecDecl *: records with a C struct */
  PtrVec opt_recs;   /* RecDecl *: optional records (struct with has/v) */
  PtrVec list_types; /* RecDecl *: list types of records */
  PtrVec json_types; /* Type *: records that need a JSON reader */
  CW state;          /* keyed state: structs, tables, placed before flows */
  PtrVec unsupported_at; /* Loc *: constructs reported as not supported */
  PtrVec fires;      /* const char *: fire functions, upstream first */
  PtrVec fire_calls; /* const char *: each watermark window's call in its
                        flow, "fire_ID(ctx, WM);" */
  PtrVec frees;      /* const char *: statements freeing state at the end */
  PtrVec ck;         /* CkState *: state saved in checkpoints, in order */
  PtrVec late_done;  /* Node *: windows whose late records are handled */
  PtrVec *sources;   /* Symbol *: the sources, in index order */
  PtrVec opstats;    /* Stage *: the operators counted for /metrics */
  PtrVec opwm;       /* const char *: each one's watermark variable, or NULL */
  PtrVec in_done;    /* Stage *: counted in the flow being emitted (a stage
                        shared by two pipelines is emitted in both) */
  bool padded;       /* reading fields with readable bytes after them */
  bool table_merge;  /* the next emit_table() also emits merge_tab_ID() */
  int cur_split;     /* SPLIT_* of the pipeline being emitted */
  /* --scale-out through a repartition topic: the field records are
   * routed by, the keyed pipeline's pass_LABEL and its event_time's id and
   * lateness (for route_time() and tick()), else NULL / 0. */
  const char *route;
  const char *route_pass;
  int route_et;
  const char *route_late;
  uint64_t used;     /* the fields of the source being read that are used */
  int tmp;           /* counter for fresh C names */
  int errors;        /* "not supported yet" reports */
} Emitter;

#define A (e->a)

/* A piece of state that checkpoints save: save_<id>() and load_<id>(),
 * what it is (the layout the fingerprint hashes) and where it comes from. */
typedef struct CkState {
  int id;
  const char *layout;
  const char *where;
  bool held; /* a held_<id>() counts its keys (and windows) for /metrics */
  const char *split; /* PSPF_STATE_*: how workers hold it */
} CkState;

/* Formatted text in the compile's arena. */
#define s_(e, ...) ((const char *)arena_printf((e)->a, __VA_ARGS__))

static void unsupported(Emitter *e, Loc loc, const char *what) {
  /* A named stream is expanded into every pipeline that reads it: report
   * each construct once. */
  for (int i = 0; i < e->unsupported_at.len; i++)
    if (((Loc *)e->unsupported_at.items[i])->off == loc.off)
      return;
  Loc *l = arena_alloc(A, sizeof *l);
  *l = loc;
  vec_push(A, &e->unsupported_at, l);
  diag_error(&e->c->diag, loc, "%s is not supported by the code generator "
             "yet", what);
  diag_note_plain(&e->c->diag, "'pspfc check' accepts this program; "
                  "'pspfc build' will in a later version");
  e->errors++;
}

/* ---- C types ------------------------------------------------------------ */

static const char *ctype(Emitter *e, Type *t);

static RecDecl *rec_decl(Emitter *e, Type *t) {
  for (int i = 0; i < e->recs.len; i++) {
    RecDecl *r = e->recs.items[i];
    if (type_equal(r->type, t))
      return r;
  }
  /* Nested records first, so they are declared before use (and named
   * first: the tags below count the records declared so far). */
  for (int i = 0; i < t->nfields; i++)
    ctype(e, t->fields[i].type);
  RecDecl *r = arena_alloc(A, sizeof *r);
  r->type = t;
  r->tag = t->name ? s_(e, "rec_%s", t->name) : s_(e, "rec_%d", e->recs.len);
  /* Two distinct structures may share a type name only through aliases;
   * keep the C tags unique anyway. */
  for (int i = 0; i < e->recs.len; i++)
    if (strcmp(((RecDecl *)e->recs.items[i])->tag, r->tag) == 0)
      r->tag = s_(e, "%s_%d", r->tag, e->recs.len);
  r->cname = s_(e, "struct %s", r->tag);
  vec_push(A, &e->recs, r);
  return r;
}

static const char *ctype(Emitter *e, Type *t) {
  switch (t->kind) {
  case TY_INT:
  case TY_TIMESTAMP:
  case TY_DURATION:
    return "int64_t";
  case TY_FLOAT:
    return "double";
  case TY_BOOL:
    return "bool";
  case TY_STRING:
    return "pspf_str_t";
  case TY_RECORD:
    return rec_decl(e, t)->cname;
  case TY_OPTIONAL:
    switch (t->elem->kind) {
    case TY_INT:
    case TY_TIMESTAMP:
    case TY_DURATION:
      return "pspf_opt_i64";
    case TY_FLOAT:
      return "pspf_opt_f64";
    case TY_BOOL:
      return "pspf_opt_bool";
    case TY_STRING:
      return "pspf_opt_str";
    default: {
      RecDecl *inner = rec_decl(e, t->elem);
      for (int i = 0; i < e->opt_recs.len; i++) {
        RecDecl *o = e->opt_recs.items[i];
        if (type_equal(o->type, t))
          return o->cname;
      }
      RecDecl *o = arena_alloc(A, sizeof *o);
      o->type = t;
      o->tag = s_(e, "opt_%s", inner->tag);
      o->cname = s_(e, "struct %s", o->tag);
      vec_push(A, &e->opt_recs, o);
      return o->cname;
    }
    }
  case TY_LIST:
    if (!t->elem || t->elem->kind == TY_STRING)
      return "pspf_list_str";
    for (int i = 0; i < e->list_types.len; i++) {
      RecDecl *l = e->list_types.items[i];
      if (type_equal(l->type, t))
        return l->cname;
    }
    {
      RecDecl *l = arena_alloc(A, sizeof *l);
      ctype(e, t->elem); /* declare the item type first */
      l->type = t;
      l->tag = s_(e, "list_%d", e->list_types.len);
      l->cname = s_(e, "struct %s", l->tag);
      vec_push(A, &e->list_types, l);
      return l->cname;
    }
  default:
    return "int";
  }
}

/* The field name in C: prefixed, so .pspf names never clash with C. */
static const char *cfield(Emitter *e, const char *name) {
  return s_(e, "f_%s", name);
}

/* ---- expressions ------------------------------------------------------- */

static const char *expr(Emitter *e, Node *n, Env *env);

/* [code] of type [from] as a value of type [to]. */
static const char *coerce(Emitter *e, const char *code, Type *from,
                          Type *to) {
  if (!to || !from || type_equal(from, to) || to->kind == TY_ERROR)
    return code;
  if (to->kind == TY_OPTIONAL) {
    if (from->kind == TY_NONE)
      return s_(e, "((%s){false})", ctype(e, to));
    if (from->kind != TY_OPTIONAL)
      return s_(e, "((%s){true, %s})", ctype(e, to),
                coerce(e, code, from, to->elem));
  }
  if (from->kind == TY_RECORD && to->kind == TY_RECORD &&
      from->nfields == to->nfields) {
    const char *s = s_(e, "((%s){", ctype(e, to));
    for (int i = 0; i < to->nfields; i++)
      s = s_(e, "%s%s.%s = %s", s, i ? ", " : "",
             cfield(e, to->fields[i].name),
             coerce(e, s_(e, "(%s).%s", code, cfield(e, from->fields[i].name)),
                    from->fields[i].type, to->fields[i].type));
    return s_(e, "%s})", s);
  }
  if (from->kind == TY_OPTIONAL && to->kind == TY_OPTIONAL)
    return s_(e, "((%s).has ? (%s){true, %s} : (%s){false})", code,
              ctype(e, to), coerce(e, s_(e, "(%s).v", code), from->elem,
                                   to->elem),
              ctype(e, to));
  return code;
}

static const char *c_string_literal(Emitter *e, const char *s, size_t n) {
  /* Octal escapes for anything but plain printable ASCII; '?' escaped to
   * keep trigraphs out of C11. */
  char *out = arena_alloc(A, n * 4 + 3);
  size_t k = 0;
  out[k++] = '"';
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\' || c == '?') {
      out[k++] = '\\';
      out[k++] = (char)c;
    } else if (c >= 0x20 && c < 0x7f) {
      out[k++] = (char)c;
    } else {
      k += (size_t)sprintf(out + k, "\\%03o", c);
    }
  }
  out[k++] = '"';
  out[k] = 0;
  return out;
}

static const char *int_lit(Emitter *e, int64_t v) {
  if (v == INT64_MIN)
    return "INT64_MIN";
  if (v < 0)
    return s_(e, "(-INT64_C(%" PRId64 "))", -v);
  return s_(e, "INT64_C(%" PRId64 ")", v);
}

static bool is_intlike(const Type *t) {
  return t->kind == TY_INT || t->kind == TY_TIMESTAMP ||
         t->kind == TY_DURATION;
}

static const char *compare(Emitter *e, BinOp op, const char *l, const char *r,
                           Type *lt, Type *rt) {
  const char *cop = binop_spelling(op);
  if (lt->kind == TY_OPTIONAL || rt->kind == TY_OPTIONAL ||
      lt->kind == TY_NONE || rt->kind == TY_NONE) {
    const char *eq;
    if (lt->kind == TY_NONE)
      eq = s_(e, "(!(%s).has)", r);
    else if (rt->kind == TY_NONE)
      eq = s_(e, "(!(%s).has)", l);
    else if (lt->kind != TY_OPTIONAL)
      eq = s_(e, "((%s).has && %s)", r,
              compare(e, OP_EQ, l, s_(e, "(%s).v", r), lt, rt->elem));
    else if (rt->kind != TY_OPTIONAL)
      eq = s_(e, "((%s).has && %s)", l,
              compare(e, OP_EQ, s_(e, "(%s).v", l), r, lt->elem, rt));
    else
      eq = s_(e, "((%s).has == (%s).has && (!(%s).has || %s))", l, r, l,
              compare(e, OP_EQ, s_(e, "(%s).v", l), s_(e, "(%s).v", r),
                      lt->elem, rt->elem));
    return op == OP_EQ ? eq : s_(e, "(!%s)", eq);
  }
  if (lt->kind == TY_STRING) {
    if (op == OP_EQ)
      return s_(e, "pspf_str_eq(%s, %s)", l, r);
    if (op == OP_NE)
      return s_(e, "(!pspf_str_eq(%s, %s))", l, r);
    return s_(e, "(pspf_str_cmp(%s, %s) %s 0)", l, r, cop);
  }
  if (lt->kind == TY_RECORD) {
    /* Field by field; records compare equal when every field does. */
    const char *s = "true";
    for (int i = 0; i < lt->nfields; i++) {
      const char *f = cfield(e, lt->fields[i].name);
      s = s_(e, "%s && %s", s,
             compare(e, OP_EQ, s_(e, "(%s).%s", l, f), s_(e, "(%s).%s", r, f),
                     lt->fields[i].type, rt->fields[i].type));
    }
    return op == OP_EQ ? s_(e, "(%s)", s) : s_(e, "(!(%s))", s);
  }
  return s_(e, "(%s %s %s)", l, cop, r);
}

static const char *call_builtin(Emitter *e, Node *n, Env *env) {
  const Builtin *b = &builtins[n->ival];
  const char *s = s_(e, "pspf_std_%s_%s(ctx", b->name, b->params);
  for (int i = 0; i < n->list.len; i++)
    s = s_(e, "%s, %s", s, expr(e, n->list.items[i], env));
  return s_(e, "%s)", s);
}

static const char *expr(Emitter *e, Node *n, Env *env) {
  switch (n->kind) {
  case ND_INT:
    return int_lit(e, (int64_t)n->ival);
  case ND_FLOAT: {
    char buf[PSPF_FMT_MAX];
    pspf_format_f64(n->fval, buf); /* shortest text, reads back the same */
    return s_(e, "%s", buf);
  }
  case ND_STRING:
    return s_(e, "PSPF_STR(%s)", c_string_literal(e, n->sval, n->slen));
  case ND_BOOL:
    return n->bval ? "true" : "false";
  case ND_NONE:
    return "NONE"; /* replaced by coerce() where a type is known */
  case ND_DURATION:
    return int_lit(e, (int64_t)n->ival);
  case ND_TIMESTAMP:
    return int_lit(e, n->tval);
  case ND_NAME: {
    for (Env *v = env; v; v = v->next)
      if (v->name == n->name)
        return v->code;
    Symbol *s = n->sym;
    if (s && s->kind == SYM_PARAM)
      return s_(e, "P_%s", s->name);
    if (s && s->kind == SYM_LET)
      return s_(e, "L_%s", s->name);
    return "0";
  }
  case ND_FIELD:
    return s_(e, "(%s).%s", expr(e, n->a, env), cfield(e, n->name));
  case ND_CALL: {
    Symbol *s = n->sym;
    if (s && s->kind == SYM_BUILTIN)
      return call_builtin(e, n, env);
    const char *c = s_(e, "fn_%s(ctx", n->name);
    Node *d = s ? s->decl : NULL;
    for (int i = 0; i < n->list.len; i++) {
      Node *arg = n->list.items[i];
      c = s_(e, "%s, %s", c,
             coerce(e, expr(e, arg, env), arg->type,
                    d ? d->list.items[i]->type : arg->type));
    }
    return s_(e, "%s)", c);
  }
  case ND_BINARY: {
    Type *lt = n->a->type, *rt = n->b->type;
    const char *l = expr(e, n->a, env), *r = expr(e, n->b, env);
    switch (n->op) {
    case OP_AND:
      return s_(e, "(%s && %s)", l, r);
    case OP_OR:
      return s_(e, "(%s || %s)", l, r);
    case OP_EQ:
    case OP_NE:
    case OP_LT:
    case OP_LE:
    case OP_GT:
    case OP_GE:
      return compare(e, n->op, l, r, lt, rt);
    default:
      break;
    }
    if (lt->kind == TY_STRING)
      return s_(e, "pspf_str_concat(ctx, %s, %s)", l, r);
    if (lt->kind == TY_FLOAT) {
      if (n->op == OP_MOD)
        return s_(e, "fmod(%s, %s)", l, r);
      return s_(e, "(%s %s %s)", l, binop_spelling(n->op), r);
    }
    if (is_intlike(lt) && is_intlike(rt)) {
      static const char *const fns[] = {"add", "sub", "mul", "div", "mod"};
      return s_(e, "pspf_%s_i64(ctx, %s, %s)", fns[n->op - OP_ADD], l, r);
    }
    return s_(e, "(%s %s %s)", l, binop_spelling(n->op), r);
  }
  case ND_UNARY:
    if (n->op == OP_NOT)
      return s_(e, "(!%s)", expr(e, n->a, env));
    if (n->a->kind == ND_INT && n->a->ival == (uint64_t)INT64_MAX + 1)
      return "INT64_MIN";
    if (n->a->type->kind == TY_FLOAT)
      return s_(e, "(-%s)", expr(e, n->a, env));
    return s_(e, "pspf_neg_i64(ctx, %s)", expr(e, n->a, env));
  case ND_IF:
    return s_(e, "(%s ? %s : %s)", expr(e, n->a, env),
              coerce(e, expr(e, n->b, env), n->b->type, n->type),
              coerce(e, expr(e, n->c, env), n->c->type, n->type));
  case ND_COALESCE: {
    Type *x = n->a->type;
    const char *a = expr(e, n->a, env);
    if (x->kind != TY_OPTIONAL)
      return a;
    if (n->type->kind == TY_OPTIONAL)
      return s_(e, "((%s).has ? (%s) : %s)", a, a,
                coerce(e, expr(e, n->b, env), n->b->type, n->type));
    return s_(e, "((%s).has ? (%s).v : %s)", a, a,
              coerce(e, expr(e, n->b, env), n->b->type, n->type));
  }
  case ND_RECORD: {
    Type *t = n->type;
    const char *s = s_(e, "((%s){", ctype(e, t));
    for (int i = 0; i < t->nfields; i++) {
      const char *fname = t->fields[i].name;
      const char *val = "0";
      /* The last writer of the field wins: an explicit field or a spread
       * record that holds it. */
      for (int j = n->list.len - 1; j >= 0; j--) {
        Node *f = n->list.items[j];
        if (f->kind == ND_FIELD_INIT && f->name == fname) {
          val = coerce(e, expr(e, f->a, env), f->a->type, t->fields[i].type);
          break;
        }
        if (f->kind == ND_SPREAD && type_field(f->a->type, fname)) {
          const Field *sf = type_field(f->a->type, fname);
          val = coerce(e, s_(e, "(%s).%s", expr(e, f->a, env),
                             cfield(e, fname)),
                       sf->type, t->fields[i].type);
          break;
        }
      }
      s = s_(e, "%s%s.%s = %s", s, i ? ", " : "", cfield(e, fname), val);
    }
    return s_(e, "%s})", s);
  }
  case ND_LIST: {
    Type *t = n->type;
    if (!t->elem || n->list.len == 0)
      return s_(e, "((%s){NULL, 0})", ctype(e, t));
    const char *et = ctype(e, t->elem);
    const char *s = s_(e, "((%s){(%s[]){", ctype(e, t), et);
    for (int i = 0; i < n->list.len; i++)
      s = s_(e, "%s%s%s", s, i ? ", " : "",
             coerce(e, expr(e, n->list.items[i], env), n->list.items[i]->type,
                    t->elem));
    return s_(e, "%s}, %d})", s, n->list.len);
  }
  default:
    unsupported(e, n->loc, node_kind_name(n->kind));
    return "0";
  }
}

/* ---- source lines: comments and #line ------------------------------------ */

static void line_comment(Emitter *e, Loc loc) {
  const Source *src = e->c->src;
  int line = source_line(src, loc.off);
  size_t len;
  const char *text = source_line_text(src, line, &len);
  while (len && (*text == ' ' || *text == '\t'))
    text++, len--;
  /* Keep comment terminators out of the quoted line. */
  char *q = arena_strndup(A, text, len > 100 ? 100 : len);
  for (char *p = q; *p; p++)
    if ((p[0] == '*' && p[1] == '/') || (p[0] == '/' && p[1] == '*'))
      p[0] = '_';
  cw(&e->w, "/* %s:%d  %s */\n", src->path, line, q);
  if (!e->opt->no_line)
    cw(&e->w, "#line %d %s\n", line,
       c_string_literal(e, src->path, strlen(src->path)));
}

/* Switches line numbers back to the C file. The number is only known once
 * the file is assembled: "#line @" is filled in by fix_lines(). */
static void back_to_c(Emitter *e) {
  if (!e->opt->no_line)
    cw(&e->w, "#line @ %s\n",
       c_string_literal(e, e->opt->out_path, strlen(e->opt->out_path)));
}

/* Replaces each "#line @" with the number of the line after it, and
 * repeats a "#line N" of the .pspf file before each further line it
 * covers: a stage's C spans several lines, and all of them are that one
 * .pspf line (else gdb and the sanitizers would count on past it). */
static char *fix_lines(const char *text, size_t *len) {
  size_t cap = *len * 2 + 64, k = 0;
  char *out = malloc(cap);
  int line = 1;               /* of the output */
  const char *map = NULL;     /* the "#line N ..." in force, or NULL */
  size_t map_n = 0;
  bool first = false;         /* the line right after it */
  for (const char *p = text; *p;) {
    const char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p + 1) : strlen(p);
    if (k + n + map_n + 32 > cap) {
      cap = (k + n + map_n + 32) * 2;
      out = realloc(out, cap);
    }
    if (n > 8 && strncmp(p, "#line @ ", 8) == 0) {
      k += (size_t)sprintf(out + k, "#line %d ", line + 1);
      memcpy(out + k, p + 8, n - 8);
      k += n - 8;
      map = NULL;
    } else if (n > 6 && strncmp(p, "#line ", 6) == 0) {
      memcpy(out + k, p, n);
      k += n;
      map = p;
      map_n = n;
      first = true;
    } else {
      if (map && !first) {
        memcpy(out + k, map, map_n);
        k += map_n;
        line++;
      }
      first = false;
      memcpy(out + k, p, n);
      k += n;
    }
    line++;
    p += n;
  }
  out[k] = 0;
  *len = k;
  return out;
}

/* ---- writers: one function per sink ------------------------------------- */

/* Appends a scalar to buffer [buf] in text form. [csv]: empty for none. */
static void write_scalar(Emitter *e, const char *buf, const char *v, Type *t,
                         const char *fmt) {
  bool json = strcmp(fmt, "json") == 0 || strcmp(fmt, "console") == 0;
  switch (t->kind) {
  case TY_INT:
  case TY_DURATION:
    cw(&e->w, "{\n  char nb[PSPF_FMT_MAX];\n  pspf_buf_add(%s, nb, "
       "pspf_format_i64(%s, nb));\n}\n", buf, v);
    break;
  case TY_FLOAT:
    if (json)
      cw(&e->w, "if (isfinite(%s)) {\n  char nb[PSPF_FMT_MAX];\n  "
         "pspf_buf_add(%s, nb, pspf_format_f64(%s, nb));\n} else {\n  "
         "pspf_buf_add(%s, \"null\", 4);\n}\n", v, buf, v, buf);
    else
      cw(&e->w, "{\n  char nb[PSPF_FMT_MAX];\n  pspf_buf_add(%s, nb, "
         "pspf_format_f64(%s, nb));\n}\n", buf, v);
    break;
  case TY_BOOL:
    cw(&e->w, "if (%s)\n  pspf_buf_add(%s, \"true\", 4);\nelse\n  "
       "pspf_buf_add(%s, \"false\", 5);\n", v, buf, buf);
    break;
  case TY_TIMESTAMP:
    cw(&e->w, "{\n  char nb[PSPF_FMT_MAX];\n  size_t nn = "
       "pspf_format_timestamp(%s, nb);\n  %s\n}\n", v,
       json ? s_(e, "pspf_json_write_string(%s, nb, nn);", buf)
            : s_(e, "pspf_buf_add(%s, nb, nn);", buf));
    break;
  case TY_STRING:
    if (json)
      cw(&e->w, "pspf_json_write_string(%s, (%s).p, (%s).n);\n", buf, v, v);
    else if (strcmp(fmt, "lines") == 0)
      cw(&e->w, "pspf_buf_add(%s, (%s).p, (%s).n);\n", buf, v, v);
    else
      cw(&e->w, "pspf_csv_write_field(%s, (%s).p, (%s).n, DELIM);\n", buf, v,
         v);
    break;
  default:
    break;
  }
}

static void write_value(Emitter *e, const char *buf, const char *v, Type *t,
                        const char *fmt);

static void write_record(Emitter *e, const char *buf, const char *v, Type *t,
                         const char *fmt) {
  bool csv = strcmp(fmt, "csv") == 0;
  bool console = strcmp(fmt, "console") == 0;
  if (!csv)
    cw(&e->w, "pspf_buf_add(%s, \"{\", 1);\n", buf);
  for (int i = 0; i < t->nfields; i++) {
    const char *name = t->fields[i].name;
    if (csv) {
      if (i)
        cw(&e->w, "pspf_buf_add(%s, DELIM_S, 1);\n", buf);
    } else if (console) {
      cw(&e->w, "pspf_buf_add(%s, %s, %zu);\n", buf,
         c_string_literal(e, s_(e, "%s%s: ", i ? ", " : "", name),
                          strlen(name) + 2 + (i ? 2 : 0)),
         strlen(name) + 2 + (i ? 2 : 0));
    } else {
      const char *key = s_(e, "%s\"%s\":", i ? "," : "", name);
      cw(&e->w, "pspf_buf_add(%s, %s, %zu);\n", buf,
         c_string_literal(e, key, strlen(key)), strlen(key));
    }
    write_value(e, buf, s_(e, "(%s).%s", v, cfield(e, name)),
                t->fields[i].type, fmt);
  }
  if (!csv)
    cw(&e->w, "pspf_buf_add(%s, \"}\", 1);\n", buf);
}

static void write_value(Emitter *e, const char *buf, const char *v, Type *t,
                        const char *fmt) {
  bool csv = strcmp(fmt, "csv") == 0;
  if (t->kind == TY_OPTIONAL) {
    cw(&e->w, "if ((%s).has) {\n", v);
    e->w.indent++;
    write_value(e, buf, s_(e, "(%s).v", v), t->elem, fmt);
    e->w.indent--;
    if (csv)
      cw(&e->w, "}\n");
    else
      cw(&e->w, "} else {\n  pspf_buf_add(%s, \"null\", 4);\n}\n", buf);
    return;
  }
  if (t->kind == TY_RECORD) {
    write_record(e, buf, v, t, fmt);
    return;
  }
  write_scalar(e, buf, v, t, fmt);
}

/* C identifier-safe name of a sink or source. */
static const char *sym_c(Emitter *e, const char *prefix, Symbol *s) {
  return s_(e, "%s_%s", prefix, s->name);
}

static char fmt_delim(Symbol *s) { return s->csv_delim ? s->csv_delim : ','; }

/* The value of named argument [name] of connector call [conn], or NULL. */
static Node *conn_arg(Node *conn, const char *name) {
  for (int j = 0; conn && j < conn->list.len; j++) {
    Node *a = conn->list.items[j];
    if (a->kind == ND_NAMED_ARG && strcmp(a->name, name) == 0)
      return a->a;
  }
  return NULL;
}

/* True for a file source with follow: true. */
static bool follows(Symbol *s) {
  Node *f = conn_arg(s->conn, "follow");
  return f && f->kind == ND_BOOL && f->bval;
}

/* Statements setting an mqtt connector's fields on [lv] (a source or
 * sink). */
static void mqtt_fields(Emitter *e, CW *w, const char *lv, Symbol *s) {
  Node *topic = conn_arg(s->conn, "topic"), *qos = conn_arg(s->conn, "qos"),
       *cid = conn_arg(s->conn, "client_id");
  cw(w, "%s.topic = %s;\n%s.qos = %s;\n", lv,
     topic ? s_(e, "cstr(%s)", expr(e, topic, NULL)) : "\"#\"", lv,
     qos ? s_(e, "(int)%s", expr(e, qos, NULL)) : "0");
  if (cid)
    cw(w, "%s.client_id = cstr(%s);\n", lv, expr(e, cid, NULL));
}

/* The message key of a kafka sink's record *r: its key: fields as text
 * (joined with ','), then the produce call. */
static void emit_kafka_key(Emitter *e, Symbol *s, Type *t) {
  Node *v = conn_arg(s->conn, "key");
  if (!v || t->kind != TY_RECORD) {
    cw(&e->w, "pspf_kafka_produce(ctx, sk, NULL, 0);\n");
    return;
  }
  cw(&e->w, "{\n");
  e->w.indent++;
  cw(&e->w, "pspf_buf_t *kb = &sk->key;\nkb->n = 0;\n");
  int m = v->kind == ND_LIST ? v->list.len : 1;
  for (int k = 0; k < m; k++) {
    Node *f = v->kind == ND_LIST ? v->list.items[k] : v;
    const char *name = f->kind == ND_NAME ? f->name : f->sval;
    const Field *fd = type_field(t, name);
    if (!fd)
      continue;
    if (k)
      cw(&e->w, "pspf_buf_add(kb, \",\", 1);\n");
    const char *fv = s_(e, "(*r).%s", cfield(e, name));
    if (fd->type->kind == TY_STRING)
      cw(&e->w, "pspf_buf_add(kb, (%s).p, (%s).n);\n", fv, fv);
    else
      write_value(e, "kb", fv, fd->type, "lines");
  }
  cw(&e->w, "pspf_kafka_produce(ctx, sk, kb->p, kb->n);\n");
  e->w.indent--;
  cw(&e->w, "}\n");
}

/* The SQLite column type of a field. */
static const char *sql_type(Type *t) {
  if (t->kind == TY_OPTIONAL)
    t = t->elem;
  switch (t->kind) {
  case TY_FLOAT:
    return "REAL";
  case TY_STRING:
  case TY_TIMESTAMP:
    return "TEXT";
  default: /* int, duration (ms), bool (0 or 1) */
    return "INTEGER";
  }
}

/* Binds field value [v] of type [t] to column [col] of sink `sk`'s row. */
static void sql_bind(Emitter *e, const char *v, Type *t, int col) {
  if (t->kind == TY_OPTIONAL) {
    cw(&e->w, "if ((%s).has) {\n", v);
    e->w.indent++;
    sql_bind(e, s_(e, "(%s).v", v), t->elem, col);
    e->w.indent--;
    cw(&e->w, "} else {\n  pspf_sql_null(sk, %d);\n}\n", col);
    return;
  }
  switch (t->kind) {
  case TY_FLOAT:
    cw(&e->w, "pspf_sql_f64(sk, %d, %s);\n", col, v);
    break;
  case TY_STRING:
    cw(&e->w, "pspf_sql_text(sk, %d, (%s).p, (%s).n);\n", col, v, v);
    break;
  case TY_TIMESTAMP:
    cw(&e->w, "pspf_sql_timestamp(sk, %d, %s);\n", col, v);
    break;
  case TY_BOOL:
    cw(&e->w, "pspf_sql_i64(sk, %d, %s ? 1 : 0);\n", col, v);
    break;
  default:
    cw(&e->w, "pspf_sql_i64(sk, %d, %s);\n", col, v);
    break;
  }
}

/* A SQLite sink: its table's columns (for CREATE TABLE and INSERT, built
 * by the runtime), and a writer that binds one row a record. */
static void emit_sqlite_sink(Emitter *e, Symbol *s, int index) {
  Type *t = s->sink_type;
  const char *n = s->name;
  cw(&e->w, "\n/* sink %s: sqlite */\n", n);
  cw(&e->w, "static const char *const cols_%s[] = {", n);
  for (int i = 0; i < t->nfields; i++)
    cw(&e->w, "%s%s", i ? ", " : "",
       c_string_literal(e, t->fields[i].name, strlen(t->fields[i].name)));
  cw(&e->w, "};\nstatic const char *const types_%s[] = {", n);
  for (int i = 0; i < t->nfields; i++)
    cw(&e->w, "%s\"%s\"", i ? ", " : "", sql_type(t->fields[i].type));
  cw(&e->w, "};\n");
  /* key: [fields] makes each write an upsert on them. */
  int nkeys = 0;
  const char *keys = "";
  for (int j = 0; s->conn && j < s->conn->list.len; j++) {
    Node *a = s->conn->list.items[j];
    if (a->kind != ND_NAMED_ARG || strcmp(a->name, "key") != 0)
      continue;
    Node *v = a->a;
    int m = v->kind == ND_LIST ? v->list.len : 1;
    for (int k = 0; k < m; k++) {
      Node *f = v->kind == ND_LIST ? v->list.items[k] : v;
      const char *name = f->kind == ND_NAME ? f->name : f->sval;
      keys = s_(e, "%s%s%s", keys, nkeys++ ? ", " : "",
                c_string_literal(e, name, strlen(name)));
    }
  }
  if (nkeys)
    cw(&e->w, "static const char *const keys_%s[] = {%s};\n", n, keys);
  cw(&e->w, "static pspf_sql_table_t table_%s = {.cols = cols_%s, .types = "
     "types_%s, .ncols = %d, .keys = %s, .nkeys = %d};\n", n, n, n,
     t->nfields, nkeys ? s_(e, "keys_%s", n) : "NULL", nkeys);
  cw(&e->w, "\nstatic void %s(pspf_ctx_t *ctx, const %s *r) {\n",
     sym_c(e, "write", s), ctype(e, t));
  e->w.indent++;
  cw(&e->w, "pspf_sink_t *sk = &sinks[%d];\n", index);
  for (int i = 0; i < t->nfields; i++)
    sql_bind(e, s_(e, "(*r).%s", cfield(e, t->fields[i].name)),
             t->fields[i].type, i);
  cw(&e->w, "pspf_sql_row(ctx, sk);\n");
  e->w.indent--;
  cw(&e->w, "}\n");
}

static void emit_sink(Emitter *e, Symbol *s, int index) {
  Type *t = s->sink_type;
  const char *fmt = s->format ? s->format : "json";
  if (strcmp(s->connector, "sqlite") == 0) {
    emit_sqlite_sink(e, s, index);
    return;
  }
  bool mqtt = strcmp(s->connector, "mqtt") == 0;
  bool kafka = strcmp(s->connector, "kafka") == 0;
  if (strcmp(s->connector, "file") != 0 && strcmp(s->connector, "stdout") != 0 &&
      strcmp(s->connector, "console") != 0 && !mqtt && !kafka) {
    unsupported(e, s->decl->loc, s_(e, "a '%s' sink", s->connector));
    return;
  }
  const char *ct = ctype(e, t);
  cw(&e->w, "\n/* sink %s: %s, %s */\n", s->name, s->connector, fmt);
  cw(&e->w, "static void %s(pspf_ctx_t *ctx, const %s *r) {\n",
     sym_c(e, "write", s), ct);
  e->w.indent++;
  cw(&e->w, "pspf_sink_t *sk = &sinks[%d];\n", index);
  cw(&e->w, "pspf_buf_t *b = &sk->buf;\n");
  if (strcmp(fmt, "csv") == 0) {
    char d = fmt_delim(s);
    cw(&e->w, "#define DELIM %s\n#define DELIM_S %s\n",
       s_(e, "'%s'", d == '\t' ? "\\t" : d == '\'' ? "\\'" : d == '\\' ? "\\\\" : s_(e, "%c", d)),
       c_string_literal(e, &d, 1));
  }
  write_value(e, "b", "*r", t, fmt);
  if (strcmp(fmt, "csv") == 0)
    cw(&e->w, "#undef DELIM\n#undef DELIM_S\n");
  if (mqtt) { /* one message a record */
    cw(&e->w, "pspf_mqtt_publish(ctx, sk);\n");
  } else if (kafka) { /* one message a record, keyed by the key: fields */
    emit_kafka_key(e, s, t);
  } else {
    cw(&e->w, "pspf_buf_add(b, \"\\n\", 1);\n");
    cw(&e->w, "sk->records++;\n");
    cw(&e->w, "pspf_sink_maybe_flush(ctx, sk);\n");
  }
  e->w.indent--;
  cw(&e->w, "}\n");
}

/* ---- readers ------------------------------------------------------------ */

/* Parses a text slice [p]/[n] into lvalue [dst] of scalar type [t]; on
 * failure sets a fault naming [field]. CSV and lines readers. */
static void read_scalar_text(Emitter *e, const char *dst, Type *t,
                             const char *p, const char *n, const char *field) {
  bool opt = t->kind == TY_OPTIONAL;
  Type *st = opt ? t->elem : t;
  const char *target = opt ? s_(e, "(%s).v", dst) : dst;
  if (opt) {
    cw(&e->w, "if (%s == 0) {\n  (%s).has = false;\n} else {\n", n, dst);
    e->w.indent++;
    cw(&e->w, "(%s).has = true;\n", dst);
  }
  const char *what = NULL, *fn = NULL;
  switch (st->kind) {
  case TY_INT:
  case TY_DURATION:
    fn = e->padded ? "pspf_parse_i64_padded" : "pspf_parse_i64_fast",
    what = "an int";
    break;
  case TY_FLOAT:
    fn = "pspf_parse_f64", what = "a float";
    break;
  case TY_TIMESTAMP:
    fn = e->padded ? "pspf_parse_timestamp_padded"
                   : "pspf_parse_timestamp_fast",
    what = "a timestamp";
    break;
  case TY_BOOL:
    cw(&e->w, "{\n  int bv = 0;\n  if (pspf_parse_bool(%s, %s, &bv) < 0)\n"
       "    pspf_fault(ctx, %s);\n  %s = bv;\n}\n", p, n,
       c_string_literal(e, s_(e, "field '%s' is not true or false", field),
                        strlen(field) + 32),
       target);
    break;
  case TY_STRING:
    cw(&e->w, "%s = (pspf_str_t){%s, %s};\n", target, p, n);
    break;
  default:
    break;
  }
  if (fn) {
    const char *msg = s_(e, "field '%s' is not %s", field, what);
    const char *omsg = s_(e, "field '%s' is out of range", field);
    cw(&e->w, "{\n  int rc = %s(%s, %s, &%s);\n  if (rc < 0)\n    "
       "pspf_fault(ctx, rc == PSPF_EOVERFLOW ? %s : %s);\n}\n", fn, p, n,
       target,
       c_string_literal(e, omsg, strlen(omsg)),
       c_string_literal(e, msg, strlen(msg)));
  }
  if (opt) {
    e->w.indent--;
    cw(&e->w, "}\n");
  }
}

static void emit_json_reader(Emitter *e, Type *t);

/* JSON value [v] (pspf_str_t) of kind [k] into [dst] of type [t]. */
static void read_json_value(Emitter *e, const char *dst, Type *t,
                            const char *v, const char *k, const char *field) {
  if (t->kind == TY_OPTIONAL) {
    cw(&e->w, "if (%s == PSPF_JSON_NULL) {\n  (%s).has = false;\n} else {\n",
       k, dst);
    e->w.indent++;
    cw(&e->w, "(%s).has = true;\n", dst);
    read_json_value(e, s_(e, "(%s).v", dst), t->elem, v, k, field);
    e->w.indent--;
    cw(&e->w, "}\n");
    return;
  }
  const char *bad = s_(e, "field '%s' is not %s", field,
                       t->kind == TY_RECORD ? "an object" : type_str(A, t));
  const char *badlit = c_string_literal(e, bad, strlen(bad));
  switch (t->kind) {
  case TY_STRING:
    cw(&e->w, "if (%s != PSPF_JSON_STRING || pspf_json_string(%s, "
       "&ctx->scratch, &%s) < 0)\n  pspf_fault(ctx, %s);\n", k, v, dst,
       badlit);
    break;
  case TY_BOOL:
    cw(&e->w, "if (%s != PSPF_JSON_BOOL)\n  pspf_fault(ctx, %s);\nelse\n  "
       "%s = (%s).p[0] == 't';\n", k, badlit, dst, v);
    break;
  case TY_INT:
  case TY_DURATION:
  case TY_FLOAT: {
    const char *fn =
        t->kind == TY_FLOAT ? "pspf_parse_f64" : "pspf_parse_i64_fast";
    cw(&e->w, "if (%s != PSPF_JSON_NUMBER || %s((%s).p, (%s).n, &%s) < 0)\n"
       "  pspf_fault(ctx, %s);\n", k, fn, v, v, dst, badlit);
    break;
  }
  case TY_TIMESTAMP:
    cw(&e->w, "if (%s == PSPF_JSON_NUMBER) {\n  if (pspf_parse_i64_fast((%s).p, "
       "(%s).n, &%s) < 0)\n    pspf_fault(ctx, %s);\n} else if (%s == "
       "PSPF_JSON_STRING && (%s).n >= 2) {\n  if (pspf_parse_timestamp((%s).p "
       "+ 1, (%s).n - 2, &%s) < 0)\n    pspf_fault(ctx, %s);\n} else {\n  "
       "pspf_fault(ctx, %s);\n}\n",
       k, v, v, dst, badlit, k, v, v, v, dst, badlit, badlit);
    break;
  case TY_RECORD:
    cw(&e->w, "if (%s != PSPF_JSON_OBJECT)\n  pspf_fault(ctx, %s);\nelse\n  "
       "json_%s(ctx, (%s).p, (%s).n, &%s);\n", k, badlit,
       rec_decl(e, t)->tag, v, v, dst);
    break;
  default:
    break;
  }
}

/* Notes that record type [t] (and the records inside it) need a JSON
 * reader; they are all written by emit_json_readers(). */
static void emit_json_reader(Emitter *e, Type *t) {
  for (int i = 0; i < e->json_types.len; i++)
    if (type_equal(e->json_types.items[i], t))
      return;
  for (int i = 0; i < t->nfields; i++) {
    Type *ft = t->fields[i].type;
    if (ft->kind == TY_OPTIONAL)
      ft = ft->elem;
    if (ft->kind == TY_RECORD)
      emit_json_reader(e, ft);
  }
  vec_push(A, &e->json_types, t);
}

static void emit_json_readers(Emitter *e) {
  CW *w = &e->w;
  for (int k = 0; k < e->json_types.len; k++) {
    Type *t = e->json_types.items[k];
    RecDecl *r = rec_decl(e, t);
    cw(w, "static void json_%s(pspf_ctx_t *ctx, const char *p, size_t n, "
       "%s *out);\n", r->tag, r->cname);
  }
  for (int k = 0; k < e->json_types.len; k++) {
    Type *t = e->json_types.items[k];
    RecDecl *r = rec_decl(e, t);
    cw(w, "\n/* JSON reader for %s */\n", type_str(A, t));
    cw(w, "static void json_%s(pspf_ctx_t *ctx, const char *p, size_t n, "
       "%s *out) {\n", r->tag, r->cname);
    w->indent++;
    cw(w, "pspf_json_t j;\npspf_str_t key, val;\npspf_json_kind_t kind;\n"
       "uint32_t seen = 0;\nint rc;\n");
    cw(w, "memset(out, 0, sizeof *out);\n");
    cw(w, "if (pspf_json_begin(&j, p, n) < 0) {\n  pspf_fault(ctx, \"not a "
       "JSON object\");\n  return;\n}\n");
    /* Members usually come in declared order: the key expected next is
     * matched as it stands; any other is read and looked up. Each value is
     * converted where it is met: plain integers and strings directly,
     * anything else as raw text first. */
    int nf = t->nfields;
    cw(w, "for (int next = 0;;) {\n");
    w->indent++;
    cw(w, "int field = -1;\nbool hit = false;\n");
    if (nf) {
      cw(w, "switch (next) { /* the key as written, length known */\n");
      for (int i = 0; i < nf; i++) {
        const char *lit = s_(e, "\"%s\":", t->fields[i].name);
        cw(w, "case %d:\n  hit = pspf_json_key_is(&j, %s, %zu);\n  break;\n",
           i, c_string_literal(e, lit, strlen(lit)), strlen(lit));
      }
      cw(w, "}\n");
    }
    cw(w, "if (hit) {\n  field = next;\n} else if ((rc = pspf_json_key(&j, "
       "&key)) != 1) {\n  break;\n}");
    for (int i = 0; i < nf; i++) {
      const char *name = t->fields[i].name;
      cw(w, " else if (key.n == %zu && memcmp(key.p, %s, %zu) == 0) {\n"
         "  field = %d;\n}", strlen(name),
         c_string_literal(e, name, strlen(name)), strlen(name), i);
    }
    cw(w, "\n");
    cw(w, "next = field + 1;\n");
    cw(w, "switch (field) {\n");
    for (int i = 0; i < nf; i++) {
      const char *name = t->fields[i].name;
      Type *ft = t->fields[i].type;
      const char *dst = s_(e, "out->%s", cfield(e, name));
      cw(w, "case %d: /* %s */\n", i, name);
      w->indent++;
      cw(w, "seen |= UINT32_C(1) << %d;\n", i < 31 ? i : 31);
      int fk = ft->kind;
      if (fk == TY_INT || fk == TY_DURATION || fk == TY_TIMESTAMP)
        cw(w, "if (pspf_json_int(&j, &%s))\n  continue;\n", dst);
      else if (fk == TY_STRING)
        cw(w, "if (pspf_json_str(&j, &ctx->scratch, &%s))\n  continue;\n",
           dst);
      cw(w, "if ((rc = pspf_json_value(&j, &val, &kind)) < 0)\n  goto "
         "malformed;\n");
      read_json_value(e, dst, ft, "val", "kind", name);
      cw(w, "continue;\n");
      w->indent--;
    }
    cw(w, "default: /* a member the type does not have */\n");
    cw(w, "  if ((rc = pspf_json_value(&j, &val, &kind)) < 0)\n    goto "
       "malformed;\n}\n");
    w->indent--;
    cw(w, "}\n");
    cw(w, "if (rc < 0)\n  goto malformed;\n");
    for (int i = 0; i < t->nfields && i < 31; i++)
      if (t->fields[i].type->kind != TY_OPTIONAL) {
        const char *msg = s_(e, "missing field '%s'", t->fields[i].name);
        cw(w, "if (!(seen & (UINT32_C(1) << %d)))\n  pspf_fault(ctx, %s);\n",
           i, c_string_literal(e, msg, strlen(msg)));
      }
    cw(w, "return;\n");
    w->indent--;
    cw(w, "malformed:\n  pspf_fault(ctx, \"malformed JSON\");\n}\n");
  }
}

/* ---- flows: the fused pipelines of one source ----------------------------- */

typedef struct FlowCtx {
  int depth;          /* nesting of blocks opened by filter/flat_map */
  const char *label;  /* goto target that abandons this pipeline */
  const char *key;    /* C variable holding the current key, or NULL */
  Type *key_type;     /* its type */
  const char *ts;     /* C expression of the record's event time, or NULL */
  const char *wm;     /* C expression of the watermark, or NULL */
  const char *src;    /* C expression of the source index of the record */
  const char *srcs;   /* after a merge: "{0, 2}", the sources it merges */
  int nsrcs;          /* how many */
  int split;          /* SPLIT_*: how --workers shares this pipeline */
  bool shared;        /* run by every worker (a keyed pipeline before its
                         key_by): /metrics counts the chunk's parser's */
} FlowCtx;

/* How a pipeline runs with --workers N (the reader splits the input into
 * chunks at record boundaries, each parsed by one worker, and every worker
 * goes through every chunk in order):
 *   SPLIT_CHUNK   stateless: the worker that parsed a chunk runs it;
 *   SPLIT_KEYED   everything up to its key_by runs on every worker (cheap,
 *                 and the watermark then is the same everywhere), after it
 *                 only the worker that owns the key's hash;
 *   SPLIT_FIRST   state without a key (or not only after one key_by): the
 *                 first worker runs it all. */
enum { SPLIT_CHUNK, SPLIT_KEYED, SPLIT_FIRST };

/* Emits stages [from..] of chain [ch] applied to value [v] of type [t]. */
static void emit_stages(Emitter *e, Chain *ch, int from, const char *v,
                        Type *t, FlowCtx *fc);

/* The stages of a chain, with named streams (lets) expanded in place:
 * the first is a source or a merge(...) call; *root is the source, or
 * NULL. */
static void flatten_chain(Emitter *e, Chain *ch, PtrVec *out, Symbol **root) {
  Stage *first = ch->stages.items[0];
  Symbol *s = first->node->sym;
  if (s && s->kind == SYM_LET) {
    Checked *ck = e->c->checked;
    for (int i = 0; i < ck->chains.len; i++) {
      Chain *lc = ck->chains.items[i];
      if (lc->stmt == s->decl) {
        flatten_chain(e, lc, out, root);
        break;
      }
    }
  } else {
    *root = first->node->kind == ND_CALL ? NULL : s;
    vec_push(A, out, first);
  }
  for (int i = 1; i < ch->stages.len; i++)
    vec_push(A, out, ch->stages.items[i]);
}

/* The stages of stream expression [x] (an argument of merge), as
 * flatten_chain() gives them. */
static void expr_stages(Emitter *e, Node *x, PtrVec *out, Symbol **root) {
  if (x->kind == ND_PIPE) {
    expr_stages(e, x->a, out, root);
    Stage *sg = arena_alloc(A, sizeof *sg);
    *sg = (Stage){x->b, x->b->name, x->b->type};
    vec_push(A, out, sg);
    return;
  }
  Symbol *s = x->sym;
  if (s && s->kind == SYM_LET) {
    Chain c = {x, {0}};
    Stage *sg = arena_alloc(A, sizeof *sg);
    *sg = (Stage){x, s->name, x->type};
    vec_push(A, &c.stages, sg);
    flatten_chain(e, &c, out, root);
    return;
  }
  Stage *sg = arena_alloc(A, sizeof *sg);
  *sg = (Stage){x, x->kind == ND_NAME ? x->name : "merge", x->type};
  vec_push(A, out, sg);
  *root = x->kind == ND_CALL ? NULL : s;
}

static const char *lambda_body(Emitter *e, Node *fn, const char **args,
                               int nargs, Type **types, Type *want) {
  if (fn->kind == ND_NAME) { /* a user fn passed by name */
    const char *c = s_(e, "fn_%s(ctx", fn->name);
    Node *d = fn->sym->decl;
    for (int i = 0; i < nargs; i++)
      c = s_(e, "%s, %s", c, coerce(e, args[i], types[i],
                                     d->list.items[i]->type));
    return coerce(e, s_(e, "%s)", c), fn->sym->type, want);
  }
  Env *env = NULL;
  for (int i = 0; i < nargs; i++) {
    Env *v = arena_alloc(A, sizeof *v);
    *v = (Env){fn->list.items[i]->name, args[i], env};
    env = v;
  }
  return coerce(e, expr(e, fn->b, env), fn->b->type, want);
}

static void check_fault(Emitter *e, FlowCtx *fc) {
  cw(&e->w, "if (PSPF_UNLIKELY(ctx->fault)) {\n  goto %s;\n}\n", fc->label);
}

static void emit_stages(Emitter *e, Chain *ch, int from, const char *v,
                        Type *t, FlowCtx *fc);

/* ---- keyed state ---------------------------------------------------------- */

/* C expression hashing key [k] of type [t]. */
static const char *key_hash(Emitter *e, const char *k, Type *t) {
  switch (t->kind) {
  case TY_STRING:
    return s_(e, "pspf_hash_bytes((%s).p, (%s).n)", k, k);
  case TY_FLOAT:
    return s_(e, "pspf_hash_f64(%s)", k);
  case TY_RECORD: {
    const char *h = "UINT64_C(0)";
    for (int i = 0; i < t->nfields; i++)
      h = s_(e, "pspf_hash_u64(%s ^ %s)", h,
             key_hash(e, s_(e, "(%s).%s", k, cfield(e, t->fields[i].name)),
                      t->fields[i].type));
    return h;
  }
  default:
    return s_(e, "pspf_hash_u64((uint64_t)(%s))", k);
  }
}

/* True if a value of type [t] points into memory it must copy to outlive
 * the record (strings, wherever they are nested). */
static bool needs_keep(Type *t) {
  switch (t->kind) {
  case TY_STRING:
  case TY_LIST:
    return true;
  case TY_OPTIONAL:
    return needs_keep(t->elem);
  case TY_RECORD:
    for (int i = 0; i < t->nfields; i++)
      if (needs_keep(t->fields[i].type))
        return true;
    return false;
  default:
    return false;
  }
}

static bool has_list(Type *t) {
  if (t->kind == TY_LIST)
    return true;
  if (t->kind == TY_OPTIONAL)
    return has_list(t->elem);
  for (int i = 0; t->kind == TY_RECORD && i < t->nfields; i++)
    if (has_list(t->fields[i].type))
      return true;
  return false;
}

/* Statements that make value [v] (in place) outlive the record, or with
 * [drop], that free what such a copy holds. */
static void val_keep(Emitter *e, CW *w, const char *v, Type *t, bool drop) {
  if (t->kind == TY_STRING) {
    if (drop)
      cw(w, "pspf_str_drop(%s);\n", v);
    else
      cw(w, "%s = pspf_str_keep(%s);\n", v, v);
  } else if (t->kind == TY_OPTIONAL && needs_keep(t->elem)) {
    cw(w, "if ((%s).has) {\n", v);
    w->indent++;
    val_keep(e, w, s_(e, "(%s).v", v), t->elem, drop);
    w->indent--;
    cw(w, "}\n");
  } else if (t->kind == TY_RECORD) {
    for (int i = 0; i < t->nfields; i++)
      val_keep(e, w, s_(e, "(%s).%s", v, cfield(e, t->fields[i].name)),
               t->fields[i].type, drop);
  }
}

/* True when [t]'s strings are plain fields (no optional holds one): then
 * val_replace() applies. */
static bool plain_strings(Type *t) {
  if (t->kind == TY_OPTIONAL)
    return !needs_keep(t->elem);
  if (t->kind == TY_RECORD)
    for (int i = 0; i < t->nfields; i++)
      if (!plain_strings(t->fields[i].type))
        return false;
  return true;
}

/* Statements making [nv] (of type [t]) the kept value replacing [old]
 * (kept when [has]): a string of [nv] that is [old]'s own (a reduce that
 * returned its accumulator, or kept some of its fields) stays as it is;
 * any other is kept, and the one of [old] it replaces dropped. */
static void val_replace(Emitter *e, CW *w, const char *nv, const char *old,
                        const char *has, Type *t) {
  if (t->kind == TY_STRING) {
    cw(w, "if (!%s || (%s).p != (%s).p) {\n  %s = pspf_str_keep(%s);\n  if "
       "(%s)\n    pspf_str_drop(%s);\n}\n", has, nv, old, nv, nv, has, old);
  } else if (t->kind == TY_RECORD) {
    for (int i = 0; i < t->nfields; i++) {
      const char *f = cfield(e, t->fields[i].name);
      val_replace(e, w, s_(e, "(%s).%s", nv, f), s_(e, "(%s).%s", old, f),
                  has, t->fields[i].type);
    }
  }
}

/* ---- checkpoints: serializers generated per state type -------------------- */

/* Statements appending value [v] of type [t] to the checkpoint being
 * written (pspf_buf_t *w): fixed-width scalars, strings with their
 * length, an optional's flag before its value, a record field by field. */
static void ck_put(Emitter *e, CW *w, const char *v, Type *t) {
  switch (t->kind) {
  case TY_FLOAT:
    cw(w, "pspf_ck_f64(w, %s);\n", v);
    break;
  case TY_BOOL:
    cw(w, "pspf_ck_bool(w, %s);\n", v);
    break;
  case TY_STRING:
    cw(w, "pspf_ck_str(w, %s);\n", v);
    break;
  case TY_OPTIONAL:
    cw(w, "pspf_ck_bool(w, (%s).has);\nif ((%s).has) {\n", v, v);
    w->indent++;
    ck_put(e, w, s_(e, "(%s).v", v), t->elem);
    w->indent--;
    cw(w, "}\n");
    break;
  case TY_RECORD:
    for (int i = 0; i < t->nfields; i++)
      ck_put(e, w, s_(e, "(%s).%s", v, cfield(e, t->fields[i].name)),
             t->fields[i].type);
    break;
  default: /* int, timestamp, duration */
    cw(w, "pspf_ck_i64(w, %s);\n", v);
    break;
  }
}

/* Statements reading lvalue [v] of type [t] back (pspf_ckr_t *r); strings
 * are copied out, owned by the state as pspf_str_keep() copies are. */
static void ck_get(Emitter *e, CW *w, const char *v, Type *t) {
  switch (t->kind) {
  case TY_FLOAT:
    cw(w, "%s = pspf_ckr_f64(r);\n", v);
    break;
  case TY_BOOL:
    cw(w, "%s = pspf_ckr_bool(r);\n", v);
    break;
  case TY_STRING:
    cw(w, "%s = pspf_str_keep(pspf_ckr_view(r));\n", v);
    break;
  case TY_OPTIONAL:
    cw(w, "(%s).has = pspf_ckr_bool(r);\nif ((%s).has) {\n", v, v);
    w->indent++;
    ck_get(e, w, s_(e, "(%s).v", v), t->elem);
    w->indent--;
    cw(w, "}\n");
    break;
  case TY_RECORD:
    for (int i = 0; i < t->nfields; i++)
      ck_get(e, w, s_(e, "(%s).%s", v, cfield(e, t->fields[i].name)),
             t->fields[i].type);
    break;
  default:
    cw(w, "%s = pspf_ckr_i64(r);\n", v);
    break;
  }
}

/* A duration as the layout shows it: "2000ms" for INT64_C(2000), else the
 * C expression (a param or let). */
static const char *unit_text(Emitter *e, const char *c, const char *unit) {
  long long v;
  int end = 0;
  if (sscanf(c, "INT64_C(%lld)%n", &v, &end) == 1 && end && c[end] == 0)
    return s_(e, "%lld%s", v, unit);
  return c;
}
#define ms_text(e, c) unit_text(e, c, "ms")

/* Which time a stage's windows run on, for the layout (processing time's
 * watermark is its clock, ptime_N: see processing_time()). */
static const char *time_kind(const FlowCtx *fc) {
  return fc->wm && strncmp(fc->wm, "ptime_", 6) == 0 ? "processing" : "event";
}

/* Statements prefetching the bytes of every string in value [v] of type
 * [t] (saving a table walks it in slot order, and each string it holds
 * is elsewhere: a cache miss a string, unless asked for ahead). */
static const char *prefetch_strs(Emitter *e, const char *v, Type *t) {
  switch (t->kind) {
  case TY_STRING:
    return s_(e, "__builtin_prefetch((%s).p);\n", v);
  case TY_OPTIONAL:
    return prefetch_strs(e, s_(e, "(%s).v", v), t->elem);
  case TY_RECORD: {
    const char *r = "";
    for (int i = 0; i < t->nfields; i++)
      r = s_(e, "%s%s", r,
             prefetch_strs(e, s_(e, "(%s).%s", v, cfield(e, t->fields[i].name)),
                           t->fields[i].type));
    return r;
  }
  default:
    return "";
  }
}

/* Registers state [id] for checkpoints: the emitted save_<id>(w) returns
 * the keys it holds, load_<id>(r) restores it into the empty state. */
static void ck_state(Emitter *e, int id, const char *layout, Node *at) {
  CkState *k = arena_alloc(A, sizeof *k);
  k->id = id;
  k->layout = layout;
  /* With workers: a watermark is every worker's; keyed state past a
   * key_by is split by key; any other state is the first worker's. */
  k->split = strncmp(layout, "event_time", 10) == 0 ||
                     strncmp(layout, "processing time", 15) == 0 ||
                     strncmp(layout, "merge watermarks", 16) == 0
                 ? "PSPF_STATE_SHARED"
             : e->cur_split == SPLIT_KEYED ? "PSPF_STATE_KEYED"
                                           : "PSPF_STATE_FIRST";
  k->where = s_(e, "%s:%d", e->c->src->path,
                source_line(e->c->src, at->loc.off));
  vec_push(A, &e->ck, k);
  /* held_<id>(): the keys (and open windows) it holds now, for /metrics:
   * a keyed table's length; a tumbling or sliding window's tables. */
  bool wins = strncmp(layout, "window tumbling", 15) == 0 ||
              strncmp(layout, "window sliding", 14) == 0;
  bool tab = strncmp(layout, "running ", 8) == 0 ||
             strncmp(layout, "window session", 14) == 0 ||
             strncmp(layout, "window count", 12) == 0 ||
             strncmp(layout, "dedupe ", 7) == 0;
  if (wins)
    cw(&e->state, "\nstatic uint64_t held_%d(uint64_t *windows) {\n  "
       "uint64_t keys = 0;\n  for (size_t i = 0; i < nwins_%d; i++)\n    "
       "keys += wins_%d[i].tab.len;\n  *windows = nwins_%d;\n  return "
       "keys;\n}\n", id, id, id, id);
  else if (tab)
    cw(&e->state, "\nstatic uint64_t held_%d(uint64_t *windows) {\n  "
       "(void)windows;\n  return tab_%d.len;\n}\n", id, id);
  k->held = wins || tab;
}

/* save_<name>() and load_<name>() of a heap of struct <name> { end, start,
 * [id,] key }: the array as it is, so that it pops in the same order. */
static void emit_heap_ck(Emitter *e, const char *name, Type *kt, bool id) {
  CW *w = &e->state;
  cw(w, "\nstatic void save_%s(pspf_buf_t *w) {\n", name);
  w->indent++;
  cw(w, "pspf_ck_u64(w, n%s);\n", name);
  cw(w, "for (size_t i = 0; i < n%s; i++) {\n", name);
  w->indent++;
  cw(w, "pspf_ck_i64(w, %s_heap[i].end);\npspf_ck_i64(w, %s_heap[i].start);\n",
     name, name);
  if (id)
    cw(w, "pspf_ck_u64(w, %s_heap[i].id);\n", name);
  ck_put(e, w, s_(e, "%s_heap[i].key", name), kt);
  w->indent--;
  cw(w, "}\n");
  w->indent--;
  cw(w, "}\n");
  cw(w, "\nstatic void load_%s(pspf_ckr_t *r) {\n", name);
  w->indent++;
  cw(w, "size_t n = pspf_ckr_count(r, 3);\nif (!n)\n  return;\n");
  cw(w, "%s_heap = pspf_state_alloc(n * sizeof *%s_heap);\nn%s = cap%s = n;\n",
     name, name, name, name);
  cw(w, "for (size_t i = 0; i < n; i++) {\n");
  w->indent++;
  cw(w, "%s_heap[i].end = pspf_ckr_i64(r);\n%s_heap[i].start = "
     "pspf_ckr_i64(r);\n", name, name);
  if (id)
    cw(w, "%s_heap[i].id = pspf_ckr_u64(r);\n", name);
  ck_get(e, w, s_(e, "%s_heap[i].key", name), kt);
  w->indent--;
  cw(w, "}\n");
  w->indent--;
  cw(w, "}\n");
}

/* A keyed table for stage [id]: struct st_ID { used, key, [payload] } in
 * an open-addressing table with linear probing, grown at 70% full;
 * find_ID() returns the entry of a key, adding it (zeroed) if new;
 * get_ID() only looks ([want_get]); del_ID() removes an entry by backward
 * shifting ([want_del]); clear_ID() frees everything. [payload_drop]
 * frees what an entry `s` holds besides its key, or is NULL.
 * For checkpoints, save_tab_ID() writes the table as it is laid out
 * (capacity, then each entry with its slot, key and payload: statements
 * [payload_save] on `s`) and load_tab_ID() puts every entry back in its
 * slot ([payload_load]), so that a restored table iterates, and so fires,
 * in the same order as the one saved. */
static void emit_table(Emitter *e, int id, Type *kt, const char *payload,
                       const char *payload_drop, const char *payload_save,
                       const char *payload_load, const char *payload_prefetch,
                       bool want_get, bool want_del) {
  CW *w = &e->state;
  const char *kc = ctype(e, kt);
  const char *h = key_hash(e, "key", kt);
  bool kd = needs_keep(kt);
  cw(w, "\nstruct st_%d {\n", id);
  w->indent++;
  cw(w, "bool used;\n%s key;\n%s", kc, payload);
  w->indent--;
  cw(w, "};\n");
  cw(w, "struct tab_%d {\n  struct st_%d *slots;\n  size_t cap, len;\n};\n",
     id, id);
  if (kd || payload_drop) {
    cw(w, "\nstatic void drop_%d(struct st_%d *s) {\n", id, id);
    w->indent++;
    val_keep(e, w, "s->key", kt, true);
    if (payload_drop)
      cw(w, "%s", payload_drop);
    w->indent--;
    cw(w, "}\n");
  }
  cw(w, "\nstatic struct st_%d *find_%d(struct tab_%d *t, %s key) {\n", id, id,
     id, kc);
  w->indent++;
  cw(w, "if ((t->len + 1) * 10 > t->cap * 7) {\n");
  w->indent++;
  cw(w, "size_t ncap = t->cap ? t->cap * 2 : 64;\n");
  cw(w, "struct st_%d *nt = pspf_state_alloc(ncap * sizeof *nt);\n", id);
  cw(w, "for (size_t i = 0; i < t->cap; i++) {\n");
  w->indent++;
  cw(w, "if (!t->slots[i].used)\n  continue;\n");
  cw(w, "size_t j = %s & (ncap - 1);\n", key_hash(e, "t->slots[i].key", kt));
  cw(w, "while (nt[j].used)\n  j = (j + 1) & (ncap - 1);\n");
  cw(w, "nt[j] = t->slots[i];\n");
  w->indent--;
  cw(w, "}\nfree(t->slots);\nt->slots = nt;\nt->cap = ncap;\n");
  w->indent--;
  cw(w, "}\n");
  cw(w, "for (size_t i = %s & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {\n",
     h);
  w->indent++;
  cw(w, "struct st_%d *s = &t->slots[i];\n", id);
  cw(w, "if (!s->used) {\n");
  w->indent++;
  cw(w, "s->used = true;\ns->key = key;\n");
  val_keep(e, w, "s->key", kt, false);
  cw(w, "t->len++;\nreturn s;\n");
  w->indent--;
  cw(w, "}\n");
  cw(w, "if (%s)\n  return s;\n", compare(e, OP_EQ, "s->key", "key", kt, kt));
  w->indent--;
  cw(w, "}\n");
  w->indent--;
  cw(w, "}\n");
  if (want_get) {
    cw(w, "\nstatic struct st_%d *get_%d(struct tab_%d *t, %s key) {\n", id,
       id, id, kc);
    w->indent++;
    cw(w, "if (!t->len)\n  return NULL;\n");
    cw(w, "for (size_t i = %s & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) "
       "{\n", h);
    w->indent++;
    cw(w, "struct st_%d *s = &t->slots[i];\n", id);
    cw(w, "if (!s->used)\n  return NULL;\n");
    cw(w, "if (%s)\n  return s;\n",
       compare(e, OP_EQ, "s->key", "key", kt, kt));
    w->indent--;
    cw(w, "}\n");
    w->indent--;
    cw(w, "}\n");
  }
  if (want_del) {
    cw(w, "\n/* Removes [s]: later entries of its probe run move back. */\n");
    cw(w, "static void del_%d(struct tab_%d *t, struct st_%d *s) {\n", id, id,
       id);
    w->indent++;
    if (kd || payload_drop)
      cw(w, "drop_%d(s);\n", id);
    cw(w, "size_t mask = t->cap - 1, i = (size_t)(s - t->slots);\n");
    cw(w, "for (size_t j = (i + 1) & mask; t->slots[j].used; j = (j + 1) & "
       "mask) {\n");
    w->indent++;
    cw(w, "size_t home = %s & mask;\n", key_hash(e, "t->slots[j].key", kt));
    cw(w, "if (((j - home) & mask) >= ((j - i) & mask)) {\n  t->slots[i] = "
       "t->slots[j];\n  i = j;\n}\n");
    w->indent--;
    cw(w, "}\n");
    cw(w, "memset(&t->slots[i], 0, sizeof t->slots[i]);\nt->len--;\n");
    w->indent--;
    cw(w, "}\n");
  }
  cw(w, "\nstatic uint64_t save_tab_%d(pspf_buf_t *w, const struct tab_%d "
     "*t) {\n", id, id);
  w->indent++;
  cw(w, "pspf_ck_u64(w, t->cap);\npspf_ck_u64(w, t->len);\n");
  cw(w, "for (size_t i = 0, at = 0; i < t->cap; i++) {\n");
  w->indent++;
  const char *pf = s_(e, "%s%s", prefetch_strs(e, "x->key", kt),
                      payload_prefetch ? payload_prefetch : "");
  if (*pf) {
    cw(w, "if (i + 16 < t->cap) { /* strings 16 slots ahead */\n");
    w->indent++;
    cw(w, "const struct st_%d *x = &t->slots[i + 16];\n%s", id, pf);
    w->indent--;
    cw(w, "}\n");
  }
  cw(w, "const struct st_%d *s = &t->slots[i];\nif (!s->used)\n  continue;\n"
     "pspf_ck_u64(w, i - at); /* the slot, after the last one */\nat = i;\n",
     id);
  ck_put(e, w, "s->key", kt);
  cw(w, "%s", payload_save);
  w->indent--;
  cw(w, "}\nreturn t->len;\n");
  w->indent--;
  cw(w, "}\n");
  cw(w, "\nstatic void load_tab_%d(pspf_ckr_t *r, struct tab_%d *t) {\n", id,
     id);
  w->indent++;
  cw(w, "size_t cap = pspf_ckr_count(r, 0), len = pspf_ckr_count(r, 2);\n");
  cw(w, "if ((cap & (cap - 1)) || cap > (SIZE_MAX >> 24) || len * 10 > cap * "
     "7) {\n  pspf_ckr_fail(r, \"a table's size is wrong\");\n  return;\n}\n");
  cw(w, "t->slots = cap ? pspf_state_alloc(cap * sizeof *t->slots) : NULL;\n"
     "t->cap = cap;\n");
  cw(w, "for (size_t k = 0, i = 0; k < len && !r->error; k++) {\n");
  w->indent++;
  cw(w, "i += (size_t)pspf_ckr_u64(r);\n");
  cw(w, "if (i >= cap || t->slots[i].used) {\n  pspf_ckr_fail(r, \"a table "
     "entry is out of place\");\n  return;\n}\n");
  cw(w, "struct st_%d *s = &t->slots[i];\ns->used = true;\nt->len++;\n", id);
  ck_get(e, w, "s->key", kt);
  cw(w, "%s", payload_load);
  w->indent--;
  cw(w, "}\n");
  w->indent--;
  cw(w, "}\n");
  if (e->table_merge) { /* --workers: another number of them */
    e->table_merge = false;
    cw(w, "\n/* Adds the entries of a table saved by another worker (the "
       "checkpoint\n * was taken with another number of them) that this "
       "worker owns. */\n");
    cw(w, "static void merge_tab_%d(pspf_ckr_t *r, struct tab_%d *t) {\n", id,
       id);
    w->indent++;
    cw(w, "(void)pspf_ckr_count(r, 0);\nsize_t len = pspf_ckr_count(r, 2);\n");
    cw(w, "for (size_t k = 0; k < len && !r->error; k++) {\n");
    w->indent++;
    cw(w, "(void)pspf_ckr_u64(r); /* the slot it had */\n");
    cw(w, "struct st_%d x, *s = &x;\nmemset(&x, 0, sizeof x);\nx.used = "
       "true;\n", id);
    ck_get(e, w, "s->key", kt);
    cw(w, "%s", payload_load);
    cw(w, "if (r->error || pspf_owner(%s, r->nworkers) != r->worker) {\n",
       key_hash(e, "x.key", kt));
    if (kd || payload_drop)
      cw(w, "  drop_%d(&x);\n", id);
    cw(w, "  continue;\n}\n");
    cw(w, "struct st_%d *d = find_%d(t, x.key);\n", id, id);
    val_keep(e, w, "d->key", kt, true);
    cw(w, "*d = x;\n");
    w->indent--;
    cw(w, "}\n");
    w->indent--;
    cw(w, "}\n");
  }
  cw(w, "\n/* Frees what table %d holds and empties it. */\n", id);
  cw(w, "static void clear_%d(struct tab_%d *t) {\n", id, id);
  w->indent++;
  if (kd || payload_drop)
    cw(w, "for (size_t i = 0; i < t->cap; i++)\n  if (t->slots[i].used)\n    "
       "drop_%d(&t->slots[i]);\n", id);
  cw(w, "free(t->slots);\n*t = (struct tab_%d){NULL, 0, 0};\n", id);
  w->indent--;
  cw(w, "}\n");
}

/* A min-heap of struct <name> ordered by (.end, .start): push_<name>()
 * and pop_<name>(). */
static void emit_heap(Emitter *e, const char *name) {
  CW *w = &e->state;
  const char *less = "(a.end < b.end || (a.end == b.end && a.start < b.start))";
  cw(w, "\nstatic PSPF_TLS struct %s *%s_heap;\nstatic PSPF_TLS size_t n%s, cap%s;\n", name,
     name, name, name);
  cw(w, "\nstatic bool less_%s(struct %s a, struct %s b) {\n  return %s;\n}\n",
     name, name, name, less);
  cw(w, "\nstatic void push_%s(struct %s d) {\n", name, name);
  w->indent++;
  cw(w, "if (n%s == cap%s) {\n", name, name);
  w->indent++;
  cw(w, "cap%s = cap%s ? cap%s * 2 : 64;\n", name, name, name);
  cw(w, "struct %s *nh = pspf_state_alloc(cap%s * sizeof *nh);\n", name, name);
  cw(w, "if (n%s)\n  memcpy(nh, %s_heap, n%s * sizeof *nh);\n", name, name,
     name);
  cw(w, "free(%s_heap);\n%s_heap = nh;\n", name, name);
  w->indent--;
  cw(w, "}\n");
  cw(w, "size_t i = n%s++;\n", name);
  cw(w, "while (i && less_%s(d, %s_heap[(i - 1) / 2])) {\n  %s_heap[i] = "
     "%s_heap[(i - 1) / 2];\n  i = (i - 1) / 2;\n}\n%s_heap[i] = d;\n", name,
     name, name, name, name);
  w->indent--;
  cw(w, "}\n");
  cw(w, "\nstatic struct %s pop_%s(void) {\n", name, name);
  w->indent++;
  cw(w, "struct %s top = %s_heap[0], d = %s_heap[--n%s];\n", name, name, name,
     name);
  cw(w, "size_t i = 0;\n");
  cw(w, "for (;;) {\n");
  w->indent++;
  cw(w, "size_t c = 2 * i + 1;\nif (c >= n%s)\n  break;\n", name);
  cw(w, "if (c + 1 < n%s && less_%s(%s_heap[c + 1], %s_heap[c]))\n  c++;\n",
     name, name, name, name);
  cw(w, "if (!less_%s(%s_heap[c], d))\n  break;\n", name, name);
  cw(w, "%s_heap[i] = %s_heap[c];\ni = c;\n", name, name);
  w->indent--;
  cw(w, "}\n");
  cw(w, "if (n%s)\n  %s_heap[i] = d;\nreturn top;\n", name, name);
  w->indent--;
  cw(w, "}\n");
}

/* One accumulator of an aggregate, or the value of a reduce or fold. */
enum {
  AG_COUNT, AG_SUM, AG_MIN, AG_MAX, AG_AVG, AG_FIRST, AG_LAST, AG_DISTINCT,
  AG_REDUCE, AG_FOLD
};
typedef struct Agg {
  const char *name; /* output field */
  int kind;         /* AG_* */
  Node *fn;         /* its function, or NULL for count */
  Node *init;       /* fold: the initial accumulator */
  Type *in;         /* the function's result type (the value kept) */
  Type *out;        /* the output field's type */
  int set;          /* count_distinct: the id of its set's table */
} Agg;

/* An aggregate stage's accumulators: struct acc_<id>. */
typedef struct Aggs {
  int id;
  Agg *a;
  int n;
  Type *elem;   /* the records aggregated */
  bool merges;  /* session windows: entries merge (acc_merge_<id>) */
  bool panes;   /* ... into a window made of panes: [from] stays as it is */
} Aggs;

static int agg_kind(const char *name) {
  static const char *const names[] = {"count", "sum",   "min",  "max",
                                      "avg",   "first", "last", "count_distinct"};
  for (int i = 0; i < 8; i++)
    if (strcmp(names[i], name) == 0)
      return i;
  return -1;
}

/* The accumulators of aggregate/reduce/fold stage [sg] over records of
 * type [t]; false (reported) if one is not supported. */
static bool collect_aggs(Emitter *e, Stage *sg, Type *t, bool windowed,
                         Aggs *g) {
  Node *n = sg->node;
  Type *out = sg->type->elem;
  g->id = ++e->tmp;
  g->elem = t;
  if (strcmp(n->name, "reduce") == 0 || strcmp(n->name, "fold") == 0) {
    bool fold = n->name[0] == 'f';
    g->n = 1;
    g->a = arena_alloc(A, sizeof *g->a);
    Agg *a = g->a;
    memset(a, 0, sizeof *a);
    a->name = "value";
    a->kind = fold ? AG_FOLD : AG_REDUCE;
    a->init = fold ? n->list.items[0] : NULL;
    a->fn = n->list.items[fold ? 1 : 0];
    if (a->fn->kind == ND_NAMED_ARG)
      a->fn = a->fn->a;
    if (a->init && a->init->kind == ND_NAMED_ARG)
      a->init = a->init->a;
    a->in = windowed ? out->fields[out->nfields - 1].type /* value */ : out;
    a->out = a->in;
  } else {
    g->n = n->list.len;
    g->a = arena_alloc(A, sizeof *g->a * (size_t)(g->n ? g->n : 1));
    for (int i = 0; i < g->n; i++) {
      Node *arg = n->list.items[i];
      Agg *a = &g->a[i];
      memset(a, 0, sizeof *a);
      a->name = arg->name;
      a->kind = agg_kind(arg->a->name);
      a->fn = arg->a->list.len ? arg->a->list.items[0] : NULL;
      a->in = a->fn ? (a->fn->kind == ND_LAMBDA ? a->fn->b->type
                                                : a->fn->sym->type)
                    : &ty_int;
      a->out = type_field(out, a->name)->type;
    }
  }
  for (int i = 0; i < g->n; i++) {
    Agg *a = &g->a[i];
    if (has_list(a->in)) {
      unsupported(e, n->loc, "a list kept in keyed state");
      return false;
    }
    if (a->kind == AG_DISTINCT) {
      a->set = ++e->tmp;
      cw(&e->state, "\n/* The distinct values of %s. */", a->name);
      emit_table(e, a->set, a->in, "", NULL, "", "", NULL, false, false);
    }
  }
  return true;
}

/* save_acc_<id>() and load_acc_<id>(): the accumulators of [g]. */
static void emit_acc_ck(Emitter *e, Aggs *g) {
  CW *w = &e->state;
  int id = g->id;
  for (int pass = 0; pass < 2; pass++) {
    bool save = pass == 0;
    if (save)
      cw(w, "\nstatic void save_acc_%d(pspf_buf_t *w, const struct acc_%d "
         "*a) {\n", id, id);
    else
      cw(w, "\nstatic void load_acc_%d(pspf_ckr_t *r, struct acc_%d *a) {\n",
         id, id);
    w->indent++;
    cw(w, "(void)a;\n");
    for (int i = 0; i < g->n; i++) {
      Agg *a = &g->a[i];
      const char *v = s_(e, "a->a%d", i);
      switch (a->kind) {
      case AG_COUNT:
        cw(w, save ? "pspf_ck_i64(w, %s);\n" : "%s = pspf_ckr_i64(r);\n", v);
        break;
      case AG_AVG:
        if (save)
          cw(w, "pspf_ck_f64(w, %s);\npspf_ck_i64(w, a->n%d);\n", v, i);
        else
          cw(w, "%s = pspf_ckr_f64(r);\na->n%d = pspf_ckr_i64(r);\n", v, i);
        break;
      case AG_SUM:
        if (save)
          ck_put(e, w, v, a->in);
        else
          ck_get(e, w, v, a->in);
        break;
      case AG_DISTINCT:
        cw(w, save ? "save_tab_%d(w, &%s);\n" : "load_tab_%d(r, &%s);\n",
           a->set, v);
        break;
      case AG_FOLD:
        if (g->merges) { /* the session's records and their arrival */
          if (save) {
            cw(w, "pspf_ck_u64(w, a->n%d);\n", i);
            cw(w, "for (size_t i = 0; i < a->n%d; i++) {\n", i);
            w->indent++;
            ck_put(e, w, s_(e, "a->a%d[i]", i), g->elem);
            cw(w, "pspf_ck_u64(w, a->q%d[i]);\n", i);
          } else {
            cw(w, "a->n%d = a->cap%d = pspf_ckr_count(r, 2);\n", i, i);
            cw(w, "if (a->n%d) {\n", i);
            w->indent++;
            cw(w, "a->a%d = pspf_state_alloc(a->n%d * sizeof *a->a%d);\n"
               "a->q%d = pspf_state_alloc(a->n%d * sizeof *a->q%d);\n", i, i,
               i, i, i, i);
            w->indent--;
            cw(w, "}\n");
            cw(w, "for (size_t i = 0; i < a->n%d; i++) {\n", i);
            w->indent++;
            ck_get(e, w, s_(e, "a->a%d[i]", i), g->elem);
            cw(w, "a->q%d[i] = pspf_ckr_u64(r);\n", i);
          }
          w->indent--;
          cw(w, "}\n");
          break;
        }
        /* fallthrough */
      default:
        if (save)
          cw(w, "pspf_ck_bool(w, a->h%d);\nif (a->h%d) {\n", i, i);
        else
          cw(w, "a->h%d = pspf_ckr_bool(r);\nif (a->h%d) {\n", i, i);
        w->indent++;
        if (save)
          ck_put(e, w, v, a->in);
        else
          ck_get(e, w, v, a->in);
        w->indent--;
        cw(w, "}\n");
        if (g->merges && (a->kind == AG_FIRST || a->kind == AG_LAST))
          cw(w, save ? "pspf_ck_u64(w, a->q%d);\n"
                     : "a->q%d = pspf_ckr_u64(r);\n", i);
        break;
      }
    }
    w->indent--;
    cw(w, "}\n");
  }
}

/* Prefetches of the strings the accumulators [acc] of [g] hold. */
static const char *acc_prefetch(Emitter *e, Aggs *g, const char *acc) {
  const char *r = "";
  for (int i = 0; i < g->n; i++) {
    Agg *a = &g->a[i];
    if (a->kind == AG_COUNT || a->kind == AG_AVG || a->kind == AG_DISTINCT ||
        (a->kind == AG_FOLD && g->merges))
      continue;
    r = s_(e, "%s%s", r, prefetch_strs(e, s_(e, "%s.a%d", acc, i), a->in));
  }
  return r;
}

/* What accumulators [g] keep, for the checkpoint layout. */
static const char *agg_layout(Emitter *e, Aggs *g) {
  static const char *const kinds[] = {"count", "sum", "min", "max", "avg",
                                      "first", "last", "count_distinct",
                                      "reduce", "fold"};
  const char *r = "";
  for (int i = 0; i < g->n; i++) {
    Agg *a = &g->a[i];
    r = s_(e, "%s%s%s %s %s", r, i ? ", " : "", a->name, kinds[a->kind],
           type_str_full(A, a->in));
    if (a->kind == AG_FOLD && g->merges)
      r = s_(e, "%s of %s", r, type_str_full(A, g->elem));
  }
  return r;
}

/* struct acc_<id>, and acc_drop_<id>() / acc_merge_<id>() as needed;
 * true if there is an acc_drop_<id>(). */
static bool emit_acc(Emitter *e, Aggs *g) {
  CW *w = &e->state;
  int id = g->id;
  cw(w, "\n/* Accumulators of stage %d. */\n", id);
  cw(w, "struct acc_%d {\n", id);
  w->indent++;
  bool drops = false;
  for (int i = 0; i < g->n; i++) {
    Agg *a = &g->a[i];
    switch (a->kind) {
    case AG_COUNT:
      cw(w, "int64_t a%d; /* %s: count */\n", i, a->name);
      break;
    case AG_AVG:
      cw(w, "double a%d; /* %s: sum for avg */\nint64_t n%d;\n", i, a->name,
         i);
      break;
    case AG_SUM:
      cw(w, "%s a%d; /* %s */\n", ctype(e, a->in), i, a->name);
      break;
    case AG_DISTINCT:
      cw(w, "struct tab_%d a%d; /* %s: distinct values */\n", a->set, i,
         a->name);
      drops = true;
      break;
    case AG_FOLD:
      if (g->merges) { /* sessions merge, folds cannot: keep the records */
        cw(w, "%s *a%d; /* the session's records, folded as it fires */\n"
           "uint64_t *q%d; /* their arrival */\nsize_t n%d, cap%d;\n",
           ctype(e, g->elem), i, i, i, i);
        drops = true;
        break;
      }
      /* fallthrough */
    default:
      cw(w, "%s a%d; /* %s */\nbool h%d;\n", ctype(e, a->in), i, a->name, i);
      if (g->merges && (a->kind == AG_FIRST || a->kind == AG_LAST))
        cw(w, "uint64_t q%d; /* arrival of the value */\n", i);
      drops |= needs_keep(a->in);
      break;
    }
  }
  w->indent--;
  cw(w, "};\n");
  emit_acc_ck(e, g);
  if (drops) {
    cw(w, "\nstatic void acc_drop_%d(struct acc_%d *a) {\n", id, id);
    w->indent++;
    for (int i = 0; i < g->n; i++) {
      Agg *a = &g->a[i];
      if (a->kind == AG_DISTINCT) {
        cw(w, "clear_%d(&a->a%d);\n", a->set, i);
      } else if (a->kind == AG_FOLD && g->merges) {
        if (needs_keep(g->elem)) {
          cw(w, "for (size_t i = 0; i < a->n%d; i++) {\n", i);
          w->indent++;
          val_keep(e, w, s_(e, "a->a%d[i]", i), g->elem, true);
          w->indent--;
          cw(w, "}\n");
        }
        cw(w, "free(a->a%d);\nfree(a->q%d);\n", i, i);
      } else if (a->kind != AG_COUNT && a->kind != AG_AVG &&
                 a->kind != AG_SUM && needs_keep(a->in)) {
        cw(w, "if (a->h%d) {\n", i);
        w->indent++;
        val_keep(e, w, s_(e, "a->a%d", i), a->in, true);
        w->indent--;
        cw(w, "}\n");
      }
    }
    w->indent--;
    cw(w, "}\n");
  }
  if (!g->merges)
    return drops;
  /* Session windows merge: [from] goes into [to], then is left empty; a
   * window made of panes leaves [from], a pane, as it is. */
  cw(w, "\nstatic void acc_merge_%d(pspf_ctx_t *ctx, struct acc_%d *to, "
     "struct acc_%d *from) {\n", id, id, id);
  w->indent++;
  cw(w, "(void)ctx;\n");
  for (int i = 0; i < g->n; i++) {
    Agg *a = &g->a[i];
    const char *t = s_(e, "to->a%d", i), *f = s_(e, "from->a%d", i);
    bool keep = needs_keep(a->in);
    switch (a->kind) {
    case AG_COUNT:
      cw(w, "%s += %s;\n", t, f);
      break;
    case AG_SUM:
      if (a->in->kind == TY_FLOAT)
        cw(w, "%s += %s;\n", t, f);
      else
        cw(w, "%s = pspf_add_i64(ctx, %s, %s);\n", t, t, f);
      break;
    case AG_AVG:
      cw(w, "%s += %s;\nto->n%d += from->n%d;\n", t, f, i, i);
      break;
    case AG_FOLD: {
      /* Both record lists are in arrival order: merge them. */
      const char *ec = ctype(e, g->elem);
      cw(w, "{\n");
      w->indent++;
      cw(w, "size_t n = to->n%d + from->n%d, i = 0, j = 0, k = 0;\n", i, i);
      cw(w, "%s *r = pspf_state_alloc((n ? n : 1) * sizeof *r);\n", ec);
      cw(w, "uint64_t *q = pspf_state_alloc((n ? n : 1) * sizeof *q);\n");
      cw(w, "while (i < to->n%d || j < from->n%d) {\n", i, i);
      w->indent++;
      cw(w, "if (j == from->n%d || (i < to->n%d && to->q%d[i] < "
         "from->q%d[j])) {\n  r[k] = to->a%d[i];\n  q[k++] = to->q%d[i++];\n"
         "} else {\n  r[k] = from->a%d[j];\n  q[k++] = from->q%d[j++];\n}\n",
         i, i, i, i, i, i, i, i);
      w->indent--;
      cw(w, "}\n");
      cw(w, "free(to->a%d);\nfree(to->q%d);\nfree(from->a%d);\nfree(from->q%d);"
         "\n", i, i, i, i);
      cw(w, "to->a%d = r;\nto->q%d = q;\nto->n%d = to->cap%d = n;\n", i, i, i,
         i);
      cw(w, "from->a%d = NULL;\nfrom->q%d = NULL;\nfrom->n%d = from->cap%d = "
         "0;\n", i, i, i, i);
      w->indent--;
      cw(w, "}\n");
      break;
    }
    case AG_DISTINCT:
      cw(w, "for (size_t i = 0; i < %s.cap; i++)\n  if (%s.slots[i].used)\n"
         "    find_%d(&%s, %s.slots[i].key);\nclear_%d(&%s);\n", f, f, a->set,
         t, f, a->set, f);
      break;
    default: {
      /* Whether [from]'s value replaces [to]'s. */
      const char *take;
      if (a->kind == AG_MIN || a->kind == AG_MAX)
        take = s_(e, "from->h%d && (!to->h%d || %s)", i, i,
                  compare(e, a->kind == AG_MIN ? OP_LT : OP_GT, f, t, a->in,
                          a->in));
      else if (a->kind == AG_FIRST)
        take = s_(e, "from->h%d && (!to->h%d || from->q%d < to->q%d)", i, i,
                  i, i);
      else if (a->kind == AG_LAST)
        take = s_(e, "from->h%d && (!to->h%d || from->q%d > to->q%d)", i, i,
                  i, i);
      else /* reduce: [to] is the earlier session */
        take = NULL;
      if (take) {
        cw(w, "if (%s) {\n", take);
        w->indent++;
        if (keep)
          cw(w, "if (to->h%d) {\n", i);
        if (keep) {
          w->indent++;
          val_keep(e, w, t, a->in, true);
          w->indent--;
          cw(w, "}\n");
        }
        cw(w, "%s = %s;\nto->h%d = true;\n", t, f, i);
        if (a->kind == AG_FIRST || a->kind == AG_LAST)
          cw(w, "to->q%d = from->q%d;\n", i, i);
        if (!g->panes)
          cw(w, "from->h%d = false;\n", i);
        w->indent--;
        cw(w, "}\n");
      } else {
        Type *ts[2] = {a->in, a->in};
        const char *args[2] = {t, f};
        cw(w, "if (from->h%d && !to->h%d) {\n  %s = %s;\n  to->h%d = true;\n"
           "  from->h%d = false;\n} else if (from->h%d) {\n", i, i, t, f, i, i,
           i);
        w->indent++;
        cw(w, "%s v = %s;\n", ctype(e, a->in),
           lambda_body(e, a->fn, args, 2, ts, a->in));
        val_keep(e, w, "v", a->in, false);
        val_keep(e, w, t, a->in, true);
        cw(w, "%s = v;\n", t);
        w->indent--;
        cw(w, "}\n");
      }
      break;
    }
    }
  }
  if (drops)
    cw(w, "acc_drop_%d(from);\n", id);
  w->indent--;
  cw(w, "}\n");
  if (g->a[0].kind == AG_FOLD) {
    Agg *a = &g->a[0];
    cw(w, "\n/* The fold of a session's records, in arrival order. */\n");
    cw(w, "static %s fold_%d(pspf_ctx_t *ctx, const struct acc_%d *a) {\n",
       ctype(e, a->in), id, id);
    w->indent++;
    cw(w, "%s acc = %s;\n", ctype(e, a->in),
       coerce(e, expr(e, a->init, NULL), a->init->type, a->in));
    Type *ts[2] = {a->in, g->elem};
    const char *args[2] = {"acc", "a->a0[i]"};
    cw(w, "for (size_t i = 0; i < a->n0 && !ctx->fault; i++)\n  acc = %s;\n",
       lambda_body(e, a->fn, args, 2, ts, a->in));
    cw(w, "return acc;\n");
    w->indent--;
    cw(w, "}\n");
  }
  return drops;
}

/* Evaluates each accumulator's function once on record [v]:
 * x<id>_<i> (reduce and fold need the state: see agg_update). */
static void agg_inputs(Emitter *e, Aggs *g, const char *v, Type *t,
                       FlowCtx *fc) {
  for (int i = 0; i < g->n; i++) {
    Agg *a = &g->a[i];
    if (a->fn && a->kind != AG_REDUCE && a->kind != AG_FOLD)
      cw(&e->w, "%s x%d_%d = %s;\n", ctype(e, a->in), g->id, i,
         lambda_body(e, a->fn, &v, 1, &t, a->in));
  }
  check_fault(e, fc);
}

/* Updates accumulators [acc] (a struct acc_<id> *) with record [v]: new
 * values first, and the state changes only if no fault came up. */
static void agg_update(Emitter *e, Aggs *g, const char *acc, const char *v,
                       FlowCtx *fc) {
  CW *w = &e->w;
  int id = g->id;
  for (int i = 0; i < g->n; i++) {
    Agg *a = &g->a[i];
    const char *st = s_(e, "%s->a%d", acc, i);
    const char *has = s_(e, "%s->h%d", acc, i);
    const char *x = s_(e, "x%d_%d", id, i);
    const char *nv = s_(e, "n%d_%d", id, i);
    switch (a->kind) {
    case AG_COUNT:
      cw(w, "int64_t %s = %s + 1;\n", nv, st);
      break;
    case AG_SUM:
      if (a->in->kind == TY_FLOAT)
        cw(w, "double %s = %s + %s;\n", nv, st, x);
      else
        cw(w, "int64_t %s = pspf_add_i64(ctx, %s, %s);\n", nv, st, x);
      break;
    case AG_MIN:
    case AG_MAX:
      cw(w, "bool %s = !%s || %s;\n", nv, has,
         compare(e, a->kind == AG_MIN ? OP_LT : OP_GT, x, st, a->in, a->in));
      break;
    case AG_AVG:
      cw(w, "double %s = %s + (double)(%s);\n", nv, st, x);
      break;
    case AG_REDUCE: {
      Type *ts[2] = {a->in, g->elem};
      const char *args[2] = {st, v};
      cw(w, "%s %s = %s ? %s : %s;\n", ctype(e, a->in), nv, has,
         lambda_body(e, a->fn, args, 2, ts, a->in), v);
      break;
    }
    case AG_FOLD: {
      if (g->merges)
        break; /* kept as records, folded when the session fires */
      Type *ts[2] = {a->in, g->elem};
      const char *init = coerce(e, expr(e, a->init, NULL), a->init->type,
                                a->in);
      const char *args[2] = {s_(e, "(%s ? %s : %s)", has, st, init), v};
      cw(w, "%s %s = %s;\n", ctype(e, a->in), nv,
         lambda_body(e, a->fn, args, 2, ts, a->in));
      break;
    }
    default:
      break;
    }
  }
  check_fault(e, fc);
  for (int i = 0; i < g->n; i++) {
    Agg *a = &g->a[i];
    const char *st = s_(e, "%s->a%d", acc, i);
    const char *has = s_(e, "%s->h%d", acc, i);
    const char *x = s_(e, "x%d_%d", id, i);
    const char *nv = s_(e, "n%d_%d", id, i);
    bool keep = needs_keep(a->in);
    const char *seq = g->merges && (a->kind == AG_FIRST || a->kind == AG_LAST)
                          ? s_(e, "%s->q%d = seq_%d;\n", acc, i, id)
                          : "";
    switch (a->kind) {
    case AG_COUNT:
    case AG_SUM:
      cw(w, "%s = %s;\n", st, nv);
      break;
    case AG_AVG:
      cw(w, "%s = %s;\n%s->n%d++;\n", st, nv, acc, i);
      break;
    case AG_DISTINCT:
      cw(w, "find_%d(&%s, %s);\n", a->set, st, x);
      break;
    case AG_MIN:
    case AG_MAX:
    case AG_FIRST:
    case AG_LAST:
      if (a->kind == AG_FIRST)
        cw(w, "if (!%s) {\n", has);
      else if (a->kind == AG_LAST)
        cw(w, "{\n");
      else
        cw(w, "if (%s) {\n", nv);
      w->indent++;
      if (keep && a->kind != AG_FIRST) {
        cw(w, "if (%s) {\n", has);
        w->indent++;
        val_keep(e, w, st, a->in, true);
        w->indent--;
        cw(w, "}\n");
      }
      cw(w, "%s = %s;\n", st, x);
      if (keep)
        val_keep(e, w, st, a->in, false);
      cw(w, "%s = true;\n%s", has, seq);
      w->indent--;
      cw(w, "}\n");
      break;
    case AG_FOLD:
      if (g->merges) {
        cw(w, "if (%s->n%d == %s->cap%d) {\n", acc, i, acc, i);
        w->indent++;
        cw(w, "size_t cap = %s->cap%d ? %s->cap%d * 2 : 8;\n", acc, i, acc, i);
        cw(w, "%s *r = pspf_state_alloc(cap * sizeof *r);\n",
           ctype(e, g->elem));
        cw(w, "uint64_t *q = pspf_state_alloc(cap * sizeof *q);\n");
        cw(w, "if (%s->n%d) {\n  memcpy(r, %s->a%d, %s->n%d * sizeof *r);\n"
           "  memcpy(q, %s->q%d, %s->n%d * sizeof *q);\n}\n", acc, i, acc, i,
           acc, i, acc, i, acc, i);
        cw(w, "free(%s->a%d);\nfree(%s->q%d);\n%s->a%d = r;\n%s->q%d = q;\n"
           "%s->cap%d = cap;\n", acc, i, acc, i, acc, i, acc, i, acc, i);
        w->indent--;
        cw(w, "}\n");
        const char *slot = s_(e, "%s->a%d[%s->n%d]", acc, i, acc, i);
        cw(w, "%s = %s;\n", slot, v);
        val_keep(e, w, slot, g->elem, false);
        cw(w, "%s->q%d[%s->n%d++] = seq_%d;\n", acc, i, acc, i, id);
        break;
      }
      /* fallthrough */
    case AG_REDUCE:
      if (keep && plain_strings(a->in)) {
        val_replace(e, w, nv, st, has, a->in);
      } else if (keep) {
        val_keep(e, w, nv, a->in, false);
        cw(w, "if (%s) {\n", has);
        w->indent++;
        val_keep(e, w, st, a->in, true);
        w->indent--;
        cw(w, "}\n");
      }
      cw(w, "%s = %s;\n%s = true;\n", st, nv, has);
      break;
    }
  }
}

/* ", .f_name = value" for each accumulator of [acc]. */
static const char *agg_fields(Emitter *e, Aggs *g, const char *acc) {
  const char *r = "";
  for (int i = 0; i < g->n; i++) {
    Agg *a = &g->a[i];
    const char *val;
    Type *vt = a->in;
    if (a->kind == AG_AVG) {
      val = s_(e, "%s->a%d / (double)%s->n%d", acc, i, acc, i);
      vt = &ty_float;
    } else if (a->kind == AG_DISTINCT) {
      val = s_(e, "(int64_t)%s->a%d.len", acc, i);
      vt = &ty_int;
    } else if (a->kind == AG_FOLD && g->merges) {
      val = s_(e, "fold_%d(ctx, %s)", g->id, acc);
    } else {
      val = s_(e, "%s->a%d", acc, i);
    }
    r = s_(e, "%s, .%s = %s", r, cfield(e, a->name),
           coerce(e, val, vt, a->out));
  }
  return r;
}

/* The C expression of a stage's output record [oc] for accumulators
 * [acc], with key [key] (or NULL) and window bounds (or NULL). */
static const char *agg_record(Emitter *e, Aggs *g, const char *oc,
                              const char *key, const char *start,
                              const char *end, const char *acc) {
  const char *f = agg_fields(e, g, acc);
  const char *head = "";
  if (key)
    head = s_(e, ".f_key = %s", key);
  if (start)
    head = s_(e, "%s%s.f_start = %s, .f_end = %s", head, key ? ", " : "",
              start, end);
  if (!*head)
    f += 2; /* no leading ", " */
  return s_(e, "((%s){%s%s})", oc, head, f);
}

/* State that is one keyed table, tab_<id> (emit_table() with
 * e->table_merge): save_<id>() and load_<id>(), which merges another
 * number of workers' tables. */
static void emit_keyed_table_state(Emitter *e, int id) {
  CW *w = &e->state;
  cw(w, "static PSPF_TLS struct tab_%d tab_%d;\n", id, id);
  cw(w, "\nstatic uint64_t save_%d(pspf_buf_t *w) {\n  return "
     "save_tab_%d(w, &tab_%d);\n}\n", id, id, id);
  cw(w, "\nstatic void load_%d(pspf_ckr_t *r) {\n  if (r->merge)\n"
     "    merge_tab_%d(r, &tab_%d);\n  else\n    load_tab_%d(r, &tab_%d);\n}\n",
     id, id, id, id, id);
}

/* key_by(...) |> aggregate | reduce | fold: one updated result a record. */
static void emit_running(Emitter *e, Chain *ch, int from, const char *v,
                         Type *t, FlowCtx *fc) {
  Stage *sg = ch->stages.items[from];
  Type *out = sg->type->elem;
  Aggs g = {0};
  if (!collect_aggs(e, sg, t, false, &g))
    return;
  int id = g.id;
  bool drops = emit_acc(e, &g);
  e->table_merge = true;
  emit_table(e, id, fc->key_type, s_(e, "struct acc_%d acc;\n", id),
             drops ? s_(e, "acc_drop_%d(&s->acc);\n", id) : NULL,
             s_(e, "save_acc_%d(w, &s->acc);\n", id),
             s_(e, "load_acc_%d(r, &s->acc);\n", id),
             acc_prefetch(e, &g, "x->acc"), false, false);
  emit_keyed_table_state(e, id);
  ck_state(e, id, s_(e, "running %s key %s: %s", sg->node->name,
                     type_str_full(A, fc->key_type), agg_layout(e, &g)),
           sg->node);
  vec_push(A, &e->frees, (void *)s_(e, "clear_%d(&tab_%d)", id, id));
  agg_inputs(e, &g, v, t, fc);
  const char *sp = s_(e, "s%d", id);
  cw(&e->w, "struct st_%d *%s = find_%d(&tab_%d, %s);\n", id, sp, id, id,
     fc->key);
  agg_update(e, &g, s_(e, "(&%s->acc)", sp), v, fc);
  const char *nv = s_(e, "v%d", ++e->tmp);
  const char *val;
  if (g.a[0].kind == AG_REDUCE || g.a[0].kind == AG_FOLD)
    val = s_(e, "%s->acc.a0", sp);
  else
    val = agg_record(e, &g, ctype(e, out), s_(e, "%s->key", sp), NULL, NULL,
                     s_(e, "(&%s->acc)", sp));
  cw(&e->w, "%s %s = %s;\n", ctype(e, out), nv, val);
  back_to_c(e);
  FlowCtx inner = *fc;
  inner.key = NULL;
  emit_stages(e, ch, from + 1, nv, out, &inner);
}

/* The late: sink of window call [wn], or NULL. */
static Symbol *late_sink(Node *wn) {
  for (int i = 0; i < wn->list.len; i++)
    if (wn->list.items[i]->kind == ND_NAMED_ARG &&
        strcmp(wn->list.items[i]->name, "late") == 0)
      return wn->list.items[i]->a->sym;
  return NULL;
}

/* Statements for a late record [v]: counted, and sent to the late sink.
 * A window in a named stream is expanded into each pipeline that reads
 * it, with the same decisions: only the first expansion does this. */
static void emit_late(Emitter *e, Node *wn, const char *v) {
  for (int i = 0; i < e->late_done.len; i++)
    if (e->late_done.items[i] == wn) {
      cw(&e->w, "/* late: counted where the named stream is first read */\n");
      return;
    }
  vec_push(A, &e->late_done, wn);
  cw(&e->w, "ctx->late++;\n");
  Symbol *late = late_sink(wn);
  if (late)
    cw(&e->w, "%s(ctx, &%s);\n", sym_c(e, "write", late), v);
}

/* What follows a window's aggregate runs when a window fires:
 * after_<id>(ctx, &result), stages [from..] of [ch]. */
static void emit_after(Emitter *e, Chain *ch, int from, int id, Type *out,
                       const char *wm, const char *src) {
  const char *oc = ctype(e, out);
  cw(&e->state, "\nstatic void after_%d(pspf_ctx_t *ctx, const %s *in);\n", id,
     oc);
  CW saved = e->w;
  CW aw = {0};
  aw.a = A;
  aw.at_bol = true;
  e->w = aw;
  cw(&e->w, "\nstatic void after_%d(pspf_ctx_t *ctx, const %s *in) {\n", id,
     oc);
  e->w.indent++;
  FlowCtx inner = {0, s_(e, "bad_%d", id), NULL, NULL, NULL, NULL, NULL,
                   NULL, 0, SPLIT_FIRST, false};
  inner.ts = "((*in).f_end - 1)";
  inner.wm = wm;
  /* A window inside a merge's tail: the merged sources are not known
   * here; a merge downstream counts the record as the first source's. */
  inner.src = src && strcmp(src, "src") != 0 ? src : "0";
  cw(&e->w, "%s v = *in;\n", oc);
  emit_stages(e, ch, from, "v", out, &inner);
  cw(&e->w, "return;\n");
  e->w.indent--;
  cw(&e->w, "bad_%d:\n  pspf_bad_record(ctx);\n}\n", id);
  aw = e->w;
  e->w = saved;
  cw_raw(&e->state, aw.buf ? aw.buf : "", aw.len);
  free(aw.buf);
}

/* window(tumbling | sliding) |> aggregate | reduce | fold, on event time:
 * the record goes into every window that contains its time and has not
 * fired; a record with none left is late. Windows whose end the
 * watermark has reached fire in ascending (end, start), then leave the
 * state. */
static void emit_time_windows(Emitter *e, Chain *ch, int from, const char *v,
                              Type *t, FlowCtx *fc, Aggs *g) {
  Stage *wsg = ch->stages.items[from];
  WindowSpec *ws = wsg->type->window;
  Type *out = ((Stage *)ch->stages.items[from + 1])->type->elem;
  Type *kt = fc->key ? fc->key_type : &ty_bool;
  const char *key = fc->key ? fc->key : "false";
  int id = g->id;
  const char *size = expr(e, ws->size, NULL);
  const char *every = ws->kind == WIN_SLIDING ? expr(e, ws->every, NULL) : size;
  /* Panes: a sliding window whose size is a multiple of its step keeps
   * one table a step (a record goes into one, not into size / every), and
   * a window is made of its panes when it fires. For accumulators that
   * merge without taking from the panes and without an order (count, sum,
   * avg, min and max of numbers). */
  long long nsize = 0, nevery = 0;
  bool panes = ws->kind == WIN_SLIDING &&
               sscanf(size, "INT64_C(%lld)", &nsize) == 1 &&
               sscanf(every, "INT64_C(%lld)", &nevery) == 1 && nevery > 0 &&
               nsize > nevery && nsize % nevery == 0;
  for (int i = 0; panes && i < g->n; i++) {
    Agg *a = &g->a[i];
    panes = a->kind != AG_FOLD && a->kind != AG_DISTINCT &&
            a->kind != AG_FIRST && a->kind != AG_LAST &&
            (a->kind == AG_COUNT || !needs_keep(a->in));
  }
  if (panes)
    g->merges = g->panes = true;
  bool drops = emit_acc(e, g);
  e->table_merge = true;
  emit_table(e, id, kt, s_(e, "struct acc_%d acc;\n", id),
             drops ? s_(e, "acc_drop_%d(&s->acc);\n", id) : NULL,
             s_(e, "save_acc_%d(w, &s->acc);\n", id),
             s_(e, "load_acc_%d(r, &s->acc);\n", id),
             acc_prefetch(e, g, "x->acc"), false, false);
  CW *w = &e->state;
  const char *oc = ctype(e, out);
  cw(w, "\n/* Open windows of stage %d, by ascending start. */\n", id);
  cw(w, "struct win_%d {\n  int64_t start;\n  struct tab_%d tab;\n};\n", id,
     id);
  cw(w, "static PSPF_TLS struct win_%d *wins_%d;\nstatic PSPF_TLS size_t nwins_%d, capwins_%d;\n",
     id, id, id, id);
  if (panes) { /* emptied pane tables, kept with their size */
    cw(w, "static PSPF_TLS struct tab_%d pool_%d[8];\nstatic PSPF_TLS int "
       "npool_%d;\n", id, id, id);
    cw(w, "\n/* Empties table %d, keeping its slots. */\nstatic void "
       "reset_%d(struct tab_%d *t) {\n", id, id, id);
    w->indent++;
    if (needs_keep(kt))
      cw(w, "for (size_t i = 0; i < t->cap; i++)\n  if (t->slots[i].used)\n"
         "    drop_%d(&t->slots[i]);\n", id);
    cw(w, "if (t->cap)\n  memset(t->slots, 0, t->cap * sizeof *t->slots);\n"
       "t->len = 0;\n");
    w->indent--;
    cw(w, "}\n");
  }
  cw(w, "static PSPF_TLS size_t lastwin_%d; /* where the last one was */\n",
     id);
  cw(w, "\nstatic struct tab_%d *win_%d(int64_t start) {\n", id, id);
  w->indent++;
  cw(w, "if (lastwin_%d < nwins_%d && wins_%d[lastwin_%d].start == start)\n"
     "  return &wins_%d[lastwin_%d].tab; /* most records: the same window */\n",
     id, id, id, id, id, id);
  cw(w, "size_t lo = 0, hi = nwins_%d;\n", id);
  cw(w, "while (lo < hi) {\n  size_t mid = (lo + hi) / 2;\n  if (wins_%d[mid]."
     "start < start)\n    lo = mid + 1;\n  else\n    hi = mid;\n}\n", id);
  cw(w, "lastwin_%d = lo;\n", id);
  cw(w, "if (lo < nwins_%d && wins_%d[lo].start == start)\n  return "
     "&wins_%d[lo].tab;\n", id, id, id);
  cw(w, "if (nwins_%d == capwins_%d) {\n", id, id);
  w->indent++;
  cw(w, "capwins_%d = capwins_%d ? capwins_%d * 2 : 16;\n", id, id, id);
  cw(w, "struct win_%d *nw = pspf_state_alloc(capwins_%d * sizeof *nw);\n", id,
     id);
  cw(w, "if (nwins_%d)\n  memcpy(nw, wins_%d, nwins_%d * sizeof *nw);\n", id,
     id, id);
  cw(w, "free(wins_%d);\nwins_%d = nw;\n", id, id);
  w->indent--;
  cw(w, "}\n");
  cw(w, "memmove(wins_%d + lo + 1, wins_%d + lo, (nwins_%d - lo) * sizeof "
     "*wins_%d);\n", id, id, id, id);
  if (panes)
    cw(w, "nwins_%d++;\nwins_%d[lo].start = start;\nwins_%d[lo].tab = npool_%d "
       "? pool_%d[--npool_%d] : (struct tab_%d){NULL, 0, 0};\nreturn "
       "&wins_%d[lo].tab;\n", id, id, id, id, id, id, id, id);
  else
    cw(w, "nwins_%d++;\nwins_%d[lo].start = start;\nwins_%d[lo].tab = (struct "
       "tab_%d){NULL, 0, 0};\nreturn &wins_%d[lo].tab;\n", id, id, id, id, id);
  w->indent--;
  cw(w, "}\n");
  emit_after(e, ch, from + 2, id, out, fc->wm, fc->src);
  if (panes) {
    cw(w, "\n/* Panes of stage %d: windows starting before next_%d have "
       "fired; merged_%d\n * is the one firing, made from its panes. */\n",
       id, id, id);
    cw(w, "static PSPF_TLS int64_t next_%d = INT64_MIN;\n", id);
    cw(w, "static PSPF_TLS struct tab_%d merged_%d;\n", id, id);
    cw(w, "\n/* Fires the windows of stage %d that end at or before [wm], "
       "each the\n * merge of its panes. */\n", id);
    cw(w, "static void fire_%d(pspf_ctx_t *ctx, int64_t wm) {\n", id);
    w->indent++;
    cw(w, "while (nwins_%d) {\n", id);
    w->indent++;
    cw(w, "int64_t s = wins_%d[0].start - %s + %s; /* the first holding the "
       "first pane */\nif (s < next_%d)\n  s = next_%d;\n", id, size, every,
       id, id);
    cw(w, "if (wm != INT64_MAX && s + %s > wm)\n  break;\n", size);
    cw(w, "for (size_t k = 0; k < nwins_%d && wins_%d[k].start < s + %s; "
       "k++) {\n", id, id, size);
    w->indent++;
    cw(w, "struct tab_%d *p = &wins_%d[k].tab;\n", id, id);
    cw(w, "for (size_t i = 0; i < p->cap; i++)\n  if (p->slots[i].used)\n"
       "    acc_merge_%d(ctx, &find_%d(&merged_%d, p->slots[i].key)->acc, "
       "&p->slots[i].acc);\n", id, id, id);
    w->indent--;
    cw(w, "}\n");
    cw(w, "for (size_t i = 0; i < merged_%d.cap; i++) {\n", id);
    w->indent++;
    cw(w, "struct st_%d *x = &merged_%d.slots[i];\nif (!x->used)\n  "
       "continue;\n", id, id);
    cw(w, "%s o = %s;\n", oc,
       agg_record(e, g, oc, fc->key ? "x->key" : NULL, "s",
                  s_(e, "s + %s", size), "(&x->acc)"));
    cw(w, "pspf_seg(ctx, s + %s, s);\n", size);
    cw(w, "after_%d(ctx, &o);\nif (wm == INT64_MAX)\n  pspf_scratch_reset(ctx); "
       "/* end of input: no record in flight */\n", id);
    w->indent--;
    cw(w, "}\n");
    cw(w, "reset_%d(&merged_%d);\nnext_%d = s + %s;\n", id, id, id, every);
    cw(w, "size_t k = 0; /* the panes no later window holds: kept for the "
       "next ones */\n");
    cw(w, "for (; k < nwins_%d && wins_%d[k].start < next_%d; k++) {\n", id,
       id, id);
    w->indent++;
    cw(w, "if (npool_%d < 8) {\n  reset_%d(&wins_%d[k].tab);\n  "
       "pool_%d[npool_%d++] = wins_%d[k].tab;\n} else {\n  "
       "clear_%d(&wins_%d[k].tab);\n}\n", id, id, id, id, id, id, id, id);
    w->indent--;
    cw(w, "}\n");
    cw(w, "memmove(wins_%d, wins_%d + k, (nwins_%d - k) * sizeof *wins_%d);\n"
       "nwins_%d -= k;\n", id, id, id, id, id);
    w->indent--;
    cw(w, "}\n");
    cw(w, "if (wm == INT64_MAX) {\n  free(wins_%d);\n  wins_%d = NULL;\n  "
       "capwins_%d = 0;\n  clear_%d(&merged_%d);\n  while (npool_%d)\n    "
       "clear_%d(&pool_%d[--npool_%d]);\n}\n", id, id, id, id, id, id, id,
       id, id);
    w->indent--;
    cw(w, "}\n");
  } else {
  cw(w, "\n/* Fires the windows of stage %d that end at or before [wm]. */\n",
     id);
  cw(w, "static void fire_%d(pspf_ctx_t *ctx, int64_t wm) {\n", id);
  w->indent++;
  cw(w, "size_t k = 0;\n");
  cw(w, "for (; k < nwins_%d; k++) {\n", id);
  w->indent++;
  cw(w, "struct win_%d *w = &wins_%d[k];\n", id, id);
  cw(w, "if (wm != INT64_MAX && w->start + %s > wm)\n  break;\n", size);
  cw(w, "for (size_t i = 0; i < w->tab.cap; i++) {\n");
  w->indent++;
  cw(w, "struct st_%d *s = &w->tab.slots[i];\nif (!s->used)\n  continue;\n",
     id);
  cw(w, "%s o = %s;\n", oc,
     agg_record(e, g, oc, fc->key ? "s->key" : NULL, "w->start",
                s_(e, "w->start + %s", size), "(&s->acc)"));
  cw(w, "pspf_seg(ctx, w->start + %s, w->start);\n", size);
  cw(w, "after_%d(ctx, &o);\nif (wm == INT64_MAX)\n  pspf_scratch_reset(ctx); /* end of input: no record in flight */\n", id);
  w->indent--;
  cw(w, "}\nclear_%d(&w->tab);\n", id);
  w->indent--;
  cw(w, "}\n");
  cw(w, "if (k) {\n  memmove(wins_%d, wins_%d + k, (nwins_%d - k) * sizeof "
     "*wins_%d);\n  nwins_%d -= k;\n}\n", id, id, id, id, id);
  cw(w, "if (wm == INT64_MAX) {\n  free(wins_%d);\n  wins_%d = NULL;\n  "
     "capwins_%d = 0;\n}\n", id, id, id);
  w->indent--;
  cw(w, "}\n");
  }
  vec_push(A, &e->fires, (void *)s_(e, "fire_%d", id));
  cw(w, "\nstatic uint64_t save_%d(pspf_buf_t *w) {\n", id);
  w->indent++;
  cw(w, "uint64_t keys = 0;\n");
  if (panes)
    cw(w, "pspf_ck_i64(w, next_%d);\n", id);
  cw(w, "pspf_ck_u64(w, nwins_%d);\n", id);
  cw(w, "for (size_t k = 0; k < nwins_%d; k++) {\n  pspf_ck_i64(w, wins_%d[k]."
     "start);\n  keys += save_tab_%d(w, &wins_%d[k].tab);\n}\nreturn keys;\n",
     id, id, id, id);
  w->indent--;
  cw(w, "}\n");
  cw(w, "\nstatic void load_%d(pspf_ckr_t *r) {\n", id);
  w->indent++;
  if (panes)
    cw(w, "int64_t next = pspf_ckr_i64(r);\nif (next > next_%d)\n  next_%d = "
       "next;\n", id, id);
  cw(w, "size_t n = pspf_ckr_count(r, 3);\n");
  cw(w, "if (r->merge) { /* into the windows there */\n  for (size_t k = 0; k < "
     "n && !r->error; k++) {\n    int64_t start = pspf_ckr_i64(r);\n    "
     "merge_tab_%d(r, win_%d(start));\n  }\n  return;\n}\n", id, id);
  cw(w, "if (!n)\n  return;\n");
  cw(w, "wins_%d = pspf_state_alloc(n * sizeof *wins_%d);\nnwins_%d = "
     "capwins_%d = n;\n", id, id, id, id);
  cw(w, "for (size_t k = 0; k < n; k++) {\n  wins_%d[k].start = "
     "pspf_ckr_i64(r);\n  load_tab_%d(r, &wins_%d[k].tab);\n}\n", id, id, id);
  w->indent--;
  cw(w, "}\n");
  ck_state(e, id, s_(e, "window %s(%s, every %s)%s on %s time key %s: %s",
                     ws->kind == WIN_SLIDING ? "sliding" : "tumbling",
                     ms_text(e, size), ms_text(e, every),
                     panes ? " in panes" : "", time_kind(fc),
                     type_str_full(A, kt), agg_layout(e, g)),
           wsg->node);

  /* In the flow: place the record, or send it to the late sink. */
  agg_inputs(e, g, v, t, fc);
  if (panes) { /* its pane; late once its last window has fired */
    cw(&e->w, "int64_t last%d = pspf_floor_div(%s, %s) * %s;\n", id, fc->ts,
       every, every);
    cw(&e->w, "if (last%d + %s > %s) {\n", id, size, fc->wm);
    e->w.indent++;
    cw(&e->w, "struct st_%d *s = find_%d(win_%d(last%d), %s);\n", id, id, id,
       id, key);
    agg_update(e, g, "(&s->acc)", v, fc);
    e->w.indent--;
    cw(&e->w, "} else {\n");
    e->w.indent++;
    emit_late(e, wsg->node, v);
    e->w.indent--;
    cw(&e->w, "}\n");
    cw(&e->w, "fire_%d(ctx, %s);\n", id, fc->wm);
    vec_push(A, &e->fire_calls,
             (void *)s_(e, "fire_%d(ctx, %s);\n", id, fc->wm));
    return;
  }
  cw(&e->w, "bool placed%d = false, in_any%d = false;\n", id, id);
  cw(&e->w, "int64_t last%d = pspf_floor_div(%s, %s) * %s;\n", id, fc->ts,
     every, every);
  cw(&e->w, "for (int64_t st = last%d; st > %s - %s; st -= %s) {\n", id,
     fc->ts, size, every);
  e->w.indent++;
  cw(&e->w, "in_any%d = true;\n", id);
  cw(&e->w, "if (st + %s <= %s)\n  continue; /* fired already */\n", size,
     fc->wm);
  cw(&e->w, "struct st_%d *s = find_%d(win_%d(st), %s);\n", id, id, id, key);
  agg_update(e, g, "(&s->acc)", v, fc);
  cw(&e->w, "placed%d = true;\n", id);
  e->w.indent--;
  cw(&e->w, "}\n");
  /* (In a gap between sliding windows, a record belongs to none: it is
   * not late, there is just nothing to add it to.) */
  cw(&e->w, "if (in_any%d && !placed%d) {\n", id, id);
  e->w.indent++;
  emit_late(e, wsg->node, v);
  e->w.indent--;
  cw(&e->w, "}\n");
  cw(&e->w, "fire_%d(ctx, %s);\n", id, fc->wm);
  vec_push(A, &e->fire_calls, (void *)s_(e, "fire_%d(ctx, %s);\n", id, fc->wm));
}

/* window(session(gap: g)) |> ...: per key, sessions sorted by start and
 * disjoint; a record at t opens [t, t + g) and merges with every session
 * it touches (inclusive). A heap of (end, start) says when each session is
 * due; an entry whose session grew or merged away is re-queued or dropped
 * when it comes up. */
static void emit_session_windows(Emitter *e, Chain *ch, int from,
                                 const char *v, Type *t, FlowCtx *fc,
                                 Aggs *g) {
  Stage *wsg = ch->stages.items[from];
  WindowSpec *ws = wsg->type->window;
  Type *out = ((Stage *)ch->stages.items[from + 1])->type->elem;
  Type *kt = fc->key ? fc->key_type : &ty_bool;
  const char *kc = ctype(e, kt);
  const char *key = fc->key ? fc->key : "false";
  int id = g->id;
  const char *gap = expr(e, ws->size, NULL);
  g->merges = true;
  bool drops = emit_acc(e, g);
  CW *w = &e->state;
  const char *oc = ctype(e, out);
  cw(w, "\n/* A session of stage %d: [start, end = last + gap). */\n", id);
  cw(w, "struct sess_%d {\n  int64_t start, end;\n  uint64_t id;\n  struct "
     "acc_%d acc;\n};\n", id, id);
  emit_table(e, id, kt, s_(e, "struct sess_%d *sess;\nsize_t nsess, "
                           "capsess;\n", id),
             drops ? s_(e, "for (size_t i = 0; i < s->nsess; i++)\n  "
                        "acc_drop_%d(&s->sess[i].acc);\nfree(s->sess);\n", id)
                   : "free(s->sess);\n",
             s_(e, "pspf_ck_u64(w, s->nsess);\nfor (size_t j = 0; j < "
                "s->nsess; j++) {\n  pspf_ck_i64(w, s->sess[j].start);\n  "
                "pspf_ck_i64(w, s->sess[j].end);\n  pspf_ck_u64(w, "
                "s->sess[j].id);\n  save_acc_%d(w, &s->sess[j].acc);\n}\n",
                id),
             s_(e, "s->nsess = s->capsess = pspf_ckr_count(r, 4);\ns->sess = "
                "pspf_state_alloc((s->nsess ? s->nsess : 1) * sizeof "
                "*s->sess);\nfor (size_t j = 0; j < s->nsess; j++) {\n  "
                "s->sess[j].start = pspf_ckr_i64(r);\n  s->sess[j].end = "
                "pspf_ckr_i64(r);\n  s->sess[j].id = pspf_ckr_u64(r);\n  "
                "load_acc_%d(r, &s->sess[j].acc);\n}\n", id),
             NULL, true, true);
  cw(w, "static PSPF_TLS struct tab_%d tab_%d;\nstatic PSPF_TLS uint64_t seq_%d, nextid_%d;\n",
     id, id, id, id);
  cw(w, "\n/* When a session of stage %d is due. */\n", id);
  cw(w, "struct due_%d {\n  int64_t end, start;\n  uint64_t id;\n  %s key;\n"
     "};\n", id, kc);
  emit_heap(e, s_(e, "due_%d", id));
  emit_heap_ck(e, s_(e, "due_%d", id), kt, true);
  cw(w, "\nstatic uint64_t save_%d(pspf_buf_t *w) {\n", id);
  w->indent++;
  cw(w, "uint64_t keys = save_tab_%d(w, &tab_%d);\npspf_ck_u64(w, seq_%d);\n"
     "pspf_ck_u64(w, nextid_%d);\nsave_due_%d(w);\nreturn keys;\n", id, id,
     id, id, id);
  w->indent--;
  cw(w, "}\n");
  cw(w, "\nstatic void load_%d(pspf_ckr_t *r) {\n", id);
  w->indent++;
  cw(w, "if (r->merge) {\n  pspf_ckr_fail(r, \"session windows are not "
     "spread over another number\"\n                   \" of workers yet: "
     "restart with as many as before\");\n  return;\n}\n");
  cw(w, "load_tab_%d(r, &tab_%d);\nseq_%d = pspf_ckr_u64(r);\nnextid_%d = "
     "pspf_ckr_u64(r);\nload_due_%d(r);\n", id, id, id, id, id);
  w->indent--;
  cw(w, "}\n");
  ck_state(e, id, s_(e, "window session(gap %s) on %s time key %s: %s",
                     ms_text(e, gap), time_kind(fc), type_str_full(A, kt),
                     agg_layout(e, g)),
           wsg->node);
  emit_after(e, ch, from + 2, id, out, fc->wm, fc->src);
  cw(w, "\n/* Fires the sessions of stage %d that end at or before [wm]. */\n",
     id);
  cw(w, "static void fire_%d(pspf_ctx_t *ctx, int64_t wm) {\n", id);
  w->indent++;
  cw(w, "while (ndue_%d && (wm == INT64_MAX || due_%d_heap[0].end <= wm)) {\n",
     id, id);
  w->indent++;
  cw(w, "struct due_%d d = pop_due_%d();\n", id, id);
  cw(w, "struct st_%d *s = get_%d(&tab_%d, d.key);\nsize_t i = 0;\n", id, id,
     id);
  cw(w, "while (s && i < s->nsess && s->sess[i].id != d.id)\n  i++;\n");
  cw(w, "if (s && i < s->nsess) {\n");
  w->indent++;
  cw(w, "struct sess_%d *x = &s->sess[i];\n", id);
  cw(w, "if (x->end != d.end || x->start != d.start) { /* it grew */\n");
  w->indent++;
  cw(w, "d.end = x->end;\nd.start = x->start;\npush_due_%d(d);\ncontinue;\n",
     id);
  w->indent--;
  cw(w, "}\n");
  cw(w, "%s o = %s;\n", oc,
     agg_record(e, g, oc, fc->key ? "d.key" : NULL, "x->start", "x->end",
                "(&x->acc)"));
  cw(w, "pspf_seg(ctx, x->end, x->start);\n");
  cw(w, "after_%d(ctx, &o);\nif (wm == INT64_MAX)\n  pspf_scratch_reset(ctx); /* end of input: no record in flight */\n", id);
  if (drops)
    cw(w, "acc_drop_%d(&x->acc);\n", id);
  cw(w, "memmove(x, x + 1, (s->nsess - i - 1) * sizeof *x);\n");
  cw(w, "if (--s->nsess == 0)\n  del_%d(&tab_%d, s);\n", id, id);
  w->indent--;
  cw(w, "}\n");
  val_keep(e, w, "d.key", kt, true);
  w->indent--;
  cw(w, "}\n");
  cw(w, "if (wm == INT64_MAX) {\n  free(due_%d_heap);\n  due_%d_heap = NULL;\n"
     "  capdue_%d = 0;\n  clear_%d(&tab_%d);\n}\n", id, id, id, id, id);
  w->indent--;
  cw(w, "}\n");
  vec_push(A, &e->fires, (void *)s_(e, "fire_%d", id));

  /* In the flow. */
  CW *f = &e->w;
  agg_inputs(e, g, v, t, fc);
  cw(f, "{\n");
  f->indent++;
  cw(f, "int64_t lo = %s, hi = pspf_sat_add(%s, %s);\n", fc->ts, fc->ts, gap);
  cw(f, "struct st_%d *s = get_%d(&tab_%d, %s);\n", id, id, id, key);
  cw(f, "size_t first = 0, end = 0; /* the sessions it touches */\n");
  cw(f, "for (size_t i = 0; s && i < s->nsess; i++) {\n");
  f->indent++;
  cw(f, "if (s->sess[i].end < lo)\n  first = i + 1;\nelse if "
     "(s->sess[i].start > hi)\n  break;\nelse\n  end = i + 1;\n");
  f->indent--;
  cw(f, "}\n");
  cw(f, "if (end <= first && hi <= %s) {\n", fc->wm);
  f->indent++;
  emit_late(e, wsg->node, v);
  f->indent--;
  cw(f, "} else {\n");
  f->indent++;
  cw(f, "if (!s)\n  s = find_%d(&tab_%d, %s);\n", id, id, key);
  cw(f, "if (end <= first) { /* a new session */\n");
  f->indent++;
  cw(f, "if (s->nsess == s->capsess) {\n");
  f->indent++;
  cw(f, "s->capsess = s->capsess ? s->capsess * 2 : 2;\n");
  cw(f, "struct sess_%d *ns = pspf_state_alloc(s->capsess * sizeof *ns);\n",
     id);
  cw(f, "if (s->nsess)\n  memcpy(ns, s->sess, s->nsess * sizeof *ns);\n");
  cw(f, "free(s->sess);\ns->sess = ns;\n");
  f->indent--;
  cw(f, "}\n");
  cw(f, "memmove(s->sess + first + 1, s->sess + first, (s->nsess - first) * "
     "sizeof *s->sess);\n");
  cw(f, "s->nsess++;\n");
  cw(f, "s->sess[first] = (struct sess_%d){.start = lo, .end = hi, .id = "
     "++nextid_%d};\n", id, id);
  cw(f, "struct due_%d d = {hi, lo, nextid_%d, %s};\n", id, id, key);
  val_keep(e, f, "d.key", kt, false);
  cw(f, "push_due_%d(d);\n", id);
  f->indent--;
  cw(f, "} else { /* merge the sessions it touches into the first */\n");
  f->indent++;
  cw(f, "struct sess_%d *x = &s->sess[first];\n", id);
  cw(f, "for (size_t j = first + 1; j < end; j++) {\n");
  f->indent++;
  cw(f, "acc_merge_%d(ctx, &x->acc, &s->sess[j].acc);\n", id);
  cw(f, "if (s->sess[j].end > x->end)\n  x->end = s->sess[j].end;\n");
  f->indent--;
  cw(f, "}\n");
  cw(f, "memmove(x + 1, s->sess + end, (s->nsess - end) * sizeof *x);\n");
  cw(f, "s->nsess -= end - first - 1;\n");
  cw(f, "if (lo < x->start)\n  x->start = lo;\nif (hi > x->end)\n  x->end = "
     "hi;\n");
  f->indent--;
  cw(f, "}\n");
  cw(f, "seq_%d++;\n", id);
  agg_update(e, g, "(&s->sess[first].acc)", v, fc);
  f->indent--;
  cw(f, "}\n");
  f->indent--;
  cw(f, "}\n");
  cw(f, "fire_%d(ctx, %s);\n", id, fc->wm);
  vec_push(A, &e->fire_calls, (void *)s_(e, "fire_%d(ctx, %s);\n", id, fc->wm));
}

/* window(count(n, every: m)) |> ...: per key, a window opens every m
 * records and fires when it holds n; start and end are the times of its
 * first and last record. At end of input, partial windows fire in
 * ascending (end, start). */
static void emit_count_windows(Emitter *e, Chain *ch, int from, const char *v,
                               Type *t, FlowCtx *fc, Aggs *g) {
  Stage *wsg = ch->stages.items[from];
  WindowSpec *ws = wsg->type->window;
  Type *out = ((Stage *)ch->stages.items[from + 1])->type->elem;
  Type *kt = fc->key ? fc->key_type : &ty_bool;
  const char *key = fc->key ? fc->key : "false";
  int id = g->id;
  const char *size = expr(e, ws->size, NULL);
  const char *every = ws->every ? expr(e, ws->every, NULL) : size;
  bool drops = emit_acc(e, g);
  CW *w = &e->state;
  const char *oc = ctype(e, out);
  cw(w, "\n/* A count window of stage %d. */\n", id);
  cw(w, "struct cw_%d {\n  int64_t start, end, n;\n  struct acc_%d acc;\n};\n",
     id, id);
  const char *nopen = ws->every ? s_(e, "((%s + %s - 1) / %s)", size, every,
                                     every)
                               : "1";
  e->table_merge = true;
  emit_table(e, id, kt, s_(e, "int64_t seen;\nstruct cw_%d *open;\nsize_t "
                           "nopen;\n", id),
             drops ? s_(e, "for (size_t i = 0; i < s->nopen; i++)\n  "
                        "acc_drop_%d(&s->open[i].acc);\nfree(s->open);\n", id)
                   : "free(s->open);\n",
             s_(e, "pspf_ck_i64(w, s->seen);\npspf_ck_u64(w, s->nopen);\nfor "
                "(size_t j = 0; j < s->nopen; j++) {\n  pspf_ck_i64(w, "
                "s->open[j].start);\n  pspf_ck_i64(w, s->open[j].end);\n  "
                "pspf_ck_i64(w, s->open[j].n);\n  save_acc_%d(w, "
                "&s->open[j].acc);\n}\n", id),
             s_(e, "s->seen = pspf_ckr_i64(r);\ns->nopen = pspf_ckr_count(r, "
                "4);\ns->open = pspf_state_alloc(%s * sizeof *s->open);\nif "
                "(s->nopen > (size_t)%s) {\n  pspf_ckr_fail(r, \"too many open "
                "count windows\");\n  s->nopen = 0;\n}\nfor (size_t j = 0; j < "
                "s->nopen; j++) {\n  s->open[j].start = pspf_ckr_i64(r);\n  "
                "s->open[j].end = pspf_ckr_i64(r);\n  s->open[j].n = "
                "pspf_ckr_i64(r);\n  load_acc_%d(r, &s->open[j].acc);\n}\n",
                nopen, nopen, id),
             NULL, false, false);
  emit_keyed_table_state(e, id);
  ck_state(e, id, s_(e, "window count(%s, every %s) key %s: %s",
                     unit_text(e, size, ""), unit_text(e, every, ""),
                     type_str_full(A, kt), agg_layout(e, g)),
           wsg->node);
  emit_after(e, ch, from + 2, id, out, fc->wm ? fc->wm : "INT64_MIN",
             fc->src);
  cw(w, "\n/* At end of input: the partial windows of stage %d. */\n", id);
  cw(w, "struct fin_%d {\n  struct st_%d *s;\n  struct cw_%d *w;\n};\n", id, id,
     id);
  cw(w, "\nstatic int cmp_%d(const void *pa, const void *pb) {\n", id);
  w->indent++;
  cw(w, "const struct cw_%d *a = ((const struct fin_%d *)pa)->w, *b = ((const "
     "struct fin_%d *)pb)->w;\n", id, id, id);
  cw(w, "if (a->end != b->end)\n  return a->end < b->end ? -1 : 1;\n");
  cw(w, "return (a->start > b->start) - (a->start < b->start);\n");
  w->indent--;
  cw(w, "}\n");
  cw(w, "\nstatic void fire_%d(pspf_ctx_t *ctx, int64_t wm) {\n", id);
  w->indent++;
  cw(w, "if (wm != INT64_MAX)\n  return;\n");
  cw(w, "size_t n = 0;\nfor (size_t i = 0; i < tab_%d.cap; i++)\n  n += "
     "tab_%d.slots[i].nopen;\n", id, id);
  cw(w, "struct fin_%d *all = pspf_state_alloc(n * sizeof *all);\nn = 0;\n",
     id);
  cw(w, "for (size_t i = 0; i < tab_%d.cap; i++)\n  for (size_t j = 0; j < "
     "tab_%d.slots[i].nopen; j++)\n    all[n++] = (struct fin_%d){&tab_%d."
     "slots[i], &tab_%d.slots[i].open[j]};\n", id, id, id, id, id);
  cw(w, "if (n)\n  qsort(all, n, sizeof *all, cmp_%d);\n", id);
  cw(w, "for (size_t i = 0; i < n; i++) {\n");
  w->indent++;
  cw(w, "struct cw_%d *x = all[i].w;\n", id);
  cw(w, "%s o = %s;\n", oc,
     agg_record(e, g, oc, fc->key ? "all[i].s->key" : NULL, "x->start",
                "x->end", "(&x->acc)"));
  cw(w, "pspf_seg(ctx, x->end, x->start);\n");
  cw(w, "after_%d(ctx, &o);\nif (wm == INT64_MAX)\n  pspf_scratch_reset(ctx); /* end of input: no record in flight */\n", id);
  w->indent--;
  cw(w, "}\nfree(all);\nclear_%d(&tab_%d);\n", id, id);
  w->indent--;
  cw(w, "}\n");
  vec_push(A, &e->fires, (void *)s_(e, "fire_%d", id));

  /* In the flow. */
  CW *f = &e->w;
  agg_inputs(e, g, v, t, fc);
  cw(f, "{\n");
  f->indent++;
  cw(f, "int64_t ts = %s;\n", fc->ts);
  cw(f, "struct st_%d *s = find_%d(&tab_%d, %s);\n", id, id, id, key);
  cw(f, "if (!s->open)\n  s->open = pspf_state_alloc(%s * sizeof "
     "*s->open);\n", nopen);
  cw(f, "if (s->seen++ %% %s == 0)\n  s->open[s->nopen++] = (struct cw_%d){"
     ".start = ts};\n", every, id);
  cw(f, "for (size_t i = 0; i < s->nopen; i++) {\n");
  f->indent++;
  cw(f, "struct cw_%d *x = &s->open[i];\n", id);
  agg_update(e, g, "(&x->acc)", v, fc);
  cw(f, "x->end = ts;\nx->n++;\n");
  f->indent--;
  cw(f, "}\n");
  cw(f, "if (s->nopen && s->open[0].n == %s) {\n", size);
  f->indent++;
  cw(f, "struct cw_%d *x = &s->open[0];\n", id);
  cw(f, "%s o = %s;\n", oc,
     agg_record(e, g, oc, fc->key ? "s->key" : NULL, "x->start", "x->end",
                "(&x->acc)"));
  cw(f, "pspf_seg(ctx, x->end, x->start);\nafter_%d(ctx, &o);\n", id);
  if (drops)
    cw(f, "acc_drop_%d(&x->acc);\n", id);
  cw(f, "memmove(x, x + 1, (s->nopen - 1) * sizeof *x);\ns->nopen--;\n");
  f->indent--;
  cw(f, "}\n");
  f->indent--;
  cw(f, "}\n");
}

/* dedupe(x => k, within: d): a record passes unless one with the same key
 * passed less than d away in time; the key is forgotten once the watermark
 * is d past it (a heap of (expiry, time) says when). */
static void emit_dedupe(Emitter *e, Chain *ch, int from, const char *v,
                        Type *t, FlowCtx *fc) {
  Stage *sg = ch->stages.items[from];
  Node *n = sg->node;
  Node *fn = n->list.items[0];
  Node *within = n->list.items[1];
  if (fn->kind == ND_NAMED_ARG)
    fn = fn->a;
  if (within->kind == ND_NAMED_ARG)
    within = within->a;
  Type *kt = fn->kind == ND_LAMBDA ? fn->b->type : fn->sym->type;
  const char *kc = ctype(e, kt);
  int id = ++e->tmp;
  const char *d = expr(e, within, NULL);
  CW *w = &e->state;
  cw(w, "\n/* Dedupe of stage %d: key -> when it last passed. */", id);
  emit_table(e, id, kt, "int64_t at;\n", NULL, "pspf_ck_i64(w, s->at);\n",
             "s->at = pspf_ckr_i64(r);\n", NULL, true, true);
  cw(w, "static PSPF_TLS struct tab_%d tab_%d;\n", id, id);
  cw(w, "struct due_%d {\n  int64_t end, start;\n  %s key;\n};\n", id, kc);
  emit_heap(e, s_(e, "due_%d", id));
  emit_heap_ck(e, s_(e, "due_%d", id), kt, false);
  cw(w, "\nstatic uint64_t save_%d(pspf_buf_t *w) {\n  uint64_t keys = "
     "save_tab_%d(w, &tab_%d);\n  save_due_%d(w);\n  return keys;\n}\n", id,
     id, id, id);
  cw(w, "\nstatic void load_%d(pspf_ckr_t *r) {\n  load_tab_%d(r, &tab_%d);\n"
     "  load_due_%d(r);\n}\n", id, id, id, id);
  ck_state(e, id, s_(e, "dedupe within %s on %s time key %s", ms_text(e, d),
                     time_kind(fc), type_str_full(A, kt)),
           n);
  cw(w, "\n/* Forgets the keys of stage %d that passed at or before [wm] - "
     "within. */\n", id);
  cw(w, "static void fire_%d(pspf_ctx_t *ctx, int64_t wm) {\n", id);
  w->indent++;
  cw(w, "(void)ctx;\n");
  cw(w, "while (ndue_%d && (wm == INT64_MAX || due_%d_heap[0].end <= wm)) {\n",
     id, id);
  w->indent++;
  cw(w, "struct due_%d d = pop_due_%d();\n", id, id);
  cw(w, "struct st_%d *s = get_%d(&tab_%d, d.key);\n", id, id, id);
  cw(w, "if (s && s->at == d.start)\n  del_%d(&tab_%d, s);\n", id, id);
  val_keep(e, w, "d.key", kt, true);
  w->indent--;
  cw(w, "}\n");
  cw(w, "if (wm == INT64_MAX) {\n  free(due_%d_heap);\n  due_%d_heap = NULL;\n"
     "  capdue_%d = 0;\n  clear_%d(&tab_%d);\n}\n", id, id, id, id, id);
  w->indent--;
  cw(w, "}\n");
  vec_push(A, &e->fires, (void *)s_(e, "fire_%d", id));

  CW *f = &e->w;
  const char *k = s_(e, "k%d", id);
  cw(f, "%s %s = %s;\n", kc, k, lambda_body(e, fn, &v, 1, &t, kt));
  check_fault(e, fc);
  cw(f, "struct st_%d *s%d = get_%d(&tab_%d, %s);\n", id, id, id, id, k);
  cw(f, "if (!s%d || pspf_sat_sub(%s, s%d->at) >= %s || pspf_sat_sub(s%d->at, "
     "%s) >= %s) {\n", id, fc->ts, id, d, id, fc->ts, d);
  f->indent++;
  cw(f, "if (!s%d)\n  s%d = find_%d(&tab_%d, %s);\n", id, id, id, id, k);
  cw(f, "s%d->at = %s;\n", id, fc->ts);
  cw(f, "struct due_%d d%d = {pspf_sat_add(%s, %s), %s, %s};\n", id, id, fc->ts,
     d, fc->ts, k);
  val_keep(e, f, s_(e, "d%d.key", id), kt, false);
  cw(f, "push_due_%d(d%d);\n", id, id);
  cw(f, "fire_%d(ctx, %s);\n", id, fc->wm);
  back_to_c(e);
  emit_stages(e, ch, from + 1, v, t, fc);
  f->indent--;
  cw(f, "}\n");
}

/* ---- merge ---------------------------------------------------------------- */

/* A path into a merge ends with this stage: it calls merge_<id>(ctx,
 * source, &record, time, watermark), the stages after the merge, emitted
 * once for all its inputs. */
typedef struct Join {
  Stage st; /* label == join_label */
  int id;
} Join;
static const char join_label[] = "(merge)";

/* A pipeline's stages from one source, fused into that source's flow. */
typedef struct Path {
  Symbol *root;
  PtrVec stages;
} Path;

static bool is_op(Stage *sg, const char *name) {
  return sg->label != join_label && sg->node->kind == ND_CALL &&
         strcmp(sg->node->name, name) == 0 && sg->type;
}

/* Operators counted for /metrics: a call stage (not a join); a window
 * and the aggregate, reduce or fold after it count as one. */
static bool counted(Stage *sg) {
  return sg->label != join_label && sg->node && sg->node->kind == ND_CALL &&
         sg->type;
}

/* The index of [sg] (stage [from] of [ch]) in the operator table. */
static int op_index(Emitter *e, Chain *ch, int from) {
  Stage *sg = ch->stages.items[from];
  if (from > 0) {
    Stage *pv = ch->stages.items[from - 1];
    if (counted(pv) && strcmp(pv->label, "window") == 0)
      sg = pv; /* window |> aggregate: one operator */
  }
  for (int i = 0; i < e->opstats.len; i++)
    if (e->opstats.items[i] == sg)
      return i;
  vec_push(A, &e->opstats, sg);
  vec_push(A, &e->opwm, NULL);
  return e->opstats.len - 1;
}

static bool stateful(Stage *sg) {
  static const char *const ops[] = {"window", "aggregate", "reduce", "fold",
                                    "dedupe"};
  for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
    if (is_op(sg, ops[i]))
      return true;
  return false;
}

/* SPLIT_* of path [p] (stage 0 is its source). */
static int split_mode(Path *p) {
  int kb = -1, first_state = -1, keyed_to = -1;
  for (int k = 1; k < p->stages.len; k++) {
    Stage *sg = p->stages.items[k];
    if (sg->label == join_label)
      return SPLIT_FIRST;
    if (is_op(sg, "key_by")) {
      if (kb >= 0)
        return SPLIT_FIRST; /* a second key: records would move again */
      kb = k;
    } else if (is_op(sg, "event_time") && kb >= 0) {
      return SPLIT_FIRST; /* a watermark of one worker's keys */
    } else if (stateful(sg) && first_state < 0) {
      first_state = k;
    }
  }
  if (first_state < 0)
    return SPLIT_CHUNK;
  if (kb < 0 || first_state < kb)
    return SPLIT_FIRST;
  /* After the key_by: a window and its aggregate, reduce or fold (or a
   * running one), then only stages without state. */
  int k = kb + 1;
  if (k < p->stages.len && is_op(p->stages.items[k], "window"))
    k++;
  if (k < p->stages.len &&
      (is_op(p->stages.items[k], "aggregate") ||
       is_op(p->stages.items[k], "reduce") || is_op(p->stages.items[k], "fold")))
    keyed_to = k;
  for (k = keyed_to + 1; keyed_to >= 0 && k < p->stages.len; k++)
    if (stateful(p->stages.items[k]))
      return SPLIT_FIRST;
  return keyed_to >= 0 ? SPLIT_KEYED : SPLIT_FIRST;
}

/* Why the program cannot run on several workers, or NULL. */
static const char *split_refusal(Emitter *e, PtrVec *sources, PtrVec *sinks) {
  if (sources->len != 1)
    return "it reads several sources (their watermarks would be merged "
           "across workers)";
  Symbol *src = sources->items[0];
  if (strcmp(src->connector, "file") != 0 && strcmp(src->connector, "stdin") != 0)
    return s_(e, "source '%s' is a %s source (only files and stdin are split "
              "into chunks)", src->name, src->connector);
  if (follows(src))
    return s_(e, "source '%s' follows its file", src->name);
  Type *t = src->type;
  for (int i = 0; t->kind == TY_RECORD && i < t->nfields; i++) {
    Type *ft = t->fields[i].type;
    if (ft->kind == TY_OPTIONAL)
      ft = ft->elem;
    if (ft->kind == TY_RECORD || ft->kind == TY_LIST)
      return s_(e, "field '%s' of source '%s' is a %s", t->fields[i].name,
                src->name, ft->kind == TY_LIST ? "list" : "record");
  }
  for (int i = 0; i < sinks->len; i++) {
    Symbol *s = sinks->items[i];
    if (strcmp(s->connector, "file") != 0 && strcmp(s->connector, "stdout") != 0 &&
        strcmp(s->connector, "console") != 0)
      return s_(e, "sink '%s' is a %s sink (workers write files, stdout and "
                "the console)", s->name, s->connector);
  }
  return NULL;
}

/* With a repartition topic and event time: route_time(), what a router
 * computes of each record for the keyed side's watermark (the filters
 * and the event_time before the keyed pipeline's key_by: INT64_MIN when
 * it is filtered out), and tick(), which moves the watermark to the
 * routers' (ctx->time_cap) and fires what it passes. */
static void emit_route_time(Emitter *e, CW *w, Symbol *src, PtrVec *paths) {
  if (!e->route_et || !e->route_pass)
    return;
  const char *v = "(*r)";
  Type *t = src->type;
  cw(w, "\n/* --scale-out: a routed record's event time, or INT64_MIN. */\n"
     "static int64_t route_time(pspf_ctx_t *ctx, const void *p) {\n  const "
     "%s *r = p;\n  (void)ctx;\n  (void)r;\n", ctype(e, t));
  for (int i = 0; i < paths->len; i++) {
    Path *p = paths->items[i];
    if (split_mode(p) != SPLIT_KEYED)
      continue;
    for (int k = 1; k < p->stages.len; k++) {
      Stage *sg = p->stages.items[k];
      Node *fn = sg->node->list.items[0];
      if (fn && fn->kind == ND_NAMED_ARG)
        fn = fn->a;
      if (is_op(sg, "filter")) {
        cw(w, "  if (!(%s))\n    return INT64_MIN;\n",
           lambda_body(e, fn, &v, 1, &t, &ty_bool));
      } else if (is_op(sg, "event_time")) {
        cw(w, "  int64_t ts = %s;\n  return ts < -(INT64_C(1) << 61) || ts > "
           "(INT64_C(1) << 61) ? INT64_MIN : ts;\n}\n",
           lambda_body(e, fn, &v, 1, &t, &ty_timestamp));
        break;
      }
    }
    break;
  }
  cw(w, "\n/* --scale-out: the routers' watermark moved (ctx->time_cap). */\n"
     "static void tick(pspf_ctx_t *ctx) {\n  wm_%d = pspf_sat_sub(ctx->"
     "time_cap, %s);\n  pass_%s(ctx);\n}\n", e->route_et, e->route_late,
     e->route_pass);
}

/* Why the program cannot run with --scale-out (instances sharing a
 * Kafka topic's partitions, state kept per partition), or NULL. */
static const char *scale_refusal(Emitter *e, PtrVec *sources, PtrVec *sinks,
                                 PtrVec *paths, const char **route) {
  *route = NULL;
  if (sources->len != 1 ||
      strcmp(((Symbol *)sources->items[0])->connector, "kafka") != 0)
    return "it does not read one kafka source";
  Symbol *src = sources->items[0];
  for (int i = 0; i < sinks->len; i++) {
    Symbol *s = sinks->items[i];
    if (strcmp(s->connector, "kafka") != 0 && strcmp(s->connector, "stdout") != 0 &&
        strcmp(s->connector, "console") != 0)
      return s_(e, "sink '%s' is a %s sink (its output would stay on one "
                "machine: scaled out, a program writes kafka, stdout and the "
                "console)", s->name, s->connector);
  }
  /* The topic's key: one field of the source's record. */
  Node *key = conn_arg(src->conn, "key");
  const char *kf = key && key->kind == ND_NAME     ? key->name
                   : key && key->kind == ND_STRING ? key->sval
                   : key && key->kind == ND_LIST && key->list.len == 1 &&
                           key->list.items[0]->kind == ND_NAME
                       ? key->list.items[0]->name
                       : NULL;
  bool by_topic_key = false;
  for (int i = 0; i < paths->len; i++) {
    Path *p = paths->items[i];
    int mode = split_mode(p);
    int line = 0, kb = -1;
    for (int k = 1; k < p->stages.len && kb < 0; k++) {
      Stage *sg = p->stages.items[k];
      if (sg->label != join_label && is_op(sg, "key_by"))
        kb = k;
      if (sg->label != join_label && stateful(sg) && !line)
        line = source_line(e->c->src, sg->node->loc.off);
    }
    if (mode == SPLIT_FIRST)
      return s_(e, "the state at line %d is not kept by key (only a key_by, "
                "then a window and its aggregate, reduce or fold, or a "
                "running one, can be split by partition)", line);
    if (mode != SPLIT_KEYED)
      continue;
    /* Every record of a key must come in one partition: the key_by keys
     * the source's records by the topic's key. */
    Stage *kbs = p->stages.items[kb];
    int kline = source_line(e->c->src, kbs->node->loc.off);
    for (int k = 1; k < kb; k++)
      if (!is_op(p->stages.items[k], "filter") &&
          !is_op(p->stages.items[k], "event_time"))
        return s_(e, "the key_by at line %d keys records that line %d has "
                  "changed (only records as they come in can go through a "
                  "repartition topic)", kline,
                  source_line(e->c->src,
                              ((Stage *)p->stages.items[k])->node->loc.off));
    Node *fn = kbs->node->list.items[0];
    if (fn && fn->kind == ND_NAMED_ARG)
      fn = fn->a;
    Node *body = fn && fn->kind == ND_LAMBDA && fn->list.len ? fn->b : NULL;
    bool field = body && body->kind == ND_FIELD && body->a &&
                 body->a->kind == ND_NAME &&
                 body->a->name == fn->list.items[0]->name;
    if (!field)
      return s_(e, "the key_by at line %d keys by an expression, not a field "
                "of the source's records", kline);
    if (kf && strcmp(body->name, kf) == 0) {
      by_topic_key = true; /* its partitions hold each key's records */
      continue;
    }
    /* Another field: records go through the repartition topic, by it. */
    if (*route && strcmp(*route, body->name) != 0)
      return s_(e, "the key_by at line %d keys by '%s', another key_by by "
                "'%s': one repartition topic holds one key", kline,
                body->name, *route);
    *route = body->name;
  }
  /* (with a repartition topic, every pipeline runs on its records) */
  int keyed = 0;
  for (int i = 0; i < paths->len; i++)
    keyed += split_mode(paths->items[i]) == SPLIT_KEYED;
  if (*route && keyed > 1)
    return "several keyed pipelines would go through one repartition topic "
           "(one is supported)";
  if (*route && by_topic_key)
    return s_(e, "a key_by keys by the topic's key '%s' and another by '%s': "
              "one repartition topic holds one key", kf, *route);
  return NULL;
}

static int source_index(Emitter *e, Symbol *s) {
  for (int i = 0; i < e->sources->len; i++)
    if (e->sources->items[i] == s)
      return i;
  return -1;
}

static void emit_merge_tail(Emitter *e, PtrVec *stages, int m, int id,
                            bool timed, const char *srcs, int nsrcs);

/* Adds to [paths] the paths of flattened stages [st] from [root]. At its
 * last merge, the stages after it become merge_<id>() and each input
 * (the stages before it, and each argument) a path that ends calling it. */
static void add_paths(Emitter *e, PtrVec *st, Symbol *root, PtrVec *paths) {
  int m = -1;
  for (int i = 0; i < st->len; i++)
    if (is_op(st->items[i], "merge"))
      m = i;
  if (m < 0) {
    Path *p = arena_alloc(A, sizeof *p);
    p->root = root;
    p->stages = *st;
    vec_push(A, paths, p);
    return;
  }
  Stage *ms = st->items[m];
  Join *j = arena_alloc(A, sizeof *j);
  j->st = (Stage){ms->node, join_label, ms->type};
  j->id = ++e->tmp;
  /* The inputs, each with its root. */
  int n = ms->node->list.len + (m > 0);
  PtrVec *ins = arena_alloc(A, sizeof *ins * (size_t)n);
  Symbol **roots = arena_alloc(A, sizeof *roots * (size_t)n);
  memset(ins, 0, sizeof *ins * (size_t)n);
  int k = 0;
  if (m > 0) {
    for (int i = 0; i < m; i++)
      vec_push(A, &ins[k], st->items[i]);
    roots[k++] = root;
  }
  for (int i = 0; i < ms->node->list.len; i++) {
    roots[k] = NULL;
    expr_stages(e, ms->node->list.items[i], &ins[k], &roots[k]);
    k++;
  }
  /* The merged stream has event time if each input has. */
  bool timed = true;
  for (int i = 0; i < n; i++) {
    bool has = false;
    for (int s = 0; s < ins[i].len; s++)
      has |= is_op(ins[i].items[s], "event_time");
    timed &= has;
  }
  int before = paths->len;
  for (int i = 0; i < n; i++) {
    vec_push(A, &ins[i], &j->st);
    add_paths(e, &ins[i], roots[i], paths);
  }
  /* The sources it merges: their watermarks make the merged one. */
  const char *srcs = "";
  int nsrcs = 0;
  for (int i = before; i < paths->len; i++) {
    int si = source_index(e, ((Path *)paths->items[i])->root);
    bool seen = false;
    for (int q = before; q < i; q++)
      seen |= ((Path *)paths->items[q])->root ==
              ((Path *)paths->items[i])->root;
    if (si >= 0 && !seen) {
      srcs = s_(e, "%s%s%d", srcs, nsrcs ? ", " : "", si);
      nsrcs++;
    }
  }
  emit_merge_tail(e, st, m, j->id, timed, s_(e, "{%s}", srcs), nsrcs);
}

/* The least of the watermarks [arr] of sources [srcs]; an ended source's
 * is +infinity. */
static void emit_min_watermark(CW *w, const char *fn,
                               const char *arr, const char *srcs, int n) {
  cw(w, "\nstatic int64_t %s(void) {\n", fn);
  w->indent++;
  cw(w, "static const int srcs[%d] = %s;\nint64_t m = INT64_MAX;\n", n, srcs);
  cw(w, "for (int i = 0; i < %d; i++) {\n", n);
  w->indent++;
  cw(w, "int64_t x = sources[srcs[i]].ended ? INT64_MAX : %s[srcs[i]];\n",
     arr);
  cw(w, "if (x < m)\n  m = x;\n");
  w->indent--;
  cw(w, "}\nreturn m;\n");
  w->indent--;
  cw(w, "}\n");
}

static void emit_merge_tail(Emitter *e, PtrVec *stages, int m, int id,
                            bool timed, const char *srcs, int nsrcs) {
  Stage *ms = stages->items[m];
  Type *t = ms->type->elem;
  const char *tc = ctype(e, t);
  int nsources = e->sources->len;
  CW *w = &e->state;
  cw(w, "\n/* merge at line %d: the watermark of each source it merges. */\n",
     source_line(e->c->src, ms->node->loc.off));
  cw(w, "static PSPF_TLS int64_t mwm_%d[%d] = {", id, nsources);
  for (int i = 0; i < nsources; i++)
    cw(w, "%sINT64_MIN", i ? ", " : "");
  cw(w, "};\n");
  emit_min_watermark(w, s_(e, "minwm_%d", id), s_(e, "mwm_%d", id), srcs,
                     nsrcs);
  if (timed) {
    cw(w, "\nstatic uint64_t save_%d(pspf_buf_t *w) {\n  for (int i = 0; i < "
       "%d; i++)\n    pspf_ck_i64(w, mwm_%d[i]);\n  return 0;\n}\n", id,
       nsources, id);
    cw(w, "\nstatic void load_%d(pspf_ckr_t *r) {\n  for (int i = 0; i < %d; "
       "i++)\n    mwm_%d[i] = pspf_ckr_i64(r);\n}\n", id, nsources, id);
    ck_state(e, id, s_(e, "merge watermarks of %d sources", nsources),
             ms->node);
  }
  CW saved = e->w;
  CW mw = {0};
  mw.a = A;
  mw.at_bol = true;
  e->w = mw;
  cw(&e->w, "\nstatic void merge_%d(pspf_ctx_t *ctx, int src, const %s *in, "
     "int64_t ts, int64_t wm) {\n", id, tc);
  e->w.indent++;
  cw(&e->w, "%s v = *in;\n", tc);
  FlowCtx inner = {0, s_(e, "mdone_%d", id), NULL, NULL, NULL, NULL, "src",
                   srcs, nsrcs, SPLIT_FIRST, false};
  if (timed) {
    cw(&e->w, "mwm_%d[src] = wm;\nwm = minwm_%d();\n", id, id);
    inner.ts = "ts";
    inner.wm = "wm";
  } else {
    cw(&e->w, "(void)ts;\n(void)wm;\n");
  }
  Chain tail = {NULL, *stages};
  emit_stages(e, &tail, m + 1, "v", t, &inner);
  e->w.indent--;
  cw(&e->w, "mdone_%d:;\n  (void)src;\n}\n", id);
  mw = e->w;
  e->w = saved;
  cw_raw(&e->state, mw.buf ? mw.buf : "", mw.len);
  free(mw.buf);
}

/* ---- which fields of a source are read ----------------------------------- */

/* Marks in *mask the fields of record type [t] that expression [n] reads
 * from parameter [param] (x.f); *all when it uses x in any other way. */
static void field_uses(Node *n, const char *param, Type *t, uint64_t *mask,
                       bool *all) {
  if (!n || *all)
    return;
  if (n->kind == ND_FIELD && n->a && n->a->kind == ND_NAME &&
      n->a->name == param) {
    for (int i = 0; i < t->nfields && i < 64; i++)
      if (t->fields[i].name == n->name)
        *mask |= UINT64_C(1) << i;
    return;
  }
  if ((n->kind == ND_NAME && n->name == param) || n->kind == ND_LAMBDA) {
    *all = true;
    return;
  }
  field_uses(n->a, param, t, mask, all);
  field_uses(n->b, param, t, mask, all);
  field_uses(n->c, param, t, mask, all);
  for (int i = 0; i < n->list.len; i++)
    field_uses(n->list.items[i], param, t, mask, all);
}

/* The same for function [fn] applied to the record (a lambda's first
 * parameter; a named fn gets the whole record). */
static void fn_uses(Node *fn, Type *t, uint64_t *mask, bool *all) {
  if (fn && fn->kind == ND_NAMED_ARG)
    fn = fn->a;
  if (!fn)
    return;
  if (fn->kind != ND_LAMBDA || fn->list.len < 1) {
    *all = true;
    return;
  }
  field_uses(fn->b, fn->list.items[0]->name, t, mask, all);
}

/* Bit i: field i of [src]'s records is read by some stage of [paths]
 * (all bits when the record is used whole: a sink, reduce, a merge ...).
 * The readers convert only these fields. */
static uint64_t fields_used(Symbol *src, PtrVec *paths) {
  Type *t = src->type;
  if (t->kind != TY_RECORD || t->nfields > 64)
    return ~UINT64_C(0);
  uint64_t mask = 0;
  bool all = false;
  for (int i = 0; i < paths->len && !all; i++) {
    Path *p = paths->items[i];
    if (p->root != src)
      continue;
    for (int k = 1; k < p->stages.len && !all; k++) {
      Stage *sg = p->stages.items[k];
      Node *n = sg->node;
      if (sg->label == join_label || !sg->type) { /* a merge or a sink */
        all = true;
        break;
      }
      const char *op = n->name;
      if (strcmp(op, "filter") == 0 || strcmp(op, "key_by") == 0 ||
          strcmp(op, "event_time") == 0 || strcmp(op, "dedupe") == 0) {
        fn_uses(n->list.items[0], t, &mask, &all);
        continue;
      }
      if (strcmp(op, "window") == 0) {
        all |= late_sink(n) != NULL; /* late records go out whole */
        continue;
      }
      if (strcmp(op, "map") == 0 || strcmp(op, "flat_map") == 0) {
        fn_uses(n->list.items[0], t, &mask, &all);
        break; /* what follows sees another value */
      }
      if (strcmp(op, "aggregate") == 0) {
        for (int a = 0; a < n->list.len; a++) {
          Node *agg = n->list.items[a]->a;
          if (agg && agg->list.len)
            fn_uses(agg->list.items[0], t, &mask, &all);
        }
        break;
      }
      all = true; /* reduce, fold, anything else: the whole record */
    }
  }
  return all ? ~UINT64_C(0) : mask;
}

/* Without event_time, time is the wall clock when the record is read (kept
 * from going back), and the watermark is the same clock. */
static FlowCtx *processing_time(Emitter *e, FlowCtx *fc, FlowCtx *out,
                                Node *at) {
  int id = ++e->tmp;
  cw(&e->state, "\n/* Processing time of stage %d. */\nstatic PSPF_TLS int64_t "
     "ptime_%d = INT64_MIN;\n", id, id);
  cw(&e->state, "\nstatic uint64_t save_%d(pspf_buf_t *w) {\n  pspf_ck_i64(w, "
     "ptime_%d);\n  return 0;\n}\n", id, id);
  cw(&e->state, "\nstatic void load_%d(pspf_ckr_t *r) {\n  ptime_%d = "
     "pspf_ckr_i64(r);\n}\n", id, id);
  ck_state(e, id, "processing time", at);
  cw(&e->w, "{\n  int64_t now = pspf_wall_ms();\n  if (now > ptime_%d)\n    "
     "ptime_%d = now;\n}\n", id, id);
  *out = *fc;
  out->ts = out->wm = s_(e, "ptime_%d", id);
  return out;
}

static void emit_stages(Emitter *e, Chain *ch, int from, const char *v,
                        Type *t, FlowCtx *fc) {
  PtrVec *st = &ch->stages;
  if (from >= st->len)
    return;
  Stage *sg = st->items[from];
  Node *n = sg->node;
  line_comment(e, n->loc);
  /* /metrics: a record goes out of the stage before and into this one */
  const char *inc = fc->shared ? " += ctx->chunk_mine" : "++";
  if (from > 0 && counted(st->items[from - 1]))
    cw(&e->w, "opstat[%d].out%s;\n", op_index(e, ch, from - 1), inc);
  if (counted(sg) && !(from > 0 && counted(st->items[from - 1]) &&
                       strcmp(((Stage *)st->items[from - 1])->label,
                              "window") == 0)) {
    bool done = false;
    for (int i = 0; i < e->in_done.len && !done; i++)
      done = e->in_done.items[i] == sg;
    if (!done) {
      cw(&e->w, "opstat[%d].in%s;\n", op_index(e, ch, from), inc);
      vec_push(A, &e->in_done, sg);
    }
  }
  if (sg->label == join_label) {
    cw(&e->w, "merge_%d(ctx, %s, &%s, %s, %s);\n", ((Join *)sg)->id,
       fc->src, v, fc->ts ? fc->ts : "0", fc->wm ? fc->wm : "INT64_MIN");
    back_to_c(e);
    return;
  }
  if (!sg->type) { /* a sink */
    Symbol *s = n->sym;
    Type *want = s->sink_type;
    const char *val = coerce(e, v, t, want);
    if (val == v)
      cw(&e->w, "%s(ctx, &%s);\n", sym_c(e, "write", s), v);
    else
      cw(&e->w, "{\n  %s out = %s;\n  %s(ctx, &out);\n}\n", ctype(e, want),
         val, sym_c(e, "write", s));
    back_to_c(e);
    return;
  }
  const char *op = n->name;
  Type *elem = sg->type->elem;
  Node *fn = n->list.len ? n->list.items[0] : NULL;
  if (strcmp(op, "map") == 0) {
    const char *nv = s_(e, "v%d", ++e->tmp);
    cw(&e->w, "%s %s = %s;\n", ctype(e, elem), nv,
       lambda_body(e, fn, &v, 1, &t, elem));
    check_fault(e, fc);
    back_to_c(e);
    emit_stages(e, ch, from + 1, nv, elem, fc);
    return;
  }
  if (strcmp(op, "filter") == 0) {
    cw(&e->w, "if (%s) {\n", lambda_body(e, fn, &v, 1, &t, &ty_bool));
    back_to_c(e);
    e->w.indent++;
    check_fault(e, fc);
    emit_stages(e, ch, from + 1, v, t, fc);
    e->w.indent--;
    cw(&e->w, "}\n");
    check_fault(e, fc);
    return;
  }
  if (strcmp(op, "flat_map") == 0) {
    int id = ++e->tmp;
    Type *lt = fn->kind == ND_LAMBDA ? fn->b->type : fn->sym->type;
    if (lt->elem && type_equal(lt->elem, elem) == false)
      lt = type_list(A, elem);
    cw(&e->w, "%s l%d = %s;\n", ctype(e, lt), id,
       lambda_body(e, fn, &v, 1, &t, lt));
    check_fault(e, fc);
    cw(&e->w, "for (size_t i%d = 0; i%d < l%d.n; i%d++) {\n", id, id, id, id);
    back_to_c(e);
    e->w.indent++;
    const char *nv = s_(e, "v%d", id);
    cw(&e->w, "%s %s = l%d.items[i%d];\n", ctype(e, elem), nv, id, id);
    emit_stages(e, ch, from + 1, nv, elem, fc);
    e->w.indent--;
    cw(&e->w, "}\n");
    return;
  }
  if (strcmp(op, "event_time") == 0) {
    /* Without a window downstream, event time only checks its function. */
    bool windowed_later = false;
    for (int i = from + 1; i < st->len; i++) {
      Stage *x = st->items[i];
      if (x->label == join_label || is_op(x, "window") || is_op(x, "dedupe"))
        windowed_later = true; /* (a merge passes the time on) */
    }
    if (!windowed_later) {
      cw(&e->w, "(void)%s; /* event time is not used downstream */\n",
         lambda_body(e, fn, &v, 1, &t, &ty_timestamp));
      back_to_c(e);
      emit_stages(e, ch, from + 1, v, t, fc);
      return;
    }
    /* The watermark: the largest time seen, less the lateness. */
    int id = ++e->tmp;
    Node *lateness = NULL;
    for (int i = 1; i < n->list.len; i++)
      if (n->list.items[i]->kind == ND_NAMED_ARG)
        lateness = n->list.items[i]->a;
    const char *late = lateness ? expr(e, lateness, NULL) : "0";
    cw(&e->w, "int64_t ts%d = %s;\n", id,
       lambda_body(e, fn, &v, 1, &t, &ty_timestamp));
    /* Times more than 2^61 ms (73 million years) from 1970 are bad
     * records: window arithmetic stays far from int64's ends, and such a
     * record does not move the watermark. */
    cw(&e->w, "if (PSPF_UNLIKELY(ts%d < -(INT64_C(1) << 61) || ts%d > "
       "(INT64_C(1) << 61)))\n  pspf_fault(ctx, \"event time too far from "
       "1970 (over 2^61 ms)\");\n", id, id);
    check_fault(e, fc);
    if (fc->srcs) { /* after a merge: the least of the sources' */
      int ns = e->sources->len;
      cw(&e->state, "\n/* Event time of stage %d: the largest time seen from "
         "each source, and the watermark. */\nstatic PSPF_TLS int64_t maxts_%d[%d] = {",
         id, id, ns);
      for (int i = 0; i < ns; i++)
        cw(&e->state, "%sINT64_MIN", i ? ", " : "");
      cw(&e->state, "};\nstatic PSPF_TLS int64_t wm_%d = INT64_MIN;\n", id);
      emit_min_watermark(&e->state, s_(e, "minmax_%d", id),
                         s_(e, "maxts_%d", id), fc->srcs, fc->nsrcs);
      cw(&e->state, "\nstatic uint64_t save_%d(pspf_buf_t *w) {\n  for (int i "
         "= 0; i < %d; i++)\n    pspf_ck_i64(w, maxts_%d[i]);\n  "
         "pspf_ck_i64(w, wm_%d);\n  return 0;\n}\n", id, ns, id, id);
      cw(&e->state, "\nstatic void load_%d(pspf_ckr_t *r) {\n  for (int i = "
         "0; i < %d; i++)\n    maxts_%d[i] = pspf_ckr_i64(r);\n  wm_%d = "
         "pspf_ckr_i64(r);\n}\n", id, ns, id, id);
      ck_state(e, id, s_(e, "event_time lateness %s, per source of %d",
                         ms_text(e, late), ns), n);
      cw(&e->w, "if (ts%d > maxts_%d[%s])\n  maxts_%d[%s] = ts%d;\n", id, id,
         fc->src, id, fc->src, id);
      cw(&e->w, "wm_%d = pspf_sat_sub(minmax_%d(), %s);\n", id, id, late);
    } else {
      cw(&e->state, "\n/* Event time of stage %d: the largest time seen and "
         "the watermark. */\nstatic PSPF_TLS int64_t maxts_%d = INT64_MIN, wm_%d = "
         "INT64_MIN;\n", id, id, id);
      cw(&e->state, "\nstatic uint64_t save_%d(pspf_buf_t *w) {\n  "
         "pspf_ck_i64(w, maxts_%d);\n  pspf_ck_i64(w, wm_%d);\n  return 0;\n"
         "}\n", id, id, id);
      cw(&e->state, "\nstatic void load_%d(pspf_ckr_t *r) {\n  maxts_%d = "
         "pspf_ckr_i64(r);\n  wm_%d = pspf_ckr_i64(r);\n}\n", id, id, id);
      ck_state(e, id, s_(e, "event_time lateness %s", ms_text(e, late)), n);
      if (e->route && e->cur_split == SPLIT_KEYED) {
        /* Scaled out through a repartition topic, the watermark is the
         * routers' (ctx->time_cap; tick()), not this partition's own. */
        e->route_et = id;
        e->route_late = late;
        cw(&e->w, "if (ts%d > maxts_%d)\n  maxts_%d = ts%d;\nwm_%d = "
           "pspf_sat_sub(PSPF_UNLIKELY(ctx->capped) ? ctx->time_cap : "
           "maxts_%d, %s);\n", id, id, id, id, id, id, late);
      } else {
        cw(&e->w, "if (ts%d > maxts_%d) {\n  maxts_%d = ts%d;\n  wm_%d = "
           "pspf_sat_sub(maxts_%d, %s);\n}\n", id, id, id, id, id, id, late);
      }
    }
    back_to_c(e);
    e->opwm.items[op_index(e, ch, from)] = (void *)s_(e, "wm_%d", id);
    FlowCtx inner = *fc;
    inner.ts = s_(e, "ts%d", id);
    inner.wm = s_(e, "wm_%d", id);
    emit_stages(e, ch, from + 1, v, t, &inner);
    return;
  }
  if (strcmp(op, "window") == 0 && from + 1 < st->len) {
    Stage *next = st->items[from + 1];
    WindowSpec *ws = sg->type->window;
    FlowCtx pfc;
    if (!fc->ts) /* processing time */
      fc = processing_time(e, fc, &pfc, n);
    Aggs g = {0};
    if (!collect_aggs(e, next, t, true, &g))
      return;
    if (ws->kind == WIN_SESSION)
      emit_session_windows(e, ch, from, v, t, fc, &g);
    else if (ws->kind == WIN_COUNT)
      emit_count_windows(e, ch, from, v, t, fc, &g);
    else
      emit_time_windows(e, ch, from, v, t, fc, &g);
    back_to_c(e);
    return;
  }
  if (strcmp(op, "dedupe") == 0) {
    FlowCtx pfc;
    if (!fc->ts) /* processing time */
      fc = processing_time(e, fc, &pfc, n);
    emit_dedupe(e, ch, from, v, t, fc);
    return;
  }
  if (strcmp(op, "key_by") == 0) {
    Type *kt = sg->type->key;
    const char *kv = s_(e, "k%d", ++e->tmp);
    cw(&e->w, "%s %s = %s;\n", ctype(e, kt), kv,
       lambda_body(e, fn, &v, 1, &t, kt));
    check_fault(e, fc);
    /* --workers: the key's owner goes on; on the other workers the record
     * only moves the watermark (and, after a flat_map, the next element
     * comes: hence a block, not a jump). */
    bool keyed = fc->split == SPLIT_KEYED;
    if (keyed) {
      cw(&e->state, "static void pass_%s(pspf_ctx_t *ctx);\n", fc->label);
      cw(&e->w, "ctx->seg_sub++; /* (the order of a flat_map's elements) */\n"
         "if (ctx->nworkers > 1 && !pspf_owns(ctx, %s)) {\n  pass_%s(ctx);"
         " /* the watermark moved for all keys */\n} else {\n",
         key_hash(e, kv, kt), fc->label);
      e->w.indent++;
      cw(&e->w, "ctx->report = true;\n");
    }
    back_to_c(e);
    FlowCtx inner = *fc;
    inner.key = kv;
    inner.key_type = kt;
    inner.shared = false; /* past the guard: the key's owner alone */
    emit_stages(e, ch, from + 1, v, t, &inner);
    if (keyed) {
      e->w.indent--;
      cw(&e->w, "}\n");
    }
    return;
  }
  Stage *prev = st->items[from - 1];
  if ((strcmp(op, "aggregate") == 0 || strcmp(op, "reduce") == 0 ||
       strcmp(op, "fold") == 0) &&
      prev->type && prev->type->shape == SHAPE_KEYED && fc->key) {
    emit_running(e, ch, from, v, t, fc);
    return;
  }
  unsupported(e, n->name_loc, s_(e, "'%s'", op));
}

/* ---- the program ---------------------------------------------------------- */

static const char *param_letter(Type *t) {
  switch (t->kind) {
  case TY_INT:
    return "i";
  case TY_FLOAT:
    return "f";
  case TY_BOOL:
    return "b";
  case TY_STRING:
    return "s";
  case TY_TIMESTAMP:
    return "t";
  case TY_DURATION:
    return "d";
  default:
    return "s";
  }
}

/* The text of a literal default for --help and flag parsing, or NULL. */
static const char *literal_text(Emitter *e, Node *n) {
  char buf[PSPF_FMT_MAX];
  switch (n->kind) {
  case ND_STRING:
    return n->sval;
  case ND_INT:
    return s_(e, "%" PRIu64, n->ival);
  case ND_FLOAT: /* shortest text that reads back the same */
    buf[pspf_format_f64(n->fval, buf)] = 0;
    return s_(e, "%s", buf);
  case ND_BOOL:
    return n->bval ? "true" : "false";
  case ND_DURATION:
    return s_(e, "%" PRIu64 "ms", n->ival);
  case ND_TIMESTAMP:
    pspf_format_timestamp(n->tval, buf);
    return s_(e, "%s", buf);
  case ND_UNARY:
    if (n->op == OP_NEG && n->a->kind == ND_INT)
      return s_(e, "-%" PRIu64, n->a->ival);
    return NULL;
  default:
    return NULL;
  }
}

/* "fire_ID" by ID. */
static int fire_order(const void *a, const void *b) {
  long x = strtol(*(const char *const *)a + 5, NULL, 10);
  long y = strtol(*(const char *const *)b + 5, NULL, 10);
  return x < y ? -1 : x > y;
}

int emit_c(Ctx *c, const EmitOptions *opt, char **out, size_t *out_len) {
  Emitter em = {0};
  Emitter *e = &em;
  e->c = c;
  e->a = &c->arena;
  e->opt = opt;
  e->w.a = e->a;
  e->w.at_bol = true;
  e->state.a = e->a;
  e->state.at_bol = true;
  Checked *ck = c->checked;

  /* Symbols by kind, in source order. */
  PtrVec params = {0}, sources = {0}, sinks = {0}, fns = {0}, lets = {0};
  for (int i = 0; i < ck->symbols.len; i++) {
    Symbol *s = ck->symbols.items[i];
    switch (s->kind) {
    case SYM_PARAM:
      vec_push(A, &params, s);
      break;
    case SYM_SOURCE:
      vec_push(A, &sources, s);
      break;
    case SYM_SINK:
      if (s->sink_type)
        vec_push(A, &sinks, s);
      break;
    case SYM_FN:
      vec_push(A, &fns, s);
      break;
    case SYM_LET:
      if (!s->is_stream)
        vec_push(A, &lets, s);
      break;
    default:
      break;
    }
  }

  /* The body is written first into [body]; structs, which it discovers as
   * it goes, are written before it at the end. */
  CW *w = &e->w;
  cw(w, "\n/* ---- params and constants ---- */\n");
  for (int i = 0; i < params.len; i++) {
    Symbol *s = params.items[i];
    cw(w, "static %s P_%s;\n", ctype(e, s->type), s->name);
  }
  for (int i = 0; i < lets.len; i++) {
    Symbol *s = lets.items[i];
    cw(w, "static %s L_%s;\n", ctype(e, s->type), s->name);
  }
  cw(w, "static PSPF_TLS pspf_sink_t sinks[%d]; /* one set a worker */\n", sinks.len ? sinks.len : 1);
  cw(w, "static pspf_source_t sources[%d];\n", sources.len ? sources.len : 1);

  if (fns.len)
    cw(w, "\n/* ---- functions ---- */\n");
  for (int i = 0; i < fns.len; i++) {
    Symbol *s = fns.items[i];
    Node *d = s->decl;
    const char *sig = s_(e, "static %s fn_%s(pspf_ctx_t *ctx", ctype(e, s->type),
                         s->name);
    for (int j = 0; j < d->list.len; j++)
      sig = s_(e, "%s, %s p_%s", sig, ctype(e, d->list.items[j]->type),
               d->list.items[j]->name);
    cw(w, "%s);\n", sig);
  }
  for (int i = 0; i < fns.len; i++) {
    Symbol *s = fns.items[i];
    Node *d = s->decl;
    Env *env = NULL;
    const char *sig = s_(e, "static %s fn_%s(pspf_ctx_t *ctx", ctype(e, s->type),
                         s->name);
    for (int j = 0; j < d->list.len; j++) {
      Node *p = d->list.items[j];
      sig = s_(e, "%s, %s p_%s", sig, ctype(e, p->type), p->name);
      Env *v = arena_alloc(A, sizeof *v);
      *v = (Env){p->name, s_(e, "p_%s", p->name), env};
      env = v;
    }
    cw(w, "\n");
    line_comment(e, d->loc);
    cw(w, "%s) {\n", sig);
    w->indent++;
    cw(w, "(void)ctx;\n");
    for (int j = 0; j < d->list.len; j++)
      cw(w, "(void)p_%s;\n", d->list.items[j]->name);
    cw(w, "return %s;\n", coerce(e, expr(e, d->b, env), d->b->type, s->type));
    w->indent--;
    cw(w, "}\n");
    back_to_c(e);
  }

  for (int si = 0; si < sources.len; si++) {
    Symbol *src = sources.items[si];
    if (src->format && strcmp(src->format, "json") == 0 &&
        src->type->kind == TY_RECORD)
      emit_json_reader(e, src->type);
  }
  if (e->json_types.len) {
    cw(w, "\n/* ---- JSON readers ---- */\n");
    emit_json_readers(e);
  }

  cw(w, "\n/* ---- sinks ---- */\n");
  for (int i = 0; i < sinks.len; i++)
    emit_sink(e, sinks.items[i], i);

  /* Flows: for each source, every pipeline rooted at it. */
  size_t flows_at = w->len; /* keyed state goes here, once known */
  e->sources = &sources;
  PtrVec paths = {0};
  for (int i = 0; i < ck->chains.len; i++) {
    Chain *ch = ck->chains.items[i];
    if (ch->stmt->kind != ND_PIPELINE)
      continue;
    PtrVec flat = {0};
    Symbol *root = NULL;
    flatten_chain(e, ch, &flat, &root);
    add_paths(e, &flat, root, &paths);
  }
  cw(w, "\n/* ---- pipelines ---- */\n");
  int split_kinds = 0; /* 1 << SPLIT_*: what the workers run */
  const char *route = NULL;
  const char *scale = scale_refusal(e, &sources, &sinks, &paths, &route);
  e->route = scale ? NULL : route;
  for (int si = 0; si < sources.len; si++) {
    Symbol *src = sources.items[si];
    cw(w, "\n/* Every pipeline that reads source '%s'. */\n", src->name);
    cw(w, "static void flow_%s(pspf_ctx_t *ctx, const %s *in) {\n", src->name,
       ctype(e, src->type));
    const char *passes = "";
    e->in_done.len = 0;
    w->indent++;
    cw(w, "%s v0 = *in;\n", ctype(e, src->type));
    /* A bad record in one pipeline still goes through the others: each
     * starts without a fault, and the first fault is the record's. */
    cw(w, "const char *bad = NULL;\nbool badrep = false;\nint badpath = 0;\n");
    int npaths = 0;
    for (int i = 0; i < paths.len; i++) {
      Path *p = paths.items[i];
      if (p->root != src)
        continue;
      if (npaths++)
        cw(w, "if (ctx->fault && !bad) {\n  bad = ctx->fault;\n  badrep = "
           "ctx->report;\n  badpath = ctx->seg_path;\n}\nctx->fault = NULL;\n");
      Chain flat = {NULL, p->stages};
      int mode = split_mode(p);
      split_kinds |= 1 << mode;
      FlowCtx fc = {0, s_(e, "done_%d", i), NULL, NULL, NULL, NULL,
                    s_(e, "%d", si), NULL, 0, mode, mode == SPLIT_KEYED};
      cw(w, "ctx->seg_path = %d;\n", i);
      int calls_from = e->fire_calls.len;
      e->cur_split = mode;
      if (mode == SPLIT_CHUNK)
        cw(w, "if (!ctx->chunk_mine) /* --workers: another worker's chunk */\n"
           "  goto %s;\nctx->report = true;\n", fc.label);
      else if (mode == SPLIT_FIRST)
        cw(w, "if (ctx->worker) /* --workers: the first worker's */\n  goto "
           "%s;\nctx->report = true;\n", fc.label);
      else
        cw(w, "ctx->report = ctx->chunk_mine; /* until the key's owner */\n");
      cw(w, "{\n");
      w->indent++;
      emit_stages(e, &flat, 1, "v0", src->type, &fc);
      w->indent--;
      cw(w, "}\n");
      int ind = w->indent;
      w->indent = 0; /* labels at column 0 */
      cw(w, "%s:;\n", fc.label);
      w->indent = ind;
      if (mode == SPLIT_KEYED && e->route)
        e->route_pass = fc.label;
      if (mode == SPLIT_KEYED) { /* pass_LABEL(), after the flow */
        const char *body = "";
        for (int k = calls_from; k < e->fire_calls.len; k++)
          body = s_(e, "%s  %s", body, (const char *)e->fire_calls.items[k]);
        passes = s_(e, "%s\n/* --workers: a record of another worker's key "
                    "fires this worker's windows\n * that the watermark has "
                    "passed. */\nstatic void pass_%s(pspf_ctx_t *ctx) "
                    "{\n%s  (void)ctx;\n}\n", passes, fc.label, body);
      }
    }
    cw(w, "if (bad) {\n  ctx->fault = bad;\n  ctx->report = badrep;\n  "
       "ctx->seg_path = badpath;\n}\n(void)v0;\n(void)badrep;\n"
       "(void)badpath;\n");
    w->indent--;
    cw(w, "}\n");
    if (*passes) {
      int ind = w->indent;
      w->indent = 0;
      cw(w, "%s", passes);
      w->indent = ind;
    }
    /* With --workers, a reader only parses: the record is kept with its
     * chunk (strings unescaped into scratch are copied there) and every
     * worker then runs it through flow_SRC() (parsed_SRC()). */
    const char *ct = ctype(e, src->type);
    cw(w, "\n/* A parsed record of '%s': through the pipelines, or kept for "
       "the workers. */\n", src->name);
    cw(w, "static void run_%s(pspf_ctx_t *ctx, %s *r) {\n", src->name, ct);
    w->indent++;
    cw(w, "if (PSPF_UNLIKELY(ctx->collect)) {\n");
    w->indent++;
    Type *t = src->type;
    if (t->kind == TY_STRING) {
      cw(w, "*r = pspf_chunk_str(ctx, *r);\n");
    } else if (t->kind == TY_RECORD) {
      for (int i = 0; i < t->nfields; i++) {
        Type *ft = t->fields[i].type;
        const char *f = cfield(e, t->fields[i].name);
        if (ft->kind == TY_STRING)
          cw(w, "r->%s = pspf_chunk_str(ctx, r->%s);\n", f, f);
        else if (ft->kind == TY_OPTIONAL && ft->elem->kind == TY_STRING)
          cw(w, "if (r->%s.has)\n  r->%s.v = pspf_chunk_str(ctx, r->%s.v);\n",
             f, f, f);
      }
    }
    cw(w, "pspf_chunk_record(ctx, r, sizeof *r);\nreturn;\n");
    w->indent--;
    cw(w, "}\nflow_%s(ctx, r);\n", src->name);
    w->indent--;
    cw(w, "}\n");
    cw(w, "\nstatic void parsed_%s(pspf_ctx_t *ctx, const void *r) {\n  "
       "flow_%s(ctx, r);\n}\n", src->name, src->name);
  }

  /* Readers: one a source, for its declared type and format. */
  cw(w, "\n/* ---- sources ---- */\n");
  for (int si = 0; si < sources.len; si++) {
    Symbol *src = sources.items[si];
    Type *t = src->type;
    const char *fmt = src->format ? src->format : "json";
    if (strcmp(src->connector, "file") != 0 &&
        strcmp(src->connector, "stdin") != 0 &&
        strcmp(src->connector, "mqtt") != 0 &&
        strcmp(src->connector, "kafka") != 0) {
      unsupported(e, src->decl->loc, s_(e, "a '%s' source", src->connector));
      continue;
    }
    if (strcmp(fmt, "csv") == 0) {
      int nf = t->nfields;
      cw(w, "\n/* CSV columns of '%s': column -> field, -1 unused. */\n",
         src->name);
      cw(w, "static bool inorder_%s = true; /* the columns are the fields, in "
         "order */\n", src->name);
      cw(w, "static int cols_%s[256];\nstatic int ncols_%s = %d;\n", src->name,
         src->name, nf);
      cw(w, "\nstatic int header_%s(pspf_ctx_t *ctx, const char *p, size_t "
         "n) {\n", src->name);
      w->indent++;
      cw(w, "static const char *const names[] = {");
      for (int i = 0; i < nf; i++)
        cw(w, "%s%s", i ? ", " : "",
           c_string_literal(e, t->fields[i].name, strlen(t->fields[i].name)));
      cw(w, "%s};\n", nf ? "" : "NULL");
      cw(w, "pspf_buf_t scratch = {0};\npspf_buf_reserve(&scratch, n + 1);\n"
         "pspf_csv_t it;\npspf_str_t f;\nint col = 0;\nbool found[%d] = "
         "{false};\n", nf ? nf : 1);
      cw(w, "pspf_csv_init(&it, p, n, %s);\n",
         s_(e, "%d", fmt_delim(src)));
      cw(w, "while (pspf_csv_next(&it, &scratch, &f) == 1 && col < 256) {\n");
      w->indent++;
      cw(w, "cols_%s[col] = -1;\n", src->name);
      cw(w, "for (int i = 0; i < %d; i++)\n  if (strlen(names[i]) == f.n && "
         "memcmp(names[i], f.p, f.n) == 0) {\n    cols_%s[col] = i;\n    "
         "found[i] = true;\n  }\n", nf, src->name);
      cw(w, "col++;\n");
      w->indent--;
      cw(w, "}\nncols_%s = col;\npspf_buf_free(&scratch);\n", src->name);
      cw(w, "inorder_%s = ncols_%s == %d;\nfor (int i = 0; i < ncols_%s; i++)\n"
         "  inorder_%s = inorder_%s && cols_%s[i] == i;\n", src->name, src->name,
         nf, src->name, src->name, src->name, src->name);
      for (int i = 0; i < nf; i++)
        if (t->fields[i].type->kind != TY_OPTIONAL)
          cw(w, "if (!found[%d]) {\n  pspf_log(ctx, 0, \"source '%s': column "
             "'%s' is missing from the header of %%s\", ctx->pos.path);\n  "
             "ctx->exit_status = PSPF_EXIT_FAILURE;\n  return -1;\n}\n", i,
             src->name, t->fields[i].name);
      cw(w, "return 0;\n");
      w->indent--;
      cw(w, "}\n");
      cw(w, "\nstatic void record_%s(pspf_ctx_t *ctx, const char *p, size_t "
         "n) {\n", src->name);
      w->indent++;
      cw(w, "%s r;\nmemset(&r, 0, sizeof r);\n", ctype(e, t));
      cw(w, "/* Without quotes (most records), the runtime split the fields "
         "as it\n * framed the record; else they are read one by one, unquoted "
         "into scratch. */\n");
      cw(w, "pspf_str_t *fs = ctx->csv_f, f;\nint nf = ctx->csv_nf, rc = 0;\n");
      cw(w, "if (nf == -2) /* not split while framed */\n  nf = "
         "pspf_csv_split(p, n, %d, fs, PSPF_CSV_MAX_FIELDS);\n",
         fmt_delim(src));
      cw(w, "if (nf > ncols_%s + 1)\n  nf = ncols_%s + 1; /* more fields than "
         "columns */\n", src->name, src->name);
      cw(w, "uint32_t seen = 0;\npspf_csv_t it;\n");
      cw(w, "if (nf == %d && inorder_%s) { /* straight-line */\n", nf,
         src->name);
      w->indent++;
      e->padded = true; /* the fields are slices of the record */
      uint64_t used = fields_used(src, &paths);
      for (int i = 0; i < nf; i++)
        if (i < 64 && !(used >> i & 1))
          cw(w, "/* %s: no stage reads it, so it is not converted */\n",
             t->fields[i].name);
        else
          read_scalar_text(e, s_(e, "r.%s", cfield(e, t->fields[i].name)),
                           t->fields[i].type, s_(e, "fs[%d].p", i),
                           s_(e, "fs[%d].n", i), t->fields[i].name);
      e->padded = false;
      cw(w, "if (!ctx->fault)\n  run_%s(ctx, &r);\nreturn;\n", src->name);
      w->indent--;
      cw(w, "}\n");
      cw(w, "if (nf < 0) {\n  pspf_buf_reserve(&ctx->scratch, n + 1);\n  "
         "pspf_csv_init(&it, p, n, %d);\n}\n", fmt_delim(src));
      cw(w, "for (int col = 0;; col++) {\n");
      w->indent++;
      cw(w, "if (nf >= 0) {\n  if (col >= nf)\n    break;\n  f = fs[col];\n"
         "} else if ((rc = pspf_csv_next(&it, &ctx->scratch, &f)) != 1) {\n"
         "  break;\n}\n");
      cw(w, "int field = col < ncols_%s ? cols_%s[col] : -2;\n", src->name,
         src->name);
      cw(w, "switch (field) {\n");
      for (int i = 0; i < nf; i++) {
        cw(w, "case %d:\n", i);
        w->indent++;
        cw(w, "seen |= UINT32_C(1) << %d;\n", i < 31 ? i : 31);
        if (i < 64 && !(used >> i & 1))
          cw(w, "/* not read by any stage: not converted */\n");
        else
          read_scalar_text(e, s_(e, "r.%s", cfield(e, t->fields[i].name)),
                           t->fields[i].type, "f.p", "f.n", t->fields[i].name);
        cw(w, "break;\n");
        w->indent--;
      }
      cw(w, "case -2:\n  pspf_fault(ctx, \"more fields than columns\");\n  "
         "break;\ndefault:\n  break;\n}\n");
      w->indent--;
      cw(w, "}\n");
      cw(w, "if (rc < 0)\n  pspf_fault(ctx, \"malformed CSV quoting\");\n");
      for (int i = 0; i < nf && i < 31; i++)
        if (t->fields[i].type->kind != TY_OPTIONAL)
          cw(w, "if (!(seen & (UINT32_C(1) << %d)))\n  pspf_fault(ctx, "
             "\"missing field '%s'\");\n", i, t->fields[i].name);
      cw(w, "if (!ctx->fault)\n  run_%s(ctx, &r);\n", src->name);
      w->indent--;
      cw(w, "}\n");
    } else if (strcmp(fmt, "json") == 0) {
      cw(w, "\nstatic void record_%s(pspf_ctx_t *ctx, const char *p, size_t "
         "n) {\n", src->name);
      w->indent++;
      cw(w, "/* Unescaped strings take at most n bytes: no move. */\n"
         "pspf_buf_reserve(&ctx->scratch, n + 1);\n");
      cw(w, "%s r;\njson_%s(ctx, p, n, &r);\nif (!ctx->fault)\n  run_%s(ctx, "
         "&r);\n", ctype(e, t), rec_decl(e, t)->tag, src->name);
      w->indent--;
      cw(w, "}\n");
    } else {
      cw(w, "\nstatic void record_%s(pspf_ctx_t *ctx, const char *p, size_t "
         "n) {\n", src->name);
      w->indent++;
      cw(w, "pspf_str_t r = {p, n};\nrun_%s(ctx, &r);\n", src->name);
      w->indent--;
      cw(w, "}\n");
    }
  }

  /* start(): constants, connector arguments, CSV headers. */
  /* worker_ops(): the operators of the calling thread, their watermarks
   * pointing at its own (with --workers each worker counts its own). */
  cw(w, "\n/* The operators of the calling thread, with its watermarks. */\n"
     "static pspf_op_stat_t *worker_ops(void) {\n");
  w->indent++;
  for (int i = 0; i < e->opwm.len; i++)
    if (e->opwm.items[i])
      cw(w, "opstat[%d].watermark = &%s;\n", i,
         (const char *)e->opwm.items[i]);
  cw(w, "return opstat;\n");
  w->indent--;
  cw(w, "}\n");
  cw(w, "\n/* ---- start and finish ---- */\n");
  cw(w, "static const char *cstr(pspf_str_t s) {\n  char *p = malloc(s.n + 1);"
     "\n  if (!p)\n    exit(PSPF_EXIT_FAILURE);\n  memcpy(p, s.p, s.n);\n  "
     "p[s.n] = 0;\n  return p;\n}\n");
  cw(w, "\nstatic int start(pspf_ctx_t *ctx) {\n");
  w->indent++;
  /* What the program text fixes goes in the arrays' initializers, after
   * start() (so that --version knows it without the flags); start() sets
   * what depends on params. */
  const char *src_init = "", *sink_init = "";
  for (int i = 0; i < lets.len; i++) {
    Symbol *s = lets.items[i];
    cw(w, "L_%s = %s;\n", s->name,
       coerce(e, expr(e, s->decl->b, NULL), s->decl->b->type, s->type));
  }
  for (int i = 0; i < sources.len; i++) {
    Symbol *s = sources.items[i];
    Node *path = NULL;
    for (int j = 0; s->conn && j < s->conn->list.len; j++)
      if (s->conn->list.items[j]->kind != ND_NAMED_ARG)
        path = s->conn->list.items[j];
    if (strcmp(s->connector, "kafka") == 0)
      path = conn_arg(s->conn, "brokers");
    const char *fmt = s->format ? s->format : "json";
    bool mqtt = strcmp(s->connector, "mqtt") == 0;
    bool kafka = strcmp(s->connector, "kafka") == 0;
    bool follow = follows(s);
    /* (a message is a record: no header) */
    src_init = s_(e, "%s{.name = %s, .format = %s, .header = %s, .delim = %d, "
                  ".on_header = %s, .on_record = record_%s, .on_parsed = parsed_%s, "
                  ".rec_size = sizeof(%s)%s%s},\n", src_init,
                  c_string_literal(e, s->name, strlen(s->name)),
                  strcmp(fmt, "csv") == 0    ? "PSPF_FMT_CSV"
                  : strcmp(fmt, "json") == 0 ? "PSPF_FMT_JSON"
                                             : "PSPF_FMT_LINES",
                  strcmp(fmt, "csv") == 0 && !s->csv_no_header && !mqtt &&
                          !kafka
                      ? "true"
                      : "false",
                  fmt_delim(s),
                  strcmp(fmt, "csv") == 0 ? s_(e, "header_%s", s->name)
                                          : "NULL",
                  s->name, s->name, ctype(e, s->type),
                  kafka  ? ", .ops = &pspf_kafka_source_ops"
                  : mqtt ? ", .ops = &pspf_mqtt_source_ops"
                         : "",
                  follow ? ", .follow = true /* like tail -F */" : "");
    cw(w, "sources[%d].path = %s;\n", i,
       path ? s_(e, "cstr(%s)", expr(e, path, NULL)) : "\"-\"");
    if (kafka) {
      Node *topic = conn_arg(s->conn, "topic"),
           *group = conn_arg(s->conn, "group");
      cw(w, "sources[%d].topic = %s;\n", i,
         topic ? s_(e, "cstr(%s)", expr(e, topic, NULL)) : "\"pspf\"");
      if (group)
        cw(w, "sources[%d].client_id = cstr(%s);\n", i,
           expr(e, group, NULL));
    }
    if (strcmp(fmt, "csv") == 0 && (s->csv_no_header || mqtt || kafka))
      cw(w, "for (int i = 0; i < %d; i++)\n  cols_%s[i] = i;\n",
         s->type->nfields, s->name);
    if (mqtt)
      mqtt_fields(e, w, s_(e, "sources[%d]", i), s);
  }
  for (int i = 0; i < sinks.len; i++) {
    Symbol *s = sinks.items[i];
    Node *path = NULL;
    bool append = false;
    for (int j = 0; s->conn && j < s->conn->list.len; j++) {
      Node *a = s->conn->list.items[j];
      if (a->kind != ND_NAMED_ARG)
        path = a;
      else if (strcmp(a->name, "append") == 0 && a->a->kind == ND_BOOL)
        append = a->a->bval;
    }
    bool console = strcmp(s->connector, "file") != 0 &&
                   strcmp(s->connector, "sqlite") != 0 &&
                   strcmp(s->connector, "mqtt") != 0 &&
                   strcmp(s->connector, "kafka") != 0;
    if (strcmp(s->connector, "kafka") == 0)
      path = conn_arg(s->conn, "brokers");
    const char *kind = strcmp(s->connector, "sqlite") == 0
                           ? "sqlite"
                           : s_(e, "%s %s", s->connector,
                                s->format ? s->format : "json");
    bool sqlite = strcmp(s->connector, "sqlite") == 0;
    sink_init = s_(e, "%s{.name = %s, .kind = %s, .append = %s, .fd = -1%s},\n",
                   sink_init, c_string_literal(e, s->name, strlen(s->name)),
                   c_string_literal(e, kind, strlen(kind)),
                   append ? "true" : "false",
                   strcmp(s->connector, "mqtt") == 0
                       ? ", .ops = &pspf_mqtt_sink_ops"
                   : strcmp(s->connector, "kafka") == 0
                       ? ", .ops = &pspf_kafka_sink_ops"
                   : sqlite ? ", .ops = &pspf_sqlite_ops"
                            : "");
    cw(w, "sinks[%d].path = %s;\n", i,
       console || !path ? "\"-\"" : s_(e, "cstr(%s)", expr(e, path, NULL)));
    if (strcmp(s->connector, "mqtt") == 0)
      mqtt_fields(e, w, s_(e, "sinks[%d]", i), s);
    if (strcmp(s->connector, "kafka") == 0) {
      Node *topic = conn_arg(s->conn, "topic");
      cw(w, "sinks[%d].topic = %s;\n", i,
         topic ? s_(e, "cstr(%s)", expr(e, topic, NULL)) : "\"pspf\"");
    }
    if (strcmp(s->connector, "sqlite") == 0) {
      Node *table = NULL;
      for (int j = 0; s->conn && j < s->conn->list.len; j++) {
        Node *a = s->conn->list.items[j];
        if (a->kind == ND_NAMED_ARG && strcmp(a->name, "table") == 0)
          table = a->a;
      }
      cw(w, "table_%s.name = %s;\nsinks[%d].table = &table_%s;\n", s->name,
         table ? s_(e, "cstr(%s)", expr(e, table, NULL)) : "\"records\"", i,
         s->name);
    }
    if (s->format && strcmp(s->format, "csv") == 0 && !s->csv_no_header &&
        s->sink_type->kind == TY_RECORD) {
      /* The header: field names in declared order. */
      const char *h = "";
      char d = fmt_delim(s);
      for (int j = 0; j < s->sink_type->nfields; j++)
        h = s_(e, "%s%s%s", h, j ? s_(e, "%c", d) : "",
               s->sink_type->fields[j].name);
      h = s_(e, "%s\n", h);
      if (append)
        cw(w, "if (pspf_file_is_empty(sinks[%d].path))\n  ", i);
      cw(w, "pspf_buf_add(&sinks[%d].buf, %s, %zu);\n", i,
         c_string_literal(e, h, strlen(h)), strlen(h));
    }
  }
  cw(w, "(void)worker_ops();\n");
  cw(w, "(void)ctx;\nreturn ctx->fault ? PSPF_EXIT_FAILURE : 0;\n");
  w->indent--;
  cw(w, "}\n");
  if (*src_init) {
    cw(w, "\nstatic pspf_source_t sources[%d] = {\n", sources.len);
    w->indent += 2; /* brace initializers: 4 */
    cw(w, "%s", src_init);
    w->indent -= 2;
    cw(w, "};\n");
  }
  if (*sink_init) {
    cw(w, "\nstatic PSPF_TLS pspf_sink_t sinks[%d] = {\n", sinks.len);
    w->indent += 2;
    cw(w, "%s", sink_init);
    w->indent -= 2;
    cw(w, "};\n");
  }
  cw(w, "\n/* Every source has ended: the watermark is +infinity, every open "
     "window fires. */\nstatic void finish(pspf_ctx_t *ctx) {\n");
  w->indent++;
  /* Upstream first: a window's last results reach the windows after it
   * before those fire. (A stage's id is taken before the stages after it
   * are emitted, so ids grow downstream; e->fires is filled as each
   * window's code is done, downstream first.) */
  if (e->fires.len > 1)
    qsort(e->fires.items, (size_t)e->fires.len, sizeof *e->fires.items,
          fire_order);
  for (int i = 0; i < e->fires.len; i++)
    cw(w, "ctx->seg_path = %d;\n%s(ctx, INT64_MAX);\n", i,
       (const char *)e->fires.items[i]);
  for (int i = 0; i < e->frees.len; i++)
    cw(w, "%s;\n", (const char *)e->frees.items[i]);
  cw(w, "(void)ctx;\n");
  w->indent--;
  cw(w, "}\n");
  cw(w, "\n/* The sinks of the calling thread (each worker writes its own). "
     "*/\nstatic pspf_sink_t *worker_sinks(void) {\n  return sinks;\n}\n");

  /* main */
  const char *stem = c->src->path;
  const char *slash = strrchr(stem, '/');
  if (slash)
    stem = slash + 1;
  size_t stem_len = strlen(stem);
  if (stem_len > 5 && strcmp(stem + stem_len - 5, ".pspf") == 0)
    stem_len -= 5;
  if (e->route) {
    Symbol *src = sources.items[0];
    const Field *fd = type_field(src->type, route);
    cw(w, "\n/* --scale-out: the hash that picks a record's partition of the "
       "repartition topic\n * (its key_by's key, '%s'). */\nstatic uint64_t "
       "route(const void *p) {\n  const %s *r = p;\n  return %s;\n}\n", route,
       ctype(e, src->type), key_hash(e, s_(e, "r->%s", cfield(e, route)),
                                     fd->type));
    emit_route_time(e, w, src, &paths);
  }
  cw(w, "\nint main(int argc, char **argv) {\n");
  w->indent++;
  cw(w, "static pspf_param_t params[] = {\n");
  w->indent += 2; /* brace initializers: 4 */
  for (int i = 0; i < params.len; i++) {
    Symbol *s = params.items[i];
    Node *d = s->decl;
    const char *def = d->b ? literal_text(e, d->b) : NULL;
    if (d->b && !def)
      unsupported(e, d->b->loc, "a param default that is not a literal");
    cw(w, "{%s, '%s', %s, &P_%s},\n",
       c_string_literal(e, s->name, strlen(s->name)), param_letter(s->type),
       def ? c_string_literal(e, def, strlen(def)) : "NULL", s->name);
  }
  if (!params.len)
    cw(w, "{NULL, 0, NULL, NULL},\n");
  w->indent -= 2;
  cw(w, "};\n");
  /* The state that checkpoints save, in a fixed order. */
  cw(w, "static pspf_state_t states[] = {\n");
  w->indent += 2;
  for (int i = 0; i < e->ck.len; i++) {
    CkState *k = e->ck.items[i];
    cw(w, "{%s, %s, save_%d, load_%d, %s, %s},\n",
       c_string_literal(e, k->layout, strlen(k->layout)),
       c_string_literal(e, k->where, strlen(k->where)), k->id, k->id,
       k->held ? s_(e, "held_%d", k->id) : "NULL", k->split);
  }
  if (!e->ck.len)
    cw(w, "{NULL, NULL, NULL, NULL, NULL, 0},\n");
  w->indent -= 2;
  cw(w, "};\n");
  /* The .pspf source itself, a literal a line (--print-source). */
  cw(w, "static const char program_source[] =");
  w->indent += 2;
  const char *text = c->src->text;
  size_t left = c->src->len;
  if (!left)
    cw(w, "\n\"\"");
  while (left) {
    const char *nl = memchr(text, '\n', left);
    size_t n = nl ? (size_t)(nl - text) : left;
    const char *lit = c_string_literal(e, text, n);
    cw(w, "\n%.*s%s", (int)strlen(lit) - 1, lit, nl ? "\\n\"" : "\"");
    text += n + (nl ? 1 : 0);
    left -= n + (nl ? 1 : 0);
  }
  cw(w, ";\n");
  w->indent -= 2;
  cw(w, "pspf_program_t prog = {\n");
  w->indent += 2; /* brace initializers: 4 */
  cw(w, ".name = %s,\n", c_string_literal(e, stem, stem_len));
  cw(w, ".source_file = %s,\n",
     c_string_literal(e, c->src->path, strlen(c->src->path)));
  cw(w, ".source_text = program_source,\n.source_len = sizeof "
        "program_source - 1,\n.built_by = \"pspfc %s\",\n", PSPFC_VERSION);
  cw(w, ".params = params,\n.nparams = %d,\n", params.len);
  cw(w, ".sources = sources,\n.nsources = %d,\n", sources.len);
  cw(w, ".sinks = sinks,\n.nsinks = %d,\n", sinks.len);
  cw(w, ".states = states,\n.nstates = %d,\n", e->ck.len);
  cw(w, ".ops = opstat,\n.nops = %d,\n", e->opstats.len);
  cw(w, ".start = start,\n.finish = finish,\n");
  const char *why = split_refusal(e, &sources, &sinks);
  cw(w, ".worker_sinks = worker_sinks,\n.worker_ops = worker_ops,\n"
     ".split_refusal = %s,\n",
     why ? c_string_literal(e, why, strlen(why)) : "NULL");
  if (sources.len == 1 &&
      strcmp(((Symbol *)sources.items[0])->connector, "kafka") == 0) {
    cw(w, ".scale_out = pspf_scale_out,\n.scale_refusal = %s,\n",
       scale ? c_string_literal(e, scale, strlen(scale)) : "NULL");
    if (e->route)
      cw(w, ".route = route,\n.route_field = %s,\n%s",
         c_string_literal(e, route, strlen(route)),
         e->route_et ? ".route_time = route_time,\n.tick = tick,\n" : "");
  }
  static const char *const kinds[] = {"PSPF_SPLIT_CHUNK", "PSPF_SPLIT_KEYED",
                                       "PSPF_SPLIT_FIRST"};
  const char *split = "";
  for (int k = 0; k < 3; k++)
    if (split_kinds & 1 << k)
      split = s_(e, "%s%s%s", split, *split ? " | " : "", kinds[k]);
  cw(w, ".split = %s,\n", *split ? split : "0");
  w->indent -= 2;
  cw(w, "};\nreturn pspf_main(&prog, argc, argv);\n");
  w->indent--;
  cw(w, "}\n");

  /* Now the head: banner, includes, structs, JSON readers. */
  CW head = {0};
  head.a = e->a;
  head.at_bol = true;
  cw(&head, "/* Generated by pspfc %s from %s -- do not edit. */\n",
     PSPFC_VERSION, c->src->path);
  cw(&head, "#include <math.h>\n#include <stdbool.h>\n#include <stdint.h>\n"
     "#include <stdlib.h>\n#include <string.h>\n\n#include <pspf/rt.h>\n"
     "#include <pspf/std.h>\n");
  /* The operators /metrics counts records of. */
  cw(&head, "\n/* ---- operators, as /metrics counts them ---- */\n");
  cw(&head, "static PSPF_TLS pspf_op_stat_t opstat[%d] = {\n",
     e->opstats.len ? e->opstats.len : 1);
  head.indent += 2;
  for (int i = 0; i < e->opstats.len; i++) {
    Stage *sg = e->opstats.items[i];
    const char *where = s_(e, "%s:%d", c->src->path,
                           source_line(c->src, sg->node->loc.off));
    cw(&head, "{%s, %s, 0, 0, NULL},\n",
       c_string_literal(e, sg->label, strlen(sg->label)),
       c_string_literal(e, where, strlen(where)));
  }
  if (!e->opstats.len)
    cw(&head, "{NULL, NULL, 0, 0, NULL},\n");
  head.indent -= 2;
  cw(&head, "};\n");
  cw(&head, "\n/* ---- records ---- */\n");
  for (int i = 0; i < e->recs.len; i++) {
    RecDecl *r = e->recs.items[i];
    cw(&head, "\n%s {\n", r->cname);
    head.indent++;
    for (int j = 0; j < r->type->nfields; j++)
      cw(&head, "%s %s;\n", ctype(e, r->type->fields[j].type),
         cfield(e, r->type->fields[j].name));
    if (!r->type->nfields)
      cw(&head, "char unused;\n");
    head.indent--;
    cw(&head, "};\n");
  }
  for (int i = 0; i < e->opt_recs.len; i++) {
    RecDecl *o = e->opt_recs.items[i];
    cw(&head, "\n%s {\n  bool has;\n  %s v;\n};\n", o->cname,
       ctype(e, o->type->elem));
  }
  for (int i = 0; i < e->list_types.len; i++) {
    RecDecl *l = e->list_types.items[i];
    cw(&head, "\n%s {\n  %s *items;\n  size_t n;\n};\n", l->cname,
       ctype(e, l->type->elem));
  }
  /* Assemble the head and the body, then number the #line directives. */
  size_t total = head.len + e->w.len + e->state.len;
  char *joined = malloc(total + 1);
  memcpy(joined, head.buf, head.len);
  memcpy(joined + head.len, e->w.buf, flows_at);
  if (e->state.len)
    memcpy(joined + head.len + flows_at, e->state.buf, e->state.len);
  memcpy(joined + head.len + flows_at + e->state.len, e->w.buf + flows_at,
         e->w.len - flows_at);
  joined[total] = 0;
  free(head.buf);
  free(e->w.buf);
  free(e->state.buf);
  char *all = joined;
  if (!opt->no_line) {
    all = fix_lines(joined, &total);
    free(joined);
  }
  *out = all;
  *out_len = total;
  for (int i = 0; opt->states && i < e->ck.len; i++) {
    CkState *k = e->ck.items[i];
    vec_push(A, opt->states, (void *)k->layout);
    vec_push(A, opt->states, (void *)k->where);
  }
  return e->errors;
}
