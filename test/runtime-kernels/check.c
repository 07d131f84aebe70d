/* check.c - helpers shared by the kernel tests (see check.h). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

int check_failures;
int64_t check_count;

uint64_t rng_next(rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1DULL;
}

float rng_uniform(rng *r, float lo, float hi)
{
    double u = (double)(rng_next(r) >> 11) * 0x1p-53;
    return (float)(lo + (hi - lo) * u);
}

/* The allocation is 64-byte aligned and starts 60 bytes before the
 * returned pointer (so the pointer is one float past a 16-float boundary),
 * and ends exactly after the n floats: ASan flags the first float past. */
float *buf_alloc(int64_t n)
{
    void *base = NULL;
    size_t bytes = 60 + (size_t)(n > 0 ? n : 0) * sizeof(float);
    if (posix_memalign(&base, 64, bytes) != 0) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return (float *)((unsigned char *)base + 60);
}

void buf_free(float *p)
{
    if (p)
        free((unsigned char *)p - 60);
}

float *buf_copy(const float *src, int64_t n)
{
    float *p = buf_alloc(n);
    memcpy(p, src, (size_t)n * sizeof *p);
    return p;
}

void buf_fill(rng *r, float *p, int64_t n, float lo, float hi)
{
    for (int64_t i = 0; i < n; i++)
        p[i] = rng_uniform(r, lo, hi);
}

void shuffle_rows(rng *r, int32_t *v, int64_t n)
{
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(rng_next(r) % (uint64_t)(i + 1));
        int32_t t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

/* Selection sampling (Knuth's algorithm S) of n - 1 rows below the last. */
void pick_rows(rng *r, int32_t *rows, int64_t n, int64_t extra)
{
    int64_t total = n + extra, need = n - 1, got = 0;
    for (int64_t i = 0; i < total - 1 && got < need; i++)
        if ((int64_t)(rng_next(r) % (uint64_t)(total - 1 - i)) < need - got)
            rows[got++] = (int32_t)i;
    rows[got] = (int32_t)(total - 1);
}

#define CANARY_BITS 0x7fc0deadu

float canary(void)
{
    uint32_t bits = CANARY_BITS;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

int is_canary(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    return bits == CANARY_BITS;
}

static int64_t ulp_order(float f)
{
    int32_t i;
    memcpy(&i, &f, sizeof i);
    return i >= 0 ? (int64_t)i : (int64_t)INT32_MIN - i;
}

int64_t ulp_diff(float a, float b)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b) ? 0 : INT64_MAX;
    int64_t d = ulp_order(a) - ulp_order(b);
    return d < 0 ? -d : d;
}

void check_fail(const char *fmt, ...)
{
    if (++check_failures <= 40) {
        va_list ap;
        va_start(ap, fmt);
        fputs("FAIL: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    } else if (check_failures == 41) {
        fputs("(further failures not printed)\n", stderr);
    }
}

void use_isa(sl_isa isa)
{
    sl_error err;
    if (sl_rt_set_isa(isa, &err) < 0) {
        fprintf(stderr, "FAIL: %s\n", err.msg);
        exit(1);
    }
}

int isa_levels(sl_isa *out)
{
    int n = 0;
    for (int i = SL_ISA_AVX2; i < SL_ISA_COUNT; i++) {
        if (sl_rt_isa_supported((sl_isa)i))
            out[n++] = (sl_isa)i;
        else
            printf("skip: this CPU cannot run the %s kernels\n", sl_rt_isa_name((sl_isa)i));
    }
    return n;
}

int check_summary(const char *test)
{
    if (check_failures) {
        printf("%s: %d of %lld checks FAILED\n", test, check_failures, (long long)check_count);
        return 1;
    }
    if (check_count == 0) {
        printf("%s: no checks ran\n", test);
        return 1;
    }
    printf("%s: all %lld checks passed\n", test, (long long)check_count);
    return 0;
}
