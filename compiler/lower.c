/* lower.c - the checked program to LLVM IR, over row sets: the tile
 * function, its frames and its control flow.
 *
 * A model becomes `void <name>_tile(env, scratch, n, x, tokens, y, exits,
 * slots, flops)` (runtime/include/sluice/model.h): one tile of a batch, n
 * rows.  Every region runs once over the rows that reach it, as a list of
 * the tile's row numbers (a frame): a gate splits its frame's rows between
 * its arms, an exit takes its leaving rows out of the frame and computes
 * their value for them alone, a route groups rows by chosen expert and runs
 * each expert over its group, a block-gated layer computes each block for
 * the rows that turn it on.  A region no row reaches is skipped by a real
 * branch.  Values live in "tile coordinates" (plan.c): row r of a value is
 * at the same place whichever region computes it, so a region reads what
 * its enclosing regions computed, in place.  The operations themselves are
 * lower_ops.c's; each row's FLOPs are counted in the tile's counters: what
 * every row of a frame runs is added once per frame (flush), per-row
 * amounts (active blocks) as they happen. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "lower_emit.h"
#include "sluice/kernels.h" /* SL_RT_DROPPED */
#include "sluice/model.h"   /* SL_FORCE_NONE */

/* ---- frames ------------------------------------------------------------------- */

/* Run a sub-region over `rows` [count]: jump over it when no row is there. */
static void push_frame(emit *e, frame *f, LLVMValueRef rows, LLVMValueRef count,
                       const char *name)
{
    lower *l = e->l;
    char buf[64];
    snprintf(buf, sizeof buf, "%s.skip", name);
    LLVMBasicBlockRef run = em_block(e, name);
    f->skip = em_block(e, buf);
    LLVMValueRef n = em_load(l, l->t_i64, count, "n");
    LLVMBuildCondBr(l->b, LLVMBuildICmp(l->b, LLVMIntSGT, n, em_i64(l, 0), "any"), run, f->skip);
    em_at(e, run);
    f->rows = rows;
    f->count = count;
    f->pending = (sl_flops){0, 0, 0};
    f->row_tokens = 0;
    f->parent = e->fr;
    e->fr = f;
}

static void pop_frame(emit *e)
{
    frame *f = e->fr;
    em_flush_flops(e);
    LLVMBuildBr(e->l->b, f->skip);
    LLVMMoveBasicBlockAfter(f->skip, LLVMGetInsertBlock(e->l->b));
    em_at(e, f->skip);
    e->fr = f->parent;
}

/* A decision forced or taken: force < 0 (-1) decides by `cond`, else the
 * forced value says whether to take it (`want` is the force that means
 * yes). */
static LLVMValueRef decide(emit *e, LLVMValueRef force, LLVMValueRef cond, int32_t want,
                           const char *name)
{
    lower *l = e->l;
    LLVMValueRef by_cond = LLVMBuildICmp(l->b, LLVMIntEQ, force, em_i32(l, SL_FORCE_NONE), "");
    LLVMValueRef forced = LLVMBuildICmp(l->b, LLVMIntEQ, force, em_i32(l, want), "");
    return LLVMBuildSelect(l->b, by_cond, cond, forced, name);
}

/* ---- gates ------------------------------------------------------------------- */

/* gate c { ... } else { ... }: the frame's rows split into the arms' row
 * lists (in order), each arm runs over its own; merged values are copied
 * row by row by the arm each row took. */
static void gate_enter(emit *e, const sl_item *it, const plan_item *pi, frame *arms)
{
    lower *l = e->l;
    const sl_decision *d = &l->p->decisions.items[it->decision];
    em_flush_flops(e);
    LLVMValueRef then_rows = em_scratch_at(e, pi->list0, "then.rows");
    LLVMValueRef else_rows = em_scratch_at(e, pi->list1, "else.rows");
    LLVMValueRef nt = em_entry_alloca(l, l->t_i64, "then.n"), ne = em_entry_alloca(l, l->t_i64, "else.n");
    LLVMBuildStore(l->b, em_i64(l, 0), nt);
    LLVMBuildStore(l->b, em_i64(l, 0), ne);
    /* force[1 + d]: -1 decide, 0 else-arm, 1 then-arm */
    LLVMValueRef force = em_load(l, l->t_i32, em_at_index(l, l->t_i32, e->force,
                                                    em_i64(l, 1 + it->decision)), "force");
    rows_loop r;
    LLVMValueRef row = em_rows_begin(e, &r, e->fr->rows, em_frame_count(e), d->name);
    LLVMValueRef take = decide(e, force, em_element(e, it->cond, row, em_i64(l, 0)), 1, "take");
    LLVMValueRef slot = em_row_index(l, row, l->p->n_slots, em_i64(l, d->slot));
    em_store_at(l, l->t_i32, e->slots, slot, LLVMBuildZExt(l->b, take, l->t_i32, ""));
    LLVMValueRef list = LLVMBuildSelect(l->b, take, then_rows, else_rows, "list");
    LLVMValueRef cnt = LLVMBuildSelect(l->b, take, nt, ne, "cnt");
    em_push(l, list, cnt, row);
    em_rows_end(e, &r);
    arms[0].count = nt;
    arms[1].count = ne;
}

/* At the end of an arm: its side of every merged value, for its rows. */
static void gate_arm_leave(emit *e, const sl_item *it, int k)
{
    lower *l = e->l;
    for (size_t i = 0; i < it->phis.len; i++) {
        const sl_node *phi = it->phis.items[i], *v = k == 0 ? phi->a : phi->b;
        int64_t numel = sl_ty_numel(phi->ty);
        rows_loop r;
        LLVMValueRef row = em_rows_begin(e, &r, e->fr->rows, em_frame_count(e), "merge");
        if (numel == 1) {
            em_store_element(e, phi, row, em_i64(l, 0), em_element(e, v, row, em_i64(l, 0)));
        } else {
            LLVMBuildMemCpy(l->b, em_row_ptr(e, phi, row), 4, em_row_ptr(e, v, row), 4,
                            em_i64(l, numel * (phi->ty.elem == SL_BOOL ? 1 : 4)));
        }
        em_rows_end(e, &r);
    }
}

/* After both arms: if an arm can exit, the rows that come back are the
 * arms' remaining rows, merged in order. */
static void gate_leave(emit *e, const sl_item *it, const plan_item *pi, frame *arms)
{
    (void)it;
    lower *l = e->l;
    if (!pi->may_exit)
        return;
    LLVMValueRef args[] = {em_scratch_at(e, pi->list0, "then.rows"),
                           em_load(l, l->t_i64, arms[0].count, ""),
                           em_scratch_at(e, pi->list1, "else.rows"),
                           em_load(l, l->t_i64, arms[1].count, ""), e->fr->rows};
    LLVMBuildStore(l->b, em_call(l, RT_ROWS_MERGE, args, 5, "back"), e->fr->count);
}

/* ---- exits ------------------------------------------------------------------- */

/* Would row r pass its budget if it went on: its FLOPs so far and the most
 * it can spend before it can leave again, against the budget (if any). */
static LLVMValueRef over_budget(emit *e, LLVMValueRef row, sl_flops ahead)
{
    lower *l = e->l;
    LLVMValueRef acc = em_scratch_at(e, l->pl.flops0, "flops");
    LLVMValueRef spent = LLVMBuildUIToFP(l->b, em_load_at(l, l->t_i64, acc, row), l->t_f64, "");
    LLVMValueRef more = LLVMConstReal(l->t_f64, ahead.k);
    if (ahead.t != 0 || ahead.tt != 0) {
        LLVMValueRef t = LLVMBuildSIToFP(l->b, em_row_tokens(e, row), l->t_f64, "T");
        LLVMValueRef lin = LLVMBuildFAdd(l->b, LLVMConstReal(l->t_f64, ahead.t),
                                         LLVMBuildFMul(l->b, LLVMConstReal(l->t_f64, ahead.tt),
                                                       t, ""), "");
        more = LLVMBuildFAdd(l->b, more, LLVMBuildFMul(l->b, lin, t, ""), "ahead");
    }
    LLVMValueRef on = LLVMBuildFCmp(l->b, LLVMRealOGT, e->budget, LLVMConstReal(l->t_f64, 0), "");
    LLVMValueRef past = LLVMBuildFCmp(l->b, LLVMRealOGT, LLVMBuildFAdd(l->b, spent, more, ""),
                                      e->budget, "");
    return LLVMBuildAnd(l->b, on, past, "over.budget");
}

/* exit v when c: the leaving rows leave the frame (which keeps the others,
 * in order) and get their value computed, for them alone; an input that
 * could pass its compute budget before the next exit leaves here too. */
static void exit_enter(emit *e, const sl_item *it, const plan_item *pi, frame *value)
{
    lower *l = e->l;
    em_flush_flops(e);
    LLVMValueRef leaving = em_scratch_at(e, pi->list0, "leave.rows");
    LLVMValueRef nl = em_entry_alloca(l, l->t_i64, "leave.n");
    if (!it->cond) { /* every row leaves */
        LLVMValueRef n = em_frame_count(e);
        LLVMBuildMemCpy(l->b, leaving, 4, e->fr->rows, 4, LLVMBuildMul(l->b, n, em_i64(l, 4), ""));
        LLVMBuildStore(l->b, n, nl);
        LLVMBuildStore(l->b, em_i64(l, 0), e->fr->count);
        value->count = nl;
        return;
    }
    /* force[0]: -1 decide, -2 never leave, k leave at exit k */
    const sl_exit *x = &l->p->exits.items[it->exit_index];
    LLVMValueRef force = em_load(l, l->t_i32, e->force, "force.exit");
    LLVMValueRef ns = em_entry_alloca(l, l->t_i64, "stay.n");
    LLVMBuildStore(l->b, em_i64(l, 0), nl);
    LLVMBuildStore(l->b, em_i64(l, 0), ns);
    rows_loop r;
    LLVMValueRef row = em_rows_begin(e, &r, e->fr->rows, em_frame_count(e), x->name);
    LLVMValueRef cond = em_element(e, it->cond, row, em_i64(l, 0));
    if (e->has_ahead[it->exit_index])
        cond = LLVMBuildOr(l->b, cond, over_budget(e, row, e->ahead[it->exit_index]), "");
    LLVMValueRef take = decide(e, force, cond, it->exit_index, "take");
    /* the staying rows are written back in place: never ahead of the read */
    LLVMValueRef list = LLVMBuildSelect(l->b, take, leaving, e->fr->rows, "list");
    LLVMValueRef cnt = LLVMBuildSelect(l->b, take, nl, ns, "cnt");
    em_push(l, list, cnt, row);
    em_rows_end(e, &r);
    LLVMBuildStore(l->b, em_load(l, l->t_i64, ns, ""), e->fr->count);
    value->count = nl;
}

/* The leaving rows' value to y, their exit and FLOPs to the ledger. */
static void exit_value_leave(emit *e, const sl_item *it)
{
    lower *l = e->l;
    int32_t index = it->exit_index < 0 ? (int32_t)l->p->exits.len : it->exit_index;
    int64_t out = sl_ty_numel(l->p->out_ty);
    em_flush_flops(e);
    LLVMValueRef acc = em_scratch_at(e, l->pl.flops0, "flops");
    rows_loop r;
    LLVMValueRef row = em_rows_begin(e, &r, e->fr->rows, em_frame_count(e), "leave");
    LLVMValueRef y = em_gep(l, l->t_f32, e->y, LLVMBuildMul(l->b, row, em_i64(l, out), ""), "y.row");
    LLVMBuildMemCpy(l->b, y, 4, em_row_ptr(e, it->value, row), 4, em_i64(l, out * 4));
    em_store_at(l, l->t_i32, e->exits, row, em_i32(l, index));
    LLVMValueRef fl = em_load(l, l->t_i64, em_at_index(l, l->t_i64, acc, row), "fl");
    em_store_at(l, l->t_f64, e->flops_out, row, LLVMBuildUIToFP(l->b, fl, l->t_f64, ""));
    em_rows_end(e, &r);
}

/* ---- routes ------------------------------------------------------------------- */

/* route bank(x) top k by scores: per row the k best experts and softmax
 * weights over them; the rows grouped by expert; each expert runs once
 * over its group (its region, in sub-regions k); then each row's output is
 * the weighted sum over its choices, best first.  A route over tokens does
 * the same with the frame's tokens for rows: ids r * most + t, at which
 * the input, the scores, the experts' values and the output each hold one
 * token's row (their strides are a token's). */
typedef struct route_state {
    LLVMValueRef list, n;       /* the rows routed (i32 *) and their number (i64 alloca) */
    int64_t most;               /* over tokens: the input's most rows; else 0 */
    LLVMValueRef start;         /* i32 [N + 1]: each expert's rows in the buckets */
    LLVMValueRef count;         /* i64 alloca: the current expert's */
} route_state;

/* Row q's first ledger slot of decision d: a route over tokens has k
 * slots per token t of its tile row r = q / most. */
static LLVMValueRef route_slots(emit *e, const sl_decision *d, const route_state *rs,
                                LLVMValueRef q)
{
    lower *l = e->l;
    LLVMValueRef row = q, in_row = em_i64(l, d->slot);
    if (rs->most) {
        row = LLVMBuildUDiv(l->b, q, em_i64(l, rs->most), "token.row");
        LLVMValueRef t = LLVMBuildURem(l->b, q, em_i64(l, rs->most), "token");
        in_row = LLVMBuildAdd(l->b, in_row, LLVMBuildMul(l->b, t, em_i64(l, d->count), ""), "");
    }
    LLVMValueRef at = LLVMBuildAdd(l->b, LLVMBuildMul(l->b, row, em_i64(l, l->p->n_slots), ""),
                                   in_row, "");
    return em_gep(l, l->t_i32, e->slots, at, "slots.row");
}

/* Where row q of a route's operand or result is: a token's row over
 * tokens, else the row's. */
static LLVMValueRef route_row(emit *e, const route_state *rs, const sl_node *n, LLVMValueRef q)
{
    lower *l = e->l;
    if (!rs->most)
        return em_row_ptr(e, n, q);
    return em_gep(l, l->t_f32, em_base(e, n), LLVMBuildMul(l->b, q, em_i64(l, n->ty.dims[1]), ""),
                  "token.p");
}

/* Each input's tokens at once, for choices that depend on all of them:
 * expert choice, or a capacity on the token choices made. */
static void route_per_input(emit *e, const sl_node *n, const plan_item *pi, route_state *rs)
{
    lower *l = e->l;
    int64_t N = n->inst->n_children, k = n->index, m = rs->most;
    LLVMValueRef idx = em_scratch_at(e, pi->idx, "topk.idx"), w = em_scratch_at(e, pi->w, "topk.w");
    LLVMValueRef aux = em_scratch_at(e, pi->aux, "choose.scratch");
    rows_loop r;
    LLVMValueRef row = em_rows_begin(e, &r, e->fr->rows, em_frame_count(e), "choose.row");
    LLVMValueRef q0 = LLVMBuildMul(l->b, row, em_i64(l, m), "first.token");
    LLVMValueRef len = em_extent(e, n->a->ty, row);
    if (n->expert_choice) {
        LLVMValueRef at = LLVMBuildMul(l->b, q0, em_i64(l, N), "");
        LLVMValueRef args[] = {route_row(e, rs, n->b, q0), len, em_i64(l, N), em_i64(l, k),
                               em_gep(l, l->t_i32, idx, at, ""), em_gep(l, l->t_f32, w, at, ""),
                               aux, em_gep(l, l->t_f32, aux, em_i64(l, 2 * m), "top")};
        em_call(l, RT_EXPERT_CHOICE, args, 8, "");
    } else {
        LLVMValueRef at = LLVMBuildMul(l->b, q0, em_i64(l, k), "");
        LLVMValueRef args[] = {em_gep(l, l->t_i32, idx, at, ""), len, em_i64(l, k), em_i64(l, N),
                               LLVMConstReal(l->t_f64, n->capacity), aux};
        em_call(l, RT_ROUTE_CAPACITY, args, 6, "");
    }
    em_rows_end(e, &r);
}

static void route_enter(emit *e, const sl_node *n, const plan_item *pi, route_state *rs)
{
    lower *l = e->l;
    const sl_inst *bank = n->inst;
    int64_t k = n->index, N = bank->n_children;
    int64_t choices = sl_plan_route_choices(n); /* slots per row (token) */
    const sl_decision *d = &l->p->decisions.items[n->decision];
    em_flush_flops(e);
    e->fr->pending = sl_flops_add(e->fr->pending, n->flops); /* choosing and combining */
    rs->most = n->per_token ? n->a->ty.dims[0] : 0;
    if (rs->most) {
        rs->list = em_scratch_at(e, pi->list1, "route.tokens");
        rs->n = em_entry_alloca(l, l->t_i64, "route.n");
        em_token_list(e, n->a->ty, rs->list, rs->n);
    } else {
        rs->list = e->fr->rows;
        rs->n = e->fr->count;
    }
    LLVMValueRef idx = em_scratch_at(e, pi->idx, "topk.idx"), w = em_scratch_at(e, pi->w, "topk.w");
    rows_loop r;
    if (!n->expert_choice) { /* each row (token) its k best experts and their weights */
        LLVMValueRef q = em_rows_begin(e, &r, rs->list, em_load(l, l->t_i64, rs->n, "n"), "topk");
        LLVMValueRef at_ = LLVMBuildMul(l->b, q, em_i64(l, k), "");
        LLVMValueRef ir = em_gep(l, l->t_i32, idx, at_, "idx.row");
        LLVMValueRef wr = em_gep(l, l->t_f32, w, at_, "w.row");
        LLVMValueRef s = route_row(e, rs, n->b, q);
        LLVMValueRef targs[] = {s, em_i64(l, N), em_i64(l, k), ir, wr};
        em_call(l, RT_TOPK, targs, 5, "");
        if (n->switched) {
            LLVMValueRef wargs[] = {s, em_i64(l, N), ir, em_i64(l, k), wr};
            em_call(l, RT_SWITCH_WEIGHTS, wargs, 5, "");
        } else {
            LLVMValueRef sargs[] = {wr, wr, em_i64(l, k)};
            em_call(l, RT_SOFTMAX, sargs, 3, "");
        }
        if (!n->capacity) /* final: the row's ledger slots */
            LLVMBuildMemCpy(l->b, route_slots(e, d, rs, q), 4, ir, 4, em_i64(l, 4 * k));
        em_rows_end(e, &r);
    }
    if (n->expert_choice || n->capacity > 0) { /* choices over each input's tokens */
        route_per_input(e, n, pi, rs);
        LLVMValueRef q = em_rows_begin(e, &r, rs->list, em_load(l, l->t_i64, rs->n, "n"),
                                       "slots");
        LLVMValueRef at = LLVMBuildMul(l->b, q, em_i64(l, choices), "");
        LLVMValueRef ir = em_gep(l, l->t_i32, idx, at, "idx.row");
        LLVMBuildMemCpy(l->b, route_slots(e, d, rs, q), 4, ir, 4, em_i64(l, 4 * choices));
        em_rows_end(e, &r);
    }

    rs->start = em_entry_alloca(l, LLVMArrayType(l->t_i32, (unsigned)(N + 1)), "expert.start");
    rs->count = em_entry_alloca(l, l->t_i64, "expert.n");
    LLVMValueRef bargs[] = {rs->list, em_load(l, l->t_i64, rs->n, "n"), idx, em_i64(l, choices),
                            em_i64(l, N), rs->start, em_scratch_at(e, pi->list0, "expert.rows"),
                            em_scratch_at(e, pi->pos, "expert.pos")};
    em_call(l, RT_ROWS_BY_EXPERT, bargs, 8, "");
}

static LLVMValueRef bucket_start(emit *e, route_state *rs, int64_t x)
{
    lower *l = e->l;
    LLVMValueRef v = em_load(l, l->t_i32, em_gep(l, l->t_i32, rs->start, em_i64(l, x), ""), "start");
    return LLVMBuildSExt(l->b, v, l->t_i64, "");
}

static void expert_enter(emit *e, const sl_node *n, const plan_item *pi, route_state *rs,
                         int x, frame *f)
{
    lower *l = e->l;
    LLVMValueRef s0 = bucket_start(e, rs, x), s1 = bucket_start(e, rs, x + 1);
    LLVMBuildStore(l->b, LLVMBuildSub(l->b, s1, s0, ""), rs->count);
    char name[32];
    snprintf(name, sizeof name, "expert%d", x);
    LLVMValueRef rows = em_gep(l, l->t_i32, em_scratch_at(e, pi->list0, "expert.rows"), s0, "");
    push_frame(e, f, rows, rs->count, name);
    f->row_tokens = rs->most;
    e->alias[n->route_arg->id] = n->a;
}

/* An expert's output, row by row, to the slot of the choice it was. */
static void expert_leave(emit *e, const sl_node *n, const plan_item *pi, route_state *rs, int x)
{
    lower *l = e->l;
    int64_t d = sl_plan_route_width(n);
    const sl_node *out = n->expert_out[x];
    LLVMValueRef pos = em_gep(l, l->t_i32, em_scratch_at(e, pi->pos, "expert.pos"),
                           bucket_start(e, rs, x), "");
    LLVMValueRef comb = em_scratch_at(e, pi->comb, "chosen");
    loop lp;
    LLVMValueRef i = em_loop_begin(e, &lp, em_frame_count(e), "chosen");
    LLVMValueRef row = em_list_row(l, e->fr->rows, i), p = em_list_row(l, pos, i);
    LLVMValueRef dst = em_gep(l, l->t_f32, comb, LLVMBuildMul(l->b, p, em_i64(l, d), ""), "");
    if (l->pl.uniform[out->id]) { /* a layer returning a constant */
        for (int64_t j = 0; j < d; j++)
            LLVMBuildStore(l->b, e->vals[out->id], em_gep(l, l->t_f32, dst, em_i64(l, j), ""));
    } else {
        LLVMBuildMemCpy(l->b, dst, 4, em_row_ptr(e, out, row), 4, em_i64(l, d * 4));
    }
    em_loop_end(e, &lp);
}

/* y_r = sum over the row's choices j, best first, of w_rj * out_rj; a
 * choice dropped (a capacity; an expert that took other tokens) adds
 * nothing. */
static void route_leave(emit *e, const sl_node *n, const plan_item *pi, const route_state *rs)
{
    lower *l = e->l;
    int64_t k = sl_plan_route_choices(n), d = sl_plan_route_width(n);
    bool may_drop = n->expert_choice || n->capacity > 0;
    LLVMValueRef w = em_scratch_at(e, pi->w, "topk.w"), comb = em_scratch_at(e, pi->comb, "chosen");
    LLVMValueRef idx = em_scratch_at(e, pi->idx, "topk.idx");
    rows_loop r;
    LLVMValueRef row = em_rows_begin(e, &r, rs->list, em_load(l, l->t_i64, rs->n, "n"),
                                     "combine.row");
    LLVMValueRef y = route_row(e, rs, n, row);
    LLVMBuildMemSet(l->b, y, LLVMConstInt(l->t_i8, 0, 0), em_i64(l, d * 4), 4);
    loop jl;
    LLVMValueRef j = em_loop_begin(e, &jl, em_i64(l, k), "combine.choice");
    LLVMValueRef p = LLVMBuildAdd(l->b, LLVMBuildMul(l->b, row, em_i64(l, k), ""), j, "");
    LLVMBasicBlockRef next = NULL;
    if (may_drop) {
        LLVMValueRef ej = em_load_at(l, l->t_i32, idx, p);
        LLVMBasicBlockRef add = em_block(e, "combine.taken");
        next = em_block(e, "combine.next");
        LLVMBuildCondBr(l->b, LLVMBuildICmp(l->b, LLVMIntSGE, ej, em_i32(l, 0), "taken"), add,
                        next);
        em_at(e, add);
    }
    LLVMValueRef wj = em_load(l, l->t_f32, em_gep(l, l->t_f32, w, p, ""), "w");
    LLVMValueRef src = em_gep(l, l->t_f32, comb, LLVMBuildMul(l->b, p, em_i64(l, d), ""), "");
    loop il;
    LLVMValueRef i = em_loop_begin(e, &il, em_i64(l, d), "combine");
    LLVMValueRef yp = em_gep(l, l->t_f32, y, i, "");
    LLVMValueRef v = LLVMBuildFMul(l->b, wj, em_load_at(l, l->t_f32, src, i), "");
    LLVMBuildStore(l->b, LLVMBuildFAdd(l->b, em_load(l, l->t_f32, yp, ""), v, ""), yp);
    em_loop_end(e, &il);
    if (may_drop) {
        LLVMBuildBr(l->b, next);
        em_at(e, next);
    }
    em_loop_end(e, &jl);
    em_rows_end(e, &r);
}

/* ---- routes of tokens (mixture of depths) ---------------------------------------- */

/* Row `row`'s k best rows of n->a by the scores n->b (ties to the lower
 * index), put back in their order, into ir, their scores into wr (k
 * each), and into the row's ledger slots; then those rows gathered into
 * dst (k rows of d).  For a route of tokens and top_tokens(). */
static void best_rows(emit *e, const sl_node *n, LLVMValueRef row, LLVMValueRef ir,
                      LLVMValueRef wr, LLVMValueRef dst)
{
    lower *l = e->l;
    int64_t k = n->index, d = n->a->ty.dims[1];
    const sl_decision *dec = &l->p->decisions.items[n->decision];
    LLVMValueRef s = em_row_ptr(e, n->b, row);
    LLVMValueRef targs[] = {s, em_extent(e, n->a->ty, row), em_i64(l, k), ir, wr};
    em_call(l, RT_TOPK, targs, 5, "");
    LLVMValueRef sargs[] = {ir, em_i64(l, k)};
    em_call(l, RT_ROWS_SORT, sargs, 2, "");
    LLVMValueRef slot = em_gep(l, l->t_i32, e->slots, em_row_index(l, row, l->p->n_slots,
                                                                  em_i64(l, dec->slot)), "slots.row");
    LLVMBuildMemCpy(l->b, slot, 4, ir, 4, em_i64(l, 4 * k));
    LLVMValueRef x = em_row_ptr(e, n->a, row);
    loop jl;
    LLVMValueRef j = em_loop_begin(e, &jl, em_i64(l, k), "gather");
    LLVMValueRef t = LLVMBuildSExt(l->b, em_load_at(l, l->t_i32, ir, j), l->t_i64, "token");
    em_store_at(l, l->t_f32, wr, j, em_load_at(l, l->t_f32, s, t)); /* its score, in order */
    LLVMBuildMemCpy(l->b, em_gep(l, l->t_f32, dst, em_row_index(l, j, d, NULL), ""), 4,
                    em_gep(l, l->t_f32, x, em_row_index(l, t, d, NULL), ""), 4, em_i64(l, 4 * d));
    em_loop_end(e, &jl);
}

/* route blk(x) top k tokens by s: per row, its k best rows gathered into
 * the layer's [k, d] input; the layer runs over the frame's rows as a
 * region of its own. */
static void route_tokens_enter(emit *e, const sl_node *n, const plan_item *pi)
{
    lower *l = e->l;
    int64_t k = n->index;
    em_flush_flops(e);
    e->fr->pending = sl_flops_add(e->fr->pending, n->flops);
    LLVMValueRef idx = em_scratch_at(e, pi->idx, "chosen.idx"), w = em_scratch_at(e, pi->w, "chosen.w");
    rows_loop r;
    LLVMValueRef row = em_rows_begin(e, &r, e->fr->rows, em_frame_count(e), "choose");
    LLVMValueRef ir = em_gep(l, l->t_i32, idx, em_row_index(l, row, k, NULL), "idx.row");
    LLVMValueRef wr = em_gep(l, l->t_f32, w, em_row_index(l, row, k, NULL), "w.row");
    best_rows(e, n, row, ir, wr, em_row_ptr(e, n->route_arg, row));
    em_rows_end(e, &r);
}

/* top_tokens(x, s, k): the k best rows, in their order; merged, then the
 * mean of the others (0 when there are none). */
static void top_tokens(emit *e, const sl_node *n, const plan_item *pi)
{
    lower *l = e->l;
    int64_t k = n->index, d = n->a->ty.dims[1];
    em_flush_flops(e);
    e->fr->pending = sl_flops_add(e->fr->pending, n->flops);
    LLVMValueRef idx = em_scratch_at(e, pi->idx, "kept.idx"), w = em_scratch_at(e, pi->w, "kept.w");
    rows_loop r;
    LLVMValueRef row = em_rows_begin(e, &r, e->fr->rows, em_frame_count(e), "keep");
    LLVMValueRef y = em_row_ptr(e, n, row);
    best_rows(e, n, row, idx, w, y);
    if (n->axis) {
        LLVMValueRef args[] = {em_row_ptr(e, n->a, row), em_extent(e, n->a->ty, row),
                               em_i64(l, d), idx, em_i64(l, k),
                               em_gep(l, l->t_f32, y, em_i64(l, k * d), "summary")};
        em_call(l, RT_MEAN_REST, args, 6, "");
    }
    em_rows_end(e, &r);
}

/* A row's token ledger slots [k, most): SL_RT_DROPPED, reached and not
 * chosen. */
static void drop_past(emit *e, LLVMValueRef slots_row, LLVMValueRef k, int64_t most)
{
    lower *l = e->l;
    loop rl;
    LLVMValueRef j = em_loop_begin(e, &rl, LLVMBuildSub(l->b, em_i64(l, most), k, ""), "dropped");
    em_store_at(l, l->t_i32, slots_row, LLVMBuildAdd(l->b, k, j, ""), em_i32(l, SL_RT_DROPPED));
    em_loop_end(e, &rl);
}

/* tokens_above(x, s, t): per row, the tokens whose score passes t, in
 * order, or the best-scored one (ties to the lower index) when none does:
 * their indices into the ledger (SL_RT_DROPPED past them), their rows
 * gathered, merged the mean of the others after them, their count; from
 * here on that count is the row's token count (e->tokens).  FLOPs at the
 * old count first: one per score, merged d per row summed and d. */
static void tokens_above(emit *e, const sl_node *n, const plan_item *pi)
{
    lower *l = e->l;
    int64_t most = n->a->ty.dims[0], d = n->a->ty.dims[1];
    const sl_decision *dec = &l->p->decisions.items[n->decision];
    em_flush_flops(e);
    LLVMValueRef idx = em_scratch_at(e, pi->idx, "kept.idx");
    LLVMValueRef counts = em_scratch_at(e, pi->w, "kept.n");
    LLVMValueRef flops = em_scratch_at(e, l->pl.flops0, "flops");
    LLVMValueRef cnt = em_entry_alloca(l, l->t_i64, "kept");
    LLVMValueRef best = em_entry_alloca(l, l->t_i64, "best");
    LLVMValueRef best_s = em_entry_alloca(l, l->t_f32, "best.s");
    rows_loop r;
    LLVMValueRef row = em_rows_begin(e, &r, e->fr->rows, em_frame_count(e), "keep");
    LLVMValueRef thr = em_element(e, n->args[0], row, em_i64(l, 0));
    LLVMBuildStore(l->b, em_i64(l, 0), cnt);
    LLVMBuildStore(l->b, em_i64(l, 0), best);
    LLVMBuildStore(l->b, em_element(e, n->b, row, em_i64(l, 0)), best_s);
    LLVMValueRef ir = em_gep(l, l->t_i32, idx, em_row_index(l, row, most, NULL), "idx.row");
    LLVMValueRef tokens = em_extent(e, n->a->ty, row);
    loop tl;
    LLVMValueRef t = em_loop_begin(e, &tl, tokens, "above");
    LLVMValueRef st = em_element(e, n->b, row, t);
    LLVMValueRef better = LLVMBuildFCmp(l->b, LLVMRealOGT, st, em_load(l, l->t_f32, best_s, ""),
                                        "better");
    LLVMBuildStore(l->b, LLVMBuildSelect(l->b, better, t, em_load(l, l->t_i64, best, ""), ""),
                   best);
    LLVMBuildStore(l->b, LLVMBuildSelect(l->b, better, st, em_load(l, l->t_f32, best_s, ""), ""),
                   best_s);
    LLVMBasicBlockRef take = em_block(e, "above.take"), next = em_block(e, "above.next");
    LLVMBuildCondBr(l->b, LLVMBuildFCmp(l->b, LLVMRealOGT, st, thr, "passes"), take, next);
    em_at(e, take);
    em_push(l, ir, cnt, t);
    LLVMBuildBr(l->b, next);
    em_at(e, next);
    em_loop_end(e, &tl);
    LLVMBasicBlockRef none = em_block(e, "above.none"), some = em_block(e, "above.some");
    LLVMBuildCondBr(l->b, LLVMBuildICmp(l->b, LLVMIntEQ, em_load(l, l->t_i64, cnt, ""),
                                        em_i64(l, 0), ""), none, some);
    em_at(e, none); /* the best one */
    em_store_at(l, l->t_i32, ir, em_i64(l, 0),
                LLVMBuildTrunc(l->b, em_load(l, l->t_i64, best, ""), l->t_i32, ""));
    LLVMBuildStore(l->b, em_i64(l, 1), cnt);
    LLVMBuildBr(l->b, some);
    em_at(e, some);
    LLVMValueRef kept = em_load(l, l->t_i64, cnt, "kept.n");
    em_store_at(l, l->t_i32, counts, row, LLVMBuildTrunc(l->b, kept, l->t_i32, ""));
    LLVMValueRef sr = em_gep(l, l->t_i32, e->slots, em_row_index(l, row, l->p->n_slots,
                                                                em_i64(l, dec->slot)), "slots.row");
    LLVMBuildMemCpy(l->b, sr, 4, ir, 4, LLVMBuildMul(l->b, kept, em_i64(l, 4), ""));
    drop_past(e, sr, kept, most);
    LLVMValueRef x = em_row_ptr(e, n->a, row), y = em_row_ptr(e, n, row);
    loop gl;
    LLVMValueRef g = em_loop_begin(e, &gl, kept, "gather");
    LLVMValueRef tg = LLVMBuildSExt(l->b, em_load_at(l, l->t_i32, ir, g), l->t_i64, "token");
    LLVMBuildMemCpy(l->b, em_gep(l, l->t_f32, y, em_row_index(l, g, d, NULL), ""), 4,
                    em_gep(l, l->t_f32, x, em_row_index(l, tg, d, NULL), ""), 4, em_i64(l, 4 * d));
    em_loop_end(e, &gl);
    LLVMValueRef v = tokens; /* FLOPs: the scores compared */
    if (n->axis) {
        LLVMValueRef args[] = {x, tokens, em_i64(l, d), ir, kept,
                               em_gep(l, l->t_f32, y, LLVMBuildMul(l->b, kept, em_i64(l, d), ""),
                                      "summary")};
        em_call(l, RT_MEAN_REST, args, 6, "");
        LLVMValueRef others = LLVMBuildSub(l->b, tokens, kept, "");
        LLVMValueRef rest = LLVMBuildAdd(l->b, others, em_i64(l, 1), "");
        v = LLVMBuildAdd(l->b, v, LLVMBuildMul(l->b, rest, em_i64(l, d), ""), "");
    }
    em_add_to(l, em_at_index(l, l->t_i64, flops, row), v);
    em_rows_end(e, &r);
    e->tokens = counts; /* the model's tokens from here on */
}

/* The rows of x where c does not hold, in order, after the k chosen. */
static void gather_others(emit *e, const sl_node *n, LLVMValueRef row, LLVMValueRef k)
{
    lower *l = e->l;
    int64_t d = n->a->ty.dims[1];
    LLVMValueRef x = em_row_ptr(e, n->a, row), dst = em_row_ptr(e, n->route_arg, row);
    LLVMValueRef at = em_entry_alloca(l, l->t_i64, "other.at");
    LLVMBuildStore(l->b, k, at);
    loop tl;
    LLVMValueRef t = em_loop_begin(e, &tl, em_extent(e, n->a->ty, row), "others");
    LLVMBasicBlockRef take = em_block(e, "others.take"), next = em_block(e, "others.next");
    LLVMBuildCondBr(l->b, em_element(e, n->b, row, t), next, take);
    em_at(e, take);
    LLVMValueRef j = em_load(l, l->t_i64, at, "j");
    LLVMBuildMemCpy(l->b, em_gep(l, l->t_f32, dst, em_row_index(l, j, d, NULL), ""), 4,
                    em_gep(l, l->t_f32, x, em_row_index(l, t, d, NULL), ""), 4, em_i64(l, 4 * d));
    LLVMBuildStore(l->b, LLVMBuildAdd(l->b, j, em_i64(l, 1), ""), at);
    LLVMBuildBr(l->b, next);
    em_at(e, next);
    em_loop_end(e, &tl);
}

/* Would row r pass its budget if the layer of a route of tokens ran on k
 * of its tokens: its FLOPs so far (flushed) and the layer's at k. */
static LLVMValueRef layer_over_budget(emit *e, const sl_node *n, LLVMValueRef row,
                                      LLVMValueRef k)
{
    lower *l = e->l;
    sl_layer_cost lc = sl_cost_tokens_layer(n);
    LLVMValueRef acc = em_scratch_at(e, l->pl.flops0, "flops");
    LLVMValueRef spent = LLVMBuildUIToFP(l->b, em_load_at(l, l->t_i64, acc, row), l->t_f64, "");
    LLVMValueRef K = LLVMBuildSIToFP(l->b, k, l->t_f64, "K");
    LLVMValueRef T = LLVMBuildSIToFP(l->b, em_row_tokens(e, row), l->t_f64, "T");
#define C(v) LLVMConstReal(l->t_f64, (v))
    /* c + K*(k + kk*K + kt*T) + T*(t + tt*T) */
    LLVMValueRef per_k = LLVMBuildFAdd(l->b, C(lc.k), LLVMBuildFAdd(l->b,
                                       LLVMBuildFMul(l->b, C(lc.kk), K, ""),
                                       LLVMBuildFMul(l->b, C(lc.kt), T, ""), ""), "");
    LLVMValueRef per_t = LLVMBuildFAdd(l->b, C(lc.t), LLVMBuildFMul(l->b, C(lc.tt), T, ""), "");
    LLVMValueRef cost = LLVMBuildFAdd(l->b, C(lc.c), LLVMBuildFAdd(l->b,
                                      LLVMBuildFMul(l->b, K, per_k, ""),
                                      LLVMBuildFMul(l->b, T, per_t, ""), ""), "layer.flops");
    LLVMValueRef on = LLVMBuildFCmp(l->b, LLVMRealOGT, e->budget, C(0), "");
#undef C
    LLVMValueRef past = LLVMBuildFCmp(l->b, LLVMRealOGT, LLVMBuildFAdd(l->b, spent, cost, ""),
                                      e->budget, "");
    return LLVMBuildAnd(l->b, on, past, "over.budget");
}

/* route blk(x) tokens where c: per row, the tokens where c holds, in
 * order (their indices, their count, their rows of x gathered), and the
 * list of the rows that chose any, which the layer runs over with those
 * counts as their token counts (walk_sub_enter).  Ledger slots past the
 * count are SL_RT_DROPPED: reached, not chosen.  `attending all`: the
 * other tokens' rows follow, in order, for the values the layer computes
 * on every token (check_attending.c).  An input the layer would take past
 * its compute budget chooses no token (all its tokens exit there). */
static void where_tokens_enter(emit *e, const sl_node *n, const plan_item *pi, LLVMValueRef nrows)
{
    lower *l = e->l;
    int64_t most = n->a->ty.dims[0], d = n->a->ty.dims[1];
    const sl_decision *dec = &l->p->decisions.items[n->decision];
    e->fr->pending = sl_flops_add(e->fr->pending, n->flops);
    em_flush_flops(e); /* the rows' FLOPs so far, for the budget */
    LLVMValueRef idx = em_scratch_at(e, pi->idx, "chosen.idx");
    LLVMValueRef counts = em_scratch_at(e, pi->w, "chosen.n");
    LLVMValueRef rows = em_scratch_at(e, pi->list0, "choosing.rows");
    LLVMValueRef cnt = em_entry_alloca(l, l->t_i64, "chosen");
    LLVMBuildStore(l->b, em_i64(l, 0), nrows);
    rows_loop r;
    LLVMValueRef row = em_rows_begin(e, &r, e->fr->rows, em_frame_count(e), "choose");
    LLVMBuildStore(l->b, em_i64(l, 0), cnt);
    LLVMValueRef ir = em_gep(l, l->t_i32, idx, em_row_index(l, row, most, NULL), "idx.row");
    LLVMValueRef sr = em_gep(l, l->t_i32, e->slots, em_row_index(l, row, l->p->n_slots,
                                                                em_i64(l, dec->slot)), "slots.row");
    LLVMValueRef x = em_row_ptr(e, n->a, row), dst = em_row_ptr(e, n->route_arg, row);
    loop tl;
    LLVMValueRef t = em_loop_begin(e, &tl, em_extent(e, n->a->ty, row), "where");
    LLVMBasicBlockRef take = em_block(e, "where.take"), next = em_block(e, "where.next");
    LLVMBuildCondBr(l->b, em_element(e, n->b, row, t), take, next);
    em_at(e, take);
    LLVMValueRef k = em_push(l, ir, cnt, t);
    em_store_at(l, l->t_i32, sr, k, LLVMBuildTrunc(l->b, t, l->t_i32, ""));
    LLVMBuildMemCpy(l->b, em_gep(l, l->t_f32, dst, em_row_index(l, k, d, NULL), ""), 4,
                    em_gep(l, l->t_f32, x, em_row_index(l, t, d, NULL), ""), 4, em_i64(l, 4 * d));
    LLVMBuildBr(l->b, next);
    em_at(e, next);
    em_loop_end(e, &tl);
    LLVMValueRef k_all = em_load(l, l->t_i64, cnt, "chosen.n");
    k_all = LLVMBuildSelect(l->b, layer_over_budget(e, n, row, k_all), em_i64(l, 0), k_all,
                            "chosen.n");
    em_store_at(l, l->t_i32, counts, row, LLVMBuildTrunc(l->b, k_all, l->t_i32, ""));
    if (n->attending && n->route_arg->all_tokens) /* some value needs every token */
        gather_others(e, n, row, k_all);
    drop_past(e, sr, k_all, most);
    LLVMBasicBlockRef add = em_block(e, "where.any"), done = em_block(e, "where.row.done");
    LLVMBuildCondBr(l->b, LLVMBuildICmp(l->b, LLVMIntSGT, k_all, em_i64(l, 0), ""), add, done);
    em_at(e, add);
    em_push(l, rows, nrows, row);
    LLVMBuildBr(l->b, done);
    em_at(e, done);
    em_rows_end(e, &r);
}

/* After the layer of a route of tokens: every row of x, then the chosen
 * ones from the layer's result (scaled: x + s * (out - x)). */
static void route_tokens_leave(emit *e, const sl_node *n, const plan_item *pi)
{
    lower *l = e->l;
    int64_t most = sl_plan_route_tokens_chosen(n), d = n->ty.dims[1];
    const sl_node *out = n->expert_out[0];
    LLVMValueRef idx = em_scratch_at(e, pi->idx, "chosen.idx"), w = em_scratch_at(e, pi->w, "chosen.w");
    rows_loop r;
    LLVMValueRef row = em_rows_begin(e, &r, e->fr->rows, em_frame_count(e), "scatter");
    LLVMValueRef x = em_row_ptr(e, n->a, row), y = em_row_ptr(e, n, row);
    LLVMValueRef o = em_row_ptr(e, out, row);
    LLVMValueRef len = LLVMBuildMul(l->b, em_extent(e, n->a->ty, row), em_i64(l, 4 * d), "");
    LLVMBuildMemCpy(l->b, y, 4, x, 4, len);
    LLVMValueRef k = n->where ? LLVMBuildSExt(l->b, em_load_at(l, l->t_i32, w, row), l->t_i64, "k")
                              : em_i64(l, n->index);
    loop jl;
    LLVMValueRef j = em_loop_begin(e, &jl, k, "scatter.token");
    LLVMValueRef at = em_row_index(l, row, most, j);
    LLVMValueRef t = LLVMBuildSExt(l->b, em_load_at(l, l->t_i32, idx, at), l->t_i64, "token");
    LLVMValueRef yt = em_gep(l, l->t_f32, y, em_row_index(l, t, d, NULL), "");
    LLVMValueRef ot = em_gep(l, l->t_f32, o, em_row_index(l, j, d, NULL), "");
    if (!n->scaled) {
        LLVMBuildMemCpy(l->b, yt, 4, ot, 4, em_i64(l, 4 * d));
    } else {
        LLVMValueRef wj = em_load_at(l, l->t_f32, w, at);
        loop il;
        LLVMValueRef i = em_loop_begin(e, &il, em_i64(l, d), "scaled");
        LLVMValueRef xv = em_load_at(l, l->t_f32, yt, i);
        LLVMValueRef dv = LLVMBuildFSub(l->b, em_load_at(l, l->t_f32, ot, i), xv, "");
        em_store_at(l, l->t_f32, yt, i, LLVMBuildFAdd(l->b, xv, LLVMBuildFMul(l->b, wj, dv, ""), ""));
        em_loop_end(e, &il);
    }
    em_loop_end(e, &jl);
    em_rows_end(e, &r);
}

/* A value of a layer `attending all` that every token needs (its
 * attention reads it): computed, and its FLOPs counted, at every row's
 * own token count rather than at the chosen ones'. */
static void every_token_node(emit *e, const sl_node *n, const plan_item *pi)
{
    LLVMValueRef chosen = e->tokens;
    em_flush_flops(e); /* what ran on the chosen tokens so far */
    e->tokens = e->every;
    sl_lower_node(e, n, pi);
    em_flush_flops(e);
    e->tokens = chosen;
}

/* ---- the walk ---------------------------------------------------------------- */

/* What an open item keeps between its hooks (in the arena: frames point
 * into it while its regions run). */
typedef struct open_item {
    const plan_item *pi;
    frame sub[2];               /* GATE: the arms; EXIT: the value ([0]) */
    route_state rs;             /* ROUTE */
    frame expert;
    LLVMValueRef tokens;        /* ROUTE_TOKENS with `where`: the token counts outside */
} open_item;

static open_item *open_top(emit *e) { return e->open.items[e->open.len - 1]; }

static void walk_enter(sl_walker *w, const sl_item *it)
{
    emit *e = w->data;
    lower *l = e->l;
    const plan_item *pi = &l->pl.items[e->item_no++];
    open_item *o = sl_arena_alloc(&l->c->arena, sizeof *o);
    o->pi = pi;
    SL_VEC_PUSH(&l->c->arena, &e->open, o);
    switch (it->kind) {
    case SL_IT_NODE:
        if (it->node->op == SL_OP_ROUTE)
            route_enter(e, it->node, pi, &o->rs);
        else if (it->node->op == SL_OP_ROUTE_TOKENS && it->node->where)
            where_tokens_enter(e, it->node, pi,
                               o->expert.count = em_entry_alloca(l, l->t_i64, "choosing.n"));
        else if (it->node->op == SL_OP_ROUTE_TOKENS)
            route_tokens_enter(e, it->node, pi);
        else if (it->node->op == SL_OP_TOP_TOKENS && it->node->where)
            tokens_above(e, it->node, pi);
        else if (it->node->op == SL_OP_TOP_TOKENS)
            top_tokens(e, it->node, pi);
        else if (e->every && it->node->all_tokens)
            every_token_node(e, it->node, pi);
        else
            sl_lower_node(e, it->node, pi);
        break;
    case SL_IT_GATE:
        gate_enter(e, it, pi, o->sub);
        break;
    case SL_IT_EXIT:
        exit_enter(e, it, pi, &o->sub[0]);
        break;
    }
}

static void walk_sub_enter(sl_walker *w, const sl_item *it, int k, const sl_region *r)
{
    (void)r;
    emit *e = w->data;
    lower *l = e->l;
    open_item *o = open_top(e);
    char name[80];
    switch (it->kind) {
    case SL_IT_GATE: {
        const char *g = l->p->decisions.items[it->decision].name;
        snprintf(name, sizeof name, "%s.%s", g, k == 0 ? "then" : "else");
        LLVMValueRef rows = em_scratch_at(e, k == 0 ? o->pi->list0 : o->pi->list1, "arm.rows");
        push_frame(e, &o->sub[k], rows, o->sub[k].count, name);
        break;
    }
    case SL_IT_EXIT:
        snprintf(name, sizeof name, "%s.take",
                 it->exit_index < 0 ? "end" : l->p->exits.items[it->exit_index].name);
        push_frame(e, &o->sub[0], em_scratch_at(e, o->pi->list0, "leave.rows"), o->sub[0].count,
                   name);
        break;
    case SL_IT_NODE:
        if (it->node->op == SL_OP_ROUTE_TOKENS && it->node->where) {
            /* its layer, over the rows that chose any, each at its count */
            push_frame(e, &o->expert, em_scratch_at(e, o->pi->list0, "choosing.rows"),
                       o->expert.count, "chosen.tokens");
            o->tokens = e->tokens;
            e->tokens = em_scratch_at(e, o->pi->w, "chosen.n");
            e->every = it->node->attending ? o->tokens : NULL;
        } else if (it->node->op == SL_OP_ROUTE_TOKENS) { /* its layer, over the same rows */
            push_frame(e, &o->expert, e->fr->rows, e->fr->count, "chosen.tokens");
        } else
            expert_enter(e, it->node, o->pi, &o->rs, k, &o->expert);
        break;
    }
}

static void walk_sub_leave(sl_walker *w, const sl_item *it, int k, const sl_region *r)
{
    (void)r;
    emit *e = w->data;
    open_item *o = open_top(e);
    switch (it->kind) {
    case SL_IT_GATE:
        gate_arm_leave(e, it, k);
        break;
    case SL_IT_EXIT:
        exit_value_leave(e, it);
        break;
    case SL_IT_NODE:
        if (it->node->op == SL_OP_ROUTE)
            expert_leave(e, it->node, o->pi, &o->rs, k);
        break;
    }
    pop_frame(e);
    if (it->kind == SL_IT_NODE && it->node->op == SL_OP_ROUTE_TOKENS && it->node->where) {
        e->tokens = o->tokens; /* after the frame's FLOPs, counted at its counts */
        e->every = NULL;
    }
}

static void walk_leave(sl_walker *w, const sl_item *it)
{
    emit *e = w->data;
    open_item *o = open_top(e);
    if (it->kind == SL_IT_GATE)
        gate_leave(e, it, o->pi, o->sub);
    else if (it->kind == SL_IT_NODE && it->node->op == SL_OP_ROUTE)
        route_leave(e, it->node, o->pi, &o->rs);
    else if (it->kind == SL_IT_NODE && it->node->op == SL_OP_ROUTE_TOKENS)
        route_tokens_leave(e, it->node, o->pi);
    e->open.len--;
}

/* ---- the entry point ------------------------------------------------------------ */

/* The tile reads sl_env (model.h) as six pointers in a row. */
#define ENV_FIELD(f, i) (offsetof(sl_env, f) == (i) * sizeof(void *))
_Static_assert(ENV_FIELD(tensors, 0) && ENV_FIELD(dense, 1) && ENV_FIELD(thresholds, 2) &&
                   ENV_FIELD(force, 3) && ENV_FIELD(budget, 4) && ENV_FIELD(zero_units, 5) &&
                   sizeof(sl_env) == 6 * sizeof(void *),
               "build_tile reads sl_env in another layout than model.h declares");

static void build_tile(lower *l)
{
    const sl_program *p = l->p;
    LLVMTypeRef ptr = l->t_ptr;
    LLVMTypeRef args[] = {ptr, ptr, l->t_i64, ptr, ptr, ptr, ptr, ptr, ptr};
    LLVMTypeRef ty = LLVMFunctionType(l->t_void, args, 9, 0);
    char name[256];
    snprintf(name, sizeof name, "%s_tile", p->name);
    emit em = {.l = l};
    emit *e = &em;
    e->fn = l->tile = LLVMAddFunction(l->mod, name, ty);
    const char *names[] = {"env", "scratch", "n", "x", "tokens", "y", "exits", "slots", "flops"};
    for (unsigned i = 0; i < 9; i++)
        LLVMSetValueName2(LLVMGetParam(e->fn, i), names[i], strlen(names[i]));
    unsigned noalias = LLVMGetEnumAttributeKindForName("noalias", 7);
    for (unsigned i = 5; i <= 8; i++) /* y, exits, slots, flops: written only here */
        LLVMAddAttributeAtIndex(e->fn, i + 1, LLVMCreateEnumAttribute(l->ctx, noalias, 0));
    e->scratch = LLVMGetParam(e->fn, 1);
    e->x = LLVMGetParam(e->fn, 3);
    e->tokens = LLVMGetParam(e->fn, 4);
    e->y = LLVMGetParam(e->fn, 5);
    e->exits = LLVMGetParam(e->fn, 6);
    e->slots = LLVMGetParam(e->fn, 7);
    e->flops_out = LLVMGetParam(e->fn, 8);
    size_t nn = (size_t)p->n_nodes + 1;
    e->vals = sl_arena_array(&l->c->arena, nn, sizeof *e->vals);
    e->alias = sl_arena_array(&l->c->arena, nn, sizeof *e->alias);

    LLVMBasicBlockRef entry = em_block(e, "entry"), body = em_block(e, "body");
    em_at(e, entry);
    LLVMValueRef br = LLVMBuildBr(l->b, body);
    l->alloca_b = LLVMCreateBuilderInContext(l->ctx);
    LLVMPositionBuilderBefore(l->alloca_b, br);

    em_at(e, body);
    LLVMValueRef env = LLVMGetParam(e->fn, 0);
    /* sl_env: tensors, dense, thresholds, force, budget, zero_units (six
     * pointers; the last read only by -fzero-stats' code) */
    LLVMValueRef fields[6] = {0};
    static const char *const fnames[] = {"tensors", "dense", "thresholds", "force", "budget",
                                         "zero.units"};
    for (int i = 0; i < (p->relus.len ? 6 : 5); i++)
        fields[i] = em_load(l, ptr, em_gep(l, ptr, env, em_i64(l, i), ""), fnames[i]);
    e->tensors = fields[0];
    e->dense = fields[1];
    e->thresholds = fields[2];
    e->force = fields[3];
    e->budget = em_load(l, l->t_f64, fields[4], "budget");
    e->zero_units = fields[5];
    e->ahead = sl_arena_array(&l->c->arena, p->exits.len + 1, sizeof *e->ahead);
    e->has_ahead = sl_arena_array(&l->c->arena, p->exits.len + 1, sizeof *e->has_ahead);
    sl_cost_exits_ahead(p, e->ahead, e->has_ahead);

    /* The tile's frame: rows 0 .. n-1, counters at 0, slots at -1. */
    LLVMValueRef n = LLVMGetParam(e->fn, 2);
    frame top = {.rows = em_scratch_at(e, l->pl.rows0, "rows"),
                 .count = em_entry_alloca(l, l->t_i64, "rows.n")};
    LLVMBuildStore(l->b, n, top.count);
    e->fr = &top;
    loop lp;
    LLVMValueRef i = em_loop_begin(e, &lp, n, "init");
    LLVMBuildStore(l->b, LLVMBuildTrunc(l->b, i, l->t_i32, ""), em_gep(l, l->t_i32, top.rows, i, ""));
    LLVMBuildStore(l->b, em_i64(l, 0), em_gep(l, l->t_i64, em_scratch_at(e, l->pl.flops0, "flops"), i, ""));
    em_loop_end(e, &lp);
    if (p->n_slots)
        LLVMBuildMemSet(l->b, e->slots, LLVMConstInt(l->t_i8, 0xff, 0),
                        LLVMBuildMul(l->b, n, em_i64(l, p->n_slots * 4), ""), 4);
    if (p->relus.len) { /* -fzero-stats' counts start at 0 */
        LLVMValueRef r = em_loop_begin(e, &lp, n, "zs.init");
        LLVMValueRef at = em_row_index(l, r, p->n_slots, em_i64(l, p->relus.items[0].slot));
        LLVMBuildMemSet(l->b, em_gep(l, l->t_i32, e->slots, at, ""), LLVMConstInt(l->t_i8, 0, 0),
                        em_i64(l, (int64_t)p->relus.len * 8), 4);
        em_loop_end(e, &lp);
    }

    sl_walker w = {e, walk_enter, walk_sub_enter, walk_sub_leave, walk_leave};
    sl_walk_region(&w, p->body);
    LLVMBuildRetVoid(l->b);
    LLVMDisposeBuilder(l->alloca_b);
}

void sl_lower_model(lower *l)
{
    sl_plan(l, l->tile_rows);
    build_tile(l);
}
