/* region.c - the one walk over the region tree.
 *
 * Every pass that follows the checked program's control flow (printing it,
 * counting its FLOPs, lowering it) walks the same tree: the items of a
 * region in execution order, and under an item its sub-regions (a gate's
 * two arms, an exit's value region, a route's experts, the layer a route
 * of tokens runs on its chosen rows).  This file is the
 * only place that knows where those sub-regions hang; passes hook in. */
#include "compiler.h"

int sl_item_subregions(const sl_item *it)
{
    switch (it->kind) {
    case SL_IT_GATE:
        return 2;
    case SL_IT_EXIT:
        return 1;
    case SL_IT_NODE:
        return it->node->op == SL_OP_ROUTE          ? it->node->inst->n_children
               : it->node->op == SL_OP_ROUTE_TOKENS ? 1
                                                    : 0;
    }
    return 0;
}

const sl_region *sl_item_subregion(const sl_item *it, int k)
{
    switch (it->kind) {
    case SL_IT_GATE:
        return k == 0 ? it->then_r : it->else_r;
    case SL_IT_EXIT:
        return it->value_r;
    case SL_IT_NODE:
        return it->node->experts[k];
    }
    return NULL;
}

void sl_walk_region(sl_walker *w, const sl_region *r)
{
    for (size_t i = 0; i < r->items.len; i++) {
        const sl_item *it = &r->items.items[i];
        if (w->enter)
            w->enter(w, it);
        int n = sl_item_subregions(it);
        for (int k = 0; k < n; k++) {
            const sl_region *sub = sl_item_subregion(it, k);
            if (w->sub_enter)
                w->sub_enter(w, it, k, sub);
            sl_walk_region(w, sub);
            if (w->sub_leave)
                w->sub_leave(w, it, k, sub);
        }
        if (w->leave)
            w->leave(w, it);
    }
}
