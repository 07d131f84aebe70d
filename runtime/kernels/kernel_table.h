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

/* A dense layer's weights as a level's kernel reads them (dense_pack.c).
 * SIMD levels: panels of nr = nv * SL_VW output columns, k-major (panel p
 * holds w[p * nr + j][k] at k * nr + j), zero-padded to whole panels, and
 * the bias padded likewise.  The scalar level reads the weights in place. */
struct sl_k_table;
struct sl_dense_pack {
    const struct sl_k_table *table; /* the level that packed it, and runs it */
    int64_t n_in, n_out;
    int nv;                      /* vectors per panel (SIMD levels; 0: scalar) */
    int64_t n_panels;            /* panels of nv * SL_VW outputs (scalar: of SL_K_SCALAR_NR) */
    float *panels;               /* [n_panels][n_in][nv * SL_VW], 64-byte aligned, owned */
    float *bias;                 /* [n_panels * nr]: b + 0.0f (never -0), then zeros; owned */
    const float *w;              /* scalar level: [n_out][n_in], not owned */
};

/* Output panels [p0, p1) of the listed rows (sl_rt_dense_rows is all of
 * them; threads may take a range each). */
typedef void sl_k_dense_rows_fn(const sl_dense_pack *p, int64_t p0, int64_t p1, const float *x,
                                int64_t ldx, float *y, int64_t ldy, const int32_t *rows,
                                int64_t n, int zero_skip);
typedef int sl_k_dense_nv_fn(int64_t n_out);
typedef void sl_k_unary_fn(const float *x, float *y, int64_t n);

/* The scalar level has no panels; its "panels" are runs of this many
 * outputs, so a call can be cut the same way at every level. */
#define SL_K_SCALAR_NR 16
typedef void sl_k_layernorm_fn(const float *x, const float *gamma, const float *beta,
                               float *y, int64_t n, float eps);
typedef float sl_k_reduce_fn(const float *x, int64_t n);
typedef int64_t sl_k_argmax_fn(const float *x, int64_t n);
typedef void sl_k_topk_fn(const float *x, int64_t n, int64_t k, int32_t *idx,
                          float *val);
/* 1 <= nq <= n, d, heads >= 1, heads divides d, causal 0 or 1 (the
 * wrapper checks): the first nq of n tokens attend; scratch holds
 * sl_rt_attention_scratch(n, d, heads) floats. */
typedef void sl_k_attention_fn(const float *qkv, int64_t ldq, float *y, int64_t ldy,
                               int64_t nq, int64_t n, int64_t d, int64_t heads, int causal,
                               float *scratch);

/* Attention's scratch (sl_rt_attention_scratch, one size for every level):
 * SL_K_ATT_ALIGN - 1 floats to reach a 64-byte boundary, then
 * (dh + SL_K_ATT_ROWS) * np with np = n rounded up to SL_K_ATT_PAD (the
 * widest vector): one head's keys transposed, dh rows of np, and the score
 * rows of a block of SL_K_ATT_ROWS queries.  The scalar level needs less
 * (n + dh doubles). */
#define SL_K_ATT_PAD 16
#define SL_K_ATT_ROWS 4
#define SL_K_ATT_ALIGN 16

typedef struct sl_k_table {
    sl_isa isa;                           /* the level these entries need */
    sl_k_dense_rows_fn *dense_rows;       /* n >= 1 rows, n_in, n_out >= 1 */
    sl_k_dense_nv_fn *dense_nv;           /* panel width for n_out (NULL: unpacked) */
    int vw;                               /* floats per vector (1: scalar) */
    sl_k_unary_fn *gelu, *gelu_tanh, *sigmoid, *tanh, *exp, *log;
    sl_k_unary_fn *softmax, *log_softmax;
    sl_k_layernorm_fn *layernorm;
    sl_k_reduce_fn *max, *min, *sum, *entropy, *margin; /* margin: n >= 2 */
    sl_k_argmax_fn *argmax;
    sl_k_topk_fn *topk;                   /* 1 <= k <= n */
    sl_k_attention_fn *attention;
} sl_k_table;

/* A level's table, from the kernels its file defines under the common
 * names (sl_k_dense_rows, ...): one list for every level.  The includer
 * defines SL_K_DENSE_NV (its panel-width rule, or NULL) and SL_K_VW. */
#define SL_K_TABLE_INIT(isa_)                                                \
    {                                                                        \
        .isa = (isa_),                                                       \
        .dense_rows = sl_k_dense_rows,                                       \
        .dense_nv = SL_K_DENSE_NV,                                           \
        .vw = SL_K_VW,                                                       \
        .gelu = sl_k_gelu,                                                   \
        .gelu_tanh = sl_k_gelu_tanh,                                         \
        .sigmoid = sl_k_sigmoid,                                             \
        .tanh = sl_k_tanh,                                                   \
        .exp = sl_k_exp,                                                     \
        .log = sl_k_log,                                                     \
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
        .attention = sl_k_attention,                                         \
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

/* dense_pack.c: a pack for level t (sl_rt_dense_pack calls it with the
 * level in use), and its release. */
sl_dense_pack *sl_dense_pack_make(const sl_k_table *t, const float *w, const float *b,
                                  int64_t n_in, int64_t n_out, sl_error *err);
void sl_dense_pack_release(sl_dense_pack *p);

#endif
