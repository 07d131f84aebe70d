/* types.c - tensor types of checked values. */
#include <string.h>

#include "compiler.h"

int64_t sl_ty_numel(sl_ty t)
{
    int64_t n = 1;
    for (int i = 0; i < t.rank; i++)
        n *= t.dims[i]; /* dims are checked <= SL_MAX_DIM and rank <= 1 today */
    return n;
}

bool sl_ty_equal(sl_ty a, sl_ty b)
{
    if (a.elem != b.elem || a.rank != b.rank)
        return false;
    for (int i = 0; i < a.rank; i++)
        if (a.dims[i] != b.dims[i])
            return false;
    return true;
}

sl_ty sl_ty_scalar(sl_elem e)
{
    sl_ty t = {0};
    t.elem = e;
    return t;
}

sl_ty sl_ty_vector(sl_elem e, int64_t n)
{
    sl_ty t = {0};
    t.elem = e;
    t.rank = 1;
    t.dims[0] = n;
    return t;
}

const char *sl_ty_str(sl_ctx *c, sl_ty t)
{
    static const char *const names[] = {"f32", "i32", "bool"};
    char buf[128];
    size_t n = (size_t)snprintf(buf, sizeof buf, "%s", names[t.elem]);
    if (t.rank) {
        for (int i = 0; i < t.rank && n < sizeof buf; i++)
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%lld", i ? ", " : "[",
                                  (long long)t.dims[i]);
        if (n < sizeof buf - 1)
            strcat(buf, "]");
    }
    return sl_arena_strdup(&c->arena, buf);
}
