/* lower.c - the checked program to LLVM IR, over row sets.
 *
 * A model becomes `void <name>_tile(env, scratch, n, x, tokens, y, exits,
 * slots, flops)` (runtime/include/sluice/model.h): one tile of a batch, n rows.
 * Every region runs once over the rows that reach it, as a list of the
 * tile's row numbers (a frame): a gate splits its frame's rows between its
 * arms, an exit takes its leaving rows out of the frame and computes their
 * value for them alone, a route groups rows by chosen expert and runs each
 * expert over its group, a block-gated layer computes each block for the
 * rows that turn it on.  A region no row reaches is skipped by a real
 * branch.  Values live in "tile coordinates" (plan.c): row r of a value is
 * at the same place whichever region computes it, so a region reads what
 * its enclosing regions computed, in place.
 *
 * Dense layers call the runtime's row-set kernel (sl_rt_dense_rows) on
 * weights packed at open; other heavy work calls a kernel per row; chains
 * of cheap elementwise operations become one loop over rows and elements,
 * which LLVM vectorizes.  Each row's FLOPs are counted in the tile's
 * counters: what every row of a frame runs is added once per frame (flush),
 * per-row amounts (active blocks) as they happen. */
#include <stdio.h>
#include <string.h>

#include "lower.h"
#include "sluice/model.h" /* SL_FORCE_NONE */

/* ---- helpers ------------------------------------------------------------ */

static LLVMValueRef i64c(lower *l, int64_t v)
{
    return LLVMConstInt(l->t_i64, (unsigned long long)v, 1);
}

static LLVMValueRef i32c(lower *l, int32_t v)
{
    return LLVMConstInt(l->t_i32, (unsigned long long)(int64_t)v, 1);
}

static LLVMValueRef f32c(lower *l, double v) { return LLVMConstReal(l->t_f32, v); }

typedef struct frame frame;

/* The function being built. */
typedef struct emit {
    lower *l;
    LLVMValueRef fn;
    LLVMValueRef scratch, x, tokens, y, exits, slots, flops_out; /* the tile's arguments */
    LLVMValueRef tensors, dense, thresholds, force;      /* from the env */
    LLVMValueRef *vals;         /* per node: a uniform value's SSA scalar */
    const sl_node **alias;      /* per node: ROUTE_ARG -> the route's input */
    frame *fr;                  /* the frame being run */
    int item_no;                /* items entered so far (plan.items) */
    SL_VEC(struct open_item *) open; /* items entered and not yet left */
} emit;

/* A region's rows: the list of tile rows it runs over, and their count. */
struct frame {
    LLVMValueRef rows;          /* i32 *: ascending tile row numbers */
    LLVMValueRef count;         /* i64 alloca */
    LLVMBasicBlockRef skip;     /* where the region's code is jumped over to */
    sl_flops pending;           /* FLOPs each of its rows ran since the last flush */
    frame *parent;
};

static LLVMBasicBlockRef block(emit *e, const char *name)
{
    return LLVMAppendBasicBlockInContext(e->l->ctx, e->fn, name);
}

static void at(emit *e, LLVMBasicBlockRef bb) { LLVMPositionBuilderAtEnd(e->l->b, bb); }

static LLVMValueRef gep(lower *l, LLVMTypeRef elem, LLVMValueRef base, LLVMValueRef idx,
                        const char *name)
{
    return LLVMBuildInBoundsGEP2(l->b, elem, base, &idx, 1, name);
}

static LLVMValueRef entry_alloca(lower *l, LLVMTypeRef t, const char *name)
{
    LLVMValueRef a = LLVMBuildAlloca(l->alloca_b, t, name);
    LLVMSetAlignment(a, 16);
    return a;
}

static LLVMValueRef load(lower *l, LLVMTypeRef t, LLVMValueRef p, const char *name)
{
    return LLVMBuildLoad2(l->b, t, p, name);
}

/* base[i] of element type t: its address, its value, a store to it. */
static LLVMValueRef at_index(lower *l, LLVMTypeRef t, LLVMValueRef base, LLVMValueRef i)
{
    return gep(l, t, base, i, "");
}

static LLVMValueRef load_at(lower *l, LLVMTypeRef t, LLVMValueRef base, LLVMValueRef i)
{
    return load(l, t, at_index(l, t, base, i), "");
}

static void store_at(lower *l, LLVMTypeRef t, LLVMValueRef base, LLVMValueRef i, LLVMValueRef v)
{
    LLVMBuildStore(l->b, v, at_index(l, t, base, i));
}

/* r * stride + plus (i64), the index of element `plus` of row r. */
static LLVMValueRef row_index(lower *l, LLVMValueRef r, int64_t stride, LLVMValueRef plus)
{
    LLVMValueRef v = LLVMBuildMul(l->b, r, i64c(l, stride), "");
    return plus ? LLVMBuildAdd(l->b, v, plus, "") : v;
}

/* *p += v, an i64 counter. */
static void add_to(lower *l, LLVMValueRef p, LLVMValueRef v)
{
    LLVMBuildStore(l->b, LLVMBuildAdd(l->b, load(l, l->t_i64, p, ""), v, ""), p);
}

/* A list's row i, widened to i64. */
static LLVMValueRef list_row(lower *l, LLVMValueRef list, LLVMValueRef i)
{
    LLVMValueRef v = load(l, l->t_i32, at_index(l, l->t_i32, list, i), "row");
    return LLVMBuildSExt(l->b, v, l->t_i64, "r");
}

/* A runtime function, declared the first time it is called. */
static LLVMValueRef rt(lower *l, rt_fn f)
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
    case RT_ROWS_MERGE: { /* (a, na, b, nb, out) -> n */
        LLVMTypeRef a[] = {p, i64, p, i64, p};
        ty = LLVMFunctionType(i64, a, 5, 0);
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

static LLVMValueRef call(lower *l, rt_fn f, LLVMValueRef *args, unsigned n, const char *name)
{
    LLVMValueRef fn = rt(l, f);
    return LLVMBuildCall2(l->b, l->rt_ty[f], fn, args, n, name);
}

/* Scratch bytes at a plan offset (bytes per tile row). */
static LLVMValueRef scratch_at(emit *e, int64_t off, const char *name)
{
    return gep(e->l, e->l->t_i8, e->scratch, i64c(e->l, off * e->l->tile_rows), name);
}

/* A counted loop over [0, n): returns the index; close with loop_end.  The
 * count is checked first, so n may be 0. */
typedef struct loop {
    LLVMValueRef i, phi, n;
    LLVMBasicBlockRef head, done;
} loop;

static LLVMValueRef loop_begin(emit *e, loop *lp, LLVMValueRef n, const char *name)
{
    lower *l = e->l;
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(l->b);
    char buf[64];
    snprintf(buf, sizeof buf, "%s.done", name);
    lp->head = block(e, name);
    lp->done = block(e, buf);
    lp->n = n;
    if (LLVMIsConstant(n))
        LLVMBuildBr(l->b, lp->head); /* constant counts are >= 1 */
    else
        LLVMBuildCondBr(l->b, LLVMBuildICmp(l->b, LLVMIntSGT, n, i64c(l, 0), ""), lp->head,
                        lp->done);
    at(e, lp->head);
    lp->phi = LLVMBuildPhi(l->b, l->t_i64, "i");
    LLVMValueRef zero = i64c(l, 0);
    LLVMAddIncoming(lp->phi, &zero, &pre, 1);
    return lp->i = lp->phi;
}

static void loop_end(emit *e, loop *lp)
{
    lower *l = e->l;
    LLVMBasicBlockRef last = LLVMGetInsertBlock(l->b);
    LLVMValueRef next = LLVMBuildAdd(l->b, lp->i, i64c(l, 1), "i.next");
    LLVMValueRef more = LLVMBuildICmp(l->b, LLVMIntSLT, next, lp->n, "more");
    LLVMBuildCondBr(l->b, more, lp->head, lp->done);
    LLVMAddIncoming(lp->phi, &next, &last, 1);
    LLVMMoveBasicBlockAfter(lp->done, last);
    at(e, lp->done);
}

/* A loop over a row list: returns the row (i64); rows_end closes it. */
typedef struct rows_loop {
    loop lp;
    LLVMValueRef row;
} rows_loop;

static LLVMValueRef rows_begin(emit *e, rows_loop *r, LLVMValueRef list, LLVMValueRef count,
                               const char *name)
{
    lower *l = e->l;
    LLVMValueRef i = loop_begin(e, &r->lp, count, name);
    return r->row = list_row(l, list, i);
}

static void rows_end(emit *e, rows_loop *r) { loop_end(e, &r->lp); }

static LLVMValueRef frame_count(emit *e) { return load(e->l, e->l->t_i64, e->fr->count, "n"); }

/* ---- FLOPs ------------------------------------------------------------------ */

/* Row r's token count (i64); a model without tokens has none. */
static LLVMValueRef row_tokens(emit *e, LLVMValueRef r)
{
    lower *l = e->l;
    LLVMValueRef v = load_at(l, l->t_i32, e->tokens, r);
    return LLVMBuildSExt(l->b, v, l->t_i64, "tokens");
}

/* counter[r] += f at row r's token count (FLOPs are whole numbers). */
static void add_row_flops(emit *e, LLVMValueRef acc, LLVMValueRef r, sl_flops f)
{
    lower *l = e->l;
    LLVMValueRef v = i64c(l, (int64_t)f.k);
    if (f.t != 0 || f.tt != 0) {
        LLVMValueRef t = row_tokens(e, r);
        LLVMValueRef lin = LLVMBuildAdd(l->b, i64c(l, (int64_t)f.t),
                                        LLVMBuildMul(l->b, i64c(l, (int64_t)f.tt), t, ""), "");
        v = LLVMBuildAdd(l->b, v, LLVMBuildMul(l->b, lin, t, ""), "row.flops");
    }
    add_to(l, at_index(l, l->t_i64, acc, r), v);
}

/* Add what every row of the frame ran since the last flush to its rows'
 * counters: once per frame and control point, not once per node. */
static void flush_flops(emit *e)
{
    lower *l = e->l;
    frame *f = e->fr;
    if (sl_flops_is_zero(f->pending))
        return;
    LLVMValueRef acc = scratch_at(e, l->pl.flops0, "flops");
    rows_loop r;
    LLVMValueRef j = rows_begin(e, &r, f->rows, frame_count(e), "flops.add");
    add_row_flops(e, acc, j, f->pending);
    rows_end(e, &r);
    f->pending = (sl_flops){0, 0, 0};
}

/* ---- values ------------------------------------------------------------------ */

/* A per-row value's storage: row r, element i at base[r * numel + i]. */
static LLVMValueRef base_of(emit *e, const sl_node *n)
{
    while (e->alias[n->id])
        n = e->alias[n->id];
    if (n->op == SL_OP_INPUT)
        return e->x;
    return scratch_at(e, e->l->pl.off[n->id], "buf");
}

static LLVMTypeRef elem_ty(lower *l, const sl_node *n)
{
    return n->ty.elem == SL_F32 ? l->t_f32 : n->ty.elem == SL_I32 ? l->t_i32 : l->t_i8;
}

static LLVMValueRef scalar_op(lower *l, const sl_node *n, LLVMValueRef a, LLVMValueRef b);

/* Element i of row r of n (i ignored for scalars).  Bools come back as i1. */
static LLVMValueRef element(emit *e, const sl_node *n, LLVMValueRef r, LLVMValueRef i)
{
    lower *l = e->l;
    if (l->pl.uniform[n->id])
        return e->vals[n->id];
    if (l->pl.fused[n->id]) {
        if (n->op == SL_OP_INDEX)
            return element(e, n->a, r, i64c(l, n->index));
        LLVMValueRef a = n->a ? element(e, n->a, r, i) : NULL;
        LLVMValueRef b = n->b ? element(e, n->b, r, i) : NULL;
        return scalar_op(l, n, a, b);
    }
    int64_t numel = sl_ty_numel(n->ty);
    LLVMValueRef at_ = numel == 1 ? r : row_index(l, r, numel, i);
    LLVMValueRef v = load(l, elem_ty(l, n), at_index(l, elem_ty(l, n), base_of(e, n), at_), "v");
    if (n->ty.elem == SL_BOOL)
        v = LLVMBuildICmp(l->b, LLVMIntNE, v, LLVMConstInt(l->t_i8, 0, 0), "b");
    return v;
}

static void store_element(emit *e, const sl_node *n, LLVMValueRef r, LLVMValueRef i,
                          LLVMValueRef v)
{
    lower *l = e->l;
    int64_t numel = sl_ty_numel(n->ty);
    LLVMValueRef at_ = numel == 1 ? r : row_index(l, r, numel, i);
    if (n->ty.elem == SL_BOOL)
        v = LLVMBuildZExt(l->b, v, l->t_i8, "");
    store_at(l, elem_ty(l, n), base_of(e, n), at_, v);
}

/* Row r of a per-row value, as a pointer to its first element. */
static LLVMValueRef row_ptr(emit *e, const sl_node *n, LLVMValueRef r)
{
    lower *l = e->l;
    LLVMValueRef off = LLVMBuildMul(l->b, r, i64c(l, sl_ty_numel(n->ty)), "");
    return gep(l, elem_ty(l, n), base_of(e, n), off, "row.p");
}

/* ---- cheap elementwise work ---------------------------------------------- */

/* One element of a cheap operation on scalar values (i1, i32 or float). */
static LLVMValueRef scalar_op(lower *l, const sl_node *n, LLVMValueRef a, LLVMValueRef b)
{
    bool f = n->a && n->a->ty.elem == SL_F32;
    switch (n->op) {
    case SL_OP_NEG: return f ? LLVMBuildFNeg(l->b, a, "neg") : LLVMBuildNeg(l->b, a, "neg");
    case SL_OP_NOT: return LLVMBuildNot(l->b, a, "not");
    case SL_OP_TO_F32: return LLVMBuildSIToFP(l->b, a, l->t_f32, "f");
    case SL_OP_RELU: {
        /* x < 0 ? 0 : x keeps NaN, as torch.relu does */
        LLVMValueRef neg = LLVMBuildFCmp(l->b, LLVMRealOLT, a, f32c(l, 0), "isneg");
        return LLVMBuildSelect(l->b, neg, f32c(l, 0), a, "relu");
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

/* A per-row value computed element by element over the frame's rows: its
 * fused operands inline.  `value` gives element i of row r. */
static void elementwise(emit *e, const sl_node *n)
{
    lower *l = e->l;
    int64_t numel = sl_ty_numel(n->ty);
    rows_loop r;
    LLVMValueRef row = rows_begin(e, &r, e->fr->rows, frame_count(e), "ew.row");
    loop inner;
    LLVMValueRef i = numel > 1 ? loop_begin(e, &inner, i64c(l, numel), "ew") : i64c(l, 0);
    LLVMValueRef v;
    if (n->op == SL_OP_INDEX) {
        v = element(e, n->a, row, i64c(l, n->index));
    } else {
        LLVMValueRef a = n->a ? element(e, n->a, row, i) : NULL;
        LLVMValueRef b = n->b ? element(e, n->b, row, i) : NULL;
        v = scalar_op(l, n, a, b);
    }
    store_element(e, n, row, i, v);
    if (numel > 1)
        loop_end(e, &inner);
    rows_end(e, &r);
}

/* ---- nodes ------------------------------------------------------------------- */

static rt_fn unary_kernel(sl_op op)
{
    switch (op) {
    case SL_OP_GELU: return RT_GELU;
    case SL_OP_GELU_TANH: return RT_GELU_TANH;
    case SL_OP_SIGMOID: return RT_SIGMOID;
    case SL_OP_TANH: return RT_TANH;
    case SL_OP_EXP: return RT_EXP;
    case SL_OP_LOG: return RT_LOG;
    case SL_OP_SOFTMAX: return RT_SOFTMAX;
    case SL_OP_LOG_SOFTMAX: return RT_LOG_SOFTMAX;
    case SL_OP_MAX: return RT_MAX;
    case SL_OP_MIN: return RT_MIN;
    case SL_OP_SUM: case SL_OP_MEAN: return RT_SUM;
    case SL_OP_ARGMAX: return RT_ARGMAX;
    case SL_OP_ENTROPY: return RT_ENTROPY;
    default: return RT_MARGIN;
    }
}

static LLVMValueRef tensor(emit *e, int index, const char *name)
{
    lower *l = e->l;
    return load(l, l->t_ptr, gep(l, l->t_ptr, e->tensors, i64c(l, index), ""), name);
}

static LLVMValueRef dense_pack(emit *e, LLVMValueRef index)
{
    lower *l = e->l;
    return load(l, l->t_ptr, gep(l, l->t_ptr, e->dense, index, ""), "pack");
}

/* One call of the row-set kernel: outputs [col0, col0 + cols) of the rows
 * listed, from pack `index`. */
static void dense_call(emit *e, const sl_node *n, LLVMValueRef pack_index, int64_t col0,
                       LLVMValueRef rows, LLVMValueRef count)
{
    lower *l = e->l;
    LLVMValueRef y = gep(l, l->t_f32, base_of(e, n), i64c(l, col0), "y");
    LLVMValueRef args[] = {dense_pack(e, pack_index), base_of(e, n->a), i64c(l, n->inst->n_in),
                           y, i64c(l, n->inst->n_out), rows, count,
                           i32c(l, sl_plan_zero_skips(l, n))};
    call(l, RT_DENSE_ROWS, args, 8, "");
}

/* fc(x) over the frame's rows (a layer declared with blocks: block by block). */
static void lower_dense(emit *e, const sl_node *n)
{
    lower *l = e->l;
    int first = l->pl.dense[n->inst->w_tensor];
    int64_t k = n->inst->blocks ? n->inst->blocks : 1, rows = n->inst->n_out / k;
    LLVMValueRef count = frame_count(e);
    for (int64_t b = 0; b < k; b++)
        dense_call(e, n, i64c(l, first + b), b * rows, e->fr->rows, count);
}

/* fc[mask](x): per block, the rows whose mask turns it on; the block's
 * units are 0 for the others.  Each row's FLOPs grow per active block. */
static void lower_dense_blocks(emit *e, const sl_node *n, const plan_item *pi)
{
    lower *l = e->l;
    const sl_inst *inst = n->inst;
    int64_t rows = inst->n_out / inst->blocks;
    const sl_decision *d = &l->p->decisions.items[n->decision];
    LLVMValueRef list = scratch_at(e, pi->list0, "block.rows");
    LLVMValueRef nact = entry_alloca(l, l->t_i64, "block.n");
    LLVMValueRef acc = scratch_at(e, l->pl.flops0, "flops");

    loop bl;
    LLVMValueRef b = loop_begin(e, &bl, i64c(l, inst->blocks), "block");
    LLVMBuildStore(l->b, i64c(l, 0), nact);
    rows_loop r;
    LLVMValueRef row = rows_begin(e, &r, e->fr->rows, frame_count(e), "block.part");
    LLVMValueRef m = load(l, l->t_i8, at_index(l, l->t_i8, base_of(e, n->b),
                                                row_index(l, row, inst->blocks, b)), "m");
    LLVMValueRef on = LLVMBuildICmp(l->b, LLVMIntNE, m, LLVMConstInt(l->t_i8, 0, 0), "active");
    LLVMValueRef slot = row_index(l, row, l->p->n_slots,
                                  LLVMBuildAdd(l->b, b, i64c(l, d->slot), ""));
    store_at(l, l->t_i32, e->slots, slot, LLVMBuildZExt(l->b, on, l->t_i32, ""));
    LLVMBasicBlockRef yes = block(e, "block.on"), no = block(e, "block.off");
    LLVMBasicBlockRef next = block(e, "block.next");
    LLVMBuildCondBr(l->b, on, yes, no);
    at(e, yes);
    LLVMValueRef k = load(l, l->t_i64, nact, "k");
    store_at(l, l->t_i32, list, k, LLVMBuildTrunc(l->b, row, l->t_i32, ""));
    LLVMBuildStore(l->b, LLVMBuildAdd(l->b, k, i64c(l, 1), ""), nact);
    add_row_flops(e, acc, row, n->flops);
    LLVMBuildBr(l->b, next);
    at(e, no);
    LLVMValueRef y = at_index(l, l->t_f32, row_ptr(e, n, row), row_index(l, b, rows, NULL));
    LLVMBuildMemSet(l->b, y, LLVMConstInt(l->t_i8, 0, 0), i64c(l, rows * 4), 4);
    LLVMBuildBr(l->b, next);
    at(e, next);
    rows_end(e, &r);

    /* The block's weights are read only when some row turns it on. */
    LLVMValueRef cnt = load(l, l->t_i64, nact, "block.n");
    LLVMBasicBlockRef run = block(e, "block.run"), done = block(e, "block.skip");
    LLVMBuildCondBr(l->b, LLVMBuildICmp(l->b, LLVMIntSGT, cnt, i64c(l, 0), "any"), run, done);
    at(e, run);
    LLVMValueRef pack = LLVMBuildAdd(l->b, i64c(l, l->pl.dense[inst->w_tensor]), b, "");
    LLVMValueRef yb = gep(l, l->t_f32, base_of(e, n), row_index(l, b, rows, NULL), "y");
    LLVMValueRef args[] = {dense_pack(e, pack), base_of(e, n->a), i64c(l, inst->n_in), yb,
                           i64c(l, inst->n_out), list, cnt, i32c(l, 0)};
    call(l, RT_DENSE_ROWS, args, 8, "");
    LLVMBuildBr(l->b, done);
    at(e, done);
    loop_end(e, &bl);
}

/* A kernel over each row's vector: y_r = f(x_r), or out[r] = f(x_r). */
static void per_row_kernel(emit *e, const sl_node *n)
{
    lower *l = e->l;
    int64_t len = sl_ty_numel(n->a->ty);
    rows_loop r;
    LLVMValueRef row = rows_begin(e, &r, e->fr->rows, frame_count(e), sl_op_str(n->op));
    LLVMValueRef x = row_ptr(e, n->a, row);
    switch (n->op) {
    case SL_OP_LAYERNORM: {
        LLVMValueRef args[] = {x, tensor(e, n->inst->w_tensor, "gamma"),
                               tensor(e, n->inst->b_tensor, "beta"), row_ptr(e, n, row),
                               i64c(l, len), f32c(l, 1e-5)};
        call(l, RT_LAYERNORM, args, 6, "");
        break;
    }
    case SL_OP_GELU: case SL_OP_GELU_TANH: case SL_OP_SIGMOID: case SL_OP_TANH:
    case SL_OP_EXP: case SL_OP_LOG: case SL_OP_SOFTMAX: case SL_OP_LOG_SOFTMAX: {
        LLVMValueRef args[] = {x, row_ptr(e, n, row), i64c(l, len)};
        call(l, unary_kernel(n->op), args, 3, "");
        break;
    }
    default: { /* reductions */
        LLVMValueRef args[] = {x, i64c(l, len)};
        LLVMValueRef v = call(l, unary_kernel(n->op), args, 2, sl_op_str(n->op));
        if (n->op == SL_OP_MEAN)
            v = LLVMBuildFDiv(l->b, v, f32c(l, (double)len), "mean");
        else if (n->op == SL_OP_ARGMAX)
            v = LLVMBuildTrunc(l->b, v, l->t_i32, "argmax");
        store_element(e, n, row, i64c(l, 0), v);
        break;
    }
    }
    rows_end(e, &r);
}

/* A uniform value: one scalar for every row. */
static void lower_uniform(emit *e, const sl_node *n)
{
    lower *l = e->l;
    switch (n->op) {
    case SL_OP_CONST:
        e->vals[n->id] = n->ty.elem == SL_F32 ? f32c(l, n->value)
                         : n->ty.elem == SL_I32 ? i32c(l, (int32_t)n->value)
                                                : LLVMConstInt(l->t_i1, n->value != 0, 0);
        return;
    case SL_OP_THRESHOLD: {
        LLVMValueRef p = gep(l, l->t_f32, e->thresholds, i64c(l, n->index), "");
        e->vals[n->id] = load(l, l->t_f32, p, l->p->thresholds.items[n->index].name);
        return;
    }
    case SL_OP_GELU: case SL_OP_GELU_TANH: case SL_OP_SIGMOID: case SL_OP_TANH:
    case SL_OP_EXP: case SL_OP_LOG: {
        /* the same kernel as a vector's, one element long */
        LLVMValueRef tmp = entry_alloca(l, l->t_f32, "s");
        LLVMBuildStore(l->b, e->vals[n->a->id], tmp);
        LLVMValueRef args[] = {tmp, tmp, i64c(l, 1)};
        call(l, unary_kernel(n->op), args, 3, "");
        e->vals[n->id] = load(l, l->t_f32, tmp, sl_op_str(n->op));
        return;
    }
    default:
        e->vals[n->id] = scalar_op(l, n, n->a ? e->vals[n->a->id] : NULL,
                                   n->b ? e->vals[n->b->id] : NULL);
        return;
    }
}

static void lower_node(emit *e, const sl_node *n, const plan_item *pi)
{
    lower *l = e->l;
    if (l->pl.uniform[n->id])
        lower_uniform(e, n);
    else if (l->pl.fused[n->id])
        ; /* computed inside its user's loop */
    else
        switch (n->op) {
        case SL_OP_INPUT: case SL_OP_ROUTE_ARG: case SL_OP_PHI: case SL_OP_ROUTE:
        case SL_OP_COUNT:
            break; /* the input is in place; the rest are made by their items */
        case SL_OP_DENSE:
            lower_dense(e, n);
            break;
        case SL_OP_DENSE_BLOCKS:
            lower_dense_blocks(e, n, pi);
            return; /* FLOPs counted per active block */
        case SL_OP_LAYERNORM: case SL_OP_GELU: case SL_OP_GELU_TANH: case SL_OP_SIGMOID:
        case SL_OP_TANH: case SL_OP_EXP: case SL_OP_LOG: case SL_OP_SOFTMAX:
        case SL_OP_LOG_SOFTMAX: case SL_OP_MAX: case SL_OP_MIN: case SL_OP_SUM: case SL_OP_MEAN:
        case SL_OP_ARGMAX: case SL_OP_ENTROPY: case SL_OP_MARGIN:
            per_row_kernel(e, n);
            break;
        default:
            elementwise(e, n);
            break;
        }
    if (n->op != SL_OP_ROUTE)
        e->fr->pending = sl_flops_add(e->fr->pending, n->flops);
}

/* ---- frames ------------------------------------------------------------------- */

/* Run a sub-region over `rows` [count]: jump over it when no row is there. */
static void push_frame(emit *e, frame *f, LLVMValueRef rows, LLVMValueRef count,
                       const char *name)
{
    lower *l = e->l;
    char buf[64];
    snprintf(buf, sizeof buf, "%s.skip", name);
    LLVMBasicBlockRef run = block(e, name);
    f->skip = block(e, buf);
    LLVMValueRef n = load(l, l->t_i64, count, "n");
    LLVMBuildCondBr(l->b, LLVMBuildICmp(l->b, LLVMIntSGT, n, i64c(l, 0), "any"), run, f->skip);
    at(e, run);
    f->rows = rows;
    f->count = count;
    f->pending = (sl_flops){0, 0, 0};
    f->parent = e->fr;
    e->fr = f;
}

static void pop_frame(emit *e)
{
    frame *f = e->fr;
    flush_flops(e);
    LLVMBuildBr(e->l->b, f->skip);
    LLVMMoveBasicBlockAfter(f->skip, LLVMGetInsertBlock(e->l->b));
    at(e, f->skip);
    e->fr = f->parent;
}

/* A decision forced or taken: force < 0 (-1) decides by `cond`, else the
 * forced value says whether to take it (`want` is the force that means
 * yes). */
static LLVMValueRef decide(emit *e, LLVMValueRef force, LLVMValueRef cond, int32_t want,
                           const char *name)
{
    lower *l = e->l;
    LLVMValueRef by_cond = LLVMBuildICmp(l->b, LLVMIntEQ, force, i32c(l, SL_FORCE_NONE), "");
    LLVMValueRef forced = LLVMBuildICmp(l->b, LLVMIntEQ, force, i32c(l, want), "");
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
    flush_flops(e);
    LLVMValueRef then_rows = scratch_at(e, pi->list0, "then.rows");
    LLVMValueRef else_rows = scratch_at(e, pi->list1, "else.rows");
    LLVMValueRef nt = entry_alloca(l, l->t_i64, "then.n"), ne = entry_alloca(l, l->t_i64, "else.n");
    LLVMBuildStore(l->b, i64c(l, 0), nt);
    LLVMBuildStore(l->b, i64c(l, 0), ne);
    /* force[1 + d]: -1 decide, 0 else-arm, 1 then-arm */
    LLVMValueRef force = load(l, l->t_i32, at_index(l, l->t_i32, e->force,
                                                    i64c(l, 1 + it->decision)), "force");
    rows_loop r;
    LLVMValueRef row = rows_begin(e, &r, e->fr->rows, frame_count(e), d->name);
    LLVMValueRef take = decide(e, force, element(e, it->cond, row, i64c(l, 0)), 1, "take");
    LLVMValueRef slot = row_index(l, row, l->p->n_slots, i64c(l, d->slot));
    store_at(l, l->t_i32, e->slots, slot, LLVMBuildZExt(l->b, take, l->t_i32, ""));
    LLVMValueRef list = LLVMBuildSelect(l->b, take, then_rows, else_rows, "list");
    LLVMValueRef cnt = LLVMBuildSelect(l->b, take, nt, ne, "cnt");
    LLVMValueRef k = load(l, l->t_i64, cnt, "k");
    store_at(l, l->t_i32, list, k, LLVMBuildTrunc(l->b, row, l->t_i32, ""));
    LLVMBuildStore(l->b, LLVMBuildAdd(l->b, k, i64c(l, 1), ""), cnt);
    rows_end(e, &r);
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
        LLVMValueRef row = rows_begin(e, &r, e->fr->rows, frame_count(e), "merge");
        if (numel == 1) {
            store_element(e, phi, row, i64c(l, 0), element(e, v, row, i64c(l, 0)));
        } else {
            LLVMBuildMemCpy(l->b, row_ptr(e, phi, row), 4, row_ptr(e, v, row), 4,
                            i64c(l, numel * (phi->ty.elem == SL_BOOL ? 1 : 4)));
        }
        rows_end(e, &r);
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
    LLVMValueRef args[] = {scratch_at(e, pi->list0, "then.rows"),
                           load(l, l->t_i64, arms[0].count, ""),
                           scratch_at(e, pi->list1, "else.rows"),
                           load(l, l->t_i64, arms[1].count, ""), e->fr->rows};
    LLVMBuildStore(l->b, call(l, RT_ROWS_MERGE, args, 5, "back"), e->fr->count);
}

/* ---- exits ------------------------------------------------------------------- */

/* exit v when c: the leaving rows leave the frame (which keeps the others,
 * in order) and get their value computed, for them alone. */
static void exit_enter(emit *e, const sl_item *it, const plan_item *pi, frame *value)
{
    lower *l = e->l;
    flush_flops(e);
    LLVMValueRef leaving = scratch_at(e, pi->list0, "leave.rows");
    LLVMValueRef nl = entry_alloca(l, l->t_i64, "leave.n");
    if (!it->cond) { /* every row leaves */
        LLVMValueRef n = frame_count(e);
        LLVMBuildMemCpy(l->b, leaving, 4, e->fr->rows, 4, LLVMBuildMul(l->b, n, i64c(l, 4), ""));
        LLVMBuildStore(l->b, n, nl);
        LLVMBuildStore(l->b, i64c(l, 0), e->fr->count);
        value->count = nl;
        return;
    }
    /* force[0]: -1 decide, -2 never leave, k leave at exit k */
    const sl_exit *x = &l->p->exits.items[it->exit_index];
    LLVMValueRef force = load(l, l->t_i32, e->force, "force.exit");
    LLVMValueRef ns = entry_alloca(l, l->t_i64, "stay.n");
    LLVMBuildStore(l->b, i64c(l, 0), nl);
    LLVMBuildStore(l->b, i64c(l, 0), ns);
    rows_loop r;
    LLVMValueRef row = rows_begin(e, &r, e->fr->rows, frame_count(e), x->name);
    LLVMValueRef take = decide(e, force, element(e, it->cond, row, i64c(l, 0)),
                               it->exit_index, "take");
    /* the staying rows are written back in place: never ahead of the read */
    LLVMValueRef list = LLVMBuildSelect(l->b, take, leaving, e->fr->rows, "list");
    LLVMValueRef cnt = LLVMBuildSelect(l->b, take, nl, ns, "cnt");
    LLVMValueRef k = load(l, l->t_i64, cnt, "k");
    store_at(l, l->t_i32, list, k, LLVMBuildTrunc(l->b, row, l->t_i32, ""));
    LLVMBuildStore(l->b, LLVMBuildAdd(l->b, k, i64c(l, 1), ""), cnt);
    rows_end(e, &r);
    LLVMBuildStore(l->b, load(l, l->t_i64, ns, ""), e->fr->count);
    value->count = nl;
}

/* The leaving rows' value to y, their exit and FLOPs to the ledger. */
static void exit_value_leave(emit *e, const sl_item *it)
{
    lower *l = e->l;
    int32_t index = it->exit_index < 0 ? (int32_t)l->p->exits.len : it->exit_index;
    int64_t out = sl_ty_numel(l->p->out_ty);
    flush_flops(e);
    LLVMValueRef acc = scratch_at(e, l->pl.flops0, "flops");
    rows_loop r;
    LLVMValueRef row = rows_begin(e, &r, e->fr->rows, frame_count(e), "leave");
    LLVMValueRef y = gep(l, l->t_f32, e->y, LLVMBuildMul(l->b, row, i64c(l, out), ""), "y.row");
    LLVMBuildMemCpy(l->b, y, 4, row_ptr(e, it->value, row), 4, i64c(l, out * 4));
    store_at(l, l->t_i32, e->exits, row, i32c(l, index));
    LLVMValueRef fl = load(l, l->t_i64, at_index(l, l->t_i64, acc, row), "fl");
    store_at(l, l->t_f64, e->flops_out, row, LLVMBuildUIToFP(l->b, fl, l->t_f64, ""));
    rows_end(e, &r);
}

/* ---- routes ------------------------------------------------------------------- */

/* route bank(x) top k by scores: per row the k best experts and softmax
 * weights over them; the rows grouped by expert; each expert runs once
 * over its group (its region, in sub-regions k); then each row's output is
 * the weighted sum over its choices, best first. */
typedef struct route_state {
    LLVMValueRef start;         /* i32 [N + 1]: each expert's rows in the buckets */
    LLVMValueRef count;         /* i64 alloca: the current expert's */
} route_state;

static void route_enter(emit *e, const sl_node *n, const plan_item *pi, route_state *rs)
{
    lower *l = e->l;
    const sl_inst *bank = n->inst;
    int64_t k = n->index, N = bank->n_children;
    const sl_decision *d = &l->p->decisions.items[n->decision];
    flush_flops(e);
    e->fr->pending = sl_flops_add(e->fr->pending, n->flops); /* top-k, softmax, combine */
    LLVMValueRef idx = scratch_at(e, pi->idx, "topk.idx"), w = scratch_at(e, pi->w, "topk.w");
    rows_loop r;
    LLVMValueRef row = rows_begin(e, &r, e->fr->rows, frame_count(e), "topk");
    LLVMValueRef at_ = LLVMBuildMul(l->b, row, i64c(l, k), "");
    LLVMValueRef ir = gep(l, l->t_i32, idx, at_, "idx.row"), wr = gep(l, l->t_f32, w, at_, "w.row");
    LLVMValueRef targs[] = {row_ptr(e, n->b, row), i64c(l, N), i64c(l, k), ir, wr};
    call(l, RT_TOPK, targs, 5, "");
    LLVMValueRef sargs[] = {wr, wr, i64c(l, k)};
    call(l, RT_SOFTMAX, sargs, 3, "");
    LLVMValueRef slots = gep(l, l->t_i32, e->slots,
                             LLVMBuildAdd(l->b, LLVMBuildMul(l->b, row, i64c(l, l->p->n_slots), ""),
                                          i64c(l, d->slot), ""), "slots.row");
    LLVMBuildMemCpy(l->b, slots, 4, ir, 4, i64c(l, 4 * k));
    rows_end(e, &r);

    rs->start = entry_alloca(l, LLVMArrayType(l->t_i32, (unsigned)(N + 1)), "expert.start");
    rs->count = entry_alloca(l, l->t_i64, "expert.n");
    LLVMValueRef bargs[] = {e->fr->rows, frame_count(e), idx, i64c(l, k), i64c(l, N), rs->start,
                            scratch_at(e, pi->list0, "expert.rows"),
                            scratch_at(e, pi->pos, "expert.pos")};
    call(l, RT_ROWS_BY_EXPERT, bargs, 8, "");
}

static LLVMValueRef bucket_start(emit *e, route_state *rs, int64_t x)
{
    lower *l = e->l;
    LLVMValueRef v = load(l, l->t_i32, gep(l, l->t_i32, rs->start, i64c(l, x), ""), "start");
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
    LLVMValueRef rows = gep(l, l->t_i32, scratch_at(e, pi->list0, "expert.rows"), s0, "");
    push_frame(e, f, rows, rs->count, name);
    e->alias[n->route_arg->id] = n->a;
}

/* An expert's output, row by row, to the slot of the choice it was. */
static void expert_leave(emit *e, const sl_node *n, const plan_item *pi, route_state *rs, int x)
{
    lower *l = e->l;
    int64_t d = sl_ty_numel(n->ty);
    const sl_node *out = n->expert_out[x];
    LLVMValueRef pos = gep(l, l->t_i32, scratch_at(e, pi->pos, "expert.pos"),
                           bucket_start(e, rs, x), "");
    LLVMValueRef comb = scratch_at(e, pi->comb, "chosen");
    loop lp;
    LLVMValueRef i = loop_begin(e, &lp, frame_count(e), "chosen");
    LLVMValueRef row = list_row(l, e->fr->rows, i), p = list_row(l, pos, i);
    LLVMValueRef dst = gep(l, l->t_f32, comb, LLVMBuildMul(l->b, p, i64c(l, d), ""), "");
    if (l->pl.uniform[out->id]) { /* a layer returning a constant */
        for (int64_t j = 0; j < d; j++)
            LLVMBuildStore(l->b, e->vals[out->id], gep(l, l->t_f32, dst, i64c(l, j), ""));
    } else {
        LLVMBuildMemCpy(l->b, dst, 4, row_ptr(e, out, row), 4, i64c(l, d * 4));
    }
    loop_end(e, &lp);
}

/* y_r = sum over the row's choices j, best first, of w_rj * out_rj. */
static void route_leave(emit *e, const sl_node *n, const plan_item *pi)
{
    lower *l = e->l;
    int64_t k = n->index, d = sl_ty_numel(n->ty);
    LLVMValueRef w = scratch_at(e, pi->w, "topk.w"), comb = scratch_at(e, pi->comb, "chosen");
    rows_loop r;
    LLVMValueRef row = rows_begin(e, &r, e->fr->rows, frame_count(e), "combine.row");
    LLVMValueRef y = row_ptr(e, n, row);
    LLVMBuildMemSet(l->b, y, LLVMConstInt(l->t_i8, 0, 0), i64c(l, d * 4), 4);
    loop jl;
    LLVMValueRef j = loop_begin(e, &jl, i64c(l, k), "combine.choice");
    LLVMValueRef p = LLVMBuildAdd(l->b, LLVMBuildMul(l->b, row, i64c(l, k), ""), j, "");
    LLVMValueRef wj = load(l, l->t_f32, gep(l, l->t_f32, w, p, ""), "w");
    LLVMValueRef src = gep(l, l->t_f32, comb, LLVMBuildMul(l->b, p, i64c(l, d), ""), "");
    loop il;
    LLVMValueRef i = loop_begin(e, &il, i64c(l, d), "combine");
    LLVMValueRef yp = gep(l, l->t_f32, y, i, "");
    LLVMValueRef v = LLVMBuildFMul(l->b, wj, load_at(l, l->t_f32, src, i), "");
    LLVMBuildStore(l->b, LLVMBuildFAdd(l->b, load(l, l->t_f32, yp, ""), v, ""), yp);
    loop_end(e, &il);
    loop_end(e, &jl);
    rows_end(e, &r);
}

/* ---- the walk ---------------------------------------------------------------- */

/* What an open item keeps between its hooks (in the arena: frames point
 * into it while its regions run). */
typedef struct open_item {
    const plan_item *pi;
    frame sub[2];               /* GATE: the arms; EXIT: the value ([0]) */
    route_state rs;             /* ROUTE */
    frame expert;
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
        else
            lower_node(e, it->node, pi);
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
        LLVMValueRef rows = scratch_at(e, k == 0 ? o->pi->list0 : o->pi->list1, "arm.rows");
        push_frame(e, &o->sub[k], rows, o->sub[k].count, name);
        break;
    }
    case SL_IT_EXIT:
        snprintf(name, sizeof name, "%s.take",
                 it->exit_index < 0 ? "end" : l->p->exits.items[it->exit_index].name);
        push_frame(e, &o->sub[0], scratch_at(e, o->pi->list0, "leave.rows"), o->sub[0].count,
                   name);
        break;
    case SL_IT_NODE:
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
        expert_leave(e, it->node, o->pi, &o->rs, k);
        break;
    }
    pop_frame(e);
}

static void walk_leave(sl_walker *w, const sl_item *it)
{
    emit *e = w->data;
    open_item *o = open_top(e);
    if (it->kind == SL_IT_GATE)
        gate_leave(e, it, o->pi, o->sub);
    else if (it->kind == SL_IT_NODE && it->node->op == SL_OP_ROUTE)
        route_leave(e, it->node, o->pi);
    e->open.len--;
}

/* ---- the entry point ------------------------------------------------------------ */

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

    LLVMBasicBlockRef entry = block(e, "entry"), body = block(e, "body");
    at(e, entry);
    LLVMValueRef br = LLVMBuildBr(l->b, body);
    l->alloca_b = LLVMCreateBuilderInContext(l->ctx);
    LLVMPositionBuilderBefore(l->alloca_b, br);

    at(e, body);
    LLVMValueRef env = LLVMGetParam(e->fn, 0);
    /* sl_env: tensors, dense, thresholds, force (four pointers) */
    LLVMValueRef fields[4];
    static const char *const fnames[] = {"tensors", "dense", "thresholds", "force"};
    for (int i = 0; i < 4; i++)
        fields[i] = load(l, ptr, gep(l, ptr, env, i64c(l, i), ""), fnames[i]);
    e->tensors = fields[0];
    e->dense = fields[1];
    e->thresholds = fields[2];
    e->force = fields[3];

    /* The tile's frame: rows 0 .. n-1, counters at 0, slots at -1. */
    LLVMValueRef n = LLVMGetParam(e->fn, 2);
    frame top = {.rows = scratch_at(e, l->pl.rows0, "rows"),
                 .count = entry_alloca(l, l->t_i64, "rows.n")};
    LLVMBuildStore(l->b, n, top.count);
    e->fr = &top;
    loop lp;
    LLVMValueRef i = loop_begin(e, &lp, n, "init");
    LLVMBuildStore(l->b, LLVMBuildTrunc(l->b, i, l->t_i32, ""), gep(l, l->t_i32, top.rows, i, ""));
    LLVMBuildStore(l->b, i64c(l, 0), gep(l, l->t_i64, scratch_at(e, l->pl.flops0, "flops"), i, ""));
    loop_end(e, &lp);
    if (p->n_slots)
        LLVMBuildMemSet(l->b, e->slots, LLVMConstInt(l->t_i8, 0xff, 0),
                        LLVMBuildMul(l->b, n, i64c(l, p->n_slots * 4), ""), 4);

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
