/* check_stmt.c - statements: assignments, exits (their value in a region
 * of its own), gates (each arm on a copy of the environment, merged with
 * phis), and the environments that map names to nodes. */
#include <string.h>

#include "sema.h"

/* ---- environments ------------------------------------------------------ */

binding *sema_env_find(env_t *env, const char *name)
{
    int i = sl_names_get(&env->index, name);
    return i < 0 ? NULL : &env->b.items[i];
}

void sema_env_bind(sema *s, env_t *env, const char *name, sl_node *n, sl_span gate)
{
    binding *b = sema_env_find(env, name);
    if (b) {
        b->node = n;
        b->gate = gate;
        b->inst = NULL;
        return;
    }
    binding nb = {name, n, gate, NULL};
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

/* ---- statements -------------------------------------------------------- */

static bool is_bool_scalar(sl_node *n) { return n->ty.elem == SL_BOOL && n->ty.rank == 0; }

static void assign(sema *s, env_t *env, const sl_stmt *st)
{
    const char *name = st->name;
    if (sema_frame_has_param_decl(s->fr, name)) {
        sema_err(s, st->name_span, "cannot assign to parameter '%s'", name);
        return;
    }
    int t = sema_find_threshold(s, name);
    if (t >= 0) {
        /* at run time a threshold is named by its path: "th.t" in a layer */
        const char *path = (size_t)t < s->p->thresholds.len ? s->p->thresholds.items[t].name : name;
        sema_err(s, st->name_span, "cannot assign to threshold '%s'; set it at run time with "
                 "--set %s=VALUE", name, path);
        return;
    }
    if (sema_is_reserved(name)) {
        sema_err(s, st->name_span, "cannot assign to '%s': it names a builtin", name);
        return;
    }
    sl_node *v = sema_expr(s, env, st->value);
    const sl_decl *out = s->fr->output;
    if (v && out && strcmp(out->name, name) == 0) {
        sl_ty want = s->fr->out_ty;
        if (v->ty.elem == SL_I32)
            v = sema_to_f32(s, v);
        if (v && !sl_ty_equal(v->ty, want)) {
            sema_err(s, st->value->span, "output '%s' is %s, but this value is %s", name,
                     sema_ty_str(s, want), sema_ty_str(s, v->ty));
            v = NULL;
        }
    }
    sema_env_bind(s, env, name, v ? v : POISON, SL_SPAN_NONE);
}

static void exit_stmt(sema *s, env_t *env, const sl_stmt *st, bool *terminated)
{
    if (s->in_expert) {
        /* an expert's rows come back to be combined: none may leave there */
        sema_err(s, st->span, "an exit cannot be inside an expert of a route");
        return;
    }
    sl_node *cond = NULL;
    if (st->cond) {
        cond = sema_expr(s, env, st->cond);
        if (!cond)
            return;
        if (!is_bool_scalar(cond)) {
            sema_err(s, st->cond->span, "an exit condition must be a bool scalar, not %s",
                     sema_ty_str(s, cond->ty));
            return;
        }
    }
    /* The value is computed in a region of its own: only if the exit is taken. */
    sl_region *outer = s->region;
    sl_region *value_r = sema_region_new(s);
    s->region = value_r;
    sl_node *v = sema_expr(s, env, st->value);
    if (v && v->ty.elem == SL_I32)
        v = sema_to_f32(s, v);
    s->region = outer;
    if (!v)
        return;
    if (!sl_ty_equal(v->ty, s->p->out_ty)) {
        sema_err(s, st->value->span, "an exit returns the %soutput '%s' (%s), but this value is %s",
                 s->fr->inst ? "model's " : "", s->p->out_name, sema_ty_str(s, s->p->out_ty),
                 sema_ty_str(s, v->ty));
        return;
    }
    sl_item *it = sema_item_add(s, SL_IT_EXIT, st->span);
    it->cond = cond;
    it->value_r = value_r;
    it->value = v;
    it->exit_index = (int)s->p->exits.len;
    sema_use(cond);
    sema_use(v);
    sl_exit x = {sl_arena_printf(&s->c->arena, "exit%zu", s->p->exits.len), st->span};
    SL_VEC_PUSH(&s->c->arena, &s->p->exits, x);
    if (!cond)
        *terminated = true;
}

/* The names statements assign, arms and loops included, bound to POISON:
 * after a gate whose condition failed (and said so), they are neither
 * unbound ("not assigned on every path") nor undeclared where used. */
static void poison_assigned(sema *s, env_t *env, const sl_stmt *st)
{
    for (; st; st = st->next) {
        if (st->kind == SL_ST_ASSIGN) {
            sema_env_bind(s, env, st->name, POISON, SL_SPAN_NONE);
        } else if (st->kind == SL_ST_GATE) {
            poison_assigned(s, env, st->then_body);
            poison_assigned(s, env, st->else_body);
        } else if (st->kind == SL_ST_FOR) {
            poison_assigned(s, env, st->then_body);
        }
    }
}

static void gate_stmt(sema *s, env_t *env, const sl_stmt *st, bool *terminated)
{
    sl_node *cond = sema_expr(s, env, st->cond);
    if (cond && !is_bool_scalar(cond)) {
        sema_err(s, st->cond->span, "a gate condition must be a bool scalar, not %s",
                 sema_ty_str(s, cond->ty));
        cond = NULL;
    }
    if (!cond) {
        poison_assigned(s, env, st->then_body);
        poison_assigned(s, env, st->else_body);
        return;
    }
    sl_span gate_span = {st->span.file, st->span.begin, st->span.begin + 4};
    int decision = sema_add_decision(s, SL_DEC_GATE,
                                     sl_arena_printf(&s->c->arena, "gate%d", s->n_gates++),
                                     gate_span, 1, 2);
    /* The item is added first so nodes of the arms land in its regions. */
    sl_item *it = sema_item_add(s, SL_IT_GATE, gate_span);
    size_t item_index = s->region->items.len - 1;
    sl_region *outer = s->region;
    sl_region *then_r = sema_region_new(s), *else_r = sema_region_new(s);
    it->cond = cond;
    it->decision = decision;
    it->then_r = then_r;
    it->else_r = else_r;
    sema_use(cond);

    env_t then_env = env_copy(s, env), else_env = env_copy(s, env);
    bool then_term = false, else_term = false;
    s->region = then_r;
    sema_stmts(s, &then_env, st->then_body, &then_term);
    s->region = else_r;
    sema_stmts(s, &else_env, st->else_body, &else_term);
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
            if (sema_env_find(&merged, b->name))
                continue;
            binding *o = sema_env_find(other, b->name);
            if (b->node == POISON || (o && o->node == POISON)) {
                sema_env_bind(s, &merged, b->name, POISON, SL_SPAN_NONE);
                continue;
            }
            if (b->inst && o && o->inst == b->inst) { /* a loop's layer, the same in both */
                sema_env_bind(s, &merged, b->name, NULL, SL_SPAN_NONE);
                sema_env_find(&merged, b->name)->inst = b->inst;
                continue;
            }
            if (!o || !o->node || !b->node) {
                sema_env_bind(s, &merged, b->name, NULL, gate_span);
                continue;
            }
            if (o->node == b->node) {
                sema_env_bind(s, &merged, b->name, b->node, SL_SPAN_NONE);
                continue;
            }
            sl_node *t = side ? o->node : b->node, *e = side ? b->node : o->node;
            if (!sl_ty_equal(t->ty, e->ty)) {
                sema_err(s, gate_span, "'%s' is %s after the then-arm but %s after the else-arm",
                         b->name, sema_ty_str(s, t->ty), sema_ty_str(s, e->ty));
                sema_env_bind(s, &merged, b->name, POISON, SL_SPAN_NONE);
                continue;
            }
            sl_node *phi = sema_node(s, SL_OP_PHI, t->ty, gate_span, t, e);
            if (!phi)
                return;
            SL_VEC_PUSH(&s->c->arena, &it->phis, phi);
            sema_env_bind(s, &merged, b->name, phi, SL_SPAN_NONE);
        }
    }
    *env = merged;
}

/* for [i,] layer in layers { ... }: the body once per element of the
 * list, in order, with `layer` the element and `i` its position (an i32
 * constant); names it binds stay bound after it, as after any statement. */
static void for_stmt(sema *s, env_t *env, const sl_stmt *st, bool *terminated)
{
    sl_inst *list = NULL;
    for (int i = 0; i < s->fr->n_params; i++)
        if (s->fr->param_decls[i] && strcmp(s->fr->param_decls[i]->name, st->list) == 0) {
            list = s->fr->params[i];
            if (!list)
                return; /* its declaration failed */
            break;
        }
    if (!list) {
        binding *b = sema_env_find(env, st->list);
        if (b)
            sema_err(s, st->list_span, "'%s' is a value; a loop goes over a list of layers "
                     "('param %s: list[N] of ...')", st->list, st->list);
        else
            sema_err(s, st->list_span, "'%s' is not a list of layers of this %s", st->list,
                     s->fr->inst ? "layer" : "model");
        return;
    }
    if (list->kind != SL_P_BANK) {
        sema_err(s, st->list_span, "'%s' is %s, not a list of layers ('list[N] of ...')",
                 st->list, list->kind_str);
        return;
    }
    const char *names[2] = {st->name, st->index};
    sl_span spans[2] = {st->name_span, st->index_span};
    for (int k = 0; k < 2; k++) {
        if (!names[k])
            continue;
        if (sema_frame_has_param_decl(s->fr, names[k]) || sema_find_threshold(s, names[k]) >= 0 ||
            sema_is_reserved(names[k])) {
            sema_err(s, spans[k], "'%s' is already declared; a loop needs a new name", names[k]);
            return;
        }
    }
    if (st->index && strcmp(st->index, st->name) == 0) {
        sema_err(s, st->index_span, "the position and the element need two names");
        return;
    }
    list->used = true;
    for (int i = 0; i < list->n_children && !*terminated && !s->c->too_many_errors; i++) {
        binding *b;
        sema_env_bind(s, env, st->name, NULL, SL_SPAN_NONE);
        b = sema_env_find(env, st->name);
        b->inst = list->children[i];
        if (st->index)
            sema_env_bind(s, env, st->index, sema_constant(s, SL_I32, i, st->index_span),
                          SL_SPAN_NONE);
        bool t = false;
        sema_stmts(s, env, st->then_body, &t);
        *terminated |= t;
    }
}

void sema_stmts(sema *s, env_t *env, const sl_stmt *st, bool *terminated)
{
    bool warned = false;
    sl_region *live = s->region;
    for (; st && !s->c->too_many_errors; st = st->next) {
        if (st->depth > SL_MAX_NESTING)
            continue; /* reported by the parser */
        if (*terminated && !warned) {
            sema_warn(s, st->span, "code after an unconditional exit never runs");
            warned = true;
            /* Still check it, into a region nothing runs. */
            s->region = sema_region_new(s);
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
        case SL_ST_FOR: {
            bool t = false;
            for_stmt(s, env, st, &t);
            *terminated |= t;
            break;
        }
        }
    }
    s->region = live;
}
