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

static _Thread_local const sl_rt_workers *sl_k_workers;

void sl_rt_set_workers(const sl_rt_workers *w) { sl_k_workers = w; }

/* A call worth spreading: enough arithmetic, or enough weights to stream,
 * to repay waking the other threads (some tens of microseconds here). */
enum { SL_K_SPLIT_FLOPS = 1 << 22, SL_K_SPLIT_WEIGHTS = 1 << 18 };

typedef struct dense_call {
    const sl_dense_pack *p;
    int64_t chunks;
    const float *x;
    int64_t ldx;
    float *y;
    int64_t ldy;
    const int32_t *rows;
    int64_t n;
    int zero_skip;
} dense_call;

/* Chunk i of the panels, [i * np / chunks, (i + 1) * np / chunks). */
static void sl_k_dense_chunk(void *arg, int64_t i)
{
    const dense_call *c = arg;
    int64_t np = c->p->n_panels, p0 = i * np / c->chunks, p1 = (i + 1) * np / c->chunks;
    c->p->table->dense_rows(c->p, p0, p1, c->x, c->ldx, c->y, c->ldy, c->rows, c->n,
                            c->zero_skip);
}

/* The pack's own level runs it: its layout is that level's. */
void sl_rt_dense_rows(const sl_dense_pack *p, const float *x, int64_t ldx, float *y,
                      int64_t ldy, const int32_t *rows, int64_t n, int zero_skip)
{
    if (n <= 0)
        return;
    const sl_rt_workers *w = sl_k_workers;
    double flops = 2.0 * (double)n * (double)p->n_in * (double)p->n_out;
    double weights = (double)p->n_in * (double)p->n_out;
    if (w && w->threads > 1 && p->n_panels >= 2 &&
        (flops >= SL_K_SPLIT_FLOPS || weights >= SL_K_SPLIT_WEIGHTS)) {
        int64_t chunks = 2 * (int64_t)w->threads;
        dense_call c = {p, chunks < p->n_panels ? chunks : p->n_panels, x, ldx, y, ldy, rows, n,
                        zero_skip};
        w->run(w->self, sl_k_dense_chunk, &c, c.chunks);
        return;
    }
    p->table->dense_rows(p, 0, p->n_panels, x, ldx, y, ldy, rows, n, zero_skip);
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

/* One size for every level (a caller may size scratch before a level
 * switch): see SL_K_ATT_* in kernel_table.h. */
int64_t sl_rt_attention_scratch(int64_t n, int64_t d, int64_t heads)
{
    if (n <= 0 || d <= 0 || heads <= 0 || d % heads != 0)
        return 0;
    int64_t np, rows, floats;
    if (__builtin_add_overflow(n, SL_K_ATT_PAD - 1, &np))
        return -1;
    np -= np % SL_K_ATT_PAD;
    if (__builtin_mul_overflow(d / heads + SL_K_ATT_ROWS, np, &rows) ||
        __builtin_add_overflow(rows, SL_K_ATT_ALIGN - 1, &floats))
        return -1;
    return floats;
}

void sl_rt_attention(const float *qkv, int64_t ldq, float *y, int64_t ldy, int64_t n,
                     int64_t d, int64_t heads, int causal, float *scratch)
{
    sl_rt_attention_queries(qkv, ldq, y, ldy, n, n, d, heads, causal, scratch);
}

void sl_rt_attention_queries(const float *qkv, int64_t ldq, float *y, int64_t ldy, int64_t nq,
                             int64_t n, int64_t d, int64_t heads, int causal, float *scratch)
{
    /* A caller bug, not a data error: stop rather than compute heads
     * wrongly (checked before n, so it shows on an empty sequence too). */
    if (d <= 0 || heads <= 0 || d % heads != 0) {
        fprintf(stderr, "sluice: error: sl_rt_attention: d %lld is not split into %lld "
                "equal heads\n", (long long)d, (long long)heads);
        abort();
    }
    if (nq > n)
        nq = n;
    if (nq <= 0)
        return;
    sl_k_table_get()->attention(qkv, ldq, y, ldy, nq, n, d, heads, causal != 0, scratch);
}
