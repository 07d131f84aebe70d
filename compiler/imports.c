/* imports.c - modules and declarations: the checks of a unit's declarations
 * that need no shapes (every layer gets them when registered, the model
 * before it is checked), and loading modules: following imports through
 * the search path (-I directories, the model's directory, the stdlib) and
 * registering their layers. */
#include <stdio.h>
#include <string.h>

#include "sema.h"

/* ---- declarations ------------------------------------------------------ */

/* Checks of a unit's declarations that need no shapes: one input and one
 * output, names unique and not reserved, what belongs to models only. */
void sema_check_decls(sema *s, const sl_unit *u)
{
    bool is_model = u->kind == SL_UNIT_MODEL;
    const char *what = is_model ? "model" : "layer";
    const sl_decl *input = NULL, *output = NULL, *weights = NULL, *tokens = NULL;
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
                sema_err(s, d->span, "'weights' belongs in the model, not in layer '%s'", u->name);
            else if (weights) {
                sema_err(s, d->span, "the model's weights are already given");
                sl_note(s->c, weights->span, "here");
            }
            weights = d;
            continue;
        }
        if (d->kind == SL_DECL_TOKENS) {
            if (tokens) {
                sema_err(s, d->span, "a %s has one token count; '%s' is already it", what,
                         tokens->name);
                continue;
            }
            tokens = d;
            if (!is_model && d->bounds) {
                sema_err(s, d->bounds->span, "a layer's token count is what it is applied to; "
                         "only the model's has bounds");
                continue;
            }
        }
        if (sema_is_reserved(d->name)) {
            sema_err(s, d->name_span, "'%s' names a builtin; choose another name", d->name);
            continue;
        }
        if (prev) {
            sema_err(s, d->name_span, "redefinition of '%s'", d->name);
            sl_note(s->c, prev->name_span, "previous definition is here");
        }
        for (const sl_dim *p = u->dim_params; p; p = p->next)
            if (strcmp(p->name, d->name) == 0) {
                sema_err(s, d->name_span, "'%s' is already a shape parameter of layer '%s'",
                         d->name, u->name);
                break;
            }
        if (d->kind == SL_DECL_INPUT) {
            if (input) {
                sema_err(s, d->span, "a %s has one input; '%s' is already it", what, input->name);
                continue;
            }
            input = d;
        }
        if (d->kind == SL_DECL_OUTPUT) {
            if (output) {
                sema_err(s, d->span, "a %s has one output; '%s' is already it", what, output->name);
                continue;
            }
            output = d;
        }
    }
    for (const sl_dim *p = u->dim_params; p; p = p->next)
        for (const sl_dim *q = u->dim_params; q != p; q = q->next)
            if (strcmp(p->name, q->name) == 0)
                sema_err(s, p->span, "shape parameter '%s' is listed twice", p->name);
    if (!input)
        sema_err(s, u->name_span, "%s '%s' has no input; declare one: 'input x: f32[N]'", what,
                 u->name);
    if (!output)
        sema_err(s, u->name_span, "%s '%s' has no output; declare one: 'output y: f32[N]'", what,
                 u->name);
}

/* ---- imports ----------------------------------------------------------- */

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
        sema_load_module(s, m, false);
        return;
    }
    sema_err(s, u->name_span, "module '%s' not found (looked for %s.slu in %zu director%s; add one "
             "with -I)", u->name, u->name, s->c->import_dirs.len,
             s->c->import_dirs.len == 1 ? "y" : "ies");
}

/* Register a module's layers and follow its imports. */
void sema_load_module(sema *s, sl_module *m, bool is_main)
{
    for (const sl_unit *u = m->units; u; u = u->next) {
        switch (u->kind) {
        case SL_UNIT_IMPORT:
            import(s, u);
            break;
        case SL_UNIT_MODEL:
            if (!is_main)
                sema_err(s, u->name_span, "model '%s' in an imported module; a module imported "
                         "with 'import' holds only layers", u->name);
            break;
        case SL_UNIT_LAYER: {
            const sl_unit *prev = sema_find_layer(s, u->name);
            if (prev) {
                sema_err(s, u->name_span, "redefinition of layer '%s'", u->name);
                sl_note(s->c, prev->name_span, "previous definition is here");
                break;
            }
            if (sema_is_reserved(u->name) || sema_is_builtin_kind(u->name)) {
                sema_err(s, u->name_span, "'%s' names a builtin; choose another name", u->name);
                break;
            }
            sema_check_decls(s, u);
            sl_names_put(&s->c->arena, &s->layer_index, u->name, (int)s->layers.len);
            SL_VEC_PUSH(&s->c->arena, &s->layers, u);
            break;
        }
        }
    }
}
