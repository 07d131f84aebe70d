/* sema.h - the checker's shared state, and what its files call of each
 * other; one section per owning file.  Internal to compiler/.
 *
 * A model is checked by walking its statements once, with layers inlined:
 * every expression becomes typed nodes appended to the current region, and
 * names map to the nodes that hold their values (an environment), so a
 * later assignment to the same name simply rebinds it.  Gates walk each arm
 * on a copy of the environment and merge them with phi nodes.  Layers are
 * checked when they are applied, with their shape parameters bound (errors
 * inside one say which instance), as C++ checks templates. */
#ifndef SLUICE_SEMA_H
#define SLUICE_SEMA_H

#include "compiler.h"
#include "names.h"

/* A name's value in an environment; node == NULL means it was assigned in
 * only one arm of the gate at `gate`, so it has no value after it.  A loop
 * over a list binds its element's name to a layer (inst) instead. */
typedef struct binding {
    const char *name;
    sl_node *node;
    sl_span gate;
    sl_inst *inst;
} binding;

/* The names bound at a point of the model, with an index for lookups. */
typedef struct env_t {
    SL_VEC(binding) b;   /* in binding order */
    sl_names index;      /* name -> position in b */
} env_t;

/* The value of a name whose assignment failed (already reported): uses of it
 * stay silent instead of cascading into "undeclared" or "not assigned". */
extern sl_node sema_poison;
#define POISON (&sema_poison)

/* The unit being walked: the model, or one applied layer instance. */
typedef struct frame {
    const sl_unit *unit;
    sl_inst *inst;          /* NULL for the model */
    sl_inst **params;       /* the unit's params, in declaration order */
    const sl_decl **param_decls;
    int n_params;
    sl_names param_index;   /* name -> position in params (the first, if repeated) */
    const sl_decl *input, *output;
    sl_span applied_at;     /* where this layer instance was applied */
    int threshold0;         /* the unit's first threshold in the program */
    sl_ty out_ty;           /* the output's type (a layer's with its token count bound) */
    const sl_decl *tokens;  /* the unit's `tokens` declaration, or NULL */
    int32_t tok_a;          /* ... its value here: tok_a * T + tok_c (model T) */
    int64_t tok_c;
    struct frame *parent;
} frame;

typedef struct sema {
    sl_ctx *c;
    sl_program *p;
    SL_VEC(const sl_unit *) layers;  /* every layer definition, imports included */
    sl_names layer_index;            /* layer name -> position in layers */
    sl_names decision_index;         /* decision name -> its index: names are unique */
    sl_names decision_next;          /* a reused name -> the next "#n" to try */
    SL_VEC(int) loaded;              /* source files already imported */
    frame *fr;
    sl_region *region;               /* where new nodes go */
    int n_gates;
    int n_instances;
    SL_VEC(const sl_unit *) instantiating; /* layers being instantiated, for cycles */
    SL_VEC(const sl_inst *) declaring;     /* ... and their instances, for notes */
    bool node_limit_hit;
    int in_expert;                   /* experts of routes being checked: no exits there */
    int tok_epoch;                   /* tokens_above() calls so far: sequences made before the
                                        last are of other tokens */
    sl_span epoch_at;                /* ... the last one */
} sema;

/* The shape parameters in scope while evaluating dimensions, and the
 * unit's token count: bound to tok_a * T + tok_c of the model's T, or, in
 * a layer being declared, symbolic (kept in terms of its own name). */
typedef struct dim_scope {
    const sl_dim *names;    /* a layer's shape parameters (SL_DIM_NAME list) */
    const int64_t *values;
    const char *unit_kind;  /* "model" or "layer", for messages */
    const char *tok_name;   /* the unit's token count, or NULL */
    int32_t tok_a;
    int64_t tok_c;
    bool tok_symbolic;      /* a layer's S, not yet bound: no range checks */
} dim_scope;

/* ---- sema.c: the entry, the model, diagnostics ------------------------ */

/* Diagnostics with notes naming the layer instances being checked. */
__attribute__((format(printf, 3, 4)))
void sema_err(sema *s, sl_span at, const char *fmt, ...);
__attribute__((format(printf, 3, 4)))
void sema_warn(sema *s, sl_span at, const char *fmt, ...);
const char *sema_ty_str(sema *s, sl_ty t);

/* "did you mean": offer each candidate; `best` is the closest one within
 * a third of `want`'s length (plus one) edits. */
typedef struct suggest {
    const char *want;
    const char *best;
    size_t dist;
} suggest;
void sema_suggest_try(suggest *g, const char *cand);
/* A threshold declaration as the program's next threshold, named `name`
 * (a layer's: its instance's path first). */
void sema_add_threshold(sema *s, const sl_decl *d, const char *name, const sl_inst *owner);

/* ---- imports.c: modules and declarations ------------------------------ */

/* Register a module's layers and follow its imports. */
void sema_load_module(sema *s, sl_module *m, bool is_main);
void sema_check_decls(sema *s, const sl_unit *u);

/* ---- instances.c: the instance tree ----------------------------------- */

int64_t sema_eval_dim(sema *s, const sl_dim *d, const dim_scope *sc);
/* A dimension that may name the token count: *a * T + *c.  false after an
 * error.  The range (at least 1 token, at most SL_MAX_DIM) is checked
 * unless the scope is symbolic. */
bool sema_eval_extent(sema *s, const sl_dim *d, const dim_scope *sc, int32_t *a, int64_t *c);
bool sema_eval_type(sema *s, const sl_type_ast *t, const dim_scope *sc, sl_ty *out);
/* A type whose first dimension has tok_a * T + tok_c entries (tok_a 0:
 * static), the rest `inner`; its dims[0] the most, at T = tokens_max. */
/* Is t one score per row of a matrix or sequence of a * T + c rows: f32[T],
 * f32[T, 1], or a fixed matrix's f32[c]? */
bool sema_one_per_row(sl_ty t, int32_t a, int64_t c);
sl_ty sema_rows_ty(sema *s, sl_elem e, int rank, int32_t a, int64_t c, const int64_t *inner);
/* The first dimension of a matrix or a sequence: true and its extent. */
bool sema_rows_of(sl_ty t, int32_t *a, int64_t *c);
/* The fewest and the most entries tok_a * T + tok_c can have. */
int64_t sema_extent_min(sema *s, int32_t a, int64_t c);
int64_t sema_extent_max(sema *s, int32_t a, int64_t c);
/* A layer's type in its own token count S, with S bound to a * T + c. */
sl_ty sema_bind_tokens(sema *s, sl_ty t, int32_t a, int64_t c);
/* The scope of the frame being walked (shape parameters, token count). */
dim_scope sema_frame_scope(sema *s);
const sl_unit *sema_find_layer(sema *s, const char *name);
const sl_decl *sema_unit_decl(const sl_unit *u, sl_decl_kind kind); /* the first of a kind */
/* A parameter's state_dict prefix under its parent's (`from "..."`). */
const char *sema_param_path(sema *s, const char *parent, const sl_decl *d);
bool sema_is_builtin_kind(const char *name);
/* Build the instance a `param` declares. */
sl_inst *sema_instantiate(sema *s, const sl_kind_ast *k, const char *name, const char *path,
                          sl_span decl_span, const dim_scope *sc);

/* ---- check_expr.c: expressions ---------------------------------------- */

sl_node *sema_expr(sema *s, env_t *env, const sl_expr *e);
/* An expression read as a dimension (zeros(d), a slice's bounds): numbers,
 * shape parameters, the token count, + - * / and parentheses. */
bool sema_expr_extent(sema *s, const sl_expr *e, int32_t *a, int64_t *c);
/* An integer constant expression (an index); false (reported) if not. */
bool sema_const_int(sema *s, env_t *env, const sl_expr *e, int64_t *v);

sl_node *sema_to_f32(sema *s, sl_node *n);
int sema_add_decision(sema *s, sl_decision_kind_c kind, const char *name, sl_span at,
                      int count, int choices);
bool sema_is_reserved(const char *name);
void sema_frame_add_param(sema *s, frame *f, int i, const sl_decl *d);
bool sema_frame_has_param_decl(frame *f, const char *name);
int sema_find_threshold(sema *s, const char *name);

/* ---- check_attending.c: `tokens where c attending all` ----------------- */

/* Mark the values of the route's layer that run on every token; false
 * (reported) if the layer mixes tokens other than by attention. */
bool sema_attending(sema *s, sl_node *r);

/* ---- check_shape.c: tensor plumbing ------------------------------------ */

/* The builtins that shape values: pooling, concatenation, constant vectors,
 * topk_mask.  NULL if `name` is none of them. */
typedef struct shape_builtin shape_builtin;
const shape_builtin *sema_find_shape_builtin(const char *name);
const char *sema_shape_builtin_name(int i); /* i-th, NULL past the last (for suggestions) */
sl_node *sema_call_shape_builtin(sema *s, env_t *env, const shape_builtin *b, const sl_expr *e);
/* x[...] with rows, slices, columns; [a, b, c]. */
sl_node *sema_subscript(sema *s, env_t *env, const sl_expr *e);
sl_node *sema_list_literal(sema *s, env_t *env, const sl_expr *e);
/* The shape of a binary operation (docs/language.md, "Broadcasting");
 * the caller sets the element type.  false after an error. */
bool sema_broadcast(sema *s, sl_span at, sl_ty a, sl_ty b, sl_ty *out);

/* ---- check_stmt.c: statements and environments ------------------------ */

void sema_stmts(sema *s, env_t *env, const sl_stmt *st, bool *terminated);
binding *sema_env_find(env_t *env, const char *name);
void sema_env_bind(sema *s, env_t *env, const char *name, sl_node *n, sl_span gate);

/* ---- hir_build.c: building the checked program ------------------------ */

sl_region *sema_region_new(sema *s);
sl_item *sema_item_add(sema *s, sl_item_kind kind, sl_span at);
/* A new node computed in the current region; NULL past the node limit or
 * when an operand is a sequence of older tokens (reported). */
sl_node *sema_node(sema *s, sl_op op, sl_ty ty, sl_span at, sl_node *a, sl_node *b);
/* v may be read after the last tokens_above(); false (reported, naming
 * `name` if not NULL) if not. */
bool sema_same_tokens(sema *s, const sl_node *v, sl_span at, const char *name);
/* Append a node to the current region, with its FLOPs. */
sl_node *sema_emit(sema *s, sl_node *n);
sl_node *sema_constant(sema *s, sl_elem e, double v, sl_span at);
void sema_use(sl_node *n);

#endif
