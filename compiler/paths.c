/* paths.c - where sluicec finds imported modules and the runtime: beside
 * an installed sluicec (PREFIX/bin/sluicec: PREFIX/share/sluice/stdlib,
 * PREFIX/lib/sluice, PREFIX/include), else where the build put them. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver.h"

const char *sl_installed_path(sl_ctx *c, const char *rel)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash || slash - exe < 4 || strncmp(slash - 4, "/bin", 4) != 0)
        return NULL; /* not PREFIX/bin/sluicec: a build tree */
    slash[-4] = '\0';
    const char *path = sl_arena_printf(&c->arena, "%s/%s", exe, rel);
    const char *marker = sl_arena_printf(&c->arena, "%s/share/sluice/stdlib", exe);
    return access(marker, R_OK) == 0 ? path : NULL;
}

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
    const char *installed = sl_installed_path(c, "share/sluice/stdlib");
    SL_VEC_PUSH(&c->arena, &c->import_dirs,
                env && *env ? env : installed ? installed : SLUICE_STDLIB_DIR);
}
