/* instances.c - the instance tree: dimensions and types evaluated with a
 * unit's shape parameters bound, and every `param` built into an sl_inst
 * (dense, layernorm, a Sluice layer with its own params, an expert bank). */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sema.h"

enum { MAX_INSTANCES = 100000 };

/* ---- shape dimensions -------------------------------------------------- */

int64_t sema_extent_min(sema *s, int32_t a, int64_t c) { return a * s->p->tokens_min + c; }
int64_t sema_extent_max(sema *s, int32_t a, int64_t c) { return a * s->p->tokens_max + c; }

/* An extent a * T + c, recursively; *sym is set when the dimension names
 * the token count.  false after an error. */
static bool extent(sema *s, const sl_dim *d, const dim_scope *sc, int32_t *a, int64_t *c)
{
    switch (d->kind) {
    case SL_DIM_INT:
        if (d->value < 1 || d->value > SL_MAX_DIM) {
            sema_err(s, d->span, "dimension %lld is out of range (1 to %lld)", (long long)d->value,
                     (long long)SL_MAX_DIM);
            return false;
        }
        *a = 0;
        *c = d->value;
        return true;
    case SL_DIM_NAME: {
        int i = 0;
        for (const sl_dim *n = sc->names; n; n = n->next, i++)
            if (strcmp(n->name, d->name) == 0) {
                *a = 0;
                *c = sc->values[i];
                return true;
            }
        if (sc->tok_name && strcmp(sc->tok_name, d->name) == 0) {
            *a = sc->tok_a;
            *c = sc->tok_c;
            return true;
        }
        if (sc->names)
            sema_err(s, d->span,
                     "unknown dimension '%s'; the layer's shape parameters are its [...]", d->name);
        else if (sc->tok_name)
            sema_err(s, d->span, "unknown dimension '%s' (a %s has no shape parameters; its "
                     "token count is '%s')", d->name, sc->unit_kind, sc->tok_name);
        else if (strcmp(sc->unit_kind, "layer") == 0)
            sema_err(s, d->span, "unknown dimension '%s' (the layer has no shape parameters; a "
                     "layer that takes sequences declares 'tokens %s')", d->name, d->name);
        else
            sema_err(s, d->span, "unknown dimension '%s' (a model has no shape parameters; a "
                     "token count that varies per input is declared with 'tokens %s max N')",
                     d->name, d->name);
        return false;
    }
    case SL_DIM_BINARY: {
        int32_t a1, a2;
        int64_t c1, c2;
        if (!extent(s, d->lhs, sc, &a1, &c1) || !extent(s, d->rhs, sc, &a2, &c2))
            return false;
        bool overflow = false;
        switch (d->op) {
        case '+':
            overflow = __builtin_add_overflow(a1, a2, a) || __builtin_add_overflow(c1, c2, c);
            break;
        case '-':
            overflow = __builtin_sub_overflow(a1, a2, a) || __builtin_sub_overflow(c1, c2, c);
            break;
        case '*': {
            if (a1 && a2) {
                sema_err(s, d->span, "the token count cannot be multiplied by itself");
                return false;
            }
            int64_t aa, k = a1 ? c2 : c1; /* the static factor scales T's */
            overflow = __builtin_mul_overflow((int64_t)(a1 ? a1 : a2), k, &aa) ||
                       aa > INT32_MAX || __builtin_mul_overflow(c1, c2, c);
            *a = (int32_t)aa;
            break;
        }
        case '/':
            if (a1 || a2) {
                sema_err(s, d->span, "the token count cannot be divided");
                return false;
            }
            if (c1 % c2 != 0) {
                sema_err(s, d->span, "%lld / %lld does not divide exactly", (long long)c1,
                         (long long)c2);
                return false;
            }
            *a = 0;
            *c = c1 / c2;
            break;
        }
        if (!overflow && *a < 0) {
            sema_err(s, d->span, "a dimension cannot shrink as the token count grows");
            return false;
        }
        if (overflow || *c > SL_MAX_DIM || *c < -SL_MAX_DIM || (*a == 0 && *c < 1)) {
            sema_err(s, d->span, "dimension is out of range (1 to %lld)", (long long)SL_MAX_DIM);
            return false;
        }
        return true;
    }
    }
    return false;
}

bool sema_eval_extent(sema *s, const sl_dim *d, const dim_scope *sc, int32_t *a, int64_t *c)
{
    if (!extent(s, d, sc, a, c))
        return false;
    if (*a == 0 && (*c < 1 || *c > SL_MAX_DIM)) {
        sema_err(s, d->span, "dimension is out of range (1 to %lld)", (long long)SL_MAX_DIM);
        return false;
    }
    if (*a > 0 && !sc->tok_symbolic) {
        if (sema_extent_min(s, *a, *c) < 1) {
            sema_err(s, d->span, "this dimension is %lld when the token count is %lld; it must "
                     "be at least 1", (long long)sema_extent_min(s, *a, *c),
                     (long long)s->p->tokens_min);
            return false;
        }
        if (sema_extent_max(s, *a, *c) > SL_MAX_DIM) {
            sema_err(s, d->span, "dimension is out of range (1 to %lld)", (long long)SL_MAX_DIM);
            return false;
        }
    }
    return true;
}

/* Evaluate a dimension to a value in 1..SL_MAX_DIM; -1 after an error.
 * The token count varies per input, so it is no such value. */
int64_t sema_eval_dim(sema *s, const sl_dim *d, const dim_scope *sc)
{
    int32_t a;
    int64_t c;
    if (!sema_eval_extent(s, d, sc, &a, &c))
        return -1;
    if (a != 0) {
        sema_err(s, d->span, "the token count '%s' varies per input; only the first dimension "
                 "of a value's type can depend on it", sc->tok_name);
        return -1;
    }
    return c;
}

bool sema_rows_of(sl_ty t, int32_t *a, int64_t *c)
{
    if (t.rank == 2 || (t.rank == 1 && t.tok_a > 0)) {
        *a = t.tok_a;
        *c = t.tok_a ? t.tok_c : t.dims[0];
        return true;
    }
    return false;
}

bool sema_one_per_row(sl_ty t, int32_t a, int64_t c)
{
    if (t.elem != SL_F32)
        return false;
    if (t.rank == 1 && !sl_ty_is_seq(t)) /* a fixed matrix's: a vector of its rows */
        return a == 0 && t.dims[0] == c;
    int32_t ta;
    int64_t tc;
    return sema_rows_of(t, &ta, &tc) && ta == a && tc == c && (t.rank == 1 || t.dims[1] == 1);
}

sl_ty sema_rows_ty(sema *s, sl_elem e, int rank, int32_t a, int64_t c, const int64_t *inner)
{
    sl_ty t = {0};
    t.elem = e;
    t.rank = rank;
    t.tok_a = a;
    t.tok_c = a ? c : 0;
    t.dims[0] = a ? sema_extent_max(s, a, c) : c;
    for (int i = 1; i < rank; i++)
        t.dims[i] = inner[i - 1];
    return t;
}

sl_ty sema_bind_tokens(sema *s, sl_ty t, int32_t a, int64_t c)
{
    if (t.tok_a == 0)
        return t;
    /* t's first dimension is ta * S + tc, with S = a * T + c */
    return sema_rows_ty(s, t.elem, t.rank, t.tok_a * a, t.tok_a * c + t.tok_c, t.dims + 1);
}

/* A declared type: a scalar, a vector, or a matrix whose first dimension
 * may be the token count.  false after an error. */
bool sema_eval_type(sema *s, const sl_type_ast *t, const dim_scope *sc, sl_ty *out)
{
    sl_elem e = t->is_i32 ? SL_I32 : SL_F32;
    *out = sl_ty_scalar(e);
    if (t->rank > 2) {
        sema_err(s, t->span, "tensors of rank %d are not supported (at most 2: f32[T, d])",
                 t->rank);
        return false;
    }
    if (t->rank == 0)
        return true;
    int32_t a;
    int64_t c, inner = 0;
    if (!sema_eval_extent(s, t->dims, sc, &a, &c))
        return false;
    if (t->rank == 2 && (inner = sema_eval_dim(s, t->dims->next, sc)) < 0)
        return false;
    if (e == SL_I32 && t->rank == 2) {
        sema_err(s, t->span, "i32 values are token ids: a scalar or i32[N], not a matrix");
        return false;
    }
    if (!sc->tok_symbolic && a > 0 && (sema_extent_max(s, a, c) > SL_MAX_DIM ||
                                       (inner && sema_extent_max(s, a, c) * inner > SL_MAX_DIM)))
        goto too_large;
    if (a == 0 && inner && c * inner > SL_MAX_DIM)
        goto too_large;
    if (sc->tok_symbolic && a > 0) {
        /* kept in terms of S: dims[0] means nothing until S is bound */
        *out = (sl_ty){.elem = e, .rank = t->rank, .tok_a = a, .tok_c = c, .dims = {c, inner}};
        return true;
    }
    *out = a ? sema_rows_ty(s, e, t->rank, a, c, &inner) : t->rank == 1
               ? sl_ty_vector(e, c) : sema_rows_ty(s, e, 2, 0, c, &inner);
    return true;
too_large:
    sema_err(s, t->span, "a value of more than %lld elements", (long long)SL_MAX_DIM);
    return false;
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

    dim_scope inner = {layer->dim_params, vals, "layer", NULL, 0, 0, false};
    const sl_decl *in = sema_unit_decl(layer, SL_DECL_INPUT);
    const sl_decl *out = sema_unit_decl(layer, SL_DECL_OUTPUT);
    const sl_decl *tokens = sema_unit_decl(layer, SL_DECL_TOKENS);
    if (!in || !out)
        return NULL;
    if (tokens) { /* S stays a name until the layer is applied */
        inner.tok_name = tokens->name;
        inner.tok_a = 1;
        inner.tok_symbolic = true;
        inst->tokens_generic = true;
    }
    SL_VEC_PUSH(&s->c->arena, &s->declaring, inst);
    bool types_ok = sema_eval_type(s, in->type, &inner, &inst->in_ty) &&
                    sema_eval_type(s, out->type, &inner, &inst->out_ty);
    if (types_ok && tokens && !(inst->in_ty.tok_a == 1 && inst->in_ty.tok_c == 0)) {
        sema_err(s, in->type->span, "layer '%s' declares 'tokens %s': its input's first "
                 "dimension must be %s", layer->name, tokens->name, tokens->name);
        types_ok = false;
    }
    s->declaring.len--;
    if (!types_ok)
        return NULL;

    /* Its thresholds, one set per instance, named by its path. */
    inst->threshold0 = (int)s->p->thresholds.len;
    for (const sl_decl *d = layer->decls; d; d = d->next)
        if (d->kind == SL_DECL_THRESHOLD)
            sema_add_threshold(s, d, sl_arena_printf(&s->c->arena, "%s.%s", inst->path, d->name),
                               inst);

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
        sl_inst *child = sema_instantiate(s, d->pkind, d->name, sema_param_path(s, inst->path, d),
                                          d->span, &inner);
        if (!child)
            ok = false;
        inst->children[inst->n_children++] = child;
    }
    s->instantiating.len--;
    s->declaring.len--;
    return ok ? inst : NULL;
}

/* The kinds built in, their shape arguments and how they are written. */
typedef struct builtin_kind {
    const char *name;
    sl_pkind kind;
    int n_args;
    const char *written;
} builtin_kind;

static const builtin_kind builtin_kinds[] = {
    {"dense", SL_P_DENSE, 2, "dense[in -> out]"},
    {"layernorm", SL_P_LAYERNORM, 1, "layernorm[d]"},
    {"batchnorm", SL_P_BATCHNORM, 1, "batchnorm[d]"},
    {"vector", SL_P_TENSOR, 1, "vector[d]"},
    {"matrix", SL_P_TENSOR, 2, "matrix[rows, cols]"},
    {"embedding", SL_P_EMBEDDING, 2, "embedding[vocab, d]"},
    {"attention", SL_P_ATTENTION, 2, "attention[d, heads]"},
};

static const builtin_kind *find_kind(const char *name)
{
    for (size_t i = 0; i < sizeof builtin_kinds / sizeof *builtin_kinds; i++)
        if (strcmp(builtin_kinds[i].name, name) == 0)
            return &builtin_kinds[i];
    return NULL;
}

bool sema_is_builtin_kind(const char *name)
{
    return find_kind(name) || strcmp(name, "list") == 0 || strcmp(name, "expert") == 0;
}

/* Does the module text hold a line `layer NAME` (or `layer NAME[...]`)?
 * A plain scan, not a parse: it must say nothing about the module. */
static bool defines_layer(const char *text, size_t len, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < len;) {
        while (i < len && (text[i] == ' ' || text[i] == '\t'))
            i++;
        if (len - i > 6 && memcmp(text + i, "layer", 5) == 0 &&
            (text[i + 5] == ' ' || text[i + 5] == '\t')) {
            size_t j = i + 5;
            while (j < len && (text[j] == ' ' || text[j] == '\t'))
                j++;
            if (len - j >= n && memcmp(text + j, name, n) == 0 &&
                (j + n == len || !(isalnum((unsigned char)text[j + n]) || text[j + n] == '_')))
                return true;
        }
        const char *nl = memchr(text + i, '\n', len - i);
        i = nl ? (size_t)(nl - text) + 1 : len;
    }
    return false;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The standard library module, not imported, that defines layer `name`
 * (the first by name if several do), or NULL.  The stdlib directory (the
 * last on the search path) is scanned, so no table of its layers can go
 * stale. */
static const char *stdlib_module_of(sema *s, const char *name)
{
    if (s->c->import_dirs.len == 0)
        return NULL;
    const char *dir = s->c->import_dirs.items[s->c->import_dirs.len - 1];
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    SL_VEC(const char *) mods = {0};
    for (struct dirent *e; (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (n > 4 && strcmp(e->d_name + n - 4, ".slu") == 0)
            SL_VEC_PUSH(&s->c->arena, &mods, sl_arena_strndup(&s->c->arena, e->d_name, n - 4));
    }
    closedir(d);
    if (mods.len)
        qsort(mods.items, mods.len, sizeof *mods.items, compare_names);
    for (size_t i = 0; i < mods.len; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.slu", dir, mods.items[i]);
        bool loaded = false;
        for (size_t j = 0; j < s->loaded.len && !loaded; j++)
            loaded = strcmp(s->c->sources.items[s->loaded.items[j]].path, path) == 0;
        FILE *f = loaded ? NULL : fopen(path, "rb");
        if (!f)
            continue;
        enum { MAX_SCAN = 1 << 20 }; /* a module's first MiB is plenty */
        char *text = malloc(MAX_SCAN);
        if (!text)
            sl_out_of_memory();
        size_t len = fread(text, 1, MAX_SCAN, f);
        fclose(f);
        bool found = defines_layer(text, len, name);
        free(text);
        if (found)
            return mods.items[i];
    }
    return NULL;
}

static void unknown_kind(sema *s, const sl_kind_ast *k)
{
    const char *module = stdlib_module_of(s, k->name);
    if (module) {
        sema_err(s, k->name_span, "unknown layer kind '%s': it is defined in the standard "
                 "library module '%s'; add 'import %s'", k->name, module, module);
        return;
    }
    suggest g = {k->name, NULL, SIZE_MAX};
    for (size_t i = 0; i < sizeof builtin_kinds / sizeof *builtin_kinds; i++)
        sema_suggest_try(&g, builtin_kinds[i].name);
    sema_suggest_try(&g, "list");
    for (size_t i = 0; i < s->layers.len; i++)
        sema_suggest_try(&g, s->layers.items[i]->name);
    if (g.best)
        sema_err(s, k->name_span, "unknown layer kind '%s'; did you mean '%s'?", k->name, g.best);
    else
        sema_err(s, k->name_span, "unknown layer kind '%s'", k->name);
}

/* The words after a kind: `causal` for attention, nothing else. */
static bool check_flags(sema *s, const sl_kind_ast *k, sl_inst *inst)
{
    for (const sl_dim *f = k->flags; f; f = f->next) {
        if (inst->kind == SL_P_ATTENTION && strcmp(f->name, "causal") == 0 && !inst->causal) {
            inst->causal = true;
            continue;
        }
        if (inst->kind == SL_P_ATTENTION)
            sema_err(s, f->span, "unknown option '%s' of attention (it takes 'causal')", f->name);
        else
            sema_err(s, f->span, "unexpected '%s' after the kind %s", f->name, inst->kind_str);
        return false;
    }
    return true;
}

/* A bank of N instances of one kind: expert[N] of K, list[N] of K. */
static sl_inst *instantiate_bank(sema *s, sl_inst *inst, const sl_kind_ast *k, const dim_scope *sc)
{
    const char *what = k->form == SL_KIND_LIST ? "a list" : "an expert bank";
    if (k->form == SL_KIND_LIST && (strcmp(k->name, "list") != 0 || k->n_args != 1 ||
                                    k->blocks || k->flags)) {
        sema_err(s, k->span, "'%s[...] of' is not a kind; a list of layers is written "
                 "'list[N] of <kind>'", k->name);
        return NULL;
    }
    int64_t n = sema_eval_dim(s, k->args, sc);
    if (n < 0)
        return NULL;
    if (n > SL_MAX_EXPERTS) {
        sema_err(s, k->args->span, "%s holds at most %d %s", what, SL_MAX_EXPERTS,
                 k->form == SL_KIND_LIST ? "layers" : "experts");
        return NULL;
    }
    if (k->elem->form == SL_KIND_EXPERT || k->elem->form == SL_KIND_LIST) {
        sema_err(s, k->elem->span, "%s cannot hold %s", what,
                 k->elem->form == SL_KIND_LIST ? "lists" : "expert banks");
        return NULL;
    }
    inst->kind = SL_P_BANK;
    inst->is_list = k->form == SL_KIND_LIST;
    inst->children = sl_arena_array(&s->c->arena, (size_t)n, sizeof *inst->children);
    for (int64_t i = 0; i < n; i++) {
        const char *p = sl_arena_printf(&s->c->arena, "%s.%lld", inst->path, (long long)i);
        sl_inst *e = sema_instantiate(s, k->elem, inst->name, p, inst->span, sc);
        if (!e)
            return NULL;
        inst->children[inst->n_children++] = e;
    }
    inst->in_ty = inst->children[0]->in_ty;
    inst->out_ty = inst->children[0]->out_ty;
    inst->kind_str = sl_arena_printf(&s->c->arena, "%s[%lld] of %s",
                                     k->form == SL_KIND_LIST ? "list" : "expert", (long long)n,
                                     inst->children[0]->kind_str);
    return inst;
}

/* dense[in -> out] [blocks K] */
static sl_inst *instantiate_dense(sema *s, sl_inst *inst, const sl_kind_ast *k,
                                  const dim_scope *sc)
{
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
            sema_err(s, k->blocks->span, "%lld output units do not split into %lld equal blocks",
                     (long long)v[1], (long long)b);
            return NULL;
        }
        inst->blocks = b;
        inst->kind_str = sl_arena_printf(&s->c->arena, "%s blocks %lld", inst->kind_str,
                                         (long long)b);
    }
    return inst;
}

/* The kinds with [d, ...] arguments: norms, learned values, embeddings,
 * attention. */
static sl_inst *instantiate_builtin(sema *s, sl_inst *inst, const builtin_kind *bk,
                                    const sl_kind_ast *k, const dim_scope *sc)
{
    if (k->n_args != bk->n_args || !k->has_brackets) {
        sema_err(s, k->span, "%s is written '%s'", bk->name, bk->written);
        return NULL;
    }
    int64_t v[2] = {0, 0};
    int i = 0;
    for (const sl_dim *d = k->args; d; d = d->next, i++)
        if ((v[i] = sema_eval_dim(s, d, sc)) < 0)
            return NULL;
    inst->kind = bk->kind;
    inst->kind_str = kind_str(s, k, v, k->n_args);
    switch (bk->kind) {
    case SL_P_LAYERNORM: case SL_P_BATCHNORM:
        inst->n_in = inst->n_out = v[0];
        inst->in_ty = inst->out_ty = sl_ty_vector(SL_F32, v[0]);
        break;
    case SL_P_TENSOR:
        if (k->n_args == 2 && v[0] * v[1] > SL_MAX_DIM) {
            sema_err(s, k->span, "a value of more than %lld elements", (long long)SL_MAX_DIM);
            return NULL;
        }
        inst->out_ty = k->n_args == 1 ? sl_ty_vector(SL_F32, v[0])
                                      : sema_rows_ty(s, SL_F32, 2, 0, v[0], &v[1]);
        break;
    case SL_P_EMBEDDING:
        if (v[0] * v[1] > SL_MAX_DIM) {
            sema_err(s, k->span, "a table of more than %lld elements", (long long)SL_MAX_DIM);
            return NULL;
        }
        inst->n_in = v[0];
        inst->n_out = v[1];
        inst->in_ty = sl_ty_scalar(SL_I32);
        inst->out_ty = sl_ty_vector(SL_F32, v[1]);
        break;
    case SL_P_ATTENTION:
        if (v[0] % v[1] != 0) {
            sema_err(s, k->args->next->span, "%lld features do not split into %lld heads",
                     (long long)v[0], (long long)v[1]);
            return NULL;
        }
        inst->n_in = inst->n_out = v[0];
        inst->heads = v[1];
        inst->in_ty = inst->out_ty = sl_ty_vector(SL_F32, v[0]); /* per token */
        break;
    default:
        break;
    }
    if (!check_flags(s, k, inst))
        return NULL;
    if (inst->causal)
        inst->kind_str = sl_arena_printf(&s->c->arena, "%s causal", inst->kind_str);
    return inst;
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
    inst->w_tensor = inst->b_tensor = inst->w2_tensor = inst->b2_tensor = -1;

    if (k->blocks && !(k->form == SL_KIND_ARROW && strcmp(k->name, "dense") == 0)) {
        sema_err(s, k->blocks->span, "only a dense layer can be split into blocks");
        return NULL;
    }
    if (k->form == SL_KIND_EXPERT || k->form == SL_KIND_LIST)
        return instantiate_bank(s, inst, k, sc);
    const builtin_kind *bk = find_kind(k->name);
    if (k->form == SL_KIND_ARROW) {
        if (!bk || bk->kind != SL_P_DENSE) {
            if (bk || sema_find_layer(s, k->name))
                sema_err(s, k->span, "only dense takes 'in -> out'; '%s' takes '%s[...]'", k->name,
                         k->name);
            else
                unknown_kind(s, k);
            return NULL;
        }
        if (!instantiate_dense(s, inst, k, sc))
            return NULL;
        return check_flags(s, k, inst) ? inst : NULL;
    }
    if (bk && bk->kind == SL_P_DENSE) {
        sema_err(s, k->span, "dense is written 'dense[in -> out]'");
        return NULL;
    }
    if (bk)
        return instantiate_builtin(s, inst, bk, k, sc);
    const sl_unit *layer = sema_find_layer(s, k->name);
    if (!layer) {
        unknown_kind(s, k);
        return NULL;
    }
    if (!instantiate_layer(s, inst, layer, k, sc))
        return NULL;
    return check_flags(s, k, inst) ? inst : NULL;
}

/* A parameter's path: its parent's, then its own name or `from "..."`
 * (which may hold dots, or be empty: no level of its own). */
const char *sema_param_path(sema *s, const char *parent, const sl_decl *d)
{
    const char *own = d->path ? d->path : d->name;
    if (!parent || !*parent)
        return own;
    if (!*own)
        return parent;
    return sl_arena_printf(&s->c->arena, "%s.%s", parent, own);
}
