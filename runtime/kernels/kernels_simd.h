/* kernels_simd.h - every SIMD kernel, written once over the sl_v vocabulary.
 *
 * Included by kernels_avx2.c and kernels_avx512.c after their simd_*.h
 * mapping and simd_math.h; each includer compiles it with its own -m flags
 * and defines the table it exports (SL_K_TABLE_NAME, SL_K_TABLE_ISA).  All
 * functions are static, so the two copies do not collide.
 *
 * Shape of a kernel (as in ggml): an unrolled main loop over whole vectors,
 * then one masked vector for the leftovers, so results never depend on where
 * an element falls.  Loads always precede the store of the same elements,
 * which is what makes y == x (exact aliasing) safe. */
#ifndef SLUICE_KERNELS_SIMD_H
#define SLUICE_KERNELS_SIMD_H

#include <math.h>
#include <string.h>

#include "kernel_table.h"

/* ---- elementwise -------------------------------------------------------- */

#define SL_K_UNARY(name, vfn)                                                 \
    static void sl_k_##name(const float *x, float *y, int64_t n)              \
    {                                                                         \
        int64_t i = 0;                                                        \
        for (; i + 2 * SL_VW <= n; i += 2 * SL_VW) {                          \
            sl_v v0 = sl_v_load(x + i), v1 = sl_v_load(x + i + SL_VW);        \
            sl_v_store(y + i, vfn(v0));                                       \
            sl_v_store(y + i + SL_VW, vfn(v1));                               \
        }                                                                     \
        for (; i + SL_VW <= n; i += SL_VW)                                    \
            sl_v_store(y + i, vfn(sl_v_load(x + i)));                         \
        if (i < n)                                                            \
            sl_v_store_n(y + i, vfn(sl_v_load_n(x + i, n - i)), n - i);       \
    }

SL_K_UNARY(gelu, sl_v_gelu)
SL_K_UNARY(gelu_tanh, sl_v_gelu_tanh)
SL_K_UNARY(sigmoid, sl_v_sigmoid)
SL_K_UNARY(tanh, sl_v_tanh)
SL_K_UNARY(exp, sl_v_exp)
SL_K_UNARY(log, sl_v_log)

/* ---- reductions --------------------------------------------------------- */

static int sl_k_has_nan(const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (isnan(x[i]))
            return 1;
    return 0;
}

/* The first NaN of x, payload and sign as they are (the scalar level returns
 * the same one). */
static float sl_k_first_nan(const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (isnan(x[i]))
            return x[i];
    return NAN; /* not reached: callers saw one */
}

/* sum: four accumulators (latency), masked tail as zeros. */
static float sl_k_sum(const float *x, int64_t n)
{
    sl_v s0 = sl_v_zero(), s1 = sl_v_zero(), s2 = sl_v_zero(), s3 = sl_v_zero();
    int64_t i = 0;
    for (; i + 4 * SL_VW <= n; i += 4 * SL_VW) {
        s0 = sl_v_add(s0, sl_v_load(x + i));
        s1 = sl_v_add(s1, sl_v_load(x + i + SL_VW));
        s2 = sl_v_add(s2, sl_v_load(x + i + 2 * SL_VW));
        s3 = sl_v_add(s3, sl_v_load(x + i + 3 * SL_VW));
    }
    for (; i + SL_VW <= n; i += SL_VW)
        s0 = sl_v_add(s0, sl_v_load(x + i));
    if (i < n)
        s1 = sl_v_add(s1, sl_v_load_n(x + i, n - i));
    return sl_v_hsum(sl_v_add(sl_v_add(s0, s1), sl_v_add(s2, s3)));
}

/* max and min: x86 max/min drop NaNs, so NaNs are tracked on the side and
 * win (PyTorch propagates them). */
#define SL_K_EXTREMUM(name, vop, hop, fill)                                   \
    static float sl_k_##name(const float *x, int64_t n)                       \
    {                                                                         \
        sl_v m0 = sl_v_set1(fill), m1 = m0, m2 = m0, m3 = m0;                 \
        sl_m nan = sl_m_none();                                               \
        int64_t i = 0;                                                        \
        for (; i + 4 * SL_VW <= n; i += 4 * SL_VW) {                          \
            sl_v v0 = sl_v_load(x + i), v1 = sl_v_load(x + i + SL_VW);        \
            sl_v v2 = sl_v_load(x + i + 2 * SL_VW);                           \
            sl_v v3 = sl_v_load(x + i + 3 * SL_VW);                           \
            m0 = vop(m0, v0);                                                 \
            m1 = vop(m1, v1);                                                 \
            m2 = vop(m2, v2);                                                 \
            m3 = vop(m3, v3);                                                 \
            nan = sl_m_or(nan, sl_v_isnan(sl_v_add(sl_v_add(v0, v1),          \
                                                   sl_v_add(v2, v3))));       \
        }                                                                     \
        for (; i <= n - 1; i += SL_VW) {                                      \
            sl_v v = n - i >= SL_VW ? sl_v_load(x + i)                        \
                                    : sl_v_load_n_or(x + i, n - i, fill);     \
            m0 = vop(m0, v);                                                  \
            nan = sl_m_or(nan, sl_v_isnan(v));                                \
        }                                                                     \
        /* The sum test also fires on inf + -inf: look for a real NaN. */    \
        if (sl_m_bits(nan) && sl_k_has_nan(x, n))                             \
            return sl_k_first_nan(x, n);                                      \
        return hop(vop(vop(m0, m1), vop(m2, m3)));                            \
    }

SL_K_EXTREMUM(max, sl_v_max, sl_v_hmax, -INFINITY)
SL_K_EXTREMUM(min, sl_v_min, sl_v_hmin, INFINITY)

/* The first NaN, else the first element equal to the max. */
static int64_t sl_k_argmax(const float *x, int64_t n)
{
    float m = sl_k_max(x, n);
    if (isnan(m)) {
        for (int64_t i = 0; i < n; i++)
            if (isnan(x[i]))
                return i;
    }
    sl_v vm = sl_v_set1(m);
    int64_t i = 0;
    for (; i + SL_VW <= n; i += SL_VW) {
        unsigned bits = sl_m_bits(sl_v_eq(sl_v_load(x + i), vm));
        if (bits)
            return i + __builtin_ctz(bits);
    }
    for (; i < n; i++)
        if (x[i] == m)
            return i;
    return 0; /* not reached */
}

/* -sum p ln p with 0 ln 0 = 0; negative p gives NaN (ln of a negative). */
static float sl_k_entropy(const float *p, int64_t n)
{
    sl_v s0 = sl_v_zero(), s1 = sl_v_zero();
    int64_t i = 0;
    for (; i + 2 * SL_VW <= n; i += 2 * SL_VW) {
        sl_v p0 = sl_v_load(p + i), p1 = sl_v_load(p + i + SL_VW);
        s0 = sl_v_add(s0, sl_v_select(sl_v_eq(p0, sl_v_zero()), sl_v_zero(),
                                      sl_v_mul(p0, sl_v_log(p0))));
        s1 = sl_v_add(s1, sl_v_select(sl_v_eq(p1, sl_v_zero()), sl_v_zero(),
                                      sl_v_mul(p1, sl_v_log(p1))));
    }
    for (; i <= n - 1; i += SL_VW) {
        sl_v v = n - i >= SL_VW ? sl_v_load(p + i) : sl_v_load_n(p + i, n - i);
        s0 = sl_v_add(s0, sl_v_select(sl_v_eq(v, sl_v_zero()), sl_v_zero(),
                                      sl_v_mul(v, sl_v_log(v))));
    }
    return 0.0f - sl_v_hsum(sl_v_add(s0, s1)); /* 0 - 0 is +0, not -0 */
}

/* Per lane the two largest seen (hi >= lo), then the top two of the lanes.
 * NaN anywhere: NaN (it is the largest, and NaN minus anything is NaN). */
static float sl_k_margin(const float *x, int64_t n)
{
    sl_v hi = sl_v_set1(-INFINITY), lo = hi;
    sl_m nan = sl_m_none();
    for (int64_t i = 0; i <= n - 1; i += SL_VW) {
        sl_v v = n - i >= SL_VW ? sl_v_load(x + i) : sl_v_load_n_or(x + i, n - i, -INFINITY);
        nan = sl_m_or(nan, sl_v_isnan(v));
        lo = sl_v_max(lo, sl_v_min(hi, v));
        hi = sl_v_max(hi, v);
    }
    if (sl_m_bits(nan))
        return sl_k_first_nan(x, n);
    float h[SL_VW], l[SL_VW];
    sl_v_store(h, hi);
    sl_v_store(l, lo);
    float m1 = -INFINITY, m2 = -INFINITY;
    for (int j = 0; j < SL_VW; j++) {
        float c[2] = {h[j], l[j]};
        for (int k = 0; k < 2; k++) {
            if (c[k] > m1) {
                m2 = m1;
                m1 = c[k];
            } else if (c[k] > m2) {
                m2 = c[k];
            }
        }
    }
    return m1 - m2;
}

/* a ranks above b: NaN above any number; equal values keep index order. */
static inline int sl_k_above(float a, float b)
{
    return isnan(a) ? !isnan(b) : a > b;
}

/* Insert x[i] into the sorted idx[0, *have) (capacity k) if it ranks high
 * enough; return the new k-th value once full. */
static inline void sl_k_topk_insert(const float *x, int64_t i, int32_t *idx,
                                    int64_t k, int64_t *have)
{
    if (*have == k && !sl_k_above(x[i], x[idx[k - 1]]))
        return;
    int64_t j = *have < k ? (*have)++ : k - 1;
    while (j > 0 && sl_k_above(x[i], x[idx[j - 1]])) {
        idx[j] = idx[j - 1];
        j--;
    }
    idx[j] = (int32_t)i;
}

/* Insertion into a sorted list of k, with a vector pre-filter: a lane can
 * enter only if it is above the current k-th value (or NaN). */
static void sl_k_topk(const float *x, int64_t n, int64_t k, int32_t *idx, float *val)
{
    int64_t have = 0, i = 0;
    for (; i < n && have < k; i++)
        sl_k_topk_insert(x, i, idx, k, &have);
    for (; i < n; i += SL_VW) {
        int64_t m = n - i >= SL_VW ? SL_VW : n - i;
        sl_v v = m == SL_VW ? sl_v_load(x + i) : sl_v_load_n(x + i, m);
        unsigned bits = sl_m_bits(sl_v_gt_or_nan(v, sl_v_set1(x[idx[k - 1]])));
        bits &= (m == SL_VW) ? ~0u : (1u << m) - 1u;
        while (bits) {
            sl_k_topk_insert(x, i + __builtin_ctz(bits), idx, k, &have);
            bits &= bits - 1;
        }
    }
    if (val)
        for (int64_t j = 0; j < k; j++)
            val[j] = x[idx[j]];
}

/* ---- whole-vector ------------------------------------------------------- */

/* exp(x - max) stored and summed, then scaled by 1/sum.  Tail lanes load
 * as -inf so they add e^-inf = 0.  A NaN input makes the max, and so every
 * output, NaN (as PyTorch). */
static void sl_k_softmax(const float *x, float *y, int64_t n)
{
    sl_v m = sl_v_set1(sl_k_max(x, n));
    sl_v s0 = sl_v_zero(), s1 = sl_v_zero();
    int64_t i = 0;
    for (; i + 2 * SL_VW <= n; i += 2 * SL_VW) {
        sl_v e0 = sl_v_exp(sl_v_sub(sl_v_load(x + i), m));
        sl_v e1 = sl_v_exp(sl_v_sub(sl_v_load(x + i + SL_VW), m));
        sl_v_store(y + i, e0);
        sl_v_store(y + i + SL_VW, e1);
        s0 = sl_v_add(s0, e0);
        s1 = sl_v_add(s1, e1);
    }
    for (; i + SL_VW <= n; i += SL_VW) {
        sl_v e = sl_v_exp(sl_v_sub(sl_v_load(x + i), m));
        sl_v_store(y + i, e);
        s0 = sl_v_add(s0, e);
    }
    if (i < n) {
        sl_v e = sl_v_exp(sl_v_sub(sl_v_load_n_or(x + i, n - i, -INFINITY), m));
        sl_v_store_n(y + i, e, n - i);
        s1 = sl_v_add(s1, e);
    }
    sl_v inv = sl_v_set1(1.0f / sl_v_hsum(sl_v_add(s0, s1)));
    i = 0;
    for (; i + SL_VW <= n; i += SL_VW)
        sl_v_store(y + i, sl_v_mul(sl_v_load(y + i), inv));
    if (i < n)
        sl_v_store_n(y + i, sl_v_mul(sl_v_load_n(y + i, n - i), inv), n - i);
}

/* x - max - log(sum exp(x - max)); nothing is stored until the last pass. */
static void sl_k_log_softmax(const float *x, float *y, int64_t n)
{
    float mf = sl_k_max(x, n);
    sl_v m = sl_v_set1(mf);
    sl_v s0 = sl_v_zero(), s1 = sl_v_zero();
    int64_t i = 0;
    for (; i + 2 * SL_VW <= n; i += 2 * SL_VW) {
        s0 = sl_v_add(s0, sl_v_exp(sl_v_sub(sl_v_load(x + i), m)));
        s1 = sl_v_add(s1, sl_v_exp(sl_v_sub(sl_v_load(x + i + SL_VW), m)));
    }
    for (; i + SL_VW <= n; i += SL_VW)
        s0 = sl_v_add(s0, sl_v_exp(sl_v_sub(sl_v_load(x + i), m)));
    if (i < n)
        s1 = sl_v_add(s1, sl_v_exp(sl_v_sub(sl_v_load_n_or(x + i, n - i, -INFINITY), m)));
    sl_v ls = sl_v_set1(logf(sl_v_hsum(sl_v_add(s0, s1))));
    /* (x - max) first: exact when x is near the max, where it matters. */
    for (i = 0; i + SL_VW <= n; i += SL_VW)
        sl_v_store(y + i, sl_v_sub(sl_v_sub(sl_v_load(x + i), m), ls));
    if (i < n)
        sl_v_store_n(y + i, sl_v_sub(sl_v_sub(sl_v_load_n(x + i, n - i), m), ls), n - i);
}

/* Two passes for mean and biased variance (no E[x^2] - mean^2 cancellation),
 * one to normalize. */
static void sl_k_layernorm(const float *x, const float *gamma, const float *beta,
                           float *y, int64_t n, float eps)
{
    float mean = sl_k_sum(x, n) / (float)n;
    sl_v vm = sl_v_set1(mean);
    sl_v s0 = sl_v_zero(), s1 = sl_v_zero();
    int64_t i = 0;
    for (; i + 2 * SL_VW <= n; i += 2 * SL_VW) {
        sl_v d0 = sl_v_sub(sl_v_load(x + i), vm);
        sl_v d1 = sl_v_sub(sl_v_load(x + i + SL_VW), vm);
        s0 = sl_v_fmadd(d0, d0, s0);
        s1 = sl_v_fmadd(d1, d1, s1);
    }
    for (; i <= n - 1; i += SL_VW) {
        /* Tail lanes load as the mean, so they add 0. */
        sl_v v = n - i >= SL_VW ? sl_v_load(x + i) : sl_v_load_n_or(x + i, n - i, mean);
        sl_v d = sl_v_sub(v, vm);
        s0 = sl_v_fmadd(d, d, s0);
    }
    float var = sl_v_hsum(sl_v_add(s0, s1)) / (float)n;
    if (!isfinite(mean) || !isfinite(var)) {
        /* A sum overflowed f32 (|x| beyond ~1e19) or an input is not
         * finite: the scalar kernel sums in double and says what is right. */
        sl_k_table_scalar.layernorm(x, gamma, beta, y, n, eps);
        return;
    }
    sl_v rstd = sl_v_set1(1.0f / sqrtf(var + eps));
    for (i = 0; i <= n - 1; i += SL_VW) {
        int64_t r = n - i >= SL_VW ? SL_VW : n - i;
        sl_v v = r == SL_VW ? sl_v_load(x + i) : sl_v_load_n(x + i, r);
        v = sl_v_mul(sl_v_sub(v, vm), rstd);
        if (gamma)
            v = sl_v_mul(v, r == SL_VW ? sl_v_load(gamma + i) : sl_v_load_n(gamma + i, r));
        if (beta)
            v = sl_v_add(v, r == SL_VW ? sl_v_load(beta + i) : sl_v_load_n(beta + i, r));
        if (r == SL_VW)
            sl_v_store(y + i, v);
        else
            sl_v_store_n(y + i, v, r);
    }
}

#endif
