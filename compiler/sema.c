/* sema.c - the checker: imports, names, layer instantiation, shapes, and
 * the checked program.
 *
 * A model is checked by walking its statements once, with layers inlined:
 * every expression becomes typed nodes appended to the current region, and
 * names map to the nodes that hold their values (an environment), so a
 * later assignment to the same name simply rebinds it.  Gates walk each arm
 * on a copy of the environment and merge them with phi nodes.  Layers are
 * checked when they are applied, with their shape parameters bound (errors
 * inside one say which instance), as C++ checks templates. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler.h"
#include "names.h"
#include "sluice/text.h"

enum { MAX_INSTANCES = 100000, MAX_NODES = 2000000 };

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
static sl_node poison_node;
#define POISON (&poison_node)

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

/* ---- diagnostics with instantiation notes ----------------------------- */

static void verr(sema *s, sl_severity sev, sl_span at, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (!sl_diag(s->c, sev, at, "%s", msg))
        return;
    for (size_t i = s->declaring.len; i-- > 0;)
        sl_note(s->c, s->declaring.items[i]->span, "in layer '%s' (%s), declared here",
                s->declaring.items[i]->path, s->declaring.items[i]->kind_str);
    for (frame *f = s->fr; f && f->inst; f = f->parent)
        sl_note(s->c, f->applied_at, "in layer '%s' (%s), applied here", f->inst->path,
                f->inst->kind_str);
}

__attribute__((format(printf, 3, 4)))
static void err(sema *s, sl_span at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verr(s, SL_ERROR, at, fmt, ap);
    va_end(ap);
}

__attribute__((format(printf, 3, 4)))
static void warn(sema *s, sl_span at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verr(s, SL_WARNING, at, fmt, ap);
    va_end(ap);
}

static const char *ty_str(sema *s, sl_ty t) { return sl_ty_str(s->c, t); }

/* ---- "did you mean" ---------------------------------------------------- */

typedef struct suggest {
    const char *want;
    const char *best;
    size_t dist;
} suggest;

static void suggest_try(suggest *g, const char *cand)
{
    size_t d = sl_edit_distance(g->want, cand);
    size_t limit = strlen(g->want) / 3 + 1;
    if (d > 0 && d <= limit && d < g->dist) {
        g->best = cand;
        g->dist = d;
    }
}

/* ---- builtins ---------------------------------------------------------- */

typedef enum builtin_class {
    B_ELEMWISE,   /* f32 tensor -> same shape */
    B_VECTOR,     /* f32 vector -> same shape */
    B_REDUCE,     /* f32 vector -> f32 scalar */
    B_ARGMAX      /* f32 vector -> i32 scalar */
} builtin_class;

typedef struct builtin {
    const char *name;
    sl_op op;
    builtin_class cls;
} builtin;

static const builtin builtins[] = {
    {"relu", SL_OP_RELU, B_ELEMWISE},       {"gelu", SL_OP_GELU, B_ELEMWISE},
    {"gelu_tanh", SL_OP_GELU_TANH, B_ELEMWISE}, {"sigmoid", SL_OP_SIGMOID, B_ELEMWISE},
    {"tanh", SL_OP_TANH, B_ELEMWISE},       {"exp", SL_OP_EXP, B_ELEMWISE},
    {"log", SL_OP_LOG, B_ELEMWISE},         {"softmax", SL_OP_SOFTMAX, B_VECTOR},
    {"log_softmax", SL_OP_LOG_SOFTMAX, B_VECTOR}, {"max", SL_OP_MAX, B_REDUCE},
    {"min", SL_OP_MIN, B_REDUCE},           {"sum", SL_OP_SUM, B_REDUCE},
    {"mean", SL_OP_MEAN, B_REDUCE},         {"argmax", SL_OP_ARGMAX, B_ARGMAX},
    {"entropy", SL_OP_ENTROPY, B_REDUCE},   {"margin", SL_OP_MARGIN, B_REDUCE},
};

static const builtin *find_builtin(const char *name)
{
    for (size_t i = 0; i < sizeof builtins / sizeof *builtins; i++)
        if (strcmp(builtins[i].name, name) == 0)
            return &builtins[i];
    return NULL;
}

/* Names a parameter, layer or variable may not take. */
static bool is_reserved(const char *name)
{
    return find_builtin(name) || strcmp(name, "dense") == 0 || strcmp(name, "layernorm") == 0;
}

/* ---- nodes and regions ------------------------------------------------- */

static sl_region *region_new(sema *s)
{
    return sl_arena_alloc(&s->c->arena, sizeof(sl_region));
}

static sl_item *item_add(sema *s, sl_item_kind kind, sl_span at)
{
    sl_item it = {0};
    it.kind = kind;
    it.span = at;
    SL_VEC_PUSH(&s->c->arena, &s->region->items, it);
    return &s->region->items.items[s->region->items.len - 1];
}

/* FLOPs of a node itself (docs/language.md, "Cost"): 2*in*out + out for a
 * dense layer, one per element of the largest operand for everything else,
 * nothing for leaves, indexing, conversions and merges. */
static double node_flops(const sl_node *n)
{
    switch (n->op) {
    case SL_OP_INPUT: case SL_OP_CONST: case SL_OP_THRESHOLD: case SL_OP_ROUTE_ARG:
    case SL_OP_TO_F32: case SL_OP_INDEX: case SL_OP_PHI:
        return 0;
    case SL_OP_DENSE:
        return 2.0 * (double)n->inst->n_in * (double)n->inst->n_out + (double)n->inst->n_out;
    case SL_OP_DENSE_BLOCKS: {
        double rows = (double)(n->inst->n_out / n->inst->blocks);
        return 2.0 * (double)n->inst->n_in * rows + rows;
    }
    case SL_OP_ROUTE: {
        /* top-k over N scores, softmax over the k chosen, 2*d per chosen
         * expert to combine; the experts' own work is in their regions. */
        double bank = (double)n->inst->n_children, k = (double)n->index;
        return bank + k + 2.0 * (double)sl_ty_numel(n->ty) * k;
    }
    default: {
        int64_t e = sl_ty_numel(n->ty);
        if (n->a && sl_ty_numel(n->a->ty) > e)
            e = sl_ty_numel(n->a->ty);
        if (n->b && sl_ty_numel(n->b->ty) > e)
            e = sl_ty_numel(n->b->ty);
        return (double)e;
    }
    }
}

static void use(sl_node *n)
{
    if (n)
        n->uses++;
}

/* A new node computed in the current region. */
static sl_node *node(sema *s, sl_op op, sl_ty ty, sl_span at, sl_node *a, sl_node *b)
{
    if (s->p->n_nodes >= MAX_NODES) {
        if (!s->node_limit_hit)
            err(s, at, "model too large (more than %d operations after inlining)", MAX_NODES);
        s->node_limit_hit = true;
        return NULL;
    }
    sl_node *n = sl_arena_alloc(&s->c->arena, sizeof *n);
    n->op = op;
    n->ty = ty;
    n->span = at;
    n->id = s->p->n_nodes++;
    n->a = a;
    n->b = b;
    use(a);
    use(b);
    return n;
}

static sl_node *emit(sema *s, sl_node *n)
{
    if (!n)
        return NULL;
    n->flops = node_flops(n);
    sl_item *it = item_add(s, SL_IT_NODE, n->span);
    it->node = n;
    return n;
}

static sl_node *constant(sema *s, sl_elem e, double v, sl_span at)
{
    sl_node *n = node(s, SL_OP_CONST, sl_ty_scalar(e), at, NULL, NULL);
    if (n)
        n->value = v;
    return emit(s, n);
}

/* ---- environments ------------------------------------------------------ */

static binding *env_find(env_t *env, const char *name)
{
    int i = sl_names_get(&env->index, name);
    return i < 0 ? NULL : &env->b.items[i];
}

static void env_bind(sema *s, env_t *env, const char *name, sl_node *n, sl_span gate)
{
    binding *b = env_find(env, name);
    if (b) {
        b->node = n;
        b->gate = gate;
        return;
    }
    binding nb = {name, n, gate};
    sl_names_put(&s->c->arena, &env->index, name, (int)env->b.len);
    SL_VEC_PUSH(&s->c->arena, &env->b, nb);
}

static env_t env_copy(sema *s, const env_t *env)
{
    env_t copy = {{0}, sl_names_copy(&s->c->arena, &env->index)};
    for (size_t i = 0; i < env->b.len; i++)
        SL_VEC_PUSH(&s->c->arena, &copy.b, env->b.items[i]);
    return copy;
}

/* ---- shape dimensions -------------------------------------------------- */

/* The shape parameters in scope while evaluating dimensions. */
typedef struct dim_scope {
    const sl_dim *names;    /* a layer's shape parameters (SL_DIM_NAME list) */
    const int64_t *values;
    const char *unit_kind;  /* "model" or "layer", for messages */
} dim_scope;

/* Evaluate a dimension to a value in 1..SL_MAX_DIM; -1 after an error. */
static int64_t eval_dim(sema *s, const sl_dim *d, const dim_scope *sc)
{
    switch (d->kind) {
    case SL_DIM_INT:
        if (d->value < 1 || d->value > SL_MAX_DIM) {
            err(s, d->span, "dimension %lld is out of range (1 to %lld)", (long long)d->value,
                (long long)SL_MAX_DIM);
            return -1;
        }
        return d->value;
    case SL_DIM_NAME: {
        int i = 0;
        for (const sl_dim *n = sc->names; n; n = n->next, i++)
            if (strcmp(n->name, d->name) == 0)
                return sc->values[i];
        if (sc->names)
            err(s, d->span, "unknown dimension '%s'; the layer's shape parameters are its [...]",
                d->name);
        else
            err(s, d->span, "unknown dimension '%s' (run-time dimensions are not supported yet)",
                d->name);
        return -1;
    }
    case SL_DIM_BINARY: {
        int64_t a = eval_dim(s, d->lhs, sc), b = eval_dim(s, d->rhs, sc), r = 0;
        if (a < 0 || b < 0)
            return -1;
        bool overflow = false;
        switch (d->op) {
        case '+': overflow = __builtin_add_overflow(a, b, &r); break;
        case '-': r = a - b; break;
        case '*': overflow = __builtin_mul_overflow(a, b, &r); break;
        case '/':
            if (a % b != 0) {
                err(s, d->span, "%lld / %lld does not divide exactly", (long long)a, (long long)b);
                return -1;
            }
            r = a / b;
            break;
        }
        if (overflow || r < 1 || r > SL_MAX_DIM) {
            err(s, d->span, "dimension is out of range (1 to %lld)", (long long)SL_MAX_DIM);
            return -1;
        }
        return r;
    }
    }
    return -1;
}

/* A declared tensor type; rank 0 or 1 today.  false after an error. */
static bool eval_type(sema *s, const sl_type_ast *t, const dim_scope *sc, sl_ty *out)
{
    *out = sl_ty_scalar(SL_F32);
    if (t->rank > 1) {
        err(s, t->span, "tensors of rank %d are not supported yet (only scalars and vectors)",
            t->rank);
        return false;
    }
    if (t->rank == 1) {
        int64_t n = eval_dim(s, t->dims, sc);
        if (n < 0)
            return false;
        *out = sl_ty_vector(SL_F32, n);
    }
    return true;
}

/* ---- parameter instances ----------------------------------------------- */

static const sl_unit *find_layer(sema *s, const char *name)
{
    int i = sl_names_get(&s->layer_index, name);
    return i < 0 ? NULL : s->layers.items[i];
}

static const char *kind_str(sema *s, const sl_kind_ast *k, const int64_t *vals, int n)
{
    char buf[256];
    size_t len = 0;
    if (k->form == SL_KIND_ARROW)
        len = (size_t)snprintf(buf, sizeof buf, "%s[%lld -> %lld]", k->name, (long long)vals[0],
                               (long long)vals[1]);
    else {
        len = (size_t)snprintf(buf, sizeof buf, "%s", k->name);
        for (int i = 0; i < n && len < sizeof buf; i++)
            len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%lld", i ? ", " : "[",
                                    (long long)vals[i]);
        if (n && len < sizeof buf - 1)
            strcat(buf, "]");
    }
    return sl_arena_strdup(&s->c->arena, buf);
}

static sl_inst *instantiate(sema *s, const sl_kind_ast *k, const char *name, const char *path,
                            sl_span decl_span, const dim_scope *sc);

static const sl_decl *unit_decl(const sl_unit *u, sl_decl_kind kind)
{
    for (const sl_decl *d = u->decls; d; d = d->next)
        if (d->kind == kind)
            return d;
    return NULL;
}

/* A layer written in Sluice, with its shape parameters bound. */
static sl_inst *instantiate_layer(sema *s, sl_inst *inst, const sl_unit *layer,
                                  const sl_kind_ast *k, const dim_scope *sc)
{
    if (k->n_args != layer->n_dim_params) {
        err(s, k->span, "layer '%s' takes %d shape parameter%s, but %d %s given", layer->name,
            layer->n_dim_params, layer->n_dim_params == 1 ? "" : "s", k->n_args,
            k->n_args == 1 ? "is" : "are");
        sl_note(s->c, layer->name_span, "'%s' is defined here", layer->name);
        return NULL;
    }
    for (size_t i = 0; i < s->instantiating.len; i++)
        if (s->instantiating.items[i] == layer) {
            err(s, k->span, "layer '%s' contains itself", layer->name);
            return NULL;
        }
    if (s->instantiating.len >= SL_MAX_LAYER_DEPTH) {
        err(s, k->span, "layers nested too deeply (the limit is %d)", SL_MAX_LAYER_DEPTH);
        return NULL;
    }
    int64_t *vals = sl_arena_array(&s->c->arena, (size_t)k->n_args + 1, sizeof *vals);
    int i = 0;
    for (const sl_dim *d = k->args; d; d = d->next, i++)
        if ((vals[i] = eval_dim(s, d, sc)) < 0)
            return NULL;
    inst->kind = SL_P_LAYER;
    inst->layer = layer;
    inst->dims = vals;
    inst->kind_str = kind_str(s, k, vals, k->n_args);

    dim_scope inner = {layer->dim_params, vals, "layer"};
    const sl_decl *in = unit_decl(layer, SL_DECL_INPUT), *out = unit_decl(layer, SL_DECL_OUTPUT);
    if (!in || !out)
        return NULL;
    SL_VEC_PUSH(&s->c->arena, &s->declaring, inst);
    bool types_ok = eval_type(s, in->type, &inner, &inst->in_ty) &&
                    eval_type(s, out->type, &inner, &inst->out_ty);
    s->declaring.len--;
    if (!types_ok)
        return NULL;

    int n = 0;
    for (const sl_decl *d = layer->decls; d; d = d->next)
        n += d->kind == SL_DECL_PARAM;
    inst->children = sl_arena_array(&s->c->arena, (size_t)n + 1, sizeof *inst->children);
    SL_VEC_PUSH(&s->c->arena, &s->instantiating, layer);
    SL_VEC_PUSH(&s->c->arena, &s->declaring, inst);
    bool ok = true;
    for (const sl_decl *d = layer->decls; d; d = d->next) {
        if (d->kind != SL_DECL_PARAM)
            continue;
        const char *child_path = sl_arena_printf(&s->c->arena, "%s.%s", inst->path, d->name);
        sl_inst *child = instantiate(s, d->pkind, d->name, child_path, d->span, &inner);
        if (!child)
            ok = false;
        inst->children[inst->n_children++] = child;
    }
    s->instantiating.len--;
    s->declaring.len--;
    return ok ? inst : NULL;
}

static void unknown_kind(sema *s, const sl_kind_ast *k)
{
    suggest g = {k->name, NULL, SIZE_MAX};
    suggest_try(&g, "dense");
    suggest_try(&g, "layernorm");
    for (size_t i = 0; i < s->layers.len; i++)
        suggest_try(&g, s->layers.items[i]->name);
    if (g.best)
        err(s, k->name_span, "unknown layer kind '%s'; did you mean '%s'?", k->name, g.best);
    else
        err(s, k->name_span, "unknown layer kind '%s'", k->name);
}

/* Build the instance a `param` declares. */
static sl_inst *instantiate(sema *s, const sl_kind_ast *k, const char *name, const char *path,
                            sl_span decl_span, const dim_scope *sc)
{
    if (++s->n_instances > MAX_INSTANCES) {
        if (s->n_instances == MAX_INSTANCES + 1)
            err(s, decl_span, "too many parameters (more than %d after expanding banks)",
                MAX_INSTANCES);
        return NULL;
    }
    sl_inst *inst = sl_arena_alloc(&s->c->arena, sizeof *inst);
    inst->name = name;
    inst->path = path;
    inst->span = decl_span;
    inst->w_tensor = inst->b_tensor = -1;

    if (k->blocks && !(k->form == SL_KIND_ARROW && strcmp(k->name, "dense") == 0)) {
        err(s, k->blocks->span, "only a dense layer can be split into blocks");
        return NULL;
    }
    if (k->form == SL_KIND_EXPERT) {
        int64_t n = eval_dim(s, k->args, sc);
        if (n < 0)
            return NULL;
        if (n > SL_MAX_EXPERTS) {
            err(s, k->args->span, "an expert bank holds at most %d experts", SL_MAX_EXPERTS);
            return NULL;
        }
        if (k->elem->form == SL_KIND_EXPERT) {
            err(s, k->elem->span, "an expert bank cannot hold expert banks");
            return NULL;
        }
        inst->kind = SL_P_BANK;
        inst->children = sl_arena_array(&s->c->arena, (size_t)n, sizeof *inst->children);
        for (int64_t i = 0; i < n; i++) {
            const char *p = sl_arena_printf(&s->c->arena, "%s.%lld", path, (long long)i);
            sl_inst *e = instantiate(s, k->elem, name, p, decl_span, sc);
            if (!e)
                return NULL;
            inst->children[inst->n_children++] = e;
        }
        inst->in_ty = inst->children[0]->in_ty;
        inst->out_ty = inst->children[0]->out_ty;
        inst->kind_str = sl_arena_printf(&s->c->arena, "expert[%lld] of %s", (long long)n,
                                         inst->children[0]->kind_str);
        return inst;
    }

    bool is_dense = strcmp(k->name, "dense") == 0;
    bool is_norm = strcmp(k->name, "layernorm") == 0;
    if (k->form == SL_KIND_ARROW) {
        if (!is_dense) {
            if (is_norm || find_layer(s, k->name))
                err(s, k->span, "only dense takes 'in -> out'; '%s' takes '%s[...]'", k->name,
                    k->name);
            else
                unknown_kind(s, k);
            return NULL;
        }
        int64_t v[2];
        v[0] = eval_dim(s, k->args, sc);
        v[1] = eval_dim(s, k->args->next, sc);
        if (v[0] < 0 || v[1] < 0)
            return NULL;
        inst->kind = SL_P_DENSE;
        inst->n_in = v[0];
        inst->n_out = v[1];
        inst->in_ty = sl_ty_vector(SL_F32, v[0]);
        inst->out_ty = sl_ty_vector(SL_F32, v[1]);
        inst->kind_str = kind_str(s, k, v, 2);
        if (k->blocks) {
            int64_t b = eval_dim(s, k->blocks, sc);
            if (b < 0)
                return NULL;
            if (v[1] % b != 0) {
                err(s, k->blocks->span, "%lld output units do not split into %lld equal blocks",
                    (long long)v[1], (long long)b);
                return NULL;
            }
            inst->blocks = b;
            inst->kind_str = sl_arena_printf(&s->c->arena, "%s blocks %lld", inst->kind_str,
                                             (long long)b);
        }
        return inst;
    }
    if (is_dense) {
        err(s, k->span, "dense is written 'dense[in -> out]'");
        return NULL;
    }
    if (is_norm) {
        if (k->n_args != 1) {
            err(s, k->span, "layernorm is written 'layernorm[d]'");
            return NULL;
        }
        int64_t d = eval_dim(s, k->args, sc);
        if (d < 0)
            return NULL;
        inst->kind = SL_P_LAYERNORM;
        inst->n_in = inst->n_out = d;
        inst->in_ty = inst->out_ty = sl_ty_vector(SL_F32, d);
        inst->kind_str = kind_str(s, k, &d, 1);
        return inst;
    }
    const sl_unit *layer = find_layer(s, k->name);
    if (!layer) {
        unknown_kind(s, k);
        return NULL;
    }
    return instantiate_layer(s, inst, layer, k, sc);
}

/* ---- expressions ------------------------------------------------------- */

static sl_node *expr(sema *s, env_t *env, const sl_expr *e);

static sl_inst *frame_param(frame *f, const char *name)
{
    int i = sl_names_get(&f->param_index, name);
    return i < 0 ? NULL : f->params[i];
}

/* The frame's param_decls[i] is declaration d: index it by name. */
static void frame_add_param(sema *s, frame *f, int i, const sl_decl *d)
{
    f->param_decls[i] = d;
    if (sl_names_get(&f->param_index, d->name) < 0)
        sl_names_put(&s->c->arena, &f->param_index, d->name, i);
}

static int find_threshold(sema *s, const char *name)
{
    if (s->fr->inst) /* thresholds belong to the model */
        return -1;
    for (size_t i = 0; i < s->p->thresholds.len; i++)
        if (strcmp(s->p->thresholds.items[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* Is `name` declared as a parameter in the frame (even if it failed)? */
static bool frame_has_param_decl(frame *f, const char *name)
{
    return sl_names_get(&f->param_index, name) >= 0;
}

static void undeclared(sema *s, env_t *env, const char *name, sl_span at)
{
    suggest g = {name, NULL, SIZE_MAX};
    for (size_t i = 0; i < env->b.len; i++)
        suggest_try(&g, env->b.items[i].name);
    for (int i = 0; i < s->fr->n_params; i++)
        if (s->fr->param_decls[i])
            suggest_try(&g, s->fr->param_decls[i]->name);
    if (!s->fr->inst)
        for (size_t i = 0; i < s->p->thresholds.len; i++)
            suggest_try(&g, s->p->thresholds.items[i].name);
    for (size_t i = 0; i < sizeof builtins / sizeof *builtins; i++)
        suggest_try(&g, builtins[i].name);
    if (g.best)
        err(s, at, "use of undeclared identifier '%s'; did you mean '%s'?", name, g.best);
    else
        err(s, at, "use of undeclared identifier '%s'", name);
}

/* f32 from i32 where an f32 is needed; bool is never converted. */
static sl_node *to_f32(sema *s, sl_node *n)
{
    if (n->ty.elem != SL_I32)
        return n;
    if (n->op == SL_OP_CONST)
        return constant(s, SL_F32, n->value, n->span);
    sl_ty t = n->ty;
    t.elem = SL_F32;
    return emit(s, node(s, SL_OP_TO_F32, t, n->span, n, NULL));
}

static bool is_numeric(sl_ty t) { return t.elem == SL_F32 || t.elem == SL_I32; }

/* The shape of a binary operation: equal shapes, or one side a scalar
 * (docs/language.md, "Broadcasting").  The caller sets the element type. */
static bool broadcast(sema *s, sl_span at, sl_ty a, sl_ty b, sl_ty *out)
{
    if (a.rank == 0 || b.rank == 0) {
        *out = a.rank == 0 ? b : a;
        return true;
    }
    bool same = a.rank == b.rank;
    for (int i = 0; same && i < a.rank; i++)
        same = a.dims[i] == b.dims[i];
    if (same) {
        *out = a;
        return true;
    }
    err(s, at, "shapes %s and %s do not match (they must be equal, or one a scalar)",
        ty_str(s, a), ty_str(s, b));
    return false;
}

static double fold(int op, double x, double y)
{
    switch (op) {
    case '+': return x + y;
    case '-': return x - y;
    case '*': return x * y;
    case '/': return x / y;
    case '<': return x < y;
    case '>': return x > y;
    case SL_T_LE: return x <= y;
    case SL_T_GE: return x >= y;
    case SL_T_EQ: return x == y;
    case SL_T_NE: return x != y;
    case SL_T_AND: return x != 0 && y != 0;
    case SL_T_OR: return x != 0 || y != 0;
    }
    return 0;
}

static sl_node *binary(sema *s, env_t *env, const sl_expr *e)
{
    sl_node *a = expr(s, env, e->lhs), *b = expr(s, env, e->rhs);
    if (!a || !b)
        return NULL;
    int op = e->op;
    sl_ty shape;
    if (!broadcast(s, e->span, a->ty, b->ty, &shape))
        return NULL;

    if (op == SL_T_AND || op == SL_T_OR) {
        if (a->ty.elem != SL_BOOL || b->ty.elem != SL_BOOL) {
            err(s, e->span, "'%s' needs bool operands, not %s and %s", sl_op_name(op),
                ty_str(s, a->ty), ty_str(s, b->ty));
            return NULL;
        }
        shape.elem = SL_BOOL;
    } else if ((op == SL_T_EQ || op == SL_T_NE) && a->ty.elem == SL_BOOL &&
               b->ty.elem == SL_BOOL) {
        shape.elem = SL_BOOL;
    } else {
        if (!is_numeric(a->ty) || !is_numeric(b->ty)) {
            err(s, e->span, "'%s' needs numbers, not %s and %s", sl_op_name(op),
                ty_str(s, a->ty), ty_str(s, b->ty));
            return NULL;
        }
        /* i32 op i32 stays i32, except '/', which divides as f32. */
        bool ints = a->ty.elem == SL_I32 && b->ty.elem == SL_I32 && op != '/';
        if (!ints) {
            a = to_f32(s, a);
            b = to_f32(s, b);
            if (!a || !b)
                return NULL;
        }
        bool cmp = op == '<' || op == '>' || op == SL_T_LE || op == SL_T_GE ||
                   op == SL_T_EQ || op == SL_T_NE;
        shape.elem = cmp ? SL_BOOL : ints ? SL_I32 : SL_F32;
    }

    if (a->op == SL_OP_CONST && b->op == SL_OP_CONST) {
        double v = fold(op, a->value, b->value);
        if (op == '/' && b->value == 0) {
            err(s, e->span, "division by zero");
            return NULL;
        }
        if (shape.elem == SL_I32 && (v > INT32_MAX || v < INT32_MIN)) {
            err(s, e->span, "integer overflow in a constant expression (i32 holds -2147483648 "
                "to 2147483647)");
            return NULL;
        }
        return constant(s, shape.elem, v, e->span);
    }

    sl_op hop;
    switch (op) {
    case '+': hop = SL_OP_ADD; break;
    case '-': hop = SL_OP_SUB; break;
    case '*': hop = SL_OP_MUL; break;
    case '/': hop = SL_OP_DIV; break;
    case '<': hop = SL_OP_LT; break;
    case '>': hop = SL_OP_GT; break;
    case SL_T_LE: hop = SL_OP_LE; break;
    case SL_T_GE: hop = SL_OP_GE; break;
    case SL_T_EQ: hop = SL_OP_EQ; break;
    case SL_T_NE: hop = SL_OP_NE; break;
    case SL_T_AND: hop = SL_OP_AND; break;
    default: hop = SL_OP_OR; break;
    }
    return emit(s, node(s, hop, shape, e->span, a, b));
}

static sl_node *unary(sema *s, env_t *env, const sl_expr *e)
{
    sl_node *a = expr(s, env, e->lhs);
    if (!a)
        return NULL;
    if (e->op == SL_T_NOT) {
        if (a->ty.elem != SL_BOOL) {
            err(s, e->span, "'not' needs a bool, not %s", ty_str(s, a->ty));
            return NULL;
        }
        if (a->op == SL_OP_CONST)
            return constant(s, SL_BOOL, a->value == 0, e->span);
        return emit(s, node(s, SL_OP_NOT, a->ty, e->span, a, NULL));
    }
    if (!is_numeric(a->ty)) {
        err(s, e->span, "'-' needs a number, not %s", ty_str(s, a->ty));
        return NULL;
    }
    if (a->op == SL_OP_CONST) {
        if (a->ty.elem == SL_I32 && -a->value > INT32_MAX) {
            err(s, e->span, "integer overflow in a constant expression (i32 holds -2147483648 "
                "to 2147483647)");
            return NULL;
        }
        return constant(s, a->ty.elem, -a->value, e->span);
    }
    return emit(s, node(s, SL_OP_NEG, a->ty, e->span, a, NULL));
}

static sl_node *call_builtin(sema *s, const builtin *bi, sl_node *x, const sl_expr *e)
{
    if (!is_numeric(x->ty)) {
        err(s, e->span, "%s() needs numbers, not %s", bi->name, ty_str(s, x->ty));
        return NULL;
    }
    if (bi->cls != B_ELEMWISE && x->ty.rank != 1) {
        err(s, e->span, "%s() needs a vector, not %s", bi->name, ty_str(s, x->ty));
        return NULL;
    }
    if (bi->op == SL_OP_MARGIN && x->ty.dims[0] < 2) {
        err(s, e->span, "margin() needs at least 2 elements, not %s", ty_str(s, x->ty));
        return NULL;
    }
    if (!(x = to_f32(s, x)))
        return NULL;
    sl_ty t = x->ty;
    if (bi->cls == B_REDUCE)
        t = sl_ty_scalar(SL_F32);
    else if (bi->cls == B_ARGMAX)
        t = sl_ty_scalar(SL_I32);
    return emit(s, node(s, bi->op, t, e->span, x, NULL));
}

/* The argument of a layer, converted from i32 where it takes f32; NULL
 * (reported) if its shape is wrong. */
static sl_node *coerce_arg(sema *s, const sl_inst *inst, sl_node *x, sl_span at)
{
    if (x->ty.elem == SL_I32 && inst->in_ty.elem == SL_F32 && !(x = to_f32(s, x)))
        return NULL;
    if (sl_ty_equal(x->ty, inst->in_ty))
        return x;
    err(s, at, "'%s' (%s) takes %s, but this is %s", inst->path, inst->kind_str,
        ty_str(s, inst->in_ty), ty_str(s, x->ty));
    return NULL;
}

static sl_node *apply(sema *s, sl_inst *inst, sl_node *x, sl_span at);

static void stmts(sema *s, env_t *env, const sl_stmt *st, bool *terminated);

/* A layer written in Sluice, inlined: its body runs in the current region
 * with a fresh environment holding its input. */
static sl_node *apply_layer(sema *s, sl_inst *inst, sl_node *x, sl_span at)
{
    const sl_unit *u = inst->layer;
    frame f = {.unit = u, .inst = inst, .applied_at = at, .parent = s->fr};
    f.params = inst->children;
    f.n_params = inst->n_children;
    f.param_decls = sl_arena_array(&s->c->arena, (size_t)f.n_params + 1, sizeof *f.param_decls);
    int i = 0;
    for (const sl_decl *d = u->decls; d; d = d->next)
        if (d->kind == SL_DECL_PARAM)
            frame_add_param(s, &f, i++, d);
    f.input = unit_decl(u, SL_DECL_INPUT);
    f.output = unit_decl(u, SL_DECL_OUTPUT);

    frame *saved = s->fr;
    s->fr = &f;
    env_t env = {{0}, {0}};
    env_bind(s, &env, f.input->name, x, SL_SPAN_NONE);
    bool terminated = false;
    stmts(s, &env, u->body, &terminated);
    binding *b = env_find(&env, f.output->name);
    sl_node *result = NULL;
    if (b && b->node == POISON) {
        /* reported where it failed */
    } else if (!b || !b->node) {
        err(s, u->close_span, "layer '%s' does not assign its output '%s' on every path",
            u->name, f.output->name);
        if (b && !sl_span_is_none(b->gate))
            sl_note(s->c, b->gate, "it is assigned in only one arm of this gate");
    } else {
        result = b->node;
    }
    s->fr = saved;
    return result;
}

static sl_node *apply(sema *s, sl_inst *inst, sl_node *x, sl_span at)
{
    if (inst->kind == SL_P_BANK) {
        err(s, at, "expert bank '%s' is applied with 'route %s(x) top K by scores'", inst->path,
            inst->name);
        return NULL;
    }
    if (!(x = coerce_arg(s, inst, x, at)))
        return NULL;
    inst->used = true;
    switch (inst->kind) {
    case SL_P_DENSE: {
        sl_node *n = node(s, SL_OP_DENSE, inst->out_ty, at, x, NULL);
        if (n)
            n->inst = inst;
        return emit(s, n);
    }
    case SL_P_LAYERNORM: {
        sl_node *n = node(s, SL_OP_LAYERNORM, inst->out_ty, at, x, NULL);
        if (n)
            n->inst = inst;
        return emit(s, n);
    }
    case SL_P_LAYER:
        return apply_layer(s, inst, x, at);
    case SL_P_BANK:
        break;
    }
    return NULL;
}

static int add_decision(sema *s, sl_decision_kind_c kind, const char *name, sl_span at,
                        int count, int choices)
{
    /* Names are keys in the ledger: a second use of the same bank or layer
     * gets "#2", "#3", ... */
    const char *unique = name;
    if (sl_names_get(&s->decision_index, name) >= 0) {
        int n = sl_names_get(&s->decision_next, name);
        for (n = n < 2 ? 2 : n;; n++) {
            unique = sl_arena_printf(&s->c->arena, "%s#%d", name, n);
            if (sl_names_get(&s->decision_index, unique) < 0)
                break;
        }
        sl_names_put(&s->c->arena, &s->decision_next, name, n + 1);
    }
    sl_names_put(&s->c->arena, &s->decision_index, unique, (int)s->p->decisions.len);
    sl_decision d = {kind, unique, at, s->p->n_slots, count, choices};
    s->p->n_slots += count;
    SL_VEC_PUSH(&s->c->arena, &s->p->decisions, d);
    return (int)s->p->decisions.len - 1;
}

/* fc[mask](x): only the active blocks of fc's output units are computed. */
static sl_node *apply_blocks(sema *s, env_t *env, const sl_expr *call)
{
    const sl_expr *idx = call->lhs;
    sl_inst *inst = frame_param(s->fr, idx->lhs->name);
    if (!inst)
        return NULL; /* the declaration failed and was reported */
    if (inst->kind != SL_P_DENSE || inst->blocks == 0) {
        err(s, idx->span, "'%s' is not split into blocks; declare it 'dense[in -> out] blocks K'",
            idx->lhs->name);
        return NULL;
    }
    sl_node *mask = expr(s, env, idx->args);
    sl_node *x = expr(s, env, call->args);
    if (!mask || !x)
        return NULL;
    sl_ty want = sl_ty_vector(SL_BOOL, inst->blocks);
    if (!sl_ty_equal(mask->ty, want)) {
        err(s, idx->args->span, "the block mask of '%s' must be %s, not %s", inst->path,
            ty_str(s, want), ty_str(s, mask->ty));
        return NULL;
    }
    if (!(x = coerce_arg(s, inst, x, call->span)))
        return NULL;
    inst->used = true;
    sl_node *n = node(s, SL_OP_DENSE_BLOCKS, inst->out_ty, call->span, x, mask);
    if (!n)
        return NULL;
    n->inst = inst;
    n->decision = add_decision(s, SL_DEC_BLOCKS, inst->path, call->span, (int)inst->blocks,
                               (int)inst->blocks);
    return emit(s, n);
}

static sl_node *call(sema *s, env_t *env, const sl_expr *e)
{
    const sl_expr *callee = e->lhs;
    if (callee->kind == SL_EX_INDEX && callee->lhs->kind == SL_EX_NAME &&
        frame_has_param_decl(s->fr, callee->lhs->name)) {
        if (e->n_args != 1) {
            err(s, e->span, "'%s' takes 1 argument, not %d", callee->lhs->name, e->n_args);
            return NULL;
        }
        return apply_blocks(s, env, e);
    }
    if (callee->kind != SL_EX_NAME) {
        err(s, callee->span, "only layers and functions can be called");
        return NULL;
    }
    const char *name = callee->name;
    const builtin *bi = find_builtin(name);
    bool is_param = frame_has_param_decl(s->fr, name);
    if (!bi && !is_param) {
        binding *b = env_find(env, name);
        if (b || find_threshold(s, name) >= 0 ||
            (s->fr->input && strcmp(s->fr->input->name, name) == 0))
            err(s, callee->span, "'%s' is a value, not a layer or a function", name);
        else
            undeclared(s, env, name, callee->span);
        return NULL;
    }
    if (e->n_args != 1) {
        err(s, e->span, "'%s' takes 1 argument, not %d", name, e->n_args);
        return NULL;
    }
    sl_node *x = expr(s, env, e->args);
    if (!x)
        return NULL;
    if (bi)
        return call_builtin(s, bi, x, e);
    sl_inst *inst = frame_param(s->fr, name);
    return inst ? apply(s, inst, x, e->span) : NULL;
}

static sl_node *index_expr(sema *s, env_t *env, const sl_expr *e)
{
    if (e->lhs->kind == SL_EX_NAME && frame_has_param_decl(s->fr, e->lhs->name)) {
        err(s, e->span, "a block mask selects blocks of a call: write '%s[mask](x)'",
            e->lhs->name);
        return NULL;
    }
    sl_node *base = expr(s, env, e->lhs);
    sl_node *idx = expr(s, env, e->args);
    if (!base || !idx)
        return NULL;
    if (base->ty.rank != 1) {
        err(s, e->lhs->span, "only a vector can be indexed, not %s", ty_str(s, base->ty));
        return NULL;
    }
    if (idx->op != SL_OP_CONST || idx->ty.elem != SL_I32) {
        err(s, e->args->span, "an index must be an integer constant");
        return NULL;
    }
    if (idx->value < 0 || idx->value >= (double)base->ty.dims[0]) {
        err(s, e->args->span, "index %.0f is out of range for %s", idx->value,
            ty_str(s, base->ty));
        return NULL;
    }
    sl_node *n = node(s, SL_OP_INDEX, sl_ty_scalar(base->ty.elem), e->span, base, NULL);
    if (n)
        n->index = (int64_t)idx->value;
    return emit(s, n);
}

/* route bank(x) top k by scores */
static sl_node *route(sema *s, env_t *env, const sl_expr *e)
{
    sl_inst *bank = frame_param(s->fr, e->name);
    if (!bank) {
        if (!frame_has_param_decl(s->fr, e->name))
            err(s, e->name_span, "'%s' is not an expert bank of this %s", e->name,
                s->fr->inst ? "layer" : "model");
        return NULL;
    }
    if (bank->kind != SL_P_BANK) {
        err(s, e->name_span, "'%s' is %s, not an expert bank ('expert[N] of ...')", e->name,
            bank->kind_str);
        return NULL;
    }
    dim_scope sc = {s->fr->unit->dim_params, s->fr->inst ? s->fr->inst->dims : NULL, ""};
    int64_t k = eval_dim(s, e->k, &sc);
    sl_node *x = expr(s, env, e->args);
    sl_node *scores = expr(s, env, e->scores);
    if (k < 0 || !x || !scores)
        return NULL;
    int64_t n = bank->n_children;
    if (k > n) {
        err(s, e->k->span, "top %lld of a bank of %lld experts", (long long)k, (long long)n);
        return NULL;
    }
    sl_ty want = sl_ty_vector(SL_F32, n);
    if (scores->ty.elem == SL_I32)
        scores = to_f32(s, scores);
    if (!scores || !sl_ty_equal(scores->ty, want)) {
        err(s, e->scores->span, "the scores of a route over '%s' must be %s, not %s",
            bank->path, ty_str(s, want), scores ? ty_str(s, scores->ty) : "?");
        return NULL;
    }
    if (!(x = coerce_arg(s, bank->children[0], x, e->args->span)))
        return NULL;
    bank->used = true;

    sl_node *r = node(s, SL_OP_ROUTE, bank->out_ty, e->span, x, scores);
    sl_node *arg = node(s, SL_OP_ROUTE_ARG, x->ty, e->args->span, NULL, NULL);
    if (!r || !arg)
        return NULL;
    r->inst = bank;
    r->index = k;
    r->route_arg = arg;
    r->experts = sl_arena_array(&s->c->arena, (size_t)n, sizeof *r->experts);
    r->expert_out = sl_arena_array(&s->c->arena, (size_t)n, sizeof *r->expert_out);
    sl_region *saved = s->region;
    for (int64_t i = 0; i < n; i++) {
        s->region = r->experts[i] = region_new(s);
        r->expert_out[i] = apply(s, bank->children[i], arg, e->span);
        use(r->expert_out[i]);
        if (!r->expert_out[i]) {
            s->region = saved;
            return NULL;
        }
    }
    s->region = saved;
    r->decision = add_decision(s, SL_DEC_ROUTE, bank->path, e->span, (int)k, (int)n);
    return emit(s, r);
}

static sl_node *expr(sema *s, env_t *env, const sl_expr *e)
{
    if (s->c->too_many_errors || e->depth > SL_MAX_NESTING)
        return NULL;
    switch (e->kind) {
    case SL_EX_NUM:
        if (e->is_int && e->num <= INT32_MAX)
            return constant(s, SL_I32, e->num, e->span);
        return constant(s, SL_F32, e->num, e->span);
    case SL_EX_BOOL:
        return constant(s, SL_BOOL, e->bval, e->span);
    case SL_EX_NAME: {
        binding *b = env_find(env, e->name);
        if (b && b->node == POISON)
            return NULL; /* its assignment failed, and said so */
        if (b && b->node)
            return b->node;
        if (b) {
            err(s, e->span, "'%s' has no value here: it is assigned in only one arm of a gate",
                e->name);
            if (!sl_span_is_none(b->gate))
                sl_note(s->c, b->gate, "the gate is here");
            return NULL;
        }
        int t = find_threshold(s, e->name);
        if (t >= 0) {
            s->p->thresholds.items[t].used = true;
            sl_node *n = node(s, SL_OP_THRESHOLD, sl_ty_scalar(SL_F32), e->span, NULL, NULL);
            if (n)
                n->index = t;
            return emit(s, n);
        }
        if (frame_has_param_decl(s->fr, e->name)) {
            err(s, e->span, "'%s' is a parameter; apply it to a value: %s(x)", e->name, e->name);
            return NULL;
        }
        if (find_builtin(e->name)) {
            err(s, e->span, "'%s' is a function; call it: %s(x)", e->name, e->name);
            return NULL;
        }
        if (s->fr->output && strcmp(s->fr->output->name, e->name) == 0) {
            err(s, e->span, "output '%s' is used before it is assigned", e->name);
            return NULL;
        }
        undeclared(s, env, e->name, e->span);
        return NULL;
    }
    case SL_EX_CALL:
        return call(s, env, e);
    case SL_EX_INDEX:
        return index_expr(s, env, e);
    case SL_EX_UNARY:
        return unary(s, env, e);
    case SL_EX_BINARY:
        return binary(s, env, e);
    case SL_EX_ROUTE:
        return route(s, env, e);
    }
    return NULL;
}

/* ---- statements -------------------------------------------------------- */

static bool is_bool_scalar(sl_node *n) { return n->ty.elem == SL_BOOL && n->ty.rank == 0; }

static void assign(sema *s, env_t *env, const sl_stmt *st)
{
    const char *name = st->name;
    if (frame_has_param_decl(s->fr, name)) {
        err(s, st->name_span, "cannot assign to parameter '%s'", name);
        return;
    }
    if (find_threshold(s, name) >= 0) {
        err(s, st->name_span, "cannot assign to threshold '%s'; set it at run time with "
            "--set %s=VALUE", name, name);
        return;
    }
    if (is_reserved(name)) {
        err(s, st->name_span, "cannot assign to '%s': it names a builtin", name);
        return;
    }
    sl_node *v = expr(s, env, st->value);
    const sl_decl *out = s->fr->output;
    if (v && out && strcmp(out->name, name) == 0) {
        sl_ty want = s->fr->inst ? s->fr->inst->out_ty : s->p->out_ty;
        if (v->ty.elem == SL_I32)
            v = to_f32(s, v);
        if (v && !sl_ty_equal(v->ty, want)) {
            err(s, st->value->span, "output '%s' is %s, but this value is %s", name,
                ty_str(s, want), ty_str(s, v->ty));
            v = NULL;
        }
    }
    env_bind(s, env, name, v ? v : POISON, SL_SPAN_NONE);
}

static void exit_stmt(sema *s, env_t *env, const sl_stmt *st, bool *terminated)
{
    if (s->fr->inst) {
        err(s, st->span, "'exit' is only allowed in a model, not in layer '%s'",
            s->fr->unit->name);
        return;
    }
    sl_node *cond = NULL;
    if (st->cond) {
        cond = expr(s, env, st->cond);
        if (!cond)
            return;
        if (!is_bool_scalar(cond)) {
            err(s, st->cond->span, "an exit condition must be a bool scalar, not %s",
                ty_str(s, cond->ty));
            return;
        }
    }
    /* The value is computed in a region of its own: only if the exit is taken. */
    sl_region *outer = s->region;
    sl_region *value_r = region_new(s);
    s->region = value_r;
    sl_node *v = expr(s, env, st->value);
    if (v && v->ty.elem == SL_I32)
        v = to_f32(s, v);
    s->region = outer;
    if (!v)
        return;
    if (!sl_ty_equal(v->ty, s->p->out_ty)) {
        err(s, st->value->span, "an exit returns the output '%s' (%s), but this value is %s",
            s->p->out_name, ty_str(s, s->p->out_ty), ty_str(s, v->ty));
        return;
    }
    sl_item *it = item_add(s, SL_IT_EXIT, st->span);
    it->cond = cond;
    it->value_r = value_r;
    it->value = v;
    it->exit_index = (int)s->p->exits.len;
    use(cond);
    use(v);
    sl_exit x = {sl_arena_printf(&s->c->arena, "exit%zu", s->p->exits.len), st->span};
    SL_VEC_PUSH(&s->c->arena, &s->p->exits, x);
    if (!cond)
        *terminated = true;
}

static void gate_stmt(sema *s, env_t *env, const sl_stmt *st, bool *terminated)
{
    sl_node *cond = expr(s, env, st->cond);
    if (!cond)
        return;
    if (!is_bool_scalar(cond)) {
        err(s, st->cond->span, "a gate condition must be a bool scalar, not %s",
            ty_str(s, cond->ty));
        return;
    }
    sl_span gate_span = {st->span.file, st->span.begin, st->span.begin + 4};
    int decision = add_decision(s, SL_DEC_GATE,
                                sl_arena_printf(&s->c->arena, "gate%d", s->n_gates++),
                                gate_span, 1, 2);
    /* The item is added first so nodes of the arms land in its regions. */
    sl_item *it = item_add(s, SL_IT_GATE, gate_span);
    size_t item_index = s->region->items.len - 1;
    sl_region *outer = s->region;
    sl_region *then_r = region_new(s), *else_r = region_new(s);
    it->cond = cond;
    it->decision = decision;
    it->then_r = then_r;
    it->else_r = else_r;
    use(cond);

    env_t then_env = env_copy(s, env), else_env = env_copy(s, env);
    bool then_term = false, else_term = false;
    s->region = then_r;
    stmts(s, &then_env, st->then_body, &then_term);
    s->region = else_r;
    stmts(s, &else_env, st->else_body, &else_term);
    s->region = outer;
    it = &outer->items.items[item_index]; /* the region may have grown */

    if (then_term && else_term) {
        *terminated = true;
        return;
    }
    if (then_term || else_term) {
        *env = then_term ? else_env : then_env;
        return;
    }
    /* Both arms fall through: names bound in both merge through a phi;
     * names bound in one arm only have no value after the gate. */
    env_t merged = {{0}, {0}};
    for (int side = 0; side < 2; side++) {
        env_t *from = side ? &else_env : &then_env, *other = side ? &then_env : &else_env;
        for (size_t i = 0; i < from->b.len; i++) {
            binding *b = &from->b.items[i];
            if (env_find(&merged, b->name))
                continue;
            binding *o = env_find(other, b->name);
            if (b->node == POISON || (o && o->node == POISON)) {
                env_bind(s, &merged, b->name, POISON, SL_SPAN_NONE);
                continue;
            }
            if (!o || !o->node || !b->node) {
                env_bind(s, &merged, b->name, NULL, gate_span);
                continue;
            }
            if (o->node == b->node) {
                env_bind(s, &merged, b->name, b->node, SL_SPAN_NONE);
                continue;
            }
            sl_node *t = side ? o->node : b->node, *e = side ? b->node : o->node;
            if (!sl_ty_equal(t->ty, e->ty)) {
                err(s, gate_span, "'%s' is %s after the then-arm but %s after the else-arm",
                    b->name, ty_str(s, t->ty), ty_str(s, e->ty));
                env_bind(s, &merged, b->name, POISON, SL_SPAN_NONE);
                continue;
            }
            sl_node *phi = node(s, SL_OP_PHI, t->ty, gate_span, t, e);
            if (!phi)
                return;
            SL_VEC_PUSH(&s->c->arena, &it->phis, phi);
            env_bind(s, &merged, b->name, phi, SL_SPAN_NONE);
        }
    }
    *env = merged;
}

static void stmts(sema *s, env_t *env, const sl_stmt *st, bool *terminated)
{
    bool warned = false;
    sl_region *live = s->region;
    for (; st && !s->c->too_many_errors; st = st->next) {
        if (st->depth > SL_MAX_NESTING)
            continue; /* reported by the parser */
        if (*terminated && !warned) {
            warn(s, st->span, "code after an unconditional exit never runs");
            warned = true;
            /* Still check it, into a region nothing runs. */
            s->region = region_new(s);
        }
        switch (st->kind) {
        case SL_ST_ASSIGN:
            assign(s, env, st);
            break;
        case SL_ST_EXIT: {
            bool t = false;
            exit_stmt(s, env, st, &t);
            *terminated |= t;
            break;
        }
        case SL_ST_GATE: {
            bool t = false;
            gate_stmt(s, env, st, &t);
            *terminated |= t;
            break;
        }
        }
    }
    s->region = live;
}

/* ---- declarations ------------------------------------------------------ */

/* Checks of a unit's declarations that need no shapes: one input and one
 * output, names unique and not reserved, what belongs to models only. */
static void check_decls(sema *s, const sl_unit *u)
{
    bool is_model = u->kind == SL_UNIT_MODEL;
    const char *what = is_model ? "model" : "layer";
    const sl_decl *input = NULL, *output = NULL, *weights = NULL;
    sl_names seen = {0};             /* name -> position in `named` */
    SL_VEC(const sl_decl *) named = {0};
    for (const sl_decl *d = u->decls; d; d = d->next) {
        const sl_decl *prev = NULL;  /* an earlier declaration of d's name */
        if (d->name) {
            int i = sl_names_get(&seen, d->name);
            if (i >= 0) {
                prev = named.items[i];
            } else {
                sl_names_put(&s->c->arena, &seen, d->name, (int)named.len);
                SL_VEC_PUSH(&s->c->arena, &named, d);
            }
        }
        if (d->kind == SL_DECL_WEIGHTS) {
            if (!is_model)
                err(s, d->span, "'weights' belongs in the model, not in layer '%s'", u->name);
            else if (weights) {
                err(s, d->span, "the model's weights are already given");
                sl_note(s->c, weights->span, "here");
            }
            weights = d;
            continue;
        }
        if (d->kind == SL_DECL_THRESHOLD && !is_model) {
            err(s, d->span, "thresholds belong to the model, not to layer '%s'", u->name);
            continue;
        }
        if (is_reserved(d->name)) {
            err(s, d->name_span, "'%s' names a builtin; choose another name", d->name);
            continue;
        }
        if (prev) {
            err(s, d->name_span, "redefinition of '%s'", d->name);
            sl_note(s->c, prev->name_span, "previous definition is here");
        }
        for (const sl_dim *p = u->dim_params; p; p = p->next)
            if (strcmp(p->name, d->name) == 0) {
                err(s, d->name_span, "'%s' is already a shape parameter of layer '%s'",
                    d->name, u->name);
                break;
            }
        if (d->kind == SL_DECL_INPUT) {
            if (input) {
                err(s, d->span, "a %s has one input; '%s' is already it", what, input->name);
                continue;
            }
            input = d;
        }
        if (d->kind == SL_DECL_OUTPUT) {
            if (output) {
                err(s, d->span, "a %s has one output; '%s' is already it", what, output->name);
                continue;
            }
            output = d;
        }
    }
    for (const sl_dim *p = u->dim_params; p; p = p->next)
        for (const sl_dim *q = u->dim_params; q != p; q = q->next)
            if (strcmp(p->name, q->name) == 0)
                err(s, p->span, "shape parameter '%s' is listed twice", p->name);
    if (!input)
        err(s, u->name_span, "%s '%s' has no input; declare one: 'input x: f32[N]'", what,
            u->name);
    if (!output)
        err(s, u->name_span, "%s '%s' has no output; declare one: 'output y: f32[N]'", what,
            u->name);
}

/* ---- imports ----------------------------------------------------------- */

static void load_module(sema *s, sl_module *m, bool is_main);

static void import(sema *s, const sl_unit *u)
{
    char path[4096];
    for (size_t i = 0; i < s->c->import_dirs.len; i++) {
        snprintf(path, sizeof path, "%s/%s.slu", s->c->import_dirs.items[i], u->name);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        fclose(f);
        for (size_t j = 0; j < s->loaded.len; j++)
            if (strcmp(s->c->sources.items[s->loaded.items[j]].path, path) == 0)
                return; /* imported already */
        int file = sl_source_add_file(s->c, path, u->span);
        if (file < 0)
            return;
        SL_VEC_PUSH(&s->c->arena, &s->loaded, file);
        sl_module *m = sl_parse(s->c, file);
        load_module(s, m, false);
        return;
    }
    err(s, u->name_span, "module '%s' not found (looked for %s.slu in %zu director%s; add one "
        "with -I)", u->name, u->name, s->c->import_dirs.len,
        s->c->import_dirs.len == 1 ? "y" : "ies");
}

/* Register a module's layers and follow its imports. */
static void load_module(sema *s, sl_module *m, bool is_main)
{
    for (const sl_unit *u = m->units; u; u = u->next) {
        switch (u->kind) {
        case SL_UNIT_IMPORT:
            import(s, u);
            break;
        case SL_UNIT_MODEL:
            if (!is_main)
                err(s, u->name_span, "model '%s' in an imported module; a module imported "
                    "with 'import' holds only layers", u->name);
            break;
        case SL_UNIT_LAYER: {
            const sl_unit *prev = find_layer(s, u->name);
            if (prev) {
                err(s, u->name_span, "redefinition of layer '%s'", u->name);
                sl_note(s->c, prev->name_span, "previous definition is here");
                break;
            }
            if (is_reserved(u->name) || strcmp(u->name, "expert") == 0) {
                err(s, u->name_span, "'%s' names a builtin; choose another name", u->name);
                break;
            }
            check_decls(s, u);
            sl_names_put(&s->c->arena, &s->layer_index, u->name, (int)s->layers.len);
            SL_VEC_PUSH(&s->c->arena, &s->layers, u);
            break;
        }
        }
    }
}

/* ---- the model ---------------------------------------------------------- */

static const char *resolve_weights(sema *s, const sl_unit *model, const char *given)
{
    const char *src = s->c->sources.items[model->span.file].path;
    const char *slash = strrchr(src, '/');
    char dir[4096];
    if (slash)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - src), src);
    else
        snprintf(dir, sizeof dir, ".");
    const char *rel;
    if (given) {
        if (given[0] == '/')
            return given;
        rel = given;
    } else {
        /* <model file without .slu>.safetensors */
        const char *base = slash ? slash + 1 : src;
        size_t n = strlen(base);
        if (n > 4 && strcmp(base + n - 4, ".slu") == 0)
            n -= 4;
        rel = sl_arena_printf(&s->c->arena, "%.*s.safetensors", (int)n, base);
    }
    char *abs = realpath(dir, NULL);
    const char *r = sl_arena_printf(&s->c->arena, "%s/%s", abs ? abs : dir, rel);
    free(abs);
    return r;
}

static void warn_unused(sema *s, sl_inst *inst)
{
    if (!inst)
        return;
    if (!inst->used) {
        sl_warn(s->c, inst->span, "parameter '%s' is never used", inst->name);
        return;
    }
    if (inst->kind == SL_P_LAYER)
        for (int i = 0; i < inst->n_children; i++)
            warn_unused(s, inst->children[i]);
}

/* The model's name starts its symbols (<name>_run1, <name>_model) and its
 * header's file name: the runtime's prefixes would collide with the
 * runtime's own symbols (a model named sluice_main would define the
 * pointer main() reads), and a very long name is no file name. */
enum { MAX_MODEL_NAME = 64 };

static void check_model_name(sema *s, const sl_unit *u)
{
    if (strncmp(u->name, "sl_", 3) == 0 || strncmp(u->name, "sluice_", 7) == 0)
        err(s, u->name_span, "model name '%s' is reserved: names beginning with 'sl_' or "
            "'sluice_' belong to the runtime", u->name);
    else if (strlen(u->name) > MAX_MODEL_NAME)
        err(s, u->name_span, "model name is %zu characters long; the limit is %d",
            strlen(u->name), MAX_MODEL_NAME);
}

static sl_program *check_model(sema *s, const sl_unit *u)
{
    sl_program *p = s->p;
    p->model = u;
    p->name = u->name;
    p->source_path = s->c->sources.items[u->span.file].path;
    check_model_name(s, u);
    check_decls(s, u);
    if (s->c->n_errors)
        return NULL;

    dim_scope sc = {NULL, NULL, "model"};
    const sl_decl *in = unit_decl(u, SL_DECL_INPUT), *out = unit_decl(u, SL_DECL_OUTPUT);
    p->in_name = in->name;
    p->out_name = out->name;
    bool ok = eval_type(s, in->type, &sc, &p->in_ty) && eval_type(s, out->type, &sc, &p->out_ty);
    if (ok && p->in_ty.rank != 1) {
        err(s, in->type->span, "the model's input must be a vector (f32[N])");
        ok = false;
    }
    if (ok && p->out_ty.rank != 1) {
        err(s, out->type->span, "the model's output must be a vector (f32[N])");
        ok = false;
    }

    const sl_decl *weights = unit_decl(u, SL_DECL_WEIGHTS);
    p->weights_path = resolve_weights(s, u, weights ? weights->path : NULL);

    frame f = {.unit = u, .input = in, .output = out};
    for (const sl_decl *d = u->decls; d; d = d->next) {
        if (d->kind == SL_DECL_PARAM)
            f.n_params++;
        if (d->kind != SL_DECL_THRESHOLD)
            continue;
        const sl_expr *v = d->value;
        bool neg = v->kind == SL_EX_UNARY && v->op == '-';
        const sl_expr *num = neg ? v->lhs : v;
        if (num->kind != SL_EX_NUM) {
            err(s, v->span, "a threshold's default must be a number");
            continue;
        }
        sl_threshold t = {d->name, (float)(neg ? -num->num : num->num), d->name_span, false};
        SL_VEC_PUSH(&s->c->arena, &p->thresholds, t);
    }
    f.params = sl_arena_array(&s->c->arena, (size_t)f.n_params + 1, sizeof *f.params);
    f.param_decls = sl_arena_array(&s->c->arena, (size_t)f.n_params + 1, sizeof *f.param_decls);
    int i = 0;
    for (const sl_decl *d = u->decls; d; d = d->next) {
        if (d->kind != SL_DECL_PARAM)
            continue;
        frame_add_param(s, &f, i, d);
        f.params[i++] = instantiate(s, d->pkind, d->name, d->name, d->span, &sc);
    }
    p->params = f.params;
    p->n_params = f.n_params;
    if (!ok || s->c->n_errors)
        return NULL;

    s->fr = &f;
    s->region = p->body = region_new(s);
    env_t env = {{0}, {0}};
    sl_node *x = emit(s, node(s, SL_OP_INPUT, p->in_ty, in->name_span, NULL, NULL));
    env_bind(s, &env, in->name, x, SL_SPAN_NONE);
    bool terminated = false;
    stmts(s, &env, u->body, &terminated);
    if (!terminated && !s->c->too_many_errors) {
        binding *b = env_find(&env, out->name);
        if (b && b->node == POISON) {
            /* reported where it failed */
        } else if (!b || !b->node) {
            err(s, u->close_span, "output '%s' is not assigned on every path through model '%s'",
                out->name, u->name);
            if (b && !sl_span_is_none(b->gate))
                sl_note(s->c, b->gate, "it is assigned in only one arm of this gate");
        } else {
            /* The fall-through result is the last item: an unconditional exit
             * past the last exit, numbered n_exits. */
            sl_item *it = item_add(s, SL_IT_EXIT, u->close_span);
            it->value = b->node;
            it->value_r = region_new(s);
            it->exit_index = -1; /* "end" */
            use(b->node);
        }
    }
    if (s->c->n_errors)
        return NULL;

    for (int j = 0; j < p->n_params; j++)
        warn_unused(s, p->params[j]);
    for (size_t j = 0; j < p->thresholds.len; j++)
        if (!p->thresholds.items[j].used)
            sl_warn(s->c, p->thresholds.items[j].span, "threshold '%s' is never used",
                    p->thresholds.items[j].name);
    if (x && x->uses == 0)
        sl_warn(s->c, in->name_span, "input '%s' is never used", in->name);
    sl_manifest_build(s->c, p);
    return p;
}

sl_program *sl_check(sl_ctx *c, sl_module *m, bool *has_model)
{
    sema s = {.c = c};
    s.p = sl_arena_alloc(&c->arena, sizeof *s.p);
    SL_VEC_PUSH(&c->arena, &s.loaded, m->file);
    load_module(&s, m, true);

    const sl_unit *model = NULL;
    for (const sl_unit *u = m->units; u; u = u->next) {
        if (u->kind != SL_UNIT_MODEL)
            continue;
        if (model) {
            err(&s, u->name_span, "a file holds one model; '%s' is already it", model->name);
            sl_note(c, model->name_span, "'%s' is defined here", model->name);
            continue;
        }
        model = u;
    }
    *has_model = model != NULL;
    if (!model || c->n_errors)
        return NULL;
    return check_model(&s, model);
}
