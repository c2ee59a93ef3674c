/*
 * pspfc.h -- the compiler's one internal header.
 *
 * Phases: source.c (file, line table) -> lexer/parser (grammar/) -> ast.c
 * (nodes in an arena) -> check.c (names, types, stream graph) -> later
 * phases. diag.c is the only code that prints to the user.
 */
#ifndef PSPFC_H
#define PSPFC_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PSPFC_VERSION "0.1.0"

/* ------------------------------------------------------------------ */
/* arena.c: bump allocator and string interning                        */
/* ------------------------------------------------------------------ */

typedef struct ArenaChunk ArenaChunk;

/* A bump allocator: everything the compiler builds lives here and is freed
 * at once by arena_free(). */
typedef struct Arena {
  ArenaChunk *head;      /* newest chunk; older ones follow its link */
  char **interned;       /* open-addressing table of interned strings */
  size_t interned_cap;   /* slots in [interned], a power of two */
  size_t interned_count; /* used slots */
} Arena;

void arena_init(Arena *a);
void arena_free(Arena *a);
/* Returns [size] zeroed bytes aligned for any type; never NULL. */
void *arena_alloc(Arena *a, size_t size);
/* Copies [len] bytes of [s] into the arena, NUL-terminated. */
char *arena_strndup(Arena *a, const char *s, size_t len);
/* Returns the unique arena copy of [s][0..len): equal strings give equal
 * pointers, so interned names compare with ==. */
const char *arena_intern(Arena *a, const char *s, size_t len);
const char *arena_intern_cstr(Arena *a, const char *s);
/* printf into the arena. */
char *arena_printf(Arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A growable array of pointers allocated in an arena. */
typedef struct PtrVec {
  void **items; /* the elements */
  int len;      /* used */
  int cap;      /* allocated */
} PtrVec;

void vec_push(Arena *a, PtrVec *v, void *item);

/* ------------------------------------------------------------------ */
/* source.c: the program text and its line table                       */
/* ------------------------------------------------------------------ */

/* A span of the source: byte offset and length. Line and column are only
 * computed when a diagnostic is printed. */
typedef struct Loc {
  uint32_t off; /* byte offset of the first character */
  uint32_t len; /* bytes covered; 0 for a point */
} Loc;

/* One source file, NUL-terminated, with the offsets of its line starts. */
typedef struct Source {
  const char *path; /* as the user gave it; printed in diagnostics */
  const char *text; /* the bytes, NUL-terminated */
  size_t len;       /* bytes, without the NUL */
  uint32_t *lines;  /* offset of the start of each line */
  int nlines;       /* entries in [lines] */
} Source;

/* Makes a Source from [text] (copied into [a]). */
Source *source_from_string(Arena *a, const char *path, const char *text,
                           size_t len);
/* Reads [path]; on failure returns NULL and sets errno. */
Source *source_read_file(Arena *a, const char *path);
/* 1-based line of byte offset [off]. */
int source_line(const Source *s, uint32_t off);
/* 1-based column of [off]: characters (UTF-8 code points) from the line
 * start, tabs advancing to the next multiple of 8 (GNU convention). */
int source_col(const Source *s, uint32_t off);
/* The text of 1-based [line] without its newline; length in [*len]. */
const char *source_line_text(const Source *s, int line, size_t *len);

Loc loc_join(Loc a, Loc b);

/* ------------------------------------------------------------------ */
/* diag.c: every message to the user                                   */
/* ------------------------------------------------------------------ */

typedef enum DiagLevel { DIAG_ERROR, DIAG_WARNING, DIAG_NOTE, DIAG_HELP } DiagLevel;

typedef enum DiagColor { DIAG_COLOR_AUTO, DIAG_COLOR_ALWAYS, DIAG_COLOR_NEVER } DiagColor;

typedef struct Diag {
  const Source *src;  /* the file the locations point into */
  FILE *out;          /* where messages go (stderr, or a memstream) */
  bool color;         /* ANSI colours on */
  bool json;          /* -fdiagnostics-format=json */
  bool werror;        /* warnings count as errors */
  bool no_warnings;   /* -w */
  int max_errors;     /* stop after this many errors; 0 = no limit */
  int errors;         /* errors reported so far */
  int warnings;       /* warnings reported so far */
  bool suppressing;   /* the last error was dropped (limit): drop its notes */
  bool json_open;     /* a JSON diagnostic object is open */
  int json_count;     /* top-level JSON diagnostics written */
  int json_children;  /* children written to the open JSON diagnostic */
  bool limit_hit;     /* the max_errors message has been printed */
} Diag;

void diag_init(Diag *d, const Source *src, FILE *out, DiagColor color);
/* Reports an error at [loc]. Notes and helps that follow attach to it. */
void diag_error(Diag *d, Loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void diag_warning(Diag *d, Loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A note pointing at another place (printed with its own excerpt). */
void diag_note(Diag *d, Loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A note without a place: printed as "  = note: ...". */
void diag_note_plain(Diag *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A hint about how to fix the last error: "  = help: ...". */
void diag_help(Diag *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Ends the output (closes the JSON array). */
void diag_finish(Diag *d);
/* True once max_errors is reached: callers may stop early. */
bool diag_too_many(const Diag *d);
/* Levenshtein distance, capped: for "did you mean" hints. */
int diag_edit_distance(const char *a, const char *b);

/* ------------------------------------------------------------------ */
/* ast.c: the syntax tree                                              */
/* ------------------------------------------------------------------ */

/* Node kinds: X(name, description). Top-level items, type expressions and
 * expressions share one node struct (chibicc style). */
#define NODE_KINDS(X)                                                          \
  X(ND_TYPE_DECL, "type declaration")                                          \
  X(ND_PARAM, "param")                                                         \
  X(ND_SOURCE, "source")                                                       \
  X(ND_SINK, "sink")                                                           \
  X(ND_FN, "function")                                                         \
  X(ND_LET, "let")                                                             \
  X(ND_PIPELINE, "pipeline")                                                   \
  X(ND_FN_PARAM, "function parameter")                                        \
  X(TE_NAME, "type name")                                                      \
  X(TE_RECORD, "record type")                                                  \
  X(TE_FIELD, "record type field")                                             \
  X(TE_LIST, "list type")                                                      \
  X(TE_OPTIONAL, "optional type")                                              \
  X(ND_INT, "integer")                                                         \
  X(ND_FLOAT, "float")                                                         \
  X(ND_STRING, "string")                                                       \
  X(ND_BOOL, "bool")                                                           \
  X(ND_NONE, "none")                                                           \
  X(ND_DURATION, "duration")                                                   \
  X(ND_TIMESTAMP, "timestamp")                                                 \
  X(ND_NAME, "name")                                                           \
  X(ND_FIELD, "field access")                                                  \
  X(ND_CALL, "call")                                                           \
  X(ND_NAMED_ARG, "named argument")                                           \
  X(ND_BINARY, "operator")                                                     \
  X(ND_UNARY, "unary operator")                                                \
  X(ND_IF, "if expression")                                                    \
  X(ND_COALESCE, "??")                                                         \
  X(ND_RECORD, "record")                                                       \
  X(ND_FIELD_INIT, "record field")                                             \
  X(ND_SPREAD, "record spread")                                                \
  X(ND_LIST, "list")                                                           \
  X(ND_LAMBDA, "lambda")                                                       \
  X(ND_PIPE, "|>")

typedef enum NodeKind {
#define X(k, d) k,
  NODE_KINDS(X)
#undef X
      ND__COUNT
} NodeKind;

const char *node_kind_name(NodeKind k);

/* Binary and unary operators: X(name, spelling). */
#define BINOPS(X)                                                              \
  X(OP_ADD, "+")                                                               \
  X(OP_SUB, "-")                                                               \
  X(OP_MUL, "*")                                                               \
  X(OP_DIV, "/")                                                               \
  X(OP_MOD, "%")                                                               \
  X(OP_EQ, "==")                                                               \
  X(OP_NE, "!=")                                                               \
  X(OP_LT, "<")                                                                \
  X(OP_LE, "<=")                                                               \
  X(OP_GT, ">")                                                                \
  X(OP_GE, ">=")                                                               \
  X(OP_AND, "and")                                                             \
  X(OP_OR, "or")                                                               \
  X(OP_NEG, "-")                                                               \
  X(OP_NOT, "not")

typedef enum BinOp {
#define X(k, s) k,
  BINOPS(X)
#undef X
      OP__COUNT
} BinOp;

const char *binop_spelling(BinOp op);

typedef struct Type Type;
typedef struct Node Node;
typedef struct Symbol Symbol;

/* A list of nodes: arguments, fields, items. */
typedef struct NodeList {
  Node **items; /* the nodes */
  int len;      /* how many */
  int cap;      /* allocated */
} NodeList;

struct Node {
  NodeKind kind; /* what it is */
  Loc loc;       /* the whole span in the source */
  Loc name_loc;  /* span of [name], where there is one */
  const char *name; /* interned: declared name, field, callee, arg name */
  Node *a;       /* first child: type expr, operand, condition, callee arg */
  Node *b;       /* second child: init, right operand, then-branch, body */
  Node *c;       /* third child: else-branch */
  NodeList list; /* arguments, fields, items, parameters */
  BinOp op;      /* ND_BINARY, ND_UNARY */
  uint64_t ival; /* ND_INT (magnitude; sign comes from a unary minus),
                    ND_DURATION and ND_TIMESTAMP (milliseconds) */
  int64_t tval;  /* ND_TIMESTAMP: epoch milliseconds, signed */
  double fval;   /* ND_FLOAT */
  const char *sval; /* ND_STRING: decoded bytes, NUL-terminated */
  size_t slen;      /* ND_STRING: length of [sval] (may hold NUL) */
  bool bval;        /* ND_BOOL */
  bool negated;     /* ND_INT under a unary minus: allows -2^63 */
  Type *type;       /* set by the checker */
  Symbol *sym;      /* ND_NAME and ND_CALL: what the name resolved to */
  int stage_index;  /* ND_PIPE: position in its chain, set by the checker */
};

Node *ast_new(Arena *a, NodeKind kind, Loc loc);
void ast_list_push(Arena *a, NodeList *l, Node *n);
/* Writes an S-expression of [n] (for tests and --dump-ast). */
void ast_dump(FILE *out, const Node *n);

/* The whole parsed program. */
typedef struct Program {
  NodeList items; /* top-level items in source order */
} Program;

/* ------------------------------------------------------------------ */
/* parse.c glue (grammar/): lexing and parsing                         */
/* ------------------------------------------------------------------ */

/* Everything one compile needs: passed down, no globals. */
typedef struct Ctx {
  Arena arena;     /* owns all compiler memory */
  Source *src;     /* the program text */
  Diag diag;       /* where diagnostics go */
  Program prog;    /* parse result */
  /* Parser state, used by the lexer bridge in grammar/. */
  bool recovering; /* after a syntax error: skip to the next statement */
  uint32_t lex_pos; /* byte offset of the next token */
  bool tok_at_bol;  /* the last token starts its line */
  int syntax_errors; /* syntax errors reported by the parser */
  void *checked;   /* check.c's results (typed chains), or NULL */
} Ctx;

void ctx_init(Ctx *c, Source *src, FILE *diag_out, DiagColor color);
void ctx_free(Ctx *c);

/* Parses [c->src] into [c->prog]. Reports syntax errors to [c->diag] and
 * recovers; returns the number of syntax errors. */
int parse_program(Ctx *c);

/* Token stream for the lexer unit tests: calls [cb] for each token with
 * its bison token name and span, until end of input. */
typedef void (*lex_token_cb)(void *user, const char *tok, Loc loc,
                             const char *text);
void lex_tokens(Ctx *c, lex_token_cb cb, void *user);

/* ------------------------------------------------------------------ */
/* types.c: the type representation                                    */
/* ------------------------------------------------------------------ */

#define TYPE_KINDS(X)                                                          \
  X(TY_ERROR, "<error>")                                                       \
  X(TY_INT, "int")                                                             \
  X(TY_FLOAT, "float")                                                         \
  X(TY_BOOL, "bool")                                                           \
  X(TY_STRING, "string")                                                       \
  X(TY_TIMESTAMP, "timestamp")                                                 \
  X(TY_DURATION, "duration")                                                   \
  X(TY_NONE, "none")                                                           \
  X(TY_RECORD, "record")                                                       \
  X(TY_LIST, "list")                                                           \
  X(TY_OPTIONAL, "optional")                                                   \
  X(TY_STREAM, "stream")                                                       \
  X(TY_FORMAT, "format")                                                       \
  X(TY_WINDOW, "window")                                                       \
  X(TY_AGG, "aggregate")

typedef enum TypeKind {
#define X(k, s) k,
  TYPE_KINDS(X)
#undef X
} TypeKind;

/* A record field. */
typedef struct Field {
  const char *name; /* interned */
  Type *type;       /* its type */
  Loc loc;          /* where it was declared or built */
} Field;

/* How a stream is partitioned and windowed. */
typedef enum StreamShape {
  SHAPE_PLAIN,    /* records of [elem] */
  SHAPE_KEYED,    /* records of [elem] keyed by [key] */
  SHAPE_WINDOWED, /* records grouped into windows, keyed if [key] */
} StreamShape;

typedef enum WindowKind { WIN_TUMBLING, WIN_SLIDING, WIN_SESSION, WIN_COUNT } WindowKind;

/* A window specification, as written in window(...). */
typedef struct WindowSpec {
  WindowKind kind; /* which window */
  Node *size;      /* tumbling/sliding length, session gap, count n */
  Node *every;     /* sliding step or count slide, or NULL */
} WindowSpec;

struct Type {
  TypeKind kind;       /* what it is */
  const char *name;    /* TY_RECORD: the `type` name, if it has one */
  Field *fields;       /* TY_RECORD: fields in declared order */
  int nfields;         /* TY_RECORD: how many */
  Type *elem;          /* TY_LIST, TY_OPTIONAL: element; TY_STREAM: record */
  /* TY_STREAM only: */
  StreamShape shape;   /* plain, keyed or windowed */
  Type *key;           /* key type when keyed, else NULL */
  bool event_time;     /* event_time() has been applied upstream */
  WindowSpec *window;  /* SHAPE_WINDOWED: the window */
  Loc key_loc;         /* where the key was set (for notes) */
  Loc lost_key_loc;    /* where a map dropped the key, if it did */
};

extern Type ty_error, ty_int, ty_float, ty_bool, ty_string, ty_timestamp,
    ty_duration, ty_none;

Type *type_record(Arena *a, const char *name, Field *fields, int n);
Type *type_list(Arena *a, Type *elem);
Type *type_optional(Arena *a, Type *inner);
Type *type_stream(Arena *a, Type *elem);
/* Structural equality: records compare field lists in order. */
bool type_equal(const Type *x, const Type *y);
/* True if a value of [from] may be used where [to] is expected: equal, or
 * T into T?, or none into T?, or [] into any list. */
bool type_assignable(const Type *from, const Type *to);
bool type_is_scalar(const Type *t);
bool type_is_numeric(const Type *t);
/* Prints [t] the way a user writes it: int, {a: int}, [string], int?,
 * Bid (named records by name). */
const char *type_str(Arena *a, const Type *t);
/* Like type_str but records in full even when named. */
const char *type_str_full(Arena *a, const Type *t);
const Field *type_field(const Type *rec, const char *name);

/* ------------------------------------------------------------------ */
/* check.c: names, types, the stream graph                             */
/* ------------------------------------------------------------------ */

typedef enum SymKind {
  SYM_TYPE,    /* type Name = ... */
  SYM_PARAM,   /* param */
  SYM_SOURCE,  /* source */
  SYM_SINK,    /* sink */
  SYM_FN,      /* fn */
  SYM_LET,     /* let (a stream or a constant) */
  SYM_LOCAL,   /* lambda or fn parameter */
  SYM_BUILTIN, /* stdlib function */
} SymKind;

struct Symbol {
  SymKind kind;      /* what was declared */
  const char *name;  /* interned */
  Node *decl;        /* the declaring node */
  Type *type;        /* its type once known (streams: TY_STREAM) */
  int state;         /* resolution: 0 todo, 1 in progress, 2 done */
  bool used;         /* referenced anywhere */
  /* sinks */
  Type *sink_type;   /* record type written to the sink, once known */
  Loc sink_first;    /* the stage that first fixed [sink_type] */
  bool sink_is_late; /* [sink_type] came from a late: argument */
  int builtin;       /* SYM_BUILTIN: index in the builtin table */
  const char *connector; /* SYM_SOURCE, SYM_SINK: file, kafka, ... */
  const char *format;    /* SYM_SOURCE, SYM_SINK: csv, json or lines */
  Node *conn;        /* SYM_SOURCE, SYM_SINK: the connector call */
  bool is_stream;    /* SYM_LET: names a stream, not a value */
  char csv_delim;    /* csv: the delimiter if not ',' (0: ',') */
  bool csv_no_header; /* csv: header: false */
};

/* The checker's results, read by the printer and by later phases. */

/* One stage of a chain. */
typedef struct Stage {
  Node *node;        /* the stream expression or operator call */
  const char *label; /* "bids", "map", or the sink's name */
  Type *type;        /* the stream after this stage; NULL for a sink */
} Stage;

/* A pipeline statement or a named stream, as typed stages in order. */
typedef struct Chain {
  Node *stmt;    /* the ND_PIPELINE or ND_LET */
  PtrVec stages; /* Stage * in order */
} Chain;

typedef struct Checked {
  PtrVec chains;  /* Chain * in the order they were checked */
  PtrVec symbols; /* Symbol * of every declaration, in source order */
} Checked;

/* Type-checks [c->prog] into [c->checked]. Returns the number of errors. */
int check_program(Ctx *c);
/* Writes each pipeline's typed chain: one line a stage. */
void check_print_chains(Ctx *c, FILE *out);

/* graph.c: the checked program's operator graph, Graphviz dot or (with
 * [mermaid]) a Mermaid flowchart. Returns 0. */
int graph_write(Ctx *c, FILE *out, bool mermaid);

/* explain.c: each piece of state the program keeps, its key type and an
 * estimate of its bytes a key and a window. Returns 0, or 1 if the
 * program cannot be generated (reported to c->diag). */
int explain_write(Ctx *c, FILE *out);

/* ------------------------------------------------------------------ */
/* emit_c.c: C code generation                                         */
/* ------------------------------------------------------------------ */

typedef struct EmitOptions {
  bool no_line;         /* leave out #line directives */
  const char *out_path; /* the C file's name, for #line and the banner */
  PtrVec *states;       /* if set: each piece of state's layout and place,
                           pushed in pairs (for pspfc explain) */
} EmitOptions;

/* Emits the checked program [c] as C into a malloc'd [*out]. Returns the
 * number of errors (constructs not supported yet, reported to c->diag). */
int emit_c(Ctx *c, const EmitOptions *opt, char **out, size_t *out_len);

/* ------------------------------------------------------------------ */
/* driver.c: one compile, as the CLI and the tests run it              */
/* ------------------------------------------------------------------ */

typedef struct Options {
  DiagColor color;   /* -fdiagnostics-color= */
  bool json;         /* -fdiagnostics-format=json */
  bool werror;       /* -Werror */
  bool no_warnings;  /* -w */
  int max_errors;    /* -fmax-errors=N (0: no limit) */
  bool print_types;  /* check --print-types: the typed chains */
  bool dump_ast;     /* check --dump-ast */
  int graph;         /* pspfc graph: 1 dot, 2 mermaid */
  bool explain;      /* pspfc explain */
} Options;

void options_init(Options *o);
/* Parses and checks [src]; diagnostics to [diag_out], requested listings
 * to [out]. Returns the exit status: 0 clean, 1 errors. */
int driver_check(Source *src, Arena *arena, const Options *o, FILE *diag_out,
                 FILE *out);
/* Parses [src] only: 0, or 1 after reporting its syntax (or lexical)
 * errors. */
int driver_parse(Source *src, Arena *arena, const Options *o,
                 FILE *diag_out);
/* fmt.c: pspfc fmt. [src] in the canonical style to [out], or with
 * [write] back to its file, or with [check] its name to [out] if it is not
 * in that style (status 1). A program that does not parse is reported
 * and left alone (status 1). */
int driver_fmt(Source *src, Arena *arena, const Options *o, bool write,
               bool check, FILE *diag_out, FILE *out);

/* What `emit-c` and `build` are asked to produce. */
typedef struct BuildOptions {
  const char *output;  /* -o: the C file or the executable */
  bool no_line;        /* --no-line */
  bool save_temps;     /* --save-temps: keep the C file beside the program */
  bool verbose;        /* -v: show the C compiler's command */
} BuildOptions;

/* Checks [src] and writes its C to b->output ("-": stdout). Returns the
 * exit status: 0, 1 (errors in the program), 4 (internal error). */
int driver_emit(Source *src, Arena *arena, const Options *o,
                const BuildOptions *b, FILE *diag_out);
/* Checks [src], emits C and compiles it into the executable b->output with
 * $CC (default cc) and $CFLAGS (default -O2), linked with libpspf. */
int driver_build(Source *src, Arena *arena, const Options *o,
                 const BuildOptions *b, FILE *diag_out);

#endif
