/* test_vs_scalar.c - every kernel on every SIMD level this CPU has, against
 * the scalar reference, at the sizes where vector code has edges (1, 3, 15,
 * 16, 17, 63, 64, 65, 1000), on unaligned buffers, and in place where the
 * API allows it; the dense layer also over row counts 1-13, 64 and 100,
 * strided and scattered rows; attention over sequence lengths, widths and
 * head counts around the vector widths, causal or not.  Tolerances are the
 * ones docs/kernels.md states:
 *
 *   max, min, argmax, top-k, margin                      bit-exact
 *   exp, log, tanh, sigmoid, gelu, gelu_tanh             ulps (table below);
 *       results below FLT_MIN: |d| <= 32 * 2^-149
 *   dense_rows:        |d| <= (n_in + 2) eps (|b| + sum |w x|)
 *   sum:               |d| <= (n + 2) eps sum |x|
 *   entropy:           |d| <= (n + 8) eps sum |p ln p|
 *   softmax:           |d| <= (n + 8) eps |ref|
 *   log_softmax, layernorm: |d| <= (n + 8) eps max(1, |ref|)
 *   attention: |d| <= (4 (dh + 2) A + 2 n_vis + 16) eps sum_s w_s |v_s[e]|
 *       (w the softmax weights, A = max_s sum_e |q[e] k_s[e]| / sqrt(dh))
 *
 * (eps = FLT_EPSILON; the n-proportional bounds are the classical rounding
 * bounds of a float sum of n terms, for the reference and the SIMD order.) */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static const int64_t sizes[] = {1, 3, 15, 16, 17, 63, 64, 65, 1000};
#define N_SIZES (int)(sizeof sizes / sizeof sizes[0])

static sl_isa levels[SL_ISA_COUNT];
static int n_levels;

/* ---- elementwise -------------------------------------------------------- */

typedef struct unary_case {
    const char *name;
    void (*fn)(const float *, float *, int64_t);
    float lo, hi;   /* where most inputs come from */
    int64_t ulps;   /* tolerance against the reference */
    int positive;   /* log: inputs mostly in (0, hi], log-uniform */
} unary_case;

static const unary_case unary_cases[] = {
    {"exp", sl_rt_exp, -110.0f, 95.0f, 2, 0},
    {"log", sl_rt_log, 0.0f, 0.0f, 2, 1},
    {"tanh", sl_rt_tanh, -12.0f, 12.0f, 2, 0},
    {"sigmoid", sl_rt_sigmoid, -110.0f, 110.0f, 3, 0},
    {"gelu", sl_rt_gelu, -16.0f, 16.0f, 5, 0},
    {"gelu_tanh", sl_rt_gelu_tanh, -16.0f, 16.0f, 4, 0},
};

static const float specials[] = {
    0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, 1.0f, -1.0f, FLT_MIN, -FLT_MIN,
    FLT_MAX, -FLT_MAX, 1e-40f, -1e-40f, 0.5f, -0.5f, 88.7f, -87.5f, 1e-7f, -1e-7f,
};
#define N_SPECIALS (int64_t)(sizeof specials / sizeof specials[0])

/* Mostly the case's range, some values near zero, some specials. */
static void unary_input(rng *r, const unary_case *c, float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        uint64_t k = rng_next(r) % 10;
        if (k == 0)
            x[i] = specials[rng_next(r) % N_SPECIALS];
        else if (k == 1)
            x[i] = rng_uniform(r, -1e-3f, 1e-3f);
        else if (c->positive)
            x[i] = expf(rng_uniform(r, -92.0f, 88.0f)); /* 1e-40 .. 1e38 */
        else
            x[i] = rng_uniform(r, c->lo, c->hi);
    }
}

static int close_ulps(float got, float ref, int64_t ulps)
{
    if (ulp_diff(got, ref) <= ulps)
        return 1;
    return fabsf(ref) < FLT_MIN && fabsf(got - ref) <= 32 * 0x1p-149f;
}

static void test_unary(void)
{
    rng r = {0x1234};
    for (size_t c = 0; c < sizeof unary_cases / sizeof unary_cases[0]; c++) {
        const unary_case *uc = &unary_cases[c];
        for (int s = 0; s < N_SIZES; s++) {
            int64_t n = sizes[s];
            float *x = buf_alloc(n), *ref = buf_alloc(n), *got = buf_alloc(n);
            unary_input(&r, uc, x, n);
            use_isa(SL_ISA_SCALAR);
            uc->fn(x, ref, n);
            for (int l = 0; l < n_levels; l++) {
                use_isa(levels[l]);
                uc->fn(x, got, n);
                for (int64_t i = 0; i < n; i++) {
                    check_count++;
                    if (!close_ulps(got[i], ref[i], uc->ulps))
                        check_fail("%s %s n=%lld: x[%lld]=%.9g: got %.9g, reference %.9g "
                                   "(%lld ulps, allowed %lld)", uc->name,
                                   sl_rt_isa_name(levels[l]), (long long)n, (long long)i,
                                   x[i], got[i], ref[i], (long long)ulp_diff(got[i], ref[i]),
                                   (long long)uc->ulps);
                }
                /* In place (y == x) must give the same bits. */
                float *z = buf_copy(x, n);
                uc->fn(z, z, n);
                check_count++;
                if (memcmp(z, got, (size_t)n * sizeof *z) != 0)
                    check_fail("%s %s n=%lld: in place differs from out of place",
                               uc->name, sl_rt_isa_name(levels[l]), (long long)n);
                buf_free(z);
            }
            buf_free(x);
            buf_free(ref);
            buf_free(got);
        }
    }
}

/* ---- reductions --------------------------------------------------------- */

/* Inputs for the exact reductions: random, with ties, infinities, and (for
 * some variants) NaNs at chosen places, the tail included. */
static void reduction_input(rng *r, float *x, int64_t n, int variant)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = rng_uniform(r, -10.0f, 10.0f);
    switch (variant) {
    case 1: /* many ties: few distinct values */
        for (int64_t i = 0; i < n; i++)
            x[i] = (float)(rng_next(r) % 4);
        break;
    case 2: /* a NaN near the end (the masked tail) */
        x[n - 1 - (n > 2 ? (int64_t)(rng_next(r) % 2) : 0)] = NAN;
        break;
    case 3: /* a NaN at the front and a later one */
        x[0] = NAN;
        x[n - 1] = -NAN;
        break;
    case 4: /* infinities both ways, the largest in the tail */
        x[0] = -INFINITY;
        x[n - 1] = INFINITY;
        break;
    case 5: /* all -inf but one */
        for (int64_t i = 0; i < n; i++)
            x[i] = -INFINITY;
        x[(int64_t)(rng_next(r) % (uint64_t)n)] = -1.0f;
        break;
    }
}

static void test_exact_reductions(void)
{
    rng r = {0x9abc};
    for (int s = 0; s < N_SIZES; s++) {
        int64_t n = sizes[s];
        for (int variant = 0; variant < 6; variant++) {
            float *x = buf_alloc(n);
            reduction_input(&r, x, n, variant);
            use_isa(SL_ISA_SCALAR);
            float rmax = sl_rt_max(x, n), rmin = sl_rt_min(x, n);
            float rmargin = n >= 2 ? sl_rt_margin(x, n) : 0.0f;
            int64_t rarg = sl_rt_argmax(x, n);
            int64_t ks[] = {1, 2, 5, n};
            int32_t ridx[4][1000], gidx[1000];
            float rval[4][1000], gval[1000];
            for (int k = 0; k < 4; k++)
                if (ks[k] <= n)
                    sl_rt_topk(x, n, ks[k], ridx[k], rval[k]);
            for (int l = 0; l < n_levels; l++) {
                const char *isa = sl_rt_isa_name(levels[l]);
                use_isa(levels[l]);
                float g;
                check_count += 4;
                if (ulp_diff(g = sl_rt_max(x, n), rmax) != 0)
                    check_fail("max %s n=%lld variant %d: got %g, reference %g", isa,
                               (long long)n, variant, g, rmax);
                if (ulp_diff(g = sl_rt_min(x, n), rmin) != 0)
                    check_fail("min %s n=%lld variant %d: got %g, reference %g", isa,
                               (long long)n, variant, g, rmin);
                if (n >= 2 && ulp_diff(g = sl_rt_margin(x, n), rmargin) != 0)
                    check_fail("margin %s n=%lld variant %d: got %g, reference %g", isa,
                               (long long)n, variant, g, rmargin);
                int64_t a = sl_rt_argmax(x, n);
                if (a != rarg)
                    check_fail("argmax %s n=%lld variant %d: got %lld, reference %lld", isa,
                               (long long)n, variant, (long long)a, (long long)rarg);
                for (int k = 0; k < 4; k++) {
                    if (ks[k] > n)
                        continue;
                    sl_rt_topk(x, n, ks[k], gidx, gval);
                    check_count++;
                    if (memcmp(gidx, ridx[k], (size_t)ks[k] * sizeof *gidx) != 0 ||
                        memcmp(gval, rval[k], (size_t)ks[k] * sizeof *gval) != 0)
                        check_fail("topk %s n=%lld k=%lld variant %d: differs from the "
                                   "reference", isa, (long long)n, (long long)ks[k], variant);
                }
            }
            buf_free(x);
        }
    }
}

static void test_sum_entropy(void)
{
    rng r = {0xdef0};
    for (int s = 0; s < N_SIZES; s++) {
        int64_t n = sizes[s];
        float *x = buf_alloc(n), *p = buf_alloc(n);
        buf_fill(&r, x, n, -10.0f, 10.0f);
        double abs_sum = 0.0, total = 0.0, plogp = 0.0;
        for (int64_t i = 0; i < n; i++) {
            abs_sum += fabs(x[i]);
            /* Probabilities with exact zeros among them. */
            p[i] = rng_next(&r) % 4 == 0 ? 0.0f : rng_uniform(&r, 0.0f, 1.0f);
            total += p[i];
        }
        for (int64_t i = 0; i < n; i++) {
            p[i] = (float)(p[i] / (total > 0 ? total : 1.0));
            if (p[i] > 0)
                plogp += fabs(p[i] * log(p[i]));
        }
        use_isa(SL_ISA_SCALAR);
        float rsum = sl_rt_sum(x, n), rent = sl_rt_entropy(p, n);
        for (int l = 0; l < n_levels; l++) {
            const char *isa = sl_rt_isa_name(levels[l]);
            use_isa(levels[l]);
            float g = sl_rt_sum(x, n);
            check_count += 2;
            if (fabs(g - rsum) > (n + 2) * FLT_EPSILON * abs_sum)
                check_fail("sum %s n=%lld: got %.9g, reference %.9g", isa, (long long)n, g, rsum);
            g = sl_rt_entropy(p, n);
            if (fabs(g - rent) > (n + 8) * FLT_EPSILON * plogp)
                check_fail("entropy %s n=%lld: got %.9g, reference %.9g", isa, (long long)n,
                           g, rent);
        }
        buf_free(x);
        buf_free(p);
    }
}

/* ---- whole-vector ------------------------------------------------------- */

static void compare_vec(const char *what, const char *isa, int64_t n, const float *got,
                        const float *ref, int relative)
{
    double tol = (n + 8) * FLT_EPSILON;
    for (int64_t i = 0; i < n; i++) {
        double scale = relative ? fabs(ref[i]) : fmax(1.0, fabs(ref[i]));
        check_count++;
        if (isnan(got[i]) != isnan(ref[i]) ||
            (!isnan(ref[i]) && !(fabs(got[i] - ref[i]) <= tol * scale)))
            check_fail("%s %s n=%lld: [%lld] got %.9g, reference %.9g", what, isa,
                       (long long)n, (long long)i, got[i], ref[i]);
    }
}

static void test_softmax_layernorm(void)
{
    rng r = {0x1357};
    for (int s = 0; s < N_SIZES; s++) {
        int64_t n = sizes[s];
        float *x = buf_alloc(n), *g = buf_alloc(n), *be = buf_alloc(n);
        float *ref = buf_alloc(n), *got = buf_alloc(n);
        buf_fill(&r, x, n, -20.0f, 20.0f);
        buf_fill(&r, g, n, 0.5f, 2.0f);
        buf_fill(&r, be, n, -1.0f, 1.0f);
        for (int op = 0; op < 6; op++) {
            /* op 0 softmax, 1 log_softmax, 2..5 layernorm with/without
             * gamma and beta */
            const float *gamma = (op == 3 || op == 5) ? g : NULL;
            const float *beta = (op == 4 || op == 5) ? be : NULL;
            const char *name = op == 0 ? "softmax" : op == 1 ? "log_softmax" : "layernorm";
            use_isa(SL_ISA_SCALAR);
            if (op == 0)
                sl_rt_softmax(x, ref, n);
            else if (op == 1)
                sl_rt_log_softmax(x, ref, n);
            else
                sl_rt_layernorm(x, gamma, beta, ref, n, 1e-5f);
            for (int l = 0; l < n_levels; l++) {
                const char *isa = sl_rt_isa_name(levels[l]);
                use_isa(levels[l]);
                float *z = buf_copy(x, n);
                if (op == 0) {
                    sl_rt_softmax(x, got, n);
                    sl_rt_softmax(z, z, n);
                } else if (op == 1) {
                    sl_rt_log_softmax(x, got, n);
                    sl_rt_log_softmax(z, z, n);
                } else {
                    sl_rt_layernorm(x, gamma, beta, got, n, 1e-5f);
                    sl_rt_layernorm(z, gamma, beta, z, n, 1e-5f);
                }
                compare_vec(name, isa, n, got, ref, op == 0);
                check_count++;
                if (memcmp(z, got, (size_t)n * sizeof *z) != 0)
                    check_fail("%s %s n=%lld: in place differs", name, isa, (long long)n);
                buf_free(z);
            }
        }
        buf_free(x);
        buf_free(g);
        buf_free(be);
        buf_free(ref);
        buf_free(got);
    }
    /* Magnitudes whose squared deviations overflow f32 (1e18 .. 1.7e19):
     * every level gives the scalar kernel's double-precision answer. */
    for (int s = 0; s < N_SIZES; s++) {
        int64_t n = sizes[s];
        float *x = buf_alloc(n), *ref = buf_alloc(n), *got = buf_alloc(n);
        for (int64_t i = 0; i < n; i++)
            x[i] = (float)(i % 17 + 1) * 1e18f;
        use_isa(SL_ISA_SCALAR);
        sl_rt_layernorm(x, NULL, NULL, ref, n, 1e-5f);
        for (int l = 0; l < n_levels; l++) {
            use_isa(levels[l]);
            sl_rt_layernorm(x, NULL, NULL, got, n, 1e-5f);
            compare_vec("layernorm (huge)", sl_rt_isa_name(levels[l]), n, got, ref, 0);
        }
        buf_free(x);
        buf_free(ref);
        buf_free(got);
    }
}

/* ---- dense -------------------------------------------------------------- */

/* |b| + sum |w x| for each output of each of n compact rows: the scale of
 * the rounding bound. */
static void dense_scale(const float *w, const float *b, const float *x, double *scale,
                        int64_t n, int64_t n_in, int64_t n_out)
{
    for (int64_t r = 0; r < n; r++)
        for (int64_t o = 0; o < n_out; o++) {
            double s = b ? fabs(b[o]) : 0.0;
            for (int64_t k = 0; k < n_in; k++)
                s += fabs((double)w[o * n_in + k] * x[r * n_in + k]);
            scale[r * n_out + o] = s;
        }
}

/* One shape, n rows: the reference on the listed rows packed together, each
 * SIMD level on a strided, scattered layout (rows: NULL, ascending with
 * gaps, or shuffled; x's unlisted rows and row padding NaN, so reading them
 * shows; y's canary everywhere but the listed rows' outputs, checked after;
 * both buffers end at the last listed row's last element), with zero_skip
 * off and on. */
static void dense_case(rng *r, int64_t n_in, int64_t n_out, int64_t n)
{
    int mode = (int)(rng_next(r) % 3); /* 0: rows NULL, 1: ascending, 2: shuffled */
    int64_t extra = mode == 0 ? 0 : (int64_t)(rng_next(r) % (uint64_t)(n + 3));
    int64_t total = n + extra;
    int64_t ldx = n_in + (rng_next(r) % 2 ? (int64_t)(rng_next(r) % 5) : 0);
    int64_t ldy = n_out + (rng_next(r) % 2 ? (int64_t)(rng_next(r) % 5) : 0);
    int32_t *rows = malloc((size_t)n * sizeof *rows);
    uint8_t *listed = calloc((size_t)total, 1);
    if (mode == 0)
        for (int64_t i = 0; i < n; i++)
            rows[i] = (int32_t)i;
    else
        pick_rows(r, rows, n, extra);
    if (mode == 2)
        shuffle_rows(r, rows, n);
    for (int64_t i = 0; i < n; i++)
        listed[rows[i]] = 1;

    int64_t nx = (total - 1) * ldx + n_in, ny = (total - 1) * ldy + n_out;
    float *w = buf_alloc(n_in * n_out), *b = buf_alloc(n_out);
    float *x = buf_alloc(nx), *xc = buf_alloc(n * n_in);
    float *y = buf_alloc(ny), *ref = buf_alloc(n * n_out);
    double *scale = malloc((size_t)(n * n_out) * sizeof *scale);
    buf_fill(r, w, n_in * n_out, -1.0f, 1.0f);
    buf_fill(r, b, n_out, -1.0f, 1.0f);
    const float *bb = rng_next(r) % 4 != 0 ? b : NULL;
    float zero_frac = rng_next(r) % 2 ? 0.5f : 0.0f;
    for (int64_t j = 0; j < nx; j++)
        x[j] = NAN;
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < n_in; k++) {
            float v = rng_uniform(r, 0.0f, 1.0f) < zero_frac ? (k % 2 ? -0.0f : 0.0f)
                                                               : rng_uniform(r, -1.0f, 1.0f);
            x[rows[i] * ldx + k] = xc[i * n_in + k] = v;
        }
    dense_scale(w, bb, xc, scale, n, n_in, n_out);
    sl_error err;
    use_isa(SL_ISA_SCALAR);
    sl_dense_pack *ps = sl_rt_dense_pack(w, bb, n_in, n_out, &err);
    if (!ps) {
        check_fail("dense_pack scalar %lldx%lld: %s", (long long)n_in, (long long)n_out, err.msg);
        goto out;
    }
    sl_rt_dense_rows(ps, xc, n_in, ref, n_out, NULL, n, 0);
    sl_rt_dense_pack_free(ps);

    for (int l = 0; l < n_levels; l++) {
        const char *isa = sl_rt_isa_name(levels[l]);
        use_isa(levels[l]);
        sl_dense_pack *p = sl_rt_dense_pack(w, bb, n_in, n_out, &err);
        if (!p) {
            check_fail("dense_pack %s %lldx%lld: %s", isa, (long long)n_in, (long long)n_out,
                       err.msg);
            continue;
        }
        for (int zs = 0; zs < 2; zs++) {
            for (int64_t j = 0; j < ny; j++)
                y[j] = canary();
            sl_rt_dense_rows(p, x, ldx, y, ldy, mode == 0 ? NULL : rows, n, zs);
            for (int64_t i = 0; i < n; i++)
                for (int64_t o = 0; o < n_out; o++) {
                    float got = y[rows[i] * ldy + o], want = ref[i * n_out + o];
                    check_count++;
                    if (!(fabs(got - want) <= (n_in + 2) * FLT_EPSILON * scale[i * n_out + o]))
                        check_fail("dense_rows %s n_in=%lld n_out=%lld rows=%lld (list %d, "
                                   "ldx %lld, ldy %lld, zero_skip %d): row %d [%lld] got %.9g, "
                                   "reference %.9g", isa, (long long)n_in, (long long)n_out,
                                   (long long)n, mode, (long long)ldx, (long long)ldy, zs,
                                   rows[i], (long long)o, got, want);
                }
            int64_t touched = 0;
            for (int64_t j = 0; j < ny; j++)
                if (!(listed[j / ldy] && j % ldy < n_out) && !is_canary(y[j]))
                    touched++;
            check_count++;
            if (touched)
                check_fail("dense_rows %s n_in=%lld n_out=%lld rows=%lld (list %d, ldy %lld, "
                           "zero_skip %d): wrote %lld floats outside the listed rows' outputs",
                           isa, (long long)n_in, (long long)n_out, (long long)n, mode,
                           (long long)ldy, zs, (long long)touched);
        }
        sl_rt_dense_pack_free(p);
    }
out:
    buf_free(w);
    buf_free(b);
    buf_free(x);
    buf_free(xc);
    buf_free(y);
    buf_free(ref);
    free(scale);
    free(rows);
    free(listed);
}

static void test_dense(void)
{
    rng r = {0x2468};
    static const int64_t counts[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 64, 100};
    for (size_t ci = 0; ci < sizeof counts / sizeof counts[0]; ci++)
        for (int si = 0; si < N_SIZES; si++)
            for (int so = 0; so < N_SIZES; so++) {
                /* The largest products only at a few row counts: time. */
                if (sizes[si] * sizes[so] * counts[ci] > 8000000)
                    continue;
                dense_case(&r, sizes[si], sizes[so], counts[ci]);
            }
    /* Zero-skipping's k chunks (4096) in a row alone, and a large batch. */
    dense_case(&r, 5000, 65, 1);
    dense_case(&r, 9000, 17, 1);
    dense_case(&r, 5000, 33, 7);
    dense_case(&r, 1000, 1000, 13);
    dense_case(&r, 300, 200, 100);
}

/* ---- attention ---------------------------------------------------------- */

/* The tolerance of each output (t, c = j dh + e), from double-precision
 * weights w_s (the softmax of head j's visible scores) and the size of the
 * scores' terms, A = max_s sum_e |q_t[e] k_s[e]| / sqrt(dh):
 *     |d| <= (4 (dh + 2) A + 2 n_vis + 16) eps sum_s w_s |v_s[e]|
 * A score's float error is about dh eps A, and e^(s - max) turns it into a
 * relative error of the weight; the sums over n_vis keys add theirs. */
static void attention_bounds(const float *qkv, int64_t ldq, int64_t n, int64_t d,
                             int64_t heads, int causal, double *bound)
{
    int64_t dh = d / heads;
    double *sc = malloc((size_t)n * sizeof *sc), root = sqrt((double)dh);
    for (int64_t t = 0; t < n; t++) {
        int64_t nv = causal ? t + 1 : n;
        for (int64_t j = 0; j < heads; j++) {
            const float *q = qkv + t * ldq + j * dh;
            double m = -INFINITY, a = 0.0, sum = 0.0;
            for (int64_t s = 0; s < nv; s++) {
                const float *k = qkv + s * ldq + d + j * dh;
                double dot = 0.0, abs = 0.0;
                for (int64_t e = 0; e < dh; e++) {
                    dot += (double)q[e] * k[e];
                    abs += fabs((double)q[e] * k[e]);
                }
                sc[s] = dot / root;
                m = fmax(m, sc[s]);
                a = fmax(a, abs / root);
            }
            for (int64_t s = 0; s < nv; s++)
                sum += sc[s] = exp(sc[s] - m);
            for (int64_t e = 0; e < dh; e++) {
                double wv = 0.0;
                for (int64_t s = 0; s < nv; s++)
                    wv += sc[s] / sum * fabs(qkv[s * ldq + 2 * d + j * dh + e]);
                bound[t * d + j * dh + e] =
                    (4.0 * (double)(dh + 2) * a + 2.0 * (double)nv + 16.0) * FLT_EPSILON * wv;
            }
        }
    }
    free(sc);
}

/* One shape: the reference and each SIMD level on the same strided rows
 * (ldq > 3d, ldy > d half the time each; qkv's row padding NaN, so a read
 * of it shows; y's canary must survive outside the n x d outputs; qkv, y
 * and scratch end at their last float). */
static void attention_case(rng *r, int64_t n, int64_t d, int64_t heads, int causal)
{
    int64_t ldq = 3 * d + (rng_next(r) % 2 ? 1 + (int64_t)(rng_next(r) % 5) : 0);
    int64_t ldy = d + (rng_next(r) % 2 ? 1 + (int64_t)(rng_next(r) % 5) : 0);
    int64_t nq = (n - 1) * ldq + 3 * d, ny = (n - 1) * ldy + d;
    int64_t ns = sl_rt_attention_scratch(n, d, heads);
    float amp = rng_next(r) % 3 == 0 ? 4.0f : 1.5f; /* 4: sharper softmax */
    float *qkv = buf_alloc(nq), *ref = buf_alloc(ny), *got = buf_alloc(ny);
    float *part = buf_alloc(ny), *scratch = buf_alloc(ns);
    double *bound = malloc((size_t)(n * d) * sizeof *bound);
    for (int64_t i = 0; i < nq; i++)
        qkv[i] = NAN;
    for (int64_t t = 0; t < n; t++)
        for (int64_t c = 0; c < 3 * d; c++)
            qkv[t * ldq + c] = c < 2 * d ? rng_uniform(r, -amp, amp) : rng_uniform(r, -1.0f, 1.0f);
    attention_bounds(qkv, ldq, n, d, heads, causal, bound);
    for (int l = -1; l < n_levels; l++) {
        const char *isa = l < 0 ? "scalar" : sl_rt_isa_name(levels[l]);
        float *y = l < 0 ? ref : got;
        use_isa(l < 0 ? SL_ISA_SCALAR : levels[l]);
        for (int64_t i = 0; i < ny; i++)
            y[i] = canary();
        for (int64_t i = 0; i < ns; i++)
            scratch[i] = NAN;
        sl_rt_attention(qkv, ldq, y, ldy, n, d, heads, causal, scratch);
        int64_t touched = 0;
        for (int64_t i = 0; i < ny; i++)
            if (i % ldy >= d && !is_canary(y[i]))
                touched++;
        check_count++;
        if (touched)
            check_fail("attention %s n=%lld d=%lld heads=%lld causal=%d ldy=%lld: wrote %lld "
                       "floats between rows", isa, (long long)n, (long long)d, (long long)heads,
                       causal, (long long)ldy, (long long)touched);
        /* The first m queries alone: the same rows, bit for bit, and
         * nothing written past them. */
        int64_t m = 1 + (int64_t)(rng_next(r) % (uint64_t)n);
        for (int64_t i = 0; i < ny; i++)
            part[i] = canary();
        for (int64_t i = 0; i < ns; i++)
            scratch[i] = NAN;
        sl_rt_attention_queries(qkv, ldq, part, ldy, m, n, d, heads, causal, scratch);
        int64_t differ = 0;
        for (int64_t i = 0; i < ny; i++)
            if (i / ldy < m && i % ldy < d ? memcmp(&part[i], &y[i], sizeof *y) != 0
                                           : !is_canary(part[i]))
                differ++;
        check_count++;
        if (differ)
            check_fail("attention %s n=%lld d=%lld heads=%lld causal=%d: the first %lld "
                       "queries alone differ from the whole call in %lld floats", isa,
                       (long long)n, (long long)d, (long long)heads, causal, (long long)m,
                       (long long)differ);
        if (l < 0)
            continue;
        for (int64_t t = 0; t < n; t++)
            for (int64_t c = 0; c < d; c++) {
                float g = got[t * ldy + c], want = ref[t * ldy + c];
                check_count++;
                if (!(fabs(g - want) <= bound[t * d + c]))
                    check_fail("attention %s n=%lld d=%lld heads=%lld causal=%d (ldq %lld, "
                               "ldy %lld): y[%lld][%lld] got %.9g, reference %.9g, allowed "
                               "%.3g", isa, (long long)n, (long long)d, (long long)heads,
                               causal, (long long)ldq, (long long)ldy, (long long)t,
                               (long long)c, g, want, bound[t * d + c]);
            }
    }
    buf_free(qkv);
    buf_free(ref);
    buf_free(got);
    buf_free(part);
    buf_free(scratch);
    free(bound);
}

static void test_attention(void)
{
    static const int64_t ns[] = {1, 2, 3, 7, 16, 17, 64, 130};
    static const int64_t ds[] = {4, 8, 16, 32, 48, 64, 96};
    static const int64_t hs[] = {1, 2, 4, 8};
    rng r = {0xa77e};
    for (size_t in = 0; in < sizeof ns / sizeof ns[0]; in++)
        for (size_t id = 0; id < sizeof ds / sizeof ds[0]; id++)
            for (size_t ih = 0; ih < sizeof hs / sizeof hs[0]; ih++)
                for (int causal = 0; causal < 2; causal++)
                    if (ds[id] % hs[ih] == 0)
                        attention_case(&r, ns[in], ds[id], hs[ih], causal);
    /* Heads wider than a whole register tile (AVX-512: 64), with a tail. */
    attention_case(&r, 33, 200, 2, 0);
    attention_case(&r, 33, 200, 2, 1);
    attention_case(&r, 5, 256, 1, 1);
}

int main(void)
{
    n_levels = isa_levels(levels);
    if (n_levels == 0) {
        printf("test_vs_scalar: skipped: no SIMD level on this CPU\n");
        return 0;
    }
    test_unary();
    test_exact_reductions();
    test_sum_entropy();
    test_softmax_layernorm();
    test_dense();
    test_attention();
    return check_summary("test_vs_scalar");
}
