/* kernel_accuracy.c - measure the vector transcendental functions against
 * double-precision libm, over every float (or every step-th bit pattern).
 *
 *   kernel-accuracy [--step N] [--isa scalar|avx2|avx512] [--func NAME]
 *
 * For each function and level: the largest error in ulps of the correctly
 * rounded result, over results in the normal range, with the argument where
 * it happens; the largest absolute error over subnormal results; and how
 * many special results (NaN, inf, 0) differ from libm's.  docs/kernels.md
 * quotes its output. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/kernels.h"

#define BLOCK 65536

static double ref_exp(double x) { return exp(x); }
static double ref_log(double x) { return log(x); }
static double ref_tanh(double x) { return tanh(x); }
static double ref_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
static double ref_gelu(double x) { return 0.5 * x * erfc(-x * 0.70710678118654752440); }
static double ref_gelu_tanh(double x)
{
    double u = 0.79788456080286535588 * (x + 0.044715 * x * x * x);
    return x / (1.0 + exp(-2.0 * u));
}

static const struct func {
    const char *name;
    void (*kernel)(const float *, float *, int64_t);
    double (*ref)(double);
} funcs[] = {
    {"exp", sl_rt_exp, ref_exp},
    {"log", sl_rt_log, ref_log},
    {"tanh", sl_rt_tanh, ref_tanh},
    {"sigmoid", sl_rt_sigmoid, ref_sigmoid},
    {"gelu", sl_rt_gelu, ref_gelu},
    {"gelu_tanh", sl_rt_gelu_tanh, ref_gelu_tanh},
};

/* Error of got against the exact r, in ulps of r rounded to float. */
static double ulps(float got, double r)
{
    int e;
    frexp((float)r, &e);
    return fabs((double)got - r) / ldexp(1.0, e - 24);
}

/* Worst errors of one function at one level; split at x = -3 for the GELUs,
 * whose tails below are tiny values with an amplified error (see
 * docs/kernels.md). */
typedef struct stats {
    double max_ulp, max_ulp_x;          /* normal results */
    double max_ulp_tail, max_ulp_tail_x; /* normal results, x < -3 */
    double max_sub_abs;                 /* subnormal or zero results */
    long long specials_wrong;           /* NaN/inf/0 where libm differs */
} stats;

int main(int argc, char **argv)
{
    long long step = 1;
    int only = -1;
    const char *only_func = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--step") && i + 1 < argc) {
            step = atoll(argv[++i]);
        } else if (!strcmp(argv[i], "--isa") && i + 1 < argc) {
            i++;
            for (int l = 0; l < SL_ISA_COUNT; l++)
                if (!strcmp(argv[i], sl_rt_isa_name((sl_isa)l)))
                    only = l;
        } else if (!strcmp(argv[i], "--func") && i + 1 < argc) {
            only_func = argv[++i];
        } else {
            fprintf(stderr, "usage: kernel-accuracy [--step N] [--isa scalar|avx2|avx512] "
                            "[--func NAME]\n");
            return 2;
        }
    }
    if (step < 1)
        step = 1;
    static float x[BLOCK], y[BLOCK];
    static double r[BLOCK];
    printf("%-10s %-7s %12s %14s %14s %14s %12s\n", "function", "isa", "max ulp",
           "at x", "ulp (x < -3)", "subnormal abs", "specials");
    for (size_t f = 0; f < sizeof funcs / sizeof funcs[0]; f++) {
        if (only_func && strcmp(only_func, funcs[f].name) != 0)
            continue;
        stats st[SL_ISA_COUNT];
        memset(st, 0, sizeof st);
        unsigned long long total = 1ULL << 32;
        for (unsigned long long b0 = 0; b0 < total; b0 += (unsigned long long)BLOCK * step) {
            int n = 0;
            for (unsigned long long b = b0; b < total && n < BLOCK; b += step) {
                uint32_t bits = (uint32_t)b;
                memcpy(&x[n], &bits, sizeof bits);
                r[n] = funcs[f].ref(x[n]);
                n++;
            }
            for (int l = 0; l < SL_ISA_COUNT; l++) {
                if ((only >= 0 && l != only) || !sl_rt_isa_supported((sl_isa)l))
                    continue;
                sl_error err;
                if (sl_rt_set_isa((sl_isa)l, &err) < 0)
                    return fprintf(stderr, "%s\n", err.msg), 1;
                funcs[f].kernel(x, y, n);
                stats *s = &st[l];
                for (int i = 0; i < n; i++) {
                    double rf = (float)r[i];
                    if (isnan(rf) || isinf(rf) || rf == 0.0 || isnan(y[i]) || isinf(y[i])) {
                        int same = (isnan(rf) && isnan(y[i])) || rf == y[i] ||
                                   (rf == 0.0 && fabs(y[i]) < FLT_MIN);
                        if (!same)
                            s->specials_wrong++;
                        if (rf == 0.0 && same && fabs(y[i] - r[i]) > s->max_sub_abs)
                            s->max_sub_abs = fabs(y[i] - r[i]);
                        continue;
                    }
                    if (fabs(rf) < FLT_MIN) {
                        if (fabs(y[i] - r[i]) > s->max_sub_abs)
                            s->max_sub_abs = fabs(y[i] - r[i]);
                        continue;
                    }
                    double u = ulps(y[i], r[i]);
                    if (x[i] < -3.0f) {
                        if (u > s->max_ulp_tail) {
                            s->max_ulp_tail = u;
                            s->max_ulp_tail_x = x[i];
                        }
                    } else if (u > s->max_ulp) {
                        s->max_ulp = u;
                        s->max_ulp_x = x[i];
                    }
                }
            }
        }
        for (int l = 0; l < SL_ISA_COUNT; l++) {
            if ((only >= 0 && l != only) || !sl_rt_isa_supported((sl_isa)l))
                continue;
            stats *s = &st[l];
            /* Outside the GELUs, x < -3 is just more of the domain. */
            int split = !strncmp(funcs[f].name, "gelu", 4);
            double mu = s->max_ulp, mx = s->max_ulp_x;
            if (!split && s->max_ulp_tail > mu) {
                mu = s->max_ulp_tail;
                mx = s->max_ulp_tail_x;
            }
            char tail[32] = "-";
            if (split)
                snprintf(tail, sizeof tail, "%.2f@%.5g", s->max_ulp_tail, s->max_ulp_tail_x);
            printf("%-10s %-7s %12.2f %14.7g %14s %14.3g %12lld\n", funcs[f].name,
                   sl_rt_isa_name((sl_isa)l), mu, mx, tail, s->max_sub_abs, s->specials_wrong);
            fflush(stdout);
        }
    }
    return 0;
}
