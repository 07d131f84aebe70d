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

/* No inputs: every output is its bias (a sum over nothing is 0). */
static void sl_k_dense_no_inputs(const float *b, float *y, int64_t batch, int64_t n_out)
{
    for (int64_t r = 0; r < batch; r++) {
        if (b)
            memcpy(y + r * n_out, b, (size_t)n_out * sizeof *y);
        else
            memset(y + r * n_out, 0, (size_t)n_out * sizeof *y);
    }
}

void sl_rt_dense(const float *w, const float *b, const float *x, float *y,
                 int64_t n_in, int64_t n_out)
{
    if (n_out <= 0)
        return;
    if (n_in <= 0) {
        sl_k_dense_no_inputs(b, y, 1, n_out);
        return;
    }
    sl_k_table_get()->dense(w, b, x, y, n_in, n_out);
}

void sl_rt_dense_batch(const float *w, const float *b, const float *x, float *y,
                       int64_t batch, int64_t n_in, int64_t n_out)
{
    if (batch <= 0 || n_out <= 0)
        return;
    if (n_in <= 0) {
        sl_k_dense_no_inputs(b, y, batch, n_out);
        return;
    }
    sl_k_table_get()->dense_batch(w, b, x, y, batch, n_in, n_out);
}

void sl_rt_dense_blocks(const float *w, const float *b, const float *x, float *y,
                        int64_t n_in, int64_t n_out, int64_t n_blocks,
                        const uint8_t *active)
{
    if (n_out <= 0)
        return;
    /* A caller bug, not a data error: stop rather than compute rows wrongly. */
    if (n_blocks <= 0 || n_out % n_blocks != 0) {
        fprintf(stderr, "sluice: error: sl_rt_dense_blocks: n_out %lld is not split "
                "into %lld equal blocks\n", (long long)n_out, (long long)n_blocks);
        abort();
    }
    if (n_in <= 0) {
        int64_t rows = n_out / n_blocks;
        for (int64_t k = 0; k < n_blocks; k++) {
            float *yk = y + k * rows;
            if (active[k] && b)
                memcpy(yk, b + k * rows, (size_t)rows * sizeof *y);
            else
                memset(yk, 0, (size_t)rows * sizeof *y);
        }
        return;
    }
    sl_k_table_get()->dense_blocks(w, b, x, y, n_in, n_out, n_blocks, active);
}

void sl_rt_dense_zskip(const float *wt, const float *b, const float *x, float *y,
                       int64_t n_in, int64_t n_out)
{
    if (n_out <= 0)
        return;
    if (n_in <= 0) {
        sl_k_dense_no_inputs(b, y, 1, n_out);
        return;
    }
    sl_k_table_get()->dense_zskip(wt, b, x, y, n_in, n_out);
}

void sl_rt_transpose(const float *w, float *wt, int64_t rows, int64_t cols)
{
    if (rows <= 0 || cols <= 0)
        return;
    sl_k_table_get()->transpose(w, wt, rows, cols);
}

#define SL_K_WRAP_UNARY(name)                                   \
    void sl_rt_##name(const float *x, float *y, int64_t n)      \
    {                                                           \
        if (n > 0)                                              \
            sl_k_table_get()->name(x, y, n);                    \
    }

SL_K_WRAP_UNARY(relu)
SL_K_WRAP_UNARY(gelu)
SL_K_WRAP_UNARY(gelu_tanh)
SL_K_WRAP_UNARY(sigmoid)
SL_K_WRAP_UNARY(tanh)
SL_K_WRAP_UNARY(exp)
SL_K_WRAP_UNARY(log)
SL_K_WRAP_UNARY(softmax)
SL_K_WRAP_UNARY(log_softmax)

void sl_rt_add(const float *a, const float *b, float *y, int64_t n)
{
    if (n > 0)
        sl_k_table_get()->add(a, b, y, n);
}

void sl_rt_mul(const float *a, const float *b, float *y, int64_t n)
{
    if (n > 0)
        sl_k_table_get()->mul(a, b, y, n);
}

void sl_rt_add_scalar(const float *a, float s, float *y, int64_t n)
{
    if (n > 0)
        sl_k_table_get()->add_scalar(a, s, y, n);
}

void sl_rt_mul_scalar(const float *a, float s, float *y, int64_t n)
{
    if (n > 0)
        sl_k_table_get()->mul_scalar(a, s, y, n);
}

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
