/* kernels.h - the f32 compute kernels generated code calls.
 *
 * Every kernel exists as portable scalar C (the reference), and for AVX2+FMA
 * and AVX-512; one level is chosen once, at sl_rt_init(), from CPUID, or
 * forced by the environment variable SLUICE_ISA=scalar|avx2|avx512.  The
 * functions below dispatch through that choice.
 *
 * Conventions: n, n_in, n_out >= 0 element counts (0 is allowed and does
 * nothing); pointers need no particular alignment; unless said otherwise an
 * output may alias its input exactly (y == x) but not partially.
 *
 * Sizes come from generated code but are still filtered: a count <= 0
 * writes nothing, and the reductions return their identity
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

/* A dense layer's weights, packed for the kernel level in use (made once,
 * when a model opens): w is [n_out, n_in] row-major (PyTorch's nn.Linear),
 * b [n_out] or NULL.  NULL with a message on bad sizes or no memory.  The
 * pack copies what it needs from w and b, except at the scalar level, which
 * reads w in place: keep w alive while the pack is used. */
typedef struct sl_dense_pack sl_dense_pack;
sl_dense_pack *sl_rt_dense_pack(const float *w, const float *b, int64_t n_in, int64_t n_out,
                                sl_error *err);
void sl_rt_dense_pack_free(sl_dense_pack *p); /* NULL is fine */

/* The dense layer over a set of rows: for each listed row r (r = rows[i],
 * i < n; rows NULL lists 0 .. n-1),
 *     y[r * ldy + o] = b[o] + sum_k w[o, k] x[r * ldx + k],   o < n_out.
 * Rows of x and y may sit anywhere (strides ldx >= n_in, ldy >= n_out); y
 * must not overlap x.  Batch invariant: a row's outputs are the same bits
 * whatever other rows are listed, in which order, and how many (each output
 * is one FMA chain over k in order; docs/kernels.md).  zero_skip: at the
 * SIMD levels a row alone in its tile never reads the weights of its zero
 * inputs (the results are the same); the weights must then be finite
 * (0 * inf would be NaN, a skipped term is not).  The
 * pack runs on the level that made it, whatever sl_rt_set_isa says since. */
void sl_rt_dense_rows(const sl_dense_pack *p, const float *x, int64_t ldx, float *y,
                      int64_t ldy, const int32_t *rows, int64_t n, int zero_skip);

/* Threads a dense call may spread over, on the calling thread only
 * (thread-local; NULL, the default: none).  run(self, fn, arg, n) calls
 * fn(arg, i) for every i in [0, n), on any of `threads` threads, and
 * returns when all are done.  sl_rt_dense_rows then cuts a call big enough
 * to repay the hand-off into ranges of output panels, one item each; which
 * thread computes an output does not change its bits.  The runtime's model
 * API sets this while one tile holds a whole batch. */
typedef struct sl_rt_workers {
    void (*run)(void *self, void (*fn)(void *arg, int64_t i), void *arg, int64_t n);
    void *self;
    int threads;
} sl_rt_workers;
void sl_rt_set_workers(const sl_rt_workers *w);

/* ---- elementwise: y[i] = f(x[i]) -------------------------------------- */

void sl_rt_gelu(const float *x, float *y, int64_t n);      /* erf form (PyTorch default) */
void sl_rt_gelu_tanh(const float *x, float *y, int64_t n); /* tanh approximation */
void sl_rt_sigmoid(const float *x, float *y, int64_t n);
void sl_rt_tanh(const float *x, float *y, int64_t n);
void sl_rt_exp(const float *x, float *y, int64_t n);
void sl_rt_log(const float *x, float *y, int64_t n);

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

/* ---- attention -------------------------------------------------------- */

/* Multi-head scaled dot-product self-attention over one sequence, what
 * PyTorch's nn.MultiheadAttention computes between its in- and
 * out-projections.  qkv is the in-projection's output, n rows of 3d
 * floats (row stride ldq >= 3d): row t holds q_t (d floats), then k_t, then
 * v_t.  heads divides d; dh = d / heads.  For each head j and token t:
 *   s_ts = (q_t[j] . k_s[j]) / sqrt(dh)            for s in the visible set,
 *   y[t, j*dh + e] = sum_s softmax_s(s_ts) v_s[j*dh + e]
 * where q_t[j] is q_t's floats [j*dh, (j+1)*dh).  The visible set is all n
 * tokens, or s <= t when causal (then row t reads nothing of the tokens
 * after it).  The softmax is stable (row max subtracted first); a NaN in
 * q_t[j] makes y[t]'s head j NaN.  y: n rows of d floats, stride ldy >= d
 * (the floats between d and ldy are not written); y must not overlap qkv.
 * scratch: at least sl_rt_attention_scratch(n, d, heads) floats, any
 * alignment; the kernel allocates nothing, writes scratch before it reads
 * it, and its result depends on neither scratch nor pointer alignment (same
 * bits every call at one level).  n <= 0 does nothing; d, heads >= 1 with
 * heads dividing d are a precondition, checked first: otherwise the call
 * prints "sluice: error: ..." and aborts (a caller bug). */
void sl_rt_attention(const float *qkv, int64_t ldq, float *y, int64_t ldy, int64_t n,
                     int64_t d, int64_t heads, int causal, float *scratch);
/* The same for the first nq of the n tokens only (0 <= nq <= n; nq is
 * clamped to n): queries q_0 .. q_{nq-1} attend to the keys and values of
 * all n tokens (s <= t when causal), y gets nq rows, and each is the row
 * sl_rt_attention gives for the n tokens, bit for bit.  A layer run on
 * some tokens of a sequence while attending to all of them uses it. */
void sl_rt_attention_queries(const float *qkv, int64_t ldq, float *y, int64_t ldy, int64_t nq,
                             int64_t n, int64_t d, int64_t heads, int causal, float *scratch);
/* Scratch floats sl_rt_attention needs, the same at every level; 0 for
 * n <= 0 or impossible d, heads; -1 if the count does not fit int64_t. */
int64_t sl_rt_attention_scratch(int64_t n, int64_t d, int64_t heads);

/* ---- row lists (a tile's rows that reach a region; ascending) --------- */

/* out = a and b merged in ascending order (a and b disjoint); returns na + nb. */
int64_t sl_rt_rows_merge(const int32_t *a, int64_t na, const int32_t *b, int64_t nb,
                         int32_t *out);
/* ---- routes over tokens (one input's n tokens at a time) --------------- */

#define SL_RT_DROPPED (-2) /* a choice not taken (over capacity; no expert) */

/* Token choice with a capacity: idx [n, k] holds each token's choices, best
 * first; each expert keeps ceil(factor * n * k / n_experts) of them (at
 * least 1), every token's first choice before any second one, tokens in
 * order; the rest become SL_RT_DROPPED.  count: n_experts ints of scratch. */
void sl_rt_route_capacity(int32_t *idx, int64_t n, int64_t k, int64_t n_experts, double factor,
                          int32_t *count);
/* Expert choice: scores [n, n_experts]; each expert takes the c tokens
 * with its highest scores (ties to the lower token).  idx, w [n,
 * n_experts]: idx[t, e] = e and w[t, e] its score where expert e took
 * token t, else SL_RT_DROPPED and 0.  col: 2n floats, top: c ints of
 * scratch; 1 <= c <= n. */
void sl_rt_expert_choice(const float *scores, int64_t n, int64_t n_experts, int64_t c,
                         int32_t *idx, float *w, float *col, int32_t *top);
/* y [d] = the mean of the rows of x [n, d] not listed in kept (k rows,
 * ascending), summed in row order; 0 when every row is kept. */
void sl_rt_mean_rest(const float *x, int64_t n, int64_t d, const int32_t *kept, int64_t k,
                     float *y);
/* Switch weights: w[j] = softmax(scores)[idx[j]] over all n_experts scores
 * (not renormalised over the k chosen), j < k. */
void sl_rt_switch_weights(const float *scores, int64_t n_experts, const int32_t *idx, int64_t k,
                          float *w);

/* v[0 .. n) in ascending order (the chosen tokens of a row, in their order). */
void sl_rt_rows_sort(int32_t *v, int64_t n);
/* Group the listed rows by chosen expert: idx[r * k + j] is row r's j-th
 * choice.  Expert e's rows are bucket_rows[start[e] .. start[e + 1]), in
 * ascending order, and bucket_pos[...] = r * k + j says which choice it was.
 * start holds n_experts + 1 entries; the buckets n * k. */
void sl_rt_rows_by_expert(const int32_t *rows, int64_t n, const int32_t *idx, int64_t k,
                          int64_t n_experts, int32_t *start, int32_t *bucket_rows,
                          int32_t *bucket_pos);

#ifdef __cplusplus
}
#endif
#endif
