/* kernels_scalar.c - the portable reference: every kernel in plain C.
 *
 * This is what the SIMD levels are tested against, so it favours accuracy
 * over speed: sums and dot products accumulate in double and round once, and
 * transcendental functions are double-precision libm rounded to float.  It is
 * also the level SLUICE_ISA=scalar selects, and the fallback on CPUs without
 * AVX2.  NaN rules (docs/kernels.md): max, min, argmax, top-k and margin treat
 * NaN as larger than everything, as PyTorch does. */
#include <math.h>
#include <string.h>

#include "kernel_table.h"

#define SL_K_SQRT1_2 0.70710678118654752440    /* 1/sqrt(2) */
#define SL_K_SQRT_2_PI 0.79788456080286535588  /* sqrt(2/pi) */

/* ---- dense ------------------------------------------------------------ */

/* Each output in double, rounded once: the same for a row wherever it is,
 * so this level is batch invariant too.  The weights are read in place
 * (the scalar pack keeps only a pointer); zero-skipping changes nothing
 * here, a zero term adding exactly nothing to a double sum. */
static void sl_k_dense_rows(const sl_dense_pack *p, int64_t p0, int64_t p1, const float *x,
                            int64_t ldx, float *y, int64_t ldy, const int32_t *rows, int64_t n,
                            int zero_skip)
{
    (void)zero_skip;
    int64_t o0 = p0 * SL_K_SCALAR_NR, o1 = p1 * SL_K_SCALAR_NR;
    if (o1 > p->n_out)
        o1 = p->n_out;
    for (int64_t i = 0; i < n; i++) {
        int64_t r = rows ? rows[i] : i;
        const float *xr = x + r * ldx;
        for (int64_t o = o0; o < o1; o++) {
            const float *wo = p->w + o * p->n_in;
            double s = p->bias[o];
            for (int64_t k = 0; k < p->n_in; k++)
                s += (double)wo[k] * xr[k];
            y[r * ldy + o] = (float)s;
        }
    }
}

/* ---- elementwise -------------------------------------------------------- */

/* x * Phi(x), Phi from erfc: 1 + erf(x/sqrt2) would cancel for x << 0. */
static void sl_k_gelu(const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        double v = x[i];
        y[i] = (float)(0.5 * v * erfc(-v * SL_K_SQRT1_2));
    }
}

/* 0.5 x (1 + tanh u) == x * sigmoid(2u): the same value without the
 * cancellation of 1 + tanh u for x << 0. */
static void sl_k_gelu_tanh(const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        double v = x[i];
        double u = SL_K_SQRT_2_PI * (v + 0.044715 * v * v * v);
        y[i] = (float)(v / (1.0 + exp(-2.0 * u)));
    }
}

static void sl_k_sigmoid(const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = (float)(1.0 / (1.0 + exp(-(double)x[i])));
}

static void sl_k_tanh(const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = (float)tanh((double)x[i]);
}

static void sl_k_exp(const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = (float)exp((double)x[i]);
}

static void sl_k_log(const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = (float)log((double)x[i]);
}

/* ---- reductions --------------------------------------------------------- */

/* NaN if any element is NaN, else the largest. */
static float sl_k_max(const float *x, int64_t n)
{
    float m = x[0];
    for (int64_t i = 0; i < n; i++) {
        if (isnan(x[i]))
            return x[i];
        if (x[i] > m)
            m = x[i];
    }
    return m;
}

static float sl_k_min(const float *x, int64_t n)
{
    float m = x[0];
    for (int64_t i = 0; i < n; i++) {
        if (isnan(x[i]))
            return x[i];
        if (x[i] < m)
            m = x[i];
    }
    return m;
}

static float sl_k_sum(const float *x, int64_t n)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += x[i];
    return (float)s;
}

/* The first NaN if there is one, else the first largest. */
static int64_t sl_k_argmax(const float *x, int64_t n)
{
    int64_t best = 0;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(x[i]))
            return i;
        if (x[i] > x[best])
            best = i;
    }
    return best;
}

static float sl_k_entropy(const float *p, int64_t n)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        if (p[i] != 0.0f)
            s += (double)p[i] * log((double)p[i]);
    }
    return (float)(0.0 - s); /* a one-hot vector: +0, not -0 */
}

static float sl_k_margin(const float *x, int64_t n)
{
    float m1 = -INFINITY, m2 = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(x[i]))
            return x[i];
        if (x[i] > m1) {
            m2 = m1;
            m1 = x[i];
        } else if (x[i] > m2) {
            m2 = x[i];
        }
    }
    return m1 - m2;
}

/* a ranks above b: NaN above any number; equal values keep index order. */
static int sl_k_above(float a, float b)
{
    return isnan(a) ? !isnan(b) : a > b;
}

static void sl_k_topk(const float *x, int64_t n, int64_t k, int32_t *idx, float *val)
{
    int64_t have = 0;
    float kth = 0.0f; /* the value at idx[k-1], once have == k */
    for (int64_t i = 0; i < n; i++) {
        if (have == k && !sl_k_above(x[i], kth))
            continue;
        int64_t j = have < k ? have++ : k - 1;
        while (j > 0 && sl_k_above(x[i], x[idx[j - 1]])) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = (int32_t)i;
        kth = x[idx[have - 1]];
    }
    if (val)
        for (int64_t j = 0; j < k; j++)
            val[j] = x[idx[j]];
}

/* ---- whole-vector ------------------------------------------------------- */

static void sl_k_softmax(const float *x, float *y, int64_t n)
{
    double m = sl_k_max(x, n);
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += exp(x[i] - m);
    for (int64_t i = 0; i < n; i++)
        y[i] = (float)(exp(x[i] - m) / s);
}

static void sl_k_log_softmax(const float *x, float *y, int64_t n)
{
    double m = sl_k_max(x, n);
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += exp(x[i] - m);
    double lse = m + log(s);
    for (int64_t i = 0; i < n; i++)
        y[i] = (float)(x[i] - lse);
}

static void sl_k_layernorm(const float *x, const float *gamma, const float *beta,
                           float *y, int64_t n, float eps)
{
    double mean = 0.0, var = 0.0;
    for (int64_t i = 0; i < n; i++)
        mean += x[i];
    mean /= (double)n;
    for (int64_t i = 0; i < n; i++)
        var += (x[i] - mean) * (x[i] - mean);
    var /= (double)n;
    double rstd = 1.0 / sqrt(var + eps);
    for (int64_t i = 0; i < n; i++) {
        double v = (x[i] - mean) * rstd;
        if (gamma)
            v *= gamma[i];
        if (beta)
            v += beta[i];
        y[i] = (float)v;
    }
}

/* ---- attention ---------------------------------------------------------- */

/* Doubles in float scratch of any alignment: memcpy, which compiles to a
 * plain (unaligned) load or store. */
static inline double sl_k_ld_d(const float *base, int64_t i)
{
    double v;
    memcpy(&v, (const unsigned char *)base + i * (int64_t)sizeof v, sizeof v);
    return v;
}

static inline void sl_k_st_d(float *base, int64_t i, double v)
{
    memcpy((unsigned char *)base + i * (int64_t)sizeof v, &v, sizeof v);
}

/* Per token and head: the visible scores in double (scratch: n doubles),
 * their max, then sum_s e^(s - max) v_s and sum_s e^(s - max) in double
 * (scratch: dh doubles), divided and rounded once.  A NaN score makes the
 * sum, and so the head's outputs, NaN. */
static void sl_k_attention(const float *qkv, int64_t ldq, float *y, int64_t ldy, int64_t nq,
                           int64_t n, int64_t d, int64_t heads, int causal, float *scratch)
{
    int64_t dh = d / heads;
    double root = sqrt((double)dh);
    float *score = scratch, *acc = scratch + 2 * n;
    for (int64_t t = 0; t < nq; t++) {
        int64_t n_vis = causal ? t + 1 : n;
        for (int64_t j = 0; j < heads; j++) {
            const float *q = qkv + t * ldq + j * dh;
            double m = -INFINITY;
            for (int64_t s = 0; s < n_vis; s++) {
                const float *k = qkv + s * ldq + d + j * dh;
                double dot = 0.0;
                for (int64_t e = 0; e < dh; e++)
                    dot += (double)q[e] * k[e];
                dot /= root;
                sl_k_st_d(score, s, dot);
                if (dot > m)
                    m = dot;
            }
            for (int64_t e = 0; e < dh; e++)
                sl_k_st_d(acc, e, 0.0);
            double sum = 0.0;
            for (int64_t s = 0; s < n_vis; s++) {
                const float *v = qkv + s * ldq + 2 * d + j * dh;
                double w = exp(sl_k_ld_d(score, s) - m);
                sum += w;
                for (int64_t e = 0; e < dh; e++)
                    sl_k_st_d(acc, e, sl_k_ld_d(acc, e) + w * v[e]);
            }
            for (int64_t e = 0; e < dh; e++)
                y[t * ldy + j * dh + e] = (float)(sl_k_ld_d(acc, e) / sum);
        }
    }
}

#define SL_K_DENSE_NV NULL /* unpacked */
#define SL_K_VW 1
const sl_k_table sl_k_table_scalar = SL_K_TABLE_INIT(SL_ISA_SCALAR);
