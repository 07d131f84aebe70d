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
 * only one arm of the gate at `gate`, so it has no value after it. */
typedef struct binding {
    const char *name;
    sl_node *node;
    sl_span gate;
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
} sema;

/* The shape parameters in scope while evaluating dimensions. */
typedef struct dim_scope {
    const sl_dim *names;    /* a layer's shape parameters (SL_DIM_NAME list) */
    const int64_t *values;
    const char *unit_kind;  /* "model" or "layer", for messages */
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

/* ---- imports.c: modules and declarations ------------------------------ */

/* Register a module's layers and follow its imports. */
void sema_load_module(sema *s, sl_module *m, bool is_main);
void sema_check_decls(sema *s, const sl_unit *u);

/* ---- instances.c: the instance tree ----------------------------------- */

int64_t sema_eval_dim(sema *s, const sl_dim *d, const dim_scope *sc);
bool sema_eval_type(sema *s, const sl_type_ast *t, const dim_scope *sc, sl_ty *out);
const sl_unit *sema_find_layer(sema *s, const char *name);
const sl_decl *sema_unit_decl(const sl_unit *u, sl_decl_kind kind); /* the first of a kind */
/* Build the instance a `param` declares. */
sl_inst *sema_instantiate(sema *s, const sl_kind_ast *k, const char *name, const char *path,
                          sl_span decl_span, const dim_scope *sc);

/* ---- check_expr.c: expressions ---------------------------------------- */

sl_node *sema_expr(sema *s, env_t *env, const sl_expr *e);
sl_node *sema_to_f32(sema *s, sl_node *n);
int sema_add_decision(sema *s, sl_decision_kind_c kind, const char *name, sl_span at,
                      int count, int choices);
bool sema_is_reserved(const char *name);
void sema_frame_add_param(sema *s, frame *f, int i, const sl_decl *d);
bool sema_frame_has_param_decl(frame *f, const char *name);
int sema_find_threshold(sema *s, const char *name);

/* ---- check_stmt.c: statements and environments ------------------------ */

void sema_stmts(sema *s, env_t *env, const sl_stmt *st, bool *terminated);
binding *sema_env_find(env_t *env, const char *name);
void sema_env_bind(sema *s, env_t *env, const char *name, sl_node *n, sl_span gate);

/* ---- hir_build.c: building the checked program ------------------------ */

sl_region *sema_region_new(sema *s);
sl_item *sema_item_add(sema *s, sl_item_kind kind, sl_span at);
/* A new node computed in the current region; NULL past the node limit. */
sl_node *sema_node(sema *s, sl_op op, sl_ty ty, sl_span at, sl_node *a, sl_node *b);
/* Append a node to the current region, with its FLOPs. */
sl_node *sema_emit(sema *s, sl_node *n);
sl_node *sema_constant(sema *s, sl_elem e, double v, sl_span at);
void sema_use(sl_node *n);

#endif
