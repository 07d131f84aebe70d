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

static void sl_k_dense(const float *w, const float *b, const float *x, float *y,
                       int64_t n_in, int64_t n_out)
{
    for (int64_t o = 0; o < n_out; o++) {
        const float *row = w + o * n_in;
        double s = b ? b[o] : 0.0;
        for (int64_t i = 0; i < n_in; i++)
            s += (double)row[i] * x[i];
        y[o] = (float)s;
    }
}

static void sl_k_dense_batch(const float *w, const float *b, const float *x, float *y,
                             int64_t batch, int64_t n_in, int64_t n_out)
{
    for (int64_t r = 0; r < batch; r++)
        sl_k_dense(w, b, x + r * n_in, y + r * n_out, n_in, n_out);
}

static void sl_k_dense_blocks(const float *w, const float *b, const float *x, float *y,
                              int64_t n_in, int64_t n_out, int64_t n_blocks,
                              const uint8_t *active)
{
    int64_t rows = n_out / n_blocks;
    for (int64_t k = 0; k < n_blocks; k++) {
        int64_t o = k * rows;
        if (active[k])
            sl_k_dense(w + o * n_in, b ? b + o : NULL, x, y + o, n_in, rows);
        else
            memset(y + o, 0, (size_t)rows * sizeof *y);
    }
}

/* Outputs in chunks whose double accumulators fit on the stack; each chunk
 * reads only the rows of wt whose input is non-zero. */
static void sl_k_dense_zskip(const float *wt, const float *b, const float *x, float *y,
                             int64_t n_in, int64_t n_out)
{
    enum { CHUNK = 256 };
    double acc[CHUNK];
    for (int64_t o0 = 0; o0 < n_out; o0 += CHUNK) {
        int64_t m = n_out - o0 < CHUNK ? n_out - o0 : CHUNK;
        for (int64_t j = 0; j < m; j++)
            acc[j] = b ? b[o0 + j] : 0.0;
        for (int64_t i = 0; i < n_in; i++) {
            if (x[i] == 0.0f)
                continue;
            const float *row = wt + i * n_out + o0;
            double xi = x[i];
            for (int64_t j = 0; j < m; j++)
                acc[j] += xi * row[j];
        }
        for (int64_t j = 0; j < m; j++)
            y[o0 + j] = (float)acc[j];
    }
}

/* Square tiles, so both the rows read and the columns written stay in L1. */
void sl_k_transpose_blocked(const float *w, float *wt, int64_t rows, int64_t cols)
{
    enum { T = 32 };
    for (int64_t r0 = 0; r0 < rows; r0 += T) {
        int64_t r1 = r0 + T < rows ? r0 + T : rows;
        for (int64_t c0 = 0; c0 < cols; c0 += T) {
            int64_t c1 = c0 + T < cols ? c0 + T : cols;
            for (int64_t r = r0; r < r1; r++)
                for (int64_t c = c0; c < c1; c++)
                    wt[c * rows + r] = w[r * cols + c];
        }
    }
}

/* ---- elementwise -------------------------------------------------------- */

/* NaN stays NaN (x < 0 is false for it), as torch.relu. */
static void sl_k_relu(const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] < 0.0f ? 0.0f : x[i];
}

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

static void sl_k_add(const float *a, const float *b, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = a[i] + b[i];
}

static void sl_k_mul(const float *a, const float *b, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = a[i] * b[i];
}

static void sl_k_add_scalar(const float *a, float s, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = a[i] + s;
}

static void sl_k_mul_scalar(const float *a, float s, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = a[i] * s;
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

const sl_k_table sl_k_table_scalar = SL_K_TABLE_INIT(SL_ISA_SCALAR);
