/* types.c - tensor types of checked values, and FLOP counts as
 * polynomials in the token count. */
#include <stdio.h>
#include <string.h>

#include "compiler.h"

int64_t sl_ty_numel(sl_ty t)
{
    int64_t n = 1;
    for (int i = 0; i < t.rank; i++)
        n *= t.dims[i]; /* the checker keeps every type's numel within SL_MAX_DIM */
    return n;
}

bool sl_ty_is_seq(sl_ty t) { return t.tok_a > 0; }

int64_t sl_ty_inner(sl_ty t)
{
    if (!sl_ty_is_seq(t))
        return sl_ty_numel(t);
    int64_t n = 1;
    for (int i = 1; i < t.rank; i++)
        n *= t.dims[i];
    return n;
}

bool sl_ty_equal(sl_ty a, sl_ty b)
{
    if (a.elem != b.elem || a.rank != b.rank || a.tok_a != b.tok_a || a.tok_c != b.tok_c)
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

/* "T", "T + 1", "2*T - 1" */
static size_t tokens_str(char *buf, size_t cap, int32_t a, int64_t c, const char *name)
{
    size_t n = a == 1 ? (size_t)snprintf(buf, cap, "%s", name)
                      : (size_t)snprintf(buf, cap, "%d*%s", a, name);
    if (c != 0 && n < cap)
        n += (size_t)snprintf(buf + n, cap - n, " %c %lld", c > 0 ? '+' : '-',
                              (long long)(c > 0 ? c : -c));
    return n;
}

const char *sl_ty_str(sl_ctx *c, sl_ty t)
{
    static const char *const names[] = {"f32", "i32", "bool"};
    char buf[160];
    size_t n = (size_t)snprintf(buf, sizeof buf, "%s", names[t.elem]);
    for (int i = 0; i < t.rank && n < sizeof buf - 24; i++) {
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s", i ? ", " : "[");
        if (i == 0 && sl_ty_is_seq(t))
            n += tokens_str(buf + n, sizeof buf - n, t.tok_a, t.tok_c,
                            c->tokens_name ? c->tokens_name : "T");
        else
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%lld", (long long)t.dims[i]);
    }
    if (t.rank && n < sizeof buf - 1)
        strcat(buf, "]");
    return sl_arena_strdup(&c->arena, buf);
}

/* ---- FLOPs ---------------------------------------------------------------- */

sl_flops sl_flops_add(sl_flops a, sl_flops b)
{
    return (sl_flops){a.k + b.k, a.t + b.t, a.tt + b.tt};
}

sl_flops sl_flops_scale(sl_flops a, double s)
{
    return (sl_flops){a.k * s, a.t * s, a.tt * s};
}

sl_flops sl_flops_per_row(sl_ty t, sl_flops per_row)
{
    if (sl_ty_is_seq(t))
        return (sl_flops){per_row.k * (double)t.tok_c, per_row.k * t.tok_a, 0};
    return sl_flops_scale(per_row, t.rank == 2 ? (double)t.dims[0] : 1.0);
}

double sl_flops_at(sl_flops f, double tokens)
{
    return f.k + (f.t + f.tt * tokens) * tokens;
}

bool sl_flops_is_zero(sl_flops f) { return f.k == 0 && f.t == 0 && f.tt == 0; }

const char *sl_flops_str(sl_ctx *c, sl_flops f, const char *tokens_name)
{
    char buf[160];
    size_t n = 0;
    if (f.k != 0 || (f.t == 0 && f.tt == 0))
        n = (size_t)snprintf(buf, sizeof buf, "%.0f", f.k);
    if (f.t != 0)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%.0f*%s", n ? " + " : "", f.t,
                              tokens_name);
    if (f.tt != 0)
        snprintf(buf + n, sizeof buf - n, "%s%.0f*%s^2", n ? " + " : "", f.tt, tokens_name);
    return sl_arena_strdup(&c->arena, buf);
}
