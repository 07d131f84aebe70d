/* check_expr.c - expressions: names, constants (folded), operators with
 * broadcasting, builtin functions, indexing, applying a layer (inlined, in
 * a frame of its own), block-gated layers and routes over expert banks.
 * Each becomes typed nodes in the current region. */
#include <stdint.h>
#include <string.h>

#include "sema.h"

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
bool sema_is_reserved(const char *name)
{
    return find_builtin(name) || strcmp(name, "dense") == 0 || strcmp(name, "layernorm") == 0;
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

int sema_find_threshold(sema *s, const char *name)
{
    if (s->fr->inst) /* thresholds belong to the model */
        return -1;
    for (size_t i = 0; i < s->p->thresholds.len; i++)
        if (strcmp(s->p->thresholds.items[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* Is `name` declared as a parameter in the frame (even if it failed)? */
bool sema_frame_has_param_decl(frame *f, const char *name)
{
    return sl_names_get(&f->param_index, name) >= 0;
}

static void undeclared(sema *s, env_t *env, const char *name, sl_span at)
{
    suggest g = {name, NULL, SIZE_MAX};
    for (size_t i = 0; i < env->b.len; i++)
        sema_suggest_try(&g, env->b.items[i].name);
    for (int i = 0; i < s->fr->n_params; i++)
        if (s->fr->param_decls[i])
            sema_suggest_try(&g, s->fr->param_decls[i]->name);
    if (!s->fr->inst)
        for (size_t i = 0; i < s->p->thresholds.len; i++)
            sema_suggest_try(&g, s->p->thresholds.items[i].name);
    for (size_t i = 0; i < sizeof builtins / sizeof *builtins; i++)
        sema_suggest_try(&g, builtins[i].name);
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
    sema_err(s, at, "shapes %s and %s do not match (they must be equal, or one a scalar)",
             sema_ty_str(s, a), sema_ty_str(s, b));
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
    sl_node *a = sema_expr(s, env, e->lhs), *b = sema_expr(s, env, e->rhs);
    if (!a || !b)
        return NULL;
    int op = e->op;
    sl_ty shape;
    if (!broadcast(s, e->span, a->ty, b->ty, &shape))
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
    if (bi->cls != B_ELEMWISE && x->ty.rank != 1) {
        sema_err(s, e->span, "%s() needs a vector, not %s", bi->name, sema_ty_str(s, x->ty));
        return NULL;
    }
    if (bi->op == SL_OP_MARGIN && x->ty.dims[0] < 2) {
        sema_err(s, e->span, "margin() needs at least 2 elements, not %s", sema_ty_str(s, x->ty));
        return NULL;
    }
    if (!(x = sema_to_f32(s, x)))
        return NULL;
    sl_ty t = x->ty;
    if (bi->cls == B_REDUCE)
        t = sl_ty_scalar(SL_F32);
    else if (bi->cls == B_ARGMAX)
        t = sl_ty_scalar(SL_I32);
    return sema_emit(s, sema_node(s, bi->op, t, e->span, x, NULL));
}

/* The argument of a layer, converted from i32 where it takes f32; NULL
 * (reported) if its shape is wrong. */
static sl_node *coerce_arg(sema *s, const sl_inst *inst, sl_node *x, sl_span at)
{
    if (x->ty.elem == SL_I32 && inst->in_ty.elem == SL_F32 && !(x = sema_to_f32(s, x)))
        return NULL;
    if (sl_ty_equal(x->ty, inst->in_ty))
        return x;
    sema_err(s, at, "'%s' (%s) takes %s, but this is %s", inst->path, inst->kind_str,
             sema_ty_str(s, inst->in_ty), sema_ty_str(s, x->ty));
    return NULL;
}

static sl_node *apply(sema *s, sl_inst *inst, sl_node *x, sl_span at);

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
            sema_frame_add_param(s, &f, i++, d);
    f.input = sema_unit_decl(u, SL_DECL_INPUT);
    f.output = sema_unit_decl(u, SL_DECL_OUTPUT);

    frame *saved = s->fr;
    s->fr = &f;
    env_t env = {{0}, {0}};
    sema_env_bind(s, &env, f.input->name, x, SL_SPAN_NONE);
    bool terminated = false;
    sema_stmts(s, &env, u->body, &terminated);
    binding *b = sema_env_find(&env, f.output->name);
    sl_node *result = NULL;
    if (b && b->node == POISON) {
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

static sl_node *apply(sema *s, sl_inst *inst, sl_node *x, sl_span at)
{
    if (inst->kind == SL_P_BANK) {
        sema_err(s, at, "expert bank '%s' is applied with 'route %s(x) top K by scores'",
                 inst->path, inst->name);
        return NULL;
    }
    if (!(x = coerce_arg(s, inst, x, at)))
        return NULL;
    inst->used = true;
    switch (inst->kind) {
    case SL_P_DENSE: {
        sl_node *n = sema_node(s, SL_OP_DENSE, inst->out_ty, at, x, NULL);
        if (n)
            n->inst = inst;
        return sema_emit(s, n);
    }
    case SL_P_LAYERNORM: {
        sl_node *n = sema_node(s, SL_OP_LAYERNORM, inst->out_ty, at, x, NULL);
        if (n)
            n->inst = inst;
        return sema_emit(s, n);
    }
    case SL_P_LAYER:
        return apply_layer(s, inst, x, at);
    case SL_P_BANK:
        break;
    }
    return NULL;
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
    if (!(x = coerce_arg(s, inst, x, call->span)))
        return NULL;
    inst->used = true;
    sl_node *n = sema_node(s, SL_OP_DENSE_BLOCKS, inst->out_ty, call->span, x, mask);
    if (!n)
        return NULL;
    n->inst = inst;
    n->decision = sema_add_decision(s, SL_DEC_BLOCKS, inst->path, call->span, (int)inst->blocks,
                                    (int)inst->blocks);
    return sema_emit(s, n);
}

static sl_node *call(sema *s, env_t *env, const sl_expr *e)
{
    const sl_expr *callee = e->lhs;
    if (callee->kind == SL_EX_INDEX && callee->lhs->kind == SL_EX_NAME &&
        sema_frame_has_param_decl(s->fr, callee->lhs->name)) {
        if (e->n_args != 1) {
            sema_err(s, e->span, "'%s' takes 1 argument, not %d", callee->lhs->name, e->n_args);
            return NULL;
        }
        return apply_blocks(s, env, e);
    }
    if (callee->kind != SL_EX_NAME) {
        sema_err(s, callee->span, "only layers and functions can be called");
        return NULL;
    }
    const char *name = callee->name;
    const builtin *bi = find_builtin(name);
    bool is_param = sema_frame_has_param_decl(s->fr, name);
    if (!bi && !is_param) {
        binding *b = sema_env_find(env, name);
        if (b || sema_find_threshold(s, name) >= 0 ||
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
        sema_err(s, e->span, "a block mask selects blocks of a call: write '%s[mask](x)'",
                 e->lhs->name);
        return NULL;
    }
    sl_node *base = sema_expr(s, env, e->lhs);
    sl_node *idx = sema_expr(s, env, e->args);
    if (!base || !idx)
        return NULL;
    if (base->ty.rank != 1) {
        sema_err(s, e->lhs->span, "only a vector can be indexed, not %s", sema_ty_str(s, base->ty));
        return NULL;
    }
    if (idx->op != SL_OP_CONST || idx->ty.elem != SL_I32) {
        sema_err(s, e->args->span, "an index must be an integer constant");
        return NULL;
    }
    if (idx->value < 0 || idx->value >= (double)base->ty.dims[0]) {
        sema_err(s, e->args->span, "index %.0f is out of range for %s", idx->value,
                 sema_ty_str(s, base->ty));
        return NULL;
    }
    sl_node *n = sema_node(s, SL_OP_INDEX, sl_ty_scalar(base->ty.elem), e->span, base, NULL);
    if (n)
        n->index = (int64_t)idx->value;
    return sema_emit(s, n);
}

/* route bank(x) top k by scores */
static sl_node *route(sema *s, env_t *env, const sl_expr *e)
{
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
    dim_scope sc = {s->fr->unit->dim_params, s->fr->inst ? s->fr->inst->dims : NULL, ""};
    int64_t k = sema_eval_dim(s, e->k, &sc);
    sl_node *x = sema_expr(s, env, e->args);
    sl_node *scores = sema_expr(s, env, e->scores);
    if (k < 0 || !x || !scores)
        return NULL;
    int64_t n = bank->n_children;
    if (k > n) {
        sema_err(s, e->k->span, "top %lld of a bank of %lld experts", (long long)k, (long long)n);
        return NULL;
    }
    sl_ty want = sl_ty_vector(SL_F32, n);
    if (scores->ty.elem == SL_I32)
        scores = sema_to_f32(s, scores);
    if (!scores || !sl_ty_equal(scores->ty, want)) {
        sema_err(s, e->scores->span, "the scores of a route over '%s' must be %s, not %s",
                 bank->path, sema_ty_str(s, want), scores ? sema_ty_str(s, scores->ty) : "?");
        return NULL;
    }
    if (!(x = coerce_arg(s, bank->children[0], x, e->args->span)))
        return NULL;
    bank->used = true;

    sl_node *r = sema_node(s, SL_OP_ROUTE, bank->out_ty, e->span, x, scores);
    sl_node *arg = sema_node(s, SL_OP_ROUTE_ARG, x->ty, e->args->span, NULL, NULL);
    if (!r || !arg)
        return NULL;
    r->inst = bank;
    r->index = k;
    r->route_arg = arg;
    r->experts = sl_arena_array(&s->c->arena, (size_t)n, sizeof *r->experts);
    r->expert_out = sl_arena_array(&s->c->arena, (size_t)n, sizeof *r->expert_out);
    sl_region *saved = s->region;
    for (int64_t i = 0; i < n; i++) {
        s->region = r->experts[i] = sema_region_new(s);
        r->expert_out[i] = apply(s, bank->children[i], arg, e->span);
        sema_use(r->expert_out[i]);
        if (!r->expert_out[i]) {
            s->region = saved;
            return NULL;
        }
    }
    s->region = saved;
    r->decision = sema_add_decision(s, SL_DEC_ROUTE, bank->path, e->span, (int)k, (int)n);
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
        if (b && b->node)
            return b->node;
        if (b) {
            sema_err(s, e->span, "'%s' has no value here: it is assigned in only one arm of a gate",
                     e->name);
            if (!sl_span_is_none(b->gate))
                sl_note(s->c, b->gate, "the gate is here");
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
            sema_err(s, e->span, "'%s' is a parameter; apply it to a value: %s(x)", e->name,
                     e->name);
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
    }
    return NULL;
}
