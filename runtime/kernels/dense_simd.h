/* dense_simd.h - the dense layer over a set of rows, on packed weights,
 * written once over the sl_v vocabulary.  Included by kernels_avx2.c and
 * kernels_avx512.c after kernels_simd.h; the includer sets SL_K_NV_MAX.
 *
 * Weights are packed once (dense_pack.c) into panels of nr = nv * SL_VW
 * output columns, k-major: panel p holds wp[k * nr + j] = w[p * nr + j][k].
 * The register tile is MR rows of x by one panel (MR * nv accumulators):
 * per k, nv vector loads of the panel, MR broadcasts of x, MR * nv FMAs.
 *
 * Batch invariance: every output element is one FMA chain,
 *     acc = +0;  acc = fma(x[k], w[o][k], acc) for k = 0, 1, ... n_in - 1;
 *     y = acc + b[o],
 * whatever the tile shape, the number of rows, where a row sits, or the
 * thread: so a row's output has the same bits in any batch.  Zero-skipping
 * drops the terms whose x[k] is 0; with finite weights that changes at most
 * the sign of a zero acc, and the bias (canonicalized at packing so it is
 * never -0) makes the sum the same. */
#ifndef SLUICE_DENSE_SIMD_H
#define SLUICE_DENSE_SIMD_H

#define SL_K_MR 6 /* rows of a register tile */

static inline int64_t sl_k_min64(int64_t a, int64_t b) { return a < b ? a : b; }

#define SL_K_INLINE static inline __attribute__((always_inline))

/* Rows [i, i + MR) of x against panel p, over inputs [k0, k1): the chains
 * start at +0 (first) or where y holds them, and end as acc + bias (last)
 * or go back to y.  A float store and load is exact, so cutting k changes
 * no chain.  MR, NV compile-time constants. */
SL_K_INLINE void sl_k_tile(const int MR, const int NV, const sl_dense_pack *pk, int64_t p,
                           const float *x, int64_t ldx, float *y, int64_t ldy,
                           const int32_t *rows, int64_t i, int64_t k0, int64_t k1, int first,
                           int last, const float *pf, int64_t pf_rows)
{
    const int64_t nr = NV * SL_VW, n_in = pk->n_in;
    const int64_t col0 = p * nr, ncols = sl_k_min64(nr, pk->n_out - col0);
    const float *wp = pk->panels + p * n_in * nr;
    const float *xr[SL_K_MR];
    float *yr[SL_K_MR];
    for (int m = 0; m < MR; m++) {
        int64_t r = rows ? rows[i + m] : i + m;
        xr[m] = x + r * ldx;
        yr[m] = y + r * ldy + col0;
    }
    sl_v acc[SL_K_MR][4];
#pragma GCC unroll 8
    for (int m = 0; m < MR; m++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            int64_t c = ncols - v * SL_VW;
            acc[m][v] = first || c <= 0 ? sl_v_zero()
                        : c >= SL_VW   ? sl_v_load(yr[m] + v * SL_VW)
                                       : sl_v_load_n(yr[m] + v * SL_VW, c);
        }
#pragma GCC unroll 2
    for (int64_t k = k0; k < k1; k++) {
        /* This tile's share of the weights the rows need next, toward L2
         * while this block computes (pf_rows rows of nr floats). */
        if (k - k0 < pf_rows)
            for (int64_t c = 0; c < nr; c += 16)
                _mm_prefetch((const char *)(pf + (k - k0) * nr + c), _MM_HINT_T1);
        sl_v w[4];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            w[v] = sl_v_load(wp + k * nr + v * SL_VW);
#pragma GCC unroll 8
        for (int m = 0; m < MR; m++) {
            sl_v xv = sl_v_set1(xr[m][k]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++)
                acc[m][v] = sl_v_fmadd(xv, w[v], acc[m][v]);
        }
    }
    const float *b = pk->bias + col0;
#pragma GCC unroll 8
    for (int m = 0; m < MR; m++) {
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            sl_v r = last ? sl_v_add(acc[m][v], sl_v_load(b + v * SL_VW)) : acc[m][v];
            int64_t c = ncols - v * SL_VW;
            if (c >= SL_VW)
                sl_v_store(yr[m] + v * SL_VW, r);
            else if (c > 0)
                sl_v_store_n(yr[m] + v * SL_VW, r, c);
        }
    }
}

/* One row against NP panels from p (NP * NV accumulators, enough chains to
 * hide the FMA latency), over the k listed in ks[0, nk) (zero-skipping) or
 * over all k (ks NULL).  Partial chains go through y: `first` starts them
 * from +0, `last` adds the bias; a float store and load is exact, so
 * splitting the k range leaves every chain as it was. */
SL_K_INLINE void sl_k_row(const int NP, const int NV, const sl_dense_pack *pk, int64_t p,
                          const float *xr, float *yr, const int32_t *ks, int64_t nk,
                          int first, int last)
{
    const int64_t nr = NV * SL_VW, n_in = pk->n_in;
    sl_v acc[8][4];
    int64_t ncols[8];
#pragma GCC unroll 8
    for (int q = 0; q < NP; q++) {
        ncols[q] = sl_k_min64(nr, pk->n_out - (p + q) * nr);
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            int64_t c = ncols[q] - v * SL_VW;
            float *yv = yr + (p + q) * nr + v * SL_VW;
            acc[q][v] = first || c <= 0 ? sl_v_zero()
                        : c >= SL_VW   ? sl_v_load(yv)
                                       : sl_v_load_n(yv, c);
        }
    }
    const float *wp = pk->panels + p * n_in * nr;
    int64_t n = ks ? nk : n_in;
#pragma GCC unroll 2
    for (int64_t t = 0; t < n; t++) {
        int64_t k = ks ? ks[t] : t;
        sl_v xv = sl_v_set1(xr[k]);
#pragma GCC unroll 8
        for (int q = 0; q < NP; q++)
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++)
                acc[q][v] = sl_v_fmadd(xv, sl_v_load(wp + (q * n_in + k) * nr + v * SL_VW),
                                       acc[q][v]);
    }
#pragma GCC unroll 8
    for (int q = 0; q < NP; q++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            int64_t c = ncols[q] - v * SL_VW, col = (p + q) * nr + v * SL_VW;
            sl_v r = last ? sl_v_add(acc[q][v], sl_v_load(pk->bias + col)) : acc[q][v];
            if (c >= SL_VW)
                sl_v_store(yr + col, r);
            else if (c > 0)
                sl_v_store_n(yr + col, r, c);
        }
}

/* A single row, panels [p0, p1): groups of 8 / NV panels, then one at a
 * time. */
SL_K_INLINE void sl_k_row_panels(const int NV, const sl_dense_pack *pk, int64_t p0, int64_t p1,
                                 const float *xr, float *yr, const int32_t *ks, int64_t nk,
                                 int first, int last)
{
    const int NP = 8 / NV;
    int64_t p = p0;
    for (; p + NP <= p1; p += NP)
        sl_k_row(NP, NV, pk, p, xr, yr, ks, nk, first, last);
    for (; p < p1; p++)
        sl_k_row(1, NV, pk, p, xr, yr, ks, nk, first, last);
}

/* A single row with zero-skipping: list the non-zero inputs a chunk at a
 * time (on the stack), and run the chains over each chunk's list. */
SL_K_INLINE void sl_k_row_zskip(const int NV, const sl_dense_pack *pk, int64_t p0, int64_t p1,
                                const float *xr, float *yr)
{
    enum { KC = 4096 };
    int32_t ks[KC]; /* 16 KiB */
    int64_t n_in = pk->n_in;
    for (int64_t k0 = 0; k0 < n_in; k0 += KC) {
        int64_t kc = sl_k_min64(KC, n_in - k0), nk = 0, k = 0;
        for (; k + SL_VW <= kc; k += SL_VW) {
            unsigned bits = sl_m_bits(sl_v_eq(sl_v_load(xr + k0 + k), sl_v_zero()));
            bits = ~bits & ((1u << SL_VW) - 1u);
            while (bits) {
                ks[nk++] = (int32_t)(k0 + k + __builtin_ctz(bits));
                bits &= bits - 1;
            }
        }
        for (; k < kc; k++)
            if (xr[k0 + k] != 0.0f)
                ks[nk++] = (int32_t)(k0 + k);
        sl_k_row_panels(NV, pk, p0, p1, xr, yr, ks, nk, k0 == 0, k0 + kc == n_in);
    }
}

/* Tile t of `tiles` prefetches rows [t n / tiles, (t + 1) n / tiles) of the
 * n rows (of nr floats) of the next block, `next`; none when it is NULL. */
static inline void sl_k_slice(const float *next, int64_t n, int64_t nr, int64_t t,
                              int64_t tiles, const float **pf, int64_t *pf_rows)
{
    int64_t lo = t * n / tiles, hi = (t + 1) * n / tiles;
    *pf = next ? next + lo * nr : NULL;
    *pf_rows = next ? hi - lo : 0;
}

/* Inputs per k-block when n_in is large: a block of a panel (KC * nr
 * floats) and of the rows of x (rows * KC) then share L2 instead of
 * evicting each other (at 4096 inputs a whole panel is 1 MiB). */
#define SL_K_KC 1024

/* Every listed row against every panel: k-blocks outer, then panels (one
 * block of a panel stays in L2 while the rows stream past it), tiles of MR
 * rows inner; leftover rows in a smaller tile, a last single row alone. */
SL_K_INLINE void sl_k_dense_rows_nv(const int NV, const sl_dense_pack *pk, int64_t p0,
                                    int64_t p1, const float *x, int64_t ldx, float *y,
                                    int64_t ldy, const int32_t *rows, int64_t n, int zero_skip)
{
    int64_t full = n / SL_K_MR * SL_K_MR, left = n - full;
    int64_t n_in = pk->n_in, nb = n_in > 3 * SL_K_KC / 2 ? (n_in + SL_K_KC - 1) / SL_K_KC : 1;
    int64_t kc = (n_in + nb - 1) / nb;
    const int64_t nr = NV * SL_VW;
    for (int64_t k0 = 0; k0 < n_in; k0 += kc) {
        int64_t k1 = sl_k_min64(n_in, k0 + kc);
        int f = k0 == 0, l = k1 == n_in;
        for (int64_t p = p0; p < p1; p++) {
            /* The next block (the next panel's, or the next k-block's
             * first) is prefetched a slice per row tile of this one, so
             * memory has the whole block's compute time to deliver it. */
            const float *nx = p + 1 < p1 ? pk->panels + ((p + 1) * n_in + k0) * nr
                              : !l       ? pk->panels + (p0 * n_in + k1) * nr
                                         : NULL;
            int64_t n_next = nx ? (p + 1 < p1 ? k1 - k0 : sl_k_min64(kc, n_in - k1)) : 0;
            int64_t tiles = full / SL_K_MR + (left > 1), t = 0;
            const float *pf = NULL;
            int64_t pf_rows = 0;
            for (int64_t i = 0; i < full; i += SL_K_MR, t++) {
                sl_k_slice(nx, n_next, nr, t, tiles, &pf, &pf_rows);
                sl_k_tile(SL_K_MR, NV, pk, p, x, ldx, y, ldy, rows, i, k0, k1, f, l, pf,
                          pf_rows);
            }
            if (left > 1)
                sl_k_slice(nx, n_next, nr, t, tiles, &pf, &pf_rows);
#define SL_K_LEFT(mr) \
    sl_k_tile(mr, NV, pk, p, x, ldx, y, ldy, rows, full, k0, k1, f, l, pf, pf_rows)
            switch (left) {
            case 5: SL_K_LEFT(5); break;
            case 4: SL_K_LEFT(4); break;
            case 3: SL_K_LEFT(3); break;
            case 2: SL_K_LEFT(2); break;
            default: break;
            }
#undef SL_K_LEFT
        }
    }
    if (left == 1) {
        int64_t r = rows ? rows[full] : full;
        if (zero_skip)
            sl_k_row_zskip(NV, pk, p0, p1, x + r * ldx, y + r * ldy);
        else
            sl_k_row_panels(NV, pk, p0, p1, x + r * ldx, y + r * ldy, NULL, 0, 1, 1);
    }
}

static void sl_k_dense_rows(const sl_dense_pack *pk, int64_t p0, int64_t p1, const float *x,
                            int64_t ldx, float *y, int64_t ldy, const int32_t *rows, int64_t n,
                            int zero_skip)
{
    switch (pk->nv) {
    case 1: sl_k_dense_rows_nv(1, pk, p0, p1, x, ldx, y, ldy, rows, n, zero_skip); break;
    case 2: sl_k_dense_rows_nv(2, pk, p0, p1, x, ldx, y, ldy, rows, n, zero_skip); break;
#if SL_K_NV_MAX >= 4
    case 4: sl_k_dense_rows_nv(4, pk, p0, p1, x, ldx, y, ldy, rows, n, zero_skip); break;
#endif
    default: break;
    }
}

/* The panel width for n_out columns: the widest this level has, narrower
 * for small layers so a 10-unit head is not padded to 64. */
static int sl_k_dense_nv(int64_t n_out)
{
    int64_t v = (n_out + SL_VW - 1) / SL_VW;
    return v >= SL_K_NV_MAX ? SL_K_NV_MAX : v > 1 ? 2 : 1;
}

#endif
