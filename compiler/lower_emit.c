/* lower_emit.c - the lowering's building blocks (lower_emit.h): constants,
 * memory, loops over counts and row lists, runtime calls, FLOP counters,
 * and where each value's elements are: a row of a value at r * its row
 * stride, element (o, j) of a result read from each operand as it
 * broadcasts. */
#include <stdio.h>

#include "lower_emit.h"

LLVMValueRef em_i64(lower *l, int64_t v)
{
    return LLVMConstInt(l->t_i64, (unsigned long long)v, 1);
}

LLVMValueRef em_i32(lower *l, int32_t v)
{
    return LLVMConstInt(l->t_i32, (unsigned long long)(int64_t)v, 1);
}

LLVMValueRef em_f32(lower *l, double v) { return LLVMConstReal(l->t_f32, v); }

LLVMBasicBlockRef em_block(emit *e, const char *name)
{
    return LLVMAppendBasicBlockInContext(e->l->ctx, e->fn, name);
}

void em_at(emit *e, LLVMBasicBlockRef bb) { LLVMPositionBuilderAtEnd(e->l->b, bb); }

LLVMValueRef em_gep(lower *l, LLVMTypeRef elem, LLVMValueRef base, LLVMValueRef idx,
                        const char *name)
{
    return LLVMBuildInBoundsGEP2(l->b, elem, base, &idx, 1, name);
}

LLVMValueRef em_entry_alloca(lower *l, LLVMTypeRef t, const char *name)
{
    LLVMValueRef a = LLVMBuildAlloca(l->alloca_b, t, name);
    LLVMSetAlignment(a, 16);
    return a;
}

LLVMValueRef em_load(lower *l, LLVMTypeRef t, LLVMValueRef p, const char *name)
{
    return LLVMBuildLoad2(l->b, t, p, name);
}

/* base[i] of element type t: its address, its value, a store to it. */
LLVMValueRef em_at_index(lower *l, LLVMTypeRef t, LLVMValueRef base, LLVMValueRef i)
{
    return em_gep(l, t, base, i, "");
}

LLVMValueRef em_load_at(lower *l, LLVMTypeRef t, LLVMValueRef base, LLVMValueRef i)
{
    return em_load(l, t, em_at_index(l, t, base, i), "");
}

void em_store_at(lower *l, LLVMTypeRef t, LLVMValueRef base, LLVMValueRef i, LLVMValueRef v)
{
    LLVMBuildStore(l->b, v, em_at_index(l, t, base, i));
}

/* r * stride + plus (i64), the index of element `plus` of row r. */
LLVMValueRef em_row_index(lower *l, LLVMValueRef r, int64_t stride, LLVMValueRef plus)
{
    LLVMValueRef v = LLVMBuildMul(l->b, r, em_i64(l, stride), "");
    return plus ? LLVMBuildAdd(l->b, v, plus, "") : v;
}

/* *p += v, an i64 counter. */
void em_add_to(lower *l, LLVMValueRef p, LLVMValueRef v)
{
    LLVMBuildStore(l->b, LLVMBuildAdd(l->b, em_load(l, l->t_i64, p, ""), v, ""), p);
}

LLVMValueRef em_push(lower *l, LLVMValueRef list, LLVMValueRef count, LLVMValueRef v)
{
    LLVMValueRef k = em_load(l, l->t_i64, count, "k");
    em_store_at(l, l->t_i32, list, k, LLVMBuildTrunc(l->b, v, l->t_i32, ""));
    LLVMBuildStore(l->b, LLVMBuildAdd(l->b, k, em_i64(l, 1), ""), count);
    return k;
}

/* A list's row i, widened to i64. */
LLVMValueRef em_list_row(lower *l, LLVMValueRef list, LLVMValueRef i)
{
    LLVMValueRef v = em_load(l, l->t_i32, em_at_index(l, l->t_i32, list, i), "row");
    return LLVMBuildSExt(l->b, v, l->t_i64, "r");
}

/* A runtime function, declared the first time it is called. */
LLVMValueRef em_rt(lower *l, rt_fn f)
{
    static const char *const names[RT_COUNT] = {
        [RT_DENSE_ROWS] = "sl_rt_dense_rows", [RT_LAYERNORM] = "sl_rt_layernorm",
        [RT_GELU] = "sl_rt_gelu", [RT_GELU_TANH] = "sl_rt_gelu_tanh",
        [RT_SIGMOID] = "sl_rt_sigmoid", [RT_TANH] = "sl_rt_tanh", [RT_EXP] = "sl_rt_exp",
        [RT_LOG] = "sl_rt_log", [RT_SOFTMAX] = "sl_rt_softmax",
        [RT_LOG_SOFTMAX] = "sl_rt_log_softmax", [RT_MAX] = "sl_rt_max", [RT_MIN] = "sl_rt_min",
        [RT_SUM] = "sl_rt_sum", [RT_ARGMAX] = "sl_rt_argmax", [RT_ENTROPY] = "sl_rt_entropy",
        [RT_MARGIN] = "sl_rt_margin", [RT_TOPK] = "sl_rt_topk",
        [RT_ROWS_MERGE] = "sl_rt_rows_merge", [RT_ROWS_BY_EXPERT] = "sl_rt_rows_by_expert",
        [RT_ROWS_SORT] = "sl_rt_rows_sort", [RT_ROUTE_CAPACITY] = "sl_rt_route_capacity",
        [RT_EXPERT_CHOICE] = "sl_rt_expert_choice", [RT_SWITCH_WEIGHTS] = "sl_rt_switch_weights",
        [RT_MEAN_REST] = "sl_rt_mean_rest",
        [RT_ATTENTION] = "sl_rt_attention_queries",
    };
    if (l->rt[f])
        return l->rt[f];
    LLVMTypeRef p = l->t_ptr, i64 = l->t_i64, i32 = l->t_i32;
    LLVMTypeRef ty;
    switch (f) {
    case RT_DENSE_ROWS: { /* (pack, x, ldx, y, ldy, rows, n, zero_skip) */
        LLVMTypeRef a[] = {p, p, i64, p, i64, p, i64, i32};
        ty = LLVMFunctionType(l->t_void, a, 8, 0);
        break;
    }
    case RT_LAYERNORM: { /* (x, gamma, beta, y, n, eps) */
        LLVMTypeRef a[] = {p, p, p, p, i64, l->t_f32};
        ty = LLVMFunctionType(l->t_void, a, 6, 0);
        break;
    }
    case RT_MAX: case RT_MIN: case RT_SUM: case RT_ENTROPY: case RT_MARGIN: { /* (x, n) -> f */
        LLVMTypeRef a[] = {p, i64};
        ty = LLVMFunctionType(l->t_f32, a, 2, 0);
        break;
    }
    case RT_ARGMAX: { /* (x, n) -> i64 */
        LLVMTypeRef a[] = {p, i64};
        ty = LLVMFunctionType(i64, a, 2, 0);
        break;
    }
    case RT_TOPK: { /* (x, n, k, idx, val) */
        LLVMTypeRef a[] = {p, i64, i64, p, p};
        ty = LLVMFunctionType(l->t_void, a, 5, 0);
        break;
    }
    case RT_ROUTE_CAPACITY: { /* (idx, n, k, n_experts, factor, count) */
        LLVMTypeRef a[] = {p, i64, i64, i64, l->t_f64, p};
        ty = LLVMFunctionType(l->t_void, a, 6, 0);
        break;
    }
    case RT_EXPERT_CHOICE: { /* (scores, n, n_experts, c, idx, w, col, top) */
        LLVMTypeRef a[] = {p, i64, i64, i64, p, p, p, p};
        ty = LLVMFunctionType(l->t_void, a, 8, 0);
        break;
    }
    case RT_SWITCH_WEIGHTS: { /* (scores, n_experts, idx, k, w) */
        LLVMTypeRef a[] = {p, i64, p, i64, p};
        ty = LLVMFunctionType(l->t_void, a, 5, 0);
        break;
    }
    case RT_MEAN_REST: { /* (x, n, d, kept, k, y) */
        LLVMTypeRef a[] = {p, i64, i64, p, i64, p};
        ty = LLVMFunctionType(l->t_void, a, 6, 0);
        break;
    }
    case RT_ROWS_SORT: { /* (v, n) */
        LLVMTypeRef a[] = {p, i64};
        ty = LLVMFunctionType(l->t_void, a, 2, 0);
        break;
    }
    case RT_ROWS_MERGE: { /* (a, na, b, nb, out) -> n */
        LLVMTypeRef a[] = {p, i64, p, i64, p};
        ty = LLVMFunctionType(i64, a, 5, 0);
        break;
    }
    case RT_ATTENTION: { /* (qkv, ldq, y, ldy, nq, n, d, heads, causal, scratch) */
        LLVMTypeRef a[] = {p, i64, p, i64, i64, i64, i64, i64, i32, p};
        ty = LLVMFunctionType(l->t_void, a, 10, 0);
        break;
    }
    case RT_ROWS_BY_EXPERT: { /* (rows, n, idx, k, n_experts, start, bucket_rows, bucket_pos) */
        LLVMTypeRef a[] = {p, i64, p, i64, i64, p, p, p};
        ty = LLVMFunctionType(l->t_void, a, 8, 0);
        break;
    }
    default: { /* elementwise and softmax: (x, y, n) */
        LLVMTypeRef a[] = {p, p, i64};
        ty = LLVMFunctionType(l->t_void, a, 3, 0);
        break;
    }
    }
    l->rt_ty[f] = ty;
    l->rt[f] = LLVMAddFunction(l->mod, names[f], ty);
    unsigned nounwind = LLVMGetEnumAttributeKindForName("nounwind", 8);
    LLVMAddAttributeAtIndex(l->rt[f], LLVMAttributeFunctionIndex,
                            LLVMCreateEnumAttribute(l->ctx, nounwind, 0));
    return l->rt[f];
}

LLVMValueRef em_call(lower *l, rt_fn f, LLVMValueRef *args, unsigned n, const char *name)
{
    LLVMValueRef fn = em_rt(l, f);
    return LLVMBuildCall2(l->b, l->rt_ty[f], fn, args, n, name);
}

/* Scratch bytes at a plan offset (bytes per tile row). */
LLVMValueRef em_scratch_at(emit *e, int64_t off, const char *name)
{
    return em_gep(e->l, e->l->t_i8, e->scratch, em_i64(e->l, off * e->l->tile_rows), name);
}

LLVMValueRef em_loop_begin(emit *e, loop *lp, LLVMValueRef n, const char *name)
{
    lower *l = e->l;
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(l->b);
    char buf[64];
    snprintf(buf, sizeof buf, "%s.done", name);
    lp->head = em_block(e, name);
    lp->done = em_block(e, buf);
    lp->n = n;
    if (LLVMIsConstant(n))
        LLVMBuildBr(l->b, lp->head); /* constant counts are >= 1 */
    else
        LLVMBuildCondBr(l->b, LLVMBuildICmp(l->b, LLVMIntSGT, n, em_i64(l, 0), ""), lp->head,
                        lp->done);
    em_at(e, lp->head);
    lp->phi = LLVMBuildPhi(l->b, l->t_i64, "i");
    LLVMValueRef zero = em_i64(l, 0);
    LLVMAddIncoming(lp->phi, &zero, &pre, 1);
    return lp->i = lp->phi;
}

void em_loop_end(emit *e, loop *lp)
{
    lower *l = e->l;
    LLVMBasicBlockRef last = LLVMGetInsertBlock(l->b);
    LLVMValueRef next = LLVMBuildAdd(l->b, lp->i, em_i64(l, 1), "i.next");
    LLVMValueRef more = LLVMBuildICmp(l->b, LLVMIntSLT, next, lp->n, "more");
    LLVMBuildCondBr(l->b, more, lp->head, lp->done);
    LLVMAddIncoming(lp->phi, &next, &last, 1);
    LLVMMoveBasicBlockAfter(lp->done, last);
    em_at(e, lp->done);
}

LLVMValueRef em_rows_begin(emit *e, rows_loop *r, LLVMValueRef list, LLVMValueRef count,
                               const char *name)
{
    lower *l = e->l;
    LLVMValueRef i = em_loop_begin(e, &r->lp, count, name);
    return r->row = em_list_row(l, list, i);
}

void em_rows_end(emit *e, rows_loop *r) { em_loop_end(e, &r->lp); }

LLVMValueRef em_frame_count(emit *e) { return em_load(e->l, e->l->t_i64, e->fr->count, "n"); }

void em_token_list_past(emit *e, sl_ty t, LLVMValueRef past, LLVMValueRef list,
                        LLVMValueRef count)
{
    lower *l = e->l;
    LLVMBuildStore(l->b, em_i64(l, 0), count);
    rows_loop r;
    LLVMValueRef row = em_rows_begin(e, &r, e->fr->rows, em_frame_count(e), "tokens.row");
    LLVMValueRef first = LLVMBuildMul(l->b, row, em_i64(l, t.dims[0]), "");
    LLVMValueRef n = em_extent(e, t, row);
    if (past) {
        LLVMValueRef k = LLVMBuildSExt(l->b, em_load_at(l, l->t_i32, past, row), l->t_i64, "past");
        first = LLVMBuildAdd(l->b, first, k, "");
        n = LLVMBuildSub(l->b, n, k, "");
    }
    loop lp;
    LLVMValueRef o = em_loop_begin(e, &lp, n, "tokens.o");
    em_push(l, list, count, LLVMBuildAdd(l->b, first, o, ""));
    em_loop_end(e, &lp);
    em_rows_end(e, &r);
}

void em_token_list(emit *e, sl_ty t, LLVMValueRef list, LLVMValueRef count)
{
    em_token_list_past(e, t, NULL, list, count);
}

/* ---- FLOPs ------------------------------------------------------------------ */

/* Row r's token count (i64); a model without tokens has none. */
LLVMValueRef em_row_tokens(emit *e, LLVMValueRef r)
{
    lower *l = e->l;
    LLVMValueRef v = em_load_at(l, l->t_i32, e->tokens, r);
    return LLVMBuildSExt(l->b, v, l->t_i64, "tokens");
}

LLVMValueRef em_extent(emit *e, sl_ty t, LLVMValueRef r)
{
    lower *l = e->l;
    if (!sl_ty_is_seq(t))
        return em_i64(l, t.dims[0]);
    LLVMValueRef v = LLVMBuildMul(l->b, em_row_tokens(e, r), em_i64(l, t.tok_a), "");
    return LLVMBuildAdd(l->b, v, em_i64(l, t.tok_c), "rows");
}

/* counter[r] += f at row r's token count (FLOPs are whole numbers). */
void em_add_row_flops(emit *e, LLVMValueRef acc, LLVMValueRef r, sl_flops f)
{
    lower *l = e->l;
    if (e->fr->row_tokens)
        r = LLVMBuildUDiv(l->b, r, em_i64(l, e->fr->row_tokens), "token.row");
    LLVMValueRef v = em_i64(l, (int64_t)f.k);
    if (f.t != 0 || f.tt != 0) {
        LLVMValueRef t = em_row_tokens(e, r);
        LLVMValueRef lin = LLVMBuildAdd(l->b, em_i64(l, (int64_t)f.t),
                                        LLVMBuildMul(l->b, em_i64(l, (int64_t)f.tt), t, ""), "");
        v = LLVMBuildAdd(l->b, v, LLVMBuildMul(l->b, lin, t, ""), "row.flops");
    }
    em_add_to(l, em_at_index(l, l->t_i64, acc, r), v);
}

/* Add what every row of the frame ran since the last flush to its rows'
 * counters: once per frame and control point, not once per node. */
void em_flush_flops(emit *e)
{
    lower *l = e->l;
    frame *f = e->fr;
    if (sl_flops_is_zero(f->pending))
        return;
    LLVMValueRef acc = em_scratch_at(e, l->pl.flops0, "flops");
    rows_loop r;
    LLVMValueRef j = em_rows_begin(e, &r, f->rows, em_frame_count(e), "flops.add");
    em_add_row_flops(e, acc, j, f->pending);
    em_rows_end(e, &r);
    f->pending = (sl_flops){0, 0, 0};
}

/* ---- values ------------------------------------------------------------------ */

LLVMTypeRef em_elem_ty(lower *l, const sl_node *n)
{
    return n->ty.elem == SL_F32 ? l->t_f32 : n->ty.elem == SL_I32 ? l->t_i32 : l->t_i8;
}

static const sl_node *resolve(const emit *e, const sl_node *n)
{
    while (e->alias[n->id])
        n = e->alias[n->id];
    return n;
}

LLVMValueRef em_base(emit *e, const sl_node *n)
{
    lower *l = e->l;
    n = resolve(e, n);
    switch (n->op) {
    case SL_OP_INPUT:
        return e->x;
    case SL_OP_TENSOR: {
        LLVMValueRef p = em_gep(l, l->t_ptr, e->tensors, em_i64(l, n->inst->w_tensor), "");
        return em_load(l, l->t_ptr, p, n->inst->path);
    }
    case SL_OP_CONST_VEC:
        return e->vals[n->id]; /* its global, made where it stands */
    default:
        return em_scratch_at(e, l->pl.off[n->id], "buf");
    }
}

/* A route's input is read through its alias at the stride of the node
 * that names it: the whole input per row, or one token (row ids r * most
 * + t) when the route is over tokens. */
int64_t em_row_stride(const emit *e, const sl_node *n)
{
    const sl_node *at = resolve(e, n);
    return at->op == SL_OP_TENSOR || at->op == SL_OP_CONST_VEC ? 0 : sl_ty_numel(n->ty);
}

LLVMValueRef em_row_ptr(emit *e, const sl_node *n, LLVMValueRef r)
{
    lower *l = e->l;
    int64_t stride = em_row_stride(e, n);
    n = resolve(e, n);
    if (stride == 0)
        return em_base(e, n);
    return em_gep(l, em_elem_ty(l, n), em_base(e, n), LLVMBuildMul(l->b, r, em_i64(l, stride), ""),
                  "row.p");
}

int64_t em_res_inner(sl_ty t)
{
    if (t.rank == 2)
        return t.dims[1];
    return sl_ty_is_seq(t) ? 1 : sl_ty_numel(t);
}

static bool has_rows(sl_ty t) { return t.rank == 2 || sl_ty_is_seq(t); }

/* Where element (o, j) of a result of type res is in a value of type t. */
static LLVMValueRef index_in(lower *l, sl_ty t, sl_ty res, LLVMValueRef o, LLVMValueRef j)
{
    if (t.rank == 0)
        return NULL;
    if (t.rank == res.rank) { /* the same shape */
        if (!has_rows(res))
            return j;
        return LLVMBuildAdd(l->b, LLVMBuildMul(l->b, o, em_i64(l, em_res_inner(res)), ""), j, "");
    }
    return sl_ty_is_seq(t) ? o : j; /* per row: its value; a vector: along the row */
}

static LLVMValueRef load_elem(emit *e, const sl_node *n, LLVMValueRef r, LLVMValueRef idx)
{
    lower *l = e->l;
    LLVMTypeRef t = em_elem_ty(l, n);
    int64_t stride = em_row_stride(e, n);
    LLVMValueRef at = stride ? LLVMBuildMul(l->b, r, em_i64(l, stride), "") : em_i64(l, 0);
    if (idx)
        at = LLVMBuildAdd(l->b, at, idx, "");
    LLVMValueRef v = em_load(l, t, em_at_index(l, t, em_base(e, n), at), "v");
    if (n->ty.elem == SL_BOOL)
        v = LLVMBuildICmp(l->b, LLVMIntNE, v, LLVMConstInt(l->t_i8, 0, 0), "b");
    return v;
}

LLVMValueRef em_element_at(emit *e, const sl_node *n, sl_ty res, LLVMValueRef r, LLVMValueRef o,
                           LLVMValueRef j)
{
    lower *l = e->l;
    if (l->pl.uniform[n->id])
        return e->vals[n->id];
    if (l->pl.fused[n->id]) {
        if (n->op == SL_OP_INDEX)
            return load_elem(e, n->a, r, em_i64(l, n->index));
        LLVMValueRef a = n->a ? em_element_at(e, n->a, res, r, o, j) : NULL;
        LLVMValueRef b = n->b ? em_element_at(e, n->b, res, r, o, j) : NULL;
        return em_scalar_op(l, n, a, b);
    }
    return load_elem(e, n, r, index_in(l, n->ty, res, o, j));
}

LLVMValueRef em_element(emit *e, const sl_node *n, LLVMValueRef r, LLVMValueRef i)
{
    return em_element_at(e, n, n->ty, r, em_i64(e->l, 0), i);
}

void em_store_element(emit *e, const sl_node *n, LLVMValueRef r, LLVMValueRef i, LLVMValueRef v)
{
    lower *l = e->l;
    int64_t numel = sl_ty_numel(n->ty);
    LLVMValueRef at = numel == 1 ? r : em_row_index(l, r, numel, i);
    if (n->ty.elem == SL_BOOL)
        v = LLVMBuildZExt(l->b, v, l->t_i8, "");
    em_store_at(l, em_elem_ty(l, n), em_base(e, n), at, v);
}

/* ---- cheap elementwise work ---------------------------------------------- */

LLVMValueRef em_scalar_op(lower *l, const sl_node *n, LLVMValueRef a, LLVMValueRef b)
{
    bool f = n->a && n->a->ty.elem == SL_F32;
    switch (n->op) {
    case SL_OP_NEG: return f ? LLVMBuildFNeg(l->b, a, "neg") : LLVMBuildNeg(l->b, a, "neg");
    case SL_OP_NOT: return LLVMBuildNot(l->b, a, "not");
    case SL_OP_TO_F32: return LLVMBuildSIToFP(l->b, a, l->t_f32, "f");
    case SL_OP_RELU: {
        /* x < 0 ? 0 : x keeps NaN, as torch.relu does */
        LLVMValueRef neg = LLVMBuildFCmp(l->b, LLVMRealOLT, a, em_f32(l, 0), "isneg");
        return LLVMBuildSelect(l->b, neg, em_f32(l, 0), a, "relu");
    }
    case SL_OP_ADD: return f ? LLVMBuildFAdd(l->b, a, b, "add") : LLVMBuildAdd(l->b, a, b, "add");
    case SL_OP_SUB: return f ? LLVMBuildFSub(l->b, a, b, "sub") : LLVMBuildSub(l->b, a, b, "sub");
    case SL_OP_MUL: return f ? LLVMBuildFMul(l->b, a, b, "mul") : LLVMBuildMul(l->b, a, b, "mul");
    case SL_OP_DIV: return LLVMBuildFDiv(l->b, a, b, "div");
    case SL_OP_AND: return LLVMBuildAnd(l->b, a, b, "and");
    case SL_OP_OR: return LLVMBuildOr(l->b, a, b, "or");
    default: break;
    }
    /* comparisons */
    static const LLVMRealPredicate fp[] = {LLVMRealOLT, LLVMRealOLE, LLVMRealOGT, LLVMRealOGE,
                                           LLVMRealOEQ, LLVMRealUNE};
    static const LLVMIntPredicate ip[] = {LLVMIntSLT, LLVMIntSLE, LLVMIntSGT, LLVMIntSGE,
                                          LLVMIntEQ, LLVMIntNE};
    int k = n->op - SL_OP_LT;
    if (f)
        return LLVMBuildFCmp(l->b, fp[k], a, b, "cmp");
    return LLVMBuildICmp(l->b, ip[k], a, b, "cmp");
}

