/* cost.c - static FLOP counts: the dense count (every conditional region
 * run) and the cheapest and dearest way to each exit (--cost).
 *
 * A node's own FLOPs come from hir_build.c (node_flops); this file adds
 * them up over regions.  Gate arms are free choices, so the cheapest path
 * to a point is the sum of the cheapest choices before it: one pass of
 * interval arithmetic gives exact best and worst cases.  Both passes are
 * hooks on sl_walk_region (region.c), each with a stack holding what the
 * regions open on the way down have added up so far. */
#include <math.h>
#include <stdio.h>

#include "compiler.h"

sl_attention_cost sl_cost_attention(const sl_inst *attention)
{
    double d = (double)attention->n_in, h = (double)attention->heads;
    return (sl_attention_cost){2 * d * d + d, 2 * d * 2 * d + 2 * d, 2 * d * d + d, 4 * d + h};
}

/* ---- the dense count ---------------------------------------------------- */

/* An open region's dense FLOPs so far, and those of its item being walked:
 * the item's own, then each of its sub-regions' as it ends.  An item is
 * summed whole before it joins its region, in the order a recursive sum
 * adds, so counts past 2^53 round the same whichever way they are walked. */
typedef struct dense_level {
    sl_flops region;
    sl_flops item;
} dense_level;

/* What a decision weighs: a gate's arms; a route's cheapest and dearest
 * expert (compared at the pass's token count); one block; and a route of
 * tokens `attending all`, its node. */
typedef struct weigh {
    sl_flops v[2];
    bool set;
    const sl_node *attending;
    bool kept;                  /* tokens_above() */
} weigh;

typedef struct dense_pass {
    sl_arena arena;             /* the stack's own: sl_cost_dense has no sl_ctx */
    SL_VEC(dense_level) stack;  /* the walked region, then one per open sub-region */
    weigh *info;                /* NULL, or per decision what it weighs (dense_sub_leave) */
    double tokens;              /* where a route's experts are compared */
} dense_pass;

static dense_level *dense_top(dense_pass *d) { return &d->stack.items[d->stack.len - 1]; }

/* What a route pays per row: once, or once per token over tokens. */
static sl_flops route_rows(const sl_node *n, sl_flops per_row)
{
    return n->per_token ? sl_flops_per_row(n->a->ty, per_row) : per_row;
}

/* What a route's chosen experts cost, one expert's cost given: k per
 * input or per token; with expert choice k per expert, N of them. */
static sl_flops route_chosen(const sl_node *n, sl_flops expert)
{
    if (n->expert_choice)
        return sl_flops_scale(expert, (double)(n->index * n->inst->n_children));
    return route_rows(n, sl_flops_scale(expert, (double)n->index));
}

/* A node's own dense FLOPs: all blocks of a block-gated layer; for a route,
 * choosing and combining all N experts (their regions add their work). */
static sl_flops node_dense(const sl_node *n)
{
    switch (n->op) {
    case SL_OP_DENSE_BLOCKS:
        return sl_flops_scale(n->flops, (double)n->inst->blocks);
    case SL_OP_ROUTE: {
        double bank = (double)n->inst->n_children, k = (double)n->index;
        if (n->expert_choice) { /* choosing as run; combining every expert for every token */
            sl_flops choose = sl_flops_per_row(n->ty, (sl_flops){bank, 0, 0});
            return sl_flops_add(choose, sl_flops_per_row(n->ty, (sl_flops){2 * bank * (double)
                                                                             n->ty.dims[1], 0, 0}));
        }
        /* n->flops is (bank + k) + 2*d*k (per token over tokens):
         * combining all N adds 2*d*(N - k) */
        sl_flops choose = route_rows(n, (sl_flops){bank + k, 0, 0});
        sl_flops per_choice = sl_flops_scale(sl_flops_add(n->flops, sl_flops_scale(choose, -1)),
                                             1.0 / k);
        return sl_flops_add(n->flops, sl_flops_scale(per_choice, bank - k));
    }
    default:
        return n->flops;
    }
}

static void dense_enter(sl_walker *w, const sl_item *it)
{
    dense_pass *d = w->data;
    const sl_node *n = it->kind == SL_IT_NODE ? it->node : NULL;
    dense_top(d)->item = n ? node_dense(n) : (sl_flops){0, 0, 0};
    if (d->info && n && n->op == SL_OP_DENSE_BLOCKS)
        d->info[n->decision].v[0] = n->flops;
    if (d->info && n && n->op == SL_OP_ROUTE_TOKENS && n->attending)
        d->info[n->decision].attending = n;
    if (d->info && n && n->op == SL_OP_TOP_TOKENS && n->where)
        d->info[n->decision].kept = true;
}

static void dense_sub_enter(sl_walker *w, const sl_item *it, int k, const sl_region *r)
{
    dense_pass *d = w->data;
    (void)it, (void)k, (void)r;
    dense_level sub = {{0, 0, 0}, {0, 0, 0}};
    SL_VEC_PUSH(&d->arena, &d->stack, sub);
}

/* What each decision weighs, from its sub-regions' dense counts: a gate's
 * two arms; the cheapest and the dearest expert of a route.  (One block
 * of a block-gated layer is set on entering it.) */
static void dense_sub_leave(sl_walker *w, const sl_item *it, int k, const sl_region *r)
{
    dense_pass *d = w->data;
    (void)r;
    sl_flops x = dense_top(d)->region;
    d->stack.len--;
    if (it->kind == SL_IT_NODE) /* an expert: once per token over tokens */
        dense_top(d)->item = sl_flops_add(dense_top(d)->item, route_rows(it->node, x));
    else
        dense_top(d)->item = sl_flops_add(dense_top(d)->item, x);
    if (d->info && it->kind == SL_IT_GATE) {
        d->info[it->decision].v[k] = x;
    } else if (d->info && it->kind == SL_IT_NODE) { /* expert k of a route */
        weigh *wg = &d->info[it->node->decision];
        double at = sl_flops_at(x, d->tokens);
        if (!wg->set || at < sl_flops_at(wg->v[0], d->tokens))
            wg->v[0] = x;
        if (!wg->set || at > sl_flops_at(wg->v[1], d->tokens))
            wg->v[1] = x;
        wg->set = true;
    }
}

static void dense_leave(sl_walker *w, const sl_item *it)
{
    dense_pass *d = w->data;
    (void)it;
    dense_top(d)->region = sl_flops_add(dense_top(d)->region, dense_top(d)->item);
}

/* r's dense count; with info, also what each decision in r weighs. */
static sl_flops dense_count(const sl_region *r, weigh *info, double tokens)
{
    dense_pass d = {.info = info, .tokens = tokens};
    sl_arena_init(&d.arena);
    dense_level top = {{0, 0, 0}, {0, 0, 0}};
    SL_VEC_PUSH(&d.arena, &d.stack, top);
    sl_walker w = {&d, dense_enter, dense_sub_enter, dense_sub_leave, dense_leave};
    sl_walk_region(&w, r);
    sl_flops total = d.stack.items[0].region;
    sl_arena_free(&d.arena);
    return total;
}

sl_flops sl_cost_region_dense(const sl_region *r)
{
    return dense_count(r, NULL, 0);
}

void sl_cost_exits_ahead(const sl_program *p, sl_flops *ahead, bool *has)
{
    const sl_region *body = p->body;
    for (size_t i = 0; i < p->exits.len; i++)
        has[i] = false;
    for (size_t i = 0; i < body->items.len; i++) {
        const sl_item *it = &body->items.items[i];
        if (it->kind != SL_IT_EXIT || it->exit_index < 0 || !it->cond)
            continue;
        sl_flops sum = {0, 0, 0};
        for (size_t j = i + 1; j < body->items.len; j++) {
            const sl_item *next = &body->items.items[j];
            sl_region one = {{(sl_item *)next, 1, 1}}; /* the item alone, its regions in */
            sum = sl_flops_add(sum, sl_cost_region_dense(&one));
            if (next->kind == SL_IT_EXIT)
                break;
        }
        ahead[it->exit_index] = sum;
        has[it->exit_index] = true;
    }
}

sl_flops sl_cost_dense(const sl_program *p)
{
    return sl_cost_region_dense(p->body);
}

/* ---- ranges ------------------------------------------------------------ */

/* The cheapest and the dearest way to a point, each a polynomial in T;
 * paths are compared at one token count (the pass's). */
typedef struct range {
    sl_flops lo, hi;
    bool live; /* some path reaches this point */
} range;

static const sl_flops ZERO = {0, 0, 0};

static range merge(range a, range b, double tokens)
{
    if (!a.live)
        return b;
    if (!b.live)
        return a;
    range r = a;
    if (sl_flops_at(b.lo, tokens) < sl_flops_at(a.lo, tokens))
        r.lo = b.lo;
    if (sl_flops_at(b.hi, tokens) > sl_flops_at(a.hi, tokens))
        r.hi = b.hi;
    return r;
}

/* An open region: the range of the point reached so far; for its item
 * being walked, the range before it (where a gate's arms and an exit's
 * value start) and its sub-regions' ranges, merged as each ends. */
typedef struct range_level {
    range cur;
    range before;
    range subs;
} range_level;

typedef struct range_pass {
    sl_arena *arena;
    SL_VEC(range_level) stack;  /* the model's body, then one per open sub-region */
    range *exits;               /* [n]: the ways to each exit; the last is "end" */
    size_t n;
    double tokens;
    bool kept;                  /* past a tokens_above(): T counts the kept tokens, 1 to T */
} range_pass;

static range_level *range_top(range_pass *rp) { return &rp->stack.items[rp->stack.len - 1]; }

/* A node's range: a block-gated layer runs 0 to all of its blocks; a route
 * costs its own FLOPs and k experts, from the cheapest to the dearest. */
static range node_range(const sl_node *n, range experts)
{
    switch (n->op) {
    case SL_OP_DENSE_BLOCKS:
        return (range){ZERO, sl_flops_scale(n->flops, (double)n->inst->blocks), true};
    case SL_OP_ROUTE: { /* with a capacity, every choice may be dropped */
        sl_flops lo = n->capacity > 0 ? ZERO : route_chosen(n, experts.lo);
        return (range){sl_flops_add(n->flops, lo),
                       sl_flops_add(n->flops, route_chosen(n, experts.hi)), true};
    }
    case SL_OP_ROUTE_TOKENS: /* its layer, once, on the chosen rows (with `where`: none
                                to all of them) */
        return (range){sl_flops_add(n->flops, n->where ? ZERO : experts.lo),
                       sl_flops_add(n->flops, experts.hi), true};
    default:
        return (range){n->flops, n->flops, true};
    }
}

static void range_enter(sl_walker *w, const sl_item *it)
{
    range_level *top = range_top(w->data);
    (void)it;
    top->before = top->cur;
    top->subs = (range){ZERO, ZERO, false};
}

/* A gate's arms and an exit's value go on from the range before their
 * item; a route's experts start from nothing (the route counts them k
 * times).  No path reaches the sub-regions of an item no path reaches. */
static void range_sub_enter(sl_walker *w, const sl_item *it, int k, const sl_region *r)
{
    range_pass *rp = w->data;
    range before = range_top(rp)->before;
    (void)k, (void)r;
    range_level sub = {0};
    sub.cur = it->kind == SL_IT_NODE && before.live ? (range){ZERO, ZERO, true} : before;
    SL_VEC_PUSH(rp->arena, &rp->stack, sub);
}

static void range_sub_leave(sl_walker *w, const sl_item *it, int k, const sl_region *r)
{
    range_pass *rp = w->data;
    (void)it, (void)k, (void)r;
    range end = range_top(rp)->cur;
    rp->stack.len--;
    range_top(rp)->subs = merge(range_top(rp)->subs, end, rp->tokens);
}

static void range_leave(sl_walker *w, const sl_item *it)
{
    range_pass *rp = w->data;
    range_level *top = range_top(rp);
    if (!top->before.live)
        return; /* no path reaches the item */
    switch (it->kind) {
    case SL_IT_NODE: {
        range x = node_range(it->node, top->subs);
        if (rp->kept) /* the cheapest keeps one token */
            x.lo = (sl_flops){sl_flops_at(x.lo, 1), 0, 0};
        if (it->node->op == SL_OP_TOP_TOKENS && it->node->where)
            rp->kept = true;
        top->cur.lo = sl_flops_add(top->cur.lo, x.lo);
        top->cur.hi = sl_flops_add(top->cur.hi, x.hi);
        break;
    }
    case SL_IT_GATE:
        top->cur = top->subs; /* either arm */
        break;
    case SL_IT_EXIT: {
        size_t k = it->exit_index < 0 ? rp->n - 1 : (size_t)it->exit_index;
        rp->exits[k] = merge(rp->exits[k], top->subs, rp->tokens);
        if (!it->cond)
            top->cur.live = false;
        break;
    }
    }
}

/* The cheapest and dearest way to each exit, into exits[n]. */
static void exit_ranges(sl_ctx *c, const sl_program *p, range *exits, size_t n, double tokens)
{
    range_pass rp = {.arena = &c->arena, .exits = exits, .n = n, .tokens = tokens};
    range_level body = {.cur = {ZERO, ZERO, true}};
    SL_VEC_PUSH(&c->arena, &rp.stack, body);
    sl_walker w = {&rp, range_enter, range_sub_enter, range_sub_leave, range_leave};
    sl_walk_region(&w, p->body);
}

sl_layer_cost sl_cost_tokens_layer(const sl_node *r)
{
    sl_layer_cost lc = {0};
    const sl_region *body = r->experts[0];
    if (!r->attending) { /* the layer on a sequence of K tokens */
        sl_flops f = sl_cost_region_dense(body);
        return (sl_layer_cost){f.k, f.t, 0, f.tt, 0, 0};
    }
    /* what runs on the chosen tokens in K, on every token in T, an
     * attention of the K among the T in K*T pairs (check_attending.c; the
     * lowering counts the same) */
    for (size_t i = 0; i < body->items.len; i++) {
        const sl_node *n = body->items.items[i].node;
        if (n->chosen_queries) {
            sl_attention_cost a = sl_cost_attention(n->inst);
            lc.t += a.per_kv;
            lc.k += a.per_q + a.per_out;
            lc.kt += a.per_pair;
        } else if (n->all_tokens) {
            lc.c += n->flops.k, lc.t += n->flops.t, lc.tt += n->flops.tt;
        } else {
            lc.c += n->flops.k, lc.k += n->flops.t; /* per token: no K^2 */
            if (n->op == SL_OP_ROUTE) /* k experts per token, alike */
                lc.k += (double)n->index * sl_cost_region_dense(n->experts[0]).k;
        }
    }
    return lc;
}

/* "1128*K + 34*K^2", "712*K + 416*T + 34*K*T" (arena string). */
static const char *layer_cost_str(sl_ctx *c, sl_layer_cost lc)
{
    const double v[] = {lc.c, lc.k, lc.t, lc.kk, lc.kt, lc.tt};
    const char *names[] = {"", "*K", "*T", "*K^2", "*K*T", "*T^2"};
    char buf[200];
    size_t len = 0;
    for (int i = 0; i < 6; i++)
        if (v[i] != 0 && len < sizeof buf)
            len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%.0f%s", len ? " + " : "",
                                    v[i], names[i]);
    return sl_arena_strdup(&c->arena, len ? buf : "0");
}

static void print_pct(FILE *out, double v, double dense)
{
    fprintf(out, "%6.1f%%", dense > 0 ? 100.0 * v / dense : 100.0);
}

void sl_cost_print(sl_ctx *c, const sl_program *p, int64_t tokens, FILE *out)
{
    bool seq = p->tokens_max > 0;
    double T = seq ? (double)(tokens > 0 ? tokens : p->tokens_max) : 0;
    weigh *info = sl_arena_array(&c->arena, p->decisions.len + 1, sizeof *info);
    sl_flops dense_f = dense_count(p->body, info, T);
    double dense = sl_flops_at(dense_f, T);
    size_t n = p->exits.len + 1;
    range *exits = sl_arena_array(&c->arena, n, sizeof *exits);
    exit_ranges(c, p, exits, n, T);

    if (seq)
        fprintf(out, "model %s: %.0f FLOPs dense at %s = %.0f (every conditional region run)\n"
                "dense = %s\n", p->name, dense, p->tokens_name, T,
                sl_flops_str(c, dense_f, p->tokens_name));
    else
        fprintf(out, "model %s: %.0f FLOPs dense (every conditional region run)\n", p->name, dense);
    fprintf(out, "%-12s %14s %14s %9s\n", "path", "min FLOPs", "max FLOPs", "max/dense");
    range all = {ZERO, ZERO, false};
    for (size_t i = 0; i < n; i++) {
        const char *name = i + 1 == n ? "end" : p->exits.items[i].name;
        if (!exits[i].live) {
            fprintf(out, "%-12s %14s %14s\n", name, "unreachable", "");
            continue;
        }
        all = merge(all, exits[i], T);
        double lo = sl_flops_at(exits[i].lo, T), hi = sl_flops_at(exits[i].hi, T);
        fprintf(out, "%-12s %14.0f %14.0f   ", name, lo, hi);
        print_pct(out, hi, dense);
        fputc('\n', out);
    }
    if (all.live) {
        fprintf(out, "%-12s %14.0f %14s   ", "best case", sl_flops_at(all.lo, T), "");
        print_pct(out, sl_flops_at(all.lo, T), dense);
        fprintf(out, "\n%-12s %14s %14.0f   ", "worst case", "", sl_flops_at(all.hi, T));
        print_pct(out, sl_flops_at(all.hi, T), dense);
        fputc('\n', out);
    }
    if (seq) { /* the same paths as formulas in T */
        for (size_t i = 0; i < n; i++) {
            if (!exits[i].live)
                continue;
            fprintf(out, "%s: min %s, max %s\n", i + 1 == n ? "end" : p->exits.items[i].name,
                    sl_flops_str(c, exits[i].lo, p->tokens_name),
                    sl_flops_str(c, exits[i].hi, p->tokens_name));
        }
    }
    for (size_t i = 0; i < p->decisions.len; i++) {
        const sl_decision *d = &p->decisions.items[i];
        double a = sl_flops_at(info[i].v[0], T), b = sl_flops_at(info[i].v[1], T);
        if (d->kind == SL_DEC_GATE)
            fprintf(out, "gate %s: then-arm %.0f FLOPs, else-arm %.0f FLOPs\n", d->name, a, b);
        else if (d->kind == SL_DEC_ROUTE && d->per_expert && a == b)
            fprintf(out, "route %s: each of %d experts takes %d tokens, %.0f FLOPs each\n",
                    d->name, d->choices, d->per_expert, a);
        else if (d->kind == SL_DEC_ROUTE && d->per_expert)
            fprintf(out, "route %s: each of %d experts takes %d tokens, %.0f to %.0f FLOPs each\n",
                    d->name, d->choices, d->per_expert, a, b);
        else if (d->kind == SL_DEC_ROUTE && a == b)
            fprintf(out, "route %s: top %d of %d experts%s, %.0f FLOPs each\n", d->name,
                    d->count, d->choices, d->rows ? " per token" : "", a);
        else if (d->kind == SL_DEC_ROUTE)
            fprintf(out, "route %s: top %d of %d experts%s, %.0f to %.0f FLOPs each\n", d->name,
                    d->count, d->choices, d->rows ? " per token" : "", a, b);
        else if (d->kind == SL_DEC_TOKENS && info[i].kept)
            fprintf(out, "tokens %s: the tokens whose score passes its threshold (or the best "
                    "one) kept; from here %s counts them, 1 to %.0f\n", d->name, p->tokens_name, T);
        else if (d->kind == SL_DEC_TOKENS && d->where && info[i].attending)
            fprintf(out, "tokens %s: the K tokens where its condition holds through it, all T "
                    "in view, 0 to %.0f FLOPs; K of T tokens: %s\n", d->name, b,
                    layer_cost_str(c, sl_cost_tokens_layer(info[i].attending)));
        else if (d->kind == SL_DEC_TOKENS && d->where)
            fprintf(out, "tokens %s: the K tokens where its condition holds through it, "
                    "0 to %.0f FLOPs; K tokens: %s\n", d->name, b,
                    sl_flops_str(c, info[i].v[1], "K"));
        else if (d->kind == SL_DEC_TOKENS)
            fprintf(out, "tokens %s: the top %d tokens through it, %.0f FLOPs\n", d->name,
                    d->count, a);
        else
            fprintf(out, "blocks %s: %d blocks, %.0f FLOPs per active block\n", d->name,
                    d->count, a);
    }
}
