/* lower_ops.c - each operation of the checked program over the frame's
 * rows (lower_emit.h).
 *
 * Dense layers call the runtime's row-set kernel (sl_rt_dense_rows) on
 * weights packed at open: over the frame's rows for a vector, over every
 * token of every row for a matrix or sequence (a list of flat indices).
 * Attention projects with the same kernel and attends per row.  Other heavy
 * work calls a kernel per row or per token; chains of cheap elementwise
 * operations become one loop over rows, tokens and elements, which LLVM
 * vectorizes; copies (slices, rows, concatenation) are memcpy per row.  A
 * row's tokens past its count are never read, so they need not be written. */
#include <stdio.h>
#include <string.h>

#include "lower_emit.h"

static bool has_rows(sl_ty t) { return t.rank == 2 || sl_ty_is_seq(t); }

static int64_t elem_bytes(sl_ty t) { return t.elem == SL_BOOL ? 1 : 4; }

/* The elements row r of a value of type t holds: its rows' worth, or all. */
static LLVMValueRef row_len(emit *e, sl_ty t, LLVMValueRef r)
{
    lower *l = e->l;
    if (!has_rows(t))
        return em_i64(l, sl_ty_numel(t));
    return LLVMBuildMul(l->b, em_extent(e, t, r), em_i64(l, em_res_inner(t)), "len");
}

static LLVMValueRef elem_ptr(emit *e, LLVMTypeRef t, LLVMValueRef base, LLVMValueRef i)
{
    return em_gep(e->l, t, base, i, "");
}

static void copy(emit *e, LLVMValueRef dst, LLVMValueRef src, LLVMValueRef elems, int64_t size)
{
    lower *l = e->l;
    LLVMBuildMemCpy(l->b, dst, 1, src, 1, LLVMBuildMul(l->b, elems, em_i64(l, size), "bytes"));
}

/* ---- elementwise ----------------------------------------------------------- */

/* A cheap operation computed element by element over the frame's rows
 * (and each row's tokens), its fused operands inline. */
static void elementwise(emit *e, const sl_node *n)
{
    lower *l = e->l;
    sl_ty t = n->ty;
    int64_t inner = em_res_inner(t);
    rows_loop r;
    LLVMValueRef row = em_rows_begin(e, &r, e->fr->rows, em_frame_count(e), "ew.row");
    loop outer, in;
    LLVMValueRef o = has_rows(t) ? em_loop_begin(e, &outer, em_extent(e, t, row), "ew.tok")
                                 : em_i64(l, 0);
    LLVMValueRef j = inner > 1 ? em_loop_begin(e, &in, em_i64(l, inner), "ew") : em_i64(l, 0);
    LLVMValueRef v;
    if (n->op == SL_OP_INDEX) {
        v = em_element(e, n->a, row, em_i64(l, n->index));
    } else {
        LLVMValueRef a = n->a ? em_element_at(e, n->a, t, row, o, j) : NULL;
        LLVMValueRef b = n->b ? em_element_at(e, n->b, t, row, o, j) : NULL;
        v = em_scalar_op(l, n, a, b);
    }
    LLVMValueRef i = LLVMBuildAdd(l->b, LLVMBuildMul(l->b, o, em_i64(l, inner), ""), j, "");
    em_store_element(e, n, row, i, v);
    if (inner > 1)
        em_loop_end(e, &in);
    if (has_rows(t))
        em_loop_end(e, &outer);
    em_rows_end(e, &r);
}

/* ---- dense layers and attention ---------------------------------------------- */

static LLVMValueRef tensor(emit *e, int index, const char *name)
{
    lower *l = e->l;
    return em_load(l, l->t_ptr, em_gep(l, l->t_ptr, e->tensors, em_i64(l, index), ""), name);
}

static LLVMValueRef dense_pack(emit *e, LLVMValueRef index)
{
    lower *l = e->l;
    return em_load(l, l->t_ptr, em_gep(l, l->t_ptr, e->dense, index, ""), "pack");
}

/* y[i] = pack(x[i]) for each i listed; x's and y's entries ldx and ldy
 * floats apart. */
static void call_dense(emit *e, LLVMValueRef pack, LLVMValueRef x, int64_t ldx, LLVMValueRef y,
                       int64_t ldy, LLVMValueRef list, LLVMValueRef count, bool zero_skip)
{
    lower *l = e->l;
    LLVMValueRef args[] = {pack, x, em_i64(l, ldx), y, em_i64(l, ldy), list, count,
                           em_i32(l, zero_skip)};
    em_call(l, RT_DENSE_ROWS, args, 8, "");
}

/* The tile's token list of t over the frame's rows (em_token_list), and
 * its length. */
static LLVMValueRef token_list(emit *e, sl_ty t, LLVMValueRef *count)
{
    lower *l = e->l;
    LLVMValueRef list = em_scratch_at(e, l->pl.tokens0, "tokens");
    LLVMValueRef n = em_entry_alloca(l, l->t_i64, "tokens.n");
    em_token_list(e, t, list, n);
    *count = em_load(l, l->t_i64, n, "tokens.n");
    return list;
}

/* fc(x) over the frame's rows, or their tokens (a layer declared with
 * blocks: block by block). */
static void lower_dense(emit *e, const sl_node *n)
{
    lower *l = e->l;
    const sl_inst *inst = n->inst;
    int first = l->pl.dense[inst->w_tensor];
    int64_t k = inst->blocks ? inst->blocks : 1, rows = inst->n_out / k;
    LLVMValueRef list = e->fr->rows, count;
    int64_t ldx = em_row_stride(e, n->a);
    if (has_rows(n->a->ty)) {
        list = token_list(e, n->a->ty, &count);
        ldx = inst->n_in;
    } else {
        count = em_frame_count(e);
    }
    for (int64_t b = 0; b < k; b++) {
        LLVMValueRef y = em_gep(l, l->t_f32, em_base(e, n), em_i64(l, b * rows), "y");
        call_dense(e, dense_pack(e, em_i64(l, first + b)), em_base(e, n->a), ldx, y,
                   inst->n_out, list, count, sl_plan_zero_skips(l, n));
    }
}

/* fc[mask](x): per block, the rows whose mask turns it on; the block's
 * units are 0 for the others.  Each row's FLOPs grow per active block. */
static void lower_dense_blocks(emit *e, const sl_node *n, const plan_item *pi)
{
    lower *l = e->l;
    const sl_inst *inst = n->inst;
    int64_t rows = inst->n_out / inst->blocks;
    const sl_decision *d = &l->p->decisions.items[n->decision];
    LLVMValueRef list = em_scratch_at(e, pi->list0, "block.rows");
    LLVMValueRef nact = em_entry_alloca(l, l->t_i64, "block.n");
    LLVMValueRef acc = em_scratch_at(e, l->pl.flops0, "flops");

    loop bl;
    LLVMValueRef b = em_loop_begin(e, &bl, em_i64(l, inst->blocks), "block");
    LLVMBuildStore(l->b, em_i64(l, 0), nact);
    rows_loop r;
    LLVMValueRef row = em_rows_begin(e, &r, e->fr->rows, em_frame_count(e), "block.part");
    LLVMValueRef m = em_load(l, l->t_i8, em_at_index(l, l->t_i8, em_row_ptr(e, n->b, row), b), "m");
    LLVMValueRef on = LLVMBuildICmp(l->b, LLVMIntNE, m, LLVMConstInt(l->t_i8, 0, 0), "active");
    LLVMValueRef slot = em_row_index(l, row, l->p->n_slots,
                                     LLVMBuildAdd(l->b, b, em_i64(l, d->slot), ""));
    em_store_at(l, l->t_i32, e->slots, slot, LLVMBuildZExt(l->b, on, l->t_i32, ""));
    LLVMBasicBlockRef yes = em_block(e, "block.on"), no = em_block(e, "block.off");
    LLVMBasicBlockRef next = em_block(e, "block.next");
    LLVMBuildCondBr(l->b, on, yes, no);
    em_at(e, yes);
    em_push(l, list, nact, row);
    em_add_row_flops(e, acc, row, n->flops);
    LLVMBuildBr(l->b, next);
    em_at(e, no);
    LLVMValueRef y = em_at_index(l, l->t_f32, em_row_ptr(e, n, row),
                                 em_row_index(l, b, rows, NULL));
    LLVMBuildMemSet(l->b, y, LLVMConstInt(l->t_i8, 0, 0), em_i64(l, rows * 4), 4);
    LLVMBuildBr(l->b, next);
    em_at(e, next);
    em_rows_end(e, &r);

    /* The block's weights are read only when some row turns it on. */
    LLVMValueRef cnt = em_load(l, l->t_i64, nact, "block.n");
    LLVMBasicBlockRef run = em_block(e, "block.run"), done = em_block(e, "block.skip");
    LLVMBuildCondBr(l->b, LLVMBuildICmp(l->b, LLVMIntSGT, cnt, em_i64(l, 0), "any"), run, done);
    em_at(e, run);
    LLVMValueRef pack = LLVMBuildAdd(l->b, em_i64(l, l->pl.dense[inst->w_tensor]), b, "");
    LLVMValueRef yb = em_gep(l, l->t_f32, em_base(e, n), em_row_index(l, b, rows, NULL), "y");
    call_dense(e, dense_pack(e, pack), em_base(e, n->a), em_row_stride(e, n->a), yb,
               inst->n_out, list, cnt, false);
    LLVMBuildBr(l->b, done);
    em_at(e, done);
    em_loop_end(e, &bl);
}

/* Self-attention: q, k, v of every token by one dense call, each row's
 * tokens attending to each other (sl_rt_attention_queries), then the
 * output projection of every token.  In a layer `attending all` that runs
 * it on the chosen tokens (chosen_queries: each row's first e->tokens of
 * its e->every): q, k, v of the chosen, k and v alone of the others (their
 * own pack), the chosen queries against all of them, their outputs
 * projected; FLOPs counted here, at both counts (true). */
static bool lower_attention(emit *e, const sl_node *n, const plan_item *pi)
{
    lower *l = e->l;
    const sl_inst *inst = n->inst;
    int64_t d = inst->n_in, most = n->ty.dims[0];
    bool some = n->chosen_queries;
    LLVMValueRef count, list = token_list(e, n->a->ty, &count);
    LLVMValueRef qkv = em_scratch_at(e, pi->qkv, "qkv"), ctx = em_scratch_at(e, pi->ctx, "ctx");
    call_dense(e, dense_pack(e, em_i64(l, l->pl.dense[inst->w_tensor])), em_base(e, n->a), d,
               qkv, 3 * d, list, count, false);
    if (some) { /* the others' k and v, past each row's chosen tokens */
        LLVMValueRef others = em_scratch_at(e, l->pl.tokens0, "tokens");
        LLVMValueRef n_others = em_entry_alloca(l, l->t_i64, "others.n");
        LLVMValueRef chosen = e->tokens;
        e->tokens = e->every;
        em_token_list_past(e, n->a->ty, chosen, others, n_others);
        e->tokens = chosen;
        call_dense(e, dense_pack(e, em_i64(l, l->pl.kv[inst->w_tensor])), em_base(e, n->a), d,
                   em_gep(l, l->t_f32, qkv, em_i64(l, d), "kv"), 3 * d, others,
                   em_load(l, l->t_i64, n_others, "others.n"), false);
    }
    LLVMValueRef scratch = em_gep(l, l->t_i8, e->scratch, em_i64(l, l->pl.tile_bytes),
                                  "attn.scratch");
    LLVMValueRef flops = some ? em_scratch_at(e, l->pl.flops0, "flops") : NULL;
    rows_loop r;
    LLVMValueRef row = em_rows_begin(e, &r, e->fr->rows, em_frame_count(e), "attend");
    LLVMValueRef q = em_gep(l, l->t_f32, qkv, em_row_index(l, row, most * 3 * d, NULL), "");
    LLVMValueRef y = em_gep(l, l->t_f32, ctx, em_row_index(l, row, most * d, NULL), "");
    LLVMValueRef n_q = em_extent(e, n->ty, row), n_all = n_q;
    if (some) {
        LLVMValueRef chosen = e->tokens;
        e->tokens = e->every;
        n_all = em_extent(e, n->ty, row);
        e->tokens = chosen;
    }
    LLVMValueRef args[] = {q, em_i64(l, 3 * d), y, em_i64(l, d), n_q, n_all,
                           em_i64(l, d), em_i64(l, inst->heads), em_i32(l, inst->causal),
                           scratch};
    em_call(l, RT_ATTENTION, args, 10, "");
    if (some) { /* n_all * per_kv + n_q * (per_q + per_out + n_all * per_pair) */
        sl_attention_cost c = sl_cost_attention(inst);
        LLVMValueRef pairs = LLVMBuildMul(l->b, n_all, em_i64(l, (int64_t)c.per_pair), "");
        LLVMValueRef per_q = LLVMBuildAdd(l->b, em_i64(l, (int64_t)(c.per_q + c.per_out)),
                                          pairs, "");
        LLVMValueRef kv = LLVMBuildMul(l->b, n_all, em_i64(l, (int64_t)c.per_kv), "");
        LLVMValueRef v = LLVMBuildAdd(l->b, kv, LLVMBuildMul(l->b, n_q, per_q, ""), "attn.flops");
        em_add_to(l, em_at_index(l, l->t_i64, flops, row), v);
    }
    em_rows_end(e, &r);
    if (some) /* the list was reused for the others' */
        list = token_list(e, n->ty, &count);
    call_dense(e, dense_pack(e, em_i64(l, l->pl.dense[inst->w2_tensor])), ctx, d, em_base(e, n),
               d, list, count, false);
    return some;
}

/* ---- kernels per row and per token -------------------------------------------- */

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

static bool is_elementwise_kernel(sl_op op)
{
    switch (op) {
    case SL_OP_GELU: case SL_OP_GELU_TANH: case SL_OP_SIGMOID: case SL_OP_TANH:
    case SL_OP_EXP: case SL_OP_LOG:
        return true;
    default:
        return false;
    }
}

/* One vector of len elements at x (a row, or one token's): layernorm, a
 * softmax into y; a reduction stored at out[i]. */
static void vector_kernel(emit *e, const sl_node *n, LLVMValueRef x, LLVMValueRef y,
                          LLVMValueRef len, LLVMValueRef out, LLVMValueRef i)
{
    lower *l = e->l;
    switch (n->op) {
    case SL_OP_LAYERNORM: {
        LLVMValueRef args[] = {x, tensor(e, n->inst->w_tensor, "gamma"),
                               tensor(e, n->inst->b_tensor, "beta"), y, len, em_f32(l, 1e-5)};
        em_call(l, RT_LAYERNORM, args, 6, "");
        return;
    }
    case SL_OP_SOFTMAX: case SL_OP_LOG_SOFTMAX: {
        LLVMValueRef args[] = {x, y, len};
        em_call(l, unary_kernel(n->op), args, 3, "");
        return;
    }
    default: { /* reductions */
        LLVMValueRef args[] = {x, len};
        LLVMValueRef v = em_call(l, unary_kernel(n->op), args, 2, sl_op_str(n->op));
        if (n->op == SL_OP_MEAN)
            v = LLVMBuildFDiv(l->b, v, LLVMBuildSIToFP(l->b, len, l->t_f32, ""), "mean");
        else if (n->op == SL_OP_ARGMAX)
            v = LLVMBuildTrunc(l->b, v, l->t_i32, "argmax");
        em_store_at(l, em_elem_ty(l, n), out, i, v);
        return;
    }
    }
}

/* A kernel over each row: elementwise ones over all its elements at once;
 * layernorm, softmax and reductions over the last dimension, once per
 * token of a matrix or sequence. */
static void per_row_kernel(emit *e, const sl_node *n)
{
    lower *l = e->l;
    sl_ty xt = n->a->ty;
    rows_loop r;
    LLVMValueRef row = em_rows_begin(e, &r, e->fr->rows, em_frame_count(e), sl_op_str(n->op));
    LLVMValueRef x = em_row_ptr(e, n->a, row), y = em_row_ptr(e, n, row);
    if (is_elementwise_kernel(n->op)) {
        LLVMValueRef args[] = {x, y, row_len(e, xt, row)};
        em_call(l, unary_kernel(n->op), args, 3, "");
    } else if (xt.rank == 2) { /* per token, over its features */
        int64_t d = xt.dims[1];
        loop lp;
        LLVMValueRef o = em_loop_begin(e, &lp, em_extent(e, xt, row), "per.tok");
        LLVMValueRef at = LLVMBuildMul(l->b, o, em_i64(l, d), "");
        bool same = n->ty.rank == 2; /* layernorm, softmax: a row in, a row out */
        vector_kernel(e, n, elem_ptr(e, l->t_f32, x, at), same ? elem_ptr(e, l->t_f32, y, at) : y,
                      em_i64(l, d), y, o);
        em_loop_end(e, &lp);
    } else { /* the whole vector, or all of a row's values per token */
        vector_kernel(e, n, x, y, row_len(e, xt, row), y, em_i64(l, 0));
    }
    em_rows_end(e, &r);
}

/* batchnorm (eval): (x - mean) / sqrt(var + 1e-5) * weight + bias, per
 * feature. */
static void lower_batchnorm(emit *e, const sl_node *n)
{
    lower *l = e->l;
    sl_ty t = n->ty;
    int64_t d = em_res_inner(t);
    LLVMValueRef w = tensor(e, n->inst->w_tensor, "bn.w"), b = tensor(e, n->inst->b_tensor, "bn.b");
    LLVMValueRef m = tensor(e, n->inst->w2_tensor, "bn.mean");
    LLVMValueRef v = tensor(e, n->inst->b2_tensor, "bn.var");
    LLVMTypeRef f = l->t_f32;
    LLVMValueRef sqrt_fn = LLVMGetIntrinsicDeclaration(
        l->mod, LLVMLookupIntrinsicID("llvm.sqrt", 9), &f, 1);
    LLVMTypeRef sqrt_ty = LLVMFunctionType(f, &f, 1, 0);
    rows_loop r;
    LLVMValueRef row = em_rows_begin(e, &r, e->fr->rows, em_frame_count(e), "bn.row");
    loop outer, in;
    LLVMValueRef o = has_rows(t) ? em_loop_begin(e, &outer, em_extent(e, t, row), "bn.tok")
                                 : em_i64(l, 0);
    LLVMValueRef j = em_loop_begin(e, &in, em_i64(l, d), "bn");
    LLVMValueRef x = em_element_at(e, n->a, t, row, o, j);
    LLVMValueRef var = LLVMBuildFAdd(l->b, em_load_at(l, f, v, j), em_f32(l, 1e-5), "");
    LLVMValueRef sd = LLVMBuildCall2(l->b, sqrt_ty, sqrt_fn, &var, 1, "sd");
    LLVMValueRef z = LLVMBuildFDiv(l->b, LLVMBuildFSub(l->b, x, em_load_at(l, f, m, j), ""), sd, "");
    z = LLVMBuildFAdd(l->b, LLVMBuildFMul(l->b, z, em_load_at(l, f, w, j), ""),
                      em_load_at(l, f, b, j), "bn.y");
    em_store_element(e, n, row, LLVMBuildAdd(l->b, LLVMBuildMul(l->b, o, em_i64(l, d), ""), j, ""),
                     z);
    em_loop_end(e, &in);
    if (has_rows(t))
        em_loop_end(e, &outer);
    em_rows_end(e, &r);
}

/* embedding(ids): each id's row of the table (ids are checked before a
 * run: the runtime refuses one outside the table). */
static void lower_embed(emit *e, const sl_node *n)
{
    lower *l = e->l;
    int64_t d = n->inst->n_out;
    LLVMValueRef table = tensor(e, n->inst->w_tensor, "table");
    rows_loop r;
    LLVMValueRef row = em_rows_begin(e, &r, e->fr->rows, em_frame_count(e), "embed.row");
    LLVMValueRef y = em_row_ptr(e, n, row);
    loop lp;
    bool seq = n->a->ty.rank == 1; /* a sequence or a vector of ids: a row each */
    LLVMValueRef o = seq ? em_loop_begin(e, &lp, em_extent(e, n->a->ty, row), "embed.tok")
                         : em_i64(l, 0);
    LLVMValueRef id = LLVMBuildSExt(l->b, em_element(e, n->a, row, o), l->t_i64, "id");
    copy(e, elem_ptr(e, l->t_f32, y, LLVMBuildMul(l->b, o, em_i64(l, d), "")),
         elem_ptr(e, l->t_f32, table, LLVMBuildMul(l->b, id, em_i64(l, d), "")), em_i64(l, d), 4);
    if (seq)
        em_loop_end(e, &lp);
    em_rows_end(e, &r);
}

/* ---- plumbing ----------------------------------------------------------------- */

/* pool_mean/max/sum over the rows (tokens) of a matrix or sequence, per
 * feature, in row order; over a vector's elements, by the kernels. */
static void lower_pool(emit *e, const sl_node *n)
{
    lower *l = e->l;
    sl_ty xt = n->a->ty;
    rows_loop r;
    LLVMValueRef row = em_rows_begin(e, &r, e->fr->rows, em_frame_count(e), "pool.row");
    LLVMValueRef x = em_row_ptr(e, n->a, row);
    if (xt.rank != 2) {
        LLVMValueRef len = row_len(e, xt, row);
        LLVMValueRef args[] = {x, len};
        LLVMValueRef v = em_call(l, n->op == SL_OP_POOL_MAX ? RT_MAX : RT_SUM, args, 2, "pool");
        if (n->op == SL_OP_POOL_MEAN)
            v = LLVMBuildFDiv(l->b, v, LLVMBuildSIToFP(l->b, len, l->t_f32, ""), "mean");
        em_store_element(e, n, row, em_i64(l, 0), v);
        em_rows_end(e, &r);
        return;
    }
    int64_t d = xt.dims[1];
    LLVMValueRef y = em_row_ptr(e, n, row), rows = em_extent(e, xt, row);
    copy(e, y, x, em_i64(l, d), 4); /* the first token; rows >= 1 */
    loop lo, lj;
    LLVMValueRef o1 = em_loop_begin(e, &lo, LLVMBuildSub(l->b, rows, em_i64(l, 1), ""), "pool.o");
    LLVMValueRef at = LLVMBuildMul(l->b, LLVMBuildAdd(l->b, o1, em_i64(l, 1), ""), em_i64(l, d), "");
    LLVMValueRef j = em_loop_begin(e, &lj, em_i64(l, d), "pool.j");
    LLVMValueRef yp = elem_ptr(e, l->t_f32, y, j);
    LLVMValueRef acc = em_load(l, l->t_f32, yp, "acc");
    LLVMValueRef v = em_load_at(l, l->t_f32, x, LLVMBuildAdd(l->b, at, j, ""));
    if (n->op == SL_OP_POOL_MAX) { /* a NaN stays, as torch.max keeps it */
        LLVMValueRef take = LLVMBuildOr(l->b, LLVMBuildFCmp(l->b, LLVMRealOGT, v, acc, ""),
                                        LLVMBuildFCmp(l->b, LLVMRealUNO, v, v, ""), "");
        v = LLVMBuildSelect(l->b, take, v, acc, "max");
    } else {
        v = LLVMBuildFAdd(l->b, acc, v, "sum");
    }
    LLVMBuildStore(l->b, v, yp);
    em_loop_end(e, &lj);
    em_loop_end(e, &lo);
    if (n->op == SL_OP_POOL_MEAN) {
        LLVMValueRef inv = LLVMBuildSIToFP(l->b, rows, l->t_f32, "");
        loop lm;
        LLVMValueRef jm = em_loop_begin(e, &lm, em_i64(l, d), "pool.mean");
        LLVMValueRef p = elem_ptr(e, l->t_f32, y, jm);
        LLVMBuildStore(l->b, LLVMBuildFDiv(l->b, em_load(l, l->t_f32, p, ""), inv, ""), p);
        em_loop_end(e, &lm);
    }
    em_rows_end(e, &r);
}

/* Row k (axis 0; k < 0 from the end of each row's tokens) or column k
 * (axis 1) of a matrix or sequence. */
static void lower_take(emit *e, const sl_node *n)
{
    lower *l = e->l;
    sl_ty xt = n->a->ty;
    LLVMTypeRef et = em_elem_ty(l, n);
    int64_t size = elem_bytes(xt), inner = em_res_inner(xt);
    rows_loop r;
    LLVMValueRef row = em_rows_begin(e, &r, e->fr->rows, em_frame_count(e), "take.row");
    LLVMValueRef x = em_row_ptr(e, n->a, row), y = em_row_ptr(e, n, row);
    if (n->axis == 0) {
        LLVMValueRef k = em_i64(l, n->index);
        if (n->index < 0)
            k = LLVMBuildAdd(l->b, em_extent(e, xt, row), k, "k");
        copy(e, y, elem_ptr(e, et, x, LLVMBuildMul(l->b, k, em_i64(l, inner), "")),
             em_i64(l, inner), size);
    } else {
        loop lp;
        LLVMValueRef o = em_loop_begin(e, &lp, em_extent(e, xt, row), "take.o");
        LLVMValueRef at = LLVMBuildAdd(l->b, LLVMBuildMul(l->b, o, em_i64(l, inner), ""),
                                       em_i64(l, n->index), "");
        LLVMBuildStore(l->b, em_load_at(l, et, x, at), elem_ptr(e, et, y, o));
        em_loop_end(e, &lp);
    }
    em_rows_end(e, &r);
}

/* Rows (axis 0) or columns (axis 1) from `index` on: as many as the
 * result has. */
static void lower_slice(emit *e, const sl_node *n)
{
    lower *l = e->l;
    sl_ty xt = n->a->ty, t = n->ty;
    LLVMTypeRef et = em_elem_ty(l, n);
    int64_t size = elem_bytes(t);
    rows_loop r;
    LLVMValueRef row = em_rows_begin(e, &r, e->fr->rows, em_frame_count(e), "slice.row");
    LLVMValueRef x = em_row_ptr(e, n->a, row), y = em_row_ptr(e, n, row);
    if (n->axis == 0) {
        LLVMValueRef from = em_i64(l, n->index * (has_rows(t) ? em_res_inner(t) : 1));
        copy(e, y, elem_ptr(e, et, x, from), row_len(e, t, row), size);
    } else {
        int64_t w = t.dims[1], d = xt.dims[1];
        loop lp;
        LLVMValueRef o = em_loop_begin(e, &lp, em_extent(e, t, row), "slice.o");
        LLVMValueRef src = LLVMBuildAdd(l->b, LLVMBuildMul(l->b, o, em_i64(l, d), ""),
                                        em_i64(l, n->index), "");
        copy(e, elem_ptr(e, et, y, LLVMBuildMul(l->b, o, em_i64(l, w), "")),
             elem_ptr(e, et, x, src), em_i64(l, w), size);
        em_loop_end(e, &lp);
    }
    em_rows_end(e, &r);
}

/* concat: each piece's elements after the last, row by row (axis 0); or
 * each token's features, piece after piece (axis 1). */
static void lower_concat(emit *e, const sl_node *n)
{
    lower *l = e->l;
    sl_ty t = n->ty;
    LLVMTypeRef et = em_elem_ty(l, n);
    int64_t size = elem_bytes(t);
    rows_loop r;
    LLVMValueRef row = em_rows_begin(e, &r, e->fr->rows, em_frame_count(e), "concat.row");
    LLVMValueRef y = em_row_ptr(e, n, row);
    if (n->axis == 0) {
        LLVMValueRef off = em_i64(l, 0);
        for (int i = 0; i < n->n_args; i++) {
            const sl_node *a = n->args[i];
            if (a->ty.rank == 0) {
                em_store_element(e, n, row, off, em_element(e, a, row, em_i64(l, 0)));
                off = LLVMBuildAdd(l->b, off, em_i64(l, 1), "");
                continue;
            }
            LLVMValueRef len = row_len(e, a->ty, row);
            copy(e, elem_ptr(e, et, y, off), em_row_ptr(e, a, row), len, size);
            off = LLVMBuildAdd(l->b, off, len, "off");
        }
    } else {
        int64_t width = t.dims[1], off = 0;
        loop lp;
        LLVMValueRef o = em_loop_begin(e, &lp, em_extent(e, t, row), "concat.o");
        LLVMValueRef yo = elem_ptr(e, et, y, LLVMBuildMul(l->b, o, em_i64(l, width), ""));
        for (int i = 0; i < n->n_args; i++) {
            const sl_node *a = n->args[i];
            int64_t w = a->ty.rank == 2 ? a->ty.dims[1] : a->ty.dims[0];
            LLVMValueRef src = em_row_ptr(e, a, row);
            if (a->ty.rank == 2)
                src = elem_ptr(e, et, src, LLVMBuildMul(l->b, o, em_i64(l, w), ""));
            copy(e, elem_ptr(e, et, yo, em_i64(l, off)), src, em_i64(l, w), size);
            off += w;
        }
        em_loop_end(e, &lp);
    }
    em_rows_end(e, &r);
}

/* [a, b, c] of scalars: element i is the i-th. */
static void lower_stack(emit *e, const sl_node *n)
{
    lower *l = e->l;
    rows_loop r;
    LLVMValueRef row = em_rows_begin(e, &r, e->fr->rows, em_frame_count(e), "stack.row");
    for (int i = 0; i < n->n_args; i++)
        em_store_element(e, n, row, em_i64(l, i), em_element(e, n->args[i], row, em_i64(l, 0)));
    em_rows_end(e, &r);
}

/* topk_mask(v, k): true at the k largest (the route's choice, sl_rt_topk). */
static void lower_topk_mask(emit *e, const sl_node *n)
{
    lower *l = e->l;
    int64_t len = n->ty.dims[0], k = n->index;
    LLVMValueRef idx = em_entry_alloca(l, LLVMArrayType(l->t_i32, (unsigned)k), "topk.idx");
    rows_loop r;
    LLVMValueRef row = em_rows_begin(e, &r, e->fr->rows, em_frame_count(e), "topk.row");
    LLVMValueRef y = em_row_ptr(e, n, row);
    LLVMValueRef args[] = {em_row_ptr(e, n->a, row), em_i64(l, len), em_i64(l, k), idx,
                           LLVMConstNull(l->t_ptr)};
    em_call(l, RT_TOPK, args, 5, "");
    LLVMBuildMemSet(l->b, y, LLVMConstInt(l->t_i8, 0, 0), em_i64(l, len), 1);
    loop lp;
    LLVMValueRef i = em_loop_begin(e, &lp, em_i64(l, k), "topk.set");
    LLVMValueRef at = em_list_row(l, idx, i);
    em_store_at(l, l->t_i8, y, at, LLVMConstInt(l->t_i8, 1, 0));
    em_loop_end(e, &lp);
    em_rows_end(e, &r);
}

/* ---- uniform values --------------------------------------------------------- */

/* A constant vector or matrix: a private global every row reads. */
static void lower_const_vec(emit *e, const sl_node *n)
{
    lower *l = e->l;
    int64_t k = sl_ty_numel(n->ty);
    LLVMTypeRef et = em_elem_ty(l, n);
    LLVMValueRef *v = sl_arena_array(&l->c->arena, (size_t)k, sizeof *v);
    for (int64_t i = 0; i < k; i++)
        v[i] = n->ty.elem == SL_F32 ? em_f32(l, n->cvals[i])
                                    : LLVMConstInt(et, (unsigned long long)(int64_t)n->cvals[i], 1);
    LLVMValueRef init = LLVMConstArray2(et, v, (uint64_t)k);
    LLVMValueRef g = LLVMAddGlobal(l->mod, LLVMTypeOf(init), "const.vec");
    LLVMSetInitializer(g, init);
    LLVMSetGlobalConstant(g, 1);
    LLVMSetLinkage(g, LLVMPrivateLinkage);
    LLVMSetAlignment(g, 16);
    e->vals[n->id] = g;
}

/* A uniform value: one scalar for every row. */
static void lower_uniform(emit *e, const sl_node *n)
{
    lower *l = e->l;
    switch (n->op) {
    case SL_OP_CONST:
        e->vals[n->id] = n->ty.elem == SL_F32 ? em_f32(l, n->value)
                         : n->ty.elem == SL_I32 ? em_i32(l, (int32_t)n->value)
                                                : LLVMConstInt(l->t_i1, n->value != 0, 0);
        return;
    case SL_OP_THRESHOLD: {
        LLVMValueRef p = em_gep(l, l->t_f32, e->thresholds, em_i64(l, n->index), "");
        e->vals[n->id] = em_load(l, l->t_f32, p, l->p->thresholds.items[n->index].name);
        return;
    }
    case SL_OP_GELU: case SL_OP_GELU_TANH: case SL_OP_SIGMOID: case SL_OP_TANH:
    case SL_OP_EXP: case SL_OP_LOG: {
        /* the same kernel as a vector's, one element long */
        LLVMValueRef tmp = em_entry_alloca(l, l->t_f32, "s");
        LLVMBuildStore(l->b, e->vals[n->a->id], tmp);
        LLVMValueRef args[] = {tmp, tmp, em_i64(l, 1)};
        em_call(l, unary_kernel(n->op), args, 3, "");
        e->vals[n->id] = em_load(l, l->t_f32, tmp, sl_op_str(n->op));
        return;
    }
    default:
        e->vals[n->id] = em_scalar_op(l, n, n->a ? e->vals[n->a->id] : NULL,
                                      n->b ? e->vals[n->b->id] : NULL);
        return;
    }
}

void sl_lower_node(emit *e, const sl_node *n, const plan_item *pi)
{
    lower *l = e->l;
    if (l->pl.uniform[n->id])
        lower_uniform(e, n);
    else if (l->pl.fused[n->id])
        ; /* computed inside its user's loop */
    else
        switch (n->op) {
        case SL_OP_INPUT: case SL_OP_ROUTE_ARG: case SL_OP_PHI: case SL_OP_ROUTE:
        case SL_OP_TENSOR: case SL_OP_COUNT:
            break; /* in place already, or made by their items */
        case SL_OP_CONST_VEC:
            lower_const_vec(e, n);
            break;
        case SL_OP_DENSE:
            lower_dense(e, n);
            break;
        case SL_OP_DENSE_BLOCKS:
            lower_dense_blocks(e, n, pi);
            return; /* FLOPs counted per active block */
        case SL_OP_ATTENTION:
            if (lower_attention(e, n, pi))
                return; /* FLOPs counted at two token counts */
            break;
        case SL_OP_BATCHNORM:
            lower_batchnorm(e, n);
            break;
        case SL_OP_EMBED:
            lower_embed(e, n);
            break;
        case SL_OP_LAYERNORM: case SL_OP_GELU: case SL_OP_GELU_TANH: case SL_OP_SIGMOID:
        case SL_OP_TANH: case SL_OP_EXP: case SL_OP_LOG: case SL_OP_SOFTMAX:
        case SL_OP_LOG_SOFTMAX: case SL_OP_MAX: case SL_OP_MIN: case SL_OP_SUM: case SL_OP_MEAN:
        case SL_OP_ARGMAX: case SL_OP_ENTROPY: case SL_OP_MARGIN:
            per_row_kernel(e, n);
            break;
        case SL_OP_POOL_MEAN: case SL_OP_POOL_MAX: case SL_OP_POOL_SUM:
            lower_pool(e, n);
            break;
        case SL_OP_TAKE:
            lower_take(e, n);
            break;
        case SL_OP_SLICE:
            lower_slice(e, n);
            break;
        case SL_OP_CONCAT:
            lower_concat(e, n);
            break;
        case SL_OP_STACK:
            lower_stack(e, n);
            break;
        case SL_OP_TOPK_MASK:
            lower_topk_mask(e, n);
            break;
        default:
            elementwise(e, n);
            break;
        }
    if (n->op != SL_OP_ROUTE)
        e->fr->pending = sl_flops_add(e->fr->pending, n->flops);
    if (l->zero_stats && n->op == SL_OP_RELU)
        sl_lower_zero_stats(e, n);
}
