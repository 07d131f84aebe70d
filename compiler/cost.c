/* cost.c - static FLOP counts: the dense count (every conditional region
 * run) and the cheapest and dearest way to each exit (--cost).
 *
 * A node's own FLOPs come from hir_build.c (node_flops); this file adds
 * them up over regions.  Gate arms are free choices, so the cheapest path
 * to a point is the sum of the cheapest choices before it: one pass of
 * interval arithmetic gives exact best and worst cases. */
#include <math.h>
#include <stdio.h>

#include "compiler.h"

static double node_dense(const sl_node *n)
{
    switch (n->op) {
    case SL_OP_DENSE_BLOCKS:
        return n->flops * (double)n->inst->blocks;
    case SL_OP_ROUTE: {
        double bank = (double)n->inst->n_children, k = (double)n->index;
        double d = (double)sl_ty_numel(n->ty);
        double total = bank + k + 2.0 * d * bank;
        for (int i = 0; i < n->inst->n_children; i++)
            total += sl_cost_region_dense(n->experts[i]);
        return total;
    }
    default:
        return n->flops;
    }
}

double sl_cost_region_dense(const sl_region *r)
{
    double total = 0;
    for (size_t i = 0; i < r->items.len; i++) {
        const sl_item *it = &r->items.items[i];
        switch (it->kind) {
        case SL_IT_NODE:
            total += node_dense(it->node);
            break;
        case SL_IT_GATE:
            total += sl_cost_region_dense(it->then_r) + sl_cost_region_dense(it->else_r);
            break;
        case SL_IT_EXIT:
            total += sl_cost_region_dense(it->value_r);
            break;
        }
    }
    return total;
}

double sl_cost_dense(const sl_program *p)
{
    return sl_cost_region_dense(p->body);
}

/* ---- ranges ------------------------------------------------------------ */

typedef struct range {
    double lo, hi;
    bool live; /* some path reaches this point */
} range;

typedef struct ranges {
    range *exits; /* [n_exits + 1]: the last is "end" */
    size_t n;
} ranges;

static range merge(range a, range b)
{
    if (!a.live)
        return b;
    if (!b.live)
        return a;
    return (range){fmin(a.lo, b.lo), fmax(a.hi, b.hi), true};
}

static range walk(ranges *out, const sl_region *r, range cur);

static range node_range(ranges *out, const sl_node *n)
{
    switch (n->op) {
    case SL_OP_DENSE_BLOCKS:
        return (range){0, n->flops * (double)n->inst->blocks, true};
    case SL_OP_ROUTE: {
        range e = {0, 0, false};
        for (int i = 0; i < n->inst->n_children; i++)
            e = merge(e, walk(out, n->experts[i], (range){0, 0, true}));
        double k = (double)n->index;
        return (range){n->flops + k * e.lo, n->flops + k * e.hi, true};
    }
    default:
        return (range){n->flops, n->flops, true};
    }
}

static range walk(ranges *out, const sl_region *r, range cur)
{
    for (size_t i = 0; i < r->items.len && cur.live; i++) {
        const sl_item *it = &r->items.items[i];
        switch (it->kind) {
        case SL_IT_NODE: {
            range x = node_range(out, it->node);
            cur.lo += x.lo;
            cur.hi += x.hi;
            break;
        }
        case SL_IT_GATE:
            cur = merge(walk(out, it->then_r, cur), walk(out, it->else_r, cur));
            break;
        case SL_IT_EXIT: {
            range v = walk(out, it->value_r, cur);
            size_t k = it->exit_index < 0 ? out->n - 1 : (size_t)it->exit_index;
            out->exits[k] = merge(out->exits[k], v);
            if (!it->cond)
                cur.live = false;
            break;
        }
        }
    }
    return cur;
}

/* What each decision weighs: a gate's two arms, a route's experts, one
 * block of a block-gated layer (dense counts, as regions run whole). */
static void weigh(const sl_region *r, double (*info)[2])
{
    for (size_t i = 0; i < r->items.len; i++) {
        const sl_item *it = &r->items.items[i];
        if (it->kind == SL_IT_GATE) {
            info[it->decision][0] = sl_cost_region_dense(it->then_r);
            info[it->decision][1] = sl_cost_region_dense(it->else_r);
            weigh(it->then_r, info);
            weigh(it->else_r, info);
        } else if (it->kind == SL_IT_EXIT) {
            weigh(it->value_r, info);
        } else if (it->node->op == SL_OP_DENSE_BLOCKS) {
            info[it->node->decision][0] = it->node->flops;
        } else if (it->node->op == SL_OP_ROUTE) {
            const sl_node *n = it->node;
            double lo = INFINITY, hi = 0;
            for (int e = 0; e < n->inst->n_children; e++) {
                double x = sl_cost_region_dense(n->experts[e]);
                lo = fmin(lo, x);
                hi = fmax(hi, x);
                weigh(n->experts[e], info);
            }
            info[n->decision][0] = lo;
            info[n->decision][1] = hi;
        }
    }
}

static void print_pct(FILE *out, double v, double dense)
{
    fprintf(out, "%6.1f%%", dense > 0 ? 100.0 * v / dense : 100.0);
}

void sl_cost_print(sl_ctx *c, const sl_program *p, FILE *out)
{
    double dense = sl_cost_dense(p);
    size_t n = p->exits.len + 1;
    range *exits = sl_arena_array(&c->arena, n, sizeof *exits);
    ranges rs = {exits, n};
    walk(&rs, p->body, (range){0, 0, true});

    fprintf(out, "model %s: %.0f FLOPs dense (every conditional region run)\n", p->name, dense);
    fprintf(out, "%-12s %14s %14s %9s\n", "path", "min FLOPs", "max FLOPs", "max/dense");
    range all = {0, 0, false};
    for (size_t i = 0; i < n; i++) {
        const char *name = i + 1 == n ? "end" : p->exits.items[i].name;
        if (!exits[i].live) {
            fprintf(out, "%-12s %14s %14s\n", name, "unreachable", "");
            continue;
        }
        all = merge(all, exits[i]);
        fprintf(out, "%-12s %14.0f %14.0f   ", name, exits[i].lo, exits[i].hi);
        print_pct(out, exits[i].hi, dense);
        fputc('\n', out);
    }
    if (all.live) {
        fprintf(out, "%-12s %14.0f %14s   ", "best case", all.lo, "");
        print_pct(out, all.lo, dense);
        fprintf(out, "\n%-12s %14s %14.0f   ", "worst case", "", all.hi);
        print_pct(out, all.hi, dense);
        fputc('\n', out);
    }
    double (*info)[2] = sl_arena_array(&c->arena, p->decisions.len + 1, sizeof *info);
    weigh(p->body, info);
    for (size_t i = 0; i < p->decisions.len; i++) {
        const sl_decision *d = &p->decisions.items[i];
        if (d->kind == SL_DEC_GATE)
            fprintf(out, "gate %s: then-arm %.0f FLOPs, else-arm %.0f FLOPs\n", d->name,
                    info[i][0], info[i][1]);
        else if (d->kind == SL_DEC_ROUTE && info[i][0] == info[i][1])
            fprintf(out, "route %s: top %d of %d experts, %.0f FLOPs each\n", d->name, d->count,
                    d->choices, info[i][0]);
        else if (d->kind == SL_DEC_ROUTE)
            fprintf(out, "route %s: top %d of %d experts, %.0f to %.0f FLOPs each\n", d->name,
                    d->count, d->choices, info[i][0], info[i][1]);
        else
            fprintf(out, "blocks %s: %d blocks, %.0f FLOPs per active block\n", d->name,
                    d->count, info[i][0]);
    }
}
