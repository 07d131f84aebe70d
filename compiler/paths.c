/* paths.c - where sluicec finds imported modules and the runtime. */
#include <stdlib.h>
#include <string.h>

#include "driver.h"

#ifndef SLUICE_STDLIB_DIR
#error "SLUICE_STDLIB_DIR must be defined by the build"
#endif

void sl_driver_import_dirs(sl_ctx *c, const sl_options *o)
{
    for (size_t i = 0; i < o->import_dirs.len; i++)
        SL_VEC_PUSH(&c->arena, &c->import_dirs, o->import_dirs.items[i]);
    /* The model's own directory, so a model can import its neighbours. */
    if (o->input && strcmp(o->input, "-") != 0) {
        const char *slash = strrchr(o->input, '/');
        const char *dir = slash ? sl_arena_strndup(&c->arena, o->input,
                                                   (size_t)(slash - o->input))
                                : ".";
        if (slash == o->input)
            dir = "/";
        SL_VEC_PUSH(&c->arena, &c->import_dirs, dir);
    }
    const char *env = getenv("SLUICE_STDLIB");
    SL_VEC_PUSH(&c->arena, &c->import_dirs, env && *env ? env : SLUICE_STDLIB_DIR);
}
