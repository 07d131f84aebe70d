/* check_attending.c - `route blk(x) tokens where c attending all`: which
 * values of blk run on every token.
 *
 * The route means blk run on the whole sequence, its result kept at the
 * chosen tokens only.  Run on those alone, blk gives the same rows if
 * every value of it is per token (row t from rows t of its operands) but
 * its attention, whose queries are per token and whose keys and values
 * come from every token.  So: the values that an attention reads, and what
 * they are made of, run on every token (all_tokens); the rest on the
 * chosen ones.  A route of each token on its own (token choice, no
 * capacity) is per token too, when the chosen tokens alone need it.
 * Anything else that mixes tokens (a pool, a token's row, a join of rows,
 * experts choosing tokens, a capacity), a causal mask (the chosen tokens
 * run first, out of order), a gate or an exit cannot be run that way, and
 * is an error here. */
#include "sema.h"

static bool reads_tokens(const sl_node *n)
{
    bool any = (n->a && sl_ty_is_seq(n->a->ty)) || (n->b && sl_ty_is_seq(n->b->ty));
    for (int j = 0; j < n->n_args; j++)
        any = any || sl_ty_is_seq(n->args[j]->ty);
    return any;
}

/* Row t of n reads rows t of its sequence operands only. */
static bool per_token(const sl_node *n)
{
    switch (n->op) {
    case SL_OP_ROUTE: /* each token by its own scores, none dropped for another */
        return n->per_token ? !n->expert_choice && n->capacity == 0 : !reads_tokens(n);
    case SL_OP_ROUTE_TOKENS: case SL_OP_TOP_TOKENS:
        return false; /* however it reads */
    case SL_OP_POOL_MEAN: case SL_OP_POOL_MAX: case SL_OP_POOL_SUM: case SL_OP_PHI:
    case SL_OP_ATTENTION:
        return !reads_tokens(n);
    case SL_OP_TAKE: case SL_OP_SLICE: case SL_OP_CONCAT:
        return n->axis == 1;
    default:
        return true;
    }
}

static const char *mixing_what(const sl_node *n)
{
    switch (n->op) {
    case SL_OP_POOL_MEAN: case SL_OP_POOL_MAX: case SL_OP_POOL_SUM:
        return "a pool over tokens";
    case SL_OP_TAKE:
        return "a token's row";
    case SL_OP_SLICE:
        return "a range of tokens";
    case SL_OP_CONCAT:
        return "a join of rows";
    case SL_OP_ROUTE:
        return n->expert_choice ? "experts choosing their tokens"
                                : "a capacity shared by the tokens";
    case SL_OP_ROUTE_TOKENS: case SL_OP_TOP_TOKENS:
        return "a choice of tokens";
    default:
        return "a value of the tokens together";
    }
}

static void mark(sl_node *n)
{
    if (n && sl_ty_is_seq(n->ty))
        n->all_tokens = true;
}

static bool refuse(sema *s, const sl_node *r, sl_span at, const char *what)
{
    sema_err(s, at, "'route %s(x) tokens where c attending all' runs '%s' on the chosen tokens "
             "with every token in view: only attention may mix tokens there, not %s",
             r->inst->name, r->inst->path, what);
    sl_note(s->c, r->span, "the route is here");
    return false;
}

bool sema_attending(sema *s, sl_node *r)
{
    const sl_region *body = r->experts[0];
    /* Each node's readers come after it: walking backwards, a node's mark
     * is final when it is reached. */
    for (size_t i = body->items.len; i-- > 0;) {
        const sl_item *it = &body->items.items[i];
        if (it->kind != SL_IT_NODE)
            return refuse(s, r, it->span, it->kind == SL_IT_GATE ? "a gate" : "an exit");
        sl_node *n = it->node;
        if (n->op == SL_OP_ATTENTION && n->inst->causal)
            return refuse(s, r, n->span, "a causal mask (the chosen tokens run first, out of "
                          "their order)");
        if (n->op == SL_OP_ATTENTION) {
            mark(n->a); /* the keys and values: every token's */
            continue;
        }
        if (!per_token(n) || (!sl_ty_is_seq(n->ty) && reads_tokens(n)))
            return refuse(s, r, n->span, mixing_what(n));
        if (!n->all_tokens)
            continue;
        if (n->op == SL_OP_ROUTE) /* its experts would have to run on every token */
            return refuse(s, r, n->span, "a route whose result an attention reads");
        mark(n->a);
        mark(n->b);
        for (int j = 0; j < n->n_args; j++)
            mark(n->args[j]);
    }
    for (size_t i = 0; i < body->items.len; i++) { /* the marks are final now */
        sl_node *n = body->items.items[i].node;
        n->chosen_queries = n->op == SL_OP_ATTENTION && !n->all_tokens;
    }
    return true;
}
