/* lower_stats.c - -fzero-stats: how many of each ReLU's outputs are exactly
 * zero, counted by the model itself as it runs.
 *
 * Off by default and then absent from the code.  When on, every ReLU of
 * the program is counted after it is computed, over the rows that ran it:
 * per input, its zeros and the elements it computed, in two ledger slots
 * after the decisions' (so they travel with the ledger and are the same
 * bits in any batch); per unit, its zeros over every row, in counters of
 * the model (sl_env.zero_units) added to atomically, since a batch's tiles
 * run on several threads.  The descriptor lists them (sl_relu_desc,
 * lower_desc.c). */
#include <stdio.h>
#include <string.h>

#include "lower_emit.h"

/* ---- which ReLUs, and where their counts go --------------------------------- */

typedef struct stats_plan {
    lower *l;
    sl_program *p;
} stats_plan;

static int64_t units_of(sl_ty t)
{
    return t.rank == 2 ? t.dims[1] : sl_ty_is_seq(t) ? 1 : sl_ty_numel(t);
}

/* The name the ledger shows: the dense layer the ReLU follows, as PyTorch
 * names its module ("ffn.0.fc1"), else where it is in the source; a second
 * ReLU of the same name gets "#2". */
static const char *relu_name(stats_plan *sp, const sl_node *n)
{
    sl_arena *A = &sp->l->c->arena;
    const sl_node *a = n->a;
    const char *base;
    if (a && (a->op == SL_OP_DENSE || a->op == SL_OP_DENSE_BLOCKS) && a->inst) {
        base = a->inst->path;
    } else {
        uint32_t line = 0, col = 0;
        if (!sl_span_is_none(n->span))
            sl_source_linecol(&sp->l->c->sources.items[n->span.file], n->span.begin, &line, &col);
        base = sl_arena_printf(A, "relu@%u:%u", line, col);
    }
    const char *name = base;
    for (int k = 2;; k++) {
        bool taken = false;
        for (size_t i = 0; i < sp->p->relus.len && !taken; i++)
            taken = strcmp(sp->p->relus.items[i].name, name) == 0;
        if (!taken)
            return name;
        name = sl_arena_printf(A, "%s#%d", base, k);
    }
}

static void plan_enter(sl_walker *w, const sl_item *it)
{
    stats_plan *sp = w->data;
    sl_program *p = sp->p;
    if (it->kind != SL_IT_NODE)
        return;
    const sl_node *n = it->node;
    if (n->op == SL_OP_RELU) {
        sl_relu_stat s = {.node = n, .name = relu_name(sp, n), .span = n->span,
                          .width = units_of(n->ty), .slot = p->n_slots, .unit0 = p->n_zero_units};
        p->n_slots += 2;
        p->n_zero_units += s.width + 1;
        SL_VEC_PUSH(&sp->l->c->arena, &p->relus, s);
    } else if (n->op == SL_OP_DENSE) {
        /* a ReLU is computed before its users, so it is listed already */
        for (size_t i = 0; i < p->relus.len; i++)
            if (p->relus.items[i].node == n->a) {
                p->relus.items[i].dense_out += n->inst->n_out;
                p->relus.items[i].zero_skip |= sl_plan_zero_skips(sp->l, n);
            }
    }
}

void sl_zero_stats_plan(lower *l, sl_program *p)
{
    stats_plan sp = {l, p};
    sl_walker w = {.data = &sp, .enter = plan_enter};
    sl_walk_region(&w, p->body);
}

/* ---- the counting code ----------------------------------------------------- */

static const sl_relu_stat *stat_of(const sl_program *p, const sl_node *n)
{
    for (size_t i = 0; i < p->relus.len; i++)
        if (p->relus.items[i].node == n)
            return &p->relus.items[i];
    return NULL;
}

static void atomic_add(lower *l, LLVMValueRef base, LLVMValueRef i, LLVMValueRef v)
{
    LLVMBuildAtomicRMW(l->b, LLVMAtomicRMWBinOpAdd, em_at_index(l, l->t_i64, base, i), v,
                       LLVMAtomicOrderingMonotonic, 0);
}

/* slots[row's input][slot] += v (i64, stored as i32) */
static void add_slot(emit *e, LLVMValueRef tile_row, int slot, LLVMValueRef v)
{
    lower *l = e->l;
    LLVMValueRef at = em_at_index(l, l->t_i32, e->slots,
                                  em_row_index(l, tile_row, l->p->n_slots, em_i64(l, slot)));
    LLVMValueRef old = em_load(l, l->t_i32, at, "");
    LLVMBuildStore(l->b, LLVMBuildAdd(l->b, old, LLVMBuildTrunc(l->b, v, l->t_i32, ""), ""), at);
}

void sl_lower_zero_stats(emit *e, const sl_node *n)
{
    lower *l = e->l;
    const sl_relu_stat *s = stat_of(l->p, n);
    if (!s)
        return;
    sl_ty t = n->ty;
    bool rows = t.rank == 2 || sl_ty_is_seq(t);
    int64_t width = s->width;
    LLVMValueRef units = em_gep(l, l->t_i64, e->zero_units, em_i64(l, s->unit0), "units");
    LLVMValueRef zeros = em_entry_alloca(l, l->t_i64, "zeros");

    rows_loop r;
    LLVMValueRef row = em_rows_begin(e, &r, e->fr->rows, em_frame_count(e), "zs.row");
    LLVMBuildStore(l->b, em_i64(l, 0), zeros);
    LLVMValueRef extent = rows ? em_extent(e, t, row) : em_i64(l, 1);
    loop outer, in;
    LLVMValueRef o = rows ? em_loop_begin(e, &outer, extent, "zs.tok") : em_i64(l, 0);
    LLVMValueRef j = width > 1 ? em_loop_begin(e, &in, em_i64(l, width), "zs") : em_i64(l, 0);
    LLVMValueRef i = LLVMBuildAdd(l->b, LLVMBuildMul(l->b, o, em_i64(l, width), ""), j, "");
    LLVMValueRef v = em_element(e, n, row, i);
    LLVMValueRef is_zero = LLVMBuildFCmp(l->b, LLVMRealOEQ, v, em_f32(l, 0), "is.zero");
    LLVMBasicBlockRef count = em_block(e, "zs.count"), next = em_block(e, "zs.next");
    LLVMBuildCondBr(l->b, is_zero, count, next);
    em_at(e, count);
    atomic_add(l, units, j, em_i64(l, 1));
    em_add_to(l, zeros, em_i64(l, 1));
    LLVMBuildBr(l->b, next);
    em_at(e, next);
    if (width > 1)
        em_loop_end(e, &in);
    if (rows)
        em_loop_end(e, &outer);

    /* in a frame of tokens (experts over tokens) a row is a token of tile
     * row row / row_tokens */
    LLVMValueRef tile_row = e->fr->row_tokens
        ? LLVMBuildUDiv(l->b, row, em_i64(l, e->fr->row_tokens), "token.row")
        : row;
    add_slot(e, tile_row, s->slot, em_load(l, l->t_i64, zeros, "z"));
    add_slot(e, tile_row, s->slot + 1, LLVMBuildMul(l->b, extent, em_i64(l, width), ""));
    atomic_add(l, units, em_i64(l, width), extent);
    em_rows_end(e, &r);
}
