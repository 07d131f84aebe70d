/* check_expr.c - expressions: names, constants (folded), operators with
 * broadcasting, builtin functions, indexing, applying a layer (inlined, in
 * a frame of its own), block-gated layers and routes over expert banks.
 * Each becomes typed nodes in the current region. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sema.h"

/* ---- builtins ---------------------------------------------------------- */

typedef enum builtin_class {
    B_ELEMWISE,   /* f32 tensor -> same shape */
    B_VECTOR,     /* along the last dimension: same shape */
    B_REDUCE,     /* over the last dimension: a vector to f32, a matrix to a value per row */
    B_ARGMAX      /* the same, to i32 */
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
bool sema_is_reserved(const char *name)
{
    return find_builtin(name) || sema_find_shape_builtin(name) || strcmp(name, "dense") == 0 ||
           strcmp(name, "layernorm") == 0;
}

/* ---- names in the current frame ---------------------------------------- */

static sl_inst *frame_param(frame *f, const char *name)
{
    int i = sl_names_get(&f->param_index, name);
    return i < 0 ? NULL : f->params[i];
}

/* The frame's param_decls[i] is declaration d: index it by name. */
void sema_frame_add_param(sema *s, frame *f, int i, const sl_decl *d)
{
    f->param_decls[i] = d;
    if (sl_names_get(&f->param_index, d->name) < 0)
        sl_names_put(&s->c->arena, &f->param_index, d->name, i);
}

/* A threshold the unit being walked declares: the model's, or the layer
 * instance's own (thresholds are per instance). */
int sema_find_threshold(sema *s, const char *name)
{
    int k = 0;
    for (const sl_decl *d = s->fr->unit->decls; d; d = d->next) {
        if (d->kind != SL_DECL_THRESHOLD)
            continue;
        if (strcmp(d->name, name) == 0)
            return s->fr->threshold0 + k;
        k++;
    }
    return -1;
}

/* Is `name` declared as a parameter in the frame (even if it failed)? */
bool sema_frame_has_param_decl(frame *f, const char *name)
{
    return sl_names_get(&f->param_index, name) >= 0;
}

static void undeclared(sema *s, env_t *env, const char *name, sl_span at)
{
    /* A threshold of an enclosing unit (the model's, most often): it is
     * not in scope here, and "did you mean" would point elsewhere. */
    for (const frame *f = s->fr->inst ? s->fr->parent : NULL; f; f = f->parent)
        for (const sl_decl *d = f->unit->decls; d; d = d->next) {
            if (d->kind != SL_DECL_THRESHOLD || strcmp(d->name, name) != 0)
                continue;
            int errors = s->c->n_errors;
            sema_err(s, at, "'%s' is a threshold of %s '%s', and a layer reads only its own "
                     "thresholds: declare 'threshold %s = ...' in layer '%s' (each instance has "
                     "its own, set at run time as '%s.%s')", name,
                     f->unit->kind == SL_UNIT_MODEL ? "model" : "layer", f->unit->name, name,
                     s->fr->unit->name, s->fr->inst->path, name);
            if (s->c->n_errors > errors)
                sl_note(s->c, d->name_span, "'%s' is declared here", name);
            return;
        }
    /* ... or of a layer instance (the model reading its layers'). */
    size_t n = strlen(name);
    for (size_t i = 0; i < s->p->thresholds.len; i++) {
        const sl_threshold *t = &s->p->thresholds.items[i];
        size_t tn = strlen(t->name);
        if (!t->owner || !t->owner->layer || tn <= n + 1 || t->name[tn - n - 1] != '.' ||
            strcmp(t->name + tn - n, name) != 0)
            continue;
        int errors = s->c->n_errors;
        sema_err(s, at, "'%s' is a threshold of layer '%s' (set at run time as '%s'), and %s "
                 "reads only its own thresholds: declare 'threshold %s = ...' in %s '%s'", name,
                 t->owner->layer->name, t->name, s->fr->inst ? "a layer" : "the model", name,
                 s->fr->inst ? "layer" : "model", s->fr->unit->name);
        if (s->c->n_errors > errors)
            sl_note(s->c, t->span, "'%s' is declared here", name);
        return;
    }
    suggest g = {name, NULL, SIZE_MAX};
    for (size_t i = 0; i < env->b.len; i++)
        sema_suggest_try(&g, env->b.items[i].name);
    for (int i = 0; i < s->fr->n_params; i++)
        if (s->fr->param_decls[i])
            sema_suggest_try(&g, s->fr->param_decls[i]->name);
    for (const sl_decl *d = s->fr->unit->decls; d; d = d->next)
        if (d->kind == SL_DECL_THRESHOLD)
            sema_suggest_try(&g, d->name);
    for (size_t i = 0; i < sizeof builtins / sizeof *builtins; i++)
        sema_suggest_try(&g, builtins[i].name);
    for (int i = 0; sema_shape_builtin_name(i); i++)
        sema_suggest_try(&g, sema_shape_builtin_name(i));
    if (g.best)
        sema_err(s, at, "use of undeclared identifier '%s'; did you mean '%s'?", name, g.best);
    else
        sema_err(s, at, "use of undeclared identifier '%s'", name);
}

/* ---- expressions ------------------------------------------------------- */

/* f32 from i32 where an f32 is needed; bool is never converted. */
sl_node *sema_to_f32(sema *s, sl_node *n)
{
    if (n->ty.elem != SL_I32)
        return n;
    if (n->op == SL_OP_CONST)
        return sema_constant(s, SL_F32, n->value, n->span);
    sl_ty t = n->ty;
    t.elem = SL_F32;
    return sema_emit(s, sema_node(s, SL_OP_TO_F32, t, n->span, n, NULL));
}

static bool is_numeric(sl_ty t) { return t.elem == SL_F32 || t.elem == SL_I32; }

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
    sl_node *a = sema_expr(s, env, e->lhs), *b = sema_expr(s, env, e->rhs);
    if (!a || !b)
        return NULL;
    int op = e->op;
    sl_ty shape;
    if (!sema_broadcast(s, e->span, a->ty, b->ty, &shape))
        return NULL;

    if (op == SL_T_AND || op == SL_T_OR) {
        if (a->ty.elem != SL_BOOL || b->ty.elem != SL_BOOL) {
            sema_err(s, e->span, "'%s' needs bool operands, not %s and %s", sl_op_name(op),
                     sema_ty_str(s, a->ty), sema_ty_str(s, b->ty));
            return NULL;
        }
        shape.elem = SL_BOOL;
    } else if ((op == SL_T_EQ || op == SL_T_NE) && a->ty.elem == SL_BOOL &&
               b->ty.elem == SL_BOOL) {
        shape.elem = SL_BOOL;
    } else {
        if (!is_numeric(a->ty) || !is_numeric(b->ty)) {
            sema_err(s, e->span, "'%s' needs numbers, not %s and %s", sl_op_name(op),
                     sema_ty_str(s, a->ty), sema_ty_str(s, b->ty));
            return NULL;
        }
        /* i32 op i32 stays i32, except '/', which divides as f32. */
        bool ints = a->ty.elem == SL_I32 && b->ty.elem == SL_I32 && op != '/';
        if (!ints) {
            a = sema_to_f32(s, a);
            b = sema_to_f32(s, b);
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
            sema_err(s, e->span, "division by zero");
            return NULL;
        }
        if (shape.elem == SL_I32 && (v > INT32_MAX || v < INT32_MIN)) {
            sema_err(s, e->span, "integer overflow in a constant expression (i32 holds -2147483648 "
                     "to 2147483647)");
            return NULL;
        }
        return sema_constant(s, shape.elem, v, e->span);
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
    return sema_emit(s, sema_node(s, hop, shape, e->span, a, b));
}

static sl_node *unary(sema *s, env_t *env, const sl_expr *e)
{
    sl_node *a = sema_expr(s, env, e->lhs);
    if (!a)
        return NULL;
    if (e->op == SL_T_NOT) {
        if (a->ty.elem != SL_BOOL) {
            sema_err(s, e->span, "'not' needs a bool, not %s", sema_ty_str(s, a->ty));
            return NULL;
        }
        if (a->op == SL_OP_CONST)
            return sema_constant(s, SL_BOOL, a->value == 0, e->span);
        return sema_emit(s, sema_node(s, SL_OP_NOT, a->ty, e->span, a, NULL));
    }
    if (!is_numeric(a->ty)) {
        sema_err(s, e->span, "'-' needs a number, not %s", sema_ty_str(s, a->ty));
        return NULL;
    }
    if (a->op == SL_OP_CONST) {
        if (a->ty.elem == SL_I32 && -a->value > INT32_MAX) {
            sema_err(s, e->span, "integer overflow in a constant expression (i32 holds -2147483648 "
                     "to 2147483647)");
            return NULL;
        }
        return sema_constant(s, a->ty.elem, -a->value, e->span);
    }
    return sema_emit(s, sema_node(s, SL_OP_NEG, a->ty, e->span, a, NULL));
}

static sl_node *call_builtin(sema *s, const builtin *bi, sl_node *x, const sl_expr *e)
{
    if (!is_numeric(x->ty)) {
        sema_err(s, e->span, "%s() needs numbers, not %s", bi->name, sema_ty_str(s, x->ty));
        return NULL;
    }
    if (bi->cls != B_ELEMWISE && x->ty.rank == 0) {
        sema_err(s, e->span, "%s() needs a vector, not %s", bi->name, sema_ty_str(s, x->ty));
        return NULL;
    }
    int32_t a;
    int64_t c;
    bool by_row = x->ty.rank == 2; /* a matrix or sequence: per row, over its last dimension */
    int64_t last = x->ty.rank ? x->ty.dims[x->ty.rank - 1] : 1;
    if (x->ty.rank == 1 && sema_rows_of(x->ty, &a, &c))
        last = sema_extent_min(s, a, c); /* a value per token: over the tokens */
    if (bi->op == SL_OP_MARGIN && last < 2) {
        sema_err(s, e->span, "margin() needs at least 2 elements, not %s", sema_ty_str(s, x->ty));
        return NULL;
    }
    if (!(x = sema_to_f32(s, x)))
        return NULL;
    sl_ty t = x->ty;
    if (bi->cls == B_REDUCE || bi->cls == B_ARGMAX) {
        sl_elem el = bi->cls == B_REDUCE ? SL_F32 : SL_I32;
        if (by_row) {
            sema_rows_of(x->ty, &a, &c);
            t = sema_rows_ty(s, el, 1, a, c, NULL);
        } else {
            t = sl_ty_scalar(el);
        }
    }
    return sema_emit(s, sema_node(s, bi->op, t, e->span, x, NULL));
}

/* What a parameter applied per row gives: x [rows, in] -> [rows, out], and
 * ids x [n] -> [n, out]. */
static sl_ty per_row(sema *s, sl_ty x, sl_ty out)
{
    int32_t a = 0;
    int64_t c = x.dims[0];
    bool ids = x.rank == 1 && !sl_ty_is_seq(x); /* a vector of ids: a row per id */
    if ((!ids && !sema_rows_of(x, &a, &c)) || out.rank != 1)
        return out;
    return sema_rows_ty(s, out.elem, 2, a, c, &out.dims[0]);
}

/* Does x feed inst row by row: a matrix or sequence whose rows are what
 * inst takes?  (A layer written in Sluice takes exactly its input type.) */
static bool rows_fit(sl_ty x, sl_ty in)
{
    if (in.rank == 1 && x.rank == 2)
        return x.dims[1] == in.dims[0] && x.elem == in.elem;
    if (in.rank == 0 && x.rank == 1 && x.elem == in.elem)
        return true; /* ids: a vector or sequence of them */
    return false;
}

/* The argument of a parameter, converted from i32 where it takes f32; NULL
 * (reported) if its shape is wrong.  *out gets the result's type. */
static sl_node *coerce_arg(sema *s, const sl_inst *inst, sl_node *x, sl_span at, sl_ty *out)
{
    sl_ty in = inst->in_ty;
    *out = inst->out_ty;
    if (inst->kind == SL_P_LAYER && inst->tokens_generic) {
        int32_t a;
        int64_t c;
        if (!sema_rows_of(x->ty, &a, &c)) {
            const char *S = sema_unit_decl(inst->layer, SL_DECL_TOKENS)->name;
            const char *el = in.elem == SL_I32 ? "i32" : "f32";
            if (in.rank == 2)
                sema_err(s, at, "'%s' (%s) takes a sequence %s[%s, %lld], but this is %s",
                         inst->path, inst->kind_str, el, S, (long long)in.dims[1],
                         sema_ty_str(s, x->ty));
            else
                sema_err(s, at, "'%s' (%s) takes a sequence %s[%s], but this is %s", inst->path,
                         inst->kind_str, el, S, sema_ty_str(s, x->ty));
            return NULL;
        }
        in = sema_bind_tokens(s, in, a, c);
        *out = sema_bind_tokens(s, inst->out_ty, a, c);
    }
    if (x->ty.elem == SL_I32 && in.elem == SL_F32 && !(x = sema_to_f32(s, x)))
        return NULL;
    if (sl_ty_equal(x->ty, in) && inst->kind != SL_P_ATTENTION)
        return x;
    if (inst->kind != SL_P_LAYER && rows_fit(x->ty, in)) {
        *out = per_row(s, x->ty, inst->out_ty);
        return x;
    }
    if (inst->kind == SL_P_ATTENTION)
        sema_err(s, at, "'%s' (%s) takes a sequence f32[%s, %lld] (or a matrix), but this is %s",
                 inst->path, inst->kind_str, s->c->tokens_name ? s->c->tokens_name : "T",
                 (long long)inst->n_in, sema_ty_str(s, x->ty));
    else
        sema_err(s, at, "'%s' (%s) takes %s, but this is %s", inst->path, inst->kind_str,
                 sema_ty_str(s, in), sema_ty_str(s, x->ty));
    if (inst->kind == SL_P_LAYER && rows_fit(x->ty, in))
        sl_note(s->c, inst->layer->name_span, "a layer written in Sluice takes exactly its "
                "input's type; to take sequences, '%s' would declare 'tokens S' and an input "
                "f32[S, %lld]", inst->layer->name, (long long)in.dims[0]);
    return NULL;
}

static sl_node *apply(sema *s, sl_inst *inst, sl_node *x, sl_span at);

/* A layer written in Sluice, inlined: its body runs in the current region
 * with a fresh environment holding its input. */
static sl_node *apply_layer(sema *s, sl_inst *inst, sl_node *x, sl_span at, sl_ty out_ty)
{
    const sl_unit *u = inst->layer;
    frame f = {.unit = u, .inst = inst, .applied_at = at, .parent = s->fr,
               .threshold0 = inst->threshold0, .out_ty = out_ty};
    f.params = inst->children;
    f.n_params = inst->n_children;
    f.param_decls = sl_arena_array(&s->c->arena, (size_t)f.n_params + 1, sizeof *f.param_decls);
    int i = 0;
    for (const sl_decl *d = u->decls; d; d = d->next)
        if (d->kind == SL_DECL_PARAM)
            sema_frame_add_param(s, &f, i++, d);
    f.input = sema_unit_decl(u, SL_DECL_INPUT);
    f.output = sema_unit_decl(u, SL_DECL_OUTPUT);
    if ((f.tokens = sema_unit_decl(u, SL_DECL_TOKENS)))
        sema_rows_of(x->ty, &f.tok_a, &f.tok_c); /* S is what it is applied to */

    frame *saved = s->fr;
    s->fr = &f;
    env_t env = {{0}, {0}};
    sema_env_bind(s, &env, f.input->name, x, SL_SPAN_NONE);
    bool terminated = false;
    sema_stmts(s, &env, u->body, &terminated);
    binding *b = sema_env_find(&env, f.output->name);
    sl_node *result = NULL;
    if (terminated) {
        sema_err(s, u->close_span, "layer '%s' always exits: it has no output to give",
                 u->name);
    } else if (b && b->node == POISON) {
        /* reported where it failed */
    } else if (!b || !b->node) {
        sema_err(s, u->close_span, "layer '%s' does not assign its output '%s' on every path",
                 u->name, f.output->name);
        if (b && !sl_span_is_none(b->gate))
            sl_note(s->c, b->gate, "it is assigned in only one arm of this gate");
    } else {
        result = b->node;
    }
    s->fr = saved;
    return result;
}

/* A node computed by a parameter: inst's kernel on x. */
static sl_node *param_node(sema *s, sl_op op, sl_inst *inst, sl_node *x, sl_ty out, sl_span at)
{
    sl_node *n = sema_node(s, op, out, at, x, NULL);
    if (n)
        n->inst = inst;
    return sema_emit(s, n);
}

/* The ids an embedding reads come from the model's input, which the
 * runtime checks before a run (or are constants, checked here). */
static bool ids_checked(sema *s, const sl_inst *inst, const sl_node *x, sl_span at)
{
    const sl_node *n = x;
    while (n->op == SL_OP_SLICE || n->op == SL_OP_TAKE || n->op == SL_OP_INDEX)
        n = n->a;
    if (n->op == SL_OP_INPUT) {
        if (s->p->id_limit == 0 || inst->n_in < s->p->id_limit)
            s->p->id_limit = inst->n_in;
        return true;
    }
    if (n->op == SL_OP_CONST && n == x) {
        if (x->value < 0 || x->value >= (double)inst->n_in) {
            sema_err(s, at, "id %.0f is out of range for '%s' (%s)", x->value, inst->path,
                     inst->kind_str);
            return false;
        }
        return true;
    }
    sema_err(s, at, "an embedding looks up the model's input ids (checked when the model "
             "runs) or constants; '%s' cannot look up computed ids", inst->path);
    return false;
}

static sl_node *apply(sema *s, sl_inst *inst, sl_node *x, sl_span at)
{
    if (inst->kind == SL_P_BANK) {
        if (inst->is_list)
            sema_err(s, at, "'%s' is a list of layers: apply one of them ('%s[i](x)'), or loop "
                     "over them ('for blk in %s { ... }')", inst->path, inst->name, inst->name);
        else
            sema_err(s, at, "expert bank '%s' is applied with 'route %s(x) top K by scores'",
                     inst->path, inst->name);
        return NULL;
    }
    if (inst->kind == SL_P_TENSOR) {
        sema_err(s, at, "'%s' (%s) is a learned value, not a layer: use it as a value",
                 inst->path, inst->kind_str);
        return NULL;
    }
    sl_ty out;
    if (!(x = coerce_arg(s, inst, x, at, &out)))
        return NULL;
    if (inst->kind == SL_P_LAYER) {
        inst->used = true;
        return apply_layer(s, inst, x, at, out);
    }
    if (inst->kind == SL_P_EMBEDDING && !ids_checked(s, inst, x, at))
        return NULL;
    inst->used = true;
    static const sl_op ops[] = {[SL_P_DENSE] = SL_OP_DENSE, [SL_P_LAYERNORM] = SL_OP_LAYERNORM,
                                [SL_P_BATCHNORM] = SL_OP_BATCHNORM,
                                [SL_P_ATTENTION] = SL_OP_ATTENTION,
                                [SL_P_EMBEDDING] = SL_OP_EMBED};
    return param_node(s, ops[inst->kind], inst, x, out, at);
}

int sema_add_decision(sema *s, sl_decision_kind_c kind, const char *name, sl_span at,
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
    sl_decision d = {kind, unique, at, s->p->n_slots, count, choices, 0, 0, 0, 0, false};
    s->p->n_slots += count;
    SL_VEC_PUSH(&s->c->arena, &s->p->decisions, d);
    return (int)s->p->decisions.len - 1;
}

/* fc[mask](x): only the active blocks of fc's output units are computed. */
static sl_node *apply_blocks(sema *s, env_t *env, const sl_expr *call, sl_inst *inst)
{
    const sl_expr *idx = call->lhs;
    if (inst->kind != SL_P_DENSE || inst->blocks == 0) {
        sema_err(s, idx->span,
                 "'%s' is not split into blocks; declare it 'dense[in -> out] blocks K'",
                 idx->lhs->name);
        return NULL;
    }
    sl_node *mask = sema_expr(s, env, idx->args);
    sl_node *x = sema_expr(s, env, call->args);
    if (!mask || !x)
        return NULL;
    sl_ty want = sl_ty_vector(SL_BOOL, inst->blocks);
    if (!sl_ty_equal(mask->ty, want)) {
        sema_err(s, idx->args->span, "the block mask of '%s' must be %s, not %s", inst->path,
                 sema_ty_str(s, want), sema_ty_str(s, mask->ty));
        return NULL;
    }
    if (x->ty.elem == SL_I32 && !(x = sema_to_f32(s, x)))
        return NULL;
    if (!sl_ty_equal(x->ty, inst->in_ty)) { /* blocks gate a vector, not rows */
        sema_err(s, call->span, "'%s' (%s) takes %s, but this is %s", inst->path, inst->kind_str,
                 sema_ty_str(s, inst->in_ty), sema_ty_str(s, x->ty));
        return NULL;
    }
    inst->used = true;
    sl_node *n = sema_node(s, SL_OP_DENSE_BLOCKS, inst->out_ty, call->span, x, mask);
    if (!n)
        return NULL;
    n->inst = inst;
    n->decision = sema_add_decision(s, SL_DEC_BLOCKS, inst->path, call->span, (int)inst->blocks,
                                    (int)inst->blocks);
    return sema_emit(s, n);
}

/* A name bound in one arm of a gate only (a value or a loop's layer). */
static void one_arm(sema *s, const binding *b, sl_span at)
{
    sema_err(s, at, "'%s' has no value here: it is assigned in only one arm of a gate", b->name);
    if (!sl_span_is_none(b->gate))
        sl_note(s->c, b->gate, "the gate is here");
}

/* Element k of a bank or a list, k a constant index (negative: from the end). */
static sl_inst *list_element(sema *s, env_t *env, sl_inst *bank, const sl_expr *index)
{
    int64_t k;
    if (!sema_const_int(s, env, index, &k))
        return NULL;
    int64_t n = bank->n_children;
    if (k < -n || k >= n) {
        sema_err(s, index->span, "index %lld is out of range for '%s' (%s)", (long long)k,
                 bank->path, bank->kind_str);
        return NULL;
    }
    bank->used = true;
    return bank->children[k < 0 ? k + n : k];
}

static sl_node *call(sema *s, env_t *env, const sl_expr *e)
{
    const sl_expr *callee = e->lhs;
    if (callee->kind == SL_EX_INDEX && callee->lhs->kind == SL_EX_NAME &&
        sema_frame_has_param_decl(s->fr, callee->lhs->name)) {
        /* fc[mask](x), or layers[i](x) */
        if (e->n_args != 1 || callee->n_args != 1) {
            if (e->n_args != 1)
                sema_err(s, e->span, "'%s' takes 1 argument, not %d", callee->lhs->name,
                         e->n_args);
            else
                sema_err(s, callee->span, "'%s' takes one index", callee->lhs->name);
            return NULL;
        }
        sl_inst *inst = frame_param(s->fr, callee->lhs->name);
        if (!inst)
            return NULL; /* the declaration failed and was reported */
        if (inst->kind != SL_P_BANK)
            return apply_blocks(s, env, e, inst);
        sl_inst *elem = list_element(s, env, inst, callee->args);
        sl_node *x = elem ? sema_expr(s, env, e->args) : NULL;
        return x ? apply(s, elem, x, e->span) : NULL;
    }
    if (callee->kind != SL_EX_NAME) {
        sema_err(s, callee->span, "only layers and functions can be called");
        return NULL;
    }
    const char *name = callee->name;
    binding *b = sema_env_find(env, name);
    if (b && b->inst) { /* a loop's layer */
        if (e->n_args != 1) {
            sema_err(s, e->span, "'%s' takes 1 argument, not %d", name, e->n_args);
            return NULL;
        }
        sl_node *x = sema_expr(s, env, e->args);
        return x ? apply(s, b->inst, x, e->span) : NULL;
    }
    const builtin *bi = find_builtin(name);
    const shape_builtin *sb = sema_find_shape_builtin(name);
    bool is_param = sema_frame_has_param_decl(s->fr, name);
    if (sb)
        return sema_call_shape_builtin(s, env, sb, e);
    if (!bi && !is_param) {
        if (b && b->node == POISON)
            return NULL; /* its assignment failed, and said so */
        if (b && !b->node)
            one_arm(s, b, callee->span);
        else if (b || sema_find_threshold(s, name) >= 0 ||
            (s->fr->input && strcmp(s->fr->input->name, name) == 0))
            sema_err(s, callee->span, "'%s' is a value, not a layer or a function", name);
        else
            undeclared(s, env, name, callee->span);
        return NULL;
    }
    if (e->n_args != 1) {
        sema_err(s, e->span, "'%s' takes 1 argument, not %d", name, e->n_args);
        return NULL;
    }
    sl_node *x = sema_expr(s, env, e->args);
    if (!x)
        return NULL;
    if (bi)
        return call_builtin(s, bi, x, e);
    sl_inst *inst = frame_param(s->fr, name);
    return inst ? apply(s, inst, x, e->span) : NULL;
}

static sl_node *index_expr(sema *s, env_t *env, const sl_expr *e)
{
    if (e->lhs->kind == SL_EX_NAME && sema_frame_has_param_decl(s->fr, e->lhs->name)) {
        sl_inst *inst = frame_param(s->fr, e->lhs->name);
        if (inst && inst->kind == SL_P_BANK) {
            sema_err(s, e->span, "'%s' is a list of layers: apply its element, '%s(x)'",
                     e->lhs->name, sl_span_text(s->c, e->span));
            return NULL;
        }
        if (inst && inst->kind != SL_P_TENSOR && inst->kind != SL_P_EMBEDDING) {
            sema_err(s, e->span, "a block mask selects blocks of a call: write '%s[mask](x)'",
                     e->lhs->name);
            return NULL;
        }
    }
    return sema_subscript(s, env, e);
}

static sl_node *route_experts(sema *s, env_t *env, const sl_expr *e, sl_inst *bank,
                              bool expert_choice);

/* A route's k, argument and scores; false after an error (reported). */
static bool route_operands(sema *s, env_t *env, const sl_expr *e, int64_t *k, sl_node **x,
                           sl_node **scores)
{
    dim_scope sc = sema_frame_scope(s);
    *k = sema_eval_dim(s, e->k, &sc);
    *x = sema_expr(s, env, e->args);
    *scores = sema_expr(s, env, e->scores);
    return *k >= 0 && *x && *scores;
}

/* The layer of a route of tokens, its region and its result: blk applied
 * to arg (the chosen rows), which must give `want`; NULL after an error. */
static sl_node *route_tokens_layer(sema *s, sl_node *r, sl_inst *blk, sl_node *arg, sl_ty want,
                                   const sl_expr *e, const char *how_many)
{
    r->inst = blk;
    r->route_arg = arg;
    r->experts = sl_arena_array(&s->c->arena, 1, sizeof *r->experts);
    r->expert_out = sl_arena_array(&s->c->arena, 1, sizeof *r->expert_out);
    sl_region *saved = s->region;
    s->in_expert++;
    s->region = r->experts[0] = sema_region_new(s);
    sl_node *out = apply(s, blk, arg, e->span);
    s->in_expert--;
    s->region = saved;
    if (!out)
        return NULL;
    if (!sl_ty_equal(out->ty, want)) {
        sema_err(s, e->span, "'%s' gives %s for the %s tokens it runs on; the tokens it skips "
                 "keep their value, so it must give %s", blk->path, sema_ty_str(s, out->ty),
                 how_many, sema_ty_str(s, want));
        return NULL;
    }
    sema_use(out);
    r->expert_out[0] = out;
    return out;
}

/* route blk(x) tokens where c: blk runs on the rows of x where c holds,
 * gathered in their order into a sequence of their own count (its T, per
 * input); the other rows keep their value.  Inside blk an input may have
 * as few as one token, so it is checked with that as the fewest. */
static sl_node *route_tokens_where(sema *s, env_t *env, const sl_expr *e, sl_inst *blk)
{
    if (e->scaled) {
        sema_err(s, e->span, "'scaled' scales by the scores of 'route ... top K tokens by s'; "
                 "'tokens where' has none");
        return NULL;
    }
    sl_node *x = sema_expr(s, env, e->args);
    sl_node *c = sema_expr(s, env, e->scores);
    if (!x || !c)
        return NULL;
    if (x->ty.rank != 2 || x->ty.tok_a != 1 || x->ty.tok_c != 0) {
        sema_err(s, e->args->span, "'route ... tokens where' chooses tokens of a sequence "
                 "f32[%s, d], not %s", s->p->tokens_name ? s->p->tokens_name : "T",
                 sema_ty_str(s, x->ty));
        return NULL;
    }
    if (x->ty.elem == SL_I32 && !(x = sema_to_f32(s, x)))
        return NULL;
    int32_t a;
    int64_t k;
    bool per_row = sema_rows_of(c->ty, &a, &k) && a == 1 && k == 0 &&
                   (c->ty.rank == 1 || c->ty.dims[1] == 1);
    if (c->ty.elem != SL_BOOL || !per_row) {
        sema_err(s, e->scores->span, "the condition of 'route ... tokens where' must be one "
                 "bool per token of %s (%s), not %s%s", sema_ty_str(s, x->ty),
                 sema_ty_str(s, sema_rows_ty(s, SL_BOOL, 1, 1, 0, NULL)),
                 sema_ty_str(s, c->ty),
                 c->ty.elem != SL_BOOL ? "; a comparison goes in parentheses: 'where (s > 0.5)'"
                                       : "");
        return NULL;
    }
    sl_node *r = sema_node(s, SL_OP_ROUTE_TOKENS, x->ty, e->span, x, c);
    sl_node *arg = sema_node(s, SL_OP_ROUTE_ARG, x->ty, e->args->span, NULL, NULL);
    if (!r || !arg)
        return NULL;
    r->where = true;
    int64_t fewest = s->p->tokens_min;
    s->p->tokens_min = 1;
    sl_node *out = route_tokens_layer(s, r, blk, arg, x->ty, e, "chosen");
    s->p->tokens_min = fewest;
    if (!out)
        return NULL;
    r->attending = e->attending;
    if (r->attending && !sema_attending(s, r))
        return NULL;
    r->decision = sema_add_decision(s, SL_DEC_TOKENS, blk->path, e->span, (int)x->ty.dims[0], 0);
    s->p->decisions.items[r->decision].where = true;
    return sema_emit(s, r);
}

/* route blk(x) top k tokens by scores [scaled]: blk runs on the k rows of
 * x with the best scores, gathered in their order as a [k, d] matrix; the
 * other rows keep their value (mixture of depths). */
static sl_node *route_tokens(sema *s, env_t *env, const sl_expr *e)
{
    binding *b = sema_env_find(env, e->name);
    sl_inst *blk = b && b->inst ? b->inst : frame_param(s->fr, e->name);
    if (!blk) {
        if (!sema_frame_has_param_decl(s->fr, e->name))
            sema_err(s, e->name_span, "'%s' is not a layer of this %s", e->name,
                     s->fr->inst ? "layer" : "model");
        return NULL;
    }
    if (blk->kind == SL_P_BANK && !blk->is_list && e->where) {
        sema_err(s, e->name_span, "'%s' is an expert bank; 'route ... tokens where c' runs one "
                 "layer on the tokens where c holds", e->name);
        return NULL;
    }
    if (blk->kind == SL_P_BANK && !blk->is_list)
        return route_experts(s, env, e, blk, true);
    if (blk->kind == SL_P_BANK) {
        sema_err(s, e->name_span, "'%s' is a list of layers; route one of them ('route b(x) %s' "
                 "in 'for b in %s { ... }'), or make it an expert bank", e->name,
                 e->where ? "tokens where c" : "top K tokens by s", e->name);
        return NULL;
    }
    if (e->switched || e->capacity > 0) {
        sema_err(s, e->span, "'%s' applies to a route over experts, not to a layer on its best "
                 "tokens", e->switched ? "switch" : "capacity");
        return NULL;
    }
    if (e->where)
        return route_tokens_where(s, env, e, blk);
    int64_t k;
    sl_node *x, *scores;
    if (!route_operands(s, env, e, &k, &x, &scores))
        return NULL;
    int32_t a;
    int64_t c;
    if (x->ty.rank != 2 || !sema_rows_of(x->ty, &a, &c)) {
        sema_err(s, e->args->span, "'route ... top K tokens' chooses rows of a sequence or a "
                 "matrix, not %s", sema_ty_str(s, x->ty));
        return NULL;
    }
    if (x->ty.elem == SL_I32 && !(x = sema_to_f32(s, x)))
        return NULL;
    /* k must be there in every input: at most the fewest rows */
    int64_t fewest = sema_extent_min(s, a, c);
    if (k < 1 || k > fewest) {
        sema_err(s, e->k->span, "top %lld tokens of %s, which may have only %lld", (long long)k,
                 sema_ty_str(s, x->ty), (long long)fewest);
        return NULL;
    }
    /* one score per row: f32[T] or f32[T, 1] */
    if (scores->ty.elem == SL_I32)
        scores = sema_to_f32(s, scores);
    if (!scores || !sema_one_per_row(scores->ty, a, c)) {
        sema_err(s, e->scores->span, "the scores of a route of tokens must be one per row of "
                 "%s (%s), not %s", sema_ty_str(s, x->ty),
                 sema_ty_str(s, sema_rows_ty(s, SL_F32, 1, a, c, NULL)),
                 scores ? sema_ty_str(s, scores->ty) : "?");
        return NULL;
    }
    int64_t d = x->ty.dims[1];
    sl_ty chosen = sema_rows_ty(s, SL_F32, 2, 0, k, &d);
    sl_node *r = sema_node(s, SL_OP_ROUTE_TOKENS, x->ty, e->span, x, scores);
    sl_node *arg = sema_node(s, SL_OP_ROUTE_ARG, chosen, e->args->span, NULL, NULL);
    if (!r || !arg)
        return NULL;
    r->index = k;
    r->scaled = e->scaled;
    char how_many[32];
    snprintf(how_many, sizeof how_many, "%lld", (long long)k);
    if (!route_tokens_layer(s, r, blk, arg, chosen, e, how_many))
        return NULL;
    r->decision = sema_add_decision(s, SL_DEC_TOKENS, blk->path, e->span, (int)k, 0);
    return sema_emit(s, r);
}

/* route bank(x) top k by scores */
static sl_node *route(sema *s, env_t *env, const sl_expr *e)
{
    if (e->attending && !e->where) {
        sema_err(s, e->span, "'attending all' keeps every token in view of a layer run on some "
                 "of them: 'route blk(x) tokens where c attending all'");
        return NULL;
    }
    if (e->of_tokens)
        return route_tokens(s, env, e);
    sl_inst *bank = frame_param(s->fr, e->name);
    if (!bank) {
        if (!sema_frame_has_param_decl(s->fr, e->name))
            sema_err(s, e->name_span, "'%s' is not an expert bank of this %s", e->name,
                     s->fr->inst ? "layer" : "model");
        return NULL;
    }
    if (bank->kind != SL_P_BANK) {
        sema_err(s, e->name_span, "'%s' is %s, not an expert bank ('expert[N] of ...')", e->name,
                 bank->kind_str);
        return NULL;
    }
    return route_experts(s, env, e, bank, false);
}

/* route bank(x) top k by scores: token choice (every input, or every token,
 * its k best experts); `top k tokens`: expert choice (every expert its k
 * best tokens of each input). */
static sl_node *route_experts(sema *s, env_t *env, const sl_expr *e, sl_inst *bank,
                              bool expert_choice)
{
    if (e->scaled) {
        sema_err(s, e->span, "'scaled' applies to a layer run on its best tokens ('route blk(x) "
                 "top K tokens by s scaled'), not to a route over experts");
        return NULL;
    }
    int64_t k;
    sl_node *x, *scores;
    if (!route_operands(s, env, e, &k, &x, &scores))
        return NULL;
    int64_t n = bank->n_children;
    if (k > n && !expert_choice) {
        sema_err(s, e->k->span, "top %lld of a bank of %lld experts", (long long)k, (long long)n);
        return NULL;
    }
    /* Scores per row of a matrix or sequence whose rows are what one
     * expert takes: every row (token) routed on its own. */
    const sl_inst *first = bank->children[0];
    int32_t ta;
    int64_t tc;
    bool per_token = scores->ty.rank == 2 && first->in_ty.rank == 1 &&
                     !first->tokens_generic && sema_rows_of(x->ty, &ta, &tc) &&
                     x->ty.rank == 2 && x->ty.dims[1] == first->in_ty.dims[0];
    int64_t width = n;
    sl_ty want = per_token ? sema_rows_ty(s, SL_F32, 2, ta, tc, &width) : sl_ty_vector(SL_F32, n);
    if (scores->ty.elem == SL_I32)
        scores = sema_to_f32(s, scores);
    if (expert_choice && !per_token) {
        sema_err(s, e->span, "with 'top K tokens' each expert of '%s' chooses tokens: it routes "
                 "the rows of a sequence or matrix (their experts taking one row) by a row of "
                 "scores per token, not %s by %s", bank->path, sema_ty_str(s, x->ty),
                 scores ? sema_ty_str(s, scores->ty) : "?");
        return NULL;
    }
    if (!scores || !sl_ty_equal(scores->ty, want)) {
        sema_err(s, e->scores->span, "the scores of a route over '%s' must be %s, not %s%s",
                 bank->path, sema_ty_str(s, want), scores ? sema_ty_str(s, scores->ty) : "?",
                 per_token ? " (a row of scores per token)" : "");
        return NULL;
    }
    if (expert_choice && (e->switched || e->capacity > 0)) {
        sema_err(s, e->span, "'%s' applies to token choice ('route %s(x) top K by s'); with "
                 "'top K tokens' each expert takes exactly K tokens, weighted by their scores",
                 e->switched ? "switch" : "capacity", e->name);
        return NULL;
    }
    if (e->capacity > 0 && !per_token) {
        sema_err(s, e->span, "a capacity limits the tokens each expert takes in an input: it "
                 "applies to a route over tokens (a row of scores per token)");
        return NULL;
    }
    if (expert_choice && k > sema_extent_min(s, ta, tc)) {
        sema_err(s, e->k->span, "top %lld tokens of %s, which may have only %lld", (long long)k,
                 sema_ty_str(s, x->ty), (long long)sema_extent_min(s, ta, tc));
        return NULL;
    }
    sl_ty out, arg_ty = x->ty;
    const sl_node *x_in = x;
    if (per_token) {
        if (x->ty.elem == SL_I32 && first->in_ty.elem == SL_F32 && !(x = sema_to_f32(s, x)))
            return NULL;
        if (first->out_ty.rank != 1) {
            sema_err(s, e->span, "a route over tokens combines vectors; the experts of '%s' give "
                     "%s", bank->path, sema_ty_str(s, first->out_ty));
            return NULL;
        }
        arg_ty = first->in_ty;
        out = sema_rows_ty(s, first->out_ty.elem, 2, ta, tc, &first->out_ty.dims[0]);
    } else if (!(x = coerce_arg(s, bank->children[0], x, e->args->span, &out))) {
        if (first->in_ty.rank == 1 && sema_rows_of(x_in->ty, &ta, &tc) && x_in->ty.rank == 2 &&
            x_in->ty.dims[1] == first->in_ty.dims[0])
            sl_note(s->c, e->scores->span, "to route each token on its own, give a row of "
                    "scores per token (%s)",
                    sema_ty_str(s, sema_rows_ty(s, SL_F32, 2, ta, tc, &width)));
        return NULL;
    } else {
        arg_ty = x->ty;
    }
    bank->used = true;

    sl_node *r = sema_node(s, SL_OP_ROUTE, out, e->span, x, scores);
    sl_node *arg = sema_node(s, SL_OP_ROUTE_ARG, arg_ty, e->args->span, NULL, NULL);
    if (!r || !arg)
        return NULL;
    r->inst = bank;
    r->index = k;
    r->per_token = per_token;
    r->expert_choice = expert_choice;
    r->switched = e->switched;
    r->capacity = e->capacity;
    r->route_arg = arg;
    r->experts = sl_arena_array(&s->c->arena, (size_t)n, sizeof *r->experts);
    r->expert_out = sl_arena_array(&s->c->arena, (size_t)n, sizeof *r->expert_out);
    sl_region *saved = s->region;
    size_t decisions = s->p->decisions.len;
    s->in_expert++;
    for (int64_t i = 0; i < n; i++) {
        s->region = r->experts[i] = sema_region_new(s);
        r->expert_out[i] = apply(s, bank->children[i], arg, e->span);
        sema_use(r->expert_out[i]);
        if (!r->expert_out[i]) {
            s->region = saved;
            s->in_expert--;
            return NULL;
        }
    }
    s->in_expert--;
    s->region = saved;
    /* An expert's rows are tokens: its decisions would need a ledger
     * entry per token of their own. */
    if (per_token && s->p->decisions.len > decisions) {
        sema_err(s, e->span, "the experts of a route over tokens cannot hold gates, routes or "
                 "block-gated layers ('%s' does)", bank->path);
        sl_note(s->c, s->p->decisions.items[decisions].span, "this one");
        return NULL;
    }
    /* per token: its k choices, or with expert choice a slot per expert */
    int slots = (int)(expert_choice ? n : k);
    r->decision = sema_add_decision(s, SL_DEC_ROUTE, bank->path, e->span, slots, (int)n);
    if (per_token) {
        sl_decision *d = &s->p->decisions.items[r->decision];
        d->rows = x->ty.dims[0];
        d->tok_a = ta;
        d->tok_c = ta ? tc : x->ty.dims[0];
        d->per_expert = expert_choice ? (int32_t)k : 0;
        s->p->n_slots += (int)(slots * (d->rows - 1)); /* slots were taken for one row */
    }
    return sema_emit(s, r);
}

sl_node *sema_expr(sema *s, env_t *env, const sl_expr *e)
{
    if (s->c->too_many_errors || e->depth > SL_MAX_NESTING)
        return NULL;
    switch (e->kind) {
    case SL_EX_NUM:
        if (e->is_int && e->num <= INT32_MAX)
            return sema_constant(s, SL_I32, e->num, e->span);
        return sema_constant(s, SL_F32, e->num, e->span);
    case SL_EX_BOOL:
        return sema_constant(s, SL_BOOL, e->bval, e->span);
    case SL_EX_NAME: {
        binding *b = sema_env_find(env, e->name);
        if (b && b->node == POISON)
            return NULL; /* its assignment failed, and said so */
        if (b && b->inst) {
            sema_err(s, e->span, "'%s' is a layer (%s); apply it to a value: %s(x)", e->name,
                     b->inst->kind_str, e->name);
            return NULL;
        }
        if (b && b->node)
            return sema_same_tokens(s, b->node, e->span, e->name) ? b->node : NULL;
        if (b) {
            one_arm(s, b, e->span);
            return NULL;
        }
        int t = sema_find_threshold(s, e->name);
        if (t >= 0) {
            s->p->thresholds.items[t].used = true;
            sl_node *n = sema_node(s, SL_OP_THRESHOLD, sl_ty_scalar(SL_F32), e->span, NULL, NULL);
            if (n)
                n->index = t;
            return sema_emit(s, n);
        }
        if (sema_frame_has_param_decl(s->fr, e->name)) {
            sl_inst *inst = frame_param(s->fr, e->name);
            if (!inst)
                return NULL; /* its declaration failed */
            if (inst->kind == SL_P_TENSOR || inst->kind == SL_P_EMBEDDING) {
                /* a learned vector or matrix; an embedding's table */
                inst->used = true;
                sl_ty ty = inst->out_ty;
                if (inst->kind == SL_P_EMBEDDING)
                    ty = sema_rows_ty(s, SL_F32, 2, 0, inst->n_in, &inst->n_out);
                sl_node *n = sema_node(s, SL_OP_TENSOR, ty, e->span, NULL, NULL);
                if (n)
                    n->inst = inst;
                return sema_emit(s, n);
            }
            sema_err(s, e->span, "'%s' is a parameter; apply it to a value: %s(x)", e->name,
                     e->name);
            return NULL;
        }
        if (s->fr->tokens && strcmp(s->fr->tokens->name, e->name) == 0) {
            sema_err(s, e->span, "'%s' is the token count, a dimension, not a value; it can "
                     "bound a slice ('x[:%s]')", e->name, e->name);
            return NULL;
        }
        if (sema_find_shape_builtin(e->name)) {
            sema_err(s, e->span, "'%s' is a function; call it: %s(...)", e->name, e->name);
            return NULL;
        }
        if (find_builtin(e->name)) {
            sema_err(s, e->span, "'%s' is a function; call it: %s(x)", e->name, e->name);
            return NULL;
        }
        if (s->fr->output && strcmp(s->fr->output->name, e->name) == 0) {
            sema_err(s, e->span, "output '%s' is used before it is assigned", e->name);
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
    case SL_EX_LIST:
        return sema_list_literal(s, env, e);
    case SL_EX_SLICE: /* the parser puts slices only inside [...] */
        sema_err(s, e->span, "a slice 'a:b' belongs inside [...]");
        return NULL;
    }
    return NULL;
}

dim_scope sema_frame_scope(sema *s)
{
    frame *f = s->fr;
    dim_scope sc = {f->unit->dim_params, f->inst ? f->inst->dims : NULL,
                    f->inst ? "layer" : "model", f->tokens ? f->tokens->name : NULL,
                    f->tok_a, f->tok_c, false};
    return sc;
}

/* An expression as a dimension: the same arithmetic dimensions allow. */
static sl_dim *expr_to_dim(sema *s, const sl_expr *e)
{
    sl_dim *d = sl_arena_alloc(&s->c->arena, sizeof *d);
    d->span = e->span;
    switch (e->kind) {
    case SL_EX_NUM:
        if (!e->is_int)
            break;
        d->kind = SL_DIM_INT;
        d->value = (int64_t)e->num;
        return d;
    case SL_EX_NAME:
        d->kind = SL_DIM_NAME;
        d->name = e->name;
        return d;
    case SL_EX_BINARY:
        if (e->op != '+' && e->op != '-' && e->op != '*' && e->op != '/')
            break;
        d->kind = SL_DIM_BINARY;
        d->op = e->op;
        if (!(d->lhs = expr_to_dim(s, e->lhs)) || !(d->rhs = expr_to_dim(s, e->rhs)))
            return NULL;
        return d;
    default:
        break;
    }
    sema_err(s, e->span, "expected a dimension: a whole number, a shape parameter or the "
             "token count, with + - * /");
    return NULL;
}

bool sema_expr_extent(sema *s, const sl_expr *e, int32_t *a, int64_t *c)
{
    sl_dim *d = expr_to_dim(s, e);
    dim_scope sc = sema_frame_scope(s);
    return d && sema_eval_extent(s, d, &sc, a, c);
}

bool sema_const_int(sema *s, env_t *env, const sl_expr *e, int64_t *v)
{
    sl_node *n = sema_expr(s, env, e);
    if (!n)
        return false;
    if (n->op != SL_OP_CONST || n->ty.elem != SL_I32) {
        sema_err(s, e->span, "an index must be an integer constant");
        return false;
    }
    *v = (int64_t)n->value;
    return true;
}
