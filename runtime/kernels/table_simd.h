/* table_simd.h - the kernel table of one SIMD level: the last include of
 * kernels_avx2.c and kernels_avx512.c, after every kernel is defined.  The
 * includer names it (SL_K_TABLE_NAME) and its level (SL_K_TABLE_ISA). */
#ifndef SLUICE_TABLE_SIMD_H
#define SLUICE_TABLE_SIMD_H

/* Batch 1: the GEMV.  Where the level has the outer-product GEMM
 * (SL_K_GEMM_NB set), whole panels of NB rows go to it and the leftover
 * rows to the dot-product kernel: a half-empty panel would waste more than
 * the dot product's lane sums cost (docs/performance.md). */
static void sl_k_dense_batch(const float *w, const float *b, const float *x, float *y,
                             int64_t batch, int64_t n_in, int64_t n_out)
{
    if (batch == 1) {
        sl_k_dense(w, b, x, y, n_in, n_out);
        return;
    }
#ifdef SL_K_GEMM_NB
    int64_t main_rows = batch / SL_K_GEMM_NB * SL_K_GEMM_NB;
    if (main_rows > 0 && sl_k_dense_batch_gemm(w, b, x, y, main_rows, n_in, n_out) == 0) {
        x += main_rows * n_in;
        y += main_rows * n_out;
        batch -= main_rows;
    }
    if (batch == 0)
        return;
#endif
    sl_k_dense_batch_dot(w, b, x, y, batch, n_in, n_out);
}

const sl_k_table SL_K_TABLE_NAME = {
    .isa = SL_K_TABLE_ISA,
    .dense = sl_k_dense,
    .dense_batch = sl_k_dense_batch,
    .dense_blocks = sl_k_dense_blocks,
    .dense_zskip = sl_k_dense_zskip,
    .transpose = sl_k_transpose_blocked,
    .relu = sl_k_relu,
    .gelu = sl_k_gelu,
    .gelu_tanh = sl_k_gelu_tanh,
    .sigmoid = sl_k_sigmoid,
    .tanh = sl_k_tanh,
    .exp = sl_k_exp,
    .log = sl_k_log,
    .add = sl_k_add,
    .mul = sl_k_mul,
    .add_scalar = sl_k_add_scalar,
    .mul_scalar = sl_k_mul_scalar,
    .softmax = sl_k_softmax,
    .log_softmax = sl_k_log_softmax,
    .layernorm = sl_k_layernorm,
    .max = sl_k_max,
    .min = sl_k_min,
    .sum = sl_k_sum,
    .entropy = sl_k_entropy,
    .margin = sl_k_margin,
    .argmax = sl_k_argmax,
    .topk = sl_k_topk,
};

#endif
