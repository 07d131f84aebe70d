/* dispatch.c - the public kernels: filter sizes, then one indirect call
 * through the table cpu.c chose.  The first call initializes lazily; an
 * initialization error there is fatal (stderr, exit(2)), since a kernel has
 * no way to report it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_table.h"

static inline const sl_k_table *sl_k_table_get(void)
{
    const sl_k_table *t = atomic_load_explicit(&sl_k_active, memory_order_acquire);
    if (__builtin_expect(t == NULL, 0))
        t = sl_k_init_or_exit();
    return t;
}

sl_dense_pack *sl_rt_dense_pack(const float *w, const float *b, int64_t n_in, int64_t n_out,
                                sl_error *err)
{
    return sl_dense_pack_make(sl_k_table_get(), w, b, n_in, n_out, err);
}

void sl_rt_dense_pack_free(sl_dense_pack *p)
{
    sl_dense_pack_release(p);
}

/* The pack's own level runs it: its layout is that level's. */
void sl_rt_dense_rows(const sl_dense_pack *p, const float *x, int64_t ldx, float *y,
                      int64_t ldy, const int32_t *rows, int64_t n, int zero_skip)
{
    if (n > 0)
        p->table->dense_rows(p, x, ldx, y, ldy, rows, n, zero_skip);
}

#define SL_K_WRAP_UNARY(name)                                   \
    void sl_rt_##name(const float *x, float *y, int64_t n)      \
    {                                                           \
        if (n > 0)                                              \
            sl_k_table_get()->name(x, y, n);                    \
    }

SL_K_WRAP_UNARY(gelu)
SL_K_WRAP_UNARY(gelu_tanh)
SL_K_WRAP_UNARY(sigmoid)
SL_K_WRAP_UNARY(tanh)
SL_K_WRAP_UNARY(exp)
SL_K_WRAP_UNARY(log)
SL_K_WRAP_UNARY(softmax)
SL_K_WRAP_UNARY(log_softmax)

void sl_rt_layernorm(const float *x, const float *gamma, const float *beta,
                     float *y, int64_t n, float eps)
{
    if (n > 0)
        sl_k_table_get()->layernorm(x, gamma, beta, y, n, eps);
}

/* Reductions over nothing return their identity (max -inf, min +inf, sum 0,
 * entropy 0); argmax returns -1; margin of fewer than 2 values is NaN. */
float sl_rt_max(const float *x, int64_t n)
{
    return n > 0 ? sl_k_table_get()->max(x, n) : -INFINITY;
}

float sl_rt_min(const float *x, int64_t n)
{
    return n > 0 ? sl_k_table_get()->min(x, n) : INFINITY;
}

float sl_rt_sum(const float *x, int64_t n)
{
    return n > 0 ? sl_k_table_get()->sum(x, n) : 0.0f;
}

int64_t sl_rt_argmax(const float *x, int64_t n)
{
    return n > 0 ? sl_k_table_get()->argmax(x, n) : -1;
}

float sl_rt_entropy(const float *p, int64_t n)
{
    return n > 0 ? sl_k_table_get()->entropy(p, n) : 0.0f;
}

float sl_rt_margin(const float *x, int64_t n)
{
    return n >= 2 ? sl_k_table_get()->margin(x, n) : NAN;
}

/* k > n writes the n entries there are. */
void sl_rt_topk(const float *x, int64_t n, int64_t k, int32_t *idx, float *val)
{
    if (n <= 0 || k <= 0)
        return;
    sl_k_table_get()->topk(x, n, k < n ? k : n, idx, val);
}
