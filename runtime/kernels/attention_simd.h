/* attention_simd.h - multi-head self-attention over one sequence, written
 * once over the sl_v vocabulary.  Included by kernels_avx2.c and
 * kernels_avx512.c after simd_math.h and dense_simd.h; the includer sets
 * SL_K_NV_MAX (vectors along a head's width in the weighted sum).
 *
 * Per head j:
 *   1. K_j transposed into scratch, kt[e * np + s] (np = n rounded up to
 *      SL_K_ATT_PAD, zeros past n), so a query's scores run along s.
 *   2. Blocks of SL_K_ATT_ROWS queries: the block's scores against every key
 *      any of its rows sees (a register tile of rows by vectors of keys:
 *      per e, one load of kt per vector, a broadcast of q[e] per row),
 *      scaled by 1/sqrt(dh) into score rows of np floats.
 *   3. Each row's softmax over its visible keys: e^(s - max) in place
 *      (weights below FLT_MIN are 0: no subnormal exponentials), and
 *      1 / sum.
 *   4. The weighted sum along e: a tile of the block's rows by up to
 *      SL_K_NV_MAX vectors of v_s[j] (masked at the head's end), per key s
 *      a broadcast of each row's weight; times 1 / sum at the store.
 *
 * Same bits every call, wherever the rows or the scratch sit: every score
 * is one FMA chain over e in order (acc = +0; acc = fma(q[e], k_s[e], acc);
 * times 1/sqrt(dh)), every output one FMA chain over the row's visible keys
 * in order (two, even and odd keys, in a chunk one vector wide); the max
 * and the sum of a row depend only on its visible scores and their count
 * (whole vectors from s = 0, a masked last one), so not on the block a row
 * lands in, the tile shape, or the scratch's old contents (everything read
 * from scratch is written earlier in the call).  A causal row t reads keys
 * and values s <= t only, so it also gives the same bits in any longer
 * sequence. */
#ifndef SLUICE_ATTENTION_SIMD_H
#define SLUICE_ATTENTION_SIMD_H

#include <math.h>
#include <stdint.h>

#include "kernel_table.h"

#define SL_K_ATT_INLINE static inline __attribute__((always_inline))
#define SL_K_ATT_R SL_K_ATT_ROWS

/* Scores of R rows of queries (q: row 0's head, rows ldq apart) against the
 * C vectors of keys at kt (dh rows of np): p[r * np + c * SL_VW + i]. */
SL_K_ATT_INLINE void sl_k_att_scores(const int R, const int C, const float *q, int64_t ldq,
                                     const float *kt, int64_t np, int64_t dh, sl_v scale,
                                     float *p)
{
    sl_v acc[SL_K_ATT_R][SL_K_NV_MAX];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int c = 0; c < C; c++)
            acc[r][c] = sl_v_zero();
    for (int64_t e = 0; e < dh; e++) {
        sl_v kv[SL_K_NV_MAX];
#pragma GCC unroll 4
        for (int c = 0; c < C; c++)
            kv[c] = sl_v_load(kt + e * np + c * SL_VW);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            sl_v qb = sl_v_set1(q[r * ldq + e]);
#pragma GCC unroll 4
            for (int c = 0; c < C; c++)
                acc[r][c] = sl_v_fmadd(qb, kv[c], acc[r][c]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int c = 0; c < C; c++)
            sl_v_store(p + r * np + c * SL_VW, sl_v_mul(acc[r][c], scale));
}

/* Key s into the chains h of the rows that see it (rows [r0, R)). */
SL_K_ATT_INLINE void sl_k_att_sum_key(const int R, const int C, const int h,
                                      sl_v acc[][SL_K_NV_MAX][2], const float *p, int64_t np,
                                      const float *vs, int64_t s, int r0, int64_t last)
{
    sl_v vv[SL_K_NV_MAX];
#pragma GCC unroll 4
    for (int c = 0; c < C; c++)
        vv[c] = c == C - 1 && last < SL_VW ? sl_v_load_n(vs + c * SL_VW, last)
                                           : sl_v_load(vs + c * SL_VW);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
        if (r < r0)
            continue;
        sl_v pb = sl_v_set1(p[r * np + s]);
#pragma GCC unroll 4
        for (int c = 0; c < C; c++)
            acc[r][c][h] = sl_v_fmadd(pb, vv[c], acc[r][c][h]);
    }
}

/* The weighted sum of R rows (weights p, rows np apart) over C vectors of
 * values along e, the last one `last` lanes (SL_VW: whole): row r sums keys
 * [0, n0 + r) when causal, [0, n0) otherwise, and is stored times inv[r].
 * One vector wide (C = 1), R chains would wait on the FMA latency: then
 * each output is two chains, even and odd keys, added at the end.  Either
 * way a row's chains depend on its key count and C (that is, dh) only. */
SL_K_ATT_INLINE void sl_k_att_sum(const int R, const int C, const float *p, int64_t np,
                                  const float *v, int64_t ldq, int64_t n0, int causal,
                                  int64_t last, const float *inv, float *y, int64_t ldy)
{
    const int H = C == 1 ? 2 : 1; /* chains per output */
    sl_v acc[SL_K_ATT_R][SL_K_NV_MAX][2];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int c = 0; c < C; c++)
            acc[r][c][0] = acc[r][c][1] = sl_v_zero();
    /* Keys every row sees, then (causal) the triangle where row r stops at
     * key n0 + r - 1. */
    int64_t s = 0;
    for (; s + 1 < n0; s += 2) {
        sl_k_att_sum_key(R, C, 0, acc, p, np, v + s * ldq, s, 0, last);
        sl_k_att_sum_key(R, C, H - 1, acc, p, np, v + (s + 1) * ldq, s + 1, 0, last);
    }
    for (int64_t s_end = causal ? n0 + R - 1 : n0; s < s_end; s++) {
        int r0 = s < n0 ? 0 : (int)(s - n0 + 1);
        if (s & 1) /* constant chain indices keep acc in registers */
            sl_k_att_sum_key(R, C, H - 1, acc, p, np, v + s * ldq, s, r0, last);
        else
            sl_k_att_sum_key(R, C, 0, acc, p, np, v + s * ldq, s, r0, last);
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
        sl_v iv = sl_v_set1(inv[r]);
#pragma GCC unroll 4
        for (int c = 0; c < C; c++) {
            sl_v out = H == 2 ? sl_v_add(acc[r][c][0], acc[r][c][1]) : acc[r][c][0];
            out = sl_v_mul(out, iv);
            if (c == C - 1 && last < SL_VW)
                sl_v_store_n(y + r * ldy + c * SL_VW, out, last);
            else
                sl_v_store(y + r * ldy + c * SL_VW, out);
        }
    }
}

/* Below this, e^x is under FLT_MIN (2^-126). */
#define SL_K_ATT_EXP_MIN -87.33f

/* A softmax weight e^(x - max) for x - max = a: 0 where it would be below
 * FLT_MIN.  The exponential never sees such an a (it is clamped first):
 * an exponential rounding to a subnormal or to 0 takes a microcode assist
 * on x86 (some hundred cycles), and every masked lane (-inf) would be one.
 * A NaN a stays NaN (max(c, NaN) is NaN, and NaN < c is false). */
static inline sl_v sl_k_att_weight(sl_v a)
{
    sl_v lo = sl_v_set1(SL_K_ATT_EXP_MIN);
    return sl_v_select(sl_v_lt(a, lo), sl_v_zero(), sl_v_exp(sl_v_max(lo, a)));
}

/* e^(p[s] - max) for s < nv in place; returns 1 / their sum.  Lanes past nv
 * load as -inf and weigh 0.  A NaN score makes the sum NaN. */
static float sl_k_att_softmax(float *p, int64_t nv)
{
    sl_v m0 = sl_v_set1(-INFINITY), m1 = m0;
    int64_t s = 0;
    for (; s + 2 * SL_VW <= nv; s += 2 * SL_VW) {
        m0 = sl_v_max(m0, sl_v_load(p + s));
        m1 = sl_v_max(m1, sl_v_load(p + s + SL_VW));
    }
    for (; s < nv; s += SL_VW)
        m0 = sl_v_max(m0, nv - s >= SL_VW ? sl_v_load(p + s)
                                          : sl_v_load_n_or(p + s, nv - s, -INFINITY));
    sl_v m = sl_v_set1(sl_v_hmax(sl_v_max(m0, m1)));
    sl_v s0 = sl_v_zero(), s1 = sl_v_zero();
    for (s = 0; s + 2 * SL_VW <= nv; s += 2 * SL_VW) {
        sl_v e0 = sl_k_att_weight(sl_v_sub(sl_v_load(p + s), m));
        sl_v e1 = sl_k_att_weight(sl_v_sub(sl_v_load(p + s + SL_VW), m));
        sl_v_store(p + s, e0);
        sl_v_store(p + s + SL_VW, e1);
        s0 = sl_v_add(s0, e0);
        s1 = sl_v_add(s1, e1);
    }
    for (; s < nv; s += SL_VW) {
        int64_t k = nv - s;
        sl_v e = sl_k_att_weight(sl_v_sub(k >= SL_VW ? sl_v_load(p + s)
                                                     : sl_v_load_n_or(p + s, k, -INFINITY),
                                          m));
        /* Whole vectors: the row has np >= nv rounded up to SL_VW floats. */
        sl_v_store(p + s, e);
        s0 = sl_v_add(s0, e);
    }
    return 1.0f / sl_v_hsum(sl_v_add(s0, s1));
}

/* Block-level helpers: the register tiles above for R = rows (1 .. R) and
 * C vectors, with R and C compile-time constants in each case. */
#define SL_K_ATT_CASES(F, rows, C, ...)                                       \
    switch (rows) {                                                           \
    case 1: F(1, C, __VA_ARGS__); break;                                      \
    case 2: F(2, C, __VA_ARGS__); break;                                      \
    case 3: F(3, C, __VA_ARGS__); break;                                      \
    default: F(4, C, __VA_ARGS__); break;                                     \
    }

_Static_assert(SL_K_ATT_R == 4, "SL_K_ATT_CASES lists 1 .. 4 rows");
_Static_assert(SL_K_ATT_PAD % SL_VW == 0, "score rows hold whole vectors");
_Static_assert(SL_K_NV_MAX == 2 || SL_K_NV_MAX == 4, "the chunk cases list 1 .. 4 vectors");

/* Scores of `rows` queries against keys [0, nk): whole vectors, chunks of
 * SL_K_NV_MAX, then one chunk of the vectors left. */
static void sl_k_att_block_scores(int rows, const float *q, int64_t ldq, const float *kt,
                                  int64_t np, int64_t dh, int64_t nk, sl_v scale, float *p)
{
    int64_t nvec = (nk + SL_VW - 1) / SL_VW, c0 = 0;
    for (; c0 + SL_K_NV_MAX <= nvec; c0 += SL_K_NV_MAX)
        SL_K_ATT_CASES(sl_k_att_scores, rows, SL_K_NV_MAX, q, ldq, kt + c0 * SL_VW, np, dh,
                       scale, p + c0 * SL_VW)
    const float *k0 = kt + c0 * SL_VW;
    float *p0 = p + c0 * SL_VW;
    switch (nvec - c0) {
    case 0:
        break;
    case 1:
        SL_K_ATT_CASES(sl_k_att_scores, rows, 1, q, ldq, k0, np, dh, scale, p0)
        break;
#if SL_K_NV_MAX > 2
    case 2:
        SL_K_ATT_CASES(sl_k_att_scores, rows, 2, q, ldq, k0, np, dh, scale, p0)
        break;
    default:
        SL_K_ATT_CASES(sl_k_att_scores, rows, 3, q, ldq, k0, np, dh, scale, p0)
        break;
#endif
    }
}

/* The weighted sums of `rows` rows over a head's dh values: chunks of
 * SL_K_NV_MAX vectors, then one chunk of the vectors left (the last one
 * masked where dh ends inside it). */
static void sl_k_att_block_sum(int rows, const float *p, int64_t np, const float *v,
                               int64_t ldq, int64_t n0, int causal, int64_t dh,
                               const float *inv, float *y, int64_t ldy)
{
    for (int64_t e0 = 0; e0 < dh; e0 += SL_K_NV_MAX * SL_VW) {
        int64_t left = dh - e0, nvec = (left + SL_VW - 1) / SL_VW;
        int64_t last = left % SL_VW ? left % SL_VW : SL_VW;
        if (nvec >= SL_K_NV_MAX) {
            last = nvec > SL_K_NV_MAX ? SL_VW : last;
            SL_K_ATT_CASES(sl_k_att_sum, rows, SL_K_NV_MAX, p, np, v + e0, ldq, n0, causal,
                           last, inv, y + e0, ldy)
        } else if (nvec == 1) {
            SL_K_ATT_CASES(sl_k_att_sum, rows, 1, p, np, v + e0, ldq, n0, causal, last, inv,
                           y + e0, ldy)
#if SL_K_NV_MAX > 2
        } else if (nvec == 3) {
            SL_K_ATT_CASES(sl_k_att_sum, rows, 3, p, np, v + e0, ldq, n0, causal, last, inv,
                           y + e0, ldy)
#endif
        } else {
            SL_K_ATT_CASES(sl_k_att_sum, rows, 2, p, np, v + e0, ldq, n0, causal, last, inv,
                           y + e0, ldy)
        }
    }
}

static void sl_k_attention(const float *qkv, int64_t ldq, float *y, int64_t ldy, int64_t nq,
                           int64_t n, int64_t d, int64_t heads, int causal, float *scratch)
{
    const int64_t dh = d / heads;
    const int64_t np = (n + SL_K_ATT_PAD - 1) / SL_K_ATT_PAD * SL_K_ATT_PAD;
    /* 64-byte aligned rows (speed only: every access is unaligned-safe). */
    float *kt = scratch + ((-(uintptr_t)scratch) & 63) / sizeof(float);
    float *p = kt + dh * np;
    const sl_v scale = sl_v_set1((float)(1.0 / sqrt((double)dh)));
    for (int64_t j = 0; j < heads; j++) {
        const float *q = qkv + j * dh, *k = qkv + d + j * dh, *v = qkv + 2 * d + j * dh;
        /* Rows of kt in turn: strided loads, contiguous stores. */
        for (int64_t e = 0; e < dh; e++) {
            float *row = kt + e * np;
            for (int64_t s = 0; s < n; s++)
                row[s] = k[s * ldq + e];
            for (int64_t s = n; s < np; s++)
                row[s] = 0.0f;
        }
        for (int64_t t0 = 0; t0 < nq; t0 += SL_K_ATT_R) {
            int rows = nq - t0 < SL_K_ATT_R ? (int)(nq - t0) : SL_K_ATT_R;
            /* Visible keys: row t0 + r sees [0, n0 + r) (causal) or [0, n0). */
            int64_t n0 = causal ? t0 + 1 : n;
            float inv[SL_K_ATT_R];
            sl_k_att_block_scores(rows, q + t0 * ldq, ldq, kt, np, dh,
                                  causal ? n0 + rows - 1 : n0, scale, p);
            for (int r = 0; r < rows; r++)
                inv[r] = sl_k_att_softmax(p + r * np, causal ? n0 + r : n0);
            sl_k_att_block_sum(rows, p, np, v, ldq, n0, causal, dh, inv, y + t0 * ldy + j * dh,
                               ldy);
        }
    }
}

#endif
