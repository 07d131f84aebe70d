/* check_shape.c - tensor plumbing: broadcasting, subscripts (an element, a
 * row or token, a column, a slice), vector literals, and the builtins that
 * shape values: pooling over tokens, concatenation, constant vectors, the
 * k-largest mask.
 *
 * A matrix or a sequence has rows: its first dimension, of a * T + c rows
 * for the model's token count T (a = 0 for a matrix).  A vector has no
 * rows; it is what one row holds. */
#include <string.h>

#include "sema.h"

/* ---- broadcasting ------------------------------------------------------- */

static bool same_shape(sl_ty a, sl_ty b)
{
    a.elem = b.elem;
    return sl_ty_equal(a, b);
}

bool sema_broadcast(sema *s, sl_span at, sl_ty a, sl_ty b, sl_ty *out)
{
    int32_t ra, rb;
    int64_t ca, cb;
    if (a.rank == 0 || b.rank == 0) {
        *out = a.rank == 0 ? b : a;
        return true;
    }
    if (same_shape(a, b)) {
        *out = a;
        return true;
    }
    /* a vector against the rows of a matrix or sequence as long */
    for (int k = 0; k < 2; k++) {
        sl_ty m = k ? b : a, v = k ? a : b;
        if (m.rank == 2 && v.rank == 1 && !sl_ty_is_seq(v) && v.dims[0] == m.dims[1]) {
            *out = m;
            return true;
        }
        /* a value per token against the tokens of a sequence */
        if (m.rank == 2 && v.rank == 1 && sema_rows_of(m, &ra, &ca) &&
            sema_rows_of(v, &rb, &cb) && ra == rb && ca == cb && ra > 0) {
            *out = m;
            return true;
        }
    }
    if (a.rank == 1 && b.rank == 1 && !sl_ty_is_seq(a) && !sl_ty_is_seq(b))
        sema_err(s, at, "shapes %s and %s do not match (they must be equal, or one a scalar)",
                 sema_ty_str(s, a), sema_ty_str(s, b));
    else
        sema_err(s, at, "shapes %s and %s do not match (they must be equal, one a scalar, a "
                 "vector as long as the rows of the other, or a value per token against a "
                 "sequence)", sema_ty_str(s, a), sema_ty_str(s, b));
    return false;
}

/* ---- extents ------------------------------------------------------------ */

/* "T + 1", "16": an extent as the messages show it. */
static const char *extent_str(sema *s, int32_t a, int64_t c)
{
    sl_ty t = sema_rows_ty(s, SL_F32, 1, a, c, NULL);
    const char *full = sema_ty_str(s, t); /* "f32[T + 1]" */
    size_t n = strlen(full);
    return sl_arena_strndup(&s->c->arena, full + 4, n - 5);
}

/* Does e name a shape parameter or the token count (a dimension, not a
 * value)? */
static bool names_dim(sema *s, const sl_expr *e)
{
    switch (e->kind) {
    case SL_EX_NAME:
        if (s->fr->tokens && strcmp(s->fr->tokens->name, e->name) == 0)
            return true;
        for (const sl_dim *p = s->fr->unit->dim_params; p; p = p->next)
            if (strcmp(p->name, e->name) == 0)
                return true;
        return false;
    case SL_EX_BINARY:
        return names_dim(s, e->lhs) || names_dim(s, e->rhs);
    case SL_EX_UNARY:
        return names_dim(s, e->lhs);
    default:
        return false;
    }
}

/* A bound: a constant integer (may be 0 or negative), or a dimension
 * (which may grow with the token count). */
static bool bound(sema *s, env_t *env, const sl_expr *e, int32_t *a, int64_t *c)
{
    if (names_dim(s, e))
        return sema_expr_extent(s, e, a, c);
    *a = 0;
    return sema_const_int(s, env, e, c);
}

static bool static_count(sema *s, env_t *env, const sl_expr *e, int64_t *n)
{
    int32_t a;
    if (!bound(s, env, e, &a, n))
        return false;
    if (a != 0) {
        sema_err(s, e->span, "the token count varies per input; this must be a constant");
        return false;
    }
    return true;
}

/* ---- nodes -------------------------------------------------------------- */

static sl_node *unary_node(sema *s, sl_op op, sl_ty t, sl_span at, sl_node *x, int axis,
                           int64_t index)
{
    sl_node *n = sema_node(s, op, t, at, x, NULL);
    if (!n)
        return NULL;
    n->axis = axis;
    n->index = index;
    return sema_emit(s, n);
}

static sl_node *nary_node(sema *s, sl_op op, sl_ty t, sl_span at, sl_node **args, int n_args,
                          int axis)
{
    sl_node *n = sema_node(s, op, t, at, NULL, NULL);
    if (!n)
        return NULL;
    n->args = args;
    n->n_args = n_args;
    n->axis = axis;
    for (int i = 0; i < n_args; i++) {
        if (!sema_same_tokens(s, args[i], at, NULL))
            return NULL;
        sema_use(args[i]);
    }
    return sema_emit(s, n);
}

static sl_node *const_vec(sema *s, sl_ty t, float *vals, sl_span at)
{
    sl_node *n = sema_node(s, SL_OP_CONST_VEC, t, at, NULL, NULL);
    if (!n)
        return NULL;
    n->cvals = vals;
    return sema_emit(s, n);
}

/* ---- subscripts ----------------------------------------------------------- */

/* Row or token k of x (k < 0: from the end). */
static sl_node *take_row(sema *s, sl_node *x, int64_t k, const sl_expr *at, sl_span span)
{
    int32_t a;
    int64_t c;
    if (x->ty.rank == 1 && !sl_ty_is_seq(x->ty)) { /* an element of a vector */
        int64_t n = x->ty.dims[0];
        if (k < -n || k >= n) {
            sema_err(s, at->span, "index %lld is out of range for %s", (long long)k,
                     sema_ty_str(s, x->ty));
            return NULL;
        }
        return unary_node(s, SL_OP_INDEX, sl_ty_scalar(x->ty.elem), span, x, 0, k < 0 ? k + n : k);
    }
    sema_rows_of(x->ty, &a, &c);
    int64_t fewest = a ? sema_extent_min(s, a, c) : c;
    if (k < -fewest || k >= fewest) {
        sema_err(s, at->span, "index %lld is out of range for %s%s", (long long)k,
                 sema_ty_str(s, x->ty),
                 a ? sl_arena_printf(&s->c->arena, " (which may have only %lld)",
                                     (long long)fewest)
                   : "");
        return NULL;
    }
    if (!a && k < 0)
        k += c; /* counted from the end of a fixed length: known here */
    sl_ty t = x->ty.rank == 2 ? sl_ty_vector(x->ty.elem, x->ty.dims[1]) : sl_ty_scalar(x->ty.elem);
    return unary_node(s, SL_OP_TAKE, t, span, x, 0, k);
}

/* Rows [from, to) of x, or of a vector its elements. */
static sl_node *slice_rows(sema *s, env_t *env, sl_node *x, const sl_expr *sl, sl_span span)
{
    int32_t ea, ta = 0;
    int64_t ec, from = 0, tc;
    bool vector = x->ty.rank == 1 && !sl_ty_is_seq(x->ty);
    if (vector) {
        ea = 0;
        ec = x->ty.dims[0];
    } else {
        sema_rows_of(x->ty, &ea, &ec);
    }
    if (sl->lhs) {
        int32_t fa;
        if (!bound(s, env, sl->lhs, &fa, &from))
            return NULL;
        if (fa != 0) {
            sema_err(s, sl->lhs->span, "a slice's start must be a constant (it may not vary "
                     "with the token count)");
            return NULL;
        }
        if (from < 0 && ea == 0)
            from += ec;
        if (from < 0) {
            sema_err(s, sl->lhs->span, "a negative start counts from the end, which varies with "
                     "the token count; slice from the start");
            return NULL;
        }
    }
    ta = ea;
    tc = ec;
    if (sl->rhs) {
        if (!bound(s, env, sl->rhs, &ta, &tc))
            return NULL;
        if (ta == 0 && tc < 0 && ea == 0)
            tc += ec;
        else if (ta == 0 && tc < 0) {
            sema_err(s, sl->rhs->span, "a negative end counts from the end, which varies with "
                     "the token count");
            return NULL;
        }
    }
    if (vector && ta != 0) {
        sema_err(s, sl->span, "a vector's length is fixed; a slice that ends with the token "
                 "count takes rows of a sequence or a matrix, not %s", sema_ty_str(s, x->ty));
        return NULL;
    }
    /* from < to <= the extent, for every token count (linear in T: its
     * ends are enough) */
    int64_t lo = s->p->tokens_min, hi = s->p->tokens_max;
    bool ok = true;
    int64_t ends[2] = {lo, hi};
    for (int i = 0; i < 2 && ok; i++) {
        int64_t t = ends[i];
        int64_t to = ta * t + tc, ext = ea * t + ec;
        ok = to <= ext && from < to;
    }
    if (!ok) {
        sema_err(s, sl->span, "slice [%lld:%s] is out of range for %s", (long long)from,
                 extent_str(s, ta, tc), sema_ty_str(s, x->ty));
        return NULL;
    }
    sl_ty t;
    if (vector || (x->ty.rank == 1 && ta == 0 && !sl_ty_is_seq(x->ty)))
        t = sl_ty_vector(x->ty.elem, tc - from);
    else
        t = sema_rows_ty(s, x->ty.elem, x->ty.rank, ta, tc - from, &x->ty.dims[1]);
    if (from == 0 && same_shape(t, x->ty))
        return x; /* all of it */
    return unary_node(s, SL_OP_SLICE, t, span, x, 0, from);
}

/* Column j, or columns [from, to), of a matrix or sequence. */
static sl_node *columns(sema *s, env_t *env, sl_node *x, const sl_expr *sub, sl_span span)
{
    int32_t a;
    int64_t c, d = x->ty.dims[1];
    sema_rows_of(x->ty, &a, &c);
    if (sub->kind != SL_EX_SLICE) {
        int64_t j;
        if (!static_count(s, env, sub, &j))
            return NULL;
        if (j < -d || j >= d) {
            sema_err(s, sub->span, "index %lld is out of range for the %lld columns of %s",
                     (long long)j, (long long)d, sema_ty_str(s, x->ty));
            return NULL;
        }
        sl_ty t = sema_rows_ty(s, x->ty.elem, 1, a, c, NULL);
        return unary_node(s, SL_OP_TAKE, t, span, x, 1, j < 0 ? j + d : j);
    }
    int64_t from = 0, to = d;
    if (sub->lhs && !static_count(s, env, sub->lhs, &from))
        return NULL;
    if (sub->rhs && !static_count(s, env, sub->rhs, &to))
        return NULL;
    if (from < 0)
        from += d;
    if (to < 0)
        to += d;
    if (from < 0 || from >= to || to > d) {
        sema_err(s, sub->span, "slice [%lld:%lld] is out of range for the %lld columns of %s",
                 (long long)from, (long long)to, (long long)d, sema_ty_str(s, x->ty));
        return NULL;
    }
    if (from == 0 && to == d)
        return x;
    int64_t width = to - from;
    return unary_node(s, SL_OP_SLICE, sema_rows_ty(s, x->ty.elem, 2, a, c, &width), span, x, 1,
                      from);
}

static sl_node *first_dim(sema *s, env_t *env, sl_node *x, const sl_expr *sub, sl_span span)
{
    if (sub->kind == SL_EX_SLICE)
        return slice_rows(s, env, x, sub, span);
    int64_t k;
    if (!sema_const_int(s, env, sub, &k))
        return NULL;
    return take_row(s, x, k, sub, span);
}

sl_node *sema_subscript(sema *s, env_t *env, const sl_expr *e)
{
    sl_node *x = sema_expr(s, env, e->lhs);
    if (!x)
        return NULL;
    if (x->ty.rank == 0) {
        sema_err(s, e->lhs->span, "only a vector, a matrix or a sequence can be indexed, not %s",
                 sema_ty_str(s, x->ty));
        return NULL;
    }
    if (e->n_args > x->ty.rank) {
        sema_err(s, e->span, "%d subscripts for %s, which has %d dimension%s", e->n_args,
                 sema_ty_str(s, x->ty), x->ty.rank, x->ty.rank == 1 ? "" : "s");
        return NULL;
    }
    const sl_expr *s0 = e->args, *s1 = e->n_args == 2 ? e->args->next : NULL;
    if (s1) { /* the columns first: the rows keep their meaning */
        if (!(x = columns(s, env, x, s1, e->span)))
            return NULL;
        if (s0->kind == SL_EX_SLICE && !s0->lhs && !s0->rhs)
            return x;
    }
    return first_dim(s, env, x, s0, e->span);
}

/* ---- literals and concatenation ----------------------------------------- */

/* The common element type of values combined into one: bools with bools,
 * numbers with numbers (i32 converted where an f32 is among them). */
static bool unify_elems(sema *s, sl_node **v, int n, const sl_expr *e, const char *what)
{
    bool any_bool = false, any_num = false, any_f32 = false;
    for (int i = 0; i < n; i++) {
        any_bool |= v[i]->ty.elem == SL_BOOL;
        any_num |= v[i]->ty.elem != SL_BOOL;
        any_f32 |= v[i]->ty.elem == SL_F32;
    }
    if (any_bool && any_num) {
        sema_err(s, e->span, "%s mixes bools and numbers", what);
        return false;
    }
    for (int i = 0; any_f32 && i < n; i++)
        if (!(v[i] = sema_to_f32(s, v[i])))
            return false;
    return true;
}

static sl_node **eval_args(sema *s, env_t *env, const sl_expr *first, int n)
{
    sl_node **v = sl_arena_array(&s->c->arena, (size_t)n + 1, sizeof *v);
    int i = 0;
    for (const sl_expr *a = first; a; a = a->next, i++)
        if (!(v[i] = sema_expr(s, env, a)))
            return NULL;
    return v;
}

/* [a, b, c]: scalars make a vector (a constant one if they all are);
 * vectors of one length make a matrix, one row each. */
sl_node *sema_list_literal(sema *s, env_t *env, const sl_expr *e)
{
    int n = e->n_args;
    sl_node **v = eval_args(s, env, e->args, n);
    if (!v || !unify_elems(s, v, n, e, "a vector literal"))
        return NULL;
    if (v[0]->ty.rank == 1 && !sl_ty_is_seq(v[0]->ty)) { /* vectors: the rows of a matrix */
        int64_t d = v[0]->ty.dims[0];
        for (int i = 0; i < n; i++)
            if (v[i]->ty.rank != 1 || sl_ty_is_seq(v[i]->ty) || v[i]->ty.dims[0] != d) {
                sema_err(s, e->span, "a matrix literal's rows are vectors of one length, not %s "
                         "and %s", sema_ty_str(s, v[0]->ty), sema_ty_str(s, v[i]->ty));
                return NULL;
            }
        if ((int64_t)n * d > SL_MAX_DIM) {
            sema_err(s, e->span, "a value of more than %lld elements", (long long)SL_MAX_DIM);
            return NULL;
        }
        return nary_node(s, SL_OP_CONCAT, sema_rows_ty(s, v[0]->ty.elem, 2, 0, n, &d), e->span,
                         v, n, 0);
    }
    bool all_const = true;
    for (int i = 0; i < n; i++) {
        if (v[i]->ty.rank != 0) {
            sema_err(s, e->span, "a vector literal holds scalars (or vectors, one row each), not "
                     "%s", sema_ty_str(s, v[i]->ty));
            return NULL;
        }
        all_const &= v[i]->op == SL_OP_CONST;
    }
    sl_ty t = sl_ty_vector(v[0]->ty.elem, n);
    if (all_const) {
        float *vals = sl_arena_array(&s->c->arena, (size_t)n, sizeof *vals);
        for (int i = 0; i < n; i++)
            vals[i] = (float)v[i]->value;
        return const_vec(s, t, vals, e->span);
    }
    return nary_node(s, SL_OP_STACK, t, e->span, v, n, 0);
}

/* Joined along the first dimension (axis 0): vectors and scalars into a
 * vector; matrices and sequences, and vectors as one row each, into rows;
 * values per token, and scalars as one each, into a value per token.
 * Along the last (axis 1): the columns of matrices or sequences with the
 * same rows, a vector joining every row. */
static sl_node *concat(sema *s, const sl_expr *e, sl_node **v, int n, int axis)
{
    int32_t a = 0, ra;
    int64_t c = 0, rc, width = 0;
    bool rows = false, per_token = false;
    for (int i = 0; i < n; i++) {
        rows |= v[i]->ty.rank == 2;
        per_token |= v[i]->ty.rank == 1 && sl_ty_is_seq(v[i]->ty);
    }
    const char *what = axis ? "concat_features()" : "concat()";
    sl_ty t;
    if (axis == 1 && rows) {
        bool have = false;
        for (int i = 0; i < n; i++) {
            sl_ty x = v[i]->ty;
            if (x.rank == 2) {
                sema_rows_of(x, &ra, &rc);
                if (have && (ra != a || rc != c)) {
                    sema_err(s, e->span, "%s joins the columns of values with the same rows, "
                             "not %s and %s", what, sema_ty_str(s, v[0]->ty), sema_ty_str(s, x));
                    return NULL;
                }
                a = ra, c = rc, have = true;
                width += x.dims[1];
            } else if (x.rank == 1 && !sl_ty_is_seq(x)) {
                width += x.dims[0]; /* the same for every row */
            } else {
                sema_err(s, e->span, "%s joins matrices, sequences and vectors, not %s", what,
                         sema_ty_str(s, x));
                return NULL;
            }
        }
        t = sema_rows_ty(s, v[0]->ty.elem, 2, a, c, &width);
    } else if (rows) {
        int64_t d = -1;
        for (int i = 0; i < n; i++) {
            sl_ty x = v[i]->ty;
            int64_t xd = x.rank == 2 ? x.dims[1] : x.rank == 1 && !sl_ty_is_seq(x) ? x.dims[0] : -1;
            if (xd < 0 || (d >= 0 && xd != d)) {
                sema_err(s, e->span, "%s joins rows of one length, not %s and %s", what,
                         sema_ty_str(s, v[0]->ty), sema_ty_str(s, x));
                return NULL;
            }
            d = xd;
            if (x.rank == 2) {
                sema_rows_of(x, &ra, &rc);
                a += ra, c += rc;
            } else {
                c += 1;
            }
        }
        t = sema_rows_ty(s, v[0]->ty.elem, 2, a, c, &d);
    } else if (per_token) {
        for (int i = 0; i < n; i++) {
            if (sema_rows_of(v[i]->ty, &ra, &rc)) {
                a += ra, c += rc;
            } else if (v[i]->ty.rank == 0) {
                c += 1;
            } else {
                sema_err(s, e->span, "%s joins values per token with scalars, not %s", what,
                         sema_ty_str(s, v[i]->ty));
                return NULL;
            }
        }
        t = sema_rows_ty(s, v[0]->ty.elem, 1, a, c, NULL);
    } else {
        for (int i = 0; i < n; i++)
            width += v[i]->ty.rank ? v[i]->ty.dims[0] : 1;
        t = sl_ty_vector(v[0]->ty.elem, width);
        axis = 0;
    }
    if (sl_ty_numel(t) > SL_MAX_DIM) {
        sema_err(s, e->span, "a value of more than %lld elements", (long long)SL_MAX_DIM);
        return NULL;
    }
    return nary_node(s, SL_OP_CONCAT, t, e->span, v, n, axis);
}

/* ---- builtins ------------------------------------------------------------- */

typedef enum shape_kind {
    SB_POOL, SB_CONCAT, SB_FILL, SB_TOPK, SB_TOP_TOKENS, SB_TOKENS_ABOVE
} shape_kind;

struct shape_builtin {
    const char *name;
    shape_kind kind;
    sl_op op;          /* SB_POOL */
    int axis;          /* SB_CONCAT; SB_TOP_TOKENS, SB_TOKENS_ABOVE: 1 merged */
    double fill;       /* SB_FILL */
};

static const shape_builtin shape_builtins[] = {
    {"pool_mean", SB_POOL, SL_OP_POOL_MEAN, 0, 0},
    {"pool_max", SB_POOL, SL_OP_POOL_MAX, 0, 0},
    {"pool_sum", SB_POOL, SL_OP_POOL_SUM, 0, 0},
    {"concat", SB_CONCAT, SL_OP_CONCAT, 0, 0},
    {"concat_features", SB_CONCAT, SL_OP_CONCAT, 1, 0},
    {"zeros", SB_FILL, SL_OP_CONST_VEC, 0, 0},
    {"ones", SB_FILL, SL_OP_CONST_VEC, 0, 1},
    {"topk_mask", SB_TOPK, SL_OP_TOPK_MASK, 0, 0},
    {"top_tokens", SB_TOP_TOKENS, SL_OP_TOP_TOKENS, 0, 0},
    {"top_tokens_merged", SB_TOP_TOKENS, SL_OP_TOP_TOKENS, 1, 0},
    {"tokens_above", SB_TOKENS_ABOVE, SL_OP_TOP_TOKENS, 0, 0},
    {"tokens_above_merged", SB_TOKENS_ABOVE, SL_OP_TOP_TOKENS, 1, 0},
};

const shape_builtin *sema_find_shape_builtin(const char *name)
{
    for (size_t i = 0; i < sizeof shape_builtins / sizeof *shape_builtins; i++)
        if (strcmp(shape_builtins[i].name, name) == 0)
            return &shape_builtins[i];
    return NULL;
}

const char *sema_shape_builtin_name(int i)
{
    return i < (int)(sizeof shape_builtins / sizeof *shape_builtins) ? shape_builtins[i].name
                                                                       : NULL;
}

static bool arity(sema *s, const sl_expr *e, const char *name, int lo, int hi)
{
    if (e->n_args >= lo && e->n_args <= hi)
        return true;
    if (lo == hi)
        sema_err(s, e->span, "'%s' takes %d argument%s, not %d", name, lo, lo == 1 ? "" : "s",
                 e->n_args);
    else if (hi > 100)
        sema_err(s, e->span, "'%s' takes at least %d arguments, not %d", name, lo, e->n_args);
    else
        sema_err(s, e->span, "'%s' takes %d to %d arguments, not %d", name, lo, hi, e->n_args);
    return false;
}

/* pool_mean(x) and its kin: over the rows (tokens) of x, or the elements
 * of a vector. */
static sl_node *pool(sema *s, env_t *env, const shape_builtin *b, const sl_expr *e)
{
    sl_node *x = sema_expr(s, env, e->args);
    if (!x)
        return NULL;
    if (x->ty.elem == SL_BOOL || x->ty.rank == 0) {
        sema_err(s, e->span, "%s() needs a sequence, a matrix or a vector of numbers, not %s",
                 b->name, sema_ty_str(s, x->ty));
        return NULL;
    }
    if (!(x = sema_to_f32(s, x)))
        return NULL;
    sl_ty t = x->ty.rank == 2 ? sl_ty_vector(SL_F32, x->ty.dims[1]) : sl_ty_scalar(SL_F32);
    return unary_node(s, b->op, t, e->span, x, 0, 0);
}

/* zeros(n), ones(r, c): constants (a matrix may have T rows). */
static sl_node *fill(sema *s, env_t *env, const shape_builtin *b, const sl_expr *e)
{
    int32_t a = 0;
    int64_t c, d = 0;
    if (!bound(s, env, e->args, &a, &c))
        return NULL;
    if (a == 0 && c < 1) {
        sema_err(s, e->args->span, "%s() of %lld elements", b->name, (long long)c);
        return NULL;
    }
    if (e->n_args == 2) {
        if (!static_count(s, env, e->args->next, &d))
            return NULL;
        if (d < 1) {
            sema_err(s, e->args->next->span, "%s() of %lld columns", b->name, (long long)d);
            return NULL;
        }
    }
    if (e->n_args == 1 && a) {
        sema_err(s, e->args->span, "a vector has a fixed length; %s(%s, d) makes a sequence",
                 b->name, sl_span_text(s->c, e->args->span));
        return NULL;
    }
    sl_ty t = e->n_args == 1 ? sl_ty_vector(SL_F32, c) : sema_rows_ty(s, SL_F32, 2, a, c, &d);
    if (sl_ty_numel(t) > SL_MAX_DIM) {
        sema_err(s, e->span, "a value of more than %lld elements", (long long)SL_MAX_DIM);
        return NULL;
    }
    int64_t n = sl_ty_numel(t);
    float *vals = sl_arena_array(&s->c->arena, (size_t)n, sizeof *vals);
    for (int64_t i = 0; i < n; i++)
        vals[i] = (float)b->fill;
    return const_vec(s, t, vals, e->span);
}

/* topk_mask(v, k): true at the k largest elements of v (ties to the lower
 * index), as a route chooses its experts. */
static sl_node *topk_mask(sema *s, env_t *env, const sl_expr *e)
{
    sl_node *v = sema_expr(s, env, e->args);
    int64_t k;
    if (!v || !static_count(s, env, e->args->next, &k))
        return NULL;
    if (v->ty.rank != 1 || sl_ty_is_seq(v->ty) || v->ty.elem == SL_BOOL) {
        sema_err(s, e->args->span, "topk_mask() needs a vector of numbers, not %s",
                 sema_ty_str(s, v->ty));
        return NULL;
    }
    if (k < 1 || k > v->ty.dims[0]) {
        sema_err(s, e->args->next->span, "top %lld of %lld elements", (long long)k,
                 (long long)v->ty.dims[0]);
        return NULL;
    }
    if (!(v = sema_to_f32(s, v)))
        return NULL;
    return unary_node(s, SL_OP_TOPK_MASK, sl_ty_vector(SL_BOOL, v->ty.dims[0]), e->span, v, 0,
                      k);
}

/* top_tokens(x, s, k): the k rows of x with the best scores, in their
 * order, for the rest of the model; merged, one more row: the mean of the
 * others.  k is there in every input; one score per row. */
static sl_node *top_tokens(sema *s, env_t *env, const shape_builtin *b, const sl_expr *e)
{
    sl_node *x = sema_expr(s, env, e->args);
    sl_node *scores = sema_expr(s, env, e->args->next);
    int64_t k;
    if (!x || !scores || !static_count(s, env, e->args->next->next, &k))
        return NULL;
    int32_t a;
    int64_t c;
    if (x->ty.rank != 2 || !sema_rows_of(x->ty, &a, &c) || x->ty.elem == SL_BOOL) {
        sema_err(s, e->args->span, "%s() chooses rows of a sequence or a matrix of numbers, "
                 "not %s", b->name, sema_ty_str(s, x->ty));
        return NULL;
    }
    int64_t fewest = sema_extent_min(s, a, c);
    if (k < 1 || k > fewest) {
        sema_err(s, e->args->next->next->span, "top %lld tokens of %s, which may have only %lld",
                 (long long)k, sema_ty_str(s, x->ty), (long long)fewest);
        return NULL;
    }
    if (!(x = sema_to_f32(s, x)) || !(scores = sema_to_f32(s, scores)))
        return NULL;
    if (!sema_one_per_row(scores->ty, a, c)) {
        sema_err(s, e->args->next->span, "the scores of %s() must be one per row of %s (%s), "
                 "not %s", b->name, sema_ty_str(s, x->ty),
                 sema_ty_str(s, sema_rows_ty(s, SL_F32, 1, a, c, NULL)),
                 sema_ty_str(s, scores->ty));
        return NULL;
    }
    int64_t d = x->ty.dims[1];
    sl_node *n = sema_node(s, SL_OP_TOP_TOKENS, sema_rows_ty(s, SL_F32, 2, 0, k + b->axis, &d),
                           e->span, x, scores);
    if (!n)
        return NULL;
    n->index = k;
    n->axis = b->axis;
    n->decision = sema_add_decision(s, SL_DEC_TOKENS, b->name, e->span, (int)k, 0);
    return sema_emit(s, n);
}

/* tokens_above(x, s, t): the rows of x whose score passes t (s > t), in
 * their order, or the best-scored one when none does, become the model's
 * tokens: the rest of it runs on them, however many (T is their count
 * from here on, at least 1); merged, one more row, the mean of the others.
 * Only in the model's own statements, where every later value follows. */
static sl_node *tokens_above(sema *s, env_t *env, const shape_builtin *b, const sl_expr *e)
{
    const sl_expr *xe = e->args, *se = xe->next, *te = se->next;
    if (s->fr->inst || s->region != s->p->body) {
        sema_err(s, e->span, "%s() changes the model's token count for the rest of the model: "
                 "it stands in the model's own statements, not in %s", b->name,
                 s->fr->inst ? "a layer" : "a gate, an exit or a route");
        return NULL;
    }
    sl_node *x = sema_expr(s, env, xe), *scores = sema_expr(s, env, se);
    sl_node *t = sema_expr(s, env, te);
    if (!x || !scores || !t)
        return NULL;
    if (x->ty.rank != 2 || x->ty.tok_a != 1 || x->ty.tok_c != 0 || x->ty.elem == SL_BOOL) {
        sema_err(s, xe->span, "%s() chooses tokens of a sequence f32[%s, d], not %s", b->name,
                 s->p->tokens_name ? s->p->tokens_name : "T", sema_ty_str(s, x->ty));
        return NULL;
    }
    if (!(x = sema_to_f32(s, x)) || !(scores = sema_to_f32(s, scores)))
        return NULL;
    if (!sema_one_per_row(scores->ty, 1, 0)) {
        sema_err(s, se->span, "the scores of %s() must be one per row of %s (%s), not %s",
                 b->name, sema_ty_str(s, x->ty),
                 sema_ty_str(s, sema_rows_ty(s, SL_F32, 1, 1, 0, NULL)),
                 sema_ty_str(s, scores->ty));
        return NULL;
    }
    if (t->ty.rank != 0 || t->ty.elem == SL_BOOL) {
        sema_err(s, te->span, "the threshold of %s() is one number, not %s", b->name,
                 sema_ty_str(s, t->ty));
        return NULL;
    }
    if (!(t = sema_to_f32(s, t)))
        return NULL;
    int64_t d = x->ty.dims[1];
    sl_node **args = sl_arena_array(&s->c->arena, 1, sizeof *args);
    args[0] = t;
    sl_node *n = sema_node(s, SL_OP_TOP_TOKENS, sema_rows_ty(s, SL_F32, 2, 1, b->axis, &d),
                           e->span, x, scores);
    if (!n)
        return NULL;
    n->where = true;
    n->axis = b->axis;
    n->args = args;
    n->n_args = 1;
    sema_use(t);
    n->epoch = ++s->tok_epoch;
    s->epoch_at = e->span;
    s->p->tokens_min = 1; /* for what follows; the input's is put back after the model */
    n->decision = sema_add_decision(s, SL_DEC_TOKENS, b->name, e->span, (int)x->ty.dims[0], 0);
    s->p->decisions.items[n->decision].where = true;
    return sema_emit(s, n);
}

sl_node *sema_call_shape_builtin(sema *s, env_t *env, const shape_builtin *b, const sl_expr *e)
{
    switch (b->kind) {
    case SB_POOL:
        return arity(s, e, b->name, 1, 1) ? pool(s, env, b, e) : NULL;
    case SB_FILL:
        return arity(s, e, b->name, 1, 2) ? fill(s, env, b, e) : NULL;
    case SB_TOPK:
        return arity(s, e, b->name, 2, 2) ? topk_mask(s, env, e) : NULL;
    case SB_TOP_TOKENS:
        return arity(s, e, b->name, 3, 3) ? top_tokens(s, env, b, e) : NULL;
    case SB_TOKENS_ABOVE:
        return arity(s, e, b->name, 3, 3) ? tokens_above(s, env, b, e) : NULL;
    case SB_CONCAT: {
        if (!arity(s, e, b->name, 2, 1 << 20))
            return NULL;
        sl_node **v = eval_args(s, env, e->args, e->n_args);
        if (!v || !unify_elems(s, v, e->n_args, e, sl_arena_printf(&s->c->arena, "%s()", b->name)))
            return NULL;
        return concat(s, e, v, e->n_args, b->axis);
    }
    }
    return NULL;
}
