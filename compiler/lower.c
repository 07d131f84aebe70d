/* lower.c - the checked program to LLVM IR.
 *
 * Each model becomes `i32 <name>_run1(env, x, y, slots, flops)` for one
 * input and `void <name>_run(env, n, x, y, exits, slots, flops)` over a
 * batch (runtime/include/sluice/model.h).  Every conditional region gets
 * basic blocks of its own behind a `br i1`: a gate's arms, an exit's value
 * and return, each expert of a route (a `switch` on the chosen index), each
 * block of a block-gated layer.  Heavy kernels are calls into the runtime;
 * chains of cheap elementwise operations become one loop each, which LLVM
 * vectorizes.  Vectors live in one scratch arena whose size is known here,
 * so a run allocates nothing. */
#include <stdio.h>
#include <string.h>

#include "lower.h"

/* ---- helpers ------------------------------------------------------------ */

static LLVMValueRef i64c(lower *l, int64_t v) { return LLVMConstInt(l->t_i64, (unsigned long long)v, 1); }
static LLVMValueRef i32c(lower *l, int32_t v) { return LLVMConstInt(l->t_i32, (unsigned long long)(int64_t)v, 1); }
static LLVMValueRef f32c(lower *l, double v) { return LLVMConstReal(l->t_f32, v); }

static LLVMBasicBlockRef block(lower *l, const char *name)
{
    return LLVMAppendBasicBlockInContext(l->ctx, l->fn, name);
}

static void at(lower *l, LLVMBasicBlockRef bb) { LLVMPositionBuilderAtEnd(l->b, bb); }

/* Move a block made early to the end, so the IR reads in source order (an
 * else-arm after all of the then-arm's blocks). */
static void place_last(lower *l, LLVMBasicBlockRef bb)
{
    LLVMMoveBasicBlockAfter(bb, LLVMGetLastBasicBlock(l->fn));
}

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

/* A runtime kernel, declared the first time it is called. */
static LLVMValueRef rt(lower *l, rt_fn f)
{
    static const char *const names[RT_COUNT] = {
        [RT_DENSE] = "sl_rt_dense", [RT_LAYERNORM] = "sl_rt_layernorm",
        [RT_GELU] = "sl_rt_gelu", [RT_GELU_TANH] = "sl_rt_gelu_tanh",
        [RT_SIGMOID] = "sl_rt_sigmoid", [RT_TANH] = "sl_rt_tanh", [RT_EXP] = "sl_rt_exp",
        [RT_LOG] = "sl_rt_log", [RT_SOFTMAX] = "sl_rt_softmax",
        [RT_LOG_SOFTMAX] = "sl_rt_log_softmax", [RT_MAX] = "sl_rt_max", [RT_MIN] = "sl_rt_min",
        [RT_SUM] = "sl_rt_sum", [RT_ARGMAX] = "sl_rt_argmax", [RT_ENTROPY] = "sl_rt_entropy",
        [RT_MARGIN] = "sl_rt_margin", [RT_TOPK] = "sl_rt_topk",
        [RT_DENSE_ZSKIP] = "sl_rt_dense_zskip",
    };
    if (l->rt[f])
        return l->rt[f];
    LLVMTypeRef p = l->t_ptr, i64 = l->t_i64;
    LLVMTypeRef ty;
    switch (f) {
    case RT_DENSE: case RT_DENSE_ZSKIP: { /* (w or wt, b, x, y, n_in, n_out) */
        LLVMTypeRef a[] = {p, p, p, p, i64, i64};
        ty = LLVMFunctionType(l->t_void, a, 6, 0);
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
    default: { /* elementwise and softmax: (x, y, n) */
        LLVMTypeRef a[] = {p, p, i64};
        ty = LLVMFunctionType(l->t_void, a, 3, 0);
        break;
    }
    }
    l->rt_ty[f] = ty;
    l->rt[f] = LLVMAddFunction(l->mod, names[f], ty);
    LLVMAddAttributeAtIndex(l->rt[f], LLVMAttributeFunctionIndex,
                               LLVMCreateEnumAttribute(l->ctx, LLVMGetEnumAttributeKindForName("nounwind", 8), 0));
    return l->rt[f];
}

static LLVMValueRef call(lower *l, rt_fn f, LLVMValueRef *args, unsigned n, const char *name)
{
    LLVMValueRef fn = rt(l, f);
    return LLVMBuildCall2(l->b, l->rt_ty[f], fn, args, n, name);
}

static void add_flops(lower *l, double f)
{
    if (f <= 0)
        return;
    LLVMValueRef v = LLVMBuildLoad2(l->b, l->t_i64, l->flops, "fl");
    LLVMBuildStore(l->b, LLVMBuildAdd(l->b, v, i64c(l, (int64_t)f), "fl"), l->flops);
}

static LLVMValueRef tensor(lower *l, int index, const char *name)
{
    LLVMValueRef p = gep(l, l->t_ptr, l->tensors, i64c(l, index), "");
    return LLVMBuildLoad2(l->b, l->t_ptr, p, name);
}

static LLVMValueRef buffer(lower *l, const sl_node *n)
{
    return gep(l, l->t_i8, l->scratch, i64c(l, l->buf[n->id]), "buf");
}

static void store_slot(lower *l, int slot, LLVMValueRef v)
{
    LLVMBuildStore(l->b, v, gep(l, l->t_i32, l->slots, i64c(l, slot), "slot"));
}

/* A counted loop over [0, n), n >= 1: returns the index; close with loop_end. */
typedef struct loop {
    LLVMValueRef i, phi, n;
    LLVMBasicBlockRef head;
} loop;

static LLVMValueRef loop_begin(lower *l, loop *lp, LLVMValueRef n, const char *name)
{
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(l->b);
    lp->head = block(l, name);
    lp->n = n;
    LLVMBuildBr(l->b, lp->head);
    at(l, lp->head);
    lp->phi = LLVMBuildPhi(l->b, l->t_i64, "i");
    LLVMValueRef zero = i64c(l, 0);
    LLVMAddIncoming(lp->phi, &zero, &pre, 1);
    return lp->i = lp->phi;
}

static void loop_end(lower *l, loop *lp, const char *name)
{
    LLVMBasicBlockRef last = LLVMGetInsertBlock(l->b);
    LLVMValueRef next = LLVMBuildAdd(l->b, lp->i, i64c(l, 1), "i.next");
    LLVMValueRef more = LLVMBuildICmp(l->b, LLVMIntULT, next, lp->n, "more");
    LLVMBasicBlockRef done = block(l, name);
    LLVMBuildCondBr(l->b, more, lp->head, done);
    LLVMAddIncoming(lp->phi, &next, &last, 1);
    at(l, done);
}

/* ---- elementwise ---------------------------------------------------------- */

static bool is_cheap(sl_op op)
{
    switch (op) {
    case SL_OP_NEG: case SL_OP_NOT: case SL_OP_TO_F32: case SL_OP_RELU:
    case SL_OP_ADD: case SL_OP_SUB: case SL_OP_MUL: case SL_OP_DIV:
    case SL_OP_LT: case SL_OP_LE: case SL_OP_GT: case SL_OP_GE: case SL_OP_EQ: case SL_OP_NE:
    case SL_OP_AND: case SL_OP_OR:
        return true;
    default:
        return false;
    }
}

/* One element of a cheap operation on scalar values (i1, i32 or float). */
static LLVMValueRef scalar_op(lower *l, const sl_node *n, LLVMValueRef a, LLVMValueRef b)
{
    bool f = n->a && n->a->ty.elem == SL_F32;
    bool boolean = n->a && n->a->ty.elem == SL_BOOL;
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
    if (boolean)
        return LLVMBuildICmp(l->b, ip[k], a, b, "cmp");
    return LLVMBuildICmp(l->b, ip[k], a, b, "cmp");
}

/* Element i of node n inside a fused loop. */
static LLVMValueRef element(lower *l, const sl_node *n, LLVMValueRef i)
{
    if (n->ty.rank == 0)
        return l->vals[n->id]; /* a scalar broadcasts */
    if (!l->fused[n->id]) {
        if (n->ty.elem == SL_BOOL) {
            LLVMValueRef v = LLVMBuildLoad2(l->b, l->t_i8, gep(l, l->t_i8, l->vals[n->id], i, ""), "m");
            return LLVMBuildICmp(l->b, LLVMIntNE, v, LLVMConstInt(l->t_i8, 0, 0), "mb");
        }
        return LLVMBuildLoad2(l->b, l->t_f32, gep(l, l->t_f32, l->vals[n->id], i, ""), "v");
    }
    LLVMValueRef a = n->a ? element(l, n->a, i) : NULL;
    LLVMValueRef b = n->b ? element(l, n->b, i) : NULL;
    return scalar_op(l, n, a, b);
}

/* A materialized cheap vector node: one loop over its elements, its fused
 * operands computed inline. */
static void elementwise_loop(lower *l, const sl_node *n)
{
    LLVMValueRef out = buffer(l, n);
    loop lp;
    LLVMValueRef i = loop_begin(l, &lp, i64c(l, sl_ty_numel(n->ty)), "ew");
    LLVMValueRef a = n->a ? element(l, n->a, i) : NULL;
    LLVMValueRef b = n->b ? element(l, n->b, i) : NULL;
    LLVMValueRef v = scalar_op(l, n, a, b);
    if (n->ty.elem == SL_BOOL)
        LLVMBuildStore(l->b, LLVMBuildZExt(l->b, v, l->t_i8, ""), gep(l, l->t_i8, out, i, ""));
    else
        LLVMBuildStore(l->b, v, gep(l, l->t_f32, out, i, ""));
    loop_end(l, &lp, "ew.done");
    l->vals[n->id] = out;
}

/* ---- nodes ---------------------------------------------------------------- */

static void lower_region(lower *l, const sl_region *r);

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

/* Zero-skipping (sl_rt_dense_zskip: weight rows of zero inputs are never
 * read) pays for a dense layer fed by a ReLU, typically 40-90% zeros, of at
 * least this many inputs.  Below it the weights sit in L2 and listing the
 * non-zeros costs more than skipping saves unless sparsity is high
 * (docs/performance.md, "Zero-skipping crossover"). */
enum { ZSKIP_MIN_INPUTS = 512 };

static bool zero_skips(const lower *l, const sl_node *n)
{
    return l->zero_skip && n->a->op == SL_OP_RELU && n->inst->n_in >= ZSKIP_MIN_INPUTS;
}

/* The env->tensors index of tensor w's transposed copy, [in, out]. */
static int transposed_copy(lower *l, int w)
{
    if (l->transposed_slot[w] < 0) {
        l->transposed_slot[w] = (int)l->transposed.len;
        SL_VEC_PUSH(&l->c->arena, &l->transposed, w);
    }
    return (int)l->p->tensors.len + l->transposed_slot[w];
}

/* fc[mask](x): per block, a guarded call on that block's rows only. */
static void lower_dense_blocks(lower *l, const sl_node *n)
{
    const sl_inst *inst = n->inst;
    int64_t rows = inst->n_out / inst->blocks;
    const sl_decision *d = &l->p->decisions.items[n->decision];
    LLVMValueRef w = tensor(l, inst->w_tensor, "w"), bias = tensor(l, inst->b_tensor, "b");
    LLVMValueRef out = buffer(l, n), mask = l->vals[n->b->id], x = l->vals[n->a->id];

    loop lp;
    LLVMValueRef k = loop_begin(l, &lp, i64c(l, inst->blocks), "block");
    LLVMValueRef m = LLVMBuildLoad2(l->b, l->t_i8, gep(l, l->t_i8, mask, k, ""), "m");
    LLVMValueRef on = LLVMBuildICmp(l->b, LLVMIntNE, m, LLVMConstInt(l->t_i8, 0, 0), "active");
    LLVMValueRef slot = LLVMBuildAdd(l->b, k, i64c(l, d->slot), "");
    LLVMBuildStore(l->b, LLVMBuildZExt(l->b, on, l->t_i32, ""), gep(l, l->t_i32, l->slots, slot, ""));
    LLVMValueRef row0 = LLVMBuildMul(l->b, k, i64c(l, rows), "row0");
    LLVMValueRef y = gep(l, l->t_f32, out, row0, "y.block");
    LLVMBasicBlockRef run = block(l, "block.run"), skip = block(l, "block.skip"),
                      next = block(l, "block.next");
    LLVMBuildCondBr(l->b, on, run, skip);

    at(l, run);
    LLVMValueRef wk = gep(l, l->t_f32, w, LLVMBuildMul(l->b, row0, i64c(l, inst->n_in), ""), "w.block");
    LLVMValueRef bk = gep(l, l->t_f32, bias, row0, "b.block");
    LLVMValueRef args[] = {wk, bk, x, y, i64c(l, inst->n_in), i64c(l, rows)};
    call(l, RT_DENSE, args, 6, "");
    add_flops(l, n->flops);
    LLVMBuildBr(l->b, next);

    at(l, skip);
    LLVMBuildMemSet(l->b, y, LLVMConstInt(l->t_i8, 0, 0), i64c(l, rows * 4), 4);
    LLVMBuildBr(l->b, next);

    at(l, next);
    loop_end(l, &lp, "block.done");
    l->vals[n->id] = out;
}

/* route bank(x) top k by scores: top-k, softmax over the k chosen scores,
 * then for each chosen expert a switch to its code, and y += w_j * out_j. */
static void lower_route(lower *l, const sl_node *n)
{
    const sl_inst *bank = n->inst;
    int64_t k = n->index, d = sl_ty_numel(n->ty);
    const sl_decision *dec = &l->p->decisions.items[n->decision];
    LLVMValueRef idx = entry_alloca(l, LLVMArrayType(l->t_i32, (unsigned)k), "topk.idx");
    LLVMValueRef val = entry_alloca(l, LLVMArrayType(l->t_f32, (unsigned)k), "topk.val");
    LLVMValueRef wts = entry_alloca(l, LLVMArrayType(l->t_f32, (unsigned)k), "topk.w");
    LLVMValueRef out = buffer(l, n);

    LLVMValueRef targs[] = {l->vals[n->b->id], i64c(l, bank->n_children), i64c(l, k), idx, val};
    call(l, RT_TOPK, targs, 5, "");
    LLVMValueRef sargs[] = {val, wts, i64c(l, k)};
    call(l, RT_SOFTMAX, sargs, 3, "");
    add_flops(l, n->flops);
    LLVMBuildMemSet(l->b, out, LLVMConstInt(l->t_i8, 0, 0), i64c(l, d * 4), 4);
    l->vals[n->route_arg->id] = l->vals[n->a->id];

    loop lp;
    LLVMValueRef j = loop_begin(l, &lp, i64c(l, k), "expert");
    LLVMValueRef e = LLVMBuildLoad2(l->b, l->t_i32, gep(l, l->t_i32, idx, j, ""), "e");
    LLVMValueRef slotp = gep(l, l->t_i32, l->slots, LLVMBuildAdd(l->b, j, i64c(l, dec->slot), ""), "");
    LLVMBuildStore(l->b, e, slotp);
    LLVMBasicBlockRef join = block(l, "expert.join"), bad = block(l, "expert.none");
    LLVMValueRef sw = LLVMBuildSwitch(l->b, e, bad, (unsigned)bank->n_children);
    LLVMBasicBlockRef *from = sl_arena_array(&l->c->arena, (size_t)bank->n_children, sizeof *from);
    LLVMValueRef *res = sl_arena_array(&l->c->arena, (size_t)bank->n_children, sizeof *res);
    for (int i = 0; i < bank->n_children; i++) {
        char name[32];
        snprintf(name, sizeof name, "expert%d", i);
        LLVMBasicBlockRef bb = block(l, name);
        LLVMAddCase(sw, i32c(l, i), bb);
        at(l, bb);
        lower_region(l, n->experts[i]);
        res[i] = l->vals[n->expert_out[i]->id];
        from[i] = LLVMGetInsertBlock(l->b);
        LLVMBuildBr(l->b, join);
    }
    place_last(l, bad);
    at(l, bad);
    LLVMBuildUnreachable(l->b);

    place_last(l, join);
    at(l, join);
    LLVMValueRef eo = LLVMBuildPhi(l->b, l->t_ptr, "expert.out");
    LLVMAddIncoming(eo, res, from, (unsigned)bank->n_children);
    LLVMValueRef wj = LLVMBuildLoad2(l->b, l->t_f32, gep(l, l->t_f32, wts, j, ""), "w");
    loop acc;
    LLVMValueRef i = loop_begin(l, &acc, i64c(l, d), "combine");
    LLVMValueRef yp = gep(l, l->t_f32, out, i, "");
    LLVMValueRef ev = LLVMBuildLoad2(l->b, l->t_f32, gep(l, l->t_f32, eo, i, ""), "");
    LLVMValueRef yv = LLVMBuildLoad2(l->b, l->t_f32, yp, "");
    LLVMBuildStore(l->b, LLVMBuildFAdd(l->b, yv, LLVMBuildFMul(l->b, wj, ev, ""), ""), yp);
    loop_end(l, &acc, "combine.done");
    loop_end(l, &lp, "route.done");
    l->vals[n->id] = out;
}

static void lower_node(lower *l, const sl_node *n)
{
    LLVMValueRef a = n->a ? l->vals[n->a->id] : NULL;
    int64_t len = n->a ? sl_ty_numel(n->a->ty) : 0;
    switch (n->op) {
    case SL_OP_INPUT:
        l->vals[n->id] = l->x;
        break;
    case SL_OP_CONST:
        l->vals[n->id] = n->ty.elem == SL_F32 ? f32c(l, n->value)
                         : n->ty.elem == SL_I32 ? i32c(l, (int32_t)n->value)
                                                : LLVMConstInt(l->t_i1, n->value != 0, 0);
        break;
    case SL_OP_THRESHOLD: {
        LLVMValueRef p = gep(l, l->t_f32, l->thresholds, i64c(l, n->index), "");
        l->vals[n->id] = LLVMBuildLoad2(l->b, l->t_f32, p, l->p->thresholds.items[n->index].name);
        break;
    }
    case SL_OP_ROUTE_ARG:
        break; /* bound by its route */
    case SL_OP_DENSE: {
        bool zs = zero_skips(l, n);
        LLVMValueRef w = zs ? tensor(l, transposed_copy(l, n->inst->w_tensor), "wt")
                            : tensor(l, n->inst->w_tensor, "w");
        LLVMValueRef args[] = {w, tensor(l, n->inst->b_tensor, "b"), a, buffer(l, n),
                               i64c(l, n->inst->n_in), i64c(l, n->inst->n_out)};
        call(l, zs ? RT_DENSE_ZSKIP : RT_DENSE, args, 6, "");
        l->vals[n->id] = args[3];
        break;
    }
    case SL_OP_LAYERNORM: {
        LLVMValueRef args[] = {a, tensor(l, n->inst->w_tensor, "gamma"),
                               tensor(l, n->inst->b_tensor, "beta"), buffer(l, n),
                               i64c(l, n->inst->n_in), f32c(l, 1e-5)};
        call(l, RT_LAYERNORM, args, 6, "");
        l->vals[n->id] = args[3];
        break;
    }
    case SL_OP_DENSE_BLOCKS:
        lower_dense_blocks(l, n);
        return; /* its FLOPs are counted per active block */
    case SL_OP_ROUTE:
        lower_route(l, n);
        return;
    case SL_OP_GELU: case SL_OP_GELU_TANH: case SL_OP_SIGMOID: case SL_OP_TANH:
    case SL_OP_EXP: case SL_OP_LOG: case SL_OP_SOFTMAX: case SL_OP_LOG_SOFTMAX: {
        if (n->ty.rank == 0) {
            /* a scalar goes through the same kernel, one element long */
            LLVMValueRef tmp = entry_alloca(l, l->t_f32, "s");
            LLVMBuildStore(l->b, a, tmp);
            LLVMValueRef args[] = {tmp, tmp, i64c(l, 1)};
            call(l, unary_kernel(n->op), args, 3, "");
            l->vals[n->id] = LLVMBuildLoad2(l->b, l->t_f32, tmp, sl_op_str(n->op));
        } else {
            LLVMValueRef args[] = {a, buffer(l, n), i64c(l, len)};
            call(l, unary_kernel(n->op), args, 3, "");
            l->vals[n->id] = args[1];
        }
        break;
    }
    case SL_OP_MAX: case SL_OP_MIN: case SL_OP_SUM: case SL_OP_MEAN: case SL_OP_ENTROPY:
    case SL_OP_MARGIN: case SL_OP_ARGMAX: {
        LLVMValueRef args[] = {a, i64c(l, len)};
        LLVMValueRef v = call(l, unary_kernel(n->op), args, 2, sl_op_str(n->op));
        if (n->op == SL_OP_MEAN)
            v = LLVMBuildFDiv(l->b, v, f32c(l, (double)len), "mean");
        else if (n->op == SL_OP_ARGMAX)
            v = LLVMBuildTrunc(l->b, v, l->t_i32, "argmax");
        l->vals[n->id] = v;
        break;
    }
    case SL_OP_INDEX:
        if (n->ty.elem == SL_BOOL) {
            LLVMValueRef v = LLVMBuildLoad2(l->b, l->t_i8, gep(l, l->t_i8, a, i64c(l, n->index), ""), "");
            l->vals[n->id] = LLVMBuildICmp(l->b, LLVMIntNE, v, LLVMConstInt(l->t_i8, 0, 0), "at");
        } else {
            l->vals[n->id] = LLVMBuildLoad2(l->b, l->t_f32, gep(l, l->t_f32, a, i64c(l, n->index), ""), "at");
        }
        break;
    case SL_OP_PHI:
    case SL_OP_COUNT:
        break; /* made by the gate */
    default:
        if (!is_cheap(n->op))
            break;
        if (l->fused[n->id])
            break; /* computed inside its user's loop */
        if (n->ty.rank == 0)
            l->vals[n->id] = scalar_op(l, n, a, n->b ? l->vals[n->b->id] : NULL);
        else
            elementwise_loop(l, n);
        break;
    }
    add_flops(l, n->flops);
}

/* ---- control ---------------------------------------------------------------- */

static void lower_gate(lower *l, const sl_item *it)
{
    const sl_decision *d = &l->p->decisions.items[it->decision];
    /* force[1 + d]: -1 decide, 0 else-arm, 1 then-arm */
    LLVMValueRef fp = gep(l, l->t_i32, l->force, i64c(l, 1 + it->decision), "");
    LLVMValueRef f = LLVMBuildLoad2(l->b, l->t_i32, fp, "force");
    LLVMValueRef decide = LLVMBuildICmp(l->b, LLVMIntEQ, f, i32c(l, -1), "");
    LLVMValueRef forced = LLVMBuildICmp(l->b, LLVMIntEQ, f, i32c(l, 1), "");
    LLVMValueRef take = LLVMBuildSelect(l->b, decide, l->vals[it->cond->id], forced, d->name);
    store_slot(l, d->slot, LLVMBuildZExt(l->b, take, l->t_i32, ""));

    char name[64];
    snprintf(name, sizeof name, "%s.then", d->name);
    LLVMBasicBlockRef then_bb = block(l, name);
    snprintf(name, sizeof name, "%s.else", d->name);
    LLVMBasicBlockRef else_bb = block(l, name);
    LLVMBuildCondBr(l->b, take, then_bb, else_bb);

    at(l, then_bb);
    lower_region(l, it->then_r);
    bool then_live = !l->dead;
    LLVMBasicBlockRef then_end = then_live ? LLVMGetInsertBlock(l->b) : NULL;

    l->dead = false;
    place_last(l, else_bb);
    at(l, else_bb);
    lower_region(l, it->else_r);
    bool else_live = !l->dead;
    LLVMBasicBlockRef else_end = else_live ? LLVMGetInsertBlock(l->b) : NULL;

    if (!then_live && !else_live) {
        l->dead = true;
        return;
    }
    snprintf(name, sizeof name, "%s.merge", d->name);
    LLVMBasicBlockRef merge = block(l, name);
    if (then_live) {
        at(l, then_end);
        LLVMBuildBr(l->b, merge);
    }
    if (else_live) {
        at(l, else_end);
        LLVMBuildBr(l->b, merge);
    }
    at(l, merge);
    l->dead = false;
    for (size_t i = 0; i < it->phis.len; i++) {
        const sl_node *phi = it->phis.items[i];
        /* sema makes phis only where both arms fall through */
        LLVMTypeRef t = phi->ty.rank ? l->t_ptr
                        : phi->ty.elem == SL_F32 ? l->t_f32
                        : phi->ty.elem == SL_I32 ? l->t_i32 : l->t_i1;
        LLVMValueRef v = LLVMBuildPhi(l->b, t, "merge");
        LLVMValueRef in[] = {l->vals[phi->a->id], l->vals[phi->b->id]};
        LLVMBasicBlockRef from[] = {then_end, else_end};
        LLVMAddIncoming(v, in, from, 2);
        l->vals[phi->id] = v;
    }
}

/* Copy the value to y, record the FLOPs, return the exit's index. */
static void leave(lower *l, const sl_item *it)
{
    int32_t index = it->exit_index < 0 ? (int32_t)l->p->exits.len : it->exit_index;
    lower_region(l, it->value_r);
    LLVMBuildMemCpy(l->b, l->y, 4, l->vals[it->value->id], 4, i64c(l, sl_ty_numel(l->p->out_ty) * 4));
    LLVMValueRef fl = LLVMBuildLoad2(l->b, l->t_i64, l->flops, "fl");
    LLVMBuildStore(l->b, LLVMBuildUIToFP(l->b, fl, l->t_f64, ""), l->flops_out);
    LLVMBuildRet(l->b, i32c(l, index));
    l->dead = true;
}

static void lower_exit(lower *l, const sl_item *it)
{
    if (!it->cond) {
        leave(l, it);
        return;
    }
    /* force[0]: -1 decide, -2 never leave, k leave at exit k */
    const sl_exit *x = &l->p->exits.items[it->exit_index];
    LLVMValueRef f = LLVMBuildLoad2(l->b, l->t_i32, l->force, "force.exit");
    LLVMValueRef decide = LLVMBuildICmp(l->b, LLVMIntEQ, f, i32c(l, -1), "");
    LLVMValueRef forced = LLVMBuildICmp(l->b, LLVMIntEQ, f, i32c(l, it->exit_index), "");
    LLVMValueRef take = LLVMBuildSelect(l->b, decide, l->vals[it->cond->id], forced, x->name);
    char name[64];
    snprintf(name, sizeof name, "%s.take", x->name);
    LLVMBasicBlockRef yes = block(l, name);
    snprintf(name, sizeof name, "%s.stay", x->name);
    LLVMBasicBlockRef no = block(l, name);
    LLVMBuildCondBr(l->b, take, yes, no);
    at(l, yes);
    leave(l, it);
    place_last(l, no);
    at(l, no);
    l->dead = false;
}

static void lower_region(lower *l, const sl_region *r)
{
    for (size_t i = 0; i < r->items.len && !l->dead; i++) {
        const sl_item *it = &r->items.items[i];
        switch (it->kind) {
        case SL_IT_NODE:
            lower_node(l, it->node);
            break;
        case SL_IT_GATE:
            lower_gate(l, it);
            break;
        case SL_IT_EXIT:
            lower_exit(l, it);
            break;
        }
    }
}

/* ---- planning: fusion and buffers ---------------------------------------- */

static void plan_region(lower *l, const sl_region *r)
{
    for (size_t i = 0; i < r->items.len; i++) {
        const sl_item *it = &r->items.items[i];
        switch (it->kind) {
        case SL_IT_NODE: {
            const sl_node *n = it->node;
            l->region_of[n->id] = r;
            if (n->a && n->a->uses == 1)
                l->user[n->a->id] = (sl_node *)n;
            if (n->b && n->b->uses == 1)
                l->user[n->b->id] = (sl_node *)n;
            if (n->op == SL_OP_ROUTE)
                for (int e = 0; e < n->inst->n_children; e++)
                    plan_region(l, n->experts[e]);
            break;
        }
        case SL_IT_GATE:
            plan_region(l, it->then_r);
            plan_region(l, it->else_r);
            break;
        case SL_IT_EXIT:
            plan_region(l, it->value_r);
            break;
        }
    }
}

static bool needs_buffer(const lower *l, const sl_node *n)
{
    if (n->ty.rank == 0 || l->fused[n->id])
        return false;
    switch (n->op) {
    case SL_OP_INPUT: case SL_OP_PHI: case SL_OP_ROUTE_ARG:
        return false;
    default:
        return true;
    }
}

static void place_region(lower *l, const sl_region *r)
{
    for (size_t i = 0; i < r->items.len; i++) {
        const sl_item *it = &r->items.items[i];
        switch (it->kind) {
        case SL_IT_NODE: {
            const sl_node *n = it->node;
            /* A cheap vector computed only by its one cheap user, in the
             * same region, is fused into that user's loop. */
            const sl_node *u = l->user[n->id];
            l->fused[n->id] = n->ty.rank == 1 && is_cheap(n->op) && n->uses == 1 && u &&
                              is_cheap(u->op) && u->ty.rank == 1 &&
                              l->region_of[u->id] == r;
            break;
        }
        default:
            break;
        }
    }
    for (size_t i = 0; i < r->items.len; i++) {
        const sl_item *it = &r->items.items[i];
        switch (it->kind) {
        case SL_IT_NODE: {
            const sl_node *n = it->node;
            if (needs_buffer(l, n)) {
                int64_t bytes = sl_ty_numel(n->ty) * (n->ty.elem == SL_BOOL ? 1 : 4);
                l->buf[n->id] = l->scratch_bytes;
                l->scratch_bytes += (bytes + 63) / 64 * 64;
            }
            if (n->op == SL_OP_ROUTE)
                for (int e = 0; e < n->inst->n_children; e++)
                    place_region(l, n->experts[e]);
            break;
        }
        case SL_IT_GATE:
            place_region(l, it->then_r);
            place_region(l, it->else_r);
            break;
        case SL_IT_EXIT:
            place_region(l, it->value_r);
            break;
        }
    }
}

/* ---- the entry points ---------------------------------------------------------- */

static void build_run1(lower *l)
{
    const sl_program *p = l->p;
    LLVMTypeRef args[] = {l->t_ptr, l->t_ptr, l->t_ptr, l->t_ptr, l->t_ptr};
    LLVMTypeRef ty = LLVMFunctionType(l->t_i32, args, 5, 0);
    char name[256];
    snprintf(name, sizeof name, "%s_run1", p->name);
    l->fn = l->run1 = LLVMAddFunction(l->mod, name, ty);
    const char *names[] = {"env", "x", "y", "slots", "flops"};
    for (unsigned i = 0; i < 5; i++)
        LLVMSetValueName2(LLVMGetParam(l->fn, i), names[i], strlen(names[i]));
    unsigned noalias = LLVMGetEnumAttributeKindForName("noalias", 7);
    for (unsigned i = 2; i <= 4; i++) /* y, slots, flops: written only here */
        LLVMAddAttributeAtIndex(l->fn, i + 1, LLVMCreateEnumAttribute(l->ctx, noalias, 0));
    l->x = LLVMGetParam(l->fn, 1);
    l->y = LLVMGetParam(l->fn, 2);
    l->slots = LLVMGetParam(l->fn, 3);
    l->flops_out = LLVMGetParam(l->fn, 4);

    LLVMBasicBlockRef entry = block(l, "entry"), body = block(l, "body");
    at(l, entry);
    LLVMValueRef br = LLVMBuildBr(l->b, body);
    l->alloca_b = LLVMCreateBuilderInContext(l->ctx);
    LLVMPositionBuilderBefore(l->alloca_b, br);
    l->flops = entry_alloca(l, l->t_i64, "flops.acc");

    at(l, body);
    LLVMValueRef env = LLVMGetParam(l->fn, 0);
    /* sl_env: tensors, thresholds, force, scratch (four pointers) */
    LLVMValueRef fields[4];
    static const char *const fnames[] = {"tensors", "thresholds", "force", "scratch"};
    for (int i = 0; i < 4; i++)
        fields[i] = LLVMBuildLoad2(l->b, l->t_ptr, gep(l, l->t_ptr, env, i64c(l, i), ""), fnames[i]);
    l->tensors = fields[0];
    l->thresholds = fields[1];
    l->force = fields[2];
    l->scratch = fields[3];
    LLVMBuildStore(l->b, i64c(l, 0), l->flops);
    if (p->n_slots)
        LLVMBuildMemSet(l->b, l->slots, LLVMConstInt(l->t_i8, 0xff, 0), i64c(l, p->n_slots * 4), 4);

    lower_region(l, p->body);
    if (!l->dead) /* unreachable: the body always ends by leaving */
        LLVMBuildUnreachable(l->b);
    LLVMDisposeBuilder(l->alloca_b);
}

/* run(env, n, x, y, exits, slots, flops): run1 over each row. */
static void build_run(lower *l)
{
    const sl_program *p = l->p;
    LLVMTypeRef args[] = {l->t_ptr, l->t_i64, l->t_ptr, l->t_ptr, l->t_ptr, l->t_ptr, l->t_ptr};
    LLVMTypeRef ty = LLVMFunctionType(l->t_void, args, 7, 0);
    char name[256];
    snprintf(name, sizeof name, "%s_run", p->name);
    l->fn = l->run = LLVMAddFunction(l->mod, name, ty);
    const char *names[] = {"env", "n", "x", "y", "exits", "slots", "flops"};
    for (unsigned i = 0; i < 7; i++)
        LLVMSetValueName2(LLVMGetParam(l->fn, i), names[i], strlen(names[i]));
    LLVMValueRef n = LLVMGetParam(l->fn, 1);

    LLVMBasicBlockRef entry = block(l, "entry"), done = block(l, "done");
    at(l, entry);
    LLVMBasicBlockRef start = block(l, "start");
    LLVMBuildCondBr(l->b, LLVMBuildICmp(l->b, LLVMIntSGT, n, i64c(l, 0), ""), start, done);
    at(l, start);
    loop lp;
    LLVMValueRef i = loop_begin(l, &lp, n, "row");
    LLVMValueRef x = gep(l, l->t_f32, LLVMGetParam(l->fn, 2),
                         LLVMBuildMul(l->b, i, i64c(l, sl_ty_numel(p->in_ty)), ""), "x.row");
    LLVMValueRef y = gep(l, l->t_f32, LLVMGetParam(l->fn, 3),
                         LLVMBuildMul(l->b, i, i64c(l, sl_ty_numel(p->out_ty)), ""), "y.row");
    LLVMValueRef s = gep(l, l->t_i32, LLVMGetParam(l->fn, 5),
                         LLVMBuildMul(l->b, i, i64c(l, p->n_slots), ""), "slots.row");
    LLVMValueRef f = gep(l, l->t_f64, LLVMGetParam(l->fn, 6), i, "flops.row");
    LLVMValueRef cargs[] = {LLVMGetParam(l->fn, 0), x, y, s, f};
    LLVMValueRef e = LLVMBuildCall2(l->b, LLVMGlobalGetValueType(l->run1), l->run1, cargs, 5, "exit");
    LLVMBuildStore(l->b, e, gep(l, l->t_i32, LLVMGetParam(l->fn, 4), i, ""));
    loop_end(l, &lp, "rows.done");
    LLVMBuildBr(l->b, done);
    at(l, done);
    LLVMBuildRetVoid(l->b);
}

void sl_lower_model(lower *l)
{
    const sl_program *p = l->p;
    size_t n = (size_t)p->n_nodes + 1;
    l->vals = sl_arena_array(&l->c->arena, n, sizeof *l->vals);
    l->buf = sl_arena_array(&l->c->arena, n, sizeof *l->buf);
    l->fused = sl_arena_array(&l->c->arena, n, sizeof *l->fused);
    l->user = sl_arena_array(&l->c->arena, n, sizeof *l->user);
    l->region_of = sl_arena_array(&l->c->arena, n, sizeof *l->region_of);
    for (size_t i = 0; i < n; i++)
        l->buf[i] = -1;
    l->transposed_slot = sl_arena_array(&l->c->arena, p->tensors.len + 1, sizeof *l->transposed_slot);
    for (size_t i = 0; i < p->tensors.len; i++)
        l->transposed_slot[i] = -1;
    plan_region(l, p->body);
    place_region(l, p->body);
    build_run1(l);
    build_run(l);
}
