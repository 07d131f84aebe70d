/* instances.c - the instance tree: dimensions and types evaluated with a
 * unit's shape parameters bound, and every `param` built into an sl_inst
 * (dense, layernorm, a Sluice layer with its own params, an expert bank). */
#include <stdio.h>
#include <string.h>

#include "sema.h"

enum { MAX_INSTANCES = 100000 };

/* ---- shape dimensions -------------------------------------------------- */

/* Evaluate a dimension to a value in 1..SL_MAX_DIM; -1 after an error. */
int64_t sema_eval_dim(sema *s, const sl_dim *d, const dim_scope *sc)
{
    switch (d->kind) {
    case SL_DIM_INT:
        if (d->value < 1 || d->value > SL_MAX_DIM) {
            sema_err(s, d->span, "dimension %lld is out of range (1 to %lld)", (long long)d->value,
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
            sema_err(s, d->span,
                     "unknown dimension '%s'; the layer's shape parameters are its [...]", d->name);
        else
            sema_err(s, d->span,
                     "unknown dimension '%s' (run-time dimensions are not supported yet)", d->name);
        return -1;
    }
    case SL_DIM_BINARY: {
        int64_t a = sema_eval_dim(s, d->lhs, sc), b = sema_eval_dim(s, d->rhs, sc), r = 0;
        if (a < 0 || b < 0)
            return -1;
        bool overflow = false;
        switch (d->op) {
        case '+': overflow = __builtin_add_overflow(a, b, &r); break;
        case '-': r = a - b; break;
        case '*': overflow = __builtin_mul_overflow(a, b, &r); break;
        case '/':
            if (a % b != 0) {
                sema_err(s, d->span, "%lld / %lld does not divide exactly", (long long)a,
                         (long long)b);
                return -1;
            }
            r = a / b;
            break;
        }
        if (overflow || r < 1 || r > SL_MAX_DIM) {
            sema_err(s, d->span, "dimension is out of range (1 to %lld)", (long long)SL_MAX_DIM);
            return -1;
        }
        return r;
    }
    }
    return -1;
}

/* A declared tensor type; rank 0 or 1 today.  false after an error. */
bool sema_eval_type(sema *s, const sl_type_ast *t, const dim_scope *sc, sl_ty *out)
{
    *out = sl_ty_scalar(SL_F32);
    if (t->rank > 1) {
        sema_err(s, t->span, "tensors of rank %d are not supported yet (only scalars and vectors)",
                 t->rank);
        return false;
    }
    if (t->rank == 1) {
        int64_t n = sema_eval_dim(s, t->dims, sc);
        if (n < 0)
            return false;
        *out = sl_ty_vector(SL_F32, n);
    }
    return true;
}

/* ---- parameter instances ----------------------------------------------- */

const sl_unit *sema_find_layer(sema *s, const char *name)
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

const sl_decl *sema_unit_decl(const sl_unit *u, sl_decl_kind kind)
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
        sema_err(s, k->span, "layer '%s' takes %d shape parameter%s, but %d %s given", layer->name,
                 layer->n_dim_params, layer->n_dim_params == 1 ? "" : "s", k->n_args,
                 k->n_args == 1 ? "is" : "are");
        sl_note(s->c, layer->name_span, "'%s' is defined here", layer->name);
        return NULL;
    }
    for (size_t i = 0; i < s->instantiating.len; i++)
        if (s->instantiating.items[i] == layer) {
            sema_err(s, k->span, "layer '%s' contains itself", layer->name);
            return NULL;
        }
    if (s->instantiating.len >= SL_MAX_LAYER_DEPTH) {
        sema_err(s, k->span, "layers nested too deeply (the limit is %d)", SL_MAX_LAYER_DEPTH);
        return NULL;
    }
    int64_t *vals = sl_arena_array(&s->c->arena, (size_t)k->n_args + 1, sizeof *vals);
    int i = 0;
    for (const sl_dim *d = k->args; d; d = d->next, i++)
        if ((vals[i] = sema_eval_dim(s, d, sc)) < 0)
            return NULL;
    inst->kind = SL_P_LAYER;
    inst->layer = layer;
    inst->dims = vals;
    inst->kind_str = kind_str(s, k, vals, k->n_args);

    dim_scope inner = {layer->dim_params, vals, "layer"};
    const sl_decl *in = sema_unit_decl(layer, SL_DECL_INPUT);
    const sl_decl *out = sema_unit_decl(layer, SL_DECL_OUTPUT);
    if (!in || !out)
        return NULL;
    SL_VEC_PUSH(&s->c->arena, &s->declaring, inst);
    bool types_ok = sema_eval_type(s, in->type, &inner, &inst->in_ty) &&
                    sema_eval_type(s, out->type, &inner, &inst->out_ty);
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
        sl_inst *child = sema_instantiate(s, d->pkind, d->name, child_path, d->span, &inner);
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
    sema_suggest_try(&g, "dense");
    sema_suggest_try(&g, "layernorm");
    for (size_t i = 0; i < s->layers.len; i++)
        sema_suggest_try(&g, s->layers.items[i]->name);
    if (g.best)
        sema_err(s, k->name_span, "unknown layer kind '%s'; did you mean '%s'?", k->name, g.best);
    else
        sema_err(s, k->name_span, "unknown layer kind '%s'", k->name);
}

/* Build the instance a `param` declares. */
sl_inst *sema_instantiate(sema *s, const sl_kind_ast *k, const char *name, const char *path,
                          sl_span decl_span, const dim_scope *sc)
{
    if (++s->n_instances > MAX_INSTANCES) {
        if (s->n_instances == MAX_INSTANCES + 1)
            sema_err(s, decl_span, "too many parameters (more than %d after expanding banks)",
                     MAX_INSTANCES);
        return NULL;
    }
    sl_inst *inst = sl_arena_alloc(&s->c->arena, sizeof *inst);
    inst->name = name;
    inst->path = path;
    inst->span = decl_span;
    inst->w_tensor = inst->b_tensor = -1;

    if (k->blocks && !(k->form == SL_KIND_ARROW && strcmp(k->name, "dense") == 0)) {
        sema_err(s, k->blocks->span, "only a dense layer can be split into blocks");
        return NULL;
    }
    if (k->form == SL_KIND_EXPERT) {
        int64_t n = sema_eval_dim(s, k->args, sc);
        if (n < 0)
            return NULL;
        if (n > SL_MAX_EXPERTS) {
            sema_err(s, k->args->span, "an expert bank holds at most %d experts", SL_MAX_EXPERTS);
            return NULL;
        }
        if (k->elem->form == SL_KIND_EXPERT) {
            sema_err(s, k->elem->span, "an expert bank cannot hold expert banks");
            return NULL;
        }
        inst->kind = SL_P_BANK;
        inst->children = sl_arena_array(&s->c->arena, (size_t)n, sizeof *inst->children);
        for (int64_t i = 0; i < n; i++) {
            const char *p = sl_arena_printf(&s->c->arena, "%s.%lld", path, (long long)i);
            sl_inst *e = sema_instantiate(s, k->elem, name, p, decl_span, sc);
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
            if (is_norm || sema_find_layer(s, k->name))
                sema_err(s, k->span, "only dense takes 'in -> out'; '%s' takes '%s[...]'", k->name,
                         k->name);
            else
                unknown_kind(s, k);
            return NULL;
        }
        int64_t v[2];
        v[0] = sema_eval_dim(s, k->args, sc);
        v[1] = sema_eval_dim(s, k->args->next, sc);
        if (v[0] < 0 || v[1] < 0)
            return NULL;
        inst->kind = SL_P_DENSE;
        inst->n_in = v[0];
        inst->n_out = v[1];
        inst->in_ty = sl_ty_vector(SL_F32, v[0]);
        inst->out_ty = sl_ty_vector(SL_F32, v[1]);
        inst->kind_str = kind_str(s, k, v, 2);
        if (k->blocks) {
            int64_t b = sema_eval_dim(s, k->blocks, sc);
            if (b < 0)
                return NULL;
            if (v[1] % b != 0) {
                sema_err(s, k->blocks->span,
                         "%lld output units do not split into %lld equal blocks", (long long)v[1],
                         (long long)b);
                return NULL;
            }
            inst->blocks = b;
            inst->kind_str = sl_arena_printf(&s->c->arena, "%s blocks %lld", inst->kind_str,
                                             (long long)b);
        }
        return inst;
    }
    if (is_dense) {
        sema_err(s, k->span, "dense is written 'dense[in -> out]'");
        return NULL;
    }
    if (is_norm) {
        if (k->n_args != 1) {
            sema_err(s, k->span, "layernorm is written 'layernorm[d]'");
            return NULL;
        }
        int64_t d = sema_eval_dim(s, k->args, sc);
        if (d < 0)
            return NULL;
        inst->kind = SL_P_LAYERNORM;
        inst->n_in = inst->n_out = d;
        inst->in_ty = inst->out_ty = sl_ty_vector(SL_F32, d);
        inst->kind_str = kind_str(s, k, &d, 1);
        return inst;
    }
    const sl_unit *layer = sema_find_layer(s, k->name);
    if (!layer) {
        unknown_kind(s, k);
        return NULL;
    }
    return instantiate_layer(s, inst, layer, k, sc);
}
