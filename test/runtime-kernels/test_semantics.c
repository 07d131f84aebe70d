/* test_semantics.c - what the kernels promise, checked as explicit values on
 * every level (scalar and each SIMD level the CPU has): NaN and infinity
 * rules, ties, sizes <= 0, that inactive blocks' weights and skipped
 * columns are never read (their pages are made unreadable), that the SIMD
 * levels agree bit for bit on the transcendental functions, and that a
 * misused dense_blocks stops the program. */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE /* mmap's MAP_ANONYMOUS */
#endif
#include <float.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ASAN 1
#endif
#endif
#ifdef HAVE_ASAN
#include <sanitizer/asan_interface.h>
#endif

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
    expect_unary("relu", sl_rt_relu, NAN, NAN, 0);
    expect_unary("relu", sl_rt_relu, -3.0f, 0.0f, 0);
    expect_unary("relu", sl_rt_relu, 2.5f, 2.5f, 0);
    expect_unary("relu", sl_rt_relu, INFINITY, INFINITY, 0);
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

/* n <= 0 does nothing; reductions return their identities. */
static void test_empty(void)
{
    float x[2] = {1.0f, 2.0f}, y[2] = {7.0f, 7.0f};
    int32_t idx[2] = {9, 9};
    const float w[2] = {1.0f, 1.0f};
    sl_rt_relu(x, y, 0);
    sl_rt_exp(x, y, -5);
    sl_rt_gelu(x, y, 0);
    sl_rt_softmax(x, y, 0);
    sl_rt_log_softmax(x, y, -1);
    sl_rt_layernorm(x, NULL, NULL, y, 0, 1e-5f);
    sl_rt_add(x, x, y, 0);
    sl_rt_mul_scalar(x, 2.0f, y, -1);
    sl_rt_dense(w, NULL, x, y, 2, 0);
    sl_rt_dense_batch(w, NULL, x, y, 0, 2, 1);
    sl_rt_dense_zskip(w, NULL, x, y, 2, -1);
    sl_rt_transpose(w, y, 0, 2);
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
    /* No inputs: the outputs are the bias. */
    const float b[2] = {0.5f, -0.5f};
    sl_rt_dense(w, b, x, y, 0, 2);
    expect_f("dense n_in = 0", y[1], -0.5f);
    sl_rt_dense_batch(w, NULL, x, y, 2, 0, 1);
    expect_f("dense_batch n_in = 0", y[1], 0.0f);
}

/* n_in 1024 floats = one 4 KiB page per row of w: the pages of inactive
 * blocks are made unreadable, so reading one kills the test.  Inactive
 * biases are poisoned for ASan when it is there. */
static void test_blocks_never_read(void)
{
    long page = sysconf(_SC_PAGESIZE);
    if (page != 4096) {
        printf("skip: blocks-never-read test assumes 4 KiB pages (have %ld)\n", page);
        return;
    }
    enum { N_IN = 1024, N_OUT = 16, BLOCKS = 8, ROWS = N_OUT / BLOCKS };
    float *w = mmap(NULL, (size_t)N_OUT * N_IN * sizeof(float), PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (w == MAP_FAILED) {
        check_fail("mmap failed");
        return;
    }
    float x[N_IN], b[N_OUT], y[N_OUT];
    for (int i = 0; i < N_IN; i++)
        x[i] = (float)(i % 7) - 3.0f;
    for (int o = 0; o < N_OUT; o++) {
        b[o] = (float)o;
        for (int i = 0; i < N_IN; i++)
            w[o * N_IN + i] = (i + o) % 5 == 0 ? 1.0f : 0.0f;
    }
    const uint8_t active[BLOCKS] = {1, 0, 0, 1, 1, 0, 1, 0};
    for (int k = 0; k < BLOCKS; k++)
        if (!active[k]) {
            mprotect(w + k * ROWS * N_IN, (size_t)ROWS * N_IN * sizeof(float), PROT_NONE);
#ifdef HAVE_ASAN
            ASAN_POISON_MEMORY_REGION(b + k * ROWS, ROWS * sizeof(float));
#endif
        }
    sl_rt_dense_blocks(w, b, x, y, N_IN, N_OUT, BLOCKS, active);
#ifdef HAVE_ASAN
    ASAN_UNPOISON_MEMORY_REGION(b, sizeof b);
#endif
    for (int o = 0; o < N_OUT; o++) {
        double want = 0.0;
        if (active[o / ROWS]) {
            want = b[o];
            for (int i = 0; i < N_IN; i++)
                want += (i + o) % 5 == 0 ? x[i] : 0.0f;
        }
        expect_f("dense_blocks with unreadable inactive rows", y[o], (float)want);
    }
    munmap(w, (size_t)N_OUT * N_IN * sizeof(float));
}

/* Rows of wt (n_out 1024 = one page each) for zero inputs are unreadable. */
static void test_zskip_never_read(void)
{
    if (sysconf(_SC_PAGESIZE) != 4096)
        return;
    enum { N_IN = 12, N_OUT = 1024 };
    float *wt = mmap(NULL, (size_t)N_OUT * N_IN * sizeof(float), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (wt == MAP_FAILED) {
        check_fail("mmap failed");
        return;
    }
    float x[N_IN], y[N_OUT];
    for (int i = 0; i < N_IN; i++) {
        x[i] = i % 3 == 0 ? (float)(i + 1) : (i % 3 == 1 ? 0.0f : -0.0f);
        for (int o = 0; o < N_OUT; o++)
            wt[i * N_OUT + o] = (float)((i * 7 + o) % 11) - 5.0f;
    }
    for (int i = 0; i < N_IN; i++)
        if (x[i] == 0.0f)
            mprotect(wt + i * N_OUT, N_OUT * sizeof(float), PROT_NONE);
    sl_rt_dense_zskip(wt, NULL, x, y, N_IN, N_OUT);
    for (int o = 0; o < N_OUT; o++) {
        float want = 0.0f;
        for (int i = 0; i < N_IN; i += 3)
            want += x[i] * (float)(((i * 7 + o) % 11) - 5); /* small integers: exact */
        expect_f("dense_zskip with unreadable skipped rows", y[o], want);
    }
    munmap(wt, (size_t)N_OUT * N_IN * sizeof(float));
}

/* n_out not a multiple of n_blocks: a caller bug; the process must stop. */
static void test_blocks_misuse(void)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        /* Keep the expected message out of the test log. */
        if (!freopen("/dev/null", "w", stderr))
            _exit(3);
        float w[30] = {0}, x[3] = {0}, y[10];
        uint8_t on[3] = {1, 1, 1};
        sl_rt_dense_blocks(w, NULL, x, y, 3, 10, 3, on);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    check_count++;
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
        check_fail("%s dense_blocks with 10 rows in 3 blocks did not abort", isa);
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
        test_blocks_never_read();
        test_zskip_never_read();
    }
    test_levels_agree(all + 1, n - 1);
    test_blocks_misuse();
    return check_summary("test_semantics");
}
