/* kernels.h - the f32 compute kernels generated code calls.
 *
 * Every kernel exists as portable scalar C (the reference), and for AVX2+FMA
 * and AVX-512; one level is chosen once, at sl_rt_init(), from CPUID, or
 * forced by the environment variable SLUICE_ISA=scalar|avx2|avx512.  The
 * functions below dispatch through that choice.
 *
 * Conventions: n, n_in, n_out >= 0 element counts (0 is allowed and does
 * nothing); pointers need no particular alignment; unless said otherwise an
 * output may alias its input exactly (y == x) but not partially.  Weights are
 * row-major [n_out, n_in], as PyTorch's nn.Linear stores them.
 *
 * Sizes come from generated code but are still filtered: a count <= 0
 * writes nothing (a dense layer with n_in <= 0 and outputs writes its bias,
 * the sum over no inputs being 0), and the reductions return their identity
 * (max -inf, min +inf, sum and entropy 0, argmax -1, margin of < 2 values
 * NaN).  NaN follows PyTorch: elementwise kernels pass it through; max, min
 * and margin return NaN if any input is NaN; argmax and top-k rank NaN above
 * every number.  The first kernel call initializes lazily (sl_rt_init); if
 * that fails (SLUICE_ISA is not a level, or names one this CPU lacks) the
 * call prints "sluice: error: <message>" on stderr and exits with status 2.
 * Accuracy and the exact rules: docs/kernels.md. */
#ifndef SLUICE_KERNELS_H
#define SLUICE_KERNELS_H

#include <stdint.h>
#include "sluice/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sl_isa {
    SL_ISA_SCALAR, /* portable C, the reference */
    SL_ISA_AVX2,   /* AVX2 + FMA */
    SL_ISA_AVX512, /* AVX-512F (+VL/DQ/BW where used) */
    SL_ISA_COUNT
} sl_isa;

/* Choose the ISA level: the best the CPU has, or SLUICE_ISA if set.  Fails
 * (naming the level and what the CPU lacks) if SLUICE_ISA names a level the
 * CPU does not support or a name that is not a level.  Idempotent; the kernels
 * below call it lazily on first use, with errors fatal there. */
int sl_rt_init(sl_error *err);
/* Force a level (tests); fails if the CPU lacks it. */
int sl_rt_set_isa(sl_isa isa, sl_error *err);
sl_isa sl_rt_isa(void);                /* the level in use */
int sl_rt_isa_supported(sl_isa isa);   /* 1 if this CPU can run it */
const char *sl_rt_isa_name(sl_isa isa); /* "scalar", "avx2", "avx512" */

/* ---- dense layers ----------------------------------------------------- */

/* y[o] = b[o] + sum_i w[o*n_in + i] * x[i]; b may be NULL.  y must not alias x. */
void sl_rt_dense(const float *w, const float *b, const float *x, float *y,
                 int64_t n_in, int64_t n_out);

/* Batched: x is [batch, n_in], y is [batch, n_out], both row-major.  A GEMM
 * with register blocking and cache tiling.  y must not alias x. */
void sl_rt_dense_batch(const float *w, const float *b, const float *x, float *y,
                       int64_t batch, int64_t n_in, int64_t n_out);

/* Rows subset (block gating): the n_out units are split into n_blocks equal
 * blocks (n_out % n_blocks == 0); rows of active blocks (active[k] != 0) are
 * computed as sl_rt_dense does, rows of inactive blocks are set to 0.0f and
 * their weights and biases are never read.  n_blocks <= 0 or not dividing
 * n_out is a caller bug: it prints a message and aborts. */
void sl_rt_dense_blocks(const float *w, const float *b, const float *x, float *y,
                        int64_t n_in, int64_t n_out, int64_t n_blocks,
                        const uint8_t *active);

/* Zero-skipping input: same result as sl_rt_dense, but columns whose input
 * x[i] == 0.0f are skipped.  Takes the transposed weights wt [n_in, n_out]
 * (made once with sl_rt_transpose) so a skipped column is never read. */
void sl_rt_dense_zskip(const float *wt, const float *b, const float *x, float *y,
                       int64_t n_in, int64_t n_out);
/* wt[c*rows + r] = w[r*cols + c]; wt must not alias w. */
void sl_rt_transpose(const float *w, float *wt, int64_t rows, int64_t cols);

/* ---- elementwise: y[i] = f(x[i]) -------------------------------------- */

void sl_rt_relu(const float *x, float *y, int64_t n);
void sl_rt_gelu(const float *x, float *y, int64_t n);      /* erf form (PyTorch default) */
void sl_rt_gelu_tanh(const float *x, float *y, int64_t n); /* tanh approximation */
void sl_rt_sigmoid(const float *x, float *y, int64_t n);
void sl_rt_tanh(const float *x, float *y, int64_t n);
void sl_rt_exp(const float *x, float *y, int64_t n);
void sl_rt_log(const float *x, float *y, int64_t n);

/* Binary, same length, or b a scalar (the language's broadcasting: equal
 * shapes, or one side a scalar). */
void sl_rt_add(const float *a, const float *b, float *y, int64_t n);
void sl_rt_mul(const float *a, const float *b, float *y, int64_t n);
void sl_rt_add_scalar(const float *a, float s, float *y, int64_t n);
void sl_rt_mul_scalar(const float *a, float s, float *y, int64_t n);

/* ---- whole-vector ----------------------------------------------------- */

/* Numerically stable (max subtracted first).  n >= 1. */
void sl_rt_softmax(const float *x, float *y, int64_t n);
void sl_rt_log_softmax(const float *x, float *y, int64_t n);
/* y = (x - mean) / sqrt(var + eps) * gamma + beta, biased variance as
 * PyTorch's nn.LayerNorm; gamma, beta may be NULL (1 and 0). */
void sl_rt_layernorm(const float *x, const float *gamma, const float *beta,
                     float *y, int64_t n, float eps);

/* ---- reductions (n >= 1) ---------------------------------------------- */

float sl_rt_max(const float *x, int64_t n);
float sl_rt_min(const float *x, int64_t n);
float sl_rt_sum(const float *x, int64_t n);
/* Index of the largest element, the first one on ties. */
int64_t sl_rt_argmax(const float *x, int64_t n);
/* -sum p log p, natural log, with 0 log 0 = 0 (p a probability vector). */
float sl_rt_entropy(const float *p, int64_t n);
/* Largest minus second largest (n >= 2). */
float sl_rt_margin(const float *x, int64_t n);
/* The k largest (1 <= k <= n) in descending order, lower index first on
 * ties: idx[j] their indices, val[j] their values (val may be NULL).  NaNs
 * rank first; k > n writes n entries. */
void sl_rt_topk(const float *x, int64_t n, int64_t k, int32_t *idx, float *val);

#ifdef __cplusplus
}
#endif
#endif
