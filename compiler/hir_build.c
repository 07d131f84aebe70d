/* hir_build.c - building the checked program: new regions, items and
 * nodes, each node with its static FLOPs (the cost model), and operand
 * use counts for fusion. */
#include "sema.h"

enum { MAX_NODES = 2000000 };

/* ---- nodes and regions ------------------------------------------------- */

sl_region *sema_region_new(sema *s)
{
    return sl_arena_alloc(&s->c->arena, sizeof(sl_region));
}

sl_item *sema_item_add(sema *s, sl_item_kind kind, sl_span at)
{
    sl_item it = {0};
    it.kind = kind;
    it.span = at;
    SL_VEC_PUSH(&s->c->arena, &s->region->items, it);
    return &s->region->items.items[s->region->items.len - 1];
}

/* A value's elements as a polynomial in T: a sequence has
 * inner * (tok_a * T + tok_c). */
static sl_flops elems(sl_ty t)
{
    if (!sl_ty_is_seq(t))
        return (sl_flops){(double)sl_ty_numel(t), 0, 0};
    double inner = (double)sl_ty_inner(t);
    return (sl_flops){inner * (double)t.tok_c, inner * t.tok_a, 0};
}

/* How many times a per-row cost is paid: the rows of a matrix or a
 * sequence (T's polynomial), once for a vector. */
static sl_flops tokens(sl_ty t)
{
    int32_t a;
    int64_t c;
    if (!sema_rows_of(t, &a, &c))
        return (sl_flops){1, 0, 0};
    return (sl_flops){(double)c, a, 0};
}

static bool more(sl_flops a, sl_flops b)
{
    return a.tt > b.tt || (a.tt == b.tt && (a.t > b.t || (a.t == b.t && a.k > b.k)));
}

/* FLOPs of a node itself (docs/language.md, "Cost"): 2*in*out + out per
 * token for a dense layer, one per element of the largest operand for
 * everything else, nothing for leaves, indexing, conversions and merges. */
static sl_flops node_flops(const sl_node *n)
{
    switch (n->op) {
    case SL_OP_INPUT: case SL_OP_CONST: case SL_OP_THRESHOLD: case SL_OP_ROUTE_ARG:
    case SL_OP_TO_F32: case SL_OP_INDEX: case SL_OP_PHI: case SL_OP_TENSOR: case SL_OP_CONST_VEC:
    case SL_OP_EMBED: case SL_OP_TAKE: case SL_OP_SLICE: case SL_OP_CONCAT: case SL_OP_STACK:
        return (sl_flops){0, 0, 0}; /* copies and leaves */
    case SL_OP_BATCHNORM: /* a scale and a shift per element */
        return sl_flops_scale(elems(n->ty), 2);
    case SL_OP_ATTENTION: {
        /* every token projected both ways and attending to every token it
         * sees: a causal mask attends n(n+1)/2 pairs */
        sl_attention_cost a = sl_cost_attention(n->inst);
        sl_flops t = tokens(n->ty);
        sl_flops pairs = {t.k * t.k, 2 * t.k * t.t, t.t * t.t};
        if (n->inst->causal)
            pairs = sl_flops_scale(sl_flops_add(pairs, t), 0.5);
        return sl_flops_add(sl_flops_scale(t, a.per_q + a.per_kv + a.per_out),
                            sl_flops_scale(pairs, a.per_pair));
    }
    case SL_OP_DENSE: {
        double in = (double)n->inst->n_in, out = (double)n->inst->n_out;
        return sl_flops_scale(tokens(n->ty), 2.0 * in * out + out);
    }
    case SL_OP_DENSE_BLOCKS: {
        double rows = (double)(n->inst->n_out / n->inst->blocks), in = (double)n->inst->n_in;
        return sl_flops_scale(tokens(n->ty), 2.0 * in * rows + rows);
    }
    case SL_OP_TOP_TOKENS: {
        /* one per score to choose; merged, the mean of the T - k others:
         * d per row added, d divisions */
        double d = (double)n->ty.dims[1];
        sl_flops choose = tokens(n->a->ty), rest = {0, 0, 0};
        if (n->where) /* tokens_above: the most, with one token kept (run: at K kept) */
            return sl_flops_add(choose, sl_flops_scale(tokens(n->a->ty), n->axis ? d : 0));
        if (n->axis)
            rest = sl_flops_add(sl_flops_scale(tokens(n->a->ty), d),
                                (sl_flops){d * (1 - (double)n->index), 0, 0});
        return sl_flops_add(choose, rest);
    }
    case SL_OP_ROUTE_TOKENS: {
        /* top-k over one score per row; scaled, x + s * (out - x) on the
         * chosen rows; the layer's own work is in its region */
        double chosen = (double)(n->index * n->ty.dims[1]);
        return sl_flops_add(tokens(n->ty), (sl_flops){n->scaled ? 3 * chosen : 0, 0, 0});
    }
    case SL_OP_ROUTE: {
        /* top-k over N scores, softmax over the k chosen, 2*d per chosen
         * expert to combine (per token over tokens); the experts' own
         * work is in their regions. */
        double bank = (double)n->inst->n_children, k = (double)n->index;
        if (n->expert_choice) { /* every expert reads every token's score; combine its k */
            double pairs = bank * k * (double)n->ty.dims[1];
            return sl_flops_add(sl_flops_scale(tokens(n->ty), bank), (sl_flops){2 * pairs, 0, 0});
        }
        sl_flops choose = n->per_token ? sl_flops_scale(tokens(n->ty), bank + k)
                                       : (sl_flops){bank + k, 0, 0};
        return sl_flops_add(choose, sl_flops_scale(elems(n->ty), 2.0 * k));
    }
    default: {
        sl_flops e = elems(n->ty);
        if (n->a && more(elems(n->a->ty), e))
            e = elems(n->a->ty);
        if (n->b && more(elems(n->b->ty), e))
            e = elems(n->b->ty);
        return e;
    }
    }
}

void sema_use(sl_node *n)
{
    if (n)
        n->uses++;
}

/* v may be read here: not a sequence of the tokens the model had before
 * the last tokens_above() (false, reported; `name` the name read, or
 * NULL). */
bool sema_same_tokens(sema *s, const sl_node *v, sl_span at, const char *name)
{
    if (!v || v == POISON || !sl_ty_is_seq(v->ty) || v->epoch == s->tok_epoch)
        return true;
    sema_err(s, at, "%s%s%s is %s of the tokens before tokens_above() kept some of them; since "
             "then %s counts the kept tokens", name ? "'" : "this value", name ? name : "",
             name ? "'" : "", sema_ty_str(s, v->ty), s->p->tokens_name ? s->p->tokens_name : "T");
    sl_note(s->c, v->span, "made here");
    sl_note(s->c, s->epoch_at, "the tokens were chosen here");
    return false;
}

/* A new node computed in the current region. */
sl_node *sema_node(sema *s, sl_op op, sl_ty ty, sl_span at, sl_node *a, sl_node *b)
{
    if (s->p->n_nodes >= MAX_NODES) {
        if (!s->node_limit_hit)
            sema_err(s, at, "model too large (more than %d operations after inlining)", MAX_NODES);
        s->node_limit_hit = true;
        return NULL;
    }
    if (!sema_same_tokens(s, a, at, NULL) || !sema_same_tokens(s, b, at, NULL))
        return NULL;
    sl_node *n = sl_arena_alloc(&s->c->arena, sizeof *n);
    n->epoch = s->tok_epoch;
    n->op = op;
    n->ty = ty;
    n->span = at;
    n->id = s->p->n_nodes++;
    n->a = a;
    n->b = b;
    sema_use(a);
    sema_use(b);
    return n;
}

sl_node *sema_emit(sema *s, sl_node *n)
{
    if (!n)
        return NULL;
    n->flops = node_flops(n);
    sl_item *it = sema_item_add(s, SL_IT_NODE, n->span);
    it->node = n;
    return n;
}

sl_node *sema_constant(sema *s, sl_elem e, double v, sl_span at)
{
    sl_node *n = sema_node(s, SL_OP_CONST, sl_ty_scalar(e), at, NULL, NULL);
    if (n)
        n->value = v;
    return sema_emit(s, n);
}
