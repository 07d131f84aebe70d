/* kernel_table.h - the per-ISA kernel table the public wrappers call through.
 *
 * Each ISA file (kernels_scalar.c, kernels_avx2.c, kernels_avx512.c) defines
 * one constant sl_k_table; cpu.c picks one at sl_rt_init() and publishes it in
 * sl_k_active; dispatch.c's wrappers load that pointer and make one indirect
 * call.  Entries may assume their sizes are >= 1 (the wrappers filter the
 * rest) and the aliasing rules of sluice/kernels.h. */
#ifndef SLUICE_KERNEL_TABLE_H
#define SLUICE_KERNEL_TABLE_H

#include <stdatomic.h>
#include <stdint.h>

#include "sluice/kernels.h"

typedef void sl_k_dense_fn(const float *w, const float *b, const float *x, float *y,
                           int64_t n_in, int64_t n_out);
typedef void sl_k_dense_batch_fn(const float *w, const float *b, const float *x,
                                 float *y, int64_t batch, int64_t n_in, int64_t n_out);
typedef void sl_k_dense_blocks_fn(const float *w, const float *b, const float *x,
                                  float *y, int64_t n_in, int64_t n_out,
                                  int64_t n_blocks, const uint8_t *active);
typedef void sl_k_transpose_fn(const float *w, float *wt, int64_t rows, int64_t cols);
typedef void sl_k_unary_fn(const float *x, float *y, int64_t n);
typedef void sl_k_binary_fn(const float *a, const float *b, float *y, int64_t n);
typedef void sl_k_binary_scalar_fn(const float *a, float s, float *y, int64_t n);
typedef void sl_k_layernorm_fn(const float *x, const float *gamma, const float *beta,
                               float *y, int64_t n, float eps);
typedef float sl_k_reduce_fn(const float *x, int64_t n);
typedef int64_t sl_k_argmax_fn(const float *x, int64_t n);
typedef void sl_k_topk_fn(const float *x, int64_t n, int64_t k, int32_t *idx,
                          float *val);

typedef struct sl_k_table {
    sl_isa isa;                           /* the level these entries need */
    sl_k_dense_fn *dense;                 /* batch 1: a GEMV */
    sl_k_dense_batch_fn *dense_batch;     /* batch >= 1: GEMM */
    sl_k_dense_blocks_fn *dense_blocks;   /* n_blocks divides n_out (checked) */
    sl_k_dense_fn *dense_zskip;           /* takes wt [n_in, n_out] */
    sl_k_transpose_fn *transpose;
    sl_k_unary_fn *relu, *gelu, *gelu_tanh, *sigmoid, *tanh, *exp, *log;
    sl_k_binary_fn *add, *mul;
    sl_k_binary_scalar_fn *add_scalar, *mul_scalar;
    sl_k_unary_fn *softmax, *log_softmax;
    sl_k_layernorm_fn *layernorm;
    sl_k_reduce_fn *max, *min, *sum, *entropy, *margin; /* margin: n >= 2 */
    sl_k_argmax_fn *argmax;
    sl_k_topk_fn *topk;                   /* 1 <= k <= n */
} sl_k_table;

/* A level's table, from the kernels its file defines under the common
 * names (sl_k_dense, ...): one list for every level. */
#define SL_K_TABLE_INIT(isa_)                                                \
    {                                                                        \
        .isa = (isa_),                                                       \
        .dense = sl_k_dense,                                                 \
        .dense_batch = sl_k_dense_batch,                                     \
        .dense_blocks = sl_k_dense_blocks,                                   \
        .dense_zskip = sl_k_dense_zskip,                                     \
        .transpose = sl_k_transpose_blocked,                                 \
        .relu = sl_k_relu,                                                   \
        .gelu = sl_k_gelu,                                                   \
        .gelu_tanh = sl_k_gelu_tanh,                                         \
        .sigmoid = sl_k_sigmoid,                                             \
        .tanh = sl_k_tanh,                                                   \
        .exp = sl_k_exp,                                                     \
        .log = sl_k_log,                                                     \
        .add = sl_k_add,                                                     \
        .mul = sl_k_mul,                                                     \
        .add_scalar = sl_k_add_scalar,                                       \
        .mul_scalar = sl_k_mul_scalar,                                       \
        .softmax = sl_k_softmax,                                             \
        .log_softmax = sl_k_log_softmax,                                     \
        .layernorm = sl_k_layernorm,                                         \
        .max = sl_k_max,                                                     \
        .min = sl_k_min,                                                     \
        .sum = sl_k_sum,                                                     \
        .entropy = sl_k_entropy,                                             \
        .margin = sl_k_margin,                                               \
        .argmax = sl_k_argmax,                                               \
        .topk = sl_k_topk,                                                   \
    }

extern const sl_k_table sl_k_table_scalar;
#ifdef SLUICE_KERNELS_X86
extern const sl_k_table sl_k_table_avx2;
extern const sl_k_table sl_k_table_avx512;
#endif

/* The table in use; NULL until sl_rt_init() succeeds.  Written by cpu.c
 * (release), read by every wrapper (acquire: a plain load on x86). */
extern _Atomic(const sl_k_table *) sl_k_active;

/* Slow path of the wrappers: sl_rt_init() once (pthread_once); on failure
 * print "sluice: error: <message>" to stderr and exit(2). */
const sl_k_table *sl_k_init_or_exit(void);

/* Shared by every level: transposition runs once, at weight-load time. */
void sl_k_transpose_blocked(const float *w, float *wt, int64_t rows, int64_t cols);

#endif
