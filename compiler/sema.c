/* sema.c - the checker's entry (sl_check) and the model: its name, its
 * weights file, its parameters and thresholds, its statements, what it
 * leaves unused; and the checker's diagnostics, with notes naming the layer
 * instance an error is in, and "did you mean".
 *
 * The other pieces (sema.h): imports.c loads modules, instances.c builds
 * the instance tree, check_expr.c and check_stmt.c walk the code,
 * hir_build.c appends the checked program's nodes. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sema.h"
#include "sluice/text.h"

/* POISON: the value of a name whose assignment failed */
sl_node sema_poison;

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

void sema_err(sema *s, sl_span at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verr(s, SL_ERROR, at, fmt, ap);
    va_end(ap);
}

void sema_warn(sema *s, sl_span at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verr(s, SL_WARNING, at, fmt, ap);
    va_end(ap);
}

const char *sema_ty_str(sema *s, sl_ty t) { return sl_ty_str(s->c, t); }

/* ---- "did you mean" ---------------------------------------------------- */

void sema_suggest_try(suggest *g, const char *cand)
{
    size_t d = sl_edit_distance(g->want, cand);
    size_t limit = strlen(g->want) / 3 + 1;
    if (d > 0 && d <= limit && d < g->dist) {
        g->best = cand;
        g->dist = d;
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
        sema_err(s, u->name_span, "model name '%s' is reserved: names beginning with 'sl_' or "
                 "'sluice_' belong to the runtime", u->name);
    else if (strlen(u->name) > MAX_MODEL_NAME)
        sema_err(s, u->name_span, "model name is %zu characters long; the limit is %d",
                 strlen(u->name), MAX_MODEL_NAME);
}

void sema_add_threshold(sema *s, const sl_decl *d, const char *name, const sl_inst *owner)
{
    const sl_expr *v = d->value;
    bool neg = v->kind == SL_EX_UNARY && v->op == '-';
    const sl_expr *num = neg ? v->lhs : v;
    if (num->kind != SL_EX_NUM)
        sema_err(s, v->span, "a threshold's default must be a number");
    double x = num->kind == SL_EX_NUM ? (neg ? -num->num : num->num) : 0;
    /* pushed even after an error: a unit's thresholds are counted from its first */
    sl_threshold t = {name, (float)x, d->name_span, false, owner};
    SL_VEC_PUSH(&s->c->arena, &s->p->thresholds, t);
}

/* `tokens T max N` (and `min M`, default 1): the model's token count. */
static bool model_tokens(sema *s, const sl_decl *d)
{
    sl_program *p = s->p;
    dim_scope none = {NULL, NULL, "model", NULL, 0, 0, false};
    p->tokens_min = 1;
    p->tokens_max = 0;
    bool ok = true;
    for (const sl_dim *b = d->bounds; b; b = b->next) {
        bool is_min = strcmp(b->name, "min") == 0, is_max = strcmp(b->name, "max") == 0;
        if (!is_min && !is_max) {
            sema_err(s, b->span, "expected 'min' or 'max' after 'tokens %s', found '%s'",
                     d->name, b->name);
            ok = false;
            continue;
        }
        int64_t v = sema_eval_dim(s, b->lhs, &none);
        if (v < 0)
            ok = false;
        else if (is_min)
            p->tokens_min = v;
        else
            p->tokens_max = v;
    }
    if (!ok)
        return false;
    if (p->tokens_max == 0) {
        sema_err(s, d->span, "the model's token count needs a bound: 'tokens %s max N'", d->name);
        return false;
    }
    if (p->tokens_min > p->tokens_max) {
        sema_err(s, d->span, "'tokens %s' has min %lld above max %lld", d->name,
                 (long long)p->tokens_min, (long long)p->tokens_max);
        return false;
    }
    p->tokens_name = d->name;
    s->c->tokens_name = d->name;
    return true;
}

/* The model's input: a vector, a matrix, token ids, or a sequence whose
 * first dimension is the token count itself. */
static bool check_model_input(sema *s, const sl_decl *in)
{
    sl_program *p = s->p;
    sl_ty t = p->in_ty;
    if (p->tokens_name) {
        if (!(t.tok_a == 1 && t.tok_c == 0)) {
            sema_err(s, in->type->span, "the model's input must have its token count '%s' as "
                     "its first dimension (f32[%s, d], f32[%s] or i32[%s]), not %s",
                     p->tokens_name, p->tokens_name, p->tokens_name, p->tokens_name,
                     sema_ty_str(s, t));
            return false;
        }
        return true;
    }
    if (t.rank == 0) {
        sema_err(s, in->type->span, "the model's input must be a vector (f32[N]), a matrix "
                 "(f32[N, d]) or token ids (i32[N])");
        return false;
    }
    return true;
}

static sl_program *check_model(sema *s, const sl_unit *u)
{
    sl_program *p = s->p;
    p->model = u;
    p->name = u->name;
    p->source_path = s->c->sources.items[u->span.file].path;
    check_model_name(s, u);
    sema_check_decls(s, u);
    if (s->c->n_errors)
        return NULL;

    const sl_decl *tokens = sema_unit_decl(u, SL_DECL_TOKENS);
    if (tokens && !model_tokens(s, tokens))
        return NULL;
    dim_scope sc = {NULL, NULL, "model", tokens ? tokens->name : NULL, 1, 0, false};
    const sl_decl *in = sema_unit_decl(u, SL_DECL_INPUT), *out = sema_unit_decl(u, SL_DECL_OUTPUT);
    p->in_name = in->name;
    p->out_name = out->name;
    bool ok = sema_eval_type(s, in->type, &sc, &p->in_ty) &&
              sema_eval_type(s, out->type, &sc, &p->out_ty);
    if (ok)
        ok = check_model_input(s, in);
    if (ok && (p->out_ty.rank != 1 || p->out_ty.tok_a || p->out_ty.elem != SL_F32)) {
        sema_err(s, out->type->span, "the model's output must be a vector (f32[N])");
        ok = false;
    }

    const sl_decl *weights = sema_unit_decl(u, SL_DECL_WEIGHTS);
    p->weights_path = resolve_weights(s, u, weights ? weights->path : NULL);

    frame f = {.unit = u, .input = in, .output = out, .tokens = tokens, .tok_a = 1,
               .out_ty = p->out_ty};
    for (const sl_decl *d = u->decls; d; d = d->next) {
        if (d->kind == SL_DECL_PARAM)
            f.n_params++;
        if (d->kind == SL_DECL_THRESHOLD)
            sema_add_threshold(s, d, d->name, NULL);
    }
    f.params = sl_arena_array(&s->c->arena, (size_t)f.n_params + 1, sizeof *f.params);
    f.param_decls = sl_arena_array(&s->c->arena, (size_t)f.n_params + 1, sizeof *f.param_decls);
    int i = 0;
    for (const sl_decl *d = u->decls; d; d = d->next) {
        if (d->kind != SL_DECL_PARAM)
            continue;
        sema_frame_add_param(s, &f, i, d);
        f.params[i++] = sema_instantiate(s, d->pkind, d->name, sema_param_path(s, NULL, d),
                                         d->span, &sc);
    }
    p->params = f.params;
    p->n_params = f.n_params;
    if (!ok || s->c->n_errors)
        return NULL;

    s->fr = &f;
    s->region = p->body = sema_region_new(s);
    env_t env = {{0}, {0}};
    sl_node *x = sema_emit(s, sema_node(s, SL_OP_INPUT, p->in_ty, in->name_span, NULL, NULL));
    sema_env_bind(s, &env, in->name, x, SL_SPAN_NONE);
    bool terminated = false;
    int64_t fewest = p->tokens_min; /* tokens_above() lowers it for what follows it */
    sema_stmts(s, &env, u->body, &terminated);
    p->tokens_min = fewest;
    if (!terminated && !s->c->too_many_errors) {
        binding *b = sema_env_find(&env, out->name);
        if (b && b->node == POISON) {
            /* reported where it failed */
        } else if (!b || !b->node) {
            sema_err(s, u->close_span,
                     "output '%s' is not assigned on every path through model '%s'", out->name,
                     u->name);
            if (b && !sl_span_is_none(b->gate))
                sl_note(s->c, b->gate, "it is assigned in only one arm of this gate");
        } else {
            /* The fall-through result is the last item: an unconditional exit
             * past the last exit, numbered n_exits. */
            sl_item *it = sema_item_add(s, SL_IT_EXIT, u->close_span);
            it->value = b->node;
            it->value_r = sema_region_new(s);
            it->exit_index = -1; /* "end" */
            sema_use(b->node);
        }
    }
    if (s->c->n_errors)
        return NULL;

    for (int j = 0; j < p->n_params; j++)
        warn_unused(s, p->params[j]);
    for (size_t j = 0; j < p->thresholds.len; j++)
        if (!p->thresholds.items[j].used &&
            (!p->thresholds.items[j].owner || p->thresholds.items[j].owner->used))
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
    sema_load_module(&s, m, true);

    const sl_unit *model = NULL;
    for (const sl_unit *u = m->units; u; u = u->next) {
        if (u->kind != SL_UNIT_MODEL)
            continue;
        if (model) {
            sema_err(&s, u->name_span, "a file holds one model; '%s' is already it", model->name);
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
