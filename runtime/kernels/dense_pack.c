/* dense_pack.c - a dense layer's weights packed for the level in use, once,
 * when a model opens: the SIMD levels' panels (dense_simd.h says why that
 * layout), the scalar level's pointer to the weights as they are.  Shared
 * by every level; the level's table gives the panel width. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_table.h"

/* Allocation of n floats, 64-byte aligned, zeroed; NULL if too large. */
static float *zalloc_floats(int64_t n)
{
    size_t bytes;
    if (n <= 0 || __builtin_mul_overflow((size_t)n, sizeof(float), &bytes) ||
        bytes > SIZE_MAX - 63)
        return NULL;
    bytes = (bytes + 63) / 64 * 64;
    float *p = aligned_alloc(64, bytes);
    if (p)
        memset(p, 0, bytes);
    return p;
}

/* Panel p of w as panels[p][k][j] = w[p * nr + j][k], blocked by 8 columns
 * of w so both sides stream. */
/* A weight below f32's normal range (|w| < 2^-126) is packed as 0: its
 * products are below any output's precision, and a subnormal operand costs
 * every FMA that reads it a microcode assist on x86 (about a hundred times
 * slower), which trained weights hit wherever weight decay met a dead input. */
static float normal_or_zero(float v)
{
    return fabsf(v) < 0x1p-126f ? 0.0f : v;
}

static void pack_panels(const float *w, int64_t n_in, int64_t n_out, int64_t nr,
                        float *panels)
{
    for (int64_t o0 = 0; o0 < n_out; o0 += nr) {
        float *dst = panels + o0 * n_in; /* (o0 / nr) * n_in * nr */
        int64_t cols = n_out - o0 < nr ? n_out - o0 : nr;
        for (int64_t k0 = 0; k0 < n_in; k0 += 8) {
            int64_t kc = n_in - k0 < 8 ? n_in - k0 : 8;
            for (int64_t j = 0; j < cols; j++) {
                const float *src = w + (o0 + j) * n_in + k0;
                for (int64_t k = 0; k < kc; k++)
                    dst[(k0 + k) * nr + j] = normal_or_zero(src[k]);
            }
        }
    }
}

void sl_dense_pack_release(sl_dense_pack *p)
{
    if (!p)
        return;
    free(p->panels);
    free(p->bias);
    free(p);
}

sl_dense_pack *sl_dense_pack_make(const sl_k_table *t, const float *w, const float *b,
                                  int64_t n_in, int64_t n_out, sl_error *err)
{
    if (n_in < 1 || n_out < 1 || !w) {
        sl_error_set(err, "sl_rt_dense_pack: a dense layer of %lld inputs and %lld outputs",
                     (long long)n_in, (long long)n_out);
        return NULL;
    }
    sl_dense_pack *p = calloc(1, sizeof *p);
    if (!p) {
        sl_error_set(err, "out of memory for packed weights");
        return NULL;
    }
    p->table = t;
    p->n_in = n_in;
    p->n_out = n_out;
    int64_t nr = 1, cols = n_out, cells = 0;
    if (t->dense_nv) {
        p->nv = t->dense_nv(n_out);
        nr = (int64_t)p->nv * t->vw;
        p->n_panels = (n_out + nr - 1) / nr;
        cols = p->n_panels * nr;
        if (__builtin_mul_overflow(cols, n_in, &cells) || !(p->panels = zalloc_floats(cells))) {
            sl_error_set(err, "out of memory for the packed weights of a dense[%lld -> %lld] "
                         "layer", (long long)n_in, (long long)n_out);
            sl_dense_pack_release(p);
            return NULL;
        }
        pack_panels(w, n_in, n_out, nr, p->panels);
    } else {
        p->w = w;
        p->n_panels = (n_out + SL_K_SCALAR_NR - 1) / SL_K_SCALAR_NR;
    }
    if (!(p->bias = zalloc_floats(cols))) {
        sl_error_set(err, "out of memory for packed weights");
        sl_dense_pack_release(p);
        return NULL;
    }
    /* + 0.0f turns -0 into +0 and leaves every other value, NaN included:
     * the sum acc + b is then the same whether acc is +0 or -0. */
    for (int64_t o = 0; b && o < n_out; o++)
        p->bias[o] = b[o] + 0.0f;
    return p;
}
