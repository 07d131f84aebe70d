/* test_semantics.c - what the kernels promise, checked as explicit values on
 * every level (scalar and each SIMD level the CPU has): NaN and infinity
 * rules, ties, sizes <= 0; for the dense layer, the refusal of impossible
 * sizes, subnormal weights packed as 0, the canonical bias, NaN and inf,
 * batch invariance bit for bit, that a pack copies its weights, keeps its
 * level, and that zero-skipping never reads a zero input's weights; that the
 * SIMD levels agree bit for bit on the transcendental functions and on
 * dense; and the row-list helpers against direct constructions.  Attention:
 * one token gives v, a causal first row gives v_0, a key scored -inf or
 * -1e30 weighs nothing, a NaN query makes its row's head NaN and nothing
 * else, results independent of scratch contents (NaN-poisoned), of
 * alignment and strides, and of later tokens when causal, the same bits on
 * every call; the abort when heads does not divide d. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "kernel_table.h" /* struct sl_dense_pack: test_dense_zskip_never_read */

static const char *isa; /* the level under test, for messages */

static void expect_f(const char *what, float got, float want)
{
    check_count++;
    if (ulp_diff(got, want) != 0 && !(got == 0.0f && want == 0.0f))
        check_fail("%s %s: got %.9g, want %.9g", isa, what, got, want);
}

static void expect_near(const char *what, float got, double want, int64_t ulps)
{
    check_count++;
    if (ulp_diff(got, (float)want) > ulps)
        check_fail("%s %s: got %.9g, want %.9g", isa, what, got, (float)want);
}

static void expect_i(const char *what, int64_t got, int64_t want)
{
    check_count++;
    if (got != want)
        check_fail("%s %s: got %lld, want %lld", isa, what, (long long)got, (long long)want);
}

/* One unary kernel at one point, in a vector of 17 (so it passes both the
 * main loop and the masked tail at every level). */
static void expect_unary(const char *what, void (*fn)(const float *, float *, int64_t),
                         float x, float want, int64_t ulps)
{
    float in[17], out[17];
    for (int i = 0; i < 17; i++)
        in[i] = x;
    fn(in, out, 17);
    for (int i = 0; i < 17; i++) {
        char w[64];
        snprintf(w, sizeof w, "%s(%g) [%d]", what, x, i);
        if (ulps == 0)
            expect_f(w, out[i], want);
        else
            expect_near(w, out[i], want, ulps);
    }
}

static void test_elementwise_specials(void)
{
    expect_unary("exp", sl_rt_exp, -INFINITY, 0.0f, 0);
    expect_unary("exp", sl_rt_exp, INFINITY, INFINITY, 0);
    expect_unary("exp", sl_rt_exp, NAN, NAN, 0);
    expect_unary("exp", sl_rt_exp, 0.0f, 1.0f, 0);
    expect_unary("exp", sl_rt_exp, 89.0f, INFINITY, 0);
    expect_unary("exp", sl_rt_exp, -104.0f, 0.0f, 0);
    expect_unary("exp", sl_rt_exp, 88.5f, (float)exp(88.5), 1);
    expect_unary("exp", sl_rt_exp, -100.0f, (float)exp(-100.0), 1);
    expect_unary("log", sl_rt_log, 0.0f, -INFINITY, 0);
    expect_unary("log", sl_rt_log, -0.0f, -INFINITY, 0);
    expect_unary("log", sl_rt_log, -1.0f, NAN, 0);
    expect_unary("log", sl_rt_log, INFINITY, INFINITY, 0);
    expect_unary("log", sl_rt_log, NAN, NAN, 0);
    expect_unary("log", sl_rt_log, 1.0f, 0.0f, 0);
    expect_unary("log", sl_rt_log, 1e-40f, (float)log(1e-40f), 1);
    expect_unary("tanh", sl_rt_tanh, INFINITY, 1.0f, 0);
    expect_unary("tanh", sl_rt_tanh, -INFINITY, -1.0f, 0);
    expect_unary("tanh", sl_rt_tanh, 0.0f, 0.0f, 0);
    expect_unary("tanh", sl_rt_tanh, NAN, NAN, 0);
    expect_unary("sigmoid", sl_rt_sigmoid, INFINITY, 1.0f, 0);
    expect_unary("sigmoid", sl_rt_sigmoid, -INFINITY, 0.0f, 0);
    expect_unary("sigmoid", sl_rt_sigmoid, 0.0f, 0.5f, 0);
    expect_unary("sigmoid", sl_rt_sigmoid, NAN, NAN, 0);
    expect_unary("sigmoid", sl_rt_sigmoid, -95.0f, (float)exp(-95.0), 2);
    /* PyTorch: x * Phi(x) at x = -inf is -inf * 0 = NaN. */
    expect_unary("gelu", sl_rt_gelu, INFINITY, INFINITY, 0);
    expect_unary("gelu", sl_rt_gelu, -INFINITY, NAN, 0);
    expect_unary("gelu", sl_rt_gelu, 0.0f, 0.0f, 0);
    expect_unary("gelu", sl_rt_gelu, NAN, NAN, 0);
    expect_unary("gelu", sl_rt_gelu, 1.0f, 0.8413447460685429, 4);
    expect_unary("gelu", sl_rt_gelu, -1.0f, -0.15865525393145707, 4);
    expect_unary("gelu_tanh", sl_rt_gelu_tanh, INFINITY, INFINITY, 0);
    expect_unary("gelu_tanh", sl_rt_gelu_tanh, -INFINITY, NAN, 0);
    expect_unary("gelu_tanh", sl_rt_gelu_tanh, 0.0f, 0.0f, 0);
    expect_unary("gelu_tanh", sl_rt_gelu_tanh, 1.0f, 0.8411919906082768, 4);
}

static void test_reduction_rules(void)
{
    const float a[] = {1.0f, NAN, 5.0f, NAN, 2.0f};
    expect_f("max with NaN", sl_rt_max(a, 5), NAN);
    expect_f("min with NaN", sl_rt_min(a, 5), NAN);
    expect_i("argmax with NaN (first NaN)", sl_rt_argmax(a, 5), 1);
    expect_f("margin with NaN", sl_rt_margin(a, 5), NAN);
    const float t[] = {3.0f, 7.0f, 1.0f, 7.0f, -2.0f, 7.0f};
    expect_i("argmax ties (first)", sl_rt_argmax(t, 6), 1);
    expect_f("margin ties", sl_rt_margin(t, 6), 0.0f);
    expect_f("margin", sl_rt_margin(t, 3), 4.0f);
    expect_f("max", sl_rt_max(t, 6), 7.0f);
    expect_f("min", sl_rt_min(t, 6), -2.0f);
    expect_f("sum", sl_rt_sum(t, 6), 23.0f);
    int32_t idx[6];
    float val[6];
    sl_rt_topk(t, 6, 4, idx, val);
    const int32_t want_idx[4] = {1, 3, 5, 0};
    for (int j = 0; j < 4; j++) {
        expect_i("topk ties: index", idx[j], want_idx[j]);
        expect_f("topk ties: value", val[j], t[want_idx[j]]);
    }
    sl_rt_topk(a, 5, 3, idx, NULL); /* NaNs first, in index order */
    expect_i("topk NaN [0]", idx[0], 1);
    expect_i("topk NaN [1]", idx[1], 3);
    expect_i("topk NaN [2]", idx[2], 2);
    /* A NaN past the first vector and in the masked tail. */
    float big[37];
    for (int i = 0; i < 37; i++)
        big[i] = (float)i;
    big[35] = NAN;
    expect_i("argmax NaN in the tail", sl_rt_argmax(big, 37), 35);
    expect_f("max NaN in the tail", sl_rt_max(big, 37), NAN);
    big[35] = 0.0f;
    big[2] = INFINITY;
    big[30] = -INFINITY;
    expect_i("argmax inf", sl_rt_argmax(big, 37), 2);
    expect_f("max inf", sl_rt_max(big, 37), INFINITY);
    expect_f("min -inf", sl_rt_min(big, 37), -INFINITY);
    const float p[] = {0.5f, 0.0f, 0.5f, 0.0f};
    expect_near("entropy", sl_rt_entropy(p, 4), log(2.0), 1);
    const float one[] = {0.0f, 1.0f, 0.0f};
    expect_f("entropy of a certainty", sl_rt_entropy(one, 3), 0.0f);
    check_count++;
    if (signbit(sl_rt_entropy(one, 3)))
        check_fail("%s entropy of a certainty: got -0, want +0", isa);
}

static void test_whole_vector_rules(void)
{
    float y[4];
    const float x1[] = {-INFINITY, 0.0f};
    sl_rt_softmax(x1, y, 2);
    expect_f("softmax(-inf, 0)[0]", y[0], 0.0f);
    expect_f("softmax(-inf, 0)[1]", y[1], 1.0f);
    const float x2[] = {NAN, 1.0f, 2.0f};
    sl_rt_softmax(x2, y, 3);
    for (int i = 0; i < 3; i++)
        expect_f("softmax with NaN", y[i], NAN);
    const float x3[] = {2.0f, 2.0f, 2.0f, 2.0f};
    sl_rt_softmax(x3, y, 4);
    for (int i = 0; i < 4; i++)
        expect_f("softmax of equal values", y[i], 0.25f);
    sl_rt_log_softmax(x3, y, 2);
    expect_near("log_softmax of two equal values", y[0], -log(2.0), 1);
    const float beta[] = {1.0f, 2.0f, 3.0f, 4.0f};
    sl_rt_layernorm(x3, NULL, beta, y, 4, 1e-5f);
    for (int i = 0; i < 4; i++)
        expect_f("layernorm of a constant", y[i], beta[i]);
    const float x4[] = {1.0f, 3.0f};
    sl_rt_layernorm(x4, NULL, NULL, y, 2, 0.0f);
    expect_f("layernorm biased variance [0]", y[0], -1.0f);
    expect_f("layernorm biased variance [1]", y[1], 1.0f);
}

/* Bit for bit, the sign of a zero included. */
static void expect_bits(const char *what, float got, float want)
{
    check_count++;
    if (memcmp(&got, &want, sizeof got) != 0)
        check_fail("%s %s: got %.9g (%s), want %.9g (%s)", isa, what, got,
                   signbit(got) ? "sign set" : "sign clear", want,
                   signbit(want) ? "sign set" : "sign clear");
}

/* n <= 0 does nothing; reductions return their identities. */
static void test_empty(void)
{
    float x[2] = {1.0f, 2.0f}, y[2] = {7.0f, 7.0f};
    int32_t idx[2] = {9, 9};
    const float w[2] = {1.0f, 1.0f};
    sl_rt_exp(x, y, -5);
    sl_rt_gelu(x, y, 0);
    sl_rt_softmax(x, y, 0);
    sl_rt_log_softmax(x, y, -1);
    sl_rt_layernorm(x, NULL, NULL, y, 0, 1e-5f);
    sl_dense_pack *p = sl_rt_dense_pack(w, NULL, 2, 1, NULL);
    sl_rt_dense_rows(p, x, 2, y, 1, NULL, 0, 0);
    sl_rt_dense_rows(p, x, 2, y, 1, NULL, -1, 1);
    sl_rt_dense_pack_free(p);
    sl_rt_dense_pack_free(NULL);
    sl_rt_topk(x, 0, 1, idx, NULL);
    sl_rt_topk(x, 2, 0, idx, NULL);
    expect_f("untouched by n <= 0", y[0], 7.0f);
    expect_f("untouched by n <= 0", y[1], 7.0f);
    expect_i("topk untouched by n <= 0", idx[0], 9);
    expect_f("max of nothing", sl_rt_max(x, 0), -INFINITY);
    expect_f("min of nothing", sl_rt_min(x, 0), INFINITY);
    expect_f("sum of nothing", sl_rt_sum(x, 0), 0.0f);
    expect_f("entropy of nothing", sl_rt_entropy(x, 0), 0.0f);
    expect_i("argmax of nothing", sl_rt_argmax(x, 0), -1);
    expect_f("margin of one", sl_rt_margin(x, 1), NAN);
    sl_rt_topk(x, 2, 5, idx, NULL);
    expect_i("topk k > n [0]", idx[0], 1);
    expect_i("topk k > n [1]", idx[1], 0);
}

/* ---- dense -------------------------------------------------------------- */

static sl_dense_pack *pack_or_fail(const float *w, const float *b, int64_t n_in, int64_t n_out)
{
    sl_error err;
    sl_dense_pack *p = sl_rt_dense_pack(w, b, n_in, n_out, &err);
    if (!p)
        check_fail("%s dense_pack %lld -> %lld: %s", isa, (long long)n_in, (long long)n_out,
                   err.msg);
    return p;
}

/* A layer of sizes too small to exist is refused with a message naming
 * them, at every level; err may be NULL. */
static void test_dense_pack_refuses(void)
{
    static const int64_t bad[][2] = {{0, 2}, {3, 0}, {-1, 4}, {5, -3}, {0, 0}};
    const float w[4] = {1.0f, 2.0f, 3.0f, 4.0f};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sl_error err;
        char want[128], what[64];
        snprintf(want, sizeof want, "sl_rt_dense_pack: a dense layer of %lld inputs and %lld "
                 "outputs", (long long)bad[i][0], (long long)bad[i][1]);
        snprintf(what, sizeof what, "dense_pack(%lld, %lld)", (long long)bad[i][0],
                 (long long)bad[i][1]);
        err.msg[0] = '\0';
        sl_dense_pack *p = sl_rt_dense_pack(w, NULL, bad[i][0], bad[i][1], &err);
        check_count++;
        if (p || strcmp(err.msg, want) != 0)
            check_fail("%s %s: %s, message \"%s\"; want NULL and \"%s\"", isa, what,
                       p ? "a pack" : "NULL", err.msg, want);
        sl_rt_dense_pack_free(p);
        check_count++;
        if ((p = sl_rt_dense_pack(w, NULL, bad[i][0], bad[i][1], NULL)) != NULL)
            check_fail("%s %s with err NULL: a pack", isa, what);
        sl_rt_dense_pack_free(p);
    }
}

/* Run p over rows (NULL: 0 .. n-1) of x (rows of n_in) into y (rows of
 * n_out). */
static void run_rows(const sl_dense_pack *p, const float *x, int64_t n_in, float *y,
                     int64_t n_out, const int32_t *rows, int64_t n, int zero_skip)
{
    sl_rt_dense_rows(p, x, n_in, y, n_out, rows, n, zero_skip);
}

/* Weights below f32's normal range are packed as 0 (SIMD levels; the scalar
 * level reads w in place and counts them): with x = 1 they add nothing, while
 * FLT_MIN, the smallest normal weight, is kept.  Through a multi-row tile and
 * a row alone, zero-skipping on and off. */
static void test_dense_subnormal_weights(sl_isa level)
{
    if (level == SL_ISA_SCALAR)
        return;
    enum { N_IN = 3, N_OUT = 37, N = 7 };
    float w[N_OUT * N_IN], x[N * N_IN], y[N * N_OUT];
    for (int o = 0; o < N_OUT; o++) {
        w[o * N_IN + 0] = o % 2 ? 1e-40f : FLT_MIN;
        w[o * N_IN + 1] = -1e-40f;
        w[o * N_IN + 2] = o % 3 ? 0x1p-149f : -0x1.fffffcp-127f; /* smallest, largest */
    }
    for (int i = 0; i < N * N_IN; i++)
        x[i] = 1.0f;
    sl_dense_pack *p = pack_or_fail(w, NULL, N_IN, N_OUT);
    if (!p)
        return;
    for (int zs = 0; zs < 2; zs++) {
        run_rows(p, x, N_IN, y, N_OUT, NULL, N, zs); /* a tile of 6 and a row alone */
        for (int r = 0; r < N; r++)
            for (int o = 0; o < N_OUT; o++) {
                char what[96];
                snprintf(what, sizeof what, "dense_rows subnormal weights, x = 1, row %d "
                         "[%d], zero_skip %d", r, o, zs);
                expect_bits(what, y[r * N_OUT + o], o % 2 ? 0.0f : FLT_MIN);
            }
    }
    sl_rt_dense_pack_free(p);
}

/* The bias is canonicalized (b + 0.0f), so a zero sum plus a -0 bias is
 * +0: with x = 0 at every level, and at the SIMD levels also where the
 * float chain itself ends at -0 (a product that underflows to -0, which
 * the scalar level's double sum keeps as -1e-60 and rounds to -0). */
static void test_dense_negative_zero_bias(sl_isa level)
{
    enum { N = 7 };
    const float w[2] = {-1.0f, 1e-30f}, b[2] = {-0.0f, -0.0f};
    float x[N], y[N * 2];
    for (int case_ = 0; case_ < 2; case_++) {
        if (case_ == 1 && level == SL_ISA_SCALAR)
            break;
        for (int i = 0; i < N; i++)
            x[i] = case_ == 0 ? 0.0f : -1e-30f;
        sl_dense_pack *p = pack_or_fail(w + case_, b, 1, 1);
        if (!p)
            return;
        for (int zs = 0; zs < 2; zs++) {
            run_rows(p, x, 1, y, 1, NULL, N, zs);
            for (int r = 0; r < N; r++) {
                char what[96];
                snprintf(what, sizeof what, "dense_rows bias -0, %s, row %d, zero_skip %d",
                         case_ == 0 ? "x = 0" : "product underflows to -0", r, zs);
                expect_bits(what, y[r], 0.0f);
            }
        }
        sl_rt_dense_pack_free(p);
    }
}

/* What test_dense_nan_inf expects: 0 finite, 1 +inf, -1 -inf, 2 NaN. */
static int nan_inf_want(int table, int r, int o)
{
    if (table == 0) {
        if (r == 0)
            return 2; /* a NaN input */
        if (r == 1 || r == 2) /* +-inf against weights +1, -1, 0 by o % 3 */
            return o % 3 == 2 ? 2 : (o % 3 == 0) == (r == 1) ? 1 : -1;
        return 0;
    }
    if (o == 11)
        return 2; /* a NaN bias */
    if (o == 20)
        return r == 0 ? 2 : 1; /* an inf weight against x = 0, x = 1 */
    return 0;
}

/* NaN and infinity propagate as IEEE arithmetic says, zero_skip off: a NaN
 * input makes every output NaN; +-inf times a weight of either sign is inf
 * of the product's sign, times 0 NaN; a NaN bias gives NaN; an inf weight
 * times x = 0 is NaN.  In a tile of 5, a tile of 2 and rows alone; and,
 * for the finite weights (table 0), rows alone with zero-skipping, which
 * skips only zeros. */
static void test_dense_nan_inf(void)
{
    enum { N_IN = 20, N_OUT = 37, N = 5 };
    float w[N_OUT * N_IN], b[N_OUT], x[N * N_IN], y[N * N_OUT];
    for (int table = 0; table < 2; table++) {
        for (int o = 0; o < N_OUT; o++) {
            b[o] = table == 1 && o == 11 ? NAN : 0.25f;
            for (int k = 0; k < N_IN; k++)
                w[o * N_IN + k] = (float)((o + 2 * k) % 5 + 1) * 0.125f;
            if (table == 0)
                w[o * N_IN + 7] = o % 3 == 0 ? 1.0f : o % 3 == 1 ? -1.0f : 0.0f;
            else if (o == 20)
                w[o * N_IN + 9] = INFINITY;
        }
        for (int r = 0; r < N; r++)
            for (int k = 0; k < N_IN; k++)
                x[r * N_IN + k] = (float)((r + k) % 4) * 0.5f;
        if (table == 0) {
            x[0 * N_IN + 5] = NAN;
            x[1 * N_IN + 7] = INFINITY;
            x[2 * N_IN + 7] = -INFINITY;
        } else {
            for (int r = 0; r < N; r++)
                x[r * N_IN + 9] = r == 0 ? 0.0f : 1.0f;
        }
        sl_dense_pack *p = pack_or_fail(w, b, N_IN, N_OUT);
        if (!p)
            return;
        static const int32_t order[N] = {4, 2, 0, 3, 1};
        for (int form = 0; form < 4; form++) {
            /* 0: the five rows in one call (a tile of 5); 1: 2 + 2 + 1;
             * 2: each alone; 3: each alone, zero-skipping */
            if (form == 3 && table == 1)
                break; /* zero-skipping needs finite weights */
            for (int i = 0; i < N * N_OUT; i++)
                y[i] = canary();
            if (form == 0)
                run_rows(p, x, N_IN, y, N_OUT, order, N, 0);
            else if (form == 1)
                for (int i = 0; i < N; i += 2)
                    run_rows(p, x, N_IN, y, N_OUT, order + i, i + 2 <= N ? 2 : 1, 0);
            else
                for (int i = 0; i < N; i++)
                    run_rows(p, x, N_IN, y, N_OUT, order + i, 1, form == 3);
            for (int r = 0; r < N; r++)
                for (int o = 0; o < N_OUT; o++) {
                    float got = y[r * N_OUT + o];
                    int want = nan_inf_want(table, r, o);
                    check_count++;
                    if (is_canary(got) || (want == 2 ? !isnan(got)
                                           : want ? !(isinf(got) && (got > 0) == (want > 0))
                                                  : !isfinite(got)))
                        check_fail("%s dense_rows NaN/inf: table %d form %d row %d [%d]: got "
                                   "%g, want %s", isa, table, form, r, o, got,
                                   want == 2 ? "NaN" : want > 0 ? "+inf" : want ? "-inf"
                                                                                : "finite");
                }
        }
        sl_rt_dense_pack_free(p);
    }
}

/* Rows of n_in for the bit-for-bit tests: about half exact zeros (some of
 * them -0.0), row 1 all zero, row 2 none. */
static void invariance_input(rng *g, float *x, int64_t rows, int64_t n_in)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t k = 0; k < n_in; k++) {
            int zero = r == 1 || (r != 2 && rng_next(g) % 2);
            x[r * n_in + k] = zero ? (rng_next(g) % 4 ? 0.0f : -0.0f)
                                   : rng_uniform(g, -1.0f, 1.0f);
        }
}

/* Shapes for the bit-for-bit tests: one- to four-vector panels, panel
 * counts that leave the single-row path's panel groups partial, and a k
 * range past zero-skipping's chunk of 4096. */
static const int64_t inv_shapes[][2] = {{1, 1},    {3, 17},    {17, 65},  {64, 64},
                                        {65, 33},  {16, 200},  {300, 129}, {7, 1000},
                                        {1000, 100}, {5000, 40}};
#define N_INV_SHAPES (int)(sizeof inv_shapes / sizeof inv_shapes[0])

/* Rows of got (at got + pos(r) * ldg) against want (rows of n_out): one
 * check, a message naming the first row that differs. */
static void expect_same_rows(const char *what, int64_t n_in, int64_t n_out, const float *got,
                             int64_t ldg, const int32_t *pos, const float *want, int64_t rows)
{
    int64_t bad = 0, first = -1;
    for (int64_t r = 0; r < rows; r++)
        if (memcmp(got + (pos ? pos[r] : r) * ldg, want + r * n_out,
                   (size_t)n_out * sizeof(float)) != 0) {
            bad++;
            if (first < 0)
                first = r;
        }
    check_count++;
    if (bad)
        check_fail("%s dense_rows %lld -> %lld, %s: %lld of %lld rows differ from the row "
                   "computed alone (first: row %lld)", isa, (long long)n_in, (long long)n_out,
                   what, (long long)bad, (long long)rows, (long long)first);
}

/* Batch invariance: every row computed alone (one row, zero_skip off) has
 * the same bits as when computed alone with zero-skipping, with all rows in
 * one call, in shuffled batches of 2, 5, 6, 7, 13 and 64 (zero_skip on for
 * some), and at other positions and strides. */
static void test_dense_batch_invariance(void)
{
    enum { R = 64 };
    static const int64_t batch[] = {2, 5, 6, 7, 13, 64};
    rng g = {0xba7c4};
    for (int s = 0; s < N_INV_SHAPES; s++) {
        int64_t n_in = inv_shapes[s][0], n_out = inv_shapes[s][1];
        int64_t ldx2 = n_in + 3, ldy2 = n_out + 5;
        float *w = buf_alloc(n_in * n_out), *b = buf_alloc(n_out), *x = buf_alloc(R * n_in);
        float *alone = buf_alloc(R * n_out), *y = buf_alloc(R * n_out);
        float *x2 = buf_alloc(2 * R * ldx2), *y2 = buf_alloc(2 * R * ldy2);
        buf_fill(&g, w, n_in * n_out, -1.0f, 1.0f);
        buf_fill(&g, b, n_out, -1.0f, 1.0f);
        invariance_input(&g, x, R, n_in);
        sl_dense_pack *p = pack_or_fail(w, b, n_in, n_out);
        if (!p)
            goto next;
        int32_t perm[R], pos[R];
        for (int32_t r = 0; r < R; r++)
            run_rows(p, x, n_in, alone, n_out, &r, 1, 0);
        for (int32_t r = 0; r < R; r++)
            run_rows(p, x, n_in, y, n_out, &r, 1, 1);
        expect_same_rows("alone, zero-skipping", n_in, n_out, y, n_out, NULL, alone, R);
        run_rows(p, x, n_in, y, n_out, NULL, R, 0);
        expect_same_rows("all rows in one call", n_in, n_out, y, n_out, NULL, alone, R);
        for (size_t bi = 0; bi < sizeof batch / sizeof batch[0]; bi++) {
            for (int32_t r = 0; r < R; r++)
                perm[r] = r;
            shuffle_rows(&g, perm, R);
            for (int64_t i = 0; i < R; i += batch[bi])
                run_rows(p, x, n_in, y, n_out, perm + i, R - i < batch[bi] ? R - i : batch[bi],
                         (int)(bi % 2));
            char what[64];
            snprintf(what, sizeof what, "shuffled batches of %lld", (long long)batch[bi]);
            expect_same_rows(what, n_in, n_out, y, n_out, NULL, alone, R);
        }
        /* Row r at position 2 (R - 1 - r) + 1 of 2R, strides ldx2 and ldy2. */
        for (int64_t j = 0; j < 2 * R * ldx2; j++)
            x2[j] = NAN;
        for (int32_t r = 0; r < R; r++) {
            pos[r] = 2 * (R - 1 - r) + 1;
            memcpy(x2 + pos[r] * ldx2, x + r * n_in, (size_t)n_in * sizeof(float));
        }
        sl_rt_dense_rows(p, x2, ldx2, y2, ldy2, pos, R, 0);
        expect_same_rows("other positions and strides", n_in, n_out, y2, ldy2, pos, alone, R);
        for (int64_t i = 0; i < R; i += 7)
            sl_rt_dense_rows(p, x2, ldx2, y2, ldy2, pos + i, R - i < 7 ? R - i : 7, 1);
        expect_same_rows("other positions and strides, batches of 7", n_in, n_out, y2, ldy2,
                         pos, alone, R);
        sl_rt_dense_pack_free(p);
    next:
        buf_free(w);
        buf_free(b);
        buf_free(x);
        buf_free(alone);
        buf_free(y);
        buf_free(x2);
        buf_free(y2);
    }
}

/* Workers for sl_rt_set_workers that run the items in reverse order, on
 * this thread: the split must not depend on who runs which chunk, or when. */
static int64_t fan_items;
static void reverse_run(void *self, void (*fn)(void *arg, int64_t i), void *arg, int64_t n)
{
    (void)self;
    fan_items += n;
    for (int64_t i = n; i-- > 0;)
        fn(arg, i);
}

/* A call cut into ranges of output panels between (fake) threads gives the
 * same bits as one uncut: big layers (cut), small ones (not cut), one row
 * and many, with and without zero-skipping. */
static void test_dense_split(void)
{
    static const int64_t shapes[][2] = {{512, 512}, {1024, 300}, {600, 17}, {64, 64}};
    static const int64_t rows[] = {1, 3, 40};
    rng g = {0x5b117};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t n_in = shapes[s][0], n_out = shapes[s][1], R = 40;
        float *w = buf_alloc(n_in * n_out), *b = buf_alloc(n_out), *x = buf_alloc(R * n_in);
        float *want = buf_alloc(R * n_out), *got = buf_alloc(R * n_out);
        buf_fill(&g, w, n_in * n_out, -1.0f, 1.0f);
        buf_fill(&g, b, n_out, -1.0f, 1.0f);
        invariance_input(&g, x, R, n_in);
        sl_dense_pack *p = pack_or_fail(w, b, n_in, n_out);
        for (size_t ri = 0; p && ri < sizeof rows / sizeof rows[0]; ri++)
            for (int zs = 0; zs < 2; zs++) {
                for (int threads = 2; threads <= 3; threads++) {
                    sl_rt_workers wk = {reverse_run, NULL, threads};
                    sl_rt_dense_rows(p, x, n_in, want, n_out, NULL, rows[ri], zs);
                    int64_t before = fan_items;
                    sl_rt_set_workers(&wk);
                    sl_rt_dense_rows(p, x, n_in, got, n_out, NULL, rows[ri], zs);
                    sl_rt_set_workers(NULL);
                    char what[80];
                    snprintf(what, sizeof what, "cut between %d threads, zero_skip %d", threads,
                             zs);
                    expect_same_rows(what, n_in, n_out, got, n_out, NULL, want, rows[ri]);
                    /* cut when it repays the hand-off: 2^18 weights or 2^22 FLOPs
                     * (512 x 512 and 1024 x 300 are; 600 x 17 and 64 x 64 not) */
                    int64_t weights = n_in * n_out;
                    int big = weights >= (1 << 18) || 2 * rows[ri] * weights >= (1 << 22);
                    check_count++;
                    if ((fan_items > before) != big)
                        check_fail("%s dense_rows %lld -> %lld: cut %s", isa, (long long)n_in,
                                   (long long)n_out, fan_items > before ? "but small" :
                                   "not, though big");
                }
            }
        sl_rt_dense_pack_free(p);
        buf_free(w);
        buf_free(b);
        buf_free(x);
        buf_free(want);
        buf_free(got);
    }
}

/* The SIMD levels run the same FMA chain per output, so their dense
 * results agree bit for bit: rows alone and all in one call. */
static void test_dense_levels_agree(const sl_isa *simd, int n_simd)
{
    enum { R = 19 };
    rng g = {0xa9ee};
    for (int s = 0; s < N_INV_SHAPES && n_simd > 1; s++) {
        int64_t n_in = inv_shapes[s][0], n_out = inv_shapes[s][1];
        float *w = buf_alloc(n_in * n_out), *b = buf_alloc(n_out), *x = buf_alloc(R * n_in);
        float *y[2] = {buf_alloc(2 * R * n_out), buf_alloc(2 * R * n_out)};
        buf_fill(&g, w, n_in * n_out, -1.0f, 1.0f);
        buf_fill(&g, b, n_out, -1.0f, 1.0f);
        invariance_input(&g, x, R, n_in);
        for (int l = 0; l < n_simd; l++) {
            use_isa(simd[l]);
            sl_dense_pack *p = sl_rt_dense_pack(w, b, n_in, n_out, NULL);
            float *yl = y[l ? 1 : 0];
            sl_rt_dense_rows(p, x, n_in, yl, n_out, NULL, R, 0);
            for (int32_t r = 0; r < R; r++)
                sl_rt_dense_rows(p, x, n_in, yl + R * n_out, n_out, &r, 1, r % 2);
            sl_rt_dense_pack_free(p);
            check_count++;
            if (l > 0 && memcmp(y[0], y[1], (size_t)(2 * R * n_out) * sizeof(float)) != 0)
                check_fail("dense_rows %lld -> %lld: %s and %s differ", (long long)n_in,
                           (long long)n_out, sl_rt_isa_name(simd[0]), sl_rt_isa_name(simd[l]));
        }
        buf_free(w);
        buf_free(b);
        buf_free(x);
        buf_free(y[0]);
        buf_free(y[1]);
    }
}

/* A pack runs on the level that made it, whatever sl_rt_set_isa chose
 * since: each level's pack, run after switching to every level, gives the
 * bits it gave on its own level (another level's kernel would misread the
 * panels, or, for four-vector panels on AVX2, write nothing). */
static void test_dense_pack_keeps_level(const sl_isa *all, int n_all)
{
    static const int64_t n_outs[] = {5, 20, 100};
    enum { N_IN = 33, R = 7 };
    rng g = {0x1e7e1};
    for (int s = 0; s < 3; s++) {
        int64_t n_out = n_outs[s];
        float *w = buf_alloc(N_IN * n_out), *x = buf_alloc(R * N_IN);
        float *want = buf_alloc((R + 1) * n_out), *got = buf_alloc((R + 1) * n_out);
        buf_fill(&g, w, N_IN * n_out, -1.0f, 1.0f);
        buf_fill(&g, x, R * N_IN, -1.0f, 1.0f);
        for (int a = 0; a < n_all; a++) {
            use_isa(all[a]);
            sl_dense_pack *p = sl_rt_dense_pack(w, NULL, N_IN, n_out, NULL);
            sl_rt_dense_rows(p, x, N_IN, want, n_out, NULL, R, 0);     /* a tile and a row */
            sl_rt_dense_rows(p, x, N_IN, want + R * n_out, n_out, NULL, 1, 0); /* alone */
            for (int l = 0; l < n_all; l++) {
                use_isa(all[l]);
                for (int64_t j = 0; j < (R + 1) * n_out; j++)
                    got[j] = canary();
                sl_rt_dense_rows(p, x, N_IN, got, n_out, NULL, R, 0);
                sl_rt_dense_rows(p, x, N_IN, got + R * n_out, n_out, NULL, 1, 0);
                check_count++;
                if (memcmp(got, want, (size_t)((R + 1) * n_out) * sizeof(float)) != 0)
                    check_fail("dense_rows 33 -> %lld: a pack made at %s gives other results "
                               "once the level is %s", (long long)n_out,
                               sl_rt_isa_name(all[a]), sl_rt_isa_name(all[l]));
            }
            sl_rt_dense_pack_free(p);
        }
        buf_free(w);
        buf_free(x);
        buf_free(want);
        buf_free(got);
    }
}

/* The SIMD levels' packs copy what they need: a pack made from buffers that
 * are then overwritten with NaN and freed (ASan flags a later read) gives
 * the results of a pack of the intact weights. */
static void test_dense_pack_copies(sl_isa level)
{
    if (level == SL_ISA_SCALAR)
        return; /* documented to read w in place */
    enum { N_IN = 70, N_OUT = 45, R = 8 };
    rng g = {0xc0b1e5};
    float *w = buf_alloc(N_IN * N_OUT), *b = buf_alloc(N_OUT), *x = buf_alloc(R * N_IN);
    float *want = buf_alloc(R * N_OUT), *got = buf_alloc(R * N_OUT);
    buf_fill(&g, w, N_IN * N_OUT, -1.0f, 1.0f);
    buf_fill(&g, b, N_OUT, -1.0f, 1.0f);
    buf_fill(&g, x, R * N_IN, -1.0f, 1.0f);
    float *wc = buf_copy(w, N_IN * N_OUT), *bc = buf_copy(b, N_OUT);
    sl_dense_pack *p = pack_or_fail(w, b, N_IN, N_OUT), *q = pack_or_fail(wc, bc, N_IN, N_OUT);
    for (int64_t j = 0; j < N_IN * N_OUT; j++)
        wc[j] = NAN;
    for (int64_t j = 0; j < N_OUT; j++)
        bc[j] = NAN;
    buf_free(wc);
    buf_free(bc);
    if (p && q) {
        sl_rt_dense_rows(p, x, N_IN, want, N_OUT, NULL, R - 1, 0);
        sl_rt_dense_rows(p, x, N_IN, want + (R - 1) * N_OUT, N_OUT, NULL, 1, 0);
        sl_rt_dense_rows(q, x, N_IN, got, N_OUT, NULL, R - 1, 0);
        sl_rt_dense_rows(q, x, N_IN, got + (R - 1) * N_OUT, N_OUT, NULL, 1, 0);
        check_count++;
        if (memcmp(got, want, sizeof(float) * R * N_OUT) != 0)
            check_fail("%s dense_rows: a pack whose source weights were freed differs", isa);
    }
    sl_rt_dense_pack_free(p);
    sl_rt_dense_pack_free(q);
    buf_free(w);
    buf_free(b);
    buf_free(x);
    buf_free(want);
    buf_free(got);
}

/* Zero-skipping never reads the weights of a zero input (SIMD levels; the
 * scalar level reads w in place, every k): the packed slices of those k
 * (panel p's nr floats at k) are overwritten with NaN, which would make
 * every output NaN if read (fma(0, NaN, acc) is NaN), so a row alone with
 * zero-skipping must give the clean pack's bits.  White-box: the layout is
 * kernel_table.h's.  The same pack without zero-skipping must give NaN,
 * which shows the poison is where the kernel reads. */
static void test_dense_zskip_never_read(sl_isa level)
{
    if (level == SL_ISA_SCALAR)
        return;
    static const int64_t shapes[][2] = {{40, 5}, {40, 20}, {40, 100}, {40, 300}, {5000, 70}};
    enum { R = 7 };
    rng g = {0x5e1ec7};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t n_in = shapes[s][0], n_out = shapes[s][1];
        float *w = buf_alloc(n_in * n_out), *b = buf_alloc(n_out), *x = buf_alloc(R * n_in);
        float *want = buf_alloc(n_out), *y = buf_alloc(R * n_out);
        buf_fill(&g, w, n_in * n_out, -1.0f, 1.0f);
        buf_fill(&g, b, n_out, -1.0f, 1.0f);
        buf_fill(&g, x, (R - 1) * n_in, 0.5f, 1.0f); /* rows 0-5: no zeros */
        float *xr = x + (R - 1) * n_in;              /* row 6: half zeros */
        invariance_input(&g, xr, 1, n_in);
        xr[0] = 0.0f;
        xr[n_in - 1] = -0.0f;
        sl_dense_pack *p = pack_or_fail(w, b, n_in, n_out);
        if (!p)
            goto next;
        sl_rt_dense_rows(p, xr, n_in, want, n_out, NULL, 1, 0);
        int64_t nr = (int64_t)p->nv * p->table->vw;
        for (int64_t q = 0; q < p->n_panels; q++)
            for (int64_t k = 0; k < n_in; k++)
                if (xr[k] == 0.0f)
                    for (int64_t j = 0; j < nr; j++)
                        p->panels[(q * n_in + k) * nr + j] = NAN;
        sl_rt_dense_rows(p, xr, n_in, y, n_out, NULL, 1, 1);
        check_count++;
        if (memcmp(y, want, (size_t)n_out * sizeof(float)) != 0)
            check_fail("%s dense_rows %lld -> %lld, a row alone, zero-skipping: read the "
                       "weights of a zero input (y[0] = %g)", isa, (long long)n_in,
                       (long long)n_out, y[0]);
        /* The last row of seven: a tile of six, then the row alone. */
        sl_rt_dense_rows(p, x, n_in, y, n_out, NULL, R, 1);
        check_count++;
        if (memcmp(y + (R - 1) * n_out, want, (size_t)n_out * sizeof(float)) != 0)
            check_fail("%s dense_rows %lld -> %lld, the row left after a tile, zero-skipping: "
                       "read the weights of a zero input", isa, (long long)n_in,
                       (long long)n_out);
        sl_rt_dense_rows(p, xr, n_in, y, n_out, NULL, 1, 0);
        int64_t nan = 0;
        for (int64_t o = 0; o < n_out; o++)
            nan += isnan(y[o]) != 0;
        check_count++;
        if (nan != n_out)
            check_fail("%s dense_rows %lld -> %lld: the poisoned pack without zero-skipping "
                       "gave %lld of %lld NaN (the test's idea of the layout is stale)", isa,
                       (long long)n_in, (long long)n_out, (long long)nan, (long long)n_out);
        sl_rt_dense_pack_free(p);
    next:
        buf_free(w);
        buf_free(b);
        buf_free(x);
        buf_free(want);
        buf_free(y);
    }
}

/* ---- row lists ---------------------------------------------------------- */

/* An int32 buffer of exactly n (ASan sees an overrun; n may be 0). */
static int32_t *ints(int64_t n)
{
    int32_t *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    if (!p)
        abort();
    return p;
}

/* Disjoint ascending lists, either side possibly empty, against the
 * ascending list of their union. */
static void test_rows_merge(void)
{
    rng g = {0x3e76e};
    for (int t = 0; t < 300; t++) {
        int64_t total = (int64_t)(rng_next(&g) % 70), na = 0, nb = 0;
        int32_t *a = ints(total), *b = ints(total), *want = ints(total);
        int64_t nw = 0;
        for (int32_t r = 0; r < total; r++) {
            uint64_t side = rng_next(&g) % 3; /* 0: a, 1: b, 2: neither */
            if (t % 5 == 0 && side == 0)
                side = 2; /* a empty */
            if (t % 5 == 1 && side == 1)
                side = 2; /* b empty */
            if (side == 2)
                continue;
            (side == 0 ? a : b)[side == 0 ? na++ : nb++] = r;
            want[nw++] = r;
        }
        int32_t *out = ints(na + nb);
        int64_t n = sl_rt_rows_merge(a, na, b, nb, out);
        check_count++;
        if (n != nw || memcmp(out, want, (size_t)nw * sizeof *out) != 0)
            check_fail("rows_merge of %lld and %lld rows: returned %lld, or a wrong list",
                       (long long)na, (long long)nb, (long long)n);
        free(a);
        free(b);
        free(want);
        free(out);
    }
}

/* Distinct token numbers in any order (as top-k gives them), put back in
 * ascending order; against the same numbers marked in a table. */
static void test_rows_sort(void)
{
    rng g = {0x5047};
    for (int t = 0; t < 300; t++) {
        int64_t n = (int64_t)(rng_next(&g) % 40), most = n + (int64_t)(rng_next(&g) % 20);
        int32_t *v = ints(n), *want = ints(n);
        unsigned char seen[64] = {0};
        for (int64_t i = 0; i < n; i++) {
            int32_t x;
            do
                x = (int32_t)(rng_next(&g) % (uint64_t)most);
            while (seen[x]);
            seen[x] = 1;
            v[i] = x;
        }
        int64_t nw = 0;
        for (int32_t x = 0; x < most; x++)
            if (seen[x])
                want[nw++] = x;
        sl_rt_rows_sort(v, n);
        check_count++;
        if (n && memcmp(v, want, (size_t)n * sizeof *v) != 0)
            check_fail("rows_sort of %lld tokens: not ascending or not the same", (long long)n);
        free(v);
        free(want);
    }
}

/* Random ascending row lists of a tile, k distinct choices per row among
 * n_experts (some experts never chosen), against the buckets built
 * directly: expert by expert, rows in list order, choices in order.  The
 * choices of rows not listed are valid but never read. */
static void test_rows_by_expert(void)
{
    rng g = {0xe4be27};
    for (int t = 0; t < 300; t++) {
        int64_t tile = 1 + (int64_t)(rng_next(&g) % 40), k = 1 + (int64_t)(rng_next(&g) % 3);
        int64_t n_experts = k + (int64_t)(rng_next(&g) % 6);
        /* Allowed experts: all, or every other (at least k of them). */
        int64_t stride = t % 3 == 0 && (n_experts + 1) / 2 >= k ? 2 : 1;
        int32_t *rows = ints(tile), *idx = ints(tile * k), *pick = ints(n_experts);
        int64_t n = 0;
        for (int32_t r = 0; r < tile; r++)
            if (t % 7 != 0 && rng_next(&g) % 3 != 0)
                rows[n++] = r; /* t % 7 == 0: no rows */
        for (int64_t r = 0; r < tile; r++) {
            int64_t m = 0;
            for (int64_t e = 0; e < n_experts; e += stride)
                pick[m++] = (int32_t)e;
            shuffle_rows(&g, pick, m);
            for (int64_t j = 0; j < k; j++)
                idx[r * k + j] = pick[j];
        }
        int32_t *start = ints(n_experts + 1), *brows = ints(n * k), *bpos = ints(n * k);
        int32_t *wstart = ints(n_experts + 1), *wrows = ints(n * k), *wpos = ints(n * k);
        int32_t m = 0;
        for (int64_t e = 0; e < n_experts; e++) {
            wstart[e] = m;
            for (int64_t i = 0; i < n; i++)
                for (int64_t j = 0; j < k; j++)
                    if (idx[rows[i] * k + j] == e) {
                        wrows[m] = rows[i];
                        wpos[m++] = (int32_t)(rows[i] * k + j);
                    }
        }
        wstart[n_experts] = m;
        sl_rt_rows_by_expert(rows, n, idx, k, n_experts, start, brows, bpos);
        check_count++;
        if (memcmp(start, wstart, (size_t)(n_experts + 1) * sizeof *start) != 0 ||
            memcmp(brows, wrows, (size_t)(n * k) * sizeof *brows) != 0 ||
            memcmp(bpos, wpos, (size_t)(n * k) * sizeof *bpos) != 0)
            check_fail("rows_by_expert: %lld rows of a tile of %lld, k = %lld, %lld experts: "
                       "buckets differ from the reference", (long long)n, (long long)tile,
                       (long long)k, (long long)n_experts);
        free(rows);
        free(idx);
        free(pick);
        free(start);
        free(brows);
        free(bpos);
        free(wstart);
        free(wrows);
        free(wpos);
    }
}

/* ---- attention ---------------------------------------------------------- */

/* sl_rt_attention with its own exactly sized scratch (ASan sees an
 * overrun), `off` floats past a 64-byte boundary, filled with `fill` (NaN:
 * a read before a write would show). */
static void att_call(const float *qkv, int64_t ldq, float *y, int64_t ldy, int64_t n, int64_t d,
                     int64_t heads, int causal, int off, float fill)
{
    int64_t ns = sl_rt_attention_scratch(n, d, heads);
    void *base = NULL;
    if (posix_memalign(&base, 64, (size_t)(off + (ns > 0 ? ns : 0)) * sizeof(float) + 1) != 0)
        abort();
    float *scratch = (float *)base + off;
    for (int64_t i = 0; i < ns; i++)
        scratch[i] = fill;
    sl_rt_attention(qkv, ldq, y, ldy, n, d, heads, causal, scratch);
    free(base);
}

/* n rows of ldq floats (ending at the last row's 3d-th): q and k uniform in
 * [lo, hi], v in [-1, 1], the row padding NaN. */
static float *att_qkv(rng *g, int64_t n, int64_t ldq, int64_t d, float lo, float hi)
{
    float *qkv = buf_alloc((n - 1) * ldq + 3 * d);
    for (int64_t t = 0; t < n; t++)
        for (int64_t c = 0; c < ldq && t * ldq + c < (n - 1) * ldq + 3 * d; c++)
            qkv[t * ldq + c] = c >= 3 * d ? NAN
                               : c < 2 * d ? rng_uniform(g, lo, hi)
                                           : rng_uniform(g, -1.0f, 1.0f);
    return qkv;
}

/* rows x d floats of a (rows lda apart) and b (ldb) have the same bits. */
static void expect_same_att(const char *what, const float *a, int64_t lda, const float *b,
                            int64_t ldb, int64_t rows, int64_t d)
{
    int64_t differ = 0;
    for (int64_t t = 0; t < rows; t++)
        differ += memcmp(a + t * lda, b + t * ldb, (size_t)d * sizeof *a) != 0;
    check_count++;
    if (differ)
        check_fail("%s attention %s: %lld of %lld rows differ", isa, what, (long long)differ,
                   (long long)rows);
}

static const int64_t att_shapes[][2] = {{4, 1}, {8, 2}, {32, 4}, {48, 8}, {96, 2}, {64, 4}};
#define N_ATT_SHAPES (int)(sizeof att_shapes / sizeof att_shapes[0])

/* One token: its own value, head by head (weight 1); and a causal first
 * row: v_0. */
static void test_attention_one_key(void)
{
    rng g = {0x0e1};
    for (int sh = 0; sh < N_ATT_SHAPES; sh++)
        for (int causal = 0; causal < 2; causal++)
            for (int64_t n = 1; n <= 20; n += 19) {
                int64_t d = att_shapes[sh][0], heads = att_shapes[sh][1];
                if (n > 1 && !causal)
                    continue;
                float *qkv = att_qkv(&g, n, 3 * d, d, -2.0f, 2.0f), *y = buf_alloc(n * d);
                att_call(qkv, 3 * d, y, d, n, d, heads, causal, 0, NAN);
                for (int64_t c = 0; c < d; c++) {
                    char w[96];
                    snprintf(w, sizeof w, "attention n=%lld d=%lld heads=%lld causal=%d: "
                             "y[0][%lld] = v_0", (long long)n, (long long)d, (long long)heads,
                             causal, (long long)c);
                    expect_f(w, y[c], qkv[2 * d + c]);
                }
                buf_free(qkv);
                buf_free(y);
            }
}

/* A key whose scores are -inf (k = -inf, q > 0) or -1e30 weighs exactly 0:
 * as the last key, the other rows equal (==) those of the sequence without
 * it; in the middle, they agree with it to rounding. */
static void test_attention_masked_key(void)
{
    rng g = {0x0e2};
    static const float kill[] = {-INFINITY, -1e30f};
    for (int kv = 0; kv < 2; kv++)
        for (int64_t n = 9; n <= 33; n += 24) {
            int64_t d = 32, heads = 2, ld = 3 * d;
            for (int64_t at = 2; at < n; at += n - 3) { /* the middle, then the end */
                float *qkv = att_qkv(&g, n, ld, d, 0.5f, 1.5f), *y = buf_alloc(n * d);
                float *rest = buf_alloc((n - 2) * ld + 3 * d), *yr = buf_alloc((n - 1) * d);
                for (int64_t c = d; c < 2 * d; c++)
                    qkv[at * ld + c] = kill[kv];
                for (int64_t t = 0, u = 0; t < n; t++)
                    if (t != at)
                        memcpy(rest + u++ * ld, qkv + t * ld, (size_t)(3 * d) * sizeof *qkv);
                att_call(qkv, ld, y, d, n, d, heads, 0, 0, NAN);
                att_call(rest, ld, yr, d, n - 1, d, heads, 0, 3, NAN);
                for (int64_t t = 0, u = 0; t < n; t++) {
                    if (t == at)
                        continue;
                    for (int64_t c = 0; c < d; c++) {
                        float a = y[t * d + c], b = yr[u * d + c];
                        check_count++;
                        if (at == n - 1 ? !(a == b) : !(fabsf(a - b) <= 1e-5f))
                            check_fail("%s attention: key %lld of %lld scored %g: y[%lld][%lld] "
                                       "= %.9g, without the key %.9g", isa, (long long)at,
                                       (long long)n, kill[kv], (long long)t, (long long)c, a, b);
                    }
                    u++;
                }
                buf_free(qkv);
                buf_free(y);
                buf_free(rest);
                buf_free(yr);
            }
        }
}

/* A NaN in q_t's head j: y[t]'s head j all NaN, every other output the
 * clean run's bits. */
static void test_attention_nan_query(void)
{
    rng g = {0x0e3};
    int64_t n = 17, d = 32, heads = 4, dh = 8, ld = 3 * d;
    float *qkv = att_qkv(&g, n, ld, d, -2.0f, 2.0f), *clean = buf_alloc(n * d);
    float *y = buf_alloc(n * d);
    for (int causal = 0; causal < 2; causal++) {
        att_call(qkv, ld, clean, d, n, d, heads, causal, 0, 0.0f);
        for (int64_t t = 0; t < n; t += 8) {
            float keep = qkv[t * ld + 2 * dh + 3];
            qkv[t * ld + 2 * dh + 3] = NAN;
            att_call(qkv, ld, y, d, n, d, heads, causal, 0, NAN);
            qkv[t * ld + 2 * dh + 3] = keep;
            int64_t wrong = 0;
            for (int64_t u = 0; u < n; u++)
                for (int64_t c = 0; c < d; c++) {
                    int hit = u == t && c / dh == 2;
                    wrong += hit ? !isnan(y[u * d + c])
                                 : memcmp(&y[u * d + c], &clean[u * d + c], sizeof(float)) != 0;
                }
            check_count++;
            if (wrong)
                check_fail("%s attention causal=%d: NaN in q_%lld head 2: %lld outputs wrong", isa,
                           causal, (long long)t, (long long)wrong);
        }
    }
    buf_free(qkv);
    buf_free(clean);
    buf_free(y);
}

/* The same bits whatever the scratch held (0, NaN, inf, random), wherever
 * scratch, qkv and y start, at strides past the row, and on a repeat. */
static void test_attention_invariance(void)
{
    static const int64_t cases[][4] = {{1, 4, 1, 0},   {3, 8, 2, 1},    {17, 32, 4, 0},
                                       {17, 32, 4, 1}, {64, 64, 4, 1},  {130, 48, 8, 0},
                                       {40, 96, 2, 1}, {33, 200, 2, 0}};
    static const int offs[] = {1, 7, 15, 3};
    rng g = {0x0e4};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t n = cases[c][0], d = cases[c][1], heads = cases[c][2];
        int causal = (int)cases[c][3];
        float *qkv = att_qkv(&g, n, 3 * d, d, -3.0f, 3.0f), *want = buf_alloc(n * d);
        att_call(qkv, 3 * d, want, d, n, d, heads, causal, 0, 0.0f);
        for (int k = 0; k < 4; k++) {
            int64_t ldq = 3 * d + 1 + k, ldy = d + 2 * k, lead = k;
            float fill = k == 0 ? NAN : k == 1 ? INFINITY : k == 2 ? -NAN : 1e30f;
            float *q2 = buf_alloc(lead + (n - 1) * ldq + 3 * d) + lead;
            float *y2 = buf_alloc(lead + (n - 1) * ldy + d) + lead;
            for (int64_t i = -lead; i < (n - 1) * ldq + 3 * d; i++)
                q2[i] = NAN;
            for (int64_t t = 0; t < n; t++)
                memcpy(q2 + t * ldq, qkv + t * 3 * d, (size_t)(3 * d) * sizeof *q2);
            char what[96];
            for (int rep = 0; rep < 2; rep++) {
                att_call(q2, ldq, y2, ldy, n, d, heads, causal, offs[k], fill);
                snprintf(what, sizeof what, "n=%lld d=%lld heads=%lld causal=%d layout %d call %d",
                         (long long)n, (long long)d, (long long)heads, causal, k, rep + 1);
                expect_same_att(what, y2, ldy, want, d, n, d);
            }
            buf_free(q2 - lead);
            buf_free(y2 - lead);
        }
        buf_free(qkv);
        buf_free(want);
    }
}

/* Causal: row t reads nothing past token t, so the first m rows of a
 * sequence are the bits of the sequence cut to m, and NaN in every later
 * token changes none of them. */
static void test_attention_causal_prefix(void)
{
    rng g = {0x0e5};
    int64_t n = 40, d = 32, heads = 4, ld = 3 * d;
    float *qkv = att_qkv(&g, n, ld, d, -2.0f, 2.0f), *full = buf_alloc(n * d);
    float *y = buf_alloc(n * d);
    att_call(qkv, ld, full, d, n, d, heads, 1, 0, NAN);
    static const int64_t ms[] = {1, 5, 16, 17, 33};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        int64_t m = ms[i];
        char what[64];
        att_call(qkv, ld, y, d, m, d, heads, 1, 5, NAN);
        snprintf(what, sizeof what, "causal, cut to %lld of %lld", (long long)m, (long long)n);
        expect_same_att(what, y, d, full, d, m, d);
        float *poisoned = buf_copy(qkv, n * ld);
        for (int64_t j = m * ld; j < n * ld; j++)
            poisoned[j] = NAN;
        att_call(poisoned, ld, y, d, n, d, heads, 1, 9, NAN);
        snprintf(what, sizeof what, "causal, NaN from token %lld", (long long)m);
        expect_same_att(what, y, d, full, d, m, d);
        buf_free(poisoned);
    }
    buf_free(qkv);
    buf_free(full);
    buf_free(y);
}

/* n <= 0 writes nothing; the scratch size is 0 for nothing to do, -1 past
 * int64_t, and covers (dh + 4) rows of n rounded up to 16, plus 15. */
static void test_attention_sizes(void)
{
    float qkv[12] = {0}, y[4], scratch[256];
    for (int i = 0; i < 4; i++)
        y[i] = canary();
    sl_rt_attention(qkv, 12, y, 4, 0, 4, 2, 0, scratch);
    sl_rt_attention(qkv, 12, y, 4, -3, 4, 2, 1, scratch);
    check_count++;
    for (int i = 0; i < 4; i++)
        if (!is_canary(y[i]))
            check_fail("%s attention n <= 0 wrote y[%d]", isa, i);
    expect_i("attention_scratch(0, 4, 1)", sl_rt_attention_scratch(0, 4, 1), 0);
    expect_i("attention_scratch(5, 10, 3)", sl_rt_attention_scratch(5, 10, 3), 0);
    expect_i("attention_scratch(5, 8, 0)", sl_rt_attention_scratch(5, 8, 0), 0);
    expect_i("attention_scratch(1, 4, 1)", sl_rt_attention_scratch(1, 4, 1), 15 + 8 * 16);
    expect_i("attention_scratch(17, 64, 4)", sl_rt_attention_scratch(17, 64, 4), 15 + 20 * 32);
    expect_i("attention_scratch(INT64_MAX, 4, 1)", sl_rt_attention_scratch(INT64_MAX, 4, 1), -1);
    expect_i("attention_scratch(2^40, 2^30, 1)",
             sl_rt_attention_scratch((int64_t)1 << 40, (int64_t)1 << 30, 1), -1);
}

/* A heads that does not divide d (or d, heads < 1) is a caller bug: the
 * message on stderr and abort, checked before n (so n = 0 too). */
static void test_attention_abort(void)
{
    static const int64_t cases[][3] = {{2, 10, 3}, {0, 10, 3}, {2, 8, 0}, {2, 0, 1}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t n = cases[c][0], d = cases[c][1], heads = cases[c][2];
        char want[128], out[512];
        snprintf(want, sizeof want, "sluice: error: sl_rt_attention: d %lld is not split into "
                 "%lld equal heads\n", (long long)d, (long long)heads);
        int fd[2];
        if (pipe(fd) != 0)
            abort();
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            close(fd[0]);
            dup2(fd[1], 2);
            float qkv[64] = {0}, y[32], scratch[1024];
            sl_rt_attention(qkv, 3 * d, y, d, n, d, heads, 0, scratch);
            _exit(0);
        }
        close(fd[1]);
        size_t len = 0;
        ssize_t got;
        while (len < sizeof out - 1 && (got = read(fd[0], out + len, sizeof out - 1 - len)) > 0)
            len += (size_t)got;
        out[len] = '\0';
        close(fd[0]);
        int status = 0;
        waitpid(pid, &status, 0);
        check_count++;
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT || strcmp(out, want) != 0)
            check_fail("attention n=%lld d=%lld heads=%lld: want abort with \"%s\", got status "
                       "%d and \"%s\"", (long long)n, (long long)d, (long long)heads, want,
                       status, out);
    }
}

/* The SIMD levels compute exp, log, tanh, sigmoid and the GELUs with the
 * same operations, so they agree bit for bit (docs/kernels.md): checked on
 * every 4099th bit pattern. */
static void test_levels_agree(const sl_isa *simd, int n_simd)
{
    static void (*const fns[])(const float *, float *, int64_t) = {
        sl_rt_exp, sl_rt_log, sl_rt_tanh, sl_rt_sigmoid, sl_rt_gelu, sl_rt_gelu_tanh};
    static const char *const names[] = {"exp", "log", "tanh", "sigmoid", "gelu", "gelu_tanh"};
    enum { N = 1 << 16 };
    float *x = buf_alloc(N), *a = buf_alloc(N), *b = buf_alloc(N);
    for (int l = 1; l < n_simd; l++)
        for (int f = 0; f < 6; f++) {
            int64_t differ = 0;
            for (uint64_t p0 = 0; p0 < (1ull << 32); p0 += (uint64_t)N * 4099) {
                int64_t n = 0;
                for (uint64_t p = p0; p < (1ull << 32) && n < N; p += 4099) {
                    uint32_t bits = (uint32_t)p;
                    memcpy(&x[n++], &bits, sizeof bits);
                }
                use_isa(simd[0]);
                fns[f](x, a, n);
                use_isa(simd[l]);
                fns[f](x, b, n);
                for (int64_t i = 0; i < n; i++)
                    differ += memcmp(&a[i], &b[i], sizeof(float)) != 0;
            }
            check_count++;
            if (differ)
                check_fail("%s: %s and %s differ on %lld inputs", names[f],
                           sl_rt_isa_name(simd[0]), sl_rt_isa_name(simd[l]), (long long)differ);
        }
    buf_free(x);
    buf_free(a);
    buf_free(b);
}

int main(void)
{
    sl_isa all[SL_ISA_COUNT] = {SL_ISA_SCALAR};
    int n = 1 + isa_levels(all + 1);
    for (int l = 0; l < n; l++) {
        use_isa(all[l]);
        isa = sl_rt_isa_name(all[l]);
        test_elementwise_specials();
        test_reduction_rules();
        test_whole_vector_rules();
        test_empty();
        test_dense_pack_refuses();
        test_dense_subnormal_weights(all[l]);
        test_dense_negative_zero_bias(all[l]);
        test_dense_nan_inf();
        test_dense_batch_invariance();
        test_dense_split();
        test_dense_pack_copies(all[l]);
        test_dense_zskip_never_read(all[l]);
        test_attention_one_key();
        test_attention_masked_key();
        test_attention_nan_query();
        test_attention_invariance();
        test_attention_causal_prefix();
        test_attention_sizes();
    }
    isa = "all levels:";
    test_dense_pack_keeps_level(all, n);
    test_levels_agree(all + 1, n - 1);
    test_dense_levels_agree(all + 1, n - 1);
    test_rows_merge();
    test_rows_by_expert();
    test_rows_sort();
    test_attention_abort();
    return check_summary("test_semantics");
}
