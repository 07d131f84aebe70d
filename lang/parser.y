/* parser.y - the Sluice grammar (Bison).  docs/language.md gives the same
 * grammar in EBNF; keep the two in step.
 *
 * A pure parser over the token array sl_lex made.  Actions only build AST
 * nodes (in the arena, so no %destructor is needed: nothing is freed one by
 * one).  Syntax errors say "expected X, found Y"; recovery skips to the end
 * of the statement or declaration and goes on. */

%define api.pure full
%define api.prefix {slp_}
%define api.token.prefix {SLP_}
%define api.location.type {sl_span}
%define parse.error custom
/* Lookahead correction: errors are found before default reductions, so the
 * expected tokens are right and recovery stays in the statement list. */
%define parse.lac full
%locations
%expect 0
%param {parser *p}

%code requires {
#include "lang.h"
typedef struct parser parser;
}

%code provides {
struct parser {
    sl_ctx *c;
    int file;
    sl_lexer lx;           /* tokens come from here as the parse needs them */
    size_t pos;            /* next token */
    size_t look;           /* the token last handed out (the lookahead) */
    bool in_head;          /* between `gate`, `else` or `for` and its '{' (or a line's end) */
    size_t head_at;        /* ... the token that began it */
    bool head_error;       /* a syntax error in that head: recovery has not found its '{' */
    int inject;            /* tokens of an empty block `{ }` still to hand out */
    bool elif_gate;        /* an `elif` was handed out as `else`: it is `gate` next */
    sl_span prev;          /* the last real (not end-of-line) token handed out */
    bool after_nl;         /* the token handed out before the lookahead ended a line */
    sl_module *module;     /* the result */
    sl_unit **units_tail;  /* where the next unit is linked */
};
int slp_parse(parser *p);
}

%code {
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int slp_lex(SLP_STYPE *val, sl_span *loc, parser *p);
static void slp_error(sl_span *loc, parser *p, const char *msg);

#define YYLLOC_DEFAULT(Cur, Rhs, N)                                            \
    do {                                                                       \
        if (N) {                                                               \
            (Cur) = YYRHSLOC(Rhs, 1);                                          \
            (Cur).end = YYRHSLOC(Rhs, N).end;                                  \
        } else {                                                               \
            (Cur) = YYRHSLOC(Rhs, 0);                                          \
            (Cur).begin = (Cur).end;                                           \
        }                                                                      \
    } while (0)

#define NEW(T) ((T *)sl_arena_alloc(&p->c->arena, sizeof(T)))
#define TEXT(span) sl_span_text(p->c, (span))

/* Every node records its nesting depth; crossing the limit is a fatal
 * error at the node that crosses it (as clang's bracket limit is): lexing
 * stops, so a 64 MiB chain `x + x + ...` is not read, let alone built. */
static int nest(parser *p, sl_span at, int child_depth)
{
    int d = child_depth + 1;
    if (d == SL_MAX_NESTING + 1 && !p->lx.fatal) {
        sl_diag(p->c, SL_FATAL, at, "nested too deeply (the limit is %d levels)",
                SL_MAX_NESTING);
        p->lx.fatal = true;
    }
    return d;
}

static int max_depth(int a, int b) { return a > b ? a : b; }

static sl_expr *expr_new(parser *p, sl_expr_kind kind, sl_span at)
{
    sl_expr *e = NEW(sl_expr);
    e->kind = kind;
    e->span = at;
    e->depth = 1;
    return e;
}

static sl_expr *number(parser *p, sl_span at, bool is_int)
{
    sl_expr *e = expr_new(p, SL_EX_NUM, at);
    const char *text = TEXT(at);
    e->is_int = is_int;
    errno = 0;
    if (is_int) {
        long long v = strtoll(text, NULL, 10);
        if (errno == ERANGE || v > (1LL << 53))
            sl_error(p->c, at, "integer literal '%s' is too large", text);
        e->num = (double)v;
    } else {
        double v = strtod(text, NULL);
        if (isinf(v) || fabs(v) > FLT_MAX)
            sl_error(p->c, at, "number '%s' is out of range for f32", text);
        e->num = v;
    }
    return e;
}

/* Past the nesting limit (reported once) an operator adds no node: the
 * tree stops growing, so a 64 MiB chain `x + x + ...` costs the memory of
 * its leaves, not gigabytes of nodes nobody will check. */
static sl_expr *unary(parser *p, int op, sl_expr *x, sl_span at)
{
    if (x->depth > SL_MAX_NESTING)
        return x;
    sl_expr *e = expr_new(p, SL_EX_UNARY, at);
    e->op = op;
    e->lhs = x;
    e->depth = nest(p, at, x->depth);
    return e;
}

static sl_expr *binary(parser *p, int op, sl_expr *a, sl_expr *b, sl_span at)
{
    if (a->depth > SL_MAX_NESTING || b->depth > SL_MAX_NESTING)
        return a->depth >= b->depth ? a : b;
    sl_expr *e = expr_new(p, SL_EX_BINARY, at);
    e->op = op;
    e->lhs = a;
    e->rhs = b;
    e->depth = nest(p, at, max_depth(a->depth, b->depth));
    return e;
}

static sl_dim *dim_new(parser *p, sl_dim_kind kind, sl_span at)
{
    sl_dim *d = NEW(sl_dim);
    d->kind = kind;
    d->span = at;
    d->depth = 1;
    return d;
}

static sl_dim *dim_int(parser *p, sl_span at)
{
    sl_dim *d = dim_new(p, SL_DIM_INT, at);
    const char *text = TEXT(at);
    errno = 0;
    long long v = strtoll(text, NULL, 10);
    if (errno == ERANGE) {
        sl_error(p->c, at, "integer literal '%s' is too large", text);
        v = 1;
    }
    d->value = v;
    return d;
}

/* route NAME(arg) top k [tokens] by scores; route NAME(arg) tokens where c (k NULL) */
static sl_expr *route_new(parser *p, sl_span at, sl_span name, sl_expr *arg, sl_dim *k,
                          sl_expr *scores, bool of_tokens)
{
    sl_expr *e = expr_new(p, SL_EX_ROUTE, at);
    e->name = TEXT(name);
    e->name_span = name;
    e->args = arg;
    e->n_args = 1;
    e->k = k;
    e->scores = scores;
    e->of_tokens = of_tokens;
    e->depth = nest(p, at, max_depth(arg->depth, scores->depth));
    return e;
}

/* An option after a route's scores: `scaled`, `switch`, `capacity F`.
 * Which route takes which is the checker's business. */
static sl_expr *route_option(parser *p, sl_expr *e, sl_span word, const sl_span *num)
{
    const char *w = TEXT(word);
    e->span.end = (num ? *num : word).end;
    if (e->attending_open) { /* the second word of `attending all` */
        e->attending_open = false;
        if (strcmp(w, "all") != 0 || num)
            sl_error(p->c, word, "expected 'all' after 'attending' ('tokens where c attending "
                     "all'), found '%s'", w);
        return e;
    }
    if (strcmp(w, "attending") == 0 && !num) {
        if (e->attending)
            sl_error(p->c, word, "'attending all' is given twice");
        e->attending = e->attending_open = true;
        return e;
    }
    bool *flag = strcmp(w, "scaled") == 0 ? &e->scaled : strcmp(w, "switch") == 0 ? &e->switched
                                                                                    : NULL;
    if (strcmp(w, "capacity") == 0) {
        if (!num) {
            sl_error(p->c, word, "'capacity' takes a factor: 'capacity 1.25'");
            return e;
        }
        double v = strtod(TEXT(*num), NULL);
        if (e->capacity > 0)
            sl_error(p->c, word, "'capacity' is given twice");
        else if (!(v > 0) || v > 1e6)
            sl_error(p->c, *num, "a capacity factor must be positive (and at most 1e6), not %s",
                     TEXT(*num));
        else
            e->capacity = v;
        return e;
    }
    if (!flag) {
        sl_error(p->c, word, "expected 'scaled', 'switch', 'capacity F', 'attending all' or the "
                 "end of the route, found identifier '%s'", w);
        return e;
    }
    if (num)
        sl_error(p->c, *num, "'%s' takes no number", w);
    else if (*flag)
        sl_error(p->c, word, "'%s' is given twice", w);
    *flag = true;
    return e;
}

static sl_dim *dim_binary(parser *p, int op, sl_dim *a, sl_dim *b, sl_span at)
{
    sl_dim *d = dim_new(p, SL_DIM_BINARY, at);
    d->op = op;
    d->lhs = a;
    d->rhs = b;
    d->depth = nest(p, at, max_depth(a->depth, b->depth));
    return d;
}

/* The contents of a string literal, escapes \\ \" \n \t resolved. */
static const char *string_value(parser *p, sl_span at)
{
    const char *s = TEXT(at);
    size_t n = strlen(s);
    char *out = sl_arena_alloc(&p->c->arena, n + 1);
    size_t k = 0;
    size_t end = n >= 2 && s[n - 1] == '"' ? n - 1 : n; /* unterminated: no quote */
    for (size_t i = 1; i < end; i++) {
        if (s[i] != '\\') {
            out[k++] = s[i];
            continue;
        }
        if (i + 1 >= end)
            break; /* a trailing backslash of an unterminated string */
        char e = s[++i];
        switch (e) {
        case '\\': case '"': out[k++] = e; break;
        case 'n': out[k++] = '\n'; break;
        case 't': out[k++] = '\t'; break;
        default: {
            /* Show the whole character after the backslash, UTF-8 or not. */
            size_t len = 1;
            while (i + len < end && ((unsigned char)s[i + len] & 0xc0) == 0x80 && len < 4)
                len++;
            sl_span esc = {at.file, at.begin + (uint32_t)i - 1, at.begin + (uint32_t)(i + len)};
            sl_error(p->c, esc, "unknown escape sequence '\\%.*s'", (int)len, s + i);
            i += len - 1;
        }
        }
    }
    out[k] = '\0';
    return out;
}

static sl_stmt *stmt_new(parser *p, sl_stmt_kind kind, sl_span at)
{
    sl_stmt *s = NEW(sl_stmt);
    s->kind = kind;
    s->span = at;
    s->depth = 1;
    return s;
}

static int body_depth(sl_stmt *s)
{
    int d = 0;
    for (; s; s = s->next)
        d = max_depth(d, s->depth);
    return d;
}

static sl_decl *decl_new(parser *p, sl_decl_kind kind, sl_span at)
{
    sl_decl *d = NEW(sl_decl);
    d->kind = kind;
    d->span = at;
    return d;
}

/* What a unit's body holds while it is parsed: declarations and
 * statements, each list in source order. */
typedef struct body { sl_decl *decls, *decls_tail; sl_stmt *stmts, *stmts_tail; } body;

static void body_add(body *b, sl_decl *d, sl_stmt *s)
{
    if (d) {
        if (b->decls_tail) b->decls_tail->next = d; else b->decls = d;
        b->decls_tail = d;
    }
    if (s) {
        if (b->stmts_tail) b->stmts_tail->next = s; else b->stmts = s;
        b->stmts_tail = s;
    }
}
}

%union {
    sl_expr *expr;
    sl_stmt *stmt;
    sl_decl *decl;
    sl_dim *dim;
    sl_unit *unit;
    sl_kind_ast *kind;
    sl_type_ast *type;
    struct { sl_expr *head, *tail; int n; } exprs;
    struct { sl_dim *head, *tail; int n; } dims;
    struct { sl_stmt *head, *tail; } stmts;
    struct { sl_decl *decls, *decls_tail; sl_stmt *stmts, *stmts_tail; } body;
    struct { sl_decl *decl; sl_stmt *stmt; } item;
}

/* Token numbers are lang.h's sl_tok values (checked below). */
%token NL 258 IDENT 259 INT 260 FLOAT 261 STRING 262
%token MODEL 263 LAYER 264 IMPORT 265 INPUT 266 OUTPUT 267 PARAM 268
%token THRESHOLD 269 WEIGHTS 270 GATE 271 ELSE 272 EXIT 273 WHEN 274
%token ROUTE 275 TOP 276 BY 277 EXPERT 278 OF 279 BLOCKS 280
%token F32 281 TRUE 282 FALSE 283 AND 284 OR 285 NOT 286
%token ARROW 287 LE 288 GE 289 EQ 290 NE 291
%token TOKENS 292 FOR 293 IN 294 FROM 295 I32 296

%left OR
%left AND
%precedence NOT
%nonassoc '<' '>' LE GE EQ NE
%left '+' '-'
%left '*' '/'
%precedence UMINUS
/* `route ... by f(x)`: the scores postfix takes its calls and indexes. */
%precedence ROUTE_BY
%precedence '(' '[' IDENT   /* IDENT: an option goes to the innermost route */

%type <expr> expr postfix primary subscript gate_open route
%type <exprs> args arg_list subscripts
%type <dim> dim dim_atom
%type <dims> dims names bounds
%type <stmt> stmt gate
%type <stmts> stmts block block_rest
%type <stmt> for_open
%type <decl> decl
%type <item> item
%type <body> items unit_body
%type <unit> unit
%type <kind> kind kind_core kind_mods
%type <type> type

%%

/* file = { [ unit ] NL } */
file
    : %empty
    | file NL
    | file unit NL {
        if ($2) {
            *p->units_tail = $2;
            p->units_tail = &$2->next;
        }
      }
    | file error NL
    ;

/* unit = "import" IDENT
 *      | "model" IDENT "{" unit_body "}"
 *      | "layer" IDENT [ "[" names "]" ] "{" unit_body "}" */
unit
    : IMPORT IDENT {
        $$ = NEW(sl_unit);
        $$->kind = SL_UNIT_IMPORT; $$->span = @$;
        $$->name = TEXT(@2); $$->name_span = @2;
      }
    | MODEL IDENT '{' unit_body '}' {
        $$ = NEW(sl_unit);
        $$->kind = SL_UNIT_MODEL; $$->span = @$;
        $$->name = TEXT(@2); $$->name_span = @2;
        $$->decls = $4.decls; $$->body = $4.stmts; $$->close_span = @5;
      }
    | LAYER IDENT '{' unit_body '}' {
        $$ = NEW(sl_unit);
        $$->kind = SL_UNIT_LAYER; $$->span = @$;
        $$->name = TEXT(@2); $$->name_span = @2;
        $$->decls = $4.decls; $$->body = $4.stmts; $$->close_span = @5;
      }
    | LAYER IDENT '[' names ']' '{' unit_body '}' {
        $$ = NEW(sl_unit);
        $$->kind = SL_UNIT_LAYER; $$->span = @$;
        $$->name = TEXT(@2); $$->name_span = @2;
        $$->dim_params = $4.head; $$->n_dim_params = $4.n;
        $$->decls = $7.decls; $$->body = $7.stmts; $$->close_span = @8;
      }
    ;

names
    : IDENT {
        $$.head = $$.tail = dim_new(p, SL_DIM_NAME, @1);
        $$.head->name = TEXT(@1); $$.n = 1;
      }
    | names ',' IDENT {
        sl_dim *d = dim_new(p, SL_DIM_NAME, @3);
        d->name = TEXT(@3);
        $$ = $1; $$.tail->next = d; $$.tail = d; $$.n++;
      }
    ;

/* unit_body = { [ item ] NL } [ item ] */
unit_body
    : items { $$ = $1; }
    | items item { $$ = $1; body_add((body *)&$$, $2.decl, $2.stmt); }
    ;

items
    : %empty { memset(&$$, 0, sizeof $$); }
    | items NL { $$ = $1; }
    | items item NL { $$ = $1; body_add((body *)&$$, $2.decl, $2.stmt); }
    | items error NL { $$ = $1; }
    ;

item
    : decl { $$.decl = $1; $$.stmt = NULL; }
    | stmt { $$.decl = NULL; $$.stmt = $1; }
    ;

/* decl = "input" IDENT ":" type | "output" IDENT ":" type
 *      | "param" IDENT ":" kind [ "from" STRING ] | "threshold" IDENT "=" expr
 *      | "weights" STRING | "tokens" IDENT { IDENT dim_atom } */
decl
    : INPUT IDENT ':' type {
        $$ = decl_new(p, SL_DECL_INPUT, @$); $$->name = TEXT(@2); $$->name_span = @2; $$->type = $4;
      }
    | OUTPUT IDENT ':' type {
        $$ = decl_new(p, SL_DECL_OUTPUT, @$); $$->name = TEXT(@2); $$->name_span = @2; $$->type = $4;
      }
    | PARAM IDENT ':' kind {
        $$ = decl_new(p, SL_DECL_PARAM, @$); $$->name = TEXT(@2); $$->name_span = @2; $$->pkind = $4;
      }
    | PARAM IDENT ':' kind FROM STRING {
        $$ = decl_new(p, SL_DECL_PARAM, @$); $$->name = TEXT(@2); $$->name_span = @2; $$->pkind = $4;
        $$->path = string_value(p, @6); $$->path_span = @6;
      }
    | TOKENS IDENT bounds {
        $$ = decl_new(p, SL_DECL_TOKENS, @$); $$->name = TEXT(@2); $$->name_span = @2;
        $$->bounds = $3.head;
      }
    | THRESHOLD IDENT '=' expr {
        $$ = decl_new(p, SL_DECL_THRESHOLD, @$); $$->name = TEXT(@2); $$->name_span = @2; $$->value = $4;
      }
    | WEIGHTS STRING {
        $$ = decl_new(p, SL_DECL_WEIGHTS, @$); $$->path = string_value(p, @2);
      }
    ;

/* bounds = { IDENT dim_atom }   (`min 1 max 64`; the checker reads the words) */
bounds
    : %empty { $$.head = $$.tail = NULL; $$.n = 0; }
    | bounds IDENT dim_atom {
        sl_dim *d = dim_new(p, SL_DIM_NAME, @2);
        d->name = TEXT(@2); d->lhs = $3;
        $$ = $1;
        if ($$.tail) $$.tail->next = d; else $$.head = d;
        $$.tail = d; $$.n++;
      }
    ;

/* type = ( "f32" | "i32" ) [ "[" [ dims ] "]" ] */
type
    : F32 { $$ = NEW(sl_type_ast); $$->span = @$; }
    | F32 '[' ']' { $$ = NEW(sl_type_ast); $$->span = @$; }
    | F32 '[' dims ']' {
        $$ = NEW(sl_type_ast); $$->span = @$; $$->dims = $3.head; $$->rank = $3.n;
      }
    | I32 { $$ = NEW(sl_type_ast); $$->span = @$; $$->is_i32 = true; }
    | I32 '[' ']' { $$ = NEW(sl_type_ast); $$->span = @$; $$->is_i32 = true; }
    | I32 '[' dims ']' {
        $$ = NEW(sl_type_ast); $$->span = @$; $$->dims = $3.head; $$->rank = $3.n;
        $$->is_i32 = true;
      }
    ;

/* kind = kind_core { "blocks" dim_atom | IDENT }
 *      | kind_core "of" kind                  (list[N] of ...)
 *      | "expert" "[" dim "]" "of" kind */
kind
    : kind_mods { $$ = $1; }
    | kind_core OF kind {
        $$ = $1; $$->form = SL_KIND_LIST; $$->span = @$; $$->elem = $3;
      }
    | EXPERT '[' dim ']' OF kind {
        $$ = NEW(sl_kind_ast); $$->form = SL_KIND_EXPERT; $$->span = @$;
        $$->name = "expert"; $$->name_span = @1;
        $$->args = $3; $$->n_args = 1; $$->elem = $6;
      }
    ;

kind_mods
    : kind_core { $$ = $1; }
    | kind_mods BLOCKS dim_atom {
        $$ = $1;
        if ($$->blocks) sl_error(p->c, @2, "'blocks' is given twice");
        $$->blocks = $3; $$->span = @$;
      }
    | kind_mods IDENT {
        $$ = $1; $$->span = @$;
        sl_dim *f = dim_new(p, SL_DIM_NAME, @2);
        f->name = TEXT(@2);
        sl_dim **tail = &$$->flags;
        while (*tail) tail = &(*tail)->next;
        *tail = f;
      }
    ;

/* kind_core = IDENT [ "[" dim "->" dim "]" | "[" dims "]" ] */
kind_core
    : IDENT {
        $$ = NEW(sl_kind_ast); $$->form = SL_KIND_ARGS; $$->span = @$;
        $$->name = TEXT(@1); $$->name_span = @1;
      }
    | IDENT '[' dim ARROW dim ']' {
        $$ = NEW(sl_kind_ast); $$->form = SL_KIND_ARROW; $$->span = @$;
        $$->name = TEXT(@1); $$->name_span = @1;
        $3->next = $5; $$->args = $3; $$->n_args = 2; $$->has_brackets = true;
      }
    | IDENT '[' dims ']' {
        $$ = NEW(sl_kind_ast); $$->form = SL_KIND_ARGS; $$->span = @$;
        $$->name = TEXT(@1); $$->name_span = @1;
        $$->args = $3.head; $$->n_args = $3.n; $$->has_brackets = true;
      }
    ;

dims
    : dim { $$.head = $$.tail = $1; $$.n = 1; }
    | dims ',' dim { $$ = $1; $$.tail->next = $3; $$.tail = $3; $$.n++; }
    ;

/* dim = dim ("+" | "-" | "*" | "/") dim | dim_atom */
dim
    : dim '+' dim { $$ = dim_binary(p, '+', $1, $3, @$); }
    | dim '-' dim { $$ = dim_binary(p, '-', $1, $3, @$); }
    | dim '*' dim { $$ = dim_binary(p, '*', $1, $3, @$); }
    | dim '/' dim { $$ = dim_binary(p, '/', $1, $3, @$); }
    | dim_atom { $$ = $1; }
    ;

/* dim_atom = INT | IDENT | "(" dim ")" */
dim_atom
    : INT { $$ = dim_int(p, @1); }
    | IDENT { $$ = dim_new(p, SL_DIM_NAME, @1); $$->name = TEXT(@1); }
    | '(' dim ')' { $$ = $2; }
    ;

/* stmt = IDENT "=" expr | gate | "exit" expr [ "when" expr ]
 *      | "for" [ IDENT "," ] IDENT "in" IDENT block */
stmt
    : IDENT '=' expr {
        $$ = stmt_new(p, SL_ST_ASSIGN, @$); $$->name = TEXT(@1); $$->name_span = @1; $$->value = $3;
      }
    | gate { $$ = $1; }
    | for_open block_rest {
        $$ = $1; $$->span = @$; $$->then_body = $2.head;
        $$->depth = nest(p, @1, body_depth($2.head));
      }
    | EXIT expr {
        $$ = stmt_new(p, SL_ST_EXIT, @$); $$->value = $2;
      }
    | EXIT expr WHEN expr {
        $$ = stmt_new(p, SL_ST_EXIT, @$); $$->value = $2; $$->cond = $4;
      }
    ;

/* A loop's head and its '{'.  After an error in the head the parser skips
 * to the '{' (rather than to the end of the line, past it), so the block
 * is still read as the loop's: `for i in range(4) {` is one error. */
for_open
    : FOR IDENT IN IDENT '{' {
        $$ = stmt_new(p, SL_ST_FOR, @$); $$->name = TEXT(@2); $$->name_span = @2;
        $$->list = TEXT(@4); $$->list_span = @4;
      }
    | FOR IDENT ',' IDENT IN IDENT '{' {
        $$ = stmt_new(p, SL_ST_FOR, @$); $$->index = TEXT(@2); $$->index_span = @2;
        $$->name = TEXT(@4); $$->name_span = @4;
        $$->list = TEXT(@6); $$->list_span = @6;
      }
    | FOR error '{' {
        $$ = stmt_new(p, SL_ST_FOR, @$); $$->name = "?"; $$->name_span = @1;
        $$->list = "?"; $$->list_span = @1;
      }
    ;

/* gate = "gate" expr block [ "else" ( block | gate ) ] */
gate
    : gate_open block_rest {
        $$ = stmt_new(p, SL_ST_GATE, @$); $$->cond = $1; $$->then_body = $2.head;
        $$->depth = nest(p, @1, body_depth($2.head));
      }
    | gate_open block_rest ELSE block {
        $$ = stmt_new(p, SL_ST_GATE, @$); $$->cond = $1; $$->then_body = $2.head;
        $$->else_body = $4.head; $$->has_else = true; $$->else_span = @3;
        $$->depth = nest(p, @1, max_depth(body_depth($2.head), body_depth($4.head)));
      }
    | gate_open block_rest ELSE gate {
        $$ = stmt_new(p, SL_ST_GATE, @$); $$->cond = $1; $$->then_body = $2.head;
        $$->else_body = $4; $$->has_else = true; $$->else_span = @3;
        $$->depth = nest(p, @1, max_depth(body_depth($2.head), $4->depth));
      }
    | gate_open block_rest ELSE error block {
        $$ = stmt_new(p, SL_ST_GATE, @$); $$->cond = $1; $$->then_body = $2.head;
        $$->else_body = $5.head; $$->has_else = true; $$->else_span = @3;
        $$->depth = nest(p, @1, max_depth(body_depth($2.head), body_depth($5.head)));
      }
    ;

/* A gate's head and its '{' (the condition).  After an error in the head
 * the parser skips to the '{' (rather than to the end of the line, past
 * it), so the block is still read as the gate's and the rest of the unit
 * parses: `gate x[0] = 1 {` is one error, and so is `gate c` with its '{'
 * on the next line.  Likewise after `else`. */
gate_open
    : GATE expr '{' { $$ = $2; }
    | GATE error '{' { $$ = expr_new(p, SL_EX_BOOL, @2); }
    ;

/* block = "{" { [ stmt ] NL } [ stmt ] "}" */
block
    : '{' block_rest { $$ = $2; }
    ;

/* What follows a block's '{'. */
block_rest
    : stmts '}' { $$ = $1; }
    | stmts stmt '}' {
        $$ = $1;
        if ($$.tail) $$.tail->next = $2; else $$.head = $2;
        $$.tail = $2;
      }
    ;

stmts
    : %empty { $$.head = $$.tail = NULL; }
    | stmts NL { $$ = $1; }
    | stmts stmt NL {
        $$ = $1;
        if ($$.tail) $$.tail->next = $2; else $$.head = $2;
        $$.tail = $2;
      }
    | stmts error NL { $$ = $1; }
    ;

/* expr = expr ("or" | "and") expr | "not" expr
 *      | expr ("<" | "<=" | ">" | ">=" | "==" | "!=") expr
 *      | expr ("+" | "-" | "*" | "/") expr | "-" expr | postfix */
expr
    : expr OR expr { $$ = binary(p, SLP_OR, $1, $3, @$); }
    | expr AND expr { $$ = binary(p, SLP_AND, $1, $3, @$); }
    | NOT expr { $$ = unary(p, SLP_NOT, $2, @$); }
    | expr '<' expr { $$ = binary(p, '<', $1, $3, @$); }
    | expr '>' expr { $$ = binary(p, '>', $1, $3, @$); }
    | expr LE expr { $$ = binary(p, SLP_LE, $1, $3, @$); }
    | expr GE expr { $$ = binary(p, SLP_GE, $1, $3, @$); }
    | expr EQ expr { $$ = binary(p, SLP_EQ, $1, $3, @$); }
    | expr NE expr { $$ = binary(p, SLP_NE, $1, $3, @$); }
    | expr '+' expr { $$ = binary(p, '+', $1, $3, @$); }
    | expr '-' expr { $$ = binary(p, '-', $1, $3, @$); }
    | expr '*' expr { $$ = binary(p, '*', $1, $3, @$); }
    | expr '/' expr { $$ = binary(p, '/', $1, $3, @$); }
    | '-' expr %prec UMINUS { $$ = unary(p, '-', $2, @$); }
    | postfix { $$ = $1; }
    ;

/* postfix = primary | postfix "(" [ args ] ")" | postfix "[" subscripts "]"
 * subscripts = subscript { "," subscript }
 * subscript = expr | [ expr ] ":" [ expr ] */
postfix
    : primary { $$ = $1; }
    | postfix '(' args ')' {
        $$ = expr_new(p, SL_EX_CALL, @$); $$->lhs = $1; $$->args = $3.head; $$->n_args = $3.n;
        int d = $1->depth;
        for (sl_expr *a = $3.head; a; a = a->next) d = max_depth(d, a->depth);
        $$->depth = nest(p, @$, d);
      }
    | postfix '[' subscripts ']' {
        $$ = expr_new(p, SL_EX_INDEX, @$); $$->lhs = $1; $$->args = $3.head; $$->n_args = $3.n;
        int d = $1->depth;
        for (sl_expr *a = $3.head; a; a = a->next) d = max_depth(d, a->depth);
        $$->depth = nest(p, @$, d);
      }
    ;

subscripts
    : subscript { $$.head = $$.tail = $1; $$.n = 1; }
    | subscripts ',' subscript { $$ = $1; $$.tail->next = $3; $$.tail = $3; $$.n++; }
    ;

subscript
    : expr { $$ = $1; }
    | ':' { $$ = expr_new(p, SL_EX_SLICE, @$); }
    | expr ':' { $$ = expr_new(p, SL_EX_SLICE, @$); $$->lhs = $1; $$->depth = nest(p, @$, $1->depth); }
    | ':' expr { $$ = expr_new(p, SL_EX_SLICE, @$); $$->rhs = $2; $$->depth = nest(p, @$, $2->depth); }
    | expr ':' expr {
        $$ = expr_new(p, SL_EX_SLICE, @$); $$->lhs = $1; $$->rhs = $3;
        $$->depth = nest(p, @$, max_depth($1->depth, $3->depth));
      }
    ;

args
    : %empty { $$.head = $$.tail = NULL; $$.n = 0; }
    | arg_list { $$ = $1; }
    ;

arg_list
    : expr { $$.head = $$.tail = $1; $$.n = 1; }
    | arg_list ',' expr { $$ = $1; $$.tail->next = $3; $$.tail = $3; $$.n++; }
    ;

/* primary = IDENT | INT | FLOAT | "true" | "false" | "(" expr ")"
 *         | "[" expr { "," expr } "]"
 *         | "route" IDENT "(" expr ")" "top" dim_atom [ "tokens" ] "by" postfix
 *           [ "scaled" ]      ("scaled" is not reserved: only here after "tokens")
 *         | "route" IDENT "(" expr ")" "tokens" "where" postfix
 *                             ("where" is not reserved either) */
primary
    : IDENT { $$ = expr_new(p, SL_EX_NAME, @1); $$->name = TEXT(@1); }
    | INT { $$ = number(p, @1, true); }
    | FLOAT { $$ = number(p, @1, false); }
    | TRUE { $$ = expr_new(p, SL_EX_BOOL, @1); $$->bval = true; }
    | FALSE { $$ = expr_new(p, SL_EX_BOOL, @1); $$->bval = false; }
    | '(' expr ')' { $$ = $2; }
    | '[' arg_list ']' {
        $$ = expr_new(p, SL_EX_LIST, @$); $$->args = $2.head; $$->n_args = $2.n;
        int d = 0;
        for (sl_expr *a = $2.head; a; a = a->next) d = max_depth(d, a->depth);
        $$->depth = nest(p, @$, d);
      }
    | route %prec ROUTE_BY {
        $$ = $1;
        if ($$->attending_open) { /* pointing just past 'attending', the route's end */
            sl_span end = $$->span;
            end.begin = end.end;
            sl_error(p->c, end, "expected 'all' after 'attending' ('tokens where c attending "
                     "all')");
        }
      }
    ;

/* A route and its options after the scores (words, not reserved). */
route
    : ROUTE IDENT '(' expr ')' TOP dim_atom BY postfix %prec ROUTE_BY {
        $$ = route_new(p, @$, @2, $4, $7, $9, false);
      }
    | ROUTE IDENT '(' expr ')' TOP dim_atom TOKENS BY postfix %prec ROUTE_BY {
        $$ = route_new(p, @$, @2, $4, $7, $10, true);
      }
    | ROUTE IDENT '(' expr ')' TOKENS IDENT postfix %prec ROUTE_BY {
        $$ = route_new(p, @$, @2, $4, NULL, $8, true);
        $$->where = true;
        if (strcmp(TEXT(@7), "where") != 0)
            sl_error(p->c, @7, "expected 'where' after 'tokens' ('route %s(x) tokens where c', "
                     "or 'route %s(x) top K tokens by s'), found identifier '%s'",
                     TEXT(@2), TEXT(@2), TEXT(@7));
      }
    | route IDENT { $$ = route_option(p, $1, @2, NULL); }
    | route IDENT INT { $$ = route_option(p, $1, @2, &@3); }
    | route IDENT FLOAT { $$ = route_option(p, $1, @2, &@3); }
    ;

%%

#define SAME(a, b) ((int)(a) == (int)(b))
_Static_assert(SAME(SLP_NL, SL_T_NL) && SAME(SLP_IDENT, SL_T_IDENT) &&
               SAME(SLP_STRING, SL_T_STRING) && SAME(SLP_MODEL, SL_T_MODEL) &&
               SAME(SLP_BLOCKS, SL_T_BLOCKS) && SAME(SLP_F32, SL_T_F32) &&
               SAME(SLP_NOT, SL_T_NOT) && SAME(SLP_ARROW, SL_T_ARROW) &&
               SAME(SLP_NE, SL_T_NE) && SAME(SLP_TOKENS, SL_T_TOKENS) &&
               SAME(SLP_I32, SL_T_I32) && SL_T_I32 + 1 == SL_T_LAST,
               "parser.y token numbers must match lang.h's sl_tok");

/* The text of token i (identifiers only: NULL for other kinds). */
static const char *ident_text(parser *p, size_t i)
{
    if (i >= p->lx.toks.len || p->lx.toks.items[i].kind != SL_T_IDENT)
        return NULL;
    return TEXT(p->lx.toks.items[i].span);
}

static int tok_kind(parser *p, size_t i)
{
    return i < p->lx.toks.len ? p->lx.toks.items[i].kind : SL_T_EOF;
}

/* Where a statement may begin: after an end of line, a '{' or an `else`. */
static bool at_statement_start(parser *p, size_t i)
{
    int prev = i == 0 ? SL_T_NL : p->lx.toks.items[i - 1].kind;
    return prev == SL_T_NL || prev == '{' || prev == SL_T_ELSE;
}

/* `if c {` and `while c {`, as other languages write a gate: said once,
 * then read as `gate c {` so the rest of the unit parses.  Only where a
 * statement begins, and not `if = ...` (an assignment to a variable named
 * `if`) or an `if` alone on its line.  (An `elif` there, not after a '}',
 * is read so too.) */
static bool foreign_condition(parser *p, size_t i)
{
    const char *word = ident_text(p, i);
    bool elif = word && (strcmp(word, "elif") == 0 || strcmp(word, "elsif") == 0 ||
                         strcmp(word, "elseif") == 0);
    if (!word || (strcmp(word, "if") != 0 && strcmp(word, "while") != 0 && !elif) ||
        !at_statement_start(p, i))
        return false;
    const sl_source *src = &p->c->sources.items[p->file];
    uint32_t at = p->lx.toks.items[i].span.end;
    while (at < src->len && strchr(" \t\r\f\v", src->text[at]) && src->text[at])
        at++;
    char next = at < src->len ? src->text[at] : '\n';
    char after = at + 1 < src->len ? src->text[at + 1] : '\n';
    if ((next == '=' && after != '=') || next == '\n' || next == ';' || next == '#')
        return false;
    sl_span s = p->lx.toks.items[i].span;
    if (elif)
        sl_error(p->c, s, "'%s' is not a keyword of Sluice; write 'else gate c { ... }' right "
                 "after the gate's '}'", word);
    else if (word[0] == 'w')
        sl_error(p->c, s, "'while' is not a keyword of Sluice; there are no loops over values: "
                 "'gate c { ... }' runs a block when c holds, 'for b in blocks { ... }' runs "
                 "one per layer of a list");
    else if (i > 0 && p->lx.toks.items[i - 1].kind == SL_T_ELSE)
        sl_error(p->c, s, "'if' is not a keyword of Sluice; write 'else gate c { ... }'");
    else
        sl_error(p->c, s, "'if' is not a keyword of Sluice; a condition is written "
                 "'gate c { ... }'");
    return true;
}

/* Token i is `elif`, `elsif` or `elseif`, and not a variable so named
 * (`elif = ...`). */
static bool elif_word(parser *p, size_t i)
{
    const char *word = ident_text(p, i);
    if (!word || (strcmp(word, "elif") != 0 && strcmp(word, "elsif") != 0 &&
                  strcmp(word, "elseif") != 0))
        return false;
    const sl_source *src = &p->c->sources.items[p->file];
    uint32_t at = p->lx.toks.items[i].span.end;
    while (at < src->len && strchr(" \t\r\f\v", src->text[at]) && src->text[at])
        at++;
    return !(at < src->len && src->text[at] == '=' &&
             (at + 1 >= src->len || src->text[at + 1] != '='));
}

/* An end of line written as a newline, not as `;`. */
static bool newline_token(parser *p, size_t i)
{
    const sl_token *t = &p->lx.toks.items[i];
    return t->kind == SL_T_NL && p->c->sources.items[p->file].text[t->span.begin] != ';';
}

/* `elif c {` (or `elsif`, `elseif`) after a '}', on its line or the next,
 * as other languages chain conditions: said once, then read as `else
 * gate` so the chain parses. */
static bool foreign_elif(parser *p, size_t i)
{
    if (!elif_word(p, i))
        return false;
    size_t j = i > 0 && newline_token(p, i - 1) ? i - 1 : i;
    if (j == 0 || p->lx.toks.items[j - 1].kind != '}')
        return false;
    sl_error(p->c, p->lx.toks.items[i].span, "'%s' is not a keyword of Sluice; write 'else gate "
             "c { ... }'", ident_text(p, i));
    return true;
}

static int slp_lex(SLP_STYPE *val, sl_span *loc, parser *p)
{
    (void)val;
    /* Lex no further than needed, so lexical and syntax errors come out in
     * source order: the next token, and one more after a newline token
     * (an `else` after it removes it; see sl_lex_more). */
    while (!p->lx.finished &&
           (p->lx.toks.len <= p->pos ||
            (p->lx.toks.items[p->pos].kind == SL_T_NL && p->lx.toks.len <= p->pos + 1)))
        sl_lex_more(&p->lx);
    sl_token t = p->lx.toks.items[p->pos];
    /* `}` newline `elif`: the newline does not end the gate, as before
     * `else` (foreign_elif reports the word when it is handed out). */
    if (!p->head_error && p->pos > 0 && p->lx.toks.items[p->pos - 1].kind == '}' &&
        newline_token(p, p->pos) && elif_word(p, p->pos + 1))
        t = p->lx.toks.items[++p->pos];
    /* After an error in a gate's or loop's head, its line ends without the
     * '{': the head gets an empty block, `{ }`, before the end of line, so
     * the statement ends there and the next line is read as usual.  (With
     * the '{' first on the next line, the end of line is skipped instead.) */
    if (p->head_error && (t.kind == SL_T_NL || p->inject > 0)) {
        if (p->inject == 0 && tok_kind(p, p->pos + 1) == '{') {
            p->head_error = false;
        } else {
            if (p->inject == 0)
                p->inject = 2;
            *loc = (sl_span){t.span.file, t.span.begin, t.span.begin};
            if (--p->inject == 0)
                p->head_error = false;
            p->in_head = false;
            return p->inject ? '{' : '}';
        }
    }
    p->after_nl = p->pos == 0 || p->lx.toks.items[p->pos - 1].kind == SL_T_NL;
    if (p->pos > 0 && !p->after_nl)
        p->prev = p->lx.toks.items[p->pos - 1].span;
    /* A head ends at its '{' or at the end of its line. */
    if (p->pos > 0 && (p->lx.toks.items[p->pos - 1].kind == SL_T_NL ||
                       p->lx.toks.items[p->pos - 1].kind == '{'))
        p->in_head = false;
    if (t.kind == '{')
        p->head_error = false;
    bool hold = false; /* hand the same token out again */
    if (p->elif_gate) {
        p->elif_gate = false;
        t.kind = SL_T_GATE;
    } else if (t.kind == SL_T_IDENT && foreign_elif(p, p->pos)) {
        t.kind = SL_T_ELSE;
        p->elif_gate = hold = true;
    } else if (t.kind == SL_T_IDENT && foreign_condition(p, p->pos)) {
        t.kind = SL_T_GATE;
    }
    if (t.kind == SL_T_GATE || t.kind == SL_T_FOR || t.kind == SL_T_ELSE) {
        p->in_head = true;
        p->head_at = p->pos;
    }
    p->look = p->pos;
    if (t.kind != SL_T_EOF && !hold)
        p->pos++; /* past the end, stay on EOF */
    *loc = t.span;
    return t.kind;
}

/* Called by Bison only for what the custom report does not cover (its
 * stack limit: "memory exhausted"). */
static void slp_error(sl_span *loc, parser *p, const char *msg)
{
    if (strcmp(msg, "memory exhausted") == 0)
        sl_error(p->c, *loc, "nested too deeply (the parser's stack is full)");
    else
        sl_error(p->c, *loc, "%s", msg);
}

/* Token number of a grammar symbol (the reverse of YYTRANSLATE). */
static int symbol_token(yysymbol_kind_t sym)
{
    if (sym == YYSYMBOL_YYEOF)
        return SL_T_EOF;
    for (int t = 1; t < SL_T_LAST; t++)
        if (YYTRANSLATE(t) == sym)
            return t;
    return -1;
}

/* What was found, for "found Y": the kind and, for names and numbers, the
 * text. */
static const char *describe_found(parser *p, int tok, sl_span at)
{
    switch (tok) {
    case SL_T_IDENT:
        return sl_arena_printf(&p->c->arena, "identifier '%s'", TEXT(at));
    case SL_T_INT:
    case SL_T_FLOAT:
        return sl_arena_printf(&p->c->arena, "number '%s'", TEXT(at));
    default:
        return sl_tok_name(tok);
    }
}

/* Operators and postfix brackets: what may follow any complete operand. */
static bool is_continuation(int t)
{
    switch (t) {
    case '+': case '-': case '*': case '/': case '<': case '>': case '(': case '[':
    case SL_T_LE: case SL_T_GE: case SL_T_EQ: case SL_T_NE: case SL_T_AND: case SL_T_OR:
        return true;
    default:
        return false;
    }
}

static int yyreport_syntax_error(const yypcontext_t *ctx, parser *p)
{
    enum { MAX_EXPECTED = 32 };
    yysymbol_kind_t expected[MAX_EXPECTED];
    int n = yypcontext_expected_tokens(ctx, expected, MAX_EXPECTED);
    int found = symbol_token(yypcontext_token(ctx));
    sl_span at = *yypcontext_location(ctx);
    const char *found_text = describe_found(p, found, at);
    /* "expected ')'" belongs at the end of the line that lacks it, not at
     * the start of the next one (unless that line ended its statement). */
    sl_span want_at = at;
    if (!sl_span_is_none(p->prev) && p->prev.file == at.file &&
        (!p->after_nl || found == SL_T_EOF)) {
        uint32_t l1, l2, col;
        const sl_source *src = &p->c->sources.items[at.file];
        sl_source_linecol(src, p->prev.end, &l1, &col);
        sl_source_linecol(src, at.begin, &l2, &col);
        if (l2 > l1 || found == SL_T_NL || found == SL_T_EOF)
            want_at = (sl_span){at.file, p->prev.end, p->prev.end};
    }

    /* Where any expression may start, its first tokens collapse into
     * "expression"; where only an operand may (after `by`), into "operand". */
    int toks[MAX_EXPECTED];
    for (int i = 0; i < n; i++)
        toks[i] = symbol_token(expected[i]);
    bool has[SL_T_LAST] = {0};
    for (int i = 0; i < n; i++)
        if (toks[i] >= 0 && toks[i] < SL_T_LAST)
            has[toks[i]] = true;
    bool operand = has[SL_T_IDENT] && has[SL_T_INT] && has[SL_T_FLOAT] && has[SL_T_TRUE] &&
                   has[SL_T_FALSE] && has[SL_T_ROUTE] && has['('] && has['['];
    bool expression = operand && has['-'] && has[SL_T_NOT];
    /* After a complete operand, any operator could continue it; those are
     * rarely what is missing, so they are left out when something else
     * (a ',', a ')', an end of line) is expected too. */
    int structural = 0;
    for (int i = 0; i < n; i++)
        structural += !is_continuation(toks[i]);
    const char *names[MAX_EXPECTED + 1];
    int k = 0;
    for (int i = 0; i < n; i++) {
        int t = toks[i];
        bool starter = t == SL_T_IDENT || t == SL_T_INT || t == SL_T_FLOAT || t == SL_T_TRUE ||
                       t == SL_T_FALSE || t == SL_T_ROUTE || t == '(' || t == '[';
        if (operand && (starter || (expression && (t == '-' || t == SL_T_NOT))))
            continue;
        if (!operand && structural > 0 && is_continuation(t))
            continue;
        if (t == SL_T_EOF && n > 1)
            continue; /* "end of file" is implied wherever a unit may end */
        if (t == SL_T_NL && p->after_nl && n > 1)
            continue; /* at the start of a line, a missing end of line is not it */
        if (t >= 0)
            names[k++] = sl_tok_name(t);
    }
    if (operand)
        names[k++] = expression ? "expression" : "operand";
    /* A missing '}' at the end is the usual cause of an early end of file. */
    if (found == SL_T_EOF && has['}']) {
        names[0] = sl_tok_name('}');
        k = 1;
    }

    /* An error in a gate's or loop's head: recovery skips to its '{' (see
     * slp_lex), or gives it an empty block where the line ends first. */
    if (p->in_head && p->look != p->head_at && found != '{') {
        p->head_error = true;
        if (found == SL_T_NL)
            p->pos = p->look; /* hand the end of line out again, after the block */
    }

    /* Words of other languages where a statement begins. */
    const char *word = p->look > 0 ? ident_text(p, p->look - 1) : NULL;
    if (word && has['='] && k == 1 && at_statement_start(p, p->look - 1)) {
        sl_span ws = p->lx.toks.items[p->look - 1].span;
        if (strcmp(word, "return") == 0) {
            sl_error(p->c, ws, "'return' is not a keyword of Sluice; a unit's result is its "
                     "output, assigned like any name: 'y = ...'");
            return 0;
        }
        if (strcmp(word, "let") == 0 || strcmp(word, "var") == 0 ||
            strcmp(word, "const") == 0) {
            sl_error(p->c, ws, "'%s' is not a keyword of Sluice; a name is defined by assigning "
                     "it: 'h = ...'", word);
            return 0;
        }
    }
    /* `=` where `==` would fit; `for i in range(4)`. */
    const char *hint = "";
    if (found == '=' && has[SL_T_EQ])
        hint = "; '==' compares two values";
    else if (found == '(' && has['{'] && p->look >= 4 && tok_kind(p, p->look - 2) == SL_T_IN &&
             p->in_head && tok_kind(p, p->head_at) == SL_T_FOR)
        hint = "; 'for' runs over a list of layers by its name: 'for i, b in blocks { ... }'";

    if (n <= 0 || k == 0 || k > 5) {
        sl_error(p->c, at, "unexpected %s%s", found_text, hint);
        return 0;
    }
    char list[512] = "";
    for (int i = 0; i < k; i++) {
        const char *sep = i == 0 ? "" : i == k - 1 ? " or " : ", ";
        strncat(list, sep, sizeof list - strlen(list) - 1);
        strncat(list, names[i], sizeof list - strlen(list) - 1);
    }
    bool shown = sl_error(p->c, want_at, "expected %s, found %s%s", list, found_text, hint);
    if (shown && found == SL_T_EOF && p->lx.depth > 0) {
        uint32_t open = p->lx.bracket_at[p->lx.depth - 1];
        sl_span open_at = {at.file, open, open + 1};
        sl_note(p->c, open_at, "to match this '%c'", p->lx.brackets[p->lx.depth - 1]);
    }
    return 0;
}

sl_module *sl_parse(sl_ctx *c, int file)
{
    parser p = {.c = c, .file = file, .prev = SL_SPAN_NONE};
    sl_lexer_init(&p.lx, c, file);
    p.module = sl_arena_alloc(&c->arena, sizeof *p.module);
    p.module->file = file;
    p.units_tail = &p.module->units;
    slp_parse(&p);
    return p.module;
}
