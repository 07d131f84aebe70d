/* dense_simd.h - the dense-layer kernels over the sl_v vocabulary, for
 * weights in PyTorch's [n_out, n_in] layout: GEMV (batch 1), the small-batch
 * GEMM, the rows subset (block gating) and the zero-skipping form.
 * Included by kernels_avx2.c and kernels_avx512.c after kernels_simd.h;
 * gemm_simd.h has the outer-product GEMM AVX-512 uses for batches >= 32.
 *
 * Rows of w and x are both contiguous in k, so these kernels are dot
 * products: vector accumulators along k, summed across lanes at the end of
 * a tile (sl_v_hsum4).  No packing: w is read once, straight from memory. */
#ifndef SLUICE_DENSE_SIMD_H
#define SLUICE_DENSE_SIMD_H

/* Register tile of the small-batch GEMM: SL_K_DOT_MB rows of x against
 * SL_K_DOT_R rows of w (the includer sets SL_K_DOT_MB to fit its registers:
 * MB*R accumulators + MB x vectors + 1). */
#define SL_K_DOT_R 4
/* k-block: one tile's SL_K_DOT_R rows of w (16 KiB) and SL_K_DOT_MB rows of
 * x stay in L1 across the batch. */
#define SL_K_DOT_KC 1024

static inline int64_t sl_k_min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Eight rows of w against one x: y8[r] = (b8 ? b8[r] : 0) + w_r . x. */
static inline void sl_k_gemv_rows8(const float *w, int64_t n_in, const float *x,
                                   const float *b8, float *y8)
{
    const float *w0 = w, *w1 = w + n_in, *w2 = w + 2 * n_in, *w3 = w + 3 * n_in;
    const float *w4 = w + 4 * n_in, *w5 = w + 5 * n_in, *w6 = w + 6 * n_in;
    const float *w7 = w + 7 * n_in;
    sl_v a0 = sl_v_zero(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    int64_t i = 0;
    for (; i + SL_VW <= n_in; i += SL_VW) {
        sl_v xv = sl_v_load(x + i);
        a0 = sl_v_fmadd(sl_v_load(w0 + i), xv, a0);
        a1 = sl_v_fmadd(sl_v_load(w1 + i), xv, a1);
        a2 = sl_v_fmadd(sl_v_load(w2 + i), xv, a2);
        a3 = sl_v_fmadd(sl_v_load(w3 + i), xv, a3);
        a4 = sl_v_fmadd(sl_v_load(w4 + i), xv, a4);
        a5 = sl_v_fmadd(sl_v_load(w5 + i), xv, a5);
        a6 = sl_v_fmadd(sl_v_load(w6 + i), xv, a6);
        a7 = sl_v_fmadd(sl_v_load(w7 + i), xv, a7);
    }
    if (i < n_in) {
        int64_t r = n_in - i;
        sl_v xv = sl_v_load_n(x + i, r);
        a0 = sl_v_fmadd(sl_v_load_n(w0 + i, r), xv, a0);
        a1 = sl_v_fmadd(sl_v_load_n(w1 + i, r), xv, a1);
        a2 = sl_v_fmadd(sl_v_load_n(w2 + i, r), xv, a2);
        a3 = sl_v_fmadd(sl_v_load_n(w3 + i, r), xv, a3);
        a4 = sl_v_fmadd(sl_v_load_n(w4 + i, r), xv, a4);
        a5 = sl_v_fmadd(sl_v_load_n(w5 + i, r), xv, a5);
        a6 = sl_v_fmadd(sl_v_load_n(w6 + i, r), xv, a6);
        a7 = sl_v_fmadd(sl_v_load_n(w7 + i, r), xv, a7);
    }
    __m128 lo = sl_v_hsum4(a0, a1, a2, a3), hi = sl_v_hsum4(a4, a5, a6, a7);
    if (b8) {
        lo = _mm_add_ps(lo, _mm_loadu_ps(b8));
        hi = _mm_add_ps(hi, _mm_loadu_ps(b8 + 4));
    }
    _mm_storeu_ps(y8, lo);
    _mm_storeu_ps(y8 + 4, hi);
}

/* One row: four accumulators so the FMA latency is hidden. */
static inline float sl_k_dot(const float *w, const float *x, int64_t n)
{
    sl_v a0 = sl_v_zero(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 4 * SL_VW <= n; i += 4 * SL_VW) {
        a0 = sl_v_fmadd(sl_v_load(w + i), sl_v_load(x + i), a0);
        a1 = sl_v_fmadd(sl_v_load(w + i + SL_VW), sl_v_load(x + i + SL_VW), a1);
        a2 = sl_v_fmadd(sl_v_load(w + i + 2 * SL_VW), sl_v_load(x + i + 2 * SL_VW), a2);
        a3 = sl_v_fmadd(sl_v_load(w + i + 3 * SL_VW), sl_v_load(x + i + 3 * SL_VW), a3);
    }
    for (; i + SL_VW <= n; i += SL_VW)
        a0 = sl_v_fmadd(sl_v_load(w + i), sl_v_load(x + i), a0);
    if (i < n)
        a1 = sl_v_fmadd(sl_v_load_n(w + i, n - i), sl_v_load_n(x + i, n - i), a1);
    return sl_v_hsum(sl_v_add(sl_v_add(a0, a1), sl_v_add(a2, a3)));
}

/* GEMV: eight rows at a time (one x load feeds eight FMAs), then one. */
static void sl_k_dense(const float *w, const float *b, const float *x, float *y,
                       int64_t n_in, int64_t n_out)
{
    int64_t o = 0;
    for (; o + 8 <= n_out; o += 8)
        sl_k_gemv_rows8(w + o * n_in, n_in, x, b ? b + o : NULL, y + o);
    for (; o < n_out; o++)
        y[o] = (b ? b[o] : 0.0f) + sl_k_dot(w + o * n_in, x, n_in);
}

/* out[m][r] = x_m[0, kc) . w_r[0, kc), as SL_K_DOT_MB vectors of four sums. */
static inline void sl_k_dot_tile(const float *const *xr, const float *const *wr,
                                 int64_t kc, __m128 *out)
{
    sl_v acc[SL_K_DOT_MB][SL_K_DOT_R];
#pragma GCC unroll 16
    for (int m = 0; m < SL_K_DOT_MB; m++)
#pragma GCC unroll 16
        for (int r = 0; r < SL_K_DOT_R; r++)
            acc[m][r] = sl_v_zero();
    int64_t k = 0;
    for (; k + SL_VW <= kc; k += SL_VW) {
        sl_v xv[SL_K_DOT_MB];
#pragma GCC unroll 16
        for (int m = 0; m < SL_K_DOT_MB; m++)
            xv[m] = sl_v_load(xr[m] + k);
#pragma GCC unroll 16
        for (int r = 0; r < SL_K_DOT_R; r++) {
            sl_v wv = sl_v_load(wr[r] + k);
#pragma GCC unroll 16
            for (int m = 0; m < SL_K_DOT_MB; m++)
                acc[m][r] = sl_v_fmadd(wv, xv[m], acc[m][r]);
        }
    }
    if (k < kc) {
        int64_t n = kc - k;
        sl_v xv[SL_K_DOT_MB];
#pragma GCC unroll 16
        for (int m = 0; m < SL_K_DOT_MB; m++)
            xv[m] = sl_v_load_n(xr[m] + k, n);
#pragma GCC unroll 16
        for (int r = 0; r < SL_K_DOT_R; r++) {
            sl_v wv = sl_v_load_n(wr[r] + k, n);
#pragma GCC unroll 16
            for (int m = 0; m < SL_K_DOT_MB; m++)
                acc[m][r] = sl_v_fmadd(wv, xv[m], acc[m][r]);
        }
    }
#pragma GCC unroll 16
    for (int m = 0; m < SL_K_DOT_MB; m++)
        out[m] = sl_v_hsum4(acc[m][0], acc[m][1], acc[m][2], acc[m][3]);
}

/* Small-batch GEMM, dot-product form.  Loops: k-blocks, then 4-row blocks
 * of w (kept in L1), then tiles of the batch.  Edge tiles repeat their last
 * row so the register tile keeps its shape; the repeats are not stored. */
static void sl_k_dense_batch_dot(const float *w, const float *b, const float *x,
                                 float *y, int64_t batch, int64_t n_in, int64_t n_out)
{
    for (int64_t k0 = 0; k0 < n_in; k0 += SL_K_DOT_KC) {
        int64_t kc = sl_k_min64(SL_K_DOT_KC, n_in - k0);
        int first = k0 == 0;
        for (int64_t o0 = 0; o0 < n_out; o0 += SL_K_DOT_R) {
            int64_t nr = sl_k_min64(SL_K_DOT_R, n_out - o0);
            const float *wr[SL_K_DOT_R];
            for (int r = 0; r < SL_K_DOT_R; r++)
                wr[r] = w + (o0 + sl_k_min64(r, nr - 1)) * n_in + k0;
            float bias[SL_K_DOT_R] = {0};
            if (first && b)
                for (int64_t r = 0; r < nr; r++)
                    bias[r] = b[o0 + r];
            for (int64_t b0 = 0; b0 < batch; b0 += SL_K_DOT_MB) {
                int64_t nm = sl_k_min64(SL_K_DOT_MB, batch - b0);
                const float *xr[SL_K_DOT_MB];
                for (int m = 0; m < SL_K_DOT_MB; m++)
                    xr[m] = x + (b0 + sl_k_min64(m, nm - 1)) * n_in + k0;
                __m128 out[SL_K_DOT_MB];
                sl_k_dot_tile(xr, wr, kc, out);
                for (int64_t m = 0; m < nm; m++) {
                    float *yo = y + (b0 + m) * n_out + o0;
                    if (nr == SL_K_DOT_R) {
                        __m128 base = first ? _mm_loadu_ps(bias) : _mm_loadu_ps(yo);
                        _mm_storeu_ps(yo, _mm_add_ps(base, out[m]));
                    } else {
                        float s[4];
                        _mm_storeu_ps(s, out[m]);
                        for (int64_t r = 0; r < nr; r++)
                            yo[r] = (first ? bias[r] : yo[r]) + s[r];
                    }
                }
            }
        }
    }
}

/* Rows subset: runs of consecutive active blocks go to the GEMV as one
 * range; inactive rows are zeroed without reading their weights or bias. */
static void sl_k_dense_blocks(const float *w, const float *b, const float *x, float *y,
                              int64_t n_in, int64_t n_out, int64_t n_blocks,
                              const uint8_t *active)
{
    int64_t rows = n_out / n_blocks;
    for (int64_t k = 0; k < n_blocks;) {
        int64_t k1 = k + 1;
        while (k1 < n_blocks && (active[k1] != 0) == (active[k] != 0))
            k1++;
        int64_t o = k * rows, m = (k1 - k) * rows;
        if (active[k])
            sl_k_dense(w + o * n_in, b ? b + o : NULL, x, y + o, n_in, m);
        else
            memset(y + o, 0, (size_t)m * sizeof *y);
        k = k1;
    }
}

/* y[o0, o0 + m) += sum over the listed rows i of x[i] * wt[i, o0 + j]; four
 * rows per sweep so y is loaded and stored once per four. */
static void sl_k_zskip_rows(const float *wt, int64_t n_out, const float *x,
                            const int64_t *nz, int64_t n_nz, float *y, int64_t o0,
                            int64_t m)
{
    int64_t t = 0;
    for (; t + 4 <= n_nz; t += 4) {
        const float *r0 = wt + nz[t] * n_out + o0, *r1 = wt + nz[t + 1] * n_out + o0;
        const float *r2 = wt + nz[t + 2] * n_out + o0, *r3 = wt + nz[t + 3] * n_out + o0;
        sl_v x0 = sl_v_set1(x[nz[t]]), x1 = sl_v_set1(x[nz[t + 1]]);
        sl_v x2 = sl_v_set1(x[nz[t + 2]]), x3 = sl_v_set1(x[nz[t + 3]]);
        int64_t j = 0;
        for (; j + SL_VW <= m; j += SL_VW) {
            sl_v a = sl_v_fmadd(x0, sl_v_load(r0 + j), sl_v_load(y + o0 + j));
            a = sl_v_fmadd(x1, sl_v_load(r1 + j), a);
            a = sl_v_fmadd(x2, sl_v_load(r2 + j), a);
            a = sl_v_fmadd(x3, sl_v_load(r3 + j), a);
            sl_v_store(y + o0 + j, a);
        }
        if (j < m) {
            int64_t n = m - j;
            sl_v a = sl_v_fmadd(x0, sl_v_load_n(r0 + j, n), sl_v_load_n(y + o0 + j, n));
            a = sl_v_fmadd(x1, sl_v_load_n(r1 + j, n), a);
            a = sl_v_fmadd(x2, sl_v_load_n(r2 + j, n), a);
            a = sl_v_fmadd(x3, sl_v_load_n(r3 + j, n), a);
            sl_v_store_n(y + o0 + j, a, n);
        }
    }
    for (; t < n_nz; t++) {
        const float *r0 = wt + nz[t] * n_out + o0;
        sl_v x0 = sl_v_set1(x[nz[t]]);
        int64_t j = 0;
        for (; j + SL_VW <= m; j += SL_VW)
            sl_v_store(y + o0 + j, sl_v_fmadd(x0, sl_v_load(r0 + j), sl_v_load(y + o0 + j)));
        if (j < m)
            sl_v_store_n(y + o0 + j, sl_v_fmadd(x0, sl_v_load_n(r0 + j, m - j),
                                                sl_v_load_n(y + o0 + j, m - j)), m - j);
    }
}

/* Zero-skipping: list the non-zero inputs (a chunk at a time, on the
 * stack), then stream only their rows of wt, in column chunks whose slice
 * of y stays in L1. */
static void sl_k_dense_zskip(const float *wt, const float *b, const float *x, float *y,
                             int64_t n_in, int64_t n_out)
{
    enum { IC = 2048, OC = 2048 };
    int64_t nz[IC]; /* 16 KiB */
    if (b)
        memcpy(y, b, (size_t)n_out * sizeof *y);
    else
        memset(y, 0, (size_t)n_out * sizeof *y);
    for (int64_t i0 = 0; i0 < n_in; i0 += IC) {
        int64_t ic = sl_k_min64(IC, n_in - i0), n_nz = 0, i = 0;
        for (; i + SL_VW <= ic; i += SL_VW) {
            unsigned bits = sl_m_bits(sl_v_eq(sl_v_load(x + i0 + i), sl_v_zero()));
            bits = ~bits & ((1u << SL_VW) - 1u);
            while (bits) {
                nz[n_nz++] = i0 + i + __builtin_ctz(bits);
                bits &= bits - 1;
            }
        }
        for (; i < ic; i++)
            if (x[i0 + i] != 0.0f)
                nz[n_nz++] = i0 + i;
        for (int64_t o0 = 0; o0 < n_out; o0 += OC)
            sl_k_zskip_rows(wt, n_out, x, nz, n_nz, y, o0, sl_k_min64(OC, n_out - o0));
    }
}

#endif
