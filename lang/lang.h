/* lang.h - the Sluice front end: arena, sources, diagnostics, tokens, AST
 * and parser.  One header, one section per owning file (chibicc style).
 *
 * Everything the front end allocates lives in the compilation's arena
 * (sl_ctx.arena) and is released at once by sl_ctx_free. */
#ifndef SLUICE_LANG_H
#define SLUICE_LANG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SL_VERSION "0.1.0"

/* Documented limits (docs/language.md, "Limits"). */
#define SL_MAX_NESTING 256      /* brackets, and depth of any expression or statement */
#define SL_MAX_RANK_SRC 4       /* dimensions of a tensor type */
#define SL_MAX_DIM ((int64_t)1 << 31) /* largest single dimension */
#define SL_MAX_SOURCE_SIZE ((size_t)64 << 20) /* bytes in one source file */

/* ---- arena.c --------------------------------------------------------- */

typedef struct sl_arena_chunk sl_arena_chunk;

typedef struct sl_arena {
    sl_arena_chunk *head; /* newest chunk first */
    size_t used;          /* bytes used in head */
    size_t cap;           /* bytes available in head */
} sl_arena;

void sl_arena_init(sl_arena *a);
void sl_arena_free(sl_arena *a);
/* Zeroed, 16-byte aligned; aborts with a message when memory runs out. */
void *sl_arena_alloc(sl_arena *a, size_t size);
void *sl_arena_array(sl_arena *a, size_t n, size_t size); /* n * size, overflow-checked */
char *sl_arena_strndup(sl_arena *a, const char *s, size_t n);
char *sl_arena_strdup(sl_arena *a, const char *s);
char *sl_arena_printf(sl_arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Abort on memory exhaustion: the one place allocation failure goes. */
_Noreturn void sl_out_of_memory(void);

/* A growable array in the arena: `SL_VEC(T) v = {0}; SL_VEC_PUSH(a, &v, x);` */
#define SL_VEC(T) struct { T *items; size_t len, cap; }
#define SL_VEC_PUSH(arena, v, x)                                               \
    do {                                                                       \
        if ((v)->len == (v)->cap)                                              \
            sl_vec_grow((arena), (void **)&(v)->items, &(v)->cap,              \
                        sizeof *(v)->items);                                   \
        (v)->items[(v)->len++] = (x);                                          \
    } while (0)
void sl_vec_grow(sl_arena *a, void **items, size_t *cap, size_t elem_size);

/* ---- source.c -------------------------------------------------------- */

/* A span of bytes in one source file: [begin, end). */
typedef struct sl_span {
    int32_t file;   /* index into sl_ctx.sources */
    uint32_t begin; /* byte offset of the first byte */
    uint32_t end;   /* byte offset one past the last byte */
} sl_span;

typedef struct sl_source {
    const char *path;    /* as given, used in messages */
    const char *text;    /* contents, NUL-terminated (may hold NULs inside) */
    uint32_t len;        /* bytes, without the terminator */
    uint32_t *lines;     /* byte offset of each line's start */
    uint32_t n_lines;
} sl_source;

typedef struct sl_ctx sl_ctx;

/* Add a source from memory (copied) or from a file; returns its index, or
 * -1 after an error diagnostic (unreadable file, too large). */
int sl_source_add_mem(sl_ctx *c, const char *path, const char *text, size_t len);
int sl_source_add_file(sl_ctx *c, const char *path, sl_span from);
/* 1-based line and byte column of an offset. */
void sl_source_linecol(const sl_source *s, uint32_t off, uint32_t *line, uint32_t *col);

/* ---- diag.c ---------------------------------------------------------- */

typedef enum sl_severity { SL_NOTE, SL_WARNING, SL_ERROR, SL_FATAL } sl_severity;

typedef struct sl_diag_opts {
    bool color;          /* ANSI colour (only on a terminal by default) */
    bool werror;         /* warnings are errors */
    bool no_warnings;    /* -w */
    int error_limit;     /* stop after this many errors; 0 = no limit */
    FILE *out;           /* where diagnostics go (stderr) */
} sl_diag_opts;

/* Report at a span: "file:line:col: error: msg", the source line, a caret
 * under the span.  An SL_SPAN_NONE span prints "sluicec: error: msg".
 * Returns false when nothing was printed (a repeat, -w, past the limit), so
 * a caller knows whether its notes should follow. */
bool sl_diag(sl_ctx *c, sl_severity sev, sl_span at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define sl_error(c, at, ...) sl_diag((c), SL_ERROR, (at), __VA_ARGS__)
#define sl_warn(c, at, ...) sl_diag((c), SL_WARNING, (at), __VA_ARGS__)
#define sl_note(c, at, ...) sl_diag((c), SL_NOTE, (at), __VA_ARGS__)
extern const sl_span SL_SPAN_NONE;
bool sl_span_is_none(sl_span s);
sl_span sl_span_join(sl_span a, sl_span b);

/* The compilation: one per model file compiled. */
struct sl_ctx {
    sl_arena arena;                 /* everything below lives here */
    SL_VEC(sl_source) sources;      /* the model file and what it imports */
    sl_diag_opts diag;
    int n_errors, n_warnings;
    bool too_many_errors;           /* the error limit was hit: stop */
    const char *prog;               /* "sluicec", for messages without a span */
    SL_VEC(const char *) import_dirs; /* -I dirs, then the stdlib */
    uint64_t *seen;                 /* hashes of printed diagnostics (malloc'd) */
    const char *tokens_name;        /* the model's token count ("T"), for types in messages */
    size_t seen_cap, seen_len;
};

void sl_ctx_init(sl_ctx *c, const char *prog);
void sl_ctx_free(sl_ctx *c);

/* ---- token.c / lexer.re ---------------------------------------------- */

/* Token kinds; the parser's token numbers come from these (parser.y uses
 * the same names through %token with explicit values). */
typedef enum sl_tok {
    SL_T_EOF = 0,
    SL_T_NL = 258,  /* end of a statement: a newline or ';' */
    SL_T_IDENT, SL_T_INT, SL_T_FLOAT, SL_T_STRING,
    /* keywords */
    SL_T_MODEL, SL_T_LAYER, SL_T_IMPORT, SL_T_INPUT, SL_T_OUTPUT, SL_T_PARAM,
    SL_T_THRESHOLD, SL_T_WEIGHTS, SL_T_GATE, SL_T_ELSE, SL_T_EXIT, SL_T_WHEN,
    SL_T_ROUTE, SL_T_TOP, SL_T_BY, SL_T_EXPERT, SL_T_OF, SL_T_BLOCKS,
    SL_T_F32, SL_T_TRUE, SL_T_FALSE, SL_T_AND, SL_T_OR, SL_T_NOT,
    /* multi-character operators */
    SL_T_ARROW, SL_T_LE, SL_T_GE, SL_T_EQ, SL_T_NE,
    /* keywords added later (numbered after the operators, so the parser's
     * older token numbers stay) */
    SL_T_TOKENS, SL_T_FOR, SL_T_IN, SL_T_FROM, SL_T_I32,
    SL_T_LAST
    /* single-character punctuation is its own character: '{' '(' '+' ... */
} sl_tok;

typedef struct sl_token {
    int kind;      /* sl_tok, or a punctuation character */
    sl_span span;
} sl_token;

typedef struct sl_tokens {
    sl_token *items;
    size_t len;
} sl_tokens;

/* The lexer's state: the parser pulls tokens as it goes, so diagnostics
 * come out in source order. */
typedef struct sl_lexer {
    sl_ctx *c;
    int file;
    const unsigned char *base, *cur, *lim; /* the text, where lexing is, its end */
    SL_VEC(sl_token) toks;                 /* every token so far */
    char brackets[SL_MAX_NESTING];         /* open '(' '[' '{', innermost last */
    uint32_t bracket_at[SL_MAX_NESTING];   /* ... and where each opened */
    int depth;
    bool fatal;                            /* the nesting limit was hit: stop */
    bool done;                             /* the end of the text was reached */
    bool finished;                         /* ... and the EOF token is out */
} sl_lexer;

void sl_lexer_init(sl_lexer *lx, sl_ctx *c, int file);
void sl_lex_more(sl_lexer *lx); /* append at least one token (or finish) */
/* Tokenize a whole source, newlines turned into statement ends as
 * docs/language.md says.  Errors are reported; bad bytes are skipped. */
sl_tokens sl_lex(sl_ctx *c, int file);
/* "identifier", "'gate'", "'->'", "end of line" ... */
const char *sl_tok_name(int kind);
/* Print one token per line: "line:col kind 'text'" (--emit=tokens). */
void sl_tokens_dump(sl_ctx *c, sl_tokens toks, FILE *out);
/* The text of a span (arena copy). */
char *sl_span_text(sl_ctx *c, sl_span s);

/* ---- ast.c ----------------------------------------------------------- */

/* A shape dimension as written: a number, a layer's shape parameter, or
 * arithmetic on them. */
typedef enum sl_dim_kind { SL_DIM_INT, SL_DIM_NAME, SL_DIM_BINARY } sl_dim_kind;

typedef struct sl_dim sl_dim;
struct sl_dim {
    sl_dim_kind kind;
    sl_span span;
    int depth;           /* nesting depth, for the limit */
    int64_t value;       /* SL_DIM_INT */
    const char *name;    /* SL_DIM_NAME */
    int op;              /* SL_DIM_BINARY: '+', '-', '*', '/' */
    sl_dim *lhs, *rhs;   /* SL_DIM_BINARY */
    sl_dim *next;        /* in a list */
};

/* `f32`, `f32[d, ...]`, `i32[T]` */
typedef struct sl_type_ast {
    sl_span span;
    bool is_i32;         /* written i32 (else f32) */
    int rank;
    sl_dim *dims;        /* list of rank dims */
} sl_type_ast;

/* A parameter's kind: dense[i -> o], layernorm[d], mlp[a, b, c], a bare
 * layer name, expert[N] of <kind> or list[N] of <kind>; any may carry
 * `blocks K` and flags (`causal`). */
typedef enum sl_kind_form {
    SL_KIND_ARROW,       /* name[in -> out] */
    SL_KIND_ARGS,        /* name[d, ...] or name */
    SL_KIND_EXPERT,      /* expert[count] of elem */
    SL_KIND_LIST         /* name[count] of elem (name should be `list`) */
} sl_kind_form;

typedef struct sl_kind_ast sl_kind_ast;
struct sl_kind_ast {
    sl_kind_form form;
    sl_span span;
    const char *name;    /* ARROW, ARGS: the kind's name */
    sl_span name_span;
    sl_dim *args;        /* ARROW: in then out; ARGS: list; EXPERT: the count */
    int n_args;
    bool has_brackets;   /* ARGS: written with [...] */
    sl_kind_ast *elem;   /* EXPERT, LIST */
    sl_dim *blocks;      /* `blocks K`, or NULL */
    sl_dim *flags;       /* words after the kind (`causal`): SL_DIM_NAME list */
};

typedef enum sl_expr_kind {
    SL_EX_NUM,    /* number literal */
    SL_EX_BOOL,   /* true / false */
    SL_EX_NAME,   /* identifier */
    SL_EX_CALL,   /* callee(args) */
    SL_EX_INDEX,  /* base[index] */
    SL_EX_UNARY,  /* -x, not x */
    SL_EX_BINARY, /* a op b */
    SL_EX_ROUTE,  /* route bank(arg) top k by scores */
    SL_EX_SLICE,  /* a:b inside [...]; either side may be missing */
    SL_EX_LIST    /* [a, b, c], a vector literal */
} sl_expr_kind;

typedef struct sl_expr sl_expr;
struct sl_expr {
    sl_expr_kind kind;
    sl_span span;
    int depth;            /* nesting depth, for the limit */
    double num;           /* NUM */
    bool is_int;          /* NUM written without '.' or exponent */
    bool bval;            /* BOOL */
    const char *name;     /* NAME; ROUTE: the bank */
    sl_span name_span;    /* ROUTE: the bank's span */
    int op;               /* UNARY: '-' or SL_T_NOT; BINARY: '+', SL_T_LE, SL_T_AND, ... */
    sl_expr *lhs, *rhs;   /* BINARY; UNARY uses lhs; CALL/INDEX: lhs is the callee/base;
                             SLICE: start, end (NULL when left out) */
    sl_expr *args;        /* CALL: list; INDEX: the subscripts (exprs or SLICEs);
                             ROUTE: the argument; LIST: the elements */
    int n_args;
    sl_dim *k;            /* ROUTE: top k (NULL with `where`) */
    sl_expr *scores;      /* ROUTE: by ...; with `where`, the condition */
    bool of_tokens;       /* ROUTE: `top k tokens`: the k best rows of the argument */
    bool where;           /* ROUTE: `tokens where c`: the rows where c holds */
    bool scaled;          /* ROUTE: options after the scores: `scaled`, */
    bool switched;        /*   `switch`, */
    double capacity;      /*   `capacity F` (0: none), */
    bool attending;       /*   `attending all` (with `where`: the others stay visible), */
    bool attending_open;  /*   `attending` read, `all` not yet */
    sl_expr *next;        /* in an argument list */
};

typedef enum sl_stmt_kind { SL_ST_ASSIGN, SL_ST_GATE, SL_ST_EXIT, SL_ST_FOR } sl_stmt_kind;

typedef struct sl_stmt sl_stmt;
struct sl_stmt {
    sl_stmt_kind kind;
    sl_span span;
    int depth;            /* nesting depth, for the limit */
    const char *name;     /* ASSIGN: the target; FOR: the element's name */
    sl_span name_span;
    const char *index;    /* FOR: the position's name (`for i, l in ls`), or NULL */
    sl_span index_span;
    const char *list;     /* FOR: the list looped over */
    sl_span list_span;
    sl_expr *value;       /* ASSIGN: the value; EXIT: the value */
    sl_expr *cond;        /* GATE: the condition; EXIT: `when`, or NULL */
    sl_stmt *then_body;   /* GATE; FOR: the body */
    sl_stmt *else_body;   /* GATE: NULL if no else; an `else gate` is a one-stmt list */
    bool has_else;        /* GATE */
    sl_span else_span;    /* GATE: the `else` keyword */
    sl_stmt *next;
};

typedef enum sl_decl_kind {
    SL_DECL_INPUT, SL_DECL_OUTPUT, SL_DECL_PARAM, SL_DECL_THRESHOLD, SL_DECL_WEIGHTS,
    SL_DECL_TOKENS
} sl_decl_kind;

typedef struct sl_decl sl_decl;
struct sl_decl {
    sl_decl_kind kind;
    sl_span span;
    const char *name;     /* INPUT, OUTPUT, PARAM, THRESHOLD, TOKENS */
    sl_span name_span;
    sl_type_ast *type;    /* INPUT, OUTPUT */
    sl_kind_ast *pkind;   /* PARAM */
    sl_expr *value;       /* THRESHOLD: the default */
    const char *path;     /* WEIGHTS: the string's contents; PARAM: `from "..."`, or NULL */
    sl_span path_span;    /* PARAM: the `from` string */
    sl_dim *bounds;       /* TOKENS: `min a max b` as SL_DIM_NAME words, each with
                             its value in `lhs` */
    sl_decl *next;
};

typedef enum sl_unit_kind { SL_UNIT_MODEL, SL_UNIT_LAYER, SL_UNIT_IMPORT } sl_unit_kind;

/* A top-level item: `model name { ... }`, `layer name[dims] { ... }`, or
 * `import name`. */
typedef struct sl_unit sl_unit;
struct sl_unit {
    sl_unit_kind kind;
    sl_span span;
    const char *name;
    sl_span name_span;
    sl_dim *dim_params;   /* LAYER: its shape parameters (SL_DIM_NAME list) */
    int n_dim_params;
    sl_decl *decls;       /* in source order */
    sl_stmt *body;        /* in source order */
    sl_span close_span;   /* the closing '}' */
    sl_unit *next;
};

typedef struct sl_module {
    int file;             /* source index */
    sl_unit *units;       /* in source order */
} sl_module;

/* Print the AST as an indented tree (--emit=ast). */
void sl_ast_dump(sl_ctx *c, const sl_module *m, FILE *out);
const char *sl_op_name(int op); /* "+", "<=", "and", ... */

/* ---- parser.y -------------------------------------------------------- */

/* Parse one source file (already added); NULL only if nothing could be
 * built.  Errors are reported with recovery at statement ends. */
sl_module *sl_parse(sl_ctx *c, int file);

#endif
