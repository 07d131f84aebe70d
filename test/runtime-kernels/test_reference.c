/* test_reference.c - the scalar reference itself against straightforward
 * double-precision computations written independently here (and, where the
 * reference uses one formula, a different one: erf vs erfc, tanh vs exp).
 * The reference rounds once from double, so the bounds are tight:
 *
 *   elementwise:             within 1 ulp of the double result
 *   dense, sum, entropy:     |d| <= eps |exact| + 4 n DBL_EPSILON (sum of |terms|)
 *   softmax, log_softmax, layernorm: |d| <= 2 eps max(|exact|, tiny)
 *   max, min, argmax, top-k, margin: exactly the brute-force answer
 *   attention:               |d| <= eps |exact| + 16 (n_vis + dh)(1 + A) DBL_EPSILON
 *                              sum_s w_s |v_s[e]|  (A: the largest sum_e |q k| / sqrt(dh)) */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static const int64_t sizes[] = {1, 3, 15, 16, 17, 63, 64, 65, 1000};
#define N_SIZES (int)(sizeof sizes / sizeof sizes[0])

static double d_gelu(double x)
{
    /* erf where 1 + erf does not cancel in double, erfc beyond */
    return x > -5.0 ? 0.5 * x * (1.0 + erf(x / sqrt(2.0))) : 0.5 * x * erfc(-x / sqrt(2.0));
}

static double d_gelu_tanh(double x)
{
    double u = sqrt(2.0 / 3.14159265358979323846) * (x + 0.044715 * x * x * x);
    if (x > -3.0)
        return 0.5 * x * (1.0 + tanh(u));
    double e = exp(2.0 * u);
    return x * e / (1.0 + e);
}

static double d_sigmoid(double x)
{
    if (fabs(x) < 5.0)
        return 0.5 * (1.0 + tanh(0.5 * x));
    return x > 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
}

static void test_elementwise(void)
{
    static const struct {
        const char *name;
        void (*fn)(const float *, float *, int64_t);
        double (*ref)(double);
        float lo, hi;
    } cases[] = {
        {"exp", sl_rt_exp, exp, -100.0f, 88.0f},
        {"log", sl_rt_log, log, 1e-30f, 1e30f},
        {"tanh", sl_rt_tanh, tanh, -10.0f, 10.0f},
        {"sigmoid", sl_rt_sigmoid, d_sigmoid, -100.0f, 100.0f},
        {"gelu", sl_rt_gelu, d_gelu, -14.0f, 14.0f},
        {"gelu_tanh", sl_rt_gelu_tanh, d_gelu_tanh, -10.0f, 10.0f},
    };
    rng r = {0x777};
    int64_t n = 20000;
    float *x = buf_alloc(n), *y = buf_alloc(n);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (int64_t i = 0; i < n; i++)
            x[i] = c == 1 ? expf(rng_uniform(&r, -69.0f, 69.0f))
                          : rng_uniform(&r, cases[c].lo, cases[c].hi);
        cases[c].fn(x, y, n);
        for (int64_t i = 0; i < n; i++) {
            float want = (float)cases[c].ref(x[i]);
            check_count++;
            if (ulp_diff(y[i], want) > 1 && !(fabsf(want) < FLT_MIN && fabsf(y[i] - want) <= 0x1p-149f))
                check_fail("scalar %s(%.9g) = %.9g, double gives %.9g", cases[c].name, x[i],
                           y[i], want);
        }
    }
    buf_free(x);
    buf_free(y);
}

/* The scalar dense layer against sums in double written here: rows NULL
 * (contiguous), and a reversed row list on strided rows (ldx, ldy past the
 * row), zero-skipping off and on, with and without a bias. */
static void test_dense(void)
{
    rng r = {0x888};
    static const int64_t counts[] = {1, 3, 9};
    for (int si = 0; si < N_SIZES; si++)
        for (int so = 0; so < N_SIZES; so += 2)
            for (int ci = 0; ci < 3; ci++) {
                int64_t n_in = sizes[si], n_out = sizes[so], n = counts[ci];
                int64_t ldx = n_in + 2, ldy = n_out + 1;
                float *w = buf_alloc(n_in * n_out), *b = buf_alloc(n_out);
                float *x = buf_alloc(n * ldx), *y = buf_alloc(n * ldy);
                int32_t rows[9];
                buf_fill(&r, w, n_in * n_out, -1.0f, 1.0f);
                buf_fill(&r, b, n_out, -1.0f, 1.0f);
                buf_fill(&r, x, n * ldx, -1.0f, 1.0f);
                for (int64_t i = 0; i < n * ldx; i += 3)
                    x[i] = 0.0f; /* zeros for zero-skipping */
                for (int64_t i = 0; i < n; i++)
                    rows[i] = (int32_t)(n - 1 - i);
                const float *bb = ci == 1 ? NULL : b;
                sl_error err;
                sl_dense_pack *p = sl_rt_dense_pack(w, bb, n_in, n_out, &err);
                if (!p)
                    check_fail("scalar dense_pack: %s", err.msg);
                for (int form = 0; p && form < 4; form++) {
                    /* 0, 1: rows NULL, contiguous; 2, 3: the reversed list,
                     * strided; odd forms zero-skip */
                    int64_t lx = form < 2 ? n_in : ldx, ly = form < 2 ? n_out : ldy;
                    sl_rt_dense_rows(p, x, lx, y, ly, form < 2 ? NULL : rows, n, form % 2);
                    for (int64_t rr = 0; rr < n; rr++)
                        for (int64_t o = 0; o < n_out; o++) {
                            double exact = bb ? b[o] : 0.0, terms = fabs(exact);
                            for (int64_t i = 0; i < n_in; i++) {
                                exact += (double)w[o * n_in + i] * x[rr * lx + i];
                                terms += fabs((double)w[o * n_in + i] * x[rr * lx + i]);
                            }
                            float got = y[rr * ly + o];
                            check_count++;
                            if (!(fabs(got - exact) <= FLT_EPSILON * fabs(exact) +
                                                           4.0 * n_in * DBL_EPSILON * terms))
                                check_fail("scalar dense_rows form %d rows=%lld %lld -> %lld: "
                                           "y[%lld][%lld] = %.9g, double gives %.17g", form,
                                           (long long)n, (long long)n_in, (long long)n_out,
                                           (long long)rr, (long long)o, got, exact);
                        }
                }
                sl_rt_dense_pack_free(p);
                buf_free(w);
                buf_free(b);
                buf_free(x);
                buf_free(y);
            }
}

static void test_whole_vector(void)
{
    rng r = {0x999};
    for (int s = 0; s < N_SIZES; s++) {
        int64_t n = sizes[s];
        float *x = buf_alloc(n), *y = buf_alloc(n), *g = buf_alloc(n), *be = buf_alloc(n);
        buf_fill(&r, x, n, -30.0f, 30.0f);
        buf_fill(&r, g, n, -2.0f, 2.0f);
        buf_fill(&r, be, n, -1.0f, 1.0f);
        double m = -INFINITY, se = 0.0, mean = 0.0, var = 0.0;
        for (int64_t i = 0; i < n; i++)
            m = fmax(m, x[i]);
        for (int64_t i = 0; i < n; i++)
            se += exp((double)x[i] - m);
        for (int64_t i = 0; i < n; i++)
            mean += x[i] / (double)n;
        for (int64_t i = 0; i < n; i++)
            var += (x[i] - mean) * (x[i] - mean) / (double)n;
        for (int op = 0; op < 3; op++) {
            if (op == 0)
                sl_rt_softmax(x, y, n);
            else if (op == 1)
                sl_rt_log_softmax(x, y, n);
            else
                sl_rt_layernorm(x, g, be, y, n, 1e-5f);
            for (int64_t i = 0; i < n; i++) {
                double want = op == 0   ? exp(x[i] - m) / se
                              : op == 1 ? (x[i] - m) - log(se)
                                        : (x[i] - mean) / sqrt(var + 1e-5f) * g[i] + be[i];
                check_count++;
                if (!(fabs(y[i] - want) <= 2 * FLT_EPSILON * fmax(fabs(want), 1e-30)))
                    check_fail("scalar %s n=%lld: [%lld] = %.9g, double gives %.17g",
                               op == 0 ? "softmax" : op == 1 ? "log_softmax" : "layernorm",
                               (long long)n, (long long)i, y[i], want);
            }
        }
        buf_free(x);
        buf_free(y);
        buf_free(g);
        buf_free(be);
    }
}

/* Sort order of the brute-force top-k: NaN first, then by value, then by
 * index. */
static const float *sort_x;
static int by_rank(const void *pa, const void *pb)
{
    int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    float va = sort_x[a], vb = sort_x[b];
    if (isnan(va) != isnan(vb))
        return isnan(va) ? -1 : 1;
    if (!isnan(va) && va != vb)
        return va > vb ? -1 : 1;
    return (a > b) - (a < b);
}

static void test_reductions(void)
{
    rng r = {0xaaa};
    for (int s = 0; s < N_SIZES; s++) {
        int64_t n = sizes[s];
        for (int variant = 0; variant < 3; variant++) {
            float *x = buf_alloc(n), *p = buf_alloc(n);
            for (int64_t i = 0; i < n; i++)
                x[i] = variant == 1 ? (float)(rng_next(&r) % 5) : rng_uniform(&r, -5.0f, 5.0f);
            if (variant == 2)
                x[rng_next(&r) % (uint64_t)n] = NAN;
            int32_t *order = malloc((size_t)n * sizeof *order), idx[1000];
            float val[1000];
            for (int64_t i = 0; i < n; i++)
                order[i] = (int32_t)i;
            sort_x = x;
            qsort(order, (size_t)n, sizeof *order, by_rank);
            float top = x[order[0]];
            check_count += 4;
            if (ulp_diff(sl_rt_max(x, n), top) != 0)
                check_fail("scalar max n=%lld variant %d", (long long)n, variant);
            if (sl_rt_argmax(x, n) != order[0])
                check_fail("scalar argmax n=%lld variant %d: %lld, want %d", (long long)n,
                           variant, (long long)sl_rt_argmax(x, n), order[0]);
            float lo = x[order[n - 1]];
            if (variant == 2)
                lo = NAN;
            if (ulp_diff(sl_rt_min(x, n), lo) != 0)
                check_fail("scalar min n=%lld variant %d", (long long)n, variant);
            if (n >= 2 && ulp_diff(sl_rt_margin(x, n), x[order[0]] - x[order[1]]) != 0)
                check_fail("scalar margin n=%lld variant %d", (long long)n, variant);
            for (int64_t k = 1; k <= n && k <= 8; k++) {
                sl_rt_topk(x, n, k, idx, val);
                for (int64_t j = 0; j < k; j++) {
                    check_count++;
                    if (idx[j] != order[j] || ulp_diff(val[j], x[order[j]]) != 0)
                        check_fail("scalar topk n=%lld k=%lld variant %d: [%lld] = %d, want %d",
                                   (long long)n, (long long)k, variant, (long long)j, idx[j],
                                   order[j]);
                }
            }
            /* sum and entropy in double */
            double sum = 0.0, abs_sum = 0.0, tot = 0.0, ent = 0.0, ent_abs = 0.0;
            for (int64_t i = 0; i < n; i++) {
                float v = variant == 2 && isnan(x[i]) ? 1.0f : x[i];
                x[i] = v;
                sum += v;
                abs_sum += fabs(v);
                p[i] = i % 3 == 0 ? 0.0f : rng_uniform(&r, 0.0f, 1.0f);
                tot += p[i];
            }
            for (int64_t i = 0; i < n; i++) {
                p[i] = (float)(p[i] / (tot > 0 ? tot : 1.0));
                if (p[i] > 0) {
                    ent -= p[i] * log(p[i]);
                    ent_abs += fabs(p[i] * log(p[i]));
                }
            }
            check_count += 2;
            if (!(fabs(sl_rt_sum(x, n) - sum) <= FLT_EPSILON * fabs(sum) +
                                                  4.0 * n * DBL_EPSILON * abs_sum))
                check_fail("scalar sum n=%lld: %.9g, double gives %.17g", (long long)n,
                           sl_rt_sum(x, n), sum);
            if (!(fabs(sl_rt_entropy(p, n) - ent) <= FLT_EPSILON * fabs(ent) +
                                                      4.0 * n * DBL_EPSILON * ent_abs))
                check_fail("scalar entropy n=%lld: %.9g, double gives %.17g", (long long)n,
                           sl_rt_entropy(p, n), ent);
            free(order);
            buf_free(x);
            buf_free(p);
        }
    }
}

/* Scalar attention against a double computation written differently: the
 * scores times 1/sqrt(dh) (the reference divides), the weights as
 * e^(s - logsumexp) (the reference divides by the sum at the end).  Strided
 * rows, causal and not, several head counts. */
static void test_attention(void)
{
    static const int64_t ns[] = {1, 3, 17, 64};
    static const int64_t shapes[][2] = {{4, 1}, {16, 4}, {48, 2}, {96, 8}, {64, 1}};
    rng r = {0xbbb};
    for (size_t in = 0; in < sizeof ns / sizeof ns[0]; in++)
        for (size_t is = 0; is < sizeof shapes / sizeof shapes[0]; is++)
            for (int causal = 0; causal < 2; causal++) {
                int64_t n = ns[in], d = shapes[is][0], heads = shapes[is][1], dh = d / heads;
                int64_t ldq = 3 * d + 3, ldy = d + 1;
                float *qkv = buf_alloc((n - 1) * ldq + 3 * d), *y = buf_alloc((n - 1) * ldy + d);
                float *scratch = buf_alloc(sl_rt_attention_scratch(n, d, heads));
                double *sc = malloc((size_t)n * sizeof *sc);
                buf_fill(&r, qkv, (n - 1) * ldq + 3 * d, -3.0f, 3.0f);
                sl_rt_attention(qkv, ldq, y, ldy, n, d, heads, causal, scratch);
                double inv_root = 1.0 / sqrt((double)dh);
                for (int64_t t = 0; t < n; t++) {
                    int64_t nv = causal ? t + 1 : n;
                    for (int64_t j = 0; j < heads; j++) {
                        double m = -INFINITY, a = 0.0, lse = 0.0;
                        for (int64_t s = 0; s < nv; s++) {
                            double dot = 0.0, abs = 0.0;
                            for (int64_t e = 0; e < dh; e++) {
                                double prod = (double)qkv[t * ldq + j * dh + e] *
                                              qkv[s * ldq + d + j * dh + e];
                                dot += prod;
                                abs += fabs(prod);
                            }
                            sc[s] = dot * inv_root;
                            m = fmax(m, sc[s]);
                            a = fmax(a, abs * inv_root);
                        }
                        for (int64_t s = 0; s < nv; s++)
                            lse += exp(sc[s] - m);
                        lse = m + log(lse);
                        for (int64_t e = 0; e < dh; e++) {
                            double exact = 0.0, terms = 0.0;
                            for (int64_t s = 0; s < nv; s++) {
                                double wv = exp(sc[s] - lse) * qkv[s * ldq + 2 * d + j * dh + e];
                                exact += wv;
                                terms += fabs(wv);
                            }
                            float got = y[t * ldy + j * dh + e];
                            check_count++;
                            if (!(fabs(got - exact) <= FLT_EPSILON * fabs(exact) +
                                                           16.0 * (double)(nv + dh) * (1.0 + a) *
                                                               DBL_EPSILON * terms))
                                check_fail("scalar attention n=%lld d=%lld heads=%lld causal=%d: "
                                           "y[%lld][%lld] = %.9g, double gives %.17g",
                                           (long long)n, (long long)d, (long long)heads, causal,
                                           (long long)t, (long long)(j * dh + e), got, exact);
                        }
                    }
                }
                buf_free(qkv);
                buf_free(y);
                buf_free(scratch);
                free(sc);
            }
}

int main(void)
{
    use_isa(SL_ISA_SCALAR);
    test_elementwise();
    test_dense();
    test_whole_vector();
    test_reductions();
    test_attention();
    return check_summary("test_reference");
}
