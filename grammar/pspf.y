/*
 * pspf.y -- the parser: tokens from pspf.l to the AST of compiler/ast.c.
 *
 * Actions only build nodes. A syntax error is reported as "expected X,
 * found Y"; the parser then skips to the start of the next statement (a
 * declaration keyword, ';', or a name at the start of a line) and goes on,
 * so one run reports the errors of every statement.
 */
%require "3.8"
%define api.pure full
%define api.prefix {pspf_yy}
%define api.token.prefix {TK_}
%define api.location.type {Loc}
%define parse.error custom
%define parse.lac full
%locations
%expect 0
%param {Ctx *c} {void *scanner}

%code requires {
#include "pspfc.h"
}

%code provides {
void *lex_open(struct Ctx *c);
void lex_close(void *scanner);
}

%code {
#include <string.h>

/* Parser stack limit; deeper programs get "nested too deeply". */
#define YYMAXDEPTH 4000

#define YYLLOC_DEFAULT(Cur, Rhs, N)                                            \
  do {                                                                         \
    if (N)                                                                     \
      (Cur) = loc_join(YYRHSLOC(Rhs, 1), YYRHSLOC(Rhs, N));                    \
    else                                                                       \
      (Cur) = (Loc){YYRHSLOC(Rhs, 0).off + YYRHSLOC(Rhs, 0).len, 0};           \
  } while (0)

static int pspf_yylex(PSPF_YYSTYPE *v, Loc *l, Ctx *c, void *scanner);
static void pspf_yyerror(Loc *l, Ctx *c, void *scanner, const char *msg);
static bool recover(Ctx *c, int lookahead);

#define A (&c->arena)
#define NEW(kind, loc) ast_new(A, kind, loc)

static Node *named(Arena *a, NodeKind k, Loc loc, const char *name,
                   Loc name_loc) {
  Node *n = ast_new(a, k, loc);
  n->name = name;
  n->name_loc = name_loc;
  return n;
}

static Node *binary(Arena *a, BinOp op, Node *l, Node *r, Loc loc) {
  Node *n = ast_new(a, ND_BINARY, loc);
  n->op = op;
  n->a = l;
  n->b = r;
  return n;
}
}

%union {
  const char *name;
  uint64_t ival;
  int64_t tval;
  double fval;
  struct { const char *s; size_t len; } str;
  Node *node;
  NodeList list;
}

%token <name> IDENT "name"
%token <ival> INT "integer"
%token <fval> FLOAT "float"
%token <ival> DURATION "duration"
%token <tval> TIMESTAMP "timestamp"
%token <str> STRING "string"
%token <name> TYPE "'type'" PARAM "'param'" SOURCE "'source'" SINK "'sink'"
%token <name> FN "'fn'" LET "'let'" IF "'if'" THEN "'then'" ELSE "'else'"
%token <name> AND "'and'" OR "'or'" NOT "'not'" TRUE "'true'" FALSE "'false'"
%token <name> NONE "'none'"
%token PIPE "'|>'" ARROW "'=>'" RARROW "'->'" EQ "'=='" NE "'!='"
%token LE "'<='" GE "'>='" COALESCE "'?\?'" DOTDOT "'..'"
%token LPAREN_LAMBDA "'('"

%type <node> item decl texpr tfield expr postfix primary lambda arg rfield
%type <node> fn_param opt_init opt_ret
%type <list> tfields tfields1 args args1 rfields rfields1 exprs exprs1
%type <list> fn_params fn_params1 lambda_params
%type <name> fieldname

/* A statement that ends in an expression ends only where the expression
 * cannot go on: "x\n-1" and "x\n(y)" continue x (newlines are not
 * significant; separate such statements with ';'). */
%precedence STMT
%precedence ARROW ELSE
%left PIPE
%left OR
%left AND
%precedence NOT
%nonassoc EQ NE '<' LE '>' GE
%right COALESCE
%left '+' '-'
%left '*' '/' '%'
%precedence UMINUS
%precedence '('

%%

program:
  %empty
| program item    { if ($2) ast_list_push(A, &c->prog.items, $2); }
| program error   { if (recover(c, yychar)) yyclearin; yyerrok; }
;

item:
  decl                  { $$ = $1; }
| expr %prec STMT       { $$ = NEW(ND_PIPELINE, @$); $$->a = $1; }
| ';'                   { $$ = NULL; }
;

decl:
  TYPE IDENT '=' texpr  { $$ = named(A, ND_TYPE_DECL, @$, $2, @2); $$->a = $4; }
| PARAM IDENT ':' texpr opt_init
                        { $$ = named(A, ND_PARAM, @$, $2, @2); $$->a = $4; $$->b = $5; }
| SOURCE IDENT ':' texpr '=' expr %prec STMT
                        { $$ = named(A, ND_SOURCE, @$, $2, @2); $$->a = $4; $$->b = $6; }
| SOURCE IDENT '=' expr %prec STMT
                        { $$ = named(A, ND_SOURCE, @$, $2, @2); $$->b = $4; }
| SINK IDENT '=' expr %prec STMT
                        { $$ = named(A, ND_SINK, @$, $2, @2); $$->b = $4; }
| SINK IDENT ':' texpr '=' expr %prec STMT
                        { $$ = named(A, ND_SINK, @$, $2, @2); $$->a = $4; $$->b = $6; }
| FN IDENT '(' fn_params ')' opt_ret '=' expr %prec STMT
                        { $$ = named(A, ND_FN, @$, $2, @2); $$->list = $4; $$->a = $6; $$->b = $8; }
| LET IDENT '=' expr %prec STMT
                        { $$ = named(A, ND_LET, @$, $2, @2); $$->b = $4; }
| LET IDENT ':' texpr '=' expr %prec STMT
                        { $$ = named(A, ND_LET, @$, $2, @2); $$->a = $4; $$->b = $6; }
;

opt_init:
  %empty                { $$ = NULL; }
| '=' expr %prec STMT   { $$ = $2; }
;

opt_ret:
  %empty                { $$ = NULL; }
| RARROW texpr          { $$ = $2; }
;

fn_params:
  %empty                { memset(&$$, 0, sizeof $$); }
| fn_params1            { $$ = $1; }
| fn_params1 ','        { $$ = $1; }
;

fn_params1:
  fn_param              { memset(&$$, 0, sizeof $$); ast_list_push(A, &$$, $1); }
| fn_params1 ',' fn_param
                        { $$ = $1; ast_list_push(A, &$$, $3); }
;

fn_param:
  IDENT ':' texpr       { $$ = named(A, ND_FN_PARAM, @$, $1, @1); $$->a = $3; }
;

texpr:
  IDENT                 { $$ = named(A, TE_NAME, @$, $1, @1); }
| '{' tfields '}'       { $$ = NEW(TE_RECORD, @$); $$->list = $2; }
| '[' texpr ']'         { $$ = NEW(TE_LIST, @$); $$->a = $2; }
| texpr '?'             { $$ = NEW(TE_OPTIONAL, @$); $$->a = $1; }
;

tfields:
  %empty                { memset(&$$, 0, sizeof $$); }
| tfields1              { $$ = $1; }
| tfields1 ','          { $$ = $1; }
;

tfields1:
  tfield                { memset(&$$, 0, sizeof $$); ast_list_push(A, &$$, $1); }
| tfields1 ',' tfield   { $$ = $1; ast_list_push(A, &$$, $3); }
;

tfield:
  fieldname ':' texpr   { $$ = named(A, TE_FIELD, @$, $1, @1); $$->a = $3; }
;

/* Keywords may name fields: CSV headers often say "type" or "source". */
fieldname:
  IDENT | TYPE | PARAM | SOURCE | SINK | FN | LET | IF | THEN | ELSE | AND
| OR | NOT | TRUE | FALSE | NONE
;

expr:
  postfix               { $$ = $1; }
| lambda                { $$ = $1; }
| expr PIPE expr        { $$ = NEW(ND_PIPE, @$); $$->a = $1; $$->b = $3; $$->name_loc = @2; }
| IF expr THEN expr ELSE expr
                        { $$ = NEW(ND_IF, @$); $$->a = $2; $$->b = $4; $$->c = $6; }
| expr OR expr          { $$ = binary(A, OP_OR, $1, $3, @$); $$->name_loc = @2; }
| expr AND expr         { $$ = binary(A, OP_AND, $1, $3, @$); $$->name_loc = @2; }
| NOT expr              { $$ = NEW(ND_UNARY, @$); $$->op = OP_NOT; $$->a = $2; }
| expr EQ expr          { $$ = binary(A, OP_EQ, $1, $3, @$); $$->name_loc = @2; }
| expr NE expr          { $$ = binary(A, OP_NE, $1, $3, @$); $$->name_loc = @2; }
| expr '<' expr         { $$ = binary(A, OP_LT, $1, $3, @$); $$->name_loc = @2; }
| expr LE expr          { $$ = binary(A, OP_LE, $1, $3, @$); $$->name_loc = @2; }
| expr '>' expr         { $$ = binary(A, OP_GT, $1, $3, @$); $$->name_loc = @2; }
| expr GE expr          { $$ = binary(A, OP_GE, $1, $3, @$); $$->name_loc = @2; }
| expr COALESCE expr    { $$ = NEW(ND_COALESCE, @$); $$->a = $1; $$->b = $3; $$->name_loc = @2; }
| expr '+' expr         { $$ = binary(A, OP_ADD, $1, $3, @$); $$->name_loc = @2; }
| expr '-' expr         { $$ = binary(A, OP_SUB, $1, $3, @$); $$->name_loc = @2; }
| expr '*' expr         { $$ = binary(A, OP_MUL, $1, $3, @$); $$->name_loc = @2; }
| expr '/' expr         { $$ = binary(A, OP_DIV, $1, $3, @$); $$->name_loc = @2; }
| expr '%' expr         { $$ = binary(A, OP_MOD, $1, $3, @$); $$->name_loc = @2; }
| '-' expr %prec UMINUS { $$ = NEW(ND_UNARY, @$); $$->op = OP_NEG; $$->a = $2;
                          if ($2->kind == ND_INT) $2->negated = true; }
;

lambda:
  IDENT ARROW expr      { $$ = NEW(ND_LAMBDA, @$);
                          ast_list_push(A, &$$->list, named(A, ND_FN_PARAM, @1, $1, @1));
                          $$->b = $3; }
| LPAREN_LAMBDA lambda_params ')' ARROW expr
                        { $$ = NEW(ND_LAMBDA, @$); $$->list = $2; $$->b = $5; }
;

lambda_params:
  %empty                { memset(&$$, 0, sizeof $$); }
| IDENT                 { memset(&$$, 0, sizeof $$);
                          ast_list_push(A, &$$, named(A, ND_FN_PARAM, @1, $1, @1)); }
| lambda_params ',' IDENT
                        { $$ = $1; ast_list_push(A, &$$, named(A, ND_FN_PARAM, @3, $3, @3)); }
;

postfix:
  primary               { $$ = $1; }
| postfix '.' fieldname { $$ = named(A, ND_FIELD, @$, $3, @3); $$->a = $1; }
| IDENT '(' args ')'    { $$ = named(A, ND_CALL, @$, $1, @1); $$->list = $3; }
;

primary:
  INT                   { $$ = NEW(ND_INT, @$); $$->ival = $1; }
| FLOAT                 { $$ = NEW(ND_FLOAT, @$); $$->fval = $1; }
| STRING                { $$ = NEW(ND_STRING, @$); $$->sval = $1.s; $$->slen = $1.len; }
| DURATION              { $$ = NEW(ND_DURATION, @$); $$->ival = $1; }
| TIMESTAMP             { $$ = NEW(ND_TIMESTAMP, @$); $$->tval = $1; }
| TRUE                  { $$ = NEW(ND_BOOL, @$); $$->bval = true; }
| FALSE                 { $$ = NEW(ND_BOOL, @$); $$->bval = false; }
| NONE                  { $$ = NEW(ND_NONE, @$); }
| IDENT %prec STMT      { $$ = named(A, ND_NAME, @$, $1, @1); }
| '(' expr ')'          { $$ = $2; }
| '{' rfields '}'       { $$ = NEW(ND_RECORD, @$); $$->list = $2; }
| '[' exprs ']'         { $$ = NEW(ND_LIST, @$); $$->list = $2; }
;

args:
  %empty                { memset(&$$, 0, sizeof $$); }
| args1                 { $$ = $1; }
| args1 ','             { $$ = $1; }
;

args1:
  arg                   { memset(&$$, 0, sizeof $$); ast_list_push(A, &$$, $1); }
| args1 ',' arg         { $$ = $1; ast_list_push(A, &$$, $3); }
;

arg:
  expr                  { $$ = $1; }
| fieldname ':' expr    { $$ = named(A, ND_NAMED_ARG, @$, $1, @1); $$->a = $3; }
;

rfields:
  %empty                { memset(&$$, 0, sizeof $$); }
| rfields1              { $$ = $1; }
| rfields1 ','          { $$ = $1; }
;

rfields1:
  rfield                { memset(&$$, 0, sizeof $$); ast_list_push(A, &$$, $1); }
| rfields1 ',' rfield   { $$ = $1; ast_list_push(A, &$$, $3); }
;

rfield:
  fieldname ':' expr    { $$ = named(A, ND_FIELD_INIT, @$, $1, @1); $$->a = $3; }
| DOTDOT expr           { $$ = NEW(ND_SPREAD, @$); $$->a = $2; }
;

exprs:
  %empty                { memset(&$$, 0, sizeof $$); }
| exprs1                { $$ = $1; }
| exprs1 ','            { $$ = $1; }
;

exprs1:
  expr                  { memset(&$$, 0, sizeof $$); ast_list_push(A, &$$, $1); }
| exprs1 ',' expr       { $$ = $1; ast_list_push(A, &$$, $3); }
;

%%

int pspflex_lex(PSPF_YYSTYPE *v, Loc *l, void *scanner);

static bool is_statement_start(int tok) {
  return tok == TK_TYPE || tok == TK_PARAM || tok == TK_SOURCE ||
         tok == TK_SINK || tok == TK_FN || tok == TK_LET || tok == ';' ||
         tok == TK_YYEOF;
}

/* True if [off] is the first non-blank byte of its line. */
static bool at_line_start(const Source *s, uint32_t off) {
  while (off > 0) {
    char ch = s->text[off - 1];
    if (ch == '\n')
      return true;
    if (ch != ' ' && ch != '\t' && ch != '\r')
      return false;
    off--;
  }
  return true;
}

/* The lexer as the parser sees it: while recovering from a syntax error,
 * tokens are dropped up to the start of the next statement. */
static int pspf_yylex(PSPF_YYSTYPE *v, Loc *l, Ctx *c, void *scanner) {
  for (;;) {
    int tok = pspflex_lex(v, l, scanner);
    c->tok_at_bol = at_line_start(c->src, l->off);
    if (!c->recovering)
      return tok;
    if (is_statement_start(tok) || (tok == TK_IDENT && c->tok_at_bol)) {
      c->recovering = false;
      return tok;
    }
  }
}

/* Called when the parser has shifted `error` at the statement level.
 * Returns true if the offending token must be dropped (it does not start a
 * statement), and then skips the rest of the broken statement too. */
static bool recover(Ctx *c, int lookahead) {
  if (lookahead == TK_PSPF_YYEMPTY || lookahead == TK_YYEOF)
    return false;
  if (is_statement_start(lookahead) ||
      (lookahead == TK_IDENT && c->tok_at_bol))
    return false;
  c->recovering = true;
  return true;
}

static const char *token_name(yysymbol_kind_t k) {
  if (k == YYSYMBOL_YYEOF)
    return "end of input";
  const char *n = yysymbol_name(k);
  return n;
}

static bool is_operator_token(yysymbol_kind_t k) {
  switch (k) {
  case YYSYMBOL_PIPE:
  case YYSYMBOL_OR:
  case YYSYMBOL_AND:
  case YYSYMBOL_EQ:
  case YYSYMBOL_NE:
  case YYSYMBOL_LE:
  case YYSYMBOL_GE:
  case YYSYMBOL_COALESCE:
    return true;
  default:
    break;
  }
  static const char ops[] = "<>+-*/%.?";
  for (const char *p = ops; *p; p++)
    if (k == YYTRANSLATE((unsigned char)*p))
      return true;
  return false;
}

/* The token that broke the parse, as the user wrote it: "name 'price'". */
static const char *found_text(Ctx *c, yysymbol_kind_t k, const Loc *loc) {
  if (k != YYSYMBOL_IDENT && k != YYSYMBOL_INT && k != YYSYMBOL_FLOAT &&
      k != YYSYMBOL_DURATION)
    return token_name(k);
  int n = loc->len < 40 ? (int)loc->len : 40;
  return arena_printf(&c->arena, "%s '%.*s'", token_name(k), n,
                      c->src->text + loc->off);
}

static int yyreport_syntax_error(const yypcontext_t *ctx, Ctx *c,
                                 void *scanner) {
  (void)scanner;
  enum { MAX = 6 };
  yysymbol_kind_t expected[YYNTOKENS];
  int n = yypcontext_expected_tokens(ctx, expected, YYNTOKENS);
  yysymbol_kind_t found = yypcontext_token(ctx);
  const Loc *loc = yypcontext_location(ctx);
  char buf[512];
  size_t k = 0;
  bool wants_expr = false, wants_field = false;
  for (int i = 0; i < n; i++) {
    if (expected[i] == YYSYMBOL_INT)
      wants_expr = true;
    if (expected[i] == YYSYMBOL_TYPE)
      wants_field = true;
  }
  if (wants_expr) {
    snprintf(buf, sizeof buf, "expected an expression, found %s",
             found_text(c, found, loc));
  } else if (wants_field) {
    /* After '.' or '{' only a field name (keywords included) can come. */
    snprintf(buf, sizeof buf, "expected a field name, found %s",
             found_text(c, found, loc));
  } else {
    /* Name the brackets and keywords that could come; operators that
     * could continue an expression are summed up as "an operator". */
    const char *names[MAX + 1];
    int shown = 0;
    bool ops = false;
    for (int i = 0; i < n; i++) {
      if (is_operator_token(expected[i]))
        ops = true;
      else if (shown < MAX)
        names[shown++] = token_name(expected[i]);
    }
    if (ops)
      names[shown++] = "an operator";
    if (!shown) {
      snprintf(buf, sizeof buf, "unexpected %s", token_name(found));
    } else {
      k += (size_t)snprintf(buf + k, sizeof buf - k, "expected ");
      for (int i = 0; i < shown; i++)
        k += (size_t)snprintf(buf + k, sizeof buf - k, "%s%s",
                              i == 0 ? "" : i == shown - 1 ? " or " : ", ",
                              names[i]);
      snprintf(buf + k, sizeof buf - k, ", found %s",
               found_text(c, found, loc));
    }
  }
  c->syntax_errors++;
  diag_error(&c->diag, *loc, "%s", buf);
  /* Hints for the mistakes people make most. */
  if (found == YYTRANSLATE('=')) {
    for (int i = 0; i < n; i++)
      if (expected[i] == YYSYMBOL_EQ || expected[i] == YYSYMBOL_PIPE) {
        diag_help(&c->diag, "compare with '=='");
        break;
      }
  }
  if (found == YYSYMBOL_YYEOF)
    diag_help(&c->diag, "the file ends inside a statement: is a bracket or "
                        "parenthesis left open?");
  return 0;
}

static void pspf_yyerror(Loc *l, Ctx *c, void *scanner, const char *msg) {
  (void)scanner;
  c->syntax_errors++;
  if (strcmp(msg, "memory exhausted") == 0) {
    /* Bison's stack limit (YYMAXDEPTH): only absurd nesting gets here. */
    diag_error(&c->diag, *l, "program nested too deeply");
    diag_help(&c->diag, "split deep expressions with fn or let declarations");
    return;
  }
  diag_error(&c->diag, *l, "%s", msg);
}

int parse_program(Ctx *c) {
  void *scanner = lex_open(c);
  if (!scanner) {
    diag_error(&c->diag, (Loc){0, 0}, "cannot start the lexer");
    return 1;
  }
  c->recovering = false;
  pspf_yyparse(c, scanner);
  lex_close(scanner);
  return c->syntax_errors;
}

void lex_tokens(Ctx *c, lex_token_cb cb, void *user) {
  void *scanner = lex_open(c);
  if (!scanner)
    return;
  for (;;) {
    PSPF_YYSTYPE v;
    Loc l;
    int tok = pspflex_lex(&v, &l, scanner);
    if (tok == TK_YYEOF) {
      cb(user, "end of input", l, "");
      break;
    }
    yysymbol_kind_t k = YYTRANSLATE(tok);
    char text[64];
    size_t n = l.len < sizeof text - 1 ? l.len : sizeof text - 1;
    memcpy(text, c->src->text + l.off, n);
    text[n] = 0;
    cb(user, yysymbol_name(k), l, text);
  }
  lex_close(scanner);
}
