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

const sl_k_table SL_K_TABLE_NAME = SL_K_TABLE_INIT(SL_K_TABLE_ISA);

#endif
