/* gemm_simd.h - the GEMM for larger batches, over the sl_v vocabulary.
 * y[batch, n_out] = b + x[batch, n_in] w[n_out, n_in]^T.
 *
 * Both operands are contiguous in k, so an outer-product kernel needs one
 * of them transposed ("packed").  Packing w would cost a pass over all the
 * weights per call; x is the small one, so only x is packed: per k-block of
 * SL_K_GEMM_KC, into panels of NB = SL_K_GEMM_NV vectors of batch rows,
 * k-major (x^T).  The register tile is MR = 8 rows of w (outputs) by NB
 * batch rows: per k, NV vector loads of x^T and 8 broadcasts read straight
 * from the rows of w, for 8 * NV FMAs.  The tile holds y transposed; it is
 * turned back with 8 x 8 transposes when added into y.  Loops: k-blocks,
 * then 8-row blocks of w (8 x KC floats, in L1), then batch panels (x^T in
 * L2).  Edge rows of w repeat the last row (not stored); edge batch lanes
 * are zero-padded (not stored). */
#ifndef SLUICE_GEMM_SIMD_H
#define SLUICE_GEMM_SIMD_H

#include <stdlib.h>

#define SL_K_GEMM_MR 8
#define SL_K_GEMM_NB (SL_K_GEMM_NV * SL_VW)
#define SL_K_GEMM_KC 256

/* In-register 8 x 8 transpose of r[0..8) (AVX, which both SIMD levels
 * have). */
static inline void sl_k_transpose8_regs(__m256 *r)
{
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xee);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xee);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
    r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
    r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/* Transpose an 8 x 8 block: rows of src (stride lds) become rows of dst
 * (stride ldd) holding its columns. */
static inline void sl_k_transpose8(const float *src, int64_t lds, float *dst, int64_t ldd)
{
    __m256 r[8];
    for (int i = 0; i < 8; i++)
        r[i] = _mm256_loadu_ps(src + i * lds);
    sl_k_transpose8_regs(r);
    for (int i = 0; i < 8; i++)
        _mm256_storeu_ps(dst + i * ldd, r[i]);
}

/* dst[k * ld + r] = src[r * lds + k] for r < rows (<= ld), k < kc; rows up
 * to ld are zero.  Whole 8 x 8 blocks by transposes, the rest by hand. */
static void sl_k_pack_kmajor(const float *src, int64_t lds, int64_t rows, int64_t kc,
                             float *dst, int64_t ld)
{
    int64_t r8 = rows / 8 * 8, k8 = kc / 8 * 8;
    for (int64_t r = 0; r < r8; r += 8) {
        for (int64_t k = 0; k < k8; k += 8)
            sl_k_transpose8(src + r * lds + k, lds, dst + k * ld + r, ld);
        for (int64_t k = k8; k < kc; k++)
            for (int64_t j = 0; j < 8; j++)
                dst[k * ld + r + j] = src[(r + j) * lds + k];
    }
    for (int64_t k = 0; k < kc; k++) {
        for (int64_t r = r8; r < rows; r++)
            dst[k * ld + r] = src[r * lds + k];
        for (int64_t r = rows; r < ld; r++)
            dst[k * ld + r] = 0.0f;
    }
}

/* The register tile: acc[r][v] lane j = sum_k w[o0 + r][k] xp[k][v VW + j]
 * over kc; then y[b0 + j][o0 + r] = (first ? bias[r] : y) + acc, for the
 * mr rows and nb batch rows that exist.  w points at row o0, column k0. */
static inline void sl_k_gemm_tile(int64_t kc, const float *w, int64_t n_in, int64_t mr,
                                  const float *xp, float *y, int64_t n_out, int64_t nb,
                                  const float *bias8, int first)
{
    const float *wr[SL_K_GEMM_MR];
    for (int r = 0; r < SL_K_GEMM_MR; r++)
        wr[r] = w + (r < mr ? r : mr - 1) * n_in;
    sl_v acc[SL_K_GEMM_MR][SL_K_GEMM_NV];
#pragma GCC unroll 8
    for (int r = 0; r < SL_K_GEMM_MR; r++)
#pragma GCC unroll 4
        for (int v = 0; v < SL_K_GEMM_NV; v++)
            acc[r][v] = sl_v_zero();
#pragma GCC unroll 2
    for (int64_t k = 0; k < kc; k++) {
        sl_v xv[SL_K_GEMM_NV];
#pragma GCC unroll 4
        for (int v = 0; v < SL_K_GEMM_NV; v++)
            xv[v] = sl_v_load(xp + k * SL_K_GEMM_NB + v * SL_VW);
#pragma GCC unroll 8
        for (int r = 0; r < SL_K_GEMM_MR; r++) {
            sl_v a = sl_v_set1(wr[r][k]);
#pragma GCC unroll 4
            for (int v = 0; v < SL_K_GEMM_NV; v++)
                acc[r][v] = sl_v_fmadd(a, xv[v], acc[r][v]);
        }
    }
    __m256i rows_mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)mr),
                                           _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    __m256 vb = _mm256_loadu_ps(bias8);
    for (int v = 0; v < SL_K_GEMM_NV; v++)
        for (int h = 0; h < SL_VW / 8; h++) {
            __m256 t[8];
            for (int r = 0; r < 8; r++)
                t[r] = sl_v_half(acc[r][v], h);
            sl_k_transpose8_regs(t);
            int64_t j0 = v * SL_VW + h * 8;
            for (int64_t j = 0; j < 8 && j0 + j < nb; j++) {
                float *yo = y + (j0 + j) * n_out;
                if (mr == 8) {
                    __m256 base = first ? vb : _mm256_loadu_ps(yo);
                    _mm256_storeu_ps(yo, _mm256_add_ps(base, t[j]));
                } else {
                    __m256 base = first ? vb : _mm256_maskload_ps(yo, rows_mask);
                    _mm256_maskstore_ps(yo, rows_mask, _mm256_add_ps(base, t[j]));
                }
            }
        }
}

/* The GEMM; returns 0, or -1 if the buffer for x^T cannot be had (the
 * caller then uses the dot-product kernel). */
static int sl_k_dense_batch_gemm(const float *w, const float *b, const float *x, float *y,
                                 int64_t batch, int64_t n_in, int64_t n_out)
{
    int64_t panels = (batch + SL_K_GEMM_NB - 1) / SL_K_GEMM_NB;
    float *xp = aligned_alloc(64, (size_t)(panels * SL_K_GEMM_NB * SL_K_GEMM_KC) * sizeof *xp);
    if (!xp)
        return -1;
    for (int64_t k0 = 0; k0 < n_in; k0 += SL_K_GEMM_KC) {
        int64_t kc = sl_k_min64(SL_K_GEMM_KC, n_in - k0);
        int first = k0 == 0;
        for (int64_t t = 0; t < panels; t++) {
            int64_t b0 = t * SL_K_GEMM_NB;
            sl_k_pack_kmajor(x + b0 * n_in + k0, n_in, sl_k_min64(SL_K_GEMM_NB, batch - b0),
                             kc, xp + t * SL_K_GEMM_NB * kc, SL_K_GEMM_NB);
        }
        for (int64_t o0 = 0; o0 < n_out; o0 += SL_K_GEMM_MR) {
            int64_t mr = sl_k_min64(SL_K_GEMM_MR, n_out - o0);
            float bias8[8] = {0};
            if (b)
                for (int64_t r = 0; r < mr; r++)
                    bias8[r] = b[o0 + r];
            for (int64_t t = 0; t < panels; t++) {
                int64_t b0 = t * SL_K_GEMM_NB;
                sl_k_gemm_tile(kc, w + o0 * n_in + k0, n_in, mr, xp + t * SL_K_GEMM_NB * kc,
                               y + b0 * n_out + o0, n_out,
                               sl_k_min64(SL_K_GEMM_NB, batch - b0), bias8, first);
            }
        }
    }
    free(xp);
    return 0;
}

#endif
